//! Laws of the three-way merge, checked on random field values.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::merge::{
    FieldOwner, FieldOwners, Policy, Strategy as Resolve, SyncedField, SyncedFields, merge,
};
use devlog_core::time::Timestamp;
use proptest::prelude::*;

fn fields() -> impl Strategy<Value = SyncedFields> {
    (
        prop::sample::select(vec!["A", "B", "C"]),
        prop::sample::select(vec!["", "d1", "d2"]),
        prop::sample::select(Status::ALL.to_vec()),
        prop::sample::select(Priority::ALL.to_vec()),
        prop::sample::select(EntryType::ALL.to_vec()),
        prop::option::of(prop::sample::select(vec!["ana", "bo"])),
        prop::sample::subsequence(vec!["api", "ui"], 0..=2),
        prop::option::of(prop::sample::select(vec!["v1", "v2"])),
    )
        .prop_map(|(t, d, s, p, k, a, tags, m)| SyncedFields {
            title: t.into(),
            description: d.into(),
            status: s,
            priority: p,
            kind: k,
            assignee: a.map(String::from),
            tags: tags.into_iter().map(String::from).collect(),
            milestone: m.map(String::from),
            estimated_hours: None,
            actual_hours: None,
            acceptance_criteria: None,
            due_date: None,
            points: None,
        })
}

fn strategy() -> impl Strategy<Value = Resolve> {
    prop::sample::select(Resolve::ALL.iter().map(|(_, s)| *s).collect::<Vec<_>>())
}

/// Random ownership: each field owned by devlog, by the integration being merged (`x`), by
/// another one (`y`), or by nobody.
fn owners() -> impl Strategy<Value = FieldOwners> {
    prop::collection::vec(0u8..4, SyncedField::ALL.len()).prop_map(|picks| {
        let mut o = FieldOwners::new();
        for (f, pick) in SyncedField::ALL.iter().zip(picks) {
            let owner = match pick {
                0 => FieldOwner::Devlog,
                1 => FieldOwner::Integration("x".into()),
                2 => FieldOwner::Integration("y".into()),
                _ => continue,
            };
            o = o.with(*f, owner);
        }
        o
    })
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

proptest! {
    #[test]
    fn identical_changes_are_a_no_op(b in fields(), x in fields(), s in strategy()) {
        let m = merge(Some(&b), &x, &x, Policy::strategy(s), ts(1), ts(2));
        prop_assert_eq!(&m.fields, &x);
        prop_assert!(m.to_local.is_empty() && m.to_remote.is_empty() && m.conflicts.is_empty());
    }

    #[test]
    fn one_sided_changes_win(b in fields(), x in fields(), s in strategy()) {
        let local_only = merge(Some(&b), &x, &b, Policy::strategy(s), ts(1), ts(2));
        prop_assert_eq!(&local_only.fields, &x);
        prop_assert!(local_only.to_local.is_empty() && local_only.conflicts.is_empty());
        let remote_only = merge(Some(&b), &b, &x, Policy::strategy(s), ts(1), ts(2));
        prop_assert_eq!(&remote_only.fields, &x);
        prop_assert!(remote_only.to_remote.is_empty() && remote_only.conflicts.is_empty());
    }

    #[test]
    fn local_wins_mirrors_remote_wins(b in fields(), l in fields(), r in fields()) {
        let a = merge(Some(&b), &l, &r, Policy::strategy(Resolve::LocalWins), ts(1), ts(2));
        let z = merge(Some(&b), &r, &l, Policy::strategy(Resolve::RemoteWins), ts(2), ts(1));
        prop_assert_eq!(a.fields, z.fields);
    }

    #[test]
    fn applying_the_same_pull_twice_changes_nothing(b in fields(), l in fields(), r in fields(), s in strategy()) {
        let first = merge(Some(&b), &l, &r, Policy::strategy(s), ts(1), ts(2));
        let again = merge(Some(&b), &first.fields, &r, Policy::strategy(s), ts(1), ts(2));
        prop_assert_eq!(&again.fields, &first.fields);
        prop_assert!(again.to_local.is_empty());
    }

    #[test]
    fn without_conflicts_both_sides_end_equal(b in fields(), l in fields(), r in fields(), s in strategy()) {
        let m = merge(Some(&b), &l, &r, Policy::strategy(s), ts(1), ts(2));
        if m.conflicts.is_empty() {
            // Pushing `to_remote` and applying `to_local` leaves both sides at `fields`.
            let synced = merge(Some(&m.fields), &m.fields, &m.fields, Policy::strategy(s), ts(3), ts(3));
            prop_assert!(synced.to_local.is_empty() && synced.to_remote.is_empty());
            // A field is never sent both ways.
            prop_assert!(m.to_local.iter().all(|f| !m.to_remote.contains(f)));
        }
    }
}

proptest! {
    /// The laws hold under any ownership: one-sided changes win whoever owns the field, a
    /// pull applied twice changes nothing, and an owned field is never left for a person.
    #[test]
    fn ownership_keeps_the_laws(
        b in fields(), l in fields(), r in fields(), s in strategy(), o in owners()
    ) {
        let p = Policy { strategy: s, owners: &o, integration: "x" };
        let local_only = merge(Some(&b), &l, &b, p, ts(1), ts(2));
        prop_assert_eq!(&local_only.fields, &l);
        let remote_only = merge(Some(&b), &b, &r, p, ts(1), ts(2));
        prop_assert_eq!(&remote_only.fields, &r);
        let first = merge(Some(&b), &l, &r, p, ts(1), ts(2));
        let again = merge(Some(&b), &first.fields, &r, p, ts(1), ts(2));
        prop_assert_eq!(&again.fields, &first.fields);
        for c in &first.conflicts {
            prop_assert!(o.owner(c.field).is_none(), "owned {} held", c.field);
        }
        for f in SyncedField::ALL {
            let conflict = b.differs(&l, *f) && b.differs(&r, *f) && l.differs(&r, *f);
            match o.owner(*f) {
                Some(FieldOwner::Integration(n)) if conflict && n == "x" => {
                    prop_assert!(!first.fields.differs(&r, *f), "{} owned by x", f);
                }
                Some(_) if conflict => {
                    prop_assert!(!first.fields.differs(&l, *f), "{} owned elsewhere", f);
                }
                _ => {}
            }
        }
    }
}
