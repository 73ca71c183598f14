//! Time is a dependency. Every reading of "now" goes through a [`Clock`], so tests, the
//! sandbox and rehearsals (`--clock-start`, `--clock-speed`) control it. Nothing else in the
//! crate calls `Utc::now()`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

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
    /// Moves only when a test calls [`Clock::set`] or [`Clock::advance`].
    Manual(Mutex<DateTime<Utc>>),
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
        Self::from_kind(ClockKind::Manual(Mutex::new(start)))
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
            ClockKind::Manual(at) => *at.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Moves a manual clock to `at`. No effect on other clocks.
    pub fn set(&self, at: DateTime<Utc>) {
        if let ClockKind::Manual(now) = &*self.inner {
            *now.lock().unwrap_or_else(|p| p.into_inner()) = at;
        }
    }

    /// Moves a manual clock forward by `by`. No effect on other clocks.
    pub fn advance(&self, by: chrono::Duration) {
        if let ClockKind::Manual(now) = &*self.inner {
            let mut now = now.lock().unwrap_or_else(|p| p.into_inner());
            *now += by;
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
