//! devlog's sync engine: a durable job queue fed by the change feed, exactly-once pushes,
//! incremental pulls merged field by field, conflicts, dead letters and pauses.
//!
//! API boundary: integrations implement `devlog_core::integration::Integration`; this crate
//! owns all sync bookkeeping, kept behind the `SyncStateStore` port (`state.rs`): machine-local
//! SQLite for the file backends, the store's own database for PostgreSQL and MySQL.

pub mod engine;
pub mod failpoint;
pub mod plan;
pub mod registry;
pub mod state;
pub mod worker;

pub use engine::{
    EngineError, PlannedOp, SettledConflict, SyncEngine, SyncOptions, SyncReport, WebhookCounts,
};
pub use registry::{ConfigProblem, Factory, Registry};
pub use state::{
    Conflict, CursorKind, HttpCacheEntry, InboxDelivery, InboxState, Job, JobState, Link,
    LinkState, NoteLink, NoteLinkState, SyncState,
};
pub use worker::{EventSink, Poller, WorkerEvent, WorkerOptions, run_workers};
