//! The sync engine (devlog-sync) over a JSON store, with `AdoIntegration` against the test
//! kit's fake Azure DevOps: entries are created once (a create whose answer is lost is found
//! by its marker tag, never duplicated), a second sync changes nothing on either side (the
//! HTML descriptions and tags read back without churn), a change made in Azure DevOps comes
//! back to the entry, and notes ⇄ comments go both ways once.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
use devlog_core::entry::{EntryType, NoteCategory, Priority};
use devlog_core::ops::{Devlog, NewEntry, NewNote};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
use devlog_testkit::fake_remote::Fault;
use serde_json::json;

struct Rig {
    app: Devlog,
    engine: SyncEngine,
    probe: AdoProbe,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    rig_on(FakeProcess::Agile).await
}

async fn rig_on(process: FakeProcess) -> Rig {
    let probe = AdoProbe::start("acme", "Fabrikam", process).await;
    let config = AdoConfig::new(
        &probe.organization_url(),
        "Fabrikam",
        AdoAuth::Pat(SecretString::from("ado_engine_pat_4321".to_string())),
    )
    .unwrap();
    let mut config = config;
    config.service_hook_secret = Some(SecretString::from("hook-s3cret".to_string()));
    let ado = AdoIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(ado)],
        SyncOptions::default(),
    );
    Rig {
        app: Devlog::new(store),
        engine,
        probe,
        _dir: dir,
    }
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_sync_once_without_churn_and_remote_changes_come_back() {
    let r = rig().await;
    let e = r
        .app
        .create(
            NewEntry {
                title: "Fix the login timeout".into(),
                kind: Some(EntryType::Bugfix),
                description: "Users see a **timeout** after `30s`.\n\n- on slow networks\n- on VPN"
                    .into(),
                priority: Some(Priority::High),
                business_context: "Users drop off.".into(),
                acceptance_criteria: vec!["No timeout under 60s".into()],
                tags: vec!["auth".into(), "login".into()],
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    let other = r
        .app
        .create(
            NewEntry {
                title: "Write the docs".into(),
                kind: Some(EntryType::Docs),
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    // The docs entry's create answer is lost (a Task): Azure DevOps made the item, devlog
    // never heard.
    r.probe.remote.state().inject(
        Fault::on("POST /acme/Fabrikam/_apis/wit/workitems/$Task")
            .apply_then_drop()
            .times(1),
    );
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, 1, "{rep:?}");
    assert_eq!(rep.failed.len(), 1, "{rep:?}");
    assert!(rep.failed[0].contains("no response"), "{rep:?}");
    // The next sync finds it by its marker instead of creating it again.
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    assert_eq!(r.probe.ado.items().len(), 2, "{:?}", r.probe.ado.items());
    let mut markers: Vec<String> = r
        .probe
        .ado
        .items()
        .iter()
        .map(|w| w.str_field("System.Tags").to_string())
        .collect();
    markers.sort();
    let mut expected = vec![
        format!("auth; devlog:{}; login", e.id),
        format!("devlog:{}", other.id),
    ];
    expected.sort();
    assert_eq!(markers, expected);
    assert_eq!(
        rep.applied, 1,
        "the lost create is adopted by the pull: {rep:?}"
    );
    let work_item = r
        .probe
        .ado
        .items()
        .iter()
        .find(|w| w.str_field("System.Tags").contains(&e.id.to_string()))
        .unwrap()
        .id;

    // Idle: nothing changes on either side, and no write is sent.
    let writes = |r: &Rig| {
        r.probe
            .remote
            .state()
            .requests_matching("POST /acme/Fabrikam/_apis/wit/workitems/*")
            .len()
            + r.probe.remote.state().requests_matching("PATCH /**").len()
    };
    let before = writes(&r);
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(
        (
            rep.created,
            rep.updated,
            rep.applied,
            rep.conflicts,
            rep.failed.len()
        ),
        (0, 0, 0, 0, 0),
        "{rep:?}"
    );
    assert_eq!(writes(&r), before);
    let again = r.app.store().get(e.id).await.unwrap();
    assert_eq!(again.description, e.description);
    assert_eq!(again.tags, e.tags);

    // A change made in Azure DevOps comes back to the entry.
    r.probe.ado.edit_item(work_item, |f| {
        f.insert("System.Title".into(), json!("Fix the login timeout on VPN"));
        f.insert("System.State".into(), json!("Active"));
    });
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    let pulled = r.app.store().get(e.id).await.unwrap();
    assert_eq!(pulled.title, "Fix the login timeout on VPN");
    assert_eq!(pulled.status, devlog_core::entry::Status::InProgress);
    assert_eq!(pulled.description, e.description);

    // A note becomes one comment; a comment written there becomes a note.
    r.app
        .add_note(
            e.id,
            NewNote {
                content: "Reproduced on VPN.".into(),
                category: NoteCategory::Progress,
                files: Vec::new(),
                code_changes: None,
            },
            &cli(),
        )
        .await
        .unwrap();
    r.engine.sync(None, None, &quiet).await.unwrap();
    r.engine.sync(None, None, &quiet).await.unwrap();
    let comments = r.probe.ado.comments(work_item);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].text.contains("Reproduced on VPN."),
        "{comments:?}"
    );
    r.probe.ado.add_comment(
        work_item,
        "ann@example.com",
        "<div>Confirmed on <b>Wi-Fi</b> too</div>",
    );
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    let noted = r.app.store().get(e.id).await.unwrap();
    let texts: Vec<(&str, NoteCategory)> = noted
        .notes
        .iter()
        .map(|n| (n.content.as_str(), n.category))
        .collect();
    assert_eq!(
        texts,
        [
            ("Reproduced on VPN.", NoteCategory::Progress),
            ("Confirmed on **Wi-Fi** too", NoteCategory::Feedback)
        ]
    );
    // And nothing echoes back: one comment each, no more.
    r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(r.probe.ado.comments(work_item).len(), 2);
    assert_eq!(r.app.store().get(e.id).await.unwrap().notes.len(), 2);
}

/// A service hook delivery with the Basic password `hook-s3cret`.
fn hook(payload: &serde_json::Value) -> devlog_core::integration::Webhook {
    devlog_core::integration::Webhook {
        headers: vec![(
            "authorization".into(),
            // devops:hook-s3cret
            "Basic ZGV2b3BzOmhvb2stczNjcmV0".into(),
        )],
        body: serde_json::to_vec(payload).unwrap(),
        query: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_hooks_apply_once_per_event() {
    let r = rig().await;
    let e = r
        .app
        .create(
            NewEntry {
                title: "Hooked".into(),
                kind: Some(EntryType::Bugfix),
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, 1, "{rep:?}");
    let id = r.probe.ado.items()[0].id;
    r.probe.ado.edit_item(id, |f| {
        f.insert(
            "System.Title".into(),
            json!("Hooked, renamed in Azure DevOps"),
        );
    });
    // workitem.updated (its shape from the official example) about that item.
    let updated = json!({
        "id": "27646e0e-b520-4d2b-9411-bba7524947cd",
        "eventType": "workitem.updated",
        "resource": {"id": 2, "workItemId": id, "rev": 2,
                     "revision": {"id": id, "rev": 2, "fields": {"System.TeamProject": "Fabrikam"}}},
    });
    let first = r
        .engine
        .webhook("azure-devops", &hook(&updated))
        .await
        .unwrap();
    assert_eq!(first.applied, 1, "{first:?}");
    let back = r.app.store().get(e.id).await.unwrap();
    assert_eq!(back.title, "Hooked, renamed in Azure DevOps");
    // A redelivery (same event id) is applied once.
    let again = r
        .engine
        .webhook("azure-devops", &hook(&updated))
        .await
        .unwrap();
    assert_eq!(again.applied + again.actions_applied, 0, "{again:?}");
    // A push whose commit mentions the work item adds one progress note, even when the same
    // commit comes again in another event.
    for event in ["cd159468-0509-48d9-960d-6f3ba627fd06", "another-event-id"] {
        let push = json!({
            "id": event,
            "eventType": "git.push",
            "resource": {
                "commits": [{"commitId": "c8e823a60a85381732726d6a9b6a276e71e6ce12",
                             "comment": format!("Fix the hook (#{id})"),
                             "author": {"name": "Ann", "date": "2025-01-02T03:04:05Z"}}],
                "refUpdates": [{"name": "refs/heads/main"}],
                "repository": {"name": "Fabrikam", "project": {"name": "Fabrikam"},
                               "remoteUrl": "https://dev.azure.com/acme/Fabrikam/_git/Fabrikam"},
            },
        });
        r.engine
            .webhook("azure-devops", &hook(&push))
            .await
            .unwrap();
    }
    let back = r.app.store().get(e.id).await.unwrap();
    let notes: Vec<&str> = back
        .notes
        .iter()
        .filter(|n| n.category == NoteCategory::Progress)
        .map(|n| n.content.as_str())
        .collect();
    assert_eq!(
        notes,
        ["Commit c8e823a6 pushed to main: Fix the hook (#".to_string() + &id.to_string() + ")"]
    );
    // A wrong password is refused before anything is read.
    let mut bad = hook(&updated);
    bad.headers[0].1 = "Basic ZGV2b3BzOndyb25n".into();
    let err = r.engine.webhook("azure-devops", &bad).await.unwrap_err();
    assert_eq!(err.kind, devlog_core::integration::SyncErrorKind::Auth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_logged_time_due_dates_and_acceptance_criteria_sync_both_ways() {
    let r = rig().await;
    let e = r
        .app
        .create(
            NewEntry {
                title: "Harden the login".into(),
                kind: Some(EntryType::Bugfix),
                acceptance_criteria: vec!["Locks after 5 tries".into(), "Says <why>".into()],
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    let set = |f: Box<dyn Fn(&mut devlog_core::entry::Entry) + Send + Sync>| {
        let store = r.app.store().clone();
        async move {
            store
                .update(e.id, &cli(), &mut |x| {
                    f(x);
                    Ok(())
                })
                .await
                .unwrap()
        }
    };
    set(Box::new(|x| {
        x.estimated_hours = Some(8.0);
        x.due_date = chrono::NaiveDate::from_ymd_opt(2026, 4, 1);
    }))
    .await;
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.created, rep.failed.len()), (1, 0), "{rep:?}");
    let item = r.probe.ado.items()[0].clone();
    let f = |w: &devlog_testkit::fake_ado::AdoWorkItem, k: &str| {
        w.fields.get(k).cloned().unwrap_or(serde_json::Value::Null)
    };
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.OriginalEstimate"),
        json!(8.0)
    );
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.RemainingWork"),
        json!(8.0)
    );
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.DueDate"),
        json!("2026-04-01T00:00:00Z")
    );
    let ac = item
        .str_field("Microsoft.VSTS.Common.AcceptanceCriteria")
        .to_string();
    assert!(
        ac.contains("<li>Locks after 5 tries</li>") && ac.contains("&lt;why&gt;"),
        "{ac}"
    );

    // Idle: the fields read back as written, nothing is sent.
    let patches = |r: &Rig| r.probe.remote.state().requests_matching("PATCH /**").len();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(
        (rep.updated, rep.applied, rep.conflicts),
        (0, 0, 0),
        "{rep:?}"
    );
    assert_eq!(patches(&r), 0);

    // Local changes go out in one patch: remaining work follows, a cleared date is removed.
    set(Box::new(|x| {
        x.estimated_hours = Some(10.0);
        x.actual_hours = Some(3.5);
        x.due_date = None;
        x.context
            .acceptance_criteria
            .push("Unlocks after 15 min".into());
    }))
    .await;
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.updated, rep.failed.len()), (1, 0), "{rep:?}");
    assert_eq!(patches(&r), 1);
    let item = r.probe.ado.item(item.id).unwrap();
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.OriginalEstimate"),
        json!(10.0)
    );
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.CompletedWork"),
        json!(3.5)
    );
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.RemainingWork"),
        json!(6.5)
    );
    assert!(
        !item
            .fields
            .contains_key("Microsoft.VSTS.Scheduling.DueDate"),
        "{item:?}"
    );
    assert!(
        item.str_field("Microsoft.VSTS.Common.AcceptanceCriteria")
            .contains("<li>Unlocks after 15 min</li>")
    );
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.updated, rep.applied), (0, 0), "no echo: {rep:?}");

    // Changes made in Azure DevOps come back: a numbered list typed in the editor, a date
    // picked at midnight in UTC+2, another estimate; nothing is echoed.
    r.probe.ado.edit_item(item.id, |w| {
        w.insert(
            "Microsoft.VSTS.Common.AcceptanceCriteria".into(),
            json!("<div>1. Locks after 5 tries</div><div><br></div><div>2. Emails the owner</div>"),
        );
        w.insert(
            "Microsoft.VSTS.Scheduling.DueDate".into(),
            json!("2026-04-30T22:00:00Z"),
        );
        w.insert(
            "Microsoft.VSTS.Scheduling.OriginalEstimate".into(),
            json!(12),
        );
    });
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(
        (rep.applied, rep.conflicts, rep.failed.len()),
        (1, 0, 0),
        "{rep:?}"
    );
    let got = r.app.store().get(e.id).await.unwrap();
    assert_eq!(
        got.context.acceptance_criteria,
        ["Locks after 5 tries", "Emails the owner"]
    );
    assert_eq!(got.due_date, chrono::NaiveDate::from_ymd_opt(2026, 5, 1));
    assert_eq!(
        (got.estimated_hours, got.actual_hours),
        (Some(12.0), Some(3.5))
    );
    let before = patches(&r);
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.updated, rep.applied), (0, 0), "{rep:?}");
    assert_eq!(patches(&r), before);

    // Both sides change different fields: a three-way merge keeps both.
    set(Box::new(|x| x.actual_hours = Some(5.0))).await;
    r.probe.ado.edit_item(item.id, |w| {
        w.insert(
            "Microsoft.VSTS.Scheduling.OriginalEstimate".into(),
            json!(20),
        );
    });
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.conflicts, rep.failed.len()), (0, 0), "{rep:?}");
    let got = r.app.store().get(e.id).await.unwrap();
    assert_eq!(
        (got.estimated_hours, got.actual_hours),
        (Some(20.0), Some(5.0))
    );
    let item = r.probe.ado.item(item.id).unwrap();
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.CompletedWork"),
        json!(5.0)
    );
    assert_eq!(
        f(&item, "Microsoft.VSTS.Scheduling.RemainingWork"),
        json!(15.0)
    );
    assert!(r.probe.ado.check_contract().is_empty());
}

/// devlog's own creates move the pull cursor (issue 19.4): the sync right after a sync that
/// created N items costs WIQL and ceil(N / 200) batches of revisions only, not a read back
/// of everything created; an edit someone made to one of them meanwhile (a new revision) is
/// still pulled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_after_creating_items_does_not_read_them_back() {
    const N: usize = 300;
    let r = rig().await;
    let mut ids = Vec::new();
    for n in 0..N {
        let e = r
            .app
            .create(
                NewEntry {
                    title: format!("Entry {n}"),
                    kind: Some(EntryType::Task),
                    ..NewEntry::default()
                },
                &cli(),
            )
            .await
            .unwrap()
            .into_entry();
        ids.push(e.id);
    }
    let requests = || r.probe.remote.state().requests().len();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, N as u64, "{rep:?}");
    // 300 creates are 300 s of the fake's clock: without the own writes counted as seen, the
    // next pull would read all of them back (WIQL + 2 full batches + metadata). With them:
    // WIQL and ceil(300 / 200) = 2 batches asking only `System.Rev`.
    let before = requests();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created + rep.updated + rep.applied, 0, "{rep:?}");
    let spent: Vec<_> = r.probe.remote.state().requests()[before..].to_vec();
    let described: Vec<String> = spent
        .iter()
        .map(|q| {
            format!(
                "{} {} {}",
                q.method,
                q.path,
                String::from_utf8_lossy(&q.body)
            )
        })
        .collect();
    assert_eq!(spent.len(), 1 + N.div_ceil(200), "{described:#?}");
    assert!(spent[0].path.ends_with("/wit/wiql"), "{described:#?}");
    for q in &spent[1..] {
        assert!(q.path.ends_with("/wit/workitemsbatch"), "{described:#?}");
        let body: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
        assert_eq!(body["fields"], json!(["System.Rev"]), "{described:#?}");
    }
    let before = requests();
    r.engine.sync(None, None, &quiet).await.unwrap();
    assert!(requests() - before <= 2);

    // Created again, then edited by someone after devlog's writes (it moves behind later
    // ones): a new revision, so it is read.
    let more: Vec<_> = {
        let mut v = Vec::new();
        for n in 0..N {
            let e = r
                .app
                .create(
                    NewEntry {
                        title: format!("Second {n}"),
                        kind: Some(EntryType::Task),
                        ..NewEntry::default()
                    },
                    &cli(),
                )
                .await
                .unwrap()
                .into_entry();
            v.push(e.id);
        }
        v
    };
    r.engine.sync(None, None, &quiet).await.unwrap();
    let items = r.probe.ado.items();
    let work_item = |title: &str| {
        items
            .iter()
            .find(|w| w.str_field("System.Title") == title)
            .unwrap()
            .clone()
    };
    let first = work_item("Second 0");
    let fifth = work_item("Second 5");
    r.probe.ado.edit_item(first.id, |f| {
        f.insert("System.Title".into(), json!("Second 0, renamed there"));
    });
    r.probe.ado.set_changed(
        first.id,
        fifth.changed + chrono::Duration::milliseconds(500),
    );
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    let pulled = r.app.store().get(more[0]).await.unwrap();
    assert_eq!(pulled.title, "Second 0, renamed there");
    assert!(r.probe.ado.check_contract().is_empty());
}

/// devlog writes A, someone edits A in Azure DevOps, devlog writes B: WIQL answers A, B in
/// the order devlog wrote them, yet A's edit is pulled (an own write is trusted only at the
/// revision devlog wrote, never by its place in the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_between_two_of_devlogs_own_writes_is_pulled() {
    // More creates than the pull's overlap (a second each on the fake's clock): A and B are
    // older than it, where the own writes are not read back.
    const N: usize = 150;
    let r = rig().await;
    let mut ids = Vec::new();
    for n in 0..N {
        let e = r
            .app
            .create(
                NewEntry {
                    title: format!("Entry {n}"),
                    kind: Some(EntryType::Task),
                    ..NewEntry::default()
                },
                &cli(),
            )
            .await
            .unwrap()
            .into_entry();
        ids.push(e.id);
    }
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, N as u64, "{rep:?}");
    let mut items = r.probe.ado.items();
    items.sort_by_key(|w| (w.changed, w.id));
    let (a, b) = (items[0].clone(), items[1].clone());
    assert!(a.changed < b.changed);
    // The edit lands between devlog's writes of A (t1) and B (t3): same order in WIQL.
    r.probe.ado.edit_item(a.id, |f| {
        f.insert("System.Title".into(), json!("A, renamed in Azure DevOps"));
    });
    let t2 = a.changed + (b.changed - a.changed) / 2;
    r.probe.ado.set_changed(a.id, t2);

    let requests = || r.probe.remote.state().requests().len();
    let before = requests();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    assert_eq!(rep.applied, 1, "{rep:?}");
    let marker = |w: &devlog_testkit::fake_ado::AdoWorkItem| {
        w.str_field("System.Tags")
            .split(';')
            .map(str::trim)
            .find_map(|t| t.strip_prefix("devlog:"))
            .unwrap()
            .to_string()
    };
    let entry = ids
        .iter()
        .find(|id| id.to_string() == marker(&a))
        .copied()
        .unwrap();
    let pulled = r.app.store().get(entry).await.unwrap();
    assert_eq!(pulled.title, "A, renamed in Azure DevOps");
    // B and the rest, still at the revision devlog wrote, were not read in full: WIQL, one
    // batch of revisions, A read (metadata, its batch), never a batch of all N.
    let full_batches = r.probe.remote.state().requests()[before..]
        .iter()
        .filter(|q| q.path.ends_with("/wit/workitemsbatch"))
        .filter_map(|q| serde_json::from_slice::<serde_json::Value>(&q.body).ok())
        .filter(|b| b["fields"] != json!(["System.Rev"]))
        .map(|b| b["ids"].as_array().map_or(0, Vec::len))
        .collect::<Vec<_>>();
    assert_eq!(full_batches, vec![1], "{full_batches:?}");

    // And nothing is pulled twice.
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created + rep.updated + rep.applied, 0, "{rep:?}");
    assert!(r.probe.ado.check_contract().is_empty());
}

/// An entry's points go to the process's points field both ways (Agile StoryPoints, Scrum
/// and Basic Effort, CMMI Size), only on types that have it (a Task has none: not sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_sync_with_the_process_points_field() {
    for (process, field) in [
        (FakeProcess::Agile, "Microsoft.VSTS.Scheduling.StoryPoints"),
        (FakeProcess::Scrum, "Microsoft.VSTS.Scheduling.Effort"),
        (FakeProcess::Basic, "Microsoft.VSTS.Scheduling.Effort"),
        (FakeProcess::Cmmi, "Microsoft.VSTS.Scheduling.Size"),
    ] {
        let r = rig_on(process).await;
        let mk = |title: &str, kind: EntryType| NewEntry {
            title: title.into(),
            kind: Some(kind),
            points: Some(5.0),
            ..NewEntry::default()
        };
        let story = r
            .app
            .create(mk("Sign in with SSO", EntryType::Feature), &cli())
            .await
            .unwrap()
            .into_entry();
        let task = r
            .app
            .create(mk("Wire the callback", EntryType::Task), &cli())
            .await
            .unwrap()
            .into_entry();
        let rep = r.engine.sync(None, None, &quiet).await.unwrap();
        assert_eq!(
            (rep.created, rep.failed.len()),
            (2, 0),
            "{process:?}: {rep:?}"
        );
        let items = r.probe.ado.items();
        let by_title = |t: &str| {
            items
                .iter()
                .find(|w| w.str_field("System.Title") == t)
                .unwrap()
                .clone()
        };
        let (s_item, t_item) = (by_title("Sign in with SSO"), by_title("Wire the callback"));
        assert_eq!(
            s_item.fields.get(field),
            Some(&json!(5.0)),
            "{process:?}: {s_item:?}"
        );
        assert!(
            !t_item
                .fields
                .keys()
                .any(|k| k.contains("StoryPoints") || k.contains("Effort") || k.contains("Size")),
            "{process:?}: {t_item:?}"
        );
        // Changed locally: one patch; changed there: back on the entry; no echo.
        r.app
            .store()
            .update(story.id, &cli(), &mut |x| {
                x.points = Some(8.0);
                Ok(())
            })
            .await
            .unwrap();
        let rep = r.engine.sync(None, None, &quiet).await.unwrap();
        assert_eq!(
            (rep.updated, rep.failed.len()),
            (1, 0),
            "{process:?}: {rep:?}"
        );
        assert_eq!(
            r.probe.ado.item(s_item.id).unwrap().fields.get(field),
            Some(&json!(8.0))
        );
        r.probe.ado.edit_item(s_item.id, |w| {
            w.insert(field.into(), json!(13));
        });
        let rep = r.engine.sync(None, None, &quiet).await.unwrap();
        assert_eq!(
            (rep.applied, rep.conflicts, rep.failed.len()),
            (1, 0, 0),
            "{process:?}: {rep:?}"
        );
        assert_eq!(
            r.app.store().get(story.id).await.unwrap().points,
            Some(13.0)
        );
        // The task keeps its points: its type has no field for them.
        assert_eq!(r.app.store().get(task.id).await.unwrap().points, Some(5.0));
        let rep = r.engine.sync(None, None, &quiet).await.unwrap();
        assert_eq!(
            (rep.updated, rep.applied),
            (0, 0),
            "{process:?}: no echo: {rep:?}"
        );
        assert!(r.probe.ado.check_contract().is_empty());
    }
}

/// The board column and iteration of a linked item are kept on the entry's reference by a
/// pull (issue 19.5), and updated only when they change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_column_is_kept_on_the_entry() {
    let r = rig().await;
    let e = r
        .app
        .create(
            NewEntry {
                title: "Board me".into(),
                kind: Some(EntryType::Feature),
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    r.engine.sync(None, None, &quiet).await.unwrap();
    let id = r.probe.ado.items()[0].id;
    r.probe.ado.edit_item(id, |f| {
        f.insert("System.BoardColumn".into(), json!("Doing"));
        f.insert("System.BoardColumnDone".into(), json!(true));
    });
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 0, "{rep:?}");
    let got = r.app.store().get(e.id).await.unwrap();
    let reference = got
        .external_references
        .iter()
        .find(|x| x.system == "azure-devops")
        .unwrap();
    let board = reference.board.clone().unwrap();
    assert_eq!(board.column.as_deref(), Some("Doing"));
    assert!(board.column_done);
    assert_eq!(board.iteration.as_deref(), Some("Fabrikam"));
    assert_eq!(board.to_string(), "column Doing (done), iteration Fabrikam");
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(
        json["externalReferences"][0]["board"],
        json!({"column": "Doing", "columnDone": true, "iteration": "Fabrikam"})
    );
    // Idle: no write to the entry.
    let before = r.app.store().get(e.id).await.unwrap().updated_at;
    r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(r.app.store().get(e.id).await.unwrap().updated_at, before);
}
