//! Finance (Claudia) end to end, in process, against the Telegram simulator and the fake Xero:
//! one card per invoice awaiting approval (repolling never duplicates), approval by button
//! and by reply, two approvers tapping at once (100 times: one Xero update and one
//! confirmation each), rejection with a reason, refusals of non-approvers, expiry, an invoice
//! approved directly in Xero, a failing Xero write retried and reported, and the AR brief
//! failing loudly with nothing posted.

mod common;

use std::time::Duration;

use common::Deployment;
use herald::approvals::DeskSettings;
use herald::fleet::RunningFleet;
use herald::store::lease::LeaseSettings;
use herald_sim::xero::{FakeXero, FakeXeroConfig, XeroFault, XeroInvoice, XeroRoute, XeroStatus};
use herald_sim::{SentRecord, Simulator};

const WAIT: Duration = Duration::from_secs(20);
const APPROVALS: i32 = 27;
const AR_BRIEF: i32 = 21;
const WEI_MING: i64 = 5102938471; // operator, approver
const PRIYA: i64 = 6023847561; // approver
const DANIEL: i64 = 1738294056; // approver
const SITI: i64 = 7345601928; // not an approver

struct Finance {
    options: herald::fleet::RunOptions,
    /// Keeps the deployment's temporary folder alive.
    _deployment: Deployment,
    sim: Simulator,
    xero: FakeXero,
    fleet: RunningFleet,
    claudia: String,
    lawrence: String,
}

/// A SUBMITTED invoice, shaped like the fixtures, numbered `n`.
fn submitted(n: u32) -> XeroInvoice {
    let mut invoice = FakeXero::fixture_invoices()
        .into_iter()
        .next()
        .expect("a fixture invoice");
    invoice.invoice_id = format!("5f1c2b9e-8d7a-4e6f-b5c4-{n:012}");
    invoice.number = format!("INV-{n:04}");
    invoice.status = XeroStatus::Submitted;
    invoice.contact_name = "Tan & Sons <Trading>".into();
    invoice
}

impl Finance {
    async fn start(
        invoices: impl IntoIterator<Item = XeroInvoice>,
        edit: impl FnOnce(&Deployment),
    ) -> Finance {
        Self::start_with(invoices, edit, |_| {}).await
    }

    async fn start_with(
        invoices: impl IntoIterator<Item = XeroInvoice>,
        edit: impl FnOnce(&Deployment),
        settings: impl FnOnce(&mut DeskSettings),
    ) -> Finance {
        let xero = FakeXero::start(FakeXeroConfig::default())
            .await
            .expect("fake Xero starts");
        for invoice in invoices {
            xero.insert_invoice(invoice);
        }
        let defaults = FakeXeroConfig::default();
        let deployment =
            Deployment::with_xero(&xero, &defaults.tenant_id, Some(&defaults.refresh_token));
        deployment.append(
            "claudia.toml",
            "\n[approvals]\nthread = \"approvals\"\nexpire_days = 7\n",
        );
        edit(&deployment);
        let sim = deployment.simulator().await;
        let mut options = deployment.run_options(&sim);
        // Renewals an hour apart: a renewal that saw this process's own commits wakes every
        // task, which would hide a missing wake-up.
        options.lease = LeaseSettings::with_ttl(Duration::from_secs(3 * 3600));
        // Loose pacing: the 100-card test is about decisions, not Telegram's flood limits.
        options.sender.limits.chat_gap = Duration::ZERO;
        options.sender.limits.group_max = 100_000;
        options.sender.limits.bot_max = 100_000;
        let mut desk = DeskSettings {
            poll_every: Duration::from_millis(300),
            panic_pause: Duration::from_millis(50),
            retry_first: Duration::from_millis(200),
            max_attempts: 12,
            expire_after: chrono::Duration::days(7),
        };
        settings(&mut desk);
        options.desk = Some(desk);
        let fleet = herald::fleet::start(&options).await.expect("fleet starts");
        let config = deployment.config();
        Finance {
            options,
            claudia: config.bots["claudia"].username.clone(),
            lawrence: config.bots["lawrence"].username.clone(),
            _deployment: deployment,
            sim,
            xero,
            fleet,
        }
    }

    /// Stops herald cleanly and starts it again on the same database.
    async fn restart(self) -> Finance {
        self.fleet.stop().await.expect("clean stop");
        let fleet = herald::fleet::start(&self.options)
            .await
            .expect("fleet restarts");
        Finance { fleet, ..self }
    }

    fn claudia_in(&self, thread: i32) -> Vec<SentRecord> {
        self.sim
            .sent_by(&self.claudia)
            .into_iter()
            .filter(|r| r.thread_id == Some(thread))
            .collect()
    }

    async fn wait_until(
        &self,
        what: &str,
        done: impl Fn(&[SentRecord]) -> bool,
    ) -> Vec<SentRecord> {
        match self.sim.wait_for(|s| done(s), WAIT).await {
            Ok(sent) => sent,
            Err(sent) => panic!(
                "{what}: not seen: {sent:#?}\naudit: {:#?}",
                self.table("SELECT kind || ' ' || decision || ' ' || IFNULL(detail, '') FROM audit ORDER BY seq").await
            ),
        }
    }

    /// The card of `number`, once sent.
    async fn card(&self, number: &str) -> SentRecord {
        let claudia = self.claudia.clone();
        let needle = format!("Invoice {number}</b> awaits approval");
        let sent = self
            .wait_until(&format!("card {number}"), |s| {
                s.iter().any(|r| {
                    r.bot == claudia && r.method == "sendMessage" && r.text.contains(&needle)
                })
            })
            .await;
        sent.into_iter()
            .find(|r| {
                r.bot == self.claudia && r.method == "sendMessage" && r.text.contains(&needle)
            })
            .expect("the card")
    }

    fn tap(&self, user: i64, card: &SentRecord, approve: bool) -> String {
        common::tap_card(
            &self.sim,
            user,
            &self.claudia,
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

    fn operator_dms(&self) -> Vec<String> {
        self.sim
            .sent_by(&self.lawrence)
            .into_iter()
            .filter(|r| r.chat_id == WEI_MING)
            .map(|r| r.text)
            .collect()
    }

    /// The texts `card` was edited to, in order.
    fn edits_of(&self, card: &SentRecord) -> Vec<String> {
        self.claudia_in(APPROVALS)
            .into_iter()
            .filter(|r| r.method == "editMessageText" && r.message_id == card.message_id)
            .map(|r| r.text)
            .collect()
    }

    /// Waits for an operator DM containing `needle`.
    async fn wait_for_dm(&self, needle: &str) {
        self.wait_until(&format!("an operator DM with {needle:?}"), |_| {
            self.operator_dms().iter().any(|d| d.contains(needle))
        })
        .await;
    }

    /// Waits until the desk and herald have finished with everything so far: every update
    /// handled and sent ([`common::settled`]); then the desk has polled Xero twice more (its
    /// second poll began after the first had written its cards) and no approval awaits its
    /// Xero write; then whatever that queued has been sent.
    async fn settled(&self) {
        common::settled(&self.sim, &self.fleet).await;
        let polls = || {
            self.xero
                .requests()
                .iter()
                .filter(|r| r.route == Some(XeroRoute::Invoices))
                .count()
        };
        let before = polls();
        common::wait_until("two more polls of Xero by the desk", || {
            std::future::ready(polls() >= before + 2)
        })
        .await;
        common::wait_until("every approval written to Xero", || async {
            self.table("SELECT count(*) || '' FROM approvals WHERE xero = 'pending'")
                .await
                == ["0"]
        })
        .await;
        common::settled(&self.sim, &self.fleet).await;
    }

    fn confirmations(&self, number: &str) -> usize {
        self.claudia_in(APPROVALS)
            .iter()
            .filter(|r| {
                r.method == "sendMessage"
                    && r.text.starts_with(&format!("✅ Invoice <b>{number}</b>"))
            })
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_card_per_invoice_and_approval_by_button_reaches_xero_once() {
    let f = Finance::start([submitted(1)], |_| {}).await;
    let card = f.card("INV-0001").await;
    assert_eq!(card.thread_id, Some(APPROVALS));
    assert!(
        card.text.contains("Tan &amp; Sons &lt;Trading&gt;"),
        "{}",
        card.text
    );
    assert!(card.text.contains("SGD 3,270.00"), "{}", card.text);
    assert!(
        card.text.contains("“approve” or “reject REASON”"),
        "{}",
        card.text
    );
    // Several more polls: still one card.
    f.settled().await;
    let cards = f
        .claudia_in(APPROVALS)
        .iter()
        .filter(|r| r.text.contains("awaits approval") && r.method == "sendMessage")
        .count();
    assert_eq!(cards, 1);

    let tap = f.tap(PRIYA, &card, true);
    assert_eq!(f.answer(&tap).await, "Approved. Writing it to Xero.");
    f.wait_until("the confirmation", |_| f.confirmations("INV-0001") == 1)
        .await;
    assert_eq!(f.xero.authorisations(), 1);
    let keys: Vec<String> = f
        .xero
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(XeroRoute::Authorise))
        .filter_map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("herald-approve-5f1c2b9e-8d7a-4e6f-b5c4-000000000001-"));
    let edits = f.edits_of(&card);
    assert!(
        edits
            .last()
            .expect("a final edit")
            .contains("Approved by Priya Raman at"),
        "{edits:?}"
    );
    assert!(
        edits
            .last()
            .expect("a final edit")
            .contains("authorised in Xero"),
        "{edits:?}"
    );
    assert_eq!(
        f.xero
            .invoice("5f1c2b9e-8d7a-4e6f-b5c4-000000000001")
            .expect("invoice")
            .status,
        XeroStatus::Authorised
    );
    // Only Claudia posted in the approvals thread.
    let others: Vec<_> = f
        .sim
        .sent()
        .into_iter()
        .filter(|r| r.thread_id == Some(APPROVALS) && r.bot != f.claudia)
        .collect();
    assert!(others.is_empty(), "{others:#?}");
    assert!(
        f.operator_dms().is_empty(),
        "boring on success: {:?}",
        f.operator_dms()
    );
}

/// The desk has no tick: between its looks at Xero (here an hour apart) it sleeps, and an
/// approval reaches Xero because the decision's commit wakes the desk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_wakes_the_desk_which_otherwise_sleeps_until_its_next_look_at_xero() {
    let f = Finance::start_with(
        [submitted(1)],
        |_| {},
        |desk| desk.poll_every = Duration::from_secs(3600),
    )
    .await;
    let card = f.card("INV-0001").await;
    let tap = f.tap(PRIYA, &card, true);
    assert_eq!(f.answer(&tap).await, "Approved. Writing it to Xero.");
    f.wait_until("the confirmation", |_| f.confirmations("INV-0001") == 1)
        .await;
    assert_eq!(f.xero.authorisations(), 1);
    let routes: Vec<_> = f.xero.requests().into_iter().map(|r| r.route).collect();
    assert_eq!(
        routes
            .iter()
            .filter(|r| **r == Some(XeroRoute::Invoices))
            .count(),
        1,
        "one look at Xero, at start: {routes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_tapping_at_once_100_times_give_one_update_and_one_confirmation_each() {
    let f = Finance::start((1..=100).map(submitted), |_| {}).await;
    let mut cards = Vec::new();
    for n in 1..=100 {
        cards.push(f.card(&format!("INV-{n:04}")).await);
    }
    for card in &cards {
        f.tap(PRIYA, card, true);
        f.tap(DANIEL, card, true);
    }
    f.wait_until("100 confirmations", |s| {
        s.iter()
            .filter(|r| r.text.starts_with("✅ Invoice <b>INV-"))
            .count()
            >= 100
    })
    .await;
    f.settled().await;
    assert_eq!(f.xero.authorisations(), 100);
    for n in 1..=100 {
        let number = format!("INV-{n:04}");
        assert_eq!(f.confirmations(&number), 1, "{number}");
        let id = format!("5f1c2b9e-8d7a-4e6f-b5c4-{n:012}");
        let writes = f
            .xero
            .requests()
            .into_iter()
            .filter(|r| {
                r.route == Some(XeroRoute::Authorise)
                    && r.body.as_ref().is_some_and(|b| b.to_string().contains(&id))
            })
            .count();
        assert!(writes <= 1, "{number}: {writes} authorise requests");
    }
    let answers: Vec<String> = f
        .sim
        .callback_answers()
        .into_iter()
        .filter_map(|a| a.text)
        .collect();
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.starts_with("Approved."))
            .count(),
        100
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.starts_with("Already approved by"))
            .count(),
        100,
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_by_reply_with_reason_and_refusals() {
    let f = Finance::start([submitted(7)], |_| {}).await;
    let card = f.card("INV-0007").await;
    // A non-approver, by button and by reply.
    let tap = f.tap(SITI, &card, true);
    assert_eq!(f.answer(&tap).await, "Only approvers can decide invoices.");
    let reply = f
        .sim
        .user_replies(SITI, Some(APPROVALS), card.message_id, "approve");
    f.wait_until("the refusal", |s| {
        s.iter()
            .any(|r| r.reply_to_message_id == Some(reply) && r.text.contains("Only approvers"))
    })
    .await;
    // The Reject button asks for a reason; a bare "reject" reply too.
    let tap = f.tap(PRIYA, &card, false);
    assert_eq!(
        f.answer(&tap).await,
        "To reject, reply to the card: reject REASON"
    );
    let bare = f
        .sim
        .user_replies(PRIYA, Some(APPROVALS), card.message_id, "reject");
    f.wait_until("say why", |s| {
        s.iter()
            .any(|r| r.reply_to_message_id == Some(bare) && r.text.contains("Say why"))
    })
    .await;
    let rejected = f.sim.user_replies(
        PRIYA,
        Some(APPROVALS),
        card.message_id,
        "reject wrong PO & <amount>",
    );
    f.wait_until("the rejection", |s| {
        s.iter()
            .any(|r| r.text.starts_with("❌ Invoice <b>INV-0007</b>"))
    })
    .await;
    let late = f
        .sim
        .user_replies(DANIEL, Some(APPROVALS), card.message_id, "approve");
    let sent = f
        .wait_until("already rejected", |s| {
            s.iter().any(|r| r.reply_to_message_id == Some(late))
        })
        .await;
    let late_answer = sent
        .iter()
        .find(|r| r.reply_to_message_id == Some(late))
        .expect("answer");
    assert!(
        late_answer
            .text
            .starts_with("Already rejected by Priya Raman at"),
        "{}",
        late_answer.text
    );
    let confirmation = f
        .claudia_in(APPROVALS)
        .into_iter()
        .find(|r| r.text.starts_with("❌ Invoice"))
        .expect("confirmation");
    assert!(
        confirmation.text.contains("rejected by Priya Raman"),
        "{}",
        confirmation.text
    );
    assert!(
        confirmation.text.contains("wrong PO &amp; &lt;amount&gt;"),
        "{}",
        confirmation.text
    );
    assert!(f
        .sim
        .sent()
        .iter()
        .any(|r| r.reply_to_message_id == Some(rejected)));
    assert_eq!(f.xero.authorisations(), 0);
    let audit = f
        .table("SELECT decision FROM audit WHERE bot = 'claudia' AND command = 'approval' ORDER BY seq")
        .await;
    assert!(
        audit
            .iter()
            .filter(|d| d.starts_with("refused: not an approver"))
            .count()
            == 2,
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_expire_and_invoices_approved_in_xero_are_reported_not_reauthorised() {
    let f = Finance::start_with(
        [submitted(3), submitted(4)],
        |_| {},
        |desk| {
            desk.expire_after = chrono::Duration::seconds(3);
        },
    )
    .await;
    let card3 = f.card("INV-0003").await;
    f.card("INV-0004").await;
    // INV-0004 is approved directly in Xero while its card is open.
    f.xero.set_status(
        "5f1c2b9e-8d7a-4e6f-b5c4-000000000004",
        XeroStatus::Authorised,
    );
    f.wait_until("the report", |s| {
        s.iter().any(|r| {
            r.text.contains("Invoice <b>INV-0004</b>")
                && r.text.contains("was approved directly in Xero")
        })
    })
    .await;
    // INV-0003 expires after 3 s.
    f.wait_until("the expiry edit", |s| {
        s.iter().any(|r| {
            r.method == "editMessageText"
                && r.message_id == card3.message_id
                && r.text.contains("Expired")
        })
    })
    .await;
    let tap = f.tap(PRIYA, &card3, true);
    assert_eq!(f.answer(&tap).await, "This card is already expired.");
    assert_eq!(f.xero.authorisations(), 0);
    let states = f
        .table("SELECT number || ' ' || state FROM approvals ORDER BY number")
        .await;
    assert_eq!(states, vec!["INV-0003 expired", "INV-0004 closed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_xero_write_stays_approved_is_retried_and_the_operator_is_told() {
    let f = Finance::start([submitted(9)], |_| {}).await;
    let card = f.card("INV-0009").await;
    f.sim.user_dms(WEI_MING, &f.lawrence, "/pending");
    f.wait_until("/pending", |_| {
        f.operator_dms()
            .iter()
            .any(|d| d.contains("Open approvals</b> (1)") && d.contains("INV-0009"))
    })
    .await;
    f.xero
        .fail_next(XeroRoute::Authorise, XeroFault::ServerError, 2);
    let _tap = f.tap(WEI_MING, &card, true);
    f.wait_for_dm("Approved, not yet in Xero").await;
    f.wait_until("the confirmation", |_| f.confirmations("INV-0009") == 1)
        .await;
    assert_eq!(f.xero.authorisations(), 1);
    let dms = f.operator_dms();
    assert_eq!(
        dms.iter()
            .filter(|d| d.contains("Approved, not yet in Xero"))
            .count(),
        1,
        "{dms:?}"
    );
    let keys: std::collections::BTreeSet<String> = f
        .xero
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(XeroRoute::Authorise))
        .filter_map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 1, "every retry uses the same key: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ar_brief_posts_from_xero_and_a_xero_failure_posts_nothing_and_tells_the_operator() {
    let f = Finance::start(FakeXero::fixture_invoices(), |d| {
        d.append(
            "claudia.toml",
            "\n[[jobs]]\nname = \"ar-brief\"\nkind = \"ar_brief\"\ncron = \"30 9 * * FRI\"\ntimezone = \"Asia/Singapore\"\nthread = \"ar-brief\"\ntemplate = \"ar_brief.html\"\n",
        );
    })
    .await;
    let console = f.lawrence.clone();
    f.sim.user_dms(WEI_MING, &console, "/run ar-brief");
    f.wait_until("the brief", |_| !f.claudia_in(AR_BRIEF).is_empty())
        .await;
    let brief = &f.claudia_in(AR_BRIEF)[0].text;
    assert!(brief.contains("Tan &amp; Sons Trading Pte Ltd"), "{brief}");

    // A manual run's slot is its second: the next one must be in another second.
    let slot = f
        .table("SELECT slot FROM job_slots WHERE job = 'ar-brief'")
        .await;
    let slot = herald::store::parse_time(&slot[0]).expect("the slot's time");
    let clock = herald::clock::Clock::system();
    common::wait_until("the next second on the wall clock", || {
        std::future::ready(clock.now() >= slot + chrono::Duration::seconds(1))
    })
    .await;
    f.xero
        .fail_next(XeroRoute::Invoices, XeroFault::ServerError, 100);
    f.sim.user_dms(WEI_MING, &console, "/run ar-brief");
    f.wait_until("the failure DM", |_| {
        f.operator_dms()
            .iter()
            .any(|d| d.contains("Job failed: ar-brief") && d.contains("Xero"))
    })
    .await;
    assert_eq!(
        f.claudia_in(AR_BRIEF).len(),
        1,
        "nothing partial was posted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_not_yet_in_xero_survives_a_restart_and_completes_once() {
    let f = Finance::start_with(
        [submitted(11)],
        |_| {},
        |desk| {
            desk.retry_first = Duration::from_secs(2);
        },
    )
    .await;
    let card = f.card("INV-0011").await;
    f.xero
        .fail_next(XeroRoute::Authorise, XeroFault::ServerError, 1);
    let _tap = f.tap(DANIEL, &card, true);
    f.wait_for_dm("Approved, not yet in Xero").await;
    assert_eq!(f.confirmations("INV-0011"), 0);
    let f = f.restart().await;
    f.wait_until("the confirmation after the restart", |_| {
        f.confirmations("INV-0011") == 1
    })
    .await;
    f.settled().await;
    assert_eq!(f.confirmations("INV-0011"), 1);
    assert_eq!(f.xero.authorisations(), 1);
    let cards = f
        .claudia_in(APPROVALS)
        .iter()
        .filter(|r| r.method == "sendMessage" && r.text.contains("awaits approval"))
        .count();
    assert_eq!(cards, 1, "no second card after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncertain_xero_write_is_settled_by_reading_the_status_back_never_sent_twice() {
    let f = Finance::start([submitted(12)], |_| {}).await;
    let card = f.card("INV-0012").await;
    // Xero applies the authorise but answers after the client's 10 s timeout. The first
    // read-back may still see SUBMITTED (the fake applies it at the end of the hold); the
    // next try reads AUTHORISED and settles it without a second POST.
    f.xero.fail_next(
        XeroRoute::Authorise,
        XeroFault::Hang(Duration::from_secs(11)),
        1,
    );
    let _tap = f.tap(PRIYA, &card, true);
    f.wait_until("the confirmation", |_| f.confirmations("INV-0012") == 1)
        .await;
    assert_eq!(f.xero.authorisations(), 1);
    let authorise_requests = f
        .xero
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(XeroRoute::Authorise))
        .count();
    assert_eq!(
        authorise_requests, 1,
        "settled by reading back, not by retrying"
    );
    let told = f
        .operator_dms()
        .iter()
        .filter(|d| d.contains("Approved, not yet in Xero"))
        .count();
    assert!(
        told <= 1,
        "the operator is told at most once: {:?}",
        f.operator_dms()
    );
    let edits = f.edits_of(&card);
    assert!(
        edits
            .last()
            .is_some_and(|e| e.contains("authorised in Xero")),
        "{edits:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_over_the_cap_fails_the_ar_brief_run_and_names_the_wait() {
    let f = Finance::start(FakeXero::fixture_invoices(), |d| {
        d.append(
            "claudia.toml",
            "\n[[jobs]]\nname = \"ar-brief\"\nkind = \"ar_brief\"\ncron = \"30 9 * * FRI\"\ntimezone = \"Asia/Singapore\"\nthread = \"ar-brief\"\ntemplate = \"ar_brief.html\"\n",
        );
    })
    .await;
    // Xero's daily limit: every invoice read is answered 429 with an hour's Retry-After.
    f.xero.fail_next(
        XeroRoute::Invoices,
        XeroFault::RateLimited { retry_after: 3600 },
        1000,
    );
    f.sim.user_dms(WEI_MING, &f.lawrence, "/run ar-brief");
    f.wait_for_dm("Job failed: ar-brief").await;
    let failure = f
        .operator_dms()
        .into_iter()
        .find(|d| d.contains("Job failed: ar-brief"))
        .expect("the failure DM");
    assert!(
        failure.contains("Xero asked to wait 3600 s, more than the 60 s cap"),
        "{failure}"
    );
    assert!(f.claudia_in(AR_BRIEF).is_empty(), "nothing was posted");
    let failed = f
        .table("SELECT detail FROM job_slots WHERE job = 'ar-brief' AND state = 'failed'")
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("Xero asked to wait 3600 s"),
        "{failed:?}"
    );
}
