//! `devlog github link|unlink|pr|sync|status` end to end: the real binary, in a temporary
//! workspace, against the test kit's fake GitHub (every request the binary makes is checked
//! against GitHub's OpenAPI description when the fake is dropped at the end of each test).
//!
//! The binary runs as a child process (`tokio::process`) so the fake keeps serving on the
//! test's runtime meanwhile. Each process paces its own writes ≥1 s apart (GitHub's secondary
//! limits), so the tests keep their writes per command few.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/audit.rs"]
mod audit;

use std::path::PathBuf;

use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_devlog");
const TOKEN: &str = "ghp_cli_test_token_5f3a9c";

/// What one run of the binary printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Rig {
    gh: FakeGithub,
    // Serves until the test ends.
    remote: FakeRemote,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
    token: String,
}

fn github_table(url: &str) -> String {
    format!(
        "[integrations.github]\nrepository = \"acme/widgets\"\ntoken = \"${{GITHUB_TOKEN}}\"\napiUrl = \"{url}\"\n"
    )
}

/// A workspace whose `devlog.toml` holds `config` (`{url}` replaced by the fake's URL).
async fn rig_with(config: impl FnOnce(&str) -> String) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let remote = b.routes(gh.router()).start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(dir.join("devlog.toml"), config(&remote.url())).unwrap();
    let r = Rig {
        gh,
        remote,
        _tmp: tmp,
        dir,
        home,
        token: TOKEN.into(),
    };
    r.ok(&["init"]).await;
    r
}

async fn rig() -> Rig {
    rig_with(github_table).await
}

fn assert_no_token(args: &[&str], text: &str) {
    assert!(
        !text.contains(TOKEN),
        "devlog {args:?} printed the token:\n{text}"
    );
}

impl Rig {
    async fn devlog_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = tokio::process::Command::new(BIN);
        c.args(args)
            .current_dir(&self.dir)
            .env_remove("DEVLOG_DIR")
            .env_remove("DEVLOG_STORAGE_TYPE")
            .env_remove("RUST_LOG")
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("DEVLOG_ACTOR", "tester")
            .env("GITHUB_TOKEN", &self.token);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().await.unwrap();
        let run = Run {
            code: o.status.code().unwrap(),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        };
        // The token never reaches the terminal, whatever the command and its outcome.
        assert_no_token(args, &run.stdout);
        assert_no_token(args, &run.stderr);
        run
    }

    async fn devlog(&self, args: &[&str]) -> Run {
        self.devlog_env(args, &[]).await
    }

    /// Runs, expects success, returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let r = self.devlog(args).await;
        assert!(
            r.code == 0,
            "devlog {args:?} failed ({}):\n{}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// Runs, expects failure, returns the run.
    async fn fails(&self, args: &[&str]) -> Run {
        let r = self.devlog(args).await;
        assert!(
            r.code != 0,
            "devlog {args:?} should fail:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        r
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("devlog {args:?} --json is not JSON ({e}):\n{out}"))
    }

    fn url(&self) -> String {
        self.remote.url()
    }

    async fn show(&self, entry: &str) -> Value {
        self.json(&["show", entry]).await
    }

    /// A new entry; returns its id.
    async fn new_entry(&self, title: &str) -> String {
        let e = self.json(&["new", title, "--type", "bugfix"]).await;
        e["id"].as_str().unwrap().to_string()
    }

    /// Issues #1..#4 belong to nobody; #5 has a body and two comments.
    fn issue_five(&self) -> u64 {
        for i in 1..=4 {
            self.gh
                .insert_issue(&format!("Unrelated {i}"), "not devlog's", false);
        }
        let i = self.gh.insert_issue(
            "Parser crashes on empty input",
            "Steps: run `parse \"\"`.\r\nIt panics.",
            false,
        );
        assert_eq!(i.number, 5);
        self.gh.add_comment(5, "alice", "Seen on 1.2 too.").unwrap();
        self.gh
            .add_comment(5, "bob", "Stack trace points at lexer.rs")
            .unwrap();
        5
    }
}

fn marker(id: &str) -> String {
    format!("<!-- devlog:id={id} -->")
}

fn refs<'a>(entry: &'a Value, system: &str) -> Vec<&'a Value> {
    entry["externalReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["system"] == system)
        .collect()
}

fn note_texts(entry: &Value) -> Vec<String> {
    entry["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn link_adopts_an_existing_issue_with_its_comments_and_refuses_a_second_entry() {
    let r = rig().await;
    let n = r.issue_five();
    let id = r.new_entry("Parser crash").await;

    let out = r.json(&["github", "link", "1", "5"]).await;
    assert_eq!(out["entry"], 1, "{out}");
    assert_eq!(out["issue"], 5, "{out}");
    assert_eq!(out["comments"], 2, "{out}");
    let url = out["url"].as_str().unwrap();
    assert!(url.ends_with("/acme/widgets/issues/5"), "{out}");
    // The marker put on the issue is one audit record; linking again records nothing more.
    let linked = audit::named(&r.ok(&["audit", "export"]).await, "item-linked");
    assert_eq!(linked.len(), 1, "{linked:?}");
    audit::by_cli(&linked[0], "tester");
    assert_eq!(linked[0]["what"]["remoteId"], "5");
    assert_eq!(linked[0]["handle"], 1);
    r.ok(&["github", "link", "1", "5"]).await;
    let export = r.ok(&["audit", "export"]).await;
    assert_eq!(audit::named(&export, "item-linked").len(), 1);
    r.ok(&["audit", "verify"]).await;

    // The issue keeps its text and gains the marker at the end.
    let body = r.gh.issue(n).unwrap().body.unwrap();
    assert!(body.starts_with("Steps: run `parse \"\"`."), "{body}");
    assert!(body.contains("It panics."), "{body}");
    assert!(body.trim_end().ends_with(&marker(&id)), "{body}");
    assert_eq!(
        r.gh.issue(n).unwrap().title,
        "Parser crashes on empty input"
    );

    let e = r.show("1").await;
    let gh_refs = refs(&e, "github");
    assert_eq!(gh_refs.len(), 1, "{e}");
    assert_eq!(gh_refs[0]["id"], "5", "{e}");
    assert_eq!(gh_refs[0]["url"].as_str(), Some(url), "{e}");
    // The entry's empty description took the issue's text (without the marker).
    let description = e["description"].as_str().unwrap();
    assert!(description.contains("It panics."), "{e}");
    assert!(!description.contains("devlog:id"), "{e}");
    // Both comments became notes.
    let notes = note_texts(&e);
    assert_eq!(notes.len(), 2, "{e}");
    assert!(notes.iter().any(|t| t.contains("Seen on 1.2 too.")), "{e}");
    assert!(
        notes
            .iter()
            .any(|t| t.contains("Stack trace points at lexer.rs")),
        "{e}"
    );

    // A second entry cannot take the same issue; the issue is left as it was.
    r.new_entry("Same crash, filed twice").await;
    let f = r.fails(&["github", "link", "2", "#5"]).await;
    assert!(f.stderr.contains("already linked"), "{}", f.stderr);
    assert!(
        f.stderr.contains(&id),
        "names the linked entry: {}",
        f.stderr
    );
    assert_eq!(r.gh.issue(n).unwrap().body.unwrap(), body);
    assert!(refs(&r.show("2").await, "github").is_empty());

    // A missing issue: a clear not-found message naming it and the repository.
    let f = r.fails(&["github", "link", "2", "999"]).await;
    assert!(
        f.stderr.contains("#999") && f.stderr.contains("acme/widgets"),
        "{}",
        f.stderr
    );
    assert!(
        f.stderr.contains("no longer exists") || f.stderr.contains("not found"),
        "{}",
        f.stderr
    );

    // Text output of a link by URL (idempotent for the entry that holds the marker).
    let text = r
        .ok(&[
            "github",
            "link",
            "1",
            "https://github.com/acme/widgets/issues/5",
        ])
        .await;
    assert!(text.starts_with("Linked #1 to issue #5"), "{text}");
    // No comment was imported twice.
    assert_eq!(note_texts(&r.show("1").await).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_pushes_a_note_once_and_pulls_a_new_comment_once() {
    let r = rig().await;
    let n = r.issue_five();
    r.new_entry("Parser crash").await;
    r.ok(&["github", "link", "1", "5"]).await;
    r.ok(&["note", "1", "Fixed in parser"]).await;

    r.ok(&["github", "sync"]).await;
    let comments = r.gh.comments(n);
    assert_eq!(comments.len(), 3, "{comments:?}");
    let pushed = &comments[2];
    assert!(pushed.body.starts_with("Fixed in parser"), "{pushed:?}");
    assert!(pushed.body.contains("<!-- devlog:note="), "{pushed:?}");
    assert!(pushed.body.trim_end().ends_with("-->"), "{pushed:?}");

    // Nothing changed: nothing new on either side.
    r.ok(&["github", "sync"]).await;
    assert_eq!(r.gh.comments(n).len(), 3);
    assert_eq!(note_texts(&r.show("1").await).len(), 3);

    // A comment written on GitHub becomes a note, once.
    r.gh.add_comment(n, "carol", "Confirmed fixed on main.")
        .unwrap();
    r.ok(&["github", "sync"]).await;
    r.ok(&["github", "sync"]).await;
    let notes = note_texts(&r.show("1").await);
    assert_eq!(
        notes
            .iter()
            .filter(|t| t.contains("Confirmed fixed on main."))
            .count(),
        1,
        "{notes:?}"
    );
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert_eq!(
        r.gh.comments(n).len(),
        4,
        "the pulled note is not pushed back"
    );
    // `devlog show` says whose it is.
    let text = r.ok(&["show", "1"]).await;
    assert!(text.contains("(@carol on github)"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pr_opens_one_pull_request_and_its_merge_completes_the_entry_and_closes_the_issue() {
    let r = rig().await;
    let n = r.issue_five();
    let id = r.new_entry("Parser crash").await;
    r.ok(&["github", "link", "1", "5"]).await;
    r.gh.add_branch("feature/x");

    // Unknown head branch: refused, saying to push it first; no pull request.
    let f = r
        .fails(&[
            "github",
            "pr",
            "1",
            "--head",
            "feature/nope",
            "--base",
            "main",
        ])
        .await;
    assert!(f.stderr.contains("push the branch"), "{}", f.stderr);
    assert!(f.stderr.contains("feature/nope"), "{}", f.stderr);
    assert!(r.gh.pulls().is_empty());

    let out = r
        .json(&["github", "pr", "1", "--head", "feature/x", "--base", "main"])
        .await;
    assert_eq!(out["created"], true, "{out}");
    assert_eq!(out["head"], "feature/x", "{out}");
    assert_eq!(out["base"], "main", "{out}");
    let pulls = r.gh.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let p = &pulls[0];
    assert_eq!(out["pullRequest"], p.number, "{out}");
    assert_eq!((p.head.as_str(), p.base.as_str()), ("feature/x", "main"));
    assert_eq!(p.title, "Parser crash");
    let body = p.body.clone().unwrap();
    assert!(body.contains(&format!("Closes #{n}")), "{body}");
    assert!(body.contains(&marker(&id)), "{body}");
    let opened = audit::named(&r.ok(&["audit", "export"]).await, "pull-request-opened");
    assert_eq!(opened.len(), 1, "{opened:?}");
    audit::by_cli(&opened[0], "tester");
    assert_eq!(opened[0]["what"]["remoteId"], p.number.to_string());

    let e = r.show("1").await;
    let pr_refs = refs(&e, "github-pr");
    assert_eq!(pr_refs.len(), 1, "{e}");
    assert_eq!(pr_refs[0]["id"], p.number.to_string(), "{e}");

    // Again: the open pull request is linked, not a second one opened.
    let text = r
        .ok(&["github", "pr", "1", "--head", "feature/x", "--base", "main"])
        .await;
    assert!(
        text.starts_with(&format!("Linked the open pull request #{}", p.number)),
        "{text}"
    );
    assert_eq!(r.gh.pulls().len(), 1);
    assert_eq!(refs(&r.show("1").await, "github-pr").len(), 1);
    // … and its opening is not recorded a second time.
    let export = r.ok(&["audit", "export"]).await;
    assert_eq!(audit::named(&export, "pull-request-opened").len(), 1);
    r.ok(&["audit", "verify"]).await;

    // Merged on GitHub: the next sync completes the entry and pushes the close.
    r.gh.merge_pull(p.number).unwrap();
    r.ok(&["github", "sync"]).await;
    let e = r.show("1").await;
    assert_eq!(e["status"], "done", "{e}");
    let issue = r.gh.issue(n).unwrap();
    assert_eq!(issue.state, "closed", "{issue:?}");
    assert_eq!(
        issue.state_reason.as_deref(),
        Some("completed"),
        "{issue:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unlink_removes_the_marker_and_later_syncs_leave_the_issue_alone() {
    let r = rig().await;
    let n = r.issue_five();
    let id = r.new_entry("Parser crash").await;
    r.ok(&["github", "link", "1", "5"]).await;

    let out = r.json(&["github", "unlink", "1"]).await;
    assert_eq!(out["entry"], 1, "{out}");
    assert_eq!(out["issue"], "5", "{out}");
    assert_eq!(out["unlinked"], true, "{out}");
    let before = r.gh.issue(n).unwrap();
    let body = before.body.clone().unwrap();
    assert!(!body.contains("devlog:id="), "{body}");
    assert!(!body.contains(&id), "{body}");
    assert!(
        body.contains("It panics."),
        "the issue keeps its text: {body}"
    );
    assert!(refs(&r.show("1").await, "github").is_empty());
    let unlinked = audit::named(&r.ok(&["audit", "export"]).await, "item-unlinked");
    assert_eq!(unlinked.len(), 1, "{unlinked:?}");
    audit::by_cli(&unlinked[0], "tester");
    assert_eq!(unlinked[0]["what"]["remoteId"], "5");

    // A second unlink: nothing to unlink, nothing recorded.
    let f = r.fails(&["github", "unlink", "1"]).await;
    let export = r.ok(&["audit", "export"]).await;
    assert_eq!(audit::named(&export, "item-unlinked").len(), 1);
    r.ok(&["audit", "verify"]).await;
    assert!(
        f.stderr.contains("not linked to a GitHub issue"),
        "{}",
        f.stderr
    );

    // Local edits and syncs: no new issue, the old one unchanged.
    r.ok(&["edit", "1", "--title", "Parser crash (renamed)"])
        .await;
    r.ok(&["github", "sync"]).await;
    let issues = r.gh.issues();
    assert_eq!(issues.len(), 5, "{issues:?}");
    assert_eq!(r.gh.issues_created(), 0);
    let after = r.gh.issue(n).unwrap();
    assert_eq!(after.title, "Parser crashes on empty input");
    assert_eq!(after.body, before.body);
    assert_eq!(after.state, "open");
    assert!(refs(&r.show("1").await, "github").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_the_repository_counts_and_linked_entries() {
    let r = rig().await;
    r.issue_five();
    r.new_entry("Parser crash").await;
    r.ok(&["github", "link", "1", "5"]).await;

    // Just linked: listed, its fields waiting for the next sync.
    let s = r.json(&["github", "status"]).await;
    assert_eq!(s["repository"], "acme/widgets", "{s}");
    assert_eq!(s["apiUrl"], r.url(), "{s}");
    let linked = s["linked"].as_array().unwrap();
    assert_eq!(linked.len(), 1, "{s}");
    assert_eq!(linked[0]["entry"], 1, "{s}");
    assert_eq!(linked[0]["issue"], "5", "{s}");
    assert_eq!(linked[0]["title"], "Parser crash", "{s}");

    // A sync pushes it and creates an issue for the new entry: both synced, nothing queued.
    r.new_entry("Lexer rewrite").await;
    r.ok(&["github", "sync"]).await;
    assert_eq!(r.gh.issues_created(), 1);
    let s = r.json(&["github", "status"]).await;
    assert_eq!(s["pendingJobs"], 0, "{s}");
    assert_eq!(s["failedJobs"], 0, "{s}");
    assert_eq!(s["conflicts"], 0, "{s}");
    assert!(s["pullCursor"]["issues"].is_string(), "{s}");
    let linked = s["linked"].as_array().unwrap();
    assert_eq!(linked.len(), 2, "{s}");
    assert!(linked.iter().all(|l| l["state"] == "synced"), "{s}");
    let second = linked.iter().find(|l| l["entry"] == 2).unwrap();
    assert_eq!(second["issue"], "6", "{s}");
    assert_eq!(second["title"], "Lexer rewrite", "{s}");

    let text = r.ok(&["github", "status"]).await;
    assert!(
        text.starts_with(&format!("GitHub: acme/widgets via {}\n", r.url())),
        "{text}"
    );
    assert!(
        text.contains("2 linked, 0 pending, 0 failed, 0 conflict(s)"),
        "{text}"
    );
    assert!(text.contains("issues pulled up to "), "{text}");
    let header = text.lines().find(|l| l.starts_with("ENTRY")).unwrap();
    for column in ["ISSUE", "PRS", "STATE", "TITLE"] {
        assert!(header.contains(column), "{header}");
    }
    for (entry, issue, title) in [("#1", "#5", "Parser crash"), ("#2", "#6", "Lexer rewrite")] {
        let row = text
            .lines()
            .find(|l| l.contains(title))
            .unwrap_or_else(|| panic!("no row for {title}:\n{text}"));
        assert!(
            row.starts_with(entry) && row.contains(issue) && row.contains("synced"),
            "{row}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn github_commands_without_the_integration_name_its_table() {
    let r = rig_with(|_| String::new()).await;
    r.new_entry("Parser crash").await;
    for args in [
        &["github", "status"][..],
        &["github", "status", "--json"],
        &["github", "sync"],
        &["github", "link", "1", "5"],
        &["github", "unlink", "1"],
        &["github", "pr", "1", "--head", "feature/x"],
    ] {
        let f = r.fails(args).await;
        assert_eq!(f.code, 2, "devlog {args:?}: {}", f.stderr);
        assert!(
            f.stderr.contains("[integrations.github]"),
            "devlog {args:?}: {}",
            f.stderr
        );
    }
    assert!(r.gh.issues().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_is_not_printed_even_with_trace_logging() {
    let mut r = rig().await;
    r.issue_five();
    r.new_entry("Parser crash").await;
    // A token the fake does not accept (401): the error path, logs at their most verbose.
    r.token = format!("{TOKEN}_revoked");
    let wrong = r.token.clone();
    for args in [
        &["github", "link", "1", "5"][..],
        &["github", "sync"],
        &["github", "status", "--check"],
    ] {
        let run = r.devlog_env(args, &[("RUST_LOG", "trace")]).await;
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(&wrong),
                "devlog {args:?} printed the token:\n{text}"
            );
        }
        if args[1] == "link" {
            assert_ne!(run.code, 0);
            assert!(run.stderr.contains("rejected the token"), "{}", run.stderr);
        }
    }
    assert!(!r.gh.issue(5).unwrap().body.unwrap().contains("devlog:id"));
}

#[tokio::test(flavor = "multi_thread")]
async fn link_pr_applies_a_merged_pull_request_and_unlink_pr_forgets_it() {
    let r = rig().await;
    r.new_entry("Parser crash").await;
    let p = r.gh.insert_pull("Fix the parser", "fix/parser", "main");
    r.gh.merge_pull(p.number).unwrap();

    let out = r
        .json(&["github", "link", "1", &p.number.to_string(), "--pr"])
        .await;
    assert_eq!(out["pullRequest"], p.number, "{out}");
    assert_eq!(out["state"], "merged", "{out}");
    let e = r.show("1").await;
    assert_eq!(
        e["status"], "done",
        "a merged pull request completes the entry: {e}"
    );
    assert_eq!(refs(&e, "github-pr").len(), 1, "{e}");
    let s = r.json(&["github", "status"]).await;
    assert_eq!(
        s["linked"].as_array().unwrap().len(),
        0,
        "no issue is linked: {s}"
    );

    // Forgetting a pull request the entry does not have is refused.
    let f = r.fails(&["github", "unlink", "1", "--pr", "99"]).await;
    assert!(f.stderr.contains("#99 is not linked"), "{}", f.stderr);

    let out = r
        .json(&["github", "unlink", "1", "--pr", &format!("#{}", p.number)])
        .await;
    assert_eq!(out["unlinked"], true, "{out}");
    assert!(refs(&r.show("1").await, "github-pr").is_empty());
    // Nothing was written to GitHub.
    assert_eq!(r.gh.pull(p.number).unwrap().body, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_an_already_linked_entry_to_another_issue_is_refused() {
    let r = rig().await;
    r.issue_five();
    let id = r.new_entry("Parser crash").await;
    r.ok(&["github", "link", "1", "5"]).await;

    let f = r.fails(&["github", "link", "1", "3"]).await;
    assert!(
        f.stderr.contains("#5"),
        "names the linked issue: {}",
        f.stderr
    );
    assert!(
        !r.gh.issue(3).unwrap().body.unwrap().contains(&marker(&id)),
        "issue #3 was not adopted"
    );
    let e = r.show("1").await;
    let gh_refs = refs(&e, "github");
    assert_eq!(gh_refs.len(), 1, "{e}");
    assert_eq!(gh_refs[0]["id"], "5", "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_a_missing_issue_exits_not_found() {
    let r = rig().await;
    r.new_entry("Parser crash").await;
    let f = r.fails(&["github", "link", "1", "999"]).await;
    assert_eq!(f.code, 3, "{}", f.stderr);
    assert!(!f.stderr.contains("storage error"), "{}", f.stderr);
}

/// Issue 13 item 5: a failing `devlog integrations check` exits by cause, never 2 ("usage"):
/// a rejected token is something to fix (5), an unreachable GitHub is worth retrying (7).
#[tokio::test(flavor = "multi_thread")]
async fn integrations_check_exits_by_the_cause_of_the_failure() {
    let mut r = rig().await;
    let run = r.devlog(&["integrations", "check"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    r.token = format!("{TOKEN}_revoked");
    let run = r.devlog(&["integrations", "check"]).await;
    assert_eq!(run.code, 5, "rejected token: {}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("github: FAILED"), "{}", run.stdout);

    // Nothing listens on port 9 of loopback (discard): connection refused.
    let dead = rig_with(|_| github_table("http://127.0.0.1:9")).await;
    let run = dead.devlog(&["integrations", "check"]).await;
    assert_eq!(run.code, 7, "unreachable: {}{}", run.stdout, run.stderr);
}

/// Issue 14's reproduction: the index is deleted (allowed at any time), the change feed
/// restarts below the sync cursor, and an edit made afterwards must still reach GitHub.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_after_the_index_is_deleted_is_planned_and_pushed() {
    let r = rig().await;
    r.new_entry("Survives a rebuild").await;
    for k in 0..4 {
        r.ok(&["edit", "1", "--description", &format!("revision {k}")])
            .await;
    }
    r.ok(&["sync"]).await;
    r.ok(&["sync"]).await;
    let issue = r.gh.issues().into_iter().next().unwrap();
    assert!(!issue.labels.contains(&"priority:critical".to_string()));

    std::fs::remove_file(r.dir.join(".devlog/.state/index.sqlite")).unwrap();
    r.ok(&["edit", "1", "--priority", "critical"]).await;
    let status = r.json(&["sync", "status"]).await;
    assert_eq!(
        status["entries"][0]["state"], "changed locally, not pushed yet",
        "{status}"
    );
    let plan = r.ok(&["sync", "--plan"]).await;
    assert!(plan.contains("update priority"), "{plan}");
    assert!(
        plan.contains("github: the change feed was rebuilt"),
        "the plan says why every entry is compared: {plan}"
    );
    let out = r.ok(&["sync"]).await;
    assert!(
        out.contains("note: github: the change feed was rebuilt"),
        "{out}"
    );
    let issue = r.gh.issue(issue.number).unwrap();
    assert!(
        issue.labels.contains(&"priority:critical".to_string()),
        "{issue:?}"
    );
    let out = r.ok(&["sync"]).await;
    assert!(
        !out.contains("note:"),
        "the rebuilt feed is trusted from now on: {out}"
    );
    let status = r.json(&["sync", "status"]).await;
    assert_eq!(status["entries"][0]["state"], "synced", "{status}");
}

/// Files of the machine-local sync state (the SQLite database and its WAL), read raw.
fn sync_state_bytes(dir: &std::path::Path) -> Vec<u8> {
    let state = dir.join(".devlog").join(".state");
    let mut out = Vec::new();
    for f in std::fs::read_dir(&state).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("sync.sqlite")
        {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn a_second_cli_sync_on_an_unchanged_remote_costs_only_304s() {
    let r = rig().await;
    r.issue_five();
    r.new_entry("Parser crash").await;
    r.ok(&["github", "link", "1", "5"]).await;
    // Pushes the entry (a write, which moves the issue's `updated_at`).
    r.ok(&["sync"]).await;
    // Reads that write back: the pull cursor moves past it (a new `since`, a new URL).
    r.ok(&["sync"]).await;
    // Idle: reads the lists at the settled cursor, 200s whose validators it stores.
    r.ok(&["sync"]).await;
    let issue = r.gh.issue(5).unwrap();
    let entry = r.show("1").await;

    // A new process at the same cursor: it sends the validators the previous one stored, and
    // the remote answers every read with a 304 (the client logs each response's status).
    let before = r.remote.requests().len();
    let run = r
        .devlog_env(&["sync"], &[("RUST_LOG", "devlog_http=debug")])
        .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let second: Vec<_> = r.remote.requests().split_off(before);
    let gets: Vec<_> = second.iter().filter(|q| q.method == "GET").collect();
    assert!(!gets.is_empty(), "{second:?}");
    assert_eq!(
        gets.len(),
        second.len(),
        "an idle sync only reads: {second:?}"
    );
    for q in &gets {
        assert!(
            q.header("if-none-match").is_some(),
            "GET {} went without If-None-Match",
            q.path
        );
    }
    let logged = |status: &str| {
        run.stderr
            .lines()
            .filter(|l| l.contains("request") && l.contains(&format!("status={status}")))
            .count()
    };
    assert_eq!(logged("304"), gets.len(), "{}", run.stderr);
    assert_eq!(logged("200"), 0, "{}", run.stderr);

    // Nothing changed on either side.
    assert_eq!(r.gh.issue(5).unwrap(), issue);
    assert_eq!(r.show("1").await, entry);
    // The cache is keyed by a digest of the credentials, never the token itself.
    let raw = sync_state_bytes(&r.dir);
    assert!(!raw.is_empty());
    assert!(
        !raw.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the token is in the sync state"
    );
}

/// Issue 14: `--plan` shows the pull side. A title changed on GitHub and locally is shown as
/// a conflict (human and `--json`), the update lists only the other field, nothing changes,
/// and the sync then records exactly that conflict.
#[tokio::test(flavor = "multi_thread")]
async fn the_plan_shows_the_conflict_a_pull_would_record() {
    let r = rig().await;
    r.new_entry("Original title").await;
    r.ok(&["sync"]).await;
    let issue = r.gh.issues().into_iter().next().unwrap();
    r.gh.edit_issue(issue.number, |i| i.title = "Title from GitHub".into())
        .unwrap();
    r.ok(&[
        "edit",
        "1",
        "--title",
        "Local title",
        "--priority",
        "critical",
    ])
    .await;

    let plan = r.ok(&["sync", "--plan"]).await;
    assert!(
        plan.contains(&format!(
            "github: conflict on title of #1: local \"Local title\", remote {} \"Title from GitHub\"",
            issue.number
        )),
        "{plan}"
    );
    assert!(plan.contains("update priority of remote"), "{plan}");
    assert!(!plan.contains("update title"), "{plan}");
    let ops = r.json(&["sync", "--plan"]).await;
    let ops = ops.as_array().unwrap();
    let conflicts: Vec<_> = ops.iter().filter(|o| o["op"] == "conflict").collect();
    assert_eq!(conflicts.len(), 1, "{ops:?}");
    assert_eq!(conflicts[0]["field"], "title");
    assert_eq!(conflicts[0]["local"], "Local title");
    assert_eq!(conflicts[0]["remote"], "Title from GitHub");
    assert!(
        ops.iter()
            .any(|o| o["op"] == "update" && o["fields"] == serde_json::json!(["priority"])),
        "{ops:?}"
    );
    let listed = r.json(&["sync", "conflicts"]).await;
    assert_eq!(listed, serde_json::json!([]), "the plan recorded nothing");

    r.ok(&["sync"]).await;
    let listed = r.json(&["sync", "conflicts"]).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            &listed[0]["field"],
            &listed[0]["local"],
            &listed[0]["remote"]
        ),
        (
            &conflicts[0]["field"],
            &conflicts[0]["local"],
            &conflicts[0]["remote"]
        )
    );
    let issue = r.gh.issue(issue.number).unwrap();
    assert_eq!(
        issue.title, "Title from GitHub",
        "a held field is not pushed"
    );
    assert!(issue.labels.contains(&"priority:critical".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_round_trips_an_entrys_milestone_with_github() {
    let r = rig().await;
    r.ok(&[
        "milestone",
        "new",
        "Sprint 1",
        "--due",
        "2030-03-15",
        "-d",
        "First sprint",
    ])
    .await;
    r.json(&["new", "Parser crash", "--milestone", "Sprint 1"])
        .await;

    // Pushed: the milestone is created on GitHub with its description and due date.
    let plan = r.ok(&["sync", "--plan"]).await;
    assert!(plan.contains("create a remote item for #1"), "{plan}");
    r.ok(&["sync"]).await;
    let ms = r.gh.milestones();
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(ms[0].title, "Sprint 1");
    assert_eq!(ms[0].description.as_deref(), Some("First sprint"));
    assert_eq!(
        ms[0].due_on.map(|d| d.date_naive().to_string()).as_deref(),
        Some("2030-03-15")
    );
    assert_eq!(r.gh.issue(1).unwrap().milestone, Some(ms[0].number));

    // Moved on GitHub into a milestone devlog does not have: the entry follows and the
    // milestone is created locally with GitHub's description and due date.
    let q3 = r.gh.add_milestone("Q3");
    r.gh.edit_milestone(q3.number, |m| {
        m.description = Some("Quarter goals".into());
        m.due_on = Some("2030-09-30T07:00:00Z".parse().unwrap());
    });
    r.gh.edit_issue(1, |i| {
        i.milestone = Some(q3.number);
        i.updated_at = chrono::Utc::now();
    });
    let plan = r.ok(&["sync", "--plan"]).await;
    assert!(
        plan.contains("take milestone from remote 1 into #1"),
        "{plan}"
    );
    let out = r.ok(&["sync"]).await;
    assert!(out.contains("created milestone `Q3`"), "{out}");
    assert_eq!(r.show("1").await["milestone"], "Q3");
    let local = r.json(&["milestone", "show", "Q3"]).await;
    assert_eq!(
        local["milestone"]["description"], "Quarter goals",
        "{local}"
    );
    assert_eq!(local["milestone"]["dueDate"], "2030-09-30", "{local}");

    // Cleared here: cleared on GitHub.
    r.ok(&["edit", "1", "--milestone", "none"]).await;
    r.ok(&["sync"]).await;
    assert_eq!(r.gh.issue(1).unwrap().milestone, None);
    assert_eq!(r.gh.milestones().len(), 2, "milestones themselves stay");
}
