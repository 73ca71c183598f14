//! Telegram's flood limits, as the simulator enforces them when rate limits are on.
//!
//! Exists so the outbox sender's pacing is tested against a peer that answers 429 the way
//! Telegram does. Only accepted `sendMessage`/`editMessageText` calls count. The rules:
//! - per (bot, chat): successive messages at least 1 s apart (50 ms tolerance);
//! - per (bot, group chat): at most 20 in any 60 s window;
//! - per bot: at most 30 in any 1 s window.
//!
//! Windows use real monotonic time, never the injectable clock (herald's pacing runs on real
//! time); only tests of the limits themselves freeze it
//! ([`super::Simulator::freeze_rate_limit_clock`]).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const CHAT_GAP: Duration = Duration::from_secs(1);
const CHAT_TOLERANCE: Duration = Duration::from_millis(50);
const GROUP_WINDOW: Duration = Duration::from_secs(60);
const GROUP_MAX: usize = 20;
const BOT_WINDOW: Duration = Duration::from_secs(1);
const BOT_MAX: usize = 30;

/// Accepted sends, per (bot, chat) and per bot.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    per_chat: HashMap<(usize, i64), VecDeque<Instant>>,
    per_bot: HashMap<usize, VecDeque<Instant>>,
}

impl RateLimiter {
    /// `Err(retry_after_seconds)` (ceil, at least 1) if a send now would break a limit.
    pub fn check(
        &mut self,
        bot: usize,
        chat: i64,
        is_group: bool,
        now: Instant,
    ) -> Result<(), u32> {
        let mut wait = Duration::ZERO;
        if let Some(sent) = self.per_chat.get_mut(&(bot, chat)) {
            prune(sent, now, GROUP_WINDOW);
            if let Some(last) = sent.back() {
                let since = now.saturating_duration_since(*last);
                if since + CHAT_TOLERANCE < CHAT_GAP {
                    wait = wait.max(CHAT_GAP - since);
                }
            }
            if is_group && sent.len() >= GROUP_MAX {
                let oldest = sent[sent.len() - GROUP_MAX];
                wait = wait.max((oldest + GROUP_WINDOW).saturating_duration_since(now));
            }
        }
        if let Some(sent) = self.per_bot.get_mut(&bot) {
            prune(sent, now, BOT_WINDOW);
            if sent.len() >= BOT_MAX {
                let oldest = sent[sent.len() - BOT_MAX];
                wait = wait.max((oldest + BOT_WINDOW).saturating_duration_since(now));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Err(u32::try_from(secs.max(1)).unwrap_or(u32::MAX))
        }
    }

    /// Counts an accepted send.
    pub fn record(&mut self, bot: usize, chat: i64, now: Instant) {
        self.per_chat.entry((bot, chat)).or_default().push_back(now);
        self.per_bot.entry(bot).or_default().push_back(now);
    }
}

fn prune(sent: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while sent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        sent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: i64 = -100;

    #[test]
    fn one_per_second_per_chat_with_tolerance() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(rl.check(0, GROUP, true, t0), Ok(()));
        rl.record(0, GROUP, t0);
        assert_eq!(
            rl.check(0, GROUP, true, t0 + Duration::from_millis(10)),
            Err(1)
        );
        assert_eq!(
            rl.check(0, GROUP, true, t0 + Duration::from_millis(960)),
            Ok(())
        );
        // Another chat and another bot are independent.
        assert_eq!(rl.check(0, 42, false, t0), Ok(()));
        assert_eq!(rl.check(1, GROUP, true, t0), Ok(()));
    }

    #[test]
    fn twenty_per_minute_per_group() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for n in 0..20u64 {
            let t = t0 + Duration::from_secs(n);
            assert_eq!(rl.check(0, GROUP, true, t), Ok(()), "send {n}");
            rl.record(0, GROUP, t);
        }
        // The 21st at t0+20s must wait until the first leaves the window at t0+60s.
        assert_eq!(
            rl.check(0, GROUP, true, t0 + Duration::from_secs(20)),
            Err(40)
        );
        assert_eq!(
            rl.check(0, GROUP, true, t0 + Duration::from_secs(60)),
            Ok(())
        );
        // Private chats have no per-minute cap.
        for n in 0..25u64 {
            let t = t0 + Duration::from_secs(n);
            assert_eq!(rl.check(1, 42, false, t), Ok(()));
            rl.record(1, 42, t);
        }
    }

    #[test]
    fn thirty_per_second_per_bot() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for chat in 0..30i64 {
            assert_eq!(rl.check(0, chat, false, t0), Ok(()));
            rl.record(0, chat, t0);
        }
        assert_eq!(
            rl.check(0, 99, false, t0 + Duration::from_millis(100)),
            Err(1)
        );
        assert_eq!(rl.check(0, 99, false, t0 + Duration::from_secs(1)), Ok(()));
    }
}
