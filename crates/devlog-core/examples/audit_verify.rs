//! Benchmark of audit log verification (docs/security.md, "Audit log"): builds a chain of N
//! records (default 1,000,000) of typical events, writes it as JSON lines (the JSON store's
//! `.devlog/audit.jsonl` format), then times what `devlog audit verify` does per record:
//! read a line, parse it, check its seq, prev link and SHA-256. Every 1,000th record is a
//! signed checkpoint (Ed25519), checked against the public key, as `devlog audit verify
//! --pubkey` does; every 10th is a remote effect of sync (an action record).
//!
//! ```text
//! cargo run --release -p devlog-core --example audit_verify -- 1000000
//! ```

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::Instant;

use devlog_core::audit::{
    Action, AuditKey, AuditRecord, Draft, Head, RemoteEffect, Source, Verifier, What, chain,
};
use devlog_core::entry::Status;
use devlog_core::event::{EventKind, Origin};
use devlog_core::id::EntryId;
use devlog_core::time::Timestamp;
use serde_json::json;

fn draft(i: u64, ids: &[EntryId]) -> Draft {
    Draft {
        at: Timestamp::from_millis(1_780_000_000_000 + i as i64 * 1000).expect("in range"),
        actor: Some(
            if i.is_multiple_of(4) {
                "sync:github"
            } else {
                "ann"
            }
            .to_string(),
        ),
        origin: if i.is_multiple_of(4) {
            Origin::Sync
        } else {
            Origin::Http
        },
        source: Source {
            client: (!i.is_multiple_of(4)).then(|| "10.0.0.7:51234".to_string()),
            delivery: (i.is_multiple_of(4)).then(|| format!("d-{i}")),
            workflow: None,
        },
        entry_id: Some(ids[(i % ids.len() as u64) as usize]),
        handle: Some(i % ids.len() as u64 + 1),
        change: Some(format!("{i:032x}")),
        what: if i % 10 == 9 {
            What::Action(Action::RemoteEffect {
                integration: "github".into(),
                effect: RemoteEffect::CommentPosted,
                remote_id: format!("{}", 900_000 + i),
                item: Some(format!("{}", i % 1000)),
                url: Some(format!("https://github.com/acme/app/issues/{}", i % 1000)),
                effect_id: format!("github/comment-posted/{}/n{i}", i % 1000),
            })
        } else {
            What::Entry(match i % 3 {
                0 => EventKind::FieldChanged {
                    field: "description".into(),
                    old: json!(format!(
                        "The old description of item {i}, a sentence or two long."
                    )),
                    new: json!(format!(
                        "The new description of item {i}, a sentence or two longer."
                    )),
                },
                1 => EventKind::StatusChanged {
                    from: Status::New,
                    to: Status::InProgress,
                    closed_at: None,
                },
                _ => EventKind::FieldChanged {
                    field: "tags".into(),
                    old: json!(["backend"]),
                    new: json!(["backend", "audit"]),
                },
            })
        },
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N is a number"))
        .unwrap_or(1_000_000);
    let ids: Vec<EntryId> = (0..1000).map(|_| EntryId::new_random()).collect();

    let (key, _) = AuditKey::generate();
    let t = Instant::now();
    let mut records: Vec<AuditRecord> = Vec::with_capacity(n as usize);
    let mut head = Head::default();
    let mut i = 0;
    while i < n {
        // 999 records, then a checkpoint over them.
        let end = (i + 999).min(n);
        let batch = chain(&head, (i..end).map(|j| draft(j, &ids)).collect());
        if let Some(last) = batch.last() {
            head = Head::of(last);
        }
        records.extend(batch);
        i = end;
        if i < n {
            let at = records.last().expect("a record").at;
            let cp = chain(&head, vec![key.checkpoint(&head, at, None)]).remove(0);
            head = Head::of(&cp);
            records.push(cp);
            i += 1;
        }
    }
    let build = t.elapsed();

    let path =
        std::env::temp_dir().join(format!("devlog-audit-bench-{}.jsonl", std::process::id()));
    let t = Instant::now();
    {
        let mut w = BufWriter::new(std::fs::File::create(&path).expect("temp file"));
        for r in &records {
            writeln!(w, "{}", r.to_line()).expect("write");
        }
        w.flush().expect("flush");
    }
    let write = t.elapsed();
    let size = std::fs::metadata(&path).expect("written").len();
    drop(records);

    let t = Instant::now();
    let mut v = Verifier::with_key(key.public());
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&path).expect("open"));
    for line in reader.lines() {
        let line = line.expect("read");
        let r: AuditRecord = serde_json::from_str(&line).expect("parse");
        v.check(&r).expect("the chain verifies");
    }
    let verify = t.elapsed();
    std::fs::remove_file(&path).ok();
    assert_eq!(v.head().seq, n);
    let checkpoints = v.checkpoints();

    println!(
        "{n} records ({checkpoints} signed checkpoints), {:.0} MB of JSON lines: chained in \
         {:.2} s, written in {:.2} s, verified (read + parse + hash and signature check) in \
         {:.2} s = {:.0} records/s",
        size as f64 / 1e6,
        build.as_secs_f64(),
        write.as_secs_f64(),
        verify.as_secs_f64(),
        n as f64 / verify.as_secs_f64()
    );
}
