//! `/audit`: sign a checkpoint over the audit log now, and verify the log's chain and
//! checkpoints (admin role: `/api/v1/audit` is an admin path). The same as `devlog audit
//! checkpoint` and `devlog audit verify`; see docs/security.md, "Audit log".

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use devlog_core::audit::{PublicKey, Stored, Verifier};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Actor;
use crate::state::AppState;

/// Records read per page while verifying.
const PAGE: usize = 10_000;

/// What `POST /audit/checkpoint` did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointDoc {
    /// Whether a checkpoint was appended (`false`: the log is empty or already ends with one).
    pub signed: bool,
    /// The checkpoint's own `seq`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The record it signs (the one before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covers: Option<u64>,
    /// The public key that verifies it (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Where a chain breaks.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakDoc {
    /// The first record where the chain breaks.
    pub seq: u64,
    /// Why (edited, removed, reordered, a forged checkpoint, …).
    pub reason: String,
}

/// What `GET /audit/verify` found.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyDoc {
    /// Whether the whole log verifies.
    pub valid: bool,
    /// Records read.
    pub records: u64,
    /// The last record's hash (hex).
    pub head: String,
    /// Valid signed checkpoints.
    pub checkpoints: u64,
    /// The last valid checkpoint's `seq`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<u64>,
    /// Records after the last checkpoint, not covered by a signature.
    pub unsigned_tail: u64,
    /// The key checkpoints were checked against: this workspace's signing key, else the key
    /// of the log's first checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Where the chain breaks, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken: Option<BreakDoc>,
}

fn log_of(s: &AppState) -> Result<&dyn devlog_core::audit::AuditLog, ApiError> {
    s.app().store().audit_log().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no-audit-log",
            format!(
                "the {} store keeps no audit log",
                s.app().store().describe().backend
            ),
        )
    })
}

/// Sign an audit checkpoint
///
/// Appends a checkpoint signed with the workspace's key over the log's last record (the key is
/// made, and its creation recorded, if there is none), recorded with the caller as actor and
/// origin `http`; nothing when the log is empty or already ends with a checkpoint. Admin role.
#[utoipa::path(
    post,
    path = "/audit/checkpoint",
    tag = "audit",
    params(("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting")),
    responses(
        (status = 200, description = "The checkpoint appended, or signed: false", body = CheckpointDoc),
        (status = 409, description = "This server has no signing key folder or its store keeps no audit log", body = ErrorBody),
        (status = 415, description = "The request is not declared as JSON", body = ErrorBody),
    )
)]
// role: admin (the tokens middleware checks it for /api/v1/audit)
pub async fn checkpoint(
    State(s): State<AppState>,
    actor: Actor,
) -> Result<Json<CheckpointDoc>, ApiError> {
    let log = log_of(&s)?;
    let dir = s.audit_dir().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no-audit-key",
            "this server has no workspace folder holding the audit signing key",
        )
    })?;
    let meta = s.meta(actor);
    let r = devlog_store::audit::sign_checkpoint(dir, log, meta.actor, meta.origin).await?;
    Ok(Json(match r {
        Some(r) => CheckpointDoc {
            signed: true,
            seq: Some(r.seq),
            covers: Some(r.seq - 1),
            key: match &r.what {
                devlog_core::audit::What::Action(devlog_core::audit::Action::Checkpoint {
                    key,
                    ..
                }) => Some(key.clone()),
                _ => None,
            },
        },
        None => CheckpointDoc {
            signed: false,
            seq: None,
            covers: None,
            key: None,
        },
    }))
}

/// Verify the audit log
///
/// Reads the whole log in order and checks each record's `seq`, its link to the record before
/// and its hash, and each checkpoint's signature against this workspace's signing key (else
/// the key of the first checkpoint). Answers 200 either way: `valid` says whether it holds and
/// `broken` names the first record where it does not. Admin role.
#[utoipa::path(
    get,
    path = "/audit/verify",
    tag = "audit",
    responses(
        (status = 200, description = "The verification's result", body = VerifyDoc),
        (status = 409, description = "This server's store keeps no audit log", body = ErrorBody),
    )
)]
// role: admin (the tokens middleware checks it for /api/v1/audit)
pub async fn verify(State(s): State<AppState>) -> Result<Json<VerifyDoc>, ApiError> {
    let log = log_of(&s)?;
    let expected: Option<PublicKey> = match s.audit_dir() {
        Some(dir) => {
            devlog_store::audit::load_key(&devlog_store::audit::key_path(dir))?.map(|k| k.public())
        }
        None => None,
    };
    let mut v = match &expected {
        Some(k) => Verifier::with_key(k.clone()),
        None => Verifier::new(),
    };
    let (mut records, mut after, mut broken) = (0u64, 0u64, None);
    'pages: loop {
        let page = log.audit_page(after, PAGE).await?;
        for item in &page {
            if let Err(b) = v.check_stored(item) {
                broken = Some(BreakDoc {
                    seq: b.seq,
                    reason: b.reason,
                });
                break 'pages;
            }
            if let Stored::Record(r) = item {
                records += 1;
                after = r.seq;
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(Json(VerifyDoc {
        valid: broken.is_none(),
        records,
        head: v.head().hash.clone(),
        checkpoints: v.checkpoints(),
        last_checkpoint: v.last_checkpoint().map(|c| c.seq),
        unsigned_tail: v.unsigned_tail(),
        key: v.key().map(|k| k.to_string()),
        broken,
    }))
}
