//! The kinds of job each identity runs, as types ([`JobKinds`], of [`super::JobKind`]s). What
//! follows from a job's kind lives here too: checking a configured job's settings against what
//! its kind declares ([`check_settings`]) and its template against sample data
//! ([`check_job`]), and which identities' jobs DM the operators ([`operator_dm_senders`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{capability_probe, morning_brief, post, Job, JobKind, JobSpec, KindSetting, Source};
use crate::config::model::{DeploymentFile, JobFile};
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

/// What a kind declares about itself ([`JobKind`]'s constants), for checking a configured job.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub name: &'static str,
    pub settings: &'static [KindSetting],
    pub reads: &'static [Source],
    /// What a finding calls it.
    pub title: &'static str,
    pub needs_template: bool,
}

impl KindInfo {
    fn of<J: JobKind>() -> Self {
        Self {
            name: J::KIND,
            settings: J::SETTINGS,
            reads: J::READS,
            title: if J::TITLE.is_empty() {
                J::KIND
            } else {
                J::TITLE
            },
            needs_template: J::NEEDS_TEMPLATE,
        }
    }
}

/// The job kinds identity `I` runs: [`JobKinds::generic`] (every identity's) plus the ones its
/// file in `src/bots/` adds with [`JobKinds::with`]. A kind of another identity does not fit:
/// `with::<J>` requires `J: Job<Bot = I>`.
pub struct JobKinds<I: BotIdentity> {
    kinds: Vec<(KindInfo, MakeJob<I>)>,
}

impl<I: BotIdentity> JobKinds<I> {
    /// The kinds every identity runs: `post` ([`post::TemplatePost`]).
    pub fn generic() -> Self {
        Self { kinds: Vec::new() }.with::<post::TemplatePost<I>>()
    }

    /// These kinds and `J`.
    pub fn with<J: JobKind<Bot = I>>(mut self) -> Self {
        self.kinds.push((KindInfo::of::<J>(), make::<J>));
        self
    }

    /// A job of kind `kind` (the TOML's word), if `I` runs that kind.
    pub fn job(&self, kind: &str) -> Option<Arc<dyn Job<Bot = I>>> {
        self.kinds
            .iter()
            .find(|(info, _)| info.name == kind)
            .map(|(_, make)| make())
    }

    /// What kind `kind` declares, if `I` runs that kind.
    pub fn info(&self, kind: &str) -> Option<KindInfo> {
        self.kinds
            .iter()
            .map(|(info, _)| *info)
            .find(|info| info.name == kind)
    }

    /// What every kind declares.
    pub fn infos(&self) -> impl Iterator<Item = KindInfo> + '_ {
        self.kinds.iter().map(|(info, _)| *info)
    }

    /// Every kind's name, sorted (for telling which kinds exist).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.infos().map(|info| info.name).collect();
        names.sort_unstable();
        names
    }
}

/// Checks the settings of job `index` of `bot` (`bots/<bot>.toml`) against what its kind
/// declares: a setting only other kinds take (`takers`: each setting's kinds, of every
/// identity), a source it reads that `deployment` leaves out, a template it needs. A kind
/// unknown to `kinds` is left to [`check_job`].
pub fn check_settings(
    bot: &str,
    kind: &KindInfo,
    index: usize,
    job: &JobFile,
    takers: &BTreeMap<KindSetting, Vec<&'static str>>,
    deployment: Option<&DeploymentFile>,
) -> Vec<Finding> {
    let file = format!("bots/{bot}.toml");
    let field = |name: &str| format!("jobs[{index}].{name}");
    let mut findings = Vec::new();
    if let Some(deployment) = deployment {
        for source in kind.reads.iter().filter(|s| s.missing(deployment)) {
            findings.push(Finding::new(
                &file,
                field("kind"),
                format!("{} {}", kind.title, source.advice()),
            ));
        }
    }
    for setting in KindSetting::ALL {
        if setting.is_set(job) && !kind.settings.contains(&setting) {
            let kinds = takers.get(&setting).map_or_else(Vec::new, Clone::clone);
            findings.push(Finding::new(
                &file,
                field(setting.field()),
                format!(
                    "only jobs of kind {} take {} (this one is {})",
                    kinds.join(" or "),
                    setting.field(),
                    kind.name
                ),
            ));
        }
    }
    if kind.needs_template && job.template.is_none() {
        findings.push(Finding::new(
            &file,
            field("template"),
            format!(
                "a job of kind {} needs a template (a file in templates/)",
                kind.name
            ),
        ));
    }
    findings
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
    // A missing template is reported by `check_settings`; there is nothing to render.
    if kinds.info(&job.kind).is_some_and(|k| k.needs_template) && job.template.is_none() {
        return None;
    }
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
