//! Release notes on GitHub: the notes in Markdown (GitHub-flavoured, with issue and pull
//! request links) and JSON, and publishing them as a GitHub release
//! (`POST`/`PATCH /repos/{owner}/{repo}/releases`).
//!
//! Which entries a release ships and their order is `devlog_core::release` (pure, knows
//! neither git nor GitHub; see docs/release-notes.md). The HTTP part goes through the integration's shared client (rate
//! limits, pacing) and classifies failures like the issue sync does, with messages naming the
//! permission a release needs.

use devlog_core::entry::{Entry, EntryType, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{SyncError, SyncErrorKind};
use devlog_core::release;
use devlog_core::time::Timestamp;
use devlog_http::{HttpError, HttpErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{GithubIntegration, NAME};

/// `externalReferences[].system` of a GitHub issue.
pub const SYSTEM_ISSUE: &str = "github";
/// `externalReferences[].system` of a GitHub pull request.
pub const SYSTEM_PULL_REQUEST: &str = "github-pr";

/// Whether a link points at an issue or a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LinkKind {
    Issue,
    PullRequest,
}

/// A GitHub issue or pull request an entry is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub kind: LinkKind,
    /// The issue or pull request number, as recorded (`12`).
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One entry in the notes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub handle: u64,
    pub id: EntryId,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    pub links: Vec<Link>,
}

impl Item {
    fn of(e: &Entry) -> Self {
        let mut links: Vec<Link> = Vec::new();
        for r in &e.external_references {
            let kind = match r.system.as_str() {
                SYSTEM_ISSUE => LinkKind::Issue,
                SYSTEM_PULL_REQUEST => LinkKind::PullRequest,
                _ => continue,
            };
            let number = r.id.trim().trim_start_matches('#').to_string();
            if number.is_empty() || links.iter().any(|l| l.kind == kind && l.number == number) {
                continue;
            }
            links.push(Link {
                kind,
                number,
                url: r.url.clone().filter(|u| !u.trim().is_empty()),
            });
        }
        // Issues before pull requests, then by number (numerically when they are numbers).
        links.sort_by(|a, b| {
            (a.kind, a.number.parse::<u64>().ok(), &a.number).cmp(&(
                b.kind,
                b.number.parse::<u64>().ok(),
                &b.number,
            ))
        });
        Self {
            handle: e.handle,
            id: e.id,
            title: e.title.clone(),
            kind: e.kind,
            status: e.status,
            closed_at: e.closed_at,
            links,
        }
    }
}

/// The entries of one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub heading: String,
    pub entries: Vec<Item>,
}

/// Release notes in their structured form (what `--json` prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseNotes {
    /// The previous release (`None`: from the first commit).
    pub from: Option<String>,
    pub to: String,
    /// Non-empty groups, in `devlog_core::release::GROUP_ORDER`.
    pub groups: Vec<Group>,
    /// Mentioned entries that are not done; empty unless asked for.
    pub not_completed: Vec<Item>,
}

/// Builds the notes: shipped entries grouped by type in `devlog_core::release::GROUP_ORDER`,
/// each group ordered by closing time (then handle); `not_completed` by handle. The input
/// order does not matter.
pub fn generate(
    from: Option<&str>,
    to: &str,
    shipped: &[&Entry],
    not_completed: &[&Entry],
) -> ReleaseNotes {
    let groups = release::group(shipped)
        .into_iter()
        .map(|g| Group {
            kind: g.kind,
            heading: release::heading(g.kind).to_string(),
            entries: g.entries.into_iter().map(Item::of).collect(),
        })
        .collect();
    ReleaseNotes {
        from: from.map(str::to_string),
        to: to.to_string(),
        groups,
        not_completed: release::by_handle(not_completed)
            .into_iter()
            .map(Item::of)
            .collect(),
    }
}

impl ReleaseNotes {
    /// Number of shipped entries.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The notes as GitHub-flavoured Markdown (also the body of the GitHub release).
    ///
    /// Entries are named `devlog-<handle>` rather than `#<handle>`: GitHub would link `#3` to
    /// issue 3 of the repository, and `devlog-3` is what `devlog git link` finds in commits.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        if self.groups.is_empty() {
            s.push_str("No completed entries in this release.\n");
        }
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            s.push_str(&format!("### {}\n\n", g.heading));
            for item in &g.entries {
                s.push_str(&format!("- {}\n", line(item)));
            }
        }
        if !self.not_completed.is_empty() {
            s.push_str("\n### Not completed\n\n");
            s.push_str("Mentioned by commits of this release, but not done:\n\n");
            for item in &self.not_completed {
                s.push_str(&format!("- {} ({})\n", line(item), item.status));
            }
        }
        s
    }
}

fn line(item: &Item) -> String {
    let mut s = escape(item.title.trim());
    if !item.links.is_empty() {
        let links: Vec<String> = item
            .links
            .iter()
            .map(|l| match &l.url {
                Some(u) => format!("[#{}]({u})", l.number),
                None => format!("#{}", l.number),
            })
            .collect();
        s.push_str(&format!(" ({})", links.join(", ")));
    }
    s.push_str(&format!(" — devlog-{}", item.handle));
    s
}

/// Escapes what would turn a title into a link, an HTML tag or emphasis. Backticks are kept:
/// a title with a code span is meant to render as one.
fn escape(title: &str) -> String {
    let mut s = String::with_capacity(title.len());
    for c in title.chars() {
        if matches!(c, '\\' | '*' | '[' | ']' | '<' | '>') {
            s.push('\\');
        }
        // A title is one line of the list.
        s.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    s
}

// ---- publishing ----

/// A GitHub release (only what we read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub id: u64,
    pub tag_name: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// What to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub tag: String,
    /// The commit the tag points at: GitHub creates the tag there if it was not pushed (rather
    /// than at the default branch's head), and ignores it when the tag exists.
    pub target_commit: Option<String>,
    pub name: String,
    pub body: String,
    pub draft: bool,
}

/// Whether publishing created a release or updated the existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PublishAction {
    Created,
    Updated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub action: PublishAction,
    pub release: Release,
}

/// Percent-encodes a path segment (a tag may contain `/`).
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl GithubIntegration {
    fn releases_path(&self) -> String {
        format!(
            "/repos/{}/{}/releases",
            self.config().owner,
            self.config().repo
        )
    }

    /// Classifies a failed release request, naming what to fix.
    fn release_err(&self, e: HttpError, what: &str) -> SyncError {
        let repo = format!("{}/{}", self.config().owner, self.config().repo);
        let (kind, message) = match e.kind() {
            HttpErrorKind::RateLimited => (
                SyncErrorKind::RateLimited,
                format!("GitHub rate limit reached while {what}; try again later ({e})"),
            ),
            HttpErrorKind::Transient => (
                SyncErrorKind::Transient,
                format!("GitHub did not answer while {what}; try again ({e})"),
            ),
            HttpErrorKind::Auth => (
                SyncErrorKind::Auth,
                format!(
                    "GitHub rejected the token (401 Bad credentials) while {what}: set a valid token in integrations.github.token ({e})"
                ),
            ),
            HttpErrorKind::Forbidden => (
                SyncErrorKind::Auth,
                format!(
                    "GitHub refused {what} on {repo}: publishing release notes needs a fine-grained token with \"Contents: Read and write\" on {repo}, or a classic token with the `repo` scope (`public_repo` for a public repository) ({e})"
                ),
            ),
            HttpErrorKind::NotFound => (
                SyncErrorKind::NotFound,
                format!(
                    "not found while {what}: repository {repo} does not exist or is not visible to the token (check integrations.github.repository and the token's access) ({e})"
                ),
            ),
            HttpErrorKind::Conflict => (SyncErrorKind::Conflict, format!("{what}: {e}")),
            HttpErrorKind::Invalid if e.to_string().contains("already_exists") => (
                SyncErrorKind::Conflict,
                format!("{what}: a release for this tag already exists ({e})"),
            ),
            HttpErrorKind::Invalid => (
                SyncErrorKind::Permanent,
                format!(
                    "GitHub refused {what} ({e}); if the tag is not on GitHub yet, push it first (`git push origin <tag>`)"
                ),
            ),
            _ => (SyncErrorKind::Permanent, format!("{what}: {e}")),
        };
        SyncError {
            system: NAME.into(),
            kind,
            message,
            retry_after_ms: e.retry_after().map(|d| d.as_millis() as u64),
        }
    }

    /// The published release of `tag`, if there is one (`GET …/releases/tags/{tag}`; GitHub
    /// does not find drafts this way).
    pub async fn release_by_tag(&self, tag: &str) -> Result<Option<Release>, SyncError> {
        let what = format!("reading the release of tag {tag}");
        let resp = match self
            .client()
            .get(&format!("{}/tags/{}", self.releases_path(), segment(tag)))
            .no_cache()
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.kind() == HttpErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.release_err(e, &what)),
        };
        resp.json()
            .map(Some)
            .map_err(|e| self.release_err(e, &what))
    }

    /// A draft release of `tag` (`GET …/releases`, every page: drafts are found only this way).
    pub async fn draft_release(&self, tag: &str) -> Result<Option<Release>, SyncError> {
        let what = "listing releases";
        let req = self
            .client()
            .get(&self.releases_path())
            .query("per_page", "100")
            .no_cache();
        let mut pages = devlog_http::Pages::new(req, devlog_http::LinkHeader);
        while let Some(page) = pages.next_page().await {
            let resp = page.map_err(|e| self.release_err(e, what))?;
            let page: Vec<Release> = resp.json().map_err(|e| self.release_err(e, what))?;
            if let Some(r) = page.into_iter().find(|r| r.draft && r.tag_name == tag) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Creates a release (`POST …/releases`). A release that already exists for the tag is a
    /// [`SyncErrorKind::Conflict`].
    pub async fn create_release(&self, req: &ReleaseRequest) -> Result<Release, SyncError> {
        let what = format!("creating the release of tag {}", req.tag);
        let mut body = serde_json::Map::new();
        body.insert("tag_name".into(), json!(req.tag));
        if let Some(c) = &req.target_commit {
            body.insert("target_commitish".into(), json!(c));
        }
        body.insert("name".into(), json!(req.name));
        body.insert("body".into(), json!(req.body));
        body.insert("draft".into(), json!(req.draft));
        let resp = self
            .client()
            .post(&self.releases_path())
            .json(&Value::Object(body))
            .send()
            .await
            .map_err(|e| self.release_err(e, &what))?;
        resp.json().map_err(|e| self.release_err(e, &what))
    }

    /// Replaces a release's body (`PATCH …/releases/{id}`); its name, tag and draft state
    /// stay as they are.
    pub async fn update_release_body(&self, id: u64, body: &str) -> Result<Release, SyncError> {
        let what = format!("updating release {id}");
        let resp = self
            .client()
            .patch(&format!("{}/{id}", self.releases_path()))
            .json(&json!({ "body": body }))
            .send()
            .await
            .map_err(|e| self.release_err(e, &what))?;
        resp.json().map_err(|e| self.release_err(e, &what))
    }

    /// The release of `tag`, published or draft, if there is one.
    pub async fn existing_release(&self, tag: &str) -> Result<Option<Release>, SyncError> {
        match self.release_by_tag(tag).await? {
            Some(r) => Ok(Some(r)),
            None => self.draft_release(tag).await,
        }
    }

    /// Creates the release of `req.tag`, or, when one exists (published or draft), replaces
    /// its body: running it twice leaves one release with the latest notes.
    pub async fn publish_release(&self, req: &ReleaseRequest) -> Result<Published, SyncError> {
        let existing = match self.existing_release(&req.tag).await? {
            Some(r) => r,
            None => match self.create_release(req).await {
                Ok(release) => {
                    return Ok(Published {
                        action: PublishAction::Created,
                        release,
                    });
                }
                // Created by someone else between the look-up and the create: update that one.
                Err(e) if e.kind == SyncErrorKind::Conflict => {
                    self.existing_release(&req.tag).await?.ok_or(e)?
                }
                Err(e) => return Err(e),
            },
        };
        let release = self.update_release_body(existing.id, &req.body).await?;
        Ok(Published {
            action: PublishAction::Updated,
            release,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use devlog_core::entry::ExternalReference;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn entry(handle: u64, title: &str, kind: EntryType, closed: Option<&str>) -> Entry {
        let created = ts("2025-01-01T00:00:00.000Z");
        let v = json!({
            "id": EntryId::new_random(),
            "handle": handle,
            "key": format!("e{handle}"),
            "title": title,
            "type": kind,
            "status": if closed.is_some() { "done" } else { "in-progress" },
            "createdAt": created,
            "updatedAt": created,
        });
        let mut e: Entry = serde_json::from_value(v).unwrap();
        e.closed_at = closed.map(ts);
        e
    }

    fn link(e: &mut Entry, system: &str, id: &str, url: Option<&str>) {
        e.external_references.push(ExternalReference {
            system: system.into(),
            id: id.into(),
            url: url.map(str::to_string),
            title: None,
            status: None,
            last_sync: None,
            sprint: None,
            board: None,
            extra: Default::default(),
        });
    }

    #[test]
    fn notes_are_grouped_by_type_and_ordered_by_closing_time() {
        let mut login = entry(
            4,
            "Fix login timeout",
            EntryType::Bugfix,
            Some("2025-02-03T00:00:00.000Z"),
        );
        link(
            &mut login,
            SYSTEM_ISSUE,
            "12",
            Some("https://github.com/acme/widgets/issues/12"),
        );
        link(&mut login, SYSTEM_PULL_REQUEST, "15", None);
        link(&mut login, "git", "abc123", None);
        link(&mut login, "jira", "W-1", None);
        let mut csv = entry(
            7,
            "Add CSV export",
            EntryType::Feature,
            Some("2025-02-02T00:00:00.000Z"),
        );
        link(&mut csv, SYSTEM_ISSUE, "#9", None);
        let early = entry(
            9,
            "Stream <big> *exports*",
            EntryType::Feature,
            Some("2025-02-01T00:00:00.000Z"),
        );
        let docs = entry(
            2,
            "Document [sync]",
            EntryType::Docs,
            Some("2025-02-01T00:00:00.000Z"),
        );
        let task = entry(
            1,
            "Bump deps",
            EntryType::Task,
            Some("2025-02-01T00:00:00.000Z"),
        );
        let refactor = entry(
            3,
            "Split store",
            EntryType::Refactor,
            Some("2025-02-01T00:00:00.000Z"),
        );
        let open = entry(5, "Half done", EntryType::Feature, None);
        let shipped = [&task, &login, &csv, &docs, &refactor, &early];
        let notes = generate(Some("v1.0"), "v1.1", &shipped, &[&open]);
        let want = "\
### Features

- Stream \\<big\\> \\*exports\\* — devlog-9
- Add CSV export (#9) — devlog-7

### Bug fixes

- Fix login timeout ([#12](https://github.com/acme/widgets/issues/12), #15) — devlog-4

### Refactoring

- Split store — devlog-3

### Docs

- Document \\[sync\\] — devlog-2

### Tasks

- Bump deps — devlog-1

### Not completed

Mentioned by commits of this release, but not done:

- Half done — devlog-5 (in-progress)
";
        assert_eq!(notes.markdown(), want);
        assert_eq!(notes.len(), 6);
        // The input order does not matter.
        let reversed: Vec<&Entry> = shipped.iter().rev().copied().collect();
        assert_eq!(generate(Some("v1.0"), "v1.1", &reversed, &[&open]), notes);
        // The JSON form.
        let v = serde_json::to_value(&notes).unwrap();
        assert_eq!(v["from"], "v1.0");
        assert_eq!(v["groups"][0]["type"], "feature");
        assert_eq!(v["groups"][0]["heading"], "Features");
        assert_eq!(v["groups"][1]["entries"][0]["handle"], 4);
        assert_eq!(
            v["groups"][1]["entries"][0]["links"],
            json!([
                {"kind": "issue", "number": "12", "url": "https://github.com/acme/widgets/issues/12"},
                {"kind": "pullRequest", "number": "15"}
            ])
        );
        assert_eq!(v["notCompleted"][0]["status"], "in-progress");
    }

    #[test]
    fn an_empty_release_says_so() {
        let notes = generate(None, "v0.1", &[], &[]);
        assert_eq!(notes.markdown(), "No completed entries in this release.\n");
        assert!(notes.is_empty());
    }

    #[test]
    fn tags_are_one_path_segment() {
        assert_eq!(segment("v1.2.0"), "v1.2.0");
        assert_eq!(segment("release/1.0 rc"), "release%2F1.0%20rc");
    }

    mod publish {
        use devlog_http::{RateLimitConfig, SecretString};
        use devlog_testkit::fake_github::FakeGithub;
        use devlog_testkit::fake_remote::FakeRemote;

        use super::super::*;
        use crate::GithubConfig;

        const TOKEN: &str = "ghp_release_token_value_1234";
        const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

        /// The fake GitHub (its contract check runs when `FakeGithub` is dropped) and an
        /// integration using `token`.
        async fn rig(token: &str) -> (FakeRemote, FakeGithub, GithubIntegration) {
            let b = FakeRemote::builder().without_tracker();
            let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
            let remote = b.routes(gh.router()).start().await;
            let mut cfg =
                GithubConfig::new("acme/widgets", SecretString::from(token.to_string())).unwrap();
            cfg.api_url = remote.url();
            let github = GithubIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
            (remote, gh, github)
        }

        fn request(body: &str, draft: bool) -> ReleaseRequest {
            ReleaseRequest {
                tag: "v1.1".into(),
                target_commit: Some(COMMIT.into()),
                name: "v1.1".into(),
                body: body.into(),
                draft,
            }
        }

        #[tokio::test]
        async fn publishing_twice_creates_the_release_once_then_updates_its_notes() {
            let (_remote, gh, github) = rig(TOKEN).await;
            let first = github
                .publish_release(&request("- A — devlog-1\n", false))
                .await
                .unwrap();
            assert_eq!(first.action, PublishAction::Created);
            let all = gh.releases();
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].tag_name, "v1.1");
            assert_eq!(all[0].name.as_deref(), Some("v1.1"));
            assert_eq!(all[0].body.as_deref(), Some("- A — devlog-1\n"));
            assert_eq!(all[0].target_commitish, COMMIT);
            assert!(!all[0].draft);

            let second = github
                .publish_release(&request("- A — devlog-1\n- B — devlog-2\n", false))
                .await
                .unwrap();
            assert_eq!(second.action, PublishAction::Updated);
            assert_eq!(second.release.id, first.release.id);
            let all = gh.releases();
            assert_eq!(all.len(), 1, "{all:?}");
            assert_eq!(
                all[0].body.as_deref(),
                Some("- A — devlog-1\n- B — devlog-2\n")
            );
            assert_eq!(gh.check_contract(), Vec::<String>::new());
        }

        #[tokio::test]
        async fn a_draft_release_is_found_in_the_list_and_updated() {
            let (_remote, gh, github) = rig(TOKEN).await;
            let first = github.publish_release(&request("one", true)).await.unwrap();
            assert_eq!(first.action, PublishAction::Created);
            assert!(first.release.draft);
            // GitHub does not find drafts by tag.
            assert_eq!(github.release_by_tag("v1.1").await.unwrap(), None);
            let second = github.publish_release(&request("two", true)).await.unwrap();
            assert_eq!(second.action, PublishAction::Updated);
            let all = gh.releases();
            assert_eq!(all.len(), 1, "{all:?}");
            assert_eq!(all[0].body.as_deref(), Some("two"));
            // Updating the notes does not publish the draft.
            assert!(all[0].draft);
        }

        #[tokio::test]
        async fn creating_a_release_that_exists_is_a_conflict() {
            let (_remote, _gh, github) = rig(TOKEN).await;
            github.create_release(&request("one", false)).await.unwrap();
            let e = github
                .create_release(&request("two", false))
                .await
                .unwrap_err();
            assert_eq!(e.kind, SyncErrorKind::Conflict, "{e}");
            assert!(e.message.contains("already exists"), "{e}");
        }

        #[tokio::test]
        async fn a_rejected_token_names_the_setting_and_never_the_token() {
            let (_remote, _gh, github) = rig("ghp_wrong_token_value_9999").await;
            let e = github
                .publish_release(&request("one", false))
                .await
                .unwrap_err();
            assert_eq!(e.kind, SyncErrorKind::Auth, "{e}");
            assert!(e.message.contains("integrations.github.token"), "{e}");
            assert!(!e.to_string().contains("ghp_wrong_token_value_9999"), "{e}");
        }
    }
}
