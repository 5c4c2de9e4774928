//! `GitError`: everything that can go wrong here, each variant saying what the user can do.

use std::path::PathBuf;

/// A failed git operation. Messages name the repository, branch or path involved.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{} is not inside a git repository; run `git init` there first", path.display())]
    NotARepository { path: PathBuf },
    #[error("the repository has no commits yet (HEAD is unborn); make a first commit")]
    UnbornHead,
    #[error(
        "HEAD is detached (at {commit}); a rebase or bisect may be in progress. Switch to a branch first"
    )]
    DetachedHead { commit: String },
    #[error(
        "the working tree has uncommitted changes outside .devlog ({}); commit or stash them first",
        paths.join(", ")
    )]
    DirtyWorktree { paths: Vec<String> },
    #[error("branch `{name}` already exists")]
    BranchExists { name: String },
    #[error("tag `{name}` already exists")]
    TagExists { name: String },
    #[error("`{name}` is not a valid {what} name: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: String,
    },
    #[error(
        "no remote `{remote}` (known: {}); add one with `git remote add {remote} <url>`",
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    MissingRemote { remote: String, known: Vec<String> },
    #[error(
        "the push to {remote}/{branch} was rejected because the remote has new commits; run the sync again ({stderr})"
    )]
    NonFastForward {
        remote: String,
        branch: String,
        stderr: String,
    },
    #[error(
        "the merge conflicts outside .devlog ({}); it was aborted and nothing changed: merge by hand with `git pull`",
        paths.join(", ")
    )]
    MergeConflict { paths: Vec<String> },
    #[error("{path}: cannot merge the entry ({reason}); the merge was aborted and nothing changed")]
    EntryMerge { path: String, reason: String },
    #[error("`{rev}` does not name a commit in this repository")]
    UnknownRevision { rev: String },
    #[error(
        "no git identity for the tag: set `git config user.name` and `git config user.email` (or GIT_COMMITTER_NAME/EMAIL)"
    )]
    NoIdentity,
    #[error(
        "no git identity to find your commits by ({stderr}): set `git config user.email` or pass --author"
    )]
    NoAuthor { stderr: String },
    #[error("the `git` program could not be started ({source}); install git or put it on PATH")]
    NoGitProgram {
        #[source]
        source: std::io::Error,
    },
    #[error("`git {command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{what}: {source}")]
    Gix {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl GitError {
    /// Wraps a gix error with what was being done.
    pub(crate) fn gix<E>(what: &'static str) -> impl FnOnce(E) -> GitError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |e| GitError::Gix {
            what,
            source: Box::new(e),
        }
    }

    /// Whether the user (not devlog or git) can fix it by changing the repository's state.
    pub fn is_precondition(&self) -> bool {
        matches!(
            self,
            GitError::UnbornHead
                | GitError::DetachedHead { .. }
                | GitError::DirtyWorktree { .. }
                | GitError::BranchExists { .. }
                | GitError::TagExists { .. }
                | GitError::MissingRemote { .. }
                | GitError::NonFastForward { .. }
                | GitError::MergeConflict { .. }
                | GitError::NoAuthor { .. }
        )
    }
}
