//! Liveness: a node remembers the peers it dialled and dials them again, after a restart and
//! whenever the link drops, and catches up as soon as the link is back, with nobody telling
//! it to.

use minga_node::{Multiaddr, Node, NodeEvent};
use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_dials_the_peers_it_remembers() {
    init_tracing();
    let w = World::new(12);
    let (a, b) = (spawn(&w, 121).await, spawn(&w, 122).await);
    connect(&a.handle, &b.handle).await;
    let a_id = a.handle.peer_id();
    // Restarted with no bootstrap peer in its configuration.
    let a = restart(a, &w).await;
    eventually(&b.handle, || async {
        b.handle.peers().await.unwrap().contains(&a_id)
    })
    .await;
    assert!(
        a.handle
            .peers()
            .await
            .unwrap()
            .contains(&b.handle.peer_id())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_peer_is_dialled_again_and_caught_up() {
    init_tracing();
    let w = World::new(13);
    let (a, b) = (spawn(&w, 131).await, spawn(&w, 132).await);
    connect(&a.handle, &b.handle).await;
    let b_id = b.handle.peer_id();
    // Its address without the `/p2p/<peer id>` that listen_addrs() appends.
    let mut b_addr: Multiaddr = b.handle.listen_addrs()[0].clone();
    b_addr.pop();

    // B goes away; A sees it go.
    let gone = a.handle.subscribe();
    b.handle.shutdown().await.unwrap();
    next_event(gone, |e| {
        matches!(e, NodeEvent::Disconnected(p) if *p == b_id).then_some(())
    })
    .await;

    // B comes back at the same address with a record A has not seen. Nobody dials A (B never
    // dialled it): A dials B again by itself, and catches up.
    let mut c = config(b.dir.path(), &w);
    c.listen = vec![b_addr];
    let b = Node::start(c, &NodeSecret::from_seed(&[132; 32]))
        .await
        .unwrap();
    let written = b
        .write(
            w.coop(),
            &w.founder,
            DeviceId(2),
            None,
            offer("while apart"),
        )
        .await
        .unwrap();
    arrives(&a.handle, w.coop(), written.record_id()).await;
}
