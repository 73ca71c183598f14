//! Wake-ups raised by commits: the event that lets every task of `herald run` sleep until
//! something it serves happened, instead of looking at the database on a fixed interval.
//!
//! A write that gives a task work marks the transaction it is part of ([`mark`]): an outbox
//! row marks its bot's sender, a pause or resume marks every sender and the scheduler, an
//! operator's `/run` or `/preview` marks the scheduler, an approval decided marks the approval desk, a member's cancel or waitlist request the gym desk. The marks are raised only once that
//! transaction has committed ([`super::Write::commit`]) and are dropped with a rollback, so a
//! task never wakes to look for a row it cannot see yet, and a sender wakes only for rows of
//! its own bot.
//!
//! The marks are kept beside the transaction, keyed by its connection's address: a write such
//! as [`crate::identity::Poster::enqueue`] is handed only `&mut SqliteConnection`, and that
//! connection is the transaction's for as long as it is open. [`super::Write`] keeps its
//! transaction boxed, so the address stays put however the `Write` itself is moved. Each [`Signals`] belongs to one
//! [`super::Store`] (all its clones), so two deployments in one process never wake each
//! other.
//!
//! Writes by another process (`herald pause` beside `herald run`, a second replica) raise
//! nothing here; the lease's heartbeat notices them ([`super::lease`]) and raises
//! [`Signals::raise_all`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use sqlx::SqliteConnection;
use tokio::sync::Notify;

/// What a committed write may have given work to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wake {
    /// The sender of this bot (by its [`crate::identity::BotIdentity::NAME`]).
    Sender(&'static str),
    /// Every sender (a pause changed what may be sent).
    AllSenders,
    /// The scheduler (a pause or an operator's request changed what is due).
    Scheduler,
    /// The approval desk (an approval was decided: it has a write to Xero to make).
    Desk,
    /// The gym desk (a member asked to cancel a class or to join a waitlist).
    Gym,
}

impl Wake {
    /// The sender of the bot named `bot` as stored in a row; every sender for a name that
    /// is no identity's (the database's CHECK allows none).
    pub fn sender_of(bot: &str) -> Wake {
        crate::identity::IDENTITY_NAMES
            .iter()
            .find(|&&name| name == bot)
            .map_or(Wake::AllSenders, |&name| Wake::Sender(name))
    }
}

/// Marks of the transactions open now, by the address of their connection.
static MARKS: LazyLock<Mutex<HashMap<usize, BTreeSet<Wake>>>> = LazyLock::new(Default::default);

fn marks() -> MutexGuard<'static, HashMap<usize, BTreeSet<Wake>>> {
    // A panic while holding this lock cannot leave the map half-changed (each use is one
    // insert or remove), so a poisoned lock is still sound to use.
    MARKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The key of the transaction open on `conn`.
pub(crate) fn key(conn: &SqliteConnection) -> usize {
    std::ptr::from_ref(conn) as usize
}

/// Raises `wake` once the transaction open on `conn` commits (nothing if it rolls back).
pub(crate) fn mark(conn: &SqliteConnection, wake: Wake) {
    marks().entry(key(conn)).or_default().insert(wake);
}

/// Takes the marks of the transaction on the connection keyed `key` (at its end).
pub(crate) fn take(key: usize) -> BTreeSet<Wake> {
    marks().remove(&key).unwrap_or_default()
}

/// The wake-ups of one store's tasks.
#[derive(Debug, Default)]
pub struct Signals {
    senders: Mutex<HashMap<&'static str, Arc<Notify>>>,
    scheduler: Arc<Notify>,
    desk: Arc<Notify>,
    gym: Arc<Notify>,
}

impl Signals {
    fn senders(&self) -> MutexGuard<'_, HashMap<&'static str, Arc<Notify>>> {
        self.senders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What `bot`'s sender waits on.
    pub fn sender(&self, bot: &'static str) -> Arc<Notify> {
        self.senders().entry(bot).or_default().clone()
    }

    /// What the scheduler waits on.
    pub fn scheduler(&self) -> Arc<Notify> {
        self.scheduler.clone()
    }

    /// What the approval desk waits on.
    pub fn desk(&self) -> Arc<Notify> {
        self.desk.clone()
    }

    /// What the gym desk waits on.
    pub fn gym(&self) -> Arc<Notify> {
        self.gym.clone()
    }

    /// Raises `wakes` (after a commit). A task not waiting right now keeps the wake-up for
    /// its next wait, so none is lost between its look and its sleep.
    pub(crate) fn raise(&self, wakes: &BTreeSet<Wake>) {
        for wake in wakes {
            match wake {
                Wake::Sender(bot) => self.sender(bot).notify_one(),
                Wake::AllSenders => self.senders().values().for_each(|n| n.notify_one()),
                Wake::Scheduler => self.scheduler.notify_one(),
                Wake::Desk => self.desk.notify_one(),
                Wake::Gym => self.gym.notify_one(),
            }
        }
    }

    /// Wakes every task: something changed that this process did not write.
    pub fn raise_all(&self) {
        self.raise(&BTreeSet::from([
            Wake::AllSenders,
            Wake::Scheduler,
            Wake::Desk,
            Wake::Gym,
        ]));
    }
}
