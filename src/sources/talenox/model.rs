//! Talenox's wire format, in one place: every path, query parameter and field name herald
//! relies on is written here and nowhere else, so that a correction is a one-file change.
//!
//! Public facts (Talenox API v2): base `https://api.talenox.com/api/v2` (the default of
//! `[talenox].api_url`), `Authorization: Bearer
//! <company API token>`, JSON; `GET /employees` answers a bare JSON array of employees with
//! `id`, `employee_id`, `first_name`, `last_name`, `email`, `birthdate`, `hired_date` and
//! `resign_date` (`YYYY-MM-DD`). The leave API (beta) lists leave applications overlapping
//! `overlap_from`..`overlap_to`, paged by `last_seen_id` / `next_last_seen_id`, `limit` 1-50.
//!
//! ASSUMED (not public; our own guesses, as in `tests/fixtures/talenox/*_ASSUMED.json`): the
//! leave route's path ([`LEAVE_APPLICATIONS_PATH`]), the leave reply's envelope and field
//! names ([`LeavePage`], [`LeaveApplication`]) and the work pass ([`WorkPass`]).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

/// `GET`: every employee, as a bare JSON array.
pub const EMPLOYEES_PATH: &str = "/employees";
/// `GET`: leave applications overlapping a date range. ASSUMED path.
pub const LEAVE_APPLICATIONS_PATH: &str = "/leave_applications";
/// Query: first day of the range (`yyyy-mm-dd`, required).
pub const OVERLAP_FROM: &str = "overlap_from";
/// Query: last day of the range (`yyyy-mm-dd`, required).
pub const OVERLAP_TO: &str = "overlap_to";
/// Query: only applications in this status.
pub const STATUS: &str = "status";
/// Query: page size.
pub const LIMIT: &str = "limit";
/// Query: the previous page's [`LeavePage::next_last_seen_id`].
pub const LAST_SEEN_ID: &str = "last_seen_id";
/// The largest page the leave API serves.
pub const MAX_LIMIT: u32 = 50;

/// One employee of `GET /employees`. Unknown fields are ignored; personal fields herald does not
/// use (email, citizenship, pass numbers) are not kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Employee {
    /// Talenox's internal id: what leave applications and approvers refer to.
    pub id: i64,
    /// The company's own staff number.
    #[serde(default)]
    pub employee_id: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default, deserialize_with = "optional_date")]
    pub birthdate: Option<NaiveDate>,
    #[serde(default, deserialize_with = "optional_date")]
    pub hired_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "optional_date")]
    pub resign_date: Option<NaiveDate>,
    /// ASSUMED field.
    #[serde(default)]
    pub work_pass: Option<WorkPass>,
}

impl Employee {
    /// "First Last", as the roster's `talenox_name` spells it.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name.trim(), self.last_name.trim())
            .trim()
            .to_owned()
    }

    /// True when the employee has left by `date` (a resign date before it).
    pub fn has_left(&self, date: NaiveDate) -> bool {
        self.resign_date.is_some_and(|left| left < date)
    }
}

/// A work pass (ASSUMED shape: `{"type", "number", "issue_date", "expiry_date"}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkPass {
    /// "Employment Pass", "S Pass", ...
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "optional_date")]
    pub expiry_date: Option<NaiveDate>,
}

/// One page of the leave API (ASSUMED envelope).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LeavePage {
    pub leave_applications: Vec<LeaveApplication>,
    /// Pass as [`LAST_SEEN_ID`] for the next page; absent or null on the last page.
    #[serde(default)]
    pub next_last_seen_id: Option<i64>,
}

/// A leave application's status (ASSUMED words, lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
    /// A word herald does not know, kept as sent.
    Other(String),
}

impl LeaveStatus {
    /// The word the API uses, also as the [`STATUS`] filter.
    pub fn as_str(&self) -> &str {
        match self {
            LeaveStatus::Pending => "pending",
            LeaveStatus::Approved => "approved",
            LeaveStatus::Rejected => "rejected",
            LeaveStatus::Cancelled => "cancelled",
            LeaveStatus::Other(word) => word,
        }
    }
}

impl<'de> Deserialize<'de> for LeaveStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Ok(match word.trim().to_ascii_lowercase().as_str() {
            "pending" => LeaveStatus::Pending,
            "approved" => LeaveStatus::Approved,
            "rejected" => LeaveStatus::Rejected,
            "cancelled" | "canceled" => LeaveStatus::Cancelled,
            _ => LeaveStatus::Other(word),
        })
    }
}

/// One leave application (ASSUMED field names).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LeaveApplication {
    pub id: i64,
    /// The applicant's [`Employee::id`].
    pub employee_id: i64,
    #[serde(default)]
    pub employee_name: String,
    #[serde(default)]
    pub leave_type: String,
    pub status: LeaveStatus,
    #[serde(deserialize_with = "date")]
    pub start_date: NaiveDate,
    #[serde(deserialize_with = "date")]
    pub end_date: NaiveDate,
    /// The first day is a half day.
    #[serde(default)]
    pub start_half_day: bool,
    /// The last day is a half day.
    #[serde(default)]
    pub end_half_day: bool,
    /// [`Employee::id`]s of who may approve it.
    #[serde(default)]
    pub approver_ids: Vec<i64>,
    pub applied_at: DateTime<Utc>,
}

impl LeaveApplication {
    /// True when the application covers `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.start_date <= date && date <= self.end_date
    }

    /// True when the applicant is away only half of `date`.
    pub fn half_day_on(&self, date: NaiveDate) -> bool {
        (date == self.start_date && self.start_half_day)
            || (date == self.end_date && self.end_half_day)
    }
}

/// `GET /employees`'s body.
pub fn parse_employees(body: &[u8]) -> Result<Vec<Employee>, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// One leave page's body.
pub fn parse_leave_page(body: &[u8]) -> Result<LeavePage, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// A `YYYY-MM-DD` date.
fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let text = String::deserialize(d)?;
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| serde::de::Error::custom(format!("\"{text}\" is not a YYYY-MM-DD date: {e}")))
}

/// A `YYYY-MM-DD` date, `null`, or an empty string (no date).
fn optional_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|e| {
                serde::de::Error::custom(format!("\"{text}\" is not a YYYY-MM-DD date: {e}"))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPLOYEES: &str =
        include_str!("../../../tests/fixtures/talenox/talenox_employees_ASSUMED.json");
    const LEAVE: &str =
        include_str!("../../../tests/fixtures/talenox/talenox_leave_applications_ASSUMED.json");

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    #[test]
    fn the_employee_fixture_parses_with_dates_and_work_pass() {
        let employees = parse_employees(EMPLOYEES.as_bytes()).expect("parses");
        assert_eq!(employees.len(), 3);
        assert_eq!(employees[0].full_name(), "Wei Ling Tan");
        assert_eq!(employees[1].birthdate, Some(day(1996, 2, 29)));
        let pass = employees[1].work_pass.as_ref().expect("Arjun has a pass");
        assert_eq!(pass.kind, "Employment Pass");
        assert_eq!(pass.expiry_date, Some(day(2026, 9, 30)));
        assert!(employees[2].has_left(day(2026, 9, 1)));
        assert!(
            !employees[2].has_left(day(2026, 8, 31)),
            "the last day counts"
        );
    }

    #[test]
    fn the_leave_fixture_parses_with_half_days() {
        let page = parse_leave_page(LEAVE.as_bytes()).expect("parses");
        assert_eq!(page.next_last_seen_id, None);
        let arjun = &page.leave_applications[0];
        assert_eq!(arjun.status, LeaveStatus::Pending);
        assert!(arjun.covers(day(2026, 8, 12)) && !arjun.covers(day(2026, 8, 13)));
        assert!(arjun.half_day_on(day(2026, 8, 12)));
        assert!(!arjun.half_day_on(day(2026, 8, 10)));
        assert_eq!(arjun.approver_ids, [211722]);
        assert_eq!(page.leave_applications[1].status, LeaveStatus::Approved);
    }

    #[test]
    fn empty_dates_are_no_dates_and_bad_ones_are_named() {
        let body = br#"[{"id":1,"first_name":"A","birthdate":"","hired_date":null}]"#;
        let employees = parse_employees(body).expect("parses");
        assert_eq!(employees[0].birthdate, None);
        assert_eq!(employees[0].hired_date, None);
        let bad = parse_employees(br#"[{"id":1,"birthdate":"04/08/1990"}]"#).unwrap_err();
        assert!(bad.contains("04/08/1990"), "{bad}");
    }
}
