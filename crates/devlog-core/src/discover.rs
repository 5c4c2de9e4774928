//! Finding the entries related to new work before it is created: search terms from the
//! description, keywords and scope; every entry any term finds, in this store and in the
//! other repositories the caller knows; a relevance for each; and whether to continue an
//! existing entry or create a new one. Frontends render the [`Discovery`] (MCP's
//! `discover_related_devlogs`).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::entry::{EntrySummary, EntryType};
use crate::error::{Result, StoreError};
use crate::id::EntryId;
use crate::ops::Devlog;
use crate::store::{SearchHit, SearchQuery, Store};

/// At most this many search terms are used.
pub const MAX_TERMS: usize = 16;
/// Significant words taken from the description and from the scope.
const DESCRIPTION_WORDS: usize = 8;
const SCOPE_WORDS: usize = 3;
/// Hits read per term and store.
const HITS_PER_TERM: usize = 50;
/// Related entries a discovery answers with (`total_found` counts them all).
pub const MAX_RELATED: usize = 10;

/// What the new work is about.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverQuery {
    pub description: String,
    pub kind: EntryType,
    /// Words entries about the same work would contain; searched first, as given.
    pub keywords: Vec<String>,
    /// Where the work happens; its significant words are searched too.
    pub scope: Option<String>,
}

/// How closely an entry matches the new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relevance {
    Low,
    Medium,
    High,
}

impl Relevance {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl std::fmt::Display for Relevance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry found for the new work, with why it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Related {
    #[serde(flatten)]
    pub entry: EntrySummary,
    /// The repository the entry lives in, when it is not this workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    pub relevance: Relevance,
    /// The search terms that found it, in term order.
    pub matched_terms: Vec<String>,
    /// The sum of its search scores over those terms.
    pub score: f64,
    pub snippet: String,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
// One per discover answer, never kept in bulk: boxing the summary would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Recommendation {
    /// An open entry of this workspace, of the same type, is highly relevant: the same work.
    Continue(EntrySummary),
    /// Related entries exist: read them first; create a new entry only if the work is new.
    ReadRelated,
    /// Nothing related: create a new entry.
    CreateNew,
}

/// The answer of a discovery.
#[derive(Debug)]
pub struct Discovery {
    pub terms: Vec<String>,
    /// How many entries any term found (`related` holds the best [`MAX_RELATED`]).
    pub total_found: usize,
    /// Most relevant first: relevance, then the number of terms matched, then the score.
    pub related: Vec<Related>,
    pub recommendation: Recommendation,
    /// Other repositories that could not be searched, and why (not fatal).
    pub skipped: Vec<(String, StoreError)>,
}

/// Words of free text worth searching for: lowercase, 4+ characters, not filler, each once,
/// at most `max`.
pub fn significant_words(text: &str, max: usize) -> Vec<String> {
    const STOP: &[&str] = &[
        "about",
        "after",
        "again",
        "also",
        "because",
        "been",
        "before",
        "being",
        "between",
        "both",
        "could",
        "does",
        "doing",
        "each",
        "from",
        "have",
        "having",
        "into",
        "just",
        "make",
        "more",
        "most",
        "need",
        "needs",
        "only",
        "other",
        "over",
        "same",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "very",
        "want",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
        "what",
        "work",
        "working",
        "implement",
        "implementing",
        "using",
    ];
    let mut out: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        if w.chars().count() >= 4 && !STOP.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

/// The search terms of a query: the keywords (trimmed, lowercase), then the description's
/// significant words, then the scope's; each once, at most [`MAX_TERMS`].
pub fn search_terms(q: &DiscoverQuery) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut push = |t: &str| {
        let t = t.trim().to_lowercase();
        if !t.is_empty() && !terms.contains(&t) && terms.len() < MAX_TERMS {
            terms.push(t);
        }
    };
    for k in &q.keywords {
        push(k);
    }
    for w in significant_words(&q.description, DESCRIPTION_WORDS) {
        push(&w);
    }
    if let Some(scope) = &q.scope {
        for w in significant_words(scope, SCOPE_WORDS) {
            push(&w);
        }
    }
    terms
}

/// The hits of every term, collected per entry (pure; [`Devlog::discover`] feeds it).
#[derive(Debug, Default)]
pub struct Matches {
    found: HashMap<(Option<String>, EntryId), Related>,
    /// First-seen order, so equal ranks keep a stable order.
    order: Vec<(Option<String>, EntryId)>,
}

impl Matches {
    /// Records that `term` found `hit` in `repository` (`None`: this workspace).
    pub fn add(&mut self, repository: Option<&str>, term: &str, hit: &SearchHit) {
        let key = (repository.map(str::to_string), hit.entry.id);
        let r = self.found.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            Related {
                entry: hit.entry.clone(),
                repository: repository.map(str::to_string),
                relevance: Relevance::Low,
                matched_terms: Vec::new(),
                score: 0.0,
                snippet: hit.snippet.clone(),
            }
        });
        r.matched_terms.push(term.to_string());
        r.score += hit.score;
    }

    /// Rates and ranks the entries found by `terms`, and recommends for work of type `kind`.
    pub fn rank(
        mut self,
        terms: &[String],
        kind: EntryType,
    ) -> (usize, Vec<Related>, Recommendation) {
        let total_terms = terms.len().max(1);
        let mut related: Vec<Related> = self
            .order
            .iter()
            .filter_map(|id| self.found.remove(id))
            .collect();
        for r in &mut related {
            r.relevance = relevance(r, terms, total_terms);
        }
        related.sort_by(|x, y| {
            y.relevance
                .cmp(&x.relevance)
                .then(y.matched_terms.len().cmp(&x.matched_terms.len()))
                .then(y.score.total_cmp(&x.score))
        });
        let total_found = related.len();
        related.truncate(MAX_RELATED);
        let same_open = related.iter().find(|r| {
            r.repository.is_none()
                && r.relevance == Relevance::High
                && !r.entry.status.is_closed()
                && r.entry.kind == kind
        });
        let recommendation = match (same_open, related.is_empty()) {
            (Some(r), _) => Recommendation::Continue(r.entry.clone()),
            (None, false) => Recommendation::ReadRelated,
            (None, true) => Recommendation::CreateNew,
        };
        (total_found, related, recommendation)
    }
}

fn relevance(r: &Related, terms: &[String], total_terms: usize) -> Relevance {
    let matched = r.matched_terms.len();
    let share = matched as f64 / total_terms as f64;
    // How much of the entry's own title the new work's words cover: a short title fully
    // covered is the same work even when the description has many more words.
    let title_words = significant_words(&r.entry.title, 12);
    let covered = title_words.iter().filter(|w| terms.contains(w)).count();
    let coverage = covered as f64 / title_words.len().max(1) as f64;
    if matched >= 2 && (share >= 0.5 || coverage >= 0.6) {
        Relevance::High
    } else if share >= 0.25 || matched >= 2 {
        Relevance::Medium
    } else {
        Relevance::Low
    }
}

impl Devlog {
    /// Searches this store, then each of `others` (other repositories, by name), for every
    /// search term of `query`, and ranks what was found. A store of `others` that fails is
    /// skipped and named in [`Discovery::skipped`]; a failure of this store is an error.
    pub async fn discover(
        &self,
        others: &[(String, Arc<dyn Store>)],
        query: &DiscoverQuery,
    ) -> Result<Discovery> {
        let terms = search_terms(query);
        let mut matches = Matches::default();
        let mut skipped: Vec<(String, StoreError)> = Vec::new();
        let mut stores: Vec<(Option<&str>, &Arc<dyn Store>)> = vec![(None, self.store())];
        stores.extend(others.iter().map(|(name, s)| (Some(name.as_str()), s)));
        for t in &terms {
            let q = SearchQuery {
                text: t.clone(),
                limit: HITS_PER_TERM,
                ..SearchQuery::default()
            };
            for (repo, store) in &stores {
                if repo.is_some_and(|r| skipped.iter().any(|(s, _)| s == r)) {
                    continue;
                }
                let page = match (store.search(&q).await, repo) {
                    (Ok(p), _) => p,
                    (Err(e), Some(r)) => {
                        skipped.push((r.to_string(), e));
                        continue;
                    }
                    (Err(e), None) => return Err(e),
                };
                for h in &page.items {
                    matches.add(*repo, t, h);
                }
            }
        }
        let (total_found, related, recommendation) = matches.rank(&terms, query.kind);
        Ok(Discovery {
            terms,
            total_found,
            related,
            recommendation,
            skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use crate::entry::Status;

    #[test]
    fn significant_words_skip_filler_and_repeats() {
        assert_eq!(
            significant_words(
                "Fix the login timeout: login fails when the network is slow",
                8
            ),
            vec!["login", "timeout", "fails", "network", "slow"]
        );
        assert_eq!(significant_words("a b c", 8), Vec::<String>::new());
        assert_eq!(
            significant_words("alpha beta gamma delta", 2),
            ["alpha", "beta"]
        );
    }

    fn query(description: &str, keywords: &[&str], scope: Option<&str>) -> DiscoverQuery {
        DiscoverQuery {
            description: description.into(),
            kind: EntryType::Bugfix,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            scope: scope.map(str::to_string),
        }
    }

    #[test]
    fn terms_are_keywords_then_description_then_scope_each_once_and_bounded() {
        let q = query(
            "Fix the login timeout on slow networks",
            &[" Auth ", "LOGIN", ""],
            Some("crates/session login"),
        );
        assert_eq!(
            search_terms(&q),
            [
                "auth", "login", "timeout", "slow", "networks", "crates", "session"
            ]
        );
        let many: Vec<String> = (0..40).map(|i| format!("keyword{i}")).collect();
        let q = DiscoverQuery {
            keywords: many,
            ..query("", &[], None)
        };
        assert_eq!(search_terms(&q).len(), MAX_TERMS);
    }

    fn hit(handle: u64, title: &str, kind: EntryType, status: Status, score: f64) -> SearchHit {
        let v = serde_json::json!({
            "id": EntryId::new_random(),
            "handle": handle,
            "key": format!("e{handle}"),
            "title": title,
            "type": kind,
            "status": status,
            "priority": "medium",
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z",
        });
        SearchHit {
            entry: serde_json::from_value(v).unwrap(),
            score,
            snippet: format!("…{title}…"),
        }
    }

    fn terms(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ranking_by_relevance_then_terms_then_score() {
        let t = terms(&["login", "timeout", "network", "slow"]);
        let same = hit(
            1,
            "Login timeout",
            EntryType::Bugfix,
            Status::InProgress,
            1.0,
        );
        let one_term = hit(2, "Network cache", EntryType::Feature, Status::New, 9.0);
        let two_terms = hit(
            3,
            "Slow network in reports",
            EntryType::Task,
            Status::New,
            0.5,
        );
        let mut m = Matches::default();
        m.add(None, "login", &same);
        m.add(None, "timeout", &same);
        m.add(None, "network", &one_term);
        m.add(None, "network", &two_terms);
        m.add(None, "slow", &two_terms);
        let (total, related, rec) = m.rank(&t, EntryType::Bugfix);
        assert_eq!(total, 3);
        let view: Vec<(u64, Relevance, usize)> = related
            .iter()
            .map(|r| (r.entry.handle, r.relevance, r.matched_terms.len()))
            .collect();
        // #1 covers its whole title and #3 half of the terms: both high, with as many terms
        // matched, so the score orders them; #2 matched one term in four.
        assert_eq!(
            view,
            [
                (1, Relevance::High, 2),
                (3, Relevance::High, 2),
                (2, Relevance::Medium, 1)
            ]
        );
        assert_eq!(rec, Recommendation::Continue(same.entry.clone()));
        // The JSON form frontends answer with.
        let v = serde_json::to_value(&related[0]).unwrap();
        assert_eq!(v["relevance"], "high");
        assert_eq!(v["matchedTerms"], serde_json::json!(["login", "timeout"]));
        assert_eq!(v["handle"], 1);
        assert!(v.get("repository").is_none());
    }

    #[test]
    fn recommendation_continues_only_an_open_local_entry_of_the_same_type() {
        let t = terms(&["login", "timeout"]);
        let rank = |h: &SearchHit, repo: Option<&str>, kind: EntryType| {
            let mut m = Matches::default();
            m.add(repo, "login", h);
            m.add(repo, "timeout", h);
            m.rank(&t, kind).2
        };
        let open = hit(
            1,
            "Login timeout",
            EntryType::Bugfix,
            Status::InProgress,
            1.0,
        );
        assert!(matches!(
            rank(&open, None, EntryType::Bugfix),
            Recommendation::Continue(_)
        ));
        assert_eq!(
            rank(&open, None, EntryType::Feature),
            Recommendation::ReadRelated
        );
        assert_eq!(
            rank(&open, Some("../other"), EntryType::Bugfix),
            Recommendation::ReadRelated
        );
        let done = hit(1, "Login timeout", EntryType::Bugfix, Status::Done, 1.0);
        assert_eq!(
            rank(&done, None, EntryType::Bugfix),
            Recommendation::ReadRelated
        );
        assert_eq!(
            Matches::default().rank(&t, EntryType::Bugfix),
            (0, Vec::new(), Recommendation::CreateNew)
        );
    }

    #[test]
    fn only_the_best_are_answered_but_all_are_counted() {
        let t = terms(&["cache"]);
        let mut m = Matches::default();
        for i in 0..25 {
            m.add(
                None,
                "cache",
                &hit(i, "Cache", EntryType::Task, Status::New, i as f64),
            );
        }
        let (total, related, _) = m.rank(&t, EntryType::Task);
        assert_eq!(total, 25);
        assert_eq!(related.len(), MAX_RELATED);
        assert_eq!(related[0].entry.handle, 24, "highest score first");
    }

    #[test]
    fn the_same_entry_in_two_repositories_is_two_matches() {
        let h = hit(1, "Cache", EntryType::Task, Status::New, 1.0);
        let mut m = Matches::default();
        m.add(None, "cache", &h);
        m.add(Some("../b"), "cache", &h);
        let (total, related, _) = m.rank(&terms(&["cache"]), EntryType::Task);
        assert_eq!(total, 2);
        assert_eq!(related[1].repository.as_deref(), Some("../b"));
    }

    /// A store that answers searches from a fixed list (a hit matches when its title holds
    /// the term), or fails every search; nothing else may be reached.
    #[derive(Debug)]
    struct Canned(Option<Vec<SearchHit>>);

    fn unreachable<T>() -> Result<T> {
        Err(StoreError::Backend {
            backend: "test",
            message: "not used by discover".into(),
            transient: false,
        })
    }

    #[async_trait::async_trait]
    impl Store for Canned {
        fn describe(&self) -> crate::store::StoreInfo {
            crate::store::StoreInfo {
                backend: "test",
                location: String::new(),
            }
        }
        async fn search(&self, q: &SearchQuery) -> Result<crate::store::Page<SearchHit>> {
            let Some(hits) = &self.0 else {
                return Err(StoreError::Backend {
                    backend: "test",
                    message: "disk on fire".into(),
                    transient: false,
                });
            };
            let items: Vec<SearchHit> = hits
                .iter()
                .filter(|h| h.entry.title.to_lowercase().contains(&q.text))
                .cloned()
                .collect();
            Ok(crate::store::Page {
                total: items.len() as u64,
                items,
                offset: 0,
                limit: q.limit,
                total_is_estimate: false,
            })
        }
        async fn create(
            &self,
            _: crate::Entry,
            _: bool,
            _: &crate::WriteMeta,
        ) -> Result<crate::Created> {
            unreachable()
        }
        async fn get(&self, _: EntryId) -> Result<crate::Entry> {
            unreachable()
        }
        async fn lookup(&self, _: &crate::EntryRef) -> Result<Vec<EntrySummary>> {
            unreachable()
        }
        async fn update(
            &self,
            _: EntryId,
            _: &crate::WriteMeta,
            _: &mut crate::store::Mutation<'_>,
        ) -> Result<crate::Entry> {
            unreachable()
        }
        async fn delete(&self, _: EntryId, _: &crate::WriteMeta) -> Result<()> {
            unreachable()
        }
        async fn list(&self, _: &crate::ListQuery) -> Result<crate::store::Page<EntrySummary>> {
            unreachable()
        }
        async fn stats(&self, _: &crate::Filter) -> Result<crate::Stats> {
            unreachable()
        }
        async fn events(&self, _: u64, _: usize) -> Result<Vec<crate::Event>> {
            unreachable()
        }
        async fn events_before(&self, _: Option<u64>, _: usize) -> Result<Vec<crate::Event>> {
            unreachable()
        }
        async fn entry_events(
            &self,
            _: EntryId,
            _: u64,
            _: Option<u64>,
            _: usize,
        ) -> Result<Vec<crate::Event>> {
            unreachable()
        }
        async fn count_events(&self, _: u64, _: Option<u64>) -> Result<u64> {
            unreachable()
        }
        async fn feed_id(&self) -> Result<Option<String>> {
            unreachable()
        }
        async fn put_raw(
            &self,
            _: crate::Entry,
            _: &crate::WriteMeta,
        ) -> Result<crate::store::PutOutcome> {
            unreachable()
        }
        async fn append_events(&self, _: &[crate::Event]) -> Result<()> {
            unreachable()
        }
        async fn count(&self) -> Result<u64> {
            unreachable()
        }
        async fn all(&self) -> Result<Vec<crate::Entry>> {
            unreachable()
        }
        async fn warnings(&self) -> Result<Vec<String>> {
            unreachable()
        }
    }

    #[tokio::test]
    async fn discovery_searches_every_store_and_skips_a_failing_other_repository() {
        let here = hit(
            1,
            "Login timeout",
            EntryType::Bugfix,
            Status::InProgress,
            2.0,
        );
        let there = hit(
            1,
            "Login page redesign",
            EntryType::Feature,
            Status::New,
            1.0,
        );
        let app = Devlog::new(Arc::new(Canned(Some(vec![here.clone()]))));
        let others: Vec<(String, Arc<dyn Store>)> = vec![
            ("../web".into(), Arc::new(Canned(Some(vec![there])))),
            ("../broken".into(), Arc::new(Canned(None))),
        ];
        let q = DiscoverQuery {
            description: "Fix the login timeout".into(),
            kind: EntryType::Bugfix,
            keywords: Vec::new(),
            scope: None,
        };
        let d = app.discover(&others, &q).await.unwrap();
        assert_eq!(d.terms, ["login", "timeout"]);
        let found: Vec<(Option<&str>, &str)> = d
            .related
            .iter()
            .map(|r| (r.repository.as_deref(), r.entry.title.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (None, "Login timeout"),
                (Some("../web"), "Login page redesign")
            ]
        );
        assert_eq!(d.recommendation, Recommendation::Continue(here.entry));
        // Named once, although every term was searched.
        assert_eq!(d.skipped.len(), 1, "{:?}", d.skipped);
        assert_eq!(d.skipped[0].0, "../broken");
        // This workspace's store failing is an error, not a skip.
        let broken = Devlog::new(Arc::new(Canned(None)));
        assert!(broken.discover(&[], &q).await.is_err());
    }
}
