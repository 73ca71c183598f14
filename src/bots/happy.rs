//! Happy, the operator's PA: the daily capability probe (kind `capability_probe`) and the
//! morning brief (kind `morning_brief`), besides the templated posts every bot runs.

use super::Bot;
use crate::identity::Happy;
use crate::jobs::capability_probe::CapabilityProbe;
use crate::jobs::morning_brief::MorningBrief;
use crate::jobs::kinds::JobKinds;

impl Bot for Happy {
    fn job_kinds() -> JobKinds<Self> {
        JobKinds::generic()
            .with::<CapabilityProbe>()
            .with::<MorningBrief>()
    }
}
