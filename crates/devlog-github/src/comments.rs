//! Notes ⇄ issue comments. A note posted by devlog carries `<!-- devlog:note=<note id> -->`
//! so that a retried post finds it and a pull recognises it; comments written on GitHub become
//! notes (the engine keys them by comment id and follows their edits).

use devlog_core::entry::Note;
use devlog_core::id::EntryId;
use devlog_core::integration::{Action, ActionTarget, RemoteAction, RemoteNote, SyncError};
use devlog_core::time::{Clock, SystemClock, Timestamp};
use devlog_http::{LinkHeader, Pages};
use serde::Deserialize;
use serde_json::json;

use crate::{GithubIntegration, UserRef};

const NOTE_MARKER: &str = "<!-- devlog:note=";

/// The hidden marker of a note's comment.
pub fn note_marker(note_id: &str) -> String {
    format!("{NOTE_MARKER}{note_id} -->")
}

/// The note id in a comment body, if it carries a note marker.
pub fn parse_note_marker(body: &str) -> Option<String> {
    let start = body.find(NOTE_MARKER)? + NOTE_MARKER.len();
    let rest = &body[start..];
    let id = rest[..rest.find(" -->")?].trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// A comment body without the devlog marker.
pub fn comment_text(body: &str) -> String {
    let body = body.replace("\r\n", "\n");
    match body.find(NOTE_MARKER) {
        Some(i) => body[..i].trim_end().to_string(),
        None => body.trim_end().to_string(),
    }
}

fn comment_body(note: &Note) -> String {
    format!("{}\n\n{}", note.content.trim_end(), note_marker(&note.id))
}

/// An issue comment as the REST API and webhooks send it (old payloads may lack fields).
#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub user: Option<UserRef>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub issue_url: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Comment {
    /// The issue number, from `issue_url` (`…/issues/12`).
    pub fn issue_number(&self) -> Option<u64> {
        self.issue_url.as_deref()?.rsplit('/').next()?.parse().ok()
    }
}

impl GithubIntegration {
    /// The note action a comment on issue (or pull request) `issue` asks for.
    pub fn comment_action(&self, issue: u64, c: &Comment) -> RemoteAction {
        let body = c.body.clone().unwrap_or_default();
        let created_at = c
            .created_at
            .as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or_else(|| SystemClock.now());
        // A comment in a pull request's conversation belongs to the entry the pull request
        // is linked to (its `html_url` is `…/pull/<n>#issuecomment-…`).
        let on_pull_request = c.html_url.as_deref().is_some_and(|u| u.contains("/pull/"));
        let target = if on_pull_request {
            ActionTarget::Attached {
                kind: crate::pulls::PULL_REQUEST.into(),
                remote_id: issue.to_string(),
            }
        } else {
            ActionTarget::Linked {
                remote_id: issue.to_string(),
            }
        };
        RemoteAction {
            key: format!("comment:{}", c.id),
            target,
            action: Action::Note(RemoteNote {
                remote_id: format!("comment:{}", c.id),
                text: comment_text(&body),
                author: c.user.as_ref().map(|u| u.login.clone()),
                url: c.html_url.clone(),
                created_at,
                note_marker: parse_note_marker(&body),
                category: None,
            }),
        }
    }

    /// All comments of an issue (for linking an existing issue), oldest first.
    pub async fn issue_comments(&self, number: &str) -> Result<Vec<Comment>, SyncError> {
        let path = format!("{}/issues/{number}/comments", self.repo_path());
        let mut pages = Pages::new(self.client.get(&path).query("per_page", "100"), LinkHeader);
        let mut out = Vec::new();
        while let Some(page) = pages.next_page().await {
            let resp = page.map_err(|e| self.sync_err(e, Some(number)))?;
            let page: Vec<Comment> = resp.json().map_err(|e| self.sync_err(e, Some(number)))?;
            out.extend(page);
        }
        Ok(out)
    }

    /// Comments of the repository updated since `since` (inclusive), as note actions, and the
    /// newest `updated_at` seen. Conditional: an idle repository costs one 304.
    pub(crate) async fn pull_comments(
        &self,
        since: Option<&str>,
    ) -> Result<(Vec<RemoteAction>, Option<String>), SyncError> {
        let path = format!("{}/issues/comments", self.repo_path());
        let mut req = self
            .client
            .get(&path)
            .query("sort", "updated")
            .query("direction", "asc")
            .query("per_page", "100");
        if let Some(s) = since {
            req = req.query("since", s);
        }
        let mut actions = Vec::new();
        let mut newest = since.map(str::to_string);
        let mut pages = Pages::new(req, LinkHeader);
        while let Some(page) = pages.next_page().await {
            let resp = page.map_err(|e| self.sync_err(e, None))?;
            let page: Vec<Comment> = resp.json().map_err(|e| self.sync_err(e, None))?;
            for c in &page {
                if let Some(u) = &c.updated_at
                    && newest.as_deref().is_none_or(|n| u.as_str() > n)
                {
                    newest = Some(u.clone());
                }
                if let Some(n) = c.issue_number() {
                    actions.push(self.comment_action(n, c));
                }
            }
        }
        Ok((actions, newest))
    }

    pub(crate) async fn post_note(
        &self,
        issue: &str,
        _entry: EntryId,
        note: &Note,
    ) -> Result<String, SyncError> {
        let resp = match self
            .client
            .post(&format!("{}/issues/{issue}/comments", self.repo_path()))
            .json(&json!({ "body": comment_body(note) }))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.explain_forbidden(self.sync_err(e, Some(issue))).await),
        };
        let c: Comment = resp.json().map_err(|e| self.sync_err(e, Some(issue)))?;
        Ok(format!("comment:{}", c.id))
    }

    pub(crate) async fn edit_note(
        &self,
        issue: &str,
        comment: &str,
        note: &Note,
    ) -> Result<(), SyncError> {
        let id = comment.strip_prefix("comment:").unwrap_or(comment);
        match self
            .client
            .patch(&format!("{}/issues/comments/{id}", self.repo_path()))
            .json(&json!({ "body": comment_body(note) }))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain_forbidden(self.sync_err(e, Some(issue))).await),
        }
    }

    /// Deletes a comment (its note was deleted); one that is gone already is fine.
    pub(crate) async fn delete_comment(&self, issue: &str, comment: &str) -> Result<(), SyncError> {
        let id = comment.strip_prefix("comment:").unwrap_or(comment);
        match self
            .client
            .delete(&format!("{}/issues/comments/{id}", self.repo_path()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == devlog_http::HttpErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.explain_forbidden(self.sync_err(e, Some(issue))).await),
        }
    }

    /// Which of `comments` are gone: those the issue's comment list lacks and that a read of
    /// the comment itself does not find (a pull request's conversation comment, mirrored on
    /// the same entry, is not in the issue's list but still exists).
    pub(crate) async fn deleted_comments(
        &self,
        issue: &str,
        comments: &[String],
    ) -> Result<Vec<String>, SyncError> {
        let present: Vec<String> = self
            .issue_comments(issue)
            .await?
            .iter()
            .map(|c| format!("comment:{}", c.id))
            .collect();
        let mut gone = Vec::new();
        for c in comments.iter().filter(|c| !present.contains(c)) {
            // Notes from commit mentions and releases are no comments: never gone.
            let Some(id) = c
                .strip_prefix("comment:")
                .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            match self
                .client
                .get(&format!("{}/issues/comments/{id}", self.repo_path()))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == devlog_http::HttpErrorKind::NotFound => gone.push(c.clone()),
                Err(e) => return Err(self.sync_err(e, Some(issue))),
            }
        }
        Ok(gone)
    }

    pub(crate) async fn find_note_comment(
        &self,
        issue: &str,
        note_id: &str,
    ) -> Result<Option<String>, SyncError> {
        Ok(self
            .issue_comments(issue)
            .await?
            .iter()
            .find(|c| c.body.as_deref().and_then(parse_note_marker).as_deref() == Some(note_id))
            .map(|c| format!("comment:{}", c.id)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn note_markers_round_trip() {
        let body = format!("Fixed it.\r\n\r\n{}", note_marker("n-1"));
        assert_eq!(parse_note_marker(&body).as_deref(), Some("n-1"));
        assert_eq!(comment_text(&body), "Fixed it.");
        assert_eq!(comment_text("plain"), "plain");
        assert_eq!(parse_note_marker("plain"), None);
        assert_eq!(parse_note_marker("<!-- devlog:note= -->"), None);
    }

    #[test]
    fn issue_number_comes_from_the_issue_url() {
        let c: Comment = serde_json::from_value(json!({
            "id": 7, "issue_url": "https://api.github.com/repos/o/r/issues/12"
        }))
        .unwrap();
        assert_eq!(c.issue_number(), Some(12));
    }
}
