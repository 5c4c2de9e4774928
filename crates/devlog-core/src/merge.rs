//! Field-level three-way merge of an entry's synced fields against the last synced base.
//!
//! Pure: the sync engine feeds it the base it recorded at the last successful sync, the local
//! entry and the remote item (both mapped to [`SyncedFields`]), and acts on the result.

pub mod document;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{Entry, EntryType, Priority, Status, string_enum};
use crate::error::StoreError;
use crate::time::Timestamp;

pub use document::{MergeError, merge_documents};

string_enum!(
    /// One of the [`SyncedFields`], named as its JSON key (`type` for [`SyncedFields::kind`]).
    /// Adapters match on it, so a field added here is a compile error in every integration.
    SyncedField, "field" {
        Title = "title",
        Description = "description",
        Status = "status",
        Priority = "priority",
        Type = "type",
        Assignee = "assignee",
        Tags = "tags",
        Milestone = "milestone",
        EstimatedHours = "estimatedHours",
        ActualHours = "actualHours",
        AcceptanceCriteria = "acceptanceCriteria",
        DueDate = "dueDate",
        Points = "points",
    }
);

impl SyncedField {
    fn bit(self) -> u16 {
        // Declaration order; `ALL` has thirteen fields, so a `u16` holds every set.
        1 << (self as u16)
    }

    /// A field only some integrations carry (Jira's `customFields`): a side that does not
    /// carry it holds `None` in [`SyncedFields`], and it is then never compared, merged or
    /// sent. The first eight fields every integration carries.
    pub fn is_optional(self) -> bool {
        matches!(
            self,
            SyncedField::EstimatedHours
                | SyncedField::ActualHours
                | SyncedField::AcceptanceCriteria
                | SyncedField::DueDate
                | SyncedField::Points
        )
    }
}

/// A set of [`SyncedField`]s (which fields changed, which to send, which are held by a
/// conflict). Iterates in declaration order; serialises as a list of field names.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(u16);

impl FieldSet {
    pub const EMPTY: FieldSet = FieldSet(0);

    /// Every synced field.
    pub fn all() -> Self {
        SyncedField::ALL.iter().copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn contains(&self, f: SyncedField) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn insert(&mut self, f: SyncedField) {
        self.0 |= f.bit();
    }

    pub fn remove(&mut self, f: SyncedField) {
        self.0 &= !f.bit();
    }

    /// The fields of `self` that are not in `other`.
    pub fn without(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & !other.0)
    }

    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = SyncedField> + '_ {
        SyncedField::ALL
            .iter()
            .copied()
            .filter(|f| self.contains(*f))
    }

    /// The field names, in declaration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(|f| f.as_str()).collect()
    }
}

impl FromIterator<SyncedField> for FieldSet {
    fn from_iter<I: IntoIterator<Item = SyncedField>>(iter: I) -> Self {
        let mut s = FieldSet::EMPTY;
        for f in iter {
            s.insert(f);
        }
        s
    }
}

impl From<SyncedField> for FieldSet {
    fn from(f: SyncedField) -> Self {
        FieldSet(f.bit())
    }
}

impl<const N: usize> From<[SyncedField; N]> for FieldSet {
    fn from(fields: [SyncedField; N]) -> Self {
        fields.into_iter().collect()
    }
}

impl fmt::Debug for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// `title, priority` (`nothing` when empty), for messages and plans.
impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing");
        }
        f.write_str(&self.names().join(", "))
    }
}

impl Serialize for FieldSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for FieldSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<SyncedField>::deserialize(d)?.into_iter().collect())
    }
}

/// The fields that travel between devlog and another system. Integrations map their own
/// fields to and from these (status ⇄ state, priority ⇄ label, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncedFields {
    pub title: String,
    pub description: String,
    pub status: Status,
    pub priority: Priority,
    #[serde(rename = "type")]
    pub kind: EntryType,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The name of the entry's milestone (a GitHub milestone's title). Bases recorded before
    /// milestones synced read as `None`.
    #[serde(default)]
    pub milestone: Option<String>,
    /// The optional fields ([`SyncedField::is_optional`]): the outer `None` (the key absent
    /// in JSON) says this side does not carry the field (an integration that does not map
    /// it, a base recorded before it synced); `Some(None)` (`null`) is carried and empty.
    #[serde(
        default,
        deserialize_with = "carried",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_hours: Option<Option<f64>>,
    #[serde(
        default,
        deserialize_with = "carried",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_hours: Option<Option<f64>>,
    /// Acceptance criteria, non-empty ones only (an empty list is carried and empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance_criteria: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "carried",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_date: Option<Option<chrono::NaiveDate>>,
    /// Story points (Azure DevOps' story points / effort / size field).
    #[serde(
        default,
        deserialize_with = "carried",
        skip_serializing_if = "Option::is_none"
    )]
    pub points: Option<Option<f64>>,
}

/// Tells a key that is there, even as `null` (`Some(…)`: carried), from a missing one
/// (`None`, through `default`: not carried).
pub(crate) fn carried<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Whether two optional fields differ: only when both sides carry them.
fn both_differ<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

impl SyncedFields {
    pub fn from_entry(e: &Entry) -> Self {
        let mut tags = e.tags.clone();
        tags.sort();
        Self {
            title: e.title.clone(),
            description: e.description.clone(),
            status: e.status,
            priority: e.priority,
            kind: e.kind,
            assignee: e.assignee.clone(),
            tags,
            milestone: e.milestone.clone(),
            estimated_hours: Some(e.estimated_hours),
            actual_hours: Some(e.actual_hours),
            acceptance_criteria: Some(
                e.context
                    .acceptance_criteria
                    .iter()
                    .filter(|c| !c.trim().is_empty())
                    .cloned()
                    .collect(),
            ),
            due_date: Some(e.due_date),
            points: Some(e.points),
        }
    }

    /// These fields with every optional field not carried: what an integration that maps
    /// none of them reports.
    pub fn without_optional(mut self) -> Self {
        self.estimated_hours = None;
        self.actual_hours = None;
        self.acceptance_criteria = None;
        self.due_date = None;
        self.points = None;
        self
    }

    /// Whether this side carries `field` (the eight core fields always).
    pub fn carries(&self, field: SyncedField) -> bool {
        match field {
            SyncedField::EstimatedHours => self.estimated_hours.is_some(),
            SyncedField::ActualHours => self.actual_hours.is_some(),
            SyncedField::AcceptanceCriteria => self.acceptance_criteria.is_some(),
            SyncedField::DueDate => self.due_date.is_some(),
            SyncedField::Points => self.points.is_some(),
            _ => true,
        }
    }

    /// Writes these fields into an entry (status changes keep `closedAt` consistent).
    pub fn apply_to(&self, e: &mut Entry, now: Timestamp) {
        e.title = self.title.clone();
        e.description = self.description.clone();
        crate::ops::set_status(e, self.status, now);
        e.priority = self.priority;
        e.kind = self.kind;
        e.assignee = self.assignee.clone();
        e.tags = self.tags.clone();
        e.milestone = self.milestone.clone();
        // The optional fields only when carried. An entry with worklogs keeps their sum as
        // its actual hours.
        if let Some(h) = self.estimated_hours {
            e.estimated_hours = h;
        }
        if let Some(h) = self.actual_hours
            && e.worklogs.is_empty()
        {
            e.actual_hours = h;
        }
        if let Some(c) = &self.acceptance_criteria {
            let current: Vec<&String> = e
                .context
                .acceptance_criteria
                .iter()
                .filter(|c| !c.trim().is_empty())
                .collect();
            // Blank criteria stay when nothing else changed.
            if current.len() != c.len() || current.iter().zip(c).any(|(a, b)| *a != b) {
                e.context.acceptance_criteria = c.clone();
            }
        }
        if let Some(d) = self.due_date {
            e.due_date = d;
        }
        if let Some(p) = self.points {
            e.points = p;
        }
    }

    /// Whether `field` holds another value in `other`. An optional field differs only when
    /// both sides carry it.
    pub fn differs(&self, other: &SyncedFields, field: SyncedField) -> bool {
        match field {
            SyncedField::Title => self.title != other.title,
            SyncedField::Description => self.description != other.description,
            SyncedField::Status => self.status != other.status,
            SyncedField::Priority => self.priority != other.priority,
            SyncedField::Type => self.kind != other.kind,
            SyncedField::Assignee => self.assignee != other.assignee,
            SyncedField::Tags => self.tags != other.tags,
            SyncedField::Milestone => self.milestone != other.milestone,
            SyncedField::EstimatedHours => {
                both_differ(&self.estimated_hours, &other.estimated_hours)
            }
            SyncedField::ActualHours => both_differ(&self.actual_hours, &other.actual_hours),
            SyncedField::AcceptanceCriteria => {
                both_differ(&self.acceptance_criteria, &other.acceptance_criteria)
            }
            SyncedField::DueDate => both_differ(&self.due_date, &other.due_date),
            SyncedField::Points => both_differ(&self.points, &other.points),
        }
    }

    /// Takes the values of `which` from `other`.
    pub fn copy_from(&mut self, other: &SyncedFields, which: &FieldSet) {
        for f in which.iter() {
            match f {
                SyncedField::Title => self.title.clone_from(&other.title),
                SyncedField::Description => self.description.clone_from(&other.description),
                SyncedField::Status => self.status = other.status,
                SyncedField::Priority => self.priority = other.priority,
                SyncedField::Type => self.kind = other.kind,
                SyncedField::Assignee => self.assignee.clone_from(&other.assignee),
                SyncedField::Tags => self.tags.clone_from(&other.tags),
                SyncedField::Milestone => self.milestone.clone_from(&other.milestone),
                SyncedField::EstimatedHours => self.estimated_hours = other.estimated_hours,
                SyncedField::ActualHours => self.actual_hours = other.actual_hours,
                SyncedField::AcceptanceCriteria => self
                    .acceptance_criteria
                    .clone_from(&other.acceptance_criteria),
                SyncedField::DueDate => self.due_date = other.due_date,
                SyncedField::Points => self.points = other.points,
            }
        }
    }

    /// The fields that differ from `base`; every field when there is no base.
    pub fn changed_since(&self, base: Option<&SyncedFields>) -> FieldSet {
        match base {
            None => FieldSet::all(),
            Some(b) => SyncedField::ALL
                .iter()
                .copied()
                .filter(|f| self.differs(b, *f))
                .collect(),
        }
    }

    /// One field's value as its JSON (what a [`FieldConflict`] shows and stores).
    pub fn value(&self, field: SyncedField) -> Value {
        match field {
            SyncedField::Title => Value::from(self.title.as_str()),
            SyncedField::Description => Value::from(self.description.as_str()),
            SyncedField::Status => Value::from(self.status.as_str()),
            SyncedField::Priority => Value::from(self.priority.as_str()),
            SyncedField::Type => Value::from(self.kind.as_str()),
            SyncedField::Assignee => self.assignee.as_deref().map_or(Value::Null, Value::from),
            SyncedField::Tags => Value::from(self.tags.clone()),
            SyncedField::Milestone => self.milestone.as_deref().map_or(Value::Null, Value::from),
            SyncedField::EstimatedHours => self
                .estimated_hours
                .flatten()
                .map_or(Value::Null, Value::from),
            SyncedField::ActualHours => {
                self.actual_hours.flatten().map_or(Value::Null, Value::from)
            }
            SyncedField::AcceptanceCriteria => self
                .acceptance_criteria
                .as_ref()
                .map_or(Value::Null, |c| Value::from(c.clone())),
            SyncedField::DueDate => self.due_date.flatten().map_or(Value::Null, |d| {
                Value::from(d.format("%Y-%m-%d").to_string())
            }),
            SyncedField::Points => self.points.flatten().map_or(Value::Null, Value::from),
        }
    }

    /// Sets one field from its JSON (a conflict's recorded value); a value of the wrong shape
    /// is an `Invalid` error naming the field and what it takes.
    pub fn set_value(&mut self, field: SyncedField, v: &Value) -> Result<(), StoreError> {
        let bad =
            |what: &str| StoreError::invalid(field.as_str(), format!("expected {what}, got {v}"));
        let text = || v.as_str().ok_or_else(|| bad("a string"));
        match field {
            SyncedField::Title => self.title = text()?.to_string(),
            SyncedField::Description => self.description = text()?.to_string(),
            SyncedField::Status => self.status = text()?.parse()?,
            SyncedField::Priority => self.priority = text()?.parse()?,
            SyncedField::Type => self.kind = text()?.parse()?,
            SyncedField::Assignee | SyncedField::Milestone => {
                let value = match v {
                    Value::Null => None,
                    _ => Some(
                        v.as_str()
                            .ok_or_else(|| bad("a string or null"))?
                            .to_string(),
                    ),
                };
                if field == SyncedField::Assignee {
                    self.assignee = value;
                } else {
                    self.milestone = value;
                }
            }
            SyncedField::Tags | SyncedField::AcceptanceCriteria => {
                let list = v
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|t| t.as_str().map(String::from))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| bad("a list of strings"))?;
                if field == SyncedField::Tags {
                    self.tags = list;
                } else {
                    self.acceptance_criteria = Some(list);
                }
            }
            SyncedField::EstimatedHours | SyncedField::ActualHours => {
                let hours = match v {
                    Value::Null => None,
                    _ => Some(
                        v.as_f64()
                            .filter(|h| h.is_finite() && *h >= 0.0)
                            .ok_or_else(|| bad("a number of hours (0 or more) or null"))?,
                    ),
                };
                if field == SyncedField::EstimatedHours {
                    self.estimated_hours = Some(hours);
                } else {
                    self.actual_hours = Some(hours);
                }
            }
            SyncedField::DueDate => {
                let date = match v {
                    Value::Null => None,
                    _ => Some(
                        v.as_str()
                            .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                            .ok_or_else(|| bad("a date (YYYY-MM-DD) or null"))?,
                    ),
                };
                self.due_date = Some(date);
            }
            SyncedField::Points => {
                let points = match v {
                    Value::Null => None,
                    _ => Some(
                        v.as_f64()
                            .filter(|p| p.is_finite() && *p >= 0.0)
                            .ok_or_else(|| bad("a number of story points (0 or more) or null"))?,
                    ),
                };
                self.points = Some(points);
            }
        }
        Ok(())
    }
}

/// How a true conflict (both sides changed a field differently) is settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    LocalWins,
    RemoteWins,
    /// The side changed most recently wins (ties go to local).
    NewestWins,
    /// Keep both values as a recorded conflict; local keeps its value and the field is not
    /// pushed until someone resolves it.
    #[default]
    Manual,
}

impl Strategy {
    pub const ALL: &'static [(&'static str, Strategy)] = &[
        ("local-wins", Strategy::LocalWins),
        ("remote-wins", Strategy::RemoteWins),
        ("newest-wins", Strategy::NewestWins),
        ("manual", Strategy::Manual),
    ];

    /// Its name in devlog.toml and on the command line (`newest-wins`).
    pub fn as_str(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| s == self)
            .map_or("manual", |(n, _)| n)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a synced field belongs to when an entry is linked to several trackers: on a true
/// conflict while syncing with integration X, the owner's value wins — X's when X owns the
/// field, the entry's otherwise (the entry holds what its owner sent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldOwner {
    /// devlog itself (`devlog` or `local` in the configuration).
    Devlog,
    /// An integration, by its name (`github`, `jira`, `azure-devops`).
    Integration(String),
}

impl FieldOwner {
    /// The owner's name: `devlog`, or the integration's.
    pub fn as_str(&self) -> &str {
        match self {
            FieldOwner::Devlog => "devlog",
            FieldOwner::Integration(n) => n,
        }
    }
}

impl fmt::Display for FieldOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FieldOwner {
    type Err = String;

    /// `devlog` or `local` (the entry), or an integration name (lower-case letters, digits,
    /// `-` and `_`). Whether that integration is configured is the configuration's check.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "devlog" | "local" => Ok(FieldOwner::Devlog),
            _ if !s.is_empty()
                && s.len() <= 64
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                }) =>
            {
                Ok(FieldOwner::Integration(s.to_string()))
            }
            _ => Err(format!(
                "`{s}` is not an owner: use `devlog` (or `local`) or an integration's name \
                 (`github`, `jira`, `azure-devops`, …)"
            )),
        }
    }
}

impl Serialize for FieldOwner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldOwner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Per-field ownership (`[sync] owners = { status = "jira", title = "devlog" }`): which side
/// wins a true conflict on each owned field. Fields without an owner follow the
/// [`Strategy`]. Serialises as that table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldOwners(BTreeMap<SyncedField, FieldOwner>);

static NO_OWNERS: FieldOwners = FieldOwners(BTreeMap::new());

impl FieldOwners {
    pub fn new() -> Self {
        Self::default()
    }

    /// No field has an owner.
    pub fn none() -> &'static FieldOwners {
        &NO_OWNERS
    }

    /// The same ownership with `field` owned by `owner`.
    pub fn with(mut self, field: SyncedField, owner: FieldOwner) -> Self {
        self.0.insert(field, owner);
        self
    }

    pub fn owner(&self, field: SyncedField) -> Option<&FieldOwner> {
        self.0.get(&field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (SyncedField, &FieldOwner)> + '_ {
        self.0.iter().map(|(f, o)| (*f, o))
    }

    /// Parses `field = owner` pairs as written in the configuration; an error names the
    /// field (`owners.status`) and what it takes.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, StoreError> {
        let mut out = FieldOwners::new();
        for (field, owner) in pairs {
            let f: SyncedField = field.parse().map_err(|_| {
                StoreError::invalid(
                    format!("owners.{field}"),
                    format!(
                        "`{field}` is not a synced field; the fields are {}",
                        SyncedField::allowed().join(", ")
                    ),
                )
            })?;
            let o: FieldOwner = owner
                .parse()
                .map_err(|e: String| StoreError::invalid(format!("owners.{field}"), e))?;
            out.0.insert(f, o);
        }
        Ok(out)
    }

    /// Which rule settles a true conflict on `field` while syncing with `integration`, and
    /// whether it takes the remote value (`None`: held for a person, [`Strategy::Manual`]).
    pub fn decide(
        &self,
        field: SyncedField,
        integration: &str,
        strategy: Strategy,
        local_updated: Timestamp,
        remote_updated: Timestamp,
    ) -> (Rule, Option<Side>) {
        if let Some(owner) = self.owner(field) {
            let side = match owner {
                FieldOwner::Integration(n) if n == integration => Side::Remote,
                // devlog, or another tracker whose value the entry already holds.
                _ => Side::Local,
            };
            return (
                Rule::Owner {
                    owner: owner.clone(),
                },
                Some(side),
            );
        }
        let side = match strategy {
            Strategy::LocalWins => Some(Side::Local),
            Strategy::RemoteWins => Some(Side::Remote),
            Strategy::NewestWins if remote_updated > local_updated => Some(Side::Remote),
            Strategy::NewestWins => Some(Side::Local),
            Strategy::Manual => None,
        };
        (Rule::Strategy { strategy }, side)
    }
}

impl Serialize for FieldOwners {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(f, o)| (f.as_str(), o.as_str())))
    }
}

impl<'de> Deserialize<'de> for FieldOwners {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        FieldOwners::parse(raw.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

/// The side whose value a settled conflict kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Local,
    Remote,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Local => "local",
            Side::Remote => "remote",
        })
    }
}

/// Which rule decided a true conflict: the field's owner, or the `[sync] strategy` for a
/// field nobody owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "rule")]
pub enum Rule {
    Owner { owner: FieldOwner },
    Strategy { strategy: Strategy },
}

/// `owned by jira`, `strategy newest-wins`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Owner { owner } => write!(f, "owned by {owner}"),
            Rule::Strategy { strategy } => write!(f, "strategy {strategy}"),
        }
    }
}

/// What [`merge`] follows on a true conflict: field owners first, the strategy for the
/// fields nobody owns; `integration` is the side being merged (the "remote").
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub strategy: Strategy,
    pub owners: &'a FieldOwners,
    pub integration: &'a str,
}

impl Policy<'static> {
    /// The strategy alone (no field owned).
    pub fn strategy(strategy: Strategy) -> Self {
        Policy {
            strategy,
            owners: FieldOwners::none(),
            integration: "",
        }
    }
}

/// A field both sides changed to different values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldConflict {
    pub field: SyncedField,
    pub base: Value,
    pub local: Value,
    pub remote: Value,
}

/// A true conflict settled without a person: which side won and by which rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settled {
    #[serde(flatten)]
    pub conflict: FieldConflict,
    pub winner: Side,
    #[serde(flatten)]
    pub rule: Rule,
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The fields both sides should hold afterwards (for unresolved manual conflicts, local's
    /// value).
    pub fields: SyncedFields,
    /// Fields whose merged value differs from local: apply them to the entry.
    pub to_local: FieldSet,
    /// Fields whose merged value differs from remote and are not held by a conflict: push
    /// them.
    pub to_remote: FieldSet,
    /// True conflicts left for a human (unowned fields under [`Strategy::Manual`]).
    pub conflicts: Vec<FieldConflict>,
    /// True conflicts settled by an owner or the strategy (reported, not stored).
    pub auto_resolved: Vec<Settled>,
}

/// Merges `local` and `remote` against `base` field by field; a true conflict is settled by
/// the field's owner, else by the strategy (see [`FieldOwners::decide`]). Without a base
/// (first sync of an item linked to an existing entry), every differing field is a conflict.
pub fn merge(
    base: Option<&SyncedFields>,
    local: &SyncedFields,
    remote: &SyncedFields,
    policy: Policy<'_>,
    local_updated: Timestamp,
    remote_updated: Timestamp,
) -> Merged {
    let mut fields = local.clone();
    let mut conflicts = Vec::new();
    let mut auto_resolved = Vec::new();
    let mut held = FieldSet::EMPTY;
    for &f in SyncedField::ALL {
        let unchanged = |side: &SyncedFields| base.is_some_and(|b| !b.differs(side, f));
        let take_remote = if !local.differs(remote, f) || unchanged(remote) {
            false // the same on both sides, or only local changed
        } else if unchanged(local) {
            true // only remote changed
        } else {
            let c = FieldConflict {
                field: f,
                base: base.map_or(Value::Null, |b| b.value(f)),
                local: local.value(f),
                remote: remote.value(f),
            };
            let (rule, side) = policy.owners.decide(
                f,
                policy.integration,
                policy.strategy,
                local_updated,
                remote_updated,
            );
            match side {
                Some(winner) => {
                    auto_resolved.push(Settled {
                        conflict: c,
                        winner,
                        rule,
                    });
                    winner == Side::Remote
                }
                None => {
                    held.insert(f);
                    conflicts.push(c);
                    false
                }
            }
        };
        if take_remote {
            fields.copy_from(remote, &FieldSet::from([f]));
        }
    }
    let differ = |other: &SyncedFields| -> FieldSet {
        SyncedField::ALL
            .iter()
            .copied()
            .filter(|f| fields.differs(other, *f))
            .collect()
    };
    let to_local = differ(local);
    let to_remote = differ(remote).without(held);
    Merged {
        fields,
        to_local,
        to_remote,
        conflicts,
        auto_resolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(title: &str, status: Status) -> SyncedFields {
        SyncedFields {
            title: title.into(),
            description: String::new(),
            status,
            priority: Priority::Medium,
            kind: EntryType::Task,
            assignee: None,
            tags: vec![],
            milestone: None,
            estimated_hours: Some(None),
            actual_hours: Some(None),
            acceptance_criteria: Some(vec![]),
            due_date: Some(None),
            points: Some(None),
        }
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    #[test]
    fn non_overlapping_changes_merge() {
        let base = f("A", Status::New);
        let local = f("A2", Status::New);
        let remote = f("A", Status::Done);
        let m = merge(
            Some(&base),
            &local,
            &remote,
            Policy::strategy(Strategy::Manual),
            t(0),
            t(0),
        );
        assert_eq!(m.fields, f("A2", Status::Done));
        assert_eq!(m.to_local, FieldSet::from([SyncedField::Status]));
        assert_eq!(m.to_remote, FieldSet::from([SyncedField::Title]));
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn true_conflicts_follow_the_strategy() {
        let base = f("A", Status::New);
        let local = f("Local", Status::New);
        let remote = f("Remote", Status::New);
        let manual = merge(
            Some(&base),
            &local,
            &remote,
            Policy::strategy(Strategy::Manual),
            t(1),
            t(2),
        );
        assert_eq!(manual.conflicts.len(), 1);
        assert_eq!(manual.fields.title, "Local");
        assert!(manual.to_remote.is_empty(), "held fields are not pushed");
        let newest = merge(
            Some(&base),
            &local,
            &remote,
            Policy::strategy(Strategy::NewestWins),
            t(1),
            t(2),
        );
        assert_eq!(newest.fields.title, "Remote");
        assert_eq!(newest.auto_resolved.len(), 1);
        let lw = merge(
            Some(&base),
            &local,
            &remote,
            Policy::strategy(Strategy::LocalWins),
            t(1),
            t(2),
        );
        assert_eq!(
            (lw.fields.title.as_str(), lw.to_remote),
            ("Local", FieldSet::from([SyncedField::Title]))
        );
        let rw = merge(
            Some(&base),
            &local,
            &remote,
            Policy::strategy(Strategy::RemoteWins),
            t(1),
            t(2),
        );
        assert_eq!(
            (rw.fields.title.as_str(), rw.to_local),
            ("Remote", FieldSet::from([SyncedField::Title]))
        );
    }

    #[test]
    fn without_a_base_every_difference_is_a_conflict() {
        let m = merge(
            None,
            &f("L", Status::New),
            &f("R", Status::New),
            Policy::strategy(Strategy::Manual),
            t(0),
            t(0),
        );
        assert_eq!(m.conflicts.len(), 1);
    }

    #[test]
    fn field_names_are_the_json_keys_of_synced_fields() {
        let json = serde_json::to_value(f("A", Status::New)).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names: Vec<&str> = SyncedField::ALL.iter().map(|f| f.as_str()).collect();
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names);
        for field in SyncedField::ALL {
            assert_eq!(field.as_str().parse::<SyncedField>().unwrap(), *field);
            assert_eq!(
                serde_json::to_value(field).unwrap(),
                Value::from(field.as_str())
            );
            // `value` is the field's JSON in the serialised struct.
            assert_eq!(f("A", Status::New).value(*field), json[field.as_str()]);
        }
    }

    #[test]
    fn an_unknown_field_name_lists_the_allowed_ones() {
        let e = "kind".parse::<SyncedField>().unwrap_err().to_string();
        assert!(
            e.contains("kind") && e.contains("title") && e.contains("tags"),
            "{e}"
        );
    }

    #[test]
    fn field_sets_serialise_as_lists_of_names() {
        let s = FieldSet::from([SyncedField::Tags, SyncedField::Title]);
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json, serde_json::json!(["title", "tags"]));
        assert_eq!(serde_json::from_value::<FieldSet>(json).unwrap(), s);
        assert!(serde_json::from_value::<FieldSet>(serde_json::json!(["nope"])).is_err());
        assert_eq!(s.to_string(), "title, tags");
        assert_eq!(FieldSet::all().len(), SyncedField::ALL.len());
        assert_eq!(FieldSet::all().without(s).len(), SyncedField::ALL.len() - 2);
    }

    #[test]
    fn changed_since_and_copy_from_are_typed_per_field() {
        let base = f("A", Status::New);
        let mut now = f("B", Status::Done);
        now.tags = vec!["x".into()];
        now.milestone = Some("Sprint 1".into());
        let changed = now.changed_since(Some(&base));
        assert_eq!(
            changed,
            FieldSet::from([
                SyncedField::Title,
                SyncedField::Status,
                SyncedField::Tags,
                SyncedField::Milestone
            ])
        );
        assert_eq!(now.changed_since(None), FieldSet::all());
        let mut copy = base.clone();
        copy.copy_from(&now, &FieldSet::from([SyncedField::Title]));
        assert_eq!(copy.title, "B");
        assert_eq!(copy.status, Status::New);
        copy.copy_from(&now, &changed);
        assert_eq!(copy, now);
    }

    #[test]
    fn set_value_takes_a_conflicts_json_or_names_the_expected_shape() {
        let mut x = f("A", Status::New);
        let mut remote = f("R", Status::Done);
        remote.milestone = Some("v2".into());
        for field in SyncedField::ALL {
            x.set_value(*field, &remote.value(*field)).unwrap();
        }
        assert_eq!(x, remote);
        let e = x
            .set_value(SyncedField::Status, &Value::from("sideways"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("in-progress"), "{e}");
        let e = x
            .set_value(SyncedField::Tags, &Value::from(3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tags") && e.contains("a list of strings"), "{e}");
        x.set_value(SyncedField::Assignee, &Value::Null).unwrap();
        assert_eq!(x.assignee, None);
        x.set_value(SyncedField::Milestone, &Value::Null).unwrap();
        assert_eq!(x.milestone, None);
        let e = x
            .set_value(SyncedField::Milestone, &Value::from(1))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("milestone") && e.contains("a string or null"),
            "{e}"
        );
    }

    #[test]
    fn an_owned_field_goes_to_its_owner_and_the_rest_follow_the_strategy() {
        let owners = FieldOwners::new()
            .with(SyncedField::Status, FieldOwner::Integration("jira".into()))
            .with(SyncedField::Title, FieldOwner::Devlog);
        let base = f("A", Status::New);
        let mut local = f("Local", Status::Blocked);
        local.priority = Priority::Low;
        let mut remote = f("Remote", Status::Done);
        remote.priority = Priority::High;
        let policy = |integration| Policy {
            strategy: Strategy::Manual,
            owners: &owners,
            integration,
        };
        // Syncing with Jira: Jira owns status (remote wins), devlog owns the title (local
        // wins), priority is nobody's (manual: held).
        let m = merge(Some(&base), &local, &remote, policy("jira"), t(0), t(0));
        assert_eq!(m.fields.status, Status::Done);
        assert_eq!(m.fields.title, "Local");
        assert_eq!(m.fields.priority, Priority::Low);
        assert_eq!(m.to_local, FieldSet::from([SyncedField::Status]));
        assert_eq!(m.to_remote, FieldSet::from([SyncedField::Title]));
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].field, SyncedField::Priority);
        let rules: Vec<(SyncedField, Side, String)> = m
            .auto_resolved
            .iter()
            .map(|s| (s.conflict.field, s.winner, s.rule.to_string()))
            .collect();
        assert_eq!(
            rules,
            vec![
                (SyncedField::Title, Side::Local, "owned by devlog".into()),
                (SyncedField::Status, Side::Remote, "owned by jira".into()),
            ]
        );
        // Syncing with GitHub: Jira's status is what the entry holds, so local wins.
        let m = merge(Some(&base), &local, &remote, policy("github"), t(0), t(9));
        assert_eq!(m.fields.status, Status::Blocked);
        assert_eq!(
            m.to_remote,
            FieldSet::from([SyncedField::Title, SyncedField::Status])
        );
        // Only one side changed: no conflict, ownership does not matter.
        let m = merge(Some(&base), &base, &remote, policy("github"), t(0), t(0));
        assert_eq!(m.fields, remote);
        assert!(m.auto_resolved.is_empty());
    }

    #[test]
    fn owners_parse_with_errors_naming_the_key_and_serialise_as_a_table() {
        let o = FieldOwners::parse([("status", "jira"), ("title", "local")]).unwrap();
        assert_eq!(
            o.owner(SyncedField::Status),
            Some(&FieldOwner::Integration("jira".into()))
        );
        assert_eq!(o.owner(SyncedField::Title), Some(&FieldOwner::Devlog));
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({"title": "devlog", "status": "jira"})
        );
        let back: FieldOwners =
            serde_json::from_value(serde_json::json!({"title": "devlog", "status": "jira"}))
                .unwrap();
        assert_eq!(back, o);
        let e = FieldOwners::parse([("state", "jira")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("owners.state") && e.contains("status"), "{e}");
        let e = FieldOwners::parse([("status", "Jira!")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("owners.status") && e.contains("devlog"), "{e}");
        let e = serde_json::from_value::<FieldOwners>(serde_json::json!({"status": 3}))
            .unwrap_err()
            .to_string();
        assert!(!e.is_empty());
        let s = serde_json::to_value(Settled {
            conflict: FieldConflict {
                field: SyncedField::Status,
                base: "new".into(),
                local: "blocked".into(),
                remote: "done".into(),
            },
            winner: Side::Remote,
            rule: Rule::Owner {
                owner: FieldOwner::Integration("jira".into()),
            },
        })
        .unwrap();
        assert_eq!(s["rule"], "owner");
        assert_eq!(s["owner"], "jira");
        assert_eq!(s["winner"], "remote");
        assert_eq!(s["field"], "status");
    }

    #[test]
    fn optional_fields_are_compared_only_when_both_sides_carry_them() {
        let mut local = f("A", Status::New);
        local.estimated_hours = Some(Some(5.0));
        local.acceptance_criteria = Some(vec!["fast".into()]);
        // An integration that maps none of them (GitHub): never a difference, never sent.
        let github = f("A", Status::New).without_optional();
        for field in SyncedField::ALL.iter().filter(|f| f.is_optional()) {
            assert!(!github.carries(*field));
            assert!(!local.differs(&github, *field), "{field}");
        }
        let m = merge(
            Some(&github),
            &local,
            &github,
            Policy::strategy(Strategy::Manual),
            t(0),
            t(0),
        );
        assert!(m.to_remote.is_empty() && m.to_local.is_empty(), "{m:?}");
        assert_eq!(m.fields, local);
        // One that maps the estimate: changed remotely, it comes back; locally, it is sent.
        let mut base = f("A", Status::New).without_optional();
        base.estimated_hours = Some(Some(5.0));
        let mut jira = base.clone();
        jira.estimated_hours = Some(Some(8.0));
        let m = merge(
            Some(&base),
            &local,
            &jira,
            Policy::strategy(Strategy::Manual),
            t(0),
            t(0),
        );
        assert_eq!(m.to_local, FieldSet::from([SyncedField::EstimatedHours]));
        assert!(m.to_remote.is_empty());
        assert_eq!(m.fields.estimated_hours, Some(Some(8.0)));
        let mut local2 = local.clone();
        local2.estimated_hours = Some(Some(3.0));
        let m = merge(
            Some(&base),
            &local2,
            &base,
            Policy::strategy(Strategy::Manual),
            t(0),
            t(0),
        );
        assert_eq!(m.to_remote, FieldSet::from([SyncedField::EstimatedHours]));
        // Both changed: a conflict like any other field.
        let m = merge(
            Some(&base),
            &local2,
            &jira,
            Policy::strategy(Strategy::Manual),
            t(0),
            t(0),
        );
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].field, SyncedField::EstimatedHours);
        assert_eq!(m.conflicts[0].remote, serde_json::json!(8.0));
    }

    #[test]
    fn optional_fields_serialise_absent_when_not_carried_and_null_when_empty() {
        let none = f("A", Status::New).without_optional();
        let json = serde_json::to_value(&none).unwrap();
        assert!(json.get("estimatedHours").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<SyncedFields>(json).unwrap(), none);
        let empty = f("A", Status::New);
        let json = serde_json::to_value(&empty).unwrap();
        assert_eq!(json["estimatedHours"], Value::Null);
        assert_eq!(json["dueDate"], Value::Null);
        assert_eq!(serde_json::from_value::<SyncedFields>(json).unwrap(), empty);
        let mut set = f("A", Status::New);
        set.set_value(SyncedField::DueDate, &Value::from("2026-12-24"))
            .unwrap();
        set.set_value(SyncedField::EstimatedHours, &Value::from(2.5))
            .unwrap();
        assert_eq!(
            serde_json::to_value(&set).unwrap()["dueDate"],
            Value::from("2026-12-24")
        );
        let e = set
            .set_value(SyncedField::EstimatedHours, &Value::from(-1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("estimatedHours") && e.contains("hours"), "{e}");
        assert!(
            set.set_value(SyncedField::DueDate, &Value::from("soon"))
                .is_err()
        );
        // An entry with worklogs keeps their sum as its actual hours.
        let mut entry: Entry = serde_json::from_value(serde_json::json!({
            "id": crate::id::EntryId::new_random().to_string(), "handle": 1, "key": "a",
            "title": "A", "type": "task", "description": "", "status": "new",
            "priority": "medium", "createdAt": t(0), "updatedAt": t(0)
        }))
        .unwrap();
        let mut pulled = SyncedFields::from_entry(&entry);
        pulled.actual_hours = Some(Some(4.0));
        pulled.estimated_hours = Some(Some(2.0));
        pulled.apply_to(&mut entry, t(1));
        assert_eq!(
            (entry.estimated_hours, entry.actual_hours),
            (Some(2.0), Some(4.0))
        );
        // Not carried: the entry keeps its values.
        SyncedFields::from_entry(&entry)
            .without_optional()
            .apply_to(&mut entry, t(2));
        assert_eq!(entry.estimated_hours, Some(2.0));
    }
}
