//! End-to-end tests of the simulator over real HTTP.

mod common;
mod flow;
mod journal;
mod rules;
