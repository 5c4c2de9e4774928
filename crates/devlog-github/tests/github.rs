//! The GitHub integration end to end: the sync engine against the test kit's fake GitHub
//! (every request checked against GitHub's OpenAPI description when the fake is dropped).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::integration::{Integration, SyncErrorKind};
use devlog_core::merge::SyncedField;
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_github::{GithubConfig, GithubIntegration, marker};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::{FakeRemote, Fault};
use serde_json::json;

const TOKEN: &str = "ghp_test_token_value_1234";

struct Rig {
    remote: FakeRemote,
    gh: FakeGithub,
    github: GithubIntegration,
    engine: SyncEngine,
    app: Devlog,
    _dir: tempfile::TempDir,
}

fn config(url: &str, repository: &str, token: &str) -> GithubConfig {
    let mut c = GithubConfig::new(repository, SecretString::from(token.to_string())).unwrap();
    c.api_url = url.to_string();
    c
}

async fn rig_with(edit: impl FnOnce(&mut GithubConfig)) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let mut cfg = config(&remote.url(), "acme/widgets", TOKEN);
    edit(&mut cfg);
    let github = GithubIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let opts = SyncOptions {
        base_delay_ms: 0,
        max_delay_ms: 0,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(store.clone(), state, vec![Arc::new(github.clone())], opts);
    Rig {
        remote,
        gh,
        github,
        engine,
        app: Devlog::new(store),
        _dir: dir,
    }
}

async fn rig() -> Rig {
    rig_with(|_| {}).await
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

impl Rig {
    async fn sync(&self) -> devlog_sync::SyncReport {
        self.engine.sync(None, None, &quiet).await.unwrap()
    }

    async fn entry(&self, input: NewEntry) -> devlog_core::entry::Entry {
        self.app.create(input, &cli()).await.unwrap().into_entry()
    }

    async fn get(&self, id: devlog_core::id::EntryId) -> devlog_core::entry::Entry {
        self.app.store().get(id).await.unwrap()
    }
}

fn full_entry() -> NewEntry {
    NewEntry {
        title: "Add OAuth login".into(),
        kind: Some(EntryType::Feature),
        description: "Users sign in with GitHub.".into(),
        priority: Some(Priority::High),
        business_context: "Fewer passwords.".into(),
        acceptance_criteria: vec!["login works".into(), "logout works".into()],
        tags: vec!["auth".into()],
        assignee: Some("octocat".into()),
        ..NewEntry::default()
    }
}

#[tokio::test]
async fn create_renders_body_labels_marker_and_headers() {
    let r = rig().await;
    let e = r.entry(full_entry()).await;
    let report = r.sync().await;
    assert_eq!(report.created, 1, "{report:?}");
    let issues = r.gh.issues();
    assert_eq!(issues.len(), 1);
    let i = &issues[0];
    assert_eq!(i.title, "Add OAuth login");
    let body = i.body.clone().unwrap();
    assert!(body.starts_with("Users sign in with GitHub.\n\n"), "{body}");
    assert!(body.contains("### Context\n\nFewer passwords."), "{body}");
    assert!(
        body.contains("- [ ] login works\n- [ ] logout works"),
        "{body}"
    );
    assert!(body.contains(&marker(e.id)), "{body}");
    let mut labels = i.labels.clone();
    labels.sort();
    assert_eq!(
        labels,
        ["auth", "priority:high", "status:new", "type:feature"]
    );
    assert_eq!(i.assignees, ["octocat"]);
    let post = &r
        .remote
        .requests_matching("POST /repos/acme/widgets/issues")[0];
    assert_eq!(post.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(post.header("x-github-api-version"), Some("2022-11-28"));
    assert!(post.authorized);
    // The token never shows in what the fake saw outside Authorization.
    assert!(
        r.remote
            .requests()
            .iter()
            .all(|q| !format!("{:?}{}", q.headers, q.body_text()).contains(TOKEN))
    );
    // Pulled back, nothing changes locally.
    let after = r.get(e.id).await;
    assert_eq!(after.description, "Users sign in with GitHub.");
    assert_eq!(after.tags, ["auth"]);
    assert_eq!(after.priority, Priority::High);
    assert_eq!(after.kind, EntryType::Feature);
    assert!(r.gh.check_contract().is_empty());
}

#[tokio::test]
async fn status_updates_push_state_and_reason_and_only_changed_fields() {
    let r = rig().await;
    let e = r.entry(full_entry()).await;
    r.sync().await;
    let n = r.gh.issues()[0].number;

    // Title only: the PATCH carries only the title.
    r.app
        .edit(
            e.id,
            Edit {
                title: Some("OAuth login".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    r.remote.clear_requests();
    let report = r.sync().await;
    assert_eq!(report.updated, 1, "{report:?}");
    let patches = r
        .remote
        .requests_matching("PATCH /repos/acme/widgets/issues/*");
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].body_json().unwrap(),
        json!({"title": "OAuth login"})
    );

    for (status, state, reason) in [
        (Status::Done, "closed", Some("completed")),
        (Status::Closed, "closed", Some("not_planned")),
        (Status::Blocked, "open", Some("reopened")),
    ] {
        r.app
            .edit(
                e.id,
                Edit {
                    status: Some(status),
                    ..Edit::default()
                },
                &cli(),
            )
            .await
            .unwrap();
        let report = r.sync().await;
        assert!(report.failed.is_empty(), "{report:?}");
        let i = r.gh.issue(n).unwrap();
        assert_eq!(i.state, state, "{status:?}");
        assert_eq!(i.state_reason.as_deref(), reason, "{status:?}");
        // And the engine sees no remote change coming back.
        assert_eq!(r.get(e.id).await.status, status);
    }
    assert!(
        r.gh.issue(n)
            .unwrap()
            .labels
            .contains(&"status:blocked".to_string())
    );
    assert_eq!(r.gh.issues_created(), 1);
}

#[tokio::test]
async fn remote_changes_are_pulled_both_ways() {
    let r = rig().await;
    let e = r.entry(full_entry()).await;
    r.sync().await;
    let n = r.gh.issues()[0].number;

    // Closed as completed on GitHub → done.
    r.gh.edit_issue(n, |i| {
        i.state = "closed".into();
        i.state_reason = Some("completed".into());
        i.labels.retain(|l| !l.starts_with("status:"));
    });
    let report = r.sync().await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(r.get(e.id).await.status, Status::Done);

    // Reopened on GitHub (no status label) → in-progress (the default reopened mapping).
    r.gh.edit_issue(n, |i| {
        i.state = "open".into();
        i.state_reason = Some("reopened".into());
    });
    r.sync().await;
    assert_eq!(r.get(e.id).await.status, Status::InProgress);

    // Labels, title and the description part of the body.
    r.gh.edit_issue(n, |i| {
        i.title = "Renamed on GitHub".into();
        i.labels = vec![
            "priority:critical".into(),
            "type:bugfix".into(),
            "status:in-review".into(),
            "security".into(),
        ];
        let body = i.body.clone().unwrap();
        i.body = Some(body.replacen("Users sign in with GitHub.", "Edited remotely.", 1));
    });
    r.sync().await;
    let got = r.get(e.id).await;
    assert_eq!(got.title, "Renamed on GitHub");
    assert_eq!(got.priority, Priority::Critical);
    assert_eq!(got.kind, EntryType::Bugfix);
    assert_eq!(got.status, Status::InReview);
    assert_eq!(got.tags, ["security"]);
    assert_eq!(got.description, "Edited remotely.");

    // A local description edit keeps the hidden section and the marker.
    r.app
        .edit(
            e.id,
            Edit {
                description: Some("Local words.".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    r.sync().await;
    let body = r.gh.issue(n).unwrap().body.unwrap();
    assert!(
        body.starts_with("Local words.\n\n<!-- devlog:details -->"),
        "{body}"
    );
    assert!(body.contains(&marker(e.id)), "{body}");
    assert_eq!(r.gh.issues_created(), 1);
}

#[tokio::test]
async fn label_prefix_keeps_foreign_labels() {
    let r = rig_with(|c| c.label_prefix = "devlog/".into()).await;
    let e = r.entry(full_entry()).await;
    r.sync().await;
    let n = r.gh.issues()[0].number;
    let mut labels = r.gh.issue(n).unwrap().labels;
    labels.sort();
    assert_eq!(
        labels,
        [
            "devlog/auth",
            "devlog/priority:high",
            "devlog/status:new",
            "devlog/type:feature"
        ]
    );
    r.gh.edit_issue(n, |i| i.labels.push("good first issue".into()));
    r.sync().await;
    assert_eq!(
        r.get(e.id).await.tags,
        ["auth"],
        "foreign labels are not tags"
    );
    r.app
        .edit(
            e.id,
            Edit {
                add_tags: vec!["ui".into()],
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    r.sync().await;
    let labels = r.gh.issue(n).unwrap().labels;
    assert!(
        labels.contains(&"good first issue".to_string()),
        "{labels:?}"
    );
    assert!(labels.contains(&"devlog/ui".to_string()), "{labels:?}");
}

#[tokio::test]
async fn lost_create_response_makes_no_duplicate() {
    let r = rig().await;
    let e = r.entry(full_entry()).await;
    r.remote
        .inject(Fault::on("POST /repos/**").apply_then_drop());
    let first = r.sync().await;
    let second = r.sync().await;
    assert_eq!(r.gh.issues_created(), 1, "{first:?} {second:?}");
    assert_eq!(r.gh.issues().len(), 1);
    let link = r
        .engine
        .state()
        .link("github", e.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.remote_id.as_deref(), Some("1"));
    // Recovered through the marker (read back by the pull or found by the search).
    assert_eq!(link.state, devlog_sync::LinkState::Linked, "{link:?}");
}

#[tokio::test]
async fn idle_sync_costs_one_request_answered_304() {
    let r = rig().await;
    r.entry(full_entry()).await;
    r.entry(NewEntry {
        title: "Second".into(),
        kind: Some(EntryType::Task),
        ..NewEntry::default()
    })
    .await;
    // Create, then read back (cursor set), then the first pull since the cursor.
    for _ in 0..3 {
        r.sync().await;
    }
    r.remote.clear_requests();
    let before = r.github.client().counters();
    let report = r.sync().await;
    assert!(report.failed.is_empty(), "{report:?}");
    let cost = r.github.client().counters().since(&before);
    // One conditional list of issues, one of comments: both 304, free of quota.
    assert_eq!((cost.requests, cost.not_modified), (2, 2), "{cost:?}");
    let reqs = r.remote.requests();
    let lines: Vec<String> = reqs.iter().map(|q| q.line()).collect();
    assert_eq!(
        lines,
        [
            "GET /repos/acme/widgets/issues",
            "GET /repos/acme/widgets/issues/comments"
        ]
    );
    for q in &reqs {
        assert!(q.header("if-none-match").is_some(), "{:?}", q.headers);
    }
    let q = reqs[0].query.clone().unwrap();
    assert!(q.contains("state=all"), "{q}");
}

#[tokio::test]
async fn pull_pages_through_link_and_skips_pull_requests() {
    let r = rig().await;
    for k in 0..120 {
        r.gh.insert_issue(&format!("Issue {k}"), "from GitHub", false);
    }
    r.gh.insert_issue("A pull request", "code", true);
    let page = r.github.pull(None).await.unwrap();
    assert_eq!(page.items.len(), 120);
    assert!(
        page.items
            .iter()
            .all(|i| i.fields.title.starts_with("Issue"))
    );
    assert_eq!(
        r.remote
            .requests_matching("GET /repos/acme/widgets/issues")
            .len(),
        2
    );
    assert!(page.next_cursor.is_some());
}

#[tokio::test]
async fn unknown_mapped_label_is_an_error_naming_value_and_key() {
    let r = rig().await;
    // Someone else's issue (no marker) with such a label is not devlog's: no error.
    let foreign = r.gh.insert_issue("foreign", "no marker", false);
    r.gh.edit_issue(foreign.number, |i| i.labels = vec!["priority:P1".into()]);
    assert_eq!(r.github.pull(None).await.unwrap().items.len(), 0);
    let body = format!("y\n\n{}", marker(devlog_core::id::EntryId::new_random()));
    let i = r.gh.insert_issue("x", &body, false);
    r.gh.edit_issue(i.number, |i| i.labels = vec!["priority:urgent".into()]);
    let err = r.github.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(err.message.contains("urgent"), "{}", err.message);
    assert!(err.message.contains("priorityMapping"), "{}", err.message);
    r.gh.edit_issue(i.number, |i| i.labels = vec!["type:epic".into()]);
    let err = r.github.pull(None).await.unwrap_err();
    assert!(
        err.message.contains("epic") && err.message.contains("typeMapping"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn find_by_marker_verifies_the_body() {
    let r = rig().await;
    let e = r.entry(full_entry()).await;
    assert_eq!(r.github.find_by_marker(e.id).await.unwrap(), None);
    r.sync().await;
    let found = r.github.find_by_marker(e.id).await.unwrap().unwrap();
    assert_eq!(found.marker, Some(e.id));
    assert_eq!(found.remote_id, "1");
    let q = r.remote.requests_matching("GET /search/issues")[0]
        .query
        .clone()
        .unwrap();
    let pairs = devlog_testkit::fake_remote::query_pairs(Some(&q));
    assert!(pairs["q"].contains("repo:acme/widgets"), "{q}");
    assert!(pairs["q"].contains("in:body"), "{q}");
}

#[tokio::test]
async fn bad_token_is_an_auth_error_without_the_token() {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let wrong = "ghp_wrong_secret_987";
    let github = GithubIntegration::with_limits(
        config(&remote.url(), "acme/widgets", wrong),
        RateLimitConfig::unpaced(),
    )
    .unwrap();
    let err = github.health().await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Auth);
    assert!(
        err.message.contains("401") || err.message.contains("token"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(wrong));
    assert!(!format!("{github:?}").contains(wrong));
    assert!(!format!("{err:?}").contains(wrong));
}

#[tokio::test]
async fn missing_repository_is_named() {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let github = GithubIntegration::with_limits(
        config(&remote.url(), "acme/nope", TOKEN),
        RateLimitConfig::unpaced(),
    )
    .unwrap();
    let err = github.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(
        err.message.contains("acme/nope") && err.message.contains("not found"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn forbidden_names_the_scope() {
    let r = rig().await;
    let e = r.entry(full_entry()).await;
    r.remote.inject(
        Fault::on("POST /repos/**")
            .status(403)
            .header("x-accepted-oauth-scopes", "repo")
            .body(r#"{"message":"Resource not accessible by integration"}"#),
    );
    let fields = devlog_core::merge::SyncedFields::from_entry(&e);
    let err = r.github.create(&e, &fields).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Auth);
    assert!(err.message.contains("`repo` scope"), "{}", err.message);
    assert!(
        err.message.contains("Resource not accessible"),
        "{}",
        err.message
    );

    // A classic token: the scopes it has and the one it needs, from GitHub's headers.
    r.gh.set_token_scopes(Some("read:org, public_repo"));
    r.remote.inject(
        Fault::on("PATCH /repos/**")
            .status(403)
            .body(r#"{"message":"Resource not accessible by personal access token"}"#),
    );
    let err = r
        .github
        .update("1", &fields, &SyncedField::Title.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Auth);
    assert!(
        err.message.contains(
            "the token's scopes are `read:org, public_repo`, writing issues needs `repo`"
        ),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn rate_limits_primary_and_secondary() {
    let r = rig().await;
    // Primary: 403 with x-ratelimit-remaining: 0.
    let reset = (r.remote.now().timestamp() + 60).to_string();
    r.remote.inject(
        Fault::on("GET /repos/**")
            .status(403)
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset)
            .body(r#"{"message":"API rate limit exceeded for user ID 1."}"#),
    );
    let err = r.github.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::RateLimited, "{err:?}");
    assert!(err.message.contains("rate limit"), "{}", err.message);

    // Secondary: 429 with Retry-After.
    let r = rig().await;
    r.remote
        .inject(Fault::on("GET /repos/**").rate_limited("30"));
    let err = r.github.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::RateLimited);
    assert!(err.retry_after_ms.unwrap() >= 29_000, "{err:?}");

    // Secondary as a 403 with Retry-After.
    let r = rig().await;
    r.remote.inject(
        Fault::on("GET /repos/**")
            .status(403)
            .header("retry-after", "20")
            .body(r#"{"message":"You have exceeded a secondary rate limit."}"#),
    );
    let err = r.github.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::RateLimited);
}

#[tokio::test]
async fn deleted_issue_is_not_found() {
    let r = rig().await;
    let fields = devlog_core::merge::SyncedFields::from_entry(&r.entry(full_entry()).await);
    let err = r
        .github
        .update("999", &fields, &SyncedField::Title.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::NotFound);
    assert!(err.message.contains("#999"), "{}", err.message);
}

#[test]
fn config_table_and_schema() {
    let d = GithubIntegration::descriptor_static();
    let schema = &d.config_schema;
    assert_eq!(schema["additionalProperties"], json!(false));
    let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    for k in [
        "enabled",
        "repository",
        "token",
        "autoCreateIssues",
        "projectId",
        "apiUrl",
        "webhookSecret",
        "labelPrefix",
        "statusMapping",
        "priorityMapping",
        "typeMapping",
    ] {
        assert!(keys.contains(&&k.to_string()), "{k}");
    }
    let g = GithubIntegration::from_table(&json!({
        "repository": "acme/widgets",
        "token": "s3cr3t-token",
        "webhookSecret": "hook-s3cr3t",
        "statusMapping": {"blocked": "closed:not_planned", "reopened": "new"},
        "priorityMapping": {"critical": "P0"}
    }))
    .unwrap();
    let dbg = format!("{g:?}");
    assert!(!dbg.contains("s3cr3t"), "{dbg}");
    assert_eq!(g.config().reopened_status, Status::New);
    assert_eq!(g.config().priority_mapping[&Priority::Critical], "P0");
    let err =
        GithubIntegration::from_table(&json!({"repository": "nope", "token": "t"})).unwrap_err();
    assert!(err.contains("integrations.github.repository"), "{err}");
    let err = GithubIntegration::from_table(&json!({
        "repository": "a/b", "token": "t", "statusMapping": {"done": "finished"}
    }))
    .unwrap_err();
    assert!(err.contains("statusMapping.done"), "{err}");
}

#[tokio::test]
async fn webhook_through_the_engine_applies_once() {
    let r =
        rig_with(|c| c.webhook_secret = Some(SecretString::from("hook-secret".to_string()))).await;
    let e = r.entry(full_entry()).await;
    r.sync().await;
    let n = r.gh.issues()[0].number;
    let closed =
        r.gh.edit_issue(n, |i| {
            i.state = "closed".into();
            i.state_reason = Some("not_planned".into());
            i.labels.retain(|l| !l.starts_with("status:"));
        })
        .unwrap();
    // What GitHub would deliver: the issue as the API shows it.
    let issue = r
        .github
        .client()
        .get(&format!("/repos/acme/widgets/issues/{n}"))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(issue["state"], "closed", "{closed:?}");
    let body = serde_json::to_vec(&json!({
        "action": "closed",
        "issue": issue,
        "repository": {"full_name": "acme/widgets"},
    }))
    .unwrap();
    let sig = devlog_github::webhook::signature(b"hook-secret", &body);
    let hook = devlog_core::integration::Webhook {
        headers: vec![
            ("x-github-event".into(), "issues".into()),
            ("x-github-delivery".into(), "d-1".into()),
            ("x-hub-signature-256".into(), sig),
        ],
        body,
        query: Vec::new(),
    };
    let report = r.engine.webhook("github", &hook).await.unwrap();
    assert_eq!(report.pulled, 1, "{report:?}");
    assert_eq!(r.get(e.id).await.status, Status::Closed);
    // Redelivered: applied once.
    let again = r.engine.webhook("github", &hook).await.unwrap();
    assert_eq!(again.pulled, 0, "{again:?}");
    // Tampered: refused before anything is applied.
    let mut bad = hook.clone();
    bad.body[10] ^= 1;
    bad.headers[1].1 = "d-2".into();
    let err = r.engine.webhook("github", &bad).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Auth);
}

#[tokio::test]
async fn primary_rate_limit_headers_pause_before_the_next_request() {
    let r = rig().await;
    // `x-ratelimit-reset` is wall-clock epoch seconds.
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    r.remote
        .set_rate_limit(Some(devlog_testkit::fake_remote::RateLimitHeaders {
            limit: 5000,
            remaining: 0,
            reset,
            resource: Some("core".into()),
            count_down: false,
        }));
    // The response that spends the last request is fine; the next one is not sent.
    r.github.health().await.unwrap();
    let sent = r.remote.requests().len();
    let err = r.github.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::RateLimited, "{err:?}");
    assert!(err.retry_after_ms.is_some(), "{err:?}");
    assert_eq!(r.remote.requests().len(), sent, "no request while paused");
}

#[test]
fn registry_validates_the_table_by_key() {
    let mut reg = devlog_sync::Registry::new();
    reg.register(
        GithubIntegration::descriptor_static(),
        Arc::new(|t: &serde_json::Value| {
            let g: Arc<dyn Integration> = Arc::new(GithubIntegration::from_table(t)?);
            Ok(g)
        }),
    );
    let tables =
        |v: serde_json::Value| std::collections::BTreeMap::from([("github".to_string(), v)]);
    let built = reg
        .build(&tables(json!({
            "repository": "acme/widgets",
            "token": "x",
            "statusMapping": {"blocked": "closed:not_planned"}
        })))
        .unwrap();
    assert_eq!(built[0].descriptor().name, "github");
    let problems = reg
        .build(&tables(json!({
            "repository": "acme/widgets",
            "token": "x",
            "labelprefix": "oops"
        })))
        .unwrap_err();
    assert!(
        problems.iter().any(|p| p.message.contains("labelprefix")),
        "{problems:?}"
    );
    let problems = reg
        .build(&tables(json!({
            "repository": "acme widgets",
            "token": "x",
            "statusMapping": {"done": "finished"}
        })))
        .unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(
        keys.contains(&"integrations.github.repository"),
        "{problems:?}"
    );
    assert!(
        keys.contains(&"integrations.github.statusMapping.done"),
        "{problems:?}"
    );
}

/// The `[integrations.github]` example of docs/github.md, as a JSON table.
fn documented_table() -> serde_json::Value {
    let doc = include_str!("../../../docs/github.md");
    let start = doc
        .find("```toml\n[integrations.github]\n")
        .expect("docs/github.md has the example table")
        + "```toml\n".len();
    let len = doc[start..].find("```").unwrap();
    let parsed: toml::Table = toml::from_str(&doc[start..start + len]).unwrap();
    serde_json::to_value(&parsed["integrations"]["github"]).unwrap()
}

#[test]
fn the_documented_example_table_validates_and_parses() {
    let table = documented_table();
    let schema = devlog_github::config::schema();
    let problems = devlog_sync::registry::validate(&schema, &table, "integrations.github");
    assert!(problems.is_empty(), "{problems:?}");
    let c = GithubConfig::from_table(&table).unwrap();
    assert_eq!((c.owner.as_str(), c.repo.as_str()), ("acme", "widgets"));
    assert_eq!(c.milestone.as_deref(), Some("v1.4"));
    assert!(!c.pull_request_mapping.contains_key("closed"));
    // The example shows every key the table has (the schema is derived from the parser's
    // struct, so this is every key devlog reads).
    let documented: Vec<&String> = table.as_object().unwrap().keys().collect();
    for k in schema["properties"].as_object().unwrap().keys() {
        assert!(
            documented.contains(&k),
            "docs/github.md's example lacks `{k}`"
        );
    }
}

#[test]
fn an_unknown_key_is_refused_by_the_schema_and_by_the_parser() {
    let mut table = documented_table();
    table["statusMapping"]["finished"] = json!("open");
    table["colour"] = json!("blue");
    let problems = devlog_sync::registry::validate(
        &devlog_github::config::schema(),
        &table,
        "integrations.github",
    );
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|p| p.contains("colour")), "{text:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.key == "integrations.github.statusMapping" && p.message.contains("finished")),
        "{text:?}"
    );
    let err = GithubConfig::from_table(&table).unwrap_err();
    assert!(err.contains("colour"), "{err}");
    table.as_object_mut().unwrap().remove("colour");
    let err = GithubConfig::from_table(&table).unwrap_err();
    assert!(
        err.starts_with("integrations.github.statusMapping.finished"),
        "{err}"
    );
}

#[tokio::test]
async fn lost_create_is_found_by_search_when_the_pull_fails() {
    let r = rig().await;
    let e = r.entry(full_entry()).await;
    r.remote
        .inject(Fault::on("POST /repos/**").apply_then_drop());
    r.sync().await;
    assert_eq!(r.gh.issues_created(), 1);
    // The next pull fails, so the retried push must find the issue by its marker.
    r.remote
        .inject(Fault::on("GET /repos/acme/widgets/issues").status(500));
    r.remote.clear_requests();
    let report = r.sync().await;
    assert_eq!(r.gh.issues_created(), 1, "no duplicate: {report:?}");
    assert_eq!(
        r.remote.requests_matching("GET /search/issues").len(),
        1,
        "{report:?}"
    );
    let link = r
        .engine
        .state()
        .link("github", e.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.remote_id.as_deref(), Some("1"));
    assert_eq!(link.state, devlog_sync::LinkState::Linked);
}

#[tokio::test]
async fn type_and_priority_changes_replace_the_mapped_labels() {
    let r = rig_with(|c| {
        c.type_mapping.insert(EntryType::Bugfix, "bug".into());
    })
    .await;
    let e = r.entry(full_entry()).await;
    r.sync().await;
    r.app
        .edit(
            e.id,
            Edit {
                kind: Some(EntryType::Bugfix),
                priority: Some(Priority::Low),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    r.remote.clear_requests();
    let report = r.sync().await;
    assert_eq!(report.updated, 1, "{report:?}");
    let mut labels = r.gh.issue(1).unwrap().labels;
    labels.sort();
    assert_eq!(labels, ["auth", "bug", "priority:low", "status:new"]);
    let patch = &r.remote.requests_matching("PATCH /repos/**")[0];
    let keys: Vec<String> = patch
        .body_json()
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["labels"]);
    // Read back through the custom mapping.
    r.sync().await;
    assert_eq!(r.get(e.id).await.kind, EntryType::Bugfix);
}

#[tokio::test]
async fn new_issues_go_into_the_configured_milestone() {
    let r = rig_with(|c| c.milestone = Some("v1.4".into())).await;
    r.gh.add_milestone("v1.3");
    let m = r.gh.add_milestone("v1.4");
    r.entry(full_entry()).await;
    r.entry(NewEntry {
        title: "Second".into(),
        kind: Some(EntryType::Task),
        ..NewEntry::default()
    })
    .await;
    let report = r.sync().await;
    assert_eq!(report.created, 2, "{report:?}");
    assert!(r.gh.issues().iter().all(|i| i.milestone == Some(m.number)));
    // Looked up once.
    assert_eq!(
        r.remote
            .requests_matching("GET /repos/acme/widgets/milestones")
            .len(),
        1
    );
}

#[tokio::test]
async fn an_unknown_milestone_is_an_error_naming_the_key() {
    let r = rig_with(|c| c.milestone = Some("v9".into())).await;
    r.gh.add_milestone("v1.4");
    r.entry(full_entry()).await;
    let report = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(report.created, 0);
    let f = report.failed.join("\n");
    assert!(
        f.contains("integrations.github.milestone") && f.contains("v1.4"),
        "{f}"
    );
    assert!(r.gh.issues().is_empty());
}

/// The quota GitHub's `x-ratelimit-*` headers report is kept in the sync state by the syncing
/// process, so `sync-health` in another process (a fresh handle on the same state) shows it.
#[tokio::test]
async fn the_quota_a_sync_saw_is_reported_by_another_process() {
    use devlog_core::reports::{Report, ReportName, ReportQuery, SyncSources};
    let r = rig().await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let health = |state: SyncState| {
        let app = r.app.clone();
        async move {
            let sources = SyncSources {
                state: state.store().clone(),
                configured: vec!["github".into()],
                quotas: Default::default(),
            };
            let out = app
                .report(
                    ReportName::SyncHealth,
                    &ReportQuery::default(),
                    Some(&sources),
                )
                .await
                .unwrap();
            let Report::SyncHealth(h) = out.report else {
                panic!("{out:?}")
            };
            (h.integrations[0].quota.clone(), out.notes)
        }
    };
    let state_path = r._dir.path().join(".devlog/.state/sync.sqlite");
    let other = || async { SyncState::open(&state_path).await.unwrap() };
    // Nothing seen yet: unknown, and the report says why.
    let (quota, notes) = health(other().await).await;
    assert_eq!(quota, None);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("quota left is not known for github")),
        "{notes:?}"
    );
    r.remote
        .set_rate_limit(Some(devlog_testkit::fake_remote::RateLimitHeaders {
            limit: 5000,
            remaining: 4321,
            reset,
            resource: Some("core".into()),
            count_down: false,
        }));
    r.entry(full_entry()).await;
    let report = r.sync().await;
    assert_eq!(report.created, 1, "{report:?}");
    let (quota, notes) = health(other().await).await;
    let quota = quota.expect("the quota the sync saw");
    assert_eq!((quota.remaining, quota.limit), (Some(4321), Some(5000)));
    assert_eq!(quota.resource.as_deref(), Some("core"));
    let resets_ms = quota.resets_at.unwrap().millis();
    // The reset is moved into the local clock by the time the response took: within a minute.
    assert!(
        (resets_ms - reset as i64 * 1000).abs() < 60_000,
        "{resets_ms} vs {reset}"
    );
    assert!(quota.seen_at.is_some());
    assert!(!notes.iter().any(|n| n.contains("quota")), "{notes:?}");
    // A later sync that sees less left records it.
    r.remote
        .set_rate_limit(Some(devlog_testkit::fake_remote::RateLimitHeaders {
            limit: 5000,
            remaining: 17,
            reset,
            resource: Some("core".into()),
            count_down: false,
        }));
    r.sync().await;
    let (quota, _) = health(other().await).await;
    assert_eq!(quota.unwrap().remaining, Some(17));
}
