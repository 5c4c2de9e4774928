//! Planning fields round-trip through the original devlog's file format (issue 16): every
//! file of the original's corpus, given a due date, a milestone and a worklog, is written and
//! read back by our decoder with every original field unchanged; and the same through the
//! JSON store and the use cases, on the original's files in place.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::codec::{decode_entry, encode_entry};
use devlog_core::entry::Extra;
use devlog_core::ops::{Devlog, Edit};
use devlog_core::planning::{NewWorklog, Worklog};
use devlog_core::{Entry, Origin, Store, WriteMeta};
use serde_json::Value;

/// The original devlog's corpus, beside the repository (found from any checkout or worktree
/// below the folder that holds `shared/`).
fn corpus_entries() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared/corpus/original-devlog/head/.devlog/entries"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no shared/corpus above {}", here.display()))
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_entries())
        .unwrap()
        .map(|f| {
            let p = f.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .filter(|(n, _)| n.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() > 10, "the corpus has files");
    files
}

fn without_planning(mut e: Entry) -> Entry {
    e.due_date = None;
    e.milestone = None;
    e.worklogs.clear();
    e
}

#[test]
fn every_original_file_keeps_its_fields_when_given_planning_fields() {
    for (name, bytes) in corpus() {
        let original = decode_entry(&bytes, &name).unwrap();
        assert!(
            original.due_date.is_none() && original.worklogs.is_empty(),
            "{name}"
        );
        let mut planned = original.clone();
        planned.due_date = Some("2026-12-24".parse().unwrap());
        planned.milestone = Some("v1.0".into());
        planned.worklogs.push(Worklog {
            id: "w1".into(),
            author: "ana".into(),
            date: "2026-12-01".parse().unwrap(),
            minutes: 90,
            note: "pairing".into(),
            logged_at: original.updated_at,
            extra: Extra::new(),
        });
        let written = encode_entry(&planned);
        let back = decode_entry(&written, &name).unwrap();
        assert_eq!(back, planned, "{name}: read back as written");
        assert_eq!(
            without_planning(back),
            original,
            "{name}: original fields unchanged"
        );
        // In the JSON itself: the three keys are added, nothing else moves.
        let mut doc: Value = serde_json::from_slice(&written).unwrap();
        let o = doc.as_object_mut().unwrap();
        assert_eq!(o.remove("dueDate").unwrap(), "2026-12-24");
        assert_eq!(o.remove("milestone").unwrap(), "v1.0");
        assert_eq!(o.remove("worklogs").unwrap()[0]["minutes"], 90);
        let plain: Value = serde_json::from_slice(&encode_entry(&original)).unwrap();
        assert_eq!(doc, plain, "{name}");
    }
}

#[tokio::test]
async fn the_use_cases_add_planning_fields_to_original_files_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let entries = dir.path().join(".devlog/entries");
    std::fs::create_dir_all(&entries).unwrap();
    let files = corpus();
    for (name, bytes) in &files {
        std::fs::write(entries.join(name), bytes).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let app = Devlog::new(store.clone());
    let before = store.all().await.unwrap();
    assert_eq!(before.len(), files.len());
    let target = &before[0];
    let meta = WriteMeta::new(Origin::Cli).with_actor(Some("ana".into()));
    app.edit(
        target.id,
        Edit {
            due: Some("2026-12-24".into()),
            ..Edit::default()
        },
        &meta,
    )
    .await
    .unwrap();
    app.log_time(
        target.id,
        NewWorklog {
            duration: "1h30m".into(),
            date: Some("2026-01-05".into()),
            note: "review".into(),
            author: None,
        },
        &meta,
    )
    .await
    .unwrap();
    drop(app);
    drop(store);

    // A fresh store (the index rebuilt from the files) reads the written file back.
    std::fs::remove_dir_all(dir.path().join(".devlog/.state")).unwrap();
    let store = devlog_store::JsonStore::open(&dir.path().join(".devlog"))
        .await
        .unwrap();
    let after = store.get(target.id).await.unwrap();
    assert_eq!(after.due_date, Some("2026-12-24".parse().unwrap()));
    assert_eq!(after.worklogs.len(), 1);
    assert_eq!(after.worklogs[0].author, "ana");
    assert_eq!(after.actual_hours, Some(1.5));
    // Everything the original file said is as it was, but the update time.
    let mut expect = target.clone();
    expect.updated_at = after.updated_at;
    expect.actual_hours = after.actual_hours;
    assert_eq!(without_planning(after), expect);
    // The other files are untouched.
    for e in store
        .all()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.id != target.id)
    {
        assert!(before.contains(e), "#{} changed", e.handle);
    }
}
