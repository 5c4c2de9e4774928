//! Pagination: one small [`Paginator`] per style, and [`Pages`], which walks them.
//!
//! - [`LinkHeader`]: GitHub's `Link: <…>; rel="next"`.
//! - [`JiraOffset`]: Jira's `startAt` / `maxResults` / `total` (and Agile's `isLast`).
//! - [`JiraToken`]: Jira's `nextPageToken` / `isLast` (`/rest/api/3/search/jql`).
//! - [`AdoContinuation`]: Azure DevOps' `x-ms-continuationtoken` header (or a
//!   `continuationToken` body field) sent back as the `continuationToken` query parameter.
//!
//! ```no_run
//! # async fn demo(client: devlog_http::HttpClient) -> Result<(), devlog_http::HttpError> {
//! use devlog_http::{LinkHeader, Pages};
//! let mut pages = Pages::new(client.get("/repos/o/r/issues").query("per_page", "100"), LinkHeader);
//! while let Some(page) = pages.next_page().await {
//!     let issues: Vec<serde_json::Value> = page?.json()?;
//! }
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

use crate::client::{RequestBuilder, Response};
use crate::error::{HttpError, RequestContext};

/// What to request after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    /// A URL (same origin as the client) that already holds every parameter.
    Url(String),
    /// Query parameters to set on the first request (replacing those with the same keys).
    Query(Vec<(String, String)>),
}

/// One pagination style.
pub trait Paginator: Send + fmt::Debug {
    /// Adjusts the first request (page size parameters); the default leaves it as it is.
    fn first(&mut self, request: RequestBuilder) -> RequestBuilder {
        request
    }

    /// What to fetch after `page`, or `None` when it was the last page.
    fn next(&mut self, page: &Response) -> Result<Option<NextPage>, HttpError>;
}

/// Walks the pages of a request, one request per [`Pages::next_page`]. Each page is an
/// ordinary request (rate limited, conditional). Stops with an error if the remote sends us
/// back to a page already fetched.
#[derive(Debug)]
pub struct Pages<P> {
    first: RequestBuilder,
    next: Option<RequestBuilder>,
    paginator: P,
    seen: HashSet<String>,
    fetched: usize,
    max_pages: usize,
}

impl<P: Paginator> Pages<P> {
    pub fn new(request: RequestBuilder, mut paginator: P) -> Self {
        let first = paginator.first(request);
        Self {
            next: Some(first.clone()),
            first,
            paginator,
            seen: HashSet::new(),
            fetched: 0,
            max_pages: 10_000,
        }
    }

    /// Fetches at most `n` pages (a safety net against endless cursors); asking for more is
    /// an error, never a silently shortened list.
    pub fn max_pages(mut self, n: usize) -> Self {
        self.max_pages = n;
        self
    }

    /// How many pages were fetched so far.
    pub fn fetched(&self) -> usize {
        self.fetched
    }

    /// The next page; `None` after the last one or after an error.
    pub async fn next_page(&mut self) -> Option<Result<Response, HttpError>> {
        let request = self.next.take()?;
        if self.fetched >= self.max_pages {
            return Some(Err(HttpError::Decode {
                request: RequestContext::new(request.method().clone(), request.shown_path(), None),
                message: format!("more than {} pages; stopped", self.max_pages),
            }));
        }
        if let Some(url) = request.url() {
            self.seen.insert(url.to_string());
        }
        let page = match request.send().await {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        self.fetched += 1;
        let following = match self.paginator.next(&page) {
            Ok(Some(NextPage::Url(u))) => self.first.clone().url_from(&u),
            Ok(Some(NextPage::Query(pairs))) => {
                let mut r = self.first.clone();
                for (k, v) in &pairs {
                    r = r.set_query(k, v);
                }
                r
            }
            Ok(None) => return Some(Ok(page)),
            Err(e) => return Some(Err(e)),
        };
        if following
            .url()
            .is_some_and(|u| self.seen.contains(u.as_str()))
        {
            return Some(Err(page.decode_error(
                "pagination loop: the next page is one already fetched",
            )));
        }
        self.next = Some(following);
        Some(Ok(page))
    }
}

/// GitHub: follow `Link: <url>; rel="next"` until there is none.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkHeader;

impl Paginator for LinkHeader {
    fn next(&mut self, page: &Response) -> Result<Option<NextPage>, HttpError> {
        Ok(next_link(page.headers()).map(NextPage::Url))
    }
}

/// The `rel="next"` target of the `Link` headers, if any.
pub fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_link_header)
        .find(|(_, rels)| rels.split_ascii_whitespace().any(|r| r == "next"))
        .map(|(url, _)| url)
}

/// Parses an RFC 8288 `Link` header into `(target, rel)` pairs. Commas inside `<…>` or quoted
/// parameter values do not split links.
pub fn parse_link_header(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let target = rest[open + 1..open + close].trim().to_string();
        rest = &rest[open + close + 1..];
        // Parameters run to the next comma outside quotes.
        let mut end = rest.len();
        let mut quoted = false;
        for (i, ch) in rest.char_indices() {
            match ch {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let params = &rest[..end];
        rest = &rest[end..];
        let rel = params
            .split(';')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("rel"))
            .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase())
            .unwrap_or_default();
        out.push((target, rel));
    }
    out
}

fn body_json(page: &Response) -> Result<Value, HttpError> {
    serde_json::from_slice(page.body())
        .map_err(|e| page.decode_error(format!("page is not JSON: {e}")))
}

/// Jira offset pagination: `startAt`, `maxResults`, and `total` or `isLast` in the body.
#[derive(Debug, Clone)]
pub struct JiraOffset {
    page_size: u32,
    items_field: Option<String>,
}

/// Fields that hold a Jira page's items, tried in order when none is named.
const JIRA_ITEM_FIELDS: &[&str] = &["values", "issues", "worklogs", "comments", "changelog"];

impl JiraOffset {
    pub fn new(page_size: u32) -> Self {
        Self {
            page_size: page_size.max(1),
            items_field: None,
        }
    }

    /// Names the array of items (otherwise `values`, `issues`, `worklogs`, `comments`,
    /// `changelog` are tried).
    pub fn items(mut self, field: &str) -> Self {
        self.items_field = Some(field.to_string());
        self
    }

    /// The next `startAt` after a page body, or `None` when it was the last page.
    pub fn next_start(&self, body: &Value) -> Option<u64> {
        if body.get("isLast").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let start = body.get("startAt").and_then(Value::as_u64).unwrap_or(0);
        let count = match &self.items_field {
            Some(f) => body.get(f).and_then(Value::as_array).map(Vec::len),
            None => JIRA_ITEM_FIELDS
                .iter()
                .find_map(|f| body.get(*f).and_then(Value::as_array).map(Vec::len)),
        }
        .unwrap_or(0) as u64;
        if count == 0 {
            return None;
        }
        let next = start + count;
        match body.get("total").and_then(Value::as_u64) {
            Some(total) if next >= total => None,
            _ => Some(next),
        }
    }
}

impl Paginator for JiraOffset {
    fn first(&mut self, request: RequestBuilder) -> RequestBuilder {
        request
            .set_query("startAt", "0")
            .set_query("maxResults", &self.page_size.to_string())
    }

    fn next(&mut self, page: &Response) -> Result<Option<NextPage>, HttpError> {
        let body = body_json(page)?;
        Ok(self.next_start(&body).map(|start| {
            NextPage::Query(vec![
                ("startAt".into(), start.to_string()),
                ("maxResults".into(), self.page_size.to_string()),
            ])
        }))
    }
}

/// Jira token pagination (`/rest/api/3/search/jql`): `nextPageToken` until `isLast`.
#[derive(Debug, Clone)]
pub struct JiraToken {
    page_size: u32,
}

impl JiraToken {
    pub fn new(page_size: u32) -> Self {
        Self {
            page_size: page_size.max(1),
        }
    }

    /// The token for the next page, or `None` when this was the last page.
    pub fn next_token(body: &Value) -> Option<String> {
        if body.get("isLast").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        body.get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }
}

impl Paginator for JiraToken {
    fn first(&mut self, request: RequestBuilder) -> RequestBuilder {
        request.set_query("maxResults", &self.page_size.to_string())
    }

    fn next(&mut self, page: &Response) -> Result<Option<NextPage>, HttpError> {
        let body = body_json(page)?;
        Ok(Self::next_token(&body).map(|t| NextPage::Query(vec![("nextPageToken".into(), t)])))
    }
}

/// Azure DevOps: the `x-ms-continuationtoken` response header (or a `continuationToken` body
/// field) goes back as the `continuationToken` query parameter.
#[derive(Debug, Clone)]
pub struct AdoContinuation {
    param: String,
}

impl Default for AdoContinuation {
    fn default() -> Self {
        Self {
            param: "continuationToken".into(),
        }
    }
}

impl AdoContinuation {
    /// Uses another query parameter name for the token (some endpoints spell it differently).
    pub fn param(name: &str) -> Self {
        Self { param: name.into() }
    }

    /// The continuation token of a page, if there are more pages.
    pub fn token(page: &Response) -> Option<String> {
        if let Some(t) = page
            .header("x-ms-continuationtoken")
            .filter(|t| !t.is_empty())
        {
            return Some(t.to_string());
        }
        let is_json = page
            .header("content-type")
            .is_some_and(|ct| ct.contains("json"));
        if !is_json {
            return None;
        }
        serde_json::from_slice::<Value>(page.body())
            .ok()?
            .get("continuationToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }
}

impl Paginator for AdoContinuation {
    fn next(&mut self, page: &Response) -> Result<Option<NextPage>, HttpError> {
        Ok(Self::token(page).map(|t| NextPage::Query(vec![(self.param.clone(), t)])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, LINK};
    use serde_json::json;

    #[test]
    fn github_link_header() {
        // As GitHub sends it for page 3 of an issue list.
        let value = r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last", <https://api.github.com/repositories/1300192/issues?page=1>; rel="first""#;
        let links = parse_link_header(value);
        assert_eq!(links.len(), 4);
        assert_eq!(links[1].1, "next");
        let mut h = HeaderMap::new();
        h.insert(LINK, HeaderValue::from_static(value));
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        // The last page has no next.
        let mut last = HeaderMap::new();
        last.insert(
            LINK,
            HeaderValue::from_static(
                r#"<https://api.github.com/repositories/1300192/issues?page=514>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=1>; rel="first""#,
            ),
        );
        assert_eq!(next_link(&last), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn link_targets_with_commas_and_several_rels() {
        let links = parse_link_header(
            r#"<https://x.test/a?q=1,2>; rel="next last"; title="a, b", <https://x.test/b>; rel=prev"#,
        );
        assert_eq!(
            links,
            vec![
                (
                    "https://x.test/a?q=1,2".to_string(),
                    "next last".to_string()
                ),
                ("https://x.test/b".to_string(), "prev".to_string()),
            ]
        );
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(r#"<https://x.test/a?q=1,2>; rel="next last""#),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://x.test/a?q=1,2"));
    }

    #[test]
    fn jira_offset_pages() {
        let p = JiraOffset::new(50);
        let issues = |n: usize| vec![json!({"key": "X-1"}); n];
        // /rest/api/3/search (first page of three)
        let first = json!({"startAt": 0, "maxResults": 50, "total": 120, "issues": issues(50)});
        assert_eq!(p.next_start(&first), Some(50));
        // The server may return fewer than asked: continue from what came back.
        let capped = json!({"startAt": 50, "maxResults": 20, "total": 120, "issues": issues(20)});
        assert_eq!(p.next_start(&capped), Some(70));
        let last = json!({"startAt": 100, "maxResults": 50, "total": 120, "issues": issues(20)});
        assert_eq!(p.next_start(&last), None);
        // Agile: values + isLast, no total.
        let board = json!({"maxResults": 2, "startAt": 0, "isLast": false, "values": [{"id": 1}, {"id": 2}]});
        assert_eq!(p.next_start(&board), Some(2));
        let board_end =
            json!({"maxResults": 2, "startAt": 2, "isLast": true, "values": [{"id": 3}]});
        assert_eq!(p.next_start(&board_end), None);
        // Worklogs; an empty page always ends.
        let worklogs =
            json!({"startAt": 0, "maxResults": 1, "total": 3, "worklogs": [{"id": "1"}]});
        assert_eq!(p.next_start(&worklogs), Some(1));
        assert_eq!(p.next_start(&json!({"startAt": 0, "issues": []})), None);
        // A named field wins over the defaults.
        let named = JiraOffset::new(10).items("sprints");
        assert_eq!(
            named.next_start(&json!({"startAt": 0, "total": 5, "sprints": [1, 2]})),
            Some(2)
        );
    }

    #[test]
    fn jira_token_pages() {
        let more = json!({"issues": [{"id": "1"}], "nextPageToken": "CAEaAggD", "isLast": false});
        assert_eq!(JiraToken::next_token(&more).as_deref(), Some("CAEaAggD"));
        let last = json!({"issues": [{"id": "2"}], "isLast": true});
        assert_eq!(JiraToken::next_token(&last), None);
        // isLast wins over a stray token.
        let odd = json!({"issues": [], "nextPageToken": "x", "isLast": true});
        assert_eq!(JiraToken::next_token(&odd), None);
    }
}
