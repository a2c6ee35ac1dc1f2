//! Admission to a network by vouches: founders are in, vouches from admitted co-ops admit, a
//! ring of strangers admits no one, a vouch taken back counts no more, an expulsion needs the
//! rule's number of admitted co-ops and keeps what the expelled co-op signed before its
//! cut-offs; and the admitted set is the same whatever order the statements come in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use minga_protocol::network::*;
use minga_protocol::*;
use proptest::prelude::*;

fn coop(n: u8) -> CoopId {
    CoopId(Hash::of(&[b'c', n]))
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn log(n: u8, device: u64) -> LogId {
    LogId {
        author: key(n).public(),
        device: DeviceId(device),
    }
}

struct Net {
    facts: NetworkFacts,
    next: u32,
}

impl Net {
    /// A network founded by co-ops 1 and 2 (created by 1), `rule` vouches to join.
    fn new(rule: u32) -> Net {
        let g = NetworkGenesis {
            signer: key(1).public(),
            coop: coop(1),
            name: "Red de Cooperativas del Oeste".into(),
            founders: vec![coop(1), coop(2)],
            vouches: rule,
            created: Timestamp(0),
        };
        Net {
            facts: NetworkFacts {
                genesis: Signed::sign(g, &key(1)).unwrap(),
                vouches: vec![],
                unvouches: vec![],
                expels: vec![],
            },
            next: 0,
        }
    }

    fn id(&self) -> NetworkId {
        self.facts.genesis.network_id()
    }

    fn at(&mut self, by: u8) -> RecordRef {
        self.next += 1;
        RecordRef {
            coop: coop(by),
            record: RecordId(Hash::of(&self.next.to_be_bytes())),
        }
    }

    /// Co-op `by` vouches for `subject`, in the entry at `seq` of its log 0.
    fn vouch_at(&mut self, by: u8, subject: u8, seq: u64) -> RecordRef {
        let v = Vouch {
            signer: key(by).public(),
            coop: coop(by),
            network: self.id(),
            subject: coop(subject),
            issued: Timestamp(seq as i64),
            note: None,
        };
        let at = self.at(by);
        self.facts.vouches.push(Placed {
            at,
            log: log(by, 0),
            seq,
            statement: Signed::sign(v, &key(by)).unwrap(),
        });
        at
    }

    fn vouch(&mut self, by: u8, subject: u8) -> RecordRef {
        self.vouch_at(by, subject, 1)
    }

    fn unvouch(&mut self, by: u8, vouch: RecordRef) {
        let u = Unvouch {
            signer: key(by).public(),
            coop: coop(by),
            network: self.id(),
            vouch,
            issued: Timestamp(10),
            reason: None,
        };
        let at = self.at(by);
        self.facts.unvouches.push(Placed {
            at,
            log: log(by, 0),
            seq: 9,
            statement: Signed::sign(u, &key(by)).unwrap(),
        });
    }

    fn expel(&mut self, by: u8, subject: u8, cutoffs: &[LogCutoff]) {
        let bytes = encode_cutoffs(cutoffs);
        let e = Expel {
            signer: key(by).public(),
            coop: coop(by),
            network: self.id(),
            subject: coop(subject),
            cutoffs: Hash::of(&bytes),
            issued: Timestamp(20),
            reason: Some("no entregó lo prometido".into()),
        };
        let at = self.at(by);
        let statement = Signed::sign(e, &key(by)).unwrap();
        let cutoffs = decode_cutoffs(&bytes, &statement.value().cutoffs).unwrap();
        self.facts.expels.push(PlacedExpel {
            expel: Placed {
                at,
                log: log(by, 0),
                seq: 20,
                statement,
            },
            cutoffs,
        });
    }

    fn admitted(&self) -> BTreeSet<CoopId> {
        admission(&self.facts).admitted.keys().copied().collect()
    }
}

fn set(ns: &[u8]) -> BTreeSet<CoopId> {
    ns.iter().map(|n| coop(*n)).collect()
}

#[test]
fn founders_are_in_and_vouches_from_admitted_coops_admit_in_chains() {
    let mut n = Net::new(2);
    assert_eq!(n.admitted(), set(&[1, 2]));
    n.vouch(1, 3);
    let a = admission(&n.facts);
    assert_eq!(a.pending[&coop(3)], set(&[1]));
    assert!(!a.is_admitted(&coop(3)));
    n.vouch(2, 3);
    assert_eq!(n.admitted(), set(&[1, 2, 3]));
    // 3, once in, vouches with the others: 4 needs two of them.
    n.vouch(3, 4);
    assert_eq!(n.admitted(), set(&[1, 2, 3]));
    n.vouch(1, 4);
    let a = admission(&n.facts);
    assert_eq!(a.admitted[&coop(4)], set(&[1, 3]));
    assert!(a.pending.is_empty());
}

#[test]
fn a_ring_of_strangers_admits_no_one_and_self_vouches_do_not_count() {
    let mut n = Net::new(1);
    n.vouch(5, 6);
    n.vouch(6, 5);
    n.vouch(7, 7);
    assert_eq!(n.admitted(), set(&[1, 2]));
    // A vouch written for another network counts nowhere here.
    let other = Net::new(2).id();
    let v = Vouch {
        signer: key(1).public(),
        coop: coop(1),
        network: other,
        subject: coop(8),
        issued: Timestamp(1),
        note: None,
    };
    let at = n.at(1);
    n.facts.vouches.push(Placed {
        at,
        log: log(1, 0),
        seq: 1,
        statement: Signed::sign(v, &key(1)).unwrap(),
    });
    assert_eq!(n.admitted(), set(&[1, 2]));
    n.vouch(1, 8);
    assert_eq!(n.admitted(), set(&[1, 2, 8]));
}

#[test]
fn a_vouch_taken_back_counts_no_more_and_only_its_own_coop_takes_it_back() {
    let mut n = Net::new(2);
    n.vouch(1, 3);
    let by_two = n.vouch(2, 3);
    n.vouch(1, 4);
    n.vouch(3, 4);
    assert_eq!(n.admitted(), set(&[1, 2, 3, 4]));
    // Co-op 1 cannot take back 2's vouch.
    n.unvouch(1, by_two);
    assert_eq!(n.admitted(), set(&[1, 2, 3, 4]));
    // 2 takes it back: 3 falls to one vouch, and 4, vouched by 3, falls with it.
    n.unvouch(2, by_two);
    let a = admission(&n.facts);
    assert_eq!(n.admitted(), set(&[1, 2]));
    assert_eq!(a.pending[&coop(3)], set(&[1]));
    assert_eq!(a.pending[&coop(4)], set(&[1]));
}

#[test]
fn an_expulsion_takes_the_rule_and_keeps_what_was_signed_before_the_cutoffs() {
    let mut n = Net::new(2);
    n.vouch(1, 3);
    n.vouch(2, 3);
    // 3 vouches for 4 early (entry 4) and for 5 late (entry 9), with 1's vouch for each.
    n.vouch_at(3, 4, 4);
    n.vouch(1, 4);
    n.vouch_at(3, 5, 9);
    n.vouch(1, 5);
    assert_eq!(n.admitted(), set(&[1, 2, 3, 4, 5]));
    // One expulsion is not enough with a rule of two.
    let cut = |l: LogId, last_valid| LogCutoff { log: l, last_valid };
    n.expel(1, 3, &[cut(log(3, 0), 5)]);
    assert!(admission(&n.facts).expelled.is_empty());
    // A second, seeing more of log 0 and a second log.
    n.expel(2, 3, &[cut(log(3, 0), 7), cut(log(3, 1), 3)]);
    let a = admission(&n.facts);
    let e = &a.expelled[&coop(3)];
    assert_eq!(e.by, set(&[1, 2]));
    assert!(e.keeps(&log(3, 0), 7) && !e.keeps(&log(3, 0), 8));
    assert!(e.keeps(&log(3, 1), 3) && !e.keeps(&log(3, 1), 4));
    assert!(!e.keeps(&log(3, 2), 1), "a log nobody named keeps nothing");
    // 3 is out; its vouch before the cut-off still counts for 4, the one after does not.
    assert_eq!(n.admitted(), set(&[1, 2, 4]));
    assert_eq!(a.admitted[&coop(4)], set(&[1, 3]));
    assert_eq!(a.pending[&coop(5)], set(&[1]));
}

#[test]
fn cutoffs_have_one_encoding_bound_to_the_statement() {
    let c = |n, d, s| LogCutoff {
        log: log(n, d),
        last_valid: s,
    };
    let list = vec![c(4, 2, 9), c(3, 1, 5), c(3, 0, 7)];
    let bytes = encode_cutoffs(&list);
    let h = Hash::of(&bytes);
    let mut sorted = list.clone();
    sorted.sort_by_key(|x| (*x.log.author.as_bytes(), x.log.device.0));
    assert_eq!(decode_cutoffs(&bytes, &h).unwrap(), sorted);
    assert!(decode_cutoffs(&bytes, &Hash::of(b"other")).is_err());
    assert!(decode_cutoffs(&bytes[..47], &Hash::of(&bytes[..47])).is_err());
    // The same cut-offs in another order are another encoding, refused.
    let mut swapped = bytes[48..96].to_vec();
    swapped.extend_from_slice(&bytes[..48]);
    assert!(decode_cutoffs(&swapped, &Hash::of(&swapped)).is_err());
}

#[test]
fn a_genesis_names_its_creator_among_distinct_founders() {
    let g = |founders: Vec<CoopId>, vouches| NetworkGenesis {
        signer: key(1).public(),
        coop: coop(1),
        name: "Red".into(),
        founders,
        vouches,
        created: Timestamp(0),
    };
    assert!(g(vec![coop(1), coop(2)], 1).check().is_ok());
    assert!(g(vec![coop(2)], 1).check().is_err());
    assert!(g(vec![coop(1), coop(1)], 1).check().is_err());
    assert!(g(vec![coop(1)], 0).check().is_err());
    // The check runs whenever a signed genesis is read.
    let bad = Signed::sign(g(vec![coop(2)], 1), &key(1)).unwrap();
    assert!(Signed::<NetworkGenesis>::verify(bad.bytes(), *bad.signature()).is_err());
    let good = Signed::sign(g(vec![coop(1), coop(2)], 1), &key(1)).unwrap();
    let back = Signed::<NetworkGenesis>::verify(good.bytes(), *good.signature()).unwrap();
    assert_eq!(back.network_id(), good.network_id());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any vouches, withdrawals and expulsions among eight co-ops, in any order: one answer.
    #[test]
    fn the_same_statements_in_any_order_admit_the_same_coops(
        vouches in proptest::collection::vec((1u8..9, 1u8..9, 1u64..12), 0..40),
        unvouch_every in 2usize..6,
        expels in proptest::collection::vec((1u8..9, 1u8..9, 0u64..12), 0..8),
        seed in any::<u64>(),
    ) {
        let mut n = Net::new(2);
        let mut refs = Vec::new();
        for (by, subject, seq) in &vouches {
            refs.push((*by, n.vouch_at(*by, *subject, *seq)));
        }
        for (i, (by, r)) in refs.iter().enumerate() {
            if i % unvouch_every == 0 {
                n.unvouch(*by, *r);
            }
        }
        for (by, subject, last) in &expels {
            n.expel(*by, *subject, &[LogCutoff { log: log(*subject, 0), last_valid: *last }]);
        }
        let want = admission(&n.facts);
        // A shuffle driven by the seed, of every list.
        let mut f = n.facts.clone();
        let mut s = seed | 1;
        let mut next = move |len: usize| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % len.max(1) as u64) as usize
        };
        for i in (1..f.vouches.len()).rev() {
            let j = next(i + 1);
            f.vouches.swap(i, j);
        }
        for i in (1..f.unvouches.len()).rev() {
            let j = next(i + 1);
            f.unvouches.swap(i, j);
        }
        for i in (1..f.expels.len()).rev() {
            let j = next(i + 1);
            f.expels.swap(i, j);
        }
        prop_assert_eq!(admission(&f), want.clone());
        // Founders are in unless expelled; no one is both admitted and expelled or pending.
        for c in want.admitted.keys() {
            prop_assert!(!want.expelled.contains_key(c));
            prop_assert!(!want.pending.contains_key(c));
        }
        for founder in [coop(1), coop(2)] {
            prop_assert!(want.is_admitted(&founder) || want.expelled.contains_key(&founder));
        }
    }
}

#[test]
fn an_invite_reads_back_and_a_damaged_one_is_refused() {
    let invite = Invite {
        network: NetworkId(Hash::of(b"red")),
        coop: coop(1),
        addrs: vec![
            "/ip4/203.0.113.5/tcp/7171/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                .into(),
            "/dns4/nodo.example.org/udp/7171/quic-v1".into(),
        ],
    };
    let line = invite.encode();
    assert!(line.starts_with(INVITE_PREFIX));
    assert!(!line.contains(char::is_whitespace), "one line: {line}");
    assert_eq!(Invite::decode(&format!("  {line}\n")).unwrap(), invite);

    // Any one character changed, or the line cut short, is caught by the check.
    let body = line.len() - INVITE_PREFIX.len();
    for at in [
        INVITE_PREFIX.len(),
        INVITE_PREFIX.len() + body / 2,
        line.len() - 1,
    ] {
        let mut bytes = line.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        assert!(Invite::decode(&changed).is_err(), "changed at {at}");
    }
    assert!(matches!(
        Invite::decode(&line[..line.len() - 6]),
        Err(InviteError::Damaged(_))
    ));
    assert_eq!(Invite::decode("hola"), Err(InviteError::Prefix));

    // At most four addresses travel, and an invite with none is not one.
    let many = Invite {
        addrs: (0..9).map(|i| format!("/ip4/192.0.2.{i}/tcp/1")).collect(),
        ..invite.clone()
    };
    assert_eq!(Invite::decode(&many.encode()).unwrap().addrs.len(), 4);
    let none = Invite {
        addrs: vec![],
        ..invite
    };
    assert!(matches!(
        Invite::decode(&none.encode()),
        Err(InviteError::Addrs(_))
    ));
}

/// A co-op with an admin able to sign network statements, and its ledger.
fn founded(seed: u8) -> (Signed<Genesis>, MemberSecret, MemoryLedger) {
    let coop_key = CoopSecret::from_seed(&[seed; 32]);
    let admin = MemberSecret::from_seed(&[seed + 100; 32]);
    let genesis = found_coop(&coop_key, "Textil Oeste", &admin, Timestamp(0)).unwrap();
    let ledger = MemoryLedger::new(Membership::new(genesis.clone()));
    (genesis, admin, ledger)
}

#[test]
fn a_vouch_record_carries_the_genesis_of_the_co_op_it_names() {
    let (g1, admin, mut ledger) = founded(1);
    let (g2, _, _) = founded(2);
    let (g3, _, _) = founded(3);
    let vouch = |subject: CoopId| {
        Signed::sign(
            Vouch {
                signer: admin.public(),
                coop: g1.coop_id(),
                network: NetworkId(Hash::of(b"red")),
                subject,
                issued: Timestamp(1),
                note: Some("los conocemos de la feria".into()),
            },
            &admin.0,
        )
        .unwrap()
    };
    let record = Record::Vouch(Box::new(VouchRecord {
        vouch: vouch(g2.coop_id()),
        genesis: g2.clone(),
    }));
    let entry = ledger
        .write(&admin, DeviceId(1), None, &record, Timestamp(1))
        .unwrap();
    assert_eq!(ledger.record(&entry.record_id()).unwrap(), record);

    // The genesis of another co-op than the subject is refused before anything is written.
    let wrong = Record::Vouch(Box::new(VouchRecord {
        vouch: vouch(g2.coop_id()),
        genesis: g3,
    }));
    assert!(wrong.check().is_err());
    assert!(
        ledger
            .write(&admin, DeviceId(1), None, &wrong, Timestamp(2))
            .is_err()
    );
}

#[test]
fn an_expelled_co_op_keeps_its_entries_up_to_the_cut_off_and_no_more() {
    let (_, admin, mut ledger) = founded(1);
    let mut ids = Vec::new();
    for i in 0..4u32 {
        let offer = Record::Offer(Offer::new(
            format!("lote {i}"),
            "food/grain/rice".parse().unwrap(),
            "10 kg".parse().unwrap(),
        ));
        let e = ledger
            .write(
                &admin,
                DeviceId(1),
                None,
                &offer,
                Timestamp(i64::from(i) + 1),
            )
            .unwrap();
        ids.push(e);
    }
    let log = ids[0].header.log();
    let later = ids.split_off(2);
    // A copy of the ledger that has only the first two, to take the later ones afterwards.
    let (g, _, _) = founded(1);
    let mut other = MemoryLedger::new(Membership::new(g));
    for e in &ids {
        other.ingest(e.clone()).unwrap();
    }

    ledger.expel(std::collections::BTreeMap::from([(log, 2)]));
    assert!(ledger.is_expelled());
    assert_eq!(ledger.version_vector().get(&log), 2);
    assert!(ledger.record(&later[0].record_id()).is_none());
    assert!(ledger.record(&ids[1].record_id()).is_some());

    other.expel(std::collections::BTreeMap::from([(log, 2)]));
    assert!(matches!(
        other.ingest(later[0].clone()),
        Err(EntryError::Expelled { from: 3, .. })
    ));
    // A log the expulsion does not name keeps nothing.
    let offer = Record::Offer(Offer::new(
        "otro",
        "food/grain/rice".parse().unwrap(),
        "1 kg".parse().unwrap(),
    ));
    assert!(
        ledger
            .write(&admin, DeviceId(2), None, &offer, Timestamp(9))
            .is_err()
    );
    // Readmitted, it takes entries again.
    other.readmit();
    other.ingest(later[0].clone()).unwrap();
    assert_eq!(other.version_vector().get(&log), 3);
}
