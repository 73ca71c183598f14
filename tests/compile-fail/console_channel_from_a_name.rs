// The console channel is made from the console identity's poster, never from a name: a
// configured string cannot make a channel that posts as whichever bot it names.
use std::sync::Arc;

use herald::outbox::alerts::ConsoleChannel;
use herald::roster::Roster;

fn console(name: &str, roster: Arc<Roster>) -> ConsoleChannel {
    ConsoleChannel::new(name, roster)
}

fn main() {}
