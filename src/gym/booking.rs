//! One member's booking on one booking day: log in and read the class day's timetable before
//! the window opens, fire the first booking at the opening instant, fall back through the
//! preferred times when a class is full, retry for up to a minute while the window is not
//! open yet, and count "already booked" as done.
//!
//! Never twice: a `booking` row (committed) precedes every request. A request whose answer
//! never came (timeout, lost reply, 5xx) is settled by reading the member's bookings back,
//! never by booking again blindly; and a run that finds a `booking` row left by a run that
//! died reads back before anything else.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::plan::GymPlan;
use crate::clock::Clock;
use crate::sources::gym::{BookingStatus, GymClass, GymError, GymProvider, Period};
use crate::store::gym_bookings::{self, ClassRef, GymState};
use crate::store::Store;

/// How long after the opening a "not open yet" answer is retried.
pub const WINDOW_RETRY_FOR: Duration = Duration::from_secs(60);
/// The first wait between those retries (doubling, at most [`WINDOW_RETRY_MAX_WAIT`]).
pub const WINDOW_RETRY_FIRST_WAIT: Duration = Duration::from_millis(100);
pub const WINDOW_RETRY_MAX_WAIT: Duration = Duration::from_secs(2);
/// Requests of one class left unanswered (and read back as not booked) before giving up.
const MAX_UNANSWERED: u32 = 2;

/// How one member's booking went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The member has a place: `class`, after `full` (earlier preferences found full).
    Booked {
        class: ClassSummary,
        full: Vec<String>,
    },
    /// Done before (booked, skipped, cancelled or asked for): nothing to say.
    Unchanged,
    /// Every preferred class is full; the waitlist of `first` can be offered.
    AllFull {
        tried: Vec<String>,
        first: ClassSummary,
    },
    /// Not booked, and why (the member and the operator are told).
    Failed(String),
    /// A request may have gone through and reading back failed too: nobody knows yet.
    Unknown(String),
}

/// A class as a DM names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSummary {
    pub id: String,
    pub name: String,
    pub starts_at: DateTime<Utc>,
}

/// Why a booking run stopped before it could say how it went.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// What one member's booking needs.
pub struct Booker<'a> {
    pub provider: &'a dyn GymProvider,
    pub store: &'a Store,
    pub clock: &'a Clock,
    pub timezone: Tz,
}

impl Booker<'_> {
    /// The instant the window opens on `booking_day` for `plan`.
    pub fn opening(&self, plan: &GymPlan, booking_day: NaiveDate) -> DateTime<Utc> {
        let local = booking_day.and_time(plan.window_opens);
        self.timezone
            .from_local_datetime(&local)
            .earliest()
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// Books `plan`'s class of `class_day`, the window opening at `opens`.
    pub async fn book(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        opens: DateTime<Utc>,
    ) -> Result<Outcome, BookingError> {
        let existing = {
            let mut conn = self.store.pool().acquire().await?;
            gym_bookings::get(&mut conn, &plan.member, class_day).await?
        };
        if let Some(row) = &existing {
            match row.state {
                GymState::Full | GymState::Failed => {}
                GymState::Booking => {
                    // A run died with a request in flight: did it go through?
                    match self.read_back(plan, class_day, None).await {
                        Ok(Some(class)) => {
                            return self.booked(plan, class_day, class, Vec::new()).await
                        }
                        Ok(None) => {}
                        Err(e) => return self.unknown(plan, class_day, &e).await,
                    }
                }
                _ => return Ok(Outcome::Unchanged),
            }
        }
        // Before the window: log in and read the day's timetable.
        let prepared = async {
            self.provider.prepare().await?;
            self.provider
                .classes(Period::day(class_day, self.timezone))
                .await
        };
        let timetable = match prepared.await {
            Ok(classes) => classes,
            Err(e) => return self.failed(plan, class_day, &e.to_string()).await,
        };
        let candidates = self.preferred(plan, class_day, &timetable);
        if candidates.is_empty() {
            let times: Vec<String> = plan
                .times
                .iter()
                .map(|t| t.format("%H:%M").to_string())
                .collect();
            let why = format!(
                "none of {} is on the timetable for {}",
                times.join(", "),
                class_day.format("%a %-d %b")
            );
            return self.failed(plan, class_day, &why).await;
        }
        self.sleep_until(opens).await;
        let mut full = Vec::new();
        for class in &candidates {
            match self.try_class(plan, class_day, class, opens).await? {
                Try::Booked(class) => return self.booked(plan, class_day, class, full).await,
                Try::Full => full.push(self.local_time(class.starts_at)),
                Try::Failed(why) => return self.failed(plan, class_day, &why).await,
                Try::Unknown(why) => return self.unknown(plan, class_day, &why).await,
            }
        }
        let first = candidates[0].clone();
        let outcome = Outcome::AllFull {
            tried: full,
            first: first.clone(),
        };
        self.settle(
            plan,
            class_day,
            GymState::Full,
            Some(&first),
            None,
            &outcome,
        )
        .await?;
        Ok(outcome)
    }

    /// One class: the booking request (after its `booking` row commits), retried while the
    /// window is not open yet, settled by reading back when its answer is unknown.
    async fn try_class(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        class: &ClassSummary,
        opens: DateTime<Utc>,
    ) -> Result<Try, BookingError> {
        let mut wait = WINDOW_RETRY_FIRST_WAIT;
        let give_up = opens + chrono::Duration::from_std(WINDOW_RETRY_FOR).unwrap_or_default();
        let mut unanswered = 0;
        loop {
            self.set(plan, class_day, GymState::Booking, Some(class), None, true)
                .await?;
            let error = match self.provider.book(&plan.client_id, &class.id, false).await {
                Ok(booking) if booking.status == BookingStatus::Booked => {
                    return Ok(Try::Booked(class.clone()))
                }
                Ok(_) => {
                    return Ok(Try::Failed(
                        "the booking system put the member on a waiting list instead".into(),
                    ))
                }
                Err(e) => e,
            };
            // After an unanswered request of this class, any other refusal may be caused by
            // that very request (it took the last place): read back before moving on.
            if unanswered > 0 && !error.outcome_unknown() {
                match self.read_back(plan, class_day, Some(&class.id)).await {
                    Ok(Some(found)) => return Ok(Try::Booked(found)),
                    Ok(None) => {}
                    Err(read) => {
                        return Ok(Try::Unknown(format!(
                            "{error} after an unanswered request; reading the bookings back failed: {read}"
                        )))
                    }
                }
            }
            match &error {
                GymError::AlreadyBooked { .. } => return Ok(Try::Booked(class.clone())),
                GymError::Full { .. } => return Ok(Try::Full),
                GymError::WindowNotOpen { .. } if self.clock.now() < give_up => {
                    self.clock.sleep(wait).await;
                    wait = (wait * 2).min(WINDOW_RETRY_MAX_WAIT);
                }
                e if e.outcome_unknown() => {
                    match self.read_back(plan, class_day, Some(&class.id)).await {
                        Ok(Some(found)) => return Ok(Try::Booked(found)),
                        // Read back: surely not booked, so asking again is not blind.
                        Ok(None) if unanswered < MAX_UNANSWERED => unanswered += 1,
                        // Still unanswered: left uncertain (the row stays `booking`), so
                        // the next run reads back before anything else.
                        Ok(None) => {
                            return Ok(Try::Unknown(format!(
                                "{error} ({} times; reading back showed no booking each time)",
                                unanswered + 1
                            )))
                        }
                        Err(read) => {
                            return Ok(Try::Unknown(format!(
                                "{error}; reading the bookings back failed too: {read}"
                            )))
                        }
                    }
                }
                other => return Ok(Try::Failed(other.to_string())),
            }
        }
    }

    /// The member's booked class on `class_day` (`class_id` if given, else any), read from
    /// the booking system.
    async fn read_back(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        class_id: Option<&str>,
    ) -> Result<Option<ClassSummary>, String> {
        let bookings = self
            .provider
            .bookings(&plan.client_id, Period::day(class_day, self.timezone))
            .await
            .map_err(|e| e.to_string())?;
        Ok(bookings
            .into_iter()
            .filter(|b| b.status == BookingStatus::Booked)
            .find(|b| class_id.is_none_or(|id| b.class_id == id))
            .map(|b| ClassSummary {
                name: b.name.unwrap_or_else(|| "class".to_owned()),
                starts_at: b.starts_at.unwrap_or_default(),
                id: b.class_id,
            }))
    }

    /// The day's classes at the plan's times, in order of preference.
    fn preferred(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        timetable: &[GymClass],
    ) -> Vec<ClassSummary> {
        plan.times
            .iter()
            .filter_map(|time| {
                timetable.iter().find(|c| {
                    let local = c.starts_at.with_timezone(&self.timezone);
                    !c.cancelled
                        && local.date_naive() == class_day
                        && local.hour() == time.hour()
                        && local.minute() == time.minute()
                })
            })
            .map(|c| ClassSummary {
                id: c.id.clone(),
                name: c.name.clone(),
                starts_at: c.starts_at,
            })
            .collect()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let now = self.clock.now();
        if at > now {
            self.clock
                .sleep((at - now).to_std().unwrap_or_default())
                .await;
        }
    }

    /// `06:30`, team time.
    pub fn local_time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.timezone).format("%H:%M").to_string()
    }

    async fn booked(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        class: ClassSummary,
        full: Vec<String>,
    ) -> Result<Outcome, BookingError> {
        let outcome = Outcome::Booked {
            class: class.clone(),
            full,
        };
        self.settle(
            plan,
            class_day,
            GymState::Booked,
            Some(&class),
            None,
            &outcome,
        )
        .await?;
        Ok(outcome)
    }

    async fn failed(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        why: &str,
    ) -> Result<Outcome, BookingError> {
        let outcome = Outcome::Failed(why.to_owned());
        self.settle(plan, class_day, GymState::Failed, None, Some(why), &outcome)
            .await?;
        Ok(outcome)
    }

    /// Leaves the row `booking`: the next run reads back before anything else.
    async fn unknown(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        why: &str,
    ) -> Result<Outcome, BookingError> {
        let outcome = Outcome::Unknown(why.to_owned());
        self.settle(
            plan,
            class_day,
            GymState::Booking,
            None,
            Some(why),
            &outcome,
        )
        .await?;
        Ok(outcome)
    }

    /// Ends a member's booking as `state`, leaving in the same transaction the DM that tells
    /// them ([`super::told`]) for the gym desk to send: settled and told, or neither.
    async fn settle(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        state: GymState,
        class: Option<&ClassSummary>,
        error: Option<&str>,
        outcome: &Outcome,
    ) -> Result<(), sqlx::Error> {
        let told = super::told(outcome, plan, class_day, self.timezone);
        self.write(
            plan,
            class_day,
            state,
            class,
            error,
            false,
            told.member.as_deref(),
            told.buttons.as_ref(),
        )
        .await
    }

    async fn set(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        state: GymState,
        class: Option<&ClassSummary>,
        error: Option<&str>,
        attempted: bool,
    ) -> Result<(), sqlx::Error> {
        self.write(plan, class_day, state, class, error, attempted, None, None)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        plan: &GymPlan,
        class_day: NaiveDate,
        state: GymState,
        class: Option<&ClassSummary>,
        error: Option<&str>,
        attempted: bool,
        tell: Option<&str>,
        buttons: Option<&serde_json::Value>,
    ) -> Result<(), sqlx::Error> {
        let class = class.map_or_else(ClassRef::default, |c| ClassRef {
            id: Some(&c.id),
            name: Some(&c.name),
            start: Some(c.starts_at),
        });
        let now = self.clock.now();
        self.store
            .retry("recording a gym booking", || async {
                let mut tx = self.store.begin_write().await?;
                gym_bookings::set(
                    &mut tx,
                    &plan.member,
                    class_day,
                    &plan.client_id,
                    state,
                    &class,
                    error,
                    attempted,
                    now,
                )
                .await?;
                if let Some(html) = tell {
                    gym_bookings::tell(&mut tx, &plan.member, class_day, html, buttons).await?;
                }
                tx.commit().await?;
                Ok::<(), sqlx::Error>(())
            })
            .await
    }
}

/// How one class went.
enum Try {
    Booked(ClassSummary),
    Full,
    Failed(String),
    Unknown(String),
}
