//! Commitments: canonical bytes, signatures, bundles verified offline, the committed test
//! vector, and the same check with openssl.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use minga_protocol::*;
use proptest::prelude::*;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Co-op "La Esperanza" (seed 11), a member certified by the co-op key (seed 13), and that
/// member's pledge of 120 kg of rice to another co-op's need.
fn vector() -> (Coop, MemberSecret, Commitment) {
    let mut c = Coop::new(11, "Cooperativa La Esperanza");
    let m = member(13);
    c.admit(&m, Role::Member);
    let other = Coop::new(12, "Comedor Los Pibes");
    let pledge = Pledge {
        signer: m.public(),
        coop: c.id(),
        need: RecordRef {
            coop: other.id(),
            record: RecordId(Hash::of(b"need: 200 kg of rice")),
        },
        offer: None,
        quantity: "120 kg".parse().unwrap(),
        due: Some(day(19)),
        issued: day(1),
        note: Some("from the November harvest".into()),
    };
    let signed = Signed::sign(pledge, &m.0).unwrap();
    (c, m, Commitment::Pledge(signed))
}

#[test]
fn the_committed_vector_is_what_the_code_produces() {
    let (c, m, commitment) = vector();
    let (bytes, sig) = commitment.signed_bytes();
    let bundle = Bundle::new(&commitment, c.ledger.membership());
    let files: [(&str, Vec<u8>); 4] = [
        ("pledge.statement", bytes.to_vec()),
        ("pledge.sig", sig.0.to_vec()),
        ("signer.pem", m.public().to_spki_pem().into_bytes()),
        (
            "pledge.bundle.json",
            format!("{}\n", bundle.to_json()).into_bytes(),
        ),
    ];
    let dir = vectors_dir();
    if std::env::var_os("MINGA_WRITE_VECTORS").is_some() {
        for (name, content) in &files {
            std::fs::write(dir.join(name), content).unwrap();
        }
    }
    for (name, content) in &files {
        let committed = std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}; regenerate with MINGA_WRITE_VECTORS=1"));
        assert_eq!(
            &committed, content,
            "{name} differs from what the code produces"
        );
    }
}

#[test]
fn the_committed_bundle_verifies_and_names_signer_coop_and_certificate() {
    let json = std::fs::read(vectors_dir().join("pledge.bundle.json")).unwrap();
    let v = Bundle::from_json(&json).unwrap().verify().unwrap();
    let (c, m, _) = vector();
    assert_eq!(v.commitment.signer(), m.public());
    assert_eq!(v.commitment.coop(), c.id());
    assert_eq!(v.coop_name, "Cooperativa La Esperanza");
    assert_eq!(v.role, Role::Member);
    assert_eq!(v.certificate, c.certificate(&m, Role::Member).hash());
}

/// Runs `openssl pkeyutl -verify` on a statement and signature; true when openssl says so.
fn openssl_verifies(statement: &[u8], sig: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s"), statement).unwrap();
    std::fs::write(dir.path().join("sig"), sig).unwrap();
    let out = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(vectors_dir().join("signer.pem"))
        .args(["-rawin", "-in"])
        .arg(dir.path().join("s"))
        .arg("-sigfile")
        .arg(dir.path().join("sig"))
        .output()
        .expect("openssl is needed for this test (apt-get install openssl)");
    out.status.success()
}

#[test]
fn openssl_verifies_the_vector_and_refuses_a_changed_byte() {
    let statement = std::fs::read(vectors_dir().join("pledge.statement")).unwrap();
    let sig = std::fs::read(vectors_dir().join("pledge.sig")).unwrap();
    assert!(openssl_verifies(&statement, &sig));
    let mut changed = statement.clone();
    // "120 kg" becomes "920 kg".
    let at = changed.windows(6).position(|w| w == b"120 kg").unwrap();
    changed[at] = b'9';
    assert!(!openssl_verifies(&changed, &sig));
}

#[test]
fn flipping_any_byte_of_a_statement_is_rejected() {
    let (_, _, commitment) = vector();
    let (bytes, sig) = commitment.signed_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        assert!(Signed::<Pledge>::verify(&b, *sig).is_err(), "byte {i}");
    }
    for i in 0..64 {
        let mut s = *sig;
        s.0[i] ^= 0x01;
        assert!(
            Signed::<Pledge>::verify(bytes, s).is_err(),
            "signature byte {i}"
        );
    }
}

#[test]
fn a_changed_bundle_is_invalid() {
    let (c, _, commitment) = vector();
    let bundle = Bundle::new(&commitment, c.ledger.membership());
    // One changed character in the base64 statement, or a signature from another key.
    let mut b = bundle.clone();
    let mut chars: Vec<char> = b.commitment.statement.chars().collect();
    chars[40] = if chars[40] == 'A' { 'B' } else { 'A' };
    b.commitment.statement = chars.into_iter().collect();
    assert!(b.verify().is_err());
    let mut b = bundle.clone();
    b.certificates.clear();
    assert!(matches!(
        b.verify(),
        Err(BundleError::Membership(MembershipError::NotAMember(_)))
    ));
    let mut b = bundle.clone();
    b.genesis = Bundle::new(&commitment, Coop::new(12, "x").ledger.membership()).genesis;
    assert!(matches!(b.verify(), Err(BundleError::WrongCoop { .. })));
}

#[test]
fn a_certificate_from_an_admin_chains_and_a_third_link_does_not() {
    let mut c = Coop::new(21, "Cadena");
    let admin = member(22);
    let admin_cert = c.certificate(&admin, Role::Admin);
    c.coop_writes(&Record::Certificate(admin_cert.clone()));
    let m = member(23);
    let by_admin = Signed::sign(
        Certificate {
            signer: admin.public(),
            coop: c.id(),
            subject: m.public(),
            role: Role::Member,
            issued: day(1),
            expires: Some(day(100)),
            parent: Some(admin_cert.hash()),
        },
        &admin.0,
    )
    .unwrap();
    c.ledger
        .write(
            &admin,
            DeviceId(1),
            None,
            &Record::Certificate(by_admin.clone()),
            day(1),
        )
        .unwrap();
    assert_eq!(
        c.ledger.membership().role_at(&m.public(), day(2)),
        Ok(Role::Member)
    );
    // Not valid for an entry stamped at or after its expiry.
    assert!(
        c.ledger
            .membership()
            .role_at(&m.public(), day(100))
            .is_err()
    );
    // A bundle of a statement by m carries both links and verifies.
    let pledge = Signed::sign(
        Pledge {
            signer: m.public(),
            coop: c.id(),
            need: RecordRef {
                coop: c.id(),
                record: RecordId::default(),
            },
            offer: None,
            quantity: "1 unit".parse().unwrap(),
            due: None,
            issued: day(3),
            note: None,
        },
        &m.0,
    )
    .unwrap();
    let bundle = Bundle::new(&Commitment::Pledge(pledge), c.ledger.membership());
    assert_eq!(bundle.certificates.len(), 2);
    assert_eq!(bundle.verify().unwrap().role, Role::Member);
    // m cannot certify anyone: a chain of three links is refused.
    let third = Signed::sign(
        Certificate {
            signer: m.public(),
            coop: c.id(),
            subject: member(24).public(),
            role: Role::Member,
            issued: day(2),
            expires: None,
            parent: Some(by_admin.hash()),
        },
        &m.0,
    )
    .unwrap();
    let ms = c.ledger.membership();
    assert_eq!(
        ms.check_certificate(&third),
        Ok(true),
        "its form is fine; its signer is no admin"
    );
    assert!(
        c.ledger
            .write(&m, DeviceId(7), None, &Record::Certificate(third), day(2))
            .is_err()
    );
}

proptest! {
    #[test]
    fn pledge_sign_verify_round_trip(mantissa in 0i64..10_000_000, scale in 0u32..4, note in proptest::option::of("[a-zA-Z0-9 áéíóúñ,.]{1,60}"), seed in any::<[u8; 32]>()) {
        let key = MemberSecret::from_seed(&seed);
        let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        let pledge = Pledge {
            signer: key.public(),
            coop: CoopId(Hash::of(b"a")),
            need: RecordRef { coop: CoopId(Hash::of(b"b")), record: RecordId(Hash::of(b"n")) },
            offer: Some(RecordRef { coop: CoopId(Hash::of(b"a")), record: RecordId(Hash::of(b"o")) }),
            quantity: Quantity::new(rust_decimal::Decimal::new(mantissa, scale), "kg".parse().unwrap()).unwrap(),
            due: None,
            issued: T0,
            note,
        };
        let signed = Signed::sign(pledge.clone(), &key.0).unwrap();
        let back = Signed::<Pledge>::verify(signed.bytes(), *signed.signature()).unwrap();
        prop_assert_eq!(back.value(), &pledge);
    }

    #[test]
    fn statement_and_bundle_parsing_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), text in "\\PC{0,300}") {
        let _ = Pledge::from_canonical(&bytes);
        let _ = Certificate::from_canonical(text.as_bytes());
        let _ = Revocation::from_canonical(format!("minga/1 revocation\n{text}\n").as_bytes());
        let _ = Bundle::from_json(&bytes).map(|b| b.verify());
        let _ = Bundle::from_json(text.as_bytes()).map(|b| b.verify());
    }
}
