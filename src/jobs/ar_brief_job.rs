//! The Friday AR brief as a scheduled job (Claudia, kind `ar_brief`): reads Xero's
//! unpaid receivables and renders [`super::ar_brief`]. If Xero fails, the run fails: nothing
//! partial is posted and the operator gets the cause (the runner's failure DM).

use chrono::{NaiveDate, TimeZone, Utc};
use futures::future::BoxFuture;
use rust_decimal::Decimal;

use super::ar_brief::{render, ArBrief, TEMPLATE};
use super::{Job, JobError, JobInput, JobOutput, JobSpec, Sample};
use crate::identity::Claudia;
use crate::roster::Roster;
use crate::sources::xero::{Invoice, InvoiceKind, InvoiceStatus};
use crate::templates::Templates;

/// The AR brief job.
#[derive(Debug, Default)]
pub struct ArBriefJob;

impl super::JobKind for ArBriefJob {
    const KIND: &'static str = "ar_brief";
    const READS: &'static [super::Source] = &[super::Source::Xero];
    const TITLE: &'static str = "the AR brief";
}

impl Job for ArBriefJob {
    type Bot = Claudia;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let xero = input.xero.as_ref().ok_or_else(|| {
                JobError::Config("the AR brief needs [xero] in bots/herald.toml".into())
            })?;
            let invoices = xero
                .invoices(&["AUTHORISED"], Some("ACCREC"))
                .await
                .map_err(|e| JobError::Xero(e.to_string()))?;
            let brief = ArBrief::build(&invoices, input.local_date());
            Ok(vec![render(&input.templates, &brief)?].into())
        })
    }

    fn check(
        &self,
        _spec: &JobSpec,
        templates: &Templates,
        _roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        samples(templates)
    }
}

/// The brief of [`sample_invoices`] and the empty brief, as `herald check` renders them.
fn samples(templates: &Templates) -> Result<Vec<Sample>, String> {
    let today = sample_day();
    let mut samples = Vec::new();
    for invoices in [sample_invoices(today), Vec::new()] {
        let html =
            render(templates, &ArBrief::build(&invoices, today)).map_err(|e| e.to_string())?;
        samples.push(Sample::new(TEMPLATE, html));
    }
    Ok(samples)
}

/// The day `herald check` renders the brief on: Friday 20 November 2026.
fn sample_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default()
}

/// What `herald check` renders the brief with: made-up invoices that belong to the product
/// (the fake Xero's fixtures belong to the tests). They reach every part of the template:
/// three currencies, every ageing bucket, a contact with several invoices, an invoice with no
/// due date, one not yet due, and names and references that need escaping; a draft and a bill,
/// which the brief leaves out.
fn sample_invoices(today: NaiveDate) -> Vec<Invoice> {
    // `overdue`: days past the due date (negative: not yet due; `None`: no due date).
    let invoice = |n: u32, contact: &str, currency: &str, overdue: Option<i64>| {
        let amount = Decimal::new(i64::from(n) * 12_345, 2);
        Invoice {
            invoice_id: format!("00000000-0000-4000-8000-{n:012}"),
            number: format!("INV-{n:04}"),
            kind: InvoiceKind::AccRec,
            status: InvoiceStatus::Authorised,
            // One id per name, stable across runs.
            contact_id: format!(
                "00000000-0000-4000-9000-{:012x}",
                contact
                    .bytes()
                    .fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b))
                    & 0xffff_ffff_ffff
            ),
            contact_name: contact.to_owned(),
            date: today - chrono::Duration::days(200),
            due_date: overdue.map(|days| today - chrono::Duration::days(days)),
            currency_code: currency.to_owned(),
            sub_total: amount,
            total_tax: Decimal::ZERO,
            total: amount,
            amount_due: amount,
            amount_paid: Decimal::ZERO,
            amount_credited: Decimal::ZERO,
            reference: String::new(),
            line_items: Vec::new(),
            updated: Utc
                .with_ymd_and_hms(2026, 11, 19, 8, 0, 0)
                .single()
                .unwrap_or_default(),
        }
    };
    let mut with_reference = invoice(51, "Lim & Co <Events>", "SGD", Some(45));
    with_reference.reference = "Q3 <workshop> & \"lunch\"".into();
    let mut draft = invoice(64, "Harbour Café", "SGD", Some(-30));
    draft.status = InvoiceStatus::Draft;
    let mut bill = invoice(65, "Office Supplies Pte Ltd", "SGD", Some(-30));
    bill.kind = InvoiceKind::AccPay;
    vec![
        invoice(42, "Tan & Sons Trading Pte Ltd", "SGD", Some(170)),
        invoice(63, "Tan & Sons Trading Pte Ltd", "SGD", Some(81)),
        with_reference,
        invoice(58, "Harbour Café", "USD", Some(7)),
        invoice(60, "Harbour Café", "USD", Some(-14)),
        invoice(61, "O'Brien \"Quotes\" Ltd", "EUR", None),
        draft,
        bill,
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::jobs::ar_brief::BUCKETS;

    #[test]
    fn the_sample_reaches_every_part_of_the_template() {
        let brief = ArBrief::build(&sample_invoices(sample_day()), sample_day());
        assert_eq!(
            brief.invoice_count, 6,
            "the draft and the bill are left out"
        );
        let currencies: Vec<&str> = brief.totals.iter().map(|t| t.currency.as_str()).collect();
        assert_eq!(currencies, ["EUR", "SGD", "USD"]);
        for label in BUCKETS {
            assert!(
                brief
                    .ageing
                    .iter()
                    .flat_map(|a| &a.buckets)
                    .any(|b| b.label == label && b.invoices > 0),
                "no sample invoice in {label}"
            );
        }
        let invoices: Vec<_> = brief.contacts.iter().flat_map(|c| &c.invoices).collect();
        assert!(invoices.iter().any(|i| i.when == "no due date"));
        assert!(invoices.iter().any(|i| i.days_overdue < 0));
        assert!(invoices.iter().any(|i| i.reference.contains('<')));
        assert!(brief.contacts.iter().any(|c| c.invoices.len() > 1));
    }

    #[test]
    fn check_renders_the_sample_and_the_empty_brief_escaped() {
        let templates = Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("the shipped templates load");
        let samples = samples(&templates).expect("renders");
        assert_eq!(samples.len(), 2);
        let full = &samples[0].html;
        assert!(full.contains("Lim &amp; Co &lt;Events&gt;"), "{full}");
        assert!(
            full.contains("Q3 &lt;workshop&gt; &amp; &quot;lunch&quot;"),
            "{full}"
        );
        assert!(full.contains("EUR 7,530.45"), "{full}");
        assert!(samples[1].html.contains("No unpaid receivables"));
        for sample in &samples {
            assert!(sample.problem().is_none(), "{}", sample.html);
        }
    }
}
