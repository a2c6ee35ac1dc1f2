//! Start-up and memory: a data directory holding N offers (written by ten members, stored as
//! a node stores them); a fresh process starts a node on it and answers one listing. The
//! figures are the time from the start of the process's work to that first answer, and the
//! process's peak and current resident memory. An empty data directory is the baseline, so
//! memory per 100,000 records is the difference.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use minga_node::{CoopLedger, Node, Query, SledStore, Store};
use minga_protocol::{DeviceId, MemberSecret, NodeSecret, RecordKind, Role, Timestamp};
use minga_tests::{T0, World, config};
use serde_json::{Value, json};

use crate::data::{WRITERS, offer};
use crate::figure;

const BATCH: usize = 1000;

fn build(records: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    build_into(dir.path(), records, None);
    dir
}

/// Writes `records` offers into a data directory at `dir`, reporting the write rate over
/// each 100,000 (local writes as the store grows), with sled's cache at `cache_mb` MiB or
/// the node's.
pub fn build_into(dir: &std::path::Path, records: usize, cache_mb: Option<u64>) {
    let world = World::new(1);
    let path = dir.join("store");
    let sled = match cache_mb {
        Some(mb) => SledStore::open_with_cache(&path, mb << 20),
        None => SledStore::open(&path),
    };
    let sled = sled.unwrap();
    // The store's commits (batch and flush) against the whole write, per 100,000.
    let metrics = minga_node::metrics::Metrics::new();
    sled.observe_commits(metrics.commit_seconds.clone());
    let store: Arc<dyn Store> = Arc::new(sled);
    let mut ledger = CoopLedger::open(store, world.genesis.clone()).unwrap();
    let members: Vec<MemberSecret> = (0..WRITERS)
        .map(|i| MemberSecret::from_seed(&[100 + i as u8; 32]))
        .collect();
    let certs: Vec<_> = members
        .iter()
        .map(|m| (None, world.certificate(m, Role::Member)))
        .collect();
    ledger
        .write_all(&world.founder, DeviceId(1), &certs, T0)
        .unwrap();
    let t0 = Instant::now();
    let mut lap = Instant::now();
    let mut committed_before = 0.0;
    let mut written = 0;
    while written < records {
        let n = BATCH.min(records - written);
        let edits: Vec<_> = (written..written + n).map(|i| (None, offer(i))).collect();
        let who = &members[(written / BATCH) % WRITERS];
        let at = Timestamp(T0.0 + 1000 + written as i64);
        ledger.write_all(who, DeviceId(1), &edits, at).unwrap();
        written += n;
        if written % 100_000 == 0 {
            let committed = commit_seconds(&metrics);
            let share = (committed - committed_before) / lap.elapsed().as_secs_f64();
            committed_before = committed;
            figure(
                "local_writes",
                &[
                    ("records_stored", json!(written)),
                    ("cache_mb", json!(cache_mb.unwrap_or(64))),
                    (
                        "per_second_last_100k",
                        json!((100_000.0 / lap.elapsed().as_secs_f64()).round()),
                    ),
                    (
                        "per_second_overall",
                        json!((written as f64 / t0.elapsed().as_secs_f64()).round()),
                    ),
                    (
                        "share_in_store_commits_last_100k",
                        json!((share * 1000.0).round() / 1000.0),
                    ),
                ],
            );
            lap = Instant::now();
        }
    }
}

/// Seconds spent in store commits so far, as the node's metrics count them.
fn commit_seconds(metrics: &minga_node::metrics::Metrics) -> f64 {
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix("minga_store_commit_seconds_sum "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Opens a data directory the way a node starts, step by step, printing the time and the
/// resident memory after each step: where start-up time and memory go.
pub fn steps(dir: &std::path::Path) {
    let t0 = Instant::now();
    let step = |name: &str| {
        figure(
            &format!("startup_step_{name}"),
            &[
                (
                    "seconds",
                    json!((t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
                ),
                ("rss_mb", json!(status_kb("VmRSS:") / 1024)),
            ],
        )
    };
    step("begin");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.join("store")).unwrap());
    step("store_opened");
    let ledgers = CoopLedger::open_all(store.clone()).unwrap();
    step("ledgers_opened");
    // A clean stop's snapshot, if the directory has one (read, not consumed).
    if let Ok(Some(s)) = minga_node::views_snapshot::read(dir) {
        step("snapshot_read");
        figure("startup_snapshot", &[("views", json!(s.views.len()))]);
        drop(s);
        step("snapshot_dropped");
    }
    let held: Vec<_> = store.record_views().collect::<Result<_, _>>().unwrap();
    step("views_read");
    let bytes: usize = held.iter().map(Vec::len).sum();
    drop(held);
    step("views_dropped");
    let (views, _) = minga_node::load_views(store.as_ref()).unwrap();
    step("views_loaded");
    figure(
        "startup_steps",
        &[
            ("views", json!(views.len())),
            ("view_bytes_stored", json!(bytes)),
            ("ledgers", json!(ledgers.len())),
        ],
    );
}

/// In the child process: start a node on `dir`, answer one query, report.
pub async fn child(dir: &std::path::Path) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let t0 = Instant::now();
    let world = World::new(1);
    let node = Node::start(config(dir, &world), &NodeSecret::from_seed(&[7; 32]))
        .await
        .unwrap();
    let found = node
        .list(Query {
            kind: Some(RecordKind::Offer),
            limit: Some(1),
            ..Query::default()
        })
        .await
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let held: u64 = node.coops().await.unwrap().iter().map(|c| c.entries).sum();
    let from_snapshot = node.metrics().start_from_snapshot.get() == 1;
    println!(
        "{}",
        json!({
            "seconds": (secs * 1000.0).round() / 1000.0,
            "entries_held": held,
            "first_answer_records": found.len(),
            "views_from_snapshot": from_snapshot,
            "vm_hwm_kb": status_kb("VmHWM:"),
            "vm_rss_kb": status_kb("VmRSS:"),
        })
    );
    node.shutdown().await.unwrap();
}

pub fn run(records: &[usize]) {
    let mut baseline_rss = [None, None];
    for &n in std::iter::once(&0).chain(records) {
        eprintln!("startup: preparing a data directory of {n} records");
        let dir = build(n);
        // The first start reads every view from the store (nothing wrote a snapshot yet); its
        // clean stop writes the snapshot the second start reads.
        for (i, from) in ["store", "snapshot"].into_iter().enumerate() {
            let v = start_once(dir.path());
            assert_eq!(v["views_from_snapshot"], json!(i == 1), "start {i}");
            report(n, from, &v, &mut baseline_rss[i]);
        }
    }
}

fn start_once(dir: &std::path::Path) -> Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("startup-child")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn report(n: usize, from: &str, v: &Value, baseline_rss: &mut Option<u64>) {
    let rss = v["vm_rss_kb"].as_u64().unwrap_or(0);
    let base = *baseline_rss.get_or_insert(rss);
    let per_100k =
        (n > 0).then(|| ((rss.saturating_sub(base)) as f64 / 1024.0) / (n as f64 / 100_000.0));
    figure(
        &format!("startup_{n}_records_views_from_{from}"),
        &[
            ("records", json!(n)),
            ("seconds_to_first_answer", v["seconds"].clone()),
            (
                "peak_rss_mb",
                json!(v["vm_hwm_kb"].as_u64().unwrap_or(0) / 1024),
            ),
            ("rss_mb", json!(rss / 1024)),
            (
                "rss_mb_per_100k_records_over_empty",
                json!(per_100k.map(|x| (x * 10.0).round() / 10.0)),
            ),
            ("entries_held", v["entries_held"].clone()),
        ],
    );
}
