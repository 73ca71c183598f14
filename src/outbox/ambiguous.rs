//! Uncertain sends without alarm fatigue. Every row that becomes `ambiguous` is told to the
//! operators, never resent on its own, but in groups: at most one DM per bot per minute
//! (clock time). Twenty crashes during a burst make one DM at once and one a minute later
//! listing the rest, not twenty.
//!
//! A group gathers one bot's rows that became ambiguous before its DM left. Its DM (one outbox
//! row per operator) is written with the group's first row; when the bot's previous DM is
//! less than a minute old, it waits in `pending` with `not_before` set to the minute after
//! that DM. Each later row joins the group in the transaction that made it ambiguous and
//! rewrites the waiting DM's text. Once the sender claims one of the DM's rows the group is
//! closed, its text frozen like any other row's, and the next row starts the next group.
//!
//! Why a waiting outbox row rather than the scheduler's tick: the outbox already holds rows
//! until `not_before` and the sender already looks for them, so nothing new polls; the DM's
//! content is settled in the same transactions that change the rows it lists; nothing is
//! rendered at send time; and it works the same when the scheduler is stopped, paused or in
//! diagnose mode, or when the rows turn ambiguous at start-up.
//!
//! The DM's buttons name the group (`ob:resend-all:<group>`, `ob:sent-all:<group>`), never a
//! list of rows: callback data holds 64 bytes.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::alerts::ConsoleChannel;
use super::{audit_transition, set_state, EnqueueError, OutboxRow, OutboxState};
use crate::store::{parse_time, time_key};

/// At most one DM about a bot's uncertain sends this often.
pub const DM_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// Tells the operators that `row` (already `ambiguous` in this transaction) may or may not
/// have been delivered: it joins its bot's waiting DM, or starts a new one; they decide with
/// Resend / Mark sent (one row) or Resend all / Mark all sent (several). Returns how many
/// DMs were enqueued (0 when the row joined a DM already waiting, or gets no alert: a
/// button-tap answer, an operator DM itself).
pub(crate) async fn tell(
    conn: &mut SqliteConnection,
    console: &ConsoleChannel,
    row: &OutboxRow,
    at: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    if !console.is_alertable(row) {
        return Ok(0);
    }
    if let Some(group) = open_group(conn, &row.bot).await? {
        add_row(conn, group, row.id).await?;
        let rows = rows(conn, group).await?;
        let (html, markup) = console.ambiguous_dm(group, &rows);
        sqlx::query(
            "UPDATE outbox SET text = ?, reply_markup = ?
             WHERE id IN (SELECT outbox_id FROM ambiguous_group_alerts WHERE group_id = ?)
               AND state = ? AND attempts = 0",
        )
        .bind(&html)
        .bind(markup.to_string())
        .bind(group)
        .bind(OutboxState::Pending)
        .execute(&mut *conn)
        .await?;
        tracing::info!(
            row = row.id,
            group,
            rows = rows.len(),
            "an uncertain send joined the operators' waiting DM"
        );
        return Ok(0);
    }
    let last: Option<String> =
        sqlx::query_scalar("SELECT max(notify_at) FROM ambiguous_groups WHERE bot = ?")
            .bind(&row.bot)
            .fetch_one(&mut *conn)
            .await?;
    let notify_at = last
        .as_deref()
        .and_then(parse_time)
        .map(|last| last + DM_EVERY)
        .filter(|next| *next > at)
        .unwrap_or(at);
    let group: i64 = sqlx::query_scalar(
        "INSERT INTO ambiguous_groups (bot, created_at, notify_at) VALUES (?, ?, ?) RETURNING id",
    )
    .bind(&row.bot)
    .bind(time_key(at))
    .bind(time_key(notify_at))
    .fetch_one(&mut *conn)
    .await?;
    add_row(conn, group, row.id).await?;
    let rows = rows(conn, group).await?;
    let (html, markup) = console.ambiguous_dm(group, &rows);
    let alerts = match console.alert_each(conn, &html, Some(markup), at).await {
        Ok(ids) => ids,
        Err(EnqueueError::Db(e)) => return Err(e),
        Err(other) => {
            tracing::error!(error = %other, row = row.id, "operator alert not enqueued");
            Vec::new()
        }
    };
    for id in &alerts {
        sqlx::query("INSERT INTO ambiguous_group_alerts (group_id, outbox_id) VALUES (?, ?)")
            .bind(group)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        if notify_at > at {
            sqlx::query("UPDATE outbox SET not_before = ? WHERE id = ?")
                .bind(time_key(notify_at))
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    if notify_at > at {
        tracing::info!(row = row.id, group, notify_at = %time_key(notify_at), "an uncertain send waits for the next minute's DM to the operators");
    }
    Ok(alerts.len())
}

/// The bot's latest group if its DM is still waiting: every DM row `pending` and never tried.
async fn open_group(conn: &mut SqliteConnection, bot: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT g.id FROM ambiguous_groups g
         WHERE g.id = (SELECT max(id) FROM ambiguous_groups WHERE bot = ?1)
           AND EXISTS (SELECT 1 FROM ambiguous_group_alerts a WHERE a.group_id = g.id)
           AND NOT EXISTS (SELECT 1 FROM ambiguous_group_alerts a
                           JOIN outbox o ON o.id = a.outbox_id
                           WHERE a.group_id = g.id AND (o.state <> ?2 OR o.attempts > 0))",
    )
    .bind(bot)
    .bind(OutboxState::Pending)
    .fetch_optional(conn)
    .await
}

async fn add_row(conn: &mut SqliteConnection, group: i64, row: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ambiguous_group_rows (group_id, outbox_id) VALUES (?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(group)
    .bind(row)
    .execute(conn)
    .await?;
    Ok(())
}

/// The rows of `group`, as they are now, oldest first. Empty for an unknown group.
pub(crate) async fn rows(
    conn: &mut SqliteConnection,
    group: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.* FROM outbox o JOIN ambiguous_group_rows r ON r.outbox_id = o.id
         WHERE r.group_id = ? ORDER BY o.id",
    )
    .bind(group)
    .fetch_all(conn)
    .await
}

/// At start: every row still `sending` died mid-send and becomes `ambiguous`; the operators
/// are told in one DM per bot (grouped with any DM still waiting; the console channel leaves
/// out button-tap answers). Returns how many rows were turned.
pub async fn recover_interrupted_sends(
    store: &crate::store::Store,
    at: DateTime<Utc>,
    console: &ConsoleChannel,
) -> Result<usize, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    let stuck: Vec<OutboxRow> = sqlx::query_as("SELECT * FROM outbox WHERE state = ? ORDER BY id")
        .bind(OutboxState::Sending)
        .fetch_all(&mut *tx)
        .await?;
    for row in &stuck {
        set_state(
            &mut tx,
            row.id,
            OutboxState::Ambiguous,
            Some("herald stopped while this message was being sent"),
            at,
        )
        .await?;
        audit_transition(&mut tx, row, "sending -> ambiguous (interrupted)", at).await?;
        tell(&mut tx, console, row, at).await?;
    }
    tx.commit().await?;
    Ok(stuck.len())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::store::Store;

    struct Desk {
        _dir: tempfile::TempDir,
        store: Store,
        console: ConsoleChannel,
        chat: i64,
    }

    async fn desk() -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let config = crate::config::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let chat = config.roster.chat_id();
        let console = ConsoleChannel::lawrence_for_tests(Arc::new(config.roster.clone()));
        Desk {
            _dir: dir,
            store,
            console,
            chat,
        }
    }

    impl Desk {
        /// A send of `bot` that was in flight when herald was killed.
        async fn interrupted(&self, bot: &str, text: &str) -> i64 {
            sqlx::query_scalar(
                "INSERT INTO outbox (bot, kind, lane, chat_id, thread_id, text, state, attempts,
                                     created_at, updated_at)
                 VALUES (?, 'send', 1, ?, 12, ?, 'sending', 1, '2026-11-20T02:00:00Z',
                         '2026-11-20T02:00:00Z')
                 RETURNING id",
            )
            .bind(bot)
            .bind(self.chat)
            .bind(text)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
        }

        /// What a running console sender would have done by `at`: every DM due is sent.
        async fn deliver_due(&self, at: DateTime<Utc>) {
            sqlx::query(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1
                 WHERE bot = 'lawrence' AND state = 'pending'
                   AND (not_before IS NULL OR not_before <= ?)",
            )
            .bind(time_key(at))
            .execute(self.store.pool())
            .await
            .unwrap();
        }

        /// The operators' DMs about uncertain sends: (state, not_before, text, markup).
        async fn dms(&self) -> Vec<(String, Option<String>, String, Option<String>)> {
            sqlx::query_as(
                "SELECT state, not_before, text, reply_markup FROM outbox
                 WHERE bot = 'lawrence' ORDER BY id",
            )
            .fetch_all(self.store.pool())
            .await
            .unwrap()
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        parse_time("2026-11-20T02:00:00Z").unwrap() + chrono::Duration::seconds(seconds)
    }

    /// Twenty kills within a minute of a burst, each restart finding one interrupted send:
    /// one DM at once, one a minute later listing the other nineteen, then nothing until the
    /// minute after that. (Before grouping: twenty DMs.)
    #[tokio::test]
    async fn twenty_restarts_in_a_minute_give_the_operator_two_dms_not_twenty() {
        let d = desk().await;
        let mut rows = Vec::new();
        for k in 0..20 {
            let when = at(3 * k);
            d.deliver_due(when).await;
            rows.push(d.interrupted("clawrence", &format!("burst post {k}")).await);
            let turned = recover_interrupted_sends(&d.store, when, &d.console)
                .await
                .unwrap();
            assert_eq!(turned, 1);
        }
        let dms = d.dms().await;
        assert_eq!(dms.len(), 2, "{dms:#?}");
        let (state, not_before, text, markup) = &dms[0];
        assert_eq!((state.as_str(), not_before), ("sent", &None));
        assert!(text.starts_with("⚠️ <b>Unsure whether a message was delivered</b>"));
        assert!(text.contains(&format!("outbox row {}", rows[0])), "{text}");
        assert!(
            markup
                .as_deref()
                .is_some_and(|m| m.contains(&format!("ob:resend:{}", rows[0]))),
            "one row keeps its own buttons: {markup:?}"
        );

        // The second DM waits for the minute after the first, listing the other nineteen.
        let (state, not_before, text, markup) = &dms[1];
        assert_eq!(state, "pending");
        assert_eq!(not_before.as_deref(), Some("2026-11-20T02:01:00Z"));
        assert!(
            text.starts_with("⚠️ <b>Unsure whether 19 messages from clawrence were delivered</b>"),
            "{text}"
        );
        for row in &rows[1..11] {
            assert!(
                text.contains(&format!("• row {row} → #daily-updates")),
                "{text}"
            );
        }
        assert!(text.contains("…and 9 more"), "{text}");
        assert!(!text.contains(&format!("row {} →", rows[0])), "{text}");
        let markup: serde_json::Value = serde_json::from_str(markup.as_deref().unwrap()).unwrap();
        let buttons = &markup["inline_keyboard"][0];
        assert_eq!(buttons[0]["text"], "Resend all");
        assert_eq!(buttons[1]["text"], "Mark all sent");
        let data = buttons[0]["callback_data"].as_str().unwrap();
        assert!(
            data.starts_with("ob:resend-all:") && data.len() <= 64,
            "{data}"
        );
        let grouped: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ambiguous_group_rows r
             JOIN ambiguous_group_alerts a ON a.group_id = r.group_id
             JOIN outbox o ON o.id = a.outbox_id AND o.state = 'pending'",
        )
        .fetch_one(d.store.pool())
        .await
        .unwrap();
        assert_eq!(grouped, 19);

        // Delivered at 02:01:00; a send uncertain right after waits for 02:02:00.
        d.deliver_due(at(60)).await;
        d.interrupted("clawrence", "one more").await;
        recover_interrupted_sends(&d.store, at(61), &d.console)
            .await
            .unwrap();
        let dms = d.dms().await;
        assert_eq!(dms.len(), 3);
        assert_eq!(dms[2].1.as_deref(), Some("2026-11-20T02:02:00Z"));
        // Every uncertain row stays ambiguous: nothing is resent on its own.
        let states: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT state FROM outbox WHERE bot = 'clawrence'")
                .fetch_all(d.store.pool())
                .await
                .unwrap();
        assert_eq!(states, vec!["ambiguous"]);
    }

    /// Each bot has its own minute, and a restart finding sends of two bots tells one DM per
    /// bot, each listing its own rows.
    #[tokio::test]
    async fn groups_are_per_bot() {
        let d = desk().await;
        d.interrupted("clawrence", "a").await;
        d.interrupted("clawrence", "b").await;
        d.interrupted("happy", "c").await;
        recover_interrupted_sends(&d.store, at(0), &d.console)
            .await
            .unwrap();
        let dms = d.dms().await;
        assert_eq!(dms.len(), 2, "{dms:#?}");
        assert!(
            dms[0].2.contains("2 messages from clawrence"),
            "{}",
            dms[0].2
        );
        assert!(dms[1]
            .2
            .starts_with("⚠️ <b>Unsure whether a message was delivered</b>"));
        assert!(dms[1].2.contains("happy -&gt;"), "{}", dms[1].2);
        assert!(dms.iter().all(|dm| dm.1.is_none()), "both go at once");
    }
}
