//! `/workflows`: the workspace's workflows (as `GET /api/v1/workflows` lists them), the files
//! that failed to load, the recent runs, and a Run form for each workflow with a `manual`
//! trigger; `/workflows/runs/{id}`: one run's steps, outputs and errors (the record
//! `GET /api/v1/workflows/runs/{id}` answers). Running is a write: the form's script sends
//! JSON to `POST /api/v1/workflows/{name}/run` (editor role, the session's CSRF token), and
//! a viewer gets no form. Entry pages offer the same Run control for that entry
//! ([`manual_for`]). Runs are read through `Site::runs`/`Site::run` only.

use axum::extract::{Path, State};
use axum::response::Html;
use devlog_core::auth::Role;
use devlog_workflow::load::RunQuery;
use devlog_workflow::runs::{RunId, RunRecord};
use minijinja::{Value, context};

use super::pages::{PageError, render_live, v};
use crate::api::v1::workflows::{WorkflowDoc, runs_error, site, workflow_list};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Runs the page lists.
const RECENT: usize = 50;

/// The trigger that lets a person run a workflow.
const MANUAL: &str = "manual";

/// Whether the caller may run workflows (a write: editor).
pub(super) fn may_run(caller: &Caller) -> bool {
    caller.0.allows(Role::Editor)
}

fn is_manual(w: &WorkflowDoc) -> bool {
    w.enabled && w.triggers.iter().any(|t| t == MANUAL)
}

/// A run as a table row.
async fn run_row(s: &AppState, r: &RunRecord) -> Value {
    let entry = match r.entry {
        Some(id) => match s.app().resolve_summary(&id.to_string()).await {
            Ok(e) => context! { handle => e.handle, title => e.title },
            Err(_) => context! { title => format!("{id} (no longer in the store)") },
        },
        None => Value::from(()),
    };
    context! {
        id => r.id.as_str(),
        workflow => r.workflow.clone(),
        state => r.state.as_str(),
        failed => r.state.is_failure(),
        cause => r.cause.to_string(),
        entry => entry,
        started => r.started_at.to_string(),
        finished => r.finished_at.map(|t| t.to_string()),
        wake => r.wake_at.filter(|_| r.state.is_parked()).map(|t| t.to_string()),
        error => r.error.clone(),
        error_short => r.error.as_deref().map(short),
    }
}

/// At most [`SHORT`] characters of `text`, for a table cell.
fn short(text: &str) -> String {
    match text.char_indices().nth(SHORT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The characters of an error a runs table shows (its run page shows all).
const SHORT: usize = 120;

/// `/workflows`.
pub async fn page(State(s): State<AppState>, caller: Caller) -> Result<Html<String>, PageError> {
    let Some(site) = s.workflows() else {
        return render_live(
            &s,
            "workflows.html",
            context! { page => "workflows", title => "Workflows", configured => false },
        )
        .await;
    };
    let list = workflow_list(site)?;
    // Every record once: the recent ones, and each workflow's last run however old.
    let runs = site.runs(&RunQuery::default()).await.map_err(runs_error)?;
    let mut rows = Vec::with_capacity(RECENT);
    for r in runs.iter().take(RECENT) {
        rows.push(run_row(&s, r).await);
    }
    let workflows: Vec<Value> = list
        .workflows
        .iter()
        .map(|w| {
            let last = runs.iter().find(|r| r.workflow == w.name);
            context! {
                doc => v(w),
                manual => is_manual(w),
                last => last.map(|r| context! {
                    id => r.id.as_str(),
                    state => r.state.as_str(),
                    started => r.started_at.to_string(),
                }),
            }
        })
        .collect();
    render_live(
        &s,
        "workflows.html",
        context! {
            page => "workflows",
            title => "Workflows",
            configured => true,
            workflows => workflows,
            errors => list.errors,
            runs => rows,
            may_run => may_run(&caller),
        },
    )
    .await
}

/// `/workflows/runs/{id}`.
pub async fn run(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let id = RunId::parse(&id).map_err(ApiError::bad_request)?;
    let record = site(&s)?.run(&id).await.map_err(runs_error)?;
    let steps: Vec<Value> = record
        .steps
        .iter()
        .map(|st| {
            context! {
                path => st.path.clone(),
                action => st.action.clone(),
                state => v(&st.state),
                attempts => st.attempts,
                output => (!st.output.is_null())
                    .then(|| serde_json::to_string_pretty(&st.output).unwrap_or_default()),
                error => st.error.clone(),
            }
        })
        .collect();
    let row = run_row(&s, &record).await;
    render_live(
        &s,
        "workflow_run.html",
        context! {
            page => "workflows",
            title => format!("Run {} of {}", record.id, record.workflow),
            run => row,
            depth => record.depth,
            resumed => record.resumed,
            steps => steps,
            record => serde_json::to_string_pretty(&record).unwrap_or_default(),
        },
    )
    .await
}

/// The names of the workflows a person can run now (enabled, with a `manual` trigger), for
/// an entry page's Run control; none without a workspace, for a caller who may not run
/// them, or when the files cannot be read (the Workflows page says why).
pub(super) fn manual_for(s: &AppState, caller: &Caller) -> Vec<String> {
    if !may_run(caller) {
        return Vec::new();
    }
    let Some(site) = s.workflows() else {
        return Vec::new();
    };
    workflow_list(site)
        .map(|l| {
            l.workflows
                .iter()
                .filter(|w| is_manual(w))
                .map(|w| w.name.clone())
                .collect()
        })
        .unwrap_or_default()
}
