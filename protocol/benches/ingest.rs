//! Protocol-level ingest: how close validating and applying entries comes to the raw
//! signature-verification rate, measured in the same run. Prints one JSON line per figure.
//!
//! Run: `cargo bench -p minga-protocol --bench ingest`. Storage (sled) is not involved: the
//! node's harness measures durable ingest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use minga_protocol::*;

const N: usize = 4000;

fn rate(name: &str, n: usize, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    let secs = t.elapsed().as_secs_f64();
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
    let membership = Membership::new(genesis.clone());

    // The entries: N new offers by the founder on one device, as a peer would send them.
    let mut author = MemoryLedger::new(membership.clone());
    let offer = |i: usize| {
        Record::Offer(Offer::new(
            format!("lot {i}"),
            "food/grain/rice".parse().unwrap(),
            "300 kg".parse().unwrap(),
        ))
    };
    let mut entries = Vec::with_capacity(N);
    let author_rate = rate("author_entry", N, || {
        for i in 0..N {
            entries.push(
                author
                    .write(
                        &founder,
                        DeviceId(1),
                        None,
                        &offer(i),
                        Timestamp(1000 + i as i64),
                    )
                    .unwrap(),
            );
        }
    });
    let encoded: Vec<Vec<u8>> = entries.iter().map(Entry::encode).collect();
    let headers: Vec<[u8; HEADER_BYTES]> = entries.iter().map(|e| e.header.encode()).collect();

    let verify_rate = rate("ed25519_verify", N, || {
        for (h, e) in headers.iter().zip(&entries) {
            black_box(e.header.author.verify(black_box(h), &e.signature)).unwrap();
        }
    });
    let batch_rate = rate("ed25519_verify_batch_1024", N, || {
        for (hs, es) in headers.chunks(1024).zip(entries.chunks(1024)) {
            let items: Vec<_> = hs
                .iter()
                .zip(es)
                .map(|(h, e)| (&h[..], &e.signature, &e.header.author))
                .collect();
            black_box(verify_batch(black_box(&items))).unwrap();
        }
    });
    let ingest_rate = rate("decode_validate_apply", N, || {
        let mut replica = MemoryLedger::new(membership.clone());
        for bytes in &encoded {
            let e = Entry::decode(bytes).unwrap();
            assert_eq!(replica.ingest(e).unwrap().accepted.len(), 1);
        }
    });
    println!(
        "{{\"figure\":\"ratio_ingest_to_verify\",\"value\":{:.3}}}",
        ingest_rate / verify_rate
    );
    println!(
        "{{\"figure\":\"ratio_batch_to_single_verify\",\"value\":{:.3}}}",
        batch_rate / verify_rate
    );
    println!(
        "{{\"figure\":\"ratio_author_to_verify\",\"value\":{:.3}}}",
        author_rate / verify_rate
    );
}
