//! The story every `SyncStateStore` must tell the same way: cursors, link states, the job
//! queue under leases, conflicts, webhook deliveries and inbox, note links, applied actions,
//! attachments, pauses and the HTTP validator cache. Expanded per backend by
//! [`sync_state_conformance!`](crate::sync_state_conformance); server backends get a fresh
//! database per case through a [`ServerFixture`](crate::conformance::ServerFixture).
//!
//! Leases: a store may compute them from its own clock (the server stores use the database's),
//! so cases never move a lease by passing a later `now`: a lease of `0` is over at once, one of
//! an hour is not over during a test.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::id::EntryId;
use devlog_core::merge::{FieldConflict, SyncedField, SyncedFields};
use devlog_core::sync_state::{
    CursorKind, EVENT_KEY_MAX, HttpCacheEntry, INBOX_KEEP_MS, InboxState, IntegrationEventKind,
    JobState, LinkState, NewIntegrationEvent, NoteLinkState, SyncStateStore, WorkflowRun,
    WorkflowRunCounts, WorkflowRunState, WorklogLinkState,
};

/// Opens (or reopens: every call is a new handle, like another process) a backend's sync
/// state whose data lives under (or is named by) the given folder.
pub type SyncOpener = fn(PathBuf) -> Pin<Box<dyn Future<Output = Arc<dyn SyncStateStore>> + Send>>;

const GH: &str = "github";
const HOUR: i64 = 3_600_000;
const T0: i64 = 1_735_689_600_000;

/// Expands to one test per case for a backend, like
/// [`store_conformance!`](crate::store_conformance): `sync_state_conformance!(opener)` for a
/// folder backend, `sync_state_conformance!(fixture = …, opener = …)` for a server.
#[macro_export]
macro_rules! sync_state_conformance {
    (fixture = $fixture:expr, opener = $opener:expr $(,)?) => {
        $crate::sync_state_conformance!(@list fixture ($fixture) ($opener));
    };
    ($opener:expr) => {
        $crate::sync_state_conformance!(@list folder () ($opener));
    };
    (@list $how:tt $fixture:tt $opener:tt) => {
        $crate::sync_state_conformance!(@cases $how $fixture $opener;
            cursors_are_kept_per_integration_and_kind,
            enqueue_keeps_one_open_job_per_entry,
            a_change_while_its_job_runs_runs_the_job_again,
            claims_take_due_jobs_under_a_lease,
            an_expired_lease_is_taken_over,
            failed_jobs_retry_or_die,
            concurrent_claimers_never_share_a_job,
            links_move_through_their_states,
            unlink_drops_what_hangs_off_the_link,
            conflicts_keep_one_open_per_field,
            webhook_deliveries_are_deduplicated,
            integration_events_are_appended_once_in_order,
            a_follower_sees_every_concurrently_recorded_event_once,
            pruning_integration_events_keeps_what_followers_need,
            workflow_claims_are_won_once_across_connections,
            workflow_runs_are_listed_and_due,
            workflow_run_leases_are_taken_over_on_expiry,
            pruning_workflow_runs_keeps_open_runs,
            the_inbox_keeps_deliveries_until_finished,
            servers_storing_and_finishing_one_delivery_at_once_all_succeed,
            notes_actions_attachments_and_pauses,
            worklog_links_move_through_their_states,
            http_cache_evicts_the_least_recently_used,
            state_survives_reopen,
        );
    };
    (@cases folder () ($opener:expr); $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let dir = tempfile::tempdir().expect("temp dir");
                $crate::sync_state_conformance::$case($opener, dir.path()).await;
            }
        )+
    };
    (@cases fixture ($fixture:expr) ($opener:expr); $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = ($fixture)(stringify!($case)).await else {
                    return;
                };
                let dir = $crate::conformance::ServerFixture::dir(&fixture).to_path_buf();
                let outcome = tokio::spawn(async move {
                    $crate::sync_state_conformance::$case($opener, &dir).await;
                })
                .await;
                $crate::conformance::ServerFixture::teardown(fixture).await;
                if let Err(e) = outcome {
                    if e.is_panic() {
                        std::panic::resume_unwind(e.into_panic());
                    }
                    panic!("{} did not finish: {e}", stringify!($case));
                }
            }
        )+
    };
}

fn fields(title: &str) -> SyncedFields {
    SyncedFields {
        title: title.into(),
        description: String::new(),
        status: Status::New,
        priority: Priority::Medium,
        kind: EntryType::Task,
        assignee: None,
        tags: vec![],
        milestone: None,
        estimated_hours: None,
        actual_hours: None,
        acceptance_criteria: None,
        due_date: None,
        points: None,
    }
}

pub async fn cursors_are_kept_per_integration_and_kind(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    assert_eq!(s.cursor(GH, CursorKind::Pull).await.unwrap(), None);
    s.set_cursor(GH, CursorKind::Pull, "page-2").await.unwrap();
    s.set_cursor(GH, CursorKind::Pull, "page-3").await.unwrap();
    s.set_cursor("jira", CursorKind::Pull, "j").await.unwrap();
    assert_eq!(
        s.cursor(GH, CursorKind::Pull).await.unwrap().as_deref(),
        Some("page-3")
    );
    assert_eq!(
        s.cursor("jira", CursorKind::Pull).await.unwrap().as_deref(),
        Some("j")
    );
    assert_eq!(s.cursor(GH, CursorKind::Feed).await.unwrap(), None);
    // `enqueue` moves the feed cursor and records the feed's identity with it.
    s.enqueue(GH, &[], 12, Some("feed-a"), T0).await.unwrap();
    assert_eq!(
        s.cursor(GH, CursorKind::Feed).await.unwrap().as_deref(),
        Some("12")
    );
    assert_eq!(
        s.cursor(GH, CursorKind::FeedId).await.unwrap().as_deref(),
        Some("feed-a")
    );
    s.enqueue(GH, &[], 13, None, T0).await.unwrap();
    assert_eq!(
        s.cursor(GH, CursorKind::FeedId).await.unwrap().as_deref(),
        Some("feed-a")
    );
}

pub async fn enqueue_keeps_one_open_job_per_entry(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let (a, b) = (EntryId::new_random(), EntryId::new_random());
    assert_eq!(s.enqueue(GH, &[a, b], 2, None, T0).await.unwrap(), 2);
    assert_eq!(s.enqueue(GH, &[a, b], 3, None, T0).await.unwrap(), 0);
    s.enqueue_one(GH, a, T0).await.unwrap();
    // Another integration has its own queue.
    assert_eq!(s.enqueue("jira", &[a], 1, None, T0).await.unwrap(), 1);
    let jobs = s.open_jobs().await.unwrap();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    assert!(
        jobs.iter()
            .all(|j| j.state == JobState::Pending && j.attempts == 0)
    );
    assert!(jobs.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    // Once a job is done, the entry can be queued again.
    let job = s
        .claim_for(GH, Some(a), "w", T0, HOUR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.entry_id, a);
    s.finish_job(job.id, "w", T0).await.unwrap();
    assert_eq!(s.enqueue(GH, &[a], 4, None, T0).await.unwrap(), 1);
}

/// A change queued while its entry's job is running (the job may have read the entry before
/// it) is not dropped: finishing the job puts it back to pending, due at once; the next run,
/// with no change meanwhile, finishes it for good. A change queued before the claim is part
/// of what the claimed run reads, so it does not cause another run.
pub async fn a_change_while_its_job_runs_runs_the_job_again(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let e = EntryId::new_random();
    assert_eq!(s.enqueue(GH, &[e], 1, None, T0).await.unwrap(), 1);
    // Queued again while pending: still one job, and the claim reads the latest entry.
    assert_eq!(s.enqueue(GH, &[e], 2, None, T0).await.unwrap(), 0);
    let job = s.claim(GH, "w", T0, HOUR).await.unwrap().unwrap();
    // Changed while running (feed enqueue and a direct one alike).
    assert_eq!(s.enqueue(GH, &[e], 3, None, T0 + 1).await.unwrap(), 0);
    s.enqueue_one(GH, e, T0 + 2).await.unwrap();
    s.finish_job(job.id, "w", T0 + 5).await.unwrap();
    let again = s.job(job.id).await.unwrap().unwrap();
    assert_eq!(again.state, JobState::Pending, "the change was dropped");
    assert_eq!(s.open_jobs().await.unwrap().len(), 1);
    let rerun = s.claim(GH, "w", T0 + 5, HOUR).await.unwrap().unwrap();
    assert_eq!((rerun.id, rerun.entry_id), (job.id, e));
    s.finish_job(rerun.id, "w", T0 + 6).await.unwrap();
    assert_eq!(s.job(job.id).await.unwrap().unwrap().state, JobState::Done);
    assert!(s.open_jobs().await.unwrap().is_empty());
    assert!(s.claim(GH, "w", T0 + 7, HOUR).await.unwrap().is_none());
}

pub async fn claims_take_due_jobs_under_a_lease(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let e = EntryId::new_random();
    s.enqueue_one(GH, e, T0).await.unwrap();
    // Not due before its time, and not for another integration.
    assert!(s.claim(GH, "a", T0 - 1, HOUR).await.unwrap().is_none());
    assert!(s.claim("jira", "a", T0, HOUR).await.unwrap().is_none());
    let other = EntryId::new_random();
    assert!(
        s.claim_for(GH, Some(other), "a", T0, HOUR)
            .await
            .unwrap()
            .is_none()
    );
    let job = s.claim(GH, "a", T0, HOUR).await.unwrap().unwrap();
    assert_eq!((job.entry_id, job.state), (e, JobState::Running));
    // Held: nobody else gets it, its owner can renew, others cannot.
    assert!(s.claim(GH, "b", T0, HOUR).await.unwrap().is_none());
    assert!(s.renew_lease(job.id, "a", T0, HOUR).await.unwrap());
    assert!(!s.renew_lease(job.id, "b", T0, HOUR).await.unwrap());
    // Finishing someone else's job does nothing.
    s.finish_job(job.id, "b", T0).await.unwrap();
    assert_eq!(
        s.job(job.id).await.unwrap().unwrap().state,
        JobState::Running
    );
    s.finish_job(job.id, "a", T0 + 5).await.unwrap();
    let done = s.job(job.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.updated_at), (JobState::Done, T0 + 5));
    assert!(s.open_jobs().await.unwrap().is_empty());
    assert!(!s.renew_lease(job.id, "a", T0, HOUR).await.unwrap());
    assert!(s.job(i64::MAX).await.unwrap().is_none());
}

pub async fn an_expired_lease_is_taken_over(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let e = EntryId::new_random();
    s.enqueue_one(GH, e, T0).await.unwrap();
    // A lease of 0 is over at once: its worker is as good as dead.
    let job = s.claim(GH, "a", T0, 0).await.unwrap().unwrap();
    let taken = s.claim(GH, "b", T0, HOUR).await.unwrap().unwrap();
    assert_eq!(taken.id, job.id);
    // The first worker has lost it: no renewal, and its outcome is ignored.
    assert!(!s.renew_lease(job.id, "a", T0, HOUR).await.unwrap());
    s.finish_job(job.id, "a", T0).await.unwrap();
    s.fail_job(job.id, "a", "late", T0, true, T0).await.unwrap();
    let j = s.job(job.id).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Running, 0));
    assert!(s.claim(GH, "c", T0, HOUR).await.unwrap().is_none());
    s.finish_job(job.id, "b", T0).await.unwrap();
    assert_eq!(s.job(job.id).await.unwrap().unwrap().state, JobState::Done);
}

pub async fn failed_jobs_retry_or_die(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let e = EntryId::new_random();
    s.enqueue_one(GH, e, T0).await.unwrap();
    let job = s.claim(GH, "a", T0, HOUR).await.unwrap().unwrap();
    s.fail_job(job.id, "a", "503 from the remote", T0 + 1000, false, T0)
        .await
        .unwrap();
    let j = s.job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.attempts, j.next_at, j.last_error.as_deref()),
        (JobState::Pending, 1, T0 + 1000, Some("503 from the remote"))
    );
    // Backed off: due only at `next_at`.
    assert!(s.claim(GH, "a", T0 + 999, HOUR).await.unwrap().is_none());
    let job = s.claim(GH, "a", T0 + 1000, HOUR).await.unwrap().unwrap();
    // Deferring puts it back without counting an attempt.
    s.defer_job(job.id, "a", T0 + 2000, T0 + 1000)
        .await
        .unwrap();
    let j = s.job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.attempts, j.next_at),
        (JobState::Pending, 1, T0 + 2000)
    );
    let job = s.claim(GH, "a", T0 + 2000, HOUR).await.unwrap().unwrap();
    s.fail_job(job.id, "a", "422 invalid", T0 + 3000, true, T0 + 2000)
        .await
        .unwrap();
    let jobs = s.open_jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].state, jobs[0].attempts), (JobState::Dead, 2));
    // Dead jobs are not claimed, and an entry with a dead job can be queued afresh.
    assert!(s.claim(GH, "a", T0 + HOUR, HOUR).await.unwrap().is_none());
    assert_eq!(s.retry(None, T0 + 5000).await.unwrap(), 1);
    let j = s.job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.attempts, j.next_at),
        (JobState::Pending, 0, T0 + 5000)
    );
    assert_eq!(s.retry(None, T0 + 5000).await.unwrap(), 0);
    // One job by id (a pending one is made due now).
    assert_eq!(s.retry(Some(job.id), T0 + 6000).await.unwrap(), 1);
    assert_eq!(s.retry(Some(i64::MAX), T0).await.unwrap(), 0);
}

pub async fn concurrent_claimers_never_share_a_job(open: SyncOpener, dir: &Path) {
    let setup = open(dir.to_path_buf()).await;
    let entries: Vec<EntryId> = (0..24).map(|_| EntryId::new_random()).collect();
    assert_eq!(setup.enqueue(GH, &entries, 1, None, T0).await.unwrap(), 24);
    // Four workers, each with its own handle (as separate processes would have), race.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let s = open(dir.to_path_buf()).await;
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut got = Vec::new();
            while let Some(job) = s.claim(GH, &owner, T0, HOUR).await.unwrap() {
                got.push(job.id);
                tokio::task::yield_now().await;
                s.finish_job(job.id, &owner, T0).await.unwrap();
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a job was claimed twice: {all:?}"
    );
    assert_eq!(all.len(), 24);
    assert!(setup.open_jobs().await.unwrap().is_empty());
}

pub async fn links_move_through_their_states(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let e = EntryId::new_random();
    assert!(s.link(GH, e).await.unwrap().is_none());
    s.mark_creating(GH, e, T0).await.unwrap();
    let l = s.link(GH, e).await.unwrap().unwrap();
    assert_eq!(
        (l.state, l.remote_id.as_deref()),
        (LinkState::Creating, None)
    );
    s.set_linked(GH, e, "17", Some("https://x/17"), &fields("one"), T0 + 1)
        .await
        .unwrap();
    let l = s.link(GH, e).await.unwrap().unwrap();
    assert_eq!(l.state, LinkState::Linked);
    assert_eq!(l.remote_id.as_deref(), Some("17"));
    assert_eq!(l.url.as_deref(), Some("https://x/17"));
    assert_eq!(l.base, Some(fields("one")));
    assert_eq!(l.last_synced_at, Some(T0 + 1));
    // A later sync without a URL keeps the one known.
    s.set_linked(GH, e, "17", None, &fields("two"), T0 + 2)
        .await
        .unwrap();
    let l = s.link_by_remote(GH, "17").await.unwrap().unwrap();
    assert_eq!((l.entry_id, l.url.as_deref()), (e, Some("https://x/17")));
    assert_eq!(l.base, Some(fields("two")));
    assert!(s.link_by_remote(GH, "18").await.unwrap().is_none());
    assert!(s.link_by_remote("jira", "17").await.unwrap().is_none());
    // A retry of a create marks the link creating again, keeping what it had.
    s.mark_creating(GH, e, T0 + 3).await.unwrap();
    assert_eq!(
        s.link(GH, e).await.unwrap().unwrap().state,
        LinkState::Creating
    );
    // Linked without a `creating` step (adopted by marker).
    let f = EntryId::new_random();
    s.set_linked(GH, f, "20", None, &fields("f"), T0)
        .await
        .unwrap();
    let links = s.links().await.unwrap();
    assert_eq!(links.len(), 2);
    // `sync status --json` shows the states as today's strings.
    let json = serde_json::to_value(&links[0]).unwrap();
    assert!(
        json["state"] == "creating" || json["state"] == "linked",
        "{json}"
    );
    assert!(json.get("entryId").is_some(), "{json}");
}

pub async fn unlink_drops_what_hangs_off_the_link(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let e = EntryId::new_random();
    assert!(!s.unlink(GH, e, T0).await.unwrap(), "nothing to unlink");
    s.set_linked(GH, e, "5", None, &fields("a"), T0)
        .await
        .unwrap();
    s.set_note_linked(GH, e, "n1", "c1", "h", T0).await.unwrap();
    s.set_worklog_linked(GH, e, "w1", "wl-1", WorklogLinkState::Linked, "h", T0)
        .await
        .unwrap();
    s.attach(GH, "pull-request", "9", e, None, T0)
        .await
        .unwrap();
    s.enqueue_one(GH, e, T0).await.unwrap();
    assert!(s.unlink(GH, e, T0 + 1).await.unwrap());
    let l = s.link(GH, e).await.unwrap().unwrap();
    assert_eq!(
        (l.state, l.remote_id.as_deref(), l.base.is_none()),
        (LinkState::Unlinked, None, true)
    );
    assert!(s.note_links(GH, e).await.unwrap().is_empty());
    assert!(s.worklog_links(GH, e).await.unwrap().is_empty());
    assert!(s.attachments(GH, e).await.unwrap().is_empty());
    assert!(s.open_jobs().await.unwrap().is_empty());
    assert!(!s.unlink(GH, e, T0 + 2).await.unwrap(), "already unlinked");
    // The remote item can be linked to another entry now.
    let f = EntryId::new_random();
    s.set_linked(GH, f, "5", None, &fields("f"), T0)
        .await
        .unwrap();
    assert_eq!(
        s.link_by_remote(GH, "5").await.unwrap().unwrap().entry_id,
        f
    );
}

fn conflict(field: SyncedField, local: &str) -> FieldConflict {
    FieldConflict {
        field,
        base: serde_json::json!("base"),
        local: serde_json::json!(local),
        remote: serde_json::json!("remote"),
    }
}

pub async fn conflicts_keep_one_open_per_field(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let e = EntryId::new_random();
    s.add_conflicts(
        GH,
        e,
        &[
            conflict(SyncedField::Title, "l1"),
            conflict(SyncedField::Priority, "p"),
        ],
        T0,
    )
    .await
    .unwrap();
    s.add_conflicts(GH, e, &[conflict(SyncedField::Title, "l2")], T0 + 1)
        .await
        .unwrap();
    let open_ = s.open_conflicts().await.unwrap();
    assert_eq!(open_.len(), 2, "{open_:?}");
    let title = open_
        .iter()
        .find(|c| c.field.field == SyncedField::Title)
        .unwrap();
    assert_eq!(title.field.local, serde_json::json!("l2"));
    assert_eq!(title.field.base, serde_json::json!("base"));
    assert_eq!((title.entry_id, title.integration.as_str()), (e, GH));
    let mut held = s.held_fields(GH, e).await.unwrap();
    held.sort();
    assert_eq!(held, ["priority", "title"]);
    assert!(s.resolve_conflict(title.id, "local", T0 + 2).await.unwrap());
    assert!(!s.resolve_conflict(title.id, "local", T0 + 3).await.unwrap());
    assert_eq!(s.held_fields(GH, e).await.unwrap(), ["priority"]);
    // A new conflict on a resolved field opens a new one.
    s.add_conflicts(GH, e, &[conflict(SyncedField::Title, "l3")], T0 + 4)
        .await
        .unwrap();
    assert_eq!(s.open_conflicts().await.unwrap().len(), 2);
    assert!(s.held_fields("jira", e).await.unwrap().is_empty());
}

pub async fn webhook_deliveries_are_deduplicated(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    assert!(!s.delivery_seen(GH, "d1").await.unwrap());
    // Many receivers (handles, as separate servers would have) get the same delivery at once:
    // exactly one of them applies it.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let h = open(dir.to_path_buf()).await;
        tasks.push(tokio::spawn(async move {
            h.first_delivery(GH, "d1", T0).await.unwrap()
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.unwrap());
    }
    assert_eq!(firsts, 1);
    assert!(s.delivery_seen(GH, "d1").await.unwrap());
    assert!(!s.first_delivery(GH, "d1", T0).await.unwrap());
    assert!(s.first_delivery("jira", "d1", T0).await.unwrap());
}

pub async fn integration_events_are_appended_once_in_order(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    assert_eq!(s.last_event_id().await.unwrap(), 0);
    assert!(s.events_after(0, 10).await.unwrap().is_empty());
    let e1 = EntryId::new_random();
    let event = |kind, key: &str, entry| NewIntegrationEvent {
        integration: GH.into(),
        kind,
        key: key.into(),
        entry_id: entry,
        data: serde_json::json!({"pullRequest": {"number": 7, "title": "Fix ü"}}),
        at: T0,
    };
    let merged = event(IntegrationEventKind::PullRequestMerged, "d1#0", Some(e1));
    // Receivers racing on the same event (a redelivery, a retry after a crash): one records it.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let h = open(dir.to_path_buf()).await;
        let e = merged.clone();
        tasks.push(tokio::spawn(
            async move { h.record_event(&e).await.unwrap() },
        ));
    }
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.unwrap());
    }
    assert_eq!(firsts, 1);
    assert!(!s.record_event(&merged).await.unwrap());
    // The same key at another integration is another event; a long key is kept unique too.
    let mut jira = event(IntegrationEventKind::IssueTransitioned, "d1#0", None);
    jira.integration = "jira".into();
    assert!(s.record_event(&jira).await.unwrap());
    let long = "k".repeat(EVENT_KEY_MAX + 50);
    let dead = event(IntegrationEventKind::JobDead, &long, Some(e1));
    assert!(s.record_event(&dead).await.unwrap());
    assert!(!s.record_event(&dead).await.unwrap());

    let all = s.events_after(0, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert_eq!(all[0].event, merged);
    assert_eq!(all[1].event, jira);
    assert_eq!(all[2].event.kind, IntegrationEventKind::JobDead);
    assert_eq!(all[2].event.entry_id, Some(e1));
    assert_eq!(s.last_event_id().await.unwrap(), all[2].id);
    // Following from a cursor: only what came after it, at most `limit`.
    let after = s.events_after(all[0].id, 1).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, all[1].id);
    assert!(s.events_after(all[2].id, 10).await.unwrap().is_empty());
    // Another handle (another process or machine on the store) sees the same sequence.
    let other = open(dir.to_path_buf()).await;
    let seen: Vec<i64> = other
        .events_after(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, all.iter().map(|e| e.id).collect::<Vec<_>>());
}

/// Many processes record events at once while a follower reads with `events_after` from its
/// cursor (the last id it saw), as the workflow engine does: it sees every event exactly once.
/// With ids from a plain sequence, a transaction could take id 11, commit after the one that
/// took 12, and a follower that already moved past 12 would skip 11 for good.
pub async fn a_follower_sees_every_concurrently_recorded_event_once(open: SyncOpener, dir: &Path) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const WRITERS: usize = 8;
    const EACH: usize = 100;
    let done = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let h = open(dir.to_path_buf()).await;
        let done = done.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                let e = NewIntegrationEvent {
                    integration: GH.into(),
                    kind: IntegrationEventKind::PullRequestMerged,
                    key: format!("w{w}-{i}"),
                    entry_id: None,
                    data: serde_json::json!({"writer": w, "n": i}),
                    at: T0,
                };
                assert!(h.record_event(&e).await.unwrap());
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let follower = open(dir.to_path_buf()).await;
    let follow = tokio::spawn(async move {
        let mut cursor = 0;
        let mut seen: Vec<String> = Vec::new();
        loop {
            // Read whether the writers are done before reading: a pass that starts after
            // they all finished and finds nothing has seen everything.
            let finished = done.load(Ordering::SeqCst) == WRITERS;
            let page = follower.events_after(cursor, 7).await.unwrap();
            for e in &page {
                assert!(e.id > cursor, "events come in id order after the cursor");
                cursor = e.id;
                seen.push(e.event.key.clone());
            }
            if page.is_empty() {
                if finished {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        seen
    });
    for w in writers {
        w.await.unwrap();
    }
    let seen = follow.await.unwrap();
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "an event was seen twice");
    let missing: Vec<String> = (0..WRITERS)
        .flat_map(|w| (0..EACH).map(move |i| format!("w{w}-{i}")))
        .filter(|k| !distinct.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "the follower skipped {} of {} events: {missing:?}",
        missing.len(),
        WRITERS * EACH
    );
}

pub async fn pruning_integration_events_keeps_what_followers_need(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    assert_eq!(
        s.prune_integration_events(i64::MAX, i64::MAX)
            .await
            .unwrap(),
        0
    );
    let mut ids = Vec::new();
    for (key, at) in [("a", T0), ("b", T0), ("c", T0 + 10 * HOUR), ("d", T0)] {
        let e = NewIntegrationEvent {
            integration: GH.into(),
            kind: IntegrationEventKind::IssueCommented,
            key: key.into(),
            entry_id: None,
            data: serde_json::json!({}),
            at,
        };
        assert!(s.record_event(&e).await.unwrap());
        ids.push(s.last_event_id().await.unwrap());
    }
    let keys = |events: Vec<devlog_core::sync_state::IntegrationEvent>| {
        events.into_iter().map(|e| e.event.key).collect::<Vec<_>>()
    };
    // Nothing recorded before the age limit: nothing goes, whatever the cursor.
    assert_eq!(s.prune_integration_events(ids[3], T0).await.unwrap(), 0);
    // Old enough, but only up to the follower's cursor: `a`, not `b`.
    assert_eq!(
        s.prune_integration_events(ids[0], T0 + HOUR).await.unwrap(),
        1
    );
    assert_eq!(keys(s.events_after(0, 10).await.unwrap()), ["b", "c", "d"]);
    // With every event read: the old `b` goes, the young `c` stays, and so does the newest
    // (`d`, though old), so the last id never goes back.
    assert_eq!(
        s.prune_integration_events(ids[3], T0 + HOUR).await.unwrap(),
        1
    );
    assert_eq!(keys(s.events_after(0, 10).await.unwrap()), ["c", "d"]);
    assert_eq!(s.last_event_id().await.unwrap(), ids[3]);
    // A later event gets a later id than every pruned one, seen by another handle too.
    let e = NewIntegrationEvent {
        integration: GH.into(),
        kind: IntegrationEventKind::IssueCommented,
        key: "e".into(),
        entry_id: None,
        data: serde_json::json!({}),
        at: T0,
    };
    assert!(s.record_event(&e).await.unwrap());
    let other = open(dir.to_path_buf()).await;
    let after = other.events_after(ids[3], 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert!(after[0].id > ids[3]);
    assert_eq!(after[0].event.key, "e");
}

pub async fn workflow_claims_are_won_once_across_connections(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    // Workers on several machines racing to run one workflow for one write: one wins.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let h = open(dir.to_path_buf()).await;
        tasks.push(tokio::spawn(async move {
            h.workflow_claim("triage", "change-1", T0).await.unwrap()
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.unwrap());
    }
    assert_eq!(firsts, 1);
    assert!(!s.workflow_claim("triage", "change-1", T0).await.unwrap());
    // Another write, or another workflow on the same write, is another claim.
    assert!(s.workflow_claim("triage", "change-2", T0).await.unwrap());
    assert!(s.workflow_claim("notify", "change-1", T0).await.unwrap());

    // Cursors: absent, set, moved, and seen by another handle.
    assert_eq!(s.workflow_cursor("feed").await.unwrap(), None);
    s.set_workflow_cursor("feed", "7").await.unwrap();
    s.set_workflow_cursor("feed", "9").await.unwrap();
    s.set_workflow_cursor("schedule:nightly", "{\"last\":1}")
        .await
        .unwrap();
    let other = open(dir.to_path_buf()).await;
    assert_eq!(
        other.workflow_cursor("feed").await.unwrap().as_deref(),
        Some("9")
    );
    assert_eq!(
        other
            .workflow_cursor("schedule:nightly")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"last\":1}")
    );
}

fn workflow_run(id: &str, workflow: &str, state: WorkflowRunState, at: i64) -> WorkflowRun {
    WorkflowRun {
        id: id.into(),
        workflow: workflow.into(),
        state,
        entry: None,
        wake_at: None,
        started_at: at,
        updated_at: at,
        record: serde_json::json!({"id": id, "steps": [{"path": "0", "output": "ü"}]}),
    }
}

pub async fn workflow_runs_are_listed_and_due(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    assert!(s.workflow_run("a1").await.unwrap().is_none());
    let e1 = EntryId::new_random();
    let mut a = workflow_run("a1", "triage", WorkflowRunState::Running, T0);
    a.entry = Some(e1);
    assert!(s.start_workflow_run(&a, "h:1:x", T0, HOUR).await.unwrap());
    // An id is started once.
    assert!(!s.start_workflow_run(&a, "h:2:y", T0, HOUR).await.unwrap());
    assert_eq!(s.workflow_run("a1").await.unwrap().unwrap(), a);
    let mut waiting = workflow_run("b2", "triage", WorkflowRunState::Waiting, T0 + 1);
    waiting.wake_at = Some(T0 + HOUR);
    s.save_workflow_run(&waiting).await.unwrap();
    let mut retrying = workflow_run("c3", "notify", WorkflowRunState::Retrying, T0 + 2);
    retrying.wake_at = Some(T0 + 10);
    s.save_workflow_run(&retrying).await.unwrap();
    s.save_workflow_run(&workflow_run(
        "d4",
        "notify",
        WorkflowRunState::Dead,
        T0 + 3,
    ))
    .await
    .unwrap();
    s.save_workflow_run(&workflow_run(
        "e5",
        "notify",
        WorkflowRunState::Succeeded,
        T0 + 4,
    ))
    .await
    .unwrap();
    // A save rewrites the record and columns.
    a.record = serde_json::json!({"id": "a1", "steps": []});
    a.updated_at = T0 + 5;
    s.save_workflow_run(&a).await.unwrap();
    s.save_workflow_run(&a).await.unwrap();
    assert_eq!(s.workflow_run("a1").await.unwrap().unwrap(), a);

    let ids = |runs: Vec<WorkflowRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.workflow_runs(None, None, 0).await.unwrap()),
        ["e5", "d4", "c3", "b2", "a1"],
        "newest first"
    );
    assert_eq!(
        ids(s.workflow_runs(None, None, 2).await.unwrap()),
        ["e5", "d4"]
    );
    assert_eq!(
        ids(s.workflow_runs(Some("triage"), None, 0).await.unwrap()),
        ["b2", "a1"]
    );
    assert_eq!(
        ids(s
            .workflow_runs(Some("notify"), Some(WorkflowRunState::Dead), 0)
            .await
            .unwrap()),
        ["d4"]
    );
    // Due: running ones, and parked ones whose time came; oldest first.
    assert_eq!(ids(s.due_workflow_runs(T0).await.unwrap()), ["a1"]);
    assert_eq!(
        ids(s.due_workflow_runs(T0 + 10).await.unwrap()),
        ["a1", "c3"]
    );
    assert_eq!(
        ids(s.due_workflow_runs(T0 + HOUR).await.unwrap()),
        ["a1", "b2", "c3"]
    );
    // Another handle sees the same runs.
    let other = open(dir.to_path_buf()).await;
    assert_eq!(other.workflow_runs(None, None, 0).await.unwrap().len(), 5);
    // Counted by state: waiting and retrying are both parked.
    assert_eq!(
        other.workflow_run_counts().await.unwrap(),
        WorkflowRunCounts {
            running: 1,
            parked: 2,
            succeeded: 1,
            failed: 0,
            dead: 1,
        }
    );
}

pub async fn workflow_run_leases_are_taken_over_on_expiry(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let other = open(dir.to_path_buf()).await;
    let run = workflow_run("a1", "triage", WorkflowRunState::Running, T0);
    assert!(
        !s.lease_workflow_run("a1", "h1:1:a", T0, HOUR)
            .await
            .unwrap(),
        "no such run"
    );
    assert!(
        s.start_workflow_run(&run, "h1:1:a", T0, HOUR)
            .await
            .unwrap()
    );
    // Held: another worker (or another run of the same process) does not get it.
    assert!(
        !other
            .lease_workflow_run("a1", "h2:1:b", T0, HOUR)
            .await
            .unwrap()
    );
    assert!(
        !other
            .lease_workflow_run("a1", "h1:1:c", T0, HOUR)
            .await
            .unwrap()
    );
    assert!(
        s.renew_workflow_run_lease("a1", "h1:1:a", T0, HOUR)
            .await
            .unwrap()
    );
    assert!(
        !other
            .renew_workflow_run_lease("a1", "h2:1:b", T0, HOUR)
            .await
            .unwrap()
    );
    // Releasing someone else's lease changes nothing; the holder's frees it.
    other.release_workflow_run("a1", "h2:1:b").await.unwrap();
    assert!(
        !other
            .lease_workflow_run("a1", "h2:1:b", T0, HOUR)
            .await
            .unwrap()
    );
    s.release_workflow_run("a1", "h1:1:a").await.unwrap();
    assert!(
        other
            .lease_workflow_run("a1", "h2:1:b", T0, 0)
            .await
            .unwrap()
    );
    // A lease of 0 is over at once (its worker died): taken over, and the old holder's
    // renewal says so.
    assert!(
        s.lease_workflow_run("a1", "h1:1:d", T0, HOUR)
            .await
            .unwrap()
    );
    assert!(
        !other
            .renew_workflow_run_lease("a1", "h2:1:b", T0, HOUR)
            .await
            .unwrap()
    );
    // A holder that is a gone process of this host is taken over before its lease ends; one
    // of another host is not.
    let dead = u32::MAX - 1;
    let me = std::process::id();
    let b = workflow_run("b2", "triage", WorkflowRunState::Running, T0);
    assert!(
        s.start_workflow_run(&b, &format!("h1:{dead}:x"), T0, HOUR)
            .await
            .unwrap()
    );
    assert!(
        !other
            .lease_workflow_run("b2", &format!("h2:{me}:y"), T0, HOUR)
            .await
            .unwrap()
    );
    assert!(
        other
            .lease_workflow_run("b2", &format!("h1:{me}:y"), T0, HOUR)
            .await
            .unwrap()
    );
    // A live process of this host keeps it.
    assert!(
        !s.lease_workflow_run("b2", &format!("h1:{me}:z"), T0, HOUR)
            .await
            .unwrap()
    );
}

pub async fn pruning_workflow_runs_keeps_open_runs(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    use WorkflowRunState::*;
    for (i, (id, state)) in [
        ("a1", Succeeded),
        ("b2", Waiting),
        ("c3", Failed),
        ("d4", Running),
        ("e5", Dead),
        ("f6", Succeeded),
        ("g7", Succeeded),
    ]
    .into_iter()
    .enumerate()
    {
        let at = T0 + i as i64 * HOUR;
        s.save_workflow_run(&workflow_run(id, "w", state, at))
            .await
            .unwrap();
    }
    assert!(s.workflow_claim("w", "old", T0).await.unwrap());
    assert!(s.workflow_claim("w", "new", T0 + 10 * HOUR).await.unwrap());
    // Nothing beyond the count or the age: nothing goes.
    let none = s.prune_workflow_runs(10, T0, T0).await.unwrap();
    assert_eq!((none.runs, none.claims), (0, 0));
    // Keep the newest 3 (g7, f6, e5); of the older ones, the open b2 and d4 stay.
    let p = s.prune_workflow_runs(3, T0, T0 + HOUR).await.unwrap();
    assert_eq!((p.runs, p.claims), (2, 1));
    let ids = |runs: Vec<WorkflowRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.workflow_runs(None, None, 0).await.unwrap()),
        ["g7", "f6", "e5", "d4", "b2"]
    );
    // By age: finished before T0 + 5h go (e5), open ones stay.
    let p = s.prune_workflow_runs(100, T0 + 5 * HOUR, T0).await.unwrap();
    assert_eq!(p.runs, 1);
    assert_eq!(
        ids(s.workflow_runs(None, None, 0).await.unwrap()),
        ["g7", "f6", "d4", "b2"]
    );
    // A pruned claim can be made again; a kept one cannot.
    assert!(s.workflow_claim("w", "old", T0).await.unwrap());
    assert!(!s.workflow_claim("w", "new", T0).await.unwrap());
}

/// Two servers given the same webhook delivery at the same moment store it, and one finishes
/// it while the other stores it again (a redelivery): on InnoDB such writers of one row can
/// be picked as deadlock victims, which must be run again, never answered as a failure.
pub async fn servers_storing_and_finishing_one_delivery_at_once_all_succeed(
    open: SyncOpener,
    dir: &Path,
) {
    const ROUNDS: usize = 40;
    const WRITERS: usize = 4;
    let mut handles = Vec::new();
    for _ in 0..WRITERS {
        handles.push(open(dir.to_path_buf()).await);
    }
    for round in 0..ROUNDS {
        let delivery = format!("race-{round}");
        let mut tasks = Vec::new();
        for (w, h) in handles.iter().enumerate() {
            let h = h.clone();
            let delivery = delivery.clone();
            tasks.push(tokio::spawn(async move {
                let _: () = h.inbox_put(GH, &delivery, "{\"a\":1}", T0).await?;
                if w % 2 == 0 {
                    h.inbox_finish(GH, &delivery, Ok("{}"), T0 + 1).await?;
                } else {
                    h.inbox_finish(GH, &delivery, Err("failed once"), T0 + 1)
                        .await?;
                    h.inbox_put(GH, &delivery, "{\"a\":2}", T0 + 2).await?;
                }
                Ok::<(), devlog_core::error::StoreError>(())
            }));
        }
        for t in tasks {
            t.await
                .expect("writer task")
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        assert!(handles[0].inbox_get(GH, &delivery).await.unwrap().is_some());
    }
}

pub async fn the_inbox_keeps_deliveries_until_finished(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    assert!(s.inbox_get(GH, "d1").await.unwrap().is_none());
    s.inbox_put(GH, "d1", "{\"a\":1}", T0).await.unwrap();
    s.inbox_put(GH, "d2", "{\"b\":1}", T0 + 1).await.unwrap();
    // A redelivery of a pending delivery keeps the stored one.
    s.inbox_put(GH, "d1", "{\"a\":2}", T0 + 2).await.unwrap();
    let d = s.inbox_get(GH, "d1").await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.payload.as_str(), d.received_at),
        (InboxState::Pending, "{\"a\":1}", T0)
    );
    assert_eq!(
        s.inbox_pending().await.unwrap(),
        [(GH.to_string(), "d1".to_string()), (GH.into(), "d2".into())]
    );
    s.inbox_finish(GH, "d1", Err("remote said no"), T0 + 3)
        .await
        .unwrap();
    let d = s.inbox_get(GH, "d1").await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.error.as_deref()),
        (InboxState::Failed, Some("remote said no"))
    );
    // The sender's redelivery retries a failed one with the new payload.
    s.inbox_put(GH, "d1", "{\"a\":3}", T0 + 4).await.unwrap();
    let d = s.inbox_get(GH, "d1").await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.payload.as_str(), d.error),
        (InboxState::Pending, "{\"a\":3}", None)
    );
    s.inbox_finish(GH, "d1", Ok("{\"pulled\":1}"), T0 + 5)
        .await
        .unwrap();
    let d = s.inbox_get(GH, "d1").await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.payload.as_str(), d.result.as_deref()),
        (InboxState::Done, "", Some("{\"pulled\":1}"))
    );
    // A done delivery is not reopened by a redelivery.
    s.inbox_put(GH, "d1", "{\"a\":4}", T0 + 6).await.unwrap();
    assert_eq!(
        s.inbox_get(GH, "d1").await.unwrap().unwrap().state,
        InboxState::Done
    );
    assert_eq!(s.inbox_pending().await.unwrap().len(), 1);
    // Finished deliveries are forgotten after a week; pending ones are kept.
    s.inbox_put(GH, "d3", "{}", T0 + INBOX_KEEP_MS + 10)
        .await
        .unwrap();
    assert!(s.inbox_get(GH, "d1").await.unwrap().is_none());
    assert!(s.inbox_get(GH, "d2").await.unwrap().is_some());
}

pub async fn worklog_links_move_through_their_states(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let (e, f) = (EntryId::new_random(), EntryId::new_random());
    s.mark_worklog_creating(GH, e, "w1", T0).await.unwrap();
    s.mark_worklog_creating(GH, e, "w1", T0).await.unwrap();
    let w = s.worklog_links(GH, e).await.unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(
        (
            w[0].worklog_id.as_str(),
            w[0].state,
            w[0].remote_id.as_deref()
        ),
        ("w1", WorklogLinkState::Creating, None)
    );
    s.set_worklog_linked(GH, e, "w1", "wl-1", WorklogLinkState::Linked, "h1", T0)
        .await
        .unwrap();
    // Pulled from the remote: its own state, and the same remote id may not link twice.
    s.set_worklog_linked(
        GH,
        e,
        "jira-wl-2",
        "wl-2",
        WorklogLinkState::Pulled,
        "h2",
        T0,
    )
    .await
    .unwrap();
    let w = s.worklog_link_by_remote(GH, "wl-1").await.unwrap().unwrap();
    assert_eq!(
        (
            w.entry_id,
            w.worklog_id.as_str(),
            w.state,
            w.hash.as_deref()
        ),
        (e, "w1", WorklogLinkState::Linked, Some("h1"))
    );
    let w = s.worklog_link_by_remote(GH, "wl-2").await.unwrap().unwrap();
    assert_eq!(w.state, WorklogLinkState::Pulled);
    assert!(
        s.worklog_link_by_remote(GH, "wl-9")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.worklog_links(GH, f).await.unwrap().is_empty());
    assert!(s.worklog_links("jira", e).await.unwrap().is_empty());
    // An edit agreed on: the hash moves, the link stays.
    s.set_worklog_linked(GH, e, "w1", "wl-1", WorklogLinkState::Linked, "h1b", T0 + 1)
        .await
        .unwrap();
    let w = s.worklog_links(GH, e).await.unwrap();
    assert_eq!(w.len(), 2);
    let w1 = w.iter().find(|l| l.worklog_id == "w1").unwrap();
    assert_eq!(
        (w1.state, w1.hash.as_deref()),
        (WorklogLinkState::Linked, Some("h1b"))
    );
    // Deleted: a tombstone keeping the remote id; a worklog without a link is a no-op.
    s.set_worklog_deleted(GH, e, "w1", T0 + 2).await.unwrap();
    s.set_worklog_deleted(GH, e, "w9", T0 + 2).await.unwrap();
    let w = s.worklog_link_by_remote(GH, "wl-1").await.unwrap().unwrap();
    assert_eq!(
        (w.worklog_id.as_str(), w.state, w.remote_id.as_deref()),
        ("w1", WorklogLinkState::Deleted, Some("wl-1"))
    );
    assert_eq!(s.worklog_links(GH, e).await.unwrap().len(), 2);
    // Survives a reopen (another process).
    let again = open(dir.to_path_buf()).await;
    assert_eq!(again.worklog_links(GH, e).await.unwrap().len(), 2);
}

pub async fn notes_actions_attachments_and_pauses(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let (e, f) = (EntryId::new_random(), EntryId::new_random());
    s.mark_note_creating(GH, e, "n1", T0).await.unwrap();
    let n = s.note_links(GH, e).await.unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!(
        (n[0].state, n[0].remote_id.as_deref()),
        (NoteLinkState::Creating, None)
    );
    s.set_note_linked(GH, e, "n1", "c-1", "hash1", T0)
        .await
        .unwrap();
    s.set_note_linked(GH, e, "n2", "c-2", "hash2", T0)
        .await
        .unwrap();
    let n = s.note_link_by_remote(GH, "c-1").await.unwrap().unwrap();
    assert_eq!(
        (n.entry_id, n.note_id.as_str(), n.state, n.hash.as_deref()),
        (e, "n1", NoteLinkState::Linked, Some("hash1"))
    );
    assert_eq!(s.note_links(GH, e).await.unwrap().len(), 2);
    assert!(s.note_link_by_remote(GH, "c-9").await.unwrap().is_none());
    // A deleted note keeps its comment's id (a tombstone); a note without a link is no-op.
    s.set_note_deleted(GH, e, "n2", T0 + 1).await.unwrap();
    s.set_note_deleted(GH, e, "n9", T0 + 1).await.unwrap();
    let n = s.note_link_by_remote(GH, "c-2").await.unwrap().unwrap();
    assert_eq!(
        (n.note_id.as_str(), n.state, n.remote_id.as_deref()),
        ("n2", NoteLinkState::Deleted, Some("c-2"))
    );
    assert_eq!(s.note_links(GH, e).await.unwrap().len(), 2);
    // Restored (an undo) and posted again: linked to the new comment.
    s.mark_note_creating(GH, e, "n2", T0 + 2).await.unwrap();
    s.set_note_linked(GH, e, "n2", "c-3", "hash2", T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        s.note_link_by_remote(GH, "c-3")
            .await
            .unwrap()
            .unwrap()
            .state,
        NoteLinkState::Linked
    );

    assert!(!s.action_applied(GH, "comment:1").await.unwrap());
    s.record_action(GH, "comment:1", e, T0).await.unwrap();
    s.record_action(GH, "comment:1", e, T0).await.unwrap();
    assert!(s.action_applied(GH, "comment:1").await.unwrap());
    assert!(!s.action_applied("jira", "comment:1").await.unwrap());

    s.attach(GH, "pull-request", "7", e, Some("https://x/pull/7"), T0)
        .await
        .unwrap();
    assert_eq!(
        s.attached_entry(GH, "pull-request", "7").await.unwrap(),
        Some(e)
    );
    // Re-attaching moves it and keeps the URL it had.
    s.attach(GH, "pull-request", "7", f, None, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        s.attachments(GH, f).await.unwrap(),
        [(
            "pull-request".to_string(),
            "7".to_string(),
            Some("https://x/pull/7".to_string())
        )]
    );
    assert!(s.attachments(GH, e).await.unwrap().is_empty());
    s.attach(GH, "pipeline-run", "31", e, None, T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        s.attached_of_kind(GH, "pull-request").await.unwrap(),
        [("7".to_string(), f, Some("https://x/pull/7".to_string()))]
    );
    assert_eq!(
        s.attached_of_kind(GH, "pipeline-run").await.unwrap(),
        [("31".to_string(), e, None)]
    );
    assert!(
        s.attached_of_kind("jira", "pull-request")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.detach(GH, "pipeline-run", "31").await.unwrap());
    assert!(s.detach(GH, "pull-request", "7").await.unwrap());
    assert!(!s.detach(GH, "pull-request", "7").await.unwrap());
    assert_eq!(
        s.attached_entry(GH, "pull-request", "7").await.unwrap(),
        None
    );

    assert_eq!(s.paused_until(GH, T0).await.unwrap(), None);
    s.pause(GH, T0 + 60_000, "rate limited").await.unwrap();
    s.pause(GH, T0 + 90_000, "rate limited again")
        .await
        .unwrap();
    assert_eq!(
        s.paused_until(GH, T0).await.unwrap(),
        Some((T0 + 90_000, "rate limited again".to_string()))
    );
    assert_eq!(s.paused_until(GH, T0 + 90_000).await.unwrap(), None);
}

fn cached(tag: &str, body: usize) -> HttpCacheEntry {
    HttpCacheEntry {
        etag: format!("\"{tag}\""),
        body: vec![b'x'; body],
        headers: vec![("link".into(), format!("<{tag}>"))],
    }
}

pub async fn http_cache_evicts_the_least_recently_used(open: SyncOpener, dir: &Path) {
    let s = open(dir.to_path_buf()).await;
    let long_url = format!("https://api.example/{}", "p".repeat(3000));
    s.http_cache_put("id", "https://a", &cached("a", 10), 3, 1000)
        .await
        .unwrap();
    s.http_cache_put("id", &long_url, &cached("b", 10), 3, 1000)
        .await
        .unwrap();
    s.http_cache_put("other", "https://a", &cached("c", 10), 3, 1000)
        .await
        .unwrap();
    let got = s.http_cache_get("id", &long_url).await.unwrap().unwrap();
    assert_eq!(got, cached("b", 10));
    // `a` is now the least recently used of three: a fourth row evicts it.
    assert!(s.http_cache_get("id", "https://a").await.unwrap().is_some());
    assert!(
        s.http_cache_get("other", "https://a")
            .await
            .unwrap()
            .is_some()
    );
    assert!(s.http_cache_get("id", &long_url).await.unwrap().is_some());
    s.http_cache_put("id", "https://d", &cached("d", 10), 3, 1000)
        .await
        .unwrap();
    assert!(s.http_cache_get("id", "https://a").await.unwrap().is_none());
    let size = cached("d", 10).size() as u64;
    assert_eq!(s.http_cache_size().await.unwrap(), (3, 3 * size));
    // The byte bound: a big entry pushes out older ones.
    s.http_cache_put("id", "https://big", &cached("big", 900), 10, 1000)
        .await
        .unwrap();
    let (rows, bytes) = s.http_cache_size().await.unwrap();
    assert!(bytes <= 1000, "{rows} rows, {bytes} bytes");
    assert!(
        s.http_cache_get("id", "https://big")
            .await
            .unwrap()
            .is_some()
    );
    // Replacing keeps one row; an entry over the bound on its own is not kept.
    s.http_cache_put("id", "https://big", &cached("big2", 5000), 10, 1000)
        .await
        .unwrap();
    assert!(
        s.http_cache_get("id", "https://big")
            .await
            .unwrap()
            .is_none()
    );
    s.http_cache_remove("id", "https://d").await.unwrap();
    assert!(s.http_cache_get("id", "https://d").await.unwrap().is_none());
}

pub async fn state_survives_reopen(open: SyncOpener, dir: &Path) {
    let e = EntryId::new_random();
    {
        let s = open(dir.to_path_buf()).await;
        s.set_linked(GH, e, "1", None, &fields("a"), T0)
            .await
            .unwrap();
        s.set_cursor(GH, CursorKind::Pull, "c").await.unwrap();
        s.enqueue_one(GH, e, T0).await.unwrap();
    }
    let s = open(dir.to_path_buf()).await;
    assert_eq!(
        s.link(GH, e).await.unwrap().unwrap().state,
        LinkState::Linked
    );
    assert_eq!(
        s.cursor(GH, CursorKind::Pull).await.unwrap().as_deref(),
        Some("c")
    );
    assert_eq!(s.open_jobs().await.unwrap().len(), 1);
    assert!(!s.describe().is_empty());
}
