//! What a web page in the user's browser may not do to the loopback server: every request,
//! on every route (REST, event stream, MCP, webhooks, unknown paths), passes this middleware
//! first.
//!
//! - DNS rebinding: a `Host` that is not a loopback name (`localhost`, `127.x.x.x`, `[::1]`)
//!   or a name the user allowed for a reverse proxy (`devlog serve --allow-host NAME`,
//!   `[server] allowHosts`) is refused with 403. A request without `Host` (HTTP/1.0 tools) is
//!   accepted: browsers always send one.
//! - Cross-site requests: an `Origin` other than the server's own (`http://` + the request's
//!   `Host`) or an allowed host's is refused with 403, and so is `Sec-Fetch-Site: cross-site`
//!   without an `Origin`.
//! - Forms: every `POST`, even one without a body, and a `PUT`, `PATCH` or `DELETE` with a
//!   body must declare a JSON content type (a plain HTML form can only send form or text
//!   types, and any other type makes the browser ask first). Webhooks are exempt: their signature
//!   authenticates them and senders choose their content type; so is the single sign-on
//!   sign-out form (`POST /auth/logout`), which carries the session's CSRF token.
//! - `Sec-Fetch-Site: cross-site` is let through for `GET /auth/…` only: the provider sends the
//!   browser back to `/auth/callback` from its own site.
//! - CORS preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered here: 204
//!   naming the exact origin for an allowed origin, 403 for any other; never a wildcard.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::{content_is_json_headers, unsupported_media_type};

/// The host names (besides loopback ones) requests may be addressed to.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    allowed: Arc<[String]>,
}

/// Checks a host name given to `--allow-host` or `[server] allowHosts`: a DNS name or an IP
/// address, without scheme, port or path. Returns it in lower case.
pub fn parse_allowed_host(name: &str) -> Result<String, String> {
    let n = name.trim().to_ascii_lowercase();
    let bare = n.trim_start_matches('[').trim_end_matches(']');
    let ok = !n.is_empty()
        && (bare.parse::<IpAddr>().is_ok()
            || n.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    if ok {
        Ok(bare.to_string())
    } else {
        Err(format!(
            "`{name}` is not a host name: give the name only, such as devlog.example.com \
             (no scheme, port or path)"
        ))
    }
}

impl HostPolicy {
    /// Loopback names plus `allowed` (checked with [`parse_allowed_host`]).
    pub fn new(allowed: &[String]) -> Result<Self, String> {
        let allowed = allowed
            .iter()
            .map(|h| parse_allowed_host(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            allowed: allowed.into(),
        })
    }

    fn is_allowed_name(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare == "localhost"
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            || self.allowed.iter().any(|a| a == bare)
    }

    /// Whether `origin` may make requests to a server addressed as `host`.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false; // `null` (sandboxed pages, file://) and junk
        };
        if authority.contains('/') || !matches!(scheme, "http" | "https") {
            return false;
        }
        if scheme == "http" && host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
            return true; // same origin
        }
        let name = host_name(authority);
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The name part of `host[:port]` / `[v6]:port`.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => authority,
    }
}

fn forbidden(message: String, hint: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
        .with_hint(hint)
        .into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Headers a browser may send cross-origin to an allowed origin.
const ALLOW_HEADERS: &str = "content-type, if-match, if-none-match, x-devlog-actor, last-event-id, \
                             mcp-session-id, mcp-protocol-version";
const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE";
const EXPOSE_HEADERS: &str = "etag, location, retry-after, mcp-session-id";

/// The middleware (see the module documentation).
pub async fn guard(State(policy): State<HostPolicy>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = match headers.get(header::HOST) {
        None => req.uri().authority().map(|a| a.as_str().to_string()),
        Some(v) => match v.to_str() {
            Ok(h) => Some(h.trim().to_string()),
            Err(_) => return ApiError::bad_request("the Host header is not ASCII").into_response(),
        },
    };
    if let Some(h) = &host
        && !policy.is_allowed_name(host_name(h))
    {
        return forbidden(
            format!(
                "requests addressed to `{h}` are refused: this server answers only to loopback \
                 names (localhost, 127.0.0.1, [::1]) and the names it was told to allow"
            ),
            "behind a reverse proxy, start the server with `devlog serve --allow-host NAME` or \
             list the name in devlog.toml under [server] allowHosts",
        );
    }
    // A non-ASCII Origin is junk and refused below, as an empty one.
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("").trim().to_string());
    if let Some(o) = &origin
        && !policy.origin_allowed(o, host.as_deref())
    {
        return forbidden(
            format!("cross-origin request from `{o}` refused"),
            "only pages served by this server (or by an --allow-host name) may call it; \
             other programs should send no Origin header",
        );
    }
    // Single sign-on's GET routes are reached by navigation from the provider's site (the
    // callback) or from a sign-in link; they change nothing but the sign-in cookies, whose
    // callback checks `state`.
    let sign_in_navigation = req.method() == Method::GET && req.uri().path().starts_with("/auth/");
    if origin.is_none()
        && !sign_in_navigation
        && header_str(headers, header::HeaderName::from_static("sec-fetch-site"))
            == Some("cross-site")
    {
        return forbidden(
            "cross-site request refused (Sec-Fetch-Site: cross-site)".into(),
            "only pages served by this server may call it",
        );
    }
    let preflight = req.method() == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Some(o) = &origin {
            cors_headers(r.headers_mut(), o);
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        return r;
    }
    if needs_json(&req) && !content_is_json_headers(req.headers()) {
        return unsupported_media_type()
            .with_hint(
                "send the header Content-Type: application/json, also on a POST without a body \
                 (this keeps HTML forms on other sites from calling the API)",
            )
            .into_response();
    }
    let mut response = next.run(req).await;
    if let Some(o) = &origin {
        cors_headers(response.headers_mut(), o);
    }
    response
}

fn cors_headers(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
}

/// Writes other than webhook deliveries must declare JSON.
fn needs_json(req: &Request) -> bool {
    // The sign-out form is an HTML form: it carries the session's CSRF token instead.
    if req.uri().path().starts_with("/webhooks/") || req.uri().path() == "/auth/logout" {
        return false;
    }
    let has_body = req.body().size_hint().exact() != Some(0);
    match *req.method() {
        Method::POST => true,
        Method::PUT | Method::PATCH | Method::DELETE => has_body,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_allowed_names_only() {
        let p = HostPolicy::new(&["Devlog.Example.com".into()]).unwrap();
        for ok in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "devlog.example.com",
        ] {
            assert!(p.is_allowed_name(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "0.0.0.0",
            "192.168.1.2",
            "localhost.evil.example",
            "",
        ] {
            assert!(!p.is_allowed_name(bad), "{bad}");
        }
        assert_eq!(host_name("[::1]:7878"), "::1");
        assert_eq!(host_name("localhost:7878"), "localhost");
    }

    #[test]
    fn origins_must_be_this_server_or_an_allowed_host() {
        let p = HostPolicy::new(&["devlog.example.com".into()]).unwrap();
        let host = Some("127.0.0.1:7878");
        assert!(p.origin_allowed("http://127.0.0.1:7878", host));
        assert!(p.origin_allowed("https://devlog.example.com", host));
        assert!(!p.origin_allowed("http://localhost:7878", host));
        assert!(!p.origin_allowed("http://127.0.0.1:3000", host));
        assert!(!p.origin_allowed("https://127.0.0.1:7878", host));
        assert!(!p.origin_allowed("https://evil.example", host));
        assert!(!p.origin_allowed("null", host));
        assert!(!p.origin_allowed("http://127.0.0.1:7878", None));
    }

    #[test]
    fn allowed_hosts_are_names_only() {
        assert_eq!(
            parse_allowed_host(" Devlog.Example ").unwrap(),
            "devlog.example"
        );
        assert_eq!(parse_allowed_host("[::1]").unwrap(), "::1");
        for bad in [
            "https://x.example",
            "x.example:443",
            "x.example/path",
            "",
            "a..b",
        ] {
            let e = parse_allowed_host(bad).unwrap_err();
            assert!(e.contains("no scheme, port or path"), "{e}");
        }
    }
}
