//! Which Jira project permission a refused (403) request needed, from its method and path, so
//! the error names the one to grant instead of listing them all.

use devlog_http::HttpError;

/// The permission request `method path` needs (Jira's names, as in the project's permission
/// scheme).
pub fn needed(method: &str, path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or(path);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let has = |s: &str| segs.contains(&s);
    if has("agile") {
        return "Browse projects (and the board's filter shared with the account)";
    }
    match method {
        "GET" => "Browse projects",
        "POST" if segs.last() == Some(&"issue") => "Create issues",
        "POST" if has("transitions") => "Transition issues",
        "POST" if has("comment") => "Add comments",
        "PUT" if has("comment") => "Edit own comments (or Edit all comments)",
        "DELETE" if has("comment") => "Delete own comments (or Delete all comments)",
        _ if has("worklog") => "Work on issues",
        "POST" if segs.last() == Some(&"jql") => "Browse projects",
        _ => "Edit issues",
    }
}

/// The message of a 403: the permission the request needed, in which project, and Jira's own
/// words.
pub fn forbidden(project: &str, e: &HttpError) -> String {
    let r = e.request();
    format!(
        "the account lacks the Jira permission \"{}\" in project {project} (needed for {} {}): grant it in the project's permission scheme ({e})",
        needed(r.method.as_str(), &r.path),
        r.method,
        r.path
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_write_names_its_permission() {
        for (m, p, want) in [
            ("POST", "/rest/api/3/issue", "Create issues"),
            ("PUT", "/rest/api/3/issue/DEV-1", "Edit issues"),
            (
                "PUT",
                "/rest/api/3/issue/DEV-1/properties/devlog",
                "Edit issues",
            ),
            (
                "POST",
                "/rest/api/3/issue/DEV-1/transitions",
                "Transition issues",
            ),
            ("POST", "/rest/api/3/issue/DEV-1/comment", "Add comments"),
            (
                "DELETE",
                "/rest/api/3/issue/DEV-1/comment/5",
                "Delete own comments",
            ),
            ("POST", "/rest/api/3/issue/DEV-1/worklog", "Work on issues"),
            ("GET", "/rest/api/3/issue/DEV-1?fields=*", "Browse projects"),
            ("POST", "/rest/api/3/search/jql", "Browse projects"),
        ] {
            assert!(needed(m, p).starts_with(want), "{m} {p}: {}", needed(m, p));
        }
    }
}
