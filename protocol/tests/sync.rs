//! Catch-up: version vectors, the messages on the wire, and a full session between two
//! ledgers run over in-memory message passing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use minga_protocol::network::NetworkId;
use minga_protocol::*;
use proptest::prelude::*;

/// How a pull session went.
#[derive(Debug, Default)]
struct Run {
    /// Request/answer round trips.
    trips: usize,
    /// Bytes of the answers.
    received: usize,
    /// Co-ops reported caught up, with the entries the peer sent for each.
    synced: Vec<(CoopId, usize)>,
    /// How the peer broke the protocol, if it did.
    violation: Option<SyncViolation>,
}

/// Runs one pull session of `local` against a peer that answers each request with `serve`,
/// through encoded messages only (two in-memory channels). Fails the test if the session
/// does not end.
fn session(local: &mut MemoryLedger, mut serve: impl FnMut(SyncMessage) -> SyncMessage) -> Run {
    let coop = local.membership().coop();
    let now = std::time::Instant::now();
    let known = [(coop, local.known())].into();
    let (mut s, mut actions) =
        SyncSession::start_with(vec![(coop, local.version_vector().digest())], known, now);
    let mut run = Run::default();
    let mut queue = std::collections::VecDeque::from(std::mem::take(&mut actions));
    while let Some(action) = queue.pop_front() {
        assert!(run.trips < 1000, "the session does not end");
        match action {
            SyncAction::Send { tag, message } => {
                let request = SyncMessage::decode(&message.encode()).unwrap();
                let answer = serve(request).encode();
                run.trips += 1;
                run.received += answer.len();
                let answer = SyncMessage::decode(&answer).unwrap();
                let received = |c: &CoopId| (*c == coop).then(|| local.received_vector());
                queue.extend(s.on_answer(tag, answer, now, received));
            }
            SyncAction::Ingest { coop, entries } => {
                assert!(entries.len() <= MAX_BATCH_ENTRIES);
                let probes = ingest_all(local, entries);
                queue.extend(s.probe(coop, probes, now));
                queue.extend(s.ingested(coop, Some(local.received_vector()), now));
            }
            SyncAction::Attach { coop, entries } => {
                let probes = ingest_all(local, entries);
                queue.extend(s.probe(coop, probes, now));
            }
            SyncAction::Proof { proof, .. } => {
                local.add_proof(&proof);
            }
            SyncAction::Synced { coop, received } => run.synced.push((coop, received)),
            SyncAction::Violation(v) => {
                assert!(s.is_over());
                run.violation = Some(v);
            }
            SyncAction::Done => assert!(s.is_over()),
        }
    }
    assert!(s.is_over(), "the session stopped without ending");
    run
}

/// Ingests entries as a node does; returns the positions worth probing for forks.
fn ingest_all(local: &mut MemoryLedger, entries: Vec<Entry>) -> Vec<(LogId, u64)> {
    entries
        .into_iter()
        .filter_map(|e| local.ingest(e).err()?.fork_probe())
        .collect()
}

/// Answers a request as a node does, from what `remote` holds.
fn honest(remote: &MemoryLedger) -> impl FnMut(SyncMessage) -> SyncMessage + '_ {
    let coop = remote.membership().coop();
    move |request| match request {
        SyncMessage::Summary(s) => {
            differing_vectors(&s, [(&coop, &remote.version_vector())], |_| {
                remote
                    .equivocations()
                    .map(|p| (p.first.header.log(), p.first.header.seq))
                    .collect()
            })
        }
        SyncMessage::WantProof { coop, log, seq } => SyncMessage::Entries {
            coop,
            entries: remote
                .proof_at(&log, seq)
                .map(|p| vec![p.first.encode(), p.second.encode()])
                .unwrap_or_default(),
            more: false,
        },
        SyncMessage::WantPayloads { coop, hashes } => SyncMessage::Entries {
            coop,
            entries: remote
                .all_entries()
                .into_iter()
                .filter(|e| e.payload.is_some() && hashes.contains(&e.hash()))
                .map(|e| e.encode())
                .collect(),
            more: false,
        },
        SyncMessage::Want { coop, ranges } => {
            let (entries, more) = serve_wants(&ranges, |log, seq| {
                remote.entries(log, seq, seq).pop().map(|e| e.encode())
            });
            SyncMessage::Entries {
                coop,
                entries,
                more,
            }
        }
        other => panic!("not a request: {other:?}"),
    }
}

/// Runs one honest pull session: `local` learns what `remote` has. Returns the round trips
/// and the bytes received.
fn pull(local: &mut MemoryLedger, remote: &MemoryLedger) -> (usize, usize) {
    let run = session(local, honest(remote));
    assert_eq!(run.violation, None);
    (run.trips, run.received)
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
    // The replica already has a prefix of every log, received with the logs taking turns
    // as catch-up serves them (the member's certificate early, not after all its entries:
    // a key no statement names may keep only a few entries waiting).
    let vv = c.ledger.version_vector();
    let kept = |e: &Entry| e.header.seq <= (vv.get(&e.header.log()) / 3).max(1);
    let mut prefix: Vec<&Entry> = all.iter().filter(|e| kept(e)).collect();
    prefix.sort_by_key(|e| e.header.seq);
    for e in prefix {
        replica.ingest(e.clone()).unwrap();
    }
    let missing_entries: Vec<Vec<u8>> = all
        .iter()
        .filter(|e| !kept(e))
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
    // In sync, a session is one trip with an empty answer, and says the co-op is in step.
    assert_eq!(pull(&mut replica, &c.ledger), (1, 10));
    let run = session(&mut replica, honest(&c.ledger));
    assert_eq!(run.synced, vec![(c.id(), 0)]);
}

/// A co-op whose member wrote `n` offers on one device, and a replica that holds only what
/// admitted the member.
fn world(n: usize) -> (Coop, MemoryLedger) {
    let mut c = Coop::new(8, "Cooperativa Fénix");
    let m = member(9);
    let cert = c.admit(&m, Role::Member);
    for i in 0..n {
        let offer = Record::Offer(offer(&format!("lot {i}"), "1 kg"));
        c.ledger
            .write(&m, DeviceId(1), None, &offer, day(2))
            .unwrap();
    }
    let mut replica = c.empty_ledger();
    replica.ingest(cert).unwrap();
    (c, replica)
}

#[test]
fn two_nodes_each_pull_what_the_other_has() {
    let (mut a, _) = world(40);
    let mut b = a.empty_ledger();
    let m = member(9);
    for e in a.ledger.all_entries() {
        b.ingest(e).unwrap();
    }
    // Each writes on its own, then each pulls from the other.
    for i in 0..30 {
        let r = Record::Offer(offer(&format!("a {i}"), "1 kg"));
        a.ledger.write(&m, DeviceId(2), None, &r, day(3)).unwrap();
        let r = Record::Offer(offer(&format!("b {i}"), "1 kg"));
        b.write(&m, DeviceId(3), None, &r, day(3)).unwrap();
    }
    let a_before = a.ledger.all_entries();
    let mut a_copy = a.empty_ledger();
    for e in a_before {
        a_copy.ingest(e).unwrap();
    }
    pull(&mut a.ledger, &b);
    pull(&mut b, &a_copy);
    assert_eq!(a.ledger.version_vector(), b.version_vector());
    assert_eq!(a.ledger.records(), b.records());
    // 40 + 30 + 30 offers, and the member's certificate.
    assert_eq!(a.ledger.records().len(), 101);
}

#[test]
fn a_peer_that_sends_nothing_new_ends_the_session() {
    let (c, mut replica) = world(1100);
    let coop = c.id();
    // Every want answered with an empty batch that claims more: one batch, and the end.
    let mut h = honest(&c.ledger);
    let run = session(&mut replica, move |req| match req {
        SyncMessage::Want { coop, .. } => SyncMessage::Entries {
            coop,
            entries: Vec::new(),
            more: true,
        },
        other => h(other),
    });
    assert_eq!(run.violation, None);
    assert_eq!(run.trips, 2);
    assert_eq!(run.synced, vec![(coop, 0)]);
    // The first batch again and again: what it repeats is no longer wanted.
    let mut h = honest(&c.ledger);
    let mut first: Option<SyncMessage> = None;
    let run = session(&mut replica, move |req| match req {
        SyncMessage::Want { .. } => first.get_or_insert_with(|| h(req)).clone(),
        other => h(other),
    });
    assert!(
        matches!(run.violation, Some(SyncViolation::Unwanted { .. })),
        "{run:?}"
    );
    assert_eq!(run.trips, 3);
    assert_eq!(
        replica.version_vector().total(),
        MAX_BATCH_ENTRIES as u64 + 1
    );
}

#[test]
fn answers_that_do_not_fit_their_request_end_the_session() {
    let (c, mut replica) = world(5);
    let mut other = Coop::new(30, "Otra");
    other.admit(&member(31), Role::Member);
    let other_id = other.id();
    let stranger = CoopId(Hash([7; 32]));
    type Serve<'a> = Box<dyn FnMut(SyncMessage) -> SyncMessage + 'a>;
    let cases: Vec<(&str, Serve<'_>)> = vec![
        (
            "a request as an answer",
            Box::new(|_| SyncMessage::Summary(Vec::new())),
        ),
        (
            "vectors of a co-op not asked about",
            Box::new(|_| SyncMessage::Vectors {
                vectors: vec![(stranger, c.ledger.version_vector())],
                forks: Vec::new(),
                more: false,
            }),
        ),
        (
            "`more` with nothing",
            Box::new(|_| SyncMessage::Vectors {
                vectors: Vec::new(),
                forks: Vec::new(),
                more: true,
            }),
        ),
        ("entries of another co-op", {
            let mut h = honest(&c.ledger);
            Box::new(move |req| match req {
                SyncMessage::Want { .. } => SyncMessage::Entries {
                    coop: other_id,
                    entries: Vec::new(),
                    more: false,
                },
                req => h(req),
            })
        }),
        ("another co-op's entries under this co-op's name", {
            let mut h = honest(&c.ledger);
            let theirs: Vec<Vec<u8>> = other
                .ledger
                .all_entries()
                .iter()
                .map(Entry::encode)
                .collect();
            Box::new(move |req| match req {
                SyncMessage::Want { coop, .. } => SyncMessage::Entries {
                    coop,
                    entries: theirs.clone(),
                    more: false,
                },
                req => h(req),
            })
        }),
        ("bytes that are no entry", {
            let mut h = honest(&c.ledger);
            Box::new(move |req| match req {
                SyncMessage::Want { coop, .. } => SyncMessage::Entries {
                    coop,
                    entries: vec![b"mge1 but not an entry".to_vec()],
                    more: false,
                },
                req => h(req),
            })
        }),
    ];
    for (what, serve) in cases {
        let run = session(&mut replica, serve);
        assert!(run.violation.is_some(), "{what}: {run:?}");
        assert_eq!(
            replica.version_vector().total(),
            1,
            "{what}: nothing stored"
        );
    }
    // The honest peer is still heard.
    pull(&mut replica, &c.ledger);
    assert_eq!(replica.version_vector(), c.ledger.version_vector());
}

#[test]
fn a_request_not_answered_in_time_ends_the_session() {
    let now = std::time::Instant::now();
    let coop = CoopId(Hash([1; 32]));
    let (mut s, actions) = SyncSession::start(vec![(coop, Hash([2; 32]))], now);
    assert!(matches!(actions.as_slice(), [SyncAction::Send { .. }]));
    assert_eq!(s.next_deadline(), Some(now + REQUEST_TIMEOUT));
    assert!(s.on_timeout(now + REQUEST_TIMEOUT / 2).is_empty());
    let out = s.on_timeout(now + REQUEST_TIMEOUT + std::time::Duration::from_secs(1));
    assert!(matches!(out.as_slice(), [SyncAction::Done]) && s.is_over());
}

#[test]
fn a_large_vectors_answer_is_split_and_the_rest_asked_about_again() {
    let now = std::time::Instant::now();
    let coops: Vec<CoopId> = (1..=3).map(|i| CoopId(Hash([i; 32]))).collect();
    let big = |n: u64| {
        VersionVector::from_heads((0..n).map(|d| {
            let log = LogId {
                author: member(1).public(),
                device: DeviceId(d),
            };
            (log, 1)
        }))
    };
    let theirs = [big(70_000), big(70_000), big(10)];
    let summary: Vec<(CoopId, Hash)> = coops.iter().map(|c| (*c, Hash([0; 32]))).collect();
    let answer = differing_vectors(&summary, coops.iter().zip(theirs.iter()), |_| Vec::new());
    assert!(answer.encode().len() <= MAX_MESSAGE_BYTES);
    let SyncMessage::Vectors { vectors, more, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert!(*more);
    assert_eq!(
        vectors.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        [coops[0]]
    );
    let (mut s, actions) = SyncSession::start(summary, now);
    let [SyncAction::Send { tag, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    let out = s.on_answer(*tag, answer, now, |_| None);
    let again: Vec<&SyncMessage> = out
        .iter()
        .filter_map(|a| match a {
            SyncAction::Send { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    let [SyncMessage::Summary(asked)] = again.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        asked.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        [coops[1], coops[2]]
    );
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

fn arb_signed_bytes() -> impl Strategy<Value = SignedBytes> {
    (
        proptest::collection::vec(any::<u8>(), 0..80),
        any::<[u8; 32]>(),
    )
        .prop_map(|(bytes, s)| {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&s);
            SignedBytes { bytes, signature }
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
        .prop_map(|vectors| SyncMessage::Vectors {
            vectors,
            forks: Vec::new(),
            more: false
        }),
        (coop.clone(), arb_log(), 1u64..100).prop_map(|(coop, log, seq)| SyncMessage::WantProof {
            coop,
            log,
            seq
        }),
        (
            coop.clone(),
            proptest::collection::vec(any::<[u8; 32]>().prop_map(|h| EntryHash(Hash(h))), 0..8)
        )
            .prop_map(|(coop, hashes)| SyncMessage::WantPayloads { coop, hashes }),
        any::<[u8; 32]>().prop_map(|b| SyncMessage::NetworkAsk {
            network: NetworkId(Hash(b))
        }),
        (
            proptest::option::of(arb_signed_bytes()),
            proptest::collection::vec(arb_signed_bytes(), 0..4)
        )
            .prop_map(|(genesis, founders)| SyncMessage::NetworkInfo { genesis, founders }),
        (any::<[u8; 32]>(), arb_signed_bytes(), "\\PC{0,40}").prop_map(|(b, genesis, note)| {
            SyncMessage::Join {
                network: NetworkId(Hash(b)),
                genesis,
                note,
            }
        }),
        (any::<bool>(), "\\PC{0,40}")
            .prop_map(|(kept, reason)| SyncMessage::JoinAnswer { kept, reason }),
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

/// A co-op with a need by the founder, and a member's device log forked at position 2:
/// branch `a` (two entries) and branch `b` (one). Returns the co-op, the entries before the
/// fork, and both branches.
fn forked() -> (Coop, Vec<Entry>, Vec<Entry>, Vec<Entry>) {
    let mut c = Coop::new(5, "Bifurcada");
    let m = member(51);
    c.admit(&m, Role::Member);
    c.founder_writes(None, &Record::Need(need("Rice", "200 kg")));
    let base = c.ledger.all_entries();
    let dev = DeviceId(3);
    let branch = |titles: &[&str]| {
        let mut l = c.empty_ledger();
        for e in &base {
            l.ingest(e.clone()).unwrap();
        }
        let mut out = vec![
            l.write(
                &m,
                dev,
                None,
                &Record::Offer(offer("Flour", "5 kg")),
                day(2),
            )
            .unwrap(),
        ];
        for t in titles {
            out.push(
                l.write(&m, dev, None, &Record::Offer(offer(t, "1 kg")), day(2))
                    .unwrap(),
            );
        }
        out
    };
    let a = branch(&["Oil", "Salt"]);
    let b = branch(&["Beans"]);
    let mut base = base;
    base.push(a[0].clone());
    (c, base, a[1..].to_vec(), b[1..].to_vec())
}

fn ledger_with(c: &Coop, entries: &[Entry]) -> MemoryLedger {
    let mut l = c.empty_ledger();
    for e in entries {
        let _ = l.ingest(e.clone());
    }
    l
}

#[test]
fn a_fork_known_to_one_side_reaches_the_other_by_catch_up() {
    let (c, base, a, b) = forked();
    let log = a[0].header.log();
    // The remote saw both branches: its log stops at the fork. The local node holds branch
    // `a` only, so nothing in the vectors alone would tell it.
    let remote = ledger_with(&c, &[base.clone(), a.clone(), b].concat());
    assert_eq!(remote.fork(&log), Some(2));
    let mut local = ledger_with(&c, &[base, a].concat());
    assert_eq!(local.version_vector().get(&log), 3);
    let run = session(&mut local, honest(&remote));
    assert!(run.violation.is_none(), "{:?}", run.violation);
    assert_eq!(local.fork(&log), Some(2));
    assert_eq!(local.version_vector(), remote.version_vector());
    assert_eq!(local.records(), remote.records());
    // Once both know it, a session asks for no proof again.
    let again = session(&mut local, honest(&remote));
    assert_eq!(again.trips, 1, "a summary only");
}

#[test]
fn payloads_a_voided_withdrawal_dropped_are_fetched_by_hash() {
    let mut c = Coop::new(6, "Retiro");
    let coord = member(61);
    let dev = DeviceId(4);
    c.admit(&coord, Role::Coordinator);
    let o = c.founder_writes(None, &Record::Offer(offer("Tables", "4 kg")));
    // A peer that holds the offer whole: the withdrawal never reached it.
    let mut remote = ledger_with(&c, &c.ledger.all_entries());
    c.ledger.prune(&coord, dev, o.record_id(), day(3)).unwrap();
    // The local node withdrew the offer: its payload is gone, its header kept.
    let mut local = ledger_with(&c, &c.ledger.all_entries());
    assert!(local.is_pruned(&o.record_id()));
    // The coordinator's key turns out stolen: the withdrawal is cut off, and the offer comes
    // back on the local node, but only as a header.
    let revocation = c.revoke(
        &coord,
        vec![Cutoff {
            device: dev,
            last_valid: 0,
        }],
    );
    let rev = c.coop_writes(&Record::Revocation(revocation));
    local.ingest(rev.clone()).unwrap();
    remote.ingest(rev).unwrap();
    assert_eq!(local.missing_payloads().len(), 1);
    assert!(local.record(&o.record_id()).is_none());
    assert_eq!(
        local.version_vector(),
        remote.version_vector(),
        "the vectors alone see nothing to fetch"
    );
    let run = session(&mut local, honest(&remote));
    assert!(run.violation.is_none(), "{:?}", run.violation);
    assert!(local.missing_payloads().is_empty());
    assert_eq!(local.records(), remote.records());
    assert!(local.record(&o.record_id()).is_some());
}

#[test]
fn bogus_proofs_and_unasked_payloads_end_the_session() {
    let (c, base, a, b) = forked();
    let remote = ledger_with(&c, &[base.clone(), a.clone(), b.clone()].concat());
    let coop = c.id();
    // A peer that lists a fork, then answers the proof request with two copies of one entry.
    let mut local = ledger_with(&c, &[base.clone(), a.clone()].concat());
    let mut h = honest(&remote);
    let one = a[0].encode();
    let run = session(&mut local, |req| match req {
        SyncMessage::WantProof { .. } => SyncMessage::Entries {
            coop,
            entries: vec![one.clone(), one.clone()],
            more: false,
        },
        other => h(other),
    });
    assert_eq!(run.violation, Some(SyncViolation::BadProof));
    assert_eq!(local.fork(&a[0].header.log()), None, "nothing taken");
    // A peer answering a payload request with an entry nobody asked for.
    let mut c2 = Coop::new(6, "Retiro");
    let coord = member(61);
    c2.admit(&coord, Role::Coordinator);
    let o = c2.founder_writes(None, &Record::Offer(offer("Tables", "4 kg")));
    c2.ledger
        .prune(&coord, DeviceId(4), o.record_id(), day(3))
        .unwrap();
    let mut local = ledger_with(&c2, &c2.ledger.all_entries());
    let rev = c2.coop_writes(&Record::Revocation(c2.revoke(
        &coord,
        vec![Cutoff {
            device: DeviceId(4),
            last_valid: 0,
        }],
    )));
    local.ingest(rev).unwrap();
    assert_eq!(local.missing_payloads().len(), 1);
    let unasked = c2.ledger.all_entries()[0].encode();
    let coop2 = c2.id();
    let run = session(&mut local, |req| match req {
        SyncMessage::WantPayloads { .. } => SyncMessage::Entries {
            coop: coop2,
            entries: vec![unasked.clone()],
            more: false,
        },
        SyncMessage::Summary(_) => SyncMessage::Vectors {
            vectors: Vec::new(),
            forks: Vec::new(),
            more: false,
        },
        _ => SyncMessage::Summary(Vec::new()),
    });
    assert_eq!(run.violation, Some(SyncViolation::NotAsked));
    assert_eq!(local.missing_payloads().len(), 1);
}

#[test]
fn a_fork_no_node_has_seen_both_sides_of_is_found_by_probing_and_stops_both() {
    let (c, base, a, b) = forked();
    let log = a[0].header.log();
    // Each node holds one branch only: the sequence numbers alone show no conflict.
    let mut one = ledger_with(&c, &[base.clone(), a].concat());
    let mut other = ledger_with(&c, &[base, b].concat());
    assert_eq!(other.fork(&log), None);
    // `other` pulls the entry after its head; its back-link names another entry than the
    // one `other` holds, so it asks for that position and finds the fork.
    let run = session(&mut other, honest(&one));
    assert!(run.violation.is_none(), "{:?}", run.violation);
    assert_eq!(other.fork(&log), Some(2));
    // And `one` learns it from `other` in its next catch-up.
    let run = session(&mut one, honest(&other));
    assert!(run.violation.is_none(), "{:?}", run.violation);
    assert_eq!(one.fork(&log), Some(2));
    assert_eq!(one.version_vector(), other.version_vector());
    assert_eq!(one.records(), other.records());
}

#[test]
fn a_session_keeps_a_bounded_number_of_requests_in_flight() {
    let now = std::time::Instant::now();
    let coops: Vec<CoopId> = (0..100u8).map(|i| CoopId(Hash([i; 32]))).collect();
    let log = LogId {
        author: member(1).public(),
        device: DeviceId(1),
    };
    let remote = VersionVector::from_heads([(log, 5)]);
    let summary: Vec<(CoopId, Hash)> = coops.iter().map(|c| (*c, Hash([0; 32]))).collect();
    let (mut s, actions) = SyncSession::start(summary.clone(), now);
    let [SyncAction::Send { tag, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    let answer = differing_vectors(&summary, coops.iter().map(|c| (c, &remote)), |_| Vec::new());
    let nothing = |_: &CoopId| Some(VersionVector::default());
    let mut in_flight: Vec<(RequestTag, CoopId)> = Vec::new();
    let mut wanted = std::collections::BTreeSet::new();
    let mut todo = s.on_answer(*tag, answer, now, nothing);
    loop {
        for a in std::mem::take(&mut todo) {
            match a {
                SyncAction::Send {
                    tag,
                    message: SyncMessage::Want { coop, .. },
                } => {
                    wanted.insert(coop);
                    in_flight.push((tag, coop));
                }
                SyncAction::Ingest { coop, .. } => {
                    // A batch that brings nothing: that co-op's pull ends.
                    todo.extend(s.ingested(coop, Some(VersionVector::default()), now));
                }
                _ => {}
            }
        }
        assert!(in_flight.len() <= MAX_IN_FLIGHT, "{}", in_flight.len());
        if !todo.is_empty() {
            continue;
        }
        let Some((tag, coop)) = in_flight.pop() else {
            break;
        };
        let empty = SyncMessage::Entries {
            coop,
            entries: Vec::new(),
            more: false,
        };
        todo = s.on_answer(tag, empty, now, nothing);
    }
    assert_eq!(
        wanted.len(),
        coops.len(),
        "every co-op was asked for in turn"
    );
    assert!(s.is_over());
}
