//! The command layer, one file per `herald` subcommand (in the style of mini-redis's `cmd/`):
//! each takes its parsed arguments from [`crate::cli`], calls into the library, prints what
//! the operator reads and returns the process exit code. This file only sets up logging and
//! dispatches; what the global options mean is in [`global`].
//!
//! Adding a subcommand: its arguments in `src/cli.rs`, one file here, one arm in [`execute`].

pub mod audit;
pub mod check;
pub mod config;
pub mod discover;
pub mod global;
pub mod init;
pub mod log;
pub mod pause;
pub mod run;
pub mod sandbox;
pub mod schedule;
pub mod service;
pub mod xero;

use std::process::ExitCode;

use crate::cli::{Cli, Command, LogFormat};

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
    let global = &cli.global;
    match &cli.command {
        Command::Run(args) => run::execute(global, args).await,
        Command::Check(args) => check::execute(global, args),
        Command::Pause(args) => pause::execute(global, args, true).await,
        Command::Resume(args) => pause::execute(global, args, false).await,
        Command::Schedule(args) => schedule::execute(global, args),
        Command::Sandbox(args) => sandbox::execute(global, args).await,
        Command::Log(args) => log::execute(global, args).await,
        Command::Xero(args) => xero::execute(global, args).await,
        Command::Init(args) => init::execute(args),
        Command::Config(args) => config::execute(global, args),
        Command::Discover(args) => discover::execute(global, args).await,
        Command::Audit(args) => audit::execute(global, args).await,
        Command::Service(args) => service::execute(global, args),
    }
}
