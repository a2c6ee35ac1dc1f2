//! A backup of a running node, taken while it writes: restored into a new data directory, it
//! holds every record acknowledged before the backup was asked for.

use std::sync::{Arc, Mutex};

use minga_node::backup::{Reader, restore};
use minga_node::{CoopLedger, SledStore, Store};
use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_write_load_holds_every_acknowledged_record() {
    init_tracing();
    let w = World::new(29);
    let node = spawn(&w, 191).await;
    let acked: Arc<Mutex<Vec<RecordId>>> = Arc::default();
    let (started, mut first_acks) = tokio::sync::mpsc::channel::<()>(1);
    let writer = {
        let (handle, acked, founder, coop) = (
            node.handle.clone(),
            acked.clone(),
            w.founder.clone(),
            w.coop(),
        );
        tokio::spawn(async move {
            for i in 0..300 {
                let e = handle
                    .write(
                        coop,
                        &founder,
                        DeviceId(1),
                        None,
                        offer(&format!("lot {i}")),
                    )
                    .await
                    .unwrap();
                acked.lock().unwrap().push(e.record_id());
                if i == 50 {
                    let _ = started.try_send(());
                }
            }
        })
    };
    // Mid-load: everything acknowledged so far must be in the backup.
    first_acks.recv().await.unwrap();
    let before: Vec<RecordId> = acked.lock().unwrap().clone();
    let snapshot = node.dir.path().join("snapshot.part");
    let pairs = node.handle.backup(snapshot.clone()).await.unwrap();
    assert!(pairs > 0);
    writer.await.unwrap();
    assert!(
        acked.lock().unwrap().len() > before.len(),
        "writes went on around the backup"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&elsewhere.path().join("store")).unwrap());
    let file = std::fs::File::open(&snapshot).unwrap();
    let restored = restore(
        Reader::new(std::io::BufReader::new(file)).unwrap(),
        store.as_ref(),
        |_, _| panic!("a node's snapshot holds the store only"),
    )
    .unwrap();
    assert_eq!(restored, pairs);
    let ledgers = CoopLedger::open_all(store).unwrap();
    let records = ledgers[0].ledger().records();
    for id in &before {
        assert!(
            records.contains_key(id),
            "acknowledged record {id} is missing"
        );
    }
    // Into a store that already holds something, nothing is restored.
    let again = SledStore::open(&elsewhere.path().join("store2")).unwrap();
    again
        .commit(&minga_node::store::WriteBatch {
            peers: vec!["/ip4/127.0.0.1/tcp/1".into()],
            ..Default::default()
        })
        .unwrap();
    let file = std::fs::File::open(&snapshot).unwrap();
    assert!(restore(Reader::new(file).unwrap(), &again, |_, _| Ok(())).is_err());
}
