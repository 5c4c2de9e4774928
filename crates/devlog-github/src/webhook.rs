//! GitHub webhooks: `X-Hub-Signature-256` is verified (HMAC-SHA256 with the webhook secret,
//! constant-time comparison) before the payload is parsed.
//!
//! Events: `ping` (nothing to apply), `issues` (the issue, mapped like a pull; `deleted`
//! reports nothing, since the item is gone), `issue_comment` (ignored: comments are not
//! synced yet), anything else ignored. Pull requests and other repositories are ignored.

use devlog_core::integration::{SyncError, SyncErrorKind, Webhook, WebhookOutcome};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::Sha256;

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
    pub(crate) fn webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
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
        let none = WebhookOutcome::nothing(delivery_id.clone());
        if event != "issues" {
            // `ping` needs no action; `issue_comment` and other events are not synced yet.
            return Ok(none);
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
            return Ok(none);
        }
        if payload.get("action").and_then(Value::as_str) == Some("deleted") {
            return Ok(none);
        }
        let issue: Issue = serde_json::from_value(
            payload.get("issue").cloned().unwrap_or_default(),
        )
        .map_err(|e| {
            permanent(format!(
                "webhook `issues` payload without a usable issue: {e}"
            ))
        })?;
        if issue.pull_request.is_some() {
            return Ok(none);
        }
        Ok(WebhookOutcome {
            delivery_id,
            items: vec![self.to_remote(&issue)?],
            actions: Vec::new(),
        })
    }
}
