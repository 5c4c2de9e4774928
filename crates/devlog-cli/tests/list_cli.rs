//! `devlog list`'s columns and `--format` templates.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn run(dir: &Path, columns: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env("NO_COLOR", "1");
    match columns {
        Some(w) => c.env("COLUMNS", w),
        None => c.env_remove("COLUMNS"),
    };
    c.output().unwrap()
}

fn ok(dir: &Path, columns: Option<&str>, args: &[&str]) -> String {
    let o = run(dir, columns, args);
    assert!(
        o.status.success(),
        "devlog {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn store() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(
        d,
        None,
        &[
            "new",
            "Export CSV",
            "--tag",
            "io",
            "--tag",
            "ux",
            "-a",
            "ana",
        ],
    );
    ok(d, None, &["new", "Fix import", "--type", "bugfix"]);
    tmp
}

#[test]
fn assignee_and_tags_appear_when_the_terminal_is_wide_enough() {
    let tmp = store();
    let d = tmp.path();
    let header = |out: &str| {
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Not a terminal (a pipe): the base columns, stable for scripts.
    assert_eq!(
        header(&ok(d, None, &["list"])),
        "# STATUS PRIORITY TYPE TITLE UPDATED"
    );
    assert_eq!(
        header(&ok(d, Some("80"), &["list"])),
        "# STATUS PRIORITY TYPE TITLE UPDATED"
    );
    assert_eq!(
        header(&ok(d, Some("115"), &["list"])),
        "# STATUS PRIORITY TYPE TITLE ASSIGNEE UPDATED"
    );
    let wide = ok(d, Some("140"), &["list"]);
    assert_eq!(
        header(&wide),
        "# STATUS PRIORITY TYPE TITLE ASSIGNEE TAGS UPDATED"
    );
    assert!(
        wide.lines()
            .any(|l| l.contains("Export CSV") && l.contains("ana") && l.contains("io,ux")),
        "{wide}"
    );
}

#[test]
fn columns_are_chosen_by_name_in_order() {
    let tmp = store();
    let d = tmp.path();
    let out = ok(d, None, &["list", "--columns", "title,handle,tags"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TITLE", "#", "TAGS"]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Export CSV") && l.ends_with("io,ux")),
        "{out}"
    );
    let o = run(d, None, &["list", "--columns", "handle,colour"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values"));
}

#[test]
fn format_renders_one_line_per_entry_and_names_unknown_fields() {
    let tmp = store();
    let d = tmp.path();
    let out = ok(
        d,
        None,
        &[
            "list",
            "--sort",
            "handle",
            "--asc",
            "--format",
            "{{handle}}|{{type}}|{{title}}|{{tags|join(\",\")}}|{{assignee}}",
        ],
    );
    assert_eq!(out, "1|task|Export CSV|io,ux|ana\n2|bugfix|Fix import||\n");
    let o = run(d, None, &["list", "--format", "{{handle}} {{titel}}"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`titel` is undefined") && err.contains("title"),
        "{err}"
    );
    let o = run(d, None, &["list", "--format", "{{handle}"]);
    assert_eq!(o.status.code(), Some(2));
    // A template that would run away is stopped, not left to spin.
    let o = run(
        d,
        None,
        &[
            "list",
            "--format",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        ],
    );
    assert!(!o.status.success());
}
