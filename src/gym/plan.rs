//! One member's standing gym booking, read from `[[gym.bookings]]`: which days, which start
//! times in order of preference, how far ahead, and when the booking window opens. The same
//! reading serves `herald check` (every mistake one finding, naming its field) and the booking
//! job, so a plan that passed the check is the plan that runs.

use chrono::{NaiveDate, NaiveTime, Weekday};

use crate::config::model::GymBookingFile;
use crate::roster::Roster;

/// Furthest ahead a booking may be made, in days.
pub const MAX_DAYS_AHEAD: u32 = 14;

/// A member's standing booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GymPlan {
    /// The roster member's name.
    pub member: String,
    pub telegram_id: i64,
    /// The member's id in the booking system.
    pub client_id: String,
    pub days: Vec<Weekday>,
    /// Start times in order of preference, team time.
    pub times: Vec<NaiveTime>,
    pub days_ahead: u32,
    /// When the window opens on the booking day, team time.
    pub window_opens: NaiveTime,
}

impl GymPlan {
    /// Reads `file` (block `index` of `[[gym.bookings]]`), or every mistake in it as
    /// `(field, problem)`.
    pub fn read(
        index: usize,
        file: &GymBookingFile,
        roster: &Roster,
    ) -> Result<GymPlan, Vec<(String, String)>> {
        let field = |name: &str| format!("gym.bookings[{index}].{name}");
        let mut problems = Vec::new();
        let member = roster.member_by_name(&file.member);
        if member.is_none() {
            problems.push((
                field("member"),
                format!("\"{}\" is not a member in bots/roster.toml", file.member),
            ));
        }
        if file.client_id.trim().is_empty() {
            problems.push((
                field("client_id"),
                "the member's id in the booking system is empty".to_owned(),
            ));
        }
        let mut days = Vec::new();
        if file.days.is_empty() {
            problems.push((
                field("days"),
                "list at least one day, like \"MON\"".to_owned(),
            ));
        }
        for (k, day) in file.days.iter().enumerate() {
            match parse_day(day) {
                Some(d) if days.contains(&d) => problems.push((
                    format!("{}[{k}]", field("days")),
                    format!("{day} is listed twice"),
                )),
                Some(d) => days.push(d),
                None => problems.push((
                    format!("{}[{k}]", field("days")),
                    format!("\"{day}\" is not a day: MON, TUE, WED, THU, FRI, SAT or SUN"),
                )),
            }
        }
        let mut times = Vec::new();
        if file.times.is_empty() {
            problems.push((
                field("times"),
                "list at least one start time, like \"06:30\"".to_owned(),
            ));
        }
        for (k, time) in file.times.iter().enumerate() {
            match parse_time(time) {
                Some(t) if times.contains(&t) => problems.push((
                    format!("{}[{k}]", field("times")),
                    format!("{time} is listed twice"),
                )),
                Some(t) => times.push(t),
                None => problems.push((
                    format!("{}[{k}]", field("times")),
                    format!("\"{time}\" is not a time: HH:MM, 24-hour, like \"06:30\""),
                )),
            }
        }
        if file.days_ahead > MAX_DAYS_AHEAD {
            problems.push((
                field("days_ahead"),
                format!(
                    "{} days is further ahead than {MAX_DAYS_AHEAD}",
                    file.days_ahead
                ),
            ));
        }
        let window_opens = parse_time(&file.window_opens);
        if window_opens.is_none() {
            problems.push((
                field("window_opens"),
                format!(
                    "\"{}\" is not a time: HH:MM, 24-hour, like \"09:00\"",
                    file.window_opens
                ),
            ));
        }
        match (member, window_opens) {
            (Some(member), Some(window_opens)) if problems.is_empty() => Ok(GymPlan {
                member: member.name.clone(),
                telegram_id: member.telegram_id,
                client_id: file.client_id.trim().to_owned(),
                days,
                times,
                days_ahead: file.days_ahead,
                window_opens,
            }),
            _ => Err(problems),
        }
    }

    /// The class day a booking made on `booking_day` is for, if the plan books that day.
    pub fn class_day(&self, booking_day: NaiveDate) -> Option<NaiveDate> {
        let day = booking_day + chrono::Duration::days(i64::from(self.days_ahead));
        self.days
            .contains(&chrono::Datelike::weekday(&day))
            .then_some(day)
    }
}

fn parse_day(text: &str) -> Option<Weekday> {
    match text.trim().to_ascii_uppercase().as_str() {
        "MON" => Some(Weekday::Mon),
        "TUE" => Some(Weekday::Tue),
        "WED" => Some(Weekday::Wed),
        "THU" => Some(Weekday::Thu),
        "FRI" => Some(Weekday::Fri),
        "SAT" => Some(Weekday::Sat),
        "SUN" => Some(Weekday::Sun),
        _ => None,
    }
}

/// `HH:MM`, 24-hour.
pub fn parse_time(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Roster {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::config::load(root).unwrap().roster
    }

    fn file() -> GymBookingFile {
        GymBookingFile {
            member: "Priya Raman".into(),
            client_id: "100015".into(),
            days: vec!["MON".into(), "thu".into()],
            times: vec!["06:30".into(), "07:30".into()],
            days_ahead: 2,
            window_opens: "09:00".into(),
        }
    }

    #[test]
    fn a_plan_books_its_days_ahead() {
        let plan = GymPlan::read(0, &file(), &roster()).unwrap();
        let tuesday = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(
            plan.class_day(tuesday),
            NaiveDate::from_ymd_opt(2026, 12, 3),
            "Tuesday books Thursday"
        );
        let wednesday = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(plan.class_day(wednesday), None, "no Friday class");
    }

    #[test]
    fn every_mistake_is_named() {
        let bad = GymBookingFile {
            member: "Nobody".into(),
            client_id: " ".into(),
            days: vec!["MON".into(), "Funday".into(), "mon".into()],
            times: vec![
                "6:30".into(),
                "25:00".into(),
                "07:30".into(),
                "07:30".into(),
            ],
            days_ahead: 30,
            window_opens: "9am".into(),
        };
        let problems = GymPlan::read(1, &bad, &roster()).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "gym.bookings[1].member",
                "gym.bookings[1].client_id",
                "gym.bookings[1].days[1]",
                "gym.bookings[1].days[2]",
                "gym.bookings[1].times[0]",
                "gym.bookings[1].times[1]",
                "gym.bookings[1].times[3]",
                "gym.bookings[1].days_ahead",
                "gym.bookings[1].window_opens",
            ]
        );
    }
}
