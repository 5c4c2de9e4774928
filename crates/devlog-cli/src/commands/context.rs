//! `devlog context`: what an AI assistant should know about the open work.

use clap::Args;
use devlog_core::ops::ActiveItem;

use super::Ctx;
use crate::error::CliError;
use crate::output::{count, write_stdout};

/// Summarize the active work (open entries, highest priority first) for an AI assistant
#[derive(Debug, Args)]
pub struct ContextArgs {
    /// At most this many entries (at least 1)
    #[arg(long, short = 'n', default_value_t = 10,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: usize,
}

pub async fn run(ctx: &Ctx, a: ContextArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let entries = app.active_context(a.limit).await?;
    super::list::warn_store(&**app.store()).await?;
    let items: Vec<ActiveItem> = entries.iter().map(ActiveItem::of).collect();
    if ctx.out.json {
        ctx.out.json(&items)?;
        return Ok(());
    }
    if items.is_empty() {
        write_stdout("No open work. Start some with: devlog new \"<title>\" --type feature\n")?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut s = format!(
        "Active work ({} shown)\n",
        count(items.len(), "open entry", "open entries")
    );
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
        for n in &i.recent_notes {
            s.push_str(&format!("  note: {n}\n"));
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
