//! Schedules: `on: schedule: {cron, timezone, missed, grace_minutes}`. The cron expression is
//! parsed with croner when the file is read (an expression that never fires is an error
//! there too), the time zone is a tz database name (chrono-tz). [`plan`] decides, from the
//! last slot handled and the time now, which slot (if any) runs and how many were missed;
//! the engine keeps the last slot handled per workflow in a state file and claims each slot
//! so two processes never run it twice (`Engine::run_due`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use devlog_core::Timestamp;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `schedule`: when a workflow runs by the clock.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// A cron expression: five fields (minute hour day-of-month month day-of-week) or six
    /// (seconds first); names (`MON-FRI`, `JAN`), `L`, `W`, `#` and `@daily`-style aliases.
    pub cron: CronExpr,
    /// The time zone the expression is read in (a tz database name such as
    /// `Europe/Berlin`); UTC when absent.
    #[serde(default, skip_serializing_if = "TimeZone::is_utc")]
    pub timezone: TimeZone,
    /// What to do with slots that passed while nothing ran schedules (downtime): `skip`
    /// them, or `catch_up_once` (one run for all of them).
    #[serde(default)]
    pub missed: Missed,
    /// How late (minutes) a run may start and still count as on time; a slot older than
    /// this is missed.
    #[serde(default = "default_grace")]
    #[schemars(range(min = 1, max = 1440))]
    pub grace_minutes: u32,
}

/// The default `grace_minutes`.
pub const DEFAULT_GRACE_MINUTES: u32 = 5;

fn default_grace() -> u32 {
    DEFAULT_GRACE_MINUTES
}

/// The missed-run policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Missed slots are not run (the next slot runs as usual).
    #[default]
    Skip,
    /// Missed slots are run once, together, when schedules run again.
    CatchUpOnce,
}

impl Missed {
    pub fn as_str(&self) -> &'static str {
        match self {
            Missed::Skip => "skip",
            Missed::CatchUpOnce => "catch_up_once",
        }
    }
}

/// A cron expression, parsed (croner; seconds optional).
#[derive(Clone)]
pub struct CronExpr {
    source: String,
    cron: Arc<Cron>,
}

impl CronExpr {
    pub fn new(source: &str) -> Result<Self, String> {
        let s = source.trim();
        if s.is_empty() || s.len() > 200 {
            return Err(
                "give a cron expression of at most 200 characters, e.g. \"0 9 * * MON-FRI\"".into(),
            );
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(s)
            .map_err(|e| format!("invalid cron expression {s:?}: {e}"))?;
        // An expression such as `0 0 30 2 *` parses but never fires.
        let probe = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        if cron.find_next_occurrence(&probe, false).is_err() {
            return Err(format!(
                "cron expression {s:?} never fires (no matching date in the years searched)"
            ));
        }
        Ok(Self {
            source: s.to_string(),
            cron: Arc::new(cron),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn cron(&self) -> &Cron {
        &self.cron
    }
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.source)
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for CronExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for CronExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CronExpr::new(&s).map_err(D::Error::custom)
    }
}

impl JsonSchema for CronExpr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CronExpr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "A cron expression (croner): `min hour dom month dow`, optionally seconds first",
            "examples": ["0 9 * * MON-FRI", "0 16 * * FRI", "*/15 * * * *"]
        })
    }
}

/// A time zone by its tz database name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(Tz);

impl Default for TimeZone {
    fn default() -> Self {
        Self(Tz::UTC)
    }
}

impl TimeZone {
    pub fn new(name: &str) -> Result<Self, String> {
        Tz::from_str(name.trim()).map(Self).map_err(|_| {
            format!(
                "unknown time zone {name:?}: use a tz database name such as \"Europe/Berlin\", \
                 \"America/New_York\" or \"UTC\""
            )
        })
    }

    pub fn tz(&self) -> Tz {
        self.0
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    fn is_utc(&self) -> bool {
        self.0 == Tz::UTC
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeZone::new(&s).map_err(D::Error::custom)
    }
}

impl JsonSchema for TimeZone {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TimeZone".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A tz database time zone name",
            "examples": ["UTC", "Europe/Berlin", "America/New_York"]
        })
    }
}

/// The most missed slots counted one by one (beyond it the count says "at least").
pub const MAX_COUNTED: usize = 1000;

/// What is due for one schedule at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The slot that runs now, if any.
    pub run: Option<Timestamp>,
    /// Whether that run is late (a catch-up of missed slots, not an on-time run).
    pub late: bool,
    /// Slots passed that do not get a run of their own (skipped, or covered by the one
    /// catch-up run); at most [`MAX_COUNTED`].
    pub missed: usize,
    /// The last slot handled after this plan (to be kept as the schedule's state); `None`:
    /// nothing passed since `last`.
    pub handled: Option<Timestamp>,
}

impl Schedule {
    fn at(&self, t: Timestamp) -> DateTime<Tz> {
        t.as_datetime().with_timezone(&self.timezone.tz())
    }

    /// The first slot after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.cron
            .cron()
            .find_next_occurrence(&self.at(t), false)
            .ok()
            .map(|d| Timestamp::from_datetime(d.with_timezone(&Utc)))
    }

    /// The last slot at or before `t`.
    pub fn last_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        self.cron
            .cron()
            .find_previous_occurrence(&self.at(t), true)
            .ok()
            .map(|d| Timestamp::from_datetime(d.with_timezone(&Utc)))
    }

    /// What is due at `now` when slots up to `last` (inclusive) were handled.
    ///
    /// The newest slot passed runs on time when it is at most `grace_minutes` old; the
    /// slots before it are missed. When the newest slot is older than that, every passed
    /// slot is missed: `skip` runs none of them, `catch_up_once` runs one (late) for all.
    pub fn plan(&self, last: Timestamp, now: Timestamp) -> Plan {
        let nothing = Plan {
            run: None,
            late: false,
            missed: 0,
            handled: None,
        };
        let Some(newest) = self.last_at_or_before(now) else {
            return nothing;
        };
        if newest <= last {
            return nothing;
        }
        // Slots in (last, newest).
        let mut before = 0;
        let mut t = last;
        while let Some(next) = self.next_after(t) {
            if next >= newest || before >= MAX_COUNTED {
                break;
            }
            before += 1;
            t = next;
        }
        let on_time = newest.seconds_until(&now) <= f64::from(self.grace_minutes) * 60.0;
        let (run, late, missed) = match (on_time, self.missed) {
            (true, _) => (Some(newest), false, before),
            (false, Missed::Skip) => (None, false, before + 1),
            (false, Missed::CatchUpOnce) => (Some(newest), true, before),
        };
        Plan {
            run,
            late,
            missed,
            handled: Some(newest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn sched(cron: &str, tz: &str, missed: Missed) -> Schedule {
        Schedule {
            cron: CronExpr::new(cron).unwrap_or_else(|e| panic!("{e}")),
            timezone: TimeZone::new(tz).unwrap_or_else(|e| panic!("{e}")),
            missed,
            grace_minutes: 5,
        }
    }

    #[test]
    fn weekday_mornings_in_berlin() {
        let s = sched("0 9 * * MON-FRI", "Europe/Berlin", Missed::Skip);
        // Friday 2026-12-04 09:00 in Berlin is 08:00 UTC (winter time).
        assert_eq!(
            s.next_after(ts("2026-12-04T07:00:00Z")),
            Some(ts("2026-12-04T08:00:00Z"))
        );
        // After Friday's slot the next is Monday's.
        assert_eq!(
            s.next_after(ts("2026-12-04T08:00:00Z")),
            Some(ts("2026-12-07T08:00:00Z"))
        );
        // Summer time: 07:00 UTC.
        assert_eq!(
            s.next_after(ts("2026-06-01T00:00:00Z")),
            Some(ts("2026-06-01T07:00:00Z"))
        );
    }

    #[test]
    fn on_time_slot_runs_and_older_ones_are_missed() {
        let s = sched("0 * * * *", "UTC", Missed::Skip);
        let p = s.plan(ts("2026-12-06T06:00:00Z"), ts("2026-12-06T09:02:00Z"));
        assert_eq!(p.run, Some(ts("2026-12-06T09:00:00Z")));
        assert!(!p.late);
        assert_eq!(p.missed, 2); // 07:00 and 08:00
        assert_eq!(p.handled, Some(ts("2026-12-06T09:00:00Z")));
        // Handled: nothing more until 10:00.
        let p = s.plan(ts("2026-12-06T09:00:00Z"), ts("2026-12-06T09:59:59Z"));
        assert_eq!(p.run, None);
        assert_eq!(p.handled, None);
    }

    #[test]
    fn late_slots_skip_or_catch_up_once() {
        let last = ts("2026-12-06T06:00:00Z");
        let now = ts("2026-12-06T09:30:00Z");
        let p = sched("0 * * * *", "UTC", Missed::Skip).plan(last, now);
        assert_eq!(p.run, None);
        assert_eq!(p.missed, 3);
        assert_eq!(p.handled, Some(ts("2026-12-06T09:00:00Z")));
        let p = sched("0 * * * *", "UTC", Missed::CatchUpOnce).plan(last, now);
        assert_eq!(p.run, Some(ts("2026-12-06T09:00:00Z")));
        assert!(p.late);
        assert_eq!(p.missed, 2);
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        let e = CronExpr::new("61 * * * *").unwrap_err();
        assert!(e.contains("invalid cron expression"), "{e}");
        let e = CronExpr::new("0 0 30 2 *").unwrap_err();
        assert!(e.contains("never fires"), "{e}");
        let e = TimeZone::new("Mars/Olympus").unwrap_err();
        assert!(e.contains("unknown time zone"), "{e}");
    }
}
