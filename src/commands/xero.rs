//! `herald xero connect`: reads the first refresh token from standard input (without echo at a
//! terminal; never from the command line, where `ps` would show it) and hands it to
//! [`crate::sources::xero::connect`]. Exit code 0 connected, 1 Xero refused or the tenant is
//! not connected, 2 bad config, no token on standard input, or a running herald on the
//! deployment's database (it holds its own refresh token: two users of Xero's rotating token
//! would race, and one would be left with a token Xero already retired).

use std::process::ExitCode;

use super::global;
use crate::cli::{GlobalOptions, XeroArgs, XeroCommand};
use crate::config::Token;
use crate::sources::xero::connect::{connect, ConnectError};

/// Runs `herald xero SUBCOMMAND`.
pub async fn execute(global: &GlobalOptions, args: &XeroArgs) -> ExitCode {
    match args.command {
        XeroCommand::Connect => connect_command(global).await,
    }
}

/// `herald xero connect`: the refresh token from stdin, then [`crate::sources::xero::connect`].
async fn connect_command(global: &GlobalOptions) -> ExitCode {
    let why = "stop it first (it uses its own Xero refresh token, and Xero retires each one \
               when it is used), then connect and start it again";
    if let Err(refused) =
        global::refuse_beside_running_herald(global, "herald xero connect", why).await
    {
        eprintln!("{refused}");
        return ExitCode::from(2);
    }
    let token = match read_secret_line() {
        Ok(token) => token,
        Err(e) => {
            eprintln!("herald xero connect: {e}");
            return ExitCode::from(2);
        }
    };
    let result = connect(
        &global.config,
        global.secrets.as_deref(),
        token,
        global::clock(global),
    )
    .await;
    match result {
        Ok(report) => {
            println!(
                "Xero connected: the refresh token was used once (Xero rotated it) and the new \
                 one is saved at {}.",
                report.saved_at
            );
            println!(
                "Tenant {} ({}) is connected.",
                report.tenant.tenant_id, report.tenant.tenant_name
            );
            for other in report
                .connections
                .iter()
                .filter(|c| c.tenant_id != report.tenant.tenant_id)
            {
                println!(
                    "Also connected: {} ({}).",
                    other.tenant_id, other.tenant_name
                );
            }
            ExitCode::SUCCESS
        }
        Err(ConnectError::Config(e)) => {
            eprintln!("herald xero connect: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("herald xero connect: {e}");
            ExitCode::from(1)
        }
    }
}

/// One line from standard input, without echo when it is a terminal.
fn read_secret_line() -> Result<Token, String> {
    use std::io::{BufRead, IsTerminal};

    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let echo = if terminal {
        eprint!("Paste the Xero refresh token and press Enter (it is not shown): ");
        Some(EchoOff::new())
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(echo);
    if terminal {
        eprintln!();
    }
    read.map_err(|e| format!("cannot read the refresh token from standard input: {e}"))?;
    let token = line.trim();
    if token.is_empty() {
        return Err(
            "no refresh token on standard input; pipe it in (herald xero connect < token.txt) \
             or paste it when asked"
                .into(),
        );
    }
    if token.contains(char::is_whitespace) {
        return Err("the refresh token must be a single word on one line".into());
    }
    Ok(Token::new(token.to_owned()))
}

/// Turns terminal echo off on stdin until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: termios is plain data; tcgetattr fills it or fails, and we only use it after
        // a success. Both calls act on fd 0, which stays open for the process's life.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return EchoOff(None);
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings read in `new` on the same fd.
            if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) } != 0 {
                eprintln!("herald: could not turn terminal echo back on; run `stty echo`");
            }
        }
    }
}
