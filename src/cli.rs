//! The command line: global options shared by every subcommand, and one subcommand per thing
//! an operator does. Parsing only; the work happens in the library modules.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::clock::Clock;
use crate::fleet::RunOptions;
use crate::outbox::sender::SenderSettings;
use crate::schedule::runner::SchedulerSettings;

/// herald hosts a team's Telegram bots: typed identities, one roster, a durable outbox.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalOptions {
    /// The deployment folder holding `bots/` and `templates/`.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = ".",
        env = "HERALD_CONFIG"
    )]
    pub config: PathBuf,
    /// Database URL [default: sqlite://<config>/state/herald.db, WAL, synchronous=FULL].
    #[arg(long, global = true, value_name = "URL", env = "HERALD_DB")]
    pub db: Option<String>,
    /// Bot API base URL; tests and the sandbox point it at a loopback simulator.
    #[arg(long, global = true, value_name = "URL", default_value = crate::telegram::DEFAULT_API_URL, env = "HERALD_TELEGRAM_API_URL")]
    pub telegram_api_url: String,
    /// Secrets file to use instead of every file provider's path in bots/herald.toml.
    #[arg(long, global = true, value_name = "FILE", env = "HERALD_SECRETS")]
    pub secrets: Option<PathBuf>,
    /// Start the clock at this instant (RFC 3339), to rehearse a day.
    #[arg(long, global = true, value_name = "RFC3339")]
    pub clock_start: Option<DateTime<Utc>>,
    /// Run the clock this many times faster than real time.
    #[arg(long, global = true, value_name = "N", default_value_t = 1.0)]
    pub clock_speed: f64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify every bot's token with getMe, then serve: poll updates and deliver the outbox.
    Run(RunArgs),
    /// Validate the deployment offline; one `FILE: FIELD: problem` line per finding.
    /// Exit code 0 clean, 1 findings, 2 could not run.
    Check(CheckArgs),
    /// Pause a running (or stopped) herald: `all`, `bot NAME` or `job NAME`. Takes effect
    /// before the next send; persists across restarts; operator DMs still go out.
    Pause(PauseArgs),
    /// Lift a pause set by `herald pause` (same scopes).
    Resume(PauseArgs),
    /// Print the next slots of every job, in the job's zone and in UTC.
    Schedule(ScheduleArgs),
    /// Play a scripted session against the built-in Telegram simulator with sandbox tokens
    /// and a throwaway database; print every message the bots post.
    Sandbox(SandboxArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Long-poll timeout of getUpdates, in seconds (kept below the HTTP timeout).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(0..=50))]
    pub poll_seconds: u64,
    /// Start normally even if the last boots never became healthy (skip diagnose mode).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Don't resolve secret refs (for CI without secrets); their shape is still checked.
    #[arg(long)]
    pub skip_secrets: bool,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// `all` (the default), `bot NAME` or `job NAME`.
    #[arg(value_name = "SCOPE")]
    pub scope: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// How many slots to print per job.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub next: u64,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Give up waiting for the bots' answers after this many seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_seconds: u64,
}

impl GlobalOptions {
    /// The clock these options ask for.
    pub fn clock(&self) -> Clock {
        match self.clock_start {
            Some(start) => Clock::accelerated(start, self.clock_speed),
            None if self.clock_speed != 1.0 => {
                let now = Clock::system().now();
                Clock::accelerated(now, self.clock_speed)
            }
            None => Clock::system(),
        }
    }

    pub fn db_url(&self) -> String {
        self.db
            .clone()
            .unwrap_or_else(|| crate::store::default_url(&self.config))
    }

    /// Options for starting the fleet.
    pub fn run_options(&self, poll_seconds: u64, force: bool) -> RunOptions {
        RunOptions {
            config_dir: self.config.clone(),
            db_url: self.db_url(),
            api_url: self.telegram_api_url.clone(),
            secrets_override: self.secrets.clone(),
            clock: self.clock(),
            poll_seconds,
            verify_timeout: Duration::from_secs(5),
            sender: SenderSettings::default(),
            scheduler: SchedulerSettings::default(),
            force,
            healthy_after: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_options_start_an_accelerated_clock() {
        let cli = Cli::try_parse_from([
            "herald",
            "--clock-start",
            "2026-11-23T03:00:00Z",
            "--clock-speed",
            "60",
            "check",
        ])
        .expect("parses");
        let start: DateTime<Utc> = "2026-11-23T03:00:00Z".parse().unwrap();
        let now = cli.global.clock().now();
        // Even a slow machine takes well under a minute of real time here (= an hour at 60x).
        assert!(
            now >= start && now < start + chrono::Duration::hours(1),
            "{now}"
        );
    }

    #[test]
    fn without_clock_options_the_clock_is_the_system_clock() {
        let cli = Cli::try_parse_from(["herald", "check"]).expect("parses");
        assert!(format!("{:?}", cli.global.clock()).starts_with("Clock(system"));
        assert!(cli.global.db_url().ends_with("state/herald.db"));
    }
}
