//! What became of a slot's posts once its run wrote them: the slot is the scheduler's, so the
//! senders report to it here instead of writing its table. A part Telegram refused for good
//! makes a `done` slot `failed`, its detail naming the part and Telegram's reason (the
//! operator is told about the refused message by the sender, in the same transaction).

use futures::future::BoxFuture;
use sqlx::SqliteConnection;

use crate::outbox::sender::{RefusedPart, SlotReports};
use crate::store::slots;

/// The scheduler's side of [`SlotReports`], handed to every sender at start.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlotDeliveries;

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
            slots::fail_done(conn, refused.job, refused.slot, &detail).await?;
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
            SlotDeliveries
                .part_refused(
                    &mut conn,
                    RefusedPart {
                        job: "laser-chase",
                        slot: &key,
                        part,
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
