//! A scratch PostgreSQL or MariaDB database per test, for the CLI tests that run several
//! working folders on one server store (`two_machines.rs`, `two_servers.rs`).
#![allow(dead_code)] // each test file uses what it needs

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, Executor};

#[derive(Debug, Clone, Copy)]
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

    pub fn backend(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }
}

pub async fn admin_exec(kind: Kind, admin: &str, sql: String) {
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
            c.execute(AssertSqlSafe(sql)).await.unwrap();
            let _ = c.close().await;
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(admin).await.unwrap();
            c.execute(AssertSqlSafe(sql)).await.unwrap();
            let _ = c.close().await;
        }
    }
}

/// A fresh database (`dlt_<secs>_…`, like the other server tests' so their clean-up finds
/// leftovers); `None` after saying why when the server is not configured.
pub async fn create_db(kind: Kind, test: &str, tag: &str) -> Option<(String, String, String)> {
    let admin = match std::env::var(kind.env()) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            eprintln!("skipping {test}: {} is not set", kind.env());
            return None;
        }
    };
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let name = format!(
        "dlt_{secs}_{}_{tag}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let create = match kind {
        Kind::Postgres => format!("CREATE DATABASE \"{name}\""),
        Kind::Mysql => {
            format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        }
    };
    admin_exec(kind, &admin, create).await;
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b.to_string(), format!("?{q}")),
        None => (admin.clone(), String::new()),
    };
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    let url = format!("{scheme}://{authority}/{name}{query}");
    Some((admin, name, url))
}

pub async fn drop_db(kind: Kind, admin: &str, name: &str) {
    let sql = match kind {
        Kind::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        Kind::Mysql => format!("DROP DATABASE IF EXISTS `{name}`"),
    };
    admin_exec(kind, admin, sql).await;
}
