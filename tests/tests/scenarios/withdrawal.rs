//! A withdrawal removes the content for real: a coordinator's prune drops the offer's
//! payloads on every node, a node offline at the time included, and leaves only the signed
//! headers and a view that says it was withdrawn; and when a withdrawal is voided (its
//! author's key revoked from before it), the content comes back from a peer that kept it.

use minga_node::Query;
use minga_protocol::*;
use minga_tests::*;

async fn tombstone(node: &minga_node::NodeHandle, id: RecordId) -> bool {
    let all = Query {
        all: true,
        ..Query::default()
    };
    node.list(all)
        .await
        .unwrap()
        .iter()
        .any(|l| l.view.id == id && l.view.withdrawn && l.view.title.is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_offer_is_gone_everywhere_even_from_a_node_that_was_away() {
    init_tracing();
    let w = World::new(8);
    let (a, b, c) = (
        spawn(&w, 81).await,
        spawn(&w, 82).await,
        spawn(&w, 83).await,
    );
    connect(&a.handle, &b.handle).await;
    connect(&c.handle, &a.handle).await;
    let offer = a
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            offer("Sacks of rice"),
        )
        .await
        .unwrap()
        .record_id();
    for n in [&b.handle, &c.handle] {
        arrives(n, w.coop(), offer).await;
    }
    // C goes away, still holding the offer's content.
    c.handle.disconnect(a.handle.peer_id()).await.unwrap();
    a.handle.disconnect(c.handle.peer_id()).await.unwrap();
    eventually(&c.handle, || async {
        c.handle.peers().await.unwrap().is_empty()
    })
    .await;

    // The founder, an admin, withdraws it.
    a.handle
        .prune(w.coop(), &w.founder, DeviceId(1), offer)
        .await
        .unwrap();
    for n in [&a.handle, &b.handle] {
        eventually(n, || async { tombstone(n, offer).await }).await;
        assert!(!n.records(w.coop()).await.unwrap().contains_key(&offer));
        assert!(
            n.detail(&offer.to_string()).await.is_err(),
            "its content is gone"
        );
    }
    assert!(
        c.handle
            .records(w.coop())
            .await
            .unwrap()
            .contains_key(&offer)
    );

    // C comes back and catches up: it drops the content too.
    c.handle
        .dial(a.handle.listen_addrs()[0].clone())
        .await
        .unwrap();
    connect(&a.handle, &c.handle).await;
    eventually(&c.handle, || async { tombstone(&c.handle, offer).await }).await;
    assert!(
        !c.handle
            .records(w.coop())
            .await
            .unwrap()
            .contains_key(&offer)
    );
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_whose_withdrawal_is_voided_gets_its_content_back_from_a_peer() {
    init_tracing();
    let w = World::new(28);
    let (a, b, c) = (
        spawn(&w, 181).await,
        spawn(&w, 182).await,
        spawn(&w, 183).await,
    );
    connect(&a.handle, &b.handle).await;
    connect(&c.handle, &a.handle).await;
    let coord = MemberSecret::from_seed(&[0xc0; 32]);
    let dev = DeviceId(5);
    a.handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            w.certificate(&coord, Role::Coordinator),
        )
        .await
        .unwrap();
    let offer = a
        .handle
        .write(w.coop(), &w.founder, DeviceId(1), None, offer("Chairs"))
        .await
        .unwrap()
        .record_id();
    for n in [&b.handle, &c.handle] {
        arrives(n, w.coop(), offer).await;
    }
    // C goes away with the offer whole.
    c.handle.disconnect(a.handle.peer_id()).await.unwrap();
    a.handle.disconnect(c.handle.peer_id()).await.unwrap();
    eventually(&c.handle, || async {
        c.handle.peers().await.unwrap().is_empty()
    })
    .await;
    // The coordinator's key withdraws it; A and B drop its content.
    a.handle.prune(w.coop(), &coord, dev, offer).await.unwrap();
    for n in [&a.handle, &b.handle] {
        eventually(n, || async { tombstone(n, offer).await }).await;
    }
    // The key turns out stolen before it withdrew anything: the co-op key voids all of it.
    let revocation = Signed::sign(
        Revocation {
            signer: w.coop_key.public(),
            coop: w.coop(),
            subject: coord.public(),
            cutoffs: vec![Cutoff {
                device: dev,
                last_valid: 0,
            }],
            issued: Timestamp::now(),
            reason: Some("key stolen".into()),
        },
        &w.coop_key.0,
    )
    .unwrap();
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
    // The offer is back, as a header only: nobody connected holds its payload.
    for n in [&a.handle, &b.handle] {
        eventually(n, || async {
            n.coops().await.unwrap()[0].missing_payloads == 1
        })
        .await;
        assert!(!n.records(w.coop()).await.unwrap().contains_key(&offer));
    }
    // C comes back: its copy fills in A's by hash, and A's fills in B's.
    c.handle
        .dial(a.handle.listen_addrs()[0].clone())
        .await
        .unwrap();
    connect(&a.handle, &c.handle).await;
    for n in [&a.handle, &b.handle] {
        eventually(n, || async {
            n.records(w.coop()).await.unwrap().contains_key(&offer)
        })
        .await;
        assert_eq!(n.coops().await.unwrap()[0].missing_payloads, 0);
    }
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;
}
