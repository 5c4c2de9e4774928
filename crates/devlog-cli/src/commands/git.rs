//! `devlog git`: a branch per entry, commit links, release tags; and auto-commit of `.devlog`
//! after write commands. Settings in `[integrations.git]` (docs/git.md).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use devlog_core::entry::ExternalReference;
use devlog_core::{Entry, EntryId, StoreError};
use devlog_git::{GitConfig, GitError, Repo, branch, commit, link, tag};
use serde_json::json;

use super::Ctx;
use crate::config::ConfigError;
use crate::error::CliError;
use crate::output::write_stdout;
use crate::workspace::Workspace;

/// Work with the git repository around .devlog: branches per entry, commit links, release tags
#[derive(Debug, Args)]
pub struct GitArgs {
    #[command(subcommand)]
    pub command: GitCommand,
}

#[derive(Debug, Subcommand)]
pub enum GitCommand {
    /// Create a branch for an entry at HEAD, named by integrations.git.branchTemplate
    Branch {
        /// Handle, id, id prefix, key, or original devlog id
        entry: String,
        /// Switch to the new branch (refused when tracked files outside .devlog have changes)
        #[arg(long)]
        checkout: bool,
        /// Push the branch to its remote and make it the upstream (for `devlog github pr`)
        #[arg(long)]
        push: bool,
        /// The remote for --push (default: the branch's remote, else origin)
        #[arg(long, value_name = "NAME", requires = "push")]
        remote: Option<String>,
    },
    /// Record on entries the commits whose messages mention them (`devlog-<id prefix>`, `#<handle>`)
    Link {
        /// Only commits after this revision (REV..HEAD); default: all of HEAD's history
        #[arg(long, value_name = "REV")]
        since: Option<String>,
    },
    /// Create an annotated tag at HEAD whose message lists the entries it ships
    Tag {
        /// The tag name, e.g. v1.4.0
        #[arg(value_name = "VERSION")]
        name: String,
        /// The entries in the release (handles, ids, keys)
        #[arg(long, num_args = 1.., required = true, value_name = "REF")]
        entries: Vec<String>,
        /// A first paragraph for the tag message (default: the version)
        #[arg(long, short = 'm')]
        message: Option<String>,
    },
}

/// `[integrations.git]`, with errors naming the file and the key.
pub fn git_config(ws: &Workspace) -> Result<GitConfig, CliError> {
    GitConfig::from_table(ws.config.integrations.get("git")).map_err(|e| {
        CliError::Config(ConfigError {
            file: ws.config.source.clone(),
            message: e.to_string(),
        })
    })
}

fn enabled_config(ws: &Workspace) -> Result<GitConfig, CliError> {
    let cfg = git_config(ws)?;
    if !cfg.enabled {
        return Err(CliError::Usage(
            "the git integration is off (integrations.git.enabled = false in devlog.toml)".into(),
        ));
    }
    Ok(cfg)
}

/// Library errors carry their own explanation; the CLI adds nothing but the class.
pub fn git_err(e: GitError) -> CliError {
    CliError::Other(anyhow::Error::new(e))
}

pub async fn run(ctx: &Ctx, a: GitArgs) -> Result<(), CliError> {
    match a.command {
        GitCommand::Branch {
            entry,
            checkout,
            push,
            remote,
        } => run_branch(ctx, &entry, checkout, push.then_some(remote)).await,
        GitCommand::Link { since } => run_link(ctx, since.as_deref()).await,
        GitCommand::Tag {
            name,
            entries,
            message,
        } => run_tag(ctx, &name, &entries, message.as_deref()).await,
    }
}

/// `push`: `Some(remote)` to push the new branch (to `remote`, else its default remote).
async fn run_branch(
    ctx: &Ctx,
    reference: &str,
    checkout: bool,
    push: Option<Option<String>>,
) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    enabled_config(&ws)?;
    let app = ctx.app().await?;
    let e = app.resolve(reference).await?;
    let outcome = entry_branch(
        &ws,
        &e,
        &branch::Options {
            checkout,
            ..branch::Options::default()
        },
    )?;
    let pushed = match &push {
        Some(remote) => Some(push_branch(&ws, &outcome, remote.as_deref(), false)?),
        None => None,
    };
    if ctx.out.json {
        let mut out = json!({
            "branch": outcome.name,
            "commit": outcome.commit,
            "checkedOut": outcome.checked_out,
            "entry": e.summary(),
        });
        if let Some(p) = &pushed {
            out["pushed"] = json!(p.sent);
            out["remote"] = json!(p.remote);
        }
        ctx.out.json(&out)?;
    } else {
        write_stdout(&format!(
            "{} branch {} for {} {} at {}\n",
            if outcome.checked_out {
                "Switched to new"
            } else {
                "Created"
            },
            ctx.out.bold(&outcome.name),
            e.handle_str(),
            e.title,
            &outcome.commit[..outcome.commit.len().min(8)]
        ))?;
        if let Some(p) = &pushed {
            write_stdout(&format!(
                "Pushed {} to {} (its upstream)\n",
                outcome.name, p.remote
            ))?;
        }
    }
    Ok(())
}

/// Creates the branch of entry `e` at HEAD (named by [`branch_name`]), as `opts` says: `devlog
/// git branch` (an existing branch is refused) and the workflow `branch` step
/// (`keep_existing`, `dry_run`) both go through here. Changes under `.devlog` never count as
/// a dirty tree, and the reflog names the entry.
pub fn entry_branch(
    ws: &Workspace,
    e: &Entry,
    opts: &branch::Options,
) -> Result<branch::Outcome, CliError> {
    let cfg = enabled_config(ws)?;
    let name = branch_name(&cfg, e);
    let repo = Repo::discover(&ws.devlog_dir).map_err(git_err)?;
    let rel = repo.relative(&ws.devlog_dir).map_err(git_err)?;
    branch::create(
        &repo,
        &name,
        &branch::Options {
            ignore_dirty: Some(rel),
            reflog_message: format!("devlog: branch for {} {}", e.handle_str(), e.title),
            ..opts.clone()
        },
    )
    .map_err(git_err)
}

/// Pushes the branch `entry_branch` made or found to `remote` (`devlog git branch --push` and
/// the workflow `branch` step's `push`). In a dry run whose branch does not exist yet, only
/// the remote is checked: the push would send it.
pub fn push_branch(
    ws: &Workspace,
    b: &branch::Outcome,
    remote: Option<&str>,
    dry_run: bool,
) -> Result<branch::Pushed, CliError> {
    let repo = Repo::discover(&ws.devlog_dir).map_err(git_err)?;
    if dry_run && b.created {
        let remote =
            devlog_git::sync::remote_for(repo.workdir(), &b.name, remote).map_err(git_err)?;
        return Ok(branch::Pushed { remote, sent: true });
    }
    branch::push(&repo, &b.name, remote, dry_run).map_err(git_err)
}

/// Why the workflow `branch` step cannot work in this workspace (the git integration off or
/// misconfigured, no repository around `.devlog`), for the check made when workflows load.
pub fn branch_problem(ws: &Workspace) -> Option<String> {
    if let Err(e) = enabled_config(ws) {
        return Some(e.to_string());
    }
    Repo::discover(&ws.devlog_dir).err().map(|e| e.to_string())
}

/// The branch name for an entry from the configured template.
pub fn branch_name(cfg: &GitConfig, e: &Entry) -> String {
    devlog_git::config::render(
        &cfg.branch_template,
        &[
            ("prefix", &cfg.branch_prefix),
            ("handle", &e.handle.to_string()),
            ("slug", &e.key),
            ("id", &e.id.short()),
            ("type", &e.kind.to_string()),
        ],
    )
}

async fn run_link(ctx: &Ctx, since: Option<&str>) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    enabled_config(&ws)?;
    let repo = Repo::discover(&ws.devlog_dir).map_err(git_err)?;
    let commits = link::scan(&repo, since).map_err(git_err)?;
    let app = ctx.app().await?;
    let store = app.store().clone();
    let mut linked = Vec::new();
    let mut already = 0usize;
    let mut unresolved: Vec<String> = Vec::new();
    for c in &commits {
        let mut targets: Vec<EntryId> = Vec::new();
        for r in &c.references {
            match app.resolve_summary(r).await {
                Ok(s) if !targets.contains(&s.id) => targets.push(s.id),
                Ok(_) => {}
                Err(StoreError::NotFound { .. } | StoreError::Ambiguous { .. }) => {
                    if !unresolved.contains(r) {
                        unresolved.push(r.clone());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        for id in targets {
            let current = store.get(id).await?;
            if is_linked(&current, &c.id) {
                already += 1;
                continue;
            }
            let now = app.clock().now();
            let (sha, summary) = (c.id.clone(), c.summary.clone());
            let e = store
                .update(id, &ctx.meta(), &mut |e: &mut Entry| {
                    if !is_linked(e, &sha) {
                        e.external_references.push(ExternalReference {
                            system: "git".into(),
                            id: sha.clone(),
                            url: None,
                            title: Some(summary.clone()),
                            status: None,
                            last_sync: None,
                            sprint: None,
                            board: None,
                            extra: Default::default(),
                        });
                        e.updated_at = now;
                    }
                    Ok(())
                })
                .await?;
            linked.push((e.handle, e.title, c.id.clone(), c.summary.clone()));
        }
    }
    if ctx.out.json {
        let items: Vec<_> = linked
            .iter()
            .map(|(h, t, sha, s)| json!({"handle": h, "title": t, "commit": sha, "summary": s}))
            .collect();
        ctx.out.json(&json!({
            "scanned": commits.len(),
            "linked": items,
            "alreadyLinked": already,
            "unresolved": unresolved,
        }))?;
        return Ok(());
    }
    let mut s = String::new();
    for (h, _, sha, summary) in &linked {
        s.push_str(&format!("#{h}  {}  {summary}\n", &sha[..sha.len().min(8)]));
    }
    s.push_str(&format!(
        "Linked {} commit(s); {} already linked; {} commit(s) mention entries\n",
        linked.len(),
        already,
        commits.len()
    ));
    if !unresolved.is_empty() {
        s.push_str(&ctx.out.dim(&format!(
            "No single entry matches: {}\n",
            unresolved.join(", ")
        )));
    }
    write_stdout(&s)?;
    Ok(())
}

fn is_linked(e: &Entry, sha: &str) -> bool {
    e.external_references
        .iter()
        .any(|r| r.system == "git" && r.id == sha)
}

async fn run_tag(
    ctx: &Ctx,
    version: &str,
    refs: &[String],
    message: Option<&str>,
) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    enabled_config(&ws)?;
    let app = ctx.app().await?;
    let mut entries = Vec::new();
    for r in refs {
        let e = app.resolve_summary(r).await?;
        if !entries
            .iter()
            .any(|x: &devlog_core::EntrySummary| x.id == e.id)
        {
            entries.push(e);
        }
    }
    let mut text = format!("{}\n\n", message.unwrap_or(version).trim());
    for e in &entries {
        text.push_str(&format!("#{} {}\n", e.handle, e.title));
    }
    let repo = Repo::discover(&ws.devlog_dir).map_err(git_err)?;
    let outcome = tag::create(&repo, version, &text).map_err(git_err)?;
    if ctx.out.json {
        ctx.out.json(&json!({
            "tag": outcome.name,
            "commit": outcome.commit,
            "entries": entries,
        }))?;
    } else {
        write_stdout(&format!(
            "Tagged {} at {} with {} entr{}\n",
            ctx.out.bold(&outcome.name),
            &outcome.commit[..outcome.commit.len().min(8)],
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        ))?;
    }
    Ok(())
}

/// After a command that changed entries (`verb` is its name): with `autoCommit = true`,
/// commits the `.devlog` folder — and nothing else — with the configured message.
pub fn auto_commit(ctx: &Ctx, verb: &str) -> Result<(), CliError> {
    let Some(dir) = ctx.discovery.find().filter(|d| d.is_dir()) else {
        return Ok(());
    };
    let ws = Workspace::load(dir, ctx.discovery.backend.as_deref())?;
    let cfg = git_config(&ws)?;
    if !cfg.enabled || !cfg.auto_commit {
        return Ok(());
    }
    let saved = |e: GitError| {
        CliError::Other(anyhow::anyhow!(
            "the change is saved, but auto-commit (integrations.git.autoCommit) failed: {e}"
        ))
    };
    if let Some((id, message)) = commit_pending(&ws.devlog_dir, &cfg, verb).map_err(saved)?
        && !ctx.out.json
    {
        eprintln!("Committed .devlog ({}): {message}", &id[..id.len().min(8)]);
    }
    Ok(())
}

/// Commits every pending change of `.devlog` (and nothing else) with the configured message;
/// returns the commit's id and message, or `None` when nothing was pending. The one rule of
/// auto-commit, for commands and for the long-running frontends (`autocommit.rs`).
pub fn commit_pending(
    devlog_dir: &Path,
    cfg: &GitConfig,
    verb: &str,
) -> Result<Option<(String, String)>, GitError> {
    let repo = Repo::discover(devlog_dir)?;
    let rel = repo.relative(devlog_dir)?;
    let changed = commit::pending(&repo, &rel)?;
    if changed.is_empty() {
        return Ok(None);
    }
    let message = commit_message(cfg, verb, repo.workdir(), &changed);
    Ok(commit::commit_devlog(&repo, &rel, &message)?.map(|id| (id, message)))
}

/// The commit message for the changed files: the template filled from the one entry changed,
/// or a count when several were.
fn commit_message(cfg: &GitConfig, verb: &str, workdir: &Path, changed: &[String]) -> String {
    let files: Vec<&String> = changed
        .iter()
        .filter(|p| p.contains("entries/") && p.ends_with(".json"))
        .collect();
    let entry = match files.as_slice() {
        [one] => read_entry(&workdir.join(one)),
        _ => None,
    };
    let (summary, title, id, handle) = match (&entry, files.len()) {
        (Some(e), _) => (
            format!("{verb} {} {}", e.handle_str(), e.title),
            e.title.clone(),
            e.id.to_string(),
            e.handle.to_string(),
        ),
        (None, 1) => {
            // A deleted file: its name says which handle it was.
            let name = Path::new(files[0])
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let handle = name
                .split('-')
                .next()
                .and_then(|h| h.parse::<u64>().ok())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let what = if handle.is_empty() {
                name.clone()
            } else {
                format!("#{handle}")
            };
            (format!("{verb} {what}"), name, String::new(), handle)
        }
        (None, 0) => (
            format!("{verb} (devlog files)"),
            String::new(),
            String::new(),
            String::new(),
        ),
        (None, n) => (
            format!("{verb} {}", crate::output::count(n, "entry", "entries")),
            String::new(),
            String::new(),
            String::new(),
        ),
    };
    devlog_git::config::render(
        &cfg.commit_template,
        &[
            ("summary", &summary),
            ("title", &title),
            ("id", &id),
            ("handle", &handle),
        ],
    )
}

fn read_entry(path: &PathBuf) -> Option<Entry> {
    let bytes = std::fs::read(path).ok()?;
    devlog_core::codec::decode_entry(&bytes, &path.display().to_string()).ok()
}
