//! `devlog mcp`: serve the devlog to AI assistants over MCP (stdio, or streamable HTTP).

use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use clap::Args;
use devlog_core::{Devlog, Origin};
use devlog_mcp::{DevlogMcp, Options, check_loopback, serve_stdio};

use super::Ctx;
use crate::error::CliError;
use crate::workspace::Workspace;

/// Serve the devlog to AI assistants over MCP (the Model Context Protocol)
///
/// Speaks MCP over standard input and output, for clients that start devlog themselves
/// (Claude Desktop, Claude Code, VS Code, Cursor, ...); see docs/mcp.md for their configuration.
/// With --http it serves streamable HTTP at http://ADDR/mcp instead, with the same Host /
/// Origin checks and authentication as `devlog serve`: once the store holds an API token
/// every request needs one (`Authorization: Bearer`), and an address other than loopback is
/// served only then, or with --insecure-no-auth (docs/security.md). Logs go to standard error.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve streamable HTTP instead of stdio, on PORT (of 127.0.0.1) or a loopback ADDR:PORT
    /// such as [::1]:8765; port 0 picks a free port
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = parse_http_addr)]
    pub http: Option<SocketAddr>,
    /// With --http: keep at most N sessions open; a new session beyond them closes the least
    /// recently used one (its client starts a new session)
    #[arg(long, value_name = "N", requires = "http",
          default_value_t = devlog_mcp::sessions::DEFAULT_MAX_SESSIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions: u64,
    /// With --http: also answer requests addressed to this host name (a reverse proxy's
    /// public name); repeatable, added to `[server] allowHosts`
    #[arg(long = "allow-host", value_name = "NAME", requires = "http",
          value_parser = devlog_server::guard::parse_allowed_host)]
    pub allow_hosts: Vec<String>,
    /// With --http: serve without authentication, on any address, even when API tokens
    /// exist: anyone who can reach the port can read and change everything
    #[arg(long, requires = "http")]
    pub insecure_no_auth: bool,
}

/// `8765` → 127.0.0.1:8765; `localhost:8765` → 127.0.0.1:8765; otherwise an `ip:port`.
fn parse_http_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("`{port}` is not a port number"))?;
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        format!("`{s}` is not a port or an address such as 127.0.0.1:8765 or [::1]:8765")
    })
}

pub async fn run(ctx: &Ctx, a: McpArgs) -> Result<(), CliError> {
    // Beyond loopback only with tokens (or --insecure-no-auth), as `devlog serve`: a folder
    // without a workspace has none, so it is refused before anything is created.
    if let Some(addr) = a.http
        && !a.insecure_no_auth
        && ctx.workspace().is_err()
    {
        check_loopback(addr).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    let ws = ctx.workspace_or_create()?;
    let existed = ws.devlog_dir.is_dir() || ws.is_server();
    let store = ws.open_watched().await?;
    // Clients start this process in a folder of their choosing: say which log it serves.
    if existed {
        eprintln!("devlog mcp: serving the log in {}", ws.describe());
    } else {
        eprintln!(
            "devlog mcp: no .devlog in {} or its parents; created a new, empty log in {} \
             (pass --dir or set DEVLOG_DIR to use another)",
            ctx.discovery.cwd.display(),
            ws.describe()
        );
    }
    let (sync, sync_error) = match sync_engine(&ws, store.clone()).await {
        Ok(engine) => (engine, None),
        Err(e) => {
            eprintln!("warning: the sync tools are unavailable: {e}");
            (None, Some(e))
        }
    };
    let repositories = super::repos::other_stores(&ws).await;
    // `suggest_worklogs` reads this repository's and the discovered ones' commits.
    let (suggester, _) =
        super::worklog::suggester(&ws.devlog_dir, Devlog::new(store.clone()), &repositories);
    // Workflow runs live in the sync state, shared with every worker on the store.
    let workflow_runs = match super::workflow::run_store(&ws).await {
        Ok(runs) => Some(runs),
        Err(e) => {
            crate::output::warn(&format!(
                "workflows are off: their runs cannot be kept: {e}"
            ));
            None
        }
    };
    let options = Options {
        actor: ctx.actor.clone(),
        integrations: ws.config.integrations.keys().cloned().collect(),
        repositories,
        sync,
        sync_error,
        worklog_suggester: (!suggester.sources().is_empty()).then_some(suggester),
        bulk_journal: Some(super::bulk::journal(&ws)),
        workflows: workflow_runs.map(|runs| super::workflow::site(&ws, runs)),
    };
    if let Some(addr) = a.http {
        return serve_http(&ws, store, options, addr, &a).await;
    }
    // Writes through MCP are committed in batches with `integrations.git.autoCommit`.
    let auto_commit = super::autocommit::AutoCommit::start(&ws, store.clone()).await?;
    // The workflows the session's writes trigger run here, as in `devlog serve`.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workflows =
        super::workflow::spawn_background(ws.clone(), store.clone(), Origin::Mcp, stopped).await;
    let server = DevlogMcp::new(Devlog::new(store), options);
    tracing::info!(dir = %ws.devlog_dir.display(), "devlog mcp serving");
    if std::io::stdin().is_terminal() {
        eprintln!(
            "devlog mcp speaks the Model Context Protocol on standard input and output; \
             it is meant to be started by an MCP client (see docs/mcp.md). Press Ctrl-D \
             to quit."
        );
    }
    let served = serve_stdio(server)
        .await
        .map_err(|e| CliError::Other(e.into()));
    // The loop's last pass runs the workflows of the session's last writes; then what they
    // wrote is committed with the rest.
    let _ = stop.send(true);
    let _ = workflows.await;
    if let Some(auto_commit) = auto_commit {
        auto_commit.finish().await;
    }
    served
}

/// `devlog mcp --http`: devlog-server with only `/mcp` (no REST API, no dashboard), so the
/// endpoint has `devlog serve`'s guard (Host, Origin), authentication and roles (tokens,
/// `[server] auth`, `--insecure-no-auth`) and bind policy.
async fn serve_http(
    ws: &Workspace,
    store: Arc<dyn devlog_core::Store>,
    options: Options,
    addr: SocketAddr,
    a: &McpArgs,
) -> Result<(), CliError> {
    use devlog_core::time::Clock as _;
    use devlog_server::auth::AuthMode;
    let auth = if a.insecure_no_auth {
        AuthMode::Disabled
    } else {
        ws.config.server.auth_mode().map_err(CliError::Usage)?
    };
    let listener = devlog_server::Listener::bind_checked(
        addr,
        store.as_ref(),
        auth,
        devlog_core::time::SystemClock.now(),
    )
    .await
    .map_err(|e| match e {
        devlog_server::ServeError::NotLoopback(_) => CliError::Usage(e.to_string()),
        other => CliError::Other(other.into()),
    })?;
    if auth == AuthMode::Disabled {
        eprintln!(
            "\n!!! WARNING: {} !!!\n",
            devlog_server::auth::INSECURE_WARNING
        );
    }
    let server = devlog_server::Server::new(
        Devlog::new(store.clone()),
        devlog_server::ServerOptions {
            api: false,
            mcp: true,
            actor: options.actor,
            integrations: options.integrations,
            repositories: options.repositories,
            sync: options.sync,
            sync_error: options.sync_error,
            worklog_suggester: options.worklog_suggester,
            bulk_journal: options.bulk_journal,
            workflows: options.workflows,
            max_sessions: usize::try_from(a.max_sessions).unwrap_or(usize::MAX),
            allowed_hosts: ws
                .config
                .server
                .allow_hosts
                .iter()
                .chain(&a.allow_hosts)
                .cloned()
                .collect(),
            auth,
            workspace: ws
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            ..devlog_server::ServerOptions::default()
        },
    );
    eprintln!(
        "devlog MCP server listening on {}{} (store: {})",
        listener.url(),
        devlog_mcp::HTTP_PATH,
        ws.describe()
    );
    // Writes through MCP are committed in batches with `integrations.git.autoCommit`.
    let auto_commit = super::autocommit::AutoCommit::start(ws, store.clone()).await?;
    // The workflows the sessions' writes trigger run here, as in `devlog serve`.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let workflows =
        super::workflow::spawn_background(ws.clone(), store, Origin::Mcp, stopped.clone()).await;
    tokio::spawn(async move {
        devlog_mcp::transport::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let served = server
        .serve(listener, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })
        .await
        .map_err(|e| CliError::Other(e.into()));
    if served.is_err() {
        // The server failed, not stopped: no signal will end the loop.
        workflows.abort();
    }
    let _ = workflows.await;
    if let Some(auto_commit) = auto_commit {
        auto_commit.finish().await;
    }
    served
}

/// The sync engine the MCP sync tools run: over `store`, with the integrations configured in
/// devlog.toml, built and validated as `devlog sync` builds them. `Ok(None)` when none is
/// configured; `Err` says what is wrong (which `[integrations.*]` key), for the tools to answer
/// with, since a configuration error must not keep the server from starting.
pub async fn sync_engine(
    ws: &Workspace,
    store: Arc<dyn devlog_core::Store>,
) -> Result<Option<devlog_sync::SyncEngine>, String> {
    let etags = super::etags::StateEtags::new();
    let integrations = super::sync::build(ws, &super::sync::registry_with(Some(etags.clone())))
        .map_err(|e| e.to_string())?;
    if integrations.is_empty() {
        return Ok(None);
    }
    let state = super::sync::open_state(ws)
        .await
        .map_err(|e| format!("cannot open the sync state: {e}"))?;
    etags.attach(&state);
    Ok(Some(devlog_sync::SyncEngine::new(
        store,
        state,
        integrations,
        super::sync::sync_options(ws, ws.config.sync.strategy.unwrap_or_default(), None),
    )))
}

#[cfg(test)]
mod tests {
    use super::{parse_http_addr, sync_engine};
    use crate::workspace::Workspace;

    /// The engine the sync tools get for a devlog.toml: `Ok(None)` without integrations, the
    /// configuration problem (naming the key) when a table is wrong.
    async fn engine_for(toml: &str) -> Result<Option<devlog_sync::SyncEngine>, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("devlog.toml"), toml).unwrap();
        let ws = Workspace::load(dir.path().join(".devlog"), None).unwrap();
        let store = ws.open().await.unwrap();
        sync_engine(&ws, store).await
    }

    #[tokio::test]
    async fn sync_engine_is_built_from_the_configured_integrations() {
        assert!(engine_for("").await.unwrap().is_none());
        // `[integrations.git]` is local automation, not a sync target.
        assert!(
            engine_for("[integrations.git]\nautoCommit = false\n")
                .await
                .unwrap()
                .is_none()
        );
        let engine =
            engine_for("[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"ghp_x\"\n")
                .await
                .unwrap()
                .expect("an engine");
        let names: Vec<String> = engine
            .integrations()
            .iter()
            .map(|i| i.descriptor().name)
            .collect();
        assert_eq!(names, ["github"]);
        let err =
            engine_for("[integrations.github]\nrepository = \"widgets\"\ntoken = \"ghp_x\"\n")
                .await
                .unwrap_err();
        assert!(err.contains("integrations.github.repository"), "{err}");
        assert!(!err.contains("ghp_x"), "{err}");
    }

    #[test]
    fn http_addresses_default_to_loopback() {
        assert_eq!(
            parse_http_addr("8765").unwrap().to_string(),
            "127.0.0.1:8765"
        );
        assert_eq!(
            parse_http_addr("localhost:0").unwrap().to_string(),
            "127.0.0.1:0"
        );
        assert_eq!(parse_http_addr("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert_eq!(
            parse_http_addr("0.0.0.0:80").unwrap().to_string(),
            "0.0.0.0:80"
        );
        assert!(parse_http_addr("example.com:80").is_err());
        assert!(parse_http_addr("localhost:http").is_err());
    }
}
