//! What became of a slot's posts once its run wrote them: the slot is the scheduler's, so the
//! senders report to it here instead of writing its table. A part Telegram refused for good
//! makes a `done` slot `failed`, its detail naming the part and Telegram's reason (the
//! operator is told about the refused message by the sender, in the same transaction).
//!
//! A refused part that was a job's DM to a roster member (a cake reminder to someone who never
//! started the bot, or blocked it) is also posted in the job's own thread (e.g. #ops), once per
//! refused DM, naming who could not be reached, so the team can fix it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use minijinja::context;
use sqlx::SqliteConnection;

use crate::console_texts;
use crate::jobs::JobSpec;
use crate::outbox::post::ErasedPoster;
use crate::outbox::sender::{RefusedPart, SlotReports};
use crate::outbox::{EnqueueError, Lane, OutgoingMessage};
use crate::roster::Roster;
use crate::store::slots;

/// The scheduler's side of [`SlotReports`], handed to every sender at start.
#[derive(Debug, Clone, Default)]
pub struct SlotDeliveries {
    /// Where refused DMs of one identity's jobs are reported; `None`: nowhere.
    dms: Option<Arc<DmReports>>,
}

/// One identity's jobs' threads, and its poster to report in them.
#[derive(Debug)]
struct DmReports {
    poster: Arc<dyn ErasedPoster>,
    roster: Arc<Roster>,
    /// Job name: (chat, thread) of the job's own thread.
    threads: HashMap<String, (i64, Option<i32>)>,
}

impl SlotDeliveries {
    /// Reports refused DMs of `jobs` (one identity's) in each job's thread, as `poster`.
    pub fn reporting_dms(
        poster: Arc<dyn ErasedPoster>,
        roster: Arc<Roster>,
        jobs: &[Arc<JobSpec>],
    ) -> SlotDeliveries {
        let threads = jobs
            .iter()
            .map(|spec| (spec.name.clone(), (spec.chat_id, spec.thread_id)))
            .collect();
        SlotDeliveries {
            dms: Some(Arc::new(DmReports {
                poster,
                roster,
                threads,
            })),
        }
    }
}

impl DmReports {
    /// Posts "could not DM X" in the job's thread when `refused` was a DM to a member.
    async fn report(
        &self,
        conn: &mut SqliteConnection,
        refused: &RefusedPart<'_>,
    ) -> Result<(), sqlx::Error> {
        if refused.thread_id.is_some() {
            return Ok(());
        }
        let (Some(member), Some(&(chat, thread))) = (
            self.roster.member_by_telegram_id(refused.chat_id),
            self.threads.get(refused.job),
        ) else {
            return Ok(());
        };
        let identity = self.poster.identity_name();
        let bot = identity
            .get(..1)
            .map(|first| format!("{}{}", first.to_uppercase(), &identity[1..]))
            .unwrap_or_default();
        let html = console_texts::render(
            "dm_unreachable.html",
            context! {
                job => refused.job,
                member => member.name,
                bot,
                description => refused.description,
            },
        );
        let message = OutgoingMessage::new(chat, thread, html).in_lane(Lane::Urgent);
        match self.poster.enqueue(conn, message).await {
            Ok(_) => Ok(()),
            Err(EnqueueError::Db(e)) => Err(e),
            Err(other) => {
                tracing::error!(job = refused.job, error = %other, "the report of a refused DM could not be queued");
                Ok(())
            }
        }
    }
}

impl SlotReports for SlotDeliveries {
    fn part_refused<'a>(
        &'a self,
        conn: &'a mut SqliteConnection,
        refused: RefusedPart<'a>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let detail = format!(
                "Telegram refused part {}: {}",
                refused.part, refused.description
            );
            // False when the slot was no longer `done` (an earlier part already failed it):
            // the first reason stands.
            slots::fail_done(&mut *conn, refused.job, refused.slot, &detail).await?;
            if let Some(dms) = &self.dms {
                dms.report(conn, &refused).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::slots::{SlotState, Trigger};
    use crate::store::{parse_time, Store};

    /// A refused part fails its done slot with the part and Telegram's reason; a second
    /// report (another part) keeps the first reason.
    #[tokio::test]
    async fn a_refused_part_fails_its_done_slot_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let at = parse_time("2026-11-23T03:00:00Z").unwrap();
        let key = slots::slot_key(at);
        let mut conn = store.pool().acquire().await.unwrap();
        slots::claim(
            &mut conn,
            "laser-chase",
            at,
            "clawrence",
            Trigger::Schedule,
            SlotState::Running,
            None,
            at,
        )
        .await
        .unwrap();
        slots::finish(&mut conn, "laser-chase", &key, SlotState::Done, 2, None, at)
            .await
            .unwrap();
        for part in [1, 0] {
            SlotDeliveries::default()
                .part_refused(
                    &mut conn,
                    RefusedPart {
                        job: "laser-chase",
                        slot: &key,
                        part,
                        chat_id: -1002233445566,
                        thread_id: Some(12),
                        description: "Bad Request: message thread not found",
                    },
                )
                .await
                .unwrap();
        }
        let row = slots::recent(&mut conn, "laser-chase", 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(row.state, SlotState::Failed);
        assert_eq!(
            row.detail.as_deref(),
            Some("Telegram refused part 1: Bad Request: message thread not found")
        );
    }
}
