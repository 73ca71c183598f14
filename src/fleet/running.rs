//! The running fleet: pollers, senders, the scheduler and the desk as tasks, until a clean
//! stop or the first fatal error; then how the boot ended is recorded and the database lease
//! given back. When the database itself failed for good, the operators get one last DM sent
//! directly (the outbox lives in that database).

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::options::RunError;
use crate::clock::Clock;
use crate::config::secrets::Token;
use crate::store::audit::{self, AuditEntry};
use crate::store::retry::PersistentFailure;
use crate::store::Store;
use crate::telegram::TelegramClient;

/// A started fleet: pollers and senders running until [`RunningFleet::stop`] or a fatal error.
pub struct RunningFleet {
    pub(super) store: Store,
    pub(super) clock: Clock,
    pub(super) shutdown: CancellationToken,
    pub(super) tasks: JoinSet<Result<(), RunError>>,
    pub(super) verified: Vec<VerifiedSummary>,
    /// This boot's row in `boots` (crash-loop guard).
    pub(super) boot_id: i64,
    /// The database lease, given back at a clean stop.
    pub(super) lease: crate::store::lease::Lease,
    /// How to reach the operators when the database itself has failed.
    pub(super) last_words: LastWords,
    /// How far the senders, the scheduler and its watchdog have got.
    pub(super) activity: crate::activity::Activity,
    /// Whether the fleet is ready (`/readyz`, `/status`).
    pub(super) readiness: crate::telemetry::Readiness,
    /// The health endpoints, when served (`--http`): they answer until the fleet has stopped.
    pub(super) http: Option<crate::telemetry::http::ServedHealth>,
    /// Every identity's poster, for tests that write rows as a bot would (fault-injection
    /// builds only: production code gets a poster at launch, never from the fleet).
    #[cfg(feature = "fault-injection")]
    pub(super) posters:
        std::collections::HashMap<std::any::TypeId, Box<dyn std::any::Any + Send + Sync>>,
}

/// A direct DM to the operators through the console bot, for the one case the outbox
/// cannot carry: the database holding it has failed for good. Sent once, never retried.
pub(super) struct LastWords {
    pub(super) client: TelegramClient,
    pub(super) token: Token,
    pub(super) operators: Vec<i64>,
}

impl LastWords {
    async fn send(&self, failure: &PersistentFailure) {
        let text = crate::console_texts::render(
            "herald_stopped.html",
            minijinja::context! { cause => failure.to_string() },
        );
        for &operator in &self.operators {
            let body = serde_json::json!({
                "chat_id": operator,
                "text": text,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            });
            match self
                .client
                .call(&self.token, "sendMessage", &body, Duration::from_secs(5))
                .await
            {
                Ok(_) => tracing::info!(operator, "told the operator herald stopped"),
                Err(e) => {
                    tracing::error!(operator, error = %e, "could not tell the operator herald stopped")
                }
            }
        }
    }
}

/// What start-up learned about one bot (for printing and the sandbox).
#[derive(Debug, Clone)]
pub struct VerifiedSummary {
    pub identity: &'static str,
    pub username: String,
    pub can_read_all_group_messages: bool,
}

impl RunningFleet {
    /// How far the senders, the scheduler and its watchdog have got: lets a caller wait until
    /// herald has finished reacting ([`crate::activity::Activity::settled`]).
    pub fn activity(&self) -> &crate::activity::Activity {
        &self.activity
    }

    pub fn verified(&self) -> &[VerifiedSummary] {
        &self.verified
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The poster this fleet launched `I` with (fault-injection builds only): how a test
    /// writes rows as `I` would, through `crate::outbox::injected`, without forging one.
    #[cfg(feature = "fault-injection")]
    pub fn poster<I: crate::identity::BotIdentity>(&self) -> Option<crate::identity::Poster<I>> {
        self.posters
            .get(&std::any::TypeId::of::<I>())?
            .downcast_ref::<crate::identity::Poster<I>>()
            .cloned()
    }

    /// Waits until `stop` is cancelled (then shuts down cleanly) or a task fails (then
    /// stops the others and returns its error). Losing the lease or a persistent database
    /// failure stops it too, and is the error reported whatever the tasks said.
    pub async fn run_until(mut self, stop: CancellationToken) -> Result<(), RunError> {
        let mut first_error = None;
        let lease_lost = self.store.lease_lost_signal();
        let store_failed = self.store.failed_signal();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = lease_lost.cancelled() => break,
                _ = store_failed.cancelled() => break,
                joined = self.tasks.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => { first_error = Some(e); break; }
                    Some(Err(e)) => { first_error = Some(RunError::Panicked(e.to_string())); break; }
                },
            }
        }
        self.readiness.stopping();
        self.shutdown.cancel();
        // A unit of work waiting out the database gives up now rather than hold up the stop.
        self.store.stop_retrying();
        if first_error.is_some() && self.store.lease_lost().is_none() {
            // A task failed (a 409 from Telegram, say): was it because another instance
            // took the database over? Then that is the one thing to say.
            if let Err(e) = self.store.check_lease().await {
                tracing::debug!(error = %e, "the lease check at stop failed");
            }
        }
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                // The lease is reported once, below.
                Ok(Err(e)) if self.store.lease_lost().is_some() => {
                    tracing::debug!(error = %e, "task stopped: lease lost")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "task failed during shutdown"),
                Err(e) => tracing::error!(error = %e, "task panicked during shutdown"),
            }
        }
        if let Some(lost) = self.store.lease_lost() {
            // Another instance holds the database: write nothing more, not even how this
            // boot ended (its row stays without an end, like a killed boot's).
            self.store.close().await;
            if let Some(http) = self.http.take() {
                http.stop().await;
            }
            return Err(RunError::LeaseLost(Box::new(lost)));
        }
        let failure = self.store.persistent_failure();
        if let Some(failure) = &failure {
            first_error = Some(RunError::StoreFailed(Box::new(failure.clone())));
        }
        let outcome = match &first_error {
            None => "stopped".to_owned(),
            Some(e) => e.to_string(),
        };
        let decision = match &first_error {
            None => "stopped".to_owned(),
            Some(e) => format!("stopped on error: {e}"),
        };
        let (store, lease, boot_id, at) =
            (&self.store, &self.lease, self.boot_id, self.clock.now());
        let ended = async {
            let mut tx = store.begin_write().await?;
            crate::store::boots::mark_ended(&mut tx, boot_id, at, &outcome).await?;
            audit::record(&mut tx, at, &AuditEntry::new("boot", decision.as_str())).await?;
            lease.release(&mut tx).await?;
            tx.commit().await
        };
        // The database failed: tell the operators first, then try to record the end anyway.
        if let Some(failure) = &failure {
            self.last_words.send(failure).await;
        }
        if let Err(e) = ended.await {
            tracing::error!(error = %e, "could not record how this boot ended, nor release the database lease");
        }
        self.store.close().await;
        if let Some(http) = self.http.take() {
            http.stop().await;
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Stops the fleet cleanly and waits for its tasks.
    pub async fn stop(self) -> Result<(), RunError> {
        let stop = CancellationToken::new();
        stop.cancel();
        self.run_until(stop).await
    }
}
