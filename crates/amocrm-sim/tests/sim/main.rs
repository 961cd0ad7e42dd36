//! End-to-end tests of the simulator over real HTTP.

mod common;
mod crm;
mod flow;
mod journal;
mod load;
mod rules;
mod webhooks;
mod witness;
