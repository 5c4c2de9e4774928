//! ETags that outlive the process: the HTTP clients of the integrations the CLI builds keep
//! their conditional-request validators (and the responses they stand for) in the sync state's
//! `http_cache` table, so a second `devlog sync` on an unchanged remote costs only 304s.
//!
//! The cache key is the client's identity (the integration's name or a digest of its
//! credentials, never the secret) and the URL. The integrations are built (and their
//! configuration checked) before the sync state is opened, so the store starts detached:
//! [`StateEtags::attach`] hands it the state once it is open.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use devlog_http::{CacheKey, CachedResponse, EtagStore};
use devlog_sync::{HttpCacheEntry, SyncState};

/// At most this many remembered responses (every integration together).
pub const MAX_ROWS: usize = 5_000;
/// At most this many bytes of remembered bodies and headers: 32 MiB.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// An [`EtagStore`] over the sync state, least recently used rows evicted first.
pub struct StateEtags {
    state: OnceLock<SyncState>,
    max_rows: usize,
    max_bytes: usize,
    warned: AtomicBool,
}

impl fmt::Debug for StateEtags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateEtags")
            .field("attached", &self.state.get().is_some())
            .field("max_rows", &self.max_rows)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl StateEtags {
    pub fn new() -> Arc<Self> {
        Self::bounded(MAX_ROWS, MAX_BYTES)
    }

    pub fn bounded(max_rows: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            state: OnceLock::new(),
            max_rows,
            max_bytes,
            warned: AtomicBool::new(false),
        })
    }

    /// From now on, validators are read from and written to `state` (until then the cache is
    /// empty and forgets what it is given).
    pub fn attach(&self, state: &SyncState) {
        let _ = self.state.set(state.clone());
    }

    /// A cache failure costs a full response, not the sync: said once, on stderr via tracing.
    fn failed(&self, e: impl fmt::Display) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the HTTP validator cache in the sync state failed ({e}); requests go without If-None-Match"
            );
        }
    }
}

#[async_trait]
impl EtagStore for StateEtags {
    async fn get(&self, key: &CacheKey) -> Option<CachedResponse> {
        let state = self.state.get()?;
        match state.http_cache_get(&key.identity, &key.url).await {
            Ok(e) => e.map(|e| CachedResponse {
                etag: e.etag,
                body: e.body.into(),
                headers: e.headers,
            }),
            Err(e) => {
                self.failed(e);
                None
            }
        }
    }

    async fn put(&self, key: CacheKey, value: CachedResponse) {
        let Some(state) = self.state.get() else {
            return;
        };
        let entry = HttpCacheEntry {
            etag: value.etag,
            body: value.body.to_vec(),
            headers: value.headers,
        };
        if let Err(e) = state
            .http_cache_put(
                &key.identity,
                &key.url,
                &entry,
                self.max_rows,
                self.max_bytes,
            )
            .await
        {
            self.failed(e);
        }
    }

    async fn remove(&self, key: &CacheKey) {
        let Some(state) = self.state.get() else {
            return;
        };
        if let Err(e) = state.http_cache_remove(&key.identity, &key.url).await {
            self.failed(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(identity: &str, url: &str) -> CacheKey {
        CacheKey {
            identity: identity.into(),
            url: url.into(),
        }
    }

    fn entry(etag: &str, body: &str) -> CachedResponse {
        CachedResponse {
            etag: etag.into(),
            body: body.to_string().into(),
            headers: vec![("link".into(), "<https://h/x?page=2>; rel=\"next\"".into())],
        }
    }

    #[tokio::test]
    async fn validators_survive_a_new_store_and_the_least_recently_used_is_evicted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.sqlite");
        let state = SyncState::open(&path).await.unwrap();
        let store = StateEtags::bounded(2, 1 << 20);
        // Detached: nothing kept, nothing served.
        store.put(key("me", "a"), entry("\"0\"", "A0")).await;
        assert!(store.get(&key("me", "a")).await.is_none());
        store.attach(&state);
        store.put(key("me", "a"), entry("\"1\"", "A")).await;
        store.put(key("me", "b"), entry("\"2\"", "B")).await;
        // Reading `a` makes `b` the oldest; a third entry evicts it.
        assert_eq!(store.get(&key("me", "a")).await.unwrap().body, "A");
        store.put(key("me", "c"), entry("\"3\"", "C")).await;
        assert!(store.get(&key("me", "b")).await.is_none());
        // Another identity does not see my entries.
        assert!(store.get(&key("you", "a")).await.is_none());
        store.remove(&key("me", "c")).await;
        drop(state);

        // A new process: the validator and the response it stands for are still there.
        let state = SyncState::open(&path).await.unwrap();
        let again = StateEtags::new();
        again.attach(&state);
        let got = again.get(&key("me", "a")).await.unwrap();
        assert_eq!(got, entry("\"1\"", "A"));
        assert!(again.get(&key("me", "c")).await.is_none());
        assert_eq!(state.http_cache_size().await.unwrap().0, 1);
    }

    #[tokio::test]
    async fn the_byte_bound_evicts_the_oldest_and_refuses_an_oversized_body() {
        let dir = tempfile::tempdir().unwrap();
        let state = SyncState::open(&dir.path().join("sync.sqlite"))
            .await
            .unwrap();
        let plain = |etag: &str, body: &str| CachedResponse {
            etag: etag.into(),
            body: body.to_string().into(),
            headers: Vec::new(),
        };
        let store = StateEtags::bounded(100, 10);
        store.attach(&state);
        store.put(key("me", "a"), plain("\"1\"", "12345")).await;
        store.put(key("me", "b"), plain("\"2\"", "12345")).await;
        assert!(store.get(&key("me", "a")).await.is_none());
        assert!(store.get(&key("me", "b")).await.is_some());
        store
            .put(key("me", "c"), plain("\"3\"", "this body is too long"))
            .await;
        assert!(store.get(&key("me", "c")).await.is_none());
        let (rows, bytes) = state.http_cache_size().await.unwrap();
        assert_eq!(rows, 1);
        assert!(bytes <= 10, "{bytes}");
    }
}
