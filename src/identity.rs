//! Bot identities as types. Each bot is an uninhabited marker implementing [`BotIdentity`];
//! [`Poster<I>`] is the only way to enqueue a message as bot `I`, and it can only be built
//! from a [`VerifiedBot<I>`], which only start-up verification (`getMe` answered with `I`'s
//! own username for `I`'s own token) produces. Posting as another bot is a type error, and
//! nothing looks a poster up by a run-time name.
//!
//! This is the leaf the rest stands on: it knows the clock and the token type, nothing of
//! handlers, jobs, the desk or the store. What each identity *does* lives in `crate::bots`,
//! one file per bot; how a poster writes its row lives in the outbox (`Poster::enqueue`,
//! in `crate::outbox::post`).
//!
//! Adding an identity: one line in `every_identity!` below, one file `src/bots/<name>.rs`
//! and one `bots/<name>.toml` (see the README).

use std::marker::PhantomData;

use crate::clock::Clock;
use crate::config::secrets::Token;

mod sealed {
    pub trait Sealed {}
}

/// A bot identity. Implemented only by the markers in this module.
pub trait BotIdentity: sealed::Sealed + Send + Sync + 'static {
    /// Stable lower-case name: the file stem in `bots/`, the `bot` column in the database.
    const NAME: &'static str;
    /// How people call the bot.
    const DISPLAY: &'static str;
}

/// Calls [`IdentityVisitor::visit`] once for every identity ([`visit_all`]): how start-up code
/// does something for each bot without ever naming one at run time. For work that needs only
/// who a bot is (its name, its poster): the console's identity is picked this way at start.
/// Work that needs what a bot does visits `crate::bots::visit_all` instead.
pub trait IdentityVisitor {
    fn visit<I: BotIdentity>(&mut self);
}

/// Every identity, one line each: `Marker => file stem, "Display name";`. Calls `$callback!`
/// with the whole list, so that each place that must name every identity (the markers here,
/// one module per bot in `crate::bots`) is generated from this one list.
macro_rules! every_identity {
    ($callback:ident) => {
        $callback! {
            Claudia => claudia, "Claudia";
            Clawrence => clawrence, "Clawrence";
            Lawrence => lawrence, "Lawrence";
            Happy => happy, "Happy";
            GymBooker => gymbooker, "GymBooker";
            Claims => claims, "Claims";
            PakguPei => pakgupei, "PakguPei";
        }
    };
}
pub(crate) use every_identity;

macro_rules! identities {
    ($($marker:ident => $field:ident, $display:literal;)+) => {
        $(
            #[doc = concat!("The ", $display, " bot.")]
            #[derive(Debug)]
            pub enum $marker {}
            impl sealed::Sealed for $marker {}
            impl BotIdentity for $marker {
                const NAME: &'static str = stringify!($field);
                const DISPLAY: &'static str = $display;
            }
        )+

        /// Every identity's [`BotIdentity::NAME`], in declaration order.
        pub const IDENTITY_NAMES: &[&str] = &[$(stringify!($field)),+];

        /// Visits every identity in declaration order.
        pub fn visit_all<V: IdentityVisitor>(visitor: &mut V) {
            $( visitor.visit::<$marker>(); )+
        }
    };
}

every_identity!(identities);

/// Proof that `I`'s own token answered `getMe` with `I`'s configured username.
/// Only `crate::fleet` constructs it.
pub struct VerifiedBot<I: BotIdentity> {
    token: Token,
    pub(crate) bot_user_id: i64,
    pub(crate) can_read_all_group_messages: bool,
    _identity: PhantomData<fn() -> I>,
}

impl<I: BotIdentity> VerifiedBot<I> {
    pub(crate) fn new(token: Token, bot_user_id: i64, can_read_all_group_messages: bool) -> Self {
        Self {
            token,
            bot_user_id,
            can_read_all_group_messages,
            _identity: PhantomData,
        }
    }

    pub(crate) fn token(&self) -> &Token {
        &self.token
    }
}

impl<I: BotIdentity> std::fmt::Debug for VerifiedBot<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedBot")
            .field("identity", &I::NAME)
            .field("bot_user_id", &self.bot_user_id)
            .finish_non_exhaustive()
    }
}

/// The only way to enqueue a message as bot `I` (`Poster::enqueue`, written by the outbox).
pub struct Poster<I: BotIdentity> {
    clock: Clock,
    _identity: PhantomData<fn() -> I>,
}

impl<I: BotIdentity> Clone for Poster<I> {
    fn clone(&self) -> Self {
        Self {
            clock: self.clock.clone(),
            _identity: PhantomData,
        }
    }
}

impl<I: BotIdentity> std::fmt::Debug for Poster<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Poster<{}>", I::DISPLAY)
    }
}

impl<I: BotIdentity> Poster<I> {
    /// Built once at start-up, from the verification of `I`'s own token.
    pub(crate) fn new(_verified: &VerifiedBot<I>, clock: Clock) -> Self {
        Self {
            clock,
            _identity: PhantomData,
        }
    }

    /// When a row written now is stamped (the poster's clock).
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<&'static str>);
    impl IdentityVisitor for Names {
        fn visit<I: BotIdentity>(&mut self) {
            self.0.push(I::NAME);
        }
    }

    #[test]
    fn seven_identities_with_distinct_names() {
        let mut names = Names(Vec::new());
        visit_all(&mut names);
        assert_eq!(names.0, IDENTITY_NAMES);
        assert_eq!(
            IDENTITY_NAMES,
            &[
                "claudia",
                "clawrence",
                "lawrence",
                "happy",
                "gymbooker",
                "claims",
                "pakgupei"
            ]
        );
    }
}
