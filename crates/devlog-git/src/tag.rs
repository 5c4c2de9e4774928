//! `devlog git tag`: an annotated release tag at HEAD.

use gix::refs::transaction::PreviousValue;

use crate::{GitError, Repo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub commit: String,
}

/// Creates the annotated tag `name` at HEAD with `message`, tagged by the repository's
/// committer identity. Refuses an existing tag.
pub fn create(repo: &Repo, name: &str, message: &str) -> Result<Outcome, GitError> {
    gix::validate::tag::name(name.into()).map_err(|e| GitError::InvalidName {
        what: "tag",
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    let commit = repo.head_commit()?;
    let full = format!("refs/tags/{name}");
    if repo
        .inner
        .try_find_reference(full.as_str())
        .map_err(GitError::gix("cannot read references"))?
        .is_some()
    {
        return Err(GitError::TagExists {
            name: name.to_string(),
        });
    }
    let tagger = repo
        .inner
        .committer()
        .ok_or(GitError::NoIdentity)?
        .map_err(GitError::gix("cannot read the committer identity"))?;
    repo.inner
        .tag(
            name,
            commit,
            gix::object::Kind::Commit,
            Some(tagger),
            message,
            PreviousValue::MustNotExist,
        )
        .map_err(GitError::gix("cannot create the tag"))?;
    Ok(Outcome {
        name: name.to_string(),
        commit: commit.to_string(),
    })
}
