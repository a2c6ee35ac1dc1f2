//! A revolving fund run through the `minga` binary, as the README shows, across three nodes: a
//! borrowing co-op and two steward co-ops. Capital comes in, a loan is proposed, approved by
//! both stewards, paid out, reported on for five periods (one corrected), and repaid up to its
//! cap; every node derives the same claims and balances, which match a table computed by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::*;

fn periods(loan: &Value) -> Vec<(u64, String, String, String)> {
    loan["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_u64().unwrap(),
                p["surplus"].as_str().unwrap().to_string(),
                p["claim"].as_str().unwrap().to_string(),
                p["paid"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_loan_from_proposal_to_last_repayment_across_three_nodes() {
    let root = tempfile::tempdir().unwrap();
    let (b, s1, s2) = (
        root.path().join("b"),
        root.path().join("s1"),
        root.path().join("s2"),
    );
    let ids: Vec<String> = [
        (&b, "Panadería La Unión"),
        (&s1, "Cooperativa Textil Oeste"),
        (&s2, "Imprenta Chilavert"),
    ]
    .into_iter()
    .map(|(dir, name)| found_coop(dir, name))
    .collect();
    let node_s1 = up(&s1, None);
    let _node_s2 = up(&s2, Some(&node_s1.listen));
    let _node_b = up(&b, Some(&node_s1.listen));
    let all: [&Path; 3] = [&b, &s1, &s2];
    trust_each_other(&all);

    // S1 founds the fund; both stewards must approve a loan. Capital comes in from each.
    let fund = write(
        &s1,
        &[
            "fund",
            "create",
            "--name",
            "Fondo Rotatorio del Oeste",
            "--unit",
            "ARS",
            "--steward",
            &ids[1],
            "--steward",
            &ids[2],
            "--approvals",
            "2",
        ],
    );
    arrived(&all, &fund);
    let c1 = write(&s1, &["fund", "contribute", &fund, "60000"]);
    let c2 = write(&s2, &["fund", "contribute", &fund, "40000 ARS"]);
    arrived(&[&s2], &c1);
    arrived(&[&s1], &c2);
    write(&s2, &["fund", "confirm", &c1]);
    write(&s1, &["fund", "confirm", &c2]);

    // The bakery proposes a loan: 50,000 ARS, 20 % of the surplus above 10,000 ARS a month,
    // capped at 1.2×.
    let loan = write(
        &b,
        &[
            "fund",
            "propose",
            &fund,
            "--amount",
            "50000",
            "--project",
            "Horno nuevo",
            "--share",
            "20",
            "--floor",
            "10000",
            "--cap",
            "1.2",
            "--period-days",
            "30",
        ],
    );
    arrived(&all, &loan);
    // The borrower is not a steward: its node refuses to sign an approval.
    refused(
        &b,
        &["fund", "approve", &loan],
        "not one of the fund's stewards",
    );
    let a1 = write(&s1, &["fund", "approve", &loan]);
    let a2 = write(&s2, &["fund", "approve", &loan]);
    arrived(&all, &a1);
    arrived(&all, &a2);
    let state = json(&b, &["fund", "loan", &loan]);
    assert_eq!(state["loan"]["state"], "agreed");

    // S1 pays it out; the bakery confirms it arrived.
    let d = write(&s1, &["fund", "disburse", &loan, "50000"]);
    arrived(&[&b], &d);
    let dc = write(&b, &["fund", "confirm", &d]);
    arrived(&all, &dc);

    // Five periods; the third corrected (150,000 → 160,000 of surplus).
    let mut reports = Vec::new();
    for (period, revenue, surplus) in [
        ("1", "80000", "8000"),
        ("2", "150000", "45000"),
        ("3", "300000", "150000"),
        ("4", "280000", "130000"),
        ("5", "200000", "90000"),
    ] {
        reports.push(write(
            &b,
            &[
                "fund",
                "report",
                &loan,
                "--period",
                period,
                "--revenue",
                revenue,
                "--surplus",
                surplus,
            ],
        ));
    }
    refused(
        &b,
        &[
            "fund",
            "report",
            &loan,
            "--period",
            "3",
            "--revenue",
            "1",
            "--surplus",
            "1",
        ],
        "already reported",
    );
    let fixed = write(
        &b,
        &[
            "fund",
            "report",
            &loan,
            "--period",
            "3",
            "--revenue",
            "300000",
            "--surplus",
            "160000",
            "--corrects",
            &reports[2],
        ],
    );

    // Repayments, each confirmed by a steward before the next.
    for (amount, steward) in [("7000", &s2), ("30000", &s1)] {
        let r = write(&b, &["fund", "repay", &loan, amount]);
        arrived(&[steward], &r);
        let confirmed = write(steward, &["fund", "confirm", &r]);
        arrived(&[&b], &confirmed);
    }
    // 25,000 would pass the cap (60,000 − 37,000 = 23,000 left): refused.
    refused(&b, &["fund", "repay", &loan, "25000"], "left under the cap");
    let r = write(&b, &["fund", "repay", &loan, "23000"]);
    arrived(&[&s1], &r);
    let last = write(&s1, &["fund", "confirm", &r]);
    arrived(&all, &last);
    arrived(&all, &fixed);

    // Every node derives the same books, and they match the table computed by hand.
    let books: Vec<Value> = all
        .iter()
        .map(|dir| json(dir, &["fund", "loan", &loan]))
        .collect();
    assert_eq!(books[0], books[1]);
    assert_eq!(books[1], books[2]);
    let l = &books[0]["loan"];
    let row = |p: u64, s: &str, c: &str, paid: &str| (p, s.into(), c.into(), paid.into());
    assert_eq!(
        periods(l),
        vec![
            row(1, "8000.00", "0.00", "0.00"),
            row(2, "45000.00", "7000.00", "7000.00"),
            row(3, "160000.00", "30000.00", "30000.00"),
            row(4, "130000.00", "23000.00", "23000.00"),
            row(5, "90000.00", "0.00", "0.00"),
        ]
    );
    assert_eq!(l["state"], "repaid");
    assert_eq!(l["claimed"], "60000.00");
    assert_eq!(l["repaid"], "60000.00");
    assert_eq!(l["overpaid"], "0.00");
    assert_eq!(l["outstanding"], "0.00");
    let pools: Vec<Value> = all
        .iter()
        .map(|dir| json(dir, &["fund", "show", &fund])["pool"].clone())
        .collect();
    assert_eq!(pools[0], pools[1]);
    assert_eq!(pools[0]["contributed"], "100000.00");
    assert_eq!(pools[0]["available"], "110000.00");

    // The bookkeeper's CSV, and a statement checked offline like a pledge.
    let csv = ok(&s2, &["fund", "loan", &loan, "--csv", "-"]);
    assert!(csv.starts_with("date,event,record,co-op,period,amount,currency,counts\n"));
    assert_eq!(csv.matches(",claim,").count(), 5, "{csv}");
    let bundle = root.path().join("loan.bundle.json");
    ok(
        &s2,
        &["export", "bundle", &loan, "-o", bundle.to_str().unwrap()],
    );
    let verified = ok(&s2, &["verify", bundle.to_str().unwrap()]);
    assert!(verified.starts_with("valid loan"), "{verified}");
    openssl_verifies(&bundle, root.path());

    // A pledge cycle too, so the export holds every kind: S1 offers flour, the bakery needs
    // it, S1 pledges, the bakery accepts and confirms the delivery.
    let need = write(
        &b,
        &[
            "need",
            "add",
            "--title",
            "Harina",
            "--category",
            "food/flour",
            "--quantity",
            "200 kg",
        ],
    );
    write(
        &s1,
        &[
            "offer",
            "add",
            "--title",
            "Harina 000",
            "--category",
            "food/flour",
            "--quantity",
            "500 kg",
        ],
    );
    arrived(&[&s1], &need);
    let pledge = write(&s1, &["pledge", &need, "--quantity", "200 kg"]);
    arrived(&[&b], &pledge);
    write(&b, &["accept", &pledge]);
    let delivered = write(&b, &["deliver", &pledge, "--quantity", "200 kg"]);
    arrived(&[&s2], &delivered);
    let file = root.path().join("minga.jsonld");
    ok(&s2, &["export", "jsonld", "-o", file.to_str().unwrap()]);
    expands_with_a_standard_processor(&file);
}

/// The bundle's statement checks with openssl alone: plain Ed25519 over the exact bytes.
fn openssl_verifies(bundle: &Path, dir: &Path) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let b: Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let statement = b64
        .decode(b["commitment"]["statement"].as_str().unwrap())
        .unwrap();
    let signature = b64
        .decode(b["commitment"]["signature"].as_str().unwrap())
        .unwrap();
    assert!(statement.starts_with(b"minga/1 loan\n"));
    let (st, sig, pem) = (
        dir.join("loan.statement"),
        dir.join("loan.sig"),
        dir.join("signer.pem"),
    );
    std::fs::write(&st, &statement).unwrap();
    std::fs::write(&sig, &signature).unwrap();
    std::fs::write(&pem, b["signer_pem"].as_str().unwrap()).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
        .arg(&pem)
        .arg("-in")
        .arg(&st)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .expect("openssl is needed for this test");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs pyld's `expand` on the export (remote contexts refused) and checks every node and
/// every Valueflows type survives.
fn expands_with_a_standard_processor(file: &Path) {
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import pyld"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("a Python with pyld is needed for this test (apt install python3-pyld)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/expand_jsonld.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyld could not expand the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["nodes_in"], said["nodes_out"], "nodes dropped: {said}");
    let types: Vec<&str> = said["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let vf = "https://w3id.org/valueflows/ont/vf#";
    for t in [
        "Proposal",
        "Intent",
        "Commitment",
        "EconomicEvent",
        "EconomicResource",
        "Agreement",
        "Claim",
    ] {
        assert!(
            types.contains(&format!("{vf}{t}").as_str()),
            "{t} missing: {said}"
        );
    }
    assert!(types.contains(&"http://www.ontology-of-units-of-measure.org/resource/om-2/Measure"));
    assert!(said["decimals"].as_u64().unwrap() > 10, "{said}");
}
