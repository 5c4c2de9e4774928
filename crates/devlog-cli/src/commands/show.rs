//! `devlog show`: one entry in full.

use clap::Args;
use devlog_core::Entry;

use super::Ctx;
use crate::error::CliError;
use crate::output::{Out, write_stdout};

/// Show an entry: fields, context, decisions, notes and AI context
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Handle (#42 or 42), id, id prefix, key, or original devlog id
    pub entry: String,
}

pub async fn run(ctx: &Ctx, a: ShowArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let e = app.resolve(&a.entry).await?;
    if ctx.out.json {
        ctx.out.json(&e)?;
    } else {
        let relations = app.relations_of(&e).await?;
        let mut s = render(&ctx.out, &e);
        s.push_str(&super::relations::render_relations(&ctx.out, &relations));
        s.push_str(&super::relations::render_dependencies_and_risks(
            &ctx.out, &e,
        ));
        write_stdout(&s)?;
    }
    Ok(())
}

/// The human form of an entry.
pub fn render(out: &Out, e: &Entry) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{} {}\n",
        out.bold(&e.handle_str()),
        out.bold(&e.title)
    ));
    s.push_str(&format!(
        "{}  {}  {}  key {}  id {}\n",
        out.status(e.status),
        out.priority(e.priority),
        e.kind,
        e.key,
        e.id
    ));
    let mut meta = vec![
        format!("created {}", e.created_at),
        format!("updated {}", e.updated_at),
    ];
    if let Some(c) = e.closed_at {
        meta.push(format!("closed {c}"));
    }
    if let Some(a) = &e.assignee {
        meta.push(format!("assignee {a}"));
    }
    if let Some(l) = e.legacy_id {
        meta.push(format!("original id {l}"));
    }
    s.push_str(&out.dim(&meta.join("  ")));
    s.push('\n');
    if !e.tags.is_empty() {
        s.push_str(&format!("tags: {}\n", e.tags.join(", ")));
    }
    if let Some(time) = time_line(e.estimated_hours, e.actual_hours) {
        s.push_str(&time);
        s.push('\n');
    }
    if let Some(p) = e.points {
        s.push_str(&format!("points: {p}\n"));
    }
    s.push_str(&super::log_time::plan_lines(out, e));
    let section = |s: &mut String, title: &str, body: &str| {
        if !body.trim().is_empty() {
            s.push_str(&format!("\n{}\n{}\n", out.bold(title), body.trim_end()));
        }
    };
    section(&mut s, "Description", &e.description);
    section(&mut s, "Business context", &e.context.business_context);
    section(&mut s, "Technical context", &e.context.technical_context);
    let bullets = |items: &[String]| items.iter().map(|i| format!("- {i}\n")).collect::<String>();
    section(
        &mut s,
        "Acceptance criteria",
        &bullets(&e.context.acceptance_criteria),
    );
    if !e.context.decisions.is_empty() {
        let mut body = String::new();
        for d in &e.context.decisions {
            body.push_str(&format!("- {} — {}", d.decision, d.rationale));
            if !d.alternatives.is_empty() {
                body.push_str(&format!(" (instead of: {})", d.alternatives.join("; ")));
            }
            if !d.decision_maker.is_empty() {
                body.push_str(&format!(" [{}]", d.decision_maker));
            }
            body.push('\n');
        }
        section(&mut s, "Decisions", &body);
    }
    if !e.files.is_empty() {
        section(&mut s, "Files", &bullets(&e.files));
    }
    let ai = &e.ai_context;
    let mut aitext = String::new();
    if !ai.current_summary.is_empty() {
        aitext.push_str(&format!("{}\n", ai.current_summary));
    }
    for (label, items) in [
        ("Insights", &ai.key_insights),
        ("Open questions", &ai.open_questions),
        ("Patterns", &ai.related_patterns),
        ("Next steps", &ai.suggested_next_steps),
    ] {
        if !items.is_empty() {
            aitext.push_str(&format!("{label}:\n{}", bullets(items)));
        }
    }
    section(&mut s, "AI context", &aitext);
    if !e.external_references.is_empty() {
        let body: String = e
            .external_references
            .iter()
            .map(|r| {
                format!(
                    "- {} {}{}{}{}\n",
                    r.system,
                    r.id,
                    r.url
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default(),
                    // From the last pull (Jira with a `boardId`), never asked here.
                    r.sprint
                        .as_deref()
                        .map(|s| format!(" (sprint {s})"))
                        .unwrap_or_default(),
                    // From the last pull too (Azure DevOps: board column, iteration).
                    r.board
                        .as_ref()
                        .map(|b| b.to_string())
                        .filter(|b| !b.is_empty())
                        .map(|b| format!(" ({b})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        section(&mut s, "Linked", &body);
    }
    section(&mut s, "Deployments", &deployment_lines(e));
    s.push_str(&super::log_time::worklog_section(out, e));
    if !e.notes.is_empty() {
        s.push_str(&format!(
            "\n{}\n",
            out.bold(&format!("Notes ({})", e.notes.len()))
        ));
        for n in &e.notes {
            // Notes mirrored from a remote comment say whose and where.
            let source = n.source().map(|x| format!(" ({x})")).unwrap_or_default();
            s.push_str(&format!(
                "{} {}{}\n",
                out.dim(&n.timestamp.to_string()),
                out.bold(n.category.as_str()),
                out.dim(&source)
            ));
            for line in n.content.lines() {
                s.push_str(&format!("  {line}\n"));
            }
            if !n.files.is_empty() {
                s.push_str(&out.dim(&format!("  files: {}\n", n.files.join(", "))));
            }
        }
    }
    s
}

/// One line per deployment that carried the entry's work: environment, release, status,
/// when, where (empty when there are none).
fn deployment_lines(e: &Entry) -> String {
    e.deployments
        .iter()
        .map(|d| {
            format!(
                "- {}: {} {} {}{}\n",
                d.environment,
                d.release,
                d.status,
                d.at,
                d.url
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// Estimated and actual hours, when either is set: `time: 3.5h of 4h estimated (88%)`.
fn time_line(estimated: Option<f64>, actual: Option<f64>) -> Option<String> {
    let h = |x: f64| format!("{}h", (x * 100.0).round() / 100.0);
    match (estimated, actual) {
        (None, None) => None,
        (Some(est), None) => Some(format!("time: {} estimated", h(est))),
        (None, Some(act)) => Some(format!("time: {} spent", h(act))),
        (Some(est), Some(act)) if est > 0.0 => Some(format!(
            "time: {} of {} estimated ({:.0}%)",
            h(act),
            h(est),
            act / est * 100.0
        )),
        (Some(est), Some(act)) => Some(format!("time: {} spent, {} estimated", h(act), h(est))),
    }
}

#[cfg(test)]
mod tests {
    use super::{deployment_lines, time_line};

    #[test]
    fn deployments_are_listed() {
        let mut e: devlog_core::Entry = serde_json::from_value(serde_json::json!({
            "id": "5f0c6a52-1f0e-4d7e-9d6a-0c6b8f1e2a3b", "handle": 1, "key": "k", "title": "t",
            "type": "feature", "status": "done", "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
            "deployments": [{"id": "azure-devops:1", "system": "azure-devops",
                "environment": "Production", "release": "Release-4", "status": "succeeded",
                "url": "https://x/r/4", "at": "2026-01-02T03:04:05.000Z"}]
        }))
        .unwrap();
        assert_eq!(
            deployment_lines(&e),
            "- Production: Release-4 succeeded 2026-01-02T03:04:05.000Z https://x/r/4\n"
        );
        e.deployments.clear();
        assert_eq!(deployment_lines(&e), "");
    }

    #[test]
    fn hours_are_shown_when_set() {
        assert_eq!(time_line(None, None), None);
        assert_eq!(time_line(Some(4.0), None).unwrap(), "time: 4h estimated");
        assert_eq!(time_line(None, Some(1.25)).unwrap(), "time: 1.25h spent");
        assert_eq!(
            time_line(Some(4.0), Some(3.5)).unwrap(),
            "time: 3.5h of 4h estimated (88%)"
        );
        assert_eq!(
            time_line(Some(0.0), Some(2.0)).unwrap(),
            "time: 2h spent, 0h estimated"
        );
    }
}
