//! `devlog edit REF`, `devlog new --edit` and `devlog note REF` in `$EDITOR`, driven by
//! scripted editors (shell scripts that change the document the way a person would).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn run(dir: &Path, editor: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env_remove("VISUAL")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    match editor {
        Some(e) => c.env("EDITOR", e),
        None => c.env_remove("EDITOR"),
    };
    c.output().unwrap()
}

fn ok(dir: &Path, editor: Option<&Path>, args: &[&str]) -> String {
    let o = run(dir, editor, args);
    assert!(
        o.status.success(),
        "devlog {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn show(dir: &Path, r: &str) -> Value {
    serde_json::from_str(&ok(dir, None, &["show", r, "--json"])).unwrap()
}

/// A scripted editor: `body` runs with `$1` the document; every version it was given is
/// copied to `seen-<n>.md` beside it, so a test can read what the person saw.
fn editor(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("editor.sh");
    let script = format!(
        "#!/bin/sh\nset -e\nd=\"$(dirname \"$0\")\"\nn=$(ls \"$d\" | grep -c '^seen-' || true)\ncp \"$1\" \"$d/seen-$n.md\"\n{body}\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn seen(dir: &Path, n: usize) -> String {
    std::fs::read_to_string(dir.join(format!("seen-{n}.md"))).unwrap()
}

fn setup(backend: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let tools = tmp.path().join("tools");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(&tools).unwrap();
    std::fs::write(
        ws.join("devlog.toml"),
        format!("[storage]\ntype = \"{backend}\"\n"),
    )
    .unwrap();
    ok(
        &ws,
        None,
        &[
            "new",
            "Fix the login timeout",
            "--type",
            "bugfix",
            "-d",
            "Sessions expire after 5 minutes.",
            "-c",
            "Sessions last 30 minutes",
            "--tag",
            "auth",
        ],
    );
    (tmp, ws)
}

fn edits_fields_and_sections_on(backend: &str) {
    let (tmp, ws) = setup(backend);
    let tools = tmp.path().join("tools");
    let ed = editor(
        &tools,
        r#"sed -i -e 's/^status: new/status: in-progress/' -e 's/^tags: \[auth\]/tags: [auth, backend]/' \
  -e 's/^Sessions expire after 5 minutes\./Sessions expire after 5 minutes, not 30./' \
  -e 's/^- Sessions last 30 minutes/- Sessions last 30 minutes\n- Covered by a test/' "$1""#,
    );
    let out = ok(&ws, Some(&ed), &["edit", "1"]);
    assert!(out.contains("Updated #1"), "{out}");
    let shown = seen(&tools, 0);
    assert!(
        shown.starts_with("---\ntitle: Fix the login timeout\ntype: bugfix\nstatus: new\n"),
        "{shown}"
    );
    assert!(
        shown.contains("# Acceptance criteria\n\n- Sessions last 30 minutes\n"),
        "{shown}"
    );
    let e = show(&ws, "1");
    assert_eq!(e["status"], "in-progress");
    assert_eq!(e["tags"], serde_json::json!(["auth", "backend"]));
    assert_eq!(e["description"], "Sessions expire after 5 minutes, not 30.");
    assert_eq!(
        e["context"]["acceptanceCriteria"],
        serde_json::json!(["Sessions last 30 minutes", "Covered by a test"])
    );
    // Written once: one status change and one of each field, in one write.
    let events: Value =
        serde_json::from_str(&ok(&ws, None, &["events", "--json", "--limit", "50"])).unwrap();
    let events = events.as_array().unwrap();
    let status_changes = events
        .iter()
        .filter(|e| e["type"] == "status-changed")
        .count();
    assert_eq!(status_changes, 1, "{events:#?}");
}

#[test]
fn edit_opens_the_entry_and_writes_what_changed_json() {
    edits_fields_and_sections_on("json");
}

#[test]
fn edit_opens_the_entry_and_writes_what_changed_sqlite() {
    edits_fields_and_sections_on("sqlite");
}

#[test]
fn a_mistake_is_shown_in_the_document_and_fixed_in_a_second_round() {
    let (tmp, ws) = setup("json");
    let tools = tmp.path().join("tools");
    // First round: an unknown status; second round (the problem is shown): fix it.
    let ed = editor(
        &tools,
        r#"if grep -q '^# error:' "$1"; then sed -i 's/^status: doing/status: blocked/' "$1"; else sed -i 's/^status: new/status: doing/' "$1"; fi"#,
    );
    ok(&ws, Some(&ed), &["edit", "1"]);
    let second = seen(&tools, 1);
    assert!(
        second.starts_with("---\n# error: line 5: status: unknown variant `doing`"),
        "{second}"
    );
    assert!(second.contains("`in-progress`"), "{second}");
    assert_eq!(show(&ws, "1")["status"], "blocked");
}

#[test]
fn giving_up_on_a_mistake_changes_nothing_and_keeps_the_text() {
    let (tmp, ws) = setup("json");
    let tools = tmp.path().join("tools");
    let before = show(&ws, "1");
    // Breaks the document once, then saves it unchanged.
    let ed = editor(
        &tools,
        r#"grep -q '^# error:' "$1" || sed -i 's/^priority: medium/priority: urgent/' "$1""#,
    );
    let o = run(&ws, Some(&ed), &["edit", "1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("still has problems"), "{err}");
    assert!(err.contains("urgent"), "{err}");
    let kept = err
        .split("your text is in ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap();
    assert!(
        std::fs::read_to_string(kept)
            .unwrap()
            .contains("priority: urgent")
    );
    std::fs::remove_file(kept).unwrap();
    assert_eq!(show(&ws, "1"), before);
}

#[test]
fn saving_unchanged_or_empty_changes_nothing() {
    let (tmp, ws) = setup("json");
    let tools = tmp.path().join("tools");
    let before = show(&ws, "1");
    let o = run(&ws, Some(&editor(&tools, "true")), &["edit", "1"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("No changes"));
    let o = run(&ws, Some(&editor(&tools, r#": > "$1""#)), &["edit", "1"]);
    assert!(o.status.success());
    assert_eq!(show(&ws, "1"), before);
    // No editor set and no terminal: say how to do it without one, instead of waiting on vi.
    let o = run(&ws, None, &["edit", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nothing to change") && err.contains("set EDITOR"),
        "{err}"
    );
    // A failing editor changes nothing either.
    let o = run(&ws, Some(&editor(&tools, "exit 3")), &["edit", "1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("exited with"));
    assert_eq!(show(&ws, "1"), before);
}

#[test]
fn a_change_made_meanwhile_to_the_same_field_is_named_before_it_is_overwritten() {
    let (tmp, ws) = setup("json");
    let tools = tmp.path().join("tools");
    // While "editing", someone else blocks the entry and retitles nothing; the person
    // sets it in progress and adds a tag. The second round saves unchanged: overwrite.
    let ed = editor(
        &tools,
        &format!(
            r#"if ! grep -q '^# error:' "$1"; then
  DEVLOG_ACTOR=other EDITOR=false {bin} edit 1 --status blocked --priority high >/dev/null
  sed -i -e 's/^status: new/status: in-progress/' -e 's/^tags: \[auth\]/tags: [auth, ui]/' "$1"
fi"#,
            bin = BIN
        ),
    );
    ok(&ws, Some(&ed), &["edit", "1"]);
    let second = seen(&tools, 1);
    assert!(
        second.contains("# error: changed by someone else while you edited: status;"),
        "{second}"
    );
    let e = show(&ws, "1");
    assert_eq!(e["status"], "in-progress");
    // The other person's change to a field this edit did not touch stays.
    assert_eq!(e["priority"], "high");
    assert_eq!(e["tags"], serde_json::json!(["auth", "ui"]));
}

#[test]
fn new_with_edit_creates_the_entry_written_in_the_editor() {
    let (tmp, ws) = setup("json");
    let tools = tmp.path().join("tools");
    let ed = editor(
        &tools,
        r#"sed -i -e "s/^title: ''/title: Cache the session lookups/" -e 's/^priority: high/priority: critical/' \
  -e 's/^# Description/# Description\n\nLookups hit the database on every request./' "$1""#,
    );
    let out = ok(
        &ws,
        Some(&ed),
        &["new", "--edit", "--type", "feature", "-p", "high", "--json"],
    );
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["title"], "Cache the session lookups");
    assert_eq!(e["type"], "feature");
    assert_eq!(e["priority"], "critical");
    assert_eq!(
        e["description"],
        "Lookups hit the database on every request."
    );
    // Emptied: nothing created.
    let o = run(
        &ws,
        Some(&editor(&tools, r#": > "$1""#)),
        &["new", "--edit"],
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Nothing created"));
    let list: Value = serde_json::from_str(&ok(&ws, None, &["list", "--all", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

#[test]
fn note_without_text_is_written_in_the_editor() {
    let (tmp, ws) = setup("json");
    let tools = tmp.path().join("tools");
    let ed = editor(
        &tools,
        r#"printf 'Found it: the cookie max-age.\n\nFix next.\n%s' "$(cat "$1")" > "$1""#,
    );
    ok(&ws, Some(&ed), &["note", "1", "-c", "issue"]);
    assert!(seen(&tools, 0).contains("A note (issue) for #1 Fix the login timeout"));
    let e = show(&ws, "1");
    let notes = e["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["content"],
        "Found it: the cookie max-age.\n\nFix next."
    );
    assert_eq!(notes[0]["category"], "issue");
    // Nothing written: an error, no note.
    let o = run(&ws, Some(&editor(&tools, "true")), &["note", "1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("the note is empty"));
    assert_eq!(show(&ws, "1")["notes"].as_array().unwrap().len(), 1);
}
