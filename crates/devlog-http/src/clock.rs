//! Time sources. Waiting always uses tokio's clock (so tests pause and advance it); the wall
//! clock is only read to turn absolute reset times (`x-ratelimit-reset`, HTTP dates) into waits.

use std::fmt;
use std::ops::Add;
use std::time::{Duration, SystemTime};

use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;

/// The current wall-clock time. A port so tests and callers can fix it.
pub trait WallClock: Send + Sync + fmt::Debug {
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A wall clock that starts at a given time and then advances with tokio's clock: under
/// `tokio::time::pause()` the two move together, so a test controls both with `advance`.
#[derive(Debug, Clone, Copy)]
pub struct TokioWallClock {
    start_wall: SystemTime,
    start: tokio::time::Instant,
}

impl TokioWallClock {
    pub fn starting_at(start_wall: SystemTime) -> Self {
        Self {
            start_wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl WallClock for TokioWallClock {
    fn now(&self) -> SystemTime {
        self.start_wall + self.start.elapsed()
    }
}

/// tokio's `Instant` as a governor clock reading, so GCRA decisions follow paused test time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TokioInstant(pub(crate) tokio::time::Instant);

impl Add<Nanos> for TokioInstant {
    type Output = Self;

    fn add(self, other: Nanos) -> Self {
        Self(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        self.0
            .checked_sub(Duration::from(duration))
            .map(Self)
            .unwrap_or(*self)
    }
}

/// governor's clock backed by tokio's clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(tokio::time::Instant::now())
    }
}
