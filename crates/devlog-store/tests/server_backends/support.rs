//! Per-test databases on the PostgreSQL and MariaDB/MySQL servers named by
//! `DEVLOG_TEST_POSTGRES_URL` and `DEVLOG_TEST_MYSQL_URL`: created at the start of a test and
//! dropped at its end, so runs never see each other's data.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use devlog_core::Store;
use devlog_store::{DbUrl, MysqlStore, PostgresStore};
use sqlx::{AssertSqlSafe, Connection, Executor};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Mysql,
}

impl Kind {
    pub fn env(self) -> &'static str {
        match self {
            Kind::Postgres => "DEVLOG_TEST_POSTGRES_URL",
            Kind::Mysql => "DEVLOG_TEST_MYSQL_URL",
        }
    }

    /// The server's URL, or `None` after printing why the test is skipped.
    pub fn admin_url(self, test: &str) -> Option<DbUrl> {
        match std::env::var(self.env()) {
            Ok(u) if !u.trim().is_empty() => Some(DbUrl::parse(&u).expect("a valid test URL")),
            _ => {
                eprintln!(
                    "skipping {test}: {} is not set (e.g. {}); .ci/run sets it",
                    self.env(),
                    match self {
                        Kind::Postgres => "postgres://postgres@127.0.0.1:5432/test",
                        Kind::Mysql => "mysql://root@127.0.0.1:3306/test",
                    }
                );
                None
            }
        }
    }

    fn quote(self, name: &str) -> String {
        match self {
            Kind::Postgres => format!("\"{name}\""),
            Kind::Mysql => format!("`{name}`"),
        }
    }

    /// Opens the store of this kind at `url`.
    pub async fn open(self, url: &DbUrl) -> Arc<dyn Store> {
        match self {
            Kind::Postgres => Arc::new(PostgresStore::open(url).await.expect("open postgres")),
            Kind::Mysql => Arc::new(MysqlStore::open(url).await.expect("open mysql")),
        }
    }
}

/// Databases of earlier runs older than this are dropped (a killed run cannot clean up).
const STALE_AFTER_SECS: u64 = 2 * 3600;

/// One database for one test.
#[derive(Debug)]
pub struct TestDb {
    pub kind: Kind,
    pub admin: DbUrl,
    pub name: String,
    pub url: DbUrl,
    dir: tempfile::TempDir,
}

/// Runs one statement on the admin connection.
async fn admin_exec(kind: Kind, admin: &DbUrl, sql: String) {
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(admin.expose())
                .await
                .expect("connect to the PostgreSQL test server");
            c.execute(AssertSqlSafe(sql))
                .await
                .expect("admin statement");
            let _ = c.close().await;
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(admin.expose())
                .await
                .expect("connect to the MySQL test server");
            c.execute(AssertSqlSafe(sql))
                .await
                .expect("admin statement");
            let _ = c.close().await;
        }
    }
}

async fn database_names(kind: Kind, admin: &DbUrl) -> Vec<String> {
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(admin.expose()).await.unwrap();
            sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'dlt\\_%'")
                .fetch_all(&mut c)
                .await
                .unwrap()
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(admin.expose())
                .await
                .unwrap();
            sqlx::query_scalar(
                "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata \
                 WHERE schema_name LIKE 'dlt\\_%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

impl TestDb {
    /// A new, empty database for `test`, or `None` (skip) when no server is configured.
    pub async fn create(kind: Kind, test: &str) -> Option<TestDb> {
        let admin = kind.admin_url(test)?;
        for old in database_names(kind, &admin).await {
            let born = old.split('_').nth(1).and_then(|t| t.parse::<u64>().ok());
            if born.is_some_and(|b| b + STALE_AFTER_SECS < now_secs()) {
                drop_database(kind, &admin, &old).await;
            }
        }
        let tag: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(24)
            .collect();
        let name = format!(
            "dlt_{}_{}_{}",
            now_secs(),
            &uuid::Uuid::new_v4().simple().to_string()[..8],
            tag.to_ascii_lowercase()
        );
        let create = match kind {
            Kind::Postgres => format!("CREATE DATABASE {}", kind.quote(&name)),
            Kind::Mysql => format!(
                "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                kind.quote(&name)
            ),
        };
        admin_exec(kind, &admin, create).await;
        let url = admin.with_database(&name);
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("url"), url.expose()).expect("write url");
        Some(TestDb {
            kind,
            admin,
            name,
            url,
            dir,
        })
    }

    pub async fn drop(self) {
        drop_database(self.kind, &self.admin, &self.name).await;
    }
}

async fn drop_database(kind: Kind, admin: &DbUrl, name: &str) {
    let sql = match kind {
        // FORCE ends connections that pools of the test still hold.
        Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", kind.quote(name)),
        Kind::Mysql => format!("DROP DATABASE IF EXISTS {}", kind.quote(name)),
    };
    admin_exec(kind, admin, sql).await;
}

impl devlog_testkit::conformance::ServerFixture for TestDb {
    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn teardown(self) -> Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(self.drop())
    }
}

/// The database URL a fixture left in a conformance test's folder.
pub fn url_in(dir: &Path) -> DbUrl {
    let text = std::fs::read_to_string(PathBuf::from(dir).join("url")).expect("fixture url");
    DbUrl::parse(&text).expect("fixture url parses")
}

/// Runs `body` with a fresh database of `kind` and drops the database afterwards, also when
/// the body panics. Skips (returns) when the server is not configured.
pub async fn with_db<F, Fut>(kind: Kind, test: &str, body: F)
where
    F: FnOnce(DbUrl) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDb::create(kind, test).await else {
        return;
    };
    let outcome = tokio::spawn(body(db.url.clone())).await;
    db.drop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Ends every other connection to database `name` from a separate thread and runtime, so it
/// can be called from inside a store's synchronous mutation closure: the server "goes away"
/// under a running command.
pub fn kill_connections(kind: Kind, admin: &DbUrl, name: &str) {
    let (admin, name) = (admin.clone(), name.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            match kind {
                Kind::Postgres => {
                    let mut c = sqlx::PgConnection::connect(admin.expose()).await.unwrap();
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&name)
                    .execute(&mut c)
                    .await
                    .unwrap();
                }
                Kind::Mysql => {
                    let mut c = sqlx::MySqlConnection::connect(admin.expose())
                        .await
                        .unwrap();
                    let ids: Vec<u64> = sqlx::query_scalar(
                        "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist \
                         WHERE db = ? AND id <> CONNECTION_ID()",
                    )
                    .bind(&name)
                    .fetch_all(&mut c)
                    .await
                    .unwrap();
                    for id in ids {
                        let _ = c
                            .execute(AssertSqlSafe(format!("KILL CONNECTION {id}")))
                            .await;
                    }
                }
            }
        });
    })
    .join()
    .unwrap();
}
