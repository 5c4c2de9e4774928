//! Purge and retention (issue 20 item 6): removing finished entries closed before a date
//! (`devlog purge --before DATE --status closed,done`), and the workspace's `[retention]`
//! policy (`closedAfterDays`) that turns into the same criteria (`devlog purge --retention`;
//! a server could run it on a schedule).
//!
//! What a purge removes: the entry (its document, and with it its notes, decisions, worklogs,
//! AI context and external references), and the links other entries hold to it (each such
//! entry is updated first, so no link is left dangling). What it keeps: the change feed's
//! events and the audit log's records of the entry — the audit log is append-only and never
//! purged, and each deletion adds a record to it (who purged, when, from where). A purge is
//! idempotent: run again after an interruption, it selects what is left and finishes.

use serde::{Deserialize, Serialize};

use crate::entry::{EntrySummary, Status};
use crate::error::{ErrorKind, Result, StoreError};
use crate::event::WriteMeta;
use crate::id::EntryId;
use crate::ops::Devlog;
use crate::relations::{Links, remove_link};
use crate::store::{Filter, ListQuery, SortKey};
use crate::time::Timestamp;

/// Entries read per page while selecting.
const PAGE: usize = 500;

/// The statuses a purge takes when none are named.
pub const DEFAULT_STATUSES: [Status; 2] = [Status::Closed, Status::Done];

/// Which entries a purge removes: in one of `statuses` (finished ones only) and closed
/// before `before` (`closedAt`, or `updatedAt` for imported entries that never recorded it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeCriteria {
    pub before: Timestamp,
    pub statuses: Vec<Status>,
}

impl PurgeCriteria {
    /// Checks that only finished work is named: a purge never removes open entries.
    pub fn validate(&self) -> Result<()> {
        if self.statuses.is_empty() {
            return Err(StoreError::invalid(
                "status",
                "name the statuses to purge (closed, done)",
            ));
        }
        if let Some(open) = self.statuses.iter().find(|s| !s.is_closed()) {
            return Err(StoreError::invalid(
                "status",
                format!(
                    "`{open}` is open work: a purge removes only done or closed entries \
                     (close them first, e.g. with `devlog bulk close`)"
                ),
            ));
        }
        Ok(())
    }

    /// Whether a summary falls under the criteria.
    pub fn matches(&self, e: &EntrySummary) -> bool {
        self.statuses.contains(&e.status) && e.closed_at.unwrap_or(e.updated_at) < self.before
    }
}

/// `[retention]` of the workspace configuration: entries finished more than
/// `closed_after_days` days ago are purged by `devlog purge --retention`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    /// Days after closing (or finishing) an entry is kept. At least 1.
    pub closed_after_days: u32,
    /// Which finished statuses the policy applies to (default: closed and done).
    #[serde(default = "default_statuses")]
    pub statuses: Vec<Status>,
}

fn default_statuses() -> Vec<Status> {
    DEFAULT_STATUSES.to_vec()
}

impl Retention {
    /// Checks the policy; errors name the `retention.*` key to fix.
    pub fn validate(&self) -> Result<()> {
        if self.closed_after_days == 0 {
            return Err(StoreError::invalid(
                "retention.closedAfterDays",
                "must be at least 1 (days after closing an entry is kept)",
            ));
        }
        self.criteria(Timestamp::from_millis(0).expect("the epoch is a time"))
            .validate()
            .map_err(|e| match e {
                StoreError::Invalid { message, .. } => {
                    StoreError::invalid("retention.statuses", message)
                }
                other => other,
            })
    }

    /// The criteria the policy means at `now`.
    pub fn criteria(&self, now: Timestamp) -> PurgeCriteria {
        let before = Timestamp::from_datetime(
            now.as_datetime() - chrono::Duration::days(i64::from(self.closed_after_days)),
        );
        PurgeCriteria {
            before,
            statuses: self.statuses.clone(),
        }
    }
}

/// One entry a purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purged {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// Handles of the entries whose links to it were (or would be) removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlinked: Vec<u64>,
}

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeOutcome {
    pub criteria: PurgeCriteria,
    pub dry_run: bool,
    pub purged: Vec<Purged>,
}

impl Devlog {
    /// The entries `c` selects, in handle order (keyset pages of summaries).
    pub async fn purge_candidates(&self, c: &PurgeCriteria) -> Result<Vec<EntrySummary>> {
        c.validate()?;
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store()
                .list(&ListQuery {
                    filter: Filter {
                        status: c.statuses.clone(),
                        handle_after: after,
                        ..Filter::default()
                    },
                    sort: SortKey::Handle,
                    ascending: true,
                    offset: 0,
                    limit: PAGE,
                })
                .await?;
            let n = page.items.len();
            for s in page.items {
                after = Some(s.handle);
                if c.matches(&s) {
                    out.push(s);
                }
            }
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// Removes the entries `c` selects, each with its deletion recorded in the change feed and
    /// the audit log (by `meta`), after removing the links other entries hold to it. With
    /// `dry_run`, only says what it would remove.
    pub async fn purge(
        &self,
        c: &PurgeCriteria,
        dry_run: bool,
        meta: &WriteMeta,
    ) -> Result<PurgeOutcome> {
        self.purge_run(c, dry_run, false, meta).await
    }

    /// [`purge`](Self::purge), saying whether the retention schedule ran it (`serve`,
    /// `worker`, `purge --scheduled`). A run that is not a dry run ends with one `purged`
    /// action record in the audit log (also when it found nothing: the schedule ran).
    pub async fn purge_run(
        &self,
        c: &PurgeCriteria,
        dry_run: bool,
        scheduled: bool,
        meta: &WriteMeta,
    ) -> Result<PurgeOutcome> {
        let candidates = self.purge_candidates(c).await?;
        let mut purged = Vec::with_capacity(candidates.len());
        for s in candidates {
            let entry = match self.store().get(s.id).await {
                Ok(e) => e,
                // Deleted meanwhile: nothing left to purge.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let l = Links::of(&entry);
            let mut linked: Vec<EntryId> = l
                .parent
                .into_iter()
                .chain(l.duplicate_of)
                .chain(l.children)
                .chain(l.blocks)
                .chain(l.blocked_by)
                .chain(l.related)
                .chain(l.duplicated_by)
                .filter(|o| *o != entry.id)
                .collect();
            linked.sort();
            linked.dedup();
            let mut unlinked = Vec::new();
            for other in linked {
                let result = if dry_run {
                    self.store().get(other).await.map(|o| Some(o.handle))
                } else {
                    let mut changed = false;
                    self.store()
                        .update(other, meta, &mut |o| {
                            changed = !remove_link(o, None, entry.id).is_empty();
                            Ok(())
                        })
                        .await
                        .map(|o| changed.then_some(o.handle))
                };
                match result {
                    Ok(Some(h)) => unlinked.push(h),
                    Ok(None) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            if !dry_run {
                match self.store().delete(entry.id, meta).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            purged.push(Purged {
                id: entry.id,
                handle: entry.handle,
                title: entry.title,
                status: entry.status,
                closed_at: entry.closed_at,
                unlinked,
            });
        }
        if !dry_run && let Some(log) = self.store().audit_log() {
            let draft = crate::audit::Draft::action(
                self.clock().now(),
                meta.actor.clone(),
                meta.origin,
                crate::audit::Action::Purged {
                    scheduled,
                    before: c.before,
                    statuses: c.statuses.clone(),
                    purged: purged.len() as u64,
                },
            )
            .with_source(meta.source.clone());
            log.audit_append(vec![draft]).await?;
        }
        Ok(PurgeOutcome {
            criteria: c.clone(),
            dry_run,
            purged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn retention_turns_into_criteria_days_before_now() {
        let r = Retention {
            closed_after_days: 30,
            statuses: default_statuses(),
        };
        r.validate().unwrap();
        let c = r.criteria(ts("2026-03-31T12:00:00Z"));
        assert_eq!(c.before, ts("2026-03-01T12:00:00Z"));
        assert_eq!(c.statuses, [Status::Closed, Status::Done]);
    }

    #[test]
    fn bad_policies_and_criteria_name_what_to_fix() {
        let zero = Retention {
            closed_after_days: 0,
            statuses: default_statuses(),
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("retention.closedAfterDays")
        );
        let open = Retention {
            closed_after_days: 5,
            statuses: vec![Status::InProgress],
        };
        let err = open.validate().unwrap_err().to_string();
        assert!(
            err.contains("retention.statuses") && err.contains("in-progress"),
            "{err}"
        );
        let none = PurgeCriteria {
            before: ts("2026-01-01T00:00:00Z"),
            statuses: Vec::new(),
        };
        assert!(none.validate().is_err());
        let unknown: std::result::Result<Retention, _> =
            serde_json::from_str(r#"{"closedAfterDays": 3, "keepForever": true}"#);
        assert!(unknown.unwrap_err().to_string().contains("keepForever"));
    }
}
