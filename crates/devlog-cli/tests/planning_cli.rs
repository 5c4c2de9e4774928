//! Planning from the command line (issue 16, items 5 and 6): due dates, milestones and
//! worklogs, with their errors (exit code 5, nothing written).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn devlog(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = devlog(dir, args);
    assert!(o.status.success(), "{args:?}: {o:?}");
    String::from_utf8(o.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

fn refused(dir: &Path, args: &[&str], says: &str) {
    let o = devlog(dir, args);
    assert_eq!(o.status.code(), Some(5), "{args:?}: {o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(says), "{args:?}: {err}");
}

fn handles(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["handle"].as_u64().unwrap())
        .collect()
}

#[test]
fn due_dates_from_new_and_edit_filter_the_list() {
    let d = tempfile::tempdir().unwrap();
    let e = json(d.path(), &["new", "Late", "--due", "2020-01-01"]);
    assert_eq!(e["dueDate"], "2020-01-01");
    json(d.path(), &["new", "Soon", "--due", "+2d"]);
    json(d.path(), &["new", "Undated"]);
    assert_eq!(handles(&json(d.path(), &["list", "--overdue"])), [1]);
    assert_eq!(
        handles(&json(d.path(), &["list", "--sort", "due", "--asc"])),
        [1, 2, 3]
    );
    assert_eq!(
        handles(&json(d.path(), &["list", "--due-before", "+3d"])),
        [2, 1]
    );
    let table = ok(d.path(), &["list"]);
    assert!(
        table.contains("DUE") && table.contains("2020-01-01"),
        "{table}"
    );
    let today = ok(d.path(), &["today"]);
    assert!(
        today.contains("Due within 7 days") && today.contains("due 2020-01-01"),
        "{today}"
    );
    // Relative forms, clearing, and errors that name the accepted forms.
    let e = json(d.path(), &["edit", "3", "--due", "tomorrow"]);
    assert!(e["dueDate"].is_string(), "{e}");
    let e = json(d.path(), &["edit", "1", "--due", "none"]);
    assert!(e.get("dueDate").is_none(), "{e}");
    refused(d.path(), &["edit", "2", "--due", "someday"], "+3d");
    refused(
        d.path(),
        &["new", "Bad", "--due", "2026-02-30"],
        "YYYY-MM-DD",
    );
    assert_eq!(json(d.path(), &["list"]).as_array().unwrap().len(), 3);
    let shown = ok(d.path(), &["show", "3"]);
    assert!(
        shown.contains("due: ") && shown.contains("(tomorrow)"),
        "{shown}"
    );
}

#[test]
fn milestones_group_entries_and_report_progress() {
    let d = tempfile::tempdir().unwrap();
    let m = json(
        d.path(),
        &[
            "milestone",
            "new",
            "v1.0",
            "--due",
            "2020-06-01",
            "-d",
            "first",
        ],
    );
    assert_eq!(
        (m["key"].as_str(), m["state"].as_str()),
        (Some("v1-0"), Some("open"))
    );
    // The milestone is a file under .devlog/milestones, so it travels with git.
    let file = d.path().join(".devlog/milestones/v1-0.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["name"], "v1.0");
    refused(d.path(), &["milestone", "new", "V1 0"], "exists");
    json(
        d.path(),
        &["new", "A", "--milestone", "v1.0", "--due", "2020-01-01"],
    );
    json(d.path(), &["new", "B"]);
    json(
        d.path(),
        &["edit", "2", "--milestone", "V1.0", "--status", "done"],
    );
    refused(
        d.path(),
        &["new", "C", "--milestone", "v2"],
        "there are: v1.0",
    );
    assert_eq!(
        handles(&json(d.path(), &["list", "--all", "--milestone", "v1.0"])).len(),
        2
    );
    let list = json(d.path(), &["milestone", "list"]);
    let p = &list[0];
    assert_eq!(
        (
            p["name"].as_str(),
            p["total"].as_u64(),
            p["done"].as_u64(),
            p["overdue"].as_u64()
        ),
        (Some("v1.0"), Some(2), Some(1), Some(1))
    );
    assert_eq!(p["late"], true);
    let table = ok(d.path(), &["milestone", "list"]);
    assert!(
        table.contains("1/2 done (50%)") && table.contains("late"),
        "{table}"
    );
    let shown = ok(d.path(), &["milestone", "show", "v1.0"]);
    assert!(
        shown.contains("first") && shown.contains("#1") && shown.contains("#2"),
        "{shown}"
    );
    ok(d.path(), &["milestone", "close", "v1.0"]);
    assert!(ok(d.path(), &["milestone", "list"]).contains("No open milestones"));
    refused(d.path(), &["edit", "1", "--milestone", "v1.0"], "reopen");
    ok(d.path(), &["milestone", "reopen", "v1.0"]);
    json(d.path(), &["edit", "1", "--milestone", "none"]);
    assert_eq!(
        json(d.path(), &["milestone", "show", "v1.0"])["milestone"]["total"],
        1
    );
}

#[test]
fn worklogs_are_summed_into_actual_hours_and_shown() {
    let d = tempfile::tempdir().unwrap();
    json(d.path(), &["new", "Timed", "--estimate", "4h"]);
    let out = json(d.path(), &["log-time", "1", "1h30m", "--note", "pairing"]);
    assert_eq!(out["worklog"]["minutes"], 90);
    assert_eq!(out["worklog"]["author"], "tester");
    json(d.path(), &["log-time", "1", "0.75h", "--date", "yesterday"]);
    let e = json(d.path(), &["show", "1"]);
    assert_eq!(e["actualHours"], 2.25);
    assert_eq!(e["estimatedHours"], 4.0);
    assert_eq!(e["worklogs"].as_array().unwrap().len(), 2);
    let shown = ok(d.path(), &["show", "1"]);
    assert!(
        shown.contains("Worklogs (2, 2h15m in all)")
            && shown.contains("pairing")
            && shown.contains("@tester")
            && shown.contains("time: 2.25h of 4h estimated"),
        "{shown}"
    );
    refused(d.path(), &["log-time", "1", "25h"], "24h");
    refused(d.path(), &["log-time", "1", "an hour"], "1h30m, 90m, 1.5h");
    refused(
        d.path(),
        &["log-time", "1", "1h", "--date", "+1d"],
        "yesterday",
    );
    refused(d.path(), &["edit", "1", "--actual", "3"], "log-time");
    refused(
        d.path(),
        &["edit", "1", "--estimate", "lots"],
        "estimatedHours",
    );
    assert_eq!(
        json(d.path(), &["show", "1"])["worklogs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Hours as durations on edit.
    assert_eq!(
        json(d.path(), &["edit", "1", "--estimate", "1h30m"])["estimatedHours"],
        1.5
    );
}

#[test]
fn a_worklog_without_user_variables_is_signed_by_the_os_account() {
    let d = tempfile::tempdir().unwrap();
    json(d.path(), &["new", "Timed"]);
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(BIN);
        c.args(args)
            .arg("--json")
            .current_dir(d.path())
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("DEVLOG_ACTOR")
            .env_remove("USER")
            .env_remove("LOGNAME")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{o:?}");
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    // A container or a service manager often sets neither USER nor LOGNAME: the worklog still
    // says who, from the account the process runs as.
    let out = run(&["log-time", "1", "1h"], &[]);
    let author = out["worklog"]["author"].as_str().unwrap();
    assert!(!author.is_empty(), "{out}");
    // LOGNAME is read when USER is unset.
    let out = run(&["log-time", "1", "1h"], &[("LOGNAME", "logname-user")]);
    assert_eq!(out["worklog"]["author"], "logname-user");
}

#[test]
fn worklogs_are_changed_and_removed_by_id_prefix() {
    let d = tempfile::tempdir().unwrap();
    json(d.path(), &["new", "Timed"]);
    let first = json(d.path(), &["log-time", "1", "1h"]);
    json(d.path(), &["log-time", "1", "30m"]);
    let id = first["worklog"]["id"].as_str().unwrap().to_string();
    // `show` lists each worklog with the short id that names it.
    let shown = ok(d.path(), &["show", "1"]);
    assert!(shown.contains(&id[..8]), "{shown}");
    let out = ok(
        d.path(),
        &["log-time", "1", "2h", "--edit", &id[..8], "--note", "more"],
    );
    assert!(out.contains("Changed worklog 2h"), "{out}");
    assert_eq!(json(d.path(), &["show", "1"])["actualHours"], 2.5);
    refused(
        d.path(),
        &["log-time", "1", "--edit", &id],
        "nothing to change",
    );
    refused(
        d.path(),
        &["log-time", "1", "--delete", "ffffffff"],
        "no worklog",
    );
    let out = ok(d.path(), &["log-time", "1", "--delete", &id]);
    assert!(out.contains("Removed worklog"), "{out}");
    let e = json(d.path(), &["show", "1"]);
    assert_eq!(e["actualHours"], 0.5);
    assert_eq!(e["worklogs"].as_array().unwrap().len(), 1);
    // Without a duration there is nothing to log.
    let o = devlog(d.path(), &["log-time", "1"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("give how long"),
        "{o:?}"
    );
    // The last one removed: no time is logged, so no actual hours.
    let last = e["worklogs"][0]["id"].as_str().unwrap().to_string();
    json(d.path(), &["log-time", "1", "--delete", &last]);
    assert!(json(d.path(), &["show", "1"]).get("actualHours").is_none());
    // Undo puts it back.
    ok(d.path(), &["undo", "1"]);
    assert_eq!(json(d.path(), &["show", "1"])["actualHours"], 0.5);
}
