//! Planning and time spent (issue 16, items 5 and 6): due dates, milestones and worklogs.
//!
//! - Due dates are calendar dates (`dueDate`, `YYYY-MM-DD`) read from what people type:
//!   `2026-12-24`, `today`, `tomorrow`, a weekday (`friday`: the next one, today excluded),
//!   `+3d` / `+2w`, `next week` (next Monday). "Today" is the clock's date in UTC.
//! - A milestone is a named target with an optional due date, stored by the backend beside
//!   the entries (a file per milestone under `.devlog/milestones/` in the JSON backend, so
//!   they travel with git; a table on the SQL backends). Entries name theirs in `milestone`;
//!   progress is counted from the entries, never stored.
//! - Worklogs (`worklogs`) record time spent: who, on which day, how many minutes, a note.
//!   When an entry has worklogs its `actualHours` is their sum, kept in step by every
//!   worklog write, and cannot be set by hand (it would disagree with the log).
//!
//! Every field is additive: a file of the original devlog reads as before and is written
//! back without them.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::entry::{Entry, EntrySummary, Extra, string_enum};
use crate::error::{Result, StoreError};
use crate::event::WriteMeta;
use crate::id::{EntryId, slugify};
use crate::ops::{Devlog, check_text};
use crate::store::{Filter, ListQuery, Page, SortKey};
use crate::time::{Clock, Timestamp};

/// The forms a due date may take, for error messages and help texts.
pub const DUE_FORMS: &str = "YYYY-MM-DD (2026-12-24), today, tomorrow, a weekday (friday, fri: \
                             the next one), +3d, +2w, next week (next Monday), or none to clear";

/// The forms a worklog's date may take.
pub const WORK_DATE_FORMS: &str = "YYYY-MM-DD (2026-12-24), today, yesterday or -3d (3 days ago)";

/// The forms a duration may take.
pub const DURATION_FORMS: &str = "1h30m, 90m, 1.5h or 2h";

/// The longest single worklog, in minutes: one day.
pub const MAX_WORKLOG_MINUTES: u32 = 24 * 60;

/// Longest milestone name, in characters.
pub const MAX_MILESTONE_NAME: usize = 100;

/// How many days ahead "due soon" looks by default (`devlog today`).
pub const DUE_SOON_DAYS: u32 = 7;

/// The earliest and latest years a date may have: four digits, so dates stored as
/// `YYYY-MM-DD` text sort like dates on every backend.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The calendar date "now" is on (UTC).
pub fn today(clock: &dyn Clock) -> NaiveDate {
    clock.now().as_datetime().date_naive()
}

fn date_error(field: &str, input: &str, forms: &str) -> StoreError {
    StoreError::invalid(
        field,
        format!("`{}` is not a date: use {forms}", input.trim()),
    )
}

fn check_year(field: &str, input: &str, d: NaiveDate) -> Result<NaiveDate> {
    if YEARS.contains(&d.year()) {
        Ok(d)
    } else {
        Err(StoreError::invalid(
            field,
            format!("`{}` is outside the years 1 to 9999", input.trim()),
        ))
    }
}

fn iso_date(s: &str) -> Option<NaiveDate> {
    // Exactly YYYY-MM-DD: chrono would also take `+12345-01-01` and `2026-1-5`.
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `+3d`, `+2w` (with `sign` `+`) or `-3d` (with `-`): a number of days.
fn offset_days(s: &str, sign: char) -> Option<u64> {
    let rest = s.strip_prefix(sign)?;
    let (num, unit) = rest.split_at(rest.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "d" => Some(n),
        "w" => n.checked_mul(7),
        _ => None,
    }
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// The next `day` after `today` (in 1 to 7 days).
fn next_weekday(today: NaiveDate, day: Weekday) -> Option<NaiveDate> {
    let ahead = (7 + day.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
    today.checked_add_days(Days::new(if ahead == 0 { 7 } else { ahead.into() }))
}

/// Whether `text` asks to clear a date or milestone (`none`, or nothing).
pub fn is_clear(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t.eq_ignore_ascii_case("none")
}

/// A due date from what someone typed, relative to `today` (see [`DUE_FORMS`]). `none` is
/// not a date: callers check [`is_clear`] first.
pub fn parse_due(text: &str, today: NaiveDate) -> Result<NaiveDate> {
    const FIELD: &str = "dueDate";
    let norm = text.trim().to_ascii_lowercase();
    let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
    let bad = || date_error(FIELD, text, DUE_FORMS);
    let date = if let Some(d) = iso_date(&norm) {
        d
    } else if norm == "today" {
        today
    } else if norm == "tomorrow" {
        today.succ_opt().ok_or_else(bad)?
    } else if norm == "next week" || norm == "next-week" {
        next_weekday(today, Weekday::Mon).ok_or_else(bad)?
    } else if let Some(day) = weekday(&norm) {
        next_weekday(today, day).ok_or_else(bad)?
    } else if let Some(n) = offset_days(&norm, '+') {
        today.checked_add_days(Days::new(n)).ok_or_else(bad)?
    } else {
        return Err(bad());
    };
    check_year(FIELD, text, date)
}

/// The day a worklog is for (see [`WORK_DATE_FORMS`]); never after `today`.
pub fn parse_work_date(text: &str, today: NaiveDate) -> Result<NaiveDate> {
    const FIELD: &str = "date";
    let norm = text.trim().to_ascii_lowercase();
    let bad = || date_error(FIELD, text, WORK_DATE_FORMS);
    let date = if let Some(d) = iso_date(&norm) {
        d
    } else if norm == "today" {
        today
    } else if norm == "yesterday" {
        today.pred_opt().ok_or_else(bad)?
    } else if let Some(n) = offset_days(&norm, '-') {
        today.checked_sub_days(Days::new(n)).ok_or_else(bad)?
    } else {
        return Err(bad());
    };
    let date = check_year(FIELD, text, date)?;
    if date > today {
        return Err(StoreError::invalid(
            FIELD,
            format!("{date} is in the future (today is {today}): log time once it is spent"),
        ));
    }
    Ok(date)
}

/// Minutes from a duration (see [`DURATION_FORMS`]): hours and/or minutes (`1h30m`, `90m`,
/// `2h`), hours with a fraction (`1.5h`); rounded to the minute. Not zero, not negative.
pub fn parse_duration(text: &str) -> Result<u32> {
    const FIELD: &str = "duration";
    let bad = || {
        StoreError::invalid(
            FIELD,
            format!("`{}` is not a duration: use {DURATION_FORMS}", text.trim()),
        )
    };
    let norm: String = text
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if norm.starts_with('-') {
        return Err(StoreError::invalid(
            FIELD,
            format!("`{}` is negative: time spent is at least 1m", text.trim()),
        ));
    }
    let (hours, minutes) = match norm.split_once('h') {
        Some((h, rest)) => (
            Some(h),
            rest.strip_suffix('m').or((rest.is_empty()).then_some("")),
        ),
        None => (None, norm.strip_suffix('m')),
    };
    let minutes = minutes.ok_or_else(bad)?;
    let number = |s: &str| -> Result<f64> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(bad());
        }
        s.parse::<f64>().map_err(|_| bad())
    };
    let mut total = 0.0;
    if let Some(h) = hours {
        total += number(h)? * 60.0;
    }
    if !minutes.is_empty() {
        if minutes.contains('.') {
            return Err(bad());
        }
        total += number(minutes)?;
    } else if hours.is_none() {
        return Err(bad());
    }
    let total = total.round();
    if total < 1.0 {
        return Err(StoreError::invalid(
            FIELD,
            format!("`{}` is less than a minute", text.trim()),
        ));
    }
    if total > f64::from(u32::MAX) {
        return Err(bad());
    }
    Ok(total as u32)
}

/// Hours from `4`, `2.5` (plain numbers are hours, as `--estimate` always took) or a
/// duration (`4h`, `1h30m`, `90m`).
pub fn parse_hours(field: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    if let Ok(h) = t.parse::<f64>() {
        crate::ops::check_hours(field, Some(h))?;
        return Ok(h);
    }
    let minutes = parse_duration(t).map_err(|_| {
        StoreError::invalid(
            field,
            format!("`{t}` is not a number of hours: use 4, 2.5 or {DURATION_FORMS}"),
        )
    })?;
    Ok(hours_of(minutes.into()))
}

/// Minutes as hours, rounded to two decimals (what `actualHours` holds).
pub fn hours_of(minutes: u64) -> f64 {
    (minutes as f64 / 60.0 * 100.0).round() / 100.0
}

/// `90` as `1h30m`.
pub fn format_minutes(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// Time spent on an entry on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Worklog {
    pub id: String,
    /// Who spent the time (the writer's actor name; empty when unknown).
    #[serde(default)]
    pub author: String,
    /// The day the time was spent.
    pub date: NaiveDate,
    pub minutes: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// When the worklog was recorded.
    pub logged_at: Timestamp,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Total minutes logged on an entry.
pub fn logged_minutes(e: &Entry) -> u64 {
    e.worklogs.iter().map(|w| u64::from(w.minutes)).sum()
}

/// A worklog's minutes from a duration as users type it, at most one day.
fn worklog_minutes(duration: &str) -> Result<u32> {
    let minutes = parse_duration(duration)?;
    if minutes > MAX_WORKLOG_MINUTES {
        return Err(StoreError::invalid(
            "duration",
            format!(
                "{} is more than one day (24h); log each day separately with --date",
                format_minutes(minutes.into())
            ),
        ));
    }
    Ok(minutes)
}

/// Finds a worklog of `e` by id or unique id prefix.
fn find_worklog<'a>(e: &'a Entry, r: &str) -> Result<&'a Worklog> {
    crate::history::find_by_id(e, &e.worklogs, |w| &w.id, r, "worklog", "see `devlog show`")
}

/// Changes to a worklog ([`Devlog::edit_worklog`]); `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorklogEdit {
    /// How long: see [`DURATION_FORMS`].
    pub duration: Option<String>,
    /// Which day (see [`WORK_DATE_FORMS`]).
    pub date: Option<String>,
    pub note: Option<String>,
}

/// Input for a worklog ([`Devlog::log_time`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewWorklog {
    /// How long: see [`DURATION_FORMS`].
    pub duration: String,
    /// Which day (see [`WORK_DATE_FORMS`]); today when absent.
    pub date: Option<String>,
    pub note: String,
    /// Who; the write's actor when absent.
    pub author: Option<String>,
}

string_enum!(
    /// Whether a milestone is still being worked towards.
    MilestoneState, "milestone state" {
        Open = "open",
        Closed = "closed",
    }
);

/// A named target that entries are grouped under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
    /// The slug of the name: unique per store, the file name in the JSON backend.
    pub key: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
    pub state: MilestoneState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Input for a milestone ([`Devlog::create_milestone`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewMilestone {
    pub name: String,
    pub description: String,
    /// See [`DUE_FORMS`].
    pub due: Option<String>,
}

/// A milestone with the progress of its entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MilestoneProgress {
    #[serde(flatten)]
    pub milestone: Milestone,
    /// Entries in the milestone.
    pub total: u64,
    /// Of those, done or closed.
    pub done: u64,
    /// Open entries whose due date has passed.
    pub overdue: u64,
    /// The milestone itself is open and its due date has passed.
    pub late: bool,
}

/// The key of a milestone name, checked: one line, not empty, at most
/// [`MAX_MILESTONE_NAME`] characters, with a letter or digit.
pub fn milestone_key(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(StoreError::invalid(
            "milestone",
            "the name must not be empty",
        ));
    }
    if n.chars().count() > MAX_MILESTONE_NAME {
        return Err(StoreError::invalid(
            "milestone",
            format!("the name is longer than {MAX_MILESTONE_NAME} characters"),
        ));
    }
    if n.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "milestone",
            "the name must be one line without control characters",
        ));
    }
    if !n.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(StoreError::invalid(
            "milestone",
            format!("`{n}` needs at least one ASCII letter or digit (names are compared by them)"),
        ));
    }
    Ok(slugify(n))
}

/// Due date and milestone changes resolved from text (`None`: leave alone; `Some(None)`:
/// clear).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanChange {
    pub due_date: Option<Option<NaiveDate>>,
    pub milestone: Option<Option<String>>,
}

impl PlanChange {
    pub fn apply(&self, e: &mut Entry) {
        if let Some(d) = self.due_date {
            e.due_date = d;
        }
        if let Some(m) = &self.milestone {
            e.milestone = m.clone();
        }
    }
}

/// Narrows `f` to overdue work on `today`: open entries due before it.
pub fn overdue_filter(mut f: Filter, today: NaiveDate) -> Filter {
    f.open_only = true;
    f.due_before = Some(f.due_before.map_or(today, |d| d.min(today)));
    f
}

/// Refuses setting `actualHours` by hand on an entry whose worklogs define it.
pub fn check_actual_hours(e: &Entry, actual: Option<f64>) -> Result<()> {
    if actual.is_some() && !e.worklogs.is_empty() {
        return Err(StoreError::invalid(
            "actualHours",
            format!(
                "{} has {} of worklogs, which set its actual hours; log time with \
                 `devlog log-time` (MCP log_time) instead",
                e.handle_str(),
                format_minutes(logged_minutes(e))
            ),
        ));
    }
    Ok(())
}

impl Devlog {
    /// Today's date on this use case's clock (UTC).
    pub fn today_date(&self) -> NaiveDate {
        today(self.clock().as_ref())
    }

    /// Resolves `--due` and `--milestone` text: dates relative to today, milestone names to
    /// an existing open milestone. `none` (or an empty string) clears.
    pub async fn plan_change(
        &self,
        due: Option<&str>,
        milestone: Option<&str>,
    ) -> Result<PlanChange> {
        let due_date = match due {
            None => None,
            Some(t) if is_clear(t) => Some(None),
            Some(t) => Some(Some(parse_due(t, self.today_date())?)),
        };
        let milestone = match milestone {
            None => None,
            Some(t) if is_clear(t) => Some(None),
            Some(t) => {
                let m = self.find_milestone(t).await?;
                if m.state == MilestoneState::Closed {
                    return Err(StoreError::invalid(
                        "milestone",
                        format!(
                            "`{}` is closed; reopen it first (`devlog milestone reopen`)",
                            m.name
                        ),
                    ));
                }
                Some(Some(m.name))
            }
        };
        Ok(PlanChange {
            due_date,
            milestone,
        })
    }

    /// Records time spent on an entry; its `actualHours` becomes the sum of its worklogs.
    pub async fn log_time(
        &self,
        id: EntryId,
        input: NewWorklog,
        meta: &WriteMeta,
    ) -> Result<(Entry, Worklog)> {
        let minutes = worklog_minutes(&input.duration)?;
        check_text("note", &input.note)?;
        let date = match input.date.as_deref() {
            Some(d) => parse_work_date(d, self.today_date())?,
            None => self.today_date(),
        };
        let author = input
            .author
            .or_else(|| meta.actor.clone())
            .unwrap_or_default();
        check_text("author", &author)?;
        let now = self.clock().now();
        let log = Worklog {
            id: meta
                .derived_id("worklog")
                .unwrap_or_else(uuid::Uuid::new_v4)
                .to_string(),
            author: author.trim().to_string(),
            date,
            minutes,
            note: input.note.trim().to_string(),
            logged_at: now,
            extra: Extra::new(),
        };
        let w = log.clone();
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
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
                e.worklogs.push(w.clone());
                e.actual_hours = Some(hours_of(logged_minutes(e)));
                e.updated_at = now;
                Ok(())
            })
            .await?;
        Ok((entry, log))
    }

    /// Changes a worklog (by id or unique id prefix, as `devlog show` lists them): its
    /// duration, day or note; the entry's `actualHours` follows. Returns the entry and the
    /// worklog as it is now. Undoable like any change (`devlog undo`).
    pub async fn edit_worklog(
        &self,
        id: EntryId,
        worklog: &str,
        edit: WorklogEdit,
        meta: &WriteMeta,
    ) -> Result<(Entry, Worklog)> {
        if edit.duration.is_none() && edit.date.is_none() && edit.note.is_none() {
            return Err(StoreError::invalid(
                "worklog",
                "nothing to change: give a duration, a date or a note",
            ));
        }
        let minutes = edit.duration.as_deref().map(worklog_minutes).transpose()?;
        let date = edit
            .date
            .as_deref()
            .map(|d| parse_work_date(d, self.today_date()))
            .transpose()?;
        if let Some(n) = &edit.note {
            check_text("note", n)?;
        }
        let now = self.clock().now();
        let mut edited = None;
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                let wid = find_worklog(e, worklog)?.id.clone();
                let w = e
                    .worklogs
                    .iter_mut()
                    .find(|w| w.id == wid)
                    .expect("found above");
                if let Some(m) = minutes {
                    w.minutes = m;
                }
                if let Some(d) = date {
                    w.date = d;
                }
                if let Some(n) = &edit.note {
                    w.note = n.trim().to_string();
                }
                edited = Some(w.clone());
                e.actual_hours = Some(hours_of(logged_minutes(e)));
                e.updated_at = now;
                Ok(())
            })
            .await?;
        let w = edited.expect("set by the update");
        Ok((entry, w))
    }

    /// Removes a worklog (by id or unique id prefix); the entry's `actualHours` becomes the
    /// sum of those left (none when none are left). Returns the entry and the removed worklog.
    pub async fn delete_worklog(
        &self,
        id: EntryId,
        worklog: &str,
        meta: &WriteMeta,
    ) -> Result<(Entry, Worklog)> {
        let now = self.clock().now();
        let mut removed = None;
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                let wid = find_worklog(e, worklog)?.id.clone();
                let i = e
                    .worklogs
                    .iter()
                    .position(|w| w.id == wid)
                    .expect("found above");
                removed = Some(e.worklogs.remove(i));
                e.actual_hours = if e.worklogs.is_empty() {
                    None
                } else {
                    Some(hours_of(logged_minutes(e)))
                };
                e.updated_at = now;
                Ok(())
            })
            .await?;
        let w = removed.expect("set by the update");
        Ok((entry, w))
    }

    /// Narrows a filter to overdue work: open entries due before today.
    pub fn overdue(&self, f: Filter) -> Filter {
        overdue_filter(f, self.today_date())
    }

    /// Open entries due within `days` days (overdue ones included), soonest first.
    pub async fn due_soon(&self, days: u32, limit: usize) -> Result<Page<EntrySummary>> {
        let until = self
            .today_date()
            .checked_add_days(Days::new(u64::from(days) + 1))
            .unwrap_or(NaiveDate::MAX);
        self.store()
            .list(&ListQuery {
                filter: Filter {
                    open_only: true,
                    due_before: Some(until),
                    ..Filter::default()
                },
                sort: SortKey::Due,
                ascending: true,
                offset: 0,
                limit,
            })
            .await
    }

    /// Creates a milestone; its name must be new (compared by [`milestone_key`]).
    pub async fn create_milestone(&self, input: NewMilestone) -> Result<Milestone> {
        let key = milestone_key(&input.name)?;
        check_text("description", &input.description)?;
        let due_date = match input.due.as_deref() {
            Some(t) if !is_clear(t) => Some(parse_due(t, self.today_date())?),
            _ => None,
        };
        let now = self.clock().now();
        let m = Milestone {
            key,
            name: input.name.trim().to_string(),
            description: input.description,
            due_date,
            state: MilestoneState::Open,
            created_at: now,
            updated_at: now,
            closed_at: None,
            extra: Extra::new(),
        };
        self.store().put_milestone(&m, true).await?;
        Ok(m)
    }

    /// The local milestone for one a remote system holds (a pull brought an entry into it):
    /// the existing one named like it (compared by [`milestone_key`]), else a new one with the
    /// remote's description, due date and state. Returns it and whether it was created.
    pub async fn adopt_milestone(
        &self,
        remote: &crate::integration::RemoteMilestone,
    ) -> Result<(Milestone, bool)> {
        let key = milestone_key(&remote.title)?;
        if let Some(m) = self
            .store()
            .milestones()
            .await?
            .into_iter()
            .find(|m| m.key == key)
        {
            return Ok((m, false));
        }
        check_text("description", &remote.description)?;
        let now = self.clock().now();
        let m = Milestone {
            key,
            name: remote.title.trim().to_string(),
            description: remote.description.clone(),
            due_date: remote.due_date,
            state: if remote.closed {
                MilestoneState::Closed
            } else {
                MilestoneState::Open
            },
            created_at: now,
            updated_at: now,
            closed_at: remote.closed.then_some(now),
            extra: Extra::new(),
        };
        match self.store().put_milestone(&m, true).await {
            Ok(()) => Ok((m, true)),
            // Created meanwhile by another process (same key): that one it is.
            Err(e) if e.kind() == crate::error::ErrorKind::Invalid => {
                let m = self.find_milestone(&remote.title).await.map_err(|_| e)?;
                Ok((m, false))
            }
            Err(e) => Err(e),
        }
    }

    /// The milestone a name means (compared by [`milestone_key`]); the error lists the
    /// milestones there are.
    pub async fn find_milestone(&self, name: &str) -> Result<Milestone> {
        let key = milestone_key(name)?;
        let all = self.store().milestones().await?;
        let names: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
        all.into_iter().find(|m| m.key == key).ok_or_else(|| {
            StoreError::invalid(
                "milestone",
                if names.is_empty() {
                    format!(
                        "no milestone `{}`; there are none yet (create one with `devlog \
                         milestone new`)",
                        name.trim()
                    )
                } else {
                    format!(
                        "no milestone `{}`; there are: {}",
                        name.trim(),
                        names.join(", ")
                    )
                },
            )
        })
    }

    /// A milestone with its progress.
    pub async fn milestone_progress(&self, m: Milestone) -> Result<MilestoneProgress> {
        let today = self.today_date();
        let of = Filter {
            milestone: Some(m.name.clone()),
            ..Filter::default()
        };
        let all = self.store().stats(&of).await?;
        let overdue = self.store().stats(&self.overdue(of)).await?;
        Ok(MilestoneProgress {
            total: all.total,
            done: all.closed,
            overdue: overdue.total,
            late: m.state == MilestoneState::Open && m.due_date.is_some_and(|d| d < today),
            milestone: m,
        })
    }

    /// Milestones with their progress: open ones (all with `include_closed`), soonest due
    /// first, then by name.
    pub async fn list_milestones(&self, include_closed: bool) -> Result<Vec<MilestoneProgress>> {
        let mut all = self.store().milestones().await?;
        all.retain(|m| include_closed || m.state == MilestoneState::Open);
        all.sort_by(|a, b| {
            (a.due_date.is_none(), a.due_date, &a.key).cmp(&(
                b.due_date.is_none(),
                b.due_date,
                &b.key,
            ))
        });
        let mut out = Vec::with_capacity(all.len());
        for m in all {
            out.push(self.milestone_progress(m).await?);
        }
        Ok(out)
    }

    /// A milestone's entries (open first by status, then soonest due), a page of them.
    pub async fn milestone_entries(
        &self,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Page<EntrySummary>> {
        self.store()
            .list(&ListQuery {
                filter: Filter {
                    milestone: Some(name.to_string()),
                    ..Filter::default()
                },
                sort: SortKey::Due,
                ascending: true,
                offset,
                limit,
            })
            .await
    }

    /// Closes or reopens a milestone (entries keep naming it). Returns it as stored.
    pub async fn set_milestone_state(
        &self,
        name: &str,
        state: MilestoneState,
    ) -> Result<Milestone> {
        let mut m = self.find_milestone(name).await?;
        if m.state == state {
            return Ok(m);
        }
        let now = self.clock().now();
        m.state = state;
        m.closed_at = (state == MilestoneState::Closed).then_some(now);
        m.updated_at = now;
        self.store().put_milestone(&m, false).await?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    // 2026-12-04 is a Friday.
    const TODAY: &str = "2026-12-04";

    #[test]
    fn due_dates_absolute_and_relative() {
        let t = d(TODAY);
        let cases = [
            ("2026-12-24", "2026-12-24"),
            (" today ", TODAY),
            ("Tomorrow", "2026-12-05"),
            ("friday", "2026-12-11"),
            ("fri", "2026-12-11"),
            ("saturday", "2026-12-05"),
            ("monday", "2026-12-07"),
            ("+3d", "2026-12-07"),
            ("+0d", TODAY),
            ("+2w", "2026-12-18"),
            ("next week", "2026-12-07"),
            ("next   week", "2026-12-07"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_due(input, t).unwrap(), d(want), "{input}");
        }
    }

    #[test]
    fn bad_due_dates_name_the_accepted_forms() {
        for bad in [
            "2026-13-01",
            "soon",
            "+3",
            "+d",
            "3d",
            "2026-1-5",
            "+12345-01-01",
            "-1d",
        ] {
            let e = parse_due(bad, d(TODAY)).unwrap_err().to_string();
            assert!(
                e.contains("dueDate") && e.contains("+3d") && e.contains("YYYY-MM-DD"),
                "{bad}: {e}"
            );
        }
        let e = parse_due("+9999999d", d(TODAY)).unwrap_err().to_string();
        assert!(e.contains("1 to 9999") || e.contains("not a date"), "{e}");
        assert!(is_clear("none") && is_clear(" NONE ") && is_clear("") && !is_clear("today"));
    }

    #[test]
    fn work_dates_are_today_or_earlier() {
        let t = d(TODAY);
        assert_eq!(parse_work_date("yesterday", t).unwrap(), d("2026-12-03"));
        assert_eq!(parse_work_date("-7d", t).unwrap(), d("2026-11-27"));
        assert_eq!(parse_work_date("2026-01-02", t).unwrap(), d("2026-01-02"));
        let e = parse_work_date("2026-12-05", t).unwrap_err().to_string();
        assert!(e.contains("in the future"), "{e}");
        let e = parse_work_date("tomorrow", t).unwrap_err().to_string();
        assert!(e.contains("yesterday") && e.contains("-3d"), "{e}");
    }

    #[test]
    fn durations() {
        let cases = [
            ("1h30m", 90),
            ("1h 30m", 90),
            ("90m", 90),
            ("1.5h", 90),
            ("2h", 120),
            ("2H", 120),
            ("45m", 45),
            ("0.25h", 15),
            ("24h", 1440),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).unwrap(), want, "{input}");
        }
        for bad in [
            "", "h", "m", "1", "1.5m", "1x", "1h30", "h30m", "1.2.3h", "abc", "1m30h",
        ] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("1h30m, 90m, 1.5h"), "{bad}: {e}");
        }
        let e = parse_duration("-1h").unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        let e = parse_duration("0m").unwrap_err().to_string();
        assert!(e.contains("less than a minute"), "{e}");
    }

    #[test]
    fn hours_accept_numbers_and_durations() {
        assert_eq!(parse_hours("estimatedHours", "4").unwrap(), 4.0);
        assert_eq!(parse_hours("estimatedHours", "2.5h").unwrap(), 2.5);
        assert_eq!(parse_hours("estimatedHours", "1h30m").unwrap(), 1.5);
        let e = parse_hours("estimatedHours", "-2").unwrap_err().to_string();
        assert!(e.contains("estimatedHours"), "{e}");
        let e = parse_hours("actualHours", "lots").unwrap_err().to_string();
        assert!(e.contains("actualHours") && e.contains("1h30m"), "{e}");
        assert_eq!(format_minutes(90), "1h30m");
        assert_eq!(format_minutes(120), "2h");
        assert_eq!(format_minutes(5), "5m");
        assert_eq!(hours_of(100), 1.67);
    }

    #[test]
    fn milestone_names() {
        assert_eq!(milestone_key("  v1.0 Launch ").unwrap(), "v1-0-launch");
        for bad in ["", "  ", "a\nb", "ü", &"x".repeat(101)] {
            assert!(milestone_key(bad).is_err(), "{bad:?}");
        }
    }
}
