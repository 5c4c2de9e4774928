//! Reading and writing entry documents: our format and the original devlog's, with errors
//! that name the file and the field.

use serde_json::Value;

use crate::entry::Entry;
use crate::error::StoreError;
use crate::id::EntryId;

/// Decodes an entry document. `origin` names where the bytes came from (a file path) for
/// error messages. Files of the original TypeScript devlog (integer `id`) are accepted and
/// mapped: the integer becomes `legacyId` and the handle, and the id is derived from it.
pub fn decode_entry(bytes: &[u8], origin: &str) -> Result<Entry, StoreError> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        path: origin.to_string(),
        message: format!("not valid JSON ({e})"),
        hint: "fix the syntax by hand or restore the file with `git checkout -- <file>`".into(),
    })?;
    upgrade_legacy(&mut value, origin)?;
    let entry: Entry = serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        StoreError::Corrupt {
            path: origin.to_string(),
            message: if field == "." {
                e.inner().to_string()
            } else {
                format!("field `{field}`: {}", e.inner())
            },
            hint: "correct that field (see docs/entry-format.md) or restore the file from git"
                .into(),
        }
    })?;
    validate_stored(&entry).map_err(|(field, message)| StoreError::Corrupt {
        path: origin.to_string(),
        message: format!("field `{field}`: {message}"),
        hint: "correct that field (see docs/entry-format.md) or restore the file from git".into(),
    })?;
    Ok(entry)
}

/// Encodes an entry the way files are written: pretty JSON, two-space indent, final newline.
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(entry).expect("an Entry always serializes to JSON");
    out.push(b'\n');
    out
}

/// Rules every stored entry satisfies beyond its JSON shape.
fn validate_stored(e: &Entry) -> Result<(), (&'static str, String)> {
    if e.title.trim().is_empty() {
        return Err(("title", "must not be empty".into()));
    }
    if e.handle == 0 {
        return Err(("handle", "must be a positive number".into()));
    }
    crate::id::validate_key(&e.key).map_err(|m| ("key", m))?;
    Ok(())
}

/// True when the document is in the original devlog's format (integer `id`).
pub fn is_legacy(value: &Value) -> bool {
    value.get("id").is_some_and(Value::is_number)
}

fn upgrade_legacy(value: &mut Value, origin: &str) -> Result<(), StoreError> {
    if !is_legacy(value) {
        return Ok(());
    }
    let obj = value
        .as_object_mut()
        .expect("a value with an `id` key is an object");
    let legacy = obj
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| StoreError::Corrupt {
            path: origin.to_string(),
            message: "field `id`: not a positive integer".into(),
            hint: "correct the id or restore the file from git".into(),
        })?;
    let created = obj
        .get("createdAt")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    obj.insert("legacyId".into(), Value::from(legacy));
    obj.insert(
        "id".into(),
        Value::String(EntryId::from_legacy(legacy, &created).to_string()),
    );
    obj.entry("handle").or_insert(Value::from(legacy));
    if !obj.get("key").is_some_and(Value::is_string) {
        let title = obj.get("title").and_then(Value::as_str).unwrap_or_default();
        obj.insert("key".into(), Value::String(crate::id::slugify(title)));
    }
    // The original wrote `null` for unset optional fields; absent and null mean the same here.
    for k in ["assignee", "estimatedHours", "actualHours", "closedAt"] {
        if obj.get(k).is_some_and(Value::is_null) {
            obj.remove(k);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = r#"{
      "id": 7, "key": "fix-login", "title": "Fix login", "type": "bugfix",
      "description": "d", "status": "in-progress", "priority": "high",
      "createdAt": "2025-06-25T06:29:02.207Z", "updatedAt": "2025-06-25T06:34:06.058Z",
      "assignee": null, "estimatedHours": null, "futureField": {"a": 1},
      "notes": [{"id": "n1", "timestamp": "2025-06-25T06:30:00.000Z", "category": "progress",
                 "content": "c", "codeChanges": "x", "mood": "good"}]
    }"#;

    #[test]
    fn reads_original_files_and_keeps_unknown_fields() {
        let e = decode_entry(LEGACY.as_bytes(), "007-fix-login.json").unwrap();
        assert_eq!(e.legacy_id, Some(7));
        assert_eq!(e.handle, 7);
        assert_eq!(e.extra["futureField"], serde_json::json!({"a": 1}));
        assert_eq!(e.notes[0].extra["mood"], "good");
        let again = decode_entry(&encode_entry(&e), "x").unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn deployments_round_trip_and_name_a_bad_status() {
        let doc = LEGACY.replace(
            r#""futureField": {"a": 1},"#,
            r#""futureField": {"a": 1}, "deployments": [{"id": "azure-devops:r-1", "system": "azure-devops",
               "environment": "Dev", "release": "Release-1", "status": "partially-succeeded",
               "at": "2025-06-26T00:00:00.000Z", "approver": "ana"}],"#,
        );
        let e = decode_entry(doc.as_bytes(), "a.json").unwrap();
        assert_eq!(e.deployments.len(), 1);
        assert_eq!(
            e.deployments[0].status,
            crate::entry::DeploymentStatus::PartiallySucceeded
        );
        assert_eq!(e.deployments[0].extra["approver"], "ana");
        let encoded = encode_entry(&e);
        assert_eq!(decode_entry(&encoded, "a.json").unwrap(), e);
        // No deployments: no key written (files of the original stay as they were).
        let plain = decode_entry(LEGACY.as_bytes(), "b.json").unwrap();
        assert!(
            !String::from_utf8(encode_entry(&plain))
                .unwrap()
                .contains("deployments")
        );
        let bad = doc.replace("partially-succeeded", "so-so");
        let err = decode_entry(bad.as_bytes(), "a.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("deployments") && err.contains("so-so"),
            "{err}"
        );
    }

    /// Found by tests/codec_fuzz.rs: serde_json's default float parser is off by one unit in
    /// the last place for some numbers, so a number in a file (hours, a related id, an
    /// unknown field) changed each time the entry was rewritten. `float_roundtrip` is on.
    #[test]
    fn numbers_survive_a_rewrite_unchanged() {
        let doc = LEGACY
            .replace(
                r#""futureField": {"a": 1}"#,
                r#""futureField": [-2.3316613524941237e-38, {"id": 4.255129110818066e-221}]"#,
            )
            .replace(
                r#""estimatedHours": null"#,
                r#""estimatedHours": 2.3316613524941237e-38"#,
            );
        let e = decode_entry(doc.as_bytes(), "a.json").unwrap();
        let encoded = encode_entry(&e);
        let again = decode_entry(&encoded, "a.json").unwrap();
        assert_eq!(again, e);
        assert_eq!(encode_entry(&again), encoded);
        assert_eq!(
            e.extra["futureField"][0].as_f64(),
            Some(-2.3316613524941237e-38)
        );
    }

    #[test]
    fn broken_files_name_the_file_and_field() {
        let bad = LEGACY.replace("\"in-progress\"", "\"wip\"");
        let err = decode_entry(bad.as_bytes(), "entries/007-fix-login.json").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("entries/007-fix-login.json"), "{msg}");
        assert!(msg.contains("status"), "{msg}");
        assert!(msg.contains("in-progress"), "{msg}");

        let err = decode_entry(b"{ not json", "a.json").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");

        let bad = LEGACY.replace("2025-06-25T06:34:06.058Z", "last tuesday");
        let err = decode_entry(bad.as_bytes(), "a.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("updatedAt") && err.contains("RFC 3339"),
            "{err}"
        );

        let bad = LEGACY.replace("\"Fix login\"", "\"  \"");
        let err = decode_entry(bad.as_bytes(), "a.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("title") && err.contains("empty"), "{err}");
    }
}
