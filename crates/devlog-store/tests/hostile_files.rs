//! Entry files that arrive by `git pull` or `devlog import` are untrusted input: nothing in
//! them may steer where devlog writes (issue 13, item 1: a key `x/../../../../PWNED` made a
//! plain `devlog list` create `PWNED.json` outside the repository).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Component, Path, PathBuf};

use devlog_core::Store;
use devlog_core::codec::encode_entry;
use devlog_core::id::validate_key;
use devlog_core::ops::Devlog;
use devlog_store::JsonStore;
use devlog_testkit::EntryBuilder;
use proptest::prelude::*;

/// Every file below `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).unwrap().flatten() {
            let p = item.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// A repository folder `work/repo` inside a temp dir, with entry #1 created by devlog and a
/// pulled file `001-pulled.json` that claims #1 too (so the duplicate-handle repair wants to
/// rename it) with `key`, plus the folder the traversal needs.
fn pulled_with_key(key: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("work/repo/.devlog");
    let entries = root.join("entries");
    std::fs::create_dir_all(entries.join("002-x")).unwrap();
    let mine = EntryBuilder::new("Mine").handle(1).times(0, 0).build();
    std::fs::write(entries.join("001-mine.json"), encode_entry(&mine)).unwrap();
    let mut pulled = EntryBuilder::new("Pulled").handle(1).times(5, 5).build();
    pulled.key = key.to_string();
    std::fs::write(entries.join("001-pulled.json"), encode_entry(&pulled)).unwrap();
    (dir, root)
}

#[tokio::test]
async fn a_pulled_key_with_a_path_traversal_is_refused_and_nothing_is_written_outside_entries() {
    let (dir, root) = pulled_with_key("x/../../../../PWNED");
    let before = files_under(dir.path());
    let store = JsonStore::open(&root).await.unwrap();
    let page = store.list(&Default::default()).await.unwrap();
    assert!(
        !dir.path().join("work/PWNED.json").exists(),
        "the key steered a write outside the repository"
    );
    let after: Vec<PathBuf> = files_under(dir.path())
        .into_iter()
        .filter(|p| !p.starts_with("work/repo/.devlog/.state") && !before.contains(p))
        .collect();
    assert_eq!(
        after,
        vec![
            PathBuf::from("work/repo/.devlog/.gitattributes"),
            PathBuf::from("work/repo/.devlog/.gitignore")
        ],
        "nothing but devlog's own files was created"
    );
    // The good entry is there, once; the bad file is refused with its name and what to fix.
    let titles: Vec<(u64, String)> = page
        .items
        .iter()
        .map(|e| (e.handle, e.title.clone()))
        .collect();
    assert_eq!(titles, vec![(1, "Mine".to_string())]);
    let warnings = store.warnings().await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("001-pulled.json"), "{warnings:?}");
    assert!(warnings[0].contains("key"), "{warnings:?}");
    assert!(warnings[0].contains("path separator"), "{warnings:?}");
    assert!(
        warnings[0].contains("x-pwned"),
        "suggests a valid key: {warnings:?}"
    );
    // Fixing the key by hand brings the entry back, renumbered like any merge duplicate.
    let path = root.join("entries/001-pulled.json");
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("x/../../../../PWNED", "x-pwned");
    std::fs::write(&path, fixed).unwrap();
    let app = Devlog::new(std::sync::Arc::new(JsonStore::open(&root).await.unwrap()));
    assert_eq!(app.resolve("#2").await.unwrap().title, "Pulled");
    assert!(root.join("entries/002-x-pwned.json").exists());
}

#[tokio::test]
async fn a_pulled_key_with_a_slash_does_not_leave_two_entries_with_one_handle() {
    let (_dir, root) = pulled_with_key("x/y");
    for _ in 0..2 {
        let store = JsonStore::open(&root).await.unwrap();
        let page = store.list(&Default::default()).await.unwrap();
        let handles: Vec<u64> = page.items.iter().map(|e| e.handle).collect();
        assert_eq!(handles, vec![1], "{:?}", page.items);
        assert_eq!(store.warnings().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn keys_with_control_characters_dots_and_device_names_are_refused_on_read() {
    for key in [
        "a\u{0}b", "..", "c:\\x", "con", "LPT1", "a\tb", ".hidden", "",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".devlog");
        std::fs::create_dir_all(root.join("entries")).unwrap();
        let mut e = EntryBuilder::new("Bad").handle(1).build();
        e.key = key.to_string();
        std::fs::write(root.join("entries/001-bad.json"), encode_entry(&e)).unwrap();
        let store = JsonStore::open(&root).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 0, "key {key:?} was accepted");
        let w = store.warnings().await.unwrap();
        assert!(
            w.len() == 1 && w[0].contains("001-bad.json") && w[0].contains("key"),
            "{key:?}: {w:?}"
        );
    }
}

/// Keys: arbitrary strings, and strings made of the characters that matter to paths.
fn keys() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("/".to_string()),
                Just("\\".to_string()),
                Just("..".to_string()),
                Just(".".to_string()),
                Just(":".to_string()),
                Just("\u{0}".to_string()),
                Just("\n".to_string()),
                Just("con".to_string()),
                Just("C:".to_string()),
                Just("-".to_string()),
                Just("_".to_string()),
                "[a-zA-Z0-9]{1,4}",
                "\\PC{1,2}",
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the key, the file name devlog builds from it is one plain component: joined
    /// to the entries folder it stays directly inside it.
    #[test]
    fn file_names_built_from_any_key_stay_inside_the_entries_folder(key in keys(), handle in 1u64..100_000) {
        let name = JsonStore::file_name(handle, &key);
        let entries = Path::new("/repo/.devlog/entries");
        let joined = entries.join(&name);
        prop_assert_eq!(joined.parent(), Some(entries), "{:?}", name);
        let parts: Vec<Component> = Path::new(&name).components().collect();
        prop_assert!(matches!(parts.as_slice(), [Component::Normal(_)]), "{:?}", name);
        prop_assert!(name.ends_with(".json") && !name.starts_with('.'), "{:?}", name);
        prop_assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
            "{:?}",
            name
        );
        prop_assert!(!name.contains(".."), "{:?}", name);
    }

    /// A key passes validation only if it is made of safe characters, and every refusal
    /// suggests a key that passes.
    #[test]
    fn keys_are_accepted_only_when_safe_and_refusals_suggest_a_valid_key(key in keys()) {
        match validate_key(&key) {
            Ok(()) => {
                prop_assert!(!key.is_empty());
                prop_assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
                prop_assert!(!["con", "nul", "aux", "prn"].contains(&key.to_ascii_lowercase().as_str()));
            }
            Err(message) => {
                let suggested = message
                    .rsplit_once("such as `")
                    .and_then(|(_, rest)| rest.split_once('`'))
                    .map(|(k, _)| k.to_string());
                let suggested = suggested.unwrap_or_default();
                prop_assert!(validate_key(&suggested).is_ok(), "{:?} suggests {:?}", message, suggested);
            }
        }
    }
}

#[tokio::test]
async fn devlog_import_refuses_a_file_whose_key_is_a_path_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("other/.devlog/entries");
    std::fs::create_dir_all(source.join("001-x")).unwrap();
    let mut bad = EntryBuilder::new("Bad").handle(1).build();
    bad.key = "x/../../../../PWNED".into();
    std::fs::write(source.join("001-bad.json"), encode_entry(&bad)).unwrap();
    let good = EntryBuilder::new("Good").handle(2).build();
    std::fs::write(source.join("002-good.json"), encode_entry(&good)).unwrap();

    // The folder the traversal needs, in the importing repository.
    std::fs::create_dir_all(dir.path().join("repo/.devlog/entries/001-x")).unwrap();
    let store = JsonStore::open(&dir.path().join("repo/.devlog"))
        .await
        .unwrap();
    let outcome = devlog_store::transfer::import_folder(&store, &source, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(outcome.imported, 1);
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert!(outcome.failed[0].file.ends_with("001-bad.json"));
    assert!(
        outcome.failed[0].error.contains("path separator"),
        "{outcome:?}"
    );
    assert!(!dir.path().join("PWNED.json").exists());
    assert_eq!(store.count().await.unwrap(), 1);
}
