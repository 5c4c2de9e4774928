//! The web dashboard in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`) against a real `devlog serve` process, with CLI
//! processes writing beside it. Opens every page, filters the list, creates an entry through
//! the form (and sees the API's validation message), moves a card on the board, sees a CLI
//! change appear live, checks narrow and wide screens, runs the axe-core accessibility
//! checker on the main pages, and saves a screenshot of each page under
//! `$CARGO_TARGET_DIR/dashboard-screenshots/` (docs/img/ has copies).
//!
//! Skips with a message when `DEVLOG_TEST_CHROMEDRIVER` (the chromedriver to run) is unset;
//! `.ci/run` sets it, and `DEVLOG_TEST_AXE` (axe.min.js from the axe-core npm package).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
/// Guards against a hang; not a timing assertion.
const HANG: Duration = Duration::from_secs(30);
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn devlog(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    c
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = devlog(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "devlog {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP request with a JSON body (`Connection: close`; the body read by its length, as
/// chromedriver may keep the connection open); the status and the body as JSON.
fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, Value::Null);
    };
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, Value::Null);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())
                    .flatten()
            });
            if length.is_some_and(|len| rest.len() >= len) {
                break;
            }
        }
    }
    let out = String::from_utf8_lossy(&out);
    let Some((head, body)) = out.split_once("\r\n\r\n") else {
        return (0, Value::Null); // closed without an answer (chromedriver starting)
    };
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A WebDriver session (the W3C protocol over plain HTTP to chromedriver).
struct Browser {
    driver: SocketAddr,
    session: String,
    base: String,
    shots: PathBuf,
    _process: Killed,
}

impl Browser {
    fn start(chromedriver: &str, base: String, shots: PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Killed(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let driver: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect(driver).is_err()
            || request(driver, "GET", "/status", None).1["value"]["ready"] != json!(true)
        {
            assert!(start.elapsed() < HANG, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let (status, v) = request(
            driver,
            "POST",
            "/session",
            Some(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": std::env::var("DEVLOG_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                    "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                             "--no-first-run", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync",
                             "--disable-dev-shm-usage", "--hide-scrollbars",
                             format!("--user-data-dir={}", profile.display())],
                },
            }}})),
        );
        assert_eq!(status, 200, "new WebDriver session: {v}");
        let session = v["value"]["sessionId"].as_str().unwrap().to_string();
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            driver,
            session,
            base,
            shots,
            _process: process,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = request(
            self.driver,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        );
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    fn go(&self, path: &str) {
        self.cmd(
            "POST",
            "/url",
            Some(json!({"url": format!("{}{path}", self.base)})),
        );
    }

    fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        );
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/text"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_string()
    }

    /// Polls `script` (returning a boolean) until true; the test fails after [`HANG`].
    fn wait_for(&self, what: &str, script: &str) {
        let start = Instant::now();
        loop {
            if self.js(script, json!([])) == json!(true) {
                return;
            }
            assert!(
                start.elapsed() < HANG,
                "waited in vain for {what}; the page ({}) reads:\n{}",
                self.url(),
                self.js(
                    "return document.body.innerText + '\\n[resources] ' + performance.getEntriesByType('resource').map(e => e.name + ' ' + e.responseStatus).join(' ')",
                    json!([])
                )
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, name: &str) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        std::fs::write(self.shots.join(name), png).unwrap();
    }

    /// Runs axe-core's WCAG 2 A/AA rules on the page; fails naming every violation.
    fn axe(&self, axe_source: Option<&str>, page: &str) {
        let Some(src) = axe_source else { return };
        self.js(src, json!([]));
        let v = self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": "const done = arguments[arguments.length - 1];\
                axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})\
                .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
                .catch(e => done(['axe failed: ' + e]));", "args": []})),
        );
        let violations: Vec<String> = serde_json::from_value(v).unwrap();
        assert!(
            violations.is_empty(),
            "accessibility violations on {page}:\n{}",
            violations.join("\n")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(
            self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in chunk {
            n = (n << 6) | if c == b'=' { 0 } else { val(c) };
        }
        n <<= 6 * (4 - chunk.len()) as u32;
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    out
}

/// Starts `devlog serve --port 0` in `dir`; its address.
fn serve(dir: &Path) -> (Killed, SocketAddr) {
    let mut child = devlog(dir, &["serve", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let served = Killed(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(HANG)
            .expect("devlog serve announces its address");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            // Keep draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (served, addr);
        }
    }
}

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let Ok(chromedriver) = std::env::var("DEVLOG_TEST_CHROMEDRIVER") else {
        eprintln!(
            "skipping the browser test: set DEVLOG_TEST_CHROMEDRIVER to a chromedriver \
             (Debian: apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    };
    let axe = std::env::var("DEVLOG_TEST_AXE").ok().map(|p| {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("DEVLOG_TEST_AXE {p}: {e}"))
    });
    if axe.is_none() {
        eprintln!("no accessibility checks: set DEVLOG_TEST_AXE to axe.min.js (npm axe-core)");
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    run(
        dir,
        &[
            "new",
            "Add CSV export",
            "--type",
            "feature",
            "--priority",
            "high",
            "--tag",
            "export",
            "--description",
            "Export **entries** as CSV.\n\n<script>window.__xss = 1</script>\n\n[bad](javascript:window.__xss=2)",
        ],
    );
    run(
        dir,
        &[
            "new",
            "Fix login timeout",
            "--type",
            "bugfix",
            "--priority",
            "critical",
            "--tag",
            "auth",
        ],
    );
    run(
        dir,
        &[
            "new",
            "Write the onboarding guide",
            "--type",
            "docs",
            "--tag",
            "docs",
        ],
    );
    run(
        dir,
        &["edit", "2", "--status", "in-progress", "--assignee", "ana"],
    );
    run(dir, &["note", "2", "Reproduced with a 5 minute session."]);
    let (_server, addr) = serve(dir);
    let shots = PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").into()),
    )
    .join("dashboard-screenshots");
    let b = Browser::start(&chromedriver, format!("http://{addr}"), shots);
    b.size(1280, 900);

    // The overview: counts, active work.
    b.go("/");
    assert_eq!(b.text("h1"), "Overview");
    let active = b.text("#active-h + ul");
    assert!(active.contains("Fix login timeout"), "{active}");
    b.screenshot("overview.png");
    b.axe(axe.as_deref(), "the overview");

    // The list, filtered through its form; the state is in the URL.
    b.go("/entries");
    b.type_into("#f-tag", "export");
    b.click(".filters button[type=submit]");
    b.wait_for(
        "the filtered list",
        "return location.search.includes('tag=export')",
    );
    let rows = b.text(".entries-table tbody");
    assert!(
        rows.contains("Add CSV export") && !rows.contains("Fix login"),
        "{rows}"
    );
    b.go("/entries?q=login");
    let rows = b.text(".entries-table tbody");
    assert!(
        rows.contains("Fix login timeout") && !rows.contains("CSV"),
        "{rows}"
    );
    b.go("/entries");
    b.screenshot("list.png");
    b.axe(axe.as_deref(), "the list");

    // An entry: Markdown rendered, its script shown as text and never run.
    b.click("a[href='/entries/1']");
    b.wait_for(
        "the entry page",
        "return document.querySelector('h1').textContent === 'Add CSV export'",
    );
    let desc = b.text("#desc-h + .md");
    assert!(desc.contains("<script>window.__xss = 1</script>"), "{desc}");
    assert_eq!(
        b.js(
            "return [window.__xss === undefined, document.querySelector('.md strong').textContent]",
            json!([])
        ),
        json!([true, "entries"])
    );
    b.click("#desc-h + .md a");
    assert_eq!(
        b.js("return window.__xss === undefined", json!([])),
        json!(true)
    );
    b.go("/entries/2");
    b.screenshot("entry.png");
    b.axe(axe.as_deref(), "an entry");

    // The create form: the API's validation message, then a new entry.
    b.go("/entries/new");
    b.click("#entry-form button[type=submit]");
    b.wait_for(
        "the validation message",
        "return !document.getElementById('form-error').hidden",
    );
    let shown = b.text("#form-error");
    let (status, api) = request(
        addr,
        "POST",
        "/api/v1/entries",
        Some(&json!({"title": "", "type": "task", "priority": "medium", "status": "new"})),
    );
    assert_eq!(status, 422, "{api}");
    assert!(
        shown.contains(api["error"]["message"].as_str().unwrap()),
        "form shows {shown:?}, the API says {api}"
    );
    b.screenshot("form.png");
    b.axe(axe.as_deref(), "the form");
    b.type_into("#title", "Made in the browser");
    b.type_into("#tags", "web, ui");
    b.type_into("#acceptanceCriteria", "opens\ncloses");
    b.click("#entry-form button[type=submit]");
    b.wait_for(
        "the new entry's page",
        "return location.pathname === '/entries/4'",
    );
    let (_, made) = request(addr, "GET", "/api/v1/entries/4", None);
    assert_eq!(made["title"], "Made in the browser");
    assert_eq!(made["tags"], json!(["web", "ui"]));
    assert_eq!(
        made["context"]["acceptanceCriteria"],
        json!(["opens", "closes"])
    );

    // The board: move the new entry's card with its keyboard-usable menu. Arrowing through
    // the menu moves nothing; the Move button applies the status chosen.
    b.go("/board");
    b.wait_for(
        "the live stream",
        "return document.body.dataset.live === 'on'",
    );
    let id = made["id"].as_str().unwrap().to_string();
    let menu = b.find(&format!("#move-{id}"));
    b.cmd(
        "POST",
        &format!("/element/{menu}/value"),
        Some(json!({"text": "\u{E015}\u{E015}"})),
    );
    let chosen = b.js(
        "return document.getElementById(arguments[0]).value",
        json!([format!("move-{id}")]),
    );
    assert_ne!(chosen, json!("new"), "the arrow keys reached the menu");
    // A move would have been sent at once; give a wrongly sent one time to land.
    std::thread::sleep(Duration::from_millis(500));
    let (_, still) = request(addr, "GET", "/api/v1/entries/4", None);
    assert_eq!(
        still["status"], "new",
        "arrowing through the menu moved the card"
    );
    b.cmd(
        "POST",
        &format!("/element/{menu}/value"),
        Some(json!({"text": "in-review"})),
    );
    b.click(&format!(".move[data-id='{id}'] button"));
    b.wait_for(
        "the card in the in-review column",
        "return !!document.querySelector(\"section[data-status='in-review'] a[href='/entries/4']\")",
    );
    let (_, moved) = request(addr, "GET", "/api/v1/entries/4", None);
    assert_eq!(moved["status"], "in-review");
    b.screenshot("board.png");
    b.axe(axe.as_deref(), "the board");

    // Live: a CLI process changes an entry; the open page shows it without a reload.
    b.go("/entries/3");
    b.wait_for(
        "the live stream",
        "return document.body.dataset.live === 'on'",
    );
    b.js("window.__same_page = true", json!([]));
    run(
        dir,
        &[
            "edit",
            "3",
            "--status",
            "blocked",
            "--title",
            "Write the onboarding guide (CLI)",
        ],
    );
    b.wait_for(
        "the CLI's change on the page",
        "return document.querySelector('h1').textContent === 'Write the onboarding guide (CLI)'",
    );
    assert_eq!(
        b.js("return window.__same_page === true", json!([])),
        json!(true),
        "no reload"
    );
    assert!(b.text(".badges").contains("blocked"));

    // Reports: the index, then one report through its query form (the query lands in the URL).
    b.go("/reports");
    assert_eq!(b.text("h1"), "Reports");
    b.screenshot("reports.png");
    b.axe(axe.as_deref(), "the reports");
    b.click("a[href='/reports/throughput']");
    b.wait_for(
        "the throughput report",
        "return document.querySelector('h1').textContent === 'Throughput'",
    );
    let by = b.find("#r-by");
    b.cmd(
        "POST",
        &format!("/element/{by}/value"),
        Some(json!({"text": "day"})),
    );
    b.click(".report-form button[type=submit]");
    b.wait_for(
        "the report by day",
        "return location.search.includes('by=day')",
    );
    assert!(
        b.js(
            "return document.querySelectorAll('svg.chart').length",
            json!([])
        )
        .as_u64()
        .unwrap()
            >= 1
    );
    let table = b.text(".report-section table");
    assert!(table.contains("Created"), "{table}");
    b.screenshot("report.png");
    b.axe(axe.as_deref(), "a report");
    b.go("/reports/cycle-time");
    b.screenshot("report-cycle-time.png");

    // Sync: no integration here, so the page says how to configure one.
    b.go("/sync");
    assert!(b.text("#how-h").contains("Configuring"));
    b.screenshot("sync.png");
    b.axe(axe.as_deref(), "the sync page");

    // Workflows: the page lists a manual one; its Run button runs it on an entry and the
    // run page shows the steps.
    let wf = dir.join(".devlog/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("triage.yml"),
        "name: triage\ndescription: Ask for triage\non:\n  manual:\nsteps:\n  - add_note: { category: progress, text: \"triage requested\" }\n",
    )
    .unwrap();
    b.go("/workflows");
    assert!(b.text("#wf-list-h").contains("Workflows"));

    b.axe(axe.as_deref(), "the workflows page");
    assert!(
        b.js(
            "return !!document.querySelector(\"form.run-workflow[data-workflow='triage'] button\")",
            json!([])
        ) == json!(true),
        "the manual workflow has its Run button"
    );
    // The Run button's POST comes from a page reached after some twenty others: while the
    // pages left kept their event streams open in the back/forward cache, the six
    // connections HTTP/1.1 allows were all taken and this request waited forever.
    b.type_into(
        "form.run-workflow[data-workflow='triage'] input[name='entry']",
        "2",
    );
    b.click("form.run-workflow[data-workflow='triage'] button");
    b.wait_for(
        "the run page",
        "return location.pathname.startsWith('/workflows/runs/') && document.body.textContent.includes('succeeded')",
    );
    b.screenshot("workflow-run.png");
    b.axe(axe.as_deref(), "a workflow run page");
    // A page left closes its event stream; back from the cache it listens again.
    b.go("/workflows");
    b.cmd("POST", "/back", Some(json!({})));
    b.wait_for(
        "the run page, live again after going back",
        "return location.pathname.startsWith('/workflows/runs/') && document.body.dataset.live === 'on'",
    );
    b.go("/workflows");
    b.screenshot("workflows.png");

    // A phone's width: nothing wider than the screen; and a 4K screen.
    b.size(360, 780);
    for page in [
        "/",
        "/entries",
        "/entries/2",
        "/board",
        "/entries/new",
        "/reports",
        "/reports/throughput",
        "/reports/sync-health",
        "/sync",
        "/workflows",
    ] {
        b.go(page);
        let fits = b.js(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            json!([]),
        );
        assert_eq!(fits, json!(true), "{page} is wider than 360 px");
    }
    b.go("/entries");
    b.screenshot("list-360.png");
    b.go("/board");
    b.screenshot("board-360.png");
    b.size(3840, 2160);
    b.go("/");
    let fits = b.js(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
        json!([]),
    );
    assert_eq!(fits, json!(true), "the overview at 4K");
    // Text grows on a 4K screen (125%), content is capped and centred.
    let px = b.js(
        "return parseFloat(getComputedStyle(document.documentElement).fontSize)",
        json!([]),
    );
    assert_eq!(px.as_f64(), Some(20.0), "root font size at 3840 px");
    b.screenshot("overview-4k.png");
    let _ = b.url();
}
