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

/// The entry references in a commit message, each once, in order: `devlog-<id, id prefix
/// (4+ hex digits) or handle>` and `#<handle>` (not inside a word, so `a#1` and `&#39;` are not).
pub fn references(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: String| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    let bytes = message.as_bytes();
    let boundary = |i: usize| {
        i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'&'
                || bytes[i - 1] == b'-'
                || bytes[i - 1] == b'/')
    };
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'#' && boundary(i) {
            let digits: String = message[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let after = i + 1 + digits.len();
            let ends_word = after >= bytes.len() || !bytes[after].is_ascii_alphanumeric();
            if !digits.is_empty() && ends_word && !digits.trim_start_matches('0').is_empty() {
                push(format!("#{digits}"));
            }
            i = after.max(i + 1);
            continue;
        }
        if message[i..].len() >= 7
            && message.is_char_boundary(i)
            && message[i..i + 7].eq_ignore_ascii_case("devlog-")
            && boundary(i)
        {
            let token: String = message[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let len = token.len();
            if let Some(r) = id_like(token.trim_end_matches('-')) {
                push(format!("devlog-{r}"));
            }
            i += 7 + len;
            continue;
        }
        i += 1;
    }
    out
}

/// The part of `token` that names an entry: a whole UUID, digits (a handle), or 4+ hex digits
/// (an id prefix), possibly followed by `-words`.
fn id_like(token: &str) -> Option<String> {
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let groups: Vec<&str> = token.split('-').collect();
    let uuid_shape = [8, 4, 4, 4, 12];
    if groups.len() >= 5
        && groups[..5]
            .iter()
            .zip(uuid_shape)
            .all(|(g, n)| g.len() == n && is_hex(g))
    {
        return Some(groups[..5].join("-").to_ascii_lowercase());
    }
    let first = groups.first()?;
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        return Some((*first).to_string());
    }
    if first.len() >= 4 && is_hex(first) {
        return Some(first.to_ascii_lowercase());
    }
    None
}

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
