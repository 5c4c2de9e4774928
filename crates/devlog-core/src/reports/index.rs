//! Where a report reads its entries and their history ([`Source`]): the store itself (a page
//! of summaries at a time and one pass over the change feed per report, what the CLI and MCP
//! do), or a [`ReportIndex`]: the same summaries and histories kept in memory by a long-running
//! process (`devlog serve`) and brought up to date from the change feed, so a report costs a
//! pass over memory instead of over the store. Both give the same numbers: the report
//! functions are the same, only the reads differ (the store conformance suite compares them
//! on every backend: `reports_from_an_index_match_reports_from_the_store`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::data::{self, EntryHistory};
use super::flow::Row;
use crate::entry::EntrySummary;
use crate::error::{ErrorKind, Result};
use crate::event::{Event, EventKind};
use crate::id::{EntryId, EntryRef};
use crate::store::{Filter, Stats, Store, compute_stats, tag_counts_of};

/// Events read per page of the feed.
const FEED_PAGE: usize = 1000;

/// Entries changed since the last refresh above which a refresh reads every summary again (a
/// paged scan) instead of looking each changed entry up.
const RESCAN_ABOVE: usize = 200;

/// The reports' view of the entries and their change feed, kept in memory: every entry's
/// summary, the history ([`EntryHistory`]) of every entry the feed mentions, and, per
/// milestone name, the entries whose milestone was changed away from it. [`build`](Self::build)
/// reads the store once (every summary, the whole feed); [`refresh`](Self::refresh) reads only
/// the events appended since and the summaries of the entries they name, and starts over when
/// the feed was rebuilt (a new [`Store::feed_id`], or a feed shorter than the position read).
///
/// Everything that changes an entry is in the feed (the JSON store records changes found in
/// its files as `external` events), so an index refreshed to the feed's end answers what the
/// store would. Memory: about one summary and a few timestamps per entry.
#[derive(Debug, Clone, Default)]
pub struct ReportIndex {
    feed_id: Option<String>,
    seq: u64,
    entries: BTreeMap<u64, EntrySummary>,
    handles: HashMap<EntryId, u64>,
    histories: HashMap<EntryId, EntryHistory>,
    /// Milestone name → the entries with a change of their milestone away from it, in the
    /// order of the first such change.
    left: HashMap<String, (Vec<EntryId>, HashSet<EntryId>)>,
}

impl ReportIndex {
    /// Reads the store: the feed from its start, then every summary.
    pub async fn build(store: &dyn Store) -> Result<Self> {
        let mut ix = ReportIndex {
            feed_id: store.feed_id().await?,
            ..ReportIndex::default()
        };
        ix.read_feed(store).await?;
        ix.rescan(store).await?;
        Ok(ix)
    }

    /// The feed position the index has read to (the `seq` of the last event applied).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// How many entries the index holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Brings the index up to the feed's end: the new events are applied to the histories and
    /// the entries they name are read again (all of them by a scan when there are more than
    /// a few hundred). A rebuilt feed (new identity, or one that ends before the position read)
    /// makes it start over. Returns whether anything changed. After an error the index is
    /// empty and the next refresh builds it again (it never answers from half an update).
    pub async fn refresh(&mut self, store: &dyn Store) -> Result<bool> {
        let done = self.refresh_from(store).await;
        if done.is_err() {
            *self = ReportIndex::default();
        }
        done
    }

    async fn refresh_from(&mut self, store: &dyn Store) -> Result<bool> {
        let feed_id = store.feed_id().await?;
        let end = store
            .events_before(None, 1)
            .await?
            .last()
            .map_or(0, |e| e.seq);
        if feed_id != self.feed_id || end < self.seq {
            *self = ReportIndex::build(store).await?;
            return Ok(true);
        }
        if end == self.seq {
            return Ok(false);
        }
        let touched = self.read_feed(store).await?;
        if touched.len() > RESCAN_ABOVE {
            self.rescan(store).await?;
        } else {
            for id in touched {
                let found = store.lookup(&EntryRef::Id(id)).await?;
                match found.into_iter().find(|e| e.id == id) {
                    Some(e) => self.put(e),
                    None => self.remove(id),
                }
            }
        }
        Ok(true)
    }

    /// Applies the events after `seq` to the histories; returns the entries they name.
    async fn read_feed(&mut self, store: &dyn Store) -> Result<HashSet<EntryId>> {
        let mut touched = HashSet::new();
        loop {
            let page = store.events(self.seq, FEED_PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            self.seq = last.seq;
            for ev in &page {
                touched.insert(ev.entry_id);
                self.apply(ev);
            }
            if page.len() < FEED_PAGE {
                break;
            }
        }
        Ok(touched)
    }

    fn apply(&mut self, ev: &Event) {
        self.histories.entry(ev.entry_id).or_default().apply(ev);
        if let EventKind::FieldChanged { field, old, .. } = &ev.kind
            && field == "milestone"
            && let Some(name) = old.as_str()
        {
            let (order, seen) = self.left.entry(name.to_string()).or_default();
            if seen.insert(ev.entry_id) {
                order.push(ev.entry_id);
            }
        }
    }

    /// Reads every summary again.
    async fn rescan(&mut self, store: &dyn Store) -> Result<()> {
        let mut entries = BTreeMap::new();
        data::scan(store, &Filter::default(), |e| {
            entries.insert(e.handle, e);
        })
        .await?;
        self.handles = entries.values().map(|e| (e.id, e.handle)).collect();
        self.entries = entries;
        Ok(())
    }

    fn put(&mut self, e: EntrySummary) {
        if let Some(old) = self.handles.insert(e.id, e.handle)
            && old != e.handle
        {
            self.entries.remove(&old);
        }
        self.entries.insert(e.handle, e);
    }

    fn remove(&mut self, id: EntryId) {
        if let Some(h) = self.handles.remove(&id) {
            self.entries.remove(&h);
        }
    }
}

/// Where a report reads: the store, or an index kept by the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    Store(&'a dyn Store),
    Index(&'a ReportIndex),
}

impl<'a> Source<'a> {
    /// Calls `f` with every entry passing `filter`, in handle order.
    pub(crate) async fn each(
        &self,
        filter: &Filter,
        mut f: impl FnMut(&EntrySummary) + Send,
    ) -> Result<()> {
        match self {
            Source::Store(store) => {
                data::scan(*store, filter, |e| f(&e)).await?;
            }
            Source::Index(ix) => ix
                .entries
                .values()
                .filter(|e| filter.matches(e))
                .for_each(f),
        }
        Ok(())
    }

    /// What the flow reports need of the entries passing `filter`, in handle order.
    pub(crate) async fn rows(&self, filter: &Filter) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        self.each(filter, |e| out.push(Row::from(e))).await?;
        Ok(out)
    }

    /// [`Store::stats`] (kept counts or SQL on every backend), or the same from memory
    /// ([`compute_stats`], which the conformance suite holds every backend's answer to).
    pub(crate) async fn stats(&self, filter: &Filter) -> Result<Stats> {
        match self {
            Source::Store(store) => store.stats(filter).await,
            Source::Index(ix) => {
                let matching: Vec<EntrySummary> = ix
                    .entries
                    .values()
                    .filter(|e| filter.matches(e))
                    .cloned()
                    .collect();
                Ok(compute_stats(&matching))
            }
        }
    }

    /// [`Store::tag_counts`] (in SQL on the SQL backends), or the same from memory.
    pub(crate) async fn tag_counts(&self, filter: &Filter) -> Result<BTreeMap<String, u64>> {
        match self {
            Source::Store(store) => store.tag_counts(filter).await,
            Source::Index(ix) => Ok(tag_counts_of(
                ix.entries.values().filter(|e| filter.matches(e)),
            )),
        }
    }

    /// The histories of (at least) the entries in `wanted`; an entry the feed says nothing of
    /// has none in the map.
    pub(crate) async fn histories(
        &self,
        wanted: &HashSet<EntryId>,
    ) -> Result<Cow<'a, HashMap<EntryId, EntryHistory>>> {
        match self {
            Source::Store(store) => Ok(Cow::Owned(data::read_histories(*store, wanted).await?)),
            Source::Index(ix) => Ok(Cow::Borrowed(&ix.histories)),
        }
    }

    /// The entries not in `known` whose milestone the feed shows changed away from `name`,
    /// in the order of the first such change; `known` gets them.
    pub(crate) async fn left_milestone(
        &self,
        name: &str,
        known: &mut HashSet<EntryId>,
    ) -> Result<Vec<EntryId>> {
        let mut moved = Vec::new();
        match self {
            Source::Store(store) => {
                let mut after = 0;
                loop {
                    let page = store.events(after, FEED_PAGE).await?;
                    let Some(last) = page.last() else { break };
                    after = last.seq;
                    for ev in &page {
                        if let EventKind::FieldChanged { field, old, .. } = &ev.kind
                            && field == "milestone"
                            && old.as_str() == Some(name)
                            && known.insert(ev.entry_id)
                        {
                            moved.push(ev.entry_id);
                        }
                    }
                    if page.len() < FEED_PAGE {
                        break;
                    }
                }
            }
            Source::Index(ix) => {
                if let Some((order, _)) = ix.left.get(name) {
                    moved.extend(order.iter().copied().filter(|id| known.insert(*id)));
                }
            }
        }
        Ok(moved)
    }

    /// The entry's summary, `None` when it no longer exists.
    pub(crate) async fn summary(&self, id: EntryId) -> Result<Option<EntrySummary>> {
        match self {
            Source::Store(store) => match store.get(id).await {
                Ok(e) => Ok(Some(e.summary())),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Source::Index(ix) => Ok(ix.handles.get(&id).and_then(|h| ix.entries.get(h)).cloned()),
        }
    }
}
