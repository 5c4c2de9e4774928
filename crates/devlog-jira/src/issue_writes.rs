//! Spacing of writes to one issue (issue 18, item 8). Jira Cloud limits writes per issue
//! besides its site-wide budget (20 writes per 2 seconds and 100 per 30 seconds on one issue);
//! a push can write one issue several times in a row (the edit, a walk of up to 8 transitions,
//! comments, worklogs), so each write to an issue waits until [`IssueWrites::gap`] after the
//! previous one to that issue. Writes to different issues are not held back (the client's
//! own pacing covers the site). Each caller reserves its slot before sleeping, so writes at
//! once to one issue queue up in order.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// 100 writes per 30 seconds on one issue is one per 300 ms; spaced so, the 2-second limit
/// (20) is never reached either.
pub const ISSUE_WRITE_GAP: Duration = Duration::from_millis(300);

/// Issues remembered before old slots are forgotten.
const REMEMBERED: usize = 1024;

#[derive(Debug)]
pub(crate) struct IssueWrites {
    gap: Duration,
    /// Issue key (or id) → the time its last reserved write may go.
    last: Mutex<HashMap<String, Instant>>,
}

impl IssueWrites {
    pub(crate) fn new(gap: Duration) -> Self {
        Self {
            gap,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a write to `issue` may go, and reserves that time.
    pub(crate) async fn wait(&self, issue: &str) {
        if self.gap.is_zero() {
            return;
        }
        let key = issue.to_ascii_uppercase();
        let until = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if last.len() >= REMEMBERED {
                // Slots in the past hold nothing back any more.
                last.retain(|_, t| *t + self.gap > now);
            }
            let at = last
                .get(&key)
                .map(|t| *t + self.gap)
                .filter(|t| *t > now)
                .unwrap_or(now);
            last.insert(key, at);
            at
        };
        tokio::time::sleep_until(until).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writes_to_one_issue_are_spaced_and_others_are_not_held_back() {
        let w = IssueWrites::new(ISSUE_WRITE_GAP);
        let t0 = Instant::now();
        w.wait("DEV-1").await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
        w.wait("DEV-2").await;
        assert_eq!(t0.elapsed(), Duration::ZERO, "another issue goes at once");
        w.wait("DEV-1").await;
        assert_eq!(t0.elapsed(), ISSUE_WRITE_GAP);
        // Three writes at once to one issue go one gap apart, in order.
        let t1 = Instant::now();
        let (a, b, c) = tokio::join!(
            async {
                w.wait("DEV-3").await;
                t1.elapsed()
            },
            async {
                w.wait("DEV-3").await;
                t1.elapsed()
            },
            async {
                w.wait("DEV-3").await;
                t1.elapsed()
            },
        );
        let mut got = [a, b, c];
        got.sort();
        assert_eq!(got, [Duration::ZERO, ISSUE_WRITE_GAP, ISSUE_WRITE_GAP * 2]);
        // 100 writes to one issue take at least 30 s: Jira's per-issue limit is never hit.
        let t2 = Instant::now();
        for _ in 0..100 {
            w.wait("DEV-4").await;
        }
        assert!(
            t2.elapsed() >= Duration::from_secs(29),
            "{:?}",
            t2.elapsed()
        );
        // After a pause, the next write goes at once.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let t3 = Instant::now();
        w.wait("DEV-4").await;
        assert_eq!(t3.elapsed(), Duration::ZERO);
        // No spacing configured: nothing waits.
        let none = IssueWrites::new(Duration::ZERO);
        let t4 = Instant::now();
        for _ in 0..10 {
            none.wait("DEV-1").await;
        }
        assert_eq!(t4.elapsed(), Duration::ZERO);
    }
}
