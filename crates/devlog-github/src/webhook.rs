//! GitHub webhooks: `X-Hub-Signature-256` is verified (HMAC-SHA256 with the webhook secret,
//! constant-time comparison) before the payload is parsed.
//!
//! Events (other repositories and unknown events are accepted and ignored):
//! - `ping`: nothing to apply;
//! - `issues`: the issue, mapped like a pull (`deleted` reports nothing: the item is gone);
//! - `issue_comment`: `created`/`edited` → the comment as a note of the linked entry,
//!   `deleted` → that note deleted (its history keeps it);
//! - `pull_request`: its state (open, merged, closed) through `pullRequestMapping`;
//! - `push`: commits whose messages mention entries (`devlog-<ref>`, `#<issue>`) add a note;
//! - `release`: entries whose issues or pull requests the release body mentions get a note;
//! - `projects_v2_item`: the card is read back and its Status/Priority move the entry.
//!
//! Payloads of older deliveries may lack fields or carry `null`s: they are read leniently.

use devlog_core::integration::{SyncError, SyncErrorKind, Webhook, WebhookOutcome};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::Sha256;

use devlog_core::entry::NoteCategory;
use devlog_core::integration::{Action, ActionTarget, RemoteAction, RemoteNote, WebhookSignal};
use devlog_core::sync_state::IntegrationEventKind;
use devlog_core::time::{Clock, SystemClock, Timestamp};

use crate::comments::Comment;
use crate::pulls::{PULL_REQUEST, PullRequest};
use crate::{GithubIntegration, Issue, NAME};

fn auth(message: &str) -> SyncError {
    SyncError::new(NAME, SyncErrorKind::Auth, message)
}

fn permanent(message: String) -> SyncError {
    SyncError::new(NAME, SyncErrorKind::Permanent, message)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The `X-Hub-Signature-256` value (`sha256=<hex>`) of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut out = String::from("sha256=");
    for b in bytes.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks the signature header against the body, in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SyncError> {
    let header = header.ok_or_else(|| {
        auth("webhook without an X-Hub-Signature-256 header; set the secret on the GitHub webhook")
    })?;
    let sig = header
        .strip_prefix("sha256=")
        .and_then(hex_decode)
        .ok_or_else(|| auth("X-Hub-Signature-256 is not `sha256=<hex>`"))?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|_| auth("the webhook secret cannot key HMAC-SHA256"))?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| {
        auth("webhook signature does not match; check integrations.github.webhookSecret")
    })
}

impl GithubIntegration {
    pub(crate) async fn webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
        let secret = self.config().webhook_secret.as_ref().ok_or_else(|| {
            auth("integrations.github.webhookSecret is not set; unsigned webhooks are refused")
        })?;
        verify(
            secret.expose_secret().as_bytes(),
            &hook.body,
            hook.header("x-hub-signature-256"),
        )?;
        let delivery_id = hook.header("x-github-delivery").map(str::to_string);
        let event = hook.header("x-github-event").unwrap_or_default();
        let mut out = WebhookOutcome::nothing(delivery_id);
        if !matches!(
            event,
            "issues" | "issue_comment" | "pull_request" | "push" | "release" | "projects_v2_item"
        ) {
            // `ping` needs no action; other events are not followed.
            return Ok(out);
        }
        let payload: Value = serde_json::from_slice(&hook.body)
            .map_err(|e| permanent(format!("webhook body is not JSON: {e}")))?;
        if let Some(repo) = payload
            .pointer("/repository/full_name")
            .and_then(Value::as_str)
            && !repo.eq_ignore_ascii_case(&format!(
                "{}/{}",
                self.config().owner,
                self.config().repo
            ))
        {
            return Ok(out);
        }
        let action = payload
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match event {
            "issues" => {
                if action == "deleted" {
                    return Ok(out);
                }
                let issue: Issue = part(&payload, "issue", event)?;
                if issue.pull_request.is_none() {
                    out.items.push(self.to_remote(&issue)?);
                }
            }
            "issue_comment" => {
                let issue: Issue = part(&payload, "issue", event)?;
                let comment: Comment = part(&payload, "comment", event)?;
                match action {
                    "created" | "edited" => out
                        .actions
                        .push(self.comment_action(issue.number, &comment)),
                    // The note mirroring it is deleted (kept in the entry's history).
                    "deleted" => out.actions.push(RemoteAction {
                        key: format!("comment:{}:deleted", comment.id),
                        target: ActionTarget::Linked {
                            remote_id: issue.number.to_string(),
                        },
                        action: Action::NoteDeleted {
                            remote_id: format!("comment:{}", comment.id),
                        },
                    }),
                    _ => {}
                }
            }
            "pull_request" => {
                let pr: PullRequest = part(&payload, "pull_request", event)?;
                out.signals
                    .extend(pull_request_signal(action, &pr, &payload));
                out.actions.extend(self.pull_request_action(
                    pr.number,
                    pr.state_name(),
                    pr.title.as_deref().unwrap_or_default(),
                ));
            }
            "push" => out.actions.extend(self.push_actions(&payload)),
            "release" => {
                if matches!(action, "published" | "released" | "created" | "edited") {
                    out.actions.extend(self.release_actions(&payload));
                }
            }
            "projects_v2_item" => {
                if let Some(ev) = self.project_move_from_webhook(&payload)
                    && ev.may_change_fields()
                    && let Some(m) = self.project_item(&ev.item_id).await?
                {
                    out.actions.push(self.project_action(&m));
                }
            }
            _ => {}
        }
        Ok(out)
    }

    /// A note on every entry a pushed commit mentions: `devlog-<ref>` names an entry,
    /// `#<n>` the entry linked to issue n (GitHub's own meaning of `#n`).
    fn push_actions(&self, payload: &Value) -> Vec<RemoteAction> {
        let branch = payload.get("ref").and_then(Value::as_str).map(|r| {
            r.strip_prefix("refs/heads/")
                .or_else(|| r.strip_prefix("refs/tags/"))
                .unwrap_or(r)
                .to_string()
        });
        let commits = payload
            .get("commits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for c in &commits {
            let (Some(sha), Some(message)) = (
                c.get("id").and_then(Value::as_str),
                c.get("message").and_then(Value::as_str),
            ) else {
                continue;
            };
            let summary = message.lines().next().unwrap_or_default().trim();
            let short = sha.get(..8).unwrap_or(sha);
            let author = c
                .pointer("/author/username")
                .or_else(|| c.pointer("/author/name"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let url = c.get("url").and_then(Value::as_str).map(str::to_string);
            let at = c
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<Timestamp>().ok())
                .unwrap_or_else(|| SystemClock.now());
            let text = match &branch {
                Some(b) => format!("Commit {short} pushed to {b}: {summary}"),
                None => format!("Commit {short}: {summary}"),
            };
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

    /// A note on every entry whose issue or pull request (`#n`) or devlog reference the
    /// release body mentions.
    fn release_actions(&self, payload: &Value) -> Vec<RemoteAction> {
        let Some(release) = payload.get("release") else {
            return Vec::new();
        };
        let s = |k: &str| release.get(k).and_then(Value::as_str);
        let (Some(id), Some(tag)) = (release.get("id").and_then(Value::as_u64), s("tag_name"))
        else {
            return Vec::new();
        };
        if release.get("draft").and_then(Value::as_bool) == Some(true) {
            return Vec::new();
        }
        let url = s("html_url").map(str::to_string);
        let author = release
            .pointer("/author/login")
            .and_then(Value::as_str)
            .map(str::to_string);
        let at = s("published_at")
            .or(s("created_at"))
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or_else(|| SystemClock.now());
        let text = format!("Released in {tag}");
        let mut out = Vec::new();
        for r in devlog_core::id::mentions(s("body").unwrap_or_default()) {
            let key = format!("release:{id}:{r}");
            out.push(mention_note(
                key.clone(),
                &r,
                &text,
                author.clone(),
                url.clone(),
                at,
            ));
            // `#n` may be a pull request attached to an entry rather than a linked issue.
            if let Some(n) = r.strip_prefix('#') {
                out.push(RemoteAction {
                    key: format!("{key}:pr"),
                    target: ActionTarget::Attached {
                        kind: PULL_REQUEST.into(),
                        remote_id: n.to_string(),
                    },
                    action: Action::Note(RemoteNote {
                        remote_id: format!("{key}:pr"),
                        text: text.clone(),
                        author: author.clone(),
                        url: url.clone(),
                        created_at: at,
                        note_marker: None,
                        category: Some(NoteCategory::Progress),
                    }),
                });
            }
        }
        out
    }
}

/// A progress note on the entry a mention names (`#n`: the entry linked to issue n).
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

/// A part of a payload, read leniently; a missing or unusable part is a clear error.
fn part<T: serde::de::DeserializeOwned>(
    payload: &Value,
    key: &str,
    event: &str,
) -> Result<T, SyncError> {
    serde_json::from_value(payload.get(key).cloned().unwrap_or_default()).map_err(|e| {
        permanent(format!(
            "webhook `{event}` payload without a usable `{key}`: {e}"
        ))
    })
}

/// The workflow event a `pull_request` delivery is: opened (or reopened), merged, or closed
/// without merging; other actions (edited, labeled, synchronize…) are none.
fn pull_request_signal(action: &str, pr: &PullRequest, payload: &Value) -> Option<WebhookSignal> {
    let kind = match action {
        "opened" | "reopened" => IntegrationEventKind::PullRequestOpened,
        "closed" if pr.state_name() == "merged" => IntegrationEventKind::PullRequestMerged,
        "closed" => IntegrationEventKind::PullRequestClosed,
        _ => return None,
    };
    let text = |p: &str| payload.pointer(p).and_then(Value::as_str);
    Some(WebhookSignal {
        kind,
        target: Some(ActionTarget::Attached {
            kind: PULL_REQUEST.into(),
            remote_id: pr.number.to_string(),
        }),
        data: serde_json::json!({
            "action": action,
            "pullRequest": {
                "number": pr.number,
                "url": pr.html_url,
                "title": pr.title,
                "branch": pr.head.as_ref().and_then(|h| h.name.clone()),
                "base": text("/pull_request/base/ref"),
                "mergedAt": pr.merged_at,
                "author": text("/pull_request/user/login"),
            },
            "repository": text("/repository/full_name"),
            "sender": text("/sender/login"),
        }),
    })
}
