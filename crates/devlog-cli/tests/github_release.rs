//! `devlog github release-notes` end to end: the real binary against a real git repository in
//! a temporary folder, with entries created and completed through the CLI.
//!
//! `--create-release` runs against a small stateful releases server in this file (the create,
//! look-up by tag, list and update endpoints, GitHub's answers); the request bodies are checked
//! against GitHub's description by `devlog-github`'s own tests against the test kit's fake
//! GitHub, which this crate does not depend on.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

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

// ---- a small GitHub releases server ----

#[derive(Debug, Clone)]
struct Rel {
    id: u64,
    tag: String,
    name: String,
    body: String,
    draft: bool,
    target: Option<String>,
}

impl Rel {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "tag_name": self.tag,
            "name": self.name,
            "body": self.body,
            "draft": self.draft,
            "html_url": format!("https://github.com/acme/widgets/releases/tag/{}", self.tag),
        })
    }
}

#[derive(Debug, Default)]
struct Releases {
    releases: Vec<Rel>,
    /// `METHOD path` of every request, in order.
    log: Vec<String>,
}

const TOKEN: &str = "ghp_release_test_token";

/// Serves GitHub's releases endpoints of `acme/widgets` on a loopback port, one connection at
/// a time, for the life of the test process.
fn releases_server() -> (String, Arc<Mutex<Releases>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(Releases::default()));
    let st = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let mut len = 0usize;
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => auth = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let (status, reply) = handle(&st, &method, &target, &auth, &body);
            let text = reply.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, state)
}

fn handle(
    st: &Mutex<Releases>,
    method: &str,
    target: &str,
    auth: &str,
    body: &[u8],
) -> (u16, Value) {
    let mut s = st.lock().unwrap();
    let path = target.split('?').next().unwrap_or_default().to_string();
    s.log.push(format!("{method} {path}"));
    if auth != format!("Bearer {TOKEN}") {
        return (401, json!({"message": "Bad credentials"}));
    }
    let Some(rest) = path.strip_prefix("/repos/acme/widgets/releases") else {
        return (404, json!({"message": "Not Found"}));
    };
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (method, rest) {
        ("GET", "") => (
            200,
            Value::Array(s.releases.iter().rev().map(Rel::json).collect()),
        ),
        // Like GitHub: drafts are not found by tag.
        ("GET", r) if r.starts_with("/tags/") => {
            let tag = &r["/tags/".len()..];
            match s.releases.iter().find(|x| x.tag == tag && !x.draft) {
                Some(x) => (200, x.json()),
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("POST", "") => {
            let tag = input["tag_name"].as_str().unwrap_or_default().to_string();
            if s.releases.iter().any(|x| x.tag == tag && !x.draft) {
                return (
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}]}),
                );
            }
            let rel = Rel {
                id: 100 + s.releases.len() as u64,
                tag,
                name: input["name"].as_str().unwrap_or_default().to_string(),
                body: input["body"].as_str().unwrap_or_default().to_string(),
                draft: input["draft"].as_bool().unwrap_or(false),
                target: input["target_commitish"].as_str().map(str::to_string),
            };
            s.releases.push(rel.clone());
            (201, rel.json())
        }
        ("PATCH", r) => {
            let id: u64 = r.trim_start_matches('/').parse().unwrap_or(0);
            match s.releases.iter_mut().find(|x| x.id == id) {
                Some(x) => {
                    if let Some(b) = input["body"].as_str() {
                        x.body = b.to_string();
                    }
                    (200, x.json())
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        _ => (404, json!({"message": "Not Found"})),
    }
}

fn github_config(url: &str) -> String {
    format!(
        "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"{TOKEN}\"\napiUrl = \"{url}\"\n"
    )
}

#[test]
fn create_release_creates_once_then_updates_the_notes() {
    let (url, server) = releases_server();
    let r = release_repo(&github_config(&url));
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
    {
        let s = server.lock().unwrap();
        assert_eq!(s.releases.len(), 1);
        let rel = &s.releases[0];
        assert_eq!(
            (rel.tag.as_str(), rel.name.as_str(), rel.body.as_str()),
            ("v1.1", "v1.1", NOTES_1_1)
        );
        assert!(!rel.draft);
        assert_eq!(rel.target.as_deref(), Some(v11.as_str()));
    }

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
    assert_eq!(v["release"]["id"], 100);
    assert_eq!(v["release"]["tag"], "v1.1");
    let s = server.lock().unwrap();
    assert_eq!(s.releases.len(), 1, "{:?}", s.releases);
    assert!(
        s.releases[0]
            .body
            .contains("### Refactoring\n\n- Cache refactor — devlog-4\n"),
        "{}",
        s.releases[0].body
    );
    assert_eq!(
        s.log,
        [
            "GET /repos/acme/widgets/releases/tags/v1.1",
            "GET /repos/acme/widgets/releases",
            "POST /repos/acme/widgets/releases",
            "GET /repos/acme/widgets/releases/tags/v1.1",
            "PATCH /repos/acme/widgets/releases/100",
        ]
    );
}

#[test]
fn a_draft_release_is_found_and_updated_not_duplicated() {
    let (url, server) = releases_server();
    let r = release_repo(&github_config(&url));
    let (_, stderr) = r.run(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
        "--draft",
    ]);
    assert!(
        stderr.contains("Created the draft GitHub release v1.1"),
        "{stderr}"
    );
    let (_, stderr) = r.run(&[
        "github",
        "release-notes",
        "--to",
        "v1.1",
        "--create-release",
        "--draft",
    ]);
    assert!(
        stderr.contains("already exists: updated its notes"),
        "{stderr}"
    );
    let s = server.lock().unwrap();
    assert_eq!(s.releases.len(), 1, "{:?}", s.releases);
    assert!(s.releases[0].draft);
}

#[test]
fn a_rejected_token_says_what_to_fix() {
    let (url, _server) = releases_server();
    let r = release_repo(&github_config(&url).replace(TOKEN, "ghp_not_the_right_one"));
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
}
