//! `devlog link`, `devlog unlink`, `devlog dep` and `devlog risk`: relations between entries
//! and the dependencies and risks of one. The rules live in devlog-core
//! ([`devlog_core::relations`]); `show` renders the relations with [`render_relations`].

use clap::{ArgGroup, Args, Subcommand};
use devlog_core::entry::{DependencyType, Level};
use devlog_core::relations::{LinkKind, Linked, NewDependency, NewRisk, Relations};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Out, write_stdout};

/// Link two entries: `devlog link 12 --blocks 15` (12 blocks 15; 15 shows it is blocked by 12)
///
/// Both entries record the link. A parent or blocker that would make a cycle is refused.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").required(true).multiple(false)))]
pub struct LinkArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// ENTRY blocks OTHER (OTHER cannot finish first)
    #[arg(long, group = "kind", value_name = "OTHER")]
    pub blocks: Option<String>,
    /// ENTRY waits on OTHER
    #[arg(long, group = "kind", value_name = "OTHER")]
    pub blocked_by: Option<String>,
    /// ENTRY and OTHER are related (stored in relatedDevlogs)
    #[arg(long, group = "kind", value_name = "OTHER")]
    pub relates: Option<String>,
    /// ENTRY duplicates OTHER
    #[arg(long, group = "kind", value_name = "OTHER")]
    pub duplicates: Option<String>,
    /// ENTRY is a subtask of OTHER (replaces its current parent)
    #[arg(long, group = "kind", value_name = "OTHER")]
    pub parent: Option<String>,
    /// OTHER is a subtask of ENTRY
    #[arg(long, group = "kind", value_name = "OTHER")]
    pub child: Option<String>,
}

impl LinkArgs {
    fn kind_and_other(&self) -> (LinkKind, &str) {
        let pairs = [
            (LinkKind::Blocks, &self.blocks),
            (LinkKind::BlockedBy, &self.blocked_by),
            (LinkKind::Relates, &self.relates),
            (LinkKind::Duplicates, &self.duplicates),
            (LinkKind::Parent, &self.parent),
            (LinkKind::Child, &self.child),
        ];
        pairs
            .into_iter()
            .find_map(|(k, o)| o.as_deref().map(|o| (k, o)))
            .expect("clap requires exactly one kind")
    }
}

/// How a link reads in a sentence: `#12 blocks #15`.
fn phrase(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Blocks => "blocks",
        LinkKind::BlockedBy => "is blocked by",
        LinkKind::Relates => "relates to",
        LinkKind::Duplicates => "duplicates",
        LinkKind::DuplicatedBy => "is duplicated by",
        LinkKind::Parent => "is a subtask of",
        LinkKind::Child => "has the subtask",
    }
}

pub async fn link(ctx: &Ctx, a: LinkArgs) -> Result<(), CliError> {
    let (kind, other) = a.kind_and_other();
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let out = app.link(target.id, kind, other, &ctx.meta()).await?;
    if ctx.out.json {
        return Ok(ctx.out.json(&out)?);
    }
    let o = &ctx.out;
    let mut s = format!(
        "{} {} {} {} {}{}\n",
        if out.changed { "Linked" } else { "Already:" },
        o.bold(&out.entry.handle_str()),
        phrase(kind),
        o.bold(&out.other.handle_str()),
        out.other.title,
        if out.changed {
            ""
        } else {
            " (nothing changed)"
        }
    );
    if let Some(r) = &out.replaced {
        s.push_str(&format!(
            "  (no longer linked to #{} {})\n",
            r.handle, r.title
        ));
    }
    write_stdout(&s)?;
    Ok(())
}

/// Remove the links between two entries (all of them, or those of --kind), on both entries
#[derive(Debug, Args)]
pub struct UnlinkArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// The other entry
    pub other: String,
    /// Only this kind, seen from ENTRY: blocks, blocked-by, relates, duplicates,
    /// duplicated-by, parent, child
    #[arg(long)]
    pub kind: Option<LinkKind>,
}

pub async fn unlink(ctx: &Ctx, a: UnlinkArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let out = app.unlink(target.id, &a.other, a.kind, &ctx.meta()).await?;
    if ctx.out.json {
        return Ok(ctx.out.json(&out)?);
    }
    let (h, oh) = (out.entry.handle_str(), out.other.handle_str());
    if out.removed.is_empty() {
        write_stdout(&format!(
            "{h} and {oh} were not linked{}; nothing changed\n",
            a.kind.map(|k| format!(" ({k})")).unwrap_or_default()
        ))?;
    } else {
        let kinds: Vec<&str> = out.removed.iter().map(|k| phrase(*k)).collect();
        write_stdout(&format!(
            "Unlinked {} and {}: {h} no longer {} {oh}\n",
            ctx.out.bold(&h),
            ctx.out.bold(&oh),
            kinds.join(" / ")
        ))?;
    }
    Ok(())
}

/// Dependencies on work outside this devlog (`devlog dep add 12 "sqlx 0.9" --external launchbadge/sqlx#1`)
///
/// Dependencies on other entries are links: `devlog link 12 --blocked-by 15`.
#[derive(Debug, Args)]
pub struct DepArgs {
    #[command(subcommand)]
    pub command: DepCommand,
}

#[derive(Debug, Subcommand)]
pub enum DepCommand {
    /// Add a dependency
    Add {
        /// Handle, id, id prefix, key, or original devlog id
        entry: String,
        /// What the work depends on
        description: String,
        /// blocked-by (default: the entry waits on it), blocks or related-to
        #[arg(long = "type", short = 't')]
        kind: Option<DependencyType>,
        /// Its id in another system (JIRA-12, owner/repo#5)
        #[arg(long)]
        external: Option<String>,
    },
    /// Remove a dependency by its id (or a unique start of it; `devlog show` lists them)
    Remove {
        entry: String,
        /// The dependency's id
        id: String,
    },
}

pub async fn dep(ctx: &Ctx, a: DepArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let meta = ctx.meta();
    let (entry, dep, verb) = match a.command {
        DepCommand::Add {
            entry,
            description,
            kind,
            external,
        } => {
            let id = app.resolve_summary(&entry).await?.id;
            let input = NewDependency {
                description,
                kind,
                external_id: external,
            };
            let (e, d) = app.add_dependency(id, input, &meta).await?;
            (e, d, "Added")
        }
        DepCommand::Remove { entry, id } => {
            let target = app.resolve_summary(&entry).await?.id;
            let (e, d) = app.remove_dependency(target, &id, &meta).await?;
            (e, d, "Removed")
        }
    };
    if ctx.out.json {
        return Ok(ctx.out.json(&dep)?);
    }
    write_stdout(&format!(
        "{verb} dependency {} on {}: {} {}\n",
        dep.id,
        ctx.out.bold(&entry.handle_str()),
        dep.kind,
        dep.description
    ))?;
    Ok(())
}

/// Risks of an entry (`devlog risk add 12 "API may change" --impact high --probability low`)
#[derive(Debug, Args)]
pub struct RiskArgs {
    #[command(subcommand)]
    pub command: RiskCommand,
}

#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Add a risk
    Add {
        /// Handle, id, id prefix, key, or original devlog id
        entry: String,
        /// What could go wrong
        description: String,
        /// low, medium or high
        #[arg(long, default_value = "medium")]
        impact: Level,
        /// low, medium or high
        #[arg(long, default_value = "medium")]
        probability: Level,
        /// How it is made less likely or less bad
        #[arg(long, default_value = "")]
        mitigation: String,
    },
    /// Remove a risk by its id (or a unique start of it; `devlog show` lists them)
    Remove {
        entry: String,
        /// The risk's id
        id: String,
    },
}

pub async fn risk(ctx: &Ctx, a: RiskArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let meta = ctx.meta();
    let (entry, risk, verb) = match a.command {
        RiskCommand::Add {
            entry,
            description,
            impact,
            probability,
            mitigation,
        } => {
            let id = app.resolve_summary(&entry).await?.id;
            let input = NewRisk {
                description,
                impact,
                probability,
                mitigation,
            };
            let (e, r) = app.add_risk(id, input, &meta).await?;
            (e, r, "Added")
        }
        RiskCommand::Remove { entry, id } => {
            let target = app.resolve_summary(&entry).await?.id;
            let (e, r) = app.remove_risk(target, &id, &meta).await?;
            (e, r, "Removed")
        }
    };
    if ctx.out.json {
        return Ok(ctx.out.json(&risk)?);
    }
    write_stdout(&format!(
        "{verb} risk {} on {}: {} (impact {}, probability {})\n",
        risk.id,
        ctx.out.bold(&entry.handle_str()),
        risk.description,
        risk.impact,
        risk.probability
    ))?;
    Ok(())
}

/// The "Relations" section of `devlog show` (empty when there are none).
pub fn render_relations(out: &Out, r: &Relations) -> String {
    if r.is_empty() {
        return String::new();
    }
    let one = |l: &Linked| match &l.entry {
        Some(e) => {
            let progress = l.progress.map(|p| format!(" ({p})")).unwrap_or_default();
            format!(
                "#{} {} [{}]{progress}",
                e.handle,
                e.title,
                out.status(e.status)
            )
        }
        None => format!("{} (not in this store)", l.id),
    };
    let mut s = format!("\n{}\n", out.bold("Relations"));
    let line = |s: &mut String, label: &str, items: &[Linked]| {
        for (i, l) in items.iter().enumerate() {
            let head = if i == 0 { label } else { "" };
            s.push_str(&format!("  {head:<15}{}\n", one(l)));
        }
    };
    line(&mut s, "parent:", r.parent.as_slice());
    if !r.children.is_empty() {
        match r.progress {
            Some(p) => s.push_str(&format!("  subtasks ({p}):\n")),
            None => s.push_str("  subtasks:\n"),
        }
        for c in &r.children {
            s.push_str(&format!("    {}\n", one(c)));
        }
    }
    line(&mut s, "blocked by:", &r.blocked_by);
    line(&mut s, "blocks:", &r.blocks);
    line(&mut s, "related:", &r.related);
    line(&mut s, "duplicate of:", r.duplicate_of.as_slice());
    line(&mut s, "duplicated by:", &r.duplicated_by);
    for o in &r.related_other {
        let what = match &o.entry {
            Some(e) => format!("#{} {} [{}]", e.handle, e.title, out.status(e.status)),
            None => "(no entry matches)".into(),
        };
        s.push_str(&format!("  {:<15}{} → {what}\n", "related:", o.value));
    }
    for u in &r.unreadable {
        s.push_str(&out.dim(&format!("  unreadable link value, left as it is: {u}\n")));
    }
    s
}

/// The "Dependencies" (those not on entries: links are under Relations) and "Risks"
/// sections of `devlog show`, with the ids `dep remove` and `risk remove` take.
pub fn render_dependencies_and_risks(out: &Out, e: &devlog_core::Entry) -> String {
    let mut s = String::new();
    let free: Vec<_> = e
        .context
        .dependencies
        .iter()
        .filter(|d| d.id.parse::<devlog_core::EntryId>().is_err())
        .collect();
    if !free.is_empty() {
        s.push_str(&format!("\n{}\n", out.bold("Dependencies")));
        for d in free {
            let ext = d
                .external_id
                .as_deref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            s.push_str(&format!(
                "- {} {}{ext}  [{}]\n",
                d.kind, d.description, d.id
            ));
        }
    }
    if !e.context.risks.is_empty() {
        s.push_str(&format!("\n{}\n", out.bold("Risks")));
        for r in &e.context.risks {
            s.push_str(&format!(
                "- {} (impact {}, probability {})  [{}]\n",
                r.description, r.impact, r.probability, r.id
            ));
            if !r.mitigation.is_empty() {
                s.push_str(&format!("  mitigation: {}\n", r.mitigation));
            }
        }
    }
    s
}
