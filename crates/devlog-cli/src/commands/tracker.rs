//! What `devlog github`, `devlog jira` and `devlog ado` share: linking an entry to an existing issue
//! unlinking it, syncing with one integration, and its status. Each integration says how its
//! issues are named and marked ([`Tracker`]); the flows are written once here.

use std::sync::Arc;

use async_trait::async_trait;
use devlog_core::integration::{Integration, RemoteAction, RemoteItem, SyncError};
use devlog_core::{Entry, EntryId};
use devlog_sync::{SyncEngine, SyncOptions, SyncReport};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::audit::Effect;
use crate::config::ConfigError;
use crate::error::CliError;
use crate::output::{Table, write_stdout};
use crate::workspace::Workspace;
use devlog_core::audit::RemoteEffect;

/// An issue tracker `devlog <name> link|unlink|sync|status` works with.
#[async_trait]
pub trait Tracker: Send + Sync {
    /// The integration's name (`github`, `jira`): its table, its command.
    fn name(&self) -> &'static str;
    /// As people write it (`GitHub`, `Jira`).
    fn display(&self) -> &'static str;
    /// What its items are called in messages (`issue`; Azure DevOps: `work item`).
    fn noun(&self) -> &'static str {
        "issue"
    }
    fn integration(&self) -> Arc<dyn Integration>;
    /// How an issue is written in messages (`#12`, `DEV-12`).
    fn label(&self, remote_id: &str) -> String;
    /// The issue in JSON output (`12`, `"DEV-12"`).
    fn item_json(&self, remote_id: &str) -> Value;
    /// Puts the entry's marker on the issue; the issue as the engine links it.
    async fn adopt(&self, remote_id: &str, entry: EntryId) -> Result<RemoteItem, SyncError>;
    /// Removes the marker (after an unlink), so no later sync adopts the issue again.
    async fn release(&self, remote_id: &str) -> Result<(), SyncError>;
    /// The conversation so far, as actions that make it the entry's notes.
    async fn conversation(&self, remote_id: &str) -> Result<Vec<RemoteAction>, SyncError>;
    /// `status`: the configuration as JSON fields, and the first line of the text output.
    fn status_header(&self) -> (Map<String, Value>, String);
    /// `status`: the JSON key and column of the objects attached to entries (pull requests),
    /// if the tracker has any.
    fn attachments(&self) -> Option<(&'static str, &'static str)> {
        None
    }
    /// `status REF`: more about the one linked issue, read from the remote (Jira: its sprint),
    /// as JSON fields and text lines. Asked only when one entry is named (one request, not
    /// one per linked entry).
    async fn details(
        &self,
        remote_id: &str,
    ) -> Result<(Map<String, Value>, Vec<String>), SyncError> {
        let _ = remote_id;
        Ok((Map::new(), Vec::new()))
    }
    /// `status`: the lines saying how far pulls got, from the pull cursor.
    fn cursor_lines(&self, cursor: &Value) -> Vec<String> {
        cursor
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| format!("{k} pulled up to {v}")))
            .collect()
    }
}

/// The `[integrations.<name>]` table, validated through the registry (errors name the key),
/// or an error saying how to configure it (`how`).
pub fn table(ws: &Workspace, name: &str, how: &str) -> Result<Value, CliError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let tables =
        crate::config::integration_tables(&ws.config, &ws.root, &env).map_err(CliError::Config)?;
    let table = tables
        .get(name)
        .ok_or_else(|| CliError::Usage(how.to_string()))?;
    super::sync::registry()
        .build(&[(name.to_string(), table.clone())].into_iter().collect())
        .map_err(|p| {
            config_err(
                ws,
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
    Ok(table.clone())
}

pub fn config_err(ws: &Workspace, message: String) -> CliError {
    CliError::Config(ConfigError {
        file: ws.config.source.clone(),
        message,
    })
}

/// A sync engine over one integration, sharing the workspace's sync state.
pub async fn engine(ws: &Workspace, i: Arc<dyn Integration>) -> Result<SyncEngine, CliError> {
    let store = ws.open().await?;
    let state = super::sync::open_state(ws).await?;
    Ok(SyncEngine::new(
        store,
        state,
        vec![i],
        SyncOptions::default(),
    ))
}

/// The remote ids of the entries' items on the engine's integration `name`, with the entries'
/// ids and handles, in the order given: every entry is resolved and checked to be linked before the
/// caller moves anything. An entry not linked is an error saying how to link it
/// (`devlog <command> sync`, or `link REF <id_hint>`).
pub async fn linked_items(
    ctx: &Ctx,
    engine: &SyncEngine,
    tracker: &dyn Tracker,
    entries: &[String],
    id_hint: &str,
) -> Result<(Vec<String>, Vec<(EntryId, u64)>), CliError> {
    let (mut ids, mut handles) = (Vec::new(), Vec::new());
    for r in entries {
        let e = resolve(ctx, r).await?;
        let id = engine
            .state()
            .link(tracker.name(), e.id)
            .await?
            .filter(|l| l.state == devlog_sync::LinkState::Linked)
            .and_then(|l| l.remote_id)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "entry #{h} is not linked to {a}: run `devlog {cmd} sync` \
                     (or `devlog {cmd} link {h} {id_hint}`) first",
                    h = e.handle,
                    a = an(tracker),
                    cmd = command(tracker),
                ))
            })?;
        handles.push((e.id, e.handle));
        ids.push(id);
    }
    Ok((ids, handles))
}

pub fn remote_err(e: SyncError) -> CliError {
    CliError::Remote(e)
}

pub async fn resolve(ctx: &Ctx, reference: &str) -> Result<Entry, CliError> {
    Ok(ctx.app().await?.resolve(reference).await?)
}

pub fn print(
    ctx: &Ctx,
    v: &serde_json::Value,
    text: impl FnOnce() -> String,
) -> Result<(), CliError> {
    if ctx.out.json {
        ctx.out.json(v)?;
    } else {
        write_stdout(&text())?;
    }
    Ok(())
}

/// `devlog <tracker> sync`: `devlog sync --system <name>`.
pub async fn sync(
    ctx: &Ctx,
    name: &str,
    entry: Option<String>,
    plan: bool,
) -> Result<(), CliError> {
    super::sync::run(
        ctx,
        super::sync::SyncArgs {
            command: None,
            system: Some(name.into()),
            entry,
            plan,
            strategy: None,
            watch: false,
            interval: None,
        },
    )
    .await
}

/// Links an entry to the existing issue `remote_id`: the marker goes on the issue, the link
/// into the sync state, the conversation into the entry's notes.
pub async fn link(
    ctx: &Ctx,
    ws: &Workspace,
    t: &dyn Tracker,
    reference: &str,
    remote_id: &str,
) -> Result<(), CliError> {
    let entry = resolve(ctx, reference).await?;
    let engine = engine(ws, t.integration()).await?;
    let name = t.name();
    // One issue per entry: moving it to another issue is an explicit unlink first.
    if let Some(l) = engine.state().link(name, entry.id).await?
        && l.state == devlog_sync::LinkState::Linked
        && l.remote_id.as_deref() != Some(remote_id)
    {
        return Err(CliError::Usage(format!(
            "entry #{} is already linked to {} {}; run `devlog {} unlink {}` first",
            entry.handle,
            t.noun(),
            t.label(&l.remote_id.unwrap_or_default()),
            command(t),
            entry.handle
        )));
    }
    let item = t.adopt(remote_id, entry.id).await.map_err(remote_err)?;
    // The marker on the item is a remote change: audited, keyed by the item's version after
    // it (a retry finds the marker in place, the same version, and records nothing more).
    let version = item
        .version
        .clone()
        .unwrap_or_else(|| item.updated_at.millis().to_string());
    super::audit::record_effects(
        ctx,
        vec![
            Effect::new(
                name,
                RemoteEffect::ItemLinked,
                remote_id,
                format!("{name}/item-linked/{}/{remote_id}/{version}", entry.id),
            )
            .for_entry(entry.id, entry.handle)
            .url(item.url.as_deref()),
        ],
    )
    .await;
    engine.link(name, entry.id, &item).await?;
    let actions = t.conversation(remote_id).await.map_err(remote_err)?;
    let mut report = SyncReport::default();
    engine.apply_actions(name, &actions, &mut report).await?;
    let out = json!({"entry": entry.handle, "issue": t.item_json(remote_id), "url": item.url, "comments": actions.len()});
    print(ctx, &out, || {
        format!(
            "Linked #{} to {} {}{}; {} comment(s) imported as notes. `devlog {} sync` pushes the entry's fields.\n",
            entry.handle,
            t.noun(),
            t.label(remote_id),
            item.url
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default(),
            actions.len(),
            command(t)
        )
    })
}

/// The `devlog <command>` of a tracker (`github`, `jira`, `ado`).
fn command(t: &dyn Tracker) -> &'static str {
    match t.name() {
        "azure-devops" => "ado",
        n => n,
    }
}

/// `a Jira issue`, `an Azure DevOps work item`.
fn an(t: &dyn Tracker) -> String {
    let article = if t.display().starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {} {}", t.display(), t.noun())
}

/// Stops syncing an entry with its issue; the issue stays, without the marker.
pub async fn unlink(
    ctx: &Ctx,
    ws: &Workspace,
    t: &dyn Tracker,
    reference: &str,
) -> Result<(), CliError> {
    let entry = resolve(ctx, reference).await?;
    let noun = t.noun();
    let engine = engine(ws, t.integration()).await?;
    let Some(remote) = engine.unlink(t.name(), entry.id).await? else {
        return Err(CliError::Usage(format!(
            "entry #{} is not linked to {}",
            entry.handle,
            an(t)
        )));
    };
    t.release(&remote).await.map_err(remote_err)?;
    // A retry finds the entry unlinked and stops before this: the time keys each unlink.
    let at = chrono::Utc::now().timestamp_millis();
    super::audit::record_effects(
        ctx,
        vec![
            Effect::new(
                t.name(),
                RemoteEffect::ItemUnlinked,
                remote.as_str(),
                format!("{}/item-unlinked/{}/{remote}/{at}", t.name(), entry.id),
            )
            .for_entry(entry.id, entry.handle),
        ],
    )
    .await;
    // The remote id as the sync state holds it (a string, as `devlog github unlink` always said).
    let out = json!({"entry": entry.handle, "issue": remote, "unlinked": true});
    print(ctx, &out, || {
        format!(
            "Unlinked #{} from {noun} {}; the {noun} stays on {} and later syncs leave both alone\n",
            entry.handle,
            t.label(&remote),
            t.display()
        )
    })
}

/// Configuration, linked entries (all, or the one `only` names), queued and failed jobs,
/// conflicts, the pull position; with `check`, the connection too (its failure is the
/// command's error).
pub async fn status(
    ctx: &Ctx,
    ws: &Workspace,
    t: &dyn Tracker,
    check: bool,
    only: Option<&str>,
) -> Result<(), CliError> {
    let integration = t.integration();
    let engine = engine(ws, integration.clone()).await?;
    let name = t.name();
    let only = match only {
        Some(r) => Some(resolve(ctx, r).await?.id),
        None => None,
    };
    let st = engine.state();
    let store = ws.open().await?;
    let links: Vec<_> = st
        .links()
        .await?
        .into_iter()
        .filter(|l| l.integration == name && only.is_none_or(|e| e == l.entry_id))
        .collect();
    let jobs: Vec<_> = st
        .open_jobs()
        .await?
        .into_iter()
        .filter(|j| j.integration == name && only.is_none_or(|e| e == j.entry_id))
        .collect();
    let conflicts: Vec<_> = st
        .open_conflicts()
        .await?
        .into_iter()
        .filter(|c| c.integration == name && only.is_none_or(|e| e == c.entry_id))
        .collect();
    let cursor = st.cursor(name, devlog_sync::CursorKind::Pull).await?;
    let cursor: Value = cursor
        .as_deref()
        .map(|c| serde_json::from_str(c).unwrap_or_else(|_| json!({"issues": c})))
        .unwrap_or(json!({}));
    let now = chrono::Utc::now().timestamp_millis();
    let paused = st.paused_until(name, now).await?;
    let mut failed_check = None;
    let health = if check {
        Some(match integration.health().await {
            Ok(h) => json!({"ok": h.ok, "message": h.message}),
            Err(e) => {
                let v = json!({"ok": false, "message": e.message});
                failed_check = Some(e);
                v
            }
        })
    } else {
        None
    };
    let mut rows = Vec::new();
    let mut detail_lines = Vec::new();
    for l in &links {
        let (handle, title, board) = match store.get(l.entry_id).await {
            Ok(e) => {
                // Where the item sat on its board at the last pull (Azure DevOps).
                let board = e
                    .external_references
                    .iter()
                    .find(|r| r.system == name && Some(r.id.as_str()) == l.remote_id.as_deref())
                    .and_then(|r| r.board.clone());
                (e.handle, e.title, board)
            }
            Err(_) => (0, String::from("(deleted)"), None),
        };
        let job = jobs.iter().find(|j| j.entry_id == l.entry_id);
        let state = match job {
            Some(j) if j.state == devlog_sync::JobState::Dead => format!(
                "failed (job {}): {}",
                j.id,
                j.last_error.clone().unwrap_or_default()
            ),
            // Rescheduled (throttled, or failed and backing off): when it runs again.
            Some(j) if j.next_at > now => format!(
                "pending (job {}, next try in {}s{})",
                j.id,
                (j.next_at - now + 999) / 1000,
                j.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            Some(j) => format!("pending (job {})", j.id),
            None if l.state == devlog_sync::LinkState::Linked => "synced".into(),
            None => l.state.as_str().to_string(),
        };
        let mut row = json!({
            "entry": handle, "entryId": l.entry_id, "title": title,
            "issue": l.remote_id, "url": l.url, "state": state,
        });
        if let Some(b) = &board {
            row["board"] = json!(b);
        }
        if let Some((key, _)) = t.attachments() {
            let attached = st.attachments(name, l.entry_id).await?;
            row[key] = attached
                .iter()
                .map(|(_, n, u)| json!({"number": n, "url": u}))
                .collect();
        }
        if only.is_some()
            && let Some(remote) = l.remote_id.as_deref()
            && l.state == devlog_sync::LinkState::Linked
        {
            let (fields, lines) = t.details(remote).await.map_err(remote_err)?;
            for (k, v) in fields {
                row[k] = v;
            }
            detail_lines.extend(lines);
        }
        rows.push(row);
    }
    let (header, first_line) = t.status_header();
    let mut out = Value::Object(header);
    out["health"] = json!(health);
    out["paused"] = json!(
        paused
            .as_ref()
            .map(|(until, reason)| json!({"until": until, "reason": reason}))
    );
    out["pullCursor"] = cursor.clone();
    out["linked"] = json!(rows);
    out["pendingJobs"] = json!(
        jobs.iter()
            .filter(|j| j.state != devlog_sync::JobState::Dead)
            .count()
    );
    out["failedJobs"] = json!(
        jobs.iter()
            .filter(|j| j.state == devlog_sync::JobState::Dead)
            .count()
    );
    out["conflicts"] = json!(conflicts.len());
    if ctx.out.json {
        ctx.out.json(&out)?;
        return failed_check.map_or(Ok(()), |e| Err(remote_err(e)));
    }
    let mut s = format!("{first_line}\n");
    if let Some(h) = &out["health"].as_object() {
        s.push_str(&format!(
            "connection: {}\n",
            h.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
        ));
    }
    if let Some((until, reason)) = &paused {
        s.push_str(&format!(
            "paused for {}s: {reason}\n",
            (until - now + 999) / 1000
        ));
    }
    s.push_str(&format!(
        "{} linked, {} pending, {} failed, {} conflict(s)\n",
        links
            .iter()
            .filter(|l| l.state == devlog_sync::LinkState::Linked)
            .count(),
        out["pendingJobs"],
        out["failedJobs"],
        conflicts.len()
    ));
    for line in t.cursor_lines(&cursor) {
        s.push_str(&line);
        s.push('\n');
    }
    write_stdout(&s)?;
    if !rows.is_empty() {
        let mut cols = vec!["ENTRY", "ISSUE"];
        if let Some((_, col)) = t.attachments() {
            cols.push(col);
        }
        cols.extend(["STATE", "TITLE"]);
        let mut table = Table::header(&ctx.out, &cols);
        for r in &rows {
            let mut cells = vec![
                format!("#{}", r["entry"]),
                r["issue"].as_str().map(|i| t.label(i)).unwrap_or_default(),
            ];
            if let Some((key, _)) = t.attachments() {
                let attached: Vec<String> = r[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["number"].as_str().map(|n| format!("#{n}")))
                    .collect();
                cells.push(attached.join(","));
            }
            cells.push(r["state"].as_str().unwrap_or_default().to_string());
            cells.push(r["title"].as_str().unwrap_or_default().to_string());
            table.row(cells.into_iter().map(|x| (x.clone(), x)).collect());
        }
        write_stdout(&table.render())?;
    }
    for line in detail_lines {
        write_stdout(&format!("{line}\n"))?;
    }
    // The status is shown either way; a failed check is the command's error.
    match failed_check {
        Some(e) => Err(remote_err(e)),
        None => Ok(()),
    }
}
