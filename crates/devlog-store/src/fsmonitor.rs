//! The JSON backend's file-system monitor, like git's fsmonitor daemon: a long-running devlog
//! (`serve`, `mcp`, `worker`, `sync --watch`) watches `.devlog/entries/`, applies the changes
//! the kernel reports to the index as they happen, and vouches for the index to other devlog
//! processes, which then answer from it without scanning the folder.
//!
//! Everything lives in `.devlog/.state/fsmonitor/` (git-ignored with `.state/`, never read as
//! entries):
//!
//! - `watcher.lock`: the watcher holds an exclusive `flock` on it while it watches. The kernel
//!   drops the lock when the process ends, however it ends, so a held lock means a live
//!   watcher and a leftover file means nothing. A second watcher finds the lock held and
//!   waits, checking every [`STANDBY_RETRY`], to take over.
//! - `cookie-<pid>-<n>-<ns>`: a process that finds the lock held creates such a file and waits
//!   up to [`COOKIE_TIMEOUT`]. The watcher watches this folder through the same notification
//!   queue as the entries folder, so the cookie's event comes after the events of every change
//!   made before it: the watcher applies those to the index, then removes the cookie, and the
//!   asking process trusts the index. A watcher that is stuck, lost events, or runs on another
//!   machine of a network file system (whose events never reach it) does not answer in time,
//!   and the asking process scans the folder as it does without a watcher.
//!
//! Architecture invariant: a cookie is answered only after the watcher's own full scan (made
//! after its watches were in place) and every event before the cookie were applied without
//! error; after dropped events (queue overflow) or a failed update it rescans first.

use std::collections::BTreeSet;
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot};

use crate::json::JsonStore;
use crate::scan::is_entry_name;

/// The folder under `.devlog/.state/`.
pub const DIR: &str = "fsmonitor";
const LOCK: &str = "watcher.lock";
const COOKIE_PREFIX: &str = "cookie-";

/// How long a process waits for the watcher to answer its cookie before it scans.
pub const COOKIE_TIMEOUT: Duration = Duration::from_millis(200);
/// How often a standby watcher tries to take the lock.
pub const STANDBY_RETRY: Duration = Duration::from_secs(1);
/// Cookies older than this were left by a killed process; the watcher removes them.
const STALE_COOKIE: Duration = Duration::from_secs(60);
/// More changed files than this in one batch are applied by a full scan.
const MAX_NAMED: usize = 2000;

/// What a watcher said about the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vouch {
    /// No watcher holds the lock.
    NoWatcher,
    /// The watcher caught the index up with every change made before the question.
    Answered,
    /// A watcher holds the lock but did not answer in time.
    NoAnswer,
}

/// Asks the watcher of the `.devlog/.state` folder `state` (if one runs) to vouch for the
/// index, waiting up to `timeout` (stores use [`COOKIE_TIMEOUT`]). Never fails: anything
/// unexpected is logged at debug level and means "scan".
pub async fn ask(state: &Path, timeout: Duration) -> Vouch {
    let dir = state.join(DIR);
    if !lock_is_held(&dir.join(LOCK)) {
        return Vouch::NoWatcher;
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let cookie = dir.join(format!(
        "{COOKIE_PREFIX}{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = File::create_new(&cookie) {
        tracing::debug!(cookie = %cookie.display(), "cannot ask the fsmonitor watcher: {e}");
        return Vouch::NoAnswer;
    }
    let start = Instant::now();
    loop {
        if fs::symlink_metadata(&cookie).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            return Vouch::Answered;
        }
        if start.elapsed() >= timeout {
            return match fs::remove_file(&cookie) {
                // Answered just now.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vouch::Answered,
                _ => {
                    tracing::debug!(
                        "the fsmonitor watcher did not answer within {} ms; scanning the entries folder",
                        timeout.as_millis()
                    );
                    Vouch::NoAnswer
                }
            };
        }
        tokio::time::sleep(Duration::from_micros(250)).await;
    }
}

/// The process that watches the entries folder of the `.devlog/.state` folder `state`, if
/// one does: its pid as it wrote it in the lock file (`None` inside when the file predates
/// that or is being written).
pub fn watcher(state: &Path) -> Option<Option<u32>> {
    let path = state.join(DIR).join(LOCK);
    lock_is_held(&path).then(|| {
        fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
}

/// Whether some process holds the watcher lock at `path`.
fn lock_is_held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(e)) => {
            tracing::debug!(lock = %path.display(), "cannot test the fsmonitor lock: {e}");
            false
        }
    }
}

/// How a watcher's start went, for a process that waits for it instead of scanning itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Still taking the lock or scanning.
    Pending,
    /// The watcher's first full scan brought the index up to date.
    Scanned,
    /// Not watching (another process watches, or the watch or its scan failed).
    NotWatching,
}

/// This process's watcher, as its store sees it. Dropping it stops the watcher (and frees the
/// lock).
#[derive(Debug)]
pub(crate) struct Monitor {
    healthy: Arc<AtomicBool>,
    /// Cookies this watcher has answered.
    answered: Arc<AtomicU64>,
    start: tokio::sync::watch::Receiver<Start>,
    _stop: oneshot::Sender<()>,
}

impl Monitor {
    /// True while this process watches and the index is caught up with every event read.
    pub(crate) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// How many cookies this watcher has answered (other processes' reads it vouched for).
    pub(crate) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// A handle to wait for the watcher's start with ([`started`]), outside the store's lock.
    pub(crate) fn start_signal(&self) -> StartSignal {
        StartSignal(self.start.clone())
    }
}

/// See [`Monitor::start_signal`].
pub(crate) struct StartSignal(tokio::sync::watch::Receiver<Start>);

impl StartSignal {
    /// Waits until the watcher has either scanned the folder after its watches were in place
    /// (`true`: the index is current and kept so) or is not watching (`false`: another
    /// process watches, or watching failed).
    pub(crate) async fn started(mut self) -> bool {
        self.0
            .wait_for(|s| *s != Start::Pending)
            .await
            .is_ok_and(|s| *s == Start::Scanned)
    }
}

/// Prepares a watcher for `store`: the handle to keep in the store, and the task to spawn on
/// a tokio runtime. `None` when the folder cannot be watched reliably (a network file system:
/// changes made on other machines send no events here).
pub(crate) fn prepare(
    store: Weak<JsonStore>,
    entries: PathBuf,
    state: PathBuf,
) -> Option<(Monitor, impl Future<Output = ()> + Send + 'static)> {
    if !cfg!(target_os = "linux") {
        // Only inotify is known here to report both folders through one ordered queue, which
        // the cookie handshake relies on.
        tracing::debug!("not watching the entries folder: the fsmonitor needs Linux (inotify)");
        return None;
    }
    if let Some(fs) = network_fs(&entries) {
        tracing::info!(
            folder = %entries.display(),
            "not watching the entries folder: it is on {fs}, whose changes made elsewhere send no \
             events; every read checks the files"
        );
        return None;
    }
    let healthy = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (start_tx, start) = tokio::sync::watch::channel(Start::Pending);
    let task = run(
        store,
        entries,
        state.join(DIR),
        Shared {
            healthy: healthy.clone(),
            answered: answered.clone(),
        },
        start_tx,
        stop_rx,
    );
    Some((
        Monitor {
            healthy,
            answered,
            start,
            _stop: stop_tx,
        },
        task,
    ))
}

/// The watcher: takes the lock (or waits for it), watches, and keeps the index up to date
/// until the store is dropped. Starts over (rescanning) if a watched folder itself is removed
/// or moved.
async fn run(
    store: Weak<JsonStore>,
    entries: PathBuf,
    dir: PathBuf,
    shared: Shared,
    start: tokio::sync::watch::Sender<Start>,
    mut stop: oneshot::Receiver<()>,
) {
    let healthy = &shared.healthy;
    // Whoever waits for the start learns the outcome however this ends.
    let _not_watching = NotWatchingOnDrop(&start);
    loop {
        let Some(_lock) = take_lock(&dir, &start, &mut stop).await else {
            return;
        };
        match watch(&store, &entries, &dir, &shared, &start, &mut stop).await {
            Ok(Ended::Stopped) => return,
            Ok(Ended::FolderMoved) => {
                tracing::info!(folder = %entries.display(), "a watched folder was removed or moved; watching again");
            }
            Err(e) => {
                tracing::warn!(
                    folder = %entries.display(),
                    "cannot watch the entries folder ({e}); reads check the files instead"
                );
                healthy.store(false, Ordering::Release);
                return;
            }
        }
        healthy.store(false, Ordering::Release);
        tokio::select! {
            () = tokio::time::sleep(STANDBY_RETRY) => {}
            _ = &mut stop => return,
        }
    }
}

/// What the watcher task shares with its [`Monitor`].
struct Shared {
    healthy: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
}

/// Marks the start as failed when the watcher ends before its first scan.
struct NotWatchingOnDrop<'a>(&'a tokio::sync::watch::Sender<Start>);

impl Drop for NotWatchingOnDrop<'_> {
    fn drop(&mut self) {
        not_watching(self.0);
    }
}

/// Tells a process waiting for the start that this watcher does not vouch for the index now.
fn not_watching(start: &tokio::sync::watch::Sender<Start>) {
    start.send_if_modified(|s| {
        let pending = *s == Start::Pending;
        if pending {
            *s = Start::NotWatching;
        }
        pending
    });
}

/// The exclusive lock, once no other watcher holds it; `None` when stopped first or the
/// lock cannot be had at all. While another watcher holds it, this one stands by (and says
/// so to `start`).
async fn take_lock(
    dir: &Path,
    start: &tokio::sync::watch::Sender<Start>,
    stop: &mut oneshot::Receiver<()>,
) -> Option<File> {
    let path = dir.join(LOCK);
    let mut said = false;
    // `.devlog`, which this never creates: a watcher must not bring back a deleted folder.
    let devlog = dir.parent().and_then(Path::parent);
    loop {
        if devlog.is_some_and(|d| !d.is_dir()) {
            tracing::info!("not watching the entries folder: the .devlog folder is gone");
            return None;
        }
        let file = fs::create_dir_all(dir).and_then(|()| {
            File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        });
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(lock = %path.display(), "not watching the entries folder: {e}");
                return None;
            }
        };
        match file.try_lock() {
            Ok(()) => {
                // Who watches, for `devlog watch status` (the lock, not the text, is the truth).
                let mut file = file;
                let written = file.set_len(0).and_then(|()| {
                    std::io::Write::write_all(
                        &mut file,
                        format!("{}\n", std::process::id()).as_bytes(),
                    )
                });
                if let Err(e) = written {
                    tracing::debug!(lock = %path.display(), "cannot write the watcher's pid: {e}");
                }
                return Some(file);
            }
            Err(TryLockError::WouldBlock) => {
                not_watching(start);
                if !said {
                    tracing::debug!("another devlog watches the entries folder; standing by");
                    said = true;
                }
            }
            Err(TryLockError::Error(e)) => {
                tracing::debug!(lock = %path.display(), "not watching the entries folder: {e}");
                return None;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(STANDBY_RETRY) => {}
            _ = &mut *stop => return None,
        }
    }
}

enum Ended {
    Stopped,
    FolderMoved,
}

/// One watch: folders watched, a full scan, then every batch of events applied.
async fn watch(
    store: &Weak<JsonStore>,
    entries: &Path,
    dir: &Path,
    shared: &Shared,
    start: &tokio::sync::watch::Sender<Start>,
    stop: &mut oneshot::Receiver<()>,
) -> notify::Result<Ended> {
    let healthy = &*shared.healthy;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |ev| {
        // The receiver is gone only when the watch ends.
        let _ = tx.send(ev);
    })?;
    watcher.watch(entries, RecursiveMode::NonRecursive)?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    // Every change from here on has an event; changes before are found by this scan.
    let mut dirty = true;
    remove_stale_cookies(dir);
    loop {
        if dirty {
            let Some(s) = store.upgrade() else {
                return Ok(Ended::Stopped);
            };
            match s.rescan().await {
                Ok(()) => {
                    dirty = false;
                    healthy.store(true, Ordering::Release);
                    start.send_if_modified(|st| {
                        let pending = *st == Start::Pending;
                        if pending {
                            *st = Start::Scanned;
                        }
                        pending
                    });
                }
                Err(e) => {
                    tracing::debug!("fsmonitor: cannot bring the index up to date: {e}");
                    not_watching(start);
                }
            }
        }
        let first = tokio::select! {
            ev = rx.recv() => ev,
            _ = &mut *stop => return Ok(Ended::Stopped),
        };
        let Some(first) = first else {
            return Ok(Ended::Stopped);
        };
        let mut batch = Batch::default();
        batch.add(first, entries, dir);
        while let Ok(ev) = rx.try_recv() {
            batch.add(ev, entries, dir);
        }
        if batch.folder_moved
            || dir
                .parent()
                .and_then(Path::parent)
                .is_some_and(|d| !d.is_dir())
        {
            // A deleted `.devlog` is not brought back by applying its files' removal.
            return Ok(Ended::FolderMoved);
        }
        if batch.rescan || batch.names.len() > MAX_NAMED {
            healthy.store(false, Ordering::Release);
            dirty = true;
        }
        let Some(s) = store.upgrade() else {
            return Ok(Ended::Stopped);
        };
        let applied = if dirty {
            s.rescan().await
        } else if batch.names.is_empty() {
            Ok(())
        } else {
            s.apply_files(&batch.names).await
        };
        drop(s);
        match applied {
            Ok(()) => {
                dirty = false;
                healthy.store(true, Ordering::Release);
                for cookie in &batch.cookies {
                    // Gone already: its asker gave up waiting.
                    let _ = fs::remove_file(cookie);
                }
                shared
                    .answered
                    .fetch_add(batch.cookies.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                // Unanswered cookies make their askers scan; the next batch rescans.
                tracing::debug!("fsmonitor: cannot apply changed files to the index: {e}");
                healthy.store(false, Ordering::Release);
                dirty = true;
            }
        }
    }
}

/// What one batch of events asks for.
#[derive(Default)]
struct Batch {
    names: BTreeSet<String>,
    cookies: Vec<PathBuf>,
    rescan: bool,
    folder_moved: bool,
}

impl Batch {
    fn add(&mut self, ev: notify::Result<notify::Event>, entries: &Path, dir: &Path) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::debug!("fsmonitor: watch error, rescanning: {e}");
                self.rescan = true;
                return;
            }
        };
        if ev.need_rescan() {
            self.rescan = true;
        }
        match ev.kind {
            // Reads change nothing (a write is reported as a modification too).
            EventKind::Access(notify::event::AccessKind::Close(
                notify::event::AccessMode::Write,
            )) => {}
            EventKind::Access(_) => return,
            _ => {}
        }
        for path in &ev.paths {
            if path == entries || path == dir {
                // Removed or moved away: its watch is gone, so nothing more would be seen.
                self.folder_moved |= matches!(
                    ev.kind,
                    EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
                );
                continue;
            }
            let (Some(parent), Some(name)) =
                (path.parent(), path.file_name().and_then(|n| n.to_str()))
            else {
                continue;
            };
            if parent == entries {
                if is_entry_name(name) {
                    self.names.insert(name.to_string());
                }
            } else if parent == dir
                && name.starts_with(COOKIE_PREFIX)
                && matches!(ev.kind, EventKind::Create(_))
            {
                self.cookies.push(path.clone());
            }
        }
    }
}

/// Removes cookies left by processes killed while they waited (older than [`STALE_COOKIE`],
/// so none is still awaited).
fn remove_stale_cookies(dir: &Path) {
    let Ok(items) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for item in items.flatten() {
        let is_cookie = item
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(COOKIE_PREFIX));
        let old = item
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= STALE_COOKIE));
        if is_cookie && old {
            let _ = fs::remove_file(item.path());
        }
    }
}

/// The kind of network file system `path` is on, if it is on one.
#[cfg(target_os = "linux")]
fn network_fs(path: &Path) -> Option<&'static str> {
    let kind = rustix::fs::statfs(path).ok()?.f_type;
    // From statfs(2).
    let known: [(i64, &str); 8] = [
        (0x6969, "NFS"),
        (0x517b, "SMB"),
        (0xff53_4d42, "CIFS"),
        (0xfe53_4d42, "SMB2"),
        (0x0102_1997, "9P"),
        (0x00c3_6400, "Ceph"),
        (0x6573_5546, "FUSE"),
        (0x5346_414f, "AFS"),
    ];
    // `f_type`'s type differs between architectures; the magic numbers are 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let kind = kind as i64 & 0xffff_ffff;
    known.iter().find(|(m, _)| *m == kind).map(|(_, n)| *n)
}

#[cfg(not(target_os = "linux"))]
fn network_fs(_path: &Path) -> Option<&'static str> {
    None
}
