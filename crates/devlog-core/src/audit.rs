//! The tamper-evident audit log: one record per event of every write, hash-chained.
//!
//! Every record carries `prev`, the hash of the record before it (64 zeros for the first),
//! and its own `hash` = SHA-256 over `prev` followed by the record's canonical serialisation
//! (every field but `hash`, as JSON with object keys sorted at every depth). Changing a
//! record's bytes changes its hash; removing, inserting or reordering records breaks the
//! `prev` links and the run of `seq` numbers. [`verify`] (or [`Verifier`], for logs read in
//! pages) names the first record where the chain breaks.
//!
//! What the chain does not prove: that the tail was not cut off (removing the last records
//! leaves a valid shorter chain), nor that someone able to rewrite the whole log did not
//! recompute every hash after an edit. Exporting the head hash elsewhere (or signed
//! checkpoints, a later step) covers those. See docs/security.md, "Audit log".
//!
//! Records are built from the [`Event`]s of a write, so the audit log records exactly what the
//! change feed records, with who and from where ([`WriteMeta`]) added. The [`AuditLog`] port
//! reads them; backends append inside their write (see devlog-store).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::event::{Event, EventKind, Origin, WriteMeta};
use crate::id::EntryId;
use crate::time::Timestamp;

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a write came from beyond its [`Origin`]: the REST client's address, the webhook
/// delivery that caused it. Carried by [`WriteMeta`] and copied into every audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The REST client's address (`ip:port`), when the write came over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The webhook delivery id, when a webhook caused the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// The workflow run that made the write (`<workflow>/<run id>`, devlog-workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

impl Source {
    pub fn is_empty(&self) -> bool {
        self.client.is_none() && self.delivery.is_none() && self.workflow.is_none()
    }
}

/// One record of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    /// When the write happened (the event's time).
    pub at: Timestamp,
    /// Who: the actor string of the write — an API token's name or OIDC subject for the
    /// server, the OS user (or `--actor`) for the CLI, `sync:<integration>[:<key>]` for sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Through what: cli, mcp, http, sync, import, migrate, external.
    pub origin: Origin,
    /// From where, when known (client address, webhook delivery).
    #[serde(default, skip_serializing_if = "Source::is_empty")]
    pub source: Source,
    pub entry_id: EntryId,
    pub handle: u64,
    /// The write this record is part of (shared by every record of one write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// What: the event, with the before and after of what changed.
    pub what: EventKind,
    /// The hash of the record before (hex SHA-256), [`GENESIS`] for the first.
    pub prev: String,
    /// SHA-256 (hex) over `prev` and this record's canonical serialisation.
    pub hash: String,
}

/// A record before it is chained: what a write contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub at: Timestamp,
    pub actor: Option<String>,
    pub origin: Origin,
    pub source: Source,
    pub entry_id: EntryId,
    pub handle: u64,
    pub change: Option<String>,
    pub what: EventKind,
}

impl Draft {
    /// The drafts of a write's events, with the write's [`Source`].
    pub fn of_events(events: &[Event], source: &Source) -> Vec<Draft> {
        events
            .iter()
            .map(|e| Draft {
                at: e.at,
                actor: e.actor.clone(),
                origin: e.origin,
                source: source.clone(),
                entry_id: e.entry_id,
                handle: e.handle,
                change: e.change.clone(),
                what: e.kind.clone(),
            })
            .collect()
    }

    /// The drafts of a write with its metadata.
    pub fn of_write(events: &[Event], meta: &WriteMeta) -> Vec<Draft> {
        Self::of_events(events, &meta.source)
    }
}

/// The end of a chain: the last record's `seq` and `hash` (`0` and [`GENESIS`] when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

impl Head {
    pub fn of(record: &AuditRecord) -> Head {
        Head {
            seq: record.seq,
            hash: record.hash.clone(),
        }
    }
}

/// Chains `drafts` after `head`: numbers them, links them and hashes them. Returns the
/// records; the new head is the last one's.
pub fn chain(head: &Head, drafts: Vec<Draft>) -> Vec<AuditRecord> {
    let mut seq = head.seq;
    let mut prev = head.hash.clone();
    drafts
        .into_iter()
        .map(|d| {
            seq += 1;
            let mut r = AuditRecord {
                seq,
                at: d.at,
                actor: d.actor,
                origin: d.origin,
                source: d.source,
                entry_id: d.entry_id,
                handle: d.handle,
                change: d.change,
                what: d.what,
                prev: std::mem::take(&mut prev),
                hash: String::new(),
            };
            r.hash = r.compute_hash();
            prev = r.hash.clone();
            r
        })
        .collect()
}

impl AuditRecord {
    /// The canonical serialisation the hash covers: every field but `hash`, as JSON with
    /// object keys sorted at every depth, no whitespace.
    pub fn canonical(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).expect("audit records serialize");
        if let Value::Object(m) = &mut v {
            m.remove("hash");
        }
        let mut out = Vec::with_capacity(512);
        write_canonical(&v, &mut out);
        out
    }

    /// SHA-256 (hex) over `prev` and [`canonical`](Self::canonical).
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(self.canonical());
        hex(&h.finalize())
    }

    /// One line of a JSON-lines export or file: the record with its fields in declared order.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("audit records serialize")
    }

    /// The changed field's name, for tables: `status`, `title`, `notes` …
    pub fn field(&self) -> Option<&str> {
        match &self.what {
            EventKind::FieldChanged { field, .. } => Some(field),
            EventKind::StatusChanged { .. } | EventKind::Completed { .. } => Some("status"),
            EventKind::NoteAdded { .. }
            | EventKind::NoteEdited { .. }
            | EventKind::NoteDeleted { .. } => Some("notes"),
            EventKind::DecisionAdded { .. } => Some("decisions"),
            EventKind::Linked { .. } => Some("externalReferences"),
            EventKind::Created | EventKind::Deleted => None,
        }
    }
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("strings serialize");
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("scalars serialize"),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// What a backend read back: a record, or a stored item that is not one (a line of the JSON
/// file that does not parse, a row whose record column does not).
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every item is a record: boxing would allocate once per record"
)]
pub enum Stored {
    Record(AuditRecord),
    Unreadable {
        /// Where it is: `line 17`, `row seq 17`.
        place: String,
        /// Why it cannot be read.
        reason: String,
    },
}

/// Where the chain breaks: the first record (by its position in the log: the `seq` it
/// should have had) that is not what the chain says, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit log's chain breaks at record {seq}: {reason}")]
pub struct Break {
    pub seq: u64,
    pub reason: String,
}

/// Checks records one at a time in log order (for logs read in pages); [`verify`] for a slice.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    head: Head,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last record checked so far.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Checks the next stored item.
    pub fn check_stored(&mut self, item: &Stored) -> Result<(), Break> {
        match item {
            Stored::Record(r) => self.check(r),
            Stored::Unreadable { place, reason } => Err(Break {
                seq: self.head.seq + 1,
                reason: format!("{place} is not a readable record ({reason})"),
            }),
        }
    }

    /// Checks the next record: its number follows, its `prev` is the last record's hash and
    /// its `hash` is that of its content.
    pub fn check(&mut self, r: &AuditRecord) -> Result<(), Break> {
        let expected = self.head.seq + 1;
        let fail = |reason: String| {
            Err(Break {
                seq: expected,
                reason,
            })
        };
        if r.seq != expected {
            return fail(if r.seq < expected {
                format!(
                    "found record {} again where {expected} should be (a record was inserted, \
                     duplicated or moved here)",
                    r.seq
                )
            } else {
                format!(
                    "found record {} where {expected} should be (records {expected}..{} were \
                     deleted or moved)",
                    r.seq,
                    r.seq - 1
                )
            });
        }
        if r.prev != self.head.hash {
            return fail(format!(
                "its prev hash {} is not record {}'s hash {} (a record before it was changed, \
                 replaced or reordered)",
                short(&r.prev),
                self.head.seq,
                short(&self.head.hash)
            ));
        }
        let actual = r.compute_hash();
        if r.hash != actual {
            return fail(format!(
                "its content does not match its hash (stored {}, content hashes to {}): the \
                 record was edited",
                short(&r.hash),
                short(&actual)
            ));
        }
        self.head = Head::of(r);
        Ok(())
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// Checks a whole log, oldest first; `Err` names the first record where the chain breaks.
pub fn verify(records: &[AuditRecord]) -> Result<(), Break> {
    let mut v = Verifier::new();
    records.iter().try_for_each(|r| v.check(r))
}

/// The audit log of a store: read by range (appends happen inside the store's writes, never
/// through this port, so nothing can append out of the write's transaction, change or delete).
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Stored items with `seq` after `after`, oldest first, at most `limit`. A damaged item
    /// (a torn or edited line, an unreadable row) comes back as [`Stored::Unreadable`] in
    /// its place.
    async fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<Stored>>;

    /// How many items the log holds.
    async fn audit_count(&self) -> Result<u64>;

    /// Where the log is kept, for messages (`.devlog/audit.jsonl`, `table devlog_audit`).
    fn audit_location(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Status;
    use proptest::prelude::*;

    fn draft(i: u64) -> Draft {
        Draft {
            at: Timestamp::from_millis(1_700_000_000_000 + i as i64).unwrap(),
            actor: Some(format!("user{}", i % 3)),
            origin: if i.is_multiple_of(2) {
                Origin::Cli
            } else {
                Origin::Http
            },
            source: Source {
                client: (i % 2 == 1).then(|| "127.0.0.1:5000".into()),
                delivery: None,
                workflow: None,
            },
            entry_id: EntryId::from_legacy(i % 5 + 1, "2025-01-01T00:00:00.000Z"),
            handle: i % 5 + 1,
            change: Some(format!("c{i}")),
            what: match i % 3 {
                0 => EventKind::Created,
                1 => EventKind::FieldChanged {
                    field: "title".into(),
                    old: serde_json::json!({"b": 1, "a": [1, "x"]}),
                    new: Value::String(format!("t{i}")),
                },
                _ => EventKind::StatusChanged {
                    from: Status::New,
                    to: Status::InProgress,
                    closed_at: None,
                },
            },
        }
    }

    fn log(n: u64) -> Vec<AuditRecord> {
        chain(&Head::default(), (0..n).map(draft).collect())
    }

    #[test]
    fn a_fresh_chain_verifies_and_links() {
        let l = log(10);
        assert_eq!(verify(&l), Ok(()));
        assert_eq!(l[0].prev, GENESIS);
        assert_eq!(l[1].prev, l[0].hash);
        assert_eq!(l[9].seq, 10);
        // Chaining more after the head continues the same chain.
        let more = chain(&Head::of(&l[9]), vec![draft(11)]);
        let all: Vec<_> = l.iter().cloned().chain(more).collect();
        assert_eq!(verify(&all), Ok(()));
    }

    #[test]
    fn the_hash_is_independent_of_key_order_and_survives_a_round_trip() {
        let r = &log(2)[1];
        let line = r.to_line();
        let back: AuditRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back.compute_hash(), r.hash);
        let mut shuffled = r.clone();
        shuffled.what = EventKind::FieldChanged {
            field: "title".into(),
            old: serde_json::json!({"a": [1, "x"], "b": 1}),
            new: Value::String("t1".into()),
        };
        assert_eq!(shuffled.compute_hash(), r.hash);
        assert!(!String::from_utf8(r.canonical()).unwrap().contains("hash\""));
    }

    #[test]
    fn an_edit_is_named() {
        let mut l = log(5);
        l[2].actor = Some("mallory".into());
        let b = verify(&l).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("edited"), "{b}");
    }

    #[test]
    fn a_recomputed_edit_breaks_the_next_link() {
        let mut l = log(5);
        l[2].actor = Some("mallory".into());
        l[2].hash = l[2].compute_hash();
        let b = verify(&l).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("prev"), "{b}");
    }

    #[test]
    fn deletion_reorder_and_insertion_are_named() {
        let l = log(6);
        let mut deleted = l.clone();
        deleted.remove(3);
        assert_eq!(verify(&deleted).unwrap_err().seq, 4);

        let mut reordered = l.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(&reordered).unwrap_err().seq, 2);

        let mut inserted = l.clone();
        let mut forged = chain(&Head::of(&l[1]), vec![draft(99)]).remove(0);
        forged.seq = 3;
        inserted.insert(2, forged);
        // Record 3 is the forged one, which links fine; the real 3 then comes again.
        let b = verify(&inserted).unwrap_err();
        assert_eq!(b.seq, 4, "{b}");
    }

    #[test]
    fn unreadable_items_break_where_they_are() {
        let l = log(3);
        let mut v = Verifier::new();
        v.check(&l[0]).unwrap();
        let b = v
            .check_stored(&Stored::Unreadable {
                place: "line 2".into(),
                reason: "torn".into(),
            })
            .unwrap_err();
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("line 2"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any single change to a chain — a field edited, a record removed, two swapped, one
        /// duplicated — is caught, and at or before the record that was touched.
        #[test]
        fn any_tampering_is_caught(n in 2u64..30, pick in 0usize..1000, what in 0u8..5, text in "[a-z]{1,8}") {
            let l = log(n);
            let i = pick % l.len();
            let mut t = l.clone();
            match what {
                0 => t[i].actor = Some(format!("{text}!")),
                1 => { t.remove(i); }
                2 => { let j = (i + 1) % t.len(); if i == j { t.remove(i); } else { t.swap(i, j); } }
                3 => { let r = t[i].clone(); t.insert(i, r); }
                _ => t[i].at = Timestamp::from_millis(t[i].at.millis() + 1).unwrap(),
            }
            match verify(&t) {
                Ok(()) => {
                    // Only cutting off the tail leaves a valid chain.
                    prop_assert!(what == 1 && i == l.len() - 1, "{what} at {i} not caught");
                }
                Err(b) => prop_assert!(b.seq as usize <= i + 2, "{b} for {what} at {i}"),
            }
        }
    }
}
