//! `devlog repos`: repositories with a `.devlog` folder under configured roots, remembered in
//! the machine-local `.devlog/.state/repos.json` (paths differ per machine, so never in git).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::Ctx;
use super::git::{git_config, git_err};
use crate::error::CliError;
use crate::output::{Table, write_stdout};
use crate::progress::Bar;

/// Find and list git repositories that carry a .devlog folder
#[derive(Debug, Args)]
pub struct ReposArgs {
    #[command(subcommand)]
    pub command: ReposCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReposCommand {
    /// Search folders for repositories with a .devlog folder and remember them
    Discover {
        /// A folder to search (repeatable); default: integrations.git.roots
        #[arg(long = "root", value_name = "DIR")]
        roots: Vec<PathBuf>,
    },
    /// The repositories found by `devlog repos discover`
    List,
    /// Fetch, merge and push the current branch; concurrent edits of an entry are merged field
    /// by field (notes, decisions and other lists with ids are unioned by id)
    Sync {
        /// The remote (default: the branch's upstream remote, else origin)
        #[arg(long)]
        remote: Option<String>,
        /// Every repository found by `devlog repos discover`, then this one
        #[arg(long)]
        all: bool,
    },
}

/// `.devlog/.state/repos.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnownRepos {
    pub repositories: Vec<PathBuf>,
}

pub fn state_file(devlog_dir: &Path) -> PathBuf {
    devlog_dir.join(".state").join("repos.json")
}

/// The remembered repositories (none when `discover` never ran).
pub fn load(devlog_dir: &Path) -> Result<KnownRepos, CliError> {
    let path = state_file(devlog_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "{}: {e}; delete it and run `devlog repos discover` again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KnownRepos::default()),
        Err(e) => Err(CliError::Other(anyhow::anyhow!("{}: {e}", path.display()))),
    }
}

pub async fn run(ctx: &Ctx, a: ReposArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    match a.command {
        ReposCommand::Discover { roots } => {
            let roots: Vec<PathBuf> = if roots.is_empty() {
                let cfg = git_config(&ws)?;
                cfg.roots.iter().map(|r| expand_home(&ws.root, r)).collect()
            } else {
                roots.iter().map(|r| ctx.discovery.cwd.join(r)).collect()
            };
            if roots.is_empty() {
                return Err(CliError::Usage(
                    "no folders to search: pass --root DIR or set `roots` in [integrations.git]"
                        .into(),
                ));
            }
            let bar = Bar::new("Searching", ctx.out.json);
            let found =
                devlog_git::discover::find(&roots, &mut |d, t| bar.set(d, t)).map_err(git_err)?;
            bar.finish();
            // Repositories under other roots stay known; those under the searched roots are
            // replaced by what is there now.
            let canon: Vec<PathBuf> = roots
                .iter()
                .filter_map(|r| std::fs::canonicalize(r).ok())
                .collect();
            let mut known = load(&ws.devlog_dir)?;
            known
                .repositories
                .retain(|p| !canon.iter().any(|r| p.starts_with(r)));
            known.repositories.extend(found.iter().cloned());
            known.repositories.sort();
            known.repositories.dedup();
            let path = state_file(&ws.devlog_dir);
            let write = || -> std::io::Result<()> {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut bytes = serde_json::to_vec_pretty(&known)?;
                bytes.push(b'\n');
                std::fs::write(&path, bytes)
            };
            write().map_err(|e| CliError::Other(anyhow::anyhow!("{}: {e}", path.display())))?;
            if ctx.out.json {
                ctx.out
                    .json(&serde_json::json!({"found": found, "known": known.repositories}))?;
            } else {
                let mut s = String::new();
                for p in &found {
                    s.push_str(&format!("{}\n", p.display()));
                }
                s.push_str(&format!(
                    "Found {} repositor{} with .devlog; {} known\n",
                    found.len(),
                    if found.len() == 1 { "y" } else { "ies" },
                    known.repositories.len()
                ));
                write_stdout(&s)?;
            }
            Ok(())
        }
        ReposCommand::Sync { remote, all } => {
            if all {
                return sync_all(ctx, &ws.devlog_dir, remote).await;
            }
            let outcome = sync_one(&ws.devlog_dir, remote)?;
            if ctx.out.json {
                ctx.out.json(&outcome_json(&outcome))?;
            } else {
                write_stdout(&outcome_text(&outcome))?;
            }
            Ok(())
        }
        ReposCommand::List => {
            let known = load(&ws.devlog_dir)?;
            let rows: Vec<(PathBuf, Option<usize>)> = known
                .repositories
                .iter()
                .map(|p| (p.clone(), entry_count(p)))
                .collect();
            if ctx.out.json {
                let items: Vec<_> = rows
                    .iter()
                    .map(|(p, n)| serde_json::json!({"path": p, "entries": n, "present": n.is_some()}))
                    .collect();
                ctx.out.json(&items)?;
                return Ok(());
            }
            if rows.is_empty() {
                write_stdout("No repositories known; run `devlog repos discover --root DIR`.\n")?;
                return Ok(());
            }
            let mut t = Table::header(&ctx.out, &["ENTRIES", "PATH"]);
            for (p, n) in &rows {
                let count = n.map_or_else(|| "missing".to_string(), |n| n.to_string());
                let path = p.display().to_string();
                t.row(vec![(count.clone(), count), (path.clone(), path)]);
            }
            write_stdout(&t.render())?;
            Ok(())
        }
    }
}

/// A configured root: `~/…` is in the home folder, a relative path is relative to the
/// project root.
fn expand_home(project_root: &Path, root: &Path) -> PathBuf {
    if let (Ok(rest), Some(home)) = (root.strip_prefix("~"), std::env::var_os("HOME")) {
        return PathBuf::from(home).join(rest);
    }
    project_root.join(root)
}

/// Entry files in a repository's `.devlog/entries`; `None` when the folder is gone.
fn entry_count(repo: &Path) -> Option<usize> {
    let rd = std::fs::read_dir(repo.join(".devlog").join("entries")).ok()?;
    Some(
        rd.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count(),
    )
}

/// `devlog search --all-repos`: the query in this workspace and in every repository
/// `devlog repos discover` remembered, ranked together. A repository that cannot be opened
/// is reported on stderr and passed over.
pub async fn search_all(ctx: &Ctx, query: devlog_core::SearchQuery) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let here = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
    let mut roots = vec![here.clone()];
    for p in load(&ws.devlog_dir)?.repositories {
        if !roots.contains(&p) {
            roots.push(p);
        }
    }
    let per_store = devlog_core::SearchQuery {
        offset: 0,
        limit: query.offset + query.limit,
        ..query.clone()
    };
    let mut hits: Vec<(PathBuf, devlog_core::SearchHit)> = Vec::new();
    let mut total = 0u64;
    for root in &roots {
        let opened = if *root == here {
            ws.open().await
        } else {
            match crate::workspace::Workspace::load(root.join(".devlog"), None) {
                Ok(w) => w.open().await,
                Err(e) => Err(e),
            }
        };
        let page = match opened {
            Ok(store) => store.search(&per_store).await.map_err(CliError::from),
            Err(e) => Err(e),
        };
        match page {
            Ok(page) => {
                total += page.total;
                hits.extend(page.items.into_iter().map(|h| (root.clone(), h)));
            }
            Err(e) => eprintln!("warning: skipped {}: {e}", root.display()),
        }
    }
    hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let hits: Vec<_> = hits
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
    if ctx.out.json {
        let items: Vec<_> = hits
            .iter()
            .map(|(root, h)| {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("repository".into(), serde_json::json!(root));
                }
                v
            })
            .collect();
        ctx.out.json(&items)?;
        return Ok(());
    }
    if hits.is_empty() {
        write_stdout("No entries match in any repository.\n")?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut t = Table::header(out, &["REPO", "#", "STATUS", "TITLE", "MATCH"]);
    for (root, h) in &hits {
        let repo = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        let e = &h.entry;
        let hs = format!("#{}", e.handle);
        let title = crate::output::truncate(&e.title, 40);
        let snip = crate::output::truncate(&h.snippet.replace('\n', " "), 50);
        t.row(vec![
            (repo.clone(), repo),
            (out.bold(&hs), hs),
            (out.status(e.status), e.status.to_string()),
            (title.clone(), title),
            (out.dim(&snip), snip),
        ]);
    }
    let mut s = t.render();
    if total as usize > hits.len() + query.offset {
        s.push_str(&out.dim(&format!(
            "{} of {} matches in {} repositories\n",
            hits.len(),
            total,
            roots.len()
        )));
    }
    write_stdout(&s)?;
    Ok(())
}

/// The stores of the other repositories `devlog repos discover` found (for cross-repository
/// discovery in MCP); one that cannot be opened is skipped with a warning on stderr.
pub async fn other_stores(
    ws: &crate::workspace::Workspace,
) -> Vec<(String, std::sync::Arc<dyn devlog_core::Store>)> {
    let here = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
    let mut out = Vec::new();
    let Ok(known) = load(&ws.devlog_dir) else {
        return out;
    };
    for root in known.repositories {
        if root == here {
            continue;
        }
        let opened = match crate::workspace::Workspace::load(root.join(".devlog"), None) {
            Ok(w) => w.open().await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(store) => out.push((root.display().to_string(), store)),
            Err(e) => eprintln!("warning: skipped {}: {e}", root.display()),
        }
    }
    out
}

fn sync_one(
    devlog_dir: &Path,
    remote: Option<String>,
) -> Result<devlog_git::sync::Outcome, CliError> {
    let repo = devlog_git::Repo::discover(devlog_dir).map_err(git_err)?;
    let rel = repo.relative(devlog_dir).map_err(git_err)?;
    devlog_git::sync::sync(
        &repo,
        &rel,
        &devlog_git::sync::Options { remote },
        // The entry-aware three-way merge lives in the domain (devlog_core::merge::document).
        &|base: Option<&[u8]>, ours: &[u8], theirs: &[u8]| {
            devlog_core::merge::merge_documents(base, ours, theirs).map_err(|e| e.to_string())
        },
    )
    .map_err(git_err)
}

fn outcome_json(o: &devlog_git::sync::Outcome) -> serde_json::Value {
    serde_json::json!({
        "remote": o.remote,
        "branch": o.branch,
        "mergedEntries": o.merged_files,
        "pushed": o.pushed,
    })
}

fn outcome_text(o: &devlog_git::sync::Outcome) -> String {
    let mut s = String::new();
    for f in &o.merged_files {
        s.push_str(&format!("merged {f}\n"));
    }
    s.push_str(&format!(
        "Synced {} with {}/{}{}\n",
        o.branch,
        o.remote,
        o.branch,
        if o.remote_existed {
            ""
        } else {
            " (first push)"
        }
    ));
    s
}

/// `repos sync --all`: every discovered repository, then this one. A failure in one is
/// reported and the others still sync; the command fails if any did.
async fn sync_all(ctx: &Ctx, here: &Path, remote: Option<String>) -> Result<(), CliError> {
    let mut targets: Vec<PathBuf> = load(here)?
        .repositories
        .iter()
        .map(|r| r.join(".devlog"))
        .filter(|d| d.is_dir() && !same_dir(d, here))
        .collect();
    targets.push(here.to_path_buf());
    let mut results = Vec::new();
    let mut failed = 0;
    for dir in &targets {
        let shown = dir.parent().unwrap_or(dir).display().to_string();
        match sync_one(dir, remote.clone()) {
            Ok(o) => {
                if !ctx.out.json {
                    write_stdout(&format!("{shown}: {}", outcome_text(&o)))?;
                }
                let mut v = outcome_json(&o);
                v["repository"] = serde_json::Value::String(shown);
                results.push(v);
            }
            Err(e) => {
                failed += 1;
                if !ctx.out.json {
                    eprintln!("{shown}: error: {e}");
                }
                results.push(serde_json::json!({"repository": shown, "error": e.to_string()}));
            }
        }
    }
    if ctx.out.json {
        ctx.out.json(&results)?;
    }
    if failed > 0 {
        return Err(CliError::Other(anyhow::anyhow!(
            "{failed} of {} repositories could not be synced (see above); the others were",
            targets.len()
        )));
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
