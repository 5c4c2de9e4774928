//! The `json` backend (the default): one pretty JSON file per entry under
//! `.devlog/entries/`, diff- and merge-friendly, with a git-ignored SQLite index and change feed
//! under `.devlog/.state/`.
//!
//! Architecture invariant: the entry files are the truth. The index is brought up to date
//! from them before every read (a stat of each file; only changed files are parsed), so a
//! `git pull`, a hand edit or a deleted index is picked up, and a change found that way is
//! recorded in the change feed as an `external` event. That also covers a crash between an
//! entry write and its event write: the event is recovered by the same diff.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::AuditFile;
use async_trait::async_trait;
use devlog_core::audit::{AuditLog, Draft, Source, Stored};
use devlog_core::codec::{decode_entry, encode_entry};
use devlog_core::entry::{Entry, EntrySummary};
use devlog_core::error::{ErrorKind, Result, StoreError};
use devlog_core::event::{Event, Origin, WriteMeta};
use devlog_core::id::{EntryId, EntryRef};
use devlog_core::store::{
    Created, Filter, ListQuery, Mutation, Page, PutOutcome, SearchHit, SearchQuery, Stats, Store,
    StoreInfo,
};
use devlog_core::time::{Clock, SystemClock, Timestamp};
use sqlx::Row;

use crate::fsmonitor::{self, Monitor, Vouch};
use crate::fsutil::{
    Staged, WriteGuard, WriteLock, blocking, ensure_gitattributes, ensure_gitignore,
    remove_stale_temp_files, stamp, sync_dir, write_atomic,
};
use crate::history::{GITATTRIBUTES_COMMENT, GITATTRIBUTES_LINES, History};
use crate::index::{FileStamp, SqlIndex};

/// Folder names inside `.devlog/`.
pub const ENTRIES_DIR: &str = "entries";
pub const STATE_DIR: &str = ".state";
/// The index `meta` key holding the last `seq` copied to the history files.
const HISTORY_MARK: &str = "history_seq";

/// Entries as JSON files in a `.devlog/` folder.
#[derive(Debug)]
pub struct JsonStore {
    root: PathBuf,
    entries: PathBuf,
    /// The index on disk; an empty in-memory stand-in when it cannot be opened (then
    /// `unusable` says why, and nothing is ever written to the stand-in).
    index: SqlIndex,
    unusable: Option<Unusable>,
    lock: WriteLock,
    fresh: Mutex<Option<Freshness>>,
    /// This process's file-system watcher, while it has one (see `fsmonitor.rs`).
    monitor: Mutex<Option<Monitor>>,
    /// Whether the last check of the folder was answered by a watcher instead of a scan.
    vouched: std::sync::atomic::AtomicBool,
    /// Set while a write of this process moves entry files (under the write lock): the
    /// folder's mtime changes before the write is done, and a read in that window is not an
    /// outside change to rescan for (it would queue behind every waiting writer for the lock).
    own_write: std::sync::atomic::AtomicBool,
    /// Answers reads while the index on disk cannot be brought up to date.
    fallback: tokio::sync::Mutex<Option<SqlIndex>>,
    /// Why the last read was answered from the fallback; `None` while the index is current.
    degraded: Mutex<Option<String>>,
    /// The change history kept with the files (see `history.rs`).
    history: History,
    /// The audit log, `.devlog/audit.jsonl` (see `audit.rs`).
    audit: AuditFile,
    /// API token hashes, `.devlog/tokens.json` (see `tokens.rs`).
    tokens: crate::tokens::TokenFile,
    /// When events happen (the system clock unless a test injects one).
    clock: Arc<dyn Clock>,
}

/// Why the index on disk could not be opened, kept to refuse writes with the same error.
#[derive(Debug)]
struct Unusable(StoreError);

impl Unusable {
    fn error(&self) -> StoreError {
        match &self.0 {
            StoreError::ReadOnly {
                path,
                message,
                hint,
            } => StoreError::ReadOnly {
                path: path.clone(),
                message: message.clone(),
                hint: hint.clone(),
            },
            StoreError::Backend {
                backend,
                message,
                transient,
            } => StoreError::Backend {
                backend,
                message: message.clone(),
                transient: *transient,
            },
            StoreError::Io { path, source } => StoreError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            other => StoreError::Backend {
                backend: "json",
                message: other.to_string(),
                transient: false,
            },
        }
    }
}

/// The lines devlog keeps in `.devlog/.gitignore`: machine-local state, and the temp files
/// of atomic writes (a killed writer can leave one behind until the next open removes it).
pub(crate) const GITIGNORE_COMMENT: &str =
    "# devlog: machine-local index, change feed and sync state, temp files (never commit)";
pub(crate) const GITIGNORE_LINES: &[&str] = &[
    ".state/",
    ".tmp-*.partial",
    "audit.jsonl",
    crate::tokens::TOKENS_FILE,
];

/// What this process last confirmed about the entries folder. Reads skip the per-file scan
/// while the folder's mtime is unchanged (creates, renames and deletes — devlog's atomic
/// writes, git checkouts — all change it) and either the last check is younger than
/// [`RESCAN_AFTER`] (which bounds how long an in-place edit by an editor can go unnoticed by a
/// long-running server) or this process's watcher keeps the index current. A CLI command
/// checks once: a watcher vouches for the index (see `fsmonitor.rs`), or it scans.
#[derive(Debug, Clone, Copy)]
struct Freshness {
    dir_mtime: i64,
    at: Instant,
    /// Largest handle among file names; `None` after a watcher vouched (no names were read).
    max_name_handle: Option<u64>,
}

/// How long a long-running process trusts an unchanged folder without re-stating its files.
pub const RESCAN_AFTER: Duration = Duration::from_secs(1);

/// Entry files read per hand-off to a blocking thread when the index catches up.
const READ_BATCH: usize = 256;

/// One `*.json` file in the entries folder as the file system reports it.
#[derive(Debug, Clone)]
struct Seen {
    size: i64,
    mtime: i64,
}

/// How a full scan differs from the index (see [`JsonStore::diff`]).
#[derive(Debug, Default)]
struct Diff {
    /// New and changed files.
    seen: HashMap<String, Seen>,
    /// What the index holds about changed and vanished files.
    known: HashMap<String, Known>,
    fingerprint: u64,
    max_name_handle: u64,
}

/// What a full scan found about the whole folder, for [`JsonStore::apply`].
#[derive(Debug, Clone, Copy)]
struct Whole {
    /// The folder's mtime before the scan.
    dir_mtime: i64,
    fingerprint: u64,
    max_name_handle: u64,
}

/// Index rows read per query when a full scan is compared with the index.
const KNOWN_PAGE: usize = 4096;

/// What a scan that keeps nothing per file learns about the folder.
#[derive(Debug, Default)]
struct Summary {
    fingerprint: u64,
    files: usize,
    max_name_handle: u64,
}

/// What the index believes about a file.
#[derive(Debug, Clone)]
struct Known {
    id: Option<EntryId>,
    size: i64,
    mtime: i64,
    broken: bool,
}

impl JsonStore {
    /// Opens the store in `root` (a `.devlog` folder), creating its folders if needed, and
    /// brings the index up to date with the files.
    ///
    /// A checkout that cannot be written (read-only folder, full disk) still opens: reads are
    /// answered from the entry files with a warning (see [`Store::warnings`]) and writes fail
    /// with an error that says why.
    pub async fn open(root: &Path) -> Result<Self> {
        let store = Self::open_unrefreshed(root).await?;
        store.refresh_on_open().await;
        Ok(store)
    }

    /// Opens the store like [`open`](Self::open) for a long-running process and watches its
    /// entries folder (see [`watch`](Self::watch)). The watcher's first scan is the only one:
    /// the store waits for it instead of scanning before the watches are in place and then
    /// again. When another process watches (or watching fails) it scans like `open`.
    pub async fn open_watching(root: &Path) -> Result<Arc<Self>> {
        let store = Arc::new(Self::open_unrefreshed(root).await?);
        let signal = store.watch().then(|| {
            store
                .monitor
                .lock()
                .expect("monitor lock is never poisoned: no panics while held")
                .as_ref()
                .map(Monitor::start_signal)
        });
        let scanned = match signal.flatten() {
            Some(signal) => signal.started().await,
            None => false,
        };
        if !scanned {
            store.refresh_on_open().await;
        }
        store.index.fold_when_idle();
        Ok(store)
    }

    /// Brings the index up to date after opening; a failure is only logged (reads retry and
    /// fall back to the files; writes report it).
    async fn refresh_on_open(&self) {
        if self.unusable.is_none()
            && let Err(e) = self.refresh().await
        {
            tracing::debug!("cannot bring the index up to date: {e}");
        }
    }

    /// Closes the index database and waits until its connections have closed (the last one
    /// checkpoints its log), for a process that ends its use of the store while it goes on:
    /// a later open of the same folder then starts from a closed file.
    pub async fn close(&self) {
        self.index.pool().close().await;
    }

    /// Everything [`open`](Self::open) does but the first refresh.
    async fn open_unrefreshed(root: &Path) -> Result<Self> {
        let entries = root.join(ENTRIES_DIR);
        let state = root.join(STATE_DIR);
        // A missing entries folder reads as an empty store; a state folder that cannot be
        // created makes the index below unusable, which reads survive.
        if let Err(e) = std::fs::create_dir_all(&entries) {
            tracing::debug!(folder = %entries.display(), "cannot create: {e}");
        }
        let state_error = std::fs::create_dir_all(&state)
            .err()
            .map(|e| StoreError::write_io(state.display().to_string(), e));
        if let Err(e) = ensure_gitignore(root, GITIGNORE_COMMENT, GITIGNORE_LINES) {
            // On a read-only checkout the index warning says so already.
            if e.kind() == ErrorKind::Denied {
                tracing::debug!("cannot update .devlog/.gitignore: {e}");
            } else {
                tracing::warn!("cannot update .devlog/.gitignore: {e}");
            }
        }
        if let Err(e) = ensure_gitattributes(root, GITATTRIBUTES_COMMENT, GITATTRIBUTES_LINES) {
            tracing::debug!("cannot update .devlog/.gitattributes: {e}");
        }
        let (index, unusable) =
            match SqlIndex::open(&state.join("index.sqlite"), "json", false).await {
                Ok(index) => (index, None),
                // The folder's own error says more than SQLite's "unable to open database file".
                Err(e) => (
                    SqlIndex::open_in_memory("json").await?,
                    Some(Unusable(state_error.unwrap_or(e))),
                ),
            };
        let store = Self {
            root: root.to_path_buf(),
            entries,
            index,
            unusable,
            lock: WriteLock::new(state.join("write.lock")),
            fresh: Mutex::new(None),
            monitor: Mutex::new(None),
            vouched: std::sync::atomic::AtomicBool::new(false),
            own_write: std::sync::atomic::AtomicBool::new(false),
            fallback: tokio::sync::Mutex::new(None),
            degraded: Mutex::new(None),
            history: History::new(root),
            audit: AuditFile::new(root),
            tokens: crate::tokens::TokenFile::new(root),
            clock: Arc::new(SystemClock),
        };
        store.remove_stale_temp_files();
        if store.unusable.is_none()
            && let Err(e) = store.start_history().await
        {
            tracing::debug!("cannot read the change history back: {e}");
        }
        Ok(store)
    }

    /// The same store stamping its events with `clock`'s time (changes found in the files
    /// too).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Removes temp files left by killed writers beside `.devlog/` and in `.state/`, if no
    /// writer is active right now. Those in the entries folder are removed when a scan sees
    /// one ([`remove_stale_entry_temp_files`](Self::remove_stale_entry_temp_files)): reading
    /// that folder once more on every open would cost as much as the scan.
    fn remove_stale_temp_files(&self) {
        self.remove_stale_temp_files_in(&[&self.root, &self.root.join(STATE_DIR)]);
    }

    fn remove_stale_entry_temp_files(&self) {
        self.remove_stale_temp_files_in(&[&self.entries]);
    }

    fn remove_stale_temp_files_in(&self, dirs: &[&Path]) {
        let Some(_guard) = self.lock.try_acquire() else {
            return;
        };
        let removed = dirs
            .iter()
            .map(|d| remove_stale_temp_files(d))
            .sum::<usize>();
        if removed > 0 {
            tracing::info!("removed {removed} temp file(s) left by an interrupted write");
        }
    }

    /// The `.devlog` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file name of an entry. A key that is not a valid key (see
    /// [`devlog_core::id::validate_key`]; decoding refuses such files, but an entry built in
    /// code could carry one) is slugified, so the name is always one plain component.
    pub fn file_name(handle: u64, key: &str) -> String {
        let mut slug: String = if devlog_core::id::validate_key(key).is_ok() {
            key.chars().take(devlog_core::id::MAX_SLUG).collect()
        } else {
            devlog_core::id::slugify(key)
        };
        if slug.is_empty() {
            slug.push_str("entry");
        }
        format!("{handle:03}-{slug}.json")
    }

    fn origin_of(&self, file: &str) -> String {
        self.entries.join(file).display().to_string()
    }

    /// Reads and decodes one entry file (blocking: callers wrap it in [`blocking`]).
    fn read_file(&self, name: &str) -> Result<Entry> {
        let path = self.entries.join(name);
        std::fs::read(&path)
            .map_err(|e| StoreError::io(path.display().to_string(), e))
            .and_then(|bytes| decode_entry(&bytes, &self.origin_of(name)))
    }

    /// Lists and stats the entry files, keeping the result compact (off the async threads).
    fn stamp_files(&self) -> Result<crate::scan::Stamped> {
        blocking(|| {
            let stamped = crate::scan::stamp_all(&self.entries)
                .map_err(|e| StoreError::io(self.entries.display().to_string(), e))?;
            if stamped.temp_files > 0 {
                self.remove_stale_entry_temp_files();
            }
            Ok(stamped)
        })
    }

    /// The fingerprint of the folder and its largest file-name handle, without keeping
    /// anything per file: what an unchanged folder costs.
    fn summarize(&self) -> Result<Summary> {
        let parts =
            crate::scan::fold_stats(&self.entries, Summary::default, |s, name, size, mtime| {
                s.fingerprint ^= file_hash(name, size, mtime);
                s.files += 1;
                s.max_name_handle = s.max_name_handle.max(name_handle(name).unwrap_or(0));
            })
            .map_err(|e| StoreError::io(self.entries.display().to_string(), e))?;
        if parts.temp_files > 0 {
            self.remove_stale_entry_temp_files();
        }
        Ok(parts
            .parts
            .into_iter()
            .fold(Summary::default(), |a, b| Summary {
                fingerprint: a.fingerprint ^ b.fingerprint,
                files: a.files + b.files,
                max_name_handle: a.max_name_handle.max(b.max_name_handle),
            }))
    }

    /// Compares a full scan with the index: the files that are new or changed, what the
    /// index holds about files that changed or vanished, and the fingerprint and largest
    /// handle of the whole folder. The scan's names are walked in order beside the index's
    /// rows read a page at a time in the same order (a merge join), so what this holds is
    /// the scan, one page and the differences, never a map of every file.
    async fn diff(&self, index: &SqlIndex, stamped: &crate::scan::Stamped) -> Result<Diff> {
        let order = stamped.by_name();
        let mut d = Diff::default();
        for &i in &order {
            let (size, mtime) = stamped.stamp(i).expect("by_name lists stated files only");
            let name = stamped.name(i);
            d.fingerprint ^= file_hash(name, size, mtime);
            d.max_name_handle = d.max_name_handle.max(name_handle(name).unwrap_or(0));
        }
        // Files that could not be read: few, and never also a row of `entries`.
        let mut broken = self.broken_known(index).await?;
        let mut pos = 0;
        // A file the index has no row for: new, or a broken file (changed or not).
        let seen_only = |d: &mut Diff, i: usize, broken: &mut HashMap<String, Known>| {
            let name = stamped.name(i);
            let (size, mtime) = stamped.stamp(i).expect("by_name lists stated files only");
            let k = broken.remove(name);
            if k.as_ref()
                .is_some_and(|k| k.size == size && k.mtime == mtime)
            {
                return;
            }
            d.seen.insert(name.to_string(), Seen { size, mtime });
            if let Some(k) = k {
                d.known.insert(name.to_string(), k);
            }
        };
        let mut after = String::new();
        loop {
            let page = self.known_page(index, &after).await?;
            let full = page.len() == KNOWN_PAGE;
            for (file, k) in page {
                while pos < order.len() && stamped.name(order[pos]) < file.as_str() {
                    seen_only(&mut d, order[pos], &mut broken);
                    pos += 1;
                }
                let k = broken.remove(&file).unwrap_or(k);
                if pos < order.len() && stamped.name(order[pos]) == file {
                    let (size, mtime) = stamped
                        .stamp(order[pos])
                        .expect("by_name lists stated files only");
                    pos += 1;
                    if k.size != size || k.mtime != mtime {
                        d.seen.insert(file.clone(), Seen { size, mtime });
                        d.known.insert(file.clone(), k);
                    }
                } else {
                    d.known.insert(file.clone(), k); // vanished
                }
                after = file;
            }
            if !full {
                break;
            }
        }
        while pos < order.len() {
            seen_only(&mut d, order[pos], &mut broken);
            pos += 1;
        }
        // Broken files no longer there.
        d.known.extend(broken);
        Ok(d)
    }

    /// Up to [`KNOWN_PAGE`] files the index has a row for, those named after `after`, in
    /// name order. One aggregated value per page: streaming rows one by one through the
    /// SQLite driver costs far more than one string.
    async fn known_page(&self, index: &SqlIndex, after: &str) -> Result<Vec<(String, Known)>> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT group_concat(file || char(31) || file_size || char(31) || file_mtime
                                 || char(31) || id, char(30))
             FROM (SELECT file, file_size, file_mtime, id FROM entries
                   WHERE file > ? ORDER BY file LIMIT ?)",
        )
        .bind(after)
        .bind(i64::try_from(KNOWN_PAGE).expect("a small constant"))
        .fetch_one(index.pool())
        .await
        .map_err(index.err())?;
        let mut page = parse_known(text.as_deref(), false);
        // The page is the right set of rows; their order in the aggregate is not promised.
        page.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(page)
    }

    /// What the index holds about the files that could not be read.
    async fn broken_known(&self, index: &SqlIndex) -> Result<HashMap<String, Known>> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT group_concat(file || char(31) || file_size || char(31) || file_mtime
                                 || char(31), char(30))
             FROM broken_files",
        )
        .fetch_one(index.pool())
        .await
        .map_err(index.err())?;
        Ok(parse_known(text.as_deref(), true).into_iter().collect())
    }

    /// The index's view of the files `names` (those it knows).
    async fn known_files(
        &self,
        index: &SqlIndex,
        names: &BTreeSet<String>,
    ) -> Result<HashMap<String, Known>> {
        let mut out = HashMap::new();
        let mut conn = index.pool().acquire().await.map_err(index.err())?;
        for name in names {
            let row: Option<(i64, i64, String)> =
                sqlx::query_as("SELECT file_size, file_mtime, id FROM entries WHERE file = ?")
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(index.err())?;
            if let Some((size, mtime, id)) = row {
                out.insert(
                    name.clone(),
                    Known {
                        id: id.parse().ok(),
                        size,
                        mtime,
                        broken: false,
                    },
                );
                continue;
            }
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT file_size, file_mtime FROM broken_files WHERE file = ?")
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(index.err())?;
            if let Some((size, mtime)) = row {
                out.insert(
                    name.clone(),
                    Known {
                        id: None,
                        size,
                        mtime,
                        broken: true,
                    },
                );
            }
        }
        Ok(out)
    }

    fn dir_mtime(&self) -> Result<i64> {
        // One stat, on every read: cheap enough to stay on the async thread.
        match stamp(&self.entries) {
            Ok((_, m)) => Ok(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::io(self.entries.display().to_string(), e)),
        }
    }

    fn freshness(&self) -> Option<Freshness> {
        *self
            .fresh
            .lock()
            .expect("freshness lock is never poisoned: no panics while held")
    }

    fn set_freshness(&self, f: Option<Freshness>) {
        *self
            .fresh
            .lock()
            .expect("freshness lock is never poisoned: no panics while held") = f;
    }

    fn is_fresh(&self) -> Result<bool> {
        let own_write = self.own_write.load(std::sync::atomic::Ordering::Acquire);
        let dm = self.dir_mtime()?;
        Ok(self.freshness().is_some_and(|f| {
            (own_write || f.dir_mtime == dm)
                && (f.at.elapsed() < RESCAN_AFTER || self.is_watching())
        }))
    }

    /// Whether this process watches the entries folder and its index is caught up with every
    /// change the watcher was told about.
    pub fn is_watching(&self) -> bool {
        self.monitor
            .lock()
            .expect("monitor lock is never poisoned: no panics while held")
            .as_ref()
            .is_some_and(Monitor::healthy)
    }

    /// How many other processes' reads this process's watcher has vouched for (`None` while
    /// it does not watch): `devlog watch run` exits when this stops growing.
    pub fn watcher_answers(&self) -> Option<u64> {
        self.monitor
            .lock()
            .expect("monitor lock is never poisoned: no panics while held")
            .as_ref()
            .filter(|m| m.healthy())
            .map(Monitor::answered)
    }

    /// Whether the last check of the entries folder was answered by a watcher (this process's
    /// or another's) vouching for the index, rather than by a scan.
    pub fn watcher_vouched(&self) -> bool {
        self.vouched.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Starts watching the entries folder (see `fsmonitor.rs`) on the current tokio runtime,
    /// for a long-running process: the index is then kept current as files change and other
    /// devlog processes may trust it without a scan. Returns whether a watcher was started
    /// (it may stand by while another process watches); `false` on a network file system.
    pub fn watch(self: &Arc<Self>) -> bool {
        let Some((monitor, task)) = fsmonitor::prepare(
            Arc::downgrade(self),
            self.entries.clone(),
            self.root.join(STATE_DIR),
        ) else {
            return false;
        };
        *self
            .monitor
            .lock()
            .expect("monitor lock is never poisoned: no panics while held") = Some(monitor);
        tokio::spawn(task);
        true
    }

    /// Marks a write of ours as moving files until the returned guard is dropped (after
    /// [`note_own_write`](Self::note_own_write), or on failure).
    fn own_write(&self) -> OwnWrite<'_> {
        self.own_write
            .store(true, std::sync::atomic::Ordering::Release);
        OwnWrite(&self.own_write)
    }

    /// After a write of ours (under the lock): the folder changed only by what we did.
    fn note_own_write(&self, handle: u64) -> Result<()> {
        if let Some(mut f) = self.freshness() {
            f.dir_mtime = self.dir_mtime()?;
            f.max_name_handle = f.max_name_handle.map(|m| m.max(handle));
            self.set_freshness(Some(f));
        }
        Ok(())
    }

    async fn stored_fingerprint(&self) -> Result<Option<u64>> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'fingerprint'")
                .fetch_optional(self.index.pool())
                .await
                .map_err(self.index.err())?;
        Ok(v.and_then(|v| v.parse().ok()))
    }

    async fn set_fingerprint(
        conn: &mut sqlx::SqliteConnection,
        fp: Option<u64>,
        err: impl Fn(sqlx::Error) -> StoreError,
    ) -> Result<()> {
        match fp {
            Some(fp) => sqlx::query(
                "INSERT INTO meta (key, value) VALUES ('fingerprint', ?)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )
            .bind(fp.to_string())
            .execute(&mut *conn)
            .await
            .map_err(err)?,
            None => sqlx::query("DELETE FROM meta WHERE key = 'fingerprint'")
                .execute(&mut *conn)
                .await
                .map_err(err)?,
        };
        Ok(())
    }

    /// Updates the stored fingerprint for files we replaced or removed and wrote.
    async fn adjust_fingerprint(
        &self,
        conn: &mut sqlx::SqliteConnection,
        removed: Option<&FileStamp>,
        added: Option<&FileStamp>,
    ) -> Result<()> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'fingerprint'")
                .fetch_optional(&mut *conn)
                .await
                .map_err(self.index.err())?;
        let Some(mut fp) = v.and_then(|v| v.parse::<u64>().ok()) else {
            return Ok(()); // unknown: the next scan reconciles and sets it
        };
        for s in removed.into_iter().chain(added) {
            fp ^= file_hash(&s.file, s.size, s.mtime);
        }
        Self::set_fingerprint(conn, Some(fp), self.index.err()).await
    }

    /// The stamp the index holds for a file.
    async fn indexed_stamp(
        &self,
        conn: &mut sqlx::SqliteConnection,
        file: &str,
    ) -> Result<Option<FileStamp>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT file_size, file_mtime FROM entries WHERE file = ?")
                .bind(file)
                .fetch_optional(&mut *conn)
                .await
                .map_err(self.index.err())?;
        Ok(row.map(|(size, mtime)| FileStamp {
            file: file.to_string(),
            size,
            mtime,
        }))
    }

    /// Brings the index up to date with the files. When nothing changed this costs a stat of
    /// the folder (while fresh, see [`Freshness`]) or one directory read, one stat per file
    /// and one query comparing a fingerprint of all names, sizes and mtimes.
    pub async fn refresh(&self) -> Result<()> {
        if let Some(u) = &self.unusable {
            return Err(u.error());
        }
        if self.check_unchanged(true).await? {
            return Ok(());
        }
        let _guard = self.lock.acquire().await?;
        self.refresh_locked().await
    }

    /// Scans the folder whatever this process believed, and brings the index up to date: the
    /// watcher's start, and its catch-up after lost events.
    pub(crate) async fn rescan(&self) -> Result<()> {
        if let Some(u) = &self.unusable {
            return Err(u.error());
        }
        self.set_freshness(None);
        let _guard = self.lock.acquire().await?;
        self.refresh_locked().await
    }

    /// Applies the files named by the watcher's events (created, changed, removed or
    /// renamed) to the index, without reading the rest of the folder.
    pub(crate) async fn apply_files(&self, names: &BTreeSet<String>) -> Result<()> {
        if let Some(u) = &self.unusable {
            return Err(u.error());
        }
        let _guard = self.lock.acquire().await?;
        let seen = blocking(|| -> Result<HashMap<String, Seen>> {
            let mut seen = HashMap::new();
            for name in names {
                if let Some((size, mtime)) = crate::scan::stat_one(&self.entries, name)
                    .map_err(|e| StoreError::io(self.origin_of(name), e))?
                {
                    seen.insert(name.clone(), Seen { size, mtime });
                }
            }
            Ok(seen)
        })?;
        let known = self.known_files(&self.index, names).await?;
        self.apply(&self.index, true, &HashSet::new(), &seen, &known, None)
            .await
    }

    fn index_path(&self) -> PathBuf {
        self.root.join(STATE_DIR).join("index.sqlite")
    }

    /// The index to answer a read from: the one on disk, brought up to date; or, when that
    /// fails (a read-only checkout, a full disk, a broken index), an in-memory index of the
    /// entry files, with the reason kept for [`Store::warnings`]. Fails only if the entry
    /// files themselves cannot be read.
    async fn read_index(&self) -> Result<SqlIndex> {
        let reason = match self.refresh().await {
            Ok(()) => {
                self.set_degraded(None);
                return Ok(self.index.clone());
            }
            Err(e) => e,
        };
        let mut fallback = self.fallback.lock().await;
        let index = match fallback.as_ref() {
            Some(index) => index.clone(),
            None => SqlIndex::open_in_memory("json").await?,
        };
        if let Err(e) = self.reconcile(&index, false).await {
            tracing::debug!("cannot read the entry files either: {e}");
            *fallback = None;
            return Err(reason);
        }
        if self.degraded_reason().as_deref() != Some(&reason.to_string()) {
            tracing::warn!(
                "the index {} could not be updated; answering from the entry files: {reason}",
                self.index_path().display()
            );
        }
        self.set_degraded(Some(reason.to_string()));
        *fallback = Some(index.clone());
        Ok(index)
    }

    /// The index reads use now, without a refresh: the fallback while one is in use.
    async fn current_index(&self) -> SqlIndex {
        if self.degraded_reason().is_some()
            && let Some(index) = self.fallback.lock().await.as_ref()
        {
            return index.clone();
        }
        self.index.clone()
    }

    fn degraded_reason(&self) -> Option<String> {
        self.degraded
            .lock()
            .expect("degraded lock is never poisoned: no panics while held")
            .clone()
    }

    fn set_degraded(&self, reason: Option<String>) {
        *self
            .degraded
            .lock()
            .expect("degraded lock is never poisoned: no panics while held") = reason;
    }

    /// True (and marked fresh) if the files are as the index last saw them: a watcher
    /// vouches for the index (when `ask`; never under the write lock, which the watcher needs
    /// to answer), or the folder's fingerprint matches the stored one.
    async fn check_unchanged(&self, ask: bool) -> Result<bool> {
        if self.is_fresh()? {
            return Ok(true);
        }
        let dm = self.dir_mtime()?;
        if ask
            && fsmonitor::ask(&self.root.join(STATE_DIR), fsmonitor::COOKIE_TIMEOUT).await
                == Vouch::Answered
        {
            tracing::debug!("the fsmonitor watcher vouched for the index");
            self.vouched
                .store(true, std::sync::atomic::Ordering::Release);
            self.set_freshness(Some(Freshness {
                dir_mtime: dm,
                at: Instant::now(),
                max_name_handle: None,
            }));
            return Ok(true);
        }
        self.vouched
            .store(false, std::sync::atomic::Ordering::Release);
        let summary = blocking(|| self.summarize())?;
        let stored = self.stored_fingerprint().await?;
        tracing::debug!(
            files = summary.files,
            computed = summary.fingerprint,
            ?stored,
            "entry folder fingerprint"
        );
        if Some(summary.fingerprint) == stored {
            self.set_freshness(Some(Freshness {
                dir_mtime: dm,
                at: Instant::now(),
                max_name_handle: Some(summary.max_name_handle),
            }));
            return Ok(true);
        }
        Ok(false)
    }

    /// Like [`refresh`](Self::refresh) for a caller that holds the write lock.
    async fn refresh_locked(&self) -> Result<()> {
        if self.check_unchanged(false).await? {
            return Ok(());
        }
        self.reconcile(&self.index, true).await
    }

    /// Starts the change history on a newly opened index: a new feed (the index was deleted,
    /// or this is a fresh clone) is filled from the history files before the entry files are
    /// indexed, so those entries' past survives and indexing them is no change; an index from
    /// before history files existed writes its whole feed to them. Then the history is brought
    /// up to date with the feed.
    async fn start_history(&self) -> Result<()> {
        let known: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(HISTORY_MARK)
            .fetch_optional(self.index.pool())
            .await
            .map_err(self.index.err())?;
        if known.is_some() {
            // Events a crash left uncopied: copied by whoever holds the lock next, if not now.
            if let Some(_guard) = self.lock.try_acquire() {
                self.flush_history().await;
            }
            return Ok(());
        }
        let _guard = self.write_lock_only().await?;
        let mut tx = self.index.begin_write().await?;
        let started: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(HISTORY_MARK)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.index.err())?;
        if started.is_some() {
            return Ok(()); // another process started it meanwhile
        }
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&mut *tx)
            .await
            .map_err(self.index.err())?;
        let mut restored = HashSet::new();
        if events == 0 && self.history.exists() {
            let loaded = self.history.load()?;
            for skipped in &loaded.skipped {
                tracing::warn!("change history line skipped: {skipped}");
            }
            tracing::info!(
                events = loaded.events.len(),
                entries = loaded.entries.len(),
                "read the change history back into a new change feed"
            );
            self.index.insert_events(&mut tx, &loaded.events).await?;
            restored = loaded.entries;
        }
        // The mark: every event up to here is in the history files (none, for an old index).
        let mark: i64 = if restored.is_empty() {
            0
        } else {
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
                .fetch_one(&mut *tx)
                .await
                .map_err(self.index.err())?
        };
        set_meta(&mut tx, HISTORY_MARK, &mark.to_string(), &self.index).await?;
        tx.commit().await.map_err(self.index.err())?;
        if !restored.is_empty() {
            self.set_freshness(None);
            self.reconcile_restoring(&self.index, true, &restored)
                .await?;
        }
        self.flush_history().await;
        Ok(())
    }

    /// Copies the feed's events after the history mark to the history files and moves the
    /// mark (the caller holds the write lock, or nothing is written meanwhile). A failure
    /// is logged: the events stay in the feed and the next write copies them.
    async fn flush_history(&self) {
        if let Err(e) = self.flush_history_now().await {
            tracing::warn!(
                "cannot write the change history to {}: {e}; it is written with the next change",
                self.history.dir().display()
            );
        }
    }

    async fn flush_history_now(&self) -> Result<()> {
        let mark: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(HISTORY_MARK)
            .fetch_optional(self.index.pool())
            .await
            .map_err(self.index.err())?;
        // Not started (the index could not be written when opened): `start_history` decides.
        let Some(mut after) = mark.and_then(|m| m.parse::<u64>().ok()) else {
            return Ok(());
        };
        let feed = self.index.feed_id().await?;
        loop {
            let events = self.index.events(after, 2000).await?;
            let Some(last) = events.last() else {
                return Ok(());
            };
            let last = last.seq;
            // Changes found in the files (a `git pull`, an editor) are not devlog's to record:
            // pulled ones are in the history of the clone that made them, which git brings.
            let own: Vec<Event> = events
                .into_iter()
                .filter(|e| e.origin != Origin::External)
                .collect();
            blocking(|| self.history.append(&feed, &own))?;
            let mut conn = self
                .index
                .pool()
                .acquire()
                .await
                .map_err(self.index.err())?;
            set_meta(&mut conn, HISTORY_MARK, &last.to_string(), &self.index).await?;
            after = last;
        }
    }

    /// Re-reads every entry file into the index, whatever the index believed; returns the
    /// number of entries indexed. Unchanged files produce no events.
    pub async fn reindex(&self) -> Result<u64> {
        let _guard = self.write_lock_only().await?;
        sqlx::query("UPDATE entries SET file_size = -1")
            .execute(self.index.pool())
            .await
            .map_err(self.index.err())?;
        sqlx::query("DELETE FROM broken_files")
            .execute(self.index.pool())
            .await
            .map_err(self.index.err())?;
        self.set_freshness(None);
        self.reconcile(&self.index, true).await?;
        self.index.count().await
    }

    /// Re-indexes changed files into `index`. For the index on disk (`disk`; the caller
    /// holds the write lock) changes become `external` events, freshness is recorded and
    /// duplicate handles are repaired; an in-memory fallback index only mirrors the files.
    async fn reconcile(&self, index: &SqlIndex, disk: bool) -> Result<()> {
        self.reconcile_restoring(index, disk, &HashSet::new()).await
    }

    /// [`reconcile`](Self::reconcile), where entries in `restored` just had their history read
    /// back into a new feed: indexing their files is not a change.
    async fn reconcile_restoring(
        &self,
        index: &SqlIndex,
        disk: bool,
        restored: &HashSet<EntryId>,
    ) -> Result<()> {
        // Before the scan: a file created after it changes the folder's mtime again.
        let dir_mtime = self.dir_mtime()?;
        let stamped = self.stamp_files()?;
        let diff = self.diff(index, &stamped).await?;
        drop(stamped);
        let whole = Whole {
            dir_mtime,
            fingerprint: diff.fingerprint,
            max_name_handle: diff.max_name_handle,
        };
        self.apply(index, disk, restored, &diff.seen, &diff.known, Some(whole))
            .await
    }

    /// Makes the index agree with `seen` about the files in `seen` and `known` (what the
    /// index holds about them; a file in `known` but not in `seen` is gone). With `whole`
    /// (what a full scan found), they are the differences from that scan and the stored
    /// fingerprint becomes the scan's; otherwise both cover only the files a watcher named,
    /// and the stored fingerprint is adjusted for them instead of recomputed.
    async fn apply(
        &self,
        index: &SqlIndex,
        disk: bool,
        restored: &HashSet<EntryId>,
        seen: &HashMap<String, Seen>,
        known: &HashMap<String, Known>,
        whole: Option<Whole>,
    ) -> Result<()> {
        let now = self.clock.now();
        let external = WriteMeta::new(Origin::External);
        let mut tx = index.begin_write().await?;
        // New or changed files, in name order so handle conflicts resolve the same way
        // everywhere.
        let mut changed: Vec<(&String, &Seen)> = seen
            .iter()
            .filter(|(n, s)| {
                known
                    .get(*n)
                    .is_none_or(|k| k.size != s.size || k.mtime != s.mtime)
            })
            .collect();
        changed.sort_by(|a, b| a.0.cmp(b.0));
        let changed_any = !changed.is_empty() || known.keys().any(|n| !seen.contains_key(n));
        // The files are read off the async threads a batch at a time: one hand-off per batch
        // rather than per file, and never more than a batch of documents in memory.
        let mut batch = std::collections::VecDeque::new();
        for (i, &(name, s)) in changed.iter().enumerate() {
            if batch.is_empty() {
                let end = (i + READ_BATCH).min(changed.len());
                batch = blocking(|| {
                    changed[i..end]
                        .iter()
                        .map(|(n, _)| self.read_file(n))
                        .collect()
                });
            }
            let decoded = batch
                .pop_front()
                .expect("a batch is read whenever the previous one is used up");
            let stamp = FileStamp {
                file: name.clone(),
                size: s.size,
                mtime: s.mtime,
            };
            match decoded {
                Ok(entry) => {
                    sqlx::query("DELETE FROM broken_files WHERE file = ?")
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(index.err())?;
                    let old = index.doc(&mut tx, entry.id).await?;
                    // Another file already indexed with this id: a copied file. Keep the first.
                    let other_file: Option<String> = sqlx::query_scalar(
                        "SELECT file FROM entries WHERE id = ? AND file IS NOT NULL AND file <> ?",
                    )
                    .bind(entry.id.to_string())
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(index.err())?;
                    if let Some(other) = other_file
                        && self.entries.join(&other).exists()
                    {
                        mark_broken(
                            index,
                            &mut tx,
                            &stamp,
                            &format!("has the same id as {other}; delete one of the two files"),
                        )
                        .await?;
                        continue;
                    }
                    // The file name owns the row: drop a stale row that pointed here.
                    let stale: Option<String> =
                        sqlx::query_scalar("SELECT id FROM entries WHERE file = ? AND id <> ?")
                            .bind(name)
                            .bind(entry.id.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(index.err())?;
                    if let Some(stale) = stale.and_then(|s| s.parse::<EntryId>().ok()) {
                        index.remove(&mut tx, stale).await?;
                    }
                    index.upsert(&mut tx, &entry, Some(&stamp)).await?;
                    if disk && !(old.is_none() && restored.contains(&entry.id)) {
                        let events = Event::for_change(old.as_ref(), Some(&entry), now, &external);
                        index.insert_events(&mut tx, &events).await?;
                    }
                }
                Err(err) => {
                    if disk {
                        tracing::warn!(file = %name, "{err}");
                    }
                    if let Some(k) = known.get(name).and_then(|k| k.id) {
                        index.remove(&mut tx, k).await?;
                    }
                    mark_broken(index, &mut tx, &stamp, &err.to_string()).await?;
                }
            }
        }
        // Files that disappeared. A renamed file (same id under a new name) was re-pointed
        // above, so only ids whose row still names the vanished file are deleted.
        for (name, k) in known {
            if seen.contains_key(name) {
                continue;
            }
            if k.broken {
                sqlx::query("DELETE FROM broken_files WHERE file = ?")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(index.err())?;
                continue;
            }
            let Some(id) = k.id else { continue };
            let still: Option<String> =
                sqlx::query_scalar("SELECT id FROM entries WHERE id = ? AND file = ?")
                    .bind(id.to_string())
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(index.err())?;
            if still.is_none() {
                continue;
            }
            let old = index.doc(&mut tx, id).await?;
            index.remove(&mut tx, id).await?;
            if disk {
                let events = Event::for_change(old.as_ref(), None, now, &external);
                index.insert_events(&mut tx, &events).await?;
            }
        }
        if let Some(w) = &whole {
            Self::set_fingerprint(&mut tx, Some(w.fingerprint), index.err()).await?;
        } else {
            let gone = known.iter().map(|(n, k)| file_hash(n, k.size, k.mtime));
            let now_there = seen.iter().map(|(n, s)| file_hash(n, s.size, s.mtime));
            let delta = gone.chain(now_there).fold(0, |acc, h| acc ^ h);
            let stored: Option<String> =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = 'fingerprint'")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(index.err())?;
            // Unknown stays unknown: the next scan sets it.
            if let Some(fp) = stored.and_then(|v| v.parse::<u64>().ok()) {
                Self::set_fingerprint(&mut tx, Some(fp ^ delta), index.err()).await?;
            }
        }
        tx.commit().await.map_err(index.err())?;
        if !disk {
            return Ok(());
        }
        self.flush_history().await;
        if let Some(w) = &whole {
            self.set_freshness(Some(Freshness {
                dir_mtime: w.dir_mtime,
                at: Instant::now(),
                max_name_handle: Some(w.max_name_handle),
            }));
        } else if let Some(mut f) = self.freshness() {
            f.max_name_handle = f
                .max_name_handle
                .map(|m| m.max(max_name_handle(seen.keys())));
            self.set_freshness(Some(f));
        }
        if changed_any || whole.is_some() {
            self.repair_handles().await?;
        }
        Ok(())
    }

    /// Two clones that created entries offline can both have used handle #N. After their
    /// folders are merged, the entry created first keeps #N and the others get new handles
    /// (renamed files). The rule depends only on the merged files, so every clone that does
    /// the repair makes the same change and the next merge is clean.
    async fn repair_handles(&self) -> Result<()> {
        let dups: Vec<i64> = sqlx::query_scalar(
            "SELECT handle FROM entries GROUP BY handle HAVING COUNT(*) > 1 ORDER BY handle",
        )
        .fetch_all(self.index.pool())
        .await
        .map_err(self.index.err())?;
        if dups.is_empty() {
            return Ok(());
        }
        let meta = WriteMeta::new(Origin::External);
        for handle in dups {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM entries WHERE handle = ? ORDER BY created_at, id",
            )
            .bind(handle)
            .fetch_all(self.index.pool())
            .await
            .map_err(self.index.err())?;
            for id in ids.iter().skip(1) {
                let id: EntryId = id.parse().map_err(|_| StoreError::Corrupt {
                    path: "index".into(),
                    message: format!("bad id {id}"),
                    hint: "delete .devlog/.state to rebuild the index".into(),
                })?;
                let mut tx = self.index.begin_write().await?;
                let next = self
                    .index
                    .next_handle(&mut tx, self.max_file_handle()?)
                    .await?;
                let (old, file) = self.load(&self.index, &mut tx, id).await?;
                let mut new = old.clone();
                new.handle = next;
                tracing::info!(
                    "handle #{handle} was used by two entries after a merge; {:?} is now #{next}",
                    new.title
                );
                self.write_entry(tx, Some(&old), &new, Some(&file), Some(&meta))
                    .await?;
            }
        }
        Ok(())
    }

    /// Largest handle among file names, including files that do not parse (their number
    /// must not be handed out again).
    fn max_file_handle(&self) -> Result<u64> {
        if let Some(m) = self.freshness().and_then(|f| f.max_name_handle) {
            return Ok(m);
        }
        let mut max = 0;
        blocking(|| {
            crate::scan::for_each_name(&self.entries, |n| {
                max = max.max(name_handle(n).unwrap_or(0));
            })
        })
        .map_err(|e| StoreError::io(self.entries.display().to_string(), e))?;
        if let Some(mut f) = self.freshness() {
            f.max_name_handle = Some(max);
            self.set_freshness(Some(f));
        }
        Ok(max)
    }

    /// Reads an entry's file (the truth) and returns it with the file name.
    async fn load(
        &self,
        index: &SqlIndex,
        conn: &mut sqlx::SqliteConnection,
        id: EntryId,
    ) -> Result<(Entry, String)> {
        let file: Option<Option<String>> =
            sqlx::query_scalar("SELECT file FROM entries WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(index.err())?;
        let Some(Some(file)) = file else {
            return Err(StoreError::not_found(id.to_string()));
        };
        let path = self.entries.join(&file);
        let entry = blocking(|| {
            let bytes =
                std::fs::read(&path).map_err(|e| StoreError::io(path.display().to_string(), e))?;
            decode_entry(&bytes, &path.display().to_string())
        })?;
        if entry.id != id {
            return Err(StoreError::Conflict {
                id,
                message: format!(
                    "{} now holds another entry; run the command again",
                    path.display()
                ),
            });
        }
        Ok((entry, file))
    }

    /// Writes `new` to its file (renaming it if the handle or key changed the name) with its
    /// row and events, and commits `tx`. The index work is done before any entry file is
    /// touched, and a failed commit puts the files back: a write reported as failed leaves
    /// nothing that a later refresh would take for a change (issue 13: a create that failed
    /// on a full disk came back as an `external` event).
    async fn write_entry(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
        old: Option<&Entry>,
        new: &Entry,
        old_file: Option<&str>,
        meta: Option<&WriteMeta>,
    ) -> Result<()> {
        let name = match (old_file, old) {
            // Keep the file name stable across title edits: git history follows it.
            (Some(f), Some(o)) if o.handle == new.handle => f.to_string(),
            _ => Self::file_name(new.handle, &new.key),
        };
        let path = self.entries.join(&name);
        if old_file != Some(name.as_str()) && path.exists() {
            return Err(StoreError::Conflict {
                id: new.id,
                message: format!("{} already exists", path.display()),
            });
        }
        let replaced = match old_file {
            Some(f) => self.indexed_stamp(&mut tx, f).await?,
            None => None,
        };
        // Written beside its place; removed again if anything below fails before the rename.
        let (staged, (size, mtime)) = blocking(|| {
            let staged = Staged::write(&path, &encode_entry(new))?;
            let stamp = staged.stamp()?;
            Ok::<_, StoreError>((staged, stamp))
        })?;
        let written = FileStamp {
            file: name.clone(),
            size,
            mtime,
        };
        self.adjust_fingerprint(&mut tx, replaced.as_ref(), Some(&written))
            .await?;
        self.index.upsert(&mut tx, new, Some(&written)).await?;
        let mut audit = Vec::new();
        if let Some(meta) = meta {
            let events = Event::for_change(old, Some(new), event_time(new, self.clock.now()), meta);
            self.index.insert_events(&mut tx, &events).await?;
            audit = Draft::of_write(&events, meta);
        }
        // Now the files: remember what to put back, move the new file in, drop the old name.
        let moving = self.own_write();
        let undo = blocking(|| -> Result<Undo> {
            let undo = Undo::capture(&self.entries, old_file, &name);
            staged.persist()?;
            if let Some(f) = old_file.filter(|f| *f != name) {
                let old_path = self.entries.join(f);
                if let Err(e) = std::fs::remove_file(&old_path) {
                    undo.run();
                    return Err(StoreError::write_io(old_path.display().to_string(), e));
                }
            }
            if let Err(e) = sync_dir(&self.entries) {
                undo.run();
                return Err(e);
            }
            // The audit record before the commit: a write that cannot be audited is undone.
            if let Err(e) = self.audit.append(audit) {
                undo.run();
                return Err(e);
            }
            Ok(undo)
        })?;
        if let Err(e) = tx.commit().await.map_err(self.index.err()) {
            blocking(|| undo.run());
            return Err(e);
        }
        self.note_own_write(new.handle)?;
        drop(moving);
        self.flush_history().await;
        Ok(())
    }

    /// Takes the write lock and makes sure the index reflects the files first.
    async fn write_lock(&self) -> Result<WriteGuard> {
        let guard = self.write_lock_only().await?;
        self.refresh_locked().await?;
        Ok(guard)
    }

    /// The write lock alone; refused at once when the index cannot be opened.
    async fn write_lock_only(&self) -> Result<WriteGuard> {
        // The lock first: on a read-only folder its error is the one that says so.
        let guard = self.lock.acquire().await?;
        if let Some(u) = &self.unusable {
            return Err(u.error());
        }
        Ok(guard)
    }

    /// Broken files whose name says they hold handle `n`.
    async fn broken_for_handle(
        &self,
        index: &SqlIndex,
        n: u64,
    ) -> Result<Option<(String, String)>> {
        let rows = sqlx::query("SELECT file, message FROM broken_files")
            .fetch_all(index.pool())
            .await
            .map_err(index.err())?;
        for r in rows {
            let file: String = r.try_get(0).map_err(index.err())?;
            let message: String = r.try_get(1).map_err(index.err())?;
            if name_handle(&file) == Some(n) {
                return Ok(Some((file, message)));
            }
        }
        Ok(None)
    }
}

async fn mark_broken(
    index: &SqlIndex,
    tx: &mut sqlx::SqliteConnection,
    stamp: &FileStamp,
    message: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO broken_files (file, file_size, file_mtime, message) VALUES (?,?,?,?)
         ON CONFLICT(file) DO UPDATE SET file_size=excluded.file_size,
           file_mtime=excluded.file_mtime, message=excluded.message",
    )
    .bind(&stamp.file)
    .bind(stamp.size)
    .bind(stamp.mtime)
    .bind(message)
    .execute(&mut *tx)
    .await
    .map_err(index.err())?;
    Ok(())
}

/// Clears [`JsonStore::own_write`] when dropped.
struct OwnWrite<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for OwnWrite<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// How to put the entry files back as they were before a write whose index transaction
/// failed: the new file removed, the old one (if any) rewritten with its old bytes. The
/// rewrite gives it a new mtime, so the next refresh re-reads it, finds it equal to the
/// indexed document, and records nothing.
struct Undo {
    remove: Option<PathBuf>,
    restore: Option<(PathBuf, Vec<u8>)>,
}

impl Undo {
    fn capture(entries: &Path, old_file: Option<&str>, new_file: &str) -> Self {
        let restore = old_file.and_then(|f| {
            let p = entries.join(f);
            std::fs::read(&p).ok().map(|bytes| (p, bytes))
        });
        let remove = (old_file != Some(new_file)).then(|| entries.join(new_file));
        Self { remove, restore }
    }

    fn run(self) {
        if let Some(p) = &self.remove
            && let Err(e) = std::fs::remove_file(p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(file = %p.display(), "cannot undo a failed write: {e}");
        }
        if let Some((p, bytes)) = &self.restore
            && let Err(e) = write_atomic(p, bytes)
        {
            tracing::error!(file = %p.display(), "cannot restore after a failed write: {e}");
        }
        if let Some(dir) = self.remove.as_deref().and_then(Path::parent) {
            let _ = sync_dir(dir);
        }
    }
}

/// When a write happened: the entry's own `updatedAt`, unless the clock is later.
fn event_time(e: &Entry, now: Timestamp) -> Timestamp {
    e.updated_at.max(now)
}

#[async_trait]
impl AuditLog for JsonStore {
    async fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<Stored>> {
        blocking(|| self.audit.page(after, limit))
    }

    async fn audit_count(&self) -> Result<u64> {
        blocking(|| self.audit.count())
    }

    async fn audit_append(
        &self,
        drafts: Vec<devlog_core::audit::Draft>,
    ) -> Result<Vec<devlog_core::audit::AuditRecord>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.write_lock_only().await?;
        blocking(|| self.audit.append_actions(drafts))
    }

    async fn audit_head(&self) -> Result<devlog_core::audit::Head> {
        blocking(|| self.audit.head())
    }

    async fn audit_checkpoint(
        &self,
        key: &devlog_core::audit::AuditKey,
        at: Timestamp,
        actor: Option<String>,
        origin: devlog_core::event::Origin,
    ) -> Result<Option<devlog_core::audit::AuditRecord>> {
        let _guard = self.write_lock_only().await?;
        blocking(|| self.audit.checkpoint(key, at, actor, origin))
    }

    fn audit_location(&self) -> String {
        self.audit.path().display().to_string()
    }
}

#[async_trait]
impl devlog_core::auth::TokenStore for JsonStore {
    async fn insert_token(&self, token: &devlog_core::auth::Token) -> Result<()> {
        let _guard = self.write_lock_only().await?;
        let now = self.clock.now();
        blocking(|| self.tokens.insert(token, now))
    }

    async fn list_tokens(&self) -> Result<Vec<devlog_core::auth::Token>> {
        blocking(|| self.tokens.read())
    }

    async fn get_token(
        &self,
        id: &devlog_core::auth::TokenId,
    ) -> Result<Option<devlog_core::auth::Token>> {
        blocking(|| Ok(self.tokens.read()?.into_iter().find(|t| &t.id == id)))
    }

    async fn revoke_token(&self, id: &devlog_core::auth::TokenId, at: Timestamp) -> Result<bool> {
        let _guard = self.write_lock_only().await?;
        blocking(|| self.tokens.update(id, |t| crate::tokens::revoke_in(t, at)))
    }

    async fn touch_token(&self, id: &devlog_core::auth::TokenId, at: Timestamp) -> Result<()> {
        let _guard = self.write_lock_only().await?;
        blocking(|| self.tokens.update(id, |t| crate::tokens::touch_in(t, at))).map(|_| ())
    }

    async fn has_tokens(&self) -> Result<bool> {
        blocking(|| self.tokens.has_tokens())
    }

    fn token_location(&self) -> String {
        self.tokens.path().display().to_string()
    }
}

#[async_trait]
impl Store for JsonStore {
    fn audit_log(&self) -> Option<&dyn AuditLog> {
        Some(self)
    }

    fn tokens(&self) -> Option<&dyn devlog_core::auth::TokenStore> {
        Some(self)
    }

    fn describe(&self) -> StoreInfo {
        StoreInfo {
            backend: "json",
            location: self.root.display().to_string(),
        }
    }

    async fn milestones(&self) -> Result<Vec<devlog_core::planning::Milestone>> {
        let root = self.root.clone();
        blocking(move || crate::milestones::read_all(&root))
    }

    async fn put_milestone(
        &self,
        m: &devlog_core::planning::Milestone,
        create: bool,
    ) -> Result<()> {
        let _guard = self.write_lock_only().await?;
        let (root, m) = (self.root.clone(), m.clone());
        blocking(move || crate::milestones::write(&root, &m, create))
    }

    async fn create(&self, mut entry: Entry, dedupe: bool, meta: &WriteMeta) -> Result<Created> {
        let _guard = self.write_lock().await?;
        let mut tx = self.index.begin_write().await?;
        if dedupe
            && let Some(existing) = self
                .index
                .open_duplicate(&mut tx, &entry.title, entry.kind)
                .await?
        {
            return Ok(Created::Existing(existing));
        }
        entry.handle = self
            .index
            .next_handle(&mut tx, self.max_file_handle()?)
            .await?;
        entry.key = self.index.unique_key(&mut tx, &entry.key, entry.id).await?;
        self.write_entry(tx, None, &entry, None, Some(meta)).await?;
        Ok(Created::New(entry))
    }

    async fn get(&self, id: EntryId) -> Result<Entry> {
        let index = self.current_index().await;
        let mut conn = index.pool().acquire().await.map_err(index.err())?;
        match self.load(&index, &mut conn, id).await {
            Err(StoreError::Io { .. }) | Err(StoreError::Conflict { .. }) => {
                // The file moved or vanished since the index was refreshed.
                drop(conn);
                let index = self.read_index().await?;
                let mut conn = index.pool().acquire().await.map_err(index.err())?;
                self.load(&index, &mut conn, id).await.map(|(e, _)| e)
            }
            other => other.map(|(e, _)| e),
        }
    }

    async fn lookup(&self, reference: &EntryRef) -> Result<Vec<EntrySummary>> {
        let index = self.read_index().await?;
        let found = index.lookup(reference).await?;
        if found.is_empty()
            && let EntryRef::Number(n) = reference
            && let Some((file, message)) = self.broken_for_handle(&index, *n).await?
        {
            return Err(StoreError::Corrupt {
                path: self.origin_of(&file),
                message: message.clone(),
                hint: "the entry cannot be read until the file is fixed".into(),
            });
        }
        Ok(found)
    }

    async fn update(&self, id: EntryId, meta: &WriteMeta, f: &mut Mutation<'_>) -> Result<Entry> {
        let _guard = self.write_lock().await?;
        let mut tx = self.index.begin_write().await?;
        let (old, file) = self.load(&self.index, &mut tx, id).await?;
        let mut new = old.clone();
        f(&mut new)?;
        if new == old {
            return Ok(old);
        }
        new.id = old.id;
        new.handle = old.handle;
        self.write_entry(tx, Some(&old), &new, Some(&file), Some(meta))
            .await?;
        Ok(new)
    }

    async fn delete(&self, id: EntryId, meta: &WriteMeta) -> Result<()> {
        let _guard = self.write_lock().await?;
        let mut tx = self.index.begin_write().await?;
        let (old, file) = self.load(&self.index, &mut tx, id).await?;
        let path = self.entries.join(&file);
        let removed = self.indexed_stamp(&mut tx, &file).await?;
        self.adjust_fingerprint(&mut tx, removed.as_ref(), None)
            .await?;
        self.index.remove(&mut tx, id).await?;
        let events = Event::for_change(Some(&old), None, self.clock.now(), meta);
        self.index.insert_events(&mut tx, &events).await?;
        let audit = Draft::of_write(&events, meta);
        // The file goes last, and comes back if the index cannot commit.
        let moving = self.own_write();
        let undo = blocking(|| -> Result<Undo> {
            let undo = Undo {
                remove: None,
                restore: std::fs::read(&path).ok().map(|b| (path.clone(), b)),
            };
            std::fs::remove_file(&path)
                .map_err(|e| StoreError::write_io(path.display().to_string(), e))?;
            if let Err(e) = sync_dir(&self.entries) {
                undo.run();
                return Err(e);
            }
            if let Err(e) = self.audit.append(audit) {
                undo.run();
                return Err(e);
            }
            Ok(undo)
        })?;
        if let Err(e) = tx.commit().await.map_err(self.index.err()) {
            blocking(|| undo.run());
            return Err(e);
        }
        self.note_own_write(0)?;
        drop(moving);
        self.flush_history().await;
        Ok(())
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<EntrySummary>> {
        self.read_index().await?.list(query).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>> {
        self.read_index().await?.search(query).await
    }

    async fn stats(&self, filter: &Filter) -> Result<Stats> {
        self.read_index().await?.stats(filter).await
    }

    async fn tag_counts(&self, filter: &Filter) -> Result<BTreeMap<String, u64>> {
        self.read_index().await?.tag_counts(filter).await
    }

    async fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        // The change feed lives only in the index on disk: when it cannot be brought up to
        // date, answer what it holds (changes made since are reported once it can).
        if let Err(e) = self.refresh().await {
            tracing::debug!("change feed read without a refresh: {e}");
        }
        self.index.events(after, limit).await
    }

    async fn events_before(&self, before: Option<u64>, limit: usize) -> Result<Vec<Event>> {
        // Like `events`: refreshed first, and answered from what the index holds if it cannot be.
        if let Err(e) = self.refresh().await {
            tracing::debug!("change feed read without a refresh: {e}");
        }
        self.index.events_before(before, limit).await
    }

    async fn entry_events(
        &self,
        id: EntryId,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        // Like `events`: refreshed first (a change made in the files is in the history), and
        // answered from what the index holds if it cannot be.
        if let Err(e) = self.refresh().await {
            tracing::debug!("entry history read without a refresh: {e}");
        }
        self.index.entry_events(id, after, before, limit).await
    }

    async fn count_events(&self, after: u64, before: Option<u64>) -> Result<u64> {
        if let Err(e) = self.refresh().await {
            tracing::debug!("change feed counted without a refresh: {e}");
        }
        self.index.count_events(after, before).await
    }

    async fn feed_id(&self) -> Result<Option<String>> {
        self.index.feed_id().await.map(Some)
    }

    async fn put_raw(&self, mut entry: Entry, meta: &WriteMeta) -> Result<PutOutcome> {
        // A file with such a key would be refused when read back (see `validate_key`).
        devlog_core::id::validate_key(&entry.key).map_err(|m| {
            StoreError::invalid(
                "key",
                format!("entry #{} ({}): key {m}", entry.handle, entry.id),
            )
        })?;
        let _guard = self.write_lock().await?;
        let mut tx = self.index.begin_write().await?;
        let existing = match self.load(&self.index, &mut tx, entry.id).await {
            Ok(found) => Some(found),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if existing.as_ref().map(|(e, _)| e) == Some(&entry) {
            return Ok(PutOutcome::Unchanged);
        }
        let floor = self.max_file_handle()?;
        if entry.handle == 0
            || self
                .index
                .handle_taken(&mut tx, entry.handle, entry.id)
                .await?
        {
            entry.handle = self.index.next_handle(&mut tx, floor).await?;
        } else if existing.is_none()
            && self
                .broken_for_handle(&self.index, entry.handle)
                .await?
                .is_some()
        {
            // A broken file carries this number.
            entry.handle = self.index.next_handle(&mut tx, floor).await?;
        }
        entry.key = self.index.unique_key(&mut tx, &entry.key, entry.id).await?;
        let (old, file) = match &existing {
            Some((e, f)) => (Some(e), Some(f.as_str())),
            None => (None, None),
        };
        // Migration copies the source's change feed instead of inventing events.
        let events = (meta.origin != Origin::Migrate).then_some(meta);
        self.write_entry(tx, old, &entry, file, events).await?;
        Ok(if existing.is_some() {
            PutOutcome::Replaced
        } else {
            PutOutcome::Inserted
        })
    }

    async fn append_events(&self, events: &[Event]) -> Result<()> {
        let _guard = self.write_lock_only().await?;
        let mut tx = self.index.begin_write().await?;
        self.index.insert_events(&mut tx, events).await?;
        blocking(|| {
            self.audit
                .append(Draft::of_events(events, &Source::default()))
        })?;
        tx.commit().await.map_err(self.index.err())?;
        self.flush_history().await;
        Ok(())
    }

    async fn count(&self) -> Result<u64> {
        self.read_index().await?.count().await
    }

    async fn all(&self) -> Result<Vec<Entry>> {
        self.read_index().await?.all().await
    }

    async fn warnings(&self) -> Result<Vec<String>> {
        let index = self.read_index().await?;
        let rows = sqlx::query("SELECT file, message FROM broken_files ORDER BY file")
            .fetch_all(index.pool())
            .await
            .map_err(index.err())?;
        let mut out = Vec::new();
        if let Some(reason) = self.degraded_reason() {
            out.push(format!(
                "the index {} could not be updated, so this answer was read from the entry \
                 files and changes made outside devlog are not in the change feed yet: {reason}",
                self.index_path().display()
            ));
        }
        for r in rows {
            let file: String = r.try_get(0).map_err(index.err())?;
            let message: String = r.try_get(1).map_err(index.err())?;
            let shown = self.origin_of(&file);
            // Messages from decoding already start with the path.
            out.push(if message.starts_with(&shown) {
                message
            } else {
                format!("{shown}: {message}")
            });
        }
        Ok(out)
    }
}

/// The handle a file name starts with (`042-fix-login.json` → 42).
fn name_handle(name: &str) -> Option<u64> {
    name.split('-').next().and_then(|p| p.parse().ok())
}

fn max_name_handle<'a>(names: impl Iterator<Item = &'a String>) -> u64 {
    names.filter_map(|n| name_handle(n)).max().unwrap_or(0)
}

/// A well-mixed 64-bit hash of one file's name, size and mtime (FNV-1a, then a finalizer so
/// that XOR-combining many of them stays collision-resistant). Stable across versions.
fn file_hash(name: &str, size: i64, mtime: i64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name
        .bytes()
        .chain(size.to_le_bytes())
        .chain(mtime.to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Parses rows aggregated as `file US size US mtime US id` separated by RS (the id is empty
/// for broken files).
fn parse_known(text: Option<&str>, broken: bool) -> Vec<(String, Known)> {
    let mut out = Vec::new();
    for rec in text.unwrap_or("").split('\u{1e}').filter(|r| !r.is_empty()) {
        let mut f = rec.split('\u{1f}');
        let (Some(file), Some(size), Some(mtime), id) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        out.push((
            file.to_string(),
            Known {
                id: id.and_then(|s| s.parse().ok()),
                size: size.parse().unwrap_or(-1),
                mtime: mtime.parse().unwrap_or(-1),
                broken,
            },
        ));
    }
    out
}

async fn set_meta(
    conn: &mut sqlx::SqliteConnection,
    key: &str,
    value: &str,
    index: &SqlIndex,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut *conn)
    .await
    .map_err(index.err())?;
    Ok(())
}
