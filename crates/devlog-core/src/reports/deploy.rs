//! `deployments`: what was deployed where and when — the `deployments` integrations record on
//! entries (Azure DevOps release deployments, docs/azure-devops.md), per environment and one
//! row per deployment with the entries it carried.
//!
//! Summaries do not carry deployments, and reports never read every full document: the
//! entries that may have one in the window are those whose change feed holds a change of
//! `deployments` at or after `since` (a deployment is recorded when it is reported, so never
//! before it happened), and only those documents are read.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{MAX_ROWS, data};
use crate::entry::{Deployment, DeploymentStatus, EntrySummary};
use crate::error::{ErrorKind, Result};
use crate::event::EventKind;
use crate::id::EntryId;
use crate::store::{Filter, Store};
use crate::time::Timestamp;

/// The `deployments` report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployments {
    /// Deployments in the window (one per deployment id, however many entries it carried).
    pub total: u64,
    /// Entries that reached an environment in the window (a succeeded or partially
    /// succeeded deployment).
    pub entries_deployed: u64,
    /// Per environment, most recent deployment first.
    pub environments: Vec<EnvironmentDeployments>,
    /// Newest first, at most [`MAX_ROWS`].
    pub deployments: Vec<DeploymentRow>,
}

/// One environment's deployments in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentDeployments {
    pub environment: String,
    pub deployments: u64,
    /// Succeeded or partially succeeded.
    pub succeeded: u64,
    /// Failed, canceled, rejected or not deployed.
    pub failed: u64,
    pub in_progress: u64,
    /// Entries that reached the environment.
    pub entries: u64,
    pub last_at: Timestamp,
    pub last_release: String,
    pub last_status: DeploymentStatus,
}

/// One deployment and the entries it carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRow {
    pub id: String,
    pub system: String,
    pub environment: String,
    pub release: String,
    pub status: DeploymentStatus,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub entries: Vec<DeployedEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployedEntry {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
}

/// The report from entries and their deployments (`since ≤ at < until` counted).
pub fn deployments_of(
    entries: &[(DeployedEntry, Vec<Deployment>)],
    since: Timestamp,
    until: Timestamp,
) -> Deployments {
    let mut rows: BTreeMap<&str, DeploymentRow> = BTreeMap::new();
    for (e, ds) in entries {
        for d in ds.iter().filter(|d| d.at >= since && d.at < until) {
            let row = rows.entry(d.id.as_str()).or_insert_with(|| DeploymentRow {
                id: d.id.clone(),
                system: d.system.clone(),
                environment: d.environment.clone(),
                release: d.release.clone(),
                status: d.status,
                at: d.at,
                url: d.url.clone(),
                entries: Vec::new(),
            });
            if !row.entries.iter().any(|x| x.id == e.id) {
                row.entries.push(e.clone());
            }
        }
    }
    let mut rows: Vec<DeploymentRow> = rows.into_values().collect();
    for r in &mut rows {
        r.entries.sort_by_key(|e| e.handle);
    }
    rows.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
    let mut envs: BTreeMap<&str, (EnvironmentDeployments, HashSet<EntryId>)> = BTreeMap::new();
    let mut deployed: HashSet<EntryId> = HashSet::new();
    // Newest first: the first row of an environment is its last deployment.
    for r in &rows {
        let (env, reached) = envs.entry(r.environment.as_str()).or_insert_with(|| {
            (
                EnvironmentDeployments {
                    environment: r.environment.clone(),
                    deployments: 0,
                    succeeded: 0,
                    failed: 0,
                    in_progress: 0,
                    entries: 0,
                    last_at: r.at,
                    last_release: r.release.clone(),
                    last_status: r.status,
                },
                HashSet::new(),
            )
        });
        env.deployments += 1;
        if r.status.deployed() {
            env.succeeded += 1;
            for e in &r.entries {
                reached.insert(e.id);
                deployed.insert(e.id);
            }
        } else if r.status == DeploymentStatus::InProgress {
            env.in_progress += 1;
        } else {
            env.failed += 1;
        }
    }
    let mut environments: Vec<EnvironmentDeployments> = envs
        .into_values()
        .map(|(mut env, reached)| {
            env.entries = reached.len() as u64;
            env
        })
        .collect();
    environments.sort_by(|a, b| {
        b.last_at
            .cmp(&a.last_at)
            .then_with(|| a.environment.cmp(&b.environment))
    });
    let total = rows.len() as u64;
    rows.truncate(MAX_ROWS);
    Deployments {
        total,
        entries_deployed: deployed.len() as u64,
        environments,
        deployments: rows,
    }
}

/// Feed events read per page.
const FEED_PAGE: usize = 1000;

pub(super) async fn deployments(
    store: &dyn Store,
    filter: &Filter,
    since: Timestamp,
    until: Timestamp,
    notes: &mut Vec<String>,
) -> Result<Deployments> {
    let mut scope: HashMap<EntryId, DeployedEntry> = HashMap::new();
    data::scan(store, filter, |e: EntrySummary| {
        scope.insert(
            e.id,
            DeployedEntry {
                id: e.id,
                handle: e.handle,
                title: e.title,
            },
        );
    })
    .await?;
    // Entries whose deployments changed at or after `since`: only they can have one in the
    // window.
    let mut touched: Vec<EntryId> = Vec::new();
    let mut seen: HashSet<EntryId> = HashSet::new();
    let mut after = 0;
    loop {
        let page = store.events(after, FEED_PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.seq;
        for ev in &page {
            if ev.at >= since
                && matches!(&ev.kind, EventKind::FieldChanged { field, .. } if field == "deployments")
                && scope.contains_key(&ev.entry_id)
                && seen.insert(ev.entry_id)
            {
                touched.push(ev.entry_id);
            }
        }
        if page.len() < FEED_PAGE {
            break;
        }
    }
    let mut entries = Vec::with_capacity(touched.len());
    for id in touched {
        match store.get(id).await {
            Ok(e) => {
                if let Some(d) = scope.remove(&id) {
                    entries.push((d, e.deployments));
                }
            }
            // Deleted since: its deployments went with it.
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    let out = deployments_of(&entries, since, until);
    if out.total > out.deployments.len() as u64 {
        notes.push(format!(
            "{} deployments in the window; the newest {} are listed (all are counted per environment)",
            out.total,
            out.deployments.len()
        ));
    }
    if out.total == 0 {
        notes.push(
            "no deployment in the window: integrations record them (Azure DevOps release \
             deployments, docs/azure-devops.md)"
                .into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Extra;

    fn at(h: i64) -> Timestamp {
        Timestamp::from_millis(1_780_000_000_000 + h * 3_600_000).unwrap()
    }

    fn entry(handle: u64) -> DeployedEntry {
        DeployedEntry {
            id: EntryId::from_legacy(handle, "2026-01-01T00:00:00.000Z"),
            handle,
            title: format!("entry {handle}"),
        }
    }

    fn dep(id: &str, env: &str, status: DeploymentStatus, h: i64) -> Deployment {
        Deployment {
            id: id.into(),
            system: "azure-devops".into(),
            environment: env.into(),
            release: format!("Release-{id}"),
            status,
            url: None,
            at: at(h),
            extra: Extra::new(),
        }
    }

    #[test]
    fn deployments_are_grouped_by_id_and_counted_per_environment() {
        use DeploymentStatus::*;
        let entries = vec![
            (
                entry(1),
                vec![
                    dep("1", "Dev", Succeeded, 1),
                    dep("2", "Prod", Failed, 5),
                    dep("3", "Prod", Succeeded, 8),
                    // Before the window.
                    dep("0", "Dev", Succeeded, -5),
                ],
            ),
            (
                entry(2),
                vec![
                    dep("1", "Dev", Succeeded, 1),
                    dep("4", "Dev", InProgress, 9),
                ],
            ),
            // At `until`: outside.
            (entry(3), vec![dep("5", "Prod", Succeeded, 10)]),
        ];
        let r = deployments_of(&entries, at(0), at(10));
        assert_eq!((r.total, r.entries_deployed), (4, 2));
        let ids: Vec<&str> = r.deployments.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["4", "3", "2", "1"]);
        // One deployment carrying two entries is one row listing both.
        let handles: Vec<u64> = r.deployments[3].entries.iter().map(|e| e.handle).collect();
        assert_eq!(handles, [1, 2]);
        let envs: Vec<(&str, u64, u64, u64, u64, u64)> = r
            .environments
            .iter()
            .map(|e| {
                (
                    e.environment.as_str(),
                    e.deployments,
                    e.succeeded,
                    e.failed,
                    e.in_progress,
                    e.entries,
                )
            })
            .collect();
        assert_eq!(envs, [("Dev", 2, 1, 0, 1, 2), ("Prod", 2, 1, 1, 0, 1)]);
        assert_eq!(r.environments[0].last_status, InProgress);
        assert_eq!(r.environments[1].last_release, "Release-3");
        assert_eq!(r.environments[1].last_at, at(8));
    }

    #[test]
    fn no_deployments_is_an_empty_report() {
        let r = deployments_of(&[(entry(1), vec![])], at(0), at(10));
        assert_eq!(r, Deployments::default());
    }
}
