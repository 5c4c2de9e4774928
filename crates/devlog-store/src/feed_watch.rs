//! Following the change feed across processes: one watcher per process tells every reader
//! (sync workers, event streams) that the feed may have grown, whoever wrote to it.
//!
//! A backend with push notifications ([`Store::listen`]: PostgreSQL's `LISTEN/NOTIFY`) wakes
//! the watcher as soon as another process commits. The others (JSON, SQLite, MySQL/MariaDB)
//! are polled: the watcher reads the feed's end (`events_before(None, 1)`, one read along the
//! index on `seq`) every poll interval and wakes the readers when it moved. Readers re-read
//! the feed after their own cursor, so a spurious wake-up costs one empty read and a missed
//! one cannot happen (each reader's `changed` returns for any change since it last returned).

use std::sync::Arc;
use std::time::Duration;

use devlog_core::store::Store;
use tokio::sync::watch;

/// How often the feed's end is read on backends without notifications, unless configured.
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// How a [`FeedWatch`] learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeSource {
    /// The backend's notifications (PostgreSQL `LISTEN devlog_events`).
    Notify,
    /// Reading the feed's end at this interval.
    Poll(Duration),
}

impl std::fmt::Display for WakeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WakeSource::Notify => f.write_str("database notifications (LISTEN/NOTIFY)"),
            WakeSource::Poll(d) => write!(f, "polling the change feed every {} ms", d.as_millis()),
        }
    }
}

/// A reader's handle on the process's feed watcher. Cheap to clone; each clone keeps its own
/// "seen" mark. The background task ends when the last handle is dropped. The first wake-up
/// comes when the watcher is in place (listening, or the feed's end read), so a write made
/// before it is never lost between a reader's first read and the watcher's start.
#[derive(Debug, Clone)]
pub struct FeedWatch {
    rx: watch::Receiver<u64>,
    source: WakeSource,
}

/// The seq of the newest event of `store`'s feed (0: empty).
pub async fn tail(store: &dyn Store) -> devlog_core::Result<u64> {
    Ok(store
        .events_before(None, 1)
        .await?
        .first()
        .map_or(0, |e| e.seq))
}

impl FeedWatch {
    /// Starts watching `store` (on the current tokio runtime): through its notifications if it
    /// has them, else by reading the feed's end every `poll`.
    pub fn start(store: Arc<dyn Store>, poll: Duration) -> Self {
        let (tx, rx) = watch::channel(0u64);
        let source = match store.listen() {
            Some(mut listener) => {
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            () = listener.changed() => tx.send_modify(|v| *v = v.wrapping_add(1)),
                            () = tx.closed() => return,
                        }
                    }
                });
                WakeSource::Notify
            }
            None => {
                let poll = poll.max(Duration::from_millis(10));
                tokio::spawn(async move {
                    let mut last = tail(&*store).await.ok();
                    // Like a listener's connect: from here on no change is missed, and what
                    // was written before the first read is announced once.
                    tx.send_modify(|v| *v = v.wrapping_add(1));
                    loop {
                        tokio::select! {
                            () = tokio::time::sleep(poll) => {}
                            () = tx.closed() => return,
                        }
                        match tail(&*store).await {
                            Ok(t) if Some(t) != last => {
                                last = Some(t);
                                tx.send_modify(|v| *v = v.wrapping_add(1));
                            }
                            Ok(_) => {}
                            // The readers' own reads report the error; keep watching.
                            Err(e) => {
                                tracing::debug!(error = %e, "cannot read the change feed's end")
                            }
                        }
                    }
                });
                WakeSource::Poll(poll)
            }
        };
        Self { rx, source }
    }

    pub fn source(&self) -> WakeSource {
        self.source
    }

    /// Returns when the feed may have changed since this handle's previous `changed` returned
    /// (or since it was made or cloned). Never returns if the watcher stopped (the runtime is
    /// shutting down).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
