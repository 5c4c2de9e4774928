//! `devlog git branch`: a branch per entry, created at HEAD, optionally checked out.

use std::path::Path;

use gix::refs::transaction::PreviousValue;

use crate::repo::HeadState;
use crate::{GitError, Repo, cli};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Switch to the branch after creating it.
    pub checkout: bool,
    /// Changes under this path (the `.devlog` folder, relative to the working tree) do not
    /// make the tree dirty: they move to the new branch with the checkout, which is the point.
    pub ignore_dirty: Option<std::path::PathBuf>,
    /// Written to the branch's reflog.
    pub reflog_message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub commit: String,
    pub checked_out: bool,
}

/// Creates `refs/heads/<name>` at HEAD. Checks every precondition before changing anything,
/// so a refusal leaves the repository as it was.
pub fn create(repo: &Repo, name: &str, opts: &Options) -> Result<Outcome, GitError> {
    // The validator takes the full name (a bare `x` would count as a standalone ref like HEAD).
    let full = format!("refs/heads/{name}");
    gix::validate::reference::branch_name(full.as_str().into()).map_err(|e| {
        GitError::InvalidName {
            what: "branch",
            name: name.to_string(),
            reason: e.to_string(),
        }
    })?;
    let commit = match repo.head()? {
        HeadState::Unborn => return Err(GitError::UnbornHead),
        HeadState::Detached { commit } if opts.checkout => {
            return Err(GitError::DetachedHead { commit });
        }
        HeadState::Branch { commit, .. } | HeadState::Detached { commit } => commit,
    };
    if repo
        .inner
        .try_find_reference(full.as_str())
        .map_err(GitError::gix("cannot read references"))?
        .is_some()
    {
        return Err(GitError::BranchExists {
            name: name.to_string(),
        });
    }
    if opts.checkout {
        let dirty = repo.dirty_paths(opts.ignore_dirty.as_deref())?;
        if !dirty.is_empty() {
            return Err(GitError::DirtyWorktree { paths: dirty });
        }
    }
    let id = repo.head_commit()?;
    repo.inner
        .reference(
            full.as_str(),
            id,
            PreviousValue::MustNotExist,
            opts.reflog_message.as_str(),
        )
        .map_err(GitError::gix("cannot create the branch"))?;
    if opts.checkout {
        switch(repo.workdir(), name)?;
    }
    Ok(Outcome {
        name: name.to_string(),
        commit,
        checked_out: opts.checkout,
    })
}

/// Switches the working tree to `name`. The `git` program does it: gix has no checkout of an
/// existing working tree that updates the index and keeps local changes.
fn switch(workdir: &Path, name: &str) -> Result<(), GitError> {
    cli::run(workdir, &["switch", "--quiet", name]).map(drop)
}
