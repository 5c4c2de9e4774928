//! `devlog init --backend`: the backend chosen at init is the one every later command uses.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

fn run(dir: &Path, env_backend: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env("NO_COLOR", "1");
    match env_backend {
        Some(b) => c.env("DEVLOG_STORAGE_TYPE", b),
        None => c.env_remove("DEVLOG_STORAGE_TYPE"),
    };
    c.output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, None, args);
    assert!(
        o.status.success(),
        "devlog {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn init_backend_sqlite_is_kept_for_later_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = ok(d, &["init", "--backend", "sqlite"]);
    assert!(out.contains("sqlite backend"), "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("devlog.toml")).unwrap(),
        "[storage]\ntype = \"sqlite\"\n"
    );
    ok(d, &["new", "Kept in SQLite"]);
    assert!(d.join(".devlog/devlog.sqlite").is_file());
    assert!(
        !d.join(".devlog/entries").exists(),
        "nothing went to the JSON backend"
    );
    let v: serde_json::Value = serde_json::from_str(&ok(d, &["init", "--json"])).unwrap();
    assert_eq!(v["backend"], "sqlite");
    assert_eq!(v["entries"], 1);
    // Asking for another backend than the file names is refused, naming the file.
    let o = run(d, None, &["init", "--backend", "json"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("devlog.toml") && err.contains("`sqlite`"),
        "{err}"
    );
}

#[test]
fn a_backend_chosen_by_the_environment_alone_is_said_to_last_one_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = run(d, Some("sqlite"), &["init"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("for this command only") && err.contains("--backend sqlite"),
        "{err}"
    );
    assert!(!d.join("devlog.toml").exists());
}

#[test]
fn a_devlog_toml_inside_the_devlog_folder_is_said_not_to_be_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A new user's slip: the file put inside .devlog/, where it configures nothing.
    std::fs::create_dir_all(d.join(".devlog")).unwrap();
    std::fs::write(
        d.join(".devlog/devlog.toml"),
        "[storage]\ntype = \"sqlite\"\n",
    )
    .unwrap();
    let o = run(d, None, &["init"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(".devlog/devlog.toml is not read")
            && err.contains(&format!("at {}", d.join("devlog.toml").display())),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("json backend"));
    // Moved beside the folder, it is read and nothing is said.
    std::fs::rename(d.join(".devlog/devlog.toml"), d.join("devlog.toml")).unwrap();
    let o = run(d, None, &["list"]);
    assert!(o.status.success());
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("is not read"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
