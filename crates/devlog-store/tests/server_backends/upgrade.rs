//! A database created by an older devlog (schema v1 and the data it wrote) is upgraded in
//! place when a newer devlog opens it, keeping every entry and event.

use std::path::Path;

use devlog_core::event::{EventKind, Origin, WriteMeta};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::store::{PutOutcome, SearchQuery};
use devlog_core::{EntryType, Status};
use devlog_store::{DbUrl, MysqlStore, PostgresStore};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, Connection};

use crate::support::{Kind, with_db};

/// Rows as devlog with schema v1 wrote them.
const V1_DATA: &str = include_str!("v1_data.sql");

async fn migrator(kind: Kind) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(match kind {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        });
    let mut m = Migrator::new(dir.as_path()).await.unwrap();
    m.dangerous_set_table_name("_devlog_migrations");
    m
}

/// What an older devlog left: migration 1 applied through sqlx, then its data.
async fn create_v1(kind: Kind, url: &DbUrl) {
    let m = migrator(kind).await;
    assert!(m.iter().count() >= 2, "a later schema version exists");
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
            m.run_direct(Some(1), &mut c, false).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(V1_DATA))
                .execute(&mut c)
                .await
                .unwrap();
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url.expose()).await.unwrap();
            m.run_direct(Some(1), &mut c, false).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(V1_DATA))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

async fn applied_versions(kind: Kind, url: &DbUrl) -> Vec<i64> {
    let sql = "SELECT version FROM _devlog_migrations WHERE success ORDER BY version";
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url.expose()).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
    }
}

async fn v1_database_upgrades_in_place(kind: Kind) {
    with_db(
        kind,
        "v1_database_upgrades_in_place",
        move |url| async move {
            create_v1(kind, &url).await;
            assert_eq!(applied_versions(kind, &url).await, vec![1]);

            let store = kind.open(&url).await;
            // Every migration of the build, in order (the numbers need not be contiguous:
            // 0009_feed_notify.sql is PostgreSQL's alone).
            let wanted: Vec<i64> = migrator(kind)
                .await
                .iter()
                .filter(|m| !m.migration_type.is_down_migration())
                .map(|m| m.version)
                .collect();
            assert!(wanted.len() > 1);
            assert_eq!(applied_versions(kind, &url).await, wanted);

            // Every entry is there and reads back exactly as stored.
            let all = store.all().await.unwrap();
            let handles: Vec<u64> = all.iter().map(|e| e.handle).collect();
            assert_eq!(handles, vec![1, 2, 5]);
            let k8s = &all[0];
            assert_eq!(k8s.title, "Kubernetes deployment pipeline");
            assert_eq!(k8s.notes[0].content, "rolled out to staging");
            assert_eq!(k8s.tags, vec!["infra".to_string()]);
            assert_eq!(all[1].status, Status::Done);
            assert_eq!(all[2].legacy_id, Some(5));
            for e in &all {
                assert_eq!(
                    store
                        .put_raw(e.clone(), &WriteMeta::new(Origin::Import))
                        .await
                        .unwrap(),
                    PutOutcome::Unchanged,
                    "#{} round-trips",
                    e.handle
                );
            }
            // Rows written before search existed are searchable after the upgrade.
            for (text, want) in [("kube staging", 1), ("locked out", 2), ("docs", 5)] {
                let hits = store
                    .search(&SearchQuery {
                        text: text.into(),
                        ..SearchQuery::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(
                    hits.items
                        .iter()
                        .map(|h| h.entry.handle)
                        .collect::<Vec<_>>(),
                    vec![want],
                    "search {text:?}"
                );
            }
            // The feed continues after the old events, and handles after the old entries.
            let feed = store.events(0, 100).await.unwrap();
            assert_eq!(
                feed.iter().map(|e| e.seq).collect::<Vec<_>>(),
                vec![1, 2, 3, 4]
            );
            assert_eq!(feed[3].actor.as_deref(), Some("agent"));
            let app = Devlog::new(store.clone());
            let new = app
                .create(
                    NewEntry {
                        title: "After the upgrade".into(),
                        kind: Some(EntryType::Task),
                        ..NewEntry::default()
                    },
                    &WriteMeta::new(Origin::Cli),
                )
                .await
                .unwrap()
                .into_entry();
            assert_eq!(new.handle, 6);
            let feed = store.events(4, 100).await.unwrap();
            assert_eq!(feed.len(), 1);
            assert_eq!(feed[0].seq, 5);
            assert!(matches!(feed[0].kind, EventKind::Created));

            // Opening again changes nothing (migrations are idempotent).
            let again = kind.open(&url).await;
            assert_eq!(again.count().await.unwrap(), 4);
            assert_eq!(applied_versions(kind, &url).await, wanted);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_v1_database_upgrades_in_place() {
    v1_database_upgrades_in_place(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_v1_database_upgrades_in_place() {
    v1_database_upgrades_in_place(Kind::Mysql).await;
}

/// Opening checks the schema with one query and runs the migrator only when that check says
/// so: the check must recognise an up-to-date schema (or every command would pay for the
/// migrator's lock and reads) and must never take an older one for current.
async fn the_schema_check_tells_a_current_schema_from_an_older_one(kind: Kind) {
    with_db(kind, "schema_check", move |url| async move {
        create_v1(kind, &url).await;
        let delete = "DELETE FROM _devlog_migrations WHERE version = 2";
        match kind {
            Kind::Postgres => {
                let store = PostgresStore::open(&url).await.unwrap();
                assert!(
                    store.schema_is_current().await.unwrap(),
                    "after the upgrade"
                );
                sqlx::query(delete).execute(store.pool()).await.unwrap();
                assert!(
                    !store.schema_is_current().await.unwrap(),
                    "a version missing"
                );
            }
            Kind::Mysql => {
                let store = MysqlStore::open(&url).await.unwrap();
                assert!(
                    store.schema_is_current().await.unwrap(),
                    "after the upgrade"
                );
                sqlx::query(delete).execute(store.pool()).await.unwrap();
                assert!(
                    !store.schema_is_current().await.unwrap(),
                    "a version missing"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn postgres_schema_check_tells_a_current_schema_from_an_older_one() {
    the_schema_check_tells_a_current_schema_from_an_older_one(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_schema_check_tells_a_current_schema_from_an_older_one() {
    the_schema_check_tells_a_current_schema_from_an_older_one(Kind::Mysql).await;
}
