//! Inbound: one long-poll consumer per token, and one dptree handler tree per identity.
//! Each update is handled inside one database transaction that also marks it handled,
//! records its audit entry and writes any outbox rows, so it takes effect exactly once.

pub mod addressing;
pub mod claudia;
pub mod clawrence;
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
use crate::identity::{BotIdentity, Claims, GymBooker, Happy, Lawrence, PakguPei};
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
}

/// What an identity does with updates, beyond the `/help` and routing every bot has.
pub trait Behaviour: BotIdentity {
    /// Branches handling this identity's own commands (besides `/help`); each receives
    /// `Command`, `Poster<Self>`, `UnitOfWork` and `Arc<BotContext>`.
    fn command_branches() -> Option<UpdateHandler> {
        None
    }

    /// Branches for members' messages (new or edited) that are no command for this bot;
    /// each receives `Message`, `Poster<Self>`, `UnitOfWork` and `Arc<BotContext>`.
    fn message_branches() -> Option<UpdateHandler> {
        None
    }

    /// Branches for button taps (callback queries) of this identity's own cards; each
    /// receives `CallbackQuery`, `Poster<Self>`, `UnitOfWork` and `Arc<BotContext>`.
    fn callback_branches() -> Option<UpdateHandler> {
        None
    }

    /// The approval desk this identity runs, if it is the finance bot (`[approvals]` set).
    fn approval_desk(
        _poster: crate::identity::Poster<Self>,
        _inputs: crate::approvals::DeskInputs,
    ) -> Option<crate::approvals::ApprovalDesk>
    where
        Self: Sized,
    {
        None
    }

    /// Whether this identity must see every group message (privacy mode off); start-up
    /// warns loudly when `getMe` says it doesn't.
    fn reads_all_group_messages() -> bool {
        false
    }

    /// The job of kind `kind` this identity runs, if any (the generic kinds by default).
    fn job(kind: &str) -> Option<std::sync::Arc<dyn crate::jobs::Job<Bot = Self>>>
    where
        Self: Sized,
    {
        crate::jobs::generic::<Self>(kind)
    }

    /// Every job kind [`Behaviour::job`] knows.
    fn job_kinds() -> Vec<&'static str> {
        crate::jobs::GENERIC_KINDS.to_vec()
    }
}

impl Behaviour for Lawrence {}
impl Behaviour for Happy {}
impl Behaviour for GymBooker {}
impl Behaviour for Claims {}
impl Behaviour for PakguPei {}

/// Dependencies every update of bot `I` sees; the poller adds `Update` and `UnitOfWork`.
pub fn base_dependencies<I: Behaviour>(
    context: Arc<BotContext>,
    poster: crate::identity::Poster<I>,
) -> DependencyMap {
    dptree::deps![context, poster]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{visit_all, IdentityVisitor};

    /// Every identity's handler tree asks only for dependencies the poller provides, so a
    /// missing one fails here rather than panicking on the first update in production.
    struct TypeCheck;
    impl IdentityVisitor for TypeCheck {
        fn visit<I: Behaviour>(&mut self) {
            let tree = common::handler_tree::<I>();
            let provided = [
                dptree::Type::of::<teloxide::types::Update>(),
                dptree::Type::of::<UnitOfWork>(),
                dptree::Type::of::<Arc<BotContext>>(),
                dptree::Type::of::<crate::identity::Poster<I>>(),
            ];
            dptree::type_check(tree.sig(), &DependencyMap::new(), &provided);
        }
    }

    #[test]
    fn all_seven_handler_trees_type_check() {
        visit_all(&mut TypeCheck);
    }
}
