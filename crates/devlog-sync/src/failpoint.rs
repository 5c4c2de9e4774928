//! Named crash points for fault-injection tests: with the `failpoints` feature, setting
//! `DEVLOG_FAILPOINT=<name>` makes the process abort at that point, as a `kill -9` would.
//! Without the feature this compiles to nothing.

#[cfg(feature = "failpoints")]
pub fn fail_point(name: &str) {
    if std::env::var("DEVLOG_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn fail_point(_name: &str) {}

/// Every crash point, in the order a sync passes them.
pub const ALL: &[&str] = &[
    "pull.before-cursor",
    "push.create.before-request",
    "push.create.before-record",
    "push.recover.before-record",
    "push.update.before-request",
    "push.update.before-record",
];
