// Code holding Clawrence's poster cannot post as Claudia.
use herald::identity::{Claudia, Clawrence, Poster};

fn post_as_claudia(_poster: &Poster<Claudia>) {}

fn clawrence_handler(poster: Poster<Clawrence>) {
    post_as_claudia(&poster);
}

fn main() {}
