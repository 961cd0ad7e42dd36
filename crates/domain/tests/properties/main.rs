//! Property tests (proptest, stable) for the domain's parsers and guards: the AEAD envelope,
//! one-time tokens, webhook signatures and secrets, webhook destinations and the shape of
//! amoCRM's secrets delivery (security.md §3.6). `fuzz/` mirrors each as a cargo-fuzz target.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod crypto;
mod destination;
mod secrets;
mod signing;
mod tokens;
