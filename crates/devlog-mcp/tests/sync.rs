//! The MCP sync tools against the sync engine and the test kit's fake GitHub, over the MCP
//! protocol (rmcp's client over a pipe), as an assistant would call them.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::{Devlog, Store};
use devlog_github::{GithubConfig, GithubIntegration, marker};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_mcp::{DevlogMcp, Options};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

const TOKEN: &str = "ghp_test_token_value_1234";

type Client = RunningService<RoleClient, ()>;

struct Rig {
    remote: FakeRemote,
    gh: FakeGithub,
    client: Client,
    _dir: tempfile::TempDir,
}

/// An MCP server whose sync engine has the GitHub integration, authenticating with `token`
/// against a fake GitHub that accepts only [`TOKEN`]. `github: false` gives an engine
/// without integrations.
async fn rig(token: &str, github: bool) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let mut cfg = GithubConfig::new("acme/widgets", SecretString::from(token.to_string())).unwrap();
    cfg.api_url = remote.url();
    let integration = GithubIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
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
    let integrations: Vec<Arc<dyn devlog_core::integration::Integration>> = if github {
        vec![Arc::new(integration)]
    } else {
        Vec::new()
    };
    let engine = SyncEngine::new(store.clone(), state, integrations, opts);
    let options = Options {
        actor: Some("assistant".into()),
        integrations: if github {
            vec!["github".into()]
        } else {
            Vec::new()
        },
        sync: Some(engine),
        ..Options::default()
    };
    Rig {
        remote,
        gh,
        client: serve(store, options).await,
        _dir: dir,
    }
}

async fn serve(store: Arc<dyn Store>, options: Options) -> Client {
    let server = DevlogMcp::new(Devlog::new(store), options);
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.unwrap()
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap()
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Calls a tool that must succeed; returns (text, structured content).
async fn ok(client: &Client, tool: &str, args: Value) -> (String, Value) {
    let r = call(client, tool, args.clone()).await;
    assert_ne!(r.is_error, Some(true), "{tool} {args} failed: {}", text(&r));
    (text(&r), r.structured_content.expect("structured content"))
}

/// Calls a tool that must fail as a tool error; returns (text, structured content).
async fn failed(client: &Client, tool: &str, args: Value) -> (String, Value) {
    let r = call(client, tool, args.clone()).await;
    assert_eq!(
        r.is_error,
        Some(true),
        "{tool} {args} succeeded: {}",
        text(&r)
    );
    (text(&r), r.structured_content.unwrap_or(Value::Null))
}

async fn create(client: &Client, title: &str) -> Value {
    let (_, s) = ok(
        client,
        "create_devlog",
        json!({"title": title, "type": "feature", "description": "Users sign in with GitHub."}),
    )
    .await;
    s["entry"].clone()
}

/// Creates two entries; answers them in the order the engine queues their jobs (by id).
async fn queued_first_and_last(client: &Client) -> (Value, Value) {
    let a = create(client, "Add OAuth login").await;
    let b = create(client, "Fix logout").await;
    if a["id"].as_str() < b["id"].as_str() {
        (a, b)
    } else {
        (b, a)
    }
}

#[tokio::test]
async fn sync_with_github_creates_the_issue_once_and_a_dry_run_only_reads() {
    let r = rig(TOKEN, true).await;
    let entry = create(&r.client, "Add OAuth login").await;
    let id: devlog_core::EntryId = entry["id"].as_str().unwrap().parse().unwrap();

    // A dry run lists the create (and the pull it previews, reading only) and writes nothing.
    let (t, s) = ok(&r.client, "sync_with_github", json!({"dryRun": true})).await;
    assert!(t.contains("nothing was sent"), "{t}");
    assert!(
        t.contains("github: create a remote item for #1 \"Add OAuth login\""),
        "{t}"
    );
    assert!(
        t.contains("github: pull changes since the beginning"),
        "{t}"
    );
    assert_eq!(s["dryRun"], true);
    assert_eq!(s["integrations"], json!(["github"]));
    let ops = s["operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["op"] == "create" && o["handle"] == 1 && o["integration"] == "github"),
        "{ops:?}"
    );
    let sent = r.remote.requests();
    assert!(
        sent.iter().all(|q| q.method == "GET"),
        "a dry run only reads: {:?}",
        sent.iter().map(|q| q.line()).collect::<Vec<_>>()
    );
    assert!(r.gh.issues().is_empty());

    // The sync creates exactly one issue, carrying the entry's marker.
    let (t, s) = ok(&r.client, "sync_with_github", json!({})).await;
    assert!(t.starts_with("Synced with GitHub: "), "{t}");
    assert!(t.contains("1 created"), "{t}");
    assert_eq!(s["report"]["created"], 1, "{s}");
    assert_eq!(s["report"]["failed"], json!([]));
    let issues = r.gh.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].title, "Add OAuth login");
    assert!(issues[0].body.clone().unwrap().contains(&marker(id)));
    // The entry records its issue.
    let (_, e) = ok(&r.client, "get_devlog", json!({"id": 1})).await;
    let refs = e["entry"]["externalReferences"].as_array().unwrap();
    assert!(refs.iter().any(|x| x["system"] == "github"), "{e}");

    // Again: nothing new to create, no duplicate.
    let (t, s) = ok(&r.client, "sync_with_github", json!({})).await;
    assert_eq!(s["report"]["created"], 0, "{t}");
    assert_eq!(r.gh.issues().len(), 1);
    assert_eq!(r.gh.issues_created(), 1);
    let (t, s) = ok(&r.client, "sync_with_github", json!({"dryRun": true})).await;
    assert!(t.contains("No local changes to push"), "{t}");
    assert!(
        s["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["op"] == "pull"),
        "{s}"
    );
}

#[tokio::test]
async fn sync_tools_limit_to_one_entry_and_sync_all_runs_every_integration() {
    let r = rig(TOKEN, true).await;
    let (first, _) = queued_first_and_last(&r.client).await;
    // Only one entry: one issue.
    let handle = first["handle"].as_u64().unwrap();
    let (t, s) = ok(&r.client, "sync_with_github", json!({"id": handle})).await;
    assert!(t.contains(&format!("for #{handle}")), "{t}");
    assert_eq!(s["entry"]["handle"], handle);
    assert_eq!(s["report"]["created"], 1, "{t}");
    assert_eq!(r.gh.issues().len(), 1);
    assert_eq!(r.gh.issues()[0].title, first["title"].as_str().unwrap());
    // An unknown entry is the usual not-found error, before anything is sent.
    let before = r.remote.requests().len();
    let (_, s) = failed(&r.client, "sync_with_github", json!({"id": 99})).await;
    assert_eq!(s["error"]["kind"], "not-found");
    assert_eq!(r.remote.requests().len(), before);
    // Everything, with every configured integration.
    let (t, s) = ok(&r.client, "sync_all_integrations", json!({})).await;
    assert!(t.starts_with("Synced with GitHub: "), "{t}");
    assert_eq!(s["integrations"], json!(["github"]));
    assert_eq!(s["report"]["created"], 1, "{t}");
    assert_eq!(r.gh.issues().len(), 2);
    // Jira is not configured in this workspace: the tool says what to add.
    let (t, s) = failed(&r.client, "sync_with_jira", json!({})).await;
    assert_eq!(s["error"]["kind"], "not-configured");
    assert!(t.contains("add [integrations.jira]"), "{t}");
}

/// `sync_with_jira` against the fake Jira: a dry run names the transitions, the sync creates
/// the issue and walks the workflow to the entry's status; `sync_all_integrations` includes
/// Jira.
#[tokio::test]
async fn sync_with_jira_creates_issues_and_walks_the_workflow() {
    use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
    use devlog_testkit::integration_conformance::JiraProbe;
    let probe = JiraProbe::start("DEV").await;
    let cfg = JiraConfig::new(
        &probe.remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from("jira_mcp_token_1".to_string()),
        },
    )
    .unwrap();
    let jira = JiraIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(jira)],
        SyncOptions::default(),
    );
    let options = Options {
        actor: Some("assistant".into()),
        integrations: vec!["jira".into()],
        sync: Some(engine),
        ..Options::default()
    };
    let client = serve(store, options).await;
    let e = create(&client, "Add OAuth login").await;
    let (t, _) = ok(&client, "sync_with_jira", json!({})).await;
    assert!(t.starts_with("Synced with Jira: "), "{t}");
    let issues = probe.jira.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].status, "To Do");
    ok(
        &client,
        "update_devlog",
        json!({"id": e["handle"], "status": "done"}),
    )
    .await;
    let (t, s) = ok(&client, "sync_with_jira", json!({"dryRun": true})).await;
    assert!(
        t.contains("update status of remote DEV-1") && t.contains("transition `Start`"),
        "{t}"
    );
    assert_eq!(s["dryRun"], true);
    assert_eq!(probe.jira.issue("DEV-1").unwrap().status, "To Do");
    let (t, s) = ok(&client, "sync_all_integrations", json!({})).await;
    assert_eq!(s["integrations"], json!(["jira"]), "{t}");
    assert_eq!(s["report"]["updated"], 1, "{t}");
    let issue = probe.jira.issue("DEV-1").unwrap();
    assert_eq!(issue.status, "Done");
    assert_eq!(issue.resolution.as_deref(), Some("Done"));
}

/// `sync_with_azure_devops` against the fake Azure DevOps (the table under its alias `ado`):
/// the sync creates the work item, a dry run names the update without writing, and
/// `sync_all_integrations` walks the state to the entry's status.
#[tokio::test]
async fn sync_with_azure_devops_creates_work_items_and_moves_their_state() {
    use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
    use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
    let probe = AdoProbe::start("acme", "Fabrikam", FakeProcess::Scrum).await;
    let cfg = AdoConfig::new(
        &probe.organization_url(),
        "Fabrikam",
        AdoAuth::Pat(SecretString::from("ado_mcp_pat_1".to_string())),
    )
    .unwrap();
    let ado = AdoIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(ado)],
        SyncOptions::default(),
    );
    let options = Options {
        actor: Some("assistant".into()),
        integrations: vec!["ado".into()],
        sync: Some(engine),
        ..Options::default()
    };
    let client = serve(store, options).await;
    let e = create(&client, "Add OAuth login").await;
    let (t, _) = ok(&client, "sync_with_azure_devops", json!({})).await;
    assert!(t.starts_with("Synced with Azure DevOps: "), "{t}");
    let items = probe.ado.items();
    assert_eq!(items.len(), 1);
    // A feature is a Product Backlog Item in the Scrum process.
    assert_eq!(items[0].type_name, "Product Backlog Item");
    assert_eq!(items[0].str_field("System.State"), "New");
    ok(
        &client,
        "update_devlog",
        json!({"id": e["handle"], "status": "done"}),
    )
    .await;
    let (t, s) = ok(&client, "sync_with_ado", json!({"dryRun": true})).await;
    assert!(
        t.contains(&format!("update status of remote {}", items[0].id)),
        "{t}"
    );
    assert_eq!(s["dryRun"], true);
    assert_eq!(probe.ado.items()[0].str_field("System.State"), "New");
    let (t, s) = ok(&client, "sync_all_integrations", json!({})).await;
    assert_eq!(s["integrations"], json!(["azure-devops"]), "{t}");
    assert_eq!(s["report"]["updated"], 1, "{t}");
    assert_eq!(probe.ado.items()[0].str_field("System.State"), "Done");
    assert!(probe.ado.check_contract().is_empty());
}

/// An entry-limited push claims that entry's job only, wherever it is in the queue.
#[tokio::test]
async fn sync_with_github_limited_to_a_later_entry_pushes_it() {
    let r = rig(TOKEN, true).await;
    let (_, last) = queued_first_and_last(&r.client).await;
    let (t, s) = ok(&r.client, "sync_with_github", json!({"id": last["handle"]})).await;
    assert_eq!(s["report"]["created"], 1, "{t}");
    assert_eq!(r.gh.issues().len(), 1);
    assert_eq!(r.gh.issues()[0].title, last["title"].as_str().unwrap());
}

#[tokio::test]
async fn sync_all_with_no_integration_says_what_to_configure() {
    let r = rig(TOKEN, false).await;
    create(&r.client, "Add OAuth login").await;
    let (t, s) = failed(&r.client, "sync_all_integrations", json!({})).await;
    assert_eq!(s["error"]["kind"], "not-configured");
    assert!(t.contains("no integration is set up"), "{t}");
    assert!(t.contains("[integrations.github]"), "{t}");
    let (t, _) = failed(&r.client, "sync_with_github", json!({"dryRun": true})).await;
    assert!(
        t.contains("not configured: add [integrations.github]"),
        "{t}"
    );
    assert!(r.remote.requests().is_empty());
}

#[tokio::test]
async fn a_rejected_token_is_reported_as_failed_without_the_token() {
    let wrong = "ghp_wrong_secret_987";
    let r = rig(wrong, true).await;
    create(&r.client, "Add OAuth login").await;
    let (t, s) = failed(&r.client, "sync_with_github", json!({})).await;
    assert_eq!(s["error"]["kind"], "sync-failed", "{s}");
    let failures = s["report"]["failed"].as_array().unwrap();
    assert!(!failures.is_empty(), "{s}");
    assert!(
        failures.iter().any(|f| f.as_str().unwrap().contains("401")),
        "{failures:?}"
    );
    assert!(
        t.starts_with("Error: the sync with GitHub failed; nothing went through"),
        "{t}"
    );
    assert!(t.contains("failed: github"), "{t}");
    assert!(t.contains("401"), "{t}");
    assert!(t.contains("token"), "{t}");
    assert!(!t.contains(wrong), "{t}");
    assert!(!s.to_string().contains(wrong), "{s}");
    assert!(r.gh.issues().is_empty());
    // Nothing went through with sync_all_integrations either.
    let (t, _) = failed(&r.client, "sync_all_integrations", json!({})).await;
    assert!(!t.contains(wrong), "{t}");
}

#[tokio::test]
async fn a_configuration_error_is_the_sync_tools_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let problem = "devlog.toml: integrations.github.repository: \"widgets\" does not match \
                   \"^[^/]+/[^/]+$\"";
    let client = serve(
        store,
        Options {
            integrations: vec!["github".into()],
            sync_error: Some(problem.into()),
            ..Options::default()
        },
    )
    .await;
    // The server runs: other tools work.
    create(&client, "Add OAuth login").await;
    for tool in ["sync_with_github", "sync_all_integrations"] {
        let (t, s) = failed(&client, tool, json!({})).await;
        assert_eq!(s["error"]["kind"], "config", "{s}");
        assert!(t.contains("integrations.github.repository"), "{t}");
        assert!(t.contains("misconfigured"), "{t}");
    }
}
