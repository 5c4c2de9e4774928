//! Plugins written to misbehave (tests/fixtures/hostile, a Rust component): each attack is
//! contained with a typed error, and the host keeps running.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::sync::OnceLock;

use devlog_core::id::EntryId;
use devlog_core::integration::{Integration, SyncErrorKind, Webhook};
use devlog_core::merge::{FieldSet, SyncedFields};
use devlog_plugin::PluginError;
use devlog_plugin::host::{CallError, LoadOptions, LoadedPlugin, PluginIntegration, Runtime};
use devlog_plugin::manifest::Located;
use devlog_testkit::EntryBuilder;
use devlog_testkit::fake_remote::{FakeRemote, Fault};
use serde_json::json;

/// One runtime and one built plugin folder per test binary (the compiled-component cache
/// makes every load after the first cheap).
fn fixture() -> Option<(&'static Runtime, &'static Located)> {
    static FIX: OnceLock<Option<(Runtime, Located, tempfile::TempDir)>> = OnceLock::new();
    let fix = FIX.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let located = common::built_plugin(&common::hostile_dir(), tmp.path())?;
        let rt = Runtime::new(Some(tmp.path().join("cache"))).unwrap();
        Some((rt, located, tmp))
    });
    fix.as_ref().map(|(rt, l, _)| (rt, l))
}

fn load(tweak: impl FnOnce(&mut Located)) -> Option<LoadedPlugin> {
    let (rt, located) = fixture()?;
    let mut located = located.clone();
    tweak(&mut located);
    Some(
        rt.load(&located, &common::local_policy(), LoadOptions::default())
            .unwrap(),
    )
}

async fn run(p: &LoadedPlugin, action: &str) -> Result<serde_json::Value, CallError> {
    p.run_action(action, &json!("input")).await
}

fn sandbox(r: Result<serde_json::Value, CallError>) -> PluginError {
    match r {
        Err(CallError::Sandbox(e)) => e,
        other => panic!("expected a sandbox error, got {other:?}"),
    }
}

/// After any failure the plugin still answers (a fresh instance).
async fn still_works(p: &LoadedPlugin) {
    assert_eq!(run(p, "ok").await.unwrap(), json!("input"));
}

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "loop").await);
    assert!(
        matches!(
            e,
            PluginError::OutOfFuel {
                fuel: 500_000_000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("CPU budget"), "{e}");
    still_works(&p).await;
}

#[tokio::test]
async fn an_infinite_loop_with_fuel_to_spare_hits_the_wall_clock_timeout() {
    let Some(p) = load(|l| {
        l.manifest.limits.fuel = 10_000_000_000; // the workspace maximum
        l.manifest.limits.timeout_ms = 300;
    }) else {
        return;
    };
    let e = sandbox(run(&p, "loop").await);
    assert!(
        matches!(
            e,
            PluginError::Timeout {
                timeout_ms: 300,
                ..
            }
        ),
        "{e:?}"
    );
    still_works(&p).await;
}

#[tokio::test]
async fn an_allocation_bomb_hits_the_memory_limit() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "alloc").await);
    assert!(
        matches!(e, PluginError::MemoryLimit { limit_bytes, .. } if limit_bytes == 32 * 1024 * 1024),
        "{e:?}"
    );
    still_works(&p).await;
}

#[tokio::test]
async fn a_host_outside_the_manifest_is_refused() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "disallowed-host").await);
    match &e {
        PluginError::DisallowedHost { host, call, .. } => {
            assert_eq!(host, "evil.example.net");
            assert_eq!(call, "run");
        }
        other => panic!("{other:?}"),
    }
    still_works(&p).await;
}

#[tokio::test]
async fn a_host_the_workspace_does_not_grant_is_refused_even_if_the_manifest_names_it() {
    let Some((rt, located)) = fixture() else {
        return;
    };
    let remote = FakeRemote::start().await;
    // The workspace grants another host only: the manifest's 127.0.0.1 is left out.
    let mut policy = devlog_plugin::Policy::default();
    policy.allow.http = vec!["127.0.0.1".into()];
    let mut located = located.clone();
    located.manifest.capabilities.http = vec!["127.0.0.1:1".into()];
    policy.allow.http = vec!["127.0.0.1:1".into()];
    let p = rt.load(&located, &policy, LoadOptions::default()).unwrap();
    let url = format!("{}/items", remote.url());
    let e = sandbox(p.run_action("big-response", &json!(url)).await);
    assert!(matches!(e, PluginError::DisallowedHost { .. }), "{e:?}");
    assert!(
        remote.state().requests().is_empty(),
        "nothing reached the remote"
    );
}

#[tokio::test]
async fn an_oversized_response_is_refused() {
    let Some(p) = load(|_| {}) else { return };
    let remote = FakeRemote::start().await;
    let big = "y".repeat(100 * 1024);
    remote
        .state()
        .inject(Fault::on("GET /big").status(200).body(&big));
    let url = format!("{}/big", remote.url());
    let e = sandbox(p.run_action("big-response", &json!(url)).await);
    match &e {
        PluginError::TooLarge {
            size, limit, what, ..
        } => {
            assert_eq!(*size, 100 * 1024);
            assert_eq!(*limit, 64 * 1024);
            assert!(what.contains("127.0.0.1"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // A response within the limit reaches the plugin.
    remote
        .state()
        .inject(Fault::on("GET /big").status(200).body("small"));
    assert_eq!(
        p.run_action("big-response", &json!(url)).await.unwrap(),
        json!(5)
    );
}

#[tokio::test]
async fn an_oversized_return_value_is_refused() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "big-return").await);
    assert!(
        matches!(&e, PluginError::TooLarge { what, .. } if what == "the returned value"),
        "{e:?}"
    );
    still_works(&p).await;
}

#[tokio::test]
async fn malformed_data_is_reported() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "malformed").await);
    assert!(matches!(e, PluginError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("the action's output"), "{e}");
}

#[tokio::test]
async fn a_panic_is_a_trap_with_its_message() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "panic").await);
    match &e {
        PluginError::Trap { message, .. } => {
            assert!(message.contains("panicked on purpose"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    still_works(&p).await;
}

#[tokio::test]
async fn files_and_the_environment_are_not_there() {
    let Some(p) = load(|_| {}) else { return };
    match run(&p, "read-file").await {
        Err(CallError::Plugin(e)) => {
            assert!(e.message.contains("read failed"), "{}", e.message);
            assert!(!e.message.contains("root:"), "no file content leaks");
        }
        other => panic!("the read must fail inside the plugin: {other:?}"),
    }
    assert_eq!(run(&p, "env").await.unwrap(), json!(0));
}

#[tokio::test]
async fn a_flood_of_host_calls_is_cut_off() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "flood").await);
    assert!(
        matches!(e, PluginError::HostCallLimit { limit: 50, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn kv_without_the_capability_is_denied() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(run(&p, "kv").await);
    assert!(
        matches!(&e, PluginError::CapabilityDenied { capability, .. } if capability == "kv"),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_action_the_manifest_does_not_name_is_refused_without_calling() {
    let Some(p) = load(|_| {}) else { return };
    let e = sandbox(p.run_action("format-disk", &json!({})).await);
    assert!(matches!(e, PluginError::NotProvided { .. }), "{e:?}");
    assert_eq!(p.failures(), 0);
}

#[tokio::test]
async fn malformed_integration_results_become_classified_sync_errors() {
    let Some(p) = load(|_| {}) else { return };
    let i = PluginIntegration::new(p).await.unwrap();
    assert_eq!(i.descriptor().name, "hostile");
    let entry = EntryBuilder::new("x").build();
    let fields = SyncedFields::from_entry(&entry);
    let e = i.create(&entry, &fields).await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Transient, "{e}");
    assert!(e.message.contains("malformed"), "{e}");
    let e = i.find_by_marker(EntryId::new_random()).await.unwrap_err();
    assert!(e.message.contains("malformed"), "{e}");
    let e = i.pull(None).await.unwrap_err();
    assert!(e.message.contains("a remote item"), "{e}");
    let e = i.update("1", &fields, &FieldSet::all()).await.unwrap_err();
    assert!(e.message.contains("update always panics"), "{e}");
    assert!(e.is_retryable());
    // The webhook handler loops: out of fuel.
    let e = i.handle_webhook(&Webhook::default()).await.unwrap_err();
    assert!(e.message.contains("CPU budget"), "{e}");
}

#[tokio::test]
async fn repeated_failures_disable_the_plugin_until_re_enabled() {
    let Some((rt, located)) = fixture() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut policy = common::local_policy();
    policy.disable_after = 3;
    let options = || LoadOptions {
        state_dir: Some(state.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let p = rt.load(located, &policy, options()).unwrap();
    // A success in between resets the count.
    sandbox(run(&p, "panic").await);
    sandbox(run(&p, "panic").await);
    still_works(&p).await;
    assert_eq!(p.failures(), 0);
    for _ in 0..3 {
        let e = sandbox(run(&p, "panic").await);
        assert!(matches!(e, PluginError::Trap { .. }), "{e:?}");
    }
    assert!(p.is_disabled());
    let e = sandbox(run(&p, "ok").await);
    assert!(matches!(e, PluginError::Disabled { .. }), "{e:?}");
    assert!(e.to_string().contains("panicked on purpose"), "{e}");
    // Recorded: a new load is refused too, until re-enabled.
    let e = rt.load(located, &policy, options()).unwrap_err();
    assert!(matches!(e, PluginError::Disabled { .. }), "{e:?}");
    assert!(devlog_plugin::discovery::DisabledList::new(state.path()).enable("hostile"));
    let p = rt.load(located, &policy, options()).unwrap();
    still_works(&p).await;
}

#[tokio::test]
async fn kv_with_the_capability_persists_in_the_state_folder() {
    let Some((rt, located)) = fixture() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let mut located = located.clone();
    located.manifest.capabilities.kv = true;
    let options = LoadOptions {
        state_dir: Some(state.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let p = rt.load(&located, &common::local_policy(), options).unwrap();
    assert_eq!(run(&p, "kv").await.unwrap(), json!(null));
    let stored = std::fs::read_to_string(state.path().join("kv/hostile.json")).unwrap();
    assert_eq!(stored, r#"{"k":"76"}"#, "key k, value \"v\" in hex");
    // Without the workspace's grant the manifest's `kv = true` is refused at load.
    let e = rt
        .load(
            &located,
            &devlog_plugin::Policy::default(),
            LoadOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(e, PluginError::NotAllowed { .. }), "{e:?}");
}

#[tokio::test]
async fn a_redirect_never_leads_to_a_host_that_is_not_allowed() {
    let Some((rt, located)) = fixture() else {
        return;
    };
    let allowed = FakeRemote::start().await;
    let elsewhere = FakeRemote::start().await;
    let allowed_host = allowed.url().trim_start_matches("http://").to_string();
    let mut located = located.clone();
    located.manifest.capabilities.http = vec![allowed_host.clone()];
    let mut policy = devlog_plugin::Policy::default();
    policy.allow.http = vec![allowed_host];
    let p = rt.load(&located, &policy, LoadOptions::default()).unwrap();
    allowed.state().inject(
        Fault::on("GET /jump")
            .status(302)
            .header("location", &format!("{}/items", elsewhere.url())),
    );
    let url = format!("{}/jump", allowed.url());
    // Whatever the plugin makes of the 302, the other server is never asked.
    let _ = p.run_action("big-response", &json!(url)).await;
    assert_eq!(allowed.state().requests_matching("GET /jump").len(), 1);
    assert!(
        elsewhere.state().requests().is_empty(),
        "the redirect was not followed"
    );
}
