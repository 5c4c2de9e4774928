//! Benchmark of the server backends (PostgreSQL, MySQL/MariaDB) at 10,000 and 100,000
//! entries: list, filtered list, active context, open list, searches (one and two words,
//! words in every entry and in a tenth of them, a prefix), get, create and update with a
//! note, median and p95 per operation. Text is generated as `devlog-bench` does.
//!
//! ```text
//! DEVLOG_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! DEVLOG_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//! cargo run --release -p devlog-store --example server_bench -- [--sizes 10000,100000] [--iters 100] [--reuse] [--backends postgres,mysql]
//! ```
//!
//! Each size gets its own database (`server_bench_<backend>_<size>`) on the server of the URL,
//! seeded through `put_raw` in concurrent batches; `--reuse` keeps a database that already
//! holds the right number of entries instead of seeding again. Databases are left in place
//! for reruns; drop them by hand when done. Before timing, the table is analyzed (and vacuumed
//! on PostgreSQL), as autovacuum would have done on a database in use.
#![allow(clippy::unwrap_used)] // a benchmark: a panic is the report

use std::sync::Arc;
use std::time::{Duration, Instant};

use devlog_core::entry::{EntryType, NoteCategory, Status};
use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::store::{Filter, ListQuery, SearchQuery, SortKey, Store};
use devlog_core::{Entry, EntryId};
use devlog_store::{DbUrl, MysqlStore, PostgresStore};
use sqlx::{AssertSqlSafe, Connection, Executor};

// The text generator of `devlog-bench` (`devlog_core::sample`): titles from a verb and a
// noun, sentences from a 43-word vocabulary, each starting with "The", so `the` is in every
// entry, most vocabulary words in most entries, and title words in a tenth.
use devlog_core::sample::{SampleRng as Rng, sample_entry};

fn entry(i: u64, rng: &mut Rng) -> Entry {
    sample_entry(rng, i as usize)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Postgres,
    Mysql,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }
    fn env(self) -> &'static str {
        match self {
            Kind::Postgres => "DEVLOG_TEST_POSTGRES_URL",
            Kind::Mysql => "DEVLOG_TEST_MYSQL_URL",
        }
    }
}

async fn admin(kind: Kind, admin: &DbUrl, sql: String) {
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(admin.expose()).await.unwrap();
            c.execute(AssertSqlSafe(sql)).await.unwrap();
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(admin.expose())
                .await
                .unwrap();
            c.execute(AssertSqlSafe(sql)).await.unwrap();
        }
    }
}

async fn open(kind: Kind, url: &DbUrl) -> Arc<dyn Store> {
    match kind {
        Kind::Postgres => Arc::new(PostgresStore::open(url).await.unwrap()),
        Kind::Mysql => Arc::new(MysqlStore::open(url).await.unwrap()),
    }
}

/// Refreshes planner statistics (and, on PostgreSQL, the visibility map that index-only
/// counts rely on), as autovacuum would have done on a database in use.
async fn analyze(kind: Kind, url: &DbUrl) {
    let sql = match kind {
        Kind::Postgres => "VACUUM ANALYZE devlog_entries, devlog_terms",
        Kind::Mysql => "ANALYZE TABLE devlog_entries, devlog_terms",
    };
    admin(kind, url, sql.to_string()).await;
}

/// The database for `size` entries, seeded unless `reuse` finds it complete.
async fn prepare(kind: Kind, server: &DbUrl, size: u64, reuse: bool) -> Arc<dyn Store> {
    let name = format!("server_bench_{}_{size}", kind.name());
    let url = server.with_database(&name);
    let store = seed(kind, server, &url, &name, size, reuse).await;
    analyze(kind, &url).await;
    store
}

async fn seed(
    kind: Kind,
    server: &DbUrl,
    url: &DbUrl,
    name: &str,
    size: u64,
    reuse: bool,
) -> Arc<dyn Store> {
    if reuse {
        let ok = match kind {
            Kind::Postgres => PostgresStore::open(url).await.is_ok(),
            Kind::Mysql => MysqlStore::open(url).await.is_ok(),
        };
        if ok {
            let store = open(kind, url).await;
            if store.count().await.unwrap() >= size {
                eprintln!("{}: reusing {name}", kind.name());
                return store;
            }
        }
    }
    let (drop, create) = match kind {
        Kind::Postgres => (
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ),
        Kind::Mysql => (
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
        ),
    };
    admin(kind, server, drop).await;
    admin(kind, server, create).await;
    if let Kind::Postgres = kind {
        // Seeding commits 100,000 transactions; on a busy disk each waits for its own WAL
        // flush. The bench database alone skips that wait while it is seeded (and is reopened
        // with the default below, so the timed writes are durable).
        admin(
            kind,
            server,
            format!("ALTER DATABASE {name} SET synchronous_commit = off"),
        )
        .await;
    }
    let store = open(kind, url).await;
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let all: Vec<Entry> = (0..size).map(|i| entry(i, &mut rng)).collect();
    // Concurrent batches: each put_raw is its own transaction, as an import would do.
    for batch in all.chunks(1000) {
        let mut set = tokio::task::JoinSet::new();
        for part in batch.chunks(125) {
            let (store, part) = (store.clone(), part.to_vec());
            set.spawn(async move {
                let meta = WriteMeta::new(Origin::Migrate);
                for e in part {
                    store.put_raw(e, &meta).await.unwrap();
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    }
    eprintln!(
        "{}: seeded {size} entries in {:.1} s ({:.0} entries/s)",
        kind.name(),
        started.elapsed().as_secs_f64(),
        size as f64 / started.elapsed().as_secs_f64()
    );
    if let Kind::Postgres = kind {
        std::mem::drop(store);
        admin(
            kind,
            server,
            format!("ALTER DATABASE {name} RESET synchronous_commit"),
        )
        .await;
        return open(kind, url).await;
    }
    store
}

fn stats(mut xs: Vec<Duration>) -> (f64, f64) {
    xs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(xs[((xs.len() as f64 * q).ceil() as usize).clamp(1, xs.len()) - 1]);
    (p(0.5), p(0.95))
}

async fn time<F, Fut>(iters: usize, mut op: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    op(0).await; // warm the pool and the statement caches
    let mut xs = Vec::with_capacity(iters);
    for i in 0..iters {
        let t = Instant::now();
        op(i + 1).await;
        xs.push(t.elapsed());
    }
    stats(xs)
}

async fn bench(kind: Kind, store: Arc<dyn Store>, size: u64, iters: usize) {
    let ids: Vec<EntryId> = store
        .list(&ListQuery {
            limit: 1000,
            ..ListQuery::default()
        })
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| e.id)
        .collect();
    let mut rows = Vec::new();
    rows.push((
        "list (50, by updated)",
        time(iters, |_| {
            let s = store.clone();
            async move {
                s.list(&ListQuery::default()).await.unwrap();
            }
        })
        .await,
    ));
    rows.push((
        "filtered list",
        time(iters, |_| {
            let s = store.clone();
            async move {
                s.list(&ListQuery {
                    filter: Filter {
                        status: vec![Status::InProgress, Status::Blocked],
                        kind: vec![EntryType::Bugfix],
                        open_only: true,
                        ..Filter::default()
                    },
                    sort: SortKey::Priority,
                    ..ListQuery::default()
                })
                .await
                .unwrap();
            }
        })
        .await,
    ));
    rows.push((
        "active context (10)",
        time(iters, |_| {
            let app = Devlog::new(store.clone());
            async move {
                app.active_context(10).await.unwrap();
            }
        })
        .await,
    ));
    rows.push((
        "open list (50)",
        time(iters, |_| {
            let s = store.clone();
            async move {
                s.list(&ListQuery {
                    filter: Filter {
                        open_only: true,
                        ..Filter::default()
                    },
                    ..ListQuery::default()
                })
                .await
                .unwrap();
            }
        })
        .await,
    ));
    for (label, text) in [
        ("search `the`", "the"),
        ("search `timeout`", "timeout"),
        ("search `kubernetes pod`", "kubernetes pod"),
        ("search `billing webhook`", "billing webhook"),
        ("search `kube` (prefix)", "kube"),
        ("search `signature migr`", "signature migr"),
    ] {
        rows.push((
            label,
            time(iters, |_| {
                let s = store.clone();
                async move {
                    s.search(&SearchQuery {
                        text: text.into(),
                        ..SearchQuery::default()
                    })
                    .await
                    .unwrap();
                }
            })
            .await,
        ));
    }
    rows.push((
        "get",
        time(iters, |i| {
            let s = store.clone();
            let id = ids[(i * 7919) % ids.len()];
            async move {
                s.get(id).await.unwrap();
            }
        })
        .await,
    ));
    let app = Devlog::new(store.clone());
    let run = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
    rows.push((
        "create",
        time(iters, |i| {
            let app = app.clone();
            async move {
                app.create(
                    NewEntry {
                        title: format!("bench create {run} {i}"),
                        kind: Some(EntryType::Task),
                        description: "made by the benchmark".into(),
                        ..NewEntry::default()
                    },
                    &WriteMeta::new(Origin::Cli),
                )
                .await
                .unwrap();
            }
        })
        .await,
    ));
    rows.push((
        "update + note",
        time(iters, |i| {
            let s = store.clone();
            let id = ids[(i * 104_729) % ids.len()];
            async move {
                s.update(id, &WriteMeta::new(Origin::Cli), &mut |e| {
                    e.notes.push(devlog_core::entry::Note {
                        id: format!("bench-{i}-{}", e.notes.len()),
                        timestamp: e.updated_at,
                        category: NoteCategory::Progress,
                        content: "The benchmark adds a note about retries and latency.".into(),
                        files: Vec::new(),
                        code_changes: None,
                        extra: devlog_core::entry::Extra::new(),
                    });
                    Ok(())
                })
                .await
                .unwrap();
            }
        })
        .await,
    ));
    for (op, (p50, p95)) in rows {
        println!(
            "| {:<8} | {:>7} | {:<26} | {:>8.2} | {:>8.2} |",
            kind.name(),
            size,
            op,
            p50,
            p95
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sizes: Vec<u64> = arg("--sizes")
        .unwrap_or_else(|| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes takes numbers"))
        .collect();
    let iters: usize = arg("--iters")
        .map(|s| s.parse().expect("--iters takes a number"))
        .unwrap_or(100);
    let reuse = args.iter().any(|a| a == "--reuse");
    let backends = arg("--backends").unwrap_or_else(|| "postgres,mysql".into());
    let mut header = false;
    for kind in [Kind::Postgres, Kind::Mysql] {
        if !backends.split(',').any(|b| b.trim() == kind.name()) {
            continue;
        }
        let Ok(raw) = std::env::var(kind.env()) else {
            eprintln!("{}: {} is not set; skipped", kind.name(), kind.env());
            continue;
        };
        let server = DbUrl::parse(&raw).unwrap();
        for &size in &sizes {
            let store = prepare(kind, &server, size, reuse).await;
            if !header {
                println!(
                    "| backend  | entries | operation                  | p50 (ms) | p95 (ms) |"
                );
                println!(
                    "|----------|---------|----------------------------|----------|----------|"
                );
                header = true;
            }
            bench(kind, store, size, iters).await;
        }
    }
}
