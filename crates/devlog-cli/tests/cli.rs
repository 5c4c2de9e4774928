//! The `devlog` binary end to end: real processes, real files, real git repositories.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/original-devlog")
}

fn devlog_cmd(dir: &Path, args: &[&str]) -> Command {
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

fn devlog(dir: &Path, args: &[&str]) -> Output {
    devlog_cmd(dir, args).output().unwrap()
}

/// Runs and expects success; returns stdout.
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
    let mut a = args.to_vec();
    a.push("--json");
    let out = ok(dir, &a);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("devlog {args:?} --json is not JSON ({e}):\n{out}"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn zero_config_new_creates_devlog_at_the_repository_root() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    git(repo, &["init", "-q"]);
    let sub = repo.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let out = ok(&sub, &["new", "Fix login", "--type", "bugfix"]);
    assert!(out.contains("Created #1 Fix login"), "{out}");
    assert!(repo.join(".devlog/entries/001-fix-login.json").is_file());
    assert!(!sub.join(".devlog").exists());
    // Found again from anywhere below the root, like git.
    let listed = ok(&sub, &["list"]);
    assert!(
        listed.contains("#1") && listed.contains("Fix login"),
        "{listed}"
    );
    // Retrying the same create returns the same entry.
    let again = ok(repo, &["new", "fix LOGIN", "--type", "bugfix"]);
    assert!(again.contains("Exists") && again.contains("#1"), "{again}");
    let forced = ok(repo, &["new", "fix LOGIN", "--type", "bugfix", "--force"]);
    assert!(forced.contains("Created #2"), "{forced}");
    // `create` (the original's verb, `create_devlog`) is `new`.
    let created = ok(repo, &["create", "Write the docs", "--type", "docs"]);
    assert!(created.contains("Created #3 Write the docs"), "{created}");
    // .state is ignored by git.
    let status = git(repo, &["status", "--porcelain", "--untracked-files=all"]);
    assert!(
        status.contains(".devlog/entries/001-fix-login.json"),
        "{status}"
    );
    assert!(!status.contains(".state"), "{status}");
}

#[test]
fn every_command_speaks_json() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let init = json(d, &["init"]);
    assert_eq!(init["backend"], "json");
    let e = json(
        d,
        &[
            "new",
            "Add export",
            "--type",
            "feature",
            "--priority",
            "high",
            "--description",
            "CSV export",
            "--business",
            "users ask",
            "--technical",
            "streaming writer",
            "--criteria",
            "exports 10k rows",
            "--tag",
            "export",
            "--assignee",
            "ana",
            "--estimate",
            "3",
        ],
    );
    assert_eq!(e["handle"], 1);
    assert_eq!(e["type"], "feature");
    assert_eq!(e["context"]["acceptanceCriteria"][0], "exports 10k rows");
    assert_eq!(e["estimatedHours"], 3.0);
    let id = e["id"].as_str().unwrap().to_string();
    let shown = json(d, &["show", &id[..8]]);
    assert_eq!(shown["id"], id.as_str());
    let edited = json(
        d,
        &[
            "edit",
            "add-export",
            "--status",
            "in-progress",
            "--tag",
            "csv",
            "--untag",
            "export",
        ],
    );
    assert_eq!(edited["status"], "in-progress");
    assert_eq!(edited["tags"], serde_json::json!(["csv"]));
    let noted = json(
        d,
        &[
            "note",
            "#1",
            "writer done",
            "--category",
            "progress",
            "--file",
            "src/export.rs",
        ],
    );
    assert_eq!(noted["notes"][0]["files"][0], "src/export.rs");
    let decided = json(
        d,
        &[
            "decide",
            "1",
            "Use csv crate",
            "--rationale",
            "well kept",
            "--alternative",
            "hand-written",
        ],
    );
    assert_eq!(
        decided["context"]["decisions"][0]["decisionMaker"],
        "tester"
    );
    let list = json(d, &["list", "--status", "in-progress"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let hits = json(d, &["search", "writer"]);
    assert_eq!(hits[0]["handle"], 1);
    assert!(hits[0]["snippet"].as_str().unwrap().contains("[writer]"));
    let ctx = json(d, &["context"]);
    assert_eq!(ctx[0]["handle"], 1);
    let stats = json(d, &["stats"]);
    assert_eq!(stats["byStatus"]["in-progress"], 1);
    let done = json(d, &["done", "1", "--summary", "shipped"]);
    assert_eq!(done["status"], "done");
    assert!(done["closedAt"].is_string());
    let events = json(d, &["events"]);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for k in [
        "created",
        "status-changed",
        "note-added",
        "decision-added",
        "completed",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(events[0]["actor"], "tester");
    let cfg = json(d, &["config", "show"]);
    assert_eq!(cfg["backend"], "json");
    let check = json(d, &["config", "check"]);
    assert_eq!(check["ok"], true);
    let del = devlog(d, &["delete", "1"]);
    assert_eq!(del.status.code(), Some(2), "delete needs --yes");
    let deleted = json(d, &["delete", "1", "--yes"]);
    assert_eq!(deleted["deleted"]["handle"], 1);
}

/// `devlog start|block|review|close|reopen`, `assign` and `tag` on both embedded stores.
fn shortcuts_on(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let run = |args: &[&str]| {
        let mut c = devlog_cmd(d, args);
        c.env("DEVLOG_STORAGE_TYPE", backend);
        c.output().unwrap()
    };
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    ok(&["new", "Fix the login timeout", "--type", "bugfix"]);
    let out = ok(&["start", "1", "--note", "looking at it"]);
    assert_eq!(
        out,
        "#1 Fix the login timeout: new → in-progress; added the note\n"
    );
    assert_eq!(
        ok(&["start", "1"]),
        "#1 Fix the login timeout is already in-progress\n"
    );
    ok(&["block", "1", "-n", "waiting on the API"]);
    ok(&["review", "1"]);
    ok(&["done", "1"]);
    let o = run(&["start", "1"]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "start on done work is invalid input"
    );
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(msg.contains("#1 is done: reopen it first"), "{msg}");
    assert_eq!(
        ok(&["reopen", "1"]),
        "#1 Fix the login timeout: done → new\n"
    );
    let v: Value =
        serde_json::from_str(&ok(&["close", "1", "--note", "obsolete", "--json"])).unwrap();
    assert_eq!(v["status"], "closed");
    assert!(v["closedAt"].is_string());
    let notes: Vec<(&str, &str)> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["category"].as_str().unwrap(),
                n["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        notes,
        [
            ("progress", "looking at it"),
            ("issue", "waiting on the API"),
            ("solution", "obsolete")
        ]
    );
    assert_eq!(
        ok(&["assign", "1", "ana"]),
        "#1 Fix the login timeout is assigned to ana\n"
    );
    assert_eq!(
        ok(&["assign", "1", "--none"]),
        "#1 Fix the login timeout is unassigned\n"
    );
    assert_eq!(
        run(&["assign", "1"]).status.code(),
        Some(2),
        "assign needs a name or --none"
    );
    assert_eq!(
        ok(&["tag", "1", "+perf", "-ui", "api"]),
        "#1 Fix the login timeout has tags: perf, api\n"
    );
    assert_eq!(
        ok(&["tag", "1", "-perf"]),
        "#1 Fix the login timeout has tags: api\n"
    );
    assert_eq!(run(&["tag", "1", "-"]).status.code(), Some(2));
    let v: Value = serde_json::from_str(&ok(&["show", "1", "--json"])).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["api"]));
    assert!(v.get("assignee").is_none_or(|a| a.is_null()), "{v}");
}

#[test]
fn list_shows_open_work_unless_told_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Still open", "--type", "task"]);
    ok(d, &["new", "Finished", "--type", "task"]);
    ok(d, &["new", "Dropped", "--type", "task"]);
    ok(d, &["done", "2"]);
    ok(d, &["close", "3"]);
    let handles = |args: &[&str]| -> Vec<u64> {
        let v = json(d, args);
        let mut h: Vec<u64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["handle"].as_u64().unwrap())
            .collect();
        h.sort();
        h
    };
    assert_eq!(handles(&["list"]), [1]);
    assert_eq!(handles(&["list", "--all"]), [1, 2, 3]);
    assert_eq!(
        handles(&["list", "--status", "done"]),
        [2],
        "--status names what to show"
    );
    assert_eq!(handles(&["list", "--open"]), [1]);
    assert_eq!(
        devlog(d, &["list", "--all", "--open"]).status.code(),
        Some(2)
    );
    ok(d, &["done", "1"]);
    assert_eq!(
        ok(d, &["list"]),
        "No open entries match (--all includes done and closed ones).\n"
    );
}

#[test]
fn bare_devlog_shows_the_today_view_or_how_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Outside a workspace: the help and how to start, exit 0.
    let out = ok(d, &[]);
    assert!(
        out.contains("Usage: devlog") && out.contains("No .devlog here yet"),
        "{out}"
    );
    // `devlog today` is explicit: no workspace is an error like any other command.
    assert_eq!(devlog(d, &["today"]).status.code(), Some(3));
    ok(d, &["new", "Fix login timeout", "--type", "bugfix"]);
    ok(d, &["new", "Add CSV export", "--type", "feature"]);
    ok(d, &["new", "Write docs", "--type", "docs"]);
    ok(d, &["start", "1"]);
    ok(d, &["block", "2", "--note", "waiting on the API"]);
    let out = ok(d, &[]);
    let sections: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .collect();
    assert_eq!(
        sections,
        [
            "In progress (1)",
            "Blocked (1)",
            "Changed in the last 24 hours (1)"
        ],
        "{out}"
    );
    assert!(
        out.contains("#1 Fix login timeout") && out.contains("#3 Write docs"),
        "{out}"
    );
    let v = json(d, &["today", "--limit", "1"]);
    let handles = |k: &str| -> Vec<u64> {
        v[k]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["handle"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        (handles("inProgress"), handles("blocked"), handles("recent")),
        (vec![1], vec![2], vec![3])
    );
    assert_eq!(v["recent"]["total"], 1);
    assert!(v["since"].is_string());
}

#[test]
fn status_shortcuts_assign_and_tag_json() {
    shortcuts_on("json");
}

#[test]
fn status_shortcuts_assign_and_tag_sqlite() {
    shortcuts_on("sqlite");
}

#[test]
fn exit_codes_follow_the_error_class() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let code = |args: &[&str]| devlog(d, args).status.code();
    assert_eq!(code(&["list"]), Some(3), "no .devlog yet");
    ok(d, &["new", "First", "--type", "task"]);
    assert_eq!(code(&["show", "42"]), Some(3));
    assert_eq!(code(&["new", "  "]), Some(5));
    assert_eq!(code(&["list", "--status", "wip"]), Some(2));
    assert_eq!(code(&["edit", "1"]), Some(2), "nothing to change");
    let o = devlog(d, &["show", "nope", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let err: Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(err["error"]["class"], "not-found");
    std::fs::write(d.join("devlog.toml"), "[storage]\ntpye = \"sqlite\"\n").unwrap();
    let o = devlog(d, &["config", "check"]);
    assert_eq!(o.status.code(), Some(5));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("devlog.toml") && msg.contains("tpye") && msg.contains("line 2"),
        "{msg}"
    );
    std::fs::write(d.join("devlog.toml"), "[storage]\ntype = \"mongo\"\n").unwrap();
    let msg = String::from_utf8_lossy(&devlog(d, &["list"]).stderr).to_string();
    assert!(
        msg.contains("mongo") && msg.contains("json, sqlite"),
        "{msg}"
    );
}

#[test]
fn a_broken_entry_file_is_named_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Good", "--type", "task"]);
    ok(d, &["new", "Bad", "--type", "task"]);
    let bad = d.join(".devlog/entries/002-bad.json");
    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("\"status\": \"new\"", "\"status\": \"wip\"");
    std::fs::write(&bad, &text).unwrap();
    let o = devlog(d, &["list"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("Good") && !out.contains("Bad"), "{out}");
    assert!(
        err.contains("002-bad.json") && err.contains("status") && err.contains("in-progress"),
        "{err}"
    );
    // Every format warns, on stderr; stdout keeps its shape.
    let o = devlog(d, &["list", "--json"]);
    assert!(o.status.success());
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning") && err.contains("002-bad.json"),
        "{err}"
    );
    let o = devlog(d, &["show", "2"]);
    assert_eq!(o.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&o.stderr).contains("002-bad.json"));
    assert_eq!(devlog(d, &["note", "2", "x"]).status.code(), Some(6));
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        text,
        "never overwritten"
    );
    ok(d, &["note", "1", "still works"]);
}

/// Adds `n` notes to entry #1, one `devlog note` process after another.
fn note_loop(
    dir: PathBuf,
    who: &'static str,
    n: usize,
    env: Vec<(&'static str, String)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for i in 0..n {
            let mut c = devlog_cmd(&dir, &["note", "1", &format!("{who} {i}")]);
            for (k, v) in &env {
                c.env(k, v);
            }
            let o = c.output().unwrap();
            assert!(
                o.status.success(),
                "{who} {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    })
}

fn concurrent_notes(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_path_buf();
    let env = vec![("DEVLOG_STORAGE_TYPE", backend.to_string())];
    let mut c = devlog_cmd(&d, &["new", "Hot", "--type", "task"]);
    c.env("DEVLOG_STORAGE_TYPE", backend);
    assert!(c.output().unwrap().status.success());
    let a = note_loop(d.clone(), "alpha", 300, env.clone());
    let b = note_loop(d.clone(), "beta", 300, env.clone());
    a.join().unwrap();
    b.join().unwrap();
    let mut c = devlog_cmd(&d, &["show", "1", "--json"]);
    c.env("DEVLOG_STORAGE_TYPE", backend);
    let e: Value = serde_json::from_slice(&c.output().unwrap().stdout).unwrap();
    let notes = e["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 600, "{backend}: every note kept");
    for who in ["alpha", "beta"] {
        let mine: Vec<&str> = notes
            .iter()
            .map(|n| n["content"].as_str().unwrap())
            .filter(|c| c.starts_with(who))
            .collect();
        let expected: Vec<String> = (0..300).map(|i| format!("{who} {i}")).collect();
        assert_eq!(
            mine, expected,
            "{backend}: {who}'s notes all there, in order"
        );
    }
}

#[test]
fn two_processes_adding_300_notes_each_lose_nothing_json() {
    concurrent_notes("json");
}

#[test]
fn two_processes_adding_300_notes_each_lose_nothing_sqlite() {
    concurrent_notes("sqlite");
}

#[test]
fn two_clones_creating_entries_offline_merge_without_collisions() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote.git");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    git(
        tmp.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    git(
        tmp.path(),
        &["clone", "-q", remote.to_str().unwrap(), a.to_str().unwrap()],
    );
    ok(&a, &["new", "Shared setup", "--type", "task"]);
    git(&a, &["add", "-A"]);
    git(&a, &["commit", "-qm", "setup"]);
    git(&a, &["push", "-q", "origin", "HEAD:main"]);
    git(
        tmp.path(),
        &["clone", "-q", remote.to_str().unwrap(), b.to_str().unwrap()],
    );

    // Offline on both sides: each creates two entries (both take #2 and #3).
    for (clone, who) in [(&a, "alpha"), (&b, "beta")] {
        ok(
            clone,
            &["new", &format!("{who} feature"), "--type", "feature"],
        );
        ok(
            clone,
            &["new", &format!("{who} bugfix"), "--type", "bugfix"],
        );
        ok(clone, &["note", "1", &format!("{who} was here")]);
        git(clone, &["add", "-A"]);
        git(clone, &["commit", "-qm", &format!("{who} work")]);
    }
    git(&a, &["push", "-q", "origin", "HEAD:main"]);
    // b merges a's work: entry files never collide (ids and names differ); the shared
    // entry #1 was edited on both sides and is resolved by git only if the edits do not
    // overlap, so b's note on #1 is amended after the merge instead.
    git(&b, &["fetch", "-q", "origin"]);
    let merge = Command::new("git")
        .args(["merge", "-q", "--no-edit", "origin/main"])
        .current_dir(&b)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    let conflicted = git(&b, &["diff", "--name-only", "--diff-filter=U"]);
    // Only the entry both sides edited may conflict; new entries never do.
    for f in conflicted.lines() {
        assert!(
            f.ends_with("001-shared-setup.json"),
            "unexpected conflict in {f}"
        );
    }
    if !merge.status.success() {
        // Take a's version of the shared entry, then redo b's note (what `devlog repos sync`
        // will automate with a field-level merge).
        git(
            &b,
            &[
                "checkout",
                "--theirs",
                ".devlog/entries/001-shared-setup.json",
            ],
        );
        git(&b, &["add", "-A"]);
        git(&b, &["commit", "-qm", "merge"]);
        ok(&b, &["note", "1", "beta was here"]);
    }
    let list = json(&b, &["list", "--limit", "100"]);
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 5, "{list:#}");
    let mut handles: Vec<u64> = items
        .iter()
        .map(|e| e["handle"].as_u64().unwrap())
        .collect();
    handles.sort();
    assert_eq!(
        handles,
        vec![1, 2, 3, 4, 5],
        "colliding handles were renumbered"
    );
    let mut ids: Vec<&str> = items.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "ids never collide");
    // alpha's entries were created first and... either way each title is reachable.
    for t in [
        "alpha feature",
        "alpha bugfix",
        "beta feature",
        "beta bugfix",
        "Shared setup",
    ] {
        let hits = json(&b, &["search", t]);
        assert!(
            hits.as_array().unwrap().iter().any(|h| h["title"] == t),
            "{t}"
        );
    }
    git(&b, &["add", "-A"]);
    git(
        &b,
        &["commit", "-qm", "renumber after merge", "--allow-empty"],
    );
    git(&b, &["push", "-q", "origin", "HEAD:main"]);
    git(&a, &["pull", "-q", "--no-rebase", "origin", "main"]);
    let la = json(&a, &["list", "--sort", "handle", "--asc", "--limit", "100"]);
    let lb = json(&b, &["list", "--sort", "handle", "--asc", "--limit", "100"]);
    let key = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["handle"].as_u64().unwrap(),
                    e["id"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&la), key(&lb), "both clones agree after the round trip");
    let shared = json(&a, &["show", "1"]);
    let contents: Vec<&str> = shared["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["content"].as_str().unwrap())
        .collect();
    assert!(
        contents.contains(&"alpha was here") && contents.contains(&"beta was here"),
        "{contents:?}"
    );
    assert_eq!(
        git(&a, &["status", "--porcelain"]),
        "",
        "nothing left uncommitted in a"
    );
}

/// Values equal, treating a missing key like null / empty (the original wrote `null` for
/// unset fields and omitted empty ones; both read back the same).
fn same(orig: &Value, ours: &Value, path: &str, diffs: &mut Vec<String>) {
    match (orig, ours) {
        (Value::Object(o), Value::Object(u)) => {
            for (k, v) in o {
                let p = format!("{path}.{k}");
                match u.get(k) {
                    Some(w) => same(v, w, &p, diffs),
                    None if v.is_null() => {}
                    None if v.as_array().is_some_and(|a| a.is_empty()) => {}
                    None => diffs.push(format!("{p}: missing")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(x, y, &format!("{path}[{i}]"), diffs);
            }
        }
        _ if orig == ours => {}
        _ => diffs.push(format!("{path}: {orig} != {ours}")),
    }
}

fn check_import(folder: &str, expected: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let src = corpus().join(folder).join(".devlog");
    let out = json(d, &["import", src.to_str().unwrap()]);
    assert_eq!(out["imported"], expected as u64, "{out:#}");
    assert_eq!(out["failed"].as_array().unwrap().len(), 0);
    let mut files: Vec<PathBuf> = std::fs::read_dir(src.join("entries"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert_eq!(files.len(), expected);
    for f in files {
        let orig: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let legacy = orig["id"].as_u64().unwrap();
        // The original integer id is a working reference.
        let ours = json(d, &["show", &legacy.to_string()]);
        assert_eq!(ours["legacyId"], legacy);
        assert_eq!(
            ours["handle"], legacy,
            "the original number stays the handle"
        );
        let mut orig_wo_id = orig.clone();
        orig_wo_id.as_object_mut().unwrap().remove("id");
        let mut diffs = Vec::new();
        same(&orig_wo_id, &ours, "", &mut diffs);
        assert!(diffs.is_empty(), "{}: {diffs:#?}", f.display());
        // The stored file holds the same values too (not only the CLI's view of them).
        assert_eq!(
            ours["notes"].as_array().map(Vec::len),
            orig["notes"].as_array().map(Vec::len)
        );
    }
    // Importing again changes nothing.
    let again = json(d, &["import", src.to_str().unwrap()]);
    assert_eq!(again["unchanged"], expected as u64, "{again:#}");
    assert_eq!(again["imported"], 0);
}

#[test]
fn imports_the_original_head_folder_losslessly() {
    check_import("head", 55);
}

#[test]
fn imports_the_original_early_folder_losslessly() {
    check_import("early", 3);
}

#[test]
fn importing_both_folders_into_one_store_renumbers_clashing_handles() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    json(d, &["import", corpus().join("head").to_str().unwrap()]);
    let out = json(
        d,
        &["import", corpus().join("early/.devlog").to_str().unwrap()],
    );
    assert_eq!(out["imported"], 3);
    let moved = out["renumbered"].as_array().unwrap();
    assert_eq!(
        moved.len(),
        2,
        "early #7 and #10 clash with head's: {out:#}"
    );
    assert_eq!(json(d, &["stats"])["total"], 58);
    // Early #1 kept its number; the early #10's text is still found.
    assert_eq!(
        json(d, &["show", "1"])["title"],
        "Implement User-Friendly Integer ID System"
    );
    let hits = json(d, &["search", "Git-JSON", "storage"]);
    assert!(hits.as_array().unwrap().iter().any(|h| h["legacyId"] == 10));
}

#[test]
fn migrates_json_to_sqlite_and_back_with_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    json(d, &["import", corpus().join("head").to_str().unwrap()]);
    ok(d, &["note", "49", "after import"]);
    let out = json(d, &["migrate", "--to", "sqlite"]);
    assert_eq!(out["entries"], 55);
    assert_eq!(out["verified"], 55);
    assert_eq!(out["targetCount"], 55);
    assert!(out["events"].as_u64().unwrap() >= 56, "{out:#}");
    assert!(d.join(".devlog/devlog.sqlite").is_file());
    // The same data through the sqlite backend.
    let mut c = devlog_cmd(d, &["show", "49", "--json"]);
    c.env("DEVLOG_STORAGE_TYPE", "sqlite");
    let e: Value = serde_json::from_slice(&c.output().unwrap().stdout).unwrap();
    assert_eq!(
        e["notes"].as_array().unwrap().last().unwrap()["content"],
        "after import"
    );
    // Running it again resumes/verifies without duplicating anything.
    let again = json(d, &["migrate", "--to", "sqlite"]);
    assert_eq!(again["unchanged"], 55);
    assert_eq!(again["targetCount"], 55);
    // A target holding other entries is refused without --force.
    let other = tmp.path().join("other.sqlite");
    let mut c = devlog_cmd(d, &["new", "Elsewhere", "--type", "task"]);
    c.env("DEVLOG_STORAGE_TYPE", "sqlite")
        .env("DEVLOG_DIR", d.join(".devlog"));
    assert!(c.output().unwrap().status.success());
    std::fs::copy(d.join(".devlog/devlog.sqlite"), &other).unwrap();
    // SQLite keeps recent commits in the write-ahead log until a checkpoint.
    for ext in ["-wal", "-shm"] {
        let src = d.join(format!(".devlog/devlog.sqlite{ext}"));
        if src.exists() {
            std::fs::copy(&src, format!("{}{ext}", other.display())).unwrap();
        }
    }
    let o = devlog(
        d,
        &[
            "migrate",
            "--to",
            "sqlite",
            "--path",
            other.to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--force"), "{err}");
    // It says what is in the way and what --force does, not that someone raced us.
    assert!(
        err.contains("already holds other data")
            && err.contains("1 entry the source does not have")
            && err.contains("the source's version wins"),
        "{err}"
    );
    assert!(
        !err.contains("concurrently") && !err.contains("run the command again"),
        "{err}"
    );
}

#[test]
fn sync_commands_explain_missing_or_unknown_integrations() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Synced later", "--type", "task"]);
    let o = devlog(d, &["sync"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no integrations are configured"));
    assert_eq!(
        json(d, &["sync", "status"])["entries"],
        serde_json::json!([])
    );
    assert_eq!(json(d, &["sync", "conflicts"]), serde_json::json!([]));
    assert_eq!(devlog(d, &["sync", "--plan"]).status.code(), Some(2));
    // A variable an integration table reads must be set.
    std::fs::write(
        d.join("devlog.toml"),
        "[integrations.github]\nrepository = \"o/r\"\ntoken = \"${DEVLOG_TEST_UNSET_TOKEN}\"\n",
    )
    .unwrap();
    let o = devlog(d, &["config", "check"]);
    assert_eq!(o.status.code(), Some(5));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("integrations.github.token") && msg.contains("DEVLOG_TEST_UNSET_TOKEN"),
        "{msg}"
    );
    // A misspelt integration is an error naming the closest and the known ones.
    std::fs::write(
        d.join("devlog.toml"),
        "[integrations.githb]\nrepository = \"o/r\"\n",
    )
    .unwrap();
    let msg = String::from_utf8_lossy(&devlog(d, &["sync"]).stderr).to_string();
    assert!(
        msg.contains("unknown integration `githb` (did you mean `github`?)"),
        "{msg}"
    );
    assert!(
        msg.contains("this build knows: azure-devops (also [integrations.ado]), github, jira, "),
        "{msg}"
    );
    assert_eq!(devlog(d, &["config", "check"]).status.code(), Some(5));
    // `--system` naming no enabled integration is refused, with a plan too.
    std::fs::write(
        d.join("devlog.toml"),
        "[integrations.github]\nrepository = \"o/r\"\ntoken = \"t\"\napiUrl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let o = devlog(d, &["sync", "--system", "githb", "--plan"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--system githb: not an enabled integration; enabled: github"),
        "{err}"
    );
    // `[integrations.git]` configures local git automation, not a sync integration.
    std::fs::write(
        d.join("devlog.toml"),
        "[integrations.git]\nautoCommit = false\n",
    )
    .unwrap();
    assert!(devlog(d, &["config", "check"]).status.success());
    let o = devlog(d, &["sync"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no integrations are configured"));
    // Entries are unaffected by a broken integration table.
    assert!(ok(d, &["list"]).contains("Synced later"));
}

#[test]
fn completions_are_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(tmp.path(), &["completions", "bash"]);
    assert!(out.contains("devlog") && out.contains("--json"));
}

#[test]
fn empty_standard_input_for_dash_is_refused_unless_allow_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Piped", "--description", "keep me"]);
    // `Command::output` gives the child an empty standard input.
    let o = devlog(d, &["edit", "1", "--description", "-"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("standard input") && err.contains("--allow-empty"),
        "{err}"
    );
    assert_eq!(json(d, &["show", "1"])["description"], "keep me");
    ok(d, &["edit", "1", "--description", "-", "--allow-empty"]);
    assert_eq!(json(d, &["show", "1"])["description"], "");
    // The same rule for every `-`: a note, a new entry's description.
    let o = devlog(d, &["note", "1", "-"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("standard input"));
    assert_eq!(json(d, &["show", "1"])["notes"], serde_json::json!([]));
    let o = devlog(d, &["new", "Second", "--description", "-"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert_eq!(json(d, &["list"]).as_array().unwrap().len(), 1);
}

/// Runs `devlog args` with a standard output whose reader is already gone.
fn run_with_closed_stdout(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut c = devlog_cmd(dir, args);
    c.stdout(writer).stderr(std::process::Stdio::piped());
    c.output().unwrap()
}

#[test]
fn no_command_panics_when_stdout_is_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Closed pipe", "--type", "bugfix"]);
    ok(d, &["note", "1", "a note to show"]);
    let commands: &[&[&str]] = &[
        &["completions", "bash"],
        &["completions", "zsh"],
        &["list"],
        &["list", "--json"],
        &["show", "1"],
        &["show", "1", "--json"],
        &["search", "closed"],
        &["events"],
        &["events", "--json"],
        &["stats"],
        &["context"],
        &["config", "show"],
        &["--help"],
        &["list", "--help"],
        &["--version"],
        &["note", "1", "more"],
        &["edit", "1", "--priority", "high"],
        &["done", "1"],
        &["sync", "status"],
        &["integrations", "list"],
    ];
    for args in commands {
        let o = run_with_closed_stdout(d, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.code() != Some(101) && !err.contains("panicked"),
            "devlog {args:?} with stdout closed: {:?}\n{err}",
            o.status.code()
        );
        assert!(o.status.success(), "devlog {args:?}: {err}");
    }
}

#[test]
fn list_limit_zero_lists_everything_and_dir_errors_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for t in ["One", "Two", "Three"] {
        ok(d, &["new", t]);
    }
    let all = ok(d, &["list", "--limit", "0"]);
    assert!(
        all.contains("One") && all.contains("Two") && all.contains("Three"),
        "{all}"
    );
    assert_eq!(
        json(d, &["list", "--limit", "0"]).as_array().unwrap().len(),
        3
    );
    assert_eq!(
        json(d, &["search", "one", "--limit", "0"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // `context` summarises a few entries: 0 is refused rather than answered with "no work".
    let o = devlog(d, &["context", "--limit", "0"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let past = ok(d, &["list", "--offset", "5"]);
    assert!(past.contains("3 entries match"), "{past}");
    let missing = d.join("nonexistent");
    let o = devlog(d, &["list", "--dir", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
}

#[test]
fn events_show_the_newest_with_a_footer_counting_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Feed"]);
    for i in 0..4 {
        ok(d, &["note", "1", &format!("step {i}")]);
    }
    // 5 events: created and 4 notes. The newest 2, oldest first, like MCP get_recent_changes.
    let evs = json(d, &["events", "--limit", "2"]);
    let seqs: Vec<u64> = evs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![4, 5]);
    let out = ok(d, &["events", "--limit", "2"]);
    assert!(out.contains("3 earlier events"), "{out}");
    // --since walks forward from a point and says how many come after the page.
    let out = ok(d, &["events", "--since", "0", "--limit", "4"]);
    assert!(out.contains("1 more event after seq 4"), "{out}");
    assert!(out.contains("created"), "{out}");
    assert_eq!(
        json(d, &["events", "--limit", "0"])
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn messages_agree_in_number_and_done_twice_says_already_done() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Counted"]);
    let out = ok(d, &["note", "1", "first"]);
    assert!(out.contains("(1 note)"), "{out}");
    let out = ok(d, &["note", "1", "second"]);
    assert!(out.contains("(2 notes)"), "{out}");
    let out = ok(d, &["decide", "1", "Use X", "--rationale", "simple"]);
    assert!(out.contains("(1 decision)"), "{out}");
    let out = ok(d, &["context"]);
    assert!(out.contains("1 open entry shown"), "{out}");
    let out = ok(d, &["stats"]);
    assert!(out.starts_with("1 entry:"), "{out}");
    let out = ok(d, &["done", "1"]);
    assert!(out.starts_with("Completed #1"), "{out}");
    let updated = json(d, &["show", "1"])["updatedAt"].clone();
    let out = ok(d, &["done", "1"]);
    assert!(out.contains("#1 Counted was already done"), "{out}");
    assert_eq!(
        json(d, &["show", "1"])["updatedAt"],
        updated,
        "nothing written"
    );
}

#[test]
fn terminal_escape_sequences_in_data_are_shown_not_obeyed() {
    const ATTACK: &str = "\x1b]0;pwned\x07\x1b[2J";
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", &format!("Login{ATTACK} fails")]);
    ok(d, &["note", "1", &format!("see{ATTACK} here")]);
    ok(
        d,
        &[
            "edit",
            "1",
            "--description",
            &format!("Login fails{ATTACK}"),
        ],
    );
    for args in [
        &["list"][..],
        &["show", "1"],
        &["search", "login"],
        &["context"],
        &["events"],
    ] {
        let out = ok(d, args);
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "devlog {args:?} printed raw control characters: {out:?}"
        );
        if args[0] != "events" {
            // (events shows values as JSON, escaped already)
            assert!(out.contains("␛]0;pwned␇␛[2J"), "devlog {args:?}: {out:?}");
        }
    }
    // Errors naming the data are cleaned too.
    let err = String::from_utf8_lossy(&devlog(d, &["show", "Login"]).stderr).to_string();
    assert!(!err.contains('\x1b'), "{err:?}");
    // JSON keeps the data as it is (escaped by JSON itself).
    let e = json(d, &["show", "1"]);
    assert_eq!(e["title"], format!("Login{ATTACK} fails"));
    assert_eq!(e["notes"][0]["content"], format!("see{ATTACK} here"));
}

/// Issue 12.13 / 19: Jira and Azure DevOps tables are validated like GitHub's, each error
/// naming the table as written (`azure-devops` or its alias `ado`); other spellings of Azure
/// DevOps are unknown names with the right one suggested; secrets are never shown.
#[test]
fn jira_and_ado_tables_in_devlog_toml_are_validated_naming_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Kept", "--type", "task"]);
    // A Jira table is read and validated: an incomplete one is an error naming the key.
    std::fs::write(
        d.join("devlog.toml"),
        "[integrations.jira]\nbaseUrl = \"https://acme.atlassian.net\"\napiToken = \"t\"\nemail = \"a@b.c\"\n",
    )
    .unwrap();
    let o = devlog(d, &["integrations", "check"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("integrations.jira") && err.contains("projectKey"),
        "{err}"
    );
    // Azure DevOps under either name: validated, the error naming the table as written.
    for name in ["azure-devops", "ado"] {
        std::fs::write(
            d.join("devlog.toml"),
            format!(
                "[integrations.{name}]\norganization = \"acme\"\npersonalAccessToken = \"ado_secret_lit\"\n"
            ),
        )
        .unwrap();
        for args in [
            &["config", "check"][..],
            &["integrations", "check"],
            &["sync"],
        ] {
            let o = devlog(d, args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(5), "{name} {args:?}: {err}");
            assert!(
                err.contains(&format!("integrations.{name}")) && err.contains("project"),
                "{name} {args:?}: {err}"
            );
            assert!(!err.contains("ado_secret_lit"), "{err}");
            assert!(!err.contains("not available"), "{err}");
        }
        // config show: among the integrations, the secret redacted.
        let v = json(d, &["config", "show"]);
        assert_eq!(v["integrations"][name]["personalAccessToken"], "***", "{v}");
        assert!(v.get("unavailable").is_none(), "{v}");
        assert!(!v.to_string().contains("ado_secret_lit"));
        let human = ok(d, &["config", "show"]);
        assert!(
            !human.contains("ado_secret_lit") && !human.contains("not available"),
            "{human}"
        );
        // integrations list: available, configured by this table.
        let list = json(d, &["integrations", "list"]);
        let known = list["known"].as_array().unwrap();
        assert!(known.iter().all(|k| k["available"] == true), "{list}");
        assert!(!known.iter().any(|k| k["name"] == "ado"), "{list}");
        let ado = known.iter().find(|k| k["name"] == "azure-devops").unwrap();
        assert_eq!(ado["configured"], true, "{list}");
        assert_eq!(ado["table"], name, "{list}");
        assert_eq!(ado["displayName"], "Azure DevOps", "{list}");
    }
    // The other spellings are unknown names, with the right one suggested.
    for name in ["azure_devops", "azureDevops"] {
        std::fs::write(
            d.join("devlog.toml"),
            format!("[integrations.{name}]\norganization = \"acme\"\n"),
        )
        .unwrap();
        let o = devlog(d, &["config", "check"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(5), "{name}: {err}");
        assert!(
            err.contains(&format!(
                "unknown integration `{name}` (did you mean `azure-devops`?)"
            )),
            "{err}"
        );
    }
    // Without a table, nothing is blocked; `--system azure-devops` says it is not configured.
    std::fs::write(d.join("devlog.toml"), "").unwrap();
    assert!(ok(d, &["list"]).contains("Kept"));
    ok(d, &["integrations", "check"]);
    for extra in [&[][..], &["--plan"]] {
        let mut args = vec!["sync", "--system", "azure-devops"];
        args.extend_from_slice(extra);
        let o = devlog(d, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("not available"), "{err}");
    }
}

#[test]
fn init_and_config_check_count_entries_in_the_singular_and_plural() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["new", "Only one", "--type", "task"]);
    let out = ok(d, &["init"]);
    assert!(out.trim_end().ends_with(", 1 entry"), "{out}");
    let out = ok(d, &["config", "check"]);
    assert!(out.contains("json backend, 1 entry)"), "{out}");
    ok(d, &["new", "Second", "--type", "task"]);
    assert!(ok(d, &["init"]).trim_end().ends_with(", 2 entries"));
    assert!(ok(d, &["config", "check"]).contains("json backend, 2 entries)"));
}

#[test]
fn config_show_names_where_allow_hosts_and_the_sync_strategy_come_from() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join(".devlog")).unwrap();
    let v = json(d, &["config", "show"]);
    assert_eq!(
        v["settings"]["server.allowHosts"]["value"],
        serde_json::json!([])
    );
    assert_eq!(
        v["settings"]["server.allowHosts"]["source"]["from"],
        "default"
    );
    assert_eq!(v["settings"]["sync.strategy"]["value"], "manual");
    assert_eq!(v["settings"]["sync.strategy"]["source"]["from"], "default");
    std::fs::write(
        d.join("devlog.toml"),
        "[server]\nallowHosts = [\"devlog.example.com\", \"ci.example.com\"]\n\n[sync]\nstrategy = \"newest-wins\"\n",
    )
    .unwrap();
    let v = json(d, &["config", "show"]);
    let hosts = &v["settings"]["server.allowHosts"];
    assert_eq!(
        hosts["value"],
        serde_json::json!(["devlog.example.com", "ci.example.com"])
    );
    assert_eq!(hosts["source"]["from"], "file", "{v}");
    assert_eq!(hosts["source"]["key"], "server.allowHosts", "{v}");
    let strategy = &v["settings"]["sync.strategy"];
    assert_eq!(strategy["value"], "newest-wins");
    assert_eq!(strategy["source"]["key"], "sync.strategy", "{v}");
    let human = ok(d, &["config", "show"]);
    let line = human
        .lines()
        .find(|l| l.starts_with("server.allowHosts"))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(
        line.contains("devlog.example.com, ci.example.com")
            && line.contains("devlog.toml (server.allowHosts)"),
        "{line}"
    );
    let line = human
        .lines()
        .find(|l| l.starts_with("sync.strategy"))
        .unwrap();
    assert!(
        line.contains("newest-wins") && line.contains("devlog.toml (sync.strategy)"),
        "{line}"
    );
    // A devlog.toml is not the original's file.
    assert!(!human.contains("the original devlog's"), "{human}");
}

/// Runs `devlog args` as a process that file modes apply to: as root, through `setpriv`
/// without the capabilities that bypass them.
#[cfg(target_os = "linux")]
fn devlog_without_override(dir: &Path, args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    let probe = tempfile::tempdir().unwrap();
    std::fs::set_permissions(probe.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let modes_apply = std::fs::File::create(probe.path().join("x")).is_err();
    std::fs::set_permissions(probe.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let inner = devlog_cmd(dir, args);
    if modes_apply {
        return devlog_cmd(dir, args).output().unwrap();
    }
    let mut c = Command::new("setpriv");
    c.args([
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--inh-caps=-all",
        BIN,
    ])
    .args(inner.get_args())
    .current_dir(dir);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.output()
        .unwrap_or_else(|e| panic!("cannot run setpriv (needed to test file modes): {e}"))
}

#[cfg(target_os = "linux")]
fn chmod_tree(p: &Path, dir_mode: u32, file_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    set(p, 0o755).unwrap();
    for item in std::fs::read_dir(p).unwrap().flatten() {
        if item.path().is_dir() {
            chmod_tree(&item.path(), dir_mode, file_mode);
        } else {
            set(&item.path(), file_mode).unwrap();
        }
    }
    set(p, dir_mode).unwrap();
}

/// Issue 12 follow-up: a read-only checkout's warning is shown once, not as a log line and
/// again as a warning.
#[cfg(target_os = "linux")]
#[test]
fn list_on_a_read_only_checkout_warns_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("checkout");
    std::fs::create_dir(&d).unwrap();
    ok(&d, &["new", "Pulled", "--type", "task"]);
    std::fs::remove_dir_all(d.join(".devlog/.state")).unwrap();
    chmod_tree(&d, 0o555, 0o444);
    let runs: Vec<(&[&str], Output)> = [
        &["list"][..],
        &["list", "--json"],
        &["search", "Pulled"],
        &["stats"],
        &["context"],
    ]
    .into_iter()
    .map(|args| (args, devlog_without_override(&d, args)))
    .collect();
    chmod_tree(&d, 0o755, 0o644);
    for (args, o) in runs {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {err}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Pulled") || args[0] == "stats",
            "{args:?}"
        );
        assert_eq!(
            err.matches("could not be updated").count(),
            1,
            "{args:?} should warn once:\n{err}"
        );
        assert!(err.starts_with("warning: the index"), "{args:?}:\n{err}");
        assert!(err.contains("read-only"), "{err}");
    }
}
