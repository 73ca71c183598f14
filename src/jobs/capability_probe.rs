//! The daily capability probe (Happy, kind `capability_probe`, e.g. 08:00 team time): the
//! same probes as `herald audit`, run in-process through herald's own clients
//! ([`crate::health::prober::Prober`]), stored as the newest probe snapshot, and a DM to
//! every operator only when something regressed or recovered since the previous probe
//! ([`crate::health::daily::news`]); all green and unchanged stays silent, except one line
//! with the first probe of each week. A rerun of the same slot compares with the snapshot the first run stored, so
//! it says nothing twice. It also runs once at every start, when the boot has become healthy
//! ([`crate::schedule::runner`]'s start runs).

use futures::future::BoxFuture;
use serde::Serialize;

use super::{Job, JobError, JobInput, JobOutput, JobSpec, Sample};
use crate::health::daily::{news, weekly_line_due, Change, News};
use crate::identity::Happy;
use crate::roster::Roster;
use crate::templates::{TemplateError, Templates};

/// The template used when a job names none.
pub const DEFAULT_TEMPLATE: &str = "capability_probe.html";

/// The capability probe job.
#[derive(Debug, Default)]
pub struct CapabilityProbe;

impl super::JobKind for CapabilityProbe {
    const KIND: &'static str = "capability_probe";
}

#[derive(Serialize)]
struct View<'a> {
    #[serde(flatten)]
    news: &'a News,
    at: String,
}

/// The DM for `news`, probed at `at` (the team's local time, e.g. "Mon 30 Nov 08:00").
pub fn render(
    templates: &Templates,
    template: &str,
    news: &News,
    at: String,
) -> Result<String, TemplateError> {
    templates.render(
        template,
        minijinja::Value::from_serialize(View { news, at }),
    )
}

impl Job for CapabilityProbe {
    type Bot = Happy;

    /// A bot removed or a topic deleted while herald was down is told at the next start, not
    /// at the next 08:00.
    fn runs_at_start(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let prober = input.prober.as_ref().ok_or_else(|| {
                JobError::Config("the capability probe runs only inside herald run".into())
            })?;
            let report = prober.run().await;
            let previous =
                crate::health::record(&input.store, &report, input.slot, "probe", Some("probe"))
                    .await?;
            let zone = input.roster.timezone();
            let local = input.slot.with_timezone(&zone);
            let weekly = weekly_line_due(previous.as_ref().map(|p| p.at), input.slot, zone);
            let previous = previous.map(|p| p.report);
            let Some(news) = news(&report, previous.as_ref(), weekly) else {
                return Ok(JobOutput::default());
            };
            let html = render(
                &input.templates,
                input.spec.template_or(DEFAULT_TEMPLATE),
                &news,
                local.format("%a %-d %b %H:%M").to_string(),
            )?;
            Ok(JobOutput::to_operators(&input.roster, &html))
        })
    }

    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        _roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let template = spec.template_or(DEFAULT_TEMPLATE);
        let change = |capability: &str, before, after, cause: &str, fix: &str| Change {
            capability: capability.into(),
            before,
            after,
            cause: cause.into(),
            fix: fix.into(),
        };
        let changes = News {
            regressed: vec![
                change(
                    "claudia: member of team chat",
                    "OK",
                    "BROKEN",
                    "Forbidden: bot was kicked from the supergroup chat",
                    "add @acme_claudia_bot to the team chat <as a member> who may post",
                ),
                change(
                    "clawrence: privacy mode",
                    "OK",
                    "DEGRADED",
                    "on: sees only commands & replies",
                    "",
                ),
            ],
            recovered: vec![change("xero: refresh", "BROKEN", "OK", "refreshed", "")],
            all_ok: None,
        };
        let weekly = News {
            regressed: Vec::new(),
            recovered: Vec::new(),
            all_ok: Some(33),
        };
        let at = || "Mon 30 Nov 08:00".to_owned();
        [changes, weekly]
            .iter()
            .map(|news| {
                render(templates, template, news, at())
                    .map(|html| Sample::new(template, html))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}
