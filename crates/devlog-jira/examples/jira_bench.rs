//! Jira sync benchmark against the test kit's fake Jira: N entries (each with one note)
//! create their issues and comments, then re-syncs show what a sync of N linked entries
//! costs in requests and time — plainly, and with a board and mapped custom fields (whose
//! field ids the pull cursor keeps, so an idle sync does not list the site's fields again).
//!
//! ```text
//! cargo run -p devlog-jira --example jira_bench -- 1000
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use devlog_core::Store;
use devlog_core::codec::encode_entry;
use devlog_core::entry::{EntryType, NoteCategory};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::config::MappedField;
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::EntryBuilder;
use devlog_testkit::fake_jira::{BOARD_ID, FakeJira};
use devlog_testkit::fake_remote::FakeRemote;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000);
    for mapped in [false, true] {
        run(n, mapped).await?;
    }
    Ok(())
}

async fn run(n: usize, mapped: bool) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join(".devlog");
    std::fs::create_dir_all(root.join("entries"))?;
    for i in 0..n {
        let e = EntryBuilder::new(&format!("Benchmark entry {i}"))
            .handle(i as u64 + 1)
            .kind(EntryType::ALL[i % EntryType::ALL.len()])
            .description("generated for the Jira benchmark")
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
    let st = b.state();
    // Jira's clock is ours: pulls reach back from now.
    if let Ok(d) = (chrono::Utc::now() - st.now()).to_std() {
        st.advance(d);
    }
    let jira = FakeJira::new(b.state(), "DEV");
    let remote = b.routes(jira.router()).start().await;
    let mut config = JiraConfig::new(
        &remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from("jira_bench_token".to_string()),
        },
    )?;
    if mapped {
        config.board_id = Some(BOARD_ID);
        config.custom_fields = BTreeMap::from([(
            MappedField::EstimatedHours,
            "Story point estimate".to_string(),
        )]);
    }
    let integration = JiraIntegration::with_limits(config, RateLimitConfig::unpaced())?;
    let state = SyncState::open(&root.join(".state/sync.sqlite")).await?;
    let engine = SyncEngine::new(
        store,
        state,
        vec![Arc::new(integration.clone())],
        SyncOptions::default(),
    );
    let label = if mapped {
        "board + customFields"
    } else {
        "plain"
    };
    let before = integration.client().counters();
    let t = Instant::now();
    let rep = engine.sync(None, None, &|_, _| {}).await?;
    let calls = integration.client().counters().since(&before);
    println!(
        "[{label}] first sync of {n} entries: {:.2} s, {} requests ({:.2} per entry), {} issues, {} comments, {} failed",
        t.elapsed().as_secs_f64(),
        calls.requests,
        calls.requests as f64 / n as f64,
        rep.created,
        rep.notes_pushed,
        rep.failed.len()
    );
    // Re-sync 1 reads back our own writes (their `updated` is after the cursor); from then
    // on a sync of unchanged data is idle. Each runs in a fresh integration, as a new
    // `devlog sync` process would (nothing cached in memory but the pull cursor).
    for label2 in [
        "re-sync 1 (reads back our writes)",
        "idle re-sync",
        "idle re-sync",
    ] {
        let fresh =
            JiraIntegration::with_limits(integration.config().clone(), RateLimitConfig::unpaced())?;
        let engine = SyncEngine::new(
            engine.store().clone(),
            SyncState::open(&root.join(".state/sync.sqlite")).await?,
            vec![Arc::new(fresh.clone())],
            SyncOptions::default(),
        );
        remote.clear_requests();
        let t = Instant::now();
        let rep = engine.sync(None, None, &|_, _| {}).await?;
        let calls = fresh.client().counters();
        if std::env::var_os("JIRA_BENCH_TRACE").is_some() && calls.requests < 10 {
            for q in remote.state().requests() {
                println!("    {} {}", q.method, q.path);
            }
        }
        println!(
            "[{label}] {label2} of {n} linked entries: {:.1} ms, {} requests ({:.3} per entry); pushed {}, applied {}, failed {}",
            t.elapsed().as_secs_f64() * 1000.0,
            calls.requests,
            calls.requests as f64 / n as f64,
            rep.created + rep.updated + rep.notes_pushed,
            rep.applied + rep.actions_applied,
            rep.failed.len()
        );
    }
    assert_eq!(jira.issues().len(), n, "no duplicate issues");
    let violations = jira.check_contract();
    assert!(violations.is_empty(), "{violations:?}");
    remote.clear_requests();
    Ok(())
}
