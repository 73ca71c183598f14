// An identity lists its job kinds as types, and only kinds of its own fit: Claudia cannot
// list Clawrence's laser chase (its `Job::Bot` is Clawrence).
use herald::identity::Claudia;
use herald::jobs::laser_chase::LaserChase;
use herald::jobs::kinds::JobKinds;

fn claudias_kinds() -> JobKinds<Claudia> {
    JobKinds::generic().with::<LaserChase>()
}

fn main() {}
