// Outside code cannot invent an identity: BotIdentity is sealed.
use herald::identity::BotIdentity;

enum Impostor {}

impl BotIdentity for Impostor {
    const NAME: &'static str = "claudia";
    const DISPLAY: &'static str = "Claudia";
}

fn main() {}
