//! The library against real repositories in temporary folders.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::Command;

use devlog_git::repo::HeadState;
use devlog_git::{GitError, Repo, branch, commit, link, tag};

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn head_states_and_dirty_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    git(d, &["init", "-q", "-b", "main"]);
    let repo = Repo::discover(d).unwrap();
    assert_eq!(repo.head().unwrap(), HeadState::Unborn);
    let r = branch::create(&repo, "x", &branch::Options::default());
    assert!(matches!(r, Err(GitError::UnbornHead)), "{r:?}");
    write(d, "a.txt", "a\n");
    write(d, "b.txt", "b\n");
    write(d, ".devlog/entries/001-x.json", "{}\n");
    git(d, &["add", "."]);
    git(d, &["commit", "-q", "-m", "init"]);
    let HeadState::Branch { name, .. } = repo.head().unwrap() else {
        panic!("on a branch")
    };
    assert_eq!(name, "main");
    assert!(repo.dirty_paths(None).unwrap().is_empty());
    // Untracked files do not count; changes under the excluded folder do not either.
    write(d, "new.txt", "n\n");
    write(d, ".devlog/entries/001-x.json", "{\"a\":1}\n");
    assert!(
        repo.dirty_paths(Some(Path::new(".devlog")))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.dirty_paths(None).unwrap(),
        vec![".devlog/entries/001-x.json"]
    );
    git(d, &["mv", "b.txt", "c.txt"]);
    assert_eq!(
        repo.dirty_paths(Some(Path::new(".devlog"))).unwrap(),
        vec!["c.txt"]
    );
    git(d, &["checkout", "-q", "--detach"]);
    assert!(matches!(repo.head().unwrap(), HeadState::Detached { .. }));
}

#[test]
fn commit_devlog_commits_nothing_else_and_nothing_when_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    git(d, &["init", "-q", "-b", "main"]);
    write(d, "a.txt", "a\n");
    git(d, &["add", "."]);
    git(d, &["commit", "-q", "-m", "init"]);
    // Identity for the commit the library makes comes from the repository's config here.
    git(d, &["config", "user.name", "t"]);
    git(d, &["config", "user.email", "t@example.invalid"]);
    let repo = Repo::discover(d).unwrap();
    let rel = Path::new(".devlog");
    assert!(
        commit::commit_devlog(&repo, rel, "nothing")
            .unwrap()
            .is_none()
    );

    write(d, ".devlog/entries/001-x.json", "{}\n");
    write(d, ".devlog/.gitignore", ".state/\n");
    write(d, ".devlog/.state/index.sqlite", "local\n");
    write(d, "a.txt", "edited\n");
    write(d, "staged.txt", "s\n");
    git(d, &["add", "staged.txt"]);
    assert_eq!(
        commit::pending(&repo, rel).unwrap(),
        vec![".devlog/.gitignore", ".devlog/entries/001-x.json"]
    );
    let id = commit::commit_devlog(&repo, rel, "chore(devlog): x")
        .unwrap()
        .unwrap();
    assert_eq!(git(d, &["rev-parse", "HEAD"]).trim(), id);
    let files = git(d, &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(
        files.trim(),
        ".devlog/.gitignore\n.devlog/entries/001-x.json"
    );
    let status = git(d, &["status", "--porcelain"]);
    assert!(
        status.contains(" M a.txt") && status.contains("A  staged.txt"),
        "{status}"
    );
    assert!(commit::pending(&repo, rel).unwrap().is_empty());
}

#[test]
fn branches_tags_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["commit", "-q", "--allow-empty", "-m", "init"]);
    let base = git(d, &["rev-parse", "HEAD"]).trim().to_string();
    git(d, &["commit", "-q", "--allow-empty", "-m", "work on #3"]);
    git(
        d,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "more (devlog-cafe12)",
        ],
    );
    let repo = Repo::discover(d).unwrap();

    let found = link::scan(&repo, None).unwrap();
    let refs: Vec<_> = found.iter().map(|c| c.references.clone()).collect();
    assert_eq!(
        refs,
        vec![vec!["#3".to_string()], vec!["devlog-cafe12".to_string()]]
    );
    assert_eq!(found[0].summary, "work on #3");
    assert_eq!(link::scan(&repo, Some(&base)).unwrap().len(), 2);
    assert_eq!(link::scan(&repo, Some("HEAD~1")).unwrap().len(), 1);
    assert!(matches!(
        link::scan(&repo, Some("nope")),
        Err(GitError::UnknownRevision { .. })
    ));

    let opts = branch::Options::default();
    let b = branch::create(&repo, "devlog/3-x", &opts).unwrap();
    assert_eq!(git(d, &["rev-parse", "devlog/3-x"]).trim(), b.commit);
    assert!(matches!(
        branch::create(&repo, "devlog/3-x", &opts),
        Err(GitError::BranchExists { .. })
    ));
    assert!(matches!(
        branch::create(&repo, "bad..name", &opts),
        Err(GitError::InvalidName { .. })
    ));
    assert!(matches!(
        branch::create(&repo, "HEAD", &opts),
        Err(GitError::InvalidName { .. })
    ));
    // A name without a slash (an empty prefix) is a fine branch name.
    branch::create(&repo, "3-x", &opts).unwrap();
    assert_eq!(git(d, &["rev-parse", "3-x"]).trim(), b.commit);

    // A dry run says what would happen and changes nothing.
    let dry = branch::Options {
        dry_run: true,
        ..branch::Options::default()
    };
    let planned = branch::create(&repo, "devlog/4-y", &dry).unwrap();
    assert!(planned.created && planned.commit == b.commit, "{planned:?}");
    assert_eq!(branch::find(&repo, "devlog/4-y").unwrap(), None);
    // Keeping an existing branch: found at its own commit, not created again (a workflow
    // step resumed after it made the branch).
    let keep = branch::Options {
        keep_existing: true,
        ..branch::Options::default()
    };
    let found = branch::create(&repo, "devlog/3-x", &keep).unwrap();
    assert!(!found.created, "{found:?}");
    assert_eq!(found.commit, b.commit);
    assert_eq!(
        branch::find(&repo, "devlog/3-x").unwrap(),
        Some(b.commit.clone())
    );

    // The tagger is the identity git itself would use: the repository's, unless the
    // environment (GIT_COMMITTER_NAME, as CI sets it) overrides it.
    git(d, &["config", "user.name", "Rel Ease"]);
    git(d, &["config", "user.email", "rel@example.invalid"]);
    let repo = Repo::discover(d).unwrap();
    tag::create(&repo, "v1", "v1\n\n#3 X\n").unwrap();
    assert_eq!(
        git(
            d,
            &["tag", "-l", "--format=%(taggername)|%(contents)", "v1"]
        )
        .trim(),
        format!("{}|v1\n\n#3 X", committer_name(d))
    );
    assert!(matches!(
        tag::create(&repo, "v1", "again"),
        Err(GitError::TagExists { .. })
    ));
}

/// The committer name `git` resolves here with this process's environment (no overrides).
fn committer_name(dir: &Path) -> String {
    let o = Command::new("git")
        .args(["var", "GIT_COMMITTER_IDENT"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let ident = String::from_utf8_lossy(&o.stdout).to_string();
    ident.split(" <").next().unwrap_or_default().to_string()
}

#[test]
fn a_branch_is_pushed_once_and_a_moved_remote_branch_is_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("work");
    let origin = tmp.path().join("origin.git");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q", "--bare"]);
    git(&d, &["init", "-q", "-b", "main"]);
    git(&d, &["commit", "-q", "--allow-empty", "-m", "init"]);
    let repo = Repo::discover(&d).unwrap();
    let name = "devlog/4-push";
    let made = branch::create(&repo, name, &branch::Options::default()).unwrap();

    // No such remote: said with the remotes there are, nothing sent.
    match branch::push(&repo, name, None, false) {
        Err(GitError::MissingRemote { remote, known }) => {
            assert_eq!(remote, "origin");
            assert!(known.is_empty());
        }
        other => panic!("{other:?}"),
    }
    git(&d, &["remote", "add", "origin", origin.to_str().unwrap()]);

    // A dry run says it would send, and sends nothing.
    let dry = branch::push(&repo, name, None, true).unwrap();
    assert_eq!((dry.remote.as_str(), dry.sent), ("origin", true));
    assert!(git(&origin, &["branch", "--list", name]).trim().is_empty());

    let pushed = branch::push(&repo, name, None, false).unwrap();
    assert_eq!((pushed.remote.as_str(), pushed.sent), ("origin", true));
    assert_eq!(
        git(&origin, &["rev-parse", name]).trim(),
        made.commit,
        "the remote branch is at the local one"
    );
    assert_eq!(
        git(&d, &["config", "--get", &format!("branch.{name}.remote")]).trim(),
        "origin",
        "and is its upstream"
    );
    // Again: already there, nothing sent.
    let again = branch::push(&repo, name, None, false).unwrap();
    assert!(!again.sent);

    // Someone moved the remote branch: the push is refused, the remote is unchanged.
    git(&d, &["commit", "-q", "--allow-empty", "-m", "elsewhere"]);
    git(
        &d,
        &["push", "-q", "origin", &format!("main:refs/heads/{name}")],
    );
    git(&d, &["switch", "-q", name]);
    git(&d, &["commit", "-q", "--allow-empty", "-m", "mine"]);
    let theirs = git(&origin, &["rev-parse", name]);
    let err = branch::push(&repo, name, None, false).unwrap_err();
    assert!(err.to_string().contains("not overwritten"), "{err}");
    assert_eq!(git(&origin, &["rev-parse", name]), theirs);

    // An unknown local branch names itself.
    let err = branch::push(&repo, "devlog/none", None, false).unwrap_err();
    assert!(
        err.to_string().contains("no local branch `devlog/none`"),
        "{err}"
    );
}
