//! `devlog git link`: commits whose messages mention entries (`devlog-<id prefix>`, `#42`).

use crate::{GitError, Repo};

/// A commit and the entry references its message contains, as written (`#42`,
/// `devlog-3f2a9c1e`); the caller resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentioningCommit {
    pub id: String,
    pub summary: String,
    pub references: Vec<String>,
}

/// Commits reachable from HEAD (and not from `since`, when given) that mention entries,
/// oldest first.
pub fn scan(repo: &Repo, since: Option<&str>) -> Result<Vec<MentioningCommit>, GitError> {
    let head = repo.head_commit()?;
    let mut walk = repo.inner.rev_walk([head]);
    if let Some(rev) = since {
        let hidden = repo
            .inner
            .rev_parse_single(rev)
            .map_err(|_| GitError::UnknownRevision {
                rev: rev.to_string(),
            })?
            .detach();
        walk = walk.with_hidden([hidden]);
    }
    let mut found = Vec::new();
    for info in walk
        .all()
        .map_err(GitError::gix("cannot walk the history"))?
    {
        let info = info.map_err(GitError::gix("cannot walk the history"))?;
        let commit = info
            .object()
            .map_err(GitError::gix("cannot read a commit"))?;
        let message = commit
            .message_raw()
            .map_err(GitError::gix("cannot read a commit message"))?
            .to_string();
        let references = references(&message);
        if !references.is_empty() {
            found.push(MentioningCommit {
                id: info.id.to_string(),
                summary: message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                references,
            });
        }
    }
    found.reverse();
    Ok(found)
}

/// The entry references in a commit message (see [`devlog_core::id::mentions`]).
pub use devlog_core::id::mentions as references;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_handles_and_id_prefixes() {
        let cases: &[(&str, &[&str])] = &[
            ("fix login (#12)", &["#12"]),
            (
                "refs devlog-3f2a9c1e and #4, #4 again",
                &["devlog-3f2a9c1e", "#4"],
            ),
            ("devlog-7: handle form", &["devlog-7"]),
            (
                "see devlog-0191e5a4-1b2c-4d3e-8f90-aabbccddeeff-x",
                &["devlog-0191e5a4-1b2c-4d3e-8f90-aabbccddeeff"],
            ),
            ("devlog-cafe-fix-things", &["devlog-cafe"]),
            ("a#1 &#39; issue#2 #x #0", &[]),
            ("my-devlog-cafe and devlog-xyz and devlog-abc", &[]),
            ("chore(devlog): new #3 Fix login", &["#3"]),
        ];
        for (msg, want) in cases {
            assert_eq!(references(msg), *want, "{msg}");
        }
    }
}
