//! Linking an entry to an existing issue (`devlog jira link REF KEY-123|URL`) and releasing it
//! (`devlog jira unlink REF`): the marker property is set on, or deleted from, the issue.

use devlog_core::id::EntryId;
use devlog_core::integration::{RemoteAction, RemoteItem, SyncError};
use serde_json::json;

use crate::JiraIntegration;
use crate::issue::PROPERTY;

/// The issue key in `s`: `DEV-12` (any case), or an issue URL (`…/browse/DEV-12`,
/// `…?selectedIssue=DEV-12`, `…/issues/DEV-12`), which must be on the configured site and in
/// its project. Errors say what to give instead.
pub fn parse_issue_ref(s: &str, base_url: &str, project: &str) -> Result<String, String> {
    let t = s.trim().trim_end_matches('/');
    let bad = || {
        format!(
            "`{s}` is not a Jira issue: give its key ({project}-12) or its URL ({base_url}/browse/{project}-12)"
        )
    };
    let key = if t.contains("://") {
        let (site, rest) = t
            .split_once("://")
            .map(|(scheme, r)| {
                let (host, path) = r.split_once('/').unwrap_or((r, ""));
                (format!("{scheme}://{host}"), path.to_string())
            })
            .ok_or_else(bad)?;
        let base_site = base_url
            .split_once("://")
            .map(|(scheme, r)| format!("{scheme}://{}", r.split('/').next().unwrap_or(r)))
            .unwrap_or_default();
        if !site.eq_ignore_ascii_case(&base_site) {
            return Err(format!(
                "`{s}` is on {site}, but integrations.jira.baseUrl is {base_url}"
            ));
        }
        let from_query = rest.split_once('?').and_then(|(_, q)| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("selectedIssue="))
                .map(str::to_string)
        });
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        let from_path = path
            .split('/')
            .rev()
            .find(|p| is_key(p))
            .map(str::to_string);
        from_query.or(from_path).ok_or_else(bad)?
    } else {
        t.to_string()
    };
    let key = key.to_ascii_uppercase();
    if !is_key(&key) {
        return Err(bad());
    }
    let (p, _) = key.rsplit_once('-').ok_or_else(bad)?;
    if p != project {
        return Err(format!(
            "`{s}` is in project {p}, but integrations.jira.projectKey is {project}"
        ));
    }
    Ok(key)
}

fn is_key(s: &str) -> bool {
    let Some((p, n)) = s.rsplit_once('-') else {
        return false;
    };
    let mut chars = p.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.is_empty()
        && n.chars().all(|c| c.is_ascii_digit())
        && n != "0"
}

impl JiraIntegration {
    /// Puts the entry's marker on issue `key` (linking an existing issue), unless it carries
    /// another entry's; returns the issue as the sync engine links it.
    pub async fn adopt_issue(&self, key: &str, entry: EntryId) -> Result<RemoteItem, SyncError> {
        let issue = self.get_issue(key).await?;
        match issue.marker() {
            Some(m) if m == entry => return self.to_remote(&issue).await,
            Some(other) => {
                return Err(self.permanent(format!(
                    "issue {key} is already linked to devlog entry {other}; unlink that entry first"
                )));
            }
            None => {}
        }
        self.issue_writes.wait(key).await;
        self.client()
            .put(&format!("/rest/api/3/issue/{key}/properties/{PROPERTY}"))
            .json(&json!({"id": entry.to_string()}))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(key)))?;
        let issue = self.get_issue(key).await?;
        self.to_remote(&issue).await
    }

    /// Deletes the marker from issue `key` (after `devlog jira unlink`), so no later sync
    /// adopts it again. An issue without the marker, or gone, is left as it is.
    pub async fn release_issue(&self, key: &str) -> Result<(), SyncError> {
        self.issue_writes.wait(key).await;
        match self
            .client()
            .delete(&format!("/rest/api/3/issue/{key}/properties/{PROPERTY}"))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == devlog_http::HttpErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.sync_err(e, Some(key))),
        }
    }

    /// The comments of issue `key` so far, as the actions that make them the entry's notes
    /// (`devlog jira link` imports the conversation); none when `syncNotes = false`.
    pub async fn comment_actions(&self, key: &str) -> Result<Vec<RemoteAction>, SyncError> {
        if !self.config().sync_notes {
            return Ok(Vec::new());
        }
        let comments = self.issue_comments(key).await?;
        Ok(comments
            .iter()
            .map(|c| self.comment_action(key, c))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    const SITE: &str = "https://acme.atlassian.net";

    #[test]
    fn keys_and_urls_of_the_configured_project() {
        for (input, want) in [
            ("DEV-12", "DEV-12"),
            ("dev-12", "DEV-12"),
            (" DEV-12 ", "DEV-12"),
            ("https://acme.atlassian.net/browse/DEV-12", "DEV-12"),
            ("https://acme.atlassian.net/browse/DEV-12/", "DEV-12"),
            (
                "https://acme.atlassian.net/jira/software/projects/DEV/boards/1?selectedIssue=DEV-7",
                "DEV-7",
            ),
            ("https://ACME.atlassian.net/browse/DEV-3#comments", "DEV-3"),
        ] {
            assert_eq!(
                parse_issue_ref(input, SITE, "DEV").unwrap(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn other_sites_projects_and_non_keys_are_refused() {
        let err = |s: &str| parse_issue_ref(s, SITE, "DEV").unwrap_err();
        assert!(err("OPS-1").contains("integrations.jira.projectKey is DEV"));
        assert!(
            err("https://other.atlassian.net/browse/DEV-1").contains("integrations.jira.baseUrl")
        );
        assert!(err("12").contains("not a Jira issue"));
        assert!(err("DEV-0").contains("not a Jira issue"));
        assert!(err("DEV-x").contains("not a Jira issue"));
        assert!(err("https://acme.atlassian.net/browse/").contains("not a Jira issue"));
    }
}
