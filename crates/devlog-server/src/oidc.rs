//! Single sign-on for the dashboard with OpenID Connect (feature `oidc`, `[server.oidc]`,
//! docs/security.md "Single sign-on").
//!
//! - [`Sso::discover`] reads the provider's discovery document and JWKS once at start-up.
//! - `GET /auth/login` starts the authorization code flow with PKCE (S256), a random `state`
//!   and `nonce`; they and the PKCE verifier travel in an encrypted, short-lived login cookie
//!   (`devlog_login`, path `/auth`), so the server keeps no per-login state.
//! - `GET /auth/callback` checks `state` (constant time), exchanges the code with the verifier
//!   (client secret in HTTP Basic), and verifies the ID token with `openidconnect`: signature
//!   against the JWKS (fetched again once when the token names a key id the cached set lacks:
//!   key rotation), issuer, audience, expiry and the nonce. The user's groups claim and
//!   verified e-mail domain become a role ([`devlog_core::auth::RoleMapping`]); a user with
//!   no role is refused. Then the session cookie is set.
//! - The session (`devlog_session`) is a `PrivateCookieJar` cookie (AES-256-GCM: encrypted and
//!   authenticated with the server's session key), `HttpOnly`, `SameSite=Lax`, `Secure` when
//!   the redirect URL is https, with an expiry inside the sealed value as well as `Max-Age`.
//!   It carries the subject, a label (e-mail or name), the role and a CSRF token.
//!   [`crate::auth`] turns it into a [`Principal`] that goes through the same role checks as a
//!   bearer token, and requires the CSRF token (`X-CSRF-Token`, or the `csrf` form field of
//!   the logout form) on every state-changing request the cookie authenticates.
//! - `POST /auth/logout` (CSRF-checked) ends the session; `GET /auth/logout` shows whether one
//!   is open and the sign-out button.
//!
//! No error names a secret: neither the client secret nor the session key nor a token.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite};
use devlog_core::auth::{Principal, Role, RoleMapping};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The session cookie.
pub const SESSION_COOKIE: &str = "devlog_session";
/// The cookie of a sign-in in progress (state, nonce, PKCE verifier).
pub const LOGIN_COOKIE: &str = "devlog_login";
/// How long a sign-in may take at the provider.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// The default session length.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// The header a cookie-authenticated write carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The least often the JWKS is fetched again for an unknown key id.
const JWKS_REFETCH_EVERY: Duration = Duration::from_secs(30);

/// `[server.oidc]` in devlog.toml.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL (its discovery document is `ISSUER/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// The client secret, usually `${DEVLOG_OIDC_CLIENT_SECRET}`; none for a public client.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redacted"
    )]
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: this server's public URL + `/auth/callback`.
    /// An https URL makes the cookies `Secure`.
    pub redirect_url: String,
    /// Scopes besides `openid` (default `email`, `profile`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim listing the user's groups (default `groups`; Entra ID: `groups`,
    /// Keycloak: the mapper's claim name).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Groups and e-mail domains → roles, and the default role (none: refuse).
    #[serde(default)]
    pub roles: RoleMapping,
    /// Session length in minutes (default 480).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_minutes: Option<u64>,
    /// The key sessions are encrypted with (at least 32 characters), usually
    /// `${DEVLOG_SESSION_KEY}`; without it `devlog serve` generates one and keeps it in
    /// `.devlog/.state/session.key` (mode 0600).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redacted"
    )]
    pub session_key: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn redacted<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("<redacted>"),
        None => s.serialize_none(),
    }
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("groups_claim", &self.groups_claim)
            .field("roles", &self.roles)
            .field("session_minutes", &self.session_minutes)
            .field(
                "session_key",
                &self.session_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The least length of a configured session key.
pub const MIN_SESSION_KEY: usize = 32;

impl OidcSettings {
    /// Checks what can be checked without the network (URLs, the session key's length).
    pub fn validate(&self) -> Result<(), String> {
        IssuerUrl::new(self.issuer.clone())
            .map_err(|e| format!("server.oidc.issuer is not a URL: {e}"))?;
        let redirect = RedirectUrl::new(self.redirect_url.clone())
            .map_err(|e| format!("server.oidc.redirectUrl is not a URL: {e}"))?;
        if !redirect.url().path().ends_with("/auth/callback") {
            return Err(format!(
                "server.oidc.redirectUrl must end with /auth/callback (this server's callback), \
                 such as https://devlog.example.com/auth/callback; it is `{}`",
                self.redirect_url
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err("server.oidc.clientId is empty".into());
        }
        if let Some(k) = &self.session_key
            && k.len() < MIN_SESSION_KEY
        {
            return Err(format!(
                "server.oidc.sessionKey is shorter than {MIN_SESSION_KEY} characters; use a long \
                 random value (or leave it out: devlog serve then keeps a generated key in \
                 .devlog/.state/session.key)"
            ));
        }
        if self.session_minutes == Some(0) {
            return Err("server.oidc.sessionMinutes must be at least 1".into());
        }
        Ok(())
    }
}

/// Why single sign-on could not start.
#[derive(Debug, thiserror::Error)]
#[error("single sign-on (server.oidc): {0}")]
pub struct SsoError(String);

/// The HTTP client `openidconnect` talks to the provider with: our reqwest (ring TLS), no
/// redirects (the discovery, JWKS and token endpoints answer directly), bounded in time.
#[derive(Clone)]
struct Http(reqwest::Client);

/// A failed request to the provider (its URL is not repeated: it may carry a code).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    HttpError(format!("cannot reach the provider: {}", e.without_url()))
                })?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(|e| {
                HttpError(format!(
                    "reading the provider's answer: {}",
                    e.without_url()
                ))
            })?;
            let mut out = HttpResponse::new(body.to_vec());
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Every claim of the ID token besides the standard ones (the groups claim is read from it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type FullIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// A signed-in user, sealed in the session cookie.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    /// The provider's subject (`sub`): the actor of the user's changes.
    pub sub: String,
    /// What the dashboard shows: the e-mail address, else the name, else the subject.
    pub label: String,
    pub role: Role,
    /// The CSRF token cookie-authenticated writes must carry.
    pub csrf: String,
    /// Unix seconds.
    pub expires: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sub", &self.sub)
            .field("label", &self.label)
            .field("role", &self.role)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn principal(&self) -> Principal {
        Principal::of_session(&self.sub, self.role)
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// A sign-in in progress, sealed in the login cookie.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    expires: u64,
}

/// Single sign-on, ready: the provider's metadata, the cached JWKS and the session key.
pub struct Sso {
    client: Client,
    client_id: ClientId,
    client_secret: Option<SecretString>,
    issuer: IssuerUrl,
    metadata: CoreProviderMetadata,
    scopes: Vec<Scope>,
    groups_claim: String,
    roles: RoleMapping,
    jwks: RwLock<CoreJsonWebKeySet>,
    /// When the JWKS was last fetched again (not counting the start-up fetch).
    jwks_fetched: Mutex<Option<Instant>>,
    http: Http,
    key: Key,
    secure: bool,
    ttl: Duration,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 64 bytes of cookie key from a configured or generated secret of any length.
fn derive_key(secret: &[u8]) -> Key {
    use sha2::{Digest, Sha512};
    let mut h = Sha512::new();
    h.update(b"devlog session cookie key v1\0");
    h.update(secret);
    Key::from(h.finalize().as_slice())
}

impl Sso {
    /// Reads the provider's discovery document and keys. `session_key`: the configured key or
    /// the one `devlog serve` keeps in `.devlog/.state/` (at least [`MIN_SESSION_KEY`] bytes).
    pub async fn discover(settings: &OidcSettings, session_key: &[u8]) -> Result<Self, SsoError> {
        settings.validate().map_err(SsoError)?;
        if session_key.len() < MIN_SESSION_KEY {
            return Err(SsoError(format!(
                "the session key is shorter than {MIN_SESSION_KEY} bytes"
            )));
        }
        devlog_http::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .no_proxy()
            .build()
            .map_err(|e| SsoError(format!("building the HTTP client: {}", e.without_url())))?;
        let http = Http(http);
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| SsoError(format!("server.oidc.issuer is not a URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
            .await
            .map_err(|e| {
                SsoError(format!(
                    "cannot read the provider's discovery document at {}/.well-known/openid-configuration: {}",
                    settings.issuer.trim_end_matches('/'),
                    error_chain(&e)
                ))
            })?;
        let client_id = ClientId::new(settings.client_id.clone());
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| SsoError(format!("server.oidc.redirectUrl is not a URL: {e}")))?;
        let secure = redirect.url().scheme() == "https";
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            client_id.clone(),
            settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect);
        let jwks = metadata.jwks().clone();
        let mut scopes = vec![];
        for s in &settings.scopes {
            if s != "openid" && !scopes.iter().any(|x: &Scope| x.as_str() == s) {
                scopes.push(Scope::new(s.clone()));
            }
        }
        Ok(Self {
            client,
            client_id,
            client_secret: settings.client_secret.clone().map(SecretString::from),
            issuer,
            metadata,
            scopes,
            groups_claim: settings.groups_claim.clone(),
            roles: settings.roles.clone(),
            jwks: RwLock::new(jwks),
            jwks_fetched: Mutex::new(None),
            http,
            key: derive_key(session_key),
            secure,
            ttl: settings.session_minutes.map_or(DEFAULT_SESSION_TTL, |m| {
                Duration::from_secs(m.saturating_mul(60))
            }),
        })
    }

    /// The provider's issuer URL.
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The session the request's cookie carries, if it is sealed with this server's key and
    /// not expired.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let jar = PrivateCookieJar::from_headers(headers, self.key.clone());
        let c = jar.get(SESSION_COOKIE)?;
        let s: Session = serde_json::from_str(c.value()).ok()?;
        (s.expires > now_secs()).then_some(s)
    }

    fn cookie(
        &self,
        name: &'static str,
        value: String,
        path: &'static str,
        ttl: Duration,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .path(path)
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            ))
            .build()
    }

    fn removal(&self, name: &'static str, path: &'static str) -> Cookie<'static> {
        Cookie::build((name, "")).path(path).build()
    }

    fn verifier(&self) -> CoreIdTokenVerifier<'_> {
        let jwks = self
            .jwks
            .read()
            .map(|j| j.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let v = match &self.client_secret {
            Some(s) => CoreIdTokenVerifier::new_confidential_client(
                self.client_id.clone(),
                ClientSecret::new(s.expose_secret().to_string()),
                self.issuer.clone(),
                jwks,
            ),
            None => CoreIdTokenVerifier::new_public_client(
                self.client_id.clone(),
                self.issuer.clone(),
                jwks,
            ),
        };
        // Only the provider's published (asymmetric) keys are trusted: HMAC ID tokens, keyed
        // with the client secret, and unsigned ones are refused.
        v.set_allowed_algs(
            self.metadata
                .id_token_signing_alg_values_supported()
                .iter()
                .filter(|a| {
                    !matches!(
                        a,
                        CoreJwsSigningAlgorithm::HmacSha256
                            | CoreJwsSigningAlgorithm::HmacSha384
                            | CoreJwsSigningAlgorithm::HmacSha512
                            | CoreJwsSigningAlgorithm::None
                    )
                })
                .cloned(),
        )
    }

    /// Fetches the JWKS again (key rotation).
    async fn refresh_jwks(&self) -> Result<(), String> {
        *self.jwks_fetched.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let fresh = CoreJsonWebKeySet::fetch_async(self.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| format!("fetching the provider's keys again: {}", error_chain(&e)))?;
        *self.jwks.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// Verifies `raw` (the ID token) and maps its claims to a session.
    async fn session_from(&self, raw: &str, nonce: &Nonce) -> Result<Session, ApiError> {
        let token: FullIdToken = raw
            .parse()
            .map_err(|_| refused("the provider's ID token is not a JWT".into()))?;
        let mut refetched = false;
        loop {
            let verifier = self.verifier();
            match token.claims(&verifier, nonce) {
                Ok(claims) => return self.map_claims(claims),
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if !refetched && self.may_refetch() => {
                    refetched = true;
                    tracing::info!(
                        "the ID token names an unknown key id; fetching the provider's keys again"
                    );
                    self.refresh_jwks().await.map_err(refused)?;
                }
                Err(e) => return Err(refused(explain(&e))),
            }
        }
    }

    /// Whether an unknown key id may fetch the JWKS again: not more than once per
    /// [`JWKS_REFETCH_EVERY`], so forged tokens cannot make the server hammer the provider.
    fn may_refetch(&self) -> bool {
        let last = self.jwks_fetched.lock().unwrap_or_else(|p| p.into_inner());
        last.is_none_or(|t| t.elapsed() >= JWKS_REFETCH_EVERY)
    }

    fn map_claims(
        &self,
        claims: &openidconnect::IdTokenClaims<OtherClaims, CoreGenderClaim>,
    ) -> Result<Session, ApiError> {
        let groups: Vec<String> = match claims.additional_claims().claims.get(&self.groups_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(g)) => vec![g.clone()],
            _ => vec![],
        };
        let email = claims.email().map(|e| e.as_str().to_string());
        let verified = claims.email_verified().unwrap_or(false);
        let role = self
            .roles
            .role_for(&groups, email.as_deref(), verified)
            .map_err(|e| {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()).with_hint(
                    "an administrator maps the user's group or e-mail domain to a role under \
                     [server.oidc.roles] in devlog.toml (docs/security.md)",
                )
            })?;
        let sub = claims.subject().as_str().to_string();
        let label = email
            .or_else(|| {
                claims
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_string())
            })
            .unwrap_or_else(|| sub.clone());
        Ok(Session {
            sub,
            label,
            role,
            csrf: CsrfToken::new_random().secret().clone(),
            expires: now_secs().saturating_add(self.ttl.as_secs()),
        })
    }
}

/// An error and its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// What is wrong with an ID token, in words.
fn explain(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => "the ID token is signed with a key the provider does not publish (unknown key id, \
             even after fetching the provider's keys again)"
            .into(),
        ClaimsVerificationError::SignatureVerification(s) => {
            format!("the ID token's signature does not verify ({s})")
        }
        ClaimsVerificationError::InvalidAudience(d) => {
            format!("the ID token was issued for another client (wrong audience: {d})")
        }
        ClaimsVerificationError::InvalidIssuer(d) => {
            format!("the ID token comes from another issuer ({d})")
        }
        ClaimsVerificationError::Expired(d) => format!("the ID token has expired ({d})"),
        ClaimsVerificationError::InvalidNonce(_) => {
            "the ID token's nonce is not the one this sign-in sent (a replayed or injected token)"
                .into()
        }
        other => format!("the ID token was refused: {other}"),
    }
}

fn refused(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "sign-in-refused", message)
        .with_hint("sign in again at /auth/login; if it keeps failing, check [server.oidc] and the provider's client settings (docs/security.md)")
}

fn bad_sign_in(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "sign-in-refused", message)
        .with_hint("start again at /auth/login")
}

/// The single sign-on routes, documented (tag `auth`); merged into the server like an
/// extension when `[server.oidc]` is configured.
pub fn routes(sso: Arc<Sso>) -> utoipa_axum::router::OpenApiRouter {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(callback))
        .routes(routes!(logout_page, logout))
        .with_state(sso)
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// A local path to go back to after signing in (never another site).
fn safe_return(to: Option<&str>) -> String {
    match to {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.starts_with("/auth/") =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Start signing in to the dashboard
///
/// Redirects to the OpenID provider (authorization code flow with PKCE, `state` and
/// `nonce`), setting the short-lived encrypted `devlog_login` cookie. `returnTo`: the local
/// path to come back to (default `/`).
#[utoipa::path(get, path = "/auth/login", tag = "auth",
    params(("returnTo" = Option<String>, Query, description = "A local path to return to after signing in")),
    responses((status = 303, description = "To the provider's authorization endpoint")))]
async fn login(
    State(sso): State<Arc<Sso>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = sso
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for s in &sso.scopes {
        request = request.add_scope(s.clone());
    }
    let (url, state, nonce) = request.url();
    let pending = Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        return_to: safe_return(q.return_to.as_deref()),
        expires: now_secs().saturating_add(LOGIN_TTL.as_secs()),
    };
    let value = serde_json::to_string(&pending).unwrap_or_default();
    let jar = PrivateCookieJar::from_headers(&headers, sso.key.clone()).add(sso.cookie(
        LOGIN_COOKIE,
        value,
        "/auth",
        LOGIN_TTL,
    ));
    (jar, Redirect::to(url.as_str())).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finish signing in (the provider's redirect)
///
/// Checks `state`, exchanges the code (with the PKCE verifier), verifies the ID token and maps
/// its claims to a role; then sets the `devlog_session` cookie (`HttpOnly`, `SameSite=Lax`,
/// `Secure` over https) and redirects to the page the sign-in started from.
#[utoipa::path(get, path = "/auth/callback", tag = "auth",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state the sign-in sent"),
        ("error" = Option<String>, Query, description = "The provider's error, if it refused"),
    ),
    responses(
        (status = 303, description = "Signed in: to the page the sign-in started from"),
        (status = 400, description = "No sign-in in progress, a wrong `state` or no code", body = crate::error::ErrorBody),
        (status = 401, description = "The code or the ID token was refused (signature, issuer, audience, expiry, nonce)", body = crate::error::ErrorBody),
        (status = 403, description = "The user's claims map to no role", body = crate::error::ErrorBody),
    ))]
async fn callback(
    State(sso): State<Arc<Sso>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let jar = PrivateCookieJar::from_headers(&headers, sso.key.clone());
    let pending = jar
        .get(LOGIN_COOKIE)
        .and_then(|c| serde_json::from_str::<Pending>(c.value()).ok());
    // Whatever happens, this sign-in attempt is over.
    let jar = jar.remove(sso.removal(LOGIN_COOKIE, "/auth"));
    match finish(&sso, pending, q).await {
        Ok((session, to)) => {
            let value = serde_json::to_string(&session).unwrap_or_default();
            tracing::info!(sub = %session.sub, role = %session.role, "signed in with single sign-on");
            let jar = jar.add(sso.cookie(SESSION_COOKIE, value, "/", sso.ttl));
            (jar, Redirect::to(&to)).into_response()
        }
        Err(e) => {
            tracing::warn!("single sign-on refused: {}", e.message);
            (jar, e).into_response()
        }
    }
}

async fn finish(
    sso: &Sso,
    pending: Option<Pending>,
    q: CallbackQuery,
) -> Result<(Session, String), ApiError> {
    if let Some(err) = q.error {
        let detail = q
            .error_description
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(refused(format!(
            "the provider refused the sign-in ({err}{detail})"
        )));
    }
    let Some(pending) = pending else {
        return Err(bad_sign_in(
            "no sign-in is in progress in this browser (its login cookie is missing, expired or \
             was sealed by another server)",
        ));
    };
    if pending.expires <= now_secs() {
        return Err(bad_sign_in(
            "the sign-in took too long (more than 10 minutes)",
        ));
    }
    let state = q.state.unwrap_or_default();
    if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
        return Err(bad_sign_in(
            "the `state` the provider returned is not the one this sign-in sent (a forged or \
             mixed-up callback)",
        ));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(bad_sign_in("the callback carries no authorization code"));
    };
    let request = sso
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| refused(format!("the provider has no token endpoint: {e}")))?;
    let response = request
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&sso.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => refused(format!(
                "the provider refused the authorization code: {}{}",
                r.error().as_ref(),
                r.error_description()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )),
            other => refused(format!(
                "exchanging the authorization code failed: {}",
                error_chain(&other)
            )),
        })?;
    let Some(id_token) = response.id_token() else {
        return Err(refused(
            "the provider's token response has no ID token".into(),
        ));
    };
    let session = sso
        .session_from(&id_token.to_string(), &Nonce::new(pending.nonce))
        .await?;
    Ok((session, pending.return_to))
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

/// Sign out
///
/// Removes the session cookie. A form post (`application/x-www-form-urlencoded`) with the
/// session's CSRF token as `csrf`, or the `X-CSRF-Token` header.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses(
        (status = 303, description = "Signed out: to GET /auth/logout"),
        (status = 403, description = "Without the session's CSRF token", body = crate::error::ErrorBody),
    ))]
async fn logout(
    State(sso): State<Arc<Sso>>,
    headers: HeaderMap,
    axum::extract::RawForm(form): axum::extract::RawForm,
) -> Response {
    let jar = PrivateCookieJar::from_headers(&headers, sso.key.clone());
    if let Some(session) = sso.session(&headers) {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| serde_urlencoded_csrf(&form))
            .unwrap_or_default();
        if !session.csrf_matches(&presented) {
            return crate::auth::csrf_refused().into_response();
        }
        tracing::info!(sub = %session.sub, "signed out");
    }
    let jar = jar.remove(sso.removal(SESSION_COOKIE, "/"));
    (jar, Redirect::to("/auth/logout")).into_response()
}

/// The `csrf` field of an `application/x-www-form-urlencoded` body.
fn serde_urlencoded_csrf(form: &[u8]) -> Option<String> {
    let form: HashMap<String, String> = openidconnect::url::form_urlencoded::parse(form)
        .into_owned()
        .collect();
    LogoutForm {
        csrf: form.get("csrf").cloned(),
    }
    .csrf
}

/// Whether one is signed in, with the sign-out button
#[utoipa::path(get, path = "/auth/logout", tag = "auth",
    responses((status = 200, description = "An HTML page", content_type = "text/html")))]
async fn logout_page(State(sso): State<Arc<Sso>>, headers: HeaderMap) -> Response {
    let body = match sso.session(&headers) {
        Some(s) => format!(
            "<p>Signed in as {} ({}).</p><form method=\"post\" action=\"/auth/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Sign out</button></form>",
            escape(&s.label),
            s.role,
            escape(&s.csrf)
        ),
        None => {
            "<p>You are signed out of devlog.</p><p><a href=\"/auth/login\">Sign in again</a></p>"
                .to_string()
        }
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out · devlog</title>\
             <link rel=\"stylesheet\" href=\"/assets/dashboard.css\"></head><body><main id=\"main\">\
             <h1>devlog</h1>{body}</main></body></html>"
        )),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_this_server() {
        assert_eq!(safe_return(Some("/entries?x=1")), "/entries?x=1");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "evil",
            "/auth/login",
        ] {
            assert_eq!(safe_return(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return(None), "/");
    }

    #[test]
    fn settings_are_checked_and_secrets_never_shown() {
        let mut s: OidcSettings = serde_json::from_value(serde_json::json!({
            "issuer": "https://login.example.com/realms/dev",
            "clientId": "devlog",
            "clientSecret": "s3cret-value",
            "redirectUrl": "https://devlog.example.com/auth/callback",
            "sessionKey": "k".repeat(40),
        }))
        .unwrap();
        s.validate().unwrap();
        let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
        assert!(
            !shown.contains("s3cret-value") && !shown.contains(&"k".repeat(40)),
            "{shown}"
        );
        s.redirect_url = "https://devlog.example.com/elsewhere".into();
        assert!(s.validate().unwrap_err().contains("/auth/callback"));
        s.redirect_url = "https://devlog.example.com/auth/callback".into();
        s.session_key = Some("short".into());
        assert!(s.validate().unwrap_err().contains("sessionKey"));
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        let s = Session {
            sub: "a".into(),
            label: "a".into(),
            role: Role::Viewer,
            csrf: "abc".into(),
            expires: 0,
        };
        assert!(s.csrf_matches("abc"));
        assert!(!s.csrf_matches("abd") && !s.csrf_matches("") && !s.csrf_matches("abcd"));
        assert!(!format!("{s:?}").contains("abc"));
    }
}
