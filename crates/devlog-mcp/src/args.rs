//! Tool arguments: the original devlog's names and types (camelCase, ids as numbers), plus
//! what this devlog adds (string ids, paging, filters).
//!
//! Values are parsed here, not in the tools, so a wrong value gets one kind of message that
//! names the argument and the allowed values, and the published JSON Schema says exactly what
//! is accepted.

use std::borrow::Cow;
use std::sync::Arc;

use devlog_core::entry::{EntryType, NoteCategory, Priority, Status, Transition};
use rmcp::ErrorData;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::JsonObject;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The input schema of a tool's argument struct: draft 2020-12, subschemas inlined, optional
/// fields typed as their value (not `[T, "null"]`), as the original devlog published them.
pub fn input_schema<T: JsonSchema>() -> Arc<JsonObject> {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut value =
        serde_json::to_value(schema).unwrap_or_else(|_| Value::Object(JsonObject::new()));
    tidy(&mut value);
    let mut object = match value {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    };
    // The struct's own title and doc are noise next to the tool's description.
    object.remove("title");
    object.remove("description");
    object
        .entry("properties")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    Arc::new(object)
}

/// Collapses `"type": [T, "null"]` to `T` and drops `"default": null` in every property.
fn tidy(v: &mut Value) {
    let Value::Object(o) = v else { return };
    if let Some(Value::Array(types)) = o.get("type") {
        let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if non_null.len() == 1 {
            o.insert(
                "type".into(),
                non_null.into_iter().next().unwrap_or(Value::Null),
            );
        } else if non_null.len() != types.len() {
            o.insert("type".into(), Value::Array(non_null));
        }
    }
    if o.get("default") == Some(&Value::Null) {
        o.remove("default");
    }
    if let Some(Value::Array(values)) = o.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    // Doc comments wrap at 100 columns; a wrapped line is not a paragraph break.
    if let Some(Value::String(d)) = o.get_mut("description") {
        *d = unwrap_lines(d);
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for p in props.values_mut() {
            tidy(p);
        }
    }
    if let Some(items) = o.get_mut("items") {
        tidy(items);
    }
}

/// Joins lines that a doc comment wrapped, keeping blank-line paragraph breaks.
fn unwrap_lines(s: &str) -> String {
    s.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A tool's arguments, parsed so that an error names the argument that is wrong:
/// "invalid arguments for list_devlogs: `status`: unknown status `finished`: use one of ...".
#[derive(Debug)]
pub struct Args<T>(pub T);

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Args<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        parse_args(&context.name, arguments).map(Args)
    }
}

/// Parses a tool's arguments; the error is `invalid_params`, which the server answers as a
/// tool error the agent can read.
pub fn parse_args<T: DeserializeOwned>(tool: &str, arguments: JsonObject) -> Result<T, ErrorData> {
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." || path.is_empty() {
            String::new()
        } else {
            format!("`{path}`: ")
        };
        ErrorData::invalid_params(format!("invalid arguments for {tool}: {at}{inner}"), None)
    })
}

// ---------------------------------------------------------------------------------------
// Value types

/// Which entry: a number (handle, or the original devlog's integer id after import) or a
/// string (`#42`, a full id, an id prefix, a key slug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdArg {
    Number(u64),
    Text(String),
}

impl IdArg {
    /// The reference as `Devlog::resolve` reads it.
    pub fn reference(&self) -> String {
        match self {
            IdArg::Number(n) => n.to_string(),
            IdArg::Text(s) => s.clone(),
        }
    }
}

impl std::fmt::Display for IdArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdArg::Number(n) => write!(f, "{n}"),
            IdArg::Text(s) => f.write_str(s),
        }
    }
}

const ID_EXPECTED: &str = "an entry reference: a handle number such as 42, \"#42\", the original devlog's integer id, a full id, an id prefix or a key slug";

impl<'de> Deserialize<'de> for IdArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IdArg;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(ID_EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<IdArg, E> {
                Ok(IdArg::Number(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<IdArg, E> {
                u64::try_from(n)
                    .map(IdArg::Number)
                    .map_err(|_| E::custom(format!("id {n} is negative; expected {ID_EXPECTED}")))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<IdArg, E> {
                whole(n).map(IdArg::Number).ok_or_else(|| {
                    E::custom(format!(
                        "id {n} is not a whole number; expected {ID_EXPECTED}"
                    ))
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<IdArg, E> {
                if s.trim().is_empty() {
                    return Err(E::custom(format!("id is empty; expected {ID_EXPECTED}")));
                }
                Ok(IdArg::Text(s.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for IdArg {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "EntryReference".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["integer", "string"] })
    }
}

/// `n` as a non-negative whole number, if it is one (JSON numbers may arrive as `10.0`).
fn whole(n: f64) -> Option<u64> {
    (n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= u64::MAX as f64).then_some(n as u64)
}

/// A count (limit, offset, sequence number): a non-negative whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative whole number")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
                Ok(Count(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Count, E> {
                u64::try_from(n)
                    .map(Count)
                    .map_err(|_| E::custom(format!("{n} is negative; expected a whole number ≥ 0")))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Count, E> {
                whole(n)
                    .map(Count)
                    .ok_or_else(|| E::custom(format!("{n} is not a whole number ≥ 0")))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Count {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Count".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": 0 })
    }
}

/// A list of strings. A single string is accepted as a list of one, since agents often send
/// `"files": "src/a.rs"`; blank items are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strings(pub Vec<String>);

impl Strings {
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let v = OneOrMany::deserialize(d).map_err(|_| {
            de::Error::custom("expected a list of strings, such as [\"first\", \"second\"]")
        })?;
        let items = match v {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        Ok(Strings(
            items
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ))
    }
}

impl JsonSchema for Strings {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Strings".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "array", "items": { "type": "string" } })
    }
}

/// Wraps one of the core's closed string sets so a wrong value is answered with the allowed
/// values, and the schema lists them as an `enum`.
macro_rules! enum_arg {
    ($name:ident, $inner:ty) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub $inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d).map_err(|_| {
                    de::Error::custom(format!(
                        "expected a string, one of: {}",
                        <$inner>::allowed().join(", ")
                    ))
                })?;
                s.parse::<$inner>().map($name).map_err(de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(g: &mut SchemaGenerator) -> Schema {
                // The core's schema of the value set (feature `schemars`): the allowed values.
                <$inner as JsonSchema>::json_schema(g)
            }
        }
    };
}

enum_arg!(TypeArg, EntryType);
enum_arg!(StatusArg, Status);
enum_arg!(PriorityArg, Priority);
enum_arg!(CategoryArg, NoteCategory);
enum_arg!(TransitionArg, Transition);

// ---------------------------------------------------------------------------------------
// The original devlog's tools

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateArgs {
    /// One-line title of the work, e.g. "Fix login timeout on slow networks".
    pub title: String,
    /// What kind of work this is.
    #[serde(rename = "type")]
    pub kind: TypeArg,
    /// What the work is and why, in as much detail as is useful later.
    pub description: String,
    /// How urgent the work is.
    #[serde(default)]
    #[schemars(extend("default" = "medium"))]
    pub priority: Option<PriorityArg>,
    /// Why the work matters to users or the business.
    #[serde(default)]
    pub business_context: Option<String>,
    /// How the work is approached technically: components, constraints, design.
    #[serde(default)]
    pub technical_context: Option<String>,
    /// Conditions that must hold for the work to count as done.
    #[serde(default)]
    pub acceptance_criteria: Option<Strings>,
    /// First insights worth remembering; stored as the AI context's key insights.
    #[serde(default)]
    pub initial_insights: Option<Strings>,
    /// Patterns or prior work this resembles; stored as the AI context's related patterns.
    #[serde(default)]
    pub related_patterns: Option<Strings>,
    /// Initial status (default new).
    #[serde(default)]
    pub status: Option<StatusArg>,
    /// Labels for grouping and filtering.
    #[serde(default)]
    pub tags: Option<Strings>,
    /// Who works on it.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Files the work is about.
    #[serde(default)]
    pub files: Option<Strings>,
    /// When the work is due: YYYY-MM-DD, "today", "tomorrow", a weekday ("friday": the next
    /// one), "+3d", "+2w" or "next week".
    #[serde(default)]
    pub due_date: Option<String>,
    /// The name of an open milestone the entry belongs to (see list_milestones).
    #[serde(default)]
    pub milestone: Option<String>,
    /// Estimated hours of work.
    #[serde(default)]
    pub estimated_hours: Option<f64>,
    /// Story points, 0 or more (synced with Azure DevOps' story points / effort / size).
    #[serde(default)]
    pub points: Option<f64>,
    /// Create a new entry even when an open entry with the same title and type exists (by
    /// default that entry is returned instead, so retries never create duplicates).
    #[serde(default)]
    pub force: Option<bool>,
    /// Make the new entry a subtask of this entry (a handle, id, id prefix or key slug); the
    /// parent then cannot be completed while the subtask is open.
    #[serde(default)]
    pub parent: Option<IdArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdOnlyArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// New status. Moving to done or closed records the completion time.
    #[serde(default)]
    pub status: Option<StatusArg>,
    /// With status done or closed: even though subtasks (children) are still open.
    #[serde(default)]
    pub force: Option<bool>,
    /// What blocks the work. Recorded as an `issue` note; the status becomes `blocked` unless
    /// `status` is given or the entry is already done or closed.
    #[serde(default)]
    pub blockers: Option<String>,
    /// The next step to take; added to the AI context's suggested next steps.
    #[serde(default)]
    pub next_steps: Option<String>,
    /// Files touched by the work; added to the entry's files.
    #[serde(default)]
    pub files: Option<Strings>,
    /// Replaces the business context.
    #[serde(default)]
    pub business_context: Option<String>,
    /// Replaces the technical context.
    #[serde(default)]
    pub technical_context: Option<String>,
    /// Replaces the acceptance criteria.
    #[serde(default)]
    pub acceptance_criteria: Option<Strings>,
    /// Added to the AI context's key insights (same as keyInsights).
    #[serde(default)]
    pub initial_insights: Option<Strings>,
    /// Added to the AI context's related patterns.
    #[serde(default)]
    pub related_patterns: Option<Strings>,
    /// Replaces the AI context's summary of where the work stands.
    #[serde(default)]
    pub current_summary: Option<String>,
    /// Added to the AI context's key insights (duplicates are ignored).
    #[serde(default)]
    pub key_insights: Option<Strings>,
    /// Added to the AI context's open questions (duplicates are ignored).
    #[serde(default)]
    pub open_questions: Option<Strings>,
    /// Replaces the AI context's suggested next steps.
    #[serde(default)]
    pub suggested_next_steps: Option<Strings>,
    /// New one-line title.
    #[serde(default)]
    pub title: Option<String>,
    /// Replaces the description.
    #[serde(default)]
    pub description: Option<String>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<PriorityArg>,
    /// New type.
    #[serde(default, rename = "type")]
    pub kind: Option<TypeArg>,
    /// Who works on it; an empty string clears it.
    #[serde(default)]
    pub assignee: Option<String>,
    /// When the work is due: YYYY-MM-DD, "today", "tomorrow", a weekday, "+3d", "+2w",
    /// "next week"; "none" clears it.
    #[serde(default)]
    pub due_date: Option<String>,
    /// The name of an open milestone to put the entry in; "none" takes it out.
    #[serde(default)]
    pub milestone: Option<String>,
    /// Estimated hours of work.
    #[serde(default)]
    pub estimated_hours: Option<f64>,
    /// Actual hours spent; refused once the entry has worklogs (their sum is the actual
    /// hours: use log_time).
    #[serde(default)]
    pub actual_hours: Option<f64>,
    /// Story points, 0 or more.
    #[serde(default)]
    pub points: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListArgs {
    /// Only entries with this status.
    #[serde(default)]
    pub status: Option<StatusArg>,
    /// Only entries of this type.
    #[serde(default, rename = "type")]
    pub kind: Option<TypeArg>,
    /// Only entries with this priority.
    #[serde(default)]
    pub priority: Option<PriorityArg>,
    /// Only entries assigned to this person.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Only entries with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Only open entries (not done or closed).
    #[serde(default)]
    pub open_only: Option<bool>,
    /// Only entries waiting on an open blocker (a blocked-by link to an entry not done or
    /// closed; see link_entries).
    #[serde(default)]
    pub blocked: Option<bool>,
    /// Only open entries whose due date has passed, soonest due first.
    #[serde(default)]
    pub overdue: Option<bool>,
    /// Only entries due before this day (YYYY-MM-DD, "friday", "+7d", ...), soonest due first.
    #[serde(default)]
    pub due_before: Option<String>,
    /// Only entries in this milestone (its name).
    #[serde(default)]
    pub milestone: Option<String>,
    /// At most this many entries (default 50, most recently updated first).
    #[serde(default)]
    #[schemars(extend("default" = 50))]
    pub limit: Option<Count>,
    /// Skip this many entries (for paging).
    #[serde(default)]
    #[schemars(extend("default" = 0))]
    pub offset: Option<Count>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscoverArgs {
    /// What you are about to work on, in a sentence or two.
    pub work_description: String,
    /// The kind of work you are about to do.
    pub work_type: TypeArg,
    /// Words that entries about the same work would contain (component names, symptoms, ...).
    #[serde(default)]
    pub keywords: Option<Strings>,
    /// Where the work happens (a package, folder or area); its words are searched too.
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchArgs {
    /// Words to find in titles, descriptions, notes and context. Every word must match (a word
    /// prefix counts); title matches rank highest.
    pub query: String,
    /// Only entries with this status.
    #[serde(default)]
    pub status: Option<StatusArg>,
    /// Only entries of this type.
    #[serde(default, rename = "type")]
    pub kind: Option<TypeArg>,
    /// Only entries with this priority.
    #[serde(default)]
    pub priority: Option<PriorityArg>,
    /// At most this many results (default 20).
    #[serde(default)]
    #[schemars(extend("default" = 20))]
    pub limit: Option<Count>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoteArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// The note: what was done, found, decided or is still to do.
    pub note: String,
    /// What the note is about.
    #[serde(default)]
    #[schemars(extend("default" = "progress"))]
    pub category: Option<CategoryArg>,
    /// Files the note is about; also added to the entry's files.
    #[serde(default)]
    pub files: Option<Strings>,
    /// A summary of the code changes the note describes.
    #[serde(default)]
    pub code_changes: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWithNoteArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// New status.
    #[serde(default)]
    pub status: Option<StatusArg>,
    /// The note: what was done, found, decided or is still to do.
    pub note: String,
    /// What the note is about.
    #[serde(default)]
    #[schemars(extend("default" = "progress"))]
    pub category: Option<CategoryArg>,
    /// A summary of the code changes the note describes.
    #[serde(default)]
    pub code_changes: Option<String>,
    /// Files the note is about; also added to the entry's files.
    #[serde(default)]
    pub files: Option<Strings>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<PriorityArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// What was decided.
    pub decision: String,
    /// Why: the reasons and trade-offs.
    pub rationale: String,
    /// Who decided (a person, or "ai-agent").
    pub decision_maker: String,
    /// The options that were considered and not taken.
    #[serde(default)]
    pub alternatives: Option<Strings>,
    /// Share the decision with other work, in this and other repositories
    /// (get_shared_insights): for decisions others should follow or know about.
    #[serde(default)]
    pub share: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InsightArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// The insight, in a sentence that makes sense outside this entry ("The payment API
    /// rate-limits per account, not per key: batch refunds").
    pub insight: String,
    /// false keeps it a key insight of this entry only; by default it is shared.
    #[serde(default)]
    pub shared: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedInsightsArgs {
    /// Rank for this entry's work (a handle, id, id prefix or key). Without it: for the entry
    /// in progress updated last, else the most recently changed insights first.
    #[serde(default)]
    pub for_id: Option<IdArg>,
    /// At most this many (default 10).
    #[serde(default)]
    pub limit: Option<Count>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// What was achieved; recorded as a `solution` note and as the AI context's summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Complete it even though subtasks (children) are still open; refused otherwise.
    #[serde(default)]
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeStatusArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// start (in-progress), block (blocked), review (in-review), close (closed without being
    /// done), reopen (back to new; only done or closed work). Use complete_devlog for done.
    pub transition: TransitionArg,
    /// A note to add in the same write: progress for start and review, issue for block and
    /// reopen, solution for close.
    #[serde(default)]
    pub note: Option<String>,
    /// close: even though subtasks (children) are still open; refused otherwise.
    #[serde(default)]
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActiveContextArgs {
    /// At most this many entries.
    #[serde(default)]
    #[schemars(extend("default" = 10))]
    pub limit: Option<Count>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiContextArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// Replaces the summary of where the work stands.
    #[serde(default)]
    pub summary: Option<String>,
    /// Added to the key insights (duplicates are ignored).
    #[serde(default)]
    pub insights: Option<Strings>,
    /// Added to the open questions (duplicates are ignored).
    #[serde(default)]
    pub questions: Option<Strings>,
    /// Added to the related patterns (duplicates are ignored).
    #[serde(default)]
    pub patterns: Option<Strings>,
    /// Replaces the suggested next steps.
    #[serde(default)]
    pub next_steps: Option<Strings>,
}

// ---------------------------------------------------------------------------------------
// Tools this devlog adds

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangesArgs {
    /// Only changes after this sequence number (the `nextSince` of an earlier call). Without
    /// it, the most recent changes are returned.
    #[serde(default)]
    pub since: Option<Count>,
    /// At most this many changes (default 50, at most 500).
    #[serde(default)]
    #[schemars(extend("default" = 50))]
    pub limit: Option<Count>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsArgs {
    /// Only entries of this type.
    #[serde(default, rename = "type")]
    pub kind: Option<TypeArg>,
    /// Only entries assigned to this person.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Only entries with this tag.
    #[serde(default)]
    pub tag: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncArgs {
    /// Sync only this entry (a handle, id, id prefix or key); all entries when omitted.
    #[serde(default)]
    pub id: Option<IdArg>,
    /// Show what a sync would do without doing it.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// The structured error a failed tool call carries.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolError {
    /// not-found, ambiguous, conflict, invalid, corrupt, unavailable, not-configured, config
    /// (an `[integrations.*]` table is wrong), sync-failed (a sync where nothing went through).
    pub kind: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Entries the caller may have meant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_numbers_whole_floats_and_strings() {
        let id: IdArg = serde_json::from_value(serde_json::json!(16)).unwrap();
        assert_eq!(id, IdArg::Number(16));
        let id: IdArg = serde_json::from_value(serde_json::json!(16.0)).unwrap();
        assert_eq!(id, IdArg::Number(16));
        let id: IdArg = serde_json::from_value(serde_json::json!("#16")).unwrap();
        assert_eq!(id.reference(), "#16");
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(""),
            serde_json::json!(true),
            serde_json::json!(null),
        ] {
            let err = serde_json::from_value::<IdArg>(bad.clone()).unwrap_err();
            assert!(err.to_string().contains("handle"), "{bad}: {err}");
        }
    }

    #[test]
    fn enum_values_are_normalized_and_errors_list_the_allowed_values() {
        let s: StatusArg = serde_json::from_value(serde_json::json!("In_Progress")).unwrap();
        assert_eq!(s.0, Status::InProgress);
        let err = serde_json::from_value::<StatusArg>(serde_json::json!("finished")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("finished") && msg.contains("in-progress") && msg.contains("closed"),
            "{msg}"
        );
    }

    #[test]
    fn string_lists_accept_one_string() {
        let v: Strings = serde_json::from_value(serde_json::json!("a.rs")).unwrap();
        assert_eq!(v.0, vec!["a.rs"]);
        let v: Strings = serde_json::from_value(serde_json::json!(["a", " ", "b"])).unwrap();
        assert_eq!(v.0, vec!["a", "b"]);
        assert!(serde_json::from_value::<Strings>(serde_json::json!([1])).is_err());
    }

    #[test]
    fn unknown_arguments_are_named() {
        let err = serde_json::from_value::<IdOnlyArgs>(serde_json::json!({"id": 1, "idd": 2}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("idd"), "{err}");
    }

    #[test]
    fn schemas_look_like_the_originals() {
        let s = input_schema::<CreateArgs>();
        let v = Value::Object((*s).clone());
        assert_eq!(v["type"], "object");
        assert_eq!(v["properties"]["title"]["type"], "string");
        assert_eq!(v["properties"]["businessContext"]["type"], "string");
        assert_eq!(v["properties"]["priority"]["default"], "medium");
        assert_eq!(
            v["properties"]["type"]["enum"],
            serde_json::json!(["feature", "bugfix", "task", "refactor", "docs"])
        );
        assert_eq!(
            v["properties"]["acceptanceCriteria"]["items"]["type"],
            "string"
        );
        assert!(v["properties"]["title"]["description"].is_string());
        assert_eq!(
            v["required"],
            serde_json::json!(["title", "type", "description"])
        );
        assert!(v.get("$defs").is_none(), "{v}");
        assert!(!v.to_string().contains("null"), "{v}");
        assert!(!v.to_string().contains("\\n"), "{v}");
        let s = input_schema::<IdOnlyArgs>();
        assert_eq!(
            s["properties"]["id"]["type"],
            serde_json::json!(["integer", "string"])
        );
    }
}
