//! Named crash points for fault-injection tests. A binary (a test driver) may arm one point
//! with [`arm`]; when execution reaches it, the process aborts as a `kill -9` would, leaving
//! exactly the durable state that existed at that step. Unarmed, a point is one atomic load.
//!
//! Only with the `failpoints` feature, which only tests enable (as a dev-dependency): without
//! it [`arm`] does not exist and [`fail_point`] is an empty function, so no normal or release
//! build can abort at a crash point.

/// Whether crash points are compiled into this build (the `failpoints` feature).
pub const COMPILED_IN: bool = cfg!(feature = "failpoints");

#[cfg(feature = "failpoints")]
static ARMED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Arms the crash point `name` for the rest of this process. Only the first call counts.
#[cfg(feature = "failpoints")]
pub fn arm(name: &str) {
    let _ = ARMED.set(name.to_string());
}

/// Aborts the process if `name` is the armed point.
#[cfg(feature = "failpoints")]
pub fn fail_point(name: &str) {
    if ARMED.get().is_some_and(|a| a == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Without the `failpoints` feature: nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn fail_point(_name: &str) {}

/// The crash points of posting notes as remote comments (integrations that sync notes; the
/// GitHub fault-injection test covers them).
pub const NOTES: &[&str] = &["push.note.before-request", "push.note.before-record"];

/// The crash points of logging worklogs on remote items (integrations that sync worklogs;
/// the Jira fault-injection test covers them).
pub const WORKLOGS: &[&str] = &["push.worklog.before-request", "push.worklog.before-record"];

/// Every crash point of items (not notes), in the order a sync passes them.
pub const ALL: &[&str] = &[
    "pull.before-cursor",
    "push.create.before-request",
    "push.create.before-record",
    "push.recover.before-record",
    "push.update.before-request",
    "push.update.before-record",
];
