//! The node's configuration.

use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;
use minga_protocol::{Genesis, Signed};

/// Everything a node needs to start. The defaults talk to nobody: a node sends traffic only
/// to the bootstrap peers it is given and to peers that dial it.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// Addresses to listen on (TCP and QUIC).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// The network's name: one gossip topic per network.
    pub network: String,
    /// The co-ops this node replicates, by their signed genesis (the co-ops already in the
    /// store are replicated too).
    pub trusted: Vec<Signed<Genesis>>,
    /// mDNS discovery on the local network. Off by default: multicast leaves the machine.
    /// It also allows dialling private addresses learnt from peers.
    pub lan: bool,
    /// Whether private, loopback and link-local addresses learnt from peers may be dialled
    /// (a deployment inside one private network). Off by default: a node dials only global
    /// addresses it learns, and any address it is given.
    pub private_addresses: bool,
    /// Whether to dial nothing but the addresses given (bootstrap, relay, `dial`): no
    /// discovered peer is dialled. Peers may still dial this node.
    pub only_given_peers: bool,
    /// A relay to listen through when behind NAT (`…/p2p/<relay id>`).
    pub relay: Option<Multiaddr>,
    /// How often to run a catch-up on the timer, with one connected peer each time (the one
    /// caught up with longest ago).
    pub sync_interval: Duration,
    /// How many peers this node keeps connections to on its own initiative: peers it dialled
    /// that it was not given (Kademlia found them, or they were remembered). Past it, the
    /// newest links outside the gossip mesh are closed, so a node that hears of a thousand
    /// peers does not link to them all. Given peers (bootstrap, relay, `dial`, invites) and
    /// peers that dial in do not count; incoming links are capped separately.
    pub peer_target: usize,
    /// How many gossip messages to publish per pacing tick (10 ms).
    pub publish_per_tick: usize,
}

impl NodeConfig {
    /// A configuration with the defaults, storing under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.into(),
            listen: Vec::new(),
            bootstrap: Vec::new(),
            network: "minga".into(),
            trusted: Vec::new(),
            lan: false,
            private_addresses: false,
            only_given_peers: false,
            relay: None,
            sync_interval: Duration::from_secs(30),
            peer_target: 4,
            publish_per_tick: 32,
        }
    }
}
