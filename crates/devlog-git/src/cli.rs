//! Running the `git` program for what gix cannot do (yet): staging and committing chosen
//! paths with the index kept in step, switching branches (checkout), fetch, merge and push.

use std::path::Path;
use std::process::{Command, Output};

use crate::GitError;

/// Runs `git <args>` in `workdir`; a non-zero exit becomes [`GitError::Command`] with git's
/// own message.
pub fn run(workdir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = output(workdir, args)?;
    if !out.status.success() {
        return Err(GitError::Command {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `git <args>` and returns its output whatever the exit status.
pub fn output(workdir: &Path, args: &[&str]) -> Result<Output, GitError> {
    Command::new("git")
        .args(args)
        .current_dir(workdir)
        // Never wait for an editor or a credential prompt: devlog runs unattended (MCP, CI).
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_EDITOR", "true")
        .output()
        .map_err(|source| GitError::NoGitProgram { source })
}
