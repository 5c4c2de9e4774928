//! The storage port: what every backend (JSON files, SQLite, PostgreSQL, MySQL) provides.
//!
//! Architecture invariant: a backend passes the conformance suite in `devlog-testkit`; nothing
//! above this trait knows which backend it talks to.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::entry::{Entry, EntrySummary, EntryType, Priority, Status};
use crate::error::Result;
use crate::event::{Event, WriteMeta};
use crate::id::{EntryId, EntryRef};
use crate::time::Timestamp;

/// Filters for listing, searching and statistics. Empty vectors mean "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Filter {
    pub status: Vec<Status>,
    #[serde(rename = "type")]
    pub kind: Vec<EntryType>,
    pub priority: Vec<Priority>,
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub updated_after: Option<Timestamp>,
    pub updated_before: Option<Timestamp>,
    /// Only entries that are not done or closed.
    pub open_only: bool,
    /// Only entries with a due date before this day (`--due-before`; overdue work is open
    /// work due before today: `Devlog::overdue`).
    pub due_before: Option<chrono::NaiveDate>,
    /// Only entries in this milestone (its name, exactly).
    pub milestone: Option<String>,
    /// Only entries whose handle is above this one: keyset paging over handle order
    /// (`SortKey::Handle`, ascending), so reading every entry a page at a time costs the same
    /// per page however deep it is, where an offset makes each page skip all the earlier ones.
    pub handle_after: Option<u64>,
}

impl Filter {
    /// Whether `e` passes this filter; backends that filter in memory use this, and the
    /// conformance suite checks SQL backends against it.
    pub fn matches(&self, e: &EntrySummary) -> bool {
        (self.status.is_empty() || self.status.contains(&e.status))
            && (self.kind.is_empty() || self.kind.contains(&e.kind))
            && (self.priority.is_empty() || self.priority.contains(&e.priority))
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| e.assignee.as_deref() == Some(a.as_str()))
            && self
                .tag
                .as_ref()
                .is_none_or(|t| e.tags.iter().any(|x| x == t))
            && self.created_after.is_none_or(|t| e.created_at >= t)
            && self.created_before.is_none_or(|t| e.created_at < t)
            && self.updated_after.is_none_or(|t| e.updated_at >= t)
            && self.updated_before.is_none_or(|t| e.updated_at < t)
            && (!self.open_only || !e.status.is_closed())
            && self
                .due_before
                .is_none_or(|d| e.due_date.is_some_and(|x| x < d))
            && self
                .milestone
                .as_ref()
                .is_none_or(|m| e.milestone.as_deref() == Some(m.as_str()))
            && self.handle_after.is_none_or(|h| e.handle > h)
    }
}

/// What to sort a list by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SortKey {
    #[default]
    Updated,
    Created,
    Priority,
    Status,
    Title,
    Handle,
    /// By due date; entries without one come last in either direction.
    Due,
}

impl SortKey {
    pub const ALL: &'static [(&'static str, SortKey)] = &[
        ("updated", SortKey::Updated),
        ("created", SortKey::Created),
        ("priority", SortKey::Priority),
        ("status", SortKey::Status),
        ("title", SortKey::Title),
        ("handle", SortKey::Handle),
        ("due", SortKey::Due),
    ];
}

/// A list request: filter, order and page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListQuery {
    pub filter: Filter,
    pub sort: SortKey,
    /// Ascending instead of the default descending order.
    pub ascending: bool,
    pub offset: usize,
    pub limit: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filter: Filter::default(),
            sort: SortKey::Updated,
            ascending: false,
            offset: 0,
            limit: 50,
        }
    }
}

/// A full-text search request. Every word must match (a prefix of a word counts); hits are
/// ranked with title above description above notes and context. When more than
/// [`TOTAL_CAP`] entries match and the page lies within the first [`TOTAL_CAP`] results, the
/// SQLite-index backends rank the [`TOTAL_CAP`] most recently indexed matches only, so a search costs the
/// same whatever the number of hits (docs/performance.md); deeper pages rank every match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchQuery {
    pub text: String,
    pub filter: Filter,
    pub offset: usize,
    pub limit: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self {
            text: String::new(),
            filter: Filter::default(),
            offset: 0,
            limit: 20,
        }
    }
}

/// How many matches a backend counts for a page's total before it stops: counting every match
/// would make a page cost as much as the whole result (docs/performance.md). Above it the
/// total is a lower bound, marked [`Page::total_is_estimate`].
pub const TOTAL_CAP: usize = 1_000;

/// The most matches a backend counts (and search ranks) for a page at `offset` of `limit`:
/// [`TOTAL_CAP`], or more for a page that reaches past it, so the total of a page that is not
/// the last is always above `offset + limit` and callers paging on it go on.
pub fn count_cap(offset: usize, limit: usize) -> usize {
    TOTAL_CAP.max(offset.saturating_add(limit).saturating_add(1))
}

/// One page of results and the total number of matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The number of matches; when `total_is_estimate`, at least this many (see [`count_cap`]).
    pub total: u64,
    pub offset: usize,
    pub limit: usize,
    /// More matches than the backend counted: `total` is a lower bound ("1,000+").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub total_is_estimate: bool,
}

impl<T> Page<T> {
    /// The total for people: `"1,000+"` when it is an estimate, else the number.
    pub fn total_label(&self) -> String {
        let mut s = group_thousands(self.total);
        if self.total_is_estimate {
            s.push('+');
        }
        s
    }
}

/// `1234567` as `"1,234,567"`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A search result: the entry, its rank (higher is better) and a snippet around the match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    #[serde(flatten)]
    pub entry: EntrySummary,
    pub score: f64,
    pub snippet: String,
}

/// Counts and timings over the entries that pass a filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total: u64,
    pub open: u64,
    pub closed: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_type: BTreeMap<String, u64>,
    pub by_priority: BTreeMap<String, u64>,
    pub by_assignee: BTreeMap<String, u64>,
    /// Completed entries with a known completion time.
    pub completed_with_time: u64,
    /// Mean hours from creation to completion (closedAt, or updatedAt for imported entries
    /// that never recorded closedAt).
    pub avg_completion_hours: Option<f64>,
    pub median_completion_hours: Option<f64>,
}

/// The key under which [`Store::tag_counts`] counts the entries without a tag.
pub const NO_TAG: &str = "(no tag)";

/// Tag counts over summaries, computed in memory: what [`Store::tag_counts`] answers for the
/// entries that pass its filter (the reference the conformance suite compares with).
pub fn tag_counts_of<'a>(
    entries: impl IntoIterator<Item = &'a EntrySummary>,
) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for e in entries {
        add_tags(&mut counts, &e.tags);
    }
    counts
}

fn add_tags(counts: &mut BTreeMap<String, u64>, tags: &[String]) {
    if tags.is_empty() {
        *counts.entry(NO_TAG.to_string()).or_default() += 1;
    }
    for t in tags {
        *counts.entry(t.clone()).or_default() += 1;
    }
}

/// Statistics over summaries, computed in memory: the reference the conformance suite
/// compares every backend's `Store::stats` with (all agree through [`StatsBuilder`]).
pub fn compute_stats(entries: &[EntrySummary]) -> Stats {
    let mut b = StatsBuilder::default();
    for e in entries {
        b.add(e.status, e.kind, e.priority, e.assignee.as_deref(), 1);
        if let Some(ms) = completion_ms(e.status, e.created_at, e.updated_at, e.closed_at) {
            b.completion_ms(ms);
        }
    }
    b.finish()
}

/// How long a done or closed entry took from creation to completion, in ms: to `closed_at`,
/// or `updated_at` for imported entries that never recorded it. `None` for open entries and
/// for negative spans (hand-edited dates), which the statistics ignore. The SQL stores keep
/// it as the `done_ms` column, with the same rule.
pub fn completion_ms(
    status: Status,
    created_at: Timestamp,
    updated_at: Timestamp,
    closed_at: Option<Timestamp>,
) -> Option<i64> {
    if !status.is_closed() {
        return None;
    }
    let ms = closed_at.unwrap_or(updated_at).millis() - created_at.millis();
    (ms >= 0).then_some(ms)
}

const MS_PER_HOUR: f64 = 3_600_000.0;

/// Accumulates [`Stats`] from counts and completion times: either every span
/// ([`completion_ms`](Self::completion_ms), the median found by sorting them) or their count
/// and sum with the middle spans read from an index ([`completions`](Self::completions),
/// [`median_of`](Self::median_of)). Both give the same figures for the same entries.
#[derive(Debug, Default)]
pub struct StatsBuilder {
    stats: Stats,
    spans: Vec<i64>,
    done: u64,
    done_ms: i128,
    median: Option<(i64, i64)>,
}

impl StatsBuilder {
    /// Counts `n` entries with these values.
    pub fn add(
        &mut self,
        status: Status,
        kind: EntryType,
        priority: Priority,
        assignee: Option<&str>,
        n: u64,
    ) {
        let s = &mut self.stats;
        s.total += n;
        if status.is_closed() {
            s.closed += n;
        } else {
            s.open += n;
        }
        *s.by_status.entry(status.to_string()).or_default() += n;
        *s.by_type.entry(kind.to_string()).or_default() += n;
        *s.by_priority.entry(priority.to_string()).or_default() += n;
        let who = assignee.unwrap_or("(unassigned)").to_string();
        *s.by_assignee.entry(who).or_default() += n;
    }

    /// One completed entry took `ms` from creation to completion (negative spans, from
    /// hand-edited dates, are ignored).
    pub fn completion_ms(&mut self, ms: i64) {
        if ms >= 0 {
            self.spans.push(ms);
            self.completions(1, ms);
        }
    }

    /// `n` completed entries whose spans sum to `sum_ms`.
    pub fn completions(&mut self, n: u64, sum_ms: i64) {
        self.done += n;
        self.done_ms += i128::from(sum_ms);
    }

    /// Completed entries counted so far.
    pub fn completed(&self) -> u64 {
        self.done
    }

    /// The middle span (or the two middle spans) of the completed entries, in order, as
    /// `median_window` of the store places them.
    pub fn median_of(&mut self, middle: &[i64]) {
        if let (Some(&a), Some(&b)) = (middle.first(), middle.last()) {
            self.median = Some((a, b));
        }
    }

    pub fn finish(mut self) -> Stats {
        let n = self.done;
        self.stats.completed_with_time = n;
        if n == 0 {
            return self.stats;
        }
        self.stats.avg_completion_hours = Some(self.done_ms as f64 / MS_PER_HOUR / n as f64);
        if self.median.is_none() && !self.spans.is_empty() {
            let spans = &mut self.spans;
            spans.sort_unstable();
            let m = spans.len() / 2;
            self.median = Some(if spans.len().is_multiple_of(2) {
                (spans[m - 1], spans[m])
            } else {
                (spans[m], spans[m])
            });
        }
        self.stats.median_completion_hours = self
            .median
            .map(|(a, b)| (a as f64 / MS_PER_HOUR + b as f64 / MS_PER_HOUR) / 2.0);
        self.stats
    }
}

/// What `create` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A new entry was stored (with its assigned handle and key).
    New(Entry),
    /// An open entry with the same normalized title and type already existed; nothing written.
    Existing(Entry),
}

impl Created {
    pub fn entry(&self) -> &Entry {
        match self {
            Created::New(e) | Created::Existing(e) => e,
        }
    }
    pub fn into_entry(self) -> Entry {
        match self {
            Created::New(e) | Created::Existing(e) => e,
        }
    }
    pub fn is_new(&self) -> bool {
        matches!(self, Created::New(_))
    }
}

/// What `put_raw` did with an entry copied in from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Inserted,
    /// An entry with this id existed and was replaced.
    Replaced,
    /// An identical entry was already stored.
    Unchanged,
}

/// A closure that edits an entry inside a store's atomic read-modify-write.
pub type Mutation<'a> = dyn FnMut(&mut Entry) -> Result<()> + Send + 'a;

/// Where entries live. Implementations make every write atomic and durable together with the
/// events it implies, and never lose a concurrent update.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Backend name (`json`, `sqlite`, ...) and where the data is, for messages.
    fn describe(&self) -> StoreInfo;

    /// Stores a new entry. The store assigns `handle` (next free number) and makes `key`
    /// unique. With `dedupe`, an open entry with the same normalized title and type is
    /// returned instead, checked atomically with the insert.
    async fn create(&self, entry: Entry, dedupe: bool, meta: &WriteMeta) -> Result<Created>;

    /// The entry with this id.
    async fn get(&self, id: EntryId) -> Result<Entry>;

    /// The entries a reference could mean (exact matches only; may be several).
    async fn lookup(&self, reference: &EntryRef) -> Result<Vec<EntrySummary>>;

    /// Atomically reads the entry, applies `f`, and writes the result with its events. No
    /// concurrent update is lost: either writers are serialized or a conflicting one retries.
    async fn update(&self, id: EntryId, meta: &WriteMeta, f: &mut Mutation<'_>) -> Result<Entry>;

    /// Removes an entry (its deletion is recorded in the change feed).
    async fn delete(&self, id: EntryId, meta: &WriteMeta) -> Result<()>;

    async fn list(&self, query: &ListQuery) -> Result<Page<EntrySummary>>;

    async fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>>;

    async fn stats(&self, filter: &Filter) -> Result<Stats>;

    /// How many entries passing `filter` carry each tag (an entry counts once per tag it
    /// lists), and under [`NO_TAG`] how many carry none: the `counts` report's `by tag`. The
    /// default reads every matching summary a page at a time ([`tag_counts_of`] over them);
    /// the SQL backends and the JSON backend's index group the tags in SQL instead, and the
    /// conformance suite checks that every backend's answer equals the default's.
    async fn tag_counts(&self, filter: &Filter) -> Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        crate::reports::scan(self, filter, |e| add_tags(&mut counts, &e.tags)).await?;
        Ok(counts)
    }

    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>>;

    /// The newest events with `seq < before` (`None`: the newest of the feed), at most
    /// `limit`, oldest first. Read backwards along the index on `seq`: the cost grows with
    /// `limit`, not with the feed. `events_before(None, 1)` is the end of the feed.
    async fn events_before(&self, before: Option<u64>, limit: usize) -> Result<Vec<Event>>;

    /// The newest events of one entry with `after < seq < before` (`None`: no upper bound),
    /// at most `limit`, oldest first: the entry's history (`devlog log`, undo). Read
    /// backwards along an index on `(entry, seq)`: the cost grows with the entry's events
    /// returned, never with the feed. On the JSON backend the history outlives the index
    /// (it is rebuilt from `.devlog/history/<id>.jsonl`).
    async fn entry_events(
        &self,
        id: EntryId,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>>;

    /// How many events have `after < seq < before` (`None`: no upper bound), counted on the
    /// index on `seq` without reading the events.
    async fn count_events(&self, after: u64, before: Option<u64>) -> Result<u64>;

    /// The change feed's identity: created with the feed and stable while it lives, new when
    /// the feed is rebuilt (the JSON backend's index deleted). A `seq` cursor is meaningful
    /// only in the feed it was read from; the sync engine compares the two. `None`: the
    /// backend's feed has no identity of its own (callers then check that a cursor is not
    /// beyond the feed's end).
    async fn feed_id(&self) -> Result<Option<String>>;

    /// Stores an entry exactly as given (id, key, timestamps), for import and migration. If
    /// its handle is taken by another entry it gets the next free one.
    async fn put_raw(&self, entry: Entry, meta: &WriteMeta) -> Result<PutOutcome>;

    /// `put_raw` for each entry, in order, with the same rules and events; one outcome per
    /// entry. For bulk loads (generated stores, large imports): a backend may write the batch
    /// in one transaction (SQLite: one commit, one fsync), and then either all of it is stored
    /// or, on error, none of it. The default calls `put_raw` once per entry, so after an
    /// error the entries before the failing one are stored.
    async fn put_raw_batch(
        &self,
        entries: Vec<Entry>,
        meta: &WriteMeta,
    ) -> Result<Vec<PutOutcome>> {
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            outcomes.push(self.put_raw(entry, meta).await?);
        }
        Ok(outcomes)
    }

    /// Appends events copied from another store (migration), keeping their order.
    async fn append_events(&self, events: &[Event]) -> Result<()>;

    /// Number of entries.
    async fn count(&self) -> Result<u64>;

    /// Every entry, ordered by handle; for export, migration and verification.
    async fn all(&self) -> Result<Vec<Entry>>;

    /// Problems found while reading (files that could not be parsed, ...); empty when healthy.
    async fn warnings(&self) -> Result<Vec<String>>;

    /// Every milestone (`planning.rs`), in any order. The default: a backend without
    /// milestones says so.
    async fn milestones(&self) -> Result<Vec<crate::planning::Milestone>> {
        Err(no_milestones(self.describe()))
    }

    /// Stores a milestone under its key: a new one (`create`; refused as `Invalid` when the
    /// key is taken) or a new version of an existing one (refused as `NotFound` when there is
    /// none).
    async fn put_milestone(&self, m: &crate::planning::Milestone, create: bool) -> Result<()> {
        let _ = (m, create);
        Err(no_milestones(self.describe()))
    }

    /// A push notification of appends to the change feed made by any process (PostgreSQL's
    /// `LISTEN/NOTIFY`), for readers that follow the feed. `None` (the default): the backend
    /// has none, and readers poll the feed's end instead (`events_before(None, 1)`).
    fn listen(&self) -> Option<Box<dyn FeedListener>> {
        None
    }

    /// The store's tamper-evident audit log (`crate::audit`), which every write of the
    /// store's backends appends to with its events. `None` (the default): this store keeps
    /// none (test doubles, wrappers that do not forward it).
    fn audit_log(&self) -> Option<&dyn crate::audit::AuditLog> {
        None
    }

    /// Where the store keeps API tokens (`crate::auth`). `None` (the default): this store
    /// keeps none (test doubles, wrappers that do not forward it), so a server on it cannot
    /// authenticate anyone.
    fn tokens(&self) -> Option<&dyn crate::auth::TokenStore> {
        None
    }
}

fn no_milestones(info: StoreInfo) -> crate::error::StoreError {
    crate::error::StoreError::Backend {
        backend: info.backend,
        message: "this store does not keep milestones".into(),
        transient: false,
    }
}

/// The milestone error for a key that is taken or missing, the same on every backend.
pub fn milestone_exists(m: &crate::planning::Milestone, create: bool) -> crate::error::StoreError {
    if create {
        crate::error::StoreError::invalid(
            "milestone",
            format!(
                "a milestone named like `{}` exists already (names are compared by `{}`)",
                m.name, m.key
            ),
        )
    } else {
        crate::error::StoreError::not_found(format!("milestone {}", m.name))
    }
}

/// Wakes a reader of the change feed when any process may have appended to it (see
/// [`Store::listen`]).
#[async_trait]
pub trait FeedListener: Send + Debug {
    /// Returns when the feed may have grown since the previous call returned (or since the
    /// listener was made). Wake-ups may be spurious, never missed: after a lost connection is
    /// re-established (notifications in between are gone) it returns once. While the backend
    /// is unreachable it keeps trying and does not return.
    async fn changed(&mut self);
}

/// Identifies a store for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreInfo {
    pub backend: &'static str,
    pub location: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_above_the_cap_are_labelled_as_lower_bounds() {
        let page = |total, total_is_estimate| Page::<()> {
            items: Vec::new(),
            total,
            offset: 0,
            limit: 20,
            total_is_estimate,
        };
        assert_eq!(page(7, false).total_label(), "7");
        assert_eq!(page(999, false).total_label(), "999");
        assert_eq!(page(1_000, true).total_label(), "1,000+");
        assert_eq!(page(1_234_567, false).total_label(), "1,234,567");
        let json = serde_json::to_value(page(1_000, true)).unwrap();
        assert_eq!(json["totalIsEstimate"], true);
        let json = serde_json::to_value(page(3, false)).unwrap();
        assert!(json.get("totalIsEstimate").is_none(), "{json}");
    }

    #[test]
    fn the_count_cap_reaches_past_the_page() {
        assert_eq!(count_cap(0, 20), TOTAL_CAP);
        assert_eq!(count_cap(990, 10), 1_001);
        assert_eq!(count_cap(usize::MAX, 5), usize::MAX);
    }
}
