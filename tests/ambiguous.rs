//! Uncertain sends without alarm fatigue, end to end against the simulator, with herald on a
//! manual clock: twenty lost replies during a 150-message burst give the operator one DM at
//! once and one grouped DM a minute later (not twenty); nothing is resent on its own; *Resend
//! all* resends exactly the group's rows still undecided, each decision audited; a second tap
//! changes nothing.
//!
//! Needs the `fault-injection` feature: the burst is written through Clawrence's poster from
//! the running fleet (`herald::outbox::injected`).
#![cfg(feature = "fault-injection")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Deployment;
use herald::clock::Clock;
use herald::fleet::RunningFleet;
use herald::identity::Clawrence;
use herald::outbox::injected::OutboxWriter;
use herald::outbox::{Lane, OutgoingMessage};
use herald_sim::{Fault, SentRecord, Simulator};

const WAIT: Duration = Duration::from_secs(20);
const UNSURE: &str = "Unsure whether";

struct Burst {
    _deployment: Deployment,
    sim: Simulator,
    fleet: RunningFleet,
    clock: Clock,
    operator: i64,
    clawrence: String,
    lawrence: String,
}

impl Burst {
    async fn start() -> Burst {
        let deployment = Deployment::example();
        let sim = deployment.simulator().await;
        // A Sunday afternoon: no job is due while the test moves the clock.
        let clock = Clock::manual("2026-11-22T06:30:00Z".parse().expect("instant"));
        let mut options = deployment.run_options(&sim);
        options.clock = clock.clone();
        // The test is about grouping, not Telegram's flood limits.
        options.sender.limits.chat_gap = Duration::ZERO;
        options.sender.limits.group_max = 100_000;
        options.sender.limits.bot_max = 100_000;
        let fleet = herald::fleet::start(&options).await.expect("fleet starts");
        let config = deployment.config();
        Burst {
            operator: deployment.operator(),
            clawrence: config.bots["clawrence"].username.clone(),
            lawrence: config.bots["lawrence"].username.clone(),
            _deployment: deployment,
            sim,
            fleet,
            clock,
        }
    }

    /// Posts `posts` (numbers) by Clawrence in #general, written as a job run would.
    async fn enqueue(&self, posts: std::ops::Range<usize>) {
        let clawrence = self.fleet.poster::<Clawrence>().expect("Clawrence runs");
        let mut rows = OutboxWriter::begin(self.fleet.store()).await.expect("tx");
        for i in posts {
            let message =
                OutgoingMessage::new(self.sim.group_chat_id(), None, format!("burst post {i}"))
                    .in_lane(Lane::Scheduled);
            rows.enqueue(&clawrence, message).await.expect("enqueue");
        }
        rows.commit().await.expect("commit");
    }

    async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.fleet.store().reader())
            .await
            .expect("query")
    }

    /// Waits until `sql` (a count) reaches `want`, by looking at the database.
    async fn wait_for_count(&self, sql: &str, want: i64) {
        let reached =
            common::try_wait_until(WAIT, || async { self.scalar(sql).await == want }).await;
        assert!(
            reached,
            "{sql}: {}, expected {want}",
            self.scalar(sql).await
        );
    }

    fn unsure_dms(&self, sent: &[SentRecord]) -> Vec<SentRecord> {
        sent.iter()
            .filter(|r| {
                r.bot == self.lawrence
                    && r.chat_id == self.operator
                    && r.method == "sendMessage"
                    && r.text.contains(UNSURE)
            })
            .cloned()
            .collect()
    }

    async fn wait_for_unsure_dms(&self, n: usize) -> Vec<SentRecord> {
        let sent = self
            .sim
            .wait_for(|s| self.unsure_dms(s).len() >= n, WAIT)
            .await
            .unwrap_or_else(|s| panic!("fewer than {n} unsure DMs: {:#?}", self.unsure_dms(&s)));
        self.unsure_dms(&sent)
    }

    /// How many times each burst post reached the group.
    fn copies(&self) -> BTreeMap<String, usize> {
        let mut copies = BTreeMap::new();
        for r in self.sim.sent_by(&self.clawrence) {
            *copies.entry(r.text).or_insert(0) += 1;
        }
        copies
    }

    fn tap(&self, message: &SentRecord, data: &str) -> String {
        self.sim.user_taps(
            self.operator,
            &self.lawrence,
            message.chat_id,
            message.message_id,
            data,
        )
    }

    async fn answer(&self, query: &str) -> String {
        self.sim
            .wait_for_callback_answer(query, WAIT)
            .await
            .unwrap_or_else(|| panic!("tap {query} was not answered"))
    }
}

/// The callback data of `message`'s button labelled `label`.
fn button(message: &SentRecord, label: &str) -> String {
    let markup = message.reply_markup.as_ref().expect("buttons");
    markup["inline_keyboard"][0]
        .as_array()
        .expect("a row of buttons")
        .iter()
        .find(|b| b["text"] == label)
        .and_then(|b| b["callback_data"].as_str())
        .unwrap_or_else(|| panic!("no {label} button in {markup}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_lost_replies_in_a_burst_give_two_dms_and_resend_all_resends_only_the_undecided() {
    let b = Burst::start().await;
    // The burst's first send loses its reply: the operator hears at once.
    b.sim
        .inject_fault(&b.clawrence, "sendMessage", Fault::ReplyLost);
    b.enqueue(0..1).await;
    let first = b.wait_for_unsure_dms(1).await;
    assert!(
        first[0]
            .text
            .starts_with("⚠️ <b>Unsure whether a message was delivered</b>"),
        "{}",
        first[0].text
    );
    // The rest of the burst: nineteen more lost replies, within the same minute.
    for _ in 0..19 {
        b.sim
            .inject_fault(&b.clawrence, "sendMessage", Fault::ReplyLost);
    }
    b.enqueue(1..150).await;
    b.wait_for_count(
        "SELECT count(*) FROM outbox WHERE bot = 'clawrence' AND state IN ('sent', 'ambiguous')",
        150,
    )
    .await;
    assert_eq!(
        b.scalar("SELECT count(*) FROM outbox WHERE bot = 'clawrence' AND state = 'ambiguous'")
            .await,
        20
    );

    // The other nineteen wait, in one DM, for the minute after the first: the clock has not
    // moved, so it is still pending (it is the only DM waiting).
    let waiting: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT state, not_before FROM outbox WHERE bot = 'lawrence' AND text LIKE '%Unsure whether%'
         ORDER BY id",
    )
    .fetch_all(b.fleet.store().reader())
    .await
    .expect("query");
    assert_eq!(
        waiting,
        vec![
            ("sent".to_owned(), None),
            (
                "pending".to_owned(),
                Some("2026-11-22T06:31:00Z".to_owned())
            )
        ]
    );
    assert_eq!(b.unsure_dms(&b.sim.sent()).len(), 1);
    // Never resent on its own: each of the 150 posts reached the group once.
    let copies = b.copies();
    assert_eq!(copies.len(), 150);
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");

    // A minute later: the grouped DM.
    b.clock.advance(chrono::Duration::seconds(60));
    let dms = b.wait_for_unsure_dms(2).await;
    let grouped = &dms[1];
    assert!(
        grouped
            .text
            .starts_with("⚠️ <b>Unsure whether 19 messages from clawrence were delivered</b>"),
        "{}",
        grouped.text
    );
    assert!(grouped.text.contains("…and 9 more"), "{}", grouped.text);
    b.wait_for_count(
        "SELECT count(*) FROM outbox WHERE bot = 'lawrence' AND state <> 'sent'",
        0,
    )
    .await;
    assert_eq!(
        b.unsure_dms(&b.sim.sent()).len(),
        2,
        "two DMs for twenty uncertain sends"
    );

    // One of the nineteen is settled by hand first, from /ambiguous (per-row buttons).
    b.sim.user_dms(b.operator, &b.lawrence, "/ambiguous");
    let listed = b
        .sim
        .wait_for(
            |s| {
                s.iter()
                    .filter(|r| r.bot == b.lawrence && r.text.starts_with("<b>Row "))
                    .count()
                    == 10
            },
            WAIT,
        )
        .await
        .expect("/ambiguous lists ten rows");
    let one = listed
        .iter()
        .find(|r| r.bot == b.lawrence && r.text.starts_with("<b>Row "))
        .expect("a listed row")
        .clone();
    let by_hand = button(&one, "Mark sent");
    let query = b.tap(&one, &by_hand);
    assert_eq!(
        b.answer(&query).await,
        "Marked as sent; it will not be resent."
    );
    let marked: i64 = by_hand
        .rsplit(':')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("row id");

    // Resend all: the eighteen still undecided go again, once each.
    let query = b.tap(grouped, &button(grouped, "Resend all"));
    assert_eq!(
        b.answer(&query).await,
        "Resending 18 message(s) now. 1 were already decided and stay as they are."
    );
    b.wait_for_count(
        "SELECT count(*) FROM outbox WHERE bot = 'clawrence' AND state = 'ambiguous'",
        1,
    )
    .await;
    b.wait_for_count(
        "SELECT count(*) FROM outbox WHERE bot = 'clawrence' AND state <> 'sent' AND state <> 'ambiguous'",
        0,
    )
    .await;
    let resent: Vec<String> = sqlx::query_scalar(
        "SELECT o.text FROM outbox o JOIN audit a ON a.detail LIKE 'row ' || o.id || ':%'
         WHERE a.kind = 'outbox' AND a.decision LIKE 'ambiguous -> pending (resend by Wei Ming Tan, all of group %'
         ORDER BY o.id",
    )
    .fetch_all(b.fleet.store().reader())
    .await
    .expect("audit");
    assert_eq!(resent.len(), 18, "each resend audited: {resent:?}");
    let marked_text: String = sqlx::query_scalar("SELECT text FROM outbox WHERE id = ?")
        .bind(marked)
        .fetch_one(b.fleet.store().reader())
        .await
        .expect("row");
    let first_row_text: String = sqlx::query_scalar(
        "SELECT text FROM outbox WHERE bot = 'clawrence' AND state = 'ambiguous'",
    )
    .fetch_one(b.fleet.store().reader())
    .await
    .expect("the first DM's row is still undecided");
    let copies = b.copies();
    for (text, n) in &copies {
        let want = if resent.contains(text) { 2 } else { 1 };
        assert_eq!(*n, want, "{text}: {copies:?}");
    }
    assert_eq!(copies[&marked_text], 1, "marked sent by hand: not resent");
    assert_eq!(
        copies[&first_row_text], 1,
        "another DM's row: not resent by this group's button"
    );

    // The grouped DM now says who decided; a second tap, and the other button, change nothing.
    let edited = b
        .sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.method == "editMessageText" && r.message_id == grouped.message_id)
            },
            WAIT,
        )
        .await
        .expect("the grouped DM is edited");
    let edit = edited
        .iter()
        .rev()
        .find(|r| r.method == "editMessageText" && r.message_id == grouped.message_id)
        .expect("edit");
    assert!(
        edit.text
            .contains("Decided: <b>resend</b> for 18 row(s) by Wei Ming Tan"),
        "{}",
        edit.text
    );
    for label in ["Resend all", "Mark all sent"] {
        let query = b.tap(grouped, &button(grouped, label));
        assert_eq!(
            b.answer(&query).await,
            "Already decided: none of these messages is still unsure."
        );
    }
    assert_eq!(
        b.scalar("SELECT count(*) FROM outbox WHERE bot = 'clawrence' AND state = 'pending'")
            .await,
        0,
        "nothing queued again"
    );
    assert_eq!(b.sim.sent_by(&b.clawrence).len(), 150 + 18);
    b.fleet.stop().await.expect("clean stop");
}
