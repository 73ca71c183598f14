//! GymBooker: the morning booking job (kind `gym_booking`) and `/gym` for members: `/gym`
//! lists my bookings from today on, `/gym skip DATE` skips one class day (before or after it
//! was booked: a booked class is then cancelled with the booking system), `/gym cancel DATE`
//! cancels a booked class. Requests that need the booking system are recorded in the update's
//! transaction and carried out by [`crate::gym::desk`], never inside a handler, and so is a
//! tap on "Join the waitlist".

use std::sync::Arc;

use chrono::NaiveDate;
use teloxide::types::CallbackQuery;

use super::Bot;
use crate::gym::desk::{GymDesk, GymDeskInputs};
use crate::gym::WAITLIST_PREFIX;
use crate::identity::{GymBooker, Poster};
use crate::inbound::common::reply;
use crate::inbound::{BotContext, Command, Decision, HandlerResult, UnitOfWork, UpdateHandler};
use crate::jobs::{gym_booking::GymBooking, kinds::JobKinds};
use crate::outbox::{Lane, OutgoingMessage};
use crate::store::gym_bookings::{self, GymState};
use crate::text::escape_html;

impl Bot for GymBooker {
    fn command_branches() -> Option<UpdateHandler> {
        Some(dptree::filter(|c: Command| c.name == "gym").endpoint(gym_command))
    }

    fn callback_branches() -> Option<UpdateHandler> {
        Some(dptree::filter_map(waitlist_tap).endpoint(join_waitlist))
    }

    fn job_kinds() -> JobKinds<Self> {
        JobKinds::generic().with::<GymBooking>()
    }

    fn gym_desk(poster: Poster<GymBooker>, inputs: GymDeskInputs) -> Option<GymDesk> {
        Some(GymDesk::new(inputs, poster))
    }
}

const USAGE: &str = "Use /gym for your bookings, /gym skip YYYY-MM-DD to skip a day, or /gym cancel YYYY-MM-DD to cancel a booked class.";

async fn gym_command(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<GymBooker>,
    work: UnitOfWork,
) -> HandlerResult {
    let name = Some("gym");
    let Some(member) = context.roster.member_by_telegram_id(command.user_id).cloned() else {
        return Ok(Decision::new(name, "ignored: sender is not a roster member"));
    };
    let today = context
        .clock
        .now()
        .with_timezone(&context.roster.timezone())
        .date_naive();
    let mut words = command.args.split_whitespace();
    let (verb, date) = (words.next(), words.next());
    let date = date.map(|d| d.parse::<NaiveDate>());
    let html = match (verb, date) {
        (None, _) => {
            let rows = {
                let mut tx = work.lock().await;
                gym_bookings::upcoming(&mut tx, &member.name, today).await?
            };
            let tz = context.roster.timezone();
            let lines: Vec<String> = rows
                .iter()
                .map(|row| {
                    let time = row
                        .class_start()
                        .map(|at| at.with_timezone(&tz).format(" %H:%M").to_string())
                        .unwrap_or_default();
                    let class = row.class_name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
                    format!("{}{time}{class}: {}", row.class_date, state_words(row.state))
                })
                .collect();
            let html = if lines.is_empty() {
                "No gym bookings from today on.".to_owned()
            } else {
                format!("Your gym bookings:\n{}", escape_html(&lines.join("\n")))
            };
            reply(&poster, &work, &command, html).await?;
            return Ok(Decision::new(name, format!("answered: {} booking(s) listed", rows.len())));
        }
        (Some(verb), Some(Ok(date))) if verb.eq_ignore_ascii_case("skip") => {
            if date < today {
                format!("{date} is past.")
            } else {
                let mut tx = work.lock().await;
                let now = context.clock.now();
                let row = gym_bookings::get(&mut tx, &member.name, date).await?;
                match row.map(|r| r.state) {
                    Some(GymState::Booked) => {
                        gym_bookings::transition(&mut tx, &member.name, date, &[GymState::Booked], GymState::CancelRequested, now).await?;
                        crate::store::signals::mark(&tx, crate::store::signals::Wake::Gym);
                        format!("Skipping {date}: cancelling that booking now; I'll confirm.")
                    }
                    Some(GymState::Skipped) => format!("{date} is already skipped."),
                    Some(GymState::Booking) => format!("{date} is being booked right now; try /gym cancel {date} in a minute."),
                    // The gym holds something, or a request is with the desk: not overwritten.
                    Some(state @ (GymState::Waitlisted | GymState::CancelRequested | GymState::WaitlistRequested)) => {
                        format!("{date} is {}; nothing changed.", state_words(state))
                    }
                    _ => {
                        let client_id = crate::gym::client_id_of(&context.bot, &member.name).unwrap_or_default();
                        gym_bookings::set(&mut tx, &member.name, date, &client_id, GymState::Skipped, &Default::default(), None, false, now).await?;
                        format!("Skipping {date}: I won't book it.")
                    }
                }
            }
        }
        (Some(verb), Some(Ok(date))) if verb.eq_ignore_ascii_case("cancel") => {
            let mut tx = work.lock().await;
            let now = context.clock.now();
            if gym_bookings::transition(&mut tx, &member.name, date, &[GymState::Booked], GymState::CancelRequested, now).await? {
                crate::store::signals::mark(&tx, crate::store::signals::Wake::Gym);
                format!("Cancelling your {date} class now; I'll confirm.")
            } else if gym_bookings::get(&mut tx, &member.name, date).await?.is_some_and(|r| r.state == GymState::Waitlisted) {
                // Leaving a waitlist is another Mindbody call than a cancellation; not built.
                format!("You're on the waitlist for {date}; leave it in the gym's app (I can only cancel booked classes).")
            } else {
                format!("You have no booked class on {date}.")
            }
        }
        _ => USAGE.to_owned(),
    };
    let decision = if html == USAGE { "refused: usage".to_owned() } else { format!("answered: {}", verb.unwrap_or_default().to_ascii_lowercase()) };
    reply(&poster, &work, &command, escape_html(&html)).await?;
    Ok(Decision::new(name, decision))
}

fn state_words(state: GymState) -> &'static str {
    match state {
        GymState::Booking => "being booked",
        GymState::Booked => "booked",
        GymState::Waitlisted => "on the waitlist",
        GymState::Full => "all full",
        GymState::Failed => "not booked (failed)",
        GymState::Skipped => "skipped",
        GymState::CancelRequested => "being cancelled",
        GymState::Cancelled => "cancelled",
        GymState::WaitlistRequested => "joining the waitlist",
    }
}

/// A tap on "Join the waitlist": the class day it is for, and who tapped.
#[derive(Debug, Clone)]
struct WaitlistTap {
    date: Option<NaiveDate>,
    query_id: String,
    user_id: i64,
}

fn waitlist_tap(query: CallbackQuery) -> Option<WaitlistTap> {
    let date = query.data.as_deref()?.strip_prefix(WAITLIST_PREFIX)?;
    Some(WaitlistTap {
        date: date.parse().ok(),
        query_id: query.id.0.clone(),
        user_id: query.from.id.0 as i64,
    })
}

async fn join_waitlist(
    tap: WaitlistTap,
    context: Arc<BotContext>,
    poster: Poster<GymBooker>,
    work: UnitOfWork,
) -> HandlerResult {
    let name = Some("gym waitlist");
    let mut tx = work.lock().await;
    let answer = |text: &str| OutgoingMessage::callback_answer(tap.query_id.clone(), text).in_lane(Lane::Urgent);
    let member = context.roster.member_by_telegram_id(tap.user_id).cloned();
    let (Some(member), Some(date)) = (member, tap.date) else {
        poster.enqueue(&mut tx, answer("That button is not for you.")).await?;
        return Ok(Decision::new(name, "refused: not the member's button"));
    };
    let now = context.clock.now();
    if gym_bookings::transition(&mut tx, &member.name, date, &[GymState::Full], GymState::WaitlistRequested, now).await? {
        crate::store::signals::mark(&tx, crate::store::signals::Wake::Gym);
        poster.enqueue(&mut tx, answer("Joining the waitlist; I'll confirm.")).await?;
        Ok(Decision::new(name, format!("recorded: waitlist request of {} for {date}", member.name)))
    } else {
        poster.enqueue(&mut tx, answer("Nothing to join for that day any more.")).await?;
        Ok(Decision::new(name, format!("refused: {date} is not full for {}", member.name)))
    }
}
