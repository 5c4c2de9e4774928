//! The wasmtime host: loads a plugin's component after checking it, runs each call inside
//! its limits, and exposes the plugin as devlog-core's [`Integration`] port
//! ([`PluginIntegration`]) and as workflow actions ([`LoadedPlugin::run_action`]).
//!
//! Sandbox, per plugin instance and call:
//! - **CPU**: fuel, reset before each call; running out traps ([`PluginError::OutOfFuel`]).
//!   The call yields to the async runtime every [`YIELD_FUEL`] units, so
//! - **wall clock**: a timeout drops the call ([`PluginError::Timeout`]);
//! - **memory**: a [`wasmtime::ResourceLimiter`] refuses growth past `limits.memory-mb`;
//! - **host calls**: at most `limits.host-calls` per call; HTTP only to hosts the manifest
//!   names *and* the workspace allows; response bodies and returned values at most
//!   `limits.response-kb`; each violation ends the call with a typed error;
//! - **WASI**: linked so components built from Rust's `std` instantiate, with a context that
//!   grants nothing: no preopened folders, no environment or arguments, no sockets, stdin
//!   empty, stdout discarded, stderr kept (bounded) to explain a panic.
//!
//! After a failed call the instance is thrown away (a trapped instance is not reused) and a
//! fresh one is made for the next call. A plugin that fails `disable-after` times in a row is
//! disabled ([`PluginError::Disabled`]) until `devlog plugin check` re-enables it.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use devlog_core::entry::Entry;
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteAction, RemoteItem, SyncError,
    SyncErrorKind, Webhook, WebhookOutcome,
};
use devlog_core::merge::{FieldSet, SyncedFields};
use devlog_http::{Auth, ClientOptions, HttpClient, Method, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::discovery::DisabledList;
use crate::error::PluginError;
use crate::manifest::{Limits, Located, Manifest};
use crate::policy::{Policy, host_matches, sha256_hex};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

use bindings::devlog::plugin as wit;
use bindings::exports::devlog::plugin::{actions as wit_actions, integration as wit_integration};

/// Fuel between two yields to the async runtime (so a timeout can end a busy call).
pub const YIELD_FUEL: u64 = 1_000_000;
/// What a plugin may write to stderr (a panic message); more traps.
const STDERR_CAPACITY: usize = 64 * 1024;
/// The kv store's size limit per plugin (keys and values).
const KV_LIMIT: usize = 1024 * 1024;
/// A log message is cut at this many bytes.
const LOG_LIMIT: usize = 4096;
/// The wasmtime line this host is built with: part of the compiled-component cache key.
const WASMTIME_LINE: &str = "wasmtime-48";

/// The engine, the linker with the host functions, and the compiled-component cache. One per
/// process is enough; it is cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: Option<PathBuf>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// `cache`: where compiled components are kept (`.devlog/.state/plugins/cache`), `None`
    /// to compile every time.
    pub fn new(cache: Option<PathBuf>) -> Result<Self, PluginError> {
        let engine_err = |e: wasmtime::Error| PluginError::Engine {
            plugin: "(runtime)".into(),
            message: format!("{e:#}"),
        };
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(engine_err)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_err)?;
        bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(engine_err)?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache,
        })
    }

    /// Checks and loads a plugin: the workspace grants what it asks, its hash matches the
    /// pin, the component is one (compiled or from the cache), its imports are what devlog
    /// provides and its exports what the manifest says it provides, at this API version.
    /// Nothing runs yet.
    pub fn load(
        &self,
        located: &Located,
        policy: &Policy,
        options: LoadOptions,
    ) -> Result<LoadedPlugin, PluginError> {
        let manifest = &located.manifest;
        let name = manifest.name.clone();
        policy.permits(manifest)?;
        let path = located.component_path();
        let bytes = std::fs::read(&path).map_err(|e| PluginError::io(&path, &e))?;
        let hash = sha256_hex(&bytes);
        if let Some(pinned) = policy.pinned(&name)
            && !pinned.eq_ignore_ascii_case(&hash)
        {
            return Err(PluginError::HashMismatch {
                plugin: name,
                expected: pinned.to_string(),
                actual: hash,
            });
        }
        let component = self.compile(&path, &bytes, &hash)?;
        check_world(&self.engine, &component, manifest, &path)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Component {
                file: path.clone(),
                message: format!("cannot be linked against devlog's host: {e:#}"),
            })?;
        let integration = if manifest.provides.integration {
            Some(
                wit_integration::GuestIndices::new(&pre).map_err(|e| PluginError::Component {
                    file: path.clone(),
                    message: format!("its integration export does not match the world: {e:#}"),
                })?,
            )
        } else {
            None
        };
        let actions = if manifest.provides.actions.is_empty() {
            None
        } else {
            Some(
                wit_actions::GuestIndices::new(&pre).map_err(|e| PluginError::Component {
                    file: path.clone(),
                    message: format!("its actions export does not match the world: {e:#}"),
                })?,
            )
        };
        let kv = if manifest.capabilities.kv {
            Some(Arc::new(StdMutex::new(KvStore::open(
                options
                    .state_dir
                    .as_ref()
                    .map(|d| d.join("kv").join(format!("{name}.json"))),
            )?)))
        } else {
            None
        };
        let disabled = options.state_dir.as_deref().map(DisabledList::new);
        if let Some(list) = &disabled
            && let Some(reason) = list.reason(&name)
        {
            return Err(PluginError::Disabled {
                plugin: name,
                failures: policy.disable_after,
                last: reason,
            });
        }
        // Allowed hosts: named by the manifest and granted by the workspace.
        let hosts: Vec<String> = manifest
            .capabilities
            .http
            .iter()
            .filter(|h| policy.allows_host(h))
            .cloned()
            .collect();
        Ok(LoadedPlugin {
            inner: Arc::new(Inner {
                descriptor_cache: self
                    .cache_file(&hash)
                    .map(|f| f.with_extension("describe.json")),
                manifest_path: located.manifest_path(),
                name,
                manifest: manifest.clone(),
                sha256: hash,
                pre,
                integration,
                actions,
                limits: manifest.limits,
                hosts,
                auth: options.auth,
                http_timeout: options.http_timeout,
                rate_limits: options.rate_limits,
                config: options.config,
                kv,
                live: Mutex::new(None),
                failures: AtomicU32::new(0),
                disable_after: policy.disable_after.max(1),
                disabled: AtomicBool::new(false),
                disabled_list: disabled,
            }),
        })
    }

    /// The compiled component's cache file (its descriptor is cached beside it).
    fn cache_file(&self, hash: &str) -> Option<PathBuf> {
        self.cache.as_ref().map(|dir| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut h);
            dir.join(format!("{hash}-{WASMTIME_LINE}-{:016x}.cwasm", h.finish()))
        })
    }

    fn compile(&self, path: &Path, bytes: &[u8], hash: &str) -> Result<Component, PluginError> {
        let cached = self.cache_file(hash);
        if let Some(file) = &cached
            && let Some(component) = self.read_cache(file)
        {
            return Ok(component);
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| PluginError::Component {
                file: path.to_path_buf(),
                message: format!("is not a valid WebAssembly component: {e:#}"),
            })?;
        if let Some(file) = &cached {
            // A cache that cannot be written only costs start-up time.
            if let Err(e) = write_cache(&component, file) {
                tracing::warn!(file = %file.display(), error = %e, "cannot cache the compiled plugin");
            }
        }
        Ok(component)
    }

    /// A compiled component from the cache, if present and intact.
    fn read_cache(&self, file: &Path) -> Option<Component> {
        let bytes = std::fs::read(file).ok()?;
        let sum = std::fs::read_to_string(file.with_extension("sha256")).ok()?;
        if sum.trim() != sha256_hex(&bytes) {
            tracing::warn!(file = %file.display(), "compiled plugin cache entry is damaged; recompiling");
            return None;
        }
        deserialize_cached(&self.engine, &bytes)
    }

    /// The engine (for benchmarks and tests).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Deserializes a compiled component written by [`write_cache`].
#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, bytes: &[u8]) -> Option<Component> {
    // SAFETY: wasmtime requires that the bytes come from `Component::serialize` of a
    // compatible engine: the file is one this host wrote (under devlog's own state folder),
    // named by the component's SHA-256, the wasmtime line and the engine's compatibility
    // hash, and its own SHA-256 (written beside it) was just checked, so a truncated or
    // altered file is never passed here. wasmtime also checks the header's version and
    // configuration and refuses a mismatch. Whoever can write devlog's state folder can
    // already change the workspace itself.
    unsafe { Component::deserialize(engine, bytes) }.ok()
}

fn write_cache(component: &Component, file: &Path) -> Result<(), String> {
    let bytes = component.serialize().map_err(|e| e.to_string())?;
    let dir = file.parent().ok_or("no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // Unique temporary names: two processes may compile the same plugin at once. The
    // checksum goes first, so a reader never pairs a new component with an old checksum
    // unnoticed (a mismatch only means a recompile).
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let unique = format!(
        "{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = file.with_extension(format!("{unique}.tmp"));
    let sum_tmp = file.with_extension(format!("{unique}.sha256.tmp"));
    std::fs::write(&tmp, &bytes).map_err(|e| e.to_string())?;
    std::fs::write(&sum_tmp, sha256_hex(&bytes)).map_err(|e| e.to_string())?;
    std::fs::rename(&sum_tmp, file.with_extension("sha256")).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, file).map_err(|e| e.to_string())
}

/// Checks the component's imports and exports by name against the `devlog:plugin` world
/// (types are checked when linking).
fn check_world(
    engine: &Engine,
    component: &Component,
    manifest: &Manifest,
    file: &Path,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let err = |message: String| {
        Err(PluginError::Component {
            file: file.to_path_buf(),
            message,
        })
    };
    let (major, minor) = crate::manifest::host_api();
    for (import, _) in ty.imports(engine) {
        if import.starts_with("wasi:") {
            continue; // linked, granting nothing
        }
        let ok = match import.strip_prefix("devlog:plugin/") {
            Some(rest) => {
                let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
                ["types", "http", "log", "kv", "clock"].contains(&iface)
                    && version_ok(version, major, minor)
            }
            None => false,
        };
        if !ok {
            return err(format!(
                "imports `{import}`, which devlog does not provide (plugins may import devlog:plugin/{{http,log,kv,clock}}@{} and WASI, which grants nothing)",
                crate::API_VERSION
            ));
        }
    }
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let wanted = |iface: &str| format!("devlog:plugin/{iface}@{}", crate::API_VERSION);
    for (iface, needed) in [
        ("integration", manifest.provides.integration),
        ("actions", !manifest.provides.actions.is_empty()),
    ] {
        if needed && !exports.contains(&wanted(iface)) {
            let found = exports
                .iter()
                .find(|e| e.starts_with(&format!("devlog:plugin/{iface}@")));
            return err(match found {
                Some(other) => format!(
                    "exports `{other}`, but this devlog implements `{}` (rebuild the plugin against devlog:plugin@{})",
                    wanted(iface),
                    crate::API_VERSION
                ),
                None => format!(
                    "the manifest says it provides {iface}, but the component does not export `{}` (it exports: {})",
                    wanted(iface),
                    if exports.is_empty() {
                        "nothing".to_string()
                    } else {
                        exports.join(", ")
                    }
                ),
            });
        }
    }
    Ok(())
}

fn version_ok(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    matches!((parts.next(), parts.next()), (Some(Some(a)), Some(Some(b))) if a == major && b <= minor)
}

/// What the caller supplies when loading a plugin.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The `[integrations.<name>]` table as JSON, passed to `configure`.
    pub config: Option<serde_json::Value>,
    /// Credentials the host adds to requests to a host (`name` or `name:port`); the plugin
    /// never sees them.
    pub auth: Vec<(String, Auth)>,
    /// The plugin state folder (`.devlog/.state/plugins`): kv stores, disabled plugins.
    pub state_dir: Option<PathBuf>,
    /// Per HTTP request (within the call's own timeout). Default 30 s.
    pub http_timeout: Option<Duration>,
    /// Client-side pacing of its HTTP requests (devlog-http's default when `None`).
    pub rate_limits: Option<devlog_http::RateLimitConfig>,
}

/// A checked, loaded plugin. Clones share the instance.
#[derive(Clone)]
pub struct LoadedPlugin {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.inner.name)
            .field("sha256", &self.inner.sha256)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: String,
    manifest: Manifest,
    manifest_path: PathBuf,
    /// Where the integration's `describe` answer is cached, beside the compiled component.
    descriptor_cache: Option<PathBuf>,
    sha256: String,
    pre: InstancePre<HostState>,
    integration: Option<wit_integration::GuestIndices>,
    actions: Option<wit_actions::GuestIndices>,
    limits: Limits,
    hosts: Vec<String>,
    auth: Vec<(String, Auth)>,
    http_timeout: Option<Duration>,
    rate_limits: Option<devlog_http::RateLimitConfig>,
    config: Option<serde_json::Value>,
    kv: Option<Arc<StdMutex<KvStore>>>,
    live: Mutex<Option<Live>>,
    failures: AtomicU32,
    disable_after: u32,
    disabled: AtomicBool,
    disabled_list: Option<DisabledList>,
}

/// A running instance.
struct Live {
    store: Store<HostState>,
    integration: Option<wit_integration::Guest>,
    actions: Option<wit_actions::Guest>,
}

/// One action a plugin provides.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionInfo {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
    pub output_schema: serde_json::Value,
}

/// Why a plugin call did not return a value: the plugin's own classified error, or the
/// sandbox's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Plugin(SyncError),
    #[error(transparent)]
    Sandbox(#[from] PluginError),
}

impl CallError {
    /// As the sync engine sees it: sandbox failures are transient (retried per the queue's
    /// policy, then dead) except those retrying cannot fix.
    pub fn into_sync_error(self, system: &str) -> SyncError {
        match self {
            CallError::Plugin(e) => e,
            CallError::Sandbox(e) => {
                let kind = match &e {
                    PluginError::Timeout { .. }
                    | PluginError::OutOfFuel { .. }
                    | PluginError::MemoryLimit { .. }
                    | PluginError::Trap { .. }
                    | PluginError::TooLarge { .. }
                    | PluginError::HostCallLimit { .. }
                    | PluginError::Malformed { .. }
                    | PluginError::Engine { .. } => SyncErrorKind::Transient,
                    _ => SyncErrorKind::Permanent,
                };
                SyncError::new(system, kind, e.to_string())
            }
        }
    }
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// The component's SHA-256 (hex), for `[plugins.pin]`.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Whether it has been disabled after repeated failures.
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled.load(Ordering::SeqCst)
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.inner.failures.load(Ordering::SeqCst)
    }

    /// Starts a call: a live instance (made and configured if there is none), fuel and
    /// counters reset.
    async fn begin(
        &self,
        call: &str,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<Live>>, PluginError> {
        let inner = &self.inner;
        if inner.disabled.load(Ordering::SeqCst) {
            return Err(self.disabled_error());
        }
        let mut guard = inner.live.lock().await;
        if guard.is_none() {
            // Only failures count here: a fresh instance is not yet a successful call.
            let live = self
                .instantiate(call)
                .await
                .map_err(|e| self.failed(e, call))?;
            *guard = Some(live);
        }
        if let Some(live) = guard.as_mut() {
            live.store.data_mut().reset(call);
            let _ = live.store.set_fuel(inner.limits.fuel);
        }
        Ok(guard)
    }

    fn disabled_error(&self) -> PluginError {
        let last = self
            .inner
            .disabled_list
            .as_ref()
            .and_then(|l| l.reason(&self.inner.name))
            .unwrap_or_else(|| "see earlier errors".to_string());
        PluginError::Disabled {
            plugin: self.inner.name.clone(),
            failures: self.inner.disable_after,
            last,
        }
    }

    async fn instantiate(&self, call: &str) -> Result<Live, PluginError> {
        let inner = &self.inner;
        let state = HostState::new(inner, call);
        let mut store = Store::new(inner.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        let _ = store.set_fuel(inner.limits.fuel);
        store
            .fuel_async_yield_interval(Some(YIELD_FUEL))
            .map_err(|e| self.engine_error(e))?;
        let timeout = Duration::from_millis(inner.limits.timeout_ms);
        let instance =
            match tokio::time::timeout(timeout, inner.pre.instantiate_async(&mut store)).await {
                Ok(r) => r.map_err(|e| self.classify(&store, "instantiate", e))?,
                Err(_) => return Err(self.timeout_error("instantiate")),
            };
        let integration = match &inner.integration {
            Some(ix) => Some(
                ix.load(&mut store, &instance)
                    .map_err(|e| self.engine_error(e))?,
            ),
            None => None,
        };
        let actions = match &inner.actions {
            Some(ix) => Some(
                ix.load(&mut store, &instance)
                    .map_err(|e| self.engine_error(e))?,
            ),
            None => None,
        };
        let mut live = Live {
            store,
            integration,
            actions,
        };
        if let (Some(guest), Some(config)) = (live.integration.clone(), &inner.config) {
            let config = config.to_string();
            live.store.data_mut().reset("configure");
            let _ = live.store.set_fuel(inner.limits.fuel);
            let r =
                tokio::time::timeout(timeout, guest.call_configure(&mut live.store, &config)).await;
            match r {
                Err(_) => return Err(self.timeout_error("configure")),
                Ok(Err(e)) => return Err(self.classify(&live.store, "configure", e)),
                Ok(Ok(Err(e))) => {
                    return Err(PluginError::NotProvided {
                        plugin: inner.name.clone(),
                        message: format!("its configuration was refused: {}", e.message),
                    });
                }
                Ok(Ok(Ok(()))) => {}
            }
        }
        let _ = call;
        Ok(live)
    }

    /// Counts a failure (disabling the plugin after too many) or a success.
    fn settle<T>(&self, r: Result<T, PluginError>, call: &str) -> Result<T, PluginError> {
        match r {
            Ok(v) => {
                self.inner.failures.store(0, Ordering::SeqCst);
                Ok(v)
            }
            Err(e) => Err(self.failed(e, call)),
        }
    }

    /// Counts a failure when the plugin misbehaved, disabling it after too many in a row.
    fn failed(&self, e: PluginError, call: &str) -> PluginError {
        let inner = &self.inner;
        if !e.is_misbehaviour() {
            return e;
        }
        let n = inner.failures.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::warn!(plugin = %inner.name, call, failures = n, error = %e, "plugin call failed");
        if n >= inner.disable_after && !inner.disabled.swap(true, Ordering::SeqCst) {
            let reason = e.to_string();
            tracing::error!(plugin = %inner.name, failures = n, "plugin disabled after repeated failures: {reason}");
            if let Some(list) = &inner.disabled_list
                && let Err(err) = list.disable(&inner.name, &reason)
            {
                tracing::warn!(plugin = %inner.name, error = %err, "cannot record the disabled plugin");
            }
        }
        e
    }

    /// Ends a call: maps the outcome to a typed error, throws the instance away on a sandbox
    /// failure, counts failures, checks the size of what came back.
    fn finish<T: Weigh>(
        &self,
        guard: &mut Option<Live>,
        call: &str,
        outcome: Result<
            wasmtime::Result<Result<T, wit::types::PluginError>>,
            tokio::time::error::Elapsed,
        >,
    ) -> Result<T, CallError> {
        let limit = self.inner.limits.response_kb.saturating_mul(1024);
        let r = match outcome {
            Err(_) => Err(self.timeout_error(call)),
            Ok(Err(e)) => Err(match guard.as_ref() {
                Some(live) => self.classify(&live.store, call, e),
                None => self.engine_error(e),
            }),
            Ok(Ok(Ok(v))) => {
                let size = v.weigh() as u64;
                if size > limit {
                    Err(PluginError::TooLarge {
                        plugin: self.inner.name.clone(),
                        call: call.to_string(),
                        what: "the returned value".into(),
                        size,
                        limit,
                    })
                } else {
                    Ok(Ok(v))
                }
            }
            Ok(Ok(Err(e))) => Ok(Err(e)),
        };
        if r.is_err() {
            *guard = None; // never reuse an instance after a trap or a cancelled call
        }
        match self.settle(r, call)? {
            Ok(v) => Ok(v),
            Err(e) => Err(CallError::Plugin(self.sync_error(e))),
        }
    }

    fn sync_error(&self, e: wit::types::PluginError) -> SyncError {
        use wit::types::ErrorKind as K;
        let kind = match e.kind {
            K::RateLimited => SyncErrorKind::RateLimited,
            K::Transient => SyncErrorKind::Transient,
            K::Auth => SyncErrorKind::Auth,
            K::NotFound => SyncErrorKind::NotFound,
            K::Conflict => SyncErrorKind::Conflict,
            K::Permanent => SyncErrorKind::Permanent,
        };
        SyncError {
            system: self.inner.name.clone(),
            kind,
            message: e.message,
            retry_after_ms: e.retry_after_ms,
        }
    }

    /// A trap, explained: a host-call violation recorded by the host, fuel, memory, or the
    /// trap itself with the panic message the plugin wrote.
    fn classify(&self, store: &Store<HostState>, call: &str, e: wasmtime::Error) -> PluginError {
        let state = store.data();
        if let Some(v) = &state.violation {
            return v.clone();
        }
        let name = self.inner.name.clone();
        if let Some(wasmtime::Trap::OutOfFuel) = e.downcast_ref::<wasmtime::Trap>() {
            return PluginError::OutOfFuel {
                plugin: name,
                call: call.to_string(),
                fuel: self.inner.limits.fuel,
            };
        }
        if state.limiter.exceeded {
            return PluginError::MemoryLimit {
                plugin: name,
                call: call.to_string(),
                limit_bytes: state.limiter.memory_limit as u64,
            };
        }
        // The trap itself (not wasmtime's whole wasm backtrace), then what the plugin wrote
        // to stderr: Rust's panic message is `thread '…' panicked at file:line:col:` and the
        // message on the lines after it.
        let mut message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => e.root_cause().to_string(),
        };
        let stderr = String::from_utf8_lossy(&state.stderr.contents()).to_string();
        let stderr = match stderr.find("panicked at ") {
            Some(at) => stderr[at..].to_string(),
            None => stderr,
        };
        let stderr: String = stderr
            .lines()
            .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join(" ");
        let stderr = stderr.trim();
        if !stderr.is_empty() {
            let cut: String = stderr.chars().take(500).collect();
            message = format!("{message}; {cut}");
        }
        PluginError::Trap {
            plugin: name,
            call: call.to_string(),
            message,
        }
    }

    fn timeout_error(&self, call: &str) -> PluginError {
        PluginError::Timeout {
            plugin: self.inner.name.clone(),
            call: call.to_string(),
            timeout_ms: self.inner.limits.timeout_ms,
        }
    }

    fn engine_error(&self, e: wasmtime::Error) -> PluginError {
        PluginError::Engine {
            plugin: self.inner.name.clone(),
            message: format!("{e:#}"),
        }
    }

    fn malformed(&self, call: &str, message: String) -> CallError {
        let e = PluginError::Malformed {
            plugin: self.inner.name.clone(),
            call: call.to_string(),
            message,
        };
        CallError::Sandbox(self.failed(e, call))
    }

    fn parse<T: DeserializeOwned>(
        &self,
        call: &str,
        what: &str,
        json: &str,
    ) -> Result<T, CallError> {
        serde_json::from_str(json).map_err(|e| self.malformed(call, format!("{what}: {e}")))
    }

    fn integration_guest(&self, live: &Live) -> Result<wit_integration::Guest, CallError> {
        live.integration.clone().ok_or_else(|| {
            CallError::Sandbox(PluginError::NotProvided {
                plugin: self.inner.name.clone(),
                message: "does not provide an integration".into(),
            })
        })
    }

    fn actions_guest(&self, live: &Live) -> Result<wit_actions::Guest, CallError> {
        live.actions.clone().ok_or_else(|| {
            CallError::Sandbox(PluginError::NotProvided {
                plugin: self.inner.name.clone(),
                message: "does not provide actions".into(),
            })
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.limits.timeout_ms)
    }
}

/// Calls an export inside the sandbox: `$guest` picks the interface, `$call` the generated
/// method; evaluates to `Result<T, CallError>`.
macro_rules! plugin_call {
    ($self:ident, $name:literal, $guest:ident, |$g:ident, $store:ident| $body:expr) => {{
        let mut guard = $self.begin($name).await?;
        let outcome = match guard.as_mut() {
            Some(live) => {
                let $g = $self.$guest(live)?;
                let $store = &mut live.store;
                tokio::time::timeout($self.timeout(), $body).await
            }
            None => {
                return Err(CallError::Sandbox(
                    $self.engine_error(wasmtime::Error::msg("no instance")),
                ));
            }
        };
        $self.finish(&mut guard, $name, outcome)
    }};
}

impl LoadedPlugin {
    /// The integration's descriptor, as the plugin reports it (the name is the plugin's).
    pub async fn descriptor(&self) -> Result<Descriptor, CallError> {
        let d = plugin_call!(
            self,
            "descriptor",
            integration_guest,
            |g, store| async move {
                g.call_describe(store)
                    .await
                    .map(Ok::<_, wit::types::PluginError>)
            }
        )?;
        let config_schema = self.parse("descriptor", "config-schema", &d.config_schema)?;
        Ok(Descriptor {
            name: d.name,
            version: d.version,
            description: d.description,
            config_schema,
            triggers: d.triggers,
            capabilities: d
                .capabilities
                .into_iter()
                .map(|c| match c {
                    wit_integration::Capability::Push => Capability::Push,
                    wit_integration::Capability::Pull => Capability::Pull,
                    wit_integration::Capability::Webhook => Capability::Webhook,
                })
                .collect(),
        })
    }

    /// The integration's descriptor from its `describe`, checked against the manifest (name,
    /// version, config schema: a mismatch is [`PluginError::DescriptorMismatch`]). The answer
    /// is cached beside the compiled component (same key: the component's SHA-256, the
    /// wasmtime line, the engine settings), so a cached start makes no call.
    pub async fn checked_descriptor(&self) -> Result<Descriptor, CallError> {
        let d = match self.cached_descriptor() {
            Some(d) => d,
            None => {
                let d = self.descriptor().await?;
                self.cache_descriptor(&d);
                d
            }
        };
        self.check_descriptor(&d)?;
        Ok(d)
    }

    /// [`Self::checked_descriptor`] from synchronous code (a registry building integrations):
    /// from the cache without a call; otherwise `describe` runs on a runtime of its own in a
    /// helper thread (so this may be called inside or outside a tokio runtime), and the
    /// instance it made is dropped.
    pub fn checked_descriptor_blocking(&self) -> Result<Descriptor, CallError> {
        if let Some(d) = self.cached_descriptor() {
            self.check_descriptor(&d)?;
            return Ok(d);
        }
        let engine_err = |m: String| CallError::Sandbox(self.engine_error(wasmtime::Error::msg(m)));
        let this = self.clone();
        let out = std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime for `describe`: {e}"))?;
                let r = rt.block_on(this.checked_descriptor());
                // The instance belongs to this runtime's timers: the next call makes its own.
                if let Ok(mut live) = this.inner.live.try_lock() {
                    *live = None;
                }
                Ok::<_, String>(r)
            })
            .join()
        });
        match out {
            Ok(Ok(r)) => r,
            Ok(Err(m)) => Err(engine_err(m)),
            Err(_) => Err(engine_err("`describe` panicked in the host".into())),
        }
    }

    fn cached_descriptor(&self) -> Option<Descriptor> {
        let file = self.inner.descriptor_cache.as_ref()?;
        let text = std::fs::read_to_string(file).ok()?;
        match serde_json::from_str(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cached plugin descriptor is damaged; asking the plugin again");
                None
            }
        }
    }

    fn cache_descriptor(&self, d: &Descriptor) {
        let Some(file) = &self.inner.descriptor_cache else {
            return;
        };
        let write = || -> Result<(), String> {
            let text = serde_json::to_string_pretty(d).map_err(|e| e.to_string())?;
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            let tmp = file.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&tmp, text).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, file).map_err(|e| e.to_string())
        };
        // A cache that cannot be written only costs start-up time.
        if let Err(e) = write() {
            tracing::warn!(file = %file.display(), error = %e, "cannot cache the plugin's descriptor");
        }
    }

    /// `describe` against the manifest: the same name, version and config schema.
    fn check_descriptor(&self, d: &Descriptor) -> Result<(), PluginError> {
        let m = &self.inner.manifest;
        let schema = m.config_schema_json();
        let mismatch = |field: &str, manifest: String, component: String| {
            Err(PluginError::DescriptorMismatch {
                plugin: self.inner.name.clone(),
                file: self.inner.manifest_path.clone(),
                field: field.to_string(),
                manifest,
                component,
            })
        };
        if d.name != m.name {
            return mismatch("the name", format!("{:?}", m.name), format!("{:?}", d.name));
        }
        if d.version != m.version {
            return mismatch("version", m.version.clone(), d.version.clone());
        }
        if d.config_schema != schema {
            return mismatch(
                "the config schema",
                schema.to_string(),
                d.config_schema.to_string(),
            );
        }
        Ok(())
    }

    pub async fn health(&self) -> Result<String, CallError> {
        plugin_call!(self, "health", integration_guest, |g, store| g
            .call_health(store))
    }

    pub async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, CallError> {
        let id = entry.to_string();
        let found = plugin_call!(self, "find-by-marker", integration_guest, |g, store| g
            .call_find_by_marker(store, &id))?;
        found
            .map(|j| self.parse("find-by-marker", "the remote item", &j))
            .transpose()
    }

    pub async fn create(
        &self,
        entry: &Entry,
        fields: &SyncedFields,
    ) -> Result<RemoteItem, CallError> {
        let entry =
            serde_json::to_string(entry).map_err(|e| self.malformed("create", e.to_string()))?;
        let fields =
            serde_json::to_string(fields).map_err(|e| self.malformed("create", e.to_string()))?;
        let item = plugin_call!(self, "create", integration_guest, |g, store| g
            .call_create(store, &entry, &fields))?;
        self.parse("create", "the remote item", &item)
    }

    pub async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, CallError> {
        let fields =
            serde_json::to_string(fields).map_err(|e| self.malformed("update", e.to_string()))?;
        let changed: Vec<String> = changed.iter().map(|f| f.as_str().to_string()).collect();
        let item = plugin_call!(self, "update", integration_guest, |g, store| g
            .call_update(store, remote_id, &fields, &changed))?;
        self.parse("update", "the remote item", &item)
    }

    pub async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, CallError> {
        let page = plugin_call!(self, "pull-page", integration_guest, |g, store| g
            .call_pull_page(store, cursor))?;
        Ok(PullPage {
            items: page
                .items
                .iter()
                .map(|j| self.parse::<RemoteItem>("pull-page", "a remote item", j))
                .collect::<Result<_, _>>()?,
            actions: page
                .actions
                .iter()
                .map(|j| self.parse::<RemoteAction>("pull-page", "a remote action", j))
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
            more: page.more,
        })
    }

    pub async fn handle_webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, CallError> {
        let arg = wit_integration::Webhook {
            headers: hook.headers.clone(),
            body: hook.body.clone(),
            query: hook.query.clone(),
        };
        let out = plugin_call!(self, "handle-webhook", integration_guest, |g, store| g
            .call_handle_webhook(store, &arg))?;
        Ok(WebhookOutcome {
            delivery_id: out.delivery_id,
            items: out
                .items
                .iter()
                .map(|j| self.parse::<RemoteItem>("handle-webhook", "a remote item", j))
                .collect::<Result<_, _>>()?,
            actions: out
                .actions
                .iter()
                .map(|j| self.parse::<RemoteAction>("handle-webhook", "a remote action", j))
                .collect::<Result<_, _>>()?,
            // Plugins signal no typed events (yet): their deliveries trigger no `webhook`
            // workflows.
            signals: Vec::new(),
        })
    }

    /// The actions the plugin provides (only those its manifest names).
    pub async fn actions(&self) -> Result<Vec<ActionInfo>, CallError> {
        let list = plugin_call!(self, "list-actions", actions_guest, |g, store| async move {
            g.call_list_actions(store)
                .await
                .map(Ok::<_, wit::types::PluginError>)
        })?;
        let mut out = Vec::new();
        for a in list {
            if !self.inner.manifest.provides.actions.contains(&a.name) {
                continue;
            }
            out.push(ActionInfo {
                input_schema: self.parse("list-actions", "an input schema", &a.input_schema)?,
                output_schema: self.parse("list-actions", "an output schema", &a.output_schema)?,
                name: a.name,
                description: a.description,
            });
        }
        Ok(out)
    }

    /// Runs action `name` (one the manifest names) with `input`; returns its JSON output.
    pub async fn run_action(
        &self,
        name: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        if !self
            .inner
            .manifest
            .provides
            .actions
            .iter()
            .any(|a| a == name)
        {
            return Err(CallError::Sandbox(PluginError::NotProvided {
                plugin: self.inner.name.clone(),
                message: format!("provides no action {name:?}"),
            }));
        }
        let input = input.to_string();
        let out = plugin_call!(self, "run", actions_guest, |g, store| g
            .call_run(store, name, &input))?;
        self.parse("run", "the action's output", &out)
    }
}

/// The size of what a call returns, for the response limit.
trait Weigh {
    fn weigh(&self) -> usize;
}

impl Weigh for String {
    fn weigh(&self) -> usize {
        self.len()
    }
}
impl Weigh for () {
    fn weigh(&self) -> usize {
        0
    }
}
impl<T: Weigh> Weigh for Option<T> {
    fn weigh(&self) -> usize {
        self.as_ref().map_or(0, Weigh::weigh)
    }
}
impl<T: Weigh> Weigh for Vec<T> {
    fn weigh(&self) -> usize {
        self.iter().map(Weigh::weigh).sum()
    }
}
impl Weigh for wit_integration::Descriptor {
    fn weigh(&self) -> usize {
        self.name.len()
            + self.version.len()
            + self.description.len()
            + self.config_schema.len()
            + self.triggers.weigh()
    }
}
impl Weigh for wit_integration::Page {
    fn weigh(&self) -> usize {
        self.items.weigh() + self.actions.weigh() + self.next_cursor.weigh()
    }
}
impl Weigh for wit_integration::WebhookOutcome {
    fn weigh(&self) -> usize {
        self.items.weigh() + self.actions.weigh() + self.delivery_id.weigh()
    }
}
impl Weigh for wit_actions::Action {
    fn weigh(&self) -> usize {
        self.name.len()
            + self.description.len()
            + self.input_schema.len()
            + self.output_schema.len()
    }
}

/// A plugin as devlog-core's integration port. Sandbox failures become [`SyncError`]s
/// ([`CallError::into_sync_error`]), so the queue records and retries them like any other.
#[derive(Debug, Clone)]
pub struct PluginIntegration {
    plugin: LoadedPlugin,
    descriptor: Descriptor,
}

impl PluginIntegration {
    /// The plugin's descriptor from its `describe` (cached with the compiled component),
    /// checked against the manifest ([`LoadedPlugin::checked_descriptor`]), and the plugin
    /// wrapped.
    pub async fn new(plugin: LoadedPlugin) -> Result<Self, CallError> {
        let descriptor = plugin.checked_descriptor().await?;
        Ok(PluginIntegration { plugin, descriptor })
    }

    /// [`Self::new`] for synchronous code (a registry building integrations).
    pub fn new_blocking(plugin: LoadedPlugin) -> Result<Self, CallError> {
        let descriptor = plugin.checked_descriptor_blocking()?;
        Ok(PluginIntegration { plugin, descriptor })
    }

    /// Without a call: the descriptor from the manifest (name, version, description, config
    /// schema; push and pull, plus webhook). For tests and tools that must not run the
    /// plugin; devlog itself uses [`Self::new`] / [`Self::new_blocking`].
    pub fn from_manifest(plugin: LoadedPlugin) -> Self {
        let m = plugin.manifest();
        let descriptor = Descriptor {
            name: m.name.clone(),
            version: m.version.clone(),
            description: m.description.clone(),
            config_schema: m.config_schema_json(),
            triggers: vec!["entry.changed".into()],
            capabilities: vec![Capability::Push, Capability::Pull, Capability::Webhook],
        };
        PluginIntegration { plugin, descriptor }
    }

    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    fn err(&self, e: CallError) -> SyncError {
        e.into_sync_error(&self.descriptor.name)
    }
}

#[async_trait]
impl Integration for PluginIntegration {
    fn descriptor(&self) -> Descriptor {
        self.descriptor.clone()
    }

    async fn health(&self) -> Result<Health, SyncError> {
        match self.plugin.health().await {
            Ok(message) => Ok(Health { ok: true, message }),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        self.plugin
            .find_by_marker(entry)
            .await
            .map_err(|e| self.err(e))
    }

    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError> {
        self.plugin
            .create(entry, fields)
            .await
            .map_err(|e| self.err(e))
    }

    async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        self.plugin
            .update(remote_id, fields, changed)
            .await
            .map_err(|e| self.err(e))
    }

    async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, SyncError> {
        self.plugin.pull(cursor).await.map_err(|e| self.err(e))
    }

    async fn handle_webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
        self.plugin
            .handle_webhook(hook)
            .await
            .map_err(|e| self.err(e))
    }
}

/// Memory limit; remembers a refused growth so the trap that follows is explained.
struct Limiter {
    memory_limit: usize,
    exceeded: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The store's data: the host side of one plugin instance.
struct HostState {
    plugin: String,
    call: String,
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
    limiter: Limiter,
    hosts: Vec<String>,
    auth: Vec<(String, Auth)>,
    http_timeout: Duration,
    rate_limits: Option<devlog_http::RateLimitConfig>,
    clients: HashMap<String, HttpClient>,
    kv: Option<Arc<StdMutex<KvStore>>>,
    host_calls: u32,
    max_host_calls: u32,
    response_limit: u64,
    /// Set by a host function that ends the call (a policy violation).
    violation: Option<PluginError>,
}

impl HostState {
    fn new(inner: &Inner, call: &str) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            plugin: inner.name.clone(),
            call: call.to_string(),
            wasi,
            table: ResourceTable::new(),
            stderr,
            limiter: Limiter {
                memory_limit: usize::try_from(inner.limits.memory_mb.saturating_mul(1024 * 1024))
                    .unwrap_or(usize::MAX),
                exceeded: false,
            },
            hosts: inner.hosts.clone(),
            auth: inner.auth.clone(),
            http_timeout: inner.http_timeout.unwrap_or(Duration::from_secs(30)),
            rate_limits: inner.rate_limits.clone(),
            clients: HashMap::new(),
            kv: inner.kv.clone(),
            host_calls: 0,
            max_host_calls: inner.limits.host_calls,
            response_limit: inner.limits.response_kb.saturating_mul(1024),
            violation: None,
        }
    }

    fn reset(&mut self, call: &str) {
        self.call = call.to_string();
        self.host_calls = 0;
        self.violation = None;
        self.limiter.exceeded = false;
    }

    /// Ends the call with `e`.
    fn violate(&mut self, e: PluginError) -> wasmtime::Error {
        let msg = e.to_string();
        self.violation = Some(e);
        wasmtime::Error::msg(msg)
    }

    fn count(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.max_host_calls {
            let e = PluginError::HostCallLimit {
                plugin: self.plugin.clone(),
                call: self.call.clone(),
                limit: self.max_host_calls,
            };
            return Err(self.violate(e));
        }
        Ok(())
    }

    fn client(&mut self, origin: &Url, host: &str) -> Result<HttpClient, String> {
        let key = origin.origin().ascii_serialization();
        if let Some(c) = self.clients.get(&key) {
            return Ok(c.clone());
        }
        let mut options = ClientOptions::new(format!("plugin:{}", self.plugin), key.clone())
            .timeouts(
                Duration::from_secs(10).min(self.http_timeout),
                self.http_timeout,
            )
            .conditional_gets(false)
            // A redirect could lead anywhere: the plugin sees the 3xx and may ask for the
            // new location itself (checked against its hosts like any request).
            .follow_redirects(false);
        if let Some(limits) = &self.rate_limits {
            options = options.rate_limits(limits.clone());
        }
        if let Some((_, auth)) = self.auth.iter().find(|(h, _)| host_matches(h, host)) {
            options = options.auth(auth.clone());
        }
        let client = HttpClient::new(options).map_err(|e| e.to_string())?;
        self.clients.insert(key, client.clone());
        Ok(client)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn plugin_error(kind: wit::types::ErrorKind, message: String) -> wit::types::PluginError {
    wit::types::PluginError {
        kind,
        message,
        retry_after_ms: None,
    }
}

impl wit::types::Host for HostState {}

impl wit::http::Host for HostState {
    async fn send(
        &mut self,
        req: wit::http::Request,
    ) -> wasmtime::Result<Result<wit::http::Response, wit::types::PluginError>> {
        use wit::types::ErrorKind as K;
        self.count()?;
        let url = match Url::parse(&req.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
            _ => {
                return Ok(Err(plugin_error(
                    K::Permanent,
                    format!("{:?} is not an absolute http(s) URL", req.url),
                )));
            }
        };
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        if !self.hosts.iter().any(|a| host_matches(a, &host)) {
            let e = PluginError::DisallowedHost {
                plugin: self.plugin.clone(),
                call: self.call.clone(),
                host,
            };
            return Err(self.violate(e));
        }
        let client = match self.client(&url, &host) {
            Ok(c) => c,
            Err(m) => return Ok(Err(plugin_error(K::Permanent, m))),
        };
        let method = match req.method {
            wit::http::Method::Get => Method::GET,
            wit::http::Method::Post => Method::POST,
            wit::http::Method::Put => Method::PUT,
            wit::http::Method::Patch => Method::PATCH,
            wit::http::Method::Delete => Method::DELETE,
        };
        let mut content_type = "application/octet-stream".to_string();
        let mut builder = client.request(method, url.as_str());
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                // The host owns credentials and framing.
                "authorization" | "host" | "content-length" | "cookie" | "proxy-authorization" => {}
                "content-type" => content_type = value.clone(),
                _ => builder = builder.header(name, value),
            }
        }
        if let Some(body) = req.body {
            builder = builder.body(body, &content_type);
        }
        match builder.send().await {
            Ok(resp) => {
                let size = resp.body().len() as u64;
                if size > self.response_limit {
                    let e = PluginError::TooLarge {
                        plugin: self.plugin.clone(),
                        call: self.call.clone(),
                        what: format!("the response from {host}"),
                        size,
                        limit: self.response_limit,
                    };
                    return Err(self.violate(e));
                }
                Ok(Ok(wit::http::Response {
                    status: resp.status().as_u16(),
                    headers: resp
                        .headers()
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                        })
                        .collect(),
                    body: resp.body().to_vec(),
                }))
            }
            Err(e) => {
                use devlog_http::HttpErrorKind as H;
                let kind = match e.kind() {
                    H::RateLimited => K::RateLimited,
                    H::Transient => K::Transient,
                    H::Auth | H::Forbidden => K::Auth,
                    H::NotFound => K::NotFound,
                    H::Conflict => K::Conflict,
                    H::Invalid | H::Decode | H::Build => K::Permanent,
                };
                Ok(Err(wit::types::PluginError {
                    kind,
                    message: e.to_string(),
                    retry_after_ms: e.retry_after().map(|d| d.as_millis() as u64),
                }))
            }
        }
    }
}

impl wit::log::Host for HostState {
    async fn log(&mut self, level: wit::log::Level, message: String) -> wasmtime::Result<()> {
        self.count()?;
        let mut message = message;
        if message.len() > LOG_LIMIT {
            let mut cut = LOG_LIMIT;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &self.plugin;
        match level {
            wit::log::Level::Trace => tracing::trace!(plugin = %plugin, "{message}"),
            wit::log::Level::Debug => tracing::debug!(plugin = %plugin, "{message}"),
            wit::log::Level::Info => tracing::info!(plugin = %plugin, "{message}"),
            wit::log::Level::Warn => tracing::warn!(plugin = %plugin, "{message}"),
            wit::log::Level::Error => tracing::error!(plugin = %plugin, "{message}"),
        }
        Ok(())
    }
}

impl wit::clock::Host for HostState {
    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        self.count()?;
        Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0))
    }
}

impl HostState {
    fn kv(&mut self) -> wasmtime::Result<Arc<StdMutex<KvStore>>> {
        self.count()?;
        match &self.kv {
            Some(kv) => Ok(Arc::clone(kv)),
            None => {
                let e = PluginError::CapabilityDenied {
                    plugin: self.plugin.clone(),
                    call: self.call.clone(),
                    capability: "kv".into(),
                };
                Err(self.violate(e))
            }
        }
    }
}

impl wit::kv::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        let kv = self.kv()?;
        let kv = kv
            .lock()
            .map_err(|_| wasmtime::Error::msg("kv store poisoned"))?;
        Ok(kv.map.get(&key).cloned())
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let kv = self.kv()?;
        let mut kv = kv
            .lock()
            .map_err(|_| wasmtime::Error::msg("kv store poisoned"))?;
        Ok(kv.set(key, value))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        let kv = self.kv()?;
        let mut kv = kv
            .lock()
            .map_err(|_| wasmtime::Error::msg("kv store poisoned"))?;
        if kv.map.remove(&key).is_some() {
            let _ = kv.save();
        }
        Ok(())
    }
}

/// A plugin's key-value store: a JSON file (values hex) under the state folder, or memory.
#[derive(Debug)]
struct KvStore {
    file: Option<PathBuf>,
    map: BTreeMap<String, Vec<u8>>,
}

impl KvStore {
    fn open(file: Option<PathBuf>) -> Result<Self, PluginError> {
        let mut map = BTreeMap::new();
        if let Some(f) = &file
            && let Ok(text) = std::fs::read_to_string(f)
        {
            let raw: BTreeMap<String, String> =
                serde_json::from_str(&text).map_err(|e| PluginError::Io {
                    path: f.clone(),
                    message: format!("not a plugin kv store: {e}"),
                })?;
            for (k, v) in raw {
                map.insert(
                    k,
                    hex::decode(v).map_err(|e| PluginError::Io {
                        path: f.clone(),
                        message: format!("not a plugin kv store: {e}"),
                    })?,
                );
            }
        }
        Ok(KvStore { file, map })
    }

    fn size(&self) -> usize {
        self.map.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        let old = self.map.get(&key).map_or(0, |v| key.len() + v.len());
        let new = self.size() - old + key.len() + value.len();
        if new > KV_LIMIT {
            return Err(format!(
                "the kv store would hold {new} bytes, over its {KV_LIMIT}-byte limit"
            ));
        }
        self.map.insert(key, value);
        self.save()
    }

    fn save(&self) -> Result<(), String> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let raw: BTreeMap<&String, String> =
            self.map.iter().map(|(k, v)| (k, hex::encode(v))).collect();
        let text = serde_json::to_string(&raw).map_err(|e| e.to_string())?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, file).map_err(|e| e.to_string())
    }
}
