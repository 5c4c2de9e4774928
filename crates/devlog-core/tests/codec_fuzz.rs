//! The entry decoder is the first code that reads untrusted files (`git pull`, `devlog import`,
//! hand edits): issue 13 asks for a bounded fuzz run of it in CI. These properties run with
//! plain `cargo test`, a few hundred cases each:
//! - decoding never panics, whatever the bytes (random bytes, random JSON shaped like an
//!   entry, and documents of the original devlog's corpus mutated at the JSON and byte level);
//! - every document that decodes re-encodes to bytes that decode to the same entry, and those
//!   bytes are stable (encoding the re-decoded entry gives them again).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::sync::LazyLock;

use devlog_core::codec::{decode_entry, encode_entry};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value};

/// The original devlog's entry files (the corpus shipped beside the repository).
static CORPUS: LazyLock<Vec<(String, Vec<u8>)>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/original-devlog/head/.devlog/entries");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus at {} cannot be read: {e}", dir.display()))
        .map(|f| {
            let p = f.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .filter(|(name, _)| name.ends_with(".json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no entry files in {}", dir.display());
    files
});

/// The fields of entries and their parts, so generated objects reach past the first check.
const FIELDS: &[&str] = &[
    "id",
    "handle",
    "key",
    "legacyId",
    "title",
    "type",
    "description",
    "status",
    "priority",
    "createdAt",
    "updatedAt",
    "closedAt",
    "assignee",
    "tags",
    "estimatedHours",
    "actualHours",
    "notes",
    "files",
    "relatedDevlogs",
    "context",
    "aiContext",
    "externalReferences",
    "timestamp",
    "category",
    "content",
    "codeChanges",
    "decisions",
    "dependencies",
    "risks",
    "acceptanceCriteria",
    "businessContext",
    "technicalContext",
    "currentSummary",
    "keyInsights",
    "openQuestions",
    "relatedPatterns",
    "suggestedNextSteps",
    "lastAIUpdate",
    "contextVersion",
];

/// Strings a decoder treats specially: closed values, times, keys, ids.
const STRINGS: &[&str] = &[
    "",
    " ",
    "new",
    "in-progress",
    "blocked",
    "in-review",
    "testing",
    "done",
    "cancelled",
    "feature",
    "bugfix",
    "task",
    "refactor",
    "docs",
    "low",
    "medium",
    "high",
    "critical",
    "progress",
    "issue",
    "solution",
    "idea",
    "reminder",
    "feedback",
    "2025-06-25T06:29:02.207Z",
    "2025-06-25T06:29:02Z",
    "2025-13-45T99:99:99.999Z",
    "+275760-09-13T00:00:00.000Z",
    "-000001-01-01T00:00:00.000Z",
    "fix-login",
    "../../x",
    "a/b",
    "CON",
    "x\u{0}y",
    "0b2c5e7a-4f1e-4c1a-9b7e-3d2a1f0e9c8b",
    "#7",
    "\u{202e}evil",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(0u64), Just(1), Just(7), Just(u64::MAX)].prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        select(STRINGS).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => select(FIELDS).prop_map(String::from),
        1 => "[a-zA-Z]{1,8}",
    ];
    leaf().prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..10)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Decodes `bytes`; when they decode, checks the round trip.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(entry) = decode_entry(bytes, "fuzz.json") else {
        return Ok(());
    };
    let encoded = encode_entry(&entry);
    let again = decode_entry(&encoded, "re-encoded.json").map_err(|e| {
        TestCaseError::fail(format!(
            "a decoded entry re-encodes to a document that does not decode: {e}\n{}",
            String::from_utf8_lossy(&encoded)
        ))
    })?;
    prop_assert_eq!(&again, &entry);
    prop_assert_eq!(encode_entry(&again), encoded, "the encoding is stable");
    Ok(())
}

/// A path to a value inside a document: object keys and array indexes.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    At(usize),
}

fn paths(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                here.push(Seg::Key(k.clone()));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                here.push(Seg::At(i));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::At(i) => v.get_mut(*i),
    })
}

/// One change to a document.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value at the chosen path.
    Set(Index, Value),
    /// Remove the value at the chosen path (from its object or array).
    Remove(Index),
    /// Add a top-level field.
    Add(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), json()).prop_map(|(i, v)| Mutation::Set(i, v)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        1 => (select(FIELDS).prop_map(String::from), json()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

fn apply(doc: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    match m {
        Mutation::Set(i, v) if !all.is_empty() => {
            if let Some(slot) = at(doc, &all[i.index(all.len())]) {
                *slot = v.clone();
            }
        }
        Mutation::Remove(i) if !all.is_empty() => {
            let path = &all[i.index(all.len())];
            let (last, parent) = path.split_last().unwrap();
            match (at(doc, parent), last) {
                (Some(Value::Object(o)), Seg::Key(k)) => {
                    o.shift_remove(k);
                }
                (Some(Value::Array(a)), Seg::At(i)) => {
                    a.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Add(k, v) => {
            if let Some(o) = doc.as_object_mut() {
                o.insert(k.clone(), v.clone());
            }
        }
        _ => {}
    }
}

/// One change to the bytes of a document.
#[derive(Debug, Clone)]
enum ByteEdit {
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let byte = prop_oneof![
        select(&b"{}[]\":,0123456789-.eE\\ntfu \x00\xff"[..]),
        any::<u8>()
    ];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        (any::<Index>(), byte).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        any::<Index>().prop_map(ByteEdit::Delete),
    ]
}

#[test]
fn every_corpus_document_decodes_and_round_trips() {
    for (name, bytes) in CORPUS.iter() {
        let entry = decode_entry(bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = decode_entry(&encode_entry(&entry), name).unwrap();
        assert_eq!(again, entry, "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        // Failures are kept as named tests below, not in a regressions file.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn arbitrary_json_never_panics(doc in json()) {
        check(doc.to_string().as_bytes())?;
    }

    /// A minimal valid entry with fields overwritten by arbitrary values: most cases reach
    /// the typed fields and the stored-entry rules instead of failing on a missing field.
    #[test]
    fn entries_with_arbitrary_fields_never_panic(
        legacy in any::<bool>(),
        fields in prop::collection::vec((select(FIELDS), json()), 0..4),
    ) {
        let mut doc = serde_json::json!({
            "id": "0b2c5e7a-4f1e-4c1a-9b7e-3d2a1f0e9c8b", "handle": 3, "key": "fix-login",
            "title": "Fix login", "type": "bugfix", "status": "new",
            "createdAt": "2025-06-25T06:29:02.207Z", "updatedAt": "2025-06-25T06:29:02.207Z",
        });
        if legacy {
            doc["id"] = Value::from(3);
            doc.as_object_mut().unwrap().remove("handle");
        }
        for (k, v) in fields {
            doc[k] = v;
        }
        check(doc.to_string().as_bytes())?;
    }

    #[test]
    fn mutated_corpus_documents_never_panic(
        file in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (_, bytes) = &CORPUS[file.index(CORPUS.len())];
        let mut doc: Value = serde_json::from_slice(bytes).unwrap();
        for m in &mutations {
            apply(&mut doc, m);
        }
        check(doc.to_string().as_bytes())?;
        check(&serde_json::to_vec_pretty(&doc).unwrap())?;
    }

    #[test]
    fn corpus_documents_with_edited_bytes_never_panic(
        file in any::<Index>(),
        edits in prop::collection::vec(byte_edit(), 1..8),
    ) {
        let (_, bytes) = &CORPUS[file.index(CORPUS.len())];
        let mut bytes = bytes.clone();
        for e in &edits {
            match *e {
                ByteEdit::Set(i, b) if !bytes.is_empty() => {
                    let i = i.index(bytes.len());
                    bytes[i] = b;
                }
                ByteEdit::Insert(i, b) => {
                    let i = i.index(bytes.len() + 1);
                    bytes.insert(i, b);
                }
                ByteEdit::Delete(i) if !bytes.is_empty() => {
                    bytes.remove(i.index(bytes.len()));
                }
                _ => {}
            }
        }
        check(&bytes)?;
    }
}
