//! Live change-feed wake-ups across processes: on PostgreSQL a write through another store
//! handle (its own pool, as another process would have) wakes a listener through
//! `LISTEN/NOTIFY`, also after the listener's connection was killed; MySQL/MariaDB has no
//! listener and its feed watcher polls. Waits have generous timeouts; nothing is timed.

use std::time::Duration;

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{EntryType, Store};
use devlog_store::feed_watch::{FeedWatch, WakeSource};

use crate::support::{Kind, TestDb, kill_connections};

/// Far longer than any wake-up takes: the test fails only if none arrives.
const PATIENCE: Duration = Duration::from_secs(30);

async fn write(store: std::sync::Arc<dyn Store>, title: &str) {
    Devlog::new(store)
        .create(
            NewEntry {
                title: title.into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_write_through_another_handle_wakes_the_listener_also_after_a_reconnect() {
    let Some(db) = TestDb::create(Kind::Postgres, "pg_notify_wakes").await else {
        return;
    };
    let reader = Kind::Postgres.open(&db.url).await;
    let mut listener = reader.listen().expect("PostgreSQL stores have a listener");
    // The first return: LISTEN is in place (what came before it was not announced).
    tokio::time::timeout(PATIENCE, listener.changed())
        .await
        .expect("the listener connects");
    let writer = Kind::Postgres.open(&db.url).await;
    write(writer.clone(), "Written elsewhere").await;
    tokio::time::timeout(PATIENCE, listener.changed())
        .await
        .expect("the other handle's write woke the listener");

    // The server drops the listener's connection: the gap is reported as a change, and the
    // listener listens again.
    kill_connections(Kind::Postgres, &db.admin, &db.name);
    tokio::time::timeout(PATIENCE, listener.changed())
        .await
        .expect("a reconnect is reported");
    let writer = Kind::Postgres.open(&db.url).await;
    write(writer, "Written after the reconnect").await;
    tokio::time::timeout(PATIENCE, listener.changed())
        .await
        .expect("the write after the reconnect woke the listener");
    drop(listener);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_watch_wakes_on_notifications() {
    let Some(db) = TestDb::create(Kind::Postgres, "pg_feed_watch").await else {
        return;
    };
    let reader = Kind::Postgres.open(&db.url).await;
    let mut watch = FeedWatch::start(reader.clone(), Duration::from_secs(3600));
    assert_eq!(watch.source(), WakeSource::Notify);
    // The connect is announced once; the poll interval above is never used.
    tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("the watcher connects");
    write(Kind::Postgres.open(&db.url).await, "Elsewhere").await;
    tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("woken by the notification");
    assert_eq!(reader.events(0, 10).await.unwrap().len(), 1);
    drop(watch);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_has_no_listener_and_its_feed_watch_polls() {
    let Some(db) = TestDb::create(Kind::Mysql, "mysql_feed_watch").await else {
        return;
    };
    let reader = Kind::Mysql.open(&db.url).await;
    assert!(reader.listen().is_none());
    let mut watch = FeedWatch::start(reader, Duration::from_millis(50));
    assert_eq!(watch.source(), WakeSource::Poll(Duration::from_millis(50)));
    tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("the watcher starts");
    write(Kind::Mysql.open(&db.url).await, "Elsewhere").await;
    tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("the poll saw the other handle's write");
    drop(watch);
    db.drop().await;
}
