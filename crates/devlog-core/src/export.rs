//! Export of all data (issue 20 item 6: a data-subject or migration request): a stream of
//! [`ExportRecord`]s, one JSON object per line with a `kind`, that `devlog export` writes as
//! JSON Lines (format in docs/security.md, "Export").
//!
//! Order: a `header`; for each entry in handle order the `entry` (the whole document, as the
//! files hold it — what an import reads back) followed by its parts as records of their own
//! for readers that want them without walking documents (`note`, `decision`, `worklog`,
//! `link`, `externalReference`); every `milestone`; every `audit` record (and `auditUnreadable`
//! for a damaged one, so nothing is silently left out); last an `end` with the counts, so a
//! reader can tell a complete file from a cut one.

use serde::{Deserialize, Serialize};

use crate::audit::{AuditRecord, Stored};
use crate::entry::{Decision, Entry, ExternalReference, Note};
use crate::error::Result;
use crate::id::EntryId;
use crate::planning::{Milestone, Worklog};
use crate::relations::{LinkKind, Links};
use crate::store::{Filter, ListQuery, SortKey, Store};
use crate::time::Timestamp;

/// The `format` of the header.
pub const FORMAT: &str = "devlog-export";
/// The version of the format; a reader refuses versions it does not know.
pub const VERSION: u32 = 1;

/// Entries (and audit records) read per page.
const PAGE: usize = 500;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ExportRecord {
    #[serde(rename_all = "camelCase")]
    Header {
        format: String,
        version: u32,
        exported_at: Timestamp,
        /// The backend exported (`json`, `sqlite`, …).
        backend: String,
    },
    Entry {
        entry: Box<Entry>,
    },
    #[serde(rename_all = "camelCase")]
    Note {
        entry_id: EntryId,
        handle: u64,
        note: Note,
    },
    #[serde(rename_all = "camelCase")]
    Decision {
        entry_id: EntryId,
        handle: u64,
        decision: Decision,
    },
    #[serde(rename_all = "camelCase")]
    Worklog {
        entry_id: EntryId,
        handle: u64,
        worklog: Worklog,
    },
    /// `entryId` `link` `other`: "#3 blocks #5".
    #[serde(rename_all = "camelCase")]
    Link {
        entry_id: EntryId,
        handle: u64,
        link: LinkKind,
        other: EntryId,
    },
    #[serde(rename_all = "camelCase")]
    ExternalReference {
        entry_id: EntryId,
        handle: u64,
        reference: ExternalReference,
    },
    Milestone {
        milestone: Milestone,
    },
    Audit {
        record: Box<AuditRecord>,
    },
    /// An audit item that could not be read (a damaged line or row), where it is and why.
    AuditUnreadable {
        place: String,
        reason: String,
    },
    End {
        counts: ExportCounts,
    },
}

/// How many records of each kind an export holds (the `end` record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportCounts {
    pub entries: u64,
    pub notes: u64,
    pub decisions: u64,
    pub worklogs: u64,
    pub links: u64,
    pub external_references: u64,
    pub milestones: u64,
    pub audit: u64,
    pub audit_unreadable: u64,
}

/// Streams every record of `store` to `sink`, in the order of the module's documentation,
/// and returns the counts (also sent as the `end` record).
pub async fn export(
    store: &dyn Store,
    now: Timestamp,
    sink: &mut (dyn FnMut(&ExportRecord) -> Result<()> + Send),
) -> Result<ExportCounts> {
    let mut counts = ExportCounts::default();
    sink(&ExportRecord::Header {
        format: FORMAT.to_string(),
        version: VERSION,
        exported_at: now,
        backend: store.describe().backend.to_string(),
    })?;
    let mut after = None;
    loop {
        let page = store
            .list(&ListQuery {
                filter: Filter {
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
            let e = match store.get(s.id).await {
                Ok(e) => e,
                // Deleted while the export ran.
                Err(err) if err.kind() == crate::error::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            entry_records(&e, &mut counts, sink)?;
        }
        if n < PAGE {
            break;
        }
    }
    match store.milestones().await {
        Ok(ms) => {
            for m in ms {
                counts.milestones += 1;
                sink(&ExportRecord::Milestone { milestone: m })?;
            }
        }
        // A backend without milestones has none to export.
        Err(crate::error::StoreError::Backend { .. }) => {}
        Err(e) => return Err(e),
    }
    if let Some(log) = store.audit_log() {
        let mut after = 0;
        loop {
            let page = log.audit_page(after, PAGE).await?;
            let n = page.len();
            for item in page {
                match item {
                    Stored::Record(r) => {
                        after = r.seq;
                        counts.audit += 1;
                        sink(&ExportRecord::Audit {
                            record: Box::new(r),
                        })?;
                    }
                    Stored::Unreadable { place, reason } => {
                        counts.audit_unreadable += 1;
                        sink(&ExportRecord::AuditUnreadable { place, reason })?;
                    }
                }
            }
            if n < PAGE {
                break;
            }
        }
    }
    sink(&ExportRecord::End {
        counts: counts.clone(),
    })?;
    Ok(counts)
}

fn entry_records(
    e: &Entry,
    counts: &mut ExportCounts,
    sink: &mut (dyn FnMut(&ExportRecord) -> Result<()> + Send),
) -> Result<()> {
    counts.entries += 1;
    sink(&ExportRecord::Entry {
        entry: Box::new(e.clone()),
    })?;
    let (entry_id, handle) = (e.id, e.handle);
    for note in &e.notes {
        counts.notes += 1;
        sink(&ExportRecord::Note {
            entry_id,
            handle,
            note: note.clone(),
        })?;
    }
    for decision in &e.context.decisions {
        counts.decisions += 1;
        sink(&ExportRecord::Decision {
            entry_id,
            handle,
            decision: decision.clone(),
        })?;
    }
    for worklog in &e.worklogs {
        counts.worklogs += 1;
        sink(&ExportRecord::Worklog {
            entry_id,
            handle,
            worklog: worklog.clone(),
        })?;
    }
    let l = Links::of(e);
    let links = l
        .parent
        .map(|o| (LinkKind::Parent, o))
        .into_iter()
        .chain(l.children.iter().map(|o| (LinkKind::Child, *o)))
        .chain(l.blocks.iter().map(|o| (LinkKind::Blocks, *o)))
        .chain(l.blocked_by.iter().map(|o| (LinkKind::BlockedBy, *o)))
        .chain(l.related.iter().map(|o| (LinkKind::Relates, *o)))
        .chain(l.duplicate_of.map(|o| (LinkKind::Duplicates, o)))
        .chain(l.duplicated_by.iter().map(|o| (LinkKind::DuplicatedBy, *o)));
    for (link, other) in links {
        counts.links += 1;
        sink(&ExportRecord::Link {
            entry_id,
            handle,
            link,
            other,
        })?;
    }
    for reference in &e.external_references {
        counts.external_references += 1;
        sink(&ExportRecord::ExternalReference {
            entry_id,
            handle,
            reference: reference.clone(),
        })?;
    }
    Ok(())
}
