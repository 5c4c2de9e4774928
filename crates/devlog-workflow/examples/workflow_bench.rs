//! Benchmark of the workflow engine (docs/workflows.md, "Performance"):
//!
//! 1. events per second through 100 enabled workflows whose conditions mostly do not match
//!    (the common case): the change feed of `EVENTS` writes on a SQLite store is handed to
//!    the engine, as a command's hook does; about 1 write in 100 matches one workflow;
//! 2. the run overhead of a 5-step workflow (`set_var`, three `add_note`, `set`), per run.
//!
//! `cargo run --release -p devlog-workflow --example workflow_bench [EVENTS] [RUNS]`
#![allow(clippy::unwrap_used)] // a benchmark: a panic is the report

use std::collections::BTreeSet;
use std::time::Instant;

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Edit, NewEntry};
use devlog_core::{Devlog, EntryType, Priority, Status};
use devlog_store::StoreSpec;
use devlog_workflow::{Engine, RunStore, parse};

fn workflows() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..100 {
        let on = match i % 4 {
            0 => "  status_changed:\n    to: in-review".to_string(),
            1 => "  updated:\n    fields: [priority]".to_string(),
            2 => "  note_added:".to_string(),
            _ => "  status_changed:".to_string(),
        };
        out.push(format!(
            "name: wf-{i}\non:\n{on}\nif: entry.priority == \"critical\" && \"wf-{i}\" in entry.tags\nsteps:\n  - add_note:\n      category: progress\n      text: \"wf-{i} saw {{{{ entry.title }}}}\"\n"
        ));
    }
    out
}

const FIVE: &str = r#"name: five
on:
  manual:
steps:
  - set_var:
      who: "{{ workflow.name }}"
  - add_note:
      category: progress
      text: "one by {{ vars.who }}"
  - add_note:
      category: progress
      text: "two on {{ entry.title }}"
  - add_note:
      category: progress
      text: "three"
  - set:
      add_tags: ["five"]
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let spec = StoreSpec::from_name("sqlite", dir.path(), None).unwrap();
    let store = devlog_store::open(&spec).await.unwrap();
    let app = Devlog::new(store.clone());
    let meta = WriteMeta::new(Origin::Cli).with_actor(Some("bench".into()));

    let files = workflows();
    let mut loaded: Vec<_> = files
        .iter()
        .map(|t| parse("bench.yml", t).unwrap())
        .collect();
    loaded.push(parse("five.yml", FIVE).unwrap());
    let engine = Engine::new(
        app.clone(),
        loaded,
        BTreeSet::new(),
        RunStore::new(std::sync::Arc::new(
            devlog_store::SqliteSyncState::open(&dir.path().join("sync.sqlite"))
                .await
                .unwrap(),
        )),
        Origin::Cli,
    );

    // 100 entries; one in ten critical, and entry 0 tagged for wf-3 (the rare match: its
    // status changes).
    let mut ids = Vec::new();
    for i in 0..100 {
        let e = app
            .create(
                NewEntry {
                    title: format!("Entry {i}"),
                    kind: Some(EntryType::Task),
                    priority: Some(if i % 10 == 0 {
                        Priority::Critical
                    } else {
                        Priority::Medium
                    }),
                    tags: if i == 0 { vec!["wf-3".into()] } else { vec![] },
                    ..NewEntry::default()
                },
                &meta,
            )
            .await
            .unwrap();
        ids.push(e.entry().id);
    }
    let start_seq = store.events_before(None, 1).await.unwrap()[0].seq;
    let statuses = [
        Status::InProgress,
        Status::InReview,
        Status::Blocked,
        Status::InProgress,
    ];
    for i in 0..events {
        let edit = if i % 2 == 0 {
            Edit {
                status: Some(statuses[(i / 2) % statuses.len()]),
                ..Edit::default()
            }
        } else {
            Edit {
                description: Some(format!("change {i}")),
                ..Edit::default()
            }
        };
        app.edit(ids[i % ids.len()], edit, &meta).await.unwrap();
    }
    let feed = store.events(start_seq, usize::MAX).await.unwrap();
    let n = feed.len();
    let t = Instant::now();
    let outcome = engine.on_events(feed).await.unwrap();
    let took = t.elapsed();
    println!(
        "{n} events through 100 enabled workflows: {:.1} ms, {:.0} events/s, {} runs (matches)",
        took.as_secs_f64() * 1e3,
        n as f64 / took.as_secs_f64(),
        outcome.runs.len()
    );

    let t = Instant::now();
    for i in 0..runs {
        let r = engine
            .run_manual("five", Some(ids[i % ids.len()]), None)
            .await
            .unwrap();
        assert_eq!(r.state, devlog_workflow::RunState::Succeeded, "{r:?}");
    }
    let took = t.elapsed();
    println!(
        "5-step workflow: {runs} runs in {:.1} ms, {:.2} ms per run (4 writes + run record saved after each step)",
        took.as_secs_f64() * 1e3,
        took.as_secs_f64() * 1e3 / runs as f64
    );
}
