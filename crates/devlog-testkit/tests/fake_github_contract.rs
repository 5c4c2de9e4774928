//! The fake GitHub's contract check: what GitHub's OpenAPI description allows passes, what it
//! does not is reported.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use axum::body::Bytes;
use devlog_testkit::fake_github::{check_request, translate_nullable};
use devlog_testkit::fake_remote::RecordedRequest;
use serde_json::json;

fn req(method: &str, path: &str, query: Option<&str>, body: serde_json::Value) -> RecordedRequest {
    RecordedRequest {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_string),
        headers: Vec::new(),
        authorized: true,
        body: if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(serde_json::to_vec(&body).unwrap())
        },
        fault: None,
    }
}

#[test]
fn allowed_requests_pass() {
    let ok = [
        req(
            "POST",
            "/repos/o/r/issues",
            None,
            json!({"title": "t", "body": "b", "labels": ["x"], "assignees": ["a"]}),
        ),
        req(
            "PATCH",
            "/repos/o/r/issues/3",
            None,
            json!({"state": "closed", "state_reason": "not_planned"}),
        ),
        req(
            "PATCH",
            "/repos/o/r/issues/3",
            None,
            json!({"milestone": null, "body": null}),
        ),
        req(
            "GET",
            "/repos/o/r/issues",
            Some(
                "state=all&since=2025-01-01T00%3A00%3A00Z&per_page=100&page=2&sort=updated&direction=asc",
            ),
            json!(null),
        ),
        req(
            "GET",
            "/search/issues",
            Some("q=%22x%22+repo%3Ao%2Fr+in%3Abody"),
            json!(null),
        ),
        req("GET", "/repos/o/r/issues/3", None, json!(null)),
    ];
    for r in &ok {
        assert_eq!(check_request(r), Ok(()), "{}", r.line());
    }
}

#[test]
fn disallowed_requests_are_reported() {
    let cases = [
        (
            req("GET", "/repos/o/r", None, json!(null)),
            "no such operation",
        ),
        (
            req("DELETE", "/repos/o/r/issues/3", None, json!(null)),
            "no such operation",
        ),
        (
            req("GET", "/repos/o/r/issues", Some("marker=abc"), json!(null)),
            "`marker` is not declared",
        ),
        (
            req(
                "GET",
                "/repos/o/r/issues",
                Some("state=everything"),
                json!(null),
            ),
            "`state`",
        ),
        (
            req(
                "GET",
                "/repos/o/r/issues",
                Some("per_page=many"),
                json!(null),
            ),
            "not an integer",
        ),
        (
            req(
                "PATCH",
                "/repos/o/r/issues/3",
                None,
                json!({"state": "merged"}),
            ),
            "request schema",
        ),
        (
            req(
                "PATCH",
                "/repos/o/r/issues/3",
                None,
                json!({"labels": "bug"}),
            ),
            "request schema",
        ),
        // `milestone` is `nullable` without a `type` (a oneOf): still validated.
        (
            req(
                "PATCH",
                "/repos/o/r/issues/3",
                None,
                json!({"milestone": true}),
            ),
            "request schema",
        ),
        (
            req(
                "POST",
                "/repos/o/r/issues",
                None,
                json!({"body": "no title"}),
            ),
            "request schema",
        ),
        (
            req("POST", "/repos/o/r/issues", None, json!(null)),
            "requires a JSON body",
        ),
        (
            req("GET", "/repos/o/r/issues/3", None, json!({"x": 1})),
            "takes no JSON body",
        ),
    ];
    for (r, want) in &cases {
        let err = check_request(r).expect_err(&r.line());
        assert!(err.contains(want), "{}: {err}", r.line());
    }
}

#[test]
fn nullable_is_translated() {
    let mut s = json!({"type": "string", "nullable": true, "enum": ["a"]});
    translate_nullable(&mut s);
    assert_eq!(s, json!({"type": ["string", "null"], "enum": ["a", null]}));
    let mut s = json!({"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": true});
    translate_nullable(&mut s);
    assert_eq!(
        s,
        json!({"anyOf": [{"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"type": "null"}]})
    );
}

#[tokio::test]
async fn a_disallowed_request_fails_the_test_that_made_it() {
    use devlog_testkit::fake_github::FakeGithub;
    use devlog_testkit::fake_remote::FakeRemote;

    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", "tok");
    let remote = b.routes(gh.router()).start().await;
    devlog_http::install_crypto_provider();
    let client = devlog_http::HttpClient::new(
        devlog_http::ClientOptions::new("github", remote.url())
            .bearer(devlog_http::SecretString::from("tok".to_string())),
    )
    .unwrap();
    // Allowed: listed, answered.
    let resp = client
        .get("/repos/acme/widgets/issues")
        .query("state", "all")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(gh.check_contract().is_empty());
    // Not in the description: an undeclared query parameter, an unknown path.
    let _ = client
        .get("/repos/acme/widgets/issues")
        .query("marker", "x")
        .send()
        .await;
    let _ = client.get("/repos/acme/widgets/frobnicate").send().await;
    let violations = gh.check_contract();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(
        violations[0].contains("`marker` is not declared"),
        "{violations:?}"
    );
    assert!(
        violations[1].contains("no such operation"),
        "{violations:?}"
    );
    // Dropping the last handle fails the test.
    let dropped = std::thread::spawn(move || drop(gh)).join();
    assert!(
        dropped.is_err(),
        "dropping the fake must panic on violations"
    );
}
