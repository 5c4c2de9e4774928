//! `run_workflow` (issue 21): runs a workflow that has a `manual` trigger now, as `devlog
//! workflow run` and `POST /api/v1/workflows/{name}/run` do, with the MCP caller as the
//! actor. The workspace's workflow folders come in [`crate::Options::workflows`].

use devlog_workflow::engine::EngineError;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::{Args, input_schema};
use crate::error::Failure;
use crate::server::DevlogMcp;
use crate::tools::{Reply, finish};

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
}

impl DevlogMcp {
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
