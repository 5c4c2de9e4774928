//! `devlog repos`: repositories with a `.devlog` folder under configured roots, remembered in
//! the machine-local `.devlog/.state/repos.json` (paths differ per machine, so never in git).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::Ctx;
use super::git::{git_config, git_err};
use crate::error::CliError;
use crate::output::{Table, write_stdout};
use crate::progress::Bar;

/// Find and list git repositories that carry a .devlog folder
#[derive(Debug, Args)]
pub struct ReposArgs {
    #[command(subcommand)]
    pub command: ReposCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReposCommand {
    /// Search folders for repositories with a .devlog folder and remember them
    Discover {
        /// A folder to search (repeatable); default: integrations.git.roots
        #[arg(long = "root", value_name = "DIR")]
        roots: Vec<PathBuf>,
    },
    /// The repositories found by `devlog repos discover`
    List,
    /// Fetch, merge and push the current branch; concurrent edits of an entry are merged field
    /// by field (notes, decisions and other lists with ids are unioned by id)
    Sync {
        /// The remote (default: the branch's upstream remote, else origin)
        #[arg(long)]
        remote: Option<String>,
        /// Every repository found by `devlog repos discover`, then this one
        #[arg(long)]
        all: bool,
    },
}

/// `.devlog/.state/repos.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnownRepos {
    pub repositories: Vec<PathBuf>,
}

pub fn state_file(devlog_dir: &Path) -> PathBuf {
    devlog_dir.join(".state").join("repos.json")
}

/// The remembered repositories (none when `discover` never ran).
pub fn load(devlog_dir: &Path) -> Result<KnownRepos, CliError> {
    let path = state_file(devlog_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "{}: {e}; delete it and run `devlog repos discover` again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KnownRepos::default()),
        Err(e) => Err(CliError::Other(anyhow::anyhow!("{}: {e}", path.display()))),
    }
}

pub async fn run(ctx: &Ctx, a: ReposArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    match a.command {
        ReposCommand::Discover { roots } => {
            let roots: Vec<PathBuf> = if roots.is_empty() {
                let cfg = git_config(&ws)?;
                cfg.roots.iter().map(|r| expand_home(&ws.root, r)).collect()
            } else {
                roots.iter().map(|r| ctx.discovery.cwd.join(r)).collect()
            };
            if roots.is_empty() {
                return Err(CliError::Usage(
                    "no folders to search: pass --root DIR or set `roots` in [integrations.git]"
                        .into(),
                ));
            }
            let bar = Bar::new("Searching", ctx.out.json);
            let found =
                devlog_git::discover::find(&roots, &mut |d, t| bar.set(d, t)).map_err(git_err)?;
            bar.finish();
            // Repositories under other roots stay known; those under the searched roots are
            // replaced by what is there now.
            let canon: Vec<PathBuf> = roots
                .iter()
                .filter_map(|r| std::fs::canonicalize(r).ok())
                .collect();
            let mut known = load(&ws.devlog_dir)?;
            known
                .repositories
                .retain(|p| !canon.iter().any(|r| p.starts_with(r)));
            known.repositories.extend(found.iter().cloned());
            known.repositories.sort();
            known.repositories.dedup();
            let path = state_file(&ws.devlog_dir);
            let write = || -> std::io::Result<()> {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut bytes = serde_json::to_vec_pretty(&known)?;
                bytes.push(b'\n');
                std::fs::write(&path, bytes)
            };
            write().map_err(|e| CliError::Other(anyhow::anyhow!("{}: {e}", path.display())))?;
            if ctx.out.json {
                ctx.out
                    .json(&serde_json::json!({"found": found, "known": known.repositories}))?;
            } else {
                let mut s = String::new();
                for p in &found {
                    s.push_str(&format!("{}\n", p.display()));
                }
                s.push_str(&format!(
                    "Found {} repositor{} with .devlog; {} known\n",
                    found.len(),
                    if found.len() == 1 { "y" } else { "ies" },
                    known.repositories.len()
                ));
                write_stdout(&s)?;
            }
            Ok(())
        }
        ReposCommand::Sync { remote, all } => {
            if all {
                return sync_all(ctx, &ws.devlog_dir, remote).await;
            }
            let outcome = sync_one(&ws.devlog_dir, remote)?;
            if ctx.out.json {
                ctx.out.json(&outcome_json(&outcome))?;
            } else {
                write_stdout(&outcome_text(&outcome))?;
            }
            Ok(())
        }
        ReposCommand::List => {
            let known = load(&ws.devlog_dir)?;
            let rows: Vec<(PathBuf, Option<usize>)> = known
                .repositories
                .iter()
                .map(|p| (p.clone(), entry_count(p)))
                .collect();
            if ctx.out.json {
                let items: Vec<_> = rows
                    .iter()
                    .map(|(p, n)| serde_json::json!({"path": p, "entries": n, "present": n.is_some()}))
                    .collect();
                ctx.out.json(&items)?;
                return Ok(());
            }
            if rows.is_empty() {
                write_stdout("No repositories known; run `devlog repos discover --root DIR`.\n")?;
                return Ok(());
            }
            let mut t = Table::header(&ctx.out, &["ENTRIES", "PATH"]);
            for (p, n) in &rows {
                let count = n.map_or_else(|| "missing".to_string(), |n| n.to_string());
                let path = p.display().to_string();
                t.row(vec![(count.clone(), count), (path.clone(), path)]);
            }
            write_stdout(&t.render())?;
            Ok(())
        }
    }
}

/// A configured root: `~/…` is in the home folder, a relative path is relative to the
/// project root.
fn expand_home(project_root: &Path, root: &Path) -> PathBuf {
    if let (Ok(rest), Some(home)) = (root.strip_prefix("~"), std::env::var_os("HOME")) {
        return PathBuf::from(home).join(rest);
    }
    project_root.join(root)
}

/// Entry files in a repository's `.devlog/entries`; `None` when the folder is gone.
fn entry_count(repo: &Path) -> Option<usize> {
    let rd = std::fs::read_dir(repo.join(".devlog").join("entries")).ok()?;
    Some(
        rd.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count(),
    )
}

/// `devlog search --all-repos`: the query in this workspace and in every repository
/// `devlog repos discover` remembered, ranked together. A repository that cannot be opened
/// is reported on stderr and passed over.
pub async fn search_all(ctx: &Ctx, query: devlog_core::SearchQuery) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let here = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
    let mut roots = vec![here.clone()];
    for p in load(&ws.devlog_dir)?.repositories {
        if !roots.contains(&p) {
            roots.push(p);
        }
    }
    let per_store = devlog_core::SearchQuery {
        offset: 0,
        limit: query.offset + query.limit,
        ..query.clone()
    };
    let mut hits: Vec<(PathBuf, devlog_core::SearchHit)> = Vec::new();
    let mut total = 0u64;
    for root in &roots {
        let opened = if *root == here {
            ws.open().await
        } else {
            match crate::workspace::Workspace::load(root.join(".devlog"), None) {
                Ok(w) => w.open().await,
                Err(e) => Err(e),
            }
        };
        let page = match opened {
            Ok(store) => store.search(&per_store).await.map_err(CliError::from),
            Err(e) => Err(e),
        };
        match page {
            Ok(page) => {
                total += page.total;
                hits.extend(page.items.into_iter().map(|h| (root.clone(), h)));
            }
            Err(e) => eprintln!("warning: skipped {}: {e}", root.display()),
        }
    }
    hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let hits: Vec<_> = hits
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
    if ctx.out.json {
        let items: Vec<_> = hits
            .iter()
            .map(|(root, h)| {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("repository".into(), serde_json::json!(root));
                }
                v
            })
            .collect();
        ctx.out.json(&items)?;
        return Ok(());
    }
    if hits.is_empty() {
        write_stdout("No entries match in any repository.\n")?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut t = Table::header(out, &["REPO", "#", "STATUS", "TITLE", "MATCH"]);
    for (root, h) in &hits {
        let repo = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        let e = &h.entry;
        let hs = format!("#{}", e.handle);
        let title = crate::output::truncate(&e.title, 40);
        let snip = crate::output::truncate(&h.snippet.replace('\n', " "), 50);
        t.row(vec![
            (repo.clone(), repo),
            (out.bold(&hs), hs),
            (out.status(e.status), e.status.to_string()),
            (title.clone(), title),
            (out.dim(&snip), snip),
        ]);
    }
    let mut s = t.render();
    if total as usize > hits.len() + query.offset {
        s.push_str(&out.dim(&format!(
            "{} of {} matches in {} repositories\n",
            hits.len(),
            total,
            roots.len()
        )));
    }
    write_stdout(&s)?;
    Ok(())
}

/// The three-way merge of one entry file changed on both sides: per field, a side's change
/// wins over the unchanged other side; lists of objects with an `id` (notes, decisions,
/// risks, dependencies) are unioned by id, lists of strings (tags, files) as sets; when both
/// sides changed the same value differently, the side updated last (`updatedAt`) wins. The
/// result must still be a valid entry, and is written in the canonical file format.
fn merge_entry_files(base: Option<&[u8]>, ours: &[u8], theirs: &[u8]) -> Result<Vec<u8>, String> {
    let parse = |b: &[u8], side: &str| {
        serde_json::from_slice::<serde_json::Value>(b)
            .map_err(|e| format!("the {side} version is not JSON: {e}"))
    };
    let (o, t) = (parse(ours, "local")?, parse(theirs, "remote")?);
    let b = base.map(|b| parse(b, "base")).transpose()?;
    let updated = |v: &serde_json::Value| {
        v.get("updatedAt")
            .and_then(|u| u.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let prefer_theirs = updated(&t) > updated(&o);
    let mut clashes = Vec::new();
    let merged = merge_at("", b.as_ref(), &o, &t, prefer_theirs, &mut clashes);
    let bytes = serde_json::to_vec(&merged).map_err(|e| e.to_string())?;
    let mut entry =
        devlog_core::codec::decode_entry(&bytes, "merged entry").map_err(|e| e.to_string())?;
    if !clashes.is_empty() {
        // A real conflict is recorded as data, with both values, in the entry itself: it
        // travels with the file, and the next sync or a human can act on it.
        let mut text = String::from(
            "Concurrent edits merged by `devlog repos sync`; the newer side was kept:\n",
        );
        for c in &clashes {
            text.push_str(&format!(
                "- {}: kept {}, the other clone had {}\n",
                c.path, c.kept, c.dropped
            ));
        }
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, text.as_bytes()).to_string();
        if !entry.notes.iter().any(|n| n.id == id) {
            entry.notes.push(devlog_core::Note {
                id,
                timestamp: entry.updated_at,
                category: devlog_core::NoteCategory::Issue,
                content: text.trim_end().to_string(),
                files: Vec::new(),
                code_changes: None,
                extra: Default::default(),
            });
        }
    }
    Ok(devlog_core::codec::encode_entry(&entry))
}

#[cfg(test)]
fn merge_value(
    base: Option<&serde_json::Value>,
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
    prefer_theirs: bool,
) -> serde_json::Value {
    merge_at("", base, ours, theirs, prefer_theirs, &mut Vec::new())
}

/// A field both clones changed to different values, as `repos sync` settled it.
#[derive(Debug, Clone, PartialEq)]
struct FieldClash {
    path: String,
    kept: serde_json::Value,
    dropped: serde_json::Value,
}

/// Bookkeeping fields that change on every write: the newer value is taken silently.
const BOOKKEEPING: &[&str] = &["updatedAt", "lastAIUpdate", "contextVersion"];

fn merge_at(
    path: &str,
    base: Option<&serde_json::Value>,
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
    prefer_theirs: bool,
    clashes: &mut Vec<FieldClash>,
) -> serde_json::Value {
    use serde_json::Value;
    if ours == theirs || base == Some(theirs) {
        return ours.clone();
    }
    if base == Some(ours) {
        return theirs.clone();
    }
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            let b = base.and_then(Value::as_object);
            let mut out = serde_json::Map::new();
            let keys = o.keys().chain(t.keys().filter(|k| !o.contains_key(*k)));
            for k in keys {
                let bk = b.and_then(|b| b.get(k));
                match (o.get(k), t.get(k)) {
                    (Some(ov), Some(tv)) => {
                        let sub = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        out.insert(
                            k.clone(),
                            merge_at(&sub, bk, ov, tv, prefer_theirs, clashes),
                        );
                    }
                    // Present on one side only: added there, or removed on the other side.
                    (Some(v), None) | (None, Some(v)) => {
                        if bk.is_none() || bk != Some(v) {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                    (None, None) => {}
                }
            }
            Value::Object(out)
        }
        (Value::Array(o), Value::Array(t)) if keyed(o) && keyed(t) => {
            let b: Vec<Value> = base
                .and_then(Value::as_array)
                .filter(|b| keyed(b))
                .cloned()
                .unwrap_or_default();
            let find =
                |list: &[Value], id: &Value| list.iter().find(|x| x.get("id") == Some(id)).cloned();
            let mut out = Vec::new();
            for ov in o {
                let id = &ov["id"];
                match find(t, id) {
                    Some(tv) => out.push(merge_at(
                        &format!("{path}[id={id}]"),
                        find(&b, id).as_ref(),
                        ov,
                        &tv,
                        prefer_theirs,
                        clashes,
                    )),
                    // Removed remotely: kept only if changed locally since the base.
                    None => {
                        if find(&b, id).as_ref() != Some(ov) {
                            out.push(ov.clone());
                        }
                    }
                }
            }
            for tv in t {
                let id = &tv["id"];
                if find(o, id).is_none() && find(&b, id).as_ref() != Some(tv) {
                    out.push(tv.clone());
                }
            }
            Value::Array(out)
        }
        (Value::Array(o), Value::Array(t)) if o.iter().chain(t).all(|v| !v.is_object()) => {
            let b: Vec<Value> = base.and_then(Value::as_array).cloned().unwrap_or_default();
            let mut out: Vec<Value> = o
                .iter()
                .filter(|v| t.contains(v) || !b.contains(v))
                .cloned()
                .collect();
            for v in t {
                if !out.contains(v) && !b.contains(v) {
                    out.push(v.clone());
                }
            }
            Value::Array(out)
        }
        _ => {
            let (kept, dropped) = if prefer_theirs {
                (theirs, ours)
            } else {
                (ours, theirs)
            };
            let last = path.rsplit('.').next().unwrap_or(path);
            if !BOOKKEEPING.contains(&last) {
                clashes.push(FieldClash {
                    path: path.to_string(),
                    kept: kept.clone(),
                    dropped: dropped.clone(),
                });
            }
            kept.clone()
        }
    }
}

/// Every element is an object with a string or number `id` (an empty list qualifies).
fn keyed(list: &[serde_json::Value]) -> bool {
    list.iter().all(|v| {
        v.get("id")
            .is_some_and(|id| id.is_string() || id.is_number())
    })
}

/// The stores of the other repositories `devlog repos discover` found (for cross-repository
/// discovery in MCP); one that cannot be opened is skipped with a warning on stderr.
pub async fn other_stores(
    ws: &crate::workspace::Workspace,
) -> Vec<(String, std::sync::Arc<dyn devlog_core::Store>)> {
    let here = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
    let mut out = Vec::new();
    let Ok(known) = load(&ws.devlog_dir) else {
        return out;
    };
    for root in known.repositories {
        if root == here {
            continue;
        }
        let opened = match crate::workspace::Workspace::load(root.join(".devlog"), None) {
            Ok(w) => w.open().await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(store) => out.push((root.display().to_string(), store)),
            Err(e) => eprintln!("warning: skipped {}: {e}", root.display()),
        }
    }
    out
}

fn sync_one(
    devlog_dir: &Path,
    remote: Option<String>,
) -> Result<devlog_git::sync::Outcome, CliError> {
    let repo = devlog_git::Repo::discover(devlog_dir).map_err(git_err)?;
    let rel = repo.relative(devlog_dir).map_err(git_err)?;
    devlog_git::sync::sync(
        &repo,
        &rel,
        &devlog_git::sync::Options { remote },
        &merge_entry_files,
    )
    .map_err(git_err)
}

fn outcome_json(o: &devlog_git::sync::Outcome) -> serde_json::Value {
    serde_json::json!({
        "remote": o.remote,
        "branch": o.branch,
        "mergedEntries": o.merged_files,
        "pushed": o.pushed,
    })
}

fn outcome_text(o: &devlog_git::sync::Outcome) -> String {
    let mut s = String::new();
    for f in &o.merged_files {
        s.push_str(&format!("merged {f}\n"));
    }
    s.push_str(&format!(
        "Synced {} with {}/{}{}\n",
        o.branch,
        o.remote,
        o.branch,
        if o.remote_existed {
            ""
        } else {
            " (first push)"
        }
    ));
    s
}

/// `repos sync --all`: every discovered repository, then this one. A failure in one is
/// reported and the others still sync; the command fails if any did.
async fn sync_all(ctx: &Ctx, here: &Path, remote: Option<String>) -> Result<(), CliError> {
    let mut targets: Vec<PathBuf> = load(here)?
        .repositories
        .iter()
        .map(|r| r.join(".devlog"))
        .filter(|d| d.is_dir() && !same_dir(d, here))
        .collect();
    targets.push(here.to_path_buf());
    let mut results = Vec::new();
    let mut failed = 0;
    for dir in &targets {
        let shown = dir.parent().unwrap_or(dir).display().to_string();
        match sync_one(dir, remote.clone()) {
            Ok(o) => {
                if !ctx.out.json {
                    write_stdout(&format!("{shown}: {}", outcome_text(&o)))?;
                }
                let mut v = outcome_json(&o);
                v["repository"] = serde_json::Value::String(shown);
                results.push(v);
            }
            Err(e) => {
                failed += 1;
                if !ctx.out.json {
                    eprintln!("{shown}: error: {e}");
                }
                results.push(serde_json::json!({"repository": shown, "error": e.to_string()}));
            }
        }
    }
    if ctx.out.json {
        ctx.out.json(&results)?;
    }
    if failed > 0 {
        return Err(CliError::Other(anyhow::anyhow!(
            "{failed} of {} repositories could not be synced (see above); the others were",
            targets.len()
        )));
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::merge_value;

    #[test]
    fn three_way_merge_of_entry_documents() {
        let base = json!({"title": "T", "priority": "medium", "tags": ["a", "b"],
            "notes": [{"id": "n0", "content": "zero"}], "updatedAt": "1"});
        let ours = json!({"title": "T2", "priority": "medium", "tags": ["a", "b", "c"],
            "notes": [{"id": "n0", "content": "zero"}, {"id": "n1", "content": "mine"}], "updatedAt": "2"});
        let theirs = json!({"title": "T", "priority": "high", "tags": ["b"],
            "notes": [{"id": "n0", "content": "zero!"}, {"id": "n2", "content": "theirs"}], "updatedAt": "3"});
        let m = merge_value(Some(&base), &ours, &theirs, true);
        assert_eq!(m["title"], "T2");
        assert_eq!(m["priority"], "high");
        assert_eq!(m["tags"], json!(["b", "c"]));
        assert_eq!(
            m["notes"],
            json!([{"id": "n0", "content": "zero!"}, {"id": "n1", "content": "mine"}, {"id": "n2", "content": "theirs"}])
        );
        assert_eq!(m["updatedAt"], "3");
        // Both changed the title: the side updated last wins; the merge is the same either way round.
        let a = json!({"title": "A", "updatedAt": "5"});
        let b = json!({"title": "B", "updatedAt": "4"});
        let base = json!({"title": "T", "updatedAt": "1"});
        assert_eq!(merge_value(Some(&base), &a, &b, false)["title"], "A");
        assert_eq!(merge_value(Some(&base), &b, &a, true)["title"], "A");
        // Notes added on both sides without a base (both created the file) are unioned.
        let o = json!({"notes": [{"id": "x"}]});
        let t = json!({"notes": [{"id": "y"}]});
        assert_eq!(
            merge_value(None, &o, &t, false)["notes"],
            json!([{"id": "x"}, {"id": "y"}])
        );
        // A note deleted on one side and untouched on the other is gone.
        let base = json!({"notes": [{"id": "x"}, {"id": "y"}]});
        let o = json!({"notes": [{"id": "x"}]});
        let t = json!({"notes": [{"id": "x"}, {"id": "y"}, {"id": "z"}]});
        assert_eq!(
            merge_value(Some(&base), &o, &t, false)["notes"],
            json!([{"id": "x"}, {"id": "z"}])
        );
    }
}
