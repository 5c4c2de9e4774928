//! Linking an entry to a work item that already exists (`devlog ado link REF ID|URL`):
//! reading the id from what a user pastes, putting the entry's marker tag on the item
//! (`adopt_item`), taking it off again after an unlink (`release_item`), the item's comments
//! as the entry's first notes, and what `devlog ado status REF` shows of one linked item
//! (`details`: state, iteration, board column).

use devlog_core::id::EntryId;
use devlog_core::integration::{RemoteAction, RemoteItem, SyncError};
use serde::Serialize;
use serde_json::json;

use crate::workitem::{ITERATION_PATH, MARKER_PREFIX, STATE, TAGS, TYPE, marker_tag};
use crate::{API_VERSION, AdoIntegration, PATCH, op};

pub use crate::workitem::BOARD_COLUMN;

/// The work item id in what a user gave: `12`, `#12`, `AB#12`, or a URL of the configured
/// organization (`…/<project>/_workitems/edit/12`, a board's `?workitem=12`, the API's
/// `…/_apis/wit/workItems/12`). A URL of another organization or project is refused, naming
/// the setting it disagrees with.
pub fn parse_work_item_ref(
    s: &str,
    organization_url: &str,
    project: &str,
    table: &str,
) -> Result<String, String> {
    let t = s.trim().trim_end_matches('/');
    let bad = || {
        format!(
            "`{s}` is not an Azure DevOps work item: give its id (12) or its URL \
             ({organization_url}/{project}/_workitems/edit/12)"
        )
    };
    let number = |n: &str| -> Option<String> {
        let digits = n.trim_start_matches('0');
        (n.chars().all(|c| c.is_ascii_digit()) && !digits.is_empty()).then(|| digits.to_string())
    };
    if !t.contains("://") {
        let n = t
            .strip_prefix("AB#")
            .or_else(|| t.strip_prefix("ab#"))
            .or_else(|| t.strip_prefix('#'))
            .unwrap_or(t);
        return number(n).ok_or_else(bad);
    }
    let org = organization_url.trim_end_matches('/');
    let Some(rest) = t
        .get(..org.len())
        .filter(|p| p.eq_ignore_ascii_case(org))
        .map(|_| &t[org.len()..])
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return Err(format!(
            "`{s}` is not in {org}, the organization integrations.{table}.organizationUrl names"
        ));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.split('#').next().unwrap_or_default();
    let segments: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(percent_decode)
        .collect();
    // The project, when the URL names one (`_apis/...` right after the organization does not).
    if let Some(first) = segments.first()
        && !first.starts_with('_')
        && !first.eq_ignore_ascii_case(project)
    {
        return Err(format!(
            "`{s}` is in project {first}, but integrations.{table}.project is {project}"
        ));
    }
    let from_query = query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.eq_ignore_ascii_case("workitem")
            .then(|| number(v))
            .flatten()
    });
    let from_path = segments.windows(2).find_map(|w| {
        (w[0].eq_ignore_ascii_case("edit") || w[0].eq_ignore_ascii_case("workitems"))
            .then(|| number(&w[1]))
            .flatten()
    });
    from_query.or(from_path).ok_or_else(bad)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `devlog ado status REF` shows of one linked work item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemDetails {
    pub work_item_type: String,
    pub state: String,
    /// `Project\Sprint 4` (the project's name alone: no iteration).
    pub iteration_path: String,
    /// The column of the team's board, when the item is on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_column: Option<String>,
    /// In the column's Done half (a split column).
    pub board_column_done: bool,
}

impl AdoIntegration {
    /// Puts entry `entry`'s marker tag on work item `id` (one patch, tested on the revision
    /// read) and answers the item as the engine links it. An item already marked for another
    /// entry is refused; one marked for this entry is answered as it is.
    pub async fn adopt_item(&self, id: &str, entry: EntryId) -> Result<RemoteItem, SyncError> {
        let meta = self.meta().await?;
        let current = self.get_item(id).await?;
        match current.marker() {
            Some(m) if m == entry => return self.to_remote(meta, &current),
            Some(other) => {
                return Err(self.permanent(format!(
                    "work item {id} is already linked to devlog entry {other}; unlink that entry first"
                )));
            }
            None => {}
        }
        let mut tags = current.tags();
        tags.push(marker_tag(entry));
        let ops = vec![
            json!({"op": "test", "path": "/rev", "value": current.rev}),
            op("add", TAGS, json!(tags.join("; "))),
        ];
        let resp = self
            .client
            .patch(&self.project_path(&format!("wit/workitems/{id}")))
            .query("api-version", API_VERSION)
            .json_as(&ops, PATCH)
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(id)))?;
        let updated = self.decode(&resp, Some(id))?;
        self.to_remote(meta, &updated)
    }

    /// Takes devlog's marker tags off work item `id`, so no later sync adopts it again. An
    /// item that is gone, or has no marker, is left as it is.
    pub async fn release_item(&self, id: &str) -> Result<(), SyncError> {
        let current = match self.get_item(id).await {
            Ok(w) => w,
            Err(e) if e.kind == devlog_core::integration::SyncErrorKind::NotFound => {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let is_marker = |t: &String| {
            t.get(..MARKER_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(MARKER_PREFIX))
        };
        let tags = current.tags();
        if !tags.iter().any(is_marker) {
            return Ok(());
        }
        let kept: Vec<String> = tags.into_iter().filter(|t| !is_marker(t)).collect();
        let ops = vec![
            json!({"op": "test", "path": "/rev", "value": current.rev}),
            op("add", TAGS, json!(kept.join("; "))),
        ];
        self.client
            .patch(&self.project_path(&format!("wit/workitems/{id}")))
            .query("api-version", API_VERSION)
            .json_as(&ops, PATCH)
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(id)))?;
        Ok(())
    }

    /// Work item `id`'s comments as actions that make them the entry's notes (none when
    /// `syncNotes = false`).
    pub async fn comment_actions(&self, id: &str) -> Result<Vec<RemoteAction>, SyncError> {
        if !self.config.sync_notes {
            return Ok(Vec::new());
        }
        let n: u64 = id
            .parse()
            .map_err(|_| self.permanent(format!("`{id}` is not a work item id")))?;
        Ok(self
            .comments(id)
            .await?
            .iter()
            .map(|c| self.comment_action(n, c))
            .collect())
    }

    /// Work item `id`'s type, state, iteration path and board column (one request).
    pub async fn details(&self, id: &str) -> Result<ItemDetails, SyncError> {
        let w = self.get_item(id).await?;
        let s = |f: &str| w.str_field(f).unwrap_or_default().to_string();
        Ok(ItemDetails {
            work_item_type: s(TYPE),
            state: s(STATE),
            iteration_path: s(ITERATION_PATH),
            board_column: w
                .str_field(BOARD_COLUMN)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            board_column_done: w.board().column_done,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    const ORG: &str = "https://dev.azure.com/acme";

    fn parse(s: &str) -> Result<String, String> {
        parse_work_item_ref(s, ORG, "Fabrikam Fiber", "azure-devops")
    }

    #[test]
    fn ids_and_urls_of_the_configured_project() {
        for (input, want) in [
            ("12", "12"),
            (" #12 ", "12"),
            ("AB#12", "12"),
            ("012", "12"),
            (
                "https://dev.azure.com/acme/Fabrikam%20Fiber/_workitems/edit/12",
                "12",
            ),
            (
                "https://dev.azure.com/acme/Fabrikam%20Fiber/_workitems/edit/12/",
                "12",
            ),
            (
                "https://DEV.azure.com/acme/fabrikam fiber/_workitems/edit/7#comments",
                "7",
            ),
            (
                "https://dev.azure.com/acme/Fabrikam%20Fiber/_boards/board/t/Team/Stories?workitem=31",
                "31",
            ),
            ("https://dev.azure.com/acme/_apis/wit/workItems/44", "44"),
        ] {
            assert_eq!(parse(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn other_organizations_projects_and_non_ids_are_refused_naming_the_setting() {
        let e =
            parse("https://dev.azure.com/contoso/Fabrikam%20Fiber/_workitems/edit/12").unwrap_err();
        assert!(
            e.contains("integrations.azure-devops.organizationUrl"),
            "{e}"
        );
        let e = parse("https://dev.azure.com/acme/Other/_workitems/edit/12").unwrap_err();
        assert!(
            e.contains("project Other, but integrations.azure-devops.project is Fabrikam Fiber"),
            "{e}"
        );
        let e =
            parse("https://dev.azure.com/acmex/Fabrikam%20Fiber/_workitems/edit/1").unwrap_err();
        assert!(e.contains("organizationUrl"), "{e}");
        for bad in [
            "",
            "0",
            "DEV-12",
            "12a",
            "-3",
            "https://dev.azure.com/acme/Fabrikam%20Fiber/_workitems",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("is not an Azure DevOps work item"), "{bad}: {e}");
        }
    }
}
