//! Restart: a node stopped and restarted from its data dir has everything and catches up what
//! it missed.

use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_everything_and_catches_up() {
    init_tracing();
    let w = World::new(4);
    let (a, b) = (spawn(&w, 41).await, spawn(&w, 42).await);
    connect(&a.handle, &b.handle).await;
    for i in 0..10 {
        a.handle
            .write(
                w.coop(),
                &w.founder,
                DeviceId(1),
                None,
                offer(&format!("before {i}")),
            )
            .await
            .unwrap();
    }
    converged(&[&a.handle, &b.handle], w.coop()).await;
    let before = b.handle.records(w.coop()).await.unwrap();

    b.handle.shutdown().await.unwrap();
    // While B is down, A writes more.
    for i in 0..10 {
        a.handle
            .write(
                w.coop(),
                &w.founder,
                DeviceId(1),
                None,
                offer(&format!("while down {i}")),
            )
            .await
            .unwrap();
    }
    let b = restart_stopped(b, &w).await;
    // Everything from before is there at once, from disk.
    let reopened = b.handle.records(w.coop()).await.unwrap();
    assert!(before.iter().all(|(id, r)| reopened.get(id) == Some(r)));
    connect(&b.handle, &a.handle).await;
    converged(&[&a.handle, &b.handle], w.coop()).await;
    assert_eq!(b.handle.records(w.coop()).await.unwrap().len(), 20);
}

async fn restart_stopped(node: TestNode, w: &World) -> TestNode {
    let handle = minga_node::Node::start(
        config(node.dir.path(), w),
        &NodeSecret::from_seed(&[node.seed; 32]),
    )
    .await
    .unwrap();
    TestNode { handle, ..node }
}
