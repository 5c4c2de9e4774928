//! `devlog migrate`: copy everything to another backend and verify it.

use std::path::PathBuf;

use clap::Args;
use devlog_store::StoreSpec;
use devlog_store::transfer::migrate;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;
use crate::progress::Bar;

/// Copy all entries and the change feed to another backend, then verify counts and content
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Target backend: json, sqlite, postgres or mysql (also for MariaDB)
    #[arg(long)]
    pub to: String,
    /// Where the target lives (a .devlog folder for json, a database file for sqlite);
    /// defaults to the backend's usual place in this workspace
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Database URL of a postgres or mysql target; defaults to DATABASE_URL. `${VAR}` is
    /// expanded, so '--url ${TARGET_URL}' (quoted) keeps the password out of the process list
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Merge into a target that already holds other entries
    #[arg(long)]
    pub force: bool,
}

pub async fn run(ctx: &Ctx, a: MigrateArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let source = ws.open().await?;
    let url = match &a.url {
        Some(u) => Some(
            crate::config::expand_vars(u, |name| std::env::var(name).ok())
                .map_err(|e| CliError::Usage(format!("--url: {e}")))?,
        ),
        None => std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty()),
    };
    let target_spec = StoreSpec::resolve(&a.to, &ws.devlog_dir, a.path.as_deref(), url.as_deref())
        .map_err(|e| match e {
            devlog_core::StoreError::Invalid { field, message } if field == "storage.url" => {
                CliError::Usage(format!(
                    "{}; for migrate, pass --url or set DATABASE_URL",
                    message
                ))
            }
            other => CliError::Store(other),
        })?;
    if target_spec == ws.spec {
        return Err(CliError::Usage(format!(
            "this workspace already uses {} at {}; name another backend or --path",
            target_spec.name(),
            target_spec.location().display()
        )));
    }
    let target = devlog_store::open(&target_spec).await?;
    let bar = Bar::new("migrating", ctx.out.json);
    let outcome = migrate(&*source, &*target, a.force, &|d, t| bar.set(d, t)).await?;
    bar.finish();
    if ctx.out.json {
        ctx.out.json(&outcome)?;
    } else {
        let mut s = format!(
            "Migrated {} entries ({} copied, {} already there) and {} events\nfrom {}\nto   {}\nverified: {} of {} entries identical; target holds {}; change feed {} of {} events\n",
            outcome.entries,
            outcome.copied,
            outcome.unchanged,
            outcome.events,
            outcome.from,
            outcome.to,
            outcome.verified,
            outcome.entries,
            outcome.target_count,
            outcome.target_events,
            outcome.source_events
        );
        for w in &outcome.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        if outcome.mismatches.is_empty() {
            s.push_str(&format!(
                "To use it, put this in {}:\n[storage]\ntype = \"{}\"\n",
                ws.root.join(crate::config::TOML_FILE).display(),
                target_spec.name()
            ));
            if let Some(url) = target_spec.url() {
                s.push_str(&format!(
                    "url = \"${{DATABASE_URL}}\"\nand set DATABASE_URL to {url}\n"
                ));
            } else if a.path.is_some() {
                s.push_str(&format!(
                    "path = {:?}\n",
                    target_spec.location().display().to_string()
                ));
            }
        }
        write_stdout(&s)?;
    }
    if !outcome.mismatches.is_empty() {
        for m in &outcome.mismatches {
            eprintln!("mismatch: {m}");
        }
        return Err(CliError::Store(devlog_core::StoreError::Backend {
            backend: target_spec.name(),
            message: format!(
                "verification failed for {}; the source is unchanged",
                crate::output::count(outcome.mismatches.len(), "entry", "entries")
            ),
            transient: false,
        }));
    }
    Ok(())
}
