//! Partition and heal: five nodes split 2/3, writes on both sides, all converge after healing,
//! nothing lost.

use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_split_and_heal_without_losing_a_write() {
    init_tracing();
    let w = World::new(3);
    let mut nodes = Vec::new();
    for seed in 31..36 {
        nodes.push(spawn(&w, seed).await);
    }
    let h: Vec<_> = nodes.iter().map(|n| &n.handle).collect();
    // A ring 0-1-2-3-4-0.
    for i in 0..5 {
        connect(h[i], h[(i + 1) % 5]).await;
    }
    // Split {0,1} from {2,3,4}: every pair across the split refuses the other, so neither the
    // ring nor peers found through Kademlia can bridge it.
    for x in 0..2 {
        for y in 2..5 {
            h[x].disconnect(h[y].peer_id()).await.unwrap();
            h[y].disconnect(h[x].peer_id()).await.unwrap();
        }
    }
    for x in 0..2 {
        for y in 2..5 {
            eventually(h[x], || async {
                !h[x].peers().await.unwrap().contains(&h[y].peer_id())
            })
            .await;
        }
    }
    let mut written = Vec::new();
    for i in 0..20 {
        let side = if i % 2 == 0 { h[0] } else { h[3] };
        let e = side
            .write(
                w.coop(),
                &w.founder,
                DeviceId(100 + i % 2),
                None,
                offer(&format!("offer {i}")),
            )
            .await
            .unwrap();
        written.push(e.record_id());
    }
    // Each side converges on its own half.
    converged(&[h[0], h[1]], w.coop()).await;
    converged(&[h[2], h[3], h[4]], w.coop()).await;
    assert_eq!(h[1].records(w.coop()).await.unwrap().len(), 10);
    // Heal two links. Dialling a peer lets it in again: x's dial is refused by y, which still
    // blocks x, but it unblocks y at x; then y's dial goes through.
    for (x, y) in [(1, 2), (4, 0)] {
        h[x].dial(h[y].listen_addrs()[0].clone()).await.unwrap();
        connect(h[y], h[x]).await;
    }
    converged(&h, w.coop()).await;
    let all = h[2].records(w.coop()).await.unwrap();
    assert!(
        written.iter().all(|id| all.contains_key(id)),
        "a write was lost"
    );
}
