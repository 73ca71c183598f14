//! Expense claims: a member files `/claim 45.20 SGD taxi` with Claims (in `#claims` or by
//! DM), the roster's approvers decide on a card in `#claims` (a second, different approver
//! above the currency's `two_approvals_above`), and the confirmation goes out as Claims and
//! only as Claims: [`confirm`] takes a `Poster<Claims>`, so code holding another bot's
//! poster cannot call it (`tests/compile-fail/claim_confirmed_by_claudia.rs`).
//!
//! The decision machinery is the invoice cards' ([`crate::approvals::verdict`]): the same
//! buttons and replies, the same approver rule, the first decision of a step winning in the
//! update's transaction. What differs is stored per kind: `store::claims`.

pub mod export;
pub mod request;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::SqliteConnection;

use crate::approvals::verdict::ButtonPrefixes;
use crate::config::model::ClaimsFile;
use crate::identity::{Claims, Poster};
use crate::jobs::ar_brief::format_amount;
use crate::outbox::{EnqueueError, Lane, MessageKind, OutgoingMessage};
use crate::store::claims::{self as store, Claim, ClaimDecision};
use crate::templates::{TemplateError, Templates};
use crate::text::{cut, escape_html, TELEGRAM_MESSAGE_LIMIT};

/// The card's template.
pub const CARD_TEMPLATE: &str = "claim_card.html";

/// Callback data of a claim card's buttons: `cl:a:<id>` / `cl:r:<id>`.
pub const BUTTONS: ButtonPrefixes = ButtonPrefixes {
    approve: "cl:a:",
    reject: "cl:r:",
};

/// One currency claims may be in, with its limits (from `[[claims.currencies]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyRule {
    pub code: String,
    pub decimals: u32,
    pub max: Decimal,
    pub two_approvals_above: Decimal,
}

/// What `/claim` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    pub currencies: Vec<CurrencyRule>,
}

impl ClaimRules {
    /// The rules of `[claims]`. `herald check` refuses a file whose amounts do not parse, so
    /// a currency with one is left out here rather than guessed at.
    pub fn from_file(file: &ClaimsFile) -> Self {
        let currencies = file
            .currencies
            .iter()
            .filter_map(|c| {
                Some(CurrencyRule {
                    code: c.code.clone(),
                    decimals: c.decimals,
                    max: Decimal::from_str_exact(c.max.trim()).ok()?,
                    two_approvals_above: Decimal::from_str_exact(c.two_approvals_above.trim())
                        .ok()?,
                })
            })
            .collect();
        Self { currencies }
    }

    pub fn currency(&self, code: &str) -> Option<&CurrencyRule> {
        self.currencies.iter().find(|c| c.code == code)
    }

    /// The currency codes, as a refusal lists them: `SGD, MYR`.
    pub fn known(&self) -> String {
        let codes: Vec<&str> = self.currencies.iter().map(|c| c.code.as_str()).collect();
        codes.join(", ")
    }

    /// Approvals a claim of `amount` in `currency` needs: 2 above the currency's threshold.
    pub fn approvals_needed(&self, currency: &str, amount: Decimal) -> i64 {
        match self.currency(currency) {
            Some(rule) if amount > rule.two_approvals_above => 2,
            _ => 1,
        }
    }
}

/// `SGD 1,234.50` from a stored claim (its amount is exact decimal text).
pub fn money(claim: &Claim) -> String {
    match Decimal::from_str_exact(&claim.amount) {
        Ok(amount) => format!("{} {}", claim.currency, format_amount(amount)),
        Err(_) => format!("{} {}", claim.currency, claim.amount),
    }
}

/// What rendering a card needs.
pub struct Cards<'a> {
    pub templates: &'a Templates,
    pub rules: &'a ClaimRules,
    pub timezone: chrono_tz::Tz,
}

impl Cards<'_> {
    /// The card of `claim` with its `decisions`, cut to one message.
    pub fn render(
        &self,
        claim: &Claim,
        decisions: &[ClaimDecision],
    ) -> Result<String, TemplateError> {
        let threshold = self.rules.currency(&claim.currency).map(|rule| {
            format!(
                "{} {}",
                claim.currency,
                format_amount(rule.two_approvals_above)
            )
        });
        let lines: Vec<String> = decisions
            .iter()
            .map(|d| self.decision_line(claim, d))
            .collect();
        let html = self.templates.render(
            CARD_TEMPLATE,
            minijinja::context! {
                number => claim.number(),
                member => claim.member,
                amount => money(claim),
                reason => claim.reason,
                receipt => claim.receipt_kind,
                needed => claim.approvals_needed,
                threshold => threshold,
                decisions => lines,
                open => claim.state == store::ClaimState::Pending,
            },
        )?;
        Ok(cut(&html, TELEGRAM_MESSAGE_LIMIT))
    }

    fn decision_line(&self, claim: &Claim, decision: &ClaimDecision) -> String {
        let when = decision
            .decided_at()
            .map(|at| self.local(at))
            .unwrap_or_default();
        if decision.approves() {
            let of = if claim.approvals_needed > 1 {
                format!(" ({} of {})", decision.step, claim.approvals_needed)
            } else {
                String::new()
            };
            format!("✅ Approved{of} by {} at {when}", decision.decided_by)
        } else {
            format!(
                "❌ Rejected by {} at {when}: {}",
                decision.decided_by,
                decision.reason.as_deref().unwrap_or_default()
            )
        }
    }

    /// `at` as the team reads it: `Fri 20 Nov 14:05`.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.timezone)
            .format("%a %-d %b %H:%M")
            .to_string()
    }
}

/// Edits the card of `claim` to `html` (with buttons while it is open). The card may not be
/// sent yet (a receipt right after the claim): the edit names its outbox row and follows it
/// out, in the card's thread.
pub async fn edit_card(
    conn: &mut SqliteConnection,
    poster: &Poster<Claims>,
    claim: &Claim,
    html: String,
) -> Result<(), EnqueueError> {
    let Some(outbox_id) = claim.card_outbox_id else {
        tracing::warn!(claim = claim.id, "the claim has no card; not edited");
        return Ok(());
    };
    let thread = claim.card_thread_id.and_then(|t| i32::try_from(t).ok());
    let mut edit = OutgoingMessage::new(claim.card_chat_id, thread, html).in_lane(Lane::Urgent);
    if claim.state == store::ClaimState::Pending {
        edit = edit.with_markup(BUTTONS.keyboard(&claim.id.to_string()));
    }
    edit.kind = MessageKind::EditOf { outbox_id };
    poster.enqueue(conn, edit).await?;
    Ok(())
}

/// Tells the claimant (by DM) and `#claims` how `claim` ended, as Claims. `approvers` for an
/// approval; the rejection's reason for a rejection.
pub async fn confirm(
    conn: &mut SqliteConnection,
    poster: &Poster<Claims>,
    claim: &Claim,
    decisions: &[ClaimDecision],
) -> Result<(), EnqueueError> {
    let what = format!(
        "<b>{}</b> ({}, {})",
        claim.number(),
        escape_html(&money(claim)),
        escape_html(&claim.reason)
    );
    let approvers: Vec<&str> = decisions
        .iter()
        .filter(|d| d.approves())
        .map(|d| d.decided_by.as_str())
        .collect();
    let rejection = decisions.iter().find(|d| !d.approves());
    let (to_claimant, in_thread) = match rejection {
        None => (
            format!(
                "✅ Your claim {what} was approved by {}.",
                escape_html(&approvers.join(" and "))
            ),
            format!(
                "✅ Claim {what} of {} approved by {}.",
                escape_html(&claim.member),
                escape_html(&approvers.join(" and "))
            ),
        ),
        Some(rejected) => {
            let why = escape_html(rejected.reason.as_deref().unwrap_or_default());
            (
                format!(
                    "❌ Your claim {what} was rejected by {}: {why}",
                    escape_html(&rejected.decided_by)
                ),
                format!(
                    "❌ Claim {what} of {} rejected by {}: {why}",
                    escape_html(&claim.member),
                    escape_html(&rejected.decided_by)
                ),
            )
        }
    };
    let thread = claim.card_thread_id.and_then(|t| i32::try_from(t).ok());
    let post = OutgoingMessage::new(
        claim.card_chat_id,
        thread,
        cut(&in_thread, TELEGRAM_MESSAGE_LIMIT),
    );
    poster.enqueue(conn, post).await?;
    let dm = OutgoingMessage::direct(claim.user_id, cut(&to_claimant, TELEGRAM_MESSAGE_LIMIT));
    poster.enqueue(conn, dm).await?;
    Ok(())
}
