//! Sandboxed WebAssembly plugins (issue 22): third-party integrations and workflow actions
//! loaded as WebAssembly components built against the `devlog:plugin@1.0.0` WIT world
//! (`wit/plugin.wit`).
//!
//! - [`manifest`]: `devlog-plugin.toml`, read and validated before anything is loaded.
//! - [`policy`]: what the workspace grants (`[plugins]` in the workspace configuration).
//! - [`discovery`]: plugin folders (`.devlog/plugins/`, the user folder), install, remove.
//! - [`host`] (feature `plugins`): the wasmtime host: the component checked against the
//!   world, limits per call (fuel, memory, wall clock, host calls, sizes), the compiled
//!   component cache, and [`host::PluginIntegration`], devlog-core's `Integration` port.
//! - [`scaffold`]: `devlog plugin new`, a buildable Rust plugin project.
//!
//! Without the `plugins` feature the crate still reads manifests and lists plugins, and
//! does not build wasmtime (a third of a cold build).

pub mod discovery;
pub mod error;
#[cfg(feature = "plugins")]
pub mod host;
pub mod manifest;
pub mod policy;
pub mod scaffold;

pub use error::PluginError;
pub use manifest::Manifest;
pub use policy::Policy;

/// The WIT package this host implements; a plugin's `api` must have the same major version.
pub const API_PACKAGE: &str = "devlog:plugin";
/// The API version the host implements.
pub const API_VERSION: &str = "1.0.0";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "devlog-plugin.toml";
/// The WIT world, for `devlog plugin new` (which copies it into a new project).
pub const WIT: &str = include_str!("../wit/plugin.wit");
