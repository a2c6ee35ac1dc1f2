//! Durable ingest: entries validated, applied and committed to sled per second, next to sled's
//! raw batched write rate and the single-signature verify rate measured in the same run.
//! Prints one JSON line per figure.
//!
//! Run: `cargo bench -p minga-node --bench ingest`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use minga_node::{CoopLedger, KeyValue, MemoryStore, SledStore, Store};
use minga_protocol::*;

const N: usize = 8000;
const BATCH: usize = 256;

fn report(name: &str, n: usize, secs: f64) -> f64 {
    let per_sec = n as f64 / secs;
    println!(
        "{{\"figure\":\"{name}\",\"n\":{n},\"seconds\":{secs:.4},\"per_second\":{per_sec:.0}}}"
    );
    per_sec
}

fn main() {
    let coop_key = CoopSecret::from_seed(&[1; 32]);
    let founder = MemberSecret::from_seed(&[2; 32]);
    let genesis = found_coop(&coop_key, "Bench", &founder, Timestamp(0)).unwrap();
    let mut author = MemoryLedger::new(Membership::new(genesis.clone()));
    let entries: Vec<Entry> = (0..N)
        .map(|i| {
            let offer = Record::Offer(Offer::new(
                format!("lot {i}"),
                "food/grain/rice".parse().unwrap(),
                "300 kg".parse().unwrap(),
            ));
            author
                .write(
                    &founder,
                    DeviceId(1),
                    None,
                    &offer,
                    Timestamp(1000 + i as i64),
                )
                .unwrap()
        })
        .collect();
    let encoded: Vec<Vec<u8>> = entries.iter().map(Entry::encode).collect();

    let t = Instant::now();
    for e in &entries {
        assert!(e.verify_signature());
    }
    let verify = report("ed25519_verify", N, t.elapsed().as_secs_f64());

    // sled's own rate for the same bytes, in the same batches, each batch flushed.
    let raw_dir = tempfile::tempdir().unwrap();
    let raw = SledStore::open(raw_dir.path()).unwrap();
    let t = Instant::now();
    for (i, chunk) in encoded.chunks(BATCH).enumerate() {
        let pairs = chunk
            .iter()
            .enumerate()
            .map(|(j, b)| (((i * BATCH + j) as u64).to_be_bytes().to_vec(), b.clone()))
            .collect();
        raw.apply(pairs, Vec::new()).unwrap();
    }
    let sled_rate = report("sled_batched_durable_write", N, t.elapsed().as_secs_f64());

    // The same path over the in-memory store: what storage adds is the difference.
    let in_memory = ingest_into(Arc::new(MemoryStore::default()), &genesis, &encoded);
    report("ingest_in_memory_store", N, in_memory);
    let dir = tempfile::tempdir().unwrap();
    let secs = ingest_into(
        Arc::new(SledStore::open(dir.path()).unwrap()),
        &genesis,
        &encoded,
    );
    let ingest = report("durable_ingest_batches_of_256", N, secs);
    println!(
        "{{\"figure\":\"durable_ingest_share_in_storage\",\"value\":{:.3}}}",
        1.0 - in_memory / secs
    );
    println!(
        "{{\"figure\":\"ratio_durable_ingest_to_verify\",\"value\":{:.3}}}",
        ingest / verify
    );
    println!(
        "{{\"figure\":\"ratio_durable_ingest_to_sled_write\",\"value\":{:.3}}}",
        ingest / sled_rate
    );
}

/// Takes in the encoded entries in batches, the way a node does; seconds taken.
fn ingest_into(store: Arc<dyn Store>, genesis: &Signed<Genesis>, encoded: &[Vec<u8>]) -> f64 {
    let mut ledger = CoopLedger::open(store, genesis.clone()).unwrap();
    let t = Instant::now();
    for chunk in encoded.chunks(BATCH) {
        let batch = chunk.iter().map(|b| Entry::decode(b).unwrap()).collect();
        let report = ledger.ingest(batch).unwrap();
        assert_eq!(report.accepted.len(), chunk.len());
    }
    t.elapsed().as_secs_f64()
}
