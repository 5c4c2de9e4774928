//! `devlog context`: what an AI assistant should know about the open work.

use clap::Args;
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;

/// Summarize the active work (open entries, highest priority first) for an AI assistant
#[derive(Debug, Args)]
pub struct ContextArgs {
    /// At most this many entries
    #[arg(long, short = 'n', default_value_t = 10)]
    pub limit: usize,
}

/// One entry as the active context presents it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveItem {
    pub id: String,
    pub handle: u64,
    pub key: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub priority: String,
    pub updated_at: String,
    pub summary: String,
    pub last_note: Option<String>,
    pub next_steps: Vec<String>,
    pub open_questions: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: ContextArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let entries = app.active_context(a.limit).await?;
    let items: Vec<ActiveItem> = entries
        .iter()
        .map(|e| ActiveItem {
            id: e.id.to_string(),
            handle: e.handle,
            key: e.key.clone(),
            title: e.title.clone(),
            kind: e.kind.to_string(),
            status: e.status.to_string(),
            priority: e.priority.to_string(),
            updated_at: e.updated_at.to_string(),
            summary: if e.ai_context.current_summary.is_empty() {
                first_line(&e.description)
            } else {
                e.ai_context.current_summary.clone()
            },
            last_note: e
                .notes
                .last()
                .map(|n| format!("[{}] {}", n.category, first_line(&n.content))),
            next_steps: e.ai_context.suggested_next_steps.clone(),
            open_questions: e.ai_context.open_questions.clone(),
        })
        .collect();
    if ctx.out.json {
        ctx.out.json(&items)?;
        return Ok(());
    }
    if items.is_empty() {
        write_stdout("No open work. Start some with: devlog new \"<title>\" --type feature\n")?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut s = format!("Active work ({} open entries shown)\n", items.len());
    for i in &items {
        s.push_str(&format!(
            "\n{} {} [{} · {} · {}]\n",
            out.bold(&format!("#{}", i.handle)),
            out.bold(&i.title),
            i.status,
            i.priority,
            i.kind
        ));
        if !i.summary.is_empty() {
            s.push_str(&format!("  {}\n", i.summary));
        }
        if let Some(n) = &i.last_note {
            s.push_str(&format!("  last: {n}\n"));
        }
        for step in &i.next_steps {
            s.push_str(&format!("  next: {step}\n"));
        }
        for q in &i.open_questions {
            s.push_str(&format!("  open question: {q}\n"));
        }
    }
    write_stdout(&s)?;
    Ok(())
}

fn first_line(s: &str) -> String {
    let l = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    crate::output::truncate(l, 160)
}
