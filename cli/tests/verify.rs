//! `minga verify` as a member would run it: on the committed test vector, on a copy with one
//! byte changed, and on files that are not bundles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn vector() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/vectors/pledge.bundle.json")
}

fn minga(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minga"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_valid_bundle_names_signer_coop_and_certificate() {
    let out = minga(&["verify".as_ref(), "--json".as_ref(), vector().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["kind"], "pledge");
    assert_eq!(v["coop_name"], "Cooperativa La Esperanza");
    assert!(v["signer"].as_str().unwrap().starts_with("did:key:z6Mk"));
    assert_eq!(v["certificate"].as_str().unwrap().len(), 64);
    assert!(
        v["statement"]
            .as_str()
            .unwrap()
            .contains("quantity: 120 kg\n")
    );
}

#[test]
fn one_changed_byte_is_reported_invalid() {
    let json = std::fs::read_to_string(vector()).unwrap();
    let bundle: serde_json::Value = serde_json::from_str(&json).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Change one byte of the signed statement: 120 kg becomes 920 kg.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut statement = b64
        .decode(bundle["commitment"]["statement"].as_str().unwrap())
        .unwrap();
    let at = statement.windows(6).position(|w| w == b"120 kg").unwrap();
    statement[at] = b'9';
    let mut tampered = bundle.clone();
    tampered["commitment"]["statement"] = b64.encode(&statement).into();
    let path = dir.path().join("tampered.json");
    std::fs::write(&path, tampered.to_string()).unwrap();
    let out = minga(&["verify".as_ref(), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("INVALID") && err.contains("signature"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_bundles_are_user_errors_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"\x00\x01 not json").unwrap();
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; 100_000]).unwrap();
    for path in [garbage, huge, dir.path().join("missing.json")] {
        let out = minga(&["verify".as_ref(), path.as_os_str()]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 2, "{err}");
        assert!(
            err.starts_with("minga: ") && err.contains("\nhint: "),
            "{err}"
        );
    }
}
