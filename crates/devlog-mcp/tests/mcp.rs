//! The MCP server driven in-process by rmcp's client over a pipe: the published interface
//! (snapshot and the original devlog's), tool behaviour, errors, resources, prompts, and panic
//! isolation. The real-client tests (Python SDK over stdio and HTTP) are in
//! `crates/devlog-cli/tests/mcp_python.rs`.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::entry::{NoteCategory, Status};
use devlog_core::{Devlog, Origin, Store};
use devlog_mcp::{DevlogMcp, Options};
use rmcp::ServiceExt;
use rmcp::handler::server::router::tool::ToolRoute;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ErrorCode, GetPromptRequestParams,
    ReadResourceRequestParams, ResourceContents, Tool,
};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ()>;

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    client: Client,
}

async fn start_with(options: Options, extra: Option<ToolRoute<DevlogMcp>>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let mut server = DevlogMcp::new(Devlog::new(store.clone()), options);
    if let Some(route) = extra {
        server.add_tool(route);
    }
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.unwrap();
    Harness {
        _dir: dir,
        store,
        client,
    }
}

async fn start() -> Harness {
    start_with(
        Options {
            actor: Some("tester".into()),
            integrations: Vec::new(),
            ..Options::default()
        },
        None,
    )
    .await
}

impl Harness {
    async fn call(&self, tool: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        self.client
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
            .await
    }

    /// Calls a tool that must succeed; returns its structured content.
    async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args.clone()).await.unwrap();
        assert_ne!(r.is_error, Some(true), "{tool} {args} failed: {}", text(&r));
        assert!(!text(&r).is_empty(), "{tool} answered no text");
        r.structured_content.expect("structured content")
    }

    /// Calls a tool that must fail as a tool error; returns (text, structured error).
    async fn tool_error(&self, tool: &str, args: Value) -> (String, Value) {
        let r = self.call(tool, args.clone()).await.unwrap();
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} {args} succeeded: {}",
            text(&r)
        );
        let structured = r
            .structured_content
            .clone()
            .map(|v| v["error"].clone())
            .unwrap_or(Value::Null);
        (text(&r), structured)
    }
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn snapshot_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tool_schemas.json")
}

fn tool_snapshot(tools: &[Tool]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|t| json!({ "name": t.name, "inputSchema": t.input_schema.as_ref() }))
            .collect(),
    )
}

#[tokio::test]
async fn tool_list_matches_the_checked_in_snapshot() {
    let h = start().await;
    let tools = h.client.list_all_tools().await.unwrap();
    let actual = tool_snapshot(&tools);
    let path = snapshot_path();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        actual,
        expected,
        "the MCP tool list changed; if that is intended, run with UPDATE_SNAPSHOTS=1 and \
         review the diff of {}",
        path.display()
    );
    for t in &tools {
        let d = t.description.as_deref().unwrap_or("");
        assert!(
            d.len() > 60,
            "{} needs a description an agent can use",
            t.name
        );
        let props = t.input_schema["properties"].as_object().unwrap();
        for (name, p) in props {
            assert!(
                p["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{}.{name} has no description",
                t.name
            );
        }
    }
}

fn original_tools() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/original-devlog/mcp-tools.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared corpus must sit beside the repository)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// Whether our schema accepts what the original's schema declared.
fn type_accepts(ours: &Value, original: &str) -> bool {
    let ours: Vec<&str> = match ours {
        Value::String(s) => vec![s.as_str()],
        Value::Array(v) => v.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    ours.contains(&original) || (original == "number" && ours.contains(&"integer"))
}

#[tokio::test]
async fn every_original_tool_and_argument_is_kept() {
    let h = start().await;
    let tools = h.client.list_all_tools().await.unwrap();
    let original = original_tools();
    for o in original["tools"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        let ours = tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("tool {name} is missing"));
        let schema = Value::Object(ours.input_schema.as_ref().clone());
        let mut want_required: Vec<&str> = o["inputSchema"]["required"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut have_required: Vec<&str> = schema["required"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        want_required.sort();
        have_required.sort();
        assert_eq!(have_required, want_required, "{name}: required arguments");
        for (arg, want) in o["inputSchema"]["properties"].as_object().unwrap() {
            let have = &schema["properties"][arg];
            assert!(!have.is_null(), "{name}.{arg} is missing");
            let t = want["type"].as_str().unwrap();
            assert!(
                type_accepts(&have["type"], t),
                "{name}.{arg}: {have} vs {want}"
            );
            if t == "array" {
                assert_eq!(have["items"], want["items"], "{name}.{arg} items");
            }
            if let Some(e) = want.get("enum") {
                assert_eq!(&have["enum"], e, "{name}.{arg} enum");
            }
            if let Some(d) = want.get("default") {
                assert_eq!(&have["default"], d, "{name}.{arg} default");
            }
        }
    }
}

#[tokio::test]
async fn a_panicking_tool_does_not_end_the_session() {
    let route = ToolRoute::new_dyn(
        Tool::new(
            "explode",
            "panics (test only)",
            devlog_mcp::args::input_schema::<devlog_mcp::args::ActiveContextArgs>(),
        ),
        |_ctx| Box::pin(async { panic!("deliberate test panic") }),
    );
    let h = start_with(Options::default(), Some(route)).await;
    let err = h.call("explode", json!({})).await.unwrap_err();
    let ServiceError::McpError(e) = err else {
        panic!("expected an MCP error, got {err:?}")
    };
    assert_eq!(e.code, ErrorCode::INTERNAL_ERROR);
    assert!(
        e.message.contains("internal error in tool `explode`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("deliberate test panic"), "{}", e.message);
    // The session is alive and other tools still work.
    h.ok(
        "create_devlog",
        json!({"title": "After the panic", "type": "task", "description": "d"}),
    )
    .await;
    let v = h.ok("get_active_context", json!({})).await;
    assert_eq!(v["count"], 1);
    // And it can panic again without harm.
    assert!(h.call("explode", json!({})).await.is_err());
    h.ok("list_devlogs", json!({})).await;
}

#[tokio::test]
async fn errors_say_what_to_do() {
    let h = start().await;
    h.ok(
        "create_devlog",
        json!({"title": "Fix login timeout", "type": "bugfix", "description": "slow networks"}),
    )
    .await;

    let (t, e) = h.tool_error("get_devlog", json!({"id": 999})).await;
    assert_eq!(e["kind"], "not-found");
    assert!(t.contains("999") && t.contains("Hint:"), "{t}");

    // A wrong key gets the close matches.
    let (t, e) = h
        .tool_error("get_devlog", json!({"id": "login-timeout"}))
        .await;
    assert_eq!(e["kind"], "not-found");
    assert_eq!(e["candidates"][0]["handle"], 1, "{e}");
    assert!(t.contains("did you mean #1"), "{t}");

    let (t, e) = h
        .tool_error("list_devlogs", json!({"status": "finished"}))
        .await;
    assert_eq!(e["kind"], "invalid");
    assert!(
        t.contains("`status`") && t.contains("in-progress, blocked"),
        "{t}"
    );

    let (t, _) = h
        .tool_error(
            "add_devlog_note",
            json!({"id": 1, "note": "x", "categry": "idea"}),
        )
        .await;
    assert!(t.contains("categry") && t.contains("category"), "{t}");

    let (t, _) = h.tool_error("add_devlog_note", json!({"id": 1})).await;
    assert!(t.contains("missing field `note`"), "{t}");

    let (t, _) = h.tool_error("get_devlog", json!({"id": -3})).await;
    assert!(t.contains("negative"), "{t}");

    let (t, _) = h.tool_error("update_devlog", json!({"id": 1})).await;
    assert!(t.contains("nothing to update"), "{t}");

    let err = h.call("no_such_tool", json!({})).await.unwrap_err();
    let ServiceError::McpError(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    assert!(e.message.contains("create_devlog"), "{}", e.message);

    // Nothing above changed the entry.
    let entry = h.store.all().await.unwrap().remove(0);
    assert!(entry.notes.is_empty());
    assert_eq!(entry.status, Status::New);
}

#[tokio::test]
async fn update_devlog_maps_the_original_fields() {
    let h = start().await;
    let created = h
        .ok(
            "create_devlog",
            json!({
                "title": "Add export", "type": "feature", "description": "CSV export",
                "priority": "high", "businessContext": "users ask", "technicalContext": "serde",
                "acceptanceCriteria": ["exports csv"], "initialInsights": ["csv crate"],
                "relatedPatterns": ["json export"]
            }),
        )
        .await;
    assert_eq!(created["created"], true);
    let id = created["entry"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        created["entry"]["aiContext"]["keyInsights"],
        json!(["csv crate"])
    );
    assert_eq!(
        created["entry"]["aiContext"]["relatedPatterns"],
        json!(["json export"])
    );

    // A retry returns the same entry.
    let again = h
        .ok(
            "create_devlog",
            json!({"title": "add  EXPORT", "type": "feature", "description": "again"}),
        )
        .await;
    assert_eq!(again["created"], false);
    assert_eq!(again["entry"]["id"], created["entry"]["id"]);

    h.ok(
        "update_devlog",
        json!({
            "id": "#1", "blockers": "waiting for the schema", "nextSteps": "ask the data team",
            "files": ["src/export.rs"], "keyInsights": ["quote fields"],
            "openQuestions": ["tabs?"], "currentSummary": "blocked on schema",
            "acceptanceCriteria": ["exports csv", "exports tsv"]
        }),
    )
    .await;
    let e = h.store.get(id.parse().unwrap()).await.unwrap();
    assert_eq!(e.status, Status::Blocked);
    let last = e.notes.last().unwrap();
    assert_eq!(last.category, NoteCategory::Issue);
    assert!(last.content.contains("waiting for the schema"));
    assert_eq!(e.files, vec!["src/export.rs"]);
    assert_eq!(e.ai_context.key_insights, vec!["csv crate", "quote fields"]);
    assert_eq!(e.ai_context.open_questions, vec!["tabs?"]);
    assert_eq!(e.ai_context.suggested_next_steps, vec!["ask the data team"]);
    assert_eq!(e.ai_context.current_summary, "blocked on schema");
    assert_eq!(
        e.context.acceptance_criteria,
        vec!["exports csv", "exports tsv"]
    );

    // suggestedNextSteps replaces; an explicit status wins over blockers.
    h.ok(
        "update_devlog",
        json!({
            "id": 1, "status": "in-progress", "blockers": "one more thing",
            "suggestedNextSteps": ["write the tsv writer"]
        }),
    )
    .await;
    let e = h.store.get(id.parse().unwrap()).await.unwrap();
    assert_eq!(e.status, Status::InProgress);
    assert_eq!(
        e.ai_context.suggested_next_steps,
        vec!["write the tsv writer"]
    );

    h.ok(
        "update_devlog_with_note",
        json!({"id": id, "status": "in-review", "note": "ready", "category": "solution",
               "files": "src/tsv.rs", "codeChanges": "added tsv", "priority": "critical"}),
    )
    .await;
    h.ok(
        "add_decision",
        json!({"id": 1, "decision": "use csv crate", "rationale": "battle tested",
               "decisionMaker": "ai-agent", "alternatives": ["hand-rolled"]}),
    )
    .await;
    h.ok(
        "update_ai_context",
        json!({"id": 1, "summary": "in review", "insights": ["i2"], "questions": ["q2"],
               "patterns": ["p2"], "nextSteps": ["merge"]}),
    )
    .await;
    let done = h
        .ok("complete_devlog", json!({"id": 1, "summary": "shipped"}))
        .await;
    assert_eq!(done["entry"]["status"], "done");

    let e = h.store.get(id.parse().unwrap()).await.unwrap();
    assert_eq!(e.status, Status::Done);
    assert!(e.closed_at.is_some());
    assert_eq!(e.priority.as_str(), "critical");
    assert_eq!(e.files, vec!["src/export.rs", "src/tsv.rs"]);
    assert_eq!(e.context.decisions[0].decision_maker, "ai-agent");
    assert_eq!(e.ai_context.suggested_next_steps, vec!["merge"]);
    assert_eq!(e.ai_context.current_summary, "shipped");
    assert_eq!(e.notes.last().unwrap().category, NoteCategory::Solution);

    // change_status: done work is reopened before it is started; the note comes along.
    let (msg, err) = h
        .tool_error("change_status", json!({"id": 1, "transition": "start"}))
        .await;
    assert!(msg.contains("#1 is done: reopen it first"), "{msg} {err}");
    let reopened = h
        .ok(
            "change_status",
            json!({"id": "#1", "transition": "Reopen", "note": "regressed"}),
        )
        .await;
    assert_eq!(
        (&reopened["from"], &reopened["changed"], &reopened["noted"]),
        (&json!("done"), &json!(true), &json!(true))
    );
    assert_eq!(reopened["entry"]["status"], "new");
    let again = h
        .ok("change_status", json!({"id": 1, "transition": "reopen"}))
        .await;
    assert_eq!(again["changed"], false);
    let (msg, _) = h
        .tool_error("change_status", json!({"id": 1, "transition": "finish"}))
        .await;
    assert!(msg.contains("start, block, review, close, reopen"), "{msg}");
    h.ok("complete_devlog", json!({"id": 1})).await;
    let e = h.store.get(id.parse().unwrap()).await.unwrap();
    assert_eq!(e.notes.last().unwrap().content, "regressed");
    assert_eq!(e.notes.last().unwrap().category, NoteCategory::Issue);

    // Every change is in the feed as made through MCP by the configured actor.
    let changes = h.ok("get_recent_changes", json!({"limit": 500})).await;
    let events = changes["events"].as_array().unwrap();
    assert!(events.len() > 8, "{changes}");
    assert!(
        events
            .iter()
            .all(|e| e["origin"] == "mcp" && e["actor"] == "tester")
    );
    let feed = h.store.events(0, 1000).await.unwrap();
    assert_eq!(changes["nextSince"], feed.last().unwrap().seq);
    assert!(feed.iter().all(|e| e.origin == Origin::Mcp));
    let newer = h
        .ok("get_recent_changes", json!({"since": changes["nextSince"]}))
        .await;
    assert_eq!(newer["events"], json!([]));
    let two = h.ok("get_recent_changes", json!({"limit": 2})).await;
    assert_eq!(two["events"].as_array().unwrap().len(), 2);
    assert_eq!(two["nextSince"], changes["nextSince"]);
}

#[tokio::test]
async fn lists_searches_and_discovery() {
    let h = start().await;
    for (title, kind, status) in [
        ("Login page times out", "bugfix", "in-progress"),
        ("Add dark mode", "feature", "new"),
        ("Document the login flow", "docs", "done"),
    ] {
        h.ok(
            "create_devlog",
            json!({"title": title, "type": kind, "description": format!("{title} details")}),
        )
        .await;
        let n = h.store.count().await.unwrap();
        h.ok("update_devlog", json!({"id": n, "status": status}))
            .await;
    }
    let all = h.ok("list_devlogs", json!({})).await;
    assert_eq!(all["total"], 3);
    let bugs = h.ok("list_devlogs", json!({"type": "bugfix"})).await;
    assert_eq!(bugs["total"], 1);
    let page = h.ok("list_devlogs", json!({"limit": 1, "offset": 1})).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 3);

    let found = h.ok("search_devlogs", json!({"query": "login"})).await;
    assert_eq!(found["total"], 2);
    let open = h
        .ok(
            "search_devlogs",
            json!({"query": "login", "status": "in-progress"}),
        )
        .await;
    assert_eq!(open["total"], 1);

    let d = h
        .ok(
            "discover_related_devlogs",
            json!({"workDescription": "login page times out on slow networks",
                   "workType": "bugfix", "keywords": ["timeout"], "scope": "auth"}),
        )
        .await;
    assert_eq!(d["related"][0]["handle"], 1, "{d}");
    assert_eq!(d["related"][0]["relevance"], "high", "{d}");
    assert!(d["recommendation"].as_str().unwrap().contains("#1"), "{d}");
    let none = h
        .ok(
            "discover_related_devlogs",
            json!({"workDescription": "quantum entanglement cache", "workType": "feature"}),
        )
        .await;
    assert_eq!(none["related"], json!([]));

    let active = h.ok("get_active_context", json!({"limit": 10})).await;
    assert_eq!(active["count"], 2, "done entries are not active");
    let ctx = h
        .call("get_context_for_ai", json!({"id": "#1"}))
        .await
        .unwrap();
    assert!(
        text(&ctx).starts_with("# #1 Login page times out"),
        "{}",
        text(&ctx)
    );
    assert_eq!(ctx.structured_content.unwrap()["handle"], 1);

    let stats = h.ok("get_devlog_stats", json!({})).await;
    assert_eq!(stats["total"], 3);
    assert_eq!(stats["open"], 2);
}

/// `sync_with_ado`, the name earlier versions answered for Azure DevOps, is not listed (the
/// listed tool is `sync_with_azure_devops`) but still works as that tool.
#[tokio::test]
async fn the_ado_sync_tool_is_not_listed_but_is_sync_with_azure_devops() {
    let h = start().await;
    let tools = h.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        !names.contains(&"sync_with_ado"),
        "sync_with_ado is listed: {names:?}"
    );
    for tool in ["sync_with_ado", "sync_with_azure_devops"] {
        let (t, e) = h.tool_error(tool, json!({})).await;
        assert_eq!(e["kind"], "not-configured", "{tool}");
        assert!(
            t.contains("add [integrations.azure-devops] to devlog.toml"),
            "{t}"
        );
    }
    for tool in [
        "sync_with_github",
        "sync_with_jira",
        "sync_with_azure_devops",
        "sync_all_integrations",
    ] {
        assert!(names.contains(&tool), "{tool}: {names:?}");
    }
}

#[tokio::test]
async fn integration_tools_say_what_to_configure() {
    let h = start().await;
    for tool in ["sync_with_github", "sync_all_integrations"] {
        let (t, e) = h.tool_error(tool, json!({})).await;
        assert_eq!(e["kind"], "not-configured");
        assert!(
            t.contains("not configured") && t.contains("add [integrations.github] to devlog.toml"),
            "{t}"
        );
    }
    let (t, e) = h.tool_error("sync_with_jira", json!({})).await;
    assert_eq!(e["kind"], "not-configured");
    assert!(t.contains("add [integrations.jira] to devlog.toml"), "{t}");
    let (t, e) = h.tool_error("sync_with_azure_devops", json!({})).await;
    assert_eq!(e["kind"], "not-configured");
    assert!(
        t.contains("add [integrations.azure-devops] to devlog.toml"),
        "{t}"
    );
    assert!(!t.contains("not available"), "{t}");
    // Configured in devlog.toml, but the server was given no engine for it.
    let configured = start_with(
        Options {
            actor: None,
            integrations: vec!["github".into(), "azure_devops".into(), "jira".into()],
            ..Options::default()
        },
        None,
    )
    .await;
    let (t, e) = configured
        .tool_error("sync_with_github", json!({"dryRun": true}))
        .await;
    assert_eq!(e["kind"], "unavailable");
    assert!(t.contains("GitHub is configured"), "{t}");
    // Azure DevOps under any of its table names.
    let (t, e) = configured
        .tool_error("sync_with_azure_devops", json!({}))
        .await;
    assert_eq!(e["kind"], "unavailable");
    assert!(t.contains("Azure DevOps is configured"), "{t}");
    let (t, e) = configured.tool_error("sync_with_jira", json!({})).await;
    assert_eq!(e["kind"], "unavailable");
    assert!(t.contains("Jira is configured"), "{t}");
}

#[tokio::test]
async fn resources_and_prompts() {
    let h = start().await;
    let created = h
        .ok(
            "create_devlog",
            json!({"title": "Cache warmup", "type": "task", "description": "warm it"}),
        )
        .await;
    let id = created["entry"]["id"].as_str().unwrap();

    let list = h.client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = list.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        vec![
            "devlog://context/active".to_string(),
            format!("devlog://entry/{id}")
        ]
    );
    let templates = h.client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "devlog://entry/{id}");

    for uri in [
        format!("devlog://entry/{id}"),
        "devlog://entry/%231".to_string(),
        "devlog://entry/cache-warmup".to_string(),
    ] {
        let r = h
            .client
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await
            .unwrap();
        let ResourceContents::TextResourceContents { text, .. } = &r.contents[0] else {
            panic!("text expected")
        };
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["id"], id, "{uri}");
    }
    let active = h
        .client
        .read_resource(ReadResourceRequestParams::new("devlog://context/active"))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &active.contents[0] else {
        panic!("text expected")
    };
    assert!(text.contains("Cache warmup"), "{text}");
    let err = h
        .client
        .read_resource(ReadResourceRequestParams::new("devlog://entry/999"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("999"), "{err}");

    let prompts = h.client.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["start_session", "resume_devlog"]);
    let mut args = serde_json::Map::new();
    args.insert("focus".into(), json!("cache"));
    let p = h
        .client
        .get_prompt(GetPromptRequestParams::new("start_session").with_arguments(args))
        .await
        .unwrap();
    let body = serde_json::to_string(&p.messages).unwrap();
    assert!(
        body.contains("Cache warmup") && body.contains("discover_related_devlogs"),
        "{body}"
    );
    let mut args = serde_json::Map::new();
    args.insert("id".into(), json!("1"));
    let p = h
        .client
        .get_prompt(GetPromptRequestParams::new("resume_devlog").with_arguments(args))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&p.messages)
            .unwrap()
            .contains("warm it")
    );
    assert!(
        h.client
            .get_prompt(GetPromptRequestParams::new("resume_devlog"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn discover_related_devlogs_searches_other_repositories_and_names_them() {
    let other_dir = tempfile::tempdir().unwrap();
    let other: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&other_dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    Devlog::new(other.clone())
        .create(
            devlog_core::ops::NewEntry {
                title: "Kubernetes ingress timeouts".into(),
                kind: Some(devlog_core::EntryType::Bugfix),
                ..Default::default()
            },
            &devlog_core::WriteMeta::new(devlog_core::Origin::Cli),
        )
        .await
        .unwrap();
    let h = start_with(
        Options {
            repositories: vec![("/srv/other-service".into(), other)],
            ..Options::default()
        },
        None,
    )
    .await;
    let r = h
        .call(
            "discover_related_devlogs",
            json!({"workDescription": "kubernetes ingress returns timeouts", "workType": "bugfix"}),
        )
        .await
        .unwrap();
    let body = r.structured_content.clone().unwrap();
    assert_eq!(
        body["related"][0]["repository"], "/srv/other-service",
        "{body}"
    );
    assert_eq!(body["related"][0]["title"], "Kubernetes ingress timeouts");
    assert!(text(&r).contains("[in /srv/other-service]"), "{}", text(&r));
    // Another repository's entry is related work, not "the same entry to continue here".
    assert!(
        !body["recommendation"]
            .as_str()
            .unwrap()
            .contains("continue it"),
        "{body}"
    );
}

#[tokio::test]
async fn shared_insights_are_added_found_and_given_with_the_context() {
    let h = start().await;
    for (title, desc) in [
        ("Payment refunds", "Refunds through the payments gateway"),
        ("Payment retries", "Retry payments gateway timeouts"),
    ] {
        h.ok(
            "create_devlog",
            json!({"title": title, "type": "feature", "description": desc}),
        )
        .await;
    }
    let added = h
        .ok(
            "add_insight",
            json!({"id": 1, "insight": "The payments gateway throttles per account"}),
        )
        .await;
    assert_eq!(
        added["aiContext"]["sharedInsights"],
        json!(["The payments gateway throttles per account"])
    );
    h.ok(
        "add_decision",
        json!({"id": 1, "decision": "Batch refunds", "rationale": "Throttling",
               "decisionMaker": "ai-agent", "share": true}),
    )
    .await;
    h.ok(
        "add_insight",
        json!({"id": 1, "insight": "Only for this entry", "shared": false}),
    )
    .await;

    let found = h.ok("get_shared_insights", json!({"forId": 2})).await;
    assert_eq!(found["for"]["handle"], 2, "{found}");
    let texts: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{found}");
    assert!(
        texts.contains(&"Batch refunds")
            && texts.contains(&"The payments gateway throttles per account")
    );

    let ctx = h
        .call("get_context_for_ai", json!({"id": 2}))
        .await
        .unwrap();
    let body = text(&ctx);
    assert!(
        body.contains("## Shared insights from related work")
            && body.contains("Batch refunds — Throttling [#1 Payment refunds]"),
        "{body}"
    );
    assert_eq!(
        ctx.structured_content.unwrap()["sharedInsights"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The entry that holds them does not get its own insights as "related work".
    let own = h
        .call("get_context_for_ai", json!({"id": 1}))
        .await
        .unwrap();
    assert!(
        !text(&own).contains("Shared insights from related work"),
        "{}",
        text(&own)
    );
}

#[tokio::test]
async fn relations_tools_link_subtasks_dependencies_and_risks() {
    let h = start().await;
    let mk = |title: &str, extra: Value| {
        let mut args = json!({"title": title, "type": "task", "description": "d"});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };
    h.ok("create_devlog", mk("Ship search", json!({}))).await;
    let child = h
        .ok("create_devlog", mk("Index words", json!({"parent": 1})))
        .await;
    let parent = h.ok("get_devlog", json!({"id": 1})).await;
    assert_eq!(child["entry"]["parent"], parent["entry"]["id"]);
    assert_eq!(parent["relations"]["children"][0]["entry"]["handle"], 2);
    h.ok("create_devlog", mk("The API", json!({}))).await;
    let (msg, _) = h
        .tool_error("create_devlog", mk("Orphan", json!({"parent": "#99"})))
        .await;
    assert!(msg.contains("no entry matches `#99`"), "{msg}");

    // #1 waits on #3; linking again changes nothing; a cycle is named.
    let linked = h
        .ok(
            "link_entries",
            json!({"id": 1, "kind": "blocked-by", "other": "#3"}),
        )
        .await;
    assert_eq!(
        (&linked["changed"], &linked["kind"]),
        (&json!(true), &json!("blocked-by"))
    );
    let again = h
        .ok(
            "link_entries",
            json!({"id": 1, "kind": "blocked-by", "other": 3}),
        )
        .await;
    assert_eq!(again["changed"], false);
    let (msg, _) = h
        .tool_error(
            "link_entries",
            json!({"id": 3, "kind": "blocked-by", "other": 1}),
        )
        .await;
    assert!(
        msg.contains("cycle") && msg.contains("#1 → #3 → #1"),
        "{msg}"
    );
    let (msg, _) = h
        .tool_error(
            "link_entries",
            json!({"id": 1, "kind": "follows", "other": 3}),
        )
        .await;
    assert!(msg.contains("blocks, blocked-by, relates"), "{msg}");

    let rel = h.ok("get_relations", json!({"id": 1})).await;
    let r = &rel["relations"];
    assert_eq!(r["children"][0]["entry"]["handle"], 2);
    assert_eq!(r["progress"], json!({"done": 0, "total": 1}));
    assert_eq!(r["blockedBy"][0]["entry"]["handle"], 3);
    assert_eq!(r["openBlockers"], 1);
    let got = h.ok("get_devlog", json!({"id": 1})).await;
    assert_eq!(got["relations"]["blockedBy"][0]["entry"]["handle"], 3);
    let blocked = h.ok("list_devlogs", json!({"blocked": true})).await;
    assert_eq!(blocked["total"], 1, "{blocked}");

    // The parent is not completed while its subtask is open, unless forced.
    let (msg, _) = h.tool_error("complete_devlog", json!({"id": 1})).await;
    assert!(
        msg.contains("open subtask") && msg.contains("#2 (new)"),
        "{msg}"
    );
    let (msg, _) = h
        .tool_error("change_status", json!({"id": 1, "transition": "close"}))
        .await;
    assert!(msg.contains("open subtask"), "{msg}");
    h.ok("complete_devlog", json!({"id": 1, "force": true}))
        .await;

    let un = h.ok("unlink_entries", json!({"id": 3, "other": 1})).await;
    assert_eq!(un["removed"], json!(["blocks"]));

    // Free dependencies and risks.
    let dep = h
        .ok(
            "add_dependency",
            json!({"id": 2, "description": "sqlx 0.9", "externalId": "launchbadge/sqlx#1"}),
        )
        .await;
    let dep_id = dep["dependency"]["id"].as_str().unwrap().to_string();
    assert_eq!(dep["dependency"]["type"], "blocked-by");
    let risk = h
        .ok(
            "add_risk",
            json!({"id": 2, "description": "API churn", "impact": "high", "probability": "low"}),
        )
        .await;
    let risk_id = risk["risk"]["id"].as_str().unwrap().to_string();
    let (msg, _) = h
        .tool_error(
            "add_risk",
            json!({"id": 2, "description": "x", "impact": "huge", "probability": "low"}),
        )
        .await;
    assert!(msg.contains("low, medium, high"), "{msg}");
    h.ok("remove_dependency", json!({"id": 2, "itemId": dep_id}))
        .await;
    h.ok("remove_risk", json!({"id": 2, "itemId": risk_id}))
        .await;
    let (msg, _) = h
        .tool_error("remove_risk", json!({"id": 2, "itemId": "risk-nope"}))
        .await;
    assert!(msg.contains("has no risk"), "{msg}");
}
