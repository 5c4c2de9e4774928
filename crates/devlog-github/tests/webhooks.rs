//! Webhooks on GitHub's own example payloads: signatures checked before parsing, correct and
//! tampered.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::PathBuf;

use devlog_core::integration::{Integration, SyncErrorKind, Webhook};
use devlog_github::webhook::signature;
use devlog_github::{GithubConfig, GithubIntegration};
use devlog_http::SecretString;

const SECRET: &str = "It's a Secret to Everybody";

fn examples(event: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::env::var("DEVLOG_GITHUB_WEBHOOK_EXAMPLES").map_or_else(
        |_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/apispecs/github/webhooks/examples")
        },
        PathBuf::from,
    );
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join(event))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no examples for {event}");
    out
}

fn github(repository: &str, secret: Option<&str>) -> GithubIntegration {
    let mut c = GithubConfig::new(repository, SecretString::from("t".to_string())).unwrap();
    c.webhook_secret = secret.map(|s| SecretString::from(s.to_string()));
    GithubIntegration::new(c).unwrap()
}

fn hook(event: &str, body: &[u8], sig: Option<String>) -> Webhook {
    let mut headers = vec![
        ("x-github-event".to_string(), event.to_string()),
        (
            "x-github-delivery".to_string(),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string(),
        ),
    ];
    if let Some(s) = sig {
        headers.push(("x-hub-signature-256".into(), s));
    }
    Webhook {
        headers,
        body: body.to_vec(),
    }
}

fn repo_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v.pointer("/repository/full_name")
        .and_then(|r| r.as_str())
        .unwrap_or("octo/repo")
        .to_string()
}

#[test]
fn signature_matches_githubs_documented_example() {
    // From GitHub's "Validating webhook deliveries" documentation.
    assert_eq!(
        signature(SECRET.as_bytes(), b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[tokio::test]
async fn ping_is_accepted_with_its_delivery_id() {
    for (name, body) in examples("ping") {
        let g = github(&repo_of(&body), Some(SECRET));
        let out = g
            .handle_webhook(&hook(
                "ping",
                &body,
                Some(signature(SECRET.as_bytes(), &body)),
            ))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out.items.is_empty(), "{name}");
        assert_eq!(
            out.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
    }
}

#[tokio::test]
async fn issues_examples_map_to_items() {
    let mut mapped = 0;
    for (name, body) in examples("issues") {
        let g = github(&repo_of(&body), Some(SECRET));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let out = g
            .handle_webhook(&hook(
                "issues",
                &body,
                Some(signature(SECRET.as_bytes(), &body)),
            ))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if v["action"] == "deleted" || !v["issue"]["pull_request"].is_null() {
            assert!(out.items.is_empty(), "{name}");
            continue;
        }
        assert_eq!(out.items.len(), 1, "{name}");
        let item = &out.items[0];
        assert_eq!(item.remote_id, v["issue"]["number"].to_string(), "{name}");
        assert_eq!(
            item.fields.title,
            v["issue"]["title"].as_str().unwrap(),
            "{name}"
        );
        let closed = v["issue"]["state"] == "closed";
        assert_eq!(item.fields.status.is_closed(), closed, "{name}");
        mapped += 1;
    }
    assert!(mapped > 5, "{mapped}");
}

#[tokio::test]
async fn other_repositories_and_comments_are_ignored() {
    let (_, body) = examples("issues").into_iter().next().unwrap();
    let g = github("someone/else", Some(SECRET));
    let out = g
        .handle_webhook(&hook(
            "issues",
            &body,
            Some(signature(SECRET.as_bytes(), &body)),
        ))
        .await
        .unwrap();
    assert!(out.items.is_empty());
    for (name, body) in examples("issue_comment") {
        let g = github(&repo_of(&body), Some(SECRET));
        let out = g
            .handle_webhook(&hook(
                "issue_comment",
                &body,
                Some(signature(SECRET.as_bytes(), &body)),
            ))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out.items.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn tampered_or_unsigned_deliveries_are_refused() {
    let (_, body) = examples("issues").into_iter().next().unwrap();
    let g = github(&repo_of(&body), Some(SECRET));
    let good = signature(SECRET.as_bytes(), &body);

    let mut tampered = body.clone();
    let i = tampered.iter().position(|b| *b == b'a').unwrap();
    tampered[i] = b'b';
    let cases = [
        (
            "tampered body",
            hook("issues", &tampered, Some(good.clone())),
        ),
        (
            "wrong secret",
            hook("issues", &body, Some(signature(b"another secret", &body))),
        ),
        ("no signature", hook("issues", &body, None)),
        (
            "not hex",
            hook("issues", &body, Some("sha256=zz".to_string())),
        ),
        (
            "sha1 only",
            hook("issues", &body, Some(good.replace("sha256=", "sha1="))),
        ),
        // A body that is not even JSON is refused on the signature, before parsing.
        ("garbage", hook("issues", b"{not json", Some(good.clone()))),
    ];
    for (what, h) in cases {
        let err = g.handle_webhook(&h).await.unwrap_err();
        assert_eq!(err.kind, SyncErrorKind::Auth, "{what}: {err}");
        assert!(!err.message.contains(SECRET), "{what}");
    }
    // Without a configured secret nothing is accepted.
    let g = github(&repo_of(&body), None);
    let err = g
        .handle_webhook(&hook("issues", &body, Some(good)))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Auth);
    assert!(err.message.contains("webhookSecret"), "{}", err.message);
}
