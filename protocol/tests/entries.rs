//! The five acceptance rules for log entries, one rejection per violated rule, equivocation,
//! byte flips, and convergence in any order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use minga_protocol::*;
use proptest::prelude::*;

fn err(r: Result<Ingested, EntryError>) -> EntryError {
    match r {
        Err(e) => e,
        Ok(i) => panic!("expected a rejection, got {i:?}"),
    }
}

/// A co-op whose founder created one need, and a member `m` (seed 7) certified as member.
fn setup() -> (Coop, MemberSecret, RecordId) {
    let mut c = Coop::new(1, "La Esperanza");
    let m = member(7);
    c.admit(&m, Role::Member);
    let e = c.founder_writes(None, &Record::Need(need("Rice for the kitchen", "200 kg")));
    (c, m, e.record_id())
}

/// An entry by `key` on `device`, correctly chained in `ledger`, that edits record `id`.
fn edit_by(
    ledger: &MemoryLedger,
    key: &MemberSecret,
    device: DeviceId,
    id: RecordId,
    title: &str,
) -> Entry {
    let log = LogId {
        author: key.public(),
        device,
    };
    let state = ledger.record_state(&id).unwrap();
    let Some(Record::Need(mut n)) = ledger.record(&id) else {
        panic!("not a need")
    };
    n.title = title.into();
    let payload = author_change(Some(&state.doc), &log, &Record::Need(n), day(3)).unwrap();
    let (seq, prev) = ledger
        .log_head(&log)
        .map_or((1, EntryHash::default()), |(s, h)| (s + 1, h));
    Entry::sign(
        key,
        ledger.membership().coop(),
        device,
        seq,
        prev,
        id,
        EntryKind::Change,
        payload,
        day(3),
    )
}

#[test]
fn a_member_edit_is_accepted_and_read_back() {
    let (mut c, m, id) = setup();
    let e = edit_by(&c.ledger, &m, DeviceId(9), id, "Rice, urgent");
    let got = c.ledger.ingest(e.clone()).unwrap();
    assert_eq!(got.accepted, vec![e.hash()]);
    let Some(Record::Need(n)) = c.ledger.record(&id) else {
        panic!()
    };
    assert_eq!(n.title, "Rice, urgent");
    assert_eq!(n.quantity.to_string(), "200 kg");
}

#[test]
fn non_member_is_rejected() {
    let (mut c, _, id) = setup();
    let stranger = member(66);
    let e = edit_by(&c.ledger, &stranger, DeviceId(1), id, "spam");
    // A non-member may become one later, so the entry waits rather than being dropped...
    assert!(c.ledger.ingest(e.clone()).unwrap().waiting);
    // ...and validation names the rule it breaks.
    assert!(matches!(
        validate(&e, &c.ledger),
        Err(EntryError::Membership(MembershipError::NotAMember(_)))
    ));
    assert!(c.ledger.record(&id).is_some_and(|r| match r {
        Record::Need(n) => n.title != "spam",
        _ => false,
    }));
}

#[test]
fn entry_past_a_revocation_cutoff_is_rejected() {
    let (mut c, m, id) = setup();
    let dev = DeviceId(9);
    let first = edit_by(&c.ledger, &m, dev, id, "edit one");
    c.ledger.ingest(first).unwrap();
    // Revoked with entry 1 of device 9 valid, nothing after.
    let rev = c.revoke(
        &m,
        vec![Cutoff {
            device: dev,
            last_valid: 1,
        }],
    );
    c.coop_writes(&Record::Revocation(rev));
    let second = edit_by(&c.ledger, &m, dev, id, "edit two");
    assert!(matches!(
        err(c.ledger.ingest(second)),
        EntryError::Membership(MembershipError::Revoked { seq: 2, .. })
    ));
    // A device the revocation does not name is cut off entirely.
    let other = edit_by(&c.ledger, &m, DeviceId(10), id, "other device");
    assert!(matches!(
        err(c.ledger.ingest(other)),
        EntryError::Membership(MembershipError::Revoked { seq: 1, .. })
    ));
}

#[test]
fn change_by_another_actor_is_rejected() {
    let (mut c, m, id) = setup();
    let dev = DeviceId(9);
    // The change is written as device 10's actor but signed into device 9's log.
    let state = c.ledger.record_state(&id).unwrap();
    let Some(Record::Need(mut n)) = c.ledger.record(&id) else {
        panic!()
    };
    n.title = "forged actor".into();
    let wrong = LogId {
        author: m.public(),
        device: DeviceId(10),
    };
    let payload = author_change(Some(&state.doc), &wrong, &Record::Need(n), day(3)).unwrap();
    let e = Entry::sign(
        &m,
        c.id(),
        dev,
        1,
        EntryHash::default(),
        id,
        EntryKind::Change,
        payload,
        day(3),
    );
    assert!(matches!(err(c.ledger.ingest(e)), EntryError::ForeignActor));
}

#[test]
fn gap_and_wrong_back_link_are_rejected() {
    let (mut c, m, id) = setup();
    let dev = DeviceId(9);
    let mut ahead = edit_by(&c.ledger, &m, dev, id, "x");
    ahead.header.seq = 3;
    ahead.signature = m.0.sign(&ahead.header.encode());
    assert!(matches!(
        validate(&ahead, &c.ledger),
        Err(EntryError::Gap {
            expected: 1,
            found: 3,
            ..
        })
    ));
    c.ledger
        .ingest(edit_by(&c.ledger, &m, dev, id, "one"))
        .unwrap();
    let mut bad_link = edit_by(&c.ledger, &m, dev, id, "two");
    bad_link.header.prev = EntryHash(Hash::of(b"not the previous entry"));
    bad_link.signature = m.0.sign(&bad_link.header.encode());
    assert!(matches!(
        err(c.ledger.ingest(bad_link)),
        EntryError::BackLink { seq: 2, .. }
    ));
}

#[test]
fn entry_claiming_another_coops_ledger_is_rejected() {
    let (c, m, id) = setup();
    let mut other = Coop::new(2, "Otra");
    other.admit(&m, Role::Member);
    // Signed for co-op 1, offered to co-op 2's ledger.
    let e = edit_by(&c.ledger, &m, DeviceId(9), id, "x");
    assert!(matches!(
        err(other.ledger.ingest(e)),
        EntryError::WrongCoop { .. }
    ));
}

/// An entry by `key` that skips ahead in a new log (it waits for entry 1, which never comes).
fn gap_entry(c: &Coop, key: &MemberSecret, device: u64) -> Entry {
    let log = LogId {
        author: key.public(),
        device: DeviceId(device),
    };
    let payload = author_change(None, &log, &Record::Offer(offer("x", "1 kg")), day(2)).unwrap();
    Entry::sign(
        key,
        c.id(),
        DeviceId(device),
        2,
        EntryHash::default(),
        RecordId::default(),
        EntryKind::Change,
        payload,
        day(2),
    )
}

#[test]
fn strangers_cannot_crowd_out_what_members_entries_wait_for() {
    let (mut c, m, _) = setup();
    // Strangers (keys no statement names) flood the buffer with entries that can never apply.
    let mut waiting = 0;
    for i in 0..(MAX_PENDING_UNKNOWN as u64 + 50) {
        let mut seed = [9u8; 32];
        seed[..8].copy_from_slice(&i.to_be_bytes());
        let stranger = MemberSecret::from_seed(&seed);
        match c.ledger.ingest(gap_entry(&c, &stranger, i)) {
            Ok(got) => waiting += usize::from(got.waiting),
            Err(e) => {
                assert!(matches!(e, EntryError::PendingFull(_)), "{e}");
                assert!(!e.blames_sender(), "a full buffer blames nobody");
            }
        }
    }
    assert_eq!(waiting, MAX_PENDING_UNKNOWN);
    // A member's entries still wait, up to the member's own quota.
    for d in 0..MAX_PENDING_PER_AUTHOR as u64 {
        assert!(
            c.ledger
                .ingest(gap_entry(&c, &m, 1000 + d))
                .unwrap()
                .waiting
        );
    }
    assert!(matches!(
        c.ledger.ingest(gap_entry(&c, &m, 5000)),
        Err(EntryError::PendingFull(_))
    ));
    assert_eq!(
        c.ledger.pending_len(),
        MAX_PENDING_UNKNOWN + MAX_PENDING_PER_AUTHOR
    );
}

#[test]
fn a_capped_buffer_takes_no_more_than_its_share() {
    let (mut c, m, _) = setup();
    c.ledger.cap_pending(3, usize::MAX);
    let waited: Vec<bool> = (0..5)
        .map(|d| c.ledger.ingest(gap_entry(&c, &m, 100 + d)).is_ok())
        .collect();
    assert_eq!(waited, [true, true, true, false, false]);
    assert_eq!(c.ledger.pending_usage().0, 3);
}

#[test]
fn bad_signature_and_payload_mismatch_are_rejected() {
    let (mut c, m, id) = setup();
    let mut e = edit_by(&c.ledger, &m, DeviceId(9), id, "x");
    e.signature.0[0] ^= 1;
    let bad = err(c.ledger.ingest(e));
    assert!(matches!(bad, EntryError::BadSignature) && bad.blames_sender());
    let mut e = edit_by(&c.ledger, &m, DeviceId(9), id, "x");
    if let Some(p) = e.payload.as_mut() {
        p[0] ^= 1;
    }
    assert!(matches!(
        err(c.ledger.ingest(e)),
        EntryError::PayloadMismatch
    ));
}

#[test]
fn two_entries_at_one_position_are_equivocation() {
    let (mut c, m, id) = setup();
    let dev = DeviceId(9);
    let a = edit_by(&c.ledger, &m, dev, id, "version a");
    let b = edit_by(&c.ledger, &m, dev, id, "version b");
    c.ledger.ingest(a.clone()).unwrap();
    // The same entry again is a harmless duplicate.
    assert!(c.ledger.ingest(a.clone()).unwrap().accepted.is_empty());
    let EntryError::Equivocation(proof) = err(c.ledger.ingest(b.clone())) else {
        panic!("expected equivocation")
    };
    assert!(proof.is_proof());
    assert!(
        !EntryError::Equivocation(proof).blames_sender(),
        "a forwarder may not know"
    );
    assert_eq!(c.ledger.equivocations().len(), 1);
    // The same proof again is kept once: one per log position.
    let _ = c.ledger.ingest(b);
    assert_eq!(c.ledger.equivocations().len(), 1);
}

#[test]
fn a_member_cannot_write_a_certificate_and_statements_must_be_its_own() {
    let (mut c, m, _) = setup();
    let cert = c.certificate(&member(8), Role::Member);
    let err = c
        .ledger
        .write(&m, DeviceId(9), None, &Record::Certificate(cert), day(2))
        .unwrap_err();
    assert!(matches!(
        err,
        EntryError::Membership(MembershipError::RoleTooLow { .. })
    ));
    // A pledge signed by the founder cannot be written into the member's log.
    let pledge = Signed::sign(
        Pledge {
            signer: c.founder.public(),
            coop: c.id(),
            need: RecordRef {
                coop: c.id(),
                record: RecordId::default(),
            },
            offer: None,
            quantity: "1 kg".parse().unwrap(),
            due: None,
            issued: day(2),
            note: None,
        },
        &c.founder.0,
    )
    .unwrap();
    let err = c
        .ledger
        .write(&m, DeviceId(9), None, &Record::Pledge(pledge), day(2))
        .unwrap_err();
    assert!(matches!(err, EntryError::ForeignStatement));
}

#[test]
fn out_of_order_entries_wait_and_then_apply() {
    let (c, m, id) = setup();
    let mut replica = c.empty_ledger();
    let all = c.ledger.all_entries();
    // Deliver in reverse: everything waits until the first entries arrive.
    for e in all.iter().rev() {
        replica.ingest(e.clone()).unwrap();
    }
    assert_eq!(replica.pending_len(), 0);
    assert_eq!(replica.records(), c.ledger.records());
    assert!(replica.record(&id).is_some());
    let _ = m;
}

#[test]
fn prune_drops_payloads_and_keeps_headers() {
    let (mut c, _, id) = setup();
    let (f, d) = (c.founder.clone(), c.founder_device);
    c.ledger.prune(&f, d, id, day(4)).unwrap();
    assert!(c.ledger.is_pruned(&id) && c.ledger.record(&id).is_none());
    let creating = c
        .ledger
        .all_entries()
        .into_iter()
        .find(|e| e.record_id() == id && e.creates_record())
        .unwrap();
    assert!(creating.payload.is_none());
    // A fresh replica accepts the detached headers and the prune: logs stay verifiable.
    let mut replica = c.empty_ledger();
    for e in c.ledger.all_entries() {
        replica.ingest(e).unwrap();
    }
    assert_eq!(replica.pending_len(), 0);
    assert!(replica.is_pruned(&id));
}

#[test]
fn flipping_any_byte_of_an_entry_is_rejected() {
    let (c, m, id) = setup();
    let e = edit_by(&c.ledger, &m, DeviceId(9), id, "flip me");
    let bytes = e.encode();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            let accepted = Entry::decode(&b)
                .ok()
                .map(|e| validate(&e, &c.ledger))
                .is_some_and(|r| r.is_ok());
            assert!(
                !accepted,
                "flipping bit {bit:#x} of byte {i} went unnoticed"
            );
        }
    }
}

#[test]
fn decoding_truncated_entries_fails_cleanly() {
    let (c, m, id) = setup();
    let bytes = edit_by(&c.ledger, &m, DeviceId(9), id, "x").encode();
    for n in 0..bytes.len() {
        assert!(Entry::decode(&bytes[..n]).is_err());
    }
    assert!(Entry::decode(&[bytes.as_slice(), b"x"].concat()).is_err());
}

proptest! {
    #[test]
    fn entry_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Entry::decode(&bytes);
    }

    #[test]
    fn entry_encode_decode_round_trip(seq in 1u64..u64::MAX, device in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..300), ts in 0i64..253_402_300_799_999, prune in any::<bool>()) {
        let key = member(3);
        let e = Entry::sign(&key, CoopId(Hash::of(b"c")), DeviceId(device), seq, EntryHash(Hash::of(b"p")), RecordId::default(), if prune { EntryKind::Prune } else { EntryKind::Change }, payload, Timestamp(ts));
        let back = Entry::decode(&e.encode()).unwrap();
        prop_assert!(back.verify_signature());
        prop_assert_eq!(&back, &e);
        let detached = Entry::decode(&e.detached().encode()).unwrap();
        prop_assert_eq!(detached.hash(), e.hash());
        prop_assert!(detached.payload.is_none());
    }
}

/// Three devices edit a shared need and add records while apart. Applying all their entries
/// in any interleaving that keeps each log's order gives the same records.
fn concurrent_world() -> (Coop, Vec<Vec<Entry>>) {
    let mut c = Coop::new(4, "Convergencia");
    let (a, b) = (member(41), member(42));
    c.admit(&a, Role::Coordinator);
    c.admit(&b, Role::Member);
    let need_entry = c.founder_writes(None, &Record::Need(need("Rice", "200 kg")));
    let id = need_entry.record_id();
    let base: Vec<Entry> = c.ledger.all_entries();

    let mut logs = Vec::new();
    for (key, dev, title, qty) in [
        (a.clone(), DeviceId(1), "Rice (coordinator A)", None),
        (b.clone(), DeviceId(2), "Rice (member B)", Some("250 kg")),
        (a.clone(), DeviceId(3), "Rice (A's phone)", Some("180 kg")),
    ] {
        let mut replica = c.empty_ledger();
        for e in &base {
            replica.ingest(e.clone()).unwrap();
        }
        let Some(Record::Need(mut n)) = replica.record(&id) else {
            panic!()
        };
        n.title = title.into();
        if let Some(q) = qty {
            n.quantity = q.parse().unwrap();
        }
        let mut mine = vec![
            replica
                .write(&key, dev, Some(id), &Record::Need(n.clone()), day(5))
                .unwrap(),
        ];
        n.urgency = Urgency::Critical;
        mine.push(
            replica
                .write(&key, dev, Some(id), &Record::Need(n), day(6))
                .unwrap(),
        );
        mine.push(
            replica
                .write(
                    &key,
                    dev,
                    None,
                    &Record::Offer(offer(title, "10 kg")),
                    day(6),
                )
                .unwrap(),
        );
        logs.push(mine);
    }
    let mut all = vec![base];
    all.extend(logs);
    (c, all)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_order_converges(choices in proptest::collection::vec(any::<prop::sample::Index>(), 64)) {
        let (c, logs) = concurrent_world();
        // Reference: logs applied one after another.
        let mut reference = c.empty_ledger();
        for e in logs.iter().flatten() {
            reference.ingest(e.clone()).unwrap();
        }
        prop_assert_eq!(reference.pending_len(), 0);

        // An interleaving picked by the choices, each log kept in order. Entries that arrive
        // before what they depend on wait in the pending buffer.
        let mut cursors = vec![0usize; logs.len()];
        let mut replica = c.empty_ledger();
        let mut pick = choices.into_iter();
        loop {
            let open: Vec<usize> = (0..logs.len()).filter(|&i| cursors[i] < logs[i].len()).collect();
            if open.is_empty() { break; }
            let i = match pick.next() { Some(ix) => open[ix.index(open.len())], None => open[0] };
            replica.ingest(logs[i][cursors[i]].clone()).unwrap();
            cursors[i] += 1;
        }
        prop_assert_eq!(replica.pending_len(), 0);
        prop_assert_eq!(replica.records(), reference.records());
        prop_assert_eq!(replica.version_vector(), reference.version_vector());
    }
}

#[test]
fn headers_stripped_of_their_payloads_wait_and_never_blank_a_record() {
    let (c, _, id) = setup();
    let mut replica = c.empty_ledger();
    let all = c.ledger.all_entries();
    for e in &all {
        // A peer strips every payload: headers verify, but nothing is held as blank.
        let got = replica.ingest(e.detached()).unwrap();
        assert!(got.waiting && got.accepted.is_empty());
    }
    assert!(replica.record(&id).is_none());
    assert!(replica.version_vector().is_empty());
    assert_eq!(replica.pending_len(), all.len());
    assert!(
        replica.received_vector().is_empty(),
        "catch-up asks for the whole entries again"
    );
    for e in all {
        replica.ingest(e).unwrap();
    }
    assert_eq!(replica.pending_len(), 0);
    assert!(replica.missing_payloads().is_empty());
    assert_eq!(replica.records(), c.ledger.records());
}

#[test]
fn a_revocation_learnt_late_removes_what_it_cuts_off() {
    let (mut c, m, need_id) = setup();
    let dev = DeviceId(9);
    // The member writes three offers and edits the founder's need; the admin had seen only the
    // first offer when it revoked the key.
    let mut by_member = Vec::new();
    for i in 0..3 {
        let e = c
            .ledger
            .write(
                &m,
                dev,
                None,
                &Record::Offer(offer(&format!("lot {i}"), "1 kg")),
                day(2),
            )
            .unwrap();
        by_member.push(e);
    }
    let edit = edit_by(&c.ledger, &m, dev, need_id, "hijacked title");
    c.ledger.ingest(edit.clone()).unwrap();
    let rev = c.revoke(
        &m,
        vec![Cutoff {
            device: dev,
            last_valid: 1,
        }],
    );
    let rev_entry = c.coop_writes(&Record::Revocation(rev));

    // Node X learns everything in log order: the member's entries first, the revocation last.
    let everything = c.ledger.all_entries();
    assert!(
        c.ledger.record(&by_member[1].record_id()).is_none(),
        "the author's own ledger enforced it too"
    );
    let mut x = c.empty_ledger();
    let mut member_entries: Vec<Entry> = by_member.clone();
    member_entries.push(edit.clone());
    for e in everything.iter().filter(|e| e.header.author != m.public()) {
        if e.hash() != rev_entry.hash() {
            x.ingest(e.clone()).unwrap();
        }
    }
    for e in &member_entries {
        x.ingest(e.clone()).unwrap();
    }
    assert!(x.record(&by_member[2].record_id()).is_some());
    x.ingest(rev_entry.clone()).unwrap();

    // Node Y learns the revocation before the member's entries.
    let mut y = c.empty_ledger();
    for e in everything.iter().filter(|e| e.header.author != m.public()) {
        y.ingest(e.clone()).unwrap();
    }
    for e in &member_entries {
        let _ = y.ingest(e.clone());
    }

    for ledger in [&x, &y] {
        assert!(
            ledger.record(&by_member[0].record_id()).is_some(),
            "within the cut-off"
        );
        assert!(ledger.record(&by_member[1].record_id()).is_none());
        assert!(ledger.record(&by_member[2].record_id()).is_none());
        let Some(Record::Need(n)) = ledger.record(&need_id) else {
            panic!()
        };
        assert_eq!(
            n.title, "Rice for the kitchen",
            "the edit past the cut-off is undone"
        );
        let log = LogId {
            author: m.public(),
            device: dev,
        };
        assert_eq!(ledger.version_vector().get(&log), 1);
    }
    assert_eq!(x.records(), y.records());
    assert_eq!(x.version_vector(), y.version_vector());
}

/// A member's device log that forks at position 2: a common first entry (an offer), then
/// branch A (an edit of the co-op's need, then a new offer) and branch B (another edit and
/// another offer). Returns the co-op with the entries before the fork, and both branches.
fn forked_world() -> (Coop, Vec<Entry>, Vec<Entry>, Vec<Entry>) {
    let (mut c, m, need_id) = setup();
    let dev = DeviceId(9);
    let base = c.ledger.all_entries();
    let branch = |title: &str| -> (Vec<Entry>, Vec<Entry>) {
        let mut replica = c.empty_ledger();
        for e in &base {
            replica.ingest(e.clone()).unwrap();
        }
        let first = replica
            .write(
                &m,
                dev,
                None,
                &Record::Offer(offer("Flour", "50 kg")),
                day(3),
            )
            .unwrap();
        let Some(Record::Need(mut n)) = replica.record(&need_id) else {
            panic!("not a need")
        };
        n.title = title.into();
        let edit = replica
            .write(&m, dev, Some(need_id), &Record::Need(n), day(3))
            .unwrap();
        let new = replica
            .write(&m, dev, None, &Record::Offer(offer(title, "5 kg")), day(3))
            .unwrap();
        (vec![first], vec![edit, new])
    };
    let (common, a) = branch("Rice (branch A)");
    let (_, b) = branch("Rice (branch B)");
    for e in &common {
        c.ledger.ingest(e.clone()).unwrap();
    }
    let base = c.ledger.all_entries();
    (c, base, a, b)
}

/// What a ledger ends with, to compare across arrival orders.
fn outcome(l: &MemoryLedger) -> (VersionVector, std::collections::BTreeMap<RecordId, Record>) {
    (l.version_vector(), l.records())
}

#[test]
fn a_forked_log_stops_at_the_fork_and_a_proof_alone_stops_it() {
    let (c, base, a, b) = forked_world();
    let log = a[0].header.log();
    let replay = |entries: &[Entry]| {
        let mut l = c.empty_ledger();
        for e in base.iter().chain(entries) {
            let _ = l.ingest(e.clone());
        }
        l
    };
    // Branch A first, then B's entry at the same position: the log keeps only the common
    // entry, and branch A's edit and offer are gone with it.
    let mut ab = replay(&[a.clone(), b.clone()].concat());
    assert_eq!(ab.fork(&log), Some(2));
    assert_eq!(ab.version_vector().get(&log), 1);
    assert_eq!(ab.equivocations().len(), 1);
    assert_eq!(
        outcome(&ab),
        outcome(&replay(&[])),
        "as if neither branch came"
    );
    // Entries past the fork are refused from now on, without blaming who forwards them.
    let refused = err(ab.ingest(a[1].clone()));
    assert!(
        matches!(refused, EntryError::Forked { at: 2, .. }) && !refused.blames_sender(),
        "{refused:?}"
    );
    // A ledger that holds branch A only learns of the fork from the proof alone.
    let mut only_a = replay(&a);
    assert_eq!(only_a.version_vector().get(&log), 3);
    let proof = ab.equivocations().next().unwrap().clone();
    assert!(only_a.add_proof(&proof));
    assert!(!only_a.add_proof(&proof), "kept once");
    assert_eq!(outcome(&only_a), outcome(&ab));
    // Catch-up asks for nothing more of a stopped log.
    assert_eq!(only_a.received_vector().get(&log), u64::MAX);
}

#[test]
fn a_proof_must_be_one_about_a_key_of_this_coop() {
    let (c, base, a, b) = forked_world();
    let mut l = c.empty_ledger();
    for e in &base {
        l.ingest(e.clone()).unwrap();
    }
    // The same entry twice proves nothing.
    let same = Equivocation {
        first: a[0].clone(),
        second: a[0].clone(),
    };
    assert!(!l.add_proof(&same));
    // A forged second entry (its signature broken) proves nothing either.
    let mut forged = b[0].clone();
    forged.signature.0[5] ^= 1;
    let bad = Equivocation {
        first: a[0].clone(),
        second: forged,
    };
    assert!(!l.add_proof(&bad));
    // A stranger signing twice takes no room here.
    let stranger = member(66);
    let twin = |title: &str| {
        let log = LogId {
            author: stranger.public(),
            device: DeviceId(1),
        };
        let payload =
            author_change(None, &log, &Record::Offer(offer(title, "1 kg")), day(3)).unwrap();
        Entry::sign(
            &stranger,
            c.id(),
            DeviceId(1),
            1,
            EntryHash::default(),
            RecordId::default(),
            EntryKind::Change,
            payload,
            day(3),
        )
    };
    let strangers = Equivocation {
        first: twin("one"),
        second: twin("two"),
    };
    assert!(strangers.is_proof());
    assert!(!l.add_proof(&strangers));
    assert_eq!(l.equivocations().len(), 0);
    // Another co-op's proof is not this co-op's business.
    let other = Coop::new(2, "Otra");
    let mut theirs = other.empty_ledger();
    assert!(!theirs.add_proof(&Equivocation {
        first: a[1].clone(),
        second: b[1].clone(),
    }));
    // The real one is kept.
    assert!(l.add_proof(&Equivocation {
        first: a[0].clone(),
        second: b[0].clone(),
    }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever order both branches arrive in, every ledger ends the same: the log stops at
    /// the fork.
    #[test]
    fn a_fork_ends_the_same_in_any_arrival_order(
        order in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle()
    ) {
        let (c, base, a, b) = forked_world();
        let branches = [a[0].clone(), a[1].clone(), b[0].clone(), b[1].clone()];
        let mut l = c.empty_ledger();
        for e in &base {
            l.ingest(e.clone()).unwrap();
        }
        for i in order {
            let _ = l.ingest(branches[i].clone());
        }
        let mut reference = c.empty_ledger();
        for e in &base {
            reference.ingest(e.clone()).unwrap();
        }
        prop_assert_eq!(l.fork(&a[0].header.log()), Some(2));
        prop_assert_eq!(l.pending_len(), 0);
        prop_assert_eq!(outcome(&l), outcome(&reference));
    }
}
