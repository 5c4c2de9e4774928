//! Authentication and roles (issue 20): the middleware behind [`crate::guard`] that decides
//! who every request acts as and whether that role may do what it asks.
//!
//! - Credentials: `Authorization: Bearer dlt_…` (an API token, `devlog token create`), on
//!   every route: REST, the event stream, MCP over HTTP and the dashboard; or, with single
//!   sign-on configured (`[server.oidc]`, [`crate::oidc`]), the dashboard's session cookie,
//!   whose principal passes the same role checks. A write the cookie authenticates must carry
//!   the session's CSRF token (`X-CSRF-Token`); bearer requests need none (a browser never
//!   adds that header by itself). A dashboard page requested without credentials is
//!   redirected to `/auth/login` when single sign-on is configured.
//! - Who needs them ([`AuthMode`]): `auto` (the default) requires them as soon as the store
//!   holds any token or single sign-on is configured — revoked and expired ones count, so revoking the last token never opens
//!   the server — and lets requests without credentials act as the local user while it holds
//!   none (a loopback server used as a local tool, as before); `required` always;
//!   `disabled` (`devlog serve --insecure-no-auth`) never.
//! - What each request needs ([`access`]): `GET` viewer, writes editor, the admin paths
//!   ([`ADMIN_PATHS`]: tokens, integrations, audit, bulk, purge, export) admin; MCP over HTTP
//!   viewer, and editor for a `tools/call` of a tool not marked read-only; webhook deliveries
//!   nothing (their signature authenticates them). 401 with `WWW-Authenticate: Bearer` without
//!   valid credentials, 403 naming the role needed.
//! - The request carries the [`Principal`] on (read with [`Caller`]); [`crate::extract::Actor`]
//!   records a token's name as the actor of its writes, and MCP tools do the same.
//! - A token's last use is recorded at most once a minute ([`TOUCH_EVERY_MS`]), in a spawned
//!   task, so it never delays the request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use devlog_core::Store;
use devlog_core::auth::{Principal, Role, TokenSecret};
use devlog_core::time::Clock;

use crate::error::ApiError;

/// When requests need credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Required once the store holds any token; until then requests act as the local user.
    #[default]
    Auto,
    /// Always required (a server that must never run open, even before its first token).
    Required,
    /// Never checked: every request acts as the local user with every role
    /// (`--insecure-no-auth`, for trusted networks only).
    Disabled,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Auto => "auto",
            AuthMode::Required => "required",
            AuthMode::Disabled => "disabled",
        }
    }
}

impl std::str::FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(AuthMode::Auto),
            "required" => Ok(AuthMode::Required),
            other => Err(format!(
                "`{other}` is not an auth mode; use auto (credentials required once a token \
                 exists) or required (the `--insecure-no-auth` flag turns checks off)"
            )),
        }
    }
}

/// Paths (and everything below them) only an admin may use, whatever the method. Routes added
/// later for these jobs (bulk changes, purge, export, token and integration management, the
/// audit log) are covered by being mounted here; a handler can also check with [`require`].
pub const ADMIN_PATHS: &[&str] = &[
    "/api/v1/tokens",
    "/api/v1/integrations",
    "/api/v1/audit",
    "/api/v1/bulk",
    "/api/v1/purge",
    "/api/v1/export",
];

/// MCP tools only an admin may call over HTTP: the same jobs as [`ADMIN_PATHS`].
pub const ADMIN_MCP_TOOLS: &[&str] = &["bulk_update"];

/// What `devlog serve --insecure-no-auth` prints at start and `/api/v1/health` reports.
pub const INSECURE_WARNING: &str = "authentication is DISABLED (--insecure-no-auth): anyone who \
    can reach this server can read, change and delete every entry; use it only on a network \
    you trust, and prefer API tokens (docs/security.md)";

/// How often at most a token's last use is written.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: webhook deliveries (signed), the dashboard's static assets.
    Public,
    /// At least this role.
    Role(Role),
    /// MCP over HTTP: viewer, or editor for a call of a tool that is not read-only (decided
    /// from the body).
    Mcp,
}

/// What `method path` needs (see the module documentation).
pub fn access(method: &Method, path: &str) -> Access {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if ADMIN_PATHS.iter().any(|p| under(p)) {
        return Access::Role(Role::Admin);
    }
    if under(crate::MCP_PATH) {
        return if *method == Method::POST {
            Access::Mcp
        } else {
            Access::Role(Role::Viewer)
        };
    }
    // `POST /webhooks/{integration}`: the integration checks the delivery's signature.
    // (Its delivery status, `GET …/deliveries/{id}`, is read like any other resource.)
    if *method == Method::POST
        && let Some(rest) = path.strip_prefix("/webhooks/")
        && !rest.is_empty()
        && !rest.contains('/')
    {
        return Access::Public;
    }
    if path.starts_with("/assets/") && matches!(*method, Method::GET | Method::HEAD) {
        return Access::Public;
    }
    // Single sign-on's own routes: signing in needs no credentials, and signing out checks
    // the session's CSRF token itself.
    if path.starts_with("/auth/") {
        return Access::Public;
    }
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => Access::Role(Role::Viewer),
        _ => Access::Role(Role::Editor),
    }
}

/// The authentication state the middleware shares across requests.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

struct Inner {
    mode: AuthMode,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// The workspace this server serves: a token scoped to another is refused.
    workspace: Option<String>,
    /// Set once the store was seen holding a token (tokens are never deleted, so it stays so).
    tokens_seen: AtomicBool,
    /// MCP tools by name: whether each is read-only (its `readOnlyHint`).
    mcp_read_only: HashMap<String, bool>,
    body_limit: usize,
    /// Single sign-on, when `[server.oidc]` is configured.
    #[cfg(feature = "oidc")]
    sso: Option<Arc<crate::oidc::Sso>>,
}

/// Who is signed in to the dashboard (a single sign-on session): request extension the
/// dashboard shows with its sign-out button.
#[derive(Clone, serde::Serialize)]
pub struct SignedIn {
    pub label: String,
    pub role: Role,
    /// The session's CSRF token, which the page's script sends with every change.
    pub csrf: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("label", &self.label)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("mode", &self.0.mode)
            .field("workspace", &self.0.workspace)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(
        mode: AuthMode,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        workspace: Option<String>,
        mcp_read_only: HashMap<String, bool>,
        body_limit: usize,
    ) -> Self {
        Self(Arc::new(Inner {
            mode,
            store,
            clock,
            workspace,
            tokens_seen: AtomicBool::new(false),
            mcp_read_only,
            body_limit,
            #[cfg(feature = "oidc")]
            sso: None,
        }))
    }

    /// With single sign-on (`sso`: the provider, discovered).
    #[cfg(feature = "oidc")]
    pub fn with_sso(self, sso: Option<Arc<crate::oidc::Sso>>) -> Self {
        let Inner {
            mode,
            store,
            clock,
            workspace,
            tokens_seen,
            mcp_read_only,
            body_limit,
            ..
        } = Arc::try_unwrap(self.0).unwrap_or_else(|shared| Inner {
            mode: shared.mode,
            store: shared.store.clone(),
            clock: shared.clock.clone(),
            workspace: shared.workspace.clone(),
            tokens_seen: AtomicBool::new(shared.tokens_seen.load(Ordering::Relaxed)),
            mcp_read_only: shared.mcp_read_only.clone(),
            body_limit: shared.body_limit,
            sso: shared.sso.clone(),
        });
        Self(Arc::new(Inner {
            mode,
            store,
            clock,
            workspace,
            tokens_seen,
            mcp_read_only,
            body_limit,
            sso,
        }))
    }

    fn sso_configured(&self) -> bool {
        #[cfg(feature = "oidc")]
        {
            self.0.sso.is_some()
        }
        #[cfg(not(feature = "oidc"))]
        {
            false
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.0.mode
    }

    /// Whether requests need credentials now.
    pub async fn required(&self) -> Result<bool, ApiError> {
        match self.0.mode {
            AuthMode::Disabled => Ok(false),
            AuthMode::Required => Ok(true),
            AuthMode::Auto => {
                if self.0.tokens_seen.load(Ordering::Relaxed) || self.sso_configured() {
                    return Ok(true);
                }
                let Some(tokens) = self.0.store.tokens() else {
                    return Ok(false);
                };
                let any = tokens.has_tokens().await?;
                if any {
                    self.0.tokens_seen.store(true, Ordering::Relaxed);
                }
                Ok(any)
            }
        }
    }

    /// Who presents `credential` (the `Authorization` header's value).
    async fn verify(&self, credential: &str) -> Result<Principal, ApiError> {
        let Some(bearer) = strip_bearer(credential) else {
            return Err(unauthorized(
                "the Authorization header is not `Bearer <token>`",
            ));
        };
        let (id, secret) = TokenSecret::parse(bearer).map_err(|e| unauthorized(e.to_string()))?;
        let Some(tokens) = self.0.store.tokens() else {
            return Err(unauthorized("this server's store keeps no API tokens"));
        };
        let now = self.0.clock.now();
        let token = tokens
            .get_token(&id)
            .await?
            .ok_or_else(|| unauthorized(devlog_core::auth::Denied::Unknown.to_string()))?;
        token
            .check(&secret, now)
            .map_err(|d| unauthorized(d.to_string()))?;
        if let (Some(scope), Some(here)) = (&token.scope, &self.0.workspace)
            && scope != here
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token `{}` is limited to workspace `{scope}`; this server serves `{here}`",
                    token.name
                ),
            ));
        }
        self.0.tokens_seen.store(true, Ordering::Relaxed);
        if token.last_use_is_stale(now, TOUCH_EVERY_MS) {
            let store = self.0.store.clone();
            let id = token.id.clone();
            tokio::spawn(async move {
                if let Some(t) = store.tokens()
                    && let Err(e) = t.touch_token(&id, now).await
                {
                    tracing::debug!("cannot record the use of token {id}: {e}");
                }
            });
        }
        Ok(Principal::of_token(&token))
    }

    /// The role a `POST /mcp` body needs: admin for [`ADMIN_MCP_TOOLS`], editor when it calls
    /// a tool that is not read-only (or one this server does not know), viewer otherwise. A
    /// batch needs its highest.
    fn mcp_role(&self, body: &[u8]) -> Role {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Role::Viewer; // MCP answers the parse error itself
        };
        let messages = match &v {
            serde_json::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut needed = Role::Viewer;
        for m in messages {
            if m.get("method").and_then(|x| x.as_str()) == Some("tools/call") {
                let name = m
                    .pointer("/params/name")
                    .and_then(|x| x.as_str())
                    .unwrap_or("");
                let role = if ADMIN_MCP_TOOLS.contains(&name) {
                    Role::Admin
                } else if self.0.mcp_read_only.get(name).copied().unwrap_or(false) {
                    Role::Viewer
                } else {
                    Role::Editor
                };
                needed = needed.max(role);
            }
        }
        needed
    }
}

fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// 401 with `WWW-Authenticate: Bearer`. The message never repeats the credential.
pub fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        .with_hint(
            "send `Authorization: Bearer <token>`; an admin creates tokens with `devlog token \
             create --name NAME --role viewer|editor|admin` (docs/security.md)",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"devlog\""),
        )
}

/// 403 naming the role needed and the role held.
pub fn forbidden(principal: &Principal, needed: Role) -> ApiError {
    let who = match principal.kind {
        _ if principal.name.is_empty() => "this caller".to_string(),
        devlog_core::auth::PrincipalKind::Oidc => {
            format!("signed-in user `{}`", principal.name)
        }
        _ => format!("token `{}`", principal.name),
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "this needs the {needed} role; {who} has the {} role",
            principal.role
        ),
    )
    .with_hint(format!(
        "use a token with the {needed} role (`devlog token create --role {needed}`), or ask an \
         administrator to map your single sign-on group to it ([server.oidc.roles])"
    ))
}

/// Fails with 403 unless `principal` has `needed` (for handlers that decide by themselves,
/// such as a bulk change that needs admin only for some selections).
pub fn require(principal: &Principal, needed: Role) -> Result<(), ApiError> {
    if principal.allows(needed) {
        Ok(())
    } else {
        Err(forbidden(principal, needed))
    }
}

/// The principal of the request, as the middleware decided. Handlers take it as an
/// extractor; without the middleware (a router assembled by hand) it is refused with 401.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| unauthorized("the request was not authenticated"))
    }
}

/// The middleware (see the module documentation).
pub async fn authenticate(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    match decide(&auth, req).await {
        Ok(req) => next.run(req).await,
        Err(Refusal::Error(e)) => e.into_response(),
        Err(Refusal::SignIn(to)) => axum::response::Redirect::to(&to).into_response(),
    }
}

enum Refusal {
    Error(ApiError),
    /// A dashboard page without credentials, with single sign-on: go sign in (the URL).
    SignIn(String),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Error(e)
    }
}

/// A dashboard page (not the API, MCP, webhooks, assets or sign-in routes), read by a browser.
fn is_page(method: &Method, path: &str) -> bool {
    *method == Method::GET
        && !["/api/", "/mcp", "/webhooks/", "/assets/", "/auth/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// The session cookie's principal, if single sign-on is configured and the cookie is valid.
fn session_of(auth: &Auth, headers: &axum::http::HeaderMap) -> Option<(Principal, SignedIn)> {
    #[cfg(feature = "oidc")]
    {
        let s = auth.0.sso.as_ref()?.session(headers)?;
        Some((
            s.principal(),
            SignedIn {
                label: s.label.clone(),
                role: s.role,
                csrf: s.csrf.clone(),
            },
        ))
    }
    #[cfg(not(feature = "oidc"))]
    {
        let _ = (auth, headers);
        None
    }
}

async fn decide(auth: &Auth, mut req: Request) -> Result<Request, Refusal> {
    let needed = access(req.method(), req.uri().path());
    if needed == Access::Public {
        return Ok(req);
    }
    let credential = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| unauthorized("the Authorization header is not ASCII"))?
                .to_string(),
        ),
    };
    let session = match credential {
        None if auth.mode() != AuthMode::Disabled => session_of(auth, req.headers()),
        _ => None,
    };
    let principal = match (credential, &session) {
        _ if auth.mode() == AuthMode::Disabled => Principal::local(),
        (Some(c), _) => auth.verify(&c).await?,
        (None, Some((p, signed_in))) => {
            // Cookies ride along on cross-site requests a page makes: a write needs the
            // session's CSRF token too, which only this server's pages know.
            if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
                let presented = req
                    .headers()
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let ok = !presented.is_empty()
                    && subtle_eq(presented.as_bytes(), signed_in.csrf.as_bytes());
                if !ok {
                    return Err(csrf_refused().into());
                }
            }
            p.clone()
        }
        (None, None) if auth.required().await? => {
            if auth.sso_configured() && is_page(req.method(), req.uri().path()) {
                let here = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string();
                let to: String = url_encode(&here);
                return Err(Refusal::SignIn(format!("/auth/login?returnTo={to}")));
            }
            let mut e = unauthorized("this server needs credentials");
            if auth.sso_configured() {
                e = e.with_hint(
                    "send `Authorization: Bearer <token>`, or sign in to the dashboard at \
                     /auth/login (single sign-on)",
                );
            }
            return Err(e.into());
        }
        (None, None) => Principal::local(),
    };
    let role = match needed {
        Access::Public => Role::Viewer,
        Access::Role(r) => r,
        Access::Mcp => {
            let (parts, body) = req.into_parts();
            let bytes = to_bytes(body, auth.0.body_limit).await.map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "the request body is larger than the server accepts",
                )
            })?;
            let role = auth.mcp_role(&bytes);
            req = Request::from_parts(parts, Body::from(bytes));
            role
        }
    };
    require(&principal, role)?;
    if let Some((_, signed_in)) = session {
        req.extensions_mut().insert(signed_in);
    }
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(auth.mode());
    Ok(req)
}

/// Constant-time equality of two byte strings (lengths may differ).
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Equal-length digests compared without early exit.
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// 403 for a cookie-authenticated write without the session's CSRF token.
pub fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "this change was sent with the session cookie but without the session's CSRF token",
    )
    .with_hint(
        "the dashboard sends it for you; other clients send the `X-CSRF-Token` header with \
         the token of the page, or use an API token (`Authorization: Bearer`), which needs none",
    )
}

/// Percent-encodes a path and query for a query parameter.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_route_needs_its_role() {
        let r = |m: Method, p: &str| access(&m, p);
        assert_eq!(
            r(Method::GET, "/api/v1/entries"),
            Access::Role(Role::Viewer)
        );
        assert_eq!(r(Method::GET, "/"), Access::Role(Role::Viewer));
        assert_eq!(
            r(Method::POST, "/api/v1/entries"),
            Access::Role(Role::Editor)
        );
        assert_eq!(
            r(Method::DELETE, "/api/v1/entries/1"),
            Access::Role(Role::Editor)
        );
        assert_eq!(
            r(Method::POST, "/api/v1/sync/conflicts/x/resolve"),
            Access::Role(Role::Editor)
        );
        assert_eq!(r(Method::GET, "/api/v1/audit"), Access::Role(Role::Admin));
        assert_eq!(r(Method::POST, "/api/v1/bulk"), Access::Role(Role::Admin));
        assert_eq!(
            r(Method::GET, "/api/v1/tokens/abc"),
            Access::Role(Role::Admin)
        );
        // A prefix is a path segment, not a string prefix.
        assert_eq!(
            r(Method::GET, "/api/v1/auditors"),
            Access::Role(Role::Viewer)
        );
        assert_eq!(r(Method::POST, "/mcp"), Access::Mcp);
        assert_eq!(r(Method::GET, "/mcp"), Access::Role(Role::Viewer));
        assert_eq!(r(Method::DELETE, "/mcp"), Access::Role(Role::Viewer));
        assert_eq!(r(Method::POST, "/webhooks/github"), Access::Public);
        assert_eq!(
            r(Method::GET, "/webhooks/github/deliveries/1"),
            Access::Role(Role::Viewer)
        );
        assert_eq!(r(Method::GET, "/assets/app.css"), Access::Public);
        assert_eq!(r(Method::GET, "/auth/callback"), Access::Public);
        assert_eq!(r(Method::POST, "/auth/logout"), Access::Public);
        assert!(is_page(&Method::GET, "/entries/1"));
        assert!(!is_page(&Method::GET, "/api/v1/entries"));
        assert!(!is_page(&Method::POST, "/entries"));
        assert_eq!(
            url_encode("/entries?status=open&x=a b"),
            "/entries%3Fstatus%3Dopen%26x%3Da%20b"
        );
        assert!(subtle_eq(b"abc", b"abc") && !subtle_eq(b"abc", b"abd") && !subtle_eq(b"", b"a"));
    }

    #[test]
    fn bearer_credentials_are_recognised_case_insensitively() {
        assert_eq!(strip_bearer("Bearer abc"), Some("abc"));
        assert_eq!(strip_bearer("bearer  abc "), Some("abc"));
        assert_eq!(strip_bearer("Basic abc"), None);
        assert_eq!(strip_bearer("abc"), None);
    }

    #[test]
    fn forbidden_names_the_role_needed_and_held() {
        let p = Principal {
            kind: devlog_core::auth::PrincipalKind::Token,
            name: "ci".into(),
            role: Role::Viewer,
            workspace: None,
        };
        let e = require(&p, Role::Editor).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(
            e.message.contains("needs the editor role") && e.message.contains("`ci`"),
            "{e}"
        );
        assert!(require(&p, Role::Viewer).is_ok());
    }
}
