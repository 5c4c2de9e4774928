//! Opening the repository around a folder, and what HEAD and the working tree look like.

use std::path::{Path, PathBuf};

use crate::{GitError, cli};

/// A repository with a working tree (bare repositories have no `.devlog` to work on).
#[derive(Debug)]
pub struct Repo {
    pub(crate) inner: gix::Repository,
    workdir: PathBuf,
}

/// Where HEAD points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadState {
    /// On a branch (short name) at a commit.
    Branch { name: String, commit: String },
    /// Detached at a commit.
    Detached { commit: String },
    /// A new repository without commits.
    Unborn,
}

impl Repo {
    /// The repository containing `path` (found upwards like git does).
    pub fn discover(path: &Path) -> Result<Self, GitError> {
        let inner = gix::discover(path).map_err(|_| GitError::NotARepository {
            path: path.to_path_buf(),
        })?;
        let workdir =
            inner
                .workdir()
                .map(Path::to_path_buf)
                .ok_or_else(|| GitError::NotARepository {
                    path: path.to_path_buf(),
                })?;
        Ok(Self { inner, workdir })
    }

    /// The top folder of the working tree.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    pub fn head(&self) -> Result<HeadState, GitError> {
        let head = self
            .inner
            .head()
            .map_err(GitError::gix("cannot read HEAD"))?;
        if head.is_unborn() {
            return Ok(HeadState::Unborn);
        }
        let commit = head
            .id()
            .map(|id| id.to_string())
            .ok_or(GitError::UnbornHead)?;
        Ok(match head.referent_name() {
            Some(name) => HeadState::Branch {
                name: name.shorten().to_string(),
                commit,
            },
            None => HeadState::Detached { commit },
        })
    }

    /// The commit HEAD points at.
    pub fn head_commit(&self) -> Result<gix::ObjectId, GitError> {
        match self.head()? {
            HeadState::Unborn => Err(GitError::UnbornHead),
            HeadState::Branch { .. } | HeadState::Detached { .. } => Ok(self
                .inner
                .head_id()
                .map_err(GitError::gix("cannot read HEAD"))?
                .detach()),
        }
    }

    /// Tracked files with uncommitted changes (staged or not), excluding `exclude` (a path
    /// relative to the working tree, such as `.devlog`). Untracked files do not count.
    ///
    /// Uses `git status`: gix's status needs its index/worktree-diff features (a large part of
    /// the build) for the one check that always precedes a `git` CLI checkout anyway.
    pub fn dirty_paths(&self, exclude: Option<&Path>) -> Result<Vec<String>, GitError> {
        let out = cli::run(
            &self.workdir,
            &["status", "--porcelain=v1", "-z", "--untracked-files=no"],
        )?;
        let exclude = exclude.map(|p| p.to_string_lossy().replace('\\', "/"));
        let mut paths = Vec::new();
        let mut records = out.split('\0');
        while let Some(rec) = records.next() {
            if rec.len() < 4 {
                continue;
            }
            let (code, path) = rec.split_at(3);
            // Renames and copies carry the old path as the next record.
            if code.starts_with('R') || code.starts_with('C') {
                records.next();
            }
            let inside = exclude
                .as_deref()
                .is_some_and(|ex| path == ex || path.starts_with(&format!("{ex}/")));
            if !inside {
                paths.push(path.to_string());
            }
        }
        Ok(paths)
    }

    /// `path` relative to the working tree, with `/` separators.
    pub fn relative(&self, path: &Path) -> Result<PathBuf, GitError> {
        let abs = std::fs::canonicalize(path).map_err(|source| GitError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let root = std::fs::canonicalize(&self.workdir).map_err(|source| GitError::Io {
            path: self.workdir.clone(),
            source,
        })?;
        abs.strip_prefix(&root)
            .map(Path::to_path_buf)
            .map_err(|_| GitError::NotARepository {
                path: path.to_path_buf(),
            })
    }
}
