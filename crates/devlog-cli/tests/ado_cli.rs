//! `devlog sync`, `devlog integrations list|check` and `devlog ado link|unlink|sync|status|
//! iteration add|iterations` end to end: the real binary, in a temporary workspace, against
//! the test kit's fake Azure DevOps (every request the binary makes is checked against
//! Microsoft's 7.1 descriptions, JSON Patch bodies as RFC 6902 patches, when the fake is
//! dropped at the end of each test). The errors a user meets (rejected credentials, a project
//! that does not exist) are clear on the terminal and recorded on the job.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::collections::BTreeMap;
use std::path::PathBuf;

use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
use devlog_testkit::fake_remote::Fault;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const PAT: &str = "ado_cli_pat_5c2e9a71";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Rig {
    probe: AdoProbe,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

fn ado_table(url: &str) -> String {
    format!(
        "[integrations.azure-devops]\norganizationUrl = \"{url}\"\nproject = \"Fabrikam\"\npat = \"${{ADO_PAT}}\"\n"
    )
}

async fn rig_with(config: impl FnOnce(&str) -> String) -> Rig {
    let probe = AdoProbe::start("acme", "Fabrikam", FakeProcess::Agile).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(dir.join("devlog.toml"), config(&probe.organization_url())).unwrap();
    let r = Rig {
        probe,
        _tmp: tmp,
        dir,
        home,
    };
    r.ok(&["init"]).await;
    r
}

async fn rig() -> Rig {
    rig_with(ado_table).await
}

impl Rig {
    async fn devlog(&self, args: &[&str]) -> Run {
        let o = tokio::process::Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("ADO_PAT", PAT)
            .output()
            .await
            .unwrap();
        let run = Run {
            code: o.status.code().unwrap(),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        };
        // The token never reaches the terminal, whatever the command and its outcome.
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(PAT),
                "devlog {args:?} printed the token:\n{text}"
            );
        }
        run
    }

    async fn ok(&self, args: &[&str]) -> String {
        let r = self.devlog(args).await;
        assert!(
            r.code == 0,
            "devlog {args:?} failed ({}):\n{}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    async fn fails(&self, args: &[&str]) -> Run {
        let r = self.devlog(args).await;
        assert!(
            r.code != 0,
            "devlog {args:?} should fail:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        r
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("devlog {args:?} --json is not JSON ({e}):\n{out}"))
    }

    fn requests(&self) -> usize {
        self.probe.remote.state().requests().len()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_creates_walks_the_states_pulls_and_idles_cheaply() {
    let r = rig().await;
    let list = r.json(&["integrations", "list"]).await;
    let ado = list["known"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "azure-devops")
        .unwrap()
        .clone();
    assert_eq!(ado["available"], true, "{list}");
    assert_eq!(ado["configured"], true, "{list}");
    assert_eq!(ado["table"], "azure-devops", "{list}");
    let check = r.ok(&["integrations", "check"]).await;
    assert!(
        check.contains("azure-devops: ok reached project Fabrikam on ")
            && check.contains("Agile process"),
        "{check}"
    );

    r.ok(&["new", "Sign in with SSO", "--type", "feature"])
        .await;
    let out = r.ok(&["sync"]).await;
    assert!(out.contains("1 created"), "{out}");
    let items = r.probe.ado.items();
    assert_eq!(items.len(), 1);
    let w = &items[0];
    assert_eq!(w.type_name, "User Story");
    assert_eq!(w.str_field("System.Title"), "Sign in with SSO");
    assert_eq!(w.str_field("System.State"), "New");
    assert!(w.str_field("System.Tags").contains("devlog:"), "{w:?}");

    // The status walks to done: the plan only reads, the sync writes the mapped state.
    r.ok(&["edit", "1", "--status", "in-progress"]).await;
    r.ok(&["ado", "sync"]).await;
    assert_eq!(
        r.probe.ado.item(w.id).unwrap().str_field("System.State"),
        "Active"
    );
    r.ok(&["edit", "1", "--status", "done"]).await;
    let before = r.requests();
    let plan = r.ok(&["sync", "--plan"]).await;
    assert!(
        plan.contains(&format!(
            "azure-devops: update status of remote {} for #1",
            w.id
        )),
        "{plan}"
    );
    assert!(
        r.probe
            .remote
            .state()
            .requests()
            .iter()
            .skip(before)
            .all(|q| q.method == "GET"
                || q.path.ends_with("/wiql")
                || q.path.ends_with("/workitemsbatch")),
        "the plan only reads"
    );
    assert_eq!(
        r.probe.ado.item(w.id).unwrap().str_field("System.State"),
        "Active"
    );
    let out = r.ok(&["sync", "--system", "azure-devops"]).await;
    assert!(out.contains("1 updated"), "{out}");
    assert_eq!(
        r.probe.ado.item(w.id).unwrap().str_field("System.State"),
        "Closed"
    );

    // Renamed in Azure DevOps: the next sync brings it.
    r.probe.ado.edit_item(w.id, |f| {
        f.insert("System.Title".into(), json!("SSO sign-in"));
    });
    r.ok(&["sync"]).await;
    let e = r.json(&["show", "1"]).await;
    assert_eq!(e["title"], "SSO sign-in", "{e}");
    assert_eq!(e["status"], "done", "{e}");

    // Idle: nothing changed on either side costs at most 2 requests (WIQL and one batch).
    for _ in 0..2 {
        let before = r.requests();
        let out = r.ok(&["sync"]).await;
        assert!(out.contains("0 created, 0 updated"), "{out}");
        let spent = r.requests() - before;
        assert!(spent <= 2, "an idle sync made {spent} requests");
    }

    let st = r.json(&["ado", "status"]).await;
    assert_eq!(st["project"], "Fabrikam", "{st}");
    assert_eq!(st["linked"][0]["issue"], w.id.to_string(), "{st}");
    assert_eq!(st["linked"][0]["state"], "synced", "{st}");
    assert_eq!(st["serviceHooks"], "off", "{st}");
    let text = r.ok(&["ado", "status", "1", "--check"]).await;
    assert!(
        text.starts_with(&format!(
            "Azure DevOps: project Fabrikam on {}, team Fabrikam Team",
            r.probe.organization_url()
        )) && text.contains("connection: reached project Fabrikam")
            && text.contains("1 linked, 0 pending, 0 failed, 0 conflict(s)")
            && text.contains("work items pulled up to ")
            && text.contains(&format!(
                "work item {} (User Story, Closed) is in no iteration (Fabrikam)",
                w.id
            )),
        "{text}"
    );
    assert!(r.probe.ado.check_contract().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn link_adopts_an_existing_work_item_and_unlink_releases_it() {
    let r = rig().await;
    let item = r.probe.ado.insert(
        "Bug",
        BTreeMap::from([
            (
                "System.Title".to_string(),
                json!("Parser crashes on empty input"),
            ),
            ("System.Tags".to_string(), json!("parser")),
        ]),
    );
    r.probe
        .ado
        .add_comment(item.id, "ana@example.com", "<p>Seen on 1.2 too.</p>");
    r.ok(&["new", "Parser crash", "--type", "bugfix"]).await;
    r.ok(&["new", "Other work", "--type", "task"]).await;
    let url = format!(
        "{}/Fabrikam/_workitems/edit/{}",
        r.probe.organization_url(),
        item.id
    );
    let out = r.json(&["ado", "link", "1", &url]).await;
    assert_eq!(out["issue"], item.id, "{out}");
    assert_eq!(out["comments"], 1, "{out}");
    let e = r.json(&["show", "1"]).await;
    let id = e["id"].as_str().unwrap();
    let tags = r
        .probe
        .ado
        .item(item.id)
        .unwrap()
        .str_field("System.Tags")
        .to_string();
    assert!(
        tags.contains("parser") && tags.contains(&format!("devlog:{id}")),
        "{tags}"
    );
    assert!(
        e["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["content"] == "Seen on 1.2 too."),
        "{e}"
    );
    // Another entry cannot take the same item; an item of another project or organization,
    // or something that is not an id, is refused naming the setting.
    let err = r.fails(&["ado", "link", "2", &item.id.to_string()]).await;
    assert!(err.stderr.contains("already linked"), "{}", err.stderr);
    let other = format!("{}/Other/_workitems/edit/3", r.probe.organization_url());
    let err = r.fails(&["ado", "link", "2", &other]).await;
    assert!(
        err.stderr
            .contains("integrations.azure-devops.project is Fabrikam"),
        "{}",
        err.stderr
    );
    let err = r
        .fails(&[
            "ado",
            "link",
            "2",
            "https://dev.azure.com/contoso/Fabrikam/_workitems/edit/1",
        ])
        .await;
    assert!(
        err.stderr
            .contains("integrations.azure-devops.organizationUrl"),
        "{}",
        err.stderr
    );
    let err = r.fails(&["ado", "link", "2", "DEV-1"]).await;
    assert!(
        err.stderr.contains("is not an Azure DevOps work item"),
        "{}",
        err.stderr
    );
    // The link syncs: the entry's title goes to the item.
    r.ok(&["ado", "sync", "1"]).await;
    assert_eq!(
        r.probe.ado.item(item.id).unwrap().str_field("System.Title"),
        "Parser crash"
    );

    let out = r.ok(&["ado", "unlink", "1"]).await;
    assert!(
        out.contains(&format!(
            "Unlinked #1 from work item {}; the work item stays on Azure DevOps",
            item.id
        )),
        "{out}"
    );
    let tags = r
        .probe
        .ado
        .item(item.id)
        .unwrap()
        .str_field("System.Tags")
        .to_string();
    assert!(!tags.contains("devlog:"), "{tags}");
    let err = r.fails(&["ado", "unlink", "1"]).await;
    assert!(
        err.stderr
            .contains("not linked to an Azure DevOps work item"),
        "{}",
        err.stderr
    );
    // Unlinked on purpose: later syncs create nothing for it.
    let before = r.probe.ado.items().len();
    r.ok(&["ado", "sync", "1"]).await;
    assert_eq!(r.probe.ado.items().len(), before);
    assert!(r.probe.ado.check_contract().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_credentials_are_named_and_recorded_on_the_job() {
    let r = rig().await;
    r.ok(&["new", "Sign in with SSO", "--type", "feature"])
        .await;
    let state = r.probe.remote.state();
    state.inject(Fault::on("GET /acme/_apis/projects/*").status(401));
    let err = r.fails(&["integrations", "check"]).await;
    let all = format!("{}{}", err.stdout, err.stderr);
    assert!(
        all.contains("rejected the credentials: check integrations.azure-devops.pat"),
        "{all}"
    );
    state.inject(Fault::on("* /acme/**").status(401).times(50));
    let run = r.devlog(&["sync"]).await;
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("rejected the credentials: check integrations.azure-devops.pat"),
        "{all}"
    );
    state.clear_faults();
    let st = r.json(&["sync", "status"]).await;
    let jobs = st["jobs"].as_array().unwrap();
    assert!(
        jobs.iter().any(|j| j["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("integrations.azure-devops.pat"))),
        "{st}"
    );
    // Credentials fine again: the queued job goes through.
    r.ok(&["sync", "retry", "--all-failed"]).await;
    r.ok(&["sync"]).await;
    assert_eq!(r.probe.ado.items().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_that_does_not_exist_is_named_with_its_key() {
    let r = rig_with(|url| ado_table(url).replace("project = \"Fabrikam\"", "project = \"Nope\""))
        .await;
    let err = r.fails(&["integrations", "check"]).await;
    let all = format!("{}{}", err.stdout, err.stderr);
    assert!(
        all.contains("project Nope (or team Nope Team) not found")
            && all.contains("integrations.azure-devops.organizationUrl, project and team"),
        "{all}"
    );
    let err = r.fails(&["ado", "status", "--check"]).await;
    assert!(err.stderr.contains("project Nope"), "{}", err.stderr);
}

/// `[integrations.ado]` with the original devlog's keys is Azure DevOps too: listed under
/// its table, its errors naming its keys.
#[tokio::test(flavor = "multi_thread")]
async fn the_ado_alias_with_the_originals_keys_works_and_names_itself() {
    let r = rig_with(|url| {
        format!(
            "[integrations.ado]\norganization = \"{url}\"\nproject = \"Fabrikam\"\npersonalAccessToken = \"${{ADO_PAT}}\"\n"
        )
    })
    .await;
    let list = r.ok(&["integrations", "list"]).await;
    assert!(
        list.lines()
            .any(|l| l.starts_with("azure-devops") && l.contains("yes ([integrations.ado])")),
        "{list}"
    );
    r.ok(&["new", "Via the alias", "--type", "task"]).await;
    let out = r.ok(&["sync", "--system", "ado"]).await;
    assert!(out.contains("1 created"), "{out}");
    assert_eq!(r.probe.ado.items()[0].type_name, "Task");
    let st = r.json(&["ado", "status"]).await;
    assert_eq!(st["table"], "ado", "{st}");
    // A mistake is named under the table as written.
    std::fs::write(
        r.dir.join("devlog.toml"),
        "[integrations.ado]\norganization = \"acme\"\npersonalAccessToken = \"x\"\n",
    )
    .unwrap();
    let err = r.fails(&["integrations", "check"]).await;
    assert!(err.stderr.contains("integrations.ado"), "{}", err.stderr);
    assert!(err.stderr.contains("project"), "{}", err.stderr);
    // Both names at once: one must go.
    std::fs::write(
        r.dir.join("devlog.toml"),
        format!(
            "{}[integrations.ado]\norganization = \"acme\"\nproject = \"P\"\npat = \"x\"\n",
            ado_table(&r.probe.organization_url())
        ),
    )
    .unwrap();
    let err = r.fails(&["sync"]).await;
    assert!(
        err.stderr.contains("keep one of the two tables"),
        "{}",
        err.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn iterations_are_listed_and_linked_items_move_into_one() {
    let r = rig().await;
    r.ok(&["new", "Iterated", "--type", "task"]).await;
    r.ok(&["new", "Also iterated", "--type", "task"]).await;
    r.ok(&["sync", "--entry", "1"]).await;
    r.ok(&["sync", "--entry", "2"]).await;
    let ids: Vec<u64> = r.probe.ado.items().iter().map(|w| w.id).collect();

    let out = r.ok(&["ado", "iteration", "add", "1", "2"]).await;
    assert!(
        out.contains(&format!(
            "Moved #1 (work item {}), #2 (work item {}) into iteration Sprint 2",
            ids[0], ids[1]
        )),
        "{out}"
    );
    for id in &ids {
        assert_eq!(
            r.probe
                .ado
                .item(*id)
                .unwrap()
                .str_field("System.IterationPath"),
            "Fabrikam\\Sprint 2"
        );
    }
    // One audit record per work item moved.
    async fn moves(r: &Rig) -> Vec<Value> {
        audit::named(&r.ok(&["audit", "export"]).await, "iteration-changed")
    }
    let records = moves(&r).await;
    assert_eq!(records.len(), 2, "{records:?}");
    audit::by_cli(&records[0], "tester");
    assert_eq!(records[0]["what"]["remoteId"], ids[0].to_string());
    assert_eq!(records[1]["handle"], 2);
    let v = r
        .json(&["ado", "iteration", "add", "2", "--iteration", "Sprint 3"])
        .await;
    assert_eq!(v["iteration"], "Sprint 3", "{v}");
    assert_eq!(moves(&r).await.len(), 3);
    // The same command again (a retry) changes nothing and records nothing more.
    r.ok(&["ado", "iteration", "add", "2", "--iteration", "Sprint 3"])
        .await;
    assert_eq!(moves(&r).await.len(), 3);
    r.ok(&["audit", "verify"]).await;
    assert_eq!(
        r.probe
            .ado
            .item(ids[1])
            .unwrap()
            .str_field("System.IterationPath"),
        "Fabrikam\\Sprint 3"
    );
    // The entry's status names its item's iteration and board column.
    r.probe.ado.edit_item(ids[1], |f| {
        f.insert("System.BoardColumn".into(), json!("Doing"));
    });
    let text = r.ok(&["ado", "status", "2"]).await;
    assert!(
        text.contains(&format!(
            "work item {} (Task, New) is in iteration Fabrikam\\Sprint 3, board column Doing",
            ids[1]
        )),
        "{text}"
    );
    let v = r.json(&["ado", "status", "1"]).await;
    assert_eq!(v["linked"][0]["iterationPath"], "Fabrikam\\Sprint 2", "{v}");
    // The pull brings the iteration back as the milestone.
    r.ok(&["sync"]).await;
    let e = r.json(&["show", "2"]).await;
    assert_eq!(e["milestone"], "Sprint 3", "{e}");

    // Item 1 is done in Azure DevOps: Sprint 2 counts it.
    r.probe.ado.edit_item(ids[0], |f| {
        f.insert("System.State".into(), json!("Closed"));
    });
    let v = r.json(&["ado", "iterations"]).await;
    let rows = v["iterations"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Sprint 2", "Sprint 3"],
        "past ones only with --all: {v}"
    );
    assert_eq!(
        (rows[0]["done"].as_u64(), rows[0]["total"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(
        (rows[1]["done"].as_u64(), rows[1]["total"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );
    let text = r.ok(&["ado", "iterations", "--all"]).await;
    assert!(
        text.contains("Sprint 1") && text.contains("1/1 done") && text.contains(" → "),
        "{text}"
    );

    // An entry with no work item: said, nothing moved.
    r.ok(&["new", "Never synced", "--type", "task"]).await;
    let before = r.requests();
    let e = r.fails(&["ado", "iteration", "add", "1", "3"]).await;
    assert!(
        e.stderr
            .contains("#3 is not linked to an Azure DevOps work item"),
        "{}",
        e.stderr
    );
    assert_eq!(r.requests(), before, "nothing asked of Azure DevOps");
    assert!(r.probe.ado.check_contract().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_run_is_queued_once_for_the_entrys_branch_and_its_result_is_one_note() {
    let r = rig().await;
    r.probe.ado.add_pipeline("CI", "\\");
    r.ok(&["new", "Login page", "--type", "feature"]).await;

    // An unknown pipeline is named with the ones there are; nothing is queued.
    let f = r.fails(&["ado", "run", "1", "--pipeline", "Nope"]).await;
    assert!(
        f.stderr.contains("Nope") && f.stderr.contains("CI"),
        "{}",
        f.stderr
    );
    assert!(r.probe.ado.runs().is_empty());

    // The entry's branch as `devlog git branch` names it.
    let v = r.json(&["ado", "run", "1", "--pipeline", "CI"]).await;
    assert_eq!(v["run"]["queued"], true, "{v}");
    assert_eq!(v["run"]["branch"], "devlog/1-login-page", "{v}");
    let run_id = v["run"]["runId"].as_u64().unwrap();
    // The run queued is in the audit log: one record, the CLI user as actor.
    async fn queued(r: &Rig) -> Vec<Value> {
        audit::named(&r.ok(&["audit", "export"]).await, "pipeline-run-queued")
    }
    let records = queued(&r).await;
    assert_eq!(records.len(), 1, "{records:?}");
    audit::by_cli(&records[0], "tester");
    assert_eq!(records[0]["handle"], 1, "{records:?}");
    assert_eq!(records[0]["what"]["remoteId"], run_id.to_string());
    assert_eq!(records[0]["what"]["integration"], "azure-devops");
    // Again while it runs: the same run is followed, none queued, nothing recorded.
    let again = r.ok(&["ado", "run", "1", "--pipeline", "CI"]).await;
    assert!(again.contains("Following the unfinished run"), "{again}");
    assert_eq!(r.probe.ado.runs().len(), 1);
    assert_eq!(queued(&r).await.len(), 1);
    // `--branch` runs another branch.
    let other = r
        .json(&["ado", "run", "1", "--pipeline", "CI", "--branch", "main"])
        .await;
    assert_eq!(other["run"]["branch"], "main", "{other}");
    assert_eq!(r.probe.ado.runs().len(), 2);
    assert_eq!(queued(&r).await.len(), 2);
    r.ok(&["audit", "verify"]).await;

    // Still running: nothing to note.
    let p = r.json(&["ado", "runs"]).await;
    assert_eq!(
        (p["running"].as_u64(), p["notesAdded"].as_u64()),
        (Some(2), Some(0)),
        "{p}"
    );
    r.probe.ado.complete_run(run_id, "succeeded").unwrap();
    let out = r.ok(&["ado", "runs"]).await;
    assert!(
        out.contains("succeeded") && out.contains("1 run(s) completed, 1 still running"),
        "{out}"
    );
    let run_notes = |e: &Value| -> Vec<String> {
        e["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["content"].as_str())
            .filter(|c| c.starts_with("Pipeline "))
            .map(str::to_string)
            .collect()
    };
    let e = r.json(&["show", "1"]).await;
    let notes = run_notes(&e);
    assert_eq!(notes.len(), 1, "{e}");
    assert!(
        notes[0].contains("succeeded") && notes[0].contains("devlog/1-login-page"),
        "{notes:?}"
    );
    // Polled again: the completed run is no longer followed, no second note.
    let p = r.json(&["ado", "runs"]).await;
    assert_eq!(
        (p["running"].as_u64(), p["notesAdded"].as_u64()),
        (Some(1), Some(0)),
        "{p}"
    );
    assert_eq!(run_notes(&r.json(&["show", "1"]).await).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sync_worker_polls_followed_runs_so_a_completed_run_is_recorded_without_a_command() {
    let r = rig().await;
    r.probe.ado.add_pipeline("CI", "\\");
    r.ok(&["new", "Login page", "--type", "feature"]).await;
    let v = r.json(&["ado", "run", "1", "--pipeline", "CI"]).await;
    let run_id = v["run"]["runId"].as_u64().unwrap();
    let reference = |e: &Value| -> Value {
        e["externalReferences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["system"] == "azure-devops-run")
            .cloned()
            .unwrap_or_else(|| panic!("no run reference: {e}"))
    };
    let pipeline_notes = |e: &Value| -> Vec<String> {
        e["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["content"].as_str())
            .filter(|c| c.starts_with("Pipeline "))
            .map(str::to_string)
            .collect()
    };

    // A worker tick while the run is going: nothing recorded, the run still followed.
    r.ok(&["worker", "--once"]).await;
    let e = r.json(&["show", "1"]).await;
    assert_eq!(reference(&e)["status"], "inProgress", "{e}");
    assert!(pipeline_notes(&e).is_empty(), "{e}");

    // Azure DevOps finishes it; the worker's next tick records it, no `devlog ado runs`.
    r.probe.ado.complete_run(run_id, "failed").unwrap();
    let out = r.ok(&["worker", "--once"]).await;
    assert!(out.contains("run") && out.contains("failed"), "{out}");
    let e = r.json(&["show", "1"]).await;
    let x = reference(&e);
    assert_eq!(
        (&x["status"], &x["result"]),
        (&json!("completed"), &json!("failed")),
        "{e}"
    );
    let notes = pipeline_notes(&e);
    assert_eq!(notes.len(), 1, "{e}");
    assert!(notes[0].contains("failed"), "{notes:?}");
    // The worker signed the tick's records as a sync process, not as the CLI.
    let export = r.ok(&["audit", "export"]).await;
    let checkpoints = audit::named(&export, "checkpoint");
    let last = checkpoints.last().expect("the worker signs a checkpoint");
    assert_eq!(last["origin"], "sync", "{last}");

    // Settled: the next tick neither notes it again nor asks Azure DevOps about it.
    let before = r.requests();
    r.ok(&["worker", "--once"]).await;
    let builds = r.probe.remote.state().requests()[before..]
        .iter()
        .filter(|q| q.path.contains("/_apis/build/builds"))
        .count();
    assert_eq!(builds, 0);
    assert_eq!(pipeline_notes(&r.json(&["show", "1"]).await).len(), 1);
    assert!(r.probe.ado.check_contract().is_empty());
}

/// The official release-deployment payload (BOM stripped), as the service hook sends it.
fn deployment_payload() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/apispecs/azure-devops/service-hooks/docs-events-md/ms.vss-release.deployment-completed-event.json",
    );
    let b = std::fs::read(p).unwrap();
    b.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&b).to_vec()
}

/// One HTTP/1.1 request over TCP; the status code and body.
async fn post(addr: &str, path: &str, auth: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_reported_by_service_hook_shows_in_the_deployments_report() {
    use tokio::io::AsyncBufReadExt;
    let r =
        rig_with(|url| format!("{}serviceHookSecret = \"hook-s3cret\"\n", ado_table(url))).await;
    r.ok(&["new", "Login page", "--type", "feature"]).await;
    r.ok(&["new", "Unrelated", "--type", "feature"]).await;
    r.ok(&["sync"]).await;
    let item = r
        .probe
        .ado
        .items()
        .iter()
        .find(|w| w.str_field("System.Title") == "Login page")
        .unwrap()
        .id;
    let ci = r.probe.ado.add_pipeline("CI", "\\");
    let build = r.probe.ado.start_run(ci.id, "refs/heads/main");
    r.probe.ado.complete_run(build.id, "succeeded");
    r.probe.ado.set_run_work_items(build.id, &[item]);
    r.probe.ado.add_release(
        1,
        "Release-1",
        vec![devlog_testkit::fake_ado::AdoArtifact {
            alias: "CI".into(),
            kind: "Build".into(),
            build: Some(build.id),
        }],
    );

    // `devlog serve` takes the service hook.
    let mut serve = tokio::process::Command::new(BIN)
        .args(["serve", "--port", "0", "--no-background-sync"])
        .current_dir(&r.dir)
        .env_remove("DEVLOG_DIR")
        .env_remove("DEVLOG_STORAGE_TYPE")
        .env("HOME", &r.home)
        .env("NO_COLOR", "1")
        .env("ADO_PAT", PAT)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(serve.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("devlog serve announces its address")
            .unwrap()
            .expect("devlog serve exited early");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // "any user name, the password = serviceHookSecret": base64("azure:hook-s3cret").
    let (code, answer) = post(
        &addr,
        "/webhooks/azure-devops",
        "Basic YXp1cmU6aG9vay1zM2NyZXQ=",
        &deployment_payload(),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    serve.kill().await.unwrap();

    // JSON: per environment and per deployment, with the entry it carried.
    let v = r
        .json(&["report", "deployments", "--since", "2016-01-01"])
        .await;
    assert_eq!(v["report"], "deployments", "{v}");
    let d = &v["data"];
    assert_eq!(
        (d["total"].as_u64(), d["entriesDeployed"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(d["environments"][0]["environment"], "Dev", "{v}");
    assert_eq!(d["environments"][0]["succeeded"], 1, "{v}");
    let row = &d["deployments"][0];
    assert_eq!(
        (&row["release"], &row["status"]),
        (&json!("Release-1"), &json!("succeeded")),
        "{v}"
    );
    assert_eq!(row["entries"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(row["entries"][0]["handle"], 1, "{v}");
    // Text, Markdown and HTML carry the same rows.
    let t = r
        .ok(&["report", "deployments", "--since", "2016-01-01"])
        .await;
    assert!(
        t.contains("Per environment")
            && t.contains("Dev")
            && t.contains("Release-1")
            && t.contains("#1 Login page"),
        "{t}"
    );
    assert!(!t.contains("Unrelated"), "{t}");
    let md = r
        .ok(&[
            "report",
            "deployments",
            "--since",
            "2016-01-01",
            "--format",
            "md",
        ])
        .await;
    assert!(
        md.contains("| Dev |") && md.contains("#1 Login page"),
        "{md}"
    );
    let html = r
        .ok(&[
            "report",
            "deployments",
            "--since",
            "2016-01-01",
            "--format",
            "html",
        ])
        .await;
    assert!(
        html.contains("<table") && html.contains("Release-1") && html.contains("#1 Login page"),
        "{html}"
    );
    // The default window (the last 30 days) holds none: said in the notes.
    let v = r.json(&["report", "deployments"]).await;
    assert_eq!(v["data"]["total"], 0, "{v}");
    assert!(v["notes"].to_string().contains("no deployment"), "{v}");
}
