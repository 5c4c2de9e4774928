//! The reports' reads on every backend: `Store::tag_counts` against a recount of
//! `Store::all()`, and every report computed from a `ReportIndex` (the server's in-memory
//! view, refreshed from the change feed) against the same report read from the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::event::{Origin, WriteMeta};
use devlog_core::id::EntryId;
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::planning::NewMilestone;
use devlog_core::reports::{By, Report, ReportIndex, ReportName, ReportQuery, ScopeChangeKind};
use devlog_core::store::{Filter, NO_TAG, Store, tag_counts_of};
use devlog_core::time::Timestamp;

use super::Opener;
use crate::{EntryBuilder, ManualClock, ts};

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

/// Tag counts of the entries passing `f`, recounted from every stored entry.
async fn recount(store: &dyn Store, f: &Filter) -> BTreeMap<String, u64> {
    let all: Vec<_> = store
        .all()
        .await
        .unwrap()
        .iter()
        .map(|e| e.summary())
        .filter(|e| f.matches(e))
        .collect();
    tag_counts_of(&all)
}

pub async fn tag_counts_match_a_recount(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = cli();
    let tags: &[&[&str]] = &[
        &[],
        &["ui"],
        &["UI"],
        &["ui", "api"],
        &["api"],
        &["infra", "größe"],
        &["größe"],
        &[],
        &["a tag with spaces", "ui"],
        &["api", "infra", "docs"],
    ];
    for (i, t) in tags.iter().enumerate() {
        let mut b = EntryBuilder::new(&format!("entry {i}"))
            .kind(if i % 2 == 0 {
                EntryType::Task
            } else {
                EntryType::Bugfix
            })
            .status(if i % 3 == 0 {
                Status::Done
            } else {
                Status::New
            })
            .times(i as i64 * 10, i as i64 * 10 + 5);
        for tag in *t {
            b = b.tag(tag);
        }
        store.put_raw(b.build(), &meta).await.unwrap();
    }
    let filters = [
        Filter::default(),
        Filter {
            kind: vec![EntryType::Bugfix],
            ..Filter::default()
        },
        Filter {
            open_only: true,
            ..Filter::default()
        },
        Filter {
            tag: Some("ui".into()),
            ..Filter::default()
        },
        Filter {
            created_after: Some(ts(40)),
            ..Filter::default()
        },
        // Nothing passes.
        Filter {
            assignee: Some("nobody".into()),
            ..Filter::default()
        },
    ];
    for f in &filters {
        let got = store.tag_counts(f).await.unwrap();
        assert_eq!(got, recount(store.as_ref(), f).await, "filter {f:?}");
    }
    let all = store.tag_counts(&Filter::default()).await.unwrap();
    assert_eq!(all.get(NO_TAG), Some(&2));
    assert_eq!(all.get("ui"), Some(&3), "{all:?}");
    assert_eq!(
        all.get("UI"),
        Some(&1),
        "tags are counted case-sensitively: {all:?}"
    );
    assert_eq!(all.get("größe"), Some(&2), "{all:?}");
    assert!(store.tag_counts(&filters[5]).await.unwrap().is_empty());

    // After edits and a delete the counts follow.
    let first = store.all().await.unwrap()[1].id;
    let app = Devlog::new(store.clone());
    app.edit(
        first,
        Edit {
            add_tags: vec!["api".into()],
            remove_tags: vec!["ui".into()],
            ..Edit::default()
        },
        &meta,
    )
    .await
    .unwrap();
    let second = store.all().await.unwrap()[2].id;
    store.delete(second, &meta).await.unwrap();
    for f in &filters {
        let got = store.tag_counts(f).await.unwrap();
        assert_eq!(got, recount(store.as_ref(), f).await, "after edits, {f:?}");
    }
}

/// Every report, from the index and from the store, must be equal.
async fn check_reports(reader: &Devlog, index: &ReportIndex, when: &str) {
    let now = reader.clock().now();
    let day = |d: i64| Timestamp::from_millis(now.millis() + d * 86_400_000).unwrap();
    let mut queries: Vec<(ReportName, ReportQuery)> = Vec::new();
    for name in ReportName::ALL {
        queries.push((*name, ReportQuery::default()));
    }
    for by in [By::Day, By::Month] {
        for name in [
            ReportName::Throughput,
            ReportName::LeadTime,
            ReportName::CycleTime,
            ReportName::Wip,
        ] {
            queries.push((
                name,
                ReportQuery {
                    by: vec![by],
                    since: Some(day(-20)),
                    ..ReportQuery::default()
                },
            ));
        }
    }
    let narrowed = [
        Filter {
            tag: Some("ui".into()),
            ..Filter::default()
        },
        Filter {
            kind: vec![EntryType::Bugfix],
            open_only: true,
            ..Filter::default()
        },
        Filter {
            status: vec![Status::Done],
            ..Filter::default()
        },
        Filter {
            milestone: Some("m1".into()),
            ..Filter::default()
        },
        Filter {
            milestone: Some("m2".into()),
            priority: vec![Priority::High, Priority::Low],
            ..Filter::default()
        },
    ];
    for f in &narrowed {
        for name in [
            ReportName::Counts,
            ReportName::CycleTime,
            ReportName::TimeInStatus,
            ReportName::Wip,
            ReportName::Burndown,
        ] {
            queries.push((
                name,
                ReportQuery {
                    filter: f.clone(),
                    ..ReportQuery::default()
                },
            ));
        }
    }
    // A window that ends before the latest changes.
    queries.push((
        ReportName::TimeInStatus,
        ReportQuery {
            since: Some(day(-3)),
            until: Some(Timestamp::from_millis(now.millis() - 3_600_000).unwrap()),
            ..ReportQuery::default()
        },
    ));
    for (name, q) in &queries {
        let slow = reader.report(*name, q, None).await.unwrap();
        let fast = reader.report_indexed(index, *name, q, None).await.unwrap();
        assert_eq!(fast, slow, "{when}: {name} {q:?}");
    }
    // The comparison is of reports with something in them.
    let q = ReportQuery::default();
    let r = reader.report_indexed(index, ReportName::TimeInStatus, &q, None);
    let Report::TimeInStatus(t) = r.await.unwrap().report else {
        panic!("a time-in-status report")
    };
    assert!(
        t.with_history >= 20 && t.without_history >= 2,
        "{when}: {t:?}"
    );
    assert!(t.most_blocked.len() >= 2, "{when}: {t:?}");
    let r = reader.report_indexed(index, ReportName::CycleTime, &q, None);
    let Report::CycleTime(c) = r.await.unwrap().report else {
        panic!("a cycle-time report")
    };
    assert!(
        c.overall.count >= 3 && c.never_in_progress >= 3,
        "{when}: {c:?}"
    );
    let q = ReportQuery {
        filter: Filter {
            milestone: Some("m1".into()),
            ..Filter::default()
        },
        ..ReportQuery::default()
    };
    let r = reader.report_indexed(index, ReportName::Burndown, &q, None);
    let Report::Burndown(b) = r.await.unwrap().report else {
        panic!("a burndown")
    };
    assert!(
        b.scope_changes
            .iter()
            .any(|c| c.change == ScopeChangeKind::Removed),
        "{when}: {b:?}"
    );
}

pub async fn reports_from_an_index_match_reports_from_the_store(open: Opener, dir: &Path) {
    let store: Arc<dyn Store> = open(dir.to_path_buf()).await;
    let meta = cli();
    let writer = Devlog::new(store.clone());
    let clock = Arc::new(ManualClock::at(0));
    let reader = Devlog::with_clock(store.clone(), clock.clone());
    for m in ["m1", "m2"] {
        writer
            .create_milestone(NewMilestone {
                name: m.into(),
                ..NewMilestone::default()
            })
            .await
            .unwrap();
    }
    // Entries with their history in the feed, created through devlog.
    let mut ids: Vec<EntryId> = Vec::new();
    for i in 0..24usize {
        let e = writer
            .create(
                NewEntry {
                    title: format!("report entry {i}"),
                    kind: Some(EntryType::ALL[i % EntryType::ALL.len()]),
                    priority: Some(Priority::ALL[i % Priority::ALL.len()]),
                    tags: match i % 4 {
                        0 => vec![],
                        1 => vec!["ui".into()],
                        2 => vec!["ui".into(), "api".into()],
                        _ => vec!["infra".into()],
                    },
                    assignee: (i % 3 != 0).then(|| ["ana", "bo"][i % 2].to_string()),
                    milestone: match i % 5 {
                        0 | 1 => Some("m1".into()),
                        2 => Some("m2".into()),
                        _ => None,
                    },
                    ..NewEntry::default()
                },
                &meta,
            )
            .await
            .unwrap()
            .into_entry();
        ids.push(e.id);
    }
    let status = |id: EntryId, s: Status| {
        let writer = writer.clone();
        let meta = meta.clone();
        async move {
            writer
                .edit(
                    id,
                    Edit {
                        status: Some(s),
                        ..Edit::default()
                    },
                    &meta,
                )
                .await
                .unwrap();
        }
    };
    let milestone = |id: EntryId, m: &str| {
        let writer = writer.clone();
        let meta = meta.clone();
        let m = m.to_string();
        async move {
            writer
                .edit(
                    id,
                    Edit {
                        milestone: Some(m),
                        ..Edit::default()
                    },
                    &meta,
                )
                .await
                .unwrap();
        }
    };
    for (i, id) in ids.iter().enumerate() {
        match i % 6 {
            0 => {
                status(*id, Status::InProgress).await;
                status(*id, Status::Done).await;
            }
            1 => {
                status(*id, Status::InProgress).await;
                status(*id, Status::Blocked).await;
                status(*id, Status::InProgress).await;
            }
            2 => {
                status(*id, Status::InProgress).await;
                status(*id, Status::InReview).await;
                status(*id, Status::Done).await;
                status(*id, Status::InProgress).await; // reopened
            }
            3 => status(*id, Status::Done).await, // never in progress
            4 => status(*id, Status::Blocked).await,
            _ => {}
        }
    }
    // Milestone moves: into m2, out of m1, cleared.
    milestone(ids[0], "m2").await;
    milestone(ids[1], "none").await;
    milestone(ids[3], "m1").await;
    milestone(ids[5], "m1").await;
    milestone(ids[5], "m2").await;
    // Imported entries (no history from creation in the feed), inside the windows.
    let now_ms = writer.clock().now().millis();
    for i in 0..6i64 {
        let mut e = EntryBuilder::new(&format!("imported {i}"))
            .kind(EntryType::Task)
            .status(if i % 2 == 0 {
                Status::Done
            } else {
                Status::InProgress
            })
            .tag(if i % 3 == 0 { "ui" } else { "docs" })
            .build();
        e.created_at = Timestamp::from_millis(now_ms - (10 + i) * 86_400_000).unwrap();
        e.updated_at = Timestamp::from_millis(now_ms - (2 + i) * 86_400_000).unwrap();
        e.closed_at = e.status.is_closed().then_some(e.updated_at);
        if i < 3 {
            e.milestone = Some("m1".into());
        }
        store.put_raw(e, &meta).await.unwrap();
    }
    clock.set(writer.clock().now().millis() + 3_600_000);

    let mut index = ReportIndex::build(store.as_ref()).await.unwrap();
    assert_eq!(index.len(), 30);
    check_reports(&reader, &index, "after the build").await;
    assert!(!index.refresh(store.as_ref()).await.unwrap(), "nothing new");

    // Changes after the build: the refresh reads them from the feed.
    status(ids[4], Status::InProgress).await;
    status(ids[4], Status::Done).await;
    status(ids[9], Status::Closed).await;
    milestone(ids[10], "m1").await;
    milestone(ids[0], "none").await;
    writer
        .edit(
            ids[7],
            Edit {
                add_tags: vec!["api".into()],
                assignee: Some("chen".into()),
                ..Edit::default()
            },
            &meta,
        )
        .await
        .unwrap();
    store.delete(ids[8], &meta).await.unwrap();
    let late = writer
        .create(
            NewEntry {
                title: "created after the build".into(),
                kind: Some(EntryType::Bugfix),
                tags: vec!["ui".into()],
                milestone: Some("m1".into()),
                ..NewEntry::default()
            },
            &meta,
        )
        .await
        .unwrap()
        .into_entry();
    status(late.id, Status::InProgress).await;
    clock.set(writer.clock().now().millis() + 3_600_000);
    assert!(index.refresh(store.as_ref()).await.unwrap());
    assert_eq!(index.len(), 30, "one deleted, one created");
    check_reports(&reader, &index, "after a refresh").await;
    // The refreshed index equals a new one.
    let rebuilt = ReportIndex::build(store.as_ref()).await.unwrap();
    assert_eq!(rebuilt.seq(), index.seq());
    check_reports(&reader, &rebuilt, "rebuilt").await;
}
