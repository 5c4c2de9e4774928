//! `devlog audit`: the tamper-evident audit log (devlog-core `audit`; docs/security.md).

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use devlog_core::audit::{AuditLog, AuditRecord, Stored, Verifier};
use devlog_core::error::StoreError;
use devlog_core::event::EventKind;
use devlog_core::time::Timestamp;
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
    /// Check the hash chain; exits non-zero naming the first record where it breaks
    Verify,
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
        AuditCommand::Verify => verify(ctx, log).await,
    }
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
            || entry.is_some_and(|id| r.entry_id != id)
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
            format!("#{}", r.handle),
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

/// The before and after of an event, as text (for the table and CSV).
fn before_after(k: &EventKind) -> (Option<String>, Option<String>) {
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
        "record {}\n  at      {}\n  by      {}\n  from    {}\n  entry   #{} {}\n  event   {}\n",
        r.seq,
        r.at,
        r.actor.as_deref().unwrap_or("-"),
        from(&r),
        r.handle,
        r.entry_id,
        r.what.name()
    );
    if let Some(c) = &r.change {
        text.push_str(&format!("  change  {c}\n"));
    }
    let (b, a) = before_after(&r.what);
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
        r.entry_id.to_string(),
        r.handle.to_string(),
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

async fn verify(ctx: &Ctx, log: &dyn AuditLog) -> Result<(), CliError> {
    let total = log.audit_count().await?;
    let bar = Bar::new("verifying", ctx.out.json);
    let mut v = Verifier::new();
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
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "ok": true,
            "records": head.seq,
            "head": head.hash,
            "location": log.audit_location(),
        }))?;
    } else {
        write_stdout(&format!(
            "audit log verified: {} chained, head {} ({})\n",
            count(head.seq as usize, "record", "records"),
            head.hash,
            log.audit_location()
        ))?;
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
