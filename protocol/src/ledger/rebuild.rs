//! What a ledger recomputes when something it held stops counting: revocations enforced
//! retroactively (the cut entries kept as dormant), record documents rebuilt from the entries
//! that remain, and membership rebuilt from the statements that remain.

use std::collections::BTreeSet;

use automerge::AutoCommit;

use super::{Ledger, LedgerStore, MAX_DORMANT, membership_from};
use crate::entry::{Entry, EntryKind};
use crate::ids::RecordId;
use crate::membership::{Carrier, Membership, Role};
use crate::record::{Record, RecordKind};
use crate::validate::{EntryError, RecordState, check_edit};

impl<S: LedgerStore> Ledger<S> {
    /// Makes revocations retroactive, so the outcome does not depend on the order in which a
    /// node learnt things: entries past a cut-off that were accepted before the revocation
    /// arrived are removed, the records they touched are rebuilt from the entries that remain,
    /// and membership is rebuilt from the statements that remain (a revoked admin's later
    /// certificates go with its entries), until nothing more is cut off.
    ///
    /// The cost follows what changed, not the ledger's size: only the logs of authors whose
    /// right to write differs from `before` are looked at, and in each the first entry that no
    /// longer holds is found by bisection, since what a log keeps is always a prefix (cut-offs
    /// end a key at a position, expiry at a time, and timestamps never go back in a log).
    pub(super) fn enforce_revocations(&mut self, mut before: Membership) {
        loop {
            let affected = self.membership.authors_changed_since(&before);
            let mut touched: BTreeSet<RecordId> = BTreeSet::new();
            let vv = self.store.version_vector();
            for (log, head) in vv.iter() {
                // A co-op key's log is never cut: which of its statements count is decided by
                // the rotations (see `Membership`), and one past a cut-off may contest them.
                if self.membership.coop_key_epoch(&log.author).is_some()
                    || affected.as_ref().is_some_and(|a| !a.contains(&log.author))
                {
                    continue;
                }
                let holds = |seq: u64| {
                    self.store.entry_at(log, seq).is_none_or(|e| {
                        self.membership
                            .authorize(log, seq, e.header.timestamp)
                            .is_ok()
                    })
                };
                if holds(*head) {
                    continue;
                }
                // Entries up to `lo` hold, `hi` does not.
                let (mut lo, mut hi) = (0, *head);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if holds(mid) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let from = hi;
                for seq in from..=*head {
                    if let Some(e) = self.store.entry_at(log, seq) {
                        self.mark_missing(e.hash(), false);
                        touched.insert(e.record_id());
                        if self.dormant.len() < MAX_DORMANT {
                            self.dormant.insert((*log, seq), e.clone());
                            self.store.put_dormant(e);
                        }
                    }
                }
                self.store.truncate_log(log, from);
            }
            if touched.is_empty() {
                return;
            }
            for id in touched {
                self.rebuild_record(id);
            }
            before = self.membership.clone();
            self.rebuild_membership();
        }
    }

    /// Builds a record's document from the entries held for it, the same way on every node:
    /// the creating change, then each edit whose dependencies are in the document and which
    /// passes [`check_edit`] against its own causal past (in any order: automerge merges them
    /// the same); an edit that fails, or that depends on a change not held (revoked, say),
    /// has no effect. A prune by a coordinator withdraws an offer or a need: the record keeps
    /// no content, and its entries keep only their headers.
    pub(super) fn rebuild_record(&mut self, id: RecordId) {
        let entries: Vec<Entry> = self
            .store
            .record_entries(&id)
            .into_iter()
            .filter_map(|(log, seq)| self.store.entry_at(&log, seq))
            .collect();
        // Nothing known of it yet: its entries wait in the index for the creating one.
        let Some(state) = self.store.record_state(&id) else {
            return;
        };
        let pruned = entries.iter().any(|e| e.header.kind == EntryKind::Prune)
            && state
                .kind
                .is_none_or(|k| matches!(k, RecordKind::Offer | RecordKind::Need));
        let Some(creation) = entries.iter().find(|e| e.creates_record()) else {
            if entries.is_empty() {
                self.store.remove_record(&id);
            } else {
                // Others' edits remain: keep the record known, without content, so the edits
                // come back with it if its creation is restored.
                let state = RecordState {
                    kind: None,
                    doc: Vec::new(),
                    pruned,
                };
                self.store.put_record(id, state, None);
            }
            return;
        };
        if pruned {
            if !state.pruned {
                let state = RecordState {
                    doc: Vec::new(),
                    pruned: true,
                    ..state
                };
                self.store.put_record(id, state, None);
            }
            for held in &entries {
                self.mark_missing(held.hash(), false);
                if held.payload.is_some() {
                    self.store.put_entry(held.detached());
                }
            }
            return;
        }
        // Not (or no longer: its prune was cut off) withdrawn. Payloads a voided prune
        // dropped are missing until the same entries arrive whole again.
        for e in entries.iter().filter(|e| e.payload.is_none()) {
            self.mark_missing(e.hash(), true);
        }
        let change_of = |e: &Entry| automerge::Change::from_bytes(e.payload.clone()?).ok();
        let mut doc = AutoCommit::new();
        if let Some(first) = change_of(creation) {
            let _ = doc.apply_changes([first]);
        }
        let kind = Record::read(&doc).ok().map(|r| r.kind()).or(state.kind);
        let mut edits: Vec<(automerge::Change, Role)> = entries
            .iter()
            .filter(|e| e.header.kind == EntryKind::Change && !e.creates_record())
            .filter_map(|e| {
                let h = &e.header;
                let role = self
                    .membership
                    .authorize(&h.log(), h.seq, h.timestamp)
                    .ok()?;
                Some((change_of(e)?, role))
            })
            .collect();
        if let Some(kind) = kind {
            loop {
                let before = edits.len();
                edits.retain(|(change, role)| {
                    match check_edit(&mut doc, change, kind, *role) {
                        Ok(()) => {
                            let _ = doc.apply_changes([change.clone()]);
                            false
                        }
                        // Its dependencies may come from another edit still to apply.
                        Err(EntryError::MissingDependencies(_)) => true,
                        Err(_) => false,
                    }
                });
                if edits.len() == before {
                    break;
                }
            }
        }
        let value = Record::read(&doc).ok();
        self.store.put_record(
            id,
            RecordState {
                kind,
                doc: doc.save(),
                pruned: false,
            },
            value.as_ref(),
        );
    }

    /// Rebuilds membership from the genesis and the membership records that remain.
    pub(super) fn rebuild_membership(&mut self) {
        let statements: Vec<(Record, Carrier)> = self
            .store
            .membership_record_ids()
            .into_iter()
            .filter_map(|id| {
                let state = self.store.record_state(&id)?;
                if !state.kind.is_some_and(RecordKind::is_membership) || state.pruned {
                    return None;
                }
                let record = Record::read(&AutoCommit::load(&state.doc).ok()?).ok()?;
                let carrier = self
                    .store
                    .record_entries(&id)
                    .into_iter()
                    .filter_map(|(log, seq)| self.store.entry_at(&log, seq))
                    .find(Entry::creates_record)
                    .map(|e| e.carrier())?;
                Some((record, carrier))
            })
            .collect();
        self.membership = membership_from(self.membership.genesis().clone(), statements);
    }
}
