//! Catch-up at scale: 300 co-ops with 50 logs each, pulled by a node from a peer in one
//! session. The peer is scripted to serve a history the test authored (15,000 entries), so
//! the test spends its time on the pulling node, whose every step is the real one.

use std::collections::BTreeMap;
use std::sync::Arc;

use minga_protocol::*;
use minga_tests::*;

const COOPS: u32 = 300;
const LOGS: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_coops_of_fifty_logs_each_sync_between_two_nodes() {
    init_tracing();
    let worlds: Vec<World> = (1000..1000 + COOPS).map(World::nth).collect();
    let mut ledgers: BTreeMap<CoopId, MemoryLedger> = BTreeMap::new();
    for w in &worlds {
        let mut l = MemoryLedger::new(Membership::new(w.genesis.clone()));
        for d in 0..LOGS {
            l.write(
                &w.founder,
                DeviceId(d),
                None,
                &offer(&format!("lot {d}")),
                T0,
            )
            .unwrap();
        }
        ledgers.insert(w.coop(), l);
    }
    let all: Vec<&World> = worlds.iter().collect();
    let (source, puller) = (
        spawn_trusting(&all, 31).await,
        spawn_trusting(&all, 32).await,
    );
    let served = Arc::new(ledgers);
    let vectors: Vec<(CoopId, VersionVector)> = served
        .iter()
        .map(|(c, l)| (*c, l.version_vector()))
        .collect();
    let ledgers = served.clone();
    source
        .handle
        .script_sync(Arc::new(move |request| match request {
            SyncMessage::Summary(s) => Some(differing_vectors(
                s,
                vectors.iter().map(|(c, v)| (c, v)),
                |_| Vec::new(),
            )),
            SyncMessage::Want { coop, ranges } => {
                let l = ledgers.get(coop)?;
                let (entries, more) = serve_wants(ranges, |log, seq| {
                    l.entries(log, seq, seq).pop().map(|e| e.encode())
                });
                Some(SyncMessage::Entries {
                    coop: *coop,
                    entries,
                    more,
                })
            }
            _ => None,
        }))
        .await
        .unwrap();
    connect(&puller.handle, &source.handle).await;
    let h = &puller.handle;
    eventually(h, || async {
        for (coop, l) in served.iter() {
            if h.version_vector(*coop).await.unwrap() != l.version_vector() {
                return false;
            }
        }
        true
    })
    .await;
    for (coop, l) in served.iter().take(3) {
        assert_eq!(h.records(*coop).await.unwrap(), l.records());
    }
}
