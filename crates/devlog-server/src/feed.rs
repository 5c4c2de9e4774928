//! Reading the change feed: where it ends.

use devlog_core::Store;

/// The seq of the newest event (0 for an empty feed), in about 2·log₂(seq) one-row reads
/// rather than a scan of the whole feed: `events(a, 1)` is empty exactly when no event is
/// newer than `a`.
pub async fn tail(store: &dyn Store) -> devlog_core::Result<u64> {
    let newer = |after: u64| async move {
        store
            .events(after, 1)
            .await
            .map(|e| e.first().map(|e| e.seq))
    };
    let Some(first) = newer(0).await? else {
        return Ok(0);
    };
    // Gallop: find `hi` with nothing newer, keeping `lo` as a seq known to exist.
    let mut lo = first;
    let mut hi = first.max(1);
    while let Some(seq) = newer(hi).await? {
        lo = seq;
        hi = seq.saturating_mul(2);
    }
    // Invariant: an event with seq `lo` exists, and none is newer than `hi`.
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match newer(mid - 1).await? {
            Some(seq) if seq >= mid => lo = seq.min(hi),
            _ => hi = mid - 1,
        }
    }
    Ok(lo)
}
