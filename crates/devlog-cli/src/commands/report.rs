//! `devlog report <name>`: a built-in report (devlog-core's `reports`) or a custom one from a
//! template in `.devlog/reports/` (`<name>.md.j2`, `<name>.html.j2`), in the terminal, as
//! JSON, CSV, Markdown or one self-contained HTML file. docs/reports.md.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use devlog_core::reports::{By, ReportName, ReportOutput, ReportQuery, SyncSources};
use devlog_core::{Devlog, Timestamp};
use serde_json::json;

use super::{Ctx, FilterArgs, parse_time};
use crate::error::CliError;
use crate::output::{Table, warn, write_raw, write_stdout};
use crate::report_render as render;

/// Reports: counts, throughput, lead and cycle time, time in status, WIP, burndown, sync
/// health, cross-system progress, deployments, and custom ones from .devlog/reports/*.md.j2|*.html.j2
///
/// `devlog report list` lists them. The list command's filters narrow the entries;
/// `--milestone` makes `burndown` the milestone's.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report (`list`, the default: every built-in and custom report)
    #[arg(default_value = "list")]
    pub name: String,
    /// Start of the window (YYYY-MM-DD or RFC 3339; default: a span that suits --by)
    #[arg(long, value_parser = parse_time)]
    pub since: Option<Timestamp>,
    /// End of the window, exclusive (default: now)
    #[arg(long, value_parser = parse_time)]
    pub until: Option<Timestamp>,
    /// Grouping: status, type, priority, assignee, tag, system (counts; several with commas)
    /// or day, week, month (time series)
    #[arg(long, value_delimiter = ',', value_parser = parse_by)]
    pub by: Vec<By>,
    /// table (terminal), json, csv, md or html (one self-contained file)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Md,
    Html,
}

fn parse_by(s: &str) -> Result<By, String> {
    s.parse()
        .map_err(|e: devlog_core::StoreError| e.to_string())
}

/// The template files of custom reports, by report name: `(format, path)`.
pub fn custom_reports(dir: &Path) -> Result<BTreeMap<String, Vec<(Format, PathBuf)>>, CliError> {
    let mut out: BTreeMap<String, Vec<(Format, PathBuf)>> = BTreeMap::new();
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(CliError::Other(anyhow::anyhow!(
                "cannot read {}: {e}",
                dir.display()
            )));
        }
    };
    for f in read.flatten() {
        let name = f.file_name().to_string_lossy().to_string();
        let (stem, format) = if let Some(s) = name.strip_suffix(".md.j2") {
            (s, Format::Md)
        } else if let Some(s) = name.strip_suffix(".html.j2") {
            (s, Format::Html)
        } else {
            continue;
        };
        out.entry(stem.to_string())
            .or_default()
            .push((format, f.path()));
    }
    for v in out.values_mut() {
        v.sort_by_key(|(f, _)| *f == Format::Html);
    }
    Ok(out)
}

pub async fn run(ctx: &Ctx, a: ReportArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let reports_dir = ws.devlog_dir.join("reports");
    let custom = custom_reports(&reports_dir)?;
    if a.name == "list" {
        return list(ctx, &custom);
    }
    let format = if ctx.out.json {
        Format::Json
    } else {
        a.format.unwrap_or(Format::Table)
    };
    let store = ws.open().await?;
    let app = Devlog::new(store.clone());
    let query = ReportQuery {
        since: a.since,
        until: a.until,
        by: a.by.clone(),
        filter: a.filter.to_filter(),
    };
    let text = match a.name.parse::<ReportName>() {
        Ok(name) => {
            let sync = sync_sources(&ws, name).await?;
            let report = app.report(name, &query, sync.as_ref()).await?;
            super::list::warn_store(&*store).await?;
            render_builtin(ctx, &report, format, a.output.is_some())?
        }
        Err(unknown) => {
            let Some(files) = custom.get(&a.name) else {
                return Err(CliError::Usage(format!(
                    "{unknown}{}",
                    if custom.is_empty() {
                        format!(
                            "; custom reports are templates in {} (none there)",
                            reports_dir.display()
                        )
                    } else {
                        format!(
                            ", or a custom report: {}",
                            custom.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    }
                )));
            };
            let path = match a.format {
                None => &files[0].1,
                Some(f) => {
                    &files
                        .iter()
                        .find(|(x, _)| *x == f)
                        .ok_or_else(|| {
                            CliError::Usage(format!(
                                "the custom report `{}` has no {f:?} template (it has: {})",
                                a.name,
                                files
                                    .iter()
                                    .map(|(_, p)| p.display().to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        })?
                        .1
                }
            };
            let source = std::fs::read_to_string(path).map_err(|e| {
                CliError::Other(anyhow::anyhow!("cannot read {}: {e}", path.display()))
            })?;
            render_template(&app, &ws, path, &source, &query).await?
        }
    };
    match &a.output {
        Some(file) => std::fs::write(file, text.as_bytes()).map_err(|e| {
            CliError::Other(anyhow::anyhow!("cannot write {}: {e}", file.display()))
        })?,
        None if matches!(format, Format::Table) => write_stdout(&text)?,
        None => write_raw(text.as_bytes())?,
    }
    Ok(())
}

/// The sync state and configured integrations, for the reports that read them.
async fn sync_sources(
    ws: &crate::workspace::Workspace,
    name: ReportName,
) -> Result<Option<SyncSources>, CliError> {
    if !matches!(
        name,
        ReportName::Counts | ReportName::SyncHealth | ReportName::CrossSystem
    ) {
        return Ok(None);
    }
    let opened = devlog_store::open_sync_state(&ws.spec, &ws.devlog_dir.join(".state")).await?;
    if let Some(note) = &opened.note {
        eprintln!("note: {}", crate::output::clean(note, false));
    }
    Ok(Some(SyncSources {
        state: opened.state,
        configured: ws.config.integrations.keys().cloned().collect(),
        quotas: BTreeMap::new(),
    }))
}

fn render_builtin(
    ctx: &Ctx,
    report: &ReportOutput,
    format: Format,
    to_file: bool,
) -> Result<String, CliError> {
    let doc = render::layout(report);
    Ok(match format {
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(report).map_err(|e| CliError::Other(e.into()))?;
            s.push('\n');
            s
        }
        Format::Table => {
            let unicode = !to_file && std::io::stdout().is_terminal();
            let out = if to_file {
                crate::output::Out {
                    json: false,
                    color: false,
                }
            } else {
                ctx.out
            };
            render::terminal(&doc, &out, unicode)
        }
        Format::Csv => {
            for n in &doc.notes {
                warn(n);
            }
            let (s, left_out) = render::csv(&doc);
            if !left_out.is_empty() {
                warn(&format!(
                    "CSV holds the first table; {} {} in --format json",
                    left_out.join(", "),
                    if left_out.len() == 1 { "is" } else { "are" }
                ));
            }
            s
        }
        Format::Md => render::markdown(&doc),
        Format::Html => render::html(&doc),
    })
}

/// How much work a custom report's template may do (minijinja's fuel).
const TEMPLATE_FUEL: u64 = 5_000_000;

/// The report names a template reads (`reports.lead_time` → lead-time), found in its source.
fn reports_used(t: &minijinja::Template<'_, '_>) -> Vec<ReportName> {
    let mut out: Vec<ReportName> = t
        .undeclared_variables(true)
        .iter()
        .filter_map(|v| v.strip_prefix("reports."))
        .filter_map(|n| n.split('.').next())
        .filter_map(|n| n.replace('_', "-").parse().ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The error of a template: file, line and what is wrong.
fn template_error(path: &Path, e: &minijinja::Error) -> CliError {
    let mut msg = format!(
        "{}{}: {}",
        path.display(),
        e.line().map(|l| format!(":{l}")).unwrap_or_default(),
        e.detail()
            .map_or_else(|| e.kind().to_string(), str::to_string)
    );
    if matches!(e.kind(), minijinja::ErrorKind::UndefinedError) {
        let names: Vec<String> = ReportName::ALL
            .iter()
            .map(|r| format!("reports.{}", r.as_str().replace('-', "_")))
            .collect();
        msg.push_str(&format!(
            " (the variables are since, until, generated_at, filter and {}; see docs/reports.md)",
            names.join(", ")
        ));
    }
    CliError::Usage(msg)
}

/// Renders a custom report: the built-in reports its template names, computed with the
/// command's window, grouping and filter, under `reports.<name>` (dashes as underscores).
pub async fn render_template(
    app: &Devlog,
    ws: &crate::workspace::Workspace,
    path: &Path,
    source: &str,
    q: &ReportQuery,
) -> Result<String, CliError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    env.add_template_owned(file.clone(), source.to_string())
        .map_err(|e| template_error(path, &e))?;
    let t = env
        .get_template(&file)
        .map_err(|e| template_error(path, &e))?;
    let mut reports = serde_json::Map::new();
    let now = app.clock().now();
    for name in reports_used(&t) {
        let mut q = q.clone();
        q.by.retain(|b| name.allowed_by().contains(b));
        let sync = sync_sources(ws, name).await?;
        let r = app.report(name, &q, sync.as_ref()).await?;
        reports.insert(
            name.as_str().replace('-', "_"),
            serde_json::to_value(&r).map_err(|e| CliError::Other(e.into()))?,
        );
    }
    let ctx = json!({
        "reports": reports,
        "since": q.since,
        "until": q.until,
        "generated_at": now,
        "filter": q.filter,
    });
    t.render(minijinja::Value::from(minijinja::value::Serde(ctx)))
        .map_err(|e| template_error(path, &e))
}

fn list(ctx: &Ctx, custom: &BTreeMap<String, Vec<(Format, PathBuf)>>) -> Result<(), CliError> {
    let builtin: Vec<_> = ReportName::ALL
        .iter()
        .map(|r| {
            json!({
                "name": r.as_str(), "kind": "built-in", "description": r.description(),
                "by": r.allowed_by().iter().map(|b| b.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let customs: Vec<_> = custom
        .iter()
        .map(|(name, files)| {
            json!({
                "name": name, "kind": "custom",
                "templates": files.iter().map(|(_, p)| p.display().to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    if ctx.out.json {
        ctx.out
            .json(&json!({"builtIn": builtin, "custom": customs}))?;
        return Ok(());
    }
    let mut t = Table::header(&ctx.out, &["REPORT", "KIND", "WHAT"]);
    for r in ReportName::ALL {
        let by: Vec<&str> = r.allowed_by().iter().map(|b| b.as_str()).collect();
        let what = if by.is_empty() {
            r.description().to_string()
        } else {
            format!("{} (--by {})", r.description(), by.join("|"))
        };
        t.row(vec![
            (ctx.out.bold(r.as_str()), r.as_str().to_string()),
            ("built-in".into(), "built-in".into()),
            (what.clone(), what),
        ]);
    }
    for (name, files) in custom {
        let what = files
            .iter()
            .map(|(_, p)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        t.row(vec![
            (ctx.out.bold(name), name.clone()),
            ("custom".into(), "custom".into()),
            (what.clone(), what),
        ]);
    }
    write_stdout(&t.render())?;
    Ok(())
}
