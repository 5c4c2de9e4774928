//! Conditional requests: remembered ETags and bodies, so re-reading an unchanged resource
//! costs a 304 (which GitHub does not count against the rate limit) instead of a full body.
//!
//! The cache is keyed by URL and auth identity, so two accounts never see each other's
//! cached bodies. [`EtagStore`] is the port; [`MemoryEtagStore`] the bounded in-memory
//! default. A caller that wants the cache to survive restarts implements the trait over its
//! own storage (or wraps the memory store and uses [`MemoryEtagStore::entries`]/[`MemoryEtagStore::load`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

/// What a cached response is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey {
    /// Who asked (see `ClientOptions::identity`); never the secret itself.
    pub identity: String,
    /// The full request URL, query included (a different page is a different resource).
    pub url: String,
}

/// A remembered successful GET response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    /// The `ETag` exactly as the server sent it (quotes and `W/` included).
    pub etag: String,
    pub body: Bytes,
    /// Headers a caller needs from an unchanged page: `content-type`, `link` (GitHub pages),
    /// `x-ms-continuationtoken` (Azure DevOps pages), `last-modified`.
    pub headers: Vec<(String, String)>,
}

impl CachedResponse {
    fn weight(&self) -> usize {
        self.body.len()
            + self.etag.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// Headers kept with a cached body.
pub const CACHED_HEADERS: &[&str] = &[
    "content-type",
    "link",
    "x-ms-continuationtoken",
    "last-modified",
];

/// Where ETags and bodies are kept. Implement it to persist the cache.
#[async_trait]
pub trait EtagStore: Send + Sync + fmt::Debug {
    async fn get(&self, key: &CacheKey) -> Option<CachedResponse>;
    async fn put(&self, key: CacheKey, value: CachedResponse);
    async fn remove(&self, key: &CacheKey);
}

/// A bounded in-memory cache that forgets the least recently used entries first.
pub struct MemoryEtagStore {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    map: HashMap<CacheKey, (CachedResponse, u64)>,
    order: BTreeMap<u64, CacheKey>,
    tick: u64,
    bytes: usize,
}

impl Lru {
    fn touch(&mut self, key: &CacheKey) -> Option<CachedResponse> {
        self.tick += 1;
        let tick = self.tick;
        let (value, old) = self.map.get_mut(key)?;
        self.order.remove(old);
        *old = tick;
        self.order.insert(tick, key.clone());
        Some(value.clone())
    }

    fn remove(&mut self, key: &CacheKey) {
        if let Some((value, tick)) = self.map.remove(key) {
            self.order.remove(&tick);
            self.bytes -= value.weight();
        }
    }
}

impl fmt::Debug for MemoryEtagStore {
    /// Sizes only: keys hold full URLs (query values included) and bodies hold remote data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lru = self.lock();
        f.debug_struct("MemoryEtagStore")
            .field("entries", &lru.map.len())
            .field("bytes", &lru.bytes)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Default for MemoryEtagStore {
    /// 2,000 entries, 32 MiB of bodies.
    fn default() -> Self {
        Self::new(2_000, 32 * 1024 * 1024)
    }
}

impl MemoryEtagStore {
    /// At most `max_entries` responses and `max_bytes` of bodies; a single body larger than
    /// `max_bytes` is not cached.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries,
            max_bytes,
            inner: Mutex::new(Lru::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // Every mutation keeps map, order and bytes consistent before it can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total size of the cached bodies and headers.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// All entries, least recently used first (to persist them).
    pub fn entries(&self) -> Vec<(CacheKey, CachedResponse)> {
        let lru = self.lock();
        lru.order
            .values()
            .filter_map(|k| lru.map.get(k).map(|(v, _)| (k.clone(), v.clone())))
            .collect()
    }

    /// Adds entries (e.g. read back from disk), in the order given.
    pub fn load(&self, entries: impl IntoIterator<Item = (CacheKey, CachedResponse)>) {
        for (k, v) in entries {
            self.insert(k, v);
        }
    }

    fn insert(&self, key: CacheKey, value: CachedResponse) {
        let mut lru = self.lock();
        lru.remove(&key);
        let weight = value.weight();
        if weight > self.max_bytes || self.max_entries == 0 {
            return;
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.order.insert(tick, key.clone());
        lru.map.insert(key, (value, tick));
        lru.bytes += weight;
        while lru.map.len() > self.max_entries || lru.bytes > self.max_bytes {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some((v, _)) = lru.map.remove(&oldest) {
                lru.bytes -= v.weight();
            }
        }
    }
}

#[async_trait]
impl EtagStore for MemoryEtagStore {
    async fn get(&self, key: &CacheKey) -> Option<CachedResponse> {
        self.lock().touch(key)
    }

    async fn put(&self, key: CacheKey, value: CachedResponse) {
        self.insert(key, value);
    }

    async fn remove(&self, key: &CacheKey) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> CacheKey {
        CacheKey {
            identity: "me".into(),
            url: url.into(),
        }
    }

    fn entry(etag: &str, body: &str) -> CachedResponse {
        CachedResponse {
            etag: etag.into(),
            body: Bytes::from(body.to_string()),
            headers: Vec::new(),
        }
    }

    #[tokio::test]
    async fn forgets_the_least_recently_used_entry_first() {
        let store = MemoryEtagStore::new(2, 1 << 20);
        store.put(key("a"), entry("\"1\"", "A")).await;
        store.put(key("b"), entry("\"2\"", "B")).await;
        // Reading `a` makes `b` the oldest.
        assert_eq!(store.get(&key("a")).await.unwrap().body, "A");
        store.put(key("c"), entry("\"3\"", "C")).await;
        assert!(store.get(&key("b")).await.is_none());
        assert!(store.get(&key("a")).await.is_some());
        assert!(store.get(&key("c")).await.is_some());
        assert_eq!(store.len(), 2);
    }

    #[tokio::test]
    async fn stays_within_its_byte_budget() {
        let store = MemoryEtagStore::new(100, 10);
        store.put(key("a"), entry("\"1\"", "12345")).await;
        store.put(key("b"), entry("\"2\"", "12345")).await;
        assert_eq!(store.len(), 1);
        assert!(store.bytes() <= 10);
        // Too big to cache at all.
        store
            .put(key("c"), entry("\"3\"", "this body is too long"))
            .await;
        assert!(store.get(&key("c")).await.is_none());
        // Replacing an entry does not count it twice.
        store.put(key("b"), entry("\"4\"", "1")).await;
        assert_eq!(store.bytes(), 4);
    }

    #[tokio::test]
    async fn identities_do_not_share_entries() {
        let store = MemoryEtagStore::default();
        store.put(key("u"), entry("\"1\"", "mine")).await;
        let other = CacheKey {
            identity: "someone-else".into(),
            url: "u".into(),
        };
        assert!(store.get(&other).await.is_none());
    }

    #[tokio::test]
    async fn debug_shows_sizes_not_urls_or_bodies() {
        let store = MemoryEtagStore::default();
        store
            .put(
                key("https://h/search?jql=secret-project"),
                entry("\"1\"", "private body"),
            )
            .await;
        let shown = format!("{store:?}");
        assert!(shown.contains("entries: 1"), "{shown}");
        assert!(
            !shown.contains("secret-project") && !shown.contains("private body"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn entries_round_trip_for_persistence() {
        let store = MemoryEtagStore::default();
        store.put(key("a"), entry("\"1\"", "A")).await;
        store.put(key("b"), entry("\"2\"", "B")).await;
        store.remove(&key("a")).await;
        let saved = store.entries();
        assert_eq!(saved.len(), 1);
        let restored = MemoryEtagStore::default();
        restored.load(saved);
        assert_eq!(restored.get(&key("b")).await.unwrap().etag, "\"2\"");
        assert!(restored.get(&key("a")).await.is_none());
    }
}
