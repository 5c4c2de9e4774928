//! `devlog mcp` driven by real, independent clients: the official MCP Python SDK over stdio
//! and over streamable HTTP (crates/devlog-mcp/tests/mcp_client.py), and raw bytes over stdio
//! to show malformed input never ends the session.
//!
//! The Python tests need `python3 -m pip install 'mcp>=2.3,<3'` (.ci/run installs it). Without
//! it they skip with a message, except under CI (`CI` set), where they fail.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn devlog() -> &'static str {
    env!("CARGO_BIN_EXE_devlog")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../devlog-mcp/tests/mcp_client.py")
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/original-devlog")
}

/// Whether the Python SDK is importable. When it is not, the test skips outside CI and fails
/// in CI, where .ci/run installs it.
fn python_sdk_available(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import mcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let msg = "the MCP Python SDK is not installed (python3 -m pip install 'mcp>=2.3,<3')";
    assert!(!ci, "{test}: {msg}; CI must run this test");
    eprintln!("skipping {test}: {msg}");
    false
}

fn run_script(args: &[&str]) {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mcp_client.py {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("suite passed"), "{stdout}\n{stderr}");
    eprintln!("{stdout}");
}

/// Kills the child when the test ends, however it ends.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn python_sdk_drives_every_tool_over_stdio() {
    if !python_sdk_available("python_sdk_drives_every_tool_over_stdio") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".devlog");
    let imported = Command::new(devlog())
        .arg("--dir")
        .arg(&dir)
        .arg("import")
        .arg(corpus().join("head/.devlog"))
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    run_script(&[
        "stdio",
        "--devlog",
        devlog(),
        "--dir",
        dir.to_str().unwrap(),
        "--tools",
        corpus().join("mcp-tools.json").to_str().unwrap(),
    ]);
}

#[test]
fn python_sdk_over_streamable_http() {
    if !python_sdk_available("python_sdk_over_streamable_http") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".devlog");
    let mut child = Command::new(devlog())
        .arg("--dir")
        .arg(&dir)
        // A bare port means 127.0.0.1.
        .args(["mcp", "--http", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Reap(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server did not say where it listens");
        if let Some(at) = line.find("http://") {
            let url: String = line[at..].split_whitespace().next().unwrap().to_string();
            break url;
        }
    };
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    run_script(&["http", "--url", &url, "--dir", dir.to_str().unwrap()]);
    drop(server);
}

#[test]
fn http_refuses_addresses_beyond_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(devlog())
        .arg("--dir")
        .arg(tmp.path().join(".devlog"))
        .args(["mcp", "--http", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("127.0.0.1:PORT"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(
        !tmp.path().join(".devlog").exists(),
        "nothing is created when the address is refused"
    );
}

/// A stdio session fed garbage, wrong shapes and wrong arguments keeps answering.
#[test]
fn stdio_survives_malformed_input() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(devlog())
        .arg("--dir")
        .arg(tmp.path().join(".devlog"))
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut server = Reap(child);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut send = |v: &str| {
        stdin.write_all(v.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let mut responses: Vec<Value> = Vec::new();
    let wait_for = |id: i64, responses: &mut Vec<Value>| -> Value {
        loop {
            if let Some(r) = responses.iter().find(|r| r["id"] == id) {
                return r.clone();
            }
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no answer to request {id}"));
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a non-JSON line {line:?}: {e}"));
            responses.push(v);
        }
    };

    send("this is not json");
    send(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}})
        .to_string(),
    );
    let init = wait_for(1, &mut responses);
    assert_eq!(init["result"]["serverInfo"]["name"], "devlog", "{init}");
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    send("{\"unterminated\": ");
    send("[1, 2, 3]");
    send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":"oops"}"#);
    send(r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#);
    send(
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": {"name": "get_devlog", "arguments": {"id": {"nested": true}}}})
        .to_string(),
    );
    send(
        &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "create_devlog"}})
        .to_string(),
    );
    send(&format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{{\"name\":\"search_devlogs\",\"arguments\":{{\"query\":\"{}\"}}}}}}",
        "x".repeat(200_000)
    ));
    send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);

    let r = wait_for(3, &mut responses);
    assert_eq!(r["error"]["code"], -32601, "{r}");
    let r = wait_for(4, &mut responses);
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("`id`"),
        "{r}"
    );
    let r = wait_for(5, &mut responses);
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("missing field `title`"),
        "{r}"
    );
    let r = wait_for(6, &mut responses);
    assert!(r.get("result").is_some(), "{r}");
    let r = wait_for(7, &mut responses);
    assert!(r["result"]["tools"].as_array().unwrap().len() >= 13, "{r}");
    // Params that are not an object make an Invalid Request, answered with the request's id.
    let r = wait_for(2, &mut responses);
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`params` must be an object"),
        "{r}"
    );
    // Every line is answered: the two unparsable lines with a parse error, the array with an
    // Invalid Request, all with id null (their id cannot be read).
    let unnamed = |code: i64| {
        responses
            .iter()
            .filter(|r| r["id"].is_null() && r["error"]["code"] == code)
            .count()
    };
    assert_eq!(unnamed(-32700), 2, "{responses:?}");
    assert_eq!(unnamed(-32600), 1, "{responses:?}");
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the server is still running"
    );

    // Closing stdin ends the session cleanly.
    drop(stdin);
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Logs on a stderr that is not a terminal carry no colour codes, and errors a client caused
/// (an unknown entry, an unknown resource, bad params) are not warnings.
#[test]
fn stdio_logs_are_plain_and_routine_errors_are_not_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(devlog())
        .arg("--dir")
        .arg(tmp.path().join(".devlog"))
        .args(["-v", "mcp"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "get_devlog", "arguments": {"id": 99}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read",
               "params": {"uri": "devlog://entry/99"}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "get_devlog", "arguments": "oops"}}),
    ];
    for l in &lines {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
    // Read the answers before closing stdin, so every request was handled.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let answers: Vec<String> = stdout.lines().map_while(Result::ok).take(4).collect();
    assert_eq!(answers.len(), 4, "{answers:?}");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO"), "logs at -v: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in piped logs: {stderr:?}"
    );
    assert!(
        !stderr.contains("WARN"),
        "routine errors logged as warnings: {stderr}"
    );
}
