//! Where each backend keeps API tokens (devlog-core `auth`): only SHA-256 hashes, never a
//! secret.
//!
//! - JSON: `.devlog/tokens.json` (mode 0600, written atomically under the store's write lock),
//!   git-ignored like `audit.jsonl`: a token grants access to one checkout's server, and a
//!   hash in a shared repository would let anyone who can push revoke or add access by
//!   editing a file. Not under `.state/`, because deleting `.state/` is the documented way
//!   to rebuild the index and must not drop authentication with it.
//! - SQLite (the `sqlite` backend, and the JSON backend's index database, where the table
//!   stays empty): table `api_tokens` (migration 16).
//! - PostgreSQL / MySQL: table `devlog_tokens` (migration 39), shared by every server on the
//!   database, so a team's tokens work on each of them.
//!
//! Every backend keeps the immutable record as JSON (`doc`) and the two things that change —
//! `last_used_at` and `revoked_at` — in their own columns (the JSON file: fields updated in
//! place under the lock), so a last-used update can never undo a revocation.

use std::path::{Path, PathBuf};

use devlog_core::auth::{Token, TokenId};
use devlog_core::error::{Result, StoreError};
use devlog_core::time::Timestamp;
use sqlx::Row;

use crate::fsutil::write_atomic_private;

/// The JSON backend's token file, beside the entries.
pub const TOKENS_FILE: &str = "tokens.json";

/// The error for a name an active token already has.
pub fn name_taken(token: &Token) -> StoreError {
    StoreError::invalid(
        "name",
        format!(
            "an active token is already named `{}`; revoke it first (`devlog token revoke {}`) \
             or choose another name",
            token.name, token.name
        ),
    )
}

fn corrupt(place: String, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: place,
        message: format!("a stored API token does not parse: {e}"),
        hint: "this version cannot read it; upgrade devlog, or revoke and recreate the tokens"
            .into(),
    }
}

fn ms(t: Option<i64>) -> Option<Timestamp> {
    t.and_then(Timestamp::from_millis)
}

// ---- JSON: one file ------------------------------------------------------------------------

/// `.devlog/tokens.json`: `{"tokens": [...]}`.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct FileDoc {
    tokens: Vec<Token>,
}

impl TokenFile {
    pub fn new(devlog_dir: &Path) -> Self {
        Self {
            path: devlog_dir.join(TOKENS_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every token; none when the file does not exist.
    pub fn read(&self) -> Result<Vec<Token>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(self.path.display().to_string(), e)),
        };
        serde_json::from_slice::<FileDoc>(&bytes)
            .map(|d| d.tokens)
            .map_err(|e| corrupt(self.path.display().to_string(), e))
    }

    /// Whether the file holds any token, without parsing more than needed.
    pub fn has_tokens(&self) -> Result<bool> {
        match std::fs::metadata(&self.path) {
            Ok(_) => Ok(!self.read()?.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(self.path.display().to_string(), e)),
        }
    }

    /// Replaces the file (atomically; a new file is private to its owner). The caller holds
    /// the store's write lock.
    fn write(&self, tokens: Vec<Token>) -> Result<()> {
        let mut bytes =
            serde_json::to_vec_pretty(&FileDoc { tokens }).expect("tokens always serialize");
        bytes.push(b'\n');
        write_atomic_private(&self.path, &bytes)
    }

    /// Adds `token` (the caller holds the write lock).
    pub fn insert(&self, token: &Token, now: Timestamp) -> Result<()> {
        let mut all = self.read()?;
        if all.iter().any(|t| t.id == token.id) {
            return Err(StoreError::invalid("id", "a token with this id exists"));
        }
        if all.iter().any(|t| t.name == token.name && t.is_active(now)) {
            return Err(name_taken(token));
        }
        all.push(token.clone());
        self.write(all)
    }

    /// Applies `f` to the token with `id` and writes the file when `f` says it changed.
    pub fn update(&self, id: &TokenId, f: impl FnOnce(&mut Token) -> bool) -> Result<bool> {
        let mut all = self.read()?;
        let t = all
            .iter_mut()
            .find(|t| &t.id == id)
            .ok_or_else(|| StoreError::not_found(format!("token {id}")))?;
        let changed = f(t);
        if changed {
            self.write(all)?;
        }
        Ok(changed)
    }
}

/// Revokes in place: the first revocation time stays.
pub(crate) fn revoke_in(t: &mut Token, at: Timestamp) -> bool {
    if t.revoked_at.is_some() {
        return false;
    }
    t.revoked_at = Some(at);
    true
}

/// Records a use in place, never moving it backwards.
pub(crate) fn touch_in(t: &mut Token, at: Timestamp) -> bool {
    if t.last_used_at.is_some_and(|l| l >= at) {
        return false;
    }
    t.last_used_at = Some(at);
    true
}

// ---- SQLite: table api_tokens --------------------------------------------------------------

fn sqlite_token(row: &sqlx::sqlite::SqliteRow, place: &str) -> Result<Token> {
    let doc: String = row.try_get("doc").map_err(|e| corrupt(place.into(), e))?;
    let mut t: Token = serde_json::from_str(&doc).map_err(|e| corrupt(place.into(), e))?;
    t.last_used_at = ms(row.try_get("last_used_at").ok().flatten());
    t.revoked_at = ms(row.try_get("revoked_at").ok().flatten());
    Ok(t)
}

/// The immutable part of a record, as stored in `doc`.
pub(crate) fn doc_of(token: &Token) -> String {
    let mut t = token.clone();
    t.last_used_at = None;
    t.revoked_at = None;
    serde_json::to_string(&t).expect("tokens always serialize")
}

/// The SQLite statements, for the `sqlite` backend's database.
pub mod sqlite {
    use super::*;
    use crate::index::SqlIndex;

    pub async fn insert(index: &SqlIndex, token: &Token, now: Timestamp) -> Result<()> {
        let mut tx = index.begin_write().await?;
        let names: Vec<(Option<i64>, String)> =
            sqlx::query_as("SELECT revoked_at, doc FROM api_tokens WHERE name = ?")
                .bind(token.name.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(index.err())?;
        for (revoked, doc) in names {
            let t: Token =
                serde_json::from_str(&doc).map_err(|e| corrupt("api_tokens".into(), e))?;
            if revoked.is_none() && t.is_active(now) {
                return Err(name_taken(token));
            }
        }
        sqlx::query(
            "INSERT INTO api_tokens (id, name, created_at, last_used_at, revoked_at, doc) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(token.id.as_str())
        .bind(token.name.as_str())
        .bind(token.created_at.millis())
        .bind(token.last_used_at.map(|t| t.millis()))
        .bind(token.revoked_at.map(|t| t.millis()))
        .bind(doc_of(token))
        .execute(&mut *tx)
        .await
        .map_err(index.err())?;
        tx.commit().await.map_err(index.err())
    }

    pub async fn list(index: &SqlIndex) -> Result<Vec<Token>> {
        let rows = sqlx::query(
            "SELECT doc, last_used_at, revoked_at FROM api_tokens ORDER BY created_at, id",
        )
        .fetch_all(index.pool())
        .await
        .map_err(index.err())?;
        rows.iter()
            .map(|r| sqlite_token(r, "table api_tokens"))
            .collect()
    }

    pub async fn get(index: &SqlIndex, id: &TokenId) -> Result<Option<Token>> {
        let row = sqlx::query("SELECT doc, last_used_at, revoked_at FROM api_tokens WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(index.pool())
            .await
            .map_err(index.err())?;
        row.as_ref()
            .map(|r| sqlite_token(r, "table api_tokens"))
            .transpose()
    }

    pub async fn revoke(index: &SqlIndex, id: &TokenId, at: Timestamp) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(at.millis())
                .bind(id.as_str())
                .execute(index.pool())
                .await
                .map_err(index.err())?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        match get(index, id).await? {
            Some(_) => Ok(false),
            None => Err(StoreError::not_found(format!("token {id}"))),
        }
    }

    pub async fn touch(index: &SqlIndex, id: &TokenId, at: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = ? WHERE id = ? \
             AND (last_used_at IS NULL OR last_used_at < ?)",
        )
        .bind(at.millis())
        .bind(id.as_str())
        .bind(at.millis())
        .execute(index.pool())
        .await
        .map_err(index.err())?;
        Ok(())
    }

    pub async fn any(index: &SqlIndex) -> Result<bool> {
        let n: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_tokens LIMIT 1")
            .fetch_optional(index.pool())
            .await
            .map_err(index.err())?;
        Ok(n.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devlog_core::auth::{NewToken, Role, issue};
    use rand::SeedableRng;

    #[test]
    fn the_token_file_is_private_and_holds_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let f = TokenFile::new(dir.path());
        assert!(!f.has_tokens().unwrap());
        let now = Timestamp::from_millis(1_800_000_000_000).unwrap();
        let (t, secret) = issue(
            NewToken {
                name: "ci".parse().unwrap(),
                role: Role::Viewer,
                scope: None,
                expires_at: None,
                created_by: None,
            },
            now,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        f.insert(&t, now).unwrap();
        assert!(f.has_tokens().unwrap());
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(!text.contains(&secret.expose()[21..]), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        std::fs::write(f.path(), "{not json").unwrap();
        let e = f.read().unwrap_err().to_string();
        assert!(
            e.contains("tokens.json") && e.contains("does not parse"),
            "{e}"
        );
    }
}
