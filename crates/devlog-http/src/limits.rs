//! Rate limits of one client (one remote system): steady GCRA pacing (governor), spacing of
//! writes, and a budget that obeys what the remote's responses say.
//!
//! Headers obeyed, whatever the system (each is only sent by the systems that use it):
//! - `Retry-After` (seconds or an HTTP date) on 429 and 503, on 403 when it carries GitHub's
//!   rate-limit signals, and on 2xx (Azure DevOps delays by sending it on successful responses);
//! - `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (epoch seconds on GitHub and Azure
//!   DevOps, ISO-8601 on Jira) on any response: nothing is sent until the reset;
//! - a 429, or a 403 that says "rate limit", without either header: GitHub's secondary-limit
//!   rule, wait [`RateLimitConfig::default_limit_wait`] (at least a minute on GitHub);
//! - Azure DevOps `X-RateLimit-Delay` (the server delayed this request by that long): the next
//!   request waits as long, so we slow down before the server has to;
//! - Jira Cloud's `Beta-Retry-After` (its points-based limits), read as `Retry-After` when that
//!   is absent.
//!
//! A pause stops only this client. A wait longer than [`RateLimitConfig::max_wait`] is not slept
//! inside a request: `acquire` reports it and the caller (the sync queue) reschedules the job.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, clock::Clock as _};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Serialize;
use tokio::time::Instant;

use crate::clock::TokioClock;
use crate::error::header_str;

/// How a client paces itself. One config per remote system.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Steady request rate (GCRA); `None` sends as fast as the budget allows.
    pub requests_per_second: Option<f64>,
    /// How many requests may go at once after an idle period.
    pub burst: NonZeroU32,
    /// Minimum time between two write requests (POST, PUT, PATCH, DELETE); GitHub asks ≥ 1 s
    /// between content-creating requests.
    pub write_spacing: Option<Duration>,
    /// At most this many writes in any 60-second window (GitHub: 80).
    pub writes_per_minute: Option<NonZeroU32>,
    /// The longest wait absorbed inside a request; a longer one fails fast with
    /// `HttpError::RateLimited` so the queue can reschedule instead of holding a worker.
    pub max_wait: Duration,
    /// The wait after a rate-limit response that names no time (GitHub: "wait at least one
    /// minute" for secondary limits without `retry-after`).
    pub default_limit_wait: Duration,
}

impl Default for RateLimitConfig {
    /// Conservative pacing for an unknown remote: 5 requests/s, bursts of 10.
    fn default() -> Self {
        Self {
            requests_per_second: Some(5.0),
            burst: nz(10),
            write_spacing: None,
            writes_per_minute: None,
            max_wait: Duration::from_secs(30),
            default_limit_wait: Duration::from_secs(60),
        }
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl RateLimitConfig {
    /// GitHub REST: 10 requests/s (the secondary limit is 900 points/min), writes ≥ 1 s apart
    /// and ≤ 80/min.
    pub fn github() -> Self {
        Self {
            requests_per_second: Some(10.0),
            burst: nz(10),
            write_spacing: Some(Duration::from_secs(1)),
            writes_per_minute: Some(nz(80)),
            ..Self::default()
        }
    }

    /// Jira Cloud: 10 requests/s, bursts of 10; the rest comes from its 429 headers.
    pub fn jira() -> Self {
        Self {
            requests_per_second: Some(10.0),
            burst: nz(10),
            ..Self::default()
        }
    }

    /// Azure DevOps: 10 requests/s; TSTU throttling comes from `Retry-After` and
    /// `X-RateLimit-*` on responses.
    pub fn azure_devops() -> Self {
        Self {
            requests_per_second: Some(10.0),
            burst: nz(10),
            ..Self::default()
        }
    }

    /// No pacing at all; only the remote's headers are obeyed.
    pub fn unpaced() -> Self {
        Self {
            requests_per_second: None,
            ..Self::default()
        }
    }
}

/// Why the client is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// The remote sent `Retry-After`.
    RetryAfter,
    /// `x-ratelimit-remaining` reached 0; waiting for `x-ratelimit-reset`.
    Exhausted,
    /// A rate-limit response without a time; waiting the default.
    LimitWithoutTime,
    /// Azure DevOps reported delaying our requests (`X-RateLimit-Delay`).
    ServerDelay,
    /// A caller paused the client (e.g. from a GraphQL body's rate-limit field).
    Manual,
}

/// A wait the remote asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub duration: Duration,
    pub reason: PauseReason,
}

/// The rate-limit facts of one response, parsed from its headers (and, for 403/429, whether
/// its body speaks of a rate limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateSignals {
    /// `Retry-After`, as a wait from the time of parsing.
    pub retry_after: Option<Duration>,
    /// `x-ratelimit-limit`.
    pub limit: Option<u64>,
    /// `x-ratelimit-remaining` (fractional TSTUs are rounded down).
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset` in the local clock. The header is epoch seconds (GitHub, Azure
    /// DevOps), ISO-8601 (Jira), or a small number of seconds from now.
    pub reset_at: Option<SystemTime>,
    /// Wait until `reset_at`, from the time of parsing (zero when it has passed).
    pub reset_in: Option<Duration>,
    /// `x-ratelimit-resource` (GitHub: core, search, graphql; Azure DevOps: the namespace).
    pub resource: Option<String>,
    /// Azure DevOps `X-RateLimit-Delay`: how long the server delayed this request.
    pub server_delay: Option<Duration>,
    /// A 403/429 body mentions a rate limit (GitHub's primary and secondary limit messages).
    pub limit_message: bool,
}

/// Bodies larger than this are not searched for a rate-limit message.
const MAX_SCANNED_BODY: usize = 64 * 1024;

impl RateSignals {
    /// Reads the rate-limit headers of a response received at wall-clock time `now`.
    ///
    /// Absolute times (`x-ratelimit-reset`, a `Retry-After` date) are in the server's clock,
    /// so they are measured against the response's `Date` header when it has one: a wrong
    /// local clock then neither skips a pause nor stretches it. `reset_at` is converted to
    /// the local clock.
    pub fn parse(status: StatusCode, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Self {
        let server_now = header_str(headers, "date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .unwrap_or(now);
        let reset_in = header_str(headers, "x-ratelimit-reset")
            .and_then(|v| parse_reset(v, server_now))
            .map(|r| r.duration_since(server_now).unwrap_or(Duration::ZERO));
        let limit_message = matches!(status.as_u16(), 403 | 429)
            && body.len() <= MAX_SCANNED_BODY
            && String::from_utf8_lossy(body)
                .to_ascii_lowercase()
                .contains("rate limit");
        Self {
            // Jira Cloud's points-based limits answer with `Beta-Retry-After` (issue 18, item
            // 8); the standard header wins when both are sent.
            retry_after: header_str(headers, "retry-after")
                .or_else(|| header_str(headers, "beta-retry-after"))
                .and_then(|v| parse_retry_after(v, server_now)),
            limit: header_str(headers, "x-ratelimit-limit").and_then(parse_count),
            remaining: header_str(headers, "x-ratelimit-remaining").and_then(parse_count),
            reset_at: reset_in.map(|d| now + d),
            reset_in,
            resource: header_str(headers, "x-ratelimit-resource").map(str::to_string),
            server_delay: header_str(headers, "x-ratelimit-delay").and_then(parse_seconds),
            limit_message,
        }
    }

    /// A 403 that is really a rate limit (GitHub): `Retry-After`, no requests remaining, or a
    /// body that says so.
    pub fn is_rate_limit_403(&self) -> bool {
        self.retry_after.is_some() || self.remaining == Some(0) || self.limit_message
    }

    /// How long the client must now pause because of this response, and why; `None` when it
    /// may go on. `default_wait` applies to rate-limit responses that name no time.
    pub fn pause(&self, status: StatusCode, default_wait: Duration) -> Option<Pause> {
        let code = status.as_u16();
        let limited = code == 429 || (code == 403 && self.is_rate_limit_403());
        let obeys_retry_after = limited || code == 503 || status.is_success();
        let mut offers: Vec<Pause> = Vec::new();
        if obeys_retry_after && let Some(d) = self.retry_after {
            offers.push(Pause {
                duration: d,
                reason: PauseReason::RetryAfter,
            });
        }
        if let Some(reset_in) = self.reset_in {
            // Jira's 429 carries only `X-RateLimit-Reset`; elsewhere the reset matters once
            // nothing remains.
            if self.remaining == Some(0) || (limited && self.retry_after.is_none()) {
                offers.push(Pause {
                    duration: reset_in,
                    reason: PauseReason::Exhausted,
                });
            }
        }
        if status.is_success()
            && let Some(d) = self.server_delay
        {
            offers.push(Pause {
                duration: d,
                reason: PauseReason::ServerDelay,
            });
        }
        offers.retain(|p| !p.duration.is_zero());
        // A limit that names no time at all (a zero `Retry-After` does name one: now).
        let named_time = self.retry_after.is_some() || self.reset_in.is_some();
        if limited && offers.is_empty() && !named_time && !default_wait.is_zero() {
            offers.push(Pause {
                duration: default_wait,
                reason: PauseReason::LimitWithoutTime,
            });
        }
        // The longest wait wins; on a tie the first named (Retry-After) keeps its reason.
        let mut best: Option<Pause> = None;
        for p in offers {
            if best.is_none_or(|b| p.duration > b.duration) {
                best = Some(p);
            }
        }
        best
    }
}

/// `Retry-After`: delay-seconds (integer, or decimal as some servers send) or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Some(d) = parse_seconds(value) {
        return Some(d);
    }
    let at = httpdate::parse_http_date(value.trim()).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Non-negative seconds, integer or decimal (`"30"`, `"0.250"`).
fn parse_seconds(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let f = v.parse::<f64>().ok()?;
    (0.0..1e12).contains(&f).then(|| Duration::from_secs_f64(f))
}

fn parse_count(value: &str) -> Option<u64> {
    if let Ok(n) = value.trim().parse::<u64>() {
        return Some(n);
    }
    let f = value.trim().parse::<f64>().ok()?;
    // Azure DevOps reports TSTUs, which may be fractional; clamp, then truncate on purpose.
    (f.is_finite()).then(|| f.clamp(0.0, u64::MAX as f64) as u64)
}

/// Values below this are seconds from now rather than epoch seconds (epoch 1e9 is 2001).
const EPOCH_THRESHOLD: f64 = 1e9;

/// `x-ratelimit-reset`: epoch seconds (GitHub, Azure DevOps), ISO-8601 (Jira sends
/// `yyyy-MM-ddTHH:mmZ`), or a small number of seconds from now.
pub fn parse_reset(value: &str, now: SystemTime) -> Option<SystemTime> {
    let v = value.trim();
    if let Ok(n) = v.parse::<f64>() {
        if !(0.0..=1e12).contains(&n) {
            return None;
        }
        return if n >= EPOCH_THRESHOLD {
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(n))
        } else {
            Some(now + Duration::from_secs_f64(n))
        };
    }
    parse_iso8601(v)
}

fn parse_iso8601(v: &str) -> Option<SystemTime> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let utc = if let Ok(dt) = DateTime::parse_from_rfc3339(v) {
        dt.with_timezone(&Utc)
    } else if let Some(naive) = v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())?
            .and_utc()
    } else {
        [
            "%Y-%m-%dT%H:%M%:z",
            "%Y-%m-%dT%H:%M%z",
            "%Y-%m-%dT%H:%M:%S%z",
        ]
        .iter()
        .find_map(|f| DateTime::parse_from_str(v, f).ok())?
        .with_timezone(&Utc)
    };
    let ms = u64::try_from(utc.timestamp_millis()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

/// The limiter could not let the request go within [`RateLimitConfig::max_wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldWait(pub Duration);

type Gcra = governor::RateLimiter<
    NotKeyed,
    InMemoryState,
    TokioClock,
    governor::middleware::NoOpMiddleware<crate::clock::TokioInstant>,
>;

/// Rate limits of one client. Cheap to share (`&self` everywhere); all waiting uses tokio time.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    gcra: Option<Gcra>,
    budget: Mutex<Budget>,
}

#[derive(Debug, Default)]
struct Budget {
    paused_until: Option<Instant>,
    reason: Option<PauseReason>,
    next_write_at: Option<Instant>,
    /// Reserved send times of the writes in the last minute (for `writes_per_minute`).
    recent_writes: VecDeque<Instant>,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_at: Option<SystemTime>,
    resource: Option<String>,
    last_server_delay: Option<Duration>,
    pauses: u64,
    requests_let_through: u64,
}

/// A snapshot of a client's limits for status displays (`devlog sync status`, the dashboard).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimitState {
    /// How much longer nothing will be sent; `None` when not paused.
    #[serde(with = "opt_secs")]
    pub paused_for: Option<Duration>,
    pub pause_reason: Option<PauseReason>,
    /// The last `x-ratelimit-limit` / `-remaining` / `-reset` / `-resource` seen.
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    #[serde(with = "opt_time")]
    pub reset_at: Option<SystemTime>,
    pub resource: Option<String>,
    /// The last Azure DevOps `X-RateLimit-Delay`.
    #[serde(with = "opt_secs")]
    pub last_server_delay: Option<Duration>,
    /// How many responses paused this client.
    pub pauses: u64,
    /// How many requests the limiter let through.
    pub requests: u64,
    /// The configured steady rate.
    pub requests_per_second: Option<f64>,
}

impl RateLimiter {
    /// # Errors
    /// A `requests_per_second` that is not a positive finite number.
    pub fn new(config: RateLimitConfig) -> Result<Self, String> {
        let gcra = match config.requests_per_second {
            None => None,
            Some(rps) if rps.is_finite() && rps > 0.0 && rps <= 1e9 => {
                let period = Duration::from_secs_f64(1.0 / rps).max(Duration::from_nanos(1));
                let quota = Quota::with_period(period)
                    .ok_or_else(|| format!("requests_per_second {rps} is out of range"))?
                    .allow_burst(config.burst);
                Some(governor::RateLimiter::direct_with_clock(quota, TokioClock))
            }
            Some(rps) => {
                return Err(format!(
                    "requests_per_second must be a positive number, not {rps}"
                ));
            }
        };
        Ok(Self {
            config,
            gcra,
            budget: Mutex::new(Budget::default()),
        })
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Budget> {
        // A panic while holding this lock cannot leave the budget inconsistent (every update
        // is a plain field store), so a poisoned lock is still usable.
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until one request may be sent (`write` for POST/PUT/PATCH/DELETE). Returns how
    /// long it waited, or [`WouldWait`] without waiting (and without using any budget) when
    /// the wait would be longer than `max_wait`.
    pub async fn acquire(&self, write: bool) -> Result<Duration, WouldWait> {
        let start = Instant::now();
        let max_wait = self.config.max_wait;
        loop {
            // 1. A pause the remote asked for.
            let paused = self.lock().paused_until.filter(|u| *u > Instant::now());
            if let Some(until) = paused {
                let wait = until - Instant::now();
                if wait > max_wait {
                    return Err(WouldWait(wait));
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            // 2. A write that could not go in time is refused before it spends a pacing cell.
            if write {
                let mut b = self.lock();
                let now = Instant::now();
                let slot = self.write_slot(&mut b, now);
                if slot - now > max_wait {
                    return Err(WouldWait(slot - now));
                }
            }
            // 3. Steady pacing.
            if let Some(gcra) = &self.gcra
                && let Err(not_until) = gcra.check()
            {
                let wait = not_until.wait_time_from(TokioClock.now());
                if wait > max_wait {
                    return Err(WouldWait(wait));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            // 4. Write spacing and the per-minute write cap: reserve a slot, then sleep to it.
            //    (A concurrent writer may have taken the slot checked in 2: then re-check.)
            if write {
                let slot = {
                    let mut b = self.lock();
                    let now = Instant::now();
                    let slot = self.write_slot(&mut b, now);
                    if slot - now > max_wait {
                        return Err(WouldWait(slot - now));
                    }
                    b.next_write_at = self.config.write_spacing.map(|s| slot + s);
                    if self.config.writes_per_minute.is_some() {
                        b.recent_writes.push_back(slot);
                    }
                    slot
                };
                tokio::time::sleep_until(slot).await;
            }
            // A response to a concurrent request may have paused us while we waited: one more
            // round then (the pacing cell spent is the price of not sending into a pause).
            let mut b = self.lock();
            if b.paused_until.is_some_and(|u| u > Instant::now()) {
                continue;
            }
            b.requests_let_through += 1;
            return Ok(start.elapsed());
        }
    }

    fn write_slot(&self, b: &mut Budget, now: Instant) -> Instant {
        let mut slot = now;
        if let Some(next) = b.next_write_at {
            slot = slot.max(next);
        }
        if let Some(cap) = self.config.writes_per_minute {
            let window = Duration::from_secs(60);
            while b.recent_writes.front().is_some_and(|t| *t + window <= slot) {
                b.recent_writes.pop_front();
            }
            let cap = cap.get() as usize;
            if b.recent_writes.len() >= cap {
                // The oldest write that must leave the window before this one may go.
                let idx = b.recent_writes.len() - cap;
                slot = slot.max(b.recent_writes[idx] + window);
            }
        }
        slot
    }

    /// Takes in what a response said about limits; pauses the client when it must wait.
    /// Returns the pause this response asked for (also when a longer one was already running).
    pub fn observe(&self, status: StatusCode, signals: &RateSignals) -> Option<Pause> {
        let pause = signals.pause(status, self.config.default_limit_wait);
        let mut b = self.lock();
        if signals.limit.is_some() {
            b.limit = signals.limit;
        }
        if signals.remaining.is_some() {
            b.remaining = signals.remaining;
        }
        if signals.reset_at.is_some() {
            b.reset_at = signals.reset_at;
        }
        if signals.resource.is_some() {
            b.resource = signals.resource.clone();
        }
        if signals.server_delay.is_some() {
            b.last_server_delay = signals.server_delay;
        }
        if let Some(p) = pause {
            Self::extend(&mut b, p);
        }
        pause
    }

    /// Pauses the client for `duration` (never shortens a running pause).
    pub fn pause_for(&self, duration: Duration, reason: PauseReason) {
        if duration.is_zero() {
            return;
        }
        Self::extend(&mut self.lock(), Pause { duration, reason });
    }

    fn extend(b: &mut Budget, p: Pause) {
        let until = Instant::now() + p.duration;
        b.pauses += 1;
        if b.paused_until.is_none_or(|u| u < until) {
            b.paused_until = Some(until);
            b.reason = Some(p.reason);
        }
    }

    /// The current state, for status displays.
    pub fn state(&self) -> RateLimitState {
        let b = self.lock();
        let now = Instant::now();
        let paused_for = b.paused_until.filter(|u| *u > now).map(|u| u - now);
        RateLimitState {
            paused_for,
            pause_reason: paused_for.and(b.reason),
            limit: b.limit,
            remaining: b.remaining,
            reset_at: b.reset_at,
            resource: b.resource.clone(),
            last_server_delay: b.last_server_delay,
            pauses: b.pauses,
            requests: b.requests_let_through,
            requests_per_second: self.config.requests_per_second,
        }
    }
}

/// A short human form of a duration: `250ms`, `30s`, `2m 5s`, `1h 3m`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        format!("{}ms", d.as_millis())
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    }
}

mod opt_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

mod opt_time {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => {
                let dt: chrono::DateTime<chrono::Utc> = (*t).into();
                s.serialize_some(&dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// 2025-01-01T00:00:00Z.
    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn signals(status: u16, pairs: &[(&'static str, &str)], body: &str) -> RateSignals {
        RateSignals::parse(
            StatusCode::from_u16(status).unwrap(),
            &headers(pairs),
            body.as_bytes(),
            t0(),
        )
    }

    fn pause(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Option<Pause> {
        signals(status, pairs, body).pause(StatusCode::from_u16(status).unwrap(), secs(60))
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after("30", t0()), Some(secs(30)));
        assert_eq!(parse_retry_after(" 0 ", t0()), Some(secs(0)));
        assert_eq!(
            parse_retry_after("0.250", t0()),
            Some(Duration::from_millis(250))
        );
        // 2025-01-01T00:01:30Z is 90 s after t0.
        assert_eq!(
            parse_retry_after("Wed, 01 Jan 2025 00:01:30 GMT", t0()),
            Some(secs(90))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Tue, 31 Dec 2024 23:00:00 GMT", t0()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", t0()), None);
        assert_eq!(parse_retry_after("-5", t0()), None);
    }

    #[test]
    fn reset_is_epoch_seconds_iso_8601_or_a_small_delta() {
        let at = |s: u64| Some(t0() + secs(s));
        // GitHub / Azure DevOps: epoch seconds.
        assert_eq!(parse_reset("1735689720", t0()), at(120));
        // Jira: yyyy-MM-ddTHH:mmZ, and fuller ISO-8601 forms.
        assert_eq!(parse_reset("2025-01-01T00:02Z", t0()), at(120));
        assert_eq!(parse_reset("2025-01-01T00:02:30Z", t0()), at(150));
        assert_eq!(parse_reset("2025-01-01T00:02:30.000+00:00", t0()), at(150));
        assert_eq!(parse_reset("2025-01-01T01:02+01:00", t0()), at(120));
        // Some servers send seconds until the reset.
        assert_eq!(parse_reset("42", t0()), at(42));
        assert_eq!(parse_reset("tomorrow", t0()), None);
        assert_eq!(parse_reset("NaN", t0()), None);
    }

    #[test]
    fn signals_read_every_rate_limit_header() {
        let s = signals(
            200,
            &[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "4999"),
                ("x-ratelimit-reset", "1735693200"),
                ("x-ratelimit-resource", "core"),
            ],
            "",
        );
        assert_eq!(s.limit, Some(5000));
        assert_eq!(s.remaining, Some(4999));
        assert_eq!(s.reset_in, Some(secs(3600)));
        assert_eq!(s.resource.as_deref(), Some("core"));
        assert!(!s.limit_message);
        // Azure DevOps: fractional TSTUs and a delay in seconds with milliseconds.
        let ado = signals(
            200,
            &[
                ("x-ratelimit-remaining", "12.5"),
                ("x-ratelimit-delay", "0.350"),
            ],
            "",
        );
        assert_eq!(ado.remaining, Some(12));
        assert_eq!(ado.server_delay, Some(Duration::from_millis(350)));
    }

    #[test]
    fn absolute_times_are_read_against_the_servers_date() {
        // Our clock is 10 minutes behind the server's: the reset is still 2 minutes away.
        let server = t0() + secs(600);
        let date = httpdate::fmt_http_date(server);
        let reset = (1_735_689_600 + 600 + 120).to_string();
        let s = signals(
            200,
            &[
                ("date", &date),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            "",
        );
        assert_eq!(s.reset_in, Some(secs(120)));
        assert_eq!(s.reset_at, Some(t0() + secs(120)));
        let retry_at = httpdate::fmt_http_date(server + secs(30));
        let r = signals(429, &[("date", &date), ("retry-after", &retry_at)], "");
        assert_eq!(r.retry_after, Some(secs(30)));
        // Without a Date header the local clock is all we have.
        let local = signals(200, &[("x-ratelimit-reset", &reset)], "");
        assert_eq!(local.reset_in, Some(secs(720)));
    }

    #[test]
    fn what_pauses_a_client_and_for_how_long() {
        use PauseReason::*;
        let p = |d: u64, r: PauseReason| {
            Some(Pause {
                duration: secs(d),
                reason: r,
            })
        };
        // 429 and 503 with Retry-After.
        assert_eq!(pause(429, &[("retry-after", "30")], ""), p(30, RetryAfter));
        // Jira Cloud's points-based limits.
        assert_eq!(
            pause(429, &[("beta-retry-after", "12")], ""),
            p(12, RetryAfter)
        );
        assert_eq!(
            pause(429, &[("retry-after", "5"), ("beta-retry-after", "12")], ""),
            p(5, RetryAfter)
        );
        assert_eq!(pause(503, &[("retry-after", "5")], ""), p(5, RetryAfter));
        // Azure DevOps delays by sending Retry-After on a success.
        assert_eq!(pause(200, &[("retry-after", "7")], ""), p(7, RetryAfter));
        // ... but a Retry-After on a 404 or a 500 is not a rate limit.
        assert_eq!(pause(404, &[("retry-after", "7")], ""), None);
        assert_eq!(pause(500, &[("retry-after", "7")], ""), None);
        // GitHub primary limit: nothing remains until the reset, on any status.
        let exhausted = [
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1735689720"),
        ];
        assert_eq!(pause(200, &exhausted, ""), p(120, Exhausted));
        assert_eq!(
            pause(403, &exhausted, r#"{"message":"API rate limit exceeded"}"#),
            p(120, Exhausted)
        );
        // Remaining requests: no pause.
        assert_eq!(
            pause(
                200,
                &[
                    ("x-ratelimit-remaining", "1"),
                    ("x-ratelimit-reset", "1735689720")
                ],
                ""
            ),
            None
        );
        // GitHub secondary limit: Retry-After on a 403 ...
        assert_eq!(
            pause(
                403,
                &[("retry-after", "61")],
                r#"{"message":"You have exceeded a secondary rate limit"}"#
            ),
            p(61, RetryAfter)
        );
        // ... or no time at all: wait the default minute.
        assert_eq!(
            pause(
                403,
                &[],
                r#"{"message":"You have exceeded a secondary rate limit."}"#
            ),
            p(60, LimitWithoutTime)
        );
        assert_eq!(pause(429, &[], ""), p(60, LimitWithoutTime));
        // A 403 without rate-limit signals is a permission problem, not a pause.
        assert_eq!(
            pause(
                403,
                &[("x-ratelimit-remaining", "4000")],
                r#"{"message":"Resource not accessible by integration"}"#
            ),
            None
        );
        // Jira 429: Retry-After wins; X-RateLimit-Reset alone also works.
        assert_eq!(
            pause(
                429,
                &[
                    ("retry-after", "10"),
                    ("x-ratelimit-reset", "2025-01-01T00:02Z")
                ],
                ""
            ),
            p(10, RetryAfter)
        );
        assert_eq!(
            pause(429, &[("x-ratelimit-reset", "2025-01-01T00:02Z")], ""),
            p(120, Exhausted)
        );
        // Azure DevOps X-RateLimit-Delay on a success slows the next request as much.
        assert_eq!(
            pause(200, &[("x-ratelimit-delay", "2.5")], ""),
            Some(Pause {
                duration: Duration::from_millis(2500),
                reason: ServerDelay
            })
        );
        // Retry-After: 0 means now, not the default wait.
        assert_eq!(pause(429, &[("retry-after", "0")], ""), None);
        // The longest wait wins.
        assert_eq!(
            pause(
                200,
                &[
                    ("retry-after", "3"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1735689610")
                ],
                ""
            ),
            p(10, Exhausted)
        );
    }

    fn limiter(config: RateLimitConfig) -> RateLimiter {
        RateLimiter::new(config).unwrap()
    }

    fn config(rps: Option<f64>, burst: u32) -> RateLimitConfig {
        RateLimitConfig {
            requests_per_second: rps,
            burst: NonZeroU32::new(burst).unwrap(),
            write_spacing: None,
            writes_per_minute: None,
            max_wait: secs(120),
            default_limit_wait: secs(60),
        }
    }

    fn ms_since(start: Instant) -> u128 {
        start.elapsed().as_millis()
    }

    #[tokio::test(start_paused = true)]
    async fn gcra_paces_requests_after_the_burst() {
        let l = limiter(config(Some(2.0), 2));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            l.acquire(false).await.unwrap();
            at.push(ms_since(start));
        }
        // Two at once (the burst), then one every 500 ms.
        assert_eq!(at, vec![0, 0, 500, 1000, 1500]);
        assert_eq!(l.state().requests, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_until_it_ends() {
        let l = limiter(config(None, 1));
        let p = l.observe(
            StatusCode::TOO_MANY_REQUESTS,
            &signals(429, &[("retry-after", "30")], ""),
        );
        assert_eq!(p.map(|p| p.duration), Some(secs(30)));
        let state = l.state();
        assert_eq!(state.paused_for, Some(secs(30)));
        assert_eq!(state.pause_reason, Some(PauseReason::RetryAfter));
        let start = Instant::now();
        l.acquire(false).await.unwrap();
        assert_eq!(ms_since(start), 30_000);
        assert_eq!(l.state().paused_for, None);
        assert_eq!(l.state().pause_reason, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_max_wait_fails_fast_without_waiting() {
        let l = limiter(config(Some(1.0), 1));
        l.observe(
            StatusCode::FORBIDDEN,
            &signals(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1735693200"),
                ],
                "",
            ),
        );
        let start = Instant::now();
        let err = l.acquire(false).await.unwrap_err();
        assert_eq!(err, WouldWait(secs(3600)));
        assert_eq!(ms_since(start), 0);
        // The refused request spent no pacing: once the pause is over, one goes at once.
        tokio::time::advance(secs(3600)).await;
        let start = Instant::now();
        l.acquire(false).await.unwrap();
        assert_eq!(ms_since(start), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_is_never_shortened_by_a_later_response() {
        let l = limiter(config(None, 1));
        l.observe(StatusCode::OK, &signals(200, &[("retry-after", "60")], ""));
        l.observe(StatusCode::OK, &signals(200, &[("retry-after", "10")], ""));
        assert_eq!(l.state().paused_for, Some(secs(60)));
        assert_eq!(l.state().pauses, 2);
        l.pause_for(secs(90), PauseReason::Manual);
        assert_eq!(l.state().paused_for, Some(secs(90)));
        assert_eq!(l.state().pause_reason, Some(PauseReason::Manual));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_that_arrives_while_waiting_for_pacing_is_obeyed() {
        let l = std::sync::Arc::new(limiter(config(Some(1.0), 1)));
        l.acquire(false).await.unwrap();
        let waiter = {
            let l = l.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                l.acquire(false).await.unwrap();
                ms_since(start)
            })
        };
        // The waiter sleeps for its pacing slot (1 s); meanwhile a response pauses us 5 s.
        tokio::time::sleep(Duration::from_millis(100)).await;
        l.pause_for(secs(5), PauseReason::RetryAfter);
        assert_eq!(waiter.await.unwrap(), 5_100);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_are_spaced_and_reads_are_not() {
        let mut c = config(None, 1);
        c.write_spacing = Some(secs(1));
        let l = limiter(c);
        let start = Instant::now();
        let mut at = Vec::new();
        for write in [true, false, true, false, true] {
            l.acquire(write).await.unwrap();
            at.push((write, ms_since(start)));
        }
        assert_eq!(
            at,
            vec![
                (true, 0),
                (false, 0),
                (true, 1000),
                (false, 1000),
                (true, 2000)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_n_writes_in_any_minute() {
        let mut c = config(None, 1);
        c.writes_per_minute = Some(NonZeroU32::new(3).unwrap());
        let l = limiter(c);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            l.acquire(true).await.unwrap();
            at.push(ms_since(start) / 1000);
        }
        assert_eq!(at, vec![0, 0, 0, 60, 60, 60, 120]);
    }

    #[tokio::test(start_paused = true)]
    async fn github_preset_keeps_writes_a_second_apart_and_under_80_a_minute() {
        let l = limiter(RateLimitConfig::github());
        let start = Instant::now();
        for _ in 0..100 {
            l.acquire(true).await.unwrap();
        }
        // 100 writes one second apart: the last at 99 s; never more than 60 in a minute.
        assert_eq!(ms_since(start), 99_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_cannot_go_within_max_wait_fails_fast() {
        let mut c = config(None, 1);
        c.writes_per_minute = Some(NonZeroU32::new(1).unwrap());
        c.max_wait = secs(10);
        let l = limiter(c);
        l.acquire(true).await.unwrap();
        assert_eq!(l.acquire(true).await, Err(WouldWait(secs(60))));
        // Reads are not writes.
        assert_eq!(l.acquire(false).await, Ok(Duration::ZERO));
    }

    #[test]
    fn bad_rates_are_rejected() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RateLimiter::new(config(Some(bad), 1)).is_err(), "{bad}");
        }
        assert!(RateLimiter::new(config(Some(0.5), 1)).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_rates_pace_slower_than_one_per_second() {
        let l = limiter(config(Some(0.5), 1));
        let start = Instant::now();
        l.acquire(false).await.unwrap();
        l.acquire(false).await.unwrap();
        assert_eq!(ms_since(start), 2000);
    }

    #[tokio::test(start_paused = true)]
    async fn state_serializes_for_status_displays() {
        let l = limiter(RateLimitConfig::github());
        l.observe(
            StatusCode::OK,
            &signals(
                200,
                &[
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1735689720"),
                    ("x-ratelimit-resource", "core"),
                ],
                "",
            ),
        );
        let json = serde_json::to_value(l.state()).unwrap();
        assert_eq!(json["paused_for"], 120.0);
        assert_eq!(json["pause_reason"], "exhausted");
        assert_eq!(json["remaining"], 0);
        assert_eq!(json["limit"], 5000);
        assert_eq!(json["reset_at"], "2025-01-01T00:02:00Z");
        assert_eq!(json["resource"], "core");
    }
}
