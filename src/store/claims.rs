//! Expense claims and their decisions (`migrations/0014_claims.sql`). A claim is written in
//! the transaction of its `/claim` update with its acknowledgement and card; each decision is
//! one row per step, the first of a step winning by the primary key, so two approvers tapping
//! at once record one decision.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{parse_time, time_key};

/// Where a claim is (`claims.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum ClaimState {
    /// Waiting for its first or second approval.
    Pending,
    Approved,
    Rejected,
}

impl ClaimState {
    /// The stored name, as the team reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for ClaimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One claim as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claim {
    pub id: i64,
    pub member: String,
    pub user_id: i64,
    /// Exact decimal text (`1234.50`).
    pub amount: String,
    pub currency: String,
    pub reason: String,
    pub approvals_needed: i64,
    pub state: ClaimState,
    pub chat_id: i64,
    pub thread_id: Option<i64>,
    pub message_id: i64,
    pub ack_outbox_id: Option<i64>,
    pub card_outbox_id: Option<i64>,
    pub card_chat_id: i64,
    pub card_thread_id: Option<i64>,
    pub receipt_kind: Option<String>,
    pub receipt_file_id: Option<String>,
    pub receipt_chat_id: Option<i64>,
    pub receipt_message_id: Option<i64>,
    pub submitted_at: String,
    pub decided_at: Option<String>,
}

impl Claim {
    /// Its number as the team reads it: `C-0042`.
    pub fn number(&self) -> String {
        number(self.id)
    }

    pub fn submitted_at(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.submitted_at)
    }

    pub fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.decided_at.as_deref().and_then(parse_time)
    }
}

/// The number of claim `id`: `C-0042`.
pub fn number(id: i64) -> String {
    format!("C-{id:04}")
}

/// A claim being filed.
#[derive(Debug, Clone)]
pub struct NewClaim<'a> {
    pub member: &'a str,
    pub user_id: i64,
    pub amount: &'a str,
    pub currency: &'a str,
    pub reason: &'a str,
    pub approvals_needed: i64,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub message_id: i64,
    pub card_chat_id: i64,
    pub card_thread_id: Option<i32>,
    pub submitted_at: DateTime<Utc>,
}

/// A receipt: Telegram's `file_id` and the message that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `photo` or `document`.
    pub kind: &'static str,
    pub file_id: String,
    pub chat_id: i64,
    pub message_id: i64,
}

/// Files a claim; its id. `None` if that message already filed one (a redelivery).
pub async fn insert(
    conn: &mut SqliteConnection,
    new: &NewClaim<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO claims (member, user_id, amount, currency, reason, approvals_needed,
                             chat_id, thread_id, message_id, card_chat_id, card_thread_id,
                             submitted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (chat_id, message_id) DO NOTHING",
    )
    .bind(new.member)
    .bind(new.user_id)
    .bind(new.amount)
    .bind(new.currency)
    .bind(new.reason)
    .bind(new.approvals_needed)
    .bind(new.chat_id)
    .bind(new.thread_id)
    .bind(new.message_id)
    .bind(new.card_chat_id)
    .bind(new.card_thread_id)
    .bind(time_key(new.submitted_at))
    .execute(conn)
    .await?;
    Ok((done.rows_affected() == 1).then(|| done.last_insert_rowid()))
}

/// Records the outbox rows of a claim's acknowledgement and card.
pub async fn set_messages(
    conn: &mut SqliteConnection,
    id: i64,
    ack_outbox_id: i64,
    card_outbox_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE claims SET ack_outbox_id = ?, card_outbox_id = ? WHERE id = ?")
        .bind(ack_outbox_id)
        .bind(card_outbox_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Attaches (or replaces) the receipt of a pending claim. False if the claim was decided.
pub async fn attach_receipt(
    conn: &mut SqliteConnection,
    id: i64,
    receipt: &Receipt,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE claims SET receipt_kind = ?, receipt_file_id = ?, receipt_chat_id = ?,
                           receipt_message_id = ?
         WHERE id = ? AND state = ?",
    )
    .bind(receipt.kind)
    .bind(&receipt.file_id)
    .bind(receipt.chat_id)
    .bind(receipt.message_id)
    .bind(id)
    .bind(ClaimState::Pending)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut SqliteConnection, id: i64) -> Result<Option<Claim>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM claims WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The claim a message in `chat_id` refers to by replying: the member's `/claim` message, the
/// acknowledgement or the card (Telegram message ids).
pub async fn by_message(
    conn: &mut SqliteConnection,
    chat_id: i64,
    message_id: i64,
) -> Result<Option<Claim>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.* FROM claims c
         WHERE (c.chat_id = ?1 AND c.message_id = ?2)
            OR EXISTS (SELECT 1 FROM outbox o
                       WHERE o.id IN (c.ack_outbox_id, c.card_outbox_id)
                         AND o.chat_id = ?1 AND o.telegram_message_id = ?2)
         LIMIT 1",
    )
    .bind(chat_id)
    .bind(message_id)
    .fetch_optional(conn)
    .await
}

/// The Telegram message id of a claim's card, once it was sent.
pub async fn card_message_id(
    conn: &mut SqliteConnection,
    claim: &Claim,
) -> Result<Option<i64>, sqlx::Error> {
    match claim.card_outbox_id {
        Some(outbox_id) => super::sent::telegram_message_id(conn, outbox_id).await,
        None => Ok(None),
    }
}

/// One decision on a claim.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimDecision {
    pub claim_id: i64,
    pub step: i64,
    /// `approve` or `reject`.
    pub verdict: String,
    pub decided_by: String,
    pub reason: Option<String>,
    pub decided_at: String,
}

impl ClaimDecision {
    pub fn approves(&self) -> bool {
        self.verdict == "approve"
    }

    pub fn decided_at(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.decided_at)
    }
}

/// The decisions on claim `id`, by step.
pub async fn decisions(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Vec<ClaimDecision>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM claim_decisions WHERE claim_id = ? ORDER BY step")
        .bind(id)
        .fetch_all(conn)
        .await
}

/// Records `by`'s decision as step `step` of pending claim `id`. False if that step was
/// already decided, `by` decided another step, or the claim is no longer pending: the first
/// decision wins.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    conn: &mut SqliteConnection,
    id: i64,
    step: i64,
    approve: bool,
    by: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO claim_decisions (claim_id, step, verdict, decided_by, reason, decided_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS
             (SELECT 1 FROM claims WHERE id = ?1 AND state = ?7)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(step)
    .bind(if approve { "approve" } else { "reject" })
    .bind(by)
    .bind(reason)
    .bind(time_key(at))
    .bind(ClaimState::Pending)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends pending claim `id` as `state` (approved or rejected). False if it had ended.
pub async fn finish(
    conn: &mut SqliteConnection,
    id: i64,
    state: ClaimState,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE claims SET state = ?, decided_at = ? WHERE id = ? AND state = ?")
            .bind(state)
            .bind(time_key(at))
            .bind(id)
            .bind(ClaimState::Pending)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// `member`'s most recent claims, newest first.
pub async fn of_member(
    conn: &mut SqliteConnection,
    member: &str,
    limit: i64,
) -> Result<Vec<Claim>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM claims WHERE member = ? ORDER BY id DESC LIMIT ?")
        .bind(member)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// An approved claim with who approved it (the approvers of its steps, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedClaim {
    pub claim: Claim,
    /// Approvers' names joined with ` + `.
    pub approvers: String,
}

/// Claims approved in `[from, to)`, in order of approval, each with its approvers in step
/// order.
pub async fn approved_between(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ApprovedClaim>, sqlx::Error> {
    let claims: Vec<Claim> = sqlx::query_as(
        "SELECT * FROM claims WHERE state = ? AND decided_at >= ? AND decided_at < ?
         ORDER BY decided_at, id",
    )
    .bind(ClaimState::Approved)
    .bind(time_key(from))
    .bind(time_key(to))
    .fetch_all(&mut *conn)
    .await?;
    let mut approved = Vec::with_capacity(claims.len());
    for claim in claims {
        let approvers: Vec<String> = decisions(conn, claim.id)
            .await?
            .into_iter()
            .filter(ClaimDecision::approves)
            .map(|d| d.decided_by)
            .collect();
        approved.push(ApprovedClaim {
            claim,
            approvers: approvers.join(" + "),
        });
    }
    Ok(approved)
}

/// How many claims were rejected in `[from, to)`.
pub async fn rejected_between(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM claims WHERE state = ? AND decided_at >= ? AND decided_at < ?",
    )
    .bind(ClaimState::Rejected)
    .bind(time_key(from))
    .bind(time_key(to))
    .fetch_one(conn)
    .await
}

/// Claims filed in `[from, to)`, in order.
pub async fn submitted_between(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Claim>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM claims WHERE submitted_at >= ? AND submitted_at < ? ORDER BY id")
        .bind(time_key(from))
        .bind(time_key(to))
        .fetch_all(conn)
        .await
}

/// Claims still waiting for a decision, oldest first.
pub async fn pending(conn: &mut SqliteConnection) -> Result<Vec<Claim>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM claims WHERE state = ? ORDER BY id")
        .bind(ClaimState::Pending)
        .fetch_all(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        (dir, store)
    }

    fn new_claim(message_id: i64, needed: i64, at: DateTime<Utc>) -> NewClaim<'static> {
        NewClaim {
            member: "Siti Rahman",
            user_id: 7,
            amount: "45.20",
            currency: "SGD",
            reason: "taxi",
            approvals_needed: needed,
            chat_id: -100,
            thread_id: Some(35),
            message_id,
            card_chat_id: -100,
            card_thread_id: Some(35),
            submitted_at: at,
        }
    }

    /// The first decision of a step wins; one approver decides one step only; a decided
    /// claim takes no more decisions; a redelivered `/claim` files nothing.
    #[tokio::test]
    async fn the_first_decision_of_each_step_wins() {
        let (_dir, store) = store().await;
        let mut conn = store.pool().acquire().await.unwrap();
        let at = parse_time("2026-12-01T02:00:00Z").unwrap();
        let id = insert(&mut conn, &new_claim(10, 2, at))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            insert(&mut conn, &new_claim(10, 2, at)).await.unwrap(),
            None
        );
        assert_eq!(number(id), "C-0001");

        assert!(decide(&mut conn, id, 1, true, "Priya", None, at)
            .await
            .unwrap());
        assert!(!decide(&mut conn, id, 1, true, "Daniel", None, at)
            .await
            .unwrap());
        assert!(
            !decide(&mut conn, id, 2, true, "Priya", None, at)
                .await
                .unwrap(),
            "the same approver cannot also be the second"
        );
        assert!(decide(&mut conn, id, 2, true, "Daniel", None, at)
            .await
            .unwrap());
        assert!(finish(&mut conn, id, ClaimState::Approved, at)
            .await
            .unwrap());
        assert!(!finish(&mut conn, id, ClaimState::Rejected, at)
            .await
            .unwrap());

        let other = insert(&mut conn, &new_claim(11, 1, at))
            .await
            .unwrap()
            .unwrap();
        assert!(finish(&mut conn, other, ClaimState::Rejected, at)
            .await
            .unwrap());
        assert!(
            !decide(&mut conn, other, 1, true, "Priya", None, at)
                .await
                .unwrap(),
            "a decided claim takes no decision"
        );

        let approved = approved_between(&mut conn, at, at + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].approvers, "Priya + Daniel");
        let week = (at, at + chrono::Duration::seconds(1));
        assert_eq!(
            rejected_between(&mut conn, week.0, week.1).await.unwrap(),
            1
        );
        assert_eq!(
            get(&mut conn, other).await.unwrap().unwrap().state,
            ClaimState::Rejected
        );
    }
}
