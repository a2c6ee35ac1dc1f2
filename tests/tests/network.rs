//! A network formed by invites and vouches alone, through the `minga` binary on five nodes,
//! one per co-op: no genesis file is handed around and no node trusts a co-op by hand. A node
//! blocks one co-op for itself and lets it back. Then a co-op is expelled by a node that had not seen its latest entry: every node drops what the
//! expelled co-op wrote past the cut-off, keeps what it wrote before, and refuses what it
//! writes next.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// Waits until `check` holds, asking again every 200 ms, or fails the test after
/// [`WAIT_SECS`] with `what`.
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The co-ops a node replicates.
fn replicated(dir: &Path) -> Vec<String> {
    let v = json(dir, &["coop", "show"]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The one network a node belongs to, as `network show` gives it.
fn network(dir: &Path) -> Value {
    json(dir, &["network", "show"])
}

fn listed(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["coop"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `who` joins with an invite printed by `inviter`'s node; `voucher`'s admin vouches once the
/// request reached it; then `who` is admitted on its own node.
fn join(who: &Path, id: &str, inviter: &Path, voucher: &Path, note: &str) {
    let code = ok(inviter, &["invite"]).trim().to_string();
    assert!(code.starts_with("minga-invite:"), "{code}");
    ok(who, &["join", &code, "--note", note]);
    until("the join request reaches the voucher's node", || {
        network(voucher)["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["coop"] == id && r["note"] == note)
            || listed(&network(voucher), "admitted").contains(&id.to_string())
    });
    if !listed(&network(voucher), "admitted").contains(&id.to_string()) {
        ok(voucher, &["coop", "vouch", id, "--note", "los conocemos"]);
    }
    until("the new co-op sees itself admitted", || {
        listed(&network(who), "admitted").contains(&id.to_string())
    });
}

#[test]
fn five_co_ops_form_a_network_by_invites_and_vouches_and_one_is_expelled() {
    let root = tempfile::tempdir().unwrap();
    let names = [
        "Textil Oeste",
        "La Esperanza",
        "Comedor Los Pibes",
        "Metalúrgica Unión",
        "Panadería del Sur",
    ];
    let dirs: Vec<PathBuf> = (0..5).map(|i| root.path().join(format!("c{i}"))).collect();
    let ids: Vec<String> = dirs
        .iter()
        .zip(names)
        .map(|(d, n)| found_coop(d, n))
        .collect();
    let (a, b, c, d, e) = (&dirs[0], &dirs[1], &dirs[2], &dirs[3], &dirs[4]);
    // No node is told of another: each finds the network through an invite.
    let mut nodes: Vec<Option<Up>> = dirs.iter().map(|d| Some(up(d, None))).collect();

    let net = ok(
        a,
        &["network", "create", "Red Oeste", "--vouches", "1", "-q"],
    )
    .trim()
    .to_string();
    assert_eq!(net.len(), 64, "{net}");
    // Invites come from different co-ops' nodes (A, B, A, C), and the admin of the inviting
    // co-op vouches: B and D through A, C through B, E through C.
    join(b, &ids[1], a, a, "cooperativa de trabajo textil");
    join(c, &ids[2], b, b, "comedor comunitario");
    join(d, &ids[3], a, a, "metalúrgica recuperada");
    join(e, &ids[4], c, c, "panadería");

    let mut all = ids.clone();
    all.sort();
    for dir in &dirs {
        until("every node replicates all five co-ops", || {
            let mut have = replicated(dir);
            have.sort();
            have == all
        });
        let n = network(dir);
        assert_eq!(n["id"], net.as_str());
        let mut admitted = listed(&n, "admitted");
        admitted.sort();
        assert_eq!(admitted, all);
    }
    // Records flow without anything handed around.
    let before = write(
        e,
        &[
            "need",
            "add",
            "--title",
            "Harina 000",
            "--category",
            "food/flour",
            "--quantity",
            "500 kg",
        ],
    );
    arrived(
        &dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &before,
    );
    let status = ok(a, &["status"]);
    assert!(status.contains("Red Oeste: 5 admitted"), "{status}");

    // A node may refuse a co-op for itself: A blocks C, whose data goes from A's node and
    // stays gone though the network admits it; lifted, the block lets C back in.
    ok(a, &["coop", "block", &ids[2]]);
    assert!(!replicated(a).contains(&ids[2]));
    assert!(listed(&network(a), "admitted").contains(&ids[2]));
    refused(a, &["coop", "block", &ids[0]], "own co-op");
    ok(a, &["coop", "unblock", &ids[2]]);
    until("A replicates C again", || replicated(a).contains(&ids[2]));

    // D's node stops; E writes again, and A, B and C receive it.
    nodes[3] = None;
    let after = write(
        e,
        &[
            "offer",
            "add",
            "--title",
            "Pan",
            "--category",
            "food/bread",
            "--quantity",
            "40 kg",
        ],
    );
    arrived(&[a, b, c, e], &after);
    // D, alone (every other node stopped), signs E's expulsion: its cut-offs are E's logs as
    // D holds them, without the offer.
    for i in [0, 1, 2, 4] {
        nodes[i] = None;
    }
    let node_d = up(d, None);
    write(
        d,
        &[
            "coop",
            "expel",
            &ids[4],
            "--note",
            "vendió lo prometido a otros",
        ],
    );
    // Everyone comes back, each dialling D.
    nodes[3] = Some(node_d);
    for i in [0, 1, 2, 4] {
        let listen = nodes[3].as_ref().unwrap().listen.clone();
        nodes[i] = Some(up(&dirs[i], Some(&listen)));
    }
    for dir in &dirs {
        until("every node holds E as expelled", || {
            listed(&network(dir), "expelled").contains(&ids[4])
        });
        // What E wrote before the cut-off stands; what it wrote after is gone.
        ok(dir, &["show", &before]);
        until("the offer past the cut-off is gone", || {
            minga(dir, &["show", &after]).status.code() == Some(4)
        });
        assert!(!listed(&network(dir), "admitted").contains(&ids[4]));
    }
    // And what E writes next is refused, starting with its own node.
    refused(
        e,
        &[
            "offer",
            "add",
            "--title",
            "Más pan",
            "--category",
            "food/bread",
            "--quantity",
            "10 kg",
        ],
        "expelled",
    );
}
