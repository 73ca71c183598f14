//! What a start takes ([`RunOptions`]) and how a start or a running fleet can fail.

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Finding;
use crate::inbound::poller::PollError;
use crate::outbox::sender::{SenderError, SenderSettings};
use crate::schedule::runner::{SchedulerError, SchedulerSettings};
use crate::store::lease::{LeaseLost, LeaseSettings};
use crate::store::retry::{PersistentFailure, RetryPolicy};
use crate::store::StoreError;
use crate::templates::TemplateError;

/// Everything `herald run` (and the sandbox) needs to start.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config_dir: PathBuf,
    pub db_url: String,
    pub api_url: String,
    pub secrets_override: Option<PathBuf>,
    pub clock: Clock,
    /// Long-poll timeout passed to `getUpdates`.
    pub poll_seconds: u64,
    /// How long each `getMe` may take at start.
    pub verify_timeout: Duration,
    pub sender: SenderSettings,
    pub scheduler: SchedulerSettings,
    /// Start normally even after repeated unhealthy boots (`herald run --force`).
    pub force: bool,
    /// How long a boot must run without a fatal error to count as healthy.
    pub healthy_after: Duration,
    /// Pacing of the approval desk; `None` takes it from `[approvals]` (tests go faster).
    pub desk: Option<crate::approvals::DeskSettings>,
    /// The database lease: TTL and renewal (shorter only in tests).
    pub lease: LeaseSettings,
    /// How long transient database failures are waited out (shorter only in tests).
    pub store_retry: RetryPolicy,
    /// Where `/healthz`, `/readyz` and `/metrics` are served (`--http`); `None` takes
    /// `[http]` from `bots/herald.toml`, where it is off unless set.
    pub http: Option<crate::telemetry::http::HttpSettings>,
}

/// Why the start was refused. Every variant's text names the file or identity at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration has problems:\n{}", lines(.0))]
    Config(Vec<Finding>),
    #[error("cannot read the configuration: {0}")]
    ConfigUnreadable(String),
    #[error("{0}")]
    Templates(#[from] TemplateError),
    #[error("identity verification failed:\n{}", .0.join("\n"))]
    Verify(Vec<String>),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Client(#[from] crate::telegram::ClientBuildError),
    #[error("database error at start: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Scheduler(#[from] SchedulerError),
    #[error("{0}")]
    Http(#[from] crate::telemetry::http::BindError),
}

/// Why a running fleet stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Poll(#[from] PollError),
    #[error(transparent)]
    Sender(#[from] SenderError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error(transparent)]
    Approvals(#[from] crate::approvals::DeskError),
    #[error(transparent)]
    Gym(#[from] crate::gym::desk::GymDeskError),
    #[error("a task of herald panicked: {0}")]
    Panicked(String),
    #[error("{0}")]
    LeaseLost(Box<LeaseLost>),
    #[error("the database lease could not be renewed: {0}")]
    Lease(sqlx::Error),
    #[error("{0}")]
    StoreFailed(Box<PersistentFailure>),
}

fn lines(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
