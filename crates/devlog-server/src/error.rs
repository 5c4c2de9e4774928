//! HTTP errors: every failure becomes a status and one JSON body, mapped here once.
//!
//! The body is the same shape the CLI prints with `--json`:
//! `{"error": {"class": "not-found", "message": "...", "hint": "..." | null}}`.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use devlog_core::{ErrorKind, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// A failed request: status, class, message and what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {class}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub class: &'static str,
    pub message: String,
    pub hint: Option<String>,
    /// Extra response headers (`ETag` on 412, `Retry-After` on 503, `Allow` on 405).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, kebab-case error class: `not-found`, `ambiguous`, `conflict`, `invalid`,
    /// `bad-request`, `precondition-failed`, `payload-too-large`, `unsupported-media-type`,
    /// `no-route`, `method-not-allowed`, `forbidden`, `too-many-connections`, `corrupt`,
    /// `storage-error`, `unavailable`.
    #[schema(example = "not-found")]
    pub class: String,
    /// What happened, for humans.
    pub message: String,
    /// What to do about it, when there is something to do.
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, class: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            class,
            message: message.into(),
            hint: None,
            headers: Vec::new(),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A malformed request: bad JSON syntax, a bad query parameter or header.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    /// Well-formed input with wrong content: an unknown field or enum value, a wrong type.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// `If-Match` named a version of the entry that is no longer current.
    pub fn precondition_failed(current: &str) -> Self {
        let mut e = Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            format!("the entry changed since you read it: If-Match does not match its current ETag {current}"),
        )
        .with_hint("GET the entry again, re-apply your change and send its new ETag in If-Match");
        if let Ok(v) = HeaderValue::from_str(current) {
            e = e.with_header(header::ETAG, v);
        }
        e
    }

    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "no-route",
            format!("no such endpoint: {path}"),
        )
        .with_hint("the API lives under /api/v1; GET /api/v1/openapi.json lists every endpoint")
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!("{path} does not accept {method}"),
        )
        .with_hint("GET /api/v1/openapi.json lists the methods of every endpoint")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e.kind() {
            ErrorKind::NotFound => Self::new(StatusCode::NOT_FOUND, "not-found", message)
                .with_hint(
                    "GET /api/v1/entries lists handles; GET /api/v1/search?q=WORDS finds entries by text",
                ),
            ErrorKind::Ambiguous => Self::new(StatusCode::CONFLICT, "ambiguous", message)
                .with_hint("use the handle (42) or the full id"),
            ErrorKind::Conflict => Self::new(StatusCode::CONFLICT, "conflict", message)
                .with_hint("someone else changed the data at the same time; send the request again"),
            ErrorKind::Invalid => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
            ErrorKind::Corrupt => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt", message).with_hint(
                    "stored data is damaged and was left untouched; fix the named file or row by hand",
                )
            }
            ErrorKind::Denied => Self::new(StatusCode::FORBIDDEN, "denied", message)
                .with_hint("the storage is read-only for the server's user; reads still work"),
            // Only what may work later is 503: a database error that is not transient (a
            // refused statement, missing permissions) will fail the same way again.
            ErrorKind::Unavailable
                if matches!(
                    e,
                    StoreError::Backend {
                        transient: false,
                        ..
                    }
                ) =>
            {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage-error", message).with_hint(
                    "the database refused the operation; the server's log has the details",
                )
            }
            ErrorKind::Unavailable => {
                let transient = matches!(e, StoreError::Backend { transient: true, .. });
                let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
                    .with_hint("the storage is busy or unreachable; try again");
                if transient {
                    err = err.with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                err
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, class = self.class, "{}", self.message);
        } else {
            tracing::debug!(status = %self.status, class = self.class, "{}", self.message);
        }
        let body = ErrorBody {
            error: ErrorDetail {
                class: self.class.to_string(),
                message: self.message,
                hint: self.hint,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devlog_core::EntryId;

    #[test]
    fn store_errors_map_to_statuses_once() {
        let cases: Vec<(StoreError, StatusCode, &str)> = vec![
            (
                StoreError::not_found("#9"),
                StatusCode::NOT_FOUND,
                "not-found",
            ),
            (
                StoreError::Ambiguous {
                    reference: "ab".into(),
                    candidates: Vec::new(),
                },
                StatusCode::CONFLICT,
                "ambiguous",
            ),
            (
                StoreError::Conflict {
                    id: EntryId::new_random(),
                    message: "busy".into(),
                },
                StatusCode::CONFLICT,
                "conflict",
            ),
            (
                StoreError::invalid("title", "must not be empty"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                StoreError::Corrupt {
                    path: "x.json".into(),
                    message: "bad".into(),
                    hint: "fix".into(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt",
            ),
            (
                StoreError::io("x", std::io::Error::other("disk")),
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            ),
        ];
        for (err, status, class) in cases {
            let api = ApiError::from(err);
            assert_eq!((api.status, api.class), (status, class), "{api}");
        }
    }

    #[test]
    fn only_transient_backend_errors_say_when_to_retry() {
        let transient = ApiError::from(StoreError::Backend {
            backend: "postgres",
            message: "connection reset".into(),
            transient: true,
        });
        assert!(
            transient
                .headers
                .iter()
                .any(|(n, _)| n == header::RETRY_AFTER)
        );
        let permanent = ApiError::from(StoreError::Backend {
            backend: "postgres",
            message: "permission denied".into(),
            transient: false,
        });
        assert!(permanent.headers.is_empty());
    }

    #[test]
    fn only_real_unavailability_is_503() {
        let permanent = ApiError::from(StoreError::Backend {
            backend: "postgres",
            message: "invalid byte sequence for encoding \"UTF8\": 0x00".into(),
            transient: false,
        });
        assert_eq!(
            (permanent.status, permanent.class),
            (StatusCode::INTERNAL_SERVER_ERROR, "storage-error")
        );
        let down = ApiError::from(StoreError::Backend {
            backend: "postgres",
            message: "connection refused".into(),
            transient: true,
        });
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        let invalid = ApiError::from(StoreError::invalid("note", "too large"));
        assert!(invalid.status.is_client_error(), "{invalid}");
    }
}
