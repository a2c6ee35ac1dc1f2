//! Catch-up, as the event loop runs it: one [`SyncSession`] per peer decides (requests,
//! batches to store, the end), and this module only moves its messages and entries; it also
//! answers peers' requests from the store. The session and the answers are pure code in
//! `minga_protocol`.

use std::collections::VecDeque;
use std::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use minga_protocol::{
    CoopId, Entry, Hash, MAX_BATCH_BYTES, SyncAction, SyncMessage, SyncSession, VersionVector,
    differing_vectors, serve_wants,
};

use super::event_loop::EventLoop;
use super::{NodeEvent, now};
use crate::store::Store;

/// The most peers whose catch-up statistics are kept (connected ones always are).
const MAX_PEER_STATS: usize = 1024;

/// A sync message's size as sent (noise and yamux framing come on top).
fn wire_len(m: &SyncMessage) -> u64 {
    m.encode().len() as u64
}

impl EventLoop {
    /// Catch-up on the timer: one connected peer a tick, the one whose last session started
    /// longest ago (or never). Gossip carries new entries, a gap in it starts a session with
    /// its sender at once, and every new connection starts one: the timer is only the net
    /// under those, so an idle node pays one summary round trip per interval however many
    /// peers it has, not one per peer.
    pub(super) fn sync_next(&mut self) {
        let next = self
            .swarm
            .connected_peers()
            .filter(|p| !self.sessions.contains_key(p))
            .min_by_key(|p| self.sync_started.get(p).copied())
            .copied();
        if let Some(peer) = next {
            self.start_sync(peer);
        }
    }

    /// Starts a catch-up with every connected peer: when this node has just taken on a co-op
    /// (or been asked to).
    pub(super) fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in peers {
            self.start_sync(p);
        }
    }

    /// Starts a catch-up with `peer`, unless one is running: one session per peer.
    pub(super) fn start_sync(&mut self, peer: PeerId) {
        if self.sessions.contains_key(&peer) {
            // A session's summary is fixed when it starts: a co-op replicated since (a
            // network admitted it) waits for the next one, which starts when this one ends.
            self.resync.insert(peer);
            return;
        }
        if self.ledgers.is_empty() {
            return;
        }
        // An expelled co-op's later entries are refused here: nothing of it to ask for.
        let digests = self
            .ledgers
            .iter()
            .filter(|(_, l)| !l.ledger().is_expelled())
            .map(|(c, l)| (*c, l.ledger().version_vector().digest()))
            .collect();
        let known = self
            .ledgers
            .iter()
            .map(|(c, l)| (*c, l.ledger().known()))
            .collect();
        let (session, actions) = SyncSession::start_with(digests, known, Instant::now());
        self.sync_started.insert(peer, Instant::now());
        self.metrics.sync_sessions.inc();
        self.sessions.insert(peer, session);
        self.drive(peer, actions);
    }

    /// Carries out what a peer's session asks: requests, batches to store, co-ops caught up,
    /// the end. The session decides; this only moves bytes and entries.
    pub(super) fn drive(&mut self, peer: PeerId, actions: Vec<SyncAction>) {
        let mut todo = VecDeque::from(actions);
        while let Some(action) = todo.pop_front() {
            match action {
                SyncAction::Send { tag, message } => {
                    let s = self.stats.entry(peer).or_default();
                    s.round_trips += 1;
                    s.wire_out += wire_len(&message);
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, message);
                    self.requests.insert(id, (peer, tag));
                }
                SyncAction::Ingest { coop, entries } => {
                    let (received, probes) = self.ingest_synced(peer, coop, entries);
                    if let Some(session) = self.sessions.get_mut(&peer) {
                        todo.extend(session.probe(coop, probes, Instant::now()));
                        todo.extend(session.ingested(coop, received, Instant::now()));
                    }
                }
                SyncAction::Attach { coop, entries } => {
                    let (_, probes) = self.ingest_synced(peer, coop, entries);
                    if let Some(session) = self.sessions.get_mut(&peer) {
                        todo.extend(session.probe(coop, probes, Instant::now()));
                    }
                }
                SyncAction::Proof { coop, proof } => {
                    let Some(ledger) = self.ledgers.get_mut(&coop) else {
                        continue;
                    };
                    match ledger.add_proof(&proof) {
                        Ok(true) => {
                            self.absorb_views(&coop);
                            self.tell_proofs(&[*proof]);
                        }
                        Ok(false) => {}
                        Err(e) => tracing::error!(error = %e, "could not store a proof"),
                    }
                }
                SyncAction::Synced { coop, received } => self.synced(peer, coop, received),
                SyncAction::Violation(v) => {
                    tracing::warn!(%peer, violation = %v, "peer broke the catch-up protocol");
                    self.emit(NodeEvent::Rejected {
                        from: peer,
                        reason: v.to_string(),
                    });
                    self.end_session(peer);
                    let _ = self.swarm.disconnect_peer_id(peer);
                    // Not dialled again on this node's own initiative: it may still dial
                    // in, or be dialled on purpose.
                    let forgotten = self.known.forget(&peer);
                    self.remember(forgotten);
                }
                SyncAction::Done => {
                    self.end_session(peer);
                    if self.fresh.remove(&peer) {
                        self.announce(peer);
                    }
                    if self.resync.remove(&peer) && self.swarm.is_connected(&peer) {
                        self.start_sync(peer);
                    }
                }
            }
        }
    }

    pub(super) fn end_session(&mut self, peer: PeerId) {
        self.sessions.remove(&peer);
        if !self.swarm.is_connected(&peer) {
            self.resync.remove(&peer);
            self.sync_started.remove(&peer);
            self.pulled_back.remove(&peer);
            self.fresh.remove(&peer);
        }
        self.requests.retain(|_, (p, _)| *p != peer);
    }

    /// Ends the sessions whose peer has not answered in time.
    pub(super) fn check_deadlines(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.next_deadline().is_some_and(|d| d <= now))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            tracing::debug!(%peer, "catch-up request timed out");
            let actions = self
                .sessions
                .get_mut(&peer)
                .map(|s| s.on_timeout(now))
                .unwrap_or_default();
            self.drive(peer, actions);
        }
    }

    /// Stores a batch a session received; returns what the co-op's ledger has now received
    /// (`None` if this node no longer carries it), and the positions worth probing for forks.
    fn ingest_synced(
        &mut self,
        peer: PeerId,
        coop: CoopId,
        entries: Vec<Entry>,
    ) -> (Option<VersionVector>, Vec<(minga_protocol::LogId, u64)>) {
        let cap = self.pending_share(&coop);
        let Some(ledger) = self.ledgers.get_mut(&coop) else {
            return (None, Vec::new());
        };
        let result = ledger.ingest_within(entries, cap);
        let received = ledger.ledger().received_vector();
        self.absorb_views(&coop);
        let mut probes = Vec::new();
        match result {
            Ok(report) => {
                self.tell_proofs(&report.proofs);
                probes = report.probes;
                for (_, reason) in report.rejected {
                    self.metrics.rejected(reason.label());
                    self.emit(NodeEvent::Rejected {
                        from: peer,
                        reason: reason.to_string(),
                    });
                }
                if !report.accepted.is_empty() {
                    self.fresh.insert(peer);
                    self.emit(NodeEvent::Applied {
                        coop,
                        entries: report.accepted,
                        from: Some(peer),
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "could not store synced entries"),
        }
        (Some(received), probes)
    }

    pub(super) fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: SyncMessage,
        channel: ResponseChannel<SyncMessage>,
    ) {
        self.stats.entry(peer).or_default().wire_in += wire_len(&request);
        #[cfg(feature = "test-utils")]
        if let Some(answer) = self.script.as_ref().and_then(|s| s(&request)) {
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, answer);
            return;
        }
        // A summary that differs from this node's co-ops may hold what this node lacks.
        let mut summary_key = None;
        let response = match request {
            SyncMessage::Summary(digests) => {
                let mine: Vec<(CoopId, VersionVector)> = self
                    .ledgers
                    .iter()
                    .map(|(c, l)| (*c, l.ledger().version_vector()))
                    .collect();
                let ledgers = &self.ledgers;
                let answer = differing_vectors(&digests, mine.iter().map(|(c, v)| (c, v)), |c| {
                    ledgers
                        .get(c)
                        .map(|l| {
                            l.equivocations()
                                .map(|e| (e.log, e.seq))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                });
                // Hashed only when it differs: a summary may name thousands of co-ops.
                if matches!(&answer, SyncMessage::Vectors { vectors, .. } if !vectors.is_empty()) {
                    let parts: Vec<&[u8]> = digests
                        .iter()
                        .flat_map(|(c, d)| [c.0.as_bytes().as_slice(), d.as_bytes().as_slice()])
                        .collect();
                    summary_key = Some(Hash::of_parts(&parts));
                }
                answer
            }
            SyncMessage::WantProof { coop, log, seq } => SyncMessage::Entries {
                coop,
                entries: self
                    .ledgers
                    .get(&coop)
                    .and_then(|l| l.ledger().proof_at(&log, seq))
                    .map(|p| vec![p.first.encode(), p.second.encode()])
                    .unwrap_or_default(),
                more: false,
            },
            SyncMessage::WantPayloads { coop, hashes } => {
                let entries = if self.ledgers.contains_key(&coop) {
                    self.whole_entries(&coop, &hashes)
                } else {
                    Vec::new()
                };
                SyncMessage::Entries {
                    coop,
                    entries,
                    more: false,
                }
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
            m @ (SyncMessage::NetworkAsk { .. } | SyncMessage::Join { .. }) => {
                self.answer_network(peer, m)
            }
            // Vectors and Entries are answers, never requests.
            SyncMessage::Vectors { .. }
            | SyncMessage::Entries { .. }
            | SyncMessage::NetworkInfo { .. }
            | SyncMessage::JoinAnswer { .. } => {
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
        if let Some(key) = summary_key {
            self.pull_back(peer, key);
        }
    }

    /// A peer's summary differs from this node's: the peer may hold entries this node lacks
    /// (it is announcing them, see [`EventLoop::announce`]), so this node catches up from it
    /// in turn, once per distinct summary. Two nodes that stay different (one holds entries
    /// the other refuses) therefore do not pull from each other in a loop; a new summary,
    /// from an entry either side gains, is worth one more look. A session already running
    /// with the peer is already pulling from it: no second one is queued behind it (that
    /// would cost every catch-up a redundant round trip).
    fn pull_back(&mut self, peer: PeerId, key: Hash) {
        if self.sessions.contains_key(&peer) || self.pulled_back.get(&peer) == Some(&key) {
            return;
        }
        self.pulled_back.insert(peer, key);
        self.start_sync(peer);
    }

    /// A session brought entries gossip had not: this node's other peers may lack them as
    /// well (gossip never carried them), so it catches up with each. Its summary then tells
    /// each peer that it differs, and a peer that lacks the entries pulls them back
    /// ([`EventLoop::pull_back`]). Entries that arrive by catch-up so spread at once, not at
    /// the timer's next turn.
    fn announce(&mut self, except: PeerId) {
        let peers: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| **p != except)
            .copied()
            .collect();
        for p in peers {
            self.start_sync(p);
        }
    }

    /// The entries of `coop` with these hashes that this node holds whole, encoded, within
    /// one batch's bytes (what does not fit is asked for again in a later session).
    fn whole_entries(&self, coop: &CoopId, hashes: &[minga_protocol::EntryHash]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for hash in hashes {
            let Ok(Some(pos)) = self.store.entry_pos(coop, hash) else {
                continue;
            };
            let Ok(Some(e)) = self.store.entry(coop, &pos.log, pos.seq) else {
                continue;
            };
            // Held as a header only: nothing to give.
            if Entry::decode(&e).map_or(true, |e| e.payload.is_none()) {
                continue;
            }
            if bytes + e.len() > MAX_BATCH_BYTES && !out.is_empty() {
                break;
            }
            bytes += e.len();
            out.push(e);
        }
        out
    }

    pub(super) fn on_sync_response(&mut self, id: OutboundRequestId, response: SyncMessage) {
        if self.networks.asks.contains_key(&id) {
            self.on_network_answer(&id, response);
            return;
        }
        let Some((peer, tag)) = self.requests.remove(&id) else {
            return;
        };
        let s = self.stats.entry(peer).or_default();
        s.wire_in += wire_len(&response);
        if let SyncMessage::Entries { entries, .. } = &response {
            s.entries_in += entries.len() as u64;
            s.bytes_in += entries.iter().map(|e| e.len() as u64).sum::<u64>();
        }
        let ledgers = &self.ledgers;
        let actions = match self.sessions.get_mut(&peer) {
            Some(session) => session.on_answer(tag, response, Instant::now(), |c| {
                ledgers.get(c).map(|l| l.ledger().received_vector())
            }),
            None => return,
        };
        self.drive(peer, actions);
    }

    fn synced(&mut self, peer: PeerId, coop: CoopId, received: usize) {
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

    /// Keeps per-peer statistics bounded: past [`MAX_PEER_STATS`] peers, those of peers no
    /// longer connected go, the longest unsynced first.
    pub(super) fn trim_stats(&mut self) {
        let excess = self.stats.len().saturating_sub(MAX_PEER_STATS);
        if excess == 0 {
            return;
        }
        let mut gone: Vec<(Option<minga_protocol::Timestamp>, PeerId)> = self
            .stats
            .iter()
            .filter(|(p, _)| !self.swarm.is_connected(p))
            .map(|(p, s)| (s.last_synced, *p))
            .collect();
        gone.sort();
        for (_, p) in gone.into_iter().take(excess) {
            self.stats.remove(&p);
        }
    }
}
