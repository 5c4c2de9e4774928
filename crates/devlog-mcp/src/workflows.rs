//! `run_workflow` (issue 21): runs a workflow that has a `manual` trigger now, as `devlog
//! workflow run` and `POST /api/v1/workflows/{name}/run` do, with the MCP caller as the
//! actor; `list_workflow_runs` and `get_workflow_run` read the run records as `devlog
//! workflow runs`/`show` and `GET /api/v1/workflows/runs[/{id}]` do (`Site::runs`,
//! `Site::run`). The workspace's workflow folders come in [`crate::Options::workflows`].

use devlog_workflow::engine::EngineError;
use devlog_workflow::load::{RunQuery, Site};
use devlog_workflow::runs::{RunId, RunRecord, RunState, RunStoreError};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::{Args, Count, input_schema};
use crate::error::Failure;
use crate::server::DevlogMcp;
use crate::tools::{Reply, finish, page_limit};

const RUN_WORKFLOW: &str = "Run a devlog workflow (a file in .devlog/workflows/ with a `manual` trigger) now, on an entry when given: its `if` condition is checked, then its steps run (adding notes, setting fields, creating entries…) as `workflow:<name>`. Answers the run: succeeded or failed, each step with its output, the error. Use `devlog workflow list` (or GET /api/v1/workflows) to see the workflows.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunWorkflowArgs {
    /// The workflow's name (its `name:`).
    pub name: String,
    /// The entry to run it on: handle (42 or "#42"), id, id prefix or key. Optional.
    #[serde(default)]
    pub entry: Option<String>,
}

const LIST_RUNS: &str = "List recorded devlog workflow runs, newest first: each run's id, workflow, state (running, waiting, retrying, succeeded, failed, dead), cause, entry and times. Optional filters: workflow (its name), state, limit (default 20). Use get_workflow_run for one run's steps and outputs.";

const GET_RUN: &str = "One recorded devlog workflow run by its id (as list_workflow_runs answers it): what started it, each step with its output or error, the outcome, as `devlog workflow show RUN --json` prints it.";

/// Runs listed when no limit is given.
const DEFAULT_RUNS: usize = 20;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListWorkflowRunsArgs {
    /// Only this workflow's runs (its `name:`).
    #[serde(default)]
    pub workflow: Option<String>,
    /// Only runs in this state: running, waiting, retrying, succeeded, failed or dead.
    #[serde(default)]
    #[schemars(schema_with = "run_state_schema")]
    pub state: Option<RunState>,
    /// At most this many, the newest (default 20).
    #[serde(default)]
    #[schemars(extend("default" = 20))]
    pub limit: Option<Count>,
}

fn run_state_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetWorkflowRunArgs {
    /// The run's id (as list_workflow_runs answers it).
    pub id: String,
}

#[tool_router(router = workflows_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "run_workflow",
        description = RUN_WORKFLOW,
        input_schema = input_schema::<RunWorkflowArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn run_workflow(&self, Args(a): Args<RunWorkflowArgs>) -> CallToolResult {
        finish(self.do_run_workflow(a).await)
    }

    #[tool(
        name = "list_workflow_runs",
        description = LIST_RUNS,
        input_schema = input_schema::<ListWorkflowRunsArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn list_workflow_runs(&self, Args(a): Args<ListWorkflowRunsArgs>) -> CallToolResult {
        finish(self.do_list_workflow_runs(a).await)
    }

    #[tool(
        name = "get_workflow_run",
        description = GET_RUN,
        input_schema = input_schema::<GetWorkflowRunArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_workflow_run(&self, Args(a): Args<GetWorkflowRunArgs>) -> CallToolResult {
        finish(self.do_get_workflow_run(a).await)
    }
}

/// A problem reading the run records, as the tools answer it.
fn runs_failure(e: RunStoreError) -> Failure {
    match e {
        e @ RunStoreError::NotFound { .. } => {
            Failure::invalid(format!("{e} (list_workflow_runs lists the recorded runs)"))
        }
        e => Failure::invalid(e.to_string()),
    }
}

/// One line about a run, as `devlog workflow runs` shows it.
fn run_line(r: &RunRecord) -> String {
    let mut line = format!(
        "{} {} {} started {}",
        r.id,
        r.workflow,
        r.state.as_str(),
        r.started_at
    );
    if let Some(e) = r.entry {
        line.push_str(&format!(" entry {e}"));
    }
    if let Some(e) = &r.error {
        line.push_str(&format!(": {e}"));
    }
    line
}

impl DevlogMcp {
    fn site(&self) -> Result<Site, Failure> {
        self.options().workflows.clone().ok_or_else(|| {
            Failure::invalid("this server has no workspace folder to read workflows from")
        })
    }

    async fn do_list_workflow_runs(&self, a: ListWorkflowRunsArgs) -> Result<Reply, Failure> {
        let query = RunQuery {
            workflow: a.workflow,
            state: a.state,
            limit: page_limit(a.limit, DEFAULT_RUNS),
        };
        let runs = self.site()?.runs(&query).await.map_err(runs_failure)?;
        let text = if runs.is_empty() {
            "No workflow runs.".to_string()
        } else {
            runs.iter().map(run_line).collect::<Vec<_>>().join("\n")
        };
        Ok(Reply::new(
            text,
            serde_json::json!({ "runs": serde_json::to_value(&runs).unwrap_or_default() }),
        ))
    }

    async fn do_get_workflow_run(&self, a: GetWorkflowRunArgs) -> Result<Reply, Failure> {
        let id = RunId::parse(&a.id).map_err(Failure::invalid)?;
        let run = self.site()?.run(&id).await.map_err(runs_failure)?;
        let mut text = run_line(&run);
        for s in &run.steps {
            text.push_str(&format!("\n  step {} {}: {}", s.path, s.action, s.output));
            if let Some(e) = &s.error {
                text.push_str(&format!(" error: {e}"));
            }
        }
        Ok(Reply::new(
            text,
            serde_json::to_value(&run).unwrap_or_default(),
        ))
    }

    async fn do_run_workflow(&self, a: RunWorkflowArgs) -> Result<Reply, Failure> {
        let Some(site) = self.options().workflows.clone() else {
            return Err(Failure::invalid(
                "this server has no workspace folder to read workflows from",
            ));
        };
        let (engine, _) = site
            .engine(self.app().clone(), devlog_core::Origin::Mcp)
            .map_err(Failure::invalid)?;
        let entry = match &a.entry {
            Some(r) => Some(self.app().resolve(r).await?.id),
            None => None,
        };
        let actor = self.meta().actor;
        let run = engine
            .run_manual(&a.name, entry, actor)
            .await
            .map_err(|e| match e {
                EngineError::Store(e) => Failure::from(e),
                e => Failure::invalid(e.to_string()),
            })?;
        let mut text = format!(
            "Workflow {} run {}: {}",
            run.workflow,
            run.id,
            run.state.as_str()
        );
        for s in &run.steps {
            text.push_str(&format!("\n  step {} {}: {}", s.path, s.action, s.output));
        }
        if let Some(e) = &run.error {
            text.push_str(&format!("\nError: {e}"));
        }
        if let Some(t) = run.wake_at {
            text.push_str(&format!("\n(parked until {t}: it goes on then)"));
        }
        if run.state.is_failure() {
            text.push_str("\n(the run is recorded: `devlog workflow show ");
            text.push_str(run.id.as_str());
            text.push_str("`)");
        }
        Ok(Reply::new(
            text,
            serde_json::to_value(&run).unwrap_or_default(),
        ))
    }
}
