//! Sprints and boards (Jira Software's Agile API 1.0, issue 18 item 5): the sprints of the
//! configured board (`boardId`) with their dates and done/total counts, the sprint an issue is
//! in, and moving issues into a sprint chosen by name, `active` or `next`.
//!
//! Moving an issue into a sprint is idempotent in Jira (an issue already there stays), so a
//! retried move after a lost answer changes nothing: no marker is needed.

use chrono::{DateTime, FixedOffset};
use devlog_core::integration::SyncError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::JiraIntegration;

/// Sprints asked for per page (Jira's default and usual maximum is 50).
const SPRINT_PAGE: u32 = 50;
/// Issues asked for per page when counting a sprint's issues.
const ISSUE_PAGE: u32 = 100;
/// Pages read at most for one listing (50 × 40 sprints; 100 × 40 issues).
const MAX_PAGES: u32 = 40;
/// Issues moved in one request (Jira's limit).
const MOVE_BATCH: usize = 50;

/// A sprint's state as Jira names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SprintState {
    Closed,
    Active,
    Future,
}

impl std::fmt::Display for SprintState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SprintState::Closed => "closed",
            SprintState::Active => "active",
            SprintState::Future => "future",
        })
    }
}

/// A sprint of the board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sprint {
    pub id: u64,
    pub name: String,
    pub state: SprintState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_date: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
}

/// A sprint with how much of it is done.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SprintProgress {
    #[serde(flatten)]
    pub sprint: Sprint,
    /// Issues in the sprint whose status is in the Done category.
    pub done: u64,
    pub total: u64,
}

/// Which sprint `devlog jira sprint add` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SprintChoice {
    /// The board's active sprint (there must be exactly one).
    Active,
    /// The first future sprint, in the board's order.
    Next,
    /// A sprint by name (case-insensitive) or numeric id.
    Named(String),
}

impl SprintChoice {
    /// `active`, `next`, or a sprint's name or id.
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            a if a.eq_ignore_ascii_case("active") => SprintChoice::Active,
            n if n.eq_ignore_ascii_case("next") => SprintChoice::Next,
            other => SprintChoice::Named(other.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SprintPage {
    #[serde(default)]
    values: Vec<Sprint>,
    #[serde(default)]
    is_last: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct IssuePage {
    #[serde(default)]
    issues: Vec<SprintIssue>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct SprintIssue {
    #[serde(default)]
    fields: SprintIssueFields,
}

#[derive(Debug, Default, Deserialize)]
struct SprintIssueFields {
    #[serde(default)]
    status: Option<StatusField>,
    #[serde(default)]
    sprint: Option<Sprint>,
    #[serde(default, rename = "closedSprints")]
    closed_sprints: Vec<Sprint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusField {
    #[serde(default)]
    status_category: Option<Category>,
}

#[derive(Debug, Deserialize)]
struct Category {
    #[serde(default)]
    key: String,
}

impl JiraIntegration {
    /// The configured board, or an error naming the key to set.
    fn board(&self) -> Result<u64, SyncError> {
        self.config.board_id.ok_or_else(|| {
            self.permanent(
                "no board is configured: set integrations.jira.boardId to the id of the \
                 project's Scrum board (the number in the board's address, …/boards/12)"
                    .into(),
            )
        })
    }

    /// Every sprint of the board (closed, active, then future, in the board's order).
    pub async fn sprints(&self) -> Result<Vec<Sprint>, SyncError> {
        let board = self.board()?;
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            let resp = self
                .client
                .get(&format!("/rest/agile/1.0/board/{board}/sprint"))
                .query("startAt", &(page * SPRINT_PAGE).to_string())
                .query("maxResults", &SPRINT_PAGE.to_string())
                .no_cache()
                .send()
                .await
                .map_err(|e| self.board_err(e, board))?;
            let p: SprintPage = self.decode(&resp, None)?;
            let n = p.values.len();
            all.extend(p.values);
            if p.is_last.unwrap_or(n < SPRINT_PAGE as usize) || n == 0 {
                break;
            }
        }
        Ok(all)
    }

    /// How many of a sprint's issues are done, of how many.
    pub async fn sprint_progress(&self, sprint: Sprint) -> Result<SprintProgress, SyncError> {
        let (mut done, mut seen, mut total) = (0u64, 0u64, 0u64);
        for page in 0..MAX_PAGES {
            let resp = self
                .client
                .get(&format!("/rest/agile/1.0/sprint/{}/issue", sprint.id))
                .query("startAt", &(u64::from(page * ISSUE_PAGE)).to_string())
                .query("maxResults", &ISSUE_PAGE.to_string())
                .query("fields", "status")
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, None))?;
            let p: IssuePage = self.decode(&resp, None)?;
            let n = p.issues.len() as u64;
            done += p
                .issues
                .iter()
                .filter(|i| {
                    i.fields
                        .status
                        .as_ref()
                        .and_then(|s| s.status_category.as_ref())
                        .is_some_and(|c| c.key == "done")
                })
                .count() as u64;
            seen += n;
            total = p.total.unwrap_or(seen).max(seen);
            if n == 0 || seen >= total {
                break;
            }
        }
        Ok(SprintProgress {
            sprint,
            done,
            total,
        })
    }

    /// The sprint a choice names, among the board's sprints.
    pub async fn choose_sprint(&self, choice: &SprintChoice) -> Result<Sprint, SyncError> {
        let all = self.sprints().await?;
        let names = |want: Option<SprintState>| {
            let v: Vec<String> = all
                .iter()
                .filter(|s| want.is_none_or(|w| s.state == w))
                .map(|s| format!("{} ({})", s.name, s.state))
                .collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        match choice {
            SprintChoice::Active => {
                let active: Vec<&Sprint> = all
                    .iter()
                    .filter(|s| s.state == SprintState::Active)
                    .collect();
                match active.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => Err(self.permanent(format!(
                        "board {} has no active sprint; its sprints: {}",
                        self.config.board_id.unwrap_or_default(),
                        names(None)
                    ))),
                    _ => Err(self.permanent(format!(
                        "board {} has {} active sprints ({}); name the one you mean",
                        self.config.board_id.unwrap_or_default(),
                        active.len(),
                        names(Some(SprintState::Active))
                    ))),
                }
            }
            SprintChoice::Next => all
                .iter()
                .find(|s| s.state == SprintState::Future)
                .cloned()
                .ok_or_else(|| {
                    self.permanent(format!(
                        "board {} has no future sprint; create one in Jira, or name one of: {}",
                        self.config.board_id.unwrap_or_default(),
                        names(None)
                    ))
                }),
            SprintChoice::Named(n) => all
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(n) || s.id.to_string() == *n)
                .cloned()
                .ok_or_else(|| {
                    self.permanent(format!(
                        "board {} has no sprint named `{n}`; its sprints: {}",
                        self.config.board_id.unwrap_or_default(),
                        names(None)
                    ))
                }),
        }
        .and_then(|s| {
            if s.state == SprintState::Closed {
                Err(self.permanent(format!(
                    "sprint {} is closed: Jira does not take issues into a closed sprint",
                    s.name
                )))
            } else {
                Ok(s)
            }
        })
    }

    /// Moves issues (keys) into a sprint. Jira takes at most 50 a request; an issue already
    /// there stays, so a retry changes nothing.
    pub async fn move_to_sprint(&self, sprint: &Sprint, keys: &[String]) -> Result<(), SyncError> {
        for batch in keys.chunks(MOVE_BATCH) {
            self.client
                .post(&format!("/rest/agile/1.0/sprint/{}/issue", sprint.id))
                .json(&json!({ "issues": batch }))
                .send()
                .await
                .map_err(|e| self.sync_err(e, batch.first().map(String::as_str)))?;
        }
        Ok(())
    }

    /// The sprint an issue is in now (its open sprint; else the last closed one), if any.
    pub async fn issue_sprint(&self, key: &str) -> Result<Option<Sprint>, SyncError> {
        let resp = self
            .client
            .get(&format!("/rest/agile/1.0/issue/{key}"))
            .query("fields", "sprint,closedSprints")
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(key)))?;
        let i: SprintIssue = self.decode(&resp, Some(key))?;
        Ok(i.fields
            .sprint
            .or_else(|| i.fields.closed_sprints.into_iter().last()))
    }

    /// For health: the configured board exists and this account sees it (`None` when no
    /// board is configured); says its name and type.
    pub async fn check_board(&self) -> Result<Option<String>, SyncError> {
        let Some(board) = self.config.board_id else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Board {
            #[serde(default)]
            name: Option<String>,
            #[serde(default, rename = "type")]
            kind: Option<String>,
        }
        let resp = self
            .client
            .get(&format!("/rest/agile/1.0/board/{board}"))
            .no_cache()
            .send()
            .await
            .map_err(|e| self.board_err(e, board))?;
        let b: Board = self.decode(&resp, None)?;
        Ok(Some(format!(
            "board {board} ({}, {})",
            b.name.as_deref().unwrap_or("unnamed"),
            b.kind.as_deref().unwrap_or("of unknown type")
        )))
    }

    /// A board request's failure; a 404 names the `boardId` key.
    fn board_err(&self, e: devlog_http::HttpError, board: u64) -> SyncError {
        if e.status().map(|s| s.as_u16()) == Some(404) {
            return self.permanent(format!(
                "board {board} was not found (or this account cannot see it): check \
                 integrations.jira.boardId"
            ));
        }
        self.sync_err(e, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_read_as_users_type_them() {
        assert_eq!(SprintChoice::parse("Active"), SprintChoice::Active);
        assert_eq!(SprintChoice::parse(" next "), SprintChoice::Next);
        assert_eq!(
            SprintChoice::parse("Sprint 7"),
            SprintChoice::Named("Sprint 7".into())
        );
    }

    #[test]
    fn the_official_example_page_reads() {
        let page: SprintPage = serde_json::from_str(
            r#"{"isLast":false,"maxResults":2,"startAt":1,"total":5,"values":[{"id":37,"self":"https://your-domain.atlassian.net/rest/agile/1.0/sprint/23","state":"closed","name":"sprint 1","startDate":"2015-04-11T15:22:00.000+10:00","endDate":"2015-04-20T01:22:00.000+10:00","completeDate":"2015-04-20T11:04:00.000+10:00","originBoardId":5,"goal":"sprint 1 goal"},{"id":72,"self":"https://your-domain.atlassian.net/rest/agile/1.0/sprint/73","state":"future","name":"sprint 2","goal":"sprint 2 goal"}]}"#,
        )
        .expect("the example reads");
        assert_eq!(page.values.len(), 2);
        assert_eq!(page.values[0].state, SprintState::Closed);
        assert!(page.values[0].end_date.is_some());
        assert_eq!(page.values[1].start_date, None);
        assert_eq!(page.is_last, Some(false));
    }
}
