//! The sync engine's durable, machine-local state: feed and pull cursors, links to remote
//! items with their merge base, the job queue, conflicts, webhook deliveries, pauses and the
//! HTTP validator cache (ETags with their responses, so a new process can ask for 304s).

//! The sync state in SQLite: a file of its own beside the JSON backend's index
//! (`.devlog/.state/sync.sqlite`), or the `sqlite` backend's own database. One machine: job
//! leases are computed from the caller's clock (`now`), which is this machine's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use devlog_core::error::{Result, StoreError};
use devlog_core::id::EntryId;
use devlog_core::merge::{FieldConflict, SyncedFields};
use devlog_core::sync_state::{
    Attachment, Conflict, CursorKind, HttpCacheEntry, INBOX_KEEP_MS, InboxDelivery,
    IntegrationEvent, Job, Link, NewIntegrationEvent, NoteLink, SyncStateStore, WorkflowPruned,
    WorkflowRun, WorkflowRunCounts, WorkflowRunState, WorklogLink, WorklogLinkState,
};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{Snapshot, holder_gone_here, parse_field, parse_id, workflow_run_from};

/// The table recording applied sync-state migrations. Not sqlx's default, so the sync tables
/// can live in the same SQLite database as the `sqlite` backend's entries, whose own
/// migrations use the default table. Kept from when these tables belonged to devlog-sync, with
/// the same migrations (`migrations/sync-sqlite/`), so existing files open unchanged.
const MIGRATIONS_TABLE: &str = "_devlog_sync_migrations";

fn inbox_row(r: &sqlx::sqlite::SqliteRow) -> Result<InboxDelivery> {
    let state: String = r.try_get("state").map_err(err)?;
    Ok(InboxDelivery {
        integration: r.try_get("integration").map_err(err)?,
        delivery_id: r.try_get("delivery_id").map_err(err)?,
        received_at: r.try_get("received_at").map_err(err)?,
        state: state.parse()?,
        payload: r.try_get("payload").map_err(err)?,
        result: r.try_get("result").map_err(err)?,
        error: r.try_get("error").map_err(err)?,
    })
}

fn err(e: sqlx::Error) -> StoreError {
    let transient = matches!(&e, sqlx::Error::Database(d) if d.message().contains("locked") || d.message().contains("busy"));
    StoreError::Backend {
        backend: "sync-state",
        message: e.to_string(),
        transient,
    }
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The sync state in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteSyncState {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteSyncState {
    /// Opens (creating if needed) the sync tables in the SQLite database at `path` — a file of
    /// its own beside the JSON backend's index, or the `sqlite` backend's own database.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, true).await
    }

    /// Opens an existing file only (`Ok(None)` when there is none): for the import, which must
    /// not create an empty file where another process just renamed the real one away.
    pub(crate) async fn open_existing(path: &Path) -> Result<Option<Self>> {
        if !path.is_file() {
            return Ok(None);
        }
        match Self::open_with(path, false).await {
            Ok(s) => Ok(Some(s)),
            Err(_) if !path.is_file() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn open_with(path: &Path, create: bool) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::io(dir.display().to_string(), e))?;
        }
        // No `journal_mode` here: switching a fresh file to WAL needs a lock SQLite's busy
        // handler cannot wait for, so first openers racing would fail; `enable_wal` waits.
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma(
                "cache_size",
                format!("-{}", crate::index::SYNC_STATE_CACHE_KIB),
            );
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(err)?;
        crate::index::enable_wal(&pool).await.map_err(err)?;
        let mut migrator = sqlx::migrate!("./migrations/sync-sqlite");
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        crate::index::migrate_locked(&pool, &migrator)
            .await
            .map_err(|e| StoreError::Backend {
                backend: "sync-state",
                message: format!("cannot migrate {}: {e}", path.display()),
                transient: false,
            })?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// The pool, for tests and the import into a server store.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool (the last connection checkpoints the WAL into the file).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Every row a server store takes over when it imports this file (see `Snapshot`).
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let p = &self.pool;
        Ok(Snapshot {
            cursors: sqlx::query_as(
                "SELECT integration, kind, value FROM cursors ORDER BY integration, kind",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            links: sqlx::query_as(
                "SELECT integration, entry_id, remote_id, url, base, state, since, last_synced_at
                 FROM links ORDER BY integration, entry_id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            jobs: sqlx::query_as(
                "SELECT integration, entry_id, state, attempts, next_at, last_error, created_at,
                        updated_at
                 FROM jobs WHERE state <> 'done' ORDER BY id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            done_jobs: sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM jobs WHERE state = 'done'",
            )
            .fetch_one(p)
            .await
            .map_err(err)?
            .max(0) as u64,
            conflicts: sqlx::query_as(
                "SELECT integration, entry_id, field, base, local, remote, created_at, resolved_at,
                        resolution
                 FROM conflicts ORDER BY id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            deliveries: sqlx::query_as(
                "SELECT integration, delivery_id, received_at FROM deliveries
                 ORDER BY integration, delivery_id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            note_links: sqlx::query_as(
                "SELECT integration, entry_id, note_id, remote_id, state, hash, updated_at
                 FROM note_links ORDER BY integration, entry_id, note_id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            worklog_links: sqlx::query_as(
                "SELECT integration, entry_id, worklog_id, remote_id, state, hash, updated_at
                 FROM worklog_links ORDER BY integration, entry_id, worklog_id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            applied_actions: sqlx::query_as(
                "SELECT integration, key, entry_id, applied_at FROM applied_actions
                 ORDER BY integration, key",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            attachments: sqlx::query_as(
                "SELECT integration, kind, remote_id, entry_id, url, created_at FROM attachments
                 ORDER BY integration, kind, remote_id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            pauses: sqlx::query_as(
                "SELECT integration, until, reason FROM pauses ORDER BY integration",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            workflow_runs: sqlx::query_as(
                "SELECT id, workflow, state, entry_id, wake_at, started_at, updated_at, record
                 FROM workflow_runs ORDER BY started_at, id",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            workflow_claims: sqlx::query_as(
                "SELECT workflow, claim_key, created_at FROM workflow_claims
                 ORDER BY workflow, claim_key",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
            // Not the `integration` cursor (devlog-workflow's name for it): it counts this
            // file's integration events, which a server numbers anew.
            workflow_cursors: sqlx::query_as(
                "SELECT name, value FROM workflow_cursors WHERE name <> 'integration'
                 ORDER BY name",
            )
            .fetch_all(p)
            .await
            .map_err(err)?,
        })
    }
}

#[async_trait]
impl SyncStateStore for SqliteSyncState {
    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    async fn cursor(&self, integration: &str, kind: CursorKind) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM cursors WHERE integration = ? AND kind = ?")
            .bind(integration)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn set_cursor(&self, integration: &str, kind: CursorKind, value: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        upsert_cursor(&mut conn, integration, kind, value).await
    }

    /// Queues pushes for `entries` and moves the feed cursor to `seq` of the feed identified
    /// by `feed_id` (recorded as the `feed-id` cursor when given), in one transaction: a crash
    /// leaves either all or none.
    async fn enqueue(
        &self,
        integration: &str,
        entries: &[EntryId],
        seq: u64,
        feed_id: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let mut added = 0;
        for e in entries {
            added += insert_job(&mut tx, integration, *e, now).await?;
        }
        upsert_cursor(&mut tx, integration, CursorKind::Feed, &seq.to_string()).await?;
        if let Some(id) = feed_id {
            upsert_cursor(&mut tx, integration, CursorKind::FeedId, id).await?;
        }
        tx.commit().await.map_err(err)?;
        Ok(added)
    }

    /// Queues a push of one entry (no-op if one is already pending or running).
    async fn enqueue_one(&self, integration: &str, entry: EntryId, now: i64) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        insert_job(&mut conn, integration, entry, now)
            .await
            .map(|_| ())
    }

    /// Like [`claim`](Self::claim), limited to one entry's job when `entry` is given.
    async fn claim_for(
        &self,
        integration: &str,
        entry: Option<EntryId>,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<Job>> {
        let entry = entry.map(|e| e.to_string());
        let candidates: Vec<(i64, Option<String>, Option<i64>, String)> = sqlx::query_as(
            "SELECT id, owner, lease_until, state FROM jobs
             WHERE integration = ? AND ((state = 'pending' AND next_at <= ?) OR state = 'running')
               AND (? IS NULL OR entry_id = ?)
             ORDER BY next_at, id LIMIT 20",
        )
        .bind(integration)
        .bind(now)
        .bind(entry.as_deref())
        .bind(entry.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        for (id, prev_owner, lease, state) in candidates {
            if state == "running" && !lease_expired(lease, now) {
                continue;
            }
            let r = sqlx::query(
                "UPDATE jobs SET state = 'running', owner = ?, lease_until = ?, updated_at = ?,
                                rerun = 0
                 WHERE id = ? AND state = ? AND COALESCE(owner, '') = COALESCE(?, '')",
            )
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .bind(id)
            .bind(&state)
            .bind(prev_owner.as_deref())
            .execute(&self.pool)
            .await
            .map_err(err)?;
            if r.rows_affected() == 1 {
                return self.job(id).await;
            }
        }
        Ok(None)
    }

    async fn job(&self, id: i64) -> Result<Option<Job>> {
        let row = sqlx::query(
            "SELECT id, integration, entry_id, state, attempts, next_at, last_error, updated_at FROM jobs WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// Extends `owner`'s lease of a running job to `now + lease_ms`; `false` if the job is no
    /// longer its own (finished elsewhere, or taken over after the lease expired).
    async fn renew_lease(&self, id: i64, owner: &str, now: i64, lease_ms: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND owner = ?",
        )
        .bind(now + lease_ms)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Marks `owner`'s job done (a no-op if another worker took it over meanwhile), or back to
    /// pending, due now, when a change of its entry arrived while it ran (`rerun`).
    async fn finish_job(&self, id: i64, owner: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = CASE WHEN rerun > 0 THEN 'pending' ELSE 'done' END,
                             next_at = ?, rerun = 0, owner = NULL, lease_until = NULL,
                             last_error = NULL, updated_at = ?
             WHERE id = ? AND owner = ?",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Records a failed attempt of `owner`'s job: retried at `next_at`, or dead-lettered when
    /// `dead` (a no-op if another worker took it over meanwhile).
    async fn fail_job(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        next_at: i64,
        dead: bool,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = ?, attempts = attempts + 1, next_at = ?, last_error = ?,
                 owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND owner = ?",
        )
        .bind(if dead { "dead" } else { "pending" })
        .bind(next_at)
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Puts `owner`'s job back without counting an attempt.
    async fn defer_job(&self, id: i64, owner: &str, next_at: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE jobs SET state = 'pending', next_at = ?, owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND owner = ?")
            .bind(next_at)
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Makes dead (or all failed) jobs pending again; `None` means every dead job.
    async fn retry(&self, id: Option<i64>, now: i64) -> Result<u64> {
        let r = match id {
            Some(id) => sqlx::query(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_at = ?, updated_at = ?
                 WHERE id = ? AND state IN ('dead', 'pending')",
            )
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await,
            None => sqlx::query(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_at = ?, updated_at = ? WHERE state = 'dead'",
            )
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await,
        }
        .map_err(err)?;
        Ok(r.rows_affected())
    }

    /// Jobs that are not done, oldest first.
    async fn open_jobs(&self) -> Result<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT id, integration, entry_id, state, attempts, next_at, last_error, updated_at
             FROM jobs WHERE state <> 'done' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn link(&self, integration: &str, entry: EntryId) -> Result<Option<Link>> {
        let row = sqlx::query("SELECT * FROM links WHERE integration = ? AND entry_id = ?")
            .bind(integration)
            .bind(entry.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| link_from_row(&r)).transpose()
    }

    async fn link_by_remote(&self, integration: &str, remote_id: &str) -> Result<Option<Link>> {
        let row = sqlx::query("SELECT * FROM links WHERE integration = ? AND remote_id = ?")
            .bind(integration)
            .bind(remote_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| link_from_row(&r)).transpose()
    }

    async fn links(&self) -> Result<Vec<Link>> {
        let rows = sqlx::query("SELECT * FROM links ORDER BY integration, entry_id")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(link_from_row).collect()
    }

    /// Durably records that a create is about to be sent (before the request leaves).
    async fn mark_creating(&self, integration: &str, entry: EntryId, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO links (integration, entry_id, remote_id, state, since)
             VALUES (?, ?, NULL, 'creating', ?)
             ON CONFLICT(integration, entry_id) DO UPDATE SET state = 'creating'",
        )
        .bind(integration)
        .bind(entry.to_string())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Records the remote item an entry is linked to and the base both sides now agree on.
    async fn set_linked(
        &self,
        integration: &str,
        entry: EntryId,
        remote_id: &str,
        url: Option<&str>,
        base: &SyncedFields,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO links (integration, entry_id, remote_id, url, base, state, since, last_synced_at)
             VALUES (?, ?, ?, ?, ?, 'linked', ?, ?)
             ON CONFLICT(integration, entry_id) DO UPDATE SET remote_id = excluded.remote_id,
                 url = COALESCE(excluded.url, links.url), base = excluded.base, state = 'linked',
                 last_synced_at = excluded.last_synced_at",
        )
        .bind(integration)
        .bind(entry.to_string())
        .bind(remote_id)
        .bind(url)
        .bind(serde_json::to_string(base).expect("fields serialize"))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Records conflicts (one open conflict per field; a newer one replaces its values).
    async fn add_conflicts(
        &self,
        integration: &str,
        entry: EntryId,
        cs: &[FieldConflict],
        now: i64,
    ) -> Result<()> {
        for c in cs {
            sqlx::query(
                "INSERT INTO conflicts (integration, entry_id, field, base, local, remote, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(integration, entry_id, field) WHERE resolved_at IS NULL
                 DO UPDATE SET base = excluded.base, local = excluded.local, remote = excluded.remote",
            )
            .bind(integration)
            .bind(entry.to_string())
            .bind(c.field.as_str())
            .bind(c.base.to_string())
            .bind(c.local.to_string())
            .bind(c.remote.to_string())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        }
        Ok(())
    }

    async fn open_conflicts(&self) -> Result<Vec<Conflict>> {
        let rows = sqlx::query(
            "SELECT id, integration, entry_id, field, base, local, remote, created_at
             FROM conflicts WHERE resolved_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let mut out = Vec::new();
        for r in rows {
            let v = |c: &str| -> Result<serde_json::Value> {
                let s: String = r.try_get(c).map_err(err)?;
                Ok(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
            };
            let entry: String = r.try_get("entry_id").map_err(err)?;
            out.push(Conflict {
                id: r.try_get("id").map_err(err)?,
                integration: r.try_get("integration").map_err(err)?,
                entry_id: parse_id(&entry)?,
                field: FieldConflict {
                    field: parse_field(&r.try_get::<String, _>("field").map_err(err)?)?,
                    base: v("base")?,
                    local: v("local")?,
                    remote: v("remote")?,
                },
                created_at: r.try_get("created_at").map_err(err)?,
            });
        }
        Ok(out)
    }

    async fn resolve_conflict(&self, id: i64, resolution: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("UPDATE conflicts SET resolved_at = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL")
            .bind(now)
            .bind(resolution)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Fields of an entry held back by open conflicts.
    async fn held_fields(&self, integration: &str, entry: EntryId) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT field FROM conflicts WHERE integration = ? AND entry_id = ? AND resolved_at IS NULL",
        )
        .bind(integration)
        .bind(entry.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(err)
    }

    /// Records a webhook delivery; false if it was seen before (a redelivery).
    async fn first_delivery(&self, integration: &str, delivery: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO deliveries (integration, delivery_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(integration)
        .bind(delivery)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores a verified webhook delivery before it is applied (the inbox), and forgets
    /// finished deliveries older than [`INBOX_KEEP_MS`]. A delivery already stored is kept as
    /// it is, except that a failed one becomes pending again with the new payload (the
    /// sender's redelivery retries it).
    async fn inbox_put(
        &self,
        integration: &str,
        delivery: &str,
        payload: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("DELETE FROM webhook_inbox WHERE state <> 'pending' AND received_at < ?")
            .bind(now - INBOX_KEEP_MS)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query(
            "INSERT INTO webhook_inbox (integration, delivery_id, received_at, state, payload) \
             VALUES (?, ?, ?, 'pending', ?) \
             ON CONFLICT (integration, delivery_id) DO UPDATE SET \
             state = 'pending', payload = excluded.payload, error = NULL, finished_at = NULL \
             WHERE webhook_inbox.state = 'failed'",
        )
        .bind(integration)
        .bind(delivery)
        .bind(now)
        .bind(payload)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    /// A stored delivery.
    async fn inbox_get(&self, integration: &str, delivery: &str) -> Result<Option<InboxDelivery>> {
        let row = sqlx::query(
            "SELECT integration, delivery_id, received_at, state, payload, result, error \
             FROM webhook_inbox WHERE integration = ? AND delivery_id = ?",
        )
        .bind(integration)
        .bind(delivery)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(|r| inbox_row(&r)).transpose()
    }

    /// Marks a delivery `done` (with its counts as JSON) or `failed` (with why), and drops
    /// its payload.
    async fn inbox_finish(
        &self,
        integration: &str,
        delivery: &str,
        outcome: std::result::Result<&str, &str>,
        now: i64,
    ) -> Result<()> {
        let (state, result, error) = match outcome {
            Ok(r) => ("done", Some(r), None),
            Err(e) => ("failed", None, Some(e)),
        };
        sqlx::query(
            "UPDATE webhook_inbox SET state = ?, result = ?, error = ?, finished_at = ?, \
             payload = CASE WHEN ? = 'done' THEN '' ELSE payload END \
             WHERE integration = ? AND delivery_id = ?",
        )
        .bind(state)
        .bind(result)
        .bind(error)
        .bind(now)
        .bind(state)
        .bind(integration)
        .bind(delivery)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Deliveries stored but not finished (a crash, a stop), oldest first.
    async fn inbox_pending(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as(
            "SELECT integration, delivery_id FROM webhook_inbox WHERE state = 'pending' \
             ORDER BY received_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)
    }

    /// Whether a webhook delivery was already processed.
    async fn delivery_seen(&self, integration: &str, delivery: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE integration = ? AND delivery_id = ?",
        )
        .bind(integration)
        .bind(delivery)
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(n > 0)
    }

    /// Unlinks an entry from its remote item: the link becomes `unlinked` (so no new item is
    /// created for the entry and the remote item no longer changes it), and its note links,
    /// attachments and open jobs go. `false` if it was not linked.
    async fn unlink(&self, integration: &str, entry: EntryId, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let e = entry.to_string();
        let r = sqlx::query(
            "UPDATE links SET state = 'unlinked', remote_id = NULL, base = NULL, last_synced_at = ?
             WHERE integration = ? AND entry_id = ? AND state != 'unlinked'",
        )
        .bind(now)
        .bind(integration)
        .bind(&e)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        for q in [
            "DELETE FROM note_links WHERE integration = ? AND entry_id = ?",
            "DELETE FROM worklog_links WHERE integration = ? AND entry_id = ?",
            "DELETE FROM attachments WHERE integration = ? AND entry_id = ?",
        ] {
            sqlx::query(q)
                .bind(integration)
                .bind(&e)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        sqlx::query(
            "UPDATE jobs SET state = 'done', updated_at = ? WHERE integration = ? AND entry_id = ? AND state IN ('pending', 'running')",
        )
        .bind(now)
        .bind(integration)
        .bind(&e)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    /// The note links of an entry with one integration.
    async fn note_links(&self, integration: &str, entry: EntryId) -> Result<Vec<NoteLink>> {
        let rows = sqlx::query("SELECT * FROM note_links WHERE integration = ? AND entry_id = ?")
            .bind(integration)
            .bind(entry.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(note_link_from_row).collect()
    }

    /// The note link of a remote comment.
    async fn note_link_by_remote(
        &self,
        integration: &str,
        remote_id: &str,
    ) -> Result<Option<NoteLink>> {
        let row = sqlx::query("SELECT * FROM note_links WHERE integration = ? AND remote_id = ?")
            .bind(integration)
            .bind(remote_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| note_link_from_row(&r)).transpose()
    }

    /// Durably records that a note's comment is about to be created.
    async fn mark_note_creating(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO note_links (integration, entry_id, note_id, remote_id, state, updated_at)
             VALUES (?, ?, ?, NULL, 'creating', ?)
             ON CONFLICT(integration, entry_id, note_id) DO UPDATE SET state = 'creating'",
        )
        .bind(integration)
        .bind(entry.to_string())
        .bind(note_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Records the comment a note is mirrored by and the text both sides agree on.
    async fn set_note_linked(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        remote_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO note_links (integration, entry_id, note_id, remote_id, state, hash, updated_at)
             VALUES (?, ?, ?, ?, 'linked', ?, ?)
             ON CONFLICT(integration, entry_id, note_id) DO UPDATE SET remote_id = excluded.remote_id,
                 state = 'linked', hash = excluded.hash, updated_at = excluded.updated_at",
        )
        .bind(integration)
        .bind(entry.to_string())
        .bind(note_id)
        .bind(remote_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn set_note_deleted(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE note_links SET state = 'deleted', updated_at = ?
             WHERE integration = ? AND entry_id = ? AND note_id = ?",
        )
        .bind(now)
        .bind(integration)
        .bind(entry.to_string())
        .bind(note_id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn worklog_links(&self, integration: &str, entry: EntryId) -> Result<Vec<WorklogLink>> {
        let rows = sqlx::query(
            "SELECT * FROM worklog_links WHERE integration = ? AND entry_id = ? ORDER BY worklog_id",
        )
        .bind(integration)
        .bind(entry.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(worklog_link_from_row).collect()
    }

    async fn worklog_link_by_remote(
        &self,
        integration: &str,
        remote_id: &str,
    ) -> Result<Option<WorklogLink>> {
        let row =
            sqlx::query("SELECT * FROM worklog_links WHERE integration = ? AND remote_id = ?")
                .bind(integration)
                .bind(remote_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        row.map(|r| worklog_link_from_row(&r)).transpose()
    }

    async fn mark_worklog_creating(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO worklog_links (integration, entry_id, worklog_id, remote_id, state, updated_at)
             VALUES (?, ?, ?, NULL, 'creating', ?)
             ON CONFLICT(integration, entry_id, worklog_id) DO UPDATE SET state = 'creating'",
        )
        .bind(integration)
        .bind(entry.to_string())
        .bind(worklog_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn set_worklog_linked(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        remote_id: &str,
        state: WorklogLinkState,
        hash: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO worklog_links (integration, entry_id, worklog_id, remote_id, state, hash, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(integration, entry_id, worklog_id) DO UPDATE SET remote_id = excluded.remote_id,
                 state = excluded.state, hash = excluded.hash, updated_at = excluded.updated_at",
        )
        .bind(integration)
        .bind(entry.to_string())
        .bind(worklog_id)
        .bind(remote_id)
        .bind(state.as_str())
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn set_worklog_deleted(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE worklog_links SET state = 'deleted', updated_at = ?
             WHERE integration = ? AND entry_id = ? AND worklog_id = ?",
        )
        .bind(now)
        .bind(integration)
        .bind(entry.to_string())
        .bind(worklog_id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Whether a remote action was already applied.
    async fn action_applied(&self, integration: &str, key: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM applied_actions WHERE integration = ? AND key = ?",
        )
        .bind(integration)
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(n > 0)
    }

    async fn record_action(
        &self,
        integration: &str,
        key: &str,
        entry: EntryId,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO applied_actions (integration, key, entry_id, applied_at) VALUES (?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(integration)
        .bind(key)
        .bind(entry.to_string())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Attaches a secondary remote object (a pull request) to an entry; re-attaching moves it.
    async fn attach(
        &self,
        integration: &str,
        kind: &str,
        remote_id: &str,
        entry: EntryId,
        url: Option<&str>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO attachments (integration, kind, remote_id, entry_id, url, created_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(integration, kind, remote_id) DO UPDATE SET entry_id = excluded.entry_id,
                 url = COALESCE(excluded.url, attachments.url)",
        )
        .bind(integration)
        .bind(kind)
        .bind(remote_id)
        .bind(entry.to_string())
        .bind(url)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn detach(&self, integration: &str, kind: &str, remote_id: &str) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM attachments WHERE integration = ? AND kind = ? AND remote_id = ?",
        )
        .bind(integration)
        .bind(kind)
        .bind(remote_id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    /// The entry a secondary remote object is attached to.
    async fn attached_entry(
        &self,
        integration: &str,
        kind: &str,
        remote_id: &str,
    ) -> Result<Option<EntryId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT entry_id FROM attachments WHERE integration = ? AND kind = ? AND remote_id = ?",
        )
        .bind(integration)
        .bind(kind)
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        id.map(|i| parse_id(&i)).transpose()
    }

    async fn attached_of_kind(
        &self,
        integration: &str,
        kind: &str,
    ) -> Result<Vec<(String, EntryId, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT remote_id, entry_id, url FROM attachments WHERE integration = ? AND kind = ? ORDER BY created_at, remote_id",
        )
        .bind(integration)
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                let entry: String = r.try_get("entry_id").map_err(err)?;
                Ok((
                    r.try_get("remote_id").map_err(err)?,
                    parse_id(&entry)?,
                    r.try_get("url").map_err(err)?,
                ))
            })
            .collect()
    }

    /// Everything attached to an entry: `(kind, remote_id, url)`.
    async fn attachments(&self, integration: &str, entry: EntryId) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(
            "SELECT kind, remote_id, url FROM attachments WHERE integration = ? AND entry_id = ? ORDER BY created_at",
        )
        .bind(integration)
        .bind(entry.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("kind").map_err(err)?,
                    r.try_get("remote_id").map_err(err)?,
                    r.try_get("url").map_err(err)?,
                ))
            })
            .collect()
    }

    async fn pause(&self, integration: &str, until: i64, reason: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO pauses (integration, until, reason) VALUES (?, ?, ?)
             ON CONFLICT(integration) DO UPDATE SET until = excluded.until, reason = excluded.reason",
        )
        .bind(integration)
        .bind(until)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Until when (ms) an integration is paused, if it is.
    async fn paused_until(&self, integration: &str, now: i64) -> Result<Option<(i64, String)>> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT until, reason FROM pauses WHERE integration = ?")
                .bind(integration)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        Ok(row.filter(|(until, _)| *until > now))
    }

    /// A remembered response for `url` as `identity` (see [`HttpCacheEntry`]), marked as just
    /// used so it is the last to be evicted.
    async fn http_cache_get(&self, identity: &str, url: &str) -> Result<Option<HttpCacheEntry>> {
        let row: Option<(String, Vec<u8>, String)> = sqlx::query_as(
            "UPDATE http_cache SET used_at = (SELECT COALESCE(MAX(used_at), 0) + 1 FROM http_cache)
             WHERE identity = ? AND url = ? RETURNING etag, body, headers",
        )
        .bind(identity)
        .bind(url)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(row.map(|(etag, body, headers)| HttpCacheEntry::from_stored(etag, body, &headers)))
    }

    /// Remembers a response, then evicts the least recently used rows beyond `max_rows` or
    /// `max_bytes` (an entry larger than `max_bytes` on its own is not kept).
    async fn http_cache_put(
        &self,
        identity: &str,
        url: &str,
        entry: &HttpCacheEntry,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<()> {
        if !entry.fits(max_rows, max_bytes) {
            return self.http_cache_remove(identity, url).await;
        }
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(
            "INSERT INTO http_cache (identity, url, etag, body, headers, size, used_at)
             VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(used_at), 0) + 1 FROM http_cache))
             ON CONFLICT(identity, url) DO UPDATE SET etag = excluded.etag, body = excluded.body,
               headers = excluded.headers, size = excluded.size, used_at = excluded.used_at",
        )
        .bind(identity)
        .bind(url)
        .bind(&entry.etag)
        .bind(&entry.body)
        .bind(entry.headers_json())
        .bind(entry.size() as i64)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query(
            "DELETE FROM http_cache WHERE rowid IN (
               SELECT rowid FROM (
                 SELECT rowid, ROW_NUMBER() OVER w AS n, SUM(size) OVER w AS running
                 FROM http_cache WINDOW w AS (ORDER BY used_at DESC, rowid DESC))
               WHERE n > ? OR running > ?)",
        )
        .bind(i64::try_from(max_rows).unwrap_or(i64::MAX))
        .bind(i64::try_from(max_bytes).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn http_cache_remove(&self, identity: &str, url: &str) -> Result<()> {
        sqlx::query("DELETE FROM http_cache WHERE identity = ? AND url = ?")
            .bind(identity)
            .bind(url)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// How many responses are remembered, and their total size (for status and tests).
    async fn http_cache_size(&self) -> Result<(u64, u64)> {
        let (n, bytes): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM http_cache")
                .fetch_one(&self.pool)
                .await
                .map_err(err)?;
        Ok((n as u64, bytes as u64))
    }

    async fn record_event(&self, e: &NewIntegrationEvent) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO integration_events
                 (integration, kind, event_key, entry_id, data, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&e.integration)
        .bind(e.kind.as_str())
        .bind(super::event_key(&e.key))
        .bind(e.entry_id.map(|id| id.to_string()))
        .bind(e.data.to_string())
        .bind(e.at)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn events_after(&self, after: i64, limit: usize) -> Result<Vec<IntegrationEvent>> {
        let rows = sqlx::query(
            "SELECT id, integration, kind, event_key, entry_id, data, created_at
             FROM integration_events WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                super::event_from(
                    r.try_get("id").map_err(err)?,
                    r.try_get("integration").map_err(err)?,
                    &r.try_get::<String, _>("kind").map_err(err)?,
                    r.try_get("event_key").map_err(err)?,
                    r.try_get::<Option<String>, _>("entry_id").map_err(err)?,
                    &r.try_get::<String, _>("data").map_err(err)?,
                    r.try_get("created_at").map_err(err)?,
                )
            })
            .collect()
    }

    async fn last_event_id(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM integration_events")
            .fetch_one(&self.pool)
            .await
            .map_err(err)
    }

    async fn prune_integration_events(&self, through: i64, before: i64) -> Result<u64> {
        // `AUTOINCREMENT` never hands out an id again; keeping the newest row keeps
        // `last_event_id` where it was as well.
        let r = sqlx::query(
            "DELETE FROM integration_events WHERE id <= ? AND created_at < ?
               AND id < (SELECT MAX(id) FROM integration_events)",
        )
        .bind(through)
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected())
    }

    async fn workflow_claim(&self, workflow: &str, key: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO workflow_claims (workflow, claim_key, created_at) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(workflow)
        .bind(key)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn workflow_cursor(&self, name: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM workflow_cursors WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn set_workflow_cursor(&self, name: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO workflow_cursors (name, value) VALUES (?, ?)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn start_workflow_run(
        &self,
        run: &WorkflowRun,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let n = insert_workflow_run(&self.pool, run, Some((owner, now + lease_ms)), false).await?;
        Ok(n == 1)
    }

    async fn save_workflow_run(&self, run: &WorkflowRun) -> Result<()> {
        insert_workflow_run(&self.pool, run, None, true).await?;
        Ok(())
    }

    async fn workflow_run(&self, id: &str) -> Result<Option<WorkflowRun>> {
        let row = sqlx::query(
            "SELECT id, workflow, state, entry_id, wake_at, started_at, updated_at, record
             FROM workflow_runs WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(|r| workflow_run_from_row(&r)).transpose()
    }

    async fn workflow_runs(
        &self,
        workflow: Option<&str>,
        state: Option<WorkflowRunState>,
        limit: usize,
    ) -> Result<Vec<WorkflowRun>> {
        let limit = if limit == 0 {
            i64::MAX
        } else {
            i64::try_from(limit).unwrap_or(i64::MAX)
        };
        let rows = sqlx::query(
            "SELECT id, workflow, state, entry_id, wake_at, started_at, updated_at, record
             FROM workflow_runs
             WHERE (? IS NULL OR workflow = ?) AND (? IS NULL OR state = ?)
             ORDER BY started_at DESC, id DESC LIMIT ?",
        )
        .bind(workflow)
        .bind(workflow)
        .bind(state.map(|s| s.as_str()))
        .bind(state.map(|s| s.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(workflow_run_from_row).collect()
    }

    async fn due_workflow_runs(&self, now: i64) -> Result<Vec<WorkflowRun>> {
        let rows = sqlx::query(
            "SELECT id, workflow, state, entry_id, wake_at, started_at, updated_at, record
             FROM workflow_runs
             WHERE state = 'running'
                OR (state IN ('waiting', 'retrying') AND (wake_at IS NULL OR wake_at <= ?))
             ORDER BY started_at, id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(workflow_run_from_row).collect()
    }

    async fn lease_workflow_run(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let holder: Option<Option<String>> =
            sqlx::query_scalar("SELECT lease_owner FROM workflow_runs WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        let Some(holder) = holder else {
            return Ok(false);
        };
        // A gone holder of this host is matched by name; '' matches no holder.
        let gone = holder
            .filter(|h| holder_gone_here(h, owner))
            .unwrap_or_default();
        let r = sqlx::query(
            "UPDATE workflow_runs SET lease_owner = ?, lease_until = ?
             WHERE id = ? AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ?
                               OR lease_owner = ?)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(id)
        .bind(now)
        .bind(gone)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn renew_workflow_run_lease(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE workflow_runs SET lease_until = ? WHERE id = ? AND lease_owner = ?",
        )
        .bind(now + lease_ms)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn release_workflow_run(&self, id: &str, owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE workflow_runs SET lease_owner = NULL, lease_until = NULL
             WHERE id = ? AND lease_owner = ?",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn prune_workflow_runs(
        &self,
        keep_runs: usize,
        finished_before: i64,
        claims_before: i64,
    ) -> Result<WorkflowPruned> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let beyond: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM (SELECT id, state FROM workflow_runs
                             ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?)
             WHERE state IN ('succeeded', 'failed', 'dead')",
        )
        .bind(i64::try_from(keep_runs).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        let mut runs = 0;
        for id in beyond {
            runs += sqlx::query("DELETE FROM workflow_runs WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected();
        }
        runs += sqlx::query(
            "DELETE FROM workflow_runs
             WHERE updated_at < ? AND state IN ('succeeded', 'failed', 'dead')",
        )
        .bind(finished_before)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        let claims = sqlx::query("DELETE FROM workflow_claims WHERE created_at < ?")
            .bind(claims_before)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(WorkflowPruned { runs, claims })
    }

    async fn workflow_run_counts(&self) -> Result<WorkflowRunCounts> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM workflow_runs GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        super::workflow_run_counts(rows)
    }
}

/// Inserts a run, leased to `lease` (owner, until) when given. An existing id is left alone
/// (rows stored: 0), or with `replace` gets the run's record and columns, its lease kept.
async fn insert_workflow_run(
    pool: &SqlitePool,
    run: &WorkflowRun,
    lease: Option<(&str, i64)>,
    replace: bool,
) -> Result<u64> {
    let (owner, until) = lease.unzip();
    let text = if replace {
        "INSERT INTO workflow_runs (id, workflow, state, entry_id, wake_at, started_at,
                                    updated_at, record, lease_owner, lease_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET workflow = excluded.workflow,
             state = excluded.state, entry_id = excluded.entry_id,
             wake_at = excluded.wake_at, started_at = excluded.started_at,
             updated_at = excluded.updated_at, record = excluded.record"
    } else {
        "INSERT INTO workflow_runs (id, workflow, state, entry_id, wake_at, started_at,
                                    updated_at, record, lease_owner, lease_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    };
    let r = sqlx::query(text)
        .bind(&run.id)
        .bind(&run.workflow)
        .bind(run.state.as_str())
        .bind(run.entry.map(|e| e.to_string()))
        .bind(run.wake_at)
        .bind(run.started_at)
        .bind(run.updated_at)
        .bind(run.record.to_string())
        .bind(owner)
        .bind(until)
        .execute(pool)
        .await
        .map_err(err)?;
    Ok(r.rows_affected())
}

fn workflow_run_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<WorkflowRun> {
    workflow_run_from(
        r.try_get("id").map_err(err)?,
        r.try_get("workflow").map_err(err)?,
        &r.try_get::<String, _>("state").map_err(err)?,
        r.try_get("entry_id").map_err(err)?,
        r.try_get("wake_at").map_err(err)?,
        r.try_get("started_at").map_err(err)?,
        r.try_get("updated_at").map_err(err)?,
        &r.try_get::<String, _>("record").map_err(err)?,
    )
}

/// Adds a pending push job unless one is already pending or running; returns 1 if added.
async fn insert_job(
    conn: &mut SqliteConnection,
    integration: &str,
    entry: EntryId,
    now: i64,
) -> Result<u64> {
    let r = sqlx::query(
        "INSERT INTO jobs (integration, entry_id, state, attempts, next_at, created_at, updated_at)
         VALUES (?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(integration)
    .bind(entry.to_string())
    .bind(now)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    if r.rows_affected() == 0 {
        // A job is open: if it is running, it may have read the entry before this change, so
        // it runs once more when it finishes (`finish_job`). Callers hold a write transaction,
        // so the open job cannot finish between the two statements.
        sqlx::query(
            "UPDATE jobs SET rerun = rerun + 1
             WHERE integration = ? AND entry_id = ? AND state IN ('pending', 'running')",
        )
        .bind(integration)
        .bind(entry.to_string())
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(r.rows_affected())
}

async fn upsert_cursor(
    conn: &mut SqliteConnection,
    integration: &str,
    kind: CursorKind,
    value: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO cursors (integration, kind, value) VALUES (?, ?, ?)
         ON CONFLICT(integration, kind) DO UPDATE SET value = excluded.value",
    )
    .bind(integration)
    .bind(kind.as_str())
    .bind(value)
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    Ok(())
}

fn job_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Job> {
    let entry: String = r.try_get("entry_id").map_err(err)?;
    Ok(Job {
        id: r.try_get("id").map_err(err)?,
        integration: r.try_get("integration").map_err(err)?,
        entry_id: parse_id(&entry)?,
        state: r.try_get::<String, _>("state").map_err(err)?.parse()?,
        attempts: r.try_get("attempts").map_err(err)?,
        next_at: r.try_get("next_at").map_err(err)?,
        last_error: r.try_get("last_error").map_err(err)?,
        updated_at: r.try_get("updated_at").map_err(err)?,
    })
}

fn link_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Link> {
    let entry: String = r.try_get("entry_id").map_err(err)?;
    let base: Option<String> = r.try_get("base").map_err(err)?;
    Ok(Link {
        integration: r.try_get("integration").map_err(err)?,
        entry_id: parse_id(&entry)?,
        remote_id: r.try_get("remote_id").map_err(err)?,
        url: r.try_get("url").map_err(err)?,
        base: base.and_then(|b| serde_json::from_str(&b).ok()),
        state: r.try_get::<String, _>("state").map_err(err)?.parse()?,
        last_synced_at: r.try_get("last_synced_at").map_err(err)?,
    })
}

/// A running job's lease is over when it expired (or was never set): its worker died, or
/// stalled longer than the lease without renewing it.
fn lease_expired(lease_until: Option<i64>, now: i64) -> bool {
    lease_until.is_none_or(|l| l <= now)
}

fn worklog_link_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<WorklogLink> {
    let entry: String = r.try_get("entry_id").map_err(err)?;
    Ok(WorklogLink {
        entry_id: parse_id(&entry)?,
        worklog_id: r.try_get("worklog_id").map_err(err)?,
        remote_id: r.try_get("remote_id").map_err(err)?,
        state: r.try_get::<String, _>("state").map_err(err)?.parse()?,
        hash: r.try_get("hash").map_err(err)?,
    })
}

fn note_link_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<NoteLink> {
    let entry: String = r.try_get("entry_id").map_err(err)?;
    Ok(NoteLink {
        entry_id: parse_id(&entry)?,
        note_id: r.try_get("note_id").map_err(err)?,
        remote_id: r.try_get("remote_id").map_err(err)?,
        state: r.try_get::<String, _>("state").map_err(err)?.parse()?,
        hash: r.try_get("hash").map_err(err)?,
    })
}
