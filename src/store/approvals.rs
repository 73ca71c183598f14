//! Invoice approvals: one row per Xero InvoiceID, with its card, its one decision and the
//! state of writing that decision back to Xero. See `migrations/0005_approvals.sql`.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{parse_time, time_key};

/// One approval as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Approval {
    pub invoice_id: String,
    pub number: String,
    pub contact: String,
    pub total: String,
    pub due_date: Option<String>,
    pub link: String,
    pub state: String,
    pub card_outbox_id: i64,
    pub chat_id: i64,
    pub thread_id: Option<i64>,
    pub posted_at: String,
    pub expires_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub reason: Option<String>,
    pub xero: String,
    pub xero_attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub closed_note: Option<String>,
}

impl Approval {
    pub fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.decided_at.as_deref().and_then(parse_time)
    }
}

/// A new card's approval.
#[derive(Debug, Clone)]
pub struct NewApproval<'a> {
    pub invoice_id: &'a str,
    pub number: &'a str,
    pub contact: &'a str,
    pub total: &'a str,
    pub due_date: Option<String>,
    pub link: &'a str,
    pub card_outbox_id: i64,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub posted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut SqliteConnection, new: &NewApproval<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO approvals (invoice_id, number, contact, total, due_date, link, card_outbox_id,
                                chat_id, thread_id, posted_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(new.invoice_id)
    .bind(new.number)
    .bind(new.contact)
    .bind(new.total)
    .bind(&new.due_date)
    .bind(new.link)
    .bind(new.card_outbox_id)
    .bind(new.chat_id)
    .bind(new.thread_id)
    .bind(time_key(new.posted_at))
    .bind(time_key(new.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(
    conn: &mut SqliteConnection,
    invoice_id: &str,
) -> Result<Option<Approval>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM approvals WHERE invoice_id = ?")
        .bind(invoice_id)
        .fetch_optional(conn)
        .await
}

/// The approval whose card is Telegram message `message_id` in `chat_id`.
pub async fn by_card_message(
    conn: &mut SqliteConnection,
    chat_id: i64,
    message_id: i64,
) -> Result<Option<Approval>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.* FROM approvals a JOIN outbox o ON o.id = a.card_outbox_id
         WHERE a.chat_id = ? AND o.telegram_message_id = ?",
    )
    .bind(chat_id)
    .bind(message_id)
    .fetch_optional(conn)
    .await
}

/// The Telegram message id of an approval's card, once it was sent.
pub async fn card_message_id(
    conn: &mut SqliteConnection,
    approval: &Approval,
) -> Result<Option<i64>, sqlx::Error> {
    let id: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT telegram_message_id FROM outbox WHERE id = ?")
            .bind(approval.card_outbox_id)
            .fetch_optional(conn)
            .await?;
    Ok(id.and_then(|(id,)| id))
}

/// Records a decision if the approval is still open. True for the one decision that wins.
pub async fn decide(
    conn: &mut SqliteConnection,
    invoice_id: &str,
    approve: bool,
    by: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4, reason = ?5,
                xero = ?6, next_attempt_at = ?4
         WHERE invoice_id = ?1 AND state = 'open'",
    )
    .bind(invoice_id)
    .bind(if approve { "approved" } else { "rejected" })
    .bind(by)
    .bind(time_key(at))
    .bind(reason)
    .bind(if approve { "pending" } else { "none" })
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Open approvals, oldest card first.
pub async fn open(conn: &mut SqliteConnection) -> Result<Vec<Approval>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM approvals WHERE state = 'open' ORDER BY posted_at, invoice_id")
        .fetch_all(conn)
        .await
}

/// Open approvals whose card expired by `now`.
pub async fn expired(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Approval>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM approvals WHERE state = 'open' AND expires_at <= ?
         ORDER BY expires_at, invoice_id",
    )
    .bind(time_key(now))
    .fetch_all(conn)
    .await
}

/// Approvals not yet written to Xero, due for a try at `now`.
pub async fn due_for_xero(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Approval>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM approvals WHERE xero = 'pending' AND next_attempt_at <= ?
         ORDER BY decided_at, invoice_id",
    )
    .bind(time_key(now))
    .fetch_all(conn)
    .await
}

/// Approved here but not (yet) in Xero: pending or given up.
pub async fn not_in_xero(conn: &mut SqliteConnection) -> Result<Vec<Approval>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM approvals WHERE state = 'approved' AND xero IN ('pending', 'failed')
         ORDER BY decided_at, invoice_id",
    )
    .fetch_all(conn)
    .await
}

/// Records how writing to Xero went: `xero` is the new state; a retry goes at `next`.
pub async fn set_xero(
    conn: &mut SqliteConnection,
    invoice_id: &str,
    xero: &str,
    error: Option<&str>,
    next: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE approvals SET xero = ?2, last_error = ?3, next_attempt_at = ?4,
                xero_attempts = xero_attempts + 1
         WHERE invoice_id = ?1",
    )
    .bind(invoice_id)
    .bind(xero)
    .bind(error)
    .bind(next.map(time_key))
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes an open approval without a decision here: `expired`, or `closed` with a note.
pub async fn close(
    conn: &mut SqliteConnection,
    invoice_id: &str,
    state: &str,
    note: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE approvals SET state = ?2, closed_note = ?3 WHERE invoice_id = ?1 AND state = 'open'",
    )
    .bind(invoice_id)
    .bind(state)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
