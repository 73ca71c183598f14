//! The gym desk: sends each member the DM about their booking that the booking job left with
//! the settled row, and carries out what members asked of the booking system outside the
//! booking job (cancel a booked class, join a full class's waitlist). The handlers only record the
//! request (a row's state) in their update's transaction, which wakes the desk on commit; the
//! desk calls the provider with no transaction open, then records the result and tells the
//! member (and the operators when it failed) in one transaction. Requests left by a process
//! that stopped are carried out at the next start.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Gym;
use crate::clock::Clock;
use crate::identity::{GymBooker, Poster};
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::{EnqueueError, OutgoingMessage};
use crate::sources::gym::{BookingStatus, GymError};
use crate::store::audit::{self, AuditEntry};
use crate::store::gym_bookings::{self, ClassRef, GymBookingRow, GymState};
use crate::store::Store;
use crate::text::escape_html;

/// Why the desk stopped.
#[derive(Debug, thiserror::Error)]
pub enum GymDeskError {
    #[error("gym desk: database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("gym desk: {0}")]
    Enqueue(#[from] EnqueueError),
}

impl crate::store::retry::DbFailure for GymDeskError {
    fn db_error(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Db(e) => Some(e),
            Self::Enqueue(e) => crate::store::retry::DbFailure::db_error(e),
        }
    }
}

/// What the desk is built from.
pub struct GymDeskInputs {
    pub store: Store,
    pub clock: Clock,
    pub gym: Arc<Gym>,
    pub console: ConsoleChannel,
}

/// The desk, posting as GymBooker only.
pub struct GymDesk {
    inputs: GymDeskInputs,
    poster: Poster<GymBooker>,
}

/// How a request ended.
struct Done {
    state: GymState,
    member: String,
    operators: Option<String>,
    audit: String,
}

impl GymDesk {
    pub fn new(inputs: GymDeskInputs, poster: Poster<GymBooker>) -> Self {
        Self { inputs, poster }
    }

    /// Runs until `shutdown`: every pending request, then a sleep until a request commits.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), GymDeskError> {
        let wake = self.inputs.store.signals().gym();
        loop {
            let store = &self.inputs.store;
            store
                .retry("telling members their bookings", || self.tell_outcomes())
                .await?;
            for state in [GymState::CancelRequested, GymState::WaitlistRequested] {
                let store = &self.inputs.store;
                let rows = store
                    .retry("reading gym requests", || async {
                        let mut conn = store.pool().acquire().await?;
                        gym_bookings::in_state(&mut conn, state).await
                    })
                    .await?;
                for row in rows {
                    let done = self.carry_out(&row).await;
                    store
                        .retry("recording a gym request", || self.record(&row, &done))
                        .await?;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = wake.notified() => {}
            }
        }
    }

    async fn carry_out(&self, row: &GymBookingRow) -> Done {
        let provider = self.inputs.gym.provider.as_ref();
        let tz = self.inputs.gym.timezone;
        let day = row
            .date()
            .map(|d| d.format("%a %-d %b").to_string())
            .unwrap_or_else(|| row.class_date.clone());
        let time = row
            .class_start()
            .map(|at| at.with_timezone(&tz).format("%H:%M").to_string())
            .unwrap_or_default();
        let Some(class_id) = row.class_id.as_deref() else {
            return Done {
                state: GymState::Failed,
                member: format!("⚠️ I have no class on record for {day}; nothing was changed."),
                operators: None,
                audit: format!("failed: no class for {} on {}", row.member, row.class_date),
            };
        };
        let failed = |back: GymState, what: &str, e: &dyn std::fmt::Display| Done {
            state: back,
            member: format!(
                "⚠️ I could not {what} your {day} {time} class: {}. The operator knows.",
                escape_html(&e.to_string())
            ),
            operators: Some(format!(
                "⚠️ GymBooker could not {what} {}'s {day} {time} class: {}",
                escape_html(&row.member),
                escape_html(&e.to_string())
            )),
            audit: format!("failed: {what} {} {}: {e}", row.member, row.class_date),
        };
        match row.state {
            GymState::CancelRequested => {
                let cancelled = Done {
                    state: GymState::Cancelled,
                    member: format!("✅ Cancelled your {day} {time} class."),
                    operators: None,
                    audit: format!("cancelled: {} {}", row.member, row.class_date),
                };
                match provider.cancel(&row.client_id, class_id).await {
                    Ok(()) => cancelled,
                    // Unanswered, or refused because an earlier try (before a crash) did it:
                    // the member's bookings say whether the class is still theirs.
                    Err(e) => match self.still_booked(row, class_id).await {
                        Ok(false) => cancelled,
                        Ok(true) => failed(GymState::Booked, "cancel", &e),
                        Err(read) => failed(
                            GymState::Booked,
                            "cancel",
                            &format!("{e}; reading the bookings back failed too: {read}"),
                        ),
                    },
                }
            }
            _ => match provider.book(&row.client_id, class_id, true).await {
                Ok(booking) if booking.status == BookingStatus::Booked => Done {
                    state: GymState::Booked,
                    member: format!("✅ A place opened: booked {day} {time}."),
                    operators: None,
                    audit: format!(
                        "booked from the waitlist request: {} {}",
                        row.member, row.class_date
                    ),
                },
                Ok(_) => Done {
                    state: GymState::Waitlisted,
                    member: format!("✅ You're on the {time} waitlist for {day}."),
                    operators: None,
                    audit: format!("waitlisted: {} {}", row.member, row.class_date),
                },
                Err(GymError::AlreadyBooked { .. }) => Done {
                    state: GymState::Waitlisted,
                    member: format!("✅ You're already on the {time} list for {day}."),
                    operators: None,
                    audit: format!("already waitlisted: {} {}", row.member, row.class_date),
                },
                Err(e) => failed(GymState::Full, "waitlist", &e),
            },
        }
    }

    /// Sends every DM the booking job left with a settled row, each cleared in the
    /// transaction that queues it: sent once, whatever happened to the run after it settled.
    async fn tell_outcomes(&self) -> Result<(), GymDeskError> {
        let store = &self.inputs.store;
        let rows = {
            let mut conn = store.pool().acquire().await?;
            gym_bookings::untold(&mut conn).await?
        };
        for row in rows {
            let (Some(html), Some(plan)) = (&row.to_tell, self.inputs.gym.plan_of(&row.member))
            else {
                continue;
            };
            let mut tx = store.begin_write().await?;
            if !gym_bookings::told(&mut tx, &row.member, &row.class_date, html).await? {
                continue; // Told meanwhile, or replaced by a newer outcome.
            }
            let mut dm = OutgoingMessage::direct(plan.telegram_id, html.clone());
            if let Some(buttons) = row
                .to_tell_buttons
                .as_deref()
                .and_then(|b| serde_json::from_str(b).ok())
            {
                dm = dm.with_markup(buttons);
            }
            match self.poster.enqueue(&mut tx, dm).await {
                Ok(_) => {}
                // A text Telegram would refuse stays this member's problem: dropped (and
                // logged), never a stop of the desk or a retry forever.
                Err(EnqueueError::Text { problem, .. }) => {
                    tracing::error!(member = %row.member, %problem, "a gym DM Telegram would refuse was not sent");
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Whether `row`'s member still holds class `class_id`, from the booking system.
    async fn still_booked(&self, row: &GymBookingRow, class_id: &str) -> Result<bool, GymError> {
        let Some(date) = row.date() else {
            return Ok(true);
        };
        let day = crate::sources::gym::Period::day(date, self.inputs.gym.timezone);
        let bookings = self
            .inputs
            .gym
            .provider
            .bookings(&row.client_id, day)
            .await?;
        Ok(bookings.iter().any(|b| b.class_id == class_id))
    }

    async fn record(&self, row: &GymBookingRow, done: &Done) -> Result<(), GymDeskError> {
        let now = self.inputs.clock.now();
        let mut tx = self.inputs.store.begin_write().await?;
        let Some(date) = row.date() else {
            return Ok(());
        };
        // Only the request this desk read: a member's newer change stands.
        if !gym_bookings::transition(&mut tx, &row.member, date, &[row.state], done.state, now)
            .await?
        {
            return Ok(());
        }
        if done.state == GymState::Failed {
            gym_bookings::set(
                &mut tx,
                &row.member,
                date,
                &row.client_id,
                GymState::Failed,
                &ClassRef::default(),
                Some(&done.audit),
                false,
                now,
            )
            .await?;
        }
        if let Some(plan) = self.inputs.gym.plan_of(&row.member) {
            self.poster
                .enqueue(
                    &mut tx,
                    OutgoingMessage::direct(plan.telegram_id, done.member.clone()),
                )
                .await?;
        }
        if let Some(html) = &done.operators {
            self.inputs.console.alert(&mut tx, html, None, now).await?;
        }
        let entry = AuditEntry::new("gym", done.audit.clone()).bot("gymbooker");
        audit::record(&mut tx, now, &entry).await?;
        tx.commit().await?;
        Ok(())
    }
}
