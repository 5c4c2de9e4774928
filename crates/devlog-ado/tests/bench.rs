//! Benchmark (issue 19.12): the first sync of 1,000 entries to the fake Azure DevOps through
//! the sync engine, the second (right after: devlog's own creates count as seen once their
//! revisions are checked: WIQL and one `System.Rev`-only batch per 200 items), then idle
//! re-syncs by a fresh integration each (a new `devlog sync` process: the project's metadata
//! not read yet), twice (WIQL, and one batch for the items changed within the pull's overlap).
//! Ignored by default; run it with
//!
//! ```sh
//! cargo test -p devlog-ado --test bench -- --ignored --nocapture   # add --release for speed
//! ```
//!
//! The request counts are asserted (they do not depend on the machine); the times are printed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::Instant;

use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
use devlog_core::entry::EntryType;
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};

const ENTRIES: usize = 1_000;

fn ado(probe: &AdoProbe) -> AdoIntegration {
    let config = AdoConfig::new(
        &probe.organization_url(),
        "Fabrikam",
        AdoAuth::Pat(SecretString::from("ado_bench_pat".to_string())),
    )
    .unwrap();
    AdoIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap()
}

async fn engine(store: Arc<dyn Store>, root: &std::path::Path, probe: &AdoProbe) -> SyncEngine {
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    SyncEngine::new(
        store,
        state,
        vec![Arc::new(ado(probe))],
        SyncOptions::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test -p devlog-ado --test bench -- --ignored --nocapture"]
async fn first_sync_and_idle_resync_of_1000_entries() {
    let probe = AdoProbe::start("acme", "Fabrikam", FakeProcess::Agile).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let app = Devlog::new(store.clone());
    for n in 0..ENTRIES {
        app.create(
            NewEntry {
                title: format!("Benchmark entry {n}"),
                kind: Some(if n % 3 == 0 {
                    EntryType::Bugfix
                } else {
                    EntryType::Task
                }),
                description: format!("Entry {n} of the Azure DevOps benchmark."),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
    }
    let requests = || probe.remote.state().requests().len();

    let e = engine(store.clone(), &root, &probe).await;
    let (before, t) = (requests(), Instant::now());
    let report = e.sync(None, None, &|_, _| {}).await.unwrap();
    let first = (t.elapsed(), requests() - before);
    assert_eq!(report.created, ENTRIES as u64, "{report:?}");
    assert_eq!(probe.ado.items().len(), ENTRIES);
    drop(e);

    // Idle, as a new process: WIQL, and one batch for the items changed within the overlap.
    let idle = |label: &'static str| {
        let store = store.clone();
        let root = root.clone();
        let probe = &probe;
        async move {
            let e = engine(store, &root, probe).await;
            let (before, t) = (requests(), Instant::now());
            let report = e.sync(None, None, &|_, _| {}).await.unwrap();
            let spent = (t.elapsed(), requests() - before);
            assert_eq!(
                report.created + report.updated + report.applied,
                0,
                "{label}: {report:?}"
            );
            spent
        }
    };
    // devlog's own creates count as seen (`cursor_after_write`) at the revision devlog wrote:
    // the next sync is idle too (WIQL and ceil(1,000 / 200) batches asking only
    // `System.Rev`), not a full read-back of all 1,000.
    let second = idle("second").await;
    let right_after = idle("right after").await;
    let later = idle("again").await;
    assert_eq!(
        second.1,
        1 + ENTRIES.div_ceil(200),
        "second: {} requests",
        second.1
    );
    assert!(
        right_after.1 <= 2,
        "idle right after: {} requests",
        right_after.1
    );
    assert!(later.1 <= 2, "idle again: {} requests", later.1);
    println!(
        "azure-devops benchmark, {ENTRIES} entries against the fake:\n  \
         first sync: {:.2?}, {} requests\n  \
         second sync (right after the creates): {:.2?}, {} requests\n  \
         idle re-sync right after: {:.2?}, {} requests\n  \
         idle re-sync again: {:.2?}, {} requests",
        first.0, first.1, second.0, second.1, right_after.0, right_after.1, later.0, later.1
    );
    assert!(probe.ado.check_contract().is_empty());
}
