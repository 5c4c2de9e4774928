//! The `sqlite` backend: one embedded database file is the truth; search reads devlog's own
//! word index in it (`crate::index`, table `terms`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use devlog_core::audit::{AuditLog, Draft, Source, Stored};
use devlog_core::entry::{Entry, EntrySummary};
use devlog_core::error::{Result, StoreError};
use devlog_core::event::{Event, Origin, WriteMeta};
use devlog_core::id::{EntryId, EntryRef};
use devlog_core::store::{
    Created, Filter, ListQuery, Mutation, Page, PutOutcome, SearchHit, SearchQuery, Stats, Store,
    StoreInfo,
};
use std::sync::Arc;

use sqlx::SqliteConnection;

use devlog_core::time::{Clock, SystemClock};

use crate::fsutil::ensure_gitignore;
use crate::index::SqlIndex;

/// Entries in one SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    index: SqlIndex,
    path: PathBuf,
    /// When events happen (the system clock unless a test injects one).
    clock: Arc<dyn Clock>,
}

impl SqliteStore {
    /// Opens or creates the database at `path`, applying schema migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::io(dir.display().to_string(), e))?;
        }
        let index = SqlIndex::open(path, "sqlite", true).await?;
        if let Err(e) = ignore_in_git(path) {
            tracing::warn!(
                "cannot add {} to .devlog/.gitignore, so git may show it as untracked: {e}",
                path.display()
            );
        }
        Ok(Self {
            index,
            path: path.to_path_buf(),
            clock: Arc::new(SystemClock),
        })
    }

    /// Its database.
    pub(crate) fn index(&self) -> &SqlIndex {
        &self.index
    }

    /// The same store stamping its events with `clock`'s time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> devlog_core::time::Timestamp {
        self.clock.now()
    }

    /// Appends a write's events to the change feed and their records to the audit log, in
    /// the write's transaction: every write goes through here.
    async fn record(
        &self,
        tx: &mut SqliteConnection,
        events: &[Event],
        source: &Source,
    ) -> Result<()> {
        self.index.insert_events(&mut *tx, events).await?;
        crate::audit::sqlite_append(tx, Draft::of_events(events, source), self.index.err())
            .await
            .map(|_| ())
    }

    /// `put_raw` inside the caller's write transaction (which commits it).
    async fn put_raw_in(
        &self,
        tx: &mut SqliteConnection,
        mut entry: Entry,
        meta: &WriteMeta,
    ) -> Result<PutOutcome> {
        let old = self.index.doc(&mut *tx, entry.id).await?;
        if old.as_ref() == Some(&entry) {
            return Ok(PutOutcome::Unchanged);
        }
        if entry.handle == 0
            || self
                .index
                .handle_taken(&mut *tx, entry.handle, entry.id)
                .await?
        {
            entry.handle = self.index.next_handle(&mut *tx, 0).await?;
        }
        entry.key = self
            .index
            .unique_key(&mut *tx, &entry.key, entry.id)
            .await?;
        self.index.upsert(&mut *tx, &entry, None).await?;
        // Migration copies the source's change feed instead of inventing events.
        if meta.origin != Origin::Migrate {
            let events = Event::for_change(old.as_ref(), Some(&entry), self.now(), meta);
            self.record(&mut *tx, &events, &meta.source).await?;
        }
        Ok(if old.is_some() {
            PutOutcome::Replaced
        } else {
            PutOutcome::Inserted
        })
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<Stored>> {
        crate::audit::sqlite_page(self.index.pool(), after, limit, self.index.err()).await
    }

    async fn audit_count(&self) -> Result<u64> {
        crate::audit::sqlite_count(self.index.pool(), self.index.err()).await
    }

    async fn audit_append(
        &self,
        drafts: Vec<Draft>,
    ) -> Result<Vec<devlog_core::audit::AuditRecord>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.index.begin_write().await?;
        let records =
            crate::audit::sqlite_append_actions(&mut tx, drafts, self.index.err()).await?;
        tx.commit().await.map_err(self.index.err())?;
        Ok(records)
    }

    async fn audit_head(&self) -> Result<devlog_core::audit::Head> {
        crate::audit::sqlite_head(self.index.pool(), self.index.err()).await
    }

    async fn audit_checkpoint(
        &self,
        key: &devlog_core::audit::AuditKey,
        at: devlog_core::time::Timestamp,
        actor: Option<String>,
        origin: devlog_core::event::Origin,
    ) -> Result<Option<devlog_core::audit::AuditRecord>> {
        let mut tx = self.index.begin_write().await?;
        let record =
            crate::audit::sqlite_checkpoint(&mut tx, key, at, actor, origin, self.index.err())
                .await?;
        tx.commit().await.map_err(self.index.err())?;
        Ok(record)
    }

    fn audit_location(&self) -> String {
        format!("table audit_log in {}", self.path.display())
    }
}

#[async_trait]
impl devlog_core::auth::TokenStore for SqliteStore {
    async fn insert_token(&self, token: &devlog_core::auth::Token) -> Result<()> {
        crate::tokens::sqlite::insert(&self.index, token, self.now()).await
    }

    async fn list_tokens(&self) -> Result<Vec<devlog_core::auth::Token>> {
        crate::tokens::sqlite::list(&self.index).await
    }

    async fn get_token(
        &self,
        id: &devlog_core::auth::TokenId,
    ) -> Result<Option<devlog_core::auth::Token>> {
        crate::tokens::sqlite::get(&self.index, id).await
    }

    async fn revoke_token(
        &self,
        id: &devlog_core::auth::TokenId,
        at: devlog_core::time::Timestamp,
    ) -> Result<bool> {
        crate::tokens::sqlite::revoke(&self.index, id, at).await
    }

    async fn touch_token(
        &self,
        id: &devlog_core::auth::TokenId,
        at: devlog_core::time::Timestamp,
    ) -> Result<()> {
        crate::tokens::sqlite::touch(&self.index, id, at).await
    }

    async fn has_tokens(&self) -> Result<bool> {
        crate::tokens::sqlite::any(&self.index).await
    }

    fn token_location(&self) -> String {
        format!("table api_tokens in {}", self.path.display())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn audit_log(&self) -> Option<&dyn AuditLog> {
        Some(self)
    }

    fn tokens(&self) -> Option<&dyn devlog_core::auth::TokenStore> {
        Some(self)
    }

    fn describe(&self) -> StoreInfo {
        StoreInfo {
            backend: "sqlite",
            location: self.path.display().to_string(),
        }
    }

    async fn milestones(&self) -> Result<Vec<devlog_core::planning::Milestone>> {
        self.index.milestones().await
    }

    async fn put_milestone(
        &self,
        m: &devlog_core::planning::Milestone,
        create: bool,
    ) -> Result<()> {
        self.index.put_milestone(m, create).await
    }

    async fn create(&self, mut entry: Entry, dedupe: bool, meta: &WriteMeta) -> Result<Created> {
        let mut tx = self.index.begin_write().await?;
        if dedupe
            && let Some(existing) = self
                .index
                .open_duplicate(&mut tx, &entry.title, entry.kind)
                .await?
        {
            return Ok(Created::Existing(existing));
        }
        entry.handle = self.index.next_handle(&mut tx, 0).await?;
        entry.key = self.index.unique_key(&mut tx, &entry.key, entry.id).await?;
        self.index.upsert(&mut tx, &entry, None).await?;
        let events = Event::for_change(None, Some(&entry), self.now(), meta);
        self.record(&mut tx, &events, &meta.source).await?;
        tx.commit().await.map_err(self.index.err())?;
        Ok(Created::New(entry))
    }

    async fn get(&self, id: EntryId) -> Result<Entry> {
        let mut conn = self
            .index
            .pool()
            .acquire()
            .await
            .map_err(self.index.err())?;
        self.index
            .doc(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::not_found(id.to_string()))
    }

    async fn lookup(&self, reference: &EntryRef) -> Result<Vec<EntrySummary>> {
        self.index.lookup(reference).await
    }

    async fn update(&self, id: EntryId, meta: &WriteMeta, f: &mut Mutation<'_>) -> Result<Entry> {
        let mut tx = self.index.begin_write().await?;
        let old = self
            .index
            .doc(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::not_found(id.to_string()))?;
        let mut new = old.clone();
        f(&mut new)?;
        if new == old {
            return Ok(old);
        }
        // Identity is not editable through update.
        new.id = old.id;
        new.handle = old.handle;
        self.index.upsert(&mut tx, &new, None).await?;
        let events = Event::for_change(Some(&old), Some(&new), self.now(), meta);
        self.record(&mut tx, &events, &meta.source).await?;
        tx.commit().await.map_err(self.index.err())?;
        Ok(new)
    }

    async fn delete(&self, id: EntryId, meta: &WriteMeta) -> Result<()> {
        let mut tx = self.index.begin_write().await?;
        let old = self
            .index
            .doc(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::not_found(id.to_string()))?;
        self.index.remove(&mut tx, id).await?;
        let events = Event::for_change(Some(&old), None, self.now(), meta);
        self.record(&mut tx, &events, &meta.source).await?;
        tx.commit().await.map_err(self.index.err())?;
        Ok(())
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<EntrySummary>> {
        self.index.list(query).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>> {
        self.index.search(query).await
    }

    async fn stats(&self, filter: &Filter) -> Result<Stats> {
        self.index.stats(filter).await
    }

    async fn tag_counts(&self, filter: &Filter) -> Result<BTreeMap<String, u64>> {
        self.index.tag_counts(filter).await
    }

    async fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.index.events(after, limit).await
    }

    async fn events_before(&self, before: Option<u64>, limit: usize) -> Result<Vec<Event>> {
        self.index.events_before(before, limit).await
    }

    async fn entry_events(
        &self,
        id: EntryId,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        self.index.entry_events(id, after, before, limit).await
    }

    async fn count_events(&self, after: u64, before: Option<u64>) -> Result<u64> {
        self.index.count_events(after, before).await
    }

    async fn feed_id(&self) -> Result<Option<String>> {
        self.index.feed_id().await.map(Some)
    }

    async fn put_raw(&self, entry: Entry, meta: &WriteMeta) -> Result<PutOutcome> {
        let mut tx = self.index.begin_write().await?;
        let outcome = self.put_raw_in(&mut tx, entry, meta).await?;
        if outcome != PutOutcome::Unchanged {
            tx.commit().await.map_err(self.index.err())?;
        }
        Ok(outcome)
    }

    /// One transaction for the whole batch: a bulk load commits (and syncs) once per batch
    /// instead of once per entry.
    async fn put_raw_batch(
        &self,
        entries: Vec<Entry>,
        meta: &WriteMeta,
    ) -> Result<Vec<PutOutcome>> {
        let mut tx = self.index.begin_write().await?;
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            outcomes.push(self.put_raw_in(&mut tx, entry, meta).await?);
        }
        tx.commit().await.map_err(self.index.err())?;
        Ok(outcomes)
    }

    async fn append_events(&self, events: &[Event]) -> Result<()> {
        let mut tx = self.index.begin_write().await?;
        self.record(&mut tx, events, &Source::default()).await?;
        tx.commit().await.map_err(self.index.err())
    }

    async fn count(&self) -> Result<u64> {
        self.index.count().await
    }

    async fn all(&self) -> Result<Vec<Entry>> {
        self.index.all().await
    }

    async fn warnings(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// When the database lives inside a `.devlog` folder (the default `.devlog/devlog.sqlite`),
/// makes `.devlog/.gitignore` ignore it and the `-wal`, `-shm` and `-journal` files SQLite
/// keeps beside it: a binary database that changes on every command does not belong in git,
/// and would show as untracked in every `git status`.
fn ignore_in_git(path: &Path) -> Result<()> {
    let absolute =
        std::path::absolute(path).map_err(|e| StoreError::io(path.display().to_string(), e))?;
    let Some(root) = absolute
        .ancestors()
        .skip(1)
        .find(|d| d.file_name().is_some_and(|n| n == ".devlog"))
    else {
        return Ok(());
    };
    let Ok(relative) = absolute.strip_prefix(root) else {
        return Ok(());
    };
    let mut pattern = String::from("/");
    for (i, part) in relative.components().enumerate() {
        if i > 0 {
            pattern.push('/');
        }
        for c in part.as_os_str().to_string_lossy().chars() {
            // Literal, not a glob: escape what .gitignore would interpret.
            if matches!(c, '*' | '?' | '[' | ']' | '\\' | '!' | '#' | ' ') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
    }
    let lines: Vec<String> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| format!("{pattern}{suffix}"))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    ensure_gitignore(
        root,
        "# devlog: the sqlite backend's database and SQLite's files beside it (never commit)",
        &lines,
    )
}
