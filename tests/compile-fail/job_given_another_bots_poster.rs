// A job of one bot cannot be handed another bot's poster: Clawrence's laser chase is bound
// only to Clawrence's poster, so what it renders can only be posted as Clawrence.
use std::sync::Arc;

use herald::identity::{Claudia, Clawrence, Poster};
use herald::jobs::laser_chase::LaserChase;
use herald::jobs::{Job, JobSpec};
use herald::schedule::runner::{JobRunner, RunContext};

fn bind(spec: Arc<JobSpec>, claudia: Poster<Claudia>, context: RunContext) {
    let chase: Arc<dyn Job<Bot = Clawrence>> = Arc::new(LaserChase);
    let _runner = JobRunner::new(spec, chase, claudia, context);
}

fn main() {}
