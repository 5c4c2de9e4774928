//! The contract every `Integration` must keep, told the same way for each (the store suite's
//! lesson, for the other port): `create` stores a marker that `find_by_marker` finds,
//! `update` sends only the changed fields, pull pages are idempotent, notes ⇄ comments when
//! the integration syncs notes (edits and deletes too, or a "cannot" the engine reports),
//! worklogs logged once with a marker, rewritten and deleted when it syncs worklogs (else it
//! says it does not),
//! milestones travel with their items, and failures are classified so the engine can retry
//! or dead-letter without reading messages.
//!
//! An integration's test file calls [`integration_conformance!`] with a function that starts
//! its fake remote and builds the integration against it; the fake is seen through
//! [`RemoteProbe`]. Every fake is built on the [`FakeRemote`] harness, so the request log and
//! the faults are the same for all of them. docs/sync.md ("Adding an integration") says how a
//! new integration runs the suite.

use std::collections::BTreeSet;
use std::sync::Arc;

use devlog_core::entry::{Entry, Note, NoteCategory, Priority, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{Integration, PullPage, RemoteItem, SyncErrorKind};
use devlog_core::merge::SyncedFields;
use serde_json::{Map, Value};

use crate::fake_github::{FakeGithub, GhIssue};
use crate::fake_remote::{FakeRemote, FakeState, Fault, Item};
use crate::{EntryBuilder, ts};

/// What the suite sees and does on the remote side, besides calling the integration.
pub trait RemoteProbe: Send + Sync + 'static {
    /// The harness under the fake: its request log (to count requests and read what was
    /// sent) and its faults.
    fn state(&self) -> &FakeState;

    /// The item as the remote stores it, in the remote's own field names, without what every
    /// write changes (update times, versions). `None`: no such item.
    fn raw_item(&self, remote_id: &str) -> Option<Map<String, Value>>;

    /// The remote's field names that carry a synced field (`"description"` → `["body"]` on
    /// GitHub): an update of that field may change these and nothing else.
    fn raw_fields(&self, field: &str) -> Vec<&'static str>;

    /// Changes an item's title as a person on the remote would (its update time moves).
    fn edit_title(&self, remote_id: &str, title: &str);

    /// The text of the item's comments, oldest first (for integrations that sync notes).
    fn comments(&self, remote_id: &str) -> Vec<String>;

    /// The item's worklogs as `(day, minutes, note)`, oldest first (for integrations that sync
    /// worklogs; the default: the remote has none).
    fn worklogs(&self, remote_id: &str) -> Vec<(String, u32, String)> {
        let _ = remote_id;
        Vec::new()
    }

    /// The remote field names a write request's JSON body sets: its top-level keys where the
    /// API takes fields at the top (GitHub); a probe whose API nests them (Jira's `fields`
    /// and `update`) says so, so "no write carries a title field" checks what is written.
    fn written_fields(&self, body: &Map<String, Value>) -> Vec<String> {
        body.keys().cloned().collect()
    }
}

/// The `changed` argument of `Integration::update` for these synced field names (a name that
/// is not a synced field is a bug in the calling test).
pub fn changed_fields(fields: &[&str]) -> devlog_core::merge::FieldSet {
    fields
        .iter()
        .map(|f| {
            f.parse::<devlog_core::merge::SyncedField>()
                .expect("a synced field name")
        })
        .collect()
}

/// Expands to a module `$name` with one test per contract case.
///
/// ```text
/// async fn tracker() -> (Arc<dyn Integration>, FakeRemote) { … }
/// devlog_testkit::integration_conformance!(tracker_conformance, tracker);
/// ```
///
/// `$make` is an `async fn() -> (Arc<dyn Integration>, H)` where `H: RemoteProbe` keeps the
/// fake running; it is called once per case, so every case starts from an empty remote.
#[macro_export]
macro_rules! integration_conformance {
    ($name:ident, $make:path $(,)?) => {
        $crate::integration_conformance!(@cases $name $make;
            create_stores_a_marker_that_find_by_marker_finds,
            find_by_marker_of_an_unknown_entry_is_none,
            update_sends_only_the_changed_fields,
            pull_pages_are_idempotent,
            notes_become_comments_when_the_integration_syncs_notes,
            deleted_notes_delete_their_comments_or_say_they_cannot,
            worklogs_are_logged_once_edited_and_deleted_or_not_synced,
            milestones_travel_with_the_item,
            failures_are_classified,
        );
    };
    (@cases $name:ident $make:path; $($case:ident),+ $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (integration, probe) = $make().await;
                    $crate::integration_conformance::$case(integration, &probe).await;
                }
            )+
        }
    };
}

fn entry(title: &str) -> Entry {
    EntryBuilder::new(title)
        .description("What the work is about.")
        .priority(Priority::High)
        .tag("conformance")
        .build()
}

async fn created(i: &dyn Integration, title: &str) -> (Entry, SyncedFields, RemoteItem) {
    let e = entry(title);
    let fields = SyncedFields::from_entry(&e);
    let item = i.create(&e, &fields).await.expect("create");
    (e, fields, item)
}

/// The part of a remote item a pull must answer the same way each time.
fn facts(item: &RemoteItem) -> (String, SyncedFields, String, Option<EntryId>) {
    (
        item.remote_id.clone(),
        item.fields.clone(),
        item.updated_at.to_string(),
        item.marker,
    )
}

pub async fn create_stores_a_marker_that_find_by_marker_finds(
    i: Arc<dyn Integration>,
    probe: &impl RemoteProbe,
) {
    let (e, fields, item) = created(&*i, "Marker survives").await;
    assert_eq!(item.fields.title, fields.title);
    assert_eq!(item.fields.description, fields.description);
    assert_eq!(item.fields.priority, fields.priority);
    assert!(
        probe.raw_item(&item.remote_id).is_some(),
        "create answered item {} but the remote does not hold it",
        item.remote_id
    );
    let found = i
        .find_by_marker(e.id)
        .await
        .expect("find_by_marker")
        .expect("the created item is found by its marker");
    assert_eq!(found.remote_id, item.remote_id);
    assert_eq!(found.marker, Some(e.id));
    assert_eq!(found.fields, item.fields);
    // The marker survives an update of every field the entry syncs.
    let mut changed = fields.clone();
    changed.title = "Marker survives edits".into();
    changed.description = "Rewritten description.".into();
    changed.status = Status::InProgress;
    let all = changed_fields(&["title", "description", "status", "priority", "tags"]);
    i.update(&item.remote_id, &changed, &all)
        .await
        .expect("update");
    let found = i.find_by_marker(e.id).await.expect("find_by_marker");
    assert_eq!(
        found.map(|f| (f.remote_id, f.marker)),
        Some((item.remote_id.clone(), Some(e.id)))
    );
}

pub async fn find_by_marker_of_an_unknown_entry_is_none(
    i: Arc<dyn Integration>,
    _probe: &impl RemoteProbe,
) {
    // Another entry's item exists: the search must not answer it for an unknown id.
    created(&*i, "Someone else's work").await;
    let unknown = EntryId::new_random();
    assert_eq!(
        i.find_by_marker(unknown).await.expect("find_by_marker"),
        None
    );
}

pub async fn update_sends_only_the_changed_fields(
    i: Arc<dyn Integration>,
    probe: &impl RemoteProbe,
) {
    let (_, fields, item) = created(&*i, "Original title").await;
    let id = &item.remote_id;
    // Someone renames the item on the remote meanwhile; devlog changes only the description.
    probe.edit_title(id, "Renamed on the remote");
    let before = probe.raw_item(id).expect("item");
    let sent_before = probe.state().requests().len();
    let mut local = fields.clone();
    local.description = "A better description.".into();
    let answered = i
        .update(id, &local, &changed_fields(&["description"]))
        .await
        .expect("update");
    assert_eq!(answered.fields.description, local.description);
    assert_eq!(
        answered.fields.title, "Renamed on the remote",
        "an update of the description overwrote the title changed remotely"
    );
    let after = probe.raw_item(id).expect("item");
    let allowed: BTreeSet<&str> = probe.raw_fields("description").into_iter().collect();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for k in keys {
        if !allowed.contains(k.as_str()) {
            assert_eq!(
                before.get(k),
                after.get(k),
                "updating the description changed `{k}` on the remote"
            );
        }
    }
    assert_ne!(before, after, "the description did not reach the remote");
    // What was sent: no write carries a title field.
    let title_keys = probe.raw_fields("title");
    for r in &probe.state().requests()[sent_before..] {
        if r.method == "GET" {
            continue;
        }
        let written = match r.body_json() {
            Some(Value::Object(body)) => probe.written_fields(&body),
            // A JSON Patch document (Azure DevOps): the paths its operations write.
            Some(Value::Array(ops)) => patch_fields(&ops),
            _ => continue,
        };
        for k in &title_keys {
            assert!(
                !written.iter().any(|w| w == k),
                "{} sent `{k}` although only the description changed",
                r.line()
            );
        }
    }
    // And the other way round: a title change leaves the description alone.
    let before = probe.raw_item(id).expect("item");
    local.title = "Local title".into();
    let answered = i
        .update(id, &local, &changed_fields(&["title"]))
        .await
        .expect("update");
    assert_eq!(answered.fields.title, "Local title");
    let after = probe.raw_item(id).expect("item");
    for k in probe.raw_fields("description") {
        assert_eq!(before.get(k), after.get(k), "a title update changed `{k}`");
    }
}

/// The fields a JSON Patch document (RFC 6902) writes: its operations' paths other than
/// `test`s, `/fields/` left out (`/fields/System.Title` → `System.Title`).
pub fn patch_fields(ops: &[Value]) -> Vec<String> {
    ops.iter()
        .filter(|o| o.get("op").and_then(Value::as_str) != Some("test"))
        .filter_map(|o| o.get("path").and_then(Value::as_str))
        .map(|p| {
            p.strip_prefix("/fields/")
                .unwrap_or(p.trim_start_matches('/'))
                .to_string()
        })
        .collect()
}

/// Every page of a pull from `cursor` until the integration says there is no more.
async fn pull_all(
    i: &dyn Integration,
    mut cursor: Option<String>,
) -> (Vec<PullPage>, Option<String>) {
    let mut pages = Vec::new();
    loop {
        let page = i.pull(cursor.as_deref()).await.expect("pull");
        let more = page.more;
        if page.next_cursor.is_some() {
            cursor = page.next_cursor.clone();
        }
        pages.push(page);
        assert!(pages.len() <= 100, "pull never stops saying there is more");
        if !more {
            return (pages, cursor);
        }
    }
}

pub async fn pull_pages_are_idempotent(i: Arc<dyn Integration>, probe: &impl RemoteProbe) {
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(created(&*i, &format!("Pulled {n}")).await.2.remote_id);
    }
    let (pages, last) = pull_all(&*i, None).await;
    let seen: Vec<_> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(facts))
        .collect();
    for id in &ids {
        assert!(
            seen.iter().any(|f| &f.0 == id),
            "a pull from the start did not bring item {id}"
        );
    }
    // Re-reading the same cursor gives the same page.
    let mut cursor: Option<String> = None;
    for page in &pages {
        let again = i.pull(cursor.as_deref()).await.expect("pull");
        let facts_of = |p: &PullPage| p.items.iter().map(facts).collect::<Vec<_>>();
        assert_eq!(
            facts_of(&again),
            facts_of(page),
            "cursor {cursor:?} read twice"
        );
        assert_eq!(again.actions, page.actions, "cursor {cursor:?} read twice");
        assert_eq!(
            again.next_cursor, page.next_cursor,
            "cursor {cursor:?} read twice"
        );
        cursor = page.next_cursor.clone();
    }
    // The final cursor brings nothing new (an item read again must be unchanged).
    let (tail, after) = pull_all(&*i, last.clone()).await;
    for item in tail.iter().flat_map(|p| &p.items) {
        assert!(
            seen.contains(&facts(item)),
            "the final cursor brought {item:?}, which nothing changed"
        );
    }
    let keys: BTreeSet<&str> = pages
        .iter()
        .flat_map(|p| p.actions.iter().map(|a| a.key.as_str()))
        .collect();
    for a in tail.iter().flat_map(|p| &p.actions) {
        assert!(
            keys.contains(a.key.as_str()),
            "the final cursor brought {a:?} again"
        );
    }
    // A change made after it is brought (so the checks above cannot pass by answering nothing).
    probe.edit_title(&ids[1], "Changed after the last pull");
    let (changed, _) = pull_all(&*i, after.or(last)).await;
    let item = changed
        .iter()
        .flat_map(|p| &p.items)
        .find(|it| it.remote_id == ids[1])
        .expect("a pull from the final cursor brings the item changed since");
    assert_eq!(item.fields.title, "Changed after the last pull");
}

fn note(id: &str, content: &str) -> Note {
    Note {
        id: id.to_string(),
        timestamp: ts(5),
        category: NoteCategory::Progress,
        content: content.to_string(),
        files: Vec::new(),
        code_changes: None,
        extra: Default::default(),
    }
}

pub async fn notes_become_comments_when_the_integration_syncs_notes(
    i: Arc<dyn Integration>,
    probe: &impl RemoteProbe,
) {
    let (e, _, item) = created(&*i, "Commented").await;
    let id = &item.remote_id;
    let first = note("note-conformance-1", "Reproduced the timeout.");
    if !i.syncs_notes() {
        // The default: asking for notes is a permanent error, never a silent no-op.
        let err = i.create_note(id, e.id, &first).await.unwrap_err();
        assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
        assert!(probe.comments(id).is_empty());
        return;
    }
    assert_eq!(i.find_note(id, &first.id).await.expect("find_note"), None);
    let comment = i.create_note(id, e.id, &first).await.expect("create_note");
    assert_eq!(
        i.find_note(id, &first.id).await.expect("find_note"),
        Some(comment.clone()),
        "the comment's note marker is found"
    );
    assert_eq!(
        i.find_note(id, "note-never-posted")
            .await
            .expect("find_note"),
        None
    );
    let texts = probe.comments(id);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Reproduced the timeout."), "{texts:?}");
    let mut edited = first.clone();
    edited.content = "Reproduced the timeout on slow networks only.".into();
    i.update_note(id, &comment, &edited)
        .await
        .expect("update_note");
    let texts = probe.comments(id);
    assert_eq!(texts.len(), 1, "an edit added a comment: {texts:?}");
    assert!(texts[0].contains("slow networks only"), "{texts:?}");
    // The edited comment still carries its marker.
    assert_eq!(
        i.find_note(id, &first.id).await.expect("find_note"),
        Some(comment)
    );
}

pub async fn deleted_notes_delete_their_comments_or_say_they_cannot(
    i: Arc<dyn Integration>,
    probe: &impl RemoteProbe,
) {
    let (e, _, item) = created(&*i, "Comment deleted").await;
    let id = &item.remote_id;
    if !i.syncs_notes() {
        let err = i.delete_note(id, "comment-1").await.unwrap_err();
        assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
        return;
    }
    let kept = i
        .create_note(id, e.id, &note("note-kept", "Stays."))
        .await
        .expect("create_note");
    let gone = i
        .create_note(id, e.id, &note("note-gone", "Goes."))
        .await
        .expect("create_note");
    match i.delete_note(id, &gone).await {
        Ok(()) => {
            let texts = probe.comments(id);
            assert_eq!(texts.len(), 1, "{texts:?}");
            assert!(texts[0].contains("Stays."), "{texts:?}");
            // Deleting what is gone already is no error (a retried delete).
            i.delete_note(id, &gone)
                .await
                .expect("a second delete_note");
            assert_eq!(i.find_note(id, "note-gone").await.expect("find_note"), None);
        }
        Err(err) => {
            // Cannot delete: a permanent error the engine reports, and nothing is deleted.
            assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
            assert_eq!(probe.comments(id).len(), 2);
        }
    }
    // A pull can tell which mirrored comments are gone, or says it cannot (`None`).
    let asked = [kept.clone(), gone.clone()];
    if let Some(deleted) = i.deleted_notes(id, &asked).await.expect("deleted_notes") {
        let expected: Vec<String> = if probe.comments(id).len() == 1 {
            vec![gone]
        } else {
            Vec::new()
        };
        assert_eq!(deleted, expected, "asked about {asked:?}");
    }
}

fn worklog(id: &str, date: &str, minutes: u32, note: &str) -> devlog_core::planning::Worklog {
    devlog_core::planning::Worklog {
        id: id.into(),
        author: "dev".into(),
        date: date.parse().expect("a date"),
        minutes,
        note: note.into(),
        logged_at: ts(0),
        extra: Default::default(),
    }
}

pub async fn worklogs_are_logged_once_edited_and_deleted_or_not_synced(
    i: Arc<dyn Integration>,
    probe: &impl RemoteProbe,
) {
    let (e, _, item) = created(&*i, "Time logged").await;
    let id = &item.remote_id;
    let w = worklog("wl-1", "2026-12-01", 90, "Pairing on the parser.");
    if !i.syncs_worklogs() {
        // Says so, for every operation; nothing breaks and nothing is sent.
        let err = i.create_worklog(id, e.id, &w).await.unwrap_err();
        assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
        assert!(err.message.contains("worklog"), "{err}");
        let err = i.delete_worklog(id, "w-1").await.unwrap_err();
        assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
        assert_eq!(
            i.deleted_worklogs(id, &["w-1".into()]).await.ok(),
            Some(None)
        );
        assert!(probe.worklogs(id).is_empty());
        return;
    }
    let rid = i
        .create_worklog(id, e.id, &w)
        .await
        .expect("create_worklog");
    assert_eq!(
        probe.worklogs(id),
        [(
            "2026-12-01".to_string(),
            90,
            "Pairing on the parser.".to_string()
        )]
    );
    // The marker: a create whose answer was lost is found, an unknown worklog is not.
    assert_eq!(
        i.find_worklog(id, "wl-1").await.expect("find_worklog"),
        Some(rid.clone())
    );
    assert_eq!(
        i.find_worklog(id, "wl-9").await.expect("find_worklog"),
        None
    );
    // Edited here: day, minutes and note follow; cleared note clears the remote one.
    let edited = worklog("wl-1", "2026-12-02", 120, "");
    i.update_worklog(id, &rid, &edited)
        .await
        .expect("update_worklog");
    assert_eq!(
        probe.worklogs(id),
        [("2026-12-02".to_string(), 120, String::new())]
    );
    assert_eq!(
        i.find_worklog(id, "wl-1").await.expect("find_worklog"),
        Some(rid.clone()),
        "the marker survives an update"
    );
    // A pull can tell a deleted worklog; deleting twice is no error.
    let kept = i
        .create_worklog(id, e.id, &worklog("wl-2", "2026-12-03", 15, "Review."))
        .await
        .expect("create_worklog");
    i.delete_worklog(id, &rid).await.expect("delete_worklog");
    i.delete_worklog(id, &rid)
        .await
        .expect("a second delete_worklog");
    assert_eq!(probe.worklogs(id).len(), 1);
    if let Some(gone) = i
        .deleted_worklogs(id, &[rid.clone(), kept])
        .await
        .expect("deleted_worklogs")
    {
        assert_eq!(gone, vec![rid]);
    }
}

pub async fn milestones_travel_with_the_item(i: Arc<dyn Integration>, probe: &impl RemoteProbe) {
    let e = entry("In a milestone");
    let mut fields = SyncedFields::from_entry(&e);
    fields.milestone = Some("Conformance 1".into());
    i.prepare_milestone("Conformance 1", None)
        .await
        .expect("prepare_milestone");
    let item = i.create(&e, &fields).await.expect("create");
    assert_eq!(item.fields.milestone.as_deref(), Some("Conformance 1"));
    let id = &item.remote_id;
    // Moved to another milestone: only the milestone's remote fields change.
    let before = probe.raw_item(id).expect("item");
    fields.milestone = Some("Conformance 2".into());
    i.prepare_milestone("Conformance 2", None)
        .await
        .expect("prepare_milestone");
    let answered = i
        .update(id, &fields, &changed_fields(&["milestone"]))
        .await
        .expect("update");
    assert_eq!(answered.fields.milestone.as_deref(), Some("Conformance 2"));
    assert_eq!(answered.fields.title, fields.title);
    let after = probe.raw_item(id).expect("item");
    let allowed: BTreeSet<&str> = probe.raw_fields("milestone").into_iter().collect();
    assert!(
        !allowed.is_empty(),
        "the probe names the milestone's remote fields"
    );
    for k in before.keys().chain(after.keys()) {
        if !allowed.contains(k.as_str()) {
            assert_eq!(
                before.get(k),
                after.get(k),
                "a milestone update changed `{k}`"
            );
        }
    }
    assert_ne!(before, after, "the milestone did not reach the remote");
    // Cleared: the item is in no milestone, and a pull says so.
    fields.milestone = None;
    let answered = i
        .update(id, &fields, &changed_fields(&["milestone"]))
        .await
        .expect("update");
    assert_eq!(answered.fields.milestone, None);
    let (pages, _) = pull_all(&*i, None).await;
    let pulled = pages
        .iter()
        .flat_map(|p| &p.items)
        .find(|it| &it.remote_id == id)
        .expect("the item is pulled");
    assert_eq!(pulled.fields.milestone, None);
}

pub async fn failures_are_classified(i: Arc<dyn Integration>, probe: &impl RemoteProbe) {
    let (_, fields, item) = created(&*i, "Failing").await;
    let failed = |r: Result<PullPage, devlog_core::integration::SyncError>| match r {
        Ok(_) => panic!("the injected fault was not reported"),
        Err(e) => e,
    };
    // An item that does not exist.
    let err = i
        .update("987654", &fields, &changed_fields(&["title"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::NotFound, "{err}");
    // Server trouble: retry later.
    probe.state().inject(Fault::on("* /**").status(503));
    let err = failed(i.pull(None).await);
    assert_eq!(err.kind, SyncErrorKind::Transient, "{err}");
    assert!(err.is_retryable());
    // Credentials refused: not retried until fixed.
    probe.state().inject(Fault::on("* /**").status(401));
    let err = failed(i.pull(None).await);
    assert_eq!(err.kind, SyncErrorKind::Auth, "{err}");
    assert!(!err.is_retryable());
    // A request the remote refuses: dead-lettered with the message.
    probe.state().inject(Fault::on("* /**").status(422));
    let err = i
        .update(&item.remote_id, &fields, &changed_fields(&["title"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
    // Rate limited, with the remote's wait carried to the queue (last: the client now waits).
    probe.state().inject(Fault::on("* /**").rate_limited("1"));
    let err = failed(i.pull(None).await);
    assert_eq!(err.kind, SyncErrorKind::RateLimited, "{err}");
    assert!(
        err.retry_after_ms.is_some_and(|ms| ms >= 1000),
        "retry-after lost: {err:?}"
    );
    assert_eq!(probe.state().pending_faults(), 0);
}

// ---- the probes of the test kit's fakes ----

/// The generic tracker of [`FakeRemote`] (what [`crate::tracker::TrackerIntegration`] talks to).
impl RemoteProbe for FakeRemote {
    fn state(&self) -> &FakeState {
        FakeRemote::state(self)
    }

    fn raw_item(&self, remote_id: &str) -> Option<Map<String, Value>> {
        let item: Item = self.state().item(remote_id.parse().ok()?)?;
        let Value::Object(mut m) = serde_json::to_value(item).ok()? else {
            return None;
        };
        m.remove("version");
        m.remove("updated_at");
        Some(m)
    }

    fn raw_fields(&self, field: &str) -> Vec<&'static str> {
        match field {
            "title" => vec!["title"],
            "description" => vec!["description"],
            "status" => vec!["status"],
            "assignee" => vec!["assignee"],
            "tags" | "type" | "priority" | "milestone" => vec!["labels"],
            _ => Vec::new(),
        }
    }

    fn edit_title(&self, remote_id: &str, title: &str) {
        let id = remote_id.parse().expect("tracker ids are numbers");
        self.state()
            .edit_item(id, |it| it.title = title.to_string())
            .expect("item exists");
    }

    fn comments(&self, remote_id: &str) -> Vec<String> {
        remote_id
            .parse()
            .map(|id| {
                self.state()
                    .comments(id)
                    .into_iter()
                    .map(|c| c.body)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A running fake GitHub: the harness and the fake's data (what
/// `devlog_github::GithubIntegration` talks to).
#[derive(Debug)]
pub struct GithubProbe {
    pub remote: FakeRemote,
    pub github: FakeGithub,
}

impl GithubProbe {
    /// Starts a fake GitHub holding `owner/repo`, accepting `Bearer <token>`.
    pub async fn start(owner: &str, repo: &str, token: &str) -> Self {
        let b = FakeRemote::builder().without_tracker();
        let github = FakeGithub::new(b.state(), owner, repo, token);
        let remote = b.routes(github.router()).start().await;
        Self { remote, github }
    }

    fn number(remote_id: &str) -> Option<u64> {
        remote_id.trim_start_matches('#').parse().ok()
    }
}

impl RemoteProbe for GithubProbe {
    fn state(&self) -> &FakeState {
        self.remote.state()
    }

    fn raw_item(&self, remote_id: &str) -> Option<Map<String, Value>> {
        let GhIssue {
            number,
            title,
            body,
            state,
            state_reason,
            labels,
            assignees,
            created_at,
            updated_at: _,
            closed_at,
            pull_request,
            milestone,
        } = self.github.issue(Self::number(remote_id)?)?;
        let mut m = Map::new();
        m.insert("number".into(), number.into());
        m.insert("title".into(), title.into());
        m.insert("body".into(), body.into());
        m.insert("state".into(), state.into());
        m.insert("state_reason".into(), state_reason.into());
        m.insert("labels".into(), labels.into());
        m.insert("assignees".into(), assignees.into());
        m.insert("created_at".into(), created_at.to_rfc3339().into());
        m.insert("closed_at".into(), closed_at.map(|t| t.to_rfc3339()).into());
        m.insert("pull_request".into(), pull_request.into());
        m.insert("milestone".into(), milestone.into());
        Some(m)
    }

    fn raw_fields(&self, field: &str) -> Vec<&'static str> {
        match field {
            "title" => vec!["title"],
            "description" => vec!["body"],
            "status" => vec!["state", "state_reason", "closed_at", "labels"],
            "assignee" => vec!["assignees"],
            "tags" | "type" | "priority" => vec!["labels"],
            "milestone" => vec!["milestone"],
            _ => Vec::new(),
        }
    }

    fn edit_title(&self, remote_id: &str, title: &str) {
        let n = Self::number(remote_id).expect("issue numbers are numbers");
        self.github
            .edit_issue(n, |i| i.title = title.to_string())
            .expect("issue exists");
    }

    fn comments(&self, remote_id: &str) -> Vec<String> {
        Self::number(remote_id)
            .map(|n| {
                self.github
                    .comments(n)
                    .into_iter()
                    .map(|c| c.body)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A running fake Jira: the harness and the fake's data (what `devlog_jira::JiraIntegration`
/// talks to).
#[derive(Debug)]
pub struct JiraProbe {
    pub remote: FakeRemote,
    pub jira: crate::fake_jira::FakeJira,
}

impl JiraProbe {
    /// Starts a fake Jira holding project `project` (its key).
    pub async fn start(project: &str) -> Self {
        let b = FakeRemote::builder().without_tracker();
        let jira = crate::fake_jira::FakeJira::new(b.state(), project);
        let remote = b.routes(jira.router()).start().await;
        Self { remote, jira }
    }
}

impl RemoteProbe for JiraProbe {
    fn state(&self) -> &FakeState {
        self.remote.state()
    }

    fn raw_item(&self, remote_id: &str) -> Option<Map<String, Value>> {
        let crate::fake_jira::JiraIssue {
            id,
            key,
            summary,
            description,
            issue_type,
            priority,
            status,
            resolution,
            labels,
            created,
            updated: _,
            properties,
            assignee,
            fix_versions,
            due_date,
            custom,
        } = self.jira.issue(remote_id)?;
        let mut m = Map::new();
        m.insert("id".into(), id.into());
        m.insert("key".into(), key.into());
        m.insert("summary".into(), summary.into());
        m.insert("description".into(), description);
        m.insert("issuetype".into(), issue_type.into());
        m.insert("priority".into(), priority.into());
        m.insert("status".into(), status.into());
        m.insert("resolution".into(), resolution.into());
        m.insert("labels".into(), labels.into());
        m.insert("created".into(), created.to_rfc3339().into());
        m.insert(
            "properties".into(),
            Value::Object(properties.into_iter().collect()),
        );
        m.insert("assignee".into(), assignee.into());
        m.insert("fixVersions".into(), fix_versions.into());
        m.insert("duedate".into(), due_date.into());
        for (k, v) in custom {
            m.insert(k, v);
        }
        Some(m)
    }

    fn raw_fields(&self, field: &str) -> Vec<&'static str> {
        match field {
            "title" => vec!["summary"],
            "description" => vec!["description"],
            "status" => vec!["status", "resolution"],
            "tags" => vec!["labels"],
            "type" => vec!["issuetype"],
            "priority" => vec!["priority"],
            // The display name devlog wrote is kept in its property, beside the marker.
            "assignee" => vec!["assignee", "properties"],
            "milestone" => vec!["fixVersions"],
            _ => Vec::new(),
        }
    }

    fn written_fields(&self, body: &Map<String, Value>) -> Vec<String> {
        // Jira takes an issue's fields under `fields` (set) and `update` (operations).
        ["fields", "update"]
            .iter()
            .filter_map(|k| body.get(*k).and_then(Value::as_object))
            .flat_map(|m| m.keys().cloned())
            .collect()
    }

    fn edit_title(&self, remote_id: &str, title: &str) {
        self.jira
            .edit_issue(remote_id, |i| i.summary = title.to_string())
            .expect("issue exists");
    }

    fn comments(&self, remote_id: &str) -> Vec<String> {
        self.jira
            .comments(remote_id)
            .iter()
            .map(|c| crate::fake_jira::adf_plain(&c.body))
            .collect()
    }

    fn worklogs(&self, remote_id: &str) -> Vec<(String, u32, String)> {
        self.jira
            .worklogs(remote_id)
            .iter()
            .map(|w| {
                (
                    w.started[..10].to_string(),
                    (w.seconds / 60) as u32,
                    w.comment
                        .as_ref()
                        .map(crate::fake_jira::adf_plain)
                        .unwrap_or_default(),
                )
            })
            .collect()
    }
}
