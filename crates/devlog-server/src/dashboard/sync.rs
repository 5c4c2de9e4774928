//! `/sync`: the integrations' health (the `sync-health` report), the queue (depth, oldest
//! job, dead jobs), the open conflicts with buttons that resolve them (the script sends JSON
//! to `POST /api/v1/sync/conflicts/{id}/resolve`, which calls `SyncEngine::resolve` like
//! `devlog sync resolve`), and with `?plan=true` what a sync would do now (`SyncEngine::plan`,
//! as `devlog sync --plan`). All through the engine `devlog serve` built; without one the
//! page says how to configure an integration.

use axum::extract::{Query, State};
use axum::response::Html;
use devlog_core::reports::{Report, ReportName, ReportQuery};
use devlog_sync::JobState;
use minijinja::{Value, context};

use super::pages::{PageError, form_pairs, render_live, v};
use super::reports::health_section;
use crate::api::v1::sync::engine_error;
use crate::extract::Params;
use crate::state::AppState;

/// Rows shown per table (dead jobs, conflicts, planned operations).
const ROWS: usize = 200;

/// A conflict's value as text: strings without their JSON quotes.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(empty)".into(),
        other => other.to_string(),
    }
}

/// An entry's handle and title for a row, or its id when it is gone.
async fn entry_label(s: &AppState, id: devlog_core::EntryId) -> Value {
    match s.app().resolve_summary(&id.to_string()).await {
        Ok(e) => context! { handle => e.handle, title => e.title },
        Err(_) => context! { title => format!("{id} (no longer in the store)") },
    }
}

fn when_ms(ms: i64) -> String {
    devlog_core::Timestamp::from_millis(ms)
        .map(|t| {
            t.to_string()
                .chars()
                .take(16)
                .collect::<String>()
                .replace('T', " ")
        })
        .unwrap_or_default()
}

/// `/sync`.
pub async fn page(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Html<String>, PageError> {
    let mut p = Params::from_vec(form_pairs(pairs));
    let want_plan = p.take_bool("plan")?;
    p.finish(&["plan"])?;
    let Some(engine) = s.sync().engine.clone() else {
        return render_live(
            &s,
            "sync.html",
            context! {
                page => "sync",
                title => "Sync",
                configured => false,
                error => s.sync().error.clone(),
            },
        )
        .await;
    };
    let sources = s.sync_sources();
    let health = s
        .app()
        .report(
            ReportName::SyncHealth,
            &ReportQuery::default(),
            sources.as_ref(),
        )
        .await?;
    let (health_rows, notes) = match &health.report {
        Report::SyncHealth(h) => (health_section(&h.integrations), health.notes.clone()),
        _ => (health_section(&[]), health.notes.clone()),
    };
    let state = engine.state();
    let (jobs, conflicts) = futures::try_join!(state.open_jobs(), state.open_conflicts())?;
    let mut dead = Vec::new();
    for j in jobs.iter().filter(|j| j.state == JobState::Dead).take(ROWS) {
        dead.push(context! {
            id => j.id,
            integration => j.integration.clone(),
            entry => entry_label(&s, j.entry_id).await,
            attempts => j.attempts,
            error => j.last_error.clone().unwrap_or_default(),
            updated => when_ms(j.updated_at),
        });
    }
    let dead_total = jobs.iter().filter(|j| j.state == JobState::Dead).count();
    let mut open = Vec::new();
    for c in conflicts.iter().take(ROWS) {
        open.push(context! {
            id => c.id,
            integration => c.integration.clone(),
            entry => entry_label(&s, c.entry_id).await,
            field => c.field.field.to_string(),
            local => value_text(&c.field.local),
            remote => value_text(&c.field.remote),
            at => when_ms(c.created_at),
        });
    }
    let (plan, plan_error) = if want_plan {
        match engine.plan(None, None, true).await {
            Ok(ops) => (
                Some(
                    ops.iter()
                        .take(ROWS)
                        .map(|op| context! { text => op.to_string(), push => op.is_push() })
                        .collect::<Vec<_>>(),
                ),
                None,
            ),
            Err(e) => (None, Some(engine_error(e).message)),
        }
    } else {
        (None, None)
    };
    render_live(
        &s,
        "sync.html",
        context! {
            page => "sync",
            title => "Sync",
            configured => true,
            integrations => engine.integrations().iter().map(|i| i.descriptor().name).collect::<Vec<_>>(),
            health => v(&health_rows),
            notes => notes,
            queued => jobs.len() - dead_total,
            dead => dead,
            dead_total => dead_total,
            conflicts => open,
            conflicts_total => conflicts.len(),
            want_plan => want_plan,
            plan => plan,
            plan_error => plan_error,
        },
    )
    .await
}
