//! The sync state on a database server: one implementation for PostgreSQL and MySQL/MariaDB,
//! in the `sync_*` tables of the store's own database (migrations `0004_sync_state.sql` for
//! PostgreSQL, `0005_sync_state.sql` for MySQL), so every machine and server on the store
//! shares links, cursors, bases, jobs and webhook deliveries.
//!
//! Compiled twice like `server/store_impl.rs`, as `postgres::sync_imp` and `mysql::sync_imp`,
//! against the parent module's `Db`, `BACKEND`, `classify()` and the sync dialect:
//! `SYNC_DOLLAR_PARAMS` (PostgreSQL numbers its parameters), `SYNC_DB_NOW_MS` (the database's
//! clock in ms), `SYNC_INSERT_IGNORE` (insert unless a unique key already holds the row) and
//! `SYNC_BIGINT` (the cast target for sums).
//!
//! The job queue (Architecture Invariant: two claimers never get the same job): a claim is one
//! transaction that picks the first due job with `SELECT … FOR UPDATE SKIP LOCKED` (rows
//! another claimer is deciding on are skipped, not waited for) and marks it running under a
//! lease whose expiry comes from the database clock, never the caller's: a running job is
//! due again only when `lease_until <= now()` on the server. Renewals use the same clock.
//!
//! Integration events (Architecture Invariant: no event commits below an id a follower has
//! seen): a follower reads `id > cursor` and moves its cursor to the last id it got. With ids
//! from the table's sequence alone, a recorder could take id 11, commit after another one took
//! and committed id 12, and a follower that had read 12 would never see 11. So `record_event`
//! is one transaction that first locks the `integration_events` row of `devlog_counters`
//! (`SELECT … FOR UPDATE`, migration 0044) and only then inserts: the row lock is held until
//! commit, so the next recorder takes its id only after this event is committed (or rolled
//! back, leaving a gap no one waits for). Ids therefore become visible in increasing order,
//! and every event a reader can see has all lower ids already visible or gone for good — the
//! change feed's scheme (`server/store_impl.rs`). One row, one lock: no deadlock among
//! recorders, and entry writes (which lock other rows) never wait for it.

use std::fmt;
use std::sync::LazyLock;

use async_trait::async_trait;
use devlog_core::error::{Result, StoreError};
use devlog_core::id::EntryId;
use devlog_core::merge::{FieldConflict, SyncedFields};
use devlog_core::sync_state::{
    Attachment, Conflict, CursorKind, HttpCacheEntry, INBOX_KEEP_MS, InboxDelivery,
    IntegrationEvent, Job, Link, NewIntegrationEvent, NoteLink, SyncStateStore, WorkflowPruned,
    WorkflowRun, WorkflowRunCounts, WorkflowRunState, WorklogLink, WorklogLinkState,
};
use sqlx::{AssertSqlSafe, Pool, Row};

use super::{
    BACKEND, Db, SYNC_BIGINT, SYNC_DB_NOW_MS, SYNC_DOLLAR_PARAMS, SYNC_INSERT_IGNORE, classify,
};
use crate::server::{Class, ServerOptions, store_error};
use crate::sync_state::{Snapshot, holder_gone_here, parse_field, parse_id, workflow_run_from};
use crate::url::DbUrl;

type DbRow = <Db as sqlx::Database>::Row;

/// How often a statement or transaction the database rolled back for a deadlock or a
/// serialization failure runs again ([`ServerSyncState::retrying`]).
const DEADLOCK_RETRIES: u32 = 5;
type Tx = sqlx::Transaction<'static, Db>;

/// Static SQL written with `?` placeholders, numbered `$1, $2, …` for PostgreSQL. The text is
/// always one of this file's constants (no input is ever formatted into it).
fn sql(text: &str) -> AssertSqlSafe<String> {
    if !SYNC_DOLLAR_PARAMS {
        return AssertSqlSafe(text.to_string());
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    AssertSqlSafe(out)
}

/// `INSERT INTO <rest>` that does nothing when a unique key already holds the row.
fn insert_ignore(rest: &str) -> AssertSqlSafe<String> {
    let (prefix, suffix) = SYNC_INSERT_IGNORE;
    sql(&format!("{prefix} {rest}{suffix}"))
}

static JOB_COLS: &str =
    "id, integration, entry_id, state, attempts, next_at, last_error, updated_at";

static CLAIM_ANY: LazyLock<String> = LazyLock::new(|| claim_select(false));
static CLAIM_ONE: LazyLock<String> = LazyLock::new(|| claim_select(true));

fn claim_select(one_entry: bool) -> String {
    format!(
        "SELECT id FROM sync_jobs WHERE integration = ? {} AND \
         ((state = 'pending' AND next_at <= ?) OR \
          (state = 'running' AND (lease_until IS NULL OR lease_until <= {SYNC_DB_NOW_MS}))) \
         ORDER BY next_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        if one_entry { "AND entry_id = ?" } else { "" }
    )
}

/// The sync state in a PostgreSQL or MySQL/MariaDB database (see the module docs).
#[derive(Clone)]
pub struct ServerSyncState {
    pool: Pool<Db>,
    url: DbUrl,
    opts: ServerOptions,
}

impl fmt::Debug for ServerSyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSyncState")
            .field("backend", &BACKEND)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ServerSyncState {
    /// The sync state in the database at `url`: opens the store there first, which connects
    /// and brings the schema (entries and sync tables) up to date, then shares its pool.
    pub async fn open(url: &DbUrl) -> Result<Self> {
        Self::open_with(url, ServerOptions::default()).await
    }

    pub async fn open_with(url: &DbUrl, opts: ServerOptions) -> Result<Self> {
        let store = super::imp::ServerStore::open_with(url, opts.clone()).await?;
        Ok(Self {
            pool: store.pool().clone(),
            url: url.clone(),
            opts,
        })
    }

    /// The pool, for tests that inspect the tables.
    pub fn pool(&self) -> &Pool<Db> {
        &self.pool
    }

    /// One claim of the first due job: pick it (`FOR UPDATE SKIP LOCKED`), lease it on the
    /// database clock, read it back; all in one transaction.
    async fn claim_attempt(
        &self,
        integration: &str,
        entry: Option<EntryId>,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> std::result::Result<Option<DbRow>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let select = if entry.is_some() {
            CLAIM_ONE.as_str()
        } else {
            CLAIM_ANY.as_str()
        };
        let mut q = sqlx::query_scalar::<_, i64>(sql(select)).bind(integration);
        if let Some(e) = entry {
            q = q.bind(e.to_string());
        }
        let Some(id) = q.bind(now).fetch_optional(&mut *tx).await? else {
            tx.commit().await?;
            return Ok(None);
        };
        sqlx::query(sql(&format!(
            "UPDATE sync_jobs SET state = 'running', owner = ?, rerun = 0, \
             lease_until = {SYNC_DB_NOW_MS} + ?, updated_at = ? WHERE id = ?"
        )))
        .bind(owner)
        .bind(lease_ms)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(sql(&format!(
            "SELECT {JOB_COLS} FROM sync_jobs WHERE id = ?"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(row))
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| store_error(BACKEND, &self.url, classify(&e), &e, &self.opts)
    }

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt {
            path: format!("{BACKEND} database {}", self.url),
            message: what.to_string(),
            hint: "repair or delete the row in the sync_* tables".into(),
        }
    }

    async fn begin(&self) -> Result<Tx> {
        self.pool.begin().await.map_err(self.err())
    }

    /// One statement, run again when the database rolled it back for a deadlock (a statement
    /// that was rolled back had no effect).
    async fn exec(&self, text: &str, f: impl Fn(Q<'_>) -> Q<'_>) -> Result<u64> {
        self.retrying("a statement", || async {
            Ok(f(sqlx::query(sql(text)))
                .execute(&self.pool)
                .await?
                .rows_affected())
        })
        .await
    }

    /// `op` (a statement, or a transaction it begins and commits) again while the database
    /// answers it with a deadlock or a serialization failure — it rolled the attempt back, so
    /// running it again is safe — up to [`DEADLOCK_RETRIES`] more times. InnoDB picks such a
    /// victim among concurrent writers of one row (two servers taking the same webhook
    /// delivery: one inserting it, the other finishing it).
    async fn retrying<T, Fut>(&self, what: &str, mut op: impl FnMut() -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < DEADLOCK_RETRIES && classify(&e) == Class::Retry => {
                    attempt += 1;
                    tracing::debug!(attempt, "{what} ran into a deadlock; running it again: {e}");
                }
                Err(e) => return Err(self.err()(e)),
            }
        }
    }

    /// Imports the rows of a machine-local SQLite sync state in one transaction: every row
    /// is inserted unless a row with its key is already there (another machine linked the
    /// entry first: the shared state wins), and each is then checked to be present. A file
    /// already imported (same content digest) is skipped. Returns a summary for the note.
    pub async fn import(&self, snap: &Snapshot, now: i64) -> Result<String> {
        let digest = snap.digest();
        let mut tx = self.begin().await?;
        let done: Option<String> =
            sqlx::query_scalar(sql("SELECT summary FROM sync_imports WHERE source = ?"))
                .bind(&digest)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.err())?;
        if let Some(summary) = done {
            return Ok(format!("{summary} (already imported before)"));
        }
        let mut counts = Counts::default();
        for c in &snap.cursors {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                        "sync_cursors (integration, kind, value) VALUES (?, ?, ?)",
                    ))
                    .bind(&c.0)
                    .bind(&c.1)
                    .bind(&c.2),
                )
                .await?;
            self.verify(
                &mut tx,
                n,
                "SELECT COUNT(*) FROM sync_cursors WHERE integration = ? AND kind = ?",
                &[&c.0, &c.1],
                "cursor",
            )
            .await?;
            counts.add("cursors", n);
        }
        for l in &snap.links {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                    "sync_links (integration, entry_id, remote_id, url, base, state, since, last_synced_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&l.integration)
                .bind(&l.entry_id)
                .bind(&l.remote_id)
                .bind(&l.url)
                .bind(&l.base)
                .bind(&l.state)
                .bind(l.since)
                .bind(l.last_synced_at),
                )
                .await?;
            // Present by entry, or the remote item is linked to another entry here.
            let mut keys = vec![(
                "SELECT COUNT(*) FROM sync_links WHERE integration = ? AND entry_id = ?",
                vec![&l.integration, &l.entry_id],
            )];
            if let Some(r) = &l.remote_id {
                keys.push((
                    "SELECT COUNT(*) FROM sync_links WHERE integration = ? AND remote_id = ?",
                    vec![&l.integration, r],
                ));
            }
            self.verify_any(&mut tx, n, &keys, "link").await?;
            counts.add("links", n);
        }
        for j in &snap.jobs {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                    "sync_jobs (integration, entry_id, state, attempts, next_at, last_error, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&j.integration)
                .bind(&j.entry_id)
                // A job running on the old machine is pending here: its lease was that machine's.
                .bind(if j.state == "running" { "pending" } else { j.state.as_str() })
                .bind(j.attempts)
                .bind(j.next_at)
                .bind(&j.last_error)
                .bind(j.created_at)
                .bind(j.updated_at),
                )
                .await?;
            self.verify(&mut tx, n, "SELECT COUNT(*) FROM sync_jobs WHERE integration = ? AND entry_id = ? AND state IN ('pending', 'running')", &[&j.integration, &j.entry_id], "job").await?;
            counts.add("jobs", n);
        }
        for c in &snap.conflicts {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                    "sync_conflicts (integration, entry_id, field, base_value, local_value, remote_value, created_at, resolved_at, resolution) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&c.integration)
                .bind(&c.entry_id)
                .bind(c.field.as_str())
                .bind(&c.base)
                .bind(&c.local)
                .bind(&c.remote)
                .bind(c.created_at)
                .bind(c.resolved_at)
                .bind(&c.resolution),
                )
                .await?;
            self.verify(&mut tx, n, "SELECT COUNT(*) FROM sync_conflicts WHERE integration = ? AND entry_id = ? AND field = ? AND resolved_at IS NULL", &[&c.integration, &c.entry_id, &c.field], "conflict").await?;
            counts.add("conflicts", n);
        }
        for d in &snap.deliveries {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                        "sync_deliveries (integration, delivery_id, received_at) VALUES (?, ?, ?)",
                    ))
                    .bind(&d.0)
                    .bind(&d.1)
                    .bind(d.2),
                )
                .await?;
            self.verify(
                &mut tx,
                n,
                "SELECT COUNT(*) FROM sync_deliveries WHERE integration = ? AND delivery_id = ?",
                &[&d.0, &d.1],
                "delivery",
            )
            .await?;
            counts.add("deliveries", n);
        }
        for n_ in &snap.note_links {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                    "sync_note_links (integration, entry_id, note_id, remote_id, state, hash, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&n_.integration)
                .bind(&n_.entry_id)
                .bind(&n_.note_id)
                .bind(&n_.remote_id)
                .bind(&n_.state)
                .bind(&n_.hash)
                .bind(n_.updated_at),
                )
                .await?;
            let mut keys = vec![(
                "SELECT COUNT(*) FROM sync_note_links WHERE integration = ? AND entry_id = ? AND note_id = ?",
                vec![&n_.integration, &n_.entry_id, &n_.note_id],
            )];
            if let Some(r) = &n_.remote_id {
                keys.push((
                    "SELECT COUNT(*) FROM sync_note_links WHERE integration = ? AND remote_id = ?",
                    vec![&n_.integration, r],
                ));
            }
            self.verify_any(&mut tx, n, &keys, "note link").await?;
            counts.add("note links", n);
        }
        for w in &snap.worklog_links {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                        "sync_worklog_links (integration, entry_id, worklog_id, remote_id, state, \
                         hash, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ))
                    .bind(&w.integration)
                    .bind(&w.entry_id)
                    .bind(&w.worklog_id)
                    .bind(&w.remote_id)
                    .bind(&w.state)
                    .bind(&w.hash)
                    .bind(w.updated_at),
                )
                .await?;
            let mut keys = vec![(
                "SELECT COUNT(*) FROM sync_worklog_links WHERE integration = ? AND entry_id = ? \
                 AND worklog_id = ?",
                vec![&w.integration, &w.entry_id, &w.worklog_id],
            )];
            if let Some(r) = &w.remote_id {
                keys.push((
                    "SELECT COUNT(*) FROM sync_worklog_links WHERE integration = ? AND remote_id = ?",
                    vec![&w.integration, r],
                ));
            }
            self.verify_any(&mut tx, n, &keys, "worklog link").await?;
            counts.add("worklog links", n);
        }
        for a in &snap.applied_actions {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                    "sync_applied_actions (integration, action_key, entry_id, applied_at) VALUES (?, ?, ?, ?)",
                ))
                .bind(&a.0)
                .bind(&a.1)
                .bind(&a.2)
                .bind(a.3),
                )
                .await?;
            self.verify(&mut tx, n, "SELECT COUNT(*) FROM sync_applied_actions WHERE integration = ? AND action_key = ?", &[&a.0, &a.1], "applied action").await?;
            counts.add("applied actions", n);
        }
        for a in &snap.attachments {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                    "sync_attachments (integration, kind, remote_id, entry_id, url, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                ))
                .bind(&a.integration)
                .bind(&a.kind)
                .bind(&a.remote_id)
                .bind(&a.entry_id)
                .bind(&a.url)
                .bind(a.created_at),
                )
                .await?;
            self.verify(&mut tx, n, "SELECT COUNT(*) FROM sync_attachments WHERE integration = ? AND kind = ? AND remote_id = ?", &[&a.integration, &a.kind, &a.remote_id], "attachment").await?;
            counts.add("attachments", n);
        }
        for p in &snap.pauses {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                        "sync_pauses (integration, until_ms, reason) VALUES (?, ?, ?)",
                    ))
                    .bind(&p.0)
                    .bind(p.1)
                    .bind(&p.2),
                )
                .await?;
            counts.add("pauses", n);
        }
        for r in &snap.workflow_runs {
            // A run's id is random: one already here is the same run (the shared one wins).
            let run = r.run()?;
            let n = self
                .insert(&mut tx, insert_workflow_run(&run, None))
                .await?;
            self.verify(
                &mut tx,
                n,
                "SELECT COUNT(*) FROM sync_workflow_runs WHERE id = ?",
                &[&r.id],
                "workflow run",
            )
            .await?;
            counts.add("workflow runs", n);
        }
        for c in &snap.workflow_claims {
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                        "sync_workflow_claims (workflow, claim_key, created_at) VALUES (?, ?, ?)",
                    ))
                    .bind(&c.0)
                    .bind(&c.1)
                    .bind(c.2),
                )
                .await?;
            self.verify(
                &mut tx,
                n,
                "SELECT COUNT(*) FROM sync_workflow_claims WHERE workflow = ? AND claim_key = ?",
                &[&c.0, &c.1],
                "workflow claim",
            )
            .await?;
            counts.add("workflow claims", n);
        }
        for c in &snap.workflow_cursors {
            // A cursor or schedule state already here is the shared one: it stays.
            let n = self
                .insert(
                    &mut tx,
                    sqlx::query(insert_ignore(
                        "sync_workflow_cursors (name, value) VALUES (?, ?)",
                    ))
                    .bind(&c.0)
                    .bind(&c.1),
                )
                .await?;
            self.verify(
                &mut tx,
                n,
                "SELECT COUNT(*) FROM sync_workflow_cursors WHERE name = ?",
                &[&c.0],
                "workflow cursor",
            )
            .await?;
            counts.add("workflow cursors", n);
        }
        let summary = counts.summary(snap);
        let recorded = sqlx::query(insert_ignore(
            "sync_imports (source, imported_at, summary) VALUES (?, ?, ?)",
        ))
        .bind(&digest)
        .bind(now)
        .bind(&summary)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        if recorded == 0 {
            // Another process imported the same file meanwhile (two commands started at once
            // on this machine): its import stands, this one is dropped.
            tx.rollback().await.map_err(self.err())?;
            return Ok(format!("{summary} (imported by another process)"));
        }
        tx.commit().await.map_err(self.err())?;
        Ok(summary)
    }

    /// Runs one `INSERT … IGNORE` of the import; how many rows it stored (0: the key was
    /// there already).
    async fn insert(&self, tx: &mut Tx, q: Q<'_>) -> Result<u64> {
        Ok(q.execute(&mut **tx)
            .await
            .map_err(self.err())?
            .rows_affected())
    }

    /// After an insert that stored nothing (`inserted == 0`), checks that a row with the same
    /// key is there.
    async fn verify(
        &self,
        tx: &mut Tx,
        inserted: u64,
        query: &str,
        keys: &[&String],
        what: &str,
    ) -> Result<()> {
        self.verify_any(tx, inserted, &[(query, keys.to_vec())], what)
            .await
    }

    /// Like [`verify`](Self::verify), with several keys of which one must be found (a link is
    /// there by its entry, or its remote item is linked to another entry).
    async fn verify_any(
        &self,
        tx: &mut Tx,
        inserted: u64,
        keys: &[(&str, Vec<&String>)],
        what: &str,
    ) -> Result<()> {
        if inserted > 0 {
            return Ok(());
        }
        for (query, values) in keys {
            if count(tx, query, values).await.map_err(self.err())? > 0 {
                return Ok(());
            }
        }
        let shown = keys
            .first()
            .map(|(_, v)| v.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        Err(self.corrupt(&format!(
            "importing a {what} ({shown}): neither stored nor found"
        )))
    }
}

type Q<'a> = sqlx::query::Query<'a, Db, <Db as sqlx::Database>::Arguments>;

async fn count(
    tx: &mut Tx,
    query: &str,
    keys: &[&String],
) -> std::result::Result<i64, sqlx::Error> {
    let mut q = sqlx::query_scalar::<_, i64>(sql(query));
    for k in keys {
        q = q.bind(k.as_str());
    }
    q.fetch_one(&mut **tx).await
}

/// Rows imported per table, and how many were already there.
#[derive(Debug, Default)]
struct Counts(Vec<(&'static str, u64, u64)>);

impl Counts {
    fn add(&mut self, table: &'static str, inserted: u64) {
        match self.0.iter_mut().find(|(t, _, _)| *t == table) {
            Some(row) => {
                row.1 += inserted;
                row.2 += 1 - inserted.min(1);
            }
            None => self.0.push((table, inserted, 1 - inserted.min(1))),
        }
    }

    fn summary(&self, snap: &Snapshot) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(t, n, there)| {
                if *there > 0 {
                    format!("{n} {t} ({there} already there)")
                } else {
                    format!("{n} {t}")
                }
            })
            .collect();
        let parts = if parts.is_empty() {
            "nothing to import".to_string()
        } else {
            parts.join(", ")
        };
        let skipped = if snap.done_jobs > 0 {
            format!("; {} finished jobs not copied", snap.done_jobs)
        } else {
            String::new()
        };
        format!("{parts}{skipped}")
    }
}

fn text(r: &DbRow, col: &str) -> std::result::Result<String, sqlx::Error> {
    r.try_get(col)
}

fn job_from_row(r: &DbRow) -> Result<Job> {
    let e = |e: sqlx::Error| StoreError::Backend {
        backend: BACKEND,
        message: format!("reading a sync job: {e}"),
        transient: false,
    };
    Ok(Job {
        id: r.try_get("id").map_err(e)?,
        integration: text(r, "integration").map_err(e)?,
        entry_id: parse_id(&text(r, "entry_id").map_err(e)?)?,
        state: text(r, "state").map_err(e)?.parse()?,
        attempts: r.try_get("attempts").map_err(e)?,
        next_at: r.try_get("next_at").map_err(e)?,
        last_error: r.try_get("last_error").map_err(e)?,
        updated_at: r.try_get("updated_at").map_err(e)?,
    })
}

fn link_from_row(r: &DbRow) -> Result<Link> {
    let e = |e: sqlx::Error| StoreError::Backend {
        backend: BACKEND,
        message: format!("reading a sync link: {e}"),
        transient: false,
    };
    let base: Option<String> = r.try_get("base").map_err(e)?;
    Ok(Link {
        integration: text(r, "integration").map_err(e)?,
        entry_id: parse_id(&text(r, "entry_id").map_err(e)?)?,
        remote_id: r.try_get("remote_id").map_err(e)?,
        url: r.try_get("url").map_err(e)?,
        base: base.and_then(|b| serde_json::from_str(&b).ok()),
        state: text(r, "state").map_err(e)?.parse()?,
        last_synced_at: r.try_get("last_synced_at").map_err(e)?,
    })
}

fn note_link_from_row(r: &DbRow) -> Result<NoteLink> {
    let e = |e: sqlx::Error| StoreError::Backend {
        backend: BACKEND,
        message: format!("reading a note link: {e}"),
        transient: false,
    };
    Ok(NoteLink {
        entry_id: parse_id(&text(r, "entry_id").map_err(e)?)?,
        note_id: text(r, "note_id").map_err(e)?,
        remote_id: r.try_get("remote_id").map_err(e)?,
        state: text(r, "state").map_err(e)?.parse()?,
        hash: r.try_get("hash").map_err(e)?,
    })
}

fn worklog_link_from_row(r: &DbRow) -> Result<WorklogLink> {
    let e = |e: sqlx::Error| StoreError::Backend {
        backend: BACKEND,
        message: format!("reading a worklog link: {e}"),
        transient: false,
    };
    Ok(WorklogLink {
        entry_id: parse_id(&text(r, "entry_id").map_err(e)?)?,
        worklog_id: text(r, "worklog_id").map_err(e)?,
        remote_id: r.try_get("remote_id").map_err(e)?,
        state: text(r, "state").map_err(e)?.parse()?,
        hash: r.try_get("hash").map_err(e)?,
    })
}

fn inbox_from_row(r: &DbRow) -> Result<InboxDelivery> {
    let e = |e: sqlx::Error| StoreError::Backend {
        backend: BACKEND,
        message: format!("reading a webhook delivery: {e}"),
        transient: false,
    };
    Ok(InboxDelivery {
        integration: text(r, "integration").map_err(e)?,
        delivery_id: text(r, "delivery_id").map_err(e)?,
        received_at: r.try_get("received_at").map_err(e)?,
        state: text(r, "state").map_err(e)?.parse()?,
        payload: text(r, "payload").map_err(e)?,
        result: r.try_get("result").map_err(e)?,
        error: r.try_get("error").map_err(e)?,
    })
}

/// The http_cache key: one fixed-size value for an identity and a URL of any length.
fn cache_key(identity: &str, url: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(identity.as_bytes());
    h.update([0u8]);
    h.update(url.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

const INSERT_JOB: &str = "sync_jobs (integration, entry_id, state, attempts, next_at, created_at, updated_at) \
                          VALUES (?, ?, 'pending', 0, ?, ?, ?)";

/// Queues a push of `entry`; when a job for it is already open, marks that job to run once
/// more (`rerun`): a running job may have read the entry before this change, and finishing it
/// puts it back to pending (`finish_job`). If the open job finished in between (the update
/// then matches nothing), the insert is tried again. Returns the jobs inserted (0 or 1).
async fn insert_job(
    tx: &mut Tx,
    integration: &str,
    entry: EntryId,
    now: i64,
) -> std::result::Result<u64, sqlx::Error> {
    for _ in 0..3 {
        let added = sqlx::query(insert_ignore(INSERT_JOB))
            .bind(integration)
            .bind(entry.to_string())
            .bind(now)
            .bind(now)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if added > 0 {
            return Ok(added);
        }
        let marked = sqlx::query(sql("UPDATE sync_jobs SET rerun = rerun + 1 \
             WHERE integration = ? AND entry_id = ? AND state IN ('pending', 'running')"))
        .bind(integration)
        .bind(entry.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if marked > 0 {
            return Ok(0);
        }
    }
    Ok(0)
}

async fn upsert_cursor(
    tx: &mut Tx,
    integration: &str,
    kind: CursorKind,
    value: &str,
) -> std::result::Result<(), sqlx::Error> {
    upsert(
        tx,
        || {
            sqlx::query(sql(
                "UPDATE sync_cursors SET value = ? WHERE integration = ? AND kind = ?",
            ))
            .bind(value)
            .bind(integration)
            .bind(kind.as_str())
        },
        || {
            sqlx::query(insert_ignore(
                "sync_cursors (integration, kind, value) VALUES (?, ?, ?)",
            ))
            .bind(integration)
            .bind(kind.as_str())
            .bind(value)
        },
    )
    .await
}

/// Writes a row in `tx`: `update` it, or when that matched nothing, `insert` it unless its key
/// is there. An insert that stored nothing means another writer inserted the row between the
/// two statements (or, on MySQL, which counts only changed rows, that the update left it as it
/// was): the update runs once more, so the last writer wins.
async fn upsert<'q>(
    tx: &mut Tx,
    update: impl Fn() -> Q<'q>,
    insert: impl Fn() -> Q<'q>,
) -> std::result::Result<(), sqlx::Error> {
    if update().execute(&mut **tx).await?.rows_affected() > 0 {
        return Ok(());
    }
    if insert().execute(&mut **tx).await?.rows_affected() > 0 {
        return Ok(());
    }
    update().execute(&mut **tx).await?;
    Ok(())
}

static INSERT_WORKFLOW_RUN: LazyLock<String> = LazyLock::new(|| {
    insert_ignore(&format!(
        "sync_workflow_runs (id, workflow, state, entry_id, wake_at, started_at, updated_at, \
         record, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {SYNC_DB_NOW_MS} + ?)"
    ))
    .0
});

/// The insert of a run unless its id is taken, leased to `lease` (owner, for ms on the
/// database clock) when given: `start_workflow_run`, `save_workflow_run` and the import
/// insert runs with it.
fn insert_workflow_run<'q>(run: &'q WorkflowRun, lease: Option<(&'q str, i64)>) -> Q<'q> {
    let (owner, ms) = lease.unzip();
    sqlx::query(AssertSqlSafe(INSERT_WORKFLOW_RUN.as_str()))
        .bind(&run.id)
        .bind(&run.workflow)
        .bind(run.state.as_str())
        .bind(run.entry.map(|e| e.to_string()))
        .bind(run.wake_at)
        .bind(run.started_at)
        .bind(run.updated_at)
        .bind(run.record.to_string())
        .bind(owner)
        .bind(ms)
}

#[async_trait]
impl SyncStateStore for ServerSyncState {
    fn describe(&self) -> String {
        format!("{BACKEND} {}", self.url)
    }

    async fn cursor(&self, integration: &str, kind: CursorKind) -> Result<Option<String>> {
        sqlx::query_scalar(sql(
            "SELECT value FROM sync_cursors WHERE integration = ? AND kind = ?",
        ))
        .bind(integration)
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())
    }

    async fn set_cursor(&self, integration: &str, kind: CursorKind, value: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        upsert_cursor(&mut tx, integration, kind, value)
            .await
            .map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    async fn enqueue(
        &self,
        integration: &str,
        entries: &[EntryId],
        seq: u64,
        feed_id: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut added = 0;
        for e in entries {
            added += insert_job(&mut tx, integration, *e, now)
                .await
                .map_err(self.err())?;
        }
        upsert_cursor(&mut tx, integration, CursorKind::Feed, &seq.to_string())
            .await
            .map_err(self.err())?;
        if let Some(id) = feed_id {
            upsert_cursor(&mut tx, integration, CursorKind::FeedId, id)
                .await
                .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())?;
        Ok(added)
    }

    async fn enqueue_one(&self, integration: &str, entry: EntryId, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_job(&mut tx, integration, entry, now)
            .await
            .map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    async fn claim_for(
        &self,
        integration: &str,
        entry: Option<EntryId>,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<Job>> {
        // Concurrent claimers can meet in a deadlock (InnoDB, on the index ranges SKIP LOCKED
        // walks): the server rolled the attempt back, so it simply runs again.
        let row = self
            .retrying("a job claim", || {
                self.claim_attempt(integration, entry, owner, now, lease_ms)
            })
            .await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    async fn job(&self, id: i64) -> Result<Option<Job>> {
        let row = sqlx::query(sql(&format!(
            "SELECT {JOB_COLS} FROM sync_jobs WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    async fn renew_lease(&self, id: i64, owner: &str, _now: i64, lease_ms: i64) -> Result<bool> {
        let n = self
            .exec(
                &format!(
                    "UPDATE sync_jobs SET lease_until = {SYNC_DB_NOW_MS} + ? \
                     WHERE id = ? AND state = 'running' AND owner = ?"
                ),
                |q| q.bind(lease_ms).bind(id).bind(owner.to_string()),
            )
            .await?;
        Ok(n == 1)
    }

    async fn finish_job(&self, id: i64, owner: &str, now: i64) -> Result<()> {
        self.exec(
            "UPDATE sync_jobs SET state = CASE WHEN rerun > 0 THEN 'pending' ELSE 'done' END, \
             next_at = ?, rerun = 0, owner = NULL, lease_until = NULL, \
             last_error = NULL, updated_at = ? WHERE id = ? AND owner = ?",
            |q| q.bind(now).bind(now).bind(id).bind(owner.to_string()),
        )
        .await
        .map(|_| ())
    }

    async fn fail_job(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        next_at: i64,
        dead: bool,
        now: i64,
    ) -> Result<()> {
        self.exec(
            "UPDATE sync_jobs SET state = ?, attempts = attempts + 1, next_at = ?, \
             last_error = ?, owner = NULL, lease_until = NULL, updated_at = ? \
             WHERE id = ? AND owner = ?",
            |q| {
                q.bind(if dead { "dead" } else { "pending" })
                    .bind(next_at)
                    .bind(error.replace('\0', ""))
                    .bind(now)
                    .bind(id)
                    .bind(owner.to_string())
            },
        )
        .await
        .map(|_| ())
    }

    async fn defer_job(&self, id: i64, owner: &str, next_at: i64, now: i64) -> Result<()> {
        self.exec(
            "UPDATE sync_jobs SET state = 'pending', next_at = ?, owner = NULL, \
             lease_until = NULL, updated_at = ? WHERE id = ? AND owner = ?",
            |q| q.bind(next_at).bind(now).bind(id).bind(owner.to_string()),
        )
        .await
        .map(|_| ())
    }

    async fn retry(&self, id: Option<i64>, now: i64) -> Result<u64> {
        match id {
            Some(id) => {
                self.exec(
                    "UPDATE sync_jobs SET state = 'pending', attempts = 0, next_at = ?, \
                     updated_at = ? WHERE id = ? AND state IN ('dead', 'pending')",
                    |q| q.bind(now).bind(now).bind(id),
                )
                .await
            }
            None => {
                self.exec(
                    "UPDATE sync_jobs SET state = 'pending', attempts = 0, next_at = ?, \
                     updated_at = ? WHERE state = 'dead'",
                    |q| q.bind(now).bind(now),
                )
                .await
            }
        }
    }

    async fn open_jobs(&self) -> Result<Vec<Job>> {
        let rows = sqlx::query(sql(&format!(
            "SELECT {JOB_COLS} FROM sync_jobs WHERE state <> 'done' ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(job_from_row).collect()
    }

    async fn link(&self, integration: &str, entry: EntryId) -> Result<Option<Link>> {
        let row = sqlx::query(sql(
            "SELECT * FROM sync_links WHERE integration = ? AND entry_id = ?",
        ))
        .bind(integration)
        .bind(entry.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| link_from_row(&r)).transpose()
    }

    async fn link_by_remote(&self, integration: &str, remote_id: &str) -> Result<Option<Link>> {
        let row = sqlx::query(sql(
            "SELECT * FROM sync_links WHERE integration = ? AND remote_id = ?",
        ))
        .bind(integration)
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| link_from_row(&r)).transpose()
    }

    async fn links(&self) -> Result<Vec<Link>> {
        let rows = sqlx::query(sql(
            "SELECT * FROM sync_links ORDER BY integration, entry_id",
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(link_from_row).collect()
    }

    async fn mark_creating(&self, integration: &str, entry: EntryId, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(insert_ignore(
            "sync_links (integration, entry_id, remote_id, state, since) \
             VALUES (?, ?, NULL, 'creating', ?)",
        ))
        .bind(integration)
        .bind(entry.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        if n == 0 {
            sqlx::query(sql(
                "UPDATE sync_links SET state = 'creating' WHERE integration = ? AND entry_id = ?",
            ))
            .bind(integration)
            .bind(entry.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())
    }

    async fn set_linked(
        &self,
        integration: &str,
        entry: EntryId,
        remote_id: &str,
        url: Option<&str>,
        base: &SyncedFields,
        now: i64,
    ) -> Result<()> {
        let base = serde_json::to_string(base).expect("synced fields always serialize");
        let mut tx = self.begin().await?;
        // UPDATE, else INSERT: two processes doing this at once both find no row, and the
        // second INSERT must not fail on the key (two servers applying one webhook delivery):
        // it inserts nothing and the row the first one inserted is updated on the second turn.
        for _ in 0..2 {
            let updated = sqlx::query(sql(
                "UPDATE sync_links SET remote_id = ?, url = COALESCE(?, url), base = ?, \
                 state = 'linked', last_synced_at = ? WHERE integration = ? AND entry_id = ?",
            ))
            .bind(remote_id)
            .bind(url)
            .bind(&base)
            .bind(now)
            .bind(integration)
            .bind(entry.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if updated > 0 {
                break;
            }
            let inserted = sqlx::query(insert_ignore(
                "sync_links (integration, entry_id, remote_id, url, base, state, since, last_synced_at) \
                 VALUES (?, ?, ?, ?, ?, 'linked', ?, ?)",
            ))
            .bind(integration)
            .bind(entry.to_string())
            .bind(remote_id)
            .bind(url)
            .bind(&base)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if inserted > 0 {
                break;
            }
        }
        tx.commit().await.map_err(self.err())
    }

    async fn unlink(&self, integration: &str, entry: EntryId, now: i64) -> Result<bool> {
        let e = entry.to_string();
        let mut tx = self.begin().await?;
        let n = sqlx::query(sql(
            "UPDATE sync_links SET state = 'unlinked', remote_id = NULL, base = NULL, \
             last_synced_at = ? WHERE integration = ? AND entry_id = ? AND state <> 'unlinked'",
        ))
        .bind(now)
        .bind(integration)
        .bind(&e)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        for q in [
            "DELETE FROM sync_note_links WHERE integration = ? AND entry_id = ?",
            "DELETE FROM sync_worklog_links WHERE integration = ? AND entry_id = ?",
            "DELETE FROM sync_attachments WHERE integration = ? AND entry_id = ?",
        ] {
            sqlx::query(sql(q))
                .bind(integration)
                .bind(&e)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
        }
        sqlx::query(sql(
            "UPDATE sync_jobs SET state = 'done', owner = NULL, lease_until = NULL, updated_at = ? \
             WHERE integration = ? AND entry_id = ? AND state IN ('pending', 'running')",
        ))
        .bind(now)
        .bind(integration)
        .bind(&e)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?;
        tx.commit().await.map_err(self.err())?;
        Ok(n > 0)
    }

    async fn add_conflicts(
        &self,
        integration: &str,
        entry: EntryId,
        conflicts: &[FieldConflict],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for c in conflicts {
            let n = sqlx::query(sql(
                "UPDATE sync_conflicts SET base_value = ?, local_value = ?, remote_value = ? \
                 WHERE integration = ? AND entry_id = ? AND field = ? AND resolved_at IS NULL",
            ))
            .bind(c.base.to_string())
            .bind(c.local.to_string())
            .bind(c.remote.to_string())
            .bind(integration)
            .bind(entry.to_string())
            .bind(c.field.as_str())
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if n == 0 {
                sqlx::query(sql(
                    "INSERT INTO sync_conflicts (integration, entry_id, field, base_value, \
                     local_value, remote_value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(integration)
                .bind(entry.to_string())
                .bind(c.field.as_str())
                .bind(c.base.to_string())
                .bind(c.local.to_string())
                .bind(c.remote.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            }
        }
        tx.commit().await.map_err(self.err())
    }

    async fn open_conflicts(&self) -> Result<Vec<Conflict>> {
        let rows = sqlx::query(sql(
            "SELECT id, integration, entry_id, field, base_value, local_value, remote_value, \
             created_at FROM sync_conflicts WHERE resolved_at IS NULL ORDER BY id",
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let v = |c: &str| -> Result<serde_json::Value> {
                let s: String = r.try_get(c).map_err(self.err())?;
                Ok(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
            };
            out.push(Conflict {
                id: r.try_get("id").map_err(self.err())?,
                integration: r.try_get("integration").map_err(self.err())?,
                entry_id: parse_id(&text(&r, "entry_id").map_err(self.err())?)?,
                field: FieldConflict {
                    field: parse_field(&r.try_get::<String, _>("field").map_err(self.err())?)?,
                    base: v("base_value")?,
                    local: v("local_value")?,
                    remote: v("remote_value")?,
                },
                created_at: r.try_get("created_at").map_err(self.err())?,
            });
        }
        Ok(out)
    }

    async fn resolve_conflict(&self, id: i64, resolution: &str, now: i64) -> Result<bool> {
        let n = self
            .exec(
                "UPDATE sync_conflicts SET resolved_at = ?, resolution = ? \
                 WHERE id = ? AND resolved_at IS NULL",
                |q| q.bind(now).bind(resolution.to_string()).bind(id),
            )
            .await?;
        Ok(n == 1)
    }

    async fn held_fields(&self, integration: &str, entry: EntryId) -> Result<Vec<String>> {
        sqlx::query_scalar(sql(
            "SELECT field FROM sync_conflicts WHERE integration = ? AND entry_id = ? \
             AND resolved_at IS NULL ORDER BY id",
        ))
        .bind(integration)
        .bind(entry.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())
    }

    async fn first_delivery(&self, integration: &str, delivery: &str, now: i64) -> Result<bool> {
        let n = sqlx::query(insert_ignore(
            "sync_deliveries (integration, delivery_id, received_at) VALUES (?, ?, ?)",
        ))
        .bind(integration)
        .bind(delivery)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err())?
        .rows_affected();
        Ok(n == 1)
    }

    async fn delivery_seen(&self, integration: &str, delivery: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(sql(
            "SELECT COUNT(*) FROM sync_deliveries WHERE integration = ? AND delivery_id = ?",
        ))
        .bind(integration)
        .bind(delivery)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(n > 0)
    }

    async fn inbox_put(
        &self,
        integration: &str,
        delivery: &str,
        payload: &str,
        now: i64,
    ) -> Result<()> {
        // Another server storing or finishing the same delivery can make this transaction
        // InnoDB's deadlock victim (its duplicate insert holds a shared lock on the row that
        // the update then needs exclusively): it runs again.
        self.retrying("storing a webhook delivery", || async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(sql(
                "DELETE FROM sync_webhook_inbox WHERE state <> 'pending' AND received_at < ?",
            ))
            .bind(now - INBOX_KEEP_MS)
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query(insert_ignore(
                "sync_webhook_inbox (integration, delivery_id, received_at, state, payload) \
                 VALUES (?, ?, ?, 'pending', ?)",
            ))
            .bind(integration)
            .bind(delivery)
            .bind(now)
            .bind(payload)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                sqlx::query(sql(
                    "UPDATE sync_webhook_inbox SET state = 'pending', payload = ?, error = NULL, \
                     finished_at = NULL WHERE integration = ? AND delivery_id = ? AND state = 'failed'",
                ))
                .bind(payload)
                .bind(integration)
                .bind(delivery)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
        .await
    }

    async fn inbox_get(&self, integration: &str, delivery: &str) -> Result<Option<InboxDelivery>> {
        let row = sqlx::query(sql(
            "SELECT integration, delivery_id, received_at, state, payload, result, error \
             FROM sync_webhook_inbox WHERE integration = ? AND delivery_id = ?",
        ))
        .bind(integration)
        .bind(delivery)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| inbox_from_row(&r)).transpose()
    }

    async fn inbox_finish(
        &self,
        integration: &str,
        delivery: &str,
        outcome: std::result::Result<&str, &str>,
        now: i64,
    ) -> Result<()> {
        match outcome {
            Ok(result) => {
                self.exec(
                    "UPDATE sync_webhook_inbox SET state = 'done', result = ?, error = NULL, \
                     finished_at = ?, payload = '' WHERE integration = ? AND delivery_id = ?",
                    |q| {
                        q.bind(result.to_string())
                            .bind(now)
                            .bind(integration.to_string())
                            .bind(delivery.to_string())
                    },
                )
                .await?
            }
            Err(error) => {
                self.exec(
                    "UPDATE sync_webhook_inbox SET state = 'failed', result = NULL, error = ?, \
                     finished_at = ? WHERE integration = ? AND delivery_id = ?",
                    |q| {
                        q.bind(error.replace('\0', ""))
                            .bind(now)
                            .bind(integration.to_string())
                            .bind(delivery.to_string())
                    },
                )
                .await?
            }
        };
        Ok(())
    }

    async fn inbox_pending(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as(sql(
            "SELECT integration, delivery_id FROM sync_webhook_inbox WHERE state = 'pending' \
             ORDER BY received_at",
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())
    }

    async fn note_links(&self, integration: &str, entry: EntryId) -> Result<Vec<NoteLink>> {
        let rows = sqlx::query(sql(
            "SELECT * FROM sync_note_links WHERE integration = ? AND entry_id = ? ORDER BY note_id",
        ))
        .bind(integration)
        .bind(entry.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(note_link_from_row).collect()
    }

    async fn note_link_by_remote(
        &self,
        integration: &str,
        remote_id: &str,
    ) -> Result<Option<NoteLink>> {
        let row = sqlx::query(sql(
            "SELECT * FROM sync_note_links WHERE integration = ? AND remote_id = ?",
        ))
        .bind(integration)
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| note_link_from_row(&r)).transpose()
    }

    async fn mark_note_creating(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(insert_ignore(
            "sync_note_links (integration, entry_id, note_id, remote_id, state, updated_at) \
             VALUES (?, ?, ?, NULL, 'creating', ?)",
        ))
        .bind(integration)
        .bind(entry.to_string())
        .bind(note_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        if n == 0 {
            sqlx::query(sql("UPDATE sync_note_links SET state = 'creating' \
                 WHERE integration = ? AND entry_id = ? AND note_id = ?"))
            .bind(integration)
            .bind(entry.to_string())
            .bind(note_id)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())
    }

    async fn set_note_linked(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        remote_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // UPDATE, else INSERT: two processes doing this at once both find no row, and the
        // second INSERT must not fail on the key (two servers applying one webhook delivery):
        // it inserts nothing and the row the first one inserted is updated on the second turn.
        for _ in 0..2 {
            let updated = sqlx::query(sql(
                "UPDATE sync_note_links SET remote_id = ?, state = 'linked', hash = ?, updated_at = ? \
                 WHERE integration = ? AND entry_id = ? AND note_id = ?",
            ))
            .bind(remote_id)
            .bind(hash)
            .bind(now)
            .bind(integration)
            .bind(entry.to_string())
            .bind(note_id)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if updated > 0 {
                break;
            }
            let inserted = sqlx::query(insert_ignore(
                "sync_note_links (integration, entry_id, note_id, remote_id, state, \
                 hash, updated_at) VALUES (?, ?, ?, ?, 'linked', ?, ?)",
            ))
            .bind(integration)
            .bind(entry.to_string())
            .bind(note_id)
            .bind(remote_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if inserted > 0 {
                break;
            }
        }
        tx.commit().await.map_err(self.err())
    }

    async fn set_note_deleted(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(sql(
            "UPDATE sync_note_links SET state = 'deleted', updated_at = ? \
             WHERE integration = ? AND entry_id = ? AND note_id = ?",
        ))
        .bind(now)
        .bind(integration)
        .bind(entry.to_string())
        .bind(note_id)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    async fn worklog_links(&self, integration: &str, entry: EntryId) -> Result<Vec<WorklogLink>> {
        let rows = sqlx::query(sql(
            "SELECT * FROM sync_worklog_links WHERE integration = ? AND entry_id = ? \
             ORDER BY worklog_id",
        ))
        .bind(integration)
        .bind(entry.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(worklog_link_from_row).collect()
    }

    async fn worklog_link_by_remote(
        &self,
        integration: &str,
        remote_id: &str,
    ) -> Result<Option<WorklogLink>> {
        let row = sqlx::query(sql(
            "SELECT * FROM sync_worklog_links WHERE integration = ? AND remote_id = ?",
        ))
        .bind(integration)
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| worklog_link_from_row(&r)).transpose()
    }

    async fn mark_worklog_creating(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(insert_ignore(
            "sync_worklog_links (integration, entry_id, worklog_id, remote_id, state, updated_at) \
             VALUES (?, ?, ?, NULL, 'creating', ?)",
        ))
        .bind(integration)
        .bind(entry.to_string())
        .bind(worklog_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        if n == 0 {
            sqlx::query(sql("UPDATE sync_worklog_links SET state = 'creating' \
                 WHERE integration = ? AND entry_id = ? AND worklog_id = ?"))
            .bind(integration)
            .bind(entry.to_string())
            .bind(worklog_id)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())
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
        let mut tx = self.begin().await?;
        // UPDATE, else INSERT (as `set_note_linked`: concurrent writers never fail on the key).
        for _ in 0..2 {
            let updated = sqlx::query(sql(
                "UPDATE sync_worklog_links SET remote_id = ?, state = ?, hash = ?, updated_at = ? \
                 WHERE integration = ? AND entry_id = ? AND worklog_id = ?",
            ))
            .bind(remote_id)
            .bind(state.as_str())
            .bind(hash)
            .bind(now)
            .bind(integration)
            .bind(entry.to_string())
            .bind(worklog_id)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if updated > 0 {
                break;
            }
            let inserted = sqlx::query(insert_ignore(
                "sync_worklog_links (integration, entry_id, worklog_id, remote_id, state, \
                 hash, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(integration)
            .bind(entry.to_string())
            .bind(worklog_id)
            .bind(remote_id)
            .bind(state.as_str())
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if inserted > 0 {
                break;
            }
        }
        tx.commit().await.map_err(self.err())
    }

    async fn set_worklog_deleted(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(sql(
            "UPDATE sync_worklog_links SET state = 'deleted', updated_at = ? \
             WHERE integration = ? AND entry_id = ? AND worklog_id = ?",
        ))
        .bind(now)
        .bind(integration)
        .bind(entry.to_string())
        .bind(worklog_id)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    async fn action_applied(&self, integration: &str, key: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(sql(
            "SELECT COUNT(*) FROM sync_applied_actions WHERE integration = ? AND action_key = ?",
        ))
        .bind(integration)
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(n > 0)
    }

    async fn record_action(
        &self,
        integration: &str,
        key: &str,
        entry: EntryId,
        now: i64,
    ) -> Result<()> {
        sqlx::query(insert_ignore(
            "sync_applied_actions (integration, action_key, entry_id, applied_at) \
             VALUES (?, ?, ?, ?)",
        ))
        .bind(integration)
        .bind(key)
        .bind(entry.to_string())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    async fn attach(
        &self,
        integration: &str,
        kind: &str,
        remote_id: &str,
        entry: EntryId,
        url: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // UPDATE, else INSERT: two processes doing this at once both find no row, and the
        // second INSERT must not fail on the key (two servers applying one webhook delivery):
        // it inserts nothing and the row the first one inserted is updated on the second turn.
        for _ in 0..2 {
            let updated = sqlx::query(sql(
                "UPDATE sync_attachments SET entry_id = ?, url = COALESCE(?, url) \
                 WHERE integration = ? AND kind = ? AND remote_id = ?",
            ))
            .bind(entry.to_string())
            .bind(url)
            .bind(integration)
            .bind(kind)
            .bind(remote_id)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if updated > 0 {
                break;
            }
            let inserted = sqlx::query(insert_ignore(
                "sync_attachments (integration, kind, remote_id, entry_id, url, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?)",
            ))
            .bind(integration)
            .bind(kind)
            .bind(remote_id)
            .bind(entry.to_string())
            .bind(url)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            if inserted > 0 {
                break;
            }
        }
        tx.commit().await.map_err(self.err())
    }

    async fn detach(&self, integration: &str, kind: &str, remote_id: &str) -> Result<bool> {
        let n = self
            .exec(
                "DELETE FROM sync_attachments WHERE integration = ? AND kind = ? AND remote_id = ?",
                |q| {
                    q.bind(integration.to_string())
                        .bind(kind.to_string())
                        .bind(remote_id.to_string())
                },
            )
            .await?;
        Ok(n > 0)
    }

    async fn attached_entry(
        &self,
        integration: &str,
        kind: &str,
        remote_id: &str,
    ) -> Result<Option<EntryId>> {
        let id: Option<String> = sqlx::query_scalar(sql(
            "SELECT entry_id FROM sync_attachments WHERE integration = ? AND kind = ? \
             AND remote_id = ?",
        ))
        .bind(integration)
        .bind(kind)
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        id.map(|i| parse_id(&i)).transpose()
    }

    async fn attached_of_kind(
        &self,
        integration: &str,
        kind: &str,
    ) -> Result<Vec<(String, EntryId, Option<String>)>> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(sql(
            "SELECT remote_id, entry_id, url FROM sync_attachments \
             WHERE integration = ? AND kind = ? ORDER BY created_at, remote_id",
        ))
        .bind(integration)
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.into_iter()
            .map(|(r, e, u)| Ok((r, parse_id(&e)?, u)))
            .collect()
    }

    async fn attachments(&self, integration: &str, entry: EntryId) -> Result<Vec<Attachment>> {
        sqlx::query_as(sql("SELECT kind, remote_id, url FROM sync_attachments \
             WHERE integration = ? AND entry_id = ? ORDER BY created_at, remote_id"))
        .bind(integration)
        .bind(entry.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())
    }

    async fn pause(&self, integration: &str, until: i64, reason: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(sql(
            "UPDATE sync_pauses SET until_ms = ?, reason = ? WHERE integration = ?",
        ))
        .bind(until)
        .bind(reason)
        .bind(integration)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        if n == 0 {
            sqlx::query(insert_ignore(
                "sync_pauses (integration, until_ms, reason) VALUES (?, ?, ?)",
            ))
            .bind(integration)
            .bind(until)
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())
    }

    async fn paused_until(&self, integration: &str, now: i64) -> Result<Option<(i64, String)>> {
        let row: Option<(i64, String)> = sqlx::query_as(sql(
            "SELECT until_ms, reason FROM sync_pauses WHERE integration = ?",
        ))
        .bind(integration)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(row.filter(|(until, _)| *until > now))
    }

    async fn http_cache_get(&self, identity: &str, url: &str) -> Result<Option<HttpCacheEntry>> {
        let key = cache_key(identity, url);
        let mut tx = self.begin().await?;
        let row: Option<(String, Vec<u8>, String)> = sqlx::query_as(sql(
            "SELECT etag, body, headers FROM sync_http_cache WHERE key_hash = ?",
        ))
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err())?;
        if row.is_some() {
            let next: i64 = sqlx::query_scalar(sql(
                "SELECT COALESCE(MAX(used_at), 0) + 1 FROM sync_http_cache",
            ))
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err())?;
            sqlx::query(sql(
                "UPDATE sync_http_cache SET used_at = ? WHERE key_hash = ?",
            ))
            .bind(next)
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())?;
        Ok(row.map(|(etag, body, headers)| HttpCacheEntry::from_stored(etag, body, &headers)))
    }

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
        let key = cache_key(identity, url);
        let headers = entry.headers_json();
        let mut tx = self.begin().await?;
        let next: i64 = sqlx::query_scalar(sql(
            "SELECT COALESCE(MAX(used_at), 0) + 1 FROM sync_http_cache",
        ))
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err())?;
        sqlx::query(sql("DELETE FROM sync_http_cache WHERE key_hash = ?"))
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        sqlx::query(insert_ignore(
            "sync_http_cache (key_hash, cache_identity, url, etag, body, headers, size, used_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&key)
        .bind(identity)
        .bind(url)
        .bind(&entry.etag)
        .bind(&entry.body)
        .bind(&headers)
        .bind(entry.size() as i64)
        .bind(next)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?;
        // The rows beyond the bounds, most recently used first kept.
        let evict: Vec<String> = sqlx::query_scalar(sql(&format!(
            "SELECT key_hash FROM (SELECT key_hash, \
               ROW_NUMBER() OVER (ORDER BY used_at DESC, key_hash DESC) AS n, \
               CAST(SUM(size) OVER (ORDER BY used_at DESC, key_hash DESC \
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {SYNC_BIGINT}) AS running \
             FROM sync_http_cache) ranked WHERE n > ? OR running > ?"
        )))
        .bind(i64::try_from(max_rows).unwrap_or(i64::MAX))
        .bind(i64::try_from(max_bytes).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(self.err())?;
        for k in evict {
            sqlx::query(sql("DELETE FROM sync_http_cache WHERE key_hash = ?"))
                .bind(k)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())
    }

    async fn http_cache_remove(&self, identity: &str, url: &str) -> Result<()> {
        self.exec("DELETE FROM sync_http_cache WHERE key_hash = ?", |q| {
            q.bind(cache_key(identity, url))
        })
        .await
        .map(|_| ())
    }

    async fn http_cache_size(&self) -> Result<(u64, u64)> {
        let (n, bytes): (i64, i64) = sqlx::query_as(sql(&format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS {SYNC_BIGINT}) FROM sync_http_cache"
        )))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        Ok((n.max(0) as u64, bytes.max(0) as u64))
    }

    async fn record_event(&self, e: &NewIntegrationEvent) -> Result<bool> {
        // Under the counter row's lock (see the module docs): the id is taken and committed
        // before the next recorder can take one, so ids become visible in order.
        let mut tx = self.begin().await?;
        let locked: Option<i64> = sqlx::query_scalar(sql(
            "SELECT value FROM devlog_counters WHERE name = 'integration_events' FOR UPDATE",
        ))
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err())?;
        if locked.is_none() {
            return Err(StoreError::Corrupt {
                path: format!("{BACKEND} database {}", self.url),
                message: "the `integration_events` row of devlog_counters is missing (migration \
                          0044 adds it; it orders integration events)"
                    .into(),
                hint: "add it back: INSERT INTO devlog_counters (name, value) VALUES \
                       ('integration_events', 0)"
                    .into(),
            });
        }
        let r = sqlx::query(insert_ignore(
            "sync_integration_events \
             (integration, kind, event_key, entry_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(&e.integration)
        .bind(e.kind.as_str())
        .bind(crate::sync_state::event_key(&e.key))
        .bind(e.entry_id.map(|id| id.to_string()))
        .bind(e.data.to_string())
        .bind(e.at)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?;
        tx.commit().await.map_err(self.err())?;
        Ok(r.rows_affected() > 0)
    }

    async fn events_after(&self, after: i64, limit: usize) -> Result<Vec<IntegrationEvent>> {
        let rows = sqlx::query(sql(
            "SELECT id, integration, kind, event_key, entry_id, data, created_at \
             FROM sync_integration_events WHERE id > ? ORDER BY id LIMIT ?",
        ))
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter()
            .map(|r| {
                crate::sync_state::event_from(
                    r.try_get("id").map_err(self.err())?,
                    text(r, "integration").map_err(self.err())?,
                    &text(r, "kind").map_err(self.err())?,
                    text(r, "event_key").map_err(self.err())?,
                    r.try_get::<Option<String>, _>("entry_id")
                        .map_err(self.err())?,
                    &text(r, "data").map_err(self.err())?,
                    r.try_get("created_at").map_err(self.err())?,
                )
            })
            .collect()
    }

    async fn last_event_id(&self) -> Result<i64> {
        let n: Option<i64> = sqlx::query_scalar(sql(&format!(
            "SELECT CAST(MAX(id) AS {SYNC_BIGINT}) FROM sync_integration_events"
        )))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(n.unwrap_or(0))
    }

    async fn prune_integration_events(&self, through: i64, before: i64) -> Result<u64> {
        // The newest row stays: `last_event_id` never goes back, and an AUTO_INCREMENT that
        // an older MariaDB/MySQL recomputes from `MAX(id)` on restart never hands an id out
        // twice.
        let mut tx = self.begin().await?;
        let newest: Option<i64> = sqlx::query_scalar(sql(&format!(
            "SELECT CAST(MAX(id) AS {SYNC_BIGINT}) FROM sync_integration_events"
        )))
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err())?;
        let Some(newest) = newest else {
            return Ok(0);
        };
        let n = sqlx::query(sql(
            "DELETE FROM sync_integration_events WHERE id <= ? AND id < ? AND created_at < ?",
        ))
        .bind(through)
        .bind(newest)
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        tx.commit().await.map_err(self.err())?;
        Ok(n)
    }

    async fn workflow_claim(&self, workflow: &str, key: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(insert_ignore(
            "sync_workflow_claims (workflow, claim_key, created_at) VALUES (?, ?, ?)",
        ))
        .bind(workflow)
        .bind(key)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(r.rows_affected() == 1)
    }

    async fn workflow_cursor(&self, name: &str) -> Result<Option<String>> {
        sqlx::query_scalar(sql(
            "SELECT value FROM sync_workflow_cursors WHERE name = ?",
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())
    }

    async fn set_workflow_cursor(&self, name: &str, value: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        upsert(
            &mut tx,
            || {
                sqlx::query(sql(
                    "UPDATE sync_workflow_cursors SET value = ? WHERE name = ?",
                ))
                .bind(value)
                .bind(name)
            },
            || {
                sqlx::query(insert_ignore(
                    "sync_workflow_cursors (name, value) VALUES (?, ?)",
                ))
                .bind(name)
                .bind(value)
            },
        )
        .await
        .map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    async fn start_workflow_run(
        &self,
        run: &WorkflowRun,
        owner: &str,
        _now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let r = insert_workflow_run(run, Some((owner, lease_ms)))
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(r.rows_affected() == 1)
    }

    async fn save_workflow_run(&self, run: &WorkflowRun) -> Result<()> {
        let record = run.record.to_string();
        let entry = run.entry.map(|e| e.to_string());
        let mut tx = self.begin().await?;
        upsert(
            &mut tx,
            || {
                sqlx::query(sql(
                    "UPDATE sync_workflow_runs SET workflow = ?, state = ?, entry_id = ?, \
                     wake_at = ?, started_at = ?, updated_at = ?, record = ? WHERE id = ?",
                ))
                .bind(&run.workflow)
                .bind(run.state.as_str())
                .bind(entry.as_deref())
                .bind(run.wake_at)
                .bind(run.started_at)
                .bind(run.updated_at)
                .bind(&record)
                .bind(&run.id)
            },
            || insert_workflow_run(run, None),
        )
        .await
        .map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    async fn workflow_run(&self, id: &str) -> Result<Option<WorkflowRun>> {
        let row = sqlx::query(sql(&format!(
            "SELECT {WORKFLOW_RUN_COLS} FROM sync_workflow_runs WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| self.workflow_run_from_row(&r)).transpose()
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
        let mut text = format!("SELECT {WORKFLOW_RUN_COLS} FROM sync_workflow_runs WHERE 1 = 1");
        if workflow.is_some() {
            text.push_str(" AND workflow = ?");
        }
        if state.is_some() {
            text.push_str(" AND state = ?");
        }
        text.push_str(" ORDER BY started_at DESC, id DESC LIMIT ?");
        let mut q = sqlx::query(sql(&text));
        if let Some(w) = workflow {
            q = q.bind(w);
        }
        if let Some(st) = state {
            q = q.bind(st.as_str());
        }
        let rows = q
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        rows.iter().map(|r| self.workflow_run_from_row(r)).collect()
    }

    async fn due_workflow_runs(&self, now: i64) -> Result<Vec<WorkflowRun>> {
        let rows = sqlx::query(sql(&format!(
            "SELECT {WORKFLOW_RUN_COLS} FROM sync_workflow_runs WHERE state = 'running' \
             OR (state IN ('waiting', 'retrying') AND (wake_at IS NULL OR wake_at <= ?)) \
             ORDER BY started_at, id"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(|r| self.workflow_run_from_row(r)).collect()
    }

    async fn lease_workflow_run(
        &self,
        id: &str,
        owner: &str,
        _now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let holder: Option<Option<String>> = sqlx::query_scalar(sql(
            "SELECT lease_owner FROM sync_workflow_runs WHERE id = ?",
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        let Some(holder) = holder else {
            return Ok(false);
        };
        // A gone holder of this host is matched by name; '' matches no holder.
        let gone = holder
            .filter(|h| holder_gone_here(h, owner))
            .unwrap_or_default();
        let n = self
            .exec(
                &format!(
                    "UPDATE sync_workflow_runs SET lease_owner = ?, \
                     lease_until = {SYNC_DB_NOW_MS} + ? WHERE id = ? AND \
                     (lease_owner IS NULL OR lease_until IS NULL \
                      OR lease_until <= {SYNC_DB_NOW_MS} OR lease_owner = ?)"
                ),
                |q| {
                    q.bind(owner.to_string())
                        .bind(lease_ms)
                        .bind(id.to_string())
                        .bind(gone.clone())
                },
            )
            .await?;
        Ok(n == 1)
    }

    async fn renew_workflow_run_lease(
        &self,
        id: &str,
        owner: &str,
        _now: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let n = self
            .exec(
                &format!(
                    "UPDATE sync_workflow_runs SET lease_until = {SYNC_DB_NOW_MS} + ? \
                     WHERE id = ? AND lease_owner = ?"
                ),
                |q| {
                    q.bind(lease_ms)
                        .bind(id.to_string())
                        .bind(owner.to_string())
                },
            )
            .await?;
        // MySQL counts only changed rows: a renewal within the same millisecond changes none.
        if n == 1 {
            return Ok(true);
        }
        let held: Option<String> = sqlx::query_scalar(sql(
            "SELECT id FROM sync_workflow_runs WHERE id = ? AND lease_owner = ?",
        ))
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(held.is_some())
    }

    async fn release_workflow_run(&self, id: &str, owner: &str) -> Result<()> {
        self.exec(
            "UPDATE sync_workflow_runs SET lease_owner = NULL, lease_until = NULL \
             WHERE id = ? AND lease_owner = ?",
            |q| q.bind(id.to_string()).bind(owner.to_string()),
        )
        .await
        .map(|_| ())
    }

    async fn prune_workflow_runs(
        &self,
        keep_runs: usize,
        finished_before: i64,
        claims_before: i64,
    ) -> Result<WorkflowPruned> {
        let mut tx = self.begin().await?;
        let beyond: Vec<String> = sqlx::query_scalar(sql(
            "SELECT id FROM (SELECT id, state FROM sync_workflow_runs \
             ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?) beyond \
             WHERE state IN ('succeeded', 'failed', 'dead')",
        ))
        .bind(i64::MAX)
        .bind(i64::try_from(keep_runs).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(self.err())?;
        let mut runs = 0;
        for id in beyond {
            runs += sqlx::query(sql("DELETE FROM sync_workflow_runs WHERE id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?
                .rows_affected();
        }
        runs += sqlx::query(sql("DELETE FROM sync_workflow_runs \
             WHERE updated_at < ? AND state IN ('succeeded', 'failed', 'dead')"))
        .bind(finished_before)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?
        .rows_affected();
        let claims = sqlx::query(sql("DELETE FROM sync_workflow_claims WHERE created_at < ?"))
            .bind(claims_before)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
        tx.commit().await.map_err(self.err())?;
        Ok(WorkflowPruned { runs, claims })
    }

    async fn workflow_run_counts(&self) -> Result<WorkflowRunCounts> {
        let rows: Vec<(String, i64)> = sqlx::query_as(sql(&format!(
            "SELECT state, CAST(COUNT(*) AS {SYNC_BIGINT}) FROM sync_workflow_runs GROUP BY state"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        crate::sync_state::workflow_run_counts(rows)
    }
}

static WORKFLOW_RUN_COLS: &str =
    "id, workflow, state, entry_id, wake_at, started_at, updated_at, record";

impl ServerSyncState {
    fn workflow_run_from_row(&self, r: &DbRow) -> Result<WorkflowRun> {
        workflow_run_from(
            text(r, "id").map_err(self.err())?,
            text(r, "workflow").map_err(self.err())?,
            &text(r, "state").map_err(self.err())?,
            r.try_get("entry_id").map_err(self.err())?,
            r.try_get("wake_at").map_err(self.err())?,
            r.try_get("started_at").map_err(self.err())?,
            r.try_get("updated_at").map_err(self.err())?,
            &text(r, "record").map_err(self.err())?,
        )
    }
}
