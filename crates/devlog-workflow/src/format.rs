//! The workflow file format (`.devlog/workflows/*.yml`): typed structs read with serde, the
//! JSON Schema derived from them (`schema`), and checks made while reading — CEL conditions
//! compiled, templates parsed, one action per step — so every error names the file, the line
//! and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use devlog_core::entry::{EntryType, NoteCategory, Priority, Status};
use devlog_core::relations::LinkKind;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use devlog_core::sync_state::IntegrationEventKind;

use crate::condition::Condition;
use crate::host::{BranchStep, NotifyStep, PipelineStep, PluginStep, PullRequestStep, SyncStep};
use crate::schedule::Schedule;
use crate::template::Template;

/// The longest workflow file read (bytes): a workflow is a small hand-written file.
pub const MAX_FILE: usize = 256 * 1024;

/// A workflow as written in its file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "devlog workflow",
    description = "A devlog workflow (.devlog/workflows/*.yml)"
)]
pub struct Workflow {
    /// The workflow's name: letters, digits, `-` and `_` (runs, `devlog workflow run NAME`).
    pub name: WorkflowName,
    /// What the workflow is for (shown by `devlog workflow list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it runs on its triggers (`devlog workflow enable|disable` overrides it).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What starts it: one or more triggers.
    pub on: On,
    /// A CEL condition over `entry`, `event`, `vars` and `now`: the workflow runs only when
    /// it is true.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// Variables the steps read as `vars.<name>` (strings are templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<VarName, VarValue>,
    /// What it does, in order.
    pub steps: Vec<Step>,
    /// How long one attempt of a step may take, for every step without its own `timeout`
    /// (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Span>,
    /// How failed steps are retried, for every step without its own `retry` (default: not
    /// retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Whether the workflow's own writes may trigger it again (default false: they never
    /// do). A re-entrant workflow should have a condition that ends the chain; the depth
    /// limit stops it otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reentrant: bool,
}

fn yes() -> bool {
    true
}

/// A workflow's name: 1–64 letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct WorkflowName(#[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))] String);

impl WorkflowName {
    pub fn new(name: &str) -> Result<Self, String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(name.to_string()))
        } else {
            Err(format!(
                "invalid workflow name {name:?}: use 1-64 letters, digits, '-' or '_'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkflowName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for WorkflowName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WorkflowName::new(&s).map_err(D::Error::custom)
    }
}

/// A variable's name: an identifier (`vars.<name>` in conditions and templates).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct VarName(#[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"))] String);

impl VarName {
    pub fn new(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        let ok = name.len() <= 64
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(Self(name.to_string()))
        } else {
            Err(format!(
                "invalid name {name:?}: use an identifier (a letter or '_', then letters, digits or '_')"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for VarName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        VarName::new(&s).map_err(D::Error::custom)
    }
}

/// A variable's value: a string is a template rendered when the variable is set; numbers,
/// booleans, lists and maps are taken as they are.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum VarValue {
    Template(Template),
    Literal(Value),
}

impl<'de> Deserialize<'de> for VarValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Template::new(s)
                .map(VarValue::Template)
                .map_err(D::Error::custom),
            other => Ok(VarValue::Literal(other)),
        }
    }
}

/// A length of time as written in a file: numbers with units, `90s`, `5m`, `1h30m`, `3d`,
/// `2w` (at most 366 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(u64);

impl JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+[smhdw])+$",
            "description": "A length of time: numbers with units s, m, h, d, w (`90s`, `1h30m`, `3d`); at most 366 days"
        })
    }
}

impl Span {
    /// The longest span: a wait or a backoff of more than a year is a mistake.
    pub const MAX_SECONDS: u64 = 366 * 86_400;

    pub fn from_seconds(seconds: u64) -> Self {
        Self(seconds.min(Self::MAX_SECONDS))
    }

    pub fn seconds(&self) -> u64 {
        self.0
    }

    pub fn millis(&self) -> i64 {
        i64::try_from(self.0.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration {text:?}: use numbers with units s, m, h, d, w (`90s`, `1h30m`, `3d`)"
            )
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        let mut n: Option<u64> = None;
        for c in t.chars() {
            if let Some(d) = c.to_digit(10) {
                n = Some(
                    n.unwrap_or(0)
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(d)))
                        .ok_or_else(bad)?,
                );
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad()),
            };
            let v = n.take().ok_or_else(bad)?;
            total = v
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
        }
        if n.is_some() {
            return Err(bad());
        }
        if total > Self::MAX_SECONDS {
            return Err(format!("duration {text:?} is longer than 366 days"));
        }
        Ok(Self(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).map_err(D::Error::custom)
    }
}

/// How long one attempt of a step may take when neither the step nor the workflow says.
pub const DEFAULT_TIMEOUT: Span = Span(5 * 60);

/// The most attempts a `retry` may give a step.
pub const MAX_ATTEMPTS: u32 = 20;

/// `retry`: how often a failing step is tried and how long the run waits between tries:
/// `backoff`, doubled after each failed attempt, at most `max_backoff`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts in all, the first one included (1–20).
    pub attempts: Attempts,
    /// The wait before the second attempt (default 30s).
    #[serde(default = "default_backoff")]
    pub backoff: Span,
    /// The longest wait between two attempts (default 1h).
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Span,
}

fn default_backoff() -> Span {
    Span(30)
}

fn default_max_backoff() -> Span {
    Span(3600)
}

impl Retry {
    /// The wait after failed attempt `n` (1-based): `backoff * 2^(n-1)`, at most `max_backoff`.
    pub fn delay_after(&self, n: u32) -> Span {
        let factor = 1u64 << n.saturating_sub(1).min(32);
        Span::from_seconds(
            self.backoff
                .seconds()
                .saturating_mul(factor)
                .min(self.max_backoff.seconds()),
        )
    }
}

/// A number of attempts, 1–[`MAX_ATTEMPTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct Attempts(#[schemars(range(min = 1, max = 20))] u32);

impl Attempts {
    pub fn new(n: u32) -> Result<Self, String> {
        if (1..=MAX_ATTEMPTS).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!(
                "attempts must be 1-{MAX_ATTEMPTS} (the first try included), not {n}"
            ))
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Attempts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Attempts::new(u32::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `wait`: parks the run for a `duration`, or until the time a CEL expression `until` gives
/// (a timestamp, or an RFC 3339 text). Exactly one of the two.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Condition>,
}

/// The most branches a `parallel` group has.
pub const MAX_BRANCHES: usize = 10;

/// The triggers of a workflow, one key each (`on: {status_changed: {to: done}}`). A key with
/// no value (`created:`) matches every event of its kind.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct On {
    /// An entry was created.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<CreatedFilter>,
    /// A field changed (any field, or one of `fields`; dotted names such as
    /// `context.businessContext`; `status` changes are `status_changed`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated: Option<UpdatedFilter>,
    /// The status changed (from `from`, to `to`, when given).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub status_changed: Option<StatusFilter>,
    /// A note was added (of `category`, when given).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub note_added: Option<NoteFilter>,
    /// A decision was recorded.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub decision_added: Option<Empty>,
    /// The entry reached done or closed.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed: Option<Empty>,
    /// Run by hand: `devlog workflow run NAME [REF]`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub manual: Option<Empty>,
    /// Run by the clock: a cron expression in a time zone (`devlog workflow due`, or a
    /// running `devlog serve`/`devlog worker`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// An integration's webhook delivery said something happened (a pull request merged, a
    /// Jira issue transitioned, an Azure DevOps deployment completed), applied by the sync
    /// engine once per delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookFilter>,
    /// The sync engine recorded a conflict or dead-lettered a push job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncFilter>,
}

/// The integrations whose webhooks name typed events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookIntegration {
    Github,
    Jira,
    /// Its name in `devlog.toml` and in the events the sync engine records; `ado` is
    /// accepted too.
    #[serde(rename = "azure-devops", alias = "ado")]
    Ado,
}

impl WebhookIntegration {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Jira => "jira",
            Self::Ado => "azure-devops",
        }
    }

    /// The events its webhooks deliver.
    pub fn events(self) -> &'static [IntegrationEventKind] {
        use IntegrationEventKind as K;
        match self {
            Self::Github => &[
                K::PullRequestOpened,
                K::PullRequestMerged,
                K::PullRequestClosed,
            ],
            Self::Jira => &[K::IssueTransitioned, K::IssueCommented],
            Self::Ado => &[K::DeploymentCompleted, K::WorkItemUpdated],
        }
    }

    const ALL: [WebhookIntegration; 3] = [Self::Github, Self::Jira, Self::Ado];
}

/// Every webhook event name, by integration, for error messages.
fn webhook_events_listed() -> String {
    WebhookIntegration::ALL
        .iter()
        .map(|i| {
            let names: Vec<String> = i.events().iter().map(|e| format!("`{e}`")).collect();
            format!("{}: {}", i.as_str(), names.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A webhook event name (`pull_request.merged`); unknown names are errors listing the known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebhookEvent(pub IntegrationEventKind);

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.parse::<IntegrationEventKind>() {
            Ok(k) if k.is_webhook() => Ok(WebhookEvent(k)),
            _ => Err(D::Error::custom(format!(
                "unknown webhook event `{s}`, expected one of {}",
                webhook_events_listed()
            ))),
        }
    }
}

impl JsonSchema for WebhookEvent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WebhookEvent".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = IntegrationEventKind::ALL
            .iter()
            .filter(|k| k.is_webhook())
            .map(|k| k.as_str())
            .collect();
        schemars::json_schema!({
            "type": "string",
            "enum": names,
            "description": "github: pull_request.opened|merged|closed; jira: issue.transitioned, \
                issue.commented; ado: deployment.completed, workitem.updated",
        })
    }
}

/// `webhook`: the integration, its event, and filters that apply to that event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(try_from = "WebhookSpec")]
pub struct WebhookFilter {
    pub integration: WebhookIntegration,
    pub event: WebhookEvent,
    /// `issue.transitioned`, `workitem.updated`: the status it left (as the remote names it;
    /// case does not matter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `issue.transitioned`, `workitem.updated`: the status it reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `deployment.completed`: the environment (stage) deployed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// [`WebhookFilter`] as written, before the event is checked against the integration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// github, jira or ado.
    integration: WebhookIntegration,
    /// The event, one of the integration's.
    event: WebhookEvent,
    /// `issue.transitioned`, `workitem.updated`: the status it left (case does not matter).
    #[serde(default)]
    from: Option<String>,
    /// `issue.transitioned`, `workitem.updated`: the status it reached.
    #[serde(default)]
    to: Option<String>,
    /// `deployment.completed`: the environment (stage) deployed to.
    #[serde(default)]
    environment: Option<String>,
}

impl TryFrom<WebhookSpec> for WebhookFilter {
    type Error = String;

    fn try_from(w: WebhookSpec) -> Result<Self, String> {
        use IntegrationEventKind as K;
        let kind = w.event.0;
        if !w.integration.events().contains(&kind) {
            let names: Vec<String> = w
                .integration
                .events()
                .iter()
                .map(|e| format!("`{e}`"))
                .collect();
            return Err(format!(
                "event: `{kind}` is not a {} event; {} delivers {}",
                w.integration.as_str(),
                w.integration.as_str(),
                names.join(", ")
            ));
        }
        let moves = matches!(kind, K::IssueTransitioned | K::WorkItemUpdated);
        if !moves && (w.from.is_some() || w.to.is_some()) {
            return Err(format!(
                "`from`/`to` filter `issue.transitioned` and `workitem.updated`, not `{kind}`"
            ));
        }
        if kind != K::DeploymentCompleted && w.environment.is_some() {
            return Err(format!(
                "`environment` filters `deployment.completed`, not `{kind}`"
            ));
        }
        Ok(WebhookFilter {
            integration: w.integration,
            event: w.event,
            from: w.from,
            to: w.to,
            environment: w.environment,
        })
    }
}

/// `sync`: what the sync engine recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncEvent {
    /// A pull or webhook found conflicting changes on an entry (`devlog sync conflicts`).
    Conflict,
    /// A push job failed its last attempt and was dead-lettered.
    JobDead,
}

impl SyncEvent {
    pub fn kind(self) -> IntegrationEventKind {
        match self {
            Self::Conflict => IntegrationEventKind::Conflict,
            Self::JobDead => IntegrationEventKind::JobDead,
        }
    }
}

/// `sync`: the event, and optionally only one integration's (by its name in `devlog.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncFilter {
    pub event: SyncEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
}

/// A key given with no value (`created:`) means "any": `Some(default)`, not `None`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// No options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `created`: optionally only entries of one type.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedFilter {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<EntryType>,
}

/// `updated`: the fields that count (empty: any field).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatedFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldName>,
}

impl UpdatedFilter {
    /// Whether a change of `field` (a `FieldChanged` event's name) counts.
    pub fn matches(&self, field: &str) -> bool {
        self.fields.is_empty() || self.fields.iter().any(|f| f.matches(field))
    }
}

/// A field of `updated: {fields}`: a name the change feed's `FieldChanged` events carry
/// (`priority`, `dueDate`, `context.businessContext`; `context` and `aiContext` take all
/// their sub-fields). The names are devlog-core's `event::field_names`, read from the entry
/// types, so a name that can never fire — a typo — is refused when the file is read, with
/// the closest name suggested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldName(String);

impl FieldName {
    pub fn new(name: &str) -> Result<Self, String> {
        let known = field_names();
        if known.iter().any(|k| k == name) {
            return Ok(Self(name.to_string()));
        }
        if name == "status" {
            return Err(
                "`status` changes are their own trigger: `status_changed` (with `from`/`to`)"
                    .into(),
            );
        }
        // A close name is the fix; the whole list only when none is close (it is long, and
        // a broken file is reported by every command).
        Err(
            match devlog_core::suggest::closest(name, known.iter().map(String::as_str)) {
                Some(k) => format!(
                    "unknown field `{name}` (did you mean `{k}`?); `devlog workflow schema` lists every field (`$defs.FieldName`)"
                ),
                None => format!(
                    "unknown field `{name}`; the fields are: {}",
                    known.join(", ")
                ),
            },
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an event's `field` is this one or one of its sub-fields (`context` matches
    /// `context.businessContext`).
    pub fn matches(&self, field: &str) -> bool {
        field
            .strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

/// The field names `updated: {fields}` takes, read once from the entry types.
pub fn field_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(devlog_core::event::field_names)
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FieldName::new(&s).map_err(D::Error::custom)
    }
}

impl JsonSchema for FieldName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FieldName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": field_names(),
            "description": "A field whose changes count: a top-level key of the entry, or \
                `context.<key>` / `aiContext.<key>` (`context` and `aiContext` take all of \
                theirs); status changes are `status_changed`",
        })
    }
}

/// `status_changed`: from and to, each optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Status>,
}

/// `note_added`: optionally only notes of one category.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<NoteCategory>,
}

/// One trigger, as the engine matches it.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Created(CreatedFilter),
    Updated(UpdatedFilter),
    StatusChanged(StatusFilter),
    NoteAdded(NoteFilter),
    DecisionAdded,
    Completed,
    Manual,
    Schedule(Schedule),
    Webhook(WebhookFilter),
    Sync(SyncFilter),
}

impl Trigger {
    /// Whether the trigger is fired by entry events of the change feed (not by hand or by
    /// the clock).
    pub fn on_events(&self) -> bool {
        !matches!(
            self,
            Trigger::Manual | Trigger::Schedule(_) | Trigger::Webhook(_) | Trigger::Sync(_)
        )
    }

    /// Whether the trigger is fired by integration events (webhook deliveries, sync).
    pub fn on_integration_events(&self) -> bool {
        matches!(self, Trigger::Webhook(_) | Trigger::Sync(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Trigger::Created(_) => "created",
            Trigger::Updated(_) => "updated",
            Trigger::StatusChanged(_) => "status_changed",
            Trigger::NoteAdded(_) => "note_added",
            Trigger::DecisionAdded => "decision_added",
            Trigger::Completed => "completed",
            Trigger::Manual => "manual",
            Trigger::Schedule(_) => "schedule",
            Trigger::Webhook(_) => "webhook",
            Trigger::Sync(_) => "sync",
        }
    }
}

impl On {
    /// The triggers, in the order of the keys above.
    pub fn triggers(&self) -> Vec<Trigger> {
        let mut out = Vec::new();
        if let Some(f) = &self.created {
            out.push(Trigger::Created(f.clone()));
        }
        if let Some(f) = &self.updated {
            out.push(Trigger::Updated(f.clone()));
        }
        if let Some(f) = &self.status_changed {
            out.push(Trigger::StatusChanged(f.clone()));
        }
        if let Some(f) = &self.note_added {
            out.push(Trigger::NoteAdded(f.clone()));
        }
        if self.decision_added.is_some() {
            out.push(Trigger::DecisionAdded);
        }
        if self.completed.is_some() {
            out.push(Trigger::Completed);
        }
        if self.manual.is_some() {
            out.push(Trigger::Manual);
        }
        if let Some(s) = &self.schedule {
            out.push(Trigger::Schedule(s.clone()));
        }
        if let Some(w) = &self.webhook {
            out.push(Trigger::Webhook(w.clone()));
        }
        if let Some(s) = &self.sync {
            out.push(Trigger::Sync(s.clone()));
        }
        out
    }
}

/// A step as written: an optional `id` (its output is `steps.<id>` afterwards) and exactly one
/// action key — or `if` with `then` (and `else`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Names the step's output for later steps (`steps.<id>.…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<VarName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_note: Option<AddNote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_decision: Option<AddDecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<SetFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_entry: Option<CreateEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_work: Option<LogWork>,
    /// Sets variables (`vars.<name>`) for the steps after it; strings are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_var: Option<BTreeMap<VarName, VarValue>>,
    /// Stops the run as failed with this message (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<Template>,
    /// A CEL condition choosing between `then` and `else`.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Vec<Step>>,
    #[serde(default, rename = "else", skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Vec<Step>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,
    // Steps with effects outside the store (host.rs).
    /// Pushes an entry to an integration through the sync engine and its queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStep>,
    /// An HTTP POST to a webhook (Slack-compatible or JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyStep>,
    /// Runs a plugin's workflow action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginStep>,
    /// Creates the git branch of an entry (kept when it exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchStep>,
    /// Opens the GitHub pull request of an entry's branch (or links the open one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestStep>,
    /// Queues an Azure DevOps pipeline run of an entry's branch (or follows the unfinished one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineStep>,
    /// Computes a built-in report (docs/reports.md) as the step's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportStep>,
    /// Parks the run for a duration or until a time (`{duration: 3d}`, `{until: <CEL>}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// Branches (lists of steps) run at the same time; the group fails if a branch fails,
    /// after the others finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Vec<Vec<Step>>>,
    /// How long one attempt of this step may take (default: the workflow's, else 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Span>,
    /// How this step is retried when it fails (default: the workflow's, else not retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// A step, checked: its id, its one action, and its own timeout and retry policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "StepSpec", into = "StepSpec")]
pub struct Step {
    pub id: Option<VarName>,
    pub action: Action,
    pub timeout: Option<Span>,
    pub retry: Option<Retry>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    AddNote(AddNote),
    AddDecision(AddDecision),
    Set(SetFields),
    CreateEntry(CreateEntry),
    Link(LinkStep),
    LogWork(LogWork),
    SetVar(BTreeMap<VarName, VarValue>),
    Fail(Template),
    If {
        condition: Condition,
        then: Vec<Step>,
        otherwise: Vec<Step>,
    },
    ForEach(ForEach),
    // Steps with effects outside the store (host.rs).
    Sync(SyncStep),
    Notify(NotifyStep),
    Plugin(PluginStep),
    Branch(BranchStep),
    PullRequest(PullRequestStep),
    Pipeline(PipelineStep),
    Report(ReportStep),
    Wait(Wait),
    Parallel(Vec<Vec<Step>>),
}

impl Action {
    /// The action's key in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Action::AddNote(_) => "add_note",
            Action::AddDecision(_) => "add_decision",
            Action::Set(_) => "set",
            Action::CreateEntry(_) => "create_entry",
            Action::Link(_) => "link",
            Action::LogWork(_) => "log_work",
            Action::SetVar(_) => "set_var",
            Action::Fail(_) => "fail",
            Action::If { .. } => "if",
            Action::ForEach(_) => "for_each",
            Action::Sync(_) => "sync",
            Action::Notify(_) => "notify",
            Action::Plugin(_) => "plugin",
            Action::Branch(_) => "branch",
            Action::PullRequest(_) => "pull_request",
            Action::Pipeline(_) => "pipeline",
            Action::Report(_) => "report",
            Action::Wait(_) => "wait",
            Action::Parallel(_) => "parallel",
        }
    }

    /// Whether the action holds other steps (`if`, `for_each`, `parallel`): those steps
    /// have their own timeouts and retries.
    pub fn is_group(&self) -> bool {
        matches!(
            self,
            Action::If { .. } | Action::ForEach(_) | Action::Parallel(_)
        )
    }
}

const ACTIONS: &str = "add_note, add_decision, set, create_entry, link, log_work, set_var, \
     fail, if, for_each, wait, parallel, sync, notify, plugin, branch, pull_request, pipeline, \
     report";

impl TryFrom<StepSpec> for Step {
    type Error = String;

    fn try_from(s: StepSpec) -> Result<Self, String> {
        let mut found: Vec<Action> = Vec::new();
        if let Some(a) = s.add_note {
            found.push(Action::AddNote(a));
        }
        if let Some(a) = s.add_decision {
            found.push(Action::AddDecision(a));
        }
        if let Some(a) = s.set {
            found.push(Action::Set(a));
        }
        if let Some(a) = s.create_entry {
            found.push(Action::CreateEntry(a));
        }
        if let Some(a) = s.link {
            found.push(Action::Link(a));
        }
        if let Some(a) = s.log_work {
            found.push(Action::LogWork(a));
        }
        if let Some(a) = s.set_var {
            found.push(Action::SetVar(a));
        }
        if let Some(a) = s.fail {
            found.push(Action::Fail(a));
        }
        if let Some(a) = s.for_each {
            found.push(Action::ForEach(a));
        }
        if let Some(a) = s.sync {
            found.push(Action::Sync(a));
        }
        if let Some(a) = s.notify {
            a.check()?;
            found.push(Action::Notify(a));
        }
        if let Some(a) = s.plugin {
            found.push(Action::Plugin(a));
        }
        if let Some(a) = s.branch {
            found.push(Action::Branch(a));
        }
        if let Some(a) = s.pull_request {
            found.push(Action::PullRequest(a));
        }
        if let Some(a) = s.pipeline {
            found.push(Action::Pipeline(a));
        }
        if let Some(a) = s.report {
            devlog_core::reports::check_by(a.name, &a.by).map_err(|e| format!("report: {e}"))?;
            found.push(Action::Report(a));
        }
        if let Some(w) = s.wait {
            match (&w.duration, &w.until) {
                (Some(_), None) | (None, Some(_)) => found.push(Action::Wait(w)),
                _ => {
                    return Err(
                        "`wait` takes one of `duration` (`3d`) or `until` (a CEL timestamp)".into(),
                    );
                }
            }
        }
        if let Some(branches) = s.parallel {
            if branches.is_empty() || branches.len() > MAX_BRANCHES {
                return Err(format!(
                    "`parallel` takes 1-{MAX_BRANCHES} branches (lists of steps), not {}",
                    branches.len()
                ));
            }
            if let Some(i) = branches.iter().position(Vec::is_empty) {
                return Err(format!("parallel branch {i} has no steps"));
            }
            found.push(Action::Parallel(branches));
        }
        match (s.condition, s.then, s.otherwise) {
            (Some(condition), Some(then), otherwise) => found.push(Action::If {
                condition,
                then,
                otherwise: otherwise.unwrap_or_default(),
            }),
            (Some(_), None, _) => return Err("`if` needs `then` (a list of steps)".into()),
            (None, Some(_), _) | (None, None, Some(_)) => {
                return Err("`then` and `else` belong to an `if` step".into());
            }
            (None, None, None) => {}
        }
        let mut found = found.into_iter();
        match (found.next(), found.next()) {
            (Some(action), None) => {
                if action.is_group() && (s.timeout.is_some() || s.retry.is_some()) {
                    return Err(format!(
                        "`timeout` and `retry` belong on the steps inside `{}`, not on the group",
                        action.name()
                    ));
                }
                if matches!(action, Action::Wait(_)) && (s.timeout.is_some() || s.retry.is_some()) {
                    return Err("a `wait` step takes no `timeout` or `retry`".into());
                }
                Ok(Step {
                    id: s.id,
                    action,
                    timeout: s.timeout,
                    retry: s.retry,
                })
            }
            (None, _) => Err(format!("a step needs one action: {ACTIONS}")),
            (Some(a), Some(b)) => Err(format!(
                "a step has one action, this one has `{}` and `{}`: make them two steps",
                a.name(),
                b.name()
            )),
        }
    }
}

impl From<Step> for StepSpec {
    fn from(s: Step) -> StepSpec {
        let mut spec = StepSpec {
            id: s.id,
            timeout: s.timeout,
            retry: s.retry,
            ..StepSpec::default()
        };
        match s.action {
            Action::AddNote(a) => spec.add_note = Some(a),
            Action::AddDecision(a) => spec.add_decision = Some(a),
            Action::Set(a) => spec.set = Some(a),
            Action::CreateEntry(a) => spec.create_entry = Some(a),
            Action::Link(a) => spec.link = Some(a),
            Action::LogWork(a) => spec.log_work = Some(a),
            Action::SetVar(a) => spec.set_var = Some(a),
            Action::Fail(a) => spec.fail = Some(a),
            Action::If {
                condition,
                then,
                otherwise,
            } => {
                spec.condition = Some(condition);
                spec.then = Some(then);
                spec.otherwise = (!otherwise.is_empty()).then_some(otherwise);
            }
            Action::ForEach(a) => spec.for_each = Some(a),
            Action::Sync(a) => spec.sync = Some(a),
            Action::Notify(a) => spec.notify = Some(a),
            Action::Plugin(a) => spec.plugin = Some(a),
            Action::Branch(a) => spec.branch = Some(a),
            Action::PullRequest(a) => spec.pull_request = Some(a),
            Action::Pipeline(a) => spec.pipeline = Some(a),
            Action::Report(a) => spec.report = Some(a),
            Action::Wait(w) => spec.wait = Some(w),
            Action::Parallel(b) => spec.parallel = Some(b),
        }
        spec
    }
}

/// `add_note`: a note on the run's entry (or `entry`, a reference template).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    pub category: NoteCategory,
    pub text: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
}

/// `add_decision`: a decision with its rationale.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDecision {
    pub decision: Template,
    pub rationale: Template,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
}

/// `set`: fields of the run's entry (or `entry`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<EntryType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Template>,
    /// An empty string clears the assignee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Template>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<Template>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_tags: Vec<Template>,
    /// A due date as `devlog edit --due` takes it (`2026-12-24`, `friday`, `+3d`, `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
}

/// `create_entry`: a new entry (a subtask of the run's entry with `parent: true`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntry {
    pub title: Template,
    #[serde(rename = "type")]
    pub kind: EntryType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Template>,
    /// Make it a subtask of the run's entry.
    #[serde(default)]
    pub parent: bool,
}

/// `link`: links the run's entry (or `entry`) to `to` (a reference template) with `kind`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkStep {
    pub kind: LinkKind,
    pub to: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
}

/// `report`: a built-in report over the window `since` before now, as the step's output
/// (the report's JSON, as `devlog report NAME --json` prints it).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportStep {
    /// `counts`, `throughput`, `lead-time`, `cycle-time`, `time-in-status`, `wip`,
    /// `burndown`, `sync-health`, `cross-system`, `deployments`.
    pub name: devlog_core::reports::ReportName,
    /// How far back the window starts (`7d`, `2w`); the report's own default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Span>,
    /// Groupings (`counts`: status, type, priority, assignee, tag, system; the time series:
    /// one of day, week, month); the report's default when absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<devlog_core::reports::By>,
}

/// `log_work`: a worklog on the run's entry (or `entry`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogWork {
    /// `1h30m`, `90m`, `1.5h`.
    pub duration: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Template>,
    /// `2026-12-04`, `yesterday`… (today when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
}

/// `for_each`: runs `steps` once per item of the list `items` (a CEL expression), the item
/// being `<as>` (default `item`) in conditions and templates.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForEach {
    pub items: Condition,
    #[serde(default = "item_name", rename = "as")]
    pub alias: VarName,
    pub steps: Vec<Step>,
}

fn item_name() -> VarName {
    VarName("item".to_string())
}

/// The most items a `for_each` goes through.
pub const MAX_ITEMS: usize = 100;

/// A step is read as a [`StepSpec`], so its schema is `StepSpec`'s (derived, not written).
impl JsonSchema for Step {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Step".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        StepSpec::json_schema(g)
    }
}

/// The JSON Schema of a workflow file (draft 2020-12), derived from [`Workflow`].
pub fn schema() -> Value {
    let schema = schemars::schema_for!(Workflow);
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// A workflow read from its file, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub workflow: Arc<Workflow>,
    pub triggers: Vec<Trigger>,
    /// The file, as given to [`parse`].
    pub file: String,
}

/// A problem in a workflow file: the file, the line (when known) and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct FormatError {
    pub file: String,
    pub line: Option<usize>,
    /// The key path (`steps[0].add_note.text`), empty at the top.
    pub key: String,
    pub message: String,
}

/// Reads one workflow file's text. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Loaded, FormatError> {
    let err = |line, key: String, message: String| FormatError {
        file: file.to_string(),
        line,
        key,
        message,
    };
    if text.len() > MAX_FILE {
        return Err(err(
            None,
            String::new(),
            format!("the file is larger than {MAX_FILE} bytes"),
        ));
    }
    let de = serde_norway::Deserializer::from_str(text);
    let workflow: Workflow = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let inner = e.into_inner();
        let mut line = inner.location().map(|l| l.line());
        // serde_norway appends " at line L column C" (the line is named apart) and, for
        // errors raised by our checks, starts with the path of the enclosing map.
        let mut msg = inner.to_string();
        if let Some(i) = msg.rfind(" at line ") {
            msg.truncate(i);
        }
        if let Some((head, rest)) = msg.split_once(": ")
            && !head.contains(' ')
            && key.starts_with(head)
        {
            msg = rest.to_string();
        }
        // A check's error is placed at the start of the enclosing map: find the key's own
        // line below it.
        if let (Some(from), Some(last)) = (line, last_key(&key))
            && let Some(found) = key_line(text, from, last)
        {
            line = Some(found);
        }
        // An error in an item of a list written one item a line is placed at the list's
        // first item: count down to the item's own line.
        if let Some(from) = line
            && let Some(found) = item_line(text, from, &key)
        {
            line = Some(found);
        }
        err(line, key, msg)
    })?;
    let triggers = workflow.on.triggers();
    if triggers.is_empty() {
        return Err(err(
            line_of(text, "on"),
            "on".into(),
            "give at least one trigger: created, updated, status_changed, note_added, \
             decision_added, completed, manual, schedule, webhook, sync"
                .into(),
        ));
    }
    if workflow.steps.is_empty() {
        return Err(err(
            line_of(text, "steps"),
            "steps".into(),
            "give at least one step".into(),
        ));
    }
    Ok(Loaded {
        workflow: Arc::new(workflow),
        triggers,
        file: file.to_string(),
    })
}

/// The last named key of a path (`steps[1].if` → `if`; `steps[0]` → none).
fn last_key(path: &str) -> Option<&str> {
    let last = path.rsplit('.').next()?;
    (!last.is_empty() && !last.ends_with(']')).then_some(last)
}

/// The first line at or after `from` (1-based) where `key:` starts a mapping entry.
fn key_line(text: &str, from: usize, key: &str) -> Option<usize> {
    let want = format!("{key}:");
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim_start();
            let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
            t.starts_with(&want) || t.starts_with(&format!("\"{key}\":"))
        })
        .map(|(i, _)| i + 1)
}

/// For a key path ending in an item (`on.updated.fields[2]`) whose list starts on line `from`
/// (1-based) below its key, one item a line (`- a`): the line of that item.
fn item_line(text: &str, from: usize, path: &str) -> Option<usize> {
    let (list, index) = path.strip_suffix(']')?.rsplit_once('[')?;
    let index: usize = index.parse().ok()?;
    let name = list.rsplit('.').next()?;
    let lines: Vec<&str> = text.lines().collect();
    let bare = |l: &str| {
        let t = l.trim();
        t.strip_prefix("- ").unwrap_or(t).trim_start().to_string()
    };
    let head = lines[..from.checked_sub(1)?]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))?;
    if bare(head) != format!("{name}:") {
        return None;
    }
    let first = lines.get(from - 1)?;
    let indent = first.len() - first.trim_start().len();
    if !first.trim_start().starts_with('-') {
        return None;
    }
    lines
        .iter()
        .enumerate()
        .skip(from - 1)
        .filter(|(_, l)| {
            l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('-')
        })
        .nth(index)
        .map(|(i, _)| i + 1)
}

/// The line of a top-level key, for errors found after reading.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.starts_with(&format!("{key}:")))
        .map(|i| i + 1)
}
