//! `devlog worklog suggest` end to end: the real binary against two real git repositories
//! whose commits are made at set times (GIT_AUTHOR_DATE / GIT_COMMITTER_DATE).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("src");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        Self {
            _tmp: tmp,
            root,
            home,
        }
    }

    fn env(&self, c: &mut Command) {
        c.env("GIT_AUTHOR_NAME", "Tess Ter")
            .env("GIT_AUTHOR_EMAIL", "tess@example.invalid")
            .env("GIT_COMMITTER_NAME", "Tess Ter")
            .env("GIT_COMMITTER_EMAIL", "tess@example.invalid")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join("gitconfig"))
            .env("HOME", &self.home)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tess");
    }

    /// A repository `name` with `.devlog` and the entries titled `titles` (#1, #2, …).
    fn repo(&self, name: &str, titles: &[&str]) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.git(&dir, &["init", "-q", "-b", "main"], None);
        self.ok(&dir, &["init"]);
        for t in titles {
            self.ok(&dir, &["new", t]);
        }
        self.git(&dir, &["add", "-A"], None);
        self.git(
            &dir,
            &["commit", "-q", "-m", "init"],
            Some("2024-11-01T08:00:00Z"),
        );
        dir
    }

    fn git(&self, dir: &Path, args: &[&str], date: Option<&str>) -> String {
        let mut c = Command::new("git");
        c.args(args).current_dir(dir);
        self.env(&mut c);
        if let Some(d) = date {
            c.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// An empty commit with `message` at `date` (UTC), by Tess unless `author` is given.
    fn commit(&self, dir: &Path, date: &str, message: &str) {
        self.git(
            dir,
            &["commit", "-q", "--allow-empty", "-m", message],
            Some(date),
        );
    }

    fn commit_by(&self, dir: &Path, date: &str, message: &str, name: &str, email: &str) {
        let mut c = Command::new("git");
        c.args(["commit", "-q", "--allow-empty", "-m", message])
            .current_dir(dir);
        self.env(&mut c);
        c.env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date);
        assert!(c.output().unwrap().status.success());
    }

    fn devlog(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(dir);
        self.env(&mut c);
        c.output().unwrap()
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.devlog(dir, args);
        assert!(
            o.status.success(),
            "devlog {args:?} failed ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, dir: &Path, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(dir, &a)).unwrap()
    }

    fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.devlog(dir, args);
        assert!(!o.status.success(), "devlog {args:?} succeeded");
        String::from_utf8(o.stderr).unwrap()
    }
}

/// (repo, handle, date, minutes) of each suggestion, sorted.
fn rows(v: &Value) -> Vec<(String, u64, String, u64)> {
    let mut r: Vec<_> = v["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["repo"].as_str().unwrap().to_string(),
                s["handle"].as_u64().unwrap(),
                s["date"].as_str().unwrap().to_string(),
                s["minutes"].as_u64().unwrap(),
            )
        })
        .collect();
    r.sort();
    r
}

fn id_of(v: &Value, repo: &str, handle: u64, minutes: u64) -> String {
    v["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["repo"] == repo && s["handle"] == handle && s["minutes"] == minutes)
        .unwrap_or_else(|| panic!("no {repo} #{handle} {minutes}m in {v:#}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn worklogs(w: &World, dir: &Path, handle: &str) -> Vec<Value> {
    w.json(dir, &["show", handle])["worklogs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn sessions_from_two_repositories_are_suggested_applied_once_and_never_again() {
    let w = World::new();
    let alpha = w.repo("alpha", &["Login form", "Search"]);
    let beta = w.repo("beta", &["Deploy"]);
    // alpha: 09:00–10:10 mentions #1 and #2 (70m + 30m padding, split in two), a pause of
    // 3h50m, then 14:00–14:30 on #2 (30m + 30m). Someone else's commit and a commit without
    // a mention do not count.
    w.commit(&alpha, "2025-03-10T09:00:00Z", "start the login form (#1)");
    w.commit_by(
        &alpha,
        "2025-03-10T09:20:00Z",
        "review #1",
        "Other",
        "other@example.invalid",
    );
    w.commit(
        &alpha,
        "2025-03-10T09:40:00Z",
        "more of the form\n\nRefs #1",
    );
    w.commit(
        &alpha,
        "2025-03-10T10:10:00Z",
        "share validation, devlog-1 and #2",
    );
    w.commit(&alpha, "2025-03-10T12:00:00Z", "unrelated chore");
    w.commit(&alpha, "2025-03-10T14:00:00Z", "search index #2");
    w.commit(&alpha, "2025-03-10T14:30:00Z", "search tests #2");
    // A commit on a branch that is not merged counts too.
    w.git(&alpha, &["checkout", "-q", "-b", "feature"], None);
    w.commit(&alpha, "2025-03-12T16:00:00Z", "feature flag for #1");
    w.git(&alpha, &["checkout", "-q", "main"], None);
    // beta: work before --since (not read), one session of 5m + 30m on its #1, and a
    // mention of an entry beta does not have.
    w.commit(&beta, "2024-12-01T10:00:00Z", "old work #1");
    w.commit(&beta, "2025-03-11T08:00:00Z", "deploy script #1");
    w.commit(&beta, "2025-03-11T08:05:00Z", "fix the deploy script #1");
    w.commit(&beta, "2025-03-11T18:00:00Z", "what is #7");

    let root = w.root.to_str().unwrap();
    w.ok(&alpha, &["repos", "discover", "--root", root]);
    let args = ["worklog", "suggest", "--since", "2025-01-02"];
    let first = w.json(&alpha, &args);
    assert_eq!(
        rows(&first),
        vec![
            ("alpha".into(), 1, "2025-03-10".into(), 50),
            ("alpha".into(), 1, "2025-03-12".into(), 30),
            ("alpha".into(), 2, "2025-03-10".into(), 50),
            ("alpha".into(), 2, "2025-03-10".into(), 60),
            ("beta".into(), 1, "2025-03-11".into(), 35),
        ],
        "{first:#}"
    );
    let notes = first["notes"].to_string();
    assert!(notes.contains("#7"), "{notes}");
    // The same run again proposes the same ids; nothing was logged by listing.
    let again = w.json(&alpha, &args);
    assert_eq!(first["suggestions"], again["suggestions"]);
    assert!(worklogs(&w, &alpha, "2").is_empty());
    // The table says how to apply.
    let table = w.ok(&alpha, &args);
    assert!(
        table.contains("Login form") && table.contains("--apply"),
        "{table}"
    );

    // Another author's commits only with --author.
    let other = w.json(
        &alpha,
        &[
            "worklog",
            "suggest",
            "--since",
            "2025-01-02",
            "--author",
            "OTHER@example.invalid",
        ],
    );
    assert_eq!(
        rows(&other),
        vec![("alpha".into(), 1, "2025-03-10".into(), 30)]
    );

    // Apply one by id prefix, dismiss beta's, then apply the rest.
    let search_pm = id_of(&first, "alpha", 2, 60);
    let applied = w.json(
        &alpha,
        &[
            "worklog",
            "suggest",
            "--since",
            "2025-01-02",
            "--apply",
            &search_pm[..8],
        ],
    );
    assert_eq!(applied["applied"].as_array().unwrap().len(), 1);
    let logs = worklogs(&w, &alpha, "2");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["minutes"], 60);
    assert_eq!(logs[0]["date"], "2025-03-10");
    assert_eq!(logs[0]["suggestion"], search_pm.as_str());
    assert_eq!(logs[0]["author"], "tess");
    let deploy = id_of(&first, "beta", 1, 35);
    w.ok(
        &alpha,
        &[
            "worklog",
            "suggest",
            "--since",
            "2025-01-02",
            "--dismiss",
            &deploy,
        ],
    );
    let rest = w.json(
        &alpha,
        &["worklog", "suggest", "--since", "2025-01-02", "--apply"],
    );
    assert_eq!(rest["applied"].as_array().unwrap().len(), 3, "{rest:#}");

    // Nothing is proposed again, and applying again logs nothing.
    let after = w.json(&alpha, &args);
    assert!(
        after["suggestions"].as_array().unwrap().is_empty(),
        "{after:#}"
    );
    let none = w.json(
        &alpha,
        &["worklog", "suggest", "--since", "2025-01-02", "--apply"],
    );
    assert!(none["applied"].as_array().unwrap().is_empty());
    let minutes = |dir: &Path, h: &str| -> Vec<u64> {
        let mut m: Vec<u64> = worklogs(&w, dir, h)
            .iter()
            .map(|l| l["minutes"].as_u64().unwrap())
            .collect();
        m.sort_unstable();
        m
    };
    assert_eq!(minutes(&alpha, "1"), vec![30, 50]);
    assert_eq!(minutes(&alpha, "2"), vec![50, 60]);
    assert!(minutes(&beta, "1").is_empty());
    assert_eq!(w.json(&alpha, &["show", "2"])["actualHours"], 1.83);

    // The worklogs themselves remember their suggestions: without the machine's ledger the
    // applied ones are still not proposed (the dismissed one is, as the ledger said it).
    std::fs::remove_file(alpha.join(".devlog/.state/worklog-suggestions.json")).unwrap();
    let fresh = w.json(&alpha, &args);
    assert_eq!(
        rows(&fresh),
        vec![("beta".into(), 1, "2025-03-11".into(), 35)]
    );

    // From beta, its own and alpha's commits are read only when discovered there.
    let from_beta = w.json(&beta, &args);
    assert_eq!(
        rows(&from_beta),
        vec![("beta".into(), 1, "2025-03-11".into(), 35)]
    );
}

#[test]
fn gap_and_padding_shape_the_sessions_and_bad_input_changes_nothing() {
    let w = World::new();
    let dir = w.repo("solo", &["Work"]);
    for (t, m) in [
        ("2025-05-01T09:00:00Z", "a #1"),
        ("2025-05-01T09:50:00Z", "b #1"),
        ("2025-05-01T10:30:00Z", "c #1"),
    ] {
        w.commit(&dir, t, m);
    }
    let s = |extra: &[&str]| {
        let mut a = vec!["worklog", "suggest", "--since", "2025-04-01"];
        a.extend_from_slice(extra);
        rows(&w.json(&dir, &a))
            .into_iter()
            .map(|r| r.3)
            .collect::<Vec<_>>()
    };
    assert_eq!(s(&[]), vec![120]);
    // A 45-minute gap splits at the 50-minute pause.
    let mut split = s(&["--gap", "45m", "--padding", "0"]);
    split.sort_unstable();
    assert_eq!(split, vec![40]);
    assert_eq!(
        s(&["--gap", "45m", "--padding", "15m"]).iter().sum::<u64>(),
        15 + 55
    );

    for (args, want) in [
        (vec!["--gap", "soon"], "gap"),
        (vec!["--padding=-5m"], "padding"),
        (vec!["--since", "tomorrowish"], "since"),
        (vec!["--apply", "zz-top"], "suggestion"),
        (vec!["--dismiss", "abcdef"], "no pending suggestion"),
    ] {
        let mut a = vec!["worklog", "suggest", "--since", "2025-04-01"];
        a.extend(args);
        let err = w.fails(&dir, &a);
        assert!(err.contains(want), "{a:?}: {err}");
    }
    assert!(worklogs(&w, &dir, "1").is_empty());
    assert!(!dir.join(".devlog/.state/worklog-suggestions.json").exists());
    // --interactive needs a terminal.
    let err = w.fails(&dir, &["worklog", "suggest", "-i"]);
    assert!(err.contains("terminal"), "{err}");
}

#[test]
fn runs_applying_at_once_log_each_suggestion_once() {
    let w = World::new();
    let dir = w.repo("race", &["One", "Two"]);
    w.commit(&dir, "2025-06-01T09:00:00Z", "a #1");
    w.commit(&dir, "2025-06-01T09:30:00Z", "b #1 #2");
    w.commit(&dir, "2025-06-02T09:00:00Z", "c #2");
    let args = ["worklog", "suggest", "--since", "2025-05-01", "--apply"];
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut c = Command::new(BIN);
            c.args(args).current_dir(&dir);
            w.env(&mut c);
            c.stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // Each of the three suggestions once, whichever run got there first.
    let logs = |h: &str| -> Vec<u64> {
        let mut m: Vec<u64> = worklogs(&w, &dir, h)
            .iter()
            .map(|l| l["minutes"].as_u64().unwrap())
            .collect();
        m.sort_unstable();
        m
    };
    assert_eq!(logs("1"), vec![30]);
    assert_eq!(logs("2"), vec![30, 30]);
    let after = w.json(&dir, &["worklog", "suggest", "--since", "2025-05-01"]);
    assert!(after["suggestions"].as_array().unwrap().is_empty());
}

/// `-i` on a terminal (the `script` program gives it one; skipped where it is missing).
#[test]
fn interactive_asks_for_each_suggestion() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` program for a terminal");
        return;
    }
    let w = World::new();
    let dir = w.repo("tty", &["One", "Two", "Three"]);
    w.commit(&dir, "2025-06-01T09:00:00Z", "a #1");
    w.commit(&dir, "2025-06-02T09:00:00Z", "b #2");
    w.commit(&dir, "2025-06-03T09:00:00Z", "c #3");
    let mut c = Command::new("script");
    c.args([
        "-qec",
        &format!("{BIN} worklog suggest --since 2025-05-01 -i"),
        "/dev/null",
    ])
    .current_dir(&dir)
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped());
    w.env(&mut c);
    let mut child = c.spawn().unwrap();
    // #1: edit to 20m; #2: a wrong answer, then no; #3: dismiss.
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"e\n20m\nx\nn\nd\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Logged 20m on #1"), "{text}");
    assert!(text.contains("answer y, n, e, d or q"), "{text}");
    assert!(text.contains("Dismissed"), "{text}");
    assert_eq!(worklogs(&w, &dir, "1")[0]["minutes"], 20);
    assert!(worklogs(&w, &dir, "2").is_empty());
    assert!(worklogs(&w, &dir, "3").is_empty());
    // Only #2 (answered no) is proposed again.
    let after = w.json(&dir, &["worklog", "suggest", "--since", "2025-05-01"]);
    assert_eq!(
        rows(&after),
        vec![("tty".into(), 2, "2025-06-02".into(), 30)]
    );
}

/// One HTTP/1.0 request to `devlog serve`; the status and the body.
fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // Guards against a hang; not a timing assertion.
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

/// `devlog serve` builds the same suggester as `devlog worklog suggest` (this repository and
/// the discovered ones, the same ledger): REST lists and applies, the CLI then proposes
/// nothing applied.
#[test]
fn serve_offers_the_same_suggestions_over_rest() {
    use std::io::BufRead;
    let w = World::new();
    let alpha = w.repo("alpha", &["Login form"]);
    let beta = w.repo("beta", &["Deploy"]);
    w.commit(&alpha, "2025-03-10T09:00:00Z", "start #1");
    w.commit(&alpha, "2025-03-10T09:40:00Z", "more of #1");
    w.commit(&beta, "2025-03-11T08:00:00Z", "deploy script #1");
    w.ok(
        &alpha,
        &["repos", "discover", "--root", w.root.to_str().unwrap()],
    );
    let cli = w.json(&alpha, &["worklog", "suggest", "--since", "2025-01-01"]);
    assert_eq!(cli["suggestions"].as_array().unwrap().len(), 2, "{cli:#}");

    let mut c = Command::new(BIN);
    c.args(["serve", "--port", "0", "--no-background-sync"])
        .current_dir(&alpha);
    w.env(&mut c);
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let _served = Kill(child);
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr: std::net::SocketAddr = loop {
        let line = lines
            .next()
            .expect("devlog serve announces its address")
            .unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let (status, rest) = http(
        addr,
        "GET",
        "/api/v1/worklogs/suggestions?since=2025-01-01",
        None,
    );
    assert_eq!(status, 200, "{rest:#}");
    assert_eq!(
        rest["suggestions"], cli["suggestions"],
        "the CLI's suggestions"
    );
    let deploy = id_of(&rest, "beta", 1, 30);
    let body = serde_json::json!({"ids": [deploy], "since": "2025-01-01"}).to_string();
    let (status, applied) = http(
        addr,
        "POST",
        "/api/v1/worklogs/suggestions/apply",
        Some(&body),
    );
    assert_eq!(status, 200, "{applied:#}");
    assert_eq!(applied["applied"][0]["worklog"]["minutes"], 30);
    // Written to beta's store, and recorded in alpha's ledger: the CLI proposes it no more.
    assert_eq!(worklogs(&w, &beta, "1").len(), 1);
    let after = w.json(&alpha, &["worklog", "suggest", "--since", "2025-01-01"]);
    assert_eq!(
        rows(&after),
        vec![("alpha".into(), 1, "2025-03-10".into(), 70)]
    );
}
