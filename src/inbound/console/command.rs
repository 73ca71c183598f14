//! The console's commands as one type. [`ConsoleCommand::parse`] is the only place that reads
//! a console command's text: it yields the command with its arguments checked, or a
//! [`Refusal`] saying what is wrong. Everything that lists the commands (`/help`, Telegram's
//! menu, the diagnose-mode refusal, the refusal in a group) derives from [`CommandName::ALL`]
//! and [`CommandName::spec`], so a new command cannot be left out of any of them.

use crate::store::audit::AuditFilter;
use crate::store::pauses::{PauseScope, UnknownName};
use crate::text::cut_plain;

/// How much of a problem with an operator's arguments (it quotes them) is shown.
const PROBLEM_LIMIT: usize = 160;

/// How many entries `/log` shows.
const LOG_ENTRIES: i64 = 15;

/// The range of `/next N`, and its default.
const NEXT_RANGE: std::ops::RangeInclusive<usize> = 1..=50;
const NEXT_DEFAULT: usize = 10;

/// Declares [`CommandName`] and its [`CommandName::ALL`] from one list, so that a command
/// cannot exist without being listed.
macro_rules! command_names {
    ($($(#[$doc:meta])* $variant:ident,)+) => {
        /// Which console command, without its arguments.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CommandName {
            $($(#[$doc])* $variant,)+
        }

        impl CommandName {
            /// Every console command, in the order `/help` and the menu list them.
            pub const ALL: &'static [CommandName] = &[$(CommandName::$variant,)+];
        }
    };
}

command_names! {
    /// `/status`
    Status,
    /// `/jobs`
    Jobs,
    /// `/next [N]`
    Next,
    /// `/run JOB`
    Run,
    /// `/preview JOB`
    Preview,
    /// `/pause [SCOPE]`
    Pause,
    /// `/resume [SCOPE]`
    Resume,
    /// `/ambiguous`
    Ambiguous,
    /// `/failed`
    Failed,
    /// `/log [FILTER]`
    Log,
    /// `/pending`
    Pending,
    /// `/help`
    Help,
}

/// What `/help` and Telegram's menu say about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command word, without the slash (Telegram's `command`).
    pub name: &'static str,
    /// How to call it, for `/help` and the reply to bad arguments.
    pub usage: &'static str,
    /// What it does (Telegram's menu `description`, and `/help`).
    pub description: &'static str,
    /// Whether it still works in diagnose mode (the crash-loop guard).
    pub in_diagnose_mode: bool,
}

impl CommandName {
    pub const fn spec(self) -> CommandSpec {
        const fn spec(
            name: &'static str,
            usage: &'static str,
            description: &'static str,
            in_diagnose_mode: bool,
        ) -> CommandSpec {
            CommandSpec {
                name,
                usage,
                description,
                in_diagnose_mode,
            }
        }
        match self {
            CommandName::Status => spec(
                "status",
                "/status",
                "uptime, bots, pauses, outbox, jobs, last failures",
                true,
            ),
            CommandName::Jobs => spec(
                "jobs",
                "/jobs",
                "every job with its schedule and next run",
                false,
            ),
            CommandName::Next => spec(
                "next",
                "/next [N]",
                "the next N slots of all jobs (default 10)",
                false,
            ),
            CommandName::Run => spec("run", "/run JOB", "run a job now (marked manual)", false),
            CommandName::Preview => spec(
                "preview",
                "/preview JOB",
                "show me what a job would post now; posts nothing",
                false,
            ),
            CommandName::Pause => spec(
                "pause",
                "/pause [all | bot NAME | job NAME]",
                "the kill switch",
                false,
            ),
            CommandName::Resume => spec(
                "resume",
                "/resume [all | bot NAME | job NAME]",
                "lift a pause",
                false,
            ),
            CommandName::Ambiguous => spec(
                "ambiguous",
                "/ambiguous",
                "undecided sends, with Resend / Mark sent",
                false,
            ),
            CommandName::Failed => spec(
                "failed",
                "/failed",
                "recent sends Telegram refused, with Retry / Dismiss",
                false,
            ),
            CommandName::Log => spec(
                "log",
                "/log [bot NAME | job NAME | user ID]",
                "the last audit entries",
                true,
            ),
            CommandName::Pending => spec("pending", "/pending", "open approvals", false),
            CommandName::Help => spec("help", "/help", "this list", true),
        }
    }

    /// The command called `word` (lower-case, no slash), if it is a console command.
    pub fn from_word(word: &str) -> Option<CommandName> {
        CommandName::ALL
            .iter()
            .copied()
            .find(|c| c.spec().name == word)
    }
}

/// A console command with its arguments, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleCommand {
    Status,
    Jobs,
    /// The next `count` slots (1 to 50).
    Next {
        count: usize,
    },
    /// Run a configured job now.
    Run {
        job: String,
    },
    /// Render a configured job for the operator only.
    Preview {
        job: String,
    },
    /// Pause a scope whose identity or job exists.
    Pause {
        scope: PauseScope,
    },
    /// Lift a pause (of any scope: a job removed from the config may still be paused).
    Resume {
        scope: PauseScope,
    },
    Ambiguous,
    Failed,
    Log {
        filter: AuditFilter,
    },
    Pending,
    Help,
}

/// Why a console command is not run; the reply says so and nothing changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No console command has this name (as typed, lower-case).
    UnknownCommand { word: String },
    /// The arguments do not fit the command's usage; `problem` says how, if more than the
    /// usage is needed.
    BadArguments {
        command: CommandName,
        problem: Option<String>,
    },
    /// `/run` or `/preview` of a job that is not configured.
    UnknownJob { command: CommandName, job: String },
    /// `/pause` of an identity or job that does not exist.
    UnknownName {
        command: CommandName,
        name: UnknownName,
    },
}

impl Refusal {
    /// The command refused, if the word named one.
    pub fn command(&self) -> Option<CommandName> {
        match self {
            Refusal::UnknownCommand { .. } => None,
            Refusal::BadArguments { command, .. }
            | Refusal::UnknownJob { command, .. }
            | Refusal::UnknownName { command, .. } => Some(*command),
        }
    }

    /// The decision recorded in the audit log.
    pub fn decision(&self) -> &'static str {
        match self {
            Refusal::UnknownCommand { .. } => "refused: unknown command",
            Refusal::BadArguments { .. } => "refused: bad argument",
            Refusal::UnknownJob { .. } => "refused: unknown job",
            Refusal::UnknownName { .. } => "refused: unknown name",
        }
    }
}

impl ConsoleCommand {
    /// Parses the command `word` (lower-case, without slash or `@suffix`) with its `args`;
    /// `jobs` are the configured jobs' names (`/run`, `/preview` and `/pause job` must name
    /// one of them; identities are checked against the seven names).
    pub fn parse(word: &str, args: &str, jobs: &[&str]) -> Result<ConsoleCommand, Refusal> {
        let Some(command) = CommandName::from_word(word) else {
            return Err(Refusal::UnknownCommand {
                word: word.to_owned(),
            });
        };
        let args: Vec<&str> = args.split_whitespace().collect();
        let bad = |problem: Option<String>| Refusal::BadArguments {
            command,
            problem: problem.map(|p| cut_plain(&one_line(&p), PROBLEM_LIMIT)),
        };
        match command {
            // Commands without arguments ignore any words after them, as they always have.
            CommandName::Status => Ok(ConsoleCommand::Status),
            CommandName::Jobs => Ok(ConsoleCommand::Jobs),
            CommandName::Ambiguous => Ok(ConsoleCommand::Ambiguous),
            CommandName::Failed => Ok(ConsoleCommand::Failed),
            CommandName::Pending => Ok(ConsoleCommand::Pending),
            CommandName::Help => Ok(ConsoleCommand::Help),
            CommandName::Next => {
                let count = match args.as_slice() {
                    [] => Some(NEXT_DEFAULT),
                    [n] => n.parse::<usize>().ok().filter(|n| NEXT_RANGE.contains(n)),
                    _ => None,
                };
                match count {
                    Some(count) => Ok(ConsoleCommand::Next { count }),
                    None => Err(bad(Some(format!(
                        "N is a whole number from {} to {}",
                        NEXT_RANGE.start(),
                        NEXT_RANGE.end()
                    )))),
                }
            }
            CommandName::Run | CommandName::Preview => match args.as_slice() {
                [job] if jobs.contains(job) => {
                    let job = (*job).to_owned();
                    Ok(if command == CommandName::Run {
                        ConsoleCommand::Run { job }
                    } else {
                        ConsoleCommand::Preview { job }
                    })
                }
                [job] => Err(Refusal::UnknownJob {
                    command,
                    job: (*job).to_owned(),
                }),
                _ => Err(bad(None)),
            },
            CommandName::Pause => {
                let scope = PauseScope::parse_words(&args).map_err(|p| bad(Some(p)))?;
                match scope.unknown_name(jobs) {
                    Some(name) => Err(Refusal::UnknownName { command, name }),
                    None => Ok(ConsoleCommand::Pause { scope }),
                }
            }
            CommandName::Resume => {
                let scope = PauseScope::parse_words(&args).map_err(|p| bad(Some(p)))?;
                Ok(ConsoleCommand::Resume { scope })
            }
            CommandName::Log => log_filter(&args)
                .map(|filter| ConsoleCommand::Log { filter })
                .map_err(|p| bad(Some(p))),
        }
    }

    /// Which command this is.
    pub fn name(&self) -> CommandName {
        match self {
            ConsoleCommand::Status => CommandName::Status,
            ConsoleCommand::Jobs => CommandName::Jobs,
            ConsoleCommand::Next { .. } => CommandName::Next,
            ConsoleCommand::Run { .. } => CommandName::Run,
            ConsoleCommand::Preview { .. } => CommandName::Preview,
            ConsoleCommand::Pause { .. } => CommandName::Pause,
            ConsoleCommand::Resume { .. } => CommandName::Resume,
            ConsoleCommand::Ambiguous => CommandName::Ambiguous,
            ConsoleCommand::Failed => CommandName::Failed,
            ConsoleCommand::Log { .. } => CommandName::Log,
            ConsoleCommand::Pending => CommandName::Pending,
            ConsoleCommand::Help => CommandName::Help,
        }
    }
}

/// `/log` filters: pairs of `bot NAME`, `job NAME`, `user ID`. `Err` says what is wrong.
fn log_filter(args: &[&str]) -> Result<AuditFilter, String> {
    let mut filter = AuditFilter {
        limit: Some(LOG_ENTRIES),
        ..AuditFilter::default()
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("`{word}` needs a value"))?;
        match *word {
            "bot" => filter.bot = Some(value.to_ascii_lowercase()),
            "job" => filter.job = Some((*value).to_owned()),
            "user" => {
                filter.user = Some(
                    value
                        .parse()
                        .map_err(|_| format!("`{value}` is not a Telegram user id"))?,
                )
            }
            other => return Err(format!("unknown filter `{other}`")),
        }
    }
    Ok(filter)
}

/// `text` on one line: control characters (line breaks among them) become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOBS: &[&str] = &["team-pulse", "laser-chase"];

    fn parse(text: &str) -> Result<ConsoleCommand, Refusal> {
        let (word, args) = text.split_once(' ').unwrap_or((text, ""));
        ConsoleCommand::parse(word, args, JOBS)
    }

    fn bad(command: CommandName, problem: Option<&str>) -> Result<ConsoleCommand, Refusal> {
        Err(Refusal::BadArguments {
            command,
            problem: problem.map(str::to_owned),
        })
    }

    #[test]
    fn every_command_parses_with_good_arguments() {
        use ConsoleCommand as C;
        let cases: &[(&str, ConsoleCommand)] = &[
            ("status", C::Status),
            ("jobs", C::Jobs),
            ("next", C::Next { count: 10 }),
            ("next 50", C::Next { count: 50 }),
            (
                "run team-pulse",
                C::Run {
                    job: "team-pulse".into(),
                },
            ),
            (
                "preview laser-chase",
                C::Preview {
                    job: "laser-chase".into(),
                },
            ),
            (
                "pause",
                C::Pause {
                    scope: PauseScope::All,
                },
            ),
            (
                "pause bot Clawrence",
                C::Pause {
                    scope: PauseScope::Bot("clawrence".into()),
                },
            ),
            (
                "resume job gone-job",
                C::Resume {
                    scope: PauseScope::Job("gone-job".into()),
                },
            ),
            ("ambiguous", C::Ambiguous),
            ("failed", C::Failed),
            (
                "log bot Claudia user 42",
                C::Log {
                    filter: AuditFilter {
                        bot: Some("claudia".into()),
                        user: Some(42),
                        limit: Some(LOG_ENTRIES),
                        ..AuditFilter::default()
                    },
                },
            ),
            ("pending", C::Pending),
            ("help", C::Help),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).as_ref(), Ok(expected), "{text}");
        }
        let parsed: Vec<CommandName> = cases.iter().map(|(_, c)| c.name()).collect();
        for name in CommandName::ALL {
            assert!(parsed.contains(name), "{name:?} has no case here");
        }
    }

    #[test]
    fn bad_commands_are_refused_with_what_is_wrong() {
        assert_eq!(
            parse("frobnicate now"),
            Err(Refusal::UnknownCommand {
                word: "frobnicate".into()
            })
        );
        for text in ["next 0", "next 51", "next abc", "next 1 2"] {
            assert_eq!(
                parse(text),
                bad(CommandName::Next, Some("N is a whole number from 1 to 50")),
                "{text}"
            );
        }
        assert_eq!(parse("run"), bad(CommandName::Run, None));
        assert_eq!(parse("preview a b"), bad(CommandName::Preview, None));
        assert_eq!(
            parse("run nope"),
            Err(Refusal::UnknownJob {
                command: CommandName::Run,
                job: "nope".into()
            })
        );
        assert_eq!(
            parse("pause bot nobody"),
            Err(Refusal::UnknownName {
                command: CommandName::Pause,
                name: UnknownName::Identity("nobody".into())
            })
        );
        assert_eq!(
            parse("pause job nope"),
            Err(Refusal::UnknownName {
                command: CommandName::Pause,
                name: UnknownName::Job("nope".into())
            })
        );
        assert_eq!(
            parse("resume bots x"),
            bad(
                CommandName::Resume,
                Some("expected `all`, `bot NAME` or `job NAME`, got `bots x`")
            )
        );
        assert_eq!(
            parse("log colour blue"),
            bad(CommandName::Log, Some("unknown filter `colour`"))
        );
        assert_eq!(
            parse("log user"),
            bad(CommandName::Log, Some("`user` needs a value"))
        );
        assert_eq!(
            parse("log user me"),
            bad(CommandName::Log, Some("`me` is not a Telegram user id"))
        );
        // Words after a command without arguments are ignored, as they always were.
        assert_eq!(parse("status now"), Ok(ConsoleCommand::Status));
    }

    #[test]
    fn a_quoted_problem_is_one_line_and_cut() {
        let args = format!("\u{7}{} x", "y".repeat(400));
        let Err(Refusal::BadArguments {
            problem: Some(problem),
            ..
        }) = ConsoleCommand::parse("log", &args, JOBS)
        else {
            panic!("refused with a problem");
        };
        assert!(problem.starts_with("unknown filter ` y"), "{problem}");
        assert!(!problem.chars().any(char::is_control), "{problem}");
        assert!(
            crate::telegram::html::utf16_len(&problem) <= PROBLEM_LIMIT,
            "{problem}"
        );
        assert!(problem.ends_with('…'), "{problem}");
    }

    #[test]
    fn every_command_is_fit_for_telegrams_menu_and_help() {
        let mut seen = std::collections::HashSet::new();
        for command in CommandName::ALL {
            let spec = command.spec();
            assert!(seen.insert(spec.name), "{} listed twice", spec.name);
            assert_eq!(CommandName::from_word(spec.name), Some(*command));
            // Telegram's BotCommand: 1-32 of a-z, 0-9 and _; a description of 1-256 characters.
            assert!(
                (1..=32).contains(&spec.name.len())
                    && spec
                        .name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                spec.name
            );
            assert!(
                (1..=256).contains(&spec.description.chars().count()),
                "{}",
                spec.name
            );
            assert!(
                spec.usage == format!("/{}", spec.name)
                    || spec.usage.starts_with(&format!("/{} ", spec.name)),
                "{} usage {}",
                spec.name,
                spec.usage
            );
        }
    }
}
