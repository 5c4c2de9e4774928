//! The example plugin (examples/plugins/tracker) end to end against the test kit's fake
//! tracker: the integration conformance suite, webhooks, its workflow action.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::sync::{Arc, OnceLock};

use devlog_core::integration::{Integration, Webhook};
use devlog_http::RateLimitConfig;
use devlog_plugin::host::{CallError, LoadOptions, PluginIntegration, Runtime};
use devlog_plugin::manifest::Located;
use devlog_testkit::fake_remote::FakeRemote;
use devlog_testkit::integration_conformance as suite;
use serde_json::json;

fn fixture() -> Option<(&'static Runtime, &'static Located)> {
    static FIX: OnceLock<Option<(Runtime, Located, tempfile::TempDir)>> = OnceLock::new();
    let fix = FIX.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let located = common::built_plugin(&common::tracker_dir(), tmp.path())?;
        let rt = Runtime::new(Some(tmp.path().join("cache"))).unwrap();
        Some((rt, located, tmp))
    });
    fix.as_ref().map(|(rt, l, _)| (rt, l))
}

async fn tracker(secret: Option<&str>) -> Option<(Arc<dyn Integration>, FakeRemote)> {
    let (rt, located) = fixture()?;
    let remote = FakeRemote::start().await;
    let mut config = json!({ "url": remote.url() });
    if let Some(s) = secret {
        config["webhook-secret"] = json!(s);
    }
    located.manifest.check_config(&config).unwrap();
    let options = LoadOptions {
        config: Some(config),
        rate_limits: Some(RateLimitConfig::unpaced()),
        ..LoadOptions::default()
    };
    let plugin = rt.load(located, &common::local_policy(), options).unwrap();
    let integration = PluginIntegration::new(plugin).await.unwrap();
    Some((Arc::new(integration), remote))
}

macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((i, remote)) = tracker(None).await else { return };
                suite::$case(i, &remote).await;
            }
        )+
    };
}

// The integration conformance suite, case by case (a test skips when the WebAssembly target
// is missing, which the suite's own macro cannot do).
conformance!(
    create_stores_a_marker_that_find_by_marker_finds,
    find_by_marker_of_an_unknown_entry_is_none,
    update_sends_only_the_changed_fields,
    pull_pages_are_idempotent,
    notes_become_comments_when_the_integration_syncs_notes,
    deleted_notes_delete_their_comments_or_say_they_cannot,
    worklogs_are_logged_once_edited_and_deleted_or_not_synced,
    milestones_travel_with_the_item,
    failures_are_classified,
);

#[tokio::test]
async fn the_descriptor_is_the_plugins_under_its_manifest_name() {
    let Some((i, _remote)) = tracker(None).await else {
        return;
    };
    let d = i.descriptor();
    assert_eq!(d.name, "tracker");
    assert_eq!(d.config_schema["required"][0], "url");
    let h = i.health().await.unwrap();
    assert!(
        h.ok && h.message.starts_with("reached http://127.0.0.1"),
        "{h:?}"
    );
}

#[tokio::test]
async fn webhooks_are_checked_then_read() {
    let Some((i, _remote)) = tracker(Some("s3cret-value")).await else {
        return;
    };
    let body = json!({
        "id": "delivery-1",
        "item": {"id": 4, "title": "From the hook", "description": "", "status": "in-progress",
                 "labels": ["type:bugfix", "priority:high", "ui"], "assignee": null, "marker": null,
                 "version": 2, "updated_at": "2025-01-01T00:00:09Z"}
    });
    let hook = |secret: &str| Webhook {
        headers: vec![("x-tracker-secret".into(), secret.into())],
        body: body.to_string().into_bytes(),
        query: Vec::new(),
    };
    let out = i.handle_webhook(&hook("s3cret-value")).await.unwrap();
    assert_eq!(out.delivery_id.as_deref(), Some("delivery-1"));
    assert_eq!(out.items.len(), 1);
    let item = &out.items[0];
    assert_eq!(item.remote_id, "4");
    assert_eq!(item.fields.title, "From the hook");
    assert_eq!(item.fields.tags, ["ui"]);
    assert_eq!(item.fields.kind.as_str(), "bugfix");
    let e = i.handle_webhook(&hook("wrong-secret")).await.unwrap_err();
    assert_eq!(e.kind, devlog_core::integration::SyncErrorKind::Auth, "{e}");
}

#[tokio::test]
async fn its_action_posts_a_comment() {
    let Some((rt, located)) = fixture() else {
        return;
    };
    let remote = FakeRemote::start().await;
    let options = LoadOptions {
        config: Some(json!({ "url": remote.url() })),
        rate_limits: Some(RateLimitConfig::unpaced()),
        ..LoadOptions::default()
    };
    let plugin = rt.load(located, &common::local_policy(), options).unwrap();
    let actions = plugin.actions().await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].name, "comment");
    assert_eq!(
        actions[0].input_schema["required"],
        json!(["remoteId", "body"])
    );
    // An item to comment on.
    let i = PluginIntegration::new(plugin.clone()).await.unwrap();
    let entry = devlog_testkit::EntryBuilder::new("commented").build();
    let item = i
        .create(
            &entry,
            &devlog_core::merge::SyncedFields::from_entry(&entry),
        )
        .await
        .unwrap();
    let out = plugin
        .run_action(
            "comment",
            &json!({"remoteId": item.remote_id, "body": "from a workflow"}),
        )
        .await
        .unwrap();
    assert!(out["commentId"].is_string(), "{out}");
    let posted = remote.state().requests_matching("POST /items/*/comments");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].body_json().unwrap()["body"], "from a workflow");
}

/// The descriptor is the plugin's `describe`, checked against the manifest: a version or
/// config schema the component does not report is a load error naming the manifest.
#[tokio::test]
async fn a_describe_that_disagrees_with_the_manifest_is_a_load_error() {
    let Some((_, located)) = fixture() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A runtime with its own cache: the first load calls `describe` (no cached answer).
    let rt = Runtime::new(Some(tmp.path().join("cache"))).unwrap();
    for (tweak, field) in [
        (
            Box::new(|l: &mut Located| l.manifest.version = "9.9.9".into())
                as Box<dyn Fn(&mut Located)>,
            "version 0.1.0",
        ),
        (
            Box::new(|l: &mut Located| {
                l.manifest
                    .config_schema
                    .insert("required".into(), toml::Value::Array(Vec::new()));
            }),
            "the config schema",
        ),
    ] {
        let mut l = located.clone();
        tweak(&mut l);
        let plugin = rt
            .load(&l, &common::local_policy(), LoadOptions::default())
            .unwrap();
        let e = PluginIntegration::new(plugin).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                CallError::Sandbox(devlog_plugin::PluginError::DescriptorMismatch { .. })
            ) && msg.contains(field)
                && msg.contains("devlog-plugin.toml"),
            "{msg}"
        );
    }
}

/// `describe`'s answer is cached beside the compiled component: a second start reads it
/// instead of calling (shown by an edited cache entry), still checks it against the
/// manifest, and works from synchronous code inside or outside a runtime.
#[test]
fn the_descriptor_is_cached_with_the_compiled_component() {
    let Some((_, located)) = fixture() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let rt = Runtime::new(Some(cache.clone())).unwrap();
    let load = || {
        rt.load(located, &common::local_policy(), LoadOptions::default())
            .unwrap()
    };
    // Outside any runtime: `describe` runs on a helper runtime.
    let first = PluginIntegration::new_blocking(load()).unwrap();
    assert_eq!(
        first.descriptor().description,
        "generic REST tracker (plugin)"
    );
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".describe.json"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let file = &cached[0];
    let mut d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    d["description"] = json!("read from the cache");
    std::fs::write(file, d.to_string()).unwrap();

    // Inside a multi-threaded runtime, from synchronous code (as `devlog sync` builds its
    // integrations): the cached answer, no call.
    let rt2 = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let second = rt2.block_on(async { PluginIntegration::new_blocking(load()).unwrap() });
    assert_eq!(second.descriptor().description, "read from the cache");
    // And the plugin still answers calls made afterwards in that runtime.
    rt2.block_on(async {
        assert!(
            second
                .plugin()
                .health()
                .await
                .is_err_and(|e| e.to_string().contains("not configured"))
        );
    });

    // A cached answer is checked like a fresh one.
    d["version"] = json!("0.0.1");
    std::fs::write(file, d.to_string()).unwrap();
    let e = PluginIntegration::new_blocking(load()).unwrap_err();
    assert!(e.to_string().contains("version 0.0.1"), "{e}");

    // A damaged entry is asked again.
    std::fs::write(file, "{ not json").unwrap();
    let again = PluginIntegration::new_blocking(load()).unwrap();
    assert_eq!(
        again.descriptor().description,
        "generic REST tracker (plugin)"
    );
}

/// Credentials from `[capabilities.auth]` reach the tracker on every request, added by the
/// host: the plugin is configured without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_adds_the_credentials_the_manifest_names() {
    let Some((rt, located)) = fixture() else {
        return;
    };
    const TOKEN: &str = "tracker-token-0123456789";
    let remote = FakeRemote::start().await;
    remote.require_authorization(Some(&format!("Bearer {TOKEN}")));
    let split = located
        .manifest
        .split_credentials(json!({ "url": remote.url(), "token": TOKEN }))
        .unwrap();
    located.manifest.check_config(&split.config).unwrap();
    let plugin = rt
        .load(
            located,
            &common::local_policy(),
            LoadOptions {
                config: Some(split.config),
                auth: split.auth,
                rate_limits: Some(RateLimitConfig::unpaced()),
                ..LoadOptions::default()
            },
        )
        .unwrap();
    let i = PluginIntegration::new(plugin).await.unwrap();
    let entry = devlog_testkit::EntryBuilder::new("authorized").build();
    let item = i
        .create(
            &entry,
            &devlog_core::merge::SyncedFields::from_entry(&entry),
        )
        .await
        .unwrap();
    assert!(i.find_by_marker(entry.id).await.unwrap().is_some());
    assert_eq!(remote.items().len(), 1, "{item:?}");
    assert!(remote.requests().iter().all(|r| r.authorized));

    // Without them the tracker refuses, classified as an auth failure that names no secret.
    let plugin = rt
        .load(
            located,
            &common::local_policy(),
            LoadOptions {
                config: Some(json!({ "url": remote.url() })),
                rate_limits: Some(RateLimitConfig::unpaced()),
                ..LoadOptions::default()
            },
        )
        .unwrap();
    let i = PluginIntegration::new(plugin).await.unwrap();
    let e = i.find_by_marker(entry.id).await.unwrap_err();
    assert_eq!(e.kind, devlog_core::integration::SyncErrorKind::Auth, "{e}");
    assert!(!e.message.contains(TOKEN));
}
