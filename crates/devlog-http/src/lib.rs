//! Shared HTTP plumbing for devlog's integrations (GitHub, Jira, Azure DevOps, plugins).
//!
//! One [`HttpClient`] per remote system: it owns that system's rate limits ([`limits`]), its
//! ETag cache ([`etag`]) and its counters ([`metrics`]). A request is sent once and its
//! outcome classified ([`HttpError`]); retrying is the durable sync queue's job, with
//! `devlog_core::backoff` for the waits.
//!
//! API boundary: a library. It never touches the terminal or environment variables (no proxy
//! from the environment either) and never logs or prints headers, tokens or query values.

pub mod client;
pub mod clock;
pub mod error;
pub mod etag;
pub mod limits;
pub mod metrics;
pub mod paginate;
pub mod redact;
pub mod tls;

pub use client::{
    Auth, ClientOptions, ConfigError, HttpClient, RequestBuilder, Response, USER_AGENT,
};
pub use clock::{SystemClock, TokioWallClock, WallClock};
pub use error::{HttpError, HttpErrorKind, RequestContext, TransientCause};
pub use etag::{CacheKey, CachedResponse, EtagStore, MemoryEtagStore};
pub use limits::{Pause, PauseReason, RateLimitConfig, RateLimitState, RateLimiter, RateSignals};
pub use metrics::CounterSnapshot;
pub use paginate::{
    AdoContinuation, JiraOffset, JiraToken, LinkHeader, NextPage, Pages, Paginator,
};
pub use tls::install_crypto_provider;

/// Re-exported so callers name the same types without depending on reqwest themselves.
pub use reqwest::{Method, StatusCode, Url, header};
pub use secrecy::SecretString;
