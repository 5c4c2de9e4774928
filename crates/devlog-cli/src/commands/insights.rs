//! `devlog insight REF TEXT` (add a key insight, shared) and `devlog insights` (the shared
//! decisions and insights of this workspace and, with `--all-repos`, of every repository
//! `devlog repos discover` found, ranked for a piece of work).

use clap::Args;
use devlog_core::insights::{InsightKind, SharedInsight};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, count, truncate, write_stdout};

/// Add a key insight to an entry, shared with other work (--private keeps it to the entry)
#[derive(Debug, Args)]
pub struct InsightArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// The insight (one sentence others can use)
    pub text: String,
    /// Record it as a key insight of this entry only, not shared
    #[arg(long)]
    pub private: bool,
}

/// Shared decisions and insights, most relevant to the work first
///
/// Ranked for --for REF, else for the entry in progress updated last; with neither, the most
/// recently changed come first. Decisions are shared with `devlog decide --share`, insights
/// with `devlog insight`.
#[derive(Debug, Args)]
pub struct InsightsArgs {
    /// Rank for this entry
    #[arg(long = "for")]
    pub for_entry: Option<String>,
    /// Also the repositories `devlog repos discover` found
    #[arg(long)]
    pub all_repos: bool,
    /// At most this many
    #[arg(long, short = 'n', default_value_t = 10)]
    pub limit: usize,
}

pub async fn add(ctx: &Ctx, a: InsightArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let e = app
        .add_insight(target.id, &a.text, !a.private, &ctx.meta())
        .await?;
    if ctx.out.json {
        ctx.out.json(&e)?;
    } else {
        write_stdout(&format!(
            "Added {} insight to {} {} ({})\n",
            if a.private { "a private" } else { "a shared" },
            ctx.out.bold(&e.handle_str()),
            e.title,
            count(
                e.ai_context.shared_insights.len(),
                "shared insight",
                "shared insights"
            )
        ))?;
    }
    Ok(())
}

pub async fn list(ctx: &Ctx, a: InsightsArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let app = devlog_core::Devlog::new(ws.open().await?);
    let work = match &a.for_entry {
        Some(r) => Some(app.resolve(r).await?),
        None => {
            let active = app.active_context(1).await?;
            active
                .into_iter()
                .find(|e| e.status == devlog_core::Status::InProgress)
        }
    };
    let others = if a.all_repos {
        super::repos::other_stores(&ws).await
    } else {
        Vec::new()
    };
    let found = app.shared_insights(&others, work.as_ref(), a.limit).await?;
    for (repo, err) in &found.skipped {
        eprintln!("warning: skipped {repo}: {err}");
    }
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "for": work.as_ref().map(|e| e.summary()),
            "terms": found.terms,
            "items": found.items,
        }))?;
        return Ok(());
    }
    let mut s = match &work {
        Some(e) => format!(
            "Shared insights for {} {}\n",
            ctx.out.bold(&e.handle_str()),
            e.title
        ),
        None => "Shared insights, most recently changed first\n".to_string(),
    };
    if found.items.is_empty() {
        s.push_str(
            "None found. Share a decision with `devlog decide REF ... --share`, an insight with `devlog insight REF \"...\"`.\n",
        );
        write_stdout(&s)?;
        return Ok(());
    }
    s.push_str(&table(ctx, &found.items));
    write_stdout(&s)?;
    Ok(())
}

fn table(ctx: &Ctx, items: &[SharedInsight]) -> String {
    let out = &ctx.out;
    let mut t = Table::header(out, &["KIND", "INSIGHT", "FROM"]);
    for i in items {
        let kind = match i.kind {
            InsightKind::Insight => "insight",
            InsightKind::Decision => "decision",
        };
        let text = match &i.rationale {
            Some(r) => truncate(&format!("{} — {r}", i.text), 90),
            None => truncate(&i.text, 90),
        };
        let from = match &i.repository {
            Some(repo) => format!(
                "{} #{} {}",
                std::path::Path::new(repo)
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_else(|| repo.clone()),
                i.entry.handle,
                truncate(&i.entry.title, 40)
            ),
            None => format!("#{} {}", i.entry.handle, truncate(&i.entry.title, 40)),
        };
        t.row(vec![
            (kind.to_string(), kind.to_string()),
            (text.clone(), text),
            (out.dim(&from), from),
        ]);
    }
    t.render()
}
