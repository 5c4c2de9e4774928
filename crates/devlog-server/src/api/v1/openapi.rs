//! `/openapi.json`: the OpenAPI 3 description of this server's HTTP API.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The OpenAPI document
///
/// This document: every endpoint of the server, generated from the routes themselves.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "server",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn document(State(s): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        s.openapi(),
    )
        .into_response()
}
