//! Shortcuts for everyday changes: `devlog start|block|review|close|reopen`, `devlog assign`
//! and `devlog tag`. The rules live in devlog-core ([`Devlog::transition`], [`Devlog::edit`]).
//!
//! [`Devlog::transition`]: devlog_core::ops::Devlog::transition
//! [`Devlog::edit`]: devlog_core::ops::Devlog::edit

use clap::Args;
use devlog_core::entry::{Entry, Transition};
use devlog_core::ops::Edit;

use super::{Ctx, text_arg};
use crate::error::CliError;
use crate::output::write_stdout;

/// A status change with an optional note (`devlog start 12 --note "on it"`)
#[derive(Debug, Args)]
pub struct TransitionArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// A note to add with the change (`-` reads standard input)
    #[arg(long, short = 'n')]
    pub note: Option<String>,
    /// close: even though subtasks are open
    #[arg(long, short = 'f')]
    pub force: bool,
}

pub async fn transition(ctx: &Ctx, t: Transition, a: TransitionArgs) -> Result<(), CliError> {
    let note = a
        .note
        .as_deref()
        .map(|n| text_arg(n, "the note", None))
        .transpose()?;
    let app = ctx.app().await?.allowing_open_children(a.force);
    let target = app.resolve_summary(&a.entry).await?;
    let out = app.transition(target.id, t, note, &ctx.meta()).await?;
    let e = &out.entry;
    if ctx.out.json {
        return Ok(ctx.out.json(e)?);
    }
    let head = format!("{} {}", ctx.out.bold(&e.handle_str()), e.title);
    let with_note = if out.noted { "; added the note" } else { "" };
    let line = if out.changed {
        format!(
            "{head}: {} → {}{with_note}\n",
            ctx.out.status(out.from),
            ctx.out.status(e.status)
        )
    } else {
        format!(
            "{head} is already {}{with_note}\n",
            ctx.out.status(e.status)
        )
    };
    write_stdout(&line)?;
    Ok(())
}

/// Assign an entry to someone (`devlog assign 12 ana`), or clear it with `--none`
#[derive(Debug, Args)]
pub struct AssignArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// Who takes it
    #[arg(required_unless_present = "none", conflicts_with = "none")]
    pub who: Option<String>,
    /// Unassign
    #[arg(long)]
    pub none: bool,
}

pub async fn assign(ctx: &Ctx, a: AssignArgs) -> Result<(), CliError> {
    let who = a.who.map(|w| w.trim().to_string()).unwrap_or_default();
    if !a.none && who.is_empty() {
        return Err(CliError::Usage(
            "say who takes the entry, or pass --none to unassign".into(),
        ));
    }
    let edit = Edit {
        assignee: Some(who),
        ..Edit::default()
    };
    let e = edit_entry(ctx, &a.entry, edit).await?;
    if ctx.out.json {
        return Ok(ctx.out.json(&e)?);
    }
    let line = match e.assignee.as_deref() {
        Some(w) => format!(
            "{} {} is assigned to {w}\n",
            ctx.out.bold(&e.handle_str()),
            e.title
        ),
        None => format!(
            "{} {} is unassigned\n",
            ctx.out.bold(&e.handle_str()),
            e.title
        ),
    };
    write_stdout(&line)?;
    Ok(())
}

/// Add and remove tags: `devlog tag 12 +perf -ui` (a bare name adds)
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// `+name` or `name` adds a tag, `-name` removes one
    #[arg(required = true, allow_hyphen_values = true, value_name = "+TAG|-TAG")]
    pub changes: Vec<String>,
}

/// Splits `+a -b c` into the tags to add and to remove.
fn tag_changes(changes: &[String]) -> Result<(Vec<String>, Vec<String>), CliError> {
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for c in changes {
        let (list, name) = match c.strip_prefix('-') {
            Some(rest) => (&mut remove, rest),
            None => (&mut add, c.strip_prefix('+').unwrap_or(c)),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(CliError::Usage(format!(
                "`{c}` names no tag: write +name to add or -name to remove"
            )));
        }
        list.push(name.to_string());
    }
    Ok((add, remove))
}

pub async fn tag(ctx: &Ctx, a: TagArgs) -> Result<(), CliError> {
    let (add_tags, remove_tags) = tag_changes(&a.changes)?;
    let edit = Edit {
        add_tags,
        remove_tags,
        ..Edit::default()
    };
    let e = edit_entry(ctx, &a.entry, edit).await?;
    if ctx.out.json {
        return Ok(ctx.out.json(&e)?);
    }
    let tags = if e.tags.is_empty() {
        "no tags".to_string()
    } else {
        format!("tags: {}", e.tags.join(", "))
    };
    write_stdout(&format!(
        "{} {} has {tags}\n",
        ctx.out.bold(&e.handle_str()),
        e.title
    ))?;
    Ok(())
}

async fn edit_entry(ctx: &Ctx, reference: &str, edit: Edit) -> Result<Entry, CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(reference).await?;
    Ok(app.edit(target.id, edit, &ctx.meta()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_changes_split_plus_minus_and_bare_names() {
        let args: Vec<String> = ["+perf", "-ui", "api", "+ spaced "]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (add, remove) = tag_changes(&args).unwrap();
        assert_eq!(add, ["perf", "api", "spaced"]);
        assert_eq!(remove, ["ui"]);
        assert!(tag_changes(&["-".to_string()]).is_err());
        assert!(tag_changes(&["+".to_string()]).is_err());
    }
}
