//! The Xero and Talenox probes. Xero: the refresh works (which rotates the refresh token and
//! saves the new one, as every use does), the configured tenant is among the token's
//! connections, and a read works (the bills awaiting approval). Talenox: the employee list
//! reads. Beside a running herald the Xero probe is left out: the running process holds the
//! rotating refresh token, and a second user would retire it under it.

use std::future::Future;

use tokio::time::Instant;

use super::Check;
use crate::sources::talenox::TalenoxClient;
use crate::sources::xero::XeroClient;

/// `work` under the deadline; a hang is an error that says so.
async fn by<T, E: std::fmt::Display>(
    deadline: Instant,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".to_owned()),
    }
}

/// The Xero checks through `client` (herald's own, in a running herald): refresh, then
/// tenant and read (each only once the one before worked).
pub async fn xero(client: &XeroClient, deadline: Instant) -> Vec<Check> {
    let reconnect = "pipe a new refresh token into `herald xero connect` (README: Connecting Xero)";
    let mut checks = Vec::new();
    match by(deadline, client.refresh_now()).await {
        Ok(()) => checks.push(Check::ok(
            "xero: refresh",
            "refreshed; the new token is saved",
        )),
        Err(cause) => {
            checks.push(Check::broken("xero: refresh", cause, reconnect));
            return checks;
        }
    }
    let tenant = &client.settings().tenant_id;
    match by(deadline, client.connections()).await {
        Ok(connections) => match connections.iter().find(|c| &c.tenant_id == tenant) {
            Some(c) => checks.push(Check::ok(
                "xero: tenant connected",
                format!("{} ({tenant})", c.tenant_name),
            )),
            None => checks.push(Check::broken(
                "xero: tenant connected",
                format!("tenant {tenant} is not among the token's connections"),
                "connect that organisation in Xero's OAuth2 flow, or correct [xero].tenant_id",
            )),
        },
        Err(cause) => checks.push(Check::broken("xero: tenant connected", cause, reconnect)),
    }
    let read = client.invoices(&["SUBMITTED"], Some("ACCPAY"));
    match by(deadline, read).await {
        Ok(bills) => checks.push(Check::ok(
            "xero: read",
            format!("{} bills awaiting approval", bills.len()),
        )),
        Err(cause) => checks.push(Check::broken(
            "xero: read",
            cause,
            "check the app's accounting scopes and the tenant in Xero",
        )),
    }
    checks
}

/// The check that stands for Xero beside a running herald.
pub fn xero_left_to_the_running_herald(holder: &str) -> Check {
    Check::ok(
        "xero: refresh",
        format!(
            "not probed here: {holder} is running and holds Xero's rotating refresh token; \
             its own failures reach the operator"
        ),
    )
}

/// The Talenox check through `client`: the employee list reads.
pub async fn talenox(client: &TalenoxClient, deadline: Instant) -> Vec<Check> {
    let fix = "check [talenox].api_token (Talenox → API Settings) and api_url in bots/herald.toml";
    vec![match by(deadline, client.employees()).await {
        Ok(employees) => Check::ok("talenox: read", format!("{} employees", employees.len())),
        Err(cause) => Check::broken("talenox: read", cause, fix),
    }]
}

/// A client that could not be built from the configuration, as the check it fails.
pub fn unbuildable(capability: &str, cause: String) -> Check {
    Check::broken(
        capability,
        cause,
        "fix the section in bots/herald.toml or its secrets (`herald check` says more)",
    )
}
