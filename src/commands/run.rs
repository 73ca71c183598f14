//! `herald run`: verify every bot, then serve until SIGINT or SIGTERM. Exit code 0 on a clean
//! stop, 1 when the fleet stopped on an error, 2 when it refused to start.

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::global;
use crate::cli::{GlobalOptions, RunArgs};
use crate::fleet::{RunOptions, StartError};
use crate::outbox::sender::SenderSettings;
use crate::schedule::runner::SchedulerSettings;
use crate::store::lease::LeaseSettings;
use crate::store::retry::RetryPolicy;
use crate::telemetry::http::HttpSettings;

/// Runs `herald run` to completion.
pub async fn execute(global: &GlobalOptions, args: &RunArgs) -> ExitCode {
    let mut options = run_options(global, args.poll_seconds, args.force);
    if let Some(listen) = &args.http {
        match HttpSettings::parse(listen, args.http_public) {
            Ok(settings) => options.http = Some(settings),
            Err(e) => {
                eprintln!("herald run: --http: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(ms) = args.lease_ttl_ms {
        options.lease = LeaseSettings::with_ttl(Duration::from_millis(ms));
    }
    if let Some(ms) = args.store_give_up_ms {
        options.store_retry.give_up_after = Duration::from_millis(ms);
    }
    for warning in global::database_exposure(global) {
        tracing::warn!(%warning, "database files are not private");
        eprintln!("herald run: warning: {warning}");
    }
    // Listen first: a SIGTERM during start-up then stops the fleet as soon as it runs.
    let stop = CancellationToken::new();
    spawn_signal_listener(stop.clone());
    let fleet = match crate::fleet::start(&options).await {
        Ok(fleet) => fleet,
        Err(e) => {
            eprintln!("herald run: refusing to start: {e}");
            if let Some(hint) = last_good_hint(global, &e) {
                eprintln!("{hint}");
            }
            return ExitCode::from(2);
        }
    };
    crate::supervisor::ready();
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

/// Under a systemd watchdog, the scheduler's watchdog looks (and tells systemd it is alive)
/// at least as often as systemd needs.
fn watched_by_systemd(mut settings: SchedulerSettings) -> SchedulerSettings {
    if let Some(period) = crate::supervisor::watchdog_period() {
        settings.watchdog_every = settings.watchdog_every.min(period);
    }
    settings
}

/// For a start refused over its configuration: where the last configuration that booted
/// healthy is, and how to see what changed since.
fn last_good_hint(global: &GlobalOptions, error: &StartError) -> Option<String> {
    let about_config = matches!(
        error,
        StartError::Config(_) | StartError::ConfigUnreadable(_) | StartError::Templates(_)
    );
    if !about_config {
        return None;
    }
    let backup = crate::deploy::config_backup::find(&global.config, None).ok()?;
    Some(format!(
        "last good config: {}; `herald config diff` shows what changed",
        backup.path.display()
    ))
}

/// The options the fleet starts with, from the global options (the sandbox starts from these
/// too).
pub fn run_options(global: &GlobalOptions, poll_seconds: u64, force: bool) -> RunOptions {
    RunOptions {
        config_dir: global.config.clone(),
        db_url: global::db_url(global),
        api_url: global.telegram_api_url.clone(),
        secrets_override: global.secrets.clone(),
        clock: global::clock(global),
        poll_seconds,
        verify_timeout: Duration::from_secs(5),
        sender: if crate::faults::rate_limits_off() {
            SenderSettings {
                limits: crate::outbox::pacing::RateLimits::unlimited(),
                ..SenderSettings::default()
            }
        } else {
            SenderSettings::default()
        },
        scheduler: watched_by_systemd(SchedulerSettings::default()),
        force,
        healthy_after: Duration::from_secs(60),
        desk: None,
        lease: LeaseSettings::default(),
        store_retry: RetryPolicy::default(),
        http: None,
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
