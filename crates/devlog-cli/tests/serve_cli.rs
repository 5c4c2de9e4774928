//! `devlog serve` end to end: a real process on a free loopback port, requests over TCP, a
//! CLI process writing beside it, SIGTERM, and the loopback-only rule.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

#[path = "common/runs.rs"]
mod runs;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

/// Guards against a hang; not a timing assertion.
const HANG: Duration = Duration::from_secs(30);

fn devlog(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    c
}

/// One HTTP/1.0 request; returns the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_to(addr, &addr.to_string(), method, path, body)
}

/// [`http`] with the `Host` header given.
fn http_to(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n");
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
    (status, body.to_string())
}

/// One MCP request to `/mcp` (HTTP/1.1, `Connection: close`) addressed to `host`; the status,
/// the `Mcp-Session-Id` header and the body.
fn mcp(
    addr: SocketAddr,
    host: &str,
    session: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let body = body.to_string();
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if let Some(id) = session {
        req.push_str(&format!(
            "Mcp-Session-Id: {id}\r\nMcp-Protocol-Version: 2025-06-18\r\n"
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let id = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("mcp-session-id")
            .then(|| v.trim().to_string())
    });
    (status, id, body.to_string())
}

/// Opens an MCP session (initialize, then initialized) addressed to `host`; its id.
fn mcp_session(addr: SocketAddr, host: &str) -> String {
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "serve-cli", "version": "0"}}});
    let (status, id, body) = mcp(addr, host, None, &init);
    assert_eq!(status, 200, "{host}: {body}");
    assert!(body.contains("serverInfo"), "{body}");
    let id = id.expect("a session id");
    let done = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, body) = mcp(addr, host, Some(&id), &done);
    assert_eq!(status, 202, "{body}");
    id
}

/// A running `devlog serve`; killed if a test fails before stopping it.
struct Served(Option<Child>);

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Served {
    /// Sends SIGTERM and waits for the exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let child = self.0.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
        let (tx, rx) = mpsc::channel();
        let mut child = child;
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        rx.recv_timeout(HANG).expect("devlog serve exits").unwrap()
    }
}

/// Starts `devlog serve --port 0` and reads the address it announces.
fn start(dir: &Path) -> (Served, SocketAddr, mpsc::Receiver<String>) {
    start_with(dir, &[])
}

/// [`start`] with more arguments.
fn start_with(dir: &Path, more: &[&str]) -> (Served, SocketAddr, mpsc::Receiver<String>) {
    start_command(dir, &[&["serve", "--port", "0"][..], more].concat())
}

/// Starts `devlog ARGS` (a server on a free port) and reads the address it announces.
fn start_command(dir: &Path, args: &[&str]) -> (Served, SocketAddr, mpsc::Receiver<String>) {
    let mut served = Served(Some(
        devlog(dir, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let stderr = served.0.as_mut().unwrap().stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(HANG)
            .expect("devlog serve announces its address");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches("/mcp")
                .parse()
                .unwrap();
            return (served, addr, rx);
        }
    }
}

#[test]
fn serve_answers_over_http_sees_cli_writes_and_stops_on_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let (served, addr, stderr) = start(d.path());
    assert!(addr.ip().is_loopback(), "{addr}");
    // The banner names the dashboard (the next line after the address), and it is there.
    let banner = stderr.recv_timeout(HANG).unwrap();
    assert_eq!(banner, format!("  dashboard http://{addr}/"));
    let (status, body) = http(addr, "GET", "/", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<html"), "{body}");

    let (status, body) = http(addr, "GET", "/api/v1/health", None);
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["backend"], "json");

    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/entries",
        Some(r#"{"title": "Made over HTTP", "type": "task"}"#),
    );
    assert_eq!(status, 201, "{body}");

    // The CLI, another process, reads what the server wrote and writes beside it.
    let out = devlog(d.path(), &["show", "1", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["title"], "Made over HTTP");
    let out = devlog(d.path(), &["note", "1", "from the CLI"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = http(addr, "GET", "/api/v1/entries/1", None);
    assert_eq!(status, 200);
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["notes"][0]["content"], "from the CLI");
    let (_, feed) = http(addr, "GET", "/api/v1/events", None);
    let feed: Value = serde_json::from_str(&feed).unwrap();
    let origins: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["origin"].as_str().unwrap())
        .collect();
    assert_eq!(origins, ["http", "cli"]);
    assert_eq!(feed["events"][0]["actor"], "tester");

    let (status, body) = http(addr, "GET", "/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    assert!(body.contains("\"/api/v1/entries/{ref}\""));

    let status = served.terminate();
    assert!(status.success(), "exit status {status:?}");
    let rest: Vec<String> = std::iter::from_fn(|| stderr.recv_timeout(HANG).ok()).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
}

#[test]
fn serve_refuses_non_loopback_addresses() {
    let d = tempfile::tempdir().unwrap();
    for args in [
        &["serve", "--bind", "0.0.0.0", "--port", "0"][..],
        &["serve", "--bind", "::", "--port", "0"][..],
    ] {
        let out = devlog(d.path(), args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not a loopback address") && err.contains("no authentication"),
            "{err}"
        );
    }
    assert!(
        !d.path().join(".devlog").exists(),
        "nothing is created when the address is refused"
    );
    let out = devlog(d.path(), &["serve", "--bind", "example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serve_answers_only_loopback_and_allowed_host_names() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("devlog.toml"),
        "[server]\nallowHosts = [\"from-config.example\"]\n",
    )
    .unwrap();
    let (served, addr, _stderr) = start_with(d.path(), &["--allow-host", "devlog.example.com"]);
    for (host, expected) in [
        ("devlog.example.com", 200),
        ("from-config.example:443", 200),
        ("localhost", 200),
        ("evil.example", 403),
    ] {
        let (status, body) = http_to(addr, host, "GET", "/api/v1/health", None);
        assert_eq!(status, expected, "{host}: {body}");
    }
    // `/mcp` answers the same names (one Host policy for every route).
    mcp_session(addr, "devlog.example.com");
    mcp_session(addr, "from-config.example:443");
    let ping = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let (status, _, body) = mcp(addr, "evil.example", None, &ping);
    assert_eq!(status, 403, "{body}");
    served.terminate();

    let out = devlog(
        d.path(),
        &["serve", "--port", "0", "--allow-host", "https://x.example"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no scheme, port or path"), "{err}");
}

#[test]
fn serve_max_sessions_caps_the_mcp_sessions() {
    let d = tempfile::tempdir().unwrap();
    let (served, addr, _stderr) = start_with(d.path(), &["--max-sessions", "1"]);
    let host = addr.to_string();
    let first = mcp_session(addr, &host);
    let second = mcp_session(addr, &host);
    let ping = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let (status, _, body) = mcp(addr, &host, Some(&first), &ping);
    assert_eq!(
        status, 404,
        "the first session was closed for the second: {body}"
    );
    let (status, _, body) = mcp(addr, &host, Some(&second), &ping);
    assert_eq!(status, 200, "{body}");
    served.terminate();

    let out = devlog(d.path(), &["serve", "--port", "0", "--max-sessions", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-sessions"), "{err}");
}

/// Issue 15 (target 7): a request stuck in the JSON store's blocking file I/O does not stop
/// the server answering others. An entry file that is a FIFO makes the index refresh block in
/// `read` until this test writes to it — as long as it likes, so nothing here depends on how
/// slow a real scan is. On a single-threaded runtime with the file I/O on the async thread
/// every other request would wait for it (the read timeout below would fail the test).
#[cfg(target_os = "linux")]
#[test]
fn serve_answers_other_requests_while_one_is_blocked_in_file_io() {
    use std::os::unix::fs::OpenOptionsExt;

    let d = tempfile::tempdir().unwrap();
    let (served, addr, _stderr) = start(d.path());
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/entries",
        Some(r#"{"title": "Readable", "type": "task"}"#),
    );
    assert_eq!(status, 201, "{body}");

    let fifo = d.path().join(".devlog/entries/002-stuck.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    // A list refreshes the index from the files: it opens the FIFO and waits in `read`.
    let list = std::thread::spawn(move || http(addr, "GET", "/api/v1/entries", None));

    // Opening the writing end without blocking succeeds once the server has the FIFO open
    // for reading; holding it open without writing keeps the server's read waiting.
    const O_NONBLOCK: i32 = 0o4000; // Linux
    let writer = (0..3000)
        .find_map(|_| {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(&fifo)
                .ok();
            if opened.is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
            opened
        })
        .expect("the server opens the FIFO entry file to index it");

    // Meanwhile the server answers. (Reads of entries rightly wait: they see the files only
    // after the refresh that holds the write lock.)
    for _ in 0..3 {
        let (status, body) = http(addr, "GET", "/api/v1/openapi.json", None);
        assert_eq!(status, 200, "{body}");
    }
    assert!(!list.is_finished(), "the list waits for the FIFO");

    // Release the blocked read: gone from the folder (so no later refresh opens it again),
    // then the bytes, which are not an entry.
    std::fs::remove_file(&fifo).unwrap();
    let mut writer = writer;
    writer.write_all(b"{}").unwrap();
    drop(writer);
    let (status, body) = list.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Readable"), "{body}");

    let status = served.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn serve_refuses_a_bad_runtime_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let out = devlog(d.path(), &["serve", "--port", "0"])
        .env("DEVLOG_RUNTIME_THREADS", "lots")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DEVLOG_RUNTIME_THREADS=lots is not a number of threads from 0 to 64"),
        "{err}"
    );
}

/// With Jira configured, the banner says how its webhooks authenticate (never the token), and
/// `POST /webhooks/jira` checks the URL's token.
#[test]
fn serve_names_how_jira_webhooks_authenticate_and_checks_the_url_token() {
    const URL_TOKEN: &str = "serve-url-token-0123456789";
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("devlog.toml"),
        "[integrations.jira]\nbaseUrl = \"http://127.0.0.1:9\"\nprojectKey = \"DEV\"\n\
         token = \"jira-bearer\"\nwebhookToken = \"${DEVLOG_TEST_JIRA_HOOK_TOKEN}\"\n",
    )
    .unwrap();
    let mut served = Served(Some(
        devlog(d.path(), &["serve", "--port", "0", "--no-background-sync"])
            .env("DEVLOG_TEST_JIRA_HOOK_TOKEN", URL_TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let stderr = served.0.as_mut().unwrap().stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(HANG)
            .expect("devlog serve announces itself");
        lines.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // The webhooks lines follow the address.
    while !lines.iter().any(|l| l.contains("jira webhook URL")) {
        lines.push(
            rx.recv_timeout(HANG)
                .expect("the banner names the Jira webhook URL"),
        );
    }
    let banner = lines.join("\n");
    assert!(banner.contains("/webhooks/{jira}"), "{banner}");
    assert!(
        banner.contains(&format!(
            "jira webhook URL: http://{addr}/webhooks/jira?token=<integrations.jira.webhookToken>"
        )),
        "{banner}"
    );
    assert!(!banner.contains(URL_TOKEN), "{banner}");
    let body = r#"{"webhookEvent": "jira:issue_deleted"}"#;
    let (status, answer) = http(addr, "POST", "/webhooks/jira?token=wrong", Some(body));
    assert_eq!(status, 401, "{answer}");
    assert!(!answer.contains(URL_TOKEN), "{answer}");
    let (status, answer) = http(
        addr,
        "POST",
        &format!("/webhooks/jira?token={URL_TOKEN}"),
        Some(body),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(served.terminate().success());
}

#[test]
fn serve_runs_the_workflows_of_rest_writes() {
    let d = tempfile::tempdir().unwrap();
    let wf = d.path().join(".devlog/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("welcome.yml"),
        "name: welcome\non:\n  created:\nsteps:\n  - add_note: { category: progress, text: \"welcome {{ entry.title }} via {{ event.origin }}\" }\n",
    )
    .unwrap();
    // No waiting for the workflow loop: its first pass (which starts the feed cursor at the
    // end of the feed) is made before the server answers its first request.
    let (served, addr, stderr) = start(d.path());
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/entries",
        Some(r#"{"title": "Made over HTTP", "type": "task"}"#),
    );
    assert_eq!(status, 201, "{body}");
    // The server's workflow loop says what it ran.
    loop {
        let line = stderr.recv_timeout(HANG).expect("a workflow run line");
        if line.starts_with("workflow: ") && line.contains("welcome") {
            assert!(line.contains("succeeded"), "{line}");
            break;
        }
    }
    let (_, body) = http(addr, "GET", "/api/v1/entries/1", None);
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["notes"][0]["content"], "welcome Made over HTTP via http");
    assert_eq!(e["notes"].as_array().unwrap().len(), 1);
    assert!(served.terminate().success());
}

/// The notes of entry `r`, read by the CLI.
fn notes_of(dir: &Path, r: &str) -> Vec<String> {
    let out = devlog(dir, &["--json", "show", r]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    e["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["content"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn mcp_over_http_runs_the_workflows_of_its_writes_and_a_last_pass_at_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let wf = d.path().join(".devlog/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("done-note.yml"),
        "name: done-note\non:\n  status_changed:\n    to: done\nsteps:\n  - add_note: { category: progress, text: \"finished via {{ event.origin }}\" }\n",
    )
    .unwrap();
    for title in ["One", "Two"] {
        let out = devlog(d.path(), &["new", title, "--type", "task"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (served, addr, stderr) = start_command(d.path(), &["mcp", "--http", "0"]);
    let host = addr.to_string();
    let session = mcp_session(addr, &host);
    let complete = |id: u64| {
        let call = serde_json::json!({"jsonrpc": "2.0", "id": 10 + id, "method": "tools/call",
            "params": {"name": "complete_devlog", "arguments": {"id": id}}});
        let (status, _, body) = mcp(addr, &host, Some(&session), &call);
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains("\"isError\":true"), "{body}");
    };
    complete(1);
    // The process's workflow loop runs it (no CLI command is involved).
    loop {
        let line = stderr.recv_timeout(HANG).expect("a workflow run line");
        if line.starts_with("workflow: ") && line.contains("done-note") {
            assert!(line.contains("succeeded"), "{line}");
            break;
        }
    }
    assert_eq!(notes_of(d.path(), "1"), ["finished via mcp"]);
    // The workflow tools see the workspace's workflows over HTTP too.
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "list_workflow_runs", "arguments": {"workflow": "done-note"}}});
    let (status, _, body) = mcp(addr, &host, Some(&session), &call);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("done-note succeeded"), "{body}");
    // A write just before the stop: the last pass runs its workflow before the exit.
    complete(2);
    assert!(served.terminate().success());
    assert_eq!(notes_of(d.path(), "2"), ["finished via mcp"]);
}
