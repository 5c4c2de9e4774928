//! Service hooks (`POST /webhooks/azure-devops`): Azure DevOps' Web Hooks consumer with Basic
//! credentials. The password must be `serviceHookSecret` (any user name); it is compared in
//! constant time before the body is parsed, and anything else (no `Authorization`, another
//! scheme, a wrong password, no secret configured) is refused as an `Auth` error.
//!
//! Events (docs/azure-devops.md):
//! - `workitem.created`, `workitem.updated`, `workitem.commented`, `workitem.restored`: the work
//!   item is read back (one `workitemsbatch` request, so an older delivery never overwrites a
//!   newer state) and returned as an item to pull, with its comments as notes when it has any;
//! - `workitem.deleted`: nothing to pull, said in [`ServiceHook::ignored`];
//! - `git.push`: commits whose messages mention entries (`devlog-<ref>`, `#<work item>`) add a
//!   progress note, as GitHub's push does;
//! - `git.pullrequest.*`: a pull request whose title or description mentions entries adds a
//!   note when it is created, merged, completed or abandoned;
//! - `build.complete`, `ms.vss-pipelines.run-state-changed-event` (completed runs): a note
//!   with the result and URL on the entry the run is attached to (kind [`PIPELINE_RUN`]) and
//!   on entries its branch names;
//! - `ms.vss-release.deployment-completed-event`: the deployment is added to the entries
//!   linked to the work items the release carries, with a note ([`crate::deployments`]);
//! - any other event: ignored, said so.
//!
//! The event's `id` is the delivery id: Azure DevOps retries a notification with the same
//! event, so the engine applies it once. Payloads are read leniently (a UTF-8 BOM is
//! stripped; missing and `null` fields are tolerated); a body that is not JSON, or has no
//! `eventType`, is a permanent error saying so.

use devlog_core::entry::NoteCategory;
use devlog_core::integration::{
    Action, ActionTarget, RemoteAction, RemoteNote, SyncError, SyncErrorKind, Webhook,
    WebhookOutcome, WebhookSignal,
};
use devlog_core::sync_state::IntegrationEventKind;
use devlog_core::time::{Clock, SystemClock, Timestamp};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::{AdoIntegration, NAME};

/// The engine's attachment kind for pipeline runs (a build is a run: same id).
pub const PIPELINE_RUN: &str = "pipeline-run";

/// What a service hook delivered, with what devlog did not take from it and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHook {
    /// `eventType` (`workitem.updated`, `git.push`, …).
    pub event_type: String,
    /// Items to pull and actions, with the event id as the delivery id.
    pub outcome: WebhookOutcome,
    /// Why the event (or part of it) was not taken: another project, a deleted work item,
    /// an event devlog does not follow, release artifacts whose work items cannot be read.
    pub ignored: Option<String>,
}

fn auth(message: String) -> SyncError {
    SyncError::new(NAME, SyncErrorKind::Auth, message)
}

fn permanent(message: String) -> SyncError {
    SyncError::new(NAME, SyncErrorKind::Permanent, message)
}

/// Standard base64 (with or without padding); `None` when it is not.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Whether `a` equals `b`, in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = u64::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Checks the `Authorization: Basic` password against `secret`, in constant time.
pub fn verify(secret: &[u8], authorization: Option<&str>, table: &str) -> Result<(), SyncError> {
    let header = authorization.ok_or_else(|| {
        auth(format!(
            "service hook without credentials: set the Basic user name and password (integrations.{table}.serviceHookSecret) on the Web Hooks subscription"
        ))
    })?;
    let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(auth(
            "service hook credentials are not Basic: the Web Hooks subscription must use Basic authentication".into(),
        ));
    }
    let decoded = base64_decode(value)
        .ok_or_else(|| auth("service hook Basic credentials are not base64".into()))?;
    // Any user name; the password is everything after the first `:`.
    let password = match decoded.iter().position(|b| *b == b':') {
        Some(i) => &decoded[i + 1..],
        None => {
            return Err(auth(
                "service hook Basic credentials are not `user:password`".into(),
            ));
        }
    };
    if constant_time_eq(password, secret) {
        Ok(())
    } else {
        Err(auth(format!(
            "service hook password does not match integrations.{table}.serviceHookSecret"
        )))
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn time(v: &Value, pointer: &str) -> Option<Timestamp> {
    s(v, pointer).and_then(|t| crate::workitem::parse_time(t).ok())
}

/// A branch without `refs/heads/`.
fn branch_name(r: &str) -> &str {
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/tags/"))
        .unwrap_or(r)
}

/// The entries a branch name refers to (`feature/devlog-12-login`): its parts read as text.
fn branch_mentions(branch: &str) -> Vec<String> {
    devlog_core::id::mentions(&branch.replace(['/', '_'], " "))
        .into_iter()
        .filter(|r| !r.starts_with('#'))
        .collect()
}

/// A progress note on the entry a mention names (`#n`: the entry linked to work item n, the
/// meaning `#n` has in Azure Repos).
fn mention_note(
    key: String,
    reference: &str,
    text: &str,
    author: Option<String>,
    url: Option<String>,
    at: Timestamp,
) -> RemoteAction {
    let target = match reference.strip_prefix('#') {
        Some(n) => ActionTarget::Linked {
            remote_id: n.to_string(),
        },
        None => ActionTarget::Reference {
            reference: reference.to_string(),
        },
    };
    note(key, target, text, author, url, at)
}

fn note(
    key: String,
    target: ActionTarget,
    text: &str,
    author: Option<String>,
    url: Option<String>,
    at: Timestamp,
) -> RemoteAction {
    RemoteAction {
        key: key.clone(),
        target,
        action: Action::Note(RemoteNote {
            remote_id: key,
            text: text.to_string(),
            author,
            url,
            created_at: at,
            note_marker: None,
            category: Some(NoteCategory::Progress),
        }),
    }
}

impl AdoIntegration {
    /// Verifies a service hook delivery and reads it (see the module documentation).
    pub async fn service_hook(&self, hook: &Webhook) -> Result<ServiceHook, SyncError> {
        let table = self.config.table;
        let secret = self.config.service_hook_secret.as_ref().ok_or_else(|| {
            auth(format!(
                "integrations.{table}.serviceHookSecret is not set; service hooks without credentials are refused"
            ))
        })?;
        verify(
            secret.expose_secret().as_bytes(),
            hook.header("authorization"),
            table,
        )?;
        let body = hook
            .body
            .strip_prefix("\u{feff}".as_bytes())
            .unwrap_or(&hook.body);
        let payload: Value = serde_json::from_slice(body)
            .map_err(|e| permanent(format!("service hook body is not JSON: {e}")))?;
        let event_type = s(&payload, "/eventType")
            .ok_or_else(|| {
                permanent(
                    "service hook payload without `eventType`: not an Azure DevOps service hook event"
                        .into(),
                )
            })?
            .to_string();
        let delivery_id = s(&payload, "/id").map(str::to_string);
        let mut out = ServiceHook {
            event_type: event_type.clone(),
            outcome: WebhookOutcome::nothing(delivery_id),
            ignored: None,
        };
        let resource = payload.get("resource").cloned().unwrap_or(Value::Null);
        if let Some(other) = self.other_project(&resource) {
            out.ignored = Some(format!(
                "`{event_type}` is about project {other}, not {}",
                self.project()
            ));
            return Ok(out);
        }
        match event_type.as_str() {
            "workitem.created" | "workitem.updated" | "workitem.commented"
            | "workitem.restored" => {
                let Some(id) = work_item_id(&event_type, &resource) else {
                    return Err(permanent(format!(
                        "service hook `{event_type}` without a work item id in `resource`"
                    )));
                };
                let meta = self.meta().await?;
                let mut iterations_read = false;
                for w in self.batch(&[id]).await? {
                    let (item, actions) = self.read_back(meta, &w, &mut iterations_read).await?;
                    out.outcome.items.extend(item);
                    out.outcome.actions.extend(actions);
                }
                if out.outcome.items.is_empty() {
                    out.ignored = Some(format!(
                        "work item {id} could not be read (deleted since, or not devlog's)"
                    ));
                } else if event_type == "workitem.updated" {
                    out.outcome.signals.push(work_item_signal(id, &resource));
                }
            }
            "workitem.deleted" => {
                out.ignored = Some(format!(
                    "work item {} was deleted in Azure DevOps; devlog does not follow deletions yet (the entry keeps its link)",
                    s(&resource, "/id")
                        .map(str::to_string)
                        .or_else(|| resource.get("id").map(Value::to_string))
                        .unwrap_or_else(|| "?".into())
                ));
            }
            "git.push" => out.outcome.actions = push_actions(&resource),
            t if t.starts_with("git.pullrequest.") => {
                out.outcome.actions = pull_request_actions(t, &resource)
            }
            "build.complete" => out.outcome.actions = build_actions(&resource),
            "ms.vss-pipelines.run-state-changed-event" => {
                let state = s(&resource, "/run/state").unwrap_or_default();
                if state.eq_ignore_ascii_case("completed") {
                    out.outcome.actions = run_actions(&resource);
                } else {
                    out.ignored = Some(format!(
                        "pipeline run is `{state}`; a note is added when it completes"
                    ));
                }
            }
            "ms.vss-release.deployment-completed-event" => {
                let (actions, ignored) = self.deployment_actions(&payload).await?;
                out.outcome.signals = deployment_signals(&payload, &actions);
                out.outcome.actions = actions;
                out.ignored = ignored;
            }
            other => {
                out.ignored = Some(format!("event `{other}` is not followed by devlog"));
            }
        }
        Ok(out)
    }

    /// The project a payload names, when it is not the configured one.
    fn other_project(&self, resource: &Value) -> Option<String> {
        let named = [
            "/fields/System.TeamProject",
            "/revision/fields/System.TeamProject",
            "/repository/project/name",
            "/project/name",
        ]
        .iter()
        .find_map(|p| resource.pointer(p).and_then(Value::as_str));
        named
            .filter(|n| !n.eq_ignore_ascii_case(self.project()))
            .map(str::to_string)
    }
}

/// The work item a work item event is about: `resource.id`, except on `workitem.updated`,
/// whose resource is the update (`workItemId`, else `revision.id`).
fn work_item_id(event: &str, resource: &Value) -> Option<u64> {
    let id = |p: &str| {
        resource
            .pointer(p)
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
    };
    if event == "workitem.updated" {
        id("/workItemId").or_else(|| id("/revision/id"))
    } else {
        id("/id")
    }
}

/// A note on every entry a pushed commit mentions.
fn push_actions(resource: &Value) -> Vec<RemoteAction> {
    let branch = s(resource, "/refUpdates/0/name").map(branch_name);
    let web = s(resource, "/repository/remoteUrl");
    let pusher = s(resource, "/pushedBy/displayName").map(str::to_string);
    let pushed_at = time(resource, "/date");
    let mut out = Vec::new();
    let commits = resource
        .get("commits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &commits {
        let (Some(sha), Some(message)) = (s(c, "/commitId"), s(c, "/comment")) else {
            continue;
        };
        let short = sha.get(..8).unwrap_or(sha);
        let summary = message.lines().next().unwrap_or_default().trim();
        let text = match branch {
            Some(b) => format!("Commit {short} pushed to {b}: {summary}"),
            None => format!("Commit {short}: {summary}"),
        };
        let author = s(c, "/author/name")
            .map(str::to_string)
            .or_else(|| pusher.clone());
        let url = web.map(|w| format!("{w}/commit/{sha}"));
        let at = time(c, "/author/date")
            .or(pushed_at)
            .unwrap_or_else(|| SystemClock.now());
        for r in devlog_core::id::mentions(message) {
            out.push(mention_note(
                format!("commit:{sha}:{r}"),
                &r,
                &text,
                author.clone(),
                url.clone(),
                at,
            ));
        }
    }
    out
}

/// A note on every entry a pull request's title or description mentions, when it is created,
/// merged, completed or abandoned (other updates add nothing).
fn pull_request_actions(event: &str, resource: &Value) -> Vec<RemoteAction> {
    let Some(id) = resource.get("pullRequestId").and_then(Value::as_u64) else {
        return Vec::new();
    };
    let status = s(resource, "/status").unwrap_or("active");
    let state = match (event, status) {
        (_, "completed") => "completed",
        (_, "abandoned") => "abandoned",
        ("git.pullrequest.created", _) => "created",
        ("git.pullrequest.merged", _) => "merged",
        _ => return Vec::new(),
    };
    let title = s(resource, "/title").unwrap_or_default();
    let text = format!(
        "Pull request {id} {state} in {}{}",
        s(resource, "/repository/name").unwrap_or("Azure Repos"),
        if title.is_empty() {
            String::new()
        } else {
            format!(": {title}")
        }
    );
    let url = s(resource, "/repository/remoteUrl").map(|w| format!("{w}/pullrequest/{id}"));
    let author = s(resource, "/createdBy/displayName").map(str::to_string);
    let at = time(resource, "/closedDate")
        .or_else(|| time(resource, "/creationDate"))
        .unwrap_or_else(|| SystemClock.now());
    let repo = s(resource, "/repository/id").unwrap_or_default();
    let mentioned = format!(
        "{title}\n{}",
        s(resource, "/description").unwrap_or_default()
    );
    let mut refs = devlog_core::id::mentions(&mentioned);
    if let Some(b) = s(resource, "/sourceRefName") {
        for r in branch_mentions(branch_name(b)) {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
    }
    refs.iter()
        .map(|r| {
            mention_note(
                format!("pr:{repo}:{id}:{state}:{r}"),
                r,
                &text,
                author.clone(),
                url.clone(),
                at,
            )
        })
        .collect()
}

/// The note of a finished run: the same words from the service hook and from polling.
pub(crate) fn run_text(pipeline: &str, name: &str, result: &str, branch: Option<&str>) -> String {
    match branch {
        Some(b) => format!("Pipeline {pipeline} run {name} {result} on {b}"),
        None => format!("Pipeline {pipeline} run {name} {result}"),
    }
}

/// The progress note of a finished run on `target`, keyed `key` (`run:<id>` for the entry the
/// run is attached to: the key the hook and the poll share).
pub(crate) fn run_note_action(
    key: String,
    target: ActionTarget,
    text: &str,
    url: Option<String>,
    at: Timestamp,
) -> RemoteAction {
    note(key, target, text, None, url, at)
}

/// A finished run: a note on the entry it is attached to, and on entries its branch names.
fn run_note(
    run_id: String,
    text: String,
    branch: Option<&str>,
    url: Option<String>,
    author: Option<String>,
    at: Timestamp,
) -> Vec<RemoteAction> {
    let key = format!("run:{run_id}");
    let mut out = vec![note(
        key.clone(),
        ActionTarget::Attached {
            kind: PIPELINE_RUN.into(),
            remote_id: run_id,
        },
        &text,
        author.clone(),
        url.clone(),
        at,
    )];
    for r in branch.map(branch_mentions).unwrap_or_default() {
        out.push(mention_note(
            format!("{key}:{r}"),
            &r,
            &text,
            author.clone(),
            url.clone(),
            at,
        ));
    }
    out
}

/// `build.complete` (XAML-era payloads carry `status`, newer ones `result`).
fn build_actions(resource: &Value) -> Vec<RemoteAction> {
    let Some(id) = resource.get("id").and_then(Value::as_u64) else {
        return Vec::new();
    };
    let result = s(resource, "/result")
        .or_else(|| s(resource, "/status"))
        .unwrap_or("completed");
    // `sourceBranch`, else `sourceGetVersion` (`LG:refs/heads/master:<sha>`).
    let branch = s(resource, "/sourceBranch").map(branch_name).or_else(|| {
        s(resource, "/sourceGetVersion")
            .and_then(|v| v.split(':').nth(1))
            .map(branch_name)
    });
    let number = s(resource, "/buildNumber")
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string());
    let definition = s(resource, "/definition/name").unwrap_or("pipeline");
    let text = match branch {
        Some(b) => format!("Build {number} of {definition} {result} on {b}"),
        None => format!("Build {number} of {definition} {result}"),
    };
    let url = s(resource, "/_links/web/href")
        .or_else(|| s(resource, "/url"))
        .map(str::to_string);
    let author = s(resource, "/requestedFor/displayName")
        .or_else(|| s(resource, "/lastChangedBy/displayName"))
        .map(str::to_string);
    let at = time(resource, "/finishTime").unwrap_or_else(|| SystemClock.now());
    run_note(id.to_string(), text, branch, url, author, at)
}

/// `ms.vss-pipelines.run-state-changed-event` of a completed run.
fn run_actions(resource: &Value) -> Vec<RemoteAction> {
    let Some(id) = resource.pointer("/run/id").and_then(Value::as_u64) else {
        return Vec::new();
    };
    let result = s(resource, "/run/result").unwrap_or("completed");
    let pipeline = s(resource, "/pipeline/name")
        .or_else(|| s(resource, "/run/pipeline/name"))
        .unwrap_or("pipeline");
    let name = s(resource, "/run/name")
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string());
    let branch = s(resource, "/run/resources/repositories/self/refName").map(branch_name);
    let text = run_text(pipeline, &name, result, branch);
    let url = s(resource, "/run/_links/web/href")
        .or_else(|| s(resource, "/run/url"))
        .map(str::to_string);
    let at = time(resource, "/run/finishedDate").unwrap_or_else(|| SystemClock.now());
    run_note(id.to_string(), text, branch, url, None, at)
}

/// The workflow events of a completed deployment: one per work item of the release linked to
/// an entry (`entry` is that entry), or one without an entry when it carries none.
fn deployment_signals(payload: &Value, actions: &[RemoteAction]) -> Vec<WebhookSignal> {
    let ev = crate::deployments::DeploymentEvent::read(payload);
    let data = serde_json::json!({
        "environment": ev.environment,
        "status": ev.status,
        "release": {"id": ev.release_id, "name": ev.release},
        "deployment": {"id": ev.key},
        "url": ev.url,
    });
    let signal = |target| WebhookSignal {
        kind: IntegrationEventKind::DeploymentCompleted,
        target,
        data: data.clone(),
    };
    let targets: Vec<WebhookSignal> = actions
        .iter()
        .filter(|a| matches!(a.action, Action::Deployment { .. }))
        .map(|a| signal(Some(a.target.clone())))
        .collect();
    if targets.is_empty() {
        vec![signal(None)]
    } else {
        targets
    }
}

/// The workflow event of a work item update: the fields it changed (`fields`, their
/// reference names) and, when the state moved, `from` and `to`.
fn work_item_signal(id: u64, resource: &Value) -> WebhookSignal {
    let fields = resource.get("fields").and_then(Value::as_object);
    let state = fields.and_then(|f| f.get("System.State"));
    let names: Vec<&String> = fields.map(|f| f.keys().collect()).unwrap_or_default();
    WebhookSignal {
        kind: IntegrationEventKind::WorkItemUpdated,
        target: Some(ActionTarget::Linked {
            remote_id: id.to_string(),
        }),
        data: serde_json::json!({
            "workItem": {"id": id, "rev": resource.get("rev")},
            "fields": names,
            "from": state.and_then(|s| s.get("oldValue")),
            "to": state.and_then(|s| s.get("newValue")),
            "user": s(resource, "/revisedBy/displayName"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("dTpwdw==").unwrap(), b"u:pw");
        assert_eq!(base64_decode("dTpwdw").unwrap(), b"u:pw");
        assert_eq!(base64_decode("OnNlY3JldA==").unwrap(), b":secret");
        assert!(base64_decode("not base64!").is_none());
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn branches_name_entries_by_devlog_reference() {
        assert_eq!(
            branch_mentions("feature/devlog-12-login"),
            vec!["devlog-12".to_string()]
        );
        assert!(branch_mentions("master").is_empty());
    }

    #[test]
    fn the_update_event_names_its_work_item_by_revision() {
        let r = serde_json::json!({"id": 2, "workItemId": 0, "revision": {"id": 5}});
        assert_eq!(work_item_id("workitem.updated", &r), Some(5));
        assert_eq!(work_item_id("workitem.created", &r), Some(2));
    }
}
