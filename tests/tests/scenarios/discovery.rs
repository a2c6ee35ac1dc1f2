//! Discovery policy: a node dials the peers it is given, and addresses that other peers tell
//! it of only when they are routable from where it stands. On loopback none are, so a node
//! given one peer talks to that peer alone, unless it is told to dial private addresses.

use minga_node::NodeEvent;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_learnt_from_peers_are_dialled_only_when_allowed() {
    init_tracing();
    let w = World::new(11);
    // B keeps the private addresses its peers announce, so its routing table tells of C.
    let b = spawn_with(&w, 111, |c| c.private_addresses = true).await;
    let c = spawn(&w, 112).await;
    connect(&c.handle, &b.handle).await;
    let c_id = c.handle.peer_id();

    // A is given B only. Kademlia asks B for peers, hears of C at a loopback address, and
    // the dial is refused before any packet leaves.
    let a = spawn(&w, 113).await;
    let refused = a.handle.subscribe();
    connect(&a.handle, &b.handle).await;
    next_event(refused, |e| {
        matches!(e, NodeEvent::DialRefused { peer: Some(p) } if *p == c_id).then_some(())
    })
    .await;
    assert!(
        !c.handle
            .peers()
            .await
            .unwrap()
            .contains(&a.handle.peer_id())
    );
    assert!(!a.handle.peers().await.unwrap().contains(&c_id));

    // The same with private addresses allowed: it dials C.
    let d = spawn_with(&w, 114, |c| c.private_addresses = true).await;
    connect(&d.handle, &b.handle).await;
    let d_id = d.handle.peer_id();
    eventually(&c.handle, || async {
        c.handle.peers().await.unwrap().contains(&d_id)
    })
    .await;
}

/// Kademlia finds every peer of a network, and a node would stay linked to all it found; it
/// keeps `peer_target` of them, closing the rest once their grace has passed, and keeps the
/// peer it was given whatever the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_at_most_its_target_of_the_peers_it_found() {
    init_tracing();
    let w = World::new(12);
    // The hub's routing table keeps the loopback addresses of the eight nodes linked to it.
    let hub = spawn_with(&w, 120, |c| c.private_addresses = true).await;
    let mut spokes = Vec::new();
    for i in 0..8 {
        let s = spawn(&w, 121 + i).await;
        connect(&s.handle, &hub.handle).await;
        spokes.push(s);
    }
    // A is given the hub only, may dial what it is told of, and keeps two peers it found.
    let a = spawn_with(&w, 130, |c| {
        c.private_addresses = true;
        c.peer_target = 2;
    })
    .await;
    connect(&a.handle, &hub.handle).await;
    let hub_id = hub.handle.peer_id();
    // Kademlia links A to more than its target...
    eventually(&a.handle, || async {
        a.handle.peers().await.unwrap().len() > 1 + 2
    })
    .await;
    // ...and once the grace has passed, A is down to the hub and two others.
    eventually(&a.handle, || async {
        let peers = a.handle.peers().await.unwrap();
        peers.len() == 1 + 2 && peers.contains(&hub_id)
    })
    .await;
    let kept = a.handle.peers().await.unwrap();
    assert!(kept.contains(&hub_id), "the given peer stays");
    assert_eq!(kept.len(), 3);
}
