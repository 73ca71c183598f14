//! One module per bot: what each identity does beyond what every bot does. Each file holds
//! its identity's [`Bot`] impl: its own commands and handler branches, the job kinds it runs,
//! its approval desk. The handler tree every bot shares is in [`crate::inbound`]; the
//! identities themselves (markers, posters) in [`crate::identity`].
//!
//! The modules are generated from the one list of identities (`every_identity!` in
//! `src/identity.rs`): a new marker line there asks for `src/bots/<name>.rs`, and
//! [`visit_all`] asks that file for its `impl Bot`.

use std::collections::BTreeMap;

use crate::approvals::{ApprovalDesk, DeskInputs};
use crate::config::model::{BotFile, DeploymentFile};
use crate::config::{Config, Finding};
use crate::identity::{BotIdentity, Poster};
use crate::inbound::{OwnBranches, UpdateHandler};
use crate::jobs::kinds::JobKinds;
use crate::jobs::KindSetting;
use crate::templates::Templates;

/// What an identity does with updates and jobs, beyond the `/help`, routing and console
/// every bot has. Every method has a default: a bot with nothing of its own is one empty impl.
pub trait Bot: BotIdentity + Sized {
    /// Branches handling this identity's own commands (besides `/help`); each receives
    /// `Command`, `Poster<Self>`, `UnitOfWork` and `Arc<BotContext>`.
    fn command_branches() -> Option<UpdateHandler> {
        None
    }

    /// Branches for members' messages (new or edited) that are no command for this bot;
    /// each receives `Message`, `Poster<Self>`, `UnitOfWork` and `Arc<BotContext>`.
    fn message_branches() -> Option<UpdateHandler> {
        None
    }

    /// Branches for button taps (callback queries) of this identity's own cards; each
    /// receives `CallbackQuery`, `Poster<Self>`, `UnitOfWork` and `Arc<BotContext>`.
    fn callback_branches() -> Option<UpdateHandler> {
        None
    }

    /// The approval desk this identity runs, if it is the finance bot (`[approvals]` set).
    fn approval_desk(_poster: Poster<Self>, _inputs: DeskInputs) -> Option<ApprovalDesk> {
        None
    }

    /// The gym desk this identity runs, if it is GymBooker (`[gym]` set).
    fn gym_desk(
        _poster: Poster<Self>,
        _inputs: crate::gym::desk::GymDeskInputs,
    ) -> Option<crate::gym::desk::GymDesk> {
        None
    }

    /// Whether this identity must see every group message (privacy mode off); start-up
    /// warns loudly when `getMe` says it doesn't.
    fn reads_all_group_messages() -> bool {
        false
    }

    /// The job kinds this identity runs: the generic ones, plus its own.
    fn job_kinds() -> JobKinds<Self> {
        JobKinds::generic()
    }
}

/// Calls [`BotVisitor::visit`] once for every identity, with what it does: how start-up
/// launches each bot without naming one at run time.
pub trait BotVisitor {
    fn visit<I: Bot>(&mut self);
}

macro_rules! bot_modules {
    ($($marker:ident => $module:ident, $display:literal;)+) => {
        $(
            #[doc = concat!("What ", $display, " does.")]
            pub mod $module;
        )+

        /// Visits every identity, in declaration order.
        pub fn visit_all<V: BotVisitor>(visitor: &mut V) {
            $( visitor.visit::<crate::identity::$marker>(); )+
        }
    };
}

crate::identity::every_identity!(bot_modules);

/// The identities that must read every group message (so privacy mode must be off).
pub fn reading_all_group_messages() -> Vec<&'static str> {
    struct Collect(Vec<&'static str>);
    impl BotVisitor for Collect {
        fn visit<I: Bot>(&mut self) {
            if I::reads_all_group_messages() {
                self.0.push(I::NAME);
            }
        }
    }
    let mut collect = Collect(Vec::new());
    visit_all(&mut collect);
    collect.0
}

/// The full handler tree of identity `I`: the one every bot shares, with `I`'s own branches.
pub fn handler_tree<I: Bot>() -> UpdateHandler {
    crate::inbound::common::handler_tree::<I>(OwnBranches {
        commands: I::command_branches(),
        messages: I::message_branches(),
        callbacks: I::callback_branches(),
    })
}

/// Checks every job of the deployment that configuration alone cannot: the kind exists for
/// its identity, and its template renders against sample data into HTML Telegram accepts.
pub fn check_jobs(config: &Config, templates: &Templates) -> Vec<Finding> {
    struct Check<'a> {
        config: &'a Config,
        templates: &'a Templates,
        findings: Vec<Finding>,
    }
    impl BotVisitor for Check<'_> {
        fn visit<I: Bot>(&mut self) {
            let Some(bot) = self.config.bot(I::NAME) else {
                return;
            };
            let kinds = I::job_kinds();
            for (i, job) in bot.jobs.iter().enumerate() {
                let finding = crate::jobs::kinds::check_job(
                    &kinds,
                    i,
                    job,
                    self.templates,
                    &self.config.roster,
                );
                self.findings.extend(finding);
            }
        }
    }
    let mut check = Check {
        config,
        templates,
        findings: Vec::new(),
    };
    visit_all(&mut check);
    check.findings
}

/// Checks every configured job's settings against what its kind declares
/// ([`crate::jobs::kinds::check_settings`]), from whatever files parsed (`deployment`: `None`
/// when `bots/herald.toml` did not). A kind its identity does not run is left to
/// [`check_jobs`].
pub fn check_job_settings(
    bots: &BTreeMap<&'static str, BotFile>,
    deployment: Option<&DeploymentFile>,
) -> Vec<Finding> {
    /// Which kinds, of any identity, take each setting.
    struct Takers(BTreeMap<KindSetting, Vec<&'static str>>);
    impl BotVisitor for Takers {
        fn visit<I: Bot>(&mut self) {
            for info in I::job_kinds().infos() {
                for setting in info.settings {
                    let kinds = self.0.entry(*setting).or_default();
                    if !kinds.contains(&info.name) {
                        kinds.push(info.name);
                        kinds.sort_unstable();
                    }
                }
            }
        }
    }
    struct Check<'a> {
        bots: &'a BTreeMap<&'static str, BotFile>,
        deployment: Option<&'a DeploymentFile>,
        takers: BTreeMap<KindSetting, Vec<&'static str>>,
        findings: Vec<Finding>,
    }
    impl BotVisitor for Check<'_> {
        fn visit<I: Bot>(&mut self) {
            let Some(bot) = self.bots.get(I::NAME) else {
                return;
            };
            let kinds = I::job_kinds();
            for (index, job) in bot.jobs.iter().enumerate() {
                if let Some(kind) = kinds.info(&job.kind) {
                    self.findings.extend(crate::jobs::kinds::check_settings(
                        I::NAME,
                        &kind,
                        index,
                        job,
                        &self.takers,
                        self.deployment,
                    ));
                }
            }
        }
    }
    let mut takers = Takers(BTreeMap::new());
    visit_all(&mut takers);
    let mut check = Check {
        bots,
        deployment,
        takers: takers.0,
        findings: Vec::new(),
    };
    visit_all(&mut check);
    check.findings
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inbound::{BotContext, UnitOfWork};

    /// Every identity's handler tree asks only for dependencies the poller provides, so a
    /// missing one fails here rather than panicking on the first update in production.
    struct TypeCheck;
    impl BotVisitor for TypeCheck {
        fn visit<I: Bot>(&mut self) {
            let tree = handler_tree::<I>();
            let provided = [
                dptree::Type::of::<teloxide::types::Update>(),
                dptree::Type::of::<UnitOfWork>(),
                dptree::Type::of::<Arc<BotContext>>(),
                dptree::Type::of::<Poster<I>>(),
            ];
            dptree::type_check(tree.sig(), &dptree::di::DependencyMap::new(), &provided);
        }
    }

    #[test]
    fn all_seven_handler_trees_type_check() {
        visit_all(&mut TypeCheck);
    }

    /// Each identity's kinds are distinct (a kind listed twice would shadow the other) and
    /// every identity runs the generic `post`.
    struct Kinds(Vec<(&'static str, Vec<&'static str>)>);
    impl BotVisitor for Kinds {
        fn visit<I: Bot>(&mut self) {
            self.0.push((I::NAME, I::job_kinds().names()));
        }
    }

    #[test]
    fn job_kinds_are_distinct_per_identity_and_named_by_their_types() {
        let mut kinds = Kinds(Vec::new());
        visit_all(&mut kinds);
        for (bot, names) in &kinds.0 {
            let mut distinct = names.clone();
            distinct.dedup();
            assert_eq!(&distinct, names, "{bot} lists a kind twice");
            assert!(names.contains(&"post"), "{bot}: {names:?}");
        }
        let of = |bot: &str| kinds.0.iter().find(|(b, _)| *b == bot).unwrap().1.clone();
        assert_eq!(of("claudia"), ["ar_brief", "post"]);
        assert_eq!(
            of("clawrence"),
            [
                "cake_reminder",
                "laser_chase",
                "post",
                "team_pulse",
                "volts_leaderboard"
            ]
        );
        assert_eq!(of("lawrence"), ["post"]);
        assert_eq!(of("happy"), ["capability_probe", "morning_brief", "post"]);
        assert!(crate::identity::Claudia::job_kinds()
            .job("ar_brief")
            .is_some());
        assert!(crate::identity::Clawrence::job_kinds()
            .job("ar_brief")
            .is_none());
    }
}
