//! `sync-health` (per integration: queue, oldest job, dead jobs, conflicts, last success,
//! pause, quota) and `cross-system` (entries linked in other systems, and those whose status
//! as last agreed with the remote — the link's base — differs from the local one), from the
//! sync state port.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::index::Source;
use super::{MAX_ROWS, Quota, SyncSources};
use crate::entry::Status;
use crate::error::Result;
use crate::id::EntryId;
use crate::store::Filter;
use crate::sync_state::{Conflict, CursorKind, Job, JobState, Link, LinkState};
use crate::time::Timestamp;

/// The `sync-health` report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncHealth {
    /// Configured integrations and any other the state mentions, by name.
    pub integrations: Vec<IntegrationHealth>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationHealth {
    pub name: String,
    pub configured: bool,
    /// Pushes waiting or running.
    pub queue_depth: u64,
    pub running: u64,
    /// Jobs that failed permanently or too often (`devlog sync retry`).
    pub dead: u64,
    /// The oldest job waiting or running: when it last changed, and its age in hours then.
    pub oldest_job_at: Option<Timestamp>,
    pub oldest_job_age_hours: Option<f64>,
    pub open_conflicts: u64,
    pub linked: u64,
    /// The latest time an entry was synced with the remote (a push or pull that agreed).
    pub last_success: Option<Timestamp>,
    pub paused_until: Option<Timestamp>,
    pub pause_reason: Option<String>,
    /// The API quota as last seen by a sync (kept in the sync state), or by this process's
    /// own HTTP client.
    pub quota: Option<Quota>,
    /// The last error of a dead job (the newest), for the eye.
    pub last_error: Option<String>,
}

/// The health of one integration from its jobs, links and conflicts.
pub fn health_of(
    name: &str,
    configured: bool,
    jobs: &[&Job],
    links: &[&Link],
    conflicts: &[&Conflict],
    now: Timestamp,
) -> IntegrationHealth {
    let waiting: Vec<&&Job> = jobs.iter().filter(|j| j.state != JobState::Dead).collect();
    let oldest = waiting.iter().map(|j| j.updated_at).min();
    let newest_dead = jobs
        .iter()
        .filter(|j| j.state == JobState::Dead)
        .max_by_key(|j| j.updated_at);
    IntegrationHealth {
        name: name.to_string(),
        configured,
        queue_depth: waiting.len() as u64,
        running: waiting
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count() as u64,
        dead: jobs.iter().filter(|j| j.state == JobState::Dead).count() as u64,
        oldest_job_at: oldest.and_then(Timestamp::from_millis),
        oldest_job_age_hours: oldest.map(|t| (now.millis() - t) as f64 / 3_600_000.0),
        open_conflicts: conflicts.len() as u64,
        linked: links
            .iter()
            .filter(|l| l.state == LinkState::Linked)
            .count() as u64,
        last_success: links
            .iter()
            .filter_map(|l| l.last_synced_at)
            .max()
            .and_then(Timestamp::from_millis),
        paused_until: None,
        pause_reason: None,
        quota: None,
        last_error: newest_dead.and_then(|j| j.last_error.clone()),
    }
}

pub(super) async fn sync_health(
    sync: Option<&SyncSources>,
    now: Timestamp,
    notes: &mut Vec<String>,
) -> Result<SyncHealth> {
    let Some(s) = sync else {
        notes.push("no sync state: nothing is synced in this workspace".into());
        return Ok(SyncHealth::default());
    };
    let jobs = s.state.open_jobs().await?;
    let links = s.state.links().await?;
    let conflicts = s.state.open_conflicts().await?;
    let mut names: BTreeSet<String> = s.configured.iter().cloned().collect();
    names.extend(jobs.iter().map(|j| j.integration.clone()));
    names.extend(links.iter().map(|l| l.integration.clone()));
    names.extend(conflicts.iter().map(|c| c.integration.clone()));
    let mut out = Vec::new();
    let mut unknown_quota = Vec::new();
    for name in names {
        let of = |i: &str| i == name;
        let j: Vec<&Job> = jobs.iter().filter(|x| of(&x.integration)).collect();
        let l: Vec<&Link> = links.iter().filter(|x| of(&x.integration)).collect();
        let c: Vec<&Conflict> = conflicts.iter().filter(|x| of(&x.integration)).collect();
        let mut h = health_of(&name, s.configured.contains(&name), &j, &l, &c, now);
        if let Some((until, reason)) = s.state.paused_until(&name, now.millis()).await? {
            h.paused_until = Timestamp::from_millis(until);
            h.pause_reason = Some(reason);
        }
        h.quota = match s.quotas.get(&name) {
            Some(q) => Some(q.clone()),
            None => s
                .state
                .cursor(&name, CursorKind::Quota)
                .await?
                .as_deref()
                .and_then(Quota::from_cursor),
        };
        if h.quota.is_none() {
            unknown_quota.push(name.clone());
        }
        out.push(h);
    }
    if !unknown_quota.is_empty() {
        notes.push(format!(
            "quota left is not known for {}: no sync has seen the remote's rate-limit headers yet",
            unknown_quota.join(", ")
        ));
    }
    Ok(SyncHealth { integrations: out })
}

/// The `cross-system` report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossSystem {
    /// Per integration.
    pub systems: Vec<SystemProgress>,
    /// Entries passing the filter linked somewhere.
    pub linked_entries: u64,
    /// Entries passing the filter linked nowhere.
    pub unlinked_entries: u64,
    /// Linked entries whose local status differs from the one last agreed with a remote,
    /// by handle (at most [`MAX_ROWS`]).
    pub disagreeing: Vec<CrossEntry>,
    pub disagreeing_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemProgress {
    pub integration: String,
    pub linked: u64,
    /// Linked entries by their local status.
    pub by_status: BTreeMap<Status, u64>,
    /// Linked entries whose local status is the remote's as last agreed.
    pub agree: u64,
    pub disagree: u64,
    /// Links without a base (linked before bases were recorded, or being created).
    pub unknown: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossEntry {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    pub status: Status,
    pub links: Vec<CrossLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossLink {
    pub integration: String,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    /// The status both sides last agreed on (the link's base).
    pub remote_status: Option<Status>,
    pub last_synced_at: Option<Timestamp>,
    pub agrees: bool,
}

pub(super) async fn cross_system(
    src: Source<'_>,
    filter: &Filter,
    sync: Option<&SyncSources>,
    notes: &mut Vec<String>,
) -> Result<CrossSystem> {
    let Some(s) = sync else {
        notes.push("no sync state: nothing is linked in this workspace".into());
        return Ok(CrossSystem::default());
    };
    let mut by_entry: HashMap<EntryId, Vec<Link>> = HashMap::new();
    for l in s.state.links().await? {
        if l.state != LinkState::Unlinked {
            by_entry.entry(l.entry_id).or_default().push(l);
        }
    }
    let mut systems: BTreeMap<String, SystemProgress> = BTreeMap::new();
    let mut out = CrossSystem::default();
    src.each(filter, |e| {
        let Some(links) = by_entry.get(&e.id) else {
            out.unlinked_entries += 1;
            return;
        };
        out.linked_entries += 1;
        let mut rows = Vec::new();
        let mut any_disagree = false;
        for l in links {
            let sys = systems
                .entry(l.integration.clone())
                .or_insert_with(|| SystemProgress {
                    integration: l.integration.clone(),
                    ..SystemProgress::default()
                });
            sys.linked += 1;
            *sys.by_status.entry(e.status).or_default() += 1;
            let remote = l.base.as_ref().map(|b| b.status);
            let agrees = remote.is_none_or(|r| r == e.status);
            match remote {
                None => sys.unknown += 1,
                Some(_) if agrees => sys.agree += 1,
                Some(_) => {
                    sys.disagree += 1;
                    any_disagree = true;
                }
            }
            rows.push(CrossLink {
                integration: l.integration.clone(),
                remote_id: l.remote_id.clone(),
                url: l.url.clone(),
                remote_status: remote,
                last_synced_at: l.last_synced_at.and_then(Timestamp::from_millis),
                agrees,
            });
        }
        if any_disagree {
            out.disagreeing_count += 1;
            if out.disagreeing.len() < MAX_ROWS {
                out.disagreeing.push(CrossEntry {
                    id: e.id,
                    handle: e.handle,
                    title: e.title.clone(),
                    status: e.status,
                    links: rows,
                });
            }
        }
    })
    .await?;
    out.systems = systems.into_values().collect();
    if out.disagreeing_count > out.disagreeing.len() as u64 {
        notes.push(format!(
            "{} entries disagree with a remote, the first {} listed",
            out.disagreeing_count,
            out.disagreeing.len()
        ));
    }
    notes.push(
        "remote status is the one both sides last agreed on (the link's base); a remote change not pulled yet is not seen"
            .into(),
    );
    Ok(out)
}
