//! `devlog worklog suggest`: worklogs proposed from the user's commits that mention entries,
//! in this repository and those `devlog repos discover` found. Nothing is logged until the
//! user confirms (`--apply`, `--apply ID…`, `--interactive`); applied and dismissed
//! suggestions are remembered in `.devlog/.state/worklog-suggestions.json` (and applied ones
//! on their worklogs) and never proposed again. The use case is devlog-core's
//! `worklog_suggest::WorklogSuggester` over devlog-git's `activity` (`GitHistory`,
//! `LedgerFile`); [`suggester`] builds it, for this command and for `devlog mcp` /
//! `devlog serve` (MCP `suggest_worklogs`, REST `/api/v1/worklogs/suggestions`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use clap::{Args, Subcommand};
use devlog_core::planning::{format_minutes, parse_duration};
use devlog_core::worklog_suggest::{
    self as ws_core, Applied, Proposal, ScanOptions, SuggestOptions, SuggestSource,
    WorklogSuggester,
};
use devlog_core::{Devlog, Store, SystemClock};
use devlog_git::activity::{GitHistory, LedgerFile};
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, write_stdout};

/// Worklogs: proposals from commits (`devlog worklog suggest`)
#[derive(Debug, Args)]
pub struct WorklogArgs {
    #[command(subcommand)]
    pub command: WorklogCommand,
}

#[derive(Debug, Subcommand)]
pub enum WorklogCommand {
    /// Propose worklogs from your commits that mention entries (here and in the repositories
    /// `devlog repos discover` found): commits less than --gap apart form a session, which
    /// lasts from its first commit to its last plus --padding; its time goes to the entries
    /// mentioned, split evenly. Nothing is logged without --apply or --interactive
    Suggest(SuggestArgs),
}

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// Commits since: a date (2026-12-01), today, yesterday, or a time ago (7d, 2w, 36h)
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// A pause between two commits longer than this ends a session (1h30m, 90m, 2h)
    #[arg(long, default_value = "2h")]
    pub gap: String,
    /// Time counted before a session's first commit (0 for none)
    #[arg(long, default_value = "30m")]
    pub padding: String,
    /// Whose commits: a name or email (default: each repository's git identity, `git var
    /// GIT_AUTHOR_IDENT`)
    #[arg(long)]
    pub author: Option<String>,
    /// Log suggestions: all of them, or those whose ids (or unique prefixes) follow
    #[arg(long, num_args = 0.., value_name = "ID", conflicts_with_all = ["dismiss", "interactive"])]
    pub apply: Option<Vec<String>>,
    /// Never propose these suggestions again (ids or unique prefixes)
    #[arg(long, num_args = 1.., value_name = "ID", conflicts_with = "interactive")]
    pub dismiss: Option<Vec<String>>,
    /// Ask about each suggestion: yes, no, edit the duration, dismiss, or quit (needs a terminal)
    #[arg(long, short = 'i')]
    pub interactive: bool,
}

pub async fn run(ctx: &Ctx, a: WorklogArgs) -> Result<(), CliError> {
    match a.command {
        WorklogCommand::Suggest(s) => suggest(ctx, s).await,
    }
}

/// The worklog suggester over the repository around `devlog_dir` (with `here`, its store)
/// and `others` (the stores of the repositories `devlog repos discover` found, by path, as
/// `repos::other_stores` opens them), with the ledger in `devlog_dir`. A folder that is not
/// in a git repository is left out with a note (the notes are also the suggester's, so every
/// scan reports them).
pub fn suggester(
    devlog_dir: &Path,
    here: Devlog,
    others: &[(String, Arc<dyn Store>)],
) -> (WorklogSuggester, Vec<String>) {
    let mut notes: Vec<String> = Vec::new();
    let mut sources: Vec<SuggestSource> = Vec::new();
    let mut source = |history: GitHistory, app: Devlog| {
        if sources
            .iter()
            .any(|s| Path::new(&s.path) == history.workdir())
        {
            return;
        }
        sources.push(SuggestSource {
            name: history.name(),
            path: history.workdir().display().to_string(),
            app,
            history: Arc::new(history),
        });
    };
    match GitHistory::discover(devlog_dir) {
        Ok(h) => source(h, here),
        Err(e) => notes.push(format!("this workspace is not in a git repository: {e}")),
    }
    for (path, store) in others {
        match GitHistory::discover(Path::new(path)) {
            Ok(h) => source(h, Devlog::new(store.clone())),
            Err(e) => notes.push(format!("skipped {path}: {e}")),
        }
    }
    let ledger = Arc::new(LedgerFile::in_devlog_dir(devlog_dir));
    (
        WorklogSuggester::new(sources, ledger).with_notes(notes.clone()),
        notes,
    )
}

async fn suggest(ctx: &Ctx, a: SuggestArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let now = devlog_core::Clock::now(&SystemClock).as_datetime();
    let opts = ScanOptions {
        since: ws_core::parse_since(&a.since, now)?,
        author: a.author.clone(),
        session: SuggestOptions {
            gap_minutes: ws_core::parse_minutes("gap", &a.gap, false)?,
            padding_minutes: ws_core::parse_minutes("padding", &a.padding, true)?,
        },
    };
    if a.interactive && (ctx.out.json || !std::io::stdin().is_terminal()) {
        return Err(CliError::Usage(
            "--interactive asks on a terminal; without one, list the suggestions and pass \
             --apply ID… (or --dismiss ID…)"
                .into(),
        ));
    }
    // Stores that cannot be opened are noted (not warned about on stderr like `mcp` does).
    let mut opened: Vec<(String, Arc<dyn Store>)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let here = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
    for root in super::repos::load(&ws.devlog_dir)?.repositories {
        let canon = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
        if canon == here {
            continue;
        }
        let store = async {
            crate::workspace::Workspace::load(root.join(".devlog"), None)?
                .open()
                .await
        }
        .await;
        match store {
            Ok(s) => opened.push((canon.display().to_string(), s)),
            Err(e) => skipped.push(format!("skipped {}: {e}", root.display())),
        }
    }
    let (suggester, mut notes) = suggester(&ws.devlog_dir, ctx.app().await?, &opened);
    notes.extend(skipped);
    if suggester.sources().is_empty() {
        return Err(CliError::Usage(
            "no git repository to read commits from: run this inside one, or find some with \
             `devlog repos discover --root DIR`"
                .into(),
        ));
    }
    let scan = suggester.scan(&opts).await?;
    // The suggester repeats its own notes in the scan's.
    let mut run = Run {
        ctx,
        suggester,
        notes: scan.notes.clone(),
    };
    for n in notes {
        if !run.notes.contains(&n) {
            run.notes.push(n);
        }
    }
    let pending = scan.pending.clone();

    if let Some(ids) = a.dismiss {
        let chosen = WorklogSuggester::choose(&scan, &ids)?;
        run.suggester.dismiss(&chosen).await?;
        if ctx.out.json {
            ctx.out.json(&json!({
                "dismissed": chosen.iter().map(|p| &p.suggestion.id).collect::<Vec<_>>(),
                "notes": run.notes,
            }))?;
        } else {
            for p in &chosen {
                write_stdout(&format!(
                    "Dismissed {} ({})\n",
                    p.suggestion.id,
                    describe(p)
                ))?;
            }
            run.print_notes();
        }
        return Ok(());
    }
    if let Some(ids) = a.apply {
        let chosen = if ids.is_empty() {
            pending.clone()
        } else {
            WorklogSuggester::choose(&scan, &ids)?
        };
        let mut applied = Vec::new();
        for p in &chosen {
            if let Some(v) = run.apply(p, None).await? {
                applied.push(applied_json(&v));
            }
        }
        if ctx.out.json {
            ctx.out
                .json(&json!({"applied": applied, "notes": run.notes}))?;
        } else {
            if chosen.is_empty() {
                write_stdout("No worklog suggestions to apply.\n")?;
            }
            run.print_notes();
        }
        return Ok(());
    }
    if a.interactive {
        return run.interactive(&pending).await;
    }
    run.list(&pending, opts.since)
}

/// An applied suggestion as the JSON answers (CLI, MCP, REST) give it.
pub fn applied_json(a: &Applied) -> serde_json::Value {
    json!({
        "suggestion": a.suggestion,
        "repository": a.repository,
        "entry": a.entry.summary(),
        "worklog": a.worklog,
    })
}

/// `50m on #1 Login form in alpha, 2025-03-10`.
fn describe(p: &Proposal) -> String {
    let s = &p.suggestion;
    format!(
        "{} on {} in {}, {}",
        format_minutes(s.minutes.into()),
        p.label(),
        s.repo,
        s.date
    )
}

struct Run<'a> {
    ctx: &'a Ctx,
    suggester: WorklogSuggester,
    notes: Vec<String>,
}

impl Run<'_> {
    fn print_notes(&self) {
        for n in &self.notes {
            eprintln!("note: {n}");
        }
    }

    /// Logs one suggestion (with `minutes` instead of its own when given); the suggester
    /// records it in the ledger at once, so an interrupted run never logs it twice.
    async fn apply(&self, p: &Proposal, minutes: Option<u32>) -> Result<Option<Applied>, CliError> {
        let done = self.suggester.apply(p, minutes, &self.ctx.meta()).await?;
        let Some(a) = done else {
            if !self.ctx.out.json {
                write_stdout(&format!(
                    "{} was already logged on {}\n",
                    p.suggestion.id,
                    p.label()
                ))?;
            }
            return Ok(None);
        };
        if !self.ctx.out.json {
            write_stdout(&format!(
                "Logged {} on {} {} ({}, from {}); {} in all\n",
                format_minutes(a.worklog.minutes.into()),
                self.ctx.out.bold(&a.entry.handle_str()),
                a.entry.title,
                a.worklog.date,
                a.suggestion,
                format_minutes(devlog_core::planning::logged_minutes(&a.entry))
            ))?;
        }
        Ok(Some(a))
    }

    fn list(
        &self,
        pending: &[Proposal],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), CliError> {
        let out = &self.ctx.out;
        if out.json {
            out.json(&json!({
                "since": since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "suggestions": pending,
                "notes": self.notes,
            }))?;
            return Ok(());
        }
        if pending.is_empty() {
            write_stdout(&format!(
                "No worklog suggestions since {} (commits by you that mention an entry, not \
                 yet applied or dismissed).\n",
                since.format("%Y-%m-%d %H:%M UTC")
            ))?;
            self.print_notes();
            return Ok(());
        }
        let mut t = Table::header(
            out,
            &["ID", "DATE", "TIME", "ENTRY", "REPO", "COMMITS", "SESSION"],
        );
        for p in pending {
            let s = &p.suggestion;
            let id = s.id.to_string();
            let time = format!(
                "{}{}",
                format_minutes(s.minutes.into()),
                if s.capped { " (cut to 1 day)" } else { "" }
            );
            let entry = crate::output::truncate(&p.label(), 40);
            let commits = if s.shared_by > 1 {
                format!("{} (1/{} of the time)", s.commits, s.shared_by)
            } else {
                s.commits.to_string()
            };
            let session = format!(
                "{}–{}",
                s.start.as_datetime().format("%H:%M"),
                s.end.as_datetime().format("%H:%M")
            );
            t.row(vec![
                (out.bold(&id), id),
                (s.date.to_string(), s.date.to_string()),
                (time.clone(), time),
                (entry.clone(), entry),
                (s.repo.clone(), s.repo.clone()),
                (commits.clone(), commits),
                (out.dim(&session), session),
            ]);
        }
        let total: u64 = pending
            .iter()
            .map(|p| u64::from(p.suggestion.minutes))
            .sum();
        let mut text = t.render();
        text.push_str(&out.dim(&format!(
            "{} suggestion{}, {} in all (times UTC). Nothing is logged yet: `devlog worklog \
             suggest --apply` logs all, `--apply ID…` some, `-i` asks for each; `--dismiss \
             ID…` stops proposing one.\n",
            pending.len(),
            if pending.len() == 1 { "" } else { "s" },
            format_minutes(total)
        )));
        write_stdout(&text)?;
        self.print_notes();
        Ok(())
    }

    async fn interactive(&mut self, pending: &[Proposal]) -> Result<(), CliError> {
        if pending.is_empty() {
            write_stdout("No worklog suggestions.\n")?;
            self.print_notes();
            return Ok(());
        }
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut ask = |prompt: &str| -> Result<Option<String>, CliError> {
            print!("{prompt}");
            std::io::stdout()
                .flush()
                .map_err(|e| CliError::Other(e.into()))?;
            match lines.next() {
                Some(l) => Ok(Some(l.map_err(|e| CliError::Other(e.into()))?)),
                None => Ok(None),
            }
        };
        'items: for (n, p) in pending.iter().enumerate() {
            let s = &p.suggestion;
            write_stdout(&format!(
                "[{}/{}] {}  {}\n      {}\n",
                n + 1,
                pending.len(),
                s.id,
                describe(p),
                s.note
            ))?;
            loop {
                let Some(answer) =
                    ask("Log it? [y]es, [n]o, [e]dit duration, [d]ismiss, [q]uit: ")?
                else {
                    break 'items;
                };
                match answer.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => {
                        self.apply(p, None).await?;
                        break;
                    }
                    "n" | "no" | "" => break,
                    "d" | "dismiss" => {
                        self.suggester.dismiss(std::slice::from_ref(p)).await?;
                        write_stdout(&format!("Dismissed {}\n", s.id))?;
                        break;
                    }
                    "q" | "quit" => break 'items,
                    "e" | "edit" => {
                        let Some(d) = ask(&format!(
                            "Duration (now {}; e.g. 1h30m, 45m): ",
                            format_minutes(s.minutes.into())
                        ))?
                        else {
                            break 'items;
                        };
                        match parse_duration(&d) {
                            Ok(m) if m <= devlog_core::planning::MAX_WORKLOG_MINUTES => {
                                self.apply(p, Some(m)).await?;
                                break;
                            }
                            Ok(_) => eprintln!("at most 24h per worklog"),
                            Err(e) => eprintln!("{e}"),
                        }
                    }
                    other => eprintln!("`{other}`: answer y, n, e, d or q"),
                }
            }
        }
        self.print_notes();
        Ok(())
    }
}
