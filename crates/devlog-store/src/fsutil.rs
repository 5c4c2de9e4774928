//! File-system primitives for the JSON backend: atomic durable writes and a cross-process lock.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::error::{Result, StoreError};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a torn
/// one, and the new one survives a crash: temp file in the same folder, fsync, rename, fsync
/// the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |e: std::io::Error| StoreError::io(path.display().to_string(), e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io)?;
    // Temp files are created private (0600); entry files are shared through git like any
    // source file, so give them the usual mode (or keep the mode of the file they replace).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o644);
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io)?;
    }
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    sync_dir(dir)?;
    Ok(())
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
        .map_err(|e| StoreError::io(self.path.display().to_string(), e))?;
        Ok(WriteGuard {
            _file: file,
            _local: local,
        })
    }
}
