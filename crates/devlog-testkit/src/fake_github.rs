//! A fake GitHub REST API (the subset devlog's GitHub clients use), mounted on the
//! [`FakeRemote`](crate::fake_remote::FakeRemote) harness so it shares its request log,
//! faults, clock and rate-limit headers.
//!
//! Implemented, with GitHub's JSON shapes (every field the OpenAPI response schema requires):
//! - Issues: `POST/GET /repos/{owner}/{repo}/issues` (list with `state`, `since`
//!   (inclusive), `sort`, `direction`, `per_page`/`page` with a `Link` header, `ETag`/304),
//!   `GET/PATCH /repos/{owner}/{repo}/issues/{n}` (`milestone` by number or `null`; an
//!   unknown number is a 422), `GET /search/issues` (the quoted phrase of `q` in bodies,
//!   `repo:` qualifier). Pull requests are issues too: they share the number sequence and
//!   appear in the issues list with `pull_request: {url, html_url, …, merged_at}`.
//! - Issue comments: `GET/POST …/issues/{n}/comments` (`since`, paging),
//!   `GET …/issues/comments` (repository-wide: `sort`, `direction`, `since` inclusive,
//!   paging, `ETag`/304), `GET/PATCH/DELETE …/issues/comments/{id}`. Adding a comment bumps
//!   the issue's `updated_at` (as GitHub does); editing or deleting one does not. Comment ids
//!   start above `i32::MAX`, as GitHub's do by now.
//! - Pull requests: `POST/GET …/pulls` (list with `state`, `head` (`owner:branch`; a bare
//!   branch name is ignored, as GitHub ignores it), `base`, `sort`, `direction`, paging),
//!   `GET/PATCH …/pulls/{n}` (`ETag`/304). `head` and `base` must be known branches
//!   ([`FakeGithub::add_branch`]; [`DEFAULT_BRANCH`] exists from the start), one open pull
//!   request per head; otherwise GitHub's 422 `Validation Failed` shape. The list uses
//!   GitHub's short form (no `merged`, `mergeable`, counts), the single pull the full one.
//! - Releases: `POST/GET …/releases` (422 `already_exists` for a tag that has a release),
//!   `GET …/releases/tags/{tag}` (published releases only, else 404),
//!   `GET/PATCH …/releases/{id}`.
//! - Milestones: `GET …/milestones` (`state`, `sort`, `direction`, paging), `POST` (422
//!   `already_exists` for a taken title), with open/closed issue counts.
//!
//! Node ids: issues `I_<n>`, pull requests `PR_<n>` (also in their issue form), comments
//! `IC_<id>`; [`FakeGithub::issue_by_node_id`] resolves the first two. Everything created
//! through the API is authored by [`VIEWER`]. A wrong bearer token gets 401, another
//! repository 404.
//!
//! **Contract check**: every request the server received (faulted ones too) is validated
//! against GitHub's OpenAPI description (`apispecs/github/api.github.com.trimmed.json`):
//! the method and path template must exist (the template with the most literal segments
//! wins, so `issues/comments` is not taken for `issues/{issue_number}`), integer path
//! parameters must be integers, every query parameter must be declared (and match its
//! enum/integer schema), and a JSON body must validate against the operation's request
//! schema (OpenAPI 3.0 `nullable` is translated, `$ref`s resolve within the document).
//! `POST /graphql` is not REST: its body goes to
//! [`check_graphql_body`](crate::fake_github_graphql::check_graphql_body) instead.
//! [`FakeGithub::check_contract`] lists violations; dropping a [`FakeGithub`] whose server
//! received a request the description does not allow panics, so every test that uses it
//! checks the contract. [`check_response`] validates a response body against the
//! operation's response schema (the fake's own tests use it on every answer).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::openapi::{ContractGuard, Spec};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::fake_remote::{
    FakeState, RecordedRequest, content_etag, encode, json_error, json_with_etag, link_header,
    origin, rfc3339,
};

/// Where the OpenAPI description lives (`DEVLOG_GITHUB_OPENAPI` overrides).
pub fn spec_path() -> String {
    std::env::var("DEVLOG_GITHUB_OPENAPI").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apispecs/github/api.github.com.trimmed.json"
        )
        .to_string()
    })
}

/// The login the fake's token belongs to: the author of everything created through the API.
pub const VIEWER: &str = "octocat";

/// The repository's default branch, known from the start.
pub const DEFAULT_BRANCH: &str = "main";

/// Comment ids start above `i32::MAX`, as GitHub's do by now, so a client that keeps them in
/// 32 bits fails here rather than against github.com.
const FIRST_COMMENT_ID: u64 = 3_000_000_001;
const FIRST_RELEASE_ID: u64 = 200_000_001;

/// An issue (or pull request) of the fake repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhIssue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub pull_request: bool,
    /// The milestone's number.
    pub milestone: Option<u64>,
}

impl GhIssue {
    /// `I_<n>`, or `PR_<n>` for a pull request (GitHub gives a pull request's issue form the
    /// pull request's node id).
    pub fn node_id(&self) -> String {
        if self.pull_request {
            format!("PR_{}", self.number)
        } else {
            format!("I_{}", self.number)
        }
    }
}

/// A pull request: its issue's fields plus the branches and merge state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhPull {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub draft: bool,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub merged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl GhPull {
    pub fn merged(&self) -> bool {
        self.merged_at.is_some()
    }

    pub fn node_id(&self) -> String {
        format!("PR_{}", self.number)
    }
}

/// What a pull request has beyond its issue.
#[derive(Debug, Clone)]
struct PullExtra {
    head: String,
    head_sha: String,
    base: String,
    draft: bool,
    merged_at: Option<DateTime<Utc>>,
}

/// A comment on an issue or pull request (the conversation, not a review comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhComment {
    pub id: u64,
    pub issue_number: u64,
    pub user: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl GhComment {
    pub fn node_id(&self) -> String {
        format!("IC_{}", self.id)
    }
}

/// A release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhRelease {
    pub id: u64,
    pub tag_name: String,
    pub target_commitish: String,
    pub name: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    pub created_at: DateTime<Utc>,
    /// `None` while a draft.
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A milestone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhMilestone {
    pub number: u64,
    pub title: String,
    pub description: Option<String>,
    pub state: String,
    pub due_on: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Data {
    issues: BTreeMap<u64, GhIssue>,
    pulls: BTreeMap<u64, PullExtra>,
    comments: BTreeMap<u64, GhComment>,
    releases: BTreeMap<u64, GhRelease>,
    milestones: BTreeMap<u64, GhMilestone>,
    branches: BTreeSet<String>,
    next: u64,
    created: u64,
    next_comment: u64,
    next_release: u64,
    next_milestone: u64,
}

impl Data {
    fn comment_count(&self, number: u64) -> usize {
        self.comments
            .values()
            .filter(|c| c.issue_number == number)
            .count()
    }

    fn pull(&self, number: u64) -> Option<GhPull> {
        let i = self.issues.get(&number)?;
        let p = self.pulls.get(&number)?;
        Some(GhPull {
            number,
            title: i.title.clone(),
            body: i.body.clone(),
            state: i.state.clone(),
            draft: p.draft,
            head: p.head.clone(),
            head_sha: p.head_sha.clone(),
            base: p.base.clone(),
            merged_at: p.merged_at,
            created_at: i.created_at,
            updated_at: i.updated_at,
            closed_at: i.closed_at,
        })
    }

    /// The open pull request from `head`, other than `except`.
    fn open_pull_from(&self, head: &str, except: u64) -> Option<u64> {
        self.pulls
            .iter()
            .filter(|(n, p)| **n != except && p.head == head)
            .map(|(n, _)| *n)
            .find(|n| self.issues.get(n).is_some_and(|i| i.state == "open"))
    }

    fn new_issue(&mut self, now: DateTime<Utc>, title: String, body: Option<String>) -> GhIssue {
        let number = self.next;
        self.next += 1;
        GhIssue {
            number,
            title,
            body,
            state: "open".into(),
            state_reason: None,
            labels: Vec::new(),
            assignees: Vec::new(),
            created_at: now,
            updated_at: now,
            closed_at: None,
            pull_request: false,
            milestone: None,
        }
    }

    fn insert_pull(
        &mut self,
        now: DateTime<Utc>,
        title: String,
        body: Option<String>,
        head: &str,
        base: &str,
        draft: bool,
    ) -> GhPull {
        let mut issue = self.new_issue(now, title, body);
        issue.pull_request = true;
        let number = issue.number;
        self.issues.insert(number, issue);
        self.branches.insert(head.to_string());
        self.branches.insert(base.to_string());
        self.pulls.insert(
            number,
            PullExtra {
                head: head.to_string(),
                head_sha: fake_sha(&format!("{head}#{number}")),
                base: base.to_string(),
                draft,
                merged_at: None,
            },
        );
        self.pull(number).expect("just inserted")
    }

    fn add_comment(
        &mut self,
        now: DateTime<Utc>,
        number: u64,
        login: &str,
        body: &str,
    ) -> Option<GhComment> {
        let issue = self.issues.get_mut(&number)?;
        issue.updated_at = now;
        let id = self.next_comment;
        self.next_comment += 1;
        let c = GhComment {
            id,
            issue_number: number,
            user: login.to_string(),
            body: body.to_string(),
            created_at: now,
            updated_at: now,
        };
        self.comments.insert(id, c.clone());
        Some(c)
    }

    /// A `milestone` field of a request: `Ok(None)` for null, the number of a known
    /// milestone, else `Err` (GitHub's 422).
    fn milestone_ref(&self, v: &Value) -> Result<Option<u64>, ()> {
        let number = match v {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse::<u64>().ok(),
            _ => None,
        };
        match number {
            Some(n) if self.milestones.contains_key(&n) => Ok(Some(n)),
            _ => Err(()),
        }
    }
}

#[derive(Debug)]
struct Shared {
    owner: String,
    repo: String,
    token: String,
    data: Mutex<Data>,
    /// Classic-token scopes sent as `X-OAuth-Scopes` (with `X-Accepted-OAuth-Scopes: repo`).
    scopes: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fake GitHub: its data, its routes, the contract check. Cheap to clone; the check runs
/// when the last handle the test holds is dropped.
#[derive(Debug, Clone)]
pub struct FakeGithub {
    shared: Arc<Shared>,
    remote: FakeState,
    _guard: Arc<ContractGuard>,
}

#[derive(Clone)]
struct RouteState {
    gh: Arc<Shared>,
    remote: FakeState,
}

impl FakeGithub {
    /// A fake holding repository `owner/repo`, accepting `Bearer <token>`; `remote` is the
    /// harness's state ([`crate::fake_remote::FakeRemoteBuilder::state`]).
    pub fn new(remote: FakeState, owner: &str, repo: &str, token: &str) -> Self {
        Self {
            shared: Arc::new(Shared {
                owner: owner.into(),
                repo: repo.into(),
                token: token.into(),
                data: Mutex::new(Data {
                    next: 1,
                    next_comment: FIRST_COMMENT_ID,
                    next_release: FIRST_RELEASE_ID,
                    next_milestone: 1,
                    branches: BTreeSet::from([DEFAULT_BRANCH.to_string()]),
                    ..Data::default()
                }),
                scopes: Mutex::new(None),
            }),
            _guard: Arc::new(ContractGuard::new("GitHub", remote.clone(), check_requests)),
            remote,
        }
    }

    /// The routes to mount with [`crate::fake_remote::FakeRemoteBuilder::routes`] (use
    /// `without_tracker()`: the fake answers every path, GitHub-style 404 for unknown ones).
    pub fn router(&self) -> Router {
        let st = RouteState {
            gh: self.shared.clone(),
            remote: self.remote.clone(),
        };
        Router::new()
            .route(
                "/repos/{owner}/{repo}/issues",
                get(list_issues).post(create_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/comments",
                get(list_repo_comments),
            )
            .route(
                "/repos/{owner}/{repo}/issues/comments/{comment_id}",
                get(get_comment)
                    .patch(update_comment)
                    .delete(delete_comment),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{number}",
                get(get_issue).patch(update_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{number}/comments",
                get(list_issue_comments).post(create_comment),
            )
            .route(
                "/repos/{owner}/{repo}/pulls",
                get(list_pulls).post(create_pull),
            )
            .route(
                "/repos/{owner}/{repo}/pulls/{number}",
                get(get_pull).patch(update_pull),
            )
            .route(
                "/repos/{owner}/{repo}/releases",
                get(list_releases).post(create_release),
            )
            .route(
                "/repos/{owner}/{repo}/releases/tags/{tag}",
                get(get_release_by_tag),
            )
            .route(
                "/repos/{owner}/{repo}/releases/{release_id}",
                get(get_release).patch(update_release),
            )
            .route(
                "/repos/{owner}/{repo}/milestones",
                get(list_milestones).post(create_milestone),
            )
            .route("/search/issues", get(search_issues))
            .route(
                "/{*rest}",
                axum::routing::any(|| async { json_error(StatusCode::NOT_FOUND, "Not Found") }),
            )
            .layer(axum::middleware::map_response_with_state(
                st.clone(),
                add_scope_headers,
            ))
            .with_state(st)
    }

    /// Makes every response carry `X-OAuth-Scopes: <scopes>` and
    /// `X-Accepted-OAuth-Scopes: repo`, as GitHub does for classic tokens (`None`: neither).
    pub fn set_token_scopes(&self, scopes: Option<&str>) {
        *lock(&self.shared.scopes) = scopes.map(str::to_string);
    }

    /// Violations of the API description among all requests received so far.
    pub fn check_contract(&self) -> Vec<String> {
        check_requests(&self.remote.requests())
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.shared.data)
    }

    // ---- issues ----

    /// Issues and pull requests (in their issue form), by number.
    pub fn issues(&self) -> Vec<GhIssue> {
        self.data().issues.values().cloned().collect()
    }

    pub fn issue(&self, number: u64) -> Option<GhIssue> {
        self.data().issues.get(&number).cloned()
    }

    /// The issue or pull request with this node id (`I_<n>` or `PR_<n>`, as the REST
    /// answers give them).
    pub fn issue_by_node_id(&self, node_id: &str) -> Option<GhIssue> {
        let (pull, number) = if let Some(n) = node_id.strip_prefix("PR_") {
            (true, n)
        } else {
            (false, node_id.strip_prefix("I_")?)
        };
        let number = number.parse::<u64>().ok()?;
        self.issue(number).filter(|i| i.pull_request == pull)
    }

    /// Issues created through `POST …/issues` (including those whose response was dropped).
    pub fn issues_created(&self) -> u64 {
        self.data().created
    }

    /// Changes an issue as someone on GitHub would (bumps `updated_at`).
    pub fn edit_issue(&self, number: u64, edit: impl FnOnce(&mut GhIssue)) -> Option<GhIssue> {
        let now = self.remote.tick();
        let mut d = self.data();
        let issue = d.issues.get_mut(&number)?;
        edit(issue);
        issue.updated_at = now;
        Some(issue.clone())
    }

    /// Adds an issue (or, with `pull_request`, a pull request from branch `pr-<n>` into
    /// [`DEFAULT_BRANCH`]) directly.
    pub fn insert_issue(&self, title: &str, body: &str, pull_request: bool) -> GhIssue {
        let now = self.remote.tick();
        let mut d = self.data();
        if pull_request {
            let head = format!("pr-{}", d.next);
            let p = d.insert_pull(
                now,
                title.into(),
                Some(body.into()),
                &head,
                DEFAULT_BRANCH,
                false,
            );
            return d.issues[&p.number].clone();
        }
        let issue = d.new_issue(now, title.into(), Some(body.into()));
        d.issues.insert(issue.number, issue.clone());
        issue
    }

    // ---- comments ----

    /// Comments `login` on issue (or pull request) `issue_number`, as someone on GitHub
    /// would: bumps the issue's `updated_at`. `None` when there is no such issue.
    pub fn add_comment(&self, issue_number: u64, login: &str, body: &str) -> Option<GhComment> {
        let now = self.remote.tick();
        self.data().add_comment(now, issue_number, login, body)
    }

    /// Edits a comment's body (bumps the comment's `updated_at`, not the issue's).
    pub fn edit_comment(&self, id: u64, body: &str) -> Option<GhComment> {
        let now = self.remote.tick();
        let mut d = self.data();
        let c = d.comments.get_mut(&id)?;
        c.body = body.to_string();
        c.updated_at = now;
        Some(c.clone())
    }

    pub fn delete_comment(&self, id: u64) -> Option<GhComment> {
        self.data().comments.remove(&id)
    }

    pub fn comment(&self, id: u64) -> Option<GhComment> {
        self.data().comments.get(&id).cloned()
    }

    /// The comments on one issue, oldest first.
    pub fn comments(&self, issue_number: u64) -> Vec<GhComment> {
        self.data()
            .comments
            .values()
            .filter(|c| c.issue_number == issue_number)
            .cloned()
            .collect()
    }

    /// Every comment of the repository, oldest first.
    pub fn all_comments(&self) -> Vec<GhComment> {
        self.data().comments.values().cloned().collect()
    }

    // ---- branches and pull requests ----

    /// Makes `name` a branch of the repository, so pull requests can name it.
    pub fn add_branch(&self, name: &str) {
        self.data().branches.insert(name.to_string());
    }

    pub fn branches(&self) -> Vec<String> {
        self.data().branches.iter().cloned().collect()
    }

    /// Opens a pull request from `head` into `base` directly (both become branches).
    pub fn insert_pull(&self, title: &str, head: &str, base: &str) -> GhPull {
        let now = self.remote.tick();
        self.data()
            .insert_pull(now, title.into(), None, head, base, false)
    }

    pub fn pulls(&self) -> Vec<GhPull> {
        let d = self.data();
        d.pulls.keys().filter_map(|n| d.pull(*n)).collect()
    }

    pub fn pull(&self, number: u64) -> Option<GhPull> {
        self.data().pull(number)
    }

    /// Merges an open pull request as someone on GitHub would: closed, `merged_at` now,
    /// `updated_at` bumped. `None` when there is no such open pull request.
    pub fn merge_pull(&self, number: u64) -> Option<GhPull> {
        self.finish_pull(number, true)
    }

    /// Closes an open pull request without merging it.
    pub fn close_pull(&self, number: u64) -> Option<GhPull> {
        self.finish_pull(number, false)
    }

    fn finish_pull(&self, number: u64, merge: bool) -> Option<GhPull> {
        let now = self.remote.tick();
        let mut d = self.data();
        let issue = d
            .issues
            .get_mut(&number)
            .filter(|i| i.pull_request && i.state == "open")?;
        issue.state = "closed".into();
        issue.closed_at = Some(now);
        issue.updated_at = now;
        if merge {
            d.pulls.get_mut(&number)?.merged_at = Some(now);
        }
        d.pull(number)
    }

    // ---- releases and milestones ----

    /// Releases, oldest first.
    pub fn releases(&self) -> Vec<GhRelease> {
        self.data().releases.values().cloned().collect()
    }

    /// Adds an open milestone (as someone on GitHub would).
    pub fn add_milestone(&self, title: &str) -> GhMilestone {
        let now = self.remote.tick();
        let mut d = self.data();
        let number = d.next_milestone;
        d.next_milestone += 1;
        let m = GhMilestone {
            number,
            title: title.into(),
            description: None,
            state: "open".into(),
            due_on: None,
            created_at: now,
            updated_at: now,
            closed_at: None,
        };
        d.milestones.insert(number, m.clone());
        m
    }

    /// Changes a milestone (bumps `updated_at`; closing sets `closed_at`).
    pub fn edit_milestone(
        &self,
        number: u64,
        edit: impl FnOnce(&mut GhMilestone),
    ) -> Option<GhMilestone> {
        let now = self.remote.tick();
        let mut d = self.data();
        let m = d.milestones.get_mut(&number)?;
        edit(m);
        m.updated_at = now;
        m.closed_at = (m.state == "closed").then(|| m.closed_at.unwrap_or(now));
        Some(m.clone())
    }

    pub fn milestones(&self) -> Vec<GhMilestone> {
        self.data().milestones.values().cloned().collect()
    }
}

// ---- JSON as GitHub writes it ----

/// FNV-1a: stable across runs and platforms (ids and SHAs derived from names).
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn stable_id(s: &str) -> u64 {
    fnv(s) % 1_000_000_000 + 1
}

/// A 40-hex-digit commit SHA derived from `seed`.
fn fake_sha(seed: &str) -> String {
    format!(
        "{:016x}{:016x}{:08x}",
        fnv(seed),
        fnv(&format!("{seed}/2")),
        fnv(&format!("{seed}/3")) as u32
    )
}

/// The URLs of one answer: the API origin the client used, and the repository's.
struct Urls {
    base: String,
    /// `{base}/repos/{owner}/{repo}`
    api: String,
    /// `https://github.com/{owner}/{repo}`
    html: String,
    owner: String,
    repo: String,
}

impl Urls {
    fn new(headers: &HeaderMap, gh: &Shared) -> Self {
        let base = origin(headers);
        Self {
            api: format!("{base}/repos/{}/{}", gh.owner, gh.repo),
            html: format!("https://github.com/{}/{}", gh.owner, gh.repo),
            base,
            owner: gh.owner.clone(),
            repo: gh.repo.clone(),
        }
    }

    fn user(&self, login: &str) -> Value {
        let id = if login == VIEWER { 1 } else { stable_id(login) };
        let u = format!("{}/users/{login}", self.base);
        json!({
            "login": login,
            "id": id,
            "node_id": format!("U_{id}"),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "gravatar_id": "",
            "url": u,
            "html_url": format!("https://github.com/{login}"),
            "followers_url": format!("{u}/followers"),
            "following_url": format!("{u}/following{{/other_user}}"),
            "gists_url": format!("{u}/gists{{/gist_id}}"),
            "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{u}/subscriptions"),
            "organizations_url": format!("{u}/orgs"),
            "repos_url": format!("{u}/repos"),
            "events_url": format!("{u}/events{{/privacy}}"),
            "received_events_url": format!("{u}/received_events"),
            "type": "User",
            "user_view_type": "public",
            "site_admin": false,
        })
    }

    /// How `login` is associated with the repository (the token's user is a member of the
    /// owning organization).
    fn association(&self, login: &str) -> &'static str {
        if login == self.owner {
            "OWNER"
        } else if login == VIEWER {
            "MEMBER"
        } else {
            "NONE"
        }
    }

    fn label(&self, name: &str) -> Value {
        let id = stable_id(name);
        json!({
            "id": id,
            "node_id": format!("LA_{id}"),
            "url": format!("{}/labels/{}", self.api, encode(name)),
            "name": name,
            "color": "ededed",
            "default": false,
            "description": null,
        })
    }

    fn reactions(&self, url: String) -> Value {
        json!({
            "url": url, "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "confused": 0,
            "heart": 0, "hooray": 0, "eyes": 0, "rocket": 0,
        })
    }

    fn repository(&self) -> Value {
        let (a, owner, repo) = (&self.api, &self.owner, &self.repo);
        let id = stable_id(&format!("{owner}/{repo}"));
        let mut v = json!({
            "id": id,
            "node_id": format!("R_{id}"),
            "name": repo,
            "full_name": format!("{owner}/{repo}"),
            "owner": self.user(owner),
            "private": true,
            "html_url": self.html,
            "description": null,
            "fork": false,
            "url": a,
            "git_url": format!("git://github.com/{owner}/{repo}.git"),
            "ssh_url": format!("git@github.com:{owner}/{repo}.git"),
            "clone_url": format!("https://github.com/{owner}/{repo}.git"),
            "svn_url": self.html,
            "mirror_url": null,
            "homepage": null,
            "language": "Rust",
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "size": 1,
            "default_branch": DEFAULT_BRANCH,
            "open_issues": 0,
            "open_issues_count": 0,
            "has_issues": true,
            "has_projects": true,
            "has_wiki": false,
            "has_pages": false,
            "has_downloads": true,
            "archived": false,
            "disabled": false,
            "license": null,
            "pushed_at": "2025-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
        });
        // The hypermedia URLs: `{api}<suffix>`.
        const URLS: [(&str, &str); 36] = [
            ("archive_url", "/{archive_format}{/ref}"),
            ("assignees_url", "/assignees{/user}"),
            ("blobs_url", "/git/blobs{/sha}"),
            ("branches_url", "/branches{/branch}"),
            ("collaborators_url", "/collaborators{/collaborator}"),
            ("comments_url", "/comments{/number}"),
            ("commits_url", "/commits{/sha}"),
            ("compare_url", "/compare/{base}...{head}"),
            ("contents_url", "/contents/{+path}"),
            ("contributors_url", "/contributors"),
            ("deployments_url", "/deployments"),
            ("downloads_url", "/downloads"),
            ("events_url", "/events"),
            ("forks_url", "/forks"),
            ("git_commits_url", "/git/commits{/sha}"),
            ("git_refs_url", "/git/refs{/sha}"),
            ("git_tags_url", "/git/tags{/sha}"),
            ("hooks_url", "/hooks"),
            ("issue_comment_url", "/issues/comments{/number}"),
            ("issue_events_url", "/issues/events{/number}"),
            ("issues_url", "/issues{/number}"),
            ("keys_url", "/keys{/key_id}"),
            ("labels_url", "/labels{/name}"),
            ("languages_url", "/languages"),
            ("merges_url", "/merges"),
            ("milestones_url", "/milestones{/number}"),
            (
                "notifications_url",
                "/notifications{?since,all,participating}",
            ),
            ("pulls_url", "/pulls{/number}"),
            ("releases_url", "/releases{/id}"),
            ("stargazers_url", "/stargazers"),
            ("statuses_url", "/statuses/{sha}"),
            ("subscribers_url", "/subscribers"),
            ("subscription_url", "/subscription"),
            ("tags_url", "/tags"),
            ("teams_url", "/teams"),
            ("trees_url", "/git/trees{/sha}"),
        ];
        if let Value::Object(m) = &mut v {
            for (key, suffix) in URLS {
                m.insert(key.into(), json!(format!("{a}{suffix}")));
            }
        }
        v
    }

    fn milestone(&self, d: &Data, m: &GhMilestone) -> Value {
        let n = m.number;
        let (open, closed) =
            d.issues
                .values()
                .filter(|i| i.milestone == Some(n))
                .fold((0, 0), |(o, c), i| {
                    if i.state == "open" {
                        (o + 1, c)
                    } else {
                        (o, c + 1)
                    }
                });
        json!({
            "url": format!("{}/milestones/{n}", self.api),
            "html_url": format!("{}/milestone/{n}", self.html),
            "labels_url": format!("{}/milestones/{n}/labels", self.api),
            "id": 4_000_000 + n,
            "node_id": format!("MI_{n}"),
            "number": n,
            "state": m.state,
            "title": m.title,
            "description": m.description,
            "creator": self.user(VIEWER),
            "open_issues": open,
            "closed_issues": closed,
            "created_at": rfc3339(m.created_at),
            "updated_at": rfc3339(m.updated_at),
            "closed_at": m.closed_at.map(rfc3339),
            "due_on": m.due_on.map(rfc3339),
        })
    }

    fn issue(&self, d: &Data, i: &GhIssue) -> Value {
        let (n, a) = (i.number, &self.api);
        let kind = if i.pull_request { "pull" } else { "issues" };
        let mut v = json!({
            "id": 1_000_000 + n,
            "node_id": i.node_id(),
            "url": format!("{a}/issues/{n}"),
            "repository_url": a,
            "labels_url": format!("{a}/issues/{n}/labels{{/name}}"),
            "comments_url": format!("{a}/issues/{n}/comments"),
            "events_url": format!("{a}/issues/{n}/events"),
            "html_url": format!("{}/{kind}/{n}", self.html),
            "number": n,
            "title": i.title,
            "body": i.body,
            "state": i.state,
            "state_reason": i.state_reason,
            "locked": false,
            "active_lock_reason": null,
            "labels": i.labels.iter().map(|l| self.label(l)).collect::<Vec<_>>(),
            "assignee": i.assignees.first().map(|u| self.user(u)),
            "assignees": i.assignees.iter().map(|u| self.user(u)).collect::<Vec<_>>(),
            "milestone": i.milestone.and_then(|m| d.milestones.get(&m)).map(|m| self.milestone(d, m)),
            "user": self.user(VIEWER),
            "author_association": self.association(VIEWER),
            "comments": d.comment_count(n),
            "created_at": rfc3339(i.created_at),
            "updated_at": rfc3339(i.updated_at),
            "closed_at": i.closed_at.map(rfc3339),
            "reactions": self.reactions(format!("{a}/issues/{n}/reactions")),
        });
        if i.pull_request {
            let p = d.pulls.get(&n);
            v["draft"] = json!(p.is_some_and(|p| p.draft));
            v["pull_request"] = json!({
                "url": format!("{a}/pulls/{n}"),
                "html_url": format!("{}/pull/{n}", self.html),
                "diff_url": format!("{}/pull/{n}.diff", self.html),
                "patch_url": format!("{}/pull/{n}.patch", self.html),
                "merged_at": p.and_then(|p| p.merged_at).map(rfc3339),
            });
        }
        v
    }

    fn comment(&self, d: &Data, c: &GhComment) -> Value {
        let (id, n, a) = (c.id, c.issue_number, &self.api);
        let kind = match d.issues.get(&n) {
            Some(i) if i.pull_request => "pull",
            _ => "issues",
        };
        json!({
            "id": id,
            "node_id": c.node_id(),
            "url": format!("{a}/issues/comments/{id}"),
            "html_url": format!("{}/{kind}/{n}#issuecomment-{id}", self.html),
            "issue_url": format!("{a}/issues/{n}"),
            "body": c.body,
            "user": self.user(&c.user),
            "created_at": rfc3339(c.created_at),
            "updated_at": rfc3339(c.updated_at),
            "author_association": self.association(&c.user),
            "performed_via_github_app": null,
            "reactions": self.reactions(format!("{a}/issues/comments/{id}/reactions")),
        })
    }

    /// A pull request; `full` is the single-pull form (`GET …/pulls/{n}`), else the list's.
    fn pull(&self, d: &Data, i: &GhIssue, p: &PullExtra, full: bool) -> Value {
        let (n, a, h) = (i.number, &self.api, &self.html);
        let branch = |r: &str, sha: &str| {
            json!({
                "label": format!("{}:{r}", self.owner),
                "ref": r,
                "sha": sha,
                "user": self.user(&self.owner),
                "repo": self.repository(),
            })
        };
        let href = |u: String| json!({ "href": u });
        let merged = p.merged_at.is_some();
        let merge_sha = p.merged_at.map(|_| fake_sha(&format!("merge#{n}")));
        let links = json!({
            "self": href(format!("{a}/pulls/{n}")),
            "html": href(format!("{h}/pull/{n}")),
            "issue": href(format!("{a}/issues/{n}")),
            "comments": href(format!("{a}/issues/{n}/comments")),
            "review_comments": href(format!("{a}/pulls/{n}/comments")),
            "review_comment": href(format!("{a}/pulls/comments{{/number}}")),
            "commits": href(format!("{a}/pulls/{n}/commits")),
            "statuses": href(format!("{a}/statuses/{}", p.head_sha)),
        });
        let urls = json!({
            "url": format!("{a}/pulls/{n}"),
            "html_url": format!("{h}/pull/{n}"),
            "diff_url": format!("{h}/pull/{n}.diff"),
            "patch_url": format!("{h}/pull/{n}.patch"),
            "issue_url": format!("{a}/issues/{n}"),
            "commits_url": format!("{a}/pulls/{n}/commits"),
            "review_comments_url": format!("{a}/pulls/{n}/comments"),
            "review_comment_url": format!("{a}/pulls/comments{{/number}}"),
            "comments_url": format!("{a}/issues/{n}/comments"),
            "statuses_url": format!("{a}/statuses/{}", p.head_sha),
            "_links": links,
        });
        let mut v = json!({
            "id": 2_000_000 + n,
            "node_id": format!("PR_{n}"),
            "number": n,
            "state": i.state,
            "locked": false,
            "title": i.title,
            "user": self.user(VIEWER),
            "body": i.body,
            "labels": i.labels.iter().map(|l| self.label(l)).collect::<Vec<_>>(),
            "milestone": i.milestone.and_then(|m| d.milestones.get(&m)).map(|m| self.milestone(d, m)),
            "active_lock_reason": null,
            "created_at": rfc3339(i.created_at),
            "updated_at": rfc3339(i.updated_at),
            "closed_at": i.closed_at.map(rfc3339),
            "merged_at": p.merged_at.map(rfc3339),
            "merge_commit_sha": merge_sha,
            "assignee": i.assignees.first().map(|u| self.user(u)),
            "assignees": i.assignees.iter().map(|u| self.user(u)).collect::<Vec<_>>(),
            "requested_reviewers": [],
            "requested_teams": [],
            "head": branch(&p.head, &p.head_sha),
            "base": branch(&p.base, &fake_sha(&p.base)),
            "author_association": self.association(VIEWER),
            "auto_merge": null,
            "draft": p.draft,
        });
        if let (Value::Object(v), Value::Object(urls)) = (&mut v, urls) {
            v.extend(urls);
        }
        if full {
            let open = i.state == "open";
            let extra = json!({
                "merged": merged,
                "mergeable": open.then_some(true),
                "rebaseable": open.then_some(true),
                "mergeable_state": if open { "clean" } else { "unknown" },
                "merged_by": merged.then(|| self.user(VIEWER)),
                "comments": d.comment_count(n),
                "review_comments": 0,
                "maintainer_can_modify": false,
                "commits": 1,
                "additions": 1,
                "deletions": 0,
                "changed_files": 1,
            });
            if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
                v.extend(extra);
            }
        }
        v
    }

    fn release(&self, r: &GhRelease) -> Value {
        let (id, a) = (r.id, &self.api);
        let tag = encode(&r.tag_name);
        json!({
            "url": format!("{a}/releases/{id}"),
            "html_url": format!("{}/releases/tag/{tag}", self.html),
            "assets_url": format!("{a}/releases/{id}/assets"),
            "upload_url": format!(
                "https://uploads.github.com/repos/{}/{}/releases/{id}/assets{{?name,label}}",
                self.owner, self.repo
            ),
            "tarball_url": format!("{a}/tarball/{tag}"),
            "zipball_url": format!("{a}/zipball/{tag}"),
            "id": id,
            "node_id": format!("RE_{id}"),
            "tag_name": r.tag_name,
            "target_commitish": r.target_commitish,
            "name": r.name,
            "body": r.body,
            "draft": r.draft,
            "prerelease": r.prerelease,
            "immutable": false,
            "created_at": rfc3339(r.created_at),
            "published_at": r.published_at.map(rfc3339),
            "updated_at": rfc3339(r.updated_at),
            "author": self.user(VIEWER),
            "assets": [],
        })
    }
}

// ---- request helpers ----

async fn add_scope_headers(State(st): State<RouteState>, mut resp: Response) -> Response {
    if let Some(s) = lock(&st.gh.scopes).clone()
        && let Ok(v) = HeaderValue::from_str(&s)
    {
        resp.headers_mut().insert("x-oauth-scopes", v);
        resp.headers_mut()
            .insert("x-accepted-oauth-scopes", HeaderValue::from_static("repo"));
    }
    resp
}

fn gate(st: &RouteState, headers: &HeaderMap, owner: &str, repo: &str) -> Option<Response> {
    if let Some(r) = auth(st, headers) {
        return Some(r);
    }
    (owner != st.gh.owner || repo != st.gh.repo)
        .then(|| json_error(StatusCode::NOT_FOUND, "Not Found"))
}

fn auth(st: &RouteState, headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {}", st.gh.token);
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    (!ok).then(|| json_error(StatusCode::UNAUTHORIZED, "Bad credentials"))
}

fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "Not Found")
}

/// A request body: a JSON object (an empty body reads as `{}`), else GitHub's 400.
fn json_body(body: &Bytes) -> Result<Value, Box<Response>> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(Box::new(json_error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
        ))),
    }
}

/// GitHub's 422: `{"message": "Validation Failed", "errors": [...], "documentation_url"}`.
fn validation_failed(errors: Vec<Value>, docs: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": format!("https://docs.github.com/rest/{docs}"),
            "status": "422",
        })),
    )
        .into_response()
}

fn field_error(resource: &str, field: &str, code: &str) -> Value {
    json!({ "resource": resource, "field": field, "code": code })
}

fn custom_error(resource: &str, message: &str) -> Value {
    json!({ "resource": resource, "code": "custom", "message": message })
}

fn created(json: Value, location: String) -> Response {
    let mut resp = (StatusCode::CREATED, axum::Json(json)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

/// A single resource with a content `ETag` (304 when `If-None-Match` names it).
fn single(headers: &HeaderMap, json: &Value) -> Response {
    let etag = content_etag(&json.to_string());
    json_with_etag(headers, &etag, json)
}

fn number_param(q: &HashMap<String, String>, key: &str, default: u64) -> u64 {
    q.get(key)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(default)
}

/// `since` as GitHub reads it: RFC 3339, else a 422.
fn since_param(q: &HashMap<String, String>) -> Result<Option<DateTime<Utc>>, Box<Response>> {
    match q.get("since") {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                Box::new(validation_failed(
                    vec![json!({ "field": "since", "code": "invalid" })],
                    "",
                ))
            }),
    }
}

/// One page of `all` (`per_page` at most 100, default 30; `page` from 1) as a JSON array
/// with a content `ETag` (304 on `If-None-Match`) and a `Link` header on `path`.
fn paged<T>(
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    url: &str,
    all: &[T],
    render: impl Fn(&T) -> Value,
) -> Response {
    let per_page = number_param(q, "per_page", 30).clamp(1, 100);
    let page = number_param(q, "page", 1).max(1);
    let last = (all.len() as u64).div_ceil(per_page).max(1);
    let shown: Vec<Value> = all
        .iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(render)
        .collect();
    let etag = content_etag(&serde_json::to_string(&shown).unwrap_or_default());
    let mut resp = json_with_etag(headers, &etag, &shown);
    let mut params: Vec<(String, String)> = q.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    params.sort();
    let link = link_header(url, &params, page, per_page, last);
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

/// `direction=asc|desc`, `default_desc` when absent.
fn descending(q: &HashMap<String, String>, default_desc: bool) -> bool {
    match q.get("direction").map(String::as_str) {
        Some("asc") => false,
        Some("desc") => true,
        _ => default_desc,
    }
}

fn names(v: Option<&Value>, key: &str) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .or_else(|| x.get(key).and_then(Value::as_str).map(str::to_string))
            })
            .collect()
    })
}

fn title_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn flag(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

// ---- issues ----

type RepoPath = Path<(String, String)>;
type ItemPath = Path<(String, String, String)>;

async fn create_issue(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let docs = "issues/issues#create-an-issue";
    let Some(title) = v.get("title").and_then(title_of) else {
        return validation_failed(vec![field_error("Issue", "title", "missing_field")], docs);
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let milestone = match v.get("milestone").map(|m| d.milestone_ref(m)) {
        None => None,
        Some(Ok(m)) => m,
        Some(Err(())) => {
            let mut e = field_error("Issue", "milestone", "invalid");
            e["value"] = v["milestone"].clone();
            return validation_failed(vec![e], docs);
        }
    };
    let mut issue = d.new_issue(now, title, text(&v, "body"));
    d.created += 1;
    issue.assignees = names(v.get("assignees"), "login").unwrap_or_default();
    if let Some(a) = v.get("assignee").and_then(Value::as_str) {
        issue.assignees.push(a.to_string());
    }
    issue.labels = names(v.get("labels"), "name").unwrap_or_default();
    issue.milestone = milestone;
    d.issues.insert(issue.number, issue.clone());
    let u = Urls::new(&headers, &st.gh);
    created(
        u.issue(&d, &issue),
        format!("{}/issues/{}", u.api, issue.number),
    )
}

async fn get_issue(
    State(st): State<RouteState>,
    Path((owner, repo, number)): ItemPath,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let d = lock(&st.gh.data);
    match number.parse::<u64>().ok().and_then(|n| d.issues.get(&n)) {
        Some(i) => single(&headers, &Urls::new(&headers, &st.gh).issue(&d, i)),
        None => not_found(),
    }
}

async fn update_issue(
    State(st): State<RouteState>,
    Path((owner, repo, number)): ItemPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Ok(n) = number.parse::<u64>() else {
        return not_found();
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    if !d.issues.contains_key(&n) {
        return not_found();
    }
    let milestone = match v.get("milestone").map(|m| d.milestone_ref(m)) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(())) => {
            let mut e = field_error("Issue", "milestone", "invalid");
            e["value"] = v["milestone"].clone();
            return validation_failed(vec![e], "issues/issues#update-an-issue");
        }
    };
    let Some(i) = d.issues.get_mut(&n) else {
        return not_found();
    };
    if let Some(m) = milestone {
        i.milestone = m;
    }
    if let Some(t) = v.get("title").and_then(title_of) {
        i.title = t;
    }
    if let Some(b) = v.get("body") {
        i.body = b.as_str().map(str::to_string);
    }
    if let Some(l) = names(v.get("labels"), "name") {
        i.labels = l;
    }
    if let Some(a) = names(v.get("assignees"), "login") {
        i.assignees = a;
    }
    if let Some(s) = v.get("state").and_then(Value::as_str) {
        let reason = v.get("state_reason").and_then(Value::as_str);
        if s != i.state {
            match s {
                "closed" => {
                    i.closed_at = Some(now);
                    i.state_reason = Some(reason.unwrap_or("completed").to_string());
                }
                _ => {
                    i.closed_at = None;
                    i.state_reason = Some(reason.unwrap_or("reopened").to_string());
                }
            }
            i.state = s.to_string();
        } else if let Some(r) = reason {
            i.state_reason = Some(r.to_string());
        }
    }
    i.updated_at = now;
    let i = i.clone();
    axum::Json(Urls::new(&headers, &st.gh).issue(&d, &i)).into_response()
}

async fn list_issues(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    let since = match since_param(&q) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let d = lock(&st.gh.data);
    let mut all: Vec<&GhIssue> = d
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| since.is_none_or(|s| i.updated_at >= s))
        .collect();
    let by_updated = q.get("sort").map(String::as_str) == Some("updated");
    all.sort_by_key(|i| {
        let t = if by_updated {
            i.updated_at
        } else {
            i.created_at
        };
        (t, i.number)
    });
    if descending(&q, true) {
        all.reverse();
    }
    let u = Urls::new(&headers, &st.gh);
    paged(&headers, &q, &format!("{}/issues", u.api), &all, |i| {
        u.issue(&d, i)
    })
}

async fn search_issues(
    State(st): State<RouteState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = auth(&st, &headers) {
        return r;
    }
    let query = q.get("q").cloned().unwrap_or_default();
    let phrase = query
        .split('"')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_default();
    let wanted_repo = format!("repo:{}/{}", st.gh.owner, st.gh.repo);
    let in_repo = query
        .split_whitespace()
        .filter(|t| t.starts_with("repo:"))
        .all(|t| t == wanted_repo);
    let u = Urls::new(&headers, &st.gh);
    let d = lock(&st.gh.data);
    let items: Vec<Value> = if in_repo && !phrase.is_empty() {
        d.issues
            .values()
            .filter(|i| i.body.as_deref().is_some_and(|b| b.contains(&phrase)))
            .map(|i| {
                let mut v = u.issue(&d, i);
                v["score"] = json!(1.0);
                v
            })
            .collect()
    } else {
        Vec::new()
    };
    axum::Json(json!({
        "total_count": items.len(),
        "incomplete_results": false,
        "items": items,
    }))
    .into_response()
}

// ---- issue comments ----

async fn list_issue_comments(
    State(st): State<RouteState>,
    Path((owner, repo, number)): ItemPath,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let since = match since_param(&q) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let d = lock(&st.gh.data);
    let Some(n) = number
        .parse::<u64>()
        .ok()
        .filter(|n| d.issues.contains_key(n))
    else {
        return not_found();
    };
    let all: Vec<&GhComment> = d
        .comments
        .values()
        .filter(|c| c.issue_number == n)
        .filter(|c| since.is_none_or(|s| c.updated_at >= s))
        .collect();
    let u = Urls::new(&headers, &st.gh);
    let url = format!("{}/issues/{n}/comments", u.api);
    paged(&headers, &q, &url, &all, |c| u.comment(&d, c))
}

async fn create_comment(
    State(st): State<RouteState>,
    Path((owner, repo, number)): ItemPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Ok(n) = number.parse::<u64>() else {
        return not_found();
    };
    if !lock(&st.gh.data).issues.contains_key(&n) {
        return not_found();
    }
    let Some(text) = text(&v, "body").filter(|b| !b.trim().is_empty()) else {
        return validation_failed(
            vec![field_error("IssueComment", "body", "missing_field")],
            "issues/comments#create-an-issue-comment",
        );
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let Some(c) = d.add_comment(now, n, VIEWER, &text) else {
        return not_found();
    };
    let u = Urls::new(&headers, &st.gh);
    created(
        u.comment(&d, &c),
        format!("{}/issues/comments/{}", u.api, c.id),
    )
}

async fn list_repo_comments(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let since = match since_param(&q) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let d = lock(&st.gh.data);
    let mut all: Vec<&GhComment> = d
        .comments
        .values()
        .filter(|c| since.is_none_or(|s| c.updated_at >= s))
        .collect();
    let sort = q.get("sort").map(String::as_str);
    if sort == Some("updated") {
        all.sort_by_key(|c| (c.updated_at, c.id));
    }
    // `direction` is "ignored without the sort parameter" (GitHub's docs): oldest first.
    if sort.is_some() && descending(&q, true) {
        all.reverse();
    }
    let u = Urls::new(&headers, &st.gh);
    let url = format!("{}/issues/comments", u.api);
    paged(&headers, &q, &url, &all, |c| u.comment(&d, c))
}

fn comment_id(id: &str) -> Option<u64> {
    id.parse::<u64>().ok()
}

async fn get_comment(
    State(st): State<RouteState>,
    Path((owner, repo, id)): ItemPath,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let d = lock(&st.gh.data);
    match comment_id(&id).and_then(|id| d.comments.get(&id)) {
        Some(c) => single(&headers, &Urls::new(&headers, &st.gh).comment(&d, c)),
        None => not_found(),
    }
}

async fn update_comment(
    State(st): State<RouteState>,
    Path((owner, repo, id)): ItemPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(id) = comment_id(&id).filter(|id| lock(&st.gh.data).comments.contains_key(id)) else {
        return not_found();
    };
    let Some(text) = text(&v, "body").filter(|b| !b.trim().is_empty()) else {
        return validation_failed(
            vec![field_error("IssueComment", "body", "missing_field")],
            "issues/comments#update-an-issue-comment",
        );
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let Some(c) = d.comments.get_mut(&id) else {
        return not_found();
    };
    c.body = text;
    c.updated_at = now;
    let c = c.clone();
    axum::Json(Urls::new(&headers, &st.gh).comment(&d, &c)).into_response()
}

async fn delete_comment(
    State(st): State<RouteState>,
    Path((owner, repo, id)): ItemPath,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let removed = comment_id(&id).and_then(|id| lock(&st.gh.data).comments.remove(&id));
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(),
    }
}

// ---- pull requests ----

/// A `head` as the API takes it (`branch` or `owner:branch`) → the branch, when it names
/// one of this repository's.
fn own_branch(d: &Data, owner: &str, head: &str) -> Option<String> {
    let branch = match head.split_once(':') {
        Some((o, b)) if o == owner => b,
        Some(_) => return None,
        None => head,
    };
    d.branches.contains(branch).then(|| branch.to_string())
}

async fn create_pull(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let docs = "pulls/pulls#create-a-pull-request";
    if v.get("issue").is_some() {
        return validation_failed(
            vec![custom_error(
                "PullRequest",
                "the fake does not turn issues into pull requests",
            )],
            docs,
        );
    }
    let missing: Vec<Value> = ["title", "head", "base"]
        .into_iter()
        .filter(|k| text(&v, k).is_none())
        .map(|k| field_error("PullRequest", k, "missing_field"))
        .collect();
    if !missing.is_empty() {
        return validation_failed(missing, docs);
    }
    let (title, head, base) = (
        text(&v, "title").unwrap_or_default(),
        text(&v, "head").unwrap_or_default(),
        text(&v, "base").unwrap_or_default(),
    );
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let mut invalid = Vec::new();
    let head_branch = own_branch(&d, &owner, &head);
    if head_branch.is_none() {
        invalid.push(field_error("PullRequest", "head", "invalid"));
    }
    if !d.branches.contains(&base) {
        invalid.push(field_error("PullRequest", "base", "invalid"));
    }
    let Some(head) = head_branch.filter(|_| invalid.is_empty()) else {
        return validation_failed(invalid, docs);
    };
    if head == base {
        let m = format!("No commits between {base} and {head}");
        return validation_failed(vec![custom_error("PullRequest", &m)], docs);
    }
    if d.open_pull_from(&head, 0).is_some() {
        let m = format!("A pull request already exists for {owner}:{head}.");
        return validation_failed(vec![custom_error("PullRequest", &m)], docs);
    }
    let draft = flag(&v, "draft").unwrap_or(false);
    let p = d.insert_pull(now, title, text(&v, "body"), &head, &base, draft);
    let u = Urls::new(&headers, &st.gh);
    let json = u.pull(&d, &d.issues[&p.number], &d.pulls[&p.number], true);
    created(json, format!("{}/pulls/{}", u.api, p.number))
}

async fn get_pull(
    State(st): State<RouteState>,
    Path((owner, repo, number)): ItemPath,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let d = lock(&st.gh.data);
    let found = number
        .parse::<u64>()
        .ok()
        .and_then(|n| Some((d.issues.get(&n)?, d.pulls.get(&n)?)));
    match found {
        Some((i, p)) => single(&headers, &Urls::new(&headers, &st.gh).pull(&d, i, p, true)),
        None => not_found(),
    }
}

async fn update_pull(
    State(st): State<RouteState>,
    Path((owner, repo, number)): ItemPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let docs = "pulls/pulls#update-a-pull-request";
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let Some(n) = number
        .parse::<u64>()
        .ok()
        .filter(|n| d.pulls.contains_key(n))
    else {
        return not_found();
    };
    let base = text(&v, "base");
    if base.as_ref().is_some_and(|b| !d.branches.contains(b)) {
        return validation_failed(vec![field_error("PullRequest", "base", "invalid")], docs);
    }
    let state = text(&v, "state");
    let (merged, head) = (d.pulls[&n].merged_at.is_some(), d.pulls[&n].head.clone());
    let reopening = state.as_deref() == Some("open") && d.issues[&n].state == "closed";
    if reopening && merged {
        let m = "state cannot be changed. The pull request cannot be reopened because it has been merged.";
        return validation_failed(vec![custom_error("PullRequest", m)], docs);
    }
    if reopening && d.open_pull_from(&head, n).is_some() {
        let m = format!("A pull request already exists for {owner}:{head}.");
        return validation_failed(vec![custom_error("PullRequest", &m)], docs);
    }
    if let (Some(b), Some(p)) = (base, d.pulls.get_mut(&n)) {
        p.base = b;
    }
    let Some(i) = d.issues.get_mut(&n) else {
        return not_found();
    };
    if let Some(t) = text(&v, "title") {
        i.title = t;
    }
    if let Some(b) = v.get("body") {
        i.body = b.as_str().map(str::to_string);
    }
    match state.as_deref() {
        Some("closed") if i.state == "open" => {
            i.state = "closed".into();
            i.closed_at = Some(now);
        }
        Some("open") if i.state == "closed" => {
            i.state = "open".into();
            i.closed_at = None;
        }
        _ => {}
    }
    i.updated_at = now;
    let u = Urls::new(&headers, &st.gh);
    axum::Json(u.pull(&d, &d.issues[&n], &d.pulls[&n], true)).into_response()
}

async fn list_pulls(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    // GitHub filters on `owner:branch` only; a bare branch name filters nothing.
    let head = q.get("head").and_then(|h| h.split_once(':'));
    let base = q.get("base");
    let d = lock(&st.gh.data);
    let mut all: Vec<(&GhIssue, &PullExtra)> = d
        .pulls
        .iter()
        .filter_map(|(n, p)| Some((d.issues.get(n)?, p)))
        .filter(|(i, _)| state == "all" || i.state == state)
        .filter(|(_, p)| head.is_none_or(|(o, b)| o == owner && p.head == b))
        .filter(|(_, p)| base.is_none_or(|b| &p.base == b))
        .collect();
    let by_updated = q.get("sort").map(String::as_str) == Some("updated");
    all.sort_by_key(|(i, _)| {
        let t = if by_updated {
            i.updated_at
        } else {
            i.created_at
        };
        (t, i.number)
    });
    if descending(&q, true) {
        all.reverse();
    }
    let u = Urls::new(&headers, &st.gh);
    paged(&headers, &q, &format!("{}/pulls", u.api), &all, |(i, p)| {
        u.pull(&d, i, p, false)
    })
}

// ---- releases ----

async fn create_release(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let docs = "releases/releases#create-a-release";
    let Some(tag) = text(&v, "tag_name").filter(|t| !t.trim().is_empty()) else {
        return validation_failed(
            vec![field_error("Release", "tag_name", "missing_field")],
            docs,
        );
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    if d.releases.values().any(|r| r.tag_name == tag) {
        return validation_failed(
            vec![field_error("Release", "tag_name", "already_exists")],
            docs,
        );
    }
    let id = d.next_release;
    d.next_release += 1;
    let draft = flag(&v, "draft").unwrap_or(false);
    let r = GhRelease {
        id,
        tag_name: tag,
        target_commitish: text(&v, "target_commitish").unwrap_or_else(|| DEFAULT_BRANCH.into()),
        name: text(&v, "name"),
        body: text(&v, "body"),
        draft,
        prerelease: flag(&v, "prerelease").unwrap_or(false),
        created_at: now,
        published_at: (!draft).then_some(now),
        updated_at: now,
    };
    d.releases.insert(id, r.clone());
    let u = Urls::new(&headers, &st.gh);
    created(u.release(&r), format!("{}/releases/{id}", u.api))
}

async fn list_releases(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let d = lock(&st.gh.data);
    // Newest first, as GitHub lists them.
    let all: Vec<&GhRelease> = d.releases.values().rev().collect();
    let u = Urls::new(&headers, &st.gh);
    paged(&headers, &q, &format!("{}/releases", u.api), &all, |r| {
        u.release(r)
    })
}

async fn get_release_by_tag(
    State(st): State<RouteState>,
    Path((owner, repo, tag)): ItemPath,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let d = lock(&st.gh.data);
    // Drafts have no tag yet: GitHub finds published releases only.
    match d.releases.values().find(|r| r.tag_name == tag && !r.draft) {
        Some(r) => single(&headers, &Urls::new(&headers, &st.gh).release(r)),
        None => not_found(),
    }
}

async fn get_release(
    State(st): State<RouteState>,
    Path((owner, repo, id)): ItemPath,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let d = lock(&st.gh.data);
    match id.parse::<u64>().ok().and_then(|id| d.releases.get(&id)) {
        Some(r) => single(&headers, &Urls::new(&headers, &st.gh).release(r)),
        None => not_found(),
    }
}

async fn update_release(
    State(st): State<RouteState>,
    Path((owner, repo, id)): ItemPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let Some(id) = id
        .parse::<u64>()
        .ok()
        .filter(|id| d.releases.contains_key(id))
    else {
        return not_found();
    };
    let tag = text(&v, "tag_name");
    if let Some(t) = &tag
        && d.releases.values().any(|r| &r.tag_name == t && r.id != id)
    {
        return validation_failed(
            vec![field_error("Release", "tag_name", "already_exists")],
            "releases/releases#update-a-release",
        );
    }
    let Some(r) = d.releases.get_mut(&id) else {
        return not_found();
    };
    if let Some(t) = tag {
        r.tag_name = t;
    }
    if let Some(t) = text(&v, "target_commitish") {
        r.target_commitish = t;
    }
    if let Some(n) = text(&v, "name") {
        r.name = Some(n);
    }
    if let Some(b) = text(&v, "body") {
        r.body = Some(b);
    }
    if let Some(p) = flag(&v, "prerelease") {
        r.prerelease = p;
    }
    if let Some(draft) = flag(&v, "draft") {
        r.draft = draft;
        r.published_at = if draft {
            None
        } else {
            r.published_at.or(Some(now))
        };
    }
    r.updated_at = now;
    let r = r.clone();
    axum::Json(Urls::new(&headers, &st.gh).release(&r)).into_response()
}

// ---- milestones ----

async fn list_milestones(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    let d = lock(&st.gh.data);
    let mut all: Vec<&GhMilestone> = d
        .milestones
        .values()
        .filter(|m| state == "all" || m.state == state)
        .collect();
    if q.get("sort").map(String::as_str) == Some("completeness") {
        // Share of closed issues, in thousandths (exact enough to order by).
        let done = |n: u64| {
            let (open, closed) = d.issues.values().filter(|i| i.milestone == Some(n)).fold(
                (0u64, 0u64),
                |(o, c), i| {
                    if i.state == "open" {
                        (o + 1, c)
                    } else {
                        (o, c + 1)
                    }
                },
            );
            (closed * 1000).checked_div(open + closed).unwrap_or(0)
        };
        all.sort_by_key(|m| (done(m.number), m.number));
    } else {
        // By due date; milestones without one come last.
        all.sort_by_key(|m| (m.due_on.is_none(), m.due_on, m.number));
    }
    if descending(&q, false) {
        all.reverse();
    }
    let u = Urls::new(&headers, &st.gh);
    paged(&headers, &q, &format!("{}/milestones", u.api), &all, |m| {
        u.milestone(&d, m)
    })
}

async fn create_milestone(
    State(st): State<RouteState>,
    Path((owner, repo)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let docs = "issues/milestones#create-a-milestone";
    let Some(title) = text(&v, "title").filter(|t| !t.trim().is_empty()) else {
        return validation_failed(
            vec![field_error("Milestone", "title", "missing_field")],
            docs,
        );
    };
    let due_on = match v.get("due_on").and_then(Value::as_str) {
        None => None,
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                return validation_failed(
                    vec![field_error("Milestone", "due_on", "invalid")],
                    docs,
                );
            }
        },
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    if d.milestones.values().any(|m| m.title == title) {
        return validation_failed(
            vec![field_error("Milestone", "title", "already_exists")],
            docs,
        );
    }
    let number = d.next_milestone;
    d.next_milestone += 1;
    let state = text(&v, "state").unwrap_or_else(|| "open".into());
    let m = GhMilestone {
        number,
        title,
        description: text(&v, "description"),
        closed_at: (state == "closed").then_some(now),
        state,
        due_on,
        created_at: now,
        updated_at: now,
    };
    d.milestones.insert(number, m.clone());
    let u = Urls::new(&headers, &st.gh);
    created(
        u.milestone(&d, &m),
        format!("{}/milestones/{number}", u.api),
    )
}

// ---- the contract check (crate::openapi, against GitHub's description) ----

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| crate::openapi::load(&spec_path(), "the GitHub API description"))
}

pub use crate::openapi::translate_nullable;

/// Checks one request against the description; `Err` says why it is not allowed.
pub fn check_request(r: &RecordedRequest) -> Result<(), String> {
    if r.method == "POST" && r.path == "/graphql" {
        // GraphQL has its own schema (the fake_github_graphql module checks it); GitHub's
        // endpoint takes no query parameters.
        if let Some(q) = r.query.as_deref().filter(|q| !q.is_empty()) {
            return Err(format!("GraphQL takes no query parameters (`{q}`)"));
        }
        return crate::fake_github_graphql::check_graphql_body(&r.body)
            .map_err(|e| format!("GraphQL: {e}"));
    }
    crate::openapi::check_request(spec(), r)
}

/// Checks an answer to `method path` (no query) against the operation's response schema for
/// `status` (`Value::Null` for an empty body). The fake's tests run it on every answer, so
/// the JSON shapes stay GitHub's.
pub fn check_response(method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
    crate::openapi::check_response(spec(), method, path, status, body)
}

/// Violations among `requests`, one line each.
pub fn check_requests(requests: &[RecordedRequest]) -> Vec<String> {
    crate::openapi::violations(requests, check_request)
}
