//! `devlog config show|check|migrate`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Ctx;
use crate::config::{self, Config, ConfigError, Origin};
use crate::error::CliError;
use crate::output::{Table, count, write_stdout};
use crate::workspace::Workspace;

/// Show, check or migrate the configuration (devlog.toml or devlog.config.json)
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, where each value comes from, secrets redacted
    Show,
    /// Validate the configuration and open the store; exit 5 if it is invalid
    Check,
    /// Write the devlog.toml equivalent of the original devlog's devlog.config.json
    Migrate {
        /// Print the devlog.toml instead of writing it
        #[arg(long)]
        dry_run: bool,
        /// Overwrite an existing devlog.toml
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(ctx: &Ctx, a: ConfigArgs) -> Result<(), CliError> {
    match a.command {
        ConfigCommand::Show => show(ctx),
        ConfigCommand::Check => check(ctx).await,
        ConfigCommand::Migrate { dry_run, force } => migrate(ctx, dry_run, force),
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

/// One effective setting: its value (secrets redacted) and where it came from.
fn setting(value: impl Into<Value>, origin: Origin) -> Value {
    json!({"value": value.into(), "source": origin})
}

/// The effective settings by dotted key: the backend and its location as the workspace
/// resolved them (`DEVLOG_STORAGE_TYPE` and `DATABASE_URL` included, by the rules of
/// `Workspace::load`), the actor, and each integration's values with `${VAR}` expanded.
fn effective(ctx: &Ctx, ws: &Workspace) -> serde_json::Map<String, Value> {
    let cfg = &ws.config;
    let mut s = serde_json::Map::new();
    let overridden = ctx.discovery.backend.is_some();
    let backend_origin = if overridden {
        Origin::Env {
            variables: vec!["DEVLOG_STORAGE_TYPE".into()],
        }
    } else {
        cfg.origin("storage.type")
    };
    s.insert(
        "storage.type".into(),
        setting(ws.spec.name(), backend_origin),
    );
    match ws.spec.url() {
        Some(url) => {
            // workspace::server_url: DATABASE_URL wins when the backend comes from the
            // environment; otherwise `storage.url`, else DATABASE_URL.
            let from_env =
                env("DATABASE_URL").is_some() && (overridden || cfg.storage.url.is_none());
            let origin = if from_env {
                Origin::Env {
                    variables: vec!["DATABASE_URL".into()],
                }
            } else {
                cfg.origin("storage.url")
            };
            // A URL from a variable of the original (`${DEVLOG_POSTGRES_URL}`) says so in its
            // origin already.
            let via_shown = !from_env && !matches!(origin, Origin::Env { .. });
            let mut url = setting(url.redacted(), origin);
            if let Some(raw) = cfg
                .storage
                .url
                .as_deref()
                .filter(|u| via_shown && u.contains("${"))
            {
                url["via"] = devlog_store::redact_url(raw).into();
            }
            s.insert("storage.url".into(), url);
        }
        None => {
            let origin = match cfg.storage_path(overridden) {
                Some(_) => cfg.origin("storage.path"),
                None => Origin::Default,
            };
            s.insert(
                "storage.path".into(),
                setting(ws.spec.location().display().to_string(), origin),
            );
        }
    }
    let strategy = cfg.sync.strategy.unwrap_or_default();
    let strategy = devlog_core::merge::Strategy::ALL
        .iter()
        .find(|(_, s)| *s == strategy)
        .map_or("manual", |(n, _)| n);
    s.insert(
        "sync.strategy".into(),
        setting(strategy, cfg.origin("sync.strategy")),
    );
    let interval = match cfg.sync.interval {
        Some(d) => super::worker::show_interval(d),
        None => format!(
            "{} (devlog worker, sync --watch), {} (devlog serve)",
            super::worker::show_interval(super::worker::DEFAULT_INTERVAL),
            super::worker::show_interval(super::serve::DEFAULT_SYNC_INTERVAL)
        ),
    };
    s.insert(
        "sync.interval".into(),
        setting(interval, cfg.origin("sync.interval")),
    );
    s.insert(
        "sync.workers".into(),
        setting(cfg.sync.workers.unwrap_or(1), cfg.origin("sync.workers")),
    );
    let lease = cfg
        .sync
        .lease
        .map_or(devlog_sync::SyncOptions::default().lease_ms / 1000, |d| {
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
        });
    s.insert(
        "sync.lease".into(),
        setting(format!("{lease}s"), cfg.origin("sync.lease")),
    );
    s.insert(
        "server.allowHosts".into(),
        setting(
            cfg.server.allow_hosts.clone(),
            cfg.origin("server.allowHosts"),
        ),
    );
    // Single sign-on, as written (secrets redacted by `OidcSettings`' serialization).
    if let Some(oidc) = &cfg.server.oidc {
        let origin = cfg
            .source
            .clone()
            .map_or(Origin::Default, |file| Origin::File {
                file,
                key: "server.oidc".into(),
            });
        s.insert(
            "server.oidc".into(),
            setting(serde_json::to_value(oidc).unwrap_or_default(), origin),
        );
    }
    // `[retention]`: applied by `purge --retention|--scheduled` and daily by serve/worker.
    match &cfg.retention {
        Some(r) => {
            s.insert(
                "retention.closedAfterDays".into(),
                setting(r.closed_after_days, cfg.origin("retention.closedAfterDays")),
            );
            let statuses: Vec<String> = r.statuses.iter().map(|x| x.to_string()).collect();
            s.insert(
                "retention.statuses".into(),
                setting(statuses, cfg.origin("retention.statuses")),
            );
        }
        None => {
            s.insert(
                "retention".into(),
                setting(
                    "none (entries are kept until purged by hand)",
                    Origin::Default,
                ),
            );
        }
    }
    // Where the audit checkpoints' signing key is (never its content).
    let key = devlog_store::audit::key_path(&ws.devlog_dir);
    s.insert(
        "audit.keyFile".into(),
        setting(
            key.display().to_string(),
            match env(devlog_store::audit::KEY_ENV) {
                Some(_) => Origin::Env {
                    variables: vec![devlog_store::audit::KEY_ENV.to_string()],
                },
                None => Origin::Default,
            },
        ),
    );
    let actor_origin = ["DEVLOG_ACTOR", "USER", "LOGNAME"]
        .into_iter()
        .find(|v| env(v).is_some() && env(v) == ctx.actor)
        .map(|v| Origin::Env {
            variables: vec![v.to_string()],
        })
        .unwrap_or(Origin::Default);
    if let Some(actor) = &ctx.actor {
        s.insert("actor".into(), setting(actor.as_str(), actor_origin));
    }
    for name in cfg.integrations.keys() {
        let base = format!("integrations.{name}");
        match config::integration_table(cfg, name, &ws.root, &env) {
            Ok(mut v) => {
                config::redact(&mut v);
                let raw = serde_json::to_value(&cfg.integrations[name]).ok();
                flatten(&base, &v, raw.as_ref(), cfg, &mut s);
            }
            Err(e) => {
                let mut v = serde_json::to_value(&cfg.integrations[name]).unwrap_or_default();
                config::redact(&mut v);
                s.insert(
                    base.clone(),
                    json!({"value": v, "source": cfg.origin(&base), "error": e.message}),
                );
            }
        }
    }
    s
}

/// Adds each leaf of `v` (expanded, redacted) as a setting; `raw` is the same table as
/// written, so a value read through `${VAR}` says so (`via`).
fn flatten(
    key: &str,
    v: &Value,
    raw: Option<&Value>,
    cfg: &Config,
    out: &mut serde_json::Map<String, Value>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let raw = raw.and_then(|r| r.get(k));
                flatten(&format!("{key}.{k}"), v, raw, cfg, out);
            }
        }
        _ => {
            let mut s = setting(v.clone(), cfg.origin(key));
            if let Some(r) = raw.and_then(Value::as_str).filter(|r| r.contains("${")) {
                s["via"] = r.into();
            }
            out.insert(key.to_string(), s);
        }
    }
}

fn show(ctx: &Ctx) -> Result<(), CliError> {
    let ws = ctx.workspace_or_create()?;
    let settings = effective(ctx, &ws);
    let warnings = ws.config.warnings();
    if ctx.out.json {
        let mut integrations = serde_json::Map::new();
        for name in ws.config.integrations.keys() {
            let prefix = format!("integrations.{name}.");
            let table: serde_json::Map<String, Value> = settings
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(&prefix)
                        .map(|rest| (rest.to_string(), v["value"].clone()))
                })
                .collect();
            integrations.insert(name.clone(), Value::Object(table));
        }
        ctx.out.json(&json!({
            "root": ws.root,
            "devlogDir": ws.devlog_dir,
            "configFile": ws.config.source,
            "backend": ws.spec.name(),
            "location": ws.spec.location(),
            "actor": ctx.actor,
            "settings": settings,
            "integrations": integrations,
            "unused": ws.config.unused.iter().map(|(k, why)| json!({"key": k, "reason": why})).collect::<Vec<_>>(),
            "warnings": warnings,
        }))?;
        return Ok(());
    }
    let src = match &ws.config.source {
        Some(p) if p.ends_with(config::LEGACY_JSON_FILE) => format!(
            "{} (the original devlog's; `devlog config migrate` writes devlog.toml)",
            p.display()
        ),
        Some(p) => p.display().to_string(),
        None => "(none: defaults)".into(),
    };
    let mut text = format!(
        "config file: {src}\ndevlog dir:  {}\n\n",
        ws.devlog_dir.display()
    );
    let mut t = Table::header(&ctx.out, &["SETTING", "VALUE", "FROM"]);
    for (k, v) in &settings {
        let value = match &v["value"] {
            Value::String(s) => s.clone(),
            Value::Array(items) if items.is_empty() => "(none)".into(),
            Value::Array(items) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        let from: Origin = origin_of(v);
        let mut from = from.to_string();
        if let Some(via) = v.get("via").and_then(Value::as_str) {
            from.push_str(&format!(" via {via}"));
        }
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            from.push_str(&format!(" — {e}"));
        }
        t.row(
            [k.clone(), value, from]
                .into_iter()
                .map(|c| (c.clone(), c))
                .collect(),
        );
    }
    text.push_str(&t.render());
    write_stdout(&text)?;
    Ok(())
}

fn origin_of(v: &Value) -> Origin {
    let s = &v["source"];
    match s["from"].as_str() {
        Some("file") => Origin::File {
            file: PathBuf::from(s["file"].as_str().unwrap_or_default()),
            key: s["key"].as_str().unwrap_or_default().to_string(),
        },
        Some("env") => Origin::Env {
            variables: s["variables"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => Origin::Default,
    }
}

async fn check(ctx: &Ctx) -> Result<(), CliError> {
    let ws = ctx.workspace_or_create()?;
    // `[integrations.git]`: the local git automation's settings, checked as `devlog git` reads them.
    devlog_git::GitConfig::from_table(ws.config.integrations.get("git")).map_err(|e| {
        CliError::Config(ConfigError {
            file: ws.config.source.clone(),
            message: e.to_string(),
        })
    })?;
    // Integration tables: variables, secret files and each integration's schema.
    let integrations = super::sync::build(&ws, &super::sync::registry())?;
    let store = ws.open().await?;
    let warnings = store.warnings().await?;
    let entries = store.count().await?;
    if ctx.out.json {
        ctx.out.json(&json!({
            "ok": true,
            "backend": ws.spec.name(),
            "entries": entries,
            "integrations": integrations.len(),
            "warnings": warnings,
            "configWarnings": ws.config.warnings(),
        }))?;
    } else {
        write_stdout(&format!(
            "ok: {} ({} backend, {})\n",
            ws.config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "defaults".into()),
            ws.spec.name(),
            count(entries as usize, "entry", "entries")
        ))?;
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(())
}

/// The project root the workspace would use (the folder holding `.devlog`), found without
/// reading a configuration, since the one there may be what is being replaced.
fn project_root(ctx: &Ctx) -> PathBuf {
    let dir = ctx
        .discovery
        .find()
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| ctx.discovery.place_new());
    dir.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn migrate(ctx: &Ctx, dry_run: bool, force: bool) -> Result<(), CliError> {
    let root = project_root(ctx);
    let toml_path = root.join(config::TOML_FILE);
    let original = Config::load_original(&root, &env).map_err(CliError::Config)?;
    if original.source.is_none() && !original.is_translated() {
        return Err(CliError::Usage(format!(
            "nothing to migrate: there is no {} in {} and none of the original devlog's \
             variables (GITHUB_OWNER, GITHUB_REPO, GITHUB_TOKEN, JIRA_*, ADO_*, DEVLOG_STORAGE_STRATEGY, \
             DEVLOG_SQLITE_PATH, DEVLOG_POSTGRES_URL, ...) is set",
            config::LEGACY_JSON_FILE,
            root.display()
        )));
    }
    let m = config::migration(&original);
    let exists = toml_path.exists();
    if !dry_run {
        if exists && !force {
            return Err(CliError::Usage(format!(
                "{} already exists; it is not overwritten: pass --force to replace it, or \
                 --dry-run to print what would be written",
                toml_path.display()
            )));
        }
        std::fs::write(&toml_path, &m.toml).map_err(|e| {
            CliError::Config(ConfigError {
                file: Some(toml_path.clone()),
                message: format!("cannot write: {e}"),
            })
        })?;
    }
    if ctx.out.json {
        ctx.out.json(&json!({
            "file": toml_path,
            "written": !dry_run,
            "replaced": !dry_run && exists,
            "from": original.source,
            "toml": m.toml,
            "notes": m.notes,
        }))?;
    } else if dry_run {
        write_stdout(&m.toml)?;
    } else {
        let from = original
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the original devlog's environment variables".into());
        write_stdout(&format!(
            "wrote {} (from {from}); devlog reads it instead of {} from now on\n",
            toml_path.display(),
            config::LEGACY_JSON_FILE
        ))?;
    }
    for n in &m.notes {
        eprintln!("note: {n}");
    }
    Ok(())
}
