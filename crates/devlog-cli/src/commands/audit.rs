//! `devlog audit`: the tamper-evident audit log (devlog-core `audit`; docs/security.md).

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use devlog_core::audit::{
    Action, AuditLog, AuditRecord, Draft, PublicKey, RemoteEffect, Stored, Verifier, What,
};
use devlog_core::error::StoreError;
use devlog_core::event::EventKind;
use devlog_core::event::{Origin, WriteMeta};
use devlog_core::id::EntryId;
use devlog_core::time::{Clock, SystemClock, Timestamp};
use serde_json::Value;

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, count, truncate, write_stdout};
use crate::progress::Bar;

/// The audit log: every change with who, from where, when and what (before and after),
/// hash-chained so that edits, deletions and reordering are detected
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List records, oldest first (the newest --limit that match)
    List(ListArgs),
    /// Show one record in full
    Show(ShowArgs),
    /// Write every record as JSON lines or CSV
    Export(ExportArgs),
    /// Check the hash chain and the signed checkpoints; exits non-zero naming the first
    /// record where it breaks
    Verify(VerifyArgs),
    /// Print the public key that checks the checkpoints' signatures (creating the signing
    /// key, `.devlog/.state/audit-key` or $DEVLOG_AUDIT_KEY_FILE, if there is none yet)
    Key(KeyArgs),
    /// Append a signed checkpoint over the last record now
    Checkpoint,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check checkpoints against this public key (a file holding its hex, from `devlog
    /// audit key`) instead of this workspace's signing key: for an external verifier
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Write the public key to this file too
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records at or after this time (RFC 3339, or a date: 2026-12-01)
    #[arg(long)]
    pub since: Option<String>,
    /// Only records of this entry (handle, id, id prefix or key)
    #[arg(long)]
    pub entry: Option<String>,
    /// Only records by this actor (exact: `ann`, `sync:github`). Not `--actor`: that one
    /// (and `DEVLOG_ACTOR`) names who is acting, for every command
    #[arg(id = "by", long = "by", value_name = "ACTOR")]
    pub actor: Option<String>,
    /// At most this many records, the newest that match (0: all)
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The record's sequence number
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// Write to this file instead of standard output
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// Records per read.
const PAGE: usize = 10_000;

pub async fn run(ctx: &Ctx, a: AuditArgs) -> Result<(), CliError> {
    if let AuditCommand::Key(k) = &a.command {
        return key(ctx, k).await;
    }
    let store = ctx.store().await?;
    let Some(log) = store.audit_log() else {
        return Err(CliError::Usage(format!(
            "the {} store keeps no audit log",
            store.describe().backend
        )));
    };
    match a.command {
        AuditCommand::List(l) => list(ctx, log, l).await,
        AuditCommand::Show(s) => show(ctx, log, s.seq).await,
        AuditCommand::Export(e) => export(log, e).await,
        AuditCommand::Verify(v) => verify(ctx, log, v).await,
        AuditCommand::Checkpoint => {
            let ws = ctx.workspace()?;
            match checkpoint(&ws.devlog_dir, log, ctx.actor.clone(), Origin::Cli).await? {
                Some(r) => write_stdout(&format!(
                    "checkpoint {} signed over record {} ({})\n",
                    r.seq,
                    r.seq - 1,
                    short(&r.prev)
                ))?,
                None => {
                    write_stdout("nothing to sign: the log is empty or ends with a checkpoint\n")?
                }
            }
            Ok(())
        }
        AuditCommand::Key(_) => unreachable!("handled above"),
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// Appends a checkpoint signed with the workspace's key (devlog-store
/// `audit::sign_checkpoint`: the key made and recorded if needed, the checkpoint noted in
/// `.devlog/.state/audit-checkpoint`), by `actor` through `origin` (`cli`; `http` for
/// `serve`, `sync` for `worker`).
pub async fn checkpoint(
    devlog_dir: &std::path::Path,
    log: &dyn AuditLog,
    actor: Option<String>,
    origin: Origin,
) -> Result<Option<AuditRecord>, CliError> {
    Ok(devlog_store::audit::sign_checkpoint(devlog_dir, log, actor, origin).await?)
}

/// [`checkpoint`] after a command's batch of writes: a failure is a warning, not the
/// command's failure (its writes are done and recorded; the next checkpoint covers them).
pub async fn checkpoint_after_batch(ctx: &Ctx, store: &dyn devlog_core::store::Store) {
    checkpoint_as(ctx, store, Origin::Cli).await
}

/// [`checkpoint_after_batch`] by a process other than a command: `serve` (`http`) and
/// `worker` (`sync`) housekeeping.
pub async fn checkpoint_as(ctx: &Ctx, store: &dyn devlog_core::store::Store, origin: Origin) {
    let (Ok(ws), Some(log)) = (ctx.workspace(), store.audit_log()) else {
        return;
    };
    if let Err(e) = checkpoint(&ws.devlog_dir, log, ctx.actor.clone(), origin).await {
        eprintln!("warning: the audit log's checkpoint was not written: {e}");
    }
}

/// A remote effect a command made outside the sync engine (`link`, `ado run`, `jira sprint
/// add`, `github pr`, a GitHub release, …), for [`record_effects`].
#[derive(Debug, Clone)]
pub struct Effect {
    /// The integration (`github`, `jira`, `azure-devops`).
    pub integration: String,
    pub effect: RemoteEffect,
    /// The remote object (the item, the run, the release).
    pub remote_id: String,
    /// The remote item the object belongs to, when it is not the item itself.
    pub item: Option<String>,
    pub url: Option<String>,
    /// The same on every retry of the command that made the effect: the log keeps one record.
    pub effect_id: String,
    /// The entry it was made for (`id`, `#handle`), if any.
    pub entry: Option<(EntryId, u64)>,
}

impl Effect {
    pub fn new(
        integration: &str,
        effect: RemoteEffect,
        remote_id: impl Into<String>,
        effect_id: String,
    ) -> Effect {
        Effect {
            integration: integration.to_string(),
            effect,
            remote_id: remote_id.into(),
            item: None,
            url: None,
            effect_id,
            entry: None,
        }
    }

    pub fn for_entry(mut self, id: EntryId, handle: u64) -> Effect {
        self.entry = Some((id, handle));
        self
    }

    pub fn url(mut self, url: Option<&str>) -> Effect {
        self.url = url.map(str::to_string);
        self
    }

    pub fn item(mut self, item: impl Into<String>) -> Effect {
        self.item = Some(item.into());
        self
    }

    fn into_action(self) -> (Action, Option<(EntryId, u64)>) {
        (
            Action::RemoteEffect {
                integration: self.integration,
                effect: self.effect,
                remote_id: self.remote_id,
                item: self.item,
                url: self.url,
                effect_id: self.effect_id,
            },
            self.entry,
        )
    }
}

/// Records the remote effects a command made outside the sync engine: one `remote-effect`
/// record each (an effect id already in the log is not recorded again), as the command's
/// actor through the CLI, then a signed checkpoint. See [`record`] for failures.
pub async fn record_effects(ctx: &Ctx, effects: Vec<Effect>) {
    record(ctx, effect_drafts(effects, &ctx.meta())).await
}

/// [`record_effects`] for a caller that is not a command with a [`Ctx`] (a workflow step in
/// the CLI's step host): the records are `by`'s (its actor, origin and source) in `store`,
/// then a signed checkpoint by the same actor. Failures are said on stderr, as there.
pub async fn record_effects_by(
    devlog_dir: &std::path::Path,
    store: &dyn devlog_core::store::Store,
    by: &WriteMeta,
    effects: Vec<Effect>,
) {
    let Some(log) = store.audit_log() else {
        return;
    };
    let drafts = effect_drafts(effects, by);
    if drafts.is_empty() {
        return;
    }
    let names = drafts.clone();
    match log.audit_append(drafts).await {
        Ok(_) => {
            if let Err(e) = checkpoint(devlog_dir, log, by.actor.clone(), by.origin).await {
                eprintln!("warning: the audit log's checkpoint was not written: {e}");
            }
        }
        Err(e) => not_recorded(&names, &e),
    }
}

fn effect_drafts(effects: Vec<Effect>, by: &WriteMeta) -> Vec<Draft> {
    let now = SystemClock.now();
    effects
        .into_iter()
        .map(|e| {
            let (action, entry) = e.into_action();
            let d = Draft::action(now, by.actor.clone(), by.origin, action)
                .with_source(by.source.clone());
            match entry {
                Some((id, handle)) => d.for_entry(id, handle),
                None => d,
            }
        })
        .collect()
}

/// Records an administrative change a command made (a plugin installed, a workflow switched
/// off, …; never a secret): one action record as the command's actor through the CLI, then a
/// signed checkpoint. See [`record`] for failures.
pub async fn record_action(ctx: &Ctx, action: Action) {
    record(
        ctx,
        vec![Draft::action(
            SystemClock.now(),
            ctx.actor.clone(),
            Origin::Cli,
            action,
        )],
    )
    .await
}

/// Appends `drafts` to the workspace's audit log, then signs a checkpoint. The change they
/// describe is already made, so a failure (no store, a write error) is not the command's:
/// it is said loudly on stderr, naming what was not recorded.
async fn record(ctx: &Ctx, drafts: Vec<Draft>) {
    match ctx.store().await {
        Ok(store) => record_in(ctx, &*store, drafts).await,
        Err(e) => not_recorded(&drafts, &e),
    }
}

/// [`record`] into an open store.
pub async fn record_in(ctx: &Ctx, store: &dyn devlog_core::store::Store, drafts: Vec<Draft>) {
    let Some(log) = store.audit_log() else {
        return;
    };
    if drafts.is_empty() {
        return;
    }
    let names = drafts.clone();
    match log.audit_append(drafts).await {
        Ok(_) => checkpoint_after_batch(ctx, store).await,
        Err(e) => not_recorded(&names, &e),
    }
}

fn not_recorded(drafts: &[Draft], e: &dyn std::fmt::Display) {
    let names: Vec<&str> = drafts.iter().map(|d| d.what.name()).collect();
    eprintln!(
        "warning: the change was made but not recorded in the audit log ({}): {e}",
        names.join(", ")
    );
}

async fn key(ctx: &Ctx, a: &KeyArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let path = devlog_store::audit::key_path(&ws.devlog_dir);
    let store = ctx.store().await?;
    let key = match store.audit_log() {
        Some(log) => {
            devlog_store::audit::signing_key(&ws.devlog_dir, log, ctx.actor.clone(), Origin::Cli)
                .await?
        }
        None => devlog_store::audit::load_or_create_key(&path)?,
    };
    let public = key.public_hex();
    if let Some(o) = &a.output {
        std::fs::write(o, format!("{public}\n"))
            .map_err(|e| CliError::Store(StoreError::write_io(o.display().to_string(), e)))?;
    }
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "algorithm": "ed25519",
            "publicKey": public,
            "keyFile": path.display().to_string(),
        }))?;
    } else {
        write_stdout(&format!("{public}\n"))?;
    }
    Ok(())
}

/// Calls `f` with every stored item, oldest first, in pages.
async fn each(
    log: &dyn AuditLog,
    mut f: impl FnMut(&Stored) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut after = 0;
    loop {
        let page = log.audit_page(after, PAGE).await?;
        if page.is_empty() {
            return Ok(());
        }
        for item in &page {
            f(item)?;
        }
        // An unreadable item has no seq of its own: continue after the last readable one,
        // or stop if a whole page is unreadable (it would be read again).
        match page.iter().rev().find_map(|s| match s {
            Stored::Record(r) => Some(r.seq),
            Stored::Unreadable { .. } => None,
        }) {
            Some(seq) if seq > after => after = seq,
            _ => return Ok(()),
        }
        if page.len() < PAGE {
            return Ok(());
        }
    }
}

fn parse_since(s: &str) -> Result<Timestamp, CliError> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    full.parse::<Timestamp>()
        .map_err(|e| CliError::Usage(format!("--since: {e} (or a date: 2026-12-01)")))
}

async fn list(ctx: &Ctx, log: &dyn AuditLog, a: ListArgs) -> Result<(), CliError> {
    let since = a.since.as_deref().map(parse_since).transpose()?;
    let entry = match &a.entry {
        Some(r) => Some(ctx.app().await?.resolve_summary(r).await?.id),
        None => None,
    };
    let limit = if a.limit == 0 { usize::MAX } else { a.limit };
    let mut hits: VecDeque<AuditRecord> = VecDeque::new();
    let mut unreadable = 0u64;
    each(log, |item| {
        let r = match item {
            Stored::Record(r) => r,
            Stored::Unreadable { .. } => {
                unreadable += 1;
                return Ok(());
            }
        };
        if since.is_some_and(|s| r.at < s)
            || entry.is_some_and(|id| r.entry_id != Some(id))
            || a.actor
                .as_ref()
                .is_some_and(|x| r.actor.as_ref() != Some(x))
        {
            return Ok(());
        }
        if hits.len() == limit {
            hits.pop_front();
        }
        hits.push_back(r.clone());
        Ok(())
    })
    .await?;
    if unreadable > 0 {
        eprintln!(
            "warning: {} of {} could not be read and {} left out; run `devlog audit verify`",
            count(unreadable as usize, "item", "items"),
            log.audit_location(),
            if unreadable == 1 { "is" } else { "are" }
        );
    }
    let hits: Vec<AuditRecord> = hits.into();
    if ctx.out.json {
        ctx.out.json(&hits)?;
        return Ok(());
    }
    if hits.is_empty() {
        write_stdout("No audit records.\n")?;
        return Ok(());
    }
    let mut t = Table::header(
        &ctx.out,
        &["SEQ", "AT", "ENTRY", "EVENT", "BY", "FROM", "CHANGE"],
    );
    for r in &hits {
        let cells = [
            r.seq.to_string(),
            r.at.to_string(),
            r.handle.map_or_else(|| "-".into(), |h| format!("#{h}")),
            r.what.name().to_string(),
            r.actor.clone().unwrap_or_else(|| "-".into()),
            from(r),
            truncate(&detail(r), 60),
        ];
        t.row(cells.into_iter().map(|c| (c.clone(), c)).collect());
    }
    write_stdout(&t.render())?;
    Ok(())
}

/// The origin with the client address, webhook delivery or workflow run.
fn from(r: &AuditRecord) -> String {
    let mut s = r.origin.as_str().to_string();
    if let Some(c) = &r.source.client {
        s.push_str(&format!(" {c}"));
    }
    if let Some(d) = &r.source.delivery {
        s.push_str(&format!(" delivery {d}"));
    }
    if let Some(w) = &r.source.workflow {
        s.push_str(&format!(" workflow {w}"));
    }
    s
}

/// Before → after of what changed, in one line.
fn detail(r: &AuditRecord) -> String {
    if let What::Action(a) = &r.what {
        return action_detail(a);
    }
    match before_after(&r.what) {
        (Some(b), Some(a)) => format!("{}: {b} → {a}", r.field().unwrap_or("")),
        (None, Some(a)) => format!("{}: {a}", r.field().unwrap_or("")),
        _ => String::new(),
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// What an action did, in one line (never a secret: token records hold none).
fn action_detail(a: &Action) -> String {
    match a {
        Action::TokenCreated {
            name,
            role,
            scope,
            expires_at,
            ..
        } => {
            let mut s = format!("token {name} ({role})");
            if let Some(sc) = scope {
                s.push_str(&format!(" scope {sc}"));
            }
            if let Some(x) = expires_at {
                s.push_str(&format!(" expires {x}"));
            }
            s
        }
        Action::TokenRevoked { name, .. } => format!("token {name}"),
        Action::Purged {
            scheduled,
            before,
            purged,
            ..
        } => format!(
            "{} closed before {before}{}",
            count(*purged as usize, "entry", "entries"),
            if *scheduled { " (scheduled)" } else { "" }
        ),
        Action::RemoteEffect {
            integration,
            remote_id,
            item,
            url,
            ..
        } => {
            let mut s = format!("{integration} {remote_id}");
            if let Some(i) = item {
                s.push_str(&format!(" on {i}"));
            }
            if let Some(u) = url {
                s.push_str(&format!(" {u}"));
            }
            s
        }
        Action::PluginInstalled {
            name,
            version,
            dir,
            sha256,
        } => format!(
            "plugin {name} {version} in {dir} (sha256:{})",
            short(sha256)
        ),
        Action::PluginRemoved { name, dir } => format!("plugin {name} from {dir}"),
        Action::WorkflowEnabled { name } | Action::WorkflowDisabled { name } => {
            format!("workflow {name}")
        }
        Action::AuditKeyCreated { key, file } => format!("key {} in {file}", short(key)),
        Action::Checkpoint { covers, key, .. } => {
            format!("signed record {covers} with key {}", short(key))
        }
    }
}

/// The before and after of an event, as text (for the table and CSV); an action's detail
/// as its after.
fn before_after(w: &What) -> (Option<String>, Option<String>) {
    let k = match w {
        What::Entry(k) => k,
        What::Action(a) => return (None, Some(action_detail(a))),
    };
    match k {
        EventKind::FieldChanged { old, new, .. } => (Some(compact(old)), Some(compact(new))),
        EventKind::StatusChanged { from, to, .. } => (Some(from.to_string()), Some(to.to_string())),
        EventKind::Completed { status } => (None, Some(status.to_string())),
        EventKind::NoteEdited { old, new, .. } => (Some(old.clone()), Some(new.clone())),
        EventKind::NoteDeleted { note, .. } => (Some(note.content.clone()), None),
        EventKind::NoteAdded { note_id, category } => (None, Some(format!("{category} {note_id}"))),
        EventKind::DecisionAdded { decision_id } => (None, Some(decision_id.clone())),
        EventKind::Linked {
            system,
            external_id,
        } => (None, Some(format!("{system} {external_id}"))),
        EventKind::Created | EventKind::Deleted => (None, None),
    }
}

async fn show(ctx: &Ctx, log: &dyn AuditLog, seq: u64) -> Result<(), CliError> {
    let found = match seq.checked_sub(1) {
        Some(after) => log.audit_page(after, 1).await?,
        None => Vec::new(),
    };
    let r = match found.first() {
        Some(Stored::Record(r)) if r.seq == seq => r.clone(),
        Some(Stored::Unreadable { place, reason }) => {
            return Err(CliError::Store(StoreError::Corrupt {
                path: log.audit_location(),
                message: format!("{place} after record {} is unreadable: {reason}", seq - 1),
                hint: "run `devlog audit verify`".into(),
            }));
        }
        _ => {
            return Err(CliError::Store(StoreError::not_found(format!(
                "audit record {seq} (the log holds {})",
                count(log.audit_count().await? as usize, "item", "items")
            ))));
        }
    };
    if ctx.out.json {
        ctx.out.json(&r)?;
        return Ok(());
    }
    let mut text = format!(
        "record {}\n  at      {}\n  by      {}\n  from    {}\n",
        r.seq,
        r.at,
        r.actor.as_deref().unwrap_or("-"),
        from(&r),
    );
    if let (Some(h), Some(id)) = (r.handle, r.entry_id) {
        text.push_str(&format!("  entry   #{h} {id}\n"));
    }
    text.push_str(&format!(
        "  {}  {}\n",
        if r.what.action().is_some() {
            "action"
        } else {
            "event "
        },
        r.what.name()
    ));
    if let Some(Action::RemoteEffect {
        integration,
        effect,
        remote_id,
        item,
        url,
        effect_id,
    }) = r.what.action()
    {
        text.push_str(&format!(
            "  remote  {integration} {} {remote_id}\n",
            serde_json::to_value(effect)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
        if let Some(i) = item {
            text.push_str(&format!("  item    {i}\n"));
        }
        if let Some(u) = url {
            text.push_str(&format!("  url     {u}\n"));
        }
        text.push_str(&format!("  effect  {effect_id}\n"));
    }
    if let Some(c) = &r.change {
        text.push_str(&format!("  change  {c}\n"));
    }
    let (b, a) = match r.what.action() {
        Some(Action::RemoteEffect { .. }) => (None, None),
        Some(a) => (None, Some(action_detail(a))),
        None => before_after(&r.what),
    };
    if let Some(f) = r.field() {
        text.push_str(&format!("  field   {f}\n"));
    }
    if let Some(b) = b {
        text.push_str(&format!("  before  {b}\n"));
    }
    if let Some(a) = a {
        text.push_str(&format!("  after   {a}\n"));
    }
    text.push_str(&format!("  prev    {}\n  hash    {}\n", r.prev, r.hash));
    write_stdout(&text)?;
    Ok(())
}

const CSV_HEADER: &str =
    "seq,at,actor,origin,client,delivery,entry_id,handle,change,event,field,before,after,prev,hash";

fn csv_field(s: &str) -> String {
    // Quote when needed; a leading formula character is prefixed so spreadsheets show text.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_row(r: &AuditRecord) -> String {
    let (b, a) = before_after(&r.what);
    let cells = [
        r.seq.to_string(),
        r.at.to_string(),
        r.actor.clone().unwrap_or_default(),
        r.origin.as_str().to_string(),
        r.source.client.clone().unwrap_or_default(),
        r.source.delivery.clone().unwrap_or_default(),
        r.entry_id.map(|i| i.to_string()).unwrap_or_default(),
        r.handle.map(|h| h.to_string()).unwrap_or_default(),
        r.change.clone().unwrap_or_default(),
        r.what.name().to_string(),
        r.field().unwrap_or_default().to_string(),
        b.unwrap_or_default(),
        a.unwrap_or_default(),
        r.prev.clone(),
        r.hash.clone(),
    ];
    let mut line = cells
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

async fn export(log: &dyn AuditLog, a: ExportArgs) -> Result<(), CliError> {
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| CliError::Store(StoreError::write_io(p.display().to_string(), e)),
        )?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let target = a
        .output
        .as_ref()
        .map_or("standard output".to_string(), |p| p.display().to_string());
    let io = |e: std::io::Error| CliError::Store(StoreError::write_io(target.clone(), e));
    if a.format == Format::Csv {
        writeln!(out, "{CSV_HEADER}").map_err(io)?;
    }
    let mut skipped = 0usize;
    each(log, |item| {
        match item {
            Stored::Record(r) => match a.format {
                Format::Jsonl => writeln!(out, "{}", r.to_line()).map_err(io)?,
                Format::Csv => out.write_all(csv_row(r).as_bytes()).map_err(io)?,
            },
            Stored::Unreadable { place, reason } => {
                skipped += 1;
                eprintln!("warning: {place} is unreadable and not exported: {reason}");
            }
        }
        Ok(())
    })
    .await?;
    out.flush().map_err(io)?;
    if skipped > 0 {
        eprintln!(
            "warning: {} left out; run `devlog audit verify`",
            count(skipped, "unreadable item", "unreadable items")
        );
    }
    Ok(())
}

/// The key checkpoints must be signed by: `--pubkey FILE`, else this workspace's signing key
/// when it has one, else none (the first checkpoint's key is then taken, and said).
fn expected_key(ctx: &Ctx, a: &VerifyArgs) -> Result<(Option<PublicKey>, String), CliError> {
    if let Some(p) = &a.pubkey {
        let text = std::fs::read_to_string(p)
            .map_err(|e| CliError::Store(StoreError::io(p.display().to_string(), e)))?;
        let key = text.parse::<PublicKey>().map_err(|_| {
            CliError::Usage(format!(
                "--pubkey {}: not an Ed25519 public key (64 hex digits, as `devlog audit key` \
                 prints)",
                p.display()
            ))
        })?;
        return Ok((Some(key), format!("the key in {}", p.display())));
    }
    let Ok(ws) = ctx.workspace() else {
        return Ok((None, String::new()));
    };
    let path = devlog_store::audit::key_path(&ws.devlog_dir);
    Ok(match devlog_store::audit::load_key(&path)? {
        Some(k) => (
            Some(k.public()),
            format!("the signing key {}", path.display()),
        ),
        None => (None, String::new()),
    })
}

async fn verify(ctx: &Ctx, log: &dyn AuditLog, a: VerifyArgs) -> Result<(), CliError> {
    let (key, key_source) = expected_key(ctx, &a)?;
    let total = log.audit_count().await?;
    let bar = Bar::new("verifying", ctx.out.json);
    let mut v = match key.clone() {
        Some(k) => Verifier::with_key(k),
        None => Verifier::new(),
    };
    let mut done = 0u64;
    let result = each(log, |item| {
        v.check_stored(item).map_err(|b| {
            CliError::Store(StoreError::Corrupt {
                path: log.audit_location(),
                message: b.to_string(),
                hint: "the audit log was changed outside devlog; compare it with an export or \
                       a backup to see what"
                    .into(),
            })
        })?;
        done += 1;
        if done.is_multiple_of(10_000) {
            bar.set(done, total);
        }
        Ok(())
    })
    .await;
    bar.finish();
    result?;
    let head = v.head().clone();
    if head.seq != total {
        return Err(CliError::Store(StoreError::Corrupt {
            path: log.audit_location(),
            message: format!(
                "the chain ends at record {} but the log holds {}",
                head.seq,
                count(total as usize, "item", "items")
            ),
            hint: "run `devlog audit list --limit 0 --json` to see what follows".into(),
        }));
    }
    // A checkpoint this workspace signed that the log no longer reaches, or holds with
    // another hash: the tail was cut (or rewritten) after it.
    if a.pubkey.is_none()
        && let Ok(ws) = ctx.workspace()
        && let Some(signed) = devlog_store::audit::read_signed(&ws.devlog_dir)
    {
        let held = if signed.seq <= head.seq {
            match log
                .audit_page(signed.seq.saturating_sub(1), 1)
                .await?
                .first()
            {
                Some(Stored::Record(r)) => Some(r.hash.clone()),
                _ => None,
            }
        } else {
            None
        };
        if held.as_deref() != Some(signed.hash.as_str()) {
            return Err(CliError::Store(StoreError::Corrupt {
                path: log.audit_location(),
                message: if signed.seq > head.seq {
                    format!(
                        "the log ends at record {} but this workspace signed checkpoint {} \
                         (noted in .devlog/.state/{}): the tail after record {} was cut off",
                        head.seq,
                        signed.seq,
                        devlog_store::audit::SIGNED_FILE,
                        head.seq
                    )
                } else {
                    format!(
                        "record {} is not the checkpoint this workspace signed there (noted in \
                         .devlog/.state/{}): the log was rewritten from there on",
                        signed.seq,
                        devlog_store::audit::SIGNED_FILE
                    )
                },
                hint: "compare the log with an export or a backup to see what is missing".into(),
            }));
        }
    }
    let last = v.last_checkpoint().map(|c| c.seq);
    let unsigned = v.unsigned_tail();
    let signer = v.key().map(|k| k.to_string());
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "ok": true,
            "records": head.seq,
            "head": head.hash,
            "checkpoints": v.checkpoints(),
            "lastCheckpoint": last,
            "unsignedTail": unsigned,
            "key": signer,
            "location": log.audit_location(),
        }))?;
    } else {
        let mut text = format!(
            "audit log verified: {} chained, head {} ({})\n",
            count(head.seq as usize, "record", "records"),
            head.hash,
            log.audit_location()
        );
        match last {
            Some(l) => text.push_str(&format!(
                "{} valid, the last at record {l}, signed by {} ({})\n",
                count(v.checkpoints() as usize, "checkpoint", "checkpoints"),
                signer.as_deref().unwrap_or(""),
                if key.is_some() {
                    key_source.as_str()
                } else {
                    "the key the first checkpoint names: pass --pubkey FILE to pin it"
                }
            )),
            None => text.push_str("no signed checkpoint: run `devlog audit checkpoint`\n"),
        }
        if unsigned > 0 {
            text.push_str(&format!(
                "{} after the last checkpoint {} not covered by a signature (cutting them off \
                 would go unnoticed until the next checkpoint)\n",
                count(unsigned as usize, "record", "records"),
                if unsigned == 1 { "is" } else { "are" }
            ));
        }
        write_stdout(&text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
