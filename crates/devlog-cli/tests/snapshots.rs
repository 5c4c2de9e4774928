//! Snapshots of the human output, on the original devlog's corpus (fixed data, fixed ids).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::Command;

fn run(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_devlog"))
        .args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn imported() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/original-devlog/head/.devlog");
    run(tmp.path(), &["import", corpus.to_str().unwrap()]);
    tmp
}

#[test]
fn show_renders_every_section() {
    let d = imported();
    insta::assert_snapshot!(run(d.path(), &["show", "49"]));
}

#[test]
fn list_is_an_aligned_table() {
    let d = imported();
    insta::assert_snapshot!(run(
        d.path(),
        &["list", "--all", "--sort", "handle", "--asc", "--limit", "8"]
    ));
}

#[test]
fn stats_counts_the_corpus() {
    let d = imported();
    insta::assert_snapshot!(run(d.path(), &["stats"]));
}

#[test]
fn search_shows_ranked_snippets() {
    let d = imported();
    insta::assert_snapshot!(run(d.path(), &["search", "websocket", "--limit", "5"]));
}
