//! GitHub sync benchmark against the test kit's fake GitHub: N entries (each with one note)
//! create their issues and comments, then idle re-syncs show what a sync of N linked entries
//! costs in requests and quota (304s cost none), with and without a Projects v2 board.
//!
//! ```text
//! cargo run --release -p devlog-github --example github_bench -- 1000
//! ```

use std::sync::Arc;
use std::time::Instant;

use devlog_core::Store;
use devlog_core::codec::encode_entry;
use devlog_core::entry::{EntryType, NoteCategory};
use devlog_github::{GithubConfig, GithubIntegration};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::EntryBuilder;
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_github_graphql::FakeGithubGraphql;
use devlog_testkit::fake_remote::FakeRemote;

const TOKEN: &str = "ghp_bench";
const PROJECT: &str = "PVT_bench";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000);
    for project in [false, true] {
        run(n, project).await?;
    }
    Ok(())
}

async fn run(n: usize, project: bool) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join(".devlog");
    std::fs::create_dir_all(root.join("entries"))?;
    for i in 0..n {
        let e = EntryBuilder::new(&format!("Benchmark entry {i}"))
            .handle(i as u64 + 1)
            .kind(EntryType::ALL[i % EntryType::ALL.len()])
            .description("generated for the GitHub benchmark")
            .tag("bench")
            .note(NoteCategory::Progress, "started")
            .build();
        std::fs::write(
            root.join("entries").join(format!("{:04}-e.json", i + 1)),
            encode_entry(&e),
        )?;
    }
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await?);
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let board = FakeGithubGraphql::new(b.state(), gh.clone(), "acme/widgets", TOKEN, PROJECT);
    let remote = b.routes(gh.router().merge(board.router())).start().await;
    let mut cfg = GithubConfig::new("acme/widgets", SecretString::from(TOKEN.to_string()))?;
    cfg.api_url = remote.url();
    if project {
        cfg.project_id = Some(PROJECT.into());
    }
    let github = GithubIntegration::with_limits(cfg, RateLimitConfig::unpaced())?;
    let state = SyncState::open(&root.join(".state/sync.sqlite")).await?;
    let engine = SyncEngine::new(
        store,
        state,
        vec![Arc::new(github.clone())],
        SyncOptions::default(),
    );
    let label = if project {
        "with a project board"
    } else {
        "issues only"
    };
    let before = github.client().counters();
    let t = Instant::now();
    let rep = engine.sync(None, None, &|_, _| {}).await?;
    let calls = github.client().counters().since(&before);
    println!(
        "[{label}] initial sync of {n} entries: {:.2} s, {} requests ({:.2} per entry), {} issues, {} comments, {} failed",
        t.elapsed().as_secs_f64(),
        calls.requests,
        calls.requests as f64 / n as f64,
        rep.created,
        rep.notes_pushed,
        rep.failed.len()
    );
    // Re-syncs 1 and 2 read back our own writes (`since` is inclusive, so the newest item is
    // read once more after the cursor moved); from then on a sync of unchanged data is idle.
    for label2 in [
        "re-sync 1 (reads back our writes)",
        "re-sync 2 (the cursor moved)",
        "idle re-sync",
    ] {
        let before = github.client().counters();
        let t = Instant::now();
        let rep = engine.sync(None, None, &|_, _| {}).await?;
        let calls = github.client().counters().since(&before);
        println!(
            "[{label}] {label2} of {n} linked entries: {:.1} ms, {} requests, {} answered 304 (no quota), {} costing quota; pushed {}, applied {}",
            t.elapsed().as_secs_f64() * 1000.0,
            calls.requests,
            calls.not_modified,
            calls.requests - calls.not_modified,
            rep.created + rep.updated + rep.notes_pushed,
            rep.applied + rep.actions_applied
        );
    }
    assert_eq!(gh.issues_created(), n as u64, "no duplicate issues");
    assert_eq!(gh.all_comments().len(), n, "no duplicate comments");
    let violations = gh.check_contract();
    assert!(violations.is_empty(), "{violations:?}");
    remote.clear_requests();
    Ok(())
}
