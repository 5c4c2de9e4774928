//! What of a URL may appear in logs and errors: the path and the query keys, never query values
//! (a `jql`, a continuation token or a misplaced `access_token` may be sensitive), never the
//! user-info part, never the host's credentials.

use reqwest::Url;

/// `/search?jql=*&startAt=*` for `https://user:pw@host/search?jql=project%3DX&startAt=50`.
pub fn display_path(url: &Url) -> String {
    let mut out = url.path().to_string();
    let keys: Vec<String> = url.query_pairs().map(|(k, _)| format!("{k}=*")).collect();
    if !keys.is_empty() {
        out.push('?');
        out.push_str(&keys.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_path_and_query_keys_are_shown() {
        let url = Url::parse(
            "https://user:hunter2@jira.example/rest/api/3/search/jql?jql=project%3DSECRET&nextPageToken=NPT-1a2b&access_token=AT-9f8e7d",
        )
        .unwrap();
        let shown = display_path(&url);
        assert_eq!(
            shown,
            "/rest/api/3/search/jql?jql=*&nextPageToken=*&access_token=*"
        );
        for secret in [
            "hunter2",
            "user:",
            "SECRET",
            "NPT-1a2b",
            "AT-9f8e7d",
            "jira.example",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(
            display_path(&Url::parse("https://api.github.com/repos/o/r").unwrap()),
            "/repos/o/r"
        );
    }
}
