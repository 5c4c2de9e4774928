//! Micro-benchmarks of the SQLite index every file backend reads through: a search text
//! turned into an FTS5 expression, and search and list on a small in-memory index (the query
//! paths without the disk; `devlog-bench` measures them on large stores).
//!
//! ```text
//! cargo bench -p devlog-store --bench index
//! ```

use devlog_core::entry::{EntryType, NoteCategory, Priority, Status};
use devlog_core::store::{Filter, ListQuery, SearchQuery};
use devlog_store::index::{SqlIndex, fts_expression};
use devlog_testkit::EntryBuilder;
use divan::{Bencher, black_box};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

const WORDS: &[&str] = &[
    "service",
    "returns",
    "timeout",
    "users",
    "request",
    "large",
    "pages",
    "index",
    "missing",
    "batch",
    "writes",
    "latency",
    "deploy",
    "memory",
    "webhook",
    "signature",
    "database",
    "migration",
    "locks",
    "kubernetes",
    "pod",
    "restarts",
];

#[divan::bench(args = ["timeout", "kubernetes pod restarts", "\"quoted\" AND (ops) -x*"])]
fn fts_expression_of(text: &str) -> Option<String> {
    fts_expression(black_box(text))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// An in-memory index of `n` entries with varied text, status and type.
fn index(rt: &Runtime, n: usize) -> SqlIndex {
    rt.block_on(async {
        let index = SqlIndex::open_in_memory("sqlite")
            .await
            .expect("in-memory index");
        let mut tx = index.begin_write().await.expect("write transaction");
        for i in 0..n {
            let text: Vec<&str> = (0..24)
                .map(|k| WORDS[(i * 7 + k * 5) % WORDS.len()])
                .collect();
            let e = EntryBuilder::new(&format!("Fix the {} ({i})", WORDS[i % WORDS.len()]))
                .handle(i as u64 + 1)
                .kind(EntryType::ALL[i % EntryType::ALL.len()])
                .status(Status::ALL[i % Status::ALL.len()])
                .priority(Priority::ALL[i % Priority::ALL.len()])
                .times(i as i64, i as i64 + 30)
                .description(&format!("The {}.", text.join(" ")))
                .note(NoteCategory::Progress, &text[..12].join(" "))
                .build();
            index.upsert(&mut tx, &e, None).await.expect("upsert");
        }
        tx.commit().await.expect("commit");
        index
    })
}

#[divan::bench(args = ["timeout", "kubernetes pod", "the"])]
fn search(bencher: Bencher, text: &str) {
    let rt = runtime();
    let index = index(&rt, 2000);
    let q = SearchQuery {
        text: text.into(),
        ..SearchQuery::default()
    };
    bencher.bench_local(|| rt.block_on(index.search(black_box(&q))).expect("search"));
}

#[divan::bench]
fn list_newest(bencher: Bencher) {
    let rt = runtime();
    let index = index(&rt, 2000);
    let q = ListQuery::default();
    bencher.bench_local(|| rt.block_on(index.list(black_box(&q))).expect("list"));
}

#[divan::bench]
fn list_open_filtered(bencher: Bencher) {
    let rt = runtime();
    let index = index(&rt, 2000);
    let q = ListQuery {
        filter: Filter {
            status: vec![Status::InProgress],
            kind: vec![EntryType::Bugfix],
            open_only: true,
            ..Filter::default()
        },
        ..ListQuery::default()
    };
    bencher.bench_local(|| rt.block_on(index.list(black_box(&q))).expect("list"));
}
