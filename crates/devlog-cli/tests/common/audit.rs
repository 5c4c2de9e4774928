//! Reading `devlog audit export` in tests (included with `#[path]` by the test files that
//! check what a command recorded).
#![allow(dead_code)]

use serde_json::Value;

/// The records of an `audit export` (JSON lines) whose action (`plugin-installed`) or remote
/// effect (`pipeline-run-queued`) is `name`.
pub fn named(export: &str, name: &str) -> Vec<Value> {
    export
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("an audit record"))
        .filter(|r| {
            let w = &r["what"];
            w["action"] == name || (w["action"] == "remote-effect" && w["effect"] == name)
        })
        .collect()
}

/// Checks the common fields of a record a CLI command made for `actor`.
pub fn by_cli(r: &Value, actor: &str) {
    assert_eq!(r["origin"], "cli", "{r}");
    assert_eq!(r["actor"], actor, "{r}");
}
