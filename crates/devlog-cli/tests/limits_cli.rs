//! devlog-core's input limits through the CLI (issue 13): hours that are not finite, a feed
//! cursor beyond i64 — each refused with exit code 5 and a message, nothing written.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn devlog(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester")
        .output()
        .unwrap()
}

#[test]
fn estimates_that_are_not_finite_or_negative_are_refused() {
    let d = tempfile::tempdir().unwrap();
    for bad in ["NaN", "inf", "-1"] {
        let o = devlog(
            d.path(),
            &["new", "Estimated", &format!("--estimate={bad}")],
        );
        assert_eq!(o.status.code(), Some(5), "{bad}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("finite number of hours"), "{err}");
    }
    let o = devlog(d.path(), &["list", "--json"]);
    assert!(o.status.success(), "{o:?}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Estimated"));
}

#[test]
fn a_feed_cursor_beyond_i64_is_refused_instead_of_the_whole_feed() {
    let d = tempfile::tempdir().unwrap();
    assert!(devlog(d.path(), &["new", "One"]).status.success());
    let o = devlog(d.path(), &["events", "--since", "9223372036854775808"]);
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("largest sequence number"), "{err}");
}
