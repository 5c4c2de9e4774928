//! `devlog worklog suggest`: the user's recent commits that mention entries, with their author
//! times (the sessions and worklogs are devlog-core's `worklog_suggest`).

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
