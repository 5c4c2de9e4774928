//! Timestamps in the original devlog's on-disk form (`2025-06-25T06:29:02.207Z`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant, written like JavaScript's `Date.toISOString()` so files written by the original
/// TypeScript devlog round-trip byte for byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        // Millisecond precision is what the file format can carry; truncate so that a value
        // read back from a file compares equal to the value that was written.
        let ms = dt.timestamp_millis();
        Self(DateTime::from_timestamp_millis(ms).unwrap_or(dt))
    }

    pub fn from_millis(ms: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(ms).map(Self)
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Seconds between two instants (positive when `later` is after `self`).
    pub fn seconds_until(&self, later: &Timestamp) -> f64 {
        (later.millis() - self.millis()) as f64 / 1000.0
    }
}

/// A timestamp as entry files hold it (`2025-06-25T06:29:02.207Z`).
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date-time" })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error for a date that is not RFC 3339 / ISO 8601.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{input}` is not a date-time: use RFC 3339, e.g. 2025-06-25T06:29:02.207Z")]
pub struct TimestampError {
    pub input: String,
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(s.trim())
            .map(|d| Self::from_datetime(d.with_timezone(&Utc)))
            .map_err(|_| TimestampError {
                input: s.to_string(),
            })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where "now" comes from: the library never reads the system clock behind the caller's back,
/// so tests can pin time.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_javascript_iso_strings() {
        for s in ["2025-06-25T06:29:02.207Z", "2025-07-10T14:53:59.000Z"] {
            let t: Timestamp = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn normalizes_offsets_and_precision() {
        let t: Timestamp = "2025-06-25T08:29:02.2079+02:00".parse().unwrap();
        assert_eq!(t.to_string(), "2025-06-25T06:29:02.207Z");
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        let e = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
    }
}
