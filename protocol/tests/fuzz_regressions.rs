//! Every input kept from fuzzing runs through the fuzz targets' bodies on every test run: the
//! crashes found (`protocol/fuzz/regressions/<target>/`, once fixed) and the committed corpus
//! (`protocol/fuzz/corpus/<target>/`). `MINGA_WRITE_FUZZ_SEEDS=1` first writes the seeds the
//! corpus grew from: valid encodings of each kind of input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use minga_protocol::*;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

#[test]
fn every_kept_fuzz_input_runs_clean() {
    if std::env::var_os("MINGA_WRITE_FUZZ_SEEDS").is_some() {
        write_seeds();
    }
    for (name, ran) in fuzzing::replay_kept_inputs(&fuzz_dir(), &fuzzing::TARGETS) {
        assert!(ran > 0, "no committed inputs for fuzz target {name}");
    }
}

/// Writes valid encodings of every kind of input as seeds for the fuzzers.
fn write_seeds() {
    let mut c = Coop::new(1, "Fuzz");
    let m = member(7);
    let cert = c.admit(&m, Role::Member);
    let need_entry = c.founder_writes(None, &Record::Need(need("Rice", "200 kg")));
    let offer_entry = c
        .ledger
        .write(
            &m,
            DeviceId(3),
            None,
            &Record::Offer(offer("Beans", "40 kg")),
            day(2),
        )
        .unwrap();
    let (f, fd) = (c.founder.clone(), c.founder_device);
    let prune = c
        .ledger
        .prune(&f, fd, offer_entry.record_id(), day(3))
        .unwrap();
    let entries = [cert, need_entry.clone(), offer_entry.clone(), prune];
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    for e in &entries {
        seeds.push(("entry", e.encode()));
        seeds.push(("entry", e.detached().encode()));
    }
    let vv = c.ledger.version_vector();
    let log = need_entry.header.log();
    let network = Signed::sign(
        network::NetworkGenesis {
            signer: c.founder.public(),
            coop: c.id(),
            name: "Red Oeste".into(),
            founders: vec![c.id()],
            vouches: 1,
            created: day(1),
        },
        &c.founder.0,
    )
    .unwrap();
    let other = Coop::new(2, "Otra");
    let vouch = Signed::sign(
        network::Vouch {
            signer: c.founder.public(),
            coop: c.id(),
            network: network.network_id(),
            subject: other.id(),
            issued: day(2),
            note: Some("la conocemos".into()),
        },
        &c.founder.0,
    )
    .unwrap();
    let cutoffs = network::encode_cutoffs(&[network::LogCutoff { log, last_valid: 1 }]);
    let expel = Signed::sign(
        network::Expel {
            signer: c.founder.public(),
            coop: c.id(),
            network: network.network_id(),
            subject: other.id(),
            cutoffs: Hash::of(&cutoffs),
            issued: day(3),
            reason: None,
        },
        &c.founder.0,
    )
    .unwrap();
    seeds.push((
        "invite",
        network::Invite {
            network: network.network_id(),
            coop: c.id(),
            addrs: vec![
                "/ip4/203.0.113.5/tcp/7740/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                    .into(),
                "/dns4/nodo.example.org/udp/7740/quic-v1".into(),
            ],
        }
        .encode()
        .into_bytes(),
    ));
    for msg in [
        SyncMessage::Summary(vec![(c.id(), vv.digest())]),
        SyncMessage::Vectors {
            vectors: vec![(c.id(), vv.clone())],
            forks: vec![(c.id(), log, 2)],
            more: true,
        },
        SyncMessage::WantProof {
            coop: c.id(),
            log,
            seq: 2,
        },
        SyncMessage::WantPayloads {
            coop: c.id(),
            hashes: vec![need_entry.hash()],
        },
        SyncMessage::Want {
            coop: c.id(),
            ranges: vec![Want {
                log,
                from: 1,
                to: 3,
            }],
        },
        SyncMessage::Entries {
            coop: c.id(),
            entries: entries.iter().map(Entry::encode).collect(),
            more: false,
        },
        SyncMessage::NetworkAsk {
            network: network.network_id(),
        },
        SyncMessage::NetworkInfo {
            genesis: Some(SignedBytes::of(&network)),
            founders: vec![SignedBytes::of(&c.genesis)],
        },
        SyncMessage::Join {
            network: network.network_id(),
            genesis: SignedBytes::of(&c.genesis),
            note: "cooperativa de consumo".into(),
        },
        SyncMessage::JoinAnswer {
            kept: true,
            reason: "kept for the network's admins to vouch".into(),
        },
    ] {
        seeds.push(("sync_message", msg.encode()));
    }
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    seeds.push((
        "statement",
        std::fs::read(vectors.join("pledge.bundle.json")).unwrap(),
    ));
    let mut signed = std::fs::read(vectors.join("pledge.sig")).unwrap();
    signed.extend(std::fs::read(vectors.join("pledge.statement")).unwrap());
    seeds.push(("statement", signed));
    let genesis = &c.genesis;
    let mut g = genesis.signature().0.to_vec();
    g.extend_from_slice(genesis.bytes());
    seeds.push(("statement", g));
    // A fund's loan and a sealed contact: a statement, their record documents, the bytes.
    let loan = fund::Loan {
        signer: c.founder.public(),
        coop: c.id(),
        fund: RecordRef {
            coop: c.id(),
            record: need_entry.record_id(),
        },
        amount: "50000 ARS".parse().unwrap(),
        project: "Horno nuevo".into(),
        share: "20".parse().unwrap(),
        floor: "10000 ARS".parse().unwrap(),
        cap: "1.2".parse().unwrap(),
        period_days: 30,
        issued: day(1),
        note: None,
    };
    let loan = Signed::sign(loan, &c.founder.0).unwrap();
    let mut l = loan.signature().0.to_vec();
    l.extend_from_slice(loan.bytes());
    seeds.push(("statement", l));
    let sealed = contact::Contact {
        person: Some("Ana".into()),
        phone: Some("+54 341 555 0101".into()),
        ..contact::Contact::default()
    }
    .seal(&[m.public(), c.founder.public()])
    .unwrap();
    seeds.push(("contact", sealed.clone()));
    let loan_entry = c.founder_writes(None, &Record::Loan(loan));
    let contact_entry = c.founder_writes(
        None,
        &Record::Contact(SealedContact {
            pledge: RecordRef {
                coop: c.id(),
                record: need_entry.record_id(),
            },
            to: c.id(),
            sealed,
        }),
    );
    let network_entry = c.founder_writes(None, &Record::Network(network));
    let vouch_entry = c.founder_writes(
        None,
        &Record::Vouch(Box::new(VouchRecord {
            vouch,
            genesis: other.genesis.clone(),
        })),
    );
    let expel_entry = c.founder_writes(None, &Record::Expel(ExpelRecord { expel, cutoffs }));
    for id in [
        need_entry.record_id(),
        entries[0].record_id(),
        loan_entry.record_id(),
        contact_entry.record_id(),
        network_entry.record_id(),
        vouch_entry.record_id(),
        expel_entry.record_id(),
    ] {
        seeds.push(("record_doc", c.ledger.record_state(&id).unwrap().doc));
    }
    for (target, bytes) in seeds {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let name = Hash::of(&bytes).to_string();
        std::fs::write(dir.join(format!("seed-{}", &name[..16])), bytes).unwrap();
    }
}
