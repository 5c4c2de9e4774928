//! What tools answer: the structured JSON shapes and the readable text beside them.
//!
//! Texts start the way the original devlog's did ("Created devlog entry: ..."), so agents and
//! prompts written for it keep working; entries are named by handle (`#42`), which every tool
//! accepts as `id`.

use devlog_core::entry::{AiContext, Context, Entry, EntrySummary, Note};
use devlog_core::{Event, EventKind, Page, SearchHit, Stats};
use serde::Serialize;

/// How many recent notes the AI views include.
pub const RECENT_NOTES: usize = 5;

/// One line per entry: `- #12 [in-progress] Title (feature, high)`.
pub fn summary_line(s: &EntrySummary) -> String {
    format!(
        "- #{} [{}] {} ({}, {})",
        s.handle, s.status, s.title, s.kind, s.priority
    )
}

/// A short, single-line form of `s`.
pub use devlog_core::ops::first_line;

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The header every single-entry answer starts with.
pub fn entry_header(verb: &str, e: &Entry) -> String {
    format!(
        "{verb}: #{}\nId: {}\nKey: {}\nTitle: {}\nType: {}\nPriority: {}\nStatus: {}",
        e.handle, e.id, e.key, e.title, e.kind, e.priority, e.status
    )
}

/// An entry as an AI assistant needs it to pick the work up (get_context_for_ai).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AiView<'a> {
    pub id: String,
    pub handle: u64,
    pub key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_id: Option<u64>,
    pub title: &'a str,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub priority: String,
    pub description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<&'a str>,
    pub tags: &'a [String],
    pub files: &'a [String],
    pub context: &'a Context,
    pub ai_context: &'a AiContext,
    pub recent_notes: &'a [Note],
    pub total_notes: usize,
    pub created_at: String,
    pub updated_at: String,
}

impl<'a> AiView<'a> {
    pub fn of(e: &'a Entry) -> Self {
        let from = e.notes.len().saturating_sub(RECENT_NOTES);
        Self {
            id: e.id.to_string(),
            handle: e.handle,
            key: &e.key,
            legacy_id: e.legacy_id,
            title: &e.title,
            kind: e.kind.to_string(),
            status: e.status.to_string(),
            priority: e.priority.to_string(),
            description: &e.description,
            assignee: e.assignee.as_deref(),
            tags: &e.tags,
            files: &e.files,
            context: &e.context,
            ai_context: &e.ai_context,
            recent_notes: &e.notes[from..],
            total_notes: e.notes.len(),
            created_at: e.created_at.to_string(),
            updated_at: e.updated_at.to_string(),
        }
    }
}

/// The entry as Markdown: everything an assistant needs to continue the work.
pub fn context_markdown(e: &Entry) -> String {
    let mut s = format!(
        "# #{} {}\n\nType: {} · Status: {} · Priority: {}",
        e.handle, e.title, e.kind, e.status, e.priority
    );
    if let Some(a) = &e.assignee {
        s.push_str(&format!(" · Assignee: {a}"));
    }
    s.push_str(&format!(
        "\nId: {} · Key: {} · Updated: {}\n",
        e.id, e.key, e.updated_at
    ));
    if !e.tags.is_empty() {
        s.push_str(&format!("Tags: {}\n", e.tags.join(", ")));
    }
    section(&mut s, "Description", &e.description);
    section(&mut s, "Business context", &e.context.business_context);
    section(&mut s, "Technical context", &e.context.technical_context);
    list(
        &mut s,
        "Acceptance criteria",
        &e.context.acceptance_criteria,
    );
    let ai = &e.ai_context;
    section(&mut s, "Current summary", &ai.current_summary);
    list(&mut s, "Key insights", &ai.key_insights);
    list(&mut s, "Open questions", &ai.open_questions);
    list(&mut s, "Related patterns", &ai.related_patterns);
    list(&mut s, "Suggested next steps", &ai.suggested_next_steps);
    if !e.context.decisions.is_empty() {
        s.push_str("\n## Decisions\n");
        for d in &e.context.decisions {
            s.push_str(&format!("- {} — {}", d.decision, d.rationale));
            if !d.decision_maker.is_empty() {
                s.push_str(&format!(" ({})", d.decision_maker));
            }
            s.push('\n');
        }
    }
    if !e.files.is_empty() {
        list(&mut s, "Files", &e.files);
    }
    if !e.notes.is_empty() {
        let from = e.notes.len().saturating_sub(RECENT_NOTES);
        s.push_str(&format!(
            "\n## Recent notes ({} of {})\n",
            e.notes.len() - from,
            e.notes.len()
        ));
        for n in &e.notes[from..] {
            let source = n.source().map(|x| format!(", {x}")).unwrap_or_default();
            s.push_str(&format!(
                "- {} [{}{source}] {}\n",
                n.timestamp, n.category, n.content
            ));
        }
    }
    s
}

/// Shared insights as a Markdown section: each with its entry and, from another repository,
/// where it lives.
pub fn shared_insights_markdown(
    heading: &str,
    items: &[devlog_core::insights::SharedInsight],
) -> String {
    let mut s = format!("\n## {heading}\n");
    for i in items {
        let kind = match i.kind {
            devlog_core::insights::InsightKind::Insight => "insight",
            devlog_core::insights::InsightKind::Decision => "decision",
        };
        s.push_str(&format!("- ({kind}) {}", i.text));
        if let Some(r) = &i.rationale {
            s.push_str(&format!(" — {r}"));
        }
        s.push_str(&format!(" [#{} {}", i.entry.handle, i.entry.title));
        if let Some(repo) = &i.repository {
            s.push_str(&format!(" in {repo}"));
        }
        s.push_str("]\n");
    }
    s
}

fn section(s: &mut String, title: &str, body: &str) {
    if !body.trim().is_empty() {
        s.push_str(&format!("\n## {title}\n{}\n", body.trim()));
    }
}

fn list(s: &mut String, title: &str, items: &[String]) {
    if !items.is_empty() {
        s.push_str(&format!("\n## {title}\n"));
        for i in items {
            s.push_str(&format!("- {i}\n"));
        }
    }
}

pub use devlog_core::ops::ActiveItem;

pub fn active_text(items: &[ActiveItem]) -> String {
    if items.is_empty() {
        return "No active devlog entries found. Start one with create_devlog \
                (call discover_related_devlogs first to avoid duplicates)."
            .to_string();
    }
    let mut s = format!("{} active devlog entries:\n", items.len());
    for i in items {
        s.push_str(&format!(
            "\n- #{} [{}] {} ({}, {})\n",
            i.handle, i.status, i.title, i.kind, i.priority
        ));
        if !i.summary.is_empty() {
            s.push_str(&format!("  Summary: {}\n", i.summary));
        }
        if !i.recent_notes.is_empty() {
            s.push_str(&format!("  Recent notes: {}\n", i.recent_notes.join("; ")));
        }
        for n in &i.next_steps {
            s.push_str(&format!("  Next: {n}\n"));
        }
        for q in &i.open_questions {
            s.push_str(&format!("  Open question: {q}\n"));
        }
    }
    s
}

/// A search page as text; a total above the count cap reads "Found 1,000+ ...".
pub fn search_text(query: &str, page: &Page<SearchHit>) -> String {
    let hits = &page.items;
    if hits.is_empty() {
        return format!("No devlog entries found matching query: \"{query}\"");
    }
    let mut s = format!(
        "Found {} devlog entries matching \"{query}\"{}:\n\n",
        page.total_label(),
        if (hits.len() as u64) < page.total {
            format!(" (showing {})", hits.len())
        } else {
            String::new()
        }
    );
    for h in hits {
        s.push_str(&summary_line(&h.entry));
        if !h.snippet.trim().is_empty() {
            s.push_str(&format!("\n  …{}…", first_line(&h.snippet, 160)));
        }
        s.push('\n');
    }
    s
}

pub fn events_text(events: &[Event]) -> String {
    if events.is_empty() {
        return "No changes.".to_string();
    }
    let mut s = format!("{} changes:\n", events.len());
    for e in events {
        let detail = match &e.kind {
            EventKind::FieldChanged { field, new, .. } => {
                format!(" {field} = {}", truncate(&new.to_string(), 80))
            }
            EventKind::StatusChanged { from, to, .. } => format!(" {from} → {to}"),
            EventKind::NoteAdded { category, .. } => format!(" ({category})"),
            EventKind::Linked {
                system,
                external_id,
            } => format!(" {system} {external_id}"),
            _ => String::new(),
        };
        s.push_str(&format!(
            "- {} {} #{} {}{} by {}\n",
            e.seq,
            e.at,
            e.handle,
            e.kind.name(),
            detail,
            e.actor
                .as_deref()
                .map(|a| format!("{a} ({})", e.origin.as_str()))
                .unwrap_or_else(|| e.origin.as_str().to_string())
        ));
    }
    s
}

pub fn stats_text(st: &Stats) -> String {
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "Devlog statistics: {} entries, {} open, {} closed\nBy status: {}\nBy type: {}\nBy priority: {}",
        st.total,
        st.open,
        st.closed,
        join(&st.by_status),
        join(&st.by_type),
        join(&st.by_priority)
    );
    if let Some(h) = st.avg_completion_hours {
        s.push_str(&format!("\nAverage time to complete: {h:.1} hours"));
    }
    s
}
