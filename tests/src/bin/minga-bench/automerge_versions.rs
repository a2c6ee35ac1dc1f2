//! The record-document workload on the pinned automerge (0.6.1) and on the newest (0.12),
//! in the same run: create a record document and save it; load it, edit one field and save
//! incrementally; apply that edit to another copy as a remote change.

use std::time::Instant;

use serde_json::json;

use crate::figure;

macro_rules! workload {
    ($am:ident, $version:expr, $records:expr) => {{
        use $am::transaction::Transactable;
        use $am::{AutoCommit, Change, ROOT};
        let records: usize = $records;
        let t = Instant::now();
        let mut saved = Vec::with_capacity(records);
        for i in 0..records {
            let mut d = AutoCommit::new();
            d.put(ROOT, "title", format!("lot {i} of rice")).unwrap();
            d.put(ROOT, "category", "food/grain/rice").unwrap();
            d.put(ROOT, "quantity", format!("{} kg", 100 + i % 900))
                .unwrap();
            d.put(ROOT, "point", "-32.95,-60.66").unwrap();
            d.put(ROOT, "place", "Rosario").unwrap();
            d.put(ROOT, "radius_km", "50").unwrap();
            d.put(ROOT, "withdrawn", false).unwrap();
            d.commit();
            saved.push(d.save());
        }
        let create = t.elapsed().as_secs_f64();
        let bytes: usize = saved.iter().map(Vec::len).sum();

        let t = Instant::now();
        let mut changes = Vec::with_capacity(records);
        for (i, bytes) in saved.iter().enumerate() {
            let mut d = AutoCommit::load(bytes).unwrap();
            let _ = d.save_incremental();
            d.put(ROOT, "quantity", format!("{} kg", 50 + i % 900))
                .unwrap();
            d.commit();
            let _ = d.save_incremental();
            changes.push(
                d.get_last_local_change()
                    .map(|c| c.raw_bytes().to_vec())
                    .unwrap(),
            );
        }
        let edit = t.elapsed().as_secs_f64();

        let t = Instant::now();
        for (bytes, change) in saved.iter().zip(changes) {
            let mut d = AutoCommit::load(bytes).unwrap();
            d.apply_changes([Change::from_bytes(change).unwrap()])
                .unwrap();
            let _ = d.save_incremental();
        }
        let apply = t.elapsed().as_secs_f64();
        let us = |s: f64| json!((s / records as f64 * 1e7).round() / 10.0);
        figure(
            &format!("automerge_{}", $version),
            &[
                ("records", json!(records)),
                ("create_and_save_us", us(create)),
                ("load_edit_save_us", us(edit)),
                ("load_apply_remote_save_us", us(apply)),
                ("saved_bytes_per_record", json!(bytes / records.max(1))),
            ],
        );
        (create, edit, apply)
    }};
}

pub fn run(records: usize) {
    let pinned = workload!(automerge, "0_6_1", records);
    #[cfg(feature = "automerge-next")]
    {
        let next = workload!(automerge_next, "0_12_0", records);
        figure(
            "automerge_0_12_over_0_6_1",
            &[
                ("create", json!((next.0 / pinned.0 * 100.0).round() / 100.0)),
                (
                    "load_edit_save",
                    json!((next.1 / pinned.1 * 100.0).round() / 100.0),
                ),
                (
                    "load_apply_remote_save",
                    json!((next.2 / pinned.2 * 100.0).round() / 100.0),
                ),
            ],
        );
    }
    #[cfg(not(feature = "automerge-next"))]
    {
        let _ = pinned;
        eprintln!("automerge: build with --features automerge-next to compare with 0.12");
    }
}
