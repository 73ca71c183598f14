//! The Friday AR brief as a scheduled job (Claudia, kind `ar_brief`): reads Xero's
//! unpaid receivables and renders [`super::ar_brief`]. If Xero fails, the run fails: nothing
//! partial is posted and the operator gets the cause (the runner's failure DM).

use chrono::NaiveDate;
use futures::future::BoxFuture;

use super::ar_brief::{render, ArBrief, TEMPLATE};
use super::{Job, JobError, JobInput, JobSpec, Sample};
use crate::identity::Claudia;
use crate::roster::Roster;
use crate::templates::Templates;

/// The AR brief job.
#[derive(Debug, Default)]
pub struct ArBriefJob;

impl super::JobKind for ArBriefJob {
    const KIND: &'static str = "ar_brief";
}

impl Job for ArBriefJob {
    type Bot = Claudia;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<Vec<String>, JobError>> {
        Box::pin(async move {
            let xero = input.xero.as_ref().ok_or_else(|| {
                JobError::Config("the AR brief needs [xero] in bots/herald.toml".into())
            })?;
            let invoices = xero
                .invoices(&["AUTHORISED"], Some("ACCREC"))
                .await
                .map_err(|e| JobError::Xero(e.to_string()))?;
            let brief = ArBrief::build(&invoices, input.local_date());
            Ok(vec![render(&input.templates, &brief)?])
        })
    }

    fn check(
        &self,
        _spec: &JobSpec,
        templates: &Templates,
        _roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default();
        let mut samples = Vec::new();
        for invoices in [crate::sim::xero::FakeXero::fixture_invoices(), Vec::new()] {
            let html =
                render(templates, &ArBrief::build(&invoices, today)).map_err(|e| e.to_string())?;
            samples.push(Sample::new(TEMPLATE, html));
        }
        Ok(samples)
    }
}
