//! `devlog link`, `unlink`, `dep`, `risk`, `new --parent`, `list --blocked/--tree`, the open
//! subtasks rule, and a round trip through the original devlog's file format.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

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
    assert!(
        o.status.success(),
        "devlog {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs and expects failure with exit code `code`; returns stderr.
fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let o = devlog(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "devlog {args:?}: {err}");
    err
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(dir, &a)).unwrap()
}

fn entry_file(dir: &Path, handle: u64) -> Value {
    let prefix = format!("{handle:03}-");
    let entries = dir.join(".devlog/entries");
    let f = std::fs::read_dir(&entries)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .unwrap_or_else(|| panic!("no file for #{handle}"));
    serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()
}

/// Exit code of invalid input (`devlog_cli::error::exit::INVALID`).
const INVALID: i32 = 5;

#[test]
fn link_subtasks_blockers_and_the_open_subtasks_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["init"]);
    ok(d, &["new", "Ship search", "--type", "feature"]);
    let out = ok(d, &["new", "Index words", "--parent", "1"]);
    assert!(out.contains("Created #2"), "{out}");
    ok(d, &["new", "Rank hits", "--parent", "ship-search"]);
    ok(d, &["new", "The API"]);
    let err = fails(d, &["new", "Orphan", "--parent", "#99"], 3);
    assert!(err.contains("no entry matches `#99`"), "{err}");

    let out = ok(d, &["link", "1", "--blocked-by", "4"]);
    assert_eq!(out, "Linked #1 is blocked by #4 The API\n");
    let again = json(d, &["link", "1", "--blocked-by", "4"]);
    assert_eq!(again["changed"], false);
    let err = fails(d, &["link", "4", "--blocked-by", "1"], INVALID);
    assert!(
        err.contains("cycle") && err.contains("#1 → #4 → #1"),
        "{err}"
    );
    let err = fails(d, &["link", "1", "--parent", "2"], INVALID);
    assert!(err.contains("#1 → #2 → #1"), "{err}");
    let err = fails(d, &["link", "1", "--blocks"], 2);
    assert!(err.contains("OTHER"), "{err}");

    let show = ok(d, &["show", "1"]);
    assert!(show.contains("subtasks (0/2 done):"), "{show}");
    assert!(show.contains("#2 Index words [new]"), "{show}");
    assert!(show.contains("blocked by:    #4 The API [new]"), "{show}");
    let show4 = ok(d, &["show", "4"]);
    assert!(
        show4.contains("blocks:        #1 Ship search [new]"),
        "{show4}"
    );

    // list --blocked, --tree.
    let blocked = json(d, &["list", "--blocked"]);
    let handles: Vec<&Value> = blocked
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["handle"])
        .collect();
    assert_eq!(handles, vec![&json!(1)]);
    let tree = ok(d, &["list", "--tree", "--sort", "handle", "--asc"]);
    let titles: Vec<&str> = tree
        .lines()
        .skip(1)
        .map(|l| {
            l.split("  ")
                .filter(|c| !c.is_empty())
                .nth(4)
                .unwrap_or("")
                .trim()
        })
        .collect();
    assert_eq!(
        titles,
        vec!["Ship search", "└ Index words", "└ Rank hits", "The API"],
        "{tree}"
    );
    let tree = json(d, &["list", "--tree", "--sort", "handle", "--asc"]);
    assert_eq!(tree[1]["depth"], 1);
    assert_eq!(tree[1]["handle"], 2);

    // A parent is not finished while subtasks are open.
    let err = fails(d, &["done", "1"], INVALID);
    assert!(err.contains("2 open subtasks: #2 (new), #3 (new)"), "{err}");
    assert!(err.contains("--force"), "{err}");
    fails(d, &["close", "1"], INVALID);
    fails(d, &["edit", "1", "--status", "closed"], INVALID);
    assert_eq!(json(d, &["show", "1"])["status"], "new");
    ok(d, &["done", "2"]);
    ok(d, &["close", "3", "--note", "not needed"]);
    let show = ok(d, &["show", "1"]);
    assert!(show.contains("subtasks (2/2 done):"), "{show}");
    ok(d, &["done", "1"]);
    ok(d, &["reopen", "1"]);
    ok(d, &["reopen", "2"]);
    let out = ok(d, &["close", "1", "--force"]);
    assert!(out.contains("→ closed"), "{out}");

    // Unlink both sides.
    let out = ok(d, &["unlink", "4", "1"]);
    assert!(
        out.contains("Unlinked #4 and #1: #4 no longer blocks #1"),
        "{out}"
    );
    assert!(
        entry_file(d, 1)["context"]["dependencies"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        entry_file(d, 4)["context"]["dependencies"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let out = ok(d, &["unlink", "4", "1"]);
    assert!(out.contains("were not linked"), "{out}");
    let out = ok(d, &["unlink", "2", "1", "--kind", "parent"]);
    assert!(out.contains("no longer is a subtask of"), "{out}");
    assert_eq!(
        entry_file(d, 1)["children"],
        json!([entry_file(d, 3)["id"]])
    );
    assert!(entry_file(d, 2).get("parent").is_none());
}

#[test]
fn dependencies_and_risks_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["init"]);
    ok(d, &["new", "Upgrade the driver"]);
    let dep = json(
        d,
        &[
            "dep",
            "add",
            "1",
            "sqlx 0.9 release",
            "--external",
            "launchbadge/sqlx#1",
        ],
    );
    let dep_id = dep["id"].as_str().unwrap().to_string();
    assert_eq!(dep["type"], "blocked-by");
    let out = ok(
        d,
        &[
            "risk",
            "add",
            "1",
            "API churn",
            "--impact",
            "high",
            "--probability",
            "low",
            "--mitigation",
            "pin it",
        ],
    );
    assert!(out.contains("Added risk risk-"), "{out}");
    let err = fails(d, &["risk", "add", "1", "x", "--impact", "huge"], 2);
    assert!(err.contains("low, medium, high"), "{err}");
    let show = ok(d, &["show", "1"]);
    assert!(
        show.contains("- blocked-by sqlx 0.9 release (launchbadge/sqlx#1)"),
        "{show}"
    );
    assert!(
        show.contains("- API churn (impact high, probability low)"),
        "{show}"
    );
    assert!(show.contains("mitigation: pin it"), "{show}");
    let risk_id = entry_file(d, 1)["context"]["risks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let err = fails(d, &["dep", "remove", "1", "dep-nope"], INVALID);
    assert!(err.contains(&dep_id), "{err}");
    ok(d, &["dep", "remove", "1", &dep_id[..8]]);
    ok(d, &["risk", "remove", "1", &risk_id]);
    let file = entry_file(d, 1);
    assert_eq!(file["context"]["dependencies"], json!([]));
    assert_eq!(file["context"]["risks"], json!([]));
}

/// An original devlog entry with dependencies, relatedDevlogs, risks and a field devlog does
/// not know reads as it is, takes links, and keeps the original's parts in their shape.
#[test]
fn original_files_with_relations_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let entries = d.join(".devlog/entries");
    std::fs::create_dir_all(&entries).unwrap();
    let original_dep = json!({
        "id": "dep-1", "type": "blocked-by", "description": "Upstream API release",
        "externalId": "JIRA-12"
    });
    let original_risk = json!({
        "id": "risk-1", "description": "Schema drift", "impact": "high",
        "probability": "medium", "mitigation": "Contract tests"
    });
    let first = json!({
        "key": "build-the-dashboard", "title": "Build the dashboard", "type": "feature",
        "description": "d", "status": "in-progress", "priority": "high",
        "createdAt": "2025-06-26T14:26:46.312Z", "updatedAt": "2025-06-26T15:01:57.150Z",
        "tags": [], "notes": [], "files": [], "relatedDevlogs": [2],
        "context": {
            "businessContext": "", "technicalContext": "",
            "dependencies": [original_dep.clone()], "decisions": [],
            "acceptanceCriteria": [], "risks": [original_risk.clone()]
        },
        "aiContext": {
            "currentSummary": "", "keyInsights": [], "openQuestions": [], "relatedPatterns": [],
            "suggestedNextSteps": [], "lastAIUpdate": "2025-06-26T14:26:46.312Z", "contextVersion": 1
        },
        "customField": {"kept": true},
        "id": 1
    });
    let mut second = first.clone();
    second["key"] = json!("fix-the-api");
    second["title"] = json!("Fix the API");
    second["relatedDevlogs"] = json!([]);
    second["context"]["dependencies"] = json!([]);
    second["context"]["risks"] = json!([]);
    second["id"] = json!(2);
    std::fs::write(
        entries.join("001-build-the-dashboard.json"),
        serde_json::to_string_pretty(&first).unwrap(),
    )
    .unwrap();
    std::fs::write(
        entries.join("002-fix-the-api.json"),
        serde_json::to_string_pretty(&second).unwrap(),
    )
    .unwrap();

    // Read as they are: the original's related id 2 names #2; its dependency and risk show.
    let show = ok(d, &["show", "1"]);
    assert!(
        show.contains("related:       2 → #2 Fix the API [in-progress]"),
        "{show}"
    );
    assert!(
        show.contains("- blocked-by Upstream API release (JIRA-12)  [dep-1]"),
        "{show}"
    );
    assert!(
        show.contains("- Schema drift (impact high, probability medium)  [risk-1]"),
        "{show}"
    );

    ok(d, &["link", "2", "--blocks", "1"]);
    ok(d, &["new", "Chart widget", "--parent", "1"]);
    let file = entry_file(d, 1);
    let second_id = entry_file(d, 2)["id"].clone();
    // The original's parts, unchanged and in their shape; the link beside them.
    assert_eq!(file["context"]["dependencies"][0], original_dep);
    assert_eq!(
        file["context"]["dependencies"][1],
        json!({"id": second_id, "type": "blocked-by", "description": "Fix the API"})
    );
    assert_eq!(file["context"]["risks"], json!([original_risk]));
    assert_eq!(file["relatedDevlogs"], json!([2]));
    assert_eq!(file["customField"], json!({"kept": true}));
    assert_eq!(file["legacyId"], 1);
    assert_eq!(file["children"], json!([entry_file(d, 3)["id"]]));
    assert_eq!(
        entry_file(d, 2)["context"]["dependencies"][0]["type"],
        "blocks"
    );
    // Unlinking removes devlog's link and leaves the original's values.
    ok(d, &["unlink", "1", "2"]);
    let file = entry_file(d, 1);
    assert_eq!(file["context"]["dependencies"], json!([original_dep]));
    assert_eq!(file["relatedDevlogs"], json!([2]));
}
