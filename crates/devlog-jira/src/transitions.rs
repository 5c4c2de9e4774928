//! Moving an issue to a devlog status through the workflow's transitions.
//!
//! Jira sets statuses only through transitions, and offers those of the issue's current
//! status. devlog walks the workflow: a transition straight to the target when one is offered,
//! else the first hop of the shortest path over the transitions learnt so far (per issue type,
//! for this process), else an unvisited status, nearest the target's category first; at most
//! [`MAX_HOPS`] transitions. A transition screen that requires a resolution gets the one
//! `resolutions` maps the target status to; any other required field without a default is a
//! permanent error naming it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use devlog_core::entry::Status;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{JiraConfig, StatusCategory, status_category};
use crate::issue::StatusRef;

/// The most transitions one status change may take.
pub const MAX_HOPS: usize = 8;

#[derive(Debug, Clone, Deserialize)]
pub struct Transitions {
    #[serde(default)]
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Transition {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub to: StatusRef,
    #[serde(default)]
    pub fields: BTreeMap<String, ScreenField>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScreenField {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "hasDefaultValue")]
    pub has_default_value: bool,
    #[serde(default, rename = "allowedValues")]
    pub allowed_values: Vec<Value>,
}

/// What devlog status `target` means in Jira: a named status or, unmapped, a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    Named(String),
    Category(StatusCategory),
}

impl Goal {
    pub fn of(config: &JiraConfig, target: Status) -> Self {
        match config.status_name(target).filter(|n| !n.is_empty()) {
            Some(n) => Self::Named(n.to_string()),
            None => Self::Category(status_category(target)),
        }
    }

    pub fn reached(&self, status: &StatusRef) -> bool {
        match self {
            Self::Named(n) => status.name.eq_ignore_ascii_case(n),
            Self::Category(c) => status.category() == Some(*c),
        }
    }

    fn category(&self, known: &BTreeMap<String, Option<StatusCategory>>) -> Option<StatusCategory> {
        match self {
            Self::Named(n) => known.get(&n.to_lowercase()).copied().flatten(),
            Self::Category(c) => Some(*c),
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Named(n) => write!(f, "status `{n}`"),
            Self::Category(c) => write!(f, "a status of category `{}`", c.as_str()),
        }
    }
}

/// The transitions learnt so far: status (lower-case name) → (transition id, to status).
#[derive(Debug, Default, Clone)]
pub struct Graph {
    edges: BTreeMap<String, Vec<(String, String)>>,
    categories: BTreeMap<String, Option<StatusCategory>>,
}

impl Graph {
    pub fn learn(&mut self, from: &str, offered: &[Transition]) {
        let from = from.to_lowercase();
        let edges = offered
            .iter()
            .map(|t| {
                self.categories
                    .insert(t.to.name.to_lowercase(), t.to.category());
                (t.id.clone(), t.to.name.to_lowercase())
            })
            .collect();
        self.edges.insert(from, edges);
    }

    /// The first transition of a shortest known path from `from` to a status reaching `goal`.
    fn first_hop(&self, from: &str, goal: &Goal) -> Option<String> {
        let from = from.to_lowercase();
        let reached = |s: &str| match goal {
            Goal::Named(n) => n.eq_ignore_ascii_case(s),
            Goal::Category(c) => self.categories.get(s).copied().flatten() == Some(*c),
        };
        let mut seen = BTreeSet::from([from.clone()]);
        let mut queue = VecDeque::from([(from, None::<String>)]);
        while let Some((s, first)) = queue.pop_front() {
            for (id, to) in self.edges.get(&s).into_iter().flatten() {
                let first = first.clone().or_else(|| Some(id.clone()));
                if reached(to) {
                    return first;
                }
                if seen.insert(to.clone()) {
                    queue.push_back((to.clone(), first));
                }
            }
        }
        None
    }
}

fn rank(c: Option<StatusCategory>) -> i32 {
    match c {
        Some(StatusCategory::ToDo) => 0,
        Some(StatusCategory::InProgress) => 1,
        Some(StatusCategory::Done) => 2,
        None => 1,
    }
}

/// The transition to take next from `current` (whose offered transitions are `offered`),
/// given the statuses visited in this walk; `None` when no transition leads anywhere new.
pub fn next_hop<'a>(
    graph: &Graph,
    current: &str,
    offered: &'a [Transition],
    goal: &Goal,
    visited: &BTreeSet<String>,
) -> Option<&'a Transition> {
    if let Some(t) = offered.iter().find(|t| goal.reached(&t.to)) {
        return Some(t);
    }
    if let Some(id) = graph.first_hop(current, goal)
        && let Some(t) = offered.iter().find(|t| t.id == id)
        && !visited.contains(&t.to.name.to_lowercase())
    {
        return Some(t);
    }
    let want = rank(goal.category(&graph.categories));
    offered
        .iter()
        .filter(|t| !visited.contains(&t.to.name.to_lowercase()))
        .min_by_key(|t| (rank(t.to.category()) - want).abs())
}

/// The `fields` of a transition request: a required resolution from `resolutions`; `Err`
/// names a required field devlog cannot fill, and what to configure.
pub fn screen_fields(
    config: &JiraConfig,
    target: Status,
    t: &Transition,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (id, f) in &t.fields {
        if !f.required || f.has_default_value {
            continue;
        }
        let name = f.name.clone().unwrap_or_else(|| id.clone());
        if id != "resolution" {
            return Err(format!(
                "transition `{}` to `{}` requires the field `{name}` ({id}), which devlog does not fill: make it optional on the transition screen or give it a default",
                t.name, t.to.name
            ));
        }
        let Some(r) = config.resolutions.get(&target).filter(|r| !r.is_empty()) else {
            return Err(format!(
                "integrations.jira.resolutions.{}: transition `{}` to `{}` requires a resolution; map this status to one{}",
                target.as_str(),
                t.name,
                t.to.name,
                allowed(f)
            ));
        };
        let known: Vec<&str> = f
            .allowed_values
            .iter()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .collect();
        if !known.is_empty() && !known.iter().any(|k| k.eq_ignore_ascii_case(r)) {
            return Err(format!(
                "integrations.jira.resolutions.{}: `{r}` is not a resolution transition `{}` offers{}",
                target.as_str(),
                t.name,
                allowed(f)
            ));
        }
        out.insert("resolution".into(), serde_json::json!({"name": r}));
    }
    Ok(out)
}

fn allowed(f: &ScreenField) -> String {
    let names: Vec<&str> = f
        .allowed_values
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (allowed: {})", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use serde_json::json;

    use super::*;
    use crate::config::JiraAuth;

    fn t(id: &str, to: &str, cat: &str, fields: Value) -> Transition {
        serde_json::from_value(json!({"id": id, "name": format!("to {to}"),
            "to": {"name": to, "statusCategory": {"key": cat}}, "fields": fields}))
        .unwrap()
    }

    fn config() -> JiraConfig {
        JiraConfig::new(
            "https://x.atlassian.net",
            "DEV",
            JiraAuth::Bearer("tok_123456789".to_string().into()),
        )
        .unwrap()
    }

    #[test]
    fn a_direct_transition_wins_then_the_target_category_leads() {
        let g = Graph::default();
        let goal = Goal::Named("Done".into());
        let offered = [
            t("21", "To Do", "new", json!({})),
            t("31", "In Review", "indeterminate", json!({})),
        ];
        let visited = BTreeSet::from(["in progress".to_string()]);
        // No direct transition: the hop closest to `done`'s category.
        assert_eq!(
            next_hop(&g, "In Progress", &offered, &goal, &visited).map(|t| t.id.as_str()),
            Some("31")
        );
        let offered = [
            t("31", "In Review", "indeterminate", json!({})),
            t("51", "Done", "done", json!({})),
        ];
        assert_eq!(
            next_hop(&g, "In Progress", &offered, &goal, &visited).map(|t| t.id.as_str()),
            Some("51")
        );
        // Everything visited: no hop.
        let visited = BTreeSet::from(["in review".to_string(), "to do".to_string()]);
        let offered = [
            t("21", "To Do", "new", json!({})),
            t("31", "In Review", "indeterminate", json!({})),
        ];
        assert!(next_hop(&g, "In Progress", &offered, &goal, &visited).is_none());
    }

    #[test]
    fn a_learnt_path_is_followed() {
        let mut g = Graph::default();
        g.learn(
            "To Do",
            &[t("11", "In Progress", "indeterminate", json!({}))],
        );
        g.learn(
            "In Progress",
            &[
                t("21", "To Do", "new", json!({})),
                t("31", "Blocked", "indeterminate", json!({})),
            ],
        );
        g.learn("Blocked", &[t("99", "Done", "done", json!({}))]);
        let goal = Goal::Category(StatusCategory::Done);
        assert_eq!(g.first_hop("To Do", &goal).as_deref(), Some("11"));
        assert_eq!(g.first_hop("In Progress", &goal).as_deref(), Some("31"));
    }

    #[test]
    fn a_required_resolution_comes_from_the_mapping_and_other_fields_are_named() {
        let c = config();
        let res = json!({"resolution": {"required": true, "name": "Resolution",
            "allowedValues": [{"name": "Done"}, {"name": "Won't Do"}]}});
        let fin = t("51", "Done", "done", res.clone());
        assert_eq!(
            screen_fields(&c, Status::Done, &fin).unwrap()["resolution"],
            json!({"name": "Done"})
        );
        assert_eq!(
            screen_fields(&c, Status::Closed, &fin).unwrap()["resolution"],
            json!({"name": "Won't Do"})
        );
        let err = screen_fields(&c, Status::Testing, &fin).unwrap_err();
        assert!(
            err.starts_with("integrations.jira.resolutions.testing:"),
            "{err}"
        );
        assert!(err.contains("Won't Do"), "{err}");
        let mut bad = c.clone();
        bad.resolutions.insert(Status::Done, "Fixed".into());
        let err = screen_fields(&bad, Status::Done, &fin).unwrap_err();
        assert!(err.contains("`Fixed`"), "{err}");
        let other = t(
            "51",
            "Done",
            "done",
            json!({"customfield_1": {"required": true, "name": "Root cause"}}),
        );
        let err = screen_fields(&c, Status::Done, &other).unwrap_err();
        assert!(err.contains("`Root cause` (customfield_1)"), "{err}");
    }
}
