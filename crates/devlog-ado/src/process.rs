//! Azure DevOps processes and work item states: the defaults devlog maps its statuses and
//! types to for the four system processes (Agile, Scrum, Basic, CMMI), and the state
//! categories every state of every process (inherited ones with custom states included) is in.
//!
//! The project's process and its types' states are read from the API
//! ([`crate::AdoIntegration`]'s metadata); [`StateMap`] then resolves, per work item type, which
//! state a devlog status goes to and which status a state reads as.

use std::collections::BTreeMap;

use devlog_core::entry::{EntryType, Status};

/// The process a project uses, by the system process it is (or inherits from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Agile,
    Scrum,
    Basic,
    Cmmi,
    /// A process devlog has no names for (a custom one): states go by category only.
    Other,
}

/// The system processes' type ids (`capabilities.processTemplate.templateTypeId` of a project
/// on a system process; an inherited process names its parent in `parentProcessTypeId`).
pub const AGILE_ID: &str = "adcc42ab-9882-485e-a3ed-7678f01f66bc";
pub const SCRUM_ID: &str = "6b724908-ef14-45cf-84f8-768b5384da45";
pub const BASIC_ID: &str = "b8a3a935-7e91-48b8-a94c-606d37c3e9f2";
pub const CMMI_ID: &str = "27450541-8e31-4150-9947-dc59f998fc01";

impl Process {
    /// The process by its system id or its name (`Agile`, `Scrum`, `Basic`, `CMMI`).
    pub fn of(id_or_name: &str) -> Self {
        match id_or_name.to_ascii_lowercase().as_str() {
            AGILE_ID | "agile" => Self::Agile,
            SCRUM_ID | "scrum" => Self::Scrum,
            BASIC_ID | "basic" => Self::Basic,
            CMMI_ID | "cmmi" => Self::Cmmi,
            _ => Self::Other,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Agile => "Agile",
            Self::Scrum => "Scrum",
            Self::Basic => "Basic",
            Self::Cmmi => "CMMI",
            Self::Other => "a custom process",
        }
    }

    /// The state a devlog status goes to by default in this process (`None`: by category).
    pub fn default_state(&self, s: Status) -> Option<&'static str> {
        use Status::*;
        Some(match (self, s) {
            (Self::Agile, New) => "New",
            (Self::Agile, InProgress | Blocked) => "Active",
            (Self::Agile, InReview | Testing) => "Resolved",
            (Self::Agile, Done) => "Closed",
            (Self::Agile, Closed) => "Removed",
            (Self::Scrum, New) => "New",
            (Self::Scrum, InProgress | Blocked | InReview | Testing) => "Committed",
            (Self::Scrum, Done) => "Done",
            (Self::Scrum, Closed) => "Removed",
            (Self::Basic, New) => "To Do",
            (Self::Basic, InProgress | Blocked | InReview | Testing) => "Doing",
            (Self::Basic, Done | Closed) => "Done",
            (Self::Cmmi, New) => "Proposed",
            (Self::Cmmi, InProgress | Blocked) => "Active",
            (Self::Cmmi, InReview | Testing) => "Resolved",
            (Self::Cmmi, Done | Closed) => "Closed",
            (Self::Other, _) => return None,
        })
    }

    /// The work item type an entry type is created as by default in this process.
    pub fn default_type(&self, t: EntryType) -> &'static str {
        match (self, t) {
            (Self::Agile | Self::Other, EntryType::Feature) => "User Story",
            (Self::Scrum, EntryType::Feature) => "Product Backlog Item",
            (Self::Cmmi, EntryType::Feature) => "Requirement",
            (Self::Basic, EntryType::Feature | EntryType::Bugfix) => "Issue",
            (_, EntryType::Bugfix) => "Bug",
            (_, EntryType::Task | EntryType::Refactor | EntryType::Docs) => "Task",
        }
    }
}

/// The category of a work item state (`WorkItemStateColor.category`): every state of every
/// process is in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Proposed,
    InProgress,
    Resolved,
    Completed,
    Removed,
}

impl Category {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "proposed" => Self::Proposed,
            "inprogress" | "in progress" => Self::InProgress,
            "resolved" => Self::Resolved,
            "completed" => Self::Completed,
            "removed" => Self::Removed,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Proposed => "Proposed",
            Self::InProgress => "InProgress",
            Self::Resolved => "Resolved",
            Self::Completed => "Completed",
            Self::Removed => "Removed",
        }
    }

    /// The categories a devlog status may land in, best first (a type without Resolved or
    /// Removed states takes the next one).
    pub fn for_status(s: Status) -> &'static [Category] {
        use Category::*;
        match s {
            Status::New => &[Proposed],
            Status::InProgress | Status::Blocked => &[InProgress],
            Status::InReview | Status::Testing => &[Resolved, InProgress],
            Status::Done => &[Completed],
            Status::Closed => &[Removed, Completed],
        }
    }

    /// The devlog status a state of this category reads as when no mapping names it.
    pub fn status(&self) -> Status {
        match self {
            Self::Proposed => Status::New,
            Self::InProgress => Status::InProgress,
            Self::Resolved => Status::InReview,
            Self::Completed => Status::Done,
            Self::Removed => Status::Closed,
        }
    }
}

/// A state of a work item type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub name: String,
    pub category: Option<Category>,
}

/// Devlog statuses ⇄ the states of one work item type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMap {
    pub type_name: String,
    /// Devlog status → state name, every status resolved.
    pub to_state: BTreeMap<Status, String>,
    pub states: Vec<State>,
}

impl StateMap {
    /// Resolves every devlog status for a type with these states: the configured mapping
    /// (`configured`, whose keys' dotted names errors use), else the process's default name
    /// when the type has that state, else the first state of the status's category.
    /// A configured state the type lacks, or a status no state can take, is an error naming
    /// what to fix.
    pub fn resolve(
        process: Process,
        type_name: &str,
        states: &[State],
        configured: &BTreeMap<Status, String>,
        table: &str,
    ) -> Result<Self, String> {
        let names = || {
            states
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let has = |n: &str| states.iter().find(|s| s.name.eq_ignore_ascii_case(n));
        let mut to_state = BTreeMap::new();
        for s in Status::ALL {
            if let Some(n) = configured.get(s) {
                let Some(st) = has(n) else {
                    return Err(format!(
                        "integrations.{table}.stateMapping.{}: work item type `{type_name}` has no state `{n}` (it has: {})",
                        s.as_str(),
                        names()
                    ));
                };
                to_state.insert(*s, st.name.clone());
                continue;
            }
            if let Some(st) = process.default_state(*s).and_then(has) {
                to_state.insert(*s, st.name.clone());
                continue;
            }
            let by_category = Category::for_status(*s)
                .iter()
                .find_map(|c| states.iter().find(|st| st.category == Some(*c)));
            match by_category {
                Some(st) => {
                    to_state.insert(*s, st.name.clone());
                }
                None => {
                    return Err(format!(
                        "integrations.{table}.stateMapping.{}: work item type `{type_name}` has no state in category {} (it has: {}); map the status to one of them",
                        s.as_str(),
                        Category::for_status(*s)[0].as_str(),
                        names()
                    ));
                }
            }
        }
        Ok(Self {
            type_name: type_name.to_string(),
            to_state,
            states: states.to_vec(),
        })
    }

    /// The state a devlog status goes to.
    pub fn state_of(&self, s: Status) -> &str {
        self.to_state.get(&s).map(String::as_str).unwrap_or("New")
    }

    /// The devlog status a state reads as: the first status (in `Status::ALL` order) mapped
    /// to it, else its category's.
    pub fn status_of(&self, state: &str) -> Status {
        if let Some(s) = Status::ALL.iter().find(|s| {
            self.to_state
                .get(s)
                .is_some_and(|n| n.eq_ignore_ascii_case(state))
        }) {
            return *s;
        }
        self.states
            .iter()
            .find(|st| st.name.eq_ignore_ascii_case(state))
            .and_then(|st| st.category)
            .map(|c| c.status())
            .unwrap_or(Status::InProgress)
    }

    /// Whether a remote state already stands for devlog status `s` (several statuses share
    /// one state: an entry `blocked` on an Active item is not moved).
    pub fn agrees(&self, state: &str, s: Status) -> bool {
        self.state_of(s).eq_ignore_ascii_case(state)
    }
}

/// The states of the system processes' main types, as Azure DevOps defines them (the fake
/// serves these, and the unit tests below check the defaults against them).
pub fn system_states(process: Process, type_name: &str) -> Vec<State> {
    use Category::*;
    let list: &[(&str, Category)] = match (process, type_name) {
        (Process::Agile, "User Story" | "Bug" | "Feature" | "Epic") => &[
            ("New", Proposed),
            ("Active", InProgress),
            ("Resolved", Resolved),
            ("Closed", Completed),
            ("Removed", Removed),
        ],
        (Process::Agile, "Task") => &[
            ("New", Proposed),
            ("Active", InProgress),
            ("Closed", Completed),
            ("Removed", Removed),
        ],
        (Process::Scrum, "Product Backlog Item" | "Bug") => &[
            ("New", Proposed),
            ("Approved", Proposed),
            ("Committed", InProgress),
            ("Done", Completed),
            ("Removed", Removed),
        ],
        (Process::Scrum, "Task") => &[
            ("To Do", Proposed),
            ("In Progress", InProgress),
            ("Done", Completed),
            ("Removed", Removed),
        ],
        (Process::Basic, _) => &[
            ("To Do", Proposed),
            ("Doing", InProgress),
            ("Done", Completed),
        ],
        (Process::Cmmi, "Task") => &[
            ("Proposed", Proposed),
            ("Active", InProgress),
            ("Closed", Completed),
        ],
        (Process::Cmmi, _) => &[
            ("Proposed", Proposed),
            ("Active", InProgress),
            ("Resolved", Resolved),
            ("Closed", Completed),
        ],
        _ => &[],
    };
    list.iter()
        .map(|(n, c)| State {
            name: (*n).to_string(),
            category: Some(*c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    fn map(p: Process, t: &str) -> StateMap {
        StateMap::resolve(p, t, &system_states(p, t), &BTreeMap::new(), "azure-devops").unwrap()
    }

    fn row(m: &StateMap) -> Vec<&str> {
        Status::ALL.iter().map(|s| m.state_of(*s)).collect()
    }

    #[test]
    fn defaults_per_process_follow_the_issue() {
        // new, in-progress, blocked, in-review, testing, done, closed
        assert_eq!(
            row(&map(Process::Agile, "User Story")),
            [
                "New", "Active", "Active", "Resolved", "Resolved", "Closed", "Removed"
            ]
        );
        // An Agile task has no Resolved state: review goes to Active (its category's fallback).
        assert_eq!(
            row(&map(Process::Agile, "Task")),
            [
                "New", "Active", "Active", "Active", "Active", "Closed", "Removed"
            ]
        );
        assert_eq!(
            row(&map(Process::Scrum, "Product Backlog Item")),
            [
                "New",
                "Committed",
                "Committed",
                "Committed",
                "Committed",
                "Done",
                "Removed"
            ]
        );
        // A Scrum task's states are To Do / In Progress / Done: by category.
        assert_eq!(
            row(&map(Process::Scrum, "Task")),
            [
                "To Do",
                "In Progress",
                "In Progress",
                "In Progress",
                "In Progress",
                "Done",
                "Removed"
            ]
        );
        assert_eq!(
            row(&map(Process::Basic, "Issue")),
            ["To Do", "Doing", "Doing", "Doing", "Doing", "Done", "Done"]
        );
        assert_eq!(
            row(&map(Process::Cmmi, "Requirement")),
            [
                "Proposed", "Active", "Active", "Resolved", "Resolved", "Closed", "Closed"
            ]
        );
        // Read back: the first status mapped to a state, else its category's.
        let agile = map(Process::Agile, "User Story");
        assert_eq!(agile.status_of("Active"), Status::InProgress);
        assert_eq!(agile.status_of("Resolved"), Status::InReview);
        assert_eq!(agile.status_of("closed"), Status::Done);
        assert_eq!(agile.status_of("Removed"), Status::Closed);
        let scrum = map(Process::Scrum, "Product Backlog Item");
        assert_eq!(scrum.status_of("Approved"), Status::New);
        assert!(scrum.agrees("Committed", Status::Blocked));
    }

    #[test]
    fn inherited_processes_with_custom_states_map_by_category() {
        let states = vec![
            State {
                name: "Backlog".into(),
                category: Some(Category::Proposed),
            },
            State {
                name: "Building".into(),
                category: Some(Category::InProgress),
            },
            State {
                name: "In QA".into(),
                category: Some(Category::Resolved),
            },
            State {
                name: "Shipped".into(),
                category: Some(Category::Completed),
            },
            State {
                name: "Cut".into(),
                category: Some(Category::Removed),
            },
        ];
        // An inherited Agile process keeps Agile's names where they exist; these do not.
        for p in [Process::Agile, Process::Other] {
            let m = StateMap::resolve(p, "User Story", &states, &BTreeMap::new(), "ado").unwrap();
            assert_eq!(
                row(&m),
                [
                    "Backlog", "Building", "Building", "In QA", "In QA", "Shipped", "Cut"
                ]
            );
            assert_eq!(m.status_of("In QA"), Status::InReview);
        }
        // A configured state the type lacks names the key and the states it has.
        let configured = BTreeMap::from([(Status::Testing, "Testing".to_string())]);
        let err = StateMap::resolve(Process::Other, "User Story", &states, &configured, "ado")
            .unwrap_err();
        assert!(
            err.starts_with("integrations.ado.stateMapping.testing: "),
            "{err}"
        );
        assert!(err.contains("In QA"), "{err}");
        // A configured one it has wins, case-insensitively, and reads back as that status.
        let configured = BTreeMap::from([(Status::Testing, "in qa".to_string())]);
        let m =
            StateMap::resolve(Process::Other, "User Story", &states, &configured, "ado").unwrap();
        assert_eq!(m.state_of(Status::Testing), "In QA");
        assert_eq!(m.state_of(Status::InReview), "In QA");
        assert_eq!(m.status_of("In QA"), Status::InReview);
        // No state at all for a category: an error naming the status to map.
        let only = vec![State {
            name: "Open".into(),
            category: Some(Category::InProgress),
        }];
        let err =
            StateMap::resolve(Process::Other, "Odd", &only, &BTreeMap::new(), "ado").unwrap_err();
        assert!(
            err.starts_with("integrations.ado.stateMapping.new: "),
            "{err}"
        );
    }

    #[test]
    fn processes_are_known_by_id_or_name() {
        assert_eq!(Process::of(AGILE_ID), Process::Agile);
        assert_eq!(Process::of("SCRUM"), Process::Scrum);
        assert_eq!(Process::of("CMMI"), Process::Cmmi);
        assert_eq!(Process::of("My Process"), Process::Other);
        assert_eq!(Process::Basic.default_type(EntryType::Bugfix), "Issue");
        assert_eq!(
            Process::Scrum.default_type(EntryType::Feature),
            "Product Backlog Item"
        );
        assert_eq!(Process::Agile.default_type(EntryType::Docs), "Task");
    }
}
