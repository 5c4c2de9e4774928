//! `FileJournal`: where the CLI, the server and the MCP server keep bulk operations and their
//! progress (`devlog_core::bulk::BulkJournal`), in a machine-local folder
//! (`.devlog/.state/bulk/`, git-ignored with the rest of `.state/`). Per operation:
//! - `<id>.json`: the operation — request, who, when, the frozen selection — written once,
//!   atomically, before the first entry is touched;
//! - `<id>.log`: one JSON line per entry outcome, appended and fsync'd before the run goes on
//!   to the next entry, and a last line `{"finished":true}`. A torn last line (a crash in
//!   the middle of an append) is ignored: its entry is looked at again on resume, where the
//!   operation's change id in the entry's history says whether it was written.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use devlog_core::bulk::{BulkJournal, BulkOperation, EntryOutcome, JournalState, OperationId};
use devlog_core::error::{Result, StoreError};

use crate::fsutil::{blocking, sync_dir, write_atomic};

/// Bulk operations kept as files in one folder.
#[derive(Debug, Clone)]
pub struct FileJournal {
    dir: PathBuf,
}

impl FileJournal {
    /// The journal in `dir` (created on the first operation).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The journal of a workspace's machine-local state folder (`.devlog/.state`).
    pub fn in_state_dir(state_dir: &Path) -> Self {
        Self::new(state_dir.join("bulk"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn op_file(&self, id: OperationId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn log_file(&self, id: OperationId) -> PathBuf {
        self.dir.join(format!("{id}.log"))
    }

    fn append(&self, id: OperationId, line: &serde_json::Value) -> Result<()> {
        let path = self.log_file(id);
        let io = |e| StoreError::write_io(path.display().to_string(), e);
        let mut bytes = serde_json::to_vec(line).expect("JSON values serialize");
        bytes.push(b'\n');
        blocking(|| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            // One write of the whole line: O_APPEND keeps it in one piece.
            f.write_all(&bytes).map_err(io)?;
            f.sync_data().map_err(io)
        })
    }
}

#[async_trait]
impl BulkJournal for FileJournal {
    async fn begin(&self, op: &BulkOperation) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(op).expect("operations serialize");
        blocking(|| {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| StoreError::write_io(self.dir.display().to_string(), e))?;
            write_atomic(&self.op_file(op.id), &bytes)?;
            sync_dir(&self.dir)
        })
    }

    async fn record(&self, op: OperationId, outcome: &EntryOutcome) -> Result<()> {
        let line = serde_json::to_value(outcome).expect("outcomes serialize");
        self.append(op, &line)
    }

    async fn finish(&self, op: OperationId) -> Result<()> {
        self.append(op, &serde_json::json!({ "finished": true }))
    }

    async fn load(&self, id: OperationId) -> Result<Option<JournalState>> {
        let op_path = self.op_file(id);
        let log_path = self.log_file(id);
        blocking(|| {
            let bytes = match std::fs::read(&op_path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(StoreError::io(op_path.display().to_string(), e)),
            };
            let operation: BulkOperation =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(&op_path, &e.to_string()))?;
            let text = match std::fs::read_to_string(&log_path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(StoreError::io(log_path.display().to_string(), e)),
            };
            let (done, finished) = parse_log(&log_path, &text)?;
            Ok(Some(JournalState {
                operation,
                done,
                finished,
            }))
        })
    }

    async fn operations(&self) -> Result<Vec<OperationId>> {
        blocking(|| {
            let read = match std::fs::read_dir(&self.dir) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(StoreError::io(self.dir.display().to_string(), e)),
            };
            let mut ops = Vec::new();
            for item in read {
                let item = item.map_err(|e| StoreError::io(self.dir.display().to_string(), e))?;
                let name = item.file_name();
                let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                    continue;
                };
                let Ok(id) = stem.parse::<OperationId>() else {
                    continue;
                };
                let modified = item
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
                ops.push((modified, id));
            }
            ops.sort();
            Ok(ops.into_iter().map(|(_, id)| id).collect())
        })
    }
}

/// The outcomes of a log and whether it says finished; a torn last line is left out.
fn parse_log(path: &Path, text: &str) -> Result<(Vec<EntryOutcome>, bool)> {
    let mut done = Vec::new();
    let mut finished = false;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if last && !complete => break,
            Err(e) => return Err(corrupt(path, &format!("line {}: {e}", i + 1))),
        };
        if value.get("finished").and_then(|f| f.as_bool()) == Some(true) {
            finished = true;
            continue;
        }
        match serde_json::from_value::<EntryOutcome>(value) {
            Ok(o) => done.push(o),
            Err(_) if last && !complete => break,
            Err(e) => return Err(corrupt(path, &format!("line {}: {e}", i + 1))),
        }
    }
    Ok((done, finished))
}

fn corrupt(path: &Path, message: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.display().to_string(),
        message: message.to_string(),
        hint: "the bulk operation's journal is damaged; its entries can be selected again with a new operation (each action leaves entries already changed as they are)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devlog_core::bulk::{BulkAction, BulkRequest, Outcome, Selected};
    use devlog_core::id::EntryId;
    use devlog_core::store::Filter;
    use devlog_core::time::Timestamp;

    fn op() -> BulkOperation {
        BulkOperation {
            id: OperationId::new_random(),
            request: BulkRequest {
                filter: Filter::default(),
                all: true,
                action: BulkAction::Tag {
                    tags: vec!["a".into()],
                },
            },
            started_at: Timestamp::from_millis(1_700_000_000_000).unwrap(),
            actor: Some("ann".into()),
            selected: (1..=3)
                .map(|h| Selected {
                    id: EntryId::new_random(),
                    handle: h,
                    title: format!("e{h}"),
                })
                .collect(),
        }
    }

    fn outcome(s: &Selected) -> EntryOutcome {
        EntryOutcome {
            id: s.id,
            handle: s.handle,
            title: s.title.clone(),
            outcome: Outcome::Unchanged,
        }
    }

    #[tokio::test]
    async fn the_journal_survives_reopening_and_ignores_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let j = FileJournal::in_state_dir(dir.path());
        assert!(j.operations().await.unwrap().is_empty());
        let op = op();
        j.begin(&op).await.unwrap();
        j.record(op.id, &outcome(&op.selected[0])).await.unwrap();
        // A crash in the middle of the second append.
        let log = j.log_file(op.id);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(br#"{"id":"#).unwrap();
        drop(f);
        let reopened = FileJournal::in_state_dir(dir.path());
        let state = reopened.load(op.id).await.unwrap().unwrap();
        assert_eq!(state.operation, op);
        assert_eq!(state.done, [outcome(&op.selected[0])]);
        assert!(!state.finished);
        assert_eq!(reopened.operations().await.unwrap(), [op.id]);
        assert!(
            reopened
                .load(OperationId::new_random())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_finished_operation_reads_back_finished_and_a_damaged_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let j = FileJournal::new(dir.path().join("bulk"));
        let op = op();
        j.begin(&op).await.unwrap();
        for s in &op.selected {
            j.record(op.id, &outcome(s)).await.unwrap();
        }
        j.finish(op.id).await.unwrap();
        let state = j.load(op.id).await.unwrap().unwrap();
        assert!(state.finished);
        assert_eq!(state.done.len(), 3);
        // A damaged line in the middle is not a torn append: reported, not skipped.
        let log = j.log_file(op.id);
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::write(&log, text.replacen("{", "{{", 1)).unwrap();
        let err = j.load(op.id).await.unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
