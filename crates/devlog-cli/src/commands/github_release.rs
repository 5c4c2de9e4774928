//! `devlog github release-notes`: release notes from completed entries (being written).

use clap::Args;

use super::Ctx;
use crate::error::CliError;

/// Release notes from the entries completed between two tags, grouped by type
#[derive(Debug, Args)]
pub struct ReleaseNotesArgs {
    /// The previous release's tag
    #[arg(long)]
    pub from: String,
    /// The release's tag
    #[arg(long)]
    pub to: String,
}

pub async fn run(ctx: &Ctx, a: ReleaseNotesArgs) -> Result<(), CliError> {
    let _ = (ctx, a);
    Err(CliError::Usage("release notes are not available yet".into()))
}
