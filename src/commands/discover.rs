//! `herald discover`: listens with every bot and prints the roster's ids
//! ([`crate::deploy::discover`]). Refused beside a running herald on the same database: two
//! readers of one bot's updates make Telegram answer both with 409 Conflict. Exit code 0
//! every bot listened, 1 some could not, 2 could not run.

use std::process::ExitCode;

use super::global;
use crate::cli::{DiscoverArgs, GlobalOptions};
use crate::deploy::discover::discover;

/// Runs `herald discover`.
pub async fn execute(global: &GlobalOptions, args: &DiscoverArgs) -> ExitCode {
    let why = "it reads the bots' updates (two readers get 409 Conflict); stop it first";
    if let Err(refused) = global::refuse_beside_running_herald(global, "herald discover", why).await
    {
        eprintln!("{refused}");
        return ExitCode::from(2);
    }
    eprintln!(
        "herald discover: listening for {} s: post in every topic of the team chat and DM a \
         bot from every member now",
        args.seconds
    );
    let found = discover(
        &global.config,
        global.secrets.as_deref(),
        &global.telegram_api_url,
        args.seconds,
    )
    .await;
    match found {
        Ok(discovery) => {
            print!("{}", discovery.report);
            if discovery.all_listened {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("herald discover: {e}");
            ExitCode::from(2)
        }
    }
}
