//! The README's journey, end to end, driven only through the `minga` binary: three `minga up`
//! processes with their own data directories, listening on 127.0.0.1 only.
//!
//! Co-op A offers 300 kg of rice; co-op B needs 200 kg; a member of A pledges 120 kg to B's
//! need; B accepts and confirms a 70 kg delivery; every node then shows the need as partly
//! pledged and the pledge as partly fulfilled. The exported pledge bundle verifies offline,
//! the same bundle with one byte changed does not, and once A revokes the member, the
//! member's next pledge is refused.
//!
//! The binary is the one `cargo test --workspace` builds for the `minga-cli` package (in the
//! same target directory as this test). Every wait is on an event: a line the node prints, or
//! `minga show --wait`, which returns when the record arrives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

use base64::Engine;
use serde_json::Value;

#[test]
fn a_pledge_from_offer_to_partial_delivery_verified_and_revocation_enforced() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, m) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("m"),
    );
    ok(&a, &["init", "--coop", "La Esperanza"]);
    let b_id = found_coop(&b, "Cooperativa Unión");
    let member = member_key(&ok(&m, &["init"]));

    // No node is told of another: the invite carries A's address.
    let node_a = up(&a, None);
    let node_b = up(&b, None);
    let node_m = up(&m, None);

    // A founds a network and invites; B asks to join and A's admin vouches for it; the
    // member's node only follows. Every node then replicates both co-ops.
    ok(&a, &["network", "create", "Red Rosario"]);
    let invite = ok(&a, &["invite"]).trim().to_string();
    ok(&b, &["join", &invite, "--note", "cooperativa de consumo"]);
    ok(&m, &["join", &invite]);
    let wait = WAIT_SECS.to_string();
    ok(&a, &["coop", "vouch", &b_id, "--wait", &wait]);
    let added = json(&a, &["member", "add", &member]);
    let (cert, cert_hash) = (
        id_of(&added),
        added["certificate"].as_str().unwrap().to_string(),
    );

    // M watches its node's events: the match the offer and need make is announced live.
    let mut watch = Command::new(minga_bin())
        .arg("--data-dir")
        .arg(&m)
        .args(["watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watch_ready = lines_of(watch.stderr.take().unwrap());
    let watch_events = lines_of(watch.stdout.take().unwrap());
    watch_ready
        .recv_timeout(Duration::from_secs(WAIT_SECS))
        .expect("watch did not start");

    let offer = id_of(&json(
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
    let need = id_of(&json(
        &b,
        &[
            "need",
            "add",
            "--title",
            "Rice for the canteen",
            "--category",
            "food/grain/rice",
            "--quantity",
            "200 kg",
            "--urgency",
            "high",
        ],
    ));
    let wait = WAIT_SECS.to_string();
    // The member's node needs its certificate and B's need before it can pledge.
    ok(&m, &["show", &cert, "--wait", &wait]);
    ok(&m, &["show", &need, "--wait", &wait]);
    ok(&m, &["show", &offer, "--wait", &wait]);
    let announced = loop {
        let line = watch_events
            .recv_timeout(Duration::from_secs(WAIT_SECS))
            .expect("no match was announced");
        let e: Value = serde_json::from_str(&line).unwrap();
        if e["event"] == "match" {
            break e;
        }
    };
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(announced["data"]["need"]["id"], need.as_str());
    assert_eq!(announced["data"]["offer"]["id"], offer.as_str());

    // Matching: the offer ranks for the need, with its reasons, and the plan proposes
    // covering the whole need from it.
    let ranked = json(&m, &["match", "--need", &need]);
    let best = &ranked[0]["matches"][0];
    assert_eq!(best["offer"]["id"], offer.as_str(), "{ranked}");
    assert!(best["score"].as_f64().unwrap() > 50.0);
    let reasons: Vec<&str> = best["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"same category food/grain/rice"),
        "{reasons:?}"
    );
    let plan = json(&m, &["plan"]);
    assert_eq!(plan["proposals"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["proposals"][0]["quantity"], "200 kg");
    assert_eq!(plan["proposals"][0]["offer"]["id"], offer.as_str());

    let pledge = id_of(&json(
        &m,
        &["pledge", &need, "--quantity", "120 kg", "--offer", &offer],
    ));

    ok(
        &a,
        &[
            "contact",
            "set",
            "--person",
            "Rosa",
            "--phone",
            "+54 341 555 0101",
        ],
    );
    ok(
        &b,
        &[
            "contact",
            "set",
            "--person",
            "Marta",
            "--address",
            "Calle 9 nº 44",
        ],
    );
    ok(&b, &["show", &pledge, "--wait", &wait]);
    let accepted = id_of(&json(&b, &["accept", &pledge]));
    let delivered = id_of(&json(&b, &["deliver", &pledge, "--quantity", "70 kg"]));
    // Once accepted, B reads A's contact (sealed to B's members), and A reads B's.
    let on_b = json(&b, &["contact", "of", &pledge, "--wait", &wait]);
    let from_a = on_b
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contact"].is_object());
    assert_eq!(
        from_a.unwrap()["contact"]["phone"],
        "+54 341 555 0101",
        "{on_b}"
    );
    let on_a = json(&a, &["contact", "of", &pledge, "--wait", &wait]);
    let from_b = on_a
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contact"].is_object());
    assert_eq!(from_b.unwrap()["contact"]["person"], "Marta", "{on_a}");

    for (name, dir) in [("a", &a), ("b", &b), ("m", &m)] {
        ok(dir, &["show", &accepted, "--wait", &wait]);
        ok(dir, &["show", &delivered, "--wait", &wait]);
        let n = json(dir, &["need", "show", &need]);
        assert_eq!(n["status"], "partly_pledged", "node {name}: {n}");
        assert!(
            n["created"].is_string(),
            "node {name} knows when it was posted: {n}"
        );
        assert_eq!(n["pledged"], "120 kg", "node {name}");
        assert_eq!(n["delivered"], "70 kg", "node {name}");
        let p = json(dir, &["show", &pledge]);
        assert_eq!(p["status"], "partly_fulfilled", "node {name}: {p}");
        assert_eq!(p["delivered"], "70 kg", "node {name}");
        let o = json(dir, &["offer", "show", &offer]);
        assert_eq!(o["status"], "partly_pledged", "node {name}: {o}");
    }

    // What remains: the need lacks 80 kg, the offer has 180 kg left.
    let plan = json(&b, &["plan"]);
    assert_eq!(plan["proposals"][0]["quantity"], "80 kg", "{plan}");

    // A second pledge, declined: it stops counting toward the need.
    let extra = id_of(&json(&m, &["pledge", &need, "--quantity", "50 kg"]));
    ok(&b, &["show", &extra, "--wait", &wait]);
    let declined = id_of(&json(&b, &["decline", &extra, "--note", "covered already"]));
    ok(&a, &["show", &declined, "--wait", &wait]);
    assert_eq!(json(&a, &["show", &extra])["status"], "declined");
    let n = json(&a, &["need", "show", &need]);
    assert_eq!(
        (n["status"].as_str(), n["pledged"].as_str()),
        (Some("partly_pledged"), Some("120 kg"))
    );
    // Only the co-op that posted the need answers pledges to it.
    assert_eq!(minga(&a, &["accept", &extra]).status.code(), Some(1));

    // A third pledge, cancelled by the pledging co-op: it stops counting everywhere, the
    // need's co-op cannot cancel it, and the cancellation verifies offline.
    let third = id_of(&json(&m, &["pledge", &need, "--quantity", "30 kg"]));
    ok(&b, &["show", &third, "--wait", &wait]);
    assert_eq!(minga(&b, &["cancel", &third]).status.code(), Some(1));
    let cancelled = id_of(&json(
        &m,
        &["cancel", &third, "--note", "the truck broke down"],
    ));
    ok(&b, &["show", &cancelled, "--wait", &wait]);
    assert_eq!(json(&b, &["show", &third])["status"], "cancelled");
    assert_eq!(json(&b, &["need", "show", &need])["pledged"], "120 kg");
    let cancellation = root.path().join("cancellation.json");
    ok(
        &b,
        &[
            "export",
            "bundle",
            &cancelled,
            "-o",
            cancellation.to_str().unwrap(),
        ],
    );
    let checked = json(
        tempfile::tempdir().unwrap().path(),
        &["verify", cancellation.to_str().unwrap()],
    );
    assert_eq!(
        (checked["valid"].as_bool(), checked["kind"].as_str()),
        (Some(true), Some("cancellation"))
    );

    // The pledge bundle verifies offline, with no node, and names signer, co-op and
    // certificate.
    let bundle = root.path().join("pledge.json");
    ok(
        &b,
        &["export", "bundle", &pledge, "-o", bundle.to_str().unwrap()],
    );
    let offline = tempfile::tempdir().unwrap();
    let verified = json(offline.path(), &["verify", bundle.to_str().unwrap()]);
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["kind"], "pledge");
    assert_eq!(verified["signer"], member.as_str());
    assert_eq!(verified["coop_name"], "La Esperanza");
    assert_eq!(verified["certificate"], cert_hash.as_str());

    // One byte of the signed statement changed: invalid, exit code 3.
    let mut b_json: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut statement = b64
        .decode(b_json["commitment"]["statement"].as_str().unwrap())
        .unwrap();
    let at = statement.windows(3).position(|w| w == b"120").unwrap();
    statement[at] = b'9';
    b_json["commitment"]["statement"] = Value::String(b64.encode(&statement));
    let tampered = root.path().join("tampered.json");
    std::fs::write(&tampered, b_json.to_string()).unwrap();
    let out = minga(offline.path(), &["verify", tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID"));

    // A revokes the member; once the member's node holds the revocation, it refuses the
    // member's next pledge, with exit code 1 and a reason.
    let revocation = id_of(&json(&a, &["member", "revoke", &member]));
    ok(&m, &["show", &revocation, "--wait", &wait]);
    let out = minga(&m, &["pledge", &need, "--quantity", "10 kg"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revoked"), "{err}");
    let members = json(&a, &["member", "list"]);
    let revoked = members
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == member.as_str())
        .unwrap();
    assert!(revoked["revoked"].is_string(), "{members}");

    // Nothing the member signed before the revocation is lost.
    let p = json(&a, &["show", &pledge]);
    assert_eq!(p["status"], "partly_fulfilled");
    drop((node_m, node_b));
    assert!(node_a.dir.exists());
}

#[test]
fn import_is_all_or_nothing_and_errors_have_exit_codes() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coop");
    ok(&dir, &["init", "--coop", "Textiles del Sur"]);

    // No node running yet: exit code 2 and a hint to start it.
    let out = minga(&dir, &["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("minga up"));

    let _node = up(&dir, None);
    let csv = root.path().join("rows.csv");
    // The same file each time but for its third row.
    let import = |third: &str| {
        std::fs::write(
            &csv,
            format!(
                "kind,title,category,quantity,location,urgency,until\n\
                 offer,Thread,textile/thread,40 kg,,,\n{third}\n"
            ),
        )
        .unwrap();
        minga(&dir, &["import", csv.to_str().unwrap()])
    };
    // Row 3 has one field too many (an unquoted comma in the location).
    let out = import("need,Needles,textile/tools,500 unit,-34.6,-58.4,high,2027-01-31");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 3"), "{err}");
    assert!(json(&dir, &["list"]).as_array().unwrap().is_empty());

    let out = import("need,Needles,textile/tools,500 unit,\"-34.6,-58.4\",urgent,2027-01-31");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 3, column urgency"), "{err}");
    assert!(json(&dir, &["list"]).as_array().unwrap().is_empty());

    let out = import("need,Needles,textile/tools,500 unit,\"-34.6,-58.4\",high,2027-01-31");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(out.contains("imported 2 rows"), "{out}");
    let needs = json(
        &dir,
        &["need", "list", "--near", "-34.6,-58.4", "--radius", "5"],
    );
    assert_eq!(needs.as_array().unwrap().len(), 1, "{needs}");
    assert_eq!(needs[0]["urgency"], "high");

    // An export imports back: the extra columns are read-only information.
    let exported = root.path().join("export.csv");
    ok(&dir, &["export", "csv", "-o", exported.to_str().unwrap()]);
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(
        text.starts_with("id,coop,status,pledged,delivered,kind,title"),
        "{text}"
    );
    let out = ok(&dir, &["import", "--dry-run", exported.to_str().unwrap()]);
    assert!(out.contains("2 rows are valid"), "{out}");

    // Withdrawn records leave listings, but stay listed with --all.
    let thread = needs_or_offers(&dir, "offer");
    ok(&dir, &["offer", "withdraw", &thread]);
    assert!(
        json(&dir, &["offer", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = json(&dir, &["offer", "list", "--all"]);
    assert_eq!(all[0]["status"], "withdrawn", "{all}");

    // Another co-op is trusted from its genesis file and untrusted again; this node's own
    // co-op cannot be untrusted.
    let other = root.path().join("other");
    ok(&other, &["init", "--coop", "Panificadora"]);
    ok(
        &dir,
        &["coop", "trust", other.join("coop.json").to_str().unwrap()],
    );
    let coops = json(&dir, &["coop", "show"]);
    assert_eq!(coops.as_array().unwrap().len(), 2, "{coops}");
    let coop_id = |home: bool| {
        let found = coops.as_array().unwrap().iter().find(|c| c["home"] == home);
        found.unwrap()["id"].as_str().unwrap().to_string()
    };
    let (ours, theirs) = (coop_id(true), coop_id(false));
    ok(&dir, &["coop", "untrust", &theirs]);
    assert_eq!(json(&dir, &["coop", "show"]).as_array().unwrap().len(), 1);
    assert_eq!(
        minga(&dir, &["coop", "untrust", &ours]).status.code(),
        Some(1)
    );

    // `watch` streams a record as it is written. It says on stderr when its stream is open.
    let mut watch = Command::new(minga_bin())
        .arg("--data-dir")
        .arg(&dir)
        .args(["watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = lines_of(watch.stderr.take().unwrap());
    let events = lines_of(watch.stdout.take().unwrap());
    let line = ready
        .recv_timeout(Duration::from_secs(WAIT_SECS))
        .expect("watch did not start");
    assert!(line.starts_with("watching"), "{line}");
    ok(
        &dir,
        &[
            "offer",
            "add",
            "--title",
            "Buttons",
            "--category",
            "textile/notions",
            "--quantity",
            "100 unit",
        ],
    );
    let line = events
        .recv_timeout(Duration::from_secs(WAIT_SECS))
        .expect("watch printed no event");
    let _ = watch.kill();
    let _ = watch.wait();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["event"], "record");
    assert_eq!(event["data"]["record"]["title"], "Buttons");
    assert_eq!(event["data"]["new"], true);

    // Unknown records: exit code 4. A wrong token: refused.
    let out = minga(&dir, &["show", "abcdef12"]);
    assert_eq!(out.status.code(), Some(4));
    let out = Command::new(minga_bin())
        .arg("--data-dir")
        .arg(&dir)
        .args(["list"])
        .env("MINGA_TOKEN", "not-the-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}
