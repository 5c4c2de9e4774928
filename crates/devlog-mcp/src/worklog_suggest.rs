//! `suggest_worklogs` (issue 18): worklogs proposed from the user's commits that mention
//! entries, listed, applied or dismissed — the same use case as `devlog worklog suggest`
//! (`devlog_core::worklog_suggest::WorklogSuggester`, which the binary builds over git and
//! passes in [`crate::Options::worklog_suggester`]).

use devlog_core::planning::format_minutes;
use devlog_core::worklog_suggest::{
    self as ws_core, Proposal, ScanOptions, SuggestOptions, WorklogSuggester,
};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::args::{Args, input_schema};
use crate::error::Failure;
use crate::server::DevlogMcp;
use crate::tools::{Reply, finish};

const SUGGEST_WORKLOGS: &str = "Propose worklogs (time spent) from the user's git commits that mention devlog entries (\"#12\", \"devlog-12\"), in this repository and those `devlog repos discover` found: commits less than `gap` apart form a session lasting from its first commit to its last plus `padding`, split evenly over the entries it mentions. Without apply or dismiss it only lists the pending suggestions (nothing is logged). Pass apply with suggestion ids (or unique prefixes) to log them as worklogs — each at most once, ever — or dismiss with ids to never propose them again. Give the same since/gap/padding/author as the listing you took the ids from. With Jira configured, the next sync logs applied worklogs on the linked issues.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuggestWorklogsArgs {
    /// Commits since: a date (2026-12-01), "today", "yesterday", or a time ago ("7d", "2w",
    /// "36h", "90m"). Default "7d".
    #[serde(default)]
    pub since: Option<String>,
    /// A pause between two commits longer than this ends a session ("2h", "90m"). Default 2h.
    #[serde(default)]
    pub gap: Option<String>,
    /// Time counted before a session's first commit ("30m", or "0"). Default 30m.
    #[serde(default)]
    pub padding: Option<String>,
    /// Whose commits: a name or an email. Default: each repository's git identity.
    #[serde(default)]
    pub author: Option<String>,
    /// Log these suggestions (ids as listed, or unique prefixes) as worklogs.
    #[serde(default)]
    pub apply: Option<Vec<String>>,
    /// Never propose these suggestions again (ids or unique prefixes).
    #[serde(default)]
    pub dismiss: Option<Vec<String>>,
}

/// `3f2a9c1e0b7d  50m on #1 Login form (alpha, 2025-03-10; 2 commits in alpha, from: …)`.
fn line(p: &Proposal) -> String {
    let s = &p.suggestion;
    format!(
        "{}  {} on {} ({}, {}{}; {})",
        s.id,
        format_minutes(s.minutes.into()),
        p.label(),
        s.repo,
        s.date,
        if s.shared_by > 1 {
            format!(", 1/{} of the session", s.shared_by)
        } else {
            String::new()
        },
        s.note
    )
}

fn notes_text(notes: &[String]) -> String {
    notes.iter().map(|n| format!("\nNote: {n}")).collect()
}

/// The ids given for `what` (`apply` or `dismiss`): at least one.
fn ids(what: &str, ids: Option<Vec<String>>) -> Result<Option<Vec<String>>, Failure> {
    match ids {
        Some(v) if v.is_empty() => Err(Failure::invalid(format!(
            "{what} is empty: give the ids of the suggestions to {what} (call suggest_worklogs \
             without it to list them)"
        ))),
        other => Ok(other),
    }
}

#[tool_router(router = worklog_suggest_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "suggest_worklogs",
        description = SUGGEST_WORKLOGS,
        input_schema = input_schema::<SuggestWorklogsArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn suggest_worklogs(&self, Args(a): Args<SuggestWorklogsArgs>) -> CallToolResult {
        finish(self.run_suggest_worklogs(a).await)
    }
}

impl DevlogMcp {
    async fn run_suggest_worklogs(&self, a: SuggestWorklogsArgs) -> Result<Reply, Failure> {
        let Some(suggester) = self.options().worklog_suggester.clone() else {
            return Err(Failure::invalid(
                "worklog suggestions read git repositories, and this server has none: start \
                 `devlog mcp` (or `devlog serve`) inside a git repository that holds the .devlog",
            ));
        };
        let apply = ids("apply", a.apply)?;
        let dismiss = ids("dismiss", a.dismiss)?;
        if apply.is_some() && dismiss.is_some() {
            return Err(Failure::invalid(
                "give apply or dismiss, not both: one call either logs suggestions or dismisses them",
            ));
        }
        let now = self.app().clock().now().as_datetime();
        let opts = ScanOptions {
            since: ws_core::parse_since(a.since.as_deref().unwrap_or("7d"), now)?,
            author: a.author,
            session: SuggestOptions {
                gap_minutes: match &a.gap {
                    Some(g) => ws_core::parse_minutes("gap", g, false)?,
                    None => ws_core::DEFAULT_GAP_MINUTES,
                },
                padding_minutes: match &a.padding {
                    Some(p) => ws_core::parse_minutes("padding", p, true)?,
                    None => ws_core::DEFAULT_PADDING_MINUTES,
                },
            },
        };
        let scan = suggester.scan(&opts).await?;
        if let Some(wanted) = dismiss {
            let chosen = WorklogSuggester::choose(&scan, &wanted)?;
            suggester.dismiss(&chosen).await?;
            let text = format!(
                "Dismissed {} suggestion{}; they are never proposed again:\n{}{}",
                chosen.len(),
                if chosen.len() == 1 { "" } else { "s" },
                chosen.iter().map(line).collect::<Vec<_>>().join("\n"),
                notes_text(&scan.notes)
            );
            return Ok(Reply::new(
                text,
                json!({
                    "dismissed": chosen.iter().map(|p| &p.suggestion.id).collect::<Vec<_>>(),
                    "notes": scan.notes,
                }),
            ));
        }
        if let Some(wanted) = apply {
            let chosen = WorklogSuggester::choose(&scan, &wanted)?;
            let meta = self.meta();
            let mut lines = Vec::new();
            let mut applied = Vec::new();
            for p in &chosen {
                match suggester.apply(p, None, &meta).await? {
                    Some(done) => {
                        lines.push(format!(
                            "Logged {} on #{} {} ({}, from suggestion {}); {} logged in all.",
                            format_minutes(done.worklog.minutes.into()),
                            done.entry.handle,
                            done.entry.title,
                            done.worklog.date,
                            done.suggestion,
                            format_minutes(devlog_core::planning::logged_minutes(&done.entry))
                        ));
                        applied.push(json!({
                            "suggestion": done.suggestion,
                            "repository": done.repository,
                            "entry": done.entry.summary(),
                            "worklog": done.worklog,
                        }));
                    }
                    None => lines.push(format!(
                        "{} was already logged on {}.",
                        p.suggestion.id,
                        p.label()
                    )),
                }
            }
            return Ok(Reply::new(
                format!("{}{}", lines.join("\n"), notes_text(&scan.notes)),
                json!({ "applied": applied, "notes": scan.notes }),
            ));
        }
        let since = opts.since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let text = if scan.pending.is_empty() {
            format!(
                "No worklog suggestions since {since} (commits by the user that mention an entry, \
                 not yet applied or dismissed).{}",
                notes_text(&scan.notes)
            )
        } else {
            let total: u64 = scan
                .pending
                .iter()
                .map(|p| u64::from(p.suggestion.minutes))
                .sum();
            format!(
                "{} worklog suggestion{} since {since}, {} in all (nothing is logged yet; call \
                 again with apply or dismiss and the ids):\n{}{}",
                scan.pending.len(),
                if scan.pending.len() == 1 { "" } else { "s" },
                format_minutes(total),
                scan.pending.iter().map(line).collect::<Vec<_>>().join("\n"),
                notes_text(&scan.notes)
            )
        };
        Ok(Reply::new(
            text,
            json!({ "since": since, "suggestions": scan.pending, "notes": scan.notes }),
        ))
    }
}
