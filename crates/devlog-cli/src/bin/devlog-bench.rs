//! Benchmark: builds stores of realistic entries and times `list`, filtered `list`, `search`
//! (a few words, and a word every entry contains), active context (`devlog context`), `show`,
//! `new` and `events` through the library and through the `devlog` binary (process start
//! included), for each backend. The change feed gets `--feed-depth` events per entry
//! (field changes), so `events` is measured on a deep feed.
//!
//! ```text
//! cargo build --release -p devlog-cli
//! target/release/devlog-bench --entries 10000
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use devlog_core::codec::encode_entry;
use devlog_core::entry::{
    AiContext, Context as EntryContext, Entry, EntryType, Extra, Note, NoteCategory, Priority,
    Status,
};
use devlog_core::id::{EntryId, slugify};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{
    Event, EventKind, Filter, ListQuery, Origin, SearchQuery, Store, Timestamp, WriteMeta,
};

/// Time devlog operations on large generated stores
#[derive(Debug, Parser)]
struct Args {
    /// Entries in each store
    #[arg(long, default_value_t = 10_000)]
    entries: usize,
    /// Backends to measure
    #[arg(long, value_delimiter = ',', default_value = "json,sqlite")]
    backends: Vec<String>,
    /// Change-feed events added per entry (a deep feed for `events`)
    #[arg(long, default_value_t = 10)]
    feed_depth: usize,
    /// Repetitions of each library operation
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Repetitions of each CLI command
    #[arg(long, default_value_t = 15)]
    cli_runs: usize,
    /// The devlog binary (default: next to this one)
    #[arg(long)]
    devlog: Option<PathBuf>,
    /// Keep the generated stores in this folder instead of a temporary one
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Print results as JSON
    #[arg(long)]
    json: bool,
}

/// A tiny deterministic generator so every run builds the same store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const VERBS: &[&str] = &[
    "Fix", "Add", "Refactor", "Document", "Migrate", "Speed up", "Remove", "Test", "Design",
    "Split",
];
const NOUNS: &[&str] = &[
    "login flow",
    "export to CSV",
    "kubernetes deployment",
    "billing webhook",
    "search index",
    "dashboard charts",
    "rate limiter",
    "session cookies",
    "audit log",
    "release pipeline",
    "Jira sync",
    "GitHub labels",
    "dark mode",
    "onboarding email",
    "API pagination",
    "cache invalidation",
    "SSO callback",
    "retry queue",
];
const WORDS: &[&str] = &[
    "the",
    "service",
    "returns",
    "timeout",
    "when",
    "users",
    "request",
    "large",
    "pages",
    "because",
    "index",
    "is",
    "missing",
    "we",
    "should",
    "batch",
    "writes",
    "and",
    "measure",
    "latency",
    "under",
    "load",
    "after",
    "deploy",
    "memory",
    "grows",
    "with",
    "history",
    "token",
    "expires",
    "early",
    "webhook",
    "signature",
    "fails",
    "on",
    "retries",
    "database",
    "migration",
    "locks",
    "table",
    "kubernetes",
    "pod",
    "restarts",
];

/// Every generated description starts with it (`sentence`): a search that hits every entry.
const COMMON_WORD: &str = "the";

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s: Vec<&str> = (0..words).map(|_| rng.pick(WORDS)).collect();
    s[0] = "The";
    format!("{}.", s.join(" "))
}

fn make_entry(rng: &mut Rng, i: usize) -> Entry {
    let title = format!("{} {} ({i})", rng.pick(VERBS), rng.pick(NOUNS));
    let created =
        Timestamp::from_millis(1_735_689_600_000 + (i as i64) * 3_000_000).expect("in range");
    let updated =
        Timestamp::from_millis(created.millis() + rng.below(20_000_000) as i64).expect("in range");
    let status = Status::ALL[rng.below(Status::ALL.len())];
    let notes = (0..rng.below(8))
        .map(|n| Note {
            id: format!("{i}-{n}"),
            timestamp: updated,
            category: NoteCategory::ALL[rng.below(NoteCategory::ALL.len())],
            content: (0..3)
                .map(|_| sentence(rng, 14))
                .collect::<Vec<_>>()
                .join(" "),
            files: vec![format!("src/module_{}.rs", rng.below(40))],
            code_changes: None,
            extra: Extra::new(),
        })
        .collect();
    Entry {
        id: EntryId::new_random(),
        handle: i as u64 + 1,
        key: slugify(&title),
        legacy_id: None,
        kind: EntryType::ALL[rng.below(EntryType::ALL.len())],
        description: (0..4)
            .map(|_| sentence(rng, 16))
            .collect::<Vec<_>>()
            .join(" "),
        status,
        priority: Priority::ALL[rng.below(Priority::ALL.len())],
        created_at: created,
        updated_at: updated,
        closed_at: status.is_closed().then_some(updated),
        assignee: ["ana", "bo", "chen", "dee"]
            .get(rng.below(6))
            .map(|s| s.to_string()),
        tags: vec![
            rng.pick(&["ui", "api", "infra", "docs", "perf"])
                .to_string(),
        ],
        estimated_hours: None,
        actual_hours: None,
        notes,
        files: Vec::new(),
        related_devlogs: Vec::new(),
        context: EntryContext {
            business_context: sentence(rng, 20),
            technical_context: sentence(rng, 20),
            acceptance_criteria: vec![sentence(rng, 8), sentence(rng, 8)],
            ..EntryContext::default()
        },
        ai_context: AiContext::default(),
        external_references: Vec::new(),
        extra: Extra::new(),
        title,
    }
}

/// Builds the store for `backend` under `dir` with `n` entries; returns it opened.
async fn build(backend: &str, dir: &Path, n: usize) -> Result<Arc<dyn Store>> {
    let root = dir.join(".devlog");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let entries: Vec<Entry> = (0..n).map(|i| make_entry(&mut rng, i)).collect();
    match backend {
        "json" => {
            // Write the files as a `git clone` would, then let the store index them.
            let ed = root.join("entries");
            std::fs::create_dir_all(&ed)?;
            for e in &entries {
                std::fs::write(
                    ed.join(format!("{:03}-{}.json", e.handle, e.key)),
                    encode_entry(e),
                )?;
            }
            Ok(Arc::new(devlog_store::JsonStore::open(&root).await?))
        }
        "sqlite" => {
            let store = devlog_store::SqliteStore::open(&root.join("devlog.sqlite")).await?;
            let meta = WriteMeta::new(Origin::Import);
            for e in entries {
                store.put_raw(e, &meta).await?;
            }
            Ok(Arc::new(store))
        }
        other => bail!("unknown backend {other}; this bench knows json and sqlite"),
    }
}

/// Appends `depth` field-change events per entry to the change feed, in pages.
async fn deepen_feed(store: &dyn Store, entries: &[Entry], depth: usize) -> Result<()> {
    let at = Timestamp::from_millis(1_748_779_200_000).context("bench timestamp")?;
    let mut page = Vec::new();
    for round in 0..depth {
        for e in entries {
            page.push(Event {
                seq: 0,
                entry_id: e.id,
                handle: e.handle,
                at,
                origin: Origin::Cli,
                actor: Some("bench".into()),
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

/// The arguments of the i-th run of a CLI command.
type ArgsFor = Box<dyn Fn(usize) -> Vec<String>>;

#[derive(Debug, serde::Serialize)]
struct Row {
    backend: String,
    via: &'static str,
    op: &'static str,
    runs: usize,
    median_ms: f64,
    p95_ms: f64,
    min_ms: f64,
}

fn summarize(backend: &str, via: &'static str, op: &'static str, mut t: Vec<Duration>) -> Row {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
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
    dir: &Path,
    backend: &str,
    runs: usize,
    args: &dyn Fn(usize) -> Vec<String>,
) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..=runs {
        let a = args(i);
        let t = Instant::now();
        let o = Command::new(bin)
            .args(&a)
            .env("DEVLOG_DIR", dir.join(".devlog"))
            .env("DEVLOG_STORAGE_TYPE", backend)
            .env("NO_COLOR", "1")
            .output()
            .with_context(|| format!("running {}", bin.display()))?;
        let d = t.elapsed();
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
    let tmp = tempfile::tempdir()?;
    let base = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let mut rows = Vec::new();
    for backend in &args.backends {
        let dir = base.join(backend);
        std::fs::create_dir_all(&dir)?;
        eprintln!("building {} entries for {backend} ...", args.entries);
        let t = Instant::now();
        let store = rt.block_on(build(backend, &dir, args.entries))?;
        eprintln!("  built in {:.1}s", t.elapsed().as_secs_f64());
        let app = Devlog::new(store.clone());
        let n = args.entries;
        let all = rt.block_on(store.all())?;
        let ids: Vec<EntryId> = all.iter().map(|e| e.id).collect();
        rt.block_on(deepen_feed(store.as_ref(), &all, args.feed_depth))?;
        drop(all);
        // The middle of the feed, for `events --since`.
        let feed_mid = (args.entries * args.feed_depth / 2) as u64;
        let mid = feed_mid.to_string();
        let filtered = Filter {
            status: vec![Status::InProgress],
            kind: vec![EntryType::Bugfix],
            ..Filter::default()
        };
        let runs = args.runs;
        rt.block_on(async {
            let t = time_lib(runs, |_| async {
                store.list(&ListQuery::default()).await?;
                Ok(())
            })
            .await?;
            rows.push(summarize(backend, "library", "list", t));
            let t = time_lib(runs, |_| async {
                store
                    .list(&ListQuery {
                        filter: filtered.clone(),
                        ..ListQuery::default()
                    })
                    .await?;
                Ok(())
            })
            .await?;
            rows.push(summarize(backend, "library", "list (filtered)", t));
            let t = time_lib(runs, |i| {
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
            rows.push(summarize(backend, "library", "search", t));
            // A word in every entry: ranking and counting must not grow with the hits.
            let t = time_lib(runs, |_| async {
                store
                    .search(&SearchQuery {
                        text: COMMON_WORD.into(),
                        ..SearchQuery::default()
                    })
                    .await?;
                Ok(())
            })
            .await?;
            rows.push(summarize(backend, "library", "search (all hit)", t));
            let t = time_lib(runs, |_| {
                let app = app.clone();
                async move {
                    app.active_context(10).await?;
                    Ok(())
                }
            })
            .await?;
            rows.push(summarize(backend, "library", "active context", t));
            let t = time_lib(runs, |i| {
                let id = ids[i.wrapping_mul(7919) % n];
                let store = store.clone();
                async move {
                    store.get(id).await?;
                    Ok(())
                }
            })
            .await?;
            rows.push(summarize(backend, "library", "show (get)", t));
            let t = time_lib(runs, |i| {
                let app = app.clone();
                async move {
                    app.create(
                        NewEntry {
                            title: format!("Bench created {i}"),
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
            rows.push(summarize(backend, "library", "new", t));
            // What `devlog events` reads: the newest 50 and a count of the earlier ones, or
            // 50 after a cursor in the middle and a count of the later ones.
            let t = time_lib(runs, |_| async {
                let evs = store.events_before(None, 50).await?;
                let first = evs.first().map_or(0, |e| e.seq);
                store.count_events(0, Some(first)).await?;
                Ok(())
            })
            .await?;
            rows.push(summarize(backend, "library", "events", t));
            let t = time_lib(runs, |_| async {
                let evs = store.events(feed_mid, 50).await?;
                let last = evs.last().map_or(feed_mid, |e| e.seq);
                store.count_events(last, None).await?;
                Ok(())
            })
            .await?;
            rows.push(summarize(backend, "library", "events --since", t));
            anyhow::Ok(())
        })?;
        drop(app);
        drop(store);
        let cr = args.cli_runs;
        let cli: [(&'static str, ArgsFor); 9] = [
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
            (
                "show",
                Box::new(move |i| vec!["show".into(), ((i * 7919) % n + 1).to_string()]),
            ),
            (
                "new",
                Box::new(|i| {
                    vec![
                        "new".into(),
                        format!("CLI bench entry {i}"),
                        "--type".into(),
                        "task".into(),
                    ]
                }),
            ),
            ("events", Box::new(|_| vec!["events".into()])),
            (
                "events --since",
                Box::new(move |_| vec!["events".into(), "--since".into(), mid.clone()]),
            ),
        ];
        for (op, a) in cli.iter() {
            let t = time_cli(&bin, &dir, backend, cr, a.as_ref())?;
            rows.push(summarize(backend, "cli", op, t));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "devlog-bench: {} entries per store (median / p95 / min, milliseconds)",
            args.entries
        );
        println!(
            "{:<8} {:<8} {:<16} {:>9} {:>9} {:>9}",
            "backend", "via", "operation", "median", "p95", "min"
        );
        for r in &rows {
            println!(
                "{:<8} {:<8} {:<16} {:>9.2} {:>9.2} {:>9.2}",
                r.backend, r.via, r.op, r.median_ms, r.p95_ms, r.min_ms
            );
        }
    }
    Ok(())
}
