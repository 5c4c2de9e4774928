//! `devlog plugin new <name>`: a buildable Rust plugin project (wit-bindgen, wasm32-wasip2)
//! providing one workflow action, with the WIT world copied in.

use std::path::{Path, PathBuf};

use crate::error::PluginError;

/// The wit-bindgen line the scaffold and the examples use.
pub const WIT_BINDGEN: &str = "0.57";

/// The files of a new plugin project called `name`: (relative path, contents).
pub fn files(name: &str) -> Result<Vec<(PathBuf, String)>, PluginError> {
    if !crate::manifest::valid_name(name) {
        return Err(PluginError::NotProvided {
            plugin: name.to_string(),
            message:
                "is not a plugin name (lowercase letters, digits and `-`, starting with a letter)"
                    .into(),
        });
    }
    let lib = name.replace('-', "_");
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# A plugin is its own workspace, built for wasm32-wasip2.
[workspace]

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = {{ version = "{WIT_BINDGEN}", default-features = false, features = ["macros", "realloc"] }}

[profile.release]
opt-level = "s"
lto = true
strip = true
"#
    );
    let manifest = format!(
        r#"name = "{name}"
version = "0.1.0"
api = "{api}"
description = "A devlog plugin"
author = ""
license = "MIT OR Apache-2.0"
component = "{lib}.wasm"

# What it may use: HTTP hosts (also granted by the workspace's `[plugins] allow.http`), a kv store.
[capabilities]
http = []
kv = false

[provides]
integration = false
actions = ["hello"]

[limits]
fuel = 100_000_000
memory-mb = 16
timeout-ms = 5_000
host-calls = 20
response-kb = 256
"#,
        api = api_major_minor()
    );
    let src = r##"//! A devlog plugin: one workflow action, `hello`. See devlog's docs/plugins.md.

wit_bindgen::generate!({
    path: "wit",
    world: "actions-plugin",
});

use devlog::plugin::log::{Level, log};
use devlog::plugin::types::{ErrorKind, PluginError};
use exports::devlog::plugin::actions::{Action, Guest};

struct Plugin;

impl Guest for Plugin {
    fn list_actions() -> Vec<Action> {
        vec![Action {
            name: "hello".into(),
            description: "Greets whoever the input names".into(),
            input_schema: r#"{"type": "object", "properties": {"name": {"type": "string"}}}"#.into(),
            output_schema: r#"{"type": "object", "properties": {"greeting": {"type": "string"}}}"#.into(),
        }]
    }

    fn run(name: String, input: String) -> Result<String, PluginError> {
        if name != "hello" {
            return Err(PluginError {
                kind: ErrorKind::Permanent,
                message: format!("no action {name:?}"),
                retry_after_ms: None,
            });
        }
        // Input and output are JSON; a real plugin would use serde_json.
        let who = input
            .split("\"name\"")
            .nth(1)
            .and_then(|rest| rest.split('"').nth(1))
            .unwrap_or("world");
        log(Level::Info, &format!("greeting {who}"));
        Ok(format!("{{\"greeting\": \"hello, {who}\"}}"))
    }
}

export!(Plugin);
"##
    .to_string();
    let readme = format!(
        "# {name}\n\nA devlog plugin. Build and install:\n\n```sh\nrustup target add wasm32-wasip2\ncargo build --release --target wasm32-wasip2\ncp target/wasm32-wasip2/release/{lib}.wasm .\ndevlog plugin check .\ndevlog plugin install .\n```\n\n`wit/plugin.wit` is the devlog:plugin@{} world; see devlog's docs/plugins.md.\n",
        crate::API_VERSION
    );
    Ok(vec![
        (PathBuf::from("Cargo.toml"), cargo),
        (PathBuf::from(crate::MANIFEST_FILE), manifest),
        (PathBuf::from("wit/plugin.wit"), crate::WIT.to_string()),
        (PathBuf::from("src/lib.rs"), src),
        (PathBuf::from("README.md"), readme),
        (PathBuf::from(".gitignore"), "/target\n*.wasm\n".to_string()),
    ])
}

/// Writes the project into `dir` (which must not exist, or be empty); returns the files written.
pub fn create(dir: &Path, name: &str) -> Result<Vec<PathBuf>, PluginError> {
    let files = files(name)?;
    if let Ok(mut read) = std::fs::read_dir(dir)
        && read.next().is_some()
    {
        return Err(PluginError::Io {
            path: dir.to_path_buf(),
            message: "exists and is not empty".into(),
        });
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PluginError::io(parent, &e))?;
        }
        std::fs::write(&path, text).map_err(|e| PluginError::io(&path, &e))?;
        written.push(path);
    }
    Ok(written)
}

fn api_major_minor() -> String {
    let (a, b) = crate::manifest::host_api();
    format!("{a}.{b}")
}
