//! Where plugins live, and installing and removing them.
//!
//! A plugin is a folder holding `devlog-plugin.toml` and its component (`.wasm`). Folders are
//! searched in order: the workspace's `.devlog/plugins/`, the user folder
//! (`$DEVLOG_PLUGIN_DIR`, else `$XDG_DATA_HOME/devlog/plugins`, else
//! `~/.local/share/devlog/plugins`), then `[plugins] dirs`. The first plugin of a name wins.

use std::path::{Path, PathBuf};

use crate::error::PluginError;
use crate::manifest::{Located, Manifest};

/// The folders searched for plugins, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDirs {
    pub dirs: Vec<PathBuf>,
}

impl PluginDirs {
    /// The workspace folder first, then the user folder, then `extra`.
    pub fn new(workspace_plugins: PathBuf, user: Option<PathBuf>, extra: &[PathBuf]) -> Self {
        let mut dirs = vec![workspace_plugins];
        dirs.extend(user);
        dirs.extend(extra.iter().cloned());
        PluginDirs { dirs }
    }

    /// The user folder from the environment, if one can be named.
    pub fn user_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("DEVLOG_PLUGIN_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d).join("devlog").join("plugins"));
        }
        std::env::var_os("HOME")
            .filter(|d| !d.is_empty())
            .map(|h| PathBuf::from(h).join(".local/share/devlog/plugins"))
    }

    /// Every plugin folder found: its manifest read and checked, or the error naming the
    /// file. A name found again in a later folder is reported as shadowed.
    pub fn discover(&self) -> Vec<Result<Located, PluginError>> {
        let mut out: Vec<Result<Located, PluginError>> = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for dir in &self.dirs {
            let Ok(read) = std::fs::read_dir(dir) else {
                continue; // a folder that does not exist holds no plugins
            };
            let mut subdirs: Vec<PathBuf> = read
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join(crate::MANIFEST_FILE).is_file())
                .collect();
            subdirs.sort();
            for sub in subdirs {
                let found =
                    Manifest::load(&sub.join(crate::MANIFEST_FILE)).map(|manifest| Located {
                        dir: sub.clone(),
                        manifest,
                    });
                match found {
                    Ok(l) if !names.insert(l.manifest.name.clone()) => {
                        tracing::warn!(
                            plugin = %l.manifest.name,
                            dir = %l.dir.display(),
                            "plugin shadowed by one of the same name in an earlier folder"
                        );
                    }
                    other => out.push(other),
                }
            }
        }
        out
    }

    /// The plugin called `name`.
    pub fn find(&self, name: &str) -> Result<Located, PluginError> {
        for found in self.discover() {
            if let Ok(l) = found
                && l.manifest.name == name
            {
                return Ok(l);
            }
        }
        Err(PluginError::NotProvided {
            plugin: name.to_string(),
            message: format!(
                "no plugin of that name in {}",
                self.dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

/// Reads the plugin at `source`: a folder holding `devlog-plugin.toml`, or the manifest itself.
pub fn open(source: &Path) -> Result<Located, PluginError> {
    let (dir, manifest_path) = if source.is_dir() {
        (source.to_path_buf(), source.join(crate::MANIFEST_FILE))
    } else {
        (
            source.parent().unwrap_or(Path::new(".")).to_path_buf(),
            source.to_path_buf(),
        )
    };
    let manifest = Manifest::load(&manifest_path)?;
    let located = Located { dir, manifest };
    let component = located.component_path();
    if !component.is_file() {
        return Err(PluginError::manifest(
            manifest_path,
            "component",
            format!(
                "{} does not exist (build the plugin first)",
                component.display()
            ),
        ));
    }
    Ok(located)
}

/// Copies the plugin at `source` into `into/<name>/` (replacing an installed one of the same
/// name as a whole: written beside, then renamed over). Check it first: this only copies.
pub fn install(source: &Located, into: &Path) -> Result<Located, PluginError> {
    std::fs::create_dir_all(into).map_err(|e| PluginError::io(into, &e))?;
    let name = &source.manifest.name;
    let dest = into.join(name);
    let staging = into.join(format!(".{name}.installing"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| PluginError::io(&staging, &e))?;
    for file in [crate::MANIFEST_FILE, source.manifest.component.as_str()] {
        let from = source.dir.join(file);
        std::fs::copy(&from, staging.join(file)).map_err(|e| PluginError::io(&from, &e))?;
    }
    if dest.exists() {
        let old = into.join(format!(".{name}.replaced"));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&dest, &old).map_err(|e| PluginError::io(&dest, &e))?;
        std::fs::rename(&staging, &dest).map_err(|e| PluginError::io(&dest, &e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&staging, &dest).map_err(|e| PluginError::io(&dest, &e))?;
    }
    Ok(Located {
        dir: dest,
        manifest: source.manifest.clone(),
    })
}

/// Removes installed plugin `name` from `from` (only a folder whose manifest names it).
pub fn remove(name: &str, from: &Path) -> Result<PathBuf, PluginError> {
    let dir = from.join(name);
    let manifest = dir.join(crate::MANIFEST_FILE);
    match Manifest::load(&manifest) {
        Ok(m) if m.name == name => {}
        _ if !manifest.exists() => {
            return Err(PluginError::NotProvided {
                plugin: name.to_string(),
                message: format!("not installed in {}", from.display()),
            });
        }
        _ => {} // a broken manifest in the plugin's own folder: remove it all the same
    }
    std::fs::remove_dir_all(&dir).map_err(|e| PluginError::io(&dir, &e))?;
    Ok(dir)
}

/// Plugins disabled after repeated failures: one file per plugin under
/// `.devlog/.state/plugins/disabled/`, holding the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledList {
    dir: PathBuf,
}

impl DisabledList {
    /// `state` is the plugin state folder (`.devlog/.state/plugins`).
    pub fn new(state: &Path) -> Self {
        DisabledList {
            dir: state.join("disabled"),
        }
    }

    /// Why `name` is disabled, if it is.
    pub fn reason(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(name)).ok()
    }

    pub fn disable(&self, name: &str, reason: &str) -> Result<(), PluginError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| PluginError::io(&self.dir, &e))?;
        let path = self.dir.join(name);
        std::fs::write(&path, reason).map_err(|e| PluginError::io(&path, &e))
    }

    /// Re-enables `name`; whether it was disabled.
    pub fn enable(&self, name: &str) -> bool {
        std::fs::remove_file(self.dir.join(name)).is_ok()
    }
}
