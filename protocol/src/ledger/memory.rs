//! The in-memory store of a ledger: tests and the reference implementation.

use std::collections::{BTreeMap, BTreeSet};

use super::LedgerStore;
use crate::entry::Entry;
use crate::ids::{EntryHash, LogId, RecordId};
use crate::record::{Record, RecordKind};
use crate::sync::VersionVector;
use crate::validate::RecordState;

/// The in-memory [`LedgerStore`].
#[derive(Debug, Default)]
pub struct MemoryLedgerStore {
    logs: BTreeMap<LogId, Vec<Entry>>,
    records: BTreeMap<RecordId, RecordState>,
    by_record: BTreeMap<RecordId, Vec<(LogId, u64)>>,
    membership: BTreeSet<RecordId>,
    dormant: BTreeMap<(LogId, u64), Entry>,
    proofs: Vec<crate::entry::Equivocation>,
    missing: BTreeSet<EntryHash>,
}

impl LedgerStore for MemoryLedgerStore {
    fn log_head(&self, log: &LogId) -> Option<(u64, EntryHash)> {
        let e = self.logs.get(log)?.last()?;
        Some((e.header.seq, e.hash()))
    }
    fn entry_at(&self, log: &LogId, seq: u64) -> Option<Entry> {
        let idx = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.logs.get(log)?.get(idx).cloned()
    }
    fn record_state(&self, id: &RecordId) -> Option<RecordState> {
        self.records.get(id).cloned()
    }
    fn record_ids(&self) -> Vec<RecordId> {
        self.records.keys().copied().collect()
    }
    fn membership_record_ids(&self) -> Vec<RecordId> {
        self.membership.iter().copied().collect()
    }
    fn record_entries(&self, id: &RecordId) -> Vec<(LogId, u64)> {
        self.by_record.get(id).cloned().unwrap_or_default()
    }
    fn put_entry(&mut self, entry: Entry) {
        let (log, seq) = (entry.header.log(), entry.header.seq);
        let entries = self.logs.entry(log).or_default();
        let Some(idx) = usize::try_from(seq - 1).ok() else {
            return;
        };
        if let Some(held) = entries.get_mut(idx) {
            *held = entry;
        } else if idx == entries.len() {
            self.by_record
                .entry(entry.record_id())
                .or_default()
                .push((log, seq));
            entries.push(entry);
        }
    }
    fn put_record(&mut self, id: RecordId, state: RecordState, _: Option<&Record>) {
        if state.kind.is_some_and(RecordKind::is_membership) {
            self.membership.insert(id);
        } else {
            self.membership.remove(&id);
        }
        self.records.insert(id, state);
    }
    fn truncate_log(&mut self, log: &LogId, from: u64) {
        let Some(entries) = self.logs.get_mut(log) else {
            return;
        };
        let keep = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
        for e in entries.drain(keep.min(entries.len())..) {
            if let Some(positions) = self.by_record.get_mut(&e.record_id()) {
                positions.retain(|(l, s)| !(l == log && *s >= from));
            }
        }
        if entries.is_empty() {
            self.logs.remove(log);
        }
    }
    fn remove_record(&mut self, id: &RecordId) {
        self.membership.remove(id);
        self.records.remove(id);
        self.by_record.remove(id);
    }
    fn dormant_entries(&self) -> Vec<Entry> {
        self.dormant.values().cloned().collect()
    }
    fn put_dormant(&mut self, entry: Entry) {
        self.dormant
            .insert((entry.header.log(), entry.header.seq), entry);
    }
    fn remove_dormant(&mut self, log: &LogId, seq: u64) {
        self.dormant.remove(&(*log, seq));
    }
    fn proofs(&self) -> Vec<crate::entry::Equivocation> {
        self.proofs.clone()
    }
    fn put_proof(&mut self, proof: &crate::entry::Equivocation) {
        self.proofs.push(proof.clone());
    }
    fn missing_payloads(&self) -> Vec<EntryHash> {
        self.missing.iter().copied().collect()
    }
    fn set_missing(&mut self, hash: EntryHash, missing: bool) {
        if missing {
            self.missing.insert(hash);
        } else {
            self.missing.remove(&hash);
        }
    }
    fn version_vector(&self) -> VersionVector {
        VersionVector::from_heads(
            self.logs
                .iter()
                .filter_map(|(log, e)| Some((*log, e.last()?.header.seq))),
        )
    }
}
