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

/// `devlog audit verify --pubkey FILE` fails naming record `seq`; returns stderr.
fn broken_with_key_at(dir: &Path, key: &Path, seq: u64) -> String {
    let o = devlog(
        dir,
        "json",
        &["audit", "verify", "--pubkey", key.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(CORRUPT), "{err}");
    assert!(
        err.contains(&format!("breaks at record {seq}:")),
        "expected a break at {seq}: {err}"
    );
    err
}

/// Re-chains `records` from the first one's `prev` on (what someone able to write the file
/// but not holding the key can do after an edit).
fn rechain(records: &mut [devlog_core::audit::AuditRecord]) {
    let mut prev = records[0].prev.clone();
    for r in records.iter_mut() {
        r.prev = prev;
        r.hash = r.compute_hash();
        prev = r.hash.clone();
    }
}

fn records(d: &Path) -> Vec<devlog_core::audit::AuditRecord> {
    lines(d)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_records(d: &Path, rs: &[devlog_core::audit::AuditRecord]) {
    let l: Vec<String> = rs.iter().map(|r| r.to_line()).collect();
    write_lines(d, &l);
}

/// Issue 20: token changes are audited (never the secret), checkpoints are signed with the
/// workspace's key (0600), the public key verifies them elsewhere, and a forged checkpoint,
/// a re-chained edit, a cut tail and an unsigned tail are each reported.
#[test]
fn token_changes_are_audited_and_signed_checkpoints_catch_forgery_and_cut_tails() {
    use devlog_core::audit::{Action, AuditKey, Head, What};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    five_writes(d, "json");
    let created: Value = serde_json::from_str(&ok(
        d,
        "json",
        &[
            "token", "create", "--name", "ci", "--role", "editor", "--json",
        ],
    ))
    .unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    ok(d, "json", &["token", "revoke", "ci"]);

    let rs = records(d);
    let text = std::fs::read_to_string(d.join(".devlog/audit.jsonl")).unwrap();
    assert!(!text.contains(&secret), "the secret is never recorded");
    let kinds: Vec<&str> = rs.iter().map(|r| r.what.name()).collect();
    // Each token command ends with a checkpoint over its record; the first one made the
    // signing key, which is recorded (its public half) before the checkpoint it signs.
    assert_eq!(
        kinds[kinds.len() - 5..],
        [
            "token-created",
            "audit-key-created",
            "checkpoint",
            "token-revoked",
            "checkpoint"
        ],
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "audit-key-created").count(),
        1
    );
    let made = &rs[rs.len() - 5];
    assert_eq!(made.actor.as_deref(), Some("tester"));
    assert!(matches!(
        &made.what,
        What::Action(Action::TokenCreated { name, role, .. })
            if name == "ci" && role.to_string() == "editor"
    ));
    let list = ok(d, "json", &["audit", "list"]);
    assert!(
        list.contains("token-revoked") && list.contains("token ci"),
        "{list}"
    );

    // The key file is private; its public half is exported.
    let key_file = d.join(".devlog/.state/audit-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pubkey = d.join("audit.pub");
    let printed = ok(
        d,
        "json",
        &["audit", "key", "--output", pubkey.to_str().unwrap()],
    );
    assert_eq!(printed.trim().len(), 64);
    assert_eq!(
        std::fs::read_to_string(&pubkey).unwrap().trim(),
        printed.trim()
    );
    assert!(!printed.contains(std::fs::read_to_string(&key_file).unwrap().trim()));

    let out = ok(
        d,
        "json",
        &["audit", "verify", "--pubkey", pubkey.to_str().unwrap()],
    );
    assert!(out.contains("2 checkpoints valid"), "{out}");
    assert!(!out.contains("not covered"), "{out}");

    // An entry write after the last checkpoint: an unsigned tail, said.
    ok(d, "json", &["note", "1", "after the checkpoint"]);
    let out = ok(d, "json", &["audit", "verify"]);
    assert!(
        out.contains("1 record after the last checkpoint is not covered"),
        "{out}"
    );
    let json: Value = serde_json::from_str(&ok(d, "json", &["audit", "verify", "--json"])).unwrap();
    assert_eq!(json["unsignedTail"], 1);
    assert_eq!(json["checkpoints"], 2);
    ok(d, "json", &["audit", "checkpoint"]);
    let original = std::fs::read(d.join(".devlog/audit.jsonl")).unwrap();
    let restore = || std::fs::write(d.join(".devlog/audit.jsonl"), &original).unwrap();
    let rs = records(d);
    let last_cp = rs.len(); // its seq

    // An edit before a checkpoint, every hash after it recomputed: the chain links, but the
    // checkpoint's signature no longer covers it.
    let first_cp = rs
        .iter()
        .position(|r| r.what.name() == "checkpoint")
        .unwrap();
    let mut t = rs.clone();
    t[1].actor = Some("mallory".into());
    rechain(&mut t[1..]);
    write_records(d, &t);
    let err = broken_with_key_at(d, &pubkey, first_cp as u64 + 1);
    assert!(err.contains("signature does not verify"), "{err}");
    restore();

    // The whole log re-signed with another key: forged checkpoints.
    let (mallory, _) = AuditKey::generate();
    let mut t = rs.clone();
    t[2].actor = Some("mallory".into());
    rechain(&mut t[2..first_cp]);
    let head = Head::of(&t[first_cp - 1]);
    let forged = mallory.checkpoint(&head, t[first_cp].at, None);
    t[first_cp].what = forged.what;
    t[first_cp].prev = head.hash.clone();
    rechain(&mut t[first_cp..]);
    write_records(d, &t);
    let err = broken_with_key_at(d, &pubkey, first_cp as u64 + 1);
    assert!(err.contains("forged checkpoint"), "{err}");
    // Without --pubkey, the workspace's own key is the expected one.
    let err = broken_at(d, "json", first_cp as u64 + 1);
    assert!(err.contains("forged"), "{err}");
    restore();

    // The tail cut off, the last checkpoint with it: the noted checkpoint is missing.
    let mut l = lines(d);
    l.truncate(last_cp - 2);
    write_lines(d, &l);
    let o = devlog(d, "json", &["audit", "verify"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(CORRUPT), "{err}");
    assert!(
        err.contains(&format!("signed checkpoint {last_cp}")) && err.contains("cut off"),
        "{err}"
    );
    restore();

    // A bad --pubkey is a usage error, not a verification result.
    std::fs::write(d.join("bad.pub"), "not a key").unwrap();
    let o = devlog(d, "json", &["audit", "verify", "--pubkey", "bad.pub"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ok(
        d,
        "json",
        &["audit", "verify", "--pubkey", pubkey.to_str().unwrap()],
    );
}

/// Admin changes made through devlog are audited without secrets: workflows switched off and
/// on, and the signing key made again after the old file was moved away (a rotation), whose
/// record names the new public key.
#[test]
fn workflow_switches_and_key_rotation_are_audited_without_secrets() {
    use devlog_core::audit::{Action, What};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    five_writes(d, "json");
    let wf = d.join(".devlog/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("triage.yml"),
        "name: triage\non:\n  manual:\nsteps:\n  - set:\n      priority: high\n",
    )
    .unwrap();
    ok(d, "json", &["workflow", "disable", "triage"]);
    ok(d, "json", &["workflow", "enable", "triage"]);
    // An unknown workflow changes nothing and records nothing.
    assert!(
        !devlog(d, "json", &["workflow", "disable", "nope"])
            .status
            .success()
    );

    let rs = records(d);
    let kinds: Vec<&str> = rs.iter().map(|r| r.what.name()).collect();
    let switches: Vec<&devlog_core::audit::AuditRecord> = rs
        .iter()
        .filter(|r| matches!(r.what.name(), "workflow-enabled" | "workflow-disabled"))
        .collect();
    assert_eq!(switches.len(), 2, "{kinds:?}");
    assert_eq!(switches[0].what.name(), "workflow-disabled");
    assert_eq!(switches[0].actor.as_deref(), Some("tester"));
    assert_eq!(switches[0].origin, devlog_core::event::Origin::Cli);
    assert!(matches!(
        &switches[1].what,
        What::Action(Action::WorkflowEnabled { name }) if name == "triage"
    ));

    // Rotation: the old key moved away, the next checkpoint makes and records a new one.
    let key_file = d.join(".devlog/.state/audit-key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    std::fs::rename(&key_file, d.join("old-audit-key")).unwrap();
    ok(d, "json", &["note", "1", "after the rotation"]);
    ok(d, "json", &["audit", "checkpoint"]);
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_key, new_key);
    let public = ok(d, "json", &["audit", "key"]).trim().to_string();
    let rs = records(d);
    let made: Vec<&devlog_core::audit::AuditRecord> = rs
        .iter()
        .filter(|r| r.what.name() == "audit-key-created")
        .collect();
    assert_eq!(made.len(), 2, "the first key and the rotated one");
    assert!(matches!(
        &made[1].what,
        What::Action(Action::AuditKeyCreated { key, .. }) if *key == public
    ));
    // Neither private key is in the log or its export.
    let export = ok(d, "json", &["audit", "export"]);
    let csv = ok(d, "json", &["audit", "export", "--format", "csv"]);
    for secret in [old_key.trim(), new_key.trim()] {
        assert!(!export.contains(secret) && !csv.contains(secret));
    }
    let out = ok(d, "json", &["audit", "list", "--limit", "0"]);
    assert!(
        out.contains("workflow-disabled") && out.contains("workflow triage"),
        "{out}"
    );
}

/// `devlog purge --scheduled` applies `[retention]` without --yes and records the run.
#[test]
fn scheduled_purge_applies_the_retention_policy_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, "json", &["init"]);
    // No policy: nothing to do, exit 0.
    let out = ok(d, "json", &["purge", "--scheduled"]);
    assert!(out.contains("no [retention] policy"), "{out}");
    let toml = d.join("devlog.toml");
    let mut cfg = std::fs::read_to_string(&toml).unwrap_or_default();
    cfg.push_str("\n[retention]\nclosedAfterDays = 1\n");
    std::fs::write(&toml, cfg).unwrap();
    let shown = ok(d, "json", &["config", "show"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("retention.closedAfterDays") && l.contains(" 1 ")),
        "{shown}"
    );
    assert!(shown.contains("audit.keyFile"), "{shown}");
    ok(d, "json", &["purge", "--scheduled"]);
    let list: Value =
        serde_json::from_str(&ok(d, "json", &["audit", "list", "--limit", "0", "--json"])).unwrap();
    let purged: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["what"]["action"] == "purged")
        .collect();
    assert_eq!(purged.len(), 1, "{list}");
    assert_eq!(purged[0]["what"]["scheduled"], true);
    assert_eq!(purged[0]["what"]["purged"], 0);
    ok(d, "json", &["audit", "verify"]);
}
