//! Benchmark of `devlog mcp` over stdio: per-tool latency (p50/p95) on a store of N entries,
//! server start-up time (spawn to `initialize` answered) and peak memory (VmHWM).
//!
//! ```text
//! cargo build --release -p devlog-cli --bin devlog
//! cargo run --release -p devlog-mcp --example mcp_bench -- --entries 10000 --backend json
//! cargo run --release -p devlog-mcp --example mcp_bench -- --entries 10000 --backend sqlite
//! ```
//!
//! Options: `--entries N` (10000), `--backend json|sqlite` (json), `--iterations N` per tool
//! (200), `--devlog PATH` (target/release/devlog), `--keep DIR` (reuse/keep the seeded store),
//! `--json` (machine-readable output). The store is seeded through the library with
//! `Store::put_raw_batch` (or reused: a store `devlog-bench --keep` built has the same layout); the client is a plain JSON-RPC loop (one request in flight), so the
//! numbers are the server's answer time plus a pipe round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use devlog_core::{Origin, Store, WriteMeta};
use serde_json::{Value, json};

struct Opts {
    entries: usize,
    backend: String,
    iterations: usize,
    devlog: PathBuf,
    keep: Option<PathBuf>,
    json: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        entries: 10_000,
        backend: "json".into(),
        iterations: 200,
        devlog: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/devlog"),
        keep: None,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--entries" => o.entries = val().parse().expect("--entries N"),
            "--backend" => o.backend = val(),
            "--iterations" => o.iterations = val().parse().expect("--iterations N"),
            "--devlog" => o.devlog = PathBuf::from(val()),
            "--keep" => o.keep = Some(PathBuf::from(val())),
            "--json" => o.json = true,
            other => panic!("unknown option {other}; see the header of mcp_bench.rs"),
        }
    }
    assert!(
        ["json", "sqlite"].contains(&o.backend.as_str()),
        "--backend json or sqlite"
    );
    o
}

// The store's entries come from devlog-bench's generator (`devlog_core::sample`).
use devlog_core::sample::{SampleRng as Rng, sample_entry as make_entry};

async fn open_store(backend: &str, devlog_dir: &Path) -> Arc<dyn Store> {
    match backend {
        "json" => Arc::new(devlog_store::JsonStore::open(devlog_dir).await.unwrap()),
        _ => Arc::new(
            devlog_store::SqliteStore::open(&devlog_dir.join("devlog.sqlite"))
                .await
                .unwrap(),
        ),
    }
}

/// Seeds `n` entries with `put_raw` unless the store already holds them.
async fn seed(backend: &str, devlog_dir: &Path, n: usize) -> Duration {
    let store = open_store(backend, devlog_dir).await;
    let have = store.count().await.unwrap() as usize;
    if have >= n {
        return Duration::ZERO;
    }
    let started = Instant::now();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let meta = WriteMeta::new(Origin::Import);
    let mut batch = Vec::new();
    for i in 0..n {
        let e = make_entry(&mut rng, i);
        if i >= have {
            batch.push(e);
        }
        if batch.len() == 1000 || i + 1 == n {
            store
                .put_raw_batch(std::mem::take(&mut batch), &meta)
                .await
                .unwrap();
        }
    }
    started.elapsed()
}

/// One `devlog mcp` process and a JSON-RPC loop over its stdio.
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    fn spawn(o: &Opts, devlog_dir: &Path) -> (Self, Duration) {
        let started = Instant::now();
        let mut child = Command::new(&o.devlog)
            .arg("--dir")
            .arg(devlog_dir)
            .arg("mcp")
            .env("DEVLOG_STORAGE_TYPE", &o.backend)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; build it with cargo build --release -p devlog-cli",
                    o.devlog.display()
                )
            });
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Self {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "mcp_bench", "version": "1"}}),
        );
        let startup = started.elapsed();
        assert_eq!(init["result"]["serverInfo"]["name"], "devlog", "{init}");
        s.notify("notifications/initialized");
        (s, startup)
    }

    fn send(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str) {
        self.send(&json!({"jsonrpc": "2.0", "method": method}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "the server closed stdout");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }

    /// Calls a tool that must succeed; returns how long the answer took.
    fn call(&mut self, tool: &str, args: Value) -> Duration {
        let started = Instant::now();
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        let took = started.elapsed();
        assert!(
            r["result"]["isError"] != true && r.get("error").is_none(),
            "{tool} {args} failed: {r}"
        );
        took
    }

    /// Peak resident memory of the server so far, from /proc (Linux).
    fn vm_hwm_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    fn close(mut self) {
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}");
    }
}

#[derive(Debug, serde::Serialize)]
struct Row {
    tool: String,
    runs: usize,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
    /// The server's peak memory after this row's calls (it only grows, so a jump shows which
    /// tool needed the memory).
    peak_mib_after: Option<f64>,
}

fn row(tool: &str, mut t: Vec<Duration>) -> Row {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: usize| {
        t[((t.len() * q).div_ceil(100))
            .saturating_sub(1)
            .min(t.len() - 1)]
    };
    Row {
        tool: tool.to_string(),
        runs: t.len(),
        p50_ms: ms(at(50)),
        p95_ms: ms(at(95)),
        max_ms: ms(t[t.len() - 1]),
        peak_mib_after: None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = parse_opts();
    let tmp = tempfile::tempdir().unwrap();
    let base = o.keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let devlog_dir = base
        .join(format!("{}-{}", o.backend, o.entries))
        .join(".devlog");
    std::fs::create_dir_all(&devlog_dir).unwrap();
    let seeded = seed(&o.backend, &devlog_dir, o.entries).await;
    if !o.json {
        eprintln!(
            "store: {} ({} entries, {} backend){}",
            devlog_dir.display(),
            o.entries,
            o.backend,
            if seeded.is_zero() {
                " reused".to_string()
            } else {
                format!(", seeded in {:.1} s", seeded.as_secs_f64())
            }
        );
    }

    // Start-up: spawn to `initialize` answered, on the seeded store.
    let mut startups = Vec::new();
    for _ in 0..10 {
        let (s, t) = Server::spawn(&o, &devlog_dir);
        startups.push(t);
        s.close();
    }
    let startup = row("startup (spawn → initialize answered)", startups);

    let (mut s, _) = Server::spawn(&o, &devlog_dir);
    let hwm_at_start = s.vm_hwm_kib();
    let n = o.entries as u64;
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut handle = move || json!(1 + rng.next_u64() % n);
    let mut rows = Vec::new();
    let it = o.iterations;
    let few = (it / 4).max(10);
    // `label` is the tool name, optionally followed by " (what varies)".
    let mut bench =
        |s: &mut Server, label: &str, runs: usize, args: &mut dyn FnMut(usize) -> Value| {
            let tool = label.split(" (").next().unwrap_or(label);
            for i in 0..3 {
                s.call(tool, args(i));
            }
            let t: Vec<Duration> = (0..runs).map(|i| s.call(tool, args(i))).collect();
            let mut r = row(label, t);
            r.peak_mib_after = s.vm_hwm_kib().map(|k| k as f64 / 1024.0);
            rows.push(r);
        };
    bench(&mut s, "get_devlog", it, &mut |_| json!({"id": handle()}));
    bench(
        &mut s,
        "get_context_for_ai",
        it,
        &mut |_| json!({"id": handle()}),
    );
    bench(
        &mut s,
        "update_devlog",
        it,
        &mut |i| json!({"id": handle(), "currentSummary": format!("summary {i}"), "keyInsights": [format!("insight {i}")]}),
    );
    bench(
        &mut s,
        "add_devlog_note",
        it,
        &mut |i| json!({"id": handle(), "note": format!("progress {i}"), "category": "progress"}),
    );
    bench(
        &mut s,
        "update_devlog_with_note",
        it,
        &mut |i| json!({"id": handle(), "note": format!("review {i}"), "status": "in-review"}),
    );
    bench(
        &mut s,
        "add_decision",
        it,
        &mut |i| json!({"id": handle(), "decision": format!("decision {i}"), "rationale": "because", "decisionMaker": "bench"}),
    );
    bench(
        &mut s,
        "update_ai_context",
        it,
        &mut |i| json!({"id": handle(), "summary": format!("ai {i}")}),
    );
    bench(
        &mut s,
        "create_devlog",
        it,
        &mut |i| json!({"title": format!("Bench entry {i} {}", std::process::id()), "type": "task", "description": "created by mcp_bench"}),
    );
    bench(
        &mut s,
        "complete_devlog",
        it,
        &mut |_| json!({"id": handle(), "summary": "done"}),
    );
    bench(&mut s, "list_devlogs", it, &mut |_| json!({}));
    bench(
        &mut s,
        "list_devlogs (status filter)",
        it,
        &mut |_| json!({"status": "blocked"}),
    );
    bench(
        &mut s,
        "search_devlogs",
        it,
        &mut |_| json!({"query": "timeout cache"}),
    );
    bench(
        &mut s,
        "get_active_context",
        it,
        &mut |_| json!({"limit": 10}),
    );
    bench(
        &mut s,
        "discover_related_devlogs",
        few,
        &mut |_| json!({"workDescription": "the search index returns stale pages after deploy", "workType": "bugfix"}),
    );
    bench(
        &mut s,
        "get_recent_changes",
        few,
        &mut |_| json!({"limit": 20}),
    );
    bench(&mut s, "get_devlog_stats", few, &mut |_| json!({}));
    let hwm = s.vm_hwm_kib();
    s.close();

    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "entries": o.entries, "backend": o.backend, "startup": startup,
                "tools": rows, "peakMemoryKiB": hwm, "peakMemoryAfterStartKiB": hwm_at_start,
            }))
            .unwrap()
        );
        return;
    }
    println!(
        "devlog mcp over stdio, {} backend, {} entries, {} calls per tool ({} for the heavy ones)\n",
        o.backend, o.entries, it, few
    );
    println!(
        "{:<40} {:>5} {:>9} {:>9} {:>9} {:>10}",
        "", "runs", "p50 ms", "p95 ms", "max ms", "peak MiB"
    );
    for r in std::iter::once(&startup).chain(rows.iter()) {
        println!(
            "{:<40} {:>5} {:>9.2} {:>9.2} {:>9.2} {:>10}",
            r.tool,
            r.runs,
            r.p50_ms,
            r.p95_ms,
            r.max_ms,
            r.peak_mib_after
                .map(|m| format!("{m:.1}"))
                .unwrap_or_default()
        );
    }
    let mib = |k: Option<u64>| k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0));
    match (mib(hwm_at_start), mib(hwm)) {
        (Some(start), Some(end)) => println!(
            "\npeak memory of the server (VmHWM): {start} after start-up, {end} at the end"
        ),
        _ => println!("\npeak memory: /proc not available"),
    }
}
