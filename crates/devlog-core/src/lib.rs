//! devlog's domain: entries, identity, events, the `Store` port and the use cases on top.
//!
//! API boundary: no I/O here — no files, network, terminal, environment or clock reads except
//! through ports (`Store`, `Clock`) that callers provide.

pub mod audit;
pub mod auth;
pub mod backoff;
pub mod bulk;
pub mod codec;
pub mod discover;
pub mod entry;
pub mod entry_doc;
pub mod error;
pub mod event;
pub mod export;
pub mod history;
pub mod id;
pub mod insights;
pub mod integration;
pub mod merge;
pub mod ops;
pub mod planning;
pub mod relations;
pub mod release;
pub mod reports;
pub mod retention;
pub mod sample;
pub mod store;
pub mod suggest;
pub mod sync_state;
pub mod time;
pub mod worklog_suggest;

pub use entry::{Entry, EntrySummary, EntryType, Note, NoteCategory, Priority, Status};
pub use error::{ErrorKind, Result, StoreError};
pub use event::{Event, EventKind, Origin, WriteMeta};
pub use id::{EntryId, EntryRef};
pub use ops::Devlog;
pub use store::{
    Created, FeedListener, Filter, ListQuery, Page, SearchHit, SearchQuery, SortKey, Stats, Store,
    TOTAL_CAP, count_cap,
};
pub use time::{Clock, SystemClock, Timestamp};
