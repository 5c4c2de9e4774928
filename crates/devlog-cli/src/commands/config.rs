//! `devlog config show|check`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;

/// Show or check the configuration (devlog.toml or devlog.config.json)
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted
    Show,
    /// Validate the configuration and open the store; exit 5 if it is invalid
    Check,
}

pub async fn run(ctx: &Ctx, a: ConfigArgs) -> Result<(), CliError> {
    let ws = ctx.workspace_or_create()?;
    match a.command {
        ConfigCommand::Show => {
            let v = json!({
                "root": ws.root,
                "devlogDir": ws.devlog_dir,
                "configFile": ws.config.source,
                "backend": ws.spec.name(),
                "location": ws.spec.location(),
                "actor": ctx.actor,
                "config": ws.config.redacted(),
            });
            if ctx.out.json {
                ctx.out.json(&v)?;
            } else {
                let src = ws
                    .config
                    .source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(none: defaults)".into());
                write_stdout(&format!(
                    "config file: {src}\ndevlog dir:  {}\nbackend:     {}\nlocation:    {}\nactor:       {}\n\n{}\n",
                    ws.devlog_dir.display(),
                    ws.spec.name(),
                    ws.spec.location().display(),
                    ctx.actor.as_deref().unwrap_or("(unknown)"),
                    serde_json::to_string_pretty(&v["config"]).unwrap_or_default()
                ))?;
            }
        }
        ConfigCommand::Check => {
            // Integration tables: variables, secret files and each integration's schema.
            let integrations = super::sync::build(&ws, &super::sync::registry())?;
            let store = ws.open().await?;
            let warnings = store.warnings().await?;
            let count = store.count().await?;
            if ctx.out.json {
                ctx.out.json(&json!({"ok": true, "backend": ws.spec.name(), "entries": count, "integrations": integrations.len(), "warnings": warnings}))?;
            } else {
                write_stdout(&format!(
                    "ok: {} ({} backend, {count} entries)\n",
                    ws.config
                        .source
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "defaults".into()),
                    ws.spec.name()
                ))?;
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
            }
        }
    }
    Ok(())
}
