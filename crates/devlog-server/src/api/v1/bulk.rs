//! `POST /bulk`: one change to every entry a list filter selects (devlog-core `bulk`, as
//! `devlog bulk` does; docs/bulk.md). Each entry is written by its own update with this
//! request's actor and client address (one audit record set per entry); the operation and its
//! progress are kept in the server's bulk journal (`devlog serve`: `.devlog/.state/bulk/`,
//! shared with `devlog bulk resume`), so the same request sent again after an interruption
//! continues the operation and changes no entry twice. The run is a task of its own: a client
//! that hangs up does not cut it off between an entry's write and its journal record.
//!
//! role: admin — bulk changes are an admin action (issue 20 item 3); the token middleware
//! covers this route by method and path.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use devlog_core::bulk::{Bulk, BulkAction, BulkRequest, BulkSummary, FieldChanges, Quiet};
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::{Filter, StoreError, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::v1::schema::{EntryTypeDoc, PriorityDoc, StatusDoc};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, Body, JsonBody};
use crate::state::AppState;

/// What to do to each selected entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BulkActionDoc {
    /// Set the fields in `set`.
    Edit,
    /// Close entries not already done or closed; `reason` becomes a note.
    Close,
    /// Add `tags`.
    Tag,
    /// Remove `tags`.
    Untag,
    /// Assign to `assignee` (absent or null: unassign).
    Assign,
    /// Queue a sync push to `integrations` (default: every configured one).
    Sync,
}

/// Which entries: the filters of `GET /entries`, as a JSON object.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct BulkFilterDoc {
    #[schema(value_type = Vec<StatusDoc>)]
    pub status: Vec<Status>,
    #[serde(rename = "type")]
    #[schema(value_type = Vec<EntryTypeDoc>)]
    pub kind: Vec<EntryType>,
    #[schema(value_type = Vec<PriorityDoc>)]
    pub priority: Vec<Priority>,
    pub assignee: Option<String>,
    pub tag: Option<String>,
    /// RFC 3339.
    #[schema(value_type = Option<String>)]
    pub created_after: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub created_before: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub updated_after: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub updated_before: Option<Timestamp>,
    /// Only open entries (not done or closed).
    pub open: bool,
    /// Due before this day (YYYY-MM-DD).
    #[schema(value_type = Option<String>)]
    pub due_before: Option<chrono::NaiveDate>,
    /// The milestone's name.
    pub milestone: Option<String>,
}

impl From<BulkFilterDoc> for Filter {
    fn from(f: BulkFilterDoc) -> Self {
        Filter {
            status: f.status,
            kind: f.kind,
            priority: f.priority,
            assignee: f.assignee.filter(|a| !a.is_empty()),
            tag: f.tag.filter(|t| !t.is_empty()),
            created_after: f.created_after,
            created_before: f.created_before,
            updated_after: f.updated_after,
            updated_before: f.updated_before,
            open_only: f.open,
            due_before: f.due_before,
            milestone: f.milestone.filter(|m| !m.is_empty()),
            handle_after: None,
        }
    }
}

/// The fields `edit` sets.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BulkSetDoc {
    #[schema(value_type = Option<StatusDoc>)]
    pub status: Option<Status>,
    #[schema(value_type = Option<PriorityDoc>)]
    pub priority: Option<Priority>,
    #[serde(rename = "type")]
    #[schema(value_type = Option<EntryTypeDoc>)]
    pub kind: Option<EntryType>,
    /// An empty string unassigns.
    pub assignee: Option<String>,
}

/// A bulk operation.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkBody {
    pub action: BulkActionDoc,
    /// Which entries. An empty filter is refused unless `all` is true.
    #[serde(default)]
    pub filter: BulkFilterDoc,
    /// Select every entry when the filter is empty.
    #[serde(default)]
    pub all: bool,
    /// Only report what would change, entry by entry.
    #[serde(default)]
    pub dry_run: bool,
    /// Finish parents even though subtasks are open (`edit` to done/closed, `close`).
    #[serde(default)]
    pub force: bool,
    /// `edit`: the fields to set.
    pub set: Option<BulkSetDoc>,
    /// `close`: added as a note to each entry closed.
    pub reason: Option<String>,
    /// `tag` / `untag`: the tags.
    pub tags: Option<Vec<String>>,
    /// `assign`: who takes the entries (absent or null: unassign).
    pub assignee: Option<String>,
    /// `sync`: the integrations (default: every configured one).
    pub integrations: Option<Vec<String>>,
}

impl Body for BulkBody {
    type Doc = BulkBody;
}

/// One field changed, before and after.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChangeDoc {
    pub field: String,
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
}

/// What happened to one entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkEntryDoc {
    pub id: String,
    pub handle: u64,
    pub title: String,
    /// changed, unchanged, alreadyApplied (written before an interruption), queued, missing
    /// (deleted since the selection) or failed.
    pub outcome: String,
    /// `changed`: what changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<FieldChangeDoc>>,
    /// `queued`: the integrations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrations: Option<Vec<String>>,
    /// `failed`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a bulk operation did (or, with `dryRun`, would do).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkSummaryDoc {
    /// The operation's id (null for a dry run).
    pub operation: Option<String>,
    pub action: String,
    pub dry_run: bool,
    /// The request continued an unfinished operation.
    pub resumed: bool,
    pub selected: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub queued: usize,
    pub missing: usize,
    pub failed: usize,
    pub entries: Vec<BulkEntryDoc>,
}

/// A field that belongs to another action, named.
fn only_for(field: &str, action: &str) -> ApiError {
    StoreError::invalid(field, format!("is for action `{action}` only")).into()
}

/// The core request a body asks for, every field checked against the action.
fn request(body: BulkBody, configured: &[String]) -> Result<BulkRequest, ApiError> {
    let a = body.action;
    if body.set.is_some() && a != BulkActionDoc::Edit {
        return Err(only_for("set", "edit"));
    }
    if body.reason.is_some() && a != BulkActionDoc::Close {
        return Err(only_for("reason", "close"));
    }
    if body.tags.is_some() && !matches!(a, BulkActionDoc::Tag | BulkActionDoc::Untag) {
        return Err(only_for("tags", "tag or untag"));
    }
    if body.assignee.is_some() && a != BulkActionDoc::Assign {
        return Err(only_for("assignee", "assign"));
    }
    if body.integrations.is_some() && a != BulkActionDoc::Sync {
        return Err(only_for("integrations", "sync"));
    }
    let action = match a {
        BulkActionDoc::Edit => {
            let set = body.set.unwrap_or_default();
            BulkAction::Edit {
                set: FieldChanges {
                    status: set.status,
                    priority: set.priority,
                    kind: set.kind,
                    assignee: set.assignee,
                },
            }
        }
        BulkActionDoc::Close => BulkAction::Close {
            reason: body.reason,
        },
        BulkActionDoc::Tag => BulkAction::Tag {
            tags: body.tags.unwrap_or_default(),
        },
        BulkActionDoc::Untag => BulkAction::Untag {
            tags: body.tags.unwrap_or_default(),
        },
        BulkActionDoc::Assign => BulkAction::Assign {
            assignee: body.assignee,
        },
        BulkActionDoc::Sync => {
            let integrations = body.integrations.unwrap_or_else(|| configured.to_vec());
            if let Some(bad) = integrations.iter().find(|n| !configured.contains(n)) {
                return Err(StoreError::invalid(
                    "integrations",
                    format!(
                        "`{bad}` is not an enabled integration (enabled: {})",
                        if configured.is_empty() {
                            "none".to_string()
                        } else {
                            configured.join(", ")
                        }
                    ),
                )
                .into());
            }
            BulkAction::Sync { integrations }
        }
    };
    Ok(BulkRequest {
        filter: body.filter.into(),
        all: body.all,
        action,
    })
}

/// Change many entries at once
///
/// Applies one action — `edit` (set status, priority, type, assignee), `close` (with a
/// reason), `tag`, `untag`, `assign` or `sync` (queue pushes) — to every entry `filter`
/// selects (the filters of `GET /entries`; an empty filter needs `all: true`). Each entry is
/// changed once, in its own atomic write; entries already in the target state are left as
/// they are. `dryRun` reports the per-entry changes without writing. The same request sent
/// again after an interruption continues the operation where it stopped (`resumed: true`).
/// Needs the admin role once tokens are configured.
#[utoipa::path(
    post,
    path = "/bulk",
    tag = "bulk",
    request_body = BulkBody,
    params(("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting")),
    responses(
        (status = 200, description = "What was changed (or would be, with dryRun), entry by entry", body = BulkSummaryDoc),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 409, description = "action sync without a configured integration", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "An unknown field or value, a field of another action, nothing to set, or an empty filter without all", body = ErrorBody),
    )
)]
// role: admin (the tokens middleware checks it for POST /api/v1/bulk)
pub async fn bulk(
    State(s): State<AppState>,
    actor: Actor,
    JsonBody(body): JsonBody<BulkBody>,
) -> Result<Json<BulkSummaryDoc>, ApiError> {
    let meta = s.meta(actor);
    let dry_run = body.dry_run;
    let force = body.force;
    let is_sync = body.action == BulkActionDoc::Sync;
    let configured: Vec<String> = s
        .sync()
        .engine
        .as_ref()
        .map(|e| {
            e.integrations()
                .iter()
                .map(|i| i.descriptor().name.to_string())
                .collect()
        })
        .unwrap_or_default();
    let request = request(body, &configured)?;
    let mut runner = Bulk::new(
        s.app().clone().allowing_open_children(force),
        s.bulk_journal(),
    );
    if is_sync {
        let engine = crate::api::v1::sync::engine(&s)?;
        runner = runner.with_sync_state(Arc::clone(engine.state().store()));
    }
    if dry_run {
        return Ok(Json(doc(runner.dry_run(&request).await?)));
    }
    let state = s.clone();
    let task = tokio::spawn(async move {
        let _write = state.write_shared().await;
        let out = runner.run(request, &meta, &mut Quiet).await;
        state.committed();
        out
    });
    let summary = task
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the bulk operation stopped: {e}"),
            )
        })?
        .map_err(|e| match e {
            devlog_core::bulk::BulkError::Store(e) => ApiError::from(e),
            other => ApiError::new(StatusCode::CONFLICT, "bulk", other.to_string()),
        })?;
    Ok(Json(doc(summary)))
}

fn doc(s: BulkSummary) -> BulkSummaryDoc {
    use devlog_core::bulk::Outcome;
    let entries = s
        .entries
        .into_iter()
        .map(|o| {
            let mut d = BulkEntryDoc {
                id: o.id.to_string(),
                handle: o.handle,
                title: o.title,
                outcome: String::new(),
                changes: None,
                integrations: None,
                message: None,
            };
            d.outcome = match o.outcome {
                Outcome::Changed { changes } => {
                    d.changes = Some(
                        changes
                            .into_iter()
                            .map(|c| FieldChangeDoc {
                                field: c.field,
                                before: c.before,
                                after: c.after,
                            })
                            .collect(),
                    );
                    "changed"
                }
                Outcome::Unchanged => "unchanged",
                Outcome::AlreadyApplied => "alreadyApplied",
                Outcome::Queued { integrations } => {
                    d.integrations = Some(integrations);
                    "queued"
                }
                Outcome::Missing => "missing",
                Outcome::Failed { message } => {
                    d.message = Some(message);
                    "failed"
                }
            }
            .to_string();
            d
        })
        .collect();
    BulkSummaryDoc {
        operation: s.operation.map(|o| o.to_string()),
        action: s.action,
        dry_run: s.dry_run,
        resumed: s.resumed,
        selected: s.selected,
        changed: s.changed,
        unchanged: s.unchanged,
        queued: s.queued,
        missing: s.missing,
        failed: s.failed,
        entries,
    }
}
