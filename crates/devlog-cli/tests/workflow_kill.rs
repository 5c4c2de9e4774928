//! A workflow run killed with SIGKILL at each step boundary (issue 21 item 9): no step's
//! remote effect twice, none lost, no local write twice.
//!
//! The run alternates `notify` steps (a remote effect, sent to a local receiver) and
//! `add_note` steps. For each notification the test kills `devlog workflow run` while that
//! request is in flight — once before the receiver has read it (the effect has not happened)
//! and once after the receiver took it but before it answered (the effect happened; the
//! process never learnt so) — then resumes the run with `devlog workflow resume`. A resumed
//! step re-sends with the same `Idempotency-Key`, so the receiver sees every notification
//! exactly once by key, and every note is written once.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

/// Three notifications with a note between each: five steps, four boundaries inside.
const CHAIN: &str = r#"name: chain
on:
  manual:
steps:
  - notify:
      target: team
      format: json
      body: '{"step": "s0"}'
  - add_note:
      category: progress
      text: n1
  - notify:
      target: team
      format: json
      body: '{"step": "s2"}'
  - add_note:
      category: progress
      text: n3
  - notify:
      target: team
      format: json
      body: '{"step": "s4"}'
"#;

/// Where the receiver holds the `hold`-th request (0-based) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Accepted, never read: the notification has not been received.
    BeforeRead,
    /// Read and recorded, never answered: the notification was received.
    AfterRead,
}

#[derive(Default)]
struct Receiver {
    /// The request to hold and how, until the test lets go.
    hold: Option<(usize, Hold)>,
    /// Requests accepted so far.
    accepted: usize,
    /// The held request has reached its hold point.
    holding: bool,
    /// Every request read: (idempotency key, body).
    seen: Vec<(String, String)>,
    /// Held connections, kept open so the client sees no error.
    parked: Vec<TcpStream>,
}

async fn read_request(sock: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
            };
            let len = header("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return Some((header("idempotency-key").unwrap_or_default(), body.into()));
            }
        }
    }
}

async fn receiver() -> (String, Arc<Mutex<Receiver>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state: Arc<Mutex<Receiver>> = Arc::default();
    let st = state.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let st = st.clone();
            tokio::spawn(async move {
                let hold = {
                    let mut s = st.lock().unwrap();
                    let n = s.accepted;
                    s.accepted += 1;
                    s.hold.filter(|(at, _)| *at == n).map(|(_, how)| how)
                };
                if hold == Some(Hold::BeforeRead) {
                    let mut s = st.lock().unwrap();
                    s.holding = true;
                    s.parked.push(sock);
                    return;
                }
                let Some(request) = read_request(&mut sock).await else {
                    return;
                };
                st.lock().unwrap().seen.push(request);
                if hold == Some(Hold::AfterRead) {
                    let mut s = st.lock().unwrap();
                    s.holding = true;
                    s.parked.push(sock);
                    return;
                }
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (format!("http://127.0.0.1:{}", addr.port()), state)
}

fn command(dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("HOME", dir.join("home"))
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    c
}

async fn ok(dir: &Path, args: &[&str]) -> String {
    let o = command(dir, args).output().await.unwrap();
    assert!(
        o.status.success(),
        "devlog {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

async fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all).await).unwrap()
}

fn workspace(base: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    std::fs::create_dir_all(dir.join(".devlog/workflows")).unwrap();
    std::fs::write(
        dir.join("devlog.toml"),
        format!(
            "[workflows]\nnotifyHosts = [\"127.0.0.1\"]\n\n[workflows.notify.team]\nurl = \"{base}/hook\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join(".devlog/workflows/chain.yml"), CHAIN).unwrap();
    (tmp, dir)
}

/// The entry's notes' texts, oldest first.
async fn notes(dir: &Path) -> Vec<String> {
    let e = json(dir, &["show", "#1"]).await;
    e["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["content"].as_str().unwrap().to_string())
        .collect()
}

/// Runs the chain, kills the process (SIGKILL) while the `at`-th notification is held as
/// `how`, resumes it, and checks every effect happened exactly once.
async fn kill_and_resume(at: usize, how: Hold) {
    let (base, recv) = receiver().await;
    let (_tmp, dir) = workspace(&base);
    ok(&dir, &["init"]).await;
    ok(&dir, &["new", "Chain target", "--type", "task"]).await;
    recv.lock().unwrap().hold = Some((at, how));

    let mut child = command(&dir, &["workflow", "run", "chain", "#1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !recv.lock().unwrap().holding {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("notification {at} ({how:?}): the run ended ({status}) before the kill");
        }
        assert!(Instant::now() < deadline, "notification {at} never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.unwrap(); // SIGKILL
    child.wait().await.unwrap();
    {
        let mut r = recv.lock().unwrap();
        r.hold = None;
        r.parked.clear();
    }
    // What the killed process left: the notes of the steps before the held one.
    let written = notes(&dir).await;
    let expected_before: Vec<&str> = ["n1", "n3"].into_iter().take(at).collect();
    assert_eq!(written, expected_before, "notification {at} ({how:?})");

    ok(&dir, &["workflow", "resume"]).await;

    let runs = json(&dir, &["workflow", "runs", "chain"]).await;
    let runs = runs
        .as_array()
        .or_else(|| runs["runs"].as_array())
        .unwrap()
        .clone();
    assert_eq!(runs.len(), 1, "one run: {runs:?}");
    let run = json(&dir, &["workflow", "show", runs[0]["id"].as_str().unwrap()]).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(run["resumed"], 1, "{run:#}");

    assert_eq!(notes(&dir).await, ["n1", "n3"], "each note once");
    // Every notification arrived; a re-sent one carries its first key.
    let seen = recv.lock().unwrap().seen.clone();
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, body) in &seen {
        assert!(!key.is_empty(), "a notification without Idempotency-Key");
        let step: Value = serde_json::from_str(body).unwrap();
        by_key
            .entry(key.clone())
            .or_default()
            .push(step["step"].as_str().unwrap().to_string());
    }
    let mut steps: Vec<String> = by_key
        .values()
        .map(|bodies| {
            assert!(
                bodies.windows(2).all(|w| w[0] == w[1]),
                "one key, one notification: {bodies:?}"
            );
            bodies[0].clone()
        })
        .collect();
    steps.sort();
    assert_eq!(
        steps,
        ["s0", "s2", "s4"],
        "notification {at} ({how:?}): each notification once by key, none lost: {seen:?}"
    );
    let resent = seen.len() - by_key.len();
    match how {
        Hold::AfterRead => assert_eq!(resent, 1, "the held one is sent again, same key"),
        Hold::BeforeRead => assert_eq!(resent, 0, "nothing was received twice"),
    }
    // One audit record per notification, however often it was sent.
    let export = ok(&dir, &["audit", "export"]).await;
    assert_eq!(
        audit::named(&export, "notification-sent").len(),
        3,
        "notification {at} ({how:?}): {export}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_before_a_notification_is_received_sends_it_once_after_resume() {
    for at in 0..3 {
        kill_and_resume(at, Hold::BeforeRead).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_a_notification_was_received_resends_it_with_the_same_key() {
    for at in 0..3 {
        kill_and_resume(at, Hold::AfterRead).await;
    }
}
