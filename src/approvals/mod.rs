//! Invoice approvals (Claudia). Xero's SUBMITTED invoices each get exactly one card in the
//! approvals thread, keyed by InvoiceID, so polling again never duplicates one. An approver
//! decides with a button or a reply; the first decision wins (a conditional update in the
//! update's transaction). Approving writes `AUTHORISED` to Xero from the [`ApprovalDesk`],
//! never from a handler, with an `Idempotency-Key` derived from the approval, retried with
//! backoff; an uncertain outcome is settled by reading the invoice back. Cards nobody decides
//! expire; an invoice approved directly in Xero is reported, never authorised again.

pub mod verdict;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use minijinja::context;
use sqlx::SqliteConnection;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::model::ApprovalsFile;
use crate::console_texts;
use crate::identity::{Claudia, Poster};
use crate::isolation::{self, catch_panic, Panicked};
use crate::jobs::ar_brief::format_money;
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::{EnqueueError, Lane, MessageKind, OutgoingMessage};
use crate::roster::Roster;
use crate::sources::xero::{Invoice, InvoiceKind, InvoiceStatus, XeroClient, XeroError};
use crate::store::approvals::{self, Approval, ApprovalState, Closing, NewApproval, XeroState};
use crate::store::audit::{self, AuditEntry};
use crate::store::fault_counts::FaultKind;
use crate::store::Store;
use crate::templates::{TemplateError, Templates};
use crate::text::{cut, escape_html, TELEGRAM_MESSAGE_LIMIT};

/// The card's template.
pub const CARD_TEMPLATE: &str = "approval_card.html";

/// Callback data of the card's buttons: `ap:a:<InvoiceID>` / `ap:r:<InvoiceID>` (41 bytes for
/// a GUID, within Telegram's 64).
pub const APPROVE_PREFIX: &str = "ap:a:";
pub const REJECT_PREFIX: &str = "ap:r:";
/// The invoice cards' buttons.
pub const INVOICE_BUTTONS: verdict::ButtonPrefixes = verdict::ButtonPrefixes {
    approve: APPROVE_PREFIX,
    reject: REJECT_PREFIX,
};

/// Why the desk stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("approvals: database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("approvals: {0}")]
    Enqueue(#[from] EnqueueError),
    #[error("approvals: {0}")]
    Template(#[from] TemplateError),
}

impl crate::store::retry::DbFailure for DeskError {
    fn db_error(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Db(e) => Some(e),
            Self::Enqueue(e) => crate::store::retry::DbFailure::db_error(e),
            Self::Template(_) => None,
        }
    }
}

/// How the desk paces itself.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    /// How often Xero is asked for invoices awaiting approval.
    pub poll_every: Duration,
    /// First wait before a step that panicked is tried again (doubling, at most ten minutes).
    pub panic_pause: Duration,
    /// First wait before writing an approval to Xero again (doubling, at most 64x).
    pub retry_first: Duration,
    /// Tries before an approval is given up (`xero = 'failed'`) and the operator told again.
    pub max_attempts: i64,
    /// A card nobody decided closes after this long.
    pub expire_after: chrono::Duration,
}

impl DeskSettings {
    pub fn from_file(file: &ApprovalsFile) -> Self {
        Self {
            poll_every: Duration::from_secs(u64::from(file.poll_minutes) * 60),
            panic_pause: Duration::from_secs(1),
            retry_first: Duration::from_secs(30),
            max_attempts: 12,
            expire_after: chrono::Duration::days(i64::from(file.expire_days)),
        }
    }
}

/// What rendering a card needs.
#[derive(Clone)]
pub struct CardContext {
    pub templates: Arc<Templates>,
    pub roster: Arc<Roster>,
}

impl CardContext {
    /// The card of `approval`, with `status` once it has ended, cut to one message (its
    /// buttons belong to one message, and every edit must fit too).
    pub fn render(
        &self,
        approval: &Approval,
        status: Option<&str>,
    ) -> Result<String, TemplateError> {
        let html = self.templates.render(
            CARD_TEMPLATE,
            minijinja::context! {
                number => approval.number,
                contact => approval.contact,
                total => approval.total,
                due => approval.due_date,
                link => approval.link,
                status => status,
            },
        )?;
        Ok(cut(&html, TELEGRAM_MESSAGE_LIMIT))
    }

    /// `at` as the team reads it: `Fri 20 Nov 14:05`.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.roster.timezone())
            .format("%a %-d %b %H:%M")
            .to_string()
    }
}

/// The buttons of an open card.
pub fn buttons(invoice_id: &str) -> serde_json::Value {
    INVOICE_BUTTONS.keyboard(invoice_id)
}

/// Xero's web page of an invoice.
pub fn invoice_link(invoice: &Invoice) -> String {
    let ledger = match invoice.kind {
        InvoiceKind::AccPay => "AccountsPayable",
        _ => "AccountsReceivable",
    };
    format!(
        "https://go.xero.com/{ledger}/View.aspx?InvoiceID={}",
        invoice.invoice_id
    )
}

/// The `Idempotency-Key` of writing `approval` to Xero: the same for every retry of it.
pub fn idempotency_key(approval: &Approval) -> String {
    format!(
        "herald-approve-{}-{}",
        approval.invoice_id,
        approval.decided_at.as_deref().unwrap_or("undecided")
    )
}

/// Edits the card of `approval` to `html` (no buttons, cut to one message), if the card was
/// sent.
pub async fn edit_card(
    conn: &mut SqliteConnection,
    poster: &Poster<Claudia>,
    approval: &Approval,
    html: String,
) -> Result<bool, DeskError> {
    let Some(message_id) = approvals::card_message_id(conn, approval).await? else {
        tracing::warn!(invoice = %approval.invoice_id, "the approval card was never sent; not edited");
        return Ok(false);
    };
    let thread = approval.thread_id.and_then(|t| i32::try_from(t).ok());
    let html = cut(&html, TELEGRAM_MESSAGE_LIMIT);
    let mut edit = OutgoingMessage::new(approval.chat_id, thread, html).in_lane(Lane::Urgent);
    edit.kind = MessageKind::Edit { message_id };
    poster.enqueue(conn, edit).await?;
    Ok(true)
}

/// Posts `html` in the approvals thread, as Claudia, cut to one message.
pub async fn post_in_thread(
    conn: &mut SqliteConnection,
    poster: &Poster<Claudia>,
    approval: &Approval,
    html: String,
) -> Result<(), DeskError> {
    let thread = approval.thread_id.and_then(|t| i32::try_from(t).ok());
    let html = cut(&html, TELEGRAM_MESSAGE_LIMIT);
    let message = OutgoingMessage::new(approval.chat_id, thread, html).in_lane(Lane::Urgent);
    poster.enqueue(conn, message).await?;
    Ok(())
}

/// What the desk is built from at start (the poster is added by the identity that owns it).
pub struct DeskInputs {
    pub store: Store,
    pub clock: Clock,
    pub xero: Arc<XeroClient>,
    pub console: ConsoleChannel,
    pub cards: CardContext,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub settings: DeskSettings,
}

/// Polls Xero for invoices awaiting approval, posts cards, closes what ended elsewhere or
/// expired, and writes approvals to Xero.
pub struct ApprovalDesk {
    parts: DeskInputs,
    poster: Poster<Claudia>,
}

impl ApprovalDesk {
    pub fn new(parts: DeskInputs, poster: Poster<Claudia>) -> Self {
        Self { parts, poster }
    }

    /// Runs until `shutdown`. Xero failures are reported and retried; transient database
    /// failures are waited out (each step's transaction runs again whole; a Xero write is
    /// never repeated for it); a step that panics is reported and tried again later (see
    /// [`StepGuard`]); only a persistent database failure stops it.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), DeskError> {
        let mut next_poll = tokio::time::Instant::now();
        let mut poll_failing = false;
        let store = self.parts.store.clone();
        let (mut polling, mut expiring, mut writing) =
            (StepGuard::new(), StepGuard::new(), StepGuard::new());
        let wake = store.signals().desk();
        loop {
            if tokio::time::Instant::now() >= next_poll {
                next_poll = tokio::time::Instant::now() + self.parts.settings.poll_every;
                let poll = async {
                    // Reads Xero, then writes cards: both again on a retry.
                    let failed = store
                        .retry("posting approval cards", || self.poll_once())
                        .await?;
                    self.report_poll(failed, &mut poll_failing).await
                };
                self.guarded(POLL_STEP, &mut polling, poll).await?;
            }
            let expire = store.retry("closing expired approval cards", || self.expire_once());
            self.guarded(EXPIRE_STEP, &mut expiring, expire).await?;
            self.guarded(WRITE_STEP, &mut writing, self.write_to_xero_once())
                .await?;
            // Sleep until something is due: the next look at Xero, a card's expiry, a retry
            // of a Xero write, a step's pause after a panic ending; or until a decision
            // commits (the transaction wakes the desk), whichever comes first.
            let due = store
                .retry("planning the desk's next look", || async {
                    let mut conn = store.pool().acquire().await?;
                    approvals::next_due(&mut conn).await
                })
                .await?;
            let guards_end = [&polling, &expiring, &writing]
                .into_iter()
                .map(|g| g.not_before)
                .filter(|&at| at > tokio::time::Instant::now())
                .min();
            let until_due = async {
                match due {
                    // Work already due that this pass left undone belongs to a step that is
                    // pausing after a panic: it waits for that pause (`guards_end`), and at
                    // worst a pause's length, never a spin.
                    Some(at) if at <= self.parts.clock.now() => {
                        tokio::time::sleep(self.parts.settings.panic_pause).await;
                    }
                    Some(at) => {
                        let wait = (at - self.parts.clock.now()).to_std().unwrap_or_default();
                        self.parts.clock.sleep(wait).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = wake.notified() => {}
                _ = tokio::time::sleep_until(guards_end.map_or(next_poll, |at| at.min(next_poll))) => {}
                _ = until_due => {}
            }
        }
    }

    /// Runs one step under a panic guard, unless it is waiting after a panic. A panic rolls
    /// the step's transaction back and is audited and reported; the desk goes on.
    async fn guarded(
        &self,
        step: &str,
        guard: &mut StepGuard,
        work: impl std::future::Future<Output = Result<(), DeskError>>,
    ) -> Result<(), DeskError> {
        if tokio::time::Instant::now() < guard.not_before {
            return Ok(());
        }
        match catch_panic(work).await {
            Ok(result) => {
                guard.panics_in_a_row = 0;
                result
            }
            Err(panic) => {
                guard.panicked(self.parts.settings.panic_pause);
                self.record_panic(step, &panic).await
            }
        }
    }

    async fn record_panic(&self, step: &str, panic: &Panicked) -> Result<(), DeskError> {
        tracing::error!(step, panic = %panic.message, "an approval-desk step panicked; its changes were rolled back");
        let at = self.parts.clock.now();
        let mut tx = self.parts.store.begin_write().await?;
        let entry = AuditEntry::new("approvals", "failed: step panicked")
            .bot("claudia")
            .detail(format!("{step}: {}", isolation::cut(&panic.message, 1000)));
        audit::record(&mut tx, at, &entry).await?;
        let html = console_texts::render(
            "desk_step_panicked.html",
            context! { step, panic => isolation::cut(&panic.message, 300) },
        );
        isolation::count_and_tell(
            &mut tx,
            &self.parts.console,
            "claudia",
            FaultKind::DeskPanic,
            &html,
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One DM when polling starts failing (naming the cause), none while it keeps failing.
    async fn report_poll(
        &self,
        failed: Option<XeroError>,
        failing: &mut bool,
    ) -> Result<(), DeskError> {
        match failed {
            None => *failing = false,
            Some(_) if *failing => {}
            Some(error) => {
                *failing = true;
                let html = console_texts::render(
                    "approvals_xero_unreadable.html",
                    context! {
                        cause => error.to_string(),
                        seconds => self.parts.settings.poll_every.as_secs().max(1),
                    },
                );
                self.alert(
                    "failed: reading invoices awaiting approval",
                    &error.to_string(),
                    &html,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn alert(&self, decision: &str, detail: &str, html: &str) -> Result<(), DeskError> {
        let store = &self.parts.store;
        store
            .retry("alerting about approvals", || async {
                let at = self.parts.clock.now();
                let mut tx = store.begin_write().await?;
                let entry = AuditEntry::new("approvals", decision)
                    .bot("claudia")
                    .detail(detail);
                audit::record(&mut tx, at, &entry).await?;
                self.parts.console.alert(&mut tx, html, None, at).await?;
                tx.commit().await?;
                Ok::<(), DeskError>(())
            })
            .await
    }

    /// Asks Xero for SUBMITTED invoices: a card for each new one; open cards whose invoice is
    /// no longer awaiting approval are closed and reported. `Some(error)` if Xero failed.
    pub async fn poll_once(&self) -> Result<Option<XeroError>, DeskError> {
        let submitted = match self.parts.xero.invoices(&["SUBMITTED"], None).await {
            Ok(invoices) => invoices,
            Err(e) => return Ok(Some(e)),
        };
        let open = {
            let mut conn = self.parts.store.pool().acquire().await?;
            approvals::open(&mut conn).await?
        };
        // Open cards whose invoice left SUBMITTED: read each back to say why.
        let mut ended = Vec::new();
        for approval in open
            .iter()
            .filter(|a| !submitted.iter().any(|i| i.invoice_id == a.invoice_id))
        {
            match self.parts.xero.invoice(&approval.invoice_id).await {
                Ok(invoice) => ended.push((approval.clone(), invoice.status)),
                Err(e) => return Ok(Some(e)),
            }
        }
        for invoice in &submitted {
            // Each card in its own transaction, under its own panic guard: an invoice that
            // makes posting its card panic costs that card only.
            if let Err(panic) = catch_panic(self.post_card_once(invoice)).await {
                let step = format!("posting the card of invoice {}", invoice.number);
                self.record_panic(&step, &panic).await?;
            }
        }
        let now = self.parts.clock.now();
        let mut tx = self.parts.store.begin_write().await?;
        for (approval, status) in ended {
            self.closed_in_xero(&mut tx, &approval, &status, now)
                .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    /// Posts the card of `invoice` unless it has one, in one transaction.
    async fn post_card_once(&self, invoice: &Invoice) -> Result<(), DeskError> {
        let mut tx = self.parts.store.begin_write().await?;
        if approvals::get(&mut tx, &invoice.invoice_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        self.post_card(&mut tx, invoice, self.parts.clock.now())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn post_card(
        &self,
        tx: &mut SqliteConnection,
        invoice: &Invoice,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let number = if invoice.number.is_empty() {
            "(no number)"
        } else {
            invoice.number.as_str()
        };
        let total = format_money(&invoice.currency_code, invoice.total);
        let link = invoice_link(invoice);
        let due_date = invoice
            .due_date
            .map(|d| d.format("%a %-d %b %Y").to_string());
        let draft = Approval {
            invoice_id: invoice.invoice_id.clone(),
            number: number.to_owned(),
            contact: invoice.contact_name.clone(),
            total: total.clone(),
            due_date: due_date.clone(),
            link: link.clone(),
            state: ApprovalState::Open,
            card_outbox_id: 0,
            chat_id: self.parts.chat_id,
            thread_id: self.parts.thread_id.map(i64::from),
            posted_at: String::new(),
            expires_at: String::new(),
            decided_by: None,
            decided_at: None,
            reason: None,
            xero: XeroState::NothingToWrite,
            xero_attempts: 0,
            next_attempt_at: None,
            last_error: None,
            closed_note: None,
        };
        let html = self.parts.cards.render(&draft, None)?;
        let card = OutgoingMessage::new(self.parts.chat_id, self.parts.thread_id, html)
            .in_lane(Lane::Urgent)
            .with_markup(buttons(&invoice.invoice_id));
        let card_outbox_id = self.poster.enqueue(tx, card).await?;
        #[cfg(feature = "fault-injection")]
        if invoice.contact_name == crate::faults::PANIC_TEXT {
            panic!("fault-injection: posting an approval card panicked on purpose");
        }
        approvals::insert(
            tx,
            &NewApproval {
                invoice_id: &invoice.invoice_id,
                number,
                contact: &invoice.contact_name,
                total: &total,
                due_date,
                link: &link,
                card_outbox_id,
                chat_id: self.parts.chat_id,
                thread_id: self.parts.thread_id,
                posted_at: now,
                expires_at: now + self.parts.settings.expire_after,
            },
        )
        .await?;
        let entry = AuditEntry::new("approvals", "card posted")
            .bot("claudia")
            .detail(format!(
                "{} {} ({}, {total})",
                invoice.invoice_id, number, invoice.contact_name
            ));
        audit::record(tx, now, &entry).await?;
        Ok(())
    }

    async fn closed_in_xero(
        &self,
        tx: &mut SqliteConnection,
        approval: &Approval,
        status: &InvoiceStatus,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let note = match status {
            InvoiceStatus::Authorised | InvoiceStatus::Paid => {
                "approved directly in Xero".to_owned()
            }
            other => format!(
                "no longer awaiting approval in Xero (now {})",
                other.as_str()
            ),
        };
        if !approvals::close(tx, &approval.invoice_id, Closing::EndedInXero, Some(&note)).await? {
            return Ok(()); // Decided here meanwhile: the decision stands.
        }
        let status_line =
            format!("ℹ️ Closed: {note} while this card was open. herald changed nothing in Xero.");
        let html = self.parts.cards.render(approval, Some(&status_line))?;
        edit_card(tx, &self.poster, approval, html).await?;
        post_in_thread(
            tx,
            &self.poster,
            approval,
            format!(
                "ℹ️ Invoice <b>{}</b> ({}) was {note}; its card is closed and it was not authorised again.",
                escape_html(&approval.number),
                escape_html(&approval.contact)
            ),
        )
        .await?;
        let entry = AuditEntry::new("approvals", "closed: ended in Xero")
            .bot("claudia")
            .detail(format!(
                "{} {}: {note}",
                approval.invoice_id, approval.number
            ));
        audit::record(tx, now, &entry).await?;
        Ok(())
    }

    /// Closes open cards past their expiry.
    pub async fn expire_once(&self) -> Result<(), DeskError> {
        let now = self.parts.clock.now();
        // A read-only look first: the write lock is taken only when a card did expire.
        let expired = {
            let mut conn = self.parts.store.pool().acquire().await?;
            approvals::expired(&mut conn, now).await?
        };
        if expired.is_empty() {
            return Ok(());
        }
        let mut tx = self.parts.store.begin_write().await?;
        for approval in expired {
            if !approvals::close(&mut tx, &approval.invoice_id, Closing::Expired, None).await? {
                continue;
            }
            let line = format!(
                "⌛ Expired {}: nobody decided within {} days. Nothing was changed in Xero.",
                self.parts.cards.local(now),
                self.parts.settings.expire_after.num_days()
            );
            let html = self.parts.cards.render(&approval, Some(&line))?;
            edit_card(&mut tx, &self.poster, &approval, html).await?;
            let entry = AuditEntry::new("approvals", "expired")
                .bot("claudia")
                .detail(format!("{} {}", approval.invoice_id, approval.number));
            audit::record(&mut tx, now, &entry).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes due approvals to Xero, one at a time.
    pub async fn write_to_xero_once(&self) -> Result<(), DeskError> {
        let store = &self.parts.store;
        let due = store
            .retry("reading approvals due for Xero", || async {
                let mut conn = store.pool().acquire().await?;
                approvals::due_for_xero(&mut conn, self.parts.clock.now()).await
            })
            .await?;
        for approval in due {
            // An instance that was taken over writes nothing more to Xero either.
            store
                .retry("checking the database lease", || store.check_lease())
                .await?;
            // A panic while talking to Xero about one approval is one failed try of it: it
            // backs off and is given up like any other, without holding up the others.
            let outcome = match catch_panic(self.authorise(&approval)).await {
                Ok(outcome) => outcome,
                Err(panic) => {
                    tracing::error!(invoice = %approval.invoice_id, panic = %panic.message, "writing an approval to Xero panicked");
                    XeroOutcome::Retry(format!("panicked: {}", isolation::cut(&panic.message, 300)))
                }
            };
            // Only the transaction is run again: the Xero write is not repeated for it.
            store
                .retry("recording a Xero write", || {
                    self.settle(&approval, outcome.clone())
                })
                .await?;
        }
        Ok(())
    }

    /// Reads the invoice first (already authorised elsewhere is reported, not redone), then
    /// authorises it; an error is settled by reading the status back.
    async fn authorise(&self, approval: &Approval) -> XeroOutcome {
        let id = &approval.invoice_id;
        let before = match self.parts.xero.invoice(id).await {
            Ok(invoice) => invoice.status,
            Err(e) => return XeroOutcome::Retry(e.to_string()),
        };
        match before {
            InvoiceStatus::Submitted => {}
            InvoiceStatus::Authorised | InvoiceStatus::Paid if approval.xero_attempts > 0 => {
                return XeroOutcome::Done;
            }
            InvoiceStatus::Authorised | InvoiceStatus::Paid => return XeroOutcome::AlreadyInXero,
            other => {
                return XeroOutcome::GiveUp(format!(
                    "the invoice is {} in Xero, not awaiting approval",
                    other.as_str()
                ))
            }
        }
        let error = match self
            .parts
            .xero
            .authorise(id, &idempotency_key(approval))
            .await
        {
            Ok(invoice) if invoice.status == InvoiceStatus::Authorised => return XeroOutcome::Done,
            Ok(invoice) => format!("Xero answered with status {}", invoice.status.as_str()),
            Err(e) => e.to_string(),
        };
        // Uncertain: did it go through? Xero's own status says.
        match self.parts.xero.invoice(id).await {
            Ok(invoice)
                if matches!(
                    invoice.status,
                    InvoiceStatus::Authorised | InvoiceStatus::Paid
                ) =>
            {
                XeroOutcome::Done
            }
            _ => XeroOutcome::Retry(error),
        }
    }

    async fn settle(&self, approval: &Approval, outcome: XeroOutcome) -> Result<(), DeskError> {
        let now = self.parts.clock.now();
        let mut tx = self.parts.store.begin_write().await?;
        let by = approval.decided_by.clone().unwrap_or_default();
        let when = approval
            .decided_at()
            .map(|t| self.parts.cards.local(t))
            .unwrap_or_default();
        match outcome {
            XeroOutcome::Done | XeroOutcome::AlreadyInXero => {
                let already = matches!(outcome, XeroOutcome::AlreadyInXero);
                approvals::set_xero(&mut tx, &approval.invoice_id, XeroState::Done, None, None)
                    .await?;
                let status = if already {
                    format!("✅ Approved by {by} at {when}; it was already authorised directly in Xero, so herald did not authorise it again.")
                } else {
                    format!("✅ Approved by {by} at {when}; authorised in Xero.")
                };
                let card = self.parts.cards.render(approval, Some(&status))?;
                edit_card(&mut tx, &self.poster, approval, card).await?;
                post_in_thread(
                    &mut tx,
                    &self.poster,
                    approval,
                    format!(
                        "✅ Invoice <b>{}</b> ({}, {}) approved by {} at {}{}",
                        escape_html(&approval.number),
                        escape_html(&approval.contact),
                        escape_html(&approval.total),
                        escape_html(&by),
                        escape_html(&when),
                        if already {
                            "; it was already authorised in Xero."
                        } else {
                            "; authorised in Xero."
                        }
                    ),
                )
                .await?;
                let entry = AuditEntry::new(
                    "approvals",
                    if already {
                        "xero: already authorised"
                    } else {
                        "xero: authorised"
                    },
                )
                .bot("claudia")
                .detail(format!(
                    "{} {} (key {})",
                    approval.invoice_id,
                    approval.number,
                    idempotency_key(approval)
                ));
                audit::record(&mut tx, now, &entry).await?;
            }
            XeroOutcome::Retry(error)
                if approval.xero_attempts + 1 < self.parts.settings.max_attempts =>
            {
                let factor = 1u32 << approval.xero_attempts.clamp(0, 6);
                let wait = self.parts.settings.retry_first * factor;
                let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                approvals::set_xero(
                    &mut tx,
                    &approval.invoice_id,
                    XeroState::Pending,
                    Some(&error),
                    Some(next),
                )
                .await?;
                let entry = AuditEntry::new("approvals", "xero: failed, will retry")
                    .bot("claudia")
                    .detail(format!(
                        "{} {}: {error}; next try {}",
                        approval.invoice_id,
                        approval.number,
                        next.to_rfc3339()
                    ));
                audit::record(&mut tx, now, &entry).await?;
                if approval.xero_attempts == 0 {
                    let html = console_texts::render(
                        "approval_not_yet_in_xero.html",
                        context! {
                            number => approval.number,
                            contact => approval.contact,
                            by,
                            when,
                            cause => error,
                            seconds => wait.as_secs().max(1),
                        },
                    );
                    self.parts.console.alert(&mut tx, &html, None, now).await?;
                }
            }
            XeroOutcome::Retry(error) | XeroOutcome::GiveUp(error) => {
                approvals::set_xero(
                    &mut tx,
                    &approval.invoice_id,
                    XeroState::Failed,
                    Some(&error),
                    None,
                )
                .await?;
                let entry = AuditEntry::new("approvals", "xero: given up")
                    .bot("claudia")
                    .detail(format!(
                        "{} {}: {error}",
                        approval.invoice_id, approval.number
                    ));
                audit::record(&mut tx, now, &entry).await?;
                let html = console_texts::render(
                    "approval_not_written_to_xero.html",
                    context! {
                        number => approval.number,
                        contact => approval.contact,
                        by,
                        when,
                        cause => error,
                    },
                );
                self.parts.console.alert(&mut tx, &html, None, now).await?;
                let status = format!(
                    "🟠 Approved by {by} at {when}; not in Xero yet (the operator was told)."
                );
                let card = self.parts.cards.render(approval, Some(&status))?;
                edit_card(&mut tx, &self.poster, approval, card).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The desk's steps, as audited and reported when one panics.
const POLL_STEP: &str = "reading Xero for invoices awaiting approval";
const EXPIRE_STEP: &str = "closing expired cards";
const WRITE_STEP: &str = "writing approvals to Xero";

/// Longest wait before a step that keeps panicking is tried again.
const PANIC_BACKOFF_MAX: Duration = Duration::from_secs(600);

/// When a step that panicked is tried again: after `panic_pause`, doubling with each panic in a
/// row up to ten minutes, so a poison invoice costs an audit entry every ten minutes, not one
/// a second.
#[derive(Debug)]
struct StepGuard {
    panics_in_a_row: u32,
    not_before: tokio::time::Instant,
}

impl StepGuard {
    fn new() -> Self {
        Self {
            panics_in_a_row: 0,
            not_before: tokio::time::Instant::now(),
        }
    }

    fn panicked(&mut self, first: Duration) {
        let wait = first
            .saturating_mul(1 << self.panics_in_a_row.min(16))
            .min(PANIC_BACKOFF_MAX);
        self.panics_in_a_row += 1;
        self.not_before = tokio::time::Instant::now() + wait;
    }
}

/// How one try to write an approval to Xero went.
#[derive(Debug, Clone)]
enum XeroOutcome {
    /// Xero says AUTHORISED, because of this approval.
    Done,
    /// It was already AUTHORISED before herald wrote it.
    AlreadyInXero,
    /// Not done; try again later.
    Retry(String),
    /// Will never work (the invoice is voided, say).
    GiveUp(String),
}
