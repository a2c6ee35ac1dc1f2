//! The libp2p behaviours a node runs, and how they are configured.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, allow_block_list, autonat, connection_limits, dcutr, gossipsub, identify, kad,
    mdns, ping, relay, request_response,
};
use minga_protocol::{Hash, MAX_ENTRY_BYTES};

use super::codec::{SYNC_PROTOCOL, SYNC_PROTOCOL_2, SyncCodec};

/// The identify protocol version all minga nodes announce.
pub const PROTOCOL_VERSION: &str = "/minga/1.0.0";
/// A Kademlia protocol of minga's own, so minga's routing table never mixes with another
/// network's DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/minga/kad/1.0.0");

/// Every behaviour the node's swarm runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(crate) relay_client: relay::client::Behaviour,
    pub(crate) dcutr: dcutr::Behaviour,
    pub(crate) autonat: autonat::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The gossip topic of a network named in the node's configuration (`[network] name`), which
/// carries the co-ops trusted by hand.
pub fn topic(network: &str) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("minga/2/{network}"))
}

/// The gossip topic of a network founded by a signed genesis: its id in hex.
pub fn network_topic(network: &minga_protocol::network::NetworkId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("minga/2/net/{network}"))
}

/// The gossip behaviour a node runs, subscribed to `network`'s topic: entries are forwarded
/// only once the application accepts them, ids are content hashes, and peers are scored.
/// Public so that `minga-bench` measures plain gossipsub with exactly these settings.
pub fn gossip(network: &str) -> Result<gossipsub::Behaviour, String> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        // No source, sequence number or publisher's signature: each entry carries its
        // author's signature, checked before anything is forwarded; a peer's signature on top
        // would be checked again on every copy received, for nothing this node uses.
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        // Forward only after the node has stored and accepted the entry.
        .validate_messages()
        // Content-hash ids: an entry is checked once however many copies arrive.
        // The topic is part of the id, so one entry can go out on each network that admits
        // its co-op (publishing the same id twice is refused as a duplicate).
        .message_id_fn(|m: &gossipsub::Message| {
            let topic = m.topic.as_str().as_bytes();
            let mut bytes = Vec::with_capacity(4 + topic.len() + m.data.len());
            bytes.extend_from_slice(&(topic.len() as u32).to_be_bytes());
            bytes.extend_from_slice(topic);
            bytes.extend_from_slice(&m.data);
            gossipsub::MessageId::from(Hash::of(&bytes).as_bytes().to_vec())
        })
        .max_transmit_size(MAX_ENTRY_BYTES + 1024)
        .heartbeat_interval(Duration::from_millis(700))
        // On a 2-core machine a burst outlasts the 1 s default; catch-up repairs the rest.
        .forward_queue_duration(Duration::from_secs(5))
        .publish_queue_duration(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)?;
    gossipsub.with_peer_score(score_params(network), score_thresholds())?;
    gossipsub
        .subscribe(&topic(network))
        .map_err(|e| e.to_string())?;
    Ok(gossipsub)
}

/// Builds the behaviours for `key`.
pub fn build(
    key: &libp2p::identity::Keypair,
    relay_client: relay::client::Behaviour,
    network: &str,
    lan: bool,
    codec: SyncCodec,
) -> Result<Behaviour, String> {
    let peer_id = key.public().to_peer_id();
    let gossipsub = gossip(network)?;
    // Both versions, the newer first: negotiation picks the newest both sides speak.
    let sync = request_response::Behaviour::with_codec(
        codec,
        [
            (SYNC_PROTOCOL_2, request_response::ProtocolSupport::Full),
            (SYNC_PROTOCOL, request_response::ProtocolSupport::Full),
        ],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(30))
            .with_max_concurrent_streams(64),
    );
    let mut kad_config = kad::Config::new(KAD_PROTOCOL);
    kad_config.set_query_timeout(Duration::from_secs(30));
    let mut kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
    kad.set_mode(Some(kad::Mode::Server));
    let mdns = if lan {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    // Every connection is a buffer a peer can fill: cap them.
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(64))
        .with_max_pending_outgoing(Some(64))
        .with_max_established_incoming(Some(256))
        .with_max_established_outgoing(Some(256))
        .with_max_established_per_peer(Some(2));
    Ok(Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        limits: connection_limits::Behaviour::new(limits),
        gossipsub,
        sync,
        identify: identify::Behaviour::new(identify::Config::new(
            PROTOCOL_VERSION.into(),
            key.public(),
        )),
        // A ping every 2 s, each given 2 s: a link that stops answering is closed once it has
        // been silent for 5 s (the event loop does it), not at TCP's timeout. Every second
        // was measured to cost a third of a 50-node network's idle CPU for no faster
        // detection: the silence limit, not the interval, decides when a link is closed.
        ping: ping::Behaviour::new(
            ping::Config::new()
                .with_interval(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(2)),
        ),
        kad,
        relay_client,
        dcutr: dcutr::Behaviour::new(peer_id),
        // Probes only global addresses (the default), so it never dials private ranges.
        autonat: autonat::Behaviour::new(peer_id, autonat::Config::default()),
        mdns: Toggle::from(mdns),
    })
}

/// Peer scoring: an invalid entry costs a peer dearly; many peers on one IP (a co-op's
/// machines behind one NAT, or tests on loopback) are normal, not an attack.
fn score_params(network: &str) -> gossipsub::PeerScoreParams {
    let mut topics = HashMap::new();
    topics.insert(topic(network).hash(), topic_params());
    gossipsub::PeerScoreParams {
        topics,
        ip_colocation_factor_threshold: 256.0,
        ..gossipsub::PeerScoreParams::default()
    }
}

/// How a peer is scored on each topic: invalid entries cost dearly, nothing else counts.
pub(super) fn topic_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        // Rewarding deliveries is left at zero: scores only ever punish bad behaviour.
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        time_in_mesh_weight: 0.0,
        ..gossipsub::TopicScoreParams::default()
    }
}

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -500.0,
        graylist_threshold: -1000.0,
        ..gossipsub::PeerScoreThresholds::default()
    }
}
