//! Claims: claims confirmations, as templated jobs (kind `post`). Nothing of its own beyond
//! what every bot does.

use super::Bot;
use crate::identity::Claims;

impl Bot for Claims {}
