//! The fake GitHub over real HTTP: comments, pull requests, releases, milestones and node
//! ids behave as GitHub's do, every answer matches GitHub's response schema, and requests the
//! OpenAPI description does not allow are reported by the contract check.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::ErrorKind;
use std::net::SocketAddr;

use axum::body::Bytes;
use devlog_testkit::fake_github::{
    DEFAULT_BRANCH, FakeGithub, VIEWER, check_request, check_response,
};
use devlog_testkit::fake_remote::{FakeRemote, RecordedRequest};
use serde_json::{Value, json};
use tokio::net::TcpStream;

const TOKEN: &str = "ghp_fake_token";

/// One answer, as read off the wire.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn len(&self) -> usize {
        self.body.as_array().map_or(0, Vec::len)
    }
}

async fn write_all(s: &TcpStream, mut buf: &[u8]) {
    while !buf.is_empty() {
        s.writable().await.unwrap();
        match s.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("writing the request: {e}"),
        }
    }
}

async fn read_to_end(s: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        s.readable().await.unwrap();
        match s.try_read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("reading the response: {e}"),
        }
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 4 + size..];
    }
    out
}

/// A plain HTTP/1.1 exchange (`Connection: close`), so the test sees exactly what the fake
/// sends: statuses, headers and bodies of errors included.
async fn exchange(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    write_all(&s, &bytes).await;
    let raw = read_to_end(&s).await;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut payload = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        payload = dechunk(&payload);
    }
    let body = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&payload).unwrap()
    };
    Resp {
        status,
        headers,
        body,
    }
}

struct Rig {
    remote: FakeRemote,
    gh: FakeGithub,
}

async fn rig() -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    Rig { remote, gh }
}

const REPO: &str = "/repos/acme/widgets";

impl Rig {
    /// Sends `method target` with the token; every answer but a 304 must match the response
    /// schema GitHub's description gives for its status.
    async fn send(
        &self,
        method: &str,
        target: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let resp = self.send_unchecked(method, target, body, extra).await;
        if resp.status != 304 {
            let path = target.split('?').next().unwrap();
            if let Err(e) = check_response(method, path, resp.status, &resp.body) {
                panic!("{method} {target} → {}: {e}\n{:#}", resp.status, resp.body);
            }
        }
        resp
    }

    /// For statuses GitHub sends but its description does not declare.
    async fn send_unchecked(
        &self,
        method: &str,
        target: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        exchange(
            self.remote.addr(),
            method,
            target,
            &headers,
            body.as_bytes(),
        )
        .await
    }

    async fn get(&self, target: &str) -> Resp {
        self.send("GET", target, None, &[]).await
    }

    async fn post(&self, target: &str, body: Value) -> Resp {
        self.send("POST", target, Some(body), &[]).await
    }

    async fn patch(&self, target: &str, body: Value) -> Resp {
        self.send("PATCH", target, Some(body), &[]).await
    }

    async fn new_issue(&self, title: &str) -> u64 {
        let r = self
            .post(&format!("{REPO}/issues"), json!({"title": title}))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["number"].as_u64().unwrap()
    }

    fn assert_contract(&self) {
        assert_eq!(self.gh.check_contract(), Vec::<String>::new());
    }
}

fn numbers(r: &Resp, key: &str) -> Vec<u64> {
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn comments_on_an_issue_round_trip_and_keep_the_issue_current() {
    let r = rig().await;
    let n = r.new_issue("Crash on start").await;
    let before = r.gh.issue(n).unwrap().updated_at;

    let c = r
        .post(
            &format!("{REPO}/issues/{n}/comments"),
            json!({"body": "Seen it too"}),
        )
        .await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let id = c.body["id"].as_u64().unwrap();
    assert!(id > i32::MAX as u64, "comment ids do not fit 32 bits: {id}");
    assert_eq!(c.body["node_id"], format!("IC_{id}"));
    assert_eq!(c.body["user"]["login"], VIEWER);
    assert_eq!(c.body["author_association"], "MEMBER");
    assert!(
        c.body["issue_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{REPO}/issues/{n}"))
    );
    assert_eq!(
        c.body["html_url"],
        format!("https://github.com/acme/widgets/issues/{n}#issuecomment-{id}")
    );
    assert!(
        c.header("location")
            .unwrap()
            .ends_with(&format!("/issues/comments/{id}"))
    );
    // A new comment bumps the issue's updated_at and its comment count.
    let issue = r.get(&format!("{REPO}/issues/{n}")).await;
    assert_eq!(issue.body["comments"], 1);
    assert!(r.gh.issue(n).unwrap().updated_at > before);

    // Someone else comments from GitHub.
    let other = r.gh.add_comment(n, "hubot", "Fixed on main?").unwrap();
    assert!(r.gh.add_comment(999, "hubot", "no such issue").is_none());
    let list = r
        .get(&format!("{REPO}/issues/{n}/comments?per_page=1"))
        .await;
    assert_eq!(numbers(&list, "id"), [id]);
    let link = list.header("link").unwrap();
    assert!(
        link.contains("page=2") && link.contains("rel=\"next\""),
        "{link}"
    );
    let page2 = r
        .get(&format!("{REPO}/issues/{n}/comments?per_page=1&page=2"))
        .await;
    assert_eq!(numbers(&page2, "id"), [other.id]);
    assert_eq!(page2.body[0]["author_association"], "NONE");
    // `since` is inclusive and filters on updated_at.
    let since = devlog_testkit::fake_remote::rfc3339(other.updated_at);
    let recent = r
        .get(&format!(
            "{REPO}/issues/{n}/comments?since={}",
            since.replace(':', "%3A")
        ))
        .await;
    assert_eq!(numbers(&recent, "id"), [other.id]);

    // One comment: read, edit, delete.
    let one = r.get(&format!("{REPO}/issues/comments/{id}")).await;
    assert_eq!(one.body["body"], "Seen it too");
    let issue_updated = r.gh.issue(n).unwrap().updated_at;
    let edited = r
        .patch(
            &format!("{REPO}/issues/comments/{id}"),
            json!({"body": "Seen it too (v2)"}),
        )
        .await;
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["body"], "Seen it too (v2)");
    assert_ne!(edited.body["updated_at"], edited.body["created_at"]);
    assert_eq!(r.gh.issue(n).unwrap().updated_at, issue_updated);
    let gone = r
        .send("DELETE", &format!("{REPO}/issues/comments/{id}"), None, &[])
        .await;
    assert_eq!(gone.status, 204);
    assert_eq!(
        r.get(&format!("{REPO}/issues/comments/{id}")).await.status,
        404
    );
    assert_eq!(r.gh.comments(n), [r.gh.comment(other.id).unwrap()]);
    let issue = r.get(&format!("{REPO}/issues/{n}")).await;
    assert_eq!(issue.body["comments"], 1);

    // The test-side helpers.
    let e = r.gh.edit_comment(other.id, "edited on GitHub").unwrap();
    assert_eq!(e.body, "edited on GitHub");
    assert_eq!(r.gh.delete_comment(other.id).unwrap().id, other.id);
    assert!(r.gh.all_comments().is_empty());
    r.assert_contract();
}

#[tokio::test]
async fn repository_comments_sort_filter_page_and_answer_304_when_unchanged() {
    let r = rig().await;
    let a = r.new_issue("A").await;
    let b = r.new_issue("B").await;
    let c1 = r.gh.add_comment(a, "hubot", "one").unwrap();
    let c2 = r.gh.add_comment(b, "hubot", "two").unwrap();
    let c3 = r.gh.add_comment(a, "hubot", "three").unwrap();
    r.gh.edit_comment(c1.id, "one, edited").unwrap();

    let all = r.get(&format!("{REPO}/issues/comments")).await;
    assert_eq!(numbers(&all, "id"), [c1.id, c2.id, c3.id], "oldest first");
    let updated = r
        .get(&format!(
            "{REPO}/issues/comments?sort=updated&direction=asc"
        ))
        .await;
    assert_eq!(numbers(&updated, "id"), [c2.id, c3.id, c1.id]);
    let newest = r
        .get(&format!(
            "{REPO}/issues/comments?sort=created&direction=desc"
        ))
        .await;
    assert_eq!(numbers(&newest, "id"), [c3.id, c2.id, c1.id]);
    let since = devlog_testkit::fake_remote::rfc3339(c3.updated_at);
    let target =
        format!("{REPO}/issues/comments?sort=updated&direction=asc&since={since}&per_page=1");
    let page1 = r.get(&target).await;
    assert_eq!(numbers(&page1, "id"), [c3.id], "since is inclusive");
    let next = page1.header("link").unwrap();
    assert!(next.contains("rel=\"next\""), "{next}");
    let page2 = r.get(&format!("{target}&page=2")).await;
    assert_eq!(numbers(&page2, "id"), [c1.id]);
    assert!(page2.header("link").unwrap().contains("rel=\"prev\""));

    // Conditional requests, as on the issues list.
    let etag = page1.header("etag").unwrap().to_string();
    let same = r
        .send("GET", &target, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(same.status, 304);
    assert_eq!(same.body, Value::Null);
    r.gh.edit_comment(c3.id, "three, edited").unwrap();
    let changed = r
        .send("GET", &target, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag);
    // c3 moved behind c1 in `updated` order.
    assert_eq!(numbers(&changed, "id"), [c1.id]);
    r.assert_contract();
}

#[tokio::test]
async fn pull_requests_share_numbers_with_issues_and_appear_in_the_issues_list() {
    let r = rig().await;
    let issue = r.new_issue("Bug").await;
    r.gh.add_branch("feature/login");
    let pr = r
        .post(
            &format!("{REPO}/pulls"),
            json!({"title": "Login", "head": "feature/login", "base": DEFAULT_BRANCH,
                   "body": "Closes #1", "draft": true}),
        )
        .await;
    assert_eq!(pr.status, 201, "{:#}", pr.body);
    let n = pr.body["number"].as_u64().unwrap();
    assert_eq!(n, issue + 1);
    assert_eq!(pr.body["node_id"], format!("PR_{n}"));
    assert_eq!(pr.body["draft"], true);
    assert_eq!(pr.body["merged"], false);
    assert_eq!(pr.body["merged_at"], Value::Null);
    assert_eq!(pr.body["head"]["ref"], "feature/login");
    assert_eq!(pr.body["head"]["label"], "acme:feature/login");
    assert_eq!(pr.body["head"]["sha"].as_str().unwrap().len(), 40);
    assert_eq!(pr.body["base"]["ref"], "main");
    assert_eq!(
        pr.body["html_url"],
        format!("https://github.com/acme/widgets/pull/{n}")
    );

    // In the issues list, with the pull_request object.
    let issues = r.get(&format!("{REPO}/issues?state=all")).await;
    let listed = issues
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == n)
        .unwrap()
        .clone();
    assert_eq!(listed["node_id"], format!("PR_{n}"));
    assert!(
        listed["pull_request"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pulls/{n}"))
    );
    assert_eq!(listed["pull_request"]["merged_at"], Value::Null);
    assert!(r.gh.issue(n).unwrap().pull_request);

    // One pull request: ETag and 304; not for a plain issue.
    let got = r.get(&format!("{REPO}/pulls/{n}")).await;
    let etag = got.header("etag").unwrap().to_string();
    let again = r
        .send(
            "GET",
            &format!("{REPO}/pulls/{n}"),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, 304);
    assert_eq!(r.get(&format!("{REPO}/pulls/{issue}")).await.status, 404);

    // Edit; the ETag moves.
    let edited = r
        .patch(
            &format!("{REPO}/pulls/{n}"),
            json!({"title": "Login with GitHub", "state": "closed"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{:#}", edited.body);
    assert_eq!(edited.body["state"], "closed");
    assert!(edited.body["closed_at"].is_string());
    assert_eq!(edited.body["merged"], false);
    let after = r
        .send(
            "GET",
            &format!("{REPO}/pulls/{n}"),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["title"], "Login with GitHub");
    let reopened = r
        .patch(&format!("{REPO}/pulls/{n}"), json!({"state": "open"}))
        .await;
    assert_eq!(reopened.body["closed_at"], Value::Null);

    // The list: state, head (owner:branch), base, paging; the short form.
    let other = r.gh.insert_pull("Docs", "docs", "main");
    let open = r.get(&format!("{REPO}/pulls")).await;
    assert_eq!(numbers(&open, "number"), [other.number, n], "newest first");
    assert!(
        open.body[0].get("merged").is_none(),
        "the list has no `merged`"
    );
    let by_head = r
        .get(&format!("{REPO}/pulls?head=acme:feature/login&base=main"))
        .await;
    assert_eq!(numbers(&by_head, "number"), [n]);
    let bare = r.get(&format!("{REPO}/pulls?head=feature/login")).await;
    assert_eq!(bare.len(), 2, "GitHub ignores a head without its owner");
    let paged = r
        .get(&format!("{REPO}/pulls?state=all&per_page=1&page=2"))
        .await;
    assert_eq!(numbers(&paged, "number"), [n]);
    assert!(paged.header("link").unwrap().contains("rel=\"first\""));
    r.gh.close_pull(other.number).unwrap();
    let closed = r.get(&format!("{REPO}/pulls?state=closed")).await;
    assert_eq!(numbers(&closed, "number"), [other.number]);
    assert_eq!(r.gh.pulls().len(), 2);
    r.assert_contract();
}

#[tokio::test]
async fn pull_request_mistakes_get_githubs_validation_errors() {
    let r = rig().await;
    let unknown = r
        .post(
            &format!("{REPO}/pulls"),
            json!({"title": "x", "head": "nope", "base": "main"}),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.body["message"], "Validation Failed");
    assert_eq!(
        unknown.body["errors"],
        json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}])
    );
    assert!(
        unknown.body["documentation_url"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.github.com/rest/pulls/")
    );
    let bad_base = r
        .post(
            &format!("{REPO}/pulls"),
            json!({"title": "x", "head": "main", "base": "release"}),
        )
        .await;
    assert_eq!(bad_base.body["errors"][0]["field"], "base");

    r.gh.add_branch("fix");
    let first = r
        .post(
            &format!("{REPO}/pulls"),
            json!({"title": "Fix", "head": "acme:fix", "base": "main"}),
        )
        .await;
    assert_eq!(first.status, 201, "owner:branch names our own branch");
    let twice = r
        .post(
            &format!("{REPO}/pulls"),
            json!({"title": "Fix again", "head": "fix", "base": "main"}),
        )
        .await;
    assert_eq!(twice.status, 422);
    let message = twice.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("A pull request already exists for acme:fix"),
        "{message}"
    );
    // Once merged, a new pull request from the same branch is fine, and the merged one
    // cannot be reopened.
    let n = first.body["number"].as_u64().unwrap();
    r.gh.merge_pull(n).unwrap();
    assert!(r.gh.merge_pull(n).is_none(), "already merged");
    let reopen = r
        .patch(&format!("{REPO}/pulls/{n}"), json!({"state": "open"}))
        .await;
    assert_eq!(reopen.status, 422);
    let again = r
        .post(
            &format!("{REPO}/pulls"),
            json!({"title": "Fix again", "head": "fix", "base": "main"}),
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(r.gh.pulls().len(), 2);
    r.assert_contract();
}

#[tokio::test]
async fn merge_pull_shows_merged_at_in_the_issues_list() {
    let r = rig().await;
    let p = r.gh.insert_pull("Feature", "feature", "main");
    let before = r.gh.pull(p.number).unwrap();
    assert!(!before.merged());
    let merged = r.gh.merge_pull(p.number).unwrap();
    assert!(merged.merged());
    assert_eq!(merged.state, "closed");
    assert!(merged.updated_at > before.updated_at);
    let at = devlog_testkit::fake_remote::rfc3339(merged.merged_at.unwrap());

    let issues = r
        .get(&format!("{REPO}/issues?state=closed&sort=updated"))
        .await;
    assert_eq!(issues.body[0]["number"], p.number);
    assert_eq!(issues.body[0]["pull_request"]["merged_at"], at);
    assert_eq!(issues.body[0]["state"], "closed");
    let pull = r.get(&format!("{REPO}/pulls/{}", p.number)).await;
    assert_eq!(pull.body["merged"], true);
    assert_eq!(pull.body["merged_at"], at);
    assert_eq!(pull.body["merged_by"]["login"], VIEWER);
    assert!(pull.body["merge_commit_sha"].is_string());
    let list = r.get(&format!("{REPO}/pulls?state=closed")).await;
    assert_eq!(list.body[0]["merged_at"], at);
    r.assert_contract();
}

#[tokio::test]
async fn releases_are_created_found_by_tag_listed_and_edited() {
    let r = rig().await;
    let v1 = r
        .post(
            &format!("{REPO}/releases"),
            json!({"tag_name": "v1.0.0", "name": "One", "body": "First",
                   "target_commitish": "main"}),
        )
        .await;
    assert_eq!(v1.status, 201, "{:#}", v1.body);
    assert_eq!(v1.body["draft"], false);
    assert!(v1.body["published_at"].is_string());
    assert!(v1.header("location").is_some());
    let dup = r
        .post(&format!("{REPO}/releases"), json!({"tag_name": "v1.0.0"}))
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(
        dup.body["errors"],
        json!([{"resource": "Release", "field": "tag_name", "code": "already_exists"}])
    );
    let draft = r
        .post(
            &format!("{REPO}/releases"),
            json!({"tag_name": "v2.0.0", "draft": true, "prerelease": true}),
        )
        .await;
    assert_eq!(draft.body["published_at"], Value::Null);
    assert_eq!(draft.body["name"], Value::Null);

    let by_tag = r.get(&format!("{REPO}/releases/tags/v1.0.0")).await;
    assert_eq!(by_tag.body["id"], v1.body["id"]);
    assert_eq!(
        r.get(&format!("{REPO}/releases/tags/v2.0.0")).await.status,
        404,
        "drafts are not found by tag"
    );
    assert_eq!(r.get(&format!("{REPO}/releases/tags/v9")).await.status, 404);

    let list = r.get(&format!("{REPO}/releases?per_page=1")).await;
    assert_eq!(list.body[0]["tag_name"], "v2.0.0", "newest first");
    assert!(list.header("link").unwrap().contains("rel=\"next\""));

    let id = draft.body["id"].as_u64().unwrap();
    let published = r
        .patch(
            &format!("{REPO}/releases/{id}"),
            json!({"draft": false, "name": "Two", "body": "Second"}),
        )
        .await;
    assert_eq!(published.status, 200);
    assert!(published.body["published_at"].is_string());
    assert_eq!(
        r.get(&format!("{REPO}/releases/tags/v2.0.0")).await.body["name"],
        "Two"
    );
    // GitHub refuses a taken tag with a 422 its description does not declare for this
    // operation.
    let clash = r
        .send_unchecked(
            "PATCH",
            &format!("{REPO}/releases/{id}"),
            Some(json!({"tag_name": "v1.0.0"})),
            &[],
        )
        .await;
    assert_eq!(clash.status, 422);
    assert_eq!(clash.body["errors"][0]["code"], "already_exists");
    let releases = r.gh.releases();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[1].body.as_deref(), Some("Second"));
    assert!(!releases[1].draft && releases[1].prerelease);
    r.assert_contract();
}

#[tokio::test]
async fn milestones_are_listed_created_and_set_on_issues() {
    let r = rig().await;
    let m1 = r.gh.add_milestone("v1");
    let created = r
        .post(
            &format!("{REPO}/milestones"),
            json!({"title": "v2", "description": "Next", "due_on": "2025-06-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let m2 = created.body["number"].as_u64().unwrap();
    assert_eq!(
        r.post(&format!("{REPO}/milestones"), json!({"title": "v1"}))
            .await
            .body["errors"][0]["code"],
        "already_exists"
    );

    // Issues take a milestone by number, return it as an object, and refuse unknown ones.
    let i = r
        .post(
            &format!("{REPO}/issues"),
            json!({"title": "Ship it", "milestone": m1.number}),
        )
        .await;
    assert_eq!(i.status, 201);
    assert_eq!(i.body["milestone"]["number"], m1.number);
    assert_eq!(i.body["milestone"]["title"], "v1");
    assert_eq!(i.body["milestone"]["open_issues"], 1);
    let n = i.body["number"].as_u64().unwrap();
    let unknown = r
        .patch(&format!("{REPO}/issues/{n}"), json!({"milestone": 99}))
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.body["errors"][0]["field"], "milestone");
    assert_eq!(r.gh.issue(n).unwrap().milestone, Some(m1.number));
    let moved = r
        .patch(&format!("{REPO}/issues/{n}"), json!({"milestone": m2}))
        .await;
    assert_eq!(moved.body["milestone"]["number"], m2);
    let cleared = r
        .patch(&format!("{REPO}/issues/{n}"), json!({"milestone": null}))
        .await;
    assert_eq!(cleared.body["milestone"], Value::Null);
    let bad_create = r
        .post(
            &format!("{REPO}/issues"),
            json!({"title": "x", "milestone": 42}),
        )
        .await;
    assert_eq!(bad_create.status, 422);

    // The list: open by default, due date first (none last), state filter.
    r.gh.edit_milestone(m1.number, |m| m.state = "closed".into())
        .unwrap();
    let open = r.get(&format!("{REPO}/milestones")).await;
    assert_eq!(numbers(&open, "number"), [m2]);
    let all = r
        .get(&format!("{REPO}/milestones?state=all&per_page=10"))
        .await;
    assert_eq!(numbers(&all, "number"), [m2, m1.number]);
    assert!(all.body[1]["closed_at"].is_string());
    assert_eq!(r.gh.milestones().len(), 2);
    r.assert_contract();
}

#[tokio::test]
async fn node_ids_resolve_to_issues_and_pull_requests() {
    let r = rig().await;
    let i = r.gh.insert_issue("Issue", "body", false);
    let p = r.gh.insert_issue("PR", "body", true);
    assert_eq!(i.node_id(), format!("I_{}", i.number));
    assert_eq!(p.node_id(), format!("PR_{}", p.number));
    assert_eq!(r.gh.issue_by_node_id(&i.node_id()), Some(i.clone()));
    assert_eq!(r.gh.issue_by_node_id(&p.node_id()), Some(p.clone()));
    // The kind must match: an issue's number with the PR prefix is nothing.
    assert_eq!(r.gh.issue_by_node_id(&format!("PR_{}", i.number)), None);
    assert_eq!(r.gh.issue_by_node_id("I_999"), None);
    assert_eq!(r.gh.issue_by_node_id("garbage"), None);
    // insert_issue(.., true) makes a real pull request.
    assert_eq!(r.gh.pull(p.number).unwrap().base, DEFAULT_BRANCH);
    let got = r.get(&format!("{REPO}/issues/{}", i.number)).await;
    assert_eq!(got.body["node_id"], i.node_id());
    r.assert_contract();
}

#[tokio::test]
async fn requests_the_description_does_not_allow_are_reported() {
    let r = rig().await;
    let n = r.new_issue("x").await;
    r.assert_contract();
    // An undeclared query parameter, a body the schema refuses, a path parameter of the
    // wrong type.
    let auth = format!("Bearer {TOKEN}");
    let h = [("authorization", auth.as_str())];
    let addr = r.remote.addr();
    exchange(
        addr,
        "GET",
        &format!("{REPO}/issues/comments?author=bob"),
        &h,
        b"",
    )
    .await;
    let bad = exchange(
        addr,
        "POST",
        &format!("{REPO}/issues/{n}/comments"),
        &h,
        br#"{"text": "no body field"}"#,
    )
    .await;
    assert_eq!(bad.status, 422);
    exchange(addr, "GET", &format!("{REPO}/pulls/latest"), &h, b"").await;
    // GraphQL goes to the GraphQL check, whatever it says about a field that does not exist.
    exchange(
        addr,
        "POST",
        "/graphql",
        &h,
        br#"{"query": "query { noSuchFieldAnywhere }"}"#,
    )
    .await;
    let v = r.gh.check_contract();
    assert_eq!(v.len(), 4, "{v:#?}");
    assert!(v[0].contains("`author` is not declared"), "{v:#?}");
    assert!(v[1].contains("request schema"), "{v:#?}");
    assert!(v[2].contains("path parameter `pull_number`"), "{v:#?}");
    assert!(v[3].starts_with("POST /graphql: GraphQL: "), "{v:#?}");
    // Seen and checked: forget them so dropping the fake does not fail this test.
    r.remote.clear_requests();
    r.assert_contract();
}

fn req(method: &str, path: &str, query: Option<&str>, body: Value) -> RecordedRequest {
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
fn the_most_literal_template_is_the_operation() {
    // `issues/comments` is not `issues/{issue_number}` (which takes no query parameters).
    let r = req(
        "GET",
        "/repos/o/r/issues/comments",
        Some("sort=updated&direction=asc&since=2025-01-01T00%3A00%3A00Z&per_page=100&page=2"),
        Value::Null,
    );
    assert_eq!(check_request(&r), Ok(()));
    let r = req(
        "PATCH",
        "/repos/o/r/issues/comments/3000000001",
        None,
        json!({"body": "b"}),
    );
    assert_eq!(check_request(&r), Ok(()));
    let r = req("GET", "/repos/o/r/releases/tags/v1.0.0", None, Value::Null);
    assert_eq!(check_request(&r), Ok(()));
    let r = req("GET", "/repos/o/r/issues/abc", None, Value::Null);
    let err = check_request(&r).unwrap_err();
    assert!(
        err.contains("`issue_number`: `abc` is not an integer"),
        "{err}"
    );
    let r = req(
        "POST",
        "/graphql",
        Some("x=1"),
        json!({"query": "{ viewer { login } }"}),
    );
    assert!(
        check_request(&r)
            .unwrap_err()
            .contains("no query parameters")
    );
    let r = req("GET", "/graphql", None, Value::Null);
    assert!(check_request(&r).unwrap_err().contains("no such operation"));
}

#[test]
fn response_bodies_are_checked_against_the_response_schema() {
    assert_eq!(
        check_response("DELETE", "/repos/o/r/issues/comments/1", 204, &Value::Null),
        Ok(())
    );
    let err = check_response(
        "GET",
        "/repos/o/r/issues/comments/1",
        200,
        &json!({"id": 1}),
    )
    .unwrap_err();
    assert!(err.contains("response schema"), "{err}");
    let err = check_response("GET", "/repos/o/r/issues/comments/1", 418, &Value::Null).unwrap_err();
    assert!(err.contains("not declared"), "{err}");
}
