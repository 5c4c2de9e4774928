//! Database URLs that carry secrets: the password never reaches `Debug`, `Display`, logs or
//! error messages; only [`DbUrl::expose`] hands the real URL to the driver.

use std::fmt;

use devlog_core::error::{Result, StoreError};

/// What replaces a password (or another secret parameter) in anything shown to people.
pub const REDACTED: &str = "***";

/// Query parameters whose values are secrets in PostgreSQL and MySQL connection URLs.
const SECRET_PARAMS: &[&str] = &["password", "pass", "pwd", "sslpassword"];

/// A connection URL for a server backend. Compares by the full URL; shows itself redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    raw: String,
    shown: String,
}

impl DbUrl {
    /// Wraps `url` after a basic shape check (`scheme://...`).
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        let shown = redact_url(url);
        if !url.contains("://") {
            return Err(StoreError::invalid(
                "storage.url",
                format!(
                    "`{shown}` is not a database URL; write it like \
                     postgres://user:password@host:5432/database or mysql://user:password@host:3306/database"
                ),
            ));
        }
        Ok(Self {
            raw: url.to_string(),
            shown,
        })
    }

    /// The real URL, secrets included: only for handing to the database driver.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.shown
    }

    /// The part before `://`, lowercased.
    pub fn scheme(&self) -> String {
        self.raw
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The same URL with another scheme (`mariadb://` is read as `mysql://`).
    pub fn with_scheme(&self, scheme: &str) -> Self {
        match self.raw.split_once("://") {
            Some((_, rest)) => Self {
                raw: format!("{scheme}://{rest}"),
                shown: redact_url(&format!("{scheme}://{rest}")),
            },
            None => self.clone(),
        }
    }

    /// The database name (the URL's path), if any.
    pub fn database(&self) -> Option<&str> {
        let (_, path, _) = split(&self.raw);
        let db = path.trim_start_matches('/');
        (!db.is_empty()).then_some(db)
    }

    /// The same server with another database, e.g. for per-test databases.
    pub fn with_database(&self, name: &str) -> Self {
        let (head, _, query) = split(&self.raw);
        let raw = format!("{head}/{name}{query}");
        Self {
            shown: redact_url(&raw),
            raw,
        }
    }

    /// `text` with every occurrence of this URL replaced by its redacted form and of its
    /// password by `***`: a last line of defence for messages that come from drivers.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(&self.raw, &self.shown);
        if let Some(p) = password(&self.raw) {
            // Very short passwords would turn every message into noise; no driver message seen
            // so far echoes a password at all, so this only guards against a future one.
            if p.chars().count() >= 4 {
                out = out.replace(p, REDACTED);
                let decoded = percent_decode(p);
                if decoded != p {
                    out = out.replace(&decoded, REDACTED);
                }
            }
        }
        out
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({:?})", self.shown)
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Splits `scheme://authority` | `/path` | `?query#fragment`. The authority ends at the last
/// `@` before the query (so a `/` or `@` inside an unencoded password stays in it) and then at
/// the first `/`.
fn split(url: &str) -> (&str, &str, &str) {
    let start = url.find("://").map(|i| i + 3).unwrap_or(0);
    let query_at = url[start..]
        .find(['?', '#'])
        .map(|i| i + start)
        .unwrap_or(url.len());
    let host_from = url[start..query_at]
        .rfind('@')
        .map(|i| i + start + 1)
        .unwrap_or(start);
    let path_at = url[host_from..query_at]
        .find('/')
        .map(|i| i + host_from)
        .unwrap_or(query_at);
    (&url[..path_at], &url[path_at..query_at], &url[query_at..])
}

/// The password in the user-info part, if there is one.
fn password(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let (head, _, _) = split(url);
    let userinfo = &head[start..head[start..].rfind('@')? + start];
    let (_, pass) = userinfo.split_once(':')?;
    (!pass.is_empty()).then_some(pass)
}

/// `url` with the password of its user-info and the values of secret query parameters
/// (`password=`, ...) replaced by `***`. Works on anything; text that is not a URL comes back
/// with only `password=...`-style values replaced.
pub fn redact_url(url: &str) -> String {
    if !url.contains("://") {
        // A key/value connection string (`host=... password=...`) or plain text.
        return redact_params(url);
    }
    let (head, path, query) = split(url);
    let mut out = String::with_capacity(url.len());
    match (head.find("://"), password(url)) {
        (Some(i), Some(_)) => {
            let start = i + 3;
            let at = head[start..].rfind('@').map(|j| j + start).unwrap_or(start);
            let user_end = head[start..at].find(':').map(|j| j + start).unwrap_or(at);
            out.push_str(&head[..user_end]);
            out.push(':');
            out.push_str(REDACTED);
            out.push_str(&head[at..]);
        }
        _ => out.push_str(head),
    }
    out.push_str(path);
    out.push_str(&redact_params(query));
    out
}

/// Replaces the values of secret `key=value` pairs (separated by `&`, `?`, `;` or spaces).
fn redact_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(['&', '?', ';', ' ', '#']).unwrap_or(rest.len());
        let (part, tail) = rest.split_at(end);
        match part.split_once('=') {
            Some((k, v))
                if !v.is_empty()
                    && SECRET_PARAMS
                        .iter()
                        .any(|s| k.trim().eq_ignore_ascii_case(s)) =>
            {
                out.push_str(k);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(part),
        }
        let mut chars = tail.chars();
        if let Some(sep) = chars.next() {
            out.push(sep);
        }
        rest = chars.as_str();
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_every_form() {
        let cases = [
            (
                "postgres://alice:s3cret@db.example:5432/devlog",
                "postgres://alice:***@db.example:5432/devlog",
            ),
            (
                "mysql://root:p%40ss@127.0.0.1/test?ssl-mode=required",
                "mysql://root:***@127.0.0.1/test?ssl-mode=required",
            ),
            // An unencoded `@` or `/` in the password stays inside the redacted part.
            ("postgres://bob:a@b/c@host/db", "postgres://bob:***@host/db"),
            (
                "postgres://host/db?user=x&password=hunter22&sslmode=require",
                "postgres://host/db?user=x&password=***&sslmode=require",
            ),
            ("postgres://carol@host/db", "postgres://carol@host/db"),
            ("postgres://:pw@host/db", "postgres://:***@host/db"),
            (
                "mysql://root@127.0.0.1:3306/test",
                "mysql://root@127.0.0.1:3306/test",
            ),
            (
                "host=db user=u password=pw dbname=d",
                "host=db user=u password=*** dbname=d",
            ),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn debug_display_and_scrub_never_show_the_password() {
        let u = DbUrl::parse("postgres://alice:hunter22@localhost/devlog").unwrap();
        for shown in [
            format!("{u}"),
            format!("{u:?}"),
            u.scrub("error connecting to postgres://alice:hunter22@localhost/devlog: hunter22"),
        ] {
            assert!(!shown.contains("hunter22"), "{shown}");
            assert!(shown.contains("alice"), "{shown}");
        }
        assert_eq!(u.expose(), "postgres://alice:hunter22@localhost/devlog");
        assert_eq!(u.database(), Some("devlog"));
        let other = u.with_database("t_1");
        assert_eq!(other.expose(), "postgres://alice:hunter22@localhost/t_1");
        assert_eq!(other.redacted(), "postgres://alice:***@localhost/t_1");
        let q = DbUrl::parse("mariadb://root@h:3306/test?x=1").unwrap();
        assert_eq!(q.with_database("t").expose(), "mariadb://root@h:3306/t?x=1");
        assert_eq!(
            q.with_scheme("mysql").expose(),
            "mysql://root@h:3306/test?x=1"
        );
        assert_eq!(q.scheme(), "mariadb");
    }

    #[test]
    fn non_urls_are_rejected_without_echoing_secrets() {
        let e = DbUrl::parse("user=u password=topsecret")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("topsecret") && e.contains("postgres://"), "{e}");
    }
}
