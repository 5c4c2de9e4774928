//! Crash points never reach a normal build: only tests enable the `failpoints` feature (as a
//! dev-dependency), so `cargo build --release` of any workspace binary has none.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::process::Command;

/// Features of devlog-sync as a build without tests resolves them (dev-dependencies, which
/// are where the tests enable `failpoints`, left out).
fn normal_build_features() -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--workspace",
            "--edges",
            "normal,features",
            "--invert",
            "devlog-sync",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_build_without_tests_has_no_failpoints() {
    let tree = normal_build_features();
    assert!(
        tree.lines().any(|l| l.starts_with("devlog-cli ")),
        "the devlog binary's crate depends on devlog-sync: {tree}"
    );
    assert!(
        !tree.contains("feature \"failpoints\""),
        "a normal build enables devlog-sync's `failpoints` (crash points that abort the process): \
         only dev-dependencies may enable it\n{tree}"
    );
}

#[test]
fn the_tests_have_failpoints() {
    // The fault-injection tests would pass vacuously without them (checked at compile time).
    const { assert!(devlog_sync::failpoint::COMPILED_IN) };
}
