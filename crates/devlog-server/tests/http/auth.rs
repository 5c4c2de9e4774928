//! Authentication and roles (issue 20): API tokens on every route group (REST entries, sync,
//! reports, the audit path, the event stream, MCP over HTTP, the dashboard), 401 and 403
//! with what to do, revoked and expired tokens, the token's name as the actor, the bind
//! policy and `--insecure-no-auth`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use devlog_core::audit::Stored;
use devlog_core::auth::{NewToken, Role, TokenSecret, issue};
use devlog_core::{Devlog, Store, Timestamp};
use devlog_server::auth::AuthMode;
use devlog_server::{Listener, ServeError, Server, ServerOptions};
use devlog_store::JsonStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{FixedClock, Harness, Reply, req};

fn now() -> Timestamp {
    devlog_core::Clock::now(&FixedClock)
}

/// A harness (MCP on) whose store holds a viewer, an editor and an admin token.
struct Authed {
    h: Harness,
    viewer: TokenSecret,
    editor: TokenSecret,
    admin: TokenSecret,
}

async fn add_token(
    store: &dyn Store,
    name: &str,
    role: Role,
    expires: Option<Timestamp>,
) -> TokenSecret {
    let (t, s) = issue(
        NewToken {
            name: name.parse().unwrap(),
            role,
            scope: None,
            expires_at: expires,
            created_by: None,
        },
        now(),
        &mut rand::rng(),
    );
    store.tokens().unwrap().insert_token(&t).await.unwrap();
    s
}

async fn authed(options: ServerOptions) -> Authed {
    let dir = tempfile::tempdir().unwrap();
    let store = JsonStore::open(&dir.path().join(".devlog")).await.unwrap();
    let app = Devlog::with_clock(Arc::new(store), Arc::new(FixedClock));
    let viewer = add_token(app.store().as_ref(), "viewer", Role::Viewer, None).await;
    let editor = add_token(app.store().as_ref(), "editor", Role::Editor, None).await;
    let admin = add_token(app.store().as_ref(), "admin", Role::Admin, None).await;
    Authed {
        h: Harness::over(app, options, dir),
        viewer,
        editor,
        admin,
    }
}

/// Sends a request with an optional bearer token; reads the body unless it is an event stream.
async fn call(
    h: &Harness,
    method: Method,
    uri: &str,
    token: Option<&TokenSecret>,
    body: Option<Value>,
) -> Reply {
    let mut b = req(method.clone(), uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {}", t.expose()));
    }
    if uri == "/mcp" {
        b = b
            .header("accept", "application/json, text/event-stream")
            .header("host", "127.0.0.1");
    }
    let request = match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string())),
        None if method == Method::POST => b
            .header("content-type", "application/json")
            .body(Body::empty()),
        None => b.body(Body::empty()),
    }
    .unwrap();
    let res = h.router.clone().oneshot(request).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let streaming = headers
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"))
        && uri != "/mcp";
    let body = if streaming {
        Default::default() // the live stream never ends; its status is what matters here
    } else {
        res.into_body().collect().await.unwrap().to_bytes()
    };
    Reply {
        status,
        headers,
        body,
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"devlog-test","version":"1"}}}"#;

/// One sample per route group: method, path, body, the role it needs.
fn samples(entry: &str) -> Vec<(Method, String, Option<Value>, Role)> {
    let e = |p: &str| p.replace("{ref}", entry);
    vec![
        (Method::GET, "/api/v1/entries".into(), None, Role::Viewer),
        (Method::GET, e("/api/v1/entries/{ref}"), None, Role::Viewer),
        (
            Method::POST,
            "/api/v1/entries".into(),
            Some(json!({"title": "By token", "type": "task"})),
            Role::Editor,
        ),
        (
            Method::POST,
            e("/api/v1/entries/{ref}/notes"),
            Some(json!({"content": "noted"})),
            Role::Editor,
        ),
        (Method::GET, "/api/v1/search?q=x".into(), None, Role::Viewer),
        (
            Method::GET,
            "/api/v1/reports/counts".into(),
            None,
            Role::Viewer,
        ),
        (Method::GET, "/api/v1/events".into(), None, Role::Viewer),
        (
            Method::GET,
            "/api/v1/events/stream".into(),
            None,
            Role::Viewer,
        ),
        (
            Method::POST,
            "/api/v1/sync/conflicts/1/resolve".into(),
            Some(json!({"side": "local"})),
            Role::Editor,
        ),
        (Method::GET, "/api/v1/audit".into(), None, Role::Admin),
        (
            Method::POST,
            "/api/v1/bulk".into(),
            Some(json!({})),
            Role::Admin,
        ),
        (Method::GET, "/api/v1/health".into(), None, Role::Viewer),
        (
            Method::POST,
            "/mcp".into(),
            Some(serde_json::from_str(INITIALIZE).unwrap()),
            Role::Viewer,
        ),
        (
            Method::POST,
            "/mcp".into(),
            Some(json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
                        "params":{"name":"list_devlogs","arguments":{}}})),
            Role::Viewer,
        ),
        (
            Method::POST,
            "/mcp".into(),
            Some(json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
                        "params":{"name":"create_devlog","arguments":{"title":"x","type":"task","description":"d"}}})),
            Role::Editor,
        ),
        (
            Method::POST,
            "/mcp".into(),
            Some(json!({"jsonrpc":"2.0","id":4,"method":"tools/call",
                        "params":{"name":"bulk_update","arguments":{"action":{"tag":["x"]},"all":true,"dryRun":true}}})),
            Role::Admin,
        ),
        (Method::GET, "/".into(), None, Role::Viewer),
        (Method::GET, "/board".into(), None, Role::Viewer),
        (Method::GET, e("/entries/{ref}"), None, Role::Viewer),
    ]
}

#[tokio::test]
async fn each_route_group_answers_401_403_or_serves_by_role() {
    let a = authed(ServerOptions::default()).await;
    let entry =
        a.h.app
            .create(
                devlog_core::ops::NewEntry {
                    title: "Seed".into(),
                    kind: Some(devlog_core::EntryType::Task),
                    ..Default::default()
                },
                &devlog_core::WriteMeta::new(devlog_core::Origin::Cli),
            )
            .await
            .unwrap()
            .into_entry();
    let handle = entry.handle.to_string();
    for (method, path, body, needed) in samples(&handle) {
        let none = call(&a.h, method.clone(), &path, None, body.clone()).await;
        assert_eq!(
            none.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            none.text()
        );
        assert_eq!(
            none.header("www-authenticate").as_deref(),
            Some("Bearer realm=\"devlog\""),
            "{method} {path}"
        );
        assert_eq!(none.class(), "unauthorized");
        for (role, token) in [
            (Role::Viewer, &a.viewer),
            (Role::Editor, &a.editor),
            (Role::Admin, &a.admin),
        ] {
            let r = call(&a.h, method.clone(), &path, Some(token), body.clone()).await;
            if role.allows(needed) {
                assert!(
                    r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {} {}",
                    r.status,
                    r.text()
                );
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
                let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
                assert!(
                    msg.contains(&format!("needs the {needed} role"))
                        && msg.contains(&format!("has the {role} role")),
                    "{msg}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_documented_route_needs_credentials_once_a_token_exists() {
    let a = authed(ServerOptions::default()).await;
    let doc = call(
        &a.h,
        Method::GET,
        "/api/v1/openapi.json",
        Some(&a.viewer),
        None,
    )
    .await
    .json();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m: Method = method.to_uppercase().parse().unwrap();
            let uri = path
                .replace("{ref}", "1")
                .replace("{name}", "counts")
                .replace("{id}", "1")
                .replace("{key}", "m1")
                .replace("{worklog}", "1")
                .replace("{note}", "1")
                .replace("{other}", "2")
                .replace("{kind}", "blocks")
                .replace("{index}", "0");
            let uri = regex_free_fill(&uri);
            let r = call(&a.h, m.clone(), &uri, None, None).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri}: {}",
                r.text()
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} operations");
    // Unknown paths too: nothing is learned about the server without credentials.
    let r = call(&a.h, Method::GET, "/nope", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// Replaces any `{param}` left in a path with `x`.
fn regex_free_fill(p: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in p.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('x');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn revoked_expired_unknown_and_malformed_tokens_are_refused_without_echoing_them() {
    let a = authed(ServerOptions::default()).await;
    let store = a.h.app.store().clone();
    let tokens = store.tokens().unwrap();
    let expired = add_token(
        store.as_ref(),
        "old",
        Role::Admin,
        Timestamp::from_millis(now().millis() - 1),
    )
    .await;
    // A secret for the editor's id that is not the editor's: the hash comparison refuses it.
    let (editor_id, _) = TokenSecret::parse(a.editor.expose()).unwrap();
    let forged = format!("dlt_{editor_id}_{}", "0".repeat(64));
    let revoked = add_token(store.as_ref(), "gone", Role::Admin, None).await;
    let (gone_id, _) = TokenSecret::parse(revoked.expose()).unwrap();
    tokens.revoke_token(&gone_id, now()).await.unwrap();
    for (credential, says) in [
        (
            format!("Bearer {}", expired.expose()),
            "token `old` expired",
        ),
        (
            format!("Bearer {}", revoked.expose()),
            "token `gone` was revoked",
        ),
        (format!("Bearer {forged}"), "does not match any token"),
        ("Bearer dlt_nonsense".to_string(), "not a devlog token"),
        ("Basic dXNlcjpwYXNz".to_string(), "not `Bearer <token>`"),
    ] {
        let r =
            a.h.send(
                req(Method::GET, "/api/v1/entries")
                    .header("authorization", &credential)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{credential}");
        let text = r.text();
        assert!(text.contains(says), "{credential}: {text}");
        let secret_part = credential.rsplit('_').next().unwrap();
        assert!(
            secret_part.len() < 20 || !text.contains(secret_part),
            "the credential is echoed: {text}"
        );
    }
}

#[tokio::test]
async fn writes_record_the_token_name_not_the_claimed_actor_and_last_use_is_stored() {
    let a = authed(ServerOptions::default()).await;
    let r =
        a.h.send(
            req(Method::POST, "/api/v1/entries")
                .header("authorization", format!("Bearer {}", a.editor.expose()))
                .header("content-type", "application/json")
                .header("x-devlog-actor", "someone-else")
                .body(Body::from(r#"{"title":"Tokened","type":"task"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let store = a.h.app.store();
    let records = store.audit_log().unwrap().audit_page(0, 10).await.unwrap();
    let Some(Stored::Record(rec)) = records.first() else {
        panic!("{records:?}");
    };
    assert_eq!(rec.actor.as_deref(), Some("editor"));
    // The last use is written in the background, at most once a minute.
    let (id, _) = TokenSecret::parse(a.editor.expose()).unwrap();
    let mut used = None;
    for _ in 0..200 {
        used = store
            .tokens()
            .unwrap()
            .get_token(&id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at;
        if used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(used, Some(now()));
}

#[tokio::test]
async fn mcp_tool_calls_over_http_act_as_the_token() {
    let a = authed(ServerOptions::default()).await;
    let init = call(
        &a.h,
        Method::POST,
        "/mcp",
        Some(&a.editor),
        Some(serde_json::from_str(INITIALIZE).unwrap()),
    )
    .await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.text());
    let session = init.header("mcp-session-id").expect("a session");
    let send = |body: Value, token: &TokenSecret| {
        a.h.send(
            req(Method::POST, "/mcp")
                .header("authorization", format!("Bearer {}", token.expose()))
                .header("accept", "application/json, text/event-stream")
                .header("host", "127.0.0.1")
                .header("content-type", "application/json")
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", "2025-06-18")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
    };
    let r = send(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        &a.editor,
    )
    .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    let call_create = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{
        "name":"create_devlog","arguments":{"title":"Via MCP","type":"task","description":"d"}}});
    // A viewer on the same session cannot write.
    let r = send(call_create.clone(), &a.viewer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = send(call_create, &a.editor).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("Via MCP"), "{}", r.text());
    let records =
        a.h.app
            .store()
            .audit_log()
            .unwrap()
            .audit_page(0, 10)
            .await
            .unwrap();
    let Some(Stored::Record(rec)) = records.first() else {
        panic!("{records:?}");
    };
    assert_eq!(rec.origin, devlog_core::Origin::Mcp);
    assert_eq!(rec.actor.as_deref(), Some("editor"));
}

#[tokio::test]
async fn a_loopback_server_without_tokens_stays_open_until_the_first_token() {
    let h = Harness::new().await;
    let r = h.get("/api/v1/entries").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(h.get("/api/v1/health").await.json()["auth"], "auto");
    let secret = add_token(h.app.store().as_ref(), "first", Role::Viewer, None).await;
    let r = h.get("/api/v1/entries").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    // Revoking every token does not open it again.
    let (id, _) = TokenSecret::parse(secret.expose()).unwrap();
    h.app
        .store()
        .tokens()
        .unwrap()
        .revoke_token(&id, now())
        .await
        .unwrap();
    assert_eq!(
        h.get("/api/v1/entries").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn auth_required_refuses_even_before_any_token() {
    let h = Harness::with_options(ServerOptions {
        mcp: false,
        auth: AuthMode::Required,
        ..ServerOptions::default()
    })
    .await;
    assert_eq!(
        h.get("/api/v1/entries").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn insecure_no_auth_serves_everyone_and_says_so_in_health() {
    let a = authed(ServerOptions {
        auth: AuthMode::Disabled,
        ..ServerOptions::default()
    })
    .await;
    let r = a.h.get("/api/v1/entries").await;
    assert_eq!(r.status, StatusCode::OK);
    let health = a.h.get("/api/v1/health").await.json();
    assert_eq!(health["auth"], "disabled");
    assert!(
        health["warnings"]
            .to_string()
            .contains("authentication is DISABLED"),
        "{health}"
    );
}

#[tokio::test]
async fn an_allowed_public_host_works_with_a_token() {
    let a = authed(ServerOptions {
        allowed_hosts: vec!["devlog.example.com".into()],
        ..ServerOptions::default()
    })
    .await;
    let send = |host: &'static str, token: Option<&TokenSecret>| {
        let mut b = req(Method::GET, "/api/v1/entries").header("host", host);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {}", t.expose()));
        }
        a.h.send(b.body(Body::empty()).unwrap())
    };
    assert_eq!(
        send("devlog.example.com", Some(&a.viewer)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send("devlog.example.com", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The guard still refuses hosts nobody allowed, token or not.
    assert_eq!(
        send("evil.example", Some(&a.viewer)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_scoped_token_works_only_for_its_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(JsonStore::open(&dir.path().join(".devlog")).await.unwrap());
    let (t, s) = issue(
        NewToken {
            name: "scoped".parse().unwrap(),
            role: Role::Viewer,
            scope: Some("alpha".into()),
            expires_at: None,
            created_by: None,
        },
        now(),
        &mut rand::rng(),
    );
    store.tokens().unwrap().insert_token(&t).await.unwrap();
    for (workspace, status) in [("alpha", StatusCode::OK), ("beta", StatusCode::FORBIDDEN)] {
        let router = Server::new(
            Devlog::new(store.clone()),
            ServerOptions {
                mcp: false,
                workspace: Some(workspace.into()),
                ..ServerOptions::default()
            },
        )
        .router();
        let res = router
            .oneshot(
                req(Method::GET, "/api/v1/entries")
                    .header("authorization", format!("Bearer {}", s.expose()))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{workspace}");
    }
}

#[tokio::test]
async fn a_non_loopback_bind_needs_an_active_token_or_insecure_no_auth() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(JsonStore::open(&dir.path().join(".devlog")).await.unwrap());
    let any: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    let e = Listener::bind_checked(any, store.as_ref(), AuthMode::Auto, now())
        .await
        .unwrap_err();
    assert!(matches!(e, ServeError::NotLoopback(_)), "{e}");
    let msg = e.to_string();
    for says in ["devlog token create", "--insecure-no-auth", "[server] auth"] {
        assert!(msg.contains(says), "{msg}");
    }
    // Loopback is always fine.
    Listener::bind_checked(
        "127.0.0.1:0".parse().unwrap(),
        store.as_ref(),
        AuthMode::Auto,
        now(),
    )
    .await
    .unwrap();
    // --insecure-no-auth binds anyway.
    Listener::bind_checked(any, store.as_ref(), AuthMode::Disabled, now())
        .await
        .unwrap();
    // An expired token is not authentication; an active one is.
    add_token(
        store.as_ref(),
        "old",
        Role::Admin,
        Timestamp::from_millis(now().millis() - 1),
    )
    .await;
    assert!(
        Listener::bind_checked(any, store.as_ref(), AuthMode::Auto, now())
            .await
            .is_err()
    );
    add_token(store.as_ref(), "ops", Role::Admin, None).await;
    let l = Listener::bind_checked(any, store.as_ref(), AuthMode::Auto, now())
        .await
        .unwrap();
    assert!(l.local_addr().ip().is_unspecified());
}
