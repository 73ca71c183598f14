//! Claims end to end, in process, against the Telegram simulator: a claim filed with its
//! receipt photo, carded in #claims, approved by button and confirmed by Claims (and by no
//! other bot); two approvers tapping at once; two distinct approvers above the threshold; a
//! claimant who is an approver never deciding their own claim; rejection by reply with a
//! reason; a receipt sent later by reply in a DM; bad claims refused with nothing stored; and
//! the month's CSV export sent as a document, to approvers only. Also: a receipt whose card
//! never reached #claims fails its edit loudly instead of losing it, and the weekly summary
//! asked for by the operator runs through the scheduler and posts in #claims as Claims.

mod common;

use std::time::Duration;

use common::Deployment;
use herald::fleet::RunningFleet;
use herald::store::lease::LeaseSettings;
use herald_sim::{SentRecord, SimFile, SimPlace, Simulator};

const WAIT: Duration = Duration::from_secs(20);
const CLAIMS_THREAD: i32 = 35;
const WEI_MING: i64 = 5102938471; // operator, approver
const PRIYA: i64 = 6023847561; // approver
const DANIEL: i64 = 1738294056; // approver
const SITI: i64 = 7345601928; // member, not an approver

struct Team {
    deployment: Deployment,
    sim: Simulator,
    fleet: RunningFleet,
    claims: String,
}

impl Team {
    async fn start() -> Team {
        let deployment = Deployment::example();
        let sim = deployment.simulator().await;
        let mut options = deployment.run_options(&sim);
        options.lease = LeaseSettings::with_ttl(Duration::from_secs(3 * 3600));
        options.sender.limits.chat_gap = Duration::ZERO;
        options.sender.limits.group_max = 100_000;
        options.sender.limits.bot_max = 100_000;
        let fleet = herald::fleet::start(&options).await.expect("fleet starts");
        let claims = deployment.config().bots["claims"].username.clone();
        Team {
            deployment,
            sim,
            fleet,
            claims,
        }
    }

    /// `who` says `text` in #claims.
    fn says(&self, who: i64, text: &str) -> i64 {
        self.sim.user_says_in_topic(who, Some(CLAIMS_THREAD), text)
    }

    /// The first message of Claims matching `what`, once sent.
    async fn sent(&self, what: &str, matches: impl Fn(&SentRecord) -> bool) -> SentRecord {
        let claims = self.claims.clone();
        let found = self
            .sim
            .wait_for(|s| s.iter().any(|r| r.bot == claims && matches(r)), WAIT)
            .await;
        match found {
            Ok(sent) => sent
                .into_iter()
                .find(|r| r.bot == self.claims && matches(r))
                .expect("found"),
            Err(sent) => panic!(
                "{what}: not seen: {sent:#?}\naudit: {:#?}",
                self.table("SELECT kind || ' ' || decision || ' ' || IFNULL(detail, '') FROM audit WHERE kind = 'inbound' ORDER BY seq").await
            ),
        }
    }

    /// The card of claim `number`, once sent.
    async fn card(&self, number: &str) -> SentRecord {
        let needle = format!("Claim {number}</b> ·");
        self.sent(&format!("card {number}"), |r| {
            r.method == "sendMessage"
                && r.thread_id == Some(CLAIMS_THREAD)
                && r.text.contains(&needle)
        })
        .await
    }

    fn tap(&self, user: i64, card: &SentRecord, approve: bool) -> String {
        common::tap_card(
            &self.sim,
            user,
            &self.claims,
            card,
            if approve { 0 } else { 1 },
        )
    }

    /// The answer to tap `query`.
    async fn answer(&self, query: &str) -> String {
        common::answer_of(&self.sim, query).await
    }

    async fn table(&self, sql: &str) -> Vec<String> {
        common::table(&self.fleet, sql).await
    }

    fn edits_of(&self, card: &SentRecord) -> Vec<SentRecord> {
        self.sim
            .sent_by(&self.claims)
            .into_iter()
            .filter(|r| r.method == "editMessageText" && r.message_id == card.message_id)
            .collect()
    }

    /// What Claims sent `user` by DM.
    fn dms_to(&self, user: i64) -> Vec<String> {
        self.sim
            .sent_by(&self.claims)
            .into_iter()
            .filter(|r| r.chat_id == user)
            .map(|r| r.text)
            .collect()
    }

    async fn settled(&self) {
        common::settled(&self.sim, &self.fleet).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_with_its_photo_is_carded_approved_and_confirmed_by_claims_only() {
    let t = Team::start().await;
    let (message, file_id) = t.sim.user_sends_file(
        SITI,
        SimPlace::Group(Some(CLAIMS_THREAD)),
        None,
        SimFile::Photo,
        Some("/claim 45.20 SGD taxi to client meeting & back"),
    );
    let ack = t
        .sent("the acknowledgement", |r| {
            r.reply_to_message_id == Some(message)
        })
        .await;
    assert!(
        ack.text.contains("Claim <b>C-0001</b> filed: SGD 45.20"),
        "{}",
        ack.text
    );
    assert!(ack.text.contains("Receipt attached."), "{}", ack.text);
    let card = t.card("C-0001").await;
    assert!(card.text.contains("Siti Rahman"), "{}", card.text);
    assert!(
        card.text.contains("taxi to client meeting &amp; back"),
        "{}",
        card.text
    );
    assert!(
        card.text.contains("Receipt attached (photo)"),
        "{}",
        card.text
    );
    assert_eq!(
        t.table("SELECT receipt_file_id FROM claims").await,
        [file_id],
        "the largest size's file_id is stored, nothing downloaded"
    );

    let query = t.tap(PRIYA, &card, true);
    assert_eq!(t.answer(&query).await, "Approved. The claimant is told.");
    let confirmation = t
        .sent("the confirmation in #claims", |r| {
            r.method == "sendMessage" && r.text.starts_with("✅ Claim <b>C-0001</b>")
        })
        .await;
    assert_eq!(confirmation.thread_id, Some(CLAIMS_THREAD));
    assert!(
        confirmation.text.contains("approved by Priya Raman"),
        "{}",
        confirmation.text
    );
    t.sent("the claimant's DM", |r| r.chat_id == SITI).await;
    t.settled().await;
    let dms = t.dms_to(SITI);
    assert_eq!(dms.len(), 1, "{dms:?}");
    assert!(dms[0].starts_with("✅ Your claim <b>C-0001</b>"), "{dms:?}");
    let edits = t.edits_of(&card);
    let last = edits.last().expect("the card was edited");
    assert!(
        last.text.contains("✅ Approved by Priya Raman"),
        "{}",
        last.text
    );
    assert!(last.reply_markup.is_none(), "a decided card has no buttons");
    // No other bot said anything about the claim.
    let others: Vec<SentRecord> = t
        .sim
        .sent()
        .into_iter()
        .filter(|r| r.bot != t.claims && r.text.contains("C-0001"))
        .collect();
    assert!(others.is_empty(), "{others:#?}");
    assert_eq!(t.table("SELECT state FROM claims").await, ["approved"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_tapping_at_once_give_one_decision() {
    let t = Team::start().await;
    let mut cards = Vec::new();
    // Ten: a member's commands per minute are limited (10 in the example).
    for n in 1..=10 {
        t.says(SITI, &format!("/claim {n}.50 SGD parking {n}"));
        cards.push(t.card(&format!("C-{n:04}")).await);
    }
    for card in &cards {
        t.tap(PRIYA, card, true);
        t.tap(DANIEL, card, true);
    }
    t.sent("10 confirmations", |_| {
        t.sim
            .sent_by(&t.claims)
            .iter()
            .filter(|r| r.text.starts_with("✅ Claim <b>C-"))
            .count()
            >= 10
    })
    .await;
    t.settled().await;
    let answers: Vec<String> = t
        .sim
        .callback_answers()
        .into_iter()
        .filter_map(|a| a.text)
        .collect();
    let approved = answers
        .iter()
        .filter(|a| *a == "Approved. The claimant is told.");
    assert_eq!(approved.count(), 10, "{answers:?}");
    let refused = answers
        .iter()
        .filter(|a| a.starts_with("Already approved by"));
    assert_eq!(refused.count(), 10, "{answers:?}");
    assert_eq!(
        t.table("SELECT count(*) || '' FROM claim_decisions").await,
        ["10"],
        "one decision per claim"
    );
    assert_eq!(t.dms_to(SITI).len(), 10, "one confirmation DM per claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_threshold_two_different_approvers_are_needed_and_nobody_decides_their_own() {
    let t = Team::start().await;
    t.says(SITI, "/claim 1,200.00 SGD client dinner");
    let card = t.card("C-0001").await;
    assert!(
        card.text.contains("Needs two approvers (above SGD 500.00)"),
        "{}",
        card.text
    );

    let q = t.tap(SITI, &card, true);
    assert_eq!(t.answer(&q).await, "Only approvers can decide claims.");
    let q = t.tap(PRIYA, &card, true);
    assert_eq!(
        t.answer(&q).await,
        "Approved (1 of 2). It needs a second approver."
    );
    let q = t.tap(PRIYA, &card, true);
    assert_eq!(
        t.answer(&q).await,
        "You already approved this claim; it needs a second, different approver."
    );
    t.settled().await;
    let edits = t.edits_of(&card);
    let halfway = edits.last().expect("the card shows the first approval");
    assert!(
        halfway.text.contains("✅ Approved (1 of 2) by Priya Raman"),
        "{}",
        halfway.text
    );
    assert!(
        halfway.reply_markup.is_some(),
        "still open: the buttons stay"
    );
    assert!(
        t.dms_to(SITI).is_empty(),
        "not decided yet: the claimant hears nothing"
    );

    let q = t.tap(DANIEL, &card, true);
    assert_eq!(t.answer(&q).await, "Approved. The claimant is told.");
    t.sent("the claimant's DM", |r| r.chat_id == SITI).await;
    t.settled().await;
    assert!(
        t.dms_to(SITI)[0].contains("approved by Priya Raman and Daniel Koh"),
        "{:?}",
        t.dms_to(SITI)
    );
    assert_eq!(
        t.table("SELECT decided_by FROM claim_decisions ORDER BY step")
            .await,
        ["Priya Raman", "Daniel Koh"]
    );

    // An approver's own claim goes to the others.
    t.says(WEI_MING, "/claim 30 SGD team snacks");
    let own = t.card("C-0002").await;
    let q = t.tap(WEI_MING, &own, true);
    assert_eq!(
        t.answer(&q).await,
        "You can't decide your own claim; another approver will."
    );
    t.settled().await;
    assert_eq!(
        t.table("SELECT state FROM claims WHERE id = 2").await,
        ["pending"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_by_reply_in_a_dm_and_a_rejection_by_reply_with_its_reason() {
    let t = Team::start().await;
    let message = t
        .sim
        .user_dms(SITI, &t.claims, "/claim 18 SGD lunch with a prospect");
    let ack = t
        .sent("the acknowledgement", |r| {
            r.chat_id == SITI && r.text.contains("C-0001")
        })
        .await;
    assert!(
        ack.text
            .contains("reply to this message with its photo or file"),
        "{}",
        ack.text
    );
    assert_ne!(ack.message_id, message);
    let (_, file_id) = t.sim.user_sends_file(
        SITI,
        SimPlace::Dm(&t.claims),
        Some(ack.message_id),
        SimFile::Document("receipt.pdf".into()),
        None,
    );
    t.sent("the receipt's confirmation", |r| {
        r.chat_id == SITI && r.text.contains("Receipt added to claim <b>C-0001</b>")
    })
    .await;
    let card = t.card("C-0001").await;
    t.settled().await;
    let edited = t.edits_of(&card);
    assert!(
        edited
            .last()
            .is_some_and(|e| e.text.contains("Receipt attached (document)")),
        "{edited:#?}"
    );
    let stored = t.table("SELECT receipt_file_id FROM claims").await;
    assert_eq!(stored, std::slice::from_ref(&file_id));

    t.sim
        .user_replies(DANIEL, Some(CLAIMS_THREAD), card.message_id, "reject");
    t.sent("the usage answer", |r| {
        r.text.contains("Say why: reply “reject REASON”.")
    })
    .await;
    t.sim.user_replies(
        DANIEL,
        Some(CLAIMS_THREAD),
        card.message_id,
        "reject <b>not</b> a business expense",
    );
    t.sent("the claimant's DM", |r| {
        r.chat_id == SITI && r.text.starts_with("❌ Your claim")
    })
    .await;
    t.settled().await;
    let dm = t
        .dms_to(SITI)
        .into_iter()
        .find(|d| d.starts_with("❌"))
        .expect("the rejection DM");
    assert!(
        dm.contains("rejected by Daniel Koh: &lt;b&gt;not&lt;/b&gt; a business expense"),
        "{dm}"
    );
    assert_eq!(t.table("SELECT state FROM claims").await, ["rejected"]);
    // A receipt after the decision changes nothing.
    t.sim.user_sends_file(
        SITI,
        SimPlace::Dm(&t.claims),
        Some(ack.message_id),
        SimFile::Photo,
        None,
    );
    t.sent("the refusal", |r| r.text.contains("is already rejected"))
        .await;
    t.settled().await;
    assert_eq!(
        t.table("SELECT receipt_file_id FROM claims").await,
        [file_id]
    );
}

/// `/run claims-summary` goes through the scheduler like a Friday slot: Claims posts the
/// week's totals in #claims (approved per currency, filed, what still waits), and the slot
/// is recorded done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_summary_runs_through_the_scheduler_and_posts_as_claims() {
    let t = Team::start().await;
    t.says(SITI, "/claim 45.20 SGD taxi to client meeting");
    let card = t.card("C-0001").await;
    let query = t.tap(PRIYA, &card, true);
    assert_eq!(t.answer(&query).await, "Approved. The claimant is told.");
    t.says(SITI, "/claim 12 MYR parking");
    t.card("C-0002").await;
    t.settled().await;
    // A manual run's slot is its second: the claims were filed in an earlier one.
    let clock = herald::clock::Clock::system();
    let filed = clock.now();
    common::wait_until("the next second", || {
        std::future::ready(clock.now() >= filed + chrono::Duration::seconds(1))
    })
    .await;
    let lawrence = t.deployment.config().bots["lawrence"].username.clone();
    t.sim.user_dms(WEI_MING, &lawrence, "/run claims-summary");
    let summary = t
        .sent("the summary", |r| r.text.contains("Claims this week"))
        .await;
    assert_eq!(summary.thread_id, Some(CLAIMS_THREAD));
    for needle in [
        "✅ Approved: <b>SGD 45.20</b> in 1 claim\n",
        "Filed: 2 · rejected: 0",
        "⏳ Awaiting a decision:\nC-0002 · Siti Rahman · MYR 12.00 · 0 days old",
    ] {
        assert!(
            summary.text.contains(needle),
            "{needle:?} in {}",
            summary.text
        );
    }
    t.settled().await;
    assert_eq!(
        t.table("SELECT state FROM job_slots WHERE job = 'claims-summary'")
            .await,
        ["done"]
    );
    let others: Vec<SentRecord> = t
        .sim
        .sent()
        .into_iter()
        .filter(|r| r.bot != t.claims && r.text.contains("Claims this week"))
        .collect();
    assert!(others.is_empty(), "{others:#?}");
}

/// The card names its message by outbox row ([`herald::outbox::MessageKind::EditOf`]). When
/// the card itself never left (#claims was deleted), the receipt's edit has nothing to edit:
/// it fails as Telegram would refuse it, the operator is told, and nothing is edited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_for_a_card_that_never_left_fails_its_edit_loudly() {
    let t = Team::start().await;
    t.sim.delete_topic(CLAIMS_THREAD);
    t.sim
        .user_dms(SITI, &t.claims, "/claim 18 SGD lunch with a prospect");
    let ack = t
        .sent("the acknowledgement", |r| {
            r.chat_id == SITI && r.text.contains("C-0001")
        })
        .await;
    t.settled().await;
    let (_, file_id) = t.sim.user_sends_file(
        SITI,
        SimPlace::Dm(&t.claims),
        Some(ack.message_id),
        SimFile::Photo,
        None,
    );
    t.sent("the receipt's confirmation", |r| {
        r.chat_id == SITI && r.text.contains("Receipt added to claim <b>C-0001</b>")
    })
    .await;
    t.settled().await;
    let rows = t
        .table(
            "SELECT kind || ' ' || state || ' ' || IFNULL(error, '') FROM outbox
             WHERE bot = 'claims' AND chat_id != 7345601928 ORDER BY id",
        )
        .await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(
        rows[0].starts_with("send failed") && rows[0].contains("message thread not found"),
        "{rows:#?}"
    );
    assert!(
        rows[1].starts_with("edit failed")
            && rows[1].contains("message to edit not found (outbox row"),
        "{rows:#?}"
    );
    assert!(
        t.sim
            .sent_by(&t.claims)
            .iter()
            .all(|r| r.method != "editMessageText"),
        "nothing was edited"
    );
    // One DM per refused row, to the operator, naming Telegram's reason.
    let told = t
        .table(
            "SELECT text FROM outbox WHERE bot = 'lawrence' AND chat_id = 5102938471 ORDER BY id",
        )
        .await;
    assert!(
        told.iter()
            .any(|text| text.contains("message to edit not found")),
        "{told:#?}"
    );
    // The receipt itself is kept with the claim.
    assert_eq!(
        t.table("SELECT receipt_file_id FROM claims").await,
        [file_id]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_claims_are_refused_with_the_expected_form_and_store_nothing() {
    let t = Team::start().await;
    let cases = [
        ("/claim", "Say how much, in which currency and why"),
        ("/claim -5 SGD taxi", "A claim can't be negative"),
        ("/claim 0 SGD taxi", "A claim must be more than zero"),
        (
            "/claim 5 EUR taxi",
            "I don't take claims in EUR. Currencies: SGD, MYR, USD.",
        ),
        ("/claim 5 SGD", "Say what it was for"),
        ("/claim 5 taxi", "Say which currency (SGD, MYR, USD)"),
        ("/claim 1e9 SGD yacht", "is not an amount"),
        (
            "/claim 99999 SGD yacht",
            "is more than the 10000.00 SGD a claim may be",
        ),
        (
            "/claim 4.505 SGD gum",
            "SGD amounts have at most 2 digits after the point",
        ),
    ];
    for (text, answer) in cases {
        let id = t.says(SITI, text);
        let reply = t.sent(text, |r| r.reply_to_message_id == Some(id)).await;
        assert!(reply.text.contains(answer), "{text}: {}", reply.text);
        assert!(
            reply
                .text
                .contains("/claim 45.20 SGD taxi to client meeting")
                || !answer.starts_with("Say"),
            "{text}: the refusal shows the form: {}",
            reply.text
        );
    }
    t.settled().await;
    assert_eq!(t.table("SELECT count(*) || '' FROM claims").await, ["0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_months_approved_claims_export_as_a_csv_document_for_approvers_only() {
    let t = Team::start().await;
    t.says(SITI, "/claim 45.20 SGD taxi, \"airport\"");
    t.says(SITI, "/claim 12 MYR parking");
    t.says(SITI, "/claim 7 USD coffee");
    for number in ["C-0001", "C-0002"] {
        let card = t.card(number).await;
        let q = t.tap(PRIYA, &card, true);
        t.answer(&q).await;
    }
    t.card("C-0003").await;
    t.settled().await;

    let asked = t.says(SITI, "/claims export");
    let refusal = t
        .sent("the refusal", |r| r.reply_to_message_id == Some(asked))
        .await;
    assert_eq!(refusal.text, "Only approvers can export claims.");
    let asked = t.says(SITI, "/claims");
    let mine = t
        .sent("the list", |r| r.reply_to_message_id == Some(asked))
        .await;
    assert!(
        mine.text
            .contains("<b>C-0003</b> · USD 7.00 · coffee · pending (0 of 1 approvals)"),
        "{}",
        mine.text
    );
    assert!(
        mine.text.contains("<b>C-0001</b> · SGD 45.20"),
        "{}",
        mine.text
    );

    let asked = t.says(PRIYA, "/claims export");
    let document = t
        .sent("the CSV", |r| {
            r.method == "sendDocument" && r.reply_to_message_id == Some(asked)
        })
        .await;
    let file = document.document.expect("a document");
    assert!(
        file.file_name.starts_with("claims-20"),
        "{}",
        file.file_name
    );
    assert!(file.file_name.ends_with(".csv"), "{}", file.file_name);
    let csv = String::from_utf8(file.content).expect("UTF-8");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "claim,date,member,amount,currency,reason,approver,receipt"
    );
    assert!(
        lines[1].starts_with("C-0001,")
            && lines[1].contains(",Siti Rahman,45.20,SGD,\"taxi, \"\"airport\"\"\",Priya Raman,"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("C-0002,") && lines[2].contains(",12,MYR,parking,"),
        "{csv}"
    );
    assert_eq!(
        lines.len(),
        4,
        "two approved claims and the final CRLF: {csv}"
    );
    assert!(
        document.text.contains("2 claim(s)"),
        "the caption: {}",
        document.text
    );

    let asked = t.says(PRIYA, "/claims export 1999-13");
    let refusal = t
        .sent("the refusal", |r| r.reply_to_message_id == Some(asked))
        .await;
    assert!(refusal.text.contains("is not a month"), "{}", refusal.text);
}
