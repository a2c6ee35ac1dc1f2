//! The minga node: storage (sled), ledgers with in-memory views, and replication over libp2p.
//!
//! Not built yet: this crate is the home of the node issue. The validation it will run is
//! already complete in [`minga_protocol::validate`], so every node accepts the same entries.

pub use minga_protocol as protocol;
