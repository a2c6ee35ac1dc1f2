//! A partition between two hosts, made of network namespaces joined by a veth pair, then
//! healed. The cut is silent, as a dead link is: blackhole routes drop every packet, so TCP
//! sees no reset and only retransmits. During the cut each node must say the other is gone;
//! after the heal the nodes must reconnect by themselves and converge, whatever the cut's
//! length.
//!
//! It needs root and `ip` (iproute2), so it is ignored by `cargo test --workspace`;
//! `.ci/run` runs it with `--ignored`. `MINGA_PARTITION_CUTS=10,30,120` (seconds) measures
//! several cuts and prints, for each, how long after the heal both records had arrived:
//! the figures in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// Two namespaces joined by a veth pair, deleted when dropped.
struct Hosts {
    ns: [String; 2],
    ip: [String; 2],
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("`ip` (iproute2) is needed");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hosts {
    fn new() -> Hosts {
        let id = std::process::id();
        let ns = [format!("minga-{id}-a"), format!("minga-{id}-b")];
        let links = [format!("mg{id}a"), format!("mg{id}b")];
        // 10.213.x.0/24, x from the process id, so parallel runs never share a subnet.
        let net = format!("10.213.{}", id % 250);
        let ip_of = [format!("{net}.1"), format!("{net}.2")];
        let hosts = Hosts {
            ns: ns.clone(),
            ip: ip_of.clone(),
        };
        for n in &ns {
            ip(&["netns", "add", n]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        ip(&[
            "link", "add", &links[0], "type", "veth", "peer", "name", &links[1],
        ]);
        for i in 0..2 {
            ip(&["link", "set", &links[i], "netns", &ns[i]]);
            let cidr = format!("{}/24", ip_of[i]);
            ip(&["-n", &ns[i], "addr", "add", &cidr, "dev", &links[i]]);
            ip(&["-n", &ns[i], "link", "set", &links[i], "up"]);
        }
        hosts
    }

    /// Drops every packet between the two hosts, in both directions.
    fn cut(&self) {
        ip(&["-n", &self.ns[0], "route", "add", "blackhole", &self.ip[1]]);
        ip(&["-n", &self.ns[1], "route", "add", "blackhole", &self.ip[0]]);
    }

    fn heal(&self) {
        ip(&["-n", &self.ns[0], "route", "del", "blackhole", &self.ip[1]]);
        ip(&["-n", &self.ns[1], "route", "del", "blackhole", &self.ip[0]]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Waits until `cond` holds, checking every 100 ms, for at most `secs`; returns how long it
/// took.
fn within(secs: u64, what: &str, cond: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: not within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

#[test]
#[ignore = "needs root and iproute2; .ci/run runs it"]
fn a_silent_partition_is_seen_and_healed_whatever_its_length() {
    let cuts: Vec<u64> = std::env::var("MINGA_PARTITION_CUTS")
        .unwrap_or_else(|_| "15".into())
        .split(',')
        .map(|s| s.trim().parse().expect("cut lengths in seconds"))
        .collect();
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    ok(&a, &["init", "--coop", "La Esperanza"]);
    ok(&b, &["init", "--coop", "Cooperativa Unión"]);
    let hosts = Hosts::new();
    let (na, nb) = (Some(hosts.ns[0].as_str()), Some(hosts.ns[1].as_str()));
    let listen = |i: usize| format!("/ip4/{}/tcp/7740", hosts.ip[i]);
    let node_a = up_in(na, &a, &listen(0), None);
    let _node_b = up_in(nb, &b, &listen(1), Some(&node_a.listen));
    for (ns, dir, other, other_dir) in [(na, &a, nb, &b), (nb, &b, na, &a)] {
        let file = root.path().join("genesis.json");
        std::fs::write(
            &file,
            ok_in(other, other_dir, &["coop", "show", "--genesis"]),
        )
        .unwrap();
        ok_in(ns, dir, &["coop", "trust", file.to_str().unwrap()]);
    }
    let wait = WAIT_SECS.to_string();
    let peers = |ns, dir: &std::path::Path| json_in(ns, dir, &["peers"]).as_array().unwrap().len();
    let first = id_of(&json_in(
        na,
        &a,
        &[
            "offer",
            "add",
            "--title",
            "Rice",
            "--category",
            "food/grain/rice",
            "--quantity",
            "300 kg",
        ],
    ));
    ok_in(nb, &b, &["show", &first, "--wait", &wait]);

    for cut in cuts {
        hosts.cut();
        let cut_at = Instant::now();
        // Both sides see the link die, though nothing reset it.
        let seen_a = within(30, "A sees B gone", || peers(na, &a) == 0);
        let seen_b = within(30, "B sees A gone", || peers(nb, &b) == 0);
        // Each side writes while cut off.
        let offer = id_of(&json_in(
            na,
            &a,
            &[
                "offer",
                "add",
                "--title",
                &format!("Beans {cut}"),
                "--category",
                "food/beans",
                "--quantity",
                "40 kg",
            ],
        ));
        let need = id_of(&json_in(
            nb,
            &b,
            &[
                "need",
                "add",
                "--title",
                &format!("Flour {cut}"),
                "--category",
                "food/flour",
                "--quantity",
                "50 kg",
            ],
        ));
        if let Some(rest) = Duration::from_secs(cut).checked_sub(cut_at.elapsed()) {
            std::thread::sleep(rest);
        }
        hosts.heal();
        let healed = Instant::now();
        // Nobody dials by hand: the nodes find each other again and catch up.
        ok_in(nb, &b, &["show", &offer, "--wait", &wait]);
        ok_in(na, &a, &["show", &need, "--wait", &wait]);
        let converged = healed.elapsed();
        within(30, "the peers are listed again", || {
            peers(na, &a) == 1 && peers(nb, &b) == 1
        });
        println!(
            "{{\"cut_secs\":{cut},\"seen_gone_ms\":[{},{}],\"converged_after_heal_ms\":{}}}",
            seen_a.as_millis(),
            (seen_a + seen_b).as_millis(),
            converged.as_millis()
        );
    }
}
