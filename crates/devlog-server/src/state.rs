//! What every handler shares: the use cases, who acts, the write bookkeeping that feeds the
//! event stream, and the shutdown flag that ends open streams.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use devlog_core::{Devlog, Origin, WriteMeta};
use devlog_store::feed_watch::FeedWatch;
use tokio::sync::{Notify, RwLock, RwLockReadGuard, RwLockWriteGuard, watch};

use crate::error::ApiError;
use crate::etag::{Conditional, Precondition};
use crate::extract::Actor;

/// The handlers' shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    app: Devlog,
    actor: Option<String>,
    poll_interval: Duration,
    /// Woken after every write through this server, so event streams need not wait for the
    /// feed watcher (shared with the background sync workers of `devlog serve`).
    changed: Arc<Notify>,
    /// Wakes event streams on writes by other processes: started with the first stream.
    feed: OnceLock<FeedWatch>,
    /// Writes through the API share this lock; a conditional delete takes it alone, because
    /// the `Store` port has no delete-if-unchanged (see `api::v1::entries::delete`).
    writes: RwLock<()>,
    shutdown: watch::Sender<bool>,
    openapi: Bytes,
    sync: SyncAccess,
    /// The overview's report charts, kept until the feed moves or they age
    /// (see `dashboard::pages::overview`).
    charts: std::sync::Mutex<Option<CachedCharts>>,
    /// Worklog suggestions from git commits (`api::v1::worklog_suggestions`), set once when
    /// the server is built (none: the routes say the server has no git repository).
    suggester: OnceLock<devlog_core::worklog_suggest::WorklogSuggester>,
    /// The reports' in-memory index and answers (`api::v1::reports::ReportState`).
    reports: crate::api::v1::reports::ReportState,
    /// Where `POST /bulk` keeps operations and their progress (`ServerOptions::bulk_journal`).
    bulk: Arc<dyn devlog_core::bulk::BulkJournal>,
    /// The workspace's workflow folders (`ServerOptions::workflows`), for `/workflows`.
    workflows: OnceLock<devlog_workflow::load::Site>,
    /// The `.devlog` folder whose key signs audit checkpoints (`ServerOptions::audit_dir`).
    audit_dir: OnceLock<std::path::PathBuf>,
}

/// What the server knows of sync: the engine `devlog serve` built from `[integrations.*]`
/// (the one MCP's sync tools and the webhook receivers use), or why there is none, and the
/// configured integrations' names.
#[derive(Debug, Clone, Default)]
pub struct SyncAccess {
    pub engine: Option<devlog_sync::SyncEngine>,
    pub error: Option<String>,
    pub configured: Vec<String>,
}

/// Report charts computed for the overview, with the feed position and time they were
/// computed at.
#[derive(Debug, Clone)]
pub(crate) struct CachedCharts {
    pub seq: u64,
    pub at: std::time::Instant,
    pub svgs: Vec<String>,
}

impl AppState {
    // One constructor, called once by `Server::build` with the parts of its options.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        app: Devlog,
        actor: Option<String>,
        poll_interval: Duration,
        changed: Arc<Notify>,
        feed: Option<FeedWatch>,
        openapi: Bytes,
        sync: SyncAccess,
        bulk: Arc<dyn devlog_core::bulk::BulkJournal>,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self(Arc::new(Shared {
            app,
            actor,
            poll_interval,
            changed,
            feed: feed.map(OnceLock::from).unwrap_or_default(),
            writes: RwLock::new(()),
            shutdown,
            openapi,
            sync,
            charts: std::sync::Mutex::new(None),
            suggester: OnceLock::new(),
            reports: Default::default(),
            bulk,
            workflows: OnceLock::new(),
            audit_dir: OnceLock::new(),
        }))
    }

    /// What the sync reports read (REST `GET /reports/{name}` and the dashboard): the state
    /// and integrations of the engine `devlog serve` built, if any (without one the reports
    /// say that nothing is configured). Quotas: what this server's own clients saw, else what
    /// the last sync recorded in the sync state; none is invented (the report says unknown).
    pub fn sync_sources(&self) -> Option<devlog_core::reports::SyncSources> {
        let sync = self.sync();
        let engine = sync.engine.as_ref()?;
        let configured = if sync.configured.is_empty() {
            engine
                .integrations()
                .iter()
                .map(|i| i.descriptor().name)
                .collect()
        } else {
            sync.configured.clone()
        };
        Some(devlog_core::reports::SyncSources {
            state: engine.state().store().clone(),
            configured,
            quotas: engine
                .integrations()
                .iter()
                .filter_map(|i| Some((i.descriptor().name, i.quota()?)))
                .collect(),
        })
    }

    pub fn app(&self) -> &Devlog {
        &self.0.app
    }

    /// The worklog suggester `devlog serve` built over its git repositories, if any.
    pub fn worklog_suggester(&self) -> Option<&devlog_core::worklog_suggest::WorklogSuggester> {
        self.0.suggester.get()
    }

    /// Gives the routes their worklog suggester (the first one set stays).
    pub(crate) fn set_worklog_suggester(&self, s: devlog_core::worklog_suggest::WorklogSuggester) {
        let _ = self.0.suggester.set(s);
    }

    /// The reports' index and cached answers (`api::v1::reports::compute`).
    pub(crate) fn reports(&self) -> &crate::api::v1::reports::ReportState {
        &self.0.reports
    }

    /// The write metadata of a request: origin `http`, the client's `X-Devlog-Actor` or the
    /// server's actor, and the client's address (for the audit log).
    pub fn meta(&self, actor: Actor) -> WriteMeta {
        WriteMeta::new(Origin::Http)
            .with_actor(actor.0.or_else(|| self.0.actor.clone()))
            .with_client(actor.1)
    }

    /// The workspace's workflow folders, if the server has a workspace.
    pub fn workflows(&self) -> Option<&devlog_workflow::load::Site> {
        self.0.workflows.get()
    }

    /// Gives the routes the workspace's workflow folders (the first one set stays).
    pub(crate) fn set_workflows(&self, site: devlog_workflow::load::Site) {
        let _ = self.0.workflows.set(site);
    }

    /// The `.devlog` folder whose key signs audit checkpoints, if the server has one.
    pub fn audit_dir(&self) -> Option<&std::path::Path> {
        self.0.audit_dir.get().map(std::path::PathBuf::as_path)
    }

    /// Gives the audit routes the workspace's `.devlog` folder (the first one set stays).
    pub(crate) fn set_audit_dir(&self, dir: std::path::PathBuf) {
        let _ = self.0.audit_dir.set(dir);
    }

    /// The bulk operations' journal.
    pub fn bulk_journal(&self) -> Arc<dyn devlog_core::bulk::BulkJournal> {
        Arc::clone(&self.0.bulk)
    }

    /// The sync engine and configuration (`devlog serve` passes the engine it built).
    pub fn sync(&self) -> &SyncAccess {
        &self.0.sync
    }

    /// The overview's cached charts, if computed at feed position `seq` less than `max_age`
    /// ago.
    pub(crate) fn cached_charts(&self, seq: u64, max_age: Duration) -> Option<Vec<String>> {
        let guard = self.0.charts.lock().ok()?;
        guard
            .as_ref()
            .filter(|c| c.seq == seq && c.at.elapsed() < max_age)
            .map(|c| c.svgs.clone())
    }

    pub(crate) fn cache_charts(&self, seq: u64, svgs: Vec<String>) {
        if let Ok(mut guard) = self.0.charts.lock() {
            *guard = Some(CachedCharts {
                seq,
                at: std::time::Instant::now(),
                svgs,
            });
        }
    }

    pub fn poll_interval(&self) -> Duration {
        self.0.poll_interval
    }

    pub fn openapi(&self) -> Bytes {
        self.0.openapi.clone()
    }

    /// Holds off a conditional delete while a write runs.
    pub async fn write_shared(&self) -> RwLockReadGuard<'_, ()> {
        self.0.writes.read().await
    }

    /// Excludes every other write through this server.
    pub async fn write_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.writes.write().await
    }

    /// Tells the event streams that something was committed.
    pub fn committed(&self) {
        self.0.changed.notify_waiters();
    }

    pub fn changed(&self) -> &Notify {
        &self.0.changed
    }

    /// A handle on the process's change-feed watcher (started on first use; needs the
    /// runtime): notifications on PostgreSQL, polling every `poll_interval` elsewhere.
    pub fn feed_watch(&self) -> FeedWatch {
        self.0
            .feed
            .get_or_init(|| FeedWatch::start(self.0.app.store().clone(), self.0.poll_interval))
            .clone()
    }

    /// A receiver that turns `true` when the server begins to shut down.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }

    /// Ends the event streams, so a graceful shutdown need not wait for clients to leave.
    pub fn begin_shutdown(&self) {
        self.0.shutdown.send_replace(true);
    }

    /// A write to one entry as every entry route makes it: the reference resolved, `If-Match`
    /// (when sent) checked inside the store's update ([`AppState::run`]), the server's write
    /// lock held shared, and the event streams told afterwards. `op` gets the use cases, the
    /// entry's id and the write's metadata.
    pub async fn write_entry<T, F, Fut>(
        &self,
        reference: &str,
        actor: Actor,
        headers: &axum::http::HeaderMap,
        op: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(Devlog, devlog_core::EntryId, WriteMeta) -> Fut,
        Fut: Future<Output = devlog_core::Result<T>>,
    {
        let condition = Precondition::if_match(headers)?;
        let meta = self.meta(actor);
        let target = self.app().resolve_summary(reference).await?;
        let _write = self.write_shared().await;
        let out = self.run(condition, |app| op(app, target.id, meta)).await?;
        self.committed();
        Ok(out)
    }

    /// Runs a use case, with an `If-Match` precondition checked inside the store's atomic
    /// update when the request has one. A failed precondition is 412.
    pub async fn run<T, F, Fut>(
        &self,
        condition: Option<Precondition>,
        op: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(Devlog) -> Fut,
        Fut: Future<Output = devlog_core::Result<T>>,
    {
        match condition {
            None => op(self.0.app.clone()).await.map_err(ApiError::from),
            Some(expected) => {
                let store = Conditional::new(self.0.app.store().clone(), expected);
                let app = Devlog::with_clock(store.clone(), self.0.app.clock().clone());
                op(app).await.map_err(|e| store.error(e))
            }
        }
    }
}
