//! The workflow engine's [`StepHost`] in the CLI, `devlog serve` and the worker: `sync` steps
//! through the sync engine and its queue, `notify` steps through devlog-http with the
//! `[workflows] notifyHosts` allowlist, `plugin` steps through the plugin host, and `branch`,
//! `pull_request` and `pipeline` steps through the code of `devlog git branch`, `devlog
//! github pr` and `devlog ado run` (docs/workflows.md "Steps outside the store").

use std::sync::Arc;
use std::time::Duration;

use devlog_http::{ClientOptions, HttpClient, Url};
use devlog_sync::LinkState;
use devlog_sync::{SyncEngine, SyncReport};
use devlog_workflow::StepHost;
use devlog_workflow::host::{
    BranchRequest, HostFuture, NotifyRequest, NotifyStep, NotifyTarget, PipelineRequest,
    PluginRequest, PullRequestRequest, StepRef, SyncRequest, redact_url,
};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::config::{WorkflowSettings, expand_vars};
use crate::workspace::Workspace;

/// Attempts of one notification when the receiver fails in a way worth retrying.
const NOTIFY_ATTEMPTS: u32 = 3;

/// The host of one workflow engine (one workspace).
#[derive(Debug)]
pub struct CliStepHost {
    ws: Workspace,
    /// Built on the first `sync` step (reading the integrations' config and the sync state).
    sync: OnceCell<Result<SyncEngine, String>>,
}

impl CliStepHost {
    pub fn new(ws: Workspace) -> Self {
        Self {
            ws,
            sync: OnceCell::new(),
        }
    }

    fn settings(&self) -> &WorkflowSettings {
        &self.ws.config.workflows
    }

    async fn sync_engine(&self) -> Result<&SyncEngine, String> {
        self.sync
            .get_or_init(|| async {
                let etags = crate::commands::etags::StateEtags::new();
                let integrations = crate::commands::sync::build(
                    &self.ws,
                    &crate::commands::sync::registry_with(Some(etags.clone())),
                )
                .map_err(|e| e.to_string())?;
                let store = self.ws.open().await.map_err(|e| e.to_string())?;
                let state = crate::commands::sync::open_state(&self.ws)
                    .await
                    .map_err(|e| e.to_string())?;
                etags.attach(&state);
                let opts = crate::commands::sync::sync_options(
                    &self.ws,
                    devlog_core::merge::Strategy::Manual,
                    None,
                );
                Ok(SyncEngine::new(store, state, integrations, opts))
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn push(&self, req: &SyncRequest, dry: bool) -> Result<Value, String> {
        let engine = self.sync_engine().await?;
        let name = req.integration.as_str();
        let names: Vec<String> = engine
            .integrations()
            .iter()
            .map(|i| i.descriptor().name)
            .collect();
        if !names.iter().any(|n| n == name) {
            return Err(format!(
                "`{name}` is not an enabled integration (enabled: {}); configure \
                 [integrations.{name}] in devlog.toml",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        let handle = req.handle;
        let link_of = || async {
            engine
                .state()
                .link(name, req.entry)
                .await
                .map_err(|e| e.to_string())
        };
        if dry {
            let ops = engine
                .plan(Some(name), Some(req.entry), false)
                .await
                .map_err(|e| e.to_string())?;
            let link = link_of().await?;
            if let Some(why) = not_pushed(link.as_ref(), name, handle)
                && ops.is_empty()
            {
                return Err(why);
            }
            let linked = link.as_ref().filter(|l| l.state == LinkState::Linked);
            return Ok(json!({
                "operations": ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "plan": ops,
                "remoteId": linked.and_then(|l| l.remote_id.clone()).unwrap_or_else(|| "(dry run)".into()),
                "url": linked.and_then(|l| l.url.clone()).unwrap_or_else(|| "(dry run)".into()),
            }));
        }
        // The entry's job is enqueued from the change feed (with everything else waiting)
        // and run now; the engine's markers keep the remote effect exactly once.
        let mut report = SyncReport::default();
        engine
            .enqueue_noting(&mut report.notes)
            .await
            .map_err(|e| e.to_string())?;
        engine
            .push_all(Some(name), Some(req.entry), &mut report, &|_, _| {})
            .await
            .map_err(|e| e.to_string())?;
        if !report.failed.is_empty() {
            return Err(format!(
                "push to {name} failed: {} (the job is retried by `devlog sync` or the worker)",
                report.failed.join("; ")
            ));
        }
        if !report.paused.is_empty() {
            return Err(format!(
                "push to {name} not run: {} (the job stays queued)",
                report.paused.join("; ")
            ));
        }
        let link = link_of().await?;
        if let Some(why) = not_pushed(link.as_ref(), name, handle) {
            return Err(why);
        }
        let Some(link) = link else {
            return Err(format!("#{handle} was not pushed to {name}"));
        };
        let mut done = Vec::new();
        for (n, what) in [
            (report.created, "created"),
            (report.recovered, "recovered"),
            (report.updated, "updated"),
            (report.notes_pushed, "notes"),
            (report.worklogs_pushed, "worklogs"),
        ] {
            if n > 0 {
                done.push(what);
            }
        }
        if done.is_empty() {
            done.push("unchanged");
        }
        Ok(json!({
            "remoteId": link.remote_id,
            "url": link.url,
            "done": done,
        }))
    }

    /// The URL a target stands for, and how to show it.
    fn resolve(&self, target: &NotifyTarget) -> Result<(Url, String), String> {
        let (raw, shown) = match target {
            NotifyTarget::Named(name) => {
                let Some(t) = self.settings().notify.get(name) else {
                    return Err(format!(
                        "no notify target `{name}`: add [workflows.notify.{name}] url = \
                         \"${{ENV_VAR}}\" to devlog.toml (configured: {})",
                        list(self.settings().notify.keys())
                    ));
                };
                let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
                let url = expand_vars(&t.url, env)
                    .map_err(|e| format!("[workflows.notify.{name}] url: {e}"))?;
                (url, target.shown())
            }
            NotifyTarget::Url(u) => (u.clone(), target.shown()),
        };
        let url = Url::parse(&raw).map_err(|e| format!("notify {shown}: not a URL ({e})"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("notify {shown}: only http(s) URLs can be notified"));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        self.allowed(&host, &shown)?;
        Ok((url, shown))
    }

    fn allowed(&self, host: &str, shown: &str) -> Result<(), String> {
        let hosts = &self.settings().notify_hosts;
        if hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Ok(());
        }
        Err(format!(
            "notify {shown}: host {host} is not allowed; add it to [workflows] notifyHosts in \
             devlog.toml (allowed: {})",
            list(hosts.iter())
        ))
    }

    async fn notify_now(&self, req: &NotifyRequest, dry: bool) -> Result<Value, String> {
        let (url, shown) = self.resolve(&req.target)?;
        if dry {
            return Ok(json!({"target": shown, "method": "POST", "body": req.payload}));
        }
        let secret = url.to_string();
        let scrub = |text: String| {
            let mut t = text.replace(&secret, &shown);
            let path = url.path();
            if path.len() > 1 {
                t = t.replace(path, "/…");
            }
            if let Some(q) = url.query() {
                t = t.replace(q, "…");
            }
            t
        };
        let origin = url.origin().ascii_serialization();
        let client = HttpClient::new(
            ClientOptions::new("notify", origin)
                .timeouts(Duration::from_secs(5), Duration::from_secs(15))
                .follow_redirects(false),
        )
        .map_err(|e| scrub(format!("notify {shown}: {e}")))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = client
                .post(url.as_str())
                .attempt(attempt)
                .header("Idempotency-Key", &req.key)
                .json(&req.payload)
                .send()
                .await;
            match sent {
                Ok(r) => {
                    tracing::info!(target = %shown, status = r.status().as_u16(), "workflow notify sent");
                    return Ok(
                        json!({"target": shown, "status": r.status().as_u16(), "attempts": attempt}),
                    );
                }
                Err(e) if e.is_retryable() && attempt < NOTIFY_ATTEMPTS => {
                    let wait = e
                        .retry_after()
                        .unwrap_or(Duration::from_millis(250 * u64::from(attempt)))
                        .min(Duration::from_secs(5));
                    tracing::debug!(target = %shown, attempt, "notify failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    return Err(scrub(format!(
                        "notify {shown} failed after {attempt} attempt(s): {}",
                        e.scrub(&[secret.as_str()])
                    )));
                }
            }
        }
    }
}

impl CliStepHost {
    /// `branch`: `devlog git branch`'s code, keeping a branch already there.
    fn branch_now(&self, req: &BranchRequest, dry: bool) -> Result<Value, String> {
        let opts = devlog_git::branch::Options {
            checkout: req.checkout,
            keep_existing: true,
            dry_run: dry,
            ..Default::default()
        };
        let b = super::git::entry_branch(&self.ws, &req.entry, &opts).map_err(|e| e.to_string())?;
        let mut out = json!({
            "name": b.name,
            "created": b.created,
            "at": b.commit,
            "checkedOut": b.checked_out,
        });
        if req.push {
            let p = super::git::push_branch(&self.ws, &b, req.remote.as_deref(), dry)
                .map_err(|e| e.to_string())?;
            out["pushed"] = json!(p.sent);
            out["remote"] = json!(p.remote);
        }
        Ok(out)
    }

    /// `pull_request`: `devlog github pr`'s code (a dry run renders its request and sends
    /// nothing).
    async fn pull_request_now(&self, req: &PullRequestRequest, dry: bool) -> Result<Value, String> {
        if let Some(why) = integration_problem(&self.ws, &req.integration, Kind::Github) {
            return Err(why);
        }
        let pull = super::github::PullOptions {
            head: req.branch.clone(),
            base: req
                .base
                .clone()
                .unwrap_or_else(|| super::github::DEFAULT_BASE.into()),
            draft: req.draft,
            title: req.title.clone(),
            body: req.body.clone(),
        };
        if dry {
            let (path, body, head) = super::github::pull_request_plan(&self.ws, &req.entry, &pull)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(json!({
                "number": "(dry run)",
                "url": "(dry run)",
                "opened": true,
                "branch": head,
                "request": {"method": "POST", "path": path, "body": body},
            }));
        }
        let done = super::github::open_pull_request(&self.ws, &req.by, &req.entry, &pull)
            .await
            .map_err(|e| e.to_string())?;
        Ok(json!({
            "number": done.pull.number,
            "url": done.pull.html_url,
            "opened": done.opened,
            "branch": done.head,
        }))
    }

    /// `pipeline`: `devlog ado run`'s code (a dry run renders its request and sends nothing).
    async fn pipeline_now(&self, req: &PipelineRequest, dry: bool) -> Result<Value, String> {
        if let Some(why) = integration_problem(&self.ws, &req.integration, Kind::AzureDevops) {
            return Err(why);
        }
        let ado = super::ado::ado(&self.ws).map_err(|e| e.to_string())?;
        if dry {
            let branch = super::ado::run_branch(&self.ws, &req.entry, req.branch.clone())
                .map_err(|e| e.to_string())?;
            let (path, body) = ado.queue_run_request(&format!("<id of {}>", req.pipeline), &branch);
            return Ok(json!({
                "run_id": "(dry run)",
                "url": "(dry run)",
                "queued": true,
                "adopted": false,
                "branch": branch,
                "request": {
                    "method": "POST",
                    "url": format!("{}/{path}", ado.config().organization_url.trim_end_matches('/')),
                    "body": body,
                },
            }));
        }
        let (run, branch) = super::ado::queue_pipeline_run(
            &self.ws,
            &ado,
            &req.by,
            &req.entry,
            &req.pipeline,
            req.branch.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(json!({
            "run_id": run.run_id,
            "url": run.url,
            "queued": run.queued,
            "adopted": run.adopted,
            "name": run.name,
            "pipeline": run.pipeline,
            "branch": run.branch.unwrap_or(branch),
        }))
    }
}

/// The kinds of integration a step can need by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Github,
    AzureDevops,
}

impl Kind {
    /// The `[integrations.*]` names of this kind (`ado` is Azure DevOps too).
    fn names(self) -> &'static [&'static str] {
        match self {
            Kind::Github => &[devlog_github::NAME],
            Kind::AzureDevops => &[devlog_ado::NAME, "ado"],
        }
    }

    fn display(self) -> &'static str {
        match self {
            Kind::Github => "GitHub",
            Kind::AzureDevops => "Azure DevOps",
        }
    }
}

/// Why integration `name` cannot serve a step that needs `kind`: not configured in
/// devlog.toml, or of another kind. Reads the configuration only (no secret is expanded), so
/// it is checked when workflows load.
fn integration_problem(ws: &Workspace, name: &str, kind: Kind) -> Option<String> {
    let configured: Vec<&String> = ws.config.integrations.keys().collect();
    if !kind.names().contains(&name) {
        let what = if configured.iter().any(|n| n.as_str() == name) {
            format!("`{name}` is not a {} integration", kind.display())
        } else {
            format!("no [integrations.{name}] in devlog.toml")
        };
        return Some(format!(
            "{what}: give the name of the {} integration ({})",
            kind.display(),
            kind.names().join(" or ")
        ));
    }
    if kind
        .names()
        .iter()
        .any(|n| configured.iter().any(|c| c.as_str() == *n))
    {
        return None;
    }
    Some(format!(
        "{} is not configured: add [integrations.{name}] to devlog.toml (configured: {})",
        kind.display(),
        list(configured.into_iter())
    ))
}

/// Why an entry has no remote item for `name` after a push (`None`: it has one).
fn not_pushed(link: Option<&devlog_sync::Link>, name: &str, handle: u64) -> Option<String> {
    match link {
        Some(l) if l.state == LinkState::Linked && l.remote_id.is_some() => None,
        Some(l) if l.state == LinkState::Unlinked => Some(format!(
            "#{handle} is unlinked from {name} on purpose, so {name} does not push it (link it \
             again with `devlog sync link`)"
        )),
        Some(_) => Some(format!(
            "#{handle}'s item on {name} is still being created (a push was interrupted); the \
             next sync finishes it"
        )),
        None => Some(format!(
            "#{handle} was not pushed to {name}: its configuration does not push this entry, \
             or its job is waiting for a retry (see `devlog sync status`)"
        )),
    }
}

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = items.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

impl StepHost for CliStepHost {
    fn sync<'a>(&'a self, req: &'a SyncRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(self.push(req, dry))
    }

    fn notify<'a>(&'a self, req: &'a NotifyRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(self.notify_now(req, dry))
    }

    fn plugin<'a>(&'a self, req: &'a PluginRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(super::plugin::run_workflow_action(
            &self.ws,
            &req.plugin,
            &req.action,
            &req.input,
            dry,
        ))
    }

    fn branch<'a>(&'a self, req: &'a BranchRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(async move { self.branch_now(req, dry) })
    }

    fn pull_request<'a>(&'a self, req: &'a PullRequestRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(self.pull_request_now(req, dry))
    }

    fn pipeline<'a>(&'a self, req: &'a PipelineRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(self.pipeline_now(req, dry))
    }

    fn check_step(&self, step: &StepRef<'_>) -> Result<(), String> {
        match step {
            StepRef::Branch(_) => super::git::branch_problem(&self.ws).map_or(Ok(()), Err),
            StepRef::PullRequest(p) => {
                integration_problem(&self.ws, p.integration(), Kind::Github).map_or(Ok(()), Err)
            }
            StepRef::Pipeline(p) => {
                integration_problem(&self.ws, p.integration(), Kind::AzureDevops)
                    .map_or(Ok(()), Err)
            }
            StepRef::Notify(NotifyStep {
                target: Some(name), ..
            }) => {
                if self.settings().notify.contains_key(name) {
                    Ok(())
                } else {
                    Err(format!(
                        "no notify target `{name}` in devlog.toml (configured: {})",
                        list(self.settings().notify.keys())
                    ))
                }
            }
            StepRef::Notify(NotifyStep { url: Some(t), .. }) if !t.source().contains("{{") => {
                let shown = redact_url(t.source());
                let url = Url::parse(t.source().trim())
                    .map_err(|e| format!("notify {shown}: not a URL ({e})"))?;
                self.allowed(url.host_str().unwrap_or_default(), &shown)
            }
            StepRef::Plugin(p) => {
                super::plugin::check_workflow_action(&self.ws, &p.name, &p.action)
            }
            _ => Ok(()),
        }
    }
}

/// The host for an engine over `ws`.
pub fn host(ws: &Workspace) -> Arc<dyn StepHost> {
    Arc::new(CliStepHost::new(ws.clone()))
}
