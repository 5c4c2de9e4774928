//! The issues of a sprint, for sprint webhooks (Agile 1.0 `GET /sprint/{id}/issue`).

use devlog_core::integration::SyncError;
use devlog_http::HttpErrorKind;
use serde::Deserialize;

use crate::JiraIntegration;

#[derive(Deserialize)]
struct SprintIssues {
    #[serde(default)]
    issues: Vec<KeyOnly>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct KeyOnly {
    key: String,
}

/// Issues per page of a sprint, and pages read.
const PAGE: u64 = 100;
const PAGES: u64 = 20;

impl JiraIntegration {
    /// The keys of the project's issues in sprint `sprint`.
    pub(crate) async fn sprint_issues(&self, sprint: &str) -> Result<Vec<String>, SyncError> {
        let mut keys = Vec::new();
        for page in 0..PAGES {
            let at = page * PAGE;
            let resp = self
                .client()
                .get(&format!("/rest/agile/1.0/sprint/{sprint}/issue"))
                .query("jql", &format!("project = {}", self.config().project_key))
                .query("fields", "summary")
                .query("startAt", &at.to_string())
                .query("maxResults", &PAGE.to_string())
                .no_cache()
                .send()
                .await;
            let found: SprintIssues = match resp {
                Ok(r) => self.decode(&r, None)?,
                // A sprint deleted since: nothing to note.
                Err(e) if e.kind() == HttpErrorKind::NotFound => return Ok(keys),
                Err(e) => return Err(self.sync_err(e, None)),
            };
            let n = found.issues.len() as u64;
            keys.extend(found.issues.into_iter().map(|i| i.key));
            if n < PAGE || found.total.is_some_and(|t| at + n >= t) {
                break;
            }
        }
        Ok(keys)
    }
}
