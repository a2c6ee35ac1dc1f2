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
    for each in [100, 1000] {
        revocation(&coop_key, &genesis, &offer, each);
    }
}

/// A revocation arriving at a ledger of 100 members with `each` entries each: what enforcing
/// it costs as the ledger grows (it cuts the last 10 entries of one member's log, so the
/// work of removing what it cuts stays the same).
fn revocation(
    coop_key: &CoopSecret,
    genesis: &Signed<Genesis>,
    offer: &impl Fn(usize) -> Record,
    each: usize,
) {
    const MEMBERS: u8 = 100;
    let coop = genesis.coop_id();
    let mut ledger = MemoryLedger::new(Membership::new(genesis.clone()));
    let members: Vec<MemberSecret> = (0..MEMBERS)
        .map(|i| MemberSecret::from_seed(&[i.wrapping_add(10); 32]))
        .collect();
    for m in &members {
        let cert = Signed::sign(
            Certificate {
                signer: coop_key.public(),
                coop,
                subject: m.public(),
                role: Role::Member,
                issued: Timestamp(0),
                expires: None,
                parent: None,
            },
            &coop_key.0,
        )
        .unwrap();
        ledger
            .write(
                coop_key,
                DeviceId(500),
                None,
                &Record::Certificate(cert),
                Timestamp(1),
            )
            .unwrap();
        for i in 0..each {
            ledger
                .write(m, DeviceId(1), None, &offer(i), Timestamp(2 + i as i64))
                .unwrap();
        }
    }
    let revocation = Signed::sign(
        Revocation {
            signer: coop_key.public(),
            coop,
            subject: members[0].public(),
            cutoffs: vec![Cutoff {
                device: DeviceId(1),
                last_valid: each as u64 - 10,
            }],
            issued: Timestamp(5000),
            reason: None,
        },
        &coop_key.0,
    )
    .unwrap();
    let mut writer = MemoryLedger::new(Membership::new(genesis.clone()));
    for e in ledger.entries(
        &LogId {
            author: coop_key.public(),
            device: DeviceId(500),
        },
        1,
        MEMBERS as u64,
    ) {
        writer.ingest(e).unwrap();
    }
    let entry = writer
        .write(
            coop_key,
            DeviceId(500),
            None,
            &Record::Revocation(revocation),
            Timestamp(5000),
        )
        .unwrap();
    let held = ledger.version_vector().total();
    let t = Instant::now();
    assert_eq!(ledger.ingest(entry).unwrap().accepted.len(), 1);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(ledger.version_vector().total(), held + 1 - 10);
    println!("{{\"figure\":\"revocation_enforced\",\"entries_held\":{held},\"ms\":{ms:.2}}}");
}
