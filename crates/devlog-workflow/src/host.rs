//! Steps whose effect is outside the store (issue 21 item 4, issue 22 item 3): `sync` (push an
//! entry to an integration through the sync engine and its queue), `notify` (an HTTP POST to
//! a webhook), `plugin` (a plugin's workflow action), `branch` (a git branch for an entry),
//! `pull_request` (a GitHub pull request from it) and `pipeline` (an Azure DevOps pipeline
//! run of it).
//!
//! This crate knows none of the integrations, HTTP or WebAssembly: it renders the step and
//! hands a request to a [`StepHost`], which the program embedding the engine provides
//! (devlog-cli: the sync engine, devlog-http, the plugin host). An engine without a host
//! fails these steps with a message saying so.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use devlog_core::event::WriteMeta;
use devlog_core::{Entry, EntryId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::{Action, FormatError, Loaded, Step, VarValue};
use crate::template::Template;

/// `sync`: pushes an entry (the run's, or `entry`) to an integration now.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncStep {
    /// The integration's name (`[integrations.<name>]` in devlog.toml).
    pub integration: String,
    /// The entry to push (a reference template); the run's entry without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
}

/// How a `notify` body is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    /// A Slack-compatible incoming webhook: `{"text": <text>}`.
    Slack,
    /// Any JSON: `body` rendered, then read as JSON.
    Json,
}

/// `notify`: an HTTP POST to a webhook. The URL is a named target of devlog.toml
/// (`[workflows.notify.<target>]`, where `${ENV}` keeps secrets out of files) or `url`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyStep {
    /// A target named in devlog.toml (`[workflows.notify.<name>] url = "${SLACK_URL}"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The URL itself (a template); its host must be in `[workflows] notifyHosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Template>,
    pub format: NotifyFormat,
    /// The message (`format: slack`), a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Template>,
    /// The body (`format: json`), a template whose result must be JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Template>,
}

impl NotifyStep {
    /// The checks serde cannot make: one of `target`/`url`, the key its format needs.
    pub fn check(&self) -> Result<(), String> {
        match (&self.target, &self.url) {
            (Some(_), Some(_)) => {
                return Err("notify: give `target` or `url`, not both".into());
            }
            (None, None) => {
                return Err(
                    "notify needs `target` (a name from [workflows.notify.<name>] in devlog.toml) \
                     or `url`"
                        .into(),
                );
            }
            _ => {}
        }
        match (self.format, &self.text, &self.body) {
            (NotifyFormat::Slack, Some(_), None) | (NotifyFormat::Json, None, Some(_)) => Ok(()),
            (NotifyFormat::Slack, _, _) => {
                Err("notify with `format: slack` needs `text` (and no `body`)".into())
            }
            (NotifyFormat::Json, _, _) => {
                Err("notify with `format: json` needs `body` (and no `text`)".into())
            }
        }
    }
}

/// `plugin`: runs a plugin's workflow action with `input` (strings are templates).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginStep {
    /// The plugin's name (its manifest's `name`).
    pub name: String,
    /// One of the actions its manifest lists.
    pub action: String,
    /// The action's input, checked against its input schema.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input: BTreeMap<String, VarValue>,
}

/// `branch`: the git branch of an entry (the run's, or `entry`) at HEAD, named by
/// `[integrations.git] branchTemplate` as `devlog git branch` names it. A branch of that name
/// already there is kept (`created: false`), so a repeated or resumed run makes it once.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchStep {
    /// The entry (a reference template); the run's entry without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
    /// Switch the working tree to the branch (refused when tracked files outside .devlog
    /// have changes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checkout: bool,
    /// Push the branch to its remote (and make it the upstream), so a `pull_request` step
    /// can open a pull request from it. A remote branch already at that commit is not pushed
    /// again; one that moved elsewhere is not overwritten (the step fails and says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub push: bool,
    /// The remote to push to; the branch's configured remote, else `origin`, without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

/// `pull_request`: opens the GitHub pull request of an entry from its branch, or links the
/// open one from that branch (`devlog github pr`): once, however often the run repeats.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequestStep {
    /// The GitHub integration's name (`[integrations.<name>]` in devlog.toml); `github`
    /// without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    /// The entry (a reference template); the run's entry without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
    /// The branch with the work (a template); the entry's branch as `branch` names it
    /// without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Template>,
    /// The branch to merge into (a template); `main` without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Template>,
    /// Open it as a draft.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draft: bool,
    /// The title (a template); the entry's title without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Template>,
    /// The body's text (a template); the entry's description without it. `Closes #<issue>`
    /// (when the entry is linked to an issue) and devlog's marker always follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Template>,
}

/// `pipeline`: queues an Azure DevOps pipeline run of an entry's branch, or follows the
/// unfinished one already queued for the entry (`devlog ado run`): once, however often the
/// run repeats; its completion adds a note to the entry.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineStep {
    /// The Azure DevOps integration's name (`[integrations.<name>]` in devlog.toml);
    /// `azure-devops` without it (`ado` is the same integration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    /// The pipeline: its name, or `folder\name` (a template).
    pub pipeline: Template,
    /// The entry (a reference template); the run's entry without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Template>,
    /// The branch to run (a template); the entry's branch as `branch` names it without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Template>,
}

/// The integration a `pull_request` step uses when it names none.
pub const DEFAULT_GITHUB: &str = "github";
/// The integration a `pipeline` step uses when it names none.
pub const DEFAULT_ADO: &str = "azure-devops";

impl PullRequestStep {
    pub fn integration(&self) -> &str {
        self.integration.as_deref().unwrap_or(DEFAULT_GITHUB)
    }
}

impl PipelineStep {
    pub fn integration(&self) -> &str {
        self.integration.as_deref().unwrap_or(DEFAULT_ADO)
    }
}

/// Where a notification goes, as the step gave it.
#[derive(Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// A target named in the configuration.
    Named(String),
    /// A URL from the workflow file (a secret for Slack: never shown whole).
    Url(String),
}

impl NotifyTarget {
    /// How records, errors and logs show it: the name, or the URL's scheme and host only.
    pub fn shown(&self) -> String {
        match self {
            NotifyTarget::Named(n) => format!("target {n}"),
            NotifyTarget::Url(u) => redact_url(u),
        }
    }
}

impl fmt::Debug for NotifyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

/// A URL with its path, query and credentials hidden (`https://hooks.slack.com/…`): a Slack
/// webhook URL is its own secret.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "(a URL)".into(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let hidden = rest.len() > authority.len() || authority.contains('@');
    format!("{scheme}://{host}{}", if hidden { "/…" } else { "" })
}

/// A `sync` step rendered: push `entry` to `integration`.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub integration: String,
    pub entry: EntryId,
    /// The entry's handle (`#N`), for messages.
    pub handle: u64,
}

/// A `notify` step rendered.
#[derive(Debug, Clone)]
pub struct NotifyRequest {
    pub target: NotifyTarget,
    pub format: NotifyFormat,
    /// The JSON to POST.
    pub payload: Value,
    /// The same for every attempt of this step of this run (`<run>/<step>`): sent as
    /// `Idempotency-Key` so a receiver that honours it can drop a repeat.
    pub key: String,
}

/// A `plugin` step rendered.
#[derive(Debug, Clone)]
pub struct PluginRequest {
    pub plugin: String,
    pub action: String,
    pub input: Value,
    /// As [`NotifyRequest::key`].
    pub key: String,
}

/// A `branch` step rendered.
#[derive(Debug, Clone)]
pub struct BranchRequest {
    /// The entry as it is when the step runs (its handle, key, id and type name the branch).
    pub entry: Entry,
    pub checkout: bool,
    /// Push it to `remote` (the branch's remote, else `origin`, when `None`).
    pub push: bool,
    pub remote: Option<String>,
}

/// A `pull_request` step rendered.
#[derive(Debug, Clone)]
pub struct PullRequestRequest {
    pub integration: String,
    pub entry: Entry,
    /// The head branch; the entry's branch when `None`.
    pub branch: Option<String>,
    /// The base branch; the host's default (`main`) when `None`.
    pub base: Option<String>,
    pub draft: bool,
    pub title: Option<String>,
    pub body: Option<String>,
    /// The run's write metadata (`workflow:<name>`, source `<name>/<run>`): the pull request
    /// recorded on the entry and in the audit log is the workflow's.
    pub by: WriteMeta,
}

/// A `pipeline` step rendered.
#[derive(Debug, Clone)]
pub struct PipelineRequest {
    pub integration: String,
    pub pipeline: String,
    pub entry: Entry,
    /// The branch; the entry's branch when `None`.
    pub branch: Option<String>,
    /// As [`PullRequestRequest::by`].
    pub by: WriteMeta,
}

/// What a host call gives back: the step's output, or why it failed (a message for the run
/// record, with no secret in it).
pub type HostFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// The effects outside the store that steps ask for. With `dry`, nothing is sent anywhere:
/// the host says what it would do (the sync engine's plan, the request it would POST, the
/// validated plugin input). Outputs and errors must carry no secret (URLs redacted).
pub trait StepHost: Send + Sync + fmt::Debug {
    fn sync<'a>(&'a self, req: &'a SyncRequest, dry: bool) -> HostFuture<'a>;
    fn notify<'a>(&'a self, req: &'a NotifyRequest, dry: bool) -> HostFuture<'a>;
    fn plugin<'a>(&'a self, req: &'a PluginRequest, dry: bool) -> HostFuture<'a>;
    /// Output `{name, created, at}` (`at`: the commit the branch points at).
    fn branch<'a>(&'a self, req: &'a BranchRequest, dry: bool) -> HostFuture<'a>;
    /// Output `{number, url, opened}` (`opened: false`: the open one was linked).
    fn pull_request<'a>(&'a self, req: &'a PullRequestRequest, dry: bool) -> HostFuture<'a>;
    /// Output `{run_id, url, queued}` (`queued: false`: the unfinished one is followed).
    fn pipeline<'a>(&'a self, req: &'a PipelineRequest, dry: bool) -> HostFuture<'a>;
    /// A check made when workflows are loaded (an unknown integration, plugin or action, a
    /// notify target not configured); `Ok` when it can only be known at run time.
    fn check_step(&self, step: &StepRef<'_>) -> Result<(), String> {
        let _ = step;
        Ok(())
    }
}

/// A step handed to [`StepHost::check_step`].
#[derive(Debug, Clone, Copy)]
pub enum StepRef<'a> {
    Sync(&'a SyncStep),
    Notify(&'a NotifyStep),
    Plugin(&'a PluginStep),
    Branch(&'a BranchStep),
    PullRequest(&'a PullRequestStep),
    Pipeline(&'a PipelineStep),
}

impl StepRef<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            StepRef::Sync(_) => "sync",
            StepRef::Notify(_) => "notify",
            StepRef::Plugin(_) => "plugin",
            StepRef::Branch(_) => "branch",
            StepRef::PullRequest(_) => "pull_request",
            StepRef::Pipeline(_) => "pipeline",
        }
    }
}

/// At most 200 characters of `text`, for messages.
pub fn clip(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut s: String = text.chars().take(MAX).collect();
    s.push('…');
    s
}

/// What `host` finds wrong in the steps with outside effects of `workflows` before
/// any run, one error per step naming the file and the step (`steps[0].then[1]`).
pub fn problems(host: &dyn StepHost, workflows: &[Loaded]) -> Vec<FormatError> {
    let mut out = Vec::new();
    for w in workflows {
        walk(&w.workflow.steps, "steps", &mut |path, step| {
            if let Err(message) = host.check_step(&step) {
                out.push(FormatError {
                    file: w.file.clone(),
                    line: None,
                    key: format!("{path}.{}", step.name()),
                    message,
                });
            }
        });
    }
    out
}

/// Calls `f` on every step with an outside effect, with its place.
fn walk(steps: &[Step], prefix: &str, f: &mut dyn FnMut(String, StepRef<'_>)) {
    for (i, step) in steps.iter().enumerate() {
        let path = format!("{prefix}[{i}]");
        match &step.action {
            Action::Sync(s) => f(path, StepRef::Sync(s)),
            Action::Notify(n) => f(path, StepRef::Notify(n)),
            Action::Plugin(p) => f(path, StepRef::Plugin(p)),
            Action::Branch(b) => f(path, StepRef::Branch(b)),
            Action::PullRequest(p) => f(path, StepRef::PullRequest(p)),
            Action::Pipeline(p) => f(path, StepRef::Pipeline(p)),
            Action::If {
                then, otherwise, ..
            } => {
                walk(then, &format!("{path}.then"), f);
                walk(otherwise, &format!("{path}.else"), f);
            }
            Action::ForEach(e) => walk(&e.steps, &format!("{path}.for_each.steps"), f),
            Action::Parallel(branches) => {
                for (j, b) in branches.iter().enumerate() {
                    walk(b, &format!("{path}.parallel[{j}]"), f);
                }
            }
            _ => {}
        }
    }
}
