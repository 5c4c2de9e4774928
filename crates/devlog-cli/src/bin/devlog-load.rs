//! Load benchmark for `devlog serve` (issue 15, target 7): starts a server on a fresh store
//! (the JSON files, and PostgreSQL when a URL is given), drives it with concurrent HTTP
//! clients mixing reads (list, show, search) and writes (create, note) through the REST API,
//! prints throughput, p50/p99 latency and the error count, then checks that every write is
//! there. Loopback only; bounded by a request count and a time limit.
//!
//! ```text
//! cargo build --release -p devlog-cli
//! target/release/devlog-load --clients 32 --requests 6400
//! DEVLOG_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test target/release/devlog-load
//! target/release/devlog-load --devlog /path/to/another/devlog   # compare two builds
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::Value;

/// Drive `devlog serve` with concurrent clients and report throughput and latency
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent HTTP clients
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// Requests in all (split between the clients); the run stops earlier at --time-limit
    #[arg(long, default_value_t = 3200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    requests: u64,
    /// Seconds after which clients stop starting new requests
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    time_limit: u64,
    /// Entries created before the measured run (what reads find)
    #[arg(long, default_value_t = 200)]
    seed: usize,
    /// Backends to load: json, postgres (postgres needs --postgres-url)
    #[arg(long, value_delimiter = ',', default_value = "json,postgres")]
    backends: Vec<String>,
    /// A PostgreSQL server to create a scratch database on (default:
    /// DEVLOG_TEST_POSTGRES_URL); postgres is skipped without one
    #[arg(long, env = "DEVLOG_TEST_POSTGRES_URL", hide_env_values = true)]
    postgres_url: Option<String>,
    /// The devlog binary to serve with (default: next to this one)
    #[arg(long)]
    devlog: Option<PathBuf>,
    /// Print results as JSON
    #[arg(long)]
    json: bool,
}

/// What one request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    List,
    Show,
    Search,
    Create,
    Note,
}

impl Op {
    const ALL: [Op; 5] = [Op::List, Op::Show, Op::Search, Op::Create, Op::Note];

    /// The mix: 7 reads to 3 writes, in a fixed order per client.
    fn nth(i: usize) -> Op {
        match i % 10 {
            0 | 4 | 8 => Op::List,
            1 | 5 => Op::Show,
            2 | 7 => Op::Search,
            3 | 9 => Op::Create,
            _ => Op::Note,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Show => "show",
            Op::Search => "search",
            Op::Create => "create",
            Op::Note => "note",
        }
    }
}

/// A running `devlog serve`, killed when dropped.
struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(bin: &Path, dir: &Path, env: &[(&str, &str)]) -> Result<Served> {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--port", "0", "--no-background-sync"])
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "load")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("the server's stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let Some(line) = lines.next() else {
            let _ = child.wait();
            bail!("devlog serve exited before announcing its address");
        };
        let line = line?;
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .context("an address after `listening on`")?
                .parse::<SocketAddr>()?;
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address");
    }
    Ok(Served { child, addr })
}

/// One HTTP/1.0 request (a connection each, as simple clients do); the status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(Value::to_string);
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(b) = &body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.as_deref().unwrap_or(""));
    s.write_all(req.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out.split_once("\r\n\r\n").context("an HTTP response")?;
    let status = head
        .split(' ')
        .nth(1)
        .context("a status line")?
        .parse()
        .context("a status code")?;
    Ok((status, body.to_string()))
}

/// A request that must succeed; its JSON body.
fn ok_json(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let (status, text) = http(addr, method, path, body)?;
    if !(200..300).contains(&status) {
        bail!("{method} {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

const WORDS: &[&str] = &[
    "parser",
    "cache",
    "login",
    "export",
    "migration",
    "search",
    "deploy",
    "retry",
    "schema",
    "dashboard",
];

/// What the clients wrote, to check afterwards.
#[derive(Debug, Default)]
struct Written {
    /// (handle, title) of every entry created.
    created: Vec<(u64, String)>,
    /// (handle, note text) of every note added.
    notes: Vec<(u64, String)>,
}

#[derive(Debug, Default)]
struct Outcome {
    latencies: Vec<(Op, Duration)>,
    errors: Vec<String>,
    written: Written,
    wall: Duration,
}

fn run_load(addr: SocketAddr, args: &Args, seeded: u64) -> Outcome {
    let next = AtomicUsize::new(0);
    let total = usize::try_from(args.requests).unwrap_or(usize::MAX);
    let deadline = Instant::now() + Duration::from_secs(args.time_limit);
    let out = Mutex::new(Outcome::default());
    let start = Instant::now();
    std::thread::scope(|sc| {
        for client in 0..args.clients {
            let (next, out) = (&next, &out);
            sc.spawn(move || {
                let mut mine = Outcome::default();
                let mut own: Option<u64> = None;
                let mut k = 0usize;
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    k += 1;
                    let op = match Op::nth(k) {
                        // A note needs an entry of this client's; before it has one, create.
                        Op::Note if own.is_none() => Op::Create,
                        op => op,
                    };
                    let word = WORDS[i % WORDS.len()];
                    let t = Instant::now();
                    let result = match op {
                        Op::List => {
                            ok_json(addr, "GET", "/api/v1/entries?limit=20", None).map(|_| ())
                        }
                        Op::Show => {
                            let h = 1 + (i as u64 * 7919) % seeded.max(1);
                            ok_json(addr, "GET", &format!("/api/v1/entries/{h}"), None).map(|_| ())
                        }
                        Op::Search => {
                            ok_json(addr, "GET", &format!("/api/v1/search?q={word}"), None)
                                .map(|_| ())
                        }
                        Op::Create => {
                            let title = format!("Load {word} client {client} request {i}");
                            let body = serde_json::json!({"title": title, "type": "task",
                                "description": format!("Created by devlog-load: {word}")});
                            ok_json(addr, "POST", "/api/v1/entries", Some(&body)).and_then(|v| {
                                let h = v["handle"].as_u64().context("a handle")?;
                                mine.written.created.push((h, title));
                                own = Some(h);
                                Ok(())
                            })
                        }
                        Op::Note => {
                            let h = own.expect("a note follows this client's create");
                            let text = format!("load note {client}/{i} about {word}");
                            let body = serde_json::json!({"content": text});
                            ok_json(
                                addr,
                                "POST",
                                &format!("/api/v1/entries/{h}/notes"),
                                Some(&body),
                            )
                            .map(|_| mine.written.notes.push((h, text)))
                        }
                    };
                    mine.latencies.push((op, t.elapsed()));
                    if let Err(e) = result {
                        mine.errors.push(format!("{}: {e:#}", op.name()));
                    }
                }
                let mut all = out.lock().expect("no client panics while holding the lock");
                all.latencies.append(&mut mine.latencies);
                all.errors.append(&mut mine.errors);
                all.written.created.append(&mut mine.written.created);
                all.written.notes.append(&mut mine.written.notes);
            });
        }
    });
    let mut out = out.into_inner().expect("no client panicked");
    out.wall = start.elapsed();
    out
}

/// Every created entry exists with its title, every note is on its entry.
fn verify(addr: SocketAddr, w: &Written) -> Result<usize> {
    let mut missing = 0;
    let mut notes_by: std::collections::BTreeMap<u64, Vec<&str>> = Default::default();
    for (h, text) in &w.notes {
        notes_by.entry(*h).or_default().push(text);
    }
    for (h, title) in &w.created {
        let e = ok_json(addr, "GET", &format!("/api/v1/entries/{h}"), None)?;
        if e["title"].as_str() != Some(title) {
            eprintln!("entry #{h}: title {} instead of {title:?}", e["title"]);
            missing += 1;
        }
        let have: Vec<&str> = e["notes"]
            .as_array()
            .map(|n| n.iter().filter_map(|n| n["content"].as_str()).collect())
            .unwrap_or_default();
        for want in notes_by.remove(h).unwrap_or_default() {
            if !have.contains(&want) {
                eprintln!("entry #{h}: note {want:?} missing");
                missing += 1;
            }
        }
    }
    missing += notes_by.values().map(Vec::len).sum::<usize>();
    Ok(missing)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A scratch PostgreSQL database, dropped at the end.
#[cfg(feature = "postgres")]
struct ScratchDb {
    admin: String,
    name: String,
    url: String,
}

#[cfg(feature = "postgres")]
impl ScratchDb {
    fn create(admin: &str) -> Result<Self> {
        let name = format!(
            "devlog_load_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
        );
        Self::exec(admin, format!("CREATE DATABASE \"{name}\""))?;
        let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
        let (scheme, rest) = base.split_once("://").context("a postgres:// URL")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let url = format!("{scheme}://{authority}/{name}{query}");
        Ok(Self {
            admin: admin.to_string(),
            name,
            url,
        })
    }

    fn exec(admin: &str, sql: String) -> Result<()> {
        use sqlx::{AssertSqlSafe, Connection, Executor};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(admin)
                .await
                .context("connecting to the PostgreSQL server")?;
            c.execute(AssertSqlSafe(sql)).await?;
            let _ = c.close().await;
            Ok(())
        })
    }
}

#[cfg(feature = "postgres")]
impl Drop for ScratchDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = Self::exec(&self.admin, sql) {
            eprintln!("warning: cannot drop {}: {e:#}", self.name);
        }
    }
}

fn load_one(bin: &Path, backend: &str, args: &Args) -> Result<Option<Value>> {
    let dir = tempfile::tempdir()?;
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status();
    if !git.is_ok_and(|s| s.success()) {
        bail!("git init failed in {}", dir.path().display());
    }
    #[cfg(feature = "postgres")]
    let mut _db = None;
    let mut env: Vec<(&str, String)> = Vec::new();
    match backend {
        "json" => {}
        #[cfg(feature = "postgres")]
        "postgres" => {
            let Some(admin) = args.postgres_url.as_deref().filter(|u| !u.is_empty()) else {
                eprintln!("skipping postgres: no --postgres-url or DEVLOG_TEST_POSTGRES_URL");
                return Ok(None);
            };
            let db = ScratchDb::create(admin)?;
            env.push(("DEVLOG_STORAGE_TYPE", "postgres".into()));
            env.push(("DATABASE_URL", db.url.clone()));
            _db = Some(db);
        }
        other => bail!("unknown backend `{other}` (json, postgres)"),
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let served = serve(bin, dir.path(), &env_refs)?;
    let addr = served.addr;
    for i in 0..args.seed {
        let word = WORDS[i % WORDS.len()];
        let body = serde_json::json!({"title": format!("Seed {word} {i}"), "type": "task"});
        ok_json(addr, "POST", "/api/v1/entries", Some(&body))?;
    }
    let out = run_load(addr, args, args.seed as u64);
    let missing = verify(addr, &out.written)?;
    drop(served);

    let mut all: Vec<Duration> = out.latencies.iter().map(|(_, d)| *d).collect();
    all.sort();
    let n = all.len();
    let per_op: Vec<Value> = Op::ALL
        .iter()
        .map(|op| {
            let mut d: Vec<Duration> = out
                .latencies
                .iter()
                .filter(|(o, _)| o == op)
                .map(|(_, d)| *d)
                .collect();
            d.sort();
            serde_json::json!({"op": op.name(), "count": d.len(),
                "p50_ms": ms(percentile(&d, 0.5)), "p99_ms": ms(percentile(&d, 0.99))})
        })
        .collect();
    for e in out.errors.iter().take(5) {
        eprintln!("error: {e}");
    }
    Ok(Some(serde_json::json!({
        "backend": backend,
        "clients": args.clients,
        "requests": n,
        "seconds": out.wall.as_secs_f64(),
        "throughput_rps": n as f64 / out.wall.as_secs_f64().max(1e-9),
        "p50_ms": ms(percentile(&all, 0.5)),
        "p99_ms": ms(percentile(&all, 0.99)),
        "errors": out.errors.len(),
        "writes": out.written.created.len() + out.written.notes.len(),
        "writes_missing": missing,
        "ops": per_op,
    })))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = match &args.devlog {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("devlog"),
    };
    let mut results = Vec::new();
    for backend in &args.backends {
        if let Some(r) = load_one(&bin, backend, &args)? {
            if !args.json {
                println!(
                    "{:<9} {} clients  {:>6} requests in {:>6.2} s  {:>7.0} req/s  \
                     p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  writes {} (missing {})",
                    r["backend"].as_str().unwrap_or(""),
                    r["clients"],
                    r["requests"],
                    r["seconds"].as_f64().unwrap_or(0.0),
                    r["throughput_rps"].as_f64().unwrap_or(0.0),
                    r["p50_ms"].as_f64().unwrap_or(0.0),
                    r["p99_ms"].as_f64().unwrap_or(0.0),
                    r["errors"],
                    r["writes"],
                    r["writes_missing"],
                );
                for o in r["ops"].as_array().into_iter().flatten() {
                    println!(
                        "          {:<7} {:>6}  p50 {:>7.2} ms  p99 {:>7.2} ms",
                        o["op"].as_str().unwrap_or(""),
                        o["count"],
                        o["p50_ms"].as_f64().unwrap_or(0.0),
                        o["p99_ms"].as_f64().unwrap_or(0.0),
                    );
                }
            }
            results.push(r);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    let bad = results
        .iter()
        .any(|r| r["errors"] != 0 || r["writes_missing"] != 0);
    if bad {
        bail!("errors or missing writes (see above)");
    }
    Ok(())
}
