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
    let settings = crate::store::lease::LeaseSettings::default();
    match crate::store::lease::running_holder(&global::db_url(global), &settings).await {
        Ok(None) => {}
        Ok(Some(holder)) => {
            eprintln!(
                "herald discover: refused: {holder} holds this deployment's database and reads \
                 the bots' updates; stop it first"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("herald discover: cannot tell whether herald is running: {e}");
            return ExitCode::from(2);
        }
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
