//! Finding repositories that carry a `.devlog` folder under given root folders.

use std::path::{Path, PathBuf};

use crate::GitError;

/// Folders never searched: version-control internals, dependency and build output trees.
const SKIP: &[&str] = &["node_modules", "target", "vendor", "dist", "build"];

/// Deepest folder level searched below a root.
pub const MAX_DEPTH: usize = 8;

/// Every folder under `roots` (roots included) that is a git working tree (has `.git`) and
/// has a `.devlog` folder, sorted and each once. Hidden folders and [`SKIP`] are not
/// entered; unreadable folders are passed over. `progress(done, total)` counts the roots'
/// immediate subfolders.
pub fn find(
    roots: &[PathBuf],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<PathBuf>, GitError> {
    let mut units: Vec<(PathBuf, usize)> = Vec::new();
    let mut found = Vec::new();
    for root in roots {
        let root = std::fs::canonicalize(root).map_err(|source| GitError::Io {
            path: root.clone(),
            source,
        })?;
        if is_devlog_repo(&root) {
            found.push(root.clone());
        }
        units.extend(subdirs(&root).into_iter().map(|d| (d, 1)));
    }
    let total = units.len() as u64;
    progress(0, total);
    for (done, (dir, depth)) in units.into_iter().enumerate() {
        let mut stack = vec![(dir, depth)];
        while let Some((d, depth)) = stack.pop() {
            if is_devlog_repo(&d) {
                found.push(d.clone());
            }
            if depth < MAX_DEPTH {
                stack.extend(subdirs(&d).into_iter().map(|s| (s, depth + 1)));
            }
        }
        progress(done as u64 + 1, total);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn is_devlog_repo(dir: &Path) -> bool {
    dir.join(".git").exists() && dir.join(".devlog").is_dir()
}

/// Subfolders worth entering (not symlinks, not hidden, not in [`SKIP`]).
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && !SKIP.contains(&name.as_ref())
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_only_repositories_with_a_devlog_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let mk = |p: &str| std::fs::create_dir_all(tmp.path().join(p)).unwrap();
        mk("a/.git");
        mk("a/.devlog/entries");
        mk("b/.git"); // no .devlog
        mk("c/.devlog"); // no .git
        mk("deep/x/y/d/.git");
        mk("deep/x/y/d/.devlog");
        mk("node_modules/e/.git");
        mk("node_modules/e/.devlog");
        let mut calls = Vec::new();
        let found = find(&[tmp.path().to_path_buf()], &mut |d, t| calls.push((d, t))).unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        assert_eq!(found, vec![root.join("a"), root.join("deep/x/y/d")]);
        assert_eq!(calls.first(), Some(&(0, 4)));
        assert_eq!(calls.last(), Some(&(4, 4)));
        assert!(find(&[tmp.path().join("missing")], &mut |_, _| {}).is_err());
    }
}
