// Clawrence's verified token cannot build a poster or sender for Claudia.
use herald::identity::{Claudia, Clawrence, VerifiedBot};

fn claudia_only(_verified: &VerifiedBot<Claudia>) {}

fn start(verified: VerifiedBot<Clawrence>) {
    claudia_only(&verified);
}

fn main() {}
