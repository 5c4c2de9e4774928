//! One entry in three trackers at once (issue 19 item 10): the sync engine with the real
//! GitHub, Jira and Azure DevOps integrations against the test kit's three fakes (each checks
//! every request against the official API description), status owned by Jira and the title
//! by devlog (`[sync] owners`).
//!
//! - A create makes one item in each tracker; a second sync writes nothing anywhere.
//! - A local edit is one update in each tracker.
//! - A change made in Jira comes back to the entry and goes on to GitHub and Azure DevOps;
//!   Jira is not written again (no echo), and the next sync is idle (no ping-pong).
//! - A title changed both in GitHub and locally: devlog owns it, the local title wins
//!   everywhere. A status changed both in Jira and locally: Jira owns it, Jira's wins
//!   everywhere. `--plan` says which rule decides.
//! - A sync process killed (abort, as `kill -9`) in the middle of the fan-out, after a remote
//!   write it did not record, then restarted: each remote item exists exactly once and all
//!   three trackers converge with the entry.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use devlog_core::entry::{EntryType, Status};
use devlog_core::id::EntryId;
use devlog_core::merge::{FieldOwner, Rule, Side, SyncedField};
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_sync::{PlannedOp, SyncEngine, SyncReport, SyncState};
use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
use devlog_testkit::fake_remote::{FakeState, RecordedRequest};
use devlog_testkit::integration_conformance::{GithubProbe, JiraProbe};

#[path = "support/three.rs"]
mod three;

/// The three fakes.
struct Trackers {
    gh: GithubProbe,
    jira: JiraProbe,
    ado: AdoProbe,
}

impl Trackers {
    async fn start() -> Self {
        let gh = GithubProbe::start(three::OWNER, three::REPO, three::GITHUB_TOKEN).await;
        let jira = JiraProbe::start(three::JIRA_PROJECT).await;
        // Jira's clock is ours (give or take): its pulls reach back from now.
        let st = jira.remote.state();
        if let Ok(d) = (chrono::Utc::now() - st.now()).to_std() {
            st.advance(d);
        }
        let ado = AdoProbe::start(three::ADO_ORG, three::ADO_PROJECT, FakeProcess::Agile).await;
        Self { gh, jira, ado }
    }

    fn urls(&self) -> (String, String, String) {
        (
            self.gh.remote.url(),
            self.jira.remote.url(),
            self.ado.organization_url(),
        )
    }

    /// The write requests each tracker received so far: (GitHub, Jira, Azure DevOps).
    fn writes(&self) -> [Vec<String>; 3] {
        [
            writes(self.gh.remote.state()),
            writes(self.jira.remote.state()),
            writes(self.ado.remote.state()),
        ]
    }

    fn write_counts(&self) -> [usize; 3] {
        self.writes().map(|w| w.len())
    }

    /// The GitHub issue, Jira issue and Azure DevOps work item carrying `id`'s marker, each
    /// asserted to exist exactly once.
    fn items_of(&self, id: EntryId) -> (u64, String, u64) {
        let marker = devlog_github::marker(id);
        let gh: Vec<u64> = self
            .gh
            .github
            .issues()
            .into_iter()
            .filter(|i| i.body.as_deref().unwrap_or_default().contains(&marker))
            .map(|i| i.number)
            .collect();
        let jira: Vec<String> = self
            .jira
            .jira
            .issues()
            .into_iter()
            .filter(|i| {
                i.properties.get("devlog").and_then(|p| p.get("id"))
                    == Some(&serde_json::json!(id.to_string()))
            })
            .map(|i| i.key)
            .collect();
        let tag = format!("devlog:{id}");
        let ado: Vec<u64> = self
            .ado
            .ado
            .items()
            .into_iter()
            .filter(|w| {
                w.str_field("System.Tags")
                    .split(';')
                    .any(|t| t.trim().eq_ignore_ascii_case(&tag))
            })
            .map(|w| w.id)
            .collect();
        assert_eq!(gh.len(), 1, "one GitHub issue for {id}: {gh:?}");
        assert_eq!(jira.len(), 1, "one Jira issue for {id}: {jira:?}");
        assert_eq!(ado.len(), 1, "one work item for {id}: {ado:?}");
        (gh[0], jira[0].clone(), ado[0])
    }

    /// What each tracker holds for `id`: (title, status) as GitHub, Jira and Azure DevOps
    /// show them.
    fn remote_view(&self, id: EntryId) -> [(String, String); 3] {
        let (n, key, w) = self.items_of(id);
        let gh = self.gh.github.issue(n).unwrap();
        let jira = self.jira.jira.issue(&key).unwrap();
        let ado = self.ado.ado.item(w).unwrap();
        [
            (gh.title, gh.state),
            (jira.summary, jira.status),
            (
                ado.str_field("System.Title").to_string(),
                ado.str_field("System.State").to_string(),
            ),
        ]
    }

    /// Every tracker shows `title` and the state standing for `status`.
    fn assert_shows(&self, id: EntryId, title: &str, status: Status, when: &str) {
        let (gh_state, jira_status, ado_state) = match status {
            Status::New => ("open", "To Do", "New"),
            Status::InProgress => ("open", "In Progress", "Active"),
            Status::Done => ("closed", "Done", "Closed"),
            other => panic!("no expectation for {other}"),
        };
        let view = self.remote_view(id);
        let want = [
            (title.to_string(), gh_state.to_string()),
            (title.to_string(), jira_status.to_string()),
            (title.to_string(), ado_state.to_string()),
        ];
        assert_eq!(view, want, "{when}: GitHub, Jira, Azure DevOps");
    }

    /// No fake saw a request its API description does not allow.
    fn assert_contracts(&self) {
        assert_eq!(self.gh.github.check_contract(), Vec::<String>::new());
        assert_eq!(self.jira.jira.check_contract(), Vec::<String>::new());
        assert_eq!(self.ado.ado.check_contract(), Vec::<String>::new());
    }
}

/// The requests that change something: every request but reads (GETs, and the POSTs that
/// only query: Jira's JQL search, Azure DevOps' WIQL and work-item batch reads).
fn writes(st: &FakeState) -> Vec<String> {
    st.requests()
        .iter()
        .filter(|r: &&RecordedRequest| {
            r.method != "GET"
                && r.method != "HEAD"
                && !r.path.contains("/search")
                && !r.path.ends_with("/wiql")
                && !r.path.ends_with("/workitemsbatch")
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

struct Rig {
    t: Trackers,
    app: Devlog,
    engine: SyncEngine,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Self {
        let t = Trackers::start().await;
        let (gh, jira, ado) = t.urls();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".devlog");
        let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
        let state = SyncState::open(&root.join(".state/sync.sqlite"))
            .await
            .unwrap();
        let engine = SyncEngine::new(
            store.clone(),
            state,
            three::integrations(&gh, &jira, &ado).unwrap(),
            three::options(),
        );
        Self {
            t,
            app: Devlog::new(store),
            engine,
            _dir: dir,
        }
    }

    async fn sync(&self) -> SyncReport {
        let r = self.engine.sync(None, None, &quiet).await.unwrap();
        assert!(r.failed.is_empty(), "{r:#?}");
        assert_eq!(r.conflicts, 0, "no conflict is left for a person: {r:#?}");
        r
    }

    /// A sync that changes nothing anywhere: no write to any tracker, no entry written.
    async fn assert_idle(&self, when: &str) {
        let before = self.t.writes();
        let r = self.sync().await;
        let after = self.t.writes();
        for (i, name) in ["GitHub", "Jira", "Azure DevOps"].iter().enumerate() {
            assert_eq!(
                after[i][before[i].len()..],
                [] as [String; 0],
                "{when}: the idle sync wrote to {name}: {r:#?}"
            );
        }
        assert_eq!(
            (r.created, r.updated, r.applied, r.settled.len()),
            (0, 0, 0, 0),
            "{when}: idle: {r:#?}"
        );
    }

    async fn edit(&self, id: EntryId, edit: Edit) {
        self.app.edit(id, edit, &cli()).await.unwrap();
    }

    async fn entry(&self, id: EntryId) -> devlog_core::entry::Entry {
        self.app.store().get(id).await.unwrap()
    }
}

async fn create(app: &Devlog, title: &str) -> EntryId {
    app.create(
        NewEntry {
            title: title.into(),
            kind: Some(EntryType::Feature),
            description: "Shoppers on Safari 17 cannot pay.".into(),
            ..NewEntry::default()
        },
        &cli(),
    )
    .await
    .unwrap()
    .into_entry()
    .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_entry_fans_out_to_three_trackers_without_echo_and_owners_settle_conflicts() {
    let r = Rig::start().await;
    let id = create(&r.app, "Checkout fails on Safari").await;

    // Create: one item in each tracker.
    let rep = r.sync().await;
    assert_eq!(rep.created, 3, "{rep:#?}");
    r.t.assert_shows(id, "Checkout fails on Safari", Status::New, "created");
    let refs: Vec<String> = r
        .entry(id)
        .await
        .external_references
        .iter()
        .map(|x| x.system.clone())
        .collect();
    assert_eq!(refs, ["github", "jira", "azure-devops"]);
    r.assert_idle("after the create").await;

    // A local edit: one update in each tracker.
    let before = r.t.write_counts();
    r.edit(
        id,
        Edit {
            title: Some("Checkout fails on Safari 17".into()),
            ..Edit::default()
        },
    )
    .await;
    let rep = r.sync().await;
    assert_eq!(rep.updated, 3, "{rep:#?}");
    let after = r.t.write_counts();
    assert_eq!(
        [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ],
        [1, 1, 1],
        "one write per tracker: {:#?}",
        r.t.writes()
    );
    r.t.assert_shows(id, "Checkout fails on Safari 17", Status::New, "local edit");
    r.assert_idle("after the local edit").await;

    // A change made in Jira: back to the entry, on to GitHub and Azure DevOps, not echoed to
    // Jira.
    let (_, key, _) = r.t.items_of(id);
    r.t.jira
        .jira
        .edit_issue(&key, |i| i.status = "In Progress".into());
    let before = r.t.write_counts();
    let rep = r.sync().await;
    let after = r.t.write_counts();
    assert_eq!(r.entry(id).await.status, Status::InProgress, "{rep:#?}");
    assert_eq!((rep.applied, rep.updated), (1, 2), "{rep:#?}");
    assert_eq!(
        [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ],
        [1, 0, 1],
        "GitHub and Azure DevOps updated once, Jira not written: {:#?}",
        r.t.writes()
    );
    r.t.assert_shows(
        id,
        "Checkout fails on Safari 17",
        Status::InProgress,
        "Jira's change fanned out",
    );
    r.assert_idle("after Jira's change").await;

    // The title changed in GitHub and here: devlog owns the title, the local one wins
    // everywhere.
    let (number, _, _) = r.t.items_of(id);
    r.t.gh
        .github
        .edit_issue(number, |i| i.title = "Safari checkout (triaged)".into());
    r.edit(
        id,
        Edit {
            title: Some("Checkout fails on Safari 17 and 18".into()),
            ..Edit::default()
        },
    )
    .await;
    let plan = r.engine.plan(None, None, true).await.unwrap();
    let settle = plan
        .iter()
        .find(|op| matches!(op, PlannedOp::Settle { .. }))
        .unwrap_or_else(|| panic!("the plan settles the title: {plan:#?}"));
    let PlannedOp::Settle {
        integration,
        field,
        winner,
        rule,
        ..
    } = settle
    else {
        unreachable!()
    };
    assert_eq!(
        (integration.as_str(), *field, *winner),
        ("github", SyncedField::Title, Side::Local)
    );
    assert_eq!(
        rule,
        &Rule::Owner {
            owner: FieldOwner::Devlog
        }
    );
    assert!(
        settle
            .to_string()
            .contains("local wins (title owned by devlog)"),
        "{settle}"
    );
    let rep = r.sync().await;
    assert_eq!(rep.settled.len(), 1, "{rep:#?}");
    assert_eq!(rep.settled[0].settled.winner, Side::Local);
    assert!(
        rep.notes
            .iter()
            .any(|n| n.contains("title owned by devlog")),
        "{rep:#?}"
    );
    assert_eq!(
        r.entry(id).await.title,
        "Checkout fails on Safari 17 and 18"
    );
    r.t.assert_shows(
        id,
        "Checkout fails on Safari 17 and 18",
        Status::InProgress,
        "title owned by devlog",
    );
    r.assert_idle("after the title conflict").await;

    // The status changed in Jira and here: Jira owns the status, its value wins everywhere.
    r.t.jira.jira.edit_issue(&key, |i| i.status = "Done".into());
    r.edit(
        id,
        Edit {
            status: Some(Status::New),
            ..Edit::default()
        },
    )
    .await;
    let plan = r.engine.plan(None, None, true).await.unwrap();
    let line = plan
        .iter()
        .find(|op| matches!(op, PlannedOp::Settle { .. }))
        .map(ToString::to_string)
        .unwrap_or_else(|| panic!("the plan settles the status: {plan:#?}"));
    assert!(
        line.starts_with("jira: conflict on status")
            && line.contains("remote wins (status owned by jira)"),
        "{line}"
    );
    let before = r.t.write_counts();
    let rep = r.sync().await;
    let after = r.t.write_counts();
    assert_eq!(rep.settled.len(), 1, "{rep:#?}");
    assert_eq!(
        (
            rep.settled[0].integration.as_str(),
            rep.settled[0].settled.winner
        ),
        ("jira", Side::Remote)
    );
    assert_eq!(r.entry(id).await.status, Status::Done);
    assert_eq!(
        after[1] - before[1],
        0,
        "Jira not written: {:#?}",
        r.t.writes()
    );
    r.t.assert_shows(
        id,
        "Checkout fails on Safari 17 and 18",
        Status::Done,
        "status owned by jira",
    );
    r.assert_idle("after the status conflict").await;

    // Two trackers change the status in one sync (GitHub closes the issue as not planned,
    // Jira moves it back to In Progress): GitHub's pull comes first and takes its value
    // (closed) into the entry, then Jira's pull meets it as a conflict, and Jira owns the
    // status: Jira's value ends everywhere, whichever order the pulls ran in.
    let (number, key, _) = r.t.items_of(id);
    r.t.gh
        .github
        .edit_issue(number, |i| i.state_reason = Some("not_planned".into()));
    r.t.jira
        .jira
        .edit_issue(&key, |i| i.status = "In Progress".into());
    let rep = r.sync().await;
    assert_eq!(r.entry(id).await.status, Status::InProgress, "{rep:#?}");
    assert!(
        rep.settled
            .iter()
            .any(|s| s.integration == "jira" && s.settled.winner == Side::Remote),
        "{rep:#?}"
    );
    r.t.assert_shows(
        id,
        "Checkout fails on Safari 17 and 18",
        Status::InProgress,
        "GitHub and Jira both moved the status",
    );
    r.assert_idle("after two trackers moved the status").await;
    r.t.assert_contracts();
}

// ---- kill -9 in the middle of the fan-out ----

fn driver() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/examples/three_sync_once
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("three_sync_once");
    // Built every time (a no-op when fresh): `cargo test --test three_trackers` does not
    // build examples, and a driver left from an older build would test older code.
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "devlog-sync", "--example", "three_sync_once"])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "building the three_sync_once driver failed"
        );
    });
    path
}

/// Runs one sync process; returns whether it crashed (at its crash point: anything else is a
/// failure).
fn run_sync(dir: &Path, t: &Trackers, point: Option<&str>) -> bool {
    let (gh, jira, ado) = t.urls();
    let mut c = Command::new(driver());
    c.env("DEVLOG_DIR", dir)
        .env("GITHUB_API_URL", gh)
        .env("JIRA_BASE_URL", jira)
        .env("ADO_ORG_URL", ado);
    if let Some(p) = point {
        c.env("DEVLOG_FAILPOINT", p);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            point.is_some() || report["failed"].as_array().unwrap().is_empty(),
            "{report}"
        );
        return false;
    }
    assert!(
        point.is_some() && stderr.contains("aborting"),
        "sync failed without its crash point: {stderr}"
    );
    true
}

async fn open(dir: &Path) -> Devlog {
    Devlog::new(Arc::new(devlog_store::JsonStore::open(dir).await.unwrap()) as Arc<dyn Store>)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_killed_after_an_unrecorded_remote_write_resumes_exactly_once() {
    assert!(driver().is_file());
    // (what happens before the crash, the crash point and its pass)
    let cases = [
        // GitHub's create recorded, Jira's made but not recorded, Azure DevOps' not sent.
        ("create", "push.create.before-record@2"),
        // GitHub's update sent but not recorded; the others not sent.
        ("local edit", "push.update.before-record@1"),
        // Jira's change pulled; GitHub's update recorded, Azure DevOps' sent, not recorded.
        ("jira change", "push.update.before-record@2"),
    ];
    for (what, point) in cases {
        let t = Trackers::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".devlog");
        let app = open(&dir).await;
        let a = create(&app, "Alpha").await;
        let b = create(&app, "Beta").await;
        let mut want = [
            (a, "Alpha".to_string(), Status::New),
            (b, "Beta".to_string(), Status::New),
        ];
        if what != "create" {
            assert!(!run_sync(&dir, &t, None), "{what}: first sync");
        }
        let before = t.write_counts();
        match what {
            "local edit" => {
                app.edit(
                    a,
                    Edit {
                        title: Some("Alpha (edited)".into()),
                        ..Edit::default()
                    },
                    &cli(),
                )
                .await
                .unwrap();
                want[0].1 = "Alpha (edited)".into();
            }
            "jira change" => {
                let (_, key, _) = t.items_of(b);
                t.jira.jira.edit_issue(&key, |i| i.status = "Done".into());
                want[1].2 = Status::Done;
            }
            _ => {}
        }
        assert!(
            run_sync(&dir, &t, Some(point)),
            "{what}: the crash point {point} was reached"
        );
        // Restart; then a further sync has nothing left to do anywhere.
        assert!(!run_sync(&dir, &t, None), "{what}: restart");
        let settled = t.write_counts();
        assert!(!run_sync(&dir, &t, None), "{what}: idle");
        assert_eq!(
            t.write_counts(),
            settled,
            "{what}: the sync after the restart writes nothing: {:#?}",
            t.writes()
        );
        let app = open(&dir).await;
        for (id, title, status) in &want {
            let e = app.store().get(*id).await.unwrap();
            assert_eq!((&e.title, e.status), (title, *status), "{what}: entry");
            // Exactly one item per tracker, showing what the entry holds.
            t.assert_shows(*id, title, *status, &format!("{what} after {point}"));
        }
        assert_eq!(t.gh.github.issues_created(), 2, "{what}: GitHub creates");
        assert_eq!(t.jira.jira.issues().len(), 2, "{what}: Jira issues");
        assert_eq!(t.ado.ado.items().len(), 2, "{what}: work items");
        if what == "jira change" {
            let after = t.write_counts();
            assert_eq!(
                after[1],
                before[1],
                "{what}: Jira's own change is not written back to it: {:#?}",
                t.writes()[1]
            );
        }
        t.assert_contracts();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_a_tracker_keeps_less_precisely_do_not_ping_pong_between_trackers() {
    let r = Rig::start().await;
    let id = create(&r.app, "Checkout fails on Safari").await;
    r.sync().await;
    for (n, status) in [
        Status::Blocked,
        Status::InReview,
        Status::Testing,
        Status::Closed,
    ]
    .into_iter()
    .enumerate()
    {
        let edit = Edit {
            status: Some(status),
            priority: Some(devlog_core::entry::Priority::ALL[n % 4]),
            add_tags: vec![format!("round-{n}")],
            // Refactor and docs share the Task type in Jira and Azure DevOps.
            kind: Some([EntryType::Refactor, EntryType::Docs][n % 2]),
            description: Some(format!(
                "Shoppers on Safari 17 cannot pay.\n\n- round {n}\n- **bold** and `code`"
            )),
            ..Edit::default()
        };
        r.edit(id, edit).await;
        let wanted = devlog_core::merge::SyncedFields::from_entry(&r.entry(id).await);
        let rep = r.sync().await;
        assert_eq!(rep.updated, 3, "{status}: {rep:#?}");
        let mut rounds = 0;
        loop {
            let before = r.t.writes();
            let rep = r.sync().await;
            if r.t.writes() == before && rep.applied == 0 {
                break;
            }
            rounds += 1;
            assert!(
                rounds < 4,
                "{status}: the trackers keep changing the entry: {rep:#?}"
            );
        }
        let got = devlog_core::merge::SyncedFields::from_entry(&r.entry(id).await);
        assert_eq!(
            got, wanted,
            "{status}: a read-back changed the entry ({rounds} extra rounds)"
        );
        assert_eq!(
            rounds, 0,
            "{status}: settled only after {rounds} extra rounds"
        );
    }
}
