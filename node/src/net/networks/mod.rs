//! Networks this node belongs to: who is in each (decided from the vouches every node holds,
//! see [`minga_protocol::network`]), replicating each admitted co-op with nothing handed
//! around, refusing what an expelled co-op signs past its cut-offs, and the join exchange
//! that lets a new co-op in by invite.
//!
//! What is kept in the store, under view keys: each network joined (its signed genesis, once
//! known), each invite being followed until this node's co-op is admitted, and the co-ops
//! blocked here. Join requests other co-ops send are kept in memory (at most
//! [`MAX_JOIN_REQUESTS`]): a joining node sends its request again on every new connection and
//! every catch-up round until it is admitted, so a restart loses nothing that matters.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use libp2p::PeerId;
use libp2p::request_response::OutboundRequestId;
use minga_protocol::network::{
    Admission, Invite, NetworkFacts, NetworkGenesis, NetworkId, Placed, PlacedExpel, admission,
    decode_cutoffs,
};
use minga_protocol::{
    CoopId, EntryHash, Genesis, LogId, Record, RecordKind, RecordRef, Signed, SignedBytes,
    Timestamp,
};

use super::NodeError;
use super::event_loop::EventLoop;
use crate::ledger::CoopLedger;
use crate::store::{Store, WriteBatch};

mod join;

/// The most join requests a node keeps, for all its networks together.
pub const MAX_JOIN_REQUESTS: usize = 256;
/// The most join requests kept from one peer: a peer minting co-ops cannot fill the table.
pub const MAX_JOIN_REQUESTS_PER_PEER: usize = 4;
/// How long a join request is kept without being sent again (a joining node repeats it every
/// catch-up round, 30 s by default).
const REQUEST_TTL_MS: i64 = 60 * 60 * 1000;
/// The most networks one node belongs to.
pub const MAX_NETWORKS: usize = 64;

const JOINED: &[u8] = b"net/joined/";
const JOINING: &[u8] = b"net/joining/";
const BLOCKED: &[u8] = b"net/blocked/";

/// A co-op's request to join a network, as a node of that network received it.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    /// The network.
    pub network: NetworkId,
    /// The co-op's signed genesis.
    pub genesis: Signed<Genesis>,
    /// What the co-op says about itself.
    pub note: String,
    /// The peer it came from.
    pub from: PeerId,
    /// When it arrived (or last arrived again).
    pub received: Timestamp,
}

/// This node's own request to join a network, followed until its co-op is admitted.
#[derive(Clone, Debug)]
pub struct Joining {
    /// The invite followed.
    pub invite: Invite,
    /// The co-op that asks to join (none: a member's own node that only follows the network,
    /// replicating its co-ops without asking anything).
    pub coop: Option<CoopId>,
    /// What it says about itself.
    pub note: String,
    /// The last answer a node gave: whether it kept the request, and its words.
    pub answer: Option<(bool, String)>,
}

/// One network as this node sees it.
#[derive(Clone, Debug)]
pub struct NetworkState {
    /// Its id.
    pub id: NetworkId,
    /// Its genesis, once known (a node that joins learns it from a node of the network).
    pub genesis: Option<Signed<NetworkGenesis>>,
    /// Who is in, from the statements this node holds.
    pub admission: Option<Admission>,
    /// Join requests received by this node, not yet admitted.
    pub requests: Vec<JoinRequest>,
    /// This node's own request, while it waits.
    pub joining: Option<Joining>,
    /// Geneses of the co-ops it names that this node knows: admitted ones it replicates,
    /// and those asking or vouched for (from requests and vouches), so an admin can vouch.
    pub geneses: BTreeMap<CoopId, Signed<Genesis>>,
}

/// What the event loop keeps about networks.
#[derive(Default)]
pub(super) struct Networks {
    joined: BTreeMap<NetworkId, Option<Signed<NetworkGenesis>>>,
    joining: BTreeMap<NetworkId, Joining>,
    requests: BTreeMap<(NetworkId, CoopId), JoinRequest>,
    pub(super) blocked: BTreeSet<CoopId>,
    pub(super) admissions: BTreeMap<NetworkId, Admission>,
    /// Network questions in flight: the peer and the network each is about.
    pub(super) asks: HashMap<OutboundRequestId, (PeerId, NetworkId)>,
    /// Set when a statement that may change who is in arrived.
    pub(super) dirty: bool,
}

fn key(prefix: &[u8], id: &[u8; 32]) -> Vec<u8> {
    [prefix, id.as_slice()].concat()
}

fn id_of(prefix: &[u8], k: &[u8]) -> Option<[u8; 32]> {
    k.strip_prefix(prefix)?.try_into().ok()
}

fn signed_to_bytes<T: minga_protocol::Statement>(s: &Signed<T>) -> Vec<u8> {
    [s.bytes(), s.signature().0.as_slice()].concat()
}

fn signed_from_bytes<T: minga_protocol::Statement>(v: &[u8]) -> Option<Signed<T>> {
    let split = v.len().checked_sub(64)?;
    let (bytes, sig) = v.split_at(split);
    SignedBytes {
        bytes: bytes.to_vec(),
        signature: sig.try_into().ok()?,
    }
    .open()
    .ok()
}

impl Networks {
    /// Reads what the store keeps. A damaged value is skipped with a warning, never fatal.
    pub(super) fn load(store: &dyn Store) -> Networks {
        let mut n = Networks {
            dirty: true,
            ..Networks::default()
        };
        for pair in store.views(JOINED) {
            match pair {
                Ok((k, v)) => match id_of(JOINED, &k) {
                    Some(id) => {
                        let id = NetworkId(minga_protocol::Hash(id));
                        let genesis = signed_from_bytes::<NetworkGenesis>(&v)
                            .filter(|g| g.network_id() == id);
                        n.joined.insert(id, genesis);
                    }
                    None => tracing::warn!("a stored network key is damaged; skipped"),
                },
                Err(e) => tracing::warn!(error = %e, "could not read the networks joined"),
            }
        }
        for pair in store.views(JOINING) {
            let Ok((k, v)) = pair else { continue };
            let parsed = id_of(JOINING, &k).and_then(|_| {
                let text = String::from_utf8(v).ok()?;
                let mut lines = text.splitn(3, '\n');
                let invite = Invite::decode(lines.next()?).ok()?;
                let coop: Option<CoopId> = match lines.next()? {
                    "-" => None,
                    c => Some(c.parse().ok()?),
                };
                let note = lines.next().unwrap_or_default().to_string();
                Some(Joining {
                    invite,
                    coop,
                    note,
                    answer: None,
                })
            });
            match parsed {
                Some(j) => {
                    n.joining.insert(j.invite.network, j);
                }
                None => tracing::warn!("a stored join request is damaged; skipped"),
            }
        }
        for pair in store.views(BLOCKED) {
            if let Ok((k, _)) = pair
                && let Some(id) = id_of(BLOCKED, &k)
            {
                n.blocked.insert(CoopId(minga_protocol::Hash(id)));
            }
        }
        n
    }

    /// The networks joined, for subscribing to their topics.
    pub(super) fn ids(&self) -> impl Iterator<Item = &NetworkId> {
        self.joined.keys()
    }

    /// The networks whose admission lets `coop` in.
    pub(super) fn admitting(&self, coop: &CoopId) -> impl Iterator<Item = &NetworkId> {
        self.admissions
            .iter()
            .filter(move |(_, a)| a.is_admitted(coop))
            .map(|(id, _)| id)
    }
}

impl EventLoop {
    /// Subscribes to the gossip topic of each network joined.
    pub(super) fn subscribe_networks(&mut self) {
        let ids: Vec<NetworkId> = self.networks.ids().copied().collect();
        for id in ids {
            self.subscribe_network(&id);
        }
    }

    fn subscribe_network(&mut self, id: &NetworkId) {
        let topic = super::behaviour::network_topic(id);
        let g = &mut self.swarm.behaviour_mut().gossipsub;
        if let Err(e) = g.subscribe(&topic) {
            tracing::warn!(error = %e, "could not subscribe to a network's topic");
        }
        if let Err(e) = g.set_topic_params(topic, super::behaviour::topic_params()) {
            tracing::warn!(error = %e, "could not score a network's topic");
        }
    }

    /// Starts belonging to a network whose genesis this node holds (it created it).
    pub(super) fn belong(&mut self, genesis: Signed<NetworkGenesis>) -> Result<(), NodeError> {
        let id = genesis.network_id();
        if !self.networks.joined.contains_key(&id) && self.networks.joined.len() >= MAX_NETWORKS {
            return Err(NodeError::Network(format!(
                "this node belongs to {MAX_NETWORKS} networks already"
            )));
        }
        self.store.commit(&WriteBatch {
            views: vec![(key(JOINED, id.as_bytes()), signed_to_bytes(&genesis))],
            ..WriteBatch::default()
        })?;
        self.networks.joined.insert(id, Some(genesis));
        self.subscribe_network(&id);
        self.networks.dirty = true;
        Ok(())
    }

    /// Starts replicating a co-op that a network admitted (unless blocked here).
    fn replicate(&mut self, genesis: Signed<Genesis>) -> bool {
        let coop = genesis.coop_id();
        if self.ledgers.contains_key(&coop) || self.networks.blocked.contains(&coop) {
            return false;
        }
        let store: Arc<dyn Store> = self.store.clone();
        match CoopLedger::open(store, genesis) {
            Ok(l) => {
                tracing::info!(coop = %coop.short(), "a network admitted a co-op: replicating it");
                self.ledgers.insert(coop, l);
                self.networks.dirty = true;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "could not open an admitted co-op's ledger");
                false
            }
        }
    }

    /// Blocks a co-op here (its data is deleted, and no network's admission brings it back)
    /// or lifts the block.
    pub(super) fn block(&mut self, coop: CoopId, blocked: bool) -> Result<(), NodeError> {
        if blocked && self.networks.joining.values().any(|j| j.coop == Some(coop)) {
            return Err(NodeError::Network(
                "a node does not block the co-op it asks to join for".into(),
            ));
        }
        let k = key(BLOCKED, coop.as_bytes());
        let batch = if blocked {
            WriteBatch {
                views: vec![(k, Vec::new())],
                ..WriteBatch::default()
            }
        } else {
            WriteBatch {
                removed_views: vec![k],
                ..WriteBatch::default()
            }
        };
        self.store.commit(&batch)?;
        if blocked {
            self.networks.blocked.insert(coop);
            self.networks.requests.retain(|(_, c), _| *c != coop);
            if self.ledgers.contains_key(&coop) {
                self.untrust(coop)?;
            }
        } else {
            self.networks.blocked.remove(&coop);
        }
        self.networks.dirty = true;
        Ok(())
    }

    /// Every statement this node holds about one network.
    fn network_facts(&self, genesis: &Signed<NetworkGenesis>) -> NetworkFacts {
        let network = genesis.network_id();
        let mut facts = NetworkFacts {
            genesis: genesis.clone(),
            vouches: Vec::new(),
            unvouches: Vec::new(),
            expels: Vec::new(),
        };
        for kind in [RecordKind::Vouch, RecordKind::Unvouch, RecordKind::Expel] {
            for (coop, id) in self.views.keys_of_kind(kind) {
                let Some(ledger) = self.ledgers.get(&coop) else {
                    continue;
                };
                let Some(record) = ledger.ledger().record(&id) else {
                    continue;
                };
                let Ok(Some(pos)) = self.store.entry_pos(&coop, &EntryHash(id.0)) else {
                    continue;
                };
                let at = RecordRef { coop, record: id };
                fn place<T>(
                    at: RecordRef,
                    pos: &crate::store::EntryPos,
                    statement: Signed<T>,
                ) -> Placed<T> {
                    Placed {
                        at,
                        log: pos.log,
                        seq: pos.seq,
                        statement,
                    }
                }
                match record {
                    Record::Vouch(r) if r.vouch.value().network == network => {
                        facts.vouches.push(place(at, &pos, r.vouch));
                    }
                    Record::Unvouch(u) if u.value().network == network => {
                        facts.unvouches.push(place(at, &pos, u));
                    }
                    Record::Expel(e) if e.expel.value().network == network => {
                        if let Ok(cutoffs) = decode_cutoffs(&e.cutoffs, &e.expel.value().cutoffs) {
                            facts.expels.push(PlacedExpel {
                                expel: place(at, &pos, e.expel),
                                cutoffs,
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        facts
    }

    /// The genesis of a co-op as the vouches for it carry it.
    fn vouched_genesis(&self, coop: &CoopId) -> Option<Signed<Genesis>> {
        self.views
            .keys_of_kind(RecordKind::Vouch)
            .find_map(
                |(c, id)| match self.ledgers.get(&c)?.ledger().record(&id)? {
                    Record::Vouch(r) if r.genesis.coop_id() == *coop => Some(r.genesis),
                    _ => None,
                },
            )
    }

    /// Decides again who is in each network, and acts on it: admitted co-ops are replicated,
    /// expelled ones cut off, and an expulsion lifted when it no longer counts. Repeats while
    /// replicating a co-op brings statements that may admit more (each pass adds a ledger or
    /// stops, so it ends).
    pub(super) fn review_networks(&mut self) {
        let mut opened = false;
        while std::mem::take(&mut self.networks.dirty) {
            let geneses: Vec<Signed<NetworkGenesis>> =
                self.networks.joined.values().flatten().cloned().collect();
            let mut admissions = BTreeMap::new();
            for g in &geneses {
                let a = admission(&self.network_facts(g));
                admissions.insert(a.network, a);
            }
            let admitted: BTreeSet<CoopId> = admissions
                .values()
                .flat_map(|a| a.admitted.keys().copied())
                .collect();
            let mut expelled: BTreeMap<CoopId, BTreeMap<LogId, u64>> = BTreeMap::new();
            for a in admissions.values() {
                for (coop, e) in &a.expelled {
                    let cut = expelled.entry(*coop).or_default();
                    for (log, last) in &e.cutoffs {
                        let l = cut.entry(*log).or_insert(*last);
                        *l = (*l).max(*last);
                    }
                }
            }
            self.networks.admissions = admissions;
            for coop in &admitted {
                if !self.ledgers.contains_key(coop)
                    && !self.networks.blocked.contains(coop)
                    && let Some(g) = self.vouched_genesis(coop)
                {
                    opened |= self.replicate(g);
                }
            }
            let held: Vec<CoopId> = self.ledgers.keys().copied().collect();
            for coop in held {
                let Some(ledger) = self.ledgers.get_mut(&coop) else {
                    continue;
                };
                match expelled.remove(&coop) {
                    Some(cut) => {
                        if !ledger.ledger().is_expelled() {
                            tracing::warn!(coop = %coop.short(), "co-op expelled from a network: its later entries are refused");
                        }
                        if let Err(e) = ledger.expel(cut) {
                            tracing::error!(error = %e, "could not apply an expulsion");
                        }
                        self.absorb_views(&coop);
                    }
                    None if ledger.ledger().is_expelled() => {
                        ledger.readmit();
                        opened = true;
                    }
                    None => {}
                }
            }
            // This node's own requests end once its co-op is in (or, for a node that only
            // follows, once it knows the network).
            let done: Vec<NetworkId> = self
                .networks
                .joining
                .iter()
                .filter(|(id, j)| {
                    let admission = self.networks.admissions.get(id);
                    match j.coop {
                        Some(c) => admission.is_some_and(|a| a.is_admitted(&c)),
                        None => admission.is_some(),
                    }
                })
                .map(|(id, _)| *id)
                .collect();
            for id in done {
                self.networks.joining.remove(&id);
                let batch = WriteBatch {
                    removed_views: vec![key(JOINING, id.as_bytes())],
                    ..WriteBatch::default()
                };
                if let Err(e) = self.store.commit(&batch) {
                    tracing::warn!(error = %e, "could not forget a finished join request");
                }
                tracing::info!(network = %id, "this co-op is admitted to the network");
            }
            // Requests answered by admission go.
            let admissions = &self.networks.admissions;
            self.networks
                .requests
                .retain(|(n, c), _| admissions.get(n).is_none_or(|a| !a.is_admitted(c)));
        }
        if opened {
            self.sync_all();
        }
    }

    /// Every network as this node sees it.
    pub(super) fn network_states(&self) -> Vec<NetworkState> {
        self.networks
            .joined
            .iter()
            .map(|(id, genesis)| {
                let mut geneses = BTreeMap::new();
                let requests: Vec<JoinRequest> = self
                    .networks
                    .requests
                    .values()
                    .filter(|r| r.network == *id)
                    .cloned()
                    .collect();
                for r in &requests {
                    geneses.insert(r.genesis.coop_id(), r.genesis.clone());
                }
                let admission = self.networks.admissions.get(id).cloned();
                for coop in admission.iter().flat_map(|a| a.pending.keys()) {
                    if let Some(g) = self.vouched_genesis(coop) {
                        geneses.insert(*coop, g);
                    }
                }
                for coop in admission.iter().flat_map(|a| a.admitted.keys()) {
                    if let Some(l) = self.ledgers.get(coop) {
                        geneses.insert(*coop, l.genesis().clone());
                    }
                }
                NetworkState {
                    id: *id,
                    genesis: genesis.clone(),
                    admission,
                    requests,
                    joining: self.networks.joining.get(id).cloned(),
                    geneses,
                }
            })
            .collect()
    }
}
