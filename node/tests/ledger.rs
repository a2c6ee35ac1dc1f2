//! A co-op ledger on sled: batches commit durably, a restart restores everything without
//! replaying history, and forged entries never reach the disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use minga_node::{CoopLedger, SledStore, Store};
use minga_protocol::*;

const T0: Timestamp = Timestamp(1_793_491_200_000);

struct World {
    coop_key: CoopSecret,
    genesis: Signed<Genesis>,
}

fn world() -> World {
    let coop_key = CoopSecret::from_seed(&[1; 32]);
    let founder = MemberSecret::from_seed(&[2; 32]);
    let genesis = found_coop(&coop_key, "La Esperanza", &founder, T0).unwrap();
    World { coop_key, genesis }
}

fn certificate(w: &World, m: &MemberSecret) -> Record {
    Record::Certificate(
        Signed::sign(
            Certificate {
                signer: w.coop_key.public(),
                coop: w.genesis.coop_id(),
                subject: m.public(),
                role: Role::Member,
                issued: T0,
                expires: None,
                parent: None,
            },
            &w.coop_key.0,
        )
        .unwrap(),
    )
}

fn offer(i: usize) -> Record {
    Record::Offer(Offer::new(
        format!("lot {i}"),
        "food/grain/rice".parse().unwrap(),
        "300 kg".parse().unwrap(),
    ))
}

fn open(dir: &std::path::Path, w: &World) -> CoopLedger {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir).unwrap());
    CoopLedger::open(store, w.genesis.clone()).unwrap()
}

#[test]
fn a_restarted_ledger_has_everything_and_its_members() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let member = MemberSecret::from_seed(&[3; 32]);
    let (records, vv) = {
        let mut l = open(dir.path(), &w);
        l.write(
            &w.coop_key,
            DeviceId(1),
            None,
            &certificate(&w, &member),
            T0,
        )
        .unwrap();
        for i in 0..20 {
            l.write(&member, DeviceId(9), None, &offer(i), T0).unwrap();
        }
        (l.ledger().records(), l.ledger().version_vector())
    };
    let mut l = open(dir.path(), &w);
    assert_eq!(l.ledger().records(), records);
    assert_eq!(l.ledger().version_vector(), vv);
    assert_eq!(records.len(), 21);
    // The certificate was restored without replaying history: the member still writes.
    l.write(&member, DeviceId(9), None, &offer(99), T0).unwrap();
    assert_eq!(l.ledger().version_vector().total(), vv.total() + 1);
    // And the store knows the co-op, so a node can reopen every ledger it carries.
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("other")).unwrap());
    assert!(CoopLedger::open_all(store).unwrap().is_empty());
}

#[test]
fn a_batch_from_a_peer_commits_once_and_forgeries_never_reach_disk() {
    let w = world();
    let member = MemberSecret::from_seed(&[3; 32]);
    // The peer's ledger, in memory.
    let mut peer = MemoryLedger::new(Membership::new(w.genesis.clone()));
    peer.write(
        &w.coop_key,
        DeviceId(1),
        None,
        &certificate(&w, &member),
        T0,
    )
    .unwrap();
    for i in 0..30 {
        peer.write(&member, DeviceId(9), None, &offer(i), T0)
            .unwrap();
    }
    let mut entries = peer.all_entries();
    // A forgery: an entry by a stranger, and a copy of a real entry with a changed payload.
    let stranger = MemberSecret::from_seed(&[66; 32]);
    let mut stranger_ledger = MemoryLedger::new(Membership::new(w.genesis.clone()));
    let _ = stranger_ledger.write(&stranger, DeviceId(5), None, &offer(0), T0);
    let forged = Entry::sign(
        &stranger,
        w.genesis.coop_id(),
        DeviceId(5),
        1,
        EntryHash::default(),
        RecordId::default(),
        EntryKind::Change,
        b"not a change".to_vec(),
        T0,
    );
    // The first entry with its payload changed: the header still verifies, the payload not.
    let mut tampered = entries[0].clone();
    if let Some(p) = tampered.payload.as_mut() {
        p[10] ^= 1;
    }
    // Out of order too: the batch arrives reversed, after the forgeries.
    entries.reverse();
    entries.insert(0, forged.clone());
    entries.insert(0, tampered);

    let dir = tempfile::tempdir().unwrap();
    {
        let mut l = open(dir.path(), &w);
        let report = l.ingest(entries).unwrap();
        assert_eq!(report.accepted.len(), 31);
        assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
        assert!(
            matches!(report.rejected[0].1, EntryError::PayloadMismatch),
            "{:?}",
            report.rejected
        );
    }
    let l = open(dir.path(), &w);
    assert_eq!(l.ledger().records(), peer.records());
    assert_eq!(l.ledger().version_vector(), peer.version_vector());
    assert!(l.ledger().entries(&forged.header.log(), 1, 1).is_empty());
}

#[test]
fn an_equivocation_proof_is_kept_once_stops_its_log_across_a_restart_and_goes_with_its_coop() {
    let w = world();
    let member = MemberSecret::from_seed(&[3; 32]);
    let mut peer = MemoryLedger::new(Membership::new(w.genesis.clone()));
    let cert = peer
        .write(
            &w.coop_key,
            DeviceId(1),
            None,
            &certificate(&w, &member),
            T0,
        )
        .unwrap();
    // Two different entries at one position of the member's log: its key signed both.
    let twin = |i: usize| {
        let log = LogId {
            author: member.public(),
            device: DeviceId(9),
        };
        let payload = author_change(None, &log, &offer(i), T0).unwrap();
        Entry::sign(
            &member,
            w.genesis.coop_id(),
            DeviceId(9),
            1,
            EntryHash::default(),
            RecordId::default(),
            EntryKind::Change,
            payload,
            T0,
        )
    };
    let (a, b) = (twin(1), twin(2));
    let dir = tempfile::tempdir().unwrap();
    {
        let mut l = open(dir.path(), &w);
        let report = l
            .ingest(vec![cert, a.clone(), b.clone(), b.clone()])
            .unwrap();
        assert_eq!(report.accepted.len(), 2);
        assert!(
            report.rejected.is_empty(),
            "a forwarder may not have seen the twin"
        );
        assert_eq!(report.ignored.len(), 2);
        assert_eq!(report.proofs.len(), 1, "one new proof, to tell peers about");
    }
    let l = open(dir.path(), &w);
    // The log stops at the fork, after a restart too: neither twin counts.
    let log = a.header.log();
    assert_eq!(l.ledger().fork(&log), Some(1));
    assert_eq!(l.ledger().version_vector().get(&log), 0);
    assert!(l.ledger().record(&a.record_id()).is_none());
    let kept: Vec<_> = l.equivocations().collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].seq, kept[0].first, kept[0].second),
        (1, a.hash(), b.hash())
    );
    drop(l);
    // Untrusting the co-op deletes its proofs with everything else.
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    CoopLedger::forget(store.as_ref(), &w.genesis.coop_id()).unwrap();
    let l = CoopLedger::open(store, w.genesis.clone()).unwrap();
    assert_eq!(l.equivocations().count(), 0);
}

#[test]
fn entries_a_voided_revocation_cut_off_come_back_after_a_restart() {
    let w = world();
    let coop = w.genesis.coop_id();
    let (admin, member) = (
        MemberSecret::from_seed(&[4; 32]),
        MemberSecret::from_seed(&[5; 32]),
    );
    let cert = |signer: &SecretKey, subject: &MemberSecret, role, parent| {
        Record::Certificate(
            Signed::sign(
                Certificate {
                    signer: signer.public(),
                    coop,
                    subject: subject.public(),
                    role,
                    issued: T0,
                    expires: None,
                    parent,
                },
                signer,
            )
            .unwrap(),
        )
    };
    let revoke = |signer: &SecretKey, subject: &MemberSecret, device: u64, last: u64| {
        Record::Revocation(
            Signed::sign(
                Revocation {
                    signer: signer.public(),
                    coop,
                    subject: subject.public(),
                    cutoffs: vec![Cutoff {
                        device: DeviceId(device),
                        last_valid: last,
                    }],
                    issued: T0,
                    reason: None,
                },
                signer,
            )
            .unwrap(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let mut l = open(dir.path(), &w);
        let admin_cert = cert(&w.coop_key.0, &admin, Role::Admin, None);
        let Record::Certificate(signed) = &admin_cert else {
            unreachable!()
        };
        let parent = signed.hash();
        l.write(&w.coop_key, DeviceId(1), None, &admin_cert, T0)
            .unwrap();
        let by_admin = cert(&admin.0, &member, Role::Member, Some(parent));
        l.write(&admin, DeviceId(2), None, &by_admin, T0).unwrap();
        for i in 0..3 {
            l.write(&member, DeviceId(9), None, &offer(i), T0).unwrap();
        }
        // The admin's key, stolen, revokes the member keeping only its first entry.
        l.write(
            &admin,
            DeviceId(2),
            None,
            &revoke(&admin.0, &member, 9, 1),
            T0,
        )
        .unwrap();
        assert_eq!(offers(&l), 1);
    }
    // After a restart, the co-op key ends the admin before that revocation: it is void, and
    // what it cut off comes back from disk.
    let mut l = open(dir.path(), &w);
    l.write(
        &w.coop_key,
        DeviceId(1),
        None,
        &revoke(&w.coop_key.0, &admin, 2, 1),
        T0,
    )
    .unwrap();
    assert_eq!(offers(&l), 3);
}

fn offers(l: &CoopLedger) -> usize {
    l.ledger()
        .records()
        .values()
        .filter(|r| matches!(r, Record::Offer(_)))
        .count()
}
