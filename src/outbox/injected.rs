//! Outbox rows written by tests (fault-injection builds only), still only through a poster.
//! A test that needs a backlog (a burst, a queue behind a pause) or a row herald itself would
//! refuse (a text Telegram rejects, as an older herald could have left it) writes it here,
//! with a [`Poster<I>`] the running fleet hands out (`RunningFleet::poster`): the row is `I`'s,
//! by type, like every other. There is no way to name the bot by a string.

use super::post::ErasedPoster;
use super::{EnqueueError, OutboxId, OutgoingMessage};
use crate::identity::{BotIdentity, Poster};
use crate::store::{Store, Write};

/// One write transaction of outbox rows: they appear together at [`OutboxWriter::commit`],
/// as the rows of one job run or one handled update do.
pub struct OutboxWriter {
    tx: Write,
}

impl OutboxWriter {
    /// Begins the transaction (under the store's lease, like every write of `herald run`).
    pub async fn begin(store: &Store) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: store.begin_write().await?,
        })
    }

    /// Enqueues `message` as `poster`'s identity, checked like every row.
    pub async fn enqueue<P: ErasedPoster + ?Sized>(
        &mut self,
        poster: &P,
        message: OutgoingMessage,
    ) -> Result<OutboxId, EnqueueError> {
        poster.enqueue(&mut self.tx, message).await
    }

    /// Writes `message` as `I` without the check every enqueued text passes: a row Telegram
    /// will refuse, for tests of what the sender does with such a refusal.
    pub async fn enqueue_unchecked<I: BotIdentity>(
        &mut self,
        poster: &Poster<I>,
        message: OutgoingMessage,
    ) -> Result<OutboxId, EnqueueError> {
        super::insert(&mut self.tx, I::NAME, poster.now(), message).await
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}
