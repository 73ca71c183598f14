//! What GymBooker asks of a gym's booking system, whichever it is: the classes of a day, one
//! booking (or a place on the waiting list), a member's bookings read back, a cancellation.
//! The booking job and `/gym` talk to a [`GymProvider`] over plain typed data, so they can be
//! tested against any provider and a second gym system is one more implementation
//! (`crate::sources::mindbody` is the first).
//!
//! Every failure is a [`GymError`] naming what happened in the terms the job decides on: full
//! (try the next preferred time), the window not open yet (retry shortly), already booked
//! (count it as done), and, above all, [`GymError::outcome_unknown`]: a booking whose answer never
//! came may have been made, so it is settled by reading the member's bookings back, never by
//! booking again.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;

/// A span of time classes start in: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    /// The calendar day `date` in `tz`, from its first instant to the next day's (23, 24 or 25
    /// hours around a DST change).
    pub fn day(date: NaiveDate, tz: Tz) -> Period {
        Period::days(date, date, tz)
    }

    /// The calendar days `first..=last` in `tz` (empty when `last` is before `first`).
    pub fn days(first: NaiveDate, last: NaiveDate, tz: Tz) -> Period {
        let from = start_of_day(first, tz);
        let to = last
            .succ_opt()
            .map_or(DateTime::<Utc>::MAX_UTC, |next| start_of_day(next, tz));
        Period {
            from,
            to: to.max(from),
        }
    }

    /// `[from, to)` as given.
    pub fn utc(from: DateTime<Utc>, to: DateTime<Utc>) -> Period {
        Period { from, to }
    }

    /// Whether `at` falls in the period.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// The first instant of `date` in `tz` (the first after a gap, when midnight is skipped).
fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = date.and_time(NaiveTime::MIN);
    // A DST gap at midnight skips at most a few hours; look forward a minute at a time.
    for _ in 0..(24 * 60) {
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(1);
    }
    date.and_time(NaiveTime::MIN).and_utc()
}

/// One class instance a member can book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GymClass {
    /// The provider's id of this instance (what [`GymProvider::book`] takes).
    pub id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// "CrossFit WOD".
    pub name: String,
    /// The program or category ("CrossFit"), if the provider says.
    pub program: Option<String>,
    pub location: Option<String>,
    pub instructor: Option<String>,
    /// Places in the class, if the provider says.
    pub capacity: Option<u32>,
    /// Places taken, if the provider says.
    pub booked: Option<u32>,
    /// Whether the provider offers a waiting list once it is full.
    pub waitlist_available: bool,
    /// When bookings open, if the provider says.
    pub window_opens_at: Option<DateTime<Utc>>,
    /// Whether the provider says the class is cancelled.
    pub cancelled: bool,
}

impl GymClass {
    /// Whether every place is taken (by the provider's counts; unknown counts: not full).
    pub fn is_full(&self) -> bool {
        matches!((self.capacity, self.booked), (Some(c), Some(b)) if b >= c)
    }
}

/// Where a member stands in a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    /// A place in the class.
    Booked,
    /// On its waiting list.
    Waitlisted,
}

/// A member's booking of one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The class's id (as in [`GymClass::id`]).
    pub class_id: String,
    /// The member, as the provider knows them (a Mindbody client id).
    pub member: String,
    pub status: BookingStatus,
    /// When the class starts, if the provider says.
    pub starts_at: Option<DateTime<Utc>>,
    /// The class's name, if the provider says.
    pub name: Option<String>,
    /// The provider's reference for the booking (a visit or waiting-list entry id).
    pub reference: Option<String>,
}

/// A gym's booking system.
pub trait GymProvider: Send + Sync {
    /// Its name in logs and messages ("Mindbody").
    fn provider_name(&self) -> &'static str;

    /// Logs in ahead of time (a staff token, say), so that a booking fired at the window's
    /// opening instant is a single request.
    fn prepare(&self) -> BoxFuture<'_, Result<(), GymError>>;

    /// The classes starting in `period`, by start time.
    fn classes(&self, period: Period) -> BoxFuture<'_, Result<Vec<GymClass>, GymError>>;

    /// Books `member` into class `class_id`; with `waitlist`, a full class puts them on its
    /// waiting list instead of refusing. On [`GymError::outcome_unknown`] the booking may have
    /// been made: read [`GymProvider::bookings`] before anything else.
    fn book<'a>(
        &'a self,
        member: &'a str,
        class_id: &'a str,
        waitlist: bool,
    ) -> BoxFuture<'a, Result<Booking, GymError>>;

    /// `member`'s bookings of classes starting in `period` (places, not waiting-list entries),
    /// by start time.
    fn bookings<'a>(
        &'a self,
        member: &'a str,
        period: Period,
    ) -> BoxFuture<'a, Result<Vec<Booking>, GymError>>;

    /// Cancels `member`'s booking of class `class_id` (an early cancellation).
    fn cancel<'a>(
        &'a self,
        member: &'a str,
        class_id: &'a str,
    ) -> BoxFuture<'a, Result<(), GymError>>;
}

/// Why a gym call failed: one line fit to DM a member or the operator, never holding a
/// credential. `what` names the call ("the booking of class 58212").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GymError {
    /// Every place is taken (and no waiting list was asked for, or none is offered).
    #[error("{provider}: class {class_id} is full")]
    Full {
        provider: &'static str,
        class_id: String,
    },
    /// The member already has this class (or its waiting list): for a booking, done.
    #[error("{provider}: the member is already booked into class {class_id}")]
    AlreadyBooked {
        provider: &'static str,
        class_id: String,
    },
    /// The booking window is not open (yet, or any more): retry shortly after the opening.
    #[error("{provider}: class {class_id} cannot be booked now ({code}: {message})")]
    WindowNotOpen {
        provider: &'static str,
        class_id: String,
        code: String,
        message: String,
    },
    /// The member has nothing to pay for this class with.
    #[error(
        "{provider}: class {class_id} needs a pricing option the member does not have ({message})"
    )]
    RequiresPayment {
        provider: &'static str,
        class_id: String,
        message: String,
    },
    /// The member's account is suspended.
    #[error("{provider}: the member's account is suspended ({message})")]
    ClientSuspended {
        provider: &'static str,
        message: String,
    },
    /// No such class (a stale id, a class removed from the schedule).
    #[error("{provider}: there is no class {class_id}")]
    InvalidClass {
        provider: &'static str,
        class_id: String,
    },
    /// The credentials were refused (or a fresh token was refused too).
    #[error("{provider} refused herald's credentials: {detail}")]
    Auth {
        provider: &'static str,
        detail: String,
    },
    /// No answer within the timeout. For a booking or a cancellation the outcome is unknown.
    #[error("{provider} did not answer {what} within {seconds} s")]
    Timeout {
        provider: &'static str,
        what: String,
        seconds: u64,
    },
    /// The request failed on the way. `maybe_sent`: the connection was up, so the request may
    /// have reached the provider (a reset, a reply lost); otherwise it surely did not (refused,
    /// DNS, TLS).
    #[error("cannot reach {provider} for {what}: {reason}")]
    Transport {
        provider: &'static str,
        what: String,
        reason: String,
        maybe_sent: bool,
    },
    /// A 5xx or an error page: the provider failed, perhaps after acting.
    #[error("{provider} failed with HTTP {status} on {what}: {message}")]
    Server {
        provider: &'static str,
        what: String,
        status: u16,
        message: String,
    },
    /// Any other refusal, with the provider's code.
    #[error("{provider} refused {what} (HTTP {status}, {code}): {message}")]
    Refused {
        provider: &'static str,
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    /// An answer herald cannot read (a success it cannot parse: perhaps acted on).
    #[error("{provider}'s answer to {what} is not what herald expects: {reason}")]
    Unreadable {
        provider: &'static str,
        what: String,
        reason: String,
    },
    /// The provider cannot be used as configured.
    #[error("the gym provider is not usable: {0}")]
    Config(String),
}

impl GymError {
    /// Whether a write that failed this way may still have happened: a timeout, a failure
    /// after the request may have been sent, a 5xx, an unreadable success. A booking that ends
    /// so is settled by reading the member's bookings back, never by booking again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            GymError::Timeout { .. } | GymError::Server { .. } | GymError::Unreadable { .. } => {
                true
            }
            GymError::Transport { maybe_sent, .. } => *maybe_sent,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("instant")
    }

    #[test]
    fn a_day_runs_from_local_midnight_to_the_next() {
        let singapore: Tz = "Asia/Singapore".parse().expect("zone");
        let period = Period::day(day(2026, 11, 22), singapore);
        assert_eq!(period.from, at("2026-11-21T16:00:00Z"));
        assert_eq!(period.to, at("2026-11-22T16:00:00Z"));
        assert!(period.contains(at("2026-11-21T22:30:00Z")));
        assert!(!period.contains(at("2026-11-22T16:00:00Z")));
        let week = Period::days(day(2026, 11, 22), day(2026, 11, 28), singapore);
        assert_eq!(week.to - week.from, chrono::Duration::days(7));
        let backwards = Period::days(day(2026, 11, 22), day(2026, 11, 21), singapore);
        assert_eq!(backwards.from, backwards.to);
    }

    #[test]
    fn a_day_follows_dst_and_a_skipped_midnight() {
        let london: Tz = "Europe/London".parse().expect("zone");
        let spring = Period::day(day(2026, 3, 29), london);
        assert_eq!(spring.to - spring.from, chrono::Duration::hours(23));
        // Santiago skips 00:00-01:00 on the first Sunday of September.
        let santiago: Tz = "America/Santiago".parse().expect("zone");
        let gap = Period::day(day(2026, 9, 6), santiago);
        assert_eq!(gap.from, at("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn only_writes_that_may_have_happened_are_unknown() {
        let p = "Mindbody";
        assert!(GymError::Timeout {
            provider: p,
            what: "the booking".into(),
            seconds: 5
        }
        .outcome_unknown());
        assert!(GymError::Transport {
            provider: p,
            what: "the booking".into(),
            reason: "connection closed before message completed".into(),
            maybe_sent: true
        }
        .outcome_unknown());
        assert!(!GymError::Transport {
            provider: p,
            what: "the booking".into(),
            reason: "connection refused".into(),
            maybe_sent: false
        }
        .outcome_unknown());
        assert!(!GymError::Full {
            provider: p,
            class_id: "1".into()
        }
        .outcome_unknown());
        let full = GymClass {
            id: "1".into(),
            starts_at: at("2026-11-21T22:30:00Z"),
            ends_at: None,
            name: "CrossFit WOD".into(),
            program: None,
            location: None,
            instructor: None,
            capacity: Some(16),
            booked: Some(16),
            waitlist_available: true,
            window_opens_at: None,
            cancelled: false,
        };
        assert!(full.is_full());
        assert!(!GymClass {
            booked: None,
            ..full
        }
        .is_full());
    }
}
