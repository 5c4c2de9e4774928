//! MCP-over-HTTP sessions, at most a fixed number at a time.
//!
//! rmcp's `LocalSessionManager` keeps every session until it has been idle for its keep-alive
//! (300 s) and has no limit, so a client that opens sessions in a loop makes the server grow
//! without bound. [`CappedSessions`] wraps it: when a new session would exceed the cap, the
//! least recently used one is closed first (its client gets "session not found" and starts a
//! new one, as after an idle expiry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{EventStore, ServerSseMessage};
use rmcp::transport::streamable_http_server::{RestoreOutcome, SessionId, SessionManager};

/// How many MCP-over-HTTP sessions are kept by default.
pub const DEFAULT_MAX_SESSIONS: usize = 100;

/// A [`LocalSessionManager`] holding at most `max` sessions, evicting the least recently used.
#[derive(Debug)]
pub struct CappedSessions {
    inner: LocalSessionManager,
    max: usize,
    /// When each session was last used (a logical clock).
    used: Mutex<HashMap<SessionId, u64>>,
    clock: AtomicU64,
}

impl CappedSessions {
    /// At most `max` sessions (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            inner: LocalSessionManager::default(),
            max: max.max(1),
            used: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
        }
    }

    /// The number of open sessions.
    pub async fn len(&self) -> usize {
        self.inner.sessions.read().await.len()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    fn used(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, u64>> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn touch(&self, id: &SessionId) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.used().get_mut(id) {
            *t = now;
        }
    }

    /// Closes least recently used sessions until there is room for one more.
    async fn make_room(&self) {
        loop {
            let live: Vec<SessionId> = self.inner.sessions.read().await.keys().cloned().collect();
            if live.len() < self.max {
                return;
            }
            let victim = {
                let mut used = self.used();
                used.retain(|id, _| live.contains(id));
                live.iter()
                    .min_by_key(|id| used.get(*id).copied().unwrap_or(0))
                    .cloned()
            };
            let Some(victim) = victim else { return };
            tracing::info!(
                session = %victim,
                max = self.max,
                "closing the least recently used MCP session to stay within the session limit"
            );
            self.used().remove(&victim);
            if let Err(e) = self.inner.close_session(&victim).await {
                tracing::warn!(session = %victim, "cannot close an evicted MCP session: {e}");
                // Whatever happened, it is no longer served.
                self.inner.sessions.write().await.remove(&victim);
            }
        }
    }
}

impl SessionManager for CappedSessions {
    type Error = <LocalSessionManager as SessionManager>::Error;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.make_room().await;
        let (id, transport) = self.inner.create_session().await?;
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        self.used().insert(id.clone(), now);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.used().remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.inner.restore_session(id).await
    }

    fn event_store(&self) -> Option<std::sync::Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}
