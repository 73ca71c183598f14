//! Everything the probes need, held once: built by `herald audit` from the configuration,
//! and by a running herald from what it already holds (its own Xero client, so the rotating
//! refresh token has one user), for the daily capability probe.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{database, sources, telegram::TelegramProbe, Check, Report};
use crate::config::{Config, Token};
use crate::sources::talenox::TalenoxClient;
use crate::sources::xero::XeroClient;
use crate::telegram::TelegramClient;

/// How Xero is probed.
#[derive(Clone)]
pub enum XeroProbe {
    /// No `[xero]`.
    None,
    /// Through this client.
    Client(Arc<XeroClient>),
    /// Not from here: the check to report instead (another process holds the token, or the
    /// client could not be built).
    Instead(Check),
}

/// The probes' inputs.
#[derive(Clone)]
pub struct Prober {
    pub config: Arc<Config>,
    pub tokens: BTreeMap<&'static str, Token>,
    pub client: TelegramClient,
    pub db_url: String,
    pub xero: XeroProbe,
    /// `Err` holds the check of a client that could not be built.
    pub talenox: Option<Result<Arc<TalenoxClient>, Check>>,
    /// How long every probe together may take.
    pub deadline: Duration,
    /// Besides the console, the identities whose jobs DM the operators
    /// ([`crate::jobs::kinds::operator_dm_senders`]).
    pub dm_operators: Vec<&'static str>,
    /// The identities that must read every group message, so whose privacy mode is probed
    /// ([`crate::bots::reading_all_group_messages`]).
    pub reads_group: Vec<&'static str>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("db_url", &self.db_url)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// Runs every probe at once under the deadline; the checks in report order: Telegram
    /// (bots, operators), Xero, Talenox, the database.
    pub async fn run(&self) -> Report {
        let deadline = tokio::time::Instant::now() + self.deadline;
        let telegram = TelegramProbe {
            config: &self.config,
            tokens: &self.tokens,
            client: &self.client,
            deadline,
            reads_group: &self.reads_group,
            dm_operators: &self.dm_operators,
        };
        let xero = async {
            match &self.xero {
                XeroProbe::None => Vec::new(),
                XeroProbe::Client(client) => sources::xero(client, deadline).await,
                XeroProbe::Instead(check) => vec![check.clone()],
            }
        };
        let talenox = async {
            match &self.talenox {
                None => Vec::new(),
                Some(Ok(client)) => sources::talenox(client, deadline).await,
                Some(Err(check)) => vec![check.clone()],
            }
        };
        let db = database::database(&self.db_url, deadline);
        let (telegram, xero, talenox, db) = tokio::join!(telegram.run(), xero, talenox, db);
        Report {
            checks: [telegram, xero, talenox, db].concat(),
        }
    }
}
