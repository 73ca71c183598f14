//! Inbound: one long-poll consumer per token, and one dptree handler tree per identity.
//! Each update is handled inside one database transaction that also marks it handled,
//! records its audit entry and writes any outbox rows, so it takes effect exactly once.
//!
//! This module holds what every bot shares (routing, `/help`, the console, refusals); what
//! one identity adds ([`OwnBranches`]) comes from its file in `src/bots/`.

pub mod addressing;
pub mod common;
pub mod console;
pub mod outbox_decisions;
pub mod poller;
pub mod raw;
pub mod work;

use std::sync::Arc;

use dptree::prelude::DependencyMap;
use teloxide::dispatching::DpHandlerDescription;

use crate::clock::Clock;
use crate::config::model::BotFile;
use crate::identity::BotIdentity;
use crate::roster::Roster;
pub use addressing::{Command, CommandRouting};
pub use work::UnitOfWork;

/// What a handler decided, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub command: Option<String>,
    pub decision: String,
    /// What the audit entry's detail says, if anything.
    pub detail: Option<String>,
}

impl Decision {
    pub fn new(command: Option<&str>, decision: impl Into<String>) -> Self {
        Self {
            command: command.map(str::to_owned),
            decision: decision.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A handler failed; the update's transaction is rolled back and the failure audited.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("outbox: {0}")]
    Enqueue(#[from] crate::outbox::EnqueueError),
    #[error("template: {0}")]
    Template(#[from] crate::templates::TemplateError),
    #[error("command rate count: {0}")]
    RateCount(String),
}

pub type HandlerResult = Result<Decision, HandlerError>;
pub type UpdateHandler = dptree::Handler<'static, HandlerResult, DpHandlerDescription>;

/// What every handler of one bot may read: who it is, its config, the roster, the clock.
#[derive(Debug)]
pub struct BotContext {
    pub identity: &'static str,
    pub display: &'static str,
    pub username: String,
    pub bot: BotFile,
    pub roster: Arc<Roster>,
    pub routing: Arc<CommandRouting>,
    pub templates: Arc<crate::templates::Templates>,
    pub clock: Clock,
    /// Whether this identity is the console (operator DMs and their buttons).
    pub is_console: bool,
    /// The console identity's username, for pointing operators to it.
    pub console_username: String,
    /// Every job of the deployment (the console lists, runs and previews them).
    pub jobs: Arc<Vec<Arc<crate::jobs::JobSpec>>>,
    /// When this process started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Diagnose mode (crash-loop guard): the console answers only /status, /log and /help.
    pub diagnose: bool,
    /// Commands one member may send this bot per minute (`commands_per_minute`).
    pub commands_per_minute: u32,
    /// Whether the fleet is ready (`/status`'s readiness line, the same as `/readyz`).
    pub readiness: crate::telemetry::Readiness,
}

/// The branches one identity adds to the handler tree every bot shares
/// ([`common::handler_tree`]); each is given by the identity's `crate::bots::Bot` impl.
#[derive(Default)]
pub struct OwnBranches {
    /// This identity's own commands (besides `/help`); each branch receives `Command`,
    /// `Poster<I>`, `UnitOfWork` and `Arc<BotContext>`.
    pub commands: Option<UpdateHandler>,
    /// Members' messages (new or edited) that are no command for this bot; each branch
    /// receives `Message`, `Poster<I>`, `UnitOfWork` and `Arc<BotContext>`.
    pub messages: Option<UpdateHandler>,
    /// Button taps (callback queries) of this identity's own cards; each branch receives
    /// `CallbackQuery`, `Poster<I>`, `UnitOfWork` and `Arc<BotContext>`.
    pub callbacks: Option<UpdateHandler>,
}

/// Dependencies every update of bot `I` sees; the poller adds `Update` and `UnitOfWork`.
pub fn base_dependencies<I: BotIdentity>(
    context: Arc<BotContext>,
    poster: crate::identity::Poster<I>,
) -> DependencyMap {
    dptree::deps![context, poster]
}
