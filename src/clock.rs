//! Time is a dependency. Every reading of "now" goes through a [`Clock`], so tests, the
//! sandbox and rehearsals (`--clock-start`, `--clock-speed`) control it. Nothing else in the
//! crate calls `Utc::now()`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A source of the current instant, and a way to wait in that clock's time.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<ClockKind>,
}

enum ClockKind {
    System,
    /// Starts at `start` when `origin` (a monotonic instant) was taken and runs `speed` times
    /// faster than real time.
    Accelerated {
        start: DateTime<Utc>,
        origin: tokio::time::Instant,
        speed: f64,
    },
    /// Moves only when a test calls [`Clock::set`] or [`Clock::advance`]; tasks sleeping on
    /// it ([`Clock::sleep`]) wake when it is moved past their deadline.
    Manual(watch::Sender<ManualTime>),
}

/// A manual clock's reading, and how many tasks sleep on it (so a test can wait for them).
#[derive(Debug, Clone, Copy)]
struct ManualTime {
    now: DateTime<Utc>,
    sleepers: usize,
}

impl Clock {
    /// The real wall clock.
    pub fn system() -> Self {
        Self::from_kind(ClockKind::System)
    }

    /// Starts at `start` and runs `speed` times faster than real time (`speed` > 0).
    pub fn accelerated(start: DateTime<Utc>, speed: f64) -> Self {
        Self::from_kind(ClockKind::Accelerated {
            start,
            origin: tokio::time::Instant::now(),
            speed: if speed > 0.0 { speed } else { 1.0 },
        })
    }

    /// A clock that stands still until moved by the test.
    pub fn manual(start: DateTime<Utc>) -> Self {
        let (time, _) = watch::channel(ManualTime {
            now: start,
            sleepers: 0,
        });
        Self::from_kind(ClockKind::Manual(time))
    }

    fn from_kind(kind: ClockKind) -> Self {
        Self {
            inner: Arc::new(kind),
        }
    }

    /// The current instant in this clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.inner {
            ClockKind::System => Utc::now(),
            ClockKind::Accelerated {
                start,
                origin,
                speed,
            } => {
                let real = origin.elapsed().as_secs_f64() * speed;
                *start + chrono::Duration::microseconds((real * 1_000_000.0) as i64)
            }
            ClockKind::Manual(time) => time.borrow().now,
        }
    }

    /// Moves a manual clock to `at`. No effect on other clocks.
    pub fn set(&self, at: DateTime<Utc>) {
        if let ClockKind::Manual(time) = &*self.inner {
            time.send_modify(|t| t.now = at);
        }
    }

    /// Moves a manual clock forward by `by`. No effect on other clocks.
    pub fn advance(&self, by: chrono::Duration) {
        if let ClockKind::Manual(time) = &*self.inner {
            time.send_modify(|t| t.now += by);
        }
    }

    /// Waits `duration` of this clock's time: real time on the system clock, `duration /
    /// speed` on an accelerated one; on a manual clock, until a test moves it `duration` past
    /// the instant the wait began. Cancel-safe (dropping the future ends the wait).
    pub async fn sleep(&self, duration: Duration) {
        match &*self.inner {
            ClockKind::System => tokio::time::sleep(duration).await,
            ClockKind::Accelerated { speed, .. } => {
                tokio::time::sleep(duration.div_f64(*speed)).await
            }
            ClockKind::Manual(time) => {
                let by = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
                let deadline = time.borrow().now.checked_add_signed(by);
                let mut moved = time.subscribe();
                time.send_modify(|t| t.sleepers += 1);
                let _asleep = Sleeper(time);
                // The sender lives as long as this clock, which `self` holds: the wait ends
                // only when the clock reaches the deadline (never, past the end of time).
                let reached = moved
                    .wait_for(|t| deadline.is_some_and(|d| t.now >= d))
                    .await;
                debug_assert!(reached.is_ok(), "a manual clock outlived its own sender");
            }
        }
    }

    /// How many tasks are sleeping on this manual clock right now (0 on other clocks).
    pub fn sleepers(&self) -> usize {
        match &*self.inner {
            ClockKind::Manual(time) => time.borrow().sleepers,
            _ => 0,
        }
    }

    /// For tests: waits until at least `n` tasks sleep on this manual clock (returns at once
    /// on other clocks). Lets a test move the clock only once a task is really waiting.
    pub async fn until_sleeping(&self, n: usize) {
        if let ClockKind::Manual(time) = &*self.inner {
            let mut changes = time.subscribe();
            let reached = changes.wait_for(|t| t.sleepers >= n).await;
            debug_assert!(reached.is_ok(), "a manual clock outlived its own sender");
        }
    }

    /// How much real time passes while this clock moves by `clock_time`.
    /// A manual clock never moves on its own, so waiting on it polls briefly.
    pub fn real_duration(&self, clock_time: chrono::Duration) -> Duration {
        let clock_time = clock_time.to_std().unwrap_or(Duration::ZERO);
        match &*self.inner {
            ClockKind::System => clock_time,
            ClockKind::Accelerated { speed, .. } => clock_time.div_f64(*speed),
            ClockKind::Manual(_) => clock_time.min(Duration::from_millis(20)),
        }
    }

    /// The real instant at which this clock will have moved by `clock_time` from now; None on
    /// a manual clock, which moves only when a test moves it.
    pub fn real_deadline(&self, clock_time: chrono::Duration) -> Option<std::time::Instant> {
        match &*self.inner {
            ClockKind::Manual(_) => None,
            _ => std::time::Instant::now().checked_add(self.real_duration(clock_time)),
        }
    }
}

/// One task sleeping on a manual clock; counted off when its wait ends or is dropped.
struct Sleeper<'a>(&'a watch::Sender<ManualTime>);

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|t| t.sleepers -= 1);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &*self.inner {
            ClockKind::System => "system",
            ClockKind::Accelerated { .. } => "accelerated",
            ClockKind::Manual(_) => "manual",
        };
        write!(f, "Clock({kind}, now={})", self.now().to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::minutes(5));
        assert_eq!(clock.now(), start + chrono::Duration::minutes(5));
    }

    #[tokio::test]
    async fn a_sleep_on_a_manual_clock_ends_when_the_clock_passes_its_deadline() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap();
        let clock = Clock::manual(start);
        let mut sleep = std::pin::pin!(clock.sleep(Duration::from_secs(30)));
        assert!(futures::poll!(&mut sleep).is_pending());
        assert_eq!(clock.sleepers(), 1);
        clock.advance(chrono::Duration::seconds(29));
        assert!(futures::poll!(&mut sleep).is_pending(), "29 s of 30");
        clock.advance(chrono::Duration::seconds(1));
        assert!(futures::poll!(&mut sleep).is_ready(), "30 s of 30");
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test]
    async fn a_dropped_sleep_is_no_longer_counted() {
        let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap());
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(5)).await }
        });
        clock.until_sleeping(1).await;
        sleeper.abort();
        assert!(sleeper.await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn accelerated_clock_runs_faster() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap();
        let clock = Clock::accelerated(start, 60.0);
        tokio::time::advance(Duration::from_secs(2)).await;
        let moved = clock.now() - start;
        assert!(moved >= chrono::Duration::seconds(119) && moved <= chrono::Duration::seconds(121));
        assert_eq!(
            clock.real_duration(chrono::Duration::minutes(1)),
            Duration::from_secs(1)
        );
    }
}
