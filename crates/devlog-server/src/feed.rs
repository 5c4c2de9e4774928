//! Reading the change feed: where it ends.

use devlog_core::Store;

/// The seq of the newest event (0 for an empty feed): one backwards read on the feed's `seq`
/// key.
pub async fn tail(store: &dyn Store) -> devlog_core::Result<u64> {
    Ok(store
        .events_before(None, 1)
        .await?
        .first()
        .map_or(0, |e| e.seq))
}
