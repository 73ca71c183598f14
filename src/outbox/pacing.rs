//! Telegram's flood limits, kept by each sender so that 429s stay rare: about one message a
//! second per chat, twenty a minute per group, thirty a second per bot. The pacer remembers
//! when this bot last sent to each chat and answers "when may the next one go?".
//!
//! Limits are per bot (each identity has its own sender and pacer), so one bot's backlog
//! never slows another. Callback answers are not paced (they have no chat and Telegram does
//! not count them against chat limits).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The limits a sender keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Least time between two messages to one chat.
    pub chat_gap: Duration,
    /// At most `group_max` messages to one group in any `group_window`.
    pub group_max: usize,
    pub group_window: Duration,
    /// At most `bot_max` messages by this bot in any `bot_window`.
    pub bot_max: usize,
    pub bot_window: Duration,
    /// Added to every window so that clock skew between us and Telegram does not tip a send
    /// over the edge.
    pub margin: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            chat_gap: Duration::from_secs(1),
            group_max: 20,
            group_window: Duration::from_secs(60),
            bot_max: 30,
            bot_window: Duration::from_secs(1),
            margin: Duration::from_millis(20),
        }
    }
}

impl RateLimits {
    /// No limit at all: for tests that push more through one chat than Telegram allows
    /// (see [`crate::faults::rate_limits_off`]).
    pub fn unlimited() -> Self {
        Self {
            chat_gap: Duration::ZERO,
            group_max: usize::MAX,
            group_window: Duration::ZERO,
            bot_max: usize::MAX,
            bot_window: Duration::ZERO,
            margin: Duration::ZERO,
        }
    }
}

/// One bot's recent sends.
#[derive(Debug)]
pub struct Pacer {
    limits: RateLimits,
    per_chat: HashMap<i64, VecDeque<Instant>>,
    per_bot: VecDeque<Instant>,
}

impl Pacer {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            per_chat: HashMap::new(),
            per_bot: VecDeque::new(),
        }
    }

    /// The earliest instant at which a message to `chat_id` keeps every limit.
    /// Group and supergroup ids are negative.
    pub fn ready_at(&mut self, chat_id: i64, now: Instant) -> Instant {
        let limits = &self.limits;
        let mut ready = now;
        prune(&mut self.per_bot, now, limits.bot_window + limits.margin);
        if self.per_bot.len() >= limits.bot_max {
            let oldest = self.per_bot[self.per_bot.len() - limits.bot_max];
            ready = ready.max(oldest + limits.bot_window + limits.margin);
        }
        let keep = limits.group_window.max(limits.chat_gap) + limits.margin;
        if let Some(sent) = self.per_chat.get_mut(&chat_id) {
            prune(sent, now, keep);
            if let Some(last) = sent.back() {
                ready = ready.max(*last + limits.chat_gap);
            }
            if chat_id < 0 && sent.len() >= limits.group_max {
                let oldest = sent[sent.len() - limits.group_max];
                ready = ready.max(oldest + limits.group_window + limits.margin);
            }
            if sent.is_empty() {
                self.per_chat.remove(&chat_id);
            }
        }
        ready
    }

    /// Counts a message to `chat_id` sent at `at`.
    pub fn record(&mut self, chat_id: i64, at: Instant) {
        self.per_chat.entry(chat_id).or_default().push_back(at);
        self.per_bot.push_back(at);
    }
}

fn prune(sent: &mut VecDeque<Instant>, now: Instant, keep: Duration) {
    while sent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= keep)
    {
        sent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: i64 = -100;
    const MS: Duration = Duration::from_millis(1);

    fn pacer() -> Pacer {
        Pacer::new(RateLimits {
            margin: Duration::ZERO,
            ..RateLimits::default()
        })
    }

    #[test]
    fn one_message_a_second_per_chat() {
        let mut pacer = pacer();
        let t0 = Instant::now();
        assert_eq!(pacer.ready_at(7, t0), t0);
        pacer.record(7, t0);
        assert_eq!(pacer.ready_at(7, t0 + 10 * MS), t0 + Duration::from_secs(1));
        // Another chat is not held back.
        assert_eq!(pacer.ready_at(8, t0 + 10 * MS), t0 + 10 * MS);
    }

    #[test]
    fn twenty_a_minute_per_group() {
        let mut pacer = pacer();
        let t0 = Instant::now();
        let mut at = t0;
        for _ in 0..20 {
            at = pacer.ready_at(GROUP, at);
            pacer.record(GROUP, at);
        }
        assert_eq!(at, t0 + Duration::from_secs(19));
        assert_eq!(
            pacer.ready_at(GROUP, at),
            t0 + Duration::from_secs(60),
            "the 21st waits for the first to leave the window"
        );
        // A private chat (positive id) has no group limit.
        let mut dm = self::pacer();
        for i in 0..25 {
            dm.record(5, t0 + Duration::from_secs(i));
        }
        assert_eq!(
            dm.ready_at(5, t0 + Duration::from_secs(25)),
            t0 + Duration::from_secs(25)
        );
    }

    #[test]
    fn thirty_a_second_per_bot() {
        let mut pacer = pacer();
        let t0 = Instant::now();
        for chat in 0..30 {
            pacer.record(chat + 1, t0 + chat as u32 * MS);
        }
        assert_eq!(
            pacer.ready_at(99, t0 + 40 * MS),
            t0 + Duration::from_secs(1)
        );
        assert_eq!(
            pacer.ready_at(99, t0 + Duration::from_secs(1) + 5 * MS),
            t0 + Duration::from_secs(1) + 5 * MS
        );
    }

    #[test]
    fn margin_is_added_to_windows() {
        let mut pacer = Pacer::new(RateLimits::default());
        let t0 = Instant::now();
        for chat in 0..30 {
            pacer.record(chat + 1, t0);
        }
        assert_eq!(
            pacer.ready_at(99, t0),
            t0 + Duration::from_secs(1) + Duration::from_millis(20)
        );
    }
}
