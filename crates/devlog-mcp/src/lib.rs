//! devlog's MCP server: the original devlog's tools (same names and arguments) and more,
//! resources for entries, and prompts, over stdio or streamable HTTP.
//!
//! API boundary: the only crate that knows MCP. It calls the use cases in `devlog_core::ops`
//! and never reads files or the environment itself; the binary opens the store and passes it
//! in, with the [`Options`] it read from the configuration.

pub mod args;
pub mod bulk;
pub mod error;
pub mod history_tools;
pub mod lines;
pub mod planning;
pub mod relations;
pub mod render;
pub mod reports;
pub mod server;
pub mod sessions;
pub mod tools;
pub mod transport;
pub mod workflows;
pub mod worklog_suggest;

pub use server::{DevlogMcp, Options};
pub use transport::{HTTP_PATH, HttpListener, ServeError, check_loopback, serve_stdio};
