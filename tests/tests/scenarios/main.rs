//! Multi-node scenarios: real nodes in one process on 127.0.0.1 with port 0, no mDNS, every
//! wait driven by node events with a deadline that fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backup;
mod concurrent_edits;
mod discovery;
mod hostile;
mod late_joiner;
mod line;
mod liveness;
mod misbehaving_peer;
mod partition;
mod restart;
mod revocation;
mod scale;
mod views;
mod withdrawal;
