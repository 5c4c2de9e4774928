//! The `devlog` binary: parses the command line, runs one command, maps errors to exit codes.
//! API boundary: the only crate that knows the terminal, the environment and `$HOME`.

mod cli;
mod commands;
mod config;
mod error;
mod output;
mod progress;
mod report_render;
mod workspace;

use clap::Parser;
use devlog_core::entry::Transition;

use crate::cli::{Cli, Command};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::Out;
use crate::workspace::Discovery;

fn main() {
    let mut cli = Cli::parse();
    let command = cli
        .command
        .take()
        .unwrap_or(Command::Today(commands::today::TodayArgs {
            limit: commands::today::BARE_LIMIT,
            bare: true,
        }));
    // These commands print the store's warnings (a read-only checkout, damaged entry files)
    // as `warning:` lines of their own; the store's log lines would say the same again.
    let prints_store_warnings = matches!(
        command,
        Command::List(_)
            | Command::Search(_)
            | Command::Stats(_)
            | Command::Report(_)
            | Command::Context(_)
            | Command::Today(_)
    );
    init_tracing(cli.verbose, prints_store_warnings);
    let out = Out::new(cli.json, cli.no_color);
    let code = match run(cli, command, out) {
        Ok(()) => error::exit::OK,
        Err(e) => {
            report(&out, &e);
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli, command: Command, out: Out) -> Result<(), CliError> {
    let cwd = std::env::current_dir().map_err(|e| CliError::Other(e.into()))?;
    let ctx = Ctx {
        out,
        discovery: Discovery {
            dir: cli.dir,
            backend: std::env::var("DEVLOG_STORAGE_TYPE")
                .ok()
                .filter(|s| !s.is_empty()),
            cwd,
        },
        actor: actor(cli.actor),
    };
    if let Command::Completions(a) = command {
        return commands::completions::run(a);
    }
    let rt = runtime_for(&command).map_err(|e| CliError::Other(e.into()))?;
    // Commands that change entries; with `integrations.git.autoCommit` they commit `.devlog`.
    let writes = match &command {
        Command::New(_) => Some("new"),
        Command::Edit(_) => Some("edit"),
        Command::Note(_) => Some("note"),
        Command::Decide(_) => Some("decide"),
        Command::Done(_) => Some("done"),
        Command::Start(_) => Some("start"),
        Command::Block(_) => Some("block"),
        Command::Review(_) => Some("review"),
        Command::Close(_) => Some("close"),
        Command::Reopen(_) => Some("reopen"),
        Command::Assign(_) => Some("assign"),
        Command::Tag(_) => Some("tag"),
        Command::Bulk(_) => Some("bulk"),
        Command::Insight(_) => Some("insight"),
        Command::Link(_) => Some("link"),
        Command::Unlink(_) => Some("unlink"),
        Command::Dep(_) => Some("dep"),
        Command::Risk(_) => Some("risk"),
        Command::LogTime(_) => Some("log-time"),
        Command::Worklog(_) => Some("worklog"),
        Command::Milestone(_) => Some("milestone"),
        Command::Undo(_) => Some("undo"),
        Command::Delete(_) => Some("delete"),
        Command::Purge(_) => Some("purge"),
        Command::Import(_) => Some("import"),
        Command::Sync(_) => Some("sync"),
        Command::Worker(_) => Some("worker"),
        Command::Github(_) => Some("github"),
        Command::Jira(_) => Some("jira"),
        Command::Ado(_) => Some("ado"),
        _ => None,
    };
    let ctx_after = ctx.clone();
    let result = rt.block_on(async move {
        // The workflows a write triggers run before the command exits (docs/workflows.md).
        let hook = match writes {
            Some("worker") | None => None,
            Some(_) => commands::workflow::Hook::before(&ctx).await,
        };
        let result = match command {
            Command::Today(a) => commands::today::run(&ctx, a).await,
            Command::Init(a) => commands::init::run(&ctx, a).await,
            Command::New(a) => commands::new::run(&ctx, a).await,
            Command::List(a) => commands::list::run(&ctx, a).await,
            Command::Show(a) => commands::show::run(&ctx, a).await,
            Command::Edit(a) => commands::edit::run(&ctx, a).await,
            Command::Note(a) => commands::note::run(&ctx, a).await,
            Command::Decide(a) => commands::decide::run(&ctx, a).await,
            Command::Done(a) => commands::done::run(&ctx, a).await,
            Command::Start(a) => commands::shortcuts::transition(&ctx, Transition::Start, a).await,
            Command::Block(a) => commands::shortcuts::transition(&ctx, Transition::Block, a).await,
            Command::Review(a) => {
                commands::shortcuts::transition(&ctx, Transition::Review, a).await
            }
            Command::Close(a) => commands::shortcuts::transition(&ctx, Transition::Close, a).await,
            Command::Reopen(a) => {
                commands::shortcuts::transition(&ctx, Transition::Reopen, a).await
            }
            Command::Assign(a) => commands::shortcuts::assign(&ctx, a).await,
            Command::Tag(a) => commands::shortcuts::tag(&ctx, a).await,
            Command::Bulk(a) => commands::bulk::run(&ctx, a).await,
            Command::Insight(a) => commands::insights::add(&ctx, a).await,
            Command::Insights(a) => commands::insights::list(&ctx, a).await,
            Command::Link(a) => commands::relations::link(&ctx, a).await,
            Command::Unlink(a) => commands::relations::unlink(&ctx, a).await,
            Command::Dep(a) => commands::relations::dep(&ctx, a).await,
            Command::Risk(a) => commands::relations::risk(&ctx, a).await,
            Command::LogTime(a) => commands::log_time::run(&ctx, a).await,
            Command::Worklog(a) => commands::worklog::run(&ctx, a).await,
            Command::Milestone(a) => commands::milestone::run(&ctx, a).await,
            Command::Search(a) => commands::search::run(&ctx, a).await,
            Command::Stats(a) => commands::stats::run(&ctx, a).await,
            Command::Report(a) => commands::report::run(&ctx, a).await,
            Command::Context(a) => commands::context::run(&ctx, a).await,
            Command::Events(a) => commands::events::run(&ctx, a).await,
            Command::Audit(a) => commands::audit::run(&ctx, a).await,
            Command::Token(a) => commands::token::run(&ctx, a).await,
            Command::Log(a) => commands::log::run(&ctx, a).await,
            Command::Undo(a) => commands::undo::run(&ctx, a).await,
            Command::Delete(a) => commands::delete::run(&ctx, a).await,
            Command::Purge(a) => commands::purge::run(&ctx, a).await,
            Command::Export(a) => commands::export::run(&ctx, a).await,
            Command::Import(a) => commands::import::run(&ctx, a).await,
            Command::Migrate(a) => commands::migrate::run(&ctx, a).await,
            Command::Reindex(a) => commands::reindex::run(&ctx, a).await,
            Command::Config(a) => commands::config::run(&ctx, a).await,
            Command::Sync(a) => commands::sync::run(&ctx, a).await,
            Command::Integrations(a) => commands::sync::integrations(&ctx, a).await,
            Command::Worker(a) => commands::worker::run(&ctx, a).await,
            Command::Watch(a) => commands::watch::run(&ctx, a).await,
            Command::Mcp(a) => commands::mcp::run(&ctx, a).await,
            Command::Serve(a) => commands::serve::run(&ctx, a).await,
            Command::Git(a) => commands::git::run(&ctx, a).await,
            Command::Github(a) => commands::github::run(&ctx, a).await,
            Command::Jira(a) => commands::jira::run(&ctx, a).await,
            Command::Ado(a) => commands::ado::run(&ctx, a).await,
            Command::Repos(a) => commands::repos::run(&ctx, a).await,
            Command::Plugin(a) => commands::plugin::run(&ctx, a).await,
            Command::Workflow(a) => commands::workflow::run(&ctx, a).await,
            Command::Completions(_) => unreachable!("handled before the runtime starts"),
        };
        if let (Ok(()), Some(hook)) = (&result, hook) {
            hook.after().await;
        }
        result
    });
    match (result, writes) {
        (Ok(()), Some(verb)) => commands::git::auto_commit(&ctx_after, verb),
        (result, _) => result,
    }
}

/// The environment variable that sets the worker threads of a long-running command.
const RUNTIME_THREADS_VAR: &str = "DEVLOG_RUNTIME_THREADS";

/// Who is acting: `--actor` (or `DEVLOG_ACTOR`), else `USER`, else `LOGNAME`, else the OS
/// account the process runs as (a container or service manager often sets neither variable).
/// `None` only when all of them are empty or unreadable.
fn actor(given: Option<String>) -> Option<String> {
    given
        .into_iter()
        .chain(
            ["USER", "LOGNAME"]
                .iter()
                .filter_map(|v| std::env::var(v).ok()),
        )
        .chain(std::iter::once_with(|| whoami::username().ok()).flatten())
        .map(|a| a.trim().to_string())
        .find(|a| !a.is_empty())
}

/// The runtime a command runs on. Long-running commands (`serve`, `mcp`, `worker`,
/// `sync --watch`) serve many connections or streams at once: a multi-threaded runtime, so
/// one request's blocking file work (handed off with `block_in_place`, see
/// `devlog_store::fsutil::blocking`) never stalls the others; stdio `devlog mcp` serves one
/// client and gets one worker (blocking work still leaves it). Short commands do one thing
/// and exit: a current-thread runtime starts faster and uses less memory.
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = workers_for(
        command,
        std::env::var(RUNTIME_THREADS_VAR).ok().as_deref(),
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    )
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    match threads {
        None | Some(0) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .thread_name("devlog-worker")
            .enable_all()
            .build(),
    }
}

/// The workers of `command`'s runtime: `None` for a short command (current-thread), else
/// `runtime_threads` with `var` (`DEVLOG_RUNTIME_THREADS`), where `Some(0)` is the
/// current-thread runtime too.
fn workers_for(
    command: &Command,
    var: Option<&str>,
    cores: usize,
) -> Result<Option<usize>, String> {
    let long_running = match command {
        Command::Serve(_) | Command::Mcp(_) | Command::Worker(_) => true,
        Command::Sync(a) => a.watch,
        _ => false,
    };
    if !long_running {
        return Ok(None);
    }
    // A stdio MCP server has one client, which waits for each answer: one worker.
    let one_client = matches!(command, Command::Mcp(a) if a.http.is_none());
    runtime_threads(
        var,
        if one_client {
            1
        } else {
            default_threads(cores)
        },
    )
    .map(Some)
}

/// Worker threads for a long-running command: `DEVLOG_RUNTIME_THREADS` when set (0–64; 0 is
/// the current-thread runtime of short commands, for the smallest footprint and for
/// comparisons), else `default`: one for stdio `devlog mcp` (one client, one request at a
/// time; blocking work still leaves the worker through `block_in_place`, which hands the
/// worker's other tasks to a fresh thread), `default_threads` for the others.
fn runtime_threads(var: Option<&str>, default: usize) -> Result<usize, String> {
    match var.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= 64 => Ok(n),
            _ => Err(format!(
                "{RUNTIME_THREADS_VAR}={v} is not a number of threads from 0 to 64"
            )),
        },
    }
}

/// Workers of a long-running command that serves many clients (`serve`, `mcp --http`,
/// `worker`, `sync --watch`): the cores, at least 2 (one blocked request must leave another
/// thread answering) and at most 4 (the work is I/O; more threads only cost memory).
fn default_threads(cores: usize) -> usize {
    cores.clamp(2, 4)
}

fn report(out: &Out, e: &CliError) {
    if out.json {
        let v = serde_json::json!({
            "error": {"class": e.class(), "message": e.to_string(), "hint": e.hint()}
        });
        eprintln!("{v}");
    } else {
        eprintln!("error: {}", output::clean(&e.to_string(), false));
        if let Some(h) = e.hint() {
            eprintln!("hint: {}", output::clean(&h, false));
        }
    }
}

fn init_tracing(verbose: u8, prints_store_warnings: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    // rmcp logs every error answer at WARN, including the routine ones a client caused (an
    // unknown entry, a bad argument); devlog logs its own unexpected failures itself.
    let mut default = match verbose {
        0 => "warn,rmcp::service=error",
        1 => "info,rmcp::service=error",
        _ => "debug",
    }
    .to_string();
    if prints_store_warnings && verbose == 0 {
        default.push_str(",devlog_store::json=error");
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: logs piped to a file or an MCP client's
        // log view stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::{default_threads, runtime_threads};

    #[test]
    fn runtime_threads_default_to_the_cores_between_two_and_four() {
        assert_eq!(default_threads(1), 2);
        assert_eq!(default_threads(2), 2);
        assert_eq!(default_threads(3), 3);
        assert_eq!(default_threads(16), 4);
        assert_eq!(runtime_threads(None, 3), Ok(3));
        assert_eq!(runtime_threads(Some(" "), 4), Ok(4));
    }

    #[test]
    fn stdio_mcp_runs_on_one_worker_unless_told_otherwise() {
        use clap::Parser;
        let threads = |args: &[&str], var: Option<&str>| {
            let cli = super::Cli::try_parse_from(args).unwrap();
            let command = cli.command.unwrap();
            super::workers_for(&command, var, 4)
        };
        assert_eq!(threads(&["devlog", "mcp"], None), Ok(Some(1)));
        assert_eq!(threads(&["devlog", "mcp"], Some("0")), Ok(Some(0)));
        assert_eq!(threads(&["devlog", "mcp"], Some("3")), Ok(Some(3)));
        assert_eq!(
            threads(&["devlog", "mcp", "--http", "0"], None),
            Ok(Some(4))
        );
        assert_eq!(threads(&["devlog", "serve"], None), Ok(Some(4)));
        assert_eq!(threads(&["devlog", "list"], None), Ok(None));
    }

    #[test]
    fn runtime_threads_follow_the_variable_and_refuse_nonsense() {
        assert_eq!(runtime_threads(Some("0"), 2), Ok(0));
        assert_eq!(runtime_threads(Some("1"), 2), Ok(1));
        assert_eq!(runtime_threads(Some("8"), 2), Ok(8));
        for bad in ["65", "two", "-1"] {
            let e = runtime_threads(Some(bad), 2).unwrap_err();
            assert!(e.contains("DEVLOG_RUNTIME_THREADS"), "{e}");
        }
    }
}
