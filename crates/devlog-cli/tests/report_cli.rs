//! `devlog report` (issue 17): every format, custom templates and their errors.
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

/// A workspace with three entries: #1 done after being started, blocked and resumed (its
/// title tries to inject markup), #2 done without being started, #3 open.
fn workspace() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["new", "<script>alert(1)</script> & co", "--tag", "ui"]);
    ok(p, &["new", "Straight to done", "--type", "bugfix"]);
    ok(p, &["new", "Still open"]);
    for args in [
        ["start", "1"],
        ["block", "1"],
        ["start", "1"],
        ["done", "1"],
        ["done", "2"],
    ] {
        ok(p, &args);
    }
    d
}

/// RFC 4180 records (quoted fields with doubled quotes, CRLF line ends).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "an unterminated quote in {text:?}");
    rows
}

#[test]
fn json_is_the_report_data_and_table_output_degrades_to_ascii_in_a_pipe() {
    let d = workspace();
    let v: Value =
        serde_json::from_str(&ok(d.path(), &["report", "cycle-time", "--json"])).unwrap();
    assert_eq!(v["report"], "cycle-time");
    assert_eq!(v["data"]["overall"]["count"], 1, "{v}");
    assert_eq!(v["data"]["neverInProgress"], 1, "{v}");
    let same: Value =
        serde_json::from_str(&ok(d.path(), &["report", "cycle-time", "--format", "json"])).unwrap();
    assert_eq!(same["data"], v["data"]);
    let t = ok(d.path(), &["report", "counts", "--by", "status,tag"]);
    assert!(t.contains("By status") && t.contains("By tag"), "{t}");
    assert!(t.contains("done    2"), "{t}");
    assert!(t.contains("##"), "bars in ASCII: {t}");
    assert!(
        t.is_ascii() || !t.contains('█'),
        "no Unicode blocks in a pipe: {t}"
    );
    let t = ok(d.path(), &["report", "throughput", "--by", "day"]);
    assert!(t.contains("Per day") && !t.contains('▁'), "{t}");
}

#[test]
fn csv_parses_into_one_table() {
    let d = workspace();
    let rows = parse_csv(&ok(d.path(), &["report", "counts", "--format", "csv"]));
    assert_eq!(rows[0], ["group", "key", "count"]);
    assert!(rows.iter().all(|r| r.len() == 3), "{rows:?}");
    assert!(
        rows.contains(&vec!["status".into(), "done".into(), "2".into()]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec!["tag".into(), "ui".into(), "1".into()]),
        "{rows:?}"
    );
    let rows = parse_csv(&ok(
        d.path(),
        &["report", "throughput", "--by", "week", "--format", "csv"],
    ));
    assert_eq!(rows[0], ["week", "created", "done", "closed"]);
    let done: u64 = rows[1..].iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(done, 2);
}

#[test]
fn html_is_one_file_with_svg_charts_no_script_and_escaped_data() {
    let d = workspace();
    let html = ok(d.path(), &["report", "lead-time", "--format", "html"]);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<svg"), "{html}");
    assert!(!html.to_lowercase().contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{html}"
    );
    assert!(!html.contains("http://") || html.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(!html.contains("https://"), "no external resource: {html}");
    let out = d.path().join("wip.html");
    ok(
        d.path(),
        &[
            "report",
            "wip",
            "--format",
            "html",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read_to_string(out).unwrap().contains("<svg"));
}

#[test]
fn markdown_has_tables_with_escaped_cells() {
    let d = workspace();
    let md = ok(d.path(), &["report", "lead-time", "--format", "md"]);
    assert!(md.starts_with("# Lead time"), "{md}");
    assert!(md.contains("| WEEK | ENTRIES | MEDIAN | P85 |"), "{md}");
    assert!(md.contains("\\<script\\>"), "{md}");
}

#[test]
fn bad_requests_name_what_to_fix() {
    let d = workspace();
    let o = devlog(d.path(), &["report", "velocity"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("velocity") && err.contains("lead-time"),
        "{err}"
    );
    let o = devlog(d.path(), &["report", "throughput", "--by", "tag"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("week, day, month"));
    let o = devlog(d.path(), &["report", "burndown", "--milestone", "nope"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
}

#[test]
fn custom_templates_render_report_data_and_errors_name_file_and_line() {
    let d = workspace();
    let dir = d.path().join(".devlog/reports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("weekly.md.j2"),
        "# Weekly\n{{ reports.throughput.data.done }} done; lead-time median {{ reports.lead_time.data.overall.medianHours is none }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("weekly.html.j2"),
        "<h1>{% for r in reports.lead_time.data.slowest %}{{ r.title }}{% endfor %}</h1>\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.md.j2"),
        "# Broken\n\nline three: {{ reports.throughput.data.nothing_here }}\n",
    )
    .unwrap();
    let list = ok(d.path(), &["report", "list"]);
    assert!(list.contains("weekly") && list.contains("custom") && list.contains("cycle-time"));
    assert_eq!(ok(d.path(), &["report"]), list, "without a name: the list");
    let md = ok(d.path(), &["report", "weekly"]);
    assert_eq!(md, "# Weekly\n2 done; lead-time median False\n");
    let html = ok(d.path(), &["report", "weekly", "--format", "html"]);
    assert!(html.contains("&lt;script&gt;"), "autoescaped: {html}");
    let o = devlog(d.path(), &["report", "broken"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.md.j2:3"), "{err}");
    let o = devlog(d.path(), &["report", "weekly", "--format", "csv"]);
    assert!(!o.status.success());
}

#[test]
fn the_sample_template_in_the_docs_renders() {
    let d = workspace();
    let dir = d.path().join(".devlog/reports");
    std::fs::create_dir_all(&dir).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/samples/weekly.md.j2");
    std::fs::copy(sample, dir.join("weekly.md.j2")).unwrap();
    let md = ok(d.path(), &["report", "weekly"]);
    assert!(md.contains("# Week report ("), "{md}");
    assert!(md.contains("| week | created | done | closed |"), "{md}");
    assert!(md.contains("over 2 entries"), "{md}");
}
