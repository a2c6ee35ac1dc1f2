//! A misbehaving peer gossips forged entries (bad signature, non-member author, another
//! co-op's ledger, a gap): none is stored or forwarded, the peer is penalised, and honest
//! traffic goes on.

use minga_node::NodeEvent;
use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entries_are_dropped_and_their_sender_penalised() {
    init_tracing();
    let w = World::new(6);
    // M is the misbehaving node; H1 and H2 are honest, connected in a line M - H1 - H2.
    let (m, h1, h2) = (
        spawn(&w, 61).await,
        spawn(&w, 62).await,
        spawn(&w, 63).await,
    );
    connect(&m.handle, &h1.handle).await;
    connect(&h1.handle, &h2.handle).await;
    // Let the gossip mesh form: wait until an honest entry from M reaches H2.
    let first = m
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            offer("honest from M"),
        )
        .await
        .unwrap();
    arrives(&h2.handle, w.coop(), first.record_id()).await;

    let stranger = MemberSecret::from_seed(&[66; 32]);
    let other = World::new(7);
    let sign = |key: &MemberSecret, coop: CoopId, seq: u64, payload: &[u8]| {
        Entry::sign(
            key,
            coop,
            DeviceId(9),
            seq,
            EntryHash::default(),
            RecordId::default(),
            EntryKind::Change,
            payload.to_vec(),
            T0,
        )
    };
    let mut bad_sig = sign(&w.founder, w.coop(), 1, b"x");
    bad_sig.signature.0[0] ^= 1;
    let forged = [
        bad_sig,
        // Not a member: waits (a certificate may come), so it is not forwarded either.
        sign(&stranger, w.coop(), 1, b"y"),
        // Signed for another co-op, which H1 does not carry: ignored.
        sign(&other.founder, other.coop(), 1, b"z"),
        // A gap: entry 5 of a log that has none.
        sign(&w.founder, w.coop(), 5, b"w"),
        // A payload that is not an automerge change.
        sign(&w.founder, w.coop(), 1, b"not an automerge change"),
    ];
    let before = h1.handle.version_vector(w.coop()).await.unwrap();
    let rejected = {
        let events = h1.handle.subscribe();
        let mid = m.handle.peer_id();
        tokio::spawn(async move {
            let mut n = 0;
            next_event(events, |e| match e {
                NodeEvent::Rejected { from, .. } if *from == mid => {
                    n += 1;
                    (n >= 2).then_some(n)
                }
                _ => None,
            })
            .await
        })
    };
    for e in &forged {
        m.handle.gossip_unchecked(e.encode()).await.unwrap();
    }
    m.handle
        .gossip_unchecked(b"not an entry at all".to_vec())
        .await
        .unwrap();
    assert!(rejected.await.unwrap() >= 2);
    // An operator sees them on /metrics, counted by the rule they broke (each is counted as
    // its event is sent, so the last may still be on its way).
    let counted = |rule: &str| {
        h1.handle
            .metrics()
            .encode()
            .contains(&format!("minga_entries_rejected_total{{rule=\"{rule}\"}}"))
    };
    eventually(&h1.handle, || async {
        counted("bad_signature") && counted("undecodable")
    })
    .await;
    let text = h1.handle.metrics().encode();
    assert!(
        !text.contains("minga_entries_applied_total 0\n"),
        "the honest entry counts: {text}"
    );

    // Penalised.
    eventually(&h1.handle, || async {
        h1.handle
            .peer_score(m.handle.peer_id())
            .await
            .unwrap()
            .is_some_and(|s| s < 0.0)
    })
    .await;
    // Honest traffic goes on, and nothing forged was stored anywhere.
    let later = h1
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(2),
            None,
            offer("honest from H1"),
        )
        .await
        .unwrap();
    arrives(&h2.handle, w.coop(), later.record_id()).await;
    for h in [&h1.handle, &h2.handle] {
        let vv = h.version_vector(w.coop()).await.unwrap();
        assert_eq!(
            vv.get(&LogId {
                author: stranger.public(),
                device: DeviceId(9)
            }),
            0
        );
        assert_eq!(
            vv.get(&LogId {
                author: w.founder.public(),
                device: DeviceId(9)
            }),
            0
        );
        assert!(h.version_vector(other.coop()).await.is_err());
    }
    assert_eq!(
        h1.handle.version_vector(w.coop()).await.unwrap().total(),
        before.total() + 1
    );
}
