//! PakguPei: call reminders, as templated jobs (kind `post`). Nothing of its own beyond what
//! every bot does.

use super::Bot;
use crate::identity::PakguPei;

impl Bot for PakguPei {}
