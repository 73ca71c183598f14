//! `/ambiguous`: sends whose fate Telegram left unknown, each with Resend / Mark sent.

use super::outbox_rows::{self, Listing};
use super::{Behaviour, HandlerError, Session};

const LISTING: Listing = Listing {
    state: "ambiguous",
    buttons: [("Resend", "resend"), ("Mark sent", "sent")],
};

pub(super) async fn answer<I: Behaviour>(
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    outbox_rows::answer(session, &LISTING).await
}
