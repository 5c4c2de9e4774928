//! The client: one per remote system (so its rate limits and ETag cache are that system's),
//! cheap to clone and share. It sends one request per `send` and never retries: the durable
//! sync queue owns retries (`devlog_core::backoff`).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::clock::{SystemClock, WallClock};
use crate::error::{HttpError, RequestContext, classify, transport_error};
use crate::etag::{CACHED_HEADERS, CacheKey, CachedResponse, EtagStore, MemoryEtagStore};
use crate::limits::{RateLimitConfig, RateLimitState, RateLimiter, RateSignals, WouldWait};
use crate::metrics::{CounterSnapshot, Counters};
use crate::redact::display_path;

/// The `User-Agent` every client sends unless told otherwise (GitHub requires one).
pub const USER_AGENT: &str = concat!("devlog/", env!("CARGO_PKG_VERSION"));

/// How a client authenticates. The secret is only exposed to build the header, which is then
/// marked sensitive; `Debug` redacts it.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (GitHub, Jira OAuth, Azure DevOps OAuth).
    Bearer(SecretString),
    /// `Authorization: Basic base64(user:password)` (Jira email + API token, Azure DevOps PAT
    /// with an empty user name).
    Basic {
        username: String,
        password: SecretString,
    },
    /// A complete `Authorization` header value.
    Header(SecretString),
}

impl Auth {
    fn secret(&self) -> &str {
        match self {
            Auth::Bearer(s) | Auth::Header(s) => s.expose_secret(),
            Auth::Basic { password, .. } => password.expose_secret(),
        }
    }

    /// The strings that must never be repeated in an error: the secret, and for a whole
    /// header value (`token abc…`) its last word too. Very short strings are left alone.
    fn needles(&self) -> Vec<&str> {
        let secret = self.secret().trim();
        let mut out = vec![secret];
        if let Auth::Header(_) = self
            && let Some((_, last)) = secret.rsplit_once(' ')
        {
            out.push(last);
        }
        out.retain(|n| n.len() >= 8);
        out
    }
}

/// Everything a client is built from.
#[derive(Clone)]
pub struct ClientOptions {
    /// Name of the remote system in logs and status (`github`, `jira`, `azure-devops`).
    pub system: String,
    /// Every relative path is appended to this URL's path.
    pub base_url: String,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// The whole request, from sending to the last byte of the body.
    pub timeout: Duration,
    /// Sent with every request (e.g. `Accept`, `X-GitHub-Api-Version`). Not for secrets: use
    /// `auth`.
    pub default_headers: HeaderMap,
    pub auth: Option<Auth>,
    /// Whose cache entries these are (an account or app name, never the secret). Default: a
    /// hash of the credentials, or `anonymous`.
    pub identity: Option<String>,
    /// A proxy URL (may hold credentials). `None` means no proxy: the library reads no
    /// environment variables; the binary passes `HTTPS_PROXY` here if it wants to.
    pub proxy: Option<SecretString>,
    pub rate_limits: RateLimitConfig,
    /// Send `If-None-Match` on GETs with a remembered ETag (default on).
    pub conditional_gets: bool,
    /// Where ETags are kept; default a bounded in-memory store.
    pub etag_store: Option<Arc<dyn EtagStore>>,
    pub wall_clock: Arc<dyn WallClock>,
    /// Follow redirects (at most 5; default on). Off for a caller that must not reach any
    /// origin but the one it asked for (devlog-plugin: a plugin's allowed hosts).
    pub follow_redirects: bool,
    /// Mistakes made through the builder methods, reported by [`HttpClient::new`].
    invalid: Vec<String>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("system", &self.system)
            .field("base_url", &self.base_url)
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field(
                "default_headers",
                &self.default_headers.keys().collect::<Vec<_>>(),
            )
            .field("auth", &self.auth)
            .field("identity", &self.identity)
            .field("proxy", &self.proxy.as_ref().map(|_| "[REDACTED]"))
            .field("rate_limits", &self.rate_limits)
            .field("conditional_gets", &self.conditional_gets)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Defaults: `devlog/<version>` user agent, 10 s connect and 30 s request timeouts,
    /// [`RateLimitConfig::default`], conditional GETs on, no auth, no proxy.
    pub fn new(system: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            system: system.into(),
            base_url: base_url.into(),
            user_agent: USER_AGENT.to_string(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            default_headers: HeaderMap::new(),
            auth: None,
            identity: None,
            proxy: None,
            rate_limits: RateLimitConfig::default(),
            conditional_gets: true,
            etag_store: None,
            wall_clock: Arc::new(SystemClock),
            follow_redirects: true,
            invalid: Vec::new(),
        }
    }

    pub fn bearer(mut self, token: SecretString) -> Self {
        self.auth = Some(Auth::Bearer(token));
        self
    }

    pub fn basic(mut self, username: impl Into<String>, password: SecretString) -> Self {
        self.auth = Some(Auth::Basic {
            username: username.into(),
            password,
        });
        self
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.timeout = request;
        self
    }

    /// Adds a default header; an invalid name or value is reported by [`HttpClient::new`].
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.default_headers.insert(n, v);
            }
            _ => self
                .invalid
                .push(format!("default header `{name}` is not valid")),
        }
        self
    }

    pub fn rate_limits(mut self, config: RateLimitConfig) -> Self {
        self.rate_limits = config;
        self
    }

    pub fn etag_store(mut self, store: Arc<dyn EtagStore>) -> Self {
        self.etag_store = Some(store);
        self
    }

    pub fn conditional_gets(mut self, on: bool) -> Self {
        self.conditional_gets = on;
        self
    }

    pub fn wall_clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.wall_clock = clock;
        self
    }

    pub fn proxy(mut self, url: SecretString) -> Self {
        self.proxy = Some(url);
        self
    }

    /// Whether redirects are followed (see [`ClientOptions::follow_redirects`]).
    pub fn follow_redirects(mut self, on: bool) -> Self {
        self.follow_redirects = on;
        self
    }
}

/// The options could not make a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid HTTP client options for {system}: {message}")]
pub struct ConfigError {
    pub system: String,
    pub message: String,
}

/// An HTTP client for one remote system. Clones share the connection pool, limits, ETag
/// cache and counters.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    system: String,
    base: Url,
    http: reqwest::Client,
    auth: Option<Auth>,
    identity: String,
    conditional: bool,
    limiter: RateLimiter,
    etags: Arc<dyn EtagStore>,
    counters: Counters,
    clock: Arc<dyn WallClock>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("system", &self.inner.system)
            .field("base", &self.inner.base.as_str())
            .field("auth", &self.inner.auth)
            .field("identity", &self.inner.identity)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds a client (installing the ring TLS provider first if none is installed).
    pub fn new(options: ClientOptions) -> Result<Self, ConfigError> {
        crate::tls::install_crypto_provider();
        let system = options.system.clone();
        let err = |message: String| ConfigError {
            system: system.clone(),
            message,
        };
        let base = Url::parse(&options.base_url)
            .map_err(|e| err(format!("base URL `{}`: {e}", options.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(err(format!(
                "base URL `{}` must be an http(s) URL",
                options.base_url
            )));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(err(
                "the base URL must not carry credentials; use the auth option".into(),
            ));
        }
        if let Some(problem) = options.invalid.first() {
            return Err(err(problem.clone()));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .default_headers(options.default_headers.clone())
            // The sync queue retries with backoff; a hidden retry here would double-send.
            .retry(reqwest::retry::never())
            // reqwest drops `Authorization` when a redirect leaves the host.
            .redirect(if options.follow_redirects {
                reqwest::redirect::Policy::limited(5)
            } else {
                reqwest::redirect::Policy::none()
            });
        builder = match &options.proxy {
            None => builder.no_proxy(),
            Some(url) => builder.proxy(
                reqwest::Proxy::all(url.expose_secret())
                    .map_err(|_| err("the proxy URL is not valid".into()))?,
            ),
        };
        let http = builder
            .build()
            .map_err(|e| err(format!("building the HTTP client: {}", e.without_url())))?;
        let limiter = RateLimiter::new(options.rate_limits.clone()).map_err(err)?;
        let identity = options
            .identity
            .clone()
            .unwrap_or_else(|| default_identity(options.auth.as_ref()));
        Ok(Self {
            inner: Arc::new(Inner {
                system: options.system,
                base,
                http,
                auth: options.auth,
                identity,
                conditional: options.conditional_gets,
                limiter,
                etags: options
                    .etag_store
                    .unwrap_or_else(|| Arc::new(MemoryEtagStore::default())),
                counters: Counters::default(),
                clock: options.wall_clock,
            }),
        })
    }

    pub fn system(&self) -> &str {
        &self.inner.system
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The identity ETag cache entries are filed under.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// Requests, 304s and bytes so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.inner.counters.snapshot()
    }

    /// This client's rate-limit state, for status displays.
    pub fn rate_limit_state(&self) -> RateLimitState {
        self.inner.limiter.state()
    }

    /// The limiter itself (to pause the client on a limit found in a response body).
    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    pub fn etag_store(&self) -> &Arc<dyn EtagStore> {
        &self.inner.etags
    }

    /// A request to `path_or_url`: a path relative to the base URL (its query allowed), or an
    /// absolute URL on the same origin (a pagination link). A URL on another origin is refused
    /// when sent, so credentials never leave the configured host.
    pub fn request(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            raw: path_or_url
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string(),
            url: self.resolve(path_or_url),
            headers: HeaderMap::new(),
            body: None,
            error: None,
            attempt: 1,
            conditional: self.inner.conditional,
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    fn resolve(&self, path_or_url: &str) -> Result<Url, String> {
        let base = &self.inner.base;
        if let Ok(abs) = Url::parse(path_or_url) {
            if abs.origin() != base.origin() {
                return Err(format!(
                    "refusing to send {} credentials to another origin ({})",
                    self.inner.system,
                    abs.origin().ascii_serialization()
                ));
            }
            return Ok(abs);
        }
        let (path, query) = match path_or_url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_or_url, None),
        };
        let mut url = base.clone();
        let joined = format!(
            "{}/{}",
            base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query(query.filter(|q| !q.is_empty()));
        url.set_fragment(None);
        Ok(url)
    }
}

fn default_identity(auth: Option<&Auth>) -> String {
    match auth {
        None => "anonymous".to_string(),
        Some(a) => {
            // A 64-bit digest partitions the cache per credential without keeping the secret;
            // it cannot be turned back into a high-entropy token.
            let mut h = std::hash::DefaultHasher::new();
            if let Auth::Basic { username, .. } = a {
                username.hash(&mut h);
            }
            a.secret().hash(&mut h);
            format!("credential-{:016x}", h.finish())
        }
    }
}

/// One request being put together. Clone it to send the same request again.
#[derive(Clone)]
pub struct RequestBuilder {
    client: HttpClient,
    method: Method,
    /// The path as given, without query, for messages when the URL is invalid.
    raw: String,
    url: Result<Url, String>,
    headers: HeaderMap,
    body: Option<(Bytes, HeaderValue)>,
    error: Option<String>,
    attempt: u32,
    conditional: bool,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("system", &self.client.inner.system)
            .field("method", &self.method)
            .field("path", &self.display_path())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.as_ref().map(|(b, _)| b.len()))
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl RequestBuilder {
    /// The path as logs show it (query values replaced by `*`).
    pub fn shown_path(&self) -> String {
        self.display_path()
    }

    fn display_path(&self) -> String {
        match &self.url {
            Ok(u) => display_path(u),
            Err(_) => self.raw.clone(),
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL this request goes to (may hold query values: do not log it).
    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref().ok()
    }

    /// Appends a query parameter.
    pub fn query(mut self, key: &str, value: &str) -> Self {
        if let Ok(u) = &mut self.url {
            u.query_pairs_mut().append_pair(key, value);
        }
        self
    }

    /// Sets a query parameter, replacing any with the same key (for page cursors).
    pub fn set_query(mut self, key: &str, value: &str) -> Self {
        if let Ok(u) = &mut self.url {
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != key)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut pairs = u.query_pairs_mut();
            pairs.clear();
            for (k, v) in &kept {
                pairs.append_pair(k, v);
            }
            pairs.append_pair(key, value);
        }
        self
    }

    /// Points the request at another URL on the same origin (a `Link: rel="next"` target).
    pub fn url_from(mut self, path_or_url: &str) -> Self {
        self.raw = path_or_url
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        self.url = self.client.resolve(path_or_url);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.insert(n, v);
            }
            _ => self.error = Some(format!("invalid header `{name}`")),
        }
        self
    }

    /// A JSON body (`application/json`).
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        self.json_as(value, "application/json")
    }

    /// A JSON body with another media type (Azure DevOps: `application/json-patch+json`).
    pub fn json_as<T: Serialize + ?Sized>(mut self, value: &T, content_type: &str) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => self.body(bytes, content_type),
            Err(e) => {
                self.error = Some(format!("the request body is not JSON: {e}"));
                self
            }
        }
    }

    pub fn body(mut self, bytes: impl Into<Bytes>, content_type: &str) -> Self {
        match HeaderValue::from_str(content_type) {
            Ok(ct) => self.body = Some((bytes.into(), ct)),
            Err(_) => self.error = Some(format!("invalid content type `{content_type}`")),
        }
        self
    }

    /// `If-Match`: the write only applies if the resource still has this ETag (412 otherwise).
    pub fn if_match(self, etag: &str) -> Self {
        self.header("if-match", etag)
    }

    /// Which attempt this is (1 for the first), for the request log. Set by the sync queue.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Skips the ETag cache for this request (neither sends `If-None-Match` nor stores).
    pub fn no_cache(mut self) -> Self {
        self.conditional = false;
        self
    }

    /// Sends the request once: waits for this client's rate limits (up to
    /// `RateLimitConfig::max_wait`), sends `If-None-Match` when an ETag is remembered, and
    /// classifies the outcome. A 304 to our conditional GET is returned as the cached 200
    /// ([`Response::from_cache`]); a 304 to the caller's own `If-None-Match` header is
    /// returned as it is.
    pub async fn send(self) -> Result<Response, HttpError> {
        let inner = Arc::clone(&self.client.inner);
        let method = self.method.clone();
        let path = self.display_path();
        let context =
            |status: Option<StatusCode>| RequestContext::new(method.clone(), &path, status);
        let url = match (&self.url, &self.error) {
            (Err(message), _) | (Ok(_), Some(message)) => {
                return Err(HttpError::Build {
                    request: context(None),
                    message: message.clone(),
                });
            }
            (Ok(url), None) => url.clone(),
        };
        let write = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);

        let waited = match inner.limiter.acquire(write).await {
            Ok(w) => w,
            Err(WouldWait(wait)) => {
                inner.counters.failed(true);
                let err = HttpError::RateLimited {
                    request: context(None),
                    retry_after: Some(wait),
                };
                tracing::debug!(
                    system = %inner.system,
                    method = %method,
                    path = %path,
                    attempt = self.attempt,
                    wait_ms = wait.as_millis() as u64,
                    "request not sent: this client is paused by a rate limit"
                );
                return Err(err);
            }
        };

        let explicit_condition = self.headers.contains_key(header::IF_NONE_MATCH);
        let cache_key =
            (self.conditional && method == Method::GET && !explicit_condition).then(|| CacheKey {
                identity: inner.identity.clone(),
                url: url.to_string(),
            });
        let cached = match &cache_key {
            Some(k) => inner.etags.get(k).await,
            None => None,
        };

        let mut req = inner.http.request(method.clone(), url.clone());
        req = req.headers(self.headers);
        if let Some(entry) = &cached
            && let Ok(v) = HeaderValue::from_str(&entry.etag)
        {
            req = req.header(header::IF_NONE_MATCH, v);
        }
        req = match &inner.auth {
            None => req,
            Some(Auth::Bearer(t)) => req.bearer_auth(t.expose_secret()),
            Some(Auth::Basic { username, password }) => {
                req.basic_auth(username, Some(password.expose_secret()))
            }
            Some(Auth::Header(h)) => match HeaderValue::from_str(h.expose_secret()) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req.header(header::AUTHORIZATION, v)
                }
                Err(_) => {
                    return Err(HttpError::Build {
                        request: context(None),
                        message: "the auth header value is not a valid header".into(),
                    });
                }
            },
        };
        let sent_bytes = self.body.as_ref().map_or(0, |(b, _)| b.len());
        if let Some((bytes, content_type)) = self.body {
            req = req.header(header::CONTENT_TYPE, content_type).body(bytes);
        }

        // A server (or a proxy) that echoes the credentials in its error text must not put
        // them in our errors and logs.
        let scrub = |err: HttpError| match &inner.auth {
            Some(auth) => err.scrub(&auth.needles()),
            None => err,
        };
        let started = Instant::now();
        inner.counters.sent(sent_bytes);
        let log_failure = |err: &HttpError| {
            tracing::debug!(
                system = %inner.system,
                method = %method,
                path = %path,
                status = err.status().map(|s| s.as_u16()),
                attempt = self.attempt,
                duration_ms = started.elapsed().as_millis() as u64,
                waited_ms = waited.as_millis() as u64,
                kind = ?err.kind(),
                error = %err,
                "request failed"
            );
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let err = scrub(transport_error(context(None), e));
                inner.counters.failed(false);
                log_failure(&err);
                return Err(err);
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let final_url = resp.url().clone();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let err = scrub(transport_error(context(Some(status)), e));
                inner.counters.failed(false);
                log_failure(&err);
                return Err(err);
            }
        };
        inner
            .counters
            .received(body.len(), status == StatusCode::NOT_MODIFIED);

        let signals = RateSignals::parse(status, &headers, &body, inner.clock.now());
        let pause = inner.limiter.observe(status, &signals);
        if let Some(p) = pause {
            tracing::info!(
                system = %inner.system,
                method = %method,
                path = %path,
                status = status.as_u16(),
                pause_ms = p.duration.as_millis() as u64,
                reason = ?p.reason,
                "rate limit: pausing this client"
            );
        }

        if let Err(err) = classify(
            &method,
            &path,
            status,
            &body,
            &signals,
            pause.map(|p| p.duration),
        ) {
            let err = scrub(err);
            if let (Some(key), HttpError::NotFound { .. }) = (&cache_key, &err) {
                inner.etags.remove(key).await;
            }
            inner
                .counters
                .failed(matches!(err, HttpError::RateLimited { .. }));
            log_failure(&err);
            return Err(err);
        }

        let mut response = Response {
            status,
            headers,
            body,
            from_cache: false,
            method: method.clone(),
            url: final_url,
        };
        if status == StatusCode::NOT_MODIFIED
            && let Some(entry) = cached
        {
            response.status = StatusCode::OK;
            response.body = entry.body;
            response.from_cache = true;
            for (name, value) in entry.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) && !response.headers.contains_key(&n)
                {
                    response.headers.insert(n, v);
                }
            }
        } else if let Some(key) = cache_key
            && status == StatusCode::OK
        {
            match response.etag() {
                Some(etag) => {
                    let entry = CachedResponse {
                        etag: etag.to_string(),
                        body: response.body.clone(),
                        headers: CACHED_HEADERS
                            .iter()
                            .filter_map(|h| {
                                response.header(h).map(|v| (h.to_string(), v.to_string()))
                            })
                            .collect(),
                    };
                    inner.etags.put(key, entry).await;
                }
                None => inner.etags.remove(&key).await,
            }
        }
        tracing::debug!(
            system = %inner.system,
            method = %method,
            path = %path,
            status = status.as_u16(),
            attempt = self.attempt,
            duration_ms = started.elapsed().as_millis() as u64,
            waited_ms = waited.as_millis() as u64,
            bytes = response.body.len() as u64,
            cached = response.from_cache,
            "request"
        );
        Ok(response)
    }
}

/// A response that passed classification (1xx–3xx).
#[derive(Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    from_cache: bool,
    method: Method,
    url: Url,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("method", &self.method)
            .field("path", &display_path(&self.url))
            .field("from_cache", &self.from_cache)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Response {
    /// 200 for a body served from the ETag cache after a 304.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        crate::error::header_str(&self.headers, name)
    }

    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True when the remote answered 304 and this is the remembered body.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The final URL (after redirects). May hold query values: do not log it.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The body as `T`; a mismatch is [`HttpError::Decode`] naming the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Decode {
            request: RequestContext::new(
                self.method.clone(),
                display_path(&self.url),
                Some(self.status),
            ),
            message: e.to_string(),
        })
    }

    pub(crate) fn decode_error(&self, message: impl Into<String>) -> HttpError {
        HttpError::Decode {
            request: RequestContext::new(
                self.method.clone(),
                display_path(&self.url),
                Some(self.status),
            ),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ghp_T0pS3cretT0kenValue1234567890";

    fn client(base: &str) -> HttpClient {
        HttpClient::new(ClientOptions::new("github", base).bearer(TOKEN.into())).unwrap()
    }

    #[test]
    fn paths_are_appended_to_the_base_path() {
        let c = client("https://dev.azure.com/org/");
        let url = |p: &str| c.get(p).url().map(|u| u.to_string());
        assert_eq!(
            url("/project/_apis/wit/workitems/7?api-version=7.1").as_deref(),
            Some("https://dev.azure.com/org/project/_apis/wit/workitems/7?api-version=7.1")
        );
        assert_eq!(
            url("project/_apis/wit/wiql").as_deref(),
            Some("https://dev.azure.com/org/project/_apis/wit/wiql")
        );
        let gh = client("https://api.github.com");
        assert_eq!(
            gh.get("/repos/o/r/issues")
                .query("state", "all")
                .query("since", "2025-01-01T00:00:00Z")
                .url()
                .map(|u| u.to_string())
                .as_deref(),
            Some(
                "https://api.github.com/repos/o/r/issues?state=all&since=2025-01-01T00%3A00%3A00Z"
            )
        );
        let replaced = gh
            .get("/search?startAt=0&maxResults=5")
            .set_query("startAt", "5");
        assert_eq!(
            replaced
                .url()
                .map(|u| u.query().unwrap_or_default().to_string())
                .as_deref(),
            Some("maxResults=5&startAt=5")
        );
    }

    #[test]
    fn absolute_urls_must_stay_on_the_same_origin() {
        let c = client("https://api.github.com");
        assert!(
            c.get("https://api.github.com/repositories/1/issues?page=2")
                .url()
                .is_some()
        );
        for foreign in [
            "https://evil.example/repos",
            "http://api.github.com/repos",
            "https://api.github.com:8443/repos",
        ] {
            assert!(c.get(foreign).url().is_none(), "{foreign}");
        }
    }

    #[test]
    fn options_are_checked() {
        let bad = |o: ClientOptions| HttpClient::new(o).unwrap_err().to_string();
        assert!(bad(ClientOptions::new("x", "not a url")).contains("base URL"));
        assert!(bad(ClientOptions::new("x", "ftp://host/")).contains("http(s)"));
        let with_creds = bad(ClientOptions::new("x", "https://me:pw@host/"));
        assert!(with_creds.contains("must not carry credentials"));
        assert!(!with_creds.contains("pw@"), "{with_creds}");
        assert!(
            bad(ClientOptions::new("x", "https://h/").header("bad header", "v"))
                .contains("bad header")
        );
        assert!(
            bad(ClientOptions::new("x", "https://h/").header("x-ok", "line\nbreak"))
                .contains("x-ok")
        );
        let mut zero_rate = ClientOptions::new("x", "https://h/");
        zero_rate.rate_limits.requests_per_second = Some(0.0);
        assert!(bad(zero_rate).contains("requests_per_second"));
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let options = ClientOptions::new("jira", "https://x.atlassian.net")
            .basic("me@example.com", TOKEN.into())
            .proxy(format!("http://proxyuser:{TOKEN}@proxy:3128").into())
            .header("x-trace", "1");
        let shown = format!("{options:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        let c = HttpClient::new(options).unwrap();
        let shown = format!(
            "{c:?} {:?}",
            c.get("/rest/api/3/myself?token=q").header("x", "y")
        );
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("/rest/api/3/myself?token=*"), "{shown}");
        for auth in [
            Auth::Bearer(TOKEN.into()),
            Auth::Header(format!("token {TOKEN}").into()),
            Auth::Basic {
                username: "u".into(),
                password: TOKEN.into(),
            },
        ] {
            let shown = format!("{auth:?}");
            assert!(
                !shown.contains(TOKEN) && shown.contains("REDACTED"),
                "{shown}"
            );
        }
    }

    #[test]
    fn cache_identity_is_the_given_name_or_a_digest_of_the_credentials() {
        let named = HttpClient::new(
            ClientOptions::new("github", "https://api.github.com")
                .bearer(TOKEN.into())
                .identity("octocat"),
        )
        .unwrap();
        assert_eq!(named.identity(), "octocat");
        let a = client("https://api.github.com");
        let b = client("https://api.github.com");
        assert_eq!(a.identity(), b.identity());
        assert!(a.identity().starts_with("credential-"));
        assert!(!a.identity().contains(TOKEN));
        let other = HttpClient::new(
            ClientOptions::new("github", "https://api.github.com").bearer("another".into()),
        )
        .unwrap();
        assert_ne!(a.identity(), other.identity());
        let anonymous =
            HttpClient::new(ClientOptions::new("github", "https://api.github.com")).unwrap();
        assert_eq!(anonymous.identity(), "anonymous");
    }

    #[test]
    fn the_user_agent_names_devlog_and_its_version() {
        assert_eq!(USER_AGENT, format!("devlog/{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(ClientOptions::new("x", "https://h").user_agent, USER_AGENT);
    }
}
