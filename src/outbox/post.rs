//! Posting as an identity: [`Poster<I>`]'s write. It lives with the outbox rather than in
//! [`crate::identity`] so that the identity module stays a leaf (it knows no store), while the
//! poster remains the only door to [`super::enqueue`] from outside the crate.

use sqlx::SqliteConnection;

use super::{EnqueueError, OutboxId, OutgoingMessage};
use crate::identity::{BotIdentity, Poster};

impl<I: BotIdentity> Poster<I> {
    /// Writes `message` to the outbox as bot `I`, inside the caller's transaction, so the
    /// message commits or rolls back with the state change that caused it.
    pub async fn enqueue(
        &self,
        conn: &mut SqliteConnection,
        message: OutgoingMessage,
    ) -> Result<OutboxId, EnqueueError> {
        super::enqueue(conn, I::NAME, self.now(), message).await
    }

    /// [`Poster::enqueue`], stamped `at` rather than now: for a caller whose unit of work
    /// already took its instant (the console channel's alerts share it with their audit).
    pub(crate) async fn enqueue_at(
        &self,
        conn: &mut SqliteConnection,
        at: chrono::DateTime<chrono::Utc>,
        message: OutgoingMessage,
    ) -> Result<OutboxId, EnqueueError> {
        super::enqueue(conn, I::NAME, at, message).await
    }
}

mod sealed {
    pub trait Sealed {}
    impl<I: crate::identity::BotIdentity> Sealed for crate::identity::Poster<I> {}
}

/// A [`Poster<I>`] with `I` kept inside rather than in the type, for code that serves one
/// identity without being generic over it: the console channel (whichever identity the
/// deployment names) and the poller answering the button tap of an update whose handler
/// failed. Only a `Poster<I>` implements it (sealed), so it still posts as `I` only.
pub trait ErasedPoster: sealed::Sealed + Send + Sync + std::fmt::Debug {
    /// [`Poster::enqueue`] as the identity this was made from.
    fn enqueue<'a>(
        &'a self,
        conn: &'a mut SqliteConnection,
        message: OutgoingMessage,
    ) -> futures::future::BoxFuture<'a, Result<OutboxId, EnqueueError>>;

    /// The identity's [`BotIdentity::NAME`], for matching its rows read back from the outbox.
    fn identity_name(&self) -> &'static str;
}

impl<I: BotIdentity> ErasedPoster for Poster<I> {
    fn enqueue<'a>(
        &'a self,
        conn: &'a mut SqliteConnection,
        message: OutgoingMessage,
    ) -> futures::future::BoxFuture<'a, Result<OutboxId, EnqueueError>> {
        Box::pin(Poster::enqueue(self, conn, message))
    }

    fn identity_name(&self) -> &'static str {
        I::NAME
    }
}
