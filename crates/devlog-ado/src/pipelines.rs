//! Pipelines and their runs (docs/azure-devops.md, "Pipelines and deployments").
//!
//! - [`AdoIntegration::pipelines`] lists the project's pipelines (`GET _apis/pipelines`, paged
//!   by the `x-ms-continuationtoken` header), [`find_pipeline`](AdoIntegration::find_pipeline)
//!   finds one by name (or `folder\name`);
//! - [`queue_run`](AdoIntegration::queue_run) queues a run of a branch
//!   (`POST _apis/pipelines/{id}/runs` with `resources.repositories.self.refName`),
//!   [`run`](AdoIntegration::run) reads one back;
//! - [`queue_run_for`](AdoIntegration::queue_run_for) queues a run for an entry and records it
//!   twice: as the engine's attachment (kind [`PIPELINE_RUN`], the run id, so the service hook
//!   of its completion finds the entry) and on the entry as an external reference (system
//!   [`RUN_SYSTEM`], with its URL, state and result). Exactly once under retry: before
//!   queueing, the pipeline's unfinished runs of the branch are read (Build API, one request);
//!   one this entry follows is returned as it is, one no entry follows (a queue whose answer
//!   was lost, or a run someone started by hand) is adopted;
//! - [`poll_runs`](AdoIntegration::poll_runs) reads every followed run in one Build API request
//!   per 100 and returns, for each completed one, the same note action the service hook gives
//!   (key `run:<id>`, the shared idempotency key: the engine applies a note of a key once, so
//!   a run seen by both the hook and the poll gets one note); [`settle_runs`]
//!   (AdoIntegration::settle_runs), called after the actions are applied, records the result
//!   on the entry and stops following the run.
//!
//! A run is a build: the pipeline run id is the build id and the pipeline id the definition id,
//! which is why the Build API can read runs by id without their pipeline.

use devlog_core::entry::{Entry, ExternalReference};
use devlog_core::event::SyncActor;
use devlog_core::id::EntryId;
use devlog_core::integration::{ActionTarget, RemoteAction, SyncError, SyncErrorKind};
use devlog_core::store::Store;
use devlog_core::sync_state::SyncStateStore;
use devlog_core::time::{Clock, SystemClock, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::hooks::{PIPELINE_RUN, run_note_action, run_text};
use crate::{API_VERSION, AdoIntegration, NAME, ValueList};

/// The external reference system of a pipeline run on an entry.
pub const RUN_SYSTEM: &str = "azure-devops-run";
/// Pipelines read per page.
const PIPELINES_PAGE: usize = 500;
/// Runs read per `build/builds?buildIds=` request.
const BUILDS_PER_REQUEST: usize = 100;
/// Recent runs of a pipeline and branch looked at before queueing another.
const RECENT_RUNS: usize = 50;

/// A pipeline of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: u64,
    pub name: String,
    /// `\` for the root, `\team\ci` below it.
    #[serde(default)]
    pub folder: Option<String>,
}

impl Pipeline {
    /// `folder\name` (just the name at the root).
    pub fn path(&self) -> String {
        match self.folder.as_deref().map(|f| f.trim_matches('\\')) {
            Some(f) if !f.is_empty() => format!("{f}\\{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunState {
    /// Queued, not started (`notStarted`, `postponed`).
    NotStarted,
    /// Running, or being canceled.
    InProgress,
    Completed,
}

impl RunState {
    /// From the Pipelines API's `state` or the Build API's `status`.
    pub fn parse(s: &str) -> RunState {
        match s {
            "completed" => RunState::Completed,
            "notStarted" | "postponed" => RunState::NotStarted,
            _ => RunState::InProgress,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            RunState::NotStarted => "notStarted",
            RunState::InProgress => "inProgress",
            RunState::Completed => "completed",
        }
    }
}

/// A run devlog queued or follows, as recorded on its entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunLink {
    pub pipeline_id: u64,
    pub pipeline: String,
    pub run_id: u64,
    /// The run's name (its build number).
    pub name: String,
    /// The branch, without `refs/heads/`.
    pub branch: Option<String>,
    /// The run's page in Azure DevOps.
    pub url: Option<String>,
    pub state: RunState,
    /// `succeeded`, `partiallySucceeded`, `failed`, `canceled` once completed.
    pub result: Option<String>,
    /// False when an unfinished run of the branch was found and linked instead of queueing
    /// another.
    pub queued: bool,
    /// The run found was one no entry followed, now this entry's: queued by an earlier try
    /// whose answer was lost (or started by hand on the branch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

/// A completed run [`poll_runs`](AdoIntegration::poll_runs) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    pub entry: EntryId,
    pub run: RunLink,
}

/// What a poll of the followed runs found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunPoll {
    /// Note actions of the runs that completed (none for a run whose note the service hook
    /// already added): apply them with the sync engine (`SyncEngine::apply_actions`).
    pub actions: Vec<RemoteAction>,
    /// Runs that completed: [`settle_runs`](AdoIntegration::settle_runs) records them.
    pub finished: Vec<FinishedRun>,
    /// Runs Azure DevOps no longer has (deleted, or not visible): `(entry, run id)`; settled
    /// as `deleted`.
    pub gone: Vec<(EntryId, String)>,
    /// Runs still going.
    pub running: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Links {
    #[serde(default)]
    web: Option<Href>,
}

#[derive(Debug, Clone, Deserialize)]
struct Href {
    #[serde(default)]
    href: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct NamedRef {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    name: Option<String>,
}

/// A run as the Pipelines API answers it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    pipeline: Option<NamedRef>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
    #[serde(default)]
    resources: Option<Value>,
}

/// A run as the Build API answers it (a build).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Build {
    id: u64,
    #[serde(default)]
    build_number: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    source_branch: Option<String>,
    #[serde(default)]
    definition: Option<NamedRef>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
}

fn branch_of(r: &str) -> String {
    r.strip_prefix("refs/heads/").unwrap_or(r).to_string()
}

impl AdoIntegration {
    fn run_url(&self, links: Option<&Links>, id: u64) -> Option<String> {
        links
            .and_then(|l| l.web.as_ref())
            .and_then(|w| w.href.clone())
            .or_else(|| {
                Some(format!(
                    "{}/{}/_build/results?buildId={id}",
                    self.config.organization_url,
                    self.project()
                ))
            })
    }

    fn run_link(&self, r: Run, pipeline: &Pipeline, queued: bool) -> RunLink {
        let branch = r
            .resources
            .as_ref()
            .and_then(|v| v.pointer("/repositories/self/refName"))
            .and_then(Value::as_str)
            .map(branch_of);
        RunLink {
            pipeline_id: r
                .pipeline
                .as_ref()
                .and_then(|p| p.id)
                .unwrap_or(pipeline.id),
            pipeline: r
                .pipeline
                .as_ref()
                .and_then(|p| p.name.clone())
                .unwrap_or_else(|| pipeline.name.clone()),
            run_id: r.id,
            name: r.name.clone().unwrap_or_else(|| r.id.to_string()),
            branch,
            url: self.run_url(r.links.as_ref(), r.id),
            state: RunState::parse(r.state.as_deref().unwrap_or_default()),
            result: r.result.filter(|s| !s.is_empty()),
            queued,
            adopted: false,
        }
    }

    fn build_link(&self, b: Build) -> RunLink {
        let def = b.definition.unwrap_or_default();
        RunLink {
            pipeline_id: def.id.unwrap_or_default(),
            pipeline: def.name.unwrap_or_else(|| "pipeline".into()),
            run_id: b.id,
            name: b.build_number.unwrap_or_else(|| b.id.to_string()),
            branch: b.source_branch.as_deref().map(branch_of),
            url: self.run_url(b.links.as_ref(), b.id),
            state: RunState::parse(b.status.as_deref().unwrap_or_default()),
            result: b.result.filter(|s| !s.is_empty() && s != "none"),
            queued: false,
            adopted: false,
        }
    }

    /// The project's pipelines (every page).
    pub async fn pipelines(&self) -> Result<Vec<Pipeline>, SyncError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .get(&self.project_path("pipelines"))
                .query("$top", &PIPELINES_PAGE.to_string())
                .query("api-version", API_VERSION)
                .no_cache();
            if let Some(t) = &token {
                req = req.query("continuationToken", t);
            }
            let resp = req.send().await.map_err(|e| self.sync_err(e, None))?;
            let page: ValueList<Pipeline> = self.decode(&resp, None)?;
            let n = page.value.len();
            out.extend(page.value);
            token = resp
                .header("x-ms-continuationtoken")
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() || n == 0 {
                return Ok(out);
            }
        }
    }

    /// The pipeline named `name` (case-insensitive), or `folder\name`; an error lists the
    /// pipelines there are when none (or several) match.
    pub async fn find_pipeline(&self, name: &str) -> Result<Pipeline, SyncError> {
        let wanted = name.trim().trim_matches('\\');
        if wanted.is_empty() {
            return Err(self.permanent("a pipeline name is needed (--pipeline NAME)".into()));
        }
        let all = self.pipelines().await?;
        let by_path: Vec<&Pipeline> = all
            .iter()
            .filter(|p| p.path().eq_ignore_ascii_case(wanted))
            .collect();
        let found: Vec<&Pipeline> = if by_path.is_empty() {
            all.iter()
                .filter(|p| p.name.eq_ignore_ascii_case(wanted))
                .collect()
        } else {
            by_path
        };
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let mut names: Vec<String> = all.iter().map(Pipeline::path).collect();
                names.sort();
                let shown = if names.is_empty() {
                    "it has none".to_string()
                } else if names.len() > 20 {
                    format!(
                        "it has {} and {} more",
                        names[..20].join(", "),
                        names.len() - 20
                    )
                } else {
                    format!("it has {}", names.join(", "))
                };
                Err(SyncError::new(
                    NAME,
                    SyncErrorKind::NotFound,
                    format!(
                        "project {} has no pipeline `{wanted}` ({shown})",
                        self.project()
                    ),
                ))
            }
            several => Err(self.permanent(format!(
                "several pipelines are named `{wanted}`: name one by its folder ({})",
                several
                    .iter()
                    .map(|p| p.path())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Queues a run of `pipeline` on `branch` (a name or `refs/heads/…`).
    pub async fn queue_run(&self, pipeline: &Pipeline, branch: &str) -> Result<RunLink, SyncError> {
        let (path, body) = self.queue_run_request(&pipeline.id.to_string(), branch);
        let resp = self
            .client
            .post(&path)
            .query("api-version", API_VERSION)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.run_err(e, &pipeline.name))?;
        let run: Run = self.decode(&resp, None)?;
        let mut link = self.run_link(run, pipeline, true);
        link.branch.get_or_insert_with(|| branch_of(branch));
        Ok(link)
    }

    /// The path and body [`queue_run`](Self::queue_run) posts to queue a run of the pipeline
    /// whose id is `pipeline` on `branch` (what a dry run shows, with a placeholder id).
    pub fn queue_run_request(&self, pipeline: &str, branch: &str) -> (String, Value) {
        let body = json!({
            "resources": {"repositories": {"self": {"refName": ref_name(branch)}}}
        });
        (
            self.project_path(&format!("pipelines/{pipeline}/runs")),
            body,
        )
    }

    /// Reads a run back (Pipelines API).
    pub async fn run(&self, pipeline: &Pipeline, run_id: u64) -> Result<RunLink, SyncError> {
        let resp = self
            .client
            .get(&self.project_path(&format!("pipelines/{}/runs/{run_id}", pipeline.id)))
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.run_err(e, &pipeline.name))?;
        let run: Run = self.decode(&resp, None)?;
        Ok(self.run_link(run, pipeline, false))
    }

    fn run_err(&self, e: devlog_http::HttpError, pipeline: &str) -> SyncError {
        let mut err = self.sync_err(e, None);
        match err.kind {
            SyncErrorKind::Auth => {
                err.message = format!(
                    "{}; queueing and reading runs needs the Build (Read & execute) scope",
                    err.message
                )
            }
            SyncErrorKind::Permanent if err.message.contains("not found") => {
                err.message = format!("pipeline `{pipeline}`: {}", err.message)
            }
            _ => {}
        }
        err
    }

    /// Runs by id, through the Build API (ids it does not answer are gone).
    async fn builds(&self, ids: &[u64]) -> Result<Vec<Build>, SyncError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(BUILDS_PER_REQUEST) {
            let list = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let resp = self
                .client
                .get(&self.project_path("build/builds"))
                .query("buildIds", &list)
                .query("api-version", API_VERSION)
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, None))?;
            let page: ValueList<Build> = self.decode(&resp, None)?;
            out.extend(page.value);
        }
        Ok(out)
    }

    /// The pipeline's unfinished runs of `branch`, newest first (one request).
    async fn unfinished_runs(
        &self,
        pipeline: &Pipeline,
        branch: &str,
    ) -> Result<Vec<RunLink>, SyncError> {
        let resp = self
            .client
            .get(&self.project_path("build/builds"))
            .query("definitions", &pipeline.id.to_string())
            .query("branchName", &ref_name(branch))
            .query("queryOrder", "queueTimeDescending")
            .query("$top", &RECENT_RUNS.to_string())
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.run_err(e, &pipeline.name))?;
        let page: ValueList<Build> = self.decode(&resp, None)?;
        Ok(page
            .value
            .into_iter()
            .map(|b| self.build_link(b))
            .filter(|r| r.state != RunState::Completed)
            .collect())
    }

    /// Queues a run of the pipeline named `pipeline` on `branch` for `entry` and records it
    /// (see the module documentation); exactly once if retried.
    pub async fn queue_run_for(
        &self,
        store: &dyn Store,
        state: &dyn SyncStateStore,
        entry: &Entry,
        pipeline: &str,
        branch: &str,
    ) -> Result<RunLink, SyncError> {
        let branch = branch.trim();
        let short = branch_of(branch);
        if short.is_empty() || short.chars().any(char::is_whitespace) {
            return Err(self.permanent(format!("`{branch}` is not a branch name (--branch NAME)")));
        }
        let pipeline = self.find_pipeline(pipeline).await?;
        let mut found = None;
        for run in self.unfinished_runs(&pipeline, &short).await? {
            let owner = state
                .attached_entry(NAME, PIPELINE_RUN, &run.run_id.to_string())
                .await
                .map_err(local)?;
            match owner {
                Some(e) if e == entry.id => {
                    found = Some(run);
                    break;
                }
                None if found.is_none() => {
                    found = Some(RunLink {
                        adopted: true,
                        ..run
                    })
                }
                _ => {}
            }
        }
        let mut run = match found {
            Some(r) => r,
            None => self.queue_run(&pipeline, &short).await?,
        };
        run.pipeline = pipeline.name.clone();
        run.pipeline_id = pipeline.id;
        run.branch.get_or_insert(short);
        let now = SystemClock.now();
        state
            .attach(
                NAME,
                PIPELINE_RUN,
                &run.run_id.to_string(),
                entry.id,
                run.url.as_deref(),
                now.millis(),
            )
            .await
            .map_err(local)?;
        record(store, entry.id, &run, now).await?;
        Ok(run)
    }

    /// Reads every run an entry follows (see the module documentation). Nothing is changed.
    pub async fn poll_runs(&self, state: &dyn SyncStateStore) -> Result<RunPoll, SyncError> {
        let followed = state
            .attached_of_kind(NAME, PIPELINE_RUN)
            .await
            .map_err(local)?;
        let mut poll = RunPoll::default();
        let mut ids = Vec::new();
        for (id, entry, _) in &followed {
            match id.parse::<u64>() {
                Ok(n) => ids.push(n),
                Err(_) => poll.gone.push((*entry, id.clone())),
            }
        }
        if ids.is_empty() {
            return Ok(poll);
        }
        let builds = self.builds(&ids).await?;
        for (id, entry, _) in &followed {
            let Some(b) = builds.iter().find(|b| b.id.to_string() == *id) else {
                if id.parse::<u64>().is_ok() {
                    poll.gone.push((*entry, id.clone()));
                }
                continue;
            };
            let run = self.build_link(b.clone());
            if run.state != RunState::Completed {
                poll.running += 1;
                continue;
            }
            let key = format!("run:{id}");
            let noted = state
                .note_link_by_remote(NAME, &key)
                .await
                .map_err(local)?
                .is_some();
            if !noted {
                let text = run_text(
                    &run.pipeline,
                    &run.name,
                    run.result.as_deref().unwrap_or("completed"),
                    run.branch.as_deref(),
                );
                poll.actions.push(run_note_action(
                    key,
                    ActionTarget::Attached {
                        kind: PIPELINE_RUN.into(),
                        remote_id: id.clone(),
                    },
                    &text,
                    run.url.clone(),
                    SystemClock.now(),
                ));
            }
            poll.finished.push(FinishedRun { entry: *entry, run });
        }
        Ok(poll)
    }

    /// After a poll's actions are applied: records each finished run's state and result on
    /// its entry and stops following it (its attachment is removed; the entry keeps the
    /// reference). Runs that are gone are recorded as `deleted`.
    pub async fn settle_runs(
        &self,
        store: &dyn Store,
        state: &dyn SyncStateStore,
        poll: &RunPoll,
    ) -> Result<(), SyncError> {
        let now = SystemClock.now();
        for f in &poll.finished {
            record(store, f.entry, &f.run, now).await?;
            state
                .detach(NAME, PIPELINE_RUN, &f.run.run_id.to_string())
                .await
                .map_err(local)?;
        }
        for (entry, id) in &poll.gone {
            let id = id.clone();
            let r = store
                .update(*entry, &SyncActor::integration(NAME).meta(), &mut |e| {
                    if let Some(r) = e
                        .external_references
                        .iter_mut()
                        .find(|r| r.system == RUN_SYSTEM && r.id == id)
                        && r.status.as_deref() != Some("deleted")
                    {
                        r.status = Some("deleted".into());
                        r.last_sync = Some(now);
                        e.updated_at = now;
                    }
                    Ok(())
                })
                .await;
            match r {
                Ok(_) => {}
                Err(e) if e.kind() == devlog_core::ErrorKind::NotFound => {}
                Err(e) => return Err(local(e)),
            }
            state.detach(NAME, PIPELINE_RUN, &id).await.map_err(local)?;
        }
        Ok(())
    }
}

/// `refs/heads/<branch>` for a branch name (a full ref is kept).
fn ref_name(branch: &str) -> String {
    if branch.starts_with("refs/") {
        branch.to_string()
    } else {
        format!("refs/heads/{branch}")
    }
}

fn local(e: devlog_core::StoreError) -> SyncError {
    let kind = match e.kind() {
        devlog_core::ErrorKind::Unavailable => SyncErrorKind::Transient,
        _ => SyncErrorKind::Permanent,
    };
    SyncError::new(NAME, kind, format!("recording the pipeline run: {e}"))
}

/// Writes the run on the entry as an external reference (one per run id; updated in place).
async fn record(
    store: &dyn Store,
    entry: EntryId,
    run: &RunLink,
    now: Timestamp,
) -> Result<(), SyncError> {
    let id = run.run_id.to_string();
    let title = match &run.branch {
        Some(b) => format!("Pipeline {} run {} on {b}", run.pipeline, run.name),
        None => format!("Pipeline {} run {}", run.pipeline, run.name),
    };
    let mut extra = devlog_core::entry::Extra::new();
    extra.insert("pipelineId".into(), json!(run.pipeline_id));
    if let Some(r) = &run.result {
        extra.insert("result".into(), json!(r));
    }
    let reference = ExternalReference {
        system: RUN_SYSTEM.into(),
        id: id.clone(),
        url: run.url.clone(),
        title: Some(title),
        status: Some(run.state.as_str().into()),
        last_sync: Some(now),
        sprint: None,
        board: None,
        extra,
    };
    store
        .update(entry, &SyncActor::integration(NAME).meta(), &mut |e| {
            match e
                .external_references
                .iter_mut()
                .find(|r| r.system == RUN_SYSTEM && r.id == id)
            {
                Some(r)
                    if r.status == reference.status
                        && r.extra.get("result") == reference.extra.get("result") => {}
                Some(r) => {
                    *r = reference.clone();
                    e.updated_at = now;
                }
                None => {
                    e.external_references.push(reference.clone());
                    e.updated_at = now;
                }
            }
            Ok(())
        })
        .await
        .map_err(local)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_become_refs_once() {
        assert_eq!(ref_name("main"), "refs/heads/main");
        assert_eq!(ref_name("refs/heads/feature/x"), "refs/heads/feature/x");
        assert_eq!(branch_of("refs/heads/feature/x"), "feature/x");
    }

    #[test]
    fn pipelines_are_named_by_folder_path() {
        let p = |folder: Option<&str>| Pipeline {
            id: 1,
            name: "CI".into(),
            folder: folder.map(str::to_string),
        };
        assert_eq!(p(Some("\\")).path(), "CI");
        assert_eq!(p(None).path(), "CI");
        assert_eq!(p(Some("\\web\\")).path(), "web\\CI");
    }

    #[test]
    fn states_read_both_apis() {
        assert_eq!(RunState::parse("completed"), RunState::Completed);
        assert_eq!(RunState::parse("notStarted"), RunState::NotStarted);
        assert_eq!(RunState::parse("inProgress"), RunState::InProgress);
        assert_eq!(RunState::parse("canceling"), RunState::InProgress);
    }
}
