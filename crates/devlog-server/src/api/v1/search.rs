//! `/search`: ranked full-text search.

use axum::Json;
use axum::extract::State;
use devlog_core::{Page, SearchHit, SearchQuery};

use super::schema::{FilterParams, SearchPageDoc, SearchParams};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{FILTER_PARAMS, Params};
use crate::state::AppState;

/// Search entries
///
/// Every word must match (a prefix of a word counts); hits are ranked with the title above the
/// description above notes and context, and carry a snippet around the match. Takes the same
/// filters as `GET /entries`.
#[utoipa::path(
    get,
    path = "/search",
    tag = "entries",
    params(SearchParams, FilterParams),
    responses(
        (status = 200, description = "One page of hits, best first", body = SearchPageDoc),
        (status = 400, description = "No `q`, or a bad or unknown query parameter", body = ErrorBody),
    )
)]
pub async fn search(
    State(s): State<AppState>,
    mut p: Params,
) -> Result<Json<Page<SearchHit>>, ApiError> {
    let text = p.take("q")?.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "query parameter `q` is required: the words to search for",
        ));
    }
    let filter = p.take_filter()?;
    let (limit, offset) = p.take_page(20)?;
    p.finish(&[&["q", "limit", "offset"], FILTER_PARAMS].concat())?;
    let query = SearchQuery {
        text,
        filter,
        offset,
        limit,
    };
    Ok(Json(s.app().store().search(&query).await?))
}
