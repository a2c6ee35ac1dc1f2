//! The buffer of entries that wait for what they depend on, and of entries a revocation cut
//! off: admission within quotas, and retries of only the logs an applied entry can unblock.

use std::collections::BTreeSet;

use super::{Ledger, LedgerStore, MAX_PENDING_PER_AUTHOR, MAX_PENDING_UNKNOWN, unblocks};
use crate::entry::Entry;
use crate::ids::{EntryHash, LogId};
use crate::validate::{LedgerView, validate};

impl<S: LedgerStore> Ledger<S> {
    /// Keeps an entry that waits, if the buffer's quotas allow; `false` when they do not. A
    /// copy of an entry already waiting replaces it only to bring the payload it lacked.
    pub(super) fn wait(&mut self, entry: Entry) -> bool {
        let key = (entry.header.log(), entry.header.seq);
        let size = entry.payload.as_ref().map_or(0, Vec::len);
        if let Some(held) = self.pending.get(&key) {
            if held.payload.is_none() && entry.payload.is_some() && held.hash() == entry.hash() {
                self.take_pending(&key);
                self.put_pending(entry);
            }
            return true;
        }
        let author = entry.header.author;
        let known = self.membership.knows(&author);
        let strangers = || -> usize {
            self.pending_authors
                .iter()
                .filter(|(k, _)| !self.membership.knows(k))
                .map(|(_, n)| n)
                .sum()
        };
        let (max_entries, max_bytes) = self.pending_cap;
        let full = self.pending.len() >= max_entries
            || self.pending_bytes + size > max_bytes
            || self.pending_authors.get(&author).copied().unwrap_or(0) >= MAX_PENDING_PER_AUTHOR
            || (!known && strangers() >= MAX_PENDING_UNKNOWN);
        if full {
            return false;
        }
        self.put_pending(entry);
        true
    }

    pub(super) fn put_pending(&mut self, entry: Entry) {
        self.pending_bytes += entry.payload.as_ref().map_or(0, Vec::len);
        *self.pending_authors.entry(entry.header.author).or_default() += 1;
        let key = (entry.header.log(), entry.header.seq);
        let now = self.clock.now();
        self.pending_since.entry(key).or_insert(now);
        self.pending.insert(key, entry);
    }

    pub(super) fn take_pending(&mut self, key: &(LogId, u64)) -> Option<Entry> {
        let e = self.pending.remove(key)?;
        self.pending_since.remove(key);
        self.pending_bytes -= e.payload.as_ref().map_or(0, Vec::len);
        if let Some(n) = self.pending_authors.get_mut(&e.header.author) {
            *n -= 1;
            if *n == 0 {
                self.pending_authors.remove(&e.header.author);
            }
        }
        Some(e)
    }

    pub(super) fn drop_dormant(&mut self, log: &LogId, seq: u64) {
        if self.dormant.remove(&(*log, seq)).is_some() {
            self.store.remove_dormant(log, seq);
        }
    }

    /// Every log with entries waiting or dormant.
    pub(super) fn waiting_logs(&self) -> BTreeSet<LogId> {
        self.pending
            .keys()
            .chain(self.dormant.keys())
            .map(|(log, _)| *log)
            .collect()
    }

    /// Retries the entry that would come next in `log` (every waiting log when `None`): a
    /// log has no gaps, so nothing behind it can apply first. An entry that applies makes
    /// its log's next worth trying, and one that changes who may write or withdraws a record
    /// makes every waiting log worth trying; nothing else is validated again, so a full
    /// buffer costs nothing per ingest.
    /// Entries cut off by a revocation wait the same way, as dormant: if the revocation is
    /// voided later they apply again, and otherwise they stay out.
    pub(super) fn retry_pending(&mut self, accepted: &mut Vec<EntryHash>, log: Option<LogId>) {
        let mut todo = match log {
            Some(log) => BTreeSet::from([log]),
            None => self.waiting_logs(),
        };
        while let Some(log) = todo.pop_first() {
            let next = self.log_head(&log).map_or(1, |(seq, _)| seq + 1);
            // Entries at or below the head arrived twice: drop them.
            let stale: Vec<_> = self
                .pending
                .range((log, 0)..(log, next))
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                self.take_pending(&k);
            }
            let passed: Vec<u64> = self
                .dormant
                .range((log, 0)..(log, next))
                .map(|((_, s), _)| *s)
                .collect();
            for seq in passed {
                self.drop_dormant(&log, seq);
            }
            let since = self.pending_since.get(&(log, next)).copied();
            let (entry, was_dormant) = match self.take_pending(&(log, next)) {
                Some(e) => (e, false),
                None => match self.dormant.get(&(log, next)) {
                    Some(e) => (e.clone(), true),
                    None => continue,
                },
            };
            match validate(&entry, self) {
                Ok(outcome) => {
                    if was_dormant {
                        self.drop_dormant(&log, next);
                    }
                    if unblocks(&outcome) {
                        todo.extend(self.waiting_logs());
                    }
                    if let Some(hash) = self.apply(entry, outcome) {
                        accepted.push(hash);
                    }
                    todo.insert(log);
                }
                // Still cut off: it stays kept.
                Err(_) if was_dormant => {}
                // It waits on, since it first began to wait.
                Err(e) if e.may_resolve_later() => {
                    self.put_pending(entry);
                    if let Some(since) = since {
                        self.pending_since.insert((log, next), since);
                    }
                }
                // Invalid for good (a revocation arrived, say): dropped. The log stays
                // blocked at this point, which is what the cut-off means.
                Err(_) => {}
            }
        }
    }
}
