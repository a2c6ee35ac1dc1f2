//! Gossiped entries: each message is decoded as it arrives, and those that arrive together are
//! validated and stored in one commit. A message breaking a rule is rejected (its sender
//! penalised) at once; one whose entry was stored is accepted (and so forwarded by gossipsub)
//! only once the commit is on disk. The flush runs on one of tokio's blocking threads while
//! the event loop goes on: the node keeps serving its peers, its API and its other gossip
//! while its disk works, and acknowledges nothing before it is durable. (The node's own views
//! and its API see the entry as soon as it is committed, before the flush; so may a catch-up
//! it serves meanwhile. If the machine stops in that fraction of a millisecond, the entry is
//! gone from this node, which fetches it again; no peer was told this node holds it.)

use std::collections::BTreeMap;

use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use minga_protocol::{CoopId, Entry};

use super::NodeEvent;
use super::event_loop::EventLoop;

/// The most gossiped entries held before they are committed.
const GOSSIP_BATCH: usize = 256;

/// The most commits waiting for their flush; past it, a commit flushes before the event loop
/// goes on (a disk slower than the gossip it gets holds the node back, not its memory).
pub(super) const MAX_UNFLUSHED: usize = 64;

/// What waits for a commit's flush: the messages to accept, and the events to emit.
pub(super) struct Durable {
    flushed: Result<(), crate::store::StoreError>,
    accept: Vec<(MessageId, PeerId)>,
    events: Vec<NodeEvent>,
}

/// A commit's flush, resolving to what waited for it.
pub(super) type Flushing = futures::future::BoxFuture<'static, Durable>;

/// A gossiped entry waiting for its batch's commit.
pub(super) struct Gossiped {
    id: MessageId,
    from: PeerId,
    entry: Entry,
}

impl EventLoop {
    /// Takes a gossip message: a message that does not decode, or names a co-op this node
    /// does not carry, is answered at once; an entry waits for the batch's commit.
    pub(super) fn on_gossip(&mut self, id: MessageId, from: PeerId, data: &[u8]) {
        let entry = match Entry::decode(data) {
            Ok(e) => e,
            Err(e) => {
                self.metrics.rejected("undecodable");
                self.emit(NodeEvent::Rejected {
                    from,
                    reason: e.to_string(),
                });
                self.report(&id, &from, MessageAcceptance::Reject);
                return;
            }
        };
        if !self.ledgers.contains_key(&entry.header.coop) {
            self.report(&id, &from, MessageAcceptance::Ignore);
            return;
        }
        self.gossip.push(Gossiped { id, from, entry });
        if self.gossip.len() >= GOSSIP_BATCH {
            self.flush_gossip();
        }
    }

    fn report(&mut self, id: &MessageId, from: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, from, acceptance);
    }

    /// Validates and stores the waiting gossiped entries, one commit per co-op, then answers
    /// each message: accepted when its entry was stored, rejected (its sender penalised) only
    /// when it broke a rule whatever this node holds, ignored otherwise: already held, refused
    /// for what this node holds and the sender may not (a revocation, an equivocating twin),
    /// the buffer full, or waiting for what it depends on (which catch-up with its sender
    /// then fetches).
    pub(super) fn flush_gossip(&mut self) {
        if self.gossip.is_empty() {
            return;
        }
        let store = self.store.clone();
        let deferred = (self.unflushed.len() < MAX_UNFLUSHED).then(|| store.defer_flushes());
        let mut accept = Vec::new();
        let mut events = Vec::new();
        let mut by_coop: BTreeMap<CoopId, Vec<Gossiped>> = BTreeMap::new();
        for g in std::mem::take(&mut self.gossip) {
            by_coop.entry(g.entry.header.coop).or_default().push(g);
        }
        for (coop, batch) in by_coop {
            let cap = self.pending_share(&coop);
            let Some(ledger) = self.ledgers.get_mut(&coop) else {
                continue;
            };
            let hashes: Vec<_> = batch.iter().map(|g| g.entry.hash()).collect();
            let entries = batch.iter().map(|g| g.entry.clone()).collect();
            let result = ledger.ingest_within(entries, cap);
            self.absorb_views(&coop);
            let report = match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "could not store gossiped entries");
                    for g in &batch {
                        self.report(&g.id, &g.from, MessageAcceptance::Ignore);
                    }
                    continue;
                }
            };
            self.tell_proofs(&report.proofs);
            let rejected: BTreeMap<_, _> = report.rejected.into_iter().collect();
            for (hash, reason) in &report.ignored {
                tracing::debug!(entry = %hash.short(), %reason, "ignored a gossiped entry");
            }
            let accepted: std::collections::HashSet<_> = report.accepted.iter().copied().collect();
            let mut applied: BTreeMap<PeerId, Vec<_>> = BTreeMap::new();
            for (g, hash) in batch.iter().zip(&hashes) {
                let acceptance = if let Some(reason) = rejected.get(hash) {
                    self.metrics.rejected(reason.label());
                    tracing::warn!(peer = %g.from, %reason, "rejected a gossiped entry");
                    self.emit(NodeEvent::Rejected {
                        from: g.from,
                        reason: reason.to_string(),
                    });
                    MessageAcceptance::Reject
                } else if accepted.contains(hash) {
                    applied.entry(g.from).or_default().push(*hash);
                    accept.push((g.id.clone(), g.from));
                    continue;
                } else {
                    if report.waiting > 0 {
                        self.start_sync(g.from);
                    }
                    MessageAcceptance::Ignore
                };
                self.report(&g.id, &g.from, acceptance);
            }
            // Entries this batch unblocked from the waiting buffer count too.
            let carried: std::collections::HashSet<_> = hashes.iter().collect();
            let unblocked: Vec<_> = report
                .accepted
                .iter()
                .filter(|h| !carried.contains(h))
                .copied()
                .collect();
            for (from, entries) in applied {
                events.push(NodeEvent::Applied {
                    coop,
                    entries,
                    from: Some(from),
                });
            }
            if !unblocked.is_empty() {
                events.push(NodeEvent::Applied {
                    coop,
                    entries: unblocked,
                    from: None,
                });
            }
        }
        if deferred.is_none() {
            // Flushed already, commit by commit.
            self.on_durable(Durable {
                flushed: Ok(()),
                accept,
                events,
            });
            return;
        }
        drop(deferred);
        let flushed = store.flushed();
        self.unflushed.push_back(Box::pin(async move {
            Durable {
                flushed: flushed.await,
                accept,
                events,
            }
        }));
    }

    /// A commit is on disk: its messages are accepted (gossipsub forwards them) and its
    /// entries announced. If the flush failed they are ignored instead: not forwarded, and
    /// not held against their senders.
    pub(super) fn on_durable(&mut self, durable: Durable) {
        let acceptance = match durable.flushed {
            Ok(()) => MessageAcceptance::Accept,
            Err(e) => {
                tracing::error!(error = %e, "could not flush gossiped entries to disk");
                MessageAcceptance::Ignore
            }
        };
        for (id, from) in &durable.accept {
            self.report(id, from, acceptance);
        }
        for event in durable.events {
            self.emit(event);
        }
    }
}
