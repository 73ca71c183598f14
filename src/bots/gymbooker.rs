//! GymBooker: gym slot booking posts, as templated jobs (kind `post`). Nothing of its own
//! beyond what every bot does.

use super::Bot;
use crate::identity::GymBooker;

impl Bot for GymBooker {}
