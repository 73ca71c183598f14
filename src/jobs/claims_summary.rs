//! The weekly claims summary (Claims, claims thread): the seven days up to the slot, with what
//! was approved in them (totals per currency, exact decimals), how many claims were filed and
//! how many rejected, and every claim still awaiting a decision, so nothing sits unnoticed.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Job, JobError, JobInput, JobOutput, JobSpec, Sample};
use crate::identity::Claims;
use crate::jobs::ar_brief::format_money;
use crate::roster::Roster;
use crate::store::claims::{self, ApprovedClaim, Claim, ClaimState};
use crate::templates::{TemplateError, Templates};

/// The template used when a job names none.
pub const DEFAULT_TEMPLATE: &str = "claims_summary.html";

/// The weekly summary job.
#[derive(Debug, Default)]
pub struct ClaimsSummary;

impl super::JobKind for ClaimsSummary {
    const KIND: &'static str = "claims_summary";
    const TITLE: &'static str = "the weekly claims summary";
}

/// Approved money in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approved {
    pub currency: String,
    pub total: String,
    pub claims: usize,
}

/// A claim awaiting a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub number: String,
    pub member: String,
    pub amount: String,
    pub days: i64,
}

/// Everything one summary renders from.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub from: String,
    pub to: String,
    pub approved: Vec<Approved>,
    pub filed: usize,
    pub rejected: usize,
    pub pending: Vec<Waiting>,
}

impl Summary {
    /// The week `[slot - 7 days, slot)` from its claims (`rejected`: how many were rejected in
    /// it), in `zone` for the dates.
    pub fn build(
        slot: DateTime<Utc>,
        zone: chrono_tz::Tz,
        approved: &[ApprovedClaim],
        filed: &[Claim],
        rejected: usize,
        pending: &[Claim],
    ) -> Self {
        let mut totals: BTreeMap<&str, (Decimal, usize)> = BTreeMap::new();
        for claim in approved.iter().map(|a| &a.claim) {
            let amount = Decimal::from_str_exact(&claim.amount).unwrap_or_default();
            let entry = totals.entry(&claim.currency).or_default();
            entry.0 += amount;
            entry.1 += 1;
        }
        let day = |at: DateTime<Utc>| at.with_timezone(&zone).format("%a %-d %b").to_string();
        Self {
            from: day(slot - Duration::days(7)),
            to: day(slot),
            approved: totals
                .into_iter()
                .map(|(currency, (total, claims))| Approved {
                    currency: currency.to_owned(),
                    total: format_money(currency, total),
                    claims,
                })
                .collect(),
            filed: filed.len(),
            rejected,
            pending: pending
                .iter()
                .map(|c| Waiting {
                    number: c.number(),
                    member: c.member.clone(),
                    amount: crate::claims::money(c),
                    days: c.submitted_at().map_or(0, |at| (slot - at).num_days()),
                })
                .collect(),
        }
    }

    pub fn render(&self, templates: &Templates, template: &str) -> Result<String, TemplateError> {
        templates.render(template, minijinja::Value::from_serialize(self))
    }
}

impl Job for ClaimsSummary {
    type Bot = Claims;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let to = input.slot;
            let from = to - Duration::days(7);
            let mut conn = input.store.pool().acquire().await?;
            let approved = claims::approved_between(&mut conn, from, to).await?;
            let filed = claims::submitted_between(&mut conn, from, to).await?;
            let pending = claims::pending(&mut conn).await?;
            let rejected = claims::rejected_between(&mut conn, from, to).await?;
            let rejected = usize::try_from(rejected).unwrap_or_default();
            let summary = Summary::build(
                to,
                input.roster.timezone(),
                &approved,
                &filed,
                rejected,
                &pending,
            );
            let html =
                summary.render(&input.templates, input.spec.template_or(DEFAULT_TEMPLATE))?;
            Ok(vec![html].into())
        })
    }

    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let slot = super::sample_slot(spec);
        let member = roster
            .members()
            .first()
            .map_or("A member", |m| m.name.as_str());
        let sample = |id: i64, amount: &str, state: ClaimState| Claim {
            id,
            member: member.to_owned(),
            user_id: 1,
            amount: amount.to_owned(),
            currency: "SGD".to_owned(),
            reason: "taxi".to_owned(),
            approvals_needed: 1,
            state,
            chat_id: roster.chat_id(),
            thread_id: None,
            message_id: id,
            ack_outbox_id: None,
            card_outbox_id: None,
            card_chat_id: roster.chat_id(),
            card_thread_id: None,
            receipt_kind: None,
            receipt_file_id: None,
            receipt_chat_id: None,
            receipt_message_id: None,
            submitted_at: crate::store::time_key(slot - Duration::days(2)),
            decided_at: None,
        };
        let approved = vec![ApprovedClaim {
            claim: sample(1, "1234.50", ClaimState::Approved),
            approvers: member.to_owned(),
        }];
        let filed = vec![
            approved[0].claim.clone(),
            sample(2, "20", ClaimState::Rejected),
            sample(3, "45.20", ClaimState::Pending),
        ];
        let pending = vec![filed[2].clone()];
        let template = spec.template_or(DEFAULT_TEMPLATE);
        let mut samples = Vec::new();
        for summary in [
            Summary::build(slot, spec.timezone, &approved, &filed, 1, &pending),
            Summary::build(slot, spec.timezone, &[], &[], 0, &[]),
        ] {
            let html = summary
                .render(templates, template)
                .map_err(|e| e.to_string())?;
            samples.push(Sample::new(template, html));
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: i64, amount: &str, currency: &str, state: ClaimState, days_old: i64) -> Claim {
        let slot: DateTime<Utc> = "2026-12-04T09:00:00Z".parse().unwrap();
        Claim {
            id,
            member: "Siti Rahman".into(),
            user_id: 1,
            amount: amount.into(),
            currency: currency.into(),
            reason: "taxi".into(),
            approvals_needed: 1,
            state,
            chat_id: -100,
            thread_id: None,
            message_id: id,
            ack_outbox_id: None,
            card_outbox_id: None,
            card_chat_id: -100,
            card_thread_id: None,
            receipt_kind: None,
            receipt_file_id: None,
            receipt_chat_id: None,
            receipt_message_id: None,
            submitted_at: crate::store::time_key(slot - Duration::days(days_old)),
            decided_at: None,
        }
    }

    /// Totals per currency are exact sums; filed and rejected are counted; what waits is
    /// listed with its age in days.
    #[test]
    fn the_week_sums_exactly_per_currency_and_lists_what_waits() {
        let slot: DateTime<Utc> = "2026-12-04T09:00:00Z".parse().unwrap();
        let approved: Vec<ApprovedClaim> = [("0.10", "SGD"), ("0.20", "SGD"), ("1,000", "MYR")]
            .iter()
            .enumerate()
            .map(|(i, (amount, currency))| ApprovedClaim {
                claim: claim(
                    i as i64 + 1,
                    &amount.replace(',', ""),
                    currency,
                    ClaimState::Approved,
                    2,
                ),
                approvers: "Priya Raman".into(),
            })
            .collect();
        let filed = vec![
            approved[0].claim.clone(),
            claim(4, "5", "SGD", ClaimState::Rejected, 1),
            claim(5, "7", "SGD", ClaimState::Pending, 3),
        ];
        let pending = vec![filed[2].clone()];
        let tz: chrono_tz::Tz = "Asia/Singapore".parse().unwrap();
        let summary = Summary::build(slot, tz, &approved, &filed, 1, &pending);
        assert_eq!(
            summary.approved,
            [
                Approved {
                    currency: "MYR".into(),
                    total: "MYR 1,000.00".into(),
                    claims: 1
                },
                Approved {
                    currency: "SGD".into(),
                    total: "SGD 0.30".into(),
                    claims: 2
                },
            ]
        );
        assert_eq!((summary.filed, summary.rejected), (3, 1));
        assert_eq!(summary.pending[0].number, "C-0005");
        assert_eq!(summary.pending[0].days, 3);
        assert_eq!(
            (summary.from.as_str(), summary.to.as_str()),
            ("Fri 27 Nov", "Fri 4 Dec")
        );
    }
}
