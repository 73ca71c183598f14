//! Is this herald ready to do its work now? The answer of `/readyz` and of `/status`'s
//! readiness line, computed when asked from what the running parts report:
//! - every bot verified and polling: each poller says when a `getUpdates` failed or worked,
//!   and when it stopped;
//! - the lease held: not lost to another instance, and renewed on time (a renewal is a write,
//!   so this also says the database takes writes);
//! - the database: no unit of work waiting out a failure, and the store has not given up;
//! - the scheduler's heartbeat: its task runs, and it is not more than [`STALE_AFTER`] past
//!   the look it promised. The scheduler sleeps until its next slot (it does not beat on a
//!   fixed interval, issue 13), so its heartbeat is that promise: stale once overdue.
//!
//! Nothing here polls: a check reads shared state, so a stopped scheduler or a lost lease is
//! seen by the very next request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::lease::Lease;
use crate::store::Store;

/// How far past a promise (a lease renewal, the scheduler's next look) herald still counts as
/// ready.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// The readiness of one fleet (cheap to clone; clones share it).
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    phase: Phase,
    /// Each identity's poller, by name; an identity missing here was not verified yet.
    bots: BTreeMap<&'static str, Poller>,
    /// Only the console polls (a crash loop was detected): herald is not ready.
    diagnose: bool,
    store: Option<Store>,
    lease: Option<Lease>,
    scheduler: Option<SchedulerBeat>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Verifying tokens and opening the database.
    #[default]
    Starting,
    Running,
    /// Shutting down.
    Stopping,
}

/// What one bot's poller last said.
#[derive(Debug, Clone)]
enum Poller {
    /// Verified with `getMe`; its poller has not started yet.
    Verified,
    /// The last `getUpdates` worked (or the first is under way).
    Polling,
    /// The last `getUpdates` failed; the poller is waiting before the next.
    Failing(String),
    /// Its poller ended.
    Stopped,
}

/// The scheduler's heartbeat: the real instant by which it promised its next look, and
/// whether its task runs.
#[derive(Clone)]
pub struct SchedulerBeat {
    pub(crate) next_look: Arc<Mutex<Instant>>,
    pub(crate) running: Arc<AtomicBool>,
}

/// Marks the scheduler's task as ended when dropped (a return, an error or a panic).
pub struct Running(Arc<AtomicBool>);

impl SchedulerBeat {
    /// Held by the scheduler's task while it runs.
    pub fn running(&self) -> Running {
        self.running.store(true, Ordering::SeqCst);
        Running(self.running.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The answer: ready, or what is not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    /// One line per thing not ready, naming it and why.
    pub not_ready: Vec<String>,
}

impl Readiness {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// `bot` answered `getMe` as itself.
    pub fn verified(&self, bot: &'static str) {
        self.with(|s| {
            s.bots.insert(bot, Poller::Verified);
        });
    }

    /// `bot`'s poller was started, or its `getUpdates` worked.
    pub fn polling(&self, bot: &'static str) {
        self.with(|s| {
            s.bots.insert(bot, Poller::Polling);
        });
    }

    /// `bot`'s last `getUpdates` failed with `error`.
    pub fn poll_failed(&self, bot: &'static str, error: String) {
        self.with(|s| {
            s.bots.insert(bot, Poller::Failing(error));
        });
    }

    /// `bot`'s poller ended.
    pub fn poll_stopped(&self, bot: &'static str) {
        self.with(|s| {
            s.bots.insert(bot, Poller::Stopped);
        });
    }

    /// The database is open under `lease`.
    pub fn opened(&self, store: Store, lease: Lease) {
        self.with(|s| {
            s.store = Some(store);
            s.lease = Some(lease);
        });
    }

    /// The scheduler whose heartbeat is `beat` will run.
    pub fn scheduling(&self, beat: SchedulerBeat) {
        self.with(|s| s.scheduler = Some(beat));
    }

    /// Start-up is over: every part is launched (`diagnose`: only the console polls).
    pub fn started(&self, diagnose: bool) {
        self.with(|s| {
            s.phase = Phase::Running;
            s.diagnose = diagnose;
        });
    }

    /// The fleet is shutting down.
    pub fn stopping(&self) {
        self.with(|s| s.phase = Phase::Stopping);
    }

    /// The database this fleet runs on, once it is open.
    pub fn store(&self) -> Option<Store> {
        self.with(|s| s.store.clone())
    }

    /// Whether this process holds the lease, and its epoch (once the database is open).
    pub fn lease(&self) -> Option<(bool, i64)> {
        self.with(|s| {
            let store = s.store.as_ref()?;
            let lease = s.lease.as_ref()?;
            Some((store.lease_lost().is_none(), lease.epoch()))
        })
    }

    /// Whether herald is ready now, and if not, why.
    pub fn check(&self) -> ReadinessReport {
        let now = Instant::now();
        let not_ready = self.with(|s| s.problems(now));
        ReadinessReport {
            ready: not_ready.is_empty(),
            not_ready,
        }
    }
}

impl State {
    fn problems(&self, now: Instant) -> Vec<String> {
        let mut problems = Vec::new();
        match self.phase {
            Phase::Starting => {
                problems.push("starting: verifying bots and opening the database".to_owned())
            }
            Phase::Stopping => problems.push("stopping".to_owned()),
            Phase::Running => {}
        }
        if self.diagnose {
            problems.push(
                "diagnose mode: the last boots never became healthy; only the console polls"
                    .to_owned(),
            );
        }
        for name in crate::identity::IDENTITY_NAMES {
            let problem = match self.bots.get(name) {
                None => "not verified yet".to_owned(),
                Some(Poller::Polling) => continue,
                Some(Poller::Verified) if self.diagnose => "not polling (diagnose mode)".to_owned(),
                Some(Poller::Verified) => "verified, not polling yet".to_owned(),
                Some(Poller::Failing(error)) => format!("getUpdates failing: {error}"),
                Some(Poller::Stopped) => "its poller stopped".to_owned(),
            };
            problems.push(format!("{name}: {problem}"));
        }
        if let (Some(store), Some(lease)) = (&self.store, &self.lease) {
            if let Some(lost) = store.lease_lost() {
                problems.push(format!("lease: lost ({lost})"));
            } else {
                // Overdue by more than STALE_AFTER, or past its TTL (when another instance
                // may take it over), whichever comes first.
                let since = now.saturating_duration_since(lease.last_renewed());
                let due = (lease.renew_every() + STALE_AFTER).min(lease.ttl());
                if since > due {
                    problems.push(format!(
                        "lease: not renewed for {:.1} s (renewed every {:.1} s, lasts {:.1} s)",
                        since.as_secs_f64(),
                        lease.renew_every().as_secs_f64(),
                        lease.ttl().as_secs_f64()
                    ));
                }
            }
            if let Some(failure) = store.persistent_failure() {
                problems.push(format!("database: {failure}"));
            } else if let Some(unit) = store.waiting_out() {
                problems.push(format!("database: waiting out a failure while {unit}"));
            }
        } else if self.phase == Phase::Running {
            problems.push("database: not open".to_owned());
        }
        match &self.scheduler {
            None if self.diagnose => {
                problems.push("scheduler: not running (diagnose mode)".to_owned())
            }
            None => {
                if self.phase == Phase::Running {
                    problems.push("scheduler: not running".to_owned());
                }
            }
            Some(beat) => {
                if !beat.running.load(Ordering::SeqCst) {
                    problems.push("scheduler: its task is not running".to_owned());
                } else {
                    let promised = *beat.next_look.lock().unwrap_or_else(|p| p.into_inner());
                    let overdue = now.saturating_duration_since(promised);
                    if overdue > STALE_AFTER {
                        problems.push(format!(
                            "scheduler: heartbeat {} s old (its look is overdue)",
                            overdue.as_secs()
                        ));
                    }
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bot polling, on a database of its own under its lease.
    async fn polling_on_a_database(dir: &tempfile::TempDir) -> Readiness {
        let readiness = Readiness::default();
        for name in crate::identity::IDENTITY_NAMES {
            readiness.polling(name);
        }
        let url = format!("sqlite://{}/herald.db", dir.path().display());
        let (store, lease) = Store::open_leased(
            &url,
            &crate::store::lease::LeaseSettings::default(),
            crate::store::retry::RetryPolicy::default(),
        )
        .await
        .expect("the database opens");
        readiness.opened(store, lease);
        readiness
    }

    fn beat(in_: Duration) -> SchedulerBeat {
        SchedulerBeat {
            next_look: Arc::new(Mutex::new(Instant::now() + in_)),
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    #[tokio::test]
    async fn ready_only_once_started_with_every_bot_polling_and_the_scheduler_running() {
        assert!(Readiness::default().check().not_ready[0].starts_with("starting"));
        let dir = tempfile::tempdir().unwrap();
        let readiness = polling_on_a_database(&dir).await;
        assert!(readiness.check().not_ready[0].starts_with("starting"));
        let beat = beat(Duration::from_secs(60));
        readiness.scheduling(beat.clone());
        readiness.started(false);
        assert_eq!(
            readiness.check().not_ready,
            ["scheduler: its task is not running"]
        );
        let running = beat.running();
        assert_eq!(readiness.check().not_ready, Vec::<String>::new());
        assert!(readiness.check().ready);
        readiness.poll_failed("happy", "connection refused".to_owned());
        assert_eq!(
            readiness.check().not_ready,
            ["happy: getUpdates failing: connection refused"]
        );
        readiness.polling("happy");
        drop(running);
        assert_eq!(
            readiness.check().not_ready,
            ["scheduler: its task is not running"]
        );
    }

    #[tokio::test]
    async fn a_scheduler_past_its_promised_look_by_more_than_five_seconds_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let readiness = polling_on_a_database(&dir).await;
        let beat = SchedulerBeat {
            next_look: Arc::new(Mutex::new(
                Instant::now().checked_sub(Duration::from_secs(7)).unwrap(),
            )),
            running: Arc::new(AtomicBool::new(false)),
        };
        readiness.scheduling(beat.clone());
        readiness.started(false);
        let _running = beat.running();
        let report = readiness.check();
        assert!(!report.ready);
        assert!(
            report.not_ready[0].starts_with("scheduler: heartbeat 7 s old"),
            "{report:?}"
        );
        *beat.next_look.lock().unwrap() = Instant::now();
        assert!(readiness.check().ready);
        assert_eq!(readiness.lease().map(|(held, _)| held), Some(true));
    }

    #[test]
    fn diagnose_mode_is_never_ready() {
        let readiness = Readiness::default();
        readiness.verified("claudia");
        readiness.started(true);
        let report = readiness.check();
        assert!(report
            .not_ready
            .iter()
            .any(|l| l.starts_with("diagnose mode")));
        assert!(report
            .not_ready
            .contains(&"claudia: not polling (diagnose mode)".to_owned()));
        assert!(report
            .not_ready
            .contains(&"scheduler: not running (diagnose mode)".to_owned()));
    }
}
