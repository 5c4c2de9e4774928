//! Where the reports' numbers come from: entry summaries a page at a time ([`scan`]) and the
//! status and milestone history of chosen entries from one forward pass over the change feed
//! ([`read_histories`]). Memory stays a page of summaries plus a few timestamps per entry in
//! scope; no entry's full document is read.

use std::collections::{HashMap, HashSet};

use crate::entry::{EntrySummary, Status};
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind};
use crate::id::EntryId;
use crate::store::{Filter, ListQuery, SortKey, Store};
use crate::time::Timestamp;

/// Summaries read per page.
pub const PAGE: usize = 500;

/// Events read per page of the feed.
const FEED_PAGE: usize = 1000;

/// How far the feed's `created` event may be from the entry's `createdAt` for the feed to
/// hold the entry's history from its creation. An entry created through devlog gets both from
/// one clock reading; an imported one gets its `created` event when it was imported, long
/// after its `createdAt`.
pub const HISTORY_TOLERANCE_MS: i64 = 60_000;

/// Calls `f` with every entry that passes `filter`, in handle order, a page at a time.
/// Pages are read by key (the handles above the last one seen, [`Filter::handle_after`]), so
/// each costs the same however far into the store it is. Returns how many there were.
pub async fn scan<S: Store + ?Sized>(
    store: &S,
    filter: &Filter,
    f: impl FnMut(EntrySummary) + Send,
) -> Result<u64> {
    scan_pages(store, filter, PAGE, f).await
}

/// [`scan`] with `page` summaries per read (the store conformance suite reads small pages).
pub async fn scan_pages<S: Store + ?Sized>(
    store: &S,
    filter: &Filter,
    page: usize,
    mut f: impl FnMut(EntrySummary) + Send,
) -> Result<u64> {
    let page_size = page.max(1);
    let mut seen = 0;
    let mut page_filter = filter.clone();
    loop {
        let page = store
            .list(&ListQuery {
                filter: page_filter.clone(),
                sort: SortKey::Handle,
                ascending: true,
                offset: 0,
                limit: page_size,
            })
            .await?;
        let n = page.items.len();
        let last = page.items.last().map(|e| e.handle);
        // A store that ignored the bound would hand back the same page forever.
        if let (Some(after), Some(first)) = (page_filter.handle_after, page.items.first())
            && first.handle <= after
        {
            return Err(StoreError::Backend {
                backend: "store",
                message: format!(
                    "a list of handles above {after} began with {}: the store ignores `handle_after`",
                    first.handle
                ),
                transient: false,
            });
        }
        page.items.into_iter().for_each(&mut f);
        seen += n as u64;
        match last {
            // Every handle read is above a caller's own bound, so the next page keeps it.
            Some(h) if n == page_size => page_filter.handle_after = Some(h),
            _ => return Ok(seen),
        }
    }
}

/// What the change feed says of one entry: when it was created there, its status changes and
/// its milestone changes, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryHistory {
    /// The time of the feed's `created` event for the entry.
    pub created: Option<Timestamp>,
    /// `(at, from, to)`.
    pub statuses: Vec<(Timestamp, Status, Status)>,
    /// `(at, old, new)` milestone names.
    pub milestones: Vec<(Timestamp, Option<String>, Option<String>)>,
}

impl EntryHistory {
    /// Folds one of the entry's events in (events in feed order).
    pub fn apply(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::Created => {
                // A re-created entry (deleted, then imported again) starts over.
                *self = EntryHistory {
                    created: Some(ev.at),
                    ..EntryHistory::default()
                };
            }
            EventKind::StatusChanged { from, to, .. } => self.statuses.push((ev.at, *from, *to)),
            EventKind::FieldChanged { field, old, new } if field == "milestone" => {
                let name = |v: &serde_json::Value| v.as_str().map(str::to_string);
                self.milestones.push((ev.at, name(old), name(new)));
            }
            _ => {}
        }
    }

    /// Whether the feed holds the entry's status history from its creation (see
    /// [`HISTORY_TOLERANCE_MS`]); entries imported from the original devlog do not.
    pub fn complete(&self, created_at: Timestamp) -> bool {
        self.created
            .is_some_and(|t| (t.millis() - created_at.millis()).abs() <= HISTORY_TOLERANCE_MS)
    }

    /// The entry's status from its creation to `end`, as `(from, to, status)` spans; only
    /// meaningful when [`complete`](Self::complete). The status at creation is the first
    /// change's `from` (the current status when it never changed).
    pub fn spans(
        &self,
        created_at: Timestamp,
        current: Status,
        end: Timestamp,
    ) -> Vec<(Timestamp, Timestamp, Status)> {
        let mut out = Vec::with_capacity(self.statuses.len() + 1);
        let mut at = created_at;
        let mut status = self.statuses.first().map_or(current, |(_, from, _)| *from);
        for (t, _, to) in &self.statuses {
            let t = (*t).max(at);
            if t >= end {
                break;
            }
            if t > at {
                out.push((at, t, status));
            }
            at = t;
            status = *to;
        }
        if end > at {
            out.push((at, end, status));
        }
        out
    }

    /// The status at `t` (`None` before the entry existed); only meaningful when complete.
    pub fn status_at(
        &self,
        created_at: Timestamp,
        current: Status,
        t: Timestamp,
    ) -> Option<Status> {
        if t < created_at {
            return None;
        }
        let mut status = self.statuses.first().map_or(current, |(_, from, _)| *from);
        for (at, _, to) in &self.statuses {
            if *at > t {
                break;
            }
            status = *to;
        }
        Some(status)
    }

    /// When the entry first moved to in-progress.
    pub fn first_in_progress(&self) -> Option<Timestamp> {
        self.statuses
            .iter()
            .find(|(_, _, to)| *to == Status::InProgress)
            .map(|(at, _, _)| *at)
    }

    /// The entry's milestone at `t`, from its milestone changes and its current milestone.
    pub fn milestone_at(&self, current: Option<&str>, t: Timestamp) -> Option<String> {
        let mut m = self
            .milestones
            .first()
            .map_or(current.map(str::to_string), |(_, old, _)| old.clone());
        for (at, _, new) in &self.milestones {
            if *at > t {
                break;
            }
            m = new.clone();
        }
        m
    }
}

/// The history of each entry in `wanted`, from one forward pass over the change feed a page
/// at a time. Entries the feed says nothing of get an empty history.
pub async fn read_histories(
    store: &dyn Store,
    wanted: &HashSet<EntryId>,
) -> Result<HashMap<EntryId, EntryHistory>> {
    let mut out: HashMap<EntryId, EntryHistory> = HashMap::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut after = 0;
    loop {
        let page = store.events(after, FEED_PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.seq;
        for ev in &page {
            if wanted.contains(&ev.entry_id) {
                out.entry(ev.entry_id).or_default().apply(ev);
            }
        }
        if page.len() < FEED_PAGE {
            break;
        }
    }
    Ok(out)
}
