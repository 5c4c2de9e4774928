//! Two machines, one store (issue 14): two working folders with nothing shared but a
//! PostgreSQL (or MariaDB) database — their own `.devlog` folders, homes and processes. The
//! sync state lives in that database, so an entry synced from the first is linked on the
//! second, and a sync from the second creates no second remote issue (counted on the fake
//! GitHub).
//!
//! Server URLs come from `DEVLOG_TEST_POSTGRES_URL` / `DEVLOG_TEST_MYSQL_URL`; without them the
//! tests say why and pass. Each test creates its own database and drops it at the end.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};

use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::Value;

mod common;
use common::server_db::{Kind, create_db, drop_db};

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const TOKEN: &str = "ghp_two_machines_7d1e";

/// One machine: its own folder, home and `.devlog`, configured for the shared database.
struct Machine {
    dir: PathBuf,
    home: PathBuf,
    url: String,
}

impl Machine {
    fn new(root: &Path, name: &str, kind: Kind, url: &str, api: &str) -> Self {
        let dir = root.join(name).join("project");
        let home = root.join(name).join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            dir.join("devlog.toml"),
            format!(
                "[storage]\ntype = \"{}\"\nurl = \"${{DATABASE_URL}}\"\n\n\
                 [integrations.github]\nrepository = \"acme/widgets\"\n\
                 token = \"${{GITHUB_TOKEN}}\"\napiUrl = \"{api}\"\n",
                kind.backend()
            ),
        )
        .unwrap();
        Machine {
            dir,
            home,
            url: url.to_string(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let o = tokio::process::Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("DATABASE_URL", &self.url)
            .env("GITHUB_TOKEN", TOKEN)
            .output()
            .await
            .unwrap();
        assert!(
            o.status.success(),
            "devlog {args:?} in {} failed:\n{}\n{}",
            self.dir.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
    }
}

async fn two_machines_one_store(kind: Kind, test: &str) {
    let Some((admin, name, url)) = create_db(kind, test, "twomachines").await else {
        return;
    };
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let tmp = tempfile::tempdir().unwrap();
    let first = Machine::new(tmp.path(), "first", kind, &url, &remote.url());
    let second = Machine::new(tmp.path(), "second", kind, &url, &remote.url());

    first.ok(&["init"]).await;
    let e = first
        .json(&["new", "Parser crash", "--type", "bugfix"])
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    first.ok(&["sync"]).await;
    assert_eq!(gh.issues_created(), 1);

    // The second machine has never synced: it sees the link the first one made.
    second.ok(&["init"]).await;
    let status = second.json(&["sync", "status"]).await;
    let rows = status["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{status}");
    assert_eq!(rows[0]["entryId"], id.as_str(), "{status}");
    assert_eq!(rows[0]["state"], "synced", "{status}");
    assert_eq!(rows[0]["remoteId"], "1", "{status}");

    // A sync from the second machine creates nothing; an edit made there is pushed to the
    // issue the first machine created.
    second.ok(&["sync"]).await;
    assert_eq!(gh.issues_created(), 1);
    second
        .ok(&["edit", "1", "--title", "Parser crash on empty input"])
        .await;
    second.ok(&["sync"]).await;
    assert_eq!(gh.issues_created(), 1);
    assert_eq!(gh.issue(1).unwrap().title, "Parser crash on empty input");
    first.ok(&["sync"]).await;
    assert_eq!(gh.issues_created(), 1);

    // Nothing machine-local was written for sync on either machine.
    for m in [&first, &second] {
        assert!(
            !m.dir.join(".devlog/.state/sync.sqlite").exists(),
            "{}",
            m.dir.display()
        );
    }
    drop(remote);
    drop_db(kind, &admin, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_machines_one_store_create_one_issue() {
    two_machines_one_store(Kind::Postgres, "postgres_two_machines").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_two_machines_one_store_create_one_issue() {
    two_machines_one_store(Kind::Mysql, "mysql_two_machines").await;
}
