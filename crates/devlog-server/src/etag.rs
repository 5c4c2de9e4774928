//! Optimistic concurrency: an entry's `ETag` and the `If-Match` check, done inside the store's
//! atomic read-modify-write so no other writer can slip in between the check and the write.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use axum::http::HeaderMap;
use axum::http::header::{IF_MATCH, IF_NONE_MATCH};
use devlog_core::codec::encode_entry;
use devlog_core::event::{Event, WriteMeta};
use devlog_core::store::{Created, Mutation, PutOutcome, StoreInfo};
use devlog_core::{
    Entry, EntryId, EntryRef, EntrySummary, Filter, ListQuery, Page, Result, SearchHit,
    SearchQuery, Stats, Store, StoreError,
};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The strong entity tag of an entry: the first 128 bits of the SHA-256 of its JSON document,
/// quoted as RFC 9110 wants. Equal documents give equal tags on every backend and every run.
pub fn etag(entry: &Entry) -> String {
    let digest = Sha256::digest(encode_entry(entry));
    let mut out = String::with_capacity(34);
    out.push('"');
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out.push('"');
    out
}

/// A parsed `If-Match` or `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: any current version.
    Any,
    /// One of these tags (strong ones as sent; weak ones kept with their `W/` prefix).
    Tags(Vec<String>),
}

impl Precondition {
    /// Parses the comma-separated list of entity tags of an `If-Match`-style header.
    fn parse(name: &str, raw: &str) -> std::result::Result<Self, ApiError> {
        let raw = raw.trim();
        if raw == "*" {
            return Ok(Precondition::Any);
        }
        let mut tags = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            let weak = rest.starts_with("W/");
            let body = if weak { &rest[2..] } else { rest };
            let bad = || {
                ApiError::bad_request(format!(
                    "{name} must be `*` or quoted entity tags such as \"5d41402abc4b2a76b9719d911017c592\", got `{raw}`"
                ))
            };
            let inner = body.strip_prefix('"').ok_or_else(bad)?;
            let end = inner.find('"').ok_or_else(bad)?;
            let tag = &body[..end + 2];
            tags.push(if weak {
                format!("W/{tag}")
            } else {
                tag.to_string()
            });
            rest = inner[end + 1..].trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after.trim_start();
            } else if !rest.is_empty() {
                return Err(bad());
            }
        }
        if tags.is_empty() {
            return Err(ApiError::bad_request(format!("{name} is empty")));
        }
        Ok(Precondition::Tags(tags))
    }

    /// `If-Match` from the request, if any.
    pub fn if_match(headers: &HeaderMap) -> std::result::Result<Option<Self>, ApiError> {
        Self::from_header(headers, IF_MATCH, "If-Match")
    }

    /// `If-None-Match` from the request, if any.
    pub fn if_none_match(headers: &HeaderMap) -> std::result::Result<Option<Self>, ApiError> {
        Self::from_header(headers, IF_NONE_MATCH, "If-None-Match")
    }

    fn from_header(
        headers: &HeaderMap,
        name: axum::http::HeaderName,
        label: &str,
    ) -> std::result::Result<Option<Self>, ApiError> {
        let mut all = headers.get_all(name).iter().peekable();
        if all.peek().is_none() {
            return Ok(None);
        }
        let mut joined = Vec::new();
        for v in all {
            let s = v
                .to_str()
                .map_err(|_| ApiError::bad_request(format!("{label} is not ASCII")))?;
            joined.push(s.to_string());
        }
        Self::parse(label, &joined.join(",")).map(Some)
    }

    /// Strong comparison (`If-Match`): a weak tag never matches.
    pub fn matches_strong(&self, current: &str) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Tags(t) => t.iter().any(|t| t == current),
        }
    }

    /// Weak comparison (`If-None-Match`): `W/"x"` matches `"x"`.
    pub fn matches_weak(&self, current: &str) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Tags(t) => t
                .iter()
                .any(|t| t.strip_prefix("W/").unwrap_or(t) == current),
        }
    }
}

/// A store decorator that checks an `If-Match` precondition inside every `update`, against
/// the entry as the store read it under its write lock (or row lock, or transaction), so the
/// check and the write are one atomic step. The use cases in `devlog_core::ops` run on top of
/// it unchanged.
#[derive(Debug)]
pub struct Conditional {
    inner: Arc<dyn Store>,
    expected: Precondition,
    /// The entry's current ETag when the precondition failed.
    failed: Mutex<Option<String>>,
}

impl Conditional {
    pub fn new(inner: Arc<dyn Store>, expected: Precondition) -> Arc<Self> {
        Arc::new(Self {
            inner,
            expected,
            failed: Mutex::new(None),
        })
    }

    /// Turns an error of an operation run through this store into the HTTP error: a failed
    /// precondition is 412 with the current ETag, anything else maps as usual.
    pub fn error(&self, e: StoreError) -> ApiError {
        let failed = self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match failed {
            Some(current) => ApiError::precondition_failed(&current),
            None => e.into(),
        }
    }
}

#[async_trait]
impl Store for Conditional {
    fn describe(&self) -> StoreInfo {
        self.inner.describe()
    }

    async fn create(&self, entry: Entry, dedupe: bool, meta: &WriteMeta) -> Result<Created> {
        self.inner.create(entry, dedupe, meta).await
    }

    async fn get(&self, id: EntryId) -> Result<Entry> {
        self.inner.get(id).await
    }

    async fn milestones(&self) -> Result<Vec<devlog_core::planning::Milestone>> {
        self.inner.milestones().await
    }

    async fn put_milestone(
        &self,
        m: &devlog_core::planning::Milestone,
        create: bool,
    ) -> Result<()> {
        self.inner.put_milestone(m, create).await
    }

    async fn lookup(&self, reference: &EntryRef) -> Result<Vec<EntrySummary>> {
        self.inner.lookup(reference).await
    }

    async fn update(&self, id: EntryId, meta: &WriteMeta, f: &mut Mutation<'_>) -> Result<Entry> {
        let expected = &self.expected;
        let failed = &self.failed;
        let mut checked = |e: &mut Entry| -> Result<()> {
            let current = etag(e);
            if !expected.matches_strong(&current) {
                *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(current);
                return Err(StoreError::Conflict {
                    id: e.id,
                    message: "the If-Match precondition failed".into(),
                });
            }
            f(e)
        };
        self.inner.update(id, meta, &mut checked).await
    }

    async fn delete(&self, id: EntryId, meta: &WriteMeta) -> Result<()> {
        self.inner.delete(id, meta).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<EntrySummary>> {
        self.inner.list(query).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>> {
        self.inner.search(query).await
    }

    async fn stats(&self, filter: &Filter) -> Result<Stats> {
        self.inner.stats(filter).await
    }

    async fn tag_counts(&self, filter: &Filter) -> Result<std::collections::BTreeMap<String, u64>> {
        self.inner.tag_counts(filter).await
    }

    async fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.inner.events(after, limit).await
    }

    async fn events_before(&self, before: Option<u64>, limit: usize) -> Result<Vec<Event>> {
        self.inner.events_before(before, limit).await
    }

    async fn entry_events(
        &self,
        id: EntryId,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        self.inner.entry_events(id, after, before, limit).await
    }

    async fn count_events(&self, after: u64, before: Option<u64>) -> Result<u64> {
        self.inner.count_events(after, before).await
    }

    async fn feed_id(&self) -> Result<Option<String>> {
        self.inner.feed_id().await
    }

    async fn put_raw(&self, entry: Entry, meta: &WriteMeta) -> Result<PutOutcome> {
        self.inner.put_raw(entry, meta).await
    }

    async fn put_raw_batch(
        &self,
        entries: Vec<Entry>,
        meta: &WriteMeta,
    ) -> Result<Vec<PutOutcome>> {
        self.inner.put_raw_batch(entries, meta).await
    }

    async fn append_events(&self, events: &[Event]) -> Result<()> {
        self.inner.append_events(events).await
    }

    async fn count(&self) -> Result<u64> {
        self.inner.count().await
    }

    async fn all(&self) -> Result<Vec<Entry>> {
        self.inner.all().await
    }

    async fn warnings(&self) -> Result<Vec<String>> {
        self.inner.warnings().await
    }

    fn listen(&self) -> Option<Box<dyn devlog_core::FeedListener>> {
        self.inner.listen()
    }

    fn audit_log(&self) -> Option<&dyn devlog_core::audit::AuditLog> {
        self.inner.audit_log()
    }

    fn tokens(&self) -> Option<&dyn devlog_core::auth::TokenStore> {
        self.inner.tokens()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> std::result::Result<Precondition, ApiError> {
        Precondition::parse("If-Match", s)
    }

    #[test]
    fn parses_star_lists_and_weak_tags() {
        assert_eq!(parse(" * ").unwrap(), Precondition::Any);
        assert_eq!(
            parse(r#""a", W/"b" ,"c""#).unwrap(),
            Precondition::Tags(vec![r#""a""#.into(), r#"W/"b""#.into(), r#""c""#.into()])
        );
    }

    #[test]
    fn rejects_unquoted_or_trailing_garbage() {
        for bad in ["abc", r#""a" "b""#, r#""unterminated"#, r#""a",x"#, ""] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.class, "bad-request", "{bad}: {e}");
        }
    }

    #[test]
    fn strong_comparison_ignores_weak_tags_and_weak_comparison_does_not() {
        let p = parse(r#"W/"x""#).unwrap();
        assert!(!p.matches_strong(r#""x""#));
        assert!(p.matches_weak(r#""x""#));
        assert!(parse(r#""x""#).unwrap().matches_strong(r#""x""#));
        assert!(Precondition::Any.matches_strong(r#""anything""#));
    }
}
