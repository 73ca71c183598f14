//! Lawrence, the operator console in the shipped deployment (`console = "lawrence"` in
//! `bots/herald.toml`): alerts and console replies go out as him. Being the console is not his
//! own behaviour (the deployment may name another bot, and the console commands are in the
//! tree every bot shares, `crate::inbound::console`), so he adds nothing of his own: the
//! generic job kinds and `/help`.

use super::Bot;
use crate::identity::Lawrence;

impl Bot for Lawrence {}
