//! [`TalenoxLeave`]: the laser-chase's [`LeaveSource`] when `[talenox]` is set. It reads
//! approved leave for the next [`WINDOW_DAYS`] days and keeps that read as a snapshot in the
//! store. While Talenox is down, a snapshot at most [`SNAPSHOT_MAX_AGE`] old that covers the
//! day answers instead; with none, the answer is [`Certainty::Unknown`] and the job says so.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use futures::future::BoxFuture;

use super::client::TalenoxClient;
use super::error::TalenoxError;
use super::model::LeaveStatus;
use crate::clock::Clock;
use crate::roster::{Member, Roster};
use crate::sources::leave::{Certainty, LeaveAnswer, LeaveError, LeaveSource};
use crate::store::leave_snapshots::{self, LeaveSnapshot, LeaveSpan};
use crate::store::Store;

/// The snapshot's name in `leave_snapshots`.
pub const SOURCE: &str = "talenox";
/// How far a read reaches: today and the next 7 days, so that yesterday's read covers today.
pub const WINDOW_DAYS: i64 = 7;
/// The oldest snapshot used while Talenox is down.
pub const SNAPSHOT_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);

/// Approved leave from Talenox, with a fallback snapshot.
pub struct TalenoxLeave {
    client: Arc<TalenoxClient>,
    store: Store,
    clock: Clock,
    roster: Arc<Roster>,
}

impl TalenoxLeave {
    pub fn new(
        client: Arc<TalenoxClient>,
        store: Store,
        clock: Clock,
        roster: Arc<Roster>,
    ) -> TalenoxLeave {
        TalenoxLeave {
            client,
            store,
            clock,
            roster,
        }
    }

    /// Approved leave of roster members overlapping `from..=to`, as spans of roster names.
    async fn read(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<LeaveSpan>, TalenoxError> {
        let employees = self.client.employees().await?;
        let names: HashMap<i64, String> = employees.iter().map(|e| (e.id, e.full_name())).collect();
        let applications = self
            .client
            .leave_applications(from, to, Some(LeaveStatus::Approved))
            .await?;
        let mut spans: Vec<LeaveSpan> = applications
            .iter()
            .filter(|a| a.status == LeaveStatus::Approved)
            .filter_map(|a| {
                let name = names.get(&a.employee_id).unwrap_or(&a.employee_name);
                let member = self.roster.member_by_talenox_name(name)?;
                Some(LeaveSpan {
                    member: member.name.clone(),
                    from: a.start_date,
                    to: a.end_date,
                })
            })
            .collect();
        spans.sort_by(|a, b| (&a.member, a.from, a.to).cmp(&(&b.member, b.from, b.to)));
        spans.dedup();
        Ok(spans)
    }

    async fn answer(
        &self,
        members: &[&Member],
        date: NaiveDate,
    ) -> Result<LeaveAnswer, sqlx::Error> {
        let wanted = |away: Vec<String>| -> Vec<String> {
            away.into_iter()
                .filter(|name| members.iter().any(|m| &m.name == name))
                .collect()
        };
        let to = date + chrono::Duration::days(WINDOW_DAYS);
        match self.read(date, to).await {
            Ok(leave) => {
                let snapshot = LeaveSnapshot {
                    taken_at: self.clock.now(),
                    from: date,
                    to,
                    leave,
                };
                let away = wanted(snapshot.away_on(date));
                let store = self.store.clone();
                self.store
                    .retry("saving the Talenox leave snapshot", || {
                        let (store, snapshot) = (store.clone(), snapshot.clone());
                        async move {
                            let mut tx = store.begin_write().await?;
                            leave_snapshots::save(&mut tx, SOURCE, &snapshot).await?;
                            tx.commit().await
                        }
                    })
                    .await?;
                Ok(LeaveAnswer::known(away))
            }
            Err(e) => {
                let cause = e.to_string();
                tracing::warn!(%cause, "Talenox leave unreadable; trying the last snapshot");
                let snapshot = {
                    let mut conn = self.store.pool().acquire().await?;
                    leave_snapshots::latest(&mut conn, SOURCE).await?
                };
                let now = self.clock.now();
                Ok(match snapshot {
                    Some(s) if s.covers(date) && now - s.taken_at <= SNAPSHOT_MAX_AGE => {
                        LeaveAnswer {
                            away: wanted(s.away_on(date)),
                            certainty: Certainty::FromSnapshot {
                                cause,
                                taken_at: s.taken_at,
                            },
                        }
                    }
                    _ => LeaveAnswer {
                        away: Vec::new(),
                        certainty: Certainty::Unknown { cause },
                    },
                })
            }
        }
    }
}

impl LeaveSource for TalenoxLeave {
    fn on_leave<'a>(
        &'a self,
        members: &'a [&'a Member],
        date: NaiveDate,
    ) -> BoxFuture<'a, Result<LeaveAnswer, LeaveError>> {
        Box::pin(async move {
            self.answer(members, date).await.map_err(|e| LeaveError {
                source_name: SOURCE,
                reason: format!("database: {e}"),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Token;
    use crate::sources::talenox::TalenoxSettings;

    /// A source whose Talenox refuses connections, on a manual clock, with a snapshot taken
    /// `age` ago covering `from..=to`, in which Priya is away on `day`.
    async fn down_with_snapshot(
        age: chrono::Duration,
        covers: (i64, i64),
    ) -> (TalenoxLeave, tempfile::TempDir, NaiveDate) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .expect("store");
        let now: chrono::DateTime<chrono::Utc> = "2026-11-23T03:00:00Z".parse().expect("now");
        let clock = Clock::manual(now);
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).expect("day");
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            format!("http://127.0.0.1:{port}/api/v2")
        };
        let client = TalenoxClient::new(
            TalenoxSettings {
                api_url: closed,
                timeout: Duration::from_secs(5),
            },
            Token::new("t".into()),
            clock.clone(),
        )
        .expect("client");
        let snapshot = LeaveSnapshot {
            taken_at: now - age,
            from: day + chrono::Duration::days(covers.0),
            to: day + chrono::Duration::days(covers.1),
            leave: vec![LeaveSpan {
                member: "Priya Raman".into(),
                from: day,
                to: day,
            }],
        };
        let mut tx = store.begin_write().await.expect("tx");
        leave_snapshots::save(&mut tx, SOURCE, &snapshot)
            .await
            .expect("saved");
        tx.commit().await.expect("commit");
        let roster = Arc::new(crate::roster::tests_support::example());
        (
            TalenoxLeave::new(Arc::new(client), store, clock, roster),
            dir,
            day,
        )
    }

    async fn ask(source: &TalenoxLeave, day: NaiveDate) -> LeaveAnswer {
        let members: Vec<&Member> = source.roster.members().iter().collect();
        source.on_leave(&members, day).await.expect("an answer")
    }

    #[tokio::test]
    async fn a_snapshot_up_to_24_hours_old_answers_while_talenox_is_down() {
        let (source, _dir, day) = down_with_snapshot(chrono::Duration::hours(24), (-1, 6)).await;
        let answer = ask(&source, day).await;
        assert_eq!(answer.away, ["Priya Raman"]);
        assert!(
            matches!(&answer.certainty, Certainty::FromSnapshot { cause, .. } if cause.starts_with("cannot reach Talenox")),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn an_older_snapshot_or_one_not_covering_the_day_leaves_leave_unknown() {
        let (old, _dir, day) = down_with_snapshot(
            chrono::Duration::hours(24) + chrono::Duration::seconds(1),
            (-1, 6),
        )
        .await;
        let answer = ask(&old, day).await;
        assert!(answer.away.is_empty());
        assert!(
            matches!(answer.certainty, Certainty::Unknown { .. }),
            "{answer:?}"
        );

        let (elsewhere, _dir, day) = down_with_snapshot(chrono::Duration::hours(1), (1, 7)).await;
        let answer = ask(&elsewhere, day).await;
        assert!(
            matches!(answer.certainty, Certainty::Unknown { .. }),
            "{answer:?}"
        );
    }
}
