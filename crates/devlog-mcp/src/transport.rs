//! Serving the server: over stdio (one client, the process's stdin/stdout) or over streamable
//! HTTP at `/mcp` (loopback only until the server has authentication).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::IntoResponse;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::lines::LineTransport;
use crate::server::DevlogMcp;
use crate::sessions::{CappedSessions, DEFAULT_MAX_SESSIONS};

/// Where the streamable HTTP endpoint lives on the server.
pub const HTTP_PATH: &str = "/mcp";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve MCP on {0}: it is not a loopback address and devlog's MCP endpoint has \
         no authentication yet; use 127.0.0.1:PORT or [::1]:PORT (reach it from elsewhere through \
         an SSH tunnel)"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("MCP session failed to start: {0}")]
    Start(String),
    #[error("MCP server stopped with an error: {0}")]
    Run(String),
}

/// Serves one client over stdin/stdout until it disconnects. Nothing else may write to
/// stdout while this runs: logs go to stderr. Every line the client sends gets an answer (see
/// [`crate::lines`]).
pub async fn serve_stdio(server: DevlogMcp) -> Result<(), ServeError> {
    let (stdin, stdout) = rmcp::transport::stdio();
    serve_lines(server, LineTransport::new(stdin, stdout)).await
}

/// Serves one client over a line transport (stdio, or a byte stream in tests) until it
/// disconnects.
pub async fn serve_lines<R, W>(
    server: DevlogMcp,
    transport: LineTransport<R, W>,
) -> Result<(), ServeError>
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let running = server
        .serve(transport)
        .await
        .map_err(|e| ServeError::Start(e.to_string()))?;
    let reason = running
        .waiting()
        .await
        .map_err(|e| ServeError::Run(e.to_string()))?;
    tracing::info!(?reason, "MCP stdio session ended");
    Ok(())
}

/// Checks that `addr` is a loopback address (the only kind served without authentication).
pub fn check_loopback(addr: SocketAddr) -> Result<(), ServeError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ServeError::NotLoopback(addr))
    }
}

/// A bound HTTP listener, so callers learn the real port (when asked for port 0) before
/// serving.
#[derive(Debug)]
pub struct HttpListener {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    options: HttpOptions,
}

impl HttpListener {
    /// Binds `addr`, which must be a loopback address.
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServeError> {
        check_loopback(addr)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            addr,
            options: HttpOptions::default(),
        })
    }

    /// Keeps at most `max` sessions open, closing the least recently used one to make room
    /// (default [`DEFAULT_MAX_SESSIONS`]).
    pub fn with_max_sessions(mut self, max: usize) -> Self {
        self.options.max_sessions = max;
        self
    }

    /// Sets the largest request body in bytes ([`DEFAULT_MAX_BODY`] by default).
    pub fn with_max_body(mut self, max: usize) -> Self {
        self.options.max_body = max;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL clients connect to.
    pub fn url(&self) -> String {
        format!("http://{}{HTTP_PATH}", self.addr)
    }

    /// The bound socket, for serving another router on it (`devlog serve`).
    pub fn into_tcp(self) -> tokio::net::TcpListener {
        self.listener
    }

    /// Serves streamable HTTP until `shutdown` completes. Each client session gets its own
    /// server value sharing the store.
    pub async fn serve(
        self,
        server: DevlogMcp,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (router, _sessions) = http_router_with(server, self.options);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| ServeError::Run(e.to_string()))
    }
}

/// The largest MCP-over-HTTP request body, in bytes, by default: 4 MiB, the REST API's limit
/// too (`devlog_server::DEFAULT_BODY_LIMIT`). A larger body is answered `413`.
pub const DEFAULT_MAX_BODY: usize = 4 * devlog_core::ops::MAX_TEXT;

/// How the streamable HTTP endpoint serves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Most sessions kept open; a new session beyond them closes the least recently used one.
    pub max_sessions: usize,
    /// Largest request body in bytes; a larger one is answered `413 Payload Too Large`.
    pub max_body: usize,
    /// Which `Host` headers the endpoint itself accepts (DNS-rebinding protection).
    pub hosts: HostCheck,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_body: DEFAULT_MAX_BODY,
            hosts: HostCheck::Loopback,
        }
    }
}

/// Who checks a request's `Host` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCheck {
    /// The endpoint accepts loopback names only (`localhost`, `127.0.0.1`, `::1`): the
    /// standalone server (`devlog mcp --http`).
    Loopback,
    /// The router that mounts the endpoint has already checked `Host` and `Origin` on every
    /// request (`devlog serve`'s guard, which also knows the `--allow-host` names), so the
    /// endpoint checks nothing itself: one policy for every route. Never use it for a router
    /// served without such a guard.
    CheckedInFront,
}

/// The streamable HTTP endpoint as a router serving [`HTTP_PATH`], with the default
/// [`HttpOptions`] (loopback `Host` names only), and the handle that ends its sessions. Each
/// client session gets its own server value sharing the store.
pub fn http_router(server: DevlogMcp) -> (axum::Router, HttpSessions) {
    http_router_with(server, HttpOptions::default())
}

/// [`http_router`] with options, for mounting in a larger axum server (`devlog serve` merges
/// it next to its REST API, behind its guard: [`HostCheck::CheckedInFront`]).
pub fn http_router_with(server: DevlogMcp, options: HttpOptions) -> (axum::Router, HttpSessions) {
    let config =
        StreamableHttpServerConfig::default().with_max_request_body_bytes(options.max_body);
    let config = match options.hosts {
        HostCheck::Loopback => {
            config.with_allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"])
        }
        // rmcp reads an empty list as "any host"; its Origin check is off by default.
        HostCheck::CheckedInFront => config.disable_allowed_hosts(),
    };
    let token = config.cancellation_token.clone();
    let sessions = HttpSessions {
        close: Arc::new(move || token.cancel()),
    };
    let service: StreamableHttpService<DevlogMcp, CappedSessions> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(CappedSessions::new(options.max_sessions)),
        config,
    );
    let max_body = options.max_body;
    let router = axum::Router::new().nest_service(HTTP_PATH, service).layer(
        axum::middleware::map_response(move |res: axum::response::Response| async move {
            too_large_as_json_rpc(res, max_body)
        }),
    );
    (router, sessions)
}

/// rmcp answers a body over the limit with a plain-text `413`; an MCP client reads JSON-RPC
/// errors, so the answer keeps its status and says, as a JSON-RPC error, what the limit is and
/// what to do (the request's id is unknown: the body was not read).
fn too_large_as_json_rpc(
    res: axum::response::Response,
    max_body: usize,
) -> axum::response::Response {
    if res.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return res;
    }
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32600,
            "message": format!(
                "the request body is larger than this server's limit of {max_body} bytes; \
                 keep large content in a file and name the file instead"
            ),
            "data": {"limitBytes": max_body},
        }
    });
    (
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Ends the open sessions of an [`http_router`]: their event streams would otherwise keep a
/// graceful HTTP shutdown waiting.
#[derive(Clone)]
pub struct HttpSessions {
    close: Arc<dyn Fn() + Send + Sync>,
}

impl HttpSessions {
    /// Terminates every session and refuses new requests.
    pub fn close_all(&self) {
        (self.close)();
    }
}

impl std::fmt::Debug for HttpSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSessions").finish_non_exhaustive()
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, for a graceful HTTP shutdown.
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
    tracing::info!("shutting down the MCP HTTP server");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_served() {
        assert!(check_loopback("127.0.0.1:7777".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:7777".parse().unwrap()).is_ok());
        let err = check_loopback("0.0.0.0:7777".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("not a loopback address"), "{err}");
        assert!(check_loopback("192.168.1.5:80".parse().unwrap()).is_err());
    }
}
