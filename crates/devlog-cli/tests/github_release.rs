//! `devlog github release-notes` end to end: the real binary against a real git repository in
//! a temporary folder, with entries created and completed through the CLI.
//!
//! `--create-release` runs against the test kit's fake GitHub, which checks every request
//! against GitHub's OpenAPI description.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::{Value, json};

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
    dir: PathBuf,
    home: PathBuf,
}

impl Repo {
    /// A repository with one commit and an initialized `.devlog`, `devlog.toml` holding
    /// `config`.
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
        std::fs::write(r.dir.join("devlog.toml"), config).unwrap();
        r.ok(&["init"]);
        r.commit_at("init", "1999-01-01T00:00:00Z");
        r
    }

    fn git_with(&self, args: &[&str], date: Option<&str>) -> String {
        let mut c = Command::new("git");
        c.args(args).current_dir(&self.dir);
        isolate(&mut c, &self.home);
        if let Some(d) = date {
            c.env("GIT_COMMITTER_DATE", d).env("GIT_AUTHOR_DATE", d);
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        self.git_with(args, None)
    }

    /// An (empty) commit with this message and committer date.
    fn commit_at(&self, message: &str, date: &str) {
        self.git_with(
            &["commit", "-q", "--allow-empty", "-m", message],
            Some(date),
        );
    }

    /// An annotated tag at HEAD, tagged at `date`.
    fn tag_at(&self, name: &str, date: &str) {
        self.git_with(&["tag", "-a", name, "-m", name], Some(date));
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

    fn run(&self, args: &[&str]) -> (String, String) {
        let o = self.devlog(args);
        assert!(
            o.status.success(),
            "devlog {args:?} failed ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8(o.stderr).unwrap(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        self.run(args).0
    }

    /// Runs, expects failure, returns the exit code and stderr.
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

    /// Edits an entry's file by hand (as a person or another tool may), by handle.
    fn edit_file(&self, handle: u64, edit: impl FnOnce(&mut Value)) {
        let dir = self.dir.join(".devlog/entries");
        let prefix = format!("{handle:03}-");
        let path = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
            .unwrap();
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}

/// v1.0 (2000) and v1.1 (2099) around the work of this release; entries completed now fall
/// between the two tagged commits, entries closed in 1999 before both.
fn release_repo(config: &str) -> Repo {
    let r = Repo::new(config);
    r.ok(&["new", "Add CSV export", "--type", "feature"]); // #1: mentioned, done
    r.ok(&["new", "Fix login timeout", "--type", "bugfix"]); // #2: done in the window
    r.ok(&["new", "Document sync", "--type", "docs"]); // #3: done in the window, issue link
    r.ok(&["new", "Cache refactor", "--type", "refactor"]); // #4: mentioned, in progress
    r.ok(&["new", "Shipped long ago", "--type", "task"]); // #5: closed before v1.0
    r.ok(&["new", "Dropped idea", "--type", "feature"]); // #6: closed, not done
    r.ok(&["new", "Old crash revisited", "--type", "bugfix"]); // #7: mentioned, closed in 1999

    for h in ["5", "7"] {
        r.ok(&["done", h]);
    }
    for h in [5, 7] {
        r.edit_file(h, |v| v["closedAt"] = json!("1999-06-01T00:00:00.000Z"));
    }
    r.commit_at("Prepare 1.0", "2000-01-01T00:00:00Z");
    r.tag_at("v1.0", "2000-01-01T00:00:00Z");

    r.commit_at(
        "Add CSV export (devlog-1)\n\nStreams rows.",
        "2050-01-01T00:00:00Z",
    );
    r.commit_at("wip: cache layer for #4", "2050-01-02T00:00:00Z");
    // #99 is no entry (a pull request number, say): ignored.
    r.commit_at(
        "Guard the crash handler again (#99)\n\nFollow-up to devlog-7.",
        "2050-01-03T00:00:00Z",
    );
    for h in ["1", "2", "3"] {
        r.ok(&["done", h]);
    }
    r.ok(&["edit", "4", "--status", "in-progress"]);
    r.ok(&["edit", "6", "--status", "closed"]);
    r.edit_file(3, |v| {
        v["externalReferences"] = json!([
            {"system": "github", "id": "15", "url": "https://github.com/acme/widgets/issues/15"},
            {"system": "github-pr", "id": "16"},
            {"system": "git", "id": "0123abcd"}
        ]);
    });
    r.commit_at("Release 1.1", "2099-01-01T00:00:00Z");
    r.tag_at("v1.1", "2099-01-01T00:00:00Z");
    r
}

const NOTES_1_1: &str = "\
### Features

- Add CSV export — devlog-1

### Bug fixes

- Old crash revisited — devlog-7
- Fix login timeout — devlog-2

### Docs

- Document sync ([#15](https://github.com/acme/widgets/issues/15), #16) — devlog-3
";

#[test]
fn release_notes_group_the_done_entries_mentioned_or_closed_between_the_tags() {
    let r = release_repo("");
    let md = r.ok(&["github", "release-notes", "--from", "v1.0", "--to", "v1.1"]);
    assert_eq!(md, NOTES_1_1);
    // --from defaults to the tag before --to; --to to HEAD (here the v1.1 commit).
    assert_eq!(
        r.ok(&["github", "release-notes", "--to", "v1.1"]),
        NOTES_1_1
    );
    assert_eq!(r.ok(&["github", "release-notes"]), NOTES_1_1);

    let open = r.ok(&["github", "release-notes", "--to", "v1.1", "--include-open"]);
    assert_eq!(
        open,
        format!(
            "{NOTES_1_1}\n### Not completed\n\nMentioned by commits of this release, but not done:\n\n- Cache refactor — devlog-4 (in-progress)\n"
        )
    );

    // The first release: from the first commit, only what was closed by then.
    assert_eq!(
        r.ok(&["github", "release-notes", "--to", "v1.0"]),
        "### Bug fixes\n\n- Old crash revisited — devlog-7\n\n### Tasks\n\n- Shipped long ago — devlog-5\n"
    );
}

#[test]
fn release_notes_as_json_and_to_a_file() {
    let r = release_repo("");
    let v = r.json(&["github", "release-notes", "--to", "v1.1", "--include-open"]);
    assert_eq!(v["from"], "v1.0");
    assert_eq!(v["to"], "v1.1");
    let groups: Vec<(String, Vec<u64>)> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["type"].as_str().unwrap().to_string(),
                g["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["handle"].as_u64().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("feature".to_string(), vec![1]),
            ("bugfix".to_string(), vec![7, 2]),
            ("docs".to_string(), vec![3]),
        ]
    );
    assert_eq!(v["groups"][1]["heading"], "Bug fixes");
    assert_eq!(
        v["groups"][2]["entries"][0]["links"],
        json!([
            {"kind": "issue", "number": "15", "url": "https://github.com/acme/widgets/issues/15"},
            {"kind": "pullRequest", "number": "16"}
        ])
    );
    assert_eq!(v["notCompleted"][0]["handle"], 4);
    assert_eq!(v["notCompleted"][0]["status"], "in-progress");
    assert!(v.get("release").is_none());

    let out = r.dir.join("NOTES.md");
    let (stdout, stderr) = r.run(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("v1.0..v1.1") && stderr.contains("4 entries"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), NOTES_1_1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{mode:o}");
    }
    // --json --output: the JSON goes to the file.
    r.run(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--json",
        "--output",
        out.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["groups"][0]["entries"][0]["title"], "Add CSV export");
}

#[test]
fn a_missing_tag_is_named_with_the_tags_that_exist() {
    let r = release_repo("");
    let (code, err) = r.fails(&["github", "release-notes", "--from", "v0.9", "--to", "v1.1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tag `v0.9` not found"), "{err}");
    assert!(err.contains("existing tags: v1.1, v1.0"), "{err}");
    let (_, err) = r.fails(&["github", "release-notes", "--to", "v2.0"]);
    assert!(err.contains("tag `v2.0` not found"), "{err}");
}

#[test]
fn create_release_needs_a_tag_and_the_github_integration() {
    let r = release_repo("");
    let (code, err) = r.fails(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[integrations.github]"), "{err}");
    let (code, err) = r.fails(&["github", "release-notes", "--create-release"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`HEAD` is not a tag"), "{err}");
    let (_, err) = r.fails(&["github", "release-notes", "--to", "v1.1", "--draft"]);
    assert!(err.contains("--create-release"), "{err}");
}

// ---- against the test kit's fake GitHub ----

const TOKEN: &str = "ghp_release_test_token";

/// The test kit's fake GitHub holding `acme/widgets`, served from its own runtime for the
/// life of the value; every request it receives is checked against GitHub's OpenAPI
/// description when it is dropped.
struct Github {
    gh: FakeGithub,
    remote: FakeRemote,
    _rt: tokio::runtime::Runtime,
}

impl Github {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (gh, remote) = rt.block_on(async {
            let b = FakeRemote::builder().without_tracker();
            let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
            let remote = b.routes(gh.router()).start().await;
            (gh, remote)
        });
        Self {
            gh,
            remote,
            _rt: rt,
        }
    }

    fn config(&self, token: &str) -> String {
        format!(
            "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"{token}\"\napiUrl = \"{}\"\n",
            self.remote.url()
        )
    }

    /// `METHOD path` of every request received, in order.
    fn log(&self) -> Vec<String> {
        self.remote
            .state()
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

#[test]
fn create_release_creates_once_then_updates_the_notes() {
    let github = Github::start();
    let r = release_repo(&github.config(TOKEN));
    let (stdout, stderr) = r.run(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
    ]);
    assert_eq!(stdout, NOTES_1_1);
    assert!(
        stderr.contains("Created the GitHub release v1.1"),
        "{stderr}"
    );
    let v11 = r.git(&["rev-parse", "v1.1^{commit}"]).trim().to_string();
    let all = github.gh.releases();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].tag_name, "v1.1");
    assert_eq!(all[0].name.as_deref(), Some("v1.1"));
    assert_eq!(all[0].body.as_deref(), Some(NOTES_1_1));
    assert_eq!(all[0].target_commitish, v11);
    assert!(!all[0].draft);

    // Later, one more entry of the release is done: the second run updates the same release.
    r.ok(&["done", "4"]);
    let v = r.json(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
    ]);
    assert_eq!(v["release"]["action"], "updated");
    assert_eq!(v["release"]["id"], all[0].id);
    assert_eq!(v["release"]["tag"], "v1.1");
    let after = github.gh.releases();
    assert_eq!(after.len(), 1, "{after:?}");
    let body = after[0].body.clone().unwrap_or_default();
    assert!(
        body.contains("### Refactoring\n\n- Cache refactor — devlog-4\n"),
        "{body}"
    );
    let id = all[0].id;
    assert_eq!(
        github.log(),
        [
            "GET /repos/acme/widgets/releases/tags/v1.1".to_string(),
            "GET /repos/acme/widgets/releases".into(),
            "POST /repos/acme/widgets/releases".into(),
            "GET /repos/acme/widgets/releases/tags/v1.1".into(),
            format!("PATCH /repos/acme/widgets/releases/{id}"),
        ]
    );
    assert_eq!(github.gh.check_contract(), Vec::<String>::new());

    // One audit record each: the release created, its notes replaced.
    let export = r.ok(&["audit", "export"]);
    let created = audit::named(&export, "release-created");
    assert_eq!(created.len(), 1, "{export}");
    audit::by_cli(&created[0], "tester");
    assert_eq!(created[0]["what"]["remoteId"], id.to_string());
    assert_eq!(created[0]["what"]["item"], "tag v1.1");
    assert_eq!(
        audit::named(&export, "release-updated").len(),
        1,
        "{export}"
    );
    // The same notes written again (a retry): the release is updated, nothing more recorded.
    r.run(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
    ]);
    let export = r.ok(&["audit", "export"]);
    assert_eq!(
        audit::named(&export, "release-updated").len(),
        1,
        "{export}"
    );
    r.ok(&["audit", "verify"]);
}

#[test]
fn a_draft_release_is_found_and_updated_not_duplicated() {
    let github = Github::start();
    let r = release_repo(&github.config(TOKEN));
    let args = [
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
        "--draft",
    ];
    let (_, stderr) = r.run(&args);
    assert!(
        stderr.contains("Created the draft GitHub release v1.1"),
        "{stderr}"
    );
    let (_, stderr) = r.run(&args);
    assert!(
        stderr.contains("already exists: updated its notes"),
        "{stderr}"
    );
    let all = github.gh.releases();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].draft);
}

#[test]
fn a_rejected_token_says_what_to_fix() {
    let github = Github::start();
    let r = release_repo(&github.config("ghp_not_the_right_one"));
    let (code, err) = r.fails(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("integrations.github.token"), "{err}");
    assert!(
        !err.contains("ghp_not_the_right_one"),
        "the token leaked: {err}"
    );
    assert!(github.gh.releases().is_empty());
}
