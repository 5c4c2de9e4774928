//! `devlog completions <shell>`.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::CliError;
use crate::output::write_raw;

/// Print a shell completion script (bash, zsh, fish, elvish, powershell)
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: Shell,
}

pub fn run(a: CompletionsArgs) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    // Into a buffer first: `generate` panics when its writer fails (`| head -1`).
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "devlog", &mut script);
    Ok(write_raw(&script)?)
}
