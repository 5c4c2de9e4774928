//! Request counters per client: what an idle sync costs (requests, 304s, bytes).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, updated by the client as requests complete.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    not_modified: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    errors: AtomicU64,
    rate_limited: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Requests that went on the wire (a request refused by the local budget is not one).
    pub requests: u64,
    /// Of those, answered `304 Not Modified` (served from the ETag cache).
    pub not_modified: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received (a 304 has none).
    pub bytes_received: u64,
    /// Requests that ended in an error (any kind, including rate limits).
    pub errors: u64,
    /// Requests refused by the remote's rate limit or by this client's own pause.
    pub rate_limited: u64,
}

impl CounterSnapshot {
    /// The counts between an earlier snapshot and this one.
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests.saturating_sub(earlier.requests),
            not_modified: self.not_modified.saturating_sub(earlier.not_modified),
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
            errors: self.errors.saturating_sub(earlier.errors),
            rate_limited: self.rate_limited.saturating_sub(earlier.rate_limited),
        }
    }
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            requests: get(&self.requests),
            not_modified: get(&self.not_modified),
            bytes_sent: get(&self.bytes_sent),
            bytes_received: get(&self.bytes_received),
            errors: get(&self.errors),
            rate_limited: get(&self.rate_limited),
        }
    }

    pub(crate) fn sent(&self, body_bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent
            .fetch_add(body_bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, body_bytes: usize, not_modified: bool) {
        self.bytes_received
            .fetch_add(body_bytes as u64, Ordering::Relaxed);
        if not_modified {
            self.not_modified.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn failed(&self, rate_limited: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if rate_limited {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
    }
}
