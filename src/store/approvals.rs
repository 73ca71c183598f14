//! Invoice approvals: one row per Xero InvoiceID, with its card, its one decision and the
//! state of writing that decision back to Xero. See `migrations/0005_approvals.sql`.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{parse_time, time_key};

/// Where an approval is (`approvals.state`): open until decided here, expired, or closed
/// because it ended in Xero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum ApprovalState {
    Open,
    Approved,
    Rejected,
    /// Nobody decided before the card expired.
    Expired,
    /// Ended in Xero while the card was open (`closed_note` says how).
    Closed,
}

impl ApprovalState {
    /// The stored name, as the team reads it ("Already approved by ...").
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Open => "open",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Expired => "expired",
            ApprovalState::Closed => "closed",
        }
    }
}

impl std::fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Xero's side of an approval (`approvals.xero`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum XeroState {
    /// Nothing to write (open, rejected, expired, closed).
    #[sqlx(rename = "none")]
    NothingToWrite,
    /// To write, or to try again at `next_attempt_at`.
    Pending,
    /// Xero says AUTHORISED.
    Done,
    /// Given up; the operator was told.
    Failed,
}

impl XeroState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            XeroState::NothingToWrite => "none",
            XeroState::Pending => "pending",
            XeroState::Done => "done",
            XeroState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for XeroState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Approval {
    pub invoice_id: String,
    pub number: String,
    pub contact: String,
    pub total: String,
    pub due_date: Option<String>,
    pub link: String,
    pub state: ApprovalState,
    pub card_outbox_id: i64,
    pub chat_id: i64,
    pub thread_id: Option<i64>,
    pub posted_at: String,
    pub expires_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub reason: Option<String>,
    pub xero: XeroState,
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
    super::sent::telegram_message_id(conn, approval.card_outbox_id).await
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
         WHERE invoice_id = ?1 AND state = ?7",
    )
    .bind(invoice_id)
    .bind(if approve {
        ApprovalState::Approved
    } else {
        ApprovalState::Rejected
    })
    .bind(by)
    .bind(time_key(at))
    .bind(reason)
    .bind(if approve {
        XeroState::Pending
    } else {
        XeroState::NothingToWrite
    })
    .bind(ApprovalState::Open)
    .execute(&mut *conn)
    .await?;
    let won = done.rows_affected() == 1;
    if won && approve {
        // The desk writes it to Xero once this commits.
        super::signals::mark(conn, super::signals::Wake::Desk);
    }
    Ok(won)
}

/// Open approvals, oldest card first.
pub async fn open(conn: &mut SqliteConnection) -> Result<Vec<Approval>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM approvals WHERE state = ? ORDER BY posted_at, invoice_id")
        .bind(ApprovalState::Open)
        .fetch_all(conn)
        .await
}

/// Open approvals whose card expired by `now`.
pub async fn expired(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Approval>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM approvals WHERE state = ? AND expires_at <= ?
         ORDER BY expires_at, invoice_id",
    )
    .bind(ApprovalState::Open)
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
        "SELECT * FROM approvals WHERE xero = ? AND next_attempt_at <= ?
         ORDER BY decided_at, invoice_id",
    )
    .bind(XeroState::Pending)
    .bind(time_key(now))
    .fetch_all(conn)
    .await
}

/// The first instant the desk has work without being told: an open card expires, or an
/// approval's next try at Xero comes due (clock time; None if neither is waiting).
pub async fn next_due(conn: &mut SqliteConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let first: Option<String> = sqlx::query_scalar(
        "SELECT MIN(at) FROM (
             SELECT MIN(expires_at) AS at FROM approvals WHERE state = ?
             UNION ALL
             SELECT MIN(next_attempt_at) FROM approvals WHERE xero = ?)",
    )
    .bind(ApprovalState::Open)
    .bind(XeroState::Pending)
    .fetch_one(conn)
    .await?;
    Ok(first.as_deref().and_then(parse_time))
}

/// Approved here but not (yet) in Xero: pending or given up.
pub async fn not_in_xero(conn: &mut SqliteConnection) -> Result<Vec<Approval>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM approvals WHERE state = ? AND xero IN (?, ?)
         ORDER BY decided_at, invoice_id",
    )
    .bind(ApprovalState::Approved)
    .bind(XeroState::Pending)
    .bind(XeroState::Failed)
    .fetch_all(conn)
    .await
}

/// Records how writing to Xero went: `xero` is the new state; a retry goes at `next`.
pub async fn set_xero(
    conn: &mut SqliteConnection,
    invoice_id: &str,
    xero: XeroState,
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

/// How an open approval ends without a decision here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// Nobody decided in time.
    Expired,
    /// It ended in Xero; the note says how.
    EndedInXero,
}

impl Closing {
    fn state(self) -> ApprovalState {
        match self {
            Closing::Expired => ApprovalState::Expired,
            Closing::EndedInXero => ApprovalState::Closed,
        }
    }
}

/// Closes an open approval without a decision here: expired, or closed with a note. False
/// if it was no longer open.
pub async fn close(
    conn: &mut SqliteConnection,
    invoice_id: &str,
    how: Closing,
    note: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE approvals SET state = ?2, closed_note = ?3 WHERE invoice_id = ?1 AND state = ?4",
    )
    .bind(invoice_id)
    .bind(how.state())
    .bind(note)
    .bind(ApprovalState::Open)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Every approval state and Xero state is stored under the name the migration's CHECK
    /// allows, and reads back as itself.
    #[tokio::test]
    async fn states_are_stored_as_the_schema_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let states = [
            (ApprovalState::Open, "open"),
            (ApprovalState::Approved, "approved"),
            (ApprovalState::Rejected, "rejected"),
            (ApprovalState::Expired, "expired"),
            (ApprovalState::Closed, "closed"),
        ];
        let xero = [
            (XeroState::NothingToWrite, "none"),
            (XeroState::Pending, "pending"),
            (XeroState::Done, "done"),
            (XeroState::Failed, "failed"),
        ];
        for (i, (state, state_name)) in states.into_iter().enumerate() {
            let (xero, xero_name) = xero[i % xero.len()];
            assert_eq!(
                (state.as_str(), state.to_string()),
                (state_name, state_name.to_owned())
            );
            assert_eq!(
                (xero.as_str(), xero.to_string()),
                (xero_name, xero_name.to_owned())
            );
            let id = format!("inv-{i}");
            sqlx::query(
                "INSERT INTO approvals (invoice_id, number, contact, total, link, state,
                                        card_outbox_id, chat_id, posted_at, expires_at, xero)
                 VALUES (?, 'INV-1', 'Tan', 'SGD 1.00', 'l', ?, 1, 1, '', '', ?)",
            )
            .bind(&id)
            .bind(state)
            .bind(xero)
            .execute(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{state_name}/{xero_name}: {e}"));
            let raw: (String, String) =
                sqlx::query_as("SELECT state, xero FROM approvals WHERE invoice_id = ?")
                    .bind(&id)
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            assert_eq!(raw, (state_name.into(), xero_name.into()));
            let mut conn = store.pool().acquire().await.unwrap();
            let approval = get(&mut conn, &id).await.unwrap().unwrap();
            assert_eq!((approval.state, approval.xero), (state, xero));
        }
    }

    /// Closing sets the state that says how, once, and only on an open approval.
    #[tokio::test]
    async fn closing_an_open_approval_sets_how_it_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        let at = parse_time("2026-11-20T06:00:00Z").unwrap();
        for (id, how, state) in [
            ("a", Closing::Expired, ApprovalState::Expired),
            ("b", Closing::EndedInXero, ApprovalState::Closed),
        ] {
            insert(
                &mut conn,
                &NewApproval {
                    invoice_id: id,
                    number: "INV-1",
                    contact: "Tan",
                    total: "SGD 1.00",
                    due_date: None,
                    link: "l",
                    card_outbox_id: 1,
                    chat_id: 1,
                    thread_id: None,
                    posted_at: at,
                    expires_at: at,
                },
            )
            .await
            .unwrap();
            assert!(close(&mut conn, id, how, Some("note")).await.unwrap());
            assert!(
                !close(&mut conn, id, how, None).await.unwrap(),
                "closed once"
            );
            let approval = get(&mut conn, id).await.unwrap().unwrap();
            assert_eq!(approval.state, state);
            assert_eq!(approval.closed_note.as_deref(), Some("note"));
        }
    }
}
