//! Equivocation: proof that a key signed two entries at one position of its log, and the log
//! stopping there. Which branch a node saw first depends on the network, so neither branch
//! counts: once a node holds the proof, the log keeps only the entries before the fork, and
//! every node that holds it keeps the same. The proof is two signed entries, so it travels
//! on its own (gossip, catch-up) and any node checks it without trusting who sent it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Ledger, LedgerStore, MAX_EQUIVOCATIONS, MAX_EQUIVOCATIONS_PER_AUTHOR};
use crate::entry::Equivocation;
use crate::ids::{EntryHash, LogId, RecordId};
use crate::sync::MAX_PAYLOAD_WANTS;
use crate::sync_session::Known;

impl<S: LedgerStore> Ledger<S> {
    /// Takes proof that a key signed two entries at one position, from validation or from a
    /// peer, and stops the log at the fork. Returns whether the proof is new and kept: it must
    /// be proof ([`Equivocation::is_proof`]) about this co-op, by a key that may write here,
    /// within [`MAX_EQUIVOCATIONS`] and [`MAX_EQUIVOCATIONS_PER_AUTHOR`].
    pub fn add_proof(&mut self, proof: &Equivocation) -> bool {
        let h = &proof.first.header;
        let (log, seq) = (h.log(), h.seq);
        if h.coop != self.membership.coop()
            || self.equivocations.contains_key(&(log, seq))
            || self.equivocations.len() >= MAX_EQUIVOCATIONS
            || self
                .equivocations
                .keys()
                .filter(|(l, _)| l.author == log.author)
                .count()
                >= MAX_EQUIVOCATIONS_PER_AUTHOR
            || !proof.is_proof()
        {
            return false;
        }
        // A stranger's proof would only take room: only a key that may write at the fork (or
        // whose log this node holds) is worth a proof.
        let coop_key = self.membership.coop_key_epoch(&log.author).is_some();
        if !coop_key
            && self.store.log_head(&log).is_none()
            && self.membership.authorize(&log, seq, h.timestamp).is_err()
        {
            return false;
        }
        self.store.put_proof(proof);
        self.restore_proof(proof.clone());
        true
    }

    /// Holds a proof already checked (or kept by the store), and stops its log.
    pub(super) fn restore_proof(&mut self, proof: Equivocation) {
        let h = &proof.first.header;
        let (log, seq) = (h.log(), h.seq);
        // A co-op key's log takes every entry its key signs: two rotations numbered alike
        // freeze the key (see `Membership`), which needs both held.
        let stops = self.membership.coop_key_epoch(&log.author).is_none();
        self.equivocations.insert((log, seq), proof);
        if stops {
            self.stop_log(log, seq);
        }
    }

    /// Stops `log` at `at`: entries from there on, held, waiting or kept dormant, go, and what
    /// they did with them (records rebuilt, membership rebuilt and enforced).
    fn stop_log(&mut self, log: LogId, at: u64) {
        let at = self.forks.get(&log).map_or(at, |held| at.min(*held));
        self.forks.insert(log, at);
        self.cut_log(log, at);
    }

    /// Applies an expulsion from a network: per log, the last entry kept (a log not named
    /// keeps nothing). Entries past the cut-offs go, held, waiting or dormant, with what they
    /// did, and later ones are refused ([`crate::EntryError::Expelled`]). The entries cut
    /// are gone from this node; if the expulsion is lifted ([`Ledger::readmit`]), catch-up
    /// brings them back.
    pub fn expel(&mut self, cutoffs: BTreeMap<LogId, u64>) {
        if self.expelled.as_ref() == Some(&cutoffs) {
            return;
        }
        self.expelled = Some(cutoffs.clone());
        let mut logs: BTreeSet<LogId> = self
            .store
            .version_vector()
            .iter()
            .map(|(l, _)| *l)
            .collect();
        logs.extend(self.pending.keys().map(|(l, _)| *l));
        logs.extend(self.dormant.keys().map(|(l, _)| *l));
        for log in logs {
            let from = cutoffs.get(&log).map_or(1, |last| last.saturating_add(1));
            self.cut_log(log, from);
        }
    }

    /// Lifts an expulsion (its signatures were withdrawn or no longer count): entries are
    /// taken again.
    pub fn readmit(&mut self) {
        self.expelled = None;
    }

    /// Whether an expulsion applies to this ledger.
    pub fn is_expelled(&self) -> bool {
        self.expelled.is_some()
    }

    /// Removes `log`'s entries from `at` on (held, waiting or dormant) and what they did.
    fn cut_log(&mut self, log: LogId, at: u64) {
        let waiting: Vec<(LogId, u64)> = self
            .pending
            .range((log, at)..=(log, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in waiting {
            self.take_pending(&k);
        }
        let dormant: Vec<u64> = self
            .dormant
            .range((log, at)..=(log, u64::MAX))
            .map(|((_, s), _)| *s)
            .collect();
        for seq in dormant {
            self.drop_dormant(&log, seq);
        }
        let Some((head, _)) = self.store.log_head(&log).filter(|(h, _)| *h >= at) else {
            return;
        };
        let before = self.membership.clone();
        let mut touched: BTreeSet<RecordId> = BTreeSet::new();
        for seq in at..=head {
            if let Some(e) = self.store.entry_at(&log, seq) {
                self.mark_missing(e.hash(), false);
                touched.insert(e.record_id());
            }
        }
        self.store.truncate_log(&log, at);
        for id in touched {
            self.rebuild_record(id);
        }
        self.rebuild_membership();
        self.enforce_revocations(before);
    }

    /// Notes that an entry's payload is missing, or no longer missing, here and in the store.
    pub(super) fn mark_missing(&mut self, hash: EntryHash, missing: bool) {
        let changed = if missing {
            self.missing_payloads.insert(hash)
        } else {
            self.missing_payloads.remove(&hash)
        };
        if changed {
            self.store.set_missing(hash, missing);
        }
    }

    /// What a catch-up session needs to know of this ledger beyond its digest: where its
    /// forked logs stop, and the first [`MAX_PAYLOAD_WANTS`] payloads it misses.
    pub fn known(&self) -> Known {
        Known {
            forks: self.forks.clone(),
            missing: self
                .missing_payloads
                .iter()
                .take(MAX_PAYLOAD_WANTS)
                .copied()
                .collect(),
        }
    }

    /// Where a log stops because its key signed twice, if it does.
    pub fn fork(&self, log: &LogId) -> Option<u64> {
        self.forks.get(log).copied()
    }

    /// The equivocation proof held for one log position.
    pub fn proof_at(&self, log: &LogId, seq: u64) -> Option<&Equivocation> {
        self.equivocations.get(&(*log, seq))
    }
}
