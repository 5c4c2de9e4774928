//! Components checked against the devlog:plugin world before anything runs (small WAT
//! components: no WebAssembly toolchain needed), hash pins, the compiled-component cache.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;

use devlog_plugin::host::{LoadOptions, Runtime};
use devlog_plugin::manifest::Located;
use devlog_plugin::{Manifest, PluginError, Policy};

const MANIFEST: &str = r#"
name = "fixture"
version = "0.1.0"
api = "1.0"
description = "a test component"
component = "fixture.wasm"
[provides]
integration = true
"#;

fn plugin(dir: &Path, wat: &str, manifest: &str) -> Located {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("devlog-plugin.toml"), manifest).unwrap();
    std::fs::write(dir.join("fixture.wasm"), wat).unwrap();
    Located {
        dir: dir.to_path_buf(),
        manifest: Manifest::parse(manifest, &dir.join("devlog-plugin.toml")).unwrap(),
    }
}

fn load_err(wat: &str, manifest: &str, policy: &Policy) -> PluginError {
    let tmp = tempfile::tempdir().unwrap();
    let p = plugin(tmp.path(), wat, manifest);
    let rt = Runtime::new(None).unwrap();
    rt.load(&p, policy, LoadOptions::default()).unwrap_err()
}

#[test]
fn an_import_devlog_does_not_provide_is_refused_by_name() {
    let e = load_err(
        r#"(component (import "evil:net/raw-sockets" (instance)))"#,
        MANIFEST,
        &Policy::default(),
    );
    let PluginError::Component { file, message } = &e else {
        panic!("{e:?}")
    };
    assert!(file.ends_with("fixture.wasm"));
    assert!(
        message.contains("evil:net/raw-sockets") && message.contains("does not provide"),
        "{message}"
    );
}

#[test]
fn an_import_of_another_api_major_is_refused() {
    let e = load_err(
        r#"(component (import "devlog:plugin/http@2.0.0" (instance)))"#,
        MANIFEST,
        &Policy::default(),
    );
    assert!(e.to_string().contains("devlog:plugin/http@2.0.0"), "{e}");
}

#[test]
fn a_missing_export_is_refused() {
    let e = load_err("(component)", MANIFEST, &Policy::default());
    let s = e.to_string();
    assert!(
        s.contains("does not export `devlog:plugin/integration@1.0.0`") && s.contains("nothing"),
        "{s}"
    );
}

#[test]
fn an_export_of_another_api_version_is_refused() {
    let e = load_err(
        r#"(component (instance $i) (export "devlog:plugin/integration@2.0.0" (instance $i)))"#,
        MANIFEST,
        &Policy::default(),
    );
    let s = e.to_string();
    assert!(
        s.contains("integration@2.0.0") && s.contains("rebuild"),
        "{s}"
    );
}

#[test]
fn an_export_of_the_wrong_shape_is_refused() {
    let e = load_err(
        r#"(component (instance $i) (export "devlog:plugin/integration@1.0.0" (instance $i)))"#,
        MANIFEST,
        &Policy::default(),
    );
    assert!(matches!(e, PluginError::Component { .. }), "{e:?}");
    assert!(e.to_string().contains("does not match the world"), "{e}");
}

#[test]
fn not_a_component_is_refused() {
    for bytes in ["(module)", "garbage"] {
        let e = load_err(bytes, MANIFEST, &Policy::default());
        assert!(
            e.to_string()
                .contains("is not a valid WebAssembly component"),
            "{e}"
        );
    }
}

#[test]
fn capabilities_beyond_the_policy_are_refused_before_compiling() {
    let manifest = format!("{MANIFEST}[capabilities]\nhttp = [\"api.example.com\"]\n");
    let e = load_err("garbage", &manifest, &Policy::default());
    assert!(matches!(e, PluginError::NotAllowed { .. }), "{e:?}");
}

#[test]
fn a_pinned_hash_must_match() {
    let wat = "(component)";
    let actual = devlog_plugin::policy::sha256_hex(wat.as_bytes());
    let mut policy = Policy::default();
    policy
        .pin
        .insert("fixture".into(), format!("sha256:{}", "0".repeat(64)));
    let e = load_err(wat, MANIFEST, &policy);
    match e {
        PluginError::HashMismatch { actual: a, .. } => assert_eq!(a, actual),
        other => panic!("{other:?}"),
    }
    // The right pin passes the pin check (and fails later, on the missing export).
    policy
        .pin
        .insert("fixture".into(), format!("sha256:{actual}"));
    let e = load_err(wat, MANIFEST, &policy);
    assert!(matches!(e, PluginError::Component { .. }), "{e:?}");
}

#[test]
fn compiled_components_are_cached_and_a_damaged_entry_is_recompiled() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let manifest = MANIFEST.replace("integration = true", "actions = [\"noop\"]");
    // A component exporting an empty actions instance: compiles, fails the world check after.
    let wat = r#"(component (instance $i) (export "devlog:plugin/actions@1.0.0" (instance $i)))"#;
    let p = plugin(&tmp.path().join("p"), wat, &manifest);
    let rt = Runtime::new(Some(cache.clone())).unwrap();
    let first = rt
        .load(&p, &Policy::default(), LoadOptions::default())
        .unwrap_err();
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "one compiled entry");
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        name.starts_with(&devlog_plugin::policy::sha256_hex(wat.as_bytes())),
        "{name}"
    );
    // From the cache: the same outcome.
    let second = rt
        .load(&p, &Policy::default(), LoadOptions::default())
        .unwrap_err();
    assert_eq!(first, second);
    // A damaged entry is noticed (its checksum) and recompiled, not loaded.
    std::fs::write(&entries[0], b"not a compiled component").unwrap();
    let third = rt
        .load(&p, &Policy::default(), LoadOptions::default())
        .unwrap_err();
    assert_eq!(first, third);
    assert_ne!(
        std::fs::read(&entries[0]).unwrap(),
        b"not a compiled component"
    );
}
