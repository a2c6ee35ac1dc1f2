//! One catch-up with one peer, from the side that pulls, as a state machine with no I/O.
//!
//! The node feeds a [`SyncSession`] the peer's answers and what its ledgers hold, and carries
//! out the [`SyncAction`]s it returns: send a request, store a batch, report a co-op caught
//! up, end. The session holds everything a catch-up needs to be safe against a hostile or
//! broken peer:
//!
//! - every answer is checked against the request it answers: a summary is answered by
//!   vectors naming only co-ops asked about, a want by entries of the co-op asked for, each
//!   decoding and lying within the ranges wanted; anything else is a [`SyncViolation`] and
//!   ends the session;
//! - a co-op's pull ends as soon as a batch brings nothing new (the node reports what it
//!   received after storing each batch), so a peer cannot keep a session going;
//! - a proof asked for must be two entries that prove the fork named, and entries asked for
//!   by hash must be those, whole;
//! - every request has a deadline, returned as data ([`SyncSession::next_deadline`]);
//! - one session per peer: the node starts none while one runs.
//!
//! The responder's side needs no state: [`differing_vectors`](crate::differing_vectors) and
//! [`serve_wants`](crate::serve_wants) answer each request from what the node holds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::entry::{DecodeError, Entry, Equivocation};
use crate::hash::Hash;
use crate::ids::{CoopId, EntryHash, LogId};
use crate::sync::{
    MAX_COOPS, MAX_PAYLOAD_WANTS, MAX_WANTS, SyncMessage, VersionVector, Want, plan_wants,
};

mod answers;

use answers::{checked_entries, kind, on_payloads, on_proof};

/// The most equivocation proofs one session asks a peer for.
pub const MAX_PROOF_WANTS: usize = 64;
/// The most single positions one session asks a peer for to find where a log forked
/// ([`SyncSession::probe`]).
pub const MAX_PROBES: usize = 256;

/// What this node knows of one co-op beyond its digest, for a session to act on.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// Where this node's forked logs stop ([`crate::Ledger::fork`]).
    pub forks: BTreeMap<LogId, u64>,
    /// Entries held as headers whose payloads are still to fetch (at most
    /// [`MAX_PAYLOAD_WANTS`] are asked for).
    pub missing: Vec<EntryHash>,
}

/// The most requests a session keeps in flight; the rest wait their turn, so a node that
/// carries hundreds of co-ops does not open hundreds of streams to one peer at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// How long a peer has to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A request's tag, unique within a session; the node maps its transport's request ids to it.
pub type RequestTag = u64;

/// What the node does next for a session.
#[derive(Debug)]
pub enum SyncAction {
    /// Send this request to the peer; its answer comes back with `tag`.
    Send {
        /// The request's tag.
        tag: RequestTag,
        /// The request.
        message: SyncMessage,
    },
    /// Validate and store these entries of one co-op, then report with
    /// [`SyncSession::ingested`].
    Ingest {
        /// The co-op.
        coop: CoopId,
        /// The entries, decoded, in the order the peer sent them.
        entries: Vec<Entry>,
    },
    /// Store these entries of one co-op, asked for by hash for their payloads or by position
    /// to find a fork, then report the positions worth probing with [`SyncSession::probe`]
    /// (none, often).
    Attach {
        /// The co-op.
        coop: CoopId,
        /// The entries, whole.
        entries: Vec<Entry>,
    },
    /// Take this equivocation proof ([`crate::Ledger::add_proof`]); nothing to report back.
    Proof {
        /// The co-op.
        coop: CoopId,
        /// The proof, checked to be one ([`Equivocation::is_proof`]).
        proof: Box<Equivocation>,
    },
    /// This node now holds what the peer has of one co-op, or the pull stopped bringing
    /// anything new.
    Synced {
        /// The co-op.
        coop: CoopId,
        /// Entries the peer sent for it in this session.
        received: usize,
    },
    /// The peer broke the protocol: the session is over, and the peer is at fault.
    Violation(SyncViolation),
    /// The session is over.
    Done,
}

/// How a peer broke the catch-up protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncViolation {
    /// A request was answered with a request, or with the wrong kind of answer.
    #[error("answered a {asked} with a {found}")]
    WrongAnswer {
        /// What was asked.
        asked: &'static str,
        /// What came back.
        found: &'static str,
    },
    /// Vectors named a co-op the summary did not, or out of co-op order (so possibly twice).
    #[error("answered about co-op {0}, which was not asked about, or out of order")]
    UnaskedCoop(CoopId),
    /// Vectors that say `more` but give nothing: no progress.
    #[error("answered a summary with no vectors and `more`")]
    EmptyMore,
    /// Entries of another co-op than the one wanted.
    #[error("answered a want of co-op {expected} with entries of co-op {found}")]
    WrongCoop {
        /// The co-op wanted.
        expected: CoopId,
        /// The co-op given.
        found: CoopId,
    },
    /// An entry that does not decode.
    #[error("sent an entry that does not decode: {0}")]
    Malformed(#[source] DecodeError),
    /// An answer that could not be read at all (over its size limit, or not a sync message):
    /// the transport says so, and the node reports it here.
    #[error("sent an answer that cannot be read: {0}")]
    Unreadable(String),
    /// An entry outside the ranges wanted.
    #[error("sent entry {seq} of a log, which was not wanted")]
    Unwanted {
        /// Its sequence number.
        seq: u64,
    },
    /// An answer to a proof request that is not the proof asked for.
    #[error("answered a proof request with entries that prove no fork at the position asked")]
    BadProof,
    /// An answer to a payload request with an entry not asked for, or without its payload.
    #[error("answered a payload request with an entry not asked for, or without its payload")]
    NotAsked,
}

/// What a request in flight asked.
#[derive(Debug)]
enum Asked {
    /// A summary of these co-ops, in order.
    Summary(Vec<CoopId>),
    /// Ranges of one co-op.
    Want { coop: CoopId, ranges: Vec<Want> },
    /// The proof of a fork.
    Proof { coop: CoopId, log: LogId, seq: u64 },
    /// Single positions, to find where logs forked.
    Probe { coop: CoopId, ranges: Vec<Want> },
    /// Entries by hash.
    Payloads {
        coop: CoopId,
        hashes: BTreeSet<EntryHash>,
    },
}

#[derive(Debug)]
struct Request {
    asked: Asked,
    deadline: Instant,
}

/// One co-op being pulled.
#[derive(Debug)]
struct Pull {
    /// The peer's vector.
    remote: VersionVector,
    /// What this node had received when it asked for the batch in flight.
    before: VersionVector,
    /// Entries the peer sent in this session.
    received: usize,
}

/// One catch-up with one peer, from the side that pulls (see the module docs).
#[derive(Debug)]
pub struct SyncSession {
    next_tag: RequestTag,
    requests: BTreeMap<RequestTag, Request>,
    /// This node's digests, by co-op, for the summaries still to send or send again.
    digests: BTreeMap<CoopId, Hash>,
    /// Co-ops not yet named in a summary.
    unsummarized: BTreeSet<CoopId>,
    pulls: BTreeMap<CoopId, Pull>,
    /// What this node knows of each co-op beyond its digest.
    known: BTreeMap<CoopId, Known>,
    /// Forks asked about in this session.
    proofs_asked: BTreeSet<(CoopId, LogId, u64)>,
    /// Positions probed in this session.
    probed: BTreeSet<(CoopId, LogId, u64)>,
    /// Requests waiting for one in flight to end ([`MAX_IN_FLIGHT`]).
    queued: VecDeque<(Asked, SyncMessage)>,
    over: bool,
}

impl SyncSession {
    /// Starts a session with one digest per co-op this node carries: the first summary to
    /// send (at most [`MAX_COOPS`] co-ops per summary; the rest follow).
    pub fn start(digests: Vec<(CoopId, Hash)>, now: Instant) -> (SyncSession, Vec<SyncAction>) {
        SyncSession::start_with(digests, BTreeMap::new(), now)
    }

    /// [`SyncSession::start`], knowing more of some co-ops: their forks (proofs this node
    /// holds need not be asked for) and the payloads it misses, asked for at once.
    pub fn start_with(
        digests: Vec<(CoopId, Hash)>,
        known: BTreeMap<CoopId, Known>,
        now: Instant,
    ) -> (SyncSession, Vec<SyncAction>) {
        let digests: BTreeMap<CoopId, Hash> = digests.into_iter().collect();
        let mut s = SyncSession {
            next_tag: 0,
            requests: BTreeMap::new(),
            unsummarized: digests.keys().copied().collect(),
            digests,
            pulls: BTreeMap::new(),
            known,
            proofs_asked: BTreeSet::new(),
            probed: BTreeSet::new(),
            queued: VecDeque::new(),
            over: false,
        };
        let mut out = Vec::new();
        s.summarize(now, &mut out);
        let missing: Vec<(CoopId, Vec<EntryHash>)> = s
            .known
            .iter()
            .filter(|(c, k)| !k.missing.is_empty() && s.digests.contains_key(c))
            .map(|(c, k)| {
                (
                    *c,
                    k.missing.iter().take(MAX_PAYLOAD_WANTS).copied().collect(),
                )
            })
            .collect();
        for (coop, hashes) in missing {
            let message = SyncMessage::WantPayloads {
                coop,
                hashes: hashes.clone(),
            };
            let hashes = hashes.into_iter().collect();
            s.send(Asked::Payloads { coop, hashes }, message, now, &mut out);
        }
        s.settle(now, &mut out);
        (s, out)
    }

    /// Whether the session is over.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The earliest deadline of a request in flight: call [`SyncSession::on_timeout`] then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.requests.values().map(|r| r.deadline).min()
    }

    /// Takes the answer to request `tag`. `received(coop)` is what this node has received of
    /// a co-op it carries (its ledger's received vector), `None` for one it does not carry.
    pub fn on_answer(
        &mut self,
        tag: RequestTag,
        answer: SyncMessage,
        now: Instant,
        received: impl Fn(&CoopId) -> Option<VersionVector>,
    ) -> Vec<SyncAction> {
        let mut out = Vec::new();
        // An answer past its deadline, or after the session ended, is not waited for.
        let Some(request) = self.requests.remove(&tag).filter(|_| !self.over) else {
            return out;
        };
        let result = match (request.asked, answer) {
            (
                Asked::Summary(asked),
                SyncMessage::Vectors {
                    vectors,
                    forks,
                    more,
                },
            ) => self
                .on_vectors(&asked, vectors, more, now, &received, &mut out)
                .map(|()| self.on_forks(&asked, forks, now, &mut out)),
            (
                Asked::Proof { coop, log, seq },
                SyncMessage::Entries {
                    coop: c, entries, ..
                },
            ) => on_proof(coop, log, seq, c, entries, &mut out),
            (
                Asked::Probe { coop, ranges },
                SyncMessage::Entries {
                    coop: c, entries, ..
                },
            ) => checked_entries(coop, &ranges, c, entries).map(|entries| {
                if !entries.is_empty() {
                    out.push(SyncAction::Attach { coop, entries });
                }
            }),
            (
                Asked::Payloads { coop, hashes },
                SyncMessage::Entries {
                    coop: c, entries, ..
                },
            ) => on_payloads(coop, &hashes, c, entries, &mut out),
            (
                Asked::Want { coop, ranges },
                SyncMessage::Entries {
                    coop: c, entries, ..
                },
            ) => self.on_entries(coop, &ranges, c, entries, &mut out),
            (asked, found) => Err(SyncViolation::WrongAnswer {
                asked: match asked {
                    Asked::Summary(_) => "summary",
                    Asked::Want { .. } => "want",
                    Asked::Proof { .. } => "proof request",
                    Asked::Probe { .. } => "probe",
                    Asked::Payloads { .. } => "payload request",
                },
                found: kind(&found),
            }),
        };
        if let Err(v) = result {
            self.over = true;
            return vec![SyncAction::Violation(v)];
        }
        self.settle(now, &mut out);
        out
    }

    /// Reports what this node has received of `coop` after storing the batch the last
    /// [`SyncAction::Ingest`] gave (`None` if it no longer carries the co-op): asks for the
    /// next batch, or ends the co-op's pull when it is complete or the batch brought nothing.
    pub fn ingested(
        &mut self,
        coop: CoopId,
        received: Option<VersionVector>,
        now: Instant,
    ) -> Vec<SyncAction> {
        let mut out = Vec::new();
        if self.over {
            return out;
        }
        match (self.pulls.get_mut(&coop), received) {
            (Some(pull), Some(received)) if received != pull.before => {
                pull.before = received;
                self.want(coop, now, &mut out);
            }
            // Nothing new: the peer has nothing this node can take.
            (Some(_), _) => self.synced(coop, &mut out),
            (None, _) => {}
        }
        self.settle(now, &mut out);
        out
    }

    /// Asks the peer for single positions of logs whose entries contradict what this node
    /// holds (a back-link to another entry than the one held, or an equivocation whose two
    /// entries link back differently): the peer's entry there, stored, proves the fork where
    /// it is. At most [`MAX_PROBES`] positions per session, each once.
    pub fn probe(
        &mut self,
        coop: CoopId,
        positions: Vec<(LogId, u64)>,
        now: Instant,
    ) -> Vec<SyncAction> {
        let mut out = Vec::new();
        if self.over {
            return out;
        }
        let mut ranges = Vec::new();
        for (log, seq) in positions {
            if seq == 0 || self.probed.len() >= MAX_PROBES || !self.probed.insert((coop, log, seq))
            {
                continue;
            }
            ranges.push(Want {
                log,
                from: seq,
                to: seq,
            });
        }
        if !ranges.is_empty() {
            let message = SyncMessage::Want {
                coop,
                ranges: ranges.clone(),
            };
            self.send(Asked::Probe { coop, ranges }, message, now, &mut out);
        }
        self.settle(now, &mut out);
        out
    }

    /// The transport could not deliver request `tag` or its answer: the session ends.
    pub fn on_failure(&mut self, tag: RequestTag) -> Vec<SyncAction> {
        if self.over || self.requests.remove(&tag).is_none() {
            return Vec::new();
        }
        self.over = true;
        vec![SyncAction::Done]
    }

    /// Ends the session if a request in flight is past its deadline.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<SyncAction> {
        if self.over || self.next_deadline().is_none_or(|d| d > now) {
            return Vec::new();
        }
        self.over = true;
        vec![SyncAction::Done]
    }

    fn on_vectors(
        &mut self,
        asked: &[CoopId],
        vectors: Vec<(CoopId, VersionVector)>,
        more: bool,
        now: Instant,
        received: &impl Fn(&CoopId) -> Option<VersionVector>,
        out: &mut Vec<SyncAction>,
    ) -> Result<(), SyncViolation> {
        let open: BTreeSet<CoopId> = asked.iter().copied().collect();
        let mut last = None;
        for (coop, _) in &vectors {
            // In co-op order, each once, each asked about.
            if !open.contains(coop) || last.is_some_and(|l| l >= *coop) {
                return Err(SyncViolation::UnaskedCoop(*coop));
            }
            last = Some(*coop);
        }
        if more {
            // The co-ops after the last one answered may differ too: ask about them again.
            let Some(last) = last else {
                return Err(SyncViolation::EmptyMore);
            };
            self.unsummarized
                .extend(asked.iter().filter(|c| **c > last).copied());
        }
        // The co-ops the answer covers and leaves out are in step with the peer already.
        let answered: BTreeSet<CoopId> = vectors.iter().map(|(c, _)| *c).collect();
        for coop in asked {
            let covered = !more || last.is_some_and(|l| *coop <= l);
            if covered && !answered.contains(coop) && received(coop).is_some() {
                out.push(SyncAction::Synced {
                    coop: *coop,
                    received: 0,
                });
            }
        }
        for (coop, remote) in vectors {
            // A co-op this node stopped carrying meanwhile is skipped.
            let Some(before) = received(&coop) else {
                continue;
            };
            self.pulls.insert(
                coop,
                Pull {
                    remote,
                    before,
                    received: 0,
                },
            );
            self.want(coop, now, out);
        }
        self.summarize(now, out);
        Ok(())
    }

    /// Asks for the proofs of the forks the peer holds that this node does not (a fork at an
    /// earlier position of the same log already stops it), at most [`MAX_PROOF_WANTS`] per
    /// session.
    fn on_forks(
        &mut self,
        asked: &[CoopId],
        forks: Vec<(CoopId, LogId, u64)>,
        now: Instant,
        out: &mut Vec<SyncAction>,
    ) {
        let asked: BTreeSet<&CoopId> = asked.iter().collect();
        for (coop, log, seq) in forks {
            let known = self
                .known
                .get(&coop)
                .and_then(|k| k.forks.get(&log))
                .is_some_and(|at| *at <= seq);
            if known
                || !asked.contains(&coop)
                || self.proofs_asked.len() >= MAX_PROOF_WANTS
                || !self.proofs_asked.insert((coop, log, seq))
            {
                continue;
            }
            let message = SyncMessage::WantProof { coop, log, seq };
            self.send(Asked::Proof { coop, log, seq }, message, now, out);
        }
    }

    fn on_entries(
        &mut self,
        coop: CoopId,
        ranges: &[Want],
        found: CoopId,
        entries: Vec<Vec<u8>>,
        out: &mut Vec<SyncAction>,
    ) -> Result<(), SyncViolation> {
        let decoded = checked_entries(coop, ranges, found, entries)?;
        if let Some(pull) = self.pulls.get_mut(&coop) {
            pull.received += decoded.len();
        }
        out.push(SyncAction::Ingest {
            coop,
            entries: decoded,
        });
        Ok(())
    }

    /// Asks for what `coop` still lacks, or ends its pull when nothing is.
    fn want(&mut self, coop: CoopId, now: Instant, out: &mut Vec<SyncAction>) {
        let Some(pull) = self.pulls.get(&coop) else {
            return;
        };
        let mut ranges = plan_wants(&pull.before, &pull.remote);
        ranges.truncate(MAX_WANTS);
        if ranges.is_empty() {
            self.synced(coop, out);
            return;
        }
        let message = SyncMessage::Want {
            coop,
            ranges: ranges.clone(),
        };
        self.send(Asked::Want { coop, ranges }, message, now, out);
    }

    /// Sends the next summary, if co-ops remain to name and none is in flight.
    fn summarize(&mut self, now: Instant, out: &mut Vec<SyncAction>) {
        let in_flight = self
            .requests
            .values()
            .any(|r| matches!(r.asked, Asked::Summary(_)));
        if in_flight || self.unsummarized.is_empty() {
            return;
        }
        let coops: Vec<CoopId> = self.unsummarized.iter().take(MAX_COOPS).copied().collect();
        for c in &coops {
            self.unsummarized.remove(c);
        }
        let message = SyncMessage::Summary(
            coops
                .iter()
                .filter_map(|c| Some((*c, *self.digests.get(c)?)))
                .collect(),
        );
        self.send(Asked::Summary(coops), message, now, out);
    }

    /// Sends a request, or queues it while [`MAX_IN_FLIGHT`] are out.
    fn send(
        &mut self,
        asked: Asked,
        message: SyncMessage,
        now: Instant,
        out: &mut Vec<SyncAction>,
    ) {
        if self.requests.len() >= MAX_IN_FLIGHT {
            self.queued.push_back((asked, message));
            return;
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        self.requests.insert(
            tag,
            Request {
                asked,
                deadline: now + REQUEST_TIMEOUT,
            },
        );
        out.push(SyncAction::Send { tag, message });
    }

    fn synced(&mut self, coop: CoopId, out: &mut Vec<SyncAction>) {
        if let Some(pull) = self.pulls.remove(&coop) {
            out.push(SyncAction::Synced {
                coop,
                received: pull.received,
            });
        }
    }

    /// Sends what waits its turn, then ends the session once nothing is in flight, queued,
    /// pulled or still to summarize.
    fn settle(&mut self, now: Instant, out: &mut Vec<SyncAction>) {
        while self.requests.len() < MAX_IN_FLIGHT
            && !self.over
            && let Some((asked, message)) = self.queued.pop_front()
        {
            self.send(asked, message, now, out);
        }
        // The node reports back after storing (`ingested`, `probe`).
        let waiting_for_node = out
            .iter()
            .any(|a| matches!(a, SyncAction::Ingest { .. } | SyncAction::Attach { .. }));
        if !self.over
            && self.requests.is_empty()
            && self.queued.is_empty()
            && self.pulls.is_empty()
            && self.unsummarized.is_empty()
            && !waiting_for_node
        {
            self.over = true;
            out.push(SyncAction::Done);
        }
    }
}
