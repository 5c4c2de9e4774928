//! Pull requests: created from an entry's branch or linked to an entry; their state (open,
//! merged, closed) moves the entry through `pullRequestMapping`. A pull request devlog
//! created carries the entry's marker; a linked one is an attachment the engine remembers.

use devlog_core::entry::{Entry, Status};
use devlog_core::integration::{Action, ActionTarget, RemoteAction, SyncError, SyncErrorKind};
use devlog_http::HttpErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{GithubIntegration, NAME, marker};

/// The engine's attachment kind for pull requests.
pub const PULL_REQUEST: &str = "pull-request";

/// What [`GithubIntegration::create_pull`] opens: from `head` into `base`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewPull<'a> {
    pub head: &'a str,
    pub base: &'a str,
    pub draft: bool,
    /// The linked issue the pull request closes.
    pub issue: Option<&'a str>,
    /// The title (default: the entry's).
    pub title: Option<&'a str>,
    /// The text of the body (default: the entry's description).
    pub body: Option<&'a str>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BranchRef {
    #[serde(default, rename = "ref")]
    pub name: Option<String>,
}

/// A pull request as the REST API and webhooks send it (old payloads may lack fields).
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub node_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub draft: Option<bool>,
    #[serde(default)]
    pub head: Option<BranchRef>,
}

/// `open`, `merged` or `closed`.
pub fn pr_state(state: Option<&str>, merged: bool) -> &'static str {
    if merged {
        "merged"
    } else if state == Some("closed") {
        "closed"
    } else {
        "open"
    }
}

impl PullRequest {
    pub fn state_name(&self) -> &'static str {
        pr_state(
            self.state.as_deref(),
            self.merged.unwrap_or(false) || self.merged_at.is_some(),
        )
    }
}

impl GithubIntegration {
    /// What pull request `number` in state `state` asks of its entry, per
    /// `pullRequestMapping` (nothing when the state is unmapped). The entry is the one the
    /// pull request is attached to (`devlog github pr` / `link --pr`); a marker in its body is
    /// not trusted, since anyone who can open a pull request can write one.
    pub fn pull_request_action(
        &self,
        number: u64,
        state: &str,
        title: &str,
    ) -> Option<RemoteAction> {
        let status: Status = *self.config.pull_request_mapping.get(state)?;
        let target = ActionTarget::Attached {
            kind: PULL_REQUEST.into(),
            remote_id: number.to_string(),
        };
        let title = if title.is_empty() {
            String::new()
        } else {
            format!(": {title}")
        };
        Some(RemoteAction {
            key: format!("pr:{number}:{state}"),
            target,
            action: Action::Set {
                status: Some(status),
                accept: Vec::new(),
                priority: None,
                reason: format!("Pull request #{number} {state} on GitHub{title}"),
                at: None,
            },
        })
    }

    pub async fn get_pull(&self, number: &str) -> Result<PullRequest, SyncError> {
        let resp = self
            .client
            .get(&format!("{}/pulls/{number}", self.repo_path()))
            .send()
            .await
            .map_err(|e| self.pull_err(e, number))?;
        resp.json().map_err(|e| self.pull_err(e, number))
    }

    fn pull_err(&self, e: devlog_http::HttpError, number: &str) -> SyncError {
        let mut err = self.sync_err(e, Some(number));
        if err.kind == SyncErrorKind::NotFound {
            err.message = format!(
                "pull request #{number} of {} does not exist",
                self.repository()
            );
        }
        err
    }

    /// The open pull request from `head`, if any.
    pub async fn open_pull_for(&self, head: &str) -> Result<Option<PullRequest>, SyncError> {
        let resp = self
            .client
            .get(&format!("{}/pulls", self.repo_path()))
            .query("state", "open")
            .query("head", &format!("{}:{head}", self.config.owner))
            .query("per_page", "1")
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let found: Vec<PullRequest> = resp.json().map_err(|e| self.sync_err(e, None))?;
        Ok(found.into_iter().next())
    }

    /// The path and body of the request [`create_pull`](Self::create_pull) sends for `entry`
    /// (what a dry run shows). The title is `pull.title` or the entry's; the body
    /// `pull.body` or the entry's description, then `Closes #<issue>` when it has a linked
    /// issue, then its marker (which is how a retry knows the pull request is devlog's).
    pub fn pull_request(&self, entry: &Entry, pull: &NewPull<'_>) -> (String, Value) {
        let mut body = String::new();
        let text = pull.body.unwrap_or(&entry.description);
        if !text.is_empty() {
            body.push_str(text);
            body.push_str("\n\n");
        }
        if let Some(n) = pull.issue {
            body.push_str(&format!("Closes #{n}\n\n"));
        }
        body.push_str(&marker(entry.id));
        let title = pull
            .title
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(&entry.title);
        let req: Value = json!({
            "title": title,
            "head": pull.head,
            "base": pull.base,
            "body": body,
            "draft": pull.draft,
        });
        (format!("{}/pulls", self.repo_path()), req)
    }

    /// Opens a pull request for an entry (see [`pull_request`](Self::pull_request) for what
    /// it holds). An existing open pull request from `pull.head` is returned instead of a
    /// second one (`false`: not opened now).
    pub async fn create_pull(
        &self,
        entry: &Entry,
        pull: &NewPull<'_>,
    ) -> Result<(PullRequest, bool), SyncError> {
        let (head, base) = (pull.head, pull.base);
        if let Some(pr) = self.open_pull_for(head).await? {
            return Ok((pr, false));
        }
        let (path, req) = self.pull_request(entry, pull);
        match self.client.post(&path).json(&req).send().await {
            Ok(resp) => Ok((resp.json().map_err(|e| self.sync_err(e, None))?, true)),
            Err(e) if e.kind() == HttpErrorKind::Invalid => {
                // A create whose response was lost: the pull request exists now.
                if let Some(pr) = self.open_pull_for(head).await? {
                    return Ok((pr, false));
                }
                Err(SyncError::new(
                    NAME,
                    SyncErrorKind::Permanent,
                    format!(
                        "GitHub refused the pull request from `{head}` into `{base}`: push the branch to {} first, and check that `{base}` exists ({e})",
                        self.repository()
                    ),
                ))
            }
            Err(e) => Err(self.explain_forbidden(self.sync_err(e, None)).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_wins_over_closed() {
        assert_eq!(pr_state(Some("closed"), true), "merged");
        assert_eq!(pr_state(Some("closed"), false), "closed");
        assert_eq!(pr_state(Some("open"), false), "open");
        assert_eq!(pr_state(None, false), "open");
    }
}
