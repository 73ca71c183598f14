//! The transaction an update is handled in, shared with the handler tree as a dependency.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use crate::store::Write;

/// The open write transaction of the update being handled.
#[derive(Clone)]
pub struct UnitOfWork(Arc<Mutex<Write>>);

impl UnitOfWork {
    pub fn new(tx: Write) -> Self {
        Self(Arc::new(Mutex::new(tx)))
    }

    /// Locks the transaction: `&mut **guard` is the connection to write through.
    pub async fn lock(&self) -> MutexGuard<'_, Write> {
        self.0.lock().await
    }

    /// Takes the transaction back once the handler is done. `None` if a handler kept a copy.
    pub fn into_inner(self) -> Option<Write> {
        Arc::try_unwrap(self.0).ok().map(Mutex::into_inner)
    }
}
