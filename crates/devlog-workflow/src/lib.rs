//! Workflow automation (issue 21, DESIGN §9): workflow files in `.devlog/workflows/*.yml`
//! (`format`), their triggers on the change feed's entry events, CEL conditions
//! (`condition`), minijinja templates (`template`), steps run through devlog-core's use
//! cases as `workflow:<name>` (`engine`), and durable run records (`runs`).
//!
//! API Boundary: a library — no terminal, no environment; the CLI finds the folders, opens
//! the store and decides when events are handed over (docs/workflows.md).

pub mod condition;
pub mod engine;
pub mod format;
pub mod host;
pub mod load;
pub mod runs;
pub mod schedule;
pub mod template;

pub use engine::{DryRun, Engine, EngineError, Outcome};
pub use format::{FormatError, Loaded, Workflow, parse, schema};
pub use host::{StepHost, StepRef};
pub use runs::{RunId, RunRecord, RunState, RunStore};
