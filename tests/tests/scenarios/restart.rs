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

/// A clean stop leaves a snapshot of the views, which the next start reads instead of the
/// store; a snapshot the store has moved on from (here, a record written straight into the
/// store while the node was down) is not used, and the record is listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_come_back_from_a_snapshot_unless_the_store_moved_on() {
    init_tracing();
    let w = World::new(4);
    let a = spawn(&w, 43).await;
    for i in 0..5 {
        a.handle
            .write(
                w.coop(),
                &w.founder,
                DeviceId(1),
                None,
                offer(&format!("kept {i}")),
            )
            .await
            .unwrap();
    }
    let offers = || minga_node::Query {
        kind: Some(RecordKind::Offer),
        ..Default::default()
    };
    let before = a.handle.list(offers()).await.unwrap();
    assert_eq!(before.len(), 5);
    assert_eq!(a.handle.metrics().start_from_snapshot.get(), 0);
    a.handle.shutdown().await.unwrap();
    let file = a.dir.path().join(minga_node::views_snapshot::FILE);
    assert!(file.exists(), "a clean stop writes the snapshot");

    let a = restart_stopped(a, &w).await;
    assert_eq!(a.handle.metrics().start_from_snapshot.get(), 1);
    let after = a.handle.list(offers()).await.unwrap();
    assert_eq!(
        after.iter().map(|l| &l.view).collect::<Vec<_>>(),
        before.iter().map(|l| &l.view).collect::<Vec<_>>()
    );
    assert!(!file.exists(), "a snapshot is read once");
    a.handle.shutdown().await.unwrap();
    assert!(file.exists());

    {
        let store: std::sync::Arc<dyn minga_node::Store> =
            std::sync::Arc::new(minga_node::SledStore::open(&a.dir.path().join("store")).unwrap());
        let mut ledger = minga_node::CoopLedger::open(store, w.genesis.clone()).unwrap();
        ledger
            .write_all(
                &w.founder,
                DeviceId(2),
                &[(None, offer("written while down"))],
                Timestamp(T0.0 + 60_000),
            )
            .unwrap();
    }
    let a = restart_stopped(a, &w).await;
    assert_eq!(a.handle.metrics().start_from_snapshot.get(), 0);
    let listed = a.handle.list(offers()).await.unwrap();
    assert_eq!(listed.len(), 6);
    assert!(
        listed
            .iter()
            .any(|l| l.view.title.as_deref() == Some("written while down"))
    );
}

/// A record is stored as the change that created it, but what a node hands out as its
/// document is a saved automerge document, which any automerge loads, with the record in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_is_handed_out_as_a_saved_automerge_document() {
    init_tracing();
    let w = World::new(4);
    let a = spawn(&w, 44).await;
    let entry = a
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            offer("sacks of flour"),
        )
        .await
        .unwrap();
    let detail = a
        .handle
        .detail(&entry.record_id().to_string())
        .await
        .unwrap();
    // An automerge chunk: magic, checksum, then its type, 0 for a whole document.
    assert_eq!(&detail.document[..4], &[0x85, 0x6f, 0x4a, 0x83]);
    assert_eq!(detail.document[8], 0, "a document chunk, not a change");
    let doc = automerge::AutoCommit::load(&detail.document).unwrap();
    assert_eq!(Record::read(&doc).unwrap(), offer("sacks of flour"));
}
