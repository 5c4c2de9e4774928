//! `devlog github release-notes`: release notes from the entries a release ships, grouped by
//! type, printed, written to a file, or published as the GitHub release of the tag.
//!
//! Stages: read git (the commits of `FROM..TO` and the two commit times), resolve the entries
//! those commits mention, choose the entries (`devlog_core::release::select`, pure), render
//! (`devlog_github::release::generate`, pure), then the only remote I/O: publishing
//! (docs/release-notes.md).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use clap::Args;
use devlog_core::release::{Window, select};
use devlog_core::{EntryId, StoreError};
use devlog_git::{GitError, Repo, cli as git};
use devlog_github::release::{self, PublishAction, ReleaseNotes, ReleaseRequest};
use devlog_github::{GithubConfig, GithubIntegration};
use serde_json::json;

use super::Ctx;
use super::audit::Effect;
use super::git::git_err;
use crate::config::ConfigError;
use crate::error::CliError;
use crate::output::write_stdout;
use crate::workspace::Workspace;
use devlog_core::audit::RemoteEffect;

/// Release notes from the entries completed between two tags, grouped by type
///
/// A release ships the done entries that its commits (FROM..TO) mention (`devlog-<id>`,
/// `#<handle>`), plus the done entries closed between the two tagged commits.
#[derive(Debug, Args)]
pub struct ReleaseNotesArgs {
    /// The previous release's tag (default: the latest tag before --to; without one, the
    /// whole history up to --to)
    #[arg(long, value_name = "TAG")]
    pub from: Option<String>,
    /// The release's tag (default: HEAD, for a preview of the next release)
    #[arg(long, value_name = "TAG")]
    pub to: Option<String>,
    /// Also list the entries the release's commits mention that are not done
    #[arg(long)]
    pub include_open: bool,
    /// Write the notes (Markdown, or JSON with --json) to this file instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Create the GitHub release of --to with these notes, or update the existing release's
    /// notes (uses [integrations.github])
    #[arg(long)]
    pub create_release: bool,
    /// With --create-release: create the release as a draft
    #[arg(long, requires = "create_release")]
    pub draft: bool,
}

/// A revision of the release range, resolved.
struct Point {
    /// What the user named (`v1.2.0`, `HEAD`).
    name: String,
    commit: String,
    /// Committer date, seconds since the epoch.
    time: i64,
}

pub async fn run(ctx: &Ctx, a: ReleaseNotesArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let repo = Repo::discover(&ws.devlog_dir).map_err(git_err)?;
    let dir = repo.workdir().to_path_buf();

    // 1. Git: the range, its commit times, and the commits in it.
    let to_name = a.to.clone().unwrap_or_else(|| "HEAD".to_string());
    let to = point(&dir, &to_name, a.to.is_some())?;
    // Checked before any work, so a missing setting does not cost a scan first.
    let github = if a.create_release {
        if !is_tag(&dir, &to_name)? {
            return Err(CliError::Usage(format!(
                "--create-release needs --to <tag>: `{to_name}` is not a tag (create one with `devlog git tag` or `git tag`)"
            )));
        }
        Some(github(&ws)?)
    } else {
        None
    };
    let from = match &a.from {
        Some(f) => Some(point(&dir, f, true)?),
        None => match previous_tag(&dir, &to.commit)? {
            Some(t) => Some(point(&dir, &t, true)?),
            None => None,
        },
    };
    let range = match &from {
        Some(f) => format!("{}..{}", f.commit, to.commit),
        None => to.commit.clone(),
    };
    let log = git::run(&dir, &["log", "--format=%B%x1e", &range]).map_err(git_err)?;

    // 2. The entries those commits mention, resolved as `devlog git link` resolves them.
    let app = ctx.app().await?;
    let mut mentioned: HashSet<EntryId> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    for message in log.split('\u{1e}') {
        for r in devlog_git::link::references(message) {
            if !seen.insert(r.clone()) {
                continue;
            }
            match app.resolve_summary(&r).await {
                Ok(s) => {
                    mentioned.insert(s.id);
                }
                // `#12` in a squash-merge subject is often a pull request, not an entry.
                Err(StoreError::NotFound { .. } | StoreError::Ambiguous { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    // 3. Choose and render (pure).
    let entries = app.store().all().await?;
    let window = Window {
        after: from.as_ref().map(|f| f.time),
        until: to.time,
    };
    let chosen = select(&entries, &mentioned, &window);
    let not_completed = if a.include_open {
        chosen.not_completed.as_slice()
    } else {
        &[]
    };
    let notes = release::generate(
        from.as_ref().map(|f| f.name.as_str()),
        &to.name,
        &chosen.shipped,
        not_completed,
    );
    let markdown = notes.markdown();

    // 4. Publish.
    let published = if let Some(github) = &github {
        let req = ReleaseRequest {
            tag: to.name.clone(),
            target_commit: Some(to.commit.clone()),
            name: to.name.clone(),
            body: markdown.clone(),
            draft: a.draft,
        };
        let p = github
            .publish_release(&req)
            .await
            .map_err(|e| CliError::Other(anyhow::Error::new(e)))?;
        super::audit::record_effects(ctx, vec![release_effect(&p, &req.body)]).await;
        Some(p)
    } else {
        None
    };

    // 5. Print.
    let text = if ctx.out.json {
        let mut v = serde_json::to_value(&notes).map_err(anyhow::Error::new)?;
        if let (Some(p), Some(obj)) = (&published, v.as_object_mut()) {
            obj.insert(
                "release".into(),
                json!({
                    "action": p.action,
                    "id": p.release.id,
                    "tag": p.release.tag_name,
                    "draft": p.release.draft,
                    "url": p.release.html_url,
                }),
            );
        }
        let mut s = serde_json::to_string_pretty(&v).map_err(anyhow::Error::new)?;
        s.push('\n');
        s
    } else {
        markdown
    };
    match &a.output {
        Some(path) => {
            write_atomic(path, text.as_bytes())?;
            if !ctx.out.json {
                eprintln!(
                    "Wrote the notes of {} ({}) to {}",
                    describe_range(&notes),
                    count(notes.len()),
                    path.display()
                );
            }
        }
        None => write_stdout(&text)?,
    }
    if let Some(p) = &published
        && !ctx.out.json
    {
        let url = p.release.html_url.as_deref().unwrap_or_default();
        let draft = if p.release.draft { "draft " } else { "" };
        match p.action {
            PublishAction::Created => eprintln!(
                "Created the {draft}GitHub release {} {url}",
                p.release.tag_name
            ),
            PublishAction::Updated => eprintln!(
                "A GitHub release for {} already exists: updated its notes instead of creating another {url}",
                p.release.tag_name
            ),
        }
    }
    Ok(())
}

/// The audit record of a published release: `release-created` keyed by the release, or
/// `release-updated` keyed by the release and the notes written (the same notes written again
/// by a retry are one record).
fn release_effect(p: &release::Published, body: &str) -> Effect {
    use sha2::Digest;
    let id = p.release.id;
    let (effect, effect_id) = match p.action {
        PublishAction::Created => (
            RemoteEffect::ReleaseCreated,
            format!("{}/release-created/{id}", devlog_github::NAME),
        ),
        PublishAction::Updated => {
            let digest = sha2::Sha256::digest(body.as_bytes());
            let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            (
                RemoteEffect::ReleaseUpdated,
                format!("{}/release-updated/{id}/{short}", devlog_github::NAME),
            )
        }
    };
    Effect::new(devlog_github::NAME, effect, id.to_string(), effect_id)
        .item(format!("tag {}", p.release.tag_name))
        .url(p.release.html_url.as_deref())
}

fn count(n: usize) -> String {
    format!("{n} entr{}", if n == 1 { "y" } else { "ies" })
}

fn describe_range(n: &ReleaseNotes) -> String {
    match &n.from {
        Some(f) => format!("{f}..{}", n.to),
        None => n.to.clone(),
    }
}

/// Whether `name` is a tag of the repository.
fn is_tag(dir: &Path, name: &str) -> Result<bool, CliError> {
    let out =
        git::output(dir, &["rev-parse", "--verify", "--quiet", &tag_ref(name)]).map_err(git_err)?;
    Ok(out.status.success())
}

fn tag_ref(name: &str) -> String {
    format!("refs/tags/{name}^{{commit}}")
}

/// Resolves a revision to its commit and committer date. `named_by_user`: a revision the
/// user typed (a missing one is named, with the tags that do exist).
fn point(dir: &Path, name: &str, named_by_user: bool) -> Result<Point, CliError> {
    // A tag of that name wins over a branch of the same name, as release tags should.
    let candidates = [tag_ref(name), format!("{name}^{{commit}}")];
    let mut commit = None;
    for c in &candidates {
        // `--end-of-options`: a revision starting with `-` is not an option.
        let out = git::output(
            dir,
            &["rev-parse", "--verify", "--quiet", "--end-of-options", c],
        )
        .map_err(git_err)?;
        if out.status.success() {
            commit = Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
            break;
        }
    }
    let Some(commit) = commit else {
        if !named_by_user {
            // HEAD of a repository without commits.
            return Err(git_err(GitError::UnbornHead));
        }
        return Err(CliError::Usage(missing_tag(dir, name)?));
    };
    let time = git::run(dir, &["show", "-s", "--format=%ct", &commit])
        .map_err(git_err)?
        .trim()
        .parse::<i64>()
        .map_err(|e| anyhow::anyhow!("cannot read the commit time of {name}: {e}"))?;
    Ok(Point {
        name: name.to_string(),
        commit,
        time,
    })
}

/// The error for a tag that does not exist: its name and the newest tags that do.
fn missing_tag(dir: &Path, name: &str) -> Result<String, CliError> {
    let tags = git::run(dir, &["tag", "--list", "--sort=-creatordate"]).map_err(git_err)?;
    let tags: Vec<&str> = tags
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    const SHOWN: usize = 5;
    let known = match tags.len() {
        0 => "the repository has no tags yet (create one with `devlog git tag <version>`)".into(),
        n if n <= SHOWN => format!("existing tags: {}", tags.join(", ")),
        n => format!(
            "existing tags (newest first): {}, … ({} more; `git tag --list` shows all)",
            tags[..SHOWN].join(", "),
            n - SHOWN
        ),
    };
    Ok(format!("tag `{name}` not found; {known}"))
}

/// The latest tag reachable from the parent of `commit` (the previous release), if any.
fn previous_tag(dir: &Path, commit: &str) -> Result<Option<String>, CliError> {
    let parent = format!("{commit}^");
    let has_parent = git::output(dir, &["rev-parse", "--verify", "--quiet", &parent])
        .map_err(git_err)?
        .status
        .success();
    if !has_parent {
        return Ok(None);
    }
    let out = git::output(dir, &["describe", "--tags", "--abbrev=0", &parent]).map_err(git_err)?;
    // Fails with "No names found" (or "No tags can describe") when there is no such tag.
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// `[integrations.github]`, validated like `devlog sync` validates it.
fn github(ws: &Workspace) -> Result<GithubIntegration, CliError> {
    let config_err = |message: String| {
        CliError::Config(ConfigError {
            file: ws.config.source.clone(),
            message,
        })
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let tables =
        crate::config::integration_tables(&ws.config, &ws.root, &env).map_err(CliError::Config)?;
    let Some(table) = tables.get(devlog_github::NAME) else {
        return Err(CliError::Usage(
            "--create-release needs the GitHub integration: add [integrations.github] with `repository = \"owner/repo\"` and `token = \"${GITHUB_TOKEN}\"` to devlog.toml (docs/github.md)".into(),
        ));
    };
    let problems = devlog_sync::registry::validate(
        &devlog_github::config::schema(),
        table,
        "integrations.github",
    );
    if !problems.is_empty() {
        return Err(config_err(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    let cfg = GithubConfig::from_table(table).map_err(config_err)?;
    GithubIntegration::new(cfg).map_err(|e| CliError::Other(anyhow::anyhow!("GitHub client: {e}")))
}

/// Writes `bytes` to `path` so that readers see the old file or the whole new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        CliError::Other(anyhow::anyhow!("cannot write {}: {e}", path.display()))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".release-notes-")
        .tempfile_in(dir)
        .map_err(fail)?;
    // Temp files are created private (0600); notes are an ordinary file to share, so give it
    // the usual mode, or keep the mode of the file it replaces.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o644);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(fail)?;
    }
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
