//! Jira webhooks (`POST /webhooks/jira`): authenticated before the payload is parsed, then
//! turned into what the sync engine applies (docs/jira.md, "Webhooks").
//!
//! Authentication: with `webhookSecret`, the `X-Hub-Signature: sha256=<hex>` HMAC-SHA256 of
//! the raw body (what Jira sends for webhooks registered with a secret), compared in constant
//! time; without it, `webhookToken` must be the URL's `token` query parameter (compared in
//! constant time). With neither, every delivery is refused, saying what to configure.
//!
//! Events (Jira Cloud and Jira Server/Data Center shapes; missing and `null` fields are
//! tolerated; other projects and other events are accepted and ignored):
//! - `jira:issue_created`, `jira:issue_updated`: the issue is read back through the REST API
//!   v3 (the payload carries API v2 fields: wiki-markup text, no ADF, no property) and merged
//!   like a pulled item; a Server `issue_updated` that carries a comment (`issue_commented`,
//!   `issue_comment_edited`, `issue_comment_deleted`) also follows the comment;
//! - `jira:issue_deleted`: nothing (the entry keeps its link; the next push reports the issue
//!   gone);
//! - `comment_created`, `comment_updated`: the comment is read back (API v3: ADF body and
//!   devlog's note marker) and becomes, or edits, the note mirroring it (a comment by someone
//!   else: a `feedback` note with its author); `comment_deleted`: that note is deleted;
//! - `worklog_created`, `worklog_updated`, `worklog_deleted`: the issue is read back (its time
//!   tracking changed) and the worklog read back through API v3 becomes, or edits, the worklog
//!   mirroring it (someone else's: a worklog with its author); deleted, that worklog is removed;
//! - `sprint_started`, `sprint_closed`: each issue of the project in the sprint gets a progress
//!   note on its entry ("Sprint `N` started") and is read back, so the sprint kept on its
//!   entry is refreshed (issue events carry the Sprint field too when `boardId` is set).
//!
//! Retries of one delivery carry the same `X-Atlassian-Webhook-Identifier`: it is the delivery
//! id the engine de-duplicates on (in the shared sync state), so a retry is applied once.

use devlog_core::entry::NoteCategory;
use devlog_core::integration::{
    Action, ActionTarget, RemoteAction, RemoteItem, RemoteNote, SyncError, SyncErrorKind, Webhook,
    WebhookOutcome, WebhookSignal,
};
use devlog_core::sync_state::IntegrationEventKind;
use devlog_core::time::Timestamp;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::comments::note_remote_id;
use crate::worklogs::worklog_remote_id;
use crate::{JiraIntegration, NAME};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature";
/// The header identifying a delivery (the same on its retries).
pub const DELIVERY_HEADER: &str = "x-atlassian-webhook-identifier";

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

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// The `X-Hub-Signature` value (`sha256=<hex>`) of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    let mut out = String::from("sha256=");
    for b in m.finalize().into_bytes().iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks the signature header against the raw body, in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SyncError> {
    let header = header.ok_or_else(|| {
        auth(
            "webhook without an X-Hub-Signature header: integrations.jira.webhookSecret is set, so \
             register the Jira webhook with the same secret",
        )
    })?;
    let sig = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(hex_decode)
        .ok_or_else(|| auth("X-Hub-Signature is not `sha256=<hex>`"))?;
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&sig).map_err(|_| {
        auth("webhook signature does not match; check integrations.jira.webhookSecret")
    })
}

/// Compares two byte strings in time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    // HMAC both under one key: comparing the tags is constant-time (`verify_slice`), and the
    // lengths of the tokens do not leak through an early exit.
    let mut m = mac(b"devlog webhook token");
    m.update(a);
    let tag = m.finalize().into_bytes();
    let mut m = mac(b"devlog webhook token");
    m.update(b);
    m.verify_slice(&tag).is_ok()
}

/// Checks the token of the URL (`?token=`) in constant time.
pub fn verify_token(expected: &str, given: Option<&str>) -> Result<(), SyncError> {
    let given = given.ok_or_else(|| {
        auth(
            "webhook URL without a token: register the Jira webhook as \
             …/webhooks/jira?token=<integrations.jira.webhookToken>",
        )
    })?;
    if same(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(auth(
            "webhook token does not match; check integrations.jira.webhookToken and the webhook's URL",
        ))
    }
}

/// A field of the payload read as text (`null`, absent or not a string: `None`).
fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An id that Jira sends as a string or a number.
fn id_of(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The issue id in a REST URL (`…/rest/api/2/issue/10040/comment/10019`).
fn issue_in_url(url: &str) -> Option<String> {
    let parts: Vec<&str> = url.split('/').collect();
    let k = parts.iter().position(|p| *p == "issue")?;
    parts
        .get(k + 1)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
}

/// When the event happened: the payload's `timestamp` (ms), else now.
fn event_time(payload: &Value) -> Timestamp {
    payload
        .get("timestamp")
        .and_then(Value::as_i64)
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(Timestamp::from_datetime)
        .unwrap_or_else(|| Timestamp::from_datetime(chrono::Utc::now()))
}

impl JiraIntegration {
    /// Authenticates a delivery: the signature, else the URL's token, else a refusal naming
    /// what to configure. Runs before the body is parsed.
    pub fn verify_webhook(&self, hook: &Webhook) -> Result<(), SyncError> {
        let c = self.config();
        if let Some(secret) = &c.webhook_secret {
            return verify_signature(
                secret.expose_secret().as_bytes(),
                &hook.body,
                hook.header(SIGNATURE_HEADER),
            );
        }
        if let Some(token) = &c.webhook_token {
            return verify_token(token.expose_secret(), hook.query_param("token"));
        }
        Err(auth(
            "Jira webhooks are refused: set integrations.jira.webhookSecret (and the same secret on \
             the Jira webhook) or integrations.jira.webhookToken (and ?token=… in the webhook's URL)",
        ))
    }

    pub(crate) async fn webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
        self.verify_webhook(hook)?;
        let payload: Value = serde_json::from_slice(&hook.body).map_err(|e| {
            permanent(format!(
                "the Jira webhook body is not JSON ({e}); nothing was applied"
            ))
        })?;
        if !payload.is_object() {
            return Err(permanent(
                "the Jira webhook body is not a JSON object; nothing was applied".into(),
            ));
        }
        let delivery_id = hook.header(DELIVERY_HEADER).map(str::to_string);
        let mut out = WebhookOutcome::nothing(delivery_id);
        let event = text(&payload, "/webhookEvent").unwrap_or_default();
        let kind = text(&payload, "/issue_event_type_name").unwrap_or_default();
        match event {
            "jira:issue_created" | "jira:issue_updated" => {
                if !self.ours(&payload) {
                    return Ok(out);
                }
                let Some(key) = text(&payload, "/issue/key").or(text(&payload, "/issue/id")) else {
                    return Err(permanent(format!(
                        "the Jira `{event}` webhook carries no issue key; nothing was applied"
                    )));
                };
                if let Some(item) = self.read_back(key).await? {
                    let key = item.remote_id.clone();
                    out.items.push(item);
                    out.signals.extend(transition_signal(&payload, &key));
                    if kind == "issue_commented" {
                        out.signals.extend(comment_signal(&payload, &key));
                    }
                    // Server (and older Cloud) deliveries carry a comment event in an update.
                    if payload.get("comment").is_some_and(Value::is_object) {
                        let deleted = kind == "issue_comment_deleted";
                        if matches!(kind, "issue_commented" | "issue_comment_edited") || deleted {
                            out.actions
                                .extend(self.hook_comment_action(&payload, &key, deleted).await?);
                        }
                    }
                }
            }
            "comment_created" | "comment_updated" | "comment_deleted" => {
                if let Some(key) = self.comment_issue(&payload).await? {
                    if event == "comment_created" {
                        out.signals.extend(comment_signal(&payload, &key));
                    }
                    out.actions.extend(
                        self.hook_comment_action(&payload, &key, event == "comment_deleted")
                            .await?,
                    );
                }
            }
            "worklog_created" | "worklog_updated" | "worklog_deleted" => {
                let Some(issue) = id_of(&payload, "/worklog/issueId") else {
                    return Err(permanent(format!(
                        "the Jira `{event}` webhook carries no worklog.issueId; nothing was applied"
                    )));
                };
                if let Some(item) = self.read_back(&issue).await? {
                    let key = item.remote_id.clone();
                    out.items.push(item);
                    out.actions.extend(
                        self.hook_worklog_action(&payload, &key, event == "worklog_deleted")
                            .await?,
                    );
                }
            }
            "sprint_started" | "sprint_closed" => {
                (out.items, out.actions) = self.sprint_actions(&payload, event).await?;
            }
            // `jira:issue_deleted`: the entry keeps its link (docs/jira.md). Other events are
            // not followed.
            _ => {}
        }
        Ok(out)
    }

    /// Whether the payload's issue is in the configured project (a payload without the
    /// project is checked once the issue is read back).
    fn ours(&self, payload: &Value) -> bool {
        let project = self.config().project_key.as_str();
        match text(payload, "/issue/fields/project/key") {
            Some(k) => k.eq_ignore_ascii_case(project),
            None => text(payload, "/issue/key")
                .is_none_or(|k| k.rsplit_once('-').is_some_and(|(p, _)| p == project)),
        }
    }

    /// The issue as the API v3 gives it, mapped; `None` when it is gone, not visible, or in
    /// another project.
    async fn read_back(&self, key: &str) -> Result<Option<RemoteItem>, SyncError> {
        let issue = match self.get_issue(key).await {
            Ok(i) => i,
            Err(e) if e.kind == SyncErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let project = &self.config().project_key;
        if issue.key.rsplit_once('-').is_none_or(|(p, _)| p != project) {
            return Ok(None);
        }
        // Resolved (once per run) before the mapping, so a failure to list the fields is
        // not mistaken for an unreadable issue below.
        self.mapped_fields().await?;
        self.sprint_field().await?;
        // Mapped as a pull maps it, the Sprint field included (`RemoteItem::sprint`), so the
        // engine keeps the entry's sprint current from webhooks too.
        match self.to_remote(&issue).await {
            Ok(item) => Ok(Some(item)),
            // Not devlog's issue and unreadable: nothing to apply.
            Err(_) if issue.marker().is_none() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The key of the issue a comment event is about (read back when the payload names its id
    /// only, as Server's do); `None` for another project's issue or when notes are not synced.
    async fn comment_issue(&self, payload: &Value) -> Result<Option<String>, SyncError> {
        if !self.config().sync_notes {
            return Ok(None);
        }
        if payload.get("issue").is_some_and(Value::is_object) {
            if !self.ours(payload) {
                return Ok(None);
            }
            if let Some(k) = text(payload, "/issue/key") {
                return Ok(Some(k.to_string()));
            }
        }
        let id = id_of(payload, "/issue/id")
            .or_else(|| text(payload, "/comment/self").and_then(issue_in_url));
        let Some(id) = id else {
            return Err(permanent(
                "the Jira comment webhook names no issue (issue.key, issue.id or comment.self); nothing was applied"
                    .into(),
            ));
        };
        Ok(self.read_back(&id).await?.map(|i| i.remote_id))
    }

    /// The note action of a comment event on issue `key`: deleted, the note mirroring the
    /// comment is deleted; else the comment is read back through API v3 (its ADF body and
    /// devlog's note marker, which the v2 payload lacks) and mapped as a pull maps it
    /// ([`JiraIntegration::comment_action`]).
    async fn hook_comment_action(
        &self,
        payload: &Value,
        key: &str,
        deleted: bool,
    ) -> Result<Option<RemoteAction>, SyncError> {
        if !self.config().sync_notes {
            return Ok(None);
        }
        let Some(id) = id_of(payload, "/comment/id") else {
            return Ok(None);
        };
        if deleted {
            return Ok(Some(RemoteAction {
                key: format!("{}:deleted", note_remote_id(&id)),
                target: ActionTarget::Linked {
                    remote_id: key.to_string(),
                },
                action: Action::NoteDeleted {
                    remote_id: note_remote_id(&id),
                },
            }));
        }
        let comments = match self.issue_comments(key).await {
            Ok(c) => c,
            Err(e) if e.kind == SyncErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(comments
            .iter()
            .find(|c| c.id == id)
            .map(|c| self.comment_action(key, c)))
    }

    /// The worklog action of a worklog event on issue `key`, as a pull would find it: deleted,
    /// the worklog mirroring it is removed; else the worklog is read back through API v3 (its
    /// ADF comment and devlog's worklog marker, which the v2 payload lacks) and mapped by
    /// [`JiraIntegration::worklog_action`] (ours by the marker; someone else's becomes a
    /// worklog with its author). `None` when worklogs are not synced or it is gone.
    async fn hook_worklog_action(
        &self,
        payload: &Value,
        key: &str,
        deleted: bool,
    ) -> Result<Option<RemoteAction>, SyncError> {
        if !self.config().sync_worklogs {
            return Ok(None);
        }
        let Some(id) = id_of(payload, "/worklog/id") else {
            return Ok(None);
        };
        if deleted {
            return Ok(Some(RemoteAction {
                key: format!("{}:deleted", worklog_remote_id(&id)),
                target: ActionTarget::Linked {
                    remote_id: key.to_string(),
                },
                action: Action::WorklogDeleted {
                    remote_id: worklog_remote_id(&id),
                },
            }));
        }
        let worklogs = match self.issue_worklogs(key).await {
            Ok(w) => w,
            Err(e) if e.kind == SyncErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(worklogs
            .iter()
            .find(|w| w.id == id)
            .and_then(|w| self.worklog_action(key, w)))
    }

    /// A progress note on the entry of each project issue in the sprint, and those issues
    /// read back (their sprint).
    async fn sprint_actions(
        &self,
        payload: &Value,
        event: &str,
    ) -> Result<(Vec<RemoteItem>, Vec<RemoteAction>), SyncError> {
        let Some(sprint) = id_of(payload, "/sprint/id") else {
            return Err(permanent(format!(
                "the Jira `{event}` webhook carries no sprint.id; nothing was applied"
            )));
        };
        if let (Some(board), Some(from)) = (
            self.config().board_id,
            payload
                .pointer("/sprint/originBoardId")
                .and_then(Value::as_u64),
        ) && board != from
        {
            return Ok((Vec::new(), Vec::new()));
        }
        let name = text(payload, "/sprint/name").unwrap_or("(unnamed)");
        let what = if event == "sprint_started" {
            "started"
        } else {
            "closed"
        };
        let keys = self.sprint_issues(&sprint).await?;
        // The sprint's issues read back: their Sprint field changed with the sprint's state,
        // so the sprint kept on their entries is refreshed as a pull would.
        let mut items = Vec::new();
        for key in &keys {
            items.extend(self.read_back(key).await?);
        }
        let actions = keys
            .into_iter()
            .map(|key| RemoteAction {
                key: format!("jira-sprint:{sprint}:{what}:{key}"),
                target: ActionTarget::Linked {
                    remote_id: key.clone(),
                },
                action: Action::Note(RemoteNote {
                    remote_id: format!("sprint:{sprint}:{what}:{key}"),
                    text: format!("Sprint `{name}` {what} (Jira {key})."),
                    author: None,
                    url: None,
                    created_at: event_time(payload),
                    note_marker: None,
                    category: Some(NoteCategory::Progress),
                }),
            })
            .collect();
        Ok((items, actions))
    }
}

/// The workflow event of an issue update whose changelog moved the status: `from` and `to`
/// are the status names as Jira shows them.
fn transition_signal(payload: &Value, key: &str) -> Option<WebhookSignal> {
    let items = payload.pointer("/changelog/items")?.as_array()?;
    let change = items
        .iter()
        .find(|i| text(i, "/field") == Some("status") || text(i, "/fieldId") == Some("status"))?;
    Some(WebhookSignal {
        kind: IntegrationEventKind::IssueTransitioned,
        target: Some(ActionTarget::Linked {
            remote_id: key.to_string(),
        }),
        data: json!({
            "issue": {
                "key": key,
                "title": text(payload, "/issue/fields/summary"),
                "url": text(payload, "/issue/self"),
            },
            "from": text(change, "/fromString"),
            "to": text(change, "/toString"),
            "user": text(payload, "/user/displayName"),
        }),
    })
}

/// The workflow event of a comment added to issue `key`.
fn comment_signal(payload: &Value, key: &str) -> Option<WebhookSignal> {
    let comment = payload.get("comment").filter(|c| c.is_object())?;
    Some(WebhookSignal {
        kind: IntegrationEventKind::IssueCommented,
        target: Some(ActionTarget::Linked {
            remote_id: key.to_string(),
        }),
        data: json!({
            "issue": {"key": key, "title": text(payload, "/issue/fields/summary")},
            "comment": {
                "id": text(comment, "/id"),
                "author": text(comment, "/author/displayName"),
                "body": comment.get("body").filter(|b| b.is_string()),
            },
        }),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_is_refused() {
        let sig = signature(b"s3cret", b"{}");
        assert!(verify_signature(b"s3cret", b"{}", Some(&sig)).is_ok());
        assert!(verify_signature(b"s3cret", b"{ }", Some(&sig)).is_err());
        assert!(verify_signature(b"other", b"{}", Some(&sig)).is_err());
        assert!(verify_signature(b"s3cret", b"{}", Some("sha1=00")).is_err());
        assert!(verify_signature(b"s3cret", b"{}", None).is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(verify_token("abcdefabcdefabcdef", Some("abcdefabcdefabcdef")).is_ok());
        assert!(verify_token("abcdefabcdefabcdef", Some("abcdefabcdefabcde")).is_err());
        assert!(verify_token("abcdefabcdefabcdef", Some("")).is_err());
        assert!(verify_token("abcdefabcdefabcdef", None).is_err());
    }

    #[test]
    fn issue_ids_are_found_in_rest_urls() {
        assert_eq!(
            issue_in_url("https://x/rest/api/2/issue/10040/comment/10019").as_deref(),
            Some("10040")
        );
        assert_eq!(issue_in_url("https://x/rest/api/2/user"), None);
    }
}
