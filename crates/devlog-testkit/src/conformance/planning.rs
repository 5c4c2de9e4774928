//! Conformance cases for planning (issue 16): due dates, milestones and worklogs, the same
//! on every backend. Time is pinned with [`ManualClock`] (2026-12-04 is a Friday).

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use devlog_core::entry::{EntryType, Status};
use devlog_core::error::{ErrorKind, StoreError};
use devlog_core::event::EventKind;
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::planning::{MilestoneState, NewMilestone, NewWorklog};
use devlog_core::store::{Filter, ListQuery, SortKey};

use super::{Opener, cli};
use crate::ManualClock;

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A use case layer at 2026-12-04 12:00 UTC.
async fn app_at(open: Opener, dir: &Path) -> Devlog {
    let noon = date("2026-12-04")
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    Devlog::with_clock(
        open(dir.to_path_buf()).await,
        Arc::new(ManualClock::at(noon)),
    )
}

fn entry(title: &str, due: Option<&str>, milestone: Option<&str>) -> NewEntry {
    NewEntry {
        title: title.into(),
        kind: Some(EntryType::Task),
        due: due.map(str::to_string),
        milestone: milestone.map(str::to_string),
        ..NewEntry::default()
    }
}

fn invalid(e: StoreError, field: &str) -> String {
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    match e {
        StoreError::Invalid { field: f, message } if f == field => message,
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}

async fn titles(app: &Devlog, q: ListQuery) -> Vec<String> {
    let page = app.store().list(&q).await.unwrap();
    // The backend's answer agrees with the filter's own rule.
    assert!(page.items.iter().all(|e| q.filter.matches(e)), "{q:?}");
    page.items.into_iter().map(|e| e.title).collect()
}

fn query(filter: Filter, sort: SortKey, ascending: bool) -> ListQuery {
    ListQuery {
        filter,
        sort,
        ascending,
        offset: 0,
        limit: 50,
    }
}

pub async fn due_dates_filter_sort_and_clear(open: Opener, dir: &Path) {
    let app = app_at(open, dir).await;
    let mk = |t: &'static str, due: Option<&'static str>| {
        let app = app.clone();
        async move {
            app.create(entry(t, due, None), &cli())
                .await
                .unwrap()
                .into_entry()
        }
    };
    let late = mk("late", Some("2026-12-01")).await;
    let friday = mk("friday", Some("friday")).await;
    let soon = mk("soon", Some("+3d")).await;
    let tomorrow = mk("tomorrow", Some("tomorrow")).await;
    mk("undated", None).await;
    let done_late = mk("done late", Some("2026-11-01")).await;
    app.complete(done_late.id, None, &cli()).await.unwrap();
    assert_eq!(late.due_date, Some(date("2026-12-01")));
    assert_eq!(friday.due_date, Some(date("2026-12-11")));
    assert_eq!(soon.due_date, Some(date("2026-12-07")));
    assert_eq!(tomorrow.due_date, Some(date("2026-12-05")));
    assert_eq!(tomorrow.summary().due_date, tomorrow.due_date);

    // Overdue: open work due before today.
    let overdue = app.overdue(Filter::default());
    assert_eq!(
        titles(&app, query(overdue, SortKey::Due, true)).await,
        ["late"]
    );
    // --due-before: strictly before the day, any status.
    let before = Filter {
        due_before: Some(date("2026-12-07")),
        ..Filter::default()
    };
    assert_eq!(
        titles(&app, query(before, SortKey::Due, true)).await,
        ["done late", "late", "tomorrow"]
    );
    // Sorted by due date, undated last in either direction.
    let all = Filter::default();
    assert_eq!(
        titles(&app, query(all.clone(), SortKey::Due, true)).await,
        ["done late", "late", "tomorrow", "soon", "friday", "undated"]
    );
    assert_eq!(
        titles(&app, query(all, SortKey::Due, false)).await,
        ["friday", "soon", "tomorrow", "late", "done late", "undated"]
    );
    // Due soon (the today view): open, within N days (the 7th included), overdue first.
    let soon_page = app.due_soon(7, 10).await.unwrap();
    let names: Vec<&str> = soon_page.items.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(names, ["late", "tomorrow", "soon", "friday"]);
    let soon_page = app.due_soon(6, 10).await.unwrap();
    assert_eq!(soon_page.total, 3, "friday is 7 days away");
    let today = app.today(10).await.unwrap();
    assert_eq!(today.due_soon.total, 4);

    // Edits: relative forms, `none` clears, bad input changes nothing and names the forms.
    let e = app
        .edit(
            soon.id,
            Edit {
                due: Some("next week".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(e.due_date, Some(date("2026-12-07")));
    let cleared = app
        .edit(
            late.id,
            Edit {
                due: Some("none".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(cleared.due_date, None);
    assert!(
        titles(
            &app,
            query(app.overdue(Filter::default()), SortKey::Due, true)
        )
        .await
        .is_empty()
    );
    let msg = invalid(
        app.edit(
            friday.id,
            Edit {
                due: Some("someday".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap_err(),
        "dueDate",
    );
    assert!(msg.contains("YYYY-MM-DD") && msg.contains("+3d"), "{msg}");
    assert_eq!(
        app.store().get(friday.id).await.unwrap().due_date,
        Some(date("2026-12-11"))
    );
    // The change is in the feed like any field's.
    let events = app.store().events(0, 1000).await.unwrap();
    assert!(events.iter().any(|ev| ev.entry_id == late.id
        && matches!(&ev.kind, EventKind::FieldChanged { field, .. } if field == "dueDate")));

    // The columns survive a reopen (and, for JSON, are rebuilt from the files).
    drop(app);
    let app = app_at(open, dir).await;
    assert_eq!(
        titles(
            &app,
            query(
                Filter {
                    due_before: Some(date("2026-12-06")),
                    open_only: true,
                    ..Filter::default()
                },
                SortKey::Due,
                true
            )
        )
        .await,
        ["tomorrow"]
    );
}

pub async fn milestones_group_entries_with_progress(open: Opener, dir: &Path) {
    let app = app_at(open, dir).await;
    assert!(app.list_milestones(true).await.unwrap().is_empty());
    let v1 = app
        .create_milestone(NewMilestone {
            name: "v1.0".into(),
            description: "first release".into(),
            due: Some("2026-12-03".into()),
        })
        .await
        .unwrap();
    assert_eq!((v1.key.as_str(), v1.state), ("v1-0", MilestoneState::Open));
    app.create_milestone(NewMilestone {
        name: "Later".into(),
        ..NewMilestone::default()
    })
    .await
    .unwrap();
    // Names are compared by their key: `V1 0` is `v1.0`.
    let dup = invalid(
        app.create_milestone(NewMilestone {
            name: "V1 0".into(),
            ..NewMilestone::default()
        })
        .await
        .unwrap_err(),
        "milestone",
    );
    assert!(dup.contains("exists"), "{dup}");

    let a = app
        .create(entry("a", Some("2026-12-01"), Some("V1.0")), &cli())
        .await
        .unwrap()
        .into_entry();
    assert_eq!(a.milestone.as_deref(), Some("v1.0"), "the canonical name");
    let b = app
        .create(entry("b", None, Some("v1.0")), &cli())
        .await
        .unwrap()
        .into_entry();
    app.create(entry("c", None, None), &cli()).await.unwrap();
    let d = app
        .create(entry("d", None, None), &cli())
        .await
        .unwrap()
        .into_entry();
    app.edit(
        d.id,
        Edit {
            milestone: Some("v1.0".into()),
            status: Some(Status::Done),
            ..Edit::default()
        },
        &cli(),
    )
    .await
    .unwrap();
    let unknown = invalid(
        app.create(entry("x", None, Some("v9")), &cli())
            .await
            .unwrap_err(),
        "milestone",
    );
    assert!(
        unknown.contains("v1.0") && unknown.contains("Later"),
        "{unknown}"
    );

    let list = app.list_milestones(false).await.unwrap();
    let names: Vec<&str> = list.iter().map(|p| p.milestone.name.as_str()).collect();
    assert_eq!(names, ["v1.0", "Later"], "dated first");
    let p = &list[0];
    assert_eq!((p.total, p.done, p.overdue, p.late), (3, 1, 1, true));
    assert_eq!((list[1].total, list[1].done), (0, 0));
    let entries = app.milestone_entries("v1.0", 0, 10).await.unwrap();
    let titles: Vec<&str> = entries.items.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(titles, ["a", "b", "d"]);
    let by_filter = app
        .store()
        .list(&query(
            Filter {
                milestone: Some("v1.0".into()),
                open_only: true,
                ..Filter::default()
            },
            SortKey::Handle,
            true,
        ))
        .await
        .unwrap();
    assert_eq!(by_filter.total, 2);

    // Leaving a milestone; closing one: it is listed only with closed ones and takes no
    // new entries until reopened.
    app.edit(
        b.id,
        Edit {
            milestone: Some("none".into()),
            ..Edit::default()
        },
        &cli(),
    )
    .await
    .unwrap();
    let closed = app
        .set_milestone_state("v1.0", MilestoneState::Closed)
        .await
        .unwrap();
    assert!(closed.closed_at.is_some());
    assert_eq!(app.list_milestones(false).await.unwrap().len(), 1);
    let refused = invalid(
        app.edit(
            b.id,
            Edit {
                milestone: Some("v1.0".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap_err(),
        "milestone",
    );
    assert!(refused.contains("reopen"), "{refused}");

    // Milestones live with the store.
    drop(app);
    let app = app_at(open, dir).await;
    let all = app.list_milestones(true).await.unwrap();
    assert_eq!(all.len(), 2);
    let v1 = all.iter().find(|p| p.milestone.key == "v1-0").unwrap();
    assert_eq!(v1.milestone.state, MilestoneState::Closed);
    assert_eq!(v1.milestone.description, "first release");
    assert_eq!((v1.total, v1.done, v1.late), (2, 1, false));
    let reopened = app
        .set_milestone_state("v1.0", MilestoneState::Open)
        .await
        .unwrap();
    assert_eq!(
        (reopened.state, reopened.closed_at),
        (MilestoneState::Open, None)
    );
}

/// An entry's story points are stored (created, edited, kept across a reopen), and anything
/// but a finite number ≥ 0 is refused naming `points`, nothing changed.
pub async fn points_are_kept_and_checked(open: Opener, dir: &Path) {
    let app = app_at(open, dir).await;
    let e = app
        .create(
            NewEntry {
                points: Some(3.0),
                ..entry("pointed", None, None)
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    assert_eq!(e.points, Some(3.0));
    let edited = app
        .edit(
            e.id,
            Edit {
                points: Some(5.5),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(edited.points, Some(5.5));
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let msg = invalid(
            app.edit(
                e.id,
                Edit {
                    points: Some(bad),
                    ..Edit::default()
                },
                &cli(),
            )
            .await
            .unwrap_err(),
            "points",
        );
        assert!(msg.contains("≥ 0"), "{bad}: {msg}");
        invalid(
            app.create(
                NewEntry {
                    points: Some(bad),
                    ..entry("bad points", None, None)
                },
                &cli(),
            )
            .await
            .unwrap_err(),
            "points",
        );
    }
    let reopened = app_at(open, dir).await;
    assert_eq!(reopened.store().get(e.id).await.unwrap().points, Some(5.5));
}

pub async fn worklogs_sum_into_actual_hours(open: Opener, dir: &Path) {
    let app = app_at(open, dir).await;
    let e = app
        .create(entry("timed", None, None), &cli())
        .await
        .unwrap()
        .into_entry();
    // Hours set by hand before there are worklogs are the entry's own.
    app.edit(
        e.id,
        Edit {
            actual_hours: Some(9.0),
            estimated_hours: Some(4.0),
            ..Edit::default()
        },
        &cli(),
    )
    .await
    .unwrap();
    let log = |d: &str, date: Option<&str>, note: &str| NewWorklog {
        duration: d.into(),
        date: date.map(str::to_string),
        note: note.into(),
        author: None,
    };
    let meta = cli().with_actor(Some("ana".into()));
    let (_, first) = app
        .log_time(e.id, log("1h30m", None, "pairing"), &meta)
        .await
        .unwrap();
    assert_eq!(
        (first.minutes, first.date, first.author.as_str()),
        (90, date("2026-12-04"), "ana")
    );
    let (after, _) = app
        .log_time(e.id, log("45m", Some("yesterday"), ""), &cli())
        .await
        .unwrap();
    assert_eq!(after.worklogs.len(), 2);
    assert_eq!(
        after.actual_hours,
        Some(2.25),
        "the sum replaces the hand value"
    );
    assert_eq!(after.estimated_hours, Some(4.0));
    assert_eq!(after.worklogs[1].date, date("2026-12-03"));

    for (bad, field, says) in [
        ("25h", "duration", "24h"),
        ("-1h", "duration", "negative"),
        ("soon", "duration", "1h30m"),
    ] {
        let msg = invalid(
            app.log_time(e.id, log(bad, None, ""), &cli())
                .await
                .unwrap_err(),
            field,
        );
        assert!(msg.contains(says), "{bad}: {msg}");
    }
    let future = invalid(
        app.log_time(e.id, log("1h", Some("2026-12-05"), ""), &cli())
            .await
            .unwrap_err(),
        "date",
    );
    assert!(future.contains("future"), "{future}");
    let by_hand = invalid(
        app.edit(
            e.id,
            Edit {
                actual_hours: Some(1.0),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap_err(),
        "actualHours",
    );
    assert!(
        by_hand.contains("2h15m") && by_hand.contains("log-time"),
        "{by_hand}"
    );

    drop(app);
    let app = app_at(open, dir).await;
    let stored = app.store().get(e.id).await.unwrap();
    assert_eq!(stored.worklogs.len(), 2, "bad input changed nothing");
    assert_eq!(stored.worklogs[0].note, "pairing");
    assert_eq!(stored.actual_hours, Some(2.25));
    assert_eq!(devlog_core::planning::logged_minutes(&stored), 135);
}
