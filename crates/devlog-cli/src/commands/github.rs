//! `devlog github`: link entries to issues and pull requests, open pull requests, sync,
//! status, release notes. Settings in `[integrations.github]` (docs/github.md).

use std::sync::Arc;

use async_trait::async_trait;
use clap::{Args, Subcommand};
use devlog_core::entry::ExternalReference;
use devlog_core::event::WriteMeta;
use devlog_core::integration::{Integration, RemoteAction, RemoteItem, SyncError};
use devlog_core::{Entry, EntryId};
use devlog_github::GithubIntegration;
use devlog_github::pulls::PULL_REQUEST;
use devlog_sync::{SyncEngine, SyncReport};
use serde_json::{Map, Value, json};

use super::audit::Effect;
use super::tracker::{self, Tracker, print, resolve};
use super::{Ctx, github_release};
use crate::error::CliError;
use crate::workspace::Workspace;
use devlog_core::audit::RemoteEffect;

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
        #[arg(long, default_value = DEFAULT_BASE)]
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
            tracker::sync(ctx, devlog_github::NAME, entry, plan).await
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
    let table = tracker::table(
        ws,
        devlog_github::NAME,
        "GitHub is not configured: add [integrations.github] with repository = \"owner/repo\" and token = \"${GITHUB_TOKEN}\" to devlog.toml (see docs/github.md)",
    )?;
    GithubIntegration::from_table(&table)
        .map_err(|m| tracker::config_err(ws, format!("integrations.github: {m}")))
}

/// GitHub issues for the shared link/unlink/status flows.
struct GithubTracker(GithubIntegration);

#[async_trait]
impl Tracker for GithubTracker {
    fn name(&self) -> &'static str {
        devlog_github::NAME
    }
    fn display(&self) -> &'static str {
        "GitHub"
    }
    fn integration(&self) -> Arc<dyn Integration> {
        Arc::new(self.0.clone())
    }
    fn label(&self, remote_id: &str) -> String {
        format!("#{remote_id}")
    }
    fn item_json(&self, remote_id: &str) -> Value {
        remote_id
            .parse::<u64>()
            .map_or_else(|_| json!(remote_id), |n| json!(n))
    }
    async fn adopt(&self, remote_id: &str, entry: EntryId) -> Result<RemoteItem, SyncError> {
        self.0.adopt_issue(remote_id, entry).await
    }
    async fn release(&self, remote_id: &str) -> Result<(), SyncError> {
        self.0.release_issue(remote_id).await
    }
    async fn conversation(&self, remote_id: &str) -> Result<Vec<RemoteAction>, SyncError> {
        let comments = self.0.issue_comments(remote_id).await?;
        let n: u64 = remote_id.parse().unwrap_or_default();
        Ok(comments
            .iter()
            .map(|c| self.0.comment_action(n, c))
            .collect())
    }
    fn status_header(&self) -> (Map<String, Value>, String) {
        let c = self.0.config();
        let mut m = Map::new();
        m.insert(
            "repository".into(),
            json!(format!("{}/{}", c.owner, c.repo)),
        );
        m.insert("apiUrl".into(), json!(c.api_url));
        m.insert("projectId".into(), json!(c.project_id));
        m.insert("webhookSecret".into(), json!(c.webhook_secret.is_some()));
        let line = format!(
            "GitHub: {}/{} via {}{}{}",
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
        (m, line)
    }
    fn attachments(&self) -> Option<(&'static str, &'static str)> {
        Some(("pullRequests", "PRS"))
    }
}

/// A sync engine over GitHub alone, sharing the workspace's sync state.
async fn engine(ws: &Workspace, gh: &GithubIntegration) -> Result<SyncEngine, CliError> {
    tracker::engine(ws, Arc::new(gh.clone())).await
}

fn gh_err(e: SyncError) -> CliError {
    tracker::remote_err(e)
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

async fn link(ctx: &Ctx, reference: &str, number: &str, pr: bool) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let gh = github(&ws)?;
    let number = parse_number(number, &gh, pr)?;
    if !pr {
        return tracker::link(ctx, &ws, &GithubTracker(gh), reference, &number).await;
    }
    let entry = resolve(ctx, reference).await?;
    let engine = engine(&ws, &gh).await?;
    let mut report = SyncReport::default();
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
        &*ctx.store().await?,
        &ctx.meta(),
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
    print(ctx, &out, || {
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
    })
}

async fn unlink(ctx: &Ctx, reference: &str, pr: Option<&str>) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let gh = github(&ws)?;
    let Some(pr) = pr else {
        return tracker::unlink(ctx, &ws, &GithubTracker(gh), reference).await;
    };
    let entry = resolve(ctx, reference).await?;
    let engine = engine(&ws, &gh).await?;
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
    print(ctx, &out, || {
        format!("Unlinked pull request #{number} from #{}\n", entry.handle)
    })
}

/// The branch a pull request merges into when none is given.
pub const DEFAULT_BASE: &str = "main";

/// What [`open_pull_request`] opens for an entry.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The branch with the work (default: the git integration's branch name for the entry).
    pub head: Option<String>,
    pub base: String,
    pub draft: bool,
    /// Default: the entry's title.
    pub title: Option<String>,
    /// Default: the entry's description (then `Closes #<issue>` and the marker, always).
    pub body: Option<String>,
}

/// What [`open_pull_request`] did: the pull request, whether it was opened now (`false`: the
/// open one from the branch was linked), and the branch it came from.
#[derive(Debug, Clone)]
pub struct PullOpened {
    pub pull: devlog_github::pulls::PullRequest,
    pub opened: bool,
    pub head: String,
}

/// The branch a pull request for `entry` comes from: `head`, or the entry's branch.
fn head_branch(ws: &Workspace, entry: &Entry, head: Option<&str>) -> Result<String, CliError> {
    match head {
        Some(h) => Ok(h.to_string()),
        None => Ok(super::git::branch_name(&super::git::git_config(ws)?, entry)),
    }
}

/// The request [`open_pull_request`] would send for `entry` (a workflow dry run shows it):
/// `POST <path>` with the JSON body, and the head branch. Reads the linked issue from the
/// sync state; nothing is sent.
pub async fn pull_request_plan(
    ws: &Workspace,
    entry: &Entry,
    pull: &PullOptions,
) -> Result<(String, Value, String), CliError> {
    let gh = github(ws)?;
    let head = head_branch(ws, entry, pull.head.as_deref())?;
    let engine = engine(ws, &gh).await?;
    let issue = linked_issue(&engine, entry.id).await?;
    let (path, body) = gh.pull_request(entry, &new_pull(pull, &head, issue.as_deref()));
    Ok((path, body, head))
}

async fn linked_issue(engine: &SyncEngine, entry: EntryId) -> Result<Option<String>, CliError> {
    Ok(engine
        .state()
        .link(devlog_github::NAME, entry)
        .await?
        .filter(|l| l.state == devlog_sync::LinkState::Linked)
        .and_then(|l| l.remote_id))
}

fn new_pull<'a>(
    pull: &'a PullOptions,
    head: &'a str,
    issue: Option<&'a str>,
) -> devlog_github::pulls::NewPull<'a> {
    devlog_github::pulls::NewPull {
        head,
        base: &pull.base,
        draft: pull.draft,
        issue,
        title: pull.title.as_deref(),
        body: pull.body.as_deref(),
    }
}

/// Opens the pull request for `entry` from its branch, or links the open one from that
/// branch — exactly once however often it is retried: GitHub is asked for an open pull
/// request from the branch before one is opened (and again when the create's answer was
/// lost), so a retry, a resumed workflow run or a second command finds the first. The pull
/// request is attached to the entry (its state moves the entry) and recorded on it as a
/// `github-pr` reference, both by `by`; opening it (by this call or an earlier try: its body
/// holds the entry's marker) is one `pull-request-opened` record in the audit log. `devlog
/// github pr` and the workflow `pull_request` step both go through here.
pub async fn open_pull_request(
    ws: &Workspace,
    by: &WriteMeta,
    entry: &Entry,
    pull: &PullOptions,
) -> Result<PullOpened, CliError> {
    let gh = github(ws)?;
    let head = head_branch(ws, entry, pull.head.as_deref())?;
    let engine = engine(ws, &gh).await?;
    let issue = linked_issue(&engine, entry.id).await?;
    let (p, created) = gh
        .create_pull(entry, &new_pull(pull, &head, issue.as_deref()))
        .await
        .map_err(gh_err)?;
    let number = p.number.to_string();
    // Opened now, or by an earlier try of this command (its body holds the entry's marker):
    // one record per pull request. An open one someone else made is linked, not recorded.
    let ours = p
        .body
        .as_deref()
        .is_some_and(|b| b.contains(&devlog_github::marker(entry.id)));
    if created || ours {
        super::audit::record_effects_by(
            &ws.devlog_dir,
            &**engine.store(),
            by,
            vec![
                Effect::new(
                    devlog_github::NAME,
                    RemoteEffect::PullRequestOpened,
                    number.as_str(),
                    format!("{}/pull-request-opened/{number}", devlog_github::NAME),
                )
                .for_entry(entry.id, entry.handle)
                .url(p.html_url.as_deref()),
            ],
        )
        .await;
    }
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
        &**engine.store(),
        by,
        entry.id,
        PR_SYSTEM,
        &number,
        p.html_url.clone(),
        p.title.clone(),
    )
    .await?;
    Ok(PullOpened {
        pull: p,
        opened: created,
        head,
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
    github(&ws)?;
    let entry = resolve(ctx, reference).await?;
    let pull = PullOptions {
        head,
        base: base.to_string(),
        draft,
        title: None,
        body: None,
    };
    let PullOpened {
        pull: p,
        opened: created,
        head,
    } = open_pull_request(&ws, &ctx.meta(), &entry, &pull).await?;
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
    store: &dyn devlog_core::store::Store,
    by: &WriteMeta,
    id: EntryId,
    system: &str,
    number: &str,
    url: Option<String>,
    title: Option<String>,
) -> Result<(), CliError> {
    let now = devlog_core::Timestamp::from_datetime(chrono::Utc::now());
    store
        .update(id, by, &mut |e: &mut Entry| {
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
                    sprint: None,
                    board: None,
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

async fn status(ctx: &Ctx, check: bool) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let gh = github(&ws)?;
    tracker::status(ctx, &ws, &GithubTracker(gh), check, None).await
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
