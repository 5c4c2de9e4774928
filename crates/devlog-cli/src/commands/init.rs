//! `devlog init`: create the `.devlog` folder.

use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::output::{count, write_stdout};

/// Create a .devlog folder at the root of the current git repository (or here)
///
/// With a server backend (postgres, mysql) the entries live in the database; the folder then
/// holds only machine-local state (git-ignored) and marks the workspace.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The backend to keep: json (the default) or sqlite, written to devlog.toml's `[storage]
    /// type` so every later command uses it (PostgreSQL/MySQL: see docs/configuration.md)
    #[arg(long, value_parser = ["json", "sqlite"])]
    pub backend: Option<String>,
}

pub async fn run(ctx: &Ctx, args: InitArgs) -> Result<(), CliError> {
    let ctx = &match &args.backend {
        Some(b) => {
            let mut c = ctx.clone();
            c.discovery.backend = Some(b.clone());
            c
        }
        None => ctx.clone(),
    };
    let ws = ctx.workspace_or_create()?;
    let existed = ws.devlog_dir.is_dir();
    let write_config = match (&args.backend, &ws.config.source) {
        (Some(b), Some(file)) if *b != ws.config.storage.kind => {
            return Err(CliError::Usage(format!(
                "{} sets the backend to `{}`: change `[storage] type` there to switch (`devlog migrate --to {b}` copies the entries)",
                file.display(),
                ws.config.storage.kind
            )));
        }
        (Some(b), None) => Some(b.clone()),
        _ => None,
    };
    // Open first: a server that cannot be reached leaves nothing behind.
    let store = ws.open().await?;
    ws.create_folder()?;
    if let Some(b) = &write_config {
        let file = ws.root.join("devlog.toml");
        std::fs::write(&file, format!("[storage]\ntype = \"{b}\"\n"))
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", file.display())))?;
        eprintln!("Wrote {} ([storage] type = \"{b}\")", file.display());
    } else if args.backend.is_none()
        && ws.config.source.is_none()
        && let Some(b) = ctx.discovery.backend.as_deref()
    {
        eprintln!(
            "note: DEVLOG_STORAGE_TYPE={b} chose the backend for this command only; `devlog init --backend {b}` keeps it in devlog.toml"
        );
    }
    let entries = store.count().await?;
    let place = if ws.is_server() {
        format!(
            "{} ({} backend: entries in {})",
            ws.devlog_dir.display(),
            ws.spec.name(),
            ws.spec.location().display()
        )
    } else {
        format!("{} ({} backend)", ws.devlog_dir.display(), ws.spec.name())
    };
    if ctx.out.json {
        ctx.out.json(&json!({
            "devlogDir": ws.devlog_dir,
            "backend": ws.spec.name(),
            "location": ws.spec.location(),
            "created": !existed,
            "entries": entries,
        }))?;
    } else if existed {
        write_stdout(&format!(
            "devlog already initialized in {place}, {}\n",
            count(entries as usize, "entry", "entries")
        ))?;
    } else {
        write_stdout(&format!(
            "Initialized devlog in {place}\nNext: devlog new \"<title>\" --type feature\n"
        ))?;
    }
    Ok(())
}
