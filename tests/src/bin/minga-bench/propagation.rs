//! Propagation: N nodes on 127.0.0.1 in a random mesh (a random tree, so it is connected,
//! plus two random links per node), one co-op, one writer. After a warm-up, records are
//! written one at a time and each is timed from the write call to the moment the last other
//! node applies it; then a burst is written back to back and timed until every node holds
//! all of it, counting anything still missing after two minutes as lost.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use minga_node::NodeEvent;
use minga_protocol::{DeviceId, EntryHash};
use minga_tests::{TestNode, World, connect, offer, spawn};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{figure, ms, quantile};

/// How long delivery may take before what is missing counts as lost.
const PATIENCE: Duration = Duration::from_secs(120);
const WARM_UP: usize = 50;

/// A deterministic generator for the mesh.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Applies seen on the other nodes: (entry, node) → when.
struct Seen {
    rx: mpsc::Receiver<(usize, EntryHash, Instant)>,
    at: HashMap<EntryHash, Vec<Instant>>,
}

impl Seen {
    /// Waits until `others` nodes applied `entry`; returns when the last did, or `None`
    /// after `patience`.
    async fn all(
        &mut self,
        entry: EntryHash,
        others: usize,
        patience: Duration,
    ) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(times) = self.at.get(&entry)
                && times.len() >= others
            {
                return times.iter().max().copied();
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((_, hash, t))) => self.at.entry(hash).or_default().push(t),
                _ => return None,
            }
        }
    }
}

pub async fn run(n: usize, records: usize, burst: usize) {
    eprintln!("propagation: starting {n} nodes");
    let world = World::new(1);
    let mut nodes: Vec<TestNode> = Vec::with_capacity(n);
    for i in 0..n {
        nodes.push(spawn(&world, 10 + i as u8).await);
    }
    let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ n as u64;
    let mut links = std::collections::BTreeSet::new();
    for i in 1..n {
        let j = (next(&mut rng) % i as u64) as usize;
        links.insert((j, i));
        for _ in 0..2 {
            let k = (next(&mut rng) % n as u64) as usize;
            if k != i {
                links.insert((k.min(i), k.max(i)));
            }
        }
    }
    for &(a, b) in &links {
        connect(&nodes[a].handle, &nodes[b].handle).await;
    }
    eprintln!("propagation: {} links; measuring", links.len());

    let (tx, rx) = mpsc::channel(1 << 20);
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let mut events = node.handle.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(NodeEvent::Applied { entries, .. }) => {
                        let now = Instant::now();
                        for e in entries {
                            if tx.send((i, e, now)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => {
                        eprintln!("propagation: node {i} observer lagged by {k} events");
                    }
                    Err(_) => return,
                }
            }
        });
    }
    let mut seen = Seen {
        rx,
        at: HashMap::new(),
    };
    let writer = &nodes[0].handle;
    let coop = world.coop();
    let others = n - 1;

    let mut latencies = Vec::with_capacity(records);
    for i in 0..WARM_UP + records {
        let t0 = Instant::now();
        let entry = writer
            .write(
                coop,
                &world.founder,
                DeviceId(1),
                None,
                offer(&format!("p{i}")),
            )
            .await
            .unwrap();
        let last = seen
            .all(entry.hash(), others, PATIENCE)
            .await
            .expect("a record did not reach every node");
        if i >= WARM_UP {
            latencies.push(last.duration_since(t0).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    figure(
        &format!("propagation_{n}_nodes"),
        &[
            ("nodes", json!(n)),
            ("links", json!(links.len())),
            ("records", json!(records)),
            ("p50_ms", ms(quantile(&latencies, 0.5))),
            ("p99_ms", ms(quantile(&latencies, 0.99))),
            ("max_ms", ms(quantile(&latencies, 1.0))),
        ],
    );

    let t0 = Instant::now();
    let mut hashes = Vec::with_capacity(burst);
    for i in 0..burst {
        let e = writer
            .write(
                coop,
                &world.founder,
                DeviceId(1),
                None,
                offer(&format!("b{i}")),
            )
            .await
            .unwrap();
        hashes.push(e.hash());
    }
    let written = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + PATIENCE;
    let mut last = t0;
    let mut lost = 0;
    for h in &hashes {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.all(*h, others, left).await {
            Some(t) => last = last.max(t),
            None => lost += 1,
        }
    }
    figure(
        &format!("burst_{n}_nodes"),
        &[
            ("nodes", json!(n)),
            ("records", json!(burst)),
            ("write_seconds", ms(written)),
            (
                "all_delivered_seconds",
                ms(last.duration_since(t0).as_secs_f64()),
            ),
            ("records_lost", json!(lost)),
        ],
    );
    for node in nodes {
        let _ = node.handle.shutdown().await;
    }
}
