//! Auto-commit of writes made through the long-running frontends (`devlog mcp`, `devlog
//! serve`): the real binary against real git repositories in temporary folders. Writes are
//! batched: a burst is one commit, made once nothing changed for `autoCommitDelaySeconds` or
//! when the frontend stops, and only `.devlog/` is ever committed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

/// Guards against a hang; not a timing assertion.
const HANG: Duration = Duration::from_secs(60);

/// A repository with one commit (`a.txt`, `devlog.toml`, an initialized `.devlog`), a staged
/// change and an untracked file of the user's that auto-commit must leave alone.
struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

impl Repo {
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
        let out = r.devlog(&["init"]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        r.git(&["add", "a.txt", "devlog.toml", ".devlog"]);
        r.git(&["commit", "-q", "-m", "init"]);
        std::fs::write(r.dir.join("a.txt"), "staged\n").unwrap();
        r.git(&["add", "a.txt"]);
        std::fs::write(r.dir.join("mine.txt"), "untracked\n").unwrap();
        r
    }

    fn isolate(&self, c: &mut Command) {
        c.current_dir(&self.dir)
            .env("GIT_AUTHOR_NAME", "Tess Ter")
            .env("GIT_AUTHOR_EMAIL", "tess@example.invalid")
            .env("GIT_COMMITTER_NAME", "Tess Ter")
            .env("GIT_COMMITTER_EMAIL", "tess@example.invalid")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join("gitconfig"))
            .env("HOME", &self.home);
    }

    fn git(&self, args: &[&str]) -> String {
        let mut c = Command::new("git");
        c.args(args);
        self.isolate(&mut c);
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn devlog(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester");
        self.isolate(&mut c);
        c
    }

    fn commit_count(&self) -> usize {
        self.git(&["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .unwrap()
    }

    /// The files the commits after `init` changed.
    fn committed_files(&self) -> Vec<String> {
        let base = self.git(&["rev-list", "--max-parents=0", "HEAD"]);
        self.git(&["diff", "--name-only", base.trim(), "HEAD"])
            .lines()
            .map(String::from)
            .collect()
    }

    /// The user's own work is as it was: `a.txt` staged, `mine.txt` untracked.
    fn assert_user_work_untouched(&self) {
        let status = self.git(&["status", "--porcelain"]);
        assert!(status.contains("M  a.txt"), "{status}");
        assert!(status.contains("?? mine.txt"), "{status}");
        let files = self.committed_files();
        assert!(
            files.iter().all(|f| f.starts_with(".devlog/")),
            "auto-commit committed files outside .devlog: {files:?}"
        );
    }
}

/// Kills the child when the test ends, however it ends.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `devlog mcp`, initializes the session, and makes `n` entries in one burst (every
/// request written before any answer is read).
fn mcp_burst(r: &Repo, n: usize) -> (Reap, std::process::ChildStdin, mpsc::Receiver<String>) {
    let mut child = r
        .devlog(&["mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = vec![
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "burst", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ];
    for i in 1..=n {
        lines.push(
            json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
            "name": "create_devlog",
            "arguments": {"title": format!("Burst entry {i}"), "type": "task",
                          "description": "made through MCP"}}}),
        );
    }
    let mut all = String::new();
    for l in &lines {
        all.push_str(&l.to_string());
        all.push('\n');
    }
    stdin.write_all(all.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut answered = 0;
    while answered < n + 1 {
        let line = rx.recv_timeout(HANG).expect("an answer");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("error").is_none(), "{v}");
        assert_ne!(v["result"]["isError"], true, "{v}");
        answered += 1;
    }
    (Reap(child), stdin, rx)
}

fn wait_exit(mut child: Reap) -> (std::process::ExitStatus, String) {
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.0.wait().unwrap(), stderr)
}

#[test]
fn a_burst_of_mcp_creates_is_one_commit_of_devlog_only() {
    // A long delay: the commit comes when the session ends, not in between.
    let r = Repo::new("[integrations.git]\nautoCommit = true\nautoCommitDelaySeconds = 3600\n");
    let (child, stdin, _answers) = mcp_burst(&r, 20);
    assert_eq!(r.commit_count(), 1, "nothing is committed during the burst");
    drop(stdin);
    let (status, stderr) = wait_exit(child);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(r.commit_count(), 2, "one commit for the burst: {stderr}");
    let files = r.committed_files();
    let entries = files
        .iter()
        .filter(|f| f.starts_with(".devlog/entries/"))
        .count();
    assert_eq!(entries, 20, "{files:?}");
    let subject = r.git(&["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "chore(devlog): update 20 entries");
    assert!(stderr.contains("Committed .devlog"), "{stderr}");
    r.assert_user_work_untouched();
    let pending = r.git(&["status", "--porcelain", "--", ".devlog"]);
    assert!(pending.is_empty(), "left uncommitted: {pending}");
}

#[test]
fn mcp_writes_are_committed_after_a_quiet_period_while_the_session_runs() {
    let r = Repo::new("[integrations.git]\nautoCommit = true\nautoCommitDelaySeconds = 1\n");
    let (child, stdin, _answers) = mcp_burst(&r, 5);
    // The session stays open; the commit comes once the writes stop.
    let mut waited = Duration::ZERO;
    while r.commit_count() < 2 {
        assert!(waited < HANG, "no commit while the session ran");
        std::thread::sleep(Duration::from_millis(200));
        waited += Duration::from_millis(200);
    }
    let entries = r
        .committed_files()
        .iter()
        .filter(|f| f.starts_with(".devlog/entries/"))
        .count();
    assert!(entries >= 1, "the commit holds the entries");
    drop(stdin);
    let (status, stderr) = wait_exit(child);
    assert!(status.success(), "{status}: {stderr}");
    // Every write is committed by the end, however the burst was split.
    let files = r.committed_files();
    let entries = files
        .iter()
        .filter(|f| f.starts_with(".devlog/entries/"))
        .count();
    assert_eq!(entries, 5, "{files:?}");
    assert!(r.commit_count() <= 1 + 5, "{stderr}");
    r.assert_user_work_untouched();
}

#[test]
fn mcp_without_auto_commit_commits_nothing() {
    let r = Repo::new("");
    let (child, stdin, _answers) = mcp_burst(&r, 3);
    drop(stdin);
    let (status, stderr) = wait_exit(child);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(r.commit_count(), 1);
}

/// One HTTP/1.0 request; returns the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

#[test]
fn a_rest_write_through_devlog_serve_is_committed() {
    let r = Repo::new("[integrations.git]\nautoCommit = true\nautoCommitDelaySeconds = 3600\n");
    let mut child = Reap(
        r.devlog(&["serve", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(HANG)
            .expect("devlog serve announces its address");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/entries",
        r#"{"title": "Made over HTTP", "type": "task"}"#,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(r.commit_count(), 1);
    let ok = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
    let rest: Vec<String> = std::iter::from_fn(|| rx.recv_timeout(HANG).ok()).collect();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}: {rest:?}");
    assert_eq!(r.commit_count(), 2, "{rest:?}");
    let subject = r.git(&["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "chore(devlog): update #1 Made over HTTP");
    r.assert_user_work_untouched();
}

/// `devlog sync` commits what it pulled, as the other write commands do.
#[tokio::test(flavor = "multi_thread")]
async fn devlog_sync_commits_what_it_pulled() {
    use devlog_testkit::fake_github::FakeGithub;
    use devlog_testkit::fake_remote::FakeRemote;
    const TOKEN: &str = "ghp_auto_commit_test_token";

    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let r = Repo::new(&format!(
        "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"${{GITHUB_TOKEN}}\"\n\
         apiUrl = \"{}\"\n\n[integrations.git]\nautoCommit = true\n",
        remote.url()
    ));
    let run = |args: &'static [&'static str]| {
        let mut c = tokio::process::Command::new(BIN);
        c.args(args)
            .current_dir(&r.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("GITHUB_TOKEN", TOKEN)
            .env("GIT_AUTHOR_NAME", "Tess Ter")
            .env("GIT_AUTHOR_EMAIL", "tess@example.invalid")
            .env("GIT_COMMITTER_NAME", "Tess Ter")
            .env("GIT_COMMITTER_EMAIL", "tess@example.invalid")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", r.home.join("gitconfig"))
            .env("HOME", &r.home);
        async move {
            let o = c.output().await.unwrap();
            assert!(
                o.status.success(),
                "devlog {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    };
    let issue = gh.insert_issue("Parser crash", "It panics.", false);
    run(&["new", "Parser crash", "--type", "bugfix"]).await;
    run(&["github", "link", "1", "1"]).await;
    gh.add_comment(issue.number, "carol", "Confirmed on main.")
        .unwrap();
    let before = r.git(&["rev-parse", "HEAD"]);
    run(&["sync"]).await;
    assert_ne!(
        r.git(&["rev-parse", "HEAD"]),
        before,
        "the pull is committed"
    );
    let subject = r.git(&["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "chore(devlog): sync #1 Parser crash");
    let pending = r.git(&["status", "--porcelain", "--", ".devlog"]);
    assert!(pending.is_empty(), "left uncommitted: {pending}");
    r.assert_user_work_untouched();
}
