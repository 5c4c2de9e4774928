//! `/api/v1/worklogs/suggestions` over a real git repository whose commits are made at set
//! times: proposals appear, `apply` logs each worklog once, applied and dismissed ones are
//! never proposed again, bad ids are refused and change nothing; and `log-time` is
//! `POST /entries/{ref}/worklogs` (tests/http/planning.rs).

use std::sync::Arc;

use axum::http::StatusCode;
use devlog_core::ops::NewEntry;
use devlog_core::worklog_suggest::{SuggestSource, WorklogSuggester};
use devlog_core::{Devlog, EntryType, Origin, Store, WriteMeta};
use devlog_git::activity::{GitHistory, LedgerFile};
use devlog_server::ServerOptions;
use devlog_testkit::git_repo::{AUTHOR_EMAIL, GitRepo};
use serde_json::{Value, json};

use crate::common::Harness;

const LIST: &str = "/api/v1/worklogs/suggestions?since=2025-01-01&author=tess@example.invalid";

/// A repository `beta` with entries #1 Deploy and #2 Docs and commits on them, served with a
/// worklog suggester over it.
async fn rig() -> (Harness, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("beta");
    let repo = GitRepo::init(&root);
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&root.join(".devlog"))
            .await
            .unwrap(),
    );
    let app = Devlog::new(store);
    for title in ["Deploy", "Docs"] {
        app.create(
            NewEntry {
                title: title.into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
    }
    // 08:00–08:05 on #1 (5m + 30m), 16:00 on #2 (30m).
    repo.commit("2025-03-11T08:00:00Z", "deploy script #1");
    repo.commit("2025-03-11T08:05:00Z", "fix the deploy script devlog-1");
    repo.commit("2025-03-11T16:00:00Z", "document it #2");
    let history = GitHistory::discover(&root).unwrap();
    // A second repository that disappears after start-up: skipped with a note, the first
    // still answers.
    let gone = dir.path().join("gone");
    GitRepo::init(&gone);
    let gone_history = GitHistory::discover(&gone).unwrap();
    std::fs::remove_dir_all(&gone).unwrap();
    let suggester = WorklogSuggester::new(
        vec![
            SuggestSource {
                name: history.name(),
                path: history.workdir().display().to_string(),
                app: app.clone(),
                history: Arc::new(history),
            },
            SuggestSource {
                name: gone_history.name(),
                path: gone_history.workdir().display().to_string(),
                app: app.clone(),
                history: Arc::new(gone_history),
            },
        ],
        Arc::new(LedgerFile::in_devlog_dir(&root.join(".devlog"))),
    );
    let options = ServerOptions {
        mcp: false,
        actor: Some("server".into()),
        worklog_suggester: Some(suggester),
        ..ServerOptions::default()
    };
    (Harness::over(app, options, dir), root)
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

async fn worklogs(h: &Harness) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for e in h.app.store().all().await.unwrap() {
        for w in &e.worklogs {
            out.push((e.handle, w.minutes));
        }
    }
    out.sort_unstable();
    out
}

fn choice(ids: &[&str]) -> Value {
    json!({"ids": ids, "since": "2025-01-01", "author": AUTHOR_EMAIL})
}

#[tokio::test]
async fn suggestions_are_listed_applied_once_dismissed_and_never_proposed_again() {
    let (h, root) = rig().await;
    let r = h.get(LIST).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let first = r.json();
    let got: Vec<(u64, u64)> = rows(&first).iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(got, vec![(1, 35), (2, 30)], "{first:#}");
    let s = &first["suggestions"][0];
    assert_eq!(s["repo"], "beta");
    assert_eq!(s["date"], "2025-03-11");
    assert!(s["repository"].as_str().unwrap().ends_with("beta"));
    assert_eq!(first["since"], "2025-01-01T00:00:00Z");
    let notes = first["notes"].to_string();
    assert!(notes.contains("skipped gone"), "{notes}");
    // Listing again: the same ids; nothing logged.
    assert_eq!(
        h.get(LIST).await.json()["suggestions"],
        first["suggestions"]
    );
    assert!(worklogs(&h).await.is_empty());

    let ids = rows(&first);
    let (deploy, docs) = (ids[0].2.clone(), ids[1].2.clone());
    // Bad input: a clear 422 (or 400), nothing logged or dismissed.
    for (uri, body, status, want) in [
        ("apply", choice(&["zz-top"]), 422, "not a suggestion id"),
        (
            "apply",
            choice(&[&deploy, "abcdef123456"]),
            422,
            "no pending suggestion",
        ),
        ("dismiss", choice(&[]), 422, "ids is empty"),
        (
            "apply",
            json!({"ids": [deploy], "since": "whenever"}),
            422,
            "since",
        ),
        ("apply", json!({"ids": [deploy], "gapp": "1h"}), 422, "gapp"),
    ] {
        let r = h
            .post(&format!("/api/v1/worklogs/suggestions/{uri}"), body.clone())
            .await;
        assert_eq!(r.status.as_u16(), status, "{uri} {body}: {}", r.text());
        assert!(r.text().contains(want), "{uri} {body}: {}", r.text());
    }
    let r = h.get("/api/v1/worklogs/suggestions?gap=0").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = h.get("/api/v1/worklogs/suggestions?sinse=7d").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(worklogs(&h).await.is_empty());
    assert!(
        !root
            .join(".devlog/.state/worklog-suggestions.json")
            .exists()
    );

    // Apply #1's by prefix: logged once, by the request's actor, with its suggestion id.
    let r = h
        .send(
            crate::common::req(
                axum::http::Method::POST,
                "/api/v1/worklogs/suggestions/apply",
            )
            .header("content-type", "application/json")
            .header("x-devlog-actor", "ops")
            .body(axum::body::Body::from(choice(&[&deploy[..5]]).to_string()))
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let applied = r.json();
    assert_eq!(
        applied["applied"].as_array().unwrap().len(),
        1,
        "{applied:#}"
    );
    let w = &applied["applied"][0]["worklog"];
    assert_eq!(
        (w["minutes"].as_u64(), w["author"].as_str()),
        (Some(35), Some("ops"))
    );
    assert_eq!(w["suggestion"], deploy.as_str());
    assert_eq!(applied["applied"][0]["entry"]["handle"], 1);
    assert_eq!(worklogs(&h).await, vec![(1, 35)]);
    // Again: no longer pending, refused, still one worklog.
    let r = h
        .post("/api/v1/worklogs/suggestions/apply", choice(&[&deploy]))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(worklogs(&h).await, vec![(1, 35)]);

    // Dismiss #2's: nothing logged, never proposed again.
    let r = h
        .post("/api/v1/worklogs/suggestions/dismiss", choice(&[&docs]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["dismissed"], json!([docs]));
    assert_eq!(worklogs(&h).await, vec![(1, 35)]);
    let after = h.get(LIST).await.json();
    assert!(rows(&after).is_empty(), "{after:#}");
    // The entry's total follows, like any worklog.
    let e = h.get("/api/v1/entries/1").await.json();
    assert_eq!(e["actualHours"], 0.58, "{e:#}");
}

#[tokio::test]
async fn without_a_git_repository_the_routes_say_what_to_do() {
    let h = Harness::new().await;
    let r = h.get("/api/v1/worklogs/suggestions").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("git repositor"), "{}", r.text());
    let r = h
        .post(
            "/api/v1/worklogs/suggestions/apply",
            json!({"ids": ["abc123"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
}
