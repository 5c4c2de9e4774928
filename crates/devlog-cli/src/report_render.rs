//! `devlog report` output: a report (devlog-core's `ReportOutput`) laid out once as a
//! [`Doc`] — summary lines, sections with a table and maybe a chart, notes — and rendered as
//! a terminal table with inline bars and sparklines (Unicode on a terminal, plain ASCII
//! otherwise), CSV, Markdown, or one self-contained HTML file with hand-written SVG charts
//! (no script, no external resource; every value HTML-escaped).

use devlog_core::reports::{
    BurnScope, DurationStats, Report, ReportOutput, ScopeChangeKind, WIP_STATUSES,
};

use crate::output::{Out, Table, truncate};

/// A report laid out for rendering.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub title: String,
    /// The window, grouping and filter in words.
    pub subtitle: String,
    pub summary: Vec<String>,
    pub sections: Vec<Section>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub chart: Option<Chart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// One group of bars per label.
    Bars,
    /// One line per series over the labels (time series).
    Lines,
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub kind: ChartKind,
    /// One per row of the section's table.
    pub labels: Vec<String>,
    pub series: Vec<(String, Vec<f64>)>,
}

/// Hours for people: `5.0h`, `3.2d`.
pub fn hours(h: f64) -> String {
    if h < 48.0 {
        format!("{h:.1}h")
    } else {
        format!("{:.1}d", h / 24.0)
    }
}

fn opt_hours(h: Option<f64>) -> String {
    h.map(hours).unwrap_or_else(|| "-".into())
}

fn stats_line(what: &str, s: &DurationStats) -> String {
    if s.count == 0 {
        return format!("{what}: no entries");
    }
    format!(
        "{what} over {} {}: median {}, 85th percentile {}, mean {}, min {}, max {}",
        s.count,
        if s.count == 1 { "entry" } else { "entries" },
        opt_hours(s.median_hours),
        opt_hours(s.p85_hours),
        opt_hours(s.mean_hours),
        opt_hours(s.min_hours),
        opt_hours(s.max_hours)
    )
}

fn day(t: devlog_core::Timestamp) -> String {
    t.as_datetime().format("%Y-%m-%d %H:%M").to_string()
}

fn opt_day(t: Option<devlog_core::Timestamp>) -> String {
    t.map(day).unwrap_or_else(|| "-".into())
}

/// Lays a report out.
pub fn layout(r: &ReportOutput) -> Doc {
    let by: Vec<&str> = r.by.iter().map(|b| b.as_str()).collect();
    let fmt = |t: devlog_core::Timestamp| t.as_datetime().format("%Y-%m-%d %H:%M UTC").to_string();
    // Counts, sync health and cross-system are of now unless a window was given.
    let mut subtitle = if r.since.millis() == 0 {
        format!("as of {}", fmt(r.until))
    } else {
        format!("{} to {}", fmt(r.since), fmt(r.until))
    };
    if !by.is_empty() {
        subtitle.push_str(&format!(", by {}", by.join(", ")));
    }
    let filter = serde_json::to_value(&r.filter).unwrap_or_default();
    let set: Vec<String> = filter
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !(v.is_null() || v == &false || v.as_array().is_some_and(Vec::is_empty)))
        .map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"')))
        .collect();
    if !set.is_empty() {
        subtitle.push_str(&format!("; filter: {}", set.join(" ")));
    }
    let mut d = Doc {
        title: r.title.clone(),
        subtitle,
        notes: r.notes.clone(),
        ..Doc::default()
    };
    match &r.report {
        Report::Counts(c) => {
            d.summary.push(format!(
                "{} entries: {} open, {} done or closed",
                c.total, c.open, c.closed
            ));
            for g in &c.groups {
                let labels: Vec<String> = g.rows.iter().map(|x| x.key.clone()).collect();
                let values: Vec<f64> = g.rows.iter().map(|x| x.count as f64).collect();
                d.sections.push(Section {
                    title: format!("By {}", g.by),
                    headers: vec![g.by.as_str().to_uppercase(), "COUNT".into()],
                    rows: g
                        .rows
                        .iter()
                        .map(|x| vec![x.key.clone(), x.count.to_string()])
                        .collect(),
                    chart: Some(Chart {
                        kind: ChartKind::Bars,
                        labels,
                        series: vec![("count".into(), values)],
                    }),
                });
            }
        }
        Report::Throughput(t) => {
            d.summary.push(format!(
                "{} created, {} done, {} closed in the window",
                t.created, t.done, t.closed
            ));
            let labels: Vec<String> = t.buckets.iter().map(|b| b.label.clone()).collect();
            let col = |f: fn(&devlog_core::reports::ThroughputBucket) -> u64| {
                t.buckets.iter().map(|b| f(b) as f64).collect::<Vec<f64>>()
            };
            d.sections.push(Section {
                title: format!("Per {}", period(t.period)),
                headers: vec![
                    period(t.period).to_uppercase(),
                    "CREATED".into(),
                    "DONE".into(),
                    "CLOSED".into(),
                ],
                rows: t
                    .buckets
                    .iter()
                    .map(|b| {
                        vec![
                            b.label.clone(),
                            b.created.to_string(),
                            b.done.to_string(),
                            b.closed.to_string(),
                        ]
                    })
                    .collect(),
                chart: Some(Chart {
                    kind: ChartKind::Bars,
                    labels,
                    series: vec![
                        ("done".into(), col(|b| b.done)),
                        ("created".into(), col(|b| b.created)),
                        ("closed".into(), col(|b| b.closed)),
                    ],
                }),
            });
        }
        Report::LeadTime(l) => {
            d.summary
                .push(stats_line("Lead time (created → done)", &l.overall));
            durations(&mut d, l.period, &l.buckets, &l.slowest);
        }
        Report::CycleTime(c) => {
            d.summary.push(stats_line(
                "Cycle time (first in-progress → done)",
                &c.overall,
            ));
            durations(&mut d, c.period, &c.buckets, &c.slowest);
        }
        Report::TimeInStatus(t) => {
            d.summary.push(format!(
                "{} entries with history counted, {} without history left out",
                t.with_history, t.without_history
            ));
            d.sections.push(Section {
                title: "Hours per status".into(),
                headers: ["STATUS", "ENTRIES", "TOTAL", "MEDIAN", "P85"]
                    .map(String::from)
                    .to_vec(),
                rows: t
                    .statuses
                    .iter()
                    .map(|s| {
                        vec![
                            s.status.to_string(),
                            s.entries.to_string(),
                            hours(s.total_hours),
                            opt_hours(s.per_entry.median_hours),
                            opt_hours(s.per_entry.p85_hours),
                        ]
                    })
                    .collect(),
                chart: Some(Chart {
                    kind: ChartKind::Bars,
                    labels: t.statuses.iter().map(|s| s.status.to_string()).collect(),
                    series: vec![(
                        "hours".into(),
                        t.statuses.iter().map(|s| s.total_hours).collect(),
                    )],
                }),
            });
            if !t.most_blocked.is_empty() {
                d.sections.push(entries_section(
                    "Blocked longest",
                    "BLOCKED",
                    &t.most_blocked,
                ));
            }
        }
        Report::Wip(w) => {
            let mut headers = vec![period(w.period).to_uppercase()];
            headers.extend(WIP_STATUSES.iter().map(|s| s.as_str().to_uppercase()));
            headers.push("TOTAL".into());
            d.sections.push(Section {
                title: format!("Work in progress at the end of each {}", period(w.period)),
                headers,
                rows: w
                    .points
                    .iter()
                    .map(|p| {
                        let mut row = vec![p.label.clone()];
                        row.extend(
                            WIP_STATUSES
                                .iter()
                                .map(|s| p.by_status.get(s).copied().unwrap_or(0).to_string()),
                        );
                        row.push(p.total.to_string());
                        row
                    })
                    .collect(),
                chart: Some(Chart {
                    kind: ChartKind::Lines,
                    labels: w.points.iter().map(|p| p.label.clone()).collect(),
                    series: std::iter::once((
                        "total".to_string(),
                        w.points.iter().map(|p| p.total as f64).collect(),
                    ))
                    .chain(WIP_STATUSES.iter().map(|s| {
                        (
                            s.to_string(),
                            w.points
                                .iter()
                                .map(|p| p.by_status.get(s).copied().unwrap_or(0) as f64)
                                .collect(),
                        )
                    }))
                    .collect(),
                }),
            });
        }
        Report::Burndown(b) => {
            d.summary.push(match &b.scope {
                BurnScope::Milestone { name, due_date } => format!(
                    "Milestone {name}{}",
                    due_date.map(|x| format!(", due {x}")).unwrap_or_default()
                ),
                BurnScope::Range => "Entries open at the start or created in the range".into(),
            });
            if let Some(last) = b.days.last() {
                d.summary.push(format!(
                    "on {}: scope {}, done {}, remaining {}; {} scope changes",
                    last.date, last.scope, last.done, last.remaining, b.scope_change_count
                ));
            }
            let ideal = b.days.iter().any(|x| x.ideal.is_some());
            let mut headers: Vec<String> =
                ["DATE", "SCOPE", "DONE", "REMAINING", "ADDED", "REMOVED"]
                    .map(String::from)
                    .to_vec();
            if ideal {
                headers.push("IDEAL".into());
            }
            let mut series = vec![
                (
                    "remaining".to_string(),
                    b.days.iter().map(|x| x.remaining as f64).collect(),
                ),
                (
                    "scope".to_string(),
                    b.days.iter().map(|x| x.scope as f64).collect(),
                ),
                (
                    "done".to_string(),
                    b.days.iter().map(|x| x.done as f64).collect::<Vec<f64>>(),
                ),
            ];
            if ideal {
                series.push((
                    "ideal".into(),
                    b.days.iter().map(|x| x.ideal.unwrap_or(0.0)).collect(),
                ));
            }
            d.sections.push(Section {
                title: "Per day".into(),
                headers,
                rows: b
                    .days
                    .iter()
                    .map(|x| {
                        let mut row = vec![
                            x.date.to_string(),
                            x.scope.to_string(),
                            x.done.to_string(),
                            x.remaining.to_string(),
                            x.added.to_string(),
                            x.removed.to_string(),
                        ];
                        if ideal {
                            row.push(x.ideal.map(|v| format!("{v:.1}")).unwrap_or_default());
                        }
                        row
                    })
                    .collect(),
                chart: Some(Chart {
                    kind: ChartKind::Lines,
                    labels: b.days.iter().map(|x| x.date.to_string()).collect(),
                    series,
                }),
            });
            if !b.scope_changes.is_empty() {
                d.sections.push(Section {
                    title: "Scope changes".into(),
                    headers: ["AT", "#", "TITLE", "CHANGE"].map(String::from).to_vec(),
                    rows: b
                        .scope_changes
                        .iter()
                        .map(|c| {
                            vec![
                                day(c.at),
                                format!("#{}", c.handle),
                                truncate(&c.title, 60),
                                match c.change {
                                    ScopeChangeKind::Added => "added".into(),
                                    ScopeChangeKind::Removed => "removed".into(),
                                },
                            ]
                        })
                        .collect(),
                    chart: None,
                });
            }
        }
        Report::SyncHealth(s) => {
            if s.integrations.is_empty() {
                d.summary
                    .push("No integration is configured or synced.".into());
            }
            d.sections.push(Section {
                title: "Integrations".into(),
                headers: [
                    "INTEGRATION",
                    "QUEUE",
                    "RUNNING",
                    "DEAD",
                    "OLDEST JOB",
                    "CONFLICTS",
                    "LINKED",
                    "LAST SUCCESS",
                    "PAUSED UNTIL",
                    "QUOTA LEFT",
                ]
                .map(String::from)
                .to_vec(),
                rows: s
                    .integrations
                    .iter()
                    .map(|i| {
                        vec![
                            if i.configured {
                                i.name.clone()
                            } else {
                                format!("{} (not configured)", i.name)
                            },
                            i.queue_depth.to_string(),
                            i.running.to_string(),
                            i.dead.to_string(),
                            match (i.oldest_job_at, i.oldest_job_age_hours) {
                                (Some(t), Some(h)) => format!("{} ({} old)", day(t), hours(h)),
                                _ => "-".into(),
                            },
                            i.open_conflicts.to_string(),
                            i.linked.to_string(),
                            opt_day(i.last_success),
                            match (&i.paused_until, &i.pause_reason) {
                                (Some(t), Some(r)) => format!("{} ({r})", day(*t)),
                                (Some(t), None) => day(*t),
                                _ => "-".into(),
                            },
                            match &i.quota {
                                Some(q) => match (q.remaining, q.limit) {
                                    (Some(r), Some(l)) => format!("{r}/{l}"),
                                    (Some(r), None) => r.to_string(),
                                    _ => "unknown".into(),
                                },
                                None => "unknown".into(),
                            },
                        ]
                    })
                    .collect(),
                chart: None,
            });
            for i in &s.integrations {
                if let Some(e) = &i.last_error {
                    d.summary
                        .push(format!("{}: last dead job failed: {e}", i.name));
                }
            }
        }
        Report::CrossSystem(c) => {
            d.summary.push(format!(
                "{} entries linked in another system, {} not linked; {} disagree with a remote",
                c.linked_entries, c.unlinked_entries, c.disagreeing_count
            ));
            d.sections.push(Section {
                title: "Per system".into(),
                headers: ["SYSTEM", "LINKED", "AGREE", "DISAGREE", "UNKNOWN"]
                    .map(String::from)
                    .to_vec(),
                rows: c
                    .systems
                    .iter()
                    .map(|s| {
                        vec![
                            s.integration.clone(),
                            s.linked.to_string(),
                            s.agree.to_string(),
                            s.disagree.to_string(),
                            s.unknown.to_string(),
                        ]
                    })
                    .collect(),
                chart: Some(Chart {
                    kind: ChartKind::Bars,
                    labels: c.systems.iter().map(|s| s.integration.clone()).collect(),
                    series: vec![
                        (
                            "agree".into(),
                            c.systems.iter().map(|s| s.agree as f64).collect(),
                        ),
                        (
                            "disagree".into(),
                            c.systems.iter().map(|s| s.disagree as f64).collect(),
                        ),
                    ],
                }),
            });
            if !c.disagreeing.is_empty() {
                let mut rows = Vec::new();
                for e in &c.disagreeing {
                    for l in e.links.iter().filter(|l| !l.agrees) {
                        rows.push(vec![
                            format!("#{}", e.handle),
                            truncate(&e.title, 50),
                            e.status.to_string(),
                            l.integration.clone(),
                            l.url.clone().or(l.remote_id.clone()).unwrap_or_default(),
                            l.remote_status.map(|s| s.to_string()).unwrap_or_default(),
                        ]);
                    }
                }
                d.sections.push(Section {
                    title: "Status disagrees".into(),
                    headers: ["#", "TITLE", "LOCAL", "SYSTEM", "REMOTE", "REMOTE STATUS"]
                        .map(String::from)
                        .to_vec(),
                    rows,
                    chart: None,
                });
            }
        }
        Report::Deployments(x) => {
            d.summary.push(format!(
                "{} deployment(s) to {} environment(s); {} entries reached one",
                x.total,
                x.environments.len(),
                x.entries_deployed
            ));
            d.sections.push(Section {
                title: "Per environment".into(),
                headers: [
                    "ENVIRONMENT",
                    "DEPLOYMENTS",
                    "SUCCEEDED",
                    "FAILED",
                    "IN PROGRESS",
                    "ENTRIES",
                    "LAST",
                ]
                .map(String::from)
                .to_vec(),
                rows: x
                    .environments
                    .iter()
                    .map(|e| {
                        vec![
                            e.environment.clone(),
                            e.deployments.to_string(),
                            e.succeeded.to_string(),
                            e.failed.to_string(),
                            e.in_progress.to_string(),
                            e.entries.to_string(),
                            format!("{} {} ({})", day(e.last_at), e.last_release, e.last_status),
                        ]
                    })
                    .collect(),
                chart: Some(Chart {
                    kind: ChartKind::Bars,
                    labels: x
                        .environments
                        .iter()
                        .map(|e| e.environment.clone())
                        .collect(),
                    series: vec![
                        (
                            "succeeded".into(),
                            x.environments.iter().map(|e| e.succeeded as f64).collect(),
                        ),
                        (
                            "failed".into(),
                            x.environments.iter().map(|e| e.failed as f64).collect(),
                        ),
                    ],
                }),
            });
            d.sections.push(Section {
                title: "Deployments".into(),
                headers: ["WHEN", "ENVIRONMENT", "RELEASE", "STATUS", "ENTRIES"]
                    .map(String::from)
                    .to_vec(),
                rows: x
                    .deployments
                    .iter()
                    .map(|r| {
                        vec![
                            day(r.at),
                            r.environment.clone(),
                            r.release.clone(),
                            r.status.to_string(),
                            r.entries
                                .iter()
                                .map(|e| format!("#{} {}", e.handle, truncate(&e.title, 40)))
                                .collect::<Vec<_>>()
                                .join("; "),
                        ]
                    })
                    .collect(),
                chart: None,
            });
        }
    }
    d
}

fn period(p: devlog_core::reports::Period) -> &'static str {
    match p {
        devlog_core::reports::Period::Day => "day",
        devlog_core::reports::Period::Week => "week",
        devlog_core::reports::Period::Month => "month",
    }
}

fn durations(
    d: &mut Doc,
    p: devlog_core::reports::Period,
    buckets: &[devlog_core::reports::DurationBucket],
    slowest: &[devlog_core::reports::EntryDuration],
) {
    d.sections.push(Section {
        title: format!("Per {} of completion", period(p)),
        headers: vec![
            period(p).to_uppercase(),
            "ENTRIES".into(),
            "MEDIAN".into(),
            "P85".into(),
        ],
        rows: buckets
            .iter()
            .map(|b| {
                vec![
                    b.label.clone(),
                    b.stats.count.to_string(),
                    opt_hours(b.stats.median_hours),
                    opt_hours(b.stats.p85_hours),
                ]
            })
            .collect(),
        chart: Some(Chart {
            kind: ChartKind::Lines,
            labels: buckets.iter().map(|b| b.label.clone()).collect(),
            series: vec![
                (
                    "median hours".into(),
                    buckets
                        .iter()
                        .map(|b| b.stats.median_hours.unwrap_or(0.0))
                        .collect(),
                ),
                (
                    "p85 hours".into(),
                    buckets
                        .iter()
                        .map(|b| b.stats.p85_hours.unwrap_or(0.0))
                        .collect(),
                ),
            ],
        }),
    });
    if !slowest.is_empty() {
        d.sections.push(entries_section("Slowest", "TIME", slowest));
    }
}

fn entries_section(
    title: &str,
    what: &str,
    items: &[devlog_core::reports::EntryDuration],
) -> Section {
    Section {
        title: title.into(),
        headers: vec!["#".into(), "TITLE".into(), what.into()],
        rows: items
            .iter()
            .map(|e| {
                vec![
                    format!("#{}", e.handle),
                    truncate(&e.title, 60),
                    hours(e.hours),
                ]
            })
            .collect(),
        chart: None,
    }
}

// ---------------------------------------------------------------------------------------
// Terminal

const BLOCKS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const ASCII_SPARKS: [char; 8] = ['_', '.', '-', '~', '=', '+', '*', '#'];
const BAR_WIDTH: usize = 24;
/// The most points a terminal sparkline shows (the latest).
const SPARK_MAX: usize = 60;

/// A bar `value / max` of [`BAR_WIDTH`] cells: Unicode eighths, or `#` in ASCII.
pub fn bar(value: f64, max: f64, unicode: bool) -> String {
    if max <= 0.0 || value <= 0.0 {
        return String::new();
    }
    let eighths = ((value / max) * (BAR_WIDTH * 8) as f64).round().max(1.0) as usize;
    if !unicode {
        return "#".repeat(eighths.div_ceil(8));
    }
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(BLOCKS[eighths % 8 - 1]);
    }
    s
}

/// A sparkline of `values`, one character each.
pub fn sparkline(values: &[f64], unicode: bool) -> String {
    let max = values.iter().copied().fold(0.0, f64::max);
    let set = if unicode { SPARKS } else { ASCII_SPARKS };
    values
        .iter()
        .map(|v| {
            if max <= 0.0 {
                set[0]
            } else {
                set[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// The terminal rendering: summary, then per section a heading, sparklines of a time series,
/// and the table with a bar column for the chart's first series.
pub fn terminal(doc: &Doc, out: &Out, unicode: bool) -> String {
    let mut s = format!("{}\n{}\n", out.bold(&doc.title), out.dim(&doc.subtitle));
    for line in &doc.summary {
        s.push_str(line);
        s.push('\n');
    }
    for sec in &doc.sections {
        s.push('\n');
        s.push_str(&out.bold(&sec.title));
        s.push('\n');
        if sec.rows.is_empty() {
            s.push_str("(nothing)\n");
            continue;
        }
        let chart = sec
            .chart
            .as_ref()
            .filter(|c| c.labels.len() == sec.rows.len());
        if let Some(c) = chart.filter(|c| c.kind == ChartKind::Lines || c.series.len() > 1) {
            let w = c
                .series
                .iter()
                .map(|(n, _)| n.chars().count())
                .max()
                .unwrap_or(0);
            let skip = c.labels.len().saturating_sub(SPARK_MAX);
            for (name, values) in &c.series {
                let max = values.iter().copied().fold(0.0, f64::max);
                s.push_str(&format!(
                    "  {name:<w$}  {}  max {}{}\n",
                    sparkline(&values[skip..], unicode),
                    trim_num(max),
                    if skip > 0 {
                        format!(" (last {SPARK_MAX} of {})", c.labels.len())
                    } else {
                        String::new()
                    }
                ));
            }
        }
        let mut headers: Vec<&str> = sec.headers.iter().map(String::as_str).collect();
        if chart.is_some() {
            headers.push("");
        }
        let mut t = Table::header(out, &headers);
        let first = chart.and_then(|c| c.series.first());
        let max = first.map_or(0.0, |(_, v)| v.iter().copied().fold(0.0, f64::max));
        for (i, row) in sec.rows.iter().enumerate() {
            let mut cells: Vec<(String, String)> =
                row.iter().map(|c| (c.clone(), c.clone())).collect();
            if let Some((_, v)) = first {
                let b = bar(v[i], max, unicode);
                cells.push((out.dim(&b), b));
            }
            t.row(cells);
        }
        s.push_str(&t.render());
    }
    notes_text(&mut s, doc, "note: ");
    s
}

fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn notes_text(s: &mut String, doc: &Doc, prefix: &str) {
    if !doc.notes.is_empty() {
        s.push('\n');
    }
    for n in &doc.notes {
        s.push_str(prefix);
        s.push_str(n);
        s.push('\n');
    }
}

// ---------------------------------------------------------------------------------------
// CSV

fn csv_field(v: &str) -> String {
    // A leading =, +, - or @ would be a formula to a spreadsheet: quoted with a ' prefix.
    let v = if v.starts_with(['=', '+', '-', '@']) && v.parse::<f64>().is_err() {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) || v.starts_with('\'') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn csv_line(out: &mut String, cells: impl IntoIterator<Item = String>) {
    let line: Vec<String> = cells.into_iter().map(|c| csv_field(&c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

/// CSV (RFC 4180): sections with the same columns (the groups of `counts`) as one table with
/// a first column naming the section; otherwise the first section's table, and the names of
/// the sections left out (for `--format json`).
pub fn csv(doc: &Doc) -> (String, Vec<String>) {
    let mut s = String::new();
    let mut left_out = Vec::new();
    let Some(first) = doc.sections.first() else {
        return (s, left_out);
    };
    let same = doc.sections.len() > 1
        && doc.sections.iter().all(|x| {
            x.headers.len() == first.headers.len() && x.headers[1..] == first.headers[1..]
        });
    if same {
        csv_line(
            &mut s,
            ["group".to_string(), "key".into()]
                .into_iter()
                .chain(first.headers[1..].iter().map(|h| h.to_lowercase())),
        );
        for sec in &doc.sections {
            let group = sec.headers[0].to_lowercase();
            for row in &sec.rows {
                csv_line(
                    &mut s,
                    std::iter::once(group.clone()).chain(row.iter().cloned()),
                );
            }
        }
    } else {
        csv_line(&mut s, first.headers.iter().map(|h| h.to_lowercase()));
        for row in &first.rows {
            csv_line(&mut s, row.iter().cloned());
        }
        left_out = doc.sections[1..].iter().map(|x| x.title.clone()).collect();
    }
    (s, left_out)
}

// ---------------------------------------------------------------------------------------
// Markdown

fn md_cell(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' => {
                s.push('\\');
                s.push(c);
            }
            '\n' | '\r' => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

pub fn markdown(doc: &Doc) -> String {
    let mut s = format!(
        "# {}\n\n_{}_\n\n",
        md_cell(&doc.title),
        md_cell(&doc.subtitle)
    );
    for line in &doc.summary {
        s.push_str(&format!("{}\n\n", md_cell(line)));
    }
    for sec in &doc.sections {
        s.push_str(&format!("## {}\n\n", md_cell(&sec.title)));
        if let Some(c) = sec.chart.as_ref().filter(|c| c.kind == ChartKind::Lines) {
            for (name, values) in &c.series {
                s.push_str(&format!(
                    "`{}` {}  \n",
                    sparkline(values, true),
                    md_cell(name)
                ));
            }
            s.push('\n');
        }
        if sec.rows.is_empty() {
            s.push_str("(nothing)\n\n");
            continue;
        }
        let head: Vec<String> = sec.headers.iter().map(|h| md_cell(h)).collect();
        s.push_str(&format!("| {} |\n", head.join(" | ")));
        s.push_str(&format!("|{}\n", " --- |".repeat(head.len())));
        for row in &sec.rows {
            let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        s.push('\n');
    }
    if !doc.notes.is_empty() {
        s.push_str("## Notes\n\n");
        for n in &doc.notes {
            s.push_str(&format!("- {}\n", md_cell(n)));
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// HTML

/// `text` safe in HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

const PALETTE: [&str; 5] = ["#2f6fde", "#2e9d5b", "#d9822b", "#b84fc4", "#777777"];

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:960px;padding:0 1rem;color:#1d1d1f;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.sub{color:#666;margin-top:0}table{border-collapse:collapse;margin:.5rem 0;min-width:40%}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto}svg text{fill:currentColor;font-size:11px}.axis{stroke:#999}
.notes{color:#555}
@media (prefers-color-scheme:dark){body{background:#16161a;color:#e6e6e6}th,td{border-color:#333}.sub,.notes{color:#aaa}}";

/// A chart as inline SVG: grouped bars or lines, with axis, labels and a legend.
pub fn svg(c: &Chart, title: &str) -> String {
    let (w, h, left, bottom, top) = (720.0, 240.0, 48.0, 44.0, 24.0);
    let n = c.labels.len().max(1);
    let max = c
        .series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let plot_w = w - left - 8.0;
    let plot_h = h - bottom - top;
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    s.push_str(&format!("<title>{}</title>", esc(title)));
    // Axes and the maximum.
    s.push_str(&format!(
        "<line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\"/><line class=\"axis\" x1=\"{left}\" y1=\"{0}\" x2=\"{}\" y2=\"{0}\"/>",
        top + plot_h,
        left + plot_w
    ));
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        left - 4.0,
        top + 4.0,
        esc(&trim_num(max)),
        left - 4.0,
        top + plot_h
    ));
    let slot = plot_w / n as f64;
    let every = (n / 12).max(1);
    for (i, label) in c.labels.iter().enumerate() {
        if i % every == 0 {
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                left + slot * (i as f64 + 0.5),
                top + plot_h + 14.0,
                esc(&truncate(label, 14))
            ));
        }
    }
    match c.kind {
        ChartKind::Bars => {
            let k = c.series.len().max(1) as f64;
            let bw = (slot * 0.8 / k).max(1.0);
            for (si, (name, values)) in c.series.iter().enumerate() {
                let color = PALETTE[si % PALETTE.len()];
                for (i, v) in values.iter().enumerate() {
                    let x = left + slot * i as f64 + slot * 0.1 + bw * si as f64;
                    s.push_str(&format!(
                        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {}</title></rect>",
                        y(*v),
                        top + plot_h - y(*v),
                        esc(&format!("{} {}", c.labels.get(i).map_or("", String::as_str), name)),
                        esc(&trim_num(*v))
                    ));
                }
            }
        }
        ChartKind::Lines => {
            for (si, (name, values)) in c.series.iter().enumerate() {
                let color = PALETTE[si % PALETTE.len()];
                let points: Vec<String> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!("{:.1},{:.1}", left + slot * (i as f64 + 0.5), y(*v)))
                    .collect();
                s.push_str(&format!(
                    "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
                    points.join(" "),
                    esc(name)
                ));
            }
        }
    }
    // Legend.
    let mut x = left;
    for (si, (name, _)) in c.series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{}\">{}</text>",
            h - 14.0,
            x + 14.0,
            h - 5.0,
            esc(name)
        ));
        x += 24.0 + 7.0 * name.chars().count() as f64;
    }
    s.push_str("</svg>");
    s
}

/// One self-contained HTML page: inline CSS, inline SVG, no script, no external resource.
pub fn html(doc: &Doc) -> String {
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1><p class=\"sub\">{}</p>\n",
        esc(&doc.title),
        esc(&doc.title),
        esc(&doc.subtitle)
    );
    for line in &doc.summary {
        s.push_str(&format!("<p>{}</p>\n", esc(line)));
    }
    for sec in &doc.sections {
        s.push_str(&format!("<section><h2>{}</h2>\n", esc(&sec.title)));
        if let Some(c) = sec.chart.as_ref().filter(|c| !c.labels.is_empty()) {
            s.push_str(&svg(c, &sec.title));
            s.push('\n');
        }
        s.push_str("<table><thead><tr>");
        for h in &sec.headers {
            s.push_str(&format!("<th scope=\"col\">{}</th>", esc(h)));
        }
        s.push_str("</tr></thead><tbody>\n");
        for row in &sec.rows {
            s.push_str("<tr>");
            for c in row {
                let numeric =
                    !c.is_empty() && c.trim_end_matches(['h', 'd']).parse::<f64>().is_ok();
                s.push_str(&format!(
                    "<td{}>{}</td>",
                    if numeric { " class=\"n\"" } else { "" },
                    esc(c)
                ));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table></section>\n");
    }
    if !doc.notes.is_empty() {
        s.push_str("<h2>Notes</h2><ul class=\"notes\">");
        for n in &doc.notes {
            s.push_str(&format!("<li>{}</li>", esc(n)));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_sparklines_degrade_to_ascii() {
        assert_eq!(bar(10.0, 10.0, true), "█".repeat(BAR_WIDTH));
        assert_eq!(bar(10.0, 10.0, false), "#".repeat(BAR_WIDTH));
        assert_eq!(bar(0.0, 10.0, true), "");
        assert_eq!(bar(1.0, 16.0, true), "█▌");
        assert_eq!(sparkline(&[0.0, 7.0, 3.5], true), "▁█▅");
        assert_eq!(sparkline(&[0.0, 7.0, 3.5], false), "_#=");
        assert!(sparkline(&[1.0, 2.0], false).is_ascii());
    }

    #[test]
    fn svg_and_html_escape_data() {
        let c = Chart {
            kind: ChartKind::Bars,
            labels: vec!["<script>alert(1)</script>".into()],
            series: vec![("a\"b".into(), vec![3.0])],
        };
        let s = svg(&c, "t&t");
        assert!(
            !s.contains("<script>") && s.contains("&lt;script&gt;"),
            "{s}"
        );
        assert!(s.contains("a&quot;b") && s.contains("t&amp;t"));
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=1+2"), "\"'=1+2\"");
        assert_eq!(csv_field("-3"), "-3");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
