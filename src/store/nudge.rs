//! A command run beside `herald run` on the same host (`herald pause`, `resume`) gets the
//! running herald to look at what it just committed at once, instead of at the next lease
//! renewal (which notices any other process's commit, up to a renewal later): after a commit
//! that would wake a task in its own process, it sends the lease holder SIGUSR2, and
//! `herald run` answers by waking every task.
//!
//! SIGUSR2 ends a process that does not expect it, so a nudge goes only to a live process
//! named `herald` that holds the lease on this host, found through `/proc` (Linux). Elsewhere,
//! or when the signal can't be sent (another user's process), the renewal still notices.
//! `herald run` listens from before it takes the lease, so no nudge can reach it unprepared.

use std::sync::Arc;

use sqlx::SqlitePool;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::fence::read_holder;
use super::signals::Signals;

/// `herald run`'s side: SIGUSR2 wakes every task of its store.
pub struct NudgeListener(Option<Signal>);

impl NudgeListener {
    /// Starts catching SIGUSR2 (from now on it no longer ends this process). Call before the
    /// lease is taken.
    pub fn install() -> Self {
        match signal(SignalKind::user_defined2()) {
            Ok(stream) => Self(Some(stream)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGUSR2: commands beside this herald are noticed at the next lease renewal");
                Self(None)
            }
        }
    }

    /// Wakes every task of the store whose `signals` these are at each SIGUSR2, until
    /// `shutdown`.
    pub async fn run(self, signals: Arc<Signals>, shutdown: CancellationToken) {
        let Some(mut stream) = self.0 else {
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = stream.recv() => match got {
                    Some(()) => {
                        tracing::debug!("another process committed a change: looking");
                        signals.raise_all();
                    }
                    None => return,
                },
            }
        }
    }
}

/// The committing side: nudges the `herald run` holding the lease of the database behind
/// `pool`, if one runs on this host. Best effort: a failure is logged, and the holder's next
/// renewal notices the commit anyway.
pub(super) async fn holder(pool: &SqlitePool) {
    let holder = match pool.acquire().await {
        Ok(mut conn) => read_holder(&mut conn).await,
        Err(e) => Err(e),
    };
    let holder = match holder {
        Ok(Some(holder)) => holder,
        // Nobody ever held it: nobody to tell.
        Ok(None) => return,
        // No lease table yet (a database no `herald run` has opened), or a failed read.
        Err(e) => {
            tracing::debug!(error = %e, "could not read the lease to nudge its holder");
            return;
        }
    };
    if holder.released_at.is_some()
        || holder.host != super::processes::host_name()
        || i64::from(std::process::id()) == holder.pid
        || !super::processes::alive(holder.pid)
        || !super::processes::is_herald(holder.pid)
    {
        return;
    }
    let Ok(pid) = libc::pid_t::try_from(holder.pid) else {
        return;
    };
    // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
    if unsafe { libc::kill(pid, libc::SIGUSR2) } != 0 {
        tracing::debug!(
            pid,
            error = %std::io::Error::last_os_error(),
            "could not nudge the running herald; its next lease renewal notices"
        );
    }
}
