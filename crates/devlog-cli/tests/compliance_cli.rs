//! Compliance end to end (issue 20 item 6): `devlog purge` (by date and by the `[retention]`
//! policy, links removed, one audit record per removal, the audit log kept), `devlog export`
//! (every record of the store as JSON Lines, counts round-tripped), and the secret grep: with
//! test secrets configured for GitHub, Jira, Azure DevOps and their webhooks, no output of a
//! representative set of commands and requests — stdout, stderr, `--json`, `config show`,
//! errors, debug logs, audit records, exports, REST answers and the dashboard's HTML — holds
//! any of them.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
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
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn purge_removes_old_finished_entries_and_their_links_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    for t in [
        "Finished long ago",
        "Closed long ago",
        "Still open",
        "Done today",
    ] {
        ok(d, &["new", t, "--type", "task"]);
    }
    ok(d, &["link", "3", "--blocked-by", "1"]);
    ok(d, &["done", "1"]);
    ok(d, &["close", "2"]);
    ok(d, &["done", "4"]);
    // #1 and #2 finished "long ago": their closedAt moved back in the files (the JSON
    // backend's files are the truth; the index follows them).
    for (h, when) in [
        (1, "2024-01-10T00:00:00.000Z"),
        (2, "2024-02-10T00:00:00.000Z"),
    ] {
        let e = json(d, &["show", &h.to_string()]);
        // The entry's own file (others mention its id in their links).
        let path = std::fs::read_dir(d.join(".devlog/entries"))
            .unwrap()
            .flatten()
            .map(|f| f.path())
            .find(|p| {
                let doc: Value =
                    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                doc["id"] == e["id"]
            })
            .unwrap();
        let mut doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        doc["closedAt"] = Value::String(when.into());
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    // The same size and, on a coarse clock, the same mtime: rebuild the index rather than
    // rely on the fingerprint noticing the edits.
    ok(d, &["reindex"]);
    let audit_before = json(d, &["audit", "list", "--limit", "0"])
        .as_array()
        .unwrap()
        .len();

    // Refusals change nothing.
    for (args, says) in [
        (&["purge", "--before", "2025-01-01"][..], "--yes"),
        (
            &[
                "purge",
                "--before",
                "2025-01-01",
                "--status",
                "new",
                "--yes",
            ][..],
            "open work",
        ),
        (&["purge", "--before", "someday", "--yes"][..], "not a date"),
        (
            &["purge", "--retention", "--yes"][..],
            "no [retention] policy",
        ),
        (&["purge"][..], "--before"),
    ] {
        let o = run(d, args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }

    let plan = json(d, &["purge", "--before", "2025-01-01", "--dry-run"]);
    let handles: Vec<u64> = plan["purged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["handle"].as_u64().unwrap())
        .collect();
    assert_eq!(handles, [1, 2]);
    assert_eq!(plan["purged"][0]["unlinked"], serde_json::json!([3]));
    assert_eq!(
        json(d, &["list", "--all", "--limit", "0"])
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let done = json(d, &["purge", "--before", "2025-01-01", "--yes"]);
    assert_eq!(done["purged"].as_array().unwrap().len(), 2);
    let left: Vec<u64> = json(d, &["list", "--all", "--limit", "0"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["handle"].as_u64().unwrap())
        .collect();
    assert_eq!(left, [4, 3]);
    let three = json(d, &["show", "3"]);
    assert!(
        !three
            .to_string()
            .contains(plan["purged"][0]["id"].as_str().unwrap()),
        "the link to the purged entry is gone: {three}"
    );
    // One deletion record per purged entry (plus the unlink on #3), the log intact.
    let audit = json(d, &["audit", "list", "--limit", "0"]);
    let audit = audit.as_array().unwrap();
    let deletions = audit
        .iter()
        .filter(|r| r["what"]["type"] == "deleted")
        .count();
    assert_eq!(deletions, 2, "{audit:?}");
    assert!(audit.len() >= audit_before + 3);
    ok(d, &["audit", "verify"]);

    // Retention: [retention] closedAfterDays; validated like other sections.
    std::fs::write(d.join("devlog.toml"), "[retention]\nclosedAfterDays = 0\n").unwrap();
    let o = run(d, &["list"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("retention.closedAfterDays"));
    std::fs::write(
        d.join("devlog.toml"),
        "[retention]\nclosedAfterDays = 30\nkeepForever = true\n",
    )
    .unwrap();
    let o = run(d, &["list"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("keepForever"));
    std::fs::write(d.join("devlog.toml"), "[retention]\nclosedAfterDays = 30\n").unwrap();
    let kept = json(d, &["purge", "--retention", "--yes"]);
    assert!(
        kept["purged"].as_array().unwrap().is_empty(),
        "#4 was done today: {kept}"
    );
    std::fs::write(
        d.join("devlog.toml"),
        "[retention]\nclosedAfterDays = 1\nstatuses = [\"done\"]\n",
    )
    .unwrap();
    // Nothing is older than a day: still nothing to purge, and the policy's statuses hold.
    let r = json(d, &["purge", "--retention", "--dry-run"]);
    assert_eq!(r["criteria"]["statuses"], serde_json::json!(["done"]));
}

#[test]
fn export_writes_every_record_and_the_counts_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    ok(d, &["new", "Exported feature", "--type", "feature"]);
    ok(d, &["new", "Exported bug", "--type", "bugfix"]);
    ok(d, &["note", "1", "first note"]);
    ok(d, &["note", "1", "second note"]);
    ok(
        d,
        &[
            "decide",
            "1",
            "Use JSONL",
            "--rationale",
            "one record per line",
        ],
    );
    ok(d, &["log-time", "2", "1h30m"]);
    ok(d, &["link", "2", "--blocks", "1"]);
    ok(d, &["milestone", "new", "v1"]);

    let out = ok(d, &["export"]);
    let file = d.join("export.jsonl");
    ok(d, &["export", "--out", file.to_str().unwrap()]);
    let records = lines(&out);
    let from_file = lines(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(records.len(), from_file.len());

    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *kinds
            .entry(r["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(records[0]["kind"], "header");
    assert_eq!(records[0]["format"], "devlog-export");
    let end = records.last().unwrap();
    assert_eq!(end["kind"], "end");
    // The counts in the file match the records in it and the store.
    let counts = &end["counts"];
    for (kind, key) in [
        ("entry", "entries"),
        ("note", "notes"),
        ("decision", "decisions"),
        ("worklog", "worklogs"),
        ("link", "links"),
        ("milestone", "milestones"),
        ("audit", "audit"),
    ] {
        assert_eq!(
            counts[key].as_u64().unwrap() as usize,
            kinds.get(kind).copied().unwrap_or(0),
            "{kind}: {kinds:?}"
        );
    }
    assert_eq!(kinds["entry"], 2);
    assert_eq!(kinds["note"], 2);
    assert_eq!(kinds["decision"], 1);
    assert_eq!(kinds["worklog"], 1);
    assert_eq!(kinds["link"], 2, "both sides of the link");
    assert_eq!(kinds["milestone"], 1);
    let audit = json(d, &["audit", "list", "--limit", "0"]);
    assert_eq!(kinds["audit"], audit.as_array().unwrap().len());
    // Each entry record is the entry as `show --json` has it.
    for r in records.iter().filter(|r| r["kind"] == "entry") {
        let h = r["entry"]["handle"].as_u64().unwrap();
        assert_eq!(r["entry"], json(d, &["show", &h.to_string()]));
    }
}

/// The test secrets: none may appear in any output.
const SECRETS: &[&str] = &[
    "ghp_TESTSECRETgithubtoken0123456789",
    "gh-webhook-TESTSECRET-4711",
    "jira-api-TESTSECRET-token-9876",
    "jira-webhook-TESTSECRET-5555",
    "ado-pat-TESTSECRET-abcdef0123",
    "ado-hook-TESTSECRET-2468",
];

fn config() -> String {
    format!(
        "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"${{GH_SECRET}}\"\n\
         webhookSecret = \"{}\"\napiUrl = \"http://127.0.0.1:9\"\n\n\
         [integrations.jira]\nbaseUrl = \"http://127.0.0.1:9\"\nprojectKey = \"DEV\"\n\
         email = \"bot@example.com\"\napiToken = \"{}\"\nwebhookSecret = \"{}\"\n\n\
         [integrations.azure-devops]\norganizationUrl = \"http://127.0.0.1:9/acme\"\n\
         project = \"Fabrikam\"\npat = \"{}\"\nserviceHookSecret = \"{}\"\n",
        SECRETS[1], SECRETS[2], SECRETS[3], SECRETS[4], SECRETS[5]
    )
}

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} holds the secret {s}:\n{text}");
        // Nor a recognisable part of one (a prefix printed before truncation).
        assert!(
            !text.contains(&s[..s.len() - 4]),
            "{what} holds part of {s}:\n{text}"
        );
    }
}

/// A request to the server; the whole answer.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn no_output_holds_a_configured_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::write(d.join("devlog.toml"), config()).unwrap();
    let with_env = |args: &[&str]| -> Output {
        cmd(d, args)
            .env("GH_SECRET", SECRETS[0])
            .env("RUST_LOG", "debug")
            .output()
            .unwrap()
    };
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut record = |args: &[&str], o: Output| {
        outputs.push((
            format!("devlog {args:?} stdout"),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ));
        outputs.push((
            format!("devlog {args:?} stderr"),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ));
    };
    let commands: &[&[&str]] = &[
        &["new", "Secret-free work", "--type", "task", "-v", "-v"],
        &["new", "Another", "--type", "bugfix", "--json"],
        &["note", "1", "a note", "-vv"],
        &["config", "show"],
        &["config", "show", "--json"],
        &["integrations", "list"],
        &["integrations", "list", "--json"],
        &["list", "--json", "-vv"],
        &["show", "1", "--json"],
        &["sync", "--plan", "-vv"],
        &["sync", "--json"],
        &["sync", "status"],
        &["sync", "--system", "github", "-vv"],
        &["github", "status", "1"],
        &["jira", "link", "1", "DEV-1", "-vv"],
        &["ado", "iterations", "-vv"],
        &["bulk", "tag", "swept", "--all", "--json", "-vv"],
        &["bulk", "sync", "--all", "--json", "-vv"],
        &["bulk", "close", "--all", "--reason", "done", "--dry-run"],
        &["audit", "list", "--limit", "0", "--json"],
        &["audit", "export"],
        &["export"],
        &["events", "--json"],
        &["purge", "--before", "2000-01-01", "--dry-run", "--json"],
    ];
    for args in commands {
        let o = with_env(args);
        record(args, o);
    }
    // A misconfigured table's error names keys, never values.
    std::fs::write(
        d.join("devlog.toml"),
        config().replace("project = \"Fabrikam\"", "project = 42"),
    )
    .unwrap();
    let o = with_env(&["sync", "--plan"]);
    assert!(!o.status.success());
    record(&["sync", "--plan", "(bad config)"], o);
    std::fs::write(d.join("devlog.toml"), config()).unwrap();

    // The server: REST answers, the dashboard's pages, and its debug log.
    let mut child = cmd(d, &["serve", "--port", "0", "-vv"])
        .env("GH_SECRET", SECRETS[0])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let served = Served(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve starts");
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    for (method, path, body) in [
        ("GET", "/api/v1/entries", None),
        ("GET", "/api/v1/entries/1", None),
        ("GET", "/api/v1/health", None),
        ("GET", "/api/v1/openapi.json", None),
        ("GET", "/api/v1/reports/sync-health", None),
        (
            "POST",
            "/api/v1/bulk",
            Some(r#"{"action":"tag","all":true,"tags":["rest"]}"#),
        ),
        (
            "POST",
            "/api/v1/bulk",
            Some(r#"{"action":"sync","all":true,"dryRun":true}"#),
        ),
        ("POST", "/api/v1/bulk", Some(r#"{"action":"nope"}"#)),
        ("POST", "/webhooks/github", Some(r#"{"zen":"x"}"#)),
        ("POST", "/webhooks/jira", Some(r#"{"webhookEvent":"x"}"#)),
        ("GET", "/", None),
        ("GET", "/entries", None),
        ("GET", "/entries/1", None),
        ("GET", "/sync", None),
        ("GET", "/reports", None),
    ] {
        let answer = http(addr, method, path, body);
        outputs.push((format!("{method} {path}"), answer));
    }
    drop(served);
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        log.push_str(&line);
        log.push('\n');
    }
    outputs.push(("devlog serve -vv log".into(), log));

    // The files devlog wrote: the audit log, history, state.
    for rel in [".devlog/audit.jsonl", ".devlog/.state/bulk"] {
        let p = d.join(rel);
        if p.is_file() {
            outputs.push((rel.into(), std::fs::read_to_string(&p).unwrap()));
        } else if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap().flatten() {
                outputs.push((
                    f.path().display().to_string(),
                    std::fs::read_to_string(f.path()).unwrap_or_default(),
                ));
            }
        }
    }
    assert!(outputs.len() > 60, "{} outputs", outputs.len());
    // The commands did run: the entries exist and bulk wrote to them.
    let all = outputs
        .iter()
        .find(|(w, _)| w == "devlog [\"list\", \"--json\", \"-vv\"] stdout")
        .unwrap();
    assert!(all.1.contains("Secret-free work"), "{}", all.1);
    for (what, text) in &outputs {
        assert_clean(what, text);
    }
}
