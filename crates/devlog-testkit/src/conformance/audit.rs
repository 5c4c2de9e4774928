//! Conformance of the audit log (issue 20): every backend appends one hash-chained record per
//! event of every write, with who and from where, and concurrent writers keep one chain.

use std::path::Path;

use devlog_core::audit::{AuditRecord, Stored, Verifier};
use devlog_core::entry::{EntryType, NoteCategory};
use devlog_core::event::{EventKind, Origin, SyncActor, WriteMeta};
use devlog_core::ops::{Devlog, Edit, NewNote};
use devlog_core::store::Store;

use super::{Opener, new_entry};

/// Reads the whole log in small pages (so paging is exercised) and checks the chain.
async fn read_and_verify(store: &dyn Store) -> Vec<AuditRecord> {
    let log = store.audit_log().expect("every backend keeps an audit log");
    let mut verifier = Verifier::new();
    let mut out = Vec::new();
    loop {
        let page = log.audit_page(verifier.head().seq, 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        for item in &page {
            verifier
                .check_stored(item)
                .unwrap_or_else(|b| panic!("{}: {b}", log.audit_location()));
            if let Stored::Record(r) = item {
                out.push(r.clone());
            }
        }
    }
    assert_eq!(log.audit_count().await.unwrap(), out.len() as u64);
    out
}

pub async fn audit_log_records_every_write_with_who_and_where(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let cli = WriteMeta::new(Origin::Cli).with_actor(Some("ann".into()));
    let e = app
        .create(new_entry("Audited", EntryType::Feature), &cli)
        .await
        .unwrap()
        .into_entry();
    let http = WriteMeta::new(Origin::Http)
        .with_actor(Some("token:ci".into()))
        .with_client(Some("192.0.2.7:50123".into()));
    app.edit(
        e.id,
        Edit {
            title: Some("Audited work".into()),
            ..Edit::default()
        },
        &http,
    )
    .await
    .unwrap();
    let mcp = WriteMeta::new(Origin::Mcp).with_actor(Some("agent".into()));
    app.add_note(
        e.id,
        NewNote {
            content: "progress".into(),
            category: NoteCategory::Progress,
            files: Vec::new(),
            code_changes: None,
        },
        &mcp,
    )
    .await
    .unwrap();
    let hook = SyncActor::integration("github")
        .meta()
        .with_delivery(Some("delivery-42".into()));
    store.delete(e.id, &hook).await.unwrap();

    let records = read_and_verify(&*store).await;
    // One record per event of the feed, in the same order.
    let events = store.events(0, 1000).await.unwrap();
    assert_eq!(records.len(), events.len());
    for (r, ev) in records.iter().zip(&events) {
        assert_eq!(
            (r.entry_id, &r.what, r.origin),
            (ev.entry_id, &ev.kind, ev.origin)
        );
        assert_eq!(r.actor, ev.actor);
        assert_eq!(r.change, ev.change);
    }
    assert_eq!(records[0].what, EventKind::Created);
    assert_eq!(records[0].actor.as_deref(), Some("ann"));
    let renamed = records
        .iter()
        .find(|r| matches!(&r.what, EventKind::FieldChanged { field, .. } if field == "title"))
        .expect("the title change is recorded");
    assert_eq!(renamed.origin, Origin::Http);
    assert_eq!(renamed.source.client.as_deref(), Some("192.0.2.7:50123"));
    match &renamed.what {
        EventKind::FieldChanged { old, new, .. } => {
            assert_eq!(
                (old.as_str(), new.as_str()),
                (Some("Audited"), Some("Audited work"))
            );
        }
        _ => unreachable!(),
    }
    assert!(
        records
            .iter()
            .any(|r| r.origin == Origin::Mcp && matches!(r.what, EventKind::NoteAdded { .. }))
    );
    let deleted = records.last().unwrap();
    assert_eq!(deleted.what, EventKind::Deleted);
    assert_eq!(deleted.actor.as_deref(), Some("sync:github"));
    assert_eq!(deleted.source.delivery.as_deref(), Some("delivery-42"));

    // Reopened, the store continues the same chain.
    drop(app);
    drop(store);
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    app.create(new_entry("After reopen", EntryType::Task), &cli)
        .await
        .unwrap();
    let again = read_and_verify(&*store).await;
    assert_eq!(again.len(), records.len() + 1);
    assert_eq!(again[records.len()].prev, records.last().unwrap().hash);
}

pub async fn audit_log_keeps_one_chain_under_concurrent_writers(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let meta = WriteMeta::new(Origin::Cli).with_actor(Some("ann".into()));
    let mut ids = Vec::new();
    for i in 0..4 {
        let e = app
            .create(new_entry(&format!("Race {i}"), EntryType::Task), &meta)
            .await
            .unwrap()
            .into_entry();
        ids.push(e.id);
    }
    let mut tasks = Vec::new();
    for (w, id) in ids.iter().copied().enumerate() {
        // Each writer opens its own store, as another process would.
        let store = open(dir.to_path_buf()).await;
        tasks.push(tokio::spawn(async move {
            let app = Devlog::new(store);
            let meta = WriteMeta::new(Origin::Mcp).with_actor(Some(format!("writer{w}")));
            for n in 0..5 {
                app.edit(
                    id,
                    Edit {
                        title: Some(format!("Race {w} edit {n}")),
                        ..Edit::default()
                    },
                    &meta,
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let records = read_and_verify(&*store).await;
    assert_eq!(
        records.len() as u64,
        store.count_events(0, None).await.unwrap()
    );
    for w in 0..4 {
        let by = records
            .iter()
            .filter(|r| r.actor.as_deref() == Some(&format!("writer{w}")))
            .count();
        assert_eq!(by, 5, "writer{w}'s five edits are all recorded");
    }
}
