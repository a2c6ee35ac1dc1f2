//! A co-op's ledger on disk: the protocol's [`Ledger`] logic over the node's [`Store`].
//!
//! Entries are validated one by one against the ledger as it stands, including the entries
//! earlier in the same batch, and everything a batch changes is committed to the store in one
//! atomic, durable write before [`CoopLedger::ingest`] returns: nothing is acknowledged or
//! forwarded before it is on disk. Log heads live in memory (a few bytes per log); entries and
//! record documents are read from the store on demand.

use std::sync::Arc;

use minga_protocol::{
    CoopId, DeviceId, Entry, EntryError, EntryHash, Equivocation, Genesis, Ingested, Ledger,
    LedgerStore, LogAuthor, LogId, Membership, Record, RecordId, Signature, Signed, Timestamp,
    membership_from,
};

use crate::store::{Store, StoreError, StoredGenesis, WriteBatch};

mod staged;

use staged::{DORMANT_VIEW, EQUIVOCATION_VIEW, MEMBERSHIP_VIEW, MISSING_VIEW, missing_key};
pub use staged::{Equivocated, RECORD_VIEW, StagedStore, ViewChange, load_views};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed; nothing of the batch was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local write was refused by validation.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A stored genesis or membership statement no longer verifies: the data is damaged.
    #[error("stored {0} does not verify; the data directory is damaged")]
    Damaged(&'static str),
}

/// What one ingested batch did.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Entries now durably stored (including waiting ones they unblocked).
    pub accepted: Vec<EntryHash>,
    /// Entries that wait for something they depend on.
    pub waiting: usize,
    /// Entries that break a rule whatever this node holds ([`EntryError::blames_sender`]):
    /// the peer that sent them is at fault.
    pub rejected: Vec<(EntryHash, EntryError)>,
    /// Entries not taken for a reason of this node's own (a revocation or an equivocating
    /// twin the sender may not have seen, a full buffer): nobody is blamed.
    pub ignored: Vec<(EntryHash, EntryError)>,
    /// Equivocation proofs this batch made: new, kept, and worth telling peers about.
    pub proofs: Vec<Equivocation>,
    /// Positions worth asking the sender for, to find where a log forked
    /// ([`EntryError::fork_probe`]).
    pub probes: Vec<(LogId, u64)>,
}

/// One co-op's ledger, persisted in the node's store.
pub struct CoopLedger {
    ledger: Ledger<StagedStore>,
    genesis: Signed<Genesis>,
    view_changes: Vec<ViewChange>,
}

impl CoopLedger {
    /// Opens the ledger of the co-op that `genesis` founds, creating it if new: loads log heads
    /// and membership statements, never the records themselves.
    pub fn open(
        store: Arc<dyn Store>,
        genesis: Signed<Genesis>,
    ) -> Result<CoopLedger, LedgerError> {
        let coop = genesis.coop_id();
        let stored = StoredGenesis {
            coop,
            bytes: genesis.bytes().to_vec(),
            signature: genesis.signature().0,
        };
        if !store.geneses()?.contains(&stored) {
            store.commit(&WriteBatch {
                geneses: vec![stored],
                ..WriteBatch::default()
            })?;
        }
        let heads = store
            .log_heads(&coop)?
            .into_iter()
            .map(|(log, seq, hash)| (log, (seq, hash)))
            .collect();
        let membership = restore_membership(store.as_ref(), genesis.clone())?;
        let staged = StagedStore::new(coop, store, heads);
        let mut ledger = CoopLedger {
            ledger: Ledger::with_store(membership, staged),
            genesis,
            view_changes: Vec::new(),
        };
        // Restoring proofs may drop dormant entries past a fork: the store follows.
        let staged = ledger.ledger.store_mut();
        let (batch, changes) = staged.take_batch();
        if !batch.is_empty() {
            staged.store.commit(&batch)?;
            ledger.view_changes.extend(changes);
        }
        Ok(ledger)
    }

    /// Reopens every co-op ledger the store holds a genesis for.
    pub fn open_all(store: Arc<dyn Store>) -> Result<Vec<CoopLedger>, LedgerError> {
        store
            .geneses()?
            .into_iter()
            .map(|g| {
                let genesis = Signed::<Genesis>::verify(&g.bytes, Signature(g.signature))
                    .map_err(|_| LedgerError::Damaged("genesis"))?;
                CoopLedger::open(store.clone(), genesis)
            })
            .collect()
    }

    /// The co-op.
    pub fn coop(&self) -> CoopId {
        self.genesis.coop_id()
    }

    /// The protocol ledger, for reads.
    pub fn ledger(&self) -> &Ledger<StagedStore> {
        &self.ledger
    }

    /// Validates and applies a batch of entries, then commits everything it changed in one
    /// durable write. Invalid entries are reported, never stored.
    pub fn ingest(&mut self, entries: Vec<Entry>) -> Result<BatchReport, LedgerError> {
        self.ingest_within(entries, (usize::MAX, usize::MAX))
    }

    /// [`CoopLedger::ingest`], with entries that wait held to `cap` (entries, bytes): the
    /// share of a node-wide budget that the node's other ledgers leave.
    pub fn ingest_within(
        &mut self,
        entries: Vec<Entry>,
        cap: (usize, usize),
    ) -> Result<BatchReport, LedgerError> {
        self.ledger.cap_pending(cap.0, cap.1);
        let mut report = BatchReport::default();
        for e in entries {
            let hash = e.hash();
            let proofs = self.ledger.equivocations().len();
            let result = self.ledger.ingest(e);
            if let Some(p) = result.as_ref().err().and_then(EntryError::fork_probe) {
                report.probes.push(p);
            }
            match result {
                Ok(Ingested { accepted, waiting }) => {
                    report.accepted.extend(accepted);
                    report.waiting += usize::from(waiting);
                }
                Err(EntryError::Equivocation(proof)) => {
                    if self.ledger.equivocations().len() > proofs {
                        self.proven(&proof);
                        report.proofs.push((*proof).clone());
                    }
                    report.ignored.push((hash, EntryError::Equivocation(proof)));
                }
                Err(err) if err.blames_sender() => report.rejected.push((hash, err)),
                Err(err) => report.ignored.push((hash, err)),
            }
        }
        self.commit()?;
        Ok(report)
    }

    /// Retries the entries that wait, after letting go of those that waited too long
    /// ([`Ledger::retry`]), durably. Returns the entries that applied.
    pub fn retry(&mut self) -> Result<Vec<EntryHash>, LedgerError> {
        let accepted = self.ledger.retry();
        self.commit()?;
        Ok(accepted)
    }

    /// Takes an equivocation proof a peer sent (it need not hold either entry): kept and the
    /// log stopped at the fork, durably, when it is new and checks out
    /// ([`Ledger::add_proof`]). Returns whether it was.
    pub fn add_proof(&mut self, proof: &Equivocation) -> Result<bool, LedgerError> {
        let added = self.ledger.add_proof(proof);
        if added {
            self.proven(proof);
        }
        self.commit()?;
        Ok(added)
    }

    /// Applies an expulsion from a network, durably: entries past the cut-offs go, and
    /// later ones are refused ([`Ledger::expel`]).
    pub fn expel(
        &mut self,
        cutoffs: std::collections::BTreeMap<LogId, u64>,
    ) -> Result<(), LedgerError> {
        self.ledger.expel(cutoffs);
        self.commit()
    }

    /// Lifts an expulsion ([`Ledger::readmit`]).
    pub fn readmit(&mut self) {
        self.ledger.readmit();
    }

    fn proven(&self, proof: &Equivocation) {
        let h = &proof.first.header;
        tracing::warn!(
            coop = %self.coop().short(), author = %h.author.short(), device = h.device.0,
            seq = h.seq, "a key signed two entries at one position: proof kept, its log stops there"
        );
    }

    /// The equivocations this node holds proof of, in log order.
    pub fn equivocations(&self) -> impl Iterator<Item = Equivocated> + '_ {
        self.ledger.equivocations().map(Equivocated::from)
    }

    /// Writes one record edit by a local member as a new entry, durably.
    pub fn write(
        &mut self,
        key: &impl LogAuthor,
        device: DeviceId,
        record: Option<RecordId>,
        value: &Record,
        at: Timestamp,
    ) -> Result<Entry, LedgerError> {
        let entry = self.ledger.write(key, device, record, value, at);
        self.commit()?;
        Ok(entry?)
    }

    /// Withdraws a record for real with a prune entry, durably.
    pub fn prune(
        &mut self,
        key: &impl LogAuthor,
        device: DeviceId,
        record: RecordId,
        at: Timestamp,
    ) -> Result<Entry, LedgerError> {
        let entry = self.ledger.prune(key, device, record, at);
        self.commit()?;
        Ok(entry?)
    }

    /// Writes record edits by a local member as new entries in one durable commit: all of
    /// them, or (when one is refused) none.
    pub fn write_all(
        &mut self,
        key: &impl LogAuthor,
        device: DeviceId,
        edits: &[(Option<RecordId>, Record)],
        at: Timestamp,
    ) -> Result<Vec<Entry>, LedgerError> {
        let mut entries = Vec::with_capacity(edits.len());
        for (record, value) in edits {
            match self.ledger.write(key, device, *record, value, at) {
                Ok(e) => entries.push(e),
                Err(e) => {
                    // Drop what the earlier edits staged: reopen from what is stored.
                    let store = self.ledger.store().store.clone();
                    *self = CoopLedger::open(store, self.genesis.clone())?;
                    return Err(e.into());
                }
            }
        }
        self.commit()?;
        Ok(entries)
    }

    /// The co-op's signed genesis.
    pub fn genesis(&self) -> &Signed<Genesis> {
        &self.genesis
    }

    /// A record's automerge document, saved (what `export --document` and the API hand out).
    pub fn document(&self, id: &RecordId) -> Option<Vec<u8>> {
        let stored = self
            .ledger
            .store()
            .record_state(id)
            .filter(|s| !s.pruned)?
            .doc;
        // A new record is stored as its one creating change (automerge loads either); what
        // leaves the node is always a saved document, the form every automerge reads.
        match automerge::AutoCommit::load(&stored) {
            Ok(mut doc) => Some(doc.save()),
            Err(_) => Some(stored),
        }
    }

    /// Deletes everything the store holds of a co-op (after it is no longer trusted).
    pub fn forget(store: &dyn Store, coop: &CoopId) -> Result<(), LedgerError> {
        let prefixes = [
            MEMBERSHIP_VIEW,
            EQUIVOCATION_VIEW,
            DORMANT_VIEW,
            MISSING_VIEW,
        ]
        .map(|p| [p, coop.as_bytes().as_slice()].concat())
        .to_vec();
        Ok(store.forget_coop(coop, &prefixes)?)
    }

    /// The view changes of everything committed since the last call.
    pub fn take_view_changes(&mut self) -> Vec<ViewChange> {
        std::mem::take(&mut self.view_changes)
    }

    fn commit(&mut self) -> Result<(), LedgerError> {
        let staged = self.ledger.store_mut();
        let (batch, changes) = staged.take_batch();
        let read_error = staged.read_error.get_mut().take();
        let result = match read_error {
            Some(e) => Err(e),
            None => staged.store.commit(&batch),
        };
        if let Err(e) = result {
            // The in-memory state ran ahead of the disk: rebuild it from what is stored.
            let store = self.ledger.store().store.clone();
            *self = CoopLedger::open(store, self.genesis.clone())?;
            return Err(e.into());
        }
        self.view_changes.extend(changes);
        Ok(())
    }
}

/// The `missing/` marks of every entry a store holds as a header whose record is not
/// withdrawn: what a store written before those marks existed (format 0) needs listed, so
/// their payloads are fetched (see `upgrade`). Reads every entry once.
pub(crate) fn missing_payload_marks(
    store: &dyn Store,
) -> Result<Vec<crate::store::Pair>, StoreError> {
    let mut marks = Vec::new();
    for g in store.geneses()? {
        for (log, head, _) in store.log_heads(&g.coop)? {
            for seq in 1..=head {
                let Some(bytes) = store.entry(&g.coop, &log, seq)? else {
                    continue;
                };
                // One that does not decode is left for validation to report, as before.
                let Ok(e) = Entry::decode(&bytes) else {
                    continue;
                };
                if e.payload.is_some() || e.header.payload_len == 0 {
                    continue;
                }
                let withdrawn = store
                    .record(&g.coop, &e.record_id())?
                    .is_none_or(|s| s.pruned);
                if !withdrawn {
                    marks.push((missing_key(&g.coop, &e.hash()), Vec::new()));
                }
            }
        }
    }
    Ok(marks)
}

/// Rebuilds the membership state from the statements kept under [`MEMBERSHIP_VIEW`].
fn restore_membership(
    store: &dyn Store,
    genesis: Signed<Genesis>,
) -> Result<Membership, LedgerError> {
    let mut prefix = MEMBERSHIP_VIEW.to_vec();
    prefix.extend_from_slice(genesis.coop_id().as_bytes());
    let mut statements = Vec::new();
    let damaged = || LedgerError::Damaged("membership record");
    for pair in store.views(&prefix) {
        let (key, doc) = pair?;
        let d = automerge::AutoCommit::load(&doc).map_err(|_| damaged())?;
        let record = Record::read(&d).map_err(|_| damaged())?;
        // What a statement does depends on the entry that carries it: the creating entry,
        // whose hash is the record id at the end of the key.
        let id: [u8; 32] = key
            .get(prefix.len()..)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(damaged)?;
        let pos = store
            .entry_pos(&genesis.coop_id(), &EntryHash(minga_protocol::Hash(id)))?
            .ok_or_else(damaged)?;
        let bytes = store
            .entry(&pos.coop, &pos.log, pos.seq)?
            .ok_or_else(damaged)?;
        let entry = Entry::decode(&bytes).map_err(|_| damaged())?;
        statements.push((record, entry.carrier()));
    }
    Ok(membership_from(genesis, statements))
}
