//! `devlog serve`: the HTTP server (REST API, live events, OpenAPI, MCP) on a loopback port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use clap::Args;
use devlog_core::Devlog;
use devlog_core::time::{Clock, SystemClock};
use devlog_server::auth::AuthMode;
use devlog_server::webhooks::WebhookOptions;
use devlog_server::{Listener, ServeError, Server, ServerOptions};
use devlog_store::feed_watch::FeedWatch;
use devlog_sync::{WorkerEvent, WorkerOptions};
use tokio::sync::{Notify, watch};

use super::Ctx;
use crate::error::CliError;

/// Serve the devlog over HTTP: REST API, live events and MCP
///
/// Serves the REST API at http://ADDR:PORT/api/v1 (entries, notes, decisions, search, stats,
/// the change feed), its live event stream at /api/v1/events/stream (server-sent events), the
/// API's OpenAPI document at /api/v1/openapi.json and the MCP server at /mcp (streamable
/// HTTP). See docs/http-api.md. Once the store holds an API token (`devlog token create`)
/// every request needs one (`Authorization: Bearer`); an address other than loopback is
/// served only then, or with --insecure-no-auth (docs/security.md). Ctrl-C or SIGTERM stops
/// it after the requests in flight finish.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: a loopback address such as 127.0.0.1 or ::1, or localhost; any
    /// other (0.0.0.0, a LAN address) only once an API token exists or with --insecure-no-auth
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
    /// How often background sync pulls: 60s, 5m, ... (default: `[sync] interval`, else 60s).
    /// Background sync runs when an integration is configured; local changes are pushed as
    /// they happen and webhook deliveries wake it at once
    #[arg(long, value_name = "DURATION", value_parser = super::worker::parse_interval)]
    pub sync_interval: Option<std::time::Duration>,
    /// Sync workers to run in the server (default: `[sync] workers`, else 1)
    #[arg(long = "worker", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: Option<u64>,
    /// Do not sync in the background (webhooks are still applied)
    #[arg(long, conflicts_with_all = ["sync_interval", "workers"])]
    pub no_background_sync: bool,
    /// Serve without authentication, on any address, even when API tokens exist: anyone
    /// who can reach the port can read and change everything. Only on a network you trust
    #[arg(long)]
    pub insecure_no_auth: bool,
}

/// `devlog serve`'s pull interval without `--sync-interval` or `[sync] interval`.
pub const DEFAULT_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

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
    // Beyond loopback only with tokens (or --insecure-no-auth): a folder without a workspace
    // has none, so it is refused before anything is created.
    if !a.insecure_no_auth
        && let Err(e) = devlog_server::check_loopback(addr)
        && ctx.workspace().is_err()
    {
        return Err(CliError::Usage(e.to_string()));
    }
    let ws = ctx.workspace_or_create()?;
    let auth = if a.insecure_no_auth {
        AuthMode::Disabled
    } else {
        ws.config.server.auth_mode().map_err(CliError::Usage)?
    };
    let store = ws.open_watched().await?;
    // Single sign-on: the provider is discovered before the port opens, so a wrong issuer or
    // an unset `${VAR}` stops the server with the setting named.
    let sso = match (&ws.config.server.oidc, auth) {
        (Some(settings), a) if a != AuthMode::Disabled => {
            Some(single_sign_on(&ws.devlog_dir.join(".state"), settings).await?)
        }
        _ => None,
    };
    // Checked before anything starts: a refused bind names the ways out. With single sign-on
    // every request needs credentials, so any address is allowed.
    let listener =
        Listener::bind_checked_with(addr, store.as_ref(), auth, SystemClock.now(), sso.is_some())
            .await
            .map_err(|e| match e {
                ServeError::NotLoopback(_) => CliError::Usage(e.to_string()),
                other => CliError::Other(other.into()),
            })?;
    if auth == AuthMode::Disabled {
        eprintln!(
            "\n!!! WARNING: {} !!!\n",
            devlog_server::auth::INSECURE_WARNING
        );
    }
    // The sync engine serves the webhook receivers and MCP's sync tools. A configuration error
    // in `[integrations.*]` does not stop the server: the sync tools answer with it.
    let (sync, sync_error) = match super::mcp::sync_engine(&ws, store.clone()).await {
        Ok(engine) => (engine, None),
        Err(e) => {
            eprintln!("warning: webhooks and the MCP sync tools are unavailable: {e}");
            (None, Some(e))
        }
    };
    // Poked by writes through the server and by applied webhook deliveries; the background
    // sync workers wait on it.
    let wake = Arc::new(Notify::new());
    // One change-feed watcher for the event streams and the workers.
    let feed = FeedWatch::start(store.clone(), devlog_store::feed_watch::DEFAULT_POLL);
    let repositories = super::repos::other_stores(&ws).await;
    // REST `/worklogs/suggestions` and MCP `suggest_worklogs` read this repository's and the
    // discovered ones' commits.
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
    let options = ServerOptions {
        wake: Some(wake.clone()),
        feed: Some(feed.clone()),
        actor: ctx.actor.clone(),
        integrations: ws.config.integrations.keys().cloned().collect(),
        worklog_suggester: (!suggester.sources().is_empty()).then_some(suggester),
        repositories,
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
        auth,
        workspace: ws
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        bulk_journal: Some(super::bulk::journal(&ws)),
        sso: sso.clone(),
        workflows: workflow_runs.map(|runs| super::workflow::site(&ws, runs)),
        audit_dir: Some(ws.devlog_dir.clone()),
        ..ServerOptions::default()
    };
    let url = listener.url();
    let stop_on = super::worker::armed_shutdown_signal().await;
    let dashboard = if devlog_server::DASHBOARD {
        format!("\n  dashboard {url}/")
    } else {
        String::new()
    };
    let dashboard = match &sso {
        Some(s) => format!("{dashboard}  (single sign-on: {})", s.issuer()),
        None => dashboard,
    };
    eprintln!(
        "devlog server listening on {url} (store: {}){dashboard}\n  REST API  {url}/api/v1  (OpenAPI: {url}/api/v1/openapi.json)\n  events    {url}/api/v1/events/stream\n  MCP       {url}/mcp\nCtrl-C stops it.",
        ws.describe()
    );
    // Writes through the API, MCP and webhooks are committed in batches with
    // `integrations.git.autoCommit`.
    let auto_commit = super::autocommit::AutoCommit::start(&ws, store.clone()).await?;
    let workflow_store = store.clone();
    // Retention once a day and signed audit checkpoints each minute (docs/security.md).
    let audited = store.clone();
    let housekeeping = super::purge::spawn_housekeeping(
        ctx,
        store.clone(),
        ws.config.retention.clone(),
        "devlog serve",
        devlog_core::event::Origin::Http,
    );
    let mut server = Server::new(Devlog::new(store), options);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let mut workers = None;
    // Webhook receivers for the configured integrations.
    if let Some(engine) = sync {
        let names: Vec<String> = engine
            .integrations()
            .iter()
            .map(|i| i.descriptor().name)
            .collect();
        let engine = Arc::new(engine);
        // Deliveries accepted before a crash or stop are applied now.
        tokio::spawn(devlog_server::webhooks::resume_pending(
            engine.clone(),
            Some(wake.clone()),
        ));
        server = server.with_routes(devlog_server::webhooks::routes_with(
            engine.clone(),
            WebhookOptions {
                wake: Some(wake.clone()),
                ..WebhookOptions::default()
            },
        ));
        eprintln!("  webhooks  {url}/webhooks/{{{}}}", names.join(","));
        // Jira's receiver is authenticated by a signature or a URL token (docs/jira.md).
        if names.iter().any(|n| n == devlog_jira::NAME)
            && let Ok(j) = super::jira::jira(&ws)
        {
            let c = j.config();
            let how = if c.webhook_secret.is_some() {
                "jira deliveries must be signed with integrations.jira.webhookSecret (X-Hub-Signature)"
                    .to_string()
            } else if c.webhook_token.is_some() {
                format!(
                    "jira webhook URL: {url}/webhooks/jira?token=<integrations.jira.webhookToken>"
                )
            } else {
                "jira deliveries are refused: set integrations.jira.webhookSecret or webhookToken (docs/jira.md)"
                    .to_string()
            };
            eprintln!("            {how}");
        }
        // Azure DevOps service hooks authenticate with a Basic password (docs/azure-devops.md).
        if names.iter().any(|n| n == devlog_ado::NAME)
            && let Ok(ado) = super::ado::ado(&ws)
        {
            let c = ado.config();
            let how = if c.service_hook_secret.is_some() {
                format!(
                    "azure-devops service hooks: Web Hooks to {url}/webhooks/azure-devops with Basic \
                     credentials whose password is integrations.{}.serviceHookSecret",
                    c.table
                )
            } else {
                format!(
                    "azure-devops service hooks are refused: set integrations.{}.serviceHookSecret \
                     (docs/azure-devops.md)",
                    c.table
                )
            };
            eprintln!("            {how}");
        }
        if !a.no_background_sync {
            let opts = WorkerOptions {
                workers: a
                    .workers
                    .map(|n| usize::try_from(n).unwrap_or(1))
                    .or(ws.config.sync.workers)
                    .unwrap_or(1),
                interval: a
                    .sync_interval
                    .or(ws.config.sync.interval)
                    .unwrap_or(DEFAULT_SYNC_INTERVAL),
                feed: Some(feed.clone()),
                pollers: super::ado::pollers(&ws),
                ..WorkerOptions::default()
            };
            eprintln!(
                "  sync      in the background: {} worker(s), pulling every {} (--no-background-sync turns it off)",
                opts.workers,
                super::worker::show_interval(opts.interval)
            );
            let sink: devlog_sync::EventSink = Arc::new(|e: &WorkerEvent| {
                if let Some((text, _)) = super::worker::line(e) {
                    eprintln!("sync: {text}");
                }
            });
            workers = Some(tokio::spawn(devlog_sync::run_workers(
                engine,
                opts,
                wake.clone(),
                stop_rx.clone(),
                sink,
            )));
        }
    }
    // Workflows: the change feed's writes (REST, MCP, sync), schedules, unfinished runs.
    let workflows = super::workflow::spawn_background(
        ws.clone(),
        workflow_store,
        devlog_core::Origin::Http,
        stop_rx.clone(),
    )
    .await;
    tokio::spawn(async move {
        stop_on.await;
        let _ = stop_tx.send(true);
    });
    let served = server
        .serve(listener, async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        })
        .await
        .map_err(|e| CliError::Other(e.into()));
    // The workers finish the jobs in hand (the shutdown signal reached them too).
    if let Some(w) = workers {
        if served.is_err() {
            // The server failed, not stopped: no signal will end the workers.
            w.abort();
        }
        match w.await {
            Ok(Err(e)) => eprintln!("warning: background sync stopped with an error: {e}"),
            Err(e) if !e.is_cancelled() => {
                eprintln!("warning: background sync ended abnormally: {e}");
            }
            Err(_) => {}
            Ok(Ok(_)) => {}
        }
    }
    if served.is_err() {
        workflows.abort();
    }
    let _ = workflows.await;
    housekeeping.abort();
    // What the server recorded since the last tick is covered by a signature.
    super::audit::checkpoint_as(ctx, &*audited, devlog_core::event::Origin::Http).await;
    if let Some(auto_commit) = auto_commit {
        auto_commit.finish().await;
    }
    served?;
    eprintln!("devlog server stopped");
    Ok(())
}

/// `[server.oidc]` with every `${VAR}` expanded, checked, and the provider discovered. The
/// session key is `sessionKey`, else the one kept in `STATE/session.key` (created with 64
/// random bytes, mode 0600, on first use), so sessions outlive a restart.
pub async fn single_sign_on(
    state_dir: &std::path::Path,
    settings: &devlog_server::oidc::OidcSettings,
) -> Result<Arc<devlog_server::oidc::Sso>, CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let expand = |key: &str, v: &str| {
        crate::config::expand_vars(v, env)
            .map_err(|e| CliError::Usage(format!("server.oidc.{key}: {e}")))
    };
    let mut s = settings.clone();
    s.issuer = expand("issuer", &s.issuer)?;
    s.client_id = expand("clientId", &s.client_id)?;
    s.redirect_url = expand("redirectUrl", &s.redirect_url)?;
    s.client_secret = s
        .client_secret
        .as_deref()
        .map(|v| expand("clientSecret", v))
        .transpose()?;
    s.session_key = s
        .session_key
        .as_deref()
        .map(|v| expand("sessionKey", v))
        .transpose()?;
    s.validate().map_err(CliError::Usage)?;
    let key = match &s.session_key {
        Some(k) => k.as_bytes().to_vec(),
        None => session_key_file(state_dir).map_err(CliError::Usage)?,
    };
    let sso = devlog_server::oidc::Sso::discover(&s, &key)
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(Arc::new(sso))
}

fn fill(rng: &mut (impl rand::CryptoRng + ?Sized), bytes: &mut [u8]) {
    rng.fill_bytes(bytes);
}

/// The generated session key in `dir/session.key`: read, or created (0600) on first use.
pub fn session_key_file(dir: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    let path = dir.join("session.key");
    let shown = path.display();
    match std::fs::read(&path) {
        Ok(k) if k.len() >= devlog_server::oidc::MIN_SESSION_KEY => return Ok(k),
        Ok(_) => {
            return Err(format!(
                "{shown} is shorter than {} bytes: delete it to have a new key generated (signed-in users sign in again)",
                devlog_server::oidc::MIN_SESSION_KEY
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read the session key {shown}: {e}")),
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut key = vec![0u8; 64];
    fill(&mut rand::rng(), &mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = match options.open(&path) {
        Ok(f) => f,
        // Another server created it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return std::fs::read(&path).map_err(|e| format!("cannot read {shown}: {e}"));
        }
        Err(e) => return Err(format!("cannot create the session key {shown}: {e}")),
    };
    f.write_all(&key)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write the session key {shown}: {e}"))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::parse_ip;

    #[test]
    fn the_session_key_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".state");
        let a = super::session_key_file(&state).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(super::session_key_file(&state).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(state.join("session.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(state.join("session.key"), b"short").unwrap();
        assert!(
            super::session_key_file(&state)
                .unwrap_err()
                .contains("shorter")
        );
    }

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
