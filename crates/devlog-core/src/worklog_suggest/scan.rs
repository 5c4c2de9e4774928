//! The use case behind every surface of worklog suggestions (CLI `devlog worklog suggest`,
//! MCP `suggest_worklogs`, REST `/api/v1/worklogs/suggestions`): read the user's commits in
//! each repository through the [`CommitHistory`] port, resolve the entries they mention in
//! that repository's store, turn sessions into [`Suggestion`]s, leave out what the
//! [`LedgerStore`] port or the entries' worklogs say was applied or dismissed, and apply or
//! dismiss chosen ones.
//!
//! The ports keep git and files out of the core: devlog-git implements both (`GitHistory`,
//! `LedgerFile`); the binary builds a [`WorklogSuggester`] over this repository and those
//! `devlog repos discover` found and hands it to the MCP server and the HTTP server.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    SuggestOptions, Suggestion, SuggestionId, SuggestionLedger, WorkCommit, applied_in, find,
    pending, suggest,
};
use crate::entry::Entry;
use crate::error::{Result, StoreError};
use crate::event::WriteMeta;
use crate::id::EntryId;
use crate::ops::Devlog;
use crate::planning::Worklog;

/// A commit by the user that mentions entries, as a repository's history gives it: the
/// references as written (`#3`, `devlog-3`), resolved by the use case in that repository's
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentioningCommit {
    pub id: String,
    /// Author time.
    pub at: DateTime<Utc>,
    /// The message's first line.
    pub summary: String,
    pub references: Vec<String>,
}

/// Why a repository's commits could not be read (no author identity, a broken repository);
/// the repository is then skipped with this as a note.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HistoryError {
    pub message: String,
}

impl HistoryError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A repository's commit history (the port; devlog-git's `GitHistory`).
#[async_trait]
pub trait CommitHistory: Send + Sync + Debug {
    /// Commits authored at or after `since` that mention entries, oldest first, by `author`
    /// (a name or an email) or, without one, by the identity git would write in this
    /// repository.
    async fn commits(
        &self,
        since: DateTime<Utc>,
        author: Option<&str>,
    ) -> std::result::Result<Vec<MentioningCommit>, HistoryError>;
}

/// Where the ids of applied and dismissed suggestions are remembered (the port; devlog-git's
/// `LedgerFile`, `.devlog/.state/worklog-suggestions.json`).
#[async_trait]
pub trait LedgerStore: Send + Sync + Debug {
    async fn load(&self) -> Result<SuggestionLedger>;
    /// Adds ids to the ledger as one read-modify-write (ids already there stay).
    async fn record(&self, applied: &[SuggestionId], dismissed: &[SuggestionId]) -> Result<()>;
}

/// A repository read for suggestions: its name (its folder's, which suggestion ids derive
/// from), its path, the store its entries are in, and its history.
#[derive(Debug, Clone)]
pub struct SuggestSource {
    pub name: String,
    pub path: String,
    pub app: Devlog,
    pub history: Arc<dyn CommitHistory>,
}

/// What a scan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Commits authored at or after this.
    pub since: DateTime<Utc>,
    /// Whose commits (a name or an email); `None`: each repository's git identity.
    pub author: Option<String>,
    pub session: SuggestOptions,
}

/// A pending suggestion with where it comes from and the entry it is for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    #[serde(flatten)]
    pub suggestion: Suggestion,
    /// The repository's path.
    pub repository: String,
    /// The entry's handle and title in its repository's store.
    pub handle: u64,
    pub title: String,
    /// Which source (index into the suggester's) it came from.
    #[serde(skip)]
    pub source: usize,
}

impl Proposal {
    /// `#3 Login form`.
    pub fn label(&self) -> String {
        format!("#{} {}", self.handle, self.title)
    }
}

/// The suggestions still to confirm, and what was passed over (repositories skipped,
/// references that name no entry) as notes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scan {
    pub pending: Vec<Proposal>,
    pub notes: Vec<String>,
}

/// A suggestion logged as a worklog.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub suggestion: SuggestionId,
    pub repository: String,
    pub entry: Entry,
    pub worklog: Worklog,
}

/// Worklog suggestions over a set of repositories (see the module's documentation). Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct WorklogSuggester {
    sources: Arc<Vec<SuggestSource>>,
    ledger: Arc<dyn LedgerStore>,
    /// Repositories that could not be opened when the sources were gathered.
    notes: Arc<Vec<String>>,
}

/// The first seven characters of a commit id.
fn short_commit(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

impl WorklogSuggester {
    pub fn new(sources: Vec<SuggestSource>, ledger: Arc<dyn LedgerStore>) -> Self {
        Self {
            sources: Arc::new(sources),
            ledger,
            notes: Arc::new(Vec::new()),
        }
    }

    /// Notes every scan reports (repositories skipped when the sources were gathered).
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = Arc::new(notes);
        self
    }

    pub fn sources(&self) -> &[SuggestSource] {
        &self.sources
    }

    /// The pending suggestions: every source's commits since `opts.since`, in sessions,
    /// without those applied (ledger or a worklog that carries the id) or dismissed. Reads
    /// only; a source whose history cannot be read is skipped with a note.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<Scan> {
        let mut notes: Vec<String> = self.notes.as_ref().clone();
        let ledger = self.ledger.load().await?;
        let mut logged: BTreeSet<SuggestionId> = BTreeSet::new();
        let mut all: Vec<(usize, Suggestion)> = Vec::new();
        let mut entries: Vec<HashMap<EntryId, Entry>> = Vec::new();
        for (i, src) in self.sources.iter().enumerate() {
            let mut known: HashMap<EntryId, Entry> = HashMap::new();
            let commits = match src
                .history
                .commits(opts.since, opts.author.as_deref())
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    notes.push(format!("skipped {}: {e}", src.name));
                    entries.push(known);
                    continue;
                }
            };
            let mut resolved: HashMap<String, Option<EntryId>> = HashMap::new();
            let mut work = Vec::new();
            for c in commits {
                let mut mentioned = Vec::new();
                for r in &c.references {
                    if !resolved.contains_key(r) {
                        let found = match src.app.resolve(r).await {
                            Ok(e) => {
                                let id = e.id;
                                logged.extend(applied_in(&e));
                                known.insert(id, e);
                                Some(id)
                            }
                            // Reported, not fatal: the other references still count.
                            Err(e) => {
                                notes.push(format!(
                                    "{}: {r} (commit {}): {e}",
                                    src.name,
                                    short_commit(&c.id)
                                ));
                                None
                            }
                        };
                        resolved.insert(r.clone(), found);
                    }
                    if let Some(Some(id)) = resolved.get(r)
                        && !mentioned.contains(id)
                    {
                        mentioned.push(*id);
                    }
                }
                work.push(WorkCommit {
                    id: c.id,
                    at: c.at,
                    summary: c.summary,
                    entries: mentioned,
                });
            }
            all.extend(
                suggest(&src.name, work, opts.session)
                    .into_iter()
                    .map(|s| (i, s)),
            );
            entries.push(known);
        }
        let shown: Vec<Suggestion> = all.iter().map(|(_, s)| s.clone()).collect();
        let keep: BTreeSet<SuggestionId> = pending(shown, &ledger, &logged)
            .into_iter()
            .map(|s| s.id)
            .collect();
        let pending = all
            .into_iter()
            .filter(|(_, s)| keep.contains(&s.id))
            .filter_map(|(i, s)| {
                let e = entries.get(i)?.get(&s.entry)?;
                Some(Proposal {
                    repository: self.sources.get(i)?.path.clone(),
                    handle: e.handle,
                    title: e.title.clone(),
                    source: i,
                    suggestion: s,
                })
            })
            .collect();
        Ok(Scan { pending, notes })
    }

    /// The pending proposals `ids` name (full ids or unique prefixes), in the order given;
    /// an id that names none or several is an error naming it, and nothing is chosen.
    pub fn choose(scan: &Scan, ids: &[String]) -> Result<Vec<Proposal>> {
        let list: Vec<Suggestion> = scan.pending.iter().map(|p| p.suggestion.clone()).collect();
        let found = find(&list, ids)?;
        Ok(found
            .into_iter()
            .filter_map(|f| scan.pending.iter().find(|p| p.suggestion.id == f.id))
            .cloned()
            .collect())
    }

    /// Logs one proposal as a worklog on its entry (with `minutes` instead of its own when
    /// given) and records it in the ledger at once, so an interrupted run never logs it twice.
    /// `Ok(None)` when the entry already had a worklog from it (another run got there first).
    pub async fn apply(
        &self,
        p: &Proposal,
        minutes: Option<u32>,
        meta: &WriteMeta,
    ) -> Result<Option<Applied>> {
        let src = self.sources.get(p.source).ok_or_else(|| {
            StoreError::invalid(
                "suggestion",
                format!("suggestion {} is from another scan", p.suggestion.id),
            )
        })?;
        let done = src
            .app
            .apply_suggestion(&p.suggestion, minutes, meta)
            .await?;
        self.ledger
            .record(std::slice::from_ref(&p.suggestion.id), &[])
            .await?;
        Ok(done.map(|(entry, worklog)| Applied {
            suggestion: p.suggestion.id.clone(),
            repository: src.path.clone(),
            entry,
            worklog,
        }))
    }

    /// Applies each proposal in turn (see [`WorklogSuggester::apply`]); those already logged
    /// are left out of the answer.
    pub async fn apply_all(&self, chosen: &[Proposal], meta: &WriteMeta) -> Result<Vec<Applied>> {
        let mut out = Vec::new();
        for p in chosen {
            out.extend(self.apply(p, None, meta).await?);
        }
        Ok(out)
    }

    /// Never proposes these again.
    pub async fn dismiss(&self, chosen: &[Proposal]) -> Result<()> {
        let ids: Vec<SuggestionId> = chosen.iter().map(|p| p.suggestion.id.clone()).collect();
        self.ledger.record(&[], &ids).await
    }
}
