//! The kinds of job each identity runs, as types ([`JobKinds`], of [`super::JobKind`]s). What follows
//! from a job's kind lives here too: checking a configured job against its kind
//! ([`check_job`]), and which identities' jobs DM the operators ([`operator_dm_senders`]).

use std::sync::Arc;

use super::{capability_probe, morning_brief, post, Job, JobKind, JobSpec};
use crate::config::model::JobFile;
use crate::config::Finding;
use crate::identity::BotIdentity;
use crate::roster::Roster;
use crate::templates::Templates;

/// The identities with a job that DMs every operator (kinds `capability_probe` and
/// `morning_brief`): the health probes check that each can reach the operators' chats.
pub fn operator_dm_senders(config: &crate::config::Config) -> Vec<&'static str> {
    let dms = [
        <capability_probe::CapabilityProbe as JobKind>::KIND,
        <morning_brief::MorningBrief as JobKind>::KIND,
    ];
    config
        .bots
        .iter()
        .filter(|(_, bot)| bot.jobs.iter().any(|job| dms.contains(&job.kind.as_str())))
        .map(|(&name, _)| name)
        .collect()
}

/// A new job of kind `J`, as the runner holds it.
fn make<J: JobKind>() -> Arc<dyn Job<Bot = J::Bot>> {
    Arc::new(J::default())
}

/// Makes a new job of one kind for identity `I` ([`make`] for that kind).
type MakeJob<I> = fn() -> Arc<dyn Job<Bot = I>>;

/// The job kinds identity `I` runs: [`JobKinds::generic`] (every identity's) plus the ones its
/// file in `src/bots/` adds with [`JobKinds::with`]. A kind of another identity does not fit:
/// `with::<J>` requires `J: Job<Bot = I>`.
pub struct JobKinds<I: BotIdentity> {
    kinds: Vec<(&'static str, MakeJob<I>)>,
}

impl<I: BotIdentity> JobKinds<I> {
    /// The kinds every identity runs: `post` ([`post::TemplatePost`]).
    pub fn generic() -> Self {
        Self { kinds: Vec::new() }.with::<post::TemplatePost<I>>()
    }

    /// These kinds and `J`.
    pub fn with<J: JobKind<Bot = I>>(mut self) -> Self {
        self.kinds.push((J::KIND, make::<J>));
        self
    }

    /// A job of kind `kind` (the TOML's word), if `I` runs that kind.
    pub fn job(&self, kind: &str) -> Option<Arc<dyn Job<Bot = I>>> {
        self.kinds
            .iter()
            .find(|(name, _)| *name == kind)
            .map(|(_, make)| make())
    }

    /// Every kind's name, sorted (for telling which kinds exist).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.kinds.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names
    }
}

/// Checks one job of `bot` that configuration alone cannot: the kind exists for its identity,
/// and its template renders against sample data into HTML Telegram accepts. `index` is its
/// place in the file's `[[jobs]]`.
pub fn check_job<I: BotIdentity>(
    kinds: &JobKinds<I>,
    index: usize,
    job: &JobFile,
    templates: &Templates,
    roster: &Roster,
) -> Option<Finding> {
    let file = format!("bots/{}.toml", I::NAME);
    let Some(runner) = kinds.job(&job.kind) else {
        return Some(Finding::new(
            &file,
            format!("jobs[{index}].kind"),
            format!(
                "{} cannot run jobs of kind \"{}\" (it can run: {})",
                I::NAME,
                job.kind,
                kinds.names().join(", ")
            ),
        ));
    };
    // A spec that does not parse is already reported by the configuration checks.
    let spec = JobSpec::from_file(I::NAME, job, roster).ok()?;
    if let Some(name) = &spec.template {
        if !templates.contains(name) {
            return Some(Finding::new(
                &file,
                format!("jobs[{index}].template"),
                format!("no template \"{name}\" in templates/"),
            ));
        }
    }
    match runner.check(&spec, templates, roster) {
        Err(problem) => Some(Finding::new(&file, format!("jobs[{index}]"), problem)),
        Ok(samples) => samples
            .iter()
            .find_map(|s| s.problem().map(|problem| (s, problem)))
            .map(|(sample, problem)| {
                Finding::new(
                    &file,
                    format!("jobs[{index}]"),
                    format!(
                        "templates/{}: Telegram would refuse what it renders from sample data: {problem}",
                        sample.template
                    ),
                )
            }),
    }
}
