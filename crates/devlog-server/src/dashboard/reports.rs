//! The reports pages: every report of `devlog_core::reports`, computed by the same
//! `Devlog::report` the CLI, MCP and REST call, drawn as SVG on the server. The query (the
//! window `since`/`until`, the grouping `by` and the list's filters) is in the URL, so a
//! report can be bookmarked.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use devlog_core::Status;
use devlog_core::reports::{
    By, DurationStats, EntryDuration, Report, ReportName, ReportOutput, ReportQuery,
};
use minijinja::{Value, context};
use serde::Serialize;

use super::charts;
use super::pages::{PageError, choices, form_pairs, render_live, v};
use crate::error::ApiError;
use crate::extract::{FILTER_PARAMS, Params};
use crate::state::AppState;

/// How long the overview's report charts are reused while the feed does not move (their
/// windows end "now").
const CHART_AGE: Duration = Duration::from_secs(300);

/// A report's query from the URL: `since`, `until` (YYYY-MM-DD or RFC 3339), `by` and the
/// list's filters, with the API's error messages.
fn report_query(pairs: Vec<(String, String)>) -> Result<ReportQuery, PageError> {
    let mut p = Params::from_vec(pairs);
    let q = ReportQuery {
        since: p.take_time("since")?,
        until: p.take_time("until")?,
        by: p.take_list::<By>("by")?,
        filter: p.take_filter()?,
    };
    p.finish(&[FILTER_PARAMS, &["since", "until", "by"]].concat())?;
    Ok(q)
}

/// Hours as people read them: days above two days, else hours.
fn dur(hours: Option<f64>) -> String {
    match hours {
        None => "–".into(),
        Some(h) if h >= 48.0 => format!("{:.1} days", h / 24.0),
        Some(h) => format!("{h:.1} h"),
    }
}

/// One cell of a table: text, optionally a link.
#[derive(Debug, Serialize)]
pub(super) struct Cell {
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    href: Option<String>,
}

fn c(text: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        href: None,
    }
}

fn entry_cell(handle: u64, title: &str) -> Cell {
    Cell {
        text: format!("#{handle} {title}"),
        href: Some(format!("/entries/{handle}")),
    }
}

/// A part of a report page: a heading, a line of text, a chart and/or a table.
#[derive(Debug, Default, Serialize)]
pub(super) struct Section {
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chart: Option<String>,
    head: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Section {
    fn new(title: impl Into<String>) -> Self {
        Section {
            title: title.into(),
            ..Section::default()
        }
    }
    fn text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into());
        self
    }
    fn chart(mut self, svg: String) -> Self {
        self.chart = Some(svg);
        self
    }
    fn table(mut self, head: &[&str], rows: Vec<Vec<Cell>>) -> Self {
        self.head = head.iter().map(|h| h.to_string()).collect();
        self.rows = rows;
        self
    }
}

fn stats_rows(label: &str, s: &DurationStats) -> Vec<Cell> {
    vec![
        c(label),
        c(s.count.to_string()),
        c(dur(s.median_hours)),
        c(dur(s.p85_hours)),
        c(dur(s.mean_hours)),
        c(dur(s.min_hours)),
        c(dur(s.max_hours)),
    ]
}

const STATS_HEAD: &[&str] = &[
    "",
    "Entries",
    "Median",
    "85th percentile",
    "Mean",
    "Min",
    "Max",
];

fn slowest(title: &str, rows: &[EntryDuration]) -> Section {
    Section::new(title).table(
        &["Entry", "Time", "From", "To"],
        rows.iter()
            .map(|d| {
                vec![
                    entry_cell(d.handle, &d.title),
                    c(dur(Some(d.hours))),
                    c(day(d.from)),
                    c(day(d.to)),
                ]
            })
            .collect(),
    )
}

fn days_of(h: Option<f64>) -> f64 {
    h.map_or(0.0, |h| (h / 24.0 * 10.0).round() / 10.0)
}

/// The throughput chart: entries finished (done or closed) per period.
pub(super) fn throughput_chart(out: &ReportOutput) -> Option<String> {
    let Report::Throughput(t) = &out.report else {
        return None;
    };
    let points: Vec<(String, f64)> = t
        .buckets
        .iter()
        .map(|b| (b.label.clone(), (b.done + b.closed) as f64))
        .collect();
    Some(charts::columns(
        &format!("Entries finished per {}", t.period_name()),
        &points,
        "finished",
    ))
}

/// The cycle-time chart: the median days from first in progress to done, per period.
pub(super) fn cycle_chart(out: &ReportOutput) -> Option<String> {
    let Report::CycleTime(t) = &out.report else {
        return None;
    };
    let points: Vec<(String, f64)> = t
        .buckets
        .iter()
        .map(|b| (b.label.clone(), days_of(b.stats.median_hours)))
        .collect();
    Some(charts::columns(
        "Median cycle time (days) of the entries finished per period",
        &points,
        "days",
    ))
}

trait PeriodName {
    fn period_name(&self) -> &'static str;
}

impl PeriodName for devlog_core::reports::Throughput {
    fn period_name(&self) -> &'static str {
        match self.period {
            devlog_core::reports::Period::Day => "day",
            devlog_core::reports::Period::Week => "week",
            devlog_core::reports::Period::Month => "month",
        }
    }
}

/// The sections of a report's page.
fn sections(out: &ReportOutput) -> Vec<Section> {
    let mut s = Vec::new();
    match &out.report {
        Report::Counts(r) => {
            s.push(Section::new("Totals").text(format!(
                "{} entries, {} open, {} done or closed.",
                r.total, r.open, r.closed
            )));
            for g in &r.groups {
                let top: Vec<(String, f64)> = g
                    .rows
                    .iter()
                    .take(15)
                    .map(|r| (r.key.clone(), r.count as f64))
                    .collect();
                s.push(
                    Section::new(format!("By {}", g.by))
                        .chart(charts::bars(&format!("Entries by {}", g.by), &top))
                        .table(
                            &[g.by.as_str(), "Entries"],
                            g.rows
                                .iter()
                                .map(|r| vec![c(r.key.clone()), c(r.count.to_string())])
                                .collect(),
                        ),
                );
            }
        }
        Report::Throughput(t) => {
            let labels: Vec<String> = t.buckets.iter().map(|b| b.label.clone()).collect();
            let series = |f: fn(&devlog_core::reports::ThroughputBucket) -> u64| {
                t.buckets.iter().map(|b| Some(f(b) as f64)).collect()
            };
            s.push(
                Section::new(format!("Per {}", t.period_name()))
                    .text(format!(
                        "{} created, {} done, {} closed in the window.",
                        t.created, t.done, t.closed
                    ))
                    .chart(charts::lines(
                        "Entries created, done and closed per period",
                        &labels,
                        &[
                            ("created".into(), series(|b| b.created)),
                            ("done".into(), series(|b| b.done)),
                            ("closed".into(), series(|b| b.closed)),
                        ],
                    ))
                    .table(
                        &["Period", "Created", "Done", "Closed"],
                        t.buckets
                            .iter()
                            .map(|b| {
                                vec![
                                    c(b.label.clone()),
                                    c(b.created.to_string()),
                                    c(b.done.to_string()),
                                    c(b.closed.to_string()),
                                ]
                            })
                            .collect(),
                    ),
            );
        }
        Report::LeadTime(t) => {
            duration_sections(
                &mut s,
                "Lead time (created → done)",
                &t.overall,
                &t.buckets,
                &t.slowest,
            );
        }
        Report::CycleTime(t) => {
            duration_sections(
                &mut s,
                "Cycle time (first in progress → done)",
                &t.overall,
                &t.buckets,
                &t.slowest,
            );
        }
        Report::TimeInStatus(t) => {
            let bars: Vec<(String, f64)> = t
                .statuses
                .iter()
                .map(|st| {
                    (
                        st.status.as_str().to_string(),
                        days_of(st.per_entry.median_hours),
                    )
                })
                .collect();
            s.push(
                Section::new("Per status")
                    .text(format!(
                        "{} entries with their status history; {} without (left out).",
                        t.with_history, t.without_history
                    ))
                    .chart(charts::bars("Median days per entry in each status", &bars))
                    .table(
                        &["Status", "Entries", "Total", "Median", "85th percentile"],
                        t.statuses
                            .iter()
                            .map(|st| {
                                vec![
                                    c(st.status.as_str()),
                                    c(st.entries.to_string()),
                                    c(dur(Some(st.total_hours))),
                                    c(dur(st.per_entry.median_hours)),
                                    c(dur(st.per_entry.p85_hours)),
                                ]
                            })
                            .collect(),
                    ),
            );
            s.push(slowest("Blocked longest", &t.most_blocked));
        }
        Report::Wip(w) => {
            let labels: Vec<String> = w.points.iter().map(|p| p.label.clone()).collect();
            let mut series: Vec<(String, Vec<Option<f64>>)> = devlog_core::reports::WIP_STATUSES
                .iter()
                .map(|st| {
                    (
                        st.as_str().to_string(),
                        w.points
                            .iter()
                            .map(|p| Some(p.by_status.get(st).copied().unwrap_or(0) as f64))
                            .collect(),
                    )
                })
                .collect();
            series.push((
                "total".into(),
                w.points.iter().map(|p| Some(p.total as f64)).collect(),
            ));
            let mut head = vec!["Period"];
            head.extend(
                devlog_core::reports::WIP_STATUSES
                    .iter()
                    .map(|s| s.as_str()),
            );
            head.push("Total");
            s.push(
                Section::new("Work in progress at the end of each period")
                    .chart(charts::lines("Work in progress", &labels, &series))
                    .table(
                        &head,
                        w.points
                            .iter()
                            .map(|p| {
                                let mut row = vec![c(p.label.clone())];
                                row.extend(devlog_core::reports::WIP_STATUSES.iter().map(|st| {
                                    c(p.by_status.get(st).copied().unwrap_or(0).to_string())
                                }));
                                row.push(c(p.total.to_string()));
                                row
                            })
                            .collect(),
                    ),
            );
        }
        Report::Burndown(b) => {
            let labels: Vec<String> = b.days.iter().map(|d| d.date.to_string()).collect();
            let num = |f: fn(&devlog_core::reports::BurnDay) -> u64| {
                b.days.iter().map(|d| Some(f(d) as f64)).collect::<Vec<_>>()
            };
            let mut series = vec![
                ("scope".to_string(), num(|d| d.scope)),
                ("done (burnup)".to_string(), num(|d| d.done)),
                ("remaining (burndown)".to_string(), num(|d| d.remaining)),
            ];
            if b.days.iter().any(|d| d.ideal.is_some()) {
                series.push((
                    "ideal".to_string(),
                    b.days.iter().map(|d| d.ideal).collect(),
                ));
            }
            let of = match &b.scope {
                devlog_core::reports::BurnScope::Milestone { name, due_date } => format!(
                    "Milestone {name}{}",
                    due_date.map(|d| format!(", due {d}")).unwrap_or_default()
                ),
                devlog_core::reports::BurnScope::Range => {
                    "The entries passing the filters that were open at the start or created in the window"
                        .to_string()
                }
            };
            s.push(
                Section::new("Burndown and burnup")
                    .text(of)
                    .chart(charts::lines(
                        "Scope, done and remaining per day",
                        &labels,
                        &series,
                    ))
                    .table(
                        &["Day", "Scope", "Done", "Remaining", "Added", "Removed"],
                        b.days
                            .iter()
                            .map(|d| {
                                vec![
                                    c(d.date.to_string()),
                                    c(d.scope.to_string()),
                                    c(d.done.to_string()),
                                    c(d.remaining.to_string()),
                                    c(d.added.to_string()),
                                    c(d.removed.to_string()),
                                ]
                            })
                            .collect(),
                    ),
            );
            s.push(
                Section::new(format!("Scope changes ({})", b.scope_change_count)).table(
                    &["When", "Entry", "Change"],
                    b.scope_changes
                        .iter()
                        .map(|ch| {
                            vec![
                                c(ch.at
                                    .to_string()
                                    .chars()
                                    .take(16)
                                    .collect::<String>()
                                    .replace('T', " ")),
                                entry_cell(ch.handle, &ch.title),
                                c(match ch.change {
                                    devlog_core::reports::ScopeChangeKind::Added => "added",
                                    devlog_core::reports::ScopeChangeKind::Removed => "removed",
                                }),
                            ]
                        })
                        .collect(),
                ),
            );
        }
        Report::SyncHealth(h) => {
            s.push(health_section(&h.integrations));
        }
        Report::CrossSystem(x) => {
            s.push(
                Section::new("Per system")
                    .text(format!(
                        "{} entries linked, {} not linked; {} whose remote status disagrees.",
                        x.linked_entries, x.unlinked_entries, x.disagreeing_count
                    ))
                    .table(
                        &["System", "Linked", "Agree", "Disagree", "Unknown"],
                        x.systems
                            .iter()
                            .map(|p| {
                                vec![
                                    c(p.integration.clone()),
                                    c(p.linked.to_string()),
                                    c(p.agree.to_string()),
                                    c(p.disagree.to_string()),
                                    c(p.unknown.to_string()),
                                ]
                            })
                            .collect(),
                    ),
            );
            s.push(
                Section::new("Status disagreements").table(
                    &["Entry", "Status here", "Elsewhere"],
                    x.disagreeing
                        .iter()
                        .map(|e| {
                            vec![
                                entry_cell(e.handle, &e.title),
                                c(e.status.as_str()),
                                c(e.links
                                    .iter()
                                    .map(|l| {
                                        format!(
                                            "{} {}: {}",
                                            l.integration,
                                            l.remote_id.as_deref().unwrap_or("?"),
                                            l.remote_status.map_or("unknown", |st| st.as_str())
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join("; ")),
                            ]
                        })
                        .collect(),
                ),
            );
        }
        Report::Deployments(x) => {
            let when = |t: devlog_core::Timestamp| {
                t.to_string()
                    .chars()
                    .take(16)
                    .collect::<String>()
                    .replace('T', " ")
            };
            s.push(
                Section::new("Per environment")
                    .text(format!(
                        "{} deployments; {} entries reached an environment.",
                        x.total, x.entries_deployed
                    ))
                    .table(
                        &[
                            "Environment",
                            "Deployments",
                            "Succeeded",
                            "Failed",
                            "In progress",
                            "Entries",
                            "Last",
                        ],
                        x.environments
                            .iter()
                            .map(|e| {
                                vec![
                                    c(e.environment.clone()),
                                    c(e.deployments.to_string()),
                                    c(e.succeeded.to_string()),
                                    c(e.failed.to_string()),
                                    c(e.in_progress.to_string()),
                                    c(e.entries.to_string()),
                                    c(format!(
                                        "{} {} ({})",
                                        when(e.last_at),
                                        e.last_release,
                                        e.last_status
                                    )),
                                ]
                            })
                            .collect(),
                    ),
            );
            // One row per deployment and entry, so each entry links to its page.
            s.push(
                Section::new("Deployments").table(
                    &["When", "Environment", "Release", "Status", "Entry"],
                    x.deployments
                        .iter()
                        .flat_map(|r| {
                            r.entries.iter().map(move |e| {
                                vec![
                                    c(when(r.at)),
                                    c(r.environment.clone()),
                                    c(r.release.clone()),
                                    c(r.status.as_str()),
                                    entry_cell(e.handle, &e.title),
                                ]
                            })
                        })
                        .collect(),
                ),
            );
        }
    }
    s
}

/// The integrations' health as a table (the sync-health report and the sync page).
pub(super) fn health_section(rows: &[devlog_core::reports::IntegrationHealth]) -> Section {
    let when = |t: Option<devlog_core::Timestamp>| {
        t.map_or("–".to_string(), |t| {
            t.to_string()
                .chars()
                .take(16)
                .collect::<String>()
                .replace('T', " ")
        })
    };
    Section::new("Integrations").table(
        &[
            "Integration",
            "Configured",
            "Queued",
            "Running",
            "Dead",
            "Oldest job",
            "Conflicts",
            "Linked",
            "Last success",
            "Paused until",
            "Quota left",
            "Last error",
        ],
        rows.iter()
            .map(|i| {
                vec![
                    c(i.name.clone()),
                    c(if i.configured { "yes" } else { "no" }),
                    c(i.queue_depth.to_string()),
                    c(i.running.to_string()),
                    c(i.dead.to_string()),
                    c(match (i.oldest_job_at, i.oldest_job_age_hours) {
                        (Some(t), Some(h)) => format!("{} ({} old)", when(Some(t)), dur(Some(h))),
                        (Some(t), None) => when(Some(t)),
                        _ => "–".into(),
                    }),
                    c(i.open_conflicts.to_string()),
                    c(i.linked.to_string()),
                    c(when(i.last_success)),
                    c(match (&i.paused_until, &i.pause_reason) {
                        (Some(t), Some(r)) => format!("{} ({r})", when(Some(*t))),
                        (Some(t), None) => when(Some(*t)),
                        _ => "–".into(),
                    }),
                    c(match i.quota.as_ref().map(|q| (q.remaining, q.limit)) {
                        Some((Some(r), Some(l))) => format!("{r}/{l}"),
                        Some((Some(r), None)) => r.to_string(),
                        _ => "unknown".to_string(),
                    }),
                    c(i.last_error.clone().unwrap_or_default()),
                ]
            })
            .collect(),
    )
}

fn duration_sections(
    s: &mut Vec<Section>,
    what: &str,
    overall: &DurationStats,
    buckets: &[devlog_core::reports::DurationBucket],
    slow: &[EntryDuration],
) {
    let points: Vec<(String, f64)> = buckets
        .iter()
        .map(|b| (b.label.clone(), days_of(b.stats.median_hours)))
        .collect();
    let mut rows = vec![stats_rows("All in the window", overall)];
    rows.extend(buckets.iter().map(|b| stats_rows(&b.label, &b.stats)));
    s.push(
        Section::new(what)
            .chart(charts::columns(
                &format!("{what}: median days per period"),
                &points,
                "days",
            ))
            .table(STATS_HEAD, rows),
    );
    s.push(slowest("Slowest", slow));
}

/// `2026-03-05T…` → `2026-03-05`.
fn day(t: devlog_core::Timestamp) -> String {
    t.to_string().chars().take(10).collect()
}

/// The form's current values, for the report's query form.
fn form_values(out: &ReportOutput, q: &ReportQuery) -> Value {
    let f = &out.filter;
    context! {
        since => q.since.map(day),
        until => q.until.map(day),
        window => format!("{} – {}", day(out.since), day(out.until)),
        by => out.by.iter().map(|b| b.as_str()).collect::<Vec<_>>(),
        status => f.status.iter().map(Status::as_str).collect::<Vec<_>>(),
        type => f.kind.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        priority => f.priority.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        assignee => f.assignee.clone(),
        tag => f.tag.clone(),
        milestone => f.milestone.clone(),
    }
}

fn report_list() -> Vec<Value> {
    ReportName::ALL
        .iter()
        .map(|r| {
            context! {
                name => r.as_str(),
                title => r.title(),
                description => r.description(),
            }
        })
        .collect()
}

/// `/reports/{name}`: one report over the query in the URL.
pub async fn report(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Html<String>, PageError> {
    let name: ReportName = name.parse().map_err(ApiError::from)?;
    let q = report_query(form_pairs(pairs))?;
    let sources = s.sync_sources();
    let out = crate::api::v1::reports::compute(&s, name, &q).await?;
    let mut notes = out.notes.clone();
    if matches!(name, ReportName::SyncHealth | ReportName::CrossSystem) && sources.is_none() {
        notes.push(no_sync_note(&s));
    }
    render_live(
        &s,
        "report.html",
        context! {
            page => "reports",
            title => out.title.clone(),
            name => name.as_str(),
            description => name.description(),
            reports => report_list(),
            allowed_by => name.allowed_by().iter().map(|b| b.as_str()).collect::<Vec<_>>(),
            multi_by => name == ReportName::Counts,
            choices => choices(),
            form => form_values(&out, &q),
            notes => notes,
            sections => v(&sections(&out)),
        },
    )
    .await
}

/// Why the sync reports have no data in this server.
pub(super) fn no_sync_note(s: &AppState) -> String {
    match &s.sync().error {
        Some(e) => format!("the integrations in devlog.toml are misconfigured: {e}"),
        None => "no integration is configured in this store (see the Sync page for how to add one)"
            .to_string(),
    }
}

/// `/reports`: every report, with the counts of the entries passing the filters.
pub async fn index(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Html<String>, PageError> {
    let mut p = Params::from_vec(form_pairs(pairs));
    let filter = p.take_filter()?;
    p.finish(FILTER_PARAMS)?;
    let stats = s.app().store().stats(&filter).await?;
    render_live(
        &s,
        "reports.html",
        context! {
            page => "reports",
            title => "Reports",
            reports => report_list(),
            stats => v(&stats),
            charts => super::pages::count_charts(&stats),
        },
    )
    .await
}

/// The overview's throughput and cycle-time charts (12 weeks by week), reused while the feed
/// has not moved and they are less than [`CHART_AGE`] old: the cycle time reads the change
/// feed, which a first page should not do on every request.
pub(super) async fn overview_charts(s: &AppState) -> devlog_core::Result<Vec<String>> {
    let seq = crate::feed::tail(s.app().store().as_ref()).await?;
    if let Some(svgs) = s.cached_charts(seq, CHART_AGE) {
        return Ok(svgs);
    }
    let q = ReportQuery::default();
    let tp = crate::api::v1::reports::compute(s, ReportName::Throughput, &q).await?;
    let ct = crate::api::v1::reports::compute(s, ReportName::CycleTime, &q).await?;
    let svgs = vec![
        throughput_chart(&tp).unwrap_or_default(),
        cycle_chart(&ct).unwrap_or_default(),
    ];
    s.cache_charts(seq, svgs.clone());
    Ok(svgs)
}
