//! `devlog git`, `devlog repos` and auto-commit end to end: the real binary against real git
//! repositories in temporary folders (no mocks of git).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

/// An identity and a config isolated from the machine's (CI machines have no git identity).
fn isolate(c: &mut Command, home: &Path) {
    c.env("GIT_AUTHOR_NAME", "Tess Ter")
        .env("GIT_AUTHOR_EMAIL", "tess@example.invalid")
        .env("GIT_COMMITTER_NAME", "Tess Ter")
        .env("GIT_COMMITTER_EMAIL", "tess@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("HOME", home);
}

struct Repo {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    home: std::path::PathBuf,
}

impl Repo {
    /// A repository with one commit (`a.txt`) and an initialized `.devlog`, committed, with
    /// `devlog.toml` holding `config`.
    fn new(config: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("work");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let r = Self {
            _tmp: tmp,
            dir,
            home,
        };
        r.git(&["init", "-q", "-b", "main"]);
        std::fs::write(r.dir.join("a.txt"), "a\n").unwrap();
        std::fs::write(r.dir.join("devlog.toml"), config).unwrap();
        r.ok(&["init"]);
        r.git(&["add", "a.txt", "devlog.toml", ".devlog"]);
        r.git(&["commit", "-q", "-m", "init"]);
        r
    }

    fn git(&self, args: &[&str]) -> String {
        let mut c = Command::new("git");
        c.args(args).current_dir(&self.dir);
        isolate(&mut c, &self.home);
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn devlog(&self, args: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(&self.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester");
        isolate(&mut c, &self.home);
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.devlog(args);
        assert!(
            o.status.success(),
            "devlog {args:?} failed ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs, expects failure, returns stderr.
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let o = self.devlog(args);
        assert!(!o.status.success(), "devlog {args:?} should fail");
        (
            o.status.code().unwrap(),
            String::from_utf8(o.stderr).unwrap(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn status(&self) -> String {
        self.git(&["status", "--porcelain", "--untracked-files=all"])
    }
}

const AUTO: &str = "[integrations.git]\nautoCommit = true\n";

#[test]
fn auto_commit_commits_only_devlog_and_leaves_other_work_alone() {
    let r = Repo::new(AUTO);
    // The user's own work in progress: an unstaged edit and a staged new file.
    std::fs::write(r.dir.join("a.txt"), "a\nedited\n").unwrap();
    std::fs::write(r.dir.join("staged.txt"), "s\n").unwrap();
    r.git(&["add", "staged.txt"]);
    let before = r.head();

    r.ok(&["new", "Fix login", "--type", "bugfix"]);
    assert_eq!(
        r.git(&["log", "-1", "--format=%s"]).trim(),
        "chore(devlog): new #1 Fix login"
    );
    assert_eq!(r.git(&["rev-parse", "HEAD~1"]).trim(), before);
    let files = r.git(&["show", "--name-only", "--format=", "HEAD"]);
    let files: Vec<&str> = files.lines().collect();
    // The entry and its change history (docs/storage.md), nothing else.
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0], ".devlog/entries/001-fix-login.json");
    assert!(
        files[1].starts_with(".devlog/history/") && files[1].ends_with(".jsonl"),
        "{files:?}"
    );
    // Still there, exactly as the user left them: nothing of theirs was committed or unstaged.
    let status = r.status();
    assert!(status.contains(" M a.txt"), "{status}");
    assert!(status.contains("A  staged.txt"), "{status}");
    assert!(!status.contains(".devlog"), "{status}");
    // A retried create that changes nothing makes no (empty) commit.
    let head = r.head();
    r.ok(&["new", "Fix login", "--type", "bugfix"]);
    assert_eq!(r.head(), head);

    // Every write command commits once; read commands do not.
    for (args, subject) in [
        (
            vec!["note", "1", "found the cause"],
            "chore(devlog): note #1 Fix login",
        ),
        (
            vec!["edit", "1", "--status", "in-progress"],
            "chore(devlog): edit #1 Fix login",
        ),
        (
            vec!["decide", "1", "use tokens", "--rationale", "simpler"],
            "chore(devlog): decide #1 Fix login",
        ),
        (vec!["done", "1"], "chore(devlog): done #1 Fix login"),
    ] {
        let head = r.head();
        r.ok(&args);
        assert_eq!(
            r.git(&["log", "-1", "--format=%s"]).trim(),
            subject,
            "{args:?}"
        );
        assert_eq!(r.git(&["rev-parse", "HEAD~1"]).trim(), head);
    }
    let head = r.head();
    r.ok(&["list"]);
    r.ok(&["show", "1"]);
    assert_eq!(r.head(), head, "read commands do not commit");

    r.ok(&["delete", "1", "--yes"]);
    assert_eq!(
        r.git(&["log", "-1", "--format=%s"]).trim(),
        "chore(devlog): delete #1"
    );
    let status = r.status();
    assert!(
        status.contains(" M a.txt") && status.contains("A  staged.txt"),
        "{status}"
    );
}

#[test]
fn auto_commit_uses_the_message_template_and_is_off_by_default() {
    let r = Repo::new(
        "[integrations.git]\nautoCommit = true\ncommitTemplate = \"devlog {handle}: {title} [{id}]\"\n",
    );
    let e = r.json(&["new", "Add export", "--type", "feature"]);
    let id = e["id"].as_str().unwrap();
    assert_eq!(
        r.git(&["log", "-1", "--format=%s"]).trim(),
        format!("devlog 1: Add export [{id}]")
    );

    let off = Repo::new("");
    let head = off.head();
    off.ok(&["new", "Add export", "--type", "feature"]);
    assert_eq!(off.head(), head, "no commit without autoCommit");
    assert!(off.status().contains(".devlog/entries/001-add-export.json"));
}

#[test]
fn auto_commit_of_an_import_names_the_count() {
    let r = Repo::new(AUTO);
    let src = tempfile::tempdir().unwrap();
    let entries = src.path().join(".devlog/entries");
    std::fs::create_dir_all(&entries).unwrap();
    for (n, title) in [(1, "First"), (2, "Second")] {
        std::fs::write(
            entries.join(format!("{n:03}-{}.json", title.to_lowercase())),
            serde_json::json!({
                "id": n, "title": title, "type": "task", "description": "",
                "status": "new", "priority": "medium",
                "createdAt": "2025-06-25T06:29:02.207Z", "updatedAt": "2025-06-25T06:29:02.207Z",
                "notes": []
            })
            .to_string(),
        )
        .unwrap();
    }
    r.ok(&["import", src.path().join(".devlog").to_str().unwrap()]);
    assert_eq!(
        r.git(&["log", "-1", "--format=%s"]).trim(),
        "chore(devlog): import 2 entries"
    );
    assert!(!r.status().contains(".devlog"), "{}", r.status());
}

#[test]
fn git_config_errors_name_the_key() {
    let r = Repo::new("[integrations.git]\nautoCommit = \"yes\"\n");
    let (code, err) = r.fails(&["git", "branch", "1"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("integrations.git.autoCommit"), "{err}");
    assert!(err.contains("devlog.toml"), "{err}");

    let r = Repo::new("[integrations.git]\nbranchTemplate = \"{prefix}{title}\"\n");
    let (_, err) = r.fails(&["git", "branch", "1"]);
    assert!(
        err.contains("integrations.git.branchTemplate") && err.contains("{title}"),
        "{err}"
    );

    let r = Repo::new("[integrations.git]\nenabled = false\n");
    r.ok(&["new", "Fix login"]);
    let (_, err) = r.fails(&["git", "branch", "1"]);
    assert!(err.contains("integrations.git.enabled"), "{err}");
}

#[test]
fn branch_per_entry_from_the_template() {
    let r = Repo::new("");
    r.ok(&["new", "Fix login timeout", "--type", "bugfix"]);
    let head = r.head();
    let out = r.ok(&["git", "branch", "1"]);
    assert!(out.contains("devlog/1-fix-login-timeout"), "{out}");
    assert_eq!(
        r.git(&["rev-parse", "refs/heads/devlog/1-fix-login-timeout"])
            .trim(),
        head
    );
    // Not checked out: still on main.
    assert_eq!(r.git(&["branch", "--show-current"]).trim(), "main");
    // An existing branch is refused and left as it was.
    let (_, err) = r.fails(&["git", "branch", "1"]);
    assert!(err.contains("already exists"), "{err}");

    let custom = Repo::new(
        "[integrations.git]\nbranchPrefix = \"feature/\"\nbranchTemplate = \"{prefix}{type}/{handle}-{slug}\"\n",
    );
    custom.ok(&["new", "Add export", "--type", "feature"]);
    let b = custom.json(&["git", "branch", "1", "--checkout"]);
    assert_eq!(b["branch"], "feature/feature/1-add-export");
    assert_eq!(b["checkedOut"], true);
    assert_eq!(
        custom.git(&["branch", "--show-current"]).trim(),
        "feature/feature/1-add-export"
    );
    // The uncommitted entry file came along to the new branch.
    assert!(
        custom
            .status()
            .contains(".devlog/entries/001-add-export.json")
    );
}

#[test]
fn checkout_is_refused_on_a_dirty_tree_or_detached_head_and_changes_nothing() {
    let r = Repo::new("");
    r.ok(&["new", "Fix login"]);
    std::fs::write(r.dir.join("a.txt"), "changed\n").unwrap();
    let (_, err) = r.fails(&["git", "branch", "1", "--checkout"]);
    assert!(
        err.contains("uncommitted changes") && err.contains("a.txt"),
        "{err}"
    );
    // Refused before anything happened: no branch, same HEAD, same files.
    assert!(r.git(&["branch", "--list", "devlog/*"]).trim().is_empty());
    assert_eq!(r.git(&["branch", "--show-current"]).trim(), "main");
    assert_eq!(
        std::fs::read_to_string(r.dir.join("a.txt")).unwrap(),
        "changed\n"
    );

    // A staged change counts too.
    r.git(&["add", "a.txt"]);
    let (_, err) = r.fails(&["git", "branch", "1", "--checkout"]);
    assert!(err.contains("a.txt"), "{err}");
    r.git(&["commit", "-q", "-m", "a"]);

    r.git(&["checkout", "-q", "--detach"]);
    let (_, err) = r.fails(&["git", "branch", "1", "--checkout"]);
    assert!(err.contains("detached"), "{err}");
    assert!(r.git(&["branch", "--list", "devlog/*"]).trim().is_empty());
}

#[test]
fn branch_needs_a_first_commit_and_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let dir = tmp.path().join("w");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(&dir).env_remove("DEVLOG_DIR");
        isolate(&mut c, &home);
        c.output().unwrap()
    };
    assert!(run(&["new", "Fix login"]).status.success());
    let o = run(&["git", "branch", "1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not inside a git repository"), "{err}");

    let mut g = Command::new("git");
    g.args(["init", "-q", "-b", "main"]).current_dir(&dir);
    isolate(&mut g, &home);
    assert!(g.output().unwrap().status.success());
    let o = run(&["git", "branch", "1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no commits yet"),
        "{err}"
    );
}

#[test]
fn link_records_each_mentioning_commit_once() {
    let r = Repo::new("");
    let e1 = r.json(&["new", "Fix login", "--type", "bugfix"]);
    r.ok(&["new", "Add export", "--type", "feature"]);
    r.git(&["add", ".devlog"]);
    r.git(&["commit", "-q", "-m", "entries"]);
    let base = r.head();
    let prefix = &e1["id"].as_str().unwrap()[..8];
    std::fs::write(r.dir.join("a.txt"), "1\n").unwrap();
    r.git(&[
        "commit",
        "-q",
        "-am",
        &format!("Fix the session check\n\nPart of devlog-{prefix}."),
    ]);
    let c1 = r.head();
    std::fs::write(r.dir.join("a.txt"), "2\n").unwrap();
    r.git(&["commit", "-q", "-am", "Export rows (#2), also #1 and #99"]);
    let c2 = r.head();
    std::fs::write(r.dir.join("a.txt"), "3\n").unwrap();
    r.git(&["commit", "-q", "-am", "unrelated"]);

    let out = r.json(&["git", "link"]);
    assert_eq!(out["scanned"], 2, "{out}");
    assert_eq!(out["linked"].as_array().unwrap().len(), 3, "{out}");
    assert_eq!(out["unresolved"], serde_json::json!(["#99"]));
    let refs = |h: &str| {
        let e = r.json(&["show", h]);
        e["externalReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|x| {
                assert_eq!(x["system"], "git");
                x["id"].as_str().unwrap().to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(refs("1"), vec![c1.clone(), c2.clone()]);
    assert_eq!(refs("2"), vec![c2.clone()]);
    let e = r.json(&["show", "1"]);
    assert_eq!(e["externalReferences"][0]["title"], "Fix the session check");

    // Again: nothing new, no duplicates.
    let again = r.json(&["git", "link"]);
    assert_eq!(again["linked"].as_array().unwrap().len(), 0);
    assert_eq!(again["alreadyLinked"], 3);
    assert_eq!(refs("1").len(), 2);

    // --since limits the walk.
    let r2 = r.json(&["git", "link", "--since", &c1]);
    assert_eq!(r2["scanned"], 1);
    let r3 = r.json(&["git", "link", "--since", &base]);
    assert_eq!(r3["scanned"], 2);
    let (_, err) = r.fails(&["git", "link", "--since", "no-such-rev"]);
    assert!(err.contains("no-such-rev"), "{err}");
}

#[test]
fn tag_lists_the_entries_and_refuses_an_existing_tag() {
    let r = Repo::new("");
    r.ok(&["new", "Fix login", "--type", "bugfix"]);
    r.ok(&["new", "Add export", "--type", "feature"]);
    let head = r.head();
    let out = r.ok(&["git", "tag", "v1.2.0", "--entries", "1", "2"]);
    assert!(out.contains("v1.2.0") && out.contains("2 entries"), "{out}");
    assert_eq!(r.git(&["cat-file", "-t", "v1.2.0"]).trim(), "tag");
    assert_eq!(r.git(&["rev-parse", "v1.2.0^{commit}"]).trim(), head);
    let body = r.git(&["tag", "-l", "--format=%(contents)", "v1.2.0"]);
    assert_eq!(body.trim(), "v1.2.0\n\n#1 Fix login\n#2 Add export");
    let tagger = r.git(&[
        "tag",
        "-l",
        "--format=%(taggername) %(taggeremail)",
        "v1.2.0",
    ]);
    assert_eq!(tagger.trim(), "Tess Ter <tess@example.invalid>");

    let (_, err) = r.fails(&["git", "tag", "v1.2.0", "--entries", "1"]);
    assert!(err.contains("already exists"), "{err}");
    let (code, err) = r.fails(&["git", "tag", "v1.3.0", "--entries", "7"]);
    assert_eq!(code, 3, "{err}");
    assert!(r.git(&["tag", "-l", "v1.3.0"]).trim().is_empty());
}

#[test]
fn repos_discover_remembers_repositories_with_a_devlog_folder() {
    let r = Repo::new("");
    let root = r.dir.parent().unwrap().join("code");
    let mk_repo = |name: &str, with_devlog: bool| {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut g = Command::new("git");
        g.args(["init", "-q"]).current_dir(&d);
        isolate(&mut g, &r.home);
        assert!(g.output().unwrap().status.success());
        if with_devlog {
            std::fs::create_dir_all(d.join(".devlog/entries")).unwrap();
            std::fs::write(d.join(".devlog/entries/001-x.json"), "{}").unwrap();
        }
    };
    mk_repo("api", true);
    mk_repo("web/app", true);
    mk_repo("plain", false);

    let (_, err) = r.fails(&["repos", "discover"]);
    assert!(err.contains("--root") && err.contains("roots"), "{err}");

    let found = r.json(&["repos", "discover", "--root", root.to_str().unwrap()]);
    let canon = std::fs::canonicalize(&root).unwrap();
    let paths: Vec<String> = found["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        vec![
            canon.join("api").display().to_string(),
            canon.join("web/app").display().to_string()
        ]
    );
    // Machine-local state, never in git.
    assert!(r.dir.join(".devlog/.state/repos.json").is_file());
    assert!(!r.status().contains("repos.json"));
    let list = r.json(&["repos", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["entries"], 1);

    // From the configuration's roots (relative to the project root); a vanished repository
    // is forgotten on the next discovery.
    std::fs::write(
        r.dir.join("devlog.toml"),
        "[integrations.git]\nroots = [\"../code\"]\n",
    )
    .unwrap();
    std::fs::remove_dir_all(root.join("api")).unwrap();
    let again = r.json(&["repos", "discover"]);
    assert_eq!(again["known"].as_array().unwrap().len(), 1, "{again}");
    let text = r.ok(&["repos", "list"]);
    assert!(text.contains("web/app") && !text.contains("api"), "{text}");
}

#[test]
fn search_all_repos_ranks_hits_from_every_known_repository() {
    let r = Repo::new("");
    r.ok(&["new", "Login timeout on mobile", "--type", "bugfix"]);
    r.ok(&["new", "Unrelated chores"]);
    let other = r.dir.parent().unwrap().join("code/api");
    std::fs::create_dir_all(&other).unwrap();
    let mut g = Command::new("git");
    g.args(["init", "-q"]).current_dir(&other);
    isolate(&mut g, &r.home);
    assert!(g.output().unwrap().status.success());
    let mut c = Command::new(BIN);
    c.args(["new", "Token refresh breaks login", "--type", "bugfix"])
        .current_dir(&other)
        .env_remove("DEVLOG_DIR");
    isolate(&mut c, &r.home);
    assert!(c.output().unwrap().status.success());

    // Before discovery only this workspace is searched.
    let hits = r.json(&["search", "login", "--all-repos"]);
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");

    r.ok(&[
        "repos",
        "discover",
        "--root",
        r.dir.parent().unwrap().join("code").to_str().unwrap(),
    ]);
    let hits = r.json(&["search", "login", "--all-repos"]);
    let mut titles: Vec<(String, String)> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let repo = h["repository"].as_str().unwrap();
            let name = Path::new(repo).file_name().unwrap().to_string_lossy();
            (name.into_owned(), h["title"].as_str().unwrap().to_string())
        })
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        vec![
            ("api".to_string(), "Token refresh breaks login".to_string()),
            ("work".to_string(), "Login timeout on mobile".to_string()),
        ]
    );
    let text = r.ok(&["search", "login", "--all-repos"]);
    assert!(text.contains("REPO") && text.contains("api"), "{text}");
    // Without the flag, only this workspace.
    assert_eq!(r.json(&["search", "login"]).as_array().unwrap().len(), 1);
}

#[test]
fn shared_insights_of_other_repositories_are_ranked_for_the_work_in_hand() {
    let r = Repo::new("");
    r.ok(&[
        "new",
        "Login timeout on mobile",
        "--type",
        "bugfix",
        "-d",
        "Sessions of the login expire",
    ]);
    r.ok(&["start", "1"]);
    let other = r.dir.parent().unwrap().join("code/api");
    std::fs::create_dir_all(&other).unwrap();
    let mut g = Command::new("git");
    g.args(["init", "-q"]).current_dir(&other);
    isolate(&mut g, &r.home);
    assert!(g.output().unwrap().status.success());
    let api = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(&other).env_remove("DEVLOG_DIR");
        isolate(&mut c, &r.home);
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    api(&["new", "Token refresh breaks login", "--type", "bugfix"]);
    api(&[
        "decide",
        "1",
        "Refresh login tokens 5 minutes before expiry",
        "-r",
        "Clocks drift",
        "--share",
    ]);
    api(&[
        "insight",
        "1",
        "Login sessions are keyed by device, not by user",
    ]);
    api(&["insight", "1", "A private thought about login", "--private"]);
    r.ok(&["insight", "1", "Mobile login keeps its own timer"]);

    // Without --all-repos: this workspace only (and not the entry's own insight for itself).
    let here = r.json(&["insights"]);
    assert_eq!(here["for"]["handle"], 1, "{here}");
    assert_eq!(here["items"].as_array().unwrap().len(), 0, "{here}");

    r.ok(&[
        "repos",
        "discover",
        "--root",
        r.dir.parent().unwrap().join("code").to_str().unwrap(),
    ]);
    let all = r.json(&["insights", "--all-repos"]);
    let items = all["items"].as_array().unwrap();
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    assert_eq!(texts.len(), 2, "{all}");
    assert!(
        texts.contains(&"Refresh login tokens 5 minutes before expiry"),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Login sessions are keyed by device, not by user"),
        "{texts:?}"
    );
    for i in items {
        assert!(i["repository"].as_str().unwrap().ends_with("api"), "{i}");
        assert_eq!(i["entry"]["title"], "Token refresh breaks login");
    }
    let text = r.ok(&["insights", "--all-repos"]);
    assert!(
        text.contains("Shared insights for #1 Login timeout on mobile")
            && text.contains("decision")
            && text.contains("Clocks drift")
            && text.contains("api #1 Token refresh breaks login"),
        "{text}"
    );
}

impl Repo {
    /// A clone of `remote` next to this repository, sharing its home (identity).
    fn clone_of(&self, remote: &Path, name: &str) -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(name);
        let mut g = Command::new("git");
        g.args([
            "clone",
            "-q",
            remote.to_str().unwrap(),
            dir.to_str().unwrap(),
        ]);
        isolate(&mut g, &self.home);
        let o = g.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Repo {
            _tmp: tmp,
            dir,
            home: self.home.clone(),
        }
    }
}

fn bare_remote(r: &Repo) -> std::path::PathBuf {
    let remote = r.dir.parent().unwrap().join("remote.git");
    let mut g = Command::new("git");
    g.args([
        "init",
        "-q",
        "--bare",
        "-b",
        "main",
        remote.to_str().unwrap(),
    ]);
    isolate(&mut g, &r.home);
    assert!(g.output().unwrap().status.success());
    r.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    remote
}

#[test]
fn repos_sync_merges_concurrent_edits_of_one_entry_field_by_field() {
    let a = Repo::new(AUTO);
    let remote = bare_remote(&a);
    a.ok(&["new", "Fix login", "--type", "bugfix"]);
    let out = a.ok(&["repos", "sync"]);
    assert!(out.contains("first push"), "{out}");
    let b = a.clone_of(&remote, "b");

    // Both clones edit the same entry offline: different fields and one note each.
    a.ok(&["note", "1", "note from A"]);
    a.ok(&["edit", "1", "--status", "in-progress"]);
    b.ok(&["note", "1", "note from B"]);
    b.ok(&["edit", "1", "--priority", "high"]);

    a.ok(&["repos", "sync"]);
    let synced = b.json(&["repos", "sync"]);
    assert_eq!(
        synced["mergedEntries"],
        serde_json::json!([".devlog/entries/001-fix-login.json"])
    );
    a.ok(&["repos", "sync"]);
    for clone in [&a, &b] {
        let e = clone.json(&["show", "1"]);
        let notes: Vec<&str> = e["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["content"].as_str().unwrap())
            .collect();
        assert_eq!(notes.len(), 2, "{e}");
        assert!(notes.contains(&"note from A") && notes.contains(&"note from B"));
        assert_eq!(e["status"], "in-progress");
        assert_eq!(e["priority"], "high");
        assert!(clone.status().is_empty(), "{}", clone.status());
    }
    assert_eq!(a.head(), b.head());
}

#[test]
fn repos_sync_refuses_clearly_and_leaves_the_repository_as_it_was() {
    let a = Repo::new("");
    // No remote.
    let (_, err) = a.fails(&["repos", "sync"]);
    assert!(
        err.contains("no remote `origin`") && err.contains("git remote add"),
        "{err}"
    );
    let remote = bare_remote(&a);
    a.ok(&["repos", "sync"]);
    let b = a.clone_of(&remote, "b");

    // A dirty tree.
    std::fs::write(a.dir.join("a.txt"), "dirty\n").unwrap();
    let (_, err) = a.fails(&["repos", "sync"]);
    assert!(
        err.contains("uncommitted changes") && err.contains("a.txt"),
        "{err}"
    );
    a.git(&["checkout", "--", "a.txt"]);

    // Detached HEAD.
    a.git(&["checkout", "-q", "--detach"]);
    let (_, err) = a.fails(&["repos", "sync"]);
    assert!(err.contains("detached"), "{err}");
    a.git(&["switch", "-q", "main"]);

    // A conflict outside .devlog aborts the merge: same HEAD, same files, no merge in progress.
    std::fs::write(b.dir.join("a.txt"), "from b\n").unwrap();
    b.git(&["commit", "-q", "-am", "b edits a"]);
    b.ok(&["repos", "sync"]);
    std::fs::write(a.dir.join("a.txt"), "from a\n").unwrap();
    a.git(&["commit", "-q", "-am", "a edits a"]);
    let head = a.head();
    let (_, err) = a.fails(&["repos", "sync"]);
    assert!(
        err.contains("outside .devlog") && err.contains("a.txt"),
        "{err}"
    );
    assert_eq!(a.head(), head);
    assert!(!a.dir.join(".git/MERGE_HEAD").exists());
    assert_eq!(
        std::fs::read_to_string(a.dir.join("a.txt")).unwrap(),
        "from a\n"
    );
    assert!(a.status().is_empty(), "{}", a.status());
}

#[cfg(unix)] // the hook must be executable
#[test]
fn repos_sync_reports_a_push_rejected_because_the_remote_moved_on() {
    let a = Repo::new("");
    let remote = bare_remote(&a);
    a.ok(&["repos", "sync"]);
    let b = a.clone_of(&remote, "b");
    a.ok(&["new", "Fix login"]);
    a.git(&["add", ".devlog"]);
    a.git(&["commit", "-q", "-m", "entry"]);
    // Someone else pushes between our fetch and our push: a pre-push hook does it, so the
    // race happens every time.
    let hook = a.dir.join(".git/hooks/pre-push");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\ncd '{}' && git commit -q --allow-empty -m race && git push -q origin main\n",
            b.dir.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let head = a.head();
    let (_, err) = a.fails(&["repos", "sync"]);
    assert!(
        err.contains("rejected") && err.contains("run the sync again"),
        "{err}"
    );
    assert_eq!(a.head(), head);
    assert!(a.status().is_empty(), "{}", a.status());
    // Without the race, the next sync merges the other commit and pushes.
    std::fs::remove_file(&hook).unwrap();
    a.ok(&["repos", "sync"]);
    assert_eq!(
        a.git(&["log", "-1", "--format=%s"]).trim(),
        "chore(devlog): merge origin/main"
    );
}

#[test]
fn repos_sync_records_a_real_conflict_with_both_values_and_ends_identical() {
    let a = Repo::new(AUTO);
    let remote = bare_remote(&a);
    a.ok(&["new", "Fix login", "--type", "bugfix"]);
    a.ok(&["repos", "sync"]);
    let b = a.clone_of(&remote, "b");
    // The same field, changed differently in both clones; b's edit is the later one.
    a.ok(&["edit", "1", "--title", "Fix login (A)"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    b.ok(&["edit", "1", "--title", "Fix login (B)"]);
    a.ok(&["repos", "sync"]);
    b.ok(&["repos", "sync"]);
    a.ok(&["repos", "sync"]);
    let (ea, eb) = (a.json(&["show", "1"]), b.json(&["show", "1"]));
    assert_eq!(ea, eb, "both clones end identical");
    assert_eq!(ea["title"], "Fix login (B)", "the later edit wins");
    let note = ea["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["content"].as_str().unwrap().contains("Concurrent edits"))
        .expect("the conflict is recorded");
    let text = note["content"].as_str().unwrap();
    assert!(
        text.contains("title") && text.contains("Fix login (A)") && text.contains("Fix login (B)"),
        "{text}"
    );
    assert_eq!(note["category"], "issue");
    assert_eq!(a.head(), b.head());
}

#[test]
fn repos_sync_all_syncs_every_discovered_repository_and_reports_failures() {
    let a = Repo::new(AUTO);
    let remote = bare_remote(&a);
    a.ok(&["new", "In A", "--type", "task"]);
    // A second repository, discovered under a root, without a remote: its sync fails, the
    // others still sync.
    let other = Repo::new(AUTO);
    other.ok(&["new", "In other", "--type", "task"]);
    a.ok(&[
        "repos",
        "discover",
        "--root",
        other.dir.parent().unwrap().to_str().unwrap(),
    ]);
    let (code, err) = a.fails(&["repos", "sync", "--all"]);
    assert_ne!(code, 0);
    assert!(err.contains("1 of 2 repositories"), "{err}");
    // This repository was still synced (its first push happened).
    let b = a.clone_of(&remote, "b");
    assert!(b.ok(&["list"]).contains("In A"));
}
