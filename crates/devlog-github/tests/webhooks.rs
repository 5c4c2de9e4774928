//! Webhooks on GitHub's own example payloads (all 98 of `@octokit/webhooks-examples`, old ones
//! with missing fields and `null`s included): signatures checked before parsing, correct and
//! tampered; what each followed event asks of devlog, on the examples and on examples edited
//! to carry what GitHub's lack (a merged pull request, commits and releases that mention entries).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::PathBuf;

use devlog_core::entry::Status;
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Action, ActionTarget, Integration, RemoteAction, RemoteNote, SyncError, SyncErrorKind, Webhook,
    WebhookOutcome,
};
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
        query: Vec::new(),
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
async fn other_repositories_are_ignored_and_comments_are_not_items() {
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
        // Comments are notes (actions), never issue items.
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

// ---- every followed event, on every example ----

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

const EVENTS: [&str; 7] = [
    "issues",
    "issue_comment",
    "pull_request",
    "push",
    "release",
    "projects_v2_item",
    "ping",
];

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

fn to_body(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// `body` as GitHub delivers `event`, signed with [`SECRET`], to the repository it names.
async fn deliver(event: &str, body: &[u8]) -> Result<WebhookOutcome, SyncError> {
    github(&repo_of(body), Some(SECRET))
        .handle_webhook(&hook(event, body, Some(signature(SECRET.as_bytes(), body))))
        .await
}

async fn delivered(event: &str, name: &str, body: &[u8]) -> WebhookOutcome {
    deliver(event, body)
        .await
        .unwrap_or_else(|e| panic!("{event}/{name}: {e}"))
}

fn note(a: &RemoteAction) -> &RemoteNote {
    match &a.action {
        Action::Note(n) => n,
        other => panic!("{}: not a note: {other:?}", a.key),
    }
}

fn linked(n: &str) -> ActionTarget {
    ActionTarget::Linked {
        remote_id: n.to_string(),
    }
}

fn attached_pr(n: &str) -> ActionTarget {
    ActionTarget::Attached {
        kind: "pull-request".to_string(),
        remote_id: n.to_string(),
    }
}

#[tokio::test]
async fn every_example_is_accepted_signed_and_refused_tampered_or_unsigned() {
    let mut checked = 0;
    for event in EVENTS {
        for (name, body) in examples(event) {
            let what = format!("{event}/{name}");
            let out = delivered(event, &name, &body).await;
            assert_eq!(out.delivery_id.as_deref(), Some(DELIVERY), "{what}");

            let g = github(&repo_of(&body), Some(SECRET));
            let good = signature(SECRET.as_bytes(), &body);
            let mut tampered = body.clone();
            let i = tampered.len() / 2;
            tampered[i] ^= 0x01;
            let refused = [
                (
                    "one byte changed",
                    hook(event, &tampered, Some(good.clone())),
                ),
                (
                    "another secret",
                    hook(event, &body, Some(signature(b"not the secret", &body))),
                ),
                ("unsigned", hook(event, &body, None)),
            ];
            for (how, h) in refused {
                let err = g
                    .handle_webhook(&h)
                    .await
                    .err()
                    .unwrap_or_else(|| panic!("{what}, {how}: accepted"));
                assert_eq!(err.kind, SyncErrorKind::Auth, "{what}, {how}: {err}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 98, "GitHub's examples are 98 payloads");
}

// ---- issue_comment ----

#[tokio::test]
async fn comments_created_or_edited_become_one_note_and_deleted_ones_a_note_deletion() {
    let mut notes = 0;
    let mut deletions = 0;
    for (name, body) in examples("issue_comment") {
        let v = json(&body);
        let out = delivered("issue_comment", &name, &body).await;
        assert!(out.items.is_empty(), "{name}");
        if v["action"] == "deleted" {
            // The note mirroring the comment is deleted (the engine finds it by comment id).
            let want = format!("comment:{}", v["comment"]["id"]);
            assert!(
                matches!(out.actions.as_slice(), [RemoteAction {
                    action: Action::NoteDeleted { remote_id },
                    ..
                }] if *remote_id == want),
                "{name}: {:?}",
                out.actions
            );
            deletions += 1;
            continue;
        }
        assert!(
            matches!(v["action"].as_str(), Some("created" | "edited")),
            "{name}"
        );
        assert_eq!(out.actions.len(), 1, "{name}: {:?}", out.actions);
        let a = &out.actions[0];
        let comment_id = format!("comment:{}", v["comment"]["id"]);
        assert_eq!(a.key, comment_id, "{name}");
        assert_eq!(
            a.target,
            linked(&v["issue"]["number"].to_string()),
            "{name}"
        );
        let n = note(a);
        assert_eq!(n.remote_id, comment_id, "{name}");
        assert_eq!(
            n.text,
            v["comment"]["body"].as_str().unwrap().trim_end(),
            "{name}"
        );
        assert_eq!(
            n.author.as_deref(),
            v["comment"]["user"]["login"].as_str(),
            "{name}"
        );
        assert_eq!(n.note_marker, None, "{name}");
        notes += 1;
    }
    assert_eq!((notes, deletions), (7, 2));
}

#[tokio::test]
async fn a_comment_devlog_posted_carries_its_note_marker() {
    let (name, body) = examples("issue_comment")
        .into_iter()
        .find(|(n, _)| n.starts_with("created"))
        .unwrap();
    let mut v = json(&body);
    v["comment"]["body"] = "Done.\n\n<!-- devlog:note=n-1 -->".into();
    let out = delivered("issue_comment", &name, &to_body(&v)).await;
    assert_eq!(out.actions.len(), 1);
    let n = note(&out.actions[0]);
    assert_eq!(n.note_marker.as_deref(), Some("n-1"));
    assert_eq!(n.text, "Done.");
}

// ---- pull_request ----

#[tokio::test]
async fn pull_request_states_follow_the_default_mapping() {
    let (mut open, mut closed) = (0, 0);
    for (name, body) in examples("pull_request") {
        let v = json(&body);
        let pr = &v["pull_request"];
        let n = pr["number"].to_string();
        let out = delivered("pull_request", &name, &body).await;
        assert!(out.items.is_empty(), "{name}");
        // None of GitHub's examples is merged: a closed one is unmapped by default.
        assert_ne!(pr["merged"], true, "{name}");
        if pr["state"] == "closed" {
            assert!(out.actions.is_empty(), "{name}: {:?}", out.actions);
            closed += 1;
            continue;
        }
        assert_eq!(out.actions.len(), 1, "{name}: {:?}", out.actions);
        let a = &out.actions[0];
        assert_eq!(a.key, format!("pr:{n}:open"), "{name}");
        assert_eq!(a.target, attached_pr(&n), "{name}");
        assert!(
            matches!(
                &a.action,
                Action::Set {
                    status: Some(Status::InReview),
                    ..
                }
            ),
            "{name}: {:?}",
            a.action
        );
        open += 1;
    }
    assert_eq!(closed, 2);
    assert!(open > 20, "{open}");
    for name in ["opened.1.json", "reopened.1.json"] {
        let body = examples("pull_request")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1;
        let out = delivered("pull_request", name, &body).await;
        assert_eq!(out.actions[0].key, "pr:2:open", "{name}");
    }
}

#[tokio::test]
async fn a_merged_pull_request_moves_its_entry_to_done() {
    for (name, body) in examples("pull_request")
        .into_iter()
        .filter(|(n, _)| n.starts_with("closed"))
    {
        let mut v = json(&body);
        v["pull_request"]["merged"] = true.into();
        v["pull_request"]["merged_at"] = "2019-05-15T15:20:33Z".into();
        let n = v["pull_request"]["number"].to_string();
        let out = delivered("pull_request", &name, &to_body(&v)).await;
        assert_eq!(out.actions.len(), 1, "{name}: {:?}", out.actions);
        let a = &out.actions[0];
        assert_eq!(a.key, format!("pr:{n}:merged"), "{name}");
        assert_eq!(a.target, attached_pr(&n), "{name}");
        assert!(
            matches!(
                &a.action,
                Action::Set {
                    status: Some(Status::Done),
                    ..
                }
            ),
            "{name}: {:?}",
            a.action
        );
    }
}

#[tokio::test]
async fn a_devlog_marker_in_a_pull_request_body_is_not_trusted() {
    let id = EntryId::new_random();
    for name in ["opened.1.json", "closed.1.json"] {
        let body = examples("pull_request")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1;
        let mut v = json(&body);
        v["pull_request"]["body"] = format!("Fixes the login.\n\n<!-- devlog:id={id} -->").into();
        v["pull_request"]["merged"] = (name == "closed.1.json").into();
        let out = delivered("pull_request", name, &to_body(&v)).await;
        assert_eq!(out.actions.len(), 1, "{name}: {:?}", out.actions);
        // Anyone can write a marker: only the pull request's attachment names its entry.
        assert_eq!(
            out.actions[0].target,
            ActionTarget::Attached {
                kind: "pull-request".into(),
                remote_id: v["pull_request"]["number"].to_string()
            },
            "{name}"
        );
    }
}

// ---- push ----

#[tokio::test]
async fn pushes_without_mentions_ask_for_nothing() {
    let mut with_commits = 0;
    for (name, body) in examples("push") {
        let v = json(&body);
        let out = delivered("push", &name, &body).await;
        assert!(out.items.is_empty(), "{name}");
        // GitHub's examples are tag pushes and an "Initial commit": nothing is mentioned.
        let mentioned = v["commits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["message"].as_str())
            .any(|m| !devlog_core::id::mentions(m).is_empty());
        assert!(!mentioned, "{name}");
        assert!(out.actions.is_empty(), "{name}: {:?}", out.actions);
        if v["commits"].as_array().is_some_and(|c| !c.is_empty()) {
            with_commits += 1;
        }
    }
    assert!(with_commits > 0);
}

/// A push example that has a commit, with `messages` as its commits (ids `aaaa…`, `bbbb…`).
fn push_with(messages: &[&str]) -> (String, serde_json::Value) {
    let (name, body) = examples("push")
        .into_iter()
        .find(|(_, b)| json(b)["commits"].as_array().is_some_and(|c| !c.is_empty()))
        .unwrap();
    let mut v = json(&body);
    let template = v["commits"][0].clone();
    let commits: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut c = template.clone();
            c["id"] = char::from(b'a' + i as u8).to_string().repeat(40).into();
            c["message"] = (*m).into();
            c
        })
        .collect();
    v["commits"] = commits.into();
    (name, v)
}

#[tokio::test]
async fn pushed_commits_add_a_note_per_mention() {
    let (name, v) = push_with(&["Fix login devlog-3f2a9c1e", "Refs #12 and #12"]);
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    let out = delivered("push", &name, &to_body(&v)).await;
    assert!(out.items.is_empty());
    let got: Vec<(&str, &ActionTarget)> = out
        .actions
        .iter()
        .map(|a| (a.key.as_str(), &a.target))
        .collect();
    assert_eq!(
        got,
        [
            (
                format!("commit:{a}:devlog-3f2a9c1e").as_str(),
                &ActionTarget::Reference {
                    reference: "devlog-3f2a9c1e".to_string()
                }
            ),
            (format!("commit:{b}:#12").as_str(), &linked("12")),
        ]
    );
    for act in &out.actions {
        let n = note(act);
        assert_eq!(n.remote_id, act.key);
        assert_eq!(n.note_marker, None);
        assert!(n.text.starts_with("Commit "), "{}", n.text);
    }
    assert_eq!(
        note(&out.actions[0]).text,
        "Commit aaaaaaaa pushed to master: Fix login devlog-3f2a9c1e"
    );
}

#[tokio::test]
async fn pushes_with_null_or_missing_commits_ask_for_nothing() {
    let (name, mut v) = push_with(&["Refs #12"]);
    v["commits"] = serde_json::Value::Null;
    let out = delivered("push", &name, &to_body(&v)).await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    v.as_object_mut().unwrap().remove("commits");
    let out = delivered("push", &name, &to_body(&v)).await;
    assert!(out.actions.is_empty(), "{:?}", out.actions);
}

#[tokio::test]
async fn pushes_with_non_ascii_commit_messages_do_not_panic() {
    let (name, v) = push_with(&[
        "Füge Übersetzung hinzu (#12) — danke",
        "€€€ devlog-3f2a9c1e",
    ]);
    let body = to_body(&v);
    let out = tokio::spawn(async move { deliver("push", &body).await })
        .await
        .unwrap_or_else(|e| panic!("{name}: the handler panicked: {e}"))
        .unwrap();
    assert_eq!(out.actions.len(), 2, "{:?}", out.actions);
}

#[tokio::test]
async fn pushes_with_a_malformed_commit_id_do_not_panic() {
    let (name, mut v) = push_with(&["Refs #12"]);
    v["commits"][0]["id"] = "\u{20ac}\u{20ac}\u{20ac}".into();
    let body = to_body(&v);
    let out = tokio::spawn(async move { deliver("push", &body).await })
        .await
        .unwrap_or_else(|e| panic!("{name}: the handler panicked: {e}"));
    // Refusing the payload would do too; panicking does not.
    if let Ok(out) = out {
        assert!(out.actions.len() <= 1, "{:?}", out.actions);
    }
}

// ---- release ----

#[tokio::test]
async fn releases_note_the_issues_and_pull_requests_their_body_mentions() {
    let mut noted = 0;
    for (name, body) in examples("release") {
        let plain = delivered("release", &name, &body).await;
        // GitHub's examples have empty (or null) bodies: nothing is mentioned.
        assert!(plain.actions.is_empty(), "{name}: {:?}", plain.actions);

        let mut v = json(&body);
        v["release"]["body"] = "Fixes #12.".into();
        let tag = v["release"]["tag_name"].as_str().unwrap().to_string();
        let id = v["release"]["id"].to_string();
        let out = delivered("release", &name, &to_body(&v)).await;
        assert!(out.items.is_empty(), "{name}");
        if matches!(v["action"].as_str(), Some("deleted" | "prereleased")) {
            assert!(out.actions.is_empty(), "{name}: {:?}", out.actions);
            continue;
        }
        let got: Vec<(&str, &ActionTarget)> = out
            .actions
            .iter()
            .map(|a| (a.key.as_str(), &a.target))
            .collect();
        assert_eq!(
            got,
            [
                (format!("release:{id}:#12").as_str(), &linked("12")),
                (format!("release:{id}:#12:pr").as_str(), &attached_pr("12")),
            ],
            "{name}"
        );
        for a in &out.actions {
            assert_eq!(note(a).text, format!("Released in {tag}"), "{name}");
            assert_eq!(note(a).remote_id, a.key, "{name}");
        }
        if v["action"] == "published" {
            noted += 1;
        }

        v["release"]["draft"] = true.into();
        let out = delivered("release", &name, &to_body(&v)).await;
        assert!(
            out.actions.is_empty(),
            "{name} as a draft: {:?}",
            out.actions
        );
    }
    assert_eq!(noted, 3);
}

#[tokio::test]
async fn releases_with_non_ascii_bodies_do_not_panic() {
    let (name, body) = examples("release")
        .into_iter()
        .find(|(n, _)| n.starts_with("published"))
        .unwrap();
    let mut v = json(&body);
    v["release"]["body"] = "## What\u{2019}s new \u{1f389}\n- Fixes #12".into();
    let body = to_body(&v);
    let out = tokio::spawn(async move { deliver("release", &body).await })
        .await
        .unwrap_or_else(|e| panic!("{name}: the handler panicked: {e}"))
        .unwrap();
    assert_eq!(out.actions.len(), 2, "{:?}", out.actions);
}

// ---- projects_v2_item ----

#[tokio::test]
async fn project_item_events_without_a_project_ask_for_nothing_and_send_no_request() {
    // A request would land here: nothing may connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut c = GithubConfig::new("octo/repo", SecretString::from("t".to_string())).unwrap();
    c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
    c.api_url = format!("http://{}", listener.local_addr().unwrap());
    assert!(c.project_id.is_none());
    let g = GithubIntegration::new(c).unwrap();
    for (name, body) in examples("projects_v2_item") {
        let out = g
            .handle_webhook(&hook(
                "projects_v2_item",
                &body,
                Some(signature(SECRET.as_bytes(), &body)),
            ))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out.items.is_empty() && out.actions.is_empty(), "{name}");
        assert!(
            g.project_move_from_webhook(&json(&body)).is_none(),
            "{name}"
        );
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a request was sent"
    );
}

// ---- other repositories, bodies that are not JSON ----

#[tokio::test]
async fn payloads_of_another_repository_ask_for_nothing() {
    for event in EVENTS {
        for (name, body) in examples(event) {
            let mut v = json(&body);
            if v.get("repository").is_none_or(serde_json::Value::is_null) {
                continue;
            }
            v["repository"]["full_name"] = "someone/else".into();
            // Give every event something it would act on in our repository.
            if v["pull_request"].is_object() {
                v["pull_request"]["merged"] = true.into();
            }
            if v["release"].is_object() {
                v["release"]["body"] = "Fixes #12".into();
            }
            let body = to_body(&v);
            let g = github(&repo_of(&examples(event)[0].1), Some(SECRET));
            let out = g
                .handle_webhook(&hook(
                    event,
                    &body,
                    Some(signature(SECRET.as_bytes(), &body)),
                ))
                .await
                .unwrap_or_else(|e| panic!("{event}/{name}: {e}"));
            assert_eq!(out.delivery_id.as_deref(), Some(DELIVERY), "{event}/{name}");
            assert!(
                out.items.is_empty() && out.actions.is_empty(),
                "{event}/{name}: {out:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_a_permanent_error() {
    let g = github("octo/repo", Some(SECRET));
    let body = b"{not json";
    for event in EVENTS.into_iter().filter(|e| *e != "ping") {
        let err = g
            .handle_webhook(&hook(event, body, Some(signature(SECRET.as_bytes(), body))))
            .await
            .unwrap_err();
        assert_eq!(err.kind, SyncErrorKind::Permanent, "{event}: {err}");
        assert!(err.message.contains("JSON"), "{event}: {}", err.message);
    }
}
