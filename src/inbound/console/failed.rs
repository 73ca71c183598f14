//! `/failed`: recent sends Telegram refused, each with Retry / Dismiss.

use super::outbox_rows::{self, Listing};
use super::session::Session;
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::outbox::OutboxState;

const LISTING: Listing = Listing {
    state: OutboxState::Failed,
    buttons: [("Retry", "retry"), ("Dismiss", "dismiss")],
};

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    outbox_rows::answer(session, &LISTING).await
}
