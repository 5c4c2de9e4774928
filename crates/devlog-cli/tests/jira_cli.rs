//! `devlog sync`, `devlog integrations list|check` and `devlog jira link|unlink|sync|status`
//! end to end: the real binary, in a temporary workspace, against the test kit's fake Jira
//! (every request the binary makes is checked against Jira's OpenAPI descriptions when the
//! fake is dropped at the end of each test). The errors a user meets (bad credentials, a
//! transition screen asking for a resolution devlog has none for) are clear on the terminal
//! and recorded on the job.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::path::PathBuf;

use devlog_testkit::fake_remote::Fault;
use devlog_testkit::integration_conformance::JiraProbe;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const TOKEN: &str = "jira_cli_api_token_7d1e0b";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Rig {
    probe: JiraProbe,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

fn jira_table(url: &str) -> String {
    format!(
        "[integrations.jira]\nbaseUrl = \"{url}\"\nprojectKey = \"DEV\"\nemail = \"bot@example.com\"\napiToken = \"${{JIRA_API_TOKEN}}\"\n"
    )
}

async fn rig_with(config: impl FnOnce(&str) -> String) -> Rig {
    let probe = JiraProbe::start("DEV").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(dir.join("devlog.toml"), config(&probe.remote.url())).unwrap();
    let r = Rig {
        probe,
        _tmp: tmp,
        dir,
        home,
    };
    r.ok(&["init"]).await;
    r
}

async fn rig() -> Rig {
    rig_with(jira_table).await
}

impl Rig {
    async fn devlog(&self, args: &[&str]) -> Run {
        let o = tokio::process::Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("JIRA_API_TOKEN", TOKEN)
            .output()
            .await
            .unwrap();
        let run = Run {
            code: o.status.code().unwrap(),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        };
        // The token never reaches the terminal, whatever the command and its outcome.
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(TOKEN),
                "devlog {args:?} printed the token:\n{text}"
            );
        }
        run
    }

    async fn ok(&self, args: &[&str]) -> String {
        let r = self.devlog(args).await;
        assert!(
            r.code == 0,
            "devlog {args:?} failed ({}):\n{}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    async fn fails(&self, args: &[&str]) -> Run {
        let r = self.devlog(args).await;
        assert!(
            r.code != 0,
            "devlog {args:?} should fail:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        r
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("devlog {args:?} --json is not JSON ({e}):\n{out}"))
    }

    fn requests(&self) -> usize {
        self.probe.remote.state().requests().len()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_creates_walks_the_workflow_pulls_and_idles_cheaply() {
    let r = rig().await;
    let list = r.json(&["integrations", "list"]).await;
    let jira = list["known"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "jira")
        .unwrap()
        .clone();
    assert_eq!(jira["available"], true, "{list}");
    assert_eq!(jira["configured"], true, "{list}");
    let check = r.ok(&["integrations", "check"]).await;
    assert!(
        check.contains("jira: ok reached project DEV on ") && check.contains("as devlog bot"),
        "{check}"
    );

    r.ok(&["new", "Sign in with SSO", "--type", "feature"])
        .await;
    let out = r.ok(&["sync"]).await;
    assert!(out.contains("1 created"), "{out}");
    let issue = r.probe.jira.issue("DEV-1").unwrap();
    assert_eq!(issue.summary, "Sign in with SSO");
    assert_eq!(issue.issue_type, "Story");
    assert_eq!(issue.status, "To Do");

    // Done: the plan names the transitions, then the sync walks them.
    r.ok(&["edit", "1", "--status", "done"]).await;
    let before = r.requests();
    let plan = r.ok(&["sync", "--plan"]).await;
    assert!(
        plan.contains("jira: update status of remote DEV-1 for #1")
            && plan.contains("status `To Do` → status `Done` (done)")
            && plan.contains("transition `Start` (`To Do` → `In Progress`)"),
        "{plan}"
    );
    assert!(
        r.probe
            .remote
            .state()
            .requests()
            .iter()
            .skip(before)
            .all(|q| q.method == "GET" || q.path.ends_with("/search/jql")),
        "the plan only reads"
    );
    assert_eq!(r.probe.jira.issue("DEV-1").unwrap().status, "To Do");
    let out = r.ok(&["jira", "sync"]).await;
    assert!(out.contains("1 updated"), "{out}");
    let issue = r.probe.jira.issue("DEV-1").unwrap();
    assert_eq!(issue.status, "Done");
    assert_eq!(issue.resolution.as_deref(), Some("Done"));

    // Renamed in Jira: the next sync brings it.
    r.probe
        .jira
        .edit_issue("DEV-1", |i| i.summary = "SSO sign-in".into());
    r.ok(&["sync"]).await;
    let e = r.json(&["show", "1"]).await;
    assert_eq!(e["title"], "SSO sign-in", "{e}");
    assert_eq!(e["status"], "done", "{e}");

    // Idle: nothing changed on either side costs at most 2 requests.
    let before = r.requests();
    let out = r.ok(&["sync"]).await;
    assert!(out.contains("0 created, 0 updated"), "{out}");
    let spent = r.requests() - before;
    assert!(spent <= 2, "an idle sync made {spent} requests");

    let st = r.json(&["jira", "status"]).await;
    assert_eq!(st["projectKey"], "DEV", "{st}");
    assert_eq!(st["linked"][0]["issue"], "DEV-1", "{st}");
    assert_eq!(st["linked"][0]["state"], "synced", "{st}");
    let text = r.ok(&["jira", "status", "1", "--check"]).await;
    assert!(
        text.starts_with(&format!("Jira: project DEV on {}", r.probe.remote.url()))
            && text.contains("1 linked, 0 pending, 0 failed, 0 conflict(s)")
            && text.contains("issues pulled up to ")
            && text.contains("DEV-1"),
        "{text}"
    );
    assert!(r.probe.jira.check_contract().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn link_adopts_an_existing_issue_and_unlink_releases_it() {
    let r = rig().await;
    let issue = r.probe.jira.insert_issue("Parser crashes on empty input");
    r.probe
        .jira
        .add_comment(&issue.key, "ana", "Seen on 1.2 too.")
        .unwrap();
    r.ok(&["new", "Parser crash", "--type", "bugfix"]).await;
    r.ok(&["new", "Other work", "--type", "task"]).await;
    let url = format!("{}/browse/{}", r.probe.remote.url(), issue.key);
    let out = r.json(&["jira", "link", "1", &url]).await;
    assert_eq!(out["issue"], "DEV-1", "{out}");
    assert_eq!(out["comments"], 1, "{out}");
    let e = r.json(&["show", "1"]).await;
    let id = e["id"].as_str().unwrap();
    assert_eq!(
        r.probe.jira.issue("DEV-1").unwrap().properties["devlog"]["id"],
        id
    );
    assert!(
        e["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["content"] == "Seen on 1.2 too."),
        "{e}"
    );
    // Another entry cannot take the same issue; a key of another project or site is refused.
    let err = r.fails(&["jira", "link", "2", "DEV-1"]).await;
    assert!(err.stderr.contains("already linked"), "{}", err.stderr);
    let err = r.fails(&["jira", "link", "2", "OPS-3"]).await;
    assert!(
        err.stderr.contains("integrations.jira.projectKey is DEV"),
        "{}",
        err.stderr
    );
    let err = r
        .fails(&[
            "jira",
            "link",
            "2",
            "https://elsewhere.atlassian.net/browse/DEV-1",
        ])
        .await;
    assert!(
        err.stderr.contains("integrations.jira.baseUrl"),
        "{}",
        err.stderr
    );
    // The link syncs: the entry's title goes to the issue.
    r.ok(&["jira", "sync", "1"]).await;
    assert_eq!(r.probe.jira.issue("DEV-1").unwrap().summary, "Parser crash");

    let out = r.ok(&["jira", "unlink", "1"]).await;
    assert!(
        out.contains("Unlinked #1 from issue DEV-1; the issue stays on Jira"),
        "{out}"
    );
    assert!(r.probe.jira.issue("DEV-1").unwrap().properties.is_empty());
    let err = r.fails(&["jira", "unlink", "1"]).await;
    assert!(
        err.stderr.contains("not linked to a Jira issue"),
        "{}",
        err.stderr
    );
    // Unlinked on purpose: later syncs create nothing for it.
    let before = r.probe.jira.issues().len();
    r.ok(&["jira", "sync", "1"]).await;
    assert_eq!(r.probe.jira.issues().len(), before);
    assert!(r.probe.jira.check_contract().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_credentials_are_named_and_recorded_on_the_job() {
    let r = rig().await;
    r.ok(&["new", "Sign in with SSO", "--type", "feature"])
        .await;
    let state = r.probe.remote.state();
    state.inject(Fault::on("GET /rest/api/3/myself").status(401));
    let err = r.fails(&["integrations", "check"]).await;
    let all = format!("{}{}", err.stdout, err.stderr);
    assert!(
        all.contains("rejected the credentials: check integrations.jira.email and apiToken"),
        "{all}"
    );
    state.inject(Fault::on("* /rest/api/3/**").status(401).times(50));
    let run = r.devlog(&["sync"]).await;
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("rejected the credentials: check integrations.jira.email and apiToken"),
        "{all}"
    );
    state.clear_faults();
    let st = r.json(&["sync", "status"]).await;
    let jobs = st["jobs"].as_array().unwrap();
    assert!(
        jobs.iter().any(|j| j["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("integrations.jira.email"))),
        "{st}"
    );
    // Credentials fine again: the queued job goes through.
    r.ok(&["sync", "retry", "--all-failed"]).await;
    r.ok(&["sync"]).await;
    assert_eq!(r.probe.jira.issues().len(), 1);
    // A permission missing: the one the refused request needed is named.
    r.ok(&["edit", "1", "--status", "in-progress"]).await;
    state.inject(Fault::on("POST /rest/api/3/issue/*/transitions").status(403));
    let run = r.devlog(&["sync"]).await;
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("lacks the Jira permission \"Transition issues\" in project DEV"),
        "{all}"
    );
    let st = r.ok(&["jira", "status"]).await;
    assert!(st.contains("Transition issues"), "{st}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_that_does_not_exist_is_named_with_its_key() {
    let r =
        rig_with(|url| jira_table(url).replace("projectKey = \"DEV\"", "projectKey = \"NOPE\""))
            .await;
    let err = r.fails(&["integrations", "check"]).await;
    let all = format!("{}{}", err.stdout, err.stderr);
    assert!(
        all.contains("project NOPE not found") && all.contains("integrations.jira.projectKey"),
        "{all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transition_needing_an_unmapped_resolution_blocks_the_entry_naming_the_key() {
    let r = rig_with(|url| {
        format!(
            "{}\n[integrations.jira.statusMapping]\ntesting = \"Done\"\n",
            jira_table(url)
        )
    })
    .await;
    r.ok(&["new", "Sign in with SSO", "--type", "feature"])
        .await;
    r.ok(&["sync"]).await;
    r.ok(&["edit", "1", "--status", "testing"]).await;
    let plan = r.ok(&["sync", "--plan"]).await;
    assert!(plan.contains("transition `Start`"), "{plan}");
    let run = r.devlog(&["sync"]).await;
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("integrations.jira.resolutions.testing")
            && all.contains("requires a resolution")
            && all.contains("allowed: Done, Won't Do"),
        "{all}"
    );
    // Blocked, not retried in a storm: the job is failed with the reason, once.
    let finishes = || {
        r.probe
            .remote
            .state()
            .requests_matching("POST /rest/api/3/issue/*/transitions")
            .len()
    };
    let st = r.ok(&["sync", "status"]).await;
    assert!(
        st.contains("failed (job") && st.contains("integrations.jira.resolutions.testing"),
        "{st}"
    );
    let before = finishes();
    r.devlog(&["sync"]).await;
    assert_eq!(
        finishes(),
        before,
        "a blocked entry is not retried by itself"
    );
    assert!(r.probe.jira.check_contract().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sprints_are_listed_and_linked_issues_move_into_one() {
    let r = rig_with(|url| format!("{}boardId = 7\n", jira_table(url))).await;
    let active = r.probe.jira.add_sprint(
        "Sprint 5",
        "active",
        Some("2026-11-30T09:00:00Z".parse().unwrap()),
        Some("2026-12-14T09:00:00Z".parse().unwrap()),
    );
    let next = r.probe.jira.add_sprint("Sprint 6", "future", None, None);
    r.probe.jira.add_sprint("Sprint 4", "closed", None, None);
    r.ok(&["new", "Sprinted", "--type", "task"]).await;
    r.ok(&["new", "Also sprinted", "--type", "task"]).await;
    r.ok(&["new", "Never synced", "--type", "task"]).await;
    r.ok(&["sync", "--entry", "1"]).await;
    r.ok(&["sync", "--entry", "2"]).await;

    let out = r.ok(&["jira", "sprint", "add", "1", "2"]).await;
    assert!(
        out.contains("#1 (DEV-1), #2 (DEV-2) into sprint Sprint 5 (active)"),
        "{out}"
    );
    assert_eq!(r.probe.jira.sprint_of("DEV-1"), Some(active));
    // One audit record per issue moved.
    async fn moves(r: &Rig) -> Vec<Value> {
        audit::named(&r.ok(&["audit", "export"]).await, "sprint-changed")
    }
    let records = moves(&r).await;
    assert_eq!(records.len(), 2, "{records:?}");
    audit::by_cli(&records[0], "tester");
    assert_eq!(records[0]["what"]["remoteId"], "DEV-1");
    assert_eq!(records[1]["handle"], 2);
    // Again (a retry): both issues are in the sprint already; nothing more is recorded.
    r.ok(&["jira", "sprint", "add", "1", "2"]).await;
    assert_eq!(moves(&r).await.len(), 2);
    let v = r
        .json(&["jira", "sprint", "add", "2", "--sprint", "next"])
        .await;
    assert_eq!(v["sprint"]["name"], "Sprint 6", "{v}");
    assert_eq!(r.probe.jira.sprint_of("DEV-2"), Some(next));
    assert_eq!(moves(&r).await.len(), 3);
    r.ok(&["audit", "verify"]).await;
    // `show` names the sprint from the last pull, without asking Jira.
    r.ok(&["sync", "--entry", "2"]).await;
    let before = r.requests();
    let text = r.ok(&["show", "2"]).await;
    assert!(
        text.contains("jira DEV-2") && text.contains("(sprint Sprint 6)"),
        "{text}"
    );
    let v = r.json(&["show", "1"]).await;
    assert_eq!(v["externalReferences"][0]["sprint"], "Sprint 5", "{v}");
    assert_eq!(r.requests(), before, "show asks Jira nothing");
    // The entry's status names its issue's sprint (one entry: one request to the board).
    let text = r.ok(&["jira", "status", "2"]).await;
    assert!(
        text.contains("DEV-2 is in sprint Sprint 6 (future)"),
        "{text}"
    );
    let v = r.json(&["jira", "status", "3"]).await;
    assert_eq!(v["linked"].as_array().unwrap().len(), 0, "{v}");
    let v = r.json(&["jira", "status", "1"]).await;
    assert_eq!(v["linked"][0]["sprint"]["name"], "Sprint 5", "{v}");
    r.probe
        .jira
        .edit_issue("DEV-1", |i| i.status = "Done".into());

    let v = r.json(&["jira", "sprints"]).await;
    let rows = v["sprints"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "closed sprints only with --all: {v}");
    assert_eq!(
        (
            rows[0]["name"].as_str(),
            rows[0]["done"].as_u64(),
            rows[0]["total"].as_u64()
        ),
        (Some("Sprint 5"), Some(1), Some(1)),
        "{v}"
    );
    let text = r.ok(&["jira", "sprints", "--all"]).await;
    assert!(
        text.contains("Sprint 4") && text.contains("2026-11-30 → 2026-12-14  1/1 done"),
        "{text}"
    );

    // An entry with no issue, a closed or unknown sprint: said, nothing moved.
    let e = r.fails(&["jira", "sprint", "add", "3"]).await;
    assert!(
        e.stderr.contains("#3 is not linked to a Jira issue"),
        "{}",
        e.stderr
    );
    let e = r
        .fails(&["jira", "sprint", "add", "1", "--sprint", "Sprint 4"])
        .await;
    assert!(e.stderr.contains("is closed"), "{}", e.stderr);
    let e = r
        .fails(&["jira", "sprint", "add", "1", "--sprint", "Sprint 9"])
        .await;
    assert!(
        e.stderr.contains("no sprint named `Sprint 9`") && e.stderr.contains("Sprint 6 (future)"),
        "{}",
        e.stderr
    );
    assert_eq!(r.probe.jira.sprint_of("DEV-1"), Some(active));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_write_pauses_the_sync_until_the_resume_time_then_goes_through_once() {
    let r = rig().await;
    r.ok(&["new", "Sign in with SSO", "--type", "feature"])
        .await;
    r.ok(&["sync"]).await;
    assert_eq!(r.probe.jira.issues().len(), 1);
    r.ok(&["edit", "1", "--title", "Sign in with SSO (Okta)"])
        .await;
    let state = r.probe.remote.state();
    state.inject(Fault::on("PUT /rest/api/3/issue/*").rate_limited("3"));
    let started = std::time::Instant::now();
    let run = r.devlog(&["sync"]).await;
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("paused") && all.contains("Jira rate limit reached") && all.contains("3s"),
        "the run says it is rate limited and when it resumes:\n{all}"
    );
    // The job records it, with the time it resumes.
    let st = r.json(&["sync", "status"]).await;
    let jobs = st["jobs"].as_array().unwrap();
    let job = jobs
        .iter()
        .find(|j| {
            j["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("rate limit"))
        })
        .unwrap_or_else(|| panic!("no job records the rate limit: {st}"));
    let resumes = job["nextAt"]
        .as_i64()
        .unwrap_or_else(|| panic!("no resume time: {job}"));
    let updated = job["updatedAt"].as_i64().unwrap();
    assert!(
        (2_500..=3_500).contains(&(resumes - updated)),
        "the job resumes after Retry-After: {job}"
    );
    assert_eq!(
        r.probe.jira.issues()[0].summary,
        "Sign in with SSO",
        "nothing written while limited"
    );
    // Before the resume time a sync sends no write.
    let puts = || state.requests_matching("PUT /rest/api/3/issue/*").len();
    let limited = puts();
    if started.elapsed() < std::time::Duration::from_secs(2) {
        r.devlog(&["sync"]).await;
        assert_eq!(puts(), limited, "no write before the resume time");
    }
    // After it, the change goes through once; nothing is duplicated.
    tokio::time::sleep(std::time::Duration::from_secs(3).saturating_sub(started.elapsed())).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    r.ok(&["sync"]).await;
    let issues = r.probe.jira.issues();
    assert_eq!(issues.len(), 1, "no second issue");
    assert_eq!(issues[0].summary, "Sign in with SSO (Okta)");
    assert_eq!(puts(), limited + 1, "one write after the limit");
    let st = r.json(&["sync", "status"]).await;
    assert!(
        st["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] != "dead" && j["lastError"].is_null()),
        "{st}"
    );
    r.ok(&["sync"]).await;
    assert_eq!(puts(), limited + 1, "an idle sync writes nothing");
}
