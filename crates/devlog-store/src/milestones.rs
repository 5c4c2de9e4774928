//! The JSON backend's milestones: one pretty JSON file per milestone under
//! `.devlog/milestones/<key>.json`, committed with the entries so they travel with git.
//! (The SQL backends keep them in a `milestones` table; see `index.rs` and `server/`.)
//!
//! Files are untrusted like entry files: a file's key is its name, which must be a valid key
//! (`devlog_core::id::validate_key`); other files in the folder are ignored.

use std::path::Path;

use devlog_core::error::{Result, StoreError};
use devlog_core::id::validate_key;
use devlog_core::planning::Milestone;

use crate::fsutil::write_atomic;

/// The folder inside `.devlog/`.
pub const MILESTONES_DIR: &str = "milestones";

/// Every milestone file in `root/milestones`, by key.
pub fn read_all(root: &Path) -> Result<Vec<Milestone>> {
    let dir = root.join(MILESTONES_DIR);
    let listing = match std::fs::read_dir(&dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir.display().to_string(), e)),
    };
    let mut out = Vec::new();
    for item in listing {
        let item = item.map_err(|e| StoreError::io(dir.display().to_string(), e))?;
        let name = item.file_name();
        let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if validate_key(key).is_err() {
            continue;
        }
        let path = item.path();
        let bytes =
            std::fs::read(&path).map_err(|e| StoreError::io(path.display().to_string(), e))?;
        let mut m: Milestone = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            message: format!("not a milestone: {e}"),
            hint: "fix or remove the file".into(),
        })?;
        m.key = key.to_string();
        out.push(m);
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Writes `m` to its file: a new one (`create`) or over the existing one. The caller holds
/// the store's write lock.
pub fn write(root: &Path, m: &Milestone, create: bool) -> Result<()> {
    validate_key(&m.key).map_err(|msg| StoreError::invalid("milestone", msg))?;
    let dir = root.join(MILESTONES_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| StoreError::write_io(dir.display().to_string(), e))?;
    let path = dir.join(format!("{}.json", m.key));
    if path.exists() == create {
        return Err(devlog_core::store::milestone_exists(m, create));
    }
    let mut bytes = serde_json::to_vec_pretty(m).expect("a milestone always serializes");
    bytes.push(b'\n');
    write_atomic(&path, &bytes)
}
