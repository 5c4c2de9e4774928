//! Reading the entries folder: every `*.json` name with its size and mtime, as cheaply as the
//! kernel allows, because a CLI command on a large JSON store pays for it once per run.
//!
//! On Linux the folder is opened once, its names are read with `getdents64` and each is
//! stated with `fstatat` relative to the folder's handle (the kernel looks up one name, not
//! every component of a path). Elsewhere the standard library does the same work with paths.
//!
//! [`fold_stats`] (the check of an unchanged folder) streams: names are read a batch at a
//! time and stated on up to four threads while the next batch is read, so the listing and the
//! stats overlap and memory stays a few batches whatever the folder holds. [`stamp_all`]
//! (comparing the folder with the index after a change) keeps every name in one buffer,
//! because the comparison walks them in name order.

use std::ffi::CStr;
use std::io;
use std::path::Path;
use std::sync::{Mutex, mpsc};

/// Whether a name in the entries folder is an entry file (temp files of atomic writes and
/// other dot files are not).
pub(crate) fn is_entry_name(name: &str) -> bool {
    !name.starts_with('.') && name.ends_with(".json")
}

/// Whether a name is a temp file of an atomic write (see `fsutil::TEMP_PREFIX`).
fn is_temp_name(name: &str) -> bool {
    name.starts_with(crate::fsutil::TEMP_PREFIX) && name.ends_with(crate::fsutil::TEMP_SUFFIX)
}

/// Folders with fewer files are stated on the calling thread: starting threads costs more.
const PARALLEL_FROM: usize = 2048;

/// Names per batch handed to a stat thread.
const BATCH: usize = 1024;

/// Batches read ahead of the stat threads at most (bounds memory when stats are slow).
const READ_AHEAD: usize = 8;

/// The threads that state files: one per core, at most four.
fn stat_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
}

/// Entry file names, NUL-terminated in one buffer (no allocation per name).
#[derive(Debug, Default)]
struct Names {
    bytes: Vec<u8>,
    /// Where each name starts in `bytes`; its end is the next start (minus the NUL).
    starts: Vec<u32>,
}

impl Names {
    /// Adds `name` (UTF-8, with its trailing NUL).
    fn push(&mut self, name: &CStr) -> io::Result<()> {
        let start = u32::try_from(self.bytes.len())
            .map_err(|_| io::Error::other("more than 4 GiB of file names in the entries folder"))?;
        self.starts.push(start);
        self.bytes.extend_from_slice(name.to_bytes_with_nul());
        Ok(())
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn c_name(&self, i: usize) -> &CStr {
        let start = self.starts[i] as usize;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.bytes.len(), |&s| s as usize);
        CStr::from_bytes_with_nul(&self.bytes[start..end])
            .expect("each name was copied with its one trailing NUL")
    }

    fn name(&self, i: usize) -> &str {
        // Without the NUL; only UTF-8 names are pushed.
        let c = self.c_name(i).to_bytes();
        std::str::from_utf8(c).expect("only UTF-8 names are listed")
    }
}

/// Reads the entry file names of `dir` in batches of up to `per_batch`, handing each to
/// `emit`; returns how many temp files of atomic writes the folder holds.
fn read_names(
    dir: &imp::Dir,
    per_batch: usize,
    mut emit: impl FnMut(Names) -> io::Result<()>,
) -> io::Result<usize> {
    let mut batch = Names::default();
    let mut temp_files = 0;
    dir.each_name(|name| {
        let Ok(text) = name.to_str() else {
            return Ok(());
        };
        if !is_entry_name(text) {
            temp_files += usize::from(is_temp_name(text));
            return Ok(());
        }
        batch.push(name)?;
        if batch.len() >= per_batch {
            emit(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    if batch.len() > 0 {
        emit(batch)?;
    }
    Ok(temp_files)
}

/// What [`fold_stats`] found.
#[derive(Debug)]
pub(crate) struct Folded<T> {
    /// One accumulator per thread.
    pub(crate) parts: Vec<T>,
    /// Temp files of atomic writes seen in the folder (a killed writer may have left them).
    pub(crate) temp_files: usize,
}

/// Runs `each(acc, name, size, mtime_ns)` for every entry file in `dir`, on up to four threads
/// that each fold into their own `init()`. A missing folder has no files; a file removed
/// between listing and stat is skipped.
///
/// The calling thread reads the names; the first [`PARALLEL_FROM`] are stated as they come,
/// and once the folder turns out larger, batches of [`BATCH`] go to stat threads (the
/// calling thread joins them when the folder is read), at most [`READ_AHEAD`] batches ahead.
pub(crate) fn fold_stats<T: Send>(
    dir: &Path,
    init: impl Fn() -> T + Sync,
    each: impl Fn(&mut T, &str, i64, i64) + Sync,
) -> io::Result<Folded<T>> {
    let Some(dir) = imp::Dir::open(dir)? else {
        return Ok(Folded {
            parts: vec![init()],
            temp_files: 0,
        });
    };
    let dir = &dir;
    let run = |acc: &mut T, names: &Names| {
        for i in 0..names.len() {
            if let Some((size, mtime)) = dir.stat(names.c_name(i)) {
                each(acc, names.name(i), size, mtime);
            }
        }
    };
    let threads = stat_threads();
    let mut mine = init();
    if threads < 2 {
        let temp_files = read_names(dir, BATCH, |names| {
            run(&mut mine, &names);
            Ok(())
        })?;
        return Ok(Folded {
            parts: vec![mine],
            temp_files,
        });
    }
    let (init, run) = (&init, &run);
    let (tx, rx) = mpsc::sync_channel::<Names>(READ_AHEAD);
    let rx = &Mutex::new(rx);
    std::thread::scope(|sc| {
        // Waits for the next batch; `None` once the reader is done and all were taken.
        let next = move || {
            rx.lock()
                .expect("the batch queue lock is never poisoned: no panics while held")
                .recv()
                .ok()
        };
        let mut workers = Vec::new();
        let mut stated = 0;
        let read = read_names(dir, BATCH, |names| {
            if stated < PARALLEL_FROM {
                stated += names.len();
                run(&mut mine, &names);
                return Ok(());
            }
            if workers.is_empty() {
                // A large folder: the other threads state while this one reads.
                for _ in 1..threads {
                    workers.push(sc.spawn(move || {
                        let mut acc = init();
                        while let Some(names) = next() {
                            run(&mut acc, &names);
                        }
                        acc
                    }));
                }
            }
            tx.send(names)
                .map_err(|_| io::Error::other("the stat threads stopped early"))
        });
        drop(tx);
        // Read to the end (or failed): help with what is queued.
        while let Some(names) = next() {
            run(&mut mine, &names);
        }
        let mut parts = vec![mine];
        parts.extend(
            workers
                .into_iter()
                .map(|h| h.join().expect("a stat thread does not panic")),
        );
        Ok(Folded {
            parts,
            temp_files: read?,
        })
    })
}

/// Size and mtime of a file that vanished between listing and stat (sizes are never negative).
const GONE: (i64, i64) = (-1, -1);

/// Every entry file of a folder with its size and mtime, kept compactly: the names in one
/// buffer and 16 bytes of stamp per file, so comparing 100,000 files with the index holds
/// a few MiB, not a map of strings.
#[derive(Debug)]
pub(crate) struct Stamped {
    names: Names,
    stamps: Vec<(i64, i64)>,
    /// Temp files of atomic writes seen in the folder (a killed writer may have left them).
    pub(crate) temp_files: usize,
}

impl Stamped {
    /// The name of the `i`th file listed.
    pub(crate) fn name(&self, i: usize) -> &str {
        self.names.name(i)
    }

    /// Size and mtime of the `i`th file; `None` if it vanished before it was stated.
    pub(crate) fn stamp(&self, i: usize) -> Option<(i64, i64)> {
        Some(self.stamps[i]).filter(|s| *s != GONE)
    }

    /// The files that were stated, in byte order of their names (SQLite's `BINARY` order).
    pub(crate) fn by_name(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.stamps.len())
            .filter(|&i| self.stamps[i] != GONE)
            .collect();
        order.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)));
        order
    }
}

/// Lists and stats every entry file in `dir` (on up to four threads), keeping the result
/// compact. A missing folder has no files.
pub(crate) fn stamp_all(dir: &Path) -> io::Result<Stamped> {
    let Some(dir) = imp::Dir::open(dir)? else {
        return Ok(Stamped {
            names: Names::default(),
            stamps: Vec::new(),
            temp_files: 0,
        });
    };
    let mut names = Names::default();
    let temp_files = read_names(&dir, usize::MAX, |all| {
        names = all;
        Ok(())
    })?;
    let n = names.len();
    let mut stamps = vec![GONE; n];
    let fill = |start: usize, part: &mut [(i64, i64)]| {
        for (j, slot) in part.iter_mut().enumerate() {
            *slot = dir.stat(names.c_name(start + j)).unwrap_or(GONE);
        }
    };
    let threads = stat_threads();
    if n < PARALLEL_FROM || threads < 2 {
        fill(0, &mut stamps);
    } else {
        let chunk = n.div_ceil(threads);
        let fill = &fill;
        std::thread::scope(|sc| {
            for (k, part) in stamps.chunks_mut(chunk).enumerate() {
                sc.spawn(move || fill(k * chunk, part));
            }
        });
    }
    Ok(Stamped {
        names,
        stamps,
        temp_files,
    })
}

/// Calls `each` with the name of every entry file in `dir`, without stating them.
pub(crate) fn for_each_name(dir: &Path, mut each: impl FnMut(&str)) -> io::Result<()> {
    let Some(dir) = imp::Dir::open(dir)? else {
        return Ok(());
    };
    read_names(&dir, BATCH, |names| {
        for i in 0..names.len() {
            each(names.name(i));
        }
        Ok(())
    })?;
    Ok(())
}

/// Size and mtime (ns since the epoch, as [`crate::fsutil::stamp`] reports them) of the
/// entry file `name` in `dir`; `None` if it does not exist.
pub(crate) fn stat_one(dir: &Path, name: &str) -> io::Result<Option<(i64, i64)>> {
    match crate::fsutil::stamp(&dir.join(name)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::CStr;
    use std::io;
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, Mode, OFlags, RawDir};

    /// An open folder, to read names from and state them by.
    pub(super) struct Dir(OwnedFd);

    impl Dir {
        pub(super) fn open(path: &Path) -> io::Result<Option<Self>> {
            match rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => Ok(Some(Self(fd))),
                // A checkout without the folder (git keeps no empty folders) has no entries.
                Err(rustix::io::Errno::NOENT) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }

        /// Calls `each` with every name in the folder (`.` and `..` too), read with
        /// `getdents64` into one 64 KiB buffer.
        pub(super) fn each_name(
            &self,
            mut each: impl FnMut(&CStr) -> io::Result<()>,
        ) -> io::Result<()> {
            let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
            let mut raw = RawDir::new(&self.0, &mut buf);
            while let Some(item) = raw.next() {
                each(item?.file_name())?;
            }
            Ok(())
        }

        /// Size and mtime of the file `name`, like `fsutil::stamp`; `None` if it is gone.
        // `stat`'s field types differ between architectures.
        #[allow(clippy::useless_conversion)]
        pub(super) fn stat(&self, name: &CStr) -> Option<(i64, i64)> {
            // Like `std::fs::metadata`, a symlink is followed.
            let st = rustix::fs::statat(&self.0, name, AtFlags::empty()).ok()?;
            let (secs, nanos) = (
                i64::from(st.st_mtime),
                i64::try_from(st.st_mtime_nsec).unwrap_or(0),
            );
            // `stamp` counts times before 1970 as 0.
            let mtime = if secs < 0 {
                0
            } else {
                secs.saturating_mul(1_000_000_000).saturating_add(nanos)
            };
            Some((i64::from(st.st_size), mtime))
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::ffi::{CStr, CString};
    use std::io;
    use std::path::{Path, PathBuf};

    /// A folder, to read names from and state them by.
    pub(super) struct Dir(PathBuf);

    impl Dir {
        pub(super) fn open(path: &Path) -> io::Result<Option<Self>> {
            match std::fs::metadata(path) {
                Ok(_) => Ok(Some(Self(path.to_path_buf()))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }

        pub(super) fn each_name(
            &self,
            mut each: impl FnMut(&CStr) -> io::Result<()>,
        ) -> io::Result<()> {
            for item in std::fs::read_dir(&self.0)? {
                let item = item?;
                // Names that are not UTF-8 (or hold a NUL) are not entry files.
                let Some(name) = item.file_name().to_str().and_then(|n| CString::new(n).ok())
                else {
                    continue;
                };
                each(&name)?;
            }
            Ok(())
        }

        pub(super) fn stat(&self, name: &CStr) -> Option<(i64, i64)> {
            crate::fsutil::stamp(&self.0.join(name.to_str().ok()?)).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_entry_files_with_the_stamps_std_reports() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "001-a.json",
            "002-b.json",
            ".tmp-x.json.partial",
            "notes.txt",
            ".hidden.json",
        ] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.json")).unwrap();
        let folded = fold_stats(dir.path(), Vec::new, |v, n, s, m| {
            v.push((n.to_string(), s, m))
        })
        .unwrap();
        assert_eq!(folded.temp_files, 1);
        let mut seen: Vec<(String, i64, i64)> = folded.parts.concat();
        seen.sort();
        let want: Vec<(String, i64, i64)> = ["001-a.json", "002-b.json", "sub.json"]
            .iter()
            .map(|n| {
                let (s, m) = crate::fsutil::stamp(&dir.path().join(n)).unwrap();
                (n.to_string(), s, m)
            })
            .collect();
        assert_eq!(seen, want);
        let mut names = Vec::new();
        for_each_name(dir.path(), |n| names.push(n.to_string())).unwrap();
        names.sort();
        assert_eq!(names, ["001-a.json", "002-b.json", "sub.json"]);
    }

    #[test]
    fn a_large_folder_is_stated_completely_on_several_threads() {
        let dir = tempfile::tempdir().unwrap();
        let n = PARALLEL_FROM * 2 + 7;
        for i in 0..n {
            std::fs::write(dir.path().join(format!("{i:05}-e.json")), "x").unwrap();
        }
        // Each file exactly once, whichever thread stated it.
        let folded = fold_stats(dir.path(), Vec::new, |v, name, _, _| {
            v.push(name.to_string())
        })
        .unwrap();
        assert_eq!(
            folded.parts.len(),
            stat_threads(),
            "one part per stat thread"
        );
        let mut seen = folded.parts.concat();
        seen.sort();
        let want: Vec<String> = (0..n).map(|i| format!("{i:05}-e.json")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn stamp_all_keeps_every_file_with_its_stamp_and_orders_names_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let n = PARALLEL_FROM + 11;
        // Created in reverse, so the folder's own order is not the name order.
        for i in (0..n).rev() {
            std::fs::write(dir.path().join(format!("{i:05}-e.json")), "x".repeat(i % 7)).unwrap();
        }
        std::fs::write(dir.path().join(".tmp-a.json.partial"), "").unwrap();
        std::fs::write(dir.path().join("Z-upper.json"), "").unwrap();
        let stamped = stamp_all(dir.path()).unwrap();
        assert_eq!(stamped.temp_files, 1);
        let order = stamped.by_name();
        let names: Vec<&str> = order.iter().map(|&i| stamped.name(i)).collect();
        let mut want: Vec<String> = (0..n).map(|i| format!("{i:05}-e.json")).collect();
        want.push("Z-upper.json".into());
        assert_eq!(names, want);
        for &i in &order {
            let path = dir.path().join(stamped.name(i));
            assert_eq!(stamped.stamp(i), Some(crate::fsutil::stamp(&path).unwrap()));
        }
        let missing = stamp_all(&dir.path().join("nope")).unwrap();
        assert!(missing.by_name().is_empty());
    }

    #[test]
    fn a_missing_folder_has_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let counts = fold_stats(&dir.path().join("nope"), || 0usize, |c, _, _, _| *c += 1).unwrap();
        assert_eq!(counts.parts, [0]);
    }
}
