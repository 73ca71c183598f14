//! Fault points, compiled only with the test feature `fault-injection`: crash points in the
//! send path (and where a `/preview` is rendered), and a text that makes a handler or the
//! approval desk panic ([`PANIC_TEXT`]).
//!
//! The SIGKILL tests set `HERALD_CRASH_AT` to one point's name; when a send reaches that
//! point the process kills itself with SIGKILL (no destructors, no flush, exactly like the
//! OOM killer or a power cut), and the test restarts it to check that nothing was lost or
//! sent twice. Without the feature every point compiles to nothing.

/// With the `fault-injection` feature, a message with exactly this text makes every bot's
/// handler tree panic (after writing to the update's transaction), and an invoice whose
/// contact has this name makes posting its approval card panic (after enqueuing the card),
/// for the tests of the panic guards. Without the feature nothing looks at it.
pub const PANIC_TEXT: &str = "herald-fault:panic-in-handler";

/// Where in the send path a crash is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// `pending -> sending` committed, request not yet made.
    AfterClaim,
    /// `sendMessage` written and Telegram's answer headers received, body not yet read.
    AfterWrite,
    /// Telegram answered success; the `sent` state is not yet committed.
    BeforeSentCommit,
    /// The scheduler took a `/preview` request to render it; nothing rendered or enqueued.
    BeforePreview,
}

impl CrashPoint {
    /// The value of `HERALD_CRASH_AT` that selects this point.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::AfterClaim => "after_claim",
            CrashPoint::AfterWrite => "after_write",
            CrashPoint::BeforeSentCommit => "before_sent_commit",
            CrashPoint::BeforePreview => "before_preview",
        }
    }
}

/// Kills the process if `HERALD_CRASH_AT` names `point`.
#[cfg(feature = "fault-injection")]
pub fn crash_point(point: CrashPoint) {
    static SELECTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let selected = SELECTED.get_or_init(|| std::env::var("HERALD_CRASH_AT").ok());
    if selected.as_deref() == Some(point.name()) {
        eprintln!("fault-injection: SIGKILL at {}", point.name());
        // SAFETY: raise(3) with a valid signal number; SIGKILL ends the process at once.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

/// Without the feature, crash points are no-ops.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_point: CrashPoint) {}

/// With the `fault-injection` feature, when `HERALD_STOP_ON_SIGUSR1` names `task`
/// (`scheduler`, `lease`): a token cancelled when the process gets SIGUSR1, on which that task
/// stops as a bug would (the scheduler's task ends; the lease stops being renewed), for the
/// readiness tests. Otherwise, and without the feature, a token never cancelled.
#[cfg(feature = "fault-injection")]
pub fn stop_on_signal(task: &str) -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    if std::env::var("HERALD_STOP_ON_SIGUSR1").is_ok_and(|v| v == task) {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::user_defined1()) {
            Ok(mut usr1) => {
                let stop = token.clone();
                let task = task.to_owned();
                tokio::spawn(async move {
                    usr1.recv().await;
                    eprintln!("fault-injection: SIGUSR1 stops the {task}");
                    stop.cancel();
                });
            }
            Err(e) => tracing::error!(error = %e, "fault injection: cannot listen for SIGUSR1"),
        }
    }
    token
}

/// Without the feature nothing stops on a signal.
#[cfg(not(feature = "fault-injection"))]
pub fn stop_on_signal(_task: &str) -> tokio_util::sync::CancellationToken {
    tokio_util::sync::CancellationToken::new()
}

/// Telegram's flood limits switched off in the sender (`HERALD_TEST_RATE_LIMITS=off`), for the
/// soak and other tests that push far more traffic through one chat than Telegram allows.
/// Only with the `fault-injection` feature: a production build always keeps the limits.
#[cfg(feature = "fault-injection")]
pub fn rate_limits_off() -> bool {
    std::env::var("HERALD_TEST_RATE_LIMITS").is_ok_and(|v| v == "off")
}

/// Without the feature the limits are always kept.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn rate_limits_off() -> bool {
    false
}
