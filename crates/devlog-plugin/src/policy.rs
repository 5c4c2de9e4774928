//! What the workspace grants plugins: the `[plugins]` table of the workspace configuration.
//!
//! ```toml
//! [plugins]
//! # Capabilities a plugin may ask for. Nothing is granted unless listed.
//! allow = { http = ["tracker.example.com", "127.0.0.1"], kv = true }
//! # Extra folders searched for plugins (after .devlog/plugins/ and the user folder).
//! dirs = ["/opt/devlog-plugins"]
//! # Failures in a row before a plugin is disabled.
//! disable-after = 5
//!
//! [plugins.max]              # the most any plugin may ask for (these are the defaults)
//! fuel = 10_000_000_000
//! memory-mb = 256
//! timeout-ms = 60_000
//! host-calls = 1000
//! response-kb = 16384
//!
//! [plugins.pin]              # optional: the component's SHA-256, checked before loading
//! webhook-tracker = "sha256:3f5a…"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::PluginError;
use crate::manifest::{Limits, Manifest};

/// The workspace's `[plugins]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub allow: Allow,
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    #[serde(default = "default_disable_after")]
    pub disable_after: u32,
    #[serde(default = "default_max")]
    pub max: Limits,
    /// Plugin name → `sha256:<hex>` of its component.
    #[serde(default)]
    pub pin: BTreeMap<String, String>,
}

/// Capabilities the workspace grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Allow {
    #[serde(default)]
    pub http: Vec<String>,
    #[serde(default)]
    pub kv: bool,
}

fn default_disable_after() -> u32 {
    5
}

fn default_max() -> Limits {
    Limits {
        fuel: 10_000_000_000,
        memory_mb: 256,
        timeout_ms: 60_000,
        host_calls: 1000,
        response_kb: 16 * 1024,
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow: Allow::default(),
            dirs: Vec::new(),
            disable_after: default_disable_after(),
            max: default_max(),
            pin: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// Reads the `[plugins]` table (`None`: the workspace has none, nothing is granted);
    /// `file` names the configuration file in errors.
    pub fn from_table(table: Option<&toml::Table>, file: &Path) -> Result<Self, PluginError> {
        let Some(table) = table else {
            return Ok(Policy::default());
        };
        let policy: Policy = serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| {
                PluginError::manifest(file, format!("plugins.{}", e.path()), e.inner().to_string())
            })?;
        for (i, h) in policy.allow.http.iter().enumerate() {
            crate::manifest::check_host(h)
                .map_err(|m| PluginError::manifest(file, format!("plugins.allow.http[{i}]"), m))?;
        }
        for (name, pin) in &policy.pin {
            if parse_pin(pin).is_none() {
                return Err(PluginError::manifest(
                    file,
                    format!("plugins.pin.{name}"),
                    format!("{pin:?} is not `sha256:` followed by 64 hex digits"),
                ));
            }
        }
        Ok(policy)
    }

    /// Checks that what `manifest` asks for is granted: HTTP hosts, kv, limits.
    pub fn permits(&self, manifest: &Manifest) -> Result<(), PluginError> {
        let deny = |message: String| {
            Err(PluginError::NotAllowed {
                plugin: manifest.name.clone(),
                message,
            })
        };
        for host in &manifest.capabilities.http {
            if !self.allows_host(host) {
                return deny(format!(
                    "asks for HTTP access to {host}, which the workspace does not allow (add it to `[plugins] allow.http`)"
                ));
            }
        }
        if manifest.capabilities.kv && !self.allow.kv {
            return deny(
                "asks for the `kv` store, which the workspace does not allow (`[plugins] allow.kv = true`)"
                    .into(),
            );
        }
        let (l, m) = (&manifest.limits, &self.max);
        for (key, asked, max) in [
            ("fuel", l.fuel, m.fuel),
            ("memory-mb", l.memory_mb, m.memory_mb),
            ("timeout-ms", l.timeout_ms, m.timeout_ms),
            (
                "host-calls",
                u64::from(l.host_calls),
                u64::from(m.host_calls),
            ),
            ("response-kb", l.response_kb, m.response_kb),
        ] {
            if asked > max {
                return deny(format!(
                    "asks for limits.{key} = {asked}, over the workspace's maximum {max} (`[plugins.max] {key}`)"
                ));
            }
        }
        Ok(())
    }

    /// Whether `host` (`name` or `name:port`) is granted.
    pub fn allows_host(&self, host: &str) -> bool {
        self.allow.http.iter().any(|a| host_matches(a, host))
    }

    /// The pinned SHA-256 (hex) of plugin `name`, if any.
    pub fn pinned(&self, name: &str) -> Option<&str> {
        self.pin.get(name).and_then(|p| parse_pin(p))
    }
}

/// Whether a granted `allowed` entry covers `host`: the same name, and the same port when
/// `allowed` names one.
pub fn host_matches(allowed: &str, host: &str) -> bool {
    let split = |s: &str| match s.rsplit_once(':') {
        Some((n, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
            (n.to_ascii_lowercase(), Some(p.to_string()))
        }
        _ => (s.to_ascii_lowercase(), None),
    };
    let (an, ap) = split(allowed);
    let (hn, hp) = split(host);
    an == hn && (ap.is_none() || ap == hp)
}

fn parse_pin(pin: &str) -> Option<&str> {
    let hex = pin.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// The SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
