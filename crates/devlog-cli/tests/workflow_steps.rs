//! Workflow steps with effects outside the store, end to end as real processes: `sync`
//! against the test kit's fake GitHub (an issue created once, however often the run repeats;
//! a dry run shows the plan and creates nothing), and `notify` against a local receiver (the
//! host allowlist, named targets with `${ENV}`, URLs never in run records).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const TOKEN: &str = "ghp_workflow_steps_token_5b1c";
const SECRET: &str = "T000/B000/hooksecret123";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn devlog(dir: &Path, args: &[&str]) -> Out {
    let o = tokio::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env_remove("RUST_LOG")
        .env("HOME", dir.join("home"))
        .env("NO_COLOR", "1")
        .env("DEVLOG_ACTOR", "tester")
        .env("GITHUB_TOKEN", TOKEN)
        .env("TEAM_HOOK", format!("/services/{SECRET}"))
        .output()
        .await
        .unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    };
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(TOKEN), "token shown: {text}");
        assert!(!text.contains(SECRET), "webhook secret shown: {text}");
    }
    out
}

async fn ok(dir: &Path, args: &[&str]) -> String {
    let o = devlog(dir, args).await;
    assert_eq!(o.code, 0, "devlog {args:?}:\n{}\n{}", o.stdout, o.stderr);
    o.stdout
}

fn workspace(config: &str, workflows: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    std::fs::create_dir_all(dir.join(".devlog/workflows")).unwrap();
    std::fs::write(dir.join("devlog.toml"), config).unwrap();
    for (name, text) in workflows {
        std::fs::write(dir.join(".devlog/workflows").join(name), text).unwrap();
    }
    (tmp, dir)
}

const TO_GITHUB: &str = r#"name: to-github
on:
  manual:
steps:
  - id: gh
    sync:
      integration: github
  - add_note:
      category: idea
      text: "Filed as {{ steps.gh.url }} ({{ steps.gh.done | join(',') }})"
"#;

#[tokio::test]
async fn a_sync_step_creates_the_issue_once_and_a_dry_run_creates_nothing() {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let config = format!(
        "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"${{GITHUB_TOKEN}}\"\napiUrl = \"{}\"\n",
        remote.url()
    );
    let (_tmp, dir) = workspace(&config, &[("to-github.yml", TO_GITHUB)]);
    ok(&dir, &["init"]).await;
    let created: Value =
        serde_json::from_str(&ok(&dir, &["new", "Crash on save", "--json"]).await).unwrap();
    let id = created["id"].as_str().unwrap().to_string();

    // The dry run shows the push it would make and sends nothing.
    let dry = ok(&dir, &["workflow", "test", "to-github", "--entry", "#1"]).await;
    assert!(dry.contains("create"), "{dry}");
    assert_eq!(gh.issues_created(), 0, "a dry run creates nothing");

    let run: Value =
        serde_json::from_str(&ok(&dir, &["--json", "workflow", "run", "to-github", "#1"]).await)
            .unwrap();
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(gh.issues_created(), 1);
    let out = &run["steps"][0]["output"];
    assert_eq!(out["done"], serde_json::json!(["created"]), "{out}");
    let issue = &gh.issues()[0];
    assert!(issue.body.as_deref().unwrap().contains(&id));
    assert_eq!(out["remoteId"].as_str().unwrap(), issue.number.to_string());

    // Running again pushes the same entry: no second issue.
    let again: Value =
        serde_json::from_str(&ok(&dir, &["--json", "workflow", "run", "to-github", "#1"]).await)
            .unwrap();
    assert_eq!(again["state"], "succeeded", "{again:#}");
    assert_eq!(gh.issues_created(), 1, "exactly once");

    // An integration that is not configured is a clear failure.
    std::fs::write(
        dir.join(".devlog/workflows/nowhere.yml"),
        "name: nowhere\non:\n  manual:\nsteps:\n  - sync:\n      integration: jira\n",
    )
    .unwrap();
    let o = devlog(&dir, &["workflow", "run", "nowhere", "#1"]).await;
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("`jira` is not an enabled integration"),
        "{}",
        o.stderr
    );
}

/// A one-request-at-a-time HTTP receiver on loopback: records each request's head and body
/// and answers 200.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            log.lock().unwrap().push((head, body));
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        }
    });
    (format!("http://127.0.0.1:{}", addr.port()), seen)
}

#[tokio::test]
async fn notify_posts_to_allowed_hosts_only_and_keeps_the_url_secret() {
    let (base, seen) = receiver().await;
    let slack = r#"name: slack
on:
  manual:
steps:
  - notify:
      target: team
      format: slack
      text: "{{ entry.title }} needs a look"
"#;
    let json_file = format!(
        r#"name: generic
on:
  manual:
steps:
  - notify:
      url: "{base}/hook/{SECRET}"
      format: json
      body: '{{"title": {{{{ entry.title | tojson }}}}, "ref": "{{{{ entry.ref }}}}"}}'
"#
    );
    let elsewhere = "name: elsewhere\non:\n  manual:\nsteps:\n  - notify:\n      url: \"https://not-allowed.example/x\"\n      format: slack\n      text: hi\n";
    let config = format!(
        "[workflows]\nnotifyHosts = [\"127.0.0.1\"]\n\n[workflows.notify.team]\nurl = \"{base}${{TEAM_HOOK}}\"\n"
    );
    let (_tmp, dir) = workspace(
        &config,
        &[
            ("slack.yml", slack),
            ("generic.yml", &json_file),
            ("elsewhere.yml", elsewhere),
        ],
    );
    ok(&dir, &["init"]).await;
    ok(&dir, &["new", "Broken \"build\""]).await;

    // validate knows the host is not allowed before anything runs.
    let v = devlog(&dir, &["workflow", "validate"]).await;
    assert_ne!(v.code, 0);
    assert!(
        v.stdout.contains("not-allowed.example is not allowed"),
        "{}",
        v.stdout
    );

    let run: Value =
        serde_json::from_str(&ok(&dir, &["--json", "workflow", "run", "slack", "#1"]).await)
            .unwrap();
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let run2: Value =
        serde_json::from_str(&ok(&dir, &["--json", "workflow", "run", "generic", "#1"]).await)
            .unwrap();
    assert_eq!(run2["state"], "succeeded", "{run2:#}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].0.starts_with(&format!("POST /services/{SECRET}")),
            "{}",
            seen[0].0
        );
        let body: Value = serde_json::from_str(&seen[0].1).unwrap();
        assert_eq!(body["text"], "Broken \"build\" needs a look");
        assert!(seen[0].0.to_ascii_lowercase().contains("idempotency-key"));
        let body: Value = serde_json::from_str(&seen[1].1).unwrap();
        assert_eq!(body["title"], "Broken \"build\"");
        assert_eq!(body["ref"], "#1");
    }
    // Neither URL is in the run records.
    for r in [&run, &run2] {
        let shown = ok(
            &dir,
            &["--json", "workflow", "show", r["id"].as_str().unwrap()],
        )
        .await;
        assert!(!shown.contains(SECRET), "{shown}");
    }
    // Each notification is one remote-effect record in the audit log, by the workflow with
    // its run as source, naming the target (the named target, or the URL's host only).
    let export = ok(&dir, &["audit", "export"]).await;
    let sent = audit::named(&export, "notification-sent");
    assert_eq!(sent.len(), 2, "{export}");
    for (r, (workflow, run, target)) in sent.iter().zip([
        ("slack", &run, "team".to_string()),
        ("generic", &run2, format!("{base}/…")),
    ]) {
        assert_eq!(r["actor"], format!("workflow:{workflow}"), "{r}");
        assert_eq!(r["what"]["integration"], "notify", "{r}");
        assert_eq!(r["what"]["remoteId"], target, "{r}");
        assert_eq!(
            r["source"]["workflow"],
            format!("{workflow}/{}", run["id"].as_str().unwrap()),
            "{r}"
        );
        assert_eq!(r["handle"], 1, "{r}");
    }
    ok(&dir, &["audit", "verify"]).await;

    // A host not listed is refused before any request.
    let o = devlog(&dir, &["workflow", "run", "elsewhere", "#1"]).await;
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("notifyHosts"), "{}", o.stderr);
    assert_eq!(seen.lock().unwrap().len(), 2, "nothing sent");
}
