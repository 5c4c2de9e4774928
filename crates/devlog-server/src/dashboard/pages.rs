//! The page handlers: each reads what its page shows through the use cases the REST API
//! calls, one page of entries at a time, and renders a template.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use devlog_core::{
    EntrySummary, EntryType, Filter, ListQuery, Page, Priority, SearchQuery, SortKey, Stats, Status,
};
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::{charts, markdown};
use crate::error::ApiError;
use crate::extract::{FILTER_PARAMS, Params};
use crate::state::AppState;

/// Entries per list page.
const PAGE: usize = 50;
/// Cards per board column.
const COLUMN: usize = 50;
/// Changes shown on an entry page.
const HISTORY: usize = 50;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("macros.html", include_str!("templates/macros.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("list.html", include_str!("templates/list.html")),
        ("entry.html", include_str!("templates/entry.html")),
        ("form.html", include_str!("templates/form.html")),
        ("board.html", include_str!("templates/board.html")),
        ("reports.html", include_str!("templates/reports.html")),
        ("report.html", include_str!("templates/report.html")),
        ("sync.html", include_str!("templates/sync.html")),
        ("workflows.html", include_str!("templates/workflows.html")),
        (
            "workflow_run.html",
            include_str!("templates/workflow_run.html"),
        ),
        ("error.html", include_str!("templates/error.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            // A template that does not parse is a build mistake; the page that uses it
            // answers 500 naming it (see `render`).
            tracing::error!("dashboard template {name}: {e}");
        }
    }
    env.add_filter("markdown", |text: &str| {
        Value::from_safe_string(markdown::render(text))
    });
    env.add_filter("when", when);
    env.add_filter("query", |s: &str| enc(s));
    env.add_test("safe_url", |url: &str| {
        markdown::safe_url(url) && !url.trim().is_empty()
    });
    env.add_global("version", env!("CARGO_PKG_VERSION"));
    env
});

/// A serializable value for a template (camelCase, as the API answers).
pub(super) fn v<T: Serialize>(t: &T) -> Value {
    Value::from(minijinja::value::Serde(t))
}

/// `2025-06-25T06:29:02.123Z` → `2025-06-25 06:29`.
fn when(t: &str) -> String {
    let t = t.replace('T', " ");
    t.chars().take(16).collect()
}

/// A page that could not be shown: the API's error, as an HTML page with its status.
#[derive(Debug)]
pub struct PageError(pub(crate) ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.status;
        let fallback = format!("{} {}", e.status, e.message);
        let body = TEMPLATES
            .get_template("error.html")
            .and_then(move |t| {
                t.render(context! {
                    title => format!("{} {}", e.status.as_u16(), e.status.canonical_reason().unwrap_or("")),
                    class => e.class,
                    message => e.message,
                    hint => e.hint,
                })
            })
            .unwrap_or(fallback);
        (status, Html(body)).into_response()
    }
}

pub(super) fn render(name: &str, ctx: Value) -> Result<Html<String>, PageError> {
    let ctx = match super::SIGNED_IN.try_with(Clone::clone) {
        Ok(Some(s)) => context! { signed_in => v(&s), ..ctx },
        _ => ctx,
    };
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map(Html)
        .map_err(|e| {
            tracing::error!("rendering the dashboard page {name}: {e:#}");
            PageError(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the page {name} could not be rendered: {e}"),
            ))
        })
}

/// Renders a page that listens for changes: the page carries the feed position it was read
/// at (`data-seq`), and its script starts the event stream there, so a change made between
/// reading the page and opening the stream is not missed.
pub(super) async fn render_live(
    s: &AppState,
    name: &str,
    ctx: Value,
) -> Result<Html<String>, PageError> {
    let seq = crate::feed::tail(s.app().store().as_ref()).await?;
    render(name, context! { seq => seq, ..ctx })
}

/// The query string as pairs, empty form fields dropped (a filter form sends every field).
pub(super) fn form_pairs(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
}

/// Percent-encodes a query component.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `?a=1&b=2` from pairs, with `offset` replaced.
fn query_with_offset(pairs: &[(String, String)], offset: usize) -> String {
    let mut parts: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k != "offset")
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    if offset > 0 {
        parts.push(format!("offset={offset}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The closed value sets the forms offer.
pub(super) fn choices() -> Value {
    context! {
        statuses => Status::ALL.iter().map(Status::as_str).collect::<Vec<_>>(),
        types => EntryType::ALL.iter().map(EntryType::as_str).collect::<Vec<_>>(),
        priorities => Priority::ALL.iter().map(Priority::as_str).collect::<Vec<_>>(),
        sorts => SortKey::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
    }
}

/// Counts of one dimension in a fixed order (then any others the store reported).
fn ordered(counts: &BTreeMap<String, u64>, order: &[&str]) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = order
        .iter()
        .map(|k| (k.to_string(), counts.get(*k).copied().unwrap_or(0) as f64))
        .collect();
    for (k, v) in counts {
        if !order.contains(&k.as_str()) {
            rows.push((k.clone(), *v as f64));
        }
    }
    rows
}

pub(super) fn count_charts(stats: &Stats) -> Value {
    let statuses: Vec<&str> = Status::ALL.iter().map(Status::as_str).collect();
    let types: Vec<&str> = EntryType::ALL.iter().map(EntryType::as_str).collect();
    let priorities: Vec<&str> = Priority::ALL.iter().map(Priority::as_str).collect();
    let mut assignees: Vec<(String, f64)> = stats
        .by_assignee
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    assignees.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assignees.truncate(10);
    context! {
        status => Value::from_safe_string(charts::bars("Entries by status", &ordered(&stats.by_status, &statuses))),
        type => Value::from_safe_string(charts::bars("Entries by type", &ordered(&stats.by_type, &types))),
        priority => Value::from_safe_string(charts::bars("Entries by priority", &ordered(&stats.by_priority, &priorities))),
        assignee => Value::from_safe_string(charts::bars("Entries by assignee (top 10)", &assignees)),
    }
}

fn list_of(status: &[Status], sort: SortKey, limit: usize) -> ListQuery {
    ListQuery {
        filter: Filter {
            status: status.to_vec(),
            ..Filter::default()
        },
        sort,
        ascending: false,
        offset: 0,
        limit,
    }
}

/// `/`: counts, charts, the work in progress and what was finished lately.
pub async fn overview(State(s): State<AppState>) -> Result<Html<String>, PageError> {
    let store = s.app().store();
    let all = Filter::default();
    let active_q = list_of(
        &[Status::InProgress, Status::InReview, Status::Testing],
        SortKey::Updated,
        12,
    );
    let blocked_q = list_of(&[Status::Blocked], SortKey::Updated, 6);
    let done_q = list_of(&[Status::Done], SortKey::Updated, 6);
    let (stats, active, blocked, done, flow) = futures::try_join!(
        store.stats(&all),
        store.list(&active_q),
        store.list(&blocked_q),
        store.list(&done_q),
        super::reports::overview_charts(&s),
    )?;
    render_live(
        &s,
        "overview.html",
        context! {
            page => "overview",
            title => "Overview",
            stats => v(&stats),
            charts => count_charts(&stats),
            throughput => flow.first().filter(|c| !c.is_empty()).map(|c| Value::from_safe_string(c.clone())),
            cycle => flow.get(1).filter(|c| !c.is_empty()).map(|c| Value::from_safe_string(c.clone())),
            active => v(&active),
            blocked => v(&blocked),
            done => v(&done),
        },
    )
    .await
}

/// One row of the list: an entry, with a search snippet when the list is a search.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    entry: EntrySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
}

/// `/entries`: the CLI's filters, sort and search, from the URL; one page.
pub async fn list(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Html<String>, PageError> {
    let pairs = form_pairs(pairs);
    let mut p = Params::from_vec(pairs.clone());
    let text = p.take("q")?;
    let mut filter = p.take_filter()?;
    let overdue = p.take_bool("overdue")?;
    if overdue {
        filter = s.app().overdue(filter);
    }
    let sort_name = p.take("sort")?;
    let mut sp = Params::from_vec(
        sort_name
            .iter()
            .map(|v| ("sort".to_string(), v.clone()))
            .collect(),
    );
    let sort = sp.take_sort()?;
    let ascending = p.take_bool("asc")?;
    let (_, offset) = p.take_page(PAGE)?;
    p.finish(
        &[
            FILTER_PARAMS,
            &["q", "overdue", "sort", "asc", "offset", "limit"],
        ]
        .concat(),
    )?;
    let shown = filter.clone();
    let page: Page<Row> = match text.as_deref() {
        Some(t) => {
            let hits = s
                .app()
                .store()
                .search(&SearchQuery {
                    text: t.to_string(),
                    filter,
                    offset,
                    limit: PAGE,
                })
                .await?;
            Page {
                total: hits.total,
                offset: hits.offset,
                limit: hits.limit,
                total_is_estimate: hits.total_is_estimate,
                items: hits
                    .items
                    .into_iter()
                    .map(|h| Row {
                        entry: h.entry,
                        snippet: Some(h.snippet),
                    })
                    .collect(),
            }
        }
        None => {
            let entries = s
                .app()
                .store()
                .list(&ListQuery {
                    filter,
                    sort,
                    ascending,
                    offset,
                    limit: PAGE,
                })
                .await?;
            Page {
                total: entries.total,
                offset: entries.offset,
                limit: entries.limit,
                total_is_estimate: entries.total_is_estimate,
                items: entries
                    .items
                    .into_iter()
                    .map(|entry| Row {
                        entry,
                        snippet: None,
                    })
                    .collect(),
            }
        }
    };
    let shown_to = offset + page.items.len();
    let more =
        (shown_to as u64) < page.total || (page.total_is_estimate && page.items.len() == PAGE);
    render_live(
        &s,
        "list.html",
        context! {
            page => "list",
            title => "Entries",
            choices => choices(),
            rows => v(&page.items),
            total => page.total_label(),
            from => if shown_to > offset { offset + 1 } else { 0 },
            to => shown_to,
            prev => (offset > 0).then(|| query_with_offset(&pairs, offset.saturating_sub(PAGE))),
            next => more.then(|| query_with_offset(&pairs, offset + PAGE)),
            q => text,
            filter => context! {
                status => shown.status.iter().map(Status::as_str).collect::<Vec<_>>(),
                type => shown.kind.iter().map(EntryType::as_str).collect::<Vec<_>>(),
                priority => shown.priority.iter().map(Priority::as_str).collect::<Vec<_>>(),
                assignee => shown.assignee,
                tag => shown.tag,
                milestone => shown.milestone,
                open => shown.open_only,
                overdue => overdue,
                sort => sort_name,
                asc => ascending,
            },
        },
    )
    .await
}

/// `/entries/{reference}`: everything about one entry.
pub async fn entry(
    State(s): State<AppState>,
    caller: crate::auth::Caller,
    Path(reference): Path<String>,
) -> Result<Html<String>, PageError> {
    let entry = s.app().resolve(&reference).await?;
    let (history, relations) = futures::try_join!(
        s.app().history(entry.id, HISTORY),
        s.app().relations(entry.id),
    )?;
    let changes: Vec<Value> = history
        .changes
        .iter()
        .map(|c| {
            context! {
                at => c.at.to_string(),
                author => c.author(),
                what => c.events.iter().map(|e| devlog_core::history::describe(e, 120)).collect::<Vec<_>>(),
            }
        })
        .collect();
    let notes: Vec<Value> = entry
        .notes
        .iter()
        .rev()
        .map(|n| {
            context! {
                note => v(n),
                source => n.source(),
            }
        })
        .collect();
    render_live(
        &s,
        "entry.html",
        context! {
            page => "entry",
            title => format!("#{} {}", entry.handle, entry.title),
            entry => v(&entry),
            notes => notes,
            history => changes,
            more_history => history.more,
            relations => v(&relations),
            workflows => super::workflows::manual_for(&s, &caller),
        },
    )
    .await
}

/// `/entries/new`: the create form (it posts JSON to `POST /api/v1/entries`).
pub async fn new_form() -> Result<Html<String>, PageError> {
    render(
        "form.html",
        context! {
            page => "new",
            title => "New entry",
            choices => choices(),
            entry => Value::from(()),
        },
    )
}

/// `/entries/{reference}/edit`: the edit form (it sends JSON to `PATCH /api/v1/entries/{id}`
/// with the entry's ETag in `If-Match`, so an edit made meanwhile is not overwritten).
pub async fn edit_form(
    State(s): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Html<String>, PageError> {
    let entry = s.app().resolve(&reference).await?;
    let etag = crate::etag::etag(&entry);
    render_live(
        &s,
        "form.html",
        context! {
            page => "edit",
            title => format!("Edit #{}", entry.handle),
            choices => choices(),
            etag => etag,
            entry => v(&entry),
        },
    )
    .await
}

/// `/board`: a column per status (closed left out), filtered like the list.
pub async fn board(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Html<String>, PageError> {
    let mut p = Params::from_vec(form_pairs(pairs));
    let base = p.take_filter()?;
    p.finish(FILTER_PARAMS)?;
    let statuses: Vec<Status> = Status::ALL
        .iter()
        .copied()
        .filter(|st| *st != Status::Closed)
        .collect();
    let store = s.app().store();
    let pages = futures::future::try_join_all(statuses.iter().map(|st| {
        let q = ListQuery {
            filter: Filter {
                status: vec![*st],
                ..base.clone()
            },
            sort: SortKey::Priority,
            ascending: false,
            offset: 0,
            limit: COLUMN,
        };
        async move { store.list(&q).await }
    }))
    .await?;
    let columns: Vec<Value> = statuses
        .iter()
        .zip(pages)
        .map(|(st, page)| {
            context! {
                status => st.as_str(),
                total => page.total_label(),
                cards => v(&page.items),
            }
        })
        .collect();
    render_live(
        &s,
        "board.html",
        context! {
            page => "board",
            title => "Board",
            choices => choices(),
            columns => columns,
            filter => context! { assignee => base.assignee, tag => base.tag, milestone => base.milestone },
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for name in [
            "base.html",
            "macros.html",
            "overview.html",
            "list.html",
            "entry.html",
            "form.html",
            "board.html",
            "reports.html",
            "report.html",
            "sync.html",
            "error.html",
        ] {
            TEMPLATES
                .get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn query_strings_keep_the_filters_and_move_the_offset() {
        let pairs = vec![
            ("status".to_string(), "new".to_string()),
            ("q".to_string(), "a b&c".to_string()),
            ("offset".to_string(), "50".to_string()),
        ];
        assert_eq!(
            query_with_offset(&pairs, 100),
            "?status=new&q=a+b%26c&offset=100"
        );
        assert_eq!(query_with_offset(&pairs, 0), "?status=new&q=a+b%26c");
        assert_eq!(query_with_offset(&[], 0), "");
    }
}
