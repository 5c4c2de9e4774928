//! Two `devlog serve` processes behind one imaginary load balancer (issue 14): two working
//! folders on one PostgreSQL (or MariaDB) store, each serving webhooks, and every GitHub
//! delivery sent to both — one after the other, at the same moment, and redelivered. The
//! webhook inbox and the applied-action keys live in the shared database, so each delivery
//! is applied once: one note per comment on the entry, not two.
//!
//! The deliveries are GitHub's own `issue_comment` example (`shared/apispecs/github/webhooks`),
//! one per comment id, signed like GitHub signs them. Server URLs come from
//! `DEVLOG_TEST_POSTGRES_URL` / `DEVLOG_TEST_MYSQL_URL`; without them the tests say why and
//! pass. Each test creates its own database and drops it at the end.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use devlog_github::webhook::signature;
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::Value;

mod common;
use common::server_db::{Kind, create_db, drop_db};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const TOKEN: &str = "ghp_two_servers_5c0ffee";
const SECRET: &str = "two-servers-hook-secret";
/// Guards against a hang; not a timing assertion.
const HANG: Duration = Duration::from_secs(60);
/// Comments delivered (each to both servers).
const COMMENTS: u64 = 6;

/// One machine: its own folder, home and `.devlog`, configured for the shared database.
struct Machine {
    dir: PathBuf,
    home: PathBuf,
    url: String,
}

impl Machine {
    fn new(root: &Path, name: &str, kind: Kind, url: &str, api: &str) -> Self {
        let dir = root.join(name).join("project");
        let home = root.join(name).join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            dir.join("devlog.toml"),
            format!(
                "[storage]\ntype = \"{}\"\nurl = \"${{DATABASE_URL}}\"\n\n\
                 [integrations.github]\nrepository = \"Codertocat/Hello-World\"\n\
                 token = \"${{GITHUB_TOKEN}}\"\napiUrl = \"{api}\"\n\
                 webhookSecret = \"${{GITHUB_WEBHOOK_SECRET}}\"\n",
                kind.backend()
            ),
        )
        .unwrap();
        Machine {
            dir,
            home,
            url: url.to_string(),
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(BIN);
        c.args(args)
            .current_dir(&self.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("DATABASE_URL", &self.url)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_WEBHOOK_SECRET", SECRET);
        c
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut c = tokio::process::Command::from(self.command(args));
        c.arg("--json");
        let o = c.output().await.unwrap();
        assert!(
            o.status.success(),
            "devlog {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// `devlog serve` on a free loopback port, without background sync: webhooks only.
    fn serve(&self) -> Served {
        let mut child = self
            .command(&["serve", "--port", "0", "--no-background-sync"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served { child, addr: None };
        loop {
            let line = rx
                .recv_timeout(HANG)
                .expect("devlog serve announces its address");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                served.addr = Some(rest.split_whitespace().next().unwrap().parse().unwrap());
                // Keep draining its log (shown when the test fails) so it never blocks.
                let who = self
                    .dir
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                std::thread::spawn(move || {
                    while let Ok(line) = rx.recv() {
                        eprintln!("[{who} serve] {line}");
                    }
                });
                return served;
            }
        }
    }
}

struct Served {
    child: Child,
    addr: Option<SocketAddr>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 request; the status and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

/// GitHub's `issue_comment` example as comment `k` on issue 1.
fn delivery(k: u64) -> (String, Vec<u8>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/apispecs/github/webhooks/examples/issue_comment/created.1.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["issue"]["number"] = 1.into();
    v["comment"]["id"] = (492_700_400 + k).into();
    v["comment"]["node_id"] = format!("MDEyOklzc3VlQ29tbWVudDQ5MjcwMDQw{k}").into();
    v["comment"]["body"] = format!("Comment number {k} from GitHub").into();
    (
        format!("72d3162e-cc78-11e3-81ab-4c9367dc{k:04}"),
        serde_json::to_vec(&v).unwrap(),
    )
}

/// Sends delivery `k` to `addr`, and waits for its outcome when it was answered 202.
fn send(addr: SocketAddr, k: u64) {
    let (id, body) = delivery(k);
    let headers = [
        ("Content-Type", "application/json".to_string()),
        ("X-GitHub-Event", "issue_comment".to_string()),
        ("X-GitHub-Delivery", id.clone()),
        ("X-Hub-Signature-256", signature(SECRET.as_bytes(), &body)),
    ];
    let (status, answer) = http(addr, "POST", "/webhooks/github", &headers, &body);
    assert!(status == 200 || status == 202, "{status}: {answer}");
    if status == 202 {
        let give_up = std::time::Instant::now() + HANG;
        loop {
            let (s, b) = http(
                addr,
                "GET",
                &format!("/webhooks/github/deliveries/{id}"),
                &[],
                b"",
            );
            assert_eq!(s, 200, "{b}");
            let v: Value = serde_json::from_str(&b).unwrap();
            if v["status"] == "done" {
                break;
            }
            assert_ne!(v["status"], "failed", "{b}");
            assert!(
                std::time::Instant::now() < give_up,
                "delivery {id} never finished: {b}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn two_servers_apply_each_delivery_once(kind: Kind, test: &str) {
    let Some((admin, name, url)) = create_db(kind, test, "twoservers").await else {
        return;
    };
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "Codertocat", "Hello-World", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let tmp = tempfile::tempdir().unwrap();
    let first = Machine::new(tmp.path(), "first", kind, &url, &remote.url());
    let second = Machine::new(tmp.path(), "second", kind, &url, &remote.url());
    first.json(&["init"]).await;
    second.json(&["init"]).await;
    let e = first
        .json(&["new", "Spelling of commit", "--type", "bugfix"])
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    first.json(&["sync"]).await;
    assert_eq!(gh.issues_created(), 1, "the entry is issue 1");

    let served = [first.serve(), second.serve()];
    let (a, b) = (served[0].addr.unwrap(), served[1].addr.unwrap());
    tokio::task::spawn_blocking(move || {
        for k in 0..COMMENTS {
            if k % 2 == 0 {
                // Both servers at the same moment.
                let both = [a, b].map(|addr| std::thread::spawn(move || send(addr, k)));
                for t in both {
                    t.join().unwrap();
                }
            } else {
                send(a, k);
                send(b, k);
            }
        }
        // GitHub redelivers, to whichever server.
        for k in 0..COMMENTS {
            send(b, k);
            send(a, k);
        }
    })
    .await
    .unwrap();

    for m in [&first, &second] {
        let shown = m.json(&["show", &id]).await;
        let notes = shown["notes"].as_array().unwrap();
        assert_eq!(
            notes.len() as u64,
            COMMENTS,
            "one note per comment: {shown:#}"
        );
        for k in 0..COMMENTS {
            let text = format!("Comment number {k} from GitHub");
            let n = notes
                .iter()
                .filter(|n| n["content"].as_str().unwrap_or_default().contains(&text))
                .count();
            assert_eq!(n, 1, "{text}: {shown:#}");
        }
    }
    assert_eq!(gh.issues_created(), 1);
    drop(served);
    drop(remote);
    drop_db(kind, &admin, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_servers_apply_each_webhook_delivery_once() {
    two_servers_apply_each_delivery_once(Kind::Postgres, "postgres_two_servers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_two_servers_apply_each_webhook_delivery_once() {
    two_servers_apply_each_delivery_once(Kind::Mysql, "mariadb_two_servers").await;
}
