//! Worklogs proposed from commits (`devlog worklog suggest`, issue 18 items 6 and 11).
//!
//! The rules, all pure (the git walk and the ledger file are devlog-git's, behind the ports of
//! [`WorklogSuggester`]; the terminal is the CLI's):
//! - Only the user's commits that mention an entry count (`devlog-<ref>`, `#<n>`:
//!   [`crate::id::mentions`]), each at its author time.
//! - In one repository, commits sorted by time form a *session* while each follows the one
//!   before it by at most `gap`; a longer pause ends the session ([`sessions`]).
//! - A session lasts from its first commit to its last, plus `padding`: the work before the
//!   first commit. A session of one commit lasts `padding`.
//! - A session's time goes to the entries its commits mention, split evenly when there are
//!   several; the minutes that do not divide go one each to the entries mentioned first
//!   ([`attribute`]). A share is at most one day ([`MAX_WORKLOG_MINUTES`]; `capped` says so);
//!   a share of zero minutes is no suggestion.
//! - Each suggestion has a stable id, derived from (repository, first commit, last commit,
//!   entry) ([`SuggestionId::derive`]): the same session proposes the same id on every run.
//!   A worklog logged from one carries the id (`suggestion` on the worklog), and the caller's
//!   ledger remembers applied and dismissed ids ([`SuggestionLedger`]); [`pending`] leaves
//!   out every id either names, so nothing confirmed or dismissed is proposed again.
//! - The worklog's day is the session's start (first commit minus padding) in UTC.

use std::collections::BTreeSet;

mod scan;
pub use scan::{
    Applied, CommitHistory, HistoryError, LedgerStore, MentioningCommit, Proposal, Scan,
    ScanOptions, SuggestSource, WorklogSuggester,
};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::entry::{Entry, Extra};
use crate::error::{Result, StoreError};
use crate::event::WriteMeta;
use crate::id::EntryId;
use crate::ops::Devlog;
use crate::planning::{MAX_WORKLOG_MINUTES, Worklog, hours_of, logged_minutes, parse_duration};
use crate::time::Timestamp;

/// The pause between two commits that ends a session, by default.
pub const DEFAULT_GAP_MINUTES: u32 = 120;
/// The time counted before a session's first commit, by default.
pub const DEFAULT_PADDING_MINUTES: u32 = 30;
/// How far back commits are read, by default.
pub const DEFAULT_SINCE_DAYS: u64 = 7;
/// The forms `--since` takes.
pub const SINCE_FORMS: &str =
    "a date (2026-12-01), today, yesterday, or a time ago (7d, 2w, 36h, 90m)";

/// The key of a worklog's suggestion id in its JSON (`"suggestion": "3f2a9c1e0b7d"`).
pub const SUGGESTION_KEY: &str = "suggestion";

/// Session rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuggestOptions {
    /// The longest pause, in minutes, between two commits of one session.
    pub gap_minutes: u32,
    /// Minutes counted before a session's first commit.
    pub padding_minutes: u32,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        Self {
            gap_minutes: DEFAULT_GAP_MINUTES,
            padding_minutes: DEFAULT_PADDING_MINUTES,
        }
    }
}

/// A commit by the user, with the entries it mentions (resolved in its repository's store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCommit {
    pub id: String,
    /// Author time.
    pub at: DateTime<Utc>,
    pub summary: String,
    /// In order of mention, each once.
    pub entries: Vec<EntryId>,
}

/// Consecutive commits no more than `gap` apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Oldest first; never empty.
    pub commits: Vec<WorkCommit>,
    /// The first commit's time minus the padding.
    pub start: DateTime<Utc>,
    /// The last commit's time.
    pub end: DateTime<Utc>,
    /// `end - start`, rounded to the minute.
    pub minutes: u64,
}

impl Session {
    /// The entries its commits mention, in order of first mention, each once.
    pub fn entries(&self) -> Vec<EntryId> {
        let mut out: Vec<EntryId> = Vec::new();
        for c in &self.commits {
            for e in &c.entries {
                if !out.contains(e) {
                    out.push(*e);
                }
            }
        }
        out
    }
}

/// Groups commits into sessions (see the module's rules). Commits without entries are left
/// out; the order of `commits` does not matter (ties in time keep it).
pub fn sessions(mut commits: Vec<WorkCommit>, opts: SuggestOptions) -> Vec<Session> {
    commits.retain(|c| !c.entries.is_empty());
    commits.sort_by_key(|c| c.at);
    let gap = chrono::Duration::minutes(opts.gap_minutes.into());
    let mut groups: Vec<Vec<WorkCommit>> = Vec::new();
    for c in commits {
        match groups.last_mut() {
            Some(g) if g.last().is_some_and(|last| c.at - last.at <= gap) => g.push(c),
            _ => groups.push(vec![c]),
        }
    }
    let padding = chrono::Duration::minutes(opts.padding_minutes.into());
    groups
        .into_iter()
        .filter_map(|commits| {
            let first = commits.first()?.at;
            let end = commits.last()?.at;
            let start = first - padding;
            // Whole minutes, rounded: a 90-second session with no padding is 2 minutes.
            let minutes = u64::try_from(((end - start).num_seconds() + 30) / 60).unwrap_or(0);
            Some(Session {
                commits,
                start,
                end,
                minutes,
            })
        })
        .collect()
}

/// A suggestion's stable id: 12 hex digits of a UUID v5 of (repository, first commit, last
/// commit, entry).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SuggestionId(String);

/// Namespace of suggestion ids (UUID v5).
const SUGGESTION_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x9c7e_51a2_4b3d_4f6e_8a10_2d4c_6e8f_0b13);

impl SuggestionId {
    pub fn derive(repo: &str, first_commit: &str, last_commit: &str, entry: EntryId) -> Self {
        let name = format!("{repo}\n{first_commit}\n{last_commit}\n{entry}");
        let u = uuid::Uuid::new_v5(&SUGGESTION_NAMESPACE, name.as_bytes());
        Self(u.simple().to_string()[..12].to_string())
    }

    /// An id as a user typed it: hex digits (a prefix of one is matched by [`find`]).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::invalid(
                "suggestion",
                format!(
                    "`{}` is not a suggestion id: give the 12 hex digits (or a unique prefix) \
                     the suggestion listing shows",
                    text.trim()
                ),
            ));
        }
        Ok(Self(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SuggestionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A worklog proposed for an entry from one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub id: SuggestionId,
    /// The repository's name (its folder's).
    pub repo: String,
    pub entry: EntryId,
    /// The day the worklog is logged on: the session's start, UTC.
    pub date: NaiveDate,
    pub minutes: u32,
    /// The session's bounds: start (first commit minus padding) and last commit.
    pub start: Timestamp,
    pub end: Timestamp,
    pub first_commit: String,
    pub last_commit: String,
    /// Commits in the session (all entries').
    pub commits: usize,
    /// How many entries share the session's time (1: all of it is this entry's).
    pub shared_by: usize,
    /// The share was more than a day and was cut to one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub capped: bool,
    /// The worklog's note: how many commits and the first one's summary.
    pub note: String,
}

/// The suggestions of one session: its time split over the entries it mentions.
pub fn attribute(repo: &str, s: &Session) -> Vec<Suggestion> {
    let entries = s.entries();
    let (Some(first), Some(last)) = (s.commits.first(), s.commits.last()) else {
        return Vec::new();
    };
    if entries.is_empty() {
        return Vec::new();
    }
    let n = entries.len() as u64;
    let (each, rest) = (s.minutes / n, s.minutes % n);
    let note = match s.commits.len() {
        1 => format!("1 commit in {repo}: {}", first.summary),
        k => format!("{k} commits in {repo}, from: {}", first.summary),
    };
    let note: String = note.chars().take(200).collect();
    entries
        .into_iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            let share = each + u64::from((i as u64) < rest);
            if share == 0 {
                return None;
            }
            let capped = share > u64::from(MAX_WORKLOG_MINUTES);
            let minutes = u32::try_from(share.min(MAX_WORKLOG_MINUTES.into())).unwrap_or(1);
            Some(Suggestion {
                id: SuggestionId::derive(repo, &first.id, &last.id, entry),
                repo: repo.to_string(),
                entry,
                date: s.start.date_naive(),
                minutes,
                start: Timestamp::from_datetime(s.start),
                end: Timestamp::from_datetime(s.end),
                first_commit: first.id.clone(),
                last_commit: last.id.clone(),
                commits: s.commits.len(),
                shared_by: n as usize,
                capped,
                note: note.clone(),
            })
        })
        .collect()
}

/// Every suggestion of a repository's commits, oldest session first.
pub fn suggest(repo: &str, commits: Vec<WorkCommit>, opts: SuggestOptions) -> Vec<Suggestion> {
    sessions(commits, opts)
        .iter()
        .flat_map(|s| attribute(repo, s))
        .collect()
}

/// What was done with suggestions before: ids applied (logged) and dismissed. Kept through the
/// [`LedgerStore`] port (devlog-git's `LedgerFile`: `.devlog/.state/worklog-suggestions.json`);
/// the worklogs themselves carry the ids of those applied, so an entry synced from elsewhere
/// says so too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SuggestionLedger {
    pub applied: BTreeSet<SuggestionId>,
    pub dismissed: BTreeSet<SuggestionId>,
}

impl SuggestionLedger {
    /// Whether a suggestion was applied or dismissed.
    pub fn settled(&self, id: &SuggestionId) -> bool {
        self.applied.contains(id) || self.dismissed.contains(id)
    }
}

/// The ids of the suggestions an entry's worklogs were logged from.
pub fn applied_in(e: &Entry) -> impl Iterator<Item = SuggestionId> + '_ {
    e.worklogs.iter().filter_map(suggestion_of)
}

/// The suggestion a worklog was logged from, if any.
pub fn suggestion_of(w: &Worklog) -> Option<SuggestionId> {
    w.extra
        .get(SUGGESTION_KEY)
        .and_then(serde_json::Value::as_str)
        .and_then(|s| SuggestionId::parse(s).ok())
}

/// The suggestions still to propose: those neither in the ledger nor in `logged` (ids found
/// on the entries' worklogs).
pub fn pending(
    suggestions: Vec<Suggestion>,
    ledger: &SuggestionLedger,
    logged: &BTreeSet<SuggestionId>,
) -> Vec<Suggestion> {
    suggestions
        .into_iter()
        .filter(|s| !ledger.settled(&s.id) && !logged.contains(&s.id))
        .collect()
}

/// The suggestions `wanted` names (each a full id or a unique prefix), in the order given;
/// an id that names none or several is an error naming it.
pub fn find<'a>(suggestions: &'a [Suggestion], wanted: &[String]) -> Result<Vec<&'a Suggestion>> {
    let mut out: Vec<&Suggestion> = Vec::new();
    for w in wanted {
        let id = SuggestionId::parse(w)?;
        let hits: Vec<&Suggestion> = suggestions
            .iter()
            .filter(|s| s.id.as_str().starts_with(id.as_str()))
            .collect();
        match hits.as_slice() {
            [one] => {
                if !out.iter().any(|s| s.id == one.id) {
                    out.push(one);
                }
            }
            [] => {
                return Err(StoreError::invalid(
                    "suggestion",
                    format!(
                        "no pending suggestion `{id}` (already applied or dismissed, or outside \
                         the listing's since, gap and padding); list the suggestions again"
                    ),
                ));
            }
            many => {
                return Err(StoreError::invalid(
                    "suggestion",
                    format!(
                        "`{id}` matches {} suggestions: {}",
                        many.len(),
                        many.iter()
                            .map(|s| s.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// When `--since` starts: a date's midnight (UTC), or `now` minus a duration (see
/// [`SINCE_FORMS`]).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = text.trim().to_ascii_lowercase();
    let bad = || {
        StoreError::invalid(
            "since",
            format!("`{}` is not a start: use {SINCE_FORMS}", text.trim()),
        )
    };
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let today = now.date_naive();
    let start = match t.as_str() {
        "today" => midnight(today),
        "yesterday" => today.checked_sub_days(Days::new(1)).and_then(midnight),
        _ if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') => {
            NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .ok()
                .and_then(midnight)
        }
        _ => {
            let days = |suffix: char, per: u64| -> Option<u64> {
                t.strip_suffix(suffix)?
                    .parse::<u64>()
                    .ok()?
                    .checked_mul(per)
            };
            if let Some(d) = days('d', 1).or_else(|| days('w', 7)) {
                now.checked_sub_days(Days::new(d))
            } else {
                let m = parse_duration(&t).map_err(|_| bad())?;
                now.checked_sub_signed(chrono::Duration::minutes(m.into()))
            }
        }
    }
    .ok_or_else(bad)?;
    if start > now {
        return Err(StoreError::invalid(
            "since",
            format!("{} is in the future", start.format("%Y-%m-%d %H:%M UTC")),
        ));
    }
    Ok(start)
}

/// Minutes from `--gap` or `--padding`: a duration ([`crate::planning::DURATION_FORMS`]), or
/// `0` (padding only: `allow_zero`).
pub fn parse_minutes(field: &str, text: &str, allow_zero: bool) -> Result<u32> {
    if allow_zero && text.trim().trim_end_matches(['m', 'h']) == "0" {
        return Ok(0);
    }
    let m = parse_duration(text).map_err(|e| match e {
        StoreError::Invalid { message, .. } => StoreError::invalid(field, message),
        other => other,
    })?;
    if m > MAX_WORKLOG_MINUTES {
        return Err(StoreError::invalid(
            field,
            format!("`{}` is more than a day", text.trim()),
        ));
    }
    Ok(m)
}

impl Devlog {
    /// Logs a suggestion as a worklog on its entry (with `minutes` instead of the suggested
    /// duration when given), marked with the suggestion's id. `Ok(None)` when the entry
    /// already has a worklog from it: a suggestion is logged at most once, checked inside the
    /// store's update so two runs at once cannot both log it.
    pub async fn apply_suggestion(
        &self,
        s: &Suggestion,
        minutes: Option<u32>,
        meta: &WriteMeta,
    ) -> Result<Option<(Entry, Worklog)>> {
        let minutes = minutes.unwrap_or(s.minutes);
        if minutes == 0 || minutes > MAX_WORKLOG_MINUTES {
            return Err(StoreError::invalid(
                "duration",
                "a worklog is between 1m and 24h",
            ));
        }
        let now = self.clock().now();
        if s.date > now.as_datetime().date_naive() {
            return Err(StoreError::invalid(
                "date",
                format!("{} is in the future", s.date),
            ));
        }
        let mut extra = Extra::new();
        extra.insert(SUGGESTION_KEY.into(), serde_json::json!(s.id));
        let log = Worklog {
            id: uuid::Uuid::new_v4().to_string(),
            author: meta.actor.clone().unwrap_or_default().trim().to_string(),
            date: s.date,
            minutes,
            note: s.note.clone(),
            logged_at: now,
            extra,
        };
        let mut added = false;
        let entry = self
            .store()
            .update(s.entry, meta, &mut |e: &mut Entry| {
                added = false;
                if applied_in(e).any(|id| id == s.id) {
                    return Ok(());
                }
                if e.worklogs.len() >= crate::ops::MAX_ITEMS {
                    return Err(StoreError::invalid(
                        "worklogs",
                        format!(
                            "{} has {} worklogs, the most an entry holds",
                            e.handle_str(),
                            crate::ops::MAX_ITEMS
                        ),
                    ));
                }
                e.worklogs.push(log.clone());
                e.actual_hours = Some(hours_of(logged_minutes(e)));
                e.updated_at = now;
                added = true;
                Ok(())
            })
            .await?;
        Ok(added.then_some((entry, log)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap()
    }

    fn entry(n: u128) -> EntryId {
        serde_json::from_value(serde_json::json!(uuid::Uuid::from_u128(n))).unwrap()
    }

    fn commit(id: &str, min: i64, entries: &[u128]) -> WorkCommit {
        WorkCommit {
            id: id.into(),
            at: at(min),
            summary: format!("commit {id}"),
            entries: entries.iter().map(|n| entry(*n)).collect(),
        }
    }

    #[test]
    fn a_gap_longer_than_the_limit_ends_a_session() {
        let opts = SuggestOptions::default();
        let s = sessions(
            vec![
                commit("c", 100, &[1]),
                commit("a", 0, &[1]),
                commit("b", 60, &[1]),
                // 121 minutes after c: a new session.
                commit("d", 221, &[1]),
                commit("x", 230, &[]),
            ],
            opts,
        );
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].commits
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        // 100 minutes between first and last, 30 before the first.
        assert_eq!(s[0].minutes, 130);
        assert_eq!(s[1].minutes, 30);
        assert_eq!(s[1].start, at(191));
    }

    #[test]
    fn a_session_of_several_entries_is_split_evenly_remainder_first() {
        let opts = SuggestOptions {
            gap_minutes: 60,
            padding_minutes: 0,
        };
        let s = suggest(
            "repo",
            vec![commit("a", 0, &[2, 1]), commit("b", 31, &[1, 3])],
            opts,
        );
        assert_eq!(
            s.iter().map(|s| (s.entry, s.minutes)).collect::<Vec<_>>(),
            [(entry(2), 11), (entry(1), 10), (entry(3), 10)]
        );
        assert!(s.iter().all(|x| x.shared_by == 3 && x.commits == 2));
        assert_eq!(s[0].note, "2 commits in repo, from: commit a");
        // A lone commit without padding is no time at all.
        assert!(suggest("repo", vec![commit("z", 0, &[1])], opts).is_empty());
    }

    #[test]
    fn ids_are_stable_and_differ_per_entry_commit_and_repo() {
        let a = SuggestionId::derive("r", "c1", "c2", entry(1));
        assert_eq!(a, SuggestionId::derive("r", "c1", "c2", entry(1)));
        assert_eq!(a.as_str().len(), 12);
        for other in [
            SuggestionId::derive("r2", "c1", "c2", entry(1)),
            SuggestionId::derive("r", "c0", "c2", entry(1)),
            SuggestionId::derive("r", "c1", "c3", entry(1)),
            SuggestionId::derive("r", "c1", "c2", entry(2)),
        ] {
            assert_ne!(a, other);
        }
        assert_eq!(SuggestionId::parse(&a.as_str().to_uppercase()).unwrap(), a);
        assert!(SuggestionId::parse("xyz").is_err());
        assert!(SuggestionId::parse("").is_err());
    }

    #[test]
    fn pending_leaves_out_applied_dismissed_and_logged() {
        let all = suggest(
            "repo",
            vec![
                commit("a", 0, &[1]),
                commit("b", 500, &[2]),
                commit("c", 1000, &[3]),
            ],
            SuggestOptions::default(),
        );
        assert_eq!(all.len(), 3);
        let mut ledger = SuggestionLedger::default();
        ledger.applied.insert(all[0].id.clone());
        ledger.dismissed.insert(all[1].id.clone());
        let logged: BTreeSet<_> = [all[2].id.clone()].into();
        assert!(pending(all.clone(), &ledger, &logged).is_empty());
        assert_eq!(
            pending(all.clone(), &ledger, &BTreeSet::new()),
            vec![all[2].clone()]
        );
        let short = all[2].id.as_str()[..6].to_string();
        assert_eq!(find(&all, &[short]).unwrap(), vec![&all[2]]);
        assert!(find(&all, &["abcdef123456".into()]).is_err());
    }

    #[test]
    fn long_sessions_are_capped_at_a_day() {
        let commits: Vec<_> = (0..30)
            .map(|i| commit(&format!("c{i}"), i * 60, &[1]))
            .collect();
        let s = suggest("r", commits, SuggestOptions::default());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].minutes, MAX_WORKLOG_MINUTES);
        assert!(s[0].capped);
    }

    #[test]
    fn since_takes_dates_and_durations() {
        let now = at(0);
        let day = now.date_naive();
        assert_eq!(
            parse_since("today", now).unwrap(),
            day.and_hms_opt(0, 0, 0).unwrap().and_utc()
        );
        assert_eq!(
            parse_since("7d", now).unwrap(),
            now - chrono::Duration::days(7)
        );
        assert_eq!(
            parse_since("2w", now).unwrap(),
            now - chrono::Duration::days(14)
        );
        assert_eq!(
            parse_since("36h", now).unwrap(),
            now - chrono::Duration::hours(36)
        );
        assert_eq!(
            parse_since("2020-01-02", now).unwrap().to_rfc3339(),
            "2020-01-02T00:00:00+00:00"
        );
        for bad in ["soon", "2020-13-01", "-3d", "9999-01-01"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
        assert_eq!(parse_minutes("padding", "0", true).unwrap(), 0);
        assert!(parse_minutes("gap", "0", false).is_err());
        assert_eq!(parse_minutes("gap", "2h", false).unwrap(), 120);
        assert!(parse_minutes("gap", "25h", false).is_err());
    }

    proptest! {
        /// Sessions partition the commits with entries, in time order; within a session no
        /// two neighbours are more than `gap` apart, between sessions always more; shares sum
        /// to the session (when no share is capped and each entry gets a minute).
        #[test]
        fn sessions_partition_and_shares_sum(
            times in prop::collection::vec((0i64..5000, 0u8..4), 0..40),
            gap in 1u32..300,
            padding in 0u32..90,
        ) {
            let opts = SuggestOptions { gap_minutes: gap, padding_minutes: padding };
            let commits: Vec<WorkCommit> = times
                .iter()
                .enumerate()
                .map(|(i, (t, e))| {
                    let es: Vec<u128> = (0..u128::from(*e)).map(|k| (k + i as u128) % 3 + 1).collect();
                    commit(&format!("c{i}"), *t, &es)
                })
                .collect();
            let with_entries = commits.iter().filter(|c| !c.entries.is_empty()).count();
            let ss = sessions(commits, opts);
            prop_assert_eq!(ss.iter().map(|s| s.commits.len()).sum::<usize>(), with_entries);
            let gap = chrono::Duration::minutes(gap.into());
            for s in &ss {
                for w in s.commits.windows(2) {
                    prop_assert!(w[0].at <= w[1].at && w[1].at - w[0].at <= gap);
                }
            }
            for w in ss.windows(2) {
                prop_assert!(w[1].commits[0].at - w[0].end > gap);
            }
            for s in &ss {
                let shares = attribute("r", s);
                let n = s.entries().len() as u64;
                if !shares.iter().any(|x| x.capped) && s.minutes >= n {
                    prop_assert_eq!(shares.iter().map(|x| u64::from(x.minutes)).sum::<u64>(), s.minutes);
                    prop_assert_eq!(shares.len() as u64, n);
                }
                let ids: BTreeSet<_> = shares.iter().map(|x| x.id.clone()).collect();
                prop_assert_eq!(ids.len(), shares.len());
            }
        }
    }
}
