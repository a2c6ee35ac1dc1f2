//! What a batch changes, staged in memory and committed to the store in one atomic write: the
//! [`LedgerStore`] the protocol's ledger runs on inside a node, and the keys under which the
//! ledger's own views (membership, equivocation proofs, dormant entries, missing payloads,
//! record views) are kept.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use minga_protocol::{
    CoopId, Entry, EntryHash, Equivocation, LedgerStore, LogId, Record, RecordId, RecordKind,
    RecordState, Timestamp, VersionVector,
};

use super::LedgerError;
use crate::store::{EntryPos, Store, StoreError, StoredEntry, StoredRecord, WriteBatch};
use crate::views::RecordView;

/// View-key prefix under which membership statements are kept, so opening a ledger restores
/// who may write without reading every record.
pub(super) const MEMBERSHIP_VIEW: &[u8] = b"membership/";
/// View-key prefix under which equivocation proofs are kept, both entries of each, so the
/// proof that a key signed two entries at one position survives a restart and can be shown.
pub(super) const EQUIVOCATION_VIEW: &[u8] = b"equivocation/";

/// One equivocation this node holds proof of: the log position and the two entries' hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Equivocated {
    /// The log.
    pub log: LogId,
    /// The position signed twice.
    pub seq: u64,
    /// The entry held first.
    pub first: EntryHash,
    /// The conflicting entry.
    pub second: EntryHash,
}

/// View-key prefix under which entries a revocation cut off are kept, in case it is voided.
pub(super) const DORMANT_VIEW: &[u8] = b"dormant/";

/// A view key for one position of one log of a co-op, under `prefix`.
fn position_key(prefix: &[u8], coop: &CoopId, log: &LogId, seq: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(coop.as_bytes());
    k.extend_from_slice(log.author.as_bytes());
    k.extend_from_slice(&log.device.0.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A proof as stored: the first entry's length (u32, big-endian), then both entries.
fn encode_proof(p: &Equivocation) -> Vec<u8> {
    let first = p.first.encode();
    let mut v = (first.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&first);
    v.extend_from_slice(&p.second.encode());
    v
}

fn decode_proof(v: &[u8]) -> Option<Equivocation> {
    let (len, rest) = v.split_first_chunk::<4>()?;
    let (first, second) = rest.split_at_checked(u32::from_be_bytes(*len) as usize)?;
    Some(Equivocation {
        first: Entry::decode(first).ok()?,
        second: Entry::decode(second).ok()?,
    })
}

impl From<&Equivocation> for Equivocated {
    fn from(p: &Equivocation) -> Equivocated {
        Equivocated {
            log: p.first.header.log(),
            seq: p.first.header.seq,
            first: p.first.hash(),
            second: p.second.hash(),
        }
    }
}

/// View-key prefix under which the entries whose payloads are still to fetch are listed
/// (the key ends with the entry's hash; the value is empty).
pub(super) const MISSING_VIEW: &[u8] = b"missing/";

pub(super) fn missing_key(coop: &CoopId, hash: &EntryHash) -> Vec<u8> {
    [MISSING_VIEW, coop.as_bytes().as_slice(), hash.as_bytes()].concat()
}

/// View-key prefix under which store format 1 kept the compact record views; format 2 keeps
/// each in its record's value (see [`crate::upgrade`]).
pub const RECORD_VIEW: &[u8] = b"view/";

/// A record view to put (`Some`) or drop (`None`) after a commit.
pub type ViewChange = ((CoopId, RecordId), Option<RecordView>);

/// Reads every stored record view, for a start without a snapshot. A view that does not parse
/// is skipped and reported; the record itself is intact.
pub fn load_views(store: &dyn Store) -> Result<(crate::Views, usize), LedgerError> {
    let mut views = crate::Views::default();
    let mut damaged = 0;
    for bytes in store.record_views() {
        let bytes = bytes?;
        match crate::view_codec::decode(&bytes) {
            Some(v) => views.upsert(v),
            None => damaged += 1,
        }
    }
    Ok((views, damaged))
}

/// An entry staged for the next commit, with its hash and record worked out once: ledger
/// rules ask for a record's entries on every creation, and hashing every staged entry for
/// each of them made a batch cost the square of its size.
struct Staged {
    entry: Entry,
    hash: EntryHash,
    record: RecordId,
}

/// The [`LedgerStore`] of one co-op over the node's store, staging writes until commit.
pub struct StagedStore {
    coop: CoopId,
    pub(super) store: Arc<dyn Store>,
    heads: BTreeMap<LogId, (u64, EntryHash)>,
    entries: BTreeMap<(LogId, u64), Staged>,
    records: BTreeMap<RecordId, RecordState>,
    truncations: Vec<(LogId, u64)>,
    removed: BTreeSet<RecordId>,
    /// Views of the records changed since the last commit (`None`: the view goes).
    views: BTreeMap<RecordId, Option<RecordView>>,
    /// When the records created since the last commit were created (their entries' time).
    created: BTreeMap<RecordId, Timestamp>,
    /// The first read error since the last commit: a batch that saw one is not committed.
    pub(super) read_error: RefCell<Option<StoreError>>,
    /// Entries a revocation cut off, kept since the last commit.
    dormant_put: BTreeMap<(LogId, u64), Entry>,
    /// Kept entries forgotten since the last commit.
    dormant_gone: BTreeSet<(LogId, u64)>,
    /// Other views written (`Some`) or removed (`None`) since the last commit: equivocation
    /// proofs and missing payloads.
    marks: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl StagedStore {
    /// Nothing staged yet, over a co-op's log heads as stored.
    pub(super) fn new(
        coop: CoopId,
        store: Arc<dyn Store>,
        heads: BTreeMap<LogId, (u64, EntryHash)>,
    ) -> StagedStore {
        StagedStore {
            coop,
            store,
            heads,
            entries: BTreeMap::new(),
            records: BTreeMap::new(),
            truncations: Vec::new(),
            removed: BTreeSet::new(),
            views: BTreeMap::new(),
            created: BTreeMap::new(),
            read_error: RefCell::new(None),
            dormant_put: BTreeMap::new(),
            dormant_gone: BTreeSet::new(),
            marks: BTreeMap::new(),
        }
    }

    fn read<T>(&self, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.read_error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    /// When a record was created: the time on its creating entry, whose hash is the id.
    fn created_at(&self, id: &RecordId) -> Option<Timestamp> {
        if let Some(t) = self.created.get(id) {
            return Some(*t);
        }
        let pos = self.read(self.store.entry_pos(&self.coop, &EntryHash(id.0)))??;
        let bytes = self.read(self.store.entry(&pos.coop, &pos.log, pos.seq))??;
        Entry::decode(&bytes).ok().map(|e| e.header.timestamp)
    }

    fn membership_key(&self, id: &RecordId) -> Vec<u8> {
        let mut key = MEMBERSHIP_VIEW.to_vec();
        key.extend_from_slice(self.coop.as_bytes());
        key.extend_from_slice(id.as_bytes());
        key
    }

    pub(super) fn take_batch(&mut self) -> (WriteBatch, Vec<ViewChange>) {
        let mut batch = WriteBatch::default();
        let mut changes = Vec::new();
        let mut views = std::mem::take(&mut self.views);
        // The creating entry is staged after its record, so creation times are filled here.
        for (id, view) in views.iter_mut() {
            if let Some(v) = view
                && matches!(v.kind, RecordKind::Offer | RecordKind::Need)
            {
                v.created = self.created_at(id);
            }
        }
        self.created.clear();
        // A view is stored in its record's value, so it is written with the record (a record
        // removed takes its view with it).
        let mut encoded = BTreeMap::new();
        for (id, view) in views {
            if let Some(v) = &view {
                encoded.insert(id, crate::view_codec::encode(v));
            }
            changes.push(((self.coop, id), view));
        }
        for ((log, seq), e) in std::mem::take(&mut self.dormant_put) {
            let key = position_key(DORMANT_VIEW, &self.coop, &log, seq);
            batch.views.push((key, e.encode()));
        }
        for (log, seq) in std::mem::take(&mut self.dormant_gone) {
            batch
                .removed_views
                .push(position_key(DORMANT_VIEW, &self.coop, &log, seq));
        }
        for (key, value) in std::mem::take(&mut self.marks) {
            match value {
                Some(v) => batch.views.push((key, v)),
                None => batch.removed_views.push(key),
            }
        }
        for (log, from) in std::mem::take(&mut self.truncations) {
            batch.truncations.push((self.coop, log, from));
        }
        for id in std::mem::take(&mut self.removed) {
            batch.removed_records.push((self.coop, id));
            batch.removed_views.push(self.membership_key(&id));
        }
        for ((log, seq), s) in std::mem::take(&mut self.entries) {
            batch.entries.push(StoredEntry {
                pos: EntryPos {
                    coop: self.coop,
                    log,
                    seq,
                },
                hash: s.hash,
                record: s.record,
                bytes: s.entry.encode(),
            });
        }
        for (id, state) in std::mem::take(&mut self.records) {
            if state.kind.is_some_and(RecordKind::is_membership) && !state.doc.is_empty() {
                batch
                    .views
                    .push((self.membership_key(&id), state.doc.clone()));
            }
            batch.records.push(StoredRecord {
                coop: self.coop,
                id,
                view: encoded.remove(&id),
                state,
            });
        }
        (batch, changes)
    }
}

// The store's reads return `Result`; the ledger logic needs plain values. A read error is
// remembered (so the batch is not committed) and reads as "absent", which validation treats
// as "wait": never as permission.
impl LedgerStore for StagedStore {
    fn log_head(&self, log: &LogId) -> Option<(u64, EntryHash)> {
        self.heads.get(log).copied()
    }

    fn entry_at(&self, log: &LogId, seq: u64) -> Option<Entry> {
        // Past the head is nothing, even if a truncated entry is still on disk until commit.
        if self.heads.get(log).is_none_or(|(h, _)| seq > *h) {
            return None;
        }
        if let Some(s) = self.entries.get(&(*log, seq)) {
            return Some(s.entry.clone());
        }
        let bytes = self.read(self.store.entry(&self.coop, log, seq))??;
        Entry::decode(&bytes).ok()
    }

    fn record_state(&self, id: &RecordId) -> Option<RecordState> {
        if self.removed.contains(id) {
            return None;
        }
        if let Some(s) = self.records.get(id) {
            return Some(s.clone());
        }
        self.read(self.store.record(&self.coop, id))?
    }

    fn record_ids(&self) -> Vec<RecordId> {
        let mut ids: BTreeSet<RecordId> = self
            .read(self.store.record_ids(&self.coop))
            .unwrap_or_default()
            .into_iter()
            .collect();
        ids.extend(self.records.keys().copied());
        ids.into_iter()
            .filter(|id| !self.removed.contains(id))
            .collect()
    }

    fn dormant_entries(&self) -> Vec<Entry> {
        let prefix = [DORMANT_VIEW, self.coop.as_bytes().as_slice()].concat();
        let mut out: BTreeMap<(LogId, u64), Entry> = BTreeMap::new();
        for pair in self.store.views(&prefix) {
            // One that does not decode is damage: it is left out, as a lost dormant entry.
            if let Some(e) = self.read(pair).and_then(|(_, v)| Entry::decode(&v).ok()) {
                out.insert((e.header.log(), e.header.seq), e);
            }
        }
        out.extend(self.dormant_put.iter().map(|(k, e)| (*k, e.clone())));
        out.into_iter()
            .filter(|(k, _)| !self.dormant_gone.contains(k))
            .map(|(_, e)| e)
            .collect()
    }

    fn put_dormant(&mut self, entry: Entry) {
        let key = (entry.header.log(), entry.header.seq);
        self.dormant_gone.remove(&key);
        self.dormant_put.insert(key, entry);
    }

    fn remove_dormant(&mut self, log: &LogId, seq: u64) {
        self.dormant_put.remove(&(*log, seq));
        self.dormant_gone.insert((*log, seq));
    }

    fn proofs(&self) -> Vec<Equivocation> {
        let prefix = [EQUIVOCATION_VIEW, self.coop.as_bytes().as_slice()].concat();
        let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for pair in self.store.views(&prefix) {
            if let Some((k, v)) = self.read(pair) {
                out.insert(k, v);
            }
        }
        for (k, v) in self.marks.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            match v {
                Some(v) => out.insert(k.clone(), v.clone()),
                None => out.remove(k),
            };
        }
        // One that does not decode is damage: left out, as a lost proof.
        out.values().filter_map(|v| decode_proof(v)).collect()
    }

    fn put_proof(&mut self, proof: &Equivocation) {
        let h = &proof.first.header;
        let key = position_key(EQUIVOCATION_VIEW, &self.coop, &h.log(), h.seq);
        self.marks.insert(key, Some(encode_proof(proof)));
    }

    fn missing_payloads(&self) -> Vec<EntryHash> {
        let prefix = [MISSING_VIEW, self.coop.as_bytes().as_slice()].concat();
        let mut out: BTreeSet<EntryHash> = BTreeSet::new();
        for pair in self.store.views(&prefix) {
            if let Some(hash) = self
                .read(pair)
                .and_then(|(k, _)| <[u8; 32]>::try_from(k.get(prefix.len()..)?).ok())
            {
                out.insert(EntryHash(minga_protocol::Hash(hash)));
            }
        }
        for (k, v) in self.marks.range(prefix.clone()..) {
            let Some(hash) = k
                .strip_prefix(prefix.as_slice())
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
            else {
                break;
            };
            let hash = EntryHash(minga_protocol::Hash(hash));
            match v {
                Some(_) => out.insert(hash),
                None => out.remove(&hash),
            };
        }
        out.into_iter().collect()
    }

    fn set_missing(&mut self, hash: EntryHash, missing: bool) {
        let key = missing_key(&self.coop, &hash);
        self.marks.insert(key, missing.then(Vec::new));
    }

    fn membership_record_ids(&self) -> Vec<RecordId> {
        // The stored membership views (one per statement), and what this batch staged.
        let prefix = [MEMBERSHIP_VIEW, self.coop.as_bytes().as_slice()].concat();
        let mut ids: BTreeSet<RecordId> = BTreeSet::new();
        for pair in self.store.views(&prefix) {
            let Some((key, _)) = self.read(pair) else {
                continue;
            };
            if let Some(id) = key
                .get(prefix.len()..)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                ids.insert(RecordId(minga_protocol::Hash(id)));
            }
        }
        ids.extend(
            self.records
                .iter()
                .filter(|(_, s)| s.kind.is_some_and(RecordKind::is_membership))
                .map(|(id, _)| *id),
        );
        ids.into_iter()
            .filter(|id| !self.removed.contains(id))
            .collect()
    }

    fn record_entries(&self, id: &RecordId) -> Vec<(LogId, u64)> {
        let mut out: BTreeSet<(LogId, u64)> = self
            .read(self.store.record_entries(&self.coop, id))
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.log, p.seq))
            .collect();
        out.extend(
            self.entries
                .iter()
                .filter(|(_, s)| s.record == *id)
                .map(|(k, _)| *k),
        );
        out.into_iter()
            .filter(|(log, seq)| self.heads.get(log).is_some_and(|(h, _)| seq <= h))
            .collect()
    }

    fn put_entry(&mut self, entry: Entry) {
        let (log, seq) = (entry.header.log(), entry.header.seq);
        let hash = entry.hash();
        let record = if entry.creates_record() {
            let id = RecordId(hash.0);
            self.created.insert(id, entry.header.timestamp);
            id
        } else {
            entry.header.record
        };
        if self.heads.get(&log).is_none_or(|(h, _)| seq > *h) {
            self.heads.insert(log, (seq, hash));
        }
        self.entries.insert(
            (log, seq),
            Staged {
                entry,
                hash,
                record,
            },
        );
    }

    fn put_record(&mut self, id: RecordId, state: RecordState, value: Option<&Record>) {
        self.removed.remove(&id);
        let view = match (state.pruned, state.kind) {
            // A withdrawn offer or need keeps a view without content, so listings with
            // `--all` still say it was withdrawn.
            (true, Some(kind @ (RecordKind::Offer | RecordKind::Need))) => {
                let mut v = RecordView::empty(self.coop, id, kind);
                v.withdrawn = true;
                Some(v)
            }
            (true, _) => None,
            (false, _) => value.map(|v| RecordView::of(self.coop, id, v)),
        };
        self.views.insert(id, view);
        self.records.insert(id, state);
    }

    fn truncate_log(&mut self, log: &LogId, from: u64) {
        self.entries.retain(|(l, s), _| !(l == log && *s >= from));
        let prev = from
            .checked_sub(1)
            .filter(|s| *s > 0)
            .and_then(|s| Some((s, self.entry_at(log, s)?.hash())));
        match prev {
            Some(head) => {
                self.heads.insert(*log, head);
            }
            None => {
                self.heads.remove(log);
            }
        }
        self.truncations.push((*log, from));
    }

    fn remove_record(&mut self, id: &RecordId) {
        self.records.remove(id);
        self.views.insert(*id, None);
        self.removed.insert(*id);
    }

    fn version_vector(&self) -> VersionVector {
        VersionVector::from_heads(self.heads.iter().map(|(l, (s, _))| (*l, *s)))
    }
}
