//! What authentication costs a request (issue 20): p50 / p95 of `GET /api/v1/entries/{ref}`
//! through the whole router (guard, auth middleware, handler, store) without tokens (the
//! local tool) and with a bearer token (hash, constant-time compare, the token read from the
//! store), per backend, requests interleaved so both see the same machine load.
//!
//! ```text
//! cargo run --release -p devlog-server --example auth_bench -- [--requests N] [--entries N]
//! ```
//!
//! Figures and how to read them: docs/security.md, "What authentication costs".
#![allow(clippy::unwrap_used)] // a bench binary: a panic is the report

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use devlog_core::auth::{NewToken, Role, TokenSecret, issue};
use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, EntryType, Origin, Store, Timestamp, WriteMeta};
use devlog_server::{Server, ServerOptions};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

async fn seed(store: &Arc<dyn Store>, entries: usize) {
    let app = Devlog::new(store.clone());
    let meta = WriteMeta::new(Origin::Cli);
    let mut rng = devlog_core::sample::SampleRng(7);
    for i in 0..entries {
        app.create(
            NewEntry {
                title: format!("Bench entry {i}"),
                kind: Some(EntryType::Task),
                description: devlog_core::sample::sentence(&mut rng, 40),
                ..NewEntry::default()
            },
            &meta,
        )
        .await
        .unwrap();
    }
}

fn router(store: Arc<dyn Store>) -> Router {
    Server::new(
        Devlog::new(store),
        ServerOptions {
            mcp: false,
            ..ServerOptions::default()
        },
    )
    .router()
}

async fn once(r: &Router, token: Option<&TokenSecret>) -> Duration {
    let mut b = Request::get("/api/v1/entries/1");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {}", t.expose()));
    }
    let started = Instant::now();
    let res = r
        .clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body().collect().await.unwrap();
    started.elapsed()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests = arg("--requests", 5000);
    let entries = arg("--entries", 1000);
    println!("GET /api/v1/entries/1, {requests} requests each, {entries} entries, in-process");
    println!("| backend | no tokens p50 / p95 µs | bearer token p50 / p95 µs | p50 overhead µs |");
    println!("|---|---|---|---|");
    for backend in ["json", "sqlite"] {
        let dir = tempfile::tempdir().unwrap();
        let open = || async {
            let s: Arc<dyn Store> = match backend {
                "json" => Arc::new(
                    devlog_store::JsonStore::open(&dir.path().join(".devlog"))
                        .await
                        .unwrap(),
                ),
                _ => Arc::new(
                    devlog_store::SqliteStore::open(&dir.path().join("devlog.sqlite"))
                        .await
                        .unwrap(),
                ),
            };
            s
        };
        // Two stores on one place would share tokens: the open server gets its own place.
        let open_dir = tempfile::tempdir().unwrap();
        let open_store: Arc<dyn Store> = match backend {
            "json" => Arc::new(
                devlog_store::JsonStore::open(&open_dir.path().join(".devlog"))
                    .await
                    .unwrap(),
            ),
            _ => Arc::new(
                devlog_store::SqliteStore::open(&open_dir.path().join("devlog.sqlite"))
                    .await
                    .unwrap(),
            ),
        };
        let authed_store = open().await;
        seed(&open_store, entries).await;
        seed(&authed_store, entries).await;
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let (token, secret) = issue(
            NewToken {
                name: "bench".parse().unwrap(),
                role: Role::Viewer,
                scope: None,
                expires_at: None,
                created_by: None,
            },
            now,
            &mut rand::rng(),
        );
        authed_store
            .tokens()
            .unwrap()
            .insert_token(&token)
            .await
            .unwrap();
        let open_router = router(open_store);
        let authed_router = router(authed_store);
        // Warm up both (page cache, prepared statements, the token's last-use write).
        for _ in 0..200 {
            once(&open_router, None).await;
            once(&authed_router, Some(&secret)).await;
        }
        let (mut plain, mut authed) = (Vec::new(), Vec::new());
        for _ in 0..requests {
            plain.push(once(&open_router, None).await);
            authed.push(once(&authed_router, Some(&secret)).await);
        }
        plain.sort();
        authed.sort();
        println!(
            "| {backend} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} |",
            pct(&plain, 0.5),
            pct(&plain, 0.95),
            pct(&authed, 0.5),
            pct(&authed, 0.95),
            pct(&authed, 0.5) - pct(&plain, 0.5)
        );
    }
}
