//! What enforcing a revocation reads: only the logs of the key whose right to write changed,
//! not the whole ledger. Counted through a store that tallies its reads, so the test holds
//! on any machine (no timings).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::Cell;

use common::*;
use minga_protocol::*;

/// A [`MemoryLedgerStore`] that counts the entries read from it.
#[derive(Default)]
struct Counting {
    inner: MemoryLedgerStore,
    reads: Cell<usize>,
}

impl LedgerStore for Counting {
    fn log_head(&self, log: &LogId) -> Option<(u64, EntryHash)> {
        self.inner.log_head(log)
    }
    fn entry_at(&self, log: &LogId, seq: u64) -> Option<Entry> {
        self.reads.set(self.reads.get() + 1);
        self.inner.entry_at(log, seq)
    }
    fn record_state(&self, id: &RecordId) -> Option<RecordState> {
        self.inner.record_state(id)
    }
    fn record_ids(&self) -> Vec<RecordId> {
        self.inner.record_ids()
    }
    fn membership_record_ids(&self) -> Vec<RecordId> {
        self.inner.membership_record_ids()
    }
    fn record_entries(&self, id: &RecordId) -> Vec<(LogId, u64)> {
        self.inner.record_entries(id)
    }
    fn put_entry(&mut self, entry: Entry) {
        self.inner.put_entry(entry)
    }
    fn put_record(&mut self, id: RecordId, state: RecordState, value: Option<&Record>) {
        self.inner.put_record(id, state, value)
    }
    fn truncate_log(&mut self, log: &LogId, from: u64) {
        self.inner.truncate_log(log, from)
    }
    fn remove_record(&mut self, id: &RecordId) {
        self.inner.remove_record(id)
    }
    fn version_vector(&self) -> VersionVector {
        self.inner.version_vector()
    }
    fn dormant_entries(&self) -> Vec<Entry> {
        self.inner.dormant_entries()
    }
    fn put_dormant(&mut self, entry: Entry) {
        self.inner.put_dormant(entry)
    }
    fn remove_dormant(&mut self, log: &LogId, seq: u64) {
        self.inner.remove_dormant(log, seq)
    }
    fn proofs(&self) -> Vec<Equivocation> {
        self.inner.proofs()
    }
    fn put_proof(&mut self, proof: &Equivocation) {
        self.inner.put_proof(proof)
    }
    fn missing_payloads(&self) -> Vec<EntryHash> {
        self.inner.missing_payloads()
    }
    fn set_missing(&mut self, hash: EntryHash, missing: bool) {
        self.inner.set_missing(hash, missing)
    }
}

#[test]
fn enforcing_a_revocation_reads_the_revoked_key_s_log_not_the_ledger() {
    const MEMBERS: u8 = 10;
    const EACH: u64 = 80;
    let mut c = Coop::new(8, "Costos");
    let members: Vec<MemberSecret> = (0..MEMBERS).map(|i| member(80 + i)).collect();
    for m in &members {
        c.admit(m, Role::Member);
    }
    for (i, m) in members.iter().enumerate() {
        for n in 0..EACH {
            let record = Record::Offer(offer(&format!("{i}/{n}"), "1 kg"));
            c.ledger
                .write(m, DeviceId(1), None, &record, day(1))
                .unwrap();
        }
    }
    let mut l = Ledger::with_store(Membership::new(c.genesis.clone()), Counting::default());
    for e in c.ledger.all_entries() {
        l.ingest(e).unwrap();
    }
    let held = l.version_vector().total();
    assert!(held >= u64::from(MEMBERS) * EACH);
    // The first member's key was lost after its 60th entry.
    let revocation = c.revoke(
        &members[0],
        vec![Cutoff {
            device: DeviceId(1),
            last_valid: 60,
        }],
    );
    let entry = c.coop_writes(&Record::Revocation(revocation));
    l.store().reads.set(0);
    l.ingest(entry).unwrap();
    let reads = l.store().reads.get();
    let log = LogId {
        author: members[0].public(),
        device: DeviceId(1),
    };
    assert_eq!(l.version_vector().get(&log), 60, "cut where it says");
    // The cut entries and what they touched, a bisection, the revocation's own checks: a
    // small multiple of the 20 entries cut, far below the ledger's size.
    assert!(
        reads < 200,
        "{reads} entries read to enforce one revocation in a ledger of {held}"
    );
}
