//! The OpenAPI document describes exactly the routes the server has.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use devlog_server::{Server, ServerOptions};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::common::{Harness, req};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// The endpoints the server promises (docs/http-api.md); the document must have each.
const PROMISED: &[(&str, &str)] = &[
    ("get", "/api/v1/workflows"),
    ("post", "/api/v1/workflows/{name}/run"),
    ("get", "/api/v1/workflows/runs"),
    ("get", "/api/v1/workflows/runs/{id}"),
    ("post", "/api/v1/workflows/runs/run"),
    ("get", "/api/v1/entries"),
    ("post", "/api/v1/entries"),
    ("get", "/api/v1/entries/{ref}"),
    ("patch", "/api/v1/entries/{ref}"),
    ("delete", "/api/v1/entries/{ref}"),
    ("post", "/api/v1/entries/{ref}/notes"),
    ("post", "/api/v1/entries/{ref}/decisions"),
    ("post", "/api/v1/entries/{ref}/complete"),
    ("post", "/api/v1/entries/{ref}/transition"),
    ("post", "/api/v1/entries/{ref}/insights"),
    ("get", "/api/v1/insights"),
    ("post", "/api/v1/sync/conflicts/{id}/resolve"),
    ("post", "/api/v1/bulk"),
    ("post", "/api/v1/audit/checkpoint"),
    ("get", "/api/v1/audit/verify"),
    ("post", "/api/v1/entries/{ref}/links"),
    ("delete", "/api/v1/entries/{ref}/links"),
    ("get", "/api/v1/entries/{ref}/relations"),
    ("post", "/api/v1/entries/{ref}/dependencies"),
    ("delete", "/api/v1/entries/{ref}/dependencies/{id}"),
    ("post", "/api/v1/entries/{ref}/risks"),
    ("delete", "/api/v1/entries/{ref}/risks/{id}"),
    ("post", "/api/v1/entries/{ref}/worklogs"),
    ("patch", "/api/v1/entries/{ref}/worklogs/{worklog_id}"),
    ("delete", "/api/v1/entries/{ref}/worklogs/{worklog_id}"),
    ("get", "/api/v1/worklogs/suggestions"),
    ("post", "/api/v1/worklogs/suggestions/apply"),
    ("post", "/api/v1/worklogs/suggestions/dismiss"),
    ("get", "/api/v1/milestones"),
    ("post", "/api/v1/milestones"),
    ("get", "/api/v1/milestones/{name}"),
    ("patch", "/api/v1/milestones/{name}"),
    ("get", "/api/v1/entries/{ref}/history"),
    ("post", "/api/v1/entries/{ref}/undo"),
    ("patch", "/api/v1/entries/{ref}/notes/{note_id}"),
    ("delete", "/api/v1/entries/{ref}/notes/{note_id}"),
    ("get", "/api/v1/search"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/reports/{name}"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/events/stream"),
    ("get", "/api/v1/health"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/mcp"),
    ("get", "/mcp"),
    ("delete", "/mcp"),
];

async fn document(h: &Harness) -> Value {
    let r = h.get("/api/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    r.json()
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(*m).is_some() {
                out.insert((m.to_string(), path.clone()));
            }
        }
    }
    out
}

/// What the router answers to `method path`: the status and, for errors, the class. Bodies of
/// successful responses are not read (the event stream never ends).
async fn probe(h: &Harness, method: &str, path: &str) -> (StatusCode, Option<String>) {
    let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let res = h
        .router
        .clone()
        .oneshot(
            req(m, path)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return (status, None);
    }
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let class = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"]["class"].as_str().map(String::from));
    (status, class)
}

#[tokio::test]
async fn the_document_has_every_promised_endpoint_and_nothing_else() {
    let h = Harness::with_options(ServerOptions::default()).await;
    let doc = document(&h).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "devlog");
    let ops = operations(&doc);
    let promised: BTreeSet<(String, String)> = PROMISED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(ops, promised);
    for (m, p) in &ops {
        let op = &doc["paths"][p][m];
        assert!(op["summary"].is_string(), "{m} {p} has a summary");
        assert!(
            !op["responses"].as_object().unwrap().is_empty(),
            "{m} {p} has responses"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_every_routed_method_is_documented() {
    let h = Harness::with_options(ServerOptions::default()).await;
    h.create("Probe", "task").await;
    let doc = document(&h).await;
    let ops = operations(&doc);
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path.replace("{ref}", "1").replace("{name}", "v1");
        for m in METHODS {
            let documented = ops.contains(&(m.to_string(), path.clone()));
            let (status, class) = probe(&h, m, &concrete).await;
            if documented {
                assert_ne!(
                    class.as_deref(),
                    Some("no-route"),
                    "{m} {path} is documented but not routed"
                );
                if !path.starts_with("/mcp") {
                    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
                }
            } else if !path.starts_with("/mcp") {
                assert_eq!(
                    (status, class.as_deref()),
                    (StatusCode::METHOD_NOT_ALLOWED, Some("method-not-allowed")),
                    "{m} {path} answers but is not documented"
                );
            }
        }
    }
}

/// Routes reach the router only through `utoipa_axum::routes!` (which documents them), the
/// MCP mount (documented by hand) and extensions; a plain axum route would be invisible to
/// the document, so the source must not have one. The exception is the dashboard
/// (`src/dashboard/`): its routes are HTML pages and assets for browsers, not API, and stay
/// out of the document on purpose (its writes go to documented API routes).
#[test]
fn the_server_source_registers_no_undocumented_routes() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 10, "found the sources");
    for f in files {
        if f.components().any(|c| c.as_os_str() == "dashboard") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for banned in [
            ".route(",
            ".route_service(",
            "axum::routing::",
            ".nest_service(",
        ] {
            assert!(!text.contains(banned), "{} uses `{banned}`", f.display());
        }
        if f.parent().is_some_and(|p| p.ends_with("v1")) {
            // Each handler is a `pub async fn` right under its `#[utoipa::path(...)]`.
            let handlers = text.matches("\npub async fn ").count();
            let documented = text.matches("#[utoipa::path(").count();
            assert_eq!(
                handlers,
                documented,
                "{}: a handler without #[utoipa::path]",
                f.display()
            );
        }
    }
}

/// Extension routes (the webhook receivers' way in) are served and documented.
#[tokio::test]
async fn extension_routes_are_served_and_documented() {
    /// Ping
    #[utoipa::path(get, path = "/api/v1/webhooks/ping", tag = "webhooks", responses((status = 200, description = "pong")))]
    async fn ping() -> &'static str {
        "pong"
    }
    let h = Harness::new().await;
    let router = Server::new(h.app.clone(), ServerOptions::default())
        .with_routes(OpenApiRouter::new().routes(routes!(ping)))
        .router();
    let h = Harness { router, ..h };
    let r = h.get("/api/v1/webhooks/ping").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "pong"));
    let doc = document(&h).await;
    assert!(operations(&doc).contains(&("get".to_string(), "/api/v1/webhooks/ping".to_string())));
    // The API's own routes are still there.
    assert_eq!(h.get("/api/v1/health").await.status, StatusCode::OK);
}

/// The document declares how to authenticate: a bearer API token or the single sign-on
/// session cookie (either one, on every operation), and webhook deliveries need neither.
#[tokio::test]
async fn the_security_schemes_are_declared_and_apply_to_every_operation() {
    /// Receive
    #[utoipa::path(post, path = "/webhooks/ping", tag = "webhooks", responses((status = 200, description = "ok")))]
    async fn receive() -> &'static str {
        "ok"
    }
    let h = Harness::new().await;
    let router = Server::new(h.app.clone(), ServerOptions::default())
        .with_routes(OpenApiRouter::new().routes(routes!(receive)))
        .router();
    let h = Harness { router, ..h };
    let doc = document(&h).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerToken"]["type"], "http");
    assert_eq!(schemes["bearerToken"]["scheme"], "bearer");
    assert!(
        schemes["bearerToken"]["description"]
            .as_str()
            .unwrap()
            .contains("devlog token create")
    );
    assert_eq!(schemes["sessionCookie"]["type"], "apiKey");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(schemes["sessionCookie"]["name"], "devlog_session");
    assert!(
        schemes["sessionCookie"]["description"]
            .as_str()
            .unwrap()
            .contains("X-CSRF-Token")
    );
    assert_eq!(
        doc["security"],
        serde_json::json!([{"bearerToken": []}, {"sessionCookie": []}])
    );
    // Webhook deliveries are authenticated by their signature: no credentials.
    assert_eq!(
        doc["paths"]["/webhooks/ping"]["post"]["security"],
        serde_json::json!([{}])
    );
    assert!(
        doc["paths"]["/api/v1/entries"]["get"]
            .get("security")
            .is_none()
    );
}
