//! Contact details only the matched counterpart reads, through the `minga` binary on three
//! nodes: a co-op with a need (A), one that pledges (B), and a third (C) that replicates both.
//! Nothing is sealed before acceptance; once A accepts, each side's node seals its contact to
//! the other side's members; B and A open each other's, C holds the same bytes and opens
//! neither, and the phone number is nowhere in C's data directory. A declined pledge reveals
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::*;

/// The contacts of a pledge on a node, once both sides' are there.
fn contacts(dir: &Path, pledge: &str) -> Vec<Value> {
    let wait = WAIT_SECS.to_string();
    let v = json(dir, &["contact", "of", pledge, "--wait", &wait]);
    v.as_array().unwrap().clone()
}

/// Every byte of every file under `dir`.
fn holds(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            holds(&p, needle)
        } else {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}

#[test]
fn only_the_counterpart_opens_a_contact_and_only_after_acceptance() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    let mut ids = std::collections::HashMap::new();
    for (dir, name) in [
        (&a, "Comedor Los Pibes"),
        (&b, "La Esperanza"),
        (&c, "Tercera"),
    ] {
        ids.insert(dir.clone(), found_coop(dir, name));
    }
    let node_a = up(&a, None);
    let _node_b = up(&b, Some(&node_a.listen));
    let _node_c = up(&c, Some(&node_a.listen));
    trust_each_other(&[&a, &b, &c]);
    ok(
        &a,
        &[
            "contact",
            "set",
            "--person",
            "Rosa",
            "--phone",
            "+54 11 4444 0001",
        ],
    );
    ok(
        &b,
        &[
            "contact",
            "set",
            "--person",
            "Ana Quispe",
            "--phone",
            "+54 341 555 0101",
            "--address",
            "Av. Pellegrini 1250, Rosario",
        ],
    );
    assert_eq!(json(&b, &["contact", "show"])["person"], "Ana Quispe");

    let need = write(
        &a,
        &[
            "need",
            "add",
            "--title",
            "Arroz",
            "--category",
            "food/grain/rice",
            "--quantity",
            "100 kg",
        ],
    );
    arrived(&[&b], &need);
    let pledge = write(&b, &["pledge", &need, "--quantity", "60 kg"]);
    arrived(&[&a, &c], &pledge);
    // Not accepted yet: nothing sealed anywhere.
    for dir in [&a, &b, &c] {
        assert_eq!(json(dir, &["contact", "of", &pledge]), Value::Array(vec![]));
    }

    write(&a, &["accept", &pledge]);
    // B opens A's contact; its own is sealed to A.
    let on_b = contacts(&b, &pledge);
    assert_eq!(on_b.len(), 2, "{on_b:?}");
    let from = |list: &[Value], dir: &Path| -> Value {
        list.iter()
            .find(|c| c["from"] == ids[dir].as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no contact from {}: {list:?}", dir.display()))
    };
    assert_eq!(from(&on_b, &a)["contact"]["person"], "Rosa");
    assert_eq!(from(&on_b, &a)["contact"]["phone"], "+54 11 4444 0001");
    assert_eq!(from(&on_b, &b)["contact"], Value::Null);
    // A opens B's.
    let on_a = contacts(&a, &pledge);
    assert_eq!(
        from(&on_a, &b)["contact"]["address"],
        "Av. Pellegrini 1250, Rosario"
    );
    // C holds the same two records and opens neither.
    let on_c = contacts(&c, &pledge);
    assert_eq!(on_c.len(), 2);
    for x in &on_c {
        assert_eq!(x["contact"], Value::Null, "{x}");
        assert!(on_b.iter().any(|y| y["id"] == x["id"]));
    }
    assert!(
        !holds(&c, b"+54 341 555 0101"),
        "B's phone is readable on C"
    );
    assert!(!holds(&c, b"Rosa"), "A's person is readable on C");

    // A declines a second pledge: nothing is revealed for it. A third, accepted, is the
    // barrier: once its contacts are in, every node has handled the decline before it.
    let declined = write(&b, &["pledge", &need, "--quantity", "10 kg"]);
    arrived(&[&a], &declined);
    write(&a, &["decline", &declined]);
    let third = write(&b, &["pledge", &need, "--quantity", "20 kg"]);
    arrived(&[&a], &third);
    write(&a, &["accept", &third]);
    for dir in [&a, &b, &c] {
        assert_eq!(contacts(dir, &third).len(), 2);
        assert_eq!(
            json(dir, &["contact", "of", &declined]),
            Value::Array(vec![])
        );
    }
}
