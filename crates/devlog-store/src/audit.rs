//! Where each backend keeps the audit log (devlog-core `audit`), and how it appends.
//!
//! - JSON: `.devlog/audit.jsonl`, one record per line, appended under the store's write lock
//!   with one `write_all` of whole lines on a file opened `O_APPEND`, then `fsync`. The write
//!   lock serialises appenders (other processes too), so the chain never forks. Kept per
//!   checkout and git-ignored: two clones' chains cannot be merged.
//! - SQLite: table `audit_log` (migration 15), appended inside the write's `BEGIN IMMEDIATE`
//!   transaction after the change feed's events, with the previous hash read in it.
//! - PostgreSQL / MySQL: table `devlog_audit` (migration 38), appended inside the write's
//!   transaction under the change feed's row lock (see `server/store_impl.rs`).
//!
//! No code path updates or deletes a record. Nothing here trusts what it reads: a line or
//! row that does not parse is returned as [`Stored::Unreadable`] for `verify` to name.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use devlog_core::audit::{
    Action, AuditKey, AuditLog, AuditRecord, Draft, GENESIS, Head, Stored, chain, checkpoint_after,
};
use devlog_core::error::{Result, StoreError};
use devlog_core::event::Origin;
use devlog_core::id::EntryId;
use devlog_core::time::Clock;
use devlog_core::time::Timestamp;
use serde_json::Value;
use sqlx::SqliteConnection;

/// The JSON backend's audit file, beside the entries.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// How much of the file's end is read to find the last record (records with long
/// descriptions can be large).
const TAIL: u64 = 1024 * 1024;

/// A stored record's text read back: the record, or why it is not one.
pub fn parse_stored(place: impl FnOnce() -> String, text: &str) -> Stored {
    match serde_json::from_str::<AuditRecord>(text) {
        Ok(r) => Stored::Record(r),
        Err(e) => Stored::Unreadable {
            place: place(),
            reason: e.to_string(),
        },
    }
}

/// The chain's head from the last stored record's text: its `seq` and `hash`, read loosely
/// (a damaged record still ends the chain where it is; `verify` reports the damage).
pub(crate) fn head_of(seq_hint: u64, text: &str) -> Head {
    let v: Option<Value> = serde_json::from_str(text).ok();
    let seq = v
        .as_ref()
        .and_then(|v| v.get("seq"))
        .and_then(Value::as_u64)
        .unwrap_or(seq_hint);
    let hash = v
        .as_ref()
        .and_then(|v| v.get("hash"))
        .and_then(Value::as_str)
        .unwrap_or(GENESIS)
        .to_string();
    Head { seq, hash }
}

/// The text every record of remote effect `id` holds (records are written by `to_line`:
/// compact JSON, fields in declared order).
fn effect_needle(id: &str) -> String {
    format!(
        "\"effectId\":{}",
        serde_json::to_string(id).expect("strings serialize")
    )
}

/// `drafts` without those whose effect id is in `known` or repeats an earlier draft's.
pub(crate) fn fresh(drafts: Vec<Draft>, mut known: Vec<String>) -> Vec<Draft> {
    drafts
        .into_iter()
        .filter(|d| match d.effect_id() {
            Some(id) if known.iter().any(|k| k == id) => false,
            Some(id) => {
                known.push(id.to_string());
                true
            }
            None => true,
        })
        .collect()
}

/// The `entry_id` column of a record (empty for actions about no entry).
pub(crate) fn entry_column(id: Option<EntryId>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

/// The SQL `LIKE` pattern that preselects records carrying an effect id (exact comparison
/// follows in Rust, on the parsed record).
pub(crate) const EFFECT_LIKE: &str = "%\"effectId\":%";

/// Which of `ids` the rows' records carry.
pub(crate) fn effect_ids_in(rows: &[String], ids: &[&str]) -> Vec<String> {
    rows.iter()
        .filter_map(|text| serde_json::from_str::<AuditRecord>(text).ok())
        .filter_map(|r| r.what.effect_id().map(str::to_string))
        .filter(|id| ids.contains(&id.as_str()))
        .collect()
}

// ---- the checkpoint signing key -----------------------------------------------------------

/// The environment variable naming the key file (instead of `.devlog/.state/audit-key`).
pub const KEY_ENV: &str = "DEVLOG_AUDIT_KEY_FILE";

/// The signing key file's name in `.devlog/.state/`.
pub const KEY_FILE: &str = "audit-key";

/// Where the last checkpoint this workspace signed is noted (`seq hash`), so `verify` can tell
/// a log cut before it.
pub const SIGNED_FILE: &str = "audit-checkpoint";

/// The key file: `$DEVLOG_AUDIT_KEY_FILE`, else `.devlog/.state/audit-key`.
pub fn key_path(devlog_dir: &Path) -> PathBuf {
    match std::env::var_os(KEY_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => devlog_dir.join(".state").join(KEY_FILE),
    }
}

/// The key in `path`, if the file exists. A file that holds no key is an error naming it
/// (never its content).
pub fn load_key(path: &Path) -> Result<Option<AuditKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => AuditKey::from_hex(&text)
            .map(Some)
            .map_err(|e| StoreError::invalid("audit key", format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path.display().to_string(), e)),
    }
}

/// The key in `path`, created (mode 0600, its folder 0700 if new) when there is none yet.
/// Two processes creating it at once: one wins (`create_new`), the other reads its key.
pub fn load_or_create_key(path: &Path) -> Result<AuditKey> {
    load_or_create_key_noting(path).map(|(k, _)| k)
}

/// [`load_or_create_key`], and whether this call created the key (`true` for the one process
/// that won the race to create it), so the creation can be audited once.
pub fn load_or_create_key_noting(path: &Path) -> Result<(AuditKey, bool)> {
    if let Some(k) = load_key(path)? {
        return Ok((k, false));
    }
    let io = |e: std::io::Error| StoreError::write_io(path.display().to_string(), e);
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(io)?;
    }
    let (key, text) = AuditKey::generate();
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes()).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok((key, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_key(path)?.map(|k| (k, false)).ok_or_else(|| {
                StoreError::invalid("audit key", format!("{} is empty", path.display()))
            })
        }
        Err(e) => Err(io(e)),
    }
}

/// The workspace's signing key (`key_path`), created when there is none (first use, or after
/// the old file was moved away to rotate it); a creation is appended to `log` as
/// `audit-key-created` (the public half and the file, never the private key).
pub async fn signing_key(
    devlog_dir: &Path,
    log: &dyn AuditLog,
    actor: Option<String>,
    origin: Origin,
) -> Result<AuditKey> {
    let path = key_path(devlog_dir);
    let (key, created) = load_or_create_key_noting(&path)?;
    if created {
        let action = Action::AuditKeyCreated {
            key: key.public_hex(),
            file: path.display().to_string(),
        };
        log.audit_append(vec![Draft::action(
            devlog_core::time::SystemClock.now(),
            actor,
            origin,
            action,
        )])
        .await?;
    }
    Ok(key)
}

/// Appends a checkpoint over `log`'s last record, signed with the workspace's key (made if
/// needed, see [`signing_key`]) by `actor` through `origin`, and notes it in
/// `.devlog/.state/audit-checkpoint`. Nothing for an empty log (and no key is made) or one
/// that already ends with a checkpoint. What `devlog audit checkpoint`, the commands that end
/// a batch, `serve` / `worker` housekeeping and `POST /api/v1/audit/checkpoint` call.
pub async fn sign_checkpoint(
    devlog_dir: &Path,
    log: &dyn AuditLog,
    actor: Option<String>,
    origin: Origin,
) -> Result<Option<AuditRecord>> {
    if log.audit_head().await?.seq == 0 {
        return Ok(None);
    }
    let key = signing_key(devlog_dir, log, actor.clone(), origin).await?;
    let r = log
        .audit_checkpoint(&key, devlog_core::time::SystemClock.now(), actor, origin)
        .await?;
    if let Some(r) = &r {
        write_signed(devlog_dir, &Head::of(r))?;
    }
    Ok(r)
}

/// The last checkpoint this workspace signed, from `.devlog/.state/audit-checkpoint`.
pub fn read_signed(devlog_dir: &Path) -> Option<Head> {
    let text = std::fs::read_to_string(devlog_dir.join(".state").join(SIGNED_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    let seq = parts.next()?.parse().ok()?;
    let hash = parts.next()?.to_string();
    Some(Head { seq, hash })
}

/// Notes `head` as the last checkpoint signed (atomically: a temporary file renamed), unless
/// a later one is already noted.
pub fn write_signed(devlog_dir: &Path, head: &Head) -> Result<()> {
    if read_signed(devlog_dir).is_some_and(|h| h.seq >= head.seq) {
        return Ok(());
    }
    let dir = devlog_dir.join(".state");
    let path = dir.join(SIGNED_FILE);
    let io = |e: std::io::Error| StoreError::write_io(path.display().to_string(), e);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let tmp = dir.join(format!("{SIGNED_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, format!("{} {}\n", head.seq, head.hash)).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

// ---- JSON: a file of lines --------------------------------------------------------------

/// `.devlog/audit.jsonl`.
#[derive(Debug, Clone)]
pub struct AuditFile {
    path: PathBuf,
}

impl AuditFile {
    pub fn new(devlog_dir: &Path) -> Self {
        Self {
            path: devlog_dir.join(AUDIT_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chains `drafts` after the file's last record and appends them: one `write_all` of
    /// whole lines, then `fsync`. The caller holds the store's write lock.
    pub fn append(&self, drafts: Vec<Draft>) -> Result<()> {
        self.append_records(drafts).map(|_| ())
    }

    /// [`append`](Self::append) for actions: drafts whose effect id the file (or an earlier
    /// draft of the batch) already has are left out. Returns the records appended. The
    /// caller holds the store's write lock.
    pub fn append_actions(&self, drafts: Vec<Draft>) -> Result<Vec<AuditRecord>> {
        let wanted: Vec<&str> = drafts.iter().filter_map(Draft::effect_id).collect();
        let known = if wanted.is_empty() {
            Vec::new()
        } else {
            self.effect_ids_among(&wanted)?
        };
        self.append_records(fresh(drafts, known))
    }

    /// Which of `ids` records of the file already carry (a scan of the file for each id's
    /// exact `"effectId":"…"` text, confirmed by parsing the line).
    fn effect_ids_among(&self, ids: &[&str]) -> Result<Vec<String>> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(self.path.display().to_string(), e)),
        };
        let io = |e: std::io::Error| StoreError::io(self.path.display().to_string(), e);
        let needles: Vec<String> = ids.iter().map(|id| effect_needle(id)).collect();
        let mut found = Vec::new();
        let mut reader = BufReader::with_capacity(1 << 20, f);
        let mut line = String::new();
        loop {
            line.clear();
            // Lines are UTF-8 (serde_json writes them); a damaged one is skipped here and
            // reported by `verify`.
            let mut bytes = Vec::new();
            if reader.read_until(b'\n', &mut bytes).map_err(io)? == 0 {
                break;
            }
            line.push_str(&String::from_utf8_lossy(&bytes));
            if !needles.iter().any(|n| line.contains(n.as_str())) {
                continue;
            }
            if let Ok(r) = serde_json::from_str::<AuditRecord>(line.trim_end())
                && let Some(id) = r.what.effect_id()
                && ids.contains(&id)
            {
                found.push(id.to_string());
            }
        }
        Ok(found)
    }

    /// The head after the file's last complete line.
    pub fn head(&self) -> Result<Head> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Head::default()),
            Err(e) => return Err(StoreError::io(self.path.display().to_string(), e)),
        };
        self.tail_head(&mut f)
            .map(|(head, _)| head)
            .map_err(|e| StoreError::io(self.path.display().to_string(), e))
    }

    /// Appends a checkpoint over the file's last record (see `AuditLog::audit_checkpoint`).
    /// The caller holds the store's write lock.
    pub fn checkpoint(
        &self,
        key: &AuditKey,
        at: Timestamp,
        actor: Option<String>,
        origin: Origin,
    ) -> Result<Option<AuditRecord>> {
        let head = self.head()?;
        let last = match head.seq {
            0 => None,
            n => self.page(n - 1, 1)?.into_iter().next(),
        };
        let last = match &last {
            Some(Stored::Record(r)) => Some(r),
            _ => None,
        };
        match checkpoint_after(last, &head, key, at, actor, origin) {
            Some(d) => Ok(self.append_records(vec![d])?.pop()),
            None => Ok(None),
        }
    }

    fn append_records(&self, drafts: Vec<Draft>) -> Result<Vec<AuditRecord>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let io = |e: std::io::Error| StoreError::write_io(self.path.display().to_string(), e);
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let (head, torn) = self.tail_head(&mut f).map_err(io)?;
        let mut text = String::new();
        if torn {
            // An interrupted append left half a line: start a new one (verify reports it).
            text.push('\n');
        }
        let records = chain(&head, drafts);
        for r in &records {
            text.push_str(&r.to_line());
            text.push('\n');
        }
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(records)
    }

    /// The head after the file's last complete line, and whether the file ends in a torn
    /// (unterminated) line.
    fn tail_head(&self, f: &mut File) -> std::io::Result<(Head, bool)> {
        let len = f.seek(SeekFrom::End(0))?;
        if len == 0 {
            return Ok((Head::default(), false));
        }
        let start = len.saturating_sub(TAIL);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        f.read_to_end(&mut buf)?;
        let torn = buf.last() != Some(&b'\n');
        let text = String::from_utf8_lossy(&buf);
        let mut lines = text.lines().rev();
        if torn {
            lines.next();
        }
        match lines.find(|l| !l.trim().is_empty()) {
            // A line that starts in the window is whole unless the window cut it.
            Some(last) if start == 0 || text.lines().count() > 1 => {
                let hint = if start == 0 {
                    text.lines().filter(|l| !l.trim().is_empty()).count() as u64 - u64::from(torn)
                } else {
                    0
                };
                Ok((head_of(hint, last), torn))
            }
            _ => Ok((Head::default(), torn)),
        }
    }

    /// Every line with `seq` after `after`, at most `limit`, in file order. A line that does
    /// not parse is returned in its place (numbered by line).
    pub fn page(&self, after: u64, limit: usize) -> Result<Vec<Stored>> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(self.path.display().to_string(), e)),
        };
        let io = |e: std::io::Error| StoreError::io(self.path.display().to_string(), e);
        let mut f = f;
        // Pages after the first start near their first record, not at the file's start.
        let start = start_offset(&mut f, after).map_err(io)?;
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut out = Vec::new();
        let mut reader = BufReader::with_capacity(1 << 20, f);
        let mut line = Vec::new();
        let mut n = 0u64;
        let mut offset = start;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(io)?;
            if read == 0 {
                break;
            }
            let at = offset;
            offset += read as u64;
            n += 1;
            // Line numbers are known when reading from the start; otherwise the byte offset.
            let place = move || {
                if start == 0 {
                    format!("line {n}")
                } else {
                    format!("the line at byte {at}")
                }
            };
            let torn = line.last() != Some(&b'\n');
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            // Cheap skip of records before the page: lines start with `{"seq":N,`.
            if let Some(seq) = leading_seq(text)
                && seq <= after
            {
                continue;
            }
            let stored = if torn {
                Stored::Unreadable {
                    place: format!("{} (the last)", place()),
                    reason: "it is torn: a write was interrupted".into(),
                }
            } else {
                parse_stored(place, text)
            };
            if let Stored::Record(r) = &stored
                && r.seq <= after
            {
                continue;
            }
            out.push(stored);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// How many lines the file holds (records and damaged lines).
    pub fn count(&self) -> Result<u64> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(self.path.display().to_string(), e)),
        };
        let io = |e: std::io::Error| StoreError::io(self.path.display().to_string(), e);
        let mut reader = BufReader::with_capacity(1 << 20, f);
        let mut n = 0;
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).map_err(io)? > 0 {
            if !line.iter().all(u8::is_ascii_whitespace) {
                n += 1;
            }
            line.clear();
        }
        Ok(n)
    }
}

/// A line start at or before the first line with `seq` after `after`, found by bisecting
/// the file on the `{"seq":N,` every record line starts with. Any line without one (damage)
/// stops the search where it is: reading from there is still correct, only slower.
fn start_offset(f: &mut File, after: u64) -> std::io::Result<u64> {
    if after == 0 {
        return Ok(0);
    }
    let len = f.seek(SeekFrom::End(0))?;
    let (mut lo, mut hi) = (0u64, len);
    let mut buf = Vec::new();
    while hi - lo > 64 * 1024 {
        let mid = lo + (hi - lo) / 2;
        f.seek(SeekFrom::Start(mid))?;
        let mut r = BufReader::with_capacity(64 * 1024, &mut *f);
        buf.clear();
        let skipped = r.read_until(b'\n', &mut buf)? as u64;
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            hi = mid;
            continue;
        }
        let line_start = mid + skipped;
        match leading_seq(&String::from_utf8_lossy(&buf)) {
            Some(seq) if seq <= after => lo = line_start,
            Some(_) => hi = mid,
            None => return Ok(lo),
        }
    }
    Ok(lo)
}

fn leading_seq(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("{\"seq\":")?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

// ---- SQLite: table audit_log --------------------------------------------------------------

/// Appends `drafts` inside the caller's write transaction (`BEGIN IMMEDIATE`: the database's
/// write lock is held, so the head read here is the last one).
pub async fn sqlite_append(
    conn: &mut SqliteConnection,
    drafts: Vec<Draft>,
    err: impl Fn(sqlx::Error) -> StoreError,
) -> Result<Vec<AuditRecord>> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let head = sqlite_head_in(&mut *conn, &err).await?;
    let records = chain(&head, drafts);
    for r in &records {
        sqlx::query("INSERT INTO audit_log (seq, at, entry_id, actor, record) VALUES (?,?,?,?,?)")
            .bind(r.seq as i64)
            .bind(r.at.millis())
            .bind(entry_column(r.entry_id))
            .bind(r.actor.as_deref())
            .bind(r.to_line())
            .execute(&mut *conn)
            .await
            .map_err(&err)?;
    }
    Ok(records)
}

async fn sqlite_head_in(
    conn: &mut SqliteConnection,
    err: &impl Fn(sqlx::Error) -> StoreError,
) -> Result<Head> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, record FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(err)?;
    Ok(match last {
        Some((seq, text)) => head_of(seq as u64, &text),
        None => Head::default(),
    })
}

/// Appends a checkpoint over the last row inside the caller's write transaction.
pub async fn sqlite_checkpoint(
    conn: &mut SqliteConnection,
    key: &AuditKey,
    at: Timestamp,
    actor: Option<String>,
    origin: Origin,
    err: impl Fn(sqlx::Error) -> StoreError,
) -> Result<Option<AuditRecord>> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, record FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(&err)?;
    let (head, last) = last_of(last);
    match checkpoint_after(last.as_ref(), &head, key, at, actor, origin) {
        Some(d) => Ok(sqlite_append(conn, vec![d], err).await?.pop()),
        None => Ok(None),
    }
}

/// The head and (when it parses) the record of the last row.
pub(crate) fn last_of(row: Option<(i64, String)>) -> (Head, Option<AuditRecord>) {
    match row {
        Some((seq, text)) => (head_of(seq as u64, &text), serde_json::from_str(&text).ok()),
        None => (Head::default(), None),
    }
}

/// The last record's head.
pub async fn sqlite_head(
    pool: &sqlx::SqlitePool,
    err: impl Fn(sqlx::Error) -> StoreError,
) -> Result<Head> {
    let mut conn = pool.acquire().await.map_err(&err)?;
    sqlite_head_in(&mut conn, &err).await
}

/// Appends action drafts inside the caller's write transaction, leaving out remote effects
/// already recorded (looked up by the entry's rows, then compared exactly).
pub async fn sqlite_append_actions(
    conn: &mut SqliteConnection,
    drafts: Vec<Draft>,
    err: impl Fn(sqlx::Error) -> StoreError,
) -> Result<Vec<AuditRecord>> {
    let mut known = Vec::new();
    for d in &drafts {
        let Some(id) = d.effect_id() else { continue };
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT record FROM audit_log WHERE entry_id = ? AND record LIKE ?")
                .bind(entry_column(d.entry_id))
                .bind(EFFECT_LIKE)
                .fetch_all(&mut *conn)
                .await
                .map_err(&err)?;
        known.extend(effect_ids_in(&rows, &[id]));
    }
    sqlite_append(conn, fresh(drafts, known), err).await
}

/// Rows after `after`, oldest first.
pub async fn sqlite_page(
    pool: &sqlx::SqlitePool,
    after: u64,
    limit: usize,
    err: impl Fn(sqlx::Error) -> StoreError,
) -> Result<Vec<Stored>> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, record FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after.min(i64::MAX as u64) as i64)
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(pool)
            .await
            .map_err(&err)?;
    Ok(rows
        .into_iter()
        .map(|(seq, text)| parse_stored(|| format!("row seq {seq}"), &text))
        .collect())
}

pub async fn sqlite_count(
    pool: &sqlx::SqlitePool,
    err: impl Fn(sqlx::Error) -> StoreError,
) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .map_err(&err)?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use devlog_core::audit::{Source, Verifier};
    use devlog_core::event::{EventKind, Origin};
    use devlog_core::time::Timestamp;

    fn draft(i: u64) -> Draft {
        Draft {
            at: Timestamp::from_millis(1_700_000_000_000 + i as i64).unwrap(),
            actor: Some("ann".into()),
            origin: Origin::Cli,
            source: Source::default(),
            entry_id: Some(EntryId::new_random()),
            handle: Some(i),
            change: None,
            what: EventKind::Created.into(),
        }
    }

    fn verify(file: &AuditFile) -> std::result::Result<u64, devlog_core::audit::Break> {
        let mut v = Verifier::new();
        for s in file.page(0, usize::MAX).unwrap() {
            v.check_stored(&s)?;
        }
        Ok(v.head().seq)
    }

    #[test]
    fn pages_deep_in_a_large_file_start_at_their_record() {
        let dir = tempfile::tempdir().unwrap();
        let f = AuditFile::new(dir.path());
        f.append((1..=3000).map(draft).collect()).unwrap();
        for after in [0, 1, 999, 1500, 2999, 3000] {
            let page = f.page(after, 5).unwrap();
            let seqs: Vec<u64> = page
                .iter()
                .map(|s| match s {
                    Stored::Record(r) => r.seq,
                    Stored::Unreadable { .. } => panic!("{s:?}"),
                })
                .collect();
            let want: Vec<u64> = (after + 1..=(after + 5).min(3000)).collect();
            assert_eq!(seqs, want, "after {after}");
        }
        assert_eq!(verify(&f), Ok(3000));
    }

    #[test]
    fn appends_continue_the_chain_and_a_torn_line_is_reported_then_skipped_past() {
        let dir = tempfile::tempdir().unwrap();
        let f = AuditFile::new(dir.path());
        f.append(vec![draft(1), draft(2)]).unwrap();
        f.append(vec![draft(3)]).unwrap();
        assert_eq!(verify(&f), Ok(3));
        assert_eq!(f.count().unwrap(), 3);
        assert_eq!(f.page(2, 10).unwrap().len(), 1);
        // A torn append: half a line at the end.
        let mut h = OpenOptions::new().append(true).open(f.path()).unwrap();
        h.write_all(b"{\"seq\":4,\"at\":\"2").unwrap();
        let b = verify(&f).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("torn"), "{b}");
        // The next append starts a new line and continues after record 3.
        f.append(vec![draft(5)]).unwrap();
        let text = std::fs::read_to_string(f.path()).unwrap();
        let last: AuditRecord = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last.seq, 4);
        let b = verify(&f).unwrap_err();
        assert!(b.reason.contains("line 4"), "{b}");
    }
}
