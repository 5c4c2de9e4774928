//! Workflow steps with effects outside the store, end to end as real processes: `sync`
//! against the test kit's fake GitHub (an issue created once, however often the run repeats;
//! a dry run shows the plan and creates nothing), `notify` against a local receiver (the
//! host allowlist, named targets with `${ENV}`, URLs never in run records), and `branch`,
//! `pull_request` and `pipeline` in a real git repository against the fake GitHub and the
//! fake Azure DevOps (one branch, one pull request, one pipeline run when the run repeats or
//! is killed and resumed; a dry run sends nothing; problems found when workflows load).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::{FakeRemote, Fault};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const TOKEN: &str = "ghp_workflow_steps_token_5b1c";
const SECRET: &str = "T000/B000/hooksecret123";
const PAT: &str = "ado_workflow_steps_pat_81d3";

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
        .env("ADO_PAT", PAT)
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
        assert!(!text.contains(PAT), "PAT shown: {text}");
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

const SHIP: &str = r#"name: ship
on:
  manual:
  status_changed:
    to: in-review
steps:
  - id: branch
    branch: {checkout: true, push: true}
  - id: pr
    pull_request:
      draft: true
      title: "Review {{ entry.ref }}: {{ entry.title }}"
      body: "Opened by {{ workflow.name }}"
  - id: ci
    pipeline:
      pipeline: CI
  - add_note:
      category: progress
      text: "PR {{ steps.pr.number }} and run {{ steps.ci.run_id }} on {{ steps.branch.name }}"
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Starts `devlog workflow run ship #1`, waits until `applied` says the remote did what the
/// hanging request asked, and kills the process there (SIGKILL): the run is left `running`
/// at that step, its effect made but not recorded.
async fn killed_in_flight(dir: &Path, applied: impl Fn() -> bool) {
    let mut child = tokio::process::Command::new(BIN)
        .args(["workflow", "run", "ship", "#1"])
        .current_dir(dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env("HOME", dir.join("home"))
        .env("DEVLOG_ACTOR", "tester")
        .env("GITHUB_TOKEN", TOKEN)
        .env("ADO_PAT", PAT)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !applied() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its request was applied");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap();
}

async fn runs_of(dir: &Path) -> Vec<Value> {
    let list: Value =
        serde_json::from_str(&ok(dir, &["--json", "workflow", "runs", "ship"]).await).unwrap();
    let mut out = Vec::new();
    for r in list.as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        out.push(
            serde_json::from_str(&ok(dir, &["--json", "workflow", "show", id]).await).unwrap(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn branch_pull_request_and_pipeline_steps_act_once_when_runs_repeat_or_resume() {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let github = b.routes(gh.router()).start().await;
    let ado = AdoProbe::start("acme", "Fabrikam", FakeProcess::Agile).await;
    ado.ado.add_pipeline("CI", "\\");
    let config = format!(
        "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"${{GITHUB_TOKEN}}\"\napiUrl = \"{}\"\n\n\
         [integrations.azure-devops]\norganizationUrl = \"{}\"\nproject = \"Fabrikam\"\npat = \"${{ADO_PAT}}\"\n",
        github.url(),
        ado.organization_url()
    );
    let (_tmp, dir) = workspace(&config, &[("ship.yml", SHIP)]);
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "widgets\n").unwrap();
    git(&dir, &["add", "README.md"]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    // The branch is pushed to this remote (a bare repository) before the pull request.
    let origin = tempfile::tempdir().unwrap();
    git(origin.path(), &["init", "-q", "--bare"]);
    git(
        &dir,
        &["remote", "add", "origin", origin.path().to_str().unwrap()],
    );
    let on_origin = |b: &str| {
        git(origin.path(), &["branch", "--list", b])
            .trim()
            .to_string()
    };
    ok(&dir, &["init"]).await;
    let created: Value =
        serde_json::from_str(&ok(&dir, &["new", "Login page", "--json"]).await).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let branch = "devlog/1-login-page";
    gh.add_branch(branch);

    // The dry run shows the requests and sends nothing: no branch, pull request or run.
    let dry: Value = serde_json::from_str(
        &ok(
            &dir,
            &["--json", "workflow", "test", "ship", "--entry", "#1"],
        )
        .await,
    )
    .unwrap();
    assert_eq!(dry["error"], Value::Null, "{dry:#}");
    let out = |i: usize| dry["steps"][i]["output"].clone();
    assert_eq!(out(0)["name"], branch, "{dry:#}");
    assert_eq!(out(0)["created"], true, "{dry:#}");
    assert_eq!(out(0)["pushed"], true, "{dry:#}");
    assert_eq!(out(0)["remote"], "origin", "{dry:#}");
    let pr = out(1)["request"].clone();
    assert_eq!(pr["method"], "POST");
    assert_eq!(pr["path"], "/repos/acme/widgets/pulls");
    assert_eq!(pr["body"]["title"], "Review #1: Login page");
    assert_eq!(pr["body"]["head"], branch);
    assert_eq!(pr["body"]["base"], "main");
    assert_eq!(pr["body"]["draft"], true);
    assert!(
        pr["body"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Opened by ship"),
        "{pr}"
    );
    let ci = out(2)["request"].clone();
    assert!(
        ci["url"]
            .as_str()
            .unwrap()
            .ends_with("/acme/Fabrikam/_apis/pipelines/<id of CI>/runs"),
        "{ci}"
    );
    assert_eq!(
        ci["body"]["resources"]["repositories"]["self"]["refName"],
        format!("refs/heads/{branch}")
    );
    assert!(git(&dir, &["branch", "--list", branch]).trim().is_empty());
    assert!(on_origin(branch).is_empty(), "a dry run pushes nothing");
    assert!(gh.pulls().is_empty());
    assert!(ado.ado.runs().is_empty());
    assert!(runs_of(&dir).await.is_empty(), "a dry run records no run");

    // Killed after GitHub opened the pull request, before the answer: resumed, the open
    // pull request is found and linked, not opened again.
    github.inject(Fault::on("POST /repos/acme/widgets/pulls").apply_then_hang());
    killed_in_flight(&dir, || gh.pulls().len() == 1).await;
    ok(&dir, &["workflow", "resume"]).await;
    let runs = runs_of(&dir).await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let step = |r: &Value, i: usize| r["steps"][i]["output"].clone();
    assert_eq!(step(run, 0)["name"], branch);
    assert_eq!(step(run, 0)["created"], true);
    assert_eq!(step(run, 0)["pushed"], true, "{run:#}");
    assert_eq!(on_origin(branch), branch, "pushed to origin");
    assert_eq!(
        git(
            &dir,
            &["config", "--get", &format!("branch.{branch}.remote")]
        )
        .trim(),
        "origin",
        "and made the upstream"
    );
    assert_eq!(
        git(&dir, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        branch
    );
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let p = &pulls[0];
    assert_eq!(step(run, 1)["number"], p.number, "{run:#}");
    assert_eq!(step(run, 1)["opened"], false, "found after the kill");
    assert_eq!(
        (p.head.as_str(), p.base.as_str(), p.draft),
        (branch, "main", true)
    );
    assert_eq!(p.title, "Review #1: Login page");
    let body = p.body.clone().unwrap();
    assert!(
        body.starts_with("Opened by ship") && body.contains(&id),
        "{body}"
    );
    let runs_queued = ado.ado.runs();
    assert_eq!(runs_queued.len(), 1);
    assert_eq!(runs_queued[0].ref_name, format!("refs/heads/{branch}"));
    assert_eq!(step(run, 2)["queued"], true);
    assert_eq!(step(run, 2)["run_id"], runs_queued[0].id);
    // The pull request and the run are recorded on the entry, and in the audit log once
    // each, by the workflow with its run as source.
    let shown: Value = serde_json::from_str(&ok(&dir, &["show", "1", "--json"]).await).unwrap();
    let systems: Vec<&str> = shown["externalReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["system"].as_str().unwrap())
        .collect();
    assert!(
        systems.contains(&"github-pr") && systems.contains(&"azure-devops-run"),
        "{shown}"
    );
    let source = format!("ship/{}", run["id"].as_str().unwrap());
    let export = ok(&dir, &["audit", "export"]).await;
    for effect in ["pull-request-opened", "pipeline-run-queued"] {
        let records = audit::named(&export, effect);
        assert_eq!(records.len(), 1, "{effect}: {records:?}");
        assert_eq!(records[0]["actor"], "workflow:ship", "{records:?}");
        assert_eq!(records[0]["source"]["workflow"], source, "{records:?}");
        assert_eq!(records[0]["handle"], 1, "{records:?}");
    }
    ok(&dir, &["audit", "verify"]).await;

    // The trigger again (a CLI write): the branch, the pull request and the unfinished run
    // are found, nothing is made twice.
    ok(&dir, &["start", "1"]).await;
    ok(&dir, &["review", "1"]).await;
    let runs = runs_of(&dir).await;
    assert_eq!(runs.len(), 2);
    let again = &runs[0];
    assert_eq!(again["state"], "succeeded", "{again:#}");
    assert_eq!(step(again, 0)["created"], false);
    assert_eq!(
        step(again, 0)["pushed"],
        false,
        "already on origin: nothing sent"
    );
    assert_eq!(step(again, 1)["opened"], false);
    assert_eq!(step(again, 1)["number"], p.number);
    assert_eq!(step(again, 2)["queued"], false);
    assert_eq!(gh.pulls().len(), 1);
    assert_eq!(ado.ado.runs().len(), 1);
    let export = ok(&dir, &["audit", "export"]).await;
    assert_eq!(audit::named(&export, "pull-request-opened").len(), 1);
    assert_eq!(audit::named(&export, "pipeline-run-queued").len(), 1);

    // Killed after Azure DevOps queued a new run (the first one finished): resumed, the
    // run is adopted, not queued a second time.
    ado.ado.complete_run(runs_queued[0].id, "succeeded");
    ado.remote
        .inject(Fault::on("POST /acme/Fabrikam/_apis/pipelines/*/runs").apply_then_hang());
    killed_in_flight(&dir, || ado.ado.runs().len() == 2).await;
    ok(&dir, &["workflow", "resume"]).await;
    let runs = runs_of(&dir).await;
    assert_eq!(runs.len(), 3);
    let resumed = &runs[0];
    assert_eq!(resumed["state"], "succeeded", "{resumed:#}");
    assert_eq!(step(resumed, 2)["queued"], false);
    assert_eq!(step(resumed, 2)["adopted"], true);
    let second = ado.ado.runs()[1].id;
    assert_eq!(step(resumed, 2)["run_id"], second);
    assert_eq!(ado.ado.runs().len(), 2);
    assert_eq!(gh.pulls().len(), 1);
    // The adopted run is in the audit log once, like the first.
    let export = ok(&dir, &["audit", "export"]).await;
    let queued = audit::named(&export, "pipeline-run-queued");
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert_eq!(queued[1]["what"]["remoteId"], second.to_string());
    assert_eq!(
        queued[1]["source"]["workflow"],
        format!("ship/{}", resumed["id"].as_str().unwrap())
    );
    ok(&dir, &["audit", "verify"]).await;
}

#[tokio::test]
async fn integration_steps_with_no_integration_behind_them_are_found_when_workflows_load() {
    let steps = "name: wrong\non:\n  manual:\nsteps:\n  - pull_request: {integration: jira}\n  - pipeline: {pipeline: CI}\n  - pull_request: {}\n  - branch: {}\n";
    let (_tmp, dir) = workspace(
        "[integrations.git]\nenabled = false\n",
        &[("wrong.yml", steps)],
    );
    ok(&dir, &["init"]).await;
    let v = devlog(&dir, &["workflow", "validate"]).await;
    assert_ne!(v.code, 0);
    for want in [
        "steps[0].pull_request: no [integrations.jira] in devlog.toml: give the name of the GitHub integration (github)",
        "steps[1].pipeline: Azure DevOps is not configured: add [integrations.azure-devops]",
        "steps[2].pull_request: GitHub is not configured: add [integrations.github]",
        "steps[3].branch: the git integration is off",
    ] {
        assert!(v.stdout.contains(want), "{want}:\n{}", v.stdout);
    }
}
