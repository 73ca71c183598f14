//! GymBooker: members' standing class bookings, made at the second the gym's booking window
//! opens ([`booking`]), from plans in `[[gym.bookings]]` ([`plan`]), through a
//! [`GymProvider`] (Mindbody's client in production, a fake on loopback in tests and the
//! sandbox). What each outcome tells the member, and the operator when it failed, is here.

pub mod booking;
pub mod desk;
pub mod plan;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde_json::json;

use self::booking::Outcome;
use self::plan::GymPlan;
use crate::config::model::GymFile;
use crate::roster::Roster;
use crate::sources::gym::GymProvider;
use crate::text::escape_html;

/// Callback data of the "Join the waitlist" button: `gym:w:<class day>`.
pub const WAITLIST_PREFIX: &str = "gym:w:";

/// What GymBooker books with: the provider and every member's plan.
pub struct Gym {
    pub provider: Arc<dyn GymProvider>,
    pub plans: Vec<GymPlan>,
    pub timezone: Tz,
    /// Held by a booking run: one at a time.
    pub running: tokio::sync::Mutex<()>,
}

impl Gym {
    /// The plans of `file` that read (`herald check` refuses the others before any start).
    pub fn new(provider: Arc<dyn GymProvider>, file: &GymFile, roster: &Roster) -> Self {
        let plans = file
            .bookings
            .iter()
            .enumerate()
            .filter_map(|(i, b)| GymPlan::read(i, b, roster).ok())
            .collect();
        Self {
            provider,
            plans,
            timezone: roster.timezone(),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// The plan of roster member `member`.
    pub fn plan_of(&self, member: &str) -> Option<&GymPlan> {
        self.plans.iter().find(|p| p.member == member)
    }
}

/// `member`'s id in the booking system, from GymBooker's `[[gym.bookings]]`.
pub fn client_id_of(bot: &crate::config::model::BotFile, member: &str) -> Option<String> {
    let gym = bot.gym.as_ref()?;
    gym.bookings
        .iter()
        .find(|b| b.member == member)
        .map(|b| b.client_id.trim().to_owned())
}

/// What an outcome tells the member (with a button, for the waitlist) and the operators.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Told {
    pub member: Option<String>,
    pub buttons: Option<serde_json::Value>,
    pub operators: Option<String>,
}

/// The messages of `outcome` for `plan`'s class on `class_day` (`tz` for times).
pub fn told(outcome: &Outcome, plan: &GymPlan, class_day: NaiveDate, tz: Tz) -> Told {
    let day = class_day.format("%a %-d %b").to_string();
    let time =
        |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&tz).format("%H:%M").to_string();
    match outcome {
        Outcome::Unchanged => Told::default(),
        Outcome::Booked { class, full } => {
            let booked = format!(
                "booked {day} {} {}",
                time(class.starts_at),
                escape_html(&class.name)
            );
            let text = match full.as_slice() {
                [] => format!("✅ Booked {day} {} {}.", time(class.starts_at), escape_html(&class.name)),
                [one] => format!("✅ {one} full; {booked}."),
                many => format!("✅ {} full; {booked}.", many.join(", ")),
            };
            Told {
                member: Some(text),
                ..Told::default()
            }
        }
        Outcome::AllFull { tried, first } => Told {
            member: Some(format!(
                "😕 {} on {day}: all full, nothing booked. Tap to join the {} waitlist.",
                tried.join(", "),
                time(first.starts_at)
            )),
            buttons: Some(json!({"inline_keyboard": [[{
                "text": format!("Join the {} waitlist", time(first.starts_at)),
                "callback_data": format!("{WAITLIST_PREFIX}{class_day}"),
            }]]})),
            operators: Some(format!(
                "😕 GymBooker booked nothing for {}'s {day}: {} all full; the waitlist was offered.",
                escape_html(&plan.member),
                tried.join(", ")
            )),
        },
        Outcome::Failed(why) => Told {
            member: Some(format!(
                "⚠️ I could not book your {day} class: {}. The operator knows.",
                escape_html(why)
            )),
            buttons: None,
            operators: Some(format!(
                "⚠️ GymBooker could not book {}'s {day} class: {}",
                escape_html(&plan.member),
                escape_html(why)
            )),
        },
        Outcome::Unknown(why) => Told {
            member: Some(format!(
                "⚠️ Your {day} booking may or may not have gone through: the booking system did not answer, and reading your bookings back failed. The operator is checking; I will not book it again blindly."
            )),
            buttons: None,
            operators: Some(format!(
                "⚠️ GymBooker does not know whether {}'s {day} class was booked: {}. Check the booking system; the next run reads back before booking.",
                escape_html(&plan.member),
                escape_html(why)
            )),
        },
    }
}
