//! Plugin start-up and call costs (docs/plugins.md "Costs"):
//!
//! ```sh
//! (cd crates/devlog-plugin/tests/fixtures/hostile && cargo build --release --target wasm32-wasip2)
//! (cd examples/plugins/tracker && cargo build --release --target wasm32-wasip2)
//! cargo run --release -p devlog-plugin --example plugin_bench -- \
//!     crates/devlog-plugin/tests/fixtures/hostile \
//!     crates/devlog-plugin/tests/fixtures/hostile/target/wasm32-wasip2/release/hostile.wasm \
//!     examples/plugins/tracker \
//!     examples/plugins/tracker/target/wasm32-wasip2/release/devlog_tracker_plugin.wasm
//! ```
//!
//! Prints: cold load (compile), cached load (deserialize), first call (instantiate), the
//! per-call cost of a no-op action against the same JSON work done natively, and the
//! resident memory each loaded and instantiated plugin adds. With the tracker plugin (the
//! last two arguments): its cold and cached start as `devlog sync` makes it (load plus the
//! checked `describe`, answered from the cache the second time), and one integration call
//! (`find_by_marker` against the test kit's fake tracker) through the plugin versus the
//! test kit's native `TrackerIntegration` doing the same request.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use devlog_plugin::host::{LoadOptions, Runtime};
use devlog_plugin::manifest::Located;
use devlog_plugin::{Manifest, Policy};
use serde_json::json;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(wasm)) = (args.next(), args.next()) else {
        eprintln!("usage: plugin_bench PLUGIN_DIR WASM");
        std::process::exit(2);
    };
    let tmp = tempfile::tempdir().unwrap();
    let manifest = Manifest::load(&PathBuf::from(&dir).join("devlog-plugin.toml")).unwrap();
    let plugin_dir = tmp.path().join("p");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(&wasm, plugin_dir.join(&manifest.component)).unwrap();
    let located = Located {
        dir: plugin_dir,
        manifest,
    };
    let mut policy = Policy::default();
    policy.allow.http = located.manifest.capabilities.http.clone();
    let cache = tmp.path().join("cache");

    let t = Instant::now();
    let rt = Runtime::new(Some(cache.clone())).unwrap();
    rt.load(&located, &policy, LoadOptions::default()).unwrap();
    println!("cold load (compile + cache write): {:>9.2?}", t.elapsed());

    let rt = Runtime::new(Some(cache)).unwrap();
    let t = Instant::now();
    let p = rt.load(&located, &policy, LoadOptions::default()).unwrap();
    println!("cached load:                       {:>9.2?}", t.elapsed());

    let input = json!({"remoteId": "12", "body": "a comment"});
    let t = Instant::now();
    p.run_action("ok", &input).await.unwrap();
    println!("first call (instantiate + call):   {:>9.2?}", t.elapsed());

    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        p.run_action("ok", &input).await.unwrap();
    }
    let plugin_call = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        let s = input.to_string();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        std::hint::black_box(v);
    }
    let native = t.elapsed() / n;
    println!("no-op call, plugin:                {plugin_call:>9.2?}");
    println!("same JSON work, native:            {native:>9.2?}");

    let before = rss_kib();
    let mut kept = Vec::new();
    for _ in 0..10 {
        let p = rt.load(&located, &policy, LoadOptions::default()).unwrap();
        p.run_action("ok", &input).await.unwrap();
        kept.push(p);
    }
    println!(
        "memory per loaded plugin:          {:>6} KiB (resident, 10 instances)",
        (rss_kib() - before) / 10
    );

    if let (Some(dir), Some(wasm)) = (args.next(), args.next()) {
        tracker(&dir, &wasm).await;
    }
}

/// The tracker plugin as an integration, against the native tracker integration.
async fn tracker(dir: &str, wasm: &str) {
    use devlog_core::id::EntryId;
    use devlog_core::integration::Integration;
    use devlog_http::RateLimitConfig;
    use devlog_plugin::host::PluginIntegration;
    use devlog_testkit::fake_remote::FakeRemote;

    let tmp = tempfile::tempdir().unwrap();
    let manifest = Manifest::load(&PathBuf::from(dir).join("devlog-plugin.toml")).unwrap();
    let plugin_dir = tmp.path().join("tracker");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(wasm, plugin_dir.join(&manifest.component)).unwrap();
    let located = Located {
        dir: plugin_dir,
        manifest,
    };
    let mut policy = Policy::default();
    policy.allow.http = located.manifest.capabilities.http.clone();
    let cache = tmp.path().join("cache");
    let remote = FakeRemote::start().await;
    let options = || LoadOptions {
        config: Some(json!({ "url": remote.url() })),
        rate_limits: Some(RateLimitConfig::unpaced()),
        ..LoadOptions::default()
    };
    let start = |cache: PathBuf| {
        let located = located.clone();
        let policy = policy.clone();
        let options = options();
        async move {
            let rt = Runtime::new(Some(cache)).unwrap();
            let p = rt.load(&located, &policy, options).unwrap();
            PluginIntegration::new(p).await.unwrap()
        }
    };
    let t = Instant::now();
    start(cache.clone()).await;
    println!(
        "tracker start, cold (compile + describe): {:>9.2?}",
        t.elapsed()
    );
    let t = Instant::now();
    let plugin = start(cache).await;
    println!(
        "tracker start, cached (no call):          {:>9.2?}",
        t.elapsed()
    );

    let native = devlog_testkit::tracker::TrackerIntegration::with_limits(
        &remote.url(),
        RateLimitConfig::unpaced(),
    )
    .unwrap();
    let id = EntryId::new_random();
    plugin.find_by_marker(id).await.unwrap(); // instantiate and configure
    native.find_by_marker(id).await.unwrap();
    let n = 300;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(plugin.find_by_marker(id).await.unwrap());
    }
    let through_plugin = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(native.find_by_marker(id).await.unwrap());
    }
    let natively = t.elapsed() / n;
    println!("find_by_marker via the plugin:            {through_plugin:>9.2?}");
    println!("find_by_marker native (same request):     {natively:>9.2?}");
}
