//! `devlog workflow` end to end (issue 21): the issue's example run by the write command that
//! triggers it, validate errors naming file, line and key, schema, dry run, manual runs, run
//! records, enable/disable, a failing workflow that does not fail the user's command, and a
//! killed run resumed by the next command.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

#[path = "common/runs.rs"]
mod runs;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

const EXAMPLE: &str = r#"name: critical-done
on:
  status_changed:
    to: done
if: entry.priority == "critical"
steps:
  - add_note:
      category: solution
      text: "Closed critical {{ entry.title }}"
"#;

fn devlog(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("RUST_LOG")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = devlog(dir, args);
    assert!(
        o.status.success(),
        "devlog {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    let wf = dir.path().join(".devlog/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    for (name, text) in files {
        std::fs::write(wf.join(name), text).unwrap();
    }
    dir
}

fn notes(dir: &Path, r: &str) -> Vec<String> {
    json(dir, &["show", r])["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["content"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_issues_example_runs_when_a_critical_entry_is_done_and_only_then() {
    let w = workspace(&[("critical-done.yml", EXAMPLE)]);
    let d = w.path();
    ok(
        d,
        &[
            "new",
            "Login fails",
            "--type",
            "bugfix",
            "--priority",
            "critical",
        ],
    );
    ok(d, &["new", "Typo", "--type", "docs", "--priority", "low"]);
    ok(d, &["done", "1"]);
    assert_eq!(notes(d, "1"), ["Closed critical Login fails"]);
    ok(d, &["done", "2"]);
    assert!(notes(d, "2").is_empty());
    // `devlog edit --status done` triggers it as well (any write command, one hook).
    ok(
        d,
        &[
            "new",
            "Outage",
            "--type",
            "bugfix",
            "--priority",
            "critical",
        ],
    );
    ok(d, &["edit", "3", "--status", "done"]);
    assert_eq!(notes(d, "3"), ["Closed critical Outage"]);

    let runs = json(d, &["workflow", "runs"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["state"] == "succeeded"));
    let id = runs[1]["id"].as_str().unwrap();
    let shown = ok(d, &["workflow", "show", id]);
    assert!(shown.contains("status-changed #1 by tester"), "{shown}");
    assert!(shown.contains("add_note"), "{shown}");
    // The audit log names the workflow and its run. (`export`, not `list`: `audit list`'s
    // own `--actor` filter also reads DEVLOG_ACTOR, which these tests set.)
    let audit = ok(d, &["audit", "export"]);
    assert!(
        audit.contains(&format!(r#""source":{{"workflow":"critical-done/{id}"}}"#)),
        "{audit}"
    );
    assert!(
        audit.contains(r#""actor":"workflow:critical-done""#),
        "{audit}"
    );
}

#[test]
fn validate_names_file_line_and_key_and_fails() {
    let bad = "name: broken\non:\n  created:\nif: entry.priority ==\nsteps:\n  - fail: x\n";
    let w = workspace(&[("critical-done.yml", EXAMPLE), ("broken.yml", bad)]);
    let o = devlog(w.path(), &["workflow", "validate"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("ok    .devlog/workflows/critical-done.yml"),
        "{out}"
    );
    assert!(
        out.contains("error .devlog/workflows/broken.yml:4: if: CEL syntax error"),
        "{out}"
    );
    let v: Value =
        serde_json::from_slice(&devlog(w.path(), &["--json", "workflow", "validate"]).stdout)
            .unwrap();
    assert_eq!(v["errors"][0]["line"], 4);
    assert_eq!(v["errors"][0]["key"], "if");
    // A broken file does not stop the others, and writes still succeed.
    ok(
        w.path(),
        &["new", "X", "--type", "task", "--priority", "critical"],
    );
    let o = devlog(w.path(), &["done", "1"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.yml:4"));
    assert_eq!(notes(w.path(), "1"), ["Closed critical X"]);
}

#[test]
fn validate_refuses_a_misspelt_updated_field_with_the_closest_name() {
    let typo = "name: typo\non:\n  updated:\n    fields: [priorty]\nsteps:\n  - fail: x\n";
    let w = workspace(&[("typo.yml", typo)]);
    let o = devlog(w.path(), &["workflow", "validate"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "error .devlog/workflows/typo.yml:4: on.updated.fields[0]: unknown field `priorty` \
             (did you mean `priority`?)"
        ),
        "{out}"
    );
    // `list` with no file readable says so, not "no workflows".
    let o = devlog(w.path(), &["workflow", "list"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("No workflow could be read"), "{out}");
}

#[test]
fn schema_is_json_schema_of_the_format() {
    let w = workspace(&[]);
    let v: Value = serde_json::from_str(&ok(w.path(), &["workflow", "schema"])).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(v["properties"]["on"].is_object());
    assert_eq!(v["additionalProperties"], false);
    // `updated: {fields}` offers the field names an editor can complete.
    let fields = v["$defs"]["FieldName"]["enum"].as_array().unwrap();
    assert!(fields.iter().any(|f| f == "priority"), "{fields:?}");
}

#[test]
fn test_is_a_dry_run_that_changes_nothing() {
    let w = workspace(&[("critical-done.yml", EXAMPLE)]);
    let d = w.path();
    ok(
        d,
        &["new", "Dry", "--type", "task", "--priority", "critical"],
    );
    let before = ok(d, &["--json", "events"]);
    let v = json(
        d,
        &[
            "workflow",
            "test",
            "critical-done",
            "--entry",
            "1",
            "--event",
            r#"{"type":"status-changed","from":"new","to":"done"}"#,
        ],
    );
    assert_eq!(v["condition"], true);
    assert_eq!(v["steps"][0]["output"]["text"], "Closed critical Dry");
    let human = ok(d, &["workflow", "test", "critical-done", "--entry", "1"]);
    assert!(human.contains("nothing is changed"), "{human}");
    assert!(human.contains("Closed critical Dry"), "{human}");
    assert_eq!(ok(d, &["--json", "events"]), before, "no event written");
    assert!(notes(d, "1").is_empty());
    assert_eq!(json(d, &["workflow", "runs"]), serde_json::json!([]));
}

#[test]
fn run_disable_enable_and_a_failing_workflow_that_does_not_fail_the_command() {
    let manual = "name: triage\non:\n  manual:\nsteps:\n  - set:\n      priority: high\n  - add_note:\n      category: progress\n      text: \"triaged by {{ workflow.name }}\"\n";
    let failing = "name: strict\non:\n  note_added:\n    category: idea\nsteps:\n  - add_note:\n      category: issue\n      text: \"{{ entry.nope }}\"\n";
    let w = workspace(&[("triage.yml", manual), ("strict.yml", failing)]);
    let d = w.path();
    ok(d, &["new", "Thing", "--type", "task"]);
    let out = ok(d, &["workflow", "run", "triage", "1"]);
    assert!(out.contains("triage  succeeded"), "{out}");
    let e = json(d, &["show", "1"]);
    assert_eq!(e["priority"], "high");
    assert_eq!(notes(d, "1"), ["triaged by triage"]);

    let o = devlog(d, &["note", "1", "an idea", "--category", "idea"]);
    assert!(o.status.success(), "the user's command succeeds");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("workflow strict failed"), "{err}");
    assert!(err.contains("undefined"), "{err}");
    let runs = json(d, &["workflow", "runs", "strict"]);
    assert_eq!(runs[0]["state"], "failed");

    ok(d, &["workflow", "disable", "strict"]);
    let list = json(d, &["workflow", "list"]);
    let strict = list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "strict")
        .unwrap()
        .clone();
    assert_eq!(strict["enabled"], false);
    let o = devlog(d, &["note", "1", "another idea", "--category", "idea"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).is_empty(),
        "disabled: not run"
    );
    ok(d, &["workflow", "enable", "strict"]);
    let o = devlog(d, &["note", "1", "third idea", "--category", "idea"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("workflow strict failed"));

    let o = devlog(d, &["workflow", "disable", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("there are: strict, triage"));
    let o = devlog(d, &["workflow", "run", "strict", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no `manual` trigger"));
}

#[test]
fn a_run_killed_mid_way_is_resumed_by_the_next_command() {
    let three = "name: three\non:\n  manual:\nsteps:\n  - add_note:\n      category: idea\n      text: one\n  - add_note:\n      category: idea\n      text: two\n";
    let w = workspace(&[("three.yml", three)]);
    let d = w.path();
    ok(d, &["new", "Resume me", "--type", "task"]);
    let id = json(d, &["show", "1"])["id"].as_str().unwrap().to_string();
    // What a process killed after step 0 leaves behind: step 0's note and its record, the run
    // still `running`, its lease held by a process of this host that no longer exists.
    ok(
        d,
        &[
            "--actor",
            "workflow:three",
            "note",
            "1",
            "one",
            "--category",
            "idea",
        ],
    );
    let record = serde_json::json!({
        "id": "0123456789ab",
        "workflow": "three",
        "cause": {"kind": "manual", "actor": "tester"},
        "entry": id,
        "depth": 0,
        "state": "running",
        "startedAt": "2026-12-01T10:00:00.000Z",
        "vars": {},
        "steps": [{"path": "0", "action": "add_note", "state": "done", "output": {"entry": id}}],
        "resumed": 0
    });
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(':', "_"))
        .unwrap_or_else(|_| "unknown-host".into());
    runs::with_runs(d, async |runs| {
        let row = devlog_core::sync_state::WorkflowRun {
            id: "0123456789ab".into(),
            workflow: "three".into(),
            state: devlog_core::sync_state::WorkflowRunState::Running,
            entry: Some(id.parse().unwrap()),
            wake_at: None,
            started_at: 0,
            updated_at: 0,
            record,
        };
        let dead = format!("{host}:999999999:killed");
        let now = chrono::Utc::now().timestamp_millis();
        assert!(
            runs.state()
                .start_workflow_run(&row, &dead, now, 3_600_000)
                .await
                .unwrap()
        );
    });

    ok(d, &["new", "Another", "--type", "task"]);
    assert_eq!(
        notes(d, "1"),
        ["one", "two"],
        "step 0 not repeated, step 1 done"
    );
    let run = json(d, &["workflow", "show", "0123456789ab"]);
    assert_eq!(run["state"], "succeeded");
    assert_eq!(run["resumed"], 1);
}

#[test]
fn a_run_folder_of_the_file_version_is_imported_once() {
    let w = workspace(&[(
        "three.yml",
        "name: three\non:\n  manual:\nsteps:\n  - set_var: { x: 1 }\n",
    )]);
    let d = w.path();
    let folder = d.join(".devlog/.state/workflow-runs");
    std::fs::create_dir_all(folder.join("claims")).unwrap();
    std::fs::create_dir_all(folder.join("schedules")).unwrap();
    let record = serde_json::json!({
        "id": "00000000abcd",
        "workflow": "three",
        "cause": {"kind": "manual", "actor": "tester"},
        "depth": 0,
        "state": "dead",
        "startedAt": "2026-12-01T10:00:00.000Z",
        "finishedAt": "2026-12-01T10:00:01.000Z",
        "vars": {},
        "steps": [{"path": "0", "action": "set_var", "state": "failed", "error": "boom"}],
        "error": "boom",
        "resumed": 0
    });
    std::fs::write(folder.join("00000000abcd.json"), record.to_string()).unwrap();
    std::fs::write(folder.join("claims/three@change_1"), "").unwrap();
    std::fs::write(
        folder.join("schedules/three.json"),
        r#"{"last":"2026-12-01T10:00:00.000Z","cron":"* * * * *","timezone":"UTC"}"#,
    )
    .unwrap();
    std::fs::write(folder.join("feed-cursor.json"), r#"{"seq":42}"#).unwrap();

    let o = devlog(d, &["--json", "workflow", "runs"]);
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("note: imported 1 workflow run, 1 claim and 1 schedule state"),
        "{err}"
    );
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed[0]["id"], "00000000abcd", "{listed}");
    assert_eq!(listed[0]["state"], "dead");
    assert!(!folder.exists());
    assert!(d.join(".devlog/.state/workflow-runs.imported").is_dir());
    // What the folder held is in the sync state: the claim holds, the cursors moved.
    runs::with_runs(d, async |runs| {
        assert!(!runs.claim("three", "change-1").await.unwrap());
        assert_eq!(runs.feed_cursor().await.unwrap(), Some(42));
        let st = runs.schedule_state("three").await.unwrap().unwrap();
        assert_eq!(st.last.to_string(), "2026-12-01T10:00:00.000Z");
    });
    // Once: the next command says nothing and finds the run where it was.
    let o = devlog(d, &["workflow", "show", "00000000abcd"]);
    assert!(o.status.success(), "{o:?}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("imported"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Dead:"));
}

#[test]
fn the_shipped_templates_validate_and_work() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/workflows");
    let mut files = Vec::new();
    for f in std::fs::read_dir(&shipped).unwrap() {
        let p = f.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        files.push((name, std::fs::read_to_string(&p).unwrap()));
    }
    assert!(files.len() >= 3, "{files:?}");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let w = workspace(&refs);
    let d = w.path();
    // blocked-three-days notifies the target `team`: without it validation names it.
    let v = devlog(d, &["workflow", "validate"]);
    assert!(!v.status.success());
    let out = String::from_utf8_lossy(&v.stdout);
    assert!(out.contains("no notify target `team`"), "{out}");
    // started-branch needs a git repository, review-pr-ci GitHub and Azure DevOps.
    assert!(
        out.contains("started-branch.yml: steps[0].branch:")
            && out.contains("is not inside a git repository"),
        "{out}"
    );
    assert!(
        out.contains("review-pr-ci.yml: steps[0].pull_request: GitHub is not configured"),
        "{out}"
    );
    assert!(
        out.contains("review-pr-ci.yml: steps[1].pipeline: Azure DevOps is not configured"),
        "{out}"
    );
    let config = d.join("devlog.toml");
    let mut text = std::fs::read_to_string(&config).unwrap_or_default();
    text.push_str(
        "\n[workflows]\nnotifyHosts = [\"hooks.slack.com\"]\n\n[workflows.notify.team]\nurl = \"https://hooks.slack.com/services/T0/B0/x\"\n",
    );
    text.push_str(
        "\n[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"t\"\napiUrl = \"http://127.0.0.1:9\"\n\n[integrations.azure-devops]\norganizationUrl = \"http://127.0.0.1:9/acme\"\nproject = \"Fabrikam\"\npat = \"p\"\n",
    );
    std::fs::write(&config, text).unwrap();
    for args in [
        &["init", "-q"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "first",
        ],
    ] {
        let o = Command::new("git")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    ok(d, &["workflow", "validate"]);
    // The templates that reach GitHub, Azure DevOps or git run from their files in
    // devlog-workflow's templates.rs (a recording host), their steps against the fakes in
    // workflow_steps.rs; here they stay off.
    for name in ["critical-bug-everywhere", "started-branch", "review-pr-ci"] {
        ok(d, &["workflow", "disable", name]);
    }

    // critical-bug-triage: a new critical bug starts, is tagged, gets a subtask and a note.
    ok(
        d,
        &[
            "new",
            "Data loss on save",
            "--type",
            "bugfix",
            "--priority",
            "critical",
        ],
    );
    let bug = json(d, &["show", "1"]);
    assert_eq!(bug["status"], "in-progress");
    assert!(
        bug["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "needs-regression-test")
    );
    let sub = json(d, &["show", "2"]);
    assert_eq!(sub["title"], "Regression test for Data loss on save");
    assert_eq!(
        notes(d, "1"),
        ["Triaged by critical-bug-triage: regression test is #2"]
    );
    // A low bug is left alone.
    ok(
        d,
        &[
            "new",
            "Small glitch",
            "--type",
            "bugfix",
            "--priority",
            "low",
        ],
    );
    assert_eq!(json(d, &["show", "3"])["status"], "new");

    // blocked-checklist: a checklist note, then one note per dependency.
    ok(d, &["dep", "add", "3", "vendor fix for libfoo"]);
    ok(d, &["block", "3"]);
    assert_eq!(
        notes(d, "3"),
        [
            "Blocked: say on what, who can unblock it, and by when.",
            "Still open: vendor fix for libfoo"
        ]
    );
    // critical-done: the critical bug done gets its note.
    ok(d, &["done", "2"]);
    ok(d, &["done", "1"]);
    assert_eq!(
        notes(d, "1").last().unwrap(),
        "Closed critical Data loss on save"
    );
}

#[test]
fn due_runs_a_due_schedule_once_and_validate_names_a_bad_cron() {
    let every_minute = "name: minutely\non:\n  schedule:\n    cron: \"* * * * *\"\n    timezone: Europe/Berlin\nsteps:\n  - create_entry: { type: task, title: \"tick {{ event.slot }}\" }\n";
    let w = workspace(&[("minutely.yml", every_minute)]);
    let d = w.path();
    // The first look starts counting: nothing runs for the past.
    let out = ok(d, &["workflow", "due"]);
    assert!(out.contains("Nothing due."), "{out}");
    assert!(out.contains("minutely: next at "), "{out}");
    let listed = json(d, &["workflow", "list"]);
    assert_eq!(
        listed["workflows"][0]["triggers"][0],
        "schedule (* * * * * Europe/Berlin, missed: skip)"
    );
    // As if the last pass had been two minutes ago: the newest slot (under a minute old) is
    // due, on time; the one before it is missed.
    runs::with_runs(d, async |runs| {
        let name = "schedule:minutely";
        let text = runs.state().workflow_cursor(name).await.unwrap().unwrap();
        let mut s: Value = serde_json::from_str(&text).unwrap();
        let past = chrono::Utc::now() - chrono::Duration::seconds(150);
        s["last"] = Value::String(past.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        runs.state()
            .set_workflow_cursor(name, &s.to_string())
            .await
            .unwrap();
    });
    let due = json(d, &["workflow", "due"]);
    let runs = due["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{due}");
    assert_eq!(runs[0]["state"], "succeeded");
    assert_eq!(runs[0]["cause"]["kind"], "schedule");
    assert!(due["skipped"][0]["slots"].as_u64().unwrap() >= 1, "{due}");
    let made = json(d, &["show", "1"]);
    assert!(
        made["title"].as_str().unwrap().starts_with("tick 20"),
        "{made}"
    );
    assert!(devlog(d, &["show", "2"]).status.code() != Some(0));
    // A second pass (or another machine's cron at the same time) runs nothing more.
    let out = ok(d, &["workflow", "due"]);
    assert!(out.contains("Nothing due."), "{out}");
    let shown = ok(d, &["workflow", "runs"]);
    assert!(shown.contains("schedule 20"), "{shown}");

    std::fs::write(
        d.join(".devlog/workflows/bad.yml"),
        "name: bad\non:\n  schedule:\n    cron: \"0 9 * * FUNDAY\"\nsteps:\n  - fail: x\n",
    )
    .unwrap();
    let o = devlog(d, &["workflow", "validate"]);
    assert!(!o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(".devlog/workflows/bad.yml:4: on.schedule.cron: invalid cron expression"),
        "{out}"
    );
}

/// Moves a parked run's wake time into the past (what the clock does to a real wait).
fn wake_now(dir: &Path, run: &str) {
    let id = devlog_workflow::RunId::parse(run).unwrap();
    runs::with_runs(dir, async |runs| {
        let mut record = runs.load(&id).await.unwrap();
        assert!(record.wake_at.is_some(), "{record:?}");
        let past: devlog_core::Timestamp = "2000-01-01T00:00:00.000Z".parse().unwrap();
        record.wake_at = Some(past);
        // A `wait` step keeps its wake time too (a resumed run waits for the recorded time).
        for step in &mut record.steps {
            if step.output["wakeAt"].is_string() {
                step.output["wakeAt"] = serde_json::to_value(past).unwrap();
            }
        }
        runs.save(&record).await.unwrap();
    });
}

#[test]
fn a_waiting_run_is_shown_with_its_wake_time_and_due_goes_on_with_it() {
    let file = "name: later\non:\n  manual:\nsteps:\n  - add_note:\n      category: idea\n      text: before\n  - wait:\n      duration: 3d\n  - add_note:\n      category: idea\n      text: after\n";
    let w = workspace(&[("later.yml", file)]);
    let d = w.path();
    ok(d, &["new", "Waits", "--type", "task"]);
    let run = json(d, &["workflow", "run", "later", "1"]);
    assert_eq!(run["state"], "waiting");
    let id = run["id"].as_str().unwrap().to_string();
    let text = ok(d, &["workflow", "runs", "--state", "waiting"]);
    assert!(
        text.contains(&id) && text.contains("waiting until"),
        "{text}"
    );
    assert_eq!(
        json(d, &["workflow", "runs", "--state", "dead"]),
        Value::Array(vec![])
    );
    let shown = ok(d, &["workflow", "show", &id]);
    assert!(shown.contains("Wakes: "), "{shown}");
    // Not before its time.
    let o = devlog(d, &["workflow", "resume", &id]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("waits until"));
    assert!(ok(d, &["workflow", "due"]).contains("Nothing due"));
    assert_eq!(notes(d, "1"), ["before"]);

    wake_now(d, &id);
    let out = ok(d, &["workflow", "due"]);
    assert!(out.contains(&format!("{id}  later  succeeded")), "{out}");
    assert_eq!(notes(d, "1"), ["before", "after"]);
    assert!(ok(d, &["workflow", "due"]).contains("Nothing due"), "once");
    let o = devlog(d, &["workflow", "runs", "--state", "sleeping"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown run state"));
}

#[test]
fn a_step_out_of_attempts_is_dead_until_resumed_by_hand() {
    let file = "name: flaky\non:\n  manual:\nretry:\n  attempts: 2\n  backoff: 1h\nsteps:\n  - add_note:\n      category: idea\n      text: landed\n      entry: \"#2\"\n";
    let w = workspace(&[("flaky.yml", file)]);
    let d = w.path();
    ok(d, &["new", "First", "--type", "task"]);
    let run = json(d, &["workflow", "run", "flaky", "1"]);
    assert_eq!(run["state"], "retrying", "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    wake_now(d, &id);
    let o = devlog(d, &["workflow", "due"]);
    assert_eq!(o.status.code(), Some(1), "a dead run fails the pass");
    let dead = json(d, &["workflow", "runs", "--state", "dead"]);
    assert_eq!(dead[0]["id"], id.as_str());
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap()
            .contains("attempt 2 of 2"),
        "{dead}"
    );
    let shown = ok(d, &["workflow", "show", &id]);
    assert!(
        shown.contains("(attempt 2)") && shown.contains("Dead:"),
        "{shown}"
    );
    // Nothing resumes it by itself.
    ok(d, &["new", "Second", "--type", "task"]);
    assert!(notes(d, "2").is_empty());
    let out = ok(d, &["workflow", "resume", &id]);
    assert!(out.contains("succeeded"), "{out}");
    assert_eq!(notes(d, "2"), ["landed"]);
}

#[test]
fn a_real_kill_9_inside_a_parallel_group_loses_and_repeats_no_write() {
    kill_9_inside_a_parallel_group("json");
}

#[test]
fn a_real_kill_9_inside_a_parallel_group_loses_and_repeats_no_write_on_sqlite() {
    kill_9_inside_a_parallel_group("sqlite");
}

/// A run of two parallel branches SIGKILLed mid-way on `backend`, resumed: every write once.
fn kill_9_inside_a_parallel_group(backend: &str) {
    // Two branches, each writing 40 notes to its own entry, then a wait and a last note.
    let items: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let items = items.join(", ");
    let file = format!(
        "name: fan\non:\n  manual:\nsteps:\n  - parallel:\n      - - for_each:\n            items: \"[{items}]\"\n            steps:\n              - add_note:\n                  category: idea\n                  text: \"a{{{{ item }}}}\"\n                  entry: \"#1\"\n      - - for_each:\n            items: \"[{items}]\"\n            steps:\n              - add_note:\n                  category: idea\n                  text: \"b{{{{ item }}}}\"\n                  entry: \"#2\"\n  - wait:\n      duration: 1h\n  - add_note:\n      category: idea\n      text: end\n      entry: \"#1\"\n"
    );
    // The JSON backend writes an entry's file and its change-feed event one after the other:
    // a kill between them leaves the write without its event; the resumed step finds its
    // note in the entry by the id derived from the step's key.
    let w = tempfile::tempdir().unwrap();
    let d = w.path();
    ok(d, &["init", "--backend", backend]);
    std::fs::create_dir_all(d.join(".devlog/workflows")).unwrap();
    std::fs::write(d.join(".devlog/workflows/fan.yml"), &file).unwrap();
    ok(d, &["new", "Left", "--type", "task"]);
    ok(d, &["new", "Right", "--type", "task"]);
    let mut child = Command::new(BIN)
        .args(["workflow", "run", "fan"])
        .current_dir(d)
        .env_remove("DEVLOG_DIR")
        .env_remove("RUST_LOG")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env("DEVLOG_ACTOR", "tester")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) once some steps of the group are recorded, wherever it is then.
    let run_id = runs::watch(d, |list| {
        if child.try_wait().unwrap().is_some() {
            panic!("the run ended before it could be killed");
        }
        list.iter().find_map(|r| {
            let done = r
                .steps
                .iter()
                .filter(|s| s.state == devlog_workflow::runs::StepState::Done)
                .count();
            (done >= 6).then(|| r.id.to_string())
        })
    });
    child.kill().unwrap();
    child.wait().unwrap();

    // The next look resumes it; it parks at the wait; after the wait it ends.
    ok(d, &["workflow", "resume"]);
    let run = json(d, &["workflow", "show", &run_id]);
    assert_eq!(run["state"], "waiting", "{run}");
    wake_now(d, &run_id);
    ok(d, &["workflow", "due"]);
    let run = json(d, &["workflow", "show", &run_id]);
    assert_eq!(run["state"], "succeeded", "{run}");
    let mut want_a: Vec<String> = (0..40).map(|i| format!("a{i}")).collect();
    want_a.push("end".into());
    let want_b: Vec<String> = (0..40).map(|i| format!("b{i}")).collect();
    let mut got_a = notes(d, "1");
    got_a.sort();
    want_a.sort();
    let mut got_b = notes(d, "2");
    got_b.sort();
    let mut want_b = want_b;
    want_b.sort();
    assert_eq!(got_a, want_a, "each write of branch 0 once");
    assert_eq!(got_b, want_b, "each write of branch 1 once");
}

const DONE_NOTE: &str = r#"name: done-note
on:
  status_changed:
    to: done
steps:
  - add_note:
      category: progress
      text: "Finished {{ entry.title }}"
"#;

/// `devlog mcp` over stdio: its initialize answered, then each tool call answered in turn.
struct McpSession {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    answers: std::sync::mpsc::Receiver<String>,
    next_id: u64,
}

impl McpSession {
    fn start(dir: &Path) -> McpSession {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = Command::new(BIN)
            .arg("mcp")
            .current_dir(dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("RUST_LOG")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "assistant")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = McpSession {
            stdin: child.stdin.take(),
            child,
            answers,
            next_id: 0,
        };
        s.request(
            "initialize",
            serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "workflow-test", "version": "0"}}),
        );
        s.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: &Value) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{v}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        loop {
            let line = self
                .answers
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{v}");
                return v["result"].clone();
            }
        }
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let r = self.request(
            "tools/call",
            serde_json::json!({"name": tool, "arguments": arguments}),
        );
        assert_ne!(r["isError"], true, "{tool}: {r}");
        r
    }

    /// Closes standard input (the client leaves) and waits for the process: its stderr.
    fn close(mut self) -> String {
        use std::io::Read;
        drop(self.stdin.take());
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "devlog mcp: {status}\n{stderr}");
        stderr
    }
}

impl Drop for McpSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds (a server's loop runs on its own time), failing after a
/// generous deadline.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn runs_of(dir: &Path, workflow: &str) -> Vec<Value> {
    json(dir, &["workflow", "runs", workflow, "--limit", "0"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn mcp_writes_run_their_workflows_once_and_the_last_one_before_the_client_leaves() {
    let w = workspace(&[("done-note.yml", DONE_NOTE)]);
    let d = w.path();
    ok(d, &["new", "Login fails", "--type", "bugfix"]);
    ok(d, &["new", "Typo", "--type", "docs"]);
    let mut mcp = McpSession::start(d);
    // Done over MCP: the session's own workflow loop runs the workflow, no CLI command needed.
    mcp.call("complete_devlog", serde_json::json!({"id": 1}));
    eventually("the workflow adds its note to #1", || {
        notes(d, "1") == ["Finished Login fails"]
    });
    let runs = runs_of(d, "done-note");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state"], "succeeded");
    assert_eq!(runs[0]["cause"]["event"]["actor"], "assistant", "{runs:?}");
    assert_eq!(runs[0]["cause"]["event"]["origin"], "mcp", "{runs:?}");
    // A CLI write afterwards does not run it again for the same change.
    ok(d, &["new", "Unrelated", "--type", "task"]);
    assert_eq!(runs_of(d, "done-note").len(), 1);
    // A write just before the client leaves: the last pass at shutdown runs its workflow.
    mcp.call("complete_devlog", serde_json::json!({"id": 2}));
    let stderr = mcp.close();
    assert_eq!(notes(d, "2"), ["Finished Typo"], "{stderr}");
    ok(d, &["new", "Another", "--type", "task"]);
    let runs = runs_of(d, "done-note");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["state"] == "succeeded"), "{runs:?}");
}

#[test]
fn shared_workflow_folders_from_the_config_are_read_and_a_missing_one_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let team = root.path().join("team-workflows");
    std::fs::create_dir_all(&team).unwrap();
    std::fs::write(team.join("critical-done.yml"), EXAMPLE).unwrap();
    let d = root.path().join("project");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("devlog.toml"),
        "[workflows]\npaths = [\"../team-workflows\"]\n",
    )
    .unwrap();
    ok(&d, &["init"]);
    let listed = json(&d, &["workflow", "list"]);
    let text = listed.to_string();
    assert!(text.contains("critical-done"), "{listed}");
    assert!(
        text.contains("team-workflows"),
        "the file is named: {listed}"
    );
    // A write runs the shared workflow like one of .devlog/workflows/.
    ok(
        &d,
        &[
            "new",
            "Login fails",
            "--type",
            "bugfix",
            "--priority",
            "critical",
        ],
    );
    ok(&d, &["done", "1"]);
    assert_eq!(notes(&d, "1"), ["Closed critical Login fails"]);

    // A second file with the same name in the workspace's own folder is a clash, said.
    let own = d.join(".devlog/workflows");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("again.yml"), EXAMPLE).unwrap();
    let v = devlog(&d, &["workflow", "validate"]);
    assert!(!v.status.success());
    let out = String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr);
    assert!(out.contains("already defined"), "{out}");
    std::fs::remove_file(own.join("again.yml")).unwrap();

    // A path that names no folder is an error, not a silent "no workflows".
    std::fs::write(
        d.join("devlog.toml"),
        "[workflows]\npaths = [\"../team-workflow\"]\n",
    )
    .unwrap();
    let v = devlog(&d, &["workflow", "validate"]);
    assert!(!v.status.success());
    let out = String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr);
    assert!(
        out.contains("team-workflow") && out.contains("no such folder"),
        "{out}"
    );
}

#[test]
fn sync_status_counts_parked_failed_and_dead_workflow_runs() {
    let later = "name: later\non:\n  manual:\nsteps:\n  - wait:\n      duration: 3d\n";
    let broken = "name: broken\non:\n  manual:\nsteps:\n  - add_note:\n      category: issue\n      text: \"{{ entry.nope }}\"\n";
    let flaky = "name: flaky\non:\n  manual:\nretry:\n  attempts: 2\n  backoff: 1h\nsteps:\n  - add_note:\n      category: idea\n      text: landed\n      entry: \"#2\"\n";
    let w = workspace(&[
        ("later.yml", later),
        ("broken.yml", broken),
        ("flaky.yml", flaky),
    ]);
    let d = w.path();
    ok(d, &["new", "First", "--type", "task"]);
    // No runs: the line is left out, the counts are zero.
    assert!(!ok(d, &["sync", "status"]).contains("Workflow runs"));
    assert_eq!(
        json(d, &["sync", "status"])["workflowRuns"],
        serde_json::json!({"running": 0, "parked": 0, "succeeded": 0, "failed": 0, "dead": 0})
    );
    assert_eq!(
        json(d, &["workflow", "run", "later", "1"])["state"],
        "waiting"
    );
    let retrying = json(d, &["workflow", "run", "flaky", "1"]);
    assert_eq!(retrying["state"], "retrying", "{retrying}");
    devlog(d, &["workflow", "run", "broken", "1"]);
    let status = json(d, &["sync", "status"]);
    assert_eq!(
        status["workflowRuns"],
        serde_json::json!({"running": 0, "parked": 2, "succeeded": 0, "failed": 1, "dead": 0}),
        "{status}"
    );
    wake_now(d, retrying["id"].as_str().unwrap());
    assert_eq!(devlog(d, &["workflow", "due"]).status.code(), Some(1));
    let status = json(d, &["sync", "status"]);
    assert_eq!(
        status["workflowRuns"],
        serde_json::json!({"running": 0, "parked": 1, "succeeded": 0, "failed": 1, "dead": 1}),
        "{status}"
    );
    let text = ok(d, &["sync", "status"]);
    assert!(
        text.contains("Nothing synced yet.")
            && text.contains("Workflow runs: 0 running, 1 parked, 1 failed, 1 dead")
            && text.contains("devlog workflow runs --state dead"),
        "{text}"
    );
}
