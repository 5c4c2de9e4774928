//! The fake's pipelines, runs (builds) and releases (issue 19 item 6).
//!
//! Pipelines (`GET …/_apis/pipelines`, paged by `$top` and the `x-ms-continuationtoken`
//! header), runs (`POST …/pipelines/{id}/runs` — the body must name
//! `resources.repositories.self.refName` as a full ref —, `GET …/pipelines/{id}/runs` and
//! `…/runs/{runId}`), the same runs as builds (`GET …/_apis/build/builds` filtered by
//! `definitions`, `branchName`, `buildIds`, `statusFilter`, ordered by `queryOrder`, cut at
//! `$top`), a build's work items (`GET …/build/builds/{id}/workitems`, `$top`), and releases
//! (`GET …/_apis/release/releases/{id}`: artifacts naming builds) and their deployments
//! (`GET …/_apis/release/deployments`: `minModifiedTime`, `deploymentStatus`, `queryOrder`,
//! `$top`; [`FakeAdo::deploy`] records one). A queued run is
//! `inProgress` until a test completes it ([`FakeAdo::complete_run`]).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{FakeAdo, Res, St, ado_time, auth, bad_request, base, error, lock, own};

/// A pipeline (a build definition: same id).
#[derive(Debug, Clone, PartialEq)]
pub struct AdoPipeline {
    pub id: u64,
    pub name: String,
    /// `\` for the root.
    pub folder: String,
}

/// A run of a pipeline (a build: same id).
#[derive(Debug, Clone, PartialEq)]
pub struct AdoRun {
    pub id: u64,
    pub pipeline_id: u64,
    /// Its name (build number).
    pub name: String,
    /// The full ref (`refs/heads/main`).
    pub ref_name: String,
    /// `inProgress` or `completed`.
    pub state: String,
    /// `succeeded`, `partiallySucceeded`, `failed`, `canceled` once completed.
    pub result: Option<String>,
    pub created: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    /// The work items the build is linked to (`…/builds/{id}/workitems`).
    pub work_items: Vec<u64>,
}

/// An artifact of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoArtifact {
    pub alias: String,
    /// `Build`, `Git`, `GitHub`, …
    pub kind: String,
    /// The build (run) a `Build` artifact deploys.
    pub build: Option<u64>,
}

/// A classic release.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoRelease {
    pub id: u64,
    pub name: String,
    pub artifacts: Vec<AdoArtifact>,
}

/// A deployment of a classic release to one of its environments.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoDeployment {
    pub id: u64,
    pub release: u64,
    pub environment_id: u64,
    pub environment: String,
    /// `succeeded`, `partiallySucceeded`, `failed`, `inProgress`, `notDeployed`.
    pub status: String,
    pub attempt: u64,
    pub modified: DateTime<Utc>,
}

/// The fake's pipeline data.
#[derive(Debug, Default)]
pub(super) struct PipelineData {
    pipelines: Vec<AdoPipeline>,
    runs: BTreeMap<u64, AdoRun>,
    releases: BTreeMap<u64, AdoRelease>,
    deployments: Vec<AdoDeployment>,
}

impl FakeAdo {
    /// Adds a pipeline named `name` in `folder` (`\` for the root).
    pub fn add_pipeline(&self, name: &str, folder: &str) -> AdoPipeline {
        let mut d = self.data();
        let p = AdoPipeline {
            id: d.pipelines.pipelines.len() as u64 + 1,
            name: name.into(),
            folder: folder.into(),
        };
        d.pipelines.pipelines.push(p.clone());
        p
    }

    pub fn runs(&self) -> Vec<AdoRun> {
        self.data().pipelines.runs.values().cloned().collect()
    }

    /// Starts a run by hand (as someone in the web UI), `inProgress`.
    pub fn start_run(&self, pipeline_id: u64, ref_name: &str) -> AdoRun {
        let now = self.remote.now();
        let mut d = self.data();
        new_run(&mut d.pipelines, pipeline_id, ref_name, now)
    }

    /// Completes a run with `result` (the test hook of the run's life).
    pub fn complete_run(&self, id: u64, result: &str) -> Option<AdoRun> {
        let now = self.remote.now();
        let mut d = self.data();
        let r = d.pipelines.runs.get_mut(&id)?;
        r.state = "completed".into();
        r.result = Some(result.into());
        r.finished = Some(now);
        Some(r.clone())
    }

    /// Links a run's build to work items.
    pub fn set_run_work_items(&self, id: u64, items: &[u64]) -> Option<AdoRun> {
        let mut d = self.data();
        let r = d.pipelines.runs.get_mut(&id)?;
        r.work_items = items.to_vec();
        Some(r.clone())
    }

    /// Records a deployment of release `release` to environment `environment_id` named
    /// `environment`, with status `status` (`succeeded`, `failed`, `inProgress`, …), modified
    /// now; a redeployment to the same environment is the next attempt.
    pub fn deploy(
        &self,
        release: u64,
        environment_id: u64,
        environment: &str,
        status: &str,
    ) -> AdoDeployment {
        let now = self.remote.tick();
        let mut d = self.data();
        let attempt = d
            .pipelines
            .deployments
            .iter()
            .filter(|x| x.release == release && x.environment_id == environment_id)
            .count() as u64
            + 1;
        let dep = AdoDeployment {
            id: 500 + d.pipelines.deployments.len() as u64 + 1,
            release,
            environment_id,
            environment: environment.into(),
            status: status.into(),
            attempt,
            modified: now,
        };
        d.pipelines.deployments.push(dep.clone());
        dep
    }

    /// Changes a deployment's status (it completes), modified now.
    pub fn set_deployment_status(&self, id: u64, status: &str) -> Option<AdoDeployment> {
        let now = self.remote.tick();
        let mut d = self.data();
        let dep = d.pipelines.deployments.iter_mut().find(|x| x.id == id)?;
        dep.status = status.into();
        dep.modified = now;
        Some(dep.clone())
    }

    /// Adds a release (id given: deployment events name it).
    pub fn add_release(&self, id: u64, name: &str, artifacts: Vec<AdoArtifact>) -> AdoRelease {
        let r = AdoRelease {
            id,
            name: name.into(),
            artifacts,
        };
        self.data().pipelines.releases.insert(id, r.clone());
        r
    }
}

fn new_run(d: &mut PipelineData, pipeline_id: u64, ref_name: &str, now: DateTime<Utc>) -> AdoRun {
    let id = 100 + d.runs.len() as u64 + 1;
    let run = AdoRun {
        id,
        pipeline_id,
        name: format!("{}.{}", now.format("%Y%m%d"), id),
        ref_name: ref_name.into(),
        state: "inProgress".into(),
        result: None,
        created: now,
        finished: None,
        work_items: Vec::new(),
    };
    d.runs.insert(id, run.clone());
    run
}

fn pipeline_json(base: &str, org: &str, project: &str, p: &AdoPipeline) -> Value {
    let url = format!("{base}/{org}/{project}/_apis/pipelines/{}?revision=1", p.id);
    json!({
        "_links": {
            "self": {"href": url},
            "web": {"href": format!("{base}/{org}/{project}/_build/definition?definitionId={}", p.id)},
        },
        "url": url,
        "id": p.id,
        "revision": 1,
        "name": p.name,
        "folder": p.folder,
    })
}

fn run_json(base: &str, org: &str, project: &str, p: &AdoPipeline, r: &AdoRun) -> Value {
    let web = format!("{base}/{org}/{project}/_build/results?buildId={}", r.id);
    let url = format!(
        "{base}/{org}/{project}/_apis/pipelines/{}/runs/{}",
        p.id, r.id
    );
    let mut v = json!({
        "_links": {"self": {"href": url}, "web": {"href": web}},
        "pipeline": {"url": format!("{base}/{org}/{project}/_apis/pipelines/{}?revision=1", p.id),
                     "id": p.id, "revision": 1, "name": p.name, "folder": p.folder},
        "state": r.state,
        "createdDate": ado_time(r.created),
        "url": url,
        "resources": {"repositories": {"self": {
            "repository": {"id": "0f7a5c1e-3b2d-4e6f-8a9b-1c2d3e4f5a6b", "type": "azureReposGit"},
            "refName": r.ref_name,
            "version": "7d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c",
        }}},
        "id": r.id,
        "name": r.name,
    });
    if let Some(res) = &r.result {
        v["result"] = json!(res);
    }
    if let Some(f) = r.finished {
        v["finishedDate"] = json!(ado_time(f));
    }
    v
}

fn build_json(base: &str, org: &str, project: &str, p: &AdoPipeline, r: &AdoRun) -> Value {
    let mut v = json!({
        "_links": {"web": {"href": format!("{base}/{org}/{project}/_build/results?buildId={}", r.id)}},
        "id": r.id,
        "buildNumber": r.name,
        "status": r.state,
        "queueTime": ado_time(r.created),
        "startTime": ado_time(r.created),
        "url": format!("{base}/{org}/{project}/_apis/build/Builds/{}", r.id),
        "definition": {"id": p.id, "name": p.name, "path": p.folder, "type": "build",
                       "queueStatus": "enabled", "revision": 1},
        "project": {"id": "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1", "name": project},
        "sourceBranch": r.ref_name,
        "reason": "manual",
    });
    if let Some(res) = &r.result {
        v["result"] = json!(res);
    }
    if let Some(f) = r.finished {
        v["finishTime"] = json!(ado_time(f));
    }
    v
}

fn pipeline_of(d: &PipelineData, id: u64) -> Result<&AdoPipeline, Response> {
    d.pipelines.iter().find(|p| p.id == id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            &format!("Pipeline with id {id} not found."),
        )
    })
}

fn number(s: &str, what: &str) -> Result<u64, Response> {
    s.parse()
        .map_err(|_| bad_request(&format!("The {what} `{s}` is not a number.")))
}

pub(super) async fn list_pipelines(
    State(st): State<St>,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let top = match q.get("$top") {
        Some(t) => number(t, "$top")? as usize,
        None => 1000,
    };
    let from = match q.get("continuationToken") {
        Some(t) => number(t, "continuationToken")? as usize,
        None => 0,
    };
    let d = lock(&st.ado.data);
    let b = base(&headers);
    let all = &d.pipelines.pipelines;
    let page: Vec<Value> = all
        .iter()
        .skip(from)
        .take(top.max(1))
        .map(|p| pipeline_json(&b, &org, &project, p))
        .collect();
    let mut resp = axum::Json(json!({"count": page.len(), "value": page})).into_response();
    let next = from + top.max(1);
    if next < all.len()
        && let Ok(h) = HeaderValue::from_str(&next.to_string())
    {
        resp.headers_mut().insert("x-ms-continuationtoken", h);
    }
    Ok(resp)
}

pub(super) async fn queue_run(
    State(st): State<St>,
    Path((org, project, pid)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let pid = number(&pid, "pipeline id")?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| bad_request("Invalid JSON body"))?;
    let ref_name = v
        .pointer("/resources/repositories/self/refName")
        .and_then(Value::as_str)
        .unwrap_or("refs/heads/main")
        .to_string();
    if !ref_name.starts_with("refs/") {
        return Err(bad_request(&format!(
            "Unable to resolve the reference '{ref_name}' to a specific version. Verify the reference exists in the source repository."
        )));
    }
    let now = st.remote.tick();
    let mut d = lock(&st.ado.data);
    let p = pipeline_of(&d.pipelines, pid)?.clone();
    let run = new_run(&mut d.pipelines, pid, &ref_name, now);
    Ok(axum::Json(run_json(&base(&headers), &org, &project, &p, &run)).into_response())
}

pub(super) async fn list_runs(
    State(st): State<St>,
    Path((org, project, pid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let pid = number(&pid, "pipeline id")?;
    let d = lock(&st.ado.data);
    let p = pipeline_of(&d.pipelines, pid)?;
    let b = base(&headers);
    // Newest first, as Azure DevOps lists them.
    let runs: Vec<Value> = d
        .pipelines
        .runs
        .values()
        .rev()
        .filter(|r| r.pipeline_id == pid)
        .map(|r| run_json(&b, &org, &project, p, r))
        .collect();
    Ok(axum::Json(json!({"count": runs.len(), "value": runs})).into_response())
}

pub(super) async fn get_run(
    State(st): State<St>,
    Path((org, project, pid, rid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let (pid, rid) = (number(&pid, "pipeline id")?, number(&rid, "run id")?);
    let d = lock(&st.ado.data);
    let p = pipeline_of(&d.pipelines, pid)?;
    let r = d
        .pipelines
        .runs
        .get(&rid)
        .filter(|r| r.pipeline_id == pid)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                &format!("Run with id {rid} not found in pipeline {pid}."),
            )
        })?;
    Ok(axum::Json(run_json(&base(&headers), &org, &project, p, r)).into_response())
}

pub(super) async fn list_builds(
    State(st): State<St>,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let ids = |key: &str| -> Result<Option<Vec<u64>>, Response> {
        q.get(key)
            .map(|s| {
                s.split(',')
                    .map(|x| number(x.trim(), key))
                    .collect::<Result<Vec<u64>, Response>>()
            })
            .transpose()
    };
    let definitions = ids("definitions")?;
    let build_ids = ids("buildIds")?;
    let top = match q.get("$top") {
        Some(t) => number(t, "$top")? as usize,
        None => 1000,
    };
    let status = q.get("statusFilter").map(String::as_str);
    let d = lock(&st.ado.data);
    let b = base(&headers);
    let mut runs: Vec<&AdoRun> = d
        .pipelines
        .runs
        .values()
        .filter(|r| {
            definitions
                .as_ref()
                .is_none_or(|ds| ds.contains(&r.pipeline_id))
        })
        .filter(|r| build_ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .filter(|r| q.get("branchName").is_none_or(|br| *br == r.ref_name))
        .filter(|r| status.is_none_or(|s| s == "all" || s == r.state))
        .collect();
    match q.get("queryOrder").map(String::as_str) {
        Some("queueTimeAscending") | Some("startTimeAscending") => {
            runs.sort_by_key(|r| (r.created, r.id))
        }
        _ => runs.sort_by_key(|r| std::cmp::Reverse((r.created, r.id))),
    }
    let list: Vec<Value> = runs
        .into_iter()
        .take(top)
        .filter_map(|r| {
            let p = d
                .pipelines
                .pipelines
                .iter()
                .find(|p| p.id == r.pipeline_id)?;
            Some(build_json(&b, &org, &project, p, r))
        })
        .collect();
    Ok(axum::Json(json!({"count": list.len(), "value": list})).into_response())
}

pub(super) async fn build_work_items(
    State(st): State<St>,
    Path((org, project, id)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = number(&id, "build id")?;
    // The endpoint's default.
    let top = match q.get("$top") {
        Some(t) => number(t, "$top")? as usize,
        None => 50,
    };
    let d = lock(&st.ado.data);
    let r = d.pipelines.runs.get(&id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            &format!("The requested build {id} could not be found."),
        )
    })?;
    let b = base(&headers);
    let list: Vec<Value> = r
        .work_items
        .iter()
        .take(top)
        .map(|w| json!({"id": w.to_string(), "url": format!("{b}/{org}/_apis/wit/workItems/{w}")}))
        .collect();
    Ok(axum::Json(json!({"count": list.len(), "value": list})).into_response())
}

pub(super) async fn get_release(
    State(st): State<St>,
    Path((org, project, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = number(&id, "release id")?;
    let d = lock(&st.ado.data);
    let r = d.pipelines.releases.get(&id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            &format!("VS402852: Release with id {id} does not exist."),
        )
    })?;
    let b = base(&headers);
    let artifacts: Vec<Value> = r
        .artifacts
        .iter()
        .map(|a| {
            let mut reference = json!({
                "project": {"id": "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1", "name": project},
                "definition": {"id": "1", "name": a.alias},
            });
            if let Some(build) = a.build {
                reference["version"] = json!({"id": build.to_string(), "name": build.to_string()});
            }
            json!({"sourceId": format!("eb6e4656-77fc-42a1-9181-4c6d8e9da5d1:{}", a.alias),
                   "type": a.kind, "alias": a.alias, "definitionReference": reference,
                   "isPrimary": true, "isRetained": false})
        })
        .collect();
    Ok(axum::Json(json!({
        "id": r.id,
        "name": r.name,
        "status": "active",
        "createdOn": ado_time(st.remote.now()),
        "environments": [],
        "artifacts": artifacts,
        "reason": "manual",
        "keepForever": false,
        "definitionSnapshotRevision": 1,
        "url": format!("{b}/{org}/{project}/_apis/Release/releases/{id}"),
        "_links": {"self": {"href": format!("{b}/{org}/{project}/_apis/Release/releases/{id}")},
                   "web": {"href": format!("{b}/{org}/{project}/_release?releaseId={id}&_a=release-summary")}},
    }))
    .into_response())
}

/// `GET …/_apis/release/deployments`: the project's release deployments, filtered by
/// `minModifiedTime` (inclusive) and `deploymentStatus`, ordered by `queryOrder` (by id, as
/// Azure DevOps does), cut at `$top` (default 50).
pub(super) async fn list_deployments(
    State(st): State<St>,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let min = match q.get("minModifiedTime") {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| bad_request(&format!("minModifiedTime `{t}` is not a date-time")))?
                .with_timezone(&Utc),
        ),
    };
    let status = q.get("deploymentStatus").filter(|s| s.as_str() != "all");
    let top: usize = match q.get("$top") {
        None => 50,
        Some(t) => t
            .parse()
            .map_err(|_| bad_request(&format!("$top `{t}` is not a number")))?,
    };
    let descending = match q.get("queryOrder").map(String::as_str) {
        None | Some("descending") => true,
        Some("ascending") => false,
        Some(o) => {
            return Err(bad_request(&format!(
                "queryOrder `{o}` is not ascending or descending"
            )));
        }
    };
    let d = lock(&st.ado.data);
    let mut list: Vec<&AdoDeployment> = d
        .pipelines
        .deployments
        .iter()
        .filter(|x| min.is_none_or(|m| x.modified >= m))
        .filter(|x| status.is_none_or(|s| x.status.eq_ignore_ascii_case(s)))
        .collect();
    list.sort_by_key(|x| x.id);
    if descending {
        list.reverse();
    }
    let b = base(&headers);
    let value: Vec<Value> = list
        .into_iter()
        .take(top)
        .map(|x| {
            let name = d
                .pipelines
                .releases
                .get(&x.release)
                .map_or_else(|| format!("Release-{}", x.release), |r| r.name.clone());
            let web = format!("{b}/{org}/{project}/_release?releaseId={}&_a=release-summary", x.release);
            let done = !matches!(x.status.as_str(), "inProgress" | "notDeployed");
            let mut v = json!({
                "id": x.id,
                "release": {"id": x.release, "name": name,
                            "url": format!("{b}/{org}/{project}/_apis/Release/releases/{}", x.release),
                            "_links": {"web": {"href": web}}},
                "releaseDefinition": {"id": 1, "name": "Deploy"},
                "releaseEnvironment": {"id": x.environment_id, "name": x.environment},
                "definitionEnvironmentId": x.environment_id,
                "attempt": x.attempt,
                "reason": "manual",
                "deploymentStatus": x.status,
                "operationStatus": if done { "Approved" } else { "QueuedForAgent" },
                "queuedOn": ado_time(x.modified),
                "startedOn": ado_time(x.modified),
                "lastModifiedOn": ado_time(x.modified),
            });
            if done {
                v["completedOn"] = json!(ado_time(x.modified));
            }
            v
        })
        .collect();
    Ok(axum::Json(json!({"count": value.len(), "value": value})).into_response())
}
