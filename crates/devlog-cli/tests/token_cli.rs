//! `devlog token` end to end (issue 20): create shows the secret once, list and `--json`
//! never show it, revoke by name or id; `devlog serve` then requires the token, binds beyond
//! loopback only with one (or `--insecure-no-auth`, loudly), and never prints a secret.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
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

fn run(dir: &Path, args: &[&str]) -> Output {
    devlog(dir, args).output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "devlog {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = run(dir, args);
    assert!(!o.status.success(), "devlog {args:?} should fail");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Creates a token with `--json`; returns (secret, record).
fn create(dir: &Path, name: &str, role: &str) -> (String, Value) {
    let v: Value = serde_json::from_str(&ok(
        dir,
        &["token", "create", "--name", name, "--role", role, "--json"],
    ))
    .unwrap();
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("dlt_"), "{v}");
    (secret, v)
}

#[test]
fn tokens_are_created_once_listed_without_secrets_and_revoked() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    assert!(ok(d.path(), &["token", "list"]).contains("No API tokens"));

    // Human output shows the secret once, on its own first line.
    let human = ok(
        d.path(),
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "editor",
            "--expires",
            "90d",
        ],
    );
    let secret_ci = human.lines().next().unwrap().to_string();
    assert!(
        secret_ci.starts_with("dlt_") && human.contains("only time"),
        "{human}"
    );
    let (secret_ro, created) = create(d.path(), "reader", "viewer");
    assert_eq!(created["role"], "viewer");
    assert_eq!(created["state"], "active");
    assert_eq!(created["createdBy"], "tester");
    assert!(created.get("hash").is_none(), "{created}");

    let list = ok(d.path(), &["token", "list"]);
    let list_json = ok(d.path(), &["token", "list", "--json"]);
    for out in [&list, &list_json] {
        for s in [&secret_ci, &secret_ro] {
            assert!(!out.contains(&s[21..]), "a secret is listed: {out}");
        }
    }
    assert!(list.contains("ci") && list.contains("editor") && list.contains("reader"));
    let listed: Value = serde_json::from_str(&list_json).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(listed[0]["expiresAt"].is_string(), "{listed}");
    assert!(listed[0].get("secret").is_none() && listed[0].get("hash").is_none());
    // The file holds hashes only, and git ignores it.
    let file = std::fs::read_to_string(d.path().join(".devlog/tokens.json")).unwrap();
    assert!(!file.contains(&secret_ci[21..]));
    let ignore = std::fs::read_to_string(d.path().join(".devlog/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "tokens.json"), "{ignore}");

    // Bad input changes nothing and says what to fix.
    let (code, err) = fails(
        d.path(),
        &["token", "create", "--name", "x", "--role", "owner"],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("viewer, editor or admin"), "{err}");
    let (_, err) = fails(
        d.path(),
        &[
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "viewer",
            "--expires",
            "5m",
        ],
    );
    assert!(err.contains("--expires") && err.contains("90d"), "{err}");
    let (_, err) = fails(
        d.path(),
        &["token", "create", "--name", "ci", "--role", "viewer"],
    );
    assert!(
        err.contains("already named `ci`") && err.contains("revoke"),
        "{err}"
    );
    let (_, err) = fails(
        d.path(),
        &["token", "create", "--name", "a b", "--role", "viewer"],
    );
    assert!(err.contains("not a token name"), "{err}");
    let listed: Value = serde_json::from_str(&ok(d.path(), &["token", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "nothing was stored");

    // Revoke by name, then by id (already revoked), unknown ones are not found.
    assert!(ok(d.path(), &["token", "revoke", "ci"]).contains("Revoked token `ci`"));
    let id = created["id"].as_str().unwrap();
    let v: Value = serde_json::from_str(&ok(d.path(), &["token", "revoke", id, "--json"])).unwrap();
    assert_eq!(v["state"], "revoked");
    assert!(ok(d.path(), &["token", "revoke", id]).contains("already revoked"));
    let (_, err) = fails(d.path(), &["token", "revoke", "nobody"]);
    assert!(err.contains("nobody"), "{err}");
    let listed: Value = serde_json::from_str(&ok(d.path(), &["token", "list", "--json"])).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "revoked")
    );
    // The name is free again once revoked.
    create(d.path(), "ci", "admin");
}

/// A running `devlog serve`; killed when dropped. Its stderr lines keep being read (so the
/// server never blocks on a full pipe).
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `devlog serve --port 0 ARGS`; the server, its address and the lines it printed up
/// to the address (the banner).
fn serve(dir: &Path, args: &[&str]) -> (Served, SocketAddr, Vec<String>) {
    let mut served = Served(
        devlog(
            dir,
            &[&["serve", "--port", "0", "--no-background-sync"][..], args].concat(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let stderr = served.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Keep reading after the receiver is gone, so the pipe never fills.
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(HANG)
            .expect("devlog serve announces its address");
        seen.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr: SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
            return (served, addr, seen);
        }
    }
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let target = if addr.ip().is_unspecified() {
        SocketAddr::new("127.0.0.1".parse().unwrap(), addr.port())
    } else {
        addr
    };
    let mut s = TcpStream::connect(target).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n", addr.port());
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
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
fn serve_requires_tokens_once_created_and_binds_beyond_loopback_only_with_them() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    // No token: 0.0.0.0 is refused, naming what to do.
    let (code, err) = fails(d.path(), &["serve", "--bind", "0.0.0.0", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("devlog token create") && err.contains("--insecure-no-auth"),
        "{err}"
    );

    let (secret, _) = create(d.path(), "ops", "viewer");
    let (served, addr, banner) = serve(d.path(), &["--bind", "0.0.0.0"]);
    assert!(addr.ip().is_unspecified(), "{addr}");
    let (status, body) = get(addr, "/api/v1/entries", None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = get(addr, "/api/v1/entries", Some(&secret));
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(addr, "/api/v1/health", Some(&secret));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["auth"],
        "auto"
    );
    drop(served);
    assert!(banner.iter().all(|l| !l.contains(&secret[21..])));

    // --insecure-no-auth: served to anyone, loudly.
    let (served, addr, banner) = serve(d.path(), &["--insecure-no-auth"]);
    assert!(
        banner
            .iter()
            .any(|l| l.contains("WARNING") && l.contains("DISABLED")),
        "{banner:?}"
    );
    let (status, body) = get(addr, "/api/v1/health", None);
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["auth"], "disabled");
    drop(served);

    // [server] auth is checked when the configuration is read.
    std::fs::write(
        d.path().join("devlog.toml"),
        "[server]\nauth = \"sometimes\"\n",
    )
    .unwrap();
    let (_, err) = fails(d.path(), &["token", "list"]);
    assert!(
        err.contains("server.auth") && err.contains("required"),
        "{err}"
    );
}

/// A POST of an MCP `initialize` to `addr`; the status and body.
fn mcp_initialize(addr: SocketAddr, token: Option<&str>, host: &str) -> (u16, String) {
    let target = SocketAddr::new("127.0.0.1".parse().unwrap(), addr.port());
    let mut s = TcpStream::connect(target).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let mut req = format!(
        "POST /mcp HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

/// `devlog mcp --http` has `devlog serve`'s authentication, Host check and bind policy.
#[test]
fn mcp_over_http_needs_the_same_tokens_as_serve() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    let (code, err) = fails(d.path(), &["mcp", "--http", "0.0.0.0:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("devlog token create"), "{err}");

    let (secret, _) = create(d.path(), "agent", "viewer");
    let mut child = Served(
        devlog(d.path(), &["mcp", "--http", "0.0.0.0:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(HANG)
            .expect("devlog mcp announces its address");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let a = rest.split_whitespace().next().unwrap();
            break a.trim_end_matches("/mcp").parse().unwrap();
        }
    };
    let host = format!("127.0.0.1:{}", addr.port());
    let (status, body) = mcp_initialize(addr, None, &host);
    assert_eq!(status, 401, "{body}");
    let (status, body) = mcp_initialize(addr, Some("dlt_0000000000000000_00"), &host);
    assert_eq!(status, 401, "{body}");
    let (status, body) = mcp_initialize(addr, Some(&secret), &host);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("serverInfo"), "{body}");
    // DNS rebinding: a foreign Host is refused even with a token.
    let (status, body) = mcp_initialize(addr, Some(&secret), "evil.example");
    assert_eq!(status, 403, "{body}");
    // Only /mcp: the REST API is not served here.
    let (status, _) = get(addr, "/api/v1/entries", Some(&secret));
    assert_eq!(status, 404);
    drop(child);
}

/// `[server.oidc]`: `config show` redacts its secrets; `serve` names the setting when the
/// provider cannot be discovered, and with a real provider (the test kit's oidc-provider,
/// when `DEVLOG_TEST_OIDC_PROVIDER` is set) sends pages to sign-in, answers the API 401 and
/// keeps a generated session key in `.devlog/.state/session.key` (0600).
#[test]
fn single_sign_on_is_configured_in_devlog_toml() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    let config = |issuer: &str| {
        format!(
            "[server.oidc]\nissuer = \"{issuer}\"\nclientId = \"devlog\"\n\
             clientSecret = \"${{TEST_OIDC_SECRET}}\"\n\
             redirectUrl = \"http://127.0.0.1:7878/auth/callback\"\n\
             [server.oidc.roles]\ngroups = {{ devs = \"editor\" }}\n"
        )
    };
    // Nothing listens on port 9 of loopback.
    std::fs::write(d.path().join("devlog.toml"), config("http://127.0.0.1:9")).unwrap();
    let out = devlog(d.path(), &["config", "show"])
        .env("TEST_OIDC_SECRET", "plain-oidc-secret-4711")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("server.oidc") && !shown.contains("plain-oidc-secret-4711"),
        "{shown}"
    );
    let (code, err) = fails(d.path(), &["serve", "--port", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("server.oidc.clientSecret") && err.contains("TEST_OIDC_SECRET"),
        "{err}"
    );
    let out = devlog(d.path(), &["serve", "--port", "0"])
        .env("TEST_OIDC_SECRET", "plain-oidc-secret-4711")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("server.oidc") && err.contains("discovery document"),
        "{err}"
    );
    assert!(!err.contains("plain-oidc-secret-4711"));

    let Ok(prefix) = std::env::var("DEVLOG_TEST_OIDC_PROVIDER") else {
        eprintln!("skipping the live part: DEVLOG_TEST_OIDC_PROVIDER is not set");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../devlog-testkit/oidc/provider.mjs"
    );
    let mut provider = Served(
        Command::new("node")
            .args([
                script,
                &port.to_string(),
                "http://127.0.0.1:7878/auth/callback",
            ])
            .env("DEVLOG_TEST_OIDC_PROVIDER", prefix)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    BufReader::new(provider.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.starts_with("ready "), "{ready}");
    std::fs::write(
        d.path().join("devlog.toml"),
        config(&format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let mut c = devlog(d.path(), &["serve", "--port", "0", "--no-background-sync"]);
    c.env("TEST_OIDC_SECRET", "devlog-test-client-secret");
    let (served, addr, banner) = {
        // `serve` with the secret in its environment.
        let mut child = Served(
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = child.0.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            let line = rx
                .recv_timeout(HANG)
                .expect("devlog serve announces its address");
            seen.push(line.clone());
            if line.contains("Ctrl-C stops it") {
                let first = seen
                    .iter()
                    .find(|l| l.contains("listening on http://"))
                    .unwrap();
                let rest = first.split("listening on http://").nth(1).unwrap();
                let addr: SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
                break (child, addr, seen);
            }
        }
    };
    assert!(
        banner
            .iter()
            .any(|l| l.contains("single sign-on: http://127.0.0.1:")),
        "{banner:?}"
    );
    let (status, _) = get(addr, "/api/v1/entries", None);
    assert_eq!(status, 401);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    write!(
        s,
        "GET /entries HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
        addr.port()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.split(' ').nth(1) == Some("303"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("location: /auth/login?returnto=/entries"),
        "{out}"
    );
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    write!(
        s,
        "GET /auth/login HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
        addr.port()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.split(' ').nth(1) == Some("303"), "{out}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/auth?")),
        "{out}"
    );
    assert!(
        out.contains("devlog_login=") && out.contains("HttpOnly"),
        "{out}"
    );
    drop(served);
    drop(provider);
    let key = d.path().join(".devlog/.state/session.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
