//! The MCP server: tool dispatch (with panic isolation), resources and prompts.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use devlog_core::{Devlog, ListQuery, Origin, SortKey, WriteMeta};
use futures::FutureExt;
use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CustomRequest, CustomResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::error::{Failure, panic_message};
use crate::render::{self, ActiveItem};

/// How the server was started: who acts, which integrations devlog.toml configures, and the
/// sync engine that syncs with them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Recorded as the actor of every change made through MCP.
    pub actor: Option<String>,
    /// Names of the `[integrations.*]` tables in devlog.toml (`github`, `jira`, `ado`, ...).
    pub integrations: Vec<String>,
    /// Other repositories' stores (from `devlog repos discover`) that
    /// `discover_related_devlogs` also searches, each named by its path.
    pub repositories: Vec<(String, std::sync::Arc<dyn devlog_core::Store>)>,
    /// The sync engine over this store and the enabled integrations, which the sync tools run.
    /// `None` when no integration is configured (the tools then say what to configure).
    pub sync: Option<devlog_sync::SyncEngine>,
    /// Why the sync engine could not be built: the `[integrations.*]` configuration error,
    /// naming the key to fix. The server runs anyway; the sync tools answer with this.
    pub sync_error: Option<String>,
    /// Worklog suggestions from git commits (`suggest_worklogs`), over the repositories the
    /// binary found; `None` outside a git repository (the tool then says so).
    pub worklog_suggester: Option<devlog_core::worklog_suggest::WorklogSuggester>,
    /// Where `bulk_update` keeps operations and their progress (`.devlog/.state/bulk/`, as
    /// `devlog bulk`); `None`: in memory.
    pub bulk_journal: Option<Arc<dyn devlog_core::bulk::BulkJournal>>,
    /// The workspace's workflow folders (`run_workflow`); `None`: the tool says there are none.
    pub workflows: Option<devlog_workflow::load::Site>,
}

/// devlog as an MCP server. Cheap to clone: one per HTTP session shares the store.
#[derive(Debug, Clone)]
pub struct DevlogMcp {
    app: Devlog,
    options: Arc<Options>,
    tool_router: ToolRouter<Self>,
}

tokio::task_local! {
    /// The authenticated caller of the tool call in progress (MCP over HTTP with a token).
    static CALLER: Option<String>;
}

/// Tools kept for clients that call them by name but not listed: another name of a listed
/// tool (`sync_with_ado` is `sync_with_azure_devops`).
pub const UNLISTED_TOOLS: &[&str] = &["sync_with_ado"];

/// Resources per `resources/list` page.
const RESOURCE_PAGE: usize = 100;
const ENTRY_PREFIX: &str = "devlog://entry/";
const ACTIVE_URI: &str = "devlog://context/active";

const INSTRUCTIONS: &str = "devlog keeps a structured log of development work (features, bugs, \
tasks, refactors, docs) that persists across sessions. Start a session with get_active_context \
(or the start_session prompt). Before starting new work call discover_related_devlogs; continue a \
matching open entry instead of creating a duplicate, otherwise create_devlog. While working, \
record progress, issues and solutions with add_devlog_note (or update_devlog_with_note to also \
change status), decisions with add_decision, and keep update_devlog's currentSummary and \
suggestedNextSteps current so the next session can resume. Finish with complete_devlog. Entries \
are named by handle (#42); every id argument also accepts the number 42, a full id, an id prefix \
or a key slug.";

impl DevlogMcp {
    pub fn new(app: Devlog, options: Options) -> Self {
        Self {
            app,
            options: Arc::new(options),
            tool_router: Self::tool_router()
                + Self::relations_router()
                + Self::planning_router()
                + Self::history_tool_router()
                + Self::reports_router()
                + Self::worklog_suggest_router()
                + Self::bulk_router()
                + Self::workflows_router(),
        }
    }

    pub fn app(&self) -> &Devlog {
        &self.app
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Who and what a write through MCP is recorded as: over HTTP with an API token, the
    /// token's name (set per call by `dispatch`); otherwise the server's actor.
    pub fn meta(&self) -> WriteMeta {
        let caller = CALLER.try_with(Clone::clone).ok().flatten();
        WriteMeta::new(Origin::Mcp).with_actor(caller.or_else(|| self.options.actor.clone()))
    }

    /// Every tool this server lists, sorted by name. Tools that cannot work in this version
    /// ([`UNLISTED_TOOLS`]) are not listed; a client that calls one anyway is told why.
    pub fn tools(&self) -> Vec<Tool> {
        self.tool_router
            .list_all()
            .into_iter()
            .filter(|t| !UNLISTED_TOOLS.contains(&t.name.as_ref()))
            .collect()
    }

    /// Adds a tool (for embedders that extend the server, and for tests).
    pub fn add_tool(&mut self, route: ToolRoute<Self>) {
        self.tool_router.add_route(route);
    }

    /// Runs one tool call. A panic inside the tool is caught here and answered as an internal
    /// error, so one bad call never ends the session.
    async fn dispatch(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if self.tool_router.get(&name).is_none() {
            let names: Vec<String> = self
                .tools()
                .into_iter()
                .map(|t| t.name.to_string())
                .collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{name}`; this server has: {}",
                    names.join(", ")
                ),
                None,
            ));
        }
        // The HTTP server's authentication left the caller on the request (devlog-server
        // `auth`); its name is the actor of what the tool writes.
        let caller = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<devlog_core::auth::Principal>())
            .and_then(|p| p.actor());
        let tcc = ToolCallContext::new(self, request, context);
        match CALLER
            .scope(
                caller,
                AssertUnwindSafe(self.tool_router.call(tcc)).catch_unwind(),
            )
            .await
        {
            // Wrong arguments are the caller's to fix: answer them as a tool error the agent
            // reads, not as a protocol error clients tend to hide.
            Ok(Err(e)) if e.code == ErrorCode::INVALID_PARAMS => Ok(Failure::invalid(e.message)
                .with_hint(format!(
                    "the input schema of `{name}` (tools/list) lists every argument and its \
                     allowed values"
                ))
                .into_result()
                .into()),
            Ok(result) => {
                // A tool that answered an error (unknown entry, invalid value) is routine: the
                // agent reads it. Unexpected failures are logged where they happen.
                if let Ok(CallToolResponse::Complete(r)) = &result
                    && r.is_error == Some(true)
                {
                    tracing::debug!(tool = %name, "tool answered an error");
                }
                result
            }
            Err(payload) => {
                let msg = panic_message(payload.as_ref());
                tracing::error!(tool = %name, panic = %msg, "tool panicked; the session continues");
                Err(ErrorData::internal_error(
                    format!(
                        "internal error in tool `{name}`: {msg}. This is a bug in devlog; the \
                         server is still running. Check the entry with get_devlog before retrying."
                    ),
                    None,
                ))
            }
        }
    }

    async fn entry_resources(
        &self,
        offset: usize,
    ) -> Result<(Vec<Resource>, Option<String>), ErrorData> {
        let page = self
            .app
            .store()
            .list(&ListQuery {
                sort: SortKey::Handle,
                ascending: true,
                offset,
                limit: RESOURCE_PAGE,
                ..ListQuery::default()
            })
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let next = offset + page.items.len();
        let more = (next as u64) < page.total && !page.items.is_empty();
        let resources = page
            .items
            .iter()
            .map(|s| {
                Resource::new(format!("{ENTRY_PREFIX}{}", s.id), s.key.clone())
                    .with_title(format!("#{} {}", s.handle, s.title))
                    .with_description(format!("{} · {} · {}", s.kind, s.status, s.priority))
                    .with_mime_type("application/json")
            })
            .collect();
        Ok((resources, more.then(|| next.to_string())))
    }

    async fn active_markdown(&self, limit: usize) -> Result<String, ErrorData> {
        let entries = self
            .app
            .active_context(limit)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let items: Vec<ActiveItem> = entries.iter().map(ActiveItem::of).collect();
        Ok(render::active_text(&items))
    }
}

/// Decodes `%XX` escapes (a `#` in a handle arrives as `%23`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The MCP requests a client may send a server. One that arrives as a custom request had
/// params rmcp could not read.
const STANDARD_REQUESTS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "resources/templates/list",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "completion/complete",
    "logging/setLevel",
];

/// The answer to a request rmcp could not route: invalid params (-32602) for a standard method
/// whose params do not fit it (`tools/call` with `"arguments": "oops"`), saying which field is
/// wrong; method not found (-32601) otherwise.
fn unroutable(request: &CustomRequest) -> ErrorData {
    let method = request.method.as_str();
    if !STANDARD_REQUESTS.contains(&method) {
        return ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("method not found: `{method}` is not an MCP request this server handles"),
            None,
        );
    }
    let params = request.params.clone().unwrap_or(Value::Null);
    let why = match method {
        "tools/call" => params_error::<CallToolRequestParams>(params),
        "prompts/get" => params_error::<GetPromptRequestParams>(params),
        "resources/read" => params_error::<ReadResourceRequestParams>(params),
        "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
            params_error::<Option<PaginatedRequestParams>>(params)
        }
        _ => None,
    }
    .unwrap_or_else(|| "they do not have the fields and types the method takes".to_string());
    ErrorData::invalid_params(format!("invalid params for `{method}`: {why}"), None)
}

/// Why `params` do not deserialize as `T`, naming the field.
fn params_error<T: serde::de::DeserializeOwned>(params: Value) -> Option<String> {
    match serde_path_to_error::deserialize::<_, T>(params) {
        Ok(_) => None,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            Some(if path == "." || path.is_empty() {
                inner.to_string()
            } else {
                format!("`{path}`: {inner}")
            })
        }
    }
}

fn prompt_arg(args: &Option<serde_json::Map<String, Value>>, name: &str) -> Option<String> {
    let v = args.as_ref()?.get(name)?;
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

const START_SESSION: &str = "start_session";
const RESUME_DEVLOG: &str = "resume_devlog";

impl ServerHandler for DevlogMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("devlog", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.dispatch(request, context).await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut r = ListToolsResult::with_all_items(self.tools());
        if context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
        {
            // The tool list never changes while the server runs.
            r = r.with_ttl_ms(0).with_cache_scope(CacheScope::Public);
        }
        Ok(r)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(unroutable(&request))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        let offset = match cursor.as_deref() {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| {
                ErrorData::invalid_params(
                    format!("invalid cursor `{c}`: pass the nextCursor of the previous page"),
                    None,
                )
            })?,
        };
        let (mut resources, next) = self.entry_resources(offset).await?;
        if offset == 0 {
            resources.insert(
                0,
                Resource::new(ACTIVE_URI, "active-context")
                    .with_title("Active work")
                    .with_description(
                        "Open entries, highest priority and most recently touched first",
                    )
                    .with_mime_type("text/markdown"),
            );
        }
        let mut r = ListResourcesResult::with_all_items(resources);
        r.next_cursor = next;
        Ok(r)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{ENTRY_PREFIX}{{id}}"), "entry")
                .with_title("Devlog entry")
                .with_description(
                    "One entry as JSON; id is a handle (42), a full id, an id prefix or a key",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        if uri == ACTIVE_URI {
            let text = self.active_markdown(20).await?;
            return Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type("text/markdown"),
            ])
            .into());
        }
        let Some(reference) = uri.strip_prefix(ENTRY_PREFIX) else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "unknown resource `{uri}`: devlog serves {ENTRY_PREFIX}<id> (a handle, id, id \
                     prefix or key) and {ACTIVE_URI}"
                ),
                None,
            ));
        };
        let reference = percent_decode(reference);
        let entry = self.app.resolve(&reference).await.map_err(|e| {
            ErrorData::resource_not_found(
                format!("{uri}: {e}"),
                Some(serde_json::json!({"uri": uri})),
            )
        })?;
        let body = serde_json::to_string_pretty(&entry)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(body, uri).with_mime_type("application/json"),
        ])
        .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                START_SESSION,
                Some(
                    "Start a coding session from the devlog: the active work, related entries \
                     for what you plan to do, and how to keep the log current",
                ),
                Some(vec![
                    PromptArgument::new("focus")
                        .with_description("What you plan to work on (optional)")
                        .with_required(false),
                    PromptArgument::new("limit")
                        .with_description("How many active entries to include (default 10)")
                        .with_required(false),
                ]),
            )
            .with_title("Start a session"),
            Prompt::new(
                RESUME_DEVLOG,
                Some("Resume work on one devlog entry with its full context"),
                Some(vec![
                    PromptArgument::new("id")
                        .with_description("The entry: a handle (42), id, id prefix or key")
                        .with_required(true),
                ]),
            )
            .with_title("Resume an entry"),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let args = request.arguments;
        match request.name.as_str() {
            START_SESSION => {
                let limit = match prompt_arg(&args, "limit") {
                    None => 10,
                    Some(l) => l
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(|| {
                            ErrorData::invalid_params(
                                format!("limit `{l}` is not a number from 1 to 100"),
                                None,
                            )
                        })?,
                };
                let mut text = String::from(
                    "You are starting a coding session. This project keeps a devlog of its \
                     development work; use its tools to stay in sync with it.\n\n",
                );
                text.push_str(&self.active_markdown(limit).await?);
                if let Some(focus) = prompt_arg(&args, "focus") {
                    text.push_str(&format!(
                        "\n\nYou plan to work on: {focus}\nCall discover_related_devlogs with this \
                         as workDescription before creating an entry; continue a matching open \
                         entry instead of creating a duplicate.\n"
                    ));
                }
                text.push_str(
                    "\n\nHow to keep the log current:\n- Pick up an entry with get_context_for_ai.\n\
                     - Record progress, issues and solutions with add_devlog_note; change status \
                     with update_devlog_with_note.\n- Record decisions with add_decision.\n- Before \
                     you stop, set update_devlog's currentSummary and suggestedNextSteps so the next \
                     session can resume.\n- Finish with complete_devlog and a summary.\n",
                );
                Ok(
                    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                        .with_description("Start a session from the active devlog context")
                        .into(),
                )
            }
            RESUME_DEVLOG => {
                let Some(id) = prompt_arg(&args, "id") else {
                    return Err(ErrorData::invalid_params(
                        "resume_devlog needs `id`: a handle (42), id, id prefix or key",
                        None,
                    ));
                };
                let entry = self
                    .app
                    .resolve(&id)
                    .await
                    .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
                let text = format!(
                    "Resume the work on devlog entry #{handle}. Its context:\n\n{context}\n\n\
                     Continue from the suggested next steps. Record progress with add_devlog_note \
                     (id {handle}), keep currentSummary and suggestedNextSteps current with \
                     update_devlog, and finish with complete_devlog.",
                    handle = entry.handle,
                    context = render::context_markdown(&entry)
                );
                Ok(
                    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                        .with_description(format!("Resume #{} {}", entry.handle, entry.title))
                        .into(),
                )
            }
            other => Err(ErrorData::new(
                ErrorCode::INVALID_PARAMS,
                Cow::Owned(format!(
                    "unknown prompt `{other}`; this server has: {START_SESSION}, {RESUME_DEVLOG}"
                )),
                None,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_handles_escapes_and_stray_percents() {
        assert_eq!(percent_decode("%2342"), "#42");
        assert_eq!(percent_decode("fix-login"), "fix-login");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz1"), "%zz1");
    }
}
