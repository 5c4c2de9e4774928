//! A machine-local sync.sqlite as devlog-sync wrote it before the sync state moved to
//! devlog-store: for the migration and import tests.

use sqlx::Connection;

/// A sync.sqlite as devlog-sync's own migrations left it (the four files, recorded in
/// `_devlog_sync_migrations` with their checksums), with a row in every kind of table.
pub async fn write_old_file(path: &std::path::Path, entry: &str) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut m = sqlx::migrate!("./migrations/sync-sqlite");
    m.dangerous_set_table_name("_devlog_sync_migrations");
    m.run_direct(None, &mut c, false).await.unwrap();
    let rows = [
        "INSERT INTO cursors VALUES ('github', 'pull', 'p-7')".to_string(),
        "INSERT INTO cursors VALUES ('github', 'feed', '12')".to_string(),
        format!(
            "INSERT INTO links VALUES ('github', '{entry}', '42', 'https://x/42', \
             '{{\"title\":\"t\",\"description\":\"\",\"status\":\"new\",\"priority\":\"medium\",\"type\":\"task\"}}', \
             'linked', 1, 2)"
        ),
        format!(
            "INSERT INTO jobs (integration, entry_id, state, attempts, next_at, created_at, updated_at) \
             VALUES ('github', '{entry}', 'dead', 3, 5, 1, 1)"
        ),
        format!(
            "INSERT INTO jobs (integration, entry_id, state, attempts, next_at, created_at, updated_at) \
             VALUES ('github', '{entry}', 'done', 0, 5, 1, 1)"
        ),
        format!(
            "INSERT INTO conflicts (integration, entry_id, field, base, local, remote, created_at) \
             VALUES ('github', '{entry}', 'title', '\"a\"', '\"b\"', '\"c\"', 1)"
        ),
        "INSERT INTO deliveries VALUES ('github', 'd-1', 1)".to_string(),
        format!(
            "INSERT INTO note_links VALUES ('github', '{entry}', 'n1', 'c1', 'linked', 'h', 1)"
        ),
        format!(
            "INSERT INTO worklog_links VALUES ('jira', '{entry}', 'w1', 'worklog:5', 'linked', 'h', 1)"
        ),
        format!("INSERT INTO applied_actions VALUES ('github', 'comment:c1', '{entry}', 1)"),
        format!(
            "INSERT INTO attachments VALUES ('github', 'pull-request', '9', '{entry}', NULL, 1)"
        ),
    ];
    for r in rows {
        sqlx::query(sqlx::AssertSqlSafe(r))
            .execute(&mut c)
            .await
            .unwrap();
    }
    c.close().await.unwrap();
}
