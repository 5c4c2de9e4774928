//! The sync engine: turns the change feed into durable push jobs, runs them with
//! exactly-once remote effects, pulls remote changes and merges them field by field.
//!
//! Stages (atuin's lesson): read state, compute a plan (pure), then do the I/O, recording each
//! step durably before the next one so a crash at any point resumes without loss or
//! duplicates:
//!
//! 1. **Enqueue** — events after the integration's feed cursor become one pending job per
//!    entry; jobs and the new cursor commit together. The change feed itself is written in the
//!    same transaction as the entry, so the feed is the outbox.
//! 2. **Push** — a job compares the entry with the link's base and sends only changed fields.
//!    A create is announced first (`creating`), then sent with the entry's id as the remote
//!    marker; a retry of a `creating` link looks the marker up before creating again.
//! 3. **Pull** — pages after the pull cursor are merged into entries (three-way, against the
//!    base), conflicts recorded, and the cursor advanced only after the page is applied.

use std::collections::BTreeSet;
use std::sync::Arc;

use devlog_core::entry::Entry;
use devlog_core::entry::{Note, NoteCategory};
use devlog_core::error::{ErrorKind, Result, StoreError};
use devlog_core::event::{Origin, WriteMeta};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Action, ActionTarget, Integration, RemoteAction, RemoteItem, RemoteNote, SyncError,
    SyncErrorKind, Webhook, WebhookOutcome,
};
use devlog_core::merge::{Strategy, SyncedFields, merge};
use devlog_core::store::Store;
use devlog_core::time::{Clock, SystemClock};
use serde::Serialize;

use crate::failpoint::fail_point;
use crate::state::{
    CursorKind, InboxState, JobState, LinkState, NoteLinkState, SyncState, owner_tag,
};

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub strategy: Strategy,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt (with jitter) up to `max_delay_ms`.
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
    /// How long a claimed job is reserved for this process. The lease is renewed every third
    /// of it while the job runs, so a job may take longer; a worker that dies (or stalls a
    /// whole lease) loses the job, and another sync takes it once the lease has expired.
    /// `0`: no lease at all, a crashed run's jobs are taken at once (one sync process at a
    /// time only: the fault-injection drivers).
    pub lease_ms: i64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Manual,
            max_attempts: 8,
            base_delay_ms: 2_000,
            max_delay_ms: 15 * 60_000,
            lease_ms: 60_000,
        }
    }
}

/// One remote operation a sync would perform (`devlog sync --plan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum PlannedOp {
    /// Create a remote item for the entry.
    Create {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        title: String,
    },
    /// Look the entry's marker up first: an earlier create may have reached the remote.
    Recover {
        integration: String,
        entry_id: EntryId,
        handle: u64,
    },
    /// Update these fields of the linked remote item.
    Update {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        remote_id: String,
        fields: Vec<String>,
    },
    /// Post notes as comments of the linked remote item (`create`) or follow their edits
    /// (`update`).
    Notes {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        remote_id: String,
        create: u64,
        update: u64,
    },
    /// Fetch remote changes after the cursor.
    Pull {
        integration: String,
        cursor: Option<String>,
    },
    /// The feed cursor cannot be trusted (`reason`): every one of `entries` is compared with
    /// what was last synced; the operations that follow are what that comparison finds.
    Recompare {
        integration: String,
        reason: String,
        entries: u64,
    },
}

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub enqueued: u64,
    pub created: u64,
    pub recovered: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub pulled: u64,
    pub applied: u64,
    pub conflicts: u64,
    /// Notes posted as remote comments, or comments updated after a note was edited.
    pub notes_pushed: u64,
    /// Remote comments, board moves, pull-request states and commit mentions applied.
    pub actions_applied: u64,
    pub failed: Vec<String>,
    pub paused: Vec<String>,
    /// What the run noticed and acted on that the user should know (a rebuilt change feed).
    pub notes: Vec<String>,
}

/// An integration's feed cursor against the store's change feed (`SyncEngine::feed_position`).
struct FeedPosition {
    cursor: u64,
    feed_id: Option<String>,
    /// The feed identity recorded with the cursor.
    recorded: Option<String>,
    /// The feed's newest `seq` (0: empty).
    latest: u64,
    /// Why the cursor cannot be trusted, if it cannot.
    rebuilt: Option<String>,
}

/// What applying one webhook delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCounts {
    /// Items and actions the delivery reported.
    pub received: u64,
    /// Entries its items changed.
    pub applied: u64,
    /// Notes added or followed, status or priority moves.
    pub actions_applied: u64,
    pub conflicts: u64,
}

/// A verified webhook outcome as the inbox stores it.
#[derive(Serialize, serde::Deserialize)]
struct StoredOutcome {
    delivery_id: Option<String>,
    items: Vec<RemoteItem>,
    actions: Vec<RemoteAction>,
}

/// The sync engine over one store and a set of integrations.
#[derive(Debug, Clone)]
pub struct SyncEngine {
    store: Arc<dyn Store>,
    state: SyncState,
    integrations: Vec<Arc<dyn Integration>>,
    opts: SyncOptions,
    clock: Arc<dyn Clock>,
    owner: String,
}

fn now_ms(c: &dyn Clock) -> i64 {
    c.now().millis()
}

impl SyncEngine {
    pub fn new(
        store: Arc<dyn Store>,
        state: SyncState,
        integrations: Vec<Arc<dyn Integration>>,
        opts: SyncOptions,
    ) -> Self {
        Self {
            store,
            state,
            integrations,
            opts,
            clock: Arc::new(SystemClock),
            owner: owner_tag(),
        }
    }

    /// The same engine reading time (job schedules, leases, bases) from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn state(&self) -> &SyncState {
        &self.state
    }

    pub fn integrations(&self) -> &[Arc<dyn Integration>] {
        &self.integrations
    }

    fn integration(&self, name: &str) -> Result<&Arc<dyn Integration>> {
        self.integrations
            .iter()
            .find(|i| i.descriptor().name == name)
            .ok_or_else(|| {
                let known: Vec<String> = self
                    .integrations
                    .iter()
                    .map(|i| i.descriptor().name)
                    .collect();
                StoreError::invalid(
                    "system",
                    format!(
                        "`{name}` is not an enabled integration; enabled: {}",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })
    }

    fn sync_meta(name: &str) -> WriteMeta {
        WriteMeta::new(Origin::Sync).with_actor(Some(format!("sync:{name}")))
    }

    /// Stage 1: turns new change-feed events into push jobs for every integration.
    pub async fn enqueue(&self) -> Result<u64> {
        self.enqueue_noting(&mut Vec::new()).await
    }

    /// Where an integration's feed cursor stands in the store's change feed now. The cursor
    /// is a `seq` of one feed: when the store's feed has another identity (the JSON index was
    /// deleted and rebuilt) or ends before the cursor (a restored older backup), the cursor
    /// is not trusted and `rebuilt` says why.
    async fn feed_position(&self, name: &str) -> Result<FeedPosition> {
        let cursor: u64 = self
            .state
            .cursor(name, CursorKind::Feed)
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let feed_id = self.store.feed_id().await?;
        let recorded = self.state.cursor(name, CursorKind::FeedId).await?;
        let latest = self
            .store
            .events_before(None, 1)
            .await?
            .last()
            .map_or(0, |e| e.seq);
        let rebuilt = match (&feed_id, &recorded) {
            (Some(now), Some(was)) if now != was => {
                Some("the change feed was rebuilt (its index was deleted or replaced)".to_string())
            }
            _ if cursor > latest => Some(format!(
                "the change feed ends at {latest}, before the sync cursor {cursor} (restored from an older copy?)"
            )),
            _ => None,
        };
        Ok(FeedPosition {
            cursor,
            feed_id,
            recorded,
            latest,
            rebuilt,
        })
    }

    /// [`Self::enqueue`], adding to `notes` what a run should tell the user (a rebuilt feed).
    pub async fn enqueue_noting(&self, notes: &mut Vec<String>) -> Result<u64> {
        let mut total = 0;
        for i in &self.integrations {
            let name = i.descriptor().name;
            let pos = self.feed_position(&name).await?;
            let feed_id = pos.feed_id.as_deref();
            if let Some(why) = &pos.rebuilt {
                // Events since the last sync may be gone or renumbered: compare every entry
                // with its base instead (a push sends only fields that differ from the base,
                // so unchanged entries cost no remote call).
                let ids: Vec<EntryId> = self.store.all().await?.iter().map(|e| e.id).collect();
                total += self
                    .state
                    .enqueue(&name, &ids, pos.latest, feed_id, now_ms(&*self.clock))
                    .await?;
                let note = format!(
                    "{name}: {why}; re-comparing all {} entries with what was last synced",
                    ids.len()
                );
                tracing::info!("{note}");
                notes.push(note);
                continue;
            }
            let mut cursor = pos.cursor;
            if pos.recorded.is_none() && feed_id.is_some() {
                // Sync state from before feeds had identities: adopt this feed's.
                self.state
                    .enqueue(&name, &[], cursor, feed_id, now_ms(&*self.clock))
                    .await?;
            }
            loop {
                let events = self.store.events(cursor, 2000).await?;
                let Some(last) = events.last() else { break };
                let last_seq = last.seq;
                let actor = format!("sync:{name}");
                // Changes this integration itself applied are not echoed back to it.
                let entries: BTreeSet<EntryId> = events
                    .iter()
                    .filter(|e| {
                        !(e.origin == Origin::Sync && e.actor.as_deref() == Some(actor.as_str()))
                    })
                    .map(|e| e.entry_id)
                    .collect();
                let entries: Vec<EntryId> = entries.into_iter().collect();
                total += self
                    .state
                    .enqueue(&name, &entries, last_seq, feed_id, now_ms(&*self.clock))
                    .await?;
                cursor = last_seq;
            }
        }
        Ok(total)
    }

    /// The remote operations a sync would perform now, without performing any.
    pub async fn plan(&self, only: Option<&str>, entry: Option<EntryId>) -> Result<Vec<PlannedOp>> {
        let mut out = Vec::new();
        for i in &self.integrations {
            let name = i.descriptor().name;
            if only.is_some_and(|o| o != name) {
                continue;
            }
            out.push(PlannedOp::Pull {
                integration: name.clone(),
                cursor: self.state.cursor(&name, CursorKind::Pull).await?,
            });
            // Pending jobs plus entries with feed events not yet turned into jobs.
            let mut ids: BTreeSet<EntryId> = self
                .state
                .open_jobs()
                .await?
                .into_iter()
                .filter(|j| j.integration == name && j.state != JobState::Dead)
                .map(|j| j.entry_id)
                .collect();
            let pos = self.feed_position(&name).await?;
            if let Some(why) = &pos.rebuilt {
                // As `enqueue` will: every entry is compared with its base.
                let all = self.store.all().await?;
                out.push(PlannedOp::Recompare {
                    integration: name.clone(),
                    reason: why.clone(),
                    entries: all.len() as u64,
                });
                ids.extend(all.iter().map(|e| e.id));
            }
            let actor = format!("sync:{name}");
            let mut after = if pos.rebuilt.is_some() {
                pos.latest
            } else {
                pos.cursor
            };
            loop {
                let evs = self.store.events(after, 2000).await?;
                let Some(last) = evs.last() else { break };
                after = last.seq;
                ids.extend(
                    evs.iter()
                        .filter(|e| {
                            !(e.origin == Origin::Sync
                                && e.actor.as_deref() == Some(actor.as_str()))
                        })
                        .map(|e| e.entry_id),
                );
            }
            for id in ids {
                if entry.is_some_and(|e| e != id) {
                    continue;
                }
                let Ok(e) = self.store.get(id).await else {
                    continue;
                };
                let link = self.state.link(&name, id).await?;
                let fields = SyncedFields::from_entry(&e);
                match link {
                    None => out.push(PlannedOp::Create {
                        integration: name.clone(),
                        entry_id: id,
                        handle: e.handle,
                        title: e.title.clone(),
                    }),
                    Some(l) if l.state == LinkState::Unlinked => {}
                    Some(l) if l.state == LinkState::Creating => out.push(PlannedOp::Recover {
                        integration: name.clone(),
                        entry_id: id,
                        handle: e.handle,
                    }),
                    Some(l) => {
                        let held = self.state.held_fields(&name, id).await?;
                        let changed = changed_fields(l.base.as_ref(), &fields, &held);
                        let remote_id = l.remote_id.clone().unwrap_or_default();
                        if !changed.is_empty() {
                            out.push(PlannedOp::Update {
                                integration: name.clone(),
                                entry_id: id,
                                handle: e.handle,
                                remote_id: remote_id.clone(),
                                fields: changed,
                            });
                        }
                        if i.syncs_notes() {
                            let links = self.state.note_links(&name, id).await?;
                            let (mut create, mut update) = (0, 0);
                            for n in &e.notes {
                                match links.iter().find(|l| l.note_id == n.id) {
                                    Some(l) if l.state == NoteLinkState::Linked => {
                                        if l.hash.as_deref() != Some(&text_hash(&n.content)) {
                                            update += 1;
                                        }
                                    }
                                    _ => create += 1,
                                }
                            }
                            if create + update > 0 {
                                out.push(PlannedOp::Notes {
                                    integration: name.clone(),
                                    entry_id: id,
                                    handle: e.handle,
                                    remote_id,
                                    create,
                                    update,
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// A full sync: pull every integration (or `only`), enqueue local changes, push them.
    pub async fn sync(
        &self,
        only: Option<&str>,
        entry: Option<EntryId>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<SyncReport> {
        if let Some(o) = only {
            self.integration(o)?;
        }
        let mut report = SyncReport::default();
        for i in self.integrations.clone() {
            let name = i.descriptor().name;
            if only.is_some_and(|o| o != name) {
                continue;
            }
            if let Err(e) = self.pull(&i, &mut report).await {
                report.failed.push(format!("{name} pull: {e}"));
            }
        }
        report.enqueued = self.enqueue_noting(&mut report.notes).await?;
        self.push_all(only, entry, &mut report, progress).await?;
        Ok(report)
    }

    /// Stage 2: runs due push jobs.
    pub async fn push_all(
        &self,
        only: Option<&str>,
        entry: Option<EntryId>,
        report: &mut SyncReport,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<()> {
        let due = self.state.open_jobs().await?;
        let total = due.iter().filter(|j| j.state != JobState::Dead).count() as u64;
        let mut done = 0;
        for i in self.integrations.clone() {
            let name = i.descriptor().name;
            if only.is_some_and(|o| o != name) {
                continue;
            }
            // A job that failed in this run waits for the next run, even if its retry is due.
            let mut tried = std::collections::HashSet::new();
            loop {
                let now = now_ms(&*self.clock);
                if let Some((until, reason)) = self.state.paused_until(&name, now).await? {
                    report.paused.push(format!(
                        "{name}: paused for {}s ({reason})",
                        (until - now + 999) / 1000
                    ));
                    break;
                }
                let Some(job) = self
                    .state
                    .claim_for(&name, entry, &self.owner, now, self.opts.lease_ms)
                    .await?
                else {
                    break;
                };
                if !tried.insert(job.id) {
                    self.state
                        .defer_job(job.id, &self.owner, job.next_at, now)
                        .await?;
                    break;
                }
                done += 1;
                progress(done, total);
                let pushed = self
                    .leased(&name, job.id, self.push_one(&i, job.entry_id, report))
                    .await;
                match pushed {
                    Ok(()) => {
                        self.state
                            .finish_job(job.id, &self.owner, now_ms(&*self.clock))
                            .await?
                    }
                    Err(e) => {
                        let now = now_ms(&*self.clock);
                        let attempts = job.attempts + 1;
                        let dead = !e.is_retryable() || attempts >= self.opts.max_attempts;
                        let delay = match e.retry_after_ms {
                            Some(ms) => ms as i64,
                            None => {
                                backoff(attempts, self.opts.base_delay_ms, self.opts.max_delay_ms)
                            }
                        };
                        if e.kind == SyncErrorKind::RateLimited {
                            self.state.pause(&name, now + delay, &e.message).await?;
                        }
                        self.state
                            .fail_job(job.id, &self.owner, &e.to_string(), now + delay, dead, now)
                            .await?;
                        report.failed.push(format!(
                            "{name} #{}: {e}{}",
                            handle_of(&*self.store, job.entry_id).await,
                            if dead { " (dead-lettered)" } else { "" }
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs `work` (one job) while renewing this process's lease of the job every third of
    /// the lease. If the lease was lost (this process stalled past it and another sync took
    /// the job), the work stops at its next await point, as if this process had died: the
    /// job's other worker carries on under the exactly-once protocol.
    async fn leased<T>(
        &self,
        integration: &str,
        job: i64,
        work: impl std::future::Future<Output = Result<T, SyncError>>,
    ) -> Result<T, SyncError> {
        if self.opts.lease_ms <= 0 {
            return work.await;
        }
        let every = std::time::Duration::from_millis((self.opts.lease_ms / 3).max(1) as u64);
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return r,
                () = tokio::time::sleep(every) => {
                    let now = now_ms(&*self.clock);
                    match self.state.renew_lease(job, &self.owner, now, self.opts.lease_ms).await {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(SyncError::new(
                                integration,
                                SyncErrorKind::Transient,
                                "this sync lost its lease of the job (it stalled longer than the \
                                 lease) and another sync took it over",
                            ));
                        }
                        // The next renewal tries again; the lease is three times the period.
                        Err(e) => tracing::warn!(job, error = %e, "cannot renew a job's lease"),
                    }
                }
            }
        }
    }

    /// Pushes one entry to one integration, exactly once.
    async fn push_one(
        &self,
        i: &Arc<dyn Integration>,
        id: EntryId,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let name = i.descriptor().name;
        let local = |e: StoreError| {
            SyncError::new(
                &name,
                if e.kind() == ErrorKind::Unavailable {
                    SyncErrorKind::Transient
                } else {
                    SyncErrorKind::Permanent
                },
                e.to_string(),
            )
        };
        let entry = match self.store.get(id).await {
            Ok(e) => e,
            // Deleted locally: nothing to push (remote deletion is a later feature).
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(local(e)),
        };
        let fields = SyncedFields::from_entry(&entry);
        let now = now_ms(&*self.clock);
        let link = self.state.link(&name, id).await.map_err(local)?;
        let link = match link {
            Some(l) if l.state == LinkState::Creating => {
                // An earlier create may have reached the remote before we could record it.
                match i.find_by_marker(id).await? {
                    Some(found) => {
                        fail_point("push.recover.before-record");
                        self.state
                            .set_linked(
                                &name,
                                id,
                                &found.remote_id,
                                found.url.as_deref(),
                                &found.fields,
                                now,
                            )
                            .await
                            .map_err(local)?;
                        self.record_reference(&name, id, &found)
                            .await
                            .map_err(local)?;
                        i.adopted(&found, &found.fields).await?;
                        report.recovered += 1;
                        self.state.link(&name, id).await.map_err(local)?
                    }
                    None => None,
                }
            }
            other => other,
        };
        match link {
            // Unlinked on purpose (`devlog github unlink`): never create a new item for it.
            Some(l) if l.state == LinkState::Unlinked => Ok(()),
            Some(l) if l.state == LinkState::Linked => {
                let held = self.state.held_fields(&name, id).await.map_err(local)?;
                let changed = changed_fields(l.base.as_ref(), &fields, &held);
                let remote_id = l.remote_id.clone().unwrap_or_default();
                if changed.is_empty() {
                    let pushed = self.push_notes(i, &entry, &remote_id).await?;
                    report.notes_pushed += pushed;
                    if pushed == 0 {
                        report.unchanged += 1;
                    }
                    return Ok(());
                }
                fail_point("push.update.before-request");
                let item = i.update(&remote_id, &fields, &changed).await?;
                fail_point("push.update.before-record");
                let mut base = l.base.clone().unwrap_or_else(|| item.fields.clone());
                copy_fields(&fields, &mut base, &changed);
                self.state
                    .set_linked(&name, id, &item.remote_id, item.url.as_deref(), &base, now)
                    .await
                    .map_err(local)?;
                report.updated += 1;
                report.notes_pushed += self.push_notes(i, &entry, &item.remote_id).await?;
                Ok(())
            }
            _ => {
                self.state
                    .mark_creating(&name, id, now)
                    .await
                    .map_err(local)?;
                fail_point("push.create.before-request");
                let item = i.create(&entry, &fields).await?;
                fail_point("push.create.before-record");
                self.state
                    .set_linked(
                        &name,
                        id,
                        &item.remote_id,
                        item.url.as_deref(),
                        &fields,
                        now,
                    )
                    .await
                    .map_err(local)?;
                self.record_reference(&name, id, &item)
                    .await
                    .map_err(local)?;
                report.created += 1;
                report.notes_pushed += self.push_notes(i, &entry, &item.remote_id).await?;
                Ok(())
            }
        }
    }

    /// Mirrors the entry's notes as comments of `remote_id`: new notes are posted (announced
    /// first, so a retry finds a comment whose response was lost by its marker), edited notes
    /// are updated. Returns how many comments were written.
    async fn push_notes(
        &self,
        i: &Arc<dyn Integration>,
        entry: &Entry,
        remote_id: &str,
    ) -> Result<u64, SyncError> {
        if !i.syncs_notes() || entry.notes.is_empty() {
            return Ok(0);
        }
        let name = i.descriptor().name;
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        let links = self
            .state
            .note_links(&name, entry.id)
            .await
            .map_err(local)?;
        let mut written = 0;
        for note in &entry.notes {
            let hash = text_hash(&note.content);
            let now = now_ms(&*self.clock);
            match links.iter().find(|l| l.note_id == note.id) {
                Some(l) if l.state == NoteLinkState::Linked => {
                    if l.hash.as_deref() == Some(hash.as_str()) {
                        continue;
                    }
                    let rid = l.remote_id.clone().unwrap_or_default();
                    i.update_note(remote_id, &rid, note).await?;
                    self.state
                        .set_note_linked(&name, entry.id, &note.id, &rid, &hash, now)
                        .await
                        .map_err(local)?;
                    written += 1;
                }
                other => {
                    if other.is_some_and(|l| l.state == NoteLinkState::Creating)
                        && let Some(rid) = i.find_note(remote_id, &note.id).await?
                    {
                        // The comment exists; the text it holds is what we posted.
                        self.state
                            .set_note_linked(&name, entry.id, &note.id, &rid, &hash, now)
                            .await
                            .map_err(local)?;
                        continue;
                    }
                    self.state
                        .mark_note_creating(&name, entry.id, &note.id, now)
                        .await
                        .map_err(local)?;
                    fail_point("push.note.before-request");
                    let rid = i.create_note(remote_id, entry.id, note).await?;
                    fail_point("push.note.before-record");
                    self.state
                        .set_note_linked(&name, entry.id, &note.id, &rid, &hash, now)
                        .await
                        .map_err(local)?;
                    written += 1;
                }
            }
        }
        Ok(written)
    }

    /// The entry an action is about, if devlog knows it.
    async fn action_entry(&self, name: &str, target: &ActionTarget) -> Result<Option<EntryId>> {
        Ok(match target {
            ActionTarget::Linked { remote_id } => self
                .state
                .link_by_remote(name, remote_id)
                .await?
                .filter(|l| l.state == LinkState::Linked)
                .map(|l| l.entry_id),
            ActionTarget::Entry { id } => Some(*id),
            ActionTarget::Reference { reference } => {
                // Only an unambiguous reference moves an entry.
                match devlog_core::Devlog::new(self.store.clone())
                    .resolve_summary(reference)
                    .await
                {
                    Ok(e) => Some(e.id),
                    Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
                    Err(_) => None,
                }
            }
            ActionTarget::Attached { kind, remote_id } => {
                self.state.attached_entry(name, kind, remote_id).await?
            }
        })
    }

    /// Applies remote actions (shared by pull and webhooks): each key once; notes follow their
    /// comment's edits. Actions about entries devlog does not know are skipped.
    pub async fn apply_actions(
        &self,
        name: &str,
        actions: &[RemoteAction],
        report: &mut SyncReport,
    ) -> Result<()> {
        for a in actions {
            let Some(entry_id) = self.action_entry(name, &a.target).await? else {
                continue;
            };
            match &a.action {
                Action::Set {
                    status,
                    accept,
                    priority,
                    reason,
                    at,
                } => {
                    if self.state.action_applied(name, &a.key).await? {
                        continue;
                    }
                    let now = self.clock.now();
                    let (status, priority, at) = (*status, *priority, *at);
                    let reason = reason.clone();
                    // Not the integration's own actor: the change is pushed back to the linked
                    // item (a merged pull request closes the issue).
                    let meta = WriteMeta::new(Origin::Sync)
                        .with_actor(Some(format!("sync:{name}:{}", a.key)));
                    let mut changed = false;
                    let r = self
                        .store
                        .update(entry_id, &meta, &mut |e: &mut Entry| {
                            if at.is_some_and(|t| t < e.updated_at) {
                                changed = false;
                                return Ok(());
                            }
                            let mut f = SyncedFields::from_entry(e);
                            if !accept.contains(&f.status) {
                                f.status = status.unwrap_or(f.status);
                            }
                            f.priority = priority.unwrap_or(f.priority);
                            changed = f.status != e.status || f.priority != e.priority;
                            if !changed {
                                return Ok(());
                            }
                            f.apply_to(e, now);
                            if reason.is_empty() {
                                e.updated_at = now;
                                return Ok(());
                            }
                            e.notes.push(Note {
                                id: format!("{name}-{}", action_note_id(&a.key)),
                                timestamp: now,
                                category: NoteCategory::Progress,
                                content: reason.clone(),
                                files: Vec::new(),
                                code_changes: None,
                                extra: Default::default(),
                            });
                            e.updated_at = now;
                            Ok(())
                        })
                        .await;
                    match r {
                        Ok(_) if changed => report.actions_applied += 1,
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                    self.state
                        .record_action(name, &a.key, entry_id, now.millis())
                        .await?;
                }
                Action::Note(n) => {
                    if self.apply_note(name, entry_id, n).await? {
                        report.actions_applied += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Mirrors one remote comment as a note: created once (a deterministic note id makes a
    /// crash between the write and the bookkeeping harmless), edits followed. Returns whether
    /// the entry changed.
    async fn apply_note(&self, name: &str, entry_id: EntryId, n: &RemoteNote) -> Result<bool> {
        let hash = text_hash(&n.text);
        let now = self.clock.now();
        let (note_id, known) = match self.state.note_link_by_remote(name, &n.remote_id).await? {
            Some(l) if l.state == NoteLinkState::Linked => {
                if l.hash.as_deref() == Some(hash.as_str()) {
                    return Ok(false);
                }
                (l.note_id, true)
            }
            _ => {
                // One of ours (posted from a note, its bookkeeping lost in a crash): adopt it.
                // A marker naming a note already linked to another comment is someone's copy:
                // that comment is a new note like any other.
                let adoptable = match &n.note_marker {
                    Some(m) => !self
                        .state
                        .note_links(name, entry_id)
                        .await?
                        .iter()
                        .any(|l| &l.note_id == m && l.state == NoteLinkState::Linked),
                    None => false,
                };
                match &n.note_marker {
                    Some(m) if adoptable => (m.clone(), true),
                    _ => (format!("{name}-{}", n.remote_id), false),
                }
            }
        };
        let text = n.text.clone();
        let category = n.category.unwrap_or(NoteCategory::Feedback);
        let mut extra = devlog_core::entry::Extra::new();
        extra.insert(
            "source".into(),
            serde_json::json!({"system": name, "id": n.remote_id, "author": n.author, "url": n.url}),
        );
        let nid = note_id.clone();
        let mut changed = false;
        let r = self
            .store
            .update(entry_id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                changed = false;
                match e.notes.iter_mut().find(|x| x.id == nid) {
                    Some(x) if x.content != text => {
                        x.content = text.clone();
                        changed = true;
                    }
                    Some(_) => {}
                    None if known => {}
                    None => {
                        e.notes.push(Note {
                            id: nid.clone(),
                            timestamp: n.created_at,
                            category,
                            content: text.clone(),
                            files: Vec::new(),
                            code_changes: None,
                            extra: extra.clone(),
                        });
                        changed = true;
                    }
                }
                if changed {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        self.state
            .set_note_linked(name, entry_id, &note_id, &n.remote_id, &hash, now.millis())
            .await?;
        Ok(changed)
    }

    /// Notes the remote item in the entry's `externalReferences` (once).
    async fn record_reference(&self, name: &str, id: EntryId, item: &RemoteItem) -> Result<()> {
        let system = name.to_string();
        let remote_id = item.remote_id.clone();
        let url = item.url.clone();
        let now = self.clock.now();
        self.store
            .update(id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                if !e
                    .external_references
                    .iter()
                    .any(|r| r.system == system && r.id == remote_id)
                {
                    e.external_references
                        .push(devlog_core::entry::ExternalReference {
                            system: system.clone(),
                            id: remote_id.clone(),
                            url: url.clone(),
                            title: None,
                            status: None,
                            last_sync: Some(now),
                            extra: Default::default(),
                        });
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Stage 3: pulls remote changes page by page and merges them.
    pub async fn pull(
        &self,
        i: &Arc<dyn Integration>,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let name = i.descriptor().name;
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        if let Some((until, reason)) = self
            .state
            .paused_until(&name, now_ms(&*self.clock))
            .await
            .map_err(local)?
        {
            report
                .paused
                .push(format!("{name}: paused until {until} ({reason})"));
            return Ok(());
        }
        let mut cursor = self
            .state
            .cursor(&name, CursorKind::Pull)
            .await
            .map_err(local)?;
        loop {
            let page = match i.pull(cursor.as_deref()).await {
                Ok(p) => p,
                Err(e) if e.kind == SyncErrorKind::RateLimited => {
                    let now = now_ms(&*self.clock);
                    self.state
                        .pause(
                            &name,
                            now + e.retry_after_ms.unwrap_or(60_000) as i64,
                            &e.message,
                        )
                        .await
                        .map_err(local)?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            report.pulled += page.items.len() as u64;
            self.apply_remote(&name, &page.items, report)
                .await
                .map_err(local)?;
            self.apply_actions(&name, &page.actions, report)
                .await
                .map_err(local)?;
            fail_point("pull.before-cursor");
            if let Some(next) = &page.next_cursor {
                self.state
                    .set_cursor(&name, CursorKind::Pull, next)
                    .await
                    .map_err(local)?;
            }
            cursor = page.next_cursor.clone();
            if !page.more {
                break;
            }
        }
        Ok(())
    }

    /// Merges remote items into their entries (shared by pull and webhooks). Items not
    /// linked to an entry (and not carrying a devlog marker) are ignored.
    pub async fn apply_remote(
        &self,
        name: &str,
        items: &[RemoteItem],
        report: &mut SyncReport,
    ) -> Result<()> {
        for item in items {
            let link = match self.state.link_by_remote(name, &item.remote_id).await? {
                Some(l) => Some(l),
                None => match item.marker {
                    Some(m) => self.state.link(name, m).await?,
                    None => None,
                },
            };
            // Unlinked on purpose: the remote item no longer changes the entry.
            if link
                .as_ref()
                .is_some_and(|l| l.state == LinkState::Unlinked)
            {
                continue;
            }
            // Our own write coming back (or an unchanged item): nothing to merge or record.
            if let Some(l) = &link
                && l.state == LinkState::Linked
                && l.remote_id.as_deref() == Some(item.remote_id.as_str())
                && l.base.as_ref() == Some(&item.fields)
            {
                continue;
            }
            let adopting = link.as_ref().is_none_or(|l| l.state == LinkState::Creating);
            let (entry_id, base) = match link {
                Some(l) => (l.entry_id, l.base),
                None => match item.marker {
                    // Created by us, but the create was never recorded (crash): adopt it.
                    Some(m) if self.store.get(m).await.is_ok() => (m, None),
                    _ => continue,
                },
            };
            let entry = match self.store.get(entry_id).await {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let local_fields = SyncedFields::from_entry(&entry);
            // An adopted item without a base: what we would have pushed is the base.
            let base = base.unwrap_or_else(|| {
                if item.marker == Some(entry_id) {
                    local_fields.clone()
                } else {
                    item.fields.clone()
                }
            });
            let m = merge(
                Some(&base),
                &local_fields,
                &item.fields,
                self.opts.strategy,
                entry.updated_at,
                item.updated_at,
            );
            let now = self.clock.now();
            if !m.to_local.is_empty() {
                let merged = m.fields.clone();
                self.store
                    .update(entry_id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                        merged.apply_to(e, now);
                        e.updated_at = now;
                        Ok(())
                    })
                    .await?;
                report.applied += 1;
            }
            if !m.conflicts.is_empty() {
                self.state
                    .add_conflicts(name, entry_id, &m.conflicts, now.millis())
                    .await?;
                report.conflicts += m.conflicts.len() as u64;
            }
            // The remote now holds `item.fields`; pending local fields (to_remote) differ from
            // it and will be pushed by the entry's job.
            self.state
                .set_linked(
                    name,
                    entry_id,
                    &item.remote_id,
                    item.url.as_deref(),
                    &item.fields,
                    now.millis(),
                )
                .await?;
            if adopting {
                // Finish the create that crashed before it was recorded (e.g. a board card).
                if let Ok(i) = self.integration(name)
                    && let Err(e) = i.adopted(item, &item.fields).await
                {
                    report.failed.push(format!(
                        "{name} #{}: {e}",
                        handle_of(&*self.store, entry_id).await
                    ));
                }
            }
            if !m.to_remote.is_empty() {
                self.state.enqueue_one(name, entry_id, now.millis()).await?;
            }
        }
        Ok(())
    }

    /// Verifies and applies a webhook delivery; redeliveries are ignored.
    pub async fn webhook(&self, name: &str, hook: &Webhook) -> Result<SyncReport, SyncError> {
        let outcome = self.verify_webhook(name, hook).await?;
        self.apply_webhook(name, &outcome).await
    }

    /// The first half of [`webhook`](Self::webhook): the integration verifies the delivery
    /// (signature) and parses it; nothing is changed. A receiver answers bad deliveries with
    /// this before it acknowledges the rest.
    pub async fn verify_webhook(
        &self,
        name: &str,
        hook: &Webhook,
    ) -> Result<WebhookOutcome, SyncError> {
        let i = self
            .integration(name)
            .map_err(|e| SyncError::new(name, SyncErrorKind::Permanent, e.to_string()))?
            .clone();
        i.handle_webhook(hook).await
    }

    /// Stores a verified delivery durably before it is applied (see
    /// [`process_webhook`](Self::process_webhook)); a receiver acknowledges after this, so
    /// an accepted delivery survives a crash. Returns its id: the sender's, else a hash of
    /// the outcome (so the same payload is the same delivery).
    pub async fn accept_webhook(
        &self,
        name: &str,
        outcome: &WebhookOutcome,
    ) -> Result<String, SyncError> {
        use sha2::Digest as _;
        let stored = StoredOutcome {
            delivery_id: outcome.delivery_id.clone(),
            items: outcome.items.clone(),
            actions: outcome.actions.clone(),
        };
        let local = |e: String| SyncError::new(name, SyncErrorKind::Transient, e);
        let payload = serde_json::to_string(&stored).map_err(|e| local(e.to_string()))?;
        let id = match &outcome.delivery_id {
            Some(d) => d.clone(),
            None => {
                let digest = sha2::Sha256::digest(payload.as_bytes());
                let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
                format!("sha256-{hex}")
            }
        };
        self.state
            .inbox_put(name, &id, &payload, now_ms(&*self.clock))
            .await
            .map_err(|e| local(e.to_string()))?;
        Ok(id)
    }

    /// Applies a delivery stored by [`accept_webhook`](Self::accept_webhook) and records the
    /// outcome (counts, or why it failed) for [`webhook_status`](Self::webhook_status).
    /// A delivery already done is not applied again: the answer is all zeros (this call
    /// changed nothing; [`webhook_status`](Self::webhook_status) keeps the first counts).
    pub async fn process_webhook(
        &self,
        name: &str,
        delivery: &str,
    ) -> Result<WebhookCounts, SyncError> {
        let local = |e: String| SyncError::new(name, SyncErrorKind::Transient, e);
        let Some(row) = self
            .state
            .inbox_get(name, delivery)
            .await
            .map_err(|e| local(e.to_string()))?
        else {
            return Err(SyncError::new(
                name,
                SyncErrorKind::NotFound,
                format!("no stored delivery `{delivery}`"),
            ));
        };
        if row.state == InboxState::Done {
            return Ok(WebhookCounts::default());
        }
        let stored: StoredOutcome = serde_json::from_str(&row.payload).map_err(|e| {
            SyncError::new(
                name,
                SyncErrorKind::Permanent,
                format!("stored delivery `{delivery}` cannot be read: {e}"),
            )
        })?;
        let outcome = WebhookOutcome {
            delivery_id: stored.delivery_id,
            items: stored.items,
            actions: stored.actions,
        };
        let applied = self.apply_webhook(name, &outcome).await;
        let now = now_ms(&*self.clock);
        let recorded = match &applied {
            Ok(r) => {
                let counts = WebhookCounts {
                    received: (outcome.items.len() + outcome.actions.len()) as u64,
                    applied: r.applied,
                    actions_applied: r.actions_applied,
                    conflicts: r.conflicts,
                };
                let json = serde_json::to_string(&counts).unwrap_or_default();
                self.state
                    .inbox_finish(name, delivery, Ok(&json), now)
                    .await
                    .map(|()| counts)
            }
            Err(e) => self
                .state
                .inbox_finish(name, delivery, Err(&e.to_string()), now)
                .await
                .map(|()| WebhookCounts::default()),
        };
        let counts = recorded.map_err(|e| local(e.to_string()))?;
        applied.map(|_| counts)
    }

    /// Deliveries accepted but not finished (the server stopped or crashed while applying
    /// them), as (integration, delivery id), oldest first.
    pub async fn pending_webhooks(&self) -> Result<Vec<(String, String)>> {
        self.state.inbox_pending().await
    }

    /// A stored delivery and its outcome.
    pub async fn webhook_status(
        &self,
        name: &str,
        delivery: &str,
    ) -> Result<Option<crate::state::InboxDelivery>> {
        self.state.inbox_get(name, delivery).await
    }

    /// The second half of [`webhook`](Self::webhook): applies a verified delivery once.
    pub async fn apply_webhook(
        &self,
        name: &str,
        outcome: &WebhookOutcome,
    ) -> Result<SyncReport, SyncError> {
        let local = |e: StoreError| SyncError::new(name, SyncErrorKind::Transient, e.to_string());
        let mut report = SyncReport::default();
        // A redelivered event (same delivery id) is processed once. The delivery is recorded
        // after it was applied, so one that failed half-way can be redelivered; applying is
        // idempotent (merge against the base, note links, action keys).
        if let Some(d) = &outcome.delivery_id
            && self.state.delivery_seen(name, d).await.map_err(local)?
        {
            return Ok(report);
        }
        report.pulled = outcome.items.len() as u64;
        self.apply_remote(name, &outcome.items, &mut report)
            .await
            .map_err(local)?;
        self.apply_actions(name, &outcome.actions, &mut report)
            .await
            .map_err(local)?;
        if let Some(d) = &outcome.delivery_id {
            self.state
                .first_delivery(name, d, now_ms(&*self.clock))
                .await
                .map_err(local)?;
        }
        Ok(report)
    }

    /// Links an entry to an existing remote item (`devlog github link`). Fields the entry
    /// leaves empty (description, assignee) are taken from the item and tags are merged; the
    /// entry's other fields win and are pushed by the next sync. An item linked to another
    /// entry is refused.
    pub async fn link(&self, name: &str, id: EntryId, item: &RemoteItem) -> Result<Entry> {
        self.integration(name)?;
        if let Some(l) = self.state.link(name, id).await?
            && l.state == LinkState::Linked
            && l.remote_id.as_deref() != Some(item.remote_id.as_str())
        {
            return Err(StoreError::invalid(
                "link",
                format!(
                    "entry {} is already linked to {name} item {}; unlink it first",
                    handle_of(&*self.store, id).await,
                    l.remote_id.unwrap_or_default()
                ),
            ));
        }
        if let Some(l) = self.state.link_by_remote(name, &item.remote_id).await?
            && l.entry_id != id
            && l.state == LinkState::Linked
        {
            return Err(StoreError::invalid(
                "link",
                format!(
                    "{name} item {} is already linked to entry {}; unlink it first",
                    item.remote_id,
                    handle_of(&*self.store, l.entry_id).await
                ),
            ));
        }
        let remote = item.fields.clone();
        let now = self.clock.now();
        let entry = self
            .store
            .update(id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                if e.description.is_empty() {
                    e.description = remote.description.clone();
                }
                if e.assignee.is_none() {
                    e.assignee = remote.assignee.clone();
                }
                for t in &remote.tags {
                    if !e.tags.contains(t) {
                        e.tags.push(t.clone());
                    }
                }
                e.updated_at = now;
                Ok(())
            })
            .await?;
        self.state
            .set_linked(
                name,
                id,
                &item.remote_id,
                item.url.as_deref(),
                &item.fields,
                now.millis(),
            )
            .await?;
        self.record_reference(name, id, item).await?;
        self.state.enqueue_one(name, id, now.millis()).await?;
        Ok(entry)
    }

    /// Unlinks an entry from its remote item; returns the item's id, if it was linked. The
    /// entry's reference to it is removed; later syncs neither create a new item for the entry
    /// nor apply the old item's changes.
    pub async fn unlink(&self, name: &str, id: EntryId) -> Result<Option<String>> {
        let Some(link) = self.state.link(name, id).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        self.state.unlink(name, id, now.millis()).await?;
        let remote_id = link.remote_id.clone();
        if let Some(r) = &remote_id {
            let system = name.to_string();
            self.store
                .update(id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                    e.external_references
                        .retain(|x| !(x.system == system && &x.id == r));
                    Ok(())
                })
                .await?;
        }
        Ok(remote_id)
    }

    /// Resolves a conflict by taking the local or the remote value.
    pub async fn resolve(&self, conflict_id: i64, take_remote: bool) -> Result<()> {
        let c = self
            .state
            .open_conflicts()
            .await?
            .into_iter()
            .find(|c| c.id == conflict_id)
            .ok_or_else(|| StoreError::not_found(format!("conflict {conflict_id}")))?;
        let now = self.clock.now();
        if take_remote {
            let field = c.field.field.clone();
            let value = c.field.remote.clone();
            self.store
                .update(
                    c.entry_id,
                    &Self::sync_meta(&c.integration),
                    &mut |e: &mut Entry| {
                        let mut f = serde_json::to_value(SyncedFields::from_entry(e))
                            .map_err(|x| StoreError::invalid("field", x.to_string()))?;
                        f[&field] = value.clone();
                        let fields: SyncedFields = serde_json::from_value(f)
                            .map_err(|x| StoreError::invalid(&field, x.to_string()))?;
                        fields.apply_to(e, now);
                        e.updated_at = now;
                        Ok(())
                    },
                )
                .await?;
        }
        self.state
            .resolve_conflict(
                conflict_id,
                if take_remote { "remote" } else { "local" },
                now.millis(),
            )
            .await?;
        // Taking local means pushing it; taking remote leaves nothing to push.
        self.state
            .enqueue_one(&c.integration, c.entry_id, now.millis())
            .await?;
        Ok(())
    }
}

/// Fields that differ from the base (all of them when there is no base), minus held ones.
fn changed_fields(base: Option<&SyncedFields>, now: &SyncedFields, held: &[String]) -> Vec<String> {
    let a = base
        .map(|b| serde_json::to_value(b).unwrap_or_default())
        .unwrap_or_default();
    let b = serde_json::to_value(now).unwrap_or_default();
    let Some(bo) = b.as_object() else {
        return Vec::new();
    };
    bo.iter()
        .filter(|(k, v)| a.get(*k) != Some(*v) && !held.contains(k))
        .map(|(k, _)| k.clone())
        .collect()
}

fn copy_fields(from: &SyncedFields, to: &mut SyncedFields, which: &[String]) {
    let src = serde_json::to_value(from).unwrap_or_default();
    let mut dst = serde_json::to_value(&*to).unwrap_or_default();
    for k in which {
        if let Some(v) = src.get(k) {
            dst[k] = v.clone();
        }
    }
    if let Ok(f) = serde_json::from_value(dst) {
        *to = f;
    }
}

/// Exponential backoff with full jitter: a random delay in [base·2^(n-1)/2, base·2^(n-1)],
/// capped at `max`.
pub fn backoff(attempt: i64, base: i64, max: i64) -> i64 {
    let exp = base
        .saturating_mul(1_i64 << attempt.clamp(1, 30).saturating_sub(1))
        .min(max);
    let jitter = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as i64)
        .unwrap_or(0))
        % (exp / 2 + 1);
    exp / 2 + jitter
}

async fn handle_of(store: &dyn Store, id: EntryId) -> String {
    match store.get(id).await {
        Ok(e) => e.handle.to_string(),
        Err(_) => id.short(),
    }
}

/// A stable hash of a note's text (what both sides last agreed on).
pub fn text_hash(text: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(text.replace("\r\n", "\n").trim().as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A note id derived from an action key (`pr:12:merged` → `pr-12-merged`).
fn action_note_id(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
