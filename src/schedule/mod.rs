//! The scheduler: which slots of which jobs run, are reported missed, or are skipped while
//! paused. [`cron`] turns an expression and a zone into slot instants (with the DST rule);
//! [`decide`] is the pure misfire policy; [`runner`] is the task that claims slots in the
//! database, runs jobs, and tells the operator about every failure and absence; [`delivery`]
//! is how the senders report what became of a slot's posts.

pub mod cron;
pub mod delivery;
pub mod runner;

use chrono::{DateTime, Duration, Utc};

use crate::config::model::Misfire;
use crate::store::slots::Trigger;

/// How late a slot may start and still count as on time (the scheduler ticks every second;
/// this only absorbs a busy moment, it is not a catch-up).
pub const ON_TIME: Duration = Duration::minutes(1);

/// What happens to one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotDecision {
    Run(Trigger),
    /// Too late (or superseded by a later slot): recorded and reported, never run.
    Missed,
    /// A pause held it: recorded as skipped while paused, never run later.
    Paused,
}

/// Decides the slots of one job that came due in `(cursor, now]` (`due`, ascending).
///
/// - Paused: every slot is skipped while paused.
/// - Otherwise only the latest slot may run: on time if at most [`ON_TIME`] late, as a
///   catch-up if the policy is `catch_up` and it is at most `grace` late; every older slot,
///   and a latest slot that is too late, is missed.
pub fn decide(
    due: &[DateTime<Utc>],
    now: DateTime<Utc>,
    misfire: Misfire,
    grace: Duration,
    paused: bool,
) -> Vec<(DateTime<Utc>, SlotDecision)> {
    let Some((&latest, older)) = due.split_last() else {
        return Vec::new();
    };
    if paused {
        return due.iter().map(|&s| (s, SlotDecision::Paused)).collect();
    }
    let mut decisions: Vec<_> = older.iter().map(|&s| (s, SlotDecision::Missed)).collect();
    let late = now - latest;
    let last = if late <= ON_TIME {
        SlotDecision::Run(Trigger::Schedule)
    } else if misfire == Misfire::CatchUp && late <= grace {
        SlotDecision::Run(Trigger::CatchUp)
    } else {
        SlotDecision::Missed
    };
    decisions.push((latest, last));
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const GRACE: Duration = Duration::minutes(30);

    #[test]
    fn on_time_slot_runs() {
        let d = decide(
            &[t("2026-11-23T03:00:00Z")],
            t("2026-11-23T03:00:01Z"),
            Misfire::Skip,
            GRACE,
            false,
        );
        assert_eq!(
            d,
            vec![(
                t("2026-11-23T03:00:00Z"),
                SlotDecision::Run(Trigger::Schedule)
            )]
        );
    }

    #[test]
    fn after_downtime_one_catch_up_within_grace_and_older_slots_missed() {
        let due = [
            t("2026-11-21T03:00:00Z"),
            t("2026-11-22T03:00:00Z"),
            t("2026-11-23T03:00:00Z"),
        ];
        let now = t("2026-11-23T03:20:00Z");
        let d = decide(&due, now, Misfire::CatchUp, GRACE, false);
        assert_eq!(
            d,
            vec![
                (due[0], SlotDecision::Missed),
                (due[1], SlotDecision::Missed),
                (due[2], SlotDecision::Run(Trigger::CatchUp)),
            ]
        );
        // Skip policy: the late one is missed too.
        let d = decide(&due, now, Misfire::Skip, GRACE, false);
        assert!(d.iter().all(|(_, x)| *x == SlotDecision::Missed));
        // Beyond grace: missed.
        let d = decide(
            &due,
            t("2026-11-23T03:31:00Z"),
            Misfire::CatchUp,
            GRACE,
            false,
        );
        assert_eq!(d[2].1, SlotDecision::Missed);
        // Exactly at the edge of grace still runs.
        let d = decide(
            &due,
            t("2026-11-23T03:30:00Z"),
            Misfire::CatchUp,
            GRACE,
            false,
        );
        assert_eq!(d[2].1, SlotDecision::Run(Trigger::CatchUp));
    }

    #[test]
    fn paused_slots_are_all_skipped_while_paused() {
        let due = [t("2026-11-22T03:00:00Z"), t("2026-11-23T03:00:00Z")];
        let d = decide(
            &due,
            t("2026-11-23T03:00:00Z"),
            Misfire::CatchUp,
            GRACE,
            true,
        );
        assert!(d.iter().all(|(_, x)| *x == SlotDecision::Paused));
        assert!(decide(
            &[],
            t("2026-11-23T03:00:00Z"),
            Misfire::CatchUp,
            GRACE,
            false
        )
        .is_empty());
    }
}
