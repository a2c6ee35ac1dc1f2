//! Catch-up: version vectors, the messages on the wire, and a full session between two
//! ledgers run over in-memory message passing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use minga_protocol::*;
use proptest::prelude::*;

/// Runs one pull session: `local` learns what `remote` has, through encoded messages only.
/// Returns the number of request/response round trips and the bytes received.
fn pull(local: &mut MemoryLedger, remote: &MemoryLedger) -> (usize, usize) {
    let coop = local.membership().coop();
    let mut trips = 0;
    let mut received = 0;
    // 1. Summary → Vectors.
    let summary = SyncMessage::Summary(vec![(coop, local.version_vector().digest())]);
    let SyncMessage::Summary(s) = SyncMessage::decode(&summary.encode()).unwrap() else {
        panic!()
    };
    let remote_vv = remote.version_vector();
    let reply = SyncMessage::Vectors(differing_vectors(&s, [(&coop, &remote_vv)])).encode();
    trips += 1;
    received += reply.len();
    let SyncMessage::Vectors(vectors) = SyncMessage::decode(&reply).unwrap() else {
        panic!()
    };
    let Some((_, theirs)) = vectors.into_iter().next() else {
        return (trips, received);
    };
    // 2. Want → Entries, until nothing more.
    loop {
        let ranges = plan_wants(&local.received_vector(), &theirs);
        if ranges.is_empty() {
            return (trips, received);
        }
        let want = SyncMessage::Want { coop, ranges }.encode();
        let SyncMessage::Want { ranges, .. } = SyncMessage::decode(&want).unwrap() else {
            panic!()
        };
        let (entries, more) = serve_wants(&ranges, |log, seq| {
            remote.entries(log, seq, seq).pop().map(|e| e.encode())
        });
        let batch = SyncMessage::Entries {
            coop,
            entries,
            more,
        }
        .encode();
        trips += 1;
        received += batch.len();
        let SyncMessage::Entries { entries, .. } = SyncMessage::decode(&batch).unwrap() else {
            panic!()
        };
        assert!(entries.len() <= MAX_BATCH_ENTRIES);
        for e in entries {
            local.ingest(Entry::decode(&e).unwrap()).unwrap();
        }
    }
}

#[test]
fn a_replica_missing_entries_catches_up_in_bounded_batches() {
    let mut c = Coop::new(5, "Sincronía");
    let m = member(6);
    c.admit(&m, Role::Member);
    // Two devices; more entries than one batch holds.
    for i in 0..1700 {
        let dev = DeviceId(1 + (i % 2));
        c.ledger
            .write(
                &m,
                dev,
                None,
                &Record::Offer(offer(&format!("lot {i}"), "1 kg")),
                day(2),
            )
            .unwrap();
    }
    let all = c.ledger.all_entries();
    let mut replica = c.empty_ledger();
    // The replica already has a prefix of every log.
    let vv = c.ledger.version_vector();
    for e in &all {
        if e.header.seq <= vv.get(&e.header.log()) / 3 {
            replica.ingest(e.clone()).unwrap();
        }
    }
    let missing_entries: Vec<Vec<u8>> = all
        .iter()
        .filter(|e| e.header.seq > vv.get(&e.header.log()) / 3)
        .map(|e| e.encode())
        .collect();
    let missing = missing_entries.len();
    let missing_bytes: usize = missing_entries.iter().map(Vec::len).sum();
    assert!(missing > MAX_BATCH_ENTRIES);
    let (trips, bytes) = pull(&mut replica, &c.ledger);
    assert_eq!(replica.version_vector(), c.ledger.version_vector());
    assert_eq!(replica.records(), c.ledger.records());
    // One trip for the summary, then batches; the bytes are the entries plus framing.
    assert_eq!(trips, 1 + missing.div_ceil(MAX_BATCH_ENTRIES));
    assert!(
        bytes < missing_bytes + missing_bytes / 10,
        "{bytes} vs {missing_bytes}"
    );
    // In sync, a session is one trip with an empty answer.
    assert_eq!(pull(&mut replica, &c.ledger), (1, 5));
}

#[test]
fn digests_agree_exactly_when_vectors_do() {
    let log = |s: u8, d: u64| LogId {
        author: member(s).public(),
        device: DeviceId(d),
    };
    let a = VersionVector::from_heads([(log(1, 1), 5), (log(2, 1), 3)]);
    let b = VersionVector::from_heads([(log(2, 1), 3), (log(1, 1), 5), (log(3, 3), 0)]);
    assert_eq!(a.digest(), b.digest());
    let c = VersionVector::from_heads([(log(1, 1), 5), (log(2, 1), 4)]);
    assert_ne!(a.digest(), c.digest());
    assert_eq!(
        plan_wants(&a, &c),
        vec![Want {
            log: log(2, 1),
            from: 4,
            to: 4
        }]
    );
    assert!(plan_wants(&c, &a).is_empty());
}

#[test]
fn oversized_counts_and_bad_ranges_are_errors() {
    let mut huge = vec![1u8];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        SyncMessage::decode(&huge),
        Err(SyncError::TooMany { .. })
    ));
    let mut claims_many = vec![1u8];
    claims_many.extend_from_slice(&5000u32.to_be_bytes());
    assert!(matches!(
        SyncMessage::decode(&claims_many),
        Err(SyncError::Wire(_))
    ));
    let bad_range = SyncMessage::Want {
        coop: CoopId::default(),
        ranges: vec![Want {
            log: LogId {
                author: member(1).public(),
                device: DeviceId(1),
            },
            from: 5,
            to: 2,
        }],
    };
    assert!(matches!(
        SyncMessage::decode(&bad_range.encode()),
        Err(SyncError::Range)
    ));
    assert!(SyncMessage::decode(&[9]).is_err());
    assert!(SyncMessage::decode(&vec![0u8; MAX_MESSAGE_BYTES + 1]).is_err());
}

fn arb_log() -> impl Strategy<Value = LogId> {
    (1u8..20, any::<u64>()).prop_map(|(s, d)| LogId {
        author: member(s).public(),
        device: DeviceId(d),
    })
}

fn arb_message() -> impl Strategy<Value = SyncMessage> {
    let coop = any::<[u8; 32]>().prop_map(|b| CoopId(Hash(b)));
    prop_oneof![
        proptest::collection::vec((coop.clone(), any::<[u8; 32]>().prop_map(Hash)), 0..8)
            .prop_map(SyncMessage::Summary),
        proptest::collection::vec(
            (
                coop.clone(),
                proptest::collection::vec((arb_log(), 1u64..1000), 0..8)
                    .prop_map(VersionVector::from_heads)
            ),
            0..4
        )
        .prop_map(SyncMessage::Vectors),
        (
            coop.clone(),
            proptest::collection::vec((arb_log(), 1u64..100, 0u64..100), 0..8)
        )
            .prop_map(|(coop, r)| SyncMessage::Want {
                coop,
                ranges: r
                    .into_iter()
                    .map(|(log, from, n)| Want {
                        log,
                        from,
                        to: from + n
                    })
                    .collect()
            }),
        (
            coop,
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..4),
            any::<bool>()
        )
            .prop_map(|(coop, payloads, more)| SyncMessage::Entries {
                coop,
                entries: payloads
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| Entry::sign(
                        &member(1),
                        coop,
                        DeviceId(1),
                        i as u64 + 1,
                        EntryHash::default(),
                        RecordId::default(),
                        EntryKind::Change,
                        p,
                        T0
                    )
                    .encode())
                    .collect(),
                more
            }),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(msg in arb_message()) {
        prop_assert_eq!(SyncMessage::decode(&msg.encode()).unwrap(), msg);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(tag in 1u8..5, bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = SyncMessage::decode(&bytes);
        let _ = SyncMessage::decode(&[&[tag][..], &bytes].concat());
    }
}
