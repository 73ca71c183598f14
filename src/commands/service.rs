//! `herald service install | uninstall | status`: the machine's service manager keeps herald
//! running ([`crate::deploy::service`] does the work); this prints what it did, one line per
//! step, and maps the outcome to the exit code.

use std::process::ExitCode;

use crate::cli::{GlobalOptions, ServiceArgs, ServiceCommand};
use crate::deploy::service::{self, Host, Invocation, Scope, ServiceError};

/// Runs `herald service SUBCOMMAND`.
pub fn execute(global: &GlobalOptions, args: &ServiceArgs) -> ExitCode {
    let name = match args.command {
        ServiceCommand::Install => "install",
        ServiceCommand::Uninstall => "uninstall",
        ServiceCommand::Status => "status",
    };
    let scope = if args.system {
        Scope::System
    } else {
        Scope::User
    };
    let mut say = |line: String| println!("{line}");
    let result = Host::detect(scope).and_then(|host| match args.command {
        ServiceCommand::Install => {
            let invocation = Invocation::new(
                &global.config,
                global.secrets.as_deref(),
                global.db.as_deref(),
                &global.telegram_api_url,
            )?;
            let exe = std::env::current_exe().map_err(|source| ServiceError::Io {
                action: "find the running binary",
                path: std::env::args_os().next().unwrap_or_default().into(),
                source,
            })?;
            service::install(&host, &invocation, &exe, &mut say).map(|()| true)
        }
        ServiceCommand::Uninstall => service::uninstall(&host, &mut say).map(|()| true),
        ServiceCommand::Status => service::status(&host, &mut say),
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("herald service {name}: {e}");
            if let ServiceError::Io { source, .. } = &e {
                if scope == Scope::System && source.kind() == std::io::ErrorKind::PermissionDenied {
                    eprintln!("(--system writes system folders: run it with sudo)");
                }
            }
            match args.command {
                // Whatever went wrong, status could not tell.
                ServiceCommand::Status => ExitCode::from(2),
                _ => ExitCode::from(e.exit_code()),
            }
        }
    }
}
