//! The command line: global options and the subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::*;

/// devlog — a structured log of development work for humans and AI assistants
///
/// Entries live in .devlog/ at the root of your repository (found like git finds .git).
/// Refer to an entry by handle (#42 or 42), id, id prefix, key slug, or original devlog id.
#[derive(Debug, Parser)]
#[command(
    name = "devlog",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Print JSON (entries in the same camelCase format as the files)
    #[arg(long, global = true)]
    pub json: bool,
    /// The .devlog folder (or a folder containing one) to use instead of searching upwards
    #[arg(long, global = true, env = "DEVLOG_DIR", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Who is acting, recorded in the change feed
    #[arg(long, global = true, env = "DEVLOG_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    /// Never colour output
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Without a command: the today view (`devlog today`)
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Today(today::TodayArgs),
    Init(init::InitArgs),
    #[command(visible_alias = "create")]
    New(new::NewArgs),
    #[command(alias = "ls")]
    List(list::ListArgs),
    Show(show::ShowArgs),
    Edit(edit::EditArgs),
    Note(note::NoteArgs),
    Decide(decide::DecideArgs),
    Done(done::DoneArgs),
    /// Start work on an entry (status in-progress)
    Start(shortcuts::TransitionArgs),
    /// Mark an entry blocked (a note says on what)
    Block(shortcuts::TransitionArgs),
    /// Put an entry in review (status in-review)
    Review(shortcuts::TransitionArgs),
    /// Close an entry without it being done (won't do, duplicate, obsolete)
    Close(shortcuts::TransitionArgs),
    /// Reopen a done or closed entry (status new)
    Reopen(shortcuts::TransitionArgs),
    Assign(shortcuts::AssignArgs),
    Tag(shortcuts::TagArgs),
    Bulk(bulk::BulkArgs),
    Insight(insights::InsightArgs),
    Insights(insights::InsightsArgs),
    Link(relations::LinkArgs),
    Unlink(relations::UnlinkArgs),
    Dep(relations::DepArgs),
    Risk(relations::RiskArgs),
    LogTime(log_time::LogTimeArgs),
    Worklog(worklog::WorklogArgs),
    Milestone(milestone::MilestoneArgs),
    Search(search::SearchArgs),
    Stats(stats::StatsArgs),
    Report(report::ReportArgs),
    Context(context::ContextArgs),
    Events(events::EventsArgs),
    Audit(audit::AuditArgs),
    Token(token::TokenArgs),
    Workflow(workflow::WorkflowArgs),
    Log(log::LogArgs),
    Undo(undo::UndoArgs),
    Delete(delete::DeleteArgs),
    Purge(purge::PurgeArgs),
    Export(export::ExportArgs),
    Import(import::ImportArgs),
    Migrate(migrate::MigrateArgs),
    Reindex(reindex::ReindexArgs),
    Config(config::ConfigArgs),
    Sync(sync::SyncArgs),
    Integrations(sync::IntegrationsArgs),
    Worker(worker::WorkerArgs),
    Watch(watch::WatchArgs),
    Completions(completions::CompletionsArgs),
    Mcp(mcp::McpArgs),
    Serve(serve::ServeArgs),
    Git(git::GitArgs),
    Github(github::GithubArgs),
    Jira(jira::JiraArgs),
    Ado(ado::AdoArgs),
    Repos(repos::ReposArgs),
    Plugin(plugin::PluginArgs),
}
