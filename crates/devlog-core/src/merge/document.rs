//! The entry-aware three-way merge of whole entry documents (an entry file changed in two
//! clones): what `devlog repos sync` resolves a git merge of `.devlog` with. Pure.
//!
//! Per field, a side's change wins over the unchanged other side; lists of objects with an
//! `id` (notes, decisions, risks, dependencies) are unioned by id, lists of strings (tags,
//! files) as sets; when both sides changed the same value differently, the side updated last
//! (`updatedAt`) wins and the clash is recorded as an issue note in the entry itself.

use std::fmt;

use serde_json::{Map, Value};

use crate::codec;
use crate::entry::{Note, NoteCategory};
use crate::error::StoreError;

/// Which version of the document a [`MergeError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    /// This clone's version.
    Ours,
    /// The other clone's version.
    Theirs,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base => "base",
            Self::Ours => "local",
            Self::Theirs => "remote",
        })
    }
}

/// Why two versions of an entry document cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("the {side} version is not JSON: {source}")]
    NotJson {
        side: Side,
        #[source]
        source: serde_json::Error,
    },
    /// The merge is not a valid entry (a side was not one either).
    #[error("{0}")]
    Invalid(#[source] StoreError),
}

/// Merges one entry document: `base` (absent when both sides added it), `ours`, `theirs` →
/// the merged document in the canonical file format. A field both sides changed differently
/// keeps the newer side's value (`updatedAt`), and an issue note listing what was kept and
/// what was dropped is added (once: its id is derived from its text).
pub fn merge_documents(
    base: Option<&[u8]>,
    ours: &[u8],
    theirs: &[u8],
) -> Result<Vec<u8>, MergeError> {
    let parse = |b: &[u8], side: Side| {
        serde_json::from_slice::<Value>(b).map_err(|source| MergeError::NotJson { side, source })
    };
    let (o, t) = (parse(ours, Side::Ours)?, parse(theirs, Side::Theirs)?);
    let b = base.map(|b| parse(b, Side::Base)).transpose()?;
    let updated = |v: &Value| {
        v.get("updatedAt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let prefer_theirs = updated(&t) > updated(&o);
    let mut clashes = Vec::new();
    let merged = merge_at("", b.as_ref(), &o, &t, prefer_theirs, &mut clashes);
    let bytes = serde_json::to_vec(&merged).map_err(|source| MergeError::NotJson {
        side: Side::Ours,
        source,
    })?;
    let mut entry = codec::decode_entry(&bytes, "merged entry").map_err(MergeError::Invalid)?;
    if !clashes.is_empty() {
        // A real conflict is recorded as data, with both values, in the entry itself: it
        // travels with the file, and the next sync or a human can act on it.
        let mut text = String::from(
            "Concurrent edits merged by `devlog repos sync`; the newer side was kept:\n",
        );
        for c in &clashes {
            text.push_str(&format!(
                "- {}: kept {}, the other clone had {}\n",
                c.path, c.kept, c.dropped
            ));
        }
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, text.as_bytes()).to_string();
        if !entry.notes.iter().any(|n| n.id == id) {
            entry.notes.push(Note {
                id,
                timestamp: entry.updated_at,
                category: NoteCategory::Issue,
                content: text.trim_end().to_string(),
                files: Vec::new(),
                code_changes: None,
                extra: Default::default(),
            });
        }
    }
    Ok(codec::encode_entry(&entry))
}

/// The JSON-level merge under [`merge_documents`]: `prefer_theirs` settles values both sides
/// changed differently.
pub fn merge_value(
    base: Option<&Value>,
    ours: &Value,
    theirs: &Value,
    prefer_theirs: bool,
) -> Value {
    merge_at("", base, ours, theirs, prefer_theirs, &mut Vec::new())
}

/// A field both clones changed to different values, as the merge settled it.
#[derive(Debug, Clone, PartialEq)]
struct FieldClash {
    path: String,
    kept: Value,
    dropped: Value,
}

/// Bookkeeping fields that change on every write: the newer value is taken silently.
const BOOKKEEPING: &[&str] = &["updatedAt", "lastAIUpdate", "contextVersion"];

fn merge_at(
    path: &str,
    base: Option<&Value>,
    ours: &Value,
    theirs: &Value,
    prefer_theirs: bool,
    clashes: &mut Vec<FieldClash>,
) -> Value {
    if ours == theirs || base == Some(theirs) {
        return ours.clone();
    }
    if base == Some(ours) {
        return theirs.clone();
    }
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            let b = base.and_then(Value::as_object);
            let mut out = Map::new();
            let keys = o.keys().chain(t.keys().filter(|k| !o.contains_key(*k)));
            for k in keys {
                let bk = b.and_then(|b| b.get(k));
                match (o.get(k), t.get(k)) {
                    (Some(ov), Some(tv)) => {
                        let sub = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        out.insert(
                            k.clone(),
                            merge_at(&sub, bk, ov, tv, prefer_theirs, clashes),
                        );
                    }
                    // Present on one side only: added there, or removed on the other side.
                    (Some(v), None) | (None, Some(v)) => {
                        if bk.is_none() || bk != Some(v) {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                    (None, None) => {}
                }
            }
            Value::Object(out)
        }
        (Value::Array(o), Value::Array(t)) if keyed(o) && keyed(t) => {
            let b: Vec<Value> = base
                .and_then(Value::as_array)
                .filter(|b| keyed(b))
                .cloned()
                .unwrap_or_default();
            let find =
                |list: &[Value], id: &Value| list.iter().find(|x| x.get("id") == Some(id)).cloned();
            let mut out = Vec::new();
            for ov in o {
                let id = &ov["id"];
                match find(t, id) {
                    Some(tv) => out.push(merge_at(
                        &format!("{path}[id={id}]"),
                        find(&b, id).as_ref(),
                        ov,
                        &tv,
                        prefer_theirs,
                        clashes,
                    )),
                    // Removed remotely: kept only if changed locally since the base.
                    None => {
                        if find(&b, id).as_ref() != Some(ov) {
                            out.push(ov.clone());
                        }
                    }
                }
            }
            for tv in t {
                let id = &tv["id"];
                if find(o, id).is_none() && find(&b, id).as_ref() != Some(tv) {
                    out.push(tv.clone());
                }
            }
            Value::Array(out)
        }
        (Value::Array(o), Value::Array(t)) if o.iter().chain(t).all(|v| !v.is_object()) => {
            let b: Vec<Value> = base.and_then(Value::as_array).cloned().unwrap_or_default();
            let mut out: Vec<Value> = o
                .iter()
                .filter(|v| t.contains(v) || !b.contains(v))
                .cloned()
                .collect();
            for v in t {
                if !out.contains(v) && !b.contains(v) {
                    out.push(v.clone());
                }
            }
            Value::Array(out)
        }
        _ => {
            let (kept, dropped) = if prefer_theirs {
                (theirs, ours)
            } else {
                (ours, theirs)
            };
            let last = path.rsplit('.').next().unwrap_or(path);
            if !BOOKKEEPING.contains(&last) {
                clashes.push(FieldClash {
                    path: path.to_string(),
                    kept: kept.clone(),
                    dropped: dropped.clone(),
                });
            }
            kept.clone()
        }
    }
}

/// Every element is an object with a string or number `id` (an empty list qualifies).
fn keyed(list: &[Value]) -> bool {
    list.iter().all(|v| {
        v.get("id")
            .is_some_and(|id| id.is_string() || id.is_number())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use serde_json::json;

    use super::*;

    #[test]
    fn three_way_merge_of_entry_documents() {
        let base = json!({"title": "T", "priority": "medium", "tags": ["a", "b"],
            "notes": [{"id": "n0", "content": "zero"}], "updatedAt": "1"});
        let ours = json!({"title": "T2", "priority": "medium", "tags": ["a", "b", "c"],
            "notes": [{"id": "n0", "content": "zero"}, {"id": "n1", "content": "mine"}], "updatedAt": "2"});
        let theirs = json!({"title": "T", "priority": "high", "tags": ["b"],
            "notes": [{"id": "n0", "content": "zero!"}, {"id": "n2", "content": "theirs"}], "updatedAt": "3"});
        let m = merge_value(Some(&base), &ours, &theirs, true);
        assert_eq!(m["title"], "T2");
        assert_eq!(m["priority"], "high");
        assert_eq!(m["tags"], json!(["b", "c"]));
        assert_eq!(
            m["notes"],
            json!([{"id": "n0", "content": "zero!"}, {"id": "n1", "content": "mine"}, {"id": "n2", "content": "theirs"}])
        );
        assert_eq!(m["updatedAt"], "3");
        // Both changed the title: the side updated last wins; the merge is the same either way round.
        let a = json!({"title": "A", "updatedAt": "5"});
        let b = json!({"title": "B", "updatedAt": "4"});
        let base = json!({"title": "T", "updatedAt": "1"});
        assert_eq!(merge_value(Some(&base), &a, &b, false)["title"], "A");
        assert_eq!(merge_value(Some(&base), &b, &a, true)["title"], "A");
        // Notes added on both sides without a base (both created the file) are unioned.
        let o = json!({"notes": [{"id": "x"}]});
        let t = json!({"notes": [{"id": "y"}]});
        assert_eq!(
            merge_value(None, &o, &t, false)["notes"],
            json!([{"id": "x"}, {"id": "y"}])
        );
        // A note deleted on one side and untouched on the other is gone.
        let base = json!({"notes": [{"id": "x"}, {"id": "y"}]});
        let o = json!({"notes": [{"id": "x"}]});
        let t = json!({"notes": [{"id": "x"}, {"id": "y"}, {"id": "z"}]});
        assert_eq!(
            merge_value(Some(&base), &o, &t, false)["notes"],
            json!([{"id": "x"}, {"id": "z"}])
        );
    }

    fn doc(title: &str, priority: &str, updated: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "6f1c2a52-5d0e-4d43-9a57-1d2c3b4a5e6f",
            "handle": 1,
            "key": "e1",
            "title": title,
            "type": "task",
            "status": "new",
            "priority": priority,
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": updated,
        }))
        .unwrap()
    }

    #[test]
    fn a_clash_keeps_the_newer_side_and_records_both_values_once() {
        let base = doc("T", "medium", "2025-01-01T00:00:00.000Z");
        let ours = doc("Mine", "high", "2025-01-02T00:00:00.000Z");
        let theirs = doc("Theirs", "medium", "2025-01-03T00:00:00.000Z");
        let merged = merge_documents(Some(&base), &ours, &theirs).unwrap();
        let e = codec::decode_entry(&merged, "test").unwrap();
        assert_eq!(e.title, "Theirs");
        assert_eq!(e.priority.as_str(), "high");
        assert_eq!(e.notes.len(), 1);
        assert_eq!(e.notes[0].category, NoteCategory::Issue);
        assert!(
            e.notes[0]
                .content
                .contains("- title: kept \"Theirs\", the other clone had \"Mine\""),
            "{}",
            e.notes[0].content
        );
        // Merging the result again with the same other side adds no second note.
        let again = merge_documents(Some(&base), &merged, &theirs).unwrap();
        let e = codec::decode_entry(&again, "test").unwrap();
        assert_eq!(e.notes.len(), 1);
        // No clash, no note.
        let only_ours = merge_documents(Some(&base), &ours, &base).unwrap();
        assert!(
            codec::decode_entry(&only_ours, "t")
                .unwrap()
                .notes
                .is_empty()
        );
    }

    #[test]
    fn unmergeable_input_is_a_typed_error_naming_the_side() {
        let ok = doc("T", "medium", "2025-01-01T00:00:00.000Z");
        let e = merge_documents(None, b"{not json", &ok).unwrap_err();
        assert!(
            matches!(
                e,
                MergeError::NotJson {
                    side: Side::Ours,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with("the local version is not JSON"),
            "{e}"
        );
        let e = merge_documents(Some(b"[1"), &ok, &ok).unwrap_err();
        assert!(
            matches!(
                e,
                MergeError::NotJson {
                    side: Side::Base,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = merge_documents(None, b"{}", b"{}").unwrap_err();
        assert!(matches!(e, MergeError::Invalid(_)), "{e:?}");
    }

    mod laws {
        use proptest::prelude::*;
        use serde_json::{Map, Value, json};

        use super::super::merge_value;

        /// A flat document over four keys, each absent or one of three values.
        fn doc() -> impl Strategy<Value = Value> {
            proptest::collection::vec(proptest::option::of(0u8..3), 4).prop_map(|vals| {
                let mut m = Map::new();
                for (k, v) in ["a", "b", "c", "d"].iter().zip(vals) {
                    if let Some(v) = v {
                        m.insert((*k).to_string(), json!(v));
                    }
                }
                Value::Object(m)
            })
        }

        proptest! {
            /// Which side is "ours" does not matter once the preference follows the sides.
            #[test]
            fn merge_is_symmetric(base in doc(), o in doc(), t in doc(), prefer in any::<bool>()) {
                prop_assert_eq!(
                    merge_value(Some(&base), &o, &t, prefer),
                    merge_value(Some(&base), &t, &o, !prefer)
                );
            }

            /// A side that did not change takes the other side's version whole; the same
            /// change on both sides is that change.
            #[test]
            fn an_unchanged_side_takes_the_other(base in doc(), o in doc(), prefer in any::<bool>()) {
                prop_assert_eq!(&merge_value(Some(&base), &o, &base, prefer), &o);
                prop_assert_eq!(&merge_value(Some(&base), &base, &o, prefer), &o);
                prop_assert_eq!(&merge_value(Some(&base), &o, &o, prefer), &o);
            }

            /// Every merged value is one that a side had: nothing is invented.
            #[test]
            fn nothing_is_invented(base in doc(), o in doc(), t in doc(), prefer in any::<bool>()) {
                let m = merge_value(Some(&base), &o, &t, prefer);
                for (k, v) in m.as_object().unwrap() {
                    prop_assert!(o.get(k) == Some(v) || t.get(k) == Some(v), "{k}: {v}");
                }
            }
        }
    }
}
