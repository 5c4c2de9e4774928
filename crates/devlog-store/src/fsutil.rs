//! File-system primitives for the JSON backend: atomic durable writes and a cross-process lock.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use devlog_core::error::{Result, StoreError};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Name parts of the temp files devlog writes beside their destination; such files are
/// git-ignored and removed when stale (see [`remove_stale_temp_files`]).
pub const TEMP_PREFIX: &str = ".tmp-";
pub const TEMP_SUFFIX: &str = ".partial";

/// How old a temp file must be before a store removes it as left over by a crash.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Runs blocking file work (reads, scans, fsync'd writes) without stalling the async
/// threads: on a multi-threaded runtime the calling worker hands its other tasks to a fresh
/// thread first (`block_in_place`), so one slow scan or fsync does not hold up other
/// connections; on a current-thread runtime (short CLI commands) or outside a runtime it just
/// runs. `block_in_place` rather than `spawn_blocking` because the work runs inside sections
/// that must stay in one task under the write lock, and borrows the store.
///
/// Architecture invariant: every `std::fs` call of the JSON backend on a read or write path
/// goes through here (or `spawn_blocking`, as the lock's `flock` does).
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a torn
/// one, and the new one survives a crash: temp file in the same folder, fsync, rename, fsync
/// the folder. On failure nothing is left behind (the temp file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Staged::write(path, bytes)?.persist()
}

/// Like [`write_atomic`], but the file is readable by its owner only (0600 on Unix), from
/// the first byte on: for files that grant access, such as the API token hashes.
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> Result<()> {
    Staged::write_mode(path, bytes, Some(0o600))?.persist()
}

/// The new content of a file, written and synced beside it but not yet in place. Dropping
/// it removes the temp file, so a write that fails before [`Staged::persist`] leaves no
/// trace.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Staged {
    pub fn write(path: &Path, bytes: &[u8]) -> Result<Self> {
        Self::write_mode(path, bytes, None)
    }

    /// [`Staged::write`] with the file's Unix mode given (`None`: the usual one).
    pub fn write_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let io = |e: std::io::Error| StoreError::write_io(path.display().to_string(), e);
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(TEMP_SUFFIX)
            .tempfile_in(dir)
            .map_err(io)?;
        // Temp files are created private (0600); entry files are shared through git like any
        // source file, so give them the usual mode (or keep the mode of the file they replace).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = mode.unwrap_or_else(|| {
                fs::metadata(path)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0o644)
            });
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io)?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        Ok(Self {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Size and mtime the file will have in place (a rename keeps both).
    pub fn stamp(&self) -> Result<(i64, i64)> {
        stamp(self.tmp.path()).map_err(|e| StoreError::io(self.path.display().to_string(), e))
    }

    /// Renames the temp file over the destination and makes that durable.
    pub fn persist(self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let path = self.path;
        self.tmp
            .persist(&path)
            .map_err(|e| StoreError::write_io(path.display().to_string(), e.error))?;
        sync_dir(&dir)
    }
}

/// Removes the temp files a killed writer left in `dir` (older than [`STALE_TEMP_AGE`]); the
/// caller holds the write lock, so no writer of ours is using them. Best effort: a file that
/// cannot be removed is left for the next time. Returns how many were removed.
pub fn remove_stale_temp_files(dir: &Path) -> usize {
    let Ok(items) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for item in items.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let stale = item
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= STALE_TEMP_AGE));
        if stale && item.file_type().is_ok_and(|t| t.is_file()) {
            match fs::remove_file(item.path()) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::debug!(file = %item.path().display(), "cannot remove stale temp file: {e}")
                }
            }
        }
    }
    removed
}

/// Makes sure `root/.gitignore` has each of `lines` (patterns), appending the missing ones
/// under `comment`. Leaves the user's own lines alone.
pub fn ensure_gitignore(root: &Path, comment: &str, lines: &[&str]) -> Result<()> {
    ensure_lines(&root.join(".gitignore"), comment, lines)
}

/// Makes sure `root/.gitattributes` has each of `lines`, like [`ensure_gitignore`].
pub fn ensure_gitattributes(root: &Path, comment: &str, lines: &[&str]) -> Result<()> {
    ensure_lines(&root.join(".gitattributes"), comment, lines)
}

fn ensure_lines(path: &Path, comment: &str, lines: &[&str]) -> Result<()> {
    let current = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(StoreError::io(path.display().to_string(), e)),
    };
    let has = |line: &str| {
        current.lines().any(|l| {
            let l = l.trim();
            l == line || l.strip_prefix('/') == Some(line) || line.strip_prefix('/') == Some(l)
        })
    };
    let missing: Vec<&str> = lines.iter().copied().filter(|l| !has(l)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = current.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(comment);
    text.push('\n');
    for l in missing {
        text.push_str(l);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir.display().to_string(), e))
}

/// Size and modification time (ns since the epoch) of a file.
pub fn stamp(path: &Path) -> std::io::Result<(i64, i64)> {
    let m = fs::metadata(path)?;
    let mtime = m
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Ok((m.len() as i64, mtime))
}

/// Serializes writers: a mutex for tasks of this process, then an exclusive `flock` on a lock
/// file for other processes (the CLI, a server, an MCP server on the same folder).
#[derive(Debug, Clone)]
pub struct WriteLock {
    path: PathBuf,
    local: Arc<Mutex<()>>,
}

/// Held while writing; dropping it releases both locks.
#[derive(Debug)]
pub struct WriteGuard {
    _file: File,
    _local: OwnedMutexGuard<()>,
}

impl WriteLock {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            local: Arc::new(Mutex::new(())),
        }
    }

    pub async fn acquire(&self) -> Result<WriteGuard> {
        let local = self.local.clone().lock_owned().await;
        let path = self.path.clone();
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
            if let Some(dir) = path.parent() {
                // `.state` only: a store whose `.devlog` folder was deleted does not bring
                // it back (a background watcher outliving it, see `fsmonitor`).
                match fs::create_dir(dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
            }
            let f = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(|e| StoreError::Backend {
            backend: "json",
            message: format!("lock task failed: {e}"),
            transient: true,
        })?
        .map_err(|e| StoreError::write_io(self.path.display().to_string(), e))?;
        Ok(WriteGuard {
            _file: file,
            _local: local,
        })
    }

    /// The lock if nobody holds it right now (in this process or another), else `None`.
    pub fn try_acquire(&self) -> Option<WriteGuard> {
        let local = self.local.clone().try_lock_owned().ok()?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .ok()?;
        file.try_lock().ok()?;
        Some(WriteGuard {
            _file: file,
            _local: local,
        })
    }
}
