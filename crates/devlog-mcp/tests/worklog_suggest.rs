//! `suggest_worklogs` through rmcp's client, over a real git repository whose commits are made
//! at set times: proposals appear, applying logs each worklog once, applied and dismissed ones
//! are never proposed again, bad ids are refused and change nothing.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::sync::Arc;

use devlog_core::ops::NewEntry;
use devlog_core::worklog_suggest::{SuggestSource, WorklogSuggester};
use devlog_core::{Devlog, Origin, Store, WriteMeta};
use devlog_git::activity::{GitHistory, LedgerFile};
use devlog_mcp::{DevlogMcp, Options};
use devlog_testkit::git_repo::{AUTHOR_EMAIL, GitRepo};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

struct Rig {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    app: Devlog,
    client: RunningService<RoleClient, ()>,
}

async fn serve(options: Options, app: Devlog) -> RunningService<RoleClient, ()> {
    let server = DevlogMcp::new(app, options);
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.unwrap()
}

/// A repository `alpha` with entries #1 Login form and #2 Search, and commits on them.
async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("alpha");
    let repo = GitRepo::init(&root);
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&root.join(".devlog"))
            .await
            .unwrap(),
    );
    let app = Devlog::new(store);
    for title in ["Login form", "Search"] {
        app.create(
            NewEntry {
                title: title.into(),
                kind: Some(devlog_core::EntryType::Feature),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
    }
    // 09:00–09:40 on #1 (40m + 30m padding), then 14:00–14:30 on #1 and #2 (60m, split);
    // someone else's commit and one that mentions no entry do not count; #9 is no entry.
    repo.commit("2025-03-10T09:00:00Z", "start the login form (#1)");
    repo.commit_by(
        "2025-03-10T09:20:00Z",
        "review #1",
        "Other",
        "other@example.invalid",
    );
    repo.commit("2025-03-10T09:40:00Z", "more of the form, devlog-1");
    repo.commit("2025-03-10T12:00:00Z", "unrelated chore");
    repo.commit("2025-03-10T14:00:00Z", "search index #2 for #1");
    repo.commit("2025-03-10T14:30:00Z", "search tests #2 and #9");
    let history = GitHistory::discover(&root).unwrap();
    let suggester = WorklogSuggester::new(
        vec![SuggestSource {
            name: history.name(),
            path: history.workdir().display().to_string(),
            app: app.clone(),
            history: Arc::new(history),
        }],
        Arc::new(LedgerFile::in_devlog_dir(&root.join(".devlog"))),
    );
    let options = Options {
        actor: Some("agent".into()),
        worklog_suggester: Some(suggester),
        ..Options::default()
    };
    let client = serve(options, app.clone()).await;
    Rig {
        _dir: dir,
        root,
        app,
        client,
    }
}

impl Rig {
    async fn call(&self, args: Value) -> CallToolResult {
        let Value::Object(args) = args else { panic!() };
        self.client
            .call_tool(CallToolRequestParams::new("suggest_worklogs").with_arguments(args))
            .await
            .unwrap()
    }

    async fn ok(&self, args: Value) -> (String, Value) {
        let r = self.call(args.clone()).await;
        assert_ne!(r.is_error, Some(true), "{args}: {}", common::text(&r));
        (common::text(&r), r.structured_content.unwrap())
    }

    async fn fails(&self, args: Value) -> String {
        let r = self.call(args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{args}: {}", common::text(&r));
        common::text(&r)
    }

    /// (handle, minutes) of each worklog, sorted.
    async fn worklogs(&self) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        for e in self.app.store().all().await.unwrap() {
            for w in &e.worklogs {
                out.push((e.handle, w.minutes));
            }
        }
        out.sort_unstable();
        out
    }
}

/// (handle, minutes, id) of each suggestion, sorted.
fn rows(v: &Value) -> Vec<(u64, u64, String)> {
    let mut r: Vec<_> = v["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["handle"].as_u64().unwrap(),
                s["minutes"].as_u64().unwrap(),
                s["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    r.sort();
    r
}

const SINCE: &str = "2025-01-01";

#[tokio::test]
async fn suggestions_are_listed_applied_once_dismissed_and_never_proposed_again() {
    let r = rig().await;
    let list = json!({"since": SINCE, "author": AUTHOR_EMAIL});
    let (text, first) = r.ok(list.clone()).await;
    let got: Vec<(u64, u64)> = rows(&first).iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(got, vec![(1, 30), (1, 70), (2, 30)], "{first:#}");
    assert!(
        text.contains("Login form") && text.contains("apply"),
        "{text}"
    );
    assert!(first["notes"].to_string().contains("#9"), "{first:#}");
    assert_eq!(first["suggestions"][0]["repo"], "alpha");
    assert!(r.worklogs().await.is_empty(), "listing logs nothing");

    // Bad ids: refused, nothing logged or dismissed.
    let ids = rows(&first);
    let morning = ids.iter().find(|x| x.1 == 70).unwrap().2.clone();
    for (args, want) in [
        (
            json!({"since": SINCE, "author": AUTHOR_EMAIL, "apply": ["zz-top"]}),
            "not a suggestion id",
        ),
        (
            json!({"since": SINCE, "author": AUTHOR_EMAIL, "apply": [morning.clone(), "abcdef123456"]}),
            "no pending suggestion",
        ),
        (
            json!({"since": SINCE, "author": AUTHOR_EMAIL, "apply": []}),
            "apply is empty",
        ),
        (
            json!({"since": SINCE, "author": AUTHOR_EMAIL, "apply": [morning.clone()], "dismiss": [morning.clone()]}),
            "not both",
        ),
        (json!({"since": "soonish"}), "since"),
        (json!({"gap": "0"}), "gap"),
    ] {
        let err = r.fails(args.clone()).await;
        assert!(err.contains(want), "{args}: {err}");
    }
    assert!(r.worklogs().await.is_empty());
    assert!(
        !r.root
            .join(".devlog/.state/worklog-suggestions.json")
            .exists()
    );

    // Apply one by prefix: logged once, with its suggestion id, by the server's actor.
    let (text, applied) = r
        .ok(json!({"since": SINCE, "author": AUTHOR_EMAIL, "apply": [&morning[..6]]}))
        .await;
    assert!(text.contains("Logged 1h10m on #1"), "{text}");
    assert_eq!(applied["applied"].as_array().unwrap().len(), 1);
    assert_eq!(
        applied["applied"][0]["worklog"]["suggestion"],
        morning.as_str()
    );
    assert_eq!(applied["applied"][0]["worklog"]["author"], "agent");
    assert_eq!(r.worklogs().await, vec![(1, 70)]);
    // Applying it again: it is no longer pending.
    let err = r
        .fails(json!({"since": SINCE, "author": AUTHOR_EMAIL, "apply": [morning.clone()]}))
        .await;
    assert!(err.contains("no pending suggestion"), "{err}");
    assert_eq!(r.worklogs().await, vec![(1, 70)]);

    // Dismiss #2's share; apply #1's.
    let (_, now) = r.ok(list.clone()).await;
    let rest = rows(&now);
    assert_eq!(rest.len(), 2, "{now:#}");
    let two = rest.iter().find(|x| x.0 == 2).unwrap().2.clone();
    let one = rest.iter().find(|x| x.0 == 1).unwrap().2.clone();
    let (_, d) = r
        .ok(json!({"since": SINCE, "author": AUTHOR_EMAIL, "dismiss": [two.clone()]}))
        .await;
    assert_eq!(d["dismissed"], json!([two]));
    r.ok(json!({"since": SINCE, "author": AUTHOR_EMAIL, "apply": [one]}))
        .await;
    assert_eq!(r.worklogs().await, vec![(1, 30), (1, 70)]);
    let (text, after) = r.ok(list).await;
    assert!(rows(&after).is_empty(), "{after:#}");
    assert!(text.contains("No worklog suggestions"), "{text}");
}

#[tokio::test]
async fn without_a_git_repository_the_tool_says_what_to_do() {
    let h = common::start(common::Backend::Sqlite, "agent").await;
    let err = h.fails("suggest_worklogs", json!({})).await;
    assert!(err.contains("git repository"), "{err}");
}
