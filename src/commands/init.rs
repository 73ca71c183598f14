//! `herald init DIR`: writes a new deployment folder ([`crate::deploy::init`]) and says what
//! comes next. Exit code 0 written, 2 refused (a folder with something in it) or not written.

use std::process::ExitCode;

use crate::cli::InitArgs;
use crate::deploy::init::{init, SECRETS_FILE};

/// Runs `herald init DIR`.
pub fn execute(args: &InitArgs) -> ExitCode {
    match init(&args.dir) {
        Ok(written) => {
            let dir = args.dir.display();
            println!(
                "Wrote a new deployment in {dir} ({} files): bots/, templates/, {SECRETS_FILE} \
                 (mode 600, empty) and NEXT-STEPS.md.",
                written.files.len()
            );
            println!("Next: `herald check --config {dir}` lists every field still to fill; NEXT-STEPS.md walks through them.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("herald init: {e}");
            ExitCode::from(2)
        }
    }
}
