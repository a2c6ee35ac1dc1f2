//! The node: one task owns the libp2p swarm and the ledgers; a cloneable [`NodeHandle`] sends it
//! commands over a bounded channel, each with a oneshot reply.

mod behaviour;
pub(crate) mod codec;
mod dial_policy;
mod event_loop;
mod gossip;
mod known_peers;
mod links;
mod local;
mod networks;
mod sync;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, noise, yamux};
use minga_protocol::fund::FundFacts;
use minga_protocol::network::{Invite, NetworkGenesis};
use minga_protocol::{
    AuthorKey, CoopId, DeviceId, Entry, EntryHash, Genesis, Membership, NodeSecret, PublicKey,
    Record, RecordId, RecordRef, Signed, Timestamp, VersionVector,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::config::NodeConfig;
use crate::ledger::{CoopLedger, LedgerError, load_views};
use crate::store::{SledStore, Store, StoreError};
pub use crate::views::Listed;
use crate::views::{Query, RecordView, Status, Totals, snapshot};
use dial_policy::DialPolicy;

pub use behaviour::{PROTOCOL_VERSION, gossip as gossip_behaviour, network_topic, topic};
pub use networks::{JoinRequest, Joining, MAX_JOIN_REQUESTS, MAX_NETWORKS, NetworkState};

/// Commands waiting for the event loop; senders wait when it is full.
const COMMAND_QUEUE: usize = 256;
/// Events kept for slow subscribers; a subscriber that falls further behind is told it lagged.
const EVENT_QUEUE: usize = 4096;

/// Why a node could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store could not be opened or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A ledger operation failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The network could not be set up.
    #[error("network: {0}")]
    Network(String),
    /// The co-op is not one this node replicates.
    #[error("co-op {0} is not replicated by this node; trust its genesis first")]
    UnknownCoop(CoopId),
    /// No record has an id starting with what was given.
    #[error("no record {0} is held here")]
    NotFound(String),
    /// Several records have ids starting with what was given.
    #[error("{0} names several records; give more of its id")]
    Ambiguous(String),
    /// A batch of edits is larger than one commit may be.
    #[error("{0} edits in one batch; at most {MAX_EDITS} are written at once")]
    TooManyEdits(usize),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// The most edits [`NodeHandle::write_all`] writes in one commit.
pub const MAX_EDITS: usize = 10_000;

/// One replicated co-op, as listings show it.
#[derive(Clone, Debug)]
pub struct CoopSummary {
    /// The co-op's signed genesis (its id is the genesis hash).
    pub genesis: Signed<Genesis>,
    /// Logs held.
    pub logs: usize,
    /// Entries held (the sum of the log heads).
    pub entries: u64,
    /// Keys with a role now.
    pub members: usize,
    /// The co-op key in force.
    pub coop_key: PublicKey,
    /// If the co-op key signed two rotations with this number, it is frozen.
    pub rotation_conflict: Option<u32>,
    /// Equivocations this node holds proof of: keys that signed two entries at one position.
    pub equivocations: Vec<crate::ledger::Equivocated>,
    /// Entries waiting for what they depend on (an earlier entry, a certificate), and the
    /// payload bytes they hold: bounded by quotas, so a flood shows here and stops there.
    pub waiting: (usize, usize),
    /// Entries held as headers whose payloads are still to fetch.
    pub missing_payloads: usize,
    /// Entries waiting because they are stamped ahead of this machine's clock.
    pub waiting_ahead: usize,
}

/// Every open need and offer, as matching takes them, each sorted by co-op and id.
#[derive(Clone, Debug, Default)]
pub struct Listings {
    /// Open needs, with what they still lack.
    pub needs: Vec<crate::matching::Listing>,
    /// Open offers, with what they still have.
    pub offers: Vec<crate::matching::Listing>,
}

/// One record with everything a `show` needs.
#[derive(Clone, Debug)]
pub struct RecordDetail {
    /// Its compact view.
    pub view: RecordView,
    /// Its derived status.
    pub status: Option<Status>,
    /// Pledged and confirmed-delivered totals (needs, offers and pledges).
    pub totals: Option<Totals>,
    /// The record as its document reads.
    pub record: Record,
    /// Records that reference it (pledges of a need or drawing on an offer, answers and
    /// deliveries of a pledge), with their status.
    pub related: Vec<Listed>,
    /// Its automerge document, as stored.
    pub document: Vec<u8>,
}

/// Something that happened in the node, for observers (tests, the API's event stream).
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// Entries were accepted and durably stored.
    Applied {
        /// The co-op.
        coop: CoopId,
        /// The entries.
        entries: Vec<EntryHash>,
        /// The peer they came from (`None`: written here, or released from waiting by
        /// entries they depended on).
        from: Option<PeerId>,
    },
    /// A peer sent an entry that failed validation; it was not stored or forwarded.
    Rejected {
        /// The peer.
        from: PeerId,
        /// Why.
        reason: String,
    },
    /// A connection to a peer opened.
    Connected(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
    /// A dial was refused by the dial policy: every address was one learnt from a peer that
    /// this node does not dial (private, loopback, a DNS name, or not given).
    DialRefused {
        /// The peer it would have dialled, if known.
        peer: Option<PeerId>,
    },
    /// A catch-up session with a peer finished for one co-op.
    Synced {
        /// The peer.
        peer: PeerId,
        /// The co-op.
        coop: CoopId,
        /// Entries received in the session.
        received: usize,
    },
    /// A record appeared or its view changed (written here or received).
    Record {
        /// The record's view after the change.
        view: Box<RecordView>,
        /// Whether the record is new to this node.
        new: bool,
    },
}

/// Entries and bytes exchanged with one peer by catch-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Entries received.
    pub entries_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Entries sent.
    pub entries_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// When a catch-up session with the peer last finished.
    pub last_synced: Option<Timestamp>,
    /// Catch-up requests sent to the peer (each one round trip).
    pub round_trips: u64,
    /// Bytes of every catch-up message received from the peer, as encoded before compression
    /// (the node's `sync_received_bytes` metric counts what crossed the wire).
    pub wire_in: u64,
    /// Bytes of every catch-up message sent to the peer, as encoded before compression.
    pub wire_out: u64,
}

enum Command {
    Write {
        coop: CoopId,
        key: Box<AuthorKey>,
        device: DeviceId,
        edits: Vec<(Option<RecordId>, Record)>,
        reply: oneshot::Sender<Result<Vec<Entry>, NodeError>>,
    },
    Prune {
        coop: CoopId,
        key: Box<AuthorKey>,
        device: DeviceId,
        record: RecordId,
        reply: oneshot::Sender<Result<Entry, NodeError>>,
    },
    Untrust {
        coop: CoopId,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Coops {
        reply: oneshot::Sender<Vec<CoopSummary>>,
    },
    Membership {
        coop: CoopId,
        reply: oneshot::Sender<Result<Membership, NodeError>>,
    },
    Detail {
        id: String,
        reply: oneshot::Sender<Result<RecordDetail, NodeError>>,
    },
    Listings {
        reply: oneshot::Sender<Listings>,
    },
    Trust {
        genesis: Box<Signed<Genesis>>,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Records {
        coop: CoopId,
        reply: oneshot::Sender<Result<BTreeMap<RecordId, Record>, NodeError>>,
    },
    Funds {
        fund: Option<RecordRef>,
        reply: oneshot::Sender<Vec<FundFacts>>,
    },
    List {
        query: Box<Query>,
        reply: oneshot::Sender<Vec<Listed>>,
        /// Where to send how many match in all, when asked.
        total: Option<oneshot::Sender<usize>>,
    },
    Vector {
        coop: CoopId,
        reply: oneshot::Sender<Result<VersionVector, NodeError>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Disconnect {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Score {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
    Stats {
        reply: oneshot::Sender<BTreeMap<PeerId, SyncStats>>,
    },
    #[cfg(feature = "test-utils")]
    ScriptSync {
        script: SyncScript,
        reply: oneshot::Sender<()>,
    },
    #[cfg(feature = "test-utils")]
    GossipUnchecked {
        bytes: Vec<u8>,
        reply: oneshot::Sender<()>,
    },
    Backup {
        path: std::path::PathBuf,
        reply: oneshot::Sender<Result<u64, NodeError>>,
    },
    SyncNow {
        reply: oneshot::Sender<()>,
    },
    Belong {
        genesis: Box<Signed<NetworkGenesis>>,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Join {
        invite: Box<Invite>,
        coop: Option<CoopId>,
        note: String,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Networks {
        reply: oneshot::Sender<Vec<NetworkState>>,
    },
    Block {
        coop: CoopId,
        blocked: bool,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
}

/// A handle to a running node. Cloning it is cheap; the node stops when asked to, or when
/// every handle is dropped.
#[derive(Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    metrics: crate::metrics::Metrics,
}

/// Starts nodes.
pub struct Node;

impl Node {
    /// Opens the store, starts the swarm, waits until every listen address is bound, and runs
    /// the event loop on its own task.
    pub async fn start(config: NodeConfig, key: &NodeSecret) -> Result<NodeHandle, NodeError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| NodeError::Store(StoreError::Backend(e.to_string())))?;
        let t0 = std::time::Instant::now();
        // The views snapshot a clean stop wrote is read on a thread of its own while the
        // store opens; whether it is used is decided against the store below.
        let dir = config.data_dir.clone();
        let snapshot = std::thread::Builder::new()
            .name("views-snapshot".into())
            .spawn(move || snapshot::read(&dir))
            .map_err(|e| NodeError::Store(StoreError::Backend(e.to_string())))?;
        let sled = Arc::new(SledStore::open(&config.data_dir.join("store"))?);
        let metrics = crate::metrics::Metrics::new();
        sled.observe_commits(metrics.commit_seconds.clone());
        let store: Arc<dyn Store> = sled.clone();
        // Before anything reads it: a newer format is refused, an older one brought up to date.
        crate::upgrade::upgrade(store.as_ref())?;
        let opened = t0.elapsed();
        let mut ledgers = BTreeMap::new();
        for l in CoopLedger::open_all(store.clone())? {
            ledgers.insert(l.coop(), l);
        }
        let ledgers_opened = t0.elapsed();
        // Views, not history: from the snapshot when it matches the store, else one compact
        // view per record read from the store.
        let read = snapshot
            .join()
            .unwrap_or_else(|_| Err(snapshot::SnapshotError::Damaged("reading it stopped")));
        let (views, damaged, from_snapshot) = match snapshot::take(&config.data_dir, read, &sled) {
            Some(views) => (views, 0, true),
            None => {
                let (views, damaged) = load_views(store.as_ref())?;
                (views, damaged, false)
            }
        };
        tracing::info!(
            store_ms = opened.as_millis() as u64,
            ledgers_ms = (ledgers_opened - opened).as_millis() as u64,
            views_ms = (t0.elapsed() - ledgers_opened).as_millis() as u64,
            views = views.len(),
            from_snapshot,
            "store opened"
        );
        metrics.start_seconds.set(t0.elapsed().as_secs_f64());
        metrics.start_from_snapshot.set(i64::from(from_snapshot));
        if damaged > 0 {
            tracing::warn!(
                damaged,
                "some stored record views did not parse; those records are not listed"
            );
        }
        for g in &config.trusted {
            if let std::collections::btree_map::Entry::Vacant(v) = ledgers.entry(g.coop_id()) {
                v.insert(CoopLedger::open(store.clone(), g.clone())?);
            }
        }

        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(key.0.seed())
            .map_err(|e| NodeError::Network(e.to_string()))?;
        let network = config.network.clone();
        let lan = config.lan;
        let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
        let policy = DialPolicy::new(
            config.lan || config.private_addresses,
            config.only_given_peers,
        );
        for addr in config.bootstrap.iter().chain(&config.relay) {
            policy.give(addr);
        }
        let transport = dial_policy::transport(&keypair, policy.clone()).map_err(|e| net(&e))?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(move |_| transport)
            .map_err(|e| net(&e))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| net(&e))?
            .with_behaviour(|key, relay| {
                let codec = codec::SyncCodec::counting(
                    metrics.sync_bytes_in.clone(),
                    metrics.sync_bytes_out.clone(),
                );
                behaviour::build(key, relay, &network, lan, codec)
                    .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
            })
            .map_err(|e| net(&e))?
            .with_swarm_config(|c| {
                // Links are closed on purpose (past the peer target, silent, misbehaving),
                // not for being quiet: a kept link outside the gossip mesh may carry nothing
                // for minutes between catch-ups, and closing it would only make the node
                // dial it again.
                c.with_idle_connection_timeout(Duration::from_secs(3600))
            })
            .build();

        let mut unbound = std::collections::HashSet::new();
        for addr in &config.listen {
            unbound.insert(swarm.listen_on(addr.clone()).map_err(|e| net(&e))?);
        }
        if let Some(relay) = &config.relay {
            swarm
                .listen_on(relay.clone().with(libp2p::multiaddr::Protocol::P2pCircuit))
                .map_err(|e| net(&e))?;
        }
        // Wait until each listener is bound, so callers (and tests on port 0) know where. A
        // listener on 0.0.0.0 reports one address per interface; take all that come with the
        // first.
        let mut listen_addrs = Vec::new();
        while !unbound.is_empty() {
            let event = tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some())
                .await
                .map_err(|_| NodeError::Network("listening took more than 10 s".into()))?;
            match event {
                SwarmEvent::NewListenAddr {
                    address,
                    listener_id,
                } => {
                    unbound.remove(&listener_id);
                    listen_addrs.push(address);
                }
                SwarmEvent::ListenerError { error, .. } => return Err(net(&error)),
                SwarmEvent::ListenerClosed {
                    reason: Err(error), ..
                } => return Err(net(&error)),
                _ => {}
            }
        }
        for addr in &config.bootstrap {
            if let Some(peer) = peer_of(addr) {
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            if let Err(e) = swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }

        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let peer_id = *swarm.local_peer_id();
        tracing::info!(%peer_id, addrs = ?listen_addrs, coops = ledgers.len(), "node started");
        let event_loop = event_loop::EventLoop::new(
            swarm,
            rx,
            events.clone(),
            ledgers,
            sled,
            views,
            policy,
            &config,
            metrics.clone(),
        );
        tokio::spawn(event_loop.run());
        Ok(NodeHandle {
            commands: tx,
            events,
            peer_id,
            listen_addrs,
            metrics,
        })
    }
}

/// Answers a hostile test peer gives to catch-up requests instead of the honest ones
/// (`None`: answer honestly).
#[cfg(feature = "test-utils")]
pub type SyncScript =
    Arc<dyn Fn(&minga_protocol::SyncMessage) -> Option<minga_protocol::SyncMessage> + Send + Sync>;

/// The peer id at the end of a multiaddr, if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

impl NodeHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// The node's metrics (`GET /metrics`).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the node listens on, each with `/p2p/<peer id>` so others can dial them.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs
            .iter()
            .map(|a| {
                a.clone()
                    .with(libp2p::multiaddr::Protocol::P2p(self.peer_id))
            })
            .collect()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Writes a record edit by a local member: stored durably, then gossiped.
    pub async fn write(
        &self,
        coop: CoopId,
        key: impl Into<AuthorKey>,
        device: DeviceId,
        record: Option<RecordId>,
        value: Record,
    ) -> Result<Entry, NodeError> {
        let mut entries = self
            .write_all(coop, key, device, vec![(record, value)])
            .await?;
        entries.pop().ok_or(NodeError::TooManyEdits(0))
    }

    /// Writes several edits by a local member in one durable commit: all of them or, when
    /// one is refused, none. At most [`MAX_EDITS`].
    pub async fn write_all(
        &self,
        coop: CoopId,
        key: impl Into<AuthorKey>,
        device: DeviceId,
        edits: Vec<(Option<RecordId>, Record)>,
    ) -> Result<Vec<Entry>, NodeError> {
        if edits.len() > MAX_EDITS || edits.is_empty() {
            return Err(NodeError::TooManyEdits(edits.len()));
        }
        self.ask(|reply| Command::Write {
            coop,
            key: Box::new(key.into()),
            device,
            edits,
            reply,
        })
        .await?
    }

    /// Withdraws an offer or need for real, by a coordinator: a prune entry, after which every
    /// node drops the record's content and keeps only its entries' signed headers.
    pub async fn prune(
        &self,
        coop: CoopId,
        key: impl Into<AuthorKey>,
        device: DeviceId,
        record: RecordId,
    ) -> Result<Entry, NodeError> {
        self.ask(|reply| Command::Prune {
            coop,
            key: Box::new(key.into()),
            device,
            record,
            reply,
        })
        .await?
    }

    /// Stops replicating a co-op and deletes everything held of it. Its genesis must be
    /// trusted again (and its data fetched again) to see it.
    pub async fn untrust(&self, coop: CoopId) -> Result<(), NodeError> {
        self.ask(|reply| Command::Untrust { coop, reply }).await?
    }

    /// Every co-op this node replicates.
    pub async fn coops(&self) -> Result<Vec<CoopSummary>, NodeError> {
        self.ask(|reply| Command::Coops { reply }).await
    }

    /// Who may write for a co-op, as this node knows it.
    pub async fn membership(&self, coop: CoopId) -> Result<Membership, NodeError> {
        self.ask(|reply| Command::Membership { coop, reply })
            .await?
    }

    /// A snapshot of every open need and offer, for matching (which runs off the node's task).
    pub async fn listings(&self) -> Result<Listings, NodeError> {
        self.ask(|reply| Command::Listings { reply }).await
    }

    /// One record, by its full id or a unique prefix of it (at least 4 hex digits).
    pub async fn detail(&self, id: &str) -> Result<RecordDetail, NodeError> {
        let id = id.to_ascii_lowercase();
        self.ask(|reply| Command::Detail { id, reply }).await?
    }

    /// Starts replicating a co-op.
    pub async fn trust(&self, genesis: Signed<Genesis>) -> Result<(), NodeError> {
        self.ask(|reply| Command::Trust {
            genesis: Box::new(genesis),
            reply,
        })
        .await?
    }

    /// Every live record of a co-op.
    pub async fn records(&self, coop: CoopId) -> Result<BTreeMap<RecordId, Record>, NodeError> {
        self.ask(|reply| Command::Records { coop, reply }).await?
    }

    /// Every statement about one fund (or, with `None`, about each fund this node holds), for
    /// deriving its books.
    pub async fn funds(&self, fund: Option<RecordRef>) -> Result<Vec<FundFacts>, NodeError> {
        self.ask(|reply| Command::Funds { fund, reply }).await
    }

    /// Records of every replicated co-op that match `query`, with their derived status.
    pub async fn list(&self, query: Query) -> Result<Vec<Listed>, NodeError> {
        self.ask(|reply| Command::List {
            query: Box::new(query),
            reply,
            total: None,
        })
        .await
    }

    /// One page of [`NodeHandle::list`] (the query's offset and limit), with how many
    /// records match in all.
    pub async fn page(&self, query: Query) -> Result<(usize, Vec<Listed>), NodeError> {
        let (total, counted) = oneshot::channel();
        let page = self
            .ask(|reply| Command::List {
                query: Box::new(query),
                reply,
                total: Some(total),
            })
            .await?;
        let total = counted.await.map_err(|_| NodeError::Stopped)?;
        Ok((total, page))
    }

    /// What this node holds of a co-op.
    pub async fn version_vector(&self, coop: CoopId) -> Result<VersionVector, NodeError> {
        self.ask(|reply| Command::Vector { coop, reply }).await?
    }

    /// Dials a peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Closes every connection to a peer and refuses new ones until it is dialled again with
    /// [`NodeHandle::dial`].
    pub async fn disconnect(&self, peer: PeerId) -> Result<(), NodeError> {
        self.ask(|reply| Command::Disconnect { peer, reply }).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NodeError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// A peer's gossip score (negative: it misbehaved).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NodeError> {
        self.ask(|reply| Command::Score { peer, reply }).await
    }

    /// Catch-up statistics per peer.
    pub async fn sync_stats(&self) -> Result<BTreeMap<PeerId, SyncStats>, NodeError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Starts a catch-up session with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NodeError> {
        self.ask(|reply| Command::SyncNow { reply }).await
    }

    /// Publishes bytes on the gossip topic without validating them: for fault-injection tests
    /// that play a misbehaving peer. Honest code never needs it.
    #[cfg(feature = "test-utils")]
    pub async fn gossip_unchecked(&self, bytes: Vec<u8>) -> Result<(), NodeError> {
        self.ask(|reply| Command::GossipUnchecked { bytes, reply })
            .await
    }

    /// Makes this node answer catch-up requests with `script` wherever it returns an answer
    /// (the honest answer otherwise): for tests that play a hostile peer.
    #[cfg(feature = "test-utils")]
    pub async fn script_sync(&self, script: SyncScript) -> Result<(), NodeError> {
        self.ask(|reply| Command::ScriptSync { script, reply })
            .await
    }

    /// Writes a snapshot of the store to a new file at `path` (a [`crate::backup`] stream of
    /// store pairs) and returns how many pairs it holds. Every write acknowledged before this
    /// call is in it: the event loop, which makes every write, takes the snapshot between two
    /// of them. It blocks the node while it copies (about as long as reading the store once).
    pub async fn backup(&self, path: std::path::PathBuf) -> Result<u64, NodeError> {
        self.ask(|reply| Command::Backup { path, reply }).await?
    }

    /// Starts belonging to a network whose genesis this node's co-op signed (after writing
    /// it as a record): its topic is joined and its admissions followed.
    pub async fn belong(&self, genesis: Signed<NetworkGenesis>) -> Result<(), NodeError> {
        self.ask(|reply| Command::Belong {
            genesis: Box::new(genesis),
            reply,
        })
        .await?
    }

    /// Follows an invite for `coop` (a co-op this node carries): dials the addresses it
    /// gives, learns the network from the nodes there, and asks them to keep the co-op's
    /// request to join until admins vouch. Whatever the answer, the node replicates every
    /// co-op the network admits. Without a co-op (a member's own node) it only follows.
    pub async fn join(
        &self,
        invite: Invite,
        coop: Option<CoopId>,
        note: String,
    ) -> Result<(), NodeError> {
        self.ask(|reply| Command::Join {
            invite: Box::new(invite),
            coop,
            note,
            reply,
        })
        .await?
    }

    /// Every network this node belongs to, with who is in and who asks.
    pub async fn networks(&self) -> Result<Vec<NetworkState>, NodeError> {
        self.ask(|reply| Command::Networks { reply }).await
    }

    /// Blocks a co-op on this node (its data is deleted, and no network brings it back), or
    /// lifts the block. A local choice, never replicated.
    pub async fn block(&self, coop: CoopId, blocked: bool) -> Result<(), NodeError> {
        self.ask(|reply| Command::Block {
            coop,
            blocked,
            reply,
        })
        .await?
    }

    /// Stops the node: closes connections and flushes the store.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.ask(|reply| Command::Shutdown { reply }).await?
    }
}

/// A timestamp for local writes.
pub(crate) fn now() -> Timestamp {
    Timestamp::now()
}
