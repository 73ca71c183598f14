//! Standard 5-field cron expressions, evaluated in an IANA time zone.
//!
//! herald's durable scheduler claims every slot `(job, instant)` exactly once in
//! its database, so this module turns an expression into a deterministic,
//! strictly ascending stream of UTC instants that never repeats an instant.
//!
//! Matching is on the local wall-clock time of the job's zone. A matching local
//! time becomes an instant by this daylight-saving rule:
//!
//! 1. a local time that exists once fires at that instant;
//! 2. a local time repeated by a fall-back overlap fires once, at its first
//!    (earlier) occurrence: the second pass through the repeated times never
//!    fires, whatever the expression (`*/15` included);
//! 3. a local time skipped by a spring-forward gap fires at the first instant
//!    after the gap (the first local minute that exists); every match inside one
//!    gap, and a match at that first existing minute, fold into that one slot.
//!
//! Put differently: a slot fires at the first instant at which the wall clock
//! has reached the matching local time.

use std::fmt;
use std::iter::FusedIterator;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// Days the search may scan without yielding a slot before it gives up: one
/// full Gregorian cycle. Months, days of the month and weekdays repeat every
/// 400 years (146,097 days, a whole number of weeks), so an expression that
/// matches no day in that span never matches. Months that cannot match are
/// skipped whole, so even this bound is scanned in milliseconds.
const HORIZON_DAYS: u32 = 146_097 + 31;

/// How far before the local time of `after` the search starts. A local time
/// earlier than the wall clock at `after` fires at or before `after` under the
/// DST rule, so starting at `after`'s own local minute would do; the lookback
/// is cheap insurance (the filter `> after` drops the extra candidates).
const LOOKBACK_HOURS: i64 = 3;

/// Gaps are scanned minute by minute up to this length (real gaps are 30 min,
/// 1 h and rarely 2 h).
const GAP_SCAN_MINUTES: i64 = 180;

/// Longer gaps (Pacific/Apia skipped the whole of 2011-12-30) are found by
/// hourly strides up to this bound, then refined minute by minute.
const LONG_GAP_HOURS: i64 = 48;

/// One of the five fields of a cron expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CronField {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

const FIELDS: [CronField; 5] = [
    CronField::Minute,
    CronField::Hour,
    CronField::DayOfMonth,
    CronField::Month,
    CronField::DayOfWeek,
];

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl CronField {
    fn name(self) -> &'static str {
        match self {
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
        }
    }

    fn min(self) -> u32 {
        match self {
            CronField::DayOfMonth | CronField::Month => 1,
            _ => 0,
        }
    }

    /// Largest value accepted; 7 is a second spelling of Sunday.
    fn max(self) -> u32 {
        match self {
            CronField::Minute => 59,
            CronField::Hour => 23,
            CronField::DayOfMonth => 31,
            CronField::Month => 12,
            CronField::DayOfWeek => 7,
        }
    }

    /// What a single value of this field may be, for error messages.
    fn expected(self) -> &'static str {
        match self {
            CronField::Month => "a number or a month name",
            CronField::DayOfWeek => "a number or a day name",
            _ => "a number",
        }
    }

    /// Looks up a three-letter name (case-insensitive).
    fn value_of_name(self, text: &str) -> Option<u32> {
        let (names, first): (&[&str], u32) = match self {
            CronField::Month => (&MONTH_NAMES, 1),
            CronField::DayOfWeek => (&DAY_NAMES, 0),
            _ => return None,
        };
        let index = names.iter().position(|n| n.eq_ignore_ascii_case(text))?;
        u32::try_from(index).ok().map(|i| i + first)
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a cron expression was rejected. Messages are one line, name the field
/// and quote the offending text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), found {found}")]
    FieldCount { found: usize },
    #[error("@reboot is not supported: herald only runs time-based schedules")]
    Reboot,
    #[error(
        "unknown macro {text:?} (expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)"
    )]
    UnknownMacro { text: String },
    #[error("{field}: {value} is out of range {min}-{max}")]
    OutOfRange {
        field: CronField,
        value: String,
        min: u32,
        max: u32,
    },
    #[error("{field}: {text:?} is not {}", .field.expected())]
    NotAValue { field: CronField, text: String },
    #[error("{field}: {text:?} is malformed (use *, n, a-b, */n, a-b/n or a/n)")]
    Malformed { field: CronField, text: String },
    #[error("{field}: range {text:?} is reversed ({start} is after {end})")]
    ReversedRange {
        field: CronField,
        text: String,
        start: u32,
        end: u32,
    },
    #[error("{field}: step in {text:?} is not a number")]
    StepNotANumber { field: CronField, text: String },
    #[error("{field}: step in {text:?} must be at least 1")]
    ZeroStep { field: CronField, text: String },
    #[error("{field}: step in {text:?} is out of range 1-{max}")]
    StepOutOfRange {
        field: CronField,
        text: String,
        max: u32,
    },
    #[error("{field}: empty item in list {text:?}")]
    EmptyItem { field: CronField, text: String },
}

/// The parsed fields as bitsets (bit `n` set = value `n` matches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fields {
    /// Bits 0-59.
    minutes: u64,
    /// Bits 0-23.
    hours: u32,
    /// Bits 1-31.
    days_of_month: u32,
    /// Bits 1-12.
    months: u16,
    /// Bits 0-6, Sunday = 0 (a 7 in the expression is folded into bit 0).
    days_of_week: u8,
    /// Day-of-month field does not start with `*`.
    dom_restricted: bool,
    /// Day-of-week field does not start with `*`.
    dow_restricted: bool,
}

/// A parsed cron expression. Equality is structural and includes the source
/// text, so `0 9 * * SUN` and `0 9 * * 0` fire alike but are not `==`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    source: String,
    fields: Fields,
}

impl FromStr for CronSchedule {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Self, CronError> {
        let source = text.trim();
        let expanded = if source.starts_with('@') {
            expand_macro(source)?
        } else {
            source
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = parts[..] else {
            return Err(CronError::FieldCount { found: parts.len() });
        };
        let bits = [minute, hour, dom, month, dow]
            .iter()
            .zip(FIELDS)
            .map(|(text, field)| parse_field(field, text))
            .collect::<Result<Vec<u64>, CronError>>()?;
        // Every value is within its field's range, so the narrowing casts keep all bits.
        let fields = Fields {
            minutes: bits[0],
            hours: bits[1] as u32,
            days_of_month: bits[2] as u32,
            months: bits[3] as u16,
            days_of_week: bits[4] as u8,
            dom_restricted: !dom.starts_with('*'),
            dow_restricted: !dow.starts_with('*'),
        };
        Ok(CronSchedule {
            source: source.to_owned(),
            fields,
        })
    }
}

fn expand_macro(text: &str) -> Result<&'static str, CronError> {
    match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Ok("0 0 1 1 *"),
        "@monthly" => Ok("0 0 1 * *"),
        "@weekly" => Ok("0 0 * * 0"),
        "@daily" | "@midnight" => Ok("0 0 * * *"),
        "@hourly" => Ok("0 * * * *"),
        "@reboot" => Err(CronError::Reboot),
        _ => Err(CronError::UnknownMacro {
            text: text.to_owned(),
        }),
    }
}

/// Parses one field (a comma list) into a bitset.
fn parse_field(field: CronField, text: &str) -> Result<u64, CronError> {
    let mut bits = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(CronError::EmptyItem {
                field,
                text: text.to_owned(),
            });
        }
        bits |= parse_item(field, item)?;
    }
    if field == CronField::DayOfWeek && bits & (1 << 7) != 0 {
        bits = (bits & !(1 << 7)) | 1;
    }
    Ok(bits)
}

/// Parses `*`, `v`, `a-b`, `*/n`, `a-b/n` or `a/n` into a bitset.
fn parse_item(field: CronField, item: &str) -> Result<u64, CronError> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(parse_step(field, item, step)?)),
        None => (item, None),
    };
    let (start, end) = if range == "*" {
        (field.min(), field.max())
    } else if let Some((a, b)) = range.split_once('-') {
        let start = parse_value(field, item, a)?;
        let end = parse_value(field, item, b)?;
        if start > end {
            return Err(CronError::ReversedRange {
                field,
                text: range.to_owned(),
                start,
                end,
            });
        }
        (start, end)
    } else {
        let start = parse_value(field, item, range)?;
        match step {
            Some(_) => (start, field.max()),
            None => (start, start),
        }
    };
    let step = step.unwrap_or(1);
    Ok((start..=end)
        .step_by(step as usize)
        .fold(0u64, |bits, v| bits | (1 << v)))
}

fn parse_step(field: CronField, item: &str, text: &str) -> Result<u32, CronError> {
    if text.is_empty() {
        return Err(CronError::Malformed {
            field,
            text: item.to_owned(),
        });
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CronError::StepNotANumber {
            field,
            text: item.to_owned(),
        });
    }
    let max = field.max();
    match text.parse::<u32>() {
        Ok(0) => Err(CronError::ZeroStep {
            field,
            text: item.to_owned(),
        }),
        Ok(step) if step <= max => Ok(step),
        _ => Err(CronError::StepOutOfRange {
            field,
            text: item.to_owned(),
            max,
        }),
    }
}

/// Parses a single number or name; `item` is the list item it came from.
fn parse_value(field: CronField, item: &str, text: &str) -> Result<u32, CronError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(v) if (field.min()..=field.max()).contains(&v) => Ok(v),
            _ => Err(CronError::OutOfRange {
                field,
                value: text.to_owned(),
                min: field.min(),
                max: field.max(),
            }),
        };
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return field
            .value_of_name(text)
            .ok_or_else(|| CronError::NotAValue {
                field,
                text: text.to_owned(),
            });
    }
    Err(CronError::Malformed {
        field,
        text: item.to_owned(),
    })
}

/// Lowest set bit at index `from` or above.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let masked = bits & (u64::MAX << from);
    (masked != 0).then(|| masked.trailing_zeros())
}

impl Fields {
    fn month_matches(&self, date: NaiveDate) -> bool {
        self.months & (1 << date.month()) != 0
    }

    /// Vixie cron: if both day fields are restricted, either may match;
    /// otherwise both must (the unrestricted one always does).
    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom_restricted && self.dow_restricted {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// First matching (hour, minute) at or after `hour:minute` within a day.
    fn first_time_from(&self, hour: u32, minute: u32) -> Option<(u32, u32)> {
        let hours = u64::from(self.hours);
        let h = next_bit(hours, hour)?;
        if h == hour {
            if let Some(m) = next_bit(self.minutes, minute) {
                return Some((h, m));
            }
            let h = next_bit(hours, hour + 1)?;
            return Some((h, next_bit(self.minutes, 0)?));
        }
        Some((h, next_bit(self.minutes, 0)?))
    }

    /// First matching local minute at or after `from`, or `None` once `budget`
    /// days have been scanned (or the calendar runs out).
    fn next_match(&self, from: NaiveDateTime, budget: &mut u32) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let (mut hour, mut minute) = (from.hour(), from.minute());
        loop {
            let next = if self.month_matches(date) {
                if self.day_matches(date) {
                    if let Some((h, m)) = self.first_time_from(hour, minute) {
                        return Some(date.and_time(NaiveTime::from_hms_opt(h, m, 0)?));
                    }
                }
                date.succ_opt()?
            } else {
                first_of_next_month(date)?
            };
            let days = u32::try_from((next - date).num_days()).ok()?;
            *budget = budget.checked_sub(days)?;
            date = next;
            (hour, minute) = (0, 0);
        }
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year().checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

/// The earliest instant whose wall clock in `tz` reads `local`, if any.
fn earliest(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// For a local time inside a gap: the first existing local minute after it
/// and that minute's instant (the end of the gap).
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<(DateTime<Utc>, NaiveDateTime)> {
    let at = |minutes: i64| {
        let l = local.checked_add_signed(Duration::minutes(minutes))?;
        earliest(tz, l).map(|t| (t, l))
    };
    if let Some(found) = (1..=GAP_SCAN_MINUTES).find_map(at) {
        return Some(found);
    }
    // Whole-day gaps: the first existing hourly probe bounds the gap's end;
    // the hour before it (still inside the gap at its start) holds that end.
    let hours = GAP_SCAN_MINUTES / 60 + 1..=LONG_GAP_HOURS;
    let hour = hours.into_iter().find(|h| at(h * 60).is_some())?;
    ((hour - 1) * 60 + 1..=hour * 60).find_map(at)
}

/// The slot instant of a matching local time under the DST rule, plus the
/// first existing local minute when `local` falls in a gap.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<(DateTime<Utc>, Option<NaiveDateTime>)> {
    match earliest(tz, local) {
        Some(t) => Some((t, None)),
        None => gap_end(tz, local).map(|(t, end)| (t, Some(end))),
    }
}

/// The wall-clock minute in `tz` at instant `t` (seconds dropped).
fn local_minute(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let local = t.naive_utc().checked_add_offset(offset)?;
    local.date().and_hms_opt(local.hour(), local.minute(), 0)
}

impl CronSchedule {
    /// The expression as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// All slots strictly after `after`, ascending, never repeating an instant.
    /// Ends if nothing matches within a 400-year search (an expression such as
    /// `0 0 30 2 *` never matches).
    pub fn slots_after(&self, tz: Tz, after: DateTime<Utc>) -> Slots {
        let cursor = local_minute(tz, after).map(|l| {
            l.checked_sub_signed(Duration::hours(LOOKBACK_HOURS))
                .unwrap_or(l)
        });
        Slots {
            fields: self.fields,
            tz,
            cursor,
            last: after,
            budget: HORIZON_DAYS,
        }
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.slots_after(tz, after).next()
    }

    /// Slots `s` with `after < s <= until`. Splitting a window at any point
    /// neither loses nor duplicates a slot.
    pub fn slots_between(
        &self,
        tz: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        self.slots_after(tz, after)
            .take_while(|t| *t <= until)
            .collect()
    }
}

/// Iterator over a schedule's slot instants, from [`CronSchedule::slots_after`].
#[derive(Clone, Debug)]
pub struct Slots {
    fields: Fields,
    tz: Tz,
    /// Next local wall-clock minute to consider; `None` once exhausted.
    cursor: Option<NaiveDateTime>,
    /// Last instant yielded (initially `after`); only later ones are yielded.
    last: DateTime<Utc>,
    /// Days still to scan before giving up if nothing is yielded.
    budget: u32,
}

impl Iterator for Slots {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        loop {
            let from = self.cursor?;
            let Some(local) = self.fields.next_match(from, &mut self.budget) else {
                self.cursor = None;
                return None;
            };
            self.cursor = local.checked_add_signed(Duration::minutes(1));
            let Some((instant, gap_end)) = resolve(self.tz, local) else {
                continue;
            };
            if let Some(end) = gap_end {
                // Every local time up to the gap's end folds into `instant`.
                self.cursor = self.cursor.map(|c| c.max(end));
            }
            if instant > self.last {
                self.last = instant;
                self.budget = HORIZON_DAYS;
                return Some(instant);
            }
        }
    }
}

impl FusedIterator for Slots {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn cron(s: &str) -> CronSchedule {
        s.parse().unwrap()
    }

    fn tz(name: &str) -> Tz {
        name.parse().unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn bit_list(bits: u64) -> Vec<u32> {
        (0..64).filter(|b| bits & (1 << b) != 0).collect()
    }

    fn err(s: &str) -> String {
        s.parse::<CronSchedule>().unwrap_err().to_string()
    }

    fn offset_at(tz: Tz, t: DateTime<Utc>) -> i32 {
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
    }

    /// Offset changes of `tz` in `year`, found by scanning chrono-tz itself.
    fn transitions(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
        let mut t = utc(year, 1, 1, 0, 0);
        let end = utc(year + 1, 1, 1, 0, 0);
        let mut found = Vec::new();
        while t < end {
            let next = t + Duration::minutes(15);
            if offset_at(tz, t) != offset_at(tz, next) {
                // Narrow to the minute.
                let mut m = t;
                while offset_at(tz, m) == offset_at(tz, t) {
                    m += Duration::minutes(1);
                }
                found.push(m);
            }
            t = next;
        }
        found
    }

    fn matches(f: &Fields, l: NaiveDateTime) -> bool {
        f.minutes & (1 << l.minute()) != 0
            && f.hours & (1 << l.hour()) != 0
            && f.month_matches(l.date())
            && f.day_matches(l.date())
    }

    /// Independent reference: walk UTC minute by minute, keeping the highest
    /// wall-clock minute reached so far; an instant is a slot when the wall
    /// clock newly reaches a matching local minute there.
    fn oracle(
        s: &CronSchedule,
        tz: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let mut t = after.with_second(0).unwrap().with_nanosecond(0).unwrap() - Duration::days(1);
        let mut high = local_minute(tz, t).unwrap();
        let mut out = Vec::new();
        while t < until {
            t += Duration::minutes(1);
            let l = local_minute(tz, t).unwrap();
            if l > high {
                let mut m = high + Duration::minutes(1);
                while m <= l {
                    if matches(&s.fields, m) {
                        if t > after && t <= until {
                            out.push(t);
                        }
                        break;
                    }
                    m += Duration::minutes(1);
                }
                high = l;
            }
        }
        out
    }

    #[test]
    fn parses_every_field_syntax() {
        use CronField::*;
        let table: &[(CronField, &str, Vec<u32>)] = &[
            (Minute, "*", (0..=59).collect()),
            (Minute, "7", vec![7]),
            (Minute, "05", vec![5]),
            (Minute, "59", vec![59]),
            (Minute, "10-12", vec![10, 11, 12]),
            (Minute, "*/15", vec![0, 15, 30, 45]),
            (Minute, "10-30/10", vec![10, 20, 30]),
            (Minute, "10-31/10", vec![10, 20, 30]),
            (Minute, "50/4", vec![50, 54, 58]),
            (Minute, "1,2,40-42,*/30", vec![0, 1, 2, 30, 40, 41, 42]),
            (Minute, "*/59", vec![0, 59]),
            (Hour, "*/6", vec![0, 6, 12, 18]),
            (Hour, "0,23", vec![0, 23]),
            (DayOfMonth, "*", (1..=31).collect()),
            (DayOfMonth, "*/10", vec![1, 11, 21, 31]),
            (DayOfMonth, "1,15,31", vec![1, 15, 31]),
            (Month, "JAN", vec![1]),
            (Month, "jan-Mar", vec![1, 2, 3]),
            (Month, "dec,6", vec![6, 12]),
            (Month, "*/3", vec![1, 4, 7, 10]),
            (Month, "FEB/5", vec![2, 7, 12]),
            (Month, "*", (1..=12).collect()),
            (DayOfWeek, "*", (0..=6).collect()),
            (DayOfWeek, "MON-FRI", vec![1, 2, 3, 4, 5]),
            (DayOfWeek, "sun", vec![0]),
            (DayOfWeek, "Sat,SUN", vec![0, 6]),
            (DayOfWeek, "7", vec![0]),
            (DayOfWeek, "0-7", (0..=6).collect()),
            (DayOfWeek, "5-7", vec![0, 5, 6]),
            (DayOfWeek, "*/2", vec![0, 2, 4, 6]),
            (DayOfWeek, "MON/2", vec![0, 1, 3, 5]),
            (DayOfWeek, "tue-thu/2", vec![2, 4]),
        ];
        for (field, text, want) in table {
            let got = parse_field(*field, text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(bit_list(got), *want, "{field} {text:?}");
        }
    }

    #[test]
    fn parses_whole_expressions_and_keeps_trimmed_source() {
        let s = cron("  0\t9  1-7 jan,JUL   MON-FRI \n");
        assert_eq!(s.source(), "0\t9  1-7 jan,JUL   MON-FRI");
        assert_eq!(bit_list(s.fields.minutes), vec![0]);
        assert_eq!(bit_list(s.fields.hours.into()), vec![9]);
        assert_eq!(
            bit_list(s.fields.days_of_month.into()),
            (1..=7).collect::<Vec<_>>()
        );
        assert_eq!(bit_list(s.fields.months.into()), vec![1, 7]);
        assert_eq!(bit_list(s.fields.days_of_week.into()), vec![1, 2, 3, 4, 5]);
        assert!(s.fields.dom_restricted && s.fields.dow_restricted);
        let s = cron("* * */2 * *,1");
        assert!(!s.fields.dom_restricted && !s.fields.dow_restricted);
        let s = cron("* * 1 * *");
        assert!(s.fields.dom_restricted && !s.fields.dow_restricted);
    }

    #[test]
    fn macros_expand() {
        let table = [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            (" @DAILY ", "0 0 * * *"),
        ];
        for (m, e) in table {
            let s = cron(m);
            assert_eq!(s.fields, cron(e).fields, "{m}");
            assert_eq!(s.source(), m.trim());
        }
    }

    #[test]
    fn rejects_with_exact_messages() {
        let table = [
            (
                "",
                "expected 5 fields (minute hour day-of-month month day-of-week), found 0",
            ),
            (
                "* * * *",
                "expected 5 fields (minute hour day-of-month month day-of-week), found 4",
            ),
            (
                "0 * * * * *",
                "expected 5 fields (minute hour day-of-month month day-of-week), found 6",
            ),
            ("60 * * * *", "minute: 60 is out of range 0-59"),
            ("* 24 * * *", "hour: 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month: 0 is out of range 1-31"),
            ("* * 32 * *", "day-of-month: 32 is out of range 1-31"),
            ("* * * 0 *", "month: 0 is out of range 1-12"),
            ("* * * 13 *", "month: 13 is out of range 1-12"),
            ("* * * * 8", "day-of-week: 8 is out of range 0-7"),
            (
                "99999999999 * * * *",
                "minute: 99999999999 is out of range 0-59",
            ),
            ("1-99 * * * *", "minute: 99 is out of range 0-59"),
            (
                "5-1 * * * *",
                r#"minute: range "5-1" is reversed (5 is after 1)"#,
            ),
            (
                "* * * * FRI-MON",
                r#"day-of-week: range "FRI-MON" is reversed (5 is after 1)"#,
            ),
            (
                "* * * DEC-JAN/2 *",
                r#"month: range "DEC-JAN" is reversed (12 is after 1)"#,
            ),
            ("*/0 * * * *", r#"minute: step in "*/0" must be at least 1"#),
            (
                "* 1-5/0 * * *",
                r#"hour: step in "1-5/0" must be at least 1"#,
            ),
            (
                "*/60 * * * *",
                r#"minute: step in "*/60" is out of range 1-59"#,
            ),
            ("*/x * * * *", r#"minute: step in "*/x" is not a number"#),
            (
                "5/2/3 * * * *",
                r#"minute: step in "5/2/3" is not a number"#,
            ),
            ("1,,2 * * * *", r#"minute: empty item in list "1,,2""#),
            ("* 1, * * *", r#"hour: empty item in list "1,""#),
            ("* * * * ,1", r#"day-of-week: empty item in list ",1""#),
            (
                "* * * * FRX",
                r#"day-of-week: "FRX" is not a number or a day name"#,
            ),
            (
                "* * * * JAN",
                r#"day-of-week: "JAN" is not a number or a day name"#,
            ),
            (
                "* * * * MONDAY",
                r#"day-of-week: "MONDAY" is not a number or a day name"#,
            ),
            (
                "* * * FOO *",
                r#"month: "FOO" is not a number or a month name"#,
            ),
            ("MON * * * *", r#"minute: "MON" is not a number"#),
            ("* * x * *", r#"day-of-month: "x" is not a number"#),
            (
                "+5 * * * *",
                r#"minute: "+5" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "-5 * * * *",
                r#"minute: "-5" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "5- * * * *",
                r#"minute: "5-" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "1-2-3 * * * *",
                r#"minute: "1-2-3" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "*/ * * * *",
                r#"minute: "*/" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "/5 * * * *",
                r#"minute: "/5" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "** * * * *",
                r#"minute: "**" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "*-5 * * * *",
                r#"minute: "*-5" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "1.5 * * * *",
                r#"minute: "1.5" is malformed (use *, n, a-b, */n, a-b/n or a/n)"#,
            ),
            (
                "@reboot",
                "@reboot is not supported: herald only runs time-based schedules",
            ),
            (
                "@REBOOT",
                "@reboot is not supported: herald only runs time-based schedules",
            ),
            (
                "@fortnightly",
                r#"unknown macro "@fortnightly" (expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)"#,
            ),
            (
                "@daily 5",
                r#"unknown macro "@daily 5" (expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)"#,
            ),
        ];
        for (expr, want) in table {
            let got = err(expr);
            assert_eq!(got, want, "{expr:?}");
            assert!(!got.contains('\n') && !got.ends_with('.'), "{got}");
            assert!(!got.starts_with(|c: char| c.is_uppercase()), "{got}");
        }
        // Control characters in the bad text stay escaped on one line.
        assert_eq!(
            err("* * * * F\u{1}X"),
            "day-of-week: \"F\\u{1}X\" is malformed (use *, n, a-b, */n, a-b/n or a/n)"
        );
    }

    #[test]
    fn weekdays_at_eleven_in_singapore() {
        let sg = tz("Asia/Singapore");
        let friday_noon = sg.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).unwrap();
        assert_eq!(friday_noon.weekday(), Weekday::Fri);
        let got: Vec<_> = cron("0 11 * * 1-5")
            .slots_after(sg, friday_noon.with_timezone(&Utc))
            .take(5)
            .collect();
        let want: Vec<_> = (5..=9).map(|d| utc(2026, 1, d, 3, 0)).collect();
        assert_eq!(got, want);
        let days: Vec<_> = got.iter().map(|t| t.with_timezone(&sg).weekday()).collect();
        assert_eq!(
            days,
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri
            ]
        );
    }

    #[test]
    fn vixie_day_rule() {
        let u = chrono_tz::UTC;
        let (from, to) = (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        let days = |expr: &str| -> Vec<NaiveDate> {
            let s = cron(expr);
            s.slots_between(u, from, to)
                .iter()
                .map(|t| t.date_naive())
                .collect()
        };
        let every_day: Vec<NaiveDate> = (1..=365)
            .map(|n| NaiveDate::from_yo_opt(2026, n).unwrap())
            .collect();
        let filter = |f: &dyn Fn(&NaiveDate) -> bool| -> Vec<NaiveDate> {
            every_day.iter().copied().filter(|d| f(d)).collect()
        };
        // Both restricted: either matches.
        let or = days("0 9 1 * MON");
        assert_eq!(or, filter(&|d| d.day() == 1 || d.weekday() == Weekday::Mon));
        assert!(or.contains(&NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())); // a Thursday
        assert!(or.contains(&NaiveDate::from_ymd_opt(2026, 1, 5).unwrap())); // a Monday
                                                                             // Only one restricted: that one decides.
        assert_eq!(days("0 9 13 * *"), filter(&|d| d.day() == 13));
        assert_eq!(
            days("0 9 * * FRI"),
            filter(&|d| d.weekday() == Weekday::Fri)
        );
        assert_eq!(
            days("0 9 13 * FRI"),
            filter(&|d| d.day() == 13 || d.weekday() == Weekday::Fri)
        );
        // A field starting with `*` counts as unrestricted: both must match.
        assert_eq!(
            days("0 9 13 * */7"),
            filter(&|d| d.day() == 13 && d.weekday() == Weekday::Sun)
        );
        assert_eq!(
            days("0 9 */2 * FRI"),
            filter(&|d| d.day() % 2 == 1 && d.weekday() == Weekday::Fri)
        );
    }

    #[test]
    fn sunday_spellings_agree() {
        let a = cron("0 9 * * SUN");
        let b = cron("0 9 * * 0");
        let c = cron("0 9 * * 7");
        assert_eq!(a.fields, b.fields);
        assert_eq!(b.fields, c.fields);
        assert_ne!(a, b, "equality includes the source text");
        let u = chrono_tz::UTC;
        let slots = a.slots_between(u, utc(2026, 1, 1, 0, 0), utc(2026, 3, 1, 0, 0));
        assert_eq!(
            slots,
            c.slots_between(u, utc(2026, 1, 1, 0, 0), utc(2026, 3, 1, 0, 0))
        );
        assert_eq!(slots.len(), 8);
        assert!(slots
            .iter()
            .all(|t| t.weekday() == Weekday::Sun && t.hour() == 9));
    }

    #[test]
    fn transition_dates_are_what_the_tests_assume() {
        let check = |name: &str, want: &[(DateTime<Utc>, i32, i32)]| {
            let z = tz(name);
            let got: Vec<_> = transitions(z, 2026)
                .into_iter()
                .map(|t| (t, offset_at(z, t - Duration::minutes(1)), offset_at(z, t)))
                .collect();
            assert_eq!(got, want, "{name}");
        };
        let h = 3600;
        check(
            "America/New_York",
            &[
                (utc(2026, 3, 8, 7, 0), -5 * h, -4 * h),
                (utc(2026, 11, 1, 6, 0), -4 * h, -5 * h),
            ],
        );
        check(
            "Europe/London",
            &[
                (utc(2026, 3, 29, 1, 0), 0, h),
                (utc(2026, 10, 25, 1, 0), h, 0),
            ],
        );
        check(
            "Australia/Lord_Howe",
            &[
                (utc(2026, 4, 4, 15, 0), 11 * h, 21 * h / 2),
                (utc(2026, 10, 3, 15, 30), 21 * h / 2, 11 * h),
            ],
        );
        check(
            "America/Havana",
            &[
                (utc(2026, 3, 8, 5, 0), -5 * h, -4 * h),
                (utc(2026, 11, 1, 5, 0), -4 * h, -5 * h),
            ],
        );
        check(
            "America/Santiago",
            &[
                (utc(2026, 4, 5, 3, 0), -3 * h, -4 * h),
                (utc(2026, 9, 6, 4, 0), -4 * h, -3 * h),
            ],
        );
        check("Asia/Singapore", &[]);
        // Samoa skipped 2011-12-30 entirely.
        let apia = tz("Pacific/Apia");
        assert_eq!(transitions(apia, 2011)[2..], [utc(2011, 12, 30, 10, 0)]);
        assert_eq!(offset_at(apia, utc(2011, 12, 30, 10, 0)), 14 * h);
        assert_eq!(offset_at(apia, utc(2011, 12, 30, 9, 59)), -10 * h);
    }

    #[test]
    fn new_york_spring_forward() {
        let ny = tz("America/New_York");
        let after = utc(2026, 3, 6, 12, 0);
        let s = cron("30 2 * * *");
        assert_eq!(
            s.slots_after(ny, after).take(3).collect::<Vec<_>>(),
            [
                utc(2026, 3, 7, 7, 30),
                utc(2026, 3, 8, 7, 0),
                utc(2026, 3, 9, 6, 30)
            ]
        );
        let s = cron("0 2 * * *");
        assert_eq!(
            s.slots_after(ny, after).take(3).collect::<Vec<_>>(),
            [
                utc(2026, 3, 7, 7, 0),
                utc(2026, 3, 8, 7, 0),
                utc(2026, 3, 9, 6, 0)
            ]
        );
        let s = cron("*/15 * * * *");
        assert_eq!(
            s.slots_between(ny, utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 30)),
            [
                utc(2026, 3, 8, 6, 45), // 01:45 EST
                utc(2026, 3, 8, 7, 0),  // 03:00 EDT, once for 02:00-02:45 and 03:00
                utc(2026, 3, 8, 7, 15), // 03:15 EDT
                utc(2026, 3, 8, 7, 30),
            ]
        );
        // Every minute of the missing hour folds into 03:00 EDT.
        let s = cron("* 2 * * *");
        assert_eq!(
            s.slots_between(ny, utc(2026, 3, 8, 0, 0), utc(2026, 3, 9, 0, 0)),
            [utc(2026, 3, 8, 7, 0)]
        );
    }

    #[test]
    fn new_york_fall_back() {
        let ny = tz("America/New_York");
        let s = cron("30 1 * * *");
        assert_eq!(
            s.slots_between(ny, utc(2026, 10, 31, 0, 0), utc(2026, 11, 3, 0, 0)),
            [
                utc(2026, 10, 31, 5, 30),
                utc(2026, 11, 1, 5, 30),
                utc(2026, 11, 2, 6, 30)
            ]
        );
        let s = cron("*/15 * * * *");
        assert_eq!(
            s.slots_between(ny, utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 15)),
            [
                utc(2026, 11, 1, 5, 45), // 01:45 EDT
                utc(2026, 11, 1, 7, 0),  // 02:00 EST; nothing during the repeated 01:xx EST
                utc(2026, 11, 1, 7, 15),
            ]
        );
        // `after` inside the second pass: the first occurrence is already past.
        let second_pass = utc(2026, 11, 1, 6, 10); // 01:10 EST
        assert_eq!(
            cron("30 1 * * *").next_after(ny, second_pass),
            Some(utc(2026, 11, 2, 6, 30))
        );
        assert_eq!(s.next_after(ny, second_pass), Some(utc(2026, 11, 1, 7, 0)));
        // `after` between the two occurrences of 01:30.
        assert_eq!(
            cron("30 1 * * *").next_after(ny, utc(2026, 11, 1, 5, 30)),
            Some(utc(2026, 11, 2, 6, 30))
        );
        assert_eq!(
            cron("30 1 * * *").next_after(ny, utc(2026, 11, 1, 5, 29)),
            Some(utc(2026, 11, 1, 5, 30))
        );
    }

    #[test]
    fn london_both_transitions() {
        let london = tz("Europe/London");
        let s = cron("30 1 * * *");
        assert_eq!(
            s.slots_between(london, utc(2026, 3, 27, 12, 0), utc(2026, 3, 31, 0, 0)),
            [
                utc(2026, 3, 28, 1, 30), // 01:30 GMT
                utc(2026, 3, 29, 1, 0),  // 01:30 missing: 02:00 BST
                utc(2026, 3, 30, 0, 30), // 01:30 BST
            ]
        );
        assert_eq!(
            s.slots_between(london, utc(2026, 10, 23, 12, 0), utc(2026, 10, 27, 0, 0)),
            [
                utc(2026, 10, 24, 0, 30), // 01:30 BST
                utc(2026, 10, 25, 0, 30), // first 01:30 (BST) only
                utc(2026, 10, 26, 1, 30), // 01:30 GMT
            ]
        );
    }

    #[test]
    fn lord_howe_half_hour_shift() {
        let lh = tz("Australia/Lord_Howe");
        // Spring 2026-10-04 02:00 +10:30 -> 02:30 +11.
        let s = cron("15 2 * * *");
        assert_eq!(
            s.slots_between(lh, utc(2026, 10, 2, 0, 0), utc(2026, 10, 5, 0, 0)),
            [
                utc(2026, 10, 2, 15, 45),
                utc(2026, 10, 3, 15, 30),
                utc(2026, 10, 4, 15, 15)
            ]
        );
        let s = cron("*/10 2 * * *");
        assert_eq!(
            s.slots_between(lh, utc(2026, 10, 3, 15, 0), utc(2026, 10, 3, 16, 0)),
            // 02:00-02:20 fold into 02:30 +11 (15:30 UTC), which also matches.
            [
                utc(2026, 10, 3, 15, 30),
                utc(2026, 10, 3, 15, 40),
                utc(2026, 10, 3, 15, 50)
            ]
        );
        // Autumn 2026-04-05 02:00 +11 -> 01:30 +10:30: 01:30-01:59 repeat.
        let s = cron("45 1 * * *");
        assert_eq!(
            s.slots_between(lh, utc(2026, 4, 3, 0, 0), utc(2026, 4, 6, 0, 0)),
            [
                utc(2026, 4, 3, 14, 45),
                utc(2026, 4, 4, 14, 45),
                utc(2026, 4, 5, 15, 15)
            ]
        );
    }

    #[test]
    fn midnight_shifts() {
        // Havana: 2026-03-08 00:00 -> 01:00; 2026-11-01 01:00 -> 00:00.
        let havana = tz("America/Havana");
        assert_eq!(
            cron("0 0 * * *").slots_between(havana, utc(2026, 3, 6, 12, 0), utc(2026, 3, 10, 0, 0)),
            [
                utc(2026, 3, 7, 5, 0),
                utc(2026, 3, 8, 5, 0),
                utc(2026, 3, 9, 4, 0)
            ]
        );
        assert_eq!(
            cron("30 0 * * *").slots_between(
                havana,
                utc(2026, 10, 31, 0, 0),
                utc(2026, 11, 3, 0, 0)
            ),
            [
                utc(2026, 10, 31, 4, 30),
                utc(2026, 11, 1, 4, 30),
                utc(2026, 11, 2, 5, 30)
            ]
        );
        // Santiago: 2026-09-06 00:00 -> 01:00; 2026-04-05 00:00 -> 04-04 23:00.
        let santiago = tz("America/Santiago");
        assert_eq!(
            cron("@daily").slots_between(santiago, utc(2026, 9, 4, 12, 0), utc(2026, 9, 8, 0, 0)),
            [
                utc(2026, 9, 5, 4, 0),
                utc(2026, 9, 6, 4, 0),
                utc(2026, 9, 7, 3, 0)
            ]
        );
        assert_eq!(
            cron("30 23 * * *").slots_between(
                santiago,
                utc(2026, 4, 3, 12, 0),
                utc(2026, 4, 6, 12, 0)
            ),
            [
                utc(2026, 4, 4, 2, 30),
                utc(2026, 4, 5, 2, 30),
                utc(2026, 4, 6, 3, 30)
            ]
        );
    }

    #[test]
    fn whole_day_gap_in_apia() {
        let apia = tz("Pacific/Apia");
        // 2011-12-29 09:00 -10:00, then 12-30 never happened: its 09:00 fires
        // at the first instant after the gap (12-31 00:00 +14:00), then 12-31 09:00.
        assert_eq!(
            cron("0 9 * * *").slots_between(apia, utc(2011, 12, 29, 0, 0), utc(2011, 12, 31, 0, 0)),
            [
                utc(2011, 12, 29, 19, 0),
                utc(2011, 12, 30, 10, 0),
                utc(2011, 12, 30, 19, 0)
            ]
        );
    }

    #[test]
    fn gap_end_agrees_with_chrono_tz() {
        for (name, year) in [
            ("America/New_York", 2026),
            ("Europe/London", 2026),
            ("Australia/Lord_Howe", 2026),
            ("America/Havana", 2026),
            ("America/Santiago", 2026),
            ("Asia/Beirut", 2026),
            ("Pacific/Apia", 2011),
        ] {
            let z = tz(name);
            let mut gaps = 0;
            for t in transitions(z, year) {
                let before = local_minute(z, t - Duration::minutes(1)).unwrap();
                let first = local_minute(z, t).unwrap();
                let mut l = before + Duration::minutes(1);
                while l < first {
                    gaps += 1;
                    assert_eq!(earliest(z, l), None, "{name} {l}");
                    let want = chrono_tz::GapInfo::new(&l, &z).unwrap().end.unwrap();
                    assert_eq!(
                        gap_end(z, l),
                        Some((want.with_timezone(&Utc), first)),
                        "{name} {l}"
                    );
                    assert_eq!(want.with_timezone(&Utc), t);
                    l += Duration::minutes(7);
                }
            }
            assert!(gaps > 0, "{name} has a gap in {year}");
        }
    }

    /// An expression that never matches ends its search (the search is bounded, not a
    /// walk to the end of time) and finds nothing.
    #[test]
    fn never_matching_ends() {
        for expr in [
            "0 0 30 2 *",
            "0 0 31 4 *",
            "0 0 31 2,4,6,9,11 *",
            "* * 30,31 2 *",
        ] {
            let s = cron(expr);
            assert_eq!(
                s.next_after(tz("America/New_York"), utc(2026, 1, 1, 0, 0)),
                None,
                "{expr}"
            );
            assert!(s
                .slots_between(chrono_tz::UTC, utc(2026, 1, 1, 0, 0), utc(2100, 1, 1, 0, 0))
                .is_empty());
        }
    }

    #[test]
    fn leap_days() {
        let s = cron("0 0 29 2 *");
        let u = chrono_tz::UTC;
        assert_eq!(
            s.next_after(u, utc(2026, 1, 1, 0, 0)),
            Some(utc(2028, 2, 29, 0, 0))
        );
        assert_eq!(
            s.next_after(u, utc(2028, 2, 29, 0, 0)),
            Some(utc(2032, 2, 29, 0, 0))
        );
        // 2100 is not a leap year: an eight-year wait.
        assert_eq!(
            s.next_after(u, utc(2096, 3, 1, 0, 0)),
            Some(utc(2104, 2, 29, 0, 0))
        );
        let ny = tz("America/New_York");
        assert_eq!(
            s.next_after(ny, utc(2026, 1, 1, 0, 0)),
            Some(utc(2028, 2, 29, 5, 0))
        );
        // Feb 29 that is also a Sunday (`*/7` starts with `*`, so both must match).
        let sunday_leap = cron("0 12 29 2 */7").next_after(u, utc(2026, 1, 1, 0, 0));
        assert_eq!(sunday_leap, Some(utc(2032, 2, 29, 12, 0)));
        assert_eq!(
            NaiveDate::from_ymd_opt(2032, 2, 29).unwrap().weekday(),
            Weekday::Sun
        );
        let next = cron("0 12 29 2 */7").next_after(u, utc(2033, 1, 1, 0, 0));
        assert_eq!(next, Some(utc(2060, 2, 29, 12, 0)));
        assert_eq!(
            NaiveDate::from_ymd_opt(2060, 2, 29).unwrap().weekday(),
            Weekday::Sun
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        for s in ["* * * * *", "0 0 29 2 *", "0 0 30 2 *"] {
            let s = cron(s);
            for z in [
                chrono_tz::UTC,
                tz("America/New_York"),
                tz("Pacific/Kiritimati"),
            ] {
                assert_eq!(s.next_after(z, DateTime::<Utc>::MAX_UTC), None);
                let _ = s.slots_after(z, DateTime::<Utc>::MIN_UTC).take(3).count();
                let _ = s
                    .slots_after(z, DateTime::<Utc>::MAX_UTC - Duration::days(3))
                    .count();
            }
        }
    }

    #[test]
    fn empty_or_reversed_window() {
        let s = cron("* * * * *");
        let t = utc(2026, 5, 5, 5, 5);
        assert!(s.slots_between(chrono_tz::UTC, t, t).is_empty());
        assert!(s
            .slots_between(chrono_tz::UTC, t, t - Duration::hours(1))
            .is_empty());
        assert_eq!(
            s.slots_between(chrono_tz::UTC, t, t + Duration::seconds(60)),
            [t + Duration::minutes(1)]
        );
        // `after` with seconds: the next whole minute.
        let odd = t + Duration::milliseconds(1500);
        assert_eq!(
            s.next_after(chrono_tz::UTC, odd),
            Some(t + Duration::minutes(1))
        );
        assert_eq!(
            s.next_after(chrono_tz::UTC, t - Duration::nanoseconds(1)),
            Some(t)
        );
    }

    const ZONES: [&str; 7] = [
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "Asia/Singapore",
        "America/Havana",
        "America/Santiago",
        "Asia/Beirut",
    ];

    const EXPRESSIONS: [&str; 12] = [
        "* * * * *",
        "*/15 * * * *",
        "30 2 * * *",
        "30 1 * * *",
        "0 2 * * *",
        "* 2 * * *",
        "0 0 * * *",
        "15,45 23,0,1 * * *",
        "0 11 * * 1-5",
        "5-59/20 0-3 * * SUN,SAT",
        "0 9 1 * MON",
        "@hourly",
    ];

    #[test]
    fn matches_the_reference_around_every_transition() {
        let mut windows: Vec<(Tz, DateTime<Utc>)> = ZONES
            .iter()
            .flat_map(|name| {
                let z = tz(name);
                transitions(z, 2026).into_iter().map(move |t| (z, t))
            })
            .collect();
        windows.push((tz("Pacific/Apia"), utc(2011, 12, 30, 10, 0)));
        windows.push((tz("Asia/Singapore"), utc(2026, 6, 1, 0, 0)));
        for (z, t) in windows {
            let (a, c) = (t - Duration::hours(30), t + Duration::hours(30));
            for expr in EXPRESSIONS {
                let s = cron(expr);
                assert_eq!(
                    s.slots_between(z, a, c),
                    oracle(&s, z, a, c),
                    "{expr} in {z} around {t}"
                );
            }
        }
    }

    /// Deterministic pseudo-random numbers (64-bit LCG, high bits).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn windows_split_without_losing_or_duplicating_slots() {
        let mut rng = Lcg(0x5eed);
        let zones: Vec<Tz> = ZONES.iter().map(|n| tz(n)).collect();
        let year_start = utc(2026, 1, 1, 0, 0);
        let transitions: Vec<DateTime<Utc>> =
            zones.iter().flat_map(|z| transitions(*z, 2026)).collect();
        for round in 0..400 {
            let z = zones[rng.below(zones.len() as u64) as usize];
            let s = cron(EXPRESSIONS[rng.below(EXPRESSIONS.len() as u64) as usize]);
            // Half the windows start near some transition, half anywhere in 2026.
            let base = if round % 2 == 0 {
                transitions[rng.below(transitions.len() as u64) as usize] - Duration::hours(36)
            } else {
                year_start + Duration::minutes(rng.below(365 * 1440) as i64)
            };
            let a = base
                + Duration::seconds(rng.below(72 * 3600) as i64)
                + Duration::milliseconds(rng.below(1000) as i64);
            let b = a + Duration::seconds(rng.below(36 * 3600) as i64);
            let c = b + Duration::seconds(rng.below(36 * 3600) as i64 + 1);

            let whole = s.slots_between(z, a, c);
            let mut split = s.slots_between(z, a, b);
            split.extend(s.slots_between(z, b, c));
            assert_eq!(whole, split, "{} in {z}: ({a}, {b}, {c})", s.source());
            assert!(
                whole.windows(2).all(|w| w[0] < w[1]),
                "{} in {z}",
                s.source()
            );
            assert!(whole.iter().all(|t| *t > a && *t <= c));
            assert!(whole
                .iter()
                .all(|t| t.timestamp() % 60 == 0 && t.nanosecond() == 0));
            assert_eq!(s.next_after(z, a), s.slots_after(z, a).next());
            if let Some(first) = whole.first() {
                assert_eq!(s.next_after(z, a), Some(*first));
            }
        }
    }
}
