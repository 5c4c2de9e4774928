//! The history tools (issue 16): an entry's changes, undo, and editing or deleting a note.
//! Thin callers of `devlog_core::history`; their router is merged into the server's.

use devlog_core::history::{Change, MAX_HISTORY, UndoRequest, describe, short};
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Args, Count, IdArg, input_schema};
use crate::error::Failure;
use crate::server::DevlogMcp;

const HISTORY: &str = "The history of one devlog entry, newest change first: each change (one write) with its seq, time, who made it (origin: cli, mcp, http, sync, import, external; and actor) and what it changed — fields from old to new value, status changes, notes added, edited or deleted (with their ids), decisions added. Use it to see how an entry got to where it is, to find the id of a note to edit or delete, or the seq to pass to undo_change.";
const UNDO: &str = "Revert a devlog entry's last change, or with `to` every change after that event seq (from get_entry_history), as a new change: history is never rewritten, and undoing the undo redoes it. Fields and status get their old values back, added notes and decisions are removed, edited and deleted notes restored. Refused, changing nothing: the entry's creation, a link to a remote item (unlinking is sync's: devlog github unlink), and — unless force is true — reverting a field that a later change by someone else also changed, or one that no longer holds what the change wrote.";
const EDIT_NOTE: &str = "Replace the text of one note of a devlog entry (a correction, a clarification). The note keeps its id, time and category; the old text stays in the entry's history and undo_change restores it. Synced comments of the note are updated by the next sync.";
const DELETE_NOTE: &str = "Delete one note of a devlog entry (a mistake, a duplicate). The whole note stays in the entry's history and undo_change puts it back where it was. A comment that sync already posted for the note on a remote item is not deleted there.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// At most this many changes, the newest (default 50, at most 1000).
    #[serde(default)]
    #[schemars(extend("default" = 50))]
    pub limit: Option<Count>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UndoArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// Revert every change after the change holding this event seq (a `seq` from
    /// get_entry_history). Without it, only the last change is reverted.
    #[serde(default)]
    pub to: Option<Count>,
    /// Revert even if a later change by someone else touched the same field, or the entry no
    /// longer holds what a change wrote (default false).
    #[serde(default)]
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditNoteArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// The note's id, or a unique prefix of it (get_devlog and get_entry_history show them).
    pub note_id: String,
    /// The note's new text.
    pub text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteNoteArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// The note's id, or a unique prefix of it (get_devlog and get_entry_history show them).
    pub note_id: String,
}

type Outcome = Result<(String, Value), Failure>;

fn finish(o: Outcome) -> CallToolResult {
    match o {
        Ok((text, structured)) => {
            let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
            out.structured_content = Some(structured);
            out
        }
        Err(f) => f.into_result(),
    }
}

fn change_text(c: &Change) -> String {
    let mut s = format!("- seq {} at {} by {}\n", c.seq, c.at, c.author());
    for k in &c.events {
        s.push_str(&format!("  - {}\n", describe(k, 200)));
    }
    s
}

#[tool_router(router = history_tool_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "get_entry_history",
        description = HISTORY,
        input_schema = input_schema::<HistoryArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_entry_history(&self, Args(a): Args<HistoryArgs>) -> CallToolResult {
        finish(self.history(a).await)
    }

    #[tool(
        name = "undo_change",
        description = UNDO,
        input_schema = input_schema::<UndoArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn undo_change(&self, Args(a): Args<UndoArgs>) -> CallToolResult {
        finish(self.undo(a).await)
    }

    #[tool(
        name = "edit_note",
        description = EDIT_NOTE,
        input_schema = input_schema::<EditNoteArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn edit_note(&self, Args(a): Args<EditNoteArgs>) -> CallToolResult {
        finish(self.note_edit(a).await)
    }

    #[tool(
        name = "delete_note",
        description = DELETE_NOTE,
        input_schema = input_schema::<DeleteNoteArgs>(),
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn delete_note(&self, Args(a): Args<DeleteNoteArgs>) -> CallToolResult {
        finish(self.note_delete(a).await)
    }
}

impl DevlogMcp {
    async fn history(&self, a: HistoryArgs) -> Outcome {
        let limit = a.limit.map_or(50, |c| {
            usize::try_from(c.0).unwrap_or(usize::MAX).min(MAX_HISTORY)
        });
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let h = self.app().history(s.id, limit).await?;
        let mut text = format!(
            "History of devlog entry #{}: {} ({} changes shown, newest first{})\n",
            h.handle,
            h.title,
            h.changes.len(),
            if h.more { "; older ones exist" } else { "" }
        );
        for c in &h.changes {
            text.push_str(&change_text(c));
        }
        Ok((text, json!(h)))
    }

    async fn undo(&self, a: UndoArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let undone = self
            .app()
            .undo(
                s.id,
                UndoRequest {
                    to: a.to.map(|c| c.0),
                    force: a.force.unwrap_or(false),
                },
                &self.meta(),
            )
            .await?;
        let mut text = format!(
            "Reverted {} change(s) of devlog entry #{}: {}\n",
            undone.reverted.len(),
            undone.entry.handle,
            undone.entry.title
        );
        for c in &undone.reverted {
            text.push_str(&change_text(c));
        }
        Ok((
            text,
            json!({ "entry": undone.entry.summary(), "reverted": undone.reverted }),
        ))
    }

    async fn note_edit(&self, a: EditNoteArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let (e, note) = self
            .app()
            .edit_note(s.id, &a.note_id, a.text, &self.meta())
            .await?;
        Ok((
            format!(
                "Edited note {} of devlog entry #{}: {}\n{}",
                short(&note.id),
                e.handle,
                e.title,
                note.content
            ),
            json!({ "entry": e.summary(), "note": note }),
        ))
    }

    async fn note_delete(&self, a: DeleteNoteArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let (e, note) = self
            .app()
            .delete_note(s.id, &a.note_id, &self.meta())
            .await?;
        Ok((
            format!(
                "Deleted note {} of devlog entry #{}: {} ({} notes left; undo_change restores it)",
                short(&note.id),
                e.handle,
                e.title,
                e.notes.len()
            ),
            json!({ "entry": e.summary(), "note": note, "totalNotes": e.notes.len() }),
        ))
    }
}
