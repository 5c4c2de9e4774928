//! Errors as MCP answers them, mapped once.
//!
//! A tool that ran and failed (unknown entry, invalid value, storage busy) answers with a tool
//! result marked `isError`, so the agent reads the message and can act on it; the structured
//! part carries the error class and the candidate entries. Requests MCP itself cannot route
//! (unknown tool, unknown resource, bad prompt arguments) are JSON-RPC errors.

use devlog_core::StoreError;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use crate::args::ToolError;

/// Why a tool call failed, with what the caller can do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
    pub hint: Option<String>,
    pub candidates: Vec<Value>,
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: "invalid",
            message: message.into(),
            hint: None,
            candidates: Vec::new(),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The tool result that reports this failure.
    pub fn into_result(self) -> CallToolResult {
        let mut text = format!("Error: {}", self.message);
        if let Some(h) = &self.hint {
            text.push_str("\nHint: ");
            text.push_str(h);
        }
        let error = ToolError {
            kind: self.kind,
            message: self.message,
            hint: self.hint,
            candidates: self.candidates,
        };
        let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
        r.structured_content = Some(json!({ "error": error }));
        r
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        let (kind, hint, candidates) = match &e {
            StoreError::NotFound { suggestions, .. } => (
                "not-found",
                Some(
                    "list_devlogs shows handles; search_devlogs finds entries by words; ids may be a \
                     handle (42 or \"#42\"), a full id, an id prefix or a key"
                        .to_string(),
                ),
                suggestions.iter().map(summary_value).collect(),
            ),
            StoreError::Ambiguous { candidates, .. } => (
                "ambiguous",
                Some("use the handle (\"#42\") or a longer id prefix".to_string()),
                candidates.iter().map(summary_value).collect(),
            ),
            StoreError::Conflict { .. } => (
                "conflict",
                Some("someone changed the entry at the same time; call the tool again".to_string()),
                Vec::new(),
            ),
            StoreError::TargetNotEmpty { .. } => ("conflict", None, Vec::new()),
            StoreError::Invalid { .. } => ("invalid", None, Vec::new()),
            StoreError::Corrupt { .. } => ("corrupt", None, Vec::new()),
            // The message carries the hint (make the folder writable); retrying cannot help.
            StoreError::ReadOnly { .. } => ("denied", None, Vec::new()),
            StoreError::Io { .. } if e.kind() == devlog_core::ErrorKind::Denied => (
                "denied",
                Some("permission denied: fix the permissions of the named path; retrying will not help".to_string()),
                Vec::new(),
            ),
            StoreError::Io { .. } | StoreError::Backend { .. } => (
                "unavailable",
                Some("the storage is busy or unreachable; try again shortly".to_string()),
                Vec::new(),
            ),
        };
        Self {
            kind,
            message,
            hint,
            candidates,
        }
    }
}

impl From<devlog_sync::EngineError> for Failure {
    fn from(e: devlog_sync::EngineError) -> Self {
        use devlog_sync::EngineError as E;
        match e {
            E::UnknownIntegration { .. } => Failure::invalid(e.to_string()),
            E::Store(e) => e.into(),
            // A failure of the remote system itself (failed pushes are in the sync report;
            // this is one the engine could not report there).
            E::Remote(e) => Failure {
                kind: "sync-failed",
                message: e.to_string(),
                hint: e
                    .is_retryable()
                    .then(|| "the remote is busy or unreachable; try again shortly".to_string()),
                candidates: Vec::new(),
            },
        }
    }
}

fn summary_value(s: &devlog_core::EntrySummary) -> Value {
    json!({
        "id": s.id,
        "handle": s.handle,
        "title": s.title,
        "status": s.status,
        "type": s.kind,
    })
}

/// The message of a panic payload, for the error that replaces the lost answer.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
