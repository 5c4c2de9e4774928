//! What `health` verifies beyond the account and the issue types: every `statusMapping` value
//! names a status of the project's workflows, and every `priorities` value a priority of the
//! site. Errors name the dotted key and list what Jira has.

use devlog_core::integration::SyncError;
use serde::Deserialize;

use crate::JiraIntegration;
use crate::issue::Named;

#[derive(Debug, Deserialize)]
struct TypeStatuses {
    #[serde(default)]
    statuses: Vec<Named>,
}

/// The first of `wanted` (key, value) whose value is not in `have` (case-insensitive).
fn missing<'a, K: Copy>(
    wanted: impl IntoIterator<Item = (K, &'a String)>,
    have: &[String],
) -> Option<(K, &'a String)> {
    wanted
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .find(|(_, v)| !have.iter().any(|h| h.eq_ignore_ascii_case(v)))
}

impl JiraIntegration {
    /// The statuses of the project's workflows (all issue types).
    async fn project_statuses(&self) -> Result<Vec<String>, SyncError> {
        let resp = self
            .client
            .get(&format!("/rest/api/3/project/{}/statuses", self.project()))
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let types: Vec<TypeStatuses> = self.decode(&resp, None)?;
        let mut names: Vec<String> = types
            .into_iter()
            .flat_map(|t| t.statuses)
            .filter_map(|s| s.name)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn site_priorities(&self) -> Result<Vec<String>, SyncError> {
        let resp = self
            .client
            .get("/rest/api/3/priority")
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let all: Vec<Named> = self.decode(&resp, None)?;
        Ok(all.into_iter().filter_map(|p| p.name).collect())
    }

    /// Checks `statusMapping` and `priorities` against the project and the site.
    pub(crate) async fn check_mappings(&self) -> Result<(), SyncError> {
        let statuses = self.project_statuses().await?;
        if let Some((s, v)) = missing(
            self.config.status_mapping.iter().map(|(k, v)| (*k, v)),
            &statuses,
        ) {
            return Err(self.permanent(format!(
                "integrations.jira.statusMapping.{}: project {} has no status `{v}` (it has: {})",
                s.as_str(),
                self.project(),
                statuses.join(", ")
            )));
        }
        let priorities = self.site_priorities().await?;
        if let Some((p, v)) = missing(
            self.config.priorities.iter().map(|(k, v)| (*k, v)),
            &priorities,
        ) {
            return Err(self.permanent(format!(
                "integrations.jira.priorities.{}: Jira has no priority `{v}` (it has: {})",
                p.as_str(),
                priorities.join(", ")
            )));
        }
        Ok(())
    }
}
