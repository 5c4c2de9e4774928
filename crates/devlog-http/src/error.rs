//! Classified HTTP errors, so the sync queue decides retry or dead-letter without string matching.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::limits::RateSignals;

/// Which request failed: method, path (query values redacted, see [`crate::redact`]) and the
/// status when a response arrived. Never holds headers, tokens or query values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub method: Method,
    /// The URL path with query keys kept and their values replaced by `*`.
    pub path: String,
    /// `None` when no response arrived (timeout, connection error, or paused locally).
    pub status: Option<StatusCode>,
}

impl RequestContext {
    pub fn new(method: Method, path: impl Into<String>, status: Option<StatusCode>) -> Self {
        Self {
            method,
            path: path.into(),
            status,
        }
    }
}

impl fmt::Display for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        match self.status {
            Some(s) => write!(f, " -> {}", s.as_u16()),
            None => f.write_str(" -> no response"),
        }
    }
}

/// The class of an [`HttpError`]; what the sync engine maps to retry, dead-letter or conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpErrorKind {
    RateLimited,
    Transient,
    Auth,
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
    Decode,
    Build,
}

/// Why a request failed without a usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransientCause {
    /// Connect or request timeout.
    Timeout,
    /// Could not connect (refused, DNS, TLS handshake).
    Connect,
    /// The connection broke while sending or before/while the response arrived.
    Connection,
    /// 5xx or 408 from the server.
    Server,
}

impl fmt::Display for TransientCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransientCause::Timeout => "timed out",
            TransientCause::Connect => "could not connect",
            TransientCause::Connection => "connection failed",
            TransientCause::Server => "server error",
        })
    }
}

/// A failed HTTP exchange, classified. `Display` and `Debug` never contain credentials or query
/// values: only the method, the redacted path, the status and the server's own message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The remote (or this client's own budget, when `status` is `None`) asks us to wait.
    #[error("{request}: rate limited{}", after(retry_after))]
    RateLimited {
        request: RequestContext,
        retry_after: Option<Duration>,
    },
    /// Worth retrying later: timeouts, connection errors, 5xx, 408.
    #[error("{request}: {cause}{}", detail(message))]
    Transient {
        request: RequestContext,
        cause: TransientCause,
        message: String,
    },
    /// 401: the credentials are missing, wrong or expired.
    #[error("{request}: authentication failed; check the token{}", detail(message))]
    Auth {
        request: RequestContext,
        message: String,
    },
    /// 403 without rate-limit signals: the credentials lack a permission.
    #[error("{request}: forbidden{}", detail(message))]
    Forbidden {
        request: RequestContext,
        message: String,
    },
    /// 404 (or 410): the resource does not exist (or is not visible to these credentials).
    #[error("{request}: not found{}", detail(message))]
    NotFound {
        request: RequestContext,
        message: String,
    },
    /// 409 or 412: the remote changed since we read it (or the operation clashes with its state).
    #[error("{request}: conflict{}", detail(message))]
    Conflict {
        request: RequestContext,
        message: String,
    },
    /// Any other 4xx: the request is wrong; retrying it unchanged will not help.
    #[error("{request}: rejected{}", detail(message))]
    Invalid {
        request: RequestContext,
        message: String,
    },
    /// A successful response whose body is not what the caller expected.
    #[error("{request}: unexpected response body: {message}")]
    Decode {
        request: RequestContext,
        message: String,
    },
    /// The request could not be built (bad URL, a URL on another host, a bad header value,
    /// invalid client options). Nothing was sent.
    #[error("{request}: {message}")]
    Build {
        request: RequestContext,
        message: String,
    },
}

fn after(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!("; retry after {}", crate::limits::human(*d)),
        None => String::new(),
    }
}

fn detail(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {m}")
    }
}

impl HttpError {
    pub fn kind(&self) -> HttpErrorKind {
        match self {
            HttpError::RateLimited { .. } => HttpErrorKind::RateLimited,
            HttpError::Transient { .. } => HttpErrorKind::Transient,
            HttpError::Auth { .. } => HttpErrorKind::Auth,
            HttpError::Forbidden { .. } => HttpErrorKind::Forbidden,
            HttpError::NotFound { .. } => HttpErrorKind::NotFound,
            HttpError::Conflict { .. } => HttpErrorKind::Conflict,
            HttpError::Invalid { .. } => HttpErrorKind::Invalid,
            HttpError::Decode { .. } => HttpErrorKind::Decode,
            HttpError::Build { .. } => HttpErrorKind::Build,
        }
    }

    /// True when the same request may succeed later unchanged (rate limits and transient
    /// failures). Everything else needs a change (credentials, data, a merge) first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            HttpError::RateLimited { .. } | HttpError::Transient { .. }
        )
    }

    /// How long the remote asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn request(&self) -> &RequestContext {
        match self {
            HttpError::RateLimited { request, .. }
            | HttpError::Transient { request, .. }
            | HttpError::Auth { request, .. }
            | HttpError::Forbidden { request, .. }
            | HttpError::NotFound { request, .. }
            | HttpError::Conflict { request, .. }
            | HttpError::Invalid { request, .. }
            | HttpError::Decode { request, .. }
            | HttpError::Build { request, .. } => request,
        }
    }

    /// Replaces every occurrence of `secrets` in the error's server message with `[REDACTED]`.
    pub fn scrub(mut self, secrets: &[&str]) -> Self {
        let message = match &mut self {
            HttpError::Transient { message, .. }
            | HttpError::Auth { message, .. }
            | HttpError::Forbidden { message, .. }
            | HttpError::NotFound { message, .. }
            | HttpError::Conflict { message, .. }
            | HttpError::Invalid { message, .. }
            | HttpError::Decode { message, .. }
            | HttpError::Build { message, .. } => message,
            HttpError::RateLimited { .. } => return self,
        };
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            if message.contains(s) {
                *message = message.replace(s, "[REDACTED]");
            }
        }
        self
    }

    /// The HTTP status, when a response arrived.
    pub fn status(&self) -> Option<StatusCode> {
        self.request().status
    }
}

/// Longest server message kept in an error (bodies can be whole HTML pages).
const MAX_MESSAGE: usize = 300;

/// Classifies a response: `Ok(())` for 1xx–3xx, the matching [`HttpError`] otherwise.
///
/// `signals` are the rate-limit headers of this response (see [`RateSignals::parse`]); they
/// turn a 403 into `RateLimited` when it carries GitHub's primary or secondary limit signals,
/// and a 503 with `Retry-After` into `RateLimited`. `pause` is how long the client's budget
/// now waits because of this response ([`RateSignals::pause`]); it becomes `retry_after`.
pub fn classify(
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &[u8],
    signals: &RateSignals,
    pause: Option<Duration>,
) -> Result<(), HttpError> {
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(());
    }
    let request = RequestContext::new(method.clone(), path, Some(status));
    let message = server_message(body);
    let code = status.as_u16();
    Err(match code {
        429 => HttpError::RateLimited {
            request,
            retry_after: pause,
        },
        503 if signals.retry_after.is_some() => HttpError::RateLimited {
            request,
            retry_after: pause,
        },
        403 if signals.is_rate_limit_403() => HttpError::RateLimited {
            request,
            retry_after: pause,
        },
        401 => HttpError::Auth { request, message },
        403 => HttpError::Forbidden { request, message },
        404 | 410 => HttpError::NotFound { request, message },
        409 | 412 => HttpError::Conflict { request, message },
        408 => HttpError::Transient {
            request,
            cause: TransientCause::Timeout,
            message,
        },
        _ if status.is_server_error() => HttpError::Transient {
            request,
            cause: TransientCause::Server,
            message,
        },
        _ => HttpError::Invalid { request, message },
    })
}

/// The human message in an error body: GitHub and Azure DevOps `message` (plus GitHub's
/// `errors[].message`), Jira `errorMessages[]` and `errors{}`; else the start of a text body.
pub fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        if text.starts_with('<') {
            // An HTML error page from a proxy or load balancer says nothing useful.
            return String::new();
        }
        return truncate(text);
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = json.get("message").and_then(|m| m.as_str()) {
        parts.push(m.to_string());
    }
    if let Some(errs) = json.get("errors") {
        match errs {
            // GitHub: [{"resource":"Issue","field":"title","code":"missing_field","message":..}]
            serde_json::Value::Array(items) => {
                for item in items {
                    if let Some(m) = item.get("message").and_then(|m| m.as_str()) {
                        parts.push(m.to_string());
                    } else if let (Some(f), Some(c)) = (
                        item.get("field").and_then(|v| v.as_str()),
                        item.get("code").and_then(|v| v.as_str()),
                    ) {
                        parts.push(format!("{f}: {c}"));
                    }
                }
            }
            // Jira: {"summary": "You must specify a summary of the issue."}
            serde_json::Value::Object(map) => {
                for (field, m) in map {
                    if let Some(m) = m.as_str() {
                        parts.push(format!("{field}: {m}"));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(items) = json.get("errorMessages").and_then(|m| m.as_array()) {
        parts.extend(items.iter().filter_map(|m| m.as_str()).map(str::to_string));
    }
    if parts.is_empty()
        && let Some(m) = json.get("error").and_then(|m| m.as_str())
    {
        parts.push(m.to_string());
    }
    truncate(&parts.join("; "))
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_MESSAGE).collect();
    out.push('…');
    out
}

/// Maps a transport failure (no HTTP response) to a `Transient` error. The reqwest error's URL
/// (which may carry query values) is dropped before its text is kept.
pub(crate) fn transport_error(request: RequestContext, err: reqwest::Error) -> HttpError {
    let cause = if err.is_timeout() {
        TransientCause::Timeout
    } else if err.is_connect() {
        TransientCause::Connect
    } else {
        TransientCause::Connection
    };
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    HttpError::Transient {
        request,
        cause,
        message: truncate(&message),
    }
}

/// A header value as text, when present and valid.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::SystemTime;

    fn outcome(status: u16, headers: &[(&'static str, &str)], body: &str) -> Result<(), HttpError> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        let status = StatusCode::from_u16(status).unwrap();
        let signals = RateSignals::parse(status, &h, body.as_bytes(), SystemTime::now());
        let pause = signals
            .pause(status, Duration::from_secs(60))
            .map(|p| p.duration);
        classify(
            &Method::POST,
            "/repos/o/r/issues",
            status,
            body.as_bytes(),
            &signals,
            pause,
        )
    }

    fn kind(status: u16, headers: &[(&'static str, &str)], body: &str) -> Option<HttpErrorKind> {
        outcome(status, headers, body).err().map(|e| e.kind())
    }

    #[test]
    fn statuses_map_to_kinds() {
        use HttpErrorKind::*;
        type Case<'a> = (
            u16,
            &'a [(&'static str, &'a str)],
            &'a str,
            Option<HttpErrorKind>,
        );
        let table: &[Case] = &[
            (200, &[], "", None),
            (201, &[], "", None),
            (304, &[], "", None),
            (401, &[], r#"{"message":"Bad credentials"}"#, Some(Auth)),
            (
                403,
                &[],
                r#"{"message":"Must have admin rights"}"#,
                Some(Forbidden),
            ),
            (403, &[("retry-after", "60")], "", Some(RateLimited)),
            (
                403,
                &[("x-ratelimit-remaining", "0")],
                "",
                Some(RateLimited),
            ),
            (
                403,
                &[],
                r#"{"message":"You have exceeded a secondary rate limit"}"#,
                Some(RateLimited),
            ),
            (404, &[], "", Some(NotFound)),
            (410, &[], "", Some(NotFound)),
            (409, &[], "", Some(Conflict)),
            (412, &[], "", Some(Conflict)),
            (400, &[], "", Some(Invalid)),
            (422, &[], "", Some(Invalid)),
            (408, &[], "", Some(Transient)),
            (429, &[], "", Some(RateLimited)),
            (500, &[], "", Some(Transient)),
            (502, &[], "<html>bad gateway</html>", Some(Transient)),
            (503, &[], "", Some(Transient)),
            (503, &[("retry-after", "5")], "", Some(RateLimited)),
            (504, &[], "", Some(Transient)),
        ];
        for (status, headers, body, expected) in table {
            assert_eq!(
                kind(*status, headers, body),
                *expected,
                "{status} {headers:?} {body}"
            );
        }
    }

    #[test]
    fn retryable_errors_say_when() {
        let limited = outcome(429, &[("retry-after", "30")], "").unwrap_err();
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(30)));
        // GitHub's secondary limit without a time: the default minute.
        let secondary = outcome(403, &[], r#"{"message":"secondary rate limit"}"#).unwrap_err();
        assert_eq!(secondary.retry_after(), Some(Duration::from_secs(60)));

        let transient = outcome(502, &[], "").unwrap_err();
        assert!(transient.is_retryable());
        assert_eq!(transient.retry_after(), None);

        for permanent in [401, 403, 404, 409, 412, 422] {
            let e = outcome(permanent, &[], "").unwrap_err();
            assert!(!e.is_retryable(), "{permanent}");
            assert_eq!(e.retry_after(), None, "{permanent}");
        }
    }

    #[test]
    fn errors_carry_method_path_status_and_the_servers_message() {
        let e = outcome(
            422,
            &[],
            r#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.request().method, Method::POST);
        assert_eq!(e.request().path, "/repos/o/r/issues");
        assert_eq!(e.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
        assert_eq!(
            e.to_string(),
            "POST /repos/o/r/issues -> 422: rejected: Validation Failed; title: missing_field"
        );
        let forbidden = outcome(
            403,
            &[],
            r#"{"message":"Resource not accessible by integration"}"#,
        )
        .unwrap_err();
        assert_eq!(
            forbidden.to_string(),
            "POST /repos/o/r/issues -> 403: forbidden: Resource not accessible by integration"
        );
        let limited = outcome(429, &[("retry-after", "90")], "").unwrap_err();
        assert_eq!(
            limited.to_string(),
            "POST /repos/o/r/issues -> 429: rate limited; retry after 1m 30s"
        );
    }

    #[test]
    fn server_messages_of_each_system() {
        // Jira
        assert_eq!(
            server_message(
                br#"{"errorMessages":["Issue does not exist"],"errors":{"summary":"You must specify a summary."}}"#
            ),
            "summary: You must specify a summary.; Issue does not exist"
        );
        // Azure DevOps
        assert_eq!(
            server_message(
                br#"{"$id":"1","innerException":null,"message":"TF401232: Work item 7 does not exist.","typeName":"x","errorCode":0}"#
            ),
            "TF401232: Work item 7 does not exist."
        );
        // OAuth-style
        assert_eq!(
            server_message(br#"{"error":"invalid_token"}"#),
            "invalid_token"
        );
        // Plain text is kept, HTML pages are not, long text is cut.
        assert_eq!(server_message(b"upstream timed out"), "upstream timed out");
        assert_eq!(server_message(b"<html><body>502</body></html>"), "");
        assert_eq!(server_message(b""), "");
        let long = "x".repeat(1000);
        assert_eq!(
            server_message(long.as_bytes()).chars().count(),
            MAX_MESSAGE + 1
        );
    }

    #[test]
    fn a_request_context_without_a_response_says_so() {
        let c = RequestContext::new(Method::GET, "/x?since=*", None);
        assert_eq!(c.to_string(), "GET /x?since=* -> no response");
    }
}
