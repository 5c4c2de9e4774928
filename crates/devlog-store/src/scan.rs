//! Reading the entries folder: every `*.json` name with its size and mtime, as cheaply as the
//! kernel allows, because a CLI command on a large JSON store pays for it once per run.
//!
//! On Linux the folder is opened once, its names are read with `getdents64` into one buffer
//! (no allocation per file) and each is stated with `fstatat` relative to the folder's handle
//! (the kernel looks up one name, not every component of a path); the stats are spread over
//! up to four threads. Elsewhere the standard library does the same work with paths.

use std::io;
use std::path::Path;

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
pub(crate) fn fold_stats<T: Send>(
    dir: &Path,
    init: impl Fn() -> T + Sync,
    each: impl Fn(&mut T, &str, i64, i64) + Sync,
) -> io::Result<Folded<T>> {
    let Some(listing) = imp::Listing::read(dir)? else {
        return Ok(Folded {
            parts: vec![init()],
            temp_files: 0,
        });
    };
    let temp_files = listing.temp_files;
    let n = listing.len();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let run = |range: std::ops::Range<usize>| {
        let mut acc = init();
        for i in range {
            let name = listing.name(i);
            if let Some((size, mtime)) = listing.stat(i) {
                each(&mut acc, name, size, mtime);
            }
        }
        acc
    };
    if n < PARALLEL_FROM || threads < 2 {
        return Ok(Folded {
            parts: vec![run(0..n)],
            temp_files,
        });
    }
    let chunk = n.div_ceil(threads);
    let run = &run;
    let parts = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| sc.spawn(move || run(start..(start + chunk).min(n))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a stat thread does not panic"))
            .collect()
    });
    Ok(Folded { parts, temp_files })
}

/// Calls `each` with the name of every entry file in `dir`, without stating them.
pub(crate) fn for_each_name(dir: &Path, mut each: impl FnMut(&str)) -> io::Result<()> {
    if let Some(listing) = imp::Listing::read(dir)? {
        for i in 0..listing.len() {
            each(listing.name(i));
        }
    }
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

    /// The entry file names of one folder, NUL-terminated in one buffer, with the folder's
    /// handle to state them by.
    pub(super) struct Listing {
        dir: OwnedFd,
        names: Vec<u8>,
        /// Where each name starts in `names`; its end is the next start (minus the NUL).
        starts: Vec<u32>,
        pub(super) temp_files: usize,
    }

    impl Listing {
        pub(super) fn read(path: &Path) -> io::Result<Option<Self>> {
            let dir = match rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                // A checkout without the folder (git keeps no empty folders) has no entries.
                Err(rustix::io::Errno::NOENT) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
            let mut raw = RawDir::new(&dir, &mut buf);
            let (mut names, mut starts, mut temp_files) = (Vec::new(), Vec::new(), 0);
            while let Some(item) = raw.next() {
                let item = item?;
                let Ok(name) = item.file_name().to_str() else {
                    continue;
                };
                if !super::is_entry_name(name) {
                    temp_files += usize::from(super::is_temp_name(name));
                    continue;
                }
                let start = u32::try_from(names.len()).map_err(|_| {
                    io::Error::other("more than 4 GiB of file names in the entries folder")
                })?;
                starts.push(start);
                names.extend_from_slice(item.file_name().to_bytes_with_nul());
            }
            Ok(Some(Self {
                dir,
                names,
                starts,
                temp_files,
            }))
        }

        pub(super) fn len(&self) -> usize {
            self.starts.len()
        }

        fn c_name(&self, i: usize) -> &CStr {
            let start = self.starts[i] as usize;
            let end = self
                .starts
                .get(i + 1)
                .map_or(self.names.len(), |&s| s as usize);
            CStr::from_bytes_with_nul(&self.names[start..end])
                .expect("each name was copied with its one trailing NUL")
        }

        pub(super) fn name(&self, i: usize) -> &str {
            self.c_name(i)
                .to_str()
                .expect("only UTF-8 names are listed")
        }

        /// Size and mtime of the `i`th file, like `fsutil::stamp`; `None` if it is gone.
        // `stat`'s field types differ between architectures.
        #[allow(clippy::useless_conversion)]
        pub(super) fn stat(&self, i: usize) -> Option<(i64, i64)> {
            // Like `std::fs::metadata`, a symlink is followed.
            let st = rustix::fs::statat(&self.dir, self.c_name(i), AtFlags::empty()).ok()?;
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
    use std::io;
    use std::path::{Path, PathBuf};

    pub(super) struct Listing {
        dir: PathBuf,
        names: Vec<String>,
        pub(super) temp_files: usize,
    }

    impl Listing {
        pub(super) fn read(path: &Path) -> io::Result<Option<Self>> {
            let items = match std::fs::read_dir(path) {
                Ok(items) => items,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let (mut names, mut temp_files) = (Vec::new(), 0);
            for item in items {
                let item = item?;
                let Some(name) = item.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if super::is_entry_name(&name) {
                    names.push(name);
                } else {
                    temp_files += usize::from(super::is_temp_name(&name));
                }
            }
            Ok(Some(Self {
                dir: path.to_path_buf(),
                names,
                temp_files,
            }))
        }

        pub(super) fn len(&self) -> usize {
            self.names.len()
        }

        pub(super) fn name(&self, i: usize) -> &str {
            &self.names[i]
        }

        pub(super) fn stat(&self, i: usize) -> Option<(i64, i64)> {
            crate::fsutil::stamp(&self.dir.join(&self.names[i])).ok()
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
        let counts = fold_stats(dir.path(), || 0usize, |c, _, _, _| *c += 1).unwrap();
        assert_eq!(counts.parts.iter().sum::<usize>(), n);
    }

    #[test]
    fn a_missing_folder_has_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let counts = fold_stats(&dir.path().join("nope"), || 0usize, |c, _, _, _| *c += 1).unwrap();
        assert_eq!(counts.parts, [0]);
    }
}
