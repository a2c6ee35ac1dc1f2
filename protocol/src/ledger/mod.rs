//! Applying validated entries: one ledger logic over any [`LedgerStore`], so the node's
//! sled-backed ledger and the in-memory [`MemoryLedger`] (tests, the reference) apply entries
//! identically.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use automerge::AutoCommit;

use crate::entry::{Entry, EntryKind, Equivocation};
use crate::hash::Hash;
use crate::ids::{DeviceId, EntryHash, LogId, RecordId};
use crate::keys::{LogAuthor, PublicKey};
use crate::membership::Role;
use crate::membership::{Carrier, Membership};
use crate::record::{Record, RecordKind};
use crate::sync::VersionVector;
use crate::time::{Clock, SystemClock, Timestamp};

mod fork;
mod memory;
mod pending;
mod rebuild;

use crate::validate::{
    EntryError, LedgerView, Outcome, RecordState, author_change, check_edit, validate,
};
pub use memory::MemoryLedgerStore;

/// Where a [`Ledger`] keeps entries and record states.
pub trait LedgerStore {
    /// The highest sequence number held for a log, and that entry's hash.
    fn log_head(&self, log: &LogId) -> Option<(u64, EntryHash)>;
    /// The entry held at a position.
    fn entry_at(&self, log: &LogId, seq: u64) -> Option<Entry>;
    /// A record's state.
    fn record_state(&self, id: &RecordId) -> Option<RecordState>;
    /// Every record id held, in order.
    fn record_ids(&self) -> Vec<RecordId>;
    /// The ids of the membership records held (certificates, revocations, rotations, device
    /// links): what rebuilding membership reads. Others may be included; they are skipped.
    /// The default looks at every record; a store that indexes them answers without.
    fn membership_record_ids(&self) -> Vec<RecordId> {
        self.record_ids()
            .into_iter()
            .filter(|id| {
                self.record_state(id)
                    .is_some_and(|s| s.kind.is_some_and(RecordKind::is_membership))
            })
            .collect()
    }
    /// Positions of every entry held for a record.
    fn record_entries(&self, id: &RecordId) -> Vec<(LogId, u64)>;
    /// Stores an entry at its position: the next one of its log, or a held one again with
    /// its payload attached or detached.
    fn put_entry(&mut self, entry: Entry);
    /// Stores a record's state, with its value when the caller has read it (a store may keep
    /// views of it); `None` for a record without readable content (pruned, or its payload
    /// still missing).
    fn put_record(&mut self, id: RecordId, state: RecordState, value: Option<&Record>);
    /// Removes a log's entries from `from` on (a revocation cut them off).
    fn truncate_log(&mut self, log: &LogId, from: u64);
    /// Forgets a record whose creating entry was cut off.
    fn remove_record(&mut self, id: &RecordId);
    /// Each log's head.
    fn version_vector(&self) -> VersionVector;
    /// The entries a revocation cut off and that are kept in case it is voided (at most
    /// [`MAX_DORMANT`]), so they survive a restart.
    fn dormant_entries(&self) -> Vec<Entry>;
    /// Keeps an entry a revocation cut off.
    fn put_dormant(&mut self, entry: Entry);
    /// Forgets a kept entry (it applied again, or its log moved past it).
    fn remove_dormant(&mut self, log: &LogId, seq: u64);
    /// The equivocation proofs kept (at most [`MAX_EQUIVOCATIONS`]), so that a log stopped
    /// at a fork stays stopped after a restart.
    fn proofs(&self) -> Vec<Equivocation>;
    /// Keeps an equivocation proof.
    fn put_proof(&mut self, proof: &Equivocation);
    /// The entries held as headers whose payloads are still to fetch (a withdrawal that held
    /// them was voided), so the node keeps asking for them after a restart.
    fn missing_payloads(&self) -> Vec<EntryHash>;
    /// Marks an entry's payload as missing, or no longer missing.
    fn set_missing(&mut self, hash: EntryHash, missing: bool);
}

/// The most entries a [`Ledger`] keeps waiting for their predecessors.
pub const MAX_PENDING: usize = 4096;
/// The most payload bytes those waiting entries may hold together.
pub const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;
/// How long an entry may wait for what it depends on: one hour. Past it, [`Ledger::retry`]
/// lets it go; it is not counted as received any more, so catch-up fetches it again if it
/// can ever apply.
pub const PENDING_TTL_MS: i64 = 60 * 60 * 1000;
/// The most entries one author may keep waiting.
pub const MAX_PENDING_PER_AUTHOR: usize = 512;
/// The most entries that keys no statement names may keep waiting, together. A certificate
/// may yet arrive for a new member, but a stranger's key never becomes valid: strangers share
/// this small quota, so they cannot crowd out what members' entries wait for.
pub const MAX_PENDING_UNKNOWN: usize = 256;
/// The most equivocation proofs a [`Ledger`] keeps: one per log position.
pub const MAX_EQUIVOCATIONS: usize = 1024;
/// The most equivocation proofs kept of one author's logs, so that one key signing twice on
/// many devices cannot take the room that proofs of other keys need.
pub const MAX_EQUIVOCATIONS_PER_AUTHOR: usize = 16;
/// The most entries a [`Ledger`] keeps after a revocation cut them off, in case the
/// revocation itself is voided later (its issuer revoked before it): they then come back.
pub const MAX_DORMANT: usize = 4096;

/// What ingesting one entry did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Entries accepted, this one and any waiting ones it unblocked, in order.
    pub accepted: Vec<EntryHash>,
    /// Whether this entry now waits for something it depends on.
    pub waiting: bool,
}

/// One co-op's ledger: validates entries, applies them to a [`LedgerStore`], keeps the ones
/// that wait for predecessors in a bounded buffer, and records equivocations.
#[derive(Debug)]
pub struct Ledger<S> {
    membership: Membership,
    store: S,
    pending: BTreeMap<(LogId, u64), Entry>,
    /// When each waiting entry began to wait.
    pending_since: BTreeMap<(LogId, u64), Timestamp>,
    pending_bytes: usize,
    /// How many waiting entries each author has.
    pending_authors: HashMap<PublicKey, usize>,
    /// The waiting buffer's limits in entries and bytes: [`MAX_PENDING`] and
    /// [`MAX_PENDING_BYTES`], or less where a node shares one budget among its ledgers.
    pending_cap: (usize, usize),
    equivocations: BTreeMap<(LogId, u64), Equivocation>,
    /// Where each forked log stops: the lowest position its key signed twice (co-op keys'
    /// logs excepted: their misuse is decided by the rotations).
    forks: BTreeMap<LogId, u64>,
    /// For a co-op expelled from a network: per log, the last entry kept (a log not named
    /// keeps nothing). Set by the node from the network's admission, never stored here.
    expelled: Option<BTreeMap<LogId, u64>>,
    /// A copy of what the store keeps ([`LedgerStore::missing_payloads`]).
    missing_payloads: BTreeSet<EntryHash>,
    /// Entries once accepted, then cut off by a revocation: retried when membership changes.
    /// A copy of what the store keeps ([`LedgerStore::dormant_entries`]).
    dormant: BTreeMap<(LogId, u64), Entry>,
    clock: Arc<dyn Clock>,
}

/// A ledger held entirely in memory.
pub type MemoryLedger = Ledger<MemoryLedgerStore>;

impl<S: LedgerStore> LedgerView for Ledger<S> {
    fn membership(&self) -> &Membership {
        &self.membership
    }
    fn log_head(&self, log: &LogId) -> Option<(u64, EntryHash)> {
        self.store.log_head(log)
    }
    fn entry_at(&self, log: &LogId, seq: u64) -> Option<Entry> {
        self.store.entry_at(log, seq)
    }
    fn record_state(&self, id: &RecordId) -> Option<RecordState> {
        self.store.record_state(id)
    }
    fn now(&self) -> Timestamp {
        self.clock.now()
    }
    fn fork_at(&self, log: &LogId) -> Option<u64> {
        self.forks.get(log).copied()
    }
    fn expelled_from(&self, log: &LogId) -> Option<u64> {
        self.expelled
            .as_ref()
            .map(|cut| cut.get(log).map_or(1, |last| last.saturating_add(1)))
    }
    /// A prune held, or one waiting for the entries before it in its log (often the very
    /// headers it withdrew) whose author may withdraw at its position: its signature was
    /// checked before it could wait.
    fn prune_held(&self, record: &RecordId) -> bool {
        let held = self
            .store
            .record_entries(record)
            .into_iter()
            .any(|(log, seq)| {
                self.store
                    .entry_at(&log, seq)
                    .is_some_and(|e| e.header.kind == EntryKind::Prune)
            });
        held || self.pending.values().any(|e| {
            let h = &e.header;
            h.kind == EntryKind::Prune
                && e.record_id() == *record
                && self
                    .membership
                    .authorize(&h.log(), h.seq, h.timestamp)
                    .is_ok_and(|role| role >= Role::Coordinator)
        })
    }
}

impl MemoryLedger {
    /// An empty in-memory ledger for the co-op that `membership` describes.
    pub fn new(membership: Membership) -> MemoryLedger {
        Ledger::with_store(membership, MemoryLedgerStore::default())
    }
}

impl<S: LedgerStore> Ledger<S> {
    /// A ledger over `store`, whose membership state is `membership` (the caller restores it
    /// from the store's certificate records when reopening).
    pub fn with_store(membership: Membership, store: S) -> Ledger<S> {
        let dormant = store
            .dormant_entries()
            .into_iter()
            .map(|e| ((e.header.log(), e.header.seq), e))
            .collect();
        let missing_payloads = store.missing_payloads().into_iter().collect();
        let proofs = store.proofs();
        let mut ledger = Ledger {
            membership,
            store,
            pending: BTreeMap::new(),
            pending_since: BTreeMap::new(),
            pending_bytes: 0,
            pending_authors: HashMap::new(),
            pending_cap: (MAX_PENDING, MAX_PENDING_BYTES),
            equivocations: BTreeMap::new(),
            forks: BTreeMap::new(),
            expelled: None,
            missing_payloads,
            dormant,
            clock: Arc::new(SystemClock),
        };
        for proof in proofs {
            ledger.restore_proof(proof);
        }
        ledger
    }

    /// The same ledger reading the time from `clock` (tests set the time by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Ledger<S> {
        self.clock = clock;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, to take what was written (a node commits it durably).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Validates and applies an entry; one that may become valid later waits (bounded, with
    /// quotas: [`MAX_PENDING_PER_AUTHOR`], [`MAX_PENDING_UNKNOWN`]). Applying an entry retries
    /// the waiting ones it may have unblocked: the next of its own log, and every log when it
    /// changes who may write or withdraws a record.
    pub fn ingest(&mut self, entry: Entry) -> Result<Ingested, EntryError> {
        let mut out = Ingested::default();
        match validate(&entry, self) {
            Ok(outcome) => {
                let scope = if unblocks(&outcome) {
                    None
                } else {
                    Some(entry.header.log())
                };
                if let Some(hash) = self.apply(entry, outcome) {
                    out.accepted.push(hash);
                    self.retry_pending(&mut out.accepted, scope);
                }
                Ok(out)
            }
            Err(e) if e.may_resolve_later() => {
                let withdraws = (entry.header.kind == EntryKind::Prune).then(|| entry.record_id());
                if !self.wait(entry) {
                    return Err(EntryError::PendingFull(self.pending.len()));
                }
                out.waiting = true;
                // Headers of the record it withdraws may wait for it: only their logs are
                // tried again (a prune costs strangers nothing to sign).
                if let Some(record) = withdraws {
                    let logs: BTreeSet<LogId> = self
                        .pending
                        .values()
                        .filter(|e| e.payload.is_none() && e.record_id() == record)
                        .map(|e| e.header.log())
                        .collect();
                    for log in logs {
                        self.retry_pending(&mut out.accepted, Some(log));
                    }
                }
                Ok(out)
            }
            Err(EntryError::Equivocation(proof)) => {
                self.add_proof(&proof);
                Err(EntryError::Equivocation(proof))
            }
            Err(e) => Err(e),
        }
    }

    /// Retries what waits (entries stamped ahead of the clock, say), after letting go of
    /// what waited longer than [`PENDING_TTL_MS`]: a node calls it from time to time.
    /// Returns the entries that applied.
    pub fn retry(&mut self) -> Vec<EntryHash> {
        let now = self.clock.now();
        let expired: Vec<(LogId, u64)> = self
            .pending_since
            .iter()
            .filter(|(_, since)| now.0.saturating_sub(since.0) > PENDING_TTL_MS)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.take_pending(&k);
        }
        let mut accepted = Vec::new();
        self.retry_pending(&mut accepted, None);
        accepted
    }

    fn apply(&mut self, entry: Entry, outcome: Outcome) -> Option<EntryHash> {
        let revokes = matches!(&outcome, Outcome::Change { value, .. }
            if matches!(value.kind(), RecordKind::Revocation | RecordKind::Rotation));
        let recreated = matches!(&outcome, Outcome::Change { created: true, record, .. }
            if !self.store.record_entries(record).is_empty())
        .then(|| entry.record_id());
        let before = revokes.then(|| self.membership.clone());
        let hash = self.apply_outcome(entry, outcome);
        // A creation restored after a voided revocation: the edits others made to the
        // record while it was cut off are still held, so the document is rebuilt with them.
        if let Some(id) = recreated {
            self.rebuild_record(id);
        }
        if let Some(before) = before {
            self.enforce_revocations(before);
        }
        hash
    }

    fn apply_outcome(&mut self, entry: Entry, outcome: Outcome) -> Option<EntryHash> {
        let hash = entry.hash();
        let mut entry = entry;
        match outcome {
            Outcome::Duplicate => return None,
            Outcome::Change {
                record,
                attach,
                mut doc,
                value,
                ..
            } => {
                // Membership statements are held once their entry is accepted (validation
                // already checked their form); what they do follows from where they were
                // written.
                let carrier = entry.carrier();
                let _ = match value.as_ref() {
                    Record::Certificate(c) => self.membership.add_certificate(c.clone(), carrier),
                    Record::Revocation(r) => self.membership.add_revocation(r.clone(), carrier),
                    Record::Rotation(r) => self.membership.add_rotation(r.clone(), carrier),
                    Record::Device(d) => self.membership.add_device(d.clone(), carrier),
                    _ => Ok(false),
                };
                self.store.put_record(
                    record,
                    RecordState {
                        kind: Some(value.kind()),
                        // A new record's document is its one creating change: automerge
                        // loads a change chunk as a document, so the change's own bytes are
                        // kept rather than the document saved again (a fifth of the work of
                        // taking in a new record, by instructions).
                        doc: match &entry.payload {
                            Some(change) => change.clone(),
                            None => doc.save(),
                        },
                        pruned: false,
                    },
                    Some(&value),
                );
                if attach {
                    self.mark_missing(hash, false);
                    self.store.put_entry(entry);
                    return Some(hash);
                }
            }
            Outcome::Detached { record } => {
                // A header of a withdrawn record: validation held the prune. If the record was
                // not known yet, the prune withdraws it now that its entries arrive.
                let known = self.store.record_state(&record).is_some();
                if !known {
                    let state = RecordState {
                        kind: None,
                        doc: Vec::new(),
                        pruned: false,
                    };
                    self.store.put_record(record, state, None);
                }
                entry.payload = None;
                self.store.put_entry(entry);
                if !known {
                    self.rebuild_record(record);
                }
                return Some(hash);
            }
            Outcome::Edit { record, attach } => {
                if attach {
                    self.mark_missing(hash, false);
                }
                self.store.put_entry(entry);
                self.rebuild_record(record);
                return Some(hash);
            }
            Outcome::Prune { record } => {
                self.store.put_entry(entry);
                self.rebuild_record(record);
                return Some(hash);
            }
        }
        self.store.put_entry(entry);
        Some(hash)
    }

    /// Writes a record edit as a new entry of this device's log, applies it, and returns it.
    /// `record_id` is `None` to create a record.
    pub fn write(
        &mut self,
        key: &impl LogAuthor,
        device: DeviceId,
        record_id: Option<RecordId>,
        record: &Record,
        at: Timestamp,
    ) -> Result<Entry, EntryError> {
        let log = LogId {
            author: key.secret().public(),
            device,
        };
        let at = self.not_before_head(&log, at);
        let Some(id) = record_id else {
            let payload = author_change(None, &log, record, at)?;
            return self.append(key, device, None, EntryKind::Change, payload, at);
        };
        let state = self
            .store
            .record_state(&id)
            .filter(|s| !s.pruned)
            .ok_or(EntryError::UnknownRecord(id))?;
        let kind = state.kind.ok_or(EntryError::UnknownRecord(id))?;
        let payload = author_change(Some(&state.doc), &log, record, at)?;
        // Held to the rules its record will apply, so a local edit without effect is refused
        // here rather than written.
        let next = self.log_head(&log).map_or(1, |(seq, _)| seq + 1);
        let role = self.membership.authorize(&log, next, at)?;
        let change = automerge::Change::from_bytes(payload.clone())
            .map_err(|e| EntryError::BadChange(e.to_string()))?;
        let mut doc = AutoCommit::load(&state.doc).map_err(|e| EntryError::Apply(e.to_string()))?;
        check_edit(&mut doc, &change, kind, role)?;
        self.append(key, device, Some(id), EntryKind::Change, payload, at)
    }

    /// Withdraws an offer or a need for real with a prune entry.
    pub fn prune(
        &mut self,
        key: &impl LogAuthor,
        device: DeviceId,
        record_id: RecordId,
        at: Timestamp,
    ) -> Result<Entry, EntryError> {
        let state = self
            .store
            .record_state(&record_id)
            .ok_or(EntryError::UnknownRecord(record_id))?;
        if let Some(kind) = state
            .kind
            .filter(|k| !matches!(k, RecordKind::Offer | RecordKind::Need))
        {
            return Err(EntryError::PruneKind(kind));
        }
        self.append(
            key,
            device,
            Some(record_id),
            EntryKind::Prune,
            Vec::new(),
            at,
        )
    }

    fn append(
        &mut self,
        key: &impl LogAuthor,
        device: DeviceId,
        record_id: Option<RecordId>,
        kind: EntryKind,
        payload: Vec<u8>,
        at: Timestamp,
    ) -> Result<Entry, EntryError> {
        let log = LogId {
            author: key.secret().public(),
            device,
        };
        let at = self.not_before_head(&log, at);
        let (seq, prev) = self
            .log_head(&log)
            .map_or((1, EntryHash(Hash::ZERO)), |(s, h)| (s + 1, h));
        // Validation takes a co-op key's statement past its cut-offs (it counts for nothing
        // there); this node does not write one.
        if self.membership.coop_key_epoch(&log.author).is_some() {
            self.membership.authorize(&log, seq, at)?;
        }
        let entry = Entry::sign(
            key,
            self.membership.coop(),
            device,
            seq,
            prev,
            record_id.unwrap_or_default(),
            kind,
            payload,
            at,
        );
        let outcome = validate(&entry, self)?;
        let scope = if unblocks(&outcome) { None } else { Some(log) };
        self.apply(entry.clone(), outcome);
        // What waited on this entry (a certificate, a voided revocation) applies now too.
        self.retry_pending(&mut Vec::new(), scope);
        Ok(entry)
    }

    /// `at`, or the time of the log's last entry if that is later (the machine's clock went
    /// back): timestamps never decrease within a log.
    fn not_before_head(&self, log: &LogId, at: Timestamp) -> Timestamp {
        self.log_head(log)
            .and_then(|(seq, _)| self.store.entry_at(log, seq))
            .map_or(at, |e| at.max(e.header.timestamp))
    }

    /// The membership state.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// One record's current value (`None` if unknown, pruned or unreadable).
    pub fn record(&self, id: &RecordId) -> Option<Record> {
        let state = self.store.record_state(id).filter(|s| !s.pruned)?;
        let doc = AutoCommit::load(&state.doc).ok()?;
        Record::read(&doc).ok()
    }

    /// Every live record, by id.
    pub fn records(&self) -> BTreeMap<RecordId, Record> {
        self.store
            .record_ids()
            .into_iter()
            .filter_map(|id| Some((id, self.record(&id)?)))
            .collect()
    }

    /// Whether a record was withdrawn by a prune entry.
    pub fn is_pruned(&self, id: &RecordId) -> bool {
        self.store.record_state(id).is_some_and(|s| s.pruned)
    }

    /// Entries of one log from `from` to `to` inclusive, in order.
    pub fn entries(&self, log: &LogId, from: u64, to: u64) -> Vec<Entry> {
        (from..=to)
            .map_while(|s| self.store.entry_at(log, s))
            .collect()
    }

    /// Every entry held, log by log in order.
    pub fn all_entries(&self) -> Vec<Entry> {
        self.store
            .version_vector()
            .iter()
            .flat_map(|(log, head)| self.entries(log, 1, *head))
            .collect()
    }

    /// What this ledger holds: each log's highest sequence number.
    pub fn version_vector(&self) -> VersionVector {
        self.store.version_vector()
    }

    /// What this ledger has received: [`MemoryLedger::version_vector`] advanced over the
    /// entries that wait, contiguously, in the pending buffer. Catch-up plans from this, so it
    /// never asks twice for entries it holds but cannot apply yet; a header waiting for its
    /// payload is not received, so catch-up asks for the whole entry again.
    ///
    /// A log stopped at a fork counts as received in full: nothing more of it is taken, so
    /// nothing more is asked for.
    pub fn received_vector(&self) -> VersionVector {
        let mut vv = self.version_vector();
        for log in self.forks.keys() {
            vv.advance(*log, u64::MAX);
        }
        if self.expelled.is_some() {
            let logs: Vec<LogId> = vv.iter().map(|(l, _)| *l).collect();
            for log in logs {
                vv.advance(log, u64::MAX);
            }
        }
        for ((log, seq), e) in &self.pending {
            if e.payload.is_some() && vv.get(log) + 1 == *seq {
                vv.advance(*log, *seq);
            }
        }
        vv
    }

    /// Entries waiting for their predecessors.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Entries waiting because they are stamped more than [`crate::MAX_CLOCK_SKEW_MS`] ahead
    /// of this ledger's clock. Many of them, from several authors, mean this machine's clock
    /// is behind.
    pub fn waiting_ahead(&self) -> usize {
        let limit = self.clock.now().0.saturating_add(crate::MAX_CLOCK_SKEW_MS);
        self.pending
            .values()
            .filter(|e| e.header.timestamp.0 > limit)
            .count()
    }

    /// Entries waiting, and the payload bytes they hold.
    pub fn pending_usage(&self) -> (usize, usize) {
        (self.pending.len(), self.pending_bytes)
    }

    /// Caps the waiting buffer at `entries` and `bytes`, below its own limits ([`MAX_PENDING`],
    /// [`MAX_PENDING_BYTES`]): a node that carries many co-ops gives each ledger what the
    /// others leave of one budget. Entries already waiting stay; new ones wait only within
    /// the cap.
    pub fn cap_pending(&mut self, entries: usize, bytes: usize) {
        self.pending_cap = (entries.min(MAX_PENDING), bytes.min(MAX_PENDING_BYTES));
    }

    /// Entries held as headers whose record is not withdrawn: their payloads are still to
    /// fetch (the same entry arriving whole fills them in).
    pub fn missing_payloads(&self) -> &BTreeSet<EntryHash> {
        &self.missing_payloads
    }

    /// Equivocations seen, one per log position (at most [`MAX_EQUIVOCATIONS`]): proof that
    /// a key signed two entries at one position.
    pub fn equivocations(&self) -> impl ExactSizeIterator<Item = &Equivocation> {
        self.equivocations.values()
    }
}

/// Whether an applied entry may unblock entries of other logs: a membership statement (a
/// certificate that waiting entries' authors need, say) or a withdrawal (headers of its
/// record wait for it).
fn unblocks(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Change { value, .. } => value.kind().is_membership(),
        Outcome::Prune { .. } => true,
        Outcome::Duplicate | Outcome::Edit { .. } | Outcome::Detached { .. } => false,
    }
}

/// Membership from a genesis and membership statements, each with the entry that carries
/// it, in any order; other records are ignored. The result depends only on the set given.
pub fn membership_from(
    genesis: crate::canonical::Signed<crate::coop::Genesis>,
    statements: impl IntoIterator<Item = (Record, Carrier)>,
) -> Membership {
    let mut membership = Membership::new(genesis);
    membership.extend(statements);
    membership
}
