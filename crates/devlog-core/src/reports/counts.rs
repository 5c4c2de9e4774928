//! `counts`: entries by status, type, priority and assignee (the store's own aggregation,
//! `Store::stats`, from kept counts or SQL; from memory with a `ReportIndex`), by tag (`Store::tag_counts`, SQL `GROUP BY` on
//! the SQL backends) and by linked system (the sync links joined with one pass over the
//! entries passing the filter; no pass at all when nothing is linked).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::index::Source;
use super::{By, SyncSources};
use crate::error::Result;
use crate::id::EntryId;
use crate::store::Filter;
use crate::sync_state::LinkState;

/// The `counts` report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total: u64,
    pub open: u64,
    pub closed: u64,
    /// One table per `--by`, in the order asked.
    pub groups: Vec<CountGroup>,
}

/// Counts by one dimension, largest first (ties by key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountGroup {
    pub by: By,
    pub rows: Vec<CountRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountRow {
    pub key: String,
    pub count: u64,
}

/// Entries without a tag, in `by tag`.
pub use crate::store::NO_TAG;
/// Entries linked in no integration, in `by system`.
pub const NOT_LINKED: &str = "(not linked)";

pub(super) async fn counts(
    src: Source<'_>,
    filter: &Filter,
    by: &[By],
    sync: Option<&SyncSources>,
    notes: &mut Vec<String>,
) -> Result<Counts> {
    let stats = src.stats(filter).await?;
    let wants = |b| by.contains(&b);
    let tags = if wants(By::Tag) {
        src.tag_counts(filter).await?
    } else {
        BTreeMap::new()
    };
    let mut systems: BTreeMap<String, u64> = BTreeMap::new();
    if wants(By::System) {
        let mut linked: HashMap<EntryId, Vec<String>> = HashMap::new();
        match sync {
            Some(s) => {
                for l in s.state.links().await? {
                    if l.state == LinkState::Linked {
                        linked.entry(l.entry_id).or_default().push(l.integration);
                    }
                }
            }
            None => notes
                .push("by system: no sync state was given, so no entry counts as linked".into()),
        }
        if linked.is_empty() {
            // Nothing is linked: every entry passing the filter is "not linked", and the
            // statistics have already counted them.
            if stats.total > 0 {
                systems.insert(NOT_LINKED.into(), stats.total);
            }
        } else {
            src.each(filter, |e| match linked.get(&e.id) {
                Some(names) => {
                    for n in names {
                        *systems.entry(n.clone()).or_default() += 1;
                    }
                }
                None => *systems.entry(NOT_LINKED.into()).or_default() += 1,
            })
            .await?;
        }
    }
    let groups = by
        .iter()
        .map(|b| {
            let map = match b {
                By::Status => &stats.by_status,
                By::Type => &stats.by_type,
                By::Priority => &stats.by_priority,
                By::Assignee => &stats.by_assignee,
                By::Tag => &tags,
                _ => &systems,
            };
            CountGroup {
                by: *b,
                rows: rows(map),
            }
        })
        .collect();
    Ok(Counts {
        total: stats.total,
        open: stats.open,
        closed: stats.closed,
        groups,
    })
}

/// A map's counts, largest first, ties by key.
fn rows(map: &BTreeMap<String, u64>) -> Vec<CountRow> {
    let mut rows: Vec<CountRow> = map
        .iter()
        .map(|(k, v)| CountRow {
            key: k.clone(),
            count: *v,
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    rows
}
