//! Helpers shared by the CLI test files that include them.
pub mod server_db;
