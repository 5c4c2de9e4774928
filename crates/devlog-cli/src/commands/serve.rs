//! `devlog serve`: the HTTP server (REST API, live events, OpenAPI, MCP) on a loopback port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;
use devlog_core::Devlog;
use devlog_server::{Listener, ServeError, Server, ServerOptions, check_loopback};

use super::Ctx;
use crate::error::CliError;

/// Serve the devlog over HTTP: REST API, live events and MCP
///
/// Serves the REST API at http://ADDR:PORT/api/v1 (entries, notes, decisions, search, stats,
/// the change feed), its live event stream at /api/v1/events/stream (server-sent events), the
/// API's OpenAPI document at /api/v1/openapi.json and the MCP server at /mcp (streamable
/// HTTP). See docs/http-api.md. Only loopback addresses are accepted: the server has no
/// authentication yet. Ctrl-C or SIGTERM stops it after the requests in flight finish.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: a loopback address such as 127.0.0.1 or ::1, or localhost
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1", value_parser = parse_ip)]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one (the address is printed on standard error)
    #[arg(long, short = 'p', value_name = "N", default_value_t = 7878)]
    pub port: u16,
    /// Also answer requests addressed to this host name (a reverse proxy's public name);
    /// repeatable, added to `[server] allowHosts` in devlog.toml. Others are refused (403)
    #[arg(long = "allow-host", value_name = "NAME", value_parser = devlog_server::guard::parse_allowed_host)]
    pub allow_hosts: Vec<String>,
    /// Seconds a client has to send a request's headers (and an idle connection is kept)
    #[arg(long, value_name = "SECS", default_value_t = devlog_server::DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Most connections open at once; more are answered 503
    #[arg(long, value_name = "N", default_value_t = devlog_server::DEFAULT_MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_connections: u64,
    /// Most MCP sessions open at once at /mcp; a new session beyond them closes the least
    /// recently used one (its client starts a new session)
    #[arg(long, value_name = "N", default_value_t = devlog_server::DEFAULT_MAX_SESSIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions: u64,
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map_err(|_| {
            format!(
                "`{s}` is not an IP address such as 127.0.0.1 or ::1 (give the port with --port)"
            )
        })
}

pub async fn run(ctx: &Ctx, a: ServeArgs) -> Result<(), CliError> {
    let addr = SocketAddr::new(a.bind, a.port);
    check_loopback(addr).map_err(|e| CliError::Usage(e.to_string()))?;
    let ws = ctx.workspace_or_create()?;
    let store = ws.open().await?;
    // The sync engine serves the webhook receivers and MCP's sync tools. A configuration error
    // in `[integrations.*]` does not stop the server: the sync tools answer with it.
    let (sync, sync_error) = match super::mcp::sync_engine(&ws, store.clone()).await {
        Ok(engine) => (engine, None),
        Err(e) => {
            eprintln!("warning: webhooks and the MCP sync tools are unavailable: {e}");
            (None, Some(e))
        }
    };
    let options = ServerOptions {
        actor: ctx.actor.clone(),
        integrations: ws.config.integrations.keys().cloned().collect(),
        repositories: super::repos::other_stores(&ws).await,
        sync: sync.clone(),
        sync_error,
        allowed_hosts: ws
            .config
            .server
            .allow_hosts
            .iter()
            .chain(&a.allow_hosts)
            .cloned()
            .collect(),
        header_read_timeout: std::time::Duration::from_secs(a.header_timeout),
        max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
        max_sessions: usize::try_from(a.max_sessions).unwrap_or(usize::MAX),
        ..ServerOptions::default()
    };
    let listener = Listener::bind(addr).await.map_err(|e| match e {
        ServeError::NotLoopback(_) => CliError::Usage(e.to_string()),
        other => CliError::Other(other.into()),
    })?;
    let url = listener.url();
    eprintln!(
        "devlog server listening on {url} (store: {})\n  REST API  {url}/api/v1  (OpenAPI: {url}/api/v1/openapi.json)\n  events    {url}/api/v1/events/stream\n  MCP       {url}/mcp\nCtrl-C stops it.",
        ws.describe()
    );
    // Writes through the API, MCP and webhooks are committed in batches with
    // `integrations.git.autoCommit`.
    let auto_commit = super::autocommit::AutoCommit::start(&ws, store.clone()).await?;
    let mut server = Server::new(Devlog::new(store), options);
    // Webhook receivers for the configured integrations.
    if let Some(engine) = sync {
        let names: Vec<String> = engine
            .integrations()
            .iter()
            .map(|i| i.descriptor().name)
            .collect();
        let engine = std::sync::Arc::new(engine);
        // Deliveries accepted before a crash or stop are applied now.
        tokio::spawn(devlog_server::webhooks::resume_pending(engine.clone()));
        server = server.with_routes(devlog_server::webhooks::routes(engine));
        eprintln!("  webhooks  {url}/webhooks/{{{}}}", names.join(","));
    }
    let served = server
        .serve(listener, devlog_server::shutdown_signal())
        .await
        .map_err(|e| CliError::Other(e.into()));
    if let Some(auto_commit) = auto_commit {
        auto_commit.finish().await;
    }
    served?;
    eprintln!("devlog server stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_ip;

    #[test]
    fn bind_addresses() {
        assert_eq!(parse_ip("localhost").unwrap().to_string(), "127.0.0.1");
        assert_eq!(parse_ip("::1").unwrap().to_string(), "::1");
        assert_eq!(parse_ip("[::1]").unwrap().to_string(), "::1");
        assert_eq!(parse_ip("0.0.0.0").unwrap().to_string(), "0.0.0.0");
        let e = parse_ip("127.0.0.1:80").unwrap_err();
        assert!(e.contains("--port"), "{e}");
        assert!(parse_ip("example.com").is_err());
    }
}
