//! The minga node: storage (sled), ledgers with in-memory views, replication over libp2p,
//! matching, and the local HTTP API.
//!
//! A [`Node`] owns one event loop (the libp2p swarm and every co-op's [`CoopLedger`]); a
//! cloneable [`NodeHandle`] sends it commands. The [`store`] keeps everything durably behind
//! a small trait with a conformance suite. The validation the node runs is
//! [`minga_protocol::validate`], so every node accepts the same entries.

pub mod api;
pub mod backup;
mod config;
pub mod disk;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod ledger;
pub mod matching;
pub mod metrics;
mod net;
pub mod store;
pub mod upgrade;
mod view_codec;
mod views;
mod web;

pub use config::NodeConfig;
#[cfg(feature = "test-utils")]
pub use net::SyncScript;
pub use net::{
    CoopSummary, JoinRequest, Joining, Listed, Listings, MAX_EDITS, MAX_JOIN_REQUESTS,
    MAX_NETWORKS, NetworkState, Node, NodeError, NodeEvent, NodeHandle, PROTOCOL_VERSION,
    RecordDetail, SyncStats, gossip_behaviour, network_topic, peer_of, topic,
};

pub use ledger::{
    BatchReport, CoopLedger, Equivocated, LedgerError, RECORD_VIEW, StagedStore, ViewChange,
    load_views,
};

pub use libp2p::{Multiaddr, PeerId};
pub use minga_protocol as protocol;
pub use store::{
    EntryPos, KeyValue, MemoryStore, SledStore, Store, StoreError, StoredEntry, WriteBatch,
};
pub use views::{Query, RecordView, Status, Totals, Views, snapshot as views_snapshot};
