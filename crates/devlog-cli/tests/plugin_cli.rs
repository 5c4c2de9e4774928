//! `devlog plugin` end to end (issue 22): list, new, install (refused until the workspace
//! grants what the plugin asks), info, check (with the pin line), remove; broken manifests
//! are listed with their file. Installing needs the example plugin built for wasm32-wasip2:
//! those steps skip, saying so, when the target is not installed (`.ci/run` installs it).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

/// `devlog ARGS` in `dir`, with `env` added to a clean environment.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("DEVLOG_PLUGIN_DIR", dir.join("user-plugins"))
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn devlog(dir: &Path, args: &[&str]) -> Output {
    command(dir, args, &[]).output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = devlog(dir, args);
    assert!(
        o.status.success(),
        "devlog {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let o = devlog(dir, args);
    assert!(!o.status.success(), "devlog {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The example tracker plugin built for wasm32-wasip2, in a plugin folder; `None` when the
/// target is not installed.
fn built_tracker(into: &Path) -> Option<PathBuf> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(false);
    if !installed {
        assert!(
            std::env::var_os("DEVLOG_TEST_REQUIRE_WASM").is_none(),
            "wasm32-wasip2 missing but DEVLOG_TEST_REQUIRE_WASM is set"
        );
        eprintln!("wasm32-wasip2 target not installed: skipping the install steps");
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/tracker");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("guests");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = into.join("tracker-build");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        src.join("devlog-plugin.toml"),
        dir.join("devlog-plugin.toml"),
    )
    .unwrap();
    std::fs::copy(
        target.join("wasm32-wasip2/release/devlog_tracker_plugin.wasm"),
        dir.join("devlog_tracker_plugin.wasm"),
    )
    .unwrap();
    Some(dir)
}

#[test]
fn plugin_commands_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    ok(ws, &["init"]);
    assert!(ok(ws, &["plugin", "list"]).starts_with("No plugins"));

    // `new` scaffolds a project whose manifest reads back.
    let out = ok(ws, &["plugin", "new", "hello-plugin", "--dir", "hello"]);
    assert!(
        out.contains("cargo build --release --target wasm32-wasip2"),
        "{out}"
    );
    assert!(ws.join("hello/src/lib.rs").is_file() && ws.join("hello/wit/plugin.wit").is_file());
    let e = fails(ws, &["plugin", "new", "Bad_Name"]);
    assert!(e.contains("not a plugin name"), "{e}");

    // A broken manifest is listed with its file and key.
    let broken = ws.join(".devlog/plugins/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("devlog-plugin.toml"),
        "name = \"broken\"\napi = 7\n",
    )
    .unwrap();
    let listed: Value = serde_json::from_str(&ok(ws, &["plugin", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["state"], "error");
    let msg = listed[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("broken/devlog-plugin.toml") && msg.contains("api"),
        "{msg}"
    );
    std::fs::remove_dir_all(&broken).unwrap();

    let Some(build) = built_tracker(ws) else {
        return;
    };
    let build = build.to_str().unwrap().to_string();
    // Nothing granted yet: refused, nothing installed.
    let e = fails(ws, &["plugin", "install", &build]);
    assert!(e.contains("127.0.0.1") && e.contains("allow.http"), "{e}");
    assert!(!ws.join(".devlog/plugins/tracker").exists());

    let config = ws.join("devlog.toml");
    let mut text = std::fs::read_to_string(&config).unwrap_or_default();
    text.push_str("\n[plugins]\nallow = { http = [\"127.0.0.1\", \"tracker.example.com\"] }\n");
    std::fs::write(&config, text).unwrap();
    let out = ok(ws, &["plugin", "install", &build]);
    assert!(out.starts_with("installed tracker 0.1.0"), "{out}");
    assert!(
        ws.join(".devlog/plugins/tracker/devlog_tracker_plugin.wasm")
            .is_file()
    );

    let listed: Value = serde_json::from_str(&ok(ws, &["plugin", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "tracker");
    assert_eq!(listed[0]["state"], "ok");
    assert_eq!(
        listed[0]["provides"],
        serde_json::json!(["integration", "action:comment"])
    );

    let info: Value =
        serde_json::from_str(&ok(ws, &["plugin", "info", "tracker", "--json"])).unwrap();
    assert_eq!(info["loads"], true, "{info}");
    assert_eq!(info["actions"][0]["name"], "comment");
    let hash = info["sha256"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    // The install is in the audit log, with the module's hash.
    let installed = audit::named(&ok(ws, &["audit", "export"]), "plugin-installed");
    assert_eq!(installed.len(), 1, "{installed:?}");
    audit::by_cli(&installed[0], "tester");
    assert_eq!(installed[0]["what"]["name"], "tracker");
    assert_eq!(installed[0]["what"]["sha256"], hash.as_str());

    let out = ok(ws, &["plugin", "check", "tracker"]);
    assert!(
        out.contains(&format!("tracker = \"sha256:{hash}\"")),
        "{out}"
    );
    // A compiled component was cached for the next start.
    assert!(
        std::fs::read_dir(ws.join(".devlog/.state/plugins/cache"))
            .unwrap()
            .count()
            > 0
    );

    // A wrong pin is refused.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[plugins.pin]\ntracker = \"sha256:{}\"\n",
        "0".repeat(64)
    ));
    std::fs::write(&config, text).unwrap();
    let e = fails(ws, &["plugin", "check", "tracker"]);
    assert!(e.contains("does not match the pinned"), "{e}");

    ok(ws, &["plugin", "remove", "tracker"]);
    assert!(!ws.join(".devlog/plugins/tracker").exists());
    let e = fails(ws, &["plugin", "remove", "tracker"]);
    assert!(e.contains("not installed"), "{e}");
    // One record of the removal (the refused second one records nothing); the chain holds.
    let removed = audit::named(&ok(ws, &["audit", "export"]), "plugin-removed");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["what"]["name"], "tracker");
    ok(ws, &["audit", "verify"]);
}

/// A new workspace granting the tracker plugin its hosts, with `config` added to its
/// devlog.toml and the plugin built in `build` installed.
fn with_tracker(ws: &Path, build: &Path, config: &str) {
    ok(ws, &["init"]);
    let file = ws.join("devlog.toml");
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.push_str(&format!(
        "\n[plugins]\nallow = {{ http = [\"127.0.0.1\", \"tracker.example.com\"] }}\n\n{config}"
    ));
    std::fs::write(&file, text).unwrap();
    ok(ws, &["plugin", "install", build.to_str().unwrap()]);
}

/// A plugin integration configured as `[integrations.tracker]` is listed with the built-in
/// ones and syncs through the same engine: `devlog sync` creates the entry's item on the fake
/// tracker (with the entry id as its marker), a second sync creates nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_integration_syncs_through_the_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().to_path_buf();
    let Some(build) = built_tracker(&ws) else {
        return;
    };
    let remote = devlog_testkit::fake_remote::FakeRemote::start().await;
    let url = remote.url();
    let ws2 = ws.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let ws = ws2;
        with_tracker(
            &ws,
            &build,
            &format!("[integrations.tracker]\nurl = \"{url}\"\n"),
        );
        let listed: Value =
            serde_json::from_str(&ok(&ws, &["integrations", "list", "--json"])).unwrap();
        ok(&ws, &["new", "Synced by a plugin", "--json"]);
        ok(&ws, &["sync"]);
        ok(&ws, &["sync"]);
        listed
    })
    .await
    .unwrap();
    let tracker = listed["known"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "tracker")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(tracker["configured"], true);
    assert!(
        tracker["plugin"]
            .as_str()
            .unwrap()
            .ends_with(".devlog/plugins/tracker")
    );
    let items = remote.state().items();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].title, "Synced by a plugin");
    assert!(items[0].marker.is_some());
}

/// The token of the kill -9 test: it must never show up anywhere but in the tracker's
/// `Authorization` header.
const TRACKER_TOKEN: &str = "plugin-tracker-token-5f3a9c1e77";

fn devlog_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                out.push(p);
            }
        }
    }
    out
}

/// kill -9 in the middle of `devlog sync` through the example plugin: the tracker applies
/// the third create and never answers, the process is killed (SIGKILL) while it waits, and
/// a re-run finds that item by its marker instead of creating it again and creates the
/// rest: one item per entry, none twice, none lost. The tracker requires the token from
/// `${TRACKER_TOKEN}` (added by the host, `[capabilities.auth]`), which appears in no file,
/// output or log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_create_through_a_plugin_creates_each_item_once() {
    use devlog_testkit::fake_remote::{FakeRemote, Fault};
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().to_path_buf();
    let Some(build) = built_tracker(&ws) else {
        return;
    };
    let remote = FakeRemote::start().await;
    remote.require_authorization(Some(&format!("Bearer {TRACKER_TOKEN}")));
    let url = remote.url();
    let env = [("TRACKER_TOKEN", TRACKER_TOKEN)];
    let titles: Vec<String> = (1..=5)
        .map(|i| format!("Entry {i} via the plugin"))
        .collect();
    let (ws2, titles2) = (ws.clone(), titles.clone());
    let ids: Vec<String> = tokio::task::spawn_blocking(move || {
        let ws = ws2;
        with_tracker(
            &ws,
            &build,
            &format!(
                "[sync]\nlease = \"1s\"\n\n[integrations.tracker]\nurl = \"{url}\"\ntoken = \"${{TRACKER_TOKEN}}\"\n"
            ),
        );
        // Without the variable the table names what is missing.
        let e = fails(&ws, &["sync"]);
        assert!(e.contains("TRACKER_TOKEN"), "{e}");
        titles2
            .iter()
            .map(|t| {
                let v: Value = serde_json::from_str(&ok(&ws, &["new", t, "--json"])).unwrap();
                v["id"].as_str().unwrap().to_string()
            })
            .collect()
    })
    .await
    .unwrap();

    // Creates 1 and 2 pass; the tracker makes item 3 and never answers.
    remote.inject(
        Fault::on("POST /items")
            .delay(std::time::Duration::ZERO)
            .times(2),
    );
    remote.inject(Fault::on("POST /items").apply_then_hang());
    let mut child = command(&ws, &["sync"], &env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the third create to reach the tracker (the process is then stuck in it).
    while remote.requests_matching("POST /items").len() < 3 {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "sync ended ({status}) before its third create:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let killed = child.wait_with_output().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9)
    );
    assert_eq!(remote.items().len(), 3, "the third create was applied");
    assert!(remote.requests().iter().all(|r| r.authorized));

    // Let the killed process's lease (1 s) run out, then sync again, logging everything.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let ws2 = ws.clone();
    let (rerun, again, shown) = tokio::task::spawn_blocking(move || {
        let ws = ws2;
        let rerun = devlog_with(&ws, &["sync"], &[env[0], ("RUST_LOG", "debug")]);
        let again = devlog_with(&ws, &["sync", "--json"], &env);
        let mut shown = String::new();
        for args in [&["config", "show"][..], &["config", "show", "--json"]] {
            let o = devlog_with(&ws, args, &env);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            shown.push_str(&String::from_utf8_lossy(&o.stdout));
        }
        (rerun, again, shown)
    })
    .await
    .unwrap();
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(again.status.success(), "{}", text(&again));

    // One item per entry: none twice, none lost, each carrying its entry's id.
    let items = remote.items();
    assert_eq!(items.len(), 5, "{items:#?}");
    let mut markers: Vec<String> = items.iter().filter_map(|i| i.marker.clone()).collect();
    markers.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(markers, want);
    let mut got: Vec<String> = items.iter().map(|i| i.title.clone()).collect();
    got.sort();
    let mut titles = titles;
    titles.sort();
    assert_eq!(got, titles);
    assert_eq!(remote.requests_matching("POST /items").len(), 5);

    // The token is in no output, log, configuration shown, state or record.
    for (what, s) in [
        ("killed sync", text(&killed)),
        ("re-run (debug log)", text(&rerun)),
        ("third sync", text(&again)),
        ("config show", shown.clone()),
    ] {
        assert!(!s.contains(TRACKER_TOKEN), "{what} shows the token:\n{s}");
    }
    assert!(shown.contains("integrations.tracker.token"), "{shown}");
    let leaked = files_containing(&ws, TRACKER_TOKEN.as_bytes());
    assert!(leaked.is_empty(), "the token was written to {leaked:?}");

    // A wrong token: refused as an auth failure that names no secret.
    let ws2 = ws.clone();
    let wrong = "wrong-token-abcdefghijkl";
    let out = tokio::task::spawn_blocking(move || {
        ok(&ws2, &["new", "One more", "--json"]);
        devlog_with(&ws2, &["sync"], &[("TRACKER_TOKEN", wrong)])
    })
    .await
    .unwrap();
    let all = text(&out);
    assert!(
        !all.contains(wrong) && !all.contains(TRACKER_TOKEN),
        "{all}"
    );
    assert_eq!(remote.items().len(), 5);
}

/// A workflow pushes an entry to the plugin's integration (`sync`), then runs the plugin's
/// `comment` action on the item it created (`plugin`, input from the sync step's output);
/// a bad input is refused by the action's schema, an unknown action at validation.
#[tokio::test]
async fn a_plugin_action_is_a_workflow_step() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().to_path_buf();
    let Some(build) = built_tracker(&ws) else {
        return;
    };
    let remote = devlog_testkit::fake_remote::FakeRemote::start().await;
    let url = remote.url();
    let ws2 = ws.clone();
    let (run, bad, invalid, export) = tokio::task::spawn_blocking(move || {
        let ws = ws2;
        with_tracker(
            &ws,
            &build,
            &format!("[integrations.tracker]\nurl = \"{url}\"\n"),
        );
        let wf = ws.join(".devlog/workflows");
        std::fs::create_dir_all(&wf).unwrap();
        std::fs::write(
            wf.join("comment.yml"),
            "name: comment\non:\n  manual:\nsteps:\n  - id: t\n    sync:\n      integration: tracker\n  - id: c\n    plugin:\n      name: tracker\n      action: comment\n      input:\n        remoteId: \"{{ steps.t.remoteId }}\"\n        body: \"From {{ entry.ref }}\"\n",
        )
        .unwrap();
        std::fs::write(
            wf.join("bad.yml"),
            "name: bad\non:\n  manual:\nsteps:\n  - plugin:\n      name: tracker\n      action: comment\n      input:\n        body: 5\n",
        )
        .unwrap();
        ok(&ws, &["new", "Commented by a plugin", "--json"]);
        ok(&ws, &["workflow", "validate"]);
        let run: Value =
            serde_json::from_str(&ok(&ws, &["--json", "workflow", "run", "comment", "#1"]))
                .unwrap();
        let bad = fails(&ws, &["workflow", "run", "bad", "#1"]);
        std::fs::write(
            wf.join("unknown.yml"),
            "name: unknown\non:\n  manual:\nsteps:\n  - plugin:\n      name: tracker\n      action: close\n",
        )
        .unwrap();
        let invalid = String::from_utf8(devlog(&ws, &["workflow", "validate"]).stdout).unwrap();
        let export = ok(&ws, &["audit", "export"]);
        ok(&ws, &["audit", "verify"]);
        (run, bad, invalid, export)
    })
    .await
    .unwrap();
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let items = remote.state().items();
    assert_eq!(items.len(), 1, "{items:?}");
    let comments = remote.state().comments(items[0].id);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].body, "From #1");
    assert_eq!(
        run["steps"][1]["output"]["commentId"],
        comments[0].id.to_string(),
        "{run:#}"
    );
    assert!(bad.contains("does not fit its schema"), "{bad}");
    // The action is one remote effect in the audit log, by the workflow (the refused input
    // ran nothing and recorded nothing).
    let actions = audit::named(&export, "plugin-action-run");
    assert_eq!(actions.len(), 1, "{export}");
    assert_eq!(actions[0]["actor"], "workflow:comment", "{}", actions[0]);
    assert_eq!(actions[0]["what"]["integration"], "tracker");
    assert_eq!(actions[0]["what"]["remoteId"], "comment");
    assert!(
        invalid.contains("provides no action \"close\""),
        "{invalid}"
    );
}
