//! Worklogs ⇄ Jira worklogs. A worklog devlog logs carries its id in the worklog property
//! `devlog` = `{"worklog": "<worklog id>", "entry": "<entry id>"}`, set in the create request
//! itself (the Worklog's `properties`), so the marker exists atomically with the worklog: a
//! retried create finds it (`GET …/worklog?expand=properties`) and a pull recognises it.
//! Worklogs logged in Jira by others come back as worklogs with their author's display name
//! (the engine keys them by worklog id, follows their edits and deletions, and never pushes
//! them back). The day is sent as `started` = that day at 09:00 UTC; the time spent as
//! `timeSpentSeconds`; the note as an ADF `comment`.

use chrono::{NaiveDate, Utc};
use devlog_core::id::EntryId;
use devlog_core::integration::{Action, ActionTarget, RemoteAction, RemoteWorklog, SyncError};
use devlog_core::planning::Worklog;
use devlog_core::time::{Clock, SystemClock};
use devlog_http::HttpErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::comments::EntityProperty;
use crate::issue::{PROPERTY, User, parse_time};
use crate::{JiraIntegration, adf};

/// Worklogs per page of a worklog list.
const WORKLOG_PAGE: usize = 1000;
/// Pages of one issue's worklogs read at most (100,000 worklogs).
const WORKLOG_PAGES: usize = 100;

/// The remote id of a Jira worklog as worklog links record it (`worklog:<id>`: Jira's
/// worklog ids are unique per site).
pub fn worklog_remote_id(id: &str) -> String {
    format!("worklog:{id}")
}

/// The Jira worklog id in a remote id.
fn worklog_id(remote: &str) -> &str {
    remote.strip_prefix("worklog:").unwrap_or(remote)
}

/// `started` for a worklog's day: the day at 09:00 UTC, in the form Jira accepts.
pub fn started(date: NaiveDate) -> String {
    format!("{}T09:00:00.000+0000", date.format("%Y-%m-%d"))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraWorklog {
    pub id: String,
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default)]
    pub comment: Option<Value>,
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub time_spent_seconds: Option<u64>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub properties: Option<Vec<EntityProperty>>,
}

#[derive(Debug, Deserialize)]
struct WorklogPage {
    #[serde(default)]
    worklogs: Vec<JiraWorklog>,
    #[serde(default)]
    total: Option<usize>,
}

impl JiraWorklog {
    /// The id of the devlog worklog this one was logged from, if it carries devlog's property.
    pub fn marker(&self) -> Option<String> {
        self.properties
            .as_ref()?
            .iter()
            .find(|p| p.key == PROPERTY)?
            .value
            .get("worklog")?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The comment as devlog's text (none or unreadable: empty).
    pub fn note(&self) -> String {
        self.comment
            .as_ref()
            .and_then(|b| adf::Doc::from_json(b).ok())
            .map(|d| adf::to_text(&d))
            .unwrap_or_default()
    }

    /// The day the time was spent. devlog's own worklogs were sent at 09:00 UTC, so their day
    /// is the UTC day of `started` (whatever time zone Jira answers in); a worklog logged in
    /// Jira keeps the date `started` is written with (in the offset Jira answers in, the
    /// site's or the account's time zone), not moved to UTC.
    pub fn date(&self) -> Option<NaiveDate> {
        let s = self.started.as_deref()?;
        let t = chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
            .ok()?;
        Some(if self.marker().is_some() {
            t.with_timezone(&Utc).date_naive()
        } else {
            t.date_naive()
        })
    }

    /// Minutes spent (Jira counts seconds; rounded up to whole minutes, at least one).
    pub fn minutes(&self) -> u32 {
        let s = self.time_spent_seconds.unwrap_or(0);
        u32::try_from(s.div_ceil(60).max(1)).unwrap_or(u32::MAX)
    }
}

/// The create/update body of a worklog (without the marker).
fn body(w: &Worklog) -> Value {
    let mut b = json!({
        "timeSpentSeconds": u64::from(w.minutes) * 60,
        "started": started(w.date),
    });
    if !w.note.trim().is_empty() {
        b["comment"] = adf::from_text(w.note.trim_end()).to_json();
    }
    b
}

impl JiraIntegration {
    /// The worklog action a Jira worklog on issue `key` asks for; `None` for one whose
    /// `started` cannot be read (it is left alone).
    pub fn worklog_action(&self, key: &str, w: &JiraWorklog) -> Option<RemoteAction> {
        let date = w.date()?;
        let created_at = w
            .created
            .as_deref()
            .and_then(|t| parse_time(t).ok())
            .unwrap_or_else(|| SystemClock.now());
        Some(RemoteAction {
            key: worklog_remote_id(&w.id),
            target: ActionTarget::Linked {
                remote_id: key.to_string(),
            },
            action: Action::Worklog(RemoteWorklog {
                remote_id: worklog_remote_id(&w.id),
                author: w
                    .author
                    .as_ref()
                    .map(|a| {
                        a.display_name
                            .clone()
                            .unwrap_or_else(|| a.account_id.clone())
                    })
                    .unwrap_or_default(),
                date,
                minutes: w.minutes(),
                note: w.note(),
                url: Some(format!(
                    "{}/browse/{key}?focusedWorklogId={}",
                    self.config.base_url, w.id
                )),
                created_at,
                worklog_marker: w.marker(),
            }),
        })
    }

    /// All worklogs of issue `key` with their properties, oldest first.
    pub async fn issue_worklogs(&self, key: &str) -> Result<Vec<JiraWorklog>, SyncError> {
        let mut out: Vec<JiraWorklog> = Vec::new();
        for _ in 0..WORKLOG_PAGES {
            let resp = self
                .client
                .get(&format!("/rest/api/3/issue/{key}/worklog"))
                .query("startAt", &out.len().to_string())
                .query("maxResults", &WORKLOG_PAGE.to_string())
                .query("expand", "properties")
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(key)))?;
            let page: WorklogPage = self.decode(&resp, Some(key))?;
            let n = page.worklogs.len();
            out.extend(page.worklogs);
            if n == 0 || page.total.is_none_or(|t| out.len() >= t) {
                break;
            }
        }
        Ok(out)
    }

    pub(crate) async fn post_worklog(
        &self,
        key: &str,
        entry: EntryId,
        w: &Worklog,
    ) -> Result<String, SyncError> {
        let mut b = body(w);
        // The marker is created with the worklog, so a retried create finds it.
        b["properties"] =
            json!([{"key": PROPERTY, "value": {"worklog": w.id, "entry": entry.to_string()}}]);
        self.issue_writes.wait(key).await;
        let resp = self
            .client
            .post(&format!("/rest/api/3/issue/{key}/worklog"))
            .json(&b)
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(key)))?;
        let created: JiraWorklog = self.decode(&resp, Some(key))?;
        Ok(worklog_remote_id(&created.id))
    }

    pub(crate) async fn put_worklog(
        &self,
        key: &str,
        remote: &str,
        w: &Worklog,
    ) -> Result<(), SyncError> {
        let mut b = body(w);
        if b.get("comment").is_none() {
            // A note cleared here clears the comment there.
            b["comment"] = adf::from_text("").to_json();
        }
        // The worklog's properties (the marker) stay as they are.
        self.issue_writes.wait(key).await;
        self.client
            .put(&format!(
                "/rest/api/3/issue/{key}/worklog/{}",
                worklog_id(remote)
            ))
            .json(&b)
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(key)))?;
        Ok(())
    }

    /// Deletes a worklog (its worklog was deleted here); one that is gone already is fine.
    pub(crate) async fn remove_worklog(&self, key: &str, remote: &str) -> Result<(), SyncError> {
        self.issue_writes.wait(key).await;
        match self
            .client
            .delete(&format!(
                "/rest/api/3/issue/{key}/worklog/{}",
                worklog_id(remote)
            ))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == HttpErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.sync_err(e, Some(key))),
        }
    }

    /// Which of `worklogs` (`worklog:<id>`) issue `key` no longer has.
    pub(crate) async fn gone_worklogs(
        &self,
        key: &str,
        worklogs: &[String],
    ) -> Result<Vec<String>, SyncError> {
        let present: Vec<String> = self
            .issue_worklogs(key)
            .await?
            .iter()
            .map(|w| worklog_remote_id(&w.id))
            .collect();
        Ok(worklogs
            .iter()
            .filter(|w| w.starts_with("worklog:") && !present.contains(w))
            .cloned()
            .collect())
    }

    pub(crate) async fn find_marked_worklog(
        &self,
        key: &str,
        worklog: &str,
    ) -> Result<Option<String>, SyncError> {
        Ok(self
            .issue_worklogs(key)
            .await?
            .iter()
            .find(|w| w.marker().as_deref() == Some(worklog))
            .map(|w| worklog_remote_id(&w.id)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn days_minutes_and_markers_read_back() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        assert_eq!(started(d), "2026-12-06T09:00:00.000+0000");
        // Ours, answered in a far-west time zone: still the day we sent.
        let ours: JiraWorklog = serde_json::from_value(json!({
            "id": "7", "started": "2026-12-05T23:00:00.000-1000", "timeSpentSeconds": 5400,
            "properties": [{"key": "other", "value": {"worklog": "x"}},
                           {"key": "devlog", "value": {"worklog": "w-1", "entry": "e"}}]
        }))
        .unwrap();
        assert_eq!(ours.marker().as_deref(), Some("w-1"));
        assert_eq!(ours.date(), Some(d));
        assert_eq!(ours.minutes(), 90);
        // Someone else's: the date as Jira writes it.
        let theirs: JiraWorklog = serde_json::from_value(json!({
            "id": "8", "started": "2026-12-07T00:30:00.000+0200", "timeSpentSeconds": 30
        }))
        .unwrap();
        assert_eq!(theirs.marker(), None);
        assert_eq!(theirs.date(), NaiveDate::from_ymd_opt(2026, 12, 7));
        assert_eq!(theirs.minutes(), 1);
        assert_eq!(theirs.note(), "");
        let bad: JiraWorklog =
            serde_json::from_value(json!({"id": "9", "started": "soon"})).unwrap();
        assert_eq!(bad.date(), None);
        assert_eq!(worklog_id(&worklog_remote_id("8")), "8");
    }
}
