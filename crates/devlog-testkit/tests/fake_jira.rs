//! The fake Jira: its workflow, search paging and comments, and its contract check refusing a
//! request the Jira description does not allow.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_http::{ClientOptions, HttpClient, SecretString};
use devlog_testkit::fake_jira::{FakeJira, check_requests};
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::{Value, json};

async fn start() -> (FakeRemote, FakeJira, HttpClient) {
    let b = FakeRemote::builder().without_tracker();
    let jira = FakeJira::new(b.state(), "DEV");
    let remote = b.routes(jira.router()).start().await;
    devlog_http::install_crypto_provider();
    let client = HttpClient::new(
        ClientOptions::new("jira", remote.url())
            .basic("dev@example.com", SecretString::from("t0ken-t0ken")),
    )
    .unwrap();
    (remote, jira, client)
}

async fn json_of(r: devlog_http::RequestBuilder) -> Value {
    r.send().await.unwrap().json().unwrap()
}

#[tokio::test]
async fn issues_move_through_the_workflow_and_done_needs_a_resolution() {
    let (remote, jira, c) = start().await;
    let created = json_of(c.post("/rest/api/3/issue").json(&json!({
        "fields": {"project": {"key": "DEV"}, "summary": "First", "issuetype": {"name": "Task"},
                   "description": {"type": "doc", "version": 1, "content": []}},
        "properties": [{"key": "devlog", "value": {"id": "e-1"}}]
    })))
    .await;
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(key, "DEV-1");
    // Found by its property.
    let found = json_of(c.post("/rest/api/3/search/jql").json(&json!({
        "jql": "project = DEV AND issue.property[devlog].id = \"e-1\"",
        "fields": ["summary"], "properties": ["devlog"], "maxResults": 2})))
    .await;
    assert_eq!(found["issues"][0]["properties"]["devlog"]["id"], "e-1");
    // To Do → In Progress → In Review → Done (resolution required on the last screen).
    for (id, fields) in [("11", None), ("31", None)] {
        let _: Option<Value> = fields;
        c.post(&format!("/rest/api/3/issue/{key}/transitions"))
            .json(&json!({"transition": {"id": id}}))
            .send()
            .await
            .unwrap();
    }
    let t = json_of(c.get(&format!("/rest/api/3/issue/{key}/transitions"))).await;
    assert_eq!(
        t["transitions"][1]["fields"]["resolution"]["required"],
        true
    );
    let err = c
        .post(&format!("/rest/api/3/issue/{key}/transitions"))
        .json(&json!({"transition": {"id": "51"}}))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    c.post(&format!("/rest/api/3/issue/{key}/transitions"))
        .json(&json!({"transition": {"id": "51"}, "fields": {"resolution": {"name": "Done"}}}))
        .send()
        .await
        .unwrap();
    let issue = jira.issue(&key).unwrap();
    assert_eq!(
        (issue.status.as_str(), issue.resolution.as_deref()),
        ("Done", Some("Done"))
    );
    // Paging with nextPageToken.
    for n in 0..4 {
        c.post("/rest/api/3/issue")
            .json(&json!({"fields": {"project": {"key": "DEV"}, "summary": format!("more {n}")}}))
            .send()
            .await
            .unwrap();
    }
    let jql = "project = DEV ORDER BY updated ASC, key ASC";
    let p1 = json_of(
        c.post("/rest/api/3/search/jql")
            .json(&json!({"jql": jql, "maxResults": 3})),
    )
    .await;
    assert_eq!(p1["issues"].as_array().unwrap().len(), 3);
    let token = p1["nextPageToken"].as_str().unwrap();
    let p2 = json_of(
        c.post("/rest/api/3/search/jql")
            .json(&json!({"jql": jql, "maxResults": 3, "nextPageToken": token})),
    )
    .await;
    assert_eq!(p2["issues"].as_array().unwrap().len(), 2);
    assert_eq!(p2["isLast"], true);
    // Comments.
    let cm = json_of(c.post(&format!("/rest/api/3/issue/{key}/comment")).json(&json!({
        "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}}))).await;
    assert_eq!(jira.comments(&key).len(), 1);
    c.delete(&format!(
        "/rest/api/3/issue/{key}/comment/{}",
        cm["id"].as_str().unwrap()
    ))
    .send()
    .await
    .unwrap();
    assert!(jira.comments(&key).is_empty());
    assert_eq!(jira.check_contract(), Vec::<String>::new());
    drop(remote);
}

#[tokio::test]
async fn a_request_the_description_does_not_allow_is_named() {
    let (remote, jira, c) = start().await;
    let _ = c
        .get("/rest/api/3/issue/DEV-1")
        .query("colour", "red")
        .send()
        .await;
    let _ = c
        .post("/rest/api/3/search/jql")
        .json(&json!({"jql": "project = DEV", "bogus": 1}))
        .send()
        .await;
    let v = check_requests(&remote.state().requests());
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].contains("query parameter `colour`"), "{v:?}");
    assert!(v[1].contains("bogus"), "{v:?}");
    // The guard would panic on drop: clear the log by dropping inside catch_unwind.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(jira)));
    assert!(
        r.is_err(),
        "dropping the fake did not report the violations"
    );
    drop(remote);
}
