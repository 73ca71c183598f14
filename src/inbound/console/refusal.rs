//! The replies to a console command that is not run: an unknown command, arguments that do
//! not fit, a job or identity that does not exist, and anything but the diagnose-mode
//! commands while herald is in diagnose mode. None of them changes anything.

use minijinja::context;

use super::command::{CommandName, Refusal};
use super::session::{quoted, render};
use crate::store::pauses::UnknownName;
use crate::text::ECHO_LIMIT;

/// The reply to `refusal`; `jobs` are the configured jobs' names (listed where a job is
/// expected).
pub(super) fn reply(refusal: &Refusal, jobs: &[&str]) -> String {
    match refusal {
        Refusal::UnknownCommand { word } => render(
            "command_unknown.html",
            context! { command => quoted(word, ECHO_LIMIT) },
        ),
        Refusal::BadArguments { command, problem } => {
            let lists_jobs = matches!(command, CommandName::Run | CommandName::Preview);
            render(
                "command_usage.html",
                context! {
                    usage => command.spec().usage,
                    problem,
                    jobs => lists_jobs.then_some(jobs),
                },
            )
        }
        Refusal::UnknownJob { job, .. }
        | Refusal::UnknownName {
            name: UnknownName::Job(job),
            ..
        } => render(
            "command_unknown_job.html",
            context! { job => quoted(job, ECHO_LIMIT), jobs },
        ),
        Refusal::UnknownName {
            name: UnknownName::Identity(name),
            ..
        } => render(
            "command_unknown_identity.html",
            context! {
                name => quoted(name, ECHO_LIMIT),
                identities => crate::identity::IDENTITY_NAMES,
            },
        ),
    }
}

/// The reply to a command that does not work in diagnose mode: it names the ones that do.
pub(super) fn diagnose_mode() -> String {
    let working: Vec<String> = CommandName::ALL
        .iter()
        .map(|c| c.spec())
        .filter(|spec| spec.in_diagnose_mode)
        .map(|spec| format!("/{}", spec.name))
        .collect();
    render(
        "command_diagnose_mode.html",
        context! { commands => working },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOBS: &[&str] = &["team-pulse", "laser-chase"];

    #[test]
    fn every_refusal_names_the_command_and_its_usage_or_what_is_missing() {
        let cases = [
            (
                Refusal::UnknownCommand {
                    word: "frobnicate".into(),
                },
                "I don't know /frobnicate. /help lists the console commands.",
            ),
            (
                Refusal::BadArguments {
                    command: CommandName::Run,
                    problem: None,
                },
                "Usage: /run JOB. Jobs: team-pulse, laser-chase.",
            ),
            (
                Refusal::BadArguments {
                    command: CommandName::Log,
                    problem: Some("unknown filter `<b>`".into()),
                },
                "Usage: /log [bot NAME | job NAME | user ID] (unknown filter `&lt;b&gt;`).",
            ),
            (
                Refusal::UnknownJob {
                    command: CommandName::Preview,
                    job: "no&pe".into(),
                },
                "No job no&amp;pe. Jobs: team-pulse, laser-chase.",
            ),
            (
                Refusal::UnknownName {
                    command: CommandName::Pause,
                    name: UnknownName::Identity("nobody".into()),
                },
                "No identity nobody. Identities: claudia, clawrence, lawrence, happy, gymbooker, claims, pakgupei.",
            ),
        ];
        for (refusal, expected) in cases {
            assert_eq!(reply(&refusal, JOBS), expected, "{refusal:?}");
        }
        assert!(reply(
            &Refusal::UnknownJob {
                command: CommandName::Run,
                job: "x".into()
            },
            &[]
        )
        .ends_with("Jobs: none configured."));
    }

    #[test]
    fn diagnose_mode_names_the_commands_that_still_work() {
        assert_eq!(
            diagnose_mode(),
            "🩺 herald is in diagnose mode: only /status, /log and /help work. Fix the cause, then restart with <code>herald run --force</code>."
        );
    }
}
