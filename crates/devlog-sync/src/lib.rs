//! devlog's sync engine: a durable job queue fed by the change feed, exactly-once pushes,
//! incremental pulls merged field by field, conflicts, dead letters and pauses.
//!
//! API boundary: integrations implement `devlog_core::integration::Integration`; this crate
//! owns all sync bookkeeping, kept in a machine-local SQLite database
//! (`.devlog/.state/sync.sqlite` beside the JSON backend's index).

pub mod engine;
pub mod failpoint;
pub mod plan;
pub mod registry;
pub mod state;
pub mod worker;

pub use engine::{EngineError, PlannedOp, SyncEngine, SyncOptions, SyncReport, WebhookCounts};
pub use registry::{ConfigProblem, Factory, Registry};
pub use state::{Conflict, HttpCacheEntry, InboxDelivery, Job, Link, SyncState};
pub use worker::{EventSink, WorkerEvent, WorkerOptions, run_workers};
