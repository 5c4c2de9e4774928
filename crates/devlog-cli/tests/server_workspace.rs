//! Workspaces on PostgreSQL and MariaDB set up exactly as docs/storage.md says — `[storage]` in
//! `devlog.toml`, or `DEVLOG_STORAGE_TYPE` + `DATABASE_URL` — driven through the built `devlog`
//! binary with the README's commands, from the workspace root, a subfolder and `--dir`; and
//! `devlog mcp` saying on stderr which log it serves.
//!
//! Server URLs come from `DEVLOG_TEST_POSTGRES_URL` and `DEVLOG_TEST_MYSQL_URL`; without them
//! the server tests print why and pass. Every test works in its own database, created at its
//! start and dropped at its end (named `dlt_<secs>_…` like the store's server tests, whose
//! clean-up also drops databases a killed run left behind).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, Executor};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Postgres,
    Mysql,
}

impl Kind {
    fn env(self) -> &'static str {
        match self {
            Kind::Postgres => "DEVLOG_TEST_POSTGRES_URL",
            Kind::Mysql => "DEVLOG_TEST_MYSQL_URL",
        }
    }

    /// The backend name the docs use in `type = ...` and `DEVLOG_STORAGE_TYPE`.
    fn backend(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn admin_exec(kind: Kind, admin: &str, sql: String) {
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
            c.execute(AssertSqlSafe(sql)).await.unwrap();
            let _ = c.close().await;
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(admin).await.unwrap();
            c.execute(AssertSqlSafe(sql)).await.unwrap();
            let _ = c.close().await;
        }
    }
}

/// `url` with another database (the path), keeping the query.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    format!("{scheme}://{authority}/{name}{query}")
}

/// One fresh database for one test, dropped when the test ends (also when it fails).
struct TestDb {
    kind: Kind,
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    /// `None` (after saying why the test is skipped) when the server is not configured.
    fn create(kind: Kind, test: &str) -> Option<TestDb> {
        let admin = match std::env::var(kind.env()) {
            Ok(u) if !u.trim().is_empty() => u,
            _ => {
                eprintln!(
                    "skipping {test}: {} is not set (e.g. {}); .ci/run sets it",
                    kind.env(),
                    match kind {
                        Kind::Postgres => "postgres://postgres@127.0.0.1:5432/test",
                        Kind::Mysql => "mysql://root@127.0.0.1:3306/test",
                    }
                );
                return None;
            }
        };
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let tag: String = test
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(24)
            .collect();
        let name = format!(
            "dlt_{secs}_{}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8],
            tag.to_ascii_lowercase()
        );
        let create = match kind {
            Kind::Postgres => format!("CREATE DATABASE \"{name}\""),
            Kind::Mysql => {
                format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            }
        };
        rt().block_on(admin_exec(kind, &admin, create));
        let url = with_database(&admin, &name);
        Some(TestDb {
            kind,
            admin,
            name,
            url,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = match self.kind {
            Kind::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            Kind::Mysql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        rt().block_on(admin_exec(self.kind, &self.admin, sql));
    }
}

/// How the workspace names its database: the two ways docs/storage.md describes.
#[derive(Debug, Clone, Copy)]
enum Setup {
    /// `[storage] type = "..."`, `url = "${DATABASE_URL}"` in `devlog.toml` at the root.
    Toml,
    /// `DEVLOG_STORAGE_TYPE` and `DATABASE_URL` in the environment, no configuration file.
    Env,
}

struct Workspace {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    db: TestDb,
    setup: Setup,
}

impl Workspace {
    /// A git repository with a `src/deep` subfolder, configured for `db` the `setup` way.
    fn new(db: TestDb, setup: Setup) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("project");
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        let o = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(o.status.success(), "git init");
        if let Setup::Toml = setup {
            std::fs::write(
                root.join("devlog.toml"),
                format!(
                    "[storage]\ntype = \"{}\"\nurl = \"${{DATABASE_URL}}\"\n",
                    db.kind.backend()
                ),
            )
            .unwrap();
        }
        Workspace {
            _tmp: tmp,
            root,
            db,
            setup,
        }
    }

    fn cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("DATABASE_URL", &self.db.url)
            .stdin(Stdio::null());
        if let Setup::Env = self.setup {
            c.env("DEVLOG_STORAGE_TYPE", self.db.kind.backend());
        }
        c
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(dir, args).output().unwrap()
    }

    /// Runs in `dir` and expects success; returns stdout.
    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.run(dir, args);
        assert!(
            o.status.success(),
            "devlog {args:?} in {} failed ({:?}):\n{}\n{}",
            dir.display(),
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, dir: &Path, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(dir, &a);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("devlog {args:?} --json is not JSON ({e}):\n{out}"))
    }
}

/// The README's command list against a server-backed workspace: every command finds the
/// workspace (root, subfolder, `--dir`), and they all see the same database.
fn readme_commands(kind: Kind, setup: Setup, test: &str) {
    let Some(db) = TestDb::create(kind, test) else {
        return;
    };
    let ws = Workspace::new(db, setup);
    let root = ws.root.clone();
    let deep = root.join("src/deep");

    if let Setup::Toml = setup {
        // A fresh clone with the committed devlog.toml is a workspace before any `init`.
        let page = ws.json(&deep, &["list"]);
        assert_eq!(page.as_array().map(Vec::len), Some(0), "{page}");
    }

    let out = ws.ok(&deep, &["init"]);
    assert!(out.contains("Initialized devlog in"), "{out}");
    assert!(
        out.contains(&format!("{} backend", kind.backend())),
        "{out}"
    );
    assert!(out.contains(&ws.db.name), "names the database: {out}");
    // `init` leaves the workspace marker at the repository root, state kept out of git.
    let ignore = std::fs::read_to_string(root.join(".devlog/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == ".state/"), "{ignore}");
    assert!(!deep.join(".devlog").exists());
    assert!(
        !root.join(".devlog/entries").exists(),
        "entries live in the database"
    );
    let again = ws.ok(&root, &["init"]);
    assert!(again.contains("already initialized"), "{again}");

    let out = ws.ok(
        &deep,
        &[
            "new",
            "Add CSV export",
            "--type",
            "feature",
            "--priority",
            "high",
            "--description",
            "Users want their data",
            "--criteria",
            "exports 10k rows",
            "--tag",
            "export",
        ],
    );
    assert!(out.contains("Created #1 Add CSV export"), "{out}");
    let out = ws.ok(&deep, &["list"]);
    assert!(out.contains("Add CSV export"), "{out}");
    let page = ws.json(
        &root,
        &[
            "list", "--status", "new", "--type", "feature", "--tag", "export",
        ],
    );
    assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
    let out = ws.ok(&deep, &["show", "1"]);
    assert!(out.contains("Add CSV export"), "{out}");
    ws.ok(
        &deep,
        &["edit", "1", "--status", "in-progress", "--assignee", "ana"],
    );
    let page = ws.json(&root, &["list", "--assignee", "ana"]);
    assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
    ws.ok(
        &deep,
        &[
            "note",
            "1",
            "streaming writer done",
            "--category",
            "progress",
            "--file",
            "src/export.rs",
        ],
    );
    ws.ok(
        &deep,
        &[
            "decide",
            "1",
            "Use the csv crate",
            "--rationale",
            "well kept",
            "--alternative",
            "hand-written",
        ],
    );
    ws.ok(&deep, &["done", "1", "--summary", "shipped in 1.4"]);
    let out = ws.ok(&deep, &["search", "csv", "writer"]);
    assert!(out.contains("Add CSV export"), "{out}");
    let stats = ws.json(&deep, &["stats"]);
    assert_eq!(stats["total"], 1, "{stats}");
    ws.ok(&deep, &["context"]);
    let events = ws.json(&deep, &["events", "--since", "0"]);
    let n = events.as_array().map_or(0, Vec::len);
    assert!(n >= 5, "create, edit, note, decision, done: {events}");

    // `--dir` names the workspace explicitly, from anywhere.
    let entry = ws.json(&root, &["--dir", ".", "show", "1"]);
    assert_eq!(entry["status"], "done", "{entry}");
    let elsewhere = tempfile::tempdir().unwrap();
    let entry = ws.json(
        elsewhere.path(),
        &["--dir", root.to_str().unwrap(), "show", "1"],
    );
    assert_eq!(entry["title"], "Add CSV export", "{entry}");
    assert!(
        entry["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["content"] == "streaming writer done"),
        "{entry}"
    );
}

#[test]
fn postgres_workspace_configured_in_devlog_toml_runs_every_readme_command() {
    readme_commands(
        Kind::Postgres,
        Setup::Toml,
        "postgres_workspace_configured_in_devlog_toml_runs_every_readme_command",
    );
}

#[test]
fn postgres_workspace_configured_by_environment_runs_every_readme_command() {
    readme_commands(
        Kind::Postgres,
        Setup::Env,
        "postgres_workspace_configured_by_environment_runs_every_readme_command",
    );
}

#[test]
fn mysql_workspace_configured_in_devlog_toml_runs_every_readme_command() {
    readme_commands(
        Kind::Mysql,
        Setup::Toml,
        "mysql_workspace_configured_in_devlog_toml_runs_every_readme_command",
    );
}

#[test]
fn mysql_workspace_configured_by_environment_runs_every_readme_command() {
    readme_commands(
        Kind::Mysql,
        Setup::Env,
        "mysql_workspace_configured_by_environment_runs_every_readme_command",
    );
}

/// A folder whose devlog.toml names a file backend is not a workspace until it has `.devlog`.
#[test]
fn a_devlog_toml_naming_the_json_backend_is_no_workspace_without_devlog_folder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("devlog.toml"),
        "[storage]\ntype = \"json\"\n",
    )
    .unwrap();
    let o = Command::new(BIN)
        .arg("list")
        .current_dir(tmp.path())
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no .devlog folder"));
}

// ---- devlog mcp: where the log is --------------------------------------------------------

/// Runs `devlog mcp` with standard input closed and returns its stderr. Without a client
/// the MCP session cannot start, so the process ends at once (with an error saying so); what
/// it printed before tells where the log is.
fn mcp_stderr(cmd: &mut Command) -> String {
    let o = cmd
        .arg("mcp")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn mcp_without_devlog_folder_says_on_stderr_where_it_created_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let deep = root.join("src/deep");
    std::fs::create_dir_all(&deep).unwrap();
    assert!(
        Command::new("git")
            .args(["init", "-q"])
            .current_dir(&root)
            .status()
            .unwrap()
            .success()
    );
    let mut cmd = Command::new(BIN);
    cmd.current_dir(&deep)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE");
    let err = mcp_stderr(&mut cmd);
    let created = root.join(".devlog");
    assert!(
        err.contains(&format!(
            "created a new, empty log in {}",
            created.display()
        )),
        "{err}"
    );
    assert!(err.contains("json backend"), "{err}");
    // Like the CLI: at the git root, not in the folder the client started it in.
    assert!(created.is_dir());
    assert!(!deep.join(".devlog").exists());

    let mut cmd = Command::new(BIN);
    cmd.current_dir(&deep)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE");
    let err = mcp_stderr(&mut cmd);
    assert!(
        err.contains(&format!("serving the log in {}", created.display())),
        "{err}"
    );

    // DEVLOG_DIR replaces the search, as for every command.
    let other = tmp.path().join("other");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(&deep)
        .env("DEVLOG_DIR", &other)
        .env_remove("DEVLOG_STORAGE_TYPE");
    let err = mcp_stderr(&mut cmd);
    assert!(
        err.contains(&other.join(".devlog").display().to_string()),
        "{err}"
    );
}

#[test]
fn mcp_and_serve_on_a_postgres_workspace_name_the_database_on_stderr() {
    let Some(db) = TestDb::create(
        Kind::Postgres,
        "mcp_on_a_postgres_workspace_names_the_database_on_stderr",
    ) else {
        return;
    };
    let ws = Workspace::new(db, Setup::Env);
    let deep = ws.root.join("src/deep");
    let mut cmd = ws.cmd(&deep, &[]);
    let err = mcp_stderr(&mut cmd);
    assert!(err.contains("serving the log in"), "{err}");
    assert!(err.contains(&ws.db.name), "{err}");
    assert!(err.contains("postgres backend"), "{err}");
    assert!(
        !ws.root.join(".devlog").exists(),
        "nothing created for a server log"
    );

    // `devlog serve` names the database the same way, not a `.devlog` folder.
    let mut child = ws
        .cmd(&deep, &["serve", "--port", "0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("devlog server listening on"), "{first}");
    assert!(first.contains(&ws.db.name), "{first}");
    assert!(first.contains("postgres backend"), "{first}");
}
