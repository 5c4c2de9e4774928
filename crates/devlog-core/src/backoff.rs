//! Retry delays for the sync queue (HTTP clients never retry; the queue does): exponential
//! backoff with full jitter — a random wait between zero and a cap that doubles per attempt up
//! to `max`. Pure: the caller passes the random source (the engine's is injected, seeded in
//! tests), so a delay is reproducible.

use std::time::Duration;

use rand::{Rng, RngExt};

/// The cap for `attempt` (0 for the first retry): `min(max, base * 2^attempt)`. Never
/// decreases as `attempt` grows and never exceeds `max`.
pub fn backoff_cap(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.checked_pow(attempt.min(63)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(Duration::MAX).min(max)
}

/// A full-jitter delay for `attempt` (0 for the first retry): uniform in `[0, backoff_cap]`,
/// drawn from `rng`.
pub fn backoff_delay<R: Rng + ?Sized>(
    rng: &mut R,
    attempt: u32,
    base: Duration,
    max: Duration,
) -> Duration {
    let cap = backoff_cap(attempt, base, max);
    let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=cap_nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    proptest! {
        #[test]
        fn delays_stay_within_the_cap(attempt in 0u32..200, base_ms in 0u64..100_000, max_ms in 0u64..10_000_000, seed: u64) {
            let (base, max) = (ms(base_ms), ms(max_ms));
            let cap = backoff_cap(attempt, base, max);
            prop_assert!(cap <= max);
            let d = backoff_delay(&mut StdRng::seed_from_u64(seed), attempt, base, max);
            prop_assert!(d <= cap);
        }

        #[test]
        fn caps_never_decrease(attempt in 0u32..200, base_ms in 0u64..100_000, max_ms in 0u64..10_000_000) {
            let (base, max) = (ms(base_ms), ms(max_ms));
            prop_assert!(backoff_cap(attempt, base, max) <= backoff_cap(attempt + 1, base, max));
        }

        #[test]
        fn caps_double_until_max(attempt in 0u32..20, base_ms in 1u64..1000) {
            let base = ms(base_ms);
            let max = Duration::from_secs(1_000_000);
            prop_assert_eq!(backoff_cap(attempt, base, max), base * 2u32.pow(attempt));
        }
    }

    #[test]
    fn huge_attempts_do_not_overflow() {
        let max = Duration::from_secs(3600);
        assert_eq!(backoff_cap(u32::MAX, Duration::from_secs(1), max), max);
        assert_eq!(backoff_cap(64, Duration::MAX, Duration::MAX), Duration::MAX);
        let mut rng = StdRng::seed_from_u64(1);
        assert!(backoff_delay(&mut rng, u32::MAX, Duration::from_secs(1), max) <= max);
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        // Full jitter: across many draws the delays cover both halves of [0, cap].
        let mut rng = StdRng::seed_from_u64(7);
        let cap = backoff_cap(4, ms(100), ms(60_000));
        assert_eq!(cap, ms(1600));
        let draws: Vec<Duration> = (0..200)
            .map(|_| backoff_delay(&mut rng, 4, ms(100), ms(60_000)))
            .collect();
        assert!(draws.iter().any(|d| *d < cap / 2));
        assert!(draws.iter().any(|d| *d > cap / 2));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 150);
    }
}
