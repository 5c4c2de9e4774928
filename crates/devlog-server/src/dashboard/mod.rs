//! The web dashboard `devlog serve` shows at `/` (feature `dashboard`, on by default):
//! server-rendered pages from minijinja templates, one stylesheet and one script embedded in
//! the binary, charts drawn as SVG on the server. See docs/dashboard.md.
//!
//! - Reads call the same use cases as the REST API (`Store::list`, `search`, `stats`,
//!   `Devlog::history`, `relations`), one page of entries per request.
//! - Writes are not made here: the forms and the board send JSON to the REST API with
//!   `fetch` (assets/dashboard.js), so the guard's rule that every POST is JSON-typed holds
//!   without an exception for HTML forms (no CSRF surface), and validation errors are the
//!   API's own messages.
//! - Live updates: the script listens to `/api/v1/events/stream` (SSE) and reloads the page's `<main>`
//!   after a change (by the CLI, MCP, another browser or a sync).
//! - With single sign-on, the header shows who is signed in and a sign-out button (a form
//!   carrying the session's CSRF token); the page's `<meta name="csrf-token">` gives the
//!   script the token it sends as `X-CSRF-Token` with every change (see [`crate::auth`]).
//! - Every page carries a CSP without inline script or style, `frame-ancestors 'none'`,
//!   `X-Frame-Options: DENY` and `nosniff` ([`security_headers`]).

mod charts;
pub mod markdown;
mod pages;
mod reports;
mod sync;
mod workflows;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// The stylesheet, script and icon, embedded in the binary.
#[derive(rust_embed::Embed)]
#[folder = "src/dashboard/assets/"]
struct Assets;

/// Where the assets are served.
pub const ASSETS: &str = "/assets";

/// The dashboard's routes (all `GET`), with their security headers.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/entries", get(pages::list))
        .route("/entries/new", get(pages::new_form))
        .route("/entries/{reference}", get(pages::entry))
        .route("/entries/{reference}/edit", get(pages::edit_form))
        .route("/board", get(pages::board))
        .route("/reports", get(reports::index))
        .route("/reports/{name}", get(reports::report))
        .route("/sync", get(sync::page))
        .route("/workflows", get(workflows::page))
        .route("/workflows/runs/{id}", get(workflows::run))
        .route("/assets/{file}", get(asset))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(signed_in))
        .with_state(state)
}

/// The Content-Security-Policy of every dashboard response: only this server's own script,
/// styles and images; no inline script or style; no framing; forms and `<base>` pinned.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; font-src 'self'; base-uri 'none'; \
                       form-action 'self'; frame-ancestors 'none'";

tokio::task_local! {
    /// Who is signed in (single sign-on), for the page header and the CSRF token the script
    /// sends with changes; set for the handling of each dashboard request.
    pub(crate) static SIGNED_IN: Option<crate::auth::SignedIn>;
}

/// Makes the request's [`crate::auth::SignedIn`] (if any) visible to the templates.
async fn signed_in(req: Request, next: Next) -> Response {
    let s = req.extensions().get::<crate::auth::SignedIn>().cloned();
    SIGNED_IN.scope(s, next.run(req)).await
}

/// Adds the security headers to every dashboard response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(content) = Assets::get(&file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let kind = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // Assets change with the binary; the page links them with the version.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        content.data,
    )
        .into_response()
}
