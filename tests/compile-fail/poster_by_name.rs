// Nothing hands out a poster by a run-time name.
use herald::identity::IDENTITY_NAMES;

fn main() {
    let name = IDENTITY_NAMES[0];
    let _poster = herald::identity::poster(name);
    let _same = herald::identity::Poster::by_name(name);
}
