//! The wire formats of API v1 as the OpenAPI document describes them.
//!
//! The domain types live in `devlog-core`, which knows nothing about OpenAPI, so this module
//! mirrors them as schema-only types. They are never built; requests are parsed into the core
//! types themselves. Two things keep the mirror honest: the request parser accepts exactly the
//! fields the mirror declares (see `extract::Body`), and the tests in this module compare every
//! mirror with what the core types really serialize.

// Schema-only types: the derives read them, nothing constructs them.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

mod relations;
pub use relations::*;

/// What kind of work an entry is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = EntryType)]
pub enum EntryTypeDoc {
    Feature,
    Bugfix,
    Task,
    Refactor,
    Docs,
}

/// Where an entry is in its life; `done` and `closed` are finished work.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = Status)]
pub enum StatusDoc {
    New,
    InProgress,
    Blocked,
    InReview,
    Testing,
    Done,
    Closed,
}

/// How urgent an entry is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = Priority)]
pub enum PriorityDoc {
    Low,
    Medium,
    High,
    Critical,
}

/// What a note is about.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = NoteCategory)]
pub enum NoteCategoryDoc {
    Progress,
    Issue,
    Solution,
    Idea,
    Reminder,
    Feedback,
}

/// Which interface or process made a change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = Origin)]
pub enum OriginDoc {
    Cli,
    Mcp,
    Http,
    Sync,
    Import,
    Migrate,
    External,
}

/// One unit of development work, in the original devlog's camelCase JSON format. Fields this
/// version does not model are kept and returned as they are.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Entry)]
pub struct EntryDoc {
    /// Globally unique and stable id (a UUID).
    id: String,
    /// Short handle (`#42` is handle 42), unique within the store.
    handle: u64,
    /// Slug of the title, unique within the store.
    key: String,
    /// The integer id this entry had in the original TypeScript devlog, when imported.
    legacy_id: Option<u64>,
    title: String,
    #[serde(rename = "type")]
    kind: EntryTypeDoc,
    description: String,
    status: StatusDoc,
    priority: PriorityDoc,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    closed_at: Option<String>,
    assignee: Option<String>,
    tags: Vec<String>,
    estimated_hours: Option<f64>,
    /// The sum of the worklogs when there are any.
    actual_hours: Option<f64>,
    /// Story points, 0 or more (devlog addition).
    points: Option<f64>,
    /// When the work is due (devlog addition).
    #[schema(format = Date)]
    due_date: Option<String>,
    /// The name of the milestone the entry belongs to (devlog addition).
    milestone: Option<String>,
    /// Time spent (devlog addition).
    worklogs: Vec<WorklogDoc>,
    notes: Vec<NoteDoc>,
    files: Vec<String>,
    /// Ids or handles of related entries, as the original stored them (strings or numbers).
    #[schema(value_type = Vec<Object>)]
    related_devlogs: Vec<serde_json::Value>,
    context: ContextDoc,
    ai_context: AiContextDoc,
    external_references: Vec<ExternalReferenceDoc>,
    /// Deployments that carried the entry's work (devlog addition; absent when none).
    deployments: Option<Vec<DeploymentDoc>>,
    /// The id of the entry this one is a subtask of (see `/entries/{ref}/links`).
    parent: Option<String>,
    /// The ids of this entry's subtasks.
    children: Option<Vec<String>>,
    /// The id of the entry this one duplicates.
    duplicate_of: Option<String>,
    /// The ids of the entries that duplicate this one.
    duplicated_by: Option<Vec<String>>,
}

/// Time spent on an entry on one day.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Worklog)]
pub struct WorklogDoc {
    id: String,
    /// Who spent the time (the writer's actor; empty when unknown).
    author: String,
    /// The day the time was spent.
    #[schema(format = Date)]
    date: String,
    /// 1 to 1440.
    minutes: u32,
    note: Option<String>,
    /// When it was recorded.
    #[schema(format = DateTime)]
    logged_at: String,
}

/// A milestone with the progress of its entries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = MilestoneProgress)]
pub struct MilestoneProgressDoc {
    /// The name's slug: unique per store (`v1.0` → `v1-0`).
    key: String,
    name: String,
    description: Option<String>,
    #[schema(format = Date)]
    due_date: Option<String>,
    /// `open` or `closed`.
    state: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    closed_at: Option<String>,
    /// Entries in the milestone.
    total: Option<u64>,
    /// Of those, done or closed.
    done: Option<u64>,
    /// Open entries whose due date has passed.
    overdue: Option<u64>,
    /// The milestone is open and its due date has passed.
    late: Option<bool>,
}

/// A milestone and a page of its entries (soonest due first).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = MilestoneDetail)]
pub struct MilestoneDetailDoc {
    milestone: MilestoneProgressDoc,
    entries: EntryPageDoc,
}

/// A recorded worklog and the entry with it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WorklogAdded)]
pub struct WorklogAddedDoc {
    worklog: WorklogDoc,
    entry: EntryDoc,
}

/// Time spent, to record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewWorklog)]
pub struct NewWorklogDoc {
    /// How long: `1h30m`, `90m`, `1.5h` or `2h` (1 minute to 24 hours).
    duration: String,
    /// Which day: `YYYY-MM-DD`, `today`, `yesterday` or `-3d`; default today (UTC), never
    /// in the future.
    date: Option<String>,
    note: Option<String>,
    /// Who; default the request's actor.
    author: Option<String>,
}

/// Changes to a worklog; an absent field keeps its value (at least one is needed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WorklogEdit)]
pub struct WorklogEditDoc {
    /// How long: `1h30m`, `90m`, `1.5h` or `2h` (1 minute to 24 hours).
    duration: Option<String>,
    /// Which day: `YYYY-MM-DD`, `today`, `yesterday` or `-3d`; never in the future.
    date: Option<String>,
    note: Option<String>,
}

/// A milestone to create.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewMilestone)]
pub struct NewMilestoneDoc {
    /// Unique by its letters and digits (`v1.0` and `V1-0` are the same), at most 100
    /// characters.
    name: String,
    description: Option<String>,
    /// `YYYY-MM-DD`, `today`, `tomorrow`, a weekday, `+3d`, `+2w` or `next week`.
    due: Option<String>,
}

/// Closing or reopening a milestone.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneStateBody {
    /// `open` or `closed`.
    #[schema(value_type = String)]
    pub state: devlog_core::planning::MilestoneState,
}

/// A dated remark on an entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Note)]
pub struct NoteDoc {
    id: String,
    #[schema(format = DateTime)]
    timestamp: String,
    category: NoteCategoryDoc,
    content: String,
    files: Vec<String>,
    code_changes: Option<String>,
}

/// Why the work matters and how it is approached.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Context)]
pub struct ContextDoc {
    business_context: String,
    technical_context: String,
    /// `{id, type: blocks|blocked-by|related-to, description, externalId}`
    #[schema(value_type = Vec<Object>)]
    dependencies: Vec<serde_json::Value>,
    decisions: Vec<DecisionDoc>,
    acceptance_criteria: Vec<String>,
    /// `{id, description, impact, probability, mitigation}` (levels low|medium|high)
    #[schema(value_type = Vec<Object>)]
    risks: Vec<serde_json::Value>,
}

/// A decision and why it was taken.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Decision)]
pub struct DecisionDoc {
    id: String,
    #[schema(format = DateTime)]
    timestamp: String,
    decision: String,
    rationale: String,
    alternatives: Vec<String>,
    decision_maker: String,
    /// Shown to other work (`GET /insights`); absent when false.
    shared: Option<bool>,
}

/// What an AI assistant needs to pick the work up again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AiContext)]
pub struct AiContextDoc {
    current_summary: String,
    key_insights: Vec<String>,
    open_questions: Vec<String>,
    related_patterns: Vec<String>,
    suggested_next_steps: Vec<String>,
    #[serde(rename = "lastAIUpdate")]
    #[schema(format = DateTime)]
    last_ai_update: Option<String>,
    context_version: u32,
    /// The key insights shown to other work (`GET /insights`); absent when none.
    shared_insights: Option<Vec<String>>,
}

/// The same work item in another system (GitHub, Jira, Azure DevOps, ...).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ExternalReference)]
pub struct ExternalReferenceDoc {
    system: String,
    id: String,
    url: Option<String>,
    title: Option<String>,
    status: Option<String>,
    #[schema(format = DateTime)]
    last_sync: Option<String>,
}

/// How a deployment ended (or that it is still going).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = DeploymentStatus)]
pub enum DeploymentStatusDoc {
    Succeeded,
    PartiallySucceeded,
    Failed,
    Canceled,
    Rejected,
    InProgress,
    NotDeployed,
}

/// A deployment of a release (or pipeline run) to an environment that carried the entry's
/// work (Azure DevOps release deployments).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Deployment)]
pub struct DeploymentDoc {
    /// `<system>:<the system's id of the deployment>`.
    id: String,
    system: String,
    environment: String,
    /// The release or pipeline run deployed.
    release: String,
    status: DeploymentStatusDoc,
    url: Option<String>,
    #[schema(format = DateTime)]
    at: String,
}

/// What lists and search hits show of an entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EntrySummary)]
pub struct EntrySummaryDoc {
    id: String,
    handle: u64,
    key: String,
    legacy_id: Option<u64>,
    title: String,
    #[serde(rename = "type")]
    kind: EntryTypeDoc,
    status: StatusDoc,
    priority: PriorityDoc,
    assignee: Option<String>,
    tags: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    closed_at: Option<String>,
    #[schema(format = Date)]
    due_date: Option<String>,
    milestone: Option<String>,
}

/// One page of entries and the number of all matches.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EntryPage)]
pub struct EntryPageDoc {
    items: Vec<EntrySummaryDoc>,
    /// The number of matches; with `totalIsEstimate`, at least this many.
    total: u64,
    offset: usize,
    limit: usize,
    /// Present (true) when more entries match than the server counts (1,000, or past the
    /// page): `total` is then a lower bound, shown as "1,000+".
    total_is_estimate: Option<bool>,
}

/// A search result: the entry, its rank (higher is better) and a snippet around the match.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchHit)]
pub struct SearchHitDoc {
    #[serde(flatten)]
    entry: EntrySummaryDoc,
    score: f64,
    snippet: String,
}

/// One page of search hits, best first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SearchPage)]
pub struct SearchPageDoc {
    items: Vec<SearchHitDoc>,
    /// The number of matches; with `totalIsEstimate`, at least this many.
    total: u64,
    offset: usize,
    limit: usize,
    /// Present (true) when more than 1,000 entries match: `total` is then a lower bound and
    /// the hits are ranked among the 1,000 newest matches (docs/performance.md).
    total_is_estimate: Option<bool>,
}

/// Counts and completion times over the entries that pass the filter.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Stats)]
pub struct StatsDoc {
    total: u64,
    open: u64,
    closed: u64,
    by_status: std::collections::BTreeMap<String, u64>,
    by_type: std::collections::BTreeMap<String, u64>,
    by_priority: std::collections::BTreeMap<String, u64>,
    by_assignee: std::collections::BTreeMap<String, u64>,
    completed_with_time: u64,
    avg_completion_hours: Option<f64>,
    median_completion_hours: Option<f64>,
}

/// The kinds of domain event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = EventType)]
pub enum EventTypeDoc {
    Created,
    Deleted,
    FieldChanged,
    StatusChanged,
    Completed,
    NoteAdded,
    DecisionAdded,
    Linked,
    NoteEdited,
    NoteDeleted,
}

/// A domain event from the change feed. `seq` orders the feed; the fields after `type` depend
/// on it: `field-changed` has `field`, `old`, `new`; `status-changed` has `from`, `to` and
/// `closed_at` (the `closedAt` before the change, when there was one); `completed` has
/// `status`; `note-added` has `note_id`, `category`; `decision-added` has `decision_id`;
/// `linked` has `system`, `external_id`; `note-edited` has `note_id`, `old`, `new` (the
/// texts); `note-deleted` has `note_id`, `note` (the whole note) and `position`. `change`
/// is shared by the events of one write.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Event)]
pub struct EventDoc {
    seq: u64,
    entry_id: String,
    handle: u64,
    #[schema(format = DateTime)]
    at: String,
    origin: OriginDoc,
    actor: Option<String>,
    /// The write the event is part of (absent in events recorded before it existed).
    change: Option<String>,
    #[serde(rename = "type")]
    kind: EventTypeDoc,
    /// `field-changed`: the field, nested ones dotted (`context.businessContext`).
    field: Option<String>,
    #[schema(value_type = Option<Object>)]
    old: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    new: Option<serde_json::Value>,
    from: Option<StatusDoc>,
    to: Option<StatusDoc>,
    #[serde(rename = "closed_at")]
    #[schema(format = DateTime)]
    closed_at: Option<String>,
    status: Option<StatusDoc>,
    #[serde(rename = "note_id")]
    note_id: Option<String>,
    category: Option<NoteCategoryDoc>,
    #[serde(rename = "decision_id")]
    decision_id: Option<String>,
    system: Option<String>,
    #[serde(rename = "external_id")]
    external_id: Option<String>,
    note: Option<NoteDoc>,
    position: Option<u64>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventFeed)]
pub struct EventFeedDoc {
    /// Events with `seq` greater than `since`, oldest first.
    events: Vec<EventDoc>,
    /// The `since` to ask with next: the last event's `seq`, or `since` when there was none.
    next: u64,
}

/// A new entry. Only `title` and `type` are required.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewEntry)]
pub struct NewEntryDoc {
    /// One line, at most 300 characters.
    title: String,
    #[serde(rename = "type")]
    kind: EntryTypeDoc,
    description: Option<String>,
    /// Default `medium`.
    priority: Option<PriorityDoc>,
    /// Default `new`.
    status: Option<StatusDoc>,
    business_context: Option<String>,
    technical_context: Option<String>,
    acceptance_criteria: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    assignee: Option<String>,
    initial_insights: Option<Vec<String>>,
    related_patterns: Option<Vec<String>>,
    files: Option<Vec<String>>,
    estimated_hours: Option<f64>,
    /// Story points, 0 or more.
    points: Option<f64>,
    /// Due date: `YYYY-MM-DD`, `today`, `tomorrow`, a weekday (`friday`: the next one), `+3d`,
    /// `+2w` or `next week`.
    due: Option<String>,
    /// The name of an open milestone.
    milestone: Option<String>,
    /// Create even if an open entry with the same title and type exists (also `?force=true`).
    force: Option<bool>,
    /// Make it a subtask of this entry (handle, id, id prefix, key or original devlog id).
    parent: Option<String>,
}

/// Field edits; absent (or null) fields are left alone.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Edit)]
pub struct EditDoc {
    title: Option<String>,
    #[serde(rename = "type")]
    kind: Option<EntryTypeDoc>,
    /// Setting `done` or `closed` records `closedAt`; reopening clears it.
    status: Option<StatusDoc>,
    priority: Option<PriorityDoc>,
    description: Option<String>,
    /// `""` clears the assignee.
    assignee: Option<String>,
    business_context: Option<String>,
    technical_context: Option<String>,
    /// Replaces the acceptance criteria.
    acceptance_criteria: Option<Vec<String>>,
    add_criteria: Option<Vec<String>>,
    add_tags: Option<Vec<String>>,
    remove_tags: Option<Vec<String>>,
    add_files: Option<Vec<String>>,
    estimated_hours: Option<f64>,
    /// Refused once the entry has worklogs (their sum is the actual hours).
    actual_hours: Option<f64>,
    /// Story points, 0 or more.
    points: Option<f64>,
    /// Due date (forms as for a new entry); `none` or `""` clears it.
    due: Option<String>,
    /// The name of an open milestone; `none` or `""` takes the entry out.
    milestone: Option<String>,
}

/// A note to add.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewNote)]
pub struct NewNoteDoc {
    content: String,
    /// Default `progress`.
    category: Option<NoteCategoryDoc>,
    /// Files the note is about; they are added to the entry's files.
    files: Option<Vec<String>>,
    code_changes: Option<String>,
}

/// A decision to record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewDecision)]
pub struct NewDecisionDoc {
    decision: String,
    /// Why; required.
    rationale: String,
    alternatives: Option<Vec<String>>,
    decision_maker: Option<String>,
    /// Show it to other work (`GET /insights`).
    shared: Option<bool>,
}

/// Completing an entry; the body is optional.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// Recorded as a `solution` note ("Completed: ...") and as the AI context's summary.
    pub summary: Option<String>,
}

/// A named workflow step: start (in-progress), block (blocked), review (in-review), close
/// (closed without being done), reopen (done or closed work back to new).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = Transition)]
pub enum TransitionDoc {
    Start,
    Block,
    Review,
    Close,
    Reopen,
}

/// A status change by name, with an optional note added in the same write.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    #[schema(value_type = TransitionDoc)]
    pub transition: devlog_core::entry::Transition,
    /// Added as a note: `progress` for start and review, `issue` for block and reopen,
    /// `solution` for close.
    pub note: Option<String>,
}

/// A key insight to add to an entry.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightBody {
    /// The insight, in a sentence that makes sense outside the entry.
    pub insight: String,
    /// false keeps it to the entry; by default it is shared with other work.
    pub shared: Option<bool>,
}

/// A shared decision or key insight, with the entry it belongs to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SharedInsight)]
pub struct SharedInsightDoc {
    /// `insight` or `decision`.
    kind: String,
    text: String,
    /// A decision's rationale.
    rationale: Option<String>,
    /// When the decision was made.
    #[schema(format = DateTime)]
    at: Option<String>,
    entry: EntrySummaryDoc,
    /// The repository of the entry, when it is not this workspace.
    repository: Option<String>,
    /// The words of the work it matched.
    matched_terms: Vec<String>,
    /// Higher is more relevant.
    score: f64,
}

/// Shared insights ranked for a piece of work.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SharedInsights)]
pub struct SharedInsightsDoc {
    /// The entry they are ranked for (absent: most recently changed first).
    #[serde(rename = "for")]
    for_entry: Option<EntrySummaryDoc>,
    /// The words of that entry that ranked them.
    terms: Vec<String>,
    items: Vec<SharedInsightDoc>,
}

/// The server is up and its store answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `ok` (a failing store answers 503 with an error body instead).
    pub status: &'static str,
    /// devlog's version.
    pub version: &'static str,
    /// The storage backend: `json`, `sqlite`, `postgres` or `mysql`.
    pub backend: &'static str,
    pub entries: u64,
    /// Problems found while reading (unparsable files, ...), and a loud one when the server
    /// runs without authentication (`--insecure-no-auth`); empty when healthy.
    pub warnings: Vec<String>,
    /// How requests are authenticated: `auto` (API tokens, required once one exists),
    /// `required`, or `disabled` (`--insecure-no-auth`). See docs/security.md.
    pub auth: &'static str,
}

/// The filters `GET /entries`, `/search` and `/stats` share; list values are comma-separated
/// or repeated (`status=new,blocked` or `status=new&status=blocked`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only these statuses: new, in-progress, blocked, in-review, testing, done, closed
    status: Option<String>,
    /// Only these types: feature, bugfix, task, refactor, docs
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only these priorities: low, medium, high, critical
    priority: Option<String>,
    /// Only entries assigned to this person
    assignee: Option<String>,
    /// Only entries with this tag
    tag: Option<String>,
    /// Only open entries (not done or closed)
    open: Option<bool>,
    /// Created at or after this time (RFC 3339 or YYYY-MM-DD)
    #[param(rename = "createdAfter")]
    created_after: Option<String>,
    /// Created before this time
    #[param(rename = "createdBefore")]
    created_before: Option<String>,
    /// Updated at or after this time
    #[param(rename = "updatedAfter")]
    updated_after: Option<String>,
    /// Updated before this time
    #[param(rename = "updatedBefore")]
    updated_before: Option<String>,
    /// Due before this day (YYYY-MM-DD)
    #[param(rename = "dueBefore")]
    due_before: Option<String>,
    /// Only entries in this milestone (its name)
    milestone: Option<String>,
}

/// Order and page of `GET /entries`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// updated (default), created, priority, status, title, handle or due (undated last)
    sort: Option<String>,
    /// Only open entries due before today (overrides a later dueBefore)
    overdue: Option<bool>,
    /// Ascending instead of descending order
    asc: Option<bool>,
    /// At most this many entries (1 to 1000, default 50)
    limit: Option<usize>,
    /// Skip this many (paging)
    offset: Option<usize>,
}

/// Page of `GET /search`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words to find: every word must match, a prefix of a word counts
    q: String,
    /// At most this many hits (1 to 1000, default 20)
    limit: Option<usize>,
    /// Skip this many (paging)
    offset: Option<usize>,
}

/// One event of a change in an entry's history: the fields of an `Event` after `type`
/// (see `Event` for which fields each type has).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChangeEvent)]
pub struct ChangeEventDoc {
    #[serde(rename = "type")]
    kind: EventTypeDoc,
    field: Option<String>,
    #[schema(value_type = Option<Object>)]
    old: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    new: Option<serde_json::Value>,
    from: Option<StatusDoc>,
    to: Option<StatusDoc>,
    #[schema(format = DateTime)]
    closed_at: Option<String>,
    status: Option<StatusDoc>,
    note_id: Option<String>,
    category: Option<NoteCategoryDoc>,
    decision_id: Option<String>,
    system: Option<String>,
    external_id: Option<String>,
    note: Option<NoteDoc>,
    position: Option<u64>,
}

/// One write to an entry: its events, who made it and when.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Change)]
pub struct ChangeDoc {
    /// The seq of the change's first event (what `undo` takes as `to`).
    seq: u64,
    /// The seq of its last event.
    last_seq: u64,
    #[schema(format = DateTime)]
    at: String,
    origin: OriginDoc,
    actor: Option<String>,
    events: Vec<ChangeEventDoc>,
}

/// An entry's history: its newest changes, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = History)]
pub struct HistoryDoc {
    id: String,
    handle: u64,
    title: String,
    /// Newest first.
    changes: Vec<ChangeDoc>,
    /// Older changes exist beyond `limit`.
    more: bool,
}

/// What to undo; the body is optional (then the last change is reverted).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    /// Revert every change after the change holding this event seq (see `GET .../history`).
    pub to: Option<u64>,
    /// Revert even when a later change by someone else touched the same field, or the entry
    /// no longer holds what a change wrote (default false).
    pub force: Option<bool>,
}

/// What an undo reverted.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Undone)]
pub struct UndoneDoc {
    /// The entry after the undo.
    entry: EntryDoc,
    /// The changes reverted, newest first.
    reverted: Vec<ChangeDoc>,
}

/// A note's new text.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteTextBody {
    /// Replaces the note's content (not empty).
    pub content: String,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use devlog_core::entry::{
        AiContext, Context, Decision, EntryType, ExternalReference, Extra, Note, NoteCategory,
        Priority, Status,
    };
    use devlog_core::event::{EventKind, Origin};
    use devlog_core::ops::{Edit, NewDecision, NewEntry, NewNote};
    use devlog_core::{Entry, EntryId, Event, Stats, Timestamp};
    use serde_json::Value;
    use utoipa::PartialSchema;
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::{RefOr, Type};

    use super::*;
    use crate::extract::schema_fields;

    fn keys(v: &impl Serialize) -> BTreeSet<String> {
        match serde_json::to_value(v).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    fn documented<T: PartialSchema>() -> BTreeSet<String> {
        schema_fields::<T>().into_iter().collect()
    }

    fn enum_values<T: PartialSchema>() -> Vec<String> {
        match T::schema() {
            RefOr::T(Schema::Object(o)) => o
                .enum_values
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
            other => panic!(
                "not an enum schema: {}",
                serde_json::to_string(&other).unwrap()
            ),
        }
    }

    fn t() -> Timestamp {
        "2025-06-25T06:29:02.207Z".parse().unwrap()
    }

    /// An entry with every optional part present, so every key serializes.
    fn full_entry() -> Entry {
        Entry {
            id: EntryId::new_random(),
            handle: 1,
            key: "k".into(),
            legacy_id: Some(7),
            title: "t".into(),
            kind: EntryType::Task,
            description: "d".into(),
            status: Status::Done,
            priority: Priority::High,
            created_at: t(),
            updated_at: t(),
            closed_at: Some(t()),
            assignee: Some("ana".into()),
            tags: vec!["x".into()],
            estimated_hours: Some(1.0),
            actual_hours: Some(2.0),
            due_date: Some("2026-12-24".parse().unwrap()),
            points: Some(3.0),
            milestone: Some("v1".into()),
            worklogs: vec![full_worklog()],
            notes: vec![full_note()],
            files: vec!["a.rs".into()],
            related_devlogs: vec![],
            context: Context {
                decisions: vec![full_decision()],
                ..Context::default()
            },
            ai_context: AiContext {
                last_ai_update: Some(t()),
                shared_insights: vec!["i".into()],
                ..AiContext::default()
            },
            external_references: vec![full_reference()],
            deployments: vec![full_deployment()],
            // The additive relation keys (devlog_core::relations).
            extra: serde_json::json!({
                "parent": "p", "children": ["c"], "duplicateOf": "d", "duplicatedBy": ["e"]
            })
            .as_object()
            .cloned()
            .unwrap(),
        }
    }

    fn full_worklog() -> devlog_core::planning::Worklog {
        devlog_core::planning::Worklog {
            id: "w".into(),
            author: "ana".into(),
            date: "2026-12-01".parse().unwrap(),
            minutes: 90,
            note: "n".into(),
            logged_at: t(),
            extra: Extra::new(),
        }
    }

    fn full_milestone() -> devlog_core::planning::MilestoneProgress {
        devlog_core::planning::MilestoneProgress {
            milestone: devlog_core::planning::Milestone {
                key: "v1".into(),
                name: "v1".into(),
                description: "d".into(),
                due_date: Some("2026-12-24".parse().unwrap()),
                state: devlog_core::planning::MilestoneState::Closed,
                created_at: t(),
                updated_at: t(),
                closed_at: Some(t()),
                extra: Extra::new(),
            },
            total: 1,
            done: 1,
            overdue: 0,
            late: false,
        }
    }

    #[test]
    fn planning_schemas_list_exactly_the_serialized_fields() {
        assert_eq!(documented::<WorklogDoc>(), keys(&full_worklog()));
        assert_eq!(
            documented::<MilestoneProgressDoc>(),
            keys(&full_milestone())
        );
        assert_eq!(
            documented::<NewWorklogDoc>(),
            keys(&devlog_core::planning::NewWorklog::default())
        );
        assert_eq!(
            documented::<WorklogEditDoc>(),
            keys(&devlog_core::planning::WorklogEdit {
                duration: Some("1h".into()),
                date: Some("today".into()),
                note: Some("n".into()),
            })
        );
        assert_eq!(
            documented::<NewMilestoneDoc>(),
            keys(&devlog_core::planning::NewMilestone::default())
        );
    }

    fn full_note() -> Note {
        Note {
            id: "n".into(),
            timestamp: t(),
            category: NoteCategory::Idea,
            content: "c".into(),
            files: vec!["f".into()],
            code_changes: Some("diff".into()),
            extra: Extra::new(),
        }
    }

    fn full_decision() -> Decision {
        Decision {
            id: "d".into(),
            timestamp: t(),
            decision: "x".into(),
            rationale: "y".into(),
            alternatives: vec!["z".into()],
            decision_maker: "ana".into(),
            shared: true,
            extra: Extra::new(),
        }
    }

    fn full_reference() -> ExternalReference {
        ExternalReference {
            system: "github".into(),
            id: "1".into(),
            url: Some("u".into()),
            title: Some("t".into()),
            status: Some("open".into()),
            last_sync: Some(t()),
            sprint: None,
            board: None,
            extra: Extra::new(),
        }
    }

    fn full_deployment() -> devlog_core::entry::Deployment {
        devlog_core::entry::Deployment {
            id: "azure-devops:1".into(),
            system: "azure-devops".into(),
            environment: "Dev".into(),
            release: "Release-1".into(),
            status: devlog_core::entry::DeploymentStatus::Succeeded,
            url: Some("u".into()),
            at: t(),
            extra: Extra::new(),
        }
    }

    #[test]
    fn entry_schemas_list_exactly_the_serialized_fields() {
        let e = full_entry();
        assert_eq!(documented::<DeploymentDoc>(), keys(&full_deployment()));
        assert_eq!(documented::<EntryDoc>(), keys(&e));
        assert_eq!(documented::<EntrySummaryDoc>(), keys(&e.summary()));
        assert_eq!(documented::<NoteDoc>(), keys(&full_note()));
        assert_eq!(documented::<DecisionDoc>(), keys(&full_decision()));
        assert_eq!(documented::<ContextDoc>(), keys(&Context::default()));
        assert_eq!(documented::<AiContextDoc>(), keys(&e.ai_context));
        assert_eq!(
            documented::<ExternalReferenceDoc>(),
            keys(&full_reference())
        );
        assert_eq!(documented::<StatsDoc>(), keys(&Stats::default()));
        let shared = devlog_core::insights::SharedInsight {
            kind: devlog_core::insights::InsightKind::Decision,
            text: "x".into(),
            rationale: Some("y".into()),
            at: Some(t()),
            entry: e.summary(),
            repository: Some("/r".into()),
            matched_terms: vec!["w".into()],
            score: 1.0,
        };
        assert_eq!(documented::<SharedInsightDoc>(), keys(&shared));
    }

    #[test]
    fn input_schemas_list_exactly_the_fields_of_the_use_case_inputs() {
        assert_eq!(documented::<NewEntryDoc>(), keys(&NewEntry::default()));
        assert_eq!(documented::<EditDoc>(), keys(&Edit::default()));
        let note = NewNote {
            content: "c".into(),
            category: NoteCategory::Idea,
            files: vec![],
            code_changes: None,
        };
        assert_eq!(documented::<NewNoteDoc>(), keys(&note));
        let decision = NewDecision {
            decision: "d".into(),
            rationale: "r".into(),
            alternatives: vec![],
            decision_maker: String::new(),
            shared: false,
        };
        assert_eq!(documented::<NewDecisionDoc>(), keys(&decision));
        let insight = InsightBody {
            insight: "i".into(),
            shared: Some(true),
        };
        assert_eq!(documented::<InsightBody>(), keys(&insight));
    }

    #[test]
    fn enum_schemas_list_exactly_the_allowed_values() {
        let names = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(enum_values::<StatusDoc>(), names(Status::allowed()));
        assert_eq!(enum_values::<EntryTypeDoc>(), names(EntryType::allowed()));
        assert_eq!(enum_values::<PriorityDoc>(), names(Priority::allowed()));
        assert_eq!(
            enum_values::<DeploymentStatusDoc>(),
            names(devlog_core::entry::DeploymentStatus::allowed())
        );
        assert_eq!(
            enum_values::<TransitionDoc>(),
            names(devlog_core::entry::Transition::allowed())
        );
        assert_eq!(
            enum_values::<NoteCategoryDoc>(),
            names(NoteCategory::allowed())
        );
        let origins = [
            Origin::Cli,
            Origin::Mcp,
            Origin::Http,
            Origin::Sync,
            Origin::Import,
            Origin::Migrate,
            Origin::External,
        ];
        assert_eq!(
            enum_values::<OriginDoc>(),
            origins
                .iter()
                .map(|o| o.as_str().to_string())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn history_and_undo_serialize_within_their_schemas() {
        use devlog_core::history::{Change, History};
        let note = devlog_core::entry::Note {
            id: "n".into(),
            timestamp: t(),
            category: NoteCategory::Idea,
            content: "a".into(),
            files: Vec::new(),
            code_changes: None,
            extra: Default::default(),
        };
        let kinds = vec![
            EventKind::FieldChanged {
                field: "title".into(),
                old: Value::Null,
                new: "x".into(),
            },
            EventKind::StatusChanged {
                from: Status::Done,
                to: Status::New,
                closed_at: Some(t()),
            },
            EventKind::NoteDeleted {
                note_id: "n".into(),
                note: Box::new(note),
                position: 0,
            },
        ];
        let fields = documented::<ChangeEventDoc>();
        for k in &kinds {
            let got = keys(k);
            assert!(got.is_subset(&fields), "{got:?} not in {fields:?}");
        }
        let change = Change {
            seq: 1,
            last_seq: 3,
            at: t(),
            origin: Origin::Http,
            actor: Some("ana".into()),
            events: kinds,
        };
        assert!(keys(&change).is_subset(&documented::<ChangeDoc>()));
        let h = History {
            id: EntryId::new_random(),
            handle: 1,
            title: "t".into(),
            changes: vec![change],
            more: false,
        };
        assert_eq!(keys(&h), documented::<HistoryDoc>());
    }

    #[test]
    fn every_event_kind_serializes_within_the_event_schema() {
        let kinds = vec![
            EventKind::Created,
            EventKind::Deleted,
            EventKind::FieldChanged {
                field: "title".into(),
                old: Value::Null,
                new: Value::Null,
            },
            EventKind::StatusChanged {
                from: Status::Done,
                to: Status::New,
                closed_at: Some(t()),
            },
            EventKind::Completed {
                status: Status::Done,
            },
            EventKind::NoteAdded {
                note_id: "n".into(),
                category: NoteCategory::Idea,
            },
            EventKind::DecisionAdded {
                decision_id: "d".into(),
            },
            EventKind::Linked {
                system: "github".into(),
                external_id: "1".into(),
            },
            EventKind::NoteEdited {
                note_id: "n".into(),
                old: "a".into(),
                new: "b".into(),
            },
            EventKind::NoteDeleted {
                note_id: "n".into(),
                note: Box::new(devlog_core::entry::Note {
                    id: "n".into(),
                    timestamp: t(),
                    category: NoteCategory::Idea,
                    content: "a".into(),
                    files: Vec::new(),
                    code_changes: None,
                    extra: Default::default(),
                }),
                position: 0,
            },
        ];
        let fields = documented::<EventDoc>();
        let types = enum_values::<EventTypeDoc>();
        assert_eq!(types.len(), kinds.len());
        for kind in kinds {
            let name = kind.name();
            let ev = Event {
                seq: 1,
                entry_id: EntryId::new_random(),
                handle: 1,
                at: t(),
                origin: Origin::Http,
                actor: Some("ana".into()),
                change: Some("c".into()),
                kind,
            };
            let got = keys(&ev);
            assert!(got.is_subset(&fields), "{name}: {got:?} not in {fields:?}");
            assert!(types.contains(&name.to_string()), "{name}");
        }
    }

    #[test]
    fn required_fields_are_the_ones_the_use_cases_need() {
        let RefOr::T(Schema::Object(o)) = NewEntryDoc::schema() else {
            panic!("object")
        };
        assert_eq!(o.required, vec!["title".to_string(), "type".to_string()]);
        let RefOr::T(Schema::Object(o)) = EntryDoc::schema() else {
            panic!("object")
        };
        assert!(matches!(
            o.schema_type,
            utoipa::openapi::schema::SchemaType::Type(Type::Object)
        ));
    }
}
