//! Conformance of the audit log (issue 20): every backend appends one hash-chained record per
//! event of every write, with who and from where, and concurrent writers keep one chain.

use std::path::Path;

use devlog_core::audit::{
    Action, AuditKey, AuditRecord, Draft, Head, RemoteEffect, Stored, Verifier, What,
};
use devlog_core::auth::Role;
use devlog_core::entry::{EntryType, NoteCategory};
use devlog_core::event::{EventKind, Origin, SyncActor, WriteMeta};
use devlog_core::ops::{Devlog, Edit, NewNote};
use devlog_core::store::Store;
use devlog_core::time::Timestamp;

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
            (r.entry_id, r.what.event(), r.origin),
            (Some(ev.entry_id), Some(&ev.kind), ev.origin)
        );
        assert_eq!(r.actor, ev.actor);
        assert_eq!(r.change, ev.change);
    }
    assert_eq!(records[0].what, EventKind::Created);
    assert_eq!(records[0].actor.as_deref(), Some("ann"));
    let renamed = records
        .iter()
        .find(|r| matches!(r.what.event(), Some(EventKind::FieldChanged { field, .. }) if field == "title"))
        .expect("the title change is recorded");
    assert_eq!(renamed.origin, Origin::Http);
    assert_eq!(renamed.source.client.as_deref(), Some("192.0.2.7:50123"));
    match renamed.what.event() {
        Some(EventKind::FieldChanged { old, new, .. }) => {
            assert_eq!(
                (old.as_str(), new.as_str()),
                (Some("Audited"), Some("Audited work"))
            );
        }
        _ => unreachable!(),
    }
    assert!(
        records.iter().any(|r| r.origin == Origin::Mcp
            && matches!(r.what.event(), Some(EventKind::NoteAdded { .. })))
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

fn effect(id: devlog_core::id::EntryId, handle: u64, n: u32, effect_id: &str) -> Draft {
    Draft::action(
        Timestamp::from_millis(1_780_000_000_000 + i64::from(n)).unwrap(),
        Some("sync:github".into()),
        Origin::Sync,
        Action::RemoteEffect {
            integration: "github".into(),
            effect: RemoteEffect::CommentPosted,
            remote_id: format!("c{n}"),
            item: Some("42".into()),
            url: Some("https://github.example/o/r/issues/42".into()),
            effect_id: effect_id.into(),
        },
    )
    .for_entry(id, handle)
}

/// Actions (issue 20): token changes and remote effects join the entry records' chain; a
/// remote effect appended again (a retried job, another process) is recorded once; a signed
/// checkpoint verifies with the key, and the head is the last record.
pub async fn audit_log_appends_actions_once_per_effect(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let log = store.audit_log().expect("every backend keeps an audit log");
    assert_eq!(log.audit_head().await.unwrap(), Head::default());
    let app = Devlog::new(store.clone());
    let cli = WriteMeta::new(Origin::Cli).with_actor(Some("ann".into()));
    let e = app
        .create(new_entry("Synced", EntryType::Feature), &cli)
        .await
        .unwrap()
        .into_entry();
    let token = Draft::action(
        Timestamp::from_millis(1_780_000_000_000).unwrap(),
        Some("ann".into()),
        Origin::Cli,
        Action::TokenCreated {
            token_id: "0123456789abcdef".into(),
            name: "ci".into(),
            role: Role::Editor,
            scope: None,
            expires_at: None,
        },
    );
    let appended = log.audit_append(vec![token]).await.unwrap();
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].seq, 2);
    assert_eq!(appended[0].entry_id, None);

    // The same effect twice in one batch, then again (a retry), then from another handle.
    let first = log
        .audit_append(vec![
            effect(e.id, e.handle, 1, "github/comment-posted/42/n1"),
            effect(e.id, e.handle, 1, "github/comment-posted/42/n1"),
            effect(e.id, e.handle, 2, "github/comment-posted/42/n2"),
        ])
        .await
        .unwrap();
    assert_eq!(first.len(), 2, "a batch records each effect once");
    assert!(
        log.audit_append(vec![effect(
            e.id,
            e.handle,
            1,
            "github/comment-posted/42/n1"
        )])
        .await
        .unwrap()
        .is_empty(),
        "a retried effect is not recorded again"
    );
    let other = open(dir.to_path_buf()).await;
    let other_log = other.audit_log().unwrap();
    let again = other_log
        .audit_append(vec![
            effect(e.id, e.handle, 2, "github/comment-posted/42/n2"),
            effect(e.id, e.handle, 3, "github/comment-posted/42/n3"),
        ])
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].what.effect_id(),
        Some("github/comment-posted/42/n3")
    );

    // Entry writes continue the same chain after actions.
    app.edit(
        e.id,
        Edit {
            title: Some("Synced work".into()),
            ..Edit::default()
        },
        &cli,
    )
    .await
    .unwrap();
    let head = log.audit_head().await.unwrap();
    let (key, _) = AuditKey::generate();
    let at = Timestamp::from_millis(1_780_000_001_000).unwrap();
    let cp = log
        .audit_checkpoint(&key, at, Some("devlog serve".into()), Origin::Http)
        .await
        .unwrap()
        .expect("a checkpoint after new records");
    assert_eq!(cp.prev, head.hash);
    // The checkpoint carries who signed it and through what (the server's housekeeping).
    assert_eq!(cp.origin, Origin::Http);
    assert_eq!(cp.actor.as_deref(), Some("devlog serve"));
    assert_eq!(log.audit_head().await.unwrap(), Head::of(&cp));
    // A log that ends with a checkpoint gets no second one.
    assert_eq!(
        log.audit_checkpoint(&key, at, None, Origin::Cli)
            .await
            .unwrap(),
        None
    );

    let records = read_and_verify(&*store).await;
    let mut pinned = Verifier::with_key(key.public());
    for r in &records {
        pinned.check(r).unwrap();
    }
    assert_eq!(pinned.checkpoints(), 1);
    assert_eq!(pinned.unsigned_tail(), 0);
    let effects: Vec<&str> = records.iter().filter_map(|r| r.what.effect_id()).collect();
    assert_eq!(
        effects,
        [
            "github/comment-posted/42/n1",
            "github/comment-posted/42/n2",
            "github/comment-posted/42/n3"
        ]
    );
    let posted = records
        .iter()
        .find(|r| r.what.effect_id().is_some())
        .unwrap();
    assert_eq!(
        (posted.entry_id, posted.handle),
        (Some(e.id), Some(e.handle))
    );
    assert!(matches!(
        &posted.what,
        What::Action(Action::RemoteEffect {
            effect: RemoteEffect::CommentPosted,
            ..
        })
    ));
}

/// Two handles (two processes) record the same remote effect at once: one record.
pub async fn audit_log_records_a_racing_effect_once(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let cli = WriteMeta::new(Origin::Cli).with_actor(Some("ann".into()));
    let e = app
        .create(new_entry("Raced", EntryType::Task), &cli)
        .await
        .unwrap()
        .into_entry();
    let mut tasks = Vec::new();
    for n in 0..4u32 {
        let s = open(dir.to_path_buf()).await;
        let (id, handle) = (e.id, e.handle);
        tasks.push(tokio::spawn(async move {
            s.audit_log()
                .unwrap()
                .audit_append(vec![effect(id, handle, n, "github/item-created/7")])
                .await
                .unwrap()
                .len()
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 1);
    let records = read_and_verify(&*store).await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r.what.effect_id() == Some("github/item-created/7"))
            .count(),
        1
    );
}
