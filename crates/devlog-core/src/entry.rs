//! The entry model: the original devlog's JSON format (camelCase), plus what devlog adds.
//!
//! Every struct keeps the fields it does not know in `extra`, so a file written by a newer
//! devlog, the original tool or a human survives a rewrite by this version unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::EntryId;
use crate::time::Timestamp;

/// Fields this version does not model, kept verbatim.
pub type Extra = Map<String, Value>;

/// Declares a closed set of string values with `FromStr`/`Display` and an error that lists
/// the allowed values (and, with the `schemars` feature, a schema that lists them).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The allowed values, for error messages and schemas.
            pub fn allowed() -> Vec<&'static str> {
                vec![$($text),+]
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": Self::allowed() })
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::error::InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let norm = s.trim().to_ascii_lowercase().replace('_', "-");
                // Compared case-insensitively, so camelCase names (`estimatedHours`) parse too.
                match norm.as_str() {
                    $(n if n.eq_ignore_ascii_case($text) => Ok($name::$variant),)+
                    _ => Err(crate::error::InvalidValue {
                        field: $what,
                        value: s.to_string(),
                        allowed: Self::allowed(),
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// What kind of work an entry is.
    EntryType, "type" {
        Feature = "feature",
        Bugfix = "bugfix",
        Task = "task",
        Refactor = "refactor",
        Docs = "docs",
    }
);

string_enum!(
    /// Where an entry is in its life.
    Status, "status" {
        New = "new",
        InProgress = "in-progress",
        Blocked = "blocked",
        InReview = "in-review",
        Testing = "testing",
        Done = "done",
        Closed = "closed",
    }
);

string_enum!(
    /// How urgent an entry is.
    Priority, "priority" {
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
);

string_enum!(
    /// What a note is about.
    NoteCategory, "category" {
        Progress = "progress",
        Issue = "issue",
        Solution = "solution",
        Idea = "idea",
        Reminder = "reminder",
        Feedback = "feedback",
    }
);

string_enum!(
    /// How one entry depends on another piece of work.
    DependencyType, "dependency type" {
        Blocks = "blocks",
        BlockedBy = "blocked-by",
        RelatedTo = "related-to",
    }
);

string_enum!(
    /// Impact or probability of a risk.
    Level, "level" {
        Low = "low",
        Medium = "medium",
        High = "high",
    }
);

string_enum!(
    /// A named status change: `devlog start|block|review|close|reopen`, MCP `change_status`.
    Transition, "transition" {
        Start = "start",
        Block = "block",
        Review = "review",
        Close = "close",
        Reopen = "reopen",
    }
);

impl Transition {
    /// The status the entry ends in.
    pub fn target(self) -> Status {
        match self {
            Transition::Start => Status::InProgress,
            Transition::Block => Status::Blocked,
            Transition::Review => Status::InReview,
            Transition::Close => Status::Closed,
            Transition::Reopen => Status::New,
        }
    }

    /// The category of the note that may come with the change.
    pub fn note_category(self) -> NoteCategory {
        match self {
            Transition::Start | Transition::Review => NoteCategory::Progress,
            Transition::Block | Transition::Reopen => NoteCategory::Issue,
            Transition::Close => NoteCategory::Solution,
        }
    }

    /// Whether the change applies to an entry in `from`: `Some(true)` changes the status,
    /// `Some(false)` means it is there already, `None` refuses it. Finished work (done or
    /// closed) is reopened before it is started, blocked or reviewed; reopening open work
    /// and closing closed work change nothing.
    pub fn check(self, from: Status) -> Option<bool> {
        match self {
            Transition::Reopen if !from.is_closed() => Some(false),
            Transition::Reopen | Transition::Close => Some(from != self.target()),
            _ if from.is_closed() => None,
            _ => Some(from != self.target()),
        }
    }
}

impl Status {
    /// Done and closed entries are finished work; everything else is open.
    pub fn is_closed(&self) -> bool {
        matches!(self, Status::Done | Status::Closed)
    }
}

// The enum is declared by a macro, so `#[derive(Default)]` cannot mark the variant.
#[allow(clippy::derivable_impls)]
impl Default for Priority {
    fn default() -> Self {
        Priority::Medium
    }
}

impl Priority {
    /// Larger is more urgent; used for sorting.
    pub fn rank(&self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Critical => 3,
        }
    }
}

/// One unit of development work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Globally unique and stable; never changes, never collides across clones.
    pub id: EntryId,
    /// Short human handle (`#42`), unique within one store.
    pub handle: u64,
    /// Semantic slug of the title, unique within one store.
    pub key: String,
    /// The integer id this entry had in the original TypeScript devlog, when imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_id: Option<u64>,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    #[serde(default)]
    pub description: String,
    pub status: Status,
    #[serde(default)]
    pub priority: Priority,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_hours: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_hours: Option<f64>,
    /// Story points (effort in the team's own unit; devlog addition): a number ≥ 0, synced
    /// with the tracker's story points / effort / size field (docs/azure-devops.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<f64>,
    /// When the work is due (devlog addition, `YYYY-MM-DD`; see `planning.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<chrono::NaiveDate>,
    /// The name of the milestone the entry belongs to (devlog addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
    /// Time spent, one record per day and person (devlog addition); when there are any,
    /// `actualHours` is their sum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worklogs: Vec<crate::planning::Worklog>,
    #[serde(default)]
    pub notes: Vec<Note>,
    #[serde(default)]
    pub files: Vec<String>,
    /// Ids or handles of related entries, as the original stored them (strings or numbers).
    #[serde(default)]
    pub related_devlogs: Vec<Value>,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub ai_context: AiContext,
    #[serde(default)]
    pub external_references: Vec<ExternalReference>,
    /// Deployments that carried the entry's work (devlog addition; Azure DevOps release
    /// deployments, docs/azure-devops.md), oldest first, one per [`Deployment::id`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<Deployment>,
    #[serde(flatten)]
    pub extra: Extra,
}

string_enum!(
    /// How a deployment ended (or that it is still going): `rejected` is an approval
    /// refused; `not-deployed` is not started, not deployed, or a status the remote system
    /// did not name.
    DeploymentStatus, "deployment status" {
        Succeeded = "succeeded",
        PartiallySucceeded = "partially-succeeded",
        Failed = "failed",
        Canceled = "canceled",
        Rejected = "rejected",
        InProgress = "in-progress",
        NotDeployed = "not-deployed",
    }
);

impl DeploymentStatus {
    /// Whether the work reached the environment.
    pub fn deployed(&self) -> bool {
        matches!(
            self,
            DeploymentStatus::Succeeded | DeploymentStatus::PartiallySucceeded
        )
    }
}

/// A deployment of a release (or pipeline run) to an environment that carried the entry's
/// work: written by an integration when the remote system reports it (devlog addition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Unique per deployment: `<system>:<the system's id of it>`; a deployment reported
    /// again is the same one.
    pub id: String,
    /// The system that reported it (`azure-devops`).
    pub system: String,
    /// The environment deployed to (`Production`).
    pub environment: String,
    /// The release or pipeline run deployed (`Release-12`).
    pub release: String,
    pub status: DeploymentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When it finished (or was reported).
    pub at: Timestamp,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A dated remark on an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    pub timestamp: Timestamp,
    pub category: NoteCategory,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_changes: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Note {
    /// Where a note mirrored from a remote comment came from: `@carol on github`, or
    /// `from github` without an author (`extra.source`, written by the sync engine).
    pub fn source(&self) -> Option<String> {
        let src = self.extra.get("source")?;
        let system = src.get("system")?.as_str()?;
        Some(match src.get("author").and_then(Value::as_str) {
            Some(a) => format!("@{a} on {system}"),
            None => format!("from {system}"),
        })
    }
}

/// Why the work matters and how it is approached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Context {
    #[serde(default)]
    pub business_context: String,
    #[serde(default)]
    pub technical_context: String,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    #[serde(default)]
    pub acceptance_criteria: Vec<String>,
    #[serde(default)]
    pub risks: Vec<Risk>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: DependencyType,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub id: String,
    pub timestamp: Timestamp,
    pub decision: String,
    #[serde(default)]
    pub rationale: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
    #[serde(default)]
    pub decision_maker: String,
    /// Shown to the other repositories' work (`devlog insights`, MCP `get_shared_insights`).
    /// devlog's addition; absent (false) in the original's files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    pub id: String,
    pub description: String,
    pub impact: Level,
    pub probability: Level,
    #[serde(default)]
    pub mitigation: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What an AI assistant needs to pick the work up again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AiContext {
    #[serde(default)]
    pub current_summary: String,
    #[serde(default)]
    pub key_insights: Vec<String>,
    #[serde(default)]
    pub open_questions: Vec<String>,
    #[serde(default)]
    pub related_patterns: Vec<String>,
    #[serde(default)]
    pub suggested_next_steps: Vec<String>,
    #[serde(
        rename = "lastAIUpdate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_ai_update: Option<Timestamp>,
    #[serde(default = "one")]
    pub context_version: u32,
    /// The key insights (texts of `key_insights`) shown to the other repositories' work.
    /// devlog's addition; absent in the original's files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_insights: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn one() -> u32 {
    1
}

impl Default for AiContext {
    fn default() -> Self {
        Self {
            current_summary: String::new(),
            key_insights: Vec::new(),
            open_questions: Vec::new(),
            related_patterns: Vec::new(),
            suggested_next_steps: Vec::new(),
            last_ai_update: None,
            context_version: 1,
            shared_insights: Vec::new(),
            extra: Extra::new(),
        }
    }
}

/// The same work item in another system (GitHub issue, Jira issue, ADO work item, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExternalReference {
    pub system: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<Timestamp>,
    /// The sprint the remote item was in at the last pull (Jira with a `boardId`; devlog
    /// addition): what `show` names, without asking the remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprint: Option<String>,
    /// Where the remote item sat on its board at the last pull (Azure DevOps; devlog
    /// addition): what `show` names, without asking the remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<BoardPosition>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a linked item sits on the remote tracker's board (Azure DevOps:
/// `System.BoardColumn`, `System.BoardColumnDone`, `System.IterationPath`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BoardPosition {
    /// The board column (`Doing`); none when the item is on no board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// In the column's Done half (a split column).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub column_done: bool,
    /// The iteration path (`Fabrikam\\Sprint 3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<String>,
}

impl std::fmt::Display for BoardPosition {
    /// `Doing (done) · Fabrikam\\Sprint 3`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(c) = &self.column {
            parts.push(if self.column_done {
                format!("column {c} (done)")
            } else {
                format!("column {c}")
            });
        }
        if let Some(i) = &self.iteration {
            parts.push(format!("iteration {i}"));
        }
        f.write_str(&parts.join(", "))
    }
}

impl Entry {
    /// `#42`, the way humans refer to an entry.
    pub fn handle_str(&self) -> String {
        format!("#{}", self.handle)
    }

    /// The compact row that lists, search hits and indexes carry.
    pub fn summary(&self) -> EntrySummary {
        EntrySummary {
            id: self.id,
            handle: self.handle,
            key: self.key.clone(),
            legacy_id: self.legacy_id,
            title: self.title.clone(),
            kind: self.kind,
            status: self.status,
            priority: self.priority,
            assignee: self.assignee.clone(),
            tags: self.tags.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            closed_at: self.closed_at,
            due_date: self.due_date,
            milestone: self.milestone.clone(),
        }
    }

    /// All text that full-text search looks at, by column.
    pub fn search_text(&self) -> SearchText {
        let mut notes = String::new();
        for n in &self.notes {
            notes.push_str(&n.content);
            notes.push('\n');
        }
        let c = &self.context;
        let mut context = format!("{}\n{}\n", c.business_context, c.technical_context);
        for line in c
            .acceptance_criteria
            .iter()
            .chain(self.tags.iter())
            .chain(self.ai_context.key_insights.iter())
            .chain(self.ai_context.related_patterns.iter())
        {
            context.push_str(line);
            context.push('\n');
        }
        for d in &c.decisions {
            context.push_str(&d.decision);
            context.push('\n');
            context.push_str(&d.rationale);
            context.push('\n');
        }
        context.push_str(&self.ai_context.current_summary);
        SearchText {
            title: self.title.clone(),
            description: self.description.clone(),
            notes,
            context,
        }
    }
}

/// Text of an entry split by where it came from, so search can weigh a title hit above a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    pub title: String,
    pub description: String,
    pub notes: String,
    pub context: String,
}

/// What a list shows of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntrySummary {
    pub id: EntryId,
    pub handle: u64,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_id: Option<u64>,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub status: Status,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
}

#[cfg(test)]
mod note_tests {
    use super::*;

    fn note(extra: Value) -> Note {
        Note {
            id: "n".into(),
            timestamp: "2026-01-01T00:00:00.000Z".parse().expect("a timestamp"),
            category: NoteCategory::Feedback,
            content: "x".into(),
            files: Vec::new(),
            code_changes: None,
            extra: extra.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn a_mirrored_note_names_its_source() {
        let with = note(serde_json::json!({"source": {"system": "github", "author": "carol"}}));
        assert_eq!(with.source().as_deref(), Some("@carol on github"));
        let anon = note(serde_json::json!({"source": {"system": "github", "author": null}}));
        assert_eq!(anon.source().as_deref(), Some("from github"));
        assert_eq!(note(serde_json::json!({})).source(), None);
        assert_eq!(note(serde_json::json!({"source": "x"})).source(), None);
    }
}
