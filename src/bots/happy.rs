//! Happy, the operator's PA: the morning brief and the daily health probe, posted as
//! templated jobs (kind `post`). Nothing of its own beyond what every bot does.

use super::Bot;
use crate::identity::Happy;

impl Bot for Happy {}
