//! Propagation with each minga node in its own process, as nodes run in deployment: no
//! shared runtime, allocator or event-loop scheduling between them. The parent starts this
//! binary once per node (`propagation-node`), links them as the mesh says, has the first
//! write, and learns from each child's output when it applied what. Times cross processes as
//! wall-clock nanoseconds (one machine, one clock) and are turned back into the parent's
//! `Instant`s. CPU is the sum over every child and the parent.
//!
//! A child speaks one JSON object per line on stdout and reads one command per line on stdin:
//! `dial ADDR`, `peers`, `write TITLE`, `stop`.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use minga_node::NodeEvent;
use minga_protocol::{DeviceId, EntryHash};
use minga_tests::{World, offer, spawn_with};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::propagation::{Measured, Seen, Setup, cpu_of, linked, measure};

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// In the child: one node, driven by the parent.
pub async fn child(seed: u8, setup: &Setup) {
    let world = World::new(1);
    let node = spawn_with(&world, seed, |c| {
        c.private_addresses = setup.discover;
        c.peer_target = setup.peer_target;
        c.sync_interval = setup.sync_interval;
    })
    .await;
    let say = |v: Value| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    };
    say(json!({ "addr": node.handle.listen_addrs()[0].to_string() }));
    let mut events = node.handle.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Applied { entries, .. }) => {
                    let ns = wall_ns();
                    let hashes: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
                    say(json!({ "applied": hashes, "ns": ns.to_string() }));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => {
                    eprintln!("propagation-node {seed}: lagged by {k} events");
                }
                Err(_) => return,
            }
        }
    });
    // Commands come from a thread of its own: stdin is read blocking.
    let (tx, mut commands) = mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    let coop = world.coop();
    while let Some(line) = commands.recv().await {
        let (verb, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb {
            "dial" => {
                let ok = match rest.parse() {
                    Ok(addr) => node.handle.dial(addr).await.is_ok(),
                    Err(_) => false,
                };
                say(json!({ "dialled": ok }));
            }
            "peers" => {
                let n = node.handle.peers().await.map_or(0, |p| p.len());
                say(json!({ "peers": n }));
            }
            "write" => {
                let e = node
                    .handle
                    .write(coop, &world.founder, DeviceId(1), None, offer(rest))
                    .await
                    .unwrap();
                say(json!({ "written": e.hash().to_string() }));
            }
            "stop" => break,
            _ => say(json!({ "error": format!("unknown command {verb}") })),
        }
    }
    let _ = node.handle.shutdown().await;
    say(json!({ "stopped": true }));
}

/// The parent's hold on one child.
struct Proc {
    child: Child,
    stdin: std::sync::Mutex<ChildStdin>,
    /// Answers to commands, in order.
    answers: tokio::sync::Mutex<mpsc::Receiver<Value>>,
    addr: String,
}

impl Proc {
    fn tell(&self, command: &str) {
        let mut stdin = self.stdin.lock().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    async fn peers(&self) -> usize {
        self.ask("peers").await["peers"].as_u64().unwrap_or(0) as usize
    }

    async fn ask(&self, command: &str) -> Value {
        let mut answers = self.answers.lock().await;
        self.tell(command);
        tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("a node process did not answer in 60 s")
            .expect("a node process stopped")
    }
}

/// Runs minga's nodes, one process each, on the mesh and measures them as in one process.
pub async fn run(
    n: usize,
    links: &BTreeSet<(usize, usize)>,
    records: usize,
    burst: usize,
    setup: &Setup,
) -> Measured {
    eprintln!("propagation: starting {n} minga nodes, one process each");
    let (base, base_ns) = (Instant::now(), wall_ns());
    let (seen_tx, seen_rx) = mpsc::channel(1 << 20);
    let mut procs = Vec::with_capacity(n);
    for i in 0..n {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["propagation-node", "--seed", &(10 + i).to_string()])
            .args(["--peer-target", &setup.peer_target.to_string()])
            .args([
                "--sync-interval-secs",
                &setup.sync_interval.as_secs().to_string(),
            ])
            .args(setup.discover.then_some("--discover"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (answer_tx, mut answers) = mpsc::channel(64);
        let seen_tx = seen_tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(v) = line.map(|l| serde_json::from_str::<Value>(&l)) else {
                    return;
                };
                let Ok(v) = v else { continue };
                if let Some(hashes) = v["applied"].as_array() {
                    let ns: u128 = v["ns"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                    let at = base
                        + Duration::from_nanos(
                            ns.saturating_sub(base_ns).min(u64::MAX as u128) as u64
                        );
                    for h in hashes.iter().filter_map(|h| h.as_str()?.parse().ok()) {
                        if seen_tx.blocking_send((i, h, at)).is_err() {
                            return;
                        }
                    }
                } else if answer_tx.blocking_send(v).is_err() {
                    return;
                }
            }
        });
        let first = tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("a node process did not start in 60 s")
            .expect("a node process stopped at start");
        let addr = first["addr"].as_str().unwrap().to_string();
        procs.push(Proc {
            child,
            stdin: std::sync::Mutex::new(stdin),
            answers: tokio::sync::Mutex::new(answers),
            addr,
        });
    }
    for &(a, b) in links {
        let addr = procs[b].addr.clone();
        let answer = procs[a].ask(&format!("dial {addr}")).await;
        assert_eq!(answer["dialled"], json!(true), "node {a} dialling {b}");
    }
    linked(n, links, |i| procs[i].peers()).await;
    eprintln!(
        "propagation: {} links; measuring minga, one process each",
        links.len()
    );
    let settle = Duration::from_secs(if setup.discover { 20 } else { 3 });
    tokio::time::sleep(settle).await;
    let mut peers = Vec::with_capacity(n);
    for p in &procs {
        peers.push(p.peers().await);
    }
    let pids: Vec<u32> = procs.iter().map(|p| p.child.id()).collect();
    let cpu = move || {
        pids.iter()
            .map(|pid| cpu_of(&format!("/proc/{pid}/stat")))
            .sum::<Duration>()
            + cpu_of("/proc/self/stat")
    };
    let mut seen: Seen<EntryHash> = Seen::new(seen_rx);
    let writer = &procs[0];
    let measured = measure(
        &mut seen,
        n - 1,
        records,
        burst,
        peers,
        &cpu,
        |title| async move {
            let answer = writer.ask(&format!("write {title}")).await;
            answer["written"].as_str().unwrap().parse().unwrap()
        },
    )
    .await;
    for p in &procs {
        p.tell("stop");
    }
    for mut p in procs {
        let _ = tokio::time::timeout(Duration::from_secs(30), p.answers.get_mut().recv()).await;
        let _ = p.child.wait();
    }
    measured
}
