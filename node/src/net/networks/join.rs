//! The join exchange: a node follows an invite, learns the network from the nodes it names,
//! and asks them to keep its co-op's request; the nodes of the network answer and keep
//! requests, bounded.

use libp2p::request_response::OutboundRequestId;
use libp2p::{Multiaddr, PeerId};
use minga_protocol::network::{Invite, NetworkGenesis, NetworkId};
use minga_protocol::{CoopId, Genesis, MAX_NOTE_BYTES, SignedBytes, SyncMessage};

use super::super::event_loop::EventLoop;
use super::super::{NodeError, now, peer_of};
use super::{
    JOINED, JOINING, JoinRequest, Joining, MAX_JOIN_REQUESTS, MAX_JOIN_REQUESTS_PER_PEER,
    MAX_NETWORKS, REQUEST_TTL_MS, key,
};
use crate::store::{Store, WriteBatch};

impl EventLoop {
    /// Follows an invite: remembers it, dials the addresses it gives, and asks each node it
    /// reaches for the network and to keep `coop`'s request to join.
    pub(in crate::net) fn join(
        &mut self,
        invite: Invite,
        coop: Option<CoopId>,
        note: String,
    ) -> Result<(), NodeError> {
        let id = invite.network;
        if let Some(coop) = coop
            && !self.ledgers.contains_key(&coop)
        {
            return Err(NodeError::UnknownCoop(coop));
        }
        if !self.networks.joined.contains_key(&id) && self.networks.joined.len() >= MAX_NETWORKS {
            return Err(NodeError::Network(format!(
                "this node belongs to {MAX_NETWORKS} networks already"
            )));
        }
        let note: String = note.chars().filter(|c| !c.is_control()).collect();
        let mut note_end = note.len().min(MAX_NOTE_BYTES);
        while !note.is_char_boundary(note_end) {
            note_end -= 1;
        }
        let note = note[..note_end].to_string();
        let mut addrs = Vec::new();
        for a in &invite.addrs {
            let addr: Multiaddr = a.parse().map_err(|e| {
                NodeError::Network(format!("the invite's address {a} is not a multiaddr: {e}"))
            })?;
            addrs.push(addr);
        }
        let held = self.networks.joined.get(&id).cloned().flatten();
        let mut batch = WriteBatch {
            views: vec![(
                key(JOINING, id.as_bytes()),
                format!(
                    "{}\n{}\n{note}",
                    invite.encode(),
                    coop.map_or("-".to_string(), |c| c.to_string())
                )
                .into_bytes(),
            )],
            ..WriteBatch::default()
        };
        if held.is_none() {
            batch.views.push((key(JOINED, id.as_bytes()), Vec::new()));
        }
        self.store.commit(&batch)?;
        self.networks.joined.insert(id, held);
        self.networks.joining.insert(
            id,
            Joining {
                invite,
                coop,
                note,
                answer: None,
            },
        );
        self.subscribe_network(&id);
        for addr in addrs {
            // The co-op was given this address: dialling it is its choice, as with
            // `--bootstrap`.
            self.policy.give(&addr);
            if let Some(peer) = peer_of(&addr) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
                if self.swarm.is_connected(&peer) {
                    self.ask_to_join(peer);
                    continue;
                }
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial the invite's address");
            }
        }
        Ok(())
    }

    /// Asks a peer, for each network this node is joining, for the network's genesis (while
    /// unknown) and to keep the join request.
    pub(in crate::net) fn ask_to_join(&mut self, peer: PeerId) {
        let joining: Vec<Joining> = self.networks.joining.values().cloned().collect();
        for j in joining {
            let network = j.invite.network;
            if self
                .networks
                .joined
                .get(&network)
                .is_none_or(Option::is_none)
            {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer, SyncMessage::NetworkAsk { network });
                self.networks.asks.insert(id, (peer, network));
            }
            let Some(genesis) = j
                .coop
                .and_then(|c| self.ledgers.get(&c))
                .map(|l| l.genesis().clone())
            else {
                continue;
            };
            let id = self.swarm.behaviour_mut().sync.send_request(
                &peer,
                SyncMessage::Join {
                    network,
                    genesis: SignedBytes::of(&genesis),
                    note: j.note.clone(),
                },
            );
            self.networks.asks.insert(id, (peer, network));
        }
    }

    /// Forgets join requests not sent again within the hour: the co-op's node went away.
    pub(in crate::net) fn expire_requests(&mut self) {
        let oldest = now().0.saturating_sub(REQUEST_TTL_MS);
        self.networks.requests.retain(|_, r| r.received.0 >= oldest);
    }

    /// Sends the join requests again to every connected peer (until admitted).
    pub(in crate::net) fn ask_all_to_join(&mut self) {
        if self.networks.joining.is_empty() {
            return;
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in peers {
            self.ask_to_join(p);
        }
    }

    /// Answers a peer's question about a network, or keeps its join request.
    pub(in crate::net) fn answer_network(
        &mut self,
        peer: PeerId,
        request: SyncMessage,
    ) -> SyncMessage {
        match request {
            SyncMessage::NetworkAsk { network } => {
                let genesis = self.networks.joined.get(&network).cloned().flatten();
                let founders = genesis
                    .as_ref()
                    .map(|g| {
                        g.value()
                            .founders
                            .iter()
                            .filter_map(|f| self.ledgers.get(f))
                            .map(|l| SignedBytes::of(l.genesis()))
                            .collect()
                    })
                    .unwrap_or_default();
                SyncMessage::NetworkInfo {
                    genesis: genesis.as_ref().map(SignedBytes::of),
                    founders,
                }
            }
            SyncMessage::Join {
                network,
                genesis,
                note,
            } => {
                let (kept, reason) = self.keep_request(peer, network, &genesis, note);
                SyncMessage::JoinAnswer {
                    kept,
                    reason: reason.into(),
                }
            }
            _ => SyncMessage::JoinAnswer {
                kept: false,
                reason: "not a network request".into(),
            },
        }
    }

    fn keep_request(
        &mut self,
        peer: PeerId,
        network: NetworkId,
        genesis: &SignedBytes,
        note: String,
    ) -> (bool, &'static str) {
        if self
            .networks
            .joined
            .get(&network)
            .is_none_or(Option::is_none)
        {
            return (false, "this node does not belong to that network");
        }
        let Ok(genesis) = genesis.open::<Genesis>() else {
            return (false, "the co-op's genesis does not verify");
        };
        let coop = genesis.coop_id();
        if self.networks.blocked.contains(&coop) {
            return (false, "this node does not take requests from that co-op");
        }
        if self
            .networks
            .admissions
            .get(&network)
            .is_some_and(|a| a.is_admitted(&coop))
        {
            return (true, "the co-op is already admitted");
        }
        let k = (network, coop);
        let fresh = !self.networks.requests.contains_key(&k);
        if fresh
            && self
                .networks
                .requests
                .values()
                .filter(|r| r.from == peer)
                .count()
                >= MAX_JOIN_REQUESTS_PER_PEER
        {
            return (false, "this node holds enough requests from that peer");
        }
        if fresh && self.networks.requests.len() >= MAX_JOIN_REQUESTS {
            return (
                false,
                "this node holds too many join requests; try again later",
            );
        }
        let note = note.chars().filter(|c| !c.is_control()).collect();
        self.networks.requests.insert(
            k,
            JoinRequest {
                network,
                genesis,
                note,
                from: peer,
                received: now(),
            },
        );
        if fresh {
            tracing::info!(coop = %coop.short(), %peer, "a co-op asks to join a network");
        }
        (true, "kept for the network's admins to vouch")
    }

    /// Takes a peer's answer to a network question; returns false when the request was not
    /// one of them.
    pub(in crate::net) fn on_network_answer(
        &mut self,
        id: &OutboundRequestId,
        answer: SyncMessage,
    ) -> bool {
        let Some((peer, network)) = self.networks.asks.remove(id) else {
            return false;
        };
        match answer {
            SyncMessage::NetworkInfo { genesis, founders } => {
                let Some(g) = genesis.and_then(|g| g.open::<NetworkGenesis>().ok()) else {
                    return true;
                };
                // The invite named the network by the hash of its genesis: only that one.
                if g.network_id() != network || !self.networks.joining.contains_key(&network) {
                    tracing::warn!(%peer, "a peer answered with another network's genesis");
                    return true;
                }
                if self
                    .networks
                    .joined
                    .get(&network)
                    .is_none_or(Option::is_none)
                    && let Err(e) = self.belong(g.clone())
                {
                    tracing::warn!(error = %e, "could not keep the network's genesis");
                    return true;
                }
                for f in founders {
                    let Ok(fg) = f.open::<Genesis>() else {
                        continue;
                    };
                    if g.value().founders.contains(&fg.coop_id()) {
                        self.replicate(fg);
                    }
                }
                self.start_sync(peer);
            }
            SyncMessage::JoinAnswer { kept, reason } => {
                // Shown on a terminal: no control characters from a peer.
                let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
                if let Some(j) = self.networks.joining.get_mut(&network) {
                    tracing::info!(%peer, kept, %reason, "answer to the join request");
                    j.answer = Some((kept, reason));
                }
            }
            _ => {}
        }
        true
    }
}
