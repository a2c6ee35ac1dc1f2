//! A member is revoked at one node while it keeps writing elsewhere: its entries past the
//! revocation's cut-off are rejected on every node, whatever order the nodes learn things in.

use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_past_a_cutoff_vanish_everywhere() {
    init_tracing();
    let w = World::new(8);
    let (a, b, c) = (
        spawn(&w, 81).await,
        spawn(&w, 82).await,
        spawn(&w, 83).await,
    );
    connect(&a.handle, &b.handle).await;
    connect(&b.handle, &c.handle).await;
    let m = MemberSecret::from_seed(&[84; 32]);
    let dev = DeviceId(9);
    a.handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            w.certificate(&m, Role::Member),
        )
        .await
        .unwrap();
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;
    let mut kept = Vec::new();
    for i in 0..2 {
        kept.push(
            c.handle
                .write(w.coop(), &m, dev, None, offer(&format!("kept {i}")))
                .await
                .unwrap()
                .record_id(),
        );
    }
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;

    // C is cut off from A and B; the admin at A revokes M, having seen M's two entries.
    for other in [&a.handle, &b.handle] {
        c.handle.disconnect(other.peer_id()).await.unwrap();
        other.disconnect(c.handle.peer_id()).await.unwrap();
    }
    eventually(&c.handle, || async {
        c.handle.peers().await.unwrap().is_empty()
    })
    .await;
    let revocation = Signed::sign(
        Revocation {
            signer: w.coop_key.public(),
            coop: w.coop(),
            subject: m.public(),
            cutoffs: vec![Cutoff {
                device: dev,
                last_valid: 2,
            }],
            issued: Timestamp::now(),
            reason: Some("laptop stolen".into()),
        },
        &w.coop_key.0,
    )
    .unwrap();
    // The co-op key writes its revocation in its own log.
    a.handle
        .write(
            w.coop(),
            &w.coop_key,
            DeviceId(1),
            None,
            Record::Revocation(revocation),
        )
        .await
        .unwrap();
    // Meanwhile M keeps writing on C, which has not heard.
    let mut cut = Vec::new();
    for i in 0..2 {
        cut.push(
            c.handle
                .write(w.coop(), &m, dev, None, offer(&format!("cut {i}")))
                .await
                .unwrap()
                .record_id(),
        );
    }
    assert!(
        c.handle
            .records(w.coop())
            .await
            .unwrap()
            .contains_key(&cut[0])
    );

    // Heal: C learns the revocation, B and A refuse M's late entries.
    b.handle
        .dial(c.handle.listen_addrs()[0].clone())
        .await
        .unwrap();
    connect(&c.handle, &b.handle).await;
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;
    let log = LogId {
        author: m.public(),
        device: dev,
    };
    for n in [&a.handle, &b.handle, &c.handle] {
        let records = n.records(w.coop()).await.unwrap();
        assert!(
            kept.iter().all(|id| records.contains_key(id)),
            "an entry within the cut-off was lost"
        );
        assert!(
            cut.iter().all(|id| !records.contains_key(id)),
            "an entry past the cut-off survived"
        );
        assert_eq!(n.version_vector(w.coop()).await.unwrap().get(&log), 2);
    }
    // And C now refuses M's writes itself.
    assert!(
        c.handle
            .write(w.coop(), &m, dev, None, offer("after"))
            .await
            .is_err()
    );
}
