//! Example devlog plugin: an integration for the generic REST tracker (the API of the test
//! kit's fake remote, see crates/devlog-testkit/src/fake_remote.rs), the same mapping as the
//! test kit's native `TrackerIntegration`, written against the `devlog:plugin@1.0.0` world.
//!
//! Mapping: title, description, assignee as they are; `status` is devlog's status string;
//! labels carry the tags plus `type:<type>`, `priority:<priority>` and `milestone:<name>`;
//! the item's `marker` holds the entry id. It also provides a workflow action, `comment`.
//!
//! Build: `cargo build --release --target wasm32-wasip2`, then copy
//! `target/wasm32-wasip2/release/devlog_tracker_plugin.wasm` beside `devlog-plugin.toml`.

use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{Map, Value, json};

wit_bindgen::generate!({
    path: "wit",
    world: "plugin",
});

use devlog::plugin::http::{self, Method, Request};
use devlog::plugin::log::{Level, log};
use devlog::plugin::types::{ErrorKind, PluginError};
use exports::devlog::plugin::actions;
use exports::devlog::plugin::integration::{
    self, Capability, Descriptor, Page, Webhook, WebhookOutcome,
};

#[derive(Debug, Clone, Deserialize)]
struct Config {
    url: String,
    #[serde(rename = "webhook-secret", default)]
    webhook_secret: Option<String>,
}

static CONFIG: Mutex<Option<Config>> = Mutex::new(None);

/// An item of the tracker.
#[derive(Debug, Clone, Deserialize)]
struct Item {
    id: u64,
    title: String,
    #[serde(default)]
    description: String,
    status: String,
    #[serde(default)]
    labels: Vec<String>,
    assignee: Option<String>,
    marker: Option<String>,
    version: u64,
    updated_at: String,
}

fn err(kind: ErrorKind, message: impl Into<String>) -> PluginError {
    PluginError {
        kind,
        message: message.into(),
        retry_after_ms: None,
    }
}

fn config() -> Result<Config, PluginError> {
    CONFIG
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .ok_or_else(|| err(ErrorKind::Permanent, "not configured"))
}

fn send(method: Method, url: &str, body: Option<&Value>) -> Result<http::Response, PluginError> {
    let mut headers = vec![("accept".to_string(), "application/json".to_string())];
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    http::send(&Request {
        method,
        url: url.to_string(),
        headers,
        body: body.map(|b| b.to_string().into_bytes()),
    })
}

fn json_body<T: for<'de> Deserialize<'de>>(resp: &http::Response) -> Result<T, PluginError> {
    serde_json::from_slice(&resp.body).map_err(|e| {
        err(
            ErrorKind::Permanent,
            format!("unexpected answer from the tracker: {e}"),
        )
    })
}

fn labels(fields: &Value) -> Vec<String> {
    let mut l: Vec<String> = fields["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    l.push(format!(
        "type:{}",
        fields["type"].as_str().unwrap_or("task")
    ));
    l.push(format!(
        "priority:{}",
        fields["priority"].as_str().unwrap_or("medium")
    ));
    if let Some(m) = fields["milestone"].as_str() {
        l.push(format!("milestone:{m}"));
    }
    l
}

/// A tracker item as devlog's `RemoteItem` JSON.
fn to_remote(item: &Item) -> String {
    let mut kind = "task".to_string();
    let mut priority = "medium".to_string();
    let mut milestone = Value::Null;
    let mut tags = Vec::new();
    for l in &item.labels {
        if let Some(m) = l.strip_prefix("milestone:") {
            milestone = Value::from(m);
        } else if let Some(t) = l.strip_prefix("type:") {
            kind = t.to_string();
        } else if let Some(p) = l.strip_prefix("priority:") {
            priority = p.to_string();
        } else {
            tags.push(l.clone());
        }
    }
    tags.sort();
    let mut item_json = json!({
        "remoteId": item.id.to_string(),
        "fields": {
            "title": item.title,
            "description": item.description,
            "status": item.status,
            "priority": priority,
            "type": kind,
            "assignee": item.assignee,
            "tags": tags,
            "milestone": milestone,
        },
        "updatedAt": item.updated_at,
        "version": format!("\"{}-{}\"", item.id, item.version),
    });
    if let Some(m) = &item.marker {
        item_json["marker"] = Value::from(m.as_str());
    }
    item_json.to_string()
}

/// The `next` URL of a GitHub-style `Link` header.
fn next_link(resp: &http::Response) -> Option<String> {
    let link = resp.headers.iter().find(|(k, _)| k == "link")?.1.clone();
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

struct Tracker;

impl integration::Guest for Tracker {
    fn describe() -> Descriptor {
        Descriptor {
            name: "tracker".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "generic REST tracker (plugin)".into(),
            config_schema: json!({
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string", "pattern": "^https?://"},
                    "enabled": {"type": "boolean"},
                    "webhook-secret": {"type": "string", "minLength": 8}
                },
                "additionalProperties": false
            })
            .to_string(),
            triggers: vec!["entry.changed".into()],
            capabilities: vec![Capability::Push, Capability::Pull, Capability::Webhook],
        }
    }

    fn configure(config: String) -> Result<(), PluginError> {
        let mut c: Config = serde_json::from_str(&config)
            .map_err(|e| err(ErrorKind::Permanent, format!("configuration: {e}")))?;
        c.url = c.url.trim_end_matches('/').to_string();
        *CONFIG
            .lock()
            .map_err(|_| err(ErrorKind::Permanent, "poisoned"))? = Some(c);
        Ok(())
    }

    fn health() -> Result<String, PluginError> {
        let c = config()?;
        send(Method::Get, &format!("{}/items?per_page=1", c.url), None)?;
        Ok(format!("reached {}", c.url))
    }

    fn find_by_marker(entry_id: String) -> Result<Option<String>, PluginError> {
        let c = config()?;
        let resp = send(
            Method::Get,
            &format!("{}/items?marker={entry_id}", c.url),
            None,
        )?;
        let items: Vec<Item> = json_body(&resp)?;
        Ok(items.first().map(to_remote))
    }

    fn create(entry: String, fields: String) -> Result<String, PluginError> {
        let c = config()?;
        let entry: Value = serde_json::from_str(&entry)
            .map_err(|e| err(ErrorKind::Permanent, format!("entry: {e}")))?;
        let f: Value = serde_json::from_str(&fields)
            .map_err(|e| err(ErrorKind::Permanent, format!("fields: {e}")))?;
        let body = json!({
            "title": f["title"],
            "description": f["description"],
            "status": f["status"],
            "labels": labels(&f),
            "assignee": f["assignee"],
            "marker": entry["id"],
        });
        let resp = send(Method::Post, &format!("{}/items", c.url), Some(&body))?;
        let item: Item = json_body(&resp)?;
        log(Level::Info, &format!("created tracker item {}", item.id));
        Ok(to_remote(&item))
    }

    fn update(
        remote_id: String,
        fields: String,
        changed: Vec<String>,
    ) -> Result<String, PluginError> {
        let c = config()?;
        let f: Value = serde_json::from_str(&fields)
            .map_err(|e| err(ErrorKind::Permanent, format!("fields: {e}")))?;
        let mut body = Map::new();
        for name in &changed {
            match name.as_str() {
                "title" | "description" | "status" | "assignee" => {
                    body.insert(name.clone(), f[name.as_str()].clone());
                }
                "tags" | "type" | "priority" | "milestone" => {
                    body.insert("labels".into(), json!(labels(&f)));
                }
                // Not carried by the tracker: never sent.
                _ => {}
            }
        }
        let resp = send(
            Method::Patch,
            &format!("{}/items/{remote_id}", c.url),
            Some(&Value::Object(body)),
        )?;
        let item: Item = json_body(&resp)?;
        Ok(to_remote(&item))
    }

    fn pull_page(cursor: Option<String>) -> Result<Page, PluginError> {
        let c = config()?;
        let mut url = format!("{}/items?per_page=100", c.url);
        if let Some(since) = &cursor {
            url.push_str(&format!("&since={}", since.replace('+', "%2B")));
        }
        let mut items = Vec::new();
        let mut newest = cursor.clone();
        let mut next = Some(url);
        while let Some(u) = next {
            let resp = send(Method::Get, &u, None)?;
            let page: Vec<Item> = json_body(&resp)?;
            for it in &page {
                if newest.as_deref().is_none_or(|n| it.updated_at.as_str() > n) {
                    newest = Some(it.updated_at.clone());
                }
                items.push(to_remote(it));
            }
            next = next_link(&resp);
        }
        Ok(Page {
            items,
            actions: Vec::new(),
            next_cursor: newest,
            more: false,
        })
    }

    fn handle_webhook(hook: Webhook) -> Result<WebhookOutcome, PluginError> {
        // The tracker signs nothing: it sends the shared secret in `x-tracker-secret`.
        let c = config()?;
        let Some(secret) = c.webhook_secret else {
            return Err(err(ErrorKind::Permanent, "no webhook-secret configured"));
        };
        let given = hook
            .headers
            .iter()
            .find(|(k, _)| k == "x-tracker-secret")
            .map(|(_, v)| v.as_str());
        if given != Some(secret.as_str()) {
            return Err(err(ErrorKind::Auth, "webhook secret missing or wrong"));
        }
        #[derive(Deserialize)]
        struct Delivery {
            id: Option<String>,
            item: Item,
        }
        let d: Delivery = serde_json::from_slice(&hook.body)
            .map_err(|e| err(ErrorKind::Permanent, format!("webhook body: {e}")))?;
        Ok(WebhookOutcome {
            delivery_id: d.id,
            items: vec![to_remote(&d.item)],
            actions: Vec::new(),
        })
    }
}

impl actions::Guest for Tracker {
    fn list_actions() -> Vec<actions::Action> {
        vec![actions::Action {
            name: "comment".into(),
            description: "Posts a comment on a tracker item".into(),
            input_schema: json!({
                "type": "object",
                "required": ["remoteId", "body"],
                "properties": {"remoteId": {"type": "string"}, "body": {"type": "string"}}
            })
            .to_string(),
            output_schema: json!({
                "type": "object",
                "properties": {"commentId": {"type": "string"}}
            })
            .to_string(),
        }]
    }

    fn run(name: String, input: String) -> Result<String, PluginError> {
        if name != "comment" {
            return Err(err(ErrorKind::Permanent, format!("no action {name:?}")));
        }
        let c = config()?;
        let input: Value = serde_json::from_str(&input)
            .map_err(|e| err(ErrorKind::Permanent, format!("input: {e}")))?;
        let (Some(id), Some(body)) = (input["remoteId"].as_str(), input["body"].as_str()) else {
            return Err(err(ErrorKind::Permanent, "input needs remoteId and body"));
        };
        let resp = send(
            Method::Post,
            &format!("{}/items/{id}/comments", c.url),
            Some(&json!({ "body": body })),
        )?;
        let v: Value = json_body(&resp)?;
        Ok(json!({ "commentId": v["id"].to_string() }).to_string())
    }
}

export!(Tracker);
