//! `devlog decide`: record a decision.

use clap::Args;
use devlog_core::ops::NewDecision;

use super::Ctx;
use crate::error::CliError;
use crate::output::{count, write_stdout};

/// Record a decision on an entry, with its rationale and the alternatives considered
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// What was decided
    pub decision: String,
    /// Why
    #[arg(long, short = 'r')]
    pub rationale: String,
    /// An alternative that was considered (repeatable)
    #[arg(long)]
    pub alternative: Vec<String>,
    /// Who decided (defaults to the acting user)
    #[arg(long)]
    pub by: Option<String>,
    /// Share it with other work, here and in other repositories (`devlog insights`)
    #[arg(long)]
    pub share: bool,
}

pub async fn run(ctx: &Ctx, a: DecideArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let e = app
        .decide(
            target.id,
            NewDecision {
                decision: a.decision,
                rationale: a.rationale,
                alternatives: a.alternative,
                decision_maker: a.by.or_else(|| ctx.actor.clone()).unwrap_or_default(),
                shared: a.share,
            },
            &ctx.meta(),
        )
        .await?;
    if ctx.out.json {
        ctx.out.json(&e)?;
    } else {
        write_stdout(&format!(
            "Recorded decision on {} {} ({})\n",
            ctx.out.bold(&e.handle_str()),
            e.title,
            count(e.context.decisions.len(), "decision", "decisions")
        ))?;
    }
    Ok(())
}
