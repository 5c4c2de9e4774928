//! The `bulk_update` tool (issue 20 item 5): one change to every entry a filter selects, with
//! a dry run, through devlog-core's `bulk` (the runner `devlog bulk` and `POST /api/v1/bulk`
//! use). Its router is merged into the server's. An admin action once roles exist
//! (role: admin — the tokens middleware covers MCP over HTTP).

use std::sync::Arc;

use devlog_core::bulk::{
    Bulk, BulkAction, BulkJournal, BulkRequest, BulkSummary, FieldChanges, MemoryJournal, Outcome,
    Quiet,
};
use devlog_core::store::Filter;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::args::{Args, PriorityArg, StatusArg, TypeArg, input_schema};
use crate::error::Failure;
use crate::server::DevlogMcp;

const BULK: &str = "Change many devlog entries at once: apply one action to every entry the filter selects — edit (set status, priority, type or assignee), close (status closed, with the reason as a note; entries already done or closed are left), tag / untag (add or remove tags), assign (or unassign with no assignee), sync (queue a push to the configured integrations). Each entry is changed once, in its own write, and recorded in its history and the audit log; entries already in the target state are left untouched. Call it with dryRun true first: it lists what would change per entry and changes nothing. An empty filter is refused unless all is true. The same call made again after an interruption continues the operation without changing any entry twice.";

/// The action to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionArg {
    Edit,
    Close,
    Tag,
    Untag,
    Assign,
    Sync,
}

/// Which entries (the filters of list_devlogs; lists mean any of them).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterArg {
    /// Only entries with one of these statuses.
    #[serde(default)]
    pub status: Vec<StatusArg>,
    /// Only entries of one of these types.
    #[serde(default, rename = "type")]
    pub kind: Vec<TypeArg>,
    /// Only entries with one of these priorities.
    #[serde(default)]
    pub priority: Vec<PriorityArg>,
    /// Only entries assigned to this person.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Only entries with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Only open entries (not done or closed).
    #[serde(default)]
    pub open_only: Option<bool>,
    /// Only entries in this milestone (its name).
    #[serde(default)]
    pub milestone: Option<String>,
}

/// The fields `edit` sets.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetArg {
    #[serde(default)]
    pub status: Option<StatusArg>,
    #[serde(default)]
    pub priority: Option<PriorityArg>,
    #[serde(default, rename = "type")]
    pub kind: Option<TypeArg>,
    /// An empty string unassigns.
    #[serde(default)]
    pub assignee: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkArgs {
    /// edit, close, tag, untag, assign or sync.
    pub action: ActionArg,
    /// Which entries. Empty: refused unless `all` is true.
    #[serde(default)]
    pub filter: Option<FilterArg>,
    /// Select every entry (needed when the filter is empty).
    #[serde(default)]
    pub all: Option<bool>,
    /// Only list what would change, entry by entry (default false).
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// edit: the fields to set.
    #[serde(default)]
    pub set: Option<SetArg>,
    /// close: why; added as a note to each entry closed.
    #[serde(default)]
    pub reason: Option<String>,
    /// tag / untag: the tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// assign: who takes the entries (absent: unassign).
    #[serde(default)]
    pub assignee: Option<String>,
    /// sync: the integrations (default: every configured one).
    #[serde(default)]
    pub integrations: Option<Vec<String>>,
    /// edit to done/closed, close: finish parents even though subtasks are open.
    #[serde(default)]
    pub force: Option<bool>,
}

fn only_for(field: &str, action: &str) -> Failure {
    Failure::invalid(format!("`{field}` is for action {action} only"))
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

/// The core request the arguments ask for.
fn request(a: BulkArgs, configured: &[String]) -> Result<BulkRequest, Failure> {
    use ActionArg as A;
    if a.set.is_some() && a.action != A::Edit {
        return Err(only_for("set", "edit"));
    }
    if a.reason.is_some() && a.action != A::Close {
        return Err(only_for("reason", "close"));
    }
    if a.tags.is_some() && !matches!(a.action, A::Tag | A::Untag) {
        return Err(only_for("tags", "tag or untag"));
    }
    if a.assignee.is_some() && a.action != A::Assign {
        return Err(only_for("assignee", "assign"));
    }
    if a.integrations.is_some() && a.action != A::Sync {
        return Err(only_for("integrations", "sync"));
    }
    let f = a.filter.unwrap_or_default();
    let filter = Filter {
        status: f.status.into_iter().map(|s| s.0).collect(),
        kind: f.kind.into_iter().map(|k| k.0).collect(),
        priority: f.priority.into_iter().map(|p| p.0).collect(),
        assignee: nonempty(f.assignee),
        tag: nonempty(f.tag),
        open_only: f.open_only.unwrap_or(false),
        milestone: nonempty(f.milestone),
        ..Filter::default()
    };
    let action = match a.action {
        A::Edit => {
            let s = a.set.unwrap_or_default();
            BulkAction::Edit {
                set: FieldChanges {
                    status: s.status.map(|x| x.0),
                    priority: s.priority.map(|x| x.0),
                    kind: s.kind.map(|x| x.0),
                    assignee: s.assignee,
                },
            }
        }
        A::Close => BulkAction::Close { reason: a.reason },
        A::Tag => BulkAction::Tag {
            tags: a.tags.unwrap_or_default(),
        },
        A::Untag => BulkAction::Untag {
            tags: a.tags.unwrap_or_default(),
        },
        A::Assign => BulkAction::Assign {
            assignee: a.assignee,
        },
        A::Sync => {
            let integrations = a.integrations.unwrap_or_else(|| configured.to_vec());
            if let Some(bad) = integrations.iter().find(|n| !configured.contains(n)) {
                return Err(Failure::invalid(format!(
                    "`{bad}` is not an enabled integration (enabled: {})",
                    if configured.is_empty() {
                        "none".to_string()
                    } else {
                        configured.join(", ")
                    }
                )));
            }
            BulkAction::Sync { integrations }
        }
    };
    Ok(BulkRequest {
        filter,
        all: a.all.unwrap_or(false),
        action,
    })
}

fn text(s: &BulkSummary) -> String {
    let mut out = match s.operation {
        Some(id) => format!(
            "Bulk {} {id}{}: {} selected, {} changed, {} queued, {} unchanged, {} deleted meanwhile, {} refused\n",
            s.action,
            if s.resumed { " (resumed)" } else { "" },
            s.selected,
            s.changed,
            s.queued,
            s.unchanged,
            s.missing,
            s.failed
        ),
        None => format!(
            "Dry run of bulk {} (nothing changed): {} selected, {} would change, {} unchanged\n",
            s.action, s.selected, s.changed, s.unchanged
        ),
    };
    for o in &s.entries {
        let what = match &o.outcome {
            Outcome::Changed { changes } => changes
                .iter()
                .map(|c| format!("{}: {} → {}", c.field, c.before, c.after))
                .collect::<Vec<_>>()
                .join("; "),
            Outcome::Unchanged => continue,
            Outcome::AlreadyApplied => "changed before an interruption".into(),
            Outcome::Queued { integrations } => format!("push queued: {}", integrations.join(", ")),
            Outcome::Missing => "deleted since it was selected".into(),
            Outcome::Failed { message } => format!("refused: {message}"),
        };
        out.push_str(&format!("- #{} {}: {what}\n", o.handle, o.title));
    }
    out
}

#[tool_router(router = bulk_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "bulk_update",
        description = BULK,
        input_schema = input_schema::<BulkArgs>(),
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn bulk_update(&self, Args(a): Args<BulkArgs>) -> CallToolResult {
        match self.bulk(a).await {
            Ok(s) => {
                let mut out = CallToolResult::success(vec![ContentBlock::text(text(&s))]);
                out.structured_content = Some(json!(s));
                out
            }
            Err(f) => f.into_result(),
        }
    }
}

impl DevlogMcp {
    async fn bulk(&self, a: BulkArgs) -> Result<BulkSummary, Failure> {
        let dry_run = a.dry_run.unwrap_or(false);
        let force = a.force.unwrap_or(false);
        let sync = self.options().sync.clone();
        let configured: Vec<String> = sync
            .as_ref()
            .map(|e| {
                e.integrations()
                    .iter()
                    .map(|i| i.descriptor().name.to_string())
                    .collect()
            })
            .unwrap_or_default();
        let is_sync = a.action == ActionArg::Sync;
        let request = request(a, &configured)?;
        let journal: Arc<dyn BulkJournal> = self
            .options()
            .bulk_journal
            .clone()
            .unwrap_or_else(|| Arc::new(MemoryJournal::default()));
        let mut runner = Bulk::new(self.app().clone().allowing_open_children(force), journal);
        if is_sync {
            let Some(engine) = sync else {
                return Err(Failure::invalid(
                    "no integration is configured, so there is nothing to sync with",
                )
                .with_hint("add an [integrations.<name>] table to devlog.toml (docs/sync.md)"));
            };
            runner = runner.with_sync_state(Arc::clone(engine.state().store()));
        }
        if dry_run {
            return Ok(runner.dry_run(&request).await?);
        }
        let meta = self.meta();
        // A task of its own: a client that goes away does not cut the run off between an
        // entry's write and its journal record.
        let task = tokio::spawn(async move { runner.run(request, &meta, &mut Quiet).await });
        match task.await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(devlog_core::bulk::BulkError::Store(e))) => Err(e.into()),
            Ok(Err(e)) => Err(Failure::invalid(e.to_string())),
            Err(e) => Err(Failure::invalid(format!("the bulk operation stopped: {e}"))),
        }
    }
}
