//! The example plugin (examples/plugins/tracker) end to end against the test kit's fake
//! tracker: the integration conformance suite, webhooks, its workflow action.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::sync::{Arc, OnceLock};

use devlog_core::integration::{Integration, Webhook};
use devlog_http::RateLimitConfig;
use devlog_plugin::host::{LoadOptions, PluginIntegration, Runtime};
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
