//! `devlog audit` end to end (issue 20 item 4): CLI writes are recorded with their actor and
//! origin, and `devlog audit verify` names the first broken record after the log is edited,
//! cut, reordered or added to — bytes of `.devlog/audit.jsonl` for the JSON store, raw SQL for
//! SQLite.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sqlx::{Connection, SqliteConnection};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
/// `exit::CORRUPT`.
const CORRUPT: i32 = 6;

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

/// `devlog audit verify` fails naming record `seq`; returns stderr.
fn broken_at(dir: &Path, backend: &str, seq: u64) -> String {
    let o = devlog(dir, backend, &["audit", "verify"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(CORRUPT), "{err}");
    assert!(
        err.contains(&format!("breaks at record {seq}:")),
        "expected a break at {seq}: {err}"
    );
    err
}

/// Five records: create, title edit, note, start (status), tag.
fn five_writes(dir: &Path, backend: &str) {
    ok(dir, backend, &["init"]);
    ok(dir, backend, &["new", "Audited work", "--type", "task"]);
    ok(
        dir,
        backend,
        &["edit", "1", "--title", "Audited work, renamed"],
    );
    ok(dir, backend, &["note", "1", "a note"]);
    ok(dir, backend, &["start", "1"]);
    let list: Value = serde_json::from_str(&ok(
        dir,
        backend,
        &["audit", "list", "--limit", "0", "--json"],
    ))
    .unwrap();
    assert!(list.as_array().unwrap().len() >= 4, "{list}");
    ok(dir, backend, &["audit", "verify"]);
}

#[test]
fn cli_writes_are_recorded_with_actor_and_origin_and_listed_shown_exported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    five_writes(d, "json");
    let list: Value = serde_json::from_str(&ok(d, "json", &["audit", "list", "--json"])).unwrap();
    let records = list.as_array().unwrap();
    for r in records {
        assert_eq!(r["actor"], "tester", "{r}");
        assert_eq!(r["origin"], "cli", "{r}");
    }
    let title = records
        .iter()
        .find(|r| r["what"]["field"] == "title")
        .unwrap();
    assert_eq!(title["what"]["old"], "Audited work");
    assert_eq!(title["what"]["new"], "Audited work, renamed");
    // Filters.
    let by_other: Value = serde_json::from_str(&ok(
        d,
        "json",
        &["audit", "list", "--by", "nobody", "--json"],
    ))
    .unwrap();
    assert_eq!(by_other.as_array().unwrap().len(), 0);
    // `--actor` names who acts (as for every command); it filters nothing.
    let all: Value = serde_json::from_str(&ok(d, "json", &["audit", "list", "--json"])).unwrap();
    let as_other: Value = serde_json::from_str(&ok(
        d,
        "json",
        &["audit", "list", "--actor", "nobody", "--json"],
    ))
    .unwrap();
    assert!(!all.as_array().unwrap().is_empty());
    assert_eq!(as_other, all);
    let of_entry: Value = serde_json::from_str(&ok(
        d,
        "json",
        &[
            "audit",
            "list",
            "--entry",
            "1",
            "--since",
            "2000-01-01",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(of_entry.as_array().unwrap().len(), records.len());
    // Show and export.
    let shown = ok(d, "json", &["audit", "show", "2"]);
    assert!(shown.contains("before  Audited work\n"), "{shown}");
    let out = d.join("audit.csv");
    ok(
        d,
        "json",
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), records.len() + 1);
    assert!(csv.contains("\"Audited work, renamed\""), "{csv}");
    let jsonl = ok(d, "json", &["audit", "export"]);
    assert_eq!(jsonl.lines().count(), records.len());
    let o = devlog(d, "json", &["audit", "show", "999"]);
    assert_eq!(o.status.code(), Some(3), "not found");
}

fn lines(d: &Path) -> Vec<String> {
    std::fs::read_to_string(d.join(".devlog/audit.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(d: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(d.join(".devlog/audit.jsonl"), text).unwrap();
}

#[test]
fn verify_names_the_record_an_edit_deletion_reorder_or_insertion_broke_in_the_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    five_writes(d, "json");
    let original = std::fs::read(d.join(".devlog/audit.jsonl")).unwrap();
    let restore = || std::fs::write(d.join(".devlog/audit.jsonl"), &original).unwrap();

    // A byte edited in place (hex-editor style): "tester" becomes "tastar" in record 3.
    let mut bytes = original.clone();
    let line3 = {
        let mut starts = vec![0];
        starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        starts[2]
    };
    let at = line3
        + bytes[line3..]
            .windows(6)
            .position(|w| w == b"tester")
            .unwrap();
    bytes[at + 1] = b'a';
    bytes[at + 4] = b'a';
    std::fs::write(d.join(".devlog/audit.jsonl"), &bytes).unwrap();
    let err = broken_at(d, "json", 3);
    assert!(err.contains("edited"), "{err}");
    restore();

    // Record 2 deleted.
    let mut l = lines(d);
    l.remove(1);
    write_lines(d, &l);
    broken_at(d, "json", 2);
    restore();

    // Records 3 and 4 swapped.
    let mut l = lines(d);
    l.swap(2, 3);
    write_lines(d, &l);
    broken_at(d, "json", 3);
    restore();

    // A copy of record 1 inserted after record 2.
    let mut l = lines(d);
    let first = l[0].clone();
    l.insert(2, first);
    write_lines(d, &l);
    broken_at(d, "json", 3);
    restore();

    // A line that is not JSON.
    let mut l = lines(d);
    l[1] = "garbage".into();
    write_lines(d, &l);
    let err = broken_at(d, "json", 2);
    assert!(err.contains("line 2"), "{err}");
    restore();

    ok(d, "json", &["audit", "verify"]);
}

async fn sql(d: &Path, statements: &[&str]) {
    let url = format!("sqlite://{}", d.join(".devlog/devlog.sqlite").display());
    let mut c = SqliteConnection::connect(&url).await.unwrap();
    for s in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn verify_names_the_record_raw_sql_changed_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    five_writes(d, "sqlite");
    // The table refuses UPDATE and DELETE while its triggers stand.
    let url = format!("sqlite://{}", d.join(".devlog/devlog.sqlite").display());
    let mut c = SqliteConnection::connect(&url).await.unwrap();
    let refused = sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&mut c)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    c.close().await.unwrap();
    sql(
        d,
        &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
            "CREATE TABLE saved AS SELECT * FROM audit_log",
        ],
    )
    .await;
    let restore = [
        "DELETE FROM audit_log",
        "INSERT INTO audit_log SELECT * FROM saved",
    ];

    sql(
        d,
        &["UPDATE audit_log SET record = replace(record, '\"tester\"', '\"mallory\"') WHERE seq = 3"],
    )
    .await;
    let err = broken_at(d, "sqlite", 3);
    assert!(err.contains("edited"), "{err}");
    sql(d, &restore).await;

    sql(d, &["DELETE FROM audit_log WHERE seq = 2"]).await;
    broken_at(d, "sqlite", 2);
    sql(d, &restore).await;

    // Reordered: records 3 and 4 trade places (their rows' seq swapped).
    sql(
        d,
        &[
            "UPDATE audit_log SET seq = -3 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = 4",
            "UPDATE audit_log SET seq = 4 WHERE seq = -3",
        ],
    )
    .await;
    broken_at(d, "sqlite", 3);
    sql(d, &restore).await;

    // Inserted: a copy of record 1 squeezed in as row 2.5 (rows are read by seq).
    sql(
        d,
        &[
            "CREATE TABLE moved AS SELECT * FROM audit_log WHERE seq >= 3",
            "DELETE FROM audit_log WHERE seq >= 3",
            "INSERT INTO audit_log SELECT 3, at, entry_id, actor, record FROM saved WHERE seq = 1",
            "INSERT INTO audit_log SELECT seq + 1, at, entry_id, actor, record FROM moved",
            "DROP TABLE moved",
        ],
    )
    .await;
    broken_at(d, "sqlite", 3);
    sql(d, &restore).await;

    ok(d, "sqlite", &["audit", "verify"]);
}
