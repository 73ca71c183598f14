//! How far herald's own loops have got, so that whoever must know herald has finished reacting
//! to something can wait for it instead of guessing a delay: the test harness above all, where
//! "nothing happened" is only provable once the thing that would have happened has been
//! considered.
//!
//! The loops that act on the database without being asked (every sender, the scheduler and its
//! watchdog) report each look they take at it:
//! - a look that found nothing to do is *idle*, stamped with the generation it began in;
//! - finishing a piece of work (a send recorded, a slot claimed or run, an alert written)
//!   starts a new generation, because it may have given another loop something to do.
//!
//! [`Activity::settled`] starts a generation of its own and waits until every loop has had an
//! idle look that began in the current generation. A look reads the database after it began,
//! so at that moment nothing committed before the call still waits for any of these loops.
//! Updates Telegram has not yet handed over are outside this: the caller checks those first.
//!
//! The loops sleep until an event gives them work, so while someone waits in
//! [`Activity::settled`], a loop whose last idle look is older than the current generation is
//! asked to look again ([`Reporter::asked`]). Nobody waits in production: there the question
//! never comes, and no report wakes anybody (a report tells the watchers only while someone
//! waits).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

/// The register of one fleet's loops and their looks (cheap to clone; clones share it).
#[derive(Clone)]
pub struct Activity {
    inner: Arc<Inner>,
}

struct Inner {
    state: watch::Sender<State>,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Moves on with every piece of work done by any loop, and with every [`Activity::settled`].
    generation: u64,
    /// Each registered loop: its name and the generation its last idle look began in.
    loops: BTreeMap<u64, (String, Option<u64>)>,
    /// How many looks each loop has taken, by name (a loop's wake-ups: see [`Activity::looks`]).
    looks: BTreeMap<String, u64>,
    /// How many [`Activity::settled`] calls are waiting.
    waiting: usize,
}

impl State {
    fn settled(&self) -> bool {
        self.loops
            .values()
            .all(|(_, idle)| idle.is_some_and(|g| g >= self.generation))
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: watch::channel(State::default()).0,
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Registers a loop under `name` (for [`Activity::busy`]); it counts until its reporter is
    /// dropped.
    pub fn register(&self, name: impl Into<String>) -> Reporter {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let name = name.into();
        self.inner.state.send_modify(|s| {
            s.loops.insert(id, (name, None));
        });
        Reporter {
            registered: Some((self.clone(), id)),
        }
    }

    /// Waits until every registered loop has looked at the database since this call began
    /// and found nothing to do, with no work done by any of them since. Never returns while a
    /// loop keeps working (a backlog, a long retry wait): callers bound it with a timeout.
    pub async fn settled(&self) {
        self.inner.state.send_modify(|s| {
            s.generation += 1;
            s.waiting += 1;
        });
        let _waiting = Waiting(self);
        let mut changes = self.inner.state.subscribe();
        // The sender lives in `self`: the wait ends only when the condition holds.
        let reached = changes.wait_for(State::settled).await;
        debug_assert!(reached.is_ok(), "an activity register outlived its sender");
    }

    /// How many looks at the database each loop has taken so far, by name: how often it woke.
    pub fn looks(&self) -> BTreeMap<String, u64> {
        self.inner.state.borrow().looks.clone()
    }

    /// The loops that have not yet had an idle look in the current generation (for failure
    /// messages).
    pub fn busy(&self) -> Vec<String> {
        let state = self.inner.state.borrow();
        state
            .loops
            .values()
            .filter(|(_, idle)| !idle.is_some_and(|g| g >= state.generation))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// One [`Activity::settled`] call waiting; counted off when it ends or is dropped.
struct Waiting<'a>(&'a Activity);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.inner.state.send_modify(|s| s.waiting -= 1);
    }
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity")
            .field("state", &*self.inner.state.borrow())
            .finish()
    }
}

/// One loop's reports; a detached reporter (the default) reports to nobody.
#[derive(Default)]
pub struct Reporter {
    registered: Option<(Activity, u64)>,
}

/// When a look began: the generation then.
#[derive(Debug, Clone, Copy)]
pub struct Look(u64);

impl Reporter {
    /// Reports to nobody (a loop run outside a fleet).
    pub fn detached() -> Self {
        Self::default()
    }

    /// Marks the start of a look at the database; call it before reading anything.
    pub fn look(&self) -> Look {
        let Some((activity, id)) = &self.registered else {
            return Look(0);
        };
        let mut generation = 0;
        // Counted without telling the watchers: nobody waits on a count.
        activity.inner.state.send_if_modified(|s| {
            generation = s.generation;
            if let Some((name, _)) = s.loops.get(id) {
                *s.looks.entry(name.clone()).or_default() += 1;
            }
            false
        });
        Look(generation)
    }

    /// The look begun at `look` found nothing to do.
    pub fn idle(&self, look: Look) {
        if let Some((activity, id)) = &self.registered {
            activity
                .inner
                .state
                .send_if_modified(|s| match s.loops.get_mut(id) {
                    Some((_, idle)) if idle.is_none_or(|g| g < look.0) => {
                        *idle = Some(look.0);
                        s.waiting > 0
                    }
                    _ => false,
                });
        }
    }

    /// Resolves when someone waits in [`Activity::settled`] for a look this loop has not
    /// taken yet (its last idle look began before the current generation). Never resolves
    /// for a detached reporter, nor while nobody waits: a loop selects on it beside its
    /// real events.
    pub async fn asked(&self) {
        let Some((activity, id)) = &self.registered else {
            return std::future::pending().await;
        };
        let mut changes = activity.inner.state.subscribe();
        let asked = changes
            .wait_for(|s| {
                s.waiting > 0
                    && s.loops
                        .get(id)
                        .is_some_and(|(_, idle)| !idle.is_some_and(|g| g >= s.generation))
            })
            .await
            .is_ok();
        if !asked {
            // The register is gone (its sender with it): nobody will ever ask.
            std::future::pending::<()>().await;
        }
    }

    /// Some work was done and committed: every loop must look again before herald is settled.
    pub fn worked(&self) {
        if let Some((activity, _)) = &self.registered {
            activity.inner.state.send_if_modified(|s| {
                s.generation += 1;
                s.waiting > 0
            });
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some((activity, id)) = self.registered.take() {
            activity.inner.state.send_modify(|s| {
                s.loops.remove(&id);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settled_needs_an_idle_look_of_every_loop_begun_after_it_was_asked() {
        let activity = Activity::new();
        let sender = activity.register("sender");
        let scheduler = activity.register("scheduler");
        let early = sender.look();
        let mut settled = std::pin::pin!(activity.settled());
        assert!(futures::poll!(&mut settled).is_pending());
        // A look begun before the question does not count.
        sender.idle(early);
        assert!(futures::poll!(&mut settled).is_pending());
        sender.idle(sender.look());
        assert!(futures::poll!(&mut settled).is_pending());
        assert_eq!(activity.busy(), vec!["scheduler".to_owned()]);
        scheduler.idle(scheduler.look());
        assert!(futures::poll!(&mut settled).is_ready());
    }

    #[tokio::test]
    async fn work_by_one_loop_makes_every_loop_look_again() {
        let activity = Activity::new();
        let sender = activity.register("sender");
        let scheduler = activity.register("scheduler");
        let mut settled = std::pin::pin!(activity.settled());
        sender.idle(sender.look());
        let look = scheduler.look();
        scheduler.worked();
        scheduler.idle(look);
        assert!(futures::poll!(&mut settled).is_pending());
        scheduler.idle(scheduler.look());
        assert!(
            futures::poll!(&mut settled).is_pending(),
            "the sender has not looked since"
        );
        sender.idle(sender.look());
        assert!(futures::poll!(&mut settled).is_ready());
    }

    #[tokio::test]
    async fn a_loop_is_asked_to_look_only_while_someone_waits_for_a_look_it_has_not_taken() {
        let activity = Activity::new();
        let sender = activity.register("sender");
        sender.idle(sender.look());
        assert!(
            futures::poll!(std::pin::pin!(sender.asked())).is_pending(),
            "nobody waits"
        );
        {
            let mut settled = std::pin::pin!(activity.settled());
            assert!(futures::poll!(&mut settled).is_pending());
            assert!(futures::poll!(std::pin::pin!(sender.asked())).is_ready());
            sender.idle(sender.look());
            assert!(futures::poll!(&mut settled).is_ready());
        }
        assert!(futures::poll!(std::pin::pin!(sender.asked())).is_pending());
        assert!(futures::poll!(std::pin::pin!(Reporter::detached().asked())).is_pending());
    }

    #[tokio::test]
    async fn a_dropped_or_detached_reporter_is_not_waited_for() {
        let activity = Activity::new();
        let gone = activity.register("stopped");
        let detached = Reporter::detached();
        detached.worked();
        detached.idle(detached.look());
        drop(gone);
        assert!(futures::poll!(std::pin::pin!(activity.settled())).is_ready());
    }
}
