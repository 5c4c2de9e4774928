//! Plugin start-up and call costs (docs/plugins.md "Costs"):
//!
//! ```sh
//! (cd crates/devlog-plugin/tests/fixtures/hostile && cargo build --release --target wasm32-wasip2)
//! cargo run --release -p devlog-plugin --example plugin_bench -- \
//!     crates/devlog-plugin/tests/fixtures/hostile target/wasm32-wasip2/release/hostile.wasm
//! ```
//!
//! Prints: cold load (compile), cached load (deserialize), first call (instantiate), the
//! per-call cost of a no-op action against the same JSON work done natively, and the
//! resident memory each loaded and instantiated plugin adds.
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
}
