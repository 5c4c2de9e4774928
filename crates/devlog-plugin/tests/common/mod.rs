//! Building the test plugins (Rust components for wasm32-wasip2) once per test binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use devlog_plugin::manifest::Located;

/// Builds the plugin crate at `crate_dir` (its own workspace) for wasm32-wasip2 and returns a
/// fresh plugin folder (manifest + component) in `into`; `None` (the test skips, saying why)
/// when the target is not installed. Set `DEVLOG_TEST_REQUIRE_WASM=1` (`.ci/run` does) to
/// make a missing target a failure instead.
pub fn built_plugin(crate_dir: &Path, into: &Path) -> Option<Located> {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, Option<PathBuf>>>> =
        OnceLock::new();
    let map = BUILT.get_or_init(Default::default);
    let wasm = {
        let mut map = map.lock().unwrap();
        map.entry(crate_dir.to_path_buf())
            .or_insert_with(|| build(crate_dir))
            .clone()
    };
    let Some(wasm) = wasm else {
        let msg =
            "wasm32-wasip2 target not installed (`rustup target add wasm32-wasip2`): skipping";
        assert!(
            std::env::var_os("DEVLOG_TEST_REQUIRE_WASM").is_none(),
            "{msg} — but DEVLOG_TEST_REQUIRE_WASM is set"
        );
        eprintln!("{msg}");
        return None;
    };
    let manifest_src = crate_dir.join("devlog-plugin.toml");
    let manifest = devlog_plugin::Manifest::load(&manifest_src).unwrap();
    let dir = into.join(&manifest.name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&manifest_src, dir.join("devlog-plugin.toml")).unwrap();
    std::fs::copy(&wasm, dir.join(&manifest.component)).unwrap();
    Some(Located { dir, manifest })
}

/// `wasm32-wasip2`, or what `.ci/run` fell back to (`wasm32-wasip1` + the component adapter
/// in `DEVLOG_PLUGIN_ADAPTER`).
fn wasm_target() -> String {
    std::env::var("DEVLOG_PLUGIN_WASM_TARGET").unwrap_or_else(|_| "wasm32-wasip2".into())
}

fn target_installed(target: &str) -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == target)
        })
        .unwrap_or(false)
}

fn build(crate_dir: &Path) -> Option<PathBuf> {
    let wasm_target = wasm_target();
    if !target_installed(&wasm_target) {
        return None;
    }
    // Beside the host's build, in a folder of its own (a separate workspace and lock).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("guests");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .args(["build", "--release", "--target", &wasm_target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        crate_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = devlog_plugin::Manifest::load(&crate_dir.join("devlog-plugin.toml")).unwrap();
    let wasm = target
        .join(&wasm_target)
        .join("release")
        .join(&manifest.component);
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    if wasm_target == "wasm32-wasip2" {
        return Some(wasm);
    }
    // A wasip1 core module: made a component with the WASI adapter.
    let adapter = std::env::var("DEVLOG_PLUGIN_ADAPTER").expect("DEVLOG_PLUGIN_ADAPTER");
    let component = wasm.with_extension("component.wasm");
    let out = Command::new("wasm-tools")
        .args(["component", "new"])
        .arg(&wasm)
        .arg("--adapt")
        .arg(&adapter)
        .arg("-o")
        .arg(&component)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wasm-tools: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(component)
}

pub fn hostile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

pub fn tracker_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/tracker")
}

/// A policy granting HTTP to 127.0.0.1 and the kv store.
pub fn local_policy() -> devlog_plugin::Policy {
    let mut p = devlog_plugin::Policy::default();
    p.allow.http = vec!["127.0.0.1".into(), "tracker.example.com".into()];
    p.allow.kv = true;
    p
}
