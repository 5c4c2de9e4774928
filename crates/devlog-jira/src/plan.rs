//! `devlog sync --plan` for Jira: the transitions a status change would take, read from the
//! issue and the transitions it offers now (nothing is written).

use std::collections::BTreeSet;

use devlog_core::integration::SyncError;
use devlog_core::merge::{FieldSet, SyncedField, SyncedFields};

use crate::JiraIntegration;
use crate::transitions::{self, Goal, Transitions};

impl JiraIntegration {
    pub(crate) async fn preview_update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<Vec<String>, SyncError> {
        if !changed.contains(SyncedField::Status) {
            return Ok(Vec::new());
        }
        let target = fields.status;
        let issue = self.get_issue(remote_id).await?;
        let goal = Goal::of(self.config(), target);
        let Some(current) = issue.fields.status.clone() else {
            return Ok(vec![format!("issue {remote_id} has no status")]);
        };
        if goal.reached(&current) {
            return Ok(vec![format!(
                "status `{}` already stands for {}: no transition",
                current.name,
                target.as_str()
            )]);
        }
        let resp = self
            .client()
            .get(&format!("/rest/api/3/issue/{remote_id}/transitions"))
            .query("expand", "transitions.fields")
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(remote_id)))?;
        let offered: Transitions = self.decode(&resp, Some(remote_id))?;
        let issue_type = issue
            .fields
            .issuetype
            .as_ref()
            .and_then(|t| t.name.clone())
            .unwrap_or_default();
        let hop = {
            let mut graphs = self.graphs.lock().unwrap_or_else(|p| p.into_inner());
            let graph = graphs.entry(issue_type).or_default();
            graph.learn(&current.name, &offered.transitions);
            let visited = BTreeSet::from([current.name.to_lowercase()]);
            transitions::next_hop(graph, &current.name, &offered.transitions, &goal, &visited)
                .cloned()
        };
        let mut steps = vec![format!(
            "status `{}` → {goal} ({})",
            current.name,
            target.as_str()
        )];
        let Some(t) = hop else {
            steps.push(format!(
                "blocked: no transition from `{}` leads on; check integrations.jira.statusMapping.{}",
                current.name,
                target.as_str()
            ));
            return Ok(steps);
        };
        let screen = match transitions::screen_fields(self.config(), target, &t) {
            Ok(f) if f.is_empty() => String::new(),
            Ok(f) => format!(
                " with {}",
                f.iter()
                    .map(|(k, v)| format!(
                        "{k} `{}`",
                        v.get("name").and_then(|n| n.as_str()).unwrap_or_default()
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(m) => {
                steps.push(format!("blocked: {m}"));
                return Ok(steps);
            }
        };
        let last = goal.reached(&t.to);
        steps.push(format!(
            "transition `{}` (`{}` → `{}`){screen}{}",
            t.name,
            current.name,
            t.to.name,
            if last {
                String::new()
            } else {
                ", then on through the workflow".to_string()
            }
        ));
        Ok(steps)
    }
}
