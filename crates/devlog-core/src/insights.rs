//! Insights shared across repositories (the seed's Phase 3.1): decisions and key insights an
//! entry marks shared (`devlog decide --share`, `devlog insight REF "…"`), found for other
//! work in this store and in the other repositories the caller knows, ranked by how much
//! they concern that work, each with where it came from.
//!
//! Finding them reads no whole store: the work's significant words are searched (as
//! [`crate::discover`] does), the best-matching entries are read, and their shared items
//! ranked. Without a piece of work to rank for, the entries changed most recently are read.
//! So an insight is found when its entry shares words with the work, or was changed lately.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::discover::{DiscoverQuery, significant_words};
use crate::entry::{Entry, EntrySummary};
use crate::error::{Result, StoreError};
use crate::event::WriteMeta;
use crate::id::EntryId;
use crate::ops::{Devlog, check_text};
use crate::store::{ListQuery, SearchQuery, SortKey, Store};
use crate::time::Timestamp;

/// Words of the work searched for.
const TERMS: usize = 8;
/// Hits read per word and store.
const HITS_PER_TERM: usize = 25;
/// Entries read per store (the best-matching, or the most recently changed).
const CANDIDATES: usize = 40;

/// What a shared item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InsightKind {
    Insight,
    Decision,
}

/// A shared decision or insight, where it came from, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedInsight {
    pub kind: InsightKind,
    pub text: String,
    /// A decision's rationale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// When the decision was made (insights carry no time of their own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// The entry it belongs to.
    pub entry: EntrySummary,
    /// The repository of that entry, when it is not this workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The words of the work it matched (empty without a piece of work to rank for).
    pub matched_terms: Vec<String>,
    /// Higher is more relevant: its entry's search score plus the words its own text shares
    /// with the work.
    pub score: f64,
}

impl SharedInsight {
    /// Whether it shares anything with the work it was ranked for. Ranked for a piece of
    /// work, the relevant items come first and the most recent others follow them, so a
    /// list never looks empty; a context for an assistant keeps only the relevant ones.
    pub fn is_relevant(&self) -> bool {
        !self.matched_terms.is_empty() || self.score > 0.0
    }
}

/// The answer of [`Devlog::shared_insights`].
#[derive(Debug)]
pub struct Insights {
    /// The words of the work that ranked them (empty: ranked by recency).
    pub terms: Vec<String>,
    pub items: Vec<SharedInsight>,
    /// Other repositories that could not be read, and why (not fatal).
    pub skipped: Vec<(String, StoreError)>,
}

/// The shared items of `e`, unranked.
pub fn shared_items(e: &Entry) -> Vec<(InsightKind, String, Option<String>, Option<Timestamp>)> {
    let mut out: Vec<_> = e
        .ai_context
        .shared_insights
        .iter()
        .map(|t| (InsightKind::Insight, t.clone(), None, None))
        .collect();
    out.extend(e.context.decisions.iter().filter(|d| d.shared).map(|d| {
        (
            InsightKind::Decision,
            d.decision.clone(),
            Some(d.rationale.clone()).filter(|r| !r.is_empty()),
            Some(d.timestamp),
        )
    }));
    out
}

/// The words of `e` that rank insights for it: its title, tags and description.
pub fn terms_for(e: &Entry) -> Vec<String> {
    crate::discover::search_terms(&DiscoverQuery {
        description: format!("{} {}", e.title, e.description),
        kind: e.kind,
        keywords: e.tags.clone(),
        scope: None,
    })
    .into_iter()
    .take(TERMS)
    .collect()
}

impl Devlog {
    /// Adds a key insight to an entry, shared with the other repositories' work unless
    /// `shared` is false. Adding one it has already shares it. One write.
    pub async fn add_insight(
        &self,
        id: EntryId,
        text: &str,
        shared: bool,
        meta: &WriteMeta,
    ) -> Result<Entry> {
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(StoreError::invalid("insight", "must not be empty"));
        }
        check_text("insight", &text)?;
        let now = self.clock().now();
        self.store()
            .update(id, meta, &mut |e: &mut Entry| {
                let ai = &mut e.ai_context;
                if !ai.key_insights.contains(&text) {
                    ai.key_insights.push(text.clone());
                }
                if shared && !ai.shared_insights.contains(&text) {
                    ai.shared_insights.push(text.clone());
                }
                ai.last_ai_update = Some(now);
                e.updated_at = now;
                Ok(())
            })
            .await
    }

    /// The shared insights of this store and of `others` (other repositories, by name) most
    /// relevant to `work` (excluding `work`'s own) first, then the most recent others
    /// ([`SharedInsight::is_relevant`] tells them apart), at most `limit`; without `work`,
    /// those of the most recently changed entries, newest first. A store of `others` that fails is
    /// skipped and named; a failure of this store is an error.
    pub async fn shared_insights(
        &self,
        others: &[(String, Arc<dyn Store>)],
        work: Option<&Entry>,
        limit: usize,
    ) -> Result<Insights> {
        let terms = work.map(terms_for).unwrap_or_default();
        let mut stores: Vec<(Option<&str>, &Arc<dyn Store>)> = vec![(None, self.store())];
        stores.extend(others.iter().map(|(n, s)| (Some(n.as_str()), s)));
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for (repo, store) in stores {
            match candidates(&**store, &terms).await {
                Ok(found) => {
                    for (summary, score, matched) in found {
                        if repo.is_none() && work.is_some_and(|w| w.id == summary.id) {
                            continue;
                        }
                        let e = match store.get(summary.id).await {
                            Ok(e) => e,
                            // Deleted since the search: nothing to show.
                            Err(StoreError::NotFound { .. }) => continue,
                            Err(err) => match repo {
                                Some(r) => {
                                    skipped.push((r.to_string(), err));
                                    break;
                                }
                                None => return Err(err),
                            },
                        };
                        for (kind, text, rationale, at) in shared_items(&e) {
                            let own = own_words(&text, rationale.as_deref(), &terms);
                            items.push(SharedInsight {
                                kind,
                                text,
                                rationale,
                                at,
                                entry: e.summary(),
                                repository: repo.map(str::to_string),
                                matched_terms: matched.clone(),
                                score: score + own as f64,
                            });
                        }
                    }
                }
                Err(err) => match repo {
                    Some(r) => skipped.push((r.to_string(), err)),
                    None => return Err(err),
                },
            }
        }
        if terms.is_empty() {
            items.sort_by(|a, b| {
                let when = |i: &SharedInsight| i.at.unwrap_or(i.entry.updated_at);
                when(b).cmp(&when(a))
            });
        } else {
            items.sort_by(|a, b| {
                let when = |i: &SharedInsight| i.at.unwrap_or(i.entry.updated_at);
                b.score.total_cmp(&a.score).then(when(b).cmp(&when(a)))
            });
        }
        items.truncate(limit);
        Ok(Insights {
            terms,
            items,
            skipped,
        })
    }
}

/// The entries of `store` to read: for `terms`, those the most terms find (with their summed
/// score and the terms), else the most recently changed.
async fn candidates(
    store: &dyn Store,
    terms: &[String],
) -> Result<Vec<(EntrySummary, f64, Vec<String>)>> {
    if terms.is_empty() {
        let page = store
            .list(&ListQuery {
                sort: SortKey::Updated,
                limit: CANDIDATES,
                ..ListQuery::default()
            })
            .await?;
        return Ok(page
            .items
            .into_iter()
            .map(|s| (s, 0.0, Vec::new()))
            .collect());
    }
    let mut found: HashMap<EntryId, (EntrySummary, f64, Vec<String>)> = HashMap::new();
    for t in terms {
        let page = store
            .search(&SearchQuery {
                text: t.clone(),
                limit: HITS_PER_TERM,
                ..SearchQuery::default()
            })
            .await?;
        for h in page.items {
            let slot = found
                .entry(h.entry.id)
                .or_insert_with(|| (h.entry.clone(), 0.0, Vec::new()));
            slot.1 += h.score;
            slot.2.push(t.clone());
        }
    }
    let mut v: Vec<_> = found.into_values().collect();
    v.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then(b.1.total_cmp(&a.1)));
    v.truncate(CANDIDATES);
    // Shared insights that share no word with the work still exist: the most recently
    // changed entries follow the relevant ones (score 0), so a store's insights are never
    // reported as "none" only because none of them is about this work.
    let recent = Box::pin(candidates(store, &[])).await?;
    for r in recent {
        if !v.iter().any(|c| c.0.id == r.0.id) {
            v.push(r);
        }
    }
    Ok(v)
}

/// How many of `terms` the item's own text (and rationale) contains: an insight about the
/// work ranks above another one of the same entry.
fn own_words(text: &str, rationale: Option<&str>, terms: &[String]) -> usize {
    let words = significant_words(&format!("{text} {}", rationale.unwrap_or("")), 64);
    terms.iter().filter(|t| words.contains(t)).count()
}
