//! Worklog suggestions (issue 18): `GET /worklogs/suggestions` lists worklogs proposed from
//! the user's git commits that mention entries; `POST /worklogs/suggestions/apply` logs
//! chosen ones (each at most once, ever) and `POST /worklogs/suggestions/dismiss` stops
//! proposing them. Thin callers of `devlog_core::worklog_suggest::WorklogSuggester`, which
//! `devlog serve` builds over its git repositories (the CLI's `devlog worklog suggest` and
//! MCP's `suggest_worklogs` are the same use case).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use devlog_core::worklog_suggest::{
    self as ws_core, ScanOptions, SuggestOptions, WorklogSuggester,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::schema::{EntrySummaryDoc, WorklogDoc};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, Body, JsonBody, Params};
use crate::state::AppState;

/// A worklog proposed from one session of commits, for one entry.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WorklogSuggestion)]
pub struct WorklogSuggestionDoc {
    /// 12 hex digits, stable across runs: what `apply` and `dismiss` take (or a unique prefix).
    id: String,
    /// The repository's name (its folder's).
    repo: String,
    /// The repository's path on the server.
    repository: String,
    /// The entry's id, handle and title in that repository's store.
    entry: String,
    handle: u64,
    title: String,
    /// The day the worklog would be logged on: the session's start, UTC.
    #[schema(format = Date)]
    date: String,
    /// 1 to 1440.
    minutes: u32,
    /// The session: its start (first commit minus padding) and last commit.
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    first_commit: String,
    last_commit: String,
    /// Commits in the session.
    commits: usize,
    /// How many entries share the session's time.
    shared_by: usize,
    /// The share was more than a day and was cut to one.
    capped: Option<bool>,
    /// The worklog's note.
    note: String,
}

/// The pending suggestions.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = WorklogSuggestions)]
pub struct WorklogSuggestionsDoc {
    /// The start of the commits read.
    #[schema(format = DateTime)]
    since: String,
    suggestions: Vec<WorklogSuggestionDoc>,
    /// What was passed over: repositories skipped, references that name no entry.
    notes: Vec<String>,
}

/// A suggestion logged as a worklog.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = AppliedSuggestion)]
pub struct AppliedSuggestionDoc {
    suggestion: String,
    repository: String,
    entry: EntrySummaryDoc,
    worklog: WorklogDoc,
}

/// The suggestions logged (those another request logged first are left out).
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = SuggestionsApplied)]
pub struct SuggestionsAppliedDoc {
    applied: Vec<AppliedSuggestionDoc>,
    notes: Vec<String>,
}

/// The suggestions dismissed.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = SuggestionsDismissed)]
pub struct SuggestionsDismissedDoc {
    dismissed: Vec<String>,
    notes: Vec<String>,
}

/// Suggestions to apply or dismiss, and the listing they were taken from (the same `since`,
/// `gap`, `padding` and `author` as the `GET`; a session cut differently has other ids).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SuggestionChoice)]
pub struct SuggestionChoiceBody {
    /// Suggestion ids, or unique prefixes of them (at least one).
    ids: Vec<String>,
    /// A date (`2026-12-01`), `today`, `yesterday`, or a time ago (`7d`, `2w`, `36h`); default `7d`.
    since: Option<String>,
    /// The longest pause within a session (`2h`, `90m`); default `2h`.
    gap: Option<String>,
    /// Time counted before a session's first commit (`30m`, `0`); default `30m`.
    padding: Option<String>,
    /// Whose commits (a name or an email); default each repository's git identity.
    author: Option<String>,
}

impl Body for SuggestionChoiceBody {
    type Doc = SuggestionChoiceBody;
}

fn suggester(s: &AppState) -> Result<WorklogSuggester, ApiError> {
    s.worklog_suggester().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no-repository",
            "worklog suggestions read git repositories, and this server has none",
        )
        .with_hint("run `devlog serve` inside the git repository that holds the .devlog")
    })
}

/// The scan options from the request's texts.
fn options(
    s: &AppState,
    since: Option<&str>,
    gap: Option<&str>,
    padding: Option<&str>,
    author: Option<String>,
) -> Result<ScanOptions, ApiError> {
    let now = s.app().clock().now().as_datetime();
    Ok(ScanOptions {
        since: ws_core::parse_since(since.unwrap_or("7d"), now)?,
        author,
        session: SuggestOptions {
            gap_minutes: match gap {
                Some(g) => ws_core::parse_minutes("gap", g, false)?,
                None => ws_core::DEFAULT_GAP_MINUTES,
            },
            padding_minutes: match padding {
                Some(p) => ws_core::parse_minutes("padding", p, true)?,
                None => ws_core::DEFAULT_PADDING_MINUTES,
            },
        },
    })
}

/// The scan of a choice, and the proposals its ids name (all or an error naming the first
/// that names none or several).
async fn chosen(
    s: &AppState,
    body: SuggestionChoiceBody,
) -> Result<
    (
        WorklogSuggester,
        devlog_core::worklog_suggest::Scan,
        Vec<devlog_core::worklog_suggest::Proposal>,
    ),
    ApiError,
> {
    let suggester = suggester(s)?;
    if body.ids.is_empty() {
        return Err(ApiError::invalid(
            "ids is empty: give the ids of the suggestions (GET /api/v1/worklogs/suggestions lists them)",
        ));
    }
    let opts = options(
        s,
        body.since.as_deref(),
        body.gap.as_deref(),
        body.padding.as_deref(),
        body.author,
    )?;
    let scan = suggester.scan(&opts).await?;
    let chosen = WorklogSuggester::choose(&scan, &body.ids)?;
    Ok((suggester, scan, chosen))
}

/// Worklog suggestions
///
/// Worklogs proposed from the user's commits that mention entries (`#12`, `devlog-12`), in
/// the server's repository and those `devlog repos discover` found: commits less than `gap`
/// apart form a session from its first commit to its last plus `padding`, split evenly over
/// the entries it mentions. Applied and dismissed suggestions are left out. Reads only.
#[utoipa::path(
    get,
    path = "/worklogs/suggestions",
    tag = "planning",
    params(
        ("since" = Option<String>, Query, description = "A date (2026-12-01), today, yesterday, or a time ago (7d, 2w, 36h); default 7d"),
        ("gap" = Option<String>, Query, description = "The longest pause within a session (2h, 90m); default 2h"),
        ("padding" = Option<String>, Query, description = "Time counted before a session's first commit (30m, 0); default 30m"),
        ("author" = Option<String>, Query, description = "Whose commits (a name or an email); default each repository's git identity"),
    ),
    responses(
        (status = 200, description = "The pending suggestions", body = WorklogSuggestionsDoc),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
        (status = 409, description = "The server has no git repository", body = ErrorBody),
        (status = 422, description = "A bad since, gap or padding (the message lists the accepted forms)", body = ErrorBody),
    )
)]
pub async fn list(State(s): State<AppState>, mut p: Params) -> Result<Json<Value>, ApiError> {
    let since = p.take("since")?;
    let gap = p.take("gap")?;
    let padding = p.take("padding")?;
    let author = p.take("author")?;
    p.finish(&["since", "gap", "padding", "author"])?;
    let suggester = suggester(&s)?;
    let opts = options(
        &s,
        since.as_deref(),
        gap.as_deref(),
        padding.as_deref(),
        author,
    )?;
    let scan = suggester.scan(&opts).await?;
    Ok(Json(json!({
        "since": opts.since.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "suggestions": scan.pending,
        "notes": scan.notes,
    })))
}

/// Apply worklog suggestions
///
/// Logs the chosen suggestions as worklogs on their entries (marked with the suggestion's id,
/// so one is logged at most once, ever, even by requests at the same time) and never proposes
/// them again. An id that names no pending suggestion (or several) is refused and nothing is
/// logged.
#[utoipa::path(
    post,
    path = "/worklogs/suggestions/apply",
    tag = "planning",
    request_body = SuggestionChoiceBody,
    params(
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting (the worklogs' author)"),
    ),
    responses(
        (status = 200, description = "The worklogs logged", body = SuggestionsAppliedDoc),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 409, description = "The server has no git repository", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "No ids, an id that names no pending suggestion or several, a bad since, gap or padding", body = ErrorBody),
    )
)]
pub async fn apply(
    State(s): State<AppState>,
    actor: Actor,
    JsonBody(body): JsonBody<SuggestionChoiceBody>,
) -> Result<Json<Value>, ApiError> {
    let meta = s.meta(actor);
    let (suggester, scan, chosen) = chosen(&s, body).await?;
    let guard = s.write_shared().await;
    let mut applied = Vec::new();
    let mut failed = None;
    for p in &chosen {
        match suggester.apply(p, None, &meta).await {
            Ok(Some(a)) => applied.push(json!({
                "suggestion": a.suggestion,
                "repository": a.repository,
                "entry": a.entry.summary(),
                "worklog": a.worklog,
            })),
            Ok(None) => {}
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(guard);
    if !applied.is_empty() {
        s.committed();
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(Json(json!({ "applied": applied, "notes": scan.notes })))
}

/// Dismiss worklog suggestions
///
/// The chosen suggestions are never proposed again (nothing is logged). An id that names no
/// pending suggestion (or several) is refused and nothing is dismissed.
#[utoipa::path(
    post,
    path = "/worklogs/suggestions/dismiss",
    tag = "planning",
    request_body = SuggestionChoiceBody,
    responses(
        (status = 200, description = "The suggestions dismissed", body = SuggestionsDismissedDoc),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 409, description = "The server has no git repository", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "No ids, an id that names no pending suggestion or several, a bad since, gap or padding", body = ErrorBody),
    )
)]
pub async fn dismiss(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<SuggestionChoiceBody>,
) -> Result<Json<Value>, ApiError> {
    let (suggester, scan, chosen) = chosen(&s, body).await?;
    suggester.dismiss(&chosen).await?;
    Ok(Json(json!({
        "dismissed": chosen.iter().map(|p| &p.suggestion.id).collect::<Vec<_>>(),
        "notes": scan.notes,
    })))
}
