// A matching name is no identity: inside code generic over `I`, checking `I::NAME` against a
// run-time name (a configured `console = "claudia"`, say) does not make `I` Claudia, so no
// poster can be picked out by a name. Only the type says whose poster it is.
use herald::identity::{BotIdentity, Claudia, Poster};

fn claudias_by_name<I: BotIdentity>(poster: Poster<I>, name: &str) -> Option<Poster<Claudia>> {
    if I::NAME == name {
        Some(poster)
    } else {
        None
    }
}

fn main() {}
