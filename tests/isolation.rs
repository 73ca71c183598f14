//! One fault stays in its unit of work (issue 11, "a handler that panics"), against the
//! Telegram simulator:
//!
//! - the real `herald run` binary, built with `fault-injection`: a member's DM whose text is
//!   [`herald::faults::PANIC_TEXT`] makes Clawrence's handler tree panic. The next update to
//!   Clawrence and an update to every other bot are answered; the operator gets exactly one DM
//!   about it; the process never exits; the update is recorded `failed` and never replayed,
//!   and the next start is a normal one (not diagnose mode);
//! - the approval desk in process, against the fake Xero: an invoice whose card panics costs
//!   that card only; the others are posted and approved, the operator hears once, and the
//!   boot still becomes healthy.

#![cfg(feature = "fault-injection")]

mod common;

use std::str::FromStr;
use std::time::Duration;

use common::Deployment;
use herald::approvals::DeskSettings;
use herald::faults::PANIC_TEXT;
use herald::roster::Role;
use herald_sim::xero::{FakeXero, FakeXeroConfig, XeroInvoice, XeroStatus};
use herald_sim::SentRecord;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(30);
/// The headline of the operator DM about a failed update.
const FAULT_DM: &str = "could not handle an update";

/// A plain reader of the deployment's database (WAL lets it read beside herald).
async fn db(deployment: &Deployment) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(&deployment.db_url())
        .expect("database URL")
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("database opens")
}

fn fault_dms_to(sent: &[SentRecord], lawrence: &str, operator: i64) -> usize {
    sent.iter()
        .filter(|r| r.bot.eq_ignore_ascii_case(lawrence) && r.chat_id == operator)
        .filter(|r| r.text.contains(FAULT_DM))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_costs_its_update_only_and_the_operator_hears_once() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let config = deployment.config();
    let operators: Vec<i64> = config
        .roster
        .members_with_role(Role::Operator)
        .map(|m| m.telegram_id)
        .collect();
    let member = deployment.member();
    let username = |bot: &str| config.bots[bot].username.clone();
    let (clawrence, lawrence) = (username("clawrence"), username("lawrence"));
    let mut herald = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1"]);
    common::wait_until_polling(&sim, 0, &herald.log).await;

    sim.user_dms(member, &clawrence, PANIC_TEXT);
    sim.user_dms(member, &clawrence, "/help");
    for bot in ["claudia", "happy", "gymbooker", "claims", "pakgupei"] {
        sim.user_dms(member, &username(bot), "/help");
    }
    sim.user_dms(operators[0], &lawrence, "/help");

    // Every bot answers, Clawrence included (the update after the poison one).
    let answered = |sent: &[SentRecord], bot: &str, chat: i64| {
        sent.iter().any(|r| {
            r.bot.eq_ignore_ascii_case(bot) && r.chat_id == chat && !r.text.contains(FAULT_DM)
        })
    };
    let everyone = sim
        .wait_for(
            |sent| {
                [
                    "clawrence",
                    "claudia",
                    "happy",
                    "gymbooker",
                    "claims",
                    "pakgupei",
                ]
                .iter()
                .all(|bot| answered(sent, &username(bot), member))
                    && answered(sent, &lawrence, operators[0])
                    && operators
                        .iter()
                        .all(|op| fault_dms_to(sent, &lawrence, *op) >= 1)
            },
            WAIT,
        )
        .await;
    let sent = everyone
        .unwrap_or_else(|sent| panic!("not every bot answered: {sent:#?}\n{}", herald.output()));
    assert!(
        !herald.exited(),
        "herald exited after a panic:\n{}",
        herald.output()
    );
    let clawrence_to_member: Vec<&SentRecord> = sent
        .iter()
        .filter(|r| r.bot.eq_ignore_ascii_case(&clawrence) && r.chat_id == member)
        .collect();
    assert_eq!(
        clawrence_to_member.len(),
        1,
        "only the /help answer; the panicking handler's reply was rolled back: {clawrence_to_member:#?}"
    );
    let dm = sent
        .iter()
        .find(|r| r.text.contains(FAULT_DM))
        .expect("the DM")
        .text
        .clone();
    assert!(dm.contains("clawrence"), "{dm}");
    assert!(dm.contains("panicked on purpose"), "{dm}");

    // The failure is recorded (audit, outcome, count) and the offset moved past it.
    let pool = db(&deployment).await;
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM processed_updates WHERE bot = 'clawrence' ORDER BY update_id",
    )
    .fetch_all(&pool)
    .await
    .expect("outcomes");
    assert_eq!(outcomes, ["failed", "handled"]);
    let audited: Vec<(String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT decision, user_id, detail FROM audit WHERE bot = 'clawrence' AND kind = 'inbound' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(audited[0].0, "failed: handler panicked");
    assert_eq!(audited[0].1, Some(member));
    assert!(audited[0]
        .2
        .as_deref()
        .unwrap_or_default()
        .contains("panicked on purpose"));
    assert_eq!(sim.pending_updates(&clawrence), 0, "nothing left to replay");
    let running: Option<String> =
        sqlx::query_scalar("SELECT outcome FROM boots ORDER BY id DESC LIMIT 1")
            .fetch_one(&pool)
            .await
            .expect("boot row");
    assert_eq!(running, None, "this boot has not ended");
    pool.close().await;

    let (status, output) = herald.stop().await;
    assert_eq!(status.code(), Some(0), "{output}");

    // The next start is normal, and the poison update is not replayed.
    let polls = sim.calls("getUpdates");
    let mut again = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1"]);
    common::wait_until_polling(&sim, polls, &again.log).await;
    sim.user_dms(member, &clawrence, "/help");
    let sent = sim
        .wait_for(
            |sent| {
                sent.iter()
                    .filter(|r| r.bot.eq_ignore_ascii_case(&clawrence) && r.chat_id == member)
                    .count()
                    == 2
            },
            WAIT,
        )
        .await
        .unwrap_or_else(|sent| {
            panic!("no answer after the restart: {sent:#?}\n{}", again.output())
        });
    for operator in &operators {
        assert_eq!(
            fault_dms_to(&sent, &lawrence, *operator),
            1,
            "exactly one DM about the panic"
        );
    }
    let pool = db(&deployment).await;
    let diagnose: Vec<bool> = sqlx::query_scalar("SELECT diagnose FROM boots ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("boots");
    assert_eq!(diagnose, [false, false], "no diagnose mode followed");
    let panics: i64 = sqlx::query_scalar(
        "SELECT occurrences FROM fault_counts WHERE bot = 'clawrence' AND kind = 'handler panic'",
    )
    .fetch_one(&pool)
    .await
    .expect("fault count");
    assert_eq!(panics, 1, "handled once, never replayed");
    pool.close().await;
    let (status, output) = again.stop().await;
    assert_eq!(status.code(), Some(0), "{output}");
}

/// A SUBMITTED invoice numbered `n`, from `contact`.
fn submitted(n: u32, contact: &str) -> XeroInvoice {
    let mut invoice = FakeXero::fixture_invoices()
        .into_iter()
        .next()
        .expect("a fixture invoice");
    invoice.invoice_id = format!("5f1c2b9e-8d7a-4e6f-b5c4-{n:012}");
    invoice.number = format!("INV-{n:04}");
    invoice.status = XeroStatus::Submitted;
    invoice.contact_name = contact.into();
    invoice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_whose_card_panics_costs_that_card_only() {
    let xero = FakeXero::start(FakeXeroConfig::default())
        .await
        .expect("fake Xero starts");
    xero.insert_invoice(submitted(1, "Tan & Sons"));
    xero.insert_invoice(submitted(2, PANIC_TEXT));
    let defaults = FakeXeroConfig::default();
    let deployment =
        Deployment::with_xero(&xero, &defaults.tenant_id, Some(&defaults.refresh_token));
    deployment.append(
        "claudia.toml",
        "\n[approvals]\nthread = \"approvals\"\nexpire_days = 7\n",
    );
    let sim = deployment.simulator().await;
    let mut options = deployment.run_options(&sim);
    options.desk = Some(DeskSettings {
        poll_every: Duration::from_millis(300),
        panic_pause: Duration::from_millis(50),
        retry_first: Duration::from_millis(200),
        max_attempts: 12,
        expire_after: chrono::Duration::days(7),
    });
    // A boot is healthy after this long without a fatal error: a desk panic is none.
    options.healthy_after = Duration::from_millis(500);
    let fleet = herald::fleet::start(&options).await.expect("fleet starts");
    let config = deployment.config();
    let claudia = config.bots["claudia"].username.clone();
    let approver = config
        .roster
        .members_with_role(Role::Approver)
        .next()
        .expect("an approver")
        .telegram_id;
    let pool = fleet.store().reader().clone();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };

    // The good card is posted and approved; the poison one panics at every poll.
    let sent = sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.text.contains("Invoice INV-0001</b> awaits approval"))
            },
            WAIT,
        )
        .await
        .expect("the good card is posted");
    let card = sent
        .iter()
        .find(|r| r.text.contains("Invoice INV-0001</b> awaits approval"))
        .expect("card")
        .clone();
    let data = card.reply_markup.as_ref().expect("buttons")["inline_keyboard"][0][0]
        ["callback_data"]
        .as_str()
        .expect("approve data")
        .to_owned();
    let query = sim.user_taps(approver, &claudia, card.chat_id, card.message_id, &data);
    assert!(sim.wait_for_callback_answer(&query, WAIT).await.is_some());
    sim.wait_for(
        |s| {
            s.iter()
                .any(|r| r.text.starts_with("✅ Invoice <b>INV-0001</b>"))
        },
        WAIT,
    )
    .await
    .expect("the approval reaches Xero and is confirmed");
    let panicked_twice = common::try_wait_until(WAIT, || async {
        count("SELECT count(*) FROM audit WHERE decision = 'failed: step panicked'").await >= 2
    })
    .await;
    assert!(panicked_twice, "the poison card panicked once at most");

    assert!(
        sim.sent_by(&claudia)
            .iter()
            .all(|r| !r.text.contains("INV-0002")),
        "the poison card was rolled back"
    );
    assert_eq!(
        count("SELECT count(*) FROM approvals WHERE number = 'INV-0002'").await,
        0
    );
    let operators = config.roster.members_with_role(Role::Operator).count() as i64;
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE text LIKE '%Approval desk: a step panicked%'")
            .await,
        operators,
        "one DM per operator, however often it panics within the hour"
    );
    let healthy = common::try_wait_until(WAIT, || async {
        count("SELECT count(*) FROM boots WHERE healthy_at IS NOT NULL").await > 0
    })
    .await;
    assert!(healthy, "the boot never became healthy");
    fleet.stop().await.expect("clean stop");
}
