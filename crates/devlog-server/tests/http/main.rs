//! HTTP tests of devlog-server: the API through the router in-process (`api`, `openapi`) and
//! a real bound server for the event stream, the MCP mount and graceful shutdown (`live`).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod ado_webhooks;
mod api;
mod audit;
mod auth;
mod bulk;
mod common;
mod cross_process;
mod dashboard;
mod history;
mod jira_webhooks;
mod live;
#[cfg(feature = "oidc")]
mod oidc;
mod openapi;
mod planning;
mod relations;
mod security;
mod webhooks;
mod workflows;
mod worklog_suggestions;
