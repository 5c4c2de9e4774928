//! API v1 (`/api/v1`): entries and their notes, decisions and completion, search, stats, the
//! change feed and its live stream, health and this API's OpenAPI document.
//!
//! Every route is registered through `utoipa_axum::routes!`, which takes the route from the
//! handler's `#[utoipa::path]` annotation, so a route cannot exist without its description
//! (`tests/http/openapi.rs` checks the document against the router from the outside).

pub mod audit;
pub mod bulk;
pub mod decisions;
pub mod entries;
pub mod events;
pub mod health;
pub mod history;
pub mod insights;
pub mod notes;
pub mod openapi;
pub mod planning;
pub mod relations;
pub mod reports;
pub mod schema;
pub mod search;
pub mod stats;
pub mod sync;
pub mod workflows;
pub mod worklog_suggestions;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Where this version is mounted.
pub const PREFIX: &str = "/api/v1";

/// The routes of API v1, relative to [`PREFIX`], with their OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(entries::list, entries::create))
        .routes(routes!(entries::get, entries::edit, entries::delete))
        .routes(routes!(entries::complete))
        .routes(routes!(entries::transition))
        .routes(routes!(notes::add))
        .routes(routes!(decisions::add))
        .routes(routes!(insights::add))
        .routes(routes!(insights::list))
        .routes(routes!(relations::link, relations::unlink))
        .routes(routes!(relations::relations))
        .routes(routes!(relations::add_dependency))
        .routes(routes!(relations::remove_dependency))
        .routes(routes!(relations::add_risk))
        .routes(routes!(relations::remove_risk))
        .routes(routes!(planning::log_time))
        .routes(routes!(planning::edit_worklog, planning::delete_worklog))
        .routes(routes!(planning::list, planning::create))
        .routes(routes!(planning::get, planning::set_state))
        .routes(routes!(worklog_suggestions::list))
        .routes(routes!(worklog_suggestions::apply))
        .routes(routes!(worklog_suggestions::dismiss))
        .routes(routes!(history::history))
        .routes(routes!(history::undo))
        .routes(routes!(history::edit_note, history::delete_note))
        .routes(routes!(search::search))
        .routes(routes!(stats::stats))
        .routes(routes!(reports::report))
        .routes(routes!(events::feed))
        .routes(routes!(events::stream))
        .routes(routes!(sync::resolve))
        .routes(routes!(bulk::bulk))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(audit::verify))
        .routes(routes!(workflows::list))
        .routes(routes!(workflows::run))
        .routes(routes!(workflows::runs))
        .routes(routes!(workflows::show_run))
        .routes(routes!(workflows::run_named_runs))
        .routes(routes!(health::health))
        .routes(routes!(openapi::document))
}
