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
    /// A branch of that name already there is the outcome (`created: false`, at its own
    /// commit; switched to with `checkout`) instead of [`GitError::BranchExists`]: a caller
    /// that is retried or resumed (a workflow step) finds the branch it made before.
    pub keep_existing: bool,
    /// Check every precondition and say what would happen (`created`, the commit), changing
    /// nothing.
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    /// The commit the branch points at.
    pub commit: String,
    pub checked_out: bool,
    /// False when the branch was already there (only with [`Options::keep_existing`]).
    pub created: bool,
}

/// The commit branch `name` points at, if the branch exists.
pub fn find(repo: &Repo, name: &str) -> Result<Option<String>, GitError> {
    let full = format!("refs/heads/{name}");
    let found = repo
        .inner
        .try_find_reference(full.as_str())
        .map_err(GitError::gix("cannot read references"))?;
    match found {
        None => Ok(None),
        Some(mut r) => {
            let id = r
                .peel_to_id()
                .map_err(GitError::gix("cannot read the branch"))?;
            Ok(Some(id.to_string()))
        }
    }
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
    let head = repo.head()?;
    let (commit, on) = match head {
        HeadState::Unborn => return Err(GitError::UnbornHead),
        HeadState::Detached { commit } if opts.checkout => {
            return Err(GitError::DetachedHead { commit });
        }
        HeadState::Detached { commit } => (commit, None),
        HeadState::Branch { commit, name } => (commit, Some(name)),
    };
    let existing = find(repo, name)?;
    if existing.is_some() && !opts.keep_existing {
        return Err(GitError::BranchExists {
            name: name.to_string(),
        });
    }
    // Switching to a branch HEAD is already on changes nothing, so it needs no clean tree.
    let switch_needed = opts.checkout && on.as_deref() != Some(name);
    if switch_needed {
        let dirty = repo.dirty_paths(opts.ignore_dirty.as_deref())?;
        if !dirty.is_empty() {
            return Err(GitError::DirtyWorktree { paths: dirty });
        }
    }
    if let Some(at) = existing {
        if switch_needed && !opts.dry_run {
            switch(repo.workdir(), name)?;
        }
        return Ok(Outcome {
            name: name.to_string(),
            commit: at,
            checked_out: opts.checkout,
            created: false,
        });
    }
    if opts.dry_run {
        return Ok(Outcome {
            name: name.to_string(),
            commit,
            checked_out: opts.checkout,
            created: true,
        });
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
        created: true,
    })
}

/// Where [`push`] put a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub remote: String,
    /// False when the remote branch was already at the local branch's commit (nothing sent).
    pub sent: bool,
}

/// Pushes branch `name` to `remote` (default: the branch's configured remote, else `origin`)
/// under the same name and makes it the branch's upstream. Pushing a branch the remote already
/// has at that commit sends nothing, so a repeated or resumed caller pushes once. A remote
/// branch that moved elsewhere is not overwritten: the push is refused and says so. With
/// `dry_run`, checks the branch and the remote and says whether a push would send anything,
/// changing nothing. The `git` program pushes (gix has no push).
pub fn push(
    repo: &Repo,
    name: &str,
    remote: Option<&str>,
    dry_run: bool,
) -> Result<Pushed, GitError> {
    let Some(commit) = find(repo, name)? else {
        return Err(GitError::Command {
            command: format!("push {name}"),
            stderr: format!("there is no local branch `{name}` to push"),
        });
    };
    let wd = repo.workdir();
    let remote = crate::sync::remote_for(wd, name, remote)?;
    let full = format!("refs/heads/{name}");
    let there = cli::run(wd, &["ls-remote", "--heads", &remote, &full])?;
    let remote_at = there.split_whitespace().next().map(str::to_string);
    if remote_at.as_deref() == Some(commit.as_str()) {
        return Ok(Pushed {
            remote,
            sent: false,
        });
    }
    if dry_run {
        return Ok(Pushed { remote, sent: true });
    }
    let out = cli::output(
        wd,
        &[
            "push",
            "--quiet",
            "--set-upstream",
            &remote,
            &format!("{full}:{full}"),
        ],
    )?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(GitError::Command {
            command: format!("push {remote} {name}"),
            stderr: if stderr.contains("rejected") || stderr.contains("fetch first") {
                format!(
                    "{remote}/{name} has commits the local branch does not: it was not \
                     overwritten; merge them into {name} (git pull) and push again ({stderr})"
                )
            } else {
                stderr
            },
        });
    }
    Ok(Pushed { remote, sent: true })
}

/// Switches the working tree to `name`. The `git` program does it: gix has no checkout of an
/// existing working tree that updates the index and keeps local changes.
fn switch(workdir: &Path, name: &str) -> Result<(), GitError> {
    cli::run(workdir, &["switch", "--quiet", name]).map(drop)
}
