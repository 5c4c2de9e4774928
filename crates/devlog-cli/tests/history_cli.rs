//! `devlog log`, `devlog undo` and `devlog note --edit/--delete` end to end (issue 16),
//! including the JSON store's history after its index is deleted.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn devlog(dir: &Path, backend: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("RUST_LOG")
        .env("DEVLOG_STORAGE_TYPE", backend)
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester")
        .output()
        .unwrap()
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
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(dir, backend, &a)).unwrap()
}

/// Fails with this exit code; returns stderr.
fn fails(dir: &Path, backend: &str, args: &[&str], code: i32) -> String {
    let o = devlog(dir, backend, args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(code), "devlog {args:?}: {err}");
    err
}

fn kinds(h: &Value) -> Vec<Vec<String>> {
    h["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["type"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

fn log_edit_and_undo_on(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, backend, &["init"]);
    ok(d, backend, &["new", "Fix login", "--type", "bugfix"]);
    ok(
        d,
        backend,
        &[
            "edit",
            "1",
            "--title",
            "Fix login timeout",
            "--priority",
            "high",
        ],
    );
    ok(d, backend, &["note", "1", "found the cause"]);
    ok(d, backend, &["done", "1"]);

    let h = json(d, backend, &["log", "1"]);
    assert_eq!(
        kinds(&h),
        [
            vec!["status-changed", "completed"],
            vec!["note-added"],
            vec!["field-changed", "field-changed"],
            vec!["created"],
        ]
    );
    assert_eq!(h["changes"][0]["origin"], "cli");
    assert_eq!(h["changes"][0]["actor"], "tester");
    let text = ok(d, backend, &["log", "1", "--limit", "2"]);
    assert!(text.contains("status: new → done"), "{text}");
    assert!(text.contains("older changes: devlog log 1"), "{text}");
    assert!(!text.contains("created"), "{text}");

    // Notes: edit by a prefix of the id, delete, each in history and undoable.
    let shown = json(d, backend, &["show", "1"]);
    let note_id = shown["notes"][0]["id"].as_str().unwrap().to_string();
    let prefix = &note_id[..8];
    let edited = json(
        d,
        backend,
        &["note", "1", "--edit", prefix, "the cause: a timeout"],
    );
    assert_eq!(edited["note"]["content"], "the cause: a timeout");
    let out = ok(d, backend, &["note", "1", "--delete", &note_id]);
    assert!(out.contains("Deleted note"), "{out}");
    assert_eq!(
        json(d, backend, &["show", "1"])["notes"],
        serde_json::json!([])
    );
    let h = json(d, backend, &["log", "1", "-n", "2"]);
    assert_eq!(kinds(&h), [vec!["note-deleted"], vec!["note-edited"]]);
    let undone = json(d, backend, &["undo", "1"]);
    assert_eq!(
        undone["entry"]["notes"][0]["content"],
        "the cause: a timeout"
    );
    ok(d, backend, &["undo", "1"]); // redoes the deletion
    let undone = json(d, backend, &["undo", "1"]); // restores the note once more
    assert_eq!(undone["entry"]["notes"][0]["id"], note_id.as_str());

    // Undo to the creation brings the fields and status back.
    let first = json(d, backend, &["log", "1", "--limit", "1000"])["changes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    let u = json(d, backend, &["undo", "1", "--to", &first.to_string()]);
    assert_eq!(u["entry"]["title"], "Fix login");
    assert_eq!(u["entry"]["status"], "new");
    assert_eq!(u["entry"]["priority"], "medium");
    assert_eq!(u["entry"]["notes"], serde_json::json!([]));

    // What cannot be done is refused with a clear error and changes nothing.
    let before = json(d, backend, &["log", "1"]);
    let err = fails(d, backend, &["note", "1", "--delete", "nosuchnote"], 5);
    assert!(err.contains("has no note `nosuchnote`"), "{err}");
    let err = fails(d, backend, &["undo", "1", "--to", "999999"], 5);
    assert!(err.contains("is not a change of #1"), "{err}");
    fails(d, backend, &["log", "1", "--limit", "0"], 2);
    fails(d, backend, &["note", "1"], 2);
    assert_eq!(json(d, backend, &["log", "1"]), before);
}

#[test]
fn log_note_edits_and_undo_json() {
    log_edit_and_undo_on("json");
}

#[test]
fn log_note_edits_and_undo_sqlite() {
    log_edit_and_undo_on("sqlite");
}

#[test]
fn history_and_undo_survive_an_index_rebuild_on_the_json_store() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, "json", &["init"]);
    ok(d, "json", &["new", "Kept history", "--type", "task"]);
    ok(d, "json", &["new", "Another", "--type", "task"]);
    ok(d, "json", &["edit", "1", "--priority", "high"]);
    ok(d, "json", &["edit", "2", "--priority", "low"]);
    ok(d, "json", &["note", "1", "first"]);
    ok(d, "json", &["start", "1"]);
    let strip = |mut h: Value| {
        // A rebuilt feed numbers its events anew; everything else is the same.
        for c in h["changes"].as_array_mut().unwrap() {
            let o = c.as_object_mut().unwrap();
            o.remove("seq");
            o.remove("lastSeq");
        }
        h
    };
    let before = json(d, "json", &["log", "1"]);
    let index = d.join(".devlog/.state/index.sqlite");
    assert!(index.is_file());
    std::fs::remove_file(&index).unwrap();
    let after = json(d, "json", &["log", "1"]);
    assert!(index.is_file(), "the index was rebuilt");
    assert_eq!(strip(after), strip(before));
    assert_eq!(
        json(d, "json", &["log", "1"])["changes"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // Undo after the rebuild: the last change (start), then to the creation.
    let u = json(d, "json", &["undo", "1"]);
    assert_eq!(u["entry"]["status"], "new");
    std::fs::remove_file(&index).unwrap();
    let h = json(d, "json", &["log", "1", "--limit", "1000"]);
    let first = h["changes"].as_array().unwrap().last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    let u = json(d, "json", &["undo", "1", "--to", &first.to_string()]);
    assert_eq!(u["entry"]["priority"], "medium");
    assert_eq!(u["entry"]["notes"], serde_json::json!([]));
    // The other entry is untouched.
    assert_eq!(json(d, "json", &["show", "2"])["priority"], "low");
}
