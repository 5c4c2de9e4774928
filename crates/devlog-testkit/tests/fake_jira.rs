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

// ---- phase B: accounts, versions, fields, comment properties ----

#[tokio::test]
async fn accounts_versions_fields_and_comment_properties() {
    let (remote, jira, c) = start().await;
    // Assignable accounts by email or a word of the display name; one hides its email.
    let found = json_of(
        c.get("/rest/api/3/user/assignable/search")
            .query("project", "DEV")
            .query("query", "harry"),
    )
    .await;
    assert_eq!(found[0]["displayName"], "Hidden Harry");
    assert!(found[0].get("emailAddress").is_none());
    let vic = json_of(
        c.get("/rest/api/3/user/assignable/search")
            .query("project", "DEV")
            .query("query", "vic@example.com"),
    )
    .await;
    assert_eq!(vic, json!([]), "Vic may not be assigned issues");
    // A version, then the same name again: Jira's 400.
    let v = json_of(c.post("/rest/api/3/version").json(&json!({
        "name": "1.0", "projectId": 10000, "description": "First", "releaseDate": "2026-03-01"})))
    .await;
    assert_eq!(v["name"], "1.0");
    let err = c
        .post("/rest/api/3/version")
        .json(&json!({"name": "1.0", "projectId": 10000}))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    let listed = json_of(c.get("/rest/api/3/project/DEV/versions")).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // An issue with an assignee, a fix version, a due date and custom fields.
    let created = json_of(c.post("/rest/api/3/issue").json(&json!({
        "fields": {"project": {"key": "DEV"}, "summary": "Planned",
                   "assignee": {"accountId": "5b10ac8d82e05b22cc7d4ef5"},
                   "fixVersions": [{"name": "1.0"}], "duedate": "2026-02-01",
                   "customfield_10016": 3}})))
    .await;
    let key = created["key"].as_str().unwrap().to_string();
    let issue = json_of(c.get(&format!("/rest/api/3/issue/{key}"))).await;
    assert_eq!(
        issue["fields"]["assignee"]["emailAddress"],
        "alice@example.com"
    );
    assert_eq!(
        issue["fields"]["fixVersions"][0]["releaseDate"],
        "2026-03-01"
    );
    assert_eq!(issue["fields"]["customfield_10016"], 3);
    // A value of the wrong kind, an unknown version, an account that may not be assigned.
    for bad in [
        json!({"customfield_10040": 3}),
        json!({"fixVersions": [{"name": "9.9"}]}),
        json!({"assignee": {"accountId": "5b10a0effa615349cb016cd8"}}),
    ] {
        let err = c
            .put(&format!("/rest/api/3/issue/{key}"))
            .json(&json!({ "fields": bad }))
            .send()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("400"), "{bad}: {err}");
    }
    // Fields: custom ones with their kinds.
    let fields = json_of(c.get("/rest/api/3/field")).await;
    let story = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "customfield_10016")
        .unwrap();
    assert_eq!(story["schema"]["type"], "number");
    // A comment's properties come back with `expand=properties` only.
    c.post(&format!("/rest/api/3/issue/{key}/comment"))
        .json(
            &json!({"body": {"type": "doc", "version": 1, "content": []},
                      "properties": [{"key": "devlog", "value": {"note": "n-1"}}]}),
        )
        .send()
        .await
        .unwrap();
    let plain = json_of(c.get(&format!("/rest/api/3/issue/{key}/comment"))).await;
    assert!(plain["comments"][0].get("properties").is_none());
    let expanded = json_of(
        c.get(&format!("/rest/api/3/issue/{key}/comment"))
            .query("expand", "properties"),
    )
    .await;
    assert_eq!(
        expanded["comments"][0]["properties"][0]["value"]["note"],
        "n-1"
    );
    assert_eq!(jira.check_contract(), Vec::<String>::new());
    drop(remote);
}

#[tokio::test]
async fn a_version_body_the_description_does_not_allow_is_named() {
    let (remote, jira, c) = start().await;
    let _ = c
        .post("/rest/api/3/version")
        .json(&json!({"name": "1.0", "projectId": 10000, "colour": "red"}))
        .send()
        .await;
    let v = check_requests(&remote.state().requests());
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("colour"), "{v:?}");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(jira)));
    assert!(r.is_err(), "dropping the fake did not report the violation");
    drop(remote);
}
