//! `devlog worklog suggest`: worklogs proposed from the user's commits that mention entries,
//! in this repository and those `devlog repos discover` found. Nothing is logged until the
//! user confirms (`--apply`, `--apply ID…`, `--interactive`); applied and dismissed
//! suggestions are remembered in `.devlog/.state/worklog-suggestions.json` (and applied ones
//! on their worklogs) and never proposed again. The rules are devlog-core's
//! `worklog_suggest`; the walk is devlog-git's `activity`.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use devlog_core::planning::{format_minutes, parse_duration};
use devlog_core::worklog_suggest::{
    self as ws_core, SuggestOptions, Suggestion, SuggestionLedger, WorkCommit,
};
use devlog_core::{Devlog, Entry, EntryId, SystemClock};
use devlog_git::Repo;
use devlog_git::activity::{self, Author};
use serde_json::json;

use super::Ctx;
use super::git::git_err;
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

/// A repository read for suggestions, with the store its entries are in.
struct Source {
    path: PathBuf,
    app: Devlog,
    /// Entries its commits mention, by id.
    entries: HashMap<EntryId, Entry>,
}

/// `.devlog/.state/worklog-suggestions.json`.
fn ledger_file(devlog_dir: &Path) -> PathBuf {
    devlog_dir.join(".state").join("worklog-suggestions.json")
}

fn load_ledger(devlog_dir: &Path) -> Result<SuggestionLedger, CliError> {
    let path = ledger_file(devlog_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "{}: {e}; fix or delete it (dismissed suggestions would be proposed again)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SuggestionLedger::default()),
        Err(e) => Err(CliError::Other(anyhow::anyhow!("{}: {e}", path.display()))),
    }
}

/// Written beside and renamed over, so a crash leaves the old or the new ledger.
fn save_ledger(devlog_dir: &Path, ledger: &SuggestionLedger) -> Result<(), CliError> {
    let path = ledger_file(devlog_dir);
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut bytes = serde_json::to_vec_pretty(ledger)?;
        bytes.push(b'\n');
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| CliError::Other(anyhow::anyhow!("{}: {e}", path.display())))
}

fn repo_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

async fn suggest(ctx: &Ctx, a: SuggestArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let now = devlog_core::Clock::now(&SystemClock).as_datetime();
    let since = ws_core::parse_since(&a.since, now)?;
    let opts = SuggestOptions {
        gap_minutes: ws_core::parse_minutes("gap", &a.gap, false)?,
        padding_minutes: ws_core::parse_minutes("padding", &a.padding, true)?,
    };
    if a.interactive && (ctx.out.json || !std::io::stdin().is_terminal()) {
        return Err(CliError::Usage(
            "--interactive asks on a terminal; without one, list the suggestions and pass \
             --apply ID… (or --dismiss ID…)"
                .into(),
        ));
    }
    let mut notes: Vec<String> = Vec::new();

    // This repository first, then the discovered ones.
    let mut sources: Vec<(PathBuf, Repo, Devlog)> = Vec::new();
    let here = match Repo::discover(&ws.devlog_dir) {
        Ok(repo) => {
            let path = std::fs::canonicalize(repo.workdir())
                .unwrap_or_else(|_| repo.workdir().to_path_buf());
            sources.push((path.clone(), repo, ctx.app().await?));
            Some(path)
        }
        Err(e) => {
            notes.push(format!("this workspace is not in a git repository: {e}"));
            None
        }
    };
    for root in super::repos::load(&ws.devlog_dir)?.repositories {
        let canon = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
        if Some(&canon) == here.as_ref() {
            continue;
        }
        let opened = async {
            let repo = Repo::discover(&root).map_err(git_err)?;
            let store = crate::workspace::Workspace::load(root.join(".devlog"), None)?
                .open()
                .await?;
            Ok::<_, CliError>((repo, Devlog::new(store)))
        }
        .await;
        match opened {
            Ok((repo, app)) => sources.push((canon, repo, app)),
            Err(e) => notes.push(format!("skipped {}: {e}", root.display())),
        }
    }
    if sources.is_empty() {
        return Err(CliError::Usage(
            "no git repository to read commits from: run this inside one, or find some with \
             `devlog repos discover --root DIR`"
                .into(),
        ));
    }

    let ledger = load_ledger(&ws.devlog_dir)?;
    let mut all: Vec<(usize, Suggestion)> = Vec::new();
    let mut logged: BTreeSet<ws_core::SuggestionId> = BTreeSet::new();
    let mut repos: Vec<Source> = Vec::new();
    for (path, repo, app) in sources {
        let name = repo_name(&path);
        let author = match &a.author {
            Some(x) => Author::given(x),
            None => match activity::identity(&repo) {
                Ok(id) => id,
                Err(e) => {
                    notes.push(format!("skipped {name}: {e}"));
                    continue;
                }
            },
        };
        let commits = match activity::commits_since(&repo, since.timestamp(), &author) {
            Ok(c) => c,
            Err(e) => {
                notes.push(format!("skipped {name}: {e}"));
                continue;
            }
        };
        let mut src = Source {
            path,
            app,
            entries: HashMap::new(),
        };
        let mut resolved: HashMap<String, Option<EntryId>> = HashMap::new();
        let mut work = Vec::new();
        for c in commits {
            let mut entries = Vec::new();
            for r in &c.references {
                if !resolved.contains_key(r) {
                    let found = match src.app.resolve(r).await {
                        Ok(e) => {
                            let id = e.id;
                            logged.extend(ws_core::applied_in(&e));
                            src.entries.insert(id, e);
                            Some(id)
                        }
                        Err(e) => {
                            notes
                                .push(format!("{name}: {r} (commit {}): {e}", short_commit(&c.id)));
                            None
                        }
                    };
                    resolved.insert(r.clone(), found);
                }
                if let Some(Some(id)) = resolved.get(r)
                    && !entries.contains(id)
                {
                    entries.push(*id);
                }
            }
            let Some(at) = chrono::DateTime::from_timestamp(c.time, 0) else {
                continue;
            };
            work.push(WorkCommit {
                id: c.id,
                at,
                summary: c.summary,
                entries,
            });
        }
        let i = repos.len();
        all.extend(
            ws_core::suggest(&name, work, opts)
                .into_iter()
                .map(|s| (i, s)),
        );
        repos.push(src);
    }
    let shown: Vec<Suggestion> = all.iter().map(|(_, s)| s.clone()).collect();
    let pending_ids: BTreeSet<_> = ws_core::pending(shown, &ledger, &logged)
        .into_iter()
        .map(|s| s.id)
        .collect();
    let pending: Vec<(usize, Suggestion)> = all
        .into_iter()
        .filter(|(_, s)| pending_ids.contains(&s.id))
        .collect();
    let mut run = Run {
        ctx,
        devlog_dir: ws.devlog_dir.clone(),
        ledger,
        repos,
        notes,
    };

    if let Some(ids) = a.dismiss {
        let list: Vec<Suggestion> = pending.iter().map(|(_, s)| s.clone()).collect();
        let chosen: Vec<Suggestion> = ws_core::find(&list, &ids)?.into_iter().cloned().collect();
        for s in &chosen {
            run.ledger.dismissed.insert(s.id.clone());
        }
        save_ledger(&run.devlog_dir, &run.ledger)?;
        if ctx.out.json {
            ctx.out.json(&json!({
                "dismissed": chosen.iter().map(|s| &s.id).collect::<Vec<_>>(),
                "notes": run.notes,
            }))?;
        } else {
            for s in &chosen {
                write_stdout(&format!(
                    "Dismissed {} ({})\n",
                    s.id,
                    run.describe(s, &pending)
                ))?;
            }
            run.print_notes();
        }
        return Ok(());
    }
    if let Some(ids) = a.apply {
        let chosen: Vec<(usize, Suggestion)> = if ids.is_empty() {
            pending.clone()
        } else {
            let list: Vec<Suggestion> = pending.iter().map(|(_, s)| s.clone()).collect();
            let found = ws_core::find(&list, &ids)?;
            found
                .into_iter()
                .filter_map(|f| pending.iter().find(|(_, s)| s.id == f.id).cloned())
                .collect()
        };
        let mut applied = Vec::new();
        for (i, s) in &chosen {
            if let Some(v) = run.apply(*i, s, None).await? {
                applied.push(v);
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
    run.list(&pending, since)
}

fn short_commit(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

struct Run<'a> {
    ctx: &'a Ctx,
    devlog_dir: PathBuf,
    ledger: SuggestionLedger,
    repos: Vec<Source>,
    notes: Vec<String>,
}

impl Run<'_> {
    fn entry_label(&self, i: usize, s: &Suggestion) -> String {
        match self.repos.get(i).and_then(|r| r.entries.get(&s.entry)) {
            Some(e) => format!("{} {}", e.handle_str(), e.title),
            None => s.entry.to_string(),
        }
    }

    fn describe(&self, s: &Suggestion, pending: &[(usize, Suggestion)]) -> String {
        let i = pending
            .iter()
            .find(|(_, p)| p.id == s.id)
            .map_or(0, |(i, _)| *i);
        format!(
            "{} on {} in {}, {}",
            format_minutes(s.minutes.into()),
            self.entry_label(i, s),
            s.repo,
            s.date
        )
    }

    fn print_notes(&self) {
        for n in &self.notes {
            eprintln!("note: {n}");
        }
    }

    /// Logs one suggestion (with `minutes` instead of its own when given) and records it in
    /// the ledger at once, so an interrupted run never logs it twice.
    async fn apply(
        &mut self,
        i: usize,
        s: &Suggestion,
        minutes: Option<u32>,
    ) -> Result<Option<serde_json::Value>, CliError> {
        let Some(src) = self.repos.get(i) else {
            return Ok(None);
        };
        let meta = self.ctx.meta();
        let label = self.entry_label(i, s);
        let done = src.app.apply_suggestion(s, minutes, &meta).await?;
        self.ledger.applied.insert(s.id.clone());
        save_ledger(&self.devlog_dir, &self.ledger)?;
        let Some((e, log)) = done else {
            if !self.ctx.out.json {
                write_stdout(&format!("{} was already logged on {label}\n", s.id))?;
            }
            return Ok(None);
        };
        if !self.ctx.out.json {
            write_stdout(&format!(
                "Logged {} on {} {} ({}, from {}); {} in all\n",
                format_minutes(log.minutes.into()),
                self.ctx.out.bold(&e.handle_str()),
                e.title,
                log.date,
                s.id,
                format_minutes(devlog_core::planning::logged_minutes(&e))
            ))?;
        }
        Ok(Some(json!({
            "suggestion": s.id,
            "repository": src.path,
            "entry": e.summary(),
            "worklog": log,
        })))
    }

    fn list(
        &self,
        pending: &[(usize, Suggestion)],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), CliError> {
        let out = &self.ctx.out;
        if out.json {
            let items: Vec<serde_json::Value> = pending
                .iter()
                .map(|(i, s)| {
                    let mut v = serde_json::to_value(s).unwrap_or_default();
                    if let (Some(o), Some(src)) = (v.as_object_mut(), self.repos.get(*i)) {
                        o.insert("repository".into(), json!(src.path));
                        if let Some(e) = src.entries.get(&s.entry) {
                            o.insert("handle".into(), json!(e.handle));
                            o.insert("title".into(), json!(e.title));
                        }
                    }
                    v
                })
                .collect();
            out.json(&json!({
                "since": since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "suggestions": items,
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
        for (i, s) in pending {
            let id = s.id.to_string();
            let time = format!(
                "{}{}",
                format_minutes(s.minutes.into()),
                if s.capped { " (cut to 1 day)" } else { "" }
            );
            let entry = crate::output::truncate(&self.entry_label(*i, s), 40);
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
        let total: u64 = pending.iter().map(|(_, s)| u64::from(s.minutes)).sum();
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

    async fn interactive(&mut self, pending: &[(usize, Suggestion)]) -> Result<(), CliError> {
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
        'items: for (n, (i, s)) in pending.iter().enumerate() {
            write_stdout(&format!(
                "[{}/{}] {}  {}\n      {}\n",
                n + 1,
                pending.len(),
                s.id,
                self.describe(s, pending),
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
                        self.apply(*i, s, None).await?;
                        break;
                    }
                    "n" | "no" | "" => break,
                    "d" | "dismiss" => {
                        self.ledger.dismissed.insert(s.id.clone());
                        save_ledger(&self.devlog_dir, &self.ledger)?;
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
                                self.apply(*i, s, Some(m)).await?;
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
