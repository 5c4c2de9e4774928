//! Notes ⇄ work item comments (the comments API, `7.1-preview.4`). A note posted by devlog is
//! HTML rendered from its text, ending with a small visible marker paragraph
//! `<p><sub>devlog:note=<note id></sub></p>`: visible rather than an HTML comment, because
//! Azure DevOps sanitizes comment HTML and a marker it dropped would let a retried post
//! duplicate the comment. Comments written in Azure DevOps become notes (the engine keys them
//! by comment id and follows their edits).

use devlog_core::entry::Note;
use devlog_core::integration::{Action, ActionTarget, RemoteAction, RemoteNote, SyncError};
use devlog_http::{AdoContinuation, Pages};
use serde::Deserialize;
use serde_json::json;

use crate::{AdoIntegration, html};

/// The comments API's version (a preview in 7.1).
pub const COMMENTS_API_VERSION: &str = "7.1-preview.4";
/// Comments per list page (the API's maximum).
const PAGE: usize = 200;
const MARKER: &str = "devlog:note=";

/// The marker paragraph of a note's comment.
pub fn note_marker(note_id: &str) -> String {
    let mut id = String::new();
    for c in note_id.chars() {
        match c {
            '<' | '>' | '&' | '"' => {}
            c => id.push(c),
        }
    }
    format!("<p><sub>{MARKER}{id}</sub></p>")
}

/// The note id in a comment's HTML, if it carries a note marker.
pub fn parse_note_marker(text: &str) -> Option<String> {
    let start = text.rfind(MARKER)? + MARKER.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c == '<' || c.is_whitespace())
        .unwrap_or(rest.len());
    let id = &rest[..end];
    (!id.is_empty()).then(|| id.to_string())
}

/// A comment's text (devlog's text form), without the marker.
pub fn comment_text(text: &str) -> String {
    let body = match text.rfind(MARKER) {
        Some(at) => {
            // The marker's paragraph starts at the last `<p` before it.
            let cut = text[..at].rfind("<p").unwrap_or(at);
            &text[..cut]
        }
        None => text,
    };
    html::to_text(body)
}

/// The HTML devlog posts for a note.
pub fn comment_html(note: &Note) -> String {
    format!(
        "{}{}",
        html::from_text(note.content.trim_end()),
        note_marker(&note.id)
    )
}

/// A work item comment as the API returns it (what devlog reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    #[serde(alias = "commentId")]
    pub id: u64,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default, rename = "isDeleted")]
    pub is_deleted: bool,
    #[serde(default, rename = "createdBy")]
    pub created_by: Option<serde_json::Value>,
    #[serde(default, rename = "createdDate")]
    pub created_date: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CommentList {
    #[serde(default)]
    comments: Vec<Comment>,
}

/// `comment:<id>`, the remote id of a note's comment.
pub fn remote_note_id(id: u64) -> String {
    format!("comment:{id}")
}

fn comment_id(remote: &str) -> Option<u64> {
    remote
        .strip_prefix("comment:")
        .unwrap_or(remote)
        .parse()
        .ok()
}

impl AdoIntegration {
    fn comments_path(&self, item: &str) -> String {
        self.project_path(&format!("wit/workItems/{item}/comments"))
    }

    fn bad_comment_id(&self, remote: &str) -> SyncError {
        self.permanent(format!("`{remote}` is not a work item comment id"))
    }

    /// All comments of a work item, oldest first (deleted ones left out), over
    /// `continuationToken` pages.
    pub async fn comments(&self, item: &str) -> Result<Vec<Comment>, SyncError> {
        let first = self
            .client
            .get(&self.comments_path(item))
            .query("$top", &PAGE.to_string())
            .query("order", "asc")
            .query("api-version", COMMENTS_API_VERSION)
            .no_cache();
        let mut pages = Pages::new(first, AdoContinuation::default()).max_pages(100);
        let mut out = Vec::new();
        while let Some(page) = pages.next_page().await {
            let resp = page.map_err(|e| self.sync_err(e, Some(item)))?;
            let page: CommentList = self.decode(&resp, Some(item))?;
            out.extend(page.comments.into_iter().filter(|c| !c.is_deleted));
        }
        Ok(out)
    }

    /// The note action a comment of work item `item` asks for.
    pub fn comment_action(&self, item: u64, c: &Comment) -> RemoteAction {
        let text = c.text.clone().unwrap_or_default();
        let created_at = c
            .created_date
            .as_deref()
            .and_then(|t| crate::workitem::parse_time(t).ok())
            .unwrap_or_else(|| devlog_core::time::Clock::now(&devlog_core::time::SystemClock));
        let author = c.created_by.as_ref().and_then(|b| {
            b.get("uniqueName")
                .or_else(|| b.get("displayName"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        });
        RemoteAction {
            key: remote_note_id(c.id),
            target: ActionTarget::Linked {
                remote_id: item.to_string(),
            },
            action: Action::Note(RemoteNote {
                remote_id: remote_note_id(c.id),
                text: comment_text(&text),
                author,
                url: Some(format!(
                    "{}/{}/_workitems/edit/{item}#{}",
                    self.config.organization_url,
                    self.project(),
                    c.id
                )),
                created_at,
                note_marker: parse_note_marker(&text),
                category: None,
            }),
        }
    }

    pub(crate) async fn post_note(&self, item: &str, note: &Note) -> Result<String, SyncError> {
        let resp = self
            .client
            .post(&self.comments_path(item))
            .query("api-version", COMMENTS_API_VERSION)
            .json(&json!({"text": comment_html(note)}))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(item)))?;
        let c: Comment = self.decode(&resp, Some(item))?;
        Ok(remote_note_id(c.id))
    }

    pub(crate) async fn edit_note(
        &self,
        item: &str,
        remote: &str,
        note: &Note,
    ) -> Result<(), SyncError> {
        let id = comment_id(remote).ok_or_else(|| self.bad_comment_id(remote))?;
        self.client
            .patch(&format!("{}/{id}", self.comments_path(item)))
            .query("api-version", COMMENTS_API_VERSION)
            .json(&json!({"text": comment_html(note)}))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(item)))?;
        Ok(())
    }

    pub(crate) async fn remove_note(&self, item: &str, remote: &str) -> Result<(), SyncError> {
        let id = comment_id(remote).ok_or_else(|| self.bad_comment_id(remote))?;
        match self
            .client
            .delete(&format!("{}/{id}", self.comments_path(item)))
            .query("api-version", COMMENTS_API_VERSION)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Gone already (a retried delete).
            Err(e) if e.kind() == devlog_http::HttpErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.sync_err(e, Some(item))),
        }
    }

    /// Which of `remotes` are deleted (or gone): one batch read with `includeDeleted`.
    pub(crate) async fn gone_notes(
        &self,
        item: &str,
        remotes: &[String],
    ) -> Result<Vec<String>, SyncError> {
        let ids: Vec<(u64, &String)> = remotes
            .iter()
            .filter_map(|r| comment_id(r).map(|id| (id, r)))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut alive = std::collections::BTreeSet::new();
        for chunk in ids.chunks(PAGE) {
            let list = chunk
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let resp = self
                .client
                .get(&self.comments_path(item))
                .query("ids", &list)
                .query("includeDeleted", "true")
                .query("api-version", COMMENTS_API_VERSION)
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(item)))?;
            let page: CommentList = self.decode(&resp, Some(item))?;
            alive.extend(page.comments.iter().filter(|c| !c.is_deleted).map(|c| c.id));
        }
        Ok(ids
            .into_iter()
            .filter(|(id, _)| !alive.contains(id))
            .map(|(_, r)| r.clone())
            .collect())
    }

    pub(crate) async fn find_note_comment(
        &self,
        item: &str,
        note_id: &str,
    ) -> Result<Option<String>, SyncError> {
        Ok(self
            .comments(item)
            .await?
            .iter()
            .find(|c| c.text.as_deref().and_then(parse_note_marker).as_deref() == Some(note_id))
            .map(|c| remote_note_id(c.id)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    fn note(id: &str, content: &str) -> Note {
        Note {
            id: id.into(),
            timestamp: devlog_core::time::Timestamp::from_millis(0).unwrap(),
            category: devlog_core::entry::NoteCategory::Progress,
            content: content.into(),
            files: Vec::new(),
            code_changes: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn note_markers_round_trip() {
        let html = comment_html(&note("note-1", "Fixed **it** <now>."));
        assert_eq!(
            html,
            "<p>Fixed <strong>it</strong> &lt;now&gt;.</p><p><sub>devlog:note=note-1</sub></p>"
        );
        assert_eq!(parse_note_marker(&html).as_deref(), Some("note-1"));
        assert_eq!(comment_text(&html), "Fixed **it** <now>.");
        assert_eq!(parse_note_marker("<p>plain</p>"), None);
        assert_eq!(parse_note_marker("<p><sub>devlog:note=</sub></p>"), None);
        assert_eq!(
            comment_text("<div>Someone's comment</div>"),
            "Someone's comment"
        );
        assert_eq!(comment_id("comment:12"), Some(12));
        assert_eq!(comment_id("12"), Some(12));
        assert_eq!(comment_id("comment:x"), None);
    }
}
