//! Typed plugin failures.

use std::path::PathBuf;

/// What went wrong with a plugin. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The manifest (or the workspace's `[plugins]` table) is wrong: names the file and key.
    #[error("{}: {key}: {message}", file.display())]
    Manifest {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// The component does not match the `devlog:plugin` world or the manifest.
    #[error("{}: {message}", file.display())]
    Component { file: PathBuf, message: String },
    /// The manifest asks for more than the workspace grants.
    #[error("plugin {plugin}: {message}")]
    NotAllowed { plugin: String, message: String },
    /// The component's hash is not the one pinned in the workspace configuration.
    #[error("plugin {plugin}: sha256 {actual} does not match the pinned {expected}")]
    HashMismatch {
        plugin: String,
        expected: String,
        actual: String,
    },
    /// The call ran out of fuel (CPU budget).
    #[error("plugin {plugin}: {call} used up its CPU budget ({fuel} fuel)")]
    OutOfFuel {
        plugin: String,
        call: String,
        fuel: u64,
    },
    /// The call took longer than the wall-clock limit.
    #[error("plugin {plugin}: {call} took longer than {timeout_ms} ms")]
    Timeout {
        plugin: String,
        call: String,
        timeout_ms: u64,
    },
    /// The plugin tried to grow its memory past the limit.
    #[error("plugin {plugin}: {call} tried to use more than {limit_bytes} bytes of memory")]
    MemoryLimit {
        plugin: String,
        call: String,
        limit_bytes: u64,
    },
    /// The plugin asked for a host its manifest does not name (or the workspace does not allow).
    #[error("plugin {plugin}: {call} requested {host}, which is not an allowed host")]
    DisallowedHost {
        plugin: String,
        call: String,
        host: String,
    },
    /// A response or a value crossed the size limit.
    #[error("plugin {plugin}: {call}: {what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        plugin: String,
        call: String,
        what: String,
        size: u64,
        limit: u64,
    },
    /// Too many host calls in one plugin call.
    #[error("plugin {plugin}: {call} made more than {limit} host calls")]
    HostCallLimit {
        plugin: String,
        call: String,
        limit: u32,
    },
    /// The plugin used a capability its manifest does not declare.
    #[error("plugin {plugin}: {call} used the `{capability}` capability, which it was not granted")]
    CapabilityDenied {
        plugin: String,
        call: String,
        capability: String,
    },
    /// A trap: a panic, `unreachable`, an out-of-bounds access.
    #[error("plugin {plugin}: {call} crashed: {message}")]
    Trap {
        plugin: String,
        call: String,
        message: String,
    },
    /// The plugin returned data the host cannot use (JSON of the wrong shape, ...).
    #[error("plugin {plugin}: {call} returned malformed data: {message}")]
    Malformed {
        plugin: String,
        call: String,
        message: String,
    },
    /// The plugin failed too often and was disabled.
    #[error(
        "plugin {plugin} is disabled after {failures} failures in a row (last: {last}); fix it, then `devlog plugin check {plugin}` re-enables it"
    )]
    Disabled {
        plugin: String,
        failures: u32,
        last: String,
    },
    /// The plugin does not provide what was asked (an integration, an action).
    #[error("plugin {plugin}: {message}")]
    NotProvided { plugin: String, message: String },
    /// Reading or writing plugin files.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// The WebAssembly engine failed (compiling, instantiating).
    #[error("plugin {plugin}: {message}")]
    Engine { plugin: String, message: String },
    /// The integration's `describe` disagrees with its manifest.
    #[error(
        "plugin {plugin}: its component describes {field} {component}, but its manifest ({}) says {manifest}; rebuild the plugin or fix the manifest so they agree",
        file.display()
    )]
    DescriptorMismatch {
        plugin: String,
        file: PathBuf,
        field: String,
        manifest: String,
        component: String,
    },
}

impl PluginError {
    pub(crate) fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        PluginError::Io {
            path: path.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn manifest(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PluginError::Manifest {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Whether this failure counts towards disabling the plugin: the plugin misbehaved
    /// (not: the workspace refused it, or it is already disabled).
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            PluginError::OutOfFuel { .. }
                | PluginError::Timeout { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::DisallowedHost { .. }
                | PluginError::TooLarge { .. }
                | PluginError::HostCallLimit { .. }
                | PluginError::CapabilityDenied { .. }
                | PluginError::Trap { .. }
                | PluginError::Malformed { .. }
        )
    }
}
