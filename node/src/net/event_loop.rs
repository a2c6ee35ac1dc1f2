//! The task that owns the swarm and the ledgers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, PublishError};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, Swarm, identify, mdns};
use minga_protocol::{
    CoopId, Entry, MAX_WANTS, SyncMessage, VersionVector, differing_vectors, plan_wants,
    serve_wants,
};
use tokio::sync::{broadcast, mpsc};

use super::behaviour::{Behaviour, BehaviourEvent, topic};
use super::{Command, NodeError, NodeEvent, SyncStats, now};
use crate::config::NodeConfig;
use crate::ledger::CoopLedger;
use crate::store::{SledStore, Store};
use crate::views::Views;

/// Entries waiting to be gossiped. Past this, new local entries are not queued for gossip
/// (they are already stored; catch-up delivers them).
const OUTBOX_LIMIT: usize = 100_000;

/// A sync message's size as sent (noise and yamux framing come on top).
fn wire_len(m: &SyncMessage) -> u64 {
    m.encode().len() as u64
}

/// One peer's catch-up state for one co-op.
struct Session {
    remote: VersionVector,
    received: usize,
}

pub(super) struct EventLoop {
    pub(super) swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NodeEvent>,
    pub(super) ledgers: BTreeMap<CoopId, CoopLedger>,
    pub(super) store: Arc<SledStore>,
    topic: IdentTopic,
    outbox: VecDeque<Vec<u8>>,
    publish_per_tick: usize,
    sync_interval: Duration,
    requests: HashMap<OutboundRequestId, PeerId>,
    sessions: HashMap<(PeerId, CoopId), Session>,
    stats: BTreeMap<PeerId, SyncStats>,
    pub(super) views: Views,
    pub(super) gossip: Vec<super::gossip::Gossiped>,
}

impl EventLoop {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<NodeEvent>,
        ledgers: BTreeMap<CoopId, CoopLedger>,
        store: Arc<SledStore>,
        views: Views,
        config: &NodeConfig,
    ) -> EventLoop {
        EventLoop {
            swarm,
            commands,
            events,
            ledgers,
            store,
            topic: topic(&config.network),
            outbox: VecDeque::new(),
            publish_per_tick: config.publish_per_tick.max(1),
            sync_interval: config.sync_interval,
            requests: HashMap::new(),
            sessions: HashMap::new(),
            stats: BTreeMap::new(),
            views,
            gossip: Vec::new(),
        }
    }

    /// Runs until shutdown or until every handle is dropped. Local commands come first, so a
    /// flood of network events cannot starve the node's own users.
    pub(super) async fn run(mut self) {
        let mut pace = tokio::time::interval(Duration::from_millis(10));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sync_tick = tokio::time::interval(self.sync_interval);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    None => {
                        if let Err(e) = self.flush() {
                            tracing::error!(error = %e, "flushing the store at exit failed");
                        }
                        return;
                    }
                    Some(Command::Shutdown { reply }) => {
                        self.flush_gossip();
                        let _ = reply.send(self.flush());
                        return;
                    }
                    Some(c) => self.on_command(c),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = pace.tick(), if !self.outbox.is_empty() => self.publish_some(),
                _ = sync_tick.tick() => self.sync_all(),
                // Last: gossip that arrived together is stored in one commit once no more is
                // waiting, so a burst costs one flush, and a lone message waits for nothing.
                _ = std::future::ready(()), if !self.gossip.is_empty() => self.flush_gossip(),
            }
        }
    }

    fn flush(&self) -> Result<(), NodeError> {
        self.store.flush()?;
        tracing::info!("node stopped; store flushed");
        Ok(())
    }

    /// Applies the view changes a ledger committed to the in-memory views.
    pub(super) fn absorb_views(&mut self, coop: &CoopId) {
        let Some(ledger) = self.ledgers.get_mut(coop) else {
            return;
        };
        for (key, view) in ledger.take_view_changes() {
            match view {
                Some(v) => {
                    let new = self.views.get(&key.0, &key.1).is_none();
                    // Only changes worth telling: a view rewritten unchanged is not news.
                    if new || self.views.get(&key.0, &key.1) != Some(&v) {
                        let _ = self.events.send(NodeEvent::Record {
                            view: Box::new(v.clone()),
                            new,
                        });
                    }
                    self.views.upsert(v);
                }
                None => self.views.remove(&key),
            }
        }
    }

    pub(super) fn emit(&self, event: NodeEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// After a local write: views absorbed, an event, and the entries queued for gossip.
    fn publish_local(&mut self, coop: CoopId, result: &Result<Vec<Entry>, NodeError>) {
        self.absorb_views(&coop);
        let Ok(entries) = result else { return };
        self.emit(NodeEvent::Applied {
            coop,
            entries: entries.iter().map(Entry::hash).collect(),
            from: None,
        });
        for entry in entries {
            if self.outbox.len() < OUTBOX_LIMIT {
                self.outbox.push_back(entry.encode());
            } else {
                tracing::warn!("gossip queue full; the entry will reach peers by catch-up");
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Write {
                coop,
                key,
                device,
                edits,
                reply,
            } => {
                let result = match self.ledgers.get_mut(&coop) {
                    None => Err(NodeError::UnknownCoop(coop)),
                    Some(l) => l
                        .write_all(key.as_ref(), device, &edits, now())
                        .map_err(NodeError::from),
                };
                self.publish_local(coop, &result);
                let _ = reply.send(result);
            }
            Command::Prune {
                coop,
                key,
                device,
                record,
                reply,
            } => {
                let result = match self.ledgers.get_mut(&coop) {
                    None => Err(NodeError::UnknownCoop(coop)),
                    Some(l) => l
                        .prune(key.as_ref(), device, record, now())
                        .map(|e| vec![e])
                        .map_err(NodeError::from),
                };
                self.publish_local(coop, &result);
                let _ = reply.send(result.map(|mut v| v.remove(0)));
            }
            Command::Trust { genesis, reply } => {
                let coop = genesis.coop_id();
                let result = if self.ledgers.contains_key(&coop) {
                    Ok(())
                } else {
                    let store: Arc<dyn Store> = self.store.clone();
                    CoopLedger::open(store, *genesis)
                        .map(|l| {
                            self.ledgers.insert(coop, l);
                        })
                        .map_err(NodeError::from)
                };
                if result.is_ok() {
                    self.sync_all();
                }
                let _ = reply.send(result);
            }
            Command::Records { coop, reply } => {
                let r = self
                    .ledgers
                    .get(&coop)
                    .map(|l| l.ledger().records())
                    .ok_or(NodeError::UnknownCoop(coop));
                let _ = reply.send(r);
            }
            Command::List { query, reply } => {
                let now = now();
                let found = self
                    .views
                    .query(&query, now)
                    .into_iter()
                    .map(|(v, status)| super::Listed {
                        totals: self.views.totals(v),
                        view: v.clone(),
                        status,
                    })
                    .collect();
                let _ = reply.send(found);
            }
            Command::Vector { coop, reply } => {
                let r = self
                    .ledgers
                    .get(&coop)
                    .map(|l| l.ledger().version_vector())
                    .ok_or(NodeError::UnknownCoop(coop));
                let _ = reply.send(r);
            }
            Command::Dial { addr, reply } => {
                if let Some(peer) = super::peer_of(&addr) {
                    self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                }
                let r = self
                    .swarm
                    .dial(addr)
                    .map_err(|e| NodeError::Network(e.to_string()));
                let _ = reply.send(r);
            }
            Command::Disconnect { peer, reply } => {
                // Blocking also closes the open connections, and keeps discovery from dialling
                // the peer again until it is dialled on purpose.
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                let _ = self.swarm.disconnect_peer_id(peer);
                let _ = reply.send(());
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Score { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.stats.clone());
            }
            Command::GossipUnchecked { bytes, reply } => {
                let topic = self.topic.clone();
                let _ = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes);
                let _ = reply.send(());
            }
            Command::SyncNow { reply } => {
                self.sync_all();
                let _ = reply.send(());
            }
            c @ (Command::Untrust { .. }
            | Command::Coops { .. }
            | Command::Membership { .. }
            | Command::Detail { .. }
            | Command::Listings { .. }) => self.on_local(c),
            // Handled by the loop itself.
            Command::Shutdown { reply } => {
                let _ = reply.send(self.flush());
            }
        }
    }

    fn publish_some(&mut self) {
        for _ in 0..self.publish_per_tick {
            let Some(bytes) = self.outbox.pop_front() else {
                return;
            };
            let topic = self.topic.clone();
            match self
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(topic, bytes.clone())
            {
                Ok(_) | Err(PublishError::Duplicate) => {}
                // Nobody to send to yet: peers get it by catch-up when they connect.
                Err(PublishError::NoPeersSubscribedToTopic) => {}
                Err(PublishError::AllQueuesFull(_)) => {
                    // Back-pressure: keep it and try again next tick.
                    self.outbox.push_front(bytes);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "gossip publish failed; catch-up will deliver")
                }
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                self.on_gossip(message_id, propagation_source, &message.data);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                peer,
                message,
                ..
            })) => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_sync_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.requests.remove(&request_id);
                    self.on_sync_response(peer, response);
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::OutboundFailure {
                    peer,
                    request_id,
                    error,
                    ..
                },
            )) => {
                self.requests.remove(&request_id);
                self.sessions.retain(|(p, _), _| *p != peer);
                tracing::debug!(%peer, %error, "sync request failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                tracing::info!(peer = %peer_id, "connected");
                self.emit(NodeEvent::Connected(peer_id));
                self.start_sync(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.sessions.retain(|(p, _), _| *p != peer_id);
                tracing::info!(peer = %peer_id, "disconnected");
                self.emit(NodeEvent::Disconnected(peer_id));
            }
            _ => {}
        }
    }

    /// Validates a gossiped entry: accepted entries are stored before they are forwarded; an
    /// invalid one is rejected, which costs its sender score; one that waits for what it
    /// depends on is neither forwarded nor punished, and prompts a catch-up with the sender.
    fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in peers {
            self.start_sync(p);
        }
    }

    pub(super) fn start_sync(&mut self, peer: PeerId) {
        if self.ledgers.is_empty() || self.sessions.keys().any(|(p, _)| *p == peer) {
            return;
        }
        let digests = self
            .ledgers
            .iter()
            .map(|(c, l)| (*c, l.ledger().version_vector().digest()))
            .collect();
        self.send(peer, SyncMessage::Summary(digests));
    }

    fn send(&mut self, peer: PeerId, msg: SyncMessage) {
        let s = self.stats.entry(peer).or_default();
        s.round_trips += 1;
        s.wire_out += wire_len(&msg);
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, msg);
        self.requests.insert(id, peer);
    }

    fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: SyncMessage,
        channel: ResponseChannel<SyncMessage>,
    ) {
        self.stats.entry(peer).or_default().wire_in += wire_len(&request);
        let response = match request {
            SyncMessage::Summary(digests) => {
                let mine: Vec<(CoopId, VersionVector)> = self
                    .ledgers
                    .iter()
                    .map(|(c, l)| (*c, l.ledger().version_vector()))
                    .collect();
                SyncMessage::Vectors(differing_vectors(
                    &digests,
                    mine.iter().map(|(c, v)| (c, v)),
                ))
            }
            SyncMessage::Want { coop, ranges } => {
                let (entries, more) = if self.ledgers.contains_key(&coop) {
                    let store = self.store.clone();
                    serve_wants(&ranges, |log, seq| {
                        store.entry(&coop, log, seq).ok().flatten()
                    })
                } else {
                    (Vec::new(), false)
                };
                let s = self.stats.entry(peer).or_default();
                s.entries_out += entries.len() as u64;
                s.bytes_out += entries.iter().map(|e| e.len() as u64).sum::<u64>();
                SyncMessage::Entries {
                    coop,
                    entries,
                    more,
                }
            }
            // Vectors and Entries are answers, never requests.
            SyncMessage::Vectors(_) | SyncMessage::Entries { .. } => {
                tracing::debug!(%peer, "peer sent an answer as a request");
                return;
            }
        };
        self.stats.entry(peer).or_default().wire_out += wire_len(&response);
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response);
    }

    fn on_sync_response(&mut self, peer: PeerId, response: SyncMessage) {
        self.stats.entry(peer).or_default().wire_in += wire_len(&response);
        match response {
            SyncMessage::Vectors(vectors) => {
                for (coop, remote) in vectors {
                    if self.ledgers.contains_key(&coop) {
                        self.sessions.insert(
                            (peer, coop),
                            Session {
                                remote,
                                received: 0,
                            },
                        );
                        self.want_more(peer, coop);
                    }
                }
            }
            SyncMessage::Entries { coop, entries, .. } => {
                let bytes: u64 = entries.iter().map(|e| e.len() as u64).sum();
                let n = entries.len();
                let s = self.stats.entry(peer).or_default();
                s.entries_in += n as u64;
                s.bytes_in += bytes;
                let mut decoded = Vec::with_capacity(n);
                for e in &entries {
                    match Entry::decode(e) {
                        Ok(e) => decoded.push(e),
                        Err(err) => self.emit(NodeEvent::Rejected {
                            from: peer,
                            reason: err.to_string(),
                        }),
                    }
                }
                if let Some(ledger) = self.ledgers.get_mut(&coop) {
                    let result = ledger.ingest(decoded);
                    self.absorb_views(&coop);
                    match result {
                        Ok(report) => {
                            for (_, reason) in report.rejected {
                                self.emit(NodeEvent::Rejected { from: peer, reason });
                            }
                            if !report.accepted.is_empty() {
                                self.emit(NodeEvent::Applied {
                                    coop,
                                    entries: report.accepted,
                                    from: Some(peer),
                                });
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "could not store synced entries"),
                    }
                }
                match self.sessions.get_mut(&(peer, coop)) {
                    Some(session) if n > 0 => {
                        session.received += n;
                        self.want_more(peer, coop);
                    }
                    _ => self.finish(peer, coop),
                }
            }
            SyncMessage::Summary(_) | SyncMessage::Want { .. } => {
                tracing::debug!(%peer, "peer sent a request as an answer");
            }
        }
    }

    /// Asks for what is still missing, or ends the session when nothing is.
    fn want_more(&mut self, peer: PeerId, coop: CoopId) {
        let (Some(ledger), Some(session)) =
            (self.ledgers.get(&coop), self.sessions.get(&(peer, coop)))
        else {
            return;
        };
        let mut ranges = plan_wants(&ledger.ledger().received_vector(), &session.remote);
        ranges.truncate(MAX_WANTS);
        if ranges.is_empty() {
            self.finish(peer, coop);
        } else {
            self.send(peer, SyncMessage::Want { coop, ranges });
        }
    }

    fn finish(&mut self, peer: PeerId, coop: CoopId) {
        let received = self
            .sessions
            .remove(&(peer, coop))
            .map_or(0, |s| s.received);
        let stats = self.stats.entry(peer).or_default();
        stats.last_synced = Some(now());
        let s = *stats;
        tracing::info!(
            %peer,
            coop = %coop.short(),
            received,
            entries_in = s.entries_in,
            bytes_in = s.bytes_in,
            entries_out = s.entries_out,
            bytes_out = s.bytes_out,
            "synced"
        );
        self.emit(NodeEvent::Synced {
            peer,
            coop,
            received,
        });
    }
}
