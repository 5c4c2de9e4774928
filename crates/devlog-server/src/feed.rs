//! Reading the change feed: where it ends.

use devlog_core::Store;

/// The seq of the newest event (0 for an empty feed): one backwards read on the feed's `seq`
/// key.
pub async fn tail(store: &dyn Store) -> devlog_core::Result<u64> {
    devlog_store::feed_watch::tail(store).await
}
