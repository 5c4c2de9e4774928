//! Milestones ⇄ iterations. An entry's milestone is the iteration of its work item
//! (`System.IterationPath`), by name: the milestone `Sprint 4` is the team iteration named
//! `Sprint 4` (path `Project\Sprint 4`, or deeper when the team's iteration is nested).
//! [`prepare_milestone`](devlog_core::integration::Integration::prepare_milestone) finds the
//! team's iteration by name, or creates it under the project's root iteration (a
//! classification node, with the local milestone's dates) and adds it to the team; a create
//! answered 409 (a retry, or someone else made it meanwhile) reads the node back, so a retry
//! never makes two. An item in the project's root iteration is in no milestone.
//!
//! Also the library calls behind a future `devlog ado iterations` (the team's iterations with
//! dates and done/total counts) and `devlog ado iteration add` ([`AdoIntegration::add_to_iteration`]).

use devlog_core::entry::Status;
use devlog_core::integration::{RemoteItem, RemoteMilestone, SyncError, SyncErrorKind};
use devlog_core::planning::Milestone;
use devlog_http::HttpErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::workitem::{ITERATION_PATH, STATE};
use crate::{API_VERSION, AdoIntegration, NAME, PATCH, ValueList, op};

/// A team iteration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Iteration {
    /// Its GUID.
    pub id: String,
    pub name: String,
    /// `Project\Sprint 4`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<chrono::NaiveDate>,
    /// `past`, `current` or `future`, as Azure DevOps says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_frame: Option<String>,
}

/// An iteration with how many of its work items are done (their state stands for `done` or
/// `closed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IterationProgress {
    #[serde(flatten)]
    pub iteration: Iteration,
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Deserialize)]
struct TeamIteration {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    attributes: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Node {
    identifier: String,
}

fn date(v: Option<&Value>) -> Option<chrono::NaiveDate> {
    let t = v?.as_str()?;
    crate::workitem::parse_time(t)
        .ok()
        .map(|t| t.as_datetime().date_naive())
        .or_else(|| t.get(..10)?.parse().ok())
}

impl TeamIteration {
    fn into_iteration(self) -> Option<Iteration> {
        let a = self.attributes.unwrap_or(Value::Null);
        Some(Iteration {
            id: self.id,
            name: self.name?,
            path: self.path?,
            start: date(a.get("startDate")),
            finish: date(a.get("finishDate")),
            time_frame: a
                .get("timeFrame")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// One path segment, percent-encoded.
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The milestone an iteration path stands for: its last part; none for the project's root.
pub fn milestone_of_path(path: &str) -> Option<String> {
    let (_, leaf) = path.trim().rsplit_once('\\')?;
    let leaf = leaf.trim();
    (!leaf.is_empty()).then(|| leaf.to_string())
}

impl AdoIntegration {
    /// The team's iterations (read once per run, or again when a name is missing).
    pub async fn team_iterations(&self) -> Result<Vec<Iteration>, SyncError> {
        let resp = self
            .client
            .get(&self.team_path("work/teamsettings/iterations"))
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let list: ValueList<TeamIteration> = self.decode(&resp, None)?;
        let its: Vec<Iteration> = list
            .value
            .into_iter()
            .filter_map(TeamIteration::into_iteration)
            .collect();
        *self.iterations_cache() = Some(its.clone());
        Ok(its)
    }

    fn iterations_cache(&self) -> std::sync::MutexGuard<'_, Option<Vec<Iteration>>> {
        self.iterations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached team iteration named `name`.
    pub(crate) fn cached_iteration(&self, name: &str) -> Option<Iteration> {
        self.iterations_cache()
            .as_ref()?
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name.trim()))
            .cloned()
    }

    /// The team iteration named `name`, if the team has one.
    pub async fn find_iteration(&self, name: &str) -> Result<Option<Iteration>, SyncError> {
        if let Some(i) = self.cached_iteration(name) {
            return Ok(Some(i));
        }
        self.team_iterations().await?;
        Ok(self.cached_iteration(name))
    }

    /// The team iteration named `name`, created (under the project's root, with the local
    /// milestone's dates: created → due) and added to the team when missing. Safe to retry.
    pub async fn ensure_iteration(
        &self,
        name: &str,
        local: Option<&Milestone>,
    ) -> Result<Iteration, SyncError> {
        let name = name.trim();
        if let Some(i) = self.find_iteration(name).await? {
            return Ok(i);
        }
        if name.is_empty()
            || name.contains([
                '\\', '/', '$', '?', '*', ':', '"', '&', '>', '<', '#', '%', '|', '+',
            ])
        {
            return Err(self.permanent(format!(
                "milestone `{name}` cannot be an Azure DevOps iteration name (no \\ / $ ? * : \" & > < # % | +): rename the milestone"
            )));
        }
        let node = match self.get_node(name).await? {
            Some(n) => n,
            None => {
                let mut body = json!({ "name": name });
                if let Some(due) = local.and_then(|m| m.due_date) {
                    let created = local.map(|m| m.created_at.as_datetime().date_naive());
                    let start = created.filter(|c| *c <= due).unwrap_or(due);
                    body["attributes"] = json!({
                        "startDate": format!("{start}T00:00:00Z"),
                        "finishDate": format!("{due}T00:00:00Z"),
                    });
                }
                let sent = self
                    .client
                    .post(&self.project_path("wit/classificationnodes/iterations"))
                    .query("api-version", API_VERSION)
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(resp) => self.decode::<Node>(&resp, None)?,
                    // Made meanwhile (a retried create, or someone else): read it back.
                    Err(e) if e.kind() == HttpErrorKind::Conflict => {
                        self.get_node(name).await?.ok_or_else(|| {
                            self.permanent(format!(
                                "Azure DevOps says iteration `{name}` exists but does not answer it ({e})"
                            ))
                        })?
                    }
                    Err(e) => return Err(self.sync_err(e, None)),
                }
            }
        };
        // On the team, so its boards and `@current` see it.
        let resp = self
            .client
            .post(&self.team_path("work/teamsettings/iterations"))
            .query("api-version", API_VERSION)
            .json(&json!({ "id": node.identifier }))
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let added: TeamIteration = self.decode(&resp, None)?;
        let it = added.into_iteration().ok_or_else(|| {
            self.permanent(format!(
                "Azure DevOps answered adding iteration `{name}` to team {} without its name or path",
                self.config.team
            ))
        })?;
        let mut cache = self.iterations_cache();
        let list = cache.get_or_insert_with(Vec::new);
        list.retain(|i| i.id != it.id);
        list.push(it.clone());
        Ok(it)
    }

    async fn get_node(&self, name: &str) -> Result<Option<Node>, SyncError> {
        let sent = self
            .client
            .get(&self.project_path(&format!(
                "wit/classificationnodes/iterations/{}",
                segment(name)
            )))
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await;
        match sent {
            Ok(resp) => Ok(Some(self.decode(&resp, None)?)),
            Err(e) if e.kind() == HttpErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.sync_err(e, None)),
        }
    }

    /// The iteration path an entry's milestone is written as: the team iteration's path, or
    /// the project's root iteration for none.
    pub(crate) async fn iteration_path_of(
        &self,
        milestone: Option<&str>,
    ) -> Result<String, SyncError> {
        let Some(name) = milestone else {
            return Ok(self.project().to_string());
        };
        match self.find_iteration(name).await? {
            Some(i) => Ok(i.path),
            None => Err(self.permanent(format!(
                "team {} has no iteration `{name}` (prepare_milestone creates it before a write)",
                self.config.team
            ))),
        }
    }

    /// The remote milestone of an iteration devlog has read (dates become the local
    /// milestone's due date; a past iteration is closed).
    pub(crate) fn remote_milestone(&self, name: &str) -> Option<RemoteMilestone> {
        let i = self.cached_iteration(name)?;
        Some(RemoteMilestone {
            title: i.name,
            description: String::new(),
            due_date: i.finish,
            closed: i.time_frame.as_deref() == Some("past"),
        })
    }

    /// The team's iterations with their dates and how many of their work items are done.
    pub async fn iterations(&self) -> Result<Vec<IterationProgress>, SyncError> {
        #[derive(Deserialize)]
        struct Target {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Relation {
            #[serde(default)]
            target: Option<Target>,
        }
        #[derive(Deserialize)]
        struct Items {
            #[serde(default, rename = "workItemRelations")]
            relations: Vec<Relation>,
        }
        let meta = self.meta().await?;
        let mut out = Vec::new();
        for it in self.team_iterations().await? {
            let resp = self
                .client
                .get(&self.team_path(&format!("work/teamsettings/iterations/{}/workitems", it.id)))
                .query("api-version", API_VERSION)
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, None))?;
            let items: Items = self.decode(&resp, None)?;
            let mut ids: Vec<u64> = items
                .relations
                .into_iter()
                .filter_map(|r| r.target.map(|t| t.id))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let mut done = 0;
            let mut total = 0;
            for w in self.batch(&ids).await? {
                total += 1;
                let state = w.str_field(STATE).unwrap_or_default();
                let status = match meta.type_meta(w.type_name()).map(|t| &t.states) {
                    Some(Ok(map)) => Some(map.status_of(state)),
                    _ => None,
                };
                if matches!(status, Some(Status::Done | Status::Closed)) {
                    done += 1;
                }
            }
            out.push(IterationProgress {
                iteration: it,
                done,
                total,
            });
        }
        Ok(out)
    }

    /// Moves work item `remote_id` to an iteration: `@current` (the team's current one) or
    /// a name (created when missing, as for a milestone). One patch, tested on the revision
    /// read.
    pub async fn add_to_iteration(
        &self,
        remote_id: &str,
        target: &str,
    ) -> Result<RemoteItem, SyncError> {
        if remote_id.parse::<u64>().is_err() {
            return Err(SyncError::new(
                NAME,
                SyncErrorKind::NotFound,
                format!("`{remote_id}` is not a work item id"),
            ));
        }
        let path = if target.trim().eq_ignore_ascii_case("@current") {
            self.current_iteration().await?
        } else {
            self.ensure_iteration(target, None).await?.path
        };
        let meta = self.meta().await?;
        let current = self.get_item(remote_id).await?;
        if current
            .str_field(ITERATION_PATH)
            .is_some_and(|p| p.eq_ignore_ascii_case(&path))
        {
            return self.to_remote(meta, &current);
        }
        let ops = vec![
            json!({"op": "test", "path": "/rev", "value": current.rev}),
            op("replace", ITERATION_PATH, json!(path)),
        ];
        let resp = self
            .client
            .patch(&self.project_path(&format!("wit/workitems/{remote_id}")))
            .query("api-version", API_VERSION)
            .json_as(&ops, PATCH)
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(remote_id)))?;
        let updated = self.decode(&resp, Some(remote_id))?;
        self.to_remote(meta, &updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_of_a_path_is_the_milestone() {
        assert_eq!(
            milestone_of_path("Fabrikam\\Release 1\\Sprint 4").as_deref(),
            Some("Sprint 4")
        );
        assert_eq!(milestone_of_path("Fabrikam"), None);
        assert_eq!(milestone_of_path(""), None);
    }

    #[test]
    fn names_are_encoded_as_one_segment() {
        assert_eq!(segment("Sprint 4/a#b"), "Sprint%204%2Fa%23b");
    }
}
