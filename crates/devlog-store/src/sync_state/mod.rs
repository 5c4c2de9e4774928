//! The sync engine's state (`devlog_core::sync_state::SyncStateStore`) for every backend, and
//! [`open_sync_state`], which picks where it lives:
//!
//! - `json`: `.devlog/.state/sync.sqlite`, machine-local ([`SqliteSyncState`]);
//! - `sqlite`: the backend's own database file, beside the entries;
//! - `postgres` / `mysql`: the `sync_*` tables of the store's database, shared by every machine
//!   on the store (`PostgresSyncState`, `MysqlSyncState`: `sync_state/server_impl.rs`). A
//!   machine-local `sync.sqlite` left beside such a store (from a devlog that kept it there) is
//!   imported once, verified and renamed.

mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::error::{Result, StoreError};
use devlog_core::id::EntryId;
use devlog_core::sync_state::SyncStateStore;
use serde::Serialize;

pub use sqlite::SqliteSyncState;

use crate::StoreSpec;

/// The file name of the machine-local sync state in `.devlog/.state/`.
pub const LOCAL_FILE: &str = "sync.sqlite";

pub(crate) fn parse_id(s: &str) -> Result<EntryId> {
    s.parse().map_err(|_| StoreError::Corrupt {
        path: "sync state".into(),
        message: format!("bad entry id {s}"),
        hint: "remove the row (or delete .devlog/.state/sync.sqlite) to start sync bookkeeping \
               afresh for that entry"
            .into(),
    })
}

/// An integration event's key as stored: as given up to
/// [`EVENT_KEY_MAX`](devlog_core::sync_state::EVENT_KEY_MAX) bytes, else a hash of it (the
/// same key always stores the same way, so de-duplication holds).
pub(crate) fn event_key(key: &str) -> String {
    use sha2::Digest as _;
    if key.len() <= devlog_core::sync_state::EVENT_KEY_MAX {
        return key.to_string();
    }
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

/// An integration event from its stored columns.
pub(crate) fn event_from(
    id: i64,
    integration: String,
    kind: &str,
    key: String,
    entry_id: Option<String>,
    data: &str,
    at: i64,
) -> Result<devlog_core::sync_state::IntegrationEvent> {
    let data = serde_json::from_str(data).map_err(|e| StoreError::Corrupt {
        path: "sync state".into(),
        message: format!("integration event {id}: bad data: {e}"),
        hint: "remove the row from the integration events table".into(),
    })?;
    Ok(devlog_core::sync_state::IntegrationEvent {
        id,
        event: devlog_core::sync_state::NewIntegrationEvent {
            integration,
            kind: kind.parse()?,
            key,
            entry_id: entry_id.as_deref().map(parse_id).transpose()?,
            data,
            at,
        },
    })
}

/// Whether a workflow run's lease `holder` is a process of the same host as `owner` (owners
/// are `<host>:<pid>:<random>`) that is gone: its lease is taken over at once, as when the run
/// files held a pid. Another host's holder is only taken over when its lease expires.
pub(crate) fn holder_gone_here(holder: &str, owner: &str) -> bool {
    let mut h = holder.rsplitn(3, ':');
    let mut o = owner.rsplitn(3, ':');
    let (Some(_), Some(pid), Some(host)) = (h.next(), h.next(), h.next()) else {
        return false;
    };
    let (Some(_), Some(_), Some(my_host)) = (o.next(), o.next(), o.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == my_host && !process_alive(pid)
}

/// Whether a process with this pid runs here (Linux: `/proc/<pid>`); elsewhere assumed so
/// (the lease's expiry then decides).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_dir = Path::new("/proc");
    if proc_dir.is_dir() {
        proc_dir.join(pid.to_string()).exists()
    } else {
        true
    }
}

/// A workflow run from its stored columns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn workflow_run_from(
    id: String,
    workflow: String,
    state: &str,
    entry: Option<String>,
    wake_at: Option<i64>,
    started_at: i64,
    updated_at: i64,
    record: &str,
) -> Result<devlog_core::sync_state::WorkflowRun> {
    let record = serde_json::from_str(record).map_err(|e| StoreError::Corrupt {
        path: "sync state".into(),
        message: format!("workflow run {id}: bad record: {e}"),
        hint: "remove the row from the workflow runs table".into(),
    })?;
    Ok(devlog_core::sync_state::WorkflowRun {
        entry: entry.as_deref().map(parse_id).transpose()?,
        state: state.parse()?,
        id,
        workflow,
        wake_at,
        started_at,
        updated_at,
        record,
    })
}

/// The run counts from `(state, count)` rows; an unknown state is damage (or a newer devlog).
pub(crate) fn workflow_run_counts(
    rows: Vec<(String, i64)>,
) -> Result<devlog_core::sync_state::WorkflowRunCounts> {
    let mut counts = devlog_core::sync_state::WorkflowRunCounts::default();
    for (state, n) in rows {
        counts.add(state.parse()?, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

/// A conflict's field as stored; an unknown name is damage (or a newer devlog), not input.
pub(crate) fn parse_field(s: &str) -> Result<devlog_core::merge::SyncedField> {
    s.parse().map_err(|e| StoreError::Corrupt {
        path: "sync state".into(),
        message: format!("a conflict names an unknown field: {e}"),
        hint: "resolve or remove the conflict row; a newer devlog may have written it".into(),
    })
}

/// An opened sync state, with what opening it did worth telling the user (an import).
#[derive(Debug, Clone)]
pub struct OpenedSyncState {
    pub state: Arc<dyn SyncStateStore>,
    /// Set when a machine-local `sync.sqlite` was imported into a server store.
    pub note: Option<String>,
}

/// Opens the sync state of the store `spec` names; `state_dir` is the workspace's
/// `.devlog/.state` folder (where the JSON backend keeps it, and where an old machine-local
/// file beside a server store is looked for).
pub async fn open_sync_state(spec: &StoreSpec, state_dir: &Path) -> Result<OpenedSyncState> {
    let local = state_dir.join(LOCAL_FILE);
    match spec {
        StoreSpec::Json { .. } => Ok(OpenedSyncState {
            state: Arc::new(SqliteSyncState::open(&local).await?),
            note: None,
        }),
        StoreSpec::Sqlite { path } => Ok(OpenedSyncState {
            state: Arc::new(SqliteSyncState::open(path).await?),
            note: None,
        }),
        #[cfg(feature = "postgres")]
        StoreSpec::Postgres { url } => {
            let server = crate::postgres::PostgresSyncState::open(url).await?;
            let note = import_local(&local, spec, |snap, now| {
                let server = server.clone();
                async move { server.import(&snap, now).await }
            })
            .await?;
            Ok(OpenedSyncState {
                state: Arc::new(server),
                note,
            })
        }
        #[cfg(not(feature = "postgres"))]
        StoreSpec::Postgres { .. } => Err(crate::not_compiled("postgres")),
        #[cfg(feature = "mysql")]
        StoreSpec::Mysql { url } => {
            let server = crate::mysql::MysqlSyncState::open(url).await?;
            let note = import_local(&local, spec, |snap, now| {
                let server = server.clone();
                async move { server.import(&snap, now).await }
            })
            .await?;
            Ok(OpenedSyncState {
                state: Arc::new(server),
                note,
            })
        }
        #[cfg(not(feature = "mysql"))]
        StoreSpec::Mysql { .. } => Err(crate::not_compiled("mysql")),
    }
}

/// Imports the machine-local file at `local` (if there is one) with `import`, then renames it
/// to `sync.sqlite.imported-<UTC time>` so it is imported once. The import is one server
/// transaction and skips a file whose content it already imported, so a crash at any point
/// (before the commit, or between the commit and the rename) leaves nothing half done.
#[cfg_attr(
    not(any(feature = "postgres", feature = "mysql")),
    allow(dead_code, reason = "only server backends import")
)]
async fn import_local<F, Fut>(local: &Path, spec: &StoreSpec, import: F) -> Result<Option<String>>
where
    F: FnOnce(Snapshot, i64) -> Fut,
    Fut: std::future::Future<Output = Result<String>>,
{
    if !local.is_file() {
        return Ok(None);
    }
    // One importer at a time on this machine: another process (or task) opening the same
    // workspace at once waits, then finds the file imported and renamed (it would otherwise
    // read a file whose WAL files were being renamed away under it).
    let _importing = crate::fsutil::WriteLock::new(local.with_file_name("sync-import.lock"))
        .acquire()
        .await?;
    let Some(file) = SqliteSyncState::open_existing(local).await? else {
        return Ok(None);
    };
    let snap = file.snapshot().await?;
    file.close().await;
    let now = chrono::Utc::now();
    let summary = import(snap, now.timestamp_millis()).await?;
    let kept = imported_name(local, &now.format("%Y%m%dT%H%M%SZ").to_string());
    match std::fs::rename(local, &kept) {
        Ok(()) => {}
        // Another process that imported it at the same time renamed it first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(local.display().to_string(), e)),
    }
    for side in ["-wal", "-shm"] {
        let mut from = local.as_os_str().to_owned();
        from.push(side);
        let from = PathBuf::from(from);
        if from.exists() {
            let mut to = kept.as_os_str().to_owned();
            to.push(side);
            let _ = std::fs::rename(&from, PathBuf::from(to));
        }
    }
    Ok(Some(format!(
        "imported the machine-local sync state {} into the {} database ({}): {summary}; the \
         file is kept as {}",
        local.display(),
        spec.name(),
        spec.location().display(),
        kept.display()
    )))
}

/// `sync.sqlite.imported-<stamp>`, or with `-2`, `-3`, … when that name is taken (a file
/// imported in the same second), so an earlier copy is never overwritten.
fn imported_name(local: &Path, stamp: &str) -> PathBuf {
    let name = |suffix: String| {
        let mut name = local.as_os_str().to_owned();
        name.push(format!(".imported-{stamp}{suffix}"));
        PathBuf::from(name)
    };
    let mut candidate = name(String::new());
    let mut n = 2;
    while candidate.exists() {
        candidate = name(format!("-{n}"));
        n += 1;
    }
    candidate
}

/// Every row of a SQLite sync state that a server store takes over (jobs not done; the HTTP
/// cache and webhook inbox are not copied: both refill by themselves).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// `(integration, kind, value)`.
    pub cursors: Vec<(String, String, String)>,
    pub links: Vec<LinkRow>,
    pub jobs: Vec<JobRow>,
    /// Jobs done, not copied (counted for the note).
    pub done_jobs: u64,
    pub conflicts: Vec<ConflictRow>,
    /// `(integration, delivery_id, received_at)`.
    pub deliveries: Vec<(String, String, i64)>,
    pub note_links: Vec<NoteLinkRow>,
    /// Left out of the digest when empty, so a snapshot from before worklog links keeps its
    /// identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worklog_links: Vec<WorklogLinkRow>,
    /// `(integration, key, entry_id, applied_at)`.
    pub applied_actions: Vec<(String, String, String, i64)>,
    pub attachments: Vec<AttachmentRow>,
    /// `(integration, until, reason)`.
    pub pauses: Vec<(String, i64, String)>,
    /// Workflow runs (migration 0043; left out of the digest when empty, like the tables
    /// below, so a snapshot from before them keeps its identity). A run's lease was the old
    /// machine's and is not copied: a running one is resumed by the next worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflow_runs: Vec<WorkflowRunRow>,
    /// `(workflow, claim_key, created_at)`: the writes, schedule slots and events a workflow
    /// already ran for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflow_claims: Vec<(String, String, i64)>,
    /// `(name, value)`: the workflow engine's change-feed cursor and schedule states
    /// (`schedule:<name>`). Not its `integration` cursor: that one counts the file's own
    /// integration events, which are not copied (the server numbers its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflow_cursors: Vec<(String, String)>,
}

impl Snapshot {
    /// A digest of the content: the identity of an import, so it is applied once.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_vec(self).expect("a snapshot always serializes");
        sha2::Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Rows in total.
    pub fn rows(&self) -> usize {
        self.cursors.len()
            + self.links.len()
            + self.jobs.len()
            + self.conflicts.len()
            + self.deliveries.len()
            + self.note_links.len()
            + self.worklog_links.len()
            + self.applied_actions.len()
            + self.attachments.len()
            + self.pauses.len()
            + self.workflow_runs.len()
            + self.workflow_claims.len()
            + self.workflow_cursors.len()
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LinkRow {
    pub integration: String,
    pub entry_id: String,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    pub base: Option<String>,
    pub state: String,
    pub since: i64,
    pub last_synced_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub integration: String,
    pub entry_id: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConflictRow {
    pub integration: String,
    pub entry_id: String,
    pub field: String,
    pub base: String,
    pub local: String,
    pub remote: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct NoteLinkRow {
    pub integration: String,
    pub entry_id: String,
    pub note_id: String,
    pub remote_id: Option<String>,
    pub state: String,
    pub hash: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WorklogLinkRow {
    pub integration: String,
    pub entry_id: String,
    pub worklog_id: String,
    pub remote_id: Option<String>,
    pub state: String,
    pub hash: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AttachmentRow {
    pub integration: String,
    pub kind: String,
    pub remote_id: String,
    pub entry_id: String,
    pub url: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WorkflowRunRow {
    pub id: String,
    pub workflow: String,
    pub state: String,
    pub entry_id: Option<String>,
    pub wake_at: Option<i64>,
    pub started_at: i64,
    pub updated_at: i64,
    pub record: String,
}

impl WorkflowRunRow {
    /// The run it stores (a record that does not parse is a `Corrupt` error naming the run).
    pub fn run(&self) -> Result<devlog_core::sync_state::WorkflowRun> {
        workflow_run_from(
            self.id.clone(),
            self.workflow.clone(),
            &self.state,
            self.entry_id.clone(),
            self.wake_at,
            self.started_at,
            self.updated_at,
            &self.record,
        )
    }
}
