//! devlog's git integration: the only crate that knows git.
//!
//! Reads (discovery, references, commits, tags) go through `gix`; operations gix has no
//! workflow for (staging and committing chosen paths, switching branches, fetch, merge, push)
//! run the `git` command-line program, each saying why where it does.
//!
//! API boundary: a library. It never reads devlog entries (the caller passes what a template
//! needs), never touches the terminal, and reads no environment variables itself (the `git`
//! program it starts inherits the caller's environment, as git users expect).

pub mod activity;
pub mod branch;
pub mod cli;
pub mod commit;
pub mod config;
pub mod discover;
pub mod error;
pub mod link;
pub mod repo;
pub mod sync;
pub mod tag;

pub use config::{ConfigError, GitConfig};
pub use error::GitError;
pub use repo::Repo;
