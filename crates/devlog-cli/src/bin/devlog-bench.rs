//! Benchmark: builds stores of realistic entries (1,000 to 1,000,000) and times `list`,
//! filtered `list`, `search` (a few words, and a word every entry contains), active context
//! (`devlog context`), `show`, `new`, update + note and `events` through the library, and the
//! same through the `devlog` binary (process start included, plus start-up: `devlog list
//! --limit 10`), for each backend: json, sqlite, postgres and mysql (the server backends on
//! a scratch database of the server named by `DEVLOG_TEST_POSTGRES_URL` /
//! `DEVLOG_TEST_MYSQL_URL`, dropped afterwards unless `--keep`). The change feed gets
//! `--feed-depth` events per entry (field changes), so `events` is measured on a deep feed.
//!
//! Stores are written through the `Store` API (`put_raw_batch`, one transaction per
//! `--batch` entries on SQLite, PostgreSQL and MariaDB) or, for json, as entry files a `git clone` would leave, which
//! the store then indexes when it opens. `--keep DIR` keeps each built store (and server
//! database) and reuses it on the next run with the same `--entries` and `--feed-depth`.
//!
//! ```text
//! cargo build --release -p devlog-cli
//! target/release/devlog-bench --entries 100000 --backends json,sqlite --keep /var/tmp/bench
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use devlog_core::codec::encode_entry;
use devlog_core::entry::{Entry, EntryType, NoteCategory, Status};
use devlog_core::id::EntryId;
use devlog_core::ops::{Devlog, Edit, NewEntry, NewNote};
use devlog_core::{
    Event, EventKind, Filter, ListQuery, Origin, SearchQuery, Store, Timestamp, WriteMeta,
};
use devlog_store::{DbUrl, StoreSpec};

/// Time devlog operations on large generated stores
#[derive(Debug, Parser)]
struct Args {
    /// Entries in each store
    #[arg(long, default_value_t = 10_000)]
    entries: usize,
    /// Backends to measure: json, sqlite, postgres, mysql
    #[arg(long, value_delimiter = ',', default_value = "json,sqlite")]
    backends: Vec<String>,
    /// Change-feed events added per entry (a deep feed for `events`), besides the one that
    /// records each entry's creation
    #[arg(long, default_value_t = 1)]
    feed_depth: usize,
    /// Entries written per `put_raw_batch` call (one transaction on SQLite and the servers)
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Repetitions of each library operation
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Repetitions of each CLI command
    #[arg(long, default_value_t = 15)]
    cli_runs: usize,
    /// The devlog binary (default: next to this one)
    #[arg(long)]
    devlog: Option<PathBuf>,
    /// Keep the built stores in this folder (server backends: keep the database
    /// `devlog_bench_<entries>`) and reuse them on later runs instead of building again
    #[arg(long, visible_alias = "dir")]
    keep: Option<PathBuf>,
    /// A PostgreSQL server to create the bench database on
    #[arg(long, env = "DEVLOG_TEST_POSTGRES_URL", hide_env_values = true)]
    postgres_url: Option<String>,
    /// A MySQL or MariaDB server to create the bench database on
    #[arg(long, env = "DEVLOG_TEST_MYSQL_URL", hide_env_values = true)]
    mysql_url: Option<String>,
    /// Print results as JSON
    #[arg(long)]
    json: bool,
    /// Give every entry a status history in the change feed (a `created` event at its
    /// `createdAt`, then new → in-progress → its status), so the reports that need the history
    /// count every entry instead of leaving them out as imported
    #[arg(long)]
    history: bool,
    /// Measure only the reports (`Devlog::report`), not the other operations
    #[arg(long)]
    reports_only: bool,
    /// Only these groups of rows: library, http (the dashboard's pages), cli
    #[arg(long, value_delimiter = ',', value_parser = ["library", "http", "cli"])]
    only: Vec<String>,
}

impl Args {
    fn wants(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }
}

use devlog_core::sample::{COMMON_WORD, SampleRng as Rng, sample_entry as make_entry};

/// One backend's store under test: how to open it from the library and from the CLI.
struct Target {
    backend: String,
    /// The workspace folder; its `.devlog` holds the file backends' data.
    dir: PathBuf,
    spec: StoreSpec,
    /// Environment of `devlog` processes (besides `DEVLOG_DIR`).
    env: Vec<(&'static str, String)>,
    /// Present when the bench created the database and drops it at the end.
    _scratch: Option<ScratchDb>,
}

impl Target {
    fn new(args: &Args, backend: &str, base: &Path) -> Result<Option<Self>> {
        let dir = base.join(format!("{backend}-{}", args.entries));
        let devlog_dir = dir.join(".devlog");
        std::fs::create_dir_all(&devlog_dir)?;
        let (spec, scratch) = match backend {
            "json" => (
                StoreSpec::Json {
                    root: devlog_dir.clone(),
                },
                None,
            ),
            "sqlite" => (
                StoreSpec::Sqlite {
                    path: devlog_dir.join("devlog.sqlite"),
                },
                None,
            ),
            "postgres" | "mysql" => {
                let admin = if backend == "postgres" {
                    &args.postgres_url
                } else {
                    &args.mysql_url
                };
                let Some(admin) = admin.as_deref().filter(|u| !u.trim().is_empty()) else {
                    eprintln!(
                        "skipping {backend}: set DEVLOG_TEST_{}_URL or --{backend}-url",
                        backend.to_ascii_uppercase()
                    );
                    return Ok(None);
                };
                let admin = DbUrl::parse(admin)?;
                let name = if args.keep.is_some() {
                    format!("devlog_bench_{}", args.entries)
                } else {
                    format!("devlog_bench_{}_{}", args.entries, std::process::id())
                };
                let db = ScratchDb::create(backend, &admin, &name, args.keep.is_none())?;
                let url = admin.with_database(&name);
                devlog_store::prepare_folder(&devlog_dir)?;
                let spec = if backend == "postgres" {
                    StoreSpec::Postgres { url }
                } else {
                    StoreSpec::Mysql { url }
                };
                (spec, Some(db))
            }
            other => {
                bail!("unknown backend `{other}`; this bench knows json, sqlite, postgres, mysql")
            }
        };
        let mut env = vec![("DEVLOG_STORAGE_TYPE", backend.to_string())];
        if let Some(url) = spec.url() {
            env.push(("DATABASE_URL", url.expose().to_string()));
        }
        Ok(Some(Self {
            backend: backend.to_string(),
            dir,
            spec,
            env,
            _scratch: scratch,
        }))
    }

    /// The file saying a complete store of this size is here, for `--keep`.
    fn marker(&self) -> PathBuf {
        self.dir.join("bench-built.json")
    }

    fn built_marker_text(args: &Args) -> String {
        let mut m = serde_json::json!({"entries": args.entries, "feedDepth": args.feed_depth});
        if args.history {
            m["history"] = true.into();
        }
        m.to_string()
    }
}

/// A database the bench creates on a test server and, unless kept, drops at the end.
struct ScratchDb {
    backend: String,
    admin: DbUrl,
    name: String,
    drop_at_end: bool,
}

impl ScratchDb {
    fn create(backend: &str, admin: &DbUrl, name: &str, drop_at_end: bool) -> Result<Self> {
        let create = if backend == "postgres" {
            // CREATE DATABASE has no IF NOT EXISTS on PostgreSQL: a kept one is reused.
            format!(
                "SELECT 'exists' FROM pg_database WHERE datname = '{name}' \
                 UNION ALL SELECT 'create' WHERE NOT EXISTS \
                 (SELECT 1 FROM pg_database WHERE datname = '{name}')"
            )
        } else {
            format!("CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
        };
        let db = Self {
            backend: backend.to_string(),
            admin: admin.clone(),
            name: name.to_string(),
            drop_at_end,
        };
        if backend == "postgres" {
            if db.query_one(&create)?.as_deref() == Some("create") {
                db.exec(&format!("CREATE DATABASE \"{name}\""))?;
            }
        } else {
            db.exec(&create)?;
        }
        Ok(db)
    }

    fn exec(&self, sql: &str) -> Result<()> {
        self.query_one(sql).map(drop)
    }

    /// Runs `sql` on the server's admin database; the first column of its first row.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql")),
        expect(unused_variables, reason = "no server driver in this build")
    )]
    fn query_one(&self, sql: &str) -> Result<Option<String>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let url = self.admin.expose();
        let shown = self.admin.redacted();
        rt.block_on(async {
            match self.backend.as_str() {
                #[cfg(feature = "postgres")]
                "postgres" => {
                    use sqlx::Connection;
                    let mut c = sqlx::PgConnection::connect(url)
                        .await
                        .with_context(|| format!("connecting to {shown}"))?;
                    let v: Option<String> =
                        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                            .fetch_optional(&mut c)
                            .await
                            .with_context(|| format!("on {shown}"))?;
                    let _ = c.close().await;
                    Ok(v)
                }
                #[cfg(feature = "mysql")]
                "mysql" => {
                    use sqlx::Connection;
                    let mut c = sqlx::MySqlConnection::connect(url)
                        .await
                        .with_context(|| format!("connecting to {shown}"))?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                        .execute(&mut c)
                        .await
                        .with_context(|| format!("on {shown}"))?;
                    let _ = c.close().await;
                    Ok(None)
                }
                other => bail!(
                    "the {other} backend is not compiled into this build; rebuild devlog-cli \
                     with the `{other}` feature"
                ),
            }
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if !self.drop_at_end {
            return;
        }
        let sql = if self.backend == "postgres" {
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
        } else {
            format!("DROP DATABASE IF EXISTS `{}`", self.name)
        };
        if let Err(e) = self.exec(&sql) {
            eprintln!("warning: cannot drop the database {}: {e:#}", self.name);
        }
    }
}

/// How a store was built (or that it was reused), for the report.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Built {
    backend: String,
    entries: usize,
    reused: bool,
    /// Writing the entries (json: the files), seconds.
    write_s: f64,
    /// json: the first open, which indexes every file; seconds.
    index_s: f64,
    /// The change feed's extra events, seconds.
    feed_s: f64,
    /// Bytes on disk: the store's files (json: entry files, sqlite: the database).
    data_bytes: Option<u64>,
    /// json: the index beside the files (`.devlog/.state/index.sqlite`).
    index_bytes: Option<u64>,
}

fn progress(what: &str, done: usize, n: usize, started: Instant) {
    if n >= 100_000 && done.is_multiple_of(n / 10) && done > 0 {
        let s = started.elapsed().as_secs_f64();
        eprintln!(
            "  {what}: {done}/{n} in {s:.0}s ({:.0}/s)",
            done as f64 / s.max(1e-9)
        );
    }
}

/// Builds the store (or reuses a kept one); returns it opened and what building took.
async fn build(t: &Target, args: &Args) -> Result<(Arc<dyn Store>, Built)> {
    let n = args.entries;
    let mut built = Built {
        backend: t.backend.clone(),
        entries: n,
        reused: false,
        write_s: 0.0,
        index_s: 0.0,
        feed_s: 0.0,
        data_bytes: None,
        index_bytes: None,
    };
    let marker = t.marker();
    let wanted = Target::built_marker_text(args);
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        let store = devlog_store::open(&t.spec).await?;
        built.reused = true;
        sizes(t, &mut built);
        return Ok((store, built));
    }
    if marker.exists() {
        bail!(
            "{} holds a store built with other settings ({}); remove {} or pass another --keep",
            t.dir.display(),
            std::fs::read_to_string(&marker).unwrap_or_default(),
            t.dir.display()
        );
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut keys: Vec<(EntryId, u64)> = Vec::with_capacity(n);
    // What `--history` needs of each entry: id, handle, created, updated, status.
    let mut lives: Vec<(EntryId, u64, Timestamp, Timestamp, Status)> = Vec::new();
    let started = Instant::now();
    let store = if t.backend == "json" {
        // Write the files as a `git clone` would, then let the store index them.
        let ed = t.dir.join(".devlog").join("entries");
        std::fs::create_dir_all(&ed)?;
        for i in 0..n {
            let e = make_entry(&mut rng, i);
            std::fs::write(
                ed.join(format!("{:03}-{}.json", e.handle, e.key)),
                encode_entry(&e),
            )?;
            keys.push((e.id, e.handle));
            if args.history {
                lives.push((e.id, e.handle, e.created_at, e.updated_at, e.status));
            }
            progress("files written", i + 1, n, started);
        }
        built.write_s = started.elapsed().as_secs_f64();
        let opened = Instant::now();
        let store = devlog_store::open(&t.spec).await?;
        built.index_s = opened.elapsed().as_secs_f64();
        store
    } else {
        let store = devlog_store::open(&t.spec).await?;
        if store.count().await? > 0 {
            bail!(
                "{} already holds entries but no complete bench store (no {}); drop it or use \
                 another --keep",
                t.spec.location().display(),
                marker.display()
            );
        }
        let meta = WriteMeta::new(Origin::Import);
        // Every backend writes a batch in one transaction, which on the servers holds the
        // entries counter's lock: batches go one after another.
        let mut done = 0;
        while done < n {
            let size = args.batch.max(1).min(n - done);
            let batch: Vec<Entry> = (done..done + size)
                .map(|i| make_entry(&mut rng, i))
                .collect();
            keys.extend(batch.iter().map(|e| (e.id, e.handle)));
            if args.history {
                lives.extend(
                    batch
                        .iter()
                        .map(|e| (e.id, e.handle, e.created_at, e.updated_at, e.status)),
                );
            }
            store.put_raw_batch(batch, &meta).await?;
            let before = done;
            done += size;
            if n >= 100_000 && before * 10 / n != done * 10 / n {
                let s = started.elapsed().as_secs_f64();
                eprintln!(
                    "  entries stored: {done}/{n} in {s:.0}s ({:.0}/s)",
                    done as f64 / s
                );
            }
        }
        built.write_s = started.elapsed().as_secs_f64();
        store
    };
    let fed = Instant::now();
    deepen_feed(store.as_ref(), &keys, args.feed_depth).await?;
    if args.history {
        add_history(store.as_ref(), &lives).await?;
    }
    built.feed_s = fed.elapsed().as_secs_f64();
    std::fs::write(&marker, wanted)?;
    sizes(t, &mut built);
    Ok((store, built))
}

/// Bytes of files under `path` (a file or a folder), not following links.
fn disk_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| disk_bytes(&e.path())).sum())
        .unwrap_or(0)
}

fn sizes(t: &Target, built: &mut Built) {
    let root = t.dir.join(".devlog");
    match t.backend.as_str() {
        "json" => {
            built.data_bytes = Some(disk_bytes(&root.join("entries")));
            built.index_bytes = Some(disk_bytes(&root.join(".state")));
        }
        "sqlite" => {
            built.data_bytes = Some(
                ["", "-wal", "-shm"]
                    .iter()
                    .map(|s| disk_bytes(&root.join(format!("devlog.sqlite{s}"))))
                    .sum(),
            );
        }
        _ => {}
    }
}

/// Appends `depth` field-change events per entry to the change feed, in pages.
async fn deepen_feed(store: &dyn Store, entries: &[(EntryId, u64)], depth: usize) -> Result<()> {
    let at = Timestamp::from_millis(1_748_779_200_000).context("bench timestamp")?;
    let mut page = Vec::new();
    for round in 0..depth {
        for &(entry_id, handle) in entries {
            page.push(Event {
                seq: 0,
                entry_id,
                handle,
                at,
                origin: Origin::Cli,
                actor: Some("bench".into()),
                change: None,
                kind: EventKind::FieldChanged {
                    field: "currentSummary".into(),
                    old: serde_json::Value::Null,
                    new: format!("round {round} of the bench").into(),
                },
            });
            if page.len() == 5000 {
                store.append_events(&page).await?;
                page.clear();
            }
        }
    }
    store.append_events(&page).await?;
    Ok(())
}

/// Appends each entry's life to the feed (`--history`): `created` at its `createdAt` (so the
/// feed holds its history from creation), then new → in-progress a third of the way to its
/// last update and in-progress → its status at the last update.
async fn add_history(
    store: &dyn Store,
    lives: &[(EntryId, u64, Timestamp, Timestamp, Status)],
) -> Result<()> {
    let mut page = Vec::new();
    for &(entry_id, handle, created, updated, status) in lives {
        let event = |at: Timestamp, kind: EventKind| Event {
            seq: 0,
            entry_id,
            handle,
            at,
            origin: Origin::Cli,
            actor: Some("bench".into()),
            change: None,
            kind,
        };
        page.push(event(created, EventKind::Created));
        let started =
            Timestamp::from_millis(created.millis() + (updated.millis() - created.millis()) / 3)
                .context("bench timestamp")?;
        if status != Status::New {
            page.push(event(
                started,
                EventKind::StatusChanged {
                    from: Status::New,
                    to: Status::InProgress,
                    closed_at: None,
                },
            ));
        }
        if status != Status::New && status != Status::InProgress {
            page.push(event(
                updated,
                EventKind::StatusChanged {
                    from: Status::InProgress,
                    to: status,
                    closed_at: None,
                },
            ));
        }
        if page.len() >= 5000 {
            store.append_events(&page).await?;
            page.clear();
        }
    }
    store.append_events(&page).await?;
    Ok(())
}

/// The 1- and 5-minute load averages (`/proc/loadavg`): the 2 cores are shared, so each figure
/// is reported with the load it was taken under.
fn load_average() -> Option<(f64, f64)> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((it.next()??, it.next()??))
}

/// The arguments of the i-th run of a CLI command.
type ArgsFor = Box<dyn Fn(usize) -> Vec<String>>;

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    backend: String,
    via: &'static str,
    op: &'static str,
    runs: usize,
    median_ms: f64,
    p95_ms: f64,
    min_ms: f64,
    /// The 1-minute load average after the row was measured.
    load: Option<f64>,
}

/// A row of the table from its timings; said on stderr as soon as it is measured (a run at
/// 1,000,000 entries takes tens of minutes before the table is printed).
fn summarize(backend: &str, via: &'static str, op: &'static str, mut t: Vec<Duration>) -> Row {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "  {backend} {via} {op}: median {:.2} ms over {} runs",
        ms(t[t.len() / 2]),
        t.len()
    );
    Row {
        backend: backend.to_string(),
        via,
        op,
        runs: t.len(),
        median_ms: ms(t[t.len() / 2]),
        p95_ms: ms(t[((t.len() * 95).div_ceil(100))
            .saturating_sub(1)
            .min(t.len() - 1)]),
        min_ms: ms(t[0]),
        load: load_average().map(|(one, _)| one),
    }
}

async fn time_lib<F, Fut>(runs: usize, mut f: F) -> Result<Vec<Duration>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut out = Vec::with_capacity(runs);
    f(usize::MAX).await?; // warm-up
    for i in 0..runs {
        let t = Instant::now();
        f(i).await?;
        out.push(t.elapsed());
    }
    Ok(out)
}

fn time_cli(
    bin: &Path,
    t: &Target,
    runs: usize,
    args: &dyn Fn(usize) -> Vec<String>,
) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..=runs {
        let a = args(i);
        let started = Instant::now();
        let o = Command::new(bin)
            .args(&a)
            .env("DEVLOG_DIR", t.dir.join(".devlog"))
            .envs(t.env.iter().map(|(k, v)| (k, v)))
            .env("NO_COLOR", "1")
            .output()
            .with_context(|| format!("running {}", bin.display()))?;
        let d = started.elapsed();
        if !o.status.success() {
            bail!(
                "devlog {a:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if i > 0 {
            out.push(d); // the first run warms the page cache
        }
    }
    Ok(out)
}

/// The ids of the entries the timed `show` and update runs read: handles spread over the
/// store (looked up first, so a reused store needs no list of ids).
async fn sample_ids(app: &Devlog, n: usize, count: usize) -> Result<Vec<EntryId>> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let handle = spread(i, n);
        ids.push(app.resolve(&handle.to_string()).await?.id);
    }
    Ok(ids)
}

/// The i-th of a sequence of handles in 1..=n that jumps around the store.
fn spread(i: usize, n: usize) -> usize {
    i.wrapping_mul(7919) % n + 1
}

/// Times the library operations on an open store.
async fn library_rows(t: &Target, store: Arc<dyn Store>, args: &Args) -> Result<Vec<Row>> {
    let backend = t.backend.as_str();
    let app = Devlog::new(store.clone());
    let n = args.entries;
    let runs = args.runs;
    let mut rows = Vec::new();
    // The middle of the feed, for `events --since`.
    let feed_mid = (n * (args.feed_depth + 1) / 2) as u64;
    let filtered = Filter {
        status: vec![Status::InProgress],
        kind: vec![EntryType::Bugfix],
        ..Filter::default()
    };
    if args.reports_only {
        return report_rows(backend, &app, runs).await;
    }
    let ids = sample_ids(&app, n, runs + 1).await?;
    let id_for = |i: usize| ids[i % ids.len()];
    let tm = time_lib(runs, |_| async {
        store.list(&ListQuery::default()).await?;
        Ok(())
    })
    .await?;
    rows.push(summarize(backend, "library", "list", tm));
    let tm = time_lib(runs, |_| async {
        store
            .list(&ListQuery {
                filter: filtered.clone(),
                ..ListQuery::default()
            })
            .await?;
        Ok(())
    })
    .await?;
    rows.push(summarize(backend, "library", "list (filtered)", tm));
    let tm = time_lib(runs, |i| {
        let store = store.clone();
        async move {
            let q = [
                "kubernetes pod",
                "timeout",
                "billing webhook",
                "migration locks",
            ][i % 4];
            store
                .search(&SearchQuery {
                    text: q.into(),
                    ..SearchQuery::default()
                })
                .await?;
            Ok(())
        }
    })
    .await?;
    rows.push(summarize(backend, "library", "search", tm));
    // A word in every entry: ranking and counting must not grow with the hits.
    let tm = time_lib(runs, |_| async {
        store
            .search(&SearchQuery {
                text: COMMON_WORD.into(),
                ..SearchQuery::default()
            })
            .await?;
        Ok(())
    })
    .await?;
    rows.push(summarize(backend, "library", "search (all hit)", tm));
    let tm = time_lib(runs, |_| {
        let app = app.clone();
        async move {
            app.active_context(10).await?;
            Ok(())
        }
    })
    .await?;
    rows.push(summarize(backend, "library", "active context", tm));
    // `Store::stats` over the whole store (the dashboard's overview, MCP `get_devlog_stats`),
    // then with a filter the kept counts answer (one type).
    for (label, filter) in [
        ("stats", Filter::default()),
        (
            "stats (type)",
            Filter {
                kind: vec![EntryType::Bugfix],
                ..Filter::default()
            },
        ),
    ] {
        let tm = time_lib(runs, |_| {
            let store = store.clone();
            let filter = filter.clone();
            async move {
                store.stats(&filter).await?;
                Ok(())
            }
        })
        .await?;
        rows.push(summarize(backend, "library", label, tm));
    }
    let tm = time_lib(runs, |i| {
        let store = store.clone();
        let id = id_for(i);
        async move {
            store.get(id).await?;
            Ok(())
        }
    })
    .await?;
    rows.push(summarize(backend, "library", "show (get)", tm));
    let tm = time_lib(runs, |i| {
        let app = app.clone();
        async move {
            app.create(
                NewEntry {
                    title: format!("Bench created {i} {}", std::process::id()),
                    kind: Some(EntryType::Task),
                    ..NewEntry::default()
                },
                &WriteMeta::new(Origin::Cli),
            )
            .await?;
            Ok(())
        }
    })
    .await?;
    rows.push(summarize(backend, "library", "new", tm));
    // A new entry with a description of generated text (about 30 distinct words, each a
    // word index row), like the entries of the store.
    let mut text_rng = Rng(0x005e_ed0f_7e47);
    let described: Vec<String> = (0..=runs)
        .map(|i| make_entry(&mut text_rng, i).description)
        .collect();
    let tm = time_lib(runs, |i| {
        let app = app.clone();
        let description = described[i.min(runs)].clone();
        async move {
            app.create(
                NewEntry {
                    title: format!("Bench described {i} {}", std::process::id()),
                    kind: Some(EntryType::Task),
                    description,
                    ..NewEntry::default()
                },
                &WriteMeta::new(Origin::Cli),
            )
            .await?;
            Ok(())
        }
    })
    .await?;
    rows.push(summarize(backend, "library", "new (described)", tm));
    // MCP's `update_devlog_with_note`: a field edit and a note in one write.
    let tm = time_lib(runs, |i| {
        let app = app.clone();
        let id = id_for(i);
        async move {
            app.edit_with_note(
                id,
                Edit {
                    status: Some(if i % 2 == 0 {
                        Status::InReview
                    } else {
                        Status::InProgress
                    }),
                    ..Edit::default()
                },
                NewNote {
                    content: format!("bench progress {i}"),
                    category: NoteCategory::Progress,
                    files: Vec::new(),
                    code_changes: None,
                },
                &WriteMeta::new(Origin::Cli),
            )
            .await?;
            Ok(())
        }
    })
    .await?;
    rows.push(summarize(backend, "library", "update+note", tm));
    // What `devlog events` reads: the newest 50 and a count of the earlier ones, or
    // 50 after a cursor in the middle and a count of the later ones.
    let tm = time_lib(runs, |_| async {
        let evs = store.events_before(None, 50).await?;
        let first = evs.first().map_or(0, |e| e.seq);
        store.count_events(0, Some(first)).await?;
        Ok(())
    })
    .await?;
    rows.push(summarize(backend, "library", "events", tm));
    let tm = time_lib(runs, |_| async {
        let evs = store.events(feed_mid, 50).await?;
        let last = evs.last().map_or(feed_mid, |e| e.seq);
        store.count_events(last, None).await?;
        Ok(())
    })
    .await?;
    rows.push(summarize(backend, "library", "events --since", tm));
    rows.extend(report_rows(backend, &app, runs).await?);
    Ok(rows)
}

/// The reports over the whole store (`Devlog::report`): each reads every summary a page at a
/// time; cycle-time, wip and time-in-status also read the whole feed once.
async fn report_rows(backend: &str, app: &Devlog, runs: usize) -> Result<Vec<Row>> {
    use devlog_core::reports::{ReportName, ReportQuery};
    let mut rows = Vec::new();
    // A year, so every entry's creation (the sample spreads them over months) is in it.
    let until = Timestamp::from_millis(1_767_225_600_000).context("bench timestamp")?;
    let since = Timestamp::from_millis(until.millis() - 365 * 86_400_000).context("bench")?;
    for (name, label) in [
        (ReportName::Counts, "report counts"),
        (ReportName::Throughput, "report throughput"),
        (ReportName::LeadTime, "report lead-time"),
        (ReportName::CycleTime, "report cycle-time"),
        (ReportName::TimeInStatus, "report time-in-status"),
        (ReportName::Wip, "report wip"),
    ] {
        let q = ReportQuery {
            since: (name != ReportName::Counts).then_some(since),
            until: (name != ReportName::Counts).then_some(until),
            by: Vec::new(),
            filter: Filter::default(),
        };
        let tm = time_lib(runs.min(5), |_| {
            let q = q.clone();
            async move {
                app.report(name, &q, None).await?;
                Ok(())
            }
        })
        .await?;
        rows.push(summarize(backend, "library", label, tm));
    }
    Ok(rows)
}

/// Times the dashboard's pages (docs/dashboard.md): a `devlog serve` server in this process on
/// a loopback port, one HTTP/1.0 request per run, the whole page read (server time plus the
/// loopback round trip; the page's CSS and script are cached by browsers and not counted).
/// The overview reuses its throughput and cycle-time charts while the feed does not move, so
/// `dashboard /` is the warm page; `/reports/throughput` and `/reports/cycle-time` are what a
/// first (cold) overview computes besides it.
async fn dashboard_rows(t: &Target, store: Arc<dyn Store>, args: &Args) -> Result<Vec<Row>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = Devlog::new(store);
    let listener = devlog_server::Listener::bind("127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr();
    let server = devlog_server::Server::new(
        app.clone(),
        devlog_server::ServerOptions {
            mcp: false,
            ..devlog_server::ServerOptions::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    let ids = sample_ids(&app, args.entries, args.runs + 1).await?;
    let handle = app.store().get(ids[0]).await?.handle;
    let mut rows = Vec::new();
    let pages = [
        ("dashboard /", "/".to_string()),
        ("dashboard /entries", "/entries".to_string()),
        (
            "dashboard /entries (filtered)",
            "/entries?status=in-progress&type=bugfix&sort=priority".to_string(),
        ),
        ("dashboard /entries?q=", format!("/entries?q={COMMON_WORD}")),
        ("dashboard /entries/{ref}", format!("/entries/{handle}")),
        ("dashboard /board", "/board".to_string()),
        ("dashboard /reports", "/reports".to_string()),
        ("dashboard /reports/counts", "/reports/counts".to_string()),
        (
            "dashboard /reports/throughput",
            "/reports/throughput".to_string(),
        ),
        (
            "dashboard /reports/cycle-time",
            "/reports/cycle-time".to_string(),
        ),
        (
            "dashboard /reports/time-in-status",
            "/reports/time-in-status".to_string(),
        ),
        ("dashboard /reports/wip", "/reports/wip".to_string()),
        (
            "dashboard /reports/burndown",
            "/reports/burndown".to_string(),
        ),
        ("dashboard /sync", "/sync".to_string()),
        // The report pages again, each run with another `until` (a second apart), so no run
        // reuses the server's answer to an earlier one: what a first opening or a change
        // costs (the server computes the report from its in-memory index).
        (
            "fresh /reports/counts",
            "/reports/counts?since=2000-01-01T00:00:{run}Z".to_string(),
        ),
        (
            "fresh /reports/throughput",
            "/reports/throughput?until=2026-12-06T00:00:{run}Z".to_string(),
        ),
        (
            "fresh /reports/cycle-time",
            "/reports/cycle-time?until=2026-12-06T00:00:{run}Z".to_string(),
        ),
        (
            "fresh /reports/time-in-status",
            "/reports/time-in-status?until=2026-12-06T00:00:{run}Z".to_string(),
        ),
        (
            "fresh /reports/wip",
            "/reports/wip?until=2026-12-06T00:00:{run}Z".to_string(),
        ),
        (
            "fresh /reports/burndown",
            "/reports/burndown?until=2026-12-06T00:00:{run}Z".to_string(),
        ),
        (
            "fresh /api/v1/reports/wip",
            "/api/v1/reports/wip?until=2026-12-05T00:00:{run}Z".to_string(),
        ),
    ];
    for (name, path) in pages {
        // A fresh report reads the whole store (seconds each at 1,000,000 entries): at most
        // 5 runs, as the library's report rows.
        let runs = if name.starts_with("fresh ") {
            args.runs.min(5)
        } else {
            args.runs
        };
        let tm = time_lib(runs, |i| {
            let path = path.replace("{run}", &format!("{:02}", i % 60));
            async move {
                let mut s = tokio::net::TcpStream::connect(addr).await?;
                s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
                    .await?;
                let mut body = Vec::new();
                s.read_to_end(&mut body).await?;
                if !body.starts_with(b"HTTP/1.0 200") && !body.starts_with(b"HTTP/1.1 200") {
                    bail!(
                        "GET {path}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    );
                }
                Ok(())
            }
        })
        .await?;
        rows.push(summarize(&t.backend, "http", name, tm));
    }
    let _ = stop.send(());
    let _ = serving.await;
    Ok(rows)
}

/// Times `devlog` processes, start-up included.
fn cli_rows(bin: &Path, t: &Target, args: &Args) -> Result<Vec<Row>> {
    let n = args.entries;
    let mid = (n * (args.feed_depth + 1) / 2).to_string();
    let handle = move |i: usize| spread(i, n).to_string();
    let cli: [(&'static str, ArgsFor); 11] = [
        (
            "start-up (list --limit 10)",
            Box::new(|_| vec!["list".into(), "--limit".into(), "10".into()]),
        ),
        ("list", Box::new(|_| vec!["list".into()])),
        (
            "list (filtered)",
            Box::new(|_| {
                vec![
                    "list".into(),
                    "--status".into(),
                    "in-progress".into(),
                    "--type".into(),
                    "bugfix".into(),
                ]
            }),
        ),
        (
            "search",
            Box::new(|_| vec!["search".into(), "kubernetes".into(), "pod".into()]),
        ),
        (
            "search (all hit)",
            Box::new(|_| vec!["search".into(), COMMON_WORD.into()]),
        ),
        ("active context", Box::new(|_| vec!["context".into()])),
        ("show", Box::new(move |i| vec!["show".into(), handle(i)])),
        (
            "new",
            Box::new(|i| {
                vec![
                    "new".into(),
                    format!("CLI bench entry {i} {}", std::process::id()),
                    "--type".into(),
                    "task".into(),
                ]
            }),
        ),
        (
            "note",
            Box::new(move |i| vec!["note".into(), handle(i + 1), format!("CLI bench note {i}")]),
        ),
        ("events", Box::new(|_| vec!["events".into()])),
        (
            "events --since",
            Box::new(move |_| vec!["events".into(), "--since".into(), mid.clone()]),
        ),
    ];
    let mut rows = Vec::new();
    for (op, a) in cli.iter() {
        let tm = time_cli(bin, t, args.cli_runs, a.as_ref())?;
        rows.push(summarize(&t.backend, "cli", op, tm));
    }
    Ok(rows)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bin = match &args.devlog {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("devlog"),
    };
    if !bin.is_file() {
        bail!(
            "{} not found: build it (cargo build --release -p devlog-cli) or pass --devlog",
            bin.display()
        );
    }
    if args.entries == 0 {
        bail!("--entries must be at least 1");
    }
    let tmp = tempfile::tempdir()?;
    let base = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let mut rows = Vec::new();
    let mut stores = Vec::new();
    for backend in &args.backends {
        let Some(target) = Target::new(&args, backend, &base)? else {
            continue;
        };
        eprintln!("{backend}: {} entries ...", args.entries);
        let (store, built) = rt.block_on(build(&target, &args))?;
        if built.reused {
            eprintln!("  reusing {}", target.spec.location().display());
        } else {
            eprintln!(
                "  written in {:.1}s, indexed in {:.1}s, feed in {:.1}s",
                built.write_s, built.index_s, built.feed_s
            );
        }
        if args.wants("library") {
            rows.extend(rt.block_on(library_rows(&target, store.clone(), &args))?);
        }
        if args.wants("http") && !args.reports_only {
            rows.extend(rt.block_on(dashboard_rows(&target, store, &args))?);
        }
        if args.wants("cli") && !args.reports_only {
            rows.extend(cli_rows(&bin, &target, &args)?);
        }
        stores.push(built);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "entries": args.entries, "stores": stores, "rows": rows,
            }))?
        );
        return Ok(());
    }
    println!(
        "devlog-bench: {} entries per store (median / p95 / min, milliseconds; load: the \
         1-minute load average after the row)",
        args.entries
    );
    for b in &stores {
        let mib =
            |v: Option<u64>| v.map_or("-".into(), |v| format!("{:.1} MiB", v as f64 / 1048576.0));
        println!(
            "{:<8} {}; data {}, index {}",
            b.backend,
            if b.reused {
                "reused".to_string()
            } else {
                format!(
                    "built: written {:.1}s ({:.0} entries/s), indexed {:.1}s, feed {:.1}s",
                    b.write_s,
                    b.entries as f64 / b.write_s.max(1e-9),
                    b.index_s,
                    b.feed_s
                )
            },
            mib(b.data_bytes),
            mib(b.index_bytes)
        );
    }
    println!(
        "{:<8} {:<8} {:<26} {:>9} {:>9} {:>9} {:>5}",
        "backend", "via", "operation", "median", "p95", "min", "load"
    );
    for r in &rows {
        println!(
            "{:<8} {:<8} {:<26} {:>9.2} {:>9.2} {:>9.2} {:>5}",
            r.backend,
            r.via,
            r.op,
            r.median_ms,
            r.p95_ms,
            r.min_ms,
            r.load.map_or("-".into(), |l| format!("{l:.1}"))
        );
    }
    Ok(())
}
