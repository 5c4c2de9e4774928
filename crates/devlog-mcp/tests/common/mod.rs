//! The in-process harness the tool test files share: a store in a temporary folder, the MCP
//! server on one end of a pipe and rmcp's client on the other.
#![allow(dead_code)] // each test file uses a part
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::{Devlog, Store};
use devlog_mcp::{DevlogMcp, Options};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use serde_json::Value;

/// Which store the server runs on.
pub enum Backend {
    Json,
    Sqlite,
}

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub client: RunningService<RoleClient, ()>,
}

/// A server on a new store of `backend`, acting as `actor`.
pub async fn start(backend: Backend, actor: &str) -> Harness {
    start_with_workflows(backend, actor, &[]).await
}

/// [`start`] with these workflow files in `.devlog/workflows/` (and `Options::workflows`
/// set when there are any).
pub async fn start_with_workflows(
    backend: Backend,
    actor: &str,
    workflows: &[(&str, &str)],
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let site = if workflows.is_empty() {
        None
    } else {
        let devlog_dir = dir.path().join(".devlog");
        std::fs::create_dir_all(devlog_dir.join("workflows")).unwrap();
        for (name, text) in workflows {
            std::fs::write(devlog_dir.join("workflows").join(name), text).unwrap();
        }
        Some(devlog_workflow::load::Site::of(
            &devlog_dir,
            dir.path(),
            runs_of(dir.path()).await,
        ))
    };
    let store: Arc<dyn Store> = match backend {
        Backend::Json => Arc::new(
            devlog_store::JsonStore::open(&dir.path().join(".devlog"))
                .await
                .unwrap(),
        ),
        Backend::Sqlite => Arc::new(
            devlog_store::SqliteStore::open(&dir.path().join("devlog.sqlite"))
                .await
                .unwrap(),
        ),
    };
    let options = Options {
        actor: Some(actor.into()),
        integrations: Vec::new(),
        workflows: site,
        ..Options::default()
    };
    let server = DevlogMcp::new(Devlog::new(store.clone()), options);
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    Harness {
        _dir: dir,
        store,
        client: ().serve(client_io).await.unwrap(),
    }
}

/// The text blocks of a tool answer, joined.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Harness {
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        self.client
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
            .await
            .unwrap()
    }

    /// Calls a tool that must succeed: its text and structured content.
    pub async fn ok(&self, tool: &str, args: Value) -> (String, Value) {
        let r = self.call(tool, args.clone()).await;
        assert_ne!(r.is_error, Some(true), "{tool} {args} failed: {}", text(&r));
        (text(&r), r.structured_content.expect("structured content"))
    }

    /// Calls a tool that must fail: its error text.
    pub async fn fails(&self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args.clone()).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} {args} succeeded: {}",
            text(&r)
        );
        text(&r)
    }
}

/// The runs of the workspace in `root`: in its sync state (`.devlog/.state/sync.sqlite`).
pub async fn runs_of(root: &std::path::Path) -> devlog_workflow::RunStore {
    let state = devlog_store::SqliteSyncState::open(&root.join(".devlog/.state/sync.sqlite"))
        .await
        .unwrap();
    devlog_workflow::RunStore::new(Arc::new(state))
}
