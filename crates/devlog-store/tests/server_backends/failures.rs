//! Connection failures, wrong credentials, a missing database and a server that goes away in
//! the middle of a command: clear errors that name the URL (password redacted), no panic, no
//! half-written entry, and no hang.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use devlog_core::error::{ErrorKind, StoreError};
use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{EntryType, Store};
use devlog_store::{DbUrl, MysqlStore, PostgresStore, ServerOptions, StoreSpec};

use crate::support::{Kind, TestDb, kill_connections, with_db};

async fn open_err(kind: Kind, url: &DbUrl, opts: ServerOptions) -> StoreError {
    match kind {
        Kind::Postgres => PostgresStore::open_with(url, opts).await.map(|_| ()),
        Kind::Mysql => MysqlStore::open_with(url, opts).await.map(|_| ()),
    }
    .expect_err("opening must fail")
}

fn scheme(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "postgres",
        Kind::Mysql => "mysql",
    }
}

fn assert_names_url_without_password(e: &StoreError, shown_url: &str, password: &str) {
    let msg = e.to_string();
    assert!(msg.contains(shown_url), "names the URL: {msg}");
    assert!(!msg.contains(password), "never the password: {msg}");
    assert!(
        !format!("{e:?}").contains(password),
        "not in Debug either: {e:?}"
    );
}

/// No server needed: nothing listens on the port, so the error comes at once.
#[tokio::test]
async fn refused_connections_fail_fast_and_name_the_url() {
    for kind in [Kind::Postgres, Kind::Mysql] {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = DbUrl::parse(&format!(
            "{}://devlog:s3cret-pw@127.0.0.1:{port}/devlog",
            scheme(kind)
        ))
        .unwrap();
        let started = Instant::now();
        let e = open_err(kind, &url, ServerOptions::default()).await;
        assert!(started.elapsed() < Duration::from_secs(3), "{e}");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(
            matches!(
                e,
                StoreError::Backend {
                    transient: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_names_url_without_password(
            &e,
            &format!("{}://devlog:***@127.0.0.1:{port}/devlog", scheme(kind)),
            "s3cret-pw",
        );
    }
}

/// A server that accepts the TCP connection but never answers must not hang the command.
#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for kind in [Kind::Postgres, Kind::Mysql] {
        let url =
            DbUrl::parse(&format!("{}://u:pw-9876@127.0.0.1:{port}/db", scheme(kind))).unwrap();
        let opts = ServerOptions {
            connect_timeout: Duration::from_millis(800),
            ..ServerOptions::default()
        };
        let started = Instant::now();
        let e = open_err(kind, &url, opts).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(700) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(e.to_string().contains("no answer within 0.8 s"), "{e}");
        assert_names_url_without_password(&e, "u:***@127.0.0.1", "pw-9876");
    }
    drop(listener);
}

async fn wrong_credentials_are_named(kind: Kind) {
    let Some(admin) = kind.admin_url("wrong_credentials_are_named") else {
        return;
    };
    let raw = admin.expose();
    let (scheme, rest) = raw.split_once("://").unwrap();
    let host_and_db = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    // MariaDB checks the password of root; PostgreSQL here trusts every password, so there
    // the user name is what is wrong.
    let url = DbUrl::parse(&format!(
        "{scheme}://devlog_no_such_user:Wr0ng-Passw0rd@{host_and_db}"
    ))
    .unwrap();
    let e = open_err(kind, &url, ServerOptions::default()).await;
    let msg = e.to_string();
    assert!(msg.contains("cannot log in"), "{msg}");
    assert!(
        matches!(
            e,
            StoreError::Backend {
                transient: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert_names_url_without_password(&e, "devlog_no_such_user:***@", "Wr0ng-Passw0rd");
}

async fn a_missing_database_is_named(kind: Kind) {
    let Some(admin) = kind.admin_url("a_missing_database_is_named") else {
        return;
    };
    let url = admin.with_database("devlog_no_such_database");
    let e = open_err(kind, &url, ServerOptions::default()).await;
    let msg = e.to_string();
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(
        msg.contains("CREATE DATABASE devlog_no_such_database"),
        "{msg}"
    );
    assert!(msg.contains(url.redacted()), "{msg}");
}

async fn server_going_away_mid_command_leaves_no_half_write(kind: Kind) {
    let Some(db) = TestDb::create(kind, "server_going_away").await else {
        return;
    };
    let (admin, name, url) = (db.admin.clone(), db.name.clone(), db.url.clone());
    let outcome = tokio::spawn(async move {
        let store = kind.open(&url).await;
        let app = Devlog::new(store.clone());
        let meta = WriteMeta::new(Origin::Cli);
        let e = app
            .create(
                NewEntry {
                    title: "Survives a crash".into(),
                    kind: Some(EntryType::Task),
                    ..NewEntry::default()
                },
                &meta,
            )
            .await
            .unwrap()
            .into_entry();
        let feed_before = store.events(0, 100).await.unwrap().len();
        // The row is locked and read; the server drops the connection before the write.
        let err = store
            .update(e.id, &meta, &mut |entry| {
                kill_connections(kind, &admin, &name);
                entry.title = "half written".into();
                Ok(())
            })
            .await
            .expect_err("the write cannot succeed without its connection");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains(url.redacted()), "{err}");
        // Nothing of the failed write is visible, from this store or a fresh one.
        for s in [store.clone(), kind.open(&url).await] {
            let got = s.get(e.id).await.unwrap();
            assert_eq!(got.title, "Survives a crash");
            assert_eq!(s.events(0, 100).await.unwrap().len(), feed_before);
        }
        // The same store recovers: its pool connects again.
        let again = store
            .update(e.id, &meta, &mut |entry| {
                entry.title = "written after recovery".into();
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(again.title, "written after recovery");
    })
    .await;
    db.drop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn debug_and_describe_redact_the_password(kind: Kind) {
    with_db(kind, "debug_redacts_password", move |url| async move {
        // PostgreSQL here trusts any password, so a real one can be put in the URL; MariaDB's
        // root has none, so only the DbUrl-level redaction applies there.
        let with_pw = match kind {
            Kind::Postgres => {
                let raw = url
                    .expose()
                    .replacen("://postgres@", "://postgres:Top-Secret-42@", 1);
                DbUrl::parse(&raw).unwrap()
            }
            Kind::Mysql => url.clone(),
        };
        let store: std::sync::Arc<dyn Store> = match kind {
            Kind::Postgres => std::sync::Arc::new(PostgresStore::open(&with_pw).await.unwrap()),
            Kind::Mysql => std::sync::Arc::new(MysqlStore::open(&with_pw).await.unwrap()),
        };
        let shown = format!("{store:?} {:?}", store.describe());
        assert!(!shown.contains("Top-Secret-42"), "{shown}");
        assert!(shown.contains(with_pw.redacted()), "{shown}");
        let spec = StoreSpec::resolve(
            scheme(kind),
            std::path::Path::new("."),
            None,
            Some(with_pw.expose()),
        )
        .unwrap();
        let shown = format!("{spec:?} {}", spec.location().display());
        assert!(!shown.contains("Top-Secret-42"), "{shown}");
    })
    .await;
}

#[tokio::test]
async fn postgres_wrong_credentials_are_named() {
    wrong_credentials_are_named(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_wrong_credentials_are_named() {
    wrong_credentials_are_named(Kind::Mysql).await;
}

#[tokio::test]
async fn postgres_missing_database_is_named() {
    a_missing_database_is_named(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_missing_database_is_named() {
    a_missing_database_is_named(Kind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_server_going_away_mid_command_leaves_no_half_write() {
    server_going_away_mid_command_leaves_no_half_write(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_server_going_away_mid_command_leaves_no_half_write() {
    server_going_away_mid_command_leaves_no_half_write(Kind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_debug_and_describe_redact_the_password() {
    debug_and_describe_redact_the_password(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_debug_and_describe_redact_the_password() {
    debug_and_describe_redact_the_password(Kind::Mysql).await;
}

/// The counter row that orders integration events gone (edited by hand): recording an event
/// is a `Corrupt` error that says how to put it back, not an unordered insert.
async fn a_missing_event_counter_row_is_named_with_the_fix(kind: Kind) {
    use devlog_core::sync_state::{IntegrationEventKind, NewIntegrationEvent, SyncStateStore};
    with_db(kind, "missing_event_counter", move |url| async move {
        let delete = "DELETE FROM devlog_counters WHERE name = 'integration_events'";
        let state: Box<dyn SyncStateStore> = match kind {
            Kind::Postgres => {
                let s = devlog_store::PostgresSyncState::open(&url).await.unwrap();
                sqlx::query(delete).execute(s.pool()).await.unwrap();
                Box::new(s)
            }
            Kind::Mysql => {
                let s = devlog_store::MysqlSyncState::open(&url).await.unwrap();
                sqlx::query(delete).execute(s.pool()).await.unwrap();
                Box::new(s)
            }
        };
        let event = NewIntegrationEvent {
            integration: "github".into(),
            kind: IntegrationEventKind::PullRequestMerged,
            key: "d1#0".into(),
            entry_id: None,
            data: serde_json::json!({}),
            at: 1,
        };
        let e = state.record_event(&event).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        let shown = format!("{e} {e:?}");
        assert!(
            shown.contains("integration_events") && shown.contains("INSERT INTO devlog_counters"),
            "{shown}"
        );
        assert_eq!(state.last_event_id().await.unwrap(), 0, "nothing recorded");
    })
    .await;
}

#[tokio::test]
async fn postgres_a_missing_event_counter_row_is_named_with_the_fix() {
    a_missing_event_counter_row_is_named_with_the_fix(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_a_missing_event_counter_row_is_named_with_the_fix() {
    a_missing_event_counter_row_is_named_with_the_fix(Kind::Mysql).await;
}
