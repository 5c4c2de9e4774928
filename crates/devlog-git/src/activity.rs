//! Worklog suggestions' git side: the user's recent commits that mention entries, with their
//! author times (the sessions and worklogs are devlog-core's `worklog_suggest`), and the two
//! ports devlog-core's `WorklogSuggester` reads through: [`GitHistory`] (a repository's
//! commits) and [`LedgerFile`] (`.devlog/.state/worklog-suggestions.json`, the ids applied
//! and dismissed). The CLI, the MCP server and the HTTP server all use them through the
//! suggester the binary builds.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devlog_core::StoreError;
use devlog_core::worklog_suggest::{
    CommitHistory, HistoryError, LedgerStore, MentioningCommit, SuggestionId, SuggestionLedger,
};

use crate::{GitError, Repo, cli};

/// Who the commits are by: a name and an email, either of which matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// Whether a commit's author is this one: the same email, or the same name (both
    /// compared without case; empty never matches).
    pub fn matches(&self, name: &str, email: &str) -> bool {
        let same =
            |a: &str, b: &str| !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim());
        same(&self.email, email) || same(&self.name, name)
    }

    /// `--author X`: X is compared with both the name and the email.
    pub fn given(text: &str) -> Self {
        Self {
            name: text.trim().to_string(),
            email: text.trim().to_string(),
        }
    }
}

/// The identity git would write as the author of a new commit in this repository
/// (`git var GIT_AUTHOR_IDENT`: the environment, then the repository's, global and system
/// configuration, as git itself decides). The `git` program answers: it applies every rule
/// (includes, `author.*` over `user.*`, environment overrides) that a re-implementation would
/// get subtly wrong.
pub fn identity(repo: &Repo) -> Result<Author, GitError> {
    let out = cli::output(repo.workdir(), &["var", "GIT_AUTHOR_IDENT"])?;
    if !out.status.success() {
        return Err(GitError::NoAuthor {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // `Name <email> 1700000000 +0100`
    let (name, rest) = line.split_once('<').ok_or_else(|| GitError::NoAuthor {
        stderr: format!("unexpected `git var` output: {line}"),
    })?;
    let email = rest.split_once('>').map(|(e, _)| e).unwrap_or_default();
    Ok(Author {
        name: name.trim().to_string(),
        email: email.trim().to_string(),
    })
}

/// A commit by the author, with the entry references its message contains as written (the
/// caller resolves them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthoredCommit {
    pub id: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
    pub summary: String,
    pub references: Vec<String>,
}

/// Commits reachable from HEAD or any local branch, authored by `author` at or after `since`
/// (seconds since the epoch), that mention entries; oldest first, each once.
///
/// The walk goes newest first by commit time and stops at the first commit committed before
/// `since` (a commit is committed no earlier than it is authored, so none authored since is
/// missed unless clocks disagree).
pub fn commits_since(
    repo: &Repo,
    since: i64,
    author: &Author,
) -> Result<Vec<AuthoredCommit>, GitError> {
    let mut tips: Vec<gix::ObjectId> = Vec::new();
    match repo.head_commit() {
        Ok(id) => tips.push(id),
        Err(GitError::UnbornHead) => {}
        Err(e) => return Err(e),
    }
    let refs = repo
        .inner
        .references()
        .map_err(GitError::gix("cannot read references"))?;
    let branches = refs
        .local_branches()
        .map_err(GitError::gix("cannot read branches"))?;
    for r in branches {
        // A broken reference is passed over: the others still name commits to read.
        let Ok(mut r) = r else { continue };
        if let Ok(id) = r.peel_to_id() {
            let id = id.detach();
            if !tips.contains(&id) {
                tips.push(id);
            }
        }
    }
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let walk = repo
        .inner
        .rev_walk(tips)
        .sorting(gix::revision::walk::Sorting::ByCommitTimeCutoff {
            order: gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
            seconds: since,
        })
        .all()
        .map_err(GitError::gix("cannot walk the history"))?;
    let mut found = Vec::new();
    for info in walk {
        let info = info.map_err(GitError::gix("cannot walk the history"))?;
        let commit = info
            .object()
            .map_err(GitError::gix("cannot read a commit"))?;
        let sig = commit
            .author()
            .map_err(GitError::gix("cannot read a commit's author"))?;
        let time = sig.seconds();
        if time < since || !author.matches(&sig.name.to_string(), &sig.email.to_string()) {
            continue;
        }
        let message = commit
            .message_raw()
            .map_err(GitError::gix("cannot read a commit message"))?
            .to_string();
        let references = crate::link::references(&message);
        if references.is_empty() {
            continue;
        }
        found.push(AuthoredCommit {
            id: info.id.to_string(),
            time,
            summary: message
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
            references,
        });
    }
    found.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    Ok(found)
}

/// A repository's history as devlog-core's [`CommitHistory`] port: the walk of
/// [`commits_since`] on tokio's blocking pool (gix reads are blocking), the author given or
/// the repository's own identity ([`identity`]).
#[derive(Debug, Clone)]
pub struct GitHistory {
    workdir: PathBuf,
}

impl GitHistory {
    /// The repository around `path` (a folder in its work tree, `.devlog` for instance).
    pub fn discover(path: &Path) -> Result<Self, GitError> {
        let repo = Repo::discover(path)?;
        let workdir = repo.workdir().to_path_buf();
        Ok(Self {
            workdir: std::fs::canonicalize(&workdir).unwrap_or(workdir),
        })
    }

    /// The work tree's folder (canonical when it could be resolved).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The repository's name: its folder's (suggestion ids derive from it).
    pub fn name(&self) -> String {
        self.workdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.workdir.display().to_string())
    }

    fn read(&self, since: i64, author: Option<&str>) -> Result<Vec<AuthoredCommit>, GitError> {
        let repo = Repo::discover(&self.workdir)?;
        let author = match author {
            Some(a) => Author::given(a),
            None => identity(&repo)?,
        };
        commits_since(&repo, since, &author)
    }
}

#[async_trait]
impl CommitHistory for GitHistory {
    async fn commits(
        &self,
        since: DateTime<Utc>,
        author: Option<&str>,
    ) -> Result<Vec<MentioningCommit>, HistoryError> {
        let me = self.clone();
        let author = author.map(str::to_string);
        let found =
            tokio::task::spawn_blocking(move || me.read(since.timestamp(), author.as_deref()))
                .await
                .map_err(|e| HistoryError::new(format!("reading the history stopped: {e}")))?
                .map_err(|e| HistoryError::new(e.to_string()))?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                Some(MentioningCommit {
                    at: DateTime::from_timestamp(c.time, 0)?,
                    id: c.id,
                    summary: c.summary,
                    references: c.references,
                })
            })
            .collect())
    }
}

/// The ledger of applied and dismissed suggestion ids as a file (the CLI's
/// `.devlog/.state/worklog-suggestions.json`: machine-local, like the rest of `.state`).
/// Writes go beside the file and are renamed over it, so a crash leaves the old or the new
/// ledger; a process-wide lock orders the read-modify-writes of one process (two processes
/// recording at once may lose a dismissal, never a logged worklog: worklogs carry their
/// suggestion's id).
#[derive(Debug)]
pub struct LedgerFile {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl LedgerFile {
    /// The ledger of the store in `devlog_dir` (`<devlog_dir>/.state/worklog-suggestions.json`).
    pub fn in_devlog_dir(devlog_dir: &Path) -> Self {
        Self::at(devlog_dir.join(".state").join("worklog-suggestions.json"))
    }

    pub fn at(path: PathBuf) -> Self {
        Self {
            path,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<SuggestionLedger, StoreError> {
        let path = self.path.display().to_string();
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                message: e.to_string(),
                hint: "fix or delete it (dismissed suggestions would then be proposed again)"
                    .into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SuggestionLedger::default()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    fn write(&self, ledger: &SuggestionLedger) -> Result<(), StoreError> {
        let write = || -> std::io::Result<()> {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut bytes = serde_json::to_vec_pretty(ledger)?;
            bytes.push(b'\n');
            // One temporary file per process and write: two processes recording at once must
            // not rename each other's.
            static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = self
                .path
                .with_extension(format!("json.{}-{n}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|source| StoreError::Io {
            path: self.path.display().to_string(),
            source,
        })
    }
}

#[async_trait]
impl LedgerStore for LedgerFile {
    async fn load(&self) -> Result<SuggestionLedger, StoreError> {
        self.read()
    }

    async fn record(
        &self,
        applied: &[SuggestionId],
        dismissed: &[SuggestionId],
    ) -> Result<(), StoreError> {
        if applied.is_empty() && dismissed.is_empty() {
            return Ok(());
        }
        let _held = self.lock.lock().await;
        let mut ledger = self.read()?;
        ledger.applied.extend(applied.iter().cloned());
        ledger.dismissed.extend(dismissed.iter().cloned());
        self.write(&ledger)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn authors_match_by_email_or_name_without_case() {
        let me = Author {
            name: "Tess Ter".into(),
            email: "tess@example.com".into(),
        };
        assert!(me.matches("Someone", "TESS@example.com"));
        assert!(me.matches("tess ter", "other@example.com"));
        assert!(!me.matches("Other", "other@example.com"));
        let nobody = Author {
            name: String::new(),
            email: String::new(),
        };
        assert!(!nobody.matches("", ""));
        assert!(Author::given("tess@example.com").matches("x", "tess@example.com"));
    }
}
