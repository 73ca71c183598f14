//! A deployment's configuration: the `bots/*.toml` files of the config folder, parsed
//! ([`model`]), validated into a [`Config`] ([`load`]), with bot tokens resolved by reference
//! ([`secrets`]). Every problem is a [`Finding`], so one run reports everything that is wrong
//! rather than the first thing; the whole folder is audited by `herald check` ([`check`]).

pub mod check;
pub mod finding;
pub mod load;
pub mod model;
pub mod secret_ref;
pub mod secrets;

pub use check::{check, exit_code, CheckError, CheckOptions};
pub use finding::Finding;
pub use load::{load, resolve_tokens, Config, ConfigError};
pub use model::{bot_file, DEPLOYMENT_FILE, ROSTER_FILE};
pub use secret_ref::SecretRef;
pub use secrets::{SecretError, SecretStore, Token};
