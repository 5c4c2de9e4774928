//! `devlog github`: link entries to issues and pull requests, sync, status, release notes.
//! Settings in `[integrations.github]` (docs/github.md).

use clap::{Args, Subcommand};

use super::{Ctx, github_release};
use crate::error::CliError;

/// Work with GitHub: link entries to issues and pull requests, sync, status, release notes
#[derive(Debug, Args)]
pub struct GithubArgs {
    #[command(subcommand)]
    pub command: GithubCommand,
}

#[derive(Debug, Subcommand)]
pub enum GithubCommand {
    /// Release notes from the entries completed between two tags, grouped by type
    ReleaseNotes(github_release::ReleaseNotesArgs),
}

pub async fn run(ctx: &Ctx, a: GithubArgs) -> Result<(), CliError> {
    match a.command {
        GithubCommand::ReleaseNotes(r) => github_release::run(ctx, r).await,
    }
}
