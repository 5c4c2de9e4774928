//! Milestones ⇄ fix versions: an entry's milestone is its issue's (first) fix version. Before
//! a push refers to a milestone, `prepare_version` finds
//! the project version of that name or creates it with the local milestone's description and
//! due date (its release date); a create refused because the name exists (another clone, a
//! retry after a lost answer) lists the versions again, so a retry never makes a second one.

use devlog_core::integration::SyncError;
use devlog_core::planning::{Milestone, MilestoneState};
use devlog_http::HttpErrorKind;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::JiraIntegration;
use crate::issue::Version;

impl JiraIntegration {
    /// The project's numeric id (what `POST /version` takes), read once per run.
    pub(crate) async fn project_id(&self) -> Result<u64, SyncError> {
        let mut cached = self.project_id.lock().await;
        if let Some(id) = *cached {
            return Ok(id);
        }
        #[derive(Deserialize)]
        struct Project {
            id: String,
        }
        let resp = self
            .client
            .get(&format!("/rest/api/3/project/{}", self.project()))
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let p: Project = self.decode(&resp, None)?;
        let id = p.id.parse().map_err(|_| {
            self.permanent(format!(
                "project {} came back with id `{}`, not a number",
                self.project(),
                p.id
            ))
        })?;
        *cached = Some(id);
        Ok(id)
    }

    /// The project version named `name` (case-insensitive, as Jira compares), from the
    /// version list read once per run (`fresh` reads it again).
    async fn find_version(&self, name: &str, fresh: bool) -> Result<Option<Version>, SyncError> {
        let mut cached = self.versions.lock().await;
        if fresh || cached.is_none() {
            let resp = self
                .client
                .get(&format!("/rest/api/3/project/{}/versions", self.project()))
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, None))?;
            *cached = Some(self.decode(&resp, None)?);
        }
        Ok(cached
            .as_ref()
            .and_then(|all: &Vec<Version>| all.iter().find(|v| v.name.eq_ignore_ascii_case(name)))
            .cloned())
    }

    /// Finds version `name` or creates it from the local milestone.
    pub(crate) async fn prepare_version(
        &self,
        name: &str,
        local: Option<&Milestone>,
    ) -> Result<Version, SyncError> {
        if let Some(v) = self.find_version(name, false).await? {
            return Ok(v);
        }
        let mut body = Map::new();
        body.insert("name".into(), json!(name));
        body.insert("projectId".into(), json!(self.project_id().await?));
        if let Some(m) = local {
            if !m.description.is_empty() {
                body.insert("description".into(), json!(m.description));
            }
            if let Some(d) = m.due_date {
                body.insert(
                    "releaseDate".into(),
                    json!(d.format("%Y-%m-%d").to_string()),
                );
            }
            if m.state == MilestoneState::Closed {
                body.insert("released".into(), json!(true));
            }
        }
        match self
            .client
            .post("/rest/api/3/version")
            .json(&Value::Object(body))
            .send()
            .await
        {
            Ok(resp) => {
                let v: Version = self.decode(&resp, None)?;
                if let Some(all) = self.versions.lock().await.as_mut() {
                    all.push(v.clone());
                }
                Ok(v)
            }
            // Jira refuses a name the project has already (400; 409 from some proxies):
            // created meanwhile, so it is listed now.
            Err(e) if matches!(e.kind(), HttpErrorKind::Invalid | HttpErrorKind::Conflict) => {
                match self.find_version(name, true).await? {
                    Some(v) => Ok(v),
                    None => Err(self.permanent(format!(
                        "cannot create fix version `{name}` in project {}: {e}",
                        self.project()
                    ))),
                }
            }
            Err(e) => Err(self.sync_err(e, None)),
        }
    }
}

/// The `fixVersions` value for a milestone: the one version, or none.
pub(crate) fn fix_versions(milestone: Option<&str>) -> Value {
    match milestone {
        Some(m) => json!([{ "name": m }]),
        None => json!([]),
    }
}
