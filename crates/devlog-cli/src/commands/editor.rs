//! Text edited in the user's editor: `devlog edit REF` without field flags, `devlog new
//! --edit`, `devlog note REF` without text.
//!
//! The editor is `$VISUAL`, else `$EDITOR`, else `vi`, run through `sh -c` as git runs it, so
//! `EDITOR="code --wait"` works. The document is read back when the editor exits; what it
//! says is checked by the caller, and problems are written into the document (comment lines
//! under the opening `---`) for another round. Saving it unchanged, or empty, cancels.

use std::io::Write;
use std::path::PathBuf;

use devlog_core::entry_doc::{self, DocError};

use crate::error::CliError;

/// The editor to run, and which variable named it (for error messages).
#[derive(Debug, Clone)]
pub struct Editor {
    command: String,
    source: &'static str,
}

/// What the caller made of one round's document.
pub enum Verdict<T> {
    /// Accepted (and, for writes, written).
    Done(T),
    /// Not accepted: show these problems in the document and open it again.
    Retry(Vec<DocError>),
}

/// How an editing session ended.
pub enum Outcome<T> {
    Done(T),
    /// Saved unchanged or emptied: nothing was changed.
    Cancelled(&'static str),
}

impl Editor {
    /// The editor the environment names: `$VISUAL`, then `$EDITOR`, then `vi` — the last only
    /// on a terminal: without one (a script, CI, a pipe) `vi` would wait for keys that never
    /// come, so `what` (how to do it without an editor) is said instead.
    pub fn from_env(what: &str) -> Result<Self, CliError> {
        for var in ["VISUAL", "EDITOR"] {
            if let Some(cmd) = std::env::var(var).ok().filter(|c| !c.trim().is_empty()) {
                return Ok(Self {
                    command: cmd,
                    source: var,
                });
            }
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(CliError::Usage(format!(
                "{what}, or set EDITOR (no editor is set and this is not a terminal)"
            )));
        }
        Ok(Self {
            command: "vi".into(),
            source: "the default (neither VISUAL nor EDITOR is set)",
        })
    }

    /// Opens `text` in the editor (a temporary file `devlog-<name>-….md`) and returns what
    /// was saved.
    fn open(&self, text: &str, name: &str, file: &mut Option<PathBuf>) -> Result<String, CliError> {
        let path = match file {
            Some(p) => p.clone(),
            None => {
                let f = tempfile::Builder::new()
                    .prefix(&format!("devlog-{name}-"))
                    .suffix(".md")
                    .tempfile()
                    .map_err(|e| CliError::Usage(format!("cannot create a file to edit: {e}")))?;
                let (_, p) = f
                    .keep()
                    .map_err(|e| CliError::Usage(format!("cannot keep the file to edit: {e}")))?;
                *file = Some(p.clone());
                p
            }
        };
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&path)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        write().map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$@\"", self.command))
            .arg("devlog-editor")
            .arg(&path)
            .status()
            .map_err(|e| {
                CliError::Usage(format!(
                    "cannot run the editor `{}` ({}): {e}",
                    self.command, self.source
                ))
            })?;
        if !status.success() {
            return Err(CliError::Usage(format!(
                "the editor `{}` ({}) exited with {status}; nothing was changed (your text is in {})",
                self.command,
                self.source,
                path.display()
            )));
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        String::from_utf8(bytes).map_err(|_| {
            CliError::Usage(format!(
                "{} is not UTF-8 text after editing; nothing was changed",
                path.display()
            ))
        })
    }

    /// Edits `initial` until `accept` takes it. Each round's problems are written into the
    /// document and it is opened again. Saving the first round unchanged, or any round
    /// empty, cancels; saving a later round unchanged asks `accept` again (a warning such as
    /// "changed by someone else" is answered by saving again), and gives up when it names the
    /// same problems as before.
    /// The temporary file is removed unless the session ends with problems, when its path
    /// is named so nothing typed is lost.
    pub async fn edit_until<T>(
        &self,
        initial: String,
        name: &str,
        mut accept: impl AsyncFnMut(&str) -> Result<Verdict<T>, CliError>,
    ) -> Result<Outcome<T>, CliError> {
        let mut file = None;
        let result = self.rounds(initial, name, &mut file, &mut accept).await;
        match (&result, &file) {
            (Err(_), Some(_)) => {}
            (_, Some(p)) => {
                let _ = std::fs::remove_file(p);
            }
            (_, None) => {}
        }
        result
    }

    async fn rounds<T>(
        &self,
        initial: String,
        name: &str,
        file: &mut Option<PathBuf>,
        accept: &mut impl AsyncFnMut(&str) -> Result<Verdict<T>, CliError>,
    ) -> Result<Outcome<T>, CliError> {
        let mut shown = initial;
        let mut first = true;
        let mut last: Vec<DocError> = Vec::new();
        loop {
            let saved = self.open(&shown, name, file)?;
            if entry_doc::above_scissors(&saved).is_empty() {
                return Ok(Outcome::Cancelled("the document was emptied"));
            }
            if first && saved == shown {
                return Ok(Outcome::Cancelled("the document was saved unchanged"));
            }
            first = false;
            match accept(&entry_doc::without_errors(&saved)).await? {
                Verdict::Done(v) => return Ok(Outcome::Done(v)),
                // Saved again unchanged with the same problems: the person gave up on them.
                Verdict::Retry(errors) if saved == shown && errors == last => {
                    let path = file.as_ref().map(|p| p.display().to_string());
                    return Err(CliError::Usage(format!(
                        "the document still has problems; nothing was changed (your text is in {}):\n{}",
                        path.unwrap_or_default(),
                        problems(&saved)
                    )));
                }
                Verdict::Retry(errors) => {
                    shown = entry_doc::with_errors(&saved, &errors);
                    last = errors;
                }
            }
        }
    }
}

/// The problem lines [`entry_doc::with_errors`] wrote into a document, for the final error.
fn problems(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.strip_prefix("# error: "))
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A store error that a person can fix in the document (a title too long, a value the
/// store refuses) becomes a problem shown there; anything else ends the session.
pub fn retry_on_invalid<T>(r: devlog_core::Result<T>) -> Result<Verdict<T>, CliError> {
    match r {
        Ok(v) => Ok(Verdict::Done(v)),
        Err(e) if e.kind() == devlog_core::ErrorKind::Invalid => {
            Ok(Verdict::Retry(vec![DocError::general(e.to_string())]))
        }
        Err(e) => Err(e.into()),
    }
}
