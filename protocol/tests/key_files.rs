//! Key files encrypted with a passphrase: they open with it and only with it, never read as
//! plain keys, and are the standard form openssl opens with the same passphrase.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use minga_protocol::*;

#[test]
fn an_encrypted_key_file_opens_with_its_passphrase_and_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coop.key");
    let key = SecretKey::from_seed(&[42; 32]);
    key.save(&path).unwrap();
    assert!(!SecretKey::file_is_encrypted(&path).unwrap());
    key.rewrite(&path, Some(b"ni un paso atras")).unwrap();
    assert!(SecretKey::file_is_encrypted(&path).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(!text.contains(&key.to_pkcs8_pem()), "no clear copy inside");
    assert!(matches!(
        SecretKey::load(&path),
        Err(KeyError::Encrypted { .. })
    ));
    assert!(matches!(
        SecretKey::load_with(&path, Some(b"wrong")),
        Err(KeyError::WrongPassphrase { .. })
    ));
    let opened = SecretKey::load_with(&path, Some(b"ni un paso atras")).unwrap();
    assert_eq!(opened.public(), key.public());
    // Back in clear, for a machine that has no one to type a passphrase.
    opened.rewrite(&path, None).unwrap();
    assert_eq!(SecretKey::load(&path).unwrap().public(), key.public());
    assert!(!dir.path().join("coop.key.new").exists());
}

#[test]
fn openssl_opens_an_encrypted_key_file_with_the_same_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("member.key");
    let key = SecretKey::from_seed(&[7; 32]);
    key.save(&path).unwrap();
    key.rewrite(&path, Some(b"cooperativa")).unwrap();
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-passin", "pass:cooperativa", "-in"])
        .arg(&path)
        .output()
        .expect("openssl is needed for this test (apt install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        key.public().to_spki_pem().trim()
    );
    let wrong = Command::new("openssl")
        .args(["pkey", "-pubout", "-passin", "pass:otra", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
}
