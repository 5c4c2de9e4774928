//! Background sync end to end: `devlog worker --once`, `devlog sync --watch` and `devlog serve`
//! syncing on its own, as real processes against the test kit's fake GitHub. A change made by
//! another process (`devlog new`) is pushed without any `devlog sync`. Waits have generous
//! timeouts; nothing is timed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const TOKEN: &str = "ghp_worker_test_token_7d1e2b";
/// Guards against a hang; not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

struct Rig {
    gh: FakeGithub,
    _remote: FakeRemote,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn rig_with(extra: &str) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("devlog.toml"),
        format!(
            "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"${{GITHUB_TOKEN}}\"\napiUrl = \"{}\"\n{extra}",
            remote.url()
        ),
    )
    .unwrap();
    let r = Rig {
        gh,
        _remote: remote,
        _tmp: tmp,
        dir,
    };
    assert_eq!(r.devlog(&["init"]).await.code, 0);
    r
}

impl Rig {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(BIN);
        c.args(args)
            .current_dir(&self.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("HOME", self.dir.join("home"))
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("GITHUB_TOKEN", TOKEN)
            .kill_on_drop(true);
        c
    }

    async fn devlog(&self, args: &[&str]) -> Run {
        let o = self.command(args).output().await.unwrap();
        let run = Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        };
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
        run
    }

    async fn ok(&self, args: &[&str]) -> String {
        let r = self.devlog(args).await;
        assert_eq!(r.code, 0, "devlog {args:?}:\n{}\n{}", r.stdout, r.stderr);
        r.stdout
    }

    /// A new entry made by its own process; its id.
    async fn new_entry(&self, title: &str) -> String {
        let v: Value = serde_json::from_str(&self.ok(&["new", title, "--json"]).await).unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    /// Issues carrying `id`'s marker.
    fn issues_of(&self, id: &str) -> usize {
        let marker = format!("<!-- devlog:id={id} -->");
        self.gh
            .issues()
            .iter()
            .filter(|i| i.body.as_deref().unwrap_or_default().contains(&marker))
            .count()
    }

    async fn wait_for_issue(&self, id: &str) {
        let give_up = tokio::time::Instant::now() + PATIENCE;
        while self.issues_of(id) == 0 {
            assert!(
                tokio::time::Instant::now() < give_up,
                "no issue was created for {id}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A long-running devlog process; its stdout and stderr lines arrive on one channel.
struct Running {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(rig: &Rig, args: &[&str]) -> Self {
        let mut child = rig
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let mut l = BufReader::new(out).lines();
            while let Ok(Some(line)) = l.next_line().await {
                let _ = tx.send(line);
            }
        });
        tokio::spawn(async move {
            let mut l = BufReader::new(err).lines();
            while let Ok(Some(line)) = l.next_line().await {
                let _ = tx2.send(line);
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`.
    async fn wait_for_line(&mut self, text: &str) {
        if self.seen.iter().any(|l| l.contains(text)) {
            return;
        }
        loop {
            let line = tokio::time::timeout(PATIENCE, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no line with {text:?}; saw:\n{}", self.seen.join("\n")))
                .unwrap_or_else(|| {
                    panic!("ended without {text:?}; saw:\n{}", self.seen.join("\n"))
                });
            let hit = line.contains(text);
            self.seen.push(line);
            if hit {
                return;
            }
        }
    }

    /// SIGTERM; the exit code and every line it printed.
    async fn terminate(mut self) -> (i32, String) {
        let pid = self.child.id().unwrap().to_string();
        let ok = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("it stops on SIGTERM")
            .unwrap();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_once_pushes_pending_changes_and_prints_json_lines() {
    let r = rig_with("").await;
    let first = r.new_entry("Pending push").await;
    assert_eq!(r.issues_of(&first), 0, "`devlog new` does not push");
    let out = r.ok(&["worker", "--once"]).await;
    assert_eq!(r.issues_of(&first), 1, "{out}");
    assert!(
        out.contains(&format!("github: {} created", &first[..8])),
        "{out}"
    );
    assert!(out.contains("stopped: 1 created"), "{out}");

    let second = r.new_entry("Second pending push").await;
    let out = r
        .ok(&["worker", "--once", "--workers", "2", "--json"])
        .await;
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert_eq!(events[0]["event"], "started", "{out}");
    assert_eq!(events[0]["workers"], 2, "{out}");
    assert!(
        events.iter().any(|e| e["event"] == "pushed"
            && e["entryId"] == second.as_str()
            && e["outcome"] == "created"),
        "{out}"
    );
    assert_eq!(events.last().unwrap()["event"], "stopped", "{out}");
    assert_eq!(events.last().unwrap()["report"]["created"], 1, "{out}");
    // Exactly once: neither run created a second issue for the first entry.
    assert_eq!((r.issues_of(&first), r.issues_of(&second)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pushes_a_change_made_by_another_process_without_devlog_sync() {
    let r = rig_with("").await;
    let mut served = Running::start(&r, &["serve", "--port", "0", "--sync-interval", "1s"]);
    served
        .wait_for_line("sync      in the background: 1 worker(s), pulling every 1s")
        .await;
    let id = r.new_entry("Made beside the server").await;
    r.wait_for_issue(&id).await;
    let (code, log) = served.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("devlog server stopped"), "{log}");
    assert_eq!(r.issues_of(&id), 1, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_background_sync_leaves_changes_alone() {
    let r = rig_with("").await;
    let mut served = Running::start(&r, &["serve", "--port", "0", "--no-background-sync"]);
    served.wait_for_line("Ctrl-C stops it").await;
    let id = r.new_entry("Not pushed by the server").await;
    let (code, log) = served.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("in the background"), "{log}");
    assert_eq!(r.issues_of(&id), 0, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_watch_pushes_changes_as_they_happen_and_stops_on_sigterm() {
    // `[sync] interval` of an hour: the push is started by the change-feed watcher alone.
    let r = rig_with("[sync]\ninterval = \"1h\"\n").await;
    let mut watch = Running::start(&r, &["sync", "--watch"]);
    watch
        .wait_for_line("1 sync worker(s), pulling every 3600s")
        .await;
    let id = r.new_entry("Watched").await;
    watch
        .wait_for_line(&format!("github: {} created", &id[..8]))
        .await;
    let (code, log) = watch.terminate().await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("stopped: 1 created"), "{log}");
    assert_eq!(r.issues_of(&id), 1, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_worker_settings_are_refused_with_what_to_write() {
    let r = rig_with("").await;
    let config = std::fs::read_to_string(r.dir.join("devlog.toml")).unwrap();
    std::fs::write(
        r.dir.join("devlog.toml"),
        format!("{config}[sync]\ninterval = \"soon\"\n"),
    )
    .unwrap();
    let run = r.devlog(&["worker", "--once"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("`soon` is not a duration"),
        "{}",
        run.stderr
    );
    std::fs::write(
        r.dir.join("devlog.toml"),
        format!("{config}[sync]\nworkers = 0\n"),
    )
    .unwrap();
    let run = r.devlog(&["worker", "--once"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("from 1 to 64"), "{}", run.stderr);
    std::fs::write(
        r.dir.join("devlog.toml"),
        format!("{config}[sync]\nlease = \"500ms\"\n"),
    )
    .unwrap();
    let run = r.devlog(&["worker", "--once"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("too short for a lease"),
        "{}",
        run.stderr
    );
    std::fs::write(r.dir.join("devlog.toml"), &config).unwrap();
    let run = r.devlog(&["worker", "--once", "--lease", "0s"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("at least 100ms") || run.stderr.contains("lease"),
        "{}",
        run.stderr
    );
    let run = r.devlog(&["worker", "--once", "--lease", "2s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = r.devlog(&["worker", "--interval", "10ms"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("at least 100ms"), "{}", run.stderr);
    let run = r.devlog(&["sync", "--interval", "5s"]).await;
    assert_eq!(run.code, 2, "--interval needs --watch: {}", run.stderr);
    let run = r.devlog(&["sync", "--watch", "--plan"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_without_integrations_says_how_to_add_one() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(BIN)
        .args(["worker", "--once"])
        .current_dir(tmp.path())
        .env_remove("DEVLOG_DIR")
        .env("HOME", tmp.path())
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let _ = tokio::process::Command::new(BIN)
        .args(["init"])
        .current_dir(tmp.path())
        .env_remove("DEVLOG_DIR")
        .env("HOME", tmp.path())
        .output()
        .await
        .unwrap();
    let run2 = tokio::process::Command::new(BIN)
        .args(["worker", "--once"])
        .current_dir(tmp.path())
        .env_remove("DEVLOG_DIR")
        .env("HOME", tmp.path())
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    assert_ne!(run.status.code(), Some(0));
    let err = String::from_utf8(run2.stderr).unwrap();
    assert_eq!(run2.status.code(), Some(2), "{err}");
    assert!(err.contains("no integrations are configured"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_show_names_the_sync_interval_and_workers_with_their_origin() {
    let r = rig_with("").await;
    let shown: Value = serde_json::from_str(&r.ok(&["config", "show", "--json"]).await).unwrap();
    assert_eq!(shown["settings"]["sync.workers"]["value"], 1, "{shown}");
    assert_eq!(
        shown["settings"]["sync.workers"]["source"]["from"], "default",
        "{shown}"
    );
    assert_eq!(shown["settings"]["sync.lease"]["value"], "60s", "{shown}");
    assert!(
        shown["settings"]["sync.interval"]["value"]
            .as_str()
            .unwrap()
            .contains("60s (devlog serve)"),
        "{shown}"
    );
    let config = std::fs::read_to_string(r.dir.join("devlog.toml")).unwrap();
    std::fs::write(
        r.dir.join("devlog.toml"),
        format!("{config}[sync]\ninterval = \"2m\"\nworkers = 3\nlease = \"5m\"\n"),
    )
    .unwrap();
    let shown: Value = serde_json::from_str(&r.ok(&["config", "show", "--json"]).await).unwrap();
    assert_eq!(
        shown["settings"]["sync.interval"]["value"], "120s",
        "{shown}"
    );
    assert_eq!(shown["settings"]["sync.workers"]["value"], 3, "{shown}");
    assert_eq!(shown["settings"]["sync.lease"]["value"], "300s", "{shown}");
    assert_eq!(
        shown["settings"]["sync.lease"]["source"]["key"], "sync.lease",
        "{shown}"
    );
    assert_eq!(
        shown["settings"]["sync.workers"]["source"]["key"], "sync.workers",
        "{shown}"
    );
}
