//! The Telegram message id an outbox row got once sent: how a card (an invoice's, a claim's)
//! is found again to be edited or replied to.

use sqlx::SqliteConnection;

/// The Telegram message id of outbox row `outbox_id`, once it was sent.
pub async fn telegram_message_id(
    conn: &mut SqliteConnection,
    outbox_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let id: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT telegram_message_id FROM outbox WHERE id = ?")
            .bind(outbox_id)
            .fetch_optional(conn)
            .await?;
    Ok(id.and_then(|(id,)| id))
}
