//! The tools: the original devlog's thirteen (same names, same arguments), the change feed,
//! statistics, and the sync tools, which run the sync engine the binary built from the
//! configured integrations.
//!
//! Every tool resolves its `id` with `Devlog::resolve*` and writes through the use cases in
//! `devlog_core::ops`, with `Origin::Mcp`.

use devlog_core::discover::{DiscoverQuery, Discovery, Recommendation};
use devlog_core::entry::{EntrySummary, NoteCategory, Status};
use devlog_core::ops::{AiUpdate, Edit, NewDecision, NewEntry, NewNote};
use devlog_core::{Created, Entry, Filter, ListQuery, SearchQuery, SortKey};
use devlog_sync::{PlannedOp, SyncReport};
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use serde_json::{Value, json};

use crate::args::*;
use crate::error::Failure;
use crate::render::{self, ActiveItem, AiView};
use crate::server::DevlogMcp;

/// What a successful tool answers: readable text and the same facts as JSON.
#[derive(Debug)]
pub struct Reply {
    pub text: String,
    pub structured: Value,
}

impl Reply {
    pub(crate) fn new(text: impl Into<String>, structured: Value) -> Self {
        Self {
            text: text.into(),
            structured,
        }
    }
}

pub(crate) type Outcome = Result<Reply, Failure>;

pub(crate) fn finish(o: Outcome) -> CallToolResult {
    match o {
        Ok(r) => {
            let mut out = CallToolResult::success(vec![ContentBlock::text(r.text)]);
            out.structured_content = Some(r.structured);
            out
        }
        Err(f) => f.into_result(),
    }
}

/// Most entries a list, search or change-feed answer carries.
pub const MAX_PAGE: usize = 500;

pub(crate) fn page_limit(limit: Option<Count>, default: usize) -> usize {
    limit
        .map(|c| usize::try_from(c.0).unwrap_or(MAX_PAGE))
        .unwrap_or(default)
        .clamp(1, MAX_PAGE)
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn strings(s: Option<Strings>) -> Vec<String> {
    s.map(Strings::into_vec).unwrap_or_default()
}

const CREATE: &str = "Create a devlog entry: a unit of development work (feature, bugfix, task, refactor, docs) that humans and AI assistants track across sessions. Call discover_related_devlogs first to avoid duplicate work. If an open entry with the same title and type exists it is returned instead of creating another (retries are safe), unless force is true. Answers with the entry's handle (#N), which every other tool accepts as id.";
const GET: &str = "Get one devlog entry with everything in it: description, status, notes, decisions, context and AI context, in the original devlog's JSON format.";
const UPDATE: &str = "Update a devlog entry's status, context and AI context in one call. Text fields replace; keyInsights, openQuestions, relatedPatterns, initialInsights and files are added (duplicates ignored); suggestedNextSteps replaces the list and nextSteps adds one step. blockers records an issue note and sets the status to blocked (unless status is given or the entry is done/closed). To record progress prefer add_devlog_note or update_devlog_with_note.";
const LIST: &str = "List devlog entries, most recently updated first, optionally filtered by status, type, priority, assignee or tag. Pages with limit/offset; the answer says how many match in total.";
const NOTE: &str = "Add a timestamped note to a devlog entry: progress made, an issue found, a solution, an idea, a reminder or feedback. Files named are also added to the entry.";
const UPDATE_WITH_NOTE: &str = "Add a note and change status and/or priority in one atomic write, e.g. moving to in-review with a note saying what was done.";
const DECISION: &str = "Record a decision on a devlog entry with its rationale, the alternatives considered and who decided, so later sessions know why things are the way they are.";
const COMPLETE: &str = "Mark a devlog entry done. The optional summary of what was achieved is kept as a solution note and as the AI context's summary.";
const CHANGE_STATUS: &str = "Move a devlog entry through its workflow with one named step: start (in-progress), block (blocked; say on what in note), review (in-review), close (closed without being done: won't do, duplicate, obsolete) or reopen (done or closed work back to new). An optional note is added in the same write. Done or closed work must be reopened before it is started, blocked or reviewed; a step to the status the entry already has changes nothing. Use complete_devlog to mark work done.";
const SHARED_INSIGHTS: &str = "Decisions and key insights that entries marked shared, in this workspace and in the other repositories devlog knows (devlog repos discover), most relevant to a piece of work first, each with its entry and repository. Use it when starting or planning work to learn from decisions made elsewhere. forId ranks for that entry (default: the entry in progress updated last).";
/// Shared insights of related work get_context_for_ai adds.
const CONTEXT_INSIGHTS: usize = 3;
const ADD_INSIGHT: &str = "Record a key insight on a devlog entry, shared by default with other work in this and other repositories (get_shared_insights): something learned that others should know. shared=false keeps it to this entry.";
const DISCOVER: &str = "Before creating an entry, find existing entries about the same or related work, by the words of the description, keywords and scope. Answers with ranked matches, the terms each matched, and a recommendation: continue an existing entry or create a new one.";
const SEARCH: &str = "Full-text search over titles, descriptions, notes and context of all devlog entries. Every word must match (word prefixes count); title matches rank first. Optional status/type/priority filters.";
const ACTIVE: &str = "The work in progress an assistant should know about at the start of a session: open entries (not done or closed), highest priority and most recently touched first, each with its summary, recent notes, next steps and open questions.";
const CONTEXT_FOR_AI: &str = "Everything needed to continue work on one entry: description, business and technical context, acceptance criteria, decisions, AI context (summary, insights, open questions, next steps) and the most recent notes, as Markdown and as JSON.";
const AI_CONTEXT: &str = "Update an entry's AI context: summary (replaces), insights, questions and patterns (added), nextSteps (replaces). Kept for compatibility with the original devlog; update_devlog accepts the same fields (currentSummary, keyInsights, openQuestions, relatedPatterns, suggestedNextSteps).";
const CHANGES: &str = "The change feed: every create, field change, status change, note, decision and deletion, oldest first, with who made it and through which interface (cli, mcp, http, sync, ...). Without since, answers the most recent changes; pass the answer's nextSince to get only newer ones.";
const STATS: &str = "Counts of devlog entries by status, type, priority and assignee, open vs closed, and the average time to complete, optionally for one type, assignee or tag.";
const SYNC_GITHUB: &str = "Sync devlog entries with GitHub issues ([integrations.github] in devlog.toml): pull remote changes and merge them field by field, then push local changes (creating an issue for each new entry, updating changed fields). id limits the push to one entry; dryRun lists the operations (create, update, pull) without performing them. Answers a summary (created, updated, pulled, applied, conflicts, failed, paused) and the report as JSON; failures are listed, and the call is an error only when nothing went through.";
const SYNC_JIRA: &str = "Sync devlog entries with Jira issues ([integrations.jira] in devlog.toml): pull remote changes and merge them field by field, then push local changes (creating an issue for each new entry, updating changed fields, moving the status through the workflow's transitions). id limits the push to one entry; dryRun lists the operations (create, update with the transitions it would take, pull) without performing them. Answers a summary (created, updated, pulled, applied, conflicts, failed, paused) and the report as JSON; failures are listed, and the call is an error only when nothing went through.";
const SYNC_ADO: &str = "Sync devlog entries with Azure DevOps work items ([integrations.azure-devops] in devlog.toml, or [integrations.ado]): pull remote changes and merge them field by field, then push local changes (creating a work item for each new entry with a JSON Patch, updating changed fields on the revision read, so an edit made in Azure DevOps meanwhile is a conflict, never overwritten; states mapped through the project's process). id limits the push to one entry; dryRun lists the operations (create, update, pull) without performing them. Answers a summary (created, updated, pulled, applied, conflicts, failed, paused) and the report as JSON; failures are listed, and the call is an error only when nothing went through.";
const SYNC_ALL: &str = "Sync devlog entries with every configured integration (in this version: GitHub, Jira and Azure DevOps), as sync_with_github does for one: pull and merge remote changes, push local ones. dryRun lists the operations without performing them. Answers an error saying what to configure when no integration is set up in devlog.toml.";

#[tool_router(router = tool_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "create_devlog",
        description = CREATE,
        input_schema = input_schema::<CreateArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn create_devlog(&self, Args(a): Args<CreateArgs>) -> CallToolResult {
        finish(self.create(a).await)
    }

    #[tool(
        name = "get_devlog",
        description = GET,
        input_schema = input_schema::<IdOnlyArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_devlog(&self, Args(a): Args<IdOnlyArgs>) -> CallToolResult {
        finish(self.get(a).await)
    }

    #[tool(
        name = "update_devlog",
        description = UPDATE,
        input_schema = input_schema::<UpdateArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn update_devlog(&self, Args(a): Args<UpdateArgs>) -> CallToolResult {
        finish(self.update(a).await)
    }

    #[tool(
        name = "list_devlogs",
        description = LIST,
        input_schema = input_schema::<ListArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn list_devlogs(&self, Args(a): Args<ListArgs>) -> CallToolResult {
        finish(self.list(a).await)
    }

    #[tool(
        name = "add_devlog_note",
        description = NOTE,
        input_schema = input_schema::<NoteArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn add_devlog_note(&self, Args(a): Args<NoteArgs>) -> CallToolResult {
        finish(self.note(a).await)
    }

    #[tool(
        name = "update_devlog_with_note",
        description = UPDATE_WITH_NOTE,
        input_schema = input_schema::<UpdateWithNoteArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn update_devlog_with_note(&self, Args(a): Args<UpdateWithNoteArgs>) -> CallToolResult {
        finish(self.update_with_note(a).await)
    }

    #[tool(
        name = "add_decision",
        description = DECISION,
        input_schema = input_schema::<DecisionArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn add_decision(&self, Args(a): Args<DecisionArgs>) -> CallToolResult {
        finish(self.decision(a).await)
    }

    #[tool(
        name = "complete_devlog",
        description = COMPLETE,
        input_schema = input_schema::<CompleteArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn complete_devlog(&self, Args(a): Args<CompleteArgs>) -> CallToolResult {
        finish(self.complete(a).await)
    }

    #[tool(
        name = "change_status",
        description = CHANGE_STATUS,
        input_schema = input_schema::<ChangeStatusArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn change_status(&self, Args(a): Args<ChangeStatusArgs>) -> CallToolResult {
        finish(self.transition(a).await)
    }

    #[tool(
        name = "discover_related_devlogs",
        description = DISCOVER,
        input_schema = input_schema::<DiscoverArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn discover_related_devlogs(&self, Args(a): Args<DiscoverArgs>) -> CallToolResult {
        finish(self.discover(a).await)
    }

    #[tool(
        name = "get_shared_insights",
        description = SHARED_INSIGHTS,
        input_schema = input_schema::<SharedInsightsArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_shared_insights(&self, Args(a): Args<SharedInsightsArgs>) -> CallToolResult {
        finish(self.shared_insights(a).await)
    }

    #[tool(
        name = "add_insight",
        description = ADD_INSIGHT,
        input_schema = input_schema::<InsightArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn add_insight(&self, Args(a): Args<InsightArgs>) -> CallToolResult {
        finish(self.insight(a).await)
    }

    #[tool(
        name = "search_devlogs",
        description = SEARCH,
        input_schema = input_schema::<SearchArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn search_devlogs(&self, Args(a): Args<SearchArgs>) -> CallToolResult {
        finish(self.search(a).await)
    }

    #[tool(
        name = "get_active_context",
        description = ACTIVE,
        input_schema = input_schema::<ActiveContextArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_active_context(&self, Args(a): Args<ActiveContextArgs>) -> CallToolResult {
        finish(self.active(a).await)
    }

    #[tool(
        name = "get_context_for_ai",
        description = CONTEXT_FOR_AI,
        input_schema = input_schema::<IdOnlyArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_context_for_ai(&self, Args(a): Args<IdOnlyArgs>) -> CallToolResult {
        finish(self.context_for_ai(a).await)
    }

    #[tool(
        name = "update_ai_context",
        description = AI_CONTEXT,
        input_schema = input_schema::<AiContextArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn update_ai_context(&self, Args(a): Args<AiContextArgs>) -> CallToolResult {
        finish(self.ai_context(a).await)
    }

    #[tool(
        name = "get_recent_changes",
        description = CHANGES,
        input_schema = input_schema::<ChangesArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_recent_changes(&self, Args(a): Args<ChangesArgs>) -> CallToolResult {
        finish(self.changes(a).await)
    }

    #[tool(
        name = "get_devlog_stats",
        description = STATS,
        input_schema = input_schema::<StatsArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_devlog_stats(&self, Args(a): Args<StatsArgs>) -> CallToolResult {
        finish(self.stats(a).await)
    }

    #[tool(
        name = "sync_with_github",
        description = SYNC_GITHUB,
        input_schema = input_schema::<SyncArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn sync_with_github(&self, Args(a): Args<SyncArgs>) -> CallToolResult {
        self.sync(Some("github"), a).await
    }

    #[tool(
        name = "sync_with_jira",
        description = SYNC_JIRA,
        input_schema = input_schema::<SyncArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn sync_with_jira(&self, Args(a): Args<SyncArgs>) -> CallToolResult {
        self.sync(Some("jira"), a).await
    }

    #[tool(
        name = "sync_with_azure_devops",
        description = SYNC_ADO,
        input_schema = input_schema::<SyncArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn sync_with_azure_devops(&self, Args(a): Args<SyncArgs>) -> CallToolResult {
        self.sync(Some("ado"), a).await
    }

    /// The name earlier versions answered for Azure DevOps: the same tool, not listed.
    #[tool(
        name = "sync_with_ado",
        description = SYNC_ADO,
        input_schema = input_schema::<SyncArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn sync_with_ado(&self, Args(a): Args<SyncArgs>) -> CallToolResult {
        self.sync(Some("ado"), a).await
    }

    #[tool(
        name = "sync_all_integrations",
        description = SYNC_ALL,
        input_schema = input_schema::<SyncArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn sync_all_integrations(&self, Args(a): Args<SyncArgs>) -> CallToolResult {
        self.sync(None, a).await
    }
}

/// The tools' work, separate from their MCP wiring.
impl DevlogMcp {
    async fn find(&self, id: &IdArg) -> Result<EntrySummary, Failure> {
        Ok(self.app().resolve_summary(&id.reference()).await?)
    }

    async fn create(&self, a: CreateArgs) -> Outcome {
        let input = NewEntry {
            title: a.title,
            kind: Some(a.kind.0),
            description: a.description,
            priority: a.priority.map(|p| p.0),
            status: a.status.map(|s| s.0),
            business_context: a.business_context.unwrap_or_default(),
            technical_context: a.technical_context.unwrap_or_default(),
            acceptance_criteria: strings(a.acceptance_criteria),
            tags: strings(a.tags),
            assignee: nonempty(a.assignee),
            initial_insights: strings(a.initial_insights),
            related_patterns: strings(a.related_patterns),
            files: strings(a.files),
            estimated_hours: a.estimated_hours,
            points: a.points,
            due: a.due_date,
            milestone: a.milestone,
            force: a.force.unwrap_or(false),
            parent: a.parent.map(|p| p.reference()),
        };
        let created = self.app().create(input, &self.meta()).await?;
        let is_new = created.is_new();
        let e = created.entry();
        let mut text = if is_new {
            render::entry_header("Created devlog entry", e)
        } else {
            format!(
                "{}\n\nAn open {} with this title already exists, so it was returned and nothing \
                 was created (pass force: true to create another).",
                render::entry_header("Found existing devlog entry", e),
                e.kind
            )
        };
        text.push_str(&format!(
            "\n\nBusiness Context: {}\nTechnical Context: {}",
            e.context.business_context, e.context.technical_context
        ));
        let structured = json!({ "created": is_new, "entry": e });
        if let Created::Existing(_) = created {
            tracing::info!(
                handle = e.handle,
                "create_devlog returned an existing entry"
            );
        }
        Ok(Reply::new(text, structured))
    }

    async fn get(&self, a: IdOnlyArgs) -> Outcome {
        let e = self.app().resolve(&a.id.reference()).await?;
        let relations = self.app().relations_of(&e).await?;
        let body = serde_json::to_string_pretty(&e).unwrap_or_default();
        let rel = crate::relations::relations_text(&relations);
        let rel = if rel.is_empty() {
            String::new()
        } else {
            format!("\n\nRelations:\n{rel}")
        };
        Ok(Reply::new(
            format!("Devlog entry #{}: {}\n\n{body}{rel}", e.handle, e.title),
            json!({ "entry": e, "relations": relations }),
        ))
    }

    async fn update(&self, a: UpdateArgs) -> Outcome {
        let current = self.find(&a.id).await?;
        let app = self
            .app()
            .clone()
            .allowing_open_children(a.force.unwrap_or(false));
        let blockers = nonempty(a.blockers);
        let mut edit = Edit {
            title: a.title,
            kind: a.kind.map(|k| k.0),
            status: a.status.map(|s| s.0),
            priority: a.priority.map(|p| p.0),
            description: a.description,
            assignee: a.assignee,
            business_context: a.business_context,
            technical_context: a.technical_context,
            acceptance_criteria: a.acceptance_criteria.map(Strings::into_vec),
            add_files: strings(a.files),
            estimated_hours: a.estimated_hours,
            actual_hours: a.actual_hours,
            points: a.points,
            due: a.due_date,
            milestone: a.milestone,
            ..Edit::default()
        };
        if blockers.is_some() && edit.status.is_none() && !current.status.is_closed() {
            edit.status = Some(Status::Blocked);
        }
        let mut insights = strings(a.key_insights);
        for i in strings(a.initial_insights) {
            if !insights.contains(&i) {
                insights.push(i);
            }
        }
        let replace_next_steps = a.suggested_next_steps.is_some();
        let mut next_steps = strings(a.suggested_next_steps);
        if let Some(step) = nonempty(a.next_steps)
            && !next_steps.contains(&step)
        {
            next_steps.push(step);
        }
        let ai = AiUpdate {
            summary: a.current_summary,
            insights,
            questions: strings(a.open_questions),
            patterns: strings(a.related_patterns),
            next_steps,
            replace_next_steps,
        };
        let ai_given = ai != AiUpdate::default();
        if edit.is_empty() && blockers.is_none() && !ai_given {
            return Err(Failure::invalid(
                "nothing to update: give at least one field besides id (status, blockers, \
                 nextSteps, files, businessContext, technicalContext, acceptanceCriteria, \
                 currentSummary, keyInsights, openQuestions, suggestedNextSteps, ...)",
            ));
        }
        let meta = self.meta();
        let mut entry: Option<Entry> = None;
        if let Some(b) = &blockers {
            let note = NewNote {
                content: format!("Blocked: {b}"),
                category: NoteCategory::Issue,
                files: Vec::new(),
                code_changes: None,
            };
            entry = Some(app.edit_with_note(current.id, edit, note, &meta).await?);
        } else if !edit.is_empty() {
            entry = Some(app.edit(current.id, edit, &meta).await?);
        }
        if ai_given {
            let r = self.app().update_ai_context(current.id, ai, &meta).await;
            entry = Some(match r {
                Ok(e) => e,
                Err(err) if entry.is_some() => {
                    let mut f = Failure::from(err);
                    f.message = format!(
                        "the entry's fields were updated but its AI context was not: {}",
                        f.message
                    );
                    return Err(f);
                }
                Err(err) => return Err(err.into()),
            });
        }
        let e = match entry {
            Some(e) => e,
            None => self.app().store().get(current.id).await?,
        };
        let mut text = format!(
            "Updated devlog entry: #{}\nTitle: {}\nStatus: {}\nLast Updated: {}",
            e.handle, e.title, e.status, e.updated_at
        );
        if ai_given {
            text.push_str(&format!(
                "\nAI Context Updated: {}",
                e.ai_context
                    .last_ai_update
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            ));
        }
        if let Some(b) = &blockers {
            text.push_str(&format!("\nBlockers recorded: {b}"));
        }
        text.push_str(&format!("\n\nTotal Notes: {}", e.notes.len()));
        Ok(Reply::new(
            text,
            json!({ "entry": e.summary(), "aiContext": e.ai_context }),
        ))
    }

    async fn list(&self, a: ListArgs) -> Outcome {
        let limit = page_limit(a.limit, 50);
        let offset = a.offset.map(|c| c.0 as usize).unwrap_or(0);
        let q = ListQuery {
            filter: Filter {
                status: a.status.map(|s| vec![s.0]).unwrap_or_default(),
                kind: a.kind.map(|k| vec![k.0]).unwrap_or_default(),
                priority: a.priority.map(|p| vec![p.0]).unwrap_or_default(),
                assignee: nonempty(a.assignee),
                tag: nonempty(a.tag),
                open_only: a.open_only.unwrap_or(false),
                due_before: a
                    .due_before
                    .as_deref()
                    .map(|d| devlog_core::planning::parse_due(d, self.app().today_date()))
                    .transpose()?,
                milestone: nonempty(a.milestone),
                ..Filter::default()
            },
            sort: if a.overdue == Some(true) || a.due_before.is_some() {
                SortKey::Due
            } else {
                SortKey::Updated
            },
            ascending: false,
            offset,
            limit,
        };
        let mut q = q;
        if a.overdue == Some(true) {
            q.filter = self.app().overdue(q.filter);
            q.ascending = true;
        } else if a.due_before.is_some() {
            q.ascending = true;
        }
        let page = if a.blocked.unwrap_or(false) {
            self.app().blocked(&q).await?
        } else {
            self.app().store().list(&q).await?
        };
        let text = if page.items.is_empty() {
            if page.total > 0 {
                format!(
                    "No devlog entries at offset {offset}; {} match in total.",
                    page.total_label()
                )
            } else {
                "No devlog entries found matching the criteria.".to_string()
            }
        } else {
            let mut s = format!("Found {} devlog entries", page.total_label());
            if (page.items.len() as u64) < page.total {
                s.push_str(&format!(
                    " (showing {}–{}; pass offset {} for more)",
                    offset + 1,
                    offset + page.items.len(),
                    offset + page.items.len()
                ));
            }
            s.push_str(":\n\n");
            for e in &page.items {
                s.push_str(&render::summary_line(e));
                s.push('\n');
            }
            s
        };
        let mut data =
            json!({ "total": page.total, "offset": offset, "limit": limit, "items": page.items });
        mark_estimate(&mut data, page.total_is_estimate);
        Ok(Reply::new(text, data))
    }

    async fn note(&self, a: NoteArgs) -> Outcome {
        let s = self.find(&a.id).await?;
        let category = a.category.map(|c| c.0).unwrap_or(NoteCategory::Progress);
        let (e, note) = self
            .app()
            .add_note(
                s.id,
                NewNote {
                    content: a.note,
                    category,
                    files: strings(a.files),
                    code_changes: nonempty(a.code_changes),
                },
                &self.meta(),
            )
            .await?;
        Ok(Reply::new(
            format!(
                "Added {category} note to devlog entry #{}: {}\n{}\n\nTotal notes: {}",
                e.handle,
                e.title,
                note.content,
                e.notes.len()
            ),
            json!({ "entry": e.summary(), "note": note, "totalNotes": e.notes.len() }),
        ))
    }

    async fn update_with_note(&self, a: UpdateWithNoteArgs) -> Outcome {
        let s = self.find(&a.id).await?;
        let files = strings(a.files);
        let category = a.category.map(|c| c.0).unwrap_or(NoteCategory::Progress);
        let edit = Edit {
            status: a.status.map(|s| s.0),
            priority: a.priority.map(|p| p.0),
            add_files: files.clone(),
            ..Edit::default()
        };
        let note = NewNote {
            content: a.note,
            category,
            files,
            code_changes: nonempty(a.code_changes),
        };
        let content = note.content.clone();
        let e = self
            .app()
            .edit_with_note(s.id, edit, note, &self.meta())
            .await?;
        let added = e.notes.last().cloned();
        Ok(Reply::new(
            format!(
                "Updated devlog entry #{} and added {category} note:\n{content}\n\nStatus: {}\nPriority: {}\nTotal notes: {}",
                e.handle,
                e.status,
                e.priority,
                e.notes.len()
            ),
            json!({ "entry": e.summary(), "note": added, "totalNotes": e.notes.len() }),
        ))
    }

    async fn decision(&self, a: DecisionArgs) -> Outcome {
        let s = self.find(&a.id).await?;
        let e = self
            .app()
            .decide(
                s.id,
                NewDecision {
                    decision: a.decision,
                    rationale: a.rationale,
                    alternatives: strings(a.alternatives),
                    decision_maker: a.decision_maker,
                    shared: a.share.unwrap_or(false),
                },
                &self.meta(),
            )
            .await?;
        let d = e.context.decisions.last().cloned();
        let mut text = format!("Added decision to devlog entry #{}: {}", e.handle, e.title);
        if let Some(d) = &d {
            text.push_str(&format!(
                "\nDecision: {}\nRationale: {}\nDecision Maker: {}",
                d.decision, d.rationale, d.decision_maker
            ));
            if !d.alternatives.is_empty() {
                text.push_str(&format!("\nAlternatives: {}", d.alternatives.join("; ")));
            }
        }
        Ok(Reply::new(
            text,
            json!({ "entry": e.summary(), "decision": d }),
        ))
    }

    async fn complete(&self, a: CompleteArgs) -> Outcome {
        let s = self.find(&a.id).await?;
        let summary = nonempty(a.summary);
        let e = self
            .app()
            .clone()
            .allowing_open_children(a.force.unwrap_or(false))
            .complete(s.id, summary.clone(), &self.meta())
            .await?;
        Ok(Reply::new(
            format!(
                "Completed devlog entry: #{} {}\nStatus: {}\nCompletion summary: {}",
                e.handle,
                e.title,
                e.status,
                summary.as_deref().unwrap_or("None provided")
            ),
            json!({ "entry": e.summary(), "summary": summary }),
        ))
    }

    async fn transition(&self, a: ChangeStatusArgs) -> Outcome {
        let s = self.find(&a.id).await?;
        let t = a.transition.0;
        let out = self
            .app()
            .clone()
            .allowing_open_children(a.force.unwrap_or(false))
            .transition(s.id, t, nonempty(a.note), &self.meta())
            .await?;
        let e = &out.entry;
        let what = if out.changed {
            format!("Status: {} → {}", out.from, e.status)
        } else {
            format!("Status: already {}", e.status)
        };
        let noted = if out.noted { "\nAdded the note." } else { "" };
        Ok(Reply::new(
            format!("{t}: #{} {}\n{what}{noted}", e.handle, e.title),
            json!({
                "entry": e.summary(),
                "transition": t,
                "from": out.from,
                "changed": out.changed,
                "noted": out.noted,
            }),
        ))
    }

    async fn discover(&self, a: DiscoverArgs) -> Outcome {
        if a.work_description.trim().is_empty() {
            return Err(Failure::invalid(
                "workDescription is empty: say in a sentence what you are about to work on",
            ));
        }
        let work_type = a.work_type.0;
        let query = DiscoverQuery {
            description: a.work_description.clone(),
            kind: work_type,
            keywords: strings(a.keywords),
            scope: a.scope.clone(),
        };
        // This workspace first, then every other known repository.
        let found = self
            .app()
            .discover(&self.options().repositories, &query)
            .await?;
        for (repository, e) in &found.skipped {
            tracing::warn!(repository = repository.as_str(), "skipped: {e}");
        }
        let Discovery {
            terms,
            total_found,
            related,
            recommendation,
            ..
        } = found;
        let recommendation = match recommendation {
            Recommendation::Continue(e) => format!(
                "Open entry #{} \"{}\" looks like the same work: continue it (get_context_for_ai, \
                 add_devlog_note, update_devlog) instead of creating a new entry.",
                e.handle, e.title
            ),
            Recommendation::ReadRelated => "Related entries exist: read the relevant ones with \
                              get_context_for_ai before starting; if the work is new, create it \
                              with create_devlog and mention the related handles."
                .to_string(),
            Recommendation::CreateNew => {
                "No related entries found: safe to create a new entry with create_devlog."
                    .to_string()
            }
        };
        let keywords_text = if terms.is_empty() {
            "None".to_string()
        } else {
            terms.join(", ")
        };
        let mut text = format!(
            "Discovery for: \"{}\"\nType: {}\nSearch terms: {}\nScope: {}\n\n",
            a.work_description,
            work_type,
            keywords_text,
            a.scope.as_deref().unwrap_or("Not specified")
        );
        if related.is_empty() {
            text.push_str("No related devlog entries found.\n\n");
        } else {
            text.push_str(&format!("Found {total_found} related entries:\n\n"));
            for r in &related {
                text.push_str(&format!(
                    "{}{}\n  Relevance: {} (matched: {})\n",
                    render::summary_line(&r.entry),
                    r.repository
                        .as_deref()
                        .map(|p| format!(" [in {p}]"))
                        .unwrap_or_default(),
                    r.relevance,
                    r.matched_terms.join(", ")
                ));
            }
            text.push('\n');
        }
        text.push_str(&recommendation);
        Ok(Reply::new(
            text,
            json!({
                "workDescription": a.work_description,
                "workType": work_type,
                "terms": terms,
                "totalFound": total_found,
                "related": related,
                "recommendation": recommendation,
            }),
        ))
    }

    async fn search(&self, a: SearchArgs) -> Outcome {
        if a.query.trim().is_empty() {
            return Err(Failure::invalid(
                "query is empty: give one or more words to search for",
            ));
        }
        let limit = page_limit(a.limit, 20);
        let q = SearchQuery {
            text: a.query.clone(),
            filter: Filter {
                status: a.status.map(|s| vec![s.0]).unwrap_or_default(),
                kind: a.kind.map(|k| vec![k.0]).unwrap_or_default(),
                priority: a.priority.map(|p| vec![p.0]).unwrap_or_default(),
                ..Filter::default()
            },
            offset: 0,
            limit,
        };
        let page = self.app().store().search(&q).await?;
        let mut data = json!({ "query": a.query, "total": page.total, "items": page.items });
        mark_estimate(&mut data, page.total_is_estimate);
        Ok(Reply::new(render::search_text(&a.query, &page), data))
    }

    async fn active(&self, a: ActiveContextArgs) -> Outcome {
        let limit = page_limit(a.limit, 10);
        let entries = self.app().active_context(limit).await?;
        let items: Vec<ActiveItem> = entries.iter().map(ActiveItem::of).collect();
        Ok(Reply::new(
            render::active_text(&items),
            json!({ "count": items.len(), "items": items }),
        ))
    }

    async fn context_for_ai(&self, a: IdOnlyArgs) -> Outcome {
        let e = self.app().resolve(&a.id.reference()).await?;
        // The shared insights of other work that concern this entry most.
        let mut shared = self
            .app()
            .shared_insights(&self.options().repositories, Some(&e), CONTEXT_INSIGHTS)
            .await?;
        shared.items.retain(|i| i.is_relevant());
        let mut text = render::context_markdown(&e);
        let mut view = serde_json::to_value(AiView::of(&e)).unwrap_or(Value::Null);
        if !shared.items.is_empty() {
            text.push_str(&render::shared_insights_markdown(
                "Shared insights from related work",
                &shared.items,
            ));
            if let Some(o) = view.as_object_mut() {
                o.insert("sharedInsights".into(), json!(shared.items));
            }
        }
        Ok(Reply::new(text, view))
    }

    async fn shared_insights(&self, a: SharedInsightsArgs) -> Outcome {
        let app = self.app();
        let work = match &a.for_id {
            Some(id) => Some(app.resolve(&id.reference()).await?),
            None => app
                .active_context(1)
                .await?
                .into_iter()
                .find(|e| e.status == devlog_core::Status::InProgress),
        };
        let found = app
            .shared_insights(
                &self.options().repositories,
                work.as_ref(),
                page_limit(a.limit, 10),
            )
            .await?;
        let heading = match &work {
            Some(e) => format!("Shared insights for #{} {}", e.handle, e.title),
            None => "Shared insights, most recently changed first".to_string(),
        };
        let mut text = if found.items.is_empty() {
            format!(
                "{heading}\nNone found. Share one with add_insight, or a decision with add_decision and share=true."
            )
        } else {
            render::shared_insights_markdown(&heading, &found.items)
        };
        for (repo, err) in &found.skipped {
            text.push_str(&format!("\n(skipped {repo}: {err})"));
        }
        Ok(Reply::new(
            text,
            json!({
                "for": work.as_ref().map(|e| e.summary()),
                "terms": found.terms,
                "items": found.items,
            }),
        ))
    }

    async fn insight(&self, a: InsightArgs) -> Outcome {
        let s = self.find(&a.id).await?;
        let shared = a.shared.unwrap_or(true);
        let e = self
            .app()
            .add_insight(s.id, &a.insight, shared, &self.meta())
            .await?;
        Ok(Reply::new(
            format!(
                "Added a {} insight to devlog entry #{}: {}",
                if shared { "shared" } else { "private" },
                e.handle,
                e.title
            ),
            json!({ "entry": e.summary(), "aiContext": e.ai_context }),
        ))
    }

    async fn ai_context(&self, a: AiContextArgs) -> Outcome {
        let s = self.find(&a.id).await?;
        let replace_next_steps = a.next_steps.is_some();
        let u = AiUpdate {
            summary: a.summary,
            insights: strings(a.insights),
            questions: strings(a.questions),
            patterns: strings(a.patterns),
            next_steps: strings(a.next_steps),
            replace_next_steps,
        };
        let e = self.app().update_ai_context(s.id, u, &self.meta()).await?;
        let body = serde_json::to_string_pretty(&e.ai_context).unwrap_or_default();
        Ok(Reply::new(
            format!(
                "Updated AI context for devlog entry #{}: {} (update_devlog takes the same fields \
                 as currentSummary, keyInsights, openQuestions, relatedPatterns, \
                 suggestedNextSteps)\n\n{body}",
                e.handle, e.title
            ),
            json!({ "entry": e.summary(), "aiContext": e.ai_context }),
        ))
    }

    async fn changes(&self, a: ChangesArgs) -> Outcome {
        let limit = page_limit(a.limit, 50);
        let store = self.app().store();
        let (events, after) = match a.since {
            Some(c) => {
                let after = devlog_core::ops::check_seq("since", c.0)?;
                (store.events(after, limit).await?, after)
            }
            // The newest `limit`: one backwards read on the feed's `seq` key.
            None => (store.events_before(None, limit).await?, 0),
        };
        let next = events.last().map(|e| e.seq).unwrap_or(after);
        Ok(Reply::new(
            format!(
                "{}\nNext call: since = {next}",
                render::events_text(&events)
            ),
            json!({ "events": events, "nextSince": next }),
        ))
    }

    async fn stats(&self, a: StatsArgs) -> Outcome {
        let f = Filter {
            kind: a.kind.map(|k| vec![k.0]).unwrap_or_default(),
            assignee: nonempty(a.assignee),
            tag: nonempty(a.tag),
            ..Filter::default()
        };
        let st = self.app().store().stats(&f).await?;
        Ok(Reply::new(
            render::stats_text(&st),
            serde_json::to_value(&st).unwrap_or(Value::Null),
        ))
    }

    /// A sync tool: `system` is one integration (`github`, `jira`, `ado`), `None` every
    /// configured one.
    async fn sync(&self, system: Option<&str>, a: SyncArgs) -> CallToolResult {
        match self.run_sync(system, a).await {
            Ok(r) => r,
            Err(f) => f.into_result(),
        }
    }

    async fn run_sync(&self, system: Option<&str>, a: SyncArgs) -> Result<CallToolResult, Failure> {
        let entry = match &a.id {
            Some(id) => Some(self.find(id).await?),
            None => None,
        };
        let (engine, names) = self.sync_engine(system)?;
        // The engine knows its integrations by their descriptor names.
        let only = match system {
            Some(_) => names.first().map(String::as_str),
            None => None,
        };
        let with = or_list(&names.iter().map(|n| display_name(n)).collect::<Vec<_>>())
            .replace(" or ", " and ");
        let scope = entry
            .as_ref()
            .map(|e| format!(" for #{}", e.handle))
            .unwrap_or_default();
        let entry_json = entry.as_ref().map(|e| json!(e));
        if a.dry_run.unwrap_or(false) {
            let ops = engine
                .plan(only, entry.as_ref().map(|e| e.id), true)
                .await?;
            let mut text = format!(
                "Dry run of a sync with {with}{scope}: nothing was sent and nothing changed (the \
                 remote was only read, to preview the pull). A sync would:\n"
            );
            for op in &ops {
                text.push_str("- ");
                text.push_str(&op.to_string());
                text.push('\n');
            }
            if !ops.iter().any(PlannedOp::is_push) {
                text.push_str("No local changes to push.\n");
            }
            return Ok(finish(Ok(Reply::new(
                text,
                json!({
                    "dryRun": true,
                    "integrations": names,
                    "entry": entry_json,
                    "operations": ops,
                }),
            ))));
        }
        let report = engine
            .sync(only, entry.as_ref().map(|e| e.id), &|_, _| {})
            .await?;
        let failed = sync_failed(&report);
        let mut text = if failed {
            format!(
                "Error: the sync with {with}{scope} failed; nothing went through ({})\n",
                report_counts(&report)
            )
        } else {
            format!("Synced with {with}{scope}: {}\n", report_counts(&report))
        };
        for p in &report.paused {
            text.push_str(&format!("paused: {p}\n"));
        }
        for n in &report.notes {
            text.push_str(&format!("note: {n}\n"));
        }
        for f in &report.failed {
            text.push_str(&format!("failed: {f}\n"));
        }
        if report.conflicts > 0 {
            text.push_str(
                "Conflicting fields keep the local value until resolved: `devlog sync conflicts` \
                 lists them, `devlog sync resolve` settles one.\n",
            );
        }
        let structured = json!({
            "dryRun": false,
            "integrations": names,
            "entry": entry_json,
            "report": report,
        });
        if !failed {
            let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
            out.structured_content = Some(structured);
            return Ok(out);
        }
        // Nothing went through: an error the agent should see, with the report beside it.
        let hint = "fix the cause named above (an authentication failure means the token in \
                    devlog.toml's [integrations.*] table is missing, expired or lacks access), then \
                    call the tool again; failed changes stay queued (`devlog sync status` shows \
                    them; `devlog sync retry --all-failed` requeues the dead-lettered ones)";
        let error = ToolError {
            kind: "sync-failed",
            message: format!("the sync with {with} failed: {}", report.failed.join("; ")),
            hint: Some(hint.to_string()),
            candidates: Vec::new(),
        };
        text.push_str("Hint: ");
        text.push_str(hint);
        let mut out = CallToolResult::error(vec![ContentBlock::text(text)]);
        let mut structured = structured;
        structured["error"] = json!(error);
        out.structured_content = Some(structured);
        Ok(out)
    }

    /// The engine a sync tool runs, and the names of the integrations it syncs with; or why
    /// there is none (configuration error, not configured, not available in this version).
    fn sync_engine(
        &self,
        system: Option<&str>,
    ) -> Result<(&devlog_sync::SyncEngine, Vec<String>), Failure> {
        let opts = self.options();
        if let Some(engine) = &opts.sync {
            let names: Vec<String> = engine
                .integrations()
                .iter()
                .map(|i| i.descriptor().name)
                .filter(|n| system.is_none_or(|s| integration_key(n) == s))
                .collect();
            if !names.is_empty() {
                return Ok((engine, names));
            }
        }
        if let Some(e) = &opts.sync_error {
            return Err(Failure {
                kind: "config",
                message: format!(
                    "the integrations in devlog.toml are misconfigured, so nothing can be synced: \
                     {e}"
                ),
                hint: Some(
                    "fix what the message names (the key in devlog.toml, or the environment \
                     variable it reads) and restart the MCP server (devlog mcp or devlog serve); \
                     `devlog integrations check` validates the configuration; nothing was changed"
                        .to_string(),
                ),
                candidates: Vec::new(),
            });
        }
        let configured = |s: &str| opts.integrations.iter().any(|c| integration_key(c) == s);
        let unchanged = "devlog works fully offline without integrations; nothing was changed";
        match system {
            // Whether or not a table configures it: there is nothing to sync with yet.
            Some(s) if !INTEGRATIONS_HERE.contains(&s) => Err(Failure {
                kind: "unavailable",
                message: format!(
                    "{name} is not available in this version yet: devlog has no {name} \
                     integration, so an [integrations.{s}] table is set aside (kept for a later \
                     version) and the other integrations work without it; nothing was changed",
                    name = system_name(s)
                ),
                hint: Some(
                    "sync_with_github, sync_with_jira and sync_with_azure_devops sync with \
                     GitHub, Jira and Azure DevOps ([integrations.github], [integrations.jira], \
                     [integrations.azure-devops] in devlog.toml); `devlog integrations list` \
                     shows what this version has"
                        .to_string(),
                ),
                candidates: Vec::new(),
            }),
            Some(s) if configured(s) => Err(Failure {
                kind: "unavailable",
                message: format!(
                    "{name} is configured in devlog.toml, but this server cannot sync with it: \
                     [integrations.{table}] has `enabled = false`, or the server was started \
                     without the sync engine; nothing was changed",
                    name = system_name(s),
                    table = table_name(s)
                ),
                hint: Some("the entries stay in the local log and can be synced later".to_string()),
                candidates: Vec::new(),
            }),
            Some(s) => Err(Failure {
                kind: "not-configured",
                message: format!(
                    "not configured: add [integrations.{}] to devlog.toml at the project root to \
                     sync with {} (docs/sync.md shows the table)",
                    table_name(s),
                    system_name(s)
                ),
                hint: Some(unchanged.to_string()),
                candidates: Vec::new(),
            }),
            None => Err(Failure {
                kind: "not-configured",
                message: "not configured: no integration is set up; add [integrations.github] to \
                          devlog.toml at the project root to sync with GitHub, \
                          [integrations.jira] to sync with Jira, or [integrations.azure-devops] \
                          to sync with Azure DevOps"
                    .to_string(),
                hint: Some(unchanged.to_string()),
                candidates: Vec::new(),
            }),
        }
    }
}

/// True when operations failed and none went through: the sync as a whole failed.
fn sync_failed(r: &SyncReport) -> bool {
    !r.failed.is_empty()
        && r.created
            + r.recovered
            + r.updated
            + r.unchanged
            + r.pulled
            + r.applied
            + r.notes_pushed
            + r.actions_applied
            == 0
}

/// What a sync did, as `devlog sync` prints it.
fn report_counts(r: &SyncReport) -> String {
    let mut s = format!(
        "pulled {} remote changes ({} applied, {} conflicts); pushed: {} created, {} updated, {} \
         recovered, {} unchanged",
        r.pulled, r.applied, r.conflicts, r.created, r.updated, r.recovered, r.unchanged
    );
    if r.notes_pushed > 0 {
        s.push_str(&format!("; {} notes pushed as comments", r.notes_pushed));
    }
    if r.actions_applied > 0 {
        s.push_str(&format!("; {} remote actions applied", r.actions_applied));
    }
    s
}

/// A descriptor name as people write it (`github` is GitHub); unknown names as they are.
fn display_name(name: &str) -> String {
    match system_name(&integration_key(name)) {
        "the integration" => name.to_string(),
        known => known.to_string(),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list<T: AsRef<str>>(items: &[T]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => format!(
            "{} or {}",
            init.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// The system a `[integrations.<name>]` table configures (`azure-devops` is `ado`).
fn integration_key(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase().replace('_', "-");
    match n.as_str() {
        "azure-devops" | "azuredevops" | "azure" => "ado".to_string(),
        _ => n,
    }
}

/// The systems this version has a sync integration for (the others' tools answer that they
/// are not available yet).
const INTEGRATIONS_HERE: &[&str] = &["github", "jira", "ado"];

/// The table that configures a system (`ado`: `azure-devops`, whose alias `ado` is).
fn table_name(s: &str) -> &str {
    match s {
        "ado" => "azure-devops",
        s => s,
    }
}

fn system_name(s: &str) -> &'static str {
    match s {
        "github" => "GitHub",
        "jira" => "Jira",
        "ado" => "Azure DevOps",
        _ => "the integration",
    }
}

/// Adds `"totalIsEstimate": true` to a page's structured content when its total is a lower
/// bound (more matches than the store counts; `devlog_core::TOTAL_CAP`), as the HTTP API's
/// pages say it.
fn mark_estimate(data: &mut serde_json::Value, estimate: bool) {
    if let (true, Some(o)) = (estimate, data.as_object_mut()) {
        o.insert("totalIsEstimate".into(), serde_json::Value::Bool(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(page_limit(None, 20), 20);
        assert_eq!(page_limit(Some(Count(0)), 20), 1);
        assert_eq!(page_limit(Some(Count(100_000)), 20), MAX_PAGE);
    }
}
