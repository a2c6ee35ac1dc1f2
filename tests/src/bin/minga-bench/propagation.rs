//! Propagation: N nodes on 127.0.0.1 in a random mesh (a random tree, so it is connected,
//! plus two random links per node), one co-op, one writer. After a warm-up, records are
//! written one at a time and each is timed from the write call to the moment the last other
//! node applies it; then a burst is written back to back and timed until every node holds
//! all of it, counting anything still missing after two minutes as lost.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use minga_node::NodeEvent;
use minga_protocol::{DeviceId, EntryHash};
use minga_tests::{TestNode, World, connect, offer, spawn_with};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{figure, ms, plain, quantile};

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

/// Arrivals on the other nodes: (message, node) → when.
pub struct Seen<K> {
    rx: mpsc::Receiver<(usize, K, Instant)>,
    at: HashMap<K, Vec<Instant>>,
}

impl<K: Eq + Hash + Copy> Seen<K> {
    pub fn new(rx: mpsc::Receiver<(usize, K, Instant)>) -> Seen<K> {
        Seen {
            rx,
            at: HashMap::new(),
        }
    }

    /// Waits until `others` nodes have `key`; returns when the last did, or `None` after
    /// `patience`.
    async fn all(&mut self, key: K, others: usize, patience: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(times) = self.at.get(&key)
                && times.len() >= others
            {
                return times.iter().max().copied();
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((_, k, t))) => self.at.entry(k).or_default().push(t),
                _ => return None,
            }
        }
    }
}

/// A random tree on `n` nodes (so the mesh is connected) plus two random links per node,
/// the same for a given `n`.
fn mesh(n: usize) -> BTreeSet<(usize, usize)> {
    let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ n as u64;
    let mut links = BTreeSet::new();
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
    links
}

/// What one system measured on one mesh.
pub struct Measured {
    p50: f64,
    p99: f64,
    max: f64,
    burst_written: f64,
    burst_delivered: f64,
    lost: usize,
    idle_cores: f64,
    /// CPU time per message per receiving node while records go one at a time.
    cpu_ms_per_received: f64,
    peers_mean: f64,
    peers_max: usize,
}

/// The CPU time this process has used (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    cpu_of("/proc/self/stat")
}

/// The CPU time (user and system) of the process whose `stat` file is at `path`.
pub fn cpu_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; Linux
    // counts them in 1/100 s (USER_HZ) on every architecture it runs on here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The cores used while nothing is written (`cpu` says how much CPU has been used so far):
/// measured over `window` after `settle`.
async fn idle_cores(cpu: &dyn Fn() -> Duration, settle: Duration, window: Duration) -> f64 {
    tokio::time::sleep(settle).await;
    let before = cpu();
    tokio::time::sleep(window).await;
    (cpu() - before).as_secs_f64() / window.as_secs_f64()
}

/// Writes `WARM_UP + records` messages one at a time, timing each until `others` nodes have
/// it, then measures idle CPU, then writes `burst` back to back. `cpu` is the CPU used so
/// far by the processes the nodes run in.
pub async fn measure<K, F, Fut>(
    seen: &mut Seen<K>,
    others: usize,
    records: usize,
    burst: usize,
    peers: Vec<usize>,
    cpu: &dyn Fn() -> Duration,
    mut publish: F,
) -> Measured
where
    K: Eq + Hash + Copy,
    F: FnMut(String) -> Fut,
    Fut: Future<Output = K>,
{
    let mut latencies = Vec::with_capacity(records);
    let mut cpu_start = cpu();
    for i in 0..WARM_UP + records {
        if i == WARM_UP {
            cpu_start = cpu();
        }
        let t0 = Instant::now();
        let key = publish(format!("p{i}")).await;
        let last = seen
            .all(key, others, PATIENCE)
            .await
            .expect("a record did not reach every node");
        if i >= WARM_UP {
            latencies.push(last.duration_since(t0).as_secs_f64() * 1000.0);
        }
    }
    let cpu_ms_per_received =
        (cpu() - cpu_start).as_secs_f64() * 1000.0 / (records * others).max(1) as f64;
    latencies.sort_by(f64::total_cmp);
    let idle = idle_cores(cpu, Duration::from_secs(3), Duration::from_secs(10)).await;

    let t0 = Instant::now();
    let mut keys = Vec::with_capacity(burst);
    for i in 0..burst {
        keys.push(publish(format!("b{i}")).await);
    }
    let written = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + PATIENCE;
    let mut last = t0;
    let mut lost = 0;
    for k in keys {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.all(k, others, left).await {
            Some(t) => last = last.max(t),
            None => lost += 1,
        }
    }
    Measured {
        p50: quantile(&latencies, 0.5),
        p99: quantile(&latencies, 0.99),
        max: quantile(&latencies, 1.0),
        burst_written: written,
        burst_delivered: last.duration_since(t0).as_secs_f64(),
        lost,
        idle_cores: idle,
        cpu_ms_per_received,
        peers_mean: peers.iter().sum::<usize>() as f64 / peers.len().max(1) as f64,
        peers_max: peers.iter().copied().max().unwrap_or(0),
    }
}

/// Waits (up to 30 s) until every node counts the links the mesh gives it, as `peers` says
/// for node `i` (a link dialled both ways counts once).
pub async fn linked<F, Fut>(n: usize, links: &BTreeSet<(usize, usize)>, peers: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = usize>,
{
    let mut degree = vec![0; n];
    for &(a, b) in links {
        degree[a] += 1;
        degree[b] += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = true;
        for (i, d) in degree.iter().enumerate() {
            all &= peers(i).await >= *d;
        }
        if all || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Prints one system's figures.
fn report(system: &str, n: usize, links: usize, records: usize, burst: usize, m: &Measured) {
    figure(
        &format!("propagation_{n}_nodes"),
        &[
            ("system", json!(system)),
            ("nodes", json!(n)),
            ("links_given", json!(links)),
            ("peers_per_node_mean", ms(m.peers_mean)),
            ("peers_per_node_max", json!(m.peers_max)),
            ("records", json!(records)),
            ("p50_ms", ms(m.p50)),
            ("p99_ms", ms(m.p99)),
            ("max_ms", ms(m.max)),
            ("idle_cores", ms(m.idle_cores)),
            ("cpu_ms_per_received", ms(m.cpu_ms_per_received)),
            ("burst", json!(burst)),
            ("burst_write_seconds", ms(m.burst_written)),
            ("burst_delivered_seconds", ms(m.burst_delivered)),
            ("burst_lost", json!(m.lost)),
        ],
    );
}

/// Runs minga on the mesh, then plain gossipsub on the same mesh, in this process one after
/// the other, and prints both and their ratios.
/// How the minga nodes are configured.
pub struct Setup {
    /// Whether nodes dial the loopback addresses Kademlia tells them of.
    pub discover: bool,
    /// `[network] peers`.
    pub peer_target: usize,
    /// The catch-up timer.
    pub sync_interval: Duration,
    /// Whether plain gossipsub runs on the same mesh after minga.
    pub baseline: bool,
    /// Whether minga also runs with each node in its own process, after the rest.
    pub processes: bool,
}

pub async fn run(n: usize, records: usize, burst: usize, setup: &Setup) {
    let links = mesh(n);
    figure(
        &format!("propagation_{n}_nodes_setup"),
        &[
            ("discover", json!(setup.discover)),
            ("peer_target", json!(setup.peer_target)),
            ("sync_interval_secs", json!(setup.sync_interval.as_secs())),
        ],
    );
    let (minga, entry_bytes) = run_minga(n, &links, records, burst, setup).await;
    report("minga", n, links.len(), records, burst, &minga);
    if !setup.baseline {
        return;
    }
    let plain = run_plain(n, &links, records, burst, entry_bytes).await;
    report("plain_gossipsub", n, links.len(), records, burst, &plain);
    ratio(n, "ratio", &minga, &plain);
    if setup.processes {
        let apart = crate::processes::run(n, &links, records, burst, setup).await;
        report(
            "minga_one_process_each",
            n,
            links.len(),
            records,
            burst,
            &apart,
        );
        ratio(n, "one_process_each_ratio", &apart, &plain);
    }
}

/// Prints minga's figures over plain gossipsub's.
fn ratio(n: usize, name: &str, minga: &Measured, plain: &Measured) {
    figure(
        &format!("propagation_{n}_nodes_{name}"),
        &[
            ("nodes", json!(n)),
            ("p50_x", ms(minga.p50 / plain.p50)),
            ("p99_x", ms(minga.p99 / plain.p99)),
            (
                "burst_delivered_x",
                ms(minga.burst_delivered / plain.burst_delivered),
            ),
            (
                "cpu_per_received_x",
                ms(minga.cpu_ms_per_received / plain.cpu_ms_per_received),
            ),
        ],
    );
}

async fn run_minga(
    n: usize,
    links: &BTreeSet<(usize, usize)>,
    records: usize,
    burst: usize,
    setup: &Setup,
) -> (Measured, usize) {
    eprintln!("propagation: starting {n} minga nodes");
    let world = World::new(1);
    let mut nodes: Vec<TestNode> = Vec::with_capacity(n);
    for i in 0..n {
        nodes.push(
            spawn_with(&world, 10 + i as u8, |c| {
                c.private_addresses = setup.discover;
                c.peer_target = setup.peer_target;
                c.sync_interval = setup.sync_interval;
            })
            .await,
        );
    }
    for &(a, b) in links {
        connect(&nodes[a].handle, &nodes[b].handle).await;
    }
    eprintln!("propagation: {} links; measuring minga", links.len());

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
    let mut seen: Seen<EntryHash> = Seen::new(rx);
    let writer = &nodes[0].handle;
    let coop = world.coop();
    let entry_bytes = std::cell::Cell::new(0);
    let mut peers = Vec::with_capacity(n);
    // With discovery, Kademlia's links open in the first seconds and those past the target
    // close after their 10 s grace: the figures are taken once that has settled.
    let settle = Duration::from_secs(if setup.discover { 20 } else { 3 });
    tokio::time::sleep(settle).await;
    for node in &nodes {
        peers.push(node.handle.peers().await.map(|p| p.len()).unwrap_or(0));
    }
    let (world, entry_bytes) = (&world, &entry_bytes);
    let measured = measure(
        &mut seen,
        n - 1,
        records,
        burst,
        peers,
        &cpu_time,
        |title| async move {
            let e = writer
                .write(coop, &world.founder, DeviceId(1), None, offer(&title))
                .await
                .unwrap();
            entry_bytes.set(e.encode().len());
            e.hash()
        },
    )
    .await;
    for node in nodes {
        let _ = node.handle.shutdown().await;
    }
    (measured, entry_bytes.get())
}

async fn run_plain(
    n: usize,
    links: &BTreeSet<(usize, usize)>,
    records: usize,
    burst: usize,
    entry_bytes: usize,
) -> Measured {
    eprintln!("propagation: starting {n} plain gossipsub nodes");
    let (tx, rx) = mpsc::channel(1 << 20);
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        nodes.push(plain::spawn(i, "test", tx.clone()).await);
    }
    for &(a, b) in links {
        nodes[a].dial(nodes[b].addr.clone()).await;
    }
    linked(n, links, |i| nodes[i].peers()).await;
    eprintln!("propagation: measuring plain gossipsub");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut peers = Vec::with_capacity(n);
    for node in &nodes {
        peers.push(node.peers().await);
    }
    // The same eight-byte prefix never repeats: the sequence numbers count up.
    let mut seq = 0u64;
    let mut seen: Seen<u64> = Seen::new(rx);
    let writer = &nodes[0];
    let measured = measure(&mut seen, n - 1, records, burst, peers, &cpu_time, |_| {
        seq += 1;
        let s = seq;
        async move {
            writer.publish(s, entry_bytes.saturating_sub(8)).await;
            s
        }
    })
    .await;
    for node in nodes {
        node.stop();
    }
    measured
}
