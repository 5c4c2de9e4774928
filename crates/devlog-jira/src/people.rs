//! Assignees: Jira assigns issues by account id, devlog names people by email or display name.
//! A name is looked up among the accounts that may be assigned issues of the project
//! (`GET /user/assignable/search?project=K&query=…`), once per name and run; the name devlog
//! wrote is kept beside the marker in the `devlog` issue property with the account id, so it
//! reads back as written (see [`Issue::assignee`](crate::issue::Issue::assignee)).

use devlog_core::integration::SyncError;
use serde_json::{Value, json};

use crate::JiraIntegration;
use crate::issue::User;

/// Accounts a lookup asks for: enough to see that a display name is shared.
const LOOKUP_SIZE: &str = "50";

impl JiraIntegration {
    /// The account id of assignee `name` (an email or a display name, case-insensitive). No
    /// matching account, or a display name several accounts share, is a permanent error
    /// naming the assignee.
    pub(crate) async fn account_id(&self, name: &str) -> Result<String, SyncError> {
        let wanted = name.trim();
        let key = wanted.to_lowercase();
        if let Some(id) = crate::lock(&self.accounts).get(&key) {
            return Ok(id.clone());
        }
        let resp = self
            .client
            .get("/rest/api/3/user/assignable/search")
            .query("project", self.project())
            .query("query", wanted)
            .query("maxResults", LOOKUP_SIZE)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let users: Vec<User> = self.decode(&resp, None)?;
        let by_email: Vec<&User> = users
            .iter()
            .filter(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(wanted))
            })
            .collect();
        let by_name: Vec<&User> = users
            .iter()
            .filter(|u| {
                u.account_id == wanted
                    || u.display_name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
            })
            .collect();
        let chosen = match (by_email.as_slice(), by_name.as_slice()) {
            ([u], _) | ([], [u]) => *u,
            ([], []) => {
                return Err(self.permanent(format!(
                    "assignee `{wanted}` matches no Jira account that may be assigned issues in project {}: set the entry's assignee to the email or display name of such an account, or clear it",
                    self.project()
                )));
            }
            (_, many) => {
                return Err(self.permanent(format!(
                    "assignee `{wanted}` names {} Jira accounts: set the entry's assignee to the account's email",
                    many.len().max(by_email.len())
                )));
            }
        };
        let id = chosen.account_id.clone();
        crate::lock(&self.accounts).insert(key, id.clone());
        Ok(id)
    }

    /// The `assignee` field for `name` (`null` unassigns), and what the `devlog` property
    /// records of it.
    pub(crate) async fn assignee_field(
        &self,
        name: Option<&str>,
    ) -> Result<(Value, Option<Value>), SyncError> {
        match name.filter(|n| !n.trim().is_empty()) {
            None => Ok((Value::Null, None)),
            Some(n) => {
                let id = self.account_id(n).await?;
                // Recorded as the entry holds it, so it reads back unchanged.
                Ok((
                    json!({"accountId": id}),
                    Some(json!({"accountId": id, "name": n})),
                ))
            }
        }
    }
}
