//! The command line: global options shared by every subcommand, and one subcommand per thing
//! an operator does. Arguments only; each subcommand runs in its own file under
//! `crate::commands`, which also says what the global options mean (clock, database).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

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
    /// How log lines are written to stderr: `text` (coloured only on a terminal) or `json`
    /// (one object per line, for journald and log shippers).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        default_value_t = LogFormat::Text,
        env = "HERALD_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

/// The shape of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colour only when stderr is a terminal.
    Text,
    /// One JSON object per line.
    Json,
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
    #[cfg_attr(not(feature = "sandbox"), command(hide = true))]
    Sandbox(SandboxArgs),
    /// Print the audit log (what herald did and why), oldest first.
    ///
    /// One line per entry, the bracketed parts only when set:
    ///
    ///   #SEQ AT KIND [BOT] [job=JOB] [user=ID] [chat=ID] [thread=ID] [cmd=COMMAND]: DECISION [(DETAIL)]
    ///   #12 2026-11-23T01:00:00+00:00 outbox clawrence job=team-pulse chat=-1001 thread=39: pending -> sending (row 4)
    ///
    /// AT is the instant as recorded (RFC 3339, UTC). Control characters such as newlines are
    /// printed escaped (`\n`), so an entry is always exactly one line.
    ///
    /// With --json, each entry is one JSON object on one line with the fields seq, at, kind,
    /// bot, job, user_id, chat_id, thread_id, command, decision and detail (null when unset);
    /// nothing else goes to stdout.
    ///
    /// Exit code 0 (also when nothing matches), 2 when the database is missing or unreadable.
    #[command(verbatim_doc_comment)]
    Log(LogArgs),
    /// Xero, for the finance bot: `herald xero connect`.
    Xero(XeroArgs),
    /// Write a new deployment folder: the shipped example with the team's values blanked,
    /// an empty secrets file (mode 600) and NEXT-STEPS.md. `herald check --config DIR` then
    /// lists every field still to fill. Refuses a folder that is not empty.
    ///
    /// Exit code 0 written, 2 refused or could not write.
    Init(InitArgs),
    /// The configurations that booted healthy, saved by `herald run` under
    /// state/config-good/: `backups`, `diff`, `restore`.
    Config(ConfigArgs),
    /// Print the ids the roster needs: every chat, forum topic and person the bots see while
    /// it listens, as ready-to-paste bots/roster.toml snippets, each compared with the
    /// current roster. Needs only the tokens in the secrets file. Confirms no update and
    /// writes nothing, so a later `herald run` still answers everything it saw.
    ///
    /// Exit code 0 every bot listened, 1 some could not (each says why), 2 could not run.
    Discover(DiscoverArgs),
    /// Probe every capability live: each bot's token, privacy mode, place in the team chat
    /// and threads, every operator's chat with the console bot, Xero, Talenox and the
    /// database. One `VERDICT capability: cause (fix: ...)` line each, VERDICT being OK,
    /// DEGRADED or BROKEN; every probe is answered within 5 s. Each run is stored; --diff
    /// prints only what changed since the previous run.
    ///
    /// Exit code 0 all OK, 1 anything DEGRADED or BROKEN, 2 could not run.
    Audit(AuditArgs),
    /// Keep herald running under the machine's service manager (a systemd unit, or a
    /// launchd job on macOS): `herald service install | uninstall | status`.
    Service(ServiceArgs),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// One JSON object: {"at", "checks": [{"capability", "verdict", "cause", "fix"}],
    /// "changes" (with --diff)}.
    #[arg(long)]
    pub json: bool,
    /// Print only what changed since the previous audit (`capability: OK → BROKEN (cause)`).
    #[arg(long)]
    pub diff: bool,
    /// Tests only: the probes' deadline in milliseconds (default 5 000).
    #[arg(long, hide = true, value_name = "MS")]
    pub deadline_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// How long to listen, in seconds: post in every topic and DM a bot meanwhile.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List the saved configurations, oldest first (the newest is `last-good`).
    Backups,
    /// Show what changed in bots/ and templates/ since a saved configuration, as a unified
    /// diff. Exit code 0 unchanged, 1 changed, 2 no such configuration.
    Diff {
        /// `last-good` or a TIMESTAMP from `herald config backups`.
        #[arg(long, value_name = "last-good|TIMESTAMP", default_value = "last-good")]
        against: String,
    },
    /// Copy a saved configuration back into bots/ and templates/, once `herald check` passes
    /// on it (secrets are not part of a backup: they are never read or written). The files it
    /// replaces are kept under state/config-replaced/. Restart herald to use it.
    Restore {
        /// A TIMESTAMP from `herald config backups`, or `last-good`.
        #[arg(value_name = "TIMESTAMP")]
        stamp: String,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The new deployment folder (created; must be empty if it exists).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct XeroArgs {
    #[command(subcommand)]
    pub command: XeroCommand,
}

#[derive(Debug, Subcommand)]
pub enum XeroCommand {
    /// Connect Xero with a refresh token from Xero's OAuth2 code flow (scope offline_access).
    ///
    /// Reads the token from standard input, one line (never from the command line, where
    /// `ps` would show it; typed at a terminal it is not echoed). Refreshes it once with Xero,
    /// which rotates it, saves the new refresh token at [xero].refresh_token in the secrets
    /// file, and checks that [xero].tenant_id is among the token's connections. Prints no
    /// token. Stop `herald run` first and start it again after.
    ///
    /// Exit code 0 connected, 1 Xero refused or the tenant is not connected, 2 bad config or
    /// no token on standard input.
    Connect,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// A system-wide service (a unit in /etc/systemd/system or a LaunchDaemon, the binary in
    /// /usr/local/bin, run as the user who ran sudo) instead of the invoking user's own (the
    /// unit in ~/.config/systemd/user or ~/Library/LaunchAgents, the binary in ~/.local/bin).
    #[arg(long, global = true)]
    pub system: bool,
    #[command(subcommand)]
    pub command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Install herald as a service and (re)start it, running `herald run` with this
    /// command's --config, --secrets and --db (made absolute).
    ///
    /// Copies this binary to a stable path (~/.local/bin/herald, or /usr/local/bin/herald
    /// with --system; a temp file renamed over it, so a running herald is not disturbed),
    /// writes the unit (systemd: herald.service, `herald check` before each start) or the
    /// plist (launchd: com.herald.bots, logging to <config>/state/logs/herald.log), then
    /// reloads the manager, enables the service and restarts it. Run it again after an
    /// upgrade: it replaces the binary and the unit and restarts herald.
    ///
    /// Exit code 0 installed and started, 1 the service manager refused a step (the files are
    /// written by then), 2 could not install (bad --config, a folder not writable).
    Install,
    /// Stop and disable the service and remove its unit (or plist); keeps the binary, the
    /// deployment folder and the logs. Exit code 0 removed or nothing to remove, 1 the
    /// service manager refused, 2 could not run.
    Uninstall,
    /// Print the service's state, its last start and its last 10 log lines. Exit code 0
    /// running, 1 installed but not running (or not installed), 2 could not ask.
    Status,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Long-poll timeout of getUpdates, in seconds (kept below the HTTP timeout). The default
    /// is Telegram's own cap (it answers a longer one after 50 s): the fewest idle round trips.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=50))]
    pub poll_seconds: u64,
    /// Start normally even if the last boots never became healthy (skip diagnose mode).
    #[arg(long)]
    pub force: bool,
    /// Serve /healthz, /readyz and /metrics on this address, e.g. 127.0.0.1:9464 (loopback
    /// unless --http-public); overrides [http] in bots/herald.toml.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Allow --http on an address other machines can reach (the endpoints are not
    /// authenticated).
    #[arg(long, requires = "http")]
    pub http_public: bool,
    /// Tests only: the database lease's TTL in milliseconds (default 30 000), renewed six
    /// times within it.
    #[arg(long, hide = true, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..))]
    pub lease_ttl_ms: Option<u64>,
    /// Tests only: how long transient database failures are waited out before herald stops,
    /// in milliseconds (default 60 000).
    #[arg(long, hide = true, value_name = "MS")]
    pub store_give_up_ms: Option<u64>,
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
    /// Give up waiting for the bots' answers after this many seconds (the whole session).
    #[arg(long, default_value_t = 120)]
    pub timeout_seconds: u64,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only entries from this instant on: RFC 3339 (`2026-11-20T00:00:00Z`) or an age before
    /// now (`90s`, `30m`, `2h`, `7d`, `2w`).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<Since>,
    /// Only entries about this bot identity (e.g. `clawrence`; case does not matter).
    #[arg(long, value_name = "NAME")]
    pub bot: Option<String>,
    /// Only entries about this job.
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Only entries about this Telegram user id.
    #[arg(long, value_name = "ID", allow_negative_numbers = true)]
    pub user: Option<i64>,
    /// Print at most the newest N matching entries (still oldest first).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..))]
    pub limit: i64,
    /// One JSON object per entry and line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The `--since` of `herald log`: an instant, or an age relative to the clock's now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    At(DateTime<Utc>),
    Ago(chrono::Duration),
}

impl Since {
    /// The instant meant, given the current one.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::At(at) => at,
            Self::Ago(age) => now
                .checked_sub_signed(age)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }
}

/// Parses `--since`: RFC 3339 or a whole number followed by `s`, `m`, `h`, `d` or `w`.
fn parse_since(value: &str) -> Result<Since, String> {
    let expected =
        "expected an RFC 3339 instant like 2026-11-20T00:00:00Z or an age like 30m, 2h, 7d";
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Since::At(at.with_timezone(&Utc)));
    }
    let unit_at = value.len().saturating_sub(1);
    let (number, unit) = (value.get(..unit_at), value.get(unit_at..));
    let seconds_per_unit: i64 = match unit {
        Some("s") => 1,
        Some("m") => 60,
        Some("h") => 3_600,
        Some("d") => 86_400,
        Some("w") => 7 * 86_400,
        _ => return Err(expected.to_owned()),
    };
    let number = number
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| expected.to_owned())?;
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds_per_unit))
        .and_then(chrono::Duration::try_seconds)
        .map(Since::Ago)
        .ok_or_else(|| format!("{value} is too long ago"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_since_takes_an_instant_or_an_age() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["herald", "log"].iter().chain(args)).map(|cli| match cli.command {
                Command::Log(args) => args,
                other => panic!("{other:?}"),
            })
        };
        let now: DateTime<Utc> = "2026-11-23T03:00:00Z".parse().unwrap();
        let since = |value: &str| {
            parse(&["--since", value])
                .unwrap()
                .since
                .unwrap()
                .resolve(now)
        };
        assert_eq!(
            since("2026-11-20T00:00:00Z"),
            "2026-11-20T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            since("2026-11-20T08:00:00+08:00"),
            "2026-11-20T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(since("90s"), now - chrono::Duration::seconds(90));
        assert_eq!(since("30m"), now - chrono::Duration::minutes(30));
        assert_eq!(since("2h"), now - chrono::Duration::hours(2));
        assert_eq!(since("7d"), now - chrono::Duration::days(7));
        assert_eq!(since("2w"), now - chrono::Duration::days(14));
        assert_eq!(since("0m"), now);
        assert_eq!(since("99999999d"), DateTime::<Utc>::MIN_UTC);
        for bad in [
            "",
            "7",
            "d",
            "-2h",
            "+2h",
            "2 h",
            "2H",
            "1.5h",
            "2026-11-20",
            "yesterday",
            "2é",
        ] {
            let error = parse(&[&format!("--since={bad}")]).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad:?}"
            );
            assert!(error.to_string().contains("--since <WHEN>"), "{error}");
        }
        let error = parse(&["--since", "999999999999999999999w"]).unwrap_err();
        assert!(error.to_string().contains("too long ago"), "{error}");

        let args = parse(&[]).unwrap();
        assert_eq!((args.since, args.limit, args.json), (None, 50, false));
        assert!(parse(&["--limit", "0"]).is_err());
        assert_eq!(parse(&["--user", "-100123"]).unwrap().user, Some(-100123));
    }
}
