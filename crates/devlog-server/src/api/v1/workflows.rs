//! `/workflows`: the workspace's workflows (devlog-workflow; docs/workflows.md).
//! `GET /workflows` lists them as `devlog workflow list` does; `POST /workflows/{name}/run`
//! runs one that has a `manual` trigger now, as `devlog workflow run` does (role: editor, a
//! write), with this request's actor; the workflows its writes trigger are run by the
//! server's workflow loop (it follows the change feed). `GET /workflows/runs` and
//! `GET /workflows/runs/{id}` read the run records as `devlog workflow runs` and `devlog
//! workflow show` do (through `Site::runs`/`Site::run`). The files are read per request, so
//! an edit applies at once. A server built without a workspace (`ServerOptions::workflows`
//! unset) answers 404 `no-workflows`. The dashboard's workflow pages call the same functions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use devlog_core::Origin;
use devlog_workflow::engine::EngineError;
use devlog_workflow::format::Trigger;
use devlog_workflow::load::{RunQuery, Site};
use devlog_workflow::runs::{RunId, RunRecord, RunState, RunStoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, OptionalJsonBody, Params};
use crate::state::AppState;

/// A workflow file's workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDoc {
    pub name: String,
    pub description: Option<String>,
    /// Runs on its triggers (its file says so and it is not disabled in this checkout).
    pub enabled: bool,
    /// The trigger keys (`status_changed`, `schedule`, `manual`…).
    pub triggers: Vec<String>,
    /// The file, relative to the workspace.
    pub file: String,
}

/// The workflows, and the files that could not be read (`file:line: key: message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowDoc>,
    pub errors: Vec<String>,
}

/// What to run a workflow on.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunWorkflowDoc {
    /// The entry (handle, id, id prefix or key); none: the run has no entry.
    pub entry: Option<String>,
}

/// The server's workflow places, or 404 `no-workflows`.
pub(crate) fn site(s: &AppState) -> Result<&Site, ApiError> {
    s.workflows().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-workflows",
            "this server has no workspace folder to read workflows from",
        )
    })
}

/// List workflows
#[utoipa::path(
    get,
    path = "/workflows",
    tag = "workflows",
    responses(
        (status = 200, description = "The workflows", body = WorkflowList),
        (status = 404, description = "The server has no workspace", body = ErrorBody),
    )
)]
pub async fn list(State(s): State<AppState>) -> Result<Json<WorkflowList>, ApiError> {
    Ok(Json(workflow_list(site(&s)?)?))
}

/// Run the workflow named `runs`
///
/// `POST /workflows/{name}/run` for the workflow named `runs`, whose path the run records'
/// `GET /workflows/runs/{id}` would otherwise take; the same request and answer.
#[utoipa::path(
    post,
    path = "/workflows/runs/run",
    tag = "workflows",
    request_body = RunWorkflowDoc,
    params(("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting")),
    responses(
        (status = 200, description = "The run record", body = Object),
        (status = 404, description = "No workflow named `runs` or no such entry, or no workspace", body = ErrorBody),
        (status = 422, description = "The workflow has no `manual` trigger, or the body is wrong", body = ErrorBody),
    )
)]
pub async fn run_named_runs(
    state: State<AppState>,
    actor: Actor,
    body: OptionalJsonBody<RunWorkflowDoc>,
) -> Result<Json<serde_json::Value>, ApiError> {
    run(state, actor, Path("runs".to_string()), body).await
}

/// The workflows of `site` and the files that could not be read.
pub(crate) fn workflow_list(site: &Site) -> Result<WorkflowList, ApiError> {
    let report = site.load().map_err(workflows_error)?;
    let disabled = site.disabled(&report.workflows).map_err(workflows_error)?;
    let workflows = report
        .workflows
        .iter()
        .map(|l| WorkflowDoc {
            name: l.workflow.name.to_string(),
            description: l.workflow.description.clone(),
            enabled: !disabled.contains(l.workflow.name.as_str()),
            triggers: l
                .triggers
                .iter()
                .map(|t: &Trigger| t.name().to_string())
                .collect(),
            file: l.file.clone(),
        })
        .collect();
    Ok(WorkflowList {
        workflows,
        errors: report.errors.iter().map(ToString::to_string).collect(),
    })
}

fn workflows_error(e: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "workflows", e)
}

/// A problem reading the run records: 404 for a run that is not there.
pub(crate) fn runs_error(e: RunStoreError) -> ApiError {
    match e {
        e @ RunStoreError::NotFound { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
        }
        e => workflows_error(e.to_string()),
    }
}

/// Recorded runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowRuns {
    /// Each run as `devlog workflow show --json` prints it.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<RunRecord>,
}

/// List workflow runs
///
/// The recorded runs, newest first, as `devlog workflow runs --json` lists them: each with
/// its workflow, cause, entry, state, steps (outputs, errors) and times.
#[utoipa::path(
    get,
    path = "/workflows/runs",
    tag = "workflows",
    params(
        ("workflow" = Option<String>, Query, description = "Only this workflow's runs"),
        ("state" = Option<String>, Query, description = "Only runs in this state: running, waiting, retrying, succeeded, failed, dead"),
        ("limit" = Option<usize>, Query, description = "At most this many (1 to 1000, default 50)"),
        ("offset" = Option<usize>, Query, description = "Skip this many of the newest first (default 0)"),
    ),
    responses(
        (status = 200, description = "The runs", body = WorkflowRuns),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
        (status = 404, description = "The server has no workspace", body = ErrorBody),
    )
)]
pub async fn runs(
    State(s): State<AppState>,
    mut p: Params,
) -> Result<Json<WorkflowRuns>, ApiError> {
    let workflow = p.take("workflow")?;
    let state = p
        .take("state")?
        .map(|v| {
            v.parse::<RunState>()
                .map_err(|e| ApiError::bad_request(format!("query `state`: {e}")))
        })
        .transpose()?;
    let (limit, offset) = p.take_page(50)?;
    p.finish(&["workflow", "state", "limit", "offset"])?;
    let query = RunQuery {
        workflow,
        state,
        limit: limit.saturating_add(offset),
    };
    let runs = site(&s)?.runs(&query).await.map_err(runs_error)?;
    Ok(Json(WorkflowRuns {
        runs: runs.into_iter().skip(offset).collect(),
    }))
}

/// Show a workflow run
///
/// One run as `devlog workflow show RUN --json` prints it: its trigger, each step with its
/// output or error, the outcome. Secrets the steps used are redacted in the record.
#[utoipa::path(
    get,
    path = "/workflows/runs/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "The run's id (as `GET /workflows/runs` lists it)")),
    responses(
        (status = 200, description = "The run record", body = Object),
        (status = 400, description = "Not a run id", body = ErrorBody),
        (status = 404, description = "No such run, or no workspace", body = ErrorBody),
    )
)]
pub async fn show_run(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunRecord>, ApiError> {
    let site = site(&s)?;
    let id = RunId::parse(&id).map_err(ApiError::bad_request)?;
    Ok(Json(site.run(&id).await.map_err(runs_error)?))
}

/// Run a workflow
///
/// Runs a workflow with a `manual` trigger now, if its `if` holds; answers the run record
/// (`state`: `succeeded` or `failed`, each step with its output, `error`) as
/// `devlog workflow show --json` prints it. A failed run is still 200: the run happened.
#[utoipa::path(
    post,
    path = "/workflows/{name}/run",
    tag = "workflows",
    request_body = RunWorkflowDoc,
    params(
        ("name" = String, Path, description = "The workflow's name"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The run record", body = Object),
        (status = 404, description = "No such workflow or entry, or no workspace", body = ErrorBody),
        (status = 422, description = "The workflow has no `manual` trigger, or the body is wrong", body = ErrorBody),
    )
)]
pub async fn run(
    State(s): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<RunWorkflowDoc>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let site = site(&s)?;
    let (engine, _) = site
        .engine(s.app().clone(), Origin::Http)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "workflows", e))?;
    let entry = match &body.entry {
        Some(r) => Some(s.app().resolve(r).await?.id),
        None => None,
    };
    let who = s.meta(actor).actor;
    let record = engine
        .run_manual(&name, entry, who)
        .await
        .map_err(|e| match e {
            EngineError::Store(e) => ApiError::from(e),
            e @ EngineError::UnknownWorkflow { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
            }
            e @ EngineError::NotManual { .. } => ApiError::invalid(e.to_string()),
            e => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "workflows",
                e.to_string(),
            ),
        })?;
    s.committed();
    Ok(Json(serde_json::to_value(&record).unwrap_or_default()))
}
