//! `devlog plugin`: sandboxed WebAssembly plugins (devlog-plugin; docs/plugins.md).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use devlog_plugin::discovery::{self, DisabledList, PluginDirs};
use devlog_plugin::manifest::Located;
use devlog_plugin::{PluginError, Policy};
use serde::Serialize;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, write_stdout};
use crate::workspace::Workspace;

/// Plugins: WebAssembly components adding integrations and workflow actions
///
/// A plugin is a folder with `devlog-plugin.toml` and its `.wasm` component, found in
/// `.devlog/plugins/`, the user folder (`$DEVLOG_PLUGIN_DIR`, else
/// `~/.local/share/devlog/plugins`) and `[plugins] dirs`. It runs sandboxed, with only
/// what the workspace grants in `devlog.toml` `[plugins] allow` (see docs/plugins.md).
#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins found, with what they provide and whether they load
    List,
    /// Show a plugin's manifest, hash, capabilities, limits and actions
    Info(NameArgs),
    /// Check a plugin (installed, by name, or a folder): manifest, grants, component; re-enables a disabled one
    Check(TargetArgs),
    /// Check, then copy a plugin folder into .devlog/plugins/ (or the user folder)
    Install(InstallArgs),
    /// Remove an installed plugin
    Remove(RemoveArgs),
    /// Create a new Rust plugin project (wit-bindgen, wasm32-wasip2) in a new folder
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The plugin's name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// An installed plugin's name, or a folder holding devlog-plugin.toml
    pub plugin: String,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The plugin folder (holding devlog-plugin.toml and the built .wasm)
    pub path: PathBuf,
    /// Into the user folder instead of the workspace's .devlog/plugins/
    #[arg(long)]
    pub user: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
    /// From the user folder instead of the workspace's .devlog/plugins/
    #[arg(long)]
    pub user: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name (lowercase letters, digits, `-`)
    pub name: String,
    /// The folder to create (default: ./<name>)
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The workspace's plugin settings: folders, policy, state.
pub(crate) struct Plugins {
    workspace_dir: PathBuf,
    user_dir: Option<PathBuf>,
    dirs: PluginDirs,
    policy: Policy,
    state: PathBuf,
}

impl Plugins {
    pub(crate) fn of(ws: &Workspace) -> Result<Self, CliError> {
        let config_file = ws
            .config
            .source
            .clone()
            .unwrap_or_else(|| ws.root.join("devlog.toml"));
        let policy =
            Policy::from_table(ws.config.plugins.as_ref(), &config_file).map_err(plugin_err)?;
        let workspace_dir = ws.devlog_dir.join("plugins");
        let user_dir = PluginDirs::user_dir();
        let dirs = PluginDirs::new(workspace_dir.clone(), user_dir.clone(), &policy.dirs);
        Ok(Plugins {
            workspace_dir,
            user_dir,
            dirs,
            policy,
            state: ws.devlog_dir.join(".state").join("plugins"),
        })
    }

    /// The plugin named `target`, or the folder `target`.
    fn locate(&self, target: &str) -> Result<Located, CliError> {
        let path = Path::new(target);
        if path.join(devlog_plugin::MANIFEST_FILE).is_file() || path.is_file() {
            return discovery::open(path).map_err(plugin_err);
        }
        self.dirs.find(target).map_err(plugin_err)
    }
}

fn plugin_err(e: PluginError) -> CliError {
    CliError::Usage(e.to_string())
}

pub async fn run(ctx: &Ctx, args: PluginArgs) -> Result<(), CliError> {
    if let PluginCommand::New(a) = &args.command {
        return new(ctx, a);
    }
    let ws = ctx.workspace()?;
    let plugins = Plugins::of(&ws)?;
    match args.command {
        PluginCommand::List => list(ctx, &plugins),
        PluginCommand::Info(a) => info(ctx, &plugins, &a.name).await,
        PluginCommand::Check(a) => check(ctx, &plugins, &a.plugin).await,
        PluginCommand::Install(a) => install(ctx, &plugins, &a).await,
        PluginCommand::Remove(a) => remove(ctx, &plugins, &a).await,
        PluginCommand::New(_) => Ok(()),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedPlugin {
    name: String,
    version: String,
    description: String,
    provides: Vec<String>,
    dir: PathBuf,
    /// ok, disabled, not-allowed, or error
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

fn provides(l: &Located) -> Vec<String> {
    let mut p = Vec::new();
    if l.manifest.provides.integration {
        p.push("integration".to_string());
    }
    p.extend(
        l.manifest
            .provides
            .actions
            .iter()
            .map(|a| format!("action:{a}")),
    );
    p
}

fn list(ctx: &Ctx, plugins: &Plugins) -> Result<(), CliError> {
    let disabled = DisabledList::new(&plugins.state);
    let mut rows = Vec::new();
    for found in plugins.dirs.discover() {
        match found {
            Ok(l) => {
                let (state, message) = if let Some(reason) = disabled.reason(&l.manifest.name) {
                    ("disabled".to_string(), Some(reason))
                } else if let Err(e) = plugins.policy.permits(&l.manifest) {
                    ("not-allowed".to_string(), Some(e.to_string()))
                } else {
                    ("ok".to_string(), None)
                };
                rows.push(ListedPlugin {
                    name: l.manifest.name.clone(),
                    version: l.manifest.version.clone(),
                    description: l.manifest.description.clone(),
                    provides: provides(&l),
                    dir: l.dir.clone(),
                    state,
                    message,
                });
            }
            Err(e) => rows.push(ListedPlugin {
                name: "?".into(),
                version: String::new(),
                description: String::new(),
                provides: Vec::new(),
                dir: match &e {
                    PluginError::Manifest { file, .. } | PluginError::Io { path: file, .. } => {
                        file.parent().map(Path::to_path_buf).unwrap_or_default()
                    }
                    _ => PathBuf::new(),
                },
                state: "error".into(),
                message: Some(e.to_string()),
            }),
        }
    }
    if ctx.out.json {
        ctx.out.json(&rows)?;
        return Ok(());
    }
    if rows.is_empty() {
        let dirs: Vec<String> = plugins
            .dirs
            .dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        write_stdout(&format!(
            "No plugins in {}. `devlog plugin install PATH` installs one; `devlog plugin new NAME` starts one.\n",
            dirs.join(", ")
        ))?;
        return Ok(());
    }
    let mut t = Table::header(
        &ctx.out,
        &["NAME", "VERSION", "PROVIDES", "STATE", "FOLDER"],
    );
    for r in &rows {
        let cells = [
            r.name.clone(),
            r.version.clone(),
            r.provides.join(", "),
            r.state.clone(),
            r.dir.display().to_string(),
        ];
        t.row(cells.into_iter().map(|c| (c.clone(), c)).collect());
    }
    let mut text = t.render();
    for r in rows.iter().filter(|r| r.message.is_some()) {
        text.push_str(&format!(
            "{}: {}\n",
            r.name,
            r.message.as_deref().unwrap_or_default()
        ));
    }
    write_stdout(&text)?;
    Ok(())
}

/// Loads the plugin as a sync or workflow would (without configuring it), returning its hash
/// and actions; `Err` explains why it cannot run.
#[cfg(feature = "plugins")]
async fn load(plugins: &Plugins, located: &Located) -> Result<(String, Vec<Value>), PluginError> {
    use devlog_plugin::host::{LoadOptions, Runtime};
    let rt = Runtime::new(Some(plugins.state.join("cache")))?;
    let plugin = rt.load(located, &plugins.policy, LoadOptions::default())?;
    let call_err = |e: devlog_plugin::host::CallError| match e {
        devlog_plugin::host::CallError::Sandbox(e) => e,
        devlog_plugin::host::CallError::Plugin(e) => PluginError::NotProvided {
            plugin: located.manifest.name.clone(),
            message: e.message,
        },
    };
    if located.manifest.provides.integration {
        // Its `describe` must agree with the manifest (and is cached for the next start).
        plugin.checked_descriptor().await.map_err(call_err)?;
    }
    let actions = if located.manifest.provides.actions.is_empty() {
        Vec::new()
    } else {
        plugin
            .actions()
            .await
            .map_err(call_err)?
            .into_iter()
            .map(|a| json!(a))
            .collect()
    };
    Ok((plugin.sha256().to_string(), actions))
}

#[cfg(not(feature = "plugins"))]
async fn load(_plugins: &Plugins, located: &Located) -> Result<(String, Vec<Value>), PluginError> {
    Err(PluginError::Engine {
        plugin: located.manifest.name.clone(),
        message: "this devlog was built without the `plugins` feature: it cannot run plugins"
            .into(),
    })
}

async fn info(ctx: &Ctx, plugins: &Plugins, name: &str) -> Result<(), CliError> {
    let located = plugins.dirs.find(name).map_err(plugin_err)?;
    let disabled = DisabledList::new(&plugins.state).reason(name);
    let loaded = if disabled.is_none() {
        load(plugins, &located).await
    } else {
        Err(PluginError::Disabled {
            plugin: name.to_string(),
            failures: plugins.policy.disable_after,
            last: disabled.clone().unwrap_or_default(),
        })
    };
    let m = &located.manifest;
    let view = json!({
        "name": m.name,
        "version": m.version,
        "api": m.api,
        "description": m.description,
        "author": m.author,
        "license": m.license,
        "dir": located.dir,
        "component": m.component,
        "sha256": loaded.as_ref().ok().map(|(h, _)| h.clone()),
        "capabilities": m.capabilities,
        "provides": m.provides,
        "limits": m.limits,
        "configSchema": m.config_schema_json(),
        "actions": loaded.as_ref().map(|(_, a)| a.clone()).unwrap_or_default(),
        "loads": loaded.is_ok(),
        "error": loaded.as_ref().err().map(ToString::to_string),
    });
    if ctx.out.json {
        ctx.out.json(&view)?;
        return Ok(());
    }
    let mut s = format!("{} {} — {}\n", m.name, m.version, m.description);
    s.push_str(&format!("  api:          devlog:plugin@{}\n", m.api));
    if !m.author.is_empty() {
        s.push_str(&format!("  author:       {}\n", m.author));
    }
    if !m.license.is_empty() {
        s.push_str(&format!("  license:      {}\n", m.license));
    }
    s.push_str(&format!("  folder:       {}\n", located.dir.display()));
    s.push_str(&format!(
        "  provides:     {}\n",
        provides(&located).join(", ")
    ));
    s.push_str(&format!(
        "  capabilities: http [{}], kv {}\n",
        m.capabilities.http.join(", "),
        if m.capabilities.kv { "yes" } else { "no" }
    ));
    let limits: Vec<String> = m
        .limits
        .describe()
        .into_iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    s.push_str(&format!("  limits:       {}\n", limits.join(", ")));
    match &loaded {
        Ok((hash, actions)) => {
            s.push_str(&format!("  sha256:       {hash}\n"));
            for a in actions {
                s.push_str(&format!(
                    "  action {}: {}\n",
                    a["name"].as_str().unwrap_or_default(),
                    a["description"].as_str().unwrap_or_default()
                ));
            }
        }
        Err(e) => s.push_str(&format!("  does not load: {e}\n")),
    }
    write_stdout(&s)?;
    Ok(())
}

async fn check(ctx: &Ctx, plugins: &Plugins, target: &str) -> Result<(), CliError> {
    let located = plugins.locate(target)?;
    let name = located.manifest.name.clone();
    let (hash, actions) = load(plugins, &located).await.map_err(plugin_err)?;
    let re_enabled = DisabledList::new(&plugins.state).enable(&name);
    if ctx.out.json {
        ctx.out.json(&json!({
            "name": name, "ok": true, "sha256": hash, "actions": actions, "reEnabled": re_enabled,
        }))?;
        return Ok(());
    }
    let mut s = format!(
        "{name} {}: ok (manifest, grants and component checked against devlog:plugin@{})\n",
        located.manifest.version,
        devlog_plugin::API_VERSION
    );
    s.push_str(&format!(
        "pin it in devlog.toml: [plugins.pin] {name} = \"sha256:{hash}\"\n"
    ));
    if re_enabled {
        s.push_str(&format!(
            "{name} was disabled after repeated failures: enabled again\n"
        ));
    }
    write_stdout(&s)?;
    Ok(())
}

async fn install(ctx: &Ctx, plugins: &Plugins, args: &InstallArgs) -> Result<(), CliError> {
    let source = discovery::open(&args.path).map_err(plugin_err)?;
    // Checked before it is copied: a plugin that cannot load is not installed.
    let (hash, _) = load(plugins, &source).await.map_err(plugin_err)?;
    let into = if args.user {
        plugins.user_dir.clone().ok_or_else(|| {
            CliError::Usage("no user plugin folder: set DEVLOG_PLUGIN_DIR or HOME".into())
        })?
    } else {
        plugins.workspace_dir.clone()
    };
    let installed = discovery::install(&source, &into).map_err(plugin_err)?;
    DisabledList::new(&plugins.state).enable(&installed.manifest.name);
    super::audit::record_action(
        ctx,
        devlog_core::audit::Action::PluginInstalled {
            name: installed.manifest.name.to_string(),
            version: installed.manifest.version.to_string(),
            dir: installed.dir.display().to_string(),
            sha256: hash.to_string(),
        },
    )
    .await;
    if ctx.out.json {
        ctx.out.json(&json!({
            "name": installed.manifest.name, "dir": installed.dir, "sha256": hash,
        }))?;
        return Ok(());
    }
    write_stdout(&format!(
        "installed {} {} in {} (sha256:{hash})\n",
        installed.manifest.name,
        installed.manifest.version,
        installed.dir.display()
    ))?;
    Ok(())
}

async fn remove(ctx: &Ctx, plugins: &Plugins, args: &RemoveArgs) -> Result<(), CliError> {
    let from = if args.user {
        plugins
            .user_dir
            .clone()
            .ok_or_else(|| CliError::Usage("no user plugin folder".into()))?
    } else {
        plugins.workspace_dir.clone()
    };
    let dir = discovery::remove(&args.name, &from).map_err(plugin_err)?;
    DisabledList::new(&plugins.state).enable(&args.name);
    super::audit::record_action(
        ctx,
        devlog_core::audit::Action::PluginRemoved {
            name: args.name.clone(),
            dir: dir.display().to_string(),
        },
    )
    .await;
    if ctx.out.json {
        ctx.out
            .json(&json!({ "name": args.name, "removed": dir }))?;
        return Ok(());
    }
    write_stdout(&format!("removed {} ({})\n", args.name, dir.display()))?;
    Ok(())
}

fn new(ctx: &Ctx, args: &NewArgs) -> Result<(), CliError> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let files = devlog_plugin::scaffold::create(&dir, &args.name).map_err(plugin_err)?;
    if ctx.out.json {
        ctx.out
            .json(&json!({ "name": args.name, "dir": dir, "files": files }))?;
        return Ok(());
    }
    write_stdout(&format!(
        "created {} in {}\nbuild: cd {} && cargo build --release --target wasm32-wasip2 && cp target/wasm32-wasip2/release/{}.wasm .\nthen:  devlog plugin install {}\n",
        args.name,
        dir.display(),
        dir.display(),
        args.name.replace('-', "_"),
        dir.display()
    ))?;
    Ok(())
}

/// The `[integrations.<name>]` tables naming an installed plugin that provides an integration
/// (and no built-in integration): taken out of `tables` and built as plugin integrations, so
/// they sync through the same engine and queue. A table with `enabled = false` is skipped.
pub(crate) fn integrations(
    ws: &Workspace,
    registry: &devlog_sync::Registry,
    tables: &mut std::collections::BTreeMap<String, Value>,
) -> Result<Vec<std::sync::Arc<dyn devlog_core::integration::Integration>>, CliError> {
    let names: Vec<String> = tables
        .keys()
        .filter(|n| registry.resolve(n).is_none())
        .cloned()
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let plugins = Plugins::of(ws)?;
    let mut out = Vec::new();
    for name in names {
        let Ok(located) = plugins.dirs.find(&name) else {
            continue; // not a plugin either: the registry reports the unknown table
        };
        if !located.manifest.provides.integration {
            continue;
        }
        let Some(mut table) = tables.remove(&name) else {
            continue;
        };
        if table.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        if let Some(t) = table.as_object_mut() {
            t.remove("enabled");
        }
        let config_err = |message: String| {
            CliError::Config(crate::config::ConfigError {
                file: ws.config.source.clone(),
                message: format!(
                    "[integrations.{name}] (plugin {}): {message}",
                    located.dir.display()
                ),
            })
        };
        // Credentials named by `[capabilities.auth]` go to the host, never to the plugin;
        // the rest is checked against the plugin's config schema and passed to `configure`.
        let split = located
            .manifest
            .split_credentials(table)
            .map_err(&config_err)?;
        located
            .manifest
            .check_config(&split.config)
            .map_err(&config_err)?;
        out.push(
            plugin_integration(&plugins, &located, split).map_err(|e| config_err(e.to_string()))?,
        );
    }
    Ok(out)
}

#[cfg(feature = "plugins")]
fn plugin_integration(
    plugins: &Plugins,
    located: &Located,
    split: devlog_plugin::manifest::SplitConfig,
) -> Result<std::sync::Arc<dyn devlog_core::integration::Integration>, PluginError> {
    use devlog_plugin::host::{LoadOptions, PluginIntegration, Runtime};
    let rt = Runtime::new(Some(plugins.state.join("cache")))?;
    let plugin = rt.load(
        located,
        &plugins.policy,
        LoadOptions {
            config: Some(split.config),
            auth: split.auth,
            state_dir: Some(plugins.state.clone()),
            ..LoadOptions::default()
        },
    )?;
    // The descriptor is the plugin's own `describe`, checked against its manifest (cached
    // with the compiled component, so a warm start makes no call).
    let integration = PluginIntegration::new_blocking(plugin).map_err(|e| match e {
        devlog_plugin::host::CallError::Sandbox(e) => e,
        devlog_plugin::host::CallError::Plugin(e) => PluginError::Engine {
            plugin: located.manifest.name.clone(),
            message: format!("describe failed: {e}"),
        },
    })?;
    Ok(std::sync::Arc::new(integration))
}

#[cfg(not(feature = "plugins"))]
fn plugin_integration(
    _plugins: &Plugins,
    located: &Located,
    _split: devlog_plugin::manifest::SplitConfig,
) -> Result<std::sync::Arc<dyn devlog_core::integration::Integration>, PluginError> {
    Err(PluginError::Engine {
        plugin: located.manifest.name.clone(),
        message: "this devlog was built without the `plugins` feature: it cannot run plugins"
            .into(),
    })
}

/// The installed plugins that provide an integration, for `devlog integrations list`: name,
/// version, description, folder. Broken or unreadable plugins are left out (`devlog plugin
/// list` reports them).
pub(crate) fn integration_plugins(ws: &Workspace) -> Vec<(String, String, String, PathBuf)> {
    let Ok(plugins) = Plugins::of(ws) else {
        return Vec::new();
    };
    plugins
        .dirs
        .discover()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|l| l.manifest.provides.integration)
        .map(|l| {
            (
                l.manifest.name.clone(),
                l.manifest.version.clone(),
                l.manifest.description.clone(),
                l.dir,
            )
        })
        .collect()
}

/// A `plugin` step's check when workflows load: the plugin is installed, its manifest
/// provides `action`, and it is not disabled.
pub(crate) fn check_workflow_action(
    ws: &Workspace,
    plugin: &str,
    action: &str,
) -> Result<(), String> {
    let plugins = Plugins::of(ws).map_err(|e| e.to_string())?;
    let located = plugins.dirs.find(plugin).map_err(|e| e.to_string())?;
    let provided = &located.manifest.provides.actions;
    if !provided.iter().any(|a| a == action) {
        return Err(format!(
            "plugin {plugin} provides no action {action:?} (it provides: {})",
            if provided.is_empty() {
                "none".to_string()
            } else {
                provided.join(", ")
            }
        ));
    }
    if let Some(why) = DisabledList::new(&plugins.state).reason(plugin) {
        return Err(format!(
            "plugin {plugin} is disabled after repeated failures ({why}); `devlog plugin check {plugin}` and re-enable it"
        ));
    }
    Ok(())
}

/// Runs a `plugin` workflow step: the plugin loaded under the workspace's policy, `input`
/// checked against the action's input schema, then (unless `dry`) the action run in the
/// sandbox. A failure is the step's, with the plugin's message.
#[cfg(feature = "plugins")]
pub(crate) async fn run_workflow_action(
    ws: &Workspace,
    plugin: &str,
    action: &str,
    input: &Value,
    dry: bool,
) -> Result<Value, String> {
    use devlog_plugin::host::{CallError, LoadOptions, Runtime};
    check_workflow_action(ws, plugin, action)?;
    let plugins = Plugins::of(ws).map_err(|e| e.to_string())?;
    let located = plugins.dirs.find(plugin).map_err(|e| e.to_string())?;
    // The plugin's `[integrations.<name>]` table, when it has one, is its configuration.
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let config = crate::config::integration_tables(&ws.config, &ws.root, &env)
        .map_err(|e| e.to_string())?
        .remove(plugin);
    if let Some(c) = &config {
        located
            .manifest
            .check_config(c)
            .map_err(|e| format!("[integrations.{plugin}] (plugin {plugin}): {e}"))?;
    }
    let rt = Runtime::new(Some(plugins.state.join("cache"))).map_err(|e| e.to_string())?;
    let loaded = rt
        .load(
            &located,
            &plugins.policy,
            LoadOptions {
                config,
                state_dir: Some(plugins.state.clone()),
                ..LoadOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
    let shown = |e: CallError| match e {
        CallError::Sandbox(e) => e.to_string(),
        CallError::Plugin(e) => format!("plugin {plugin}: {}", e.message),
    };
    let actions = loaded.actions().await.map_err(shown)?;
    let Some(info) = actions.iter().find(|a| a.name == action) else {
        return Err(format!(
            "plugin {plugin} does not list action {action:?} at run time"
        ));
    };
    devlog_plugin::manifest::check_against(&info.input_schema, input).map_err(|e| {
        format!("plugin {plugin} action {action}: the input does not fit its schema: {e}")
    })?;
    if dry {
        return Ok(json!({"plugin": plugin, "action": action, "input": input, "dryRun": true}));
    }
    loaded.run_action(action, input).await.map_err(shown)
}

#[cfg(not(feature = "plugins"))]
pub(crate) async fn run_workflow_action(
    _ws: &Workspace,
    plugin: &str,
    _action: &str,
    _input: &Value,
    _dry: bool,
) -> Result<Value, String> {
    Err(format!(
        "plugin {plugin}: this devlog was built without the `plugins` feature: it cannot run plugin steps"
    ))
}
