//! `devlog github`: link entries to issues and pull requests, open pull requests, sync,
//! status, release notes. Settings in `[integrations.github]` (docs/github.md).

use std::sync::Arc;

use clap::{Args, Subcommand};
use devlog_core::entry::ExternalReference;
use devlog_core::integration::{Integration, SyncError};
use devlog_core::{Entry, EntryId};
use devlog_github::GithubIntegration;
use devlog_github::pulls::PULL_REQUEST;
use devlog_sync::{SyncEngine, SyncOptions, SyncReport};
use serde_json::json;

use super::{Ctx, github_release};
use crate::config::ConfigError;
use crate::error::CliError;
use crate::output::{Table, write_stdout};
use crate::workspace::Workspace;

/// The external-reference system of pull requests attached to entries.
pub const PR_SYSTEM: &str = "github-pr";

/// Work with GitHub: link entries to issues and pull requests, sync, status, release notes
#[derive(Debug, Args)]
pub struct GithubArgs {
    #[command(subcommand)]
    pub command: GithubCommand,
}

#[derive(Debug, Subcommand)]
pub enum GithubCommand {
    /// Link an entry to an existing issue (or, with --pr, pull request) of the repository
    Link {
        /// Handle, id, id prefix or key of the entry
        entry: String,
        /// The issue or pull request: a number (`12`, `#12`) or its URL
        number: String,
        /// It is a pull request: its state (open, merged, closed) moves the entry
        #[arg(long)]
        pr: bool,
    },
    /// Stop syncing an entry with its issue (or, with --pr N, forget a pull request)
    Unlink {
        /// Handle, id, id prefix or key of the entry
        entry: String,
        /// Forget this pull request instead of the issue
        #[arg(long, value_name = "NUMBER")]
        pr: Option<String>,
    },
    /// Open a pull request for an entry from its branch (or link the one that is open)
    Pr {
        /// Handle, id, id prefix or key of the entry
        entry: String,
        /// The branch with the work (default: the git integration's branch name for the entry)
        #[arg(long)]
        head: Option<String>,
        /// The branch to merge into
        #[arg(long, default_value = "main")]
        base: String,
        /// Open it as a draft
        #[arg(long)]
        draft: bool,
    },
    /// Sync with GitHub now (pull, then push local changes); same as `devlog sync --system github`
    Sync {
        /// Only this entry
        #[arg(long)]
        entry: Option<String>,
        /// Show the remote operations without performing them
        #[arg(long)]
        plan: bool,
    },
    /// Configuration, linked entries, queued and failed jobs, conflicts, pull positions
    Status {
        /// Also check the connection, the token and (with a project) the board; fails when they do not work
        #[arg(long)]
        check: bool,
    },
    /// Release notes from the entries completed between two tags, grouped by type
    ReleaseNotes(github_release::ReleaseNotesArgs),
}

pub async fn run(ctx: &Ctx, a: GithubArgs) -> Result<(), CliError> {
    match a.command {
        GithubCommand::ReleaseNotes(r) => github_release::run(ctx, r).await,
        GithubCommand::Sync { entry, plan } => {
            github(&ctx.workspace()?)?;
            super::sync::run(
                ctx,
                super::sync::SyncArgs {
                    command: None,
                    system: Some(devlog_github::NAME.into()),
                    entry,
                    plan,
                    strategy: None,
                    watch: false,
                    interval: None,
                },
            )
            .await
        }
        GithubCommand::Link { entry, number, pr } => link(ctx, &entry, &number, pr).await,
        GithubCommand::Unlink { entry, pr } => unlink(ctx, &entry, pr.as_deref()).await,
        GithubCommand::Pr {
            entry,
            head,
            base,
            draft,
        } => open_pr(ctx, &entry, head, &base, draft).await,
        GithubCommand::Status { check } => status(ctx, check).await,
    }
}

/// The configured GitHub integration, or an error saying how to configure it.
pub fn github(ws: &Workspace) -> Result<GithubIntegration, CliError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let tables =
        crate::config::integration_tables(&ws.config, &ws.root, &env).map_err(CliError::Config)?;
    let config_err = |message: String| {
        CliError::Config(ConfigError {
            file: ws.config.source.clone(),
            message,
        })
    };
    let table = tables.get(devlog_github::NAME).ok_or_else(|| {
        CliError::Usage(
            "GitHub is not configured: add [integrations.github] with repository = \"owner/repo\" and token = \"${GITHUB_TOKEN}\" to devlog.toml (see docs/github.md)".into(),
        )
    })?;
    let registry = super::sync::registry();
    registry
        .build(
            &[(devlog_github::NAME.to_string(), table.clone())]
                .into_iter()
                .collect(),
        )
        .map_err(|p| {
            config_err(
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
    let gh = GithubIntegration::from_table(table)
        .map_err(|m| config_err(format!("integrations.github: {m}")))?;
    Ok(gh)
}

/// A sync engine over GitHub alone, sharing the workspace's sync state.
async fn engine(ws: &Workspace, gh: &GithubIntegration) -> Result<SyncEngine, CliError> {
    let store = ws.open().await?;
    let state = super::sync::open_state(ws).await?;
    let i: Arc<dyn Integration> = Arc::new(gh.clone());
    Ok(SyncEngine::new(
        store,
        state,
        vec![i],
        SyncOptions::default(),
    ))
}

fn gh_err(e: SyncError) -> CliError {
    CliError::Remote(e)
}

/// `12`, `#12`, or the URL of an issue / pull request of the configured repository.
fn parse_number(s: &str, gh: &GithubIntegration, pr: bool) -> Result<String, CliError> {
    let t = s.trim().trim_end_matches('/');
    let bad = || {
        CliError::Usage(format!(
            "`{s}` is not an issue or pull request: give its number (12, #12) or its URL"
        ))
    };
    let number = if t.contains('/') {
        // …/{owner}/{repo}/(issues|pull)/{n}
        let parts: Vec<&str> = t.split('/').collect();
        let k = parts
            .iter()
            .rposition(|p| *p == "issues" || *p == "pull" || *p == "pulls")
            .filter(|k| *k >= 2 && *k + 1 < parts.len())
            .ok_or_else(bad)?;
        let c = gh.config();
        let (owner, repo) = (parts[k - 2], parts[k - 1]);
        if !owner.eq_ignore_ascii_case(&c.owner) || !repo.eq_ignore_ascii_case(&c.repo) {
            return Err(CliError::Usage(format!(
                "`{s}` is in {owner}/{repo}, but integrations.github.repository is {}/{}",
                c.owner, c.repo
            )));
        }
        let is_pull = parts[k] != "issues";
        if is_pull && !pr {
            return Err(CliError::Usage(format!(
                "`{s}` is a pull request: link it with --pr"
            )));
        }
        parts[k + 1]
    } else {
        t.trim_start_matches('#')
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n.to_string()),
        _ => Err(bad()),
    }
}

async fn resolve(ctx: &Ctx, reference: &str) -> Result<Entry, CliError> {
    Ok(ctx.app().await?.resolve(reference).await?)
}

async fn link(ctx: &Ctx, reference: &str, number: &str, pr: bool) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let gh = github(&ws)?;
    let number = parse_number(number, &gh, pr)?;
    let entry = resolve(ctx, reference).await?;
    let engine = engine(&ws, &gh).await?;
    let mut report = SyncReport::default();
    if pr {
        let p = gh.get_pull(&number).await.map_err(gh_err)?;
        let now = chrono::Utc::now().timestamp_millis();
        engine
            .state()
            .attach(
                devlog_github::NAME,
                PULL_REQUEST,
                &number,
                entry.id,
                p.html_url.as_deref(),
                now,
            )
            .await?;
        add_reference(
            ctx,
            entry.id,
            PR_SYSTEM,
            &number,
            p.html_url.clone(),
            p.title.clone(),
        )
        .await?;
        // Its current state applies now (a merged pull request completes the entry).
        let actions: Vec<_> = gh
            .pull_request_action(
                p.number,
                p.state_name(),
                p.title.as_deref().unwrap_or_default(),
            )
            .into_iter()
            .collect();
        engine
            .apply_actions(devlog_github::NAME, &actions, &mut report)
            .await?;
        let out = json!({"entry": entry.handle, "pullRequest": p.number, "url": p.html_url, "state": p.state_name()});
        return print(ctx, &out, || {
            format!(
                "Linked #{} to pull request #{} ({}){}\n",
                entry.handle,
                p.number,
                p.state_name(),
                p.html_url
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default()
            )
        });
    }
    // One issue per entry: moving it to another issue is an explicit unlink first.
    if let Some(l) = engine.state().link(devlog_github::NAME, entry.id).await?
        && l.state == devlog_sync::LinkState::Linked
        && l.remote_id.as_deref() != Some(number.as_str())
    {
        return Err(CliError::Usage(format!(
            "entry #{} is already linked to issue #{}; run `devlog github unlink {}` first",
            entry.handle,
            l.remote_id.unwrap_or_default(),
            entry.handle
        )));
    }
    let item = gh.adopt_issue(&number, entry.id).await.map_err(gh_err)?;
    engine.link(devlog_github::NAME, entry.id, &item).await?;
    // The issue's conversation so far becomes the entry's notes.
    let comments = gh.issue_comments(&number).await.map_err(gh_err)?;
    let n: u64 = number.parse().unwrap_or_default();
    let actions: Vec<_> = comments.iter().map(|c| gh.comment_action(n, c)).collect();
    engine
        .apply_actions(devlog_github::NAME, &actions, &mut report)
        .await?;
    let out =
        json!({"entry": entry.handle, "issue": n, "url": item.url, "comments": comments.len()});
    print(ctx, &out, || {
        format!(
            "Linked #{} to issue #{n}{}; {} comment(s) imported as notes. `devlog github sync` pushes the entry's fields.\n",
            entry.handle,
            item.url
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default(),
            comments.len()
        )
    })
}

async fn unlink(ctx: &Ctx, reference: &str, pr: Option<&str>) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let gh = github(&ws)?;
    let entry = resolve(ctx, reference).await?;
    let engine = engine(&ws, &gh).await?;
    if let Some(pr) = pr {
        let number = parse_number(pr, &gh, true)?;
        let attached = engine
            .state()
            .attached_entry(devlog_github::NAME, PULL_REQUEST, &number)
            .await?;
        if attached != Some(entry.id) {
            return Err(CliError::Usage(format!(
                "pull request #{number} is not linked to entry #{}",
                entry.handle
            )));
        }
        engine
            .state()
            .detach(devlog_github::NAME, PULL_REQUEST, &number)
            .await?;
        remove_reference(ctx, entry.id, PR_SYSTEM, &number).await?;
        let out = json!({"entry": entry.handle, "pullRequest": number, "unlinked": true});
        return print(ctx, &out, || {
            format!("Unlinked pull request #{number} from #{}\n", entry.handle)
        });
    }
    let Some(remote) = engine.unlink(devlog_github::NAME, entry.id).await? else {
        return Err(CliError::Usage(format!(
            "entry #{} is not linked to a GitHub issue",
            entry.handle
        )));
    };
    // The issue stays on GitHub; without the marker no later sync adopts it again.
    gh.release_issue(&remote).await.map_err(gh_err)?;
    let out = json!({"entry": entry.handle, "issue": remote, "unlinked": true});
    print(ctx, &out, || {
        format!(
            "Unlinked #{} from issue #{remote}; the issue stays on GitHub and later syncs leave both alone\n",
            entry.handle
        )
    })
}

async fn open_pr(
    ctx: &Ctx,
    reference: &str,
    head: Option<String>,
    base: &str,
    draft: bool,
) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let gh = github(&ws)?;
    let entry = resolve(ctx, reference).await?;
    let head = match head {
        Some(h) => h,
        None => super::git::branch_name(&super::git::git_config(&ws)?, &entry),
    };
    let engine = engine(&ws, &gh).await?;
    let issue = engine
        .state()
        .link(devlog_github::NAME, entry.id)
        .await?
        .filter(|l| l.state == devlog_sync::LinkState::Linked)
        .and_then(|l| l.remote_id);
    let (p, created) = gh
        .create_pull(&entry, &head, base, draft, issue.as_deref())
        .await
        .map_err(gh_err)?;
    let number = p.number.to_string();
    engine
        .state()
        .attach(
            devlog_github::NAME,
            PULL_REQUEST,
            &number,
            entry.id,
            p.html_url.as_deref(),
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    add_reference(
        ctx,
        entry.id,
        PR_SYSTEM,
        &number,
        p.html_url.clone(),
        p.title.clone(),
    )
    .await?;
    let out = json!({"entry": entry.handle, "pullRequest": p.number, "url": p.html_url, "created": created, "head": head, "base": base});
    print(ctx, &out, || {
        format!(
            "{} pull request #{} from {head} into {base} for #{}{}\n",
            if created { "Opened" } else { "Linked the open" },
            p.number,
            entry.handle,
            p.html_url
                .as_deref()
                .map(|u| format!(": {u}"))
                .unwrap_or_default()
        )
    })
}

async fn add_reference(
    ctx: &Ctx,
    id: EntryId,
    system: &str,
    number: &str,
    url: Option<String>,
    title: Option<String>,
) -> Result<(), CliError> {
    let store = ctx.store().await?;
    let now = devlog_core::Timestamp::from_datetime(chrono::Utc::now());
    store
        .update(id, &ctx.meta(), &mut |e: &mut Entry| {
            if !e
                .external_references
                .iter()
                .any(|r| r.system == system && r.id == number)
            {
                e.external_references.push(ExternalReference {
                    system: system.into(),
                    id: number.into(),
                    url: url.clone(),
                    title: title.clone(),
                    status: None,
                    last_sync: Some(now),
                    extra: Default::default(),
                });
                e.updated_at = now;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

async fn remove_reference(
    ctx: &Ctx,
    id: EntryId,
    system: &str,
    number: &str,
) -> Result<(), CliError> {
    let store = ctx.store().await?;
    store
        .update(id, &ctx.meta(), &mut |e: &mut Entry| {
            e.external_references
                .retain(|r| !(r.system == system && r.id == number));
            Ok(())
        })
        .await?;
    Ok(())
}

fn print(ctx: &Ctx, v: &serde_json::Value, text: impl FnOnce() -> String) -> Result<(), CliError> {
    if ctx.out.json {
        ctx.out.json(v)?;
    } else {
        write_stdout(&text())?;
    }
    Ok(())
}

async fn status(ctx: &Ctx, check: bool) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let gh = github(&ws)?;
    let engine = engine(&ws, &gh).await?;
    let name = devlog_github::NAME;
    let st = engine.state();
    let store = ws.open().await?;
    let links: Vec<_> = st
        .links()
        .await?
        .into_iter()
        .filter(|l| l.integration == name)
        .collect();
    let jobs: Vec<_> = st
        .open_jobs()
        .await?
        .into_iter()
        .filter(|j| j.integration == name)
        .collect();
    let conflicts: Vec<_> = st
        .open_conflicts()
        .await?
        .into_iter()
        .filter(|c| c.integration == name)
        .collect();
    let cursor = st.cursor(name, devlog_sync::CursorKind::Pull).await?;
    let cursor: serde_json::Value = cursor
        .as_deref()
        .map(|c| serde_json::from_str(c).unwrap_or_else(|_| json!({"issues": c})))
        .unwrap_or(json!({}));
    let now = chrono::Utc::now().timestamp_millis();
    let paused = st.paused_until(name, now).await?;
    let mut failed_check = None;
    let health = if check {
        Some(match gh.health().await {
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
    for l in &links {
        let (handle, title) = match store.get(l.entry_id).await {
            Ok(e) => (e.handle, e.title),
            Err(_) => (0, String::from("(deleted)")),
        };
        let job = jobs.iter().find(|j| j.entry_id == l.entry_id);
        let state = match job {
            Some(j) if j.state == devlog_sync::JobState::Dead => format!(
                "failed (job {}): {}",
                j.id,
                j.last_error.clone().unwrap_or_default()
            ),
            Some(j) => format!("pending (job {})", j.id),
            None if l.state == devlog_sync::LinkState::Linked => "synced".into(),
            None => l.state.as_str().to_string(),
        };
        let prs = st.attachments(name, l.entry_id).await?;
        rows.push(json!({
            "entry": handle, "entryId": l.entry_id, "title": title,
            "issue": l.remote_id, "url": l.url, "state": state,
            "pullRequests": prs.iter().map(|(_, n, u)| json!({"number": n, "url": u})).collect::<Vec<_>>(),
        }));
    }
    let c = gh.config();
    let out = json!({
        "repository": format!("{}/{}", c.owner, c.repo),
        "apiUrl": c.api_url,
        "projectId": c.project_id,
        "webhookSecret": c.webhook_secret.is_some(),
        "health": health,
        "paused": paused.as_ref().map(|(until, reason)| json!({"until": until, "reason": reason})),
        "pullCursor": cursor,
        "linked": rows,
        "pendingJobs": jobs.iter().filter(|j| j.state != devlog_sync::JobState::Dead).count(),
        "failedJobs": jobs.iter().filter(|j| j.state == devlog_sync::JobState::Dead).count(),
        "conflicts": conflicts.len(),
    });
    if ctx.out.json {
        ctx.out.json(&out)?;
        return failed_check.map_or(Ok(()), |e| Err(gh_err(e)));
    }
    let mut s = format!(
        "GitHub: {}/{} via {}{}{}\n",
        c.owner,
        c.repo,
        c.api_url,
        c.project_id
            .as_deref()
            .map(|p| format!(", project {p}"))
            .unwrap_or_default(),
        if c.webhook_secret.is_some() {
            ", webhooks accepted"
        } else {
            ""
        }
    );
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
    for (k, v) in cursor.as_object().into_iter().flatten() {
        s.push_str(&format!(
            "{k} pulled up to {}\n",
            v.as_str().unwrap_or_default()
        ));
    }
    write_stdout(&s)?;
    if !rows.is_empty() {
        let mut t = Table::header(&ctx.out, &["ENTRY", "ISSUE", "PRS", "STATE", "TITLE"]);
        for r in &rows {
            let prs: Vec<String> = r["pullRequests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["number"].as_str().map(|n| format!("#{n}")))
                .collect();
            let cells = [
                format!("#{}", r["entry"]),
                r["issue"]
                    .as_str()
                    .map(|i| format!("#{i}"))
                    .unwrap_or_default(),
                prs.join(","),
                r["state"].as_str().unwrap_or_default().to_string(),
                r["title"].as_str().unwrap_or_default().to_string(),
            ];
            t.row(cells.into_iter().map(|x| (x.clone(), x)).collect());
        }
        write_stdout(&t.render())?;
    }
    // The status is shown either way; a failed check is the command's error.
    match failed_check {
        Some(e) => Err(gh_err(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn gh() -> GithubIntegration {
        GithubIntegration::from_table(&json!({"repository": "acme/widgets", "token": "t"})).unwrap()
    }

    #[test]
    fn numbers_and_urls_of_the_configured_repository() {
        let g = gh();
        for (input, pr, want) in [
            ("12", false, "12"),
            ("#12", false, "12"),
            ("https://github.com/acme/widgets/issues/12", false, "12"),
            ("https://github.com/Acme/Widgets/issues/12/", false, "12"),
            ("https://github.com/acme/widgets/pull/34", true, "34"),
            (
                "https://ghe.example.com/acme/widgets/pull/34/files",
                true,
                "34",
            ),
        ] {
            assert_eq!(parse_number(input, &g, pr).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn other_repositories_and_non_numbers_are_refused() {
        let g = gh();
        let err = |input: &str, pr: bool| parse_number(input, &g, pr).unwrap_err().to_string();
        assert!(
            err("https://github.com/other/repo/issues/12", false)
                .contains("integrations.github.repository is acme/widgets")
        );
        assert!(err("https://github.com/acme/widgets/pull/34", false).contains("--pr"));
        assert!(err("twelve", false).contains("not an issue or pull request"));
        assert!(err("0", false).contains("not an issue or pull request"));
        assert!(err("https://github.com/acme", false).contains("not an issue"));
    }
}
