//! Assembling the server (API v1, the MCP endpoint, extension routes) and running it on a
//! loopback listener until a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use devlog_core::Devlog;
use devlog_mcp::DevlogMcp;
use devlog_mcp::transport::{HostCheck, HttpOptions, HttpSessions, http_router_with};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use utoipa::OpenApi as _;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::{OpenApi, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;

use crate::api::v1;
use crate::error::ApiError;
use crate::guard::{self, HostPolicy};
use crate::state::AppState;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Recorded as the actor of changes whose request names none (`X-Devlog-Actor`).
    pub actor: Option<String>,
    /// Names of the configured integrations, for the MCP tools that report them.
    pub integrations: Vec<String>,
    /// Largest request body the API and the MCP endpoint accept, in bytes (webhook receivers
    /// have their own).
    pub body_limit: usize,
    /// How often the event streams look for changes made by other processes, on backends
    /// without notifications (PostgreSQL's wake them at once; changes made through this
    /// server always do). See `devlog_store::feed_watch`.
    pub poll_interval: Duration,
    /// Poked after every write through this server; pass the one background sync workers
    /// wait on so they wake too (webhook receivers poke it after a delivery is applied).
    pub wake: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// The process's change-feed watcher, to share with the background sync workers; else
    /// the first event stream starts one (with `poll_interval`).
    pub feed: Option<devlog_store::feed_watch::FeedWatch>,
    /// Serve MCP (streamable HTTP) at `/mcp`.
    pub mcp: bool,
    /// Serve the REST API (and the dashboard); off for `devlog mcp --http`, which serves
    /// only `/mcp` behind the same guard and authentication.
    pub api: bool,
    /// Most MCP sessions open at once; a new one beyond them closes the least recently used.
    pub max_sessions: usize,
    /// Other repositories' stores that MCP's `discover_related_devlogs` also searches.
    pub repositories: Vec<(String, std::sync::Arc<dyn devlog_core::Store>)>,
    /// The sync engine MCP's sync tools run (see `devlog_mcp::Options::sync`).
    pub sync: Option<devlog_sync::SyncEngine>,
    /// Why there is no sync engine: the `[integrations.*]` configuration error the MCP sync
    /// tools answer with.
    pub sync_error: Option<String>,
    /// Host names besides loopback ones that requests may be addressed to (a reverse proxy's
    /// public name), checked by [`crate::guard`].
    pub allowed_hosts: Vec<String>,
    /// How long a connection may take to send a request's headers, and how long an idle
    /// keep-alive connection is kept; then it is closed.
    pub header_read_timeout: Duration,
    /// Most connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Worklog suggestions from git commits (REST `/worklogs/suggestions`, MCP
    /// `suggest_worklogs`); `None`: those answer that the server has no git repository.
    pub worklog_suggester: Option<devlog_core::worklog_suggest::WorklogSuggester>,
    /// When requests need credentials ([`crate::auth`]; `[server] auth`, `--insecure-no-auth`).
    pub auth: crate::auth::AuthMode,
    /// The workspace this server serves: API tokens scoped to another one are refused.
    pub workspace: Option<String>,
    /// Where `POST /api/v1/bulk` and MCP's `bulk_update` keep bulk operations and their
    /// progress (`devlog serve`: the workspace's `.devlog/.state/bulk/`, which `devlog bulk
    /// resume` reads too); `None`: in memory (a restart forgets unfinished operations).
    pub bulk_journal: Option<std::sync::Arc<dyn devlog_core::bulk::BulkJournal>>,
    /// Single sign-on for the dashboard (`[server.oidc]`, [`crate::oidc`]): the provider,
    /// discovered with [`crate::oidc::Sso::discover`]. Serves `/auth/login`, `/auth/callback`
    /// and `/auth/logout`, and makes credentials required.
    #[cfg(feature = "oidc")]
    pub sso: Option<std::sync::Arc<crate::oidc::Sso>>,
    /// The workspace's workflow folders (`GET /workflows`, `POST /workflows/{name}/run`);
    /// `None`: those answer 404.
    pub workflows: Option<devlog_workflow::load::Site>,
    /// The `.devlog` folder whose signing key (`.state/audit-key`, or the file
    /// `$DEVLOG_AUDIT_KEY_FILE` names) signs `POST /audit/checkpoint` and checks `GET
    /// /audit/verify`; `None`: the checkpoint route answers 409.
    pub audit_dir: Option<std::path::PathBuf>,
}

/// The default request body limit: 4 MiB, room for a text field at the core's 1 MiB limit
/// (`devlog_core::ops::MAX_TEXT`) even when JSON escaping makes it several times larger.
pub const DEFAULT_BODY_LIMIT: usize = 4 * devlog_core::ops::MAX_TEXT;

/// The default time a client has to send a request's headers (and an idle connection lives).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            actor: None,
            integrations: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            poll_interval: devlog_store::feed_watch::DEFAULT_POLL,
            wake: None,
            feed: None,
            mcp: true,
            api: true,
            max_sessions: devlog_mcp::sessions::DEFAULT_MAX_SESSIONS,
            repositories: Vec::new(),
            sync: None,
            sync_error: None,
            allowed_hosts: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            worklog_suggester: None,
            auth: crate::auth::AuthMode::Auto,
            workspace: None,
            bulk_journal: None,
            #[cfg(feature = "oidc")]
            sso: None,
            workflows: None,
            audit_dir: None,
        }
    }
}

/// Where the MCP endpoint is.
pub const MCP_PATH: &str = devlog_mcp::HTTP_PATH;

/// devlog's HTTP server, ready to be turned into a router or served.
///
/// # Extension point
///
/// [`Server::with_routes`] adds routes that other parts of devlog own (the integration
/// framework's webhook receivers, later the dashboard) without this crate knowing them. Each
/// extension is an [`OpenApiRouter`] with its state applied; its routes are merged at the root
/// (so they choose their own paths, e.g. `/api/v1/webhooks/github`) and its OpenAPI paths are
/// merged into `/api/v1/openapi.json`. Register handlers with `utoipa_axum::routes!` so they
/// are documented. The API's body limit and JSON error bodies are not imposed on extensions:
/// webhook payloads have their own limits and formats.
pub struct Server {
    app: Devlog,
    options: ServerOptions,
    extensions: Vec<OpenApiRouter>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("app", &self.app)
            .field("options", &self.options)
            .field("extensions", &self.extensions.len())
            .finish()
    }
}

/// A built server: the router, and the handles a graceful shutdown needs.
pub struct Built {
    pub router: Router,
    pub openapi: OpenApi,
    state: AppState,
    mcp: Option<HttpSessions>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("router", &self.router)
            .field("paths", &self.openapi.paths.paths.len())
            .field("state", &self.state)
            .field("mcp", &self.mcp)
            .finish()
    }
}

impl Built {
    /// Ends the event streams and MCP sessions, which would otherwise hold connections open
    /// through a graceful shutdown.
    pub fn close_streams(&self) -> impl Fn() + Send + Sync + 'static {
        let state = self.state.clone();
        let mcp = self.mcp.clone();
        move || {
            state.begin_shutdown();
            if let Some(m) = &mcp {
                m.close_all();
            }
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "devlog",
        description = "The HTTP API of devlog, a structured log of development work. Entries are \
                       JSON in the original devlog's camelCase format; errors are \
                       `{\"error\": {\"class\", \"message\", \"hint\"}}`. See docs/http-api.md.",
    ),
    tags(
        (name = "entries", description = "Entries, their notes and decisions, search and statistics"),
        (name = "relations", description = "Links between entries (blocks, relates, duplicates, subtasks), dependencies and risks"),
        (name = "planning", description = "Time spent (worklogs) and milestones; due dates are entry fields"),
        (name = "events", description = "The change feed and its live stream"),
        (name = "sync", description = "Sync with GitHub, Jira and Azure DevOps: conflict resolution (docs/sync.md)"),
        (name = "bulk", description = "One change to every entry a filter selects (docs/bulk.md); an admin action"),
        (name = "audit", description = "The tamper-evident audit log: sign a checkpoint, verify the chain (docs/security.md); an admin action"),
        (name = "server", description = "Health and this document"),
        (name = "mcp", description = "The MCP server (Model Context Protocol, streamable HTTP); see docs/mcp.md"),
        (name = "auth", description = "Single sign-on to the dashboard (OpenID Connect), present when `[server.oidc]` is configured; see docs/security.md"),
    )
)]
struct ApiDoc;

impl Server {
    pub fn new(app: Devlog, options: ServerOptions) -> Self {
        Self {
            app,
            options,
            extensions: Vec::new(),
        }
    }

    /// Adds extension routes (see the type's documentation).
    pub fn with_routes(mut self, routes: OpenApiRouter) -> Self {
        self.extensions.push(routes);
        self
    }

    /// The router (for tests and embedding; [`Server::serve`] adds the shutdown wiring).
    pub fn router(self) -> Router {
        self.build().router
    }

    /// Assembles the router and the OpenAPI document that describes it.
    ///
    /// # Panics
    /// Never for options checked with [`crate::guard::parse_allowed_host`]; an invalid
    /// allowed host is dropped with a warning (use [`Server::try_build`] to get the error).
    pub fn build(self) -> Built {
        match HostPolicy::new(&self.options.allowed_hosts) {
            Ok(policy) => self.build_with(policy),
            Err(e) => {
                tracing::warn!("ignoring the allowed hosts: {e}");
                self.build_with(HostPolicy::default())
            }
        }
    }

    /// Like [`Server::build`], failing on an allowed host that is not a host name.
    pub fn try_build(self) -> Result<Built, ServeError> {
        let policy = HostPolicy::new(&self.options.allowed_hosts).map_err(ServeError::Config)?;
        Ok(self.build_with(policy))
    }

    fn build_with(self, policy: HostPolicy) -> Built {
        let v1 = if self.options.api {
            OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(v1::PREFIX, v1::routes())
        } else {
            OpenApiRouter::with_openapi(ApiDoc::openapi())
        };
        let (api, mut doc) = v1.split_for_parts();
        let mut extra = Vec::new();
        #[allow(unused_mut)]
        let mut extensions = self.extensions;
        #[cfg(feature = "oidc")]
        if let Some(sso) = self.options.sso.clone() {
            extensions.push(crate::oidc::routes(sso));
        }
        for ext in extensions {
            let (router, paths) = ext.split_for_parts();
            doc.merge(paths);
            extra.push(router);
        }
        let mut mcp_read_only = std::collections::HashMap::new();
        let bulk_journal = self.options.bulk_journal.clone().unwrap_or_else(|| {
            std::sync::Arc::new(devlog_core::bulk::MemoryJournal::default())
                as std::sync::Arc<dyn devlog_core::bulk::BulkJournal>
        });
        let mcp = self.options.mcp.then(|| {
            let server = DevlogMcp::new(
                self.app.clone(),
                devlog_mcp::Options {
                    actor: self.options.actor.clone(),
                    integrations: self.options.integrations.clone(),
                    repositories: self.options.repositories.clone(),
                    sync: self.options.sync.clone(),
                    sync_error: self.options.sync_error.clone(),
                    worklog_suggester: self.options.worklog_suggester.clone(),
                    bulk_journal: Some(bulk_journal.clone()),
                    workflows: self.options.workflows.clone(),
                },
            );
            document_mcp(&mut doc);
            // Which tools a viewer may call (`auth`): those marked read-only.
            for t in server.tools() {
                let read_only = t.annotations.as_ref().and_then(|a| a.read_only_hint);
                mcp_read_only.insert(t.name.to_string(), read_only == Some(true));
            }
            // The guard below checks `Host` and `Origin` for `/mcp` as for every route (with
            // the allowed hosts), so rmcp's own loopback-only check is off.
            http_router_with(
                server,
                HttpOptions {
                    max_sessions: self.options.max_sessions,
                    max_body: self.options.body_limit,
                    hosts: HostCheck::CheckedInFront,
                },
            )
        });
        document_security(&mut doc);
        let json = doc
            .to_json()
            .map(Bytes::from)
            .unwrap_or_else(|e| Bytes::from(format!("{{\"error\": \"{e}\"}}")));
        let auth = crate::auth::Auth::new(
            self.options.auth,
            self.app.store().clone(),
            self.app.clock().clone(),
            self.options.workspace.clone(),
            mcp_read_only,
            self.options.body_limit,
        );
        #[cfg(feature = "oidc")]
        let auth = auth.with_sso(self.options.sso.clone());
        let state = AppState::new(
            self.app,
            self.options.actor,
            self.options.poll_interval,
            self.options.wake.unwrap_or_default(),
            self.options.feed,
            json,
            crate::state::SyncAccess {
                engine: self.options.sync.clone(),
                error: self.options.sync_error.clone(),
                configured: self.options.integrations.clone(),
            },
            bulk_journal.clone(),
        );
        if let Some(suggester) = self.options.worklog_suggester.clone() {
            state.set_worklog_suggester(suggester);
        }
        if let Some(site) = self.options.workflows.clone() {
            state.set_workflows(site);
        }
        if let Some(dir) = self.options.audit_dir.clone() {
            state.set_audit_dir(dir);
        }
        let mut router = api
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(self.options.body_limit))
            .with_state(state.clone());
        #[cfg(feature = "dashboard")]
        if self.options.api {
            router = router.merge(crate::dashboard::routes(state.clone()));
        }
        for r in extra {
            router = router.merge(r);
        }
        let mut sessions = None;
        if let Some((mcp_router, s)) = mcp {
            router = router.merge(mcp_router);
            sessions = Some(s);
        }
        // The guard wraps everything, the fallback included, so no route escapes it; then
        // authentication and roles (`auth`), which see only requests the guard let through.
        let router = router
            .fallback(no_route)
            .layer(axum::middleware::from_fn_with_state(
                auth,
                crate::auth::authenticate,
            ))
            .layer(axum::middleware::from_fn_with_state(policy, guard::guard));
        Built {
            router,
            openapi: doc,
            state,
            mcp: sessions,
        }
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections,
    /// ends the event streams and MCP sessions, and waits for in-flight requests to finish.
    pub async fn serve(
        self,
        listener: Listener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let limits = Limits {
            header_read_timeout: self.options.header_read_timeout,
            max_connections: self.options.max_connections.max(1),
        };
        let built = self.try_build()?;
        let close = built.close_streams();
        let addr = listener.addr;
        accept_loop(listener.inner, built.router, limits, async move {
            shutdown.await;
            tracing::info!(%addr, "shutting down the devlog server");
            close();
        })
        .await;
        Ok(())
    }
}

/// The connection limits of the accept loop.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_read_timeout: Duration,
    max_connections: usize,
}

/// Accepts connections until `shutdown` completes, serving each with hyper's HTTP/1 builder
/// (which, unlike `axum::serve`, takes a timer and so enforces the header-read timeout), at
/// most `max_connections` at once; then lets every connection finish its request in flight.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let router = router.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    // The client's address, for the audit log (`extract::Actor`).
                    let router = router.layer(axum::Extension(axum::extract::ConnectInfo(peer)));
                    serve_connection(stream, router, limits, stopped).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(
                    %peer,
                    max = limits.max_connections,
                    "too many open connections; refusing one"
                );
                tokio::spawn(refuse(stream, limits.max_connections));
            }
        }
    }
    drop(listener);
    stop.send_replace(true);
    // Every connection holds a permit until it ends.
    let _all = permits
        .acquire_many(u32::try_from(limits.max_connections).unwrap_or(u32::MAX))
        .await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
) {
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut stopping = *stopped.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            changed = stopped.changed(), if !stopping => {
                if changed.is_err() || *stopped.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Answers a connection over the cap with 503 and closes it, without reading its request
/// beyond what is needed to close cleanly.
async fn refuse(mut stream: tokio::net::TcpStream, max: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::json!({"error": {
        "class": "too-many-connections",
        "message": format!("the server already has {max} open connections"),
        "hint": "close idle connections or try again shortly; `devlog serve --max-connections N` raises the limit",
    }})
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let limit = Duration::from_secs(1);
    let _ = tokio::time::timeout(limit, async {
        // Read what the client already sent, so closing does not reset the connection
        // before it read the answer.
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await;
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        while stream.read(&mut buf).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::no_route(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// The security schemes of the API ([`crate::auth`]): a bearer API token on every route, or
/// the dashboard's single sign-on session cookie (with `X-CSRF-Token` on writes); webhook
/// deliveries need neither (their signature authenticates them).
fn document_security(doc: &mut OpenApi) {
    use utoipa::openapi::security::{
        ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("dlt_<id>_<secret>")
                .description(Some(
                    "An API token (`devlog token create --name NAME --role viewer|editor|admin`), \
                     sent as `Authorization: Bearer dlt_…`. Reads need viewer, writes editor, \
                     the admin paths (tokens, integrations, audit, bulk, purge, export) admin; \
                     401 without valid credentials, 403 naming the role needed. See \
                     docs/security.md.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        COOKIE_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "devlog_session",
            "The dashboard's single sign-on session (OpenID Connect, `[server.oidc]`; sign in \
             at /auth/login), with the same role checks as a token. A write it authenticates \
             must also send the session's CSRF token as `X-CSRF-Token` (403 `csrf` without \
             it). See docs/security.md \"Single sign-on\".",
        ))),
    );
    let either = [
        SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new()),
        SecurityRequirement::new(COOKIE_SCHEME, Vec::<String>::new()),
    ];
    doc.security = Some(either.to_vec());
    // Webhook deliveries: no credentials (`security: [{}]`).
    for (path, item) in doc.paths.paths.iter_mut() {
        if path.starts_with("/webhooks/")
            && let Some(post) = item.post.as_mut()
        {
            post.security = Some(vec![SecurityRequirement::default()]);
        }
    }
}

/// The OpenAPI name of the bearer token scheme.
pub const BEARER_SCHEME: &str = "bearerToken";
/// The OpenAPI name of the session cookie scheme.
pub const COOKIE_SCHEME: &str = "sessionCookie";

/// Adds the MCP endpoint to the document, so it describes every route of the server.
fn document_mcp(doc: &mut OpenApi) {
    let op = |summary: &str| {
        OperationBuilder::new()
            .tag("mcp")
            .summary(Some(summary))
            .description(Some(
                "The Model Context Protocol over streamable HTTP (JSON-RPC). Use an MCP client; \
                 the tools, resources and prompts are described in docs/mcp.md.",
            ))
            .response(
                "200",
                ResponseBuilder::new().description("An MCP response (JSON or an event stream)"),
            )
            .build()
    };
    doc.paths
        .add_path_operation(MCP_PATH, vec![HttpMethod::Post], op("Send MCP messages"));
    doc.paths.add_path_operation(
        MCP_PATH,
        vec![HttpMethod::Get],
        op("Open the MCP server's event stream"),
    );
    doc.paths
        .add_path_operation(MCP_PATH, vec![HttpMethod::Delete], op("End an MCP session"));
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve on {0}: it is not a loopback address and no authentication is \
         configured (the store holds no active API token), so anyone who can reach the port could \
         read and change every entry; create a token with `devlog token create --name NAME \
         --role viewer|editor|admin` (every request then needs one: `[server] auth`, \
         docs/security.md), or bind 127.0.0.1 or ::1 (reach it through an SSH tunnel or a \
         reverse proxy), or pass --insecure-no-auth on a network you trust"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server stopped with an error: {0}")]
    Run(#[source] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Fails unless `addr` is a loopback address: the only kind served without authentication
/// (see [`Listener::bind_checked`] for the others).
/// (The rule and the binding are devlog-mcp's, shared so both servers refuse the same way.)
pub fn check_loopback(addr: SocketAddr) -> Result<(), ServeError> {
    devlog_mcp::check_loopback(addr).map_err(|_| ServeError::NotLoopback(addr))
}

/// A bound loopback listener; callers learn the real port (when they asked for port 0) before
/// serving.
#[derive(Debug)]
pub struct Listener {
    inner: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `addr` under the bind policy: a loopback address always; any other only when
    /// `mode` is [`AuthMode::Disabled`](crate::auth::AuthMode) (`--insecure-no-auth`, whose
    /// caller warns loudly) or the store holds an active API token (so every request will
    /// need one, [`crate::auth`]). Otherwise [`ServeError::NotLoopback`], which names the
    /// ways out.
    pub async fn bind_checked(
        addr: SocketAddr,
        store: &dyn devlog_core::Store,
        mode: crate::auth::AuthMode,
        now: devlog_core::Timestamp,
    ) -> Result<Self, ServeError> {
        Self::bind_checked_with(addr, store, mode, now, false).await
    }

    /// [`Listener::bind_checked`], where `sso`: single sign-on is configured, which makes
    /// every request need credentials (a session or a token), so any address is allowed.
    pub async fn bind_checked_with(
        addr: SocketAddr,
        store: &dyn devlog_core::Store,
        mode: crate::auth::AuthMode,
        now: devlog_core::Timestamp,
        sso: bool,
    ) -> Result<Self, ServeError> {
        if check_loopback(addr).is_ok() {
            return Self::bind(addr).await;
        }
        let allowed = match mode {
            crate::auth::AuthMode::Disabled => true,
            _ if sso => true,
            crate::auth::AuthMode::Auto | crate::auth::AuthMode::Required => match store.tokens() {
                None => false,
                Some(t) => t
                    .list_tokens()
                    .await
                    .map_err(|e| ServeError::Config(format!("cannot read the API tokens: {e}")))?
                    .iter()
                    .any(|t| t.is_active(now)),
            },
        };
        if !allowed {
            return Err(ServeError::NotLoopback(addr));
        }
        let inner = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = inner
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self { inner, addr })
    }

    /// Binds `addr`, which must be a loopback address.
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServeError> {
        let bound = devlog_mcp::HttpListener::bind(addr)
            .await
            .map_err(|e| match e {
                devlog_mcp::ServeError::NotLoopback(a) => ServeError::NotLoopback(a),
                devlog_mcp::ServeError::Bind { addr, source } => ServeError::Bind { addr, source },
                other => ServeError::Run(std::io::Error::other(other.to_string())),
            })?;
        let addr = bound.local_addr();
        Ok(Self {
            inner: bound.into_tcp(),
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_served() {
        assert!(check_loopback("127.0.0.1:7878".parse().unwrap()).is_ok());
        assert!(check_loopback("127.3.2.1:7878".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:7878".parse().unwrap()).is_ok());
        for addr in ["0.0.0.0:7878", "[::]:7878", "192.168.1.5:80", "10.0.0.1:1"] {
            let err = check_loopback(addr.parse().unwrap()).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("not a loopback address") && msg.contains("no authentication"),
                "{msg}"
            );
        }
    }
}
