//! `devlog mcp`: serve the devlog to AI assistants over MCP (stdio, or streamable HTTP).

use std::net::SocketAddr;

use clap::Args;
use devlog_core::Devlog;
use devlog_mcp::{DevlogMcp, HttpListener, Options, check_loopback, serve_stdio};

use super::Ctx;
use crate::error::CliError;

/// Serve the devlog to AI assistants over MCP (the Model Context Protocol)
///
/// Speaks MCP over standard input and output, for clients that start devlog themselves
/// (Claude Desktop, Claude Code, VS Code, Cursor, ...); see docs/mcp.md for their configuration.
/// With --http it serves streamable HTTP at http://ADDR/mcp instead. Only loopback addresses
/// are accepted, since the endpoint has no authentication yet. Logs go to standard error.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve streamable HTTP on this loopback address (e.g. 127.0.0.1:8765; port 0 picks a free
    /// port) instead of stdio
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
}

pub async fn run(ctx: &Ctx, a: McpArgs) -> Result<(), CliError> {
    if let Some(addr) = a.http {
        check_loopback(addr).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    let ws = ctx.workspace_or_create()?;
    let store = ws.open().await?;
    let options = Options {
        actor: ctx.actor.clone(),
        integrations: ws.config.integrations.keys().cloned().collect(),
    };
    let server = DevlogMcp::new(Devlog::new(store), options);
    tracing::info!(dir = %ws.devlog_dir.display(), "devlog mcp serving");
    match a.http {
        None => serve_stdio(server)
            .await
            .map_err(|e| CliError::Other(e.into())),
        Some(addr) => {
            let listener = HttpListener::bind(addr)
                .await
                .map_err(|e| CliError::Other(e.into()))?;
            eprintln!(
                "devlog MCP server listening on {} (store: {})",
                listener.url(),
                ws.devlog_dir.display()
            );
            listener
                .serve(server, devlog_mcp::transport::shutdown_signal())
                .await
                .map_err(|e| CliError::Other(e.into()))
        }
    }
}
