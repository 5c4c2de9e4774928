//! Conformance cases of an entry's history, undo and note edits (issue 16): every backend
//! reads one entry's events by its index and tells the same story.

use std::path::Path;

use devlog_core::entry::{EntryType, NoteCategory, Priority, Status};
use devlog_core::error::ErrorKind;
use devlog_core::event::{EventKind, Origin, WriteMeta};
use devlog_core::history::UndoRequest;
use devlog_core::ops::{Devlog, Edit, NewDecision, NewNote};

use super::{Opener, cli, new_entry};

fn mcp(actor: &str) -> WriteMeta {
    WriteMeta::new(Origin::Mcp).with_actor(Some(actor.into()))
}

fn note(text: &str) -> NewNote {
    NewNote {
        content: text.into(),
        category: NoteCategory::Progress,
        files: Vec::new(),
        code_changes: None,
    }
}

fn title(t: &str) -> Edit {
    Edit {
        title: Some(t.into()),
        ..Edit::default()
    }
}

pub async fn history_lists_an_entrys_changes_newest_first(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = app
        .create(new_entry("Tracked", EntryType::Feature), &cli())
        .await
        .unwrap()
        .into_entry();
    let other = app
        .create(new_entry("Bystander", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    app.edit(
        e.id,
        Edit {
            title: Some("Tracked work".into()),
            priority: Some(Priority::High),
            ..Edit::default()
        },
        &mcp("agent"),
    )
    .await
    .unwrap();
    // Another entry's changes in between are not this entry's history.
    app.edit(other.id, title("Bystander 2"), &cli())
        .await
        .unwrap();
    let (_, n) = app.add_note(e.id, note("half way"), &cli()).await.unwrap();
    app.complete(e.id, None, &cli()).await.unwrap();

    let h = app.history(e.id, 10).await.unwrap();
    assert_eq!((h.id, h.title.as_str()), (e.id, "Tracked work"));
    assert!(!h.more);
    let kinds: Vec<Vec<&str>> = h
        .changes
        .iter()
        .map(|c| c.events.iter().map(EventKind::name).collect())
        .collect();
    assert_eq!(
        kinds,
        vec![
            vec!["status-changed", "completed"],
            vec!["note-added"],
            vec!["field-changed", "field-changed"],
            vec!["created"],
        ],
        "one change per write, newest first"
    );
    assert!(h.changes.windows(2).all(|w| w[0].seq > w[1].last_seq));
    let edit = &h.changes[2];
    assert_eq!(
        (edit.origin, edit.actor.as_deref()),
        (Origin::Mcp, Some("agent"))
    );
    assert!(edit.events.iter().any(|k| matches!(k,
        EventKind::FieldChanged { field, old, new }
            if field == "title" && old == "Tracked" && new == "Tracked work")));
    assert!(h.changes[1].events.contains(&EventKind::NoteAdded {
        note_id: n.id.clone(),
        category: NoteCategory::Progress
    }));

    // A limit keeps the newest changes and says more exist.
    let two = app.history(e.id, 2).await.unwrap();
    assert!(two.more);
    assert_eq!(two.changes, h.changes[..2].to_vec());
    // The store reads one entry's events in a seq range, oldest first.
    let evs = app
        .store()
        .entry_events(e.id, h.changes[3].seq, Some(h.changes[0].seq), 100)
        .await
        .unwrap();
    assert!(evs.iter().all(|ev| ev.entry_id == e.id));
    assert_eq!(
        evs.iter().map(|ev| ev.seq).collect::<Vec<_>>(),
        vec![h.changes[2].seq, h.changes[2].last_seq, h.changes[1].seq]
    );
    let newest = app.store().entry_events(e.id, 0, None, 1).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].seq, h.changes[0].last_seq);
    assert_eq!(
        app.history(e.id, 0).await.unwrap_err().kind(),
        ErrorKind::Invalid
    );
}

pub async fn undo_reverts_each_kind_of_change_as_a_new_change(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = app
        .create(new_entry("Undoable", EntryType::Bugfix), &cli())
        .await
        .unwrap()
        .into_entry();
    let undo = |app: &Devlog| {
        let app = app.clone();
        async move {
            app.undo(e.id, UndoRequest::default(), &cli())
                .await
                .unwrap()
        }
    };
    // The creation cannot be undone.
    let err = app
        .undo(e.id, UndoRequest::default(), &cli())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("created the entry"), "{err}");

    // Fields (top-level, nested, one that was absent).
    let before = app.store().get(e.id).await.unwrap();
    app.edit(
        e.id,
        Edit {
            title: Some("Renamed".into()),
            business_context: Some("why".into()),
            assignee: Some("ana".into()),
            ..Edit::default()
        },
        &cli(),
    )
    .await
    .unwrap();
    let feed = app.store().count_events(0, None).await.unwrap();
    let u = undo(&app).await;
    assert_eq!(u.reverted.len(), 1);
    assert_eq!(u.entry.title, before.title);
    assert_eq!(u.entry.context.business_context, "");
    assert_eq!(u.entry.assignee, None);
    // Never rewritten: the undo is new events.
    assert_eq!(app.store().count_events(0, None).await.unwrap(), feed + 3);
    // Undoing the undo redoes it.
    let redo = undo(&app).await;
    assert_eq!(redo.entry.title, "Renamed");
    assert_eq!(redo.entry.assignee.as_deref(), Some("ana"));

    // A status change, with closedAt restored exactly.
    let done = app.complete(e.id, None, &cli()).await.unwrap();
    let closed_at = done.closed_at.expect("closed");
    app.transition(e.id, devlog_core::entry::Transition::Reopen, None, &cli())
        .await
        .unwrap();
    let reopened_undone = undo(&app).await.entry;
    assert_eq!(reopened_undone.status, done.status);
    assert_eq!(reopened_undone.closed_at, Some(closed_at));
    let undone = undo(&app).await.entry;
    assert_eq!(undone.status, Status::New);
    assert_eq!(undone.closed_at, None);

    // An added note and an added decision are removed.
    app.add_note(e.id, note("oops"), &cli()).await.unwrap();
    assert!(undo(&app).await.entry.notes.is_empty());
    app.decide(
        e.id,
        NewDecision {
            decision: "use a queue".into(),
            rationale: "retries".into(),
            alternatives: Vec::new(),
            decision_maker: String::new(),
            shared: false,
        },
        &cli(),
    )
    .await
    .unwrap();
    assert!(undo(&app).await.entry.context.decisions.is_empty());

    // An edited note gets its text back; a deleted one comes back where it was.
    let (_, first) = app.add_note(e.id, note("first"), &cli()).await.unwrap();
    let (_, second) = app.add_note(e.id, note("second"), &cli()).await.unwrap();
    app.edit_note(e.id, &first.id, "first, edited".into(), &cli())
        .await
        .unwrap();
    let back = undo(&app).await.entry;
    assert_eq!(back.notes[0].content, "first");
    app.delete_note(e.id, &first.id, &cli()).await.unwrap();
    let back = undo(&app).await.entry;
    assert_eq!(back.notes.len(), 2);
    assert_eq!(back.notes[0], first);
    assert_eq!(back.notes[1], second);
}

pub async fn undo_to_an_event_refuses_to_discard_someone_elses_change(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = app
        .create(new_entry("Shared", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    let created = app.history(e.id, 1).await.unwrap().changes[0].seq;
    app.edit(e.id, title("Mine"), &cli()).await.unwrap();
    app.edit(
        e.id,
        Edit {
            priority: Some(Priority::Critical),
            ..Edit::default()
        },
        &mcp("agent"),
    )
    .await
    .unwrap();
    app.edit(e.id, title("Theirs"), &mcp("agent"))
        .await
        .unwrap();

    // Undoing back to the creation would discard the agent's later title.
    let err = app
        .undo(
            e.id,
            UndoRequest {
                to: Some(created),
                force: false,
            },
            &cli(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let msg = err.to_string();
    assert!(
        msg.contains("`title`") && msg.contains("mcp (agent)"),
        "{msg}"
    );
    assert_eq!(app.store().get(e.id).await.unwrap().title, "Theirs");

    // An event that is not this entry's is refused.
    let other = app
        .create(new_entry("Elsewhere", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    let foreign = app.history(other.id, 1).await.unwrap().changes[0].seq;
    let err = app
        .undo(
            e.id,
            UndoRequest {
                to: Some(foreign),
                force: false,
            },
            &cli(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);

    // With force, everything after the creation is reverted in one new change.
    let u = app
        .undo(
            e.id,
            UndoRequest {
                to: Some(created),
                force: true,
            },
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(u.reverted.len(), 3);
    assert_eq!(u.entry.title, "Shared");
    assert_eq!(u.entry.priority, e.priority);
    let h = app.history(e.id, 10).await.unwrap();
    assert_eq!(h.changes.len(), 5, "created, 3 edits, the undo");
    // Nothing after the newest event: nothing to undo.
    let err = app
        .undo(
            e.id,
            UndoRequest {
                to: Some(h.changes[0].last_seq),
                force: false,
            },
            &cli(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

pub async fn notes_are_edited_and_deleted_in_history(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = app
        .create(new_entry("Noted", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    let (_, n) = app.add_note(e.id, note("draft"), &cli()).await.unwrap();
    // By a unique prefix of the id.
    let (entry, edited) = app
        .edit_note(e.id, &n.id[..8], "final".into(), &mcp("agent"))
        .await
        .unwrap();
    assert_eq!(edited.content, "final");
    assert_eq!(
        (edited.id.as_str(), edited.timestamp),
        (n.id.as_str(), n.timestamp)
    );
    assert_eq!(entry.notes.len(), 1);
    let h = app.history(e.id, 1).await.unwrap();
    assert_eq!(
        h.changes[0].events,
        vec![EventKind::NoteEdited {
            note_id: n.id.clone(),
            old: "draft".into(),
            new: "final".into()
        }]
    );
    // The same text, empty text and an unknown note are refused without a write.
    let feed = app.store().count_events(0, None).await.unwrap();
    for (r, text) in [
        (n.id.as_str(), "final"),
        (n.id.as_str(), "  "),
        ("nope", "x"),
    ] {
        let err = app
            .edit_note(e.id, r, text.into(), &cli())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{r} {text}: {err}");
    }
    assert_eq!(app.store().count_events(0, None).await.unwrap(), feed);

    let (entry, removed) = app.delete_note(e.id, &n.id, &cli()).await.unwrap();
    assert!(entry.notes.is_empty());
    assert_eq!(removed.content, "final");
    let h = app.history(e.id, 1).await.unwrap();
    assert!(matches!(&h.changes[0].events[..],
        [EventKind::NoteDeleted { note_id, note, position: 0 }]
            if *note_id == n.id && note.content == "final"));
    let err = app.delete_note(e.id, &n.id, &cli()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}
