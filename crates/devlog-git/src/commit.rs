//! Auto-commit: committing the `.devlog` folder, and nothing else, after devlog changed it.

use std::path::Path;

use crate::{GitError, Repo, cli};

/// Paths under `devlog_rel` (relative to the working tree) that differ from HEAD, staged or
/// not, including new files (ignored ones such as `.devlog/.state/` excluded).
pub fn pending(repo: &Repo, devlog_rel: &Path) -> Result<Vec<String>, GitError> {
    let spec = pathspec(devlog_rel);
    let out = cli::run(
        repo.workdir(),
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--",
            &spec,
        ],
    )?;
    let mut paths = Vec::new();
    let mut records = out.split('\0');
    while let Some(rec) = records.next() {
        if rec.len() < 4 {
            continue;
        }
        let (code, path) = rec.split_at(3);
        if code.starts_with('R') || code.starts_with('C') {
            records.next();
        }
        paths.push(path.to_string());
    }
    Ok(paths)
}

/// Commits every change under `devlog_rel` with `message` and returns the new commit's id, or
/// `None` when there was nothing to commit.
///
/// Other work in the repository is never part of it: only the `.devlog` pathspec is staged,
/// and the commit is made with `--only` that pathspec, so files the user staged elsewhere stay
/// staged (uncommitted) and unstaged edits stay unstaged. The `git` program does this: it must
/// update the index for exactly these paths and run the repository's hooks and signing
/// configuration, which gix has no workflow for.
pub fn commit_devlog(
    repo: &Repo,
    devlog_rel: &Path,
    message: &str,
) -> Result<Option<String>, GitError> {
    if pending(repo, devlog_rel)?.is_empty() {
        return Ok(None);
    }
    let spec = pathspec(devlog_rel);
    cli::run(repo.workdir(), &["add", "--all", "--", &spec])?;
    cli::run(
        repo.workdir(),
        &[
            "commit",
            "--quiet",
            "--no-edit",
            "--only",
            "-m",
            message,
            "--",
            &spec,
        ],
    )?;
    let id = repo
        .inner
        .head_id()
        .map_err(GitError::gix("cannot read the new commit"))?;
    Ok(Some(id.to_string()))
}

/// A literal pathspec for a folder (no glob magic in folder names).
fn pathspec(rel: &Path) -> String {
    let p = rel.to_string_lossy().replace('\\', "/");
    if p.is_empty() {
        ":(literal).".to_string()
    } else {
        format!(":(literal){p}")
    }
}
