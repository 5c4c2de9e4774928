//! Sync benchmark: N local entries pushed through the test integration to the fake remote
//! (jobs per second, API calls per change), then an idle re-sync of the N synced entries (API
//! calls spent), then a re-sync after 1% of the entries changed.
//!
//! ```text
//! cargo run --release -p devlog-sync --example sync_bench -- 10000
//! ```

use std::sync::Arc;
use std::time::Instant;

use devlog_core::codec::encode_entry;
use devlog_core::entry::{EntryType, Status};
use devlog_core::ops::Edit;
use devlog_core::{Devlog, Origin, Store, WriteMeta};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::EntryBuilder;
use devlog_testkit::fake_remote::FakeRemote;
use devlog_testkit::tracker::TrackerIntegration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join(".devlog");
    std::fs::create_dir_all(root.join("entries"))?;
    for i in 0..n {
        let e = EntryBuilder::new(&format!("Benchmark entry {i}"))
            .handle(i as u64 + 1)
            .kind(EntryType::ALL[i % EntryType::ALL.len()])
            .description("generated for the sync benchmark")
            .tag("bench")
            .build();
        std::fs::write(
            root.join("entries").join(format!("{:03}-e.json", i + 1)),
            encode_entry(&e),
        )?;
    }
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await?);
    let remote = FakeRemote::start().await;
    let tracker = Arc::new(TrackerIntegration::with_limits(
        &remote.url(),
        devlog_http::RateLimitConfig::unpaced(),
    )?);
    let state = SyncState::open(&root.join(".state/sync.sqlite")).await?;
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![tracker.clone()],
        SyncOptions::default(),
    );

    let before = tracker.client().counters();
    let t = Instant::now();
    let rep = engine.sync(None, None, &|_, _| {}).await?;
    let secs = t.elapsed().as_secs_f64();
    let calls = tracker.client().counters().since(&before);
    println!(
        "initial sync of {n} local changes: {:.2} s, {:.0} jobs/s, {} API calls ({:.3} per change), created {}, failed {}",
        secs,
        n as f64 / secs,
        calls.requests,
        calls.requests as f64 / n as f64,
        rep.created,
        rep.failed.len()
    );

    // The first re-sync pulls our own creates back once (the pull cursor cannot skip them
    // without risking a concurrent remote edit); after that an idle sync is one request.
    for label in ["first re-sync (reads back our creates)", "idle re-sync"] {
        let before = tracker.client().counters();
        let t = Instant::now();
        let rep = engine.sync(None, None, &|_, _| {}).await?;
        let calls = tracker.client().counters().since(&before);
        println!(
            "{label} of {n} synced entries: {:.1} ms, {} API calls ({} answered 304), pushed {}, pulled {}, applied {}",
            t.elapsed().as_secs_f64() * 1000.0,
            calls.requests,
            calls.not_modified,
            rep.created + rep.updated,
            rep.pulled,
            rep.applied
        );
    }

    let app = Devlog::new(store.clone());
    let changed = (n / 100).max(1);
    let ids: Vec<_> = store
        .all()
        .await?
        .into_iter()
        .take(changed)
        .map(|e| e.id)
        .collect();
    for id in ids {
        app.edit(
            id,
            Edit {
                status: Some(Status::InProgress),
                ..Edit::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await?;
    }
    let before = tracker.client().counters();
    let t = Instant::now();
    let rep = engine.sync(None, None, &|_, _| {}).await?;
    let calls = tracker.client().counters().since(&before);
    println!(
        "re-sync after {changed} local edits: {:.1} ms, {} API calls, updated {}",
        t.elapsed().as_secs_f64() * 1000.0,
        calls.requests,
        rep.updated
    );
    assert_eq!(remote.items_created(), n as u64, "no duplicates");
    Ok(())
}
