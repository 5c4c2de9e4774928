//! The original devlog's configuration (`devlog.config.json` and its environment variables)
//! read by the real binary: what it is translated to, what is reported on stderr, that its
//! GitHub, Jira and Azure DevOps blocks check and sync (each against its fake), `devlog config
//! migrate`, and `devlog config show` naming where each effective value came from.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};

use devlog_testkit::fake_github::{self, FakeGithub};
use devlog_testkit::fake_github_graphql::{FakeGithubGraphql, check_graphql_requests};
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
/// The token written in the enterprise fixture.
const TOKEN: &str = "ghp_original_fixture_token_7c1d";
const SECRETS: &[&str] = &[
    TOKEN,
    "ATATT3xFfGF0_jira_fixture_secret",
    "ado_fixture_pat_9q8w7e",
    "xoxb-fixture-slack-token",
];

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/original-config")
        .join(name)
        .join("devlog.config.json");
    std::fs::read_to_string(p).unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs the binary in `dir` with only the variables given (plus the harmless ones).
async fn devlog(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().await.unwrap();
    let run = Run {
        code: o.status.code().unwrap(),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    };
    for s in SECRETS {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "devlog {args:?} printed a secret:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

async fn ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let r = devlog(dir, args, env).await;
    assert_eq!(
        r.code, 0,
        "devlog {args:?} failed:\n{}\n{}",
        r.stdout, r.stderr
    );
    r
}

fn project(config: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("widgets");
    std::fs::create_dir_all(dir.join(".devlog")).unwrap();
    std::fs::write(dir.join("devlog.config.json"), config).unwrap();
    (tmp, dir)
}

#[tokio::test]
async fn config_show_translates_the_original_github_block_and_reports_the_rest_once() {
    let (_tmp, dir) = project(&fixture("enterprise"));
    let r = ok(&dir, &["config", "show", "--json"], &[]).await;
    let v = r.json();
    // storage.strategy "local-sqlite" → the sqlite backend, at the original's file path.
    assert_eq!(v["backend"], "sqlite");
    assert_eq!(v["settings"]["storage.type"]["value"], "sqlite");
    assert_eq!(
        v["settings"]["storage.type"]["source"]["key"],
        "storage.strategy"
    );
    assert!(
        v["location"]
            .as_str()
            .unwrap()
            .ends_with(".devlog/devlog.db"),
        "{v}"
    );
    // owner/repo/token/projectId → our keys; the token redacted.
    let gh = &v["integrations"]["github"];
    assert_eq!(gh["repository"], "acme/widgets", "{v}");
    assert_eq!(gh["token"], "***", "{v}");
    assert_eq!(gh["projectId"], "PVT_kwDOBqNjSs4AcqjJ", "{v}");
    assert!(gh.get("owner").is_none() && gh.get("repo").is_none(), "{v}");
    assert_eq!(
        v["settings"]["integrations.github.repository"]["source"]["key"],
        "integrations.github.owner + integrations.github.repo"
    );
    // Jira's keys are this version's: an integration, the token redacted.
    let jira = &v["integrations"]["jira"];
    assert_eq!(jira["baseUrl"], "https://acme.atlassian.net", "{v}");
    assert_eq!(jira["projectKey"], "WID", "{v}");
    assert_eq!(jira["userEmail"], "dev@acme.example", "{v}");
    assert_eq!(jira["apiToken"], "***", "{v}");
    assert!(
        v.get("unavailable").and_then(|u| u.get("jira")).is_none(),
        "{v}"
    );
    // Azure DevOps' keys are read as they are, as [integrations.ado] (the alias of
    // azure-devops), the token redacted.
    let ado = &v["integrations"]["ado"];
    assert_eq!(ado["organization"], "acme", "{v}");
    assert_eq!(ado["project"], "widgets", "{v}");
    assert_eq!(ado["personalAccessToken"], "***", "{v}");
    assert!(v.get("unavailable").is_none(), "{v}");

    // stderr: what it was translated to, once; unused keys named.
    let e = &r.stderr;
    let once = |needle: &str| {
        assert_eq!(e.matches(needle).count(), 1, "`{needle}` once in:\n{e}");
    };
    once("storage.strategy \"local-sqlite\" → [storage] type = \"sqlite\"");
    once("[integrations.github] repository = \"acme/widgets\"");
    once("devlog config migrate");
    once("integrations.jira.apiToken → [integrations.jira] apiToken (secret, not shown)");
    once("integrations.jira.projectKey → [integrations.jira] projectKey = \"WID\"");
    assert!(!e.contains("Jira is not available"), "{e}");
    once(
        "integrations.ado.personalAccessToken → [integrations.ado] personalAccessToken (secret, not shown)",
    );
    once("integrations.ado.organization → [integrations.ado] organization = \"acme\"");
    assert!(!e.contains("is not available"), "{e}");
    for key in [
        "integrations.github.projectNumber",
        "integrations.slack",
        "syncStrategy.syncInterval",
        "syncStrategy.autoSync",
        "workspaceRoot",
        "workspaceId",
    ] {
        assert!(e.contains(key), "unused key {key} not named:\n{e}");
    }
    once("syncStrategy.conflictResolution \"local-wins\" → [sync] strategy = \"local-wins\"");
    assert_eq!(v["settings"]["sync.strategy"]["value"], "local-wins", "{v}");

    // Human output: the effective values and their sources, no contradicting JSON block.
    let text = ok(&dir, &["config", "show"], &[]).await.stdout;
    assert!(text.contains("integrations.github.repository"), "{text}");
    assert!(text.contains("acme/widgets"), "{text}");
    assert!(text.contains("(storage.strategy)"), "{text}");
    assert!(!text.contains("\"json\""), "{text}");
}

#[tokio::test]
async fn storage_type_github_becomes_local_json_and_the_github_integration() {
    let (_tmp, dir) = project(&fixture("github-storage"));
    let r = ok(
        &dir,
        &["config", "show", "--json"],
        &[("GITHUB_TOKEN", TOKEN)],
    )
    .await;
    let v = r.json();
    assert_eq!(v["backend"], "json");
    let gh = &v["integrations"]["github"];
    assert_eq!(gh["repository"], "acme/widgets", "{v}");
    assert_eq!(gh["token"], "***", "{v}");
    // The original's labels were `devlog-priority:high`: the same labels here.
    assert_eq!(gh["labelPrefix"], "devlog-", "{v}");
    assert_eq!(gh["projectStatusField"], "Status", "{v}");
    assert_eq!(gh["projectPriorityField"], "Priority", "{v}");
    for key in [
        "storage.github.rateLimit",
        "storage.github.cache",
        "storage.github.mapping.useNativeType",
        "storage.github.mapping.projectFieldMappings.type",
    ] {
        assert!(
            r.stderr.contains(key),
            "unused key {key} not named:\n{}",
            r.stderr
        );
    }
}

/// The original's GitHub, Jira and Azure DevOps blocks all check and sync (each against its
/// fake).
#[tokio::test(flavor = "multi_thread")]
async fn github_jira_and_ado_blocks_check_and_sync() {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    // The fixture's projectId: the board new issues are put on.
    let board = FakeGithubGraphql::new(
        b.state(),
        gh.clone(),
        "acme/widgets",
        TOKEN,
        "PVT_kwDOBqNjSs4AcqjJ",
    );
    let remote = b.routes(gh.router().merge(board.router())).start().await;
    let jira = devlog_testkit::integration_conformance::JiraProbe::start("WID").await;
    let ado = devlog_testkit::fake_ado::AdoProbe::start(
        "acme",
        "widgets",
        devlog_testkit::fake_ado::FakeProcess::Agile,
    )
    .await;
    let mut cfg: Value = serde_json::from_str(&fixture("enterprise")).unwrap();
    cfg["integrations"]["github"]["apiUrl"] = remote.url().into();
    cfg["integrations"]["jira"]["baseUrl"] = jira.remote.url().into();
    // `organization` may be the organization's URL: the fake's.
    cfg["integrations"]["ado"]["organization"] = ado.organization_url().into();
    let (_tmp, dir) = project(&serde_json::to_string_pretty(&cfg).unwrap());

    let r = ok(&dir, &["integrations", "check", "--json"], &[]).await;
    let results = r.json();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 3, "{results:?}");
    for (r, name) in results.iter().zip(["azure-devops", "github", "jira"]) {
        assert_eq!(r["name"], name, "{results:?}");
        assert_eq!(r["ok"], true, "{results:?}");
    }

    ok(&dir, &["new", "Parser crash", "--type", "bugfix"], &[]).await;
    let r = ok(&dir, &["sync"], &[]).await;
    assert_eq!(gh.issues().len(), 1, "{}\n{}", r.stdout, r.stderr);
    let issues = jira.jira.issues();
    assert_eq!(issues.len(), 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(issues[0].summary, "Parser crash");
    assert_eq!(issues[0].issue_type, "Bug");
    assert!(jira.jira.check_contract().is_empty());
    let items = ado.ado.items();
    assert_eq!(items.len(), 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(items[0].str_field("System.Title"), "Parser crash");
    assert_eq!(items[0].type_name, "Bug");
    assert!(ado.ado.check_contract().is_empty());
    assert_eq!(gh.issues()[0].title, "Parser crash");
    assert_eq!(board.items().len(), 1, "the translated projectId is used");
    // Every request the binary made is one GitHub's API descriptions allow.
    let (graphql, rest): (Vec<_>, Vec<_>) = remote
        .requests()
        .into_iter()
        .partition(|r| r.path.ends_with("/graphql"));
    let mut violations = check_graphql_requests(&graphql);
    violations.extend(fake_github::check_requests(&rest));
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    remote.clear_requests();
}

/// The MCP tool `sync_with_github` over stdio, in a project whose devlog.config.json also
/// has Jira and Azure DevOps blocks (Jira's site is never contacted by a GitHub sync).
#[tokio::test(flavor = "multi_thread")]
async fn mcp_sync_with_github_is_not_blocked_by_jira_and_ado_blocks() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let mut cfg: Value = serde_json::from_str(&fixture("enterprise")).unwrap();
    let github = cfg["integrations"]["github"].as_object_mut().unwrap();
    github.insert("apiUrl".into(), remote.url().into());
    github.remove("projectId");
    let (_tmp, dir) = project(&serde_json::to_string_pretty(&cfg).unwrap());
    ok(&dir, &["new", "Add OAuth login", "--type", "feature"], &[]).await;

    let mut child = tokio::process::Command::new(BIN)
        .arg("mcp")
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut call = async |msg: Value| -> Option<Value> {
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        let id = msg.get("id")?.clone();
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the server answered");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return Some(v);
            }
        }
    };
    call(
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}}),
    )
    .await
    .unwrap();
    call(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let r = call(
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "sync_with_github", "arguments": {}}}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"]["isError"], false, "{r}");
    let issues = gh.issues();
    assert_eq!(issues.len(), 1, "{r}");
    assert_eq!(issues[0].title, "Add OAuth login");
    assert!(!r.to_string().contains(TOKEN));
}

#[tokio::test]
async fn config_migrate_writes_an_equivalent_devlog_toml_that_passes_config_check() {
    let (_tmp, dir) = project(&fixture("enterprise"));
    let toml_path = dir.join("devlog.toml");

    let dry = ok(&dir, &["config", "migrate", "--dry-run"], &[]).await;
    assert!(!toml_path.exists(), "--dry-run wrote the file");
    let parsed: toml::Table =
        toml::from_str(&dry.stdout).unwrap_or_else(|e| panic!("not TOML ({e}):\n{}", dry.stdout));
    assert_eq!(parsed["storage"]["type"].as_str(), Some("sqlite"));
    assert_eq!(
        parsed["storage"]["path"].as_str(),
        Some(".devlog/devlog.db")
    );
    let gh = &parsed["integrations"]["github"];
    assert_eq!(gh["repository"].as_str(), Some("acme/widgets"));
    assert_eq!(gh["projectId"].as_str(), Some("PVT_kwDOBqNjSs4AcqjJ"));
    // The literal token is not copied; it is read from the original's variable.
    assert_eq!(gh["token"].as_str(), Some("${GITHUB_TOKEN}"));
    assert_eq!(parsed["sync"]["strategy"].as_str(), Some("local-wins"));
    assert!(dry.stderr.contains("export GITHUB_TOKEN"), "{}", dry.stderr);
    // Jira and Azure DevOps are tables (their tokens read from JIRA_API_TOKEN and ADO_PAT).
    let integrations = parsed["integrations"].as_table().unwrap();
    assert_eq!(
        integrations.keys().collect::<Vec<_>>(),
        ["ado", "github", "jira"]
    );
    let ado = &parsed["integrations"]["ado"];
    assert_eq!(ado["personalAccessToken"].as_str(), Some("${ADO_PAT}"));
    assert_eq!(ado["organization"].as_str(), Some("acme"));
    assert_eq!(ado["project"].as_str(), Some("widgets"));
    assert!(dry.stderr.contains("export ADO_PAT"), "{}", dry.stderr);
    let jira = &parsed["integrations"]["jira"];
    assert_eq!(jira["apiToken"].as_str(), Some("${JIRA_API_TOKEN}"));
    assert_eq!(jira["projectKey"].as_str(), Some("WID"));
    assert!(
        dry.stderr.contains("export JIRA_API_TOKEN"),
        "{}",
        dry.stderr
    );
    assert!(
        !dry.stdout.contains("# [integrations.ado]"),
        "{}",
        dry.stdout
    );

    let written = ok(&dir, &["config", "migrate"], &[]).await;
    assert!(written.stdout.contains("devlog.toml"), "{}", written.stdout);
    assert_eq!(std::fs::read_to_string(&toml_path).unwrap(), dry.stdout);

    // An existing devlog.toml is not overwritten without --force.
    std::fs::write(&toml_path, "[storage]\ntype = \"json\"\n").unwrap();
    let refused = devlog(&dir, &["config", "migrate"], &[]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(
        std::fs::read_to_string(&toml_path).unwrap(),
        "[storage]\ntype = \"json\"\n"
    );
    ok(&dir, &["config", "migrate", "--force"], &[]).await;
    assert_eq!(std::fs::read_to_string(&toml_path).unwrap(), dry.stdout);

    // devlog.toml now wins: checked, same backend, and no more translation warnings.
    let check = ok(
        &dir,
        &["config", "check", "--json"],
        &[
            ("GITHUB_TOKEN", TOKEN),
            ("JIRA_API_TOKEN", "jira_env_token"),
            ("ADO_PAT", "ado_env_pat"),
        ],
    )
    .await;
    let c = check.json();
    assert_eq!(c["ok"], true);
    assert_eq!(c["backend"], "sqlite");
    assert_eq!(c["integrations"], 3);
    assert!(
        !check.stderr.contains("original devlog"),
        "{}",
        check.stderr
    );
}

#[tokio::test]
async fn config_show_names_the_environment_when_it_overrides_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join(".devlog")).unwrap();
    std::fs::write(dir.join("devlog.toml"), "[storage]\ntype = \"json\"\n").unwrap();
    let r = ok(
        dir,
        &["config", "show", "--json"],
        &[("DEVLOG_STORAGE_TYPE", "sqlite")],
    )
    .await;
    let v = r.json();
    assert_eq!(v["backend"], "sqlite");
    let t = &v["settings"]["storage.type"];
    assert_eq!(t["value"], "sqlite", "{v}");
    assert_eq!(t["source"]["from"], "env", "{v}");
    assert_eq!(t["source"]["variables"][0], "DEVLOG_STORAGE_TYPE", "{v}");
    assert_eq!(v["settings"]["storage.path"]["source"]["from"], "default");
    // Nothing in the output says the backend is json.
    assert!(!r.stdout.contains("\"json\""), "{}", r.stdout);

    std::fs::write(
        dir.join("devlog.toml"),
        "[storage]\ntype = \"postgres\"\nurl = \"postgres://fileuser:filepw@filehost/db\"\n",
    )
    .unwrap();
    let env = [
        ("DEVLOG_STORAGE_TYPE", "postgres"),
        ("DATABASE_URL", "postgres://envuser:envpw@envhost/db"),
    ];
    let v = ok(dir, &["config", "show", "--json"], &env).await.json();
    let url = &v["settings"]["storage.url"];
    assert_eq!(url["value"], "postgres://envuser:***@envhost/db", "{v}");
    assert_eq!(url["source"]["variables"][0], "DATABASE_URL", "{v}");
    let text = v.to_string();
    assert!(
        !text.contains("filehost") && !text.contains("envpw"),
        "{text}"
    );
    // Without the override the file's URL is used, and said to be.
    let v = ok(
        dir,
        &["config", "show", "--json"],
        &[("DATABASE_URL", "postgres://envuser:envpw@envhost/db")],
    )
    .await
    .json();
    let url = &v["settings"]["storage.url"];
    assert_eq!(url["value"], "postgres://fileuser:***@filehost/db", "{v}");
    assert_eq!(url["source"]["key"], "storage.url", "{v}");
    let human = ok(dir, &["config", "show"], &env).await.stdout;
    assert!(
        human.contains("environment (DEVLOG_STORAGE_TYPE)"),
        "{human}"
    );
    assert!(human.contains("environment (DATABASE_URL)"), "{human}");
}

#[tokio::test]
async fn the_original_environment_variables_configure_github_and_jira() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join(".devlog")).unwrap();
    let env = [
        ("GITHUB_OWNER", "acme"),
        ("GITHUB_REPO", "widgets"),
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_PROJECT_ID", "PVT_env"),
        ("JIRA_BASE_URL", "https://acme.atlassian.net"),
        ("JIRA_EMAIL", "dev@acme.example"),
        ("JIRA_API_TOKEN", "ATATT3xFfGF0_jira_fixture_secret"),
    ];
    let r = ok(dir, &["config", "show", "--json"], &env).await;
    let v = r.json();
    assert_eq!(v["integrations"]["github"]["repository"], "acme/widgets");
    assert_eq!(v["integrations"]["github"]["token"], "***");
    assert_eq!(v["integrations"]["github"]["projectId"], "PVT_env");
    assert_eq!(
        v["settings"]["integrations.github.token"]["via"],
        "${GITHUB_TOKEN}"
    );
    assert_eq!(
        v["settings"]["integrations.github.repository"]["source"]["variables"],
        serde_json::json!(["GITHUB_OWNER", "GITHUB_REPO"])
    );
    // Without JIRA_PROJECT_KEY, Jira is not configured, and the warning says what is missing.
    assert!(v["integrations"].get("jira").is_none(), "{v}");
    assert!(
        r.stderr.contains("JIRA_PROJECT_KEY not set"),
        "{}",
        r.stderr
    );
    let mut with_key = env.to_vec();
    with_key.push(("JIRA_PROJECT_KEY", "WID"));
    let r = ok(dir, &["config", "show", "--json"], &with_key).await;
    let v = r.json();
    assert_eq!(v["integrations"]["jira"]["projectKey"], "WID", "{v}");
    assert_eq!(v["integrations"]["jira"]["apiToken"], "***", "{v}");
    assert!(!r.stderr.contains("Jira is not available"), "{}", r.stderr);
    // Azure DevOps: all three of ADO_ORGANIZATION, ADO_PROJECT and ADO_PAT, else the missing
    // ones are named.
    let mut partial = env.to_vec();
    partial.push(("ADO_ORGANIZATION", "acme"));
    let r = ok(dir, &["config", "show", "--json"], &partial).await;
    assert!(r.json()["integrations"].get("ado").is_none());
    assert!(
        r.stderr.contains("ADO_PROJECT, ADO_PAT not set"),
        "{}",
        r.stderr
    );
    partial.extend([
        ("ADO_PROJECT", "widgets"),
        ("ADO_PAT", "ado_fixture_pat_9q8w7e"),
    ]);
    let r = ok(dir, &["config", "show", "--json"], &partial).await;
    let v = r.json();
    assert_eq!(v["integrations"]["ado"]["organization"], "acme", "{v}");
    assert_eq!(
        v["integrations"]["ado"]["personalAccessToken"], "***",
        "{v}"
    );
    assert_eq!(
        v["settings"]["integrations.ado.personalAccessToken"]["source"]["variables"],
        serde_json::json!(["ADO_PAT"]),
        "{v}"
    );
    // A devlog.toml is explicit: the variables do not add integrations to it.
    std::fs::write(dir.join("devlog.toml"), "[storage]\ntype = \"json\"\n").unwrap();
    let v = ok(dir, &["config", "show", "--json"], &env).await.json();
    assert_eq!(v["integrations"], serde_json::json!({}), "{v}");
}

#[tokio::test]
async fn config_check_validates_the_git_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join(".devlog")).unwrap();
    std::fs::write(
        dir.join("devlog.toml"),
        "[integrations.git]\nautoComit = true\n",
    )
    .unwrap();
    let r = devlog(dir, &["config", "check"], &[]).await;
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("integrations.git.autoComit"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("autoCommit"), "{}", r.stderr);
}

/// The original's storage variables: the backend and its file or URL, with their origins in
/// `config show` and one note on stderr.
#[tokio::test]
async fn the_original_storage_variables_choose_the_backend_and_where_it_keeps_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join(".devlog")).unwrap();
    let env = [
        ("DEVLOG_STORAGE_STRATEGY", "local-sqlite"),
        ("DEVLOG_SQLITE_PATH", "data/log.db"),
    ];
    let r = ok(dir, &["new", "Stored by strategy", "--type", "task"], &env).await;
    assert!(dir.join("data/log.db").is_file(), "{}", r.stderr);
    let note = "environment DEVLOG_SQLITE_PATH → [storage] path = \"data/log.db\"";
    assert_eq!(r.stderr.matches(note).count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "environment DEVLOG_STORAGE_STRATEGY \"local-sqlite\" → [storage] type = \"sqlite\""
        ),
        "{}",
        r.stderr
    );
    let v = ok(dir, &["config", "show", "--json"], &env).await.json();
    assert_eq!(v["backend"], "sqlite");
    let t = &v["settings"]["storage.type"]["source"];
    assert_eq!(
        t["variables"],
        serde_json::json!(["DEVLOG_STORAGE_STRATEGY"]),
        "{v}"
    );
    let p = &v["settings"]["storage.path"];
    assert!(p["value"].as_str().unwrap().ends_with("data/log.db"), "{v}");
    assert_eq!(
        p["source"]["variables"],
        serde_json::json!(["DEVLOG_SQLITE_PATH"]),
        "{v}"
    );
    // DEVLOG_STORAGE_TYPE with the path variable: the same file.
    let env2 = [
        ("DEVLOG_STORAGE_TYPE", "sqlite"),
        ("DEVLOG_SQLITE_PATH", "data/log.db"),
    ];
    let listed = ok(dir, &["list"], &env2).await.stdout;
    assert!(listed.contains("Stored by strategy"), "{listed}");
    // A server URL from its variable, redacted, named.
    let env3 = [
        ("DEVLOG_STORAGE_TYPE", "postgres"),
        (
            "DEVLOG_POSTGRES_URL",
            "postgres://dev:pgsecret@db.example/devlog",
        ),
    ];
    let r = ok(dir, &["config", "show", "--json"], &env3).await;
    let v = r.json();
    let url = &v["settings"]["storage.url"];
    assert_eq!(url["value"], "postgres://dev:***@db.example/devlog", "{v}");
    assert_eq!(
        url["source"]["variables"],
        serde_json::json!(["DEVLOG_POSTGRES_URL"]),
        "{v}"
    );
    assert!(!r.stdout.contains("pgsecret") && !r.stderr.contains("pgsecret"));
    let human = ok(dir, &["config", "show"], &env3).await.stdout;
    assert!(
        human.contains("environment (DEVLOG_POSTGRES_URL)"),
        "{human}"
    );
}
