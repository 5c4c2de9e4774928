//! The sync engine's handle on its durable state: a cheap clone of an
//! `Arc<dyn SyncStateStore>` (the port in `devlog_core::sync_state`), dereferencing to the
//! port, so the engine and its callers call the store's methods directly. devlog-store
//! implements the port on SQLite (`.devlog/.state/sync.sqlite`, or the `sqlite` backend's own
//! database: one machine) and in a PostgreSQL or MySQL store's database (shared by every
//! machine on it); `devlog_store::open_sync_state` picks one for a store.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use devlog_core::error::Result;
use devlog_core::sync_state::SyncStateStore;

pub use devlog_core::sync_state::{
    Conflict, CursorKind, HttpCacheEntry, INBOX_KEEP_MS, InboxDelivery, InboxState, Job, JobState,
    Link, LinkState, NoteLink, NoteLinkState,
};

/// The sync state the engine works on.
#[derive(Debug, Clone)]
pub struct SyncState(Arc<dyn SyncStateStore>);

impl SyncState {
    pub fn new(store: Arc<dyn SyncStateStore>) -> Self {
        Self(store)
    }

    /// Opens (creating if needed) the SQLite sync state at `path`: a file of its own beside
    /// the JSON backend's index, or the `sqlite` backend's own database.
    pub async fn open(path: &Path) -> Result<Self> {
        Ok(Self(Arc::new(
            devlog_store::SqliteSyncState::open(path).await?,
        )))
    }

    /// The store behind the handle.
    pub fn store(&self) -> &Arc<dyn SyncStateStore> {
        &self.0
    }
}

impl From<Arc<dyn SyncStateStore>> for SyncState {
    fn from(store: Arc<dyn SyncStateStore>) -> Self {
        Self(store)
    }
}

impl Deref for SyncState {
    type Target = dyn SyncStateStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// This process's lease owner: random, drawn once per process (`sync status` shows no host or
/// process id: liveness is the lease's expiry alone, on every platform).
pub fn owner_tag() -> String {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER
        .get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
        .clone()
}
