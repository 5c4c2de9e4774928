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
