//! Named crash points for fault-injection tests. A binary (a test driver) may arm one point
//! with [`arm`]; when execution reaches it, the process aborts as a `kill -9` would, leaving
//! exactly the durable state that existed at that step. Unarmed, a point is one atomic load.

use std::sync::OnceLock;

static ARMED: OnceLock<String> = OnceLock::new();

/// Arms the crash point `name` for the rest of this process. Only the first call counts.
pub fn arm(name: &str) {
    let _ = ARMED.set(name.to_string());
}

/// Aborts the process if `name` is the armed point.
pub fn fail_point(name: &str) {
    if ARMED.get().is_some_and(|a| a == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// The crash points of posting notes as remote comments (integrations that sync notes; the
/// GitHub fault-injection test covers them).
pub const NOTES: &[&str] = &["push.note.before-request", "push.note.before-record"];

/// Every crash point of items (not notes), in the order a sync passes them.
pub const ALL: &[&str] = &[
    "pull.before-cursor",
    "push.create.before-request",
    "push.create.before-record",
    "push.recover.before-record",
    "push.update.before-request",
    "push.update.before-record",
];
