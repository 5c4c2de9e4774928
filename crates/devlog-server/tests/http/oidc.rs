//! Single sign-on end to end (issue 20 item 2) against a real OpenID provider: the
//! `oidc-provider` npm package run by `crates/devlog-testkit/oidc/provider.mjs` (installed by
//! .ci/run; `DEVLOG_TEST_OIDC_PROVIDER` is its npm prefix). Without that variable every test
//! here says so and passes without running.
//!
//! The "browser" is a small cookie jar per origin that follows redirects by hand: devlog's
//! router in-process, the provider over HTTP. Bad ID tokens (tampered signature, wrong
//! audience or issuer, expired, wrong nonce, an unpublished key) are the provider's real
//! tokens altered by the script's token-endpoint hook, re-signed with the provider's own key
//! where a claim changes, so each refusal is the check it names.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use devlog_core::Devlog;
use devlog_core::audit::Stored;
use devlog_server::oidc::{OidcSettings, SESSION_COOKIE, Sso};
use devlog_server::{Server, ServerOptions};
use devlog_store::JsonStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::ServiceExt;

use crate::common::{FixedClock, Reply};

/// The redirect URL registered with the provider (the router is driven in-process, so no
/// server listens there: the test carries the callback over by hand, as a browser would).
const REDIRECT: &str = "http://127.0.0.1:7878/auth/callback";

struct Provider {
    _child: tokio::process::Child,
    issuer: String,
    http: reqwest::Client,
}

impl Provider {
    /// Starts the provider, or `None` (with a message) when the test kit is not installed.
    async fn start() -> Option<Self> {
        let Ok(prefix) = std::env::var("DEVLOG_TEST_OIDC_PROVIDER") else {
            eprintln!(
                "skipping: DEVLOG_TEST_OIDC_PROVIDER is not set (the npm prefix oidc-provider \
                 is installed in; .ci/run sets it)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../devlog-testkit/oidc/provider.mjs"
        );
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .arg(REDIRECT)
            .env("DEVLOG_TEST_OIDC_PROVIDER", prefix)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the test provider");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the provider prints `ready ISSUER`");
            if let Some(i) = line.strip_prefix("ready ") {
                break i.to_string();
            }
        };
        devlog_http::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Some(Self {
            _child: child,
            issuer,
            http,
        })
    }

    /// Who signs in next, and how the token endpoint alters the ID token.
    async fn configure(&self, user: Value, mode: &str) {
        let r = self
            .http
            .post(format!("{}/__test/config", self.issuer))
            .header("content-type", "application/json")
            .body(json!({"user": user, "mode": mode}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }

    fn settings(&self) -> OidcSettings {
        serde_json::from_value(json!({
            "issuer": self.issuer,
            "clientId": "devlog",
            "clientSecret": "devlog-test-client-secret",
            "redirectUrl": REDIRECT,
            "scopes": ["email", "profile", "groups"],
            "roles": {
                "groups": {"devs": "editor", "devlog-admins": "admin"},
                "emailDomains": {"readers.example": "viewer"},
            },
        }))
        .unwrap()
    }

    async fn server(&self) -> (tempfile::TempDir, Devlog, Router) {
        let sso = Sso::discover(&self.settings(), &[7u8; 48]).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::open(&dir.path().join(".devlog")).await.unwrap();
        let app = Devlog::with_clock(Arc::new(store), Arc::new(FixedClock));
        let router = Server::new(
            app.clone(),
            ServerOptions {
                sso: Some(Arc::new(sso)),
                ..ServerOptions::default()
            },
        )
        .router();
        (dir, app, router)
    }
}

fn alice(groups: &[&str]) -> Value {
    json!({"sub": "alice-sub", "email": "alice@example.com", "email_verified": true,
           "name": "Alice", "groups": groups})
}

/// A browser: a cookie jar for devlog and one for the provider.
struct Browser {
    router: Router,
    devlog: HashMap<String, String>,
    idp: HashMap<String, String>,
}

fn store_cookies(jar: &mut HashMap<String, String>, set_cookies: Vec<String>) {
    for c in set_cookies {
        let first = c.split(';').next().unwrap_or("");
        let Some((name, value)) = first.split_once('=') else {
            continue;
        };
        let gone =
            value.is_empty() || c.to_ascii_lowercase().contains("max-age=0") || c.contains("1970");
        if gone {
            jar.remove(name.trim());
        } else {
            jar.insert(name.trim().to_string(), value.to_string());
        }
    }
}

fn cookie_header(jar: &HashMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Browser {
    fn new(router: Router) -> Self {
        Self {
            router,
            devlog: HashMap::new(),
            idp: HashMap::new(),
        }
    }

    async fn devlog_request(&mut self, req: axum::http::request::Builder, body: Body) -> Reply {
        let req = req
            .header("cookie", cookie_header(&self.devlog))
            .body(body)
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let set: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        store_cookies(&mut self.devlog, set);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, uri: &str) -> Reply {
        self.devlog_request(Request::builder().uri(uri), Body::empty())
            .await
    }

    /// Starts a sign-in at devlog and follows the provider's redirects up to the callback
    /// URL, which it returns (path and query) without calling it.
    async fn callback_url(&mut self, p: &Provider, return_to: &str) -> String {
        let r = self.get(&format!("/auth/login?returnTo={return_to}")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let mut at = r.header("location").unwrap();
        assert!(at.starts_with(&p.issuer), "{at}");
        assert!(
            at.contains("code_challenge_method=S256") && at.contains("nonce="),
            "{at}"
        );
        for _ in 0..20 {
            if let Some(cb) = at.strip_prefix("http://127.0.0.1:7878") {
                return cb.to_string();
            }
            let url = if at.starts_with('/') {
                format!("{}{at}", p.issuer)
            } else {
                at.clone()
            };
            let res = p
                .http
                .get(&url)
                .header("cookie", cookie_header(&self.idp))
                .send()
                .await
                .unwrap();
            let set = res
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect();
            store_cookies(&mut self.idp, set);
            let status = res.status().as_u16();
            let loc = res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let Some(loc) = loc else {
                panic!(
                    "the provider answered {status} without a redirect: {}",
                    res.text().await.unwrap()
                );
            };
            at = loc;
        }
        panic!("too many redirects at the provider");
    }

    /// A full sign-in; the callback's reply. The provider's redirect is a cross-site
    /// navigation, which a browser marks as such.
    async fn sign_in(&mut self, p: &Provider, return_to: &str) -> Reply {
        let cb = self.callback_url(p, return_to).await;
        self.devlog_request(
            Request::builder()
                .uri(&cb)
                .header("host", "127.0.0.1:7878")
                .header("sec-fetch-site", "cross-site")
                .header("sec-fetch-mode", "navigate"),
            Body::empty(),
        )
        .await
    }

    fn signed_in(&self) -> bool {
        self.devlog.contains_key(SESSION_COOKIE)
    }
}

fn form(uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", "application/x-www-form-urlencoded")
}

fn json_req(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
}

/// The CSRF token of a dashboard page (its `<meta name="csrf-token">`).
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf-token\" content=\"")
        .expect("a signed-in page carries its CSRF token");
    let rest = &page[at + "name=\"csrf-token\" content=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_full_sign_in_maps_groups_to_a_role_that_the_same_checks_apply_to() {
    let Some(p) = Provider::start().await else {
        return;
    };
    let (_dir, app, router) = p.server().await;
    let mut b = Browser::new(router);

    // Without a session: pages go to sign-in, the API answers 401.
    let r = b.get("/entries?status=open").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location").unwrap(),
        "/auth/login?returnTo=/entries%3Fstatus%3Dopen"
    );
    let r = b.get("/api/v1/entries").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(
        r.json()["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("/auth/login")
    );

    p.configure(alice(&["devs"]), "normal").await;
    let r = b.sign_in(&p, "/entries").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").unwrap(), "/entries");
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Max-Age=28800"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "an http redirect URL: no Secure flag: {cookie}"
    );
    assert!(!cookie.contains("alice"), "the session is sealed: {cookie}");
    assert!(
        !b.devlog.contains_key("devlog_login"),
        "the login cookie is gone"
    );

    // The dashboard shows who is signed in, with a sign-out form.
    let page = b.get("/entries").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("Signed in as <strong>alice@example.com</strong> (editor)"),
        "{html}"
    );
    assert!(html.contains("action=\"/auth/logout\""));
    let csrf = csrf_of(&html);

    // The same role checks as a bearer token: the editor reads, and the admin paths are 403
    // naming both roles.
    assert_eq!(b.get("/api/v1/entries").await.status, StatusCode::OK);
    let r = b.get("/api/v1/audit").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("needs the admin role")
            && msg.contains("signed-in user `alice-sub` has the editor role"),
        "{msg}"
    );

    // A write with the cookie needs the CSRF token; with it, the subject is the actor.
    let body = json!({"title": "From SSO", "type": "task"}).to_string();
    let r = b
        .devlog_request(
            json_req(Method::POST, "/api/v1/entries"),
            Body::from(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.class(), "csrf");
    let r = b
        .devlog_request(
            json_req(Method::POST, "/api/v1/entries").header("x-csrf-token", "wrong"),
            Body::from(body.clone()),
        )
        .await;
    assert_eq!(r.class(), "csrf");
    // The dashboard's Run button for a workflow sends a write like the other forms.
    let r = b
        .devlog_request(
            json_req(Method::POST, "/api/v1/workflows/triage/run"),
            Body::from("{}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.class(), "csrf");
    assert!(
        app.store()
            .list(&devlog_core::ListQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let r = b
        .devlog_request(
            json_req(Method::POST, "/api/v1/entries").header("x-csrf-token", &csrf),
            Body::from(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let records = app
        .store()
        .audit_log()
        .unwrap()
        .audit_page(0, 10)
        .await
        .unwrap();
    let Some(Stored::Record(rec)) = records.first() else {
        panic!("{records:?}");
    };
    assert_eq!(rec.actor.as_deref(), Some("alice-sub"));

    // A cross-site page cannot use the session: the guard refuses it before anything else.
    let r = b
        .devlog_request(
            json_req(Method::POST, "/api/v1/entries")
                .header("host", "127.0.0.1:7878")
                .header("origin", "https://evil.example")
                .header("x-csrf-token", &csrf),
            Body::from(json!({"title": "x", "type": "task"}).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("cross-origin"), "{}", r.text());
    let r = b
        .devlog_request(
            form("/auth/logout").header("sec-fetch-site", "cross-site"),
            Body::from(format!("csrf={csrf}")),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a cross-site sign-out is refused"
    );
    assert!(b.signed_in());

    // Sign-out needs the token too, then ends the session.
    let r = b
        .devlog_request(form("/auth/logout"), Body::from("csrf=nope"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(b.signed_in());
    let r = b
        .devlog_request(form("/auth/logout"), Body::from(format!("csrf={csrf}")))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").unwrap(), "/auth/logout");
    assert!(!b.signed_in());
    assert!(b.get("/auth/logout").await.text().contains("signed out"));
    assert_eq!(
        b.get("/api/v1/entries").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn admins_and_verified_domains_get_their_roles_and_unmapped_users_none() {
    let Some(p) = Provider::start().await else {
        return;
    };
    let (_dir, _app, router) = p.server().await;

    let mut admin = Browser::new(router.clone());
    p.configure(alice(&["devs", "devlog-admins"]), "normal")
        .await;
    assert_eq!(admin.sign_in(&p, "/").await.status, StatusCode::SEE_OTHER);
    // Past the admin check (an editor gets 403 there): no GET route is mounted at the admin
    // path itself, so 404.
    let r = admin.get("/api/v1/audit").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    let mut reader = Browser::new(router.clone());
    p.configure(
        json!({"sub": "rita", "email": "rita@readers.example", "email_verified": true, "groups": []}),
        "normal",
    )
    .await;
    assert_eq!(reader.sign_in(&p, "/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(reader.get("/api/v1/entries").await.status, StatusCode::OK);
    let r = reader
        .devlog_request(json_req(Method::POST, "/api/v1/entries"), Body::from("{}"))
        .await;
    // The CSRF check comes first; with the token, the viewer is refused by role.
    assert_eq!(r.class(), "csrf");
    let csrf = csrf_of(&reader.get("/").await.text());
    let r = reader
        .devlog_request(
            json_req(Method::POST, "/api/v1/entries").header("x-csrf-token", csrf),
            Body::from(json!({"title": "x", "type": "task"}).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("needs the editor role"), "{}", r.text());

    // An unverified address of a mapped domain gives no role; nor does an unmapped group.
    for user in [
        json!({"sub": "eve", "email": "eve@readers.example", "email_verified": false, "groups": []}),
        json!({"sub": "bob", "email": "bob@elsewhere.example", "email_verified": true, "groups": ["others"]}),
    ] {
        let mut b = Browser::new(router.clone());
        p.configure(user, "normal").await;
        let r = b.sign_in(&p, "/").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
        assert!(r.text().contains("no role for this user"), "{}", r.text());
        assert!(!b.signed_in());
    }
}

#[tokio::test]
async fn bad_id_tokens_are_refused_and_open_no_session() {
    let Some(p) = Provider::start().await else {
        return;
    };
    let (_dir, _app, router) = p.server().await;
    for (mode, says) in [
        ("bad-signature", "signature does not verify"),
        ("wrong-audience", "another client"),
        ("wrong-issuer", "another issuer"),
        ("expired", "has expired"),
        ("wrong-nonce", "nonce"),
        ("unknown-key", "key the provider does not publish"),
    ] {
        let mut b = Browser::new(router.clone());
        p.configure(alice(&["devs"]), mode).await;
        let r = b.sign_in(&p, "/").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{mode}: {}", r.text());
        assert_eq!(r.class(), "sign-in-refused", "{mode}");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(says), "{mode}: {msg}");
        assert!(!b.signed_in(), "{mode}");
        assert_eq!(
            b.get("/api/v1/entries").await.status,
            StatusCode::UNAUTHORIZED,
            "{mode}"
        );
    }
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_from_the_jwks_again() {
    let Some(p) = Provider::start().await else {
        return;
    };
    let (_dir, _app, router) = p.server().await;
    let mut b = Browser::new(router);
    // Signed with kid k2, which the provider publishes only from now on (devlog cached k1).
    p.configure(alice(&["devs"]), "rotated").await;
    let r = b.sign_in(&p, "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(b.signed_in());
    assert_eq!(b.get("/api/v1/entries").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_code_a_wrong_state_and_a_missing_login_are_refused() {
    let Some(p) = Provider::start().await else {
        return;
    };
    let (_dir, _app, router) = p.server().await;
    p.configure(alice(&["devs"]), "normal").await;

    // Wrong state: the callback's `state` changed.
    let mut b = Browser::new(router.clone());
    let cb = b.callback_url(&p, "/").await;
    let forged = cb.replace("state=", "state=x");
    let r = b.get(&forged).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("`state`"), "{}", r.text());
    assert!(!b.signed_in());

    // No sign-in in progress in this browser (a callback URL from elsewhere).
    let mut other = Browser::new(router.clone());
    let r = other.get(&cb).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("no sign-in is in progress"),
        "{}",
        r.text()
    );

    // Replayed code: the same callback, with the same login cookie, a second time.
    let mut b = Browser::new(router.clone());
    let cb = b.callback_url(&p, "/").await;
    let login_cookie = b.devlog.clone();
    assert_eq!(b.get(&cb).await.status, StatusCode::SEE_OTHER);
    assert!(b.signed_in());
    let mut replay = Browser::new(router);
    replay.devlog = login_cookie;
    let r = replay.get(&cb).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("refused the authorization code: invalid_grant"),
        "{msg}"
    );
    assert!(!replay.signed_in());
}

#[tokio::test]
async fn a_forged_session_cookie_is_no_session() {
    let Some(p) = Provider::start().await else {
        return;
    };
    let (_dir, _app, router) = p.server().await;
    let mut b = Browser::new(router);
    b.devlog.insert(
        SESSION_COOKIE.into(),
        r#"{"sub":"mallory","label":"m","role":"admin","csrf":"x","expires":99999999999}"#.into(),
    );
    assert_eq!(
        b.get("/api/v1/audit").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER);
}
