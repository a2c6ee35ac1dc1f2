//! Catch-up: node B holds a co-op's records except the newest part of every member's log (as
//! after time offline); it connects to node A, which holds everything, and catches up. The
//! figures are bytes on the wire (both directions, both nodes' sessions), round trips, time,
//! and the bytes against the size of the missing entries. In the same run, automerge's own
//! sync protocol moves the same records two ways: as one document holding every record (its
//! best case), and one document per record as minga stores them, each synced (what running
//! automerge sync per document costs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, Change, ObjType, ROOT, transaction::Transactable};
use minga_node::{CoopLedger, Node, SledStore, Store};
use minga_protocol::{Entry, LogId, NodeSecret, Record};
use minga_tests::{World, config, connect, eventually};
use serde_json::json;

use crate::data::{self, WRITERS};
use crate::{figure, ms};

/// Writes `entries` into a fresh data directory, as a node would have stored them.
fn data_dir(world: &World, entries: &[&Entry]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("store")).unwrap());
    let mut ledger = CoopLedger::open(store, world.genesis.clone()).unwrap();
    for chunk in entries.chunks(1000) {
        let report = ledger
            .ingest(chunk.iter().map(|e| (*e).clone()).collect())
            .unwrap();
        assert_eq!(report.accepted.len(), chunk.len(), "{:?}", report.rejected);
    }
    dir
}

/// A node on a prepared data directory, with only the catch-up a connection starts (no
/// periodic rounds during the figure).
async fn start(world: &World, dir: &std::path::Path, seed: u8) -> minga_node::NodeHandle {
    let mut c = config(dir, world);
    c.sync_interval = Duration::from_secs(3600);
    Node::start(c, &NodeSecret::from_seed(&[seed; 32]))
        .await
        .unwrap()
}

/// The entries B keeps: each member log's first `100 − pct` percent (the founder's log of
/// certificates is kept whole: without a certificate, nothing of that member would apply).
fn kept(entries: &[Entry], pct: usize) -> (Vec<&Entry>, Vec<&Entry>) {
    let mut per_log: std::collections::BTreeMap<LogId, usize> = Default::default();
    for e in entries {
        *per_log.entry(e.header.log()).or_default() += 1;
    }
    let (mut keep, mut miss) = (Vec::new(), Vec::new());
    for e in entries {
        let len = per_log[&e.header.log()];
        let founder = e.header.log().author == entries[0].header.log().author;
        let cut = if founder { len } else { len - len * pct / 100 };
        if e.header.seq as usize <= cut {
            keep.push(e);
        } else {
            miss.push(e);
        }
    }
    (keep, miss)
}

pub async fn run(records: usize, missing: &[usize]) {
    let world = World::new(1);
    eprintln!("catchup: writing {records} records");
    let entries = data::entries(&world, records);
    let all: Vec<&Entry> = entries.iter().collect();
    eprintln!("catchup: storing them on node A");
    let a_dir = data_dir(&world, &all);
    for &pct in missing {
        let (keep, miss) = kept(&entries, pct);
        let missing_bytes: usize = miss.iter().map(|e| e.encode().len()).sum();
        eprintln!("catchup: node B without {} entries", miss.len());
        let b_dir = data_dir(&world, &keep);
        let a = start(&world, a_dir.path(), 201).await;
        let b = start(&world, b_dir.path(), 202).await;
        let coop = world.coop();
        let target = a.version_vector(coop).await.unwrap();
        let t0 = Instant::now();
        connect(&b, &a).await;
        eventually(&b, || async {
            b.version_vector(coop).await.unwrap() == target
        })
        .await;
        let secs = t0.elapsed().as_secs_f64();
        let at_b = b
            .sync_stats()
            .await
            .unwrap()
            .get(&a.peer_id())
            .copied()
            .unwrap_or_default();
        let at_a = a
            .sync_stats()
            .await
            .unwrap()
            .get(&b.peer_id())
            .copied()
            .unwrap_or_default();
        // The messages as encoded, and what crossed the wire: compressed where it helps
        // (/minga/sync/2), with each frame's length and encoding byte.
        let encoded = at_a.wire_in + at_b.wire_in;
        let wire = a.metrics().sync_bytes_in.get() + b.metrics().sync_bytes_in.get();
        figure(
            &format!("catchup_{pct}pct_of_{records}"),
            &[
                ("missing_entries", json!(miss.len())),
                ("missing_bytes", json!(missing_bytes)),
                ("encoded_bytes", json!(encoded)),
                ("wire_bytes", json!(wire)),
                (
                    "ratio_to_missing",
                    json!((wire as f64 / missing_bytes as f64 * 1000.0).round() / 1000.0),
                ),
                ("round_trips_by_b", json!(at_b.round_trips)),
                ("round_trips_by_a", json!(at_a.round_trips)),
                ("seconds", ms(secs)),
            ],
        );
        a.shutdown().await.unwrap();
        b.shutdown().await.unwrap();

        let t0 = Instant::now();
        let (bytes, rounds) = automerge_one_document(&entries, keep.len());
        figure(
            &format!("automerge_sync_one_document_{pct}pct_of_{records}"),
            &[
                ("wire_bytes", json!(bytes)),
                (
                    "ratio_to_missing",
                    json!((bytes as f64 / missing_bytes as f64 * 1000.0).round() / 1000.0),
                ),
                ("round_trips", json!(rounds)),
                ("seconds", ms(t0.elapsed().as_secs_f64())),
            ],
        );
        let t0 = Instant::now();
        let kept_ids: std::collections::HashSet<_> = keep.iter().map(|e| e.hash()).collect();
        let (bytes, rounds) = automerge_per_record(&entries, &kept_ids);
        figure(
            &format!("automerge_sync_per_record_{pct}pct_of_{records}"),
            &[
                ("wire_bytes", json!(bytes)),
                (
                    "ratio_to_missing",
                    json!((bytes as f64 / missing_bytes as f64 * 1000.0).round() / 1000.0),
                ),
                ("round_trips_per_document", json!(rounds)),
                ("seconds", ms(t0.elapsed().as_secs_f64())),
            ],
        );
    }
}

/// Runs automerge's sync protocol between two documents until neither has anything to
/// send; returns the bytes of every message and the round trips.
fn sync_pair(a: &mut AutoCommit, b: &mut AutoCommit) -> (usize, usize) {
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let (mut bytes, mut rounds) = (0, 0);
    loop {
        let mut sent = false;
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            bytes += m.clone().encode().len();
            b.sync().receive_sync_message(&mut sb, m).unwrap();
            sent = true;
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            bytes += m.clone().encode().len();
            a.sync().receive_sync_message(&mut sa, m).unwrap();
            sent = true;
        }
        if !sent {
            return (bytes, rounds);
        }
        rounds += 1;
    }
}

/// Every record as a map in one document, one change each, in the order written; B holds
/// the first `keep` changes.
fn automerge_one_document(entries: &[Entry], keep: usize) -> (usize, usize) {
    let mut a = AutoCommit::new();
    let mut b = None;
    for (i, e) in entries.iter().enumerate() {
        let Some(Record::Offer(o)) = e
            .payload
            .as_ref()
            .and_then(|p| Change::from_bytes(p.clone()).ok())
            .and_then(|c| {
                let mut d = AutoCommit::new();
                d.apply_changes([c]).ok()?;
                Record::read(&d).ok()
            })
        else {
            if i + 1 == keep {
                b = Some(a.fork());
            }
            continue;
        };
        let obj = a.put_object(ROOT, format!("r{i}"), ObjType::Map).unwrap();
        a.put(&obj, "title", o.title.as_str()).unwrap();
        a.put(&obj, "category", o.category.to_string()).unwrap();
        a.put(&obj, "quantity", o.quantity.to_string()).unwrap();
        if let Some(l) = &o.location {
            a.put(&obj, "point", l.point.to_string()).unwrap();
            a.put(&obj, "place", l.place.clone().unwrap_or_default())
                .unwrap();
        }
        a.commit();
        if i + 1 == keep {
            b = Some(a.fork());
        }
    }
    let mut b = b.unwrap_or_default();
    sync_pair(&mut a, &mut b)
}

/// Each record its own document, as minga stores them; B has the documents whose creating
/// entry it kept. Every pair is synced, as a per-document sync must.
fn automerge_per_record(
    entries: &[Entry],
    kept: &std::collections::HashSet<minga_protocol::EntryHash>,
) -> (usize, usize) {
    let (mut bytes, mut rounds) = (0, 0);
    for e in entries.iter().skip(WRITERS) {
        let Some(change) = e
            .payload
            .as_ref()
            .and_then(|p| Change::from_bytes(p.clone()).ok())
        else {
            continue;
        };
        let mut a = AutoCommit::new();
        a.apply_changes([change.clone()]).unwrap();
        let mut b = AutoCommit::new();
        if kept.contains(&e.hash()) {
            b.apply_changes([change]).unwrap();
        }
        let (x, r) = sync_pair(&mut a, &mut b);
        bytes += x;
        rounds = rounds.max(r);
    }
    (bytes, rounds)
}
