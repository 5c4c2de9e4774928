//! `devlog bulk` end to end (issue 20 item 5) on the JSON and SQLite backends: each verb with
//! list's filter flags, `--dry-run` changes nothing, bad values are refused naming what to
//! fix with nothing changed, and a process killed mid-run (SIGKILL) is resumed with
//! `devlog bulk resume` changing every selected entry exactly once. (Every backend, PostgreSQL
//! and MariaDB included, runs the same rules in devlog-testkit's bulk conformance cases.)
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn cmd(dir: &Path, backend: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("RUST_LOG")
        .env("DEVLOG_STORAGE_TYPE", backend)
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    c
}

fn devlog(dir: &Path, backend: &str, args: &[&str]) -> Output {
    cmd(dir, backend, args).output().unwrap()
}

fn ok(dir: &Path, backend: &str, args: &[&str]) -> String {
    let o = devlog(dir, backend, args);
    assert!(
        o.status.success(),
        "devlog {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(dir: &Path, backend: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(dir, backend, &all)).unwrap()
}

/// Every entry as `list --all --json` shows it, by handle.
fn entries(dir: &Path, backend: &str) -> BTreeMap<u64, Value> {
    json(dir, backend, &["list", "--all", "--limit", "0"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["handle"].as_u64().unwrap(), e.clone()))
        .collect()
}

/// The number of events in the change feed.
fn feed_len(dir: &Path, backend: &str) -> usize {
    json(dir, backend, &["events", "--limit", "0"])
        .as_array()
        .unwrap()
        .len()
}

fn seed(dir: &Path, backend: &str) {
    ok(dir, backend, &["init"]);
    for (title, kind) in [
        ("Old task one", "task"),
        ("Old task two", "task"),
        ("Flaky bug", "bugfix"),
        ("Docs pass", "docs"),
    ] {
        ok(dir, backend, &["new", title, "--type", kind]);
    }
    ok(dir, backend, &["start", "3"]);
}

fn verbs(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d, backend);

    // A dry run lists what would change and changes nothing.
    let before = (entries(d, backend), feed_len(d, backend));
    let plan = json(
        d,
        backend,
        &[
            "bulk",
            "close",
            "--type",
            "task",
            "--reason",
            "Obsolete",
            "--dry-run",
        ],
    );
    assert_eq!(plan["dryRun"], true);
    assert_eq!(plan["changed"], 2);
    assert_eq!(plan["entries"][0]["changes"][0]["field"], "status");
    assert_eq!(plan["entries"][0]["changes"][0]["after"], "closed");
    let human = ok(
        d,
        backend,
        &["bulk", "close", "--type", "task", "--dry-run"],
    );
    assert!(
        human.contains("#1 Old task one: status new → closed"),
        "{human}"
    );
    assert!(human.contains("dry run: nothing changed"), "{human}");
    assert_eq!((entries(d, backend), feed_len(d, backend)), before);

    // close with a reason: the two tasks, each with one note.
    let s = json(
        d,
        backend,
        &["bulk", "close", "--type", "task", "--reason", "Obsolete"],
    );
    assert_eq!(
        (s["selected"].as_u64(), s["changed"].as_u64()),
        (Some(2), Some(2))
    );
    for h in [1, 2] {
        let e = json(d, backend, &["show", &h.to_string()]);
        assert_eq!(e["status"], "closed");
        let notes: Vec<&str> = e["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["content"].as_str().unwrap())
            .collect();
        assert_eq!(notes, ["Obsolete"]);
    }
    assert_eq!(entries(d, backend)[&3]["status"], "in-progress");

    // edit: status and priority on open work (list's --open flag).
    let s = json(
        d,
        backend,
        &[
            "bulk",
            "edit",
            "--open",
            "--set-priority",
            "high",
            "--set-status",
            "blocked",
        ],
    );
    assert_eq!(s["changed"], 2);
    let now = entries(d, backend);
    for h in [3, 4] {
        assert_eq!(
            (now[&h]["priority"].as_str(), now[&h]["status"].as_str()),
            (Some("high"), Some("blocked"))
        );
    }
    assert_eq!(now[&1]["priority"], "medium");

    // tag, then untag, with a status filter.
    let s = json(
        d,
        backend,
        &["bulk", "tag", "q3", "cleanup", "--status", "closed"],
    );
    assert_eq!(s["changed"], 2);
    assert_eq!(
        entries(d, backend)[&1]["tags"],
        serde_json::json!(["q3", "cleanup"])
    );
    let s = json(d, backend, &["bulk", "untag", "q3", "--tag", "q3"]);
    assert_eq!(s["changed"], 2);
    assert_eq!(
        entries(d, backend)[&2]["tags"],
        serde_json::json!(["cleanup"])
    );

    // assign and unassign.
    let s = json(d, backend, &["bulk", "assign", "ana", "--priority", "high"]);
    assert_eq!(s["changed"], 2);
    assert_eq!(entries(d, backend)[&4]["assignee"], "ana");
    let s = json(
        d,
        backend,
        &["bulk", "assign", "--none", "--assignee", "ana"],
    );
    assert_eq!(s["changed"], 2);
    assert!(
        entries(d, backend)[&4]
            .get("assignee")
            .is_none_or(Value::is_null)
    );

    // The audit log has the bulk writes with the CLI's actor.
    let audit = json(d, backend, &["audit", "list", "--limit", "0"]);
    let by_tester = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"] == "tester")
        .count();
    assert!(by_tester >= 10, "{audit}");
    ok(d, backend, &["audit", "verify"]);

    // The journal lists every operation, finished.
    let ops = json(d, backend, &["bulk", "list"]);
    let ops = ops.as_array().unwrap();
    assert_eq!(ops.len(), 6);
    assert!(ops.iter().all(|o| o["finished"] == true), "{ops:?}");
}

#[test]
fn each_bulk_verb_changes_the_selected_entries_json() {
    verbs("json");
}

#[test]
fn each_bulk_verb_changes_the_selected_entries_sqlite() {
    verbs("sqlite");
}

#[test]
fn bad_filters_and_values_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d, "json");
    let before = (entries(d, "json"), feed_len(d, "json"));
    for (args, says) in [
        (&["bulk", "tag", "x"][..], "give a filter"),
        (&["bulk", "edit", "--all"][..], "--set-status"),
        (
            &["bulk", "edit", "--all", "--set-status", "finished"][..],
            "finished",
        ),
        (&["bulk", "close", "--status", "nope"][..], "nope"),
        (&["bulk", "tag", "two words", "--all"][..], "not a tag"),
        (
            &["bulk", "close", "--created-after", "yesterday-ish"][..],
            "not a date",
        ),
        (&["bulk", "sync", "--all"][..], "no integration"),
        (&["bulk", "resume"][..], "nothing to resume"),
        (&["bulk", "resume", "0123"][..], "no entry matches"),
    ] {
        let o = devlog(d, "json", args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!((entries(d, "json"), feed_len(d, "json")), before);
}

#[test]
fn a_killed_bulk_run_is_resumed_and_changes_each_entry_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, "json", &["init"]);
    // Enough entries that the run is still going when it is killed (each write is fsync'd).
    const N: usize = 400;
    for i in 0..N {
        ok(
            d,
            "json",
            &["new", &format!("Entry number {i}"), "--type", "task"],
        );
    }
    let mut child = cmd(
        d,
        "json",
        &["bulk", "close", "--status", "new", "--reason", "Swept"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Kill it once some entries are recorded in the journal.
    let bulk_dir = d.join(".devlog/.state/bulk");
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded = |p: &Path| -> usize {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|f| f.path().extension().is_some_and(|x| x == "log"))
            .map(|f| {
                std::fs::read_to_string(f.path())
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum()
    };
    while recorded(&bulk_dir) < 20 {
        assert!(Instant::now() < deadline, "the bulk run recorded nothing");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let ops = json(d, "json", &["bulk", "list"]);
    assert_eq!(ops[0]["finished"], false, "killed before the end: {ops}");
    let done_before = ops[0]["done"].as_u64().unwrap();
    assert!(done_before < N as u64, "{ops}");

    let s = json(d, "json", &["bulk", "resume"]);
    assert_eq!(s["resumed"], true);
    assert_eq!(s["selected"], N);
    // The entry written when the process was killed is either found by the operation's
    // change id in its history, or — killed between the JSON file's write and the index's
    // commit, the refresh records the change as `external` — found already closed.
    let (changed, unchanged) = (
        s["changed"].as_u64().unwrap(),
        s["unchanged"].as_u64().unwrap(),
    );
    assert_eq!(changed + unchanged, N as u64);
    assert!(unchanged <= 1, "{changed} changed, {unchanged} unchanged");
    let ops = json(d, "json", &["bulk", "list"]);
    assert_eq!(ops[0]["finished"], true);

    // Every entry closed, with exactly one note, by exactly one change of the operation.
    let op = s["operation"].as_str().unwrap().to_string();
    let events = json(d, "json", &["events", "--limit", "0"]);
    let mut changes: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for e in events.as_array().unwrap() {
        if e["type"] == "created" {
            continue;
        }
        changes
            .entry(e["handle"].as_u64().unwrap())
            .or_default()
            .insert(e["change"].as_str().unwrap_or_default().to_string());
    }
    let all = entries(d, "json");
    assert_eq!(all.len(), N);
    for (h, e) in &all {
        assert_eq!(e["status"], "closed", "#{h}");
        assert_eq!(changes[h].len(), 1, "#{h} was changed by {:?}", changes[h]);
        let full = json(d, "json", &["show", &h.to_string()]);
        assert_eq!(full["notes"].as_array().unwrap().len(), 1, "#{h}");
    }
    // The same command again finds nothing left to close.
    let again = json(
        d,
        "json",
        &["bulk", "close", "--status", "new", "--reason", "Swept"],
    );
    assert_eq!(again["selected"], 0);
    let _ = op;
}
