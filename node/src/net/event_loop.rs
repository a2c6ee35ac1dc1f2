//! The task that owns the swarm and the ledgers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, PublishError};
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{PeerId, Swarm, identify, mdns, ping};
use minga_protocol::{
    CoopId, Entry, Equivocation, RequestTag, SyncAction, SyncSession, SyncViolation,
};
use tokio::sync::{broadcast, mpsc};

use super::behaviour::{Behaviour, BehaviourEvent, topic};
use super::dial_policy::DialPolicy;
use super::known_peers::{KnownPeers, Remembered};
use super::{Command, NodeError, NodeEvent, SyncStats, now};
use crate::config::NodeConfig;
use crate::ledger::CoopLedger;
use crate::store::{SledStore, Store, WriteBatch};
use crate::views::{Views, snapshot};

/// Entries, and bytes, waiting to be gossiped. Past either, new local entries are not queued
/// for gossip (they are already stored; catch-up delivers them).
const OUTBOX_LIMIT: (usize, usize) = (100_000, 64 * 1024 * 1024);

/// The most entries, and payload bytes, waiting in all of this node's ledgers together: each
/// co-op's own limits (4,096 entries, 16 MiB) times hundreds of co-ops would be gigabytes.
const NODE_MAX_PENDING: (usize, usize) = (16_384, 64 * 1024 * 1024);

/// How long a connection may go without answering a ping (sent every 2 s) before it is
/// closed as dead. Not libp2p's failure count: after a failure, ping negotiates a new stream,
/// which on a dead link fails only after a 10 s timeout, and its first failure is silent.
const SILENCE: Duration = Duration::from_secs(5);
/// How often free disk space is checked (a warning is logged each time it is low).
const DISK_CHECK: Duration = Duration::from_secs(600);

pub(super) struct EventLoop {
    pub(super) swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NodeEvent>,
    pub(super) ledgers: BTreeMap<CoopId, CoopLedger>,
    pub(super) store: Arc<SledStore>,
    topic: IdentTopic,
    /// Entries waiting to be gossiped, with their co-op (which decides the topics).
    outbox: VecDeque<(CoopId, Vec<u8>)>,
    /// Bytes in `outbox`.
    outbox_bytes: usize,
    publish_per_tick: usize,
    sync_interval: Duration,
    /// Catch-up requests in flight: the peer and the session's tag for each.
    pub(super) requests: HashMap<OutboundRequestId, (PeerId, RequestTag)>,
    /// One catch-up session per peer, at most.
    pub(super) sessions: HashMap<PeerId, SyncSession>,
    /// Peers to start another session with when the current one ends (a sync was asked for
    /// while one ran). At most one per connected peer.
    pub(super) resync: std::collections::HashSet<PeerId>,
    /// When the last session with each connected peer started: the timer picks the oldest.
    pub(super) sync_started: HashMap<PeerId, Instant>,
    /// Peers whose session (running or just ended) brought entries: when it ends, this node
    /// announces them to its other peers.
    pub(super) fresh: std::collections::HashSet<PeerId>,
    /// The last summary of each connected peer that made this node catch up from it.
    pub(super) pulled_back: HashMap<PeerId, minga_protocol::Hash>,
    /// Peers this node dialled without being given them, with when the link opened: at most
    /// `peer_target` are kept (see `links`).
    pub(super) dialled: HashMap<PeerId, Instant>,
    pub(super) peer_target: usize,
    pub(super) stats: BTreeMap<PeerId, SyncStats>,
    pub(super) views: Views,
    pub(super) gossip: Vec<super::gossip::Gossiped>,
    /// Gossip commits waiting for their flush, oldest first (at most
    /// [`super::gossip::MAX_UNFLUSHED`]).
    pub(super) unflushed: futures::stream::FuturesOrdered<super::gossip::Flushing>,
    /// What this node may dial; `dial` commands and invites add to it.
    pub(super) policy: DialPolicy,
    /// The networks this node belongs to.
    pub(super) networks: super::networks::Networks,
    /// Peers dialled again when the link drops, remembered in the store.
    pub(super) known: KnownPeers,
    /// Answers that replace the honest ones (a test playing a hostile peer).
    #[cfg(feature = "test-utils")]
    pub(super) script: Option<super::SyncScript>,
    /// When each connection last answered a ping (or opened), with its peer.
    last_pong: HashMap<ConnectionId, (PeerId, Instant)>,
    /// The data directory, whose file system is watched for space.
    data_dir: std::path::PathBuf,
    /// When free disk space was last checked.
    disk_checked: Option<Instant>,
    /// What `/metrics` reports.
    pub(super) metrics: crate::metrics::Metrics,
}

impl EventLoop {
    // Each argument is a part the loop owns from its start; bundling them would only rename
    // the list.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<NodeEvent>,
        ledgers: BTreeMap<CoopId, CoopLedger>,
        store: Arc<SledStore>,
        views: Views,
        policy: DialPolicy,
        config: &NodeConfig,
        metrics: crate::metrics::Metrics,
    ) -> EventLoop {
        let stored = store.peers().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read remembered peers");
            Vec::new()
        });
        // A remembered peer was reached by a dial the policy allowed: it counts as given.
        for addr in stored.iter().filter_map(|a| a.parse().ok()) {
            policy.give(&addr);
        }
        let networks = super::networks::Networks::load(store.as_ref());
        EventLoop {
            metrics,
            networks,
            swarm,
            commands,
            events,
            ledgers,
            store,
            topic: topic(&config.network),
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            publish_per_tick: config.publish_per_tick.max(1),
            sync_interval: config.sync_interval,
            requests: HashMap::new(),
            sessions: HashMap::new(),
            resync: std::collections::HashSet::new(),
            sync_started: HashMap::new(),
            fresh: std::collections::HashSet::new(),
            pulled_back: HashMap::new(),
            dialled: HashMap::new(),
            peer_target: config.peer_target,
            stats: BTreeMap::new(),
            views,
            gossip: Vec::new(),
            unflushed: futures::stream::FuturesOrdered::new(),
            policy,
            known: KnownPeers::from_stored(&stored, Instant::now()),
            last_pong: HashMap::new(),
            data_dir: config.data_dir.clone(),
            disk_checked: None,
            #[cfg(feature = "test-utils")]
            script: None,
        }
    }

    /// Runs until shutdown or until every handle is dropped. Local commands come first, so a
    /// flood of network events cannot starve the node's own users.
    pub(super) async fn run(mut self) {
        let mut pace = tokio::time::interval(Duration::from_millis(10));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sync_tick = tokio::time::interval(self.sync_interval);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(Duration::from_millis(250));
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Before any entry arrives: who is in each network (an expelled co-op's later
        // entries are refused from the first).
        self.subscribe_networks();
        self.review_networks();
        loop {
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    None => {
                        self.settle_flushes().await;
                        if let Err(e) = self.flush() {
                            tracing::error!(error = %e, "flushing the store at exit failed");
                        }
                        return;
                    }
                    Some(Command::Shutdown { reply }) => {
                        self.flush_gossip();
                        self.settle_flushes().await;
                        let _ = reply.send(self.flush());
                        return;
                    }
                    Some(c) => self.on_command(c),
                },
                // Before new events: a commit on disk releases its messages to be forwarded.
                Some(durable) = self.unflushed.next(), if !self.unflushed.is_empty() => {
                    self.on_durable(durable);
                }
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = pace.tick(), if !self.outbox.is_empty() => self.publish_some(),
                _ = sync_tick.tick() => {
                    self.retry_waiting();
                    self.sync_next();
                    self.ask_all_to_join();
                    self.expire_requests();
                }
                _ = housekeeping.tick() => self.housekeeping(),
                // Last: gossip that arrived together is stored in one commit once no more is
                // waiting, so a burst costs one flush, and a lone message waits for nothing.
                _ = std::future::ready(()), if !self.gossip.is_empty() => self.flush_gossip(),
            }
        }
    }

    /// Waits for the gossip flushes under way (each holds the store open on a thread of its
    /// own): a node that has stopped leaves its data directory free for the next at once.
    async fn settle_flushes(&mut self) {
        while let Some(durable) = self.unflushed.next().await {
            self.on_durable(durable);
        }
    }

    /// Flushes the store, then writes the views snapshot that makes the next start quick.
    /// A snapshot that cannot be written costs only that: the next start reads the store.
    fn flush(&self) -> Result<(), NodeError> {
        self.store.flush()?;
        let started = Instant::now();
        match snapshot::write(&self.data_dir, &self.views, &self.store) {
            Ok(()) => tracing::info!(
                views = self.views.len(),
                ms = started.elapsed().as_millis() as u64,
                "node stopped; store flushed, views snapshot written"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "node stopped; store flushed, but the views snapshot was not written"
            ),
        }
        Ok(())
    }

    /// Applies the view changes a ledger committed to the in-memory views.
    pub(super) fn absorb_views(&mut self, coop: &CoopId) {
        let Some(ledger) = self.ledgers.get_mut(coop) else {
            return;
        };
        for (key, view) in ledger.take_view_changes() {
            self.networks.dirty |= view.as_ref().is_none_or(|v| v.kind.is_network());
            match view {
                Some(v) => {
                    let held = self.views.get(&key.0, &key.1);
                    let new = held.is_none();
                    // Only changes worth telling: a view rewritten unchanged is not news.
                    if held.as_ref() != Some(&v) {
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
        if let NodeEvent::Applied { entries, .. } = &event {
            self.metrics.entries_applied.inc_by(entries.len() as u64);
        }
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
        let was_idle = self.outbox.is_empty();
        for entry in entries {
            self.queue_gossip(entry);
        }
        // A lone write goes out now rather than at the next pacing tick (up to 10 ms later);
        // a burst, or entries joining a queue, keep the pace.
        if was_idle && self.outbox.len() <= self.publish_per_tick {
            self.publish_some();
        }
    }

    fn queue_gossip(&mut self, entry: &Entry) {
        let bytes = entry.encode();
        if self.outbox.len() < OUTBOX_LIMIT.0 && self.outbox_bytes + bytes.len() <= OUTBOX_LIMIT.1 {
            self.outbox_bytes += bytes.len();
            self.outbox.push_back((entry.header.coop, bytes));
        } else {
            tracing::warn!("gossip queue full; the entry will reach peers by catch-up");
        }
    }

    /// Gossips both entries of each new equivocation proof: a node that holds neither, or
    /// one of them, finds the fork itself and stops the log too. (Catch-up carries proofs to
    /// the nodes gossip misses.)
    pub(super) fn tell_proofs(&mut self, proofs: &[Equivocation]) {
        for p in proofs {
            self.queue_gossip(&p.first);
            self.queue_gossip(&p.second);
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
            Command::List {
                query,
                reply,
                total,
            } => {
                let (count, page) = self.views.page(&query, now());
                if let Some(t) = total {
                    let _ = t.send(count);
                }
                let _ = reply.send(page);
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
                self.policy.give(&addr);
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
                let forgotten = self.known.forget(&peer);
                self.remember(forgotten);
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
            #[cfg(feature = "test-utils")]
            Command::ScriptSync { script, reply } => {
                self.script = Some(script);
                let _ = reply.send(());
            }
            #[cfg(feature = "test-utils")]
            Command::GossipUnchecked { bytes, reply } => {
                let topic = self.topic.clone();
                let _ = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes);
                let _ = reply.send(());
            }
            Command::Backup { path, reply } => {
                let _ = reply.send(self.snapshot(&path));
            }
            Command::SyncNow { reply } => {
                self.sync_all();
                let _ = reply.send(());
            }
            Command::Belong { genesis, reply } => {
                let _ = reply.send(self.belong(*genesis));
                self.review_networks();
            }
            Command::Join {
                invite,
                coop,
                note,
                reply,
            } => {
                let _ = reply.send(self.join(*invite, coop, note));
            }
            Command::Networks { reply } => {
                if self.networks.dirty {
                    self.review_networks();
                }
                let _ = reply.send(self.network_states());
            }
            Command::Block {
                coop,
                blocked,
                reply,
            } => {
                let _ = reply.send(self.block(coop, blocked));
                self.review_networks();
            }
            c @ (Command::Untrust { .. }
            | Command::Coops { .. }
            | Command::Membership { .. }
            | Command::Detail { .. }
            | Command::Funds { .. }
            | Command::Listings { .. }) => self.on_local(c),
            // Handled by the loop itself.
            Command::Shutdown { reply } => {
                let _ = reply.send(self.flush());
            }
        }
    }

    fn publish_some(&mut self) {
        for _ in 0..self.publish_per_tick {
            let Some((coop, bytes)) = self.outbox.pop_front() else {
                return;
            };
            self.outbox_bytes -= bytes.len();
            // The topic of each network that admits the co-op; the node's own topic for a
            // co-op trusted by hand outside every network.
            let mut topics: Vec<IdentTopic> = self
                .networks
                .admitting(&coop)
                .map(super::behaviour::network_topic)
                .collect();
            if topics.is_empty() {
                topics.push(self.topic.clone());
            }
            for topic in topics {
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
                        // Back-pressure: keep it and try again next tick (topics it already
                        // went out on answer `Duplicate` then).
                        self.outbox_bytes += bytes.len();
                        self.outbox.push_front((coop, bytes));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "gossip publish failed; catch-up will deliver")
                    }
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
                } => self.on_sync_response(request_id, response),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::OutboundFailure {
                    peer,
                    request_id,
                    error,
                    ..
                },
            )) => {
                tracing::debug!(%peer, %error, "sync request failed");
                self.networks.asks.remove(&request_id);
                if let Some((peer, tag)) = self.requests.remove(&request_id) {
                    // An answer that cannot be read (over its limit, not a sync message: the
                    // codec says `InvalidData`) is the peer's doing, like any other broken
                    // answer; a timeout, a closed link or a stream refused only ends the
                    // session.
                    let actions = match error {
                        request_response::OutboundFailure::Io(e)
                            if e.kind() == std::io::ErrorKind::InvalidData =>
                        {
                            vec![SyncAction::Violation(SyncViolation::Unreadable(
                                e.to_string(),
                            ))]
                        }
                        _ => self
                            .sessions
                            .get_mut(&peer)
                            .map(|s| s.on_failure(tag))
                            .unwrap_or_default(),
                    };
                    self.drive(peer, actions);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                // Only addresses this node would dial: the routing table is not a list of
                // places a peer asked to be called at.
                for addr in info.listen_addrs {
                    if self.policy.allows(&addr) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id,
                error: libp2p::swarm::DialError::Transport(errors),
                ..
            } if !errors.is_empty()
                && errors.iter().all(|(_, e)| {
                    matches!(e, libp2p::TransportError::MultiaddrNotSupported(_))
                }) =>
            {
                self.emit(NodeEvent::DialRefused { peer: peer_id });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result,
            })) => match result {
                Ok(_) => {
                    self.last_pong.insert(connection, (peer, Instant::now()));
                }
                // A peer without ping (not a minga node): its link is not judged by pings.
                Err(ping::Failure::Unsupported) => {
                    self.last_pong.remove(&connection);
                }
                Err(_) => {}
            },
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                ..
            } => {
                self.last_pong
                    .insert(connection_id, (peer_id, Instant::now()));
                if let ConnectedPoint::Dialer { address, .. } = &endpoint {
                    let changed = self.known.reached(peer_id, address, Instant::now());
                    self.remember(changed);
                    if !self.policy.is_given(address) {
                        self.dialled.entry(peer_id).or_insert_with(Instant::now);
                    }
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, "connected");
                    self.emit(NodeEvent::Connected(peer_id));
                    self.start_sync(peer_id);
                    self.ask_to_join(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                connection_id,
                num_established,
                ..
            } if num_established > 0 => {
                self.last_pong.remove(&connection_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                ..
            } => {
                self.last_pong.remove(&connection_id);
                self.dialled.remove(&peer_id);
                self.known.lost(&peer_id, Instant::now());
                self.end_session(peer_id);
                self.trim_stats();
                tracing::info!(peer = %peer_id, "disconnected");
                self.emit(NodeEvent::Disconnected(peer_id));
            }
            _ => {}
        }
    }

    /// Entries stamped ahead of this node's clock apply once it reaches them, and entries
    /// that waited past their hour go (catch-up fetches them again if they can ever apply).
    fn retry_waiting(&mut self) {
        let coops: Vec<CoopId> = self
            .ledgers
            .iter()
            .filter(|(_, l)| l.ledger().pending_len() > 0)
            .map(|(c, _)| *c)
            .collect();
        for coop in coops {
            let Some(ledger) = self.ledgers.get_mut(&coop) else {
                continue;
            };
            let result = ledger.retry();
            self.absorb_views(&coop);
            match result {
                Ok(entries) if !entries.is_empty() => self.emit(NodeEvent::Applied {
                    coop,
                    entries,
                    from: None,
                }),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "could not store entries that waited"),
            }
        }
    }

    /// Writes the store to a new owner-only file: see [`super::NodeHandle::backup`].
    fn snapshot(&self, path: &std::path::Path) -> Result<u64, NodeError> {
        use std::io::Write;
        let fail = |e: crate::backup::BackupError| {
            NodeError::Store(crate::store::StoreError::Backend(e.to_string()))
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path).map_err(|e| {
            NodeError::Store(crate::store::StoreError::Backend(format!(
                "{}: {e}",
                path.display()
            )))
        })?;
        let mut w = crate::backup::Writer::new(std::io::BufWriter::new(file)).map_err(fail)?;
        let pairs = w.store(self.store.as_ref()).map_err(fail)?;
        let mut out = w.finish().map_err(fail)?;
        out.flush()
            .and_then(|()| out.get_ref().sync_all())
            .map_err(|e| NodeError::Store(crate::store::StoreError::Backend(e.to_string())))?;
        tracing::info!(pairs, path = %path.display(), "store snapshot written");
        Ok(pairs)
    }

    /// Timers: connections silent for [`SILENCE`] are closed (the link is dead, and `peers`
    /// should say so), requests past their deadline end, lost peers are dialled again.
    fn housekeeping(&mut self) {
        if self.networks.dirty {
            self.review_networks();
        }
        let m = &self.metrics;
        m.gossip_queue.set(self.outbox.len() as i64);
        m.peers.set(self.swarm.connected_peers().count() as i64);
        m.coops.set(self.ledgers.len() as i64);
        m.records.set(self.views.len() as i64);
        let now = Instant::now();
        if self
            .disk_checked
            .is_none_or(|t| now.duration_since(t) >= DISK_CHECK)
        {
            self.disk_checked = Some(now);
            if let Some(space) = crate::disk::space(&self.data_dir).filter(|s| s.is_low()) {
                tracing::warn!(
                    free_mib = space.free >> 20,
                    total_mib = space.total >> 20,
                    dir = %self.data_dir.display(),
                    "the disk is nearly full: the node stops taking writes when it is; make space"
                );
            }
        }
        let silent: Vec<(ConnectionId, PeerId)> = self
            .last_pong
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) > SILENCE)
            .map(|(c, (p, _))| (*c, *p))
            .collect();
        for (connection, peer) in silent {
            tracing::info!(%peer, "closing a connection that stopped answering");
            self.last_pong.remove(&connection);
            self.swarm.close_connection(connection);
        }
        self.check_deadlines();
        self.trim_links(now);
        for (peer, addr) in self.known.due(Instant::now()) {
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "could not dial a lost peer again");
            }
        }
    }

    /// Writes what changed among the remembered peers to the store.
    pub(super) fn remember(&self, changed: Remembered) {
        if changed == Remembered::default() {
            return;
        }
        let batch = WriteBatch {
            peers: changed.added,
            removed_peers: changed.removed,
            ..WriteBatch::default()
        };
        if let Err(e) = self.store.commit(&batch) {
            tracing::warn!(error = %e, "could not remember a peer's address");
        }
    }

    /// What the node's other ledgers leave of [`NODE_MAX_PENDING`] for `coop`'s.
    pub(super) fn pending_share(&self, coop: &CoopId) -> (usize, usize) {
        let (entries, bytes) = self
            .ledgers
            .iter()
            .filter(|(c, _)| *c != coop)
            .map(|(_, l)| l.ledger().pending_usage())
            .fold((0, 0), |(e, b), (e2, b2)| (e + e2, b + b2));
        (
            NODE_MAX_PENDING.0.saturating_sub(entries),
            NODE_MAX_PENDING.1.saturating_sub(bytes),
        )
    }
}
