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
