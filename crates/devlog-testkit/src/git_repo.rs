//! Real git repositories for tests (worklog suggestions on MCP and REST): made with the `git`
//! program in a folder the test owns, commits at set times (`GIT_AUTHOR_DATE`,
//! `GIT_COMMITTER_DATE`) by a fixed author, independent of the user's git configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The author of [`GitRepo::commit`]'s commits.
pub const AUTHOR_NAME: &str = "Tess Ter";
pub const AUTHOR_EMAIL: &str = "tess@example.invalid";

/// A git repository whose work tree is `dir`.
#[derive(Debug, Clone)]
pub struct GitRepo {
    pub dir: PathBuf,
}

impl GitRepo {
    /// `git init` in `dir` (created), on branch `main`, with [`AUTHOR_NAME`] as the
    /// repository's own identity.
    pub fn init(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let r = Self {
            dir: dir.to_path_buf(),
        };
        r.git(&["init", "-q", "-b", "main"], None, None);
        r.git(&["config", "user.name", AUTHOR_NAME], None, None);
        r.git(&["config", "user.email", AUTHOR_EMAIL], None, None);
        r
    }

    fn git(&self, args: &[&str], date: Option<&str>, author: Option<(&str, &str)>) -> String {
        let mut c = Command::new("git");
        let (name, email) = author.unwrap_or((AUTHOR_NAME, AUTHOR_EMAIL));
        c.args(args)
            .current_dir(&self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
            .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL);
        if let Some(d) = date {
            c.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
        }
        let o = c.output().expect("the git program runs");
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// An empty commit with `message` at `date` (e.g. `2025-03-10T09:00:00Z`).
    pub fn commit(&self, date: &str, message: &str) {
        self.git(
            &["commit", "-q", "--allow-empty", "-m", message],
            Some(date),
            None,
        );
    }

    /// An empty commit by someone else.
    pub fn commit_by(&self, date: &str, message: &str, name: &str, email: &str) {
        self.git(
            &["commit", "-q", "--allow-empty", "-m", message],
            Some(date),
            Some((name, email)),
        );
    }
}
