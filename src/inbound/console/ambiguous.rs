//! `/ambiguous`: sends whose fate Telegram left unknown, each with Resend / Mark sent.

use super::outbox_rows::{self, Listing};
use super::session::Session;
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::outbox::OutboxState;

const LISTING: Listing = Listing {
    state: OutboxState::Ambiguous,
    buttons: [("Resend", "resend"), ("Mark sent", "sent")],
};

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    outbox_rows::answer(session, &LISTING).await
}
