//! The test integration: an `Integration` for the fake remote's generic tracker API (see
//! [`crate::fake_remote`]), built on the same HTTP plumbing (`devlog-http`) as the real
//! integrations, so the sync engine is tested end to end over real HTTP.
//!
//! Mapping: title, description and assignee as they are; `status` is devlog's status string;
//! labels carry the tags plus `type:<type>` and `priority:<priority>`; the item's `marker` holds
//! the entry id. Pulls use `since` (inclusive) with `Link` pagination and conditional GETs, so
//! an idle pull costs one request answered by a 304.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use devlog_core::entry::{Entry, EntryType, Priority, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteItem, SyncError, SyncErrorKind,
};
use devlog_core::merge::{FieldSet, SyncedField, SyncedFields};
use devlog_core::time::Timestamp;
use devlog_http::{ClientOptions, HttpClient, HttpError, HttpErrorKind, RateLimitConfig};
use serde_json::{Value, json};

use crate::fake_remote::Item;

pub const NAME: &str = "tracker";

/// The tracker integration.
#[derive(Debug, Clone)]
pub struct TrackerIntegration {
    client: Arc<HttpClient>,
}

impl TrackerIntegration {
    /// A client for the tracker at `base_url` (e.g. a [`crate::fake_remote::FakeRemote::url`]).
    pub fn new(base_url: &str) -> Result<Self, String> {
        Self::with_limits(base_url, RateLimitConfig::default())
    }

    /// Like [`new`](Self::new) with explicit client-side pacing (benchmarks use
    /// `RateLimitConfig::unpaced()`).
    pub fn with_limits(base_url: &str, limits: RateLimitConfig) -> Result<Self, String> {
        devlog_http::install_crypto_provider();
        let opts = ClientOptions::new(NAME, base_url)
            .timeouts(Duration::from_secs(2), Duration::from_secs(5))
            .rate_limits(limits);
        let client = HttpClient::new(opts).map_err(|e| e.to_string())?;
        Ok(Self {
            client: Arc::new(client),
        })
    }

    /// The HTTP client (for request counters in tests and benchmarks).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    pub fn descriptor_static() -> Descriptor {
        Descriptor {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "generic issue tracker of the test kit's fake remote".into(),
            config_schema: json!({
                "type": "object",
                "properties": {
                    "enabled": {"type": "boolean"},
                    "url": {"type": "string", "pattern": "^https?://"}
                },
                "required": ["url"],
                "additionalProperties": false
            }),
            triggers: vec!["entry.changed".into()],
            capabilities: vec![Capability::Push, Capability::Pull],
        }
    }
}

fn sync_err(e: HttpError) -> SyncError {
    let kind = match e.kind() {
        HttpErrorKind::RateLimited => SyncErrorKind::RateLimited,
        HttpErrorKind::Transient => SyncErrorKind::Transient,
        HttpErrorKind::Auth | HttpErrorKind::Forbidden => SyncErrorKind::Auth,
        HttpErrorKind::NotFound => SyncErrorKind::NotFound,
        HttpErrorKind::Conflict => SyncErrorKind::Conflict,
        _ => SyncErrorKind::Permanent,
    };
    SyncError {
        system: NAME.into(),
        kind,
        message: e.to_string(),
        retry_after_ms: e.retry_after().map(|d| d.as_millis() as u64),
    }
}

fn permanent(message: String) -> SyncError {
    SyncError::new(NAME, SyncErrorKind::Permanent, message)
}

fn labels(f: &SyncedFields) -> Vec<String> {
    let mut l = f.tags.clone();
    l.push(format!("type:{}", f.kind));
    l.push(format!("priority:{}", f.priority));
    // The generic tracker has no milestones of its own: a label carries the name.
    if let Some(m) = &f.milestone {
        l.push(format!("milestone:{m}"));
    }
    l
}

/// Maps a tracker item to devlog's fields; unknown values are errors naming the value. Public
/// for tests that compare the fake's items with the entries they mirror.
pub fn to_remote(item: &Item) -> Result<RemoteItem, SyncError> {
    let status: Status = item
        .status
        .parse()
        .map_err(|e| permanent(format!("item {}: {e}", item.id)))?;
    let mut kind = EntryType::Task;
    let mut priority = Priority::Medium;
    let mut tags = Vec::new();
    let mut milestone = None;
    for l in &item.labels {
        if let Some(m) = l.strip_prefix("milestone:") {
            milestone = Some(m.to_string());
        } else if let Some(t) = l.strip_prefix("type:") {
            kind = t
                .parse()
                .map_err(|e| permanent(format!("item {}: {e}", item.id)))?;
        } else if let Some(p) = l.strip_prefix("priority:") {
            priority = p
                .parse()
                .map_err(|e| permanent(format!("item {}: {e}", item.id)))?;
        } else {
            tags.push(l.clone());
        }
    }
    tags.sort();
    let updated_at: Timestamp = item
        .updated_at
        .to_rfc3339()
        .parse()
        .map_err(|e| permanent(format!("item {}: {e}", item.id)))?;
    Ok(RemoteItem {
        remote_id: item.id.to_string(),
        url: None,
        fields: SyncedFields {
            title: item.title.clone(),
            description: item.description.clone(),
            status,
            priority,
            kind,
            assignee: item.assignee.clone(),
            tags,
            milestone,
            // The tracker maps none of the optional fields.
            estimated_hours: None,
            actual_hours: None,
            acceptance_criteria: None,
            due_date: None,
            points: None,
        },
        updated_at,
        version: Some(item.etag()),
        marker: item.marker.as_deref().and_then(|m| m.parse().ok()),
        milestone: None,
        sprint: None,
        board: None,
    })
}

#[async_trait]
impl Integration for TrackerIntegration {
    fn descriptor(&self) -> Descriptor {
        Self::descriptor_static()
    }

    async fn health(&self) -> Result<Health, SyncError> {
        self.client
            .get("/items")
            .query("per_page", "1")
            .send()
            .await
            .map_err(sync_err)?;
        Ok(Health {
            ok: true,
            message: format!("reached {}", self.client.base_url()),
        })
    }

    async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        let resp = self
            .client
            .get("/items")
            .query("marker", &entry.to_string())
            .no_cache()
            .send()
            .await
            .map_err(sync_err)?;
        let items: Vec<Item> = resp.json().map_err(sync_err)?;
        items.first().map(to_remote).transpose()
    }

    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError> {
        let resp = self
            .client
            .post("/items")
            .json(&json!({
                "title": fields.title,
                "description": fields.description,
                "status": fields.status.as_str(),
                "labels": labels(fields),
                "assignee": fields.assignee,
                "marker": entry.id.to_string(),
            }))
            .send()
            .await
            .map_err(sync_err)?;
        let item: Item = resp.json().map_err(sync_err)?;
        to_remote(&item)
    }

    async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        let mut body = serde_json::Map::new();
        for c in changed.iter() {
            match c {
                SyncedField::Title => {
                    body.insert("title".into(), Value::from(fields.title.clone()))
                }
                SyncedField::Description => body.insert(
                    "description".into(),
                    Value::from(fields.description.clone()),
                ),
                SyncedField::Status => {
                    body.insert("status".into(), Value::from(fields.status.as_str()))
                }
                SyncedField::Assignee => body.insert("assignee".into(), json!(fields.assignee)),
                SyncedField::Tags
                | SyncedField::Type
                | SyncedField::Priority
                | SyncedField::Milestone => body.insert("labels".into(), json!(labels(fields))),
                // Not carried (its items have no such fields): never sent.
                SyncedField::EstimatedHours
                | SyncedField::ActualHours
                | SyncedField::AcceptanceCriteria
                | SyncedField::DueDate
                | SyncedField::Points => None,
            };
        }
        let resp = self
            .client
            .patch(&format!("/items/{remote_id}"))
            .json(&Value::Object(body))
            .send()
            .await
            .map_err(sync_err)?;
        let item: Item = resp.json().map_err(sync_err)?;
        to_remote(&item)
    }

    async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, SyncError> {
        let mut req = self.client.get("/items").query("per_page", "100");
        if let Some(c) = cursor {
            req = req.query("since", c);
        }
        let mut items = Vec::new();
        let mut newest = cursor.map(str::to_string);
        let mut pages = devlog_http::Pages::new(req, devlog_http::LinkHeader);
        while let Some(page) = pages.next_page().await {
            let resp = page.map_err(sync_err)?;
            let page: Vec<Item> = resp.json().map_err(sync_err)?;
            for it in &page {
                let ts = it.updated_at.to_rfc3339();
                if newest.as_deref().is_none_or(|n| ts.as_str() > n) {
                    newest = Some(ts);
                }
                items.push(to_remote(it)?);
            }
        }
        Ok(PullPage {
            items,
            next_cursor: newest,
            more: false,
            ..PullPage::default()
        })
    }
}
