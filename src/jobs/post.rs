//! The `post` job: renders one template and posts it in the job's thread. For fixed-text
//! rituals (a call reminder, a team pulse prompt) where the only data is the date.
//!
//! The template sees `team` (team name), `job`, `thread`, `date` ("Monday 23 November
//! 2026"), `day` ("Monday"), `iso_date` ("2026-11-23") and `time` ("09:00"), all in the job's
//! time zone.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::{Job, JobError, JobInput, JobOutput, JobSpec, Sample};
use crate::identity::BotIdentity;
use crate::roster::Roster;
use crate::templates::Templates;

/// Posts a rendered template.
pub struct TemplatePost<I> {
    _identity: PhantomData<fn() -> I>,
}

impl<I> TemplatePost<I> {
    pub fn new() -> Self {
        Self {
            _identity: PhantomData,
        }
    }
}

impl<I> Default for TemplatePost<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: BotIdentity> super::JobKind for TemplatePost<I> {
    const KIND: &'static str = "post";
    const NEEDS_TEMPLATE: bool = true;
}

fn render(
    spec: &JobSpec,
    slot: DateTime<Utc>,
    templates: &Templates,
    roster: &Roster,
) -> Result<String, JobError> {
    let template = spec.template.as_deref().ok_or_else(|| {
        JobError::Config(format!("job {} of kind post has no template", spec.name))
    })?;
    let context = context(
        roster.team_name(),
        &spec.name,
        &spec.thread,
        spec.local(slot),
    );
    Ok(templates.render(template, context)?)
}

/// What a post template sees (see the module documentation).
pub fn context(
    team: &str,
    job: &str,
    thread: &str,
    local: DateTime<chrono_tz::Tz>,
) -> minijinja::Value {
    minijinja::context! {
        team => team,
        job => job,
        thread => thread,
        date => local.format("%A %-d %B %Y").to_string(),
        day => local.format("%A").to_string(),
        iso_date => local.format("%Y-%m-%d").to_string(),
        time => local.format("%H:%M").to_string(),
    }
}

impl<I: BotIdentity> Job for TemplatePost<I> {
    type Bot = I;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let text = render(&input.spec, input.slot, &input.templates, &input.roster)?;
            Ok(if text.trim().is_empty() {
                JobOutput::default()
            } else {
                vec![text].into()
            })
        })
    }

    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let html =
            render(spec, super::sample_slot(spec), templates, roster).map_err(|e| e.to_string())?;
        Ok(vec![Sample::new(
            spec.template.as_deref().unwrap_or_default(),
            html,
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{JobFile, Misfire};
    use crate::identity::Clawrence;

    fn spec(template: &str) -> JobSpec {
        let roster = crate::roster::tests_support::example();
        let file = JobFile {
            name: "team-pulse".into(),
            kind: "post".into(),
            cron: "0 9 * * MON-FRI".into(),
            timezone: "Asia/Singapore".into(),
            thread: "pulse".into(),
            template: Some(template.into()),
            misfire: Misfire::CatchUp,
            grace_minutes: 30,
            timeout_seconds: 60,
            max_messages: 50,
            clean_sweep: None,
            top: None,
            nag_after_days: None,
            days_ahead: None,
            post_in_thread: None,
        };
        JobSpec::from_file("clawrence", &file, &roster).unwrap()
    }

    #[test]
    fn renders_date_in_the_job_zone_and_checks_templates() {
        let roster = crate::roster::tests_support::example();
        let templates = Templates::from_sources(&[
            ("p.html", "{{ team }}: {{ day }} {{ iso_date }} {{ time }}"),
            ("bad.html", "{{ nope }}"),
        ])
        .unwrap();
        let spec = spec("p.html");
        // 01:00 UTC is 09:00 in Singapore.
        let slot = "2026-11-23T01:00:00Z".parse().unwrap();
        assert_eq!(
            render(&spec, slot, &templates, &roster).unwrap(),
            "Acme Advisory: Monday 2026-11-23 09:00"
        );
        let job = TemplatePost::<Clawrence>::new();
        assert!(job.check(&spec, &templates, &roster).is_ok());
        let err = job
            .check(&self::spec("bad.html"), &templates, &roster)
            .unwrap_err();
        assert!(err.contains("templates/bad.html"), "{err}");
    }
}
