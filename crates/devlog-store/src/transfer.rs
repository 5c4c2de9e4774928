//! Moving entries in bulk: importing `.devlog/` folders (ours or the original TypeScript
//! devlog's) and migrating everything between two backends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use devlog_core::codec::decode_entry;
use devlog_core::entry::Entry;
use devlog_core::error::{Result, StoreError};
use devlog_core::event::{Event, Origin, WriteMeta};
use devlog_core::store::{PutOutcome, Store};
use serde::Serialize;

/// Reports progress of a long operation: `(done, total)`.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// What an import did. Partial success is not an error: failures are listed here.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportOutcome {
    pub source: String,
    pub files: u64,
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: Vec<ImportFailure>,
    /// Entries whose handle was taken here and that got a new one: `(original, new)`.
    pub renumbered: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportFailure {
    pub file: String,
    pub error: String,
}

/// Finds the folder of entry files: accepts a `.devlog` folder, the folder containing it,
/// or the `entries` folder itself.
pub fn entries_folder(path: &Path) -> Result<PathBuf> {
    let candidates = [
        path.join(".devlog").join("entries"),
        path.join("entries"),
        path.to_path_buf(),
    ];
    for c in candidates {
        if c.is_dir() && has_json(&c) {
            return Ok(c);
        }
    }
    if !path.exists() {
        return Err(StoreError::invalid(
            "path",
            format!(
                "{} does not exist; give the path of a .devlog folder",
                path.display()
            ),
        ));
    }
    Err(StoreError::invalid(
        "path",
        format!(
            "{} holds no devlog entries (looked for .devlog/entries/*.json, entries/*.json and *.json)",
            path.display()
        ),
    ))
}

fn has_json(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(".json") && n != "index.json" && n != "config.json")
        })
    })
}

/// Imports every entry file under `path` into `store`. Entries keep their ids (original
/// integer ids become `legacyId` and, where free, the handle); importing the same folder
/// again changes nothing. With `dry_run`, files are read and checked but nothing is written.
pub async fn import_folder(
    store: &dyn Store,
    path: &Path,
    dry_run: bool,
    progress: Progress<'_>,
) -> Result<ImportOutcome> {
    let dir = entries_folder(path)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| StoreError::io(dir.display().to_string(), e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.') && n != "index.json" && n != "config.json")
        })
        .collect();
    files.sort();
    let mut out = ImportOutcome {
        source: dir.display().to_string(),
        files: files.len() as u64,
        ..ImportOutcome::default()
    };
    let meta = WriteMeta::new(Origin::Import);
    for (i, file) in files.iter().enumerate() {
        progress(i as u64, files.len() as u64);
        let shown = file.display().to_string();
        let entry = match std::fs::read(file)
            .map_err(|e| StoreError::io(shown.clone(), e))
            .and_then(|b| decode_entry(&b, &shown))
        {
            Ok(e) => e,
            Err(e) => {
                out.failed.push(ImportFailure {
                    file: shown,
                    error: e.to_string(),
                });
                continue;
            }
        };
        if dry_run {
            out.imported += 1;
            continue;
        }
        let wanted = entry.handle;
        let id = entry.id;
        match store.put_raw(entry, &meta).await {
            Ok(PutOutcome::Inserted) => out.imported += 1,
            Ok(PutOutcome::Replaced) => out.updated += 1,
            Ok(PutOutcome::Unchanged) => out.unchanged += 1,
            Err(e) => {
                out.failed.push(ImportFailure {
                    file: shown,
                    error: e.to_string(),
                });
                continue;
            }
        }
        let now = store.get(id).await?.handle;
        if now != wanted {
            out.renumbered.push((wanted, now));
        }
    }
    progress(files.len() as u64, files.len() as u64);
    Ok(out)
}

/// What a migration did and what it verified.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateOutcome {
    pub from: String,
    pub to: String,
    pub entries: u64,
    pub copied: u64,
    pub unchanged: u64,
    /// Events appended to the target's change feed by this run.
    pub events: u64,
    /// Entries present in the source and the target with identical content.
    pub verified: u64,
    pub target_count: u64,
    /// Length of the source's change feed and of the target's after the copy.
    pub source_events: u64,
    pub target_events: u64,
    /// Milestones copied (new or changed in the target).
    pub milestones: u64,
    /// Entries that differ between source and target after the copy (should be empty).
    pub mismatches: Vec<String>,
    pub warnings: Vec<String>,
}

/// Events per read and per append while copying the change feed.
const FEED_BATCH: usize = 5000;

/// Copies every entry and the change feed from `from` to `to`, then verifies that the target
/// holds the same entries with the same content (checksums) and, when it was copied, the same
/// change feed. Re-running after an interruption resumes: entries already copied are
/// unchanged, and a target feed that is the start of the source's gets the rest. A target
/// that holds entries the source does not have, or different versions of the source's, is
/// refused unless `force`.
pub async fn migrate(
    from: &dyn Store,
    to: &dyn Store,
    force: bool,
    progress: Progress<'_>,
) -> Result<MigrateOutcome> {
    let (fi, ti) = (from.describe(), to.describe());
    let mut out = MigrateOutcome {
        from: format!("{} ({})", fi.backend, fi.location),
        to: format!("{} ({})", ti.backend, ti.location),
        ..MigrateOutcome::default()
    };
    if fi == ti {
        return Err(StoreError::invalid(
            "to",
            "the source and the target are the same store",
        ));
    }
    let entries = from.all().await?;
    out.entries = entries.len() as u64;
    let target_before = to.all().await?;
    let source_ids: HashMap<_, _> = entries.iter().map(|e| (e.id, e)).collect();
    let foreign = target_before
        .iter()
        .filter(|e| !source_ids.contains_key(&e.id))
        .count();
    let differing = target_before
        .iter()
        .filter(|t| source_ids.get(&t.id).is_some_and(|s| !same_content(s, t)))
        .count();
    if (foreign > 0 || differing > 0) && !force {
        return Err(StoreError::TargetNotEmpty {
            target: out.to,
            foreign: foreign as u64,
            differing: differing as u64,
        });
    }
    let meta = WriteMeta::new(Origin::Migrate);
    for (i, e) in entries.iter().enumerate() {
        progress(i as u64, out.entries);
        match to.put_raw(e.clone(), &meta).await? {
            PutOutcome::Unchanged => out.unchanged += 1,
            _ => out.copied += 1,
        }
    }
    progress(out.entries, out.entries);

    // Milestones, by key: the source's version wins.
    let target_milestones = to.milestones().await?;
    for m in from.milestones().await? {
        match target_milestones.iter().find(|t| t.key == m.key) {
            Some(t) if *t == m => {}
            found => {
                to.put_milestone(&m, found.is_none()).await?;
                out.milestones += 1;
            }
        }
    }

    // The change feed: the target's must be empty or the start of the source's (what an
    // interrupted run left); then the rest is appended in order. Seqs are the target's own.
    let source_feed = read_feed(from).await?;
    let target_feed = read_feed(to).await?;
    out.source_events = source_feed.len() as u64;
    let resumable = target_feed.len() <= source_feed.len()
        && target_feed
            .iter()
            .zip(&source_feed)
            .all(|(t, s)| same_event(t, s));
    if resumable {
        for batch in source_feed[target_feed.len()..].chunks(FEED_BATCH) {
            to.append_events(batch).await?;
            out.events += batch.len() as u64;
        }
    } else {
        out.warnings.push(
            "the target already had a different change feed; the source's events were not copied"
                .into(),
        );
    }

    // Verify: every source entry is in the target with the same content, and the feed (if
    // this run owns it) matches event for event.
    let target: HashMap<_, Entry> = to.all().await?.into_iter().map(|e| (e.id, e)).collect();
    out.target_count = to.count().await?;
    for e in &entries {
        match target.get(&e.id) {
            Some(t) if checksum(t) == checksum(e) => out.verified += 1,
            Some(t) if same_content(e, t) => {
                out.verified += 1;
                out.warnings.push(format!(
                    "#{} {:?} is #{} in the target (its handle was taken there)",
                    e.handle, e.title, t.handle
                ));
            }
            Some(_) => out
                .mismatches
                .push(format!("#{} {} differs in the target", e.handle, e.id)),
            None => out
                .mismatches
                .push(format!("#{} {} is missing in the target", e.handle, e.id)),
        }
    }
    let target_feed = read_feed(to).await?;
    out.target_events = target_feed.len() as u64;
    if resumable
        && (target_feed.len() != source_feed.len()
            || !target_feed
                .iter()
                .zip(&source_feed)
                .all(|(t, s)| same_event(t, s)))
    {
        out.mismatches.push(format!(
            "the change feed differs: {} events in the source, {} in the target",
            source_feed.len(),
            target_feed.len()
        ));
    }
    Ok(out)
}

/// The whole change feed of a store, oldest first.
async fn read_feed(store: &dyn Store) -> Result<Vec<Event>> {
    let mut feed = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.events(after, FEED_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        feed.extend(batch);
    }
    Ok(feed)
}

/// Two events are the same apart from the seq each store gave them.
fn same_event(a: &Event, b: &Event) -> bool {
    Event {
        seq: 0,
        ..a.clone()
    } == Event {
        seq: 0,
        ..b.clone()
    }
}

/// The same entry apart from the handle and key a store may have had to change.
fn same_content(a: &Entry, b: &Entry) -> bool {
    if checksum(a) == checksum(b) {
        return true;
    }
    let mut same = b.clone();
    same.handle = a.handle;
    same.key = a.key.clone();
    checksum(&same) == checksum(a)
}

/// A content checksum of an entry (FNV-1a over its canonical JSON), stable across backends.
pub fn checksum(e: &Entry) -> u64 {
    let bytes = serde_json::to_vec(e).expect("entries serialize");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
