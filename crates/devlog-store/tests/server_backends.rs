//! The PostgreSQL and MySQL/MariaDB backends against real servers: the Store conformance
//! suite, schema upgrades, concurrency, failures and migration between all four backends.
//!
//! Server URLs come from `DEVLOG_TEST_POSTGRES_URL` and `DEVLOG_TEST_MYSQL_URL` (`.ci/run`
//! sets both); without them the server tests print why and pass. Every test works in its own
//! database, created at its start and dropped at its end.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "server_backends/concurrency.rs"]
mod concurrency;
#[path = "server_backends/failures.rs"]
mod failures;
#[path = "server_backends/invalid_input.rs"]
mod invalid_input;
#[path = "server_backends/migration.rs"]
mod migration;
#[path = "server_backends/notify.rs"]
mod notify;
#[path = "common/old_sync_file.rs"]
mod old_sync_file;
#[path = "server_backends/search.rs"]
mod search;
#[path = "server_backends/support.rs"]
mod support;
#[path = "server_backends/sync_import.rs"]
mod sync_import;
#[path = "server_backends/upgrade.rs"]
mod upgrade;

mod postgres_conformance {
    use crate::support::{Kind, TestDb, url_in};

    devlog_testkit::store_conformance!(
        fixture = |case| TestDb::create(Kind::Postgres, case),
        opener = |dir| Box::pin(async move { Kind::Postgres.open(&url_in(&dir)).await }),
    );
}

mod mysql_conformance {
    use crate::support::{Kind, TestDb, url_in};

    devlog_testkit::store_conformance!(
        fixture = |case| TestDb::create(Kind::Mysql, case),
        opener = |dir| Box::pin(async move { Kind::Mysql.open(&url_in(&dir)).await }),
    );
}

mod postgres_sync_state_conformance {
    use crate::support::{Kind, TestDb, url_in};

    devlog_testkit::sync_state_conformance!(
        fixture = |case| TestDb::create(Kind::Postgres, case),
        opener = |dir| Box::pin(async move {
            std::sync::Arc::new(
                devlog_store::PostgresSyncState::open(&url_in(&dir))
                    .await
                    .unwrap(),
            ) as std::sync::Arc<dyn devlog_core::sync_state::SyncStateStore>
        }),
    );
}

mod mysql_sync_state_conformance {
    use crate::support::{Kind, TestDb, url_in};

    devlog_testkit::sync_state_conformance!(
        fixture = |case| TestDb::create(Kind::Mysql, case),
        opener = |dir| Box::pin(async move {
            std::sync::Arc::new(
                devlog_store::MysqlSyncState::open(&url_in(&dir))
                    .await
                    .unwrap(),
            ) as std::sync::Arc<dyn devlog_core::sync_state::SyncStateStore>
        }),
    );
}
