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
                cfg.roots.iter().map(|r| ws.root.join(r)).collect()
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

/// Entry files in a repository's `.devlog/entries`; `None` when the folder is gone.
fn entry_count(repo: &Path) -> Option<usize> {
    let rd = std::fs::read_dir(repo.join(".devlog").join("entries")).ok()?;
    Some(
        rd.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count(),
    )
}
