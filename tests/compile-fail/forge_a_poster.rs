// A poster is built only at start-up, from the verification of that bot's own token.
use herald::clock::Clock;
use herald::identity::{Claudia, Poster, VerifiedBot};

fn forge(verified: &VerifiedBot<Claudia>) -> Poster<Claudia> {
    Poster::new(verified, Clock::system())
}

fn main() {}
