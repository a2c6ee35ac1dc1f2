//! Running a co-op's membership through the `minga` binary, as the README shows: the co-op key
//! certifies an admin, the admin certifies a member, the co-op key revokes the admin (what it
//! certified before stands) and rotates itself, and the node keeps signing with the new key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;

#[test]
fn the_coop_key_certifies_and_revokes_admins_and_rotates() {
    let root = tempfile::tempdir().unwrap();
    let (a, x, y) = (
        root.path().join("a"),
        root.path().join("x"),
        root.path().join("y"),
    );
    ok(&a, &["init", "--coop", "La Esperanza"]);
    let admin = member_key(&ok(&x, &["init"]));
    let member = member_key(&ok(&y, &["init"]));
    let node_a = up(&a, None);
    let node_x = up(&x, Some(&node_a.listen));
    let node_y = up(&y, Some(&node_a.listen));
    let genesis = root.path().join("a.json");
    std::fs::write(&genesis, ok(&a, &["coop", "show", "--genesis"])).unwrap();
    for dir in [&x, &y] {
        ok(dir, &["coop", "trust", genesis.to_str().unwrap()]);
    }
    let wait = WAIT_SECS.to_string();

    // The co-op key certifies the admin; the admin, on its own node, certifies the member.
    let by_coop = json(&a, &["member", "add", &admin, "--role", "admin"]);
    assert_eq!(by_coop["signed_by"], "co-op key");
    ok(&x, &["show", &id_of(&by_coop), "--wait", &wait]);
    let by_admin = json(&x, &["member", "add", &member]);
    assert_eq!(by_admin["signed_by"], "admin");
    ok(&y, &["show", &id_of(&by_admin), "--wait", &wait]);
    let offer = id_of(&json(
        &y,
        &[
            "offer",
            "add",
            "--title",
            "Flour",
            "--category",
            "food/flour",
            "--quantity",
            "50 kg",
        ],
    ));
    // An admin cannot certify an admin: that takes the co-op key, which x does not hold.
    let out = minga(&x, &["member", "add", &member, "--role", "admin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("co-op key"));

    // The member adds a second device with its own key: no data directory is copied. The
    // device writes for the co-op as the member, and the member revokes it alone.
    let y2 = root.path().join("y2");
    let phone = member_key(&ok(&y2, &["init"]));
    let node_y2 = up(&y2, Some(&node_a.listen));
    ok(&y2, &["coop", "trust", genesis.to_str().unwrap()]);
    let linked = id_of(&json(&y, &["device", "add", &phone]));
    ok(&y2, &["show", &linked, "--wait", &wait]);
    let from_phone = id_of(&json(
        &y2,
        &[
            "offer",
            "add",
            "--title",
            "Oil",
            "--category",
            "food/oil",
            "--quantity",
            "5 l",
        ],
    ));
    ok(&a, &["show", &from_phone, "--wait", &wait]);
    let dropped = id_of(&json(&y, &["device", "revoke", &phone]));
    ok(&y2, &["show", &dropped, "--wait", &wait]);
    let out = minga(
        &y2,
        &[
            "offer",
            "add",
            "--title",
            "Oil",
            "--category",
            "food/oil",
            "--quantity",
            "1 l",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a revoked device writes nothing"
    );
    drop(node_y2);

    // The co-op key revokes the admin. The member it certified before keeps writing.
    let revocation = id_of(&json(&a, &["member", "revoke", &admin]));
    for dir in [&x, &y] {
        ok(dir, &["show", &revocation, "--wait", &wait]);
    }
    let out = minga(
        &x,
        &[
            "offer",
            "add",
            "--title",
            "Salt",
            "--category",
            "food/salt",
            "--quantity",
            "1 kg",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revoked"), "{err}");
    assert_eq!(json(&y, &["show", &offer])["status"], "open");
    ok(
        &y,
        &[
            "offer",
            "add",
            "--title",
            "Yeast",
            "--category",
            "food/yeast",
            "--quantity",
            "2 kg",
        ],
    );

    // The co-op key rotates; the node signs with the new key from then on.
    let before = std::fs::read(a.join("coop.key")).unwrap();
    let rotated = ok(&a, &["coop", "rotate"]);
    assert!(
        rotated.starts_with("rotated: co-op key 1 is did:key:"),
        "{rotated}"
    );
    assert_ne!(std::fs::read(a.join("coop.key")).unwrap(), before);
    assert!(!a.join("coop.key.next").exists());
    let successor = member_key(&ok(&root.path().join("z"), &["init"]));
    let again = json(&a, &["member", "add", &successor, "--role", "admin"]);
    assert_eq!(again["signed_by"], "co-op key");
    let members = json(&a, &["member", "list"]);
    let row = |key: &str| {
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&successor)["role"], "admin", "{members}");
    assert!(row(&admin)["revoked"].is_string(), "{members}");
    assert_eq!(row(&member)["role"], "member", "{members}");
    drop((node_x, node_y, node_a));
}
