//! `devlog repos sync`: fetch, merge and push a branch, merging concurrent edits of `.devlog`
//! entry files with a caller-supplied three-way merge instead of text conflicts.
//!
//! fetch, merge and push run the `git` program: gix has no push and no merge-into-worktree
//! workflow. Every precondition is checked before the first change.

use std::path::Path;

use crate::repo::HeadState;
use crate::{GitError, Repo, cli};

/// Merges one entry file: `base` (absent when both sides added it), `ours`, `theirs` → the
/// merged file, or why it cannot be merged.
pub type Resolver<'a> = dyn Fn(Option<&[u8]>, &[u8], &[u8]) -> Result<Vec<u8>, String> + 'a;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The remote; default: the branch's upstream remote, else `origin`.
    pub remote: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub remote: String,
    pub branch: String,
    /// Entry files merged field by field (both sides changed them).
    pub merged_files: Vec<String>,
    /// Whether the remote branch existed (false: first push).
    pub remote_existed: bool,
    pub pushed: bool,
}

/// Syncs the current branch with its remote. `devlog_rel` is the `.devlog` folder relative to
/// the working tree: conflicts in files under it are resolved by `resolve`; a conflict
/// anywhere else aborts the merge and leaves the repository as it was.
pub fn sync(
    repo: &Repo,
    devlog_rel: &Path,
    opts: &Options,
    resolve: &Resolver<'_>,
) -> Result<Outcome, GitError> {
    let branch = match repo.head()? {
        HeadState::Branch { name, .. } => name,
        HeadState::Detached { commit } => return Err(GitError::DetachedHead { commit }),
        HeadState::Unborn => return Err(GitError::UnbornHead),
    };
    let wd = repo.workdir();
    let remote = remote_for(wd, &branch, opts.remote.as_deref())?;
    let dirty = repo.dirty_paths(None)?;
    if !dirty.is_empty() {
        return Err(GitError::DirtyWorktree { paths: dirty });
    }
    cli::run(wd, &["fetch", "--quiet", &remote])?;
    let tracking = format!("refs/remotes/{remote}/{branch}");
    let remote_existed = cli::output(wd, &["rev-parse", "--verify", "--quiet", &tracking])?
        .status
        .success();
    let mut merged_files = Vec::new();
    if remote_existed {
        merged_files = merge(wd, devlog_rel, &remote, &branch, &tracking, resolve)?;
    }
    let push = cli::output(
        wd,
        &[
            "push",
            "--quiet",
            &remote,
            &format!("HEAD:refs/heads/{branch}"),
        ],
    )?;
    if !push.status.success() {
        let stderr = String::from_utf8_lossy(&push.stderr).trim().to_string();
        if stderr.contains("non-fast-forward")
            || stderr.contains("fetch first")
            || stderr.contains("rejected")
        {
            return Err(GitError::NonFastForward {
                remote,
                branch,
                stderr,
            });
        }
        return Err(GitError::Command {
            command: format!("push {remote} HEAD:refs/heads/{branch}"),
            stderr,
        });
    }
    Ok(Outcome {
        remote,
        branch,
        merged_files,
        remote_existed,
        pushed: true,
    })
}

/// The remote for `branch`: `explicit`, else the branch's configured remote, else `origin`;
/// one the repository does not have is [`GitError::MissingRemote`].
pub fn remote_for(wd: &Path, branch: &str, explicit: Option<&str>) -> Result<String, GitError> {
    let remotes: Vec<String> = cli::run(wd, &["remote"])?
        .lines()
        .map(str::to_string)
        .collect();
    let remote = match explicit {
        Some(r) => r.to_string(),
        None => cli::run(wd, &["config", "--get", &format!("branch.{branch}.remote")])
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "origin".to_string()),
    };
    if remotes.contains(&remote) {
        Ok(remote)
    } else {
        Err(GitError::MissingRemote {
            remote,
            known: remotes,
        })
    }
}

fn merge(
    wd: &Path,
    devlog_rel: &Path,
    remote: &str,
    branch: &str,
    tracking: &str,
    resolve: &Resolver<'_>,
) -> Result<Vec<String>, GitError> {
    let message = format!("chore(devlog): merge {remote}/{branch}");
    let out = cli::output(
        wd,
        &["merge", "--quiet", "--no-edit", "-m", &message, tracking],
    )?;
    if out.status.success() {
        return Ok(Vec::new());
    }
    let conflicted: Vec<String> = cli::run(wd, &["diff", "--name-only", "-z", "--diff-filter=U"])?
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if conflicted.is_empty() {
        // The merge failed for another reason (it would overwrite untracked files, ...).
        return Err(GitError::Command {
            command: format!("merge {tracking}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let prefix = format!("{}/", devlog_rel.to_string_lossy().replace('\\', "/"));
    let outside: Vec<String> = conflicted
        .iter()
        .filter(|p| !(p.starts_with(&prefix) && p.ends_with(".json")))
        .cloned()
        .collect();
    if !outside.is_empty() {
        abort(wd);
        return Err(GitError::MergeConflict { paths: outside });
    }
    for path in &conflicted {
        let stage = |n: u8| -> Result<Option<Vec<u8>>, GitError> {
            let o = cli::output(wd, &["show", &format!(":{n}:{path}")])?;
            Ok(o.status.success().then_some(o.stdout))
        };
        let (base, ours, theirs) = (stage(1)?, stage(2)?, stage(3)?);
        let merged = match (ours, theirs) {
            (Some(o), Some(t)) => match resolve(base.as_deref(), &o, &t) {
                Ok(m) => m,
                Err(reason) => {
                    abort(wd);
                    return Err(GitError::EntryMerge {
                        path: path.clone(),
                        reason,
                    });
                }
            },
            // Changed on one side, deleted on the other: the change wins (nothing is lost).
            (Some(kept), None) | (None, Some(kept)) => kept,
            (None, None) => continue,
        };
        let file = wd.join(path);
        std::fs::write(&file, merged).map_err(|source| {
            abort(wd);
            GitError::Io { path: file, source }
        })?;
        cli::run(wd, &["add", "--", path])?;
    }
    cli::run(wd, &["commit", "--quiet", "--no-edit", "-m", &message])?;
    Ok(conflicted)
}

/// Best effort: the merge state is removed and the tree restored to HEAD (the tree was clean
/// before the merge started).
fn abort(wd: &Path) {
    let _ = cli::output(wd, &["merge", "--abort"]);
}
