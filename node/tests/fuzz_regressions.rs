//! Every input kept from fuzzing the node runs through the fuzz targets' bodies on every test
//! run: crashes found (`node/fuzz/regressions/<target>/`, once fixed) and the committed corpus
//! (`node/fuzz/corpus/<target>/`). `MINGA_WRITE_FUZZ_SEEDS=1` first writes the seeds: stored
//! views of each kind of record, in today's layout and in the JSON that earlier versions wrote,
//! views snapshots, and CSV files good and bad.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minga_node::{CoopLedger, MemoryStore, Store, fuzzing};
use minga_protocol::*;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

#[test]
fn every_kept_fuzz_input_runs_clean() {
    if std::env::var_os("MINGA_WRITE_FUZZ_SEEDS").is_some() {
        write_seeds();
    }
    let kept = minga_protocol::fuzzing::replay_kept_inputs(&fuzz_dir(), &fuzzing::TARGETS);
    for (name, ran) in kept {
        assert!(ran > 0, "no committed inputs for fuzz target {name}");
    }
}

/// A `/minga/sync/2` frame packing a message of 16 MB of zeros: a few kilobytes on the wire,
/// past every limit once unpacked.
fn zstd_bomb() -> Vec<u8> {
    let zeros = SyncMessage::Entries {
        coop: CoopId(Hash([0; 32])),
        entries: vec![vec![0u8; 16_000]; 1024],
        more: false,
    };
    fuzzing::encode_sync_frame(zeros)
}

fn write_seeds() {
    let t0 = Timestamp(1_793_491_200_000);
    let key = CoopSecret::from_seed(&[1; 32]);
    let founder = MemberSecret::from_seed(&[2; 32]);
    let genesis = found_coop(&key, "Semilla", &founder, t0).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut l = CoopLedger::open(store, genesis).unwrap();
    let mut offer = Offer::new(
        "Rice",
        "food/grain/rice".parse().unwrap(),
        "300 kg".parse().unwrap(),
    );
    offer.notes = Some("from the October harvest".into());
    let written = l
        .write(&founder, DeviceId(1), None, &Record::Offer(offer), t0)
        .unwrap();
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    // Catch-up frames: a small summary (sent as it is), a batch of entries (compressed),
    // and a bomb (a few kilobytes of zstd unpacking far past every limit).
    let coop = l.genesis().coop_id();
    let summary = SyncMessage::Summary(vec![(coop, Hash::of(b"digest"))]);
    seeds.push(("sync_frame", fuzzing::encode_sync_frame(summary)));
    let batch = SyncMessage::Entries {
        coop,
        entries: vec![written.encode(); 20],
        more: true,
    };
    seeds.push(("sync_frame", fuzzing::encode_sync_frame(batch)));
    let bomb = zstd_bomb();
    seeds.push(("sync_frame", bomb));
    let mut views = Vec::new();
    for (_, view) in l.take_view_changes() {
        let view = view.unwrap();
        seeds.push(("view_layout", fuzzing::encode_view(&view)));
        seeds.push(("view_layout", serde_json::to_vec(&view).unwrap()));
        views.push(view);
    }
    // Views snapshots: empty, and the views above with a pledge's references and a point.
    seeds.push(("views_snapshot", fuzzing::encode_views_snapshot(Vec::new())));
    let mut placed = views.clone();
    if let Some(v) = placed.last_mut() {
        v.point = Some("-32.95,-60.66".into());
        v.radius_km = Some("12.5".parse().unwrap());
        v.refers_to = Some(Box::new(RecordRef {
            coop,
            record: RecordId(Hash::of(b"need")),
        }));
    }
    seeds.push(("views_snapshot", fuzzing::encode_views_snapshot(placed)));
    for csv in [
        "kind,title,category,quantity\noffer,Rice,food/grain/rice,300 kg\nneed,Flour,food/flour,50 kg\n",
        "id,coop,status,pledged,delivered,kind,title,category,quantity,minimum,location,place,radius_km,from,until,urgency,expires,notes\n,,open,,,need,Beans,food/beans,40 kg,10 kg,\"-32.95,-60.66\",Rosario,25,2026-12-01T00:00:00Z,2026-12-20T00:00:00Z,high,2026-12-31T00:00:00Z,\"dried, please\"\n",
        "kind,title,category,quantity\noffer,,food,12 parsecs\n",
    ] {
        seeds.push(("csv_import", csv.as_bytes().to_vec()));
    }
    for (target, bytes) in seeds {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let name = Hash::of(&bytes).to_string();
        std::fs::write(dir.join(format!("seed-{}", &name[..16])), bytes).unwrap();
    }
}
