//! The sync engine (devlog-sync) over a JSON store, with `AdoIntegration` against the test
//! kit's fake Azure DevOps: entries are created once (a create whose answer is lost is found
//! by its marker tag, never duplicated), a second sync changes nothing on either side (the
//! HTML descriptions and tags read back without churn), a change made in Azure DevOps comes
//! back to the entry, and notes ⇄ comments go both ways once.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
use devlog_core::entry::{EntryType, NoteCategory, Priority};
use devlog_core::ops::{Devlog, NewEntry, NewNote};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
use devlog_testkit::fake_remote::Fault;
use serde_json::json;

struct Rig {
    app: Devlog,
    engine: SyncEngine,
    probe: AdoProbe,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let probe = AdoProbe::start("acme", "Fabrikam", FakeProcess::Agile).await;
    let config = AdoConfig::new(
        &probe.organization_url(),
        "Fabrikam",
        AdoAuth::Pat(SecretString::from("ado_engine_pat_4321".to_string())),
    )
    .unwrap();
    let ado = AdoIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(ado)],
        SyncOptions::default(),
    );
    Rig {
        app: Devlog::new(store),
        engine,
        probe,
        _dir: dir,
    }
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_sync_once_without_churn_and_remote_changes_come_back() {
    let r = rig().await;
    let e = r
        .app
        .create(
            NewEntry {
                title: "Fix the login timeout".into(),
                kind: Some(EntryType::Bugfix),
                description: "Users see a **timeout** after `30s`.\n\n- on slow networks\n- on VPN"
                    .into(),
                priority: Some(Priority::High),
                business_context: "Users drop off.".into(),
                acceptance_criteria: vec!["No timeout under 60s".into()],
                tags: vec!["auth".into(), "login".into()],
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    let other = r
        .app
        .create(
            NewEntry {
                title: "Write the docs".into(),
                kind: Some(EntryType::Docs),
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    // The docs entry's create answer is lost (a Task): Azure DevOps made the item, devlog
    // never heard.
    r.probe.remote.state().inject(
        Fault::on("POST /acme/Fabrikam/_apis/wit/workitems/$Task")
            .apply_then_drop()
            .times(1),
    );
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, 1, "{rep:?}");
    assert_eq!(rep.failed.len(), 1, "{rep:?}");
    assert!(rep.failed[0].contains("no response"), "{rep:?}");
    // The next sync finds it by its marker instead of creating it again.
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    assert_eq!(r.probe.ado.items().len(), 2, "{:?}", r.probe.ado.items());
    let mut markers: Vec<String> = r
        .probe
        .ado
        .items()
        .iter()
        .map(|w| w.str_field("System.Tags").to_string())
        .collect();
    markers.sort();
    let mut expected = vec![
        format!("auth; devlog:{}; login", e.id),
        format!("devlog:{}", other.id),
    ];
    expected.sort();
    assert_eq!(markers, expected);
    assert_eq!(
        rep.applied, 1,
        "the lost create is adopted by the pull: {rep:?}"
    );
    let work_item = r
        .probe
        .ado
        .items()
        .iter()
        .find(|w| w.str_field("System.Tags").contains(&e.id.to_string()))
        .unwrap()
        .id;

    // Idle: nothing changes on either side, and no write is sent.
    let writes = |r: &Rig| {
        r.probe
            .remote
            .state()
            .requests_matching("POST /acme/Fabrikam/_apis/wit/workitems/*")
            .len()
            + r.probe.remote.state().requests_matching("PATCH /**").len()
    };
    let before = writes(&r);
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(
        (
            rep.created,
            rep.updated,
            rep.applied,
            rep.conflicts,
            rep.failed.len()
        ),
        (0, 0, 0, 0, 0),
        "{rep:?}"
    );
    assert_eq!(writes(&r), before);
    let again = r.app.store().get(e.id).await.unwrap();
    assert_eq!(again.description, e.description);
    assert_eq!(again.tags, e.tags);

    // A change made in Azure DevOps comes back to the entry.
    r.probe.ado.edit_item(work_item, |f| {
        f.insert("System.Title".into(), json!("Fix the login timeout on VPN"));
        f.insert("System.State".into(), json!("Active"));
    });
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    let pulled = r.app.store().get(e.id).await.unwrap();
    assert_eq!(pulled.title, "Fix the login timeout on VPN");
    assert_eq!(pulled.status, devlog_core::entry::Status::InProgress);
    assert_eq!(pulled.description, e.description);

    // A note becomes one comment; a comment written there becomes a note.
    r.app
        .add_note(
            e.id,
            NewNote {
                content: "Reproduced on VPN.".into(),
                category: NoteCategory::Progress,
                files: Vec::new(),
                code_changes: None,
            },
            &cli(),
        )
        .await
        .unwrap();
    r.engine.sync(None, None, &quiet).await.unwrap();
    r.engine.sync(None, None, &quiet).await.unwrap();
    let comments = r.probe.ado.comments(work_item);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].text.contains("Reproduced on VPN."),
        "{comments:?}"
    );
    r.probe.ado.add_comment(
        work_item,
        "ann@example.com",
        "<div>Confirmed on <b>Wi-Fi</b> too</div>",
    );
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    let noted = r.app.store().get(e.id).await.unwrap();
    let texts: Vec<(&str, NoteCategory)> = noted
        .notes
        .iter()
        .map(|n| (n.content.as_str(), n.category))
        .collect();
    assert_eq!(
        texts,
        [
            ("Reproduced on VPN.", NoteCategory::Progress),
            ("Confirmed on **Wi-Fi** too", NoteCategory::Feedback)
        ]
    );
    // And nothing echoes back: one comment each, no more.
    r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(r.probe.ado.comments(work_item).len(), 2);
    assert_eq!(r.app.store().get(e.id).await.unwrap().notes.len(), 2);
}
