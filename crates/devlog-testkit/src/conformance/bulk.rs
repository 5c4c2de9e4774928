//! Conformance of bulk operations (issue 20 item 5, `devlog_core::bulk`): every verb changes
//! each selected entry once through the backend's own update path (its events and audit
//! records carry the operation's change id), a dry run writes nothing, bad requests change
//! nothing, and a run interrupted between an entry's write and its journal record resumes
//! without changing any entry twice.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use devlog_core::audit::Stored;
use devlog_core::bulk::{
    Bulk, BulkAction, BulkError, BulkJournal, BulkRequest, EntryOutcome, FieldChanges,
    MemoryJournal, Observer, OperationId, Outcome, Quiet,
};
use devlog_core::entry::{Entry, EntryType, Priority, Status, Transition};
use devlog_core::error::ErrorKind;
use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Devlog, Edit};
use devlog_core::store::{Filter, Store};

use super::{Opener, new_entry};

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli).with_actor(Some("bulk-tester".into()))
}

/// Six entries: three `new` tasks tagged `old`, two bugfixes in progress, one done task.
async fn seed(app: &Devlog) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, (kind, status)) in [
        (EntryType::Task, Status::New),
        (EntryType::Task, Status::New),
        (EntryType::Task, Status::New),
        (EntryType::Bugfix, Status::InProgress),
        (EntryType::Bugfix, Status::InProgress),
        (EntryType::Task, Status::Done),
    ]
    .into_iter()
    .enumerate()
    {
        let mut n = new_entry(&format!("Bulk entry {i}"), kind);
        n.status = Some(status);
        if status == Status::New {
            n.tags = vec!["old".into()];
        }
        out.push(app.create(n, &meta()).await.unwrap().into_entry());
    }
    out
}

/// Every event and audit record so far (counts), to show that nothing was written.
async fn written(store: &dyn Store) -> (u64, u64) {
    let events = store.count_events(0, None).await.unwrap();
    let audit = store.audit_log().unwrap().audit_count().await.unwrap();
    (events, audit)
}

/// The distinct change ids in an entry's history.
async fn changes_of(store: &dyn Store, e: &Entry) -> BTreeSet<String> {
    store
        .entry_events(e.id, 0, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|ev| ev.change)
        .collect()
}

/// Audit records whose change id is `change`.
async fn audited(store: &dyn Store, change: &str) -> usize {
    let log = store.audit_log().unwrap();
    log.audit_page(0, 100_000)
        .await
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Stored::Record(r) if r.change.as_deref() == Some(change)))
        .count()
}

fn status_filter(s: Status) -> Filter {
    Filter {
        status: vec![s],
        ..Filter::default()
    }
}

pub async fn bulk_verbs_change_each_selected_entry_once(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let entries = seed(&app).await;
    let bulk = Bulk::new(app.clone(), Arc::new(MemoryJournal::default()));

    // edit: the three new tasks become high priority bugfixes.
    let edit = BulkRequest {
        filter: status_filter(Status::New),
        all: false,
        action: BulkAction::Edit {
            set: FieldChanges {
                priority: Some(Priority::High),
                kind: Some(EntryType::Bugfix),
                ..FieldChanges::default()
            },
        },
    };
    let s = bulk.run(edit.clone(), &meta(), &mut Quiet).await.unwrap();
    assert_eq!((s.selected, s.changed, s.unchanged), (3, 3, 0), "{s:?}");
    let op = s.operation.unwrap();
    for e in &entries[..3] {
        let now = store.get(e.id).await.unwrap();
        assert_eq!(
            (now.priority, now.kind),
            (Priority::High, EntryType::Bugfix)
        );
        let change = op.change_for(e.id);
        assert!(changes_of(&*store, e).await.contains(&change));
        assert!(audited(&*store, &change).await >= 1, "no audit record");
    }
    for e in &entries[3..] {
        assert_eq!(
            store.get(e.id).await.unwrap(),
            *e,
            "not selected, not touched"
        );
    }
    let changed = &s.entries[0];
    match &changed.outcome {
        Outcome::Changed { changes } => {
            let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(fields, ["priority", "type"]);
        }
        other => panic!("{other:?}"),
    }

    // The same request again: a new operation that finds everything in place, writes nothing.
    let before = written(&*store).await;
    let again = bulk.run(edit, &meta(), &mut Quiet).await.unwrap();
    assert_eq!((again.changed, again.unchanged), (0, 3));
    assert_ne!(again.operation, s.operation);
    assert_eq!(written(&*store).await, before);

    // tag and untag.
    let tag = |action| BulkRequest {
        filter: Filter {
            kind: vec![EntryType::Bugfix],
            ..Filter::default()
        },
        all: false,
        action,
    };
    let s = bulk
        .run(
            tag(BulkAction::Tag {
                tags: vec!["triage".into(), "old".into()],
            }),
            &meta(),
            &mut Quiet,
        )
        .await
        .unwrap();
    assert_eq!((s.selected, s.changed), (5, 5));
    for e in &entries[..5] {
        let tags = store.get(e.id).await.unwrap().tags;
        assert_eq!(tags.iter().filter(|t| *t == "old").count(), 1, "{tags:?}");
        assert!(tags.contains(&"triage".to_string()));
    }
    let s = bulk
        .run(
            tag(BulkAction::Untag {
                tags: vec!["old".into()],
            }),
            &meta(),
            &mut Quiet,
        )
        .await
        .unwrap();
    assert_eq!((s.selected, s.changed), (5, 5));
    for e in &entries[..5] {
        assert_eq!(store.get(e.id).await.unwrap().tags, ["triage"]);
    }

    // assign, then unassign.
    let assign = |who: Option<&str>| BulkRequest {
        filter: Filter {
            tag: Some("triage".into()),
            ..Filter::default()
        },
        all: false,
        action: BulkAction::Assign {
            assignee: who.map(str::to_string),
        },
    };
    let s = bulk
        .run(assign(Some("ana")), &meta(), &mut Quiet)
        .await
        .unwrap();
    assert_eq!(s.changed, 5);
    let listed = store
        .stats(&Filter {
            assignee: Some("ana".into()),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.total, 5, "the index follows the bulk writes");
    let s = bulk.run(assign(None), &meta(), &mut Quiet).await.unwrap();
    assert_eq!(s.changed, 5);
    assert!(store.get(entries[0].id).await.unwrap().assignee.is_none());

    // close with a reason: open entries closed with one note each; the done one is left.
    let close = BulkRequest {
        filter: Filter::default(),
        all: true,
        action: BulkAction::Close {
            reason: Some("Superseded by the new design".into()),
        },
    };
    let s = bulk.run(close.clone(), &meta(), &mut Quiet).await.unwrap();
    assert_eq!((s.selected, s.changed, s.unchanged), (6, 5, 1), "{s:?}");
    for e in &entries[..5] {
        let now = store.get(e.id).await.unwrap();
        assert_eq!(now.status, Status::Closed);
        assert!(now.closed_at.is_some());
        let reasons = now
            .notes
            .iter()
            .filter(|n| n.content == "Superseded by the new design")
            .count();
        assert_eq!(reasons, 1);
    }
    assert_eq!(store.get(entries[5].id).await.unwrap().status, Status::Done);
    // Closing again adds no second note.
    let before = written(&*store).await;
    let s = bulk.run(close, &meta(), &mut Quiet).await.unwrap();
    assert_eq!(s.changed, 0);
    assert_eq!(written(&*store).await, before);
}

pub async fn bulk_dry_run_writes_nothing(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let entries = seed(&app).await;
    let journal = Arc::new(MemoryJournal::default());
    let bulk = Bulk::new(app.clone(), journal.clone());
    let before = written(&*store).await;
    let req = BulkRequest {
        filter: Filter {
            open_only: true,
            ..Filter::default()
        },
        all: false,
        action: BulkAction::Close {
            reason: Some("won't do".into()),
        },
    };
    let s = bulk.dry_run(&req).await.unwrap();
    assert!(s.dry_run && s.operation.is_none());
    assert_eq!((s.selected, s.changed), (5, 5));
    let first = &s.entries[0];
    assert_eq!(first.id, entries[0].id);
    match &first.outcome {
        Outcome::Changed { changes } => {
            let status = changes.iter().find(|c| c.field == "status").unwrap();
            assert_eq!(
                (status.before.as_str(), status.after.as_str()),
                (Some("new"), Some("closed"))
            );
            assert!(changes.iter().any(|c| c.field == "notes"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(written(&*store).await, before, "a dry run writes nothing");
    for e in &entries {
        assert_eq!(store.get(e.id).await.unwrap(), *e);
    }
    assert!(
        bulk.journal().operations().await.unwrap().is_empty(),
        "a dry run records no operation"
    );
}

pub async fn bulk_bad_requests_change_nothing(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    seed(&app).await;
    let bulk = Bulk::new(app.clone(), Arc::new(MemoryJournal::default()));
    let before = written(&*store).await;
    let cases = [
        (
            BulkRequest {
                filter: Filter::default(),
                all: false,
                action: BulkAction::Tag {
                    tags: vec!["x".into()],
                },
            },
            "filter",
        ),
        (
            BulkRequest {
                filter: status_filter(Status::New),
                all: false,
                action: BulkAction::Edit {
                    set: FieldChanges::default(),
                },
            },
            "edit",
        ),
        (
            BulkRequest {
                filter: status_filter(Status::New),
                all: false,
                action: BulkAction::Tag {
                    tags: vec!["two words".into()],
                },
            },
            "tags",
        ),
        (
            BulkRequest {
                filter: status_filter(Status::New),
                all: false,
                action: BulkAction::Untag { tags: Vec::new() },
            },
            "tags",
        ),
        (
            BulkRequest {
                filter: status_filter(Status::New),
                all: false,
                action: BulkAction::Assign {
                    assignee: Some("  ".into()),
                },
            },
            "assignee",
        ),
        (
            BulkRequest {
                filter: status_filter(Status::New),
                all: false,
                action: BulkAction::Sync {
                    integrations: Vec::new(),
                },
            },
            "integrations",
        ),
    ];
    for (req, field) in cases {
        for result in [
            bulk.run(req.clone(), &meta(), &mut Quiet)
                .await
                .map_err(|e| e.to_string()),
            bulk.dry_run(&req).await.map_err(|e| e.to_string()),
        ] {
            let err = result.expect_err(field);
            assert!(err.contains(field), "{field}: {err}");
        }
    }
    assert_eq!(written(&*store).await, before);
    assert!(bulk.journal().operations().await.unwrap().is_empty());
    let err = bulk
        .resume(OperationId::new_random(), &meta(), &mut Quiet)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// Stops the run when the `at`-th entry has been written, before its outcome is recorded:
/// what a crash at that point leaves.
struct CrashAt(usize);

impl Observer for CrashAt {
    fn entry(&mut self, done: usize, _: usize, _: &EntryOutcome) -> ControlFlow<()> {
        if done == self.0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

pub async fn bulk_resumes_after_a_crash_changing_each_entry_once(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let mut entries = Vec::new();
    for i in 0..12 {
        let n = new_entry(&format!("Crash entry {i}"), EntryType::Task);
        entries.push(app.create(n, &meta()).await.unwrap().into_entry());
    }
    let journal = Arc::new(MemoryJournal::default());
    let bulk = Bulk::new(app.clone(), journal.clone());
    let req = BulkRequest {
        filter: status_filter(Status::New),
        all: false,
        action: BulkAction::Close {
            reason: Some("Cleared in the bulk test".into()),
        },
    };
    // Crash after the 5th write.
    let err = bulk
        .run(req.clone(), &meta(), &mut CrashAt(5))
        .await
        .unwrap_err();
    let BulkError::Interrupted { operation } = err else {
        panic!("{err}")
    };
    let state = journal.load(operation).await.unwrap().unwrap();
    assert_eq!(state.done.len(), 4, "the 5th write is not recorded");
    assert!(!state.finished);
    // Meanwhile someone reopens the entry the crash left unrecorded, and creates a new
    // entry the filter would select now.
    let fifth = &state.operation.selected[4];
    app.transition(fifth.id, Transition::Reopen, None, &meta())
        .await
        .unwrap();
    let late = app
        .create(
            new_entry("Created after the selection", EntryType::Task),
            &meta(),
        )
        .await
        .unwrap()
        .into_entry();

    // The same command again continues the operation (the selection stays frozen).
    let s = bulk.run(req.clone(), &meta(), &mut Quiet).await.unwrap();
    assert!(s.resumed);
    assert_eq!(s.operation, Some(operation));
    assert_eq!((s.selected, s.changed), (12, 12), "{s:?}");
    let fifth_outcome = s.entries.iter().find(|o| o.id == fifth.id).unwrap();
    assert_eq!(fifth_outcome.outcome, Outcome::AlreadyApplied);
    let handles: Vec<u64> = s.entries.iter().map(|o| o.handle).collect();
    let mut sorted = handles.clone();
    sorted.sort_unstable();
    assert_eq!(handles, sorted, "outcomes in selection order");

    for e in &entries {
        let now = store.get(e.id).await.unwrap();
        let change = operation.change_for(e.id);
        let by_op: Vec<_> = store
            .entry_events(e.id, 0, None, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|ev| ev.change.as_deref() == Some(change.as_str()))
            .collect();
        assert!(!by_op.is_empty(), "#{} was not changed", e.handle);
        let reasons = now
            .notes
            .iter()
            .filter(|n| n.content == "Cleared in the bulk test")
            .count();
        assert_eq!(reasons, 1, "#{} got the note {reasons} times", e.handle);
        // One write by the operation: its events share one change id, and the entry has no
        // other change after it but the reopen.
        let ids = changes_of(&*store, e).await;
        let expected = if e.id == fifth.id { 3 } else { 2 };
        assert_eq!(ids.len(), expected, "#{}: {ids:?}", e.handle);
        if e.id == fifth.id {
            assert_eq!(now.status, Status::New, "the reopen is not undone");
        } else {
            assert_eq!(now.status, Status::Closed);
        }
    }
    assert_eq!(store.get(late.id).await.unwrap().status, Status::New);
    // Finished: resume says so.
    let err = bulk
        .resume(operation, &meta(), &mut Quiet)
        .await
        .unwrap_err();
    assert!(matches!(err, BulkError::Finished { .. }), "{err}");
    // An edit between runs of an unrelated field is kept.
    let e0 = entries[0].id;
    app.edit(
        e0,
        Edit {
            title: Some("Renamed".into()),
            ..Edit::default()
        },
        &meta(),
    )
    .await
    .unwrap();
    assert_eq!(store.get(e0).await.unwrap().title, "Renamed");
}
