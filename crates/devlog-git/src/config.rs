//! `[integrations.git]` in devlog.toml: the settings and their templates, validated so that
//! every error names its key.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The settings of the git integration. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitConfig {
    /// `false` turns every `devlog git` command and auto-commit off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Commit `.devlog/` after each command that changed entries.
    #[serde(default)]
    pub auto_commit: bool,
    /// For the long-running frontends (`devlog mcp`, `devlog serve`): commit once no entry has
    /// changed for this many seconds (and when they stop), so a burst of writes is one commit.
    #[serde(default = "default_auto_commit_delay")]
    pub auto_commit_delay_seconds: u64,
    #[serde(default = "default_prefix")]
    pub branch_prefix: String,
    /// Placeholders: `{prefix}`, `{handle}`, `{slug}`, `{id}` (8 hex digits), `{type}`.
    #[serde(default = "default_branch_template")]
    pub branch_template: String,
    /// Placeholders: `{summary}`, `{title}`, `{id}`, `{handle}`.
    #[serde(default = "default_commit_template")]
    pub commit_template: String,
    /// Folders `devlog repos discover` searches (relative to the project root).
    #[serde(default)]
    pub roots: Vec<PathBuf>,
}

fn yes() -> bool {
    true
}
fn default_auto_commit_delay() -> u64 {
    5
}
fn default_prefix() -> String {
    "devlog/".into()
}
fn default_branch_template() -> String {
    "{prefix}{handle}-{slug}".into()
}
fn default_commit_template() -> String {
    "chore(devlog): {summary}".into()
}

/// Placeholders each template accepts.
pub const BRANCH_PLACEHOLDERS: &[&str] = &["prefix", "handle", "slug", "id", "type"];
pub const COMMIT_PLACEHOLDERS: &[&str] = &["summary", "title", "id", "handle"];

impl Default for GitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            auto_commit: false,
            auto_commit_delay_seconds: default_auto_commit_delay(),
            branch_prefix: default_prefix(),
            branch_template: default_branch_template(),
            commit_template: default_commit_template(),
            roots: Vec::new(),
        }
    }
}

/// A problem in `[integrations.git]`; `key` is dotted (`integrations.git.autoCommit`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

const PREFIX: &str = "integrations.git";

impl GitConfig {
    /// Reads the `[integrations.git]` table; `None` (no table) gives the defaults.
    pub fn from_table(table: Option<&toml::Value>) -> Result<Self, ConfigError> {
        let Some(v) = table else {
            return Ok(Self::default());
        };
        if !v.is_table() {
            return Err(ConfigError {
                key: PREFIX.into(),
                message: "must be a table (`[integrations.git]`)".into(),
            });
        }
        let cfg: GitConfig = serde_path_to_error::deserialize(v.clone()).map_err(|e| {
            let path = e.path().to_string();
            ConfigError {
                key: if path == "." || path.is_empty() {
                    PREFIX.into()
                } else {
                    format!("{PREFIX}.{path}")
                },
                message: e.into_inner().to_string(),
            }
        })?;
        check_template(&cfg.branch_template, BRANCH_PLACEHOLDERS, "branchTemplate")?;
        check_template(&cfg.commit_template, COMMIT_PLACEHOLDERS, "commitTemplate")?;
        if cfg.commit_template.trim().is_empty() {
            return Err(ConfigError {
                key: format!("{PREFIX}.commitTemplate"),
                message: "must not be empty".into(),
            });
        }
        Ok(cfg)
    }
}

fn check_template(template: &str, allowed: &[&str], key: &str) -> Result<(), ConfigError> {
    for name in placeholders(template) {
        if !allowed.contains(&name) {
            return Err(ConfigError {
                key: format!("{PREFIX}.{key}"),
                message: format!(
                    "unknown placeholder `{{{name}}}`; use {}",
                    allowed
                        .iter()
                        .map(|a| format!("{{{a}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
}

/// Replaces each `{name}` by its value; placeholders not in `vars` stay as written (templates
/// are checked when the configuration is read).
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<GitConfig, ConfigError> {
        let t: toml::Table = toml::from_str(text).unwrap();
        GitConfig::from_table(Some(&toml::Value::Table(t)))
    }

    #[test]
    fn defaults_without_a_table() {
        let c = GitConfig::from_table(None).unwrap();
        assert_eq!(c, GitConfig::default());
        assert!(c.enabled && !c.auto_commit);
        assert_eq!(c.branch_prefix, "devlog/");
    }

    #[test]
    fn keys_are_camel_case() {
        let c = parse("autoCommit = true\nbranchPrefix = \"wip/\"\nroots = [\"..\"]\n").unwrap();
        assert!(c.auto_commit);
        assert_eq!(c.auto_commit_delay_seconds, 5);
        assert_eq!(c.branch_prefix, "wip/");
        assert_eq!(c.roots, vec![PathBuf::from("..")]);
        let c = parse("autoCommitDelaySeconds = 30\n").unwrap();
        assert_eq!(c.auto_commit_delay_seconds, 30);
        let e = parse("autoCommitDelaySeconds = -1\n").unwrap_err();
        assert_eq!(e.key, "integrations.git.autoCommitDelaySeconds", "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("autoCommit = \"yes\"\n").unwrap_err();
        assert_eq!(e.key, "integrations.git.autoCommit", "{e}");
        let e = parse("autocommit = true\n").unwrap_err();
        assert!(e.message.contains("autoCommit"), "{e}");
        let e = parse("branchTemplate = \"{prefix}{title}\"\n").unwrap_err();
        assert_eq!(e.key, "integrations.git.branchTemplate");
        assert!(
            e.message.contains("{title}") && e.message.contains("{slug}"),
            "{e}"
        );
        let e = parse("commitTemplate = \" \"\n").unwrap_err();
        assert_eq!(e.key, "integrations.git.commitTemplate");
    }

    #[test]
    fn render_fills_placeholders() {
        let s = render(
            "{prefix}{handle}-{slug}",
            &[
                ("prefix", "devlog/"),
                ("handle", "7"),
                ("slug", "fix-login"),
            ],
        );
        assert_eq!(s, "devlog/7-fix-login");
    }
}
