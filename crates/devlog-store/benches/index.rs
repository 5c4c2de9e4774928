//! Micro-benchmarks of the SQLite index every file backend reads through: search and list on
//! a small in-memory index (the query paths without the disk; `devlog-bench` measures them on
//! large stores).
//!
//! ```text
//! cargo bench -p devlog-store --bench index
//! ```

use devlog_core::entry::{EntryType, Status};
use devlog_core::sample::{SampleRng, sample_entry};
use devlog_core::store::{Filter, ListQuery, SearchQuery};
use devlog_store::index::SqlIndex;
use divan::{Bencher, black_box};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// An in-memory index of `n` generated entries (`devlog_core::sample`).
fn index(rt: &Runtime, n: usize) -> SqlIndex {
    rt.block_on(async {
        let index = SqlIndex::open_in_memory("sqlite")
            .await
            .expect("in-memory index");
        let mut tx = index.begin_write().await.expect("write transaction");
        let mut rng = SampleRng(0x9e37_79b9_7f4a_7c15);
        for i in 0..n {
            let e = sample_entry(&mut rng, i);
            index.upsert(&mut tx, &e, None).await.expect("upsert");
        }
        tx.commit().await.expect("commit");
        index
    })
}

#[divan::bench(args = ["timeout", "kubernetes pod", "the", "t"])]
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
