//! Runs one parsed command line: the glue between the CLI and the library, with exit codes.

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, LogFormat, XeroCommand};
use crate::config::check::{self, CheckOptions};

/// Logs go to stderr through `tracing`; `RUST_LOG` filters (default `info`, or `warn` for the
/// sandbox, whose transcript on stdout is the point). Text lines carry ANSI colour only when
/// stderr is a terminal (never in a file or journald); `--log-format json` writes one JSON
/// object per line.
pub fn init_logging(cli: &Cli) {
    use std::io::IsTerminal;
    let default = match cli.command {
        Command::Sandbox(_) => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match cli.global.log_format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Runs `cli` to completion and returns the process exit code.
pub async fn execute(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(args) => {
            let options = CheckOptions {
                secrets_override: cli.global.secrets.clone(),
                skip_secrets: args.skip_secrets,
            };
            let result = check::check(&cli.global.config, &options);
            match &result {
                Ok(findings) if findings.is_empty() => {
                    println!("{}: ok", cli.global.config.display())
                }
                Ok(findings) => findings.iter().for_each(|f| println!("{f}")),
                Err(e) => eprintln!("herald check: {e}"),
            }
            ExitCode::from(check::exit_code(&result) as u8)
        }
        Command::Run(args) => {
            let mut options = cli.global.run_options(args.poll_seconds, args.force);
            if let Some(ms) = args.lease_ttl_ms {
                options.lease =
                    crate::store::lease::LeaseSettings::with_ttl(Duration::from_millis(ms));
            }
            if let Some(ms) = args.store_give_up_ms {
                options.store_retry.give_up_after = Duration::from_millis(ms);
            }
            // Listen first: a SIGTERM during start-up then stops the fleet as soon as it runs.
            let stop = CancellationToken::new();
            spawn_signal_listener(stop.clone());
            let fleet = match crate::fleet::start(&options).await {
                Ok(fleet) => fleet,
                Err(e) => {
                    eprintln!("herald run: refusing to start: {e}");
                    return ExitCode::from(2);
                }
            };
            match fleet.run_until(stop).await {
                Ok(()) => {
                    tracing::info!("stopped cleanly");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("herald run: stopped: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Pause(args) => pause_command(&cli.global, &args.scope, true).await,
        Command::Resume(args) => pause_command(&cli.global, &args.scope, false).await,
        Command::Schedule(args) => {
            let now = cli.global.clock().now();
            match crate::control::schedule(&cli.global.config, args.next as usize, now) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("herald schedule: {e}");
                    ExitCode::from(2)
                }
            }
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => match crate::sandbox::play(&cli.global, &args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("herald sandbox: {e}");
                ExitCode::from(1)
            }
        },
        #[cfg(not(feature = "sandbox"))]
        Command::Sandbox(_) => {
            eprintln!(
                "herald sandbox: compiled out: this herald was built without the `sandbox` \
                 feature (a production build); `cargo run -- sandbox` from the repository plays it"
            );
            ExitCode::from(2)
        }
        Command::Log(args) => log_command(&cli.global, &args).await,
        Command::Xero(args) => match args.command {
            XeroCommand::Connect => xero_connect(&cli.global).await,
        },
    }
}

/// `herald xero connect`: the refresh token from stdin, then [`crate::sources::xero::connect`].
async fn xero_connect(global: &crate::cli::GlobalOptions) -> ExitCode {
    use crate::sources::xero::connect::{connect, ConnectError};

    let token = match read_secret_line() {
        Ok(token) => token,
        Err(e) => {
            eprintln!("herald xero connect: {e}");
            return ExitCode::from(2);
        }
    };
    let result = connect(
        &global.config,
        global.secrets.as_deref(),
        token,
        global.clock(),
    )
    .await;
    match result {
        Ok(report) => {
            println!(
                "Xero connected: the refresh token was used once (Xero rotated it) and the new \
                 one is saved at {}.",
                report.saved_at
            );
            println!(
                "Tenant {} ({}) is connected.",
                report.tenant.tenant_id, report.tenant.tenant_name
            );
            for other in report
                .connections
                .iter()
                .filter(|c| c.tenant_id != report.tenant.tenant_id)
            {
                println!(
                    "Also connected: {} ({}).",
                    other.tenant_id, other.tenant_name
                );
            }
            ExitCode::SUCCESS
        }
        Err(ConnectError::Config(e)) => {
            eprintln!("herald xero connect: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("herald xero connect: {e}");
            ExitCode::from(1)
        }
    }
}

/// One line from standard input, without echo when it is a terminal.
fn read_secret_line() -> Result<crate::config::Token, String> {
    use std::io::{BufRead, IsTerminal};

    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let echo = if terminal {
        eprint!("Paste the Xero refresh token and press Enter (it is not shown): ");
        Some(EchoOff::new())
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(echo);
    if terminal {
        eprintln!();
    }
    read.map_err(|e| format!("cannot read the refresh token from standard input: {e}"))?;
    let token = line.trim();
    if token.is_empty() {
        return Err(
            "no refresh token on standard input; pipe it in (herald xero connect < token.txt) \
             or paste it when asked"
                .into(),
        );
    }
    if token.contains(char::is_whitespace) {
        return Err("the refresh token must be a single word on one line".into());
    }
    Ok(crate::config::Token::new(token.to_owned()))
}

/// Turns terminal echo off on stdin until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: termios is plain data; tcgetattr fills it or fails, and we only use it after
        // a success. Both calls act on fd 0, which stays open for the process's life.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return EchoOff(None);
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings read in `new` on the same fd.
            if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) } != 0 {
                eprintln!("herald: could not turn terminal echo back on; run `stty echo`");
            }
        }
    }
}

/// `herald log`: prints the matching audit entries, oldest first (format in `cli::Command::Log`).
async fn log_command(global: &crate::cli::GlobalOptions, args: &crate::cli::LogArgs) -> ExitCode {
    use std::io::Write;

    use crate::store::audit::{self, AuditFilter, AuditRow};

    let url = global.db_url();
    // Opening would create an empty database; a typo in --db or --config should not.
    let file = std::str::FromStr::from_str(&url)
        .ok()
        .filter(|_| !url.contains(":memory:") && !url.contains("mode=memory"))
        .map(|options: sqlx::sqlite::SqliteConnectOptions| options.get_filename().to_owned());
    if let Some(file) = file.filter(|file| !file.exists()) {
        eprintln!("herald log: no database at {}", file.display());
        return ExitCode::from(2);
    }
    let store = match crate::store::Store::open(&url).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("herald log: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = AuditFilter {
        since: args.since.map(|since| since.resolve(global.clock().now())),
        bot: args.bot.as_deref().map(str::to_ascii_lowercase),
        job: args.job.clone(),
        user: args.user,
        // One more than asked, to tell whether older entries were left out.
        limit: Some(args.limit.saturating_add(1)),
    };
    let result = audit::query(store.pool(), &filter).await;
    store.close().await;
    let mut rows: Vec<AuditRow> = match result {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("herald log: cannot read the audit log: {e}");
            return ExitCode::from(2);
        }
    };
    let truncated = rows.len() as i64 > args.limit;
    if truncated {
        rows.remove(0);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in &rows {
        let line = if args.json {
            serde_json::to_string(row).expect("an audit row is plain strings and numbers")
        } else {
            row.line()
        };
        // A closed pipe (`herald log | head`) ends the listing quietly.
        if writeln!(out, "{line}").is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    if rows.is_empty() && !args.json {
        eprintln!("no audit entries match");
    }
    if truncated {
        eprintln!(
            "herald log: only the newest {} matching entries are shown; use --limit or --since for more",
            args.limit
        );
    }
    ExitCode::SUCCESS
}

async fn pause_command(
    global: &crate::cli::GlobalOptions,
    scope: &[String],
    pause: bool,
) -> ExitCode {
    let name = if pause { "pause" } else { "resume" };
    let by = format!(
        "cli ({})",
        std::env::var("USER").unwrap_or_else(|_| "unknown user".to_owned())
    );
    let now = global.clock().now();
    match crate::control::set_pause(&global.config, &global.db_url(), scope, pause, &by, now).await
    {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("herald {name}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Cancels `stop` on SIGINT or SIGTERM. Both handlers are registered before this returns,
/// so a signal that arrives while the fleet is still starting is not lost (nor fatal).
pub fn spawn_signal_listener(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    tokio::spawn(async move {
        let wait = |registered: std::io::Result<tokio::signal::unix::Signal>,
                    name: &'static str| async move {
            match registered {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = wait(terminate, "SIGTERM") => {}
            _ = wait(interrupt, "SIGINT") => {}
        }
        tracing::info!("signal received; shutting down");
        stop.cancel();
    });
}
