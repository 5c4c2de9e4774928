//! The JSON store's fsmonitor end to end: `devlog mcp` watches the entries folder, CLI
//! commands trust the index on its word, and once it is killed (SIGKILL: no clean-up) they
//! scan the folder again and still see every change.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

/// Guards against a hang; not a timing assertion.
const HANG: Duration = Duration::from_secs(30);

/// What a CLI command logs (at -vv) when a watcher's answer let it skip the scan.
const VOUCHED: &str = "the fsmonitor watcher vouched for the index";

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
    let out = devlog(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "devlog {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Kills the server if the test fails first.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn watcher_lock_held(root: &Path) -> bool {
    let Ok(f) = File::open(root.join(".devlog/.state/fsmonitor/watcher.lock")) else {
        return false;
    };
    matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock))
}

fn entry_file(root: &Path) -> PathBuf {
    std::fs::read_dir(root.join(".devlog/entries"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap()
}

/// Rewrites the entry file in place with `from` replaced by `to` (same length: only the
/// mtime tells).
fn edit_in_place(root: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let path = entry_file(root);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// `devlog -vv list`: its output and its log.
fn list(root: &Path) -> (String, String) {
    let out = run(root, &["-vv", "list"]);
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cli_commands_trust_a_watching_mcp_server_and_scan_again_once_it_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    run(root, &["init"]);
    run(root, &["new", "Watched entry"]);
    let mut server = Reap(
        devlog(root, &["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while !watcher_lock_held(root) {
        assert!(start.elapsed() < HANG, "devlog mcp never started watching");
        std::thread::sleep(Duration::from_millis(10));
    }

    // An editor rewrites the file in place; the next command trusts the watcher's index.
    edit_in_place(root, "Watched entry", "Watched ENTRY");
    let start = Instant::now();
    loop {
        let (out, log) = list(root);
        assert!(out.contains("Watched ENTRY"), "{out}");
        // On a loaded machine an answer can come too late; the command then scans instead.
        if log.contains(VOUCHED) {
            break;
        }
        assert!(start.elapsed() < HANG, "the watcher never vouched: {log}");
    }

    // Killed: the kernel frees its lock, and commands scan again.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    assert!(!watcher_lock_held(root));
    edit_in_place(root, "Watched ENTRY", "WATCHED entry");
    let (out, log) = list(root);
    assert!(out.contains("WATCHED entry"), "{out}");
    assert!(!log.contains(VOUCHED), "{log}");
}

/// The pid of the watcher holding the lock, as `devlog watch status --json` reports it.
fn status(root: &Path) -> serde_json::Value {
    serde_json::from_slice(&run(root, &["watch", "status", "--json"]).stdout).unwrap()
}

/// Whether process `pid` still runs (a zombie waiting for its parent does not count).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < HANG, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `devlog watch start` runs a background watcher that commands trust; `status` names it and
/// gets an answer; `stop` ends it, and commands scan again.
#[test]
fn a_background_watcher_starts_answers_and_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    run(root, &["init"]);
    run(root, &["new", "Watched entry"]);
    assert_eq!(status(root)["watching"], false);
    let started: serde_json::Value =
        serde_json::from_slice(&run(root, &["watch", "start", "--json"]).stdout).unwrap();
    assert_eq!(started["watching"], true, "{started}");
    assert_eq!(started["background"], true, "{started}");
    assert_eq!(started["answered"], true, "{started}");
    let pid = started["pid"].as_u64().unwrap();
    assert!(alive(pid));
    // A second start changes nothing.
    let again: serde_json::Value =
        serde_json::from_slice(&run(root, &["watch", "start", "--json"]).stdout).unwrap();
    assert_eq!(again["pid"].as_u64(), Some(pid));

    edit_in_place(root, "Watched entry", "Watched ENTRY");
    let start = Instant::now();
    loop {
        let (out, log) = list(root);
        assert!(out.contains("Watched ENTRY"), "{out}");
        if log.contains(VOUCHED) {
            break;
        }
        assert!(start.elapsed() < HANG, "the watcher never vouched: {log}");
    }

    let stopped: serde_json::Value =
        serde_json::from_slice(&run(root, &["watch", "stop", "--json"]).stdout).unwrap();
    assert_eq!(stopped["stopped"], true, "{stopped}");
    assert!(!watcher_lock_held(root));
    wait_until("the watcher process never exited", || !alive(pid));
    edit_in_place(root, "Watched ENTRY", "WATCHED entry");
    let (out, log) = list(root);
    assert!(out.contains("WATCHED entry"), "{out}");
    assert!(!log.contains(VOUCHED), "{log}");
    let stopped: serde_json::Value =
        serde_json::from_slice(&run(root, &["watch", "stop", "--json"]).stdout).unwrap();
    assert_eq!(stopped["stopped"], false);
}

/// With `watch = "auto"` the first command starts a watcher (and says so); the watcher ends
/// as soon as the `.devlog` folder is deleted, without bringing it back.
#[test]
fn watch_auto_starts_a_watcher_that_never_outlives_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    run(root, &["init"]);
    std::fs::write(
        root.join("devlog.toml"),
        "[storage]\ntype = \"json\"\nwatch = \"auto\"\n",
    )
    .unwrap();
    let out = run(root, &["new", "Auto watched"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("started a background watcher"), "{said}");
    wait_until("the automatic watcher never answered", || {
        status(root)["answered"] == true
    });
    let pid = status(root)["pid"].as_u64().unwrap();
    // Running: the next command starts nothing more.
    let out = run(root, &["list"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("started"));
    assert_eq!(status(root)["pid"].as_u64(), Some(pid));

    // `rm -rf` can race a file the watcher writes meanwhile (SQLite's journal): like a
    // person, try again.
    wait_until("cannot delete .devlog", || {
        std::fs::remove_dir_all(root.join(".devlog")).is_ok()
    });
    wait_until("the watcher outlived its .devlog folder", || !alive(pid));
    assert!(
        !root.join(".devlog").exists(),
        "the watcher brought it back"
    );
}

/// A watcher no command asks ends by itself after `--idle-exit`.
#[test]
fn an_idle_watcher_exits_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    run(root, &["init"]);
    let mut watcher = Reap(
        devlog(root, &["watch", "run", "--idle-exit", "1s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until("devlog watch run never started watching", || {
        watcher_lock_held(root)
    });
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = watcher.0.try_wait().unwrap() {
            break exit;
        }
        assert!(start.elapsed() < HANG, "an idle watcher never exited");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut watcher.0.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("no command asked"), "{log}");
    assert!(!watcher_lock_held(root));
}

/// The SQLite backend has no entry files to watch: `devlog watch` says so.
#[test]
fn watch_refuses_a_backend_without_entry_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    run(root, &["init", "--backend", "sqlite"]);
    let out = devlog(root, &["watch", "start"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs no watcher"), "{err}");
}
