//! devlog's HTTP server (`devlog serve`): the REST API under `/api/v1`, the change feed as
//! server-sent events, the OpenAPI document of the API, and the MCP streamable-HTTP endpoint
//! at `/mcp`, and the web dashboard at `/` (feature `dashboard`), on one port: loopback, or
//! any address once API tokens are configured (`auth`).
//!
//! API boundary: the only crate that knows HTTP. Handlers call the use cases in
//! `devlog_core::ops` and the `Store` port; they never touch files or the environment. Every
//! failure is mapped once, in [`error`], to a status and a JSON body. Other crates add routes
//! through [`Server::with_routes`] (the extension point for webhook receivers).

pub mod api;
pub mod auth;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod error;
pub mod etag;
pub mod extract;
pub mod feed;
pub mod guard;
#[cfg(feature = "oidc")]
pub mod oidc;
mod server;
pub mod state;
pub mod webhooks;

pub use devlog_mcp::sessions::DEFAULT_MAX_SESSIONS;

/// Whether this build serves the web dashboard at `/` (feature `dashboard`).
pub const DASHBOARD: bool = cfg!(feature = "dashboard");
pub use error::ApiError;
pub use server::{
    Built, DEFAULT_BODY_LIMIT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Listener,
    MCP_PATH, ServeError, Server, ServerOptions, check_loopback, shutdown_signal,
};
