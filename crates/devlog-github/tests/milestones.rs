//! Per-entry milestones ⇄ GitHub milestones: the engine against the fake GitHub (every
//! request checked against GitHub's OpenAPI description when the fake is dropped).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use chrono::NaiveDate;
use devlog_core::merge::SyncedField;
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::planning::{MilestoneState, NewMilestone};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_github::{GithubConfig, GithubIntegration};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{PlannedOp, SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::{FakeRemote, Fault};

const TOKEN: &str = "ghp_test_token_value_1234";
const LIST: &str = "GET /repos/acme/widgets/milestones";
const CREATE: &str = "POST /repos/acme/widgets/milestones";

struct Rig {
    remote: FakeRemote,
    gh: FakeGithub,
    engine: SyncEngine,
    app: Devlog,
    _dir: tempfile::TempDir,
}

async fn rig_with(edit: impl FnOnce(&mut GithubConfig)) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let mut cfg = GithubConfig::new("acme/widgets", SecretString::from(TOKEN.to_string())).unwrap();
    cfg.api_url = remote.url();
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
    let engine = SyncEngine::new(store.clone(), state, vec![Arc::new(github)], opts);
    Rig {
        remote,
        gh,
        engine,
        app: Devlog::new(store),
        _dir: dir,
    }
}

async fn rig() -> Rig {
    rig_with(|_| {}).await
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

impl Rig {
    async fn sync(&self) -> devlog_sync::SyncReport {
        self.engine.sync(None, None, &quiet).await.unwrap()
    }

    async fn milestone(&self, name: &str, description: &str, due: Option<&str>) {
        self.app
            .create_milestone(NewMilestone {
                name: name.into(),
                description: description.into(),
                due: due.map(String::from),
            })
            .await
            .unwrap();
    }

    async fn entry(&self, title: &str, milestone: Option<&str>) -> devlog_core::entry::Entry {
        self.app
            .create(
                NewEntry {
                    title: title.into(),
                    kind: Some(devlog_core::entry::EntryType::Task),
                    milestone: milestone.map(String::from),
                    ..NewEntry::default()
                },
                &cli(),
            )
            .await
            .unwrap()
            .into_entry()
    }

    async fn set_milestone(&self, id: devlog_core::id::EntryId, m: &str) {
        self.app
            .edit(
                id,
                Edit {
                    milestone: Some(m.into()),
                    ..Edit::default()
                },
                &cli(),
            )
            .await
            .unwrap();
    }

    async fn get(&self, id: devlog_core::id::EntryId) -> devlog_core::entry::Entry {
        self.app.store().get(id).await.unwrap()
    }

    fn issue_of(&self, n: u64) -> devlog_testkit::fake_github::GhIssue {
        self.gh.issue(n).unwrap()
    }

    fn number_of(&self, title: &str) -> u64 {
        self.gh
            .milestones()
            .iter()
            .find(|m| m.title == title)
            .unwrap()
            .number
    }
}

#[tokio::test]
async fn a_missing_milestone_is_created_with_the_local_description_and_due_date_once() {
    let r = rig().await;
    r.milestone("Sprint 1", "The first sprint", Some("2026-12-24"))
        .await;
    let a = r.entry("First", Some("Sprint 1")).await;
    let b = r.entry("Second", Some("Sprint 1")).await;
    let report = r.sync().await;
    assert_eq!(report.created, 2, "{report:?}");
    let ms = r.gh.milestones();
    assert_eq!(ms.len(), 1, "one milestone for both entries: {ms:?}");
    let m = &ms[0];
    assert_eq!(m.title, "Sprint 1");
    assert_eq!(m.description.as_deref(), Some("The first sprint"));
    assert_eq!(
        m.due_on.unwrap().date_naive(),
        date("2026-12-24"),
        "{:?}",
        m.due_on
    );
    for issue in r.gh.issues() {
        assert_eq!(issue.milestone, Some(m.number), "{issue:?}");
    }
    // Listed once in the run (then remembered, with the one devlog created).
    assert_eq!(r.remote.requests_matching(LIST).len(), 1);
    assert_eq!(r.remote.requests_matching(CREATE).len(), 1);
    // In step afterwards: nothing more to send, the entries keep their milestone.
    let again = r.sync().await;
    assert_eq!((again.updated, again.created), (0, 0), "{again:?}");
    for id in [a.id, b.id] {
        assert_eq!(r.get(id).await.milestone.as_deref(), Some("Sprint 1"));
    }
    assert_eq!(r.gh.milestones().len(), 1);
}

#[tokio::test]
async fn an_existing_milestone_is_found_by_title_and_a_lost_create_makes_no_duplicate() {
    let r = rig().await;
    let existing = r.gh.add_milestone("v1.4");
    r.milestone("v1.4", "", None).await;
    r.milestone("v2.0", "Next major", None).await;
    let a = r.entry("In 1.4", Some("v1.4")).await;
    r.sync().await;
    assert_eq!(r.issue_of(1).milestone, Some(existing.number));
    assert!(r.remote.requests_matching(CREATE).is_empty());

    // The create of v2.0 reaches GitHub but its answer is lost: the retry finds it by title.
    r.set_milestone(a.id, "v2.0").await;
    r.remote
        .inject(Fault::on("POST /repos/acme/widgets/milestones").apply_then_drop());
    let first = r.sync().await;
    assert!(!first.failed.is_empty(), "{first:?}");
    let second = r.sync().await;
    assert!(second.failed.is_empty(), "{second:?}");
    let titles: Vec<String> = r.gh.milestones().into_iter().map(|m| m.title).collect();
    assert_eq!(titles, ["v1.4", "v2.0"]);
    assert_eq!(r.issue_of(1).milestone, Some(r.number_of("v2.0")));
}

#[tokio::test]
async fn clearing_the_field_clears_the_issues_milestone() {
    let r = rig().await;
    r.milestone("Sprint 1", "", None).await;
    let e = r.entry("Work", Some("Sprint 1")).await;
    r.sync().await;
    assert!(r.issue_of(1).milestone.is_some());
    r.set_milestone(e.id, "none").await;
    let plan = r.engine.plan(None, None, false).await.unwrap();
    assert!(
        plan.iter().any(|op| matches!(op,
            PlannedOp::Update { fields, .. } if fields.contains(SyncedField::Milestone))),
        "{plan:?}"
    );
    let report = r.sync().await;
    assert_eq!(report.updated, 1, "{report:?}");
    assert_eq!(r.issue_of(1).milestone, None);
    let patch = r
        .remote
        .requests_matching("PATCH /repos/acme/widgets/issues/1")
        .pop()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&patch.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"milestone": null}),
        "only the milestone is sent"
    );
    // The milestone itself stays on GitHub.
    assert_eq!(r.gh.milestones().len(), 1);
}

#[tokio::test]
async fn a_pulled_milestone_sets_the_entry_and_creates_the_local_milestone() {
    let r = rig().await;
    let e = r.entry("Work", None).await;
    r.sync().await;
    let m = r.gh.add_milestone("Q3 goals");
    r.gh.edit_milestone(m.number, |m| {
        m.description = Some("What we promised".into());
        m.due_on = Some("2026-09-30T07:00:00Z".parse().unwrap());
    });
    r.gh.edit_issue(1, |i| {
        i.milestone = Some(m.number);
        i.updated_at = chrono::Utc::now();
    });
    let plan = r.engine.plan(None, None, true).await.unwrap();
    assert!(
        plan.iter().any(|op| matches!(op,
            PlannedOp::PullUpdate { fields, .. } if fields.contains(SyncedField::Milestone))),
        "{plan:?}"
    );
    let report = r.sync().await;
    assert_eq!(report.applied, 1, "{report:?}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("created milestone `Q3 goals`")),
        "said to the user: {report:?}"
    );
    assert_eq!(r.get(e.id).await.milestone.as_deref(), Some("Q3 goals"));
    let local = r.app.find_milestone("Q3 goals").await.unwrap();
    assert_eq!(local.description, "What we promised");
    assert_eq!(local.due_date, Some(date("2026-09-30")));
    assert_eq!(local.state, MilestoneState::Open);
    // Nothing echoes back, no milestone is created on GitHub.
    let again = r.sync().await;
    assert_eq!(again.updated, 0, "{again:?}");
    assert!(r.remote.requests_matching(CREATE).is_empty());

    // Removed on GitHub: the entry leaves it; the local milestone stays.
    r.gh.edit_issue(1, |i| {
        i.milestone = None;
        i.updated_at = chrono::Utc::now();
    });
    r.sync().await;
    assert_eq!(r.get(e.id).await.milestone, None);
    assert!(r.app.find_milestone("Q3 goals").await.is_ok());
}

#[tokio::test]
async fn the_configured_milestone_applies_only_to_entries_without_one() {
    let r = rig_with(|c| c.milestone = Some("Backlog".into())).await;
    let backlog = r.gh.add_milestone("Backlog");
    r.milestone("Sprint 1", "", None).await;
    let with = r.entry("Planned", Some("Sprint 1")).await;
    let without = r.entry("Unplanned", None).await;
    r.sync().await;
    let by_title = |t: &str| {
        r.gh.issues()
            .into_iter()
            .find(|i| i.title == t)
            .unwrap()
            .milestone
    };
    assert_eq!(by_title("Planned"), Some(r.number_of("Sprint 1")));
    assert_eq!(by_title("Unplanned"), Some(backlog.number));
    // The issue is in the configured milestone: the next pull puts the entry there too.
    r.sync().await;
    assert_eq!(
        r.get(without.id).await.milestone.as_deref(),
        Some("Backlog")
    );
    assert_eq!(r.get(with.id).await.milestone.as_deref(), Some("Sprint 1"));
}

#[tokio::test]
async fn milestones_are_listed_once_per_sync_run() {
    let r = rig().await;
    r.milestone("Sprint 1", "", None).await;
    r.milestone("Sprint 2", "", None).await;
    let ids = [
        r.entry("a", Some("Sprint 1")).await.id,
        r.entry("b", Some("Sprint 2")).await.id,
        r.entry("c", Some("Sprint 1")).await.id,
    ];
    r.sync().await;
    assert_eq!(r.remote.requests_matching(LIST).len(), 1);
    for id in ids {
        r.set_milestone(id, "Sprint 2").await;
    }
    r.sync().await;
    // A new run lists them again (a milestone may have been made or removed meanwhile).
    assert_eq!(r.remote.requests_matching(LIST).len(), 2);
    assert_eq!(r.gh.milestones().len(), 2);
}
