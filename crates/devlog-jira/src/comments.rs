//! Notes ⇄ comments. A note devlog posts carries its id in the comment property `devlog` =
//! `{"note": "<note id>", "entry": "<entry id>"}`, set in the create request itself (the
//! Comment's `properties`), so the marker exists atomically with the comment: a retried post
//! finds it (`GET …/comment?expand=properties`) and a pull recognises it. Comments written in
//! Jira become `feedback` notes with their author (the engine keys them by comment id and
//! follows their edits and deletions). Bodies are ADF in both directions ([`crate::adf`]).

use devlog_core::entry::Note;
use devlog_core::id::EntryId;
use devlog_core::integration::{Action, ActionTarget, RemoteAction, RemoteNote, SyncError};
use devlog_core::time::{Clock, SystemClock};
use devlog_http::HttpErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::issue::{PROPERTY, User, parse_time};
use crate::{JiraIntegration, adf};

/// Comments per page of a comment list.
const COMMENT_PAGE: usize = 100;
/// Pages of one issue's comments read at most (10,000 comments).
const COMMENT_PAGES: usize = 100;

/// The remote id of a comment as notes record it (`comment:<id>`: Jira's comment ids are
/// unique per site).
pub fn note_remote_id(comment_id: &str) -> String {
    format!("comment:{comment_id}")
}

/// The comment id in a note's remote id.
fn comment_id(remote: &str) -> &str {
    remote.strip_prefix("comment:").unwrap_or(remote)
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: String,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub properties: Option<Vec<EntityProperty>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EntityProperty {
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

#[derive(Debug, Deserialize)]
struct CommentPage {
    #[serde(default)]
    comments: Vec<Comment>,
    #[serde(default)]
    total: Option<usize>,
}

impl Comment {
    /// The id of the note this comment was posted from, if it carries devlog's property.
    pub fn note_marker(&self) -> Option<String> {
        self.properties
            .as_ref()?
            .iter()
            .find(|p| p.key == PROPERTY)?
            .value
            .get("note")?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The body as devlog's text (an unreadable body reads as empty text).
    pub fn text(&self) -> String {
        self.body
            .as_ref()
            .and_then(|b| adf::Doc::from_json(b).ok())
            .map(|d| adf::to_text(&d))
            .unwrap_or_default()
    }
}

/// A comment body: the note's text as ADF.
fn body(note: &Note) -> Value {
    adf::from_text(note.content.trim_end()).to_json()
}

impl JiraIntegration {
    /// The note action a comment on issue `key` asks for.
    pub fn comment_action(&self, key: &str, c: &Comment) -> RemoteAction {
        let created_at = c
            .created
            .as_deref()
            .and_then(|t| parse_time(t).ok())
            .unwrap_or_else(|| SystemClock.now());
        RemoteAction {
            key: note_remote_id(&c.id),
            target: ActionTarget::Linked {
                remote_id: key.to_string(),
            },
            action: Action::Note(RemoteNote {
                remote_id: note_remote_id(&c.id),
                text: c.text(),
                author: c.author.as_ref().map(|a| {
                    a.display_name
                        .clone()
                        .unwrap_or_else(|| a.account_id.clone())
                }),
                url: Some(format!(
                    "{}/browse/{key}?focusedCommentId={}",
                    self.config.base_url, c.id
                )),
                created_at,
                note_marker: c.note_marker(),
                category: None,
            }),
        }
    }

    /// All comments of issue `key` with their properties, oldest first.
    pub async fn issue_comments(&self, key: &str) -> Result<Vec<Comment>, SyncError> {
        let mut out: Vec<Comment> = Vec::new();
        for _ in 0..COMMENT_PAGES {
            let resp = self
                .client
                .get(&format!("/rest/api/3/issue/{key}/comment"))
                .query("startAt", &out.len().to_string())
                .query("maxResults", &COMMENT_PAGE.to_string())
                .query("orderBy", "created")
                .query("expand", "properties")
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(key)))?;
            let page: CommentPage = self.decode(&resp, Some(key))?;
            let n = page.comments.len();
            out.extend(page.comments);
            if n == 0 || page.total.is_none_or(|t| out.len() >= t) {
                break;
            }
        }
        Ok(out)
    }

    pub(crate) async fn post_note(
        &self,
        key: &str,
        entry: EntryId,
        note: &Note,
    ) -> Result<String, SyncError> {
        self.issue_writes.wait(key).await;
        let resp = self
            .client
            .post(&format!("/rest/api/3/issue/{key}/comment"))
            .json(&json!({
                "body": body(note),
                // The marker is created with the comment, so a retried post finds it.
                "properties": [{"key": PROPERTY, "value": {"note": note.id, "entry": entry.to_string()}}],
            }))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(key)))?;
        let c: Comment = self.decode(&resp, Some(key))?;
        Ok(note_remote_id(&c.id))
    }

    pub(crate) async fn edit_note(
        &self,
        key: &str,
        comment: &str,
        note: &Note,
    ) -> Result<(), SyncError> {
        // The comment's properties (the marker) stay as they are.
        self.issue_writes.wait(key).await;
        self.client
            .put(&format!(
                "/rest/api/3/issue/{key}/comment/{}",
                comment_id(comment)
            ))
            .json(&json!({ "body": body(note) }))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(key)))?;
        Ok(())
    }

    /// Deletes a comment (its note was deleted); one that is gone already is fine.
    pub(crate) async fn delete_comment(&self, key: &str, comment: &str) -> Result<(), SyncError> {
        self.issue_writes.wait(key).await;
        match self
            .client
            .delete(&format!(
                "/rest/api/3/issue/{key}/comment/{}",
                comment_id(comment)
            ))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == HttpErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.sync_err(e, Some(key))),
        }
    }

    /// Which of `comments` (`comment:<id>`) issue `key` no longer has.
    pub(crate) async fn deleted_comments(
        &self,
        key: &str,
        comments: &[String],
    ) -> Result<Vec<String>, SyncError> {
        let present: Vec<String> = self
            .issue_comments(key)
            .await?
            .iter()
            .map(|c| note_remote_id(&c.id))
            .collect();
        Ok(comments
            .iter()
            .filter(|c| c.starts_with("comment:") && !present.contains(c))
            .cloned()
            .collect())
    }

    pub(crate) async fn find_note_comment(
        &self,
        key: &str,
        note_id: &str,
    ) -> Result<Option<String>, SyncError> {
        Ok(self
            .issue_comments(key)
            .await?
            .iter()
            .find(|c| c.note_marker().as_deref() == Some(note_id))
            .map(|c| note_remote_id(&c.id)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_note_marker_is_read_from_devlogs_property_only() {
        let c: Comment = serde_json::from_value(json!({
            "id": "7",
            "properties": [{"key": "other", "value": {"note": "n-0"}},
                           {"key": "devlog", "value": {"note": "n-1", "entry": "x"}}]
        }))
        .unwrap();
        assert_eq!(c.note_marker().as_deref(), Some("n-1"));
        let none: Comment = serde_json::from_value(json!({"id": "8"})).unwrap();
        assert_eq!(none.note_marker(), None);
        assert_eq!(none.text(), "");
        assert_eq!(comment_id(&note_remote_id("8")), "8");
    }
}
