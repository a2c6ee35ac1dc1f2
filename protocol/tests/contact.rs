//! Contacts sealed to a counterpart's member keys: only those keys open them, tampering is
//! caught, the bytes are bounded, and they are plain libsodium sealed boxes that PyNaCl opens
//! and makes, following the layout documented in `protocol/src/contact.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use minga_protocol::contact::{self, Contact, ContactError, MAX_RECIPIENTS};
use minga_protocol::{PublicKey, SecretKey};

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn ana() -> Contact {
    Contact {
        person: Some("Ana Quispe".into()),
        phone: Some("+54 341 555 0101".into()),
        address: Some("Av. Pellegrini 1250, Rosario".into()),
        notes: Some("portón verde, de 8 a 14".into()),
        ..Contact::default()
    }
}

#[test]
fn each_recipient_opens_it_and_no_one_else() {
    let (a, b, c) = (key(1), key(2), key(3));
    let sealed = ana().seal(&[a.public(), b.public()]).unwrap();
    assert_eq!(contact::open(&sealed, &a).unwrap(), Some(ana()));
    assert_eq!(contact::open(&sealed, &b).unwrap(), Some(ana()));
    assert_eq!(contact::open(&sealed, &c).unwrap(), None);
    // The bytes name their recipients, and nothing of the contact shows in them.
    let listed: Vec<PublicKey> = contact::boxes(&sealed)
        .unwrap()
        .iter()
        .map(|b| b.recipient)
        .collect();
    assert_eq!(listed, vec![a.public(), b.public()]);
    assert!(!sealed.windows(4).any(|w| w == b"Ana "));
    // Sealing is randomized: the same contact seals to different bytes each time.
    assert_ne!(sealed, ana().seal(&[a.public(), b.public()]).unwrap());
}

#[test]
fn tampered_or_malformed_bytes_are_refused_not_misread() {
    let a = key(1);
    let sealed = ana().seal(&[a.public()]).unwrap();
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(contact::open(&flipped, &a), Err(ContactError::DoesNotOpen));
    for cut in [0, 3, 4, 5, 20, 37, sealed.len() - 1] {
        assert!(
            matches!(
                contact::boxes(&sealed[..cut]),
                Err(ContactError::Malformed(_) | ContactError::Recipients(_))
            ),
            "cut at {cut}"
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(
        contact::boxes(&longer),
        Err(ContactError::Malformed(_))
    ));
    let mut none = sealed.clone();
    none[4] = 0;
    assert_eq!(contact::boxes(&none), Err(ContactError::Recipients(0)));
}

#[test]
fn empty_oversized_and_overaddressed_contacts_are_refused() {
    let a = key(1);
    assert_eq!(
        Contact::default().seal(&[a.public()]),
        Err(ContactError::Empty)
    );
    let big = Contact {
        notes: Some("x".repeat(2000)),
        ..ana()
    };
    assert!(matches!(
        big.seal(&[a.public()]),
        Err(ContactError::TooLarge(_))
    ));
    assert_eq!(ana().seal(&[]), Err(ContactError::Recipients(0)));
    let many: Vec<PublicKey> = (0..=MAX_RECIPIENTS as u8)
        .map(|n| key(n).public())
        .collect();
    assert_eq!(
        ana().seal(&many),
        Err(ContactError::Recipients(MAX_RECIPIENTS + 1))
    );
    // At the bounds, the record still fits one entry's payload.
    let most: Vec<PublicKey> = (0..MAX_RECIPIENTS as u8).map(|n| key(n).public()).collect();
    let full = Contact {
        notes: Some("x".repeat(900)),
        ..ana()
    };
    assert!(full.seal(&most).unwrap().len() < minga_protocol::MAX_PAYLOAD_BYTES - 1024);
}

/// A Python with PyNaCl (Debian's python3-nacl), or the reason there is none.
fn python() -> &'static str {
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import nacl"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("a Python with PyNaCl is needed for this test (apt install python3-nacl)")
}

fn nacl(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/nacl_contact.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Sealed-contact bytes holding one box, laid out by hand as the documentation says.
fn one_box(to: &PublicKey, sealed: &[u8]) -> Vec<u8> {
    let mut bytes = b"mgc1".to_vec();
    bytes.push(1);
    bytes.extend_from_slice(to.as_bytes());
    bytes.extend_from_slice(&(sealed.len() as u16).to_be_bytes());
    bytes.extend_from_slice(sealed);
    bytes
}

#[test]
fn libsodium_opens_what_minga_seals_and_minga_opens_what_libsodium_seals() {
    let (a, b) = (key(7), key(8));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contact.sealed");
    std::fs::write(&file, ana().seal(&[a.public(), b.public()]).unwrap()).unwrap();
    // PyNaCl, given only b's seed, finds b's box and opens it.
    let opened = nacl(&["open", &hex::encode(b.seed()), file.to_str().unwrap()]);
    let read: Contact = serde_json::from_str(&opened).unwrap();
    assert_eq!(read, ana());
    // PyNaCl seals to a's ed25519 key; laid out as documented, minga opens it.
    let text = r#"{"person":"Rosa","phone":"+54 11 5555 0000"}"#;
    let sealed = hex::decode(nacl(&["seal", &hex::encode(a.public().as_bytes()), text])).unwrap();
    let bytes = one_box(&a.public(), &sealed);
    let got = contact::open(&bytes, &a).unwrap().unwrap();
    assert_eq!(got.person.as_deref(), Some("Rosa"));
    assert_eq!(got.phone.as_deref(), Some("+54 11 5555 0000"));
    // A contact that would move the reader's terminal (an escape sequence) is refused when
    // opened, whoever sealed it.
    let hostile = r#"{"person":"Rosa[2J"}"#;
    let sealed = hex::decode(nacl(&[
        "seal",
        &hex::encode(a.public().as_bytes()),
        hostile,
    ]))
    .unwrap();
    let bytes = one_box(&a.public(), &sealed);
    assert!(matches!(
        contact::open(&bytes, &a),
        Err(ContactError::NotAContact(_))
    ));
}

#[test]
fn a_contact_with_control_characters_is_not_sealed() {
    let c = Contact {
        person: Some("Ana\u{1b}]0;pwned\u{7}".into()),
        ..Contact::default()
    };
    assert!(matches!(
        c.seal(&[key(1).public()]),
        Err(ContactError::NotAContact(_))
    ));
    let fine = Contact {
        notes: Some("portón verde\nde 8 a 14".into()),
        ..Contact::default()
    };
    assert!(fine.seal(&[key(1).public()]).is_ok());
}
