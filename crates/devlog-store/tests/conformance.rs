//! The Store conformance suite against the `json` and `sqlite` backends.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod json {
    devlog_testkit::store_conformance!(|dir| Box::pin(async move {
        std::sync::Arc::new(
            devlog_store::JsonStore::open(&dir.join(".devlog"))
                .await
                .unwrap(),
        ) as std::sync::Arc<dyn devlog_core::Store>
    }));
}

mod sqlite {
    devlog_testkit::store_conformance!(|dir| Box::pin(async move {
        std::sync::Arc::new(
            devlog_store::SqliteStore::open(&dir.join("devlog.sqlite"))
                .await
                .unwrap(),
        ) as std::sync::Arc<dyn devlog_core::Store>
    }));
}
