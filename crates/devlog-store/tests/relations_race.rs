//! Two writers that link the same pair of entries opposite ways at once: each checked for a
//! cycle before the other wrote, so both checks pass. The later writer sees the cycle after its
//! write and takes its link back, giving back the parent it replaced: no cycle is ever left.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use devlog_core::event::Event;
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::relations::{LinkKind, Links};
use devlog_core::store::{Mutation, PutOutcome, StoreInfo};
use devlog_core::{
    Created, Entry, EntryId, EntryRef, EntrySummary, EntryType, Filter, ListQuery, Origin, Page,
    Result, SearchHit, SearchQuery, Stats, Store, WriteMeta,
};

/// A store that, just before its next write, lets "another writer" link `(on, kind, other)`
/// through the same underlying store: the window between a link's cycle check and its write.
#[derive(Debug)]
struct Racing {
    inner: Arc<dyn Store>,
    race: Mutex<Option<(EntryId, LinkKind, String)>>,
}

#[async_trait]
impl Store for Racing {
    fn describe(&self) -> StoreInfo {
        self.inner.describe()
    }
    async fn create(&self, entry: Entry, dedupe: bool, meta: &WriteMeta) -> Result<Created> {
        self.inner.create(entry, dedupe, meta).await
    }
    async fn get(&self, id: EntryId) -> Result<Entry> {
        self.inner.get(id).await
    }
    async fn lookup(&self, reference: &EntryRef) -> Result<Vec<EntrySummary>> {
        self.inner.lookup(reference).await
    }
    async fn update(&self, id: EntryId, meta: &WriteMeta, f: &mut Mutation<'_>) -> Result<Entry> {
        let race = self.race.lock().unwrap().take();
        if let Some((on, kind, other)) = race {
            Devlog::new(self.inner.clone())
                .link(on, kind, &other, meta)
                .await
                .unwrap();
        }
        self.inner.update(id, meta, f).await
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
}

async fn setup() -> (
    tempfile::TempDir,
    Arc<Racing>,
    Devlog,
    [Entry; 3],
    WriteMeta,
) {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let racing = Arc::new(Racing {
        inner,
        race: Mutex::new(None),
    });
    let app = Devlog::new(racing.clone());
    let meta = WriteMeta::new(Origin::Cli);
    let mut made = Vec::new();
    for title in ["A", "B", "C"] {
        let input = NewEntry {
            title: title.into(),
            kind: Some(EntryType::Task),
            ..NewEntry::default()
        };
        made.push(app.create(input, &meta).await.unwrap().into_entry());
    }
    let [a, b, c]: [Entry; 3] = made.try_into().unwrap();
    (dir, racing, app, [a, b, c], meta)
}

#[tokio::test]
async fn opposite_parent_links_at_once_leave_no_cycle_and_give_back_the_old_parent() {
    let (_dir, racing, app, [a, b, c], meta) = setup().await;
    // A's parent is C; now A is moved under B while someone puts B under A.
    app.link(a.id, LinkKind::Parent, &c.handle.to_string(), &meta)
        .await
        .unwrap();
    *racing.race.lock().unwrap() = Some((b.id, LinkKind::Parent, a.handle.to_string()));
    let err = app
        .link(a.id, LinkKind::Parent, &b.handle.to_string(), &meta)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cycle"), "{err}");
    let (a, b, c) = (
        racing.get(a.id).await.unwrap(),
        racing.get(b.id).await.unwrap(),
        racing.get(c.id).await.unwrap(),
    );
    // The other writer's link stands; this one is taken back and A is under C again.
    assert_eq!(Links::of(&b).parent, Some(a.id));
    assert_eq!(Links::of(&a).parent, Some(c.id));
    assert_eq!(Links::of(&a).children, vec![b.id]);
    assert!(Links::of(&b).children.is_empty());
    assert_eq!(Links::of(&c).children, vec![a.id]);
}

#[tokio::test]
async fn opposite_blocks_at_once_leave_no_cycle() {
    let (_dir, racing, app, [a, b, _], meta) = setup().await;
    *racing.race.lock().unwrap() = Some((b.id, LinkKind::Blocks, a.handle.to_string()));
    let err = app
        .link(a.id, LinkKind::Blocks, &b.handle.to_string(), &meta)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cycle"), "{err}");
    let (a, b) = (
        racing.get(a.id).await.unwrap(),
        racing.get(b.id).await.unwrap(),
    );
    assert_eq!(Links::of(&b).blocks, vec![a.id]);
    assert_eq!(Links::of(&a).blocked_by, vec![b.id]);
    assert!(Links::of(&a).blocks.is_empty() && Links::of(&b).blocked_by.is_empty());
}
