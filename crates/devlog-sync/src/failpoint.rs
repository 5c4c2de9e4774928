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
static ARMED: std::sync::OnceLock<(String, u64)> = std::sync::OnceLock::new();

/// How often the armed point has been passed.
#[cfg(feature = "failpoints")]
static PASSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Arms the crash point `name` for the rest of this process. Only the first call counts.
/// `name@N` aborts on the N-th pass only (`push.create.before-record@2`: after the second
/// create, e.g. the second tracker's in a fan-out); a plain name, on the first.
#[cfg(feature = "failpoints")]
pub fn arm(name: &str) {
    let (point, nth) = match name.rsplit_once('@') {
        Some((p, n)) => match n.parse::<u64>() {
            Ok(n) if n > 0 => (p, n),
            _ => panic!("failpoint `{name}`: after `@` give a pass number from 1"),
        },
        None => (name, 1),
    };
    let _ = ARMED.set((point.to_string(), nth));
}

/// Aborts the process if `name` is the armed point (on its armed pass).
#[cfg(feature = "failpoints")]
pub fn fail_point(name: &str) {
    if let Some((armed, nth)) = ARMED.get()
        && armed == name
        && PASSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == *nth
    {
        eprintln!("failpoint {name} (pass {nth}): aborting");
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
