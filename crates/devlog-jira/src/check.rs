//! `devlog integrations check` for Jira: the account (`myself`), the project and its issue
//! types, the statuses `statusMapping` names, the fields `customFields` names, and the board
//! (`boardId`). Every problem found is named with the key to fix, all at once.

use devlog_core::integration::{Health, SyncError};
use serde::Deserialize;
use serde_json::Value;

use crate::JiraIntegration;
use crate::issue::Named;

#[derive(Deserialize)]
struct Me {
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct Project {
    #[serde(default, rename = "issueTypes")]
    issue_types: Vec<Named>,
}

/// `GET /project/{key}/statuses`: per issue type, its statuses.
#[derive(Deserialize)]
struct TypeStatuses {
    #[serde(default)]
    statuses: Vec<Named>,
}

#[derive(Deserialize)]
struct Field {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: Option<String>,
}

impl JiraIntegration {
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, SyncError> {
        let resp = self
            .client()
            .get(path)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        self.decode(&resp, None)
    }

    pub(crate) async fn check(&self) -> Result<Health, SyncError> {
        let c = self.config();
        let project = c.project_key.as_str();
        let me: Me = self.get_json("/rest/api/3/myself").await?;
        let p: Project = self
            .get_json(&format!("/rest/api/3/project/{project}"))
            .await?;
        let mut problems = Vec::new();
        let types: Vec<&str> = p
            .issue_types
            .iter()
            .filter_map(|t| t.name.as_deref())
            .collect();
        for (t, n) in &c.issue_types {
            if !types.iter().any(|k| k.eq_ignore_ascii_case(n)) {
                problems.push(format!(
                    "integrations.jira.issueTypes.{}: project {project} has no issue type `{n}` (it has: {})",
                    t.as_str(),
                    types.join(", ")
                ));
            }
        }
        let statuses: Vec<TypeStatuses> = self
            .get_json(&format!("/rest/api/3/project/{project}/statuses"))
            .await?;
        let mut names: Vec<&str> = statuses
            .iter()
            .flat_map(|t| t.statuses.iter().filter_map(|s| s.name.as_deref()))
            .collect();
        names.sort_unstable();
        names.dedup();
        for (s, n) in &c.status_mapping {
            if !n.is_empty() && !names.iter().any(|k| k.eq_ignore_ascii_case(n)) {
                problems.push(format!(
                    "integrations.jira.statusMapping.{}: project {project} has no status `{n}` (it has: {})",
                    s.as_str(),
                    names.join(", ")
                ));
            }
        }
        if !c.custom_fields.is_empty() {
            let fields: Vec<Field> = self.get_json("/rest/api/3/field").await?;
            for (f, n) in &c.custom_fields {
                let found = fields.iter().any(|x| {
                    x.id.eq_ignore_ascii_case(n)
                        || x.name.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(n))
                });
                if !found {
                    problems.push(format!(
                        "integrations.jira.customFields.{}: no field `{n}` on {} (give a field's name or its id, e.g. customfield_10016)",
                        f.as_str(),
                        c.base_url
                    ));
                }
            }
        }
        let mut board_name = None;
        if let Some(b) = c.board_id {
            match self.board(b).await? {
                None => problems.push(format!(
                    "integrations.jira.boardId: board {b} not found on {}, or not visible to the account",
                    c.base_url
                )),
                Some(v) => {
                    let in_project = v
                        .pointer("/location/projectKey")
                        .and_then(Value::as_str)
                        .is_none_or(|k| k.eq_ignore_ascii_case(project));
                    if !in_project {
                        problems.push(format!(
                            "integrations.jira.boardId: board {b} belongs to project {}, not {project}",
                            v.pointer("/location/projectKey")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                        ));
                    }
                    board_name = v.get("name").and_then(Value::as_str).map(str::to_string);
                }
            }
        }
        if !problems.is_empty() {
            return Err(self.permanent(problems.join("; ")));
        }
        Ok(Health {
            ok: true,
            message: format!(
                "reached project {project} on {} as {}: {} issue type(s), {} mapped status(es){}{}",
                c.base_url,
                me.display_name.as_deref().unwrap_or("an unnamed account"),
                c.issue_types.len(),
                c.status_mapping.values().filter(|n| !n.is_empty()).count(),
                if c.custom_fields.is_empty() {
                    String::new()
                } else {
                    format!(", {} custom field(s)", c.custom_fields.len())
                },
                board_name
                    .map(|n| format!(", board `{n}`"))
                    .unwrap_or_default()
            ),
        })
    }
}
