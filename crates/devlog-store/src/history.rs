//! The JSON backend's change history, kept with the entry files so it survives the index.
//!
//! The change feed lives in the git-ignored index (`.state/index.sqlite`), which may be deleted
//! at any time. So that deleting it (or a fresh clone) does not erase who changed what, every
//! event of the feed is also appended to `.devlog/history/<entry id>.jsonl`, one JSON line per
//! event, and a rebuilt index reads them back into its new feed.
//!
//! - **Outbox, not a second write path.** Events are written to the index first, in the same
//!   transaction as the entry; [`History::flush`] then copies every event after the
//!   `history_seq` mark (index `meta` table) to the files and moves the mark. A crash between
//!   the two is healed by the next flush. A crash after an append but before the mark moved
//!   would copy the same events again: each line carries its feed identity and `seq`, and
//!   events at or before a file's last line of the same feed are skipped.
//! - **Merges in git.** Files are append-only JSON lines, and `.devlog/.gitattributes` marks
//!   them `merge=union`, so two clones that changed the same entry merge their histories
//!   without a conflict. Lines are ordered by time when read back.
//! - **Only devlog's own changes.** `external` events (changes found in the files: a
//!   `git pull`, an editor) stay in the index: a pulled change is already in the history of
//!   the clone that made it, which the pull brings, and recording it again would make every
//!   pull leave the history files modified.
//! - **Damage is skipped, not fatal.** A line that does not parse (a torn write, a hand edit)
//!   is reported once and skipped; an append after a torn last line starts a new line.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use devlog_core::error::{Result, StoreError};
use devlog_core::event::Event;
use devlog_core::id::EntryId;
use serde::{Deserialize, Serialize};

/// The folder under `.devlog` that holds the history files.
pub const HISTORY_DIR: &str = "history";

/// The `.devlog/.gitattributes` lines that make git merge history files by union.
pub(crate) const GITATTRIBUTES_COMMENT: &str =
    "# devlog: change history is append-only; merge both sides' lines";
pub(crate) const GITATTRIBUTES_LINES: &[&str] = &["history/*.jsonl merge=union"];

/// How much of a file's end is read to find its last line (lines are one event each; a
/// description edit can be long, so generously).
const TAIL: u64 = 256 * 1024;

/// One line of a history file: an event of the feed `feed` as it was when written.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    feed: String,
    #[serde(flatten)]
    event: Event,
}

/// A feed position read off a file's last line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    feed: String,
    seq: u64,
}

/// What [`History::load`] read back.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every event, oldest first (their `seq` is what they had in their own feed).
    pub events: Vec<Event>,
    /// Entries that have a history file.
    pub entries: HashSet<EntryId>,
    /// Lines that could not be read, as `file:line: why`.
    pub skipped: Vec<String>,
}

/// The `.devlog/history` folder.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    pub fn new(devlog_dir: &Path) -> Self {
        Self {
            dir: devlog_dir.join(HISTORY_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, id: EntryId) -> PathBuf {
        self.dir.join(format!("{id}.jsonl"))
    }

    /// Whether any history file exists.
    pub fn exists(&self) -> bool {
        fs::read_dir(&self.dir).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".jsonl")))
        })
    }

    /// Appends `events` (read from the feed `feed`, in `seq` order) to their entries' files,
    /// skipping events a file already holds. Each file is synced before this returns.
    pub fn append(&self, feed: &str, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir)
            .map_err(|e| StoreError::write_io(self.dir.display().to_string(), e))?;
        let mut by_entry: BTreeMap<EntryId, Vec<&Event>> = BTreeMap::new();
        for ev in events {
            by_entry.entry(ev.entry_id).or_default().push(ev);
        }
        for (id, evs) in by_entry {
            let path = self.file(id);
            let io = |e: std::io::Error| StoreError::write_io(path.display().to_string(), e);
            let mut f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            let (last, torn) = last_mark(&mut f).map_err(io)?;
            let mut text = String::new();
            if torn {
                text.push('\n');
            }
            for ev in evs {
                if last
                    .as_ref()
                    .is_some_and(|m| m.feed == feed && m.seq >= ev.seq)
                {
                    continue;
                }
                let line = Line {
                    feed: feed.to_string(),
                    event: ev.clone(),
                };
                let json = serde_json::to_string(&line).map_err(|e| StoreError::Backend {
                    backend: "json",
                    message: format!("cannot encode an event for {}: {e}", path.display()),
                    transient: false,
                })?;
                text.push_str(&json);
                text.push('\n');
            }
            if text.is_empty() || text == "\n" && !torn {
                continue;
            }
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Reads every history file back, oldest event first (by time, then by the order each
    /// file holds them; lines repeated by a merge are read once).
    pub fn load(&self) -> Result<Loaded> {
        let mut out = Loaded::default();
        let dir = match fs::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io(self.dir.display().to_string(), e)),
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
        names.sort();
        let mut seen = HashSet::new();
        let mut keyed = Vec::new();
        for name in names {
            let path = self.dir.join(&name);
            let text = fs::read_to_string(&path)
                .map_err(|e| StoreError::io(path.display().to_string(), e))?;
            let Some(id) = name
                .strip_suffix(".jsonl")
                .and_then(|s| s.parse::<EntryId>().ok())
            else {
                out.skipped
                    .push(format!("{}: not named after an entry id", path.display()));
                continue;
            };
            out.entries.insert(id);
            for (n, raw) in text.lines().enumerate() {
                if raw.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Line>(raw) {
                    Ok(line) if line.event.entry_id == id => {
                        if seen.insert((line.feed.clone(), line.event.seq, id)) {
                            keyed.push((line.event.at, name.clone(), n, line.event));
                        }
                    }
                    Ok(_) => out.skipped.push(format!(
                        "{}:{}: the event is about another entry",
                        path.display(),
                        n + 1
                    )),
                    Err(e) => out
                        .skipped
                        .push(format!("{}:{}: {e}", path.display(), n + 1)),
                }
            }
        }
        keyed.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        out.events = keyed.into_iter().map(|k| k.3).collect();
        Ok(out)
    }
}

/// The feed position of a file's last complete line, and whether the file ends in a torn
/// (unterminated) line.
fn last_mark(f: &mut File) -> std::io::Result<(Option<Mark>, bool)> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok((None, false));
    }
    let start = len.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let torn = buf.last() != Some(&b'\n');
    let text = String::from_utf8_lossy(&buf);
    let mark = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .map(|l| Mark {
            feed: l.feed,
            seq: l.event.seq,
        })
        .next();
    Ok((mark, torn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use devlog_core::entry::Entry;
    use devlog_core::event::{Origin, WriteMeta};

    fn events(entry: &Entry, from: u64) -> Vec<Event> {
        let mut evs = Event::for_change(
            None,
            Some(entry),
            entry.created_at,
            &WriteMeta::new(Origin::Cli),
        );
        for (i, e) in evs.iter_mut().enumerate() {
            e.seq = from + i as u64;
        }
        evs
    }

    fn entry(title: &str, minutes: i64) -> Entry {
        let mut e = devlog_testkit::EntryBuilder::new(title).build();
        e.created_at = devlog_testkit::ts(minutes);
        e.handle = 1;
        e
    }

    #[test]
    fn append_skips_what_a_file_holds_and_load_orders_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        assert!(!h.exists());
        let (a, b) = (entry("a", 20), entry("b", 10));
        let (ea, eb) = (events(&a, 1), events(&b, 5));
        h.append("f1", &ea).unwrap();
        // The same events again (a crash before the mark moved): nothing is repeated.
        h.append("f1", &ea).unwrap();
        h.append("f1", &eb).unwrap();
        let loaded = h.load().unwrap();
        assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
        assert_eq!(loaded.events.len(), ea.len() + eb.len());
        assert_eq!(loaded.events[0].entry_id, b.id, "older first");
        assert_eq!(loaded.entries.len(), 2);
        // The same seq in another feed (after a rebuild) is a new event.
        h.append("f2", &ea).unwrap();
        assert_eq!(h.load().unwrap().events.len(), 2 * ea.len() + eb.len());
    }

    #[test]
    fn a_torn_line_is_skipped_and_the_next_append_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        let a = entry("a", 10);
        let ea = events(&a, 1);
        h.append("f", &ea[..1]).unwrap();
        let path = h.file(a.id);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"feed\":\"f\",\"se").unwrap();
        drop(f);
        let more = events(&a, 10);
        h.append("f", &more).unwrap();
        let loaded = h.load().unwrap();
        assert_eq!(loaded.events.len(), 1 + more.len());
        assert_eq!(loaded.skipped.len(), 1, "{:?}", loaded.skipped);
        assert!(loaded.skipped[0].contains(":2:"), "{:?}", loaded.skipped);
    }

    #[test]
    fn merged_files_read_each_line_once_and_foreign_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        let a = entry("a", 10);
        h.append("f", &events(&a, 1)).unwrap();
        let path = h.file(a.id);
        let text = fs::read_to_string(&path).unwrap();
        // A union merge of two clones that both held these lines.
        fs::write(&path, format!("{text}{text}")).unwrap();
        fs::write(h.dir().join("notes.jsonl"), "x\n").unwrap();
        let loaded = h.load().unwrap();
        assert_eq!(loaded.events.len(), events(&a, 1).len());
        assert_eq!(loaded.skipped.len(), 1);
    }
}
