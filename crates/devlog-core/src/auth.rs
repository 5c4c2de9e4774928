//! Who may do what on a devlog server (issue 20): API tokens, roles and the principal a
//! request acts as.
//!
//! - [`Role`]: `viewer` (read), `editor` (write entries, run sync), `admin` (tokens,
//!   integrations, audit, bulk, purge), ordered so a higher role includes the lower ones.
//! - [`Principal`]: who a request acts as — an API token, an OpenID Connect session, or
//!   the local user of a server without authentication — with its role and optional
//!   workspace scope. Its [`Principal::actor`] is what the audit log records.
//! - [`Token`]: a stored API token. Only the SHA-256 of the secret is kept ([`TokenHash`]);
//!   the secret ([`TokenSecret`], `dlt_<id>_<64 hex>`) is shown once by
//!   [`issue`] and compared in constant time ([`Token::check`], `subtle`). Tokens are random
//!   256-bit values, so a fast hash is enough: there is nothing to brute-force (see
//!   docs/security.md).
//! - [`TokenStore`]: the port each backend implements (reached through
//!   [`crate::Store::tokens`]), so a team sharing a database shares its tokens.
//!
//! Pure: randomness and time come from the caller.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Result;
use crate::time::Timestamp;

/// What a principal may do. Ordered: `Viewer < Editor < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything: entries, reports, the event stream, read-only MCP tools.
    Viewer,
    /// Also write entries and run sync.
    Editor,
    /// Also manage tokens and integrations, read the audit log, bulk changes and purges.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("`{s}` is not a role; use viewer, editor or admin"))
    }
}

/// How a single sign-on user's claims become a role (`[server.oidc.roles]`): the highest role
/// among the groups they are in (`groups`, by the provider's group names or ids) and their
/// e-mail domain (`emailDomains`, only when the provider says the address is verified); else
/// `default`, and without one the user is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleMapping {
    #[serde(default)]
    pub groups: std::collections::BTreeMap<String, Role>,
    #[serde(default)]
    pub email_domains: std::collections::BTreeMap<String, Role>,
    /// The role of a user no group or domain matches; `None`: such a user is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Role>,
}

/// Why a signed-in user gets no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no role for this user: none of their groups ({groups}) nor their e-mail domain \
     ({domain}) is mapped to a role, and there is no default role"
)]
pub struct NoRole {
    pub groups: String,
    pub domain: String,
}

impl RoleMapping {
    /// The role for a user in `groups` with `email` (`email_verified` as the provider claims).
    pub fn role_for(
        &self,
        groups: &[String],
        email: Option<&str>,
        email_verified: bool,
    ) -> std::result::Result<Role, NoRole> {
        let by_group = groups.iter().filter_map(|g| self.groups.get(g)).max();
        let domain = email
            .filter(|_| email_verified)
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase());
        let by_domain = domain.as_deref().and_then(|d| {
            self.email_domains
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(d))
                .map(|(_, r)| r)
        });
        by_group
            .into_iter()
            .chain(by_domain)
            .copied()
            .max()
            .or(self.default)
            .ok_or_else(|| NoRole {
                groups: if groups.is_empty() {
                    "none".into()
                } else {
                    groups.join(", ")
                },
                domain: match (email, email_verified) {
                    (None, _) => "no e-mail".into(),
                    (Some(_), false) => "e-mail not verified".into(),
                    (Some(_), true) => domain.unwrap_or_default(),
                },
            })
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// An API token (`Authorization: Bearer`).
    Token,
    /// An OpenID Connect session (the dashboard's single sign-on, a session cookie).
    Oidc,
    /// Nobody: a loopback server without tokens, or one started with `--insecure-no-auth`.
    Local,
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The token's name, the OIDC subject; empty for [`PrincipalKind::Local`].
    pub name: String,
    pub role: Role,
    /// The workspace the credential is limited to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

impl Principal {
    /// The unauthenticated local user: everything is allowed, as for the CLI.
    pub fn local() -> Self {
        Self {
            kind: PrincipalKind::Local,
            name: String::new(),
            role: Role::Admin,
            workspace: None,
        }
    }

    /// The principal of a single sign-on session: `subject` is the provider's `sub`.
    pub fn of_session(subject: &str, role: Role) -> Self {
        Self {
            kind: PrincipalKind::Oidc,
            name: subject.to_string(),
            role,
            workspace: None,
        }
    }

    /// The principal of a verified token.
    pub fn of_token(token: &Token) -> Self {
        Self {
            kind: PrincipalKind::Token,
            name: token.name.to_string(),
            role: token.role,
            workspace: token.scope.clone(),
        }
    }

    pub fn allows(&self, needed: Role) -> bool {
        self.role.allows(needed)
    }

    /// The actor recorded for its writes: the token's name or OIDC subject; `None` for the
    /// local user (the request's `X-Devlog-Actor` or the server's actor is used then).
    pub fn actor(&self) -> Option<String> {
        match self.kind {
            PrincipalKind::Local => None,
            PrincipalKind::Token | PrincipalKind::Oidc => Some(self.name.clone()),
        }
    }
}

/// A token's public id: 16 lower-case hex digits, part of the secret's text so a server
/// finds the record without comparing against every hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    pub const LEN: usize = 16;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn random(rng: &mut (impl rand::CryptoRng + ?Sized)) -> Self {
        let mut b = [0u8; Self::LEN / 2];
        rng.fill_bytes(&mut b);
        TokenId(hex(&b))
    }
}

impl TryFrom<String> for TokenId {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        if s.len() == Self::LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(TokenId(s))
        } else {
            Err(format!(
                "`{s}` is not a token id (16 lower-case hex digits)"
            ))
        }
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> String {
        id.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token's name: what `token revoke NAME` takes and the audit log records as the actor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenName(String);

impl TokenName {
    pub const MAX: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenName {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        if ok {
            Ok(TokenName(s))
        } else {
            Err(format!(
                "`{s}` is not a token name: use 1 to {} letters, digits, `-`, `_`, `.` or `@`, \
                 starting with a letter or digit",
                Self::MAX
            ))
        }
    }
}

impl FromStr for TokenName {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::try_from(s.to_string())
    }
}

impl From<TokenName> for String {
    fn from(n: TokenName) -> String {
        n.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The prefix of every token's text (lets secret scanners recognise leaked tokens).
pub const TOKEN_PREFIX: &str = "dlt_";

/// A token's full secret text, `dlt_<id>_<64 hex>`. Never printed by `Debug` or `Display`;
/// [`TokenSecret::expose`] is the one way to read it (to show it once, or to send it).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// Why a presented credential is not a token's text. Names no part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the bearer credential is not a devlog token (expected dlt_<16 hex>_<64 hex>, as printed \
     by `devlog token create`)"
)]
pub struct MalformedToken;

impl TokenSecret {
    /// Parses a presented credential; the id tells which record to check it against.
    pub fn parse(text: &str) -> std::result::Result<(TokenId, TokenSecret), MalformedToken> {
        let rest = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(MalformedToken)?;
        let (id, secret) = rest.split_once('_').ok_or(MalformedToken)?;
        let id = TokenId::try_from(id.to_string()).map_err(|_| MalformedToken)?;
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MalformedToken);
        }
        Ok((id, TokenSecret(text.trim().to_string())))
    }

    /// The secret's text: to show once on creation, or to put in an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored for this secret.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// SHA-256 of a token's text: all a store keeps. Serialized as 64 hex digits.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret, but no use in logs either.
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    /// Constant-time comparison (`subtle`): how long it takes says nothing about how many
    /// leading bytes matched.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl TryFrom<String> for TokenHash {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        let bytes = unhex(&s).ok_or("a token hash is 64 hex digits")?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a token hash is 64 hex digits".to_string())?;
        Ok(TokenHash(arr))
    }
}

impl From<TokenHash> for String {
    fn from(h: TokenHash) -> String {
        hex(&h.0)
    }
}

/// A stored API token. Immutable but for `last_used_at` and `revoked_at`, which backends
/// update on their own (a revocation can never be undone by a concurrent last-used update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: TokenId,
    pub name: TokenName,
    pub role: Role,
    /// The workspace the token is limited to; `None`: any workspace the server serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub created_at: Timestamp,
    /// Who created it (the CLI's actor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    pub hash: TokenHash,
}

/// Why a token with the right id was refused. The messages name the token but never its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the token does not match any token of this server")]
    Unknown,
    #[error("token `{0}` was revoked")]
    Revoked(String),
    #[error("token `{0}` expired at {1}")]
    Expired(String, Timestamp),
}

/// What [`issue`] needs besides randomness.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: TokenName,
    pub role: Role,
    pub scope: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub created_by: Option<String>,
}

/// A new token and its secret (the only time the secret exists outside the client).
pub fn issue(
    new: NewToken,
    now: Timestamp,
    rng: &mut (impl rand::CryptoRng + ?Sized),
) -> (Token, TokenSecret) {
    let id = TokenId::random(rng);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let secret = TokenSecret(format!("{TOKEN_PREFIX}{id}_{}", hex(&secret)));
    let token = Token {
        id,
        name: new.name,
        role: new.role,
        scope: new.scope,
        created_at: now,
        created_by: new.created_by,
        expires_at: new.expires_at,
        last_used_at: None,
        revoked_at: None,
        hash: secret.hash(),
    };
    (token, secret)
}

impl Token {
    /// Whether the token may be used at `now`: not revoked, not expired.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// Checks a presented secret against this record: the hash first (constant time), then
    /// revocation and expiry, so a wrong secret learns nothing about the record's state.
    pub fn check(
        &self,
        presented: &TokenSecret,
        now: Timestamp,
    ) -> std::result::Result<(), Denied> {
        if !self.hash.matches(&presented.hash()) {
            return Err(Denied::Unknown);
        }
        if self.revoked_at.is_some() {
            return Err(Denied::Revoked(self.name.to_string()));
        }
        if let Some(e) = self.expires_at
            && now >= e
        {
            return Err(Denied::Expired(self.name.to_string(), e));
        }
        Ok(())
    }

    /// Whether its last use is older than `every` (or unknown): then a server records the
    /// new use, so a busy token costs one write a minute, not one per request.
    pub fn last_use_is_stale(&self, now: Timestamp, every_ms: i64) -> bool {
        self.last_used_at
            .is_none_or(|t| now.millis().saturating_sub(t.millis()) >= every_ms)
    }
}

/// Finds the one token `reference` names among `tokens`: an id, or the name of an active
/// token (revoked tokens keep their names, so a name may have been reused).
pub fn find<'a>(tokens: &'a [Token], reference: &str, now: Timestamp) -> Result<&'a Token> {
    if let Some(t) = tokens.iter().find(|t| t.id.as_str() == reference) {
        return Ok(t);
    }
    let named: Vec<&Token> = tokens
        .iter()
        .filter(|t| t.name.as_str() == reference)
        .collect();
    let active: Vec<&Token> = named.iter().copied().filter(|t| t.is_active(now)).collect();
    match (active.as_slice(), named.as_slice()) {
        ([one], _) => Ok(one),
        ([], [one]) => Ok(one),
        ([], []) => Err(crate::StoreError::not_found(format!("token {reference}"))),
        (_, many) => Err(crate::StoreError::invalid(
            "token",
            format!(
                "`{reference}` names {} tokens ({}); give the id instead",
                many.len(),
                many.iter()
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Parses `--expires`: `90d`, `12h`, `2w`, `1y` from `now`, or a date `2027-01-31` (UTC
/// midnight); `never` for no expiry.
pub fn parse_expiry(text: &str, now: Timestamp) -> std::result::Result<Option<Timestamp>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let bad = || {
        format!(
            "`{text}` is not an expiry: use a duration such as 90d, 12h, 2w or 1y, a date such \
             as 2027-01-31, or never"
        )
    };
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let at = Timestamp::from_datetime(d.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc());
        if at <= now {
            return Err(format!("the expiry {t} is in the past"));
        }
        return Ok(Some(at));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let hours = match unit.to_ascii_lowercase().as_str() {
        "h" => 1,
        "d" => 24,
        "w" => 24 * 7,
        "y" => 24 * 365,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(format!("`{text}`: an expiry must be in the future"));
    }
    let ms = n
        .checked_mul(hours * 3_600_000)
        .and_then(|d| now.millis().checked_add(d))
        .ok_or_else(|| format!("`{text}` is too far in the future"))?;
    Timestamp::from_millis(ms)
        .map(Some)
        .ok_or_else(|| format!("`{text}` is too far in the future"))
}

/// Where a store keeps its API tokens. Every backend implements it, so a team on one
/// database shares its tokens; the JSON backend keeps them in a git-ignored file.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token. Refused (`Invalid`, naming `name`) when an active token already
    /// has its name.
    async fn insert_token(&self, token: &Token) -> Result<()>;

    /// Every token, revoked and expired ones too, oldest first.
    async fn list_tokens(&self) -> Result<Vec<Token>>;

    /// The token with this id, if any.
    async fn get_token(&self, id: &TokenId) -> Result<Option<Token>>;

    /// Marks the token revoked at `at`; `NotFound` for an unknown id. Revoking a revoked
    /// token keeps the first revocation time and returns `false`.
    async fn revoke_token(&self, id: &TokenId, at: Timestamp) -> Result<bool>;

    /// Records a use at `at` (only `last_used_at` changes).
    async fn touch_token(&self, id: &TokenId, at: Timestamp) -> Result<()>;

    /// Whether any token was ever created (revoked and expired ones count: revoking the last
    /// token must not open a server to everyone).
    async fn has_tokens(&self) -> Result<bool>;

    /// Where the tokens are kept, for messages.
    fn token_location(&self) -> String;
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn now() -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000).unwrap()
    }

    fn new(name: &str, role: Role) -> NewToken {
        NewToken {
            name: name.parse().unwrap(),
            role,
            scope: None,
            expires_at: None,
            created_by: Some("ann".into()),
        }
    }

    #[test]
    fn roles_include_the_lower_ones_and_parse_with_the_allowed_values_named() {
        assert!(Role::Admin.allows(Role::Editor));
        assert!(Role::Editor.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Editor));
        assert!(!Role::Editor.allows(Role::Admin));
        assert_eq!("Editor".parse::<Role>().unwrap(), Role::Editor);
        let e = "owner".parse::<Role>().unwrap_err();
        assert!(e.contains("viewer, editor or admin"), "{e}");
    }

    #[test]
    fn an_issued_secret_checks_against_its_record_only() {
        let mut rng = StdRng::seed_from_u64(7);
        let (t, secret) = issue(new("ci", Role::Editor), now(), &mut rng);
        let (id, parsed) = TokenSecret::parse(secret.expose()).unwrap();
        assert_eq!(id, t.id);
        assert_eq!(t.check(&parsed, now()), Ok(()));
        let (_, other) = issue(new("ci", Role::Editor), now(), &mut rng);
        assert_eq!(t.check(&other, now()), Err(Denied::Unknown));
        // The stored form holds the hash, never the secret.
        let json = serde_json::to_string(&t).unwrap();
        assert!(!json.contains(&secret.expose()[20..]), "{json}");
        assert_eq!(serde_json::from_str::<Token>(&json).unwrap(), t);
    }

    #[test]
    fn revoked_and_expired_tokens_are_refused_after_the_hash_matches() {
        let mut rng = StdRng::seed_from_u64(8);
        let (mut t, s) = issue(new("ci", Role::Viewer), now(), &mut rng);
        t.expires_at = Timestamp::from_millis(now().millis() + 1000);
        assert_eq!(t.check(&s, now()), Ok(()));
        let later = Timestamp::from_millis(now().millis() + 1000).unwrap();
        assert!(matches!(t.check(&s, later), Err(Denied::Expired(..))));
        assert!(!t.is_active(later));
        t.revoked_at = Some(now());
        assert_eq!(t.check(&s, now()), Err(Denied::Revoked("ci".into())));
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let mut rng = StdRng::seed_from_u64(9);
        let (t, s) = issue(new("ci", Role::Admin), now(), &mut rng);
        let tail = &s.expose()[21..];
        for text in [
            format!("{s:?}"),
            format!("{t:?}"),
            format!("{:?}", TokenSecret::parse(&format!("{}x", s.expose()))),
            MalformedToken.to_string(),
        ] {
            assert!(!text.contains(tail), "{text}");
        }
    }

    #[test]
    fn malformed_credentials_are_refused() {
        for bad in [
            "",
            "dlt_",
            "Bearer x",
            "dlt_0123456789abcdef",
            "dlt_0123456789ABCDEF_0000000000000000000000000000000000000000000000000000000000000000",
            "dlt_0123456789abcdef_000",
            "dlx_0123456789abcdef_0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(
                TokenSecret::parse(bad).unwrap_err(),
                MalformedToken,
                "{bad}"
            );
        }
    }

    #[test]
    fn expiries_parse_durations_dates_and_never() {
        let day = 24 * 3_600_000;
        assert_eq!(
            parse_expiry("90d", now()).unwrap().unwrap().millis(),
            now().millis() + 90 * day
        );
        assert_eq!(
            parse_expiry("12h", now()).unwrap().unwrap().millis(),
            now().millis() + 12 * 3_600_000
        );
        assert_eq!(parse_expiry("never", now()).unwrap(), None);
        assert_eq!(
            parse_expiry("2030-01-31", now())
                .unwrap()
                .unwrap()
                .to_string(),
            "2030-01-31T00:00:00.000Z"
        );
        for bad in ["90", "d", "5m", "0d", "2020-01-01", "99999999999999y"] {
            assert!(parse_expiry(bad, now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_checked_and_find_prefers_ids_then_active_names() {
        assert!("ci-bot_1.x@team".parse::<TokenName>().is_ok());
        for bad in ["", "-x", "a b", "ä", &"x".repeat(65)] {
            assert!(bad.parse::<TokenName>().is_err(), "{bad}");
        }
        let mut rng = StdRng::seed_from_u64(10);
        let (mut old, _) = issue(new("ci", Role::Viewer), now(), &mut rng);
        old.revoked_at = Some(now());
        let (fresh, _) = issue(new("ci", Role::Editor), now(), &mut rng);
        let all = vec![old.clone(), fresh.clone()];
        assert_eq!(find(&all, "ci", now()).unwrap().id, fresh.id);
        assert_eq!(find(&all, old.id.as_str(), now()).unwrap().id, old.id);
        assert!(find(&all, "nope", now()).is_err());
        let (other, _) = issue(new("ci", Role::Editor), now(), &mut rng);
        let e = find(&[fresh, other], "ci", now()).unwrap_err().to_string();
        assert!(e.contains("give the id"), "{e}");
    }

    #[test]
    fn last_use_is_recorded_at_most_once_a_minute() {
        let mut rng = StdRng::seed_from_u64(11);
        let (mut t, _) = issue(new("ci", Role::Viewer), now(), &mut rng);
        assert!(t.last_use_is_stale(now(), 60_000));
        t.last_used_at = Some(now());
        let soon = Timestamp::from_millis(now().millis() + 59_999).unwrap();
        assert!(!t.last_use_is_stale(soon, 60_000));
        let later = Timestamp::from_millis(now().millis() + 60_000).unwrap();
        assert!(t.last_use_is_stale(later, 60_000));
    }

    #[test]
    fn the_local_principal_is_admin_without_an_actor() {
        let p = Principal::local();
        assert!(p.allows(Role::Admin));
        assert_eq!(p.actor(), None);
    }

    #[test]
    fn roles_map_from_groups_then_verified_domains_then_default() {
        let m: RoleMapping = serde_json::from_value(serde_json::json!({
            "groups": {"devlog-admins": "admin", "devs": "editor"},
            "emailDomains": {"example.com": "viewer"},
        }))
        .unwrap();
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            m.role_for(&g(&["devs", "devlog-admins"]), None, false),
            Ok(Role::Admin)
        );
        assert_eq!(
            m.role_for(&g(&["devs"]), Some("a@Example.COM"), true),
            Ok(Role::Editor)
        );
        assert_eq!(
            m.role_for(&[], Some("a@example.com"), true),
            Ok(Role::Viewer)
        );
        let e = m
            .role_for(&g(&["other"]), Some("a@example.com"), false)
            .unwrap_err();
        assert!(
            e.to_string().contains("not verified") && e.to_string().contains("other"),
            "{e}"
        );
        let open = RoleMapping {
            default: Some(Role::Viewer),
            ..m
        };
        assert_eq!(open.role_for(&[], None, false), Ok(Role::Viewer));
    }
}
