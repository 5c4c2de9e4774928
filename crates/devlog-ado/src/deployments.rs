//! Release deployments (`ms.vss-release.deployment-completed-event`) linked to the entries
//! whose work items they carry (docs/azure-devops.md, "Pipelines and deployments").
//!
//! The event names the release and the environment but no work items. They are read the way
//! Azure DevOps' own release summary does: the release (`GET
//! vsrm…/{project}/_apis/release/releases/{id}`) lists its artifacts; a `Build` artifact names
//! the build it deploys (`definitionReference.version.id`), and the build's work items are
//! `GET {project}/_apis/build/builds/{id}/workitems`. Each work item linked to an entry gives
//! an [`Action::Deployment`]: the deployment added to the entry's `deployments` and a progress
//! note "Deployed to <environment>: <release>". Artifacts of other types (Git, GitHub,
//! Jenkins, …) carry no work items the API reports; they are named in the hook's `ignored`.
//!
//! The deployment's id is the event's deployment id when it has one (newer payloads carry
//! `resource.deployment`), else release, environment and attempt (or the event id): a
//! redelivered event is the same deployment, a redeploy a new one. The engine applies each
//! action key once, and the entry keeps one deployment per id.

use std::collections::BTreeSet;

use devlog_core::entry::{Deployment, DeploymentStatus};
use devlog_core::integration::{Action, ActionTarget, RemoteAction, SyncError, SyncErrorKind};
use devlog_core::time::{Clock, SystemClock, Timestamp};
use serde::Deserialize;
use serde_json::Value;

use crate::{API_VERSION, AdoIntegration, NAME, ValueList};

/// Work items read per build (the endpoint's default is 50).
const WORK_ITEMS_PER_BUILD: usize = 500;

/// Where the Release Management API lives for an organization URL: `vsrm.dev.azure.com/<org>`
/// for `dev.azure.com/<org>`, `<org>.vsrm.visualstudio.com` for `<org>.visualstudio.com`, the
/// organization URL itself anywhere else (Azure DevOps Server serves it on the collection URL).
pub fn release_url(organization_url: &str) -> String {
    let Some((scheme, rest)) = organization_url.split_once("://") else {
        return organization_url.to_string();
    };
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let lower = host.to_ascii_lowercase();
    let host = if lower == "dev.azure.com" {
        "vsrm.dev.azure.com".to_string()
    } else if let Some(org) = lower.strip_suffix(".visualstudio.com")
        && !org.ends_with(".vsrm")
    {
        format!("{org}.vsrm.visualstudio.com")
    } else {
        host.to_string()
    };
    match path {
        Some(p) => format!("{scheme}://{host}/{p}"),
        None => format!("{scheme}://{host}"),
    }
}

/// An Azure DevOps deployment status as devlog's.
pub fn status_of(s: &str) -> DeploymentStatus {
    match s.to_ascii_lowercase().as_str() {
        "succeeded" => DeploymentStatus::Succeeded,
        "partiallysucceeded" => DeploymentStatus::PartiallySucceeded,
        "failed" => DeploymentStatus::Failed,
        "canceled" | "cancelled" => DeploymentStatus::Canceled,
        "rejected" => DeploymentStatus::Rejected,
        "inprogress" | "queued" | "scheduled" => DeploymentStatus::InProgress,
        _ => DeploymentStatus::NotDeployed,
    }
}

/// The note of a deployment.
pub fn note_text(d: &Deployment) -> String {
    match d.status {
        DeploymentStatus::Succeeded => format!("Deployed to {}: {}", d.environment, d.release),
        DeploymentStatus::PartiallySucceeded => format!(
            "Deployed to {}: {} (partially succeeded)",
            d.environment, d.release
        ),
        s => format!(
            "Deployment of {} to {} {}",
            d.release,
            d.environment,
            s.as_str().replace('-', " ")
        ),
    }
}

fn s<'a>(v: &'a Value, pointers: &[&str]) -> Option<&'a str> {
    pointers.iter().find_map(|p| {
        v.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    })
}

fn n(v: &Value, pointers: &[&str]) -> Option<u64> {
    pointers.iter().find_map(|p| {
        let x = v.pointer(p)?;
        x.as_u64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n > 0)
    })
}

/// What a deployment event says, read leniently from the 2016 (`resource.environment`) and
/// later (`resource.deployment`) shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentEvent {
    pub release_id: Option<u64>,
    pub release: String,
    pub environment: String,
    pub environment_id: Option<u64>,
    pub status: DeploymentStatus,
    /// The deployment's id, release-environment-attempt, or the event's id.
    pub key: String,
    pub url: Option<String>,
    pub at: Timestamp,
}

impl DeploymentEvent {
    pub fn read(payload: &Value) -> DeploymentEvent {
        let r = payload.get("resource").cloned().unwrap_or(Value::Null);
        let release_id = n(
            &r,
            &[
                "/environment/release/id",
                "/deployment/release/id",
                "/environment/releaseId",
                "/release/id",
            ],
        );
        let environment_id = n(
            &r,
            &["/environment/id", "/deployment/releaseEnvironment/id"],
        );
        let attempt = n(&r, &["/deployment/attempt"]).or_else(|| {
            r.pointer("/environment/deploySteps")
                .and_then(Value::as_array)
                .and_then(|steps| {
                    steps
                        .iter()
                        .filter_map(|s| s.get("attempt").and_then(Value::as_u64))
                        .max()
                })
        });
        let deployment = n(&r, &["/deployment/id"]);
        let which = match (deployment, attempt, s(payload, &["/id"])) {
            (Some(d), _, _) => format!("deployment-{d}"),
            (None, Some(a), _) => format!("attempt-{a}"),
            (None, None, Some(e)) => format!("event-{e}"),
            (None, None, None) => "unnamed".to_string(),
        };
        let key = format!(
            "release-{}:environment-{}:{which}",
            release_id
                .map(|x| x.to_string())
                .unwrap_or_else(|| "?".into()),
            environment_id
                .map(|x| x.to_string())
                .unwrap_or_else(|| "?".into()),
        );
        let at = s(
            &r,
            &[
                "/deployment/completedOn",
                "/deployment/lastModifiedOn",
                "/environment/modifiedOn",
            ],
        )
        .or_else(|| s(payload, &["/createdDate"]))
        .and_then(|t| crate::workitem::parse_time(t).ok())
        .unwrap_or_else(|| SystemClock.now());
        DeploymentEvent {
            release_id,
            release: s(
                &r,
                &[
                    "/environment/release/name",
                    "/deployment/release/name",
                    "/release/name",
                ],
            )
            .map(str::to_string)
            .or_else(|| release_id.map(|i| format!("release {i}")))
            .unwrap_or_else(|| "a release".into()),
            environment: s(
                &r,
                &["/environment/name", "/deployment/releaseEnvironment/name"],
            )
            .unwrap_or("an environment")
            .to_string(),
            environment_id,
            status: status_of(
                s(&r, &["/deployment/deploymentStatus", "/environment/status"]).unwrap_or_default(),
            ),
            key,
            url: s(
                &r,
                &[
                    "/environment/release/_links/web/href",
                    "/deployment/release/_links/web/href",
                    "/release/_links/web/href",
                ],
            )
            .map(str::to_string),
            at,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ResourceRef {
    #[serde(default)]
    id: Option<String>,
}

impl AdoIntegration {
    /// The work items a release carries: those of the builds its `Build` artifacts deploy.
    /// Also returns the web URL of the release and what was not read (other artifacts).
    pub async fn release_work_items(
        &self,
        release_id: u64,
    ) -> Result<(BTreeSet<u64>, Option<String>, Vec<String>), SyncError> {
        let resp = self
            .release_client
            .get(&self.project_path(&format!("release/releases/{release_id}")))
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| {
                if e.kind() == devlog_http::HttpErrorKind::NotFound {
                    return SyncError::new(
                        NAME,
                        SyncErrorKind::NotFound,
                        format!(
                            "release {release_id} does not exist in project {} (or is not visible)",
                            self.project()
                        ),
                    );
                }
                let mut err = self.sync_err(e, None);
                if err.kind == SyncErrorKind::Auth {
                    err.message = format!(
                        "{}; reading releases needs the Release (Read) scope",
                        err.message
                    );
                }
                err
            })?;
        let release: Value = self.decode(&resp, None)?;
        let url = s(&release, &["/_links/web/href"]).map(str::to_string);
        let mut items = BTreeSet::new();
        let mut skipped = Vec::new();
        let artifacts = release
            .get("artifacts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for a in &artifacts {
            let alias = s(a, &["/alias"]).unwrap_or("an artifact");
            let kind = s(a, &["/type"]).unwrap_or("unknown");
            if !kind.eq_ignore_ascii_case("build") {
                skipped.push(format!(
                    "artifact {alias} ({kind}) carries no work items devlog can read"
                ));
                continue;
            }
            let Some(build) = n(a, &["/definitionReference/version/id"]) else {
                skipped.push(format!("build artifact {alias} names no build version"));
                continue;
            };
            let project = s(
                a,
                &[
                    "/definitionReference/project/name",
                    "/definitionReference/project/id",
                ],
            )
            .unwrap_or(self.project())
            .to_string();
            let resp = self
                .client
                .get(&format!("{project}/_apis/build/builds/{build}/workitems"))
                .query("$top", &WORK_ITEMS_PER_BUILD.to_string())
                .query("api-version", API_VERSION)
                .no_cache()
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) if e.kind() == devlog_http::HttpErrorKind::NotFound => {
                    skipped.push(format!(
                        "build {build} of artifact {alias} no longer exists (retention)"
                    ));
                    continue;
                }
                Err(e) => return Err(self.sync_err(e, None)),
            };
            let refs: ValueList<ResourceRef> = self.decode(&resp, None)?;
            items.extend(
                refs.value
                    .iter()
                    .filter_map(|r| r.id.as_deref().and_then(|i| i.parse::<u64>().ok())),
            );
        }
        Ok((items, url, skipped))
    }

    /// The actions of a deployment event, and what was not taken from it.
    pub(crate) async fn deployment_actions(
        &self,
        payload: &Value,
    ) -> Result<(Vec<RemoteAction>, Option<String>), SyncError> {
        let ev = DeploymentEvent::read(payload);
        let Some(release_id) = ev.release_id else {
            return Ok((
                Vec::new(),
                Some(format!(
                    "deployment of {} to {} names no release id: its work items cannot be read",
                    ev.release, ev.environment
                )),
            ));
        };
        let (items, web, skipped) = match self.release_work_items(release_id).await {
            Ok(x) => x,
            Err(e) if e.kind == SyncErrorKind::NotFound => {
                return Ok((
                    Vec::new(),
                    Some(format!(
                        "deployment of {} to {} not applied: {}",
                        ev.release, ev.environment, e.message
                    )),
                ));
            }
            Err(e) => return Err(e),
        };
        let deployment = Deployment {
            id: format!("{NAME}:{}", ev.key),
            system: NAME.into(),
            environment: ev.environment.clone(),
            release: ev.release.clone(),
            status: ev.status,
            url: ev.url.clone().or(web),
            at: ev.at,
            extra: Default::default(),
        };
        let note = note_text(&deployment);
        let actions: Vec<RemoteAction> = items
            .iter()
            .map(|id| RemoteAction {
                key: format!("deploy:{}:{id}", ev.key),
                target: ActionTarget::Linked {
                    remote_id: id.to_string(),
                },
                action: Action::Deployment {
                    deployment: deployment.clone(),
                    note: note.clone(),
                },
            })
            .collect();
        let mut ignored = skipped;
        if actions.is_empty() {
            ignored.insert(
                0,
                format!(
                    "deployment of {} to {}: the release carries no work items",
                    ev.release, ev.environment
                ),
            );
        }
        Ok((actions, (!ignored.is_empty()).then(|| ignored.join("; "))))
    }
}

/// Deployments read per poll.
const DEPLOYMENTS_PER_POLL: usize = 100;

/// Where polling the release deployments stands (the sync state's `deployments` cursor).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, Deserialize)]
struct DeploymentCursor {
    /// The newest `lastModifiedOn` of the completed deployments applied (`""`: from the
    /// start).
    since: String,
    /// Completed deployments applied at or after `since` (asked again: `minModifiedTime` is
    /// inclusive).
    #[serde(default)]
    seen: BTreeSet<u64>,
}

/// What one poll of the release deployments found.
#[derive(Debug, Clone, Default)]
pub struct DeploymentPoll {
    /// One [`Action::Deployment`] per work item linked to an entry, as the service hook gives.
    pub actions: Vec<RemoteAction>,
    /// The completed deployments read (whether or not they carried entries' work items).
    pub deployments: Vec<Deployment>,
    /// What was not taken, and why.
    pub ignored: Vec<String>,
    /// The cursor to keep for the next poll (`None`: unchanged).
    pub cursor: Option<String>,
}

impl AdoIntegration {
    /// Classic release deployments completed since the last poll (`cursor`, as the previous
    /// poll returned it), for when no service hook reports them: `GET
    /// vsrm…/{project}/_apis/release/deployments?minModifiedTime=…&queryOrder=ascending`, and
    /// for each completed one the same actions the `ms.vss-release.deployment-completed-event`
    /// gives (its id is the deployment's, as in the event's `resource.deployment`, so a hook and
    /// a poll of one deployment are applied once). The first poll (no cursor) only notes where
    /// the deployments stand (one request, `$top=1`): deployments before polling started are
    /// not applied. An idle poll is one request.
    pub async fn poll_deployments(
        &self,
        cursor: Option<&str>,
    ) -> Result<DeploymentPoll, SyncError> {
        let list = |min: Option<&str>, ascending: bool, top: usize| {
            let mut req = self
                .release_client
                .get(&self.project_path("release/deployments"))
                .query(
                    "queryOrder",
                    if ascending { "ascending" } else { "descending" },
                )
                .query("$top", &top.to_string())
                .query("api-version", API_VERSION)
                .no_cache();
            if let Some(m) = min {
                req = req.query("minModifiedTime", m);
            }
            async move {
                let resp = req.send().await.map_err(|e| {
                    let mut err = self.sync_err(e, None);
                    if err.kind == SyncErrorKind::Auth {
                        err.message = format!(
                            "{}; reading release deployments needs the Release (Read) scope",
                            err.message
                        );
                    }
                    err
                })?;
                let l: ValueList<Value> = self.decode(&resp, None)?;
                Ok::<_, SyncError>(l.value)
            }
        };
        let modified = |d: &Value| s(d, &["/lastModifiedOn", "/completedOn"]).map(str::to_string);
        let mut poll = DeploymentPoll::default();
        let Some(cursor) = cursor else {
            // Where deployments stand now: only later ones are applied.
            let newest = list(None, false, 1).await?;
            let c = DeploymentCursor {
                since: newest.first().and_then(modified).unwrap_or_default(),
                seen: newest
                    .first()
                    .and_then(|d| n(d, &["/id"]))
                    .into_iter()
                    .collect(),
            };
            poll.cursor = serde_json::to_string(&c).ok();
            return Ok(poll);
        };
        let mut c: DeploymentCursor = serde_json::from_str(cursor).map_err(|e| {
            self.permanent(format!(
                "the Azure DevOps deployments cursor `{cursor}` is unreadable ({e})"
            ))
        })?;
        let since = (!c.since.is_empty()).then_some(c.since.as_str());
        let page = list(since, true, DEPLOYMENTS_PER_POLL).await?;
        let full = page.len() >= DEPLOYMENTS_PER_POLL;
        let mut newest = c.since.clone();
        let mut applied = Vec::new();
        for d in &page {
            let Some(id) = n(d, &["/id"]) else { continue };
            let status = s(d, &["/deploymentStatus"]).unwrap_or_default();
            let done = matches!(
                status.to_ascii_lowercase().as_str(),
                "succeeded" | "partiallysucceeded" | "failed"
            );
            if !done || c.seen.contains(&id) {
                // Not completed yet: its completion changes `lastModifiedOn`, so a later poll
                // reads it again.
                continue;
            }
            let payload = serde_json::json!({"resource": {"deployment": d}});
            let (actions, ignored) = self.deployment_actions(&payload).await?;
            let ev = DeploymentEvent::read(&payload);
            poll.deployments.push(Deployment {
                id: format!("{NAME}:{}", ev.key),
                system: NAME.into(),
                environment: ev.environment,
                release: ev.release,
                status: ev.status,
                url: ev.url,
                at: ev.at,
                extra: Default::default(),
            });
            poll.actions.extend(actions);
            poll.ignored.extend(ignored);
            let at = modified(d).unwrap_or_default();
            if crate::workitem::parse_time(&at).ok() > crate::workitem::parse_time(&newest).ok() {
                newest = at.clone();
            }
            applied.push((id, at));
        }
        if full {
            // More than a page: keep `since` (the rest may be older by time, later by id) and
            // skip what was applied.
            c.seen.extend(applied.iter().map(|(id, _)| *id));
        } else if newest != c.since {
            let keep: BTreeSet<u64> = applied
                .iter()
                .filter(|(_, at)| *at == newest)
                .map(|(id, _)| *id)
                .collect();
            c.since = newest;
            c.seen = keep;
        }
        let next = serde_json::to_string(&c).ok();
        if next.as_deref() != Some(cursor) {
            poll.cursor = next;
        }
        Ok(poll)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;
    use serde_json::json;

    #[test]
    fn the_release_api_has_its_own_host_on_the_cloud() {
        assert_eq!(
            release_url("https://dev.azure.com/acme"),
            "https://vsrm.dev.azure.com/acme"
        );
        assert_eq!(
            release_url("https://acme.visualstudio.com"),
            "https://acme.vsrm.visualstudio.com"
        );
        assert_eq!(
            release_url("https://acme.vsrm.visualstudio.com/"),
            "https://acme.vsrm.visualstudio.com/"
        );
        assert_eq!(
            release_url("https://tfs.example.com/tfs/DefaultCollection"),
            "https://tfs.example.com/tfs/DefaultCollection"
        );
        assert_eq!(
            release_url("http://127.0.0.1:4000/acme"),
            "http://127.0.0.1:4000/acme"
        );
    }

    #[test]
    fn both_payload_shapes_are_read() {
        let old = json!({"id": "ev1", "createdDate": "2016-09-19T13:03:28.5345098Z",
            "resource": {"environment": {"id": 5, "name": "Dev", "status": "succeeded",
            "release": {"id": 1, "name": "Release-1"}}}});
        let e = DeploymentEvent::read(&old);
        assert_eq!(e.release_id, Some(1));
        assert_eq!(e.key, "release-1:environment-5:event-ev1");
        assert_eq!(e.status, DeploymentStatus::Succeeded);
        let new = json!({"id": "ev2", "resource": {"deployment": {"id": 77, "attempt": 2,
            "deploymentStatus": "failed", "completedOn": "2024-01-02T03:04:05Z",
            "release": {"id": 9, "name": "Release-9", "_links": {"web": {"href": "https://w/9"}}},
            "releaseEnvironment": {"id": 3, "name": "Prod"}}}});
        let e = DeploymentEvent::read(&new);
        assert_eq!(
            (e.release_id, e.environment.as_str(), e.key.as_str()),
            (Some(9), "Prod", "release-9:environment-3:deployment-77")
        );
        assert_eq!(e.url.as_deref(), Some("https://w/9"));
        assert_eq!(e.status, DeploymentStatus::Failed);
        let empty = DeploymentEvent::read(&json!({"resource": null}));
        assert_eq!(empty.release_id, None);
        assert_eq!(empty.environment, "an environment");
    }

    #[test]
    fn notes_say_where_it_went() {
        let d = |status| Deployment {
            id: "x".into(),
            system: NAME.into(),
            environment: "Prod".into(),
            release: "Release-3".into(),
            status,
            url: None,
            at: SystemClock.now(),
            extra: Default::default(),
        };
        assert_eq!(
            note_text(&d(DeploymentStatus::Succeeded)),
            "Deployed to Prod: Release-3"
        );
        assert_eq!(
            note_text(&d(DeploymentStatus::Failed)),
            "Deployment of Release-3 to Prod failed"
        );
        assert_eq!(
            status_of("partiallySucceeded"),
            DeploymentStatus::PartiallySucceeded
        );
        assert_eq!(status_of("undefined"), DeploymentStatus::NotDeployed);
    }
}
