//! Where the fakes read "now": `date` fields of messages, token expiry and `UpdatedDateUTC`.
//!
//! The fakes do not know herald's `Clock`: this crate depends on nothing of herald. A test or
//! the sandbox that runs herald on a manual or accelerated clock hands the fakes the same time
//! through [`SimClock::from_fn`] (`SimClock::from_fn(move || clock.now())`). This file is the
//! only place that reads the system clock.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A source of the current instant, cheap to clone.
#[derive(Clone)]
pub struct SimClock {
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl SimClock {
    /// The real wall clock.
    pub fn system() -> SimClock {
        SimClock::from_fn(Utc::now)
    }

    /// Whatever `now` says, e.g. another clock's reading.
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> SimClock {
        SimClock { now: Arc::new(now) }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }
}

impl fmt::Debug for SimClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimClock")
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reads_the_function_each_time() {
        let start: DateTime<Utc> = "2026-11-20T02:00:00Z".parse().expect("instant");
        let shared = Arc::new(Mutex::new(start));
        let reading = Arc::clone(&shared);
        let clock = SimClock::from_fn(move || *reading.lock().expect("lock"));
        assert_eq!(clock.now(), start);
        *shared.lock().expect("lock") = start + chrono::Duration::minutes(5);
        assert_eq!(clock.clone().now(), start + chrono::Duration::minutes(5));
    }
}
