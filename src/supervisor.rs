//! Tells a supervising systemd how herald is doing (`Type=notify` in the unit that
//! `herald service install` writes): `READY=1` once the fleet runs, and `WATCHDOG=1` after
//! every look of the scheduler's watchdog, at least twice per `WatchdogSec`. Outside systemd
//! (no `NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// Every identity is verified and launched: its poller, sender and jobs run.
pub fn ready() {
    notify(NotifyState::Ready);
}

/// The scheduler's watchdog has looked at the database: the runtime and the store are alive.
pub fn alive() {
    notify(NotifyState::Watchdog);
}

fn notify(state: NotifyState) {
    if let Err(e) = sd_notify::notify(false, &[state]) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// Says `WATCHDOG=1` every [`watchdog_period`] until `stop`, for a process with no scheduler
/// watchdog to do it (diagnose mode). Returns at once outside a systemd watchdog.
pub async fn keep_alive_until(stop: tokio_util::sync::CancellationToken) {
    let Some(period) = watchdog_period() else {
        return;
    };
    while tokio::time::timeout(period, stop.cancelled())
        .await
        .is_err()
    {
        alive();
    }
}

/// How often the watchdog must look when systemd watches this process (`WATCHDOG_USEC` for
/// this pid): half the period systemd allows, as sd_watchdog_enabled(3) advises.
pub fn watchdog_period() -> Option<Duration> {
    let mut usec = 0;
    (sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
        .then(|| Duration::from_micros(usec / 2))
}
