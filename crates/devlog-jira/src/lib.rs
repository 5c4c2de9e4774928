//! devlog's Jira integration: entries ⇄ issues of one Jira project over the REST API v3, on
//! the shared HTTP plumbing of `devlog-http` (docs/jira.md).
//!
//! API boundary: no store access, no terminal, no environment; the API token never appears in
//! logs, errors or `Debug`.

pub mod adf;
pub mod config;

pub use config::{JiraAuth, JiraConfig};

pub const NAME: &str = "jira";
