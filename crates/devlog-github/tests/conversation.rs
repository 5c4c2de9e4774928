//! Notes ⇄ comments, pull-request states, unlinking and board moves, end to end: the sync
//! engine against the test kit's fake GitHub (REST and GraphQL), every request checked
//! against GitHub's API descriptions when the fakes are dropped.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::entry::{Entry, NoteCategory, Status};
use devlog_core::id::EntryId;
use devlog_core::ops::{Devlog, NewEntry, NewNote};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_github::pulls::PULL_REQUEST;
use devlog_github::{GithubConfig, GithubIntegration, marker};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{SyncEngine, SyncOptions, SyncReport, SyncState};
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_github_graphql::FakeGithubGraphql;
use devlog_testkit::fake_remote::{FakeRemote, Fault};

const TOKEN: &str = "ghp_test_token_value_1234";
const PROJECT: &str = "PVT_kwDOAWcTxs4ACgDd";

struct Rig {
    remote: FakeRemote,
    github: GithubIntegration,
    gh: FakeGithub,
    board: FakeGithubGraphql,
    engine: SyncEngine,
    app: Devlog,
    _dir: tempfile::TempDir,
}

async fn rig_with(project: bool) -> Rig {
    rig_configured(project, |_| {}).await
}

async fn rig_configured(project: bool, edit: impl FnOnce(&mut GithubConfig)) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    // GitHub's clock is ours (give or take): board moves are compared with local edits.
    let st = b.state();
    if let Ok(d) = (chrono::Utc::now() - st.now()).to_std() {
        st.advance(d);
    }
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let board = FakeGithubGraphql::new(b.state(), gh.clone(), "acme/widgets", TOKEN, PROJECT);
    let remote = b.routes(gh.router().merge(board.router())).start().await;
    let mut cfg = GithubConfig::new("acme/widgets", SecretString::from(TOKEN.to_string())).unwrap();
    cfg.api_url = remote.url();
    if project {
        cfg.project_id = Some(PROJECT.into());
    }
    edit(&mut cfg);
    let github = GithubIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let opts = SyncOptions {
        base_delay_ms: 0,
        max_delay_ms: 0,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(store.clone(), state, vec![Arc::new(github.clone())], opts);
    Rig {
        remote,
        github,
        gh,
        board,
        engine,
        app: Devlog::new(store),
        _dir: dir,
    }
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

impl Rig {
    async fn sync(&self) -> SyncReport {
        let r = self.engine.sync(None, None, &quiet).await.unwrap();
        assert!(r.failed.is_empty(), "{r:?}");
        r
    }

    async fn entry(&self, title: &str) -> Entry {
        self.app
            .create(
                NewEntry {
                    title: title.into(),
                    kind: Some(devlog_core::entry::EntryType::Task),
                    ..NewEntry::default()
                },
                &cli(),
            )
            .await
            .unwrap()
            .into_entry()
    }

    async fn note(&self, id: EntryId, text: &str) -> String {
        let (_, n) = self
            .app
            .add_note(
                id,
                NewNote {
                    content: text.into(),
                    category: NoteCategory::Progress,
                    files: Vec::new(),
                    code_changes: None,
                },
                &cli(),
            )
            .await
            .unwrap();
        n.id
    }

    async fn get(&self, id: EntryId) -> Entry {
        self.app.store().get(id).await.unwrap()
    }

    async fn set_status(&self, id: EntryId, s: Status) {
        self.app
            .store()
            .update(id, &cli(), &mut |e: &mut Entry| {
                e.status = s;
                e.updated_at = devlog_core::time::Clock::now(&devlog_core::time::SystemClock);
                Ok(())
            })
            .await
            .unwrap();
    }

    async fn issue_of(&self, id: EntryId) -> u64 {
        let l = self
            .engine
            .state()
            .link("github", id)
            .await
            .unwrap()
            .unwrap();
        l.remote_id.unwrap().parse().unwrap()
    }
}

#[tokio::test]
async fn notes_become_comments_once_and_edits_follow() {
    let r = rig_with(false).await;
    let e = r.entry("Parser crash").await;
    let note = r.note(e.id, "Reproduced with an empty file").await;
    let report = r.sync().await;
    assert_eq!((report.created, report.notes_pushed), (1, 1), "{report:?}");
    let n = r.issue_of(e.id).await;
    let comments = r.gh.comments(n);
    assert_eq!(comments.len(), 1);
    assert_eq!(
        comments[0].body,
        format!("Reproduced with an empty file\n\n<!-- devlog:note={note} -->")
    );
    // Re-syncs (the comment also comes back through the pull) add nothing, locally or remotely.
    for _ in 0..2 {
        let report = r.sync().await;
        assert_eq!(report.notes_pushed, 0, "{report:?}");
    }
    assert_eq!(r.gh.comments(n).len(), 1);
    assert_eq!(r.get(e.id).await.notes.len(), 1);
    // A note edited locally updates its comment in place.
    r.app
        .store()
        .update(e.id, &cli(), &mut |x: &mut Entry| {
            x.notes[0].content = "Reproduced with an empty or binary file".into();
            Ok(())
        })
        .await
        .unwrap();
    let report = r.sync().await;
    assert_eq!(report.notes_pushed, 1, "{report:?}");
    let comments = r.gh.comments(n);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .body
            .starts_with("Reproduced with an empty or binary file\n\n")
    );
    assert_eq!(r.get(e.id).await.notes.len(), 1);
}

#[tokio::test]
async fn comments_written_on_github_become_notes_and_follow_edits() {
    let r = rig_with(false).await;
    let e = r.entry("Slow search").await;
    r.sync().await;
    let n = r.issue_of(e.id).await;
    let c =
        r.gh.add_comment(n, "hubot", "Seen on the 10k repo too")
            .unwrap();
    let report = r.sync().await;
    assert_eq!(report.actions_applied, 1, "{report:?}");
    let notes = r.get(e.id).await.notes;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].content, "Seen on the 10k repo too");
    assert_eq!(notes[0].category, NoteCategory::Feedback);
    assert_eq!(notes[0].extra["source"]["author"], "hubot");
    // Not echoed back as a second comment, not duplicated by later syncs.
    r.sync().await;
    r.sync().await;
    assert_eq!(r.gh.comments(n).len(), 1);
    assert_eq!(r.get(e.id).await.notes.len(), 1);
    // An edit on GitHub is followed.
    r.gh.edit_comment(c.id, "Seen on the 10k repo too (5 s)");
    r.sync().await;
    let notes = r.get(e.id).await.notes;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].content, "Seen on the 10k repo too (5 s)");
    assert_eq!(r.gh.comments(n).len(), 1);
}

#[tokio::test]
async fn a_comment_whose_response_was_lost_is_found_not_posted_twice() {
    let r = rig_with(false).await;
    let e = r.entry("Flaky test").await;
    r.sync().await;
    let n = r.issue_of(e.id).await;
    r.note(e.id, "Fails one run in fifty").await;
    r.remote
        .inject(Fault::on("POST /repos/acme/widgets/issues/*/comments").apply_then_drop());
    let first = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(first.failed.len(), 1, "{first:?}");
    assert_eq!(r.gh.comments(n).len(), 1, "the comment reached GitHub");
    let second = r.sync().await;
    assert_eq!(second.notes_pushed, 0, "{second:?}");
    assert_eq!(r.gh.comments(n).len(), 1, "no second comment");
    assert_eq!(
        r.get(e.id).await.notes.len(),
        1,
        "no note from our own comment"
    );
}

#[tokio::test]
async fn a_merged_pull_request_completes_its_entry_and_closes_the_issue() {
    let r = rig_with(false).await;
    let e = r.entry("Add CSV export").await;
    r.sync().await;
    let issue = r.issue_of(e.id).await;
    let pr = r.gh.insert_pull("CSV export", "feature/csv", "main");
    r.engine
        .state()
        .attach(
            "github",
            PULL_REQUEST,
            &pr.number.to_string(),
            e.id,
            None,
            0,
        )
        .await
        .unwrap();
    // Open: the entry moves to in-review (pullRequestMapping.open).
    r.sync().await;
    assert_eq!(r.get(e.id).await.status, Status::InReview);
    r.gh.merge_pull(pr.number);
    let report = r.sync().await;
    assert_eq!(report.actions_applied, 1, "{report:?}");
    let got = r.get(e.id).await;
    assert_eq!(got.status, Status::Done);
    assert!(got.notes.iter().any(|n| {
        n.content
            .starts_with(&format!("Pull request #{} merged", pr.number))
    }));
    // The status change was pushed: the issue is closed as completed.
    let i = r.gh.issue(issue).unwrap();
    assert_eq!(
        (i.state.as_str(), i.state_reason.as_deref()),
        ("closed", Some("completed"))
    );
    // Applied once: reopening the entry is not undone by later pulls of the same PR.
    r.set_status(e.id, Status::InProgress).await;
    r.sync().await;
    assert_eq!(r.get(e.id).await.status, Status::InProgress);
}

#[tokio::test]
async fn an_unlinked_entry_gets_no_new_issue_and_ignores_the_old_one() {
    let r = rig_with(false).await;
    let e = r.entry("Old idea").await;
    r.sync().await;
    let n = r.issue_of(e.id).await;
    assert_eq!(
        r.engine.unlink("github", e.id).await.unwrap(),
        Some(n.to_string())
    );
    assert!(
        r.get(e.id)
            .await
            .external_references
            .iter()
            .all(|x| x.system != "github")
    );
    r.app
        .store()
        .update(e.id, &cli(), &mut |x: &mut Entry| {
            x.title = "Old idea, reworded".into();
            Ok(())
        })
        .await
        .unwrap();
    r.gh.edit_issue(n, |i| i.title = "Changed on GitHub".into());
    r.sync().await;
    assert_eq!(r.gh.issues().len(), 1, "no new issue");
    assert_eq!(r.gh.issue(n).unwrap().title, "Changed on GitHub");
    assert_eq!(r.get(e.id).await.title, "Old idea, reworded");
}

#[tokio::test]
async fn linking_an_existing_issue_adopts_it_with_its_marker() {
    let r = rig_with(false).await;
    let existing =
        r.gh.insert_issue("Crash on save", "Stack trace attached.", false);
    let e = r.entry("Crash on save").await;
    let item = r
        .github
        .adopt_issue(&existing.number.to_string(), e.id)
        .await
        .unwrap();
    let got = r.engine.link("github", e.id, &item).await.unwrap();
    assert_eq!(got.description, "Stack trace attached.");
    let body = r.gh.issue(existing.number).unwrap().body.unwrap();
    assert!(body.starts_with("Stack trace attached.\n\n"), "{body}");
    assert!(body.ends_with(&marker(e.id)), "{body}");
    let report = r.sync().await;
    assert_eq!(report.created, 0, "{report:?}");
    assert_eq!(r.gh.issues().len(), 1);
    // Linking the same issue to another entry is refused.
    let other = r.entry("Another").await;
    let err = r.engine.link("github", other.id, &item).await.unwrap_err();
    assert!(err.to_string().contains("already linked"), "{err}");
}

#[tokio::test]
async fn board_moves_come_back_as_status_changes_and_local_moves_go_to_the_board() {
    let r = rig_with(true).await;
    let e = r.entry("Dark mode").await;
    r.sync().await;
    let n = r.issue_of(e.id).await;
    assert_eq!(r.board.field_value(n, "Status").as_deref(), Some("Todo"));
    // A card dragged on GitHub: the issue's updated_at does not move, the item's does.
    r.board.move_item(n, "In Progress").unwrap();
    let report = r.sync().await;
    assert_eq!(report.actions_applied, 1, "{report:?}");
    assert_eq!(r.get(e.id).await.status, Status::InProgress);
    // The status is pushed to the issue's label; the board already agrees.
    let labels = r.gh.issue(n).unwrap().labels;
    assert!(
        labels.contains(&"status:in-progress".to_string()),
        "{labels:?}"
    );
    // A local move goes to the board, and its echo does not move the entry back.
    r.set_status(e.id, Status::Blocked).await;
    r.sync().await;
    r.sync().await;
    assert_eq!(r.get(e.id).await.status, Status::Blocked);
    // blocked shares the "In Progress" column by default; done moves the card.
    r.set_status(e.id, Status::Done).await;
    r.sync().await;
    assert_eq!(r.board.field_value(n, "Status").as_deref(), Some("Done"));
    r.sync().await;
    assert_eq!(r.get(e.id).await.status, Status::Done);
}

mod webhooks {
    //! Webhook deliveries applied by the engine: the signature is checked, the event mapped,
    //! and its actions applied once.

    use devlog_core::integration::Webhook;
    use devlog_github::webhook::signature;
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "webhook-secret";

    async fn rig() -> Rig {
        rig_configured(true, |c| {
            c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
        })
        .await
    }

    fn example(event: &str, file: &str) -> Value {
        let p = format!(
            "{}/../../../shared/apispecs/github/webhooks/examples/{event}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    fn hook(event: &str, delivery: &str, mut payload: Value) -> Webhook {
        payload["repository"]["full_name"] = json!("acme/widgets");
        let body = serde_json::to_vec(&payload).unwrap();
        Webhook {
            headers: vec![
                ("x-github-event".into(), event.into()),
                ("x-github-delivery".into(), delivery.into()),
                (
                    "x-hub-signature-256".into(),
                    signature(SECRET.as_bytes(), &body),
                ),
            ],
            body,
            query: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_board_move_delivered_by_webhook_moves_the_entry_once() {
        let r = rig().await;
        let e = r.entry("Keyboard shortcuts").await;
        r.sync().await;
        let n = r.issue_of(e.id).await;
        let item = r.board.move_item(n, "Done").unwrap();
        let mut p = example("projects_v2_item", "edited.1.json");
        p["projects_v2_item"]["node_id"] = json!(item.id);
        p["projects_v2_item"]["project_node_id"] = json!(PROJECT);
        p["projects_v2_item"]["content_node_id"] = json!(format!("I_{n}"));
        p["projects_v2_item"]["content_type"] = json!("Issue");
        let report = r
            .engine
            .webhook("github", &hook("projects_v2_item", "d-1", p.clone()))
            .await
            .unwrap();
        assert_eq!(report.actions_applied, 1, "{report:?}");
        assert_eq!(r.get(e.id).await.status, Status::Done);
        // Redelivered: nothing happens again (the entry was reopened in between).
        r.set_status(e.id, Status::InProgress).await;
        r.engine
            .webhook("github", &hook("projects_v2_item", "d-1", p))
            .await
            .unwrap();
        assert_eq!(r.get(e.id).await.status, Status::InProgress);
    }

    #[tokio::test]
    async fn comments_and_commit_mentions_delivered_by_webhook_become_notes() {
        let r = rig().await;
        let e = r.entry("Export to CSV").await;
        r.sync().await;
        let n = r.issue_of(e.id).await;
        let mut p = example("issue_comment", "created.1.json");
        p["issue"]["number"] = json!(n);
        p["comment"]["body"] = json!("Can we also do TSV?");
        // The comment exists on GitHub as the delivery says (a pull checks for deleted ones).
        let c = r.gh.add_comment(n, "mona", "Can we also do TSV?").unwrap();
        p["comment"]["id"] = json!(c.id);
        let report = r
            .engine
            .webhook("github", &hook("issue_comment", "d-2", p.clone()))
            .await
            .unwrap();
        assert_eq!(report.actions_applied, 1, "{report:?}");
        // The same comment pulled later is the same note.
        r.engine
            .webhook("github", &hook("issue_comment", "d-3", p))
            .await
            .unwrap();
        let mut p = example("push", "event.1.json");
        p["ref"] = json!("refs/heads/main");
        p["commits"] = json!([
            {"id": "0123456789abcdef0123456789abcdef01234567",
             "message": format!("Add CSV writer (devlog-{})", e.handle),
             "timestamp": "2026-11-26T10:00:00Z", "url": "https://github.com/acme/widgets/commit/0123456",
             "author": {"name": "Mona", "username": "mona"}},
            {"id": "89abcdef0123456789abcdef0123456789abcdef",
             "message": format!("Escape quotes, fixes #{n}"),
             "timestamp": "2026-11-26T10:05:00Z", "url": null,
             "author": {"name": "Mona"}}
        ]);
        let report = r
            .engine
            .webhook("github", &hook("push", "d-4", p))
            .await
            .unwrap();
        assert_eq!(report.actions_applied, 2, "{report:?}");
        let notes: Vec<String> = r
            .get(e.id)
            .await
            .notes
            .into_iter()
            .map(|n| n.content)
            .collect();
        assert_eq!(
            notes,
            [
                "Can we also do TSV?".to_string(),
                format!(
                    "Commit 01234567 pushed to main: Add CSV writer (devlog-{})",
                    e.handle
                ),
                format!("Commit 89abcdef pushed to main: Escape quotes, fixes #{n}"),
            ]
        );
        // Nothing is posted back: the comment came from GitHub, and GitHub already shows the
        // commits that reference the issue on its timeline.
        r.sync().await;
        assert_eq!(r.gh.comments(n).len(), 1, "only the one written on GitHub");
        assert_eq!(r.get(e.id).await.notes.len(), 3);
    }
}

#[tokio::test]
async fn the_health_check_verifies_the_board_and_its_options() {
    use devlog_core::integration::Integration;
    let r = rig_with(true).await;
    let h = r.github.health().await.unwrap();
    assert!(
        h.message.contains(PROJECT) && h.message.contains("`Priority` field"),
        "{}",
        h.message
    );
    r.board.rename_option("Status", "Done", "Shipped");
    let err = r.github.health().await.unwrap_err();
    assert!(
        err.message
            .contains("integrations.github.projectStatusMapping.done")
            && err.message.contains("`Done`"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn comments_on_a_linked_pull_request_become_notes_of_its_entry() {
    let r = rig_with(false).await;
    let e = r.entry("Retry uploads").await;
    r.sync().await;
    let pr = r.gh.insert_pull("Retry uploads", "feature/retry", "main");
    r.engine
        .state()
        .attach(
            "github",
            PULL_REQUEST,
            &pr.number.to_string(),
            e.id,
            None,
            0,
        )
        .await
        .unwrap();
    r.gh.add_comment(pr.number, "reviewer", "Please add a backoff cap")
        .unwrap();
    r.sync().await;
    r.sync().await;
    let notes: Vec<String> = r
        .get(e.id)
        .await
        .notes
        .iter()
        .map(|n| n.content.clone())
        .collect();
    assert!(
        notes.contains(&"Please add a backoff cap".to_string()),
        "{notes:?}"
    );
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.as_str() == "Please add a backoff cap")
            .count(),
        1
    );
}

#[tokio::test]
async fn with_sync_notes_off_neither_notes_nor_comments_cross() {
    let r = rig_configured(false, |c| c.sync_notes = false).await;
    let e = r.entry("Quiet entry").await;
    r.note(e.id, "local only").await;
    r.sync().await;
    let n = r.issue_of(e.id).await;
    assert!(r.gh.comments(n).is_empty());
    r.gh.add_comment(n, "hubot", "remote only").unwrap();
    r.sync().await;
    assert_eq!(r.get(e.id).await.notes.len(), 1);
    assert!(
        r.remote
            .requests()
            .iter()
            .all(|q| !q.path.ends_with("/issues/comments"))
    );
}

#[tokio::test]
async fn a_comment_copying_a_linked_notes_marker_is_a_new_note() {
    let r = rig_with(false).await;
    let e = r.entry("Guarded note").await;
    let note = r.note(e.id, "Original text").await;
    r.sync().await;
    let n = r.issue_of(e.id).await;
    r.gh.add_comment(
        n,
        "mallory",
        &format!("Replaced!\n\n<!-- devlog:note={note} -->"),
    )
    .unwrap();
    r.sync().await;
    let notes = r.get(e.id).await.notes;
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0].content, "Original text");
    assert_eq!(notes[1].content, "Replaced!");
    // The original note still edits its own comment.
    r.app
        .store()
        .update(e.id, &cli(), &mut |x: &mut Entry| {
            x.notes[0].content = "Original text, edited".into();
            Ok(())
        })
        .await
        .unwrap();
    r.sync().await;
    let comments = r.gh.comments(n);
    assert!(comments[0].body.starts_with("Original text, edited"));
    assert!(comments[1].body.starts_with("Replaced!"));
}

#[tokio::test]
async fn an_issue_whose_create_was_lost_still_goes_on_the_board() {
    let r = rig_with(true).await;
    let e = r.entry("Lost response").await;
    r.remote
        .inject(Fault::on("POST /repos/acme/widgets/issues").apply_then_drop());
    let first = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(first.failed.len(), 1, "{first:?}");
    let n = r.gh.issues()[0].number;
    assert!(
        r.board.item_for_issue(n).is_none(),
        "the create stopped before the board"
    );
    // The next sync adopts the issue by its marker and finishes the create.
    r.sync().await;
    assert_eq!(r.issue_of(e.id).await, n);
    assert_eq!(r.board.field_value(n, "Status").as_deref(), Some("Todo"));
    assert_eq!(r.gh.issues_created(), 1);
}

mod note_edits {
    //! Note edits and deletes ⇄ comment edits and deletes, both ways, kept in history.

    use devlog_core::event::EventKind;
    use devlog_core::integration::Webhook;
    use devlog_github::webhook::signature;
    use devlog_sync::{NoteLinkState, PlannedOp};
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "webhook-secret";

    async fn rig() -> Rig {
        rig_configured(false, |c| {
            c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
        })
        .await
    }

    fn hook(delivery: &str, payload: &Value) -> Webhook {
        let body = serde_json::to_vec(payload).unwrap();
        Webhook {
            headers: vec![
                ("x-github-event".into(), "issue_comment".into()),
                ("x-github-delivery".into(), delivery.into()),
                (
                    "x-hub-signature-256".into(),
                    signature(SECRET.as_bytes(), &body),
                ),
            ],
            body,
            query: Vec::new(),
        }
    }

    /// An entry with one note, synced: its issue number, the note id and the comment id.
    async fn mirrored(r: &Rig) -> (EntryId, u64, String, u64) {
        let e = r.entry("Import CSV").await;
        let note = r.note(e.id, "Parser done").await;
        r.sync().await;
        let n = r.issue_of(e.id).await;
        let comments = r.gh.comments(n);
        assert_eq!(comments.len(), 1, "{comments:?}");
        (e.id, n, note, comments[0].id)
    }

    fn deleted_events(h: &devlog_core::history::History) -> Vec<String> {
        h.changes
            .iter()
            .flat_map(|c| &c.events)
            .filter_map(|ev| match ev {
                EventKind::NoteDeleted { note, .. } => Some(note.content.clone()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_note_edited_or_deleted_here_edits_or_deletes_its_comment() {
        let r = rig().await;
        let (id, n, note, comment) = mirrored(&r).await;

        r.app
            .edit_note(id, &note, "Parser done, with quotes".into(), &cli())
            .await
            .unwrap();
        r.sync().await;
        let body = r.gh.comment(comment).unwrap().body;
        assert!(body.starts_with("Parser done, with quotes"), "{body}");

        r.app.delete_note(id, &note, &cli()).await.unwrap();
        let plan = r.engine.plan(None, None, false).await.unwrap();
        assert!(
            plan.iter()
                .any(|op| matches!(op, PlannedOp::Notes { delete: 1, .. })),
            "{plan:?}"
        );
        assert!(
            plan.iter()
                .any(|op| op.to_string().contains("delete 1 comment(s)")),
            "{plan:?}"
        );
        let report = r.sync().await;
        assert_eq!(report.notes_pushed, 1, "{report:?}");
        assert!(r.gh.comment(comment).is_none(), "the comment is deleted");
        assert_eq!(
            r.remote
                .requests_matching(&format!(
                    "DELETE /repos/acme/widgets/issues/comments/{comment}"
                ))
                .len(),
            1
        );
        let links = r.engine.state().note_links("github", id).await.unwrap();
        assert_eq!(links[0].state, NoteLinkState::Deleted);
        // In step: nothing more, and the note does not come back from the pull.
        let again = r.sync().await;
        assert_eq!(again.notes_pushed, 0, "{again:?}");
        assert!(r.get(id).await.notes.is_empty());
        assert!(r.gh.comments(n).is_empty());
        // Undone: the note is back and posted again as a new comment.
        r.app
            .undo(id, devlog_core::history::UndoRequest::default(), &cli())
            .await
            .unwrap();
        r.sync().await;
        let comments = r.gh.comments(n);
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert_ne!(comments[0].id, comment);
    }

    #[tokio::test]
    async fn a_comment_edited_or_deleted_on_github_edits_or_deletes_the_note_on_pull() {
        let r = rig().await;
        let (id, n, _, comment) = mirrored(&r).await;

        r.gh.edit_comment(comment, "Parser done (edited on GitHub)")
            .unwrap();
        r.sync().await;
        assert_eq!(
            r.get(id).await.notes[0].content,
            "Parser done (edited on GitHub)"
        );

        r.gh.delete_comment(comment).unwrap();
        // The pull reads the issue's comments when it reads the issue.
        r.gh.edit_issue(n, |i| i.updated_at = chrono::Utc::now());
        let report = r.sync().await;
        assert_eq!(report.actions_applied, 1, "{report:?}");
        assert!(r.get(id).await.notes.is_empty());
        let h = r.app.history(id, 50).await.unwrap();
        assert_eq!(deleted_events(&h), ["Parser done (edited on GitHub)"]);
        // Nothing is sent back.
        assert!(
            r.remote
                .requests_matching("DELETE /repos/acme/widgets/issues/comments/*")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_deleted_webhook_deletes_the_note_once_and_keeps_it_in_history() {
        let r = rig().await;
        let (id, n, _, comment) = mirrored(&r).await;
        r.gh.delete_comment(comment).unwrap();
        let p = format!(
            "{}/../../../shared/apispecs/github/webhooks/examples/issue_comment/deleted.1.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut p: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        p["repository"]["full_name"] = json!("acme/widgets");
        p["issue"]["number"] = json!(n);
        p["comment"]["id"] = json!(comment);
        let report = r
            .engine
            .webhook("github", &hook("d-del", &p))
            .await
            .unwrap();
        assert_eq!(report.actions_applied, 1, "{report:?}");
        assert!(r.get(id).await.notes.is_empty());
        let h = r.app.history(id, 50).await.unwrap();
        assert_eq!(deleted_events(&h), ["Parser done"]);
        // Another delivery of it, and the next sync, change nothing.
        let again = r
            .engine
            .webhook("github", &hook("d-del-2", &p))
            .await
            .unwrap();
        assert_eq!(again.actions_applied, 0, "{again:?}");
        let s = r.sync().await;
        assert_eq!((s.notes_pushed, s.actions_applied), (0, 0), "{s:?}");
        // A deleted comment devlog never mirrored changes nothing.
        p["comment"]["id"] = json!(comment + 1000);
        let other = r
            .engine
            .webhook("github", &hook("d-del-3", &p))
            .await
            .unwrap();
        assert_eq!(other.actions_applied, 0);
    }
}
