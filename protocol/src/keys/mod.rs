//! ed25519 keys: public keys as `did:key`, secret keys that never print, and key files.
//!
//! A secret key file is the standard PKCS#8 v1 PEM that `openssl genpkey -algorithm ed25519`
//! writes, so a member can sign or inspect with standard tools; it is created readable by its
//! owner only and refused when others can read it. A key file may be encrypted with a
//! passphrase: then it is the standard PKCS#8 `ENCRYPTED PRIVATE KEY` PEM (PBES2 with scrypt,
//! log₂N 15, r 8, p 1, and AES-256-CBC), which `openssl pkey -in FILE` opens with the same
//! passphrase. Public keys export as SPKI PEM for `openssl pkeyutl -verify`.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

mod file;

use file::pem;

/// The multicodec prefix of an ed25519 public key in a `did:key` (varint 0xed).
const MULTICODEC_ED25519: [u8; 2] = [0xed, 0x01];
/// DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an ed25519 PKCS#8 v1 private key (RFC 8410); the 32 seed bytes follow.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// What can go wrong with a key, a signature or a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a `did:key` for an ed25519 key.
    #[error("expected an ed25519 did:key (did:key:z6Mk…), found {found:?}")]
    BadDidKey {
        /// What was given (cut to 80 characters).
        found: String,
    },
    /// 32 bytes that are not a point on the curve.
    #[error("the bytes are not a valid ed25519 public key")]
    BadPublicKey,
    /// Not 64 bytes of signature.
    #[error("expected a 64-byte ed25519 signature in base64, found {found:?}")]
    BadSignatureEncoding {
        /// What was given (cut to 80 characters).
        found: String,
    },
    /// The signature does not match the message and key.
    #[error("signature does not verify")]
    BadSignature,
    /// A key file that is not an ed25519 PKCS#8 PEM.
    #[error("{path}: not an ed25519 private key in PKCS#8 PEM form")]
    BadKeyFile {
        /// The file.
        path: String,
    },
    /// A key file encrypted with a passphrase, read without one.
    #[error("{path}: the key is encrypted with a passphrase")]
    Encrypted {
        /// The file.
        path: String,
    },
    /// The passphrase does not open the key file (or the file is damaged).
    #[error("{path}: the passphrase does not open this key")]
    WrongPassphrase {
        /// The file.
        path: String,
    },
    /// A key file others can read.
    #[error("{path}: secret key is readable by others (mode {mode:o}); run: chmod 600 {path}")]
    KeyFileExposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system could not read or write a key file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// An ed25519 public key. Prints as a W3C `did:key`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::BadPublicKey)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Checks a signature with the strict rules (no malleable signatures, no weak keys).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// A short form for logs: eight characters of the `did:key` that differ between keys.
    pub fn short(&self) -> String {
        let did = self.to_string();
        // "did:key:z6Mk" is the same for every ed25519 key.
        did.get(12..20).unwrap_or(&did).to_string()
    }

    /// The key as SPKI PEM, for `openssl pkeyutl -verify -pubin -inkey`.
    pub fn to_spki_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.as_bytes());
        pem("PUBLIC KEY", &der)
    }

    /// The key's X25519 form (its Edwards point as a Montgomery u-coordinate), as libsodium's
    /// `crypto_sign_ed25519_pk_to_curve25519` computes it: what a contact is sealed to.
    pub(crate) fn x25519(&self) -> [u8; 32] {
        self.0.to_montgomery().to_bytes()
    }

    pub(crate) fn dalek(&self) -> &VerifyingKey {
        &self.0
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = MULTICODEC_ED25519.to_vec();
        bytes.extend_from_slice(self.as_bytes());
        write!(f, "did:key:z{}", bs58::encode(bytes).into_string())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || KeyError::BadDidKey {
            found: s.chars().take(80).collect(),
        };
        let b58 = s.strip_prefix("did:key:z").ok_or_else(err)?;
        if b58.len() > 60 {
            return Err(err());
        }
        let bytes = bs58::decode(b58).into_vec().map_err(|_| err())?;
        let key: [u8; 32] = bytes
            .strip_prefix(&MULTICODEC_ED25519[..])
            .and_then(|k| k.try_into().ok())
            .ok_or_else(err)?;
        PublicKey::from_bytes(&key)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A 64-byte ed25519 signature. Prints as standard base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64.encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..4]))
    }
}

impl FromStr for Signature {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || KeyError::BadSignatureEncoding {
            found: s.chars().take(80).collect(),
        };
        if s.len() > 100 {
            return Err(err());
        }
        let bytes = B64.decode(s).map_err(|_| err())?;
        Ok(Signature(bytes.try_into().map_err(|_| err())?))
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An ed25519 secret key. Its `Debug` never shows the key; it is wiped from memory on drop.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SecretKey::from_seed(&seed))
    }

    /// A key from a 32-byte seed (fixed seeds make tests and test vectors reproducible).
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }

    /// The key's X25519 secret, as libsodium's `crypto_sign_ed25519_sk_to_curve25519` computes
    /// it (the first half of SHA-512 of the seed; X25519 clamps it): what opens a contact
    /// sealed to [`PublicKey::x25519`].
    pub(crate) fn x25519(&self) -> crypto_box::SecretKey {
        let scalar = zeroize::Zeroizing::new(self.0.to_scalar_bytes());
        crypto_box::SecretKey::from_bytes(*scalar)
    }

    /// The 32-byte seed, for handing the node key to libp2p.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<redacted>, public {})", self.public().short())
    }
}

/// Declares a role-specific secret key, so a co-op key cannot be passed where a member key is
/// expected.
macro_rules! role_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(pub SecretKey);

        impl $name {
            /// A new random key.
            pub fn generate() -> Result<Self, KeyError> {
                SecretKey::generate().map($name)
            }
            /// A key from a fixed seed.
            pub fn from_seed(seed: &[u8; 32]) -> Self {
                $name(SecretKey::from_seed(seed))
            }
            /// The public key.
            pub fn public(&self) -> PublicKey {
                self.0.public()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>, public {})"), self.public().short())
            }
        }
    };
}

role_key!(
    /// The co-op key: founds the co-op, certifies members, rotates itself.
    CoopSecret
);
role_key!(
    /// A member's key: writes log entries and signs statements for the co-op.
    MemberSecret
);
role_key!(
    /// The node's libp2p identity: relays and stores, authors nothing.
    NodeSecret
);

/// A key that may author log entries: a member key in its devices' logs, or a co-op key in
/// its own log (which carries only the membership statements it signs). The node key may
/// not: it relays and stores, and authors nothing.
pub trait LogAuthor {
    /// The signing key.
    fn secret(&self) -> &SecretKey;
}

impl LogAuthor for MemberSecret {
    fn secret(&self) -> &SecretKey {
        &self.0
    }
}

impl LogAuthor for CoopSecret {
    fn secret(&self) -> &SecretKey {
        &self.0
    }
}

/// A key that authors log entries, owned, to hand to the task that writes.
#[derive(Clone, Debug)]
pub enum AuthorKey {
    /// A member's key.
    Member(MemberSecret),
    /// The co-op key, in its own log.
    Coop(CoopSecret),
}

impl LogAuthor for AuthorKey {
    fn secret(&self) -> &SecretKey {
        match self {
            AuthorKey::Member(k) => &k.0,
            AuthorKey::Coop(k) => &k.0,
        }
    }
}

impl From<&MemberSecret> for AuthorKey {
    fn from(k: &MemberSecret) -> AuthorKey {
        AuthorKey::Member(k.clone())
    }
}

impl From<&CoopSecret> for AuthorKey {
    fn from(k: &CoopSecret) -> AuthorKey {
        AuthorKey::Coop(k.clone())
    }
}

/// Verifies many signatures at once (about three times as fast as one by one); on failure,
/// callers fall back to single checks to find the bad one.
///
/// Never let it decide what a ledger accepts: ed25519-dalek's batch equation is cofactored,
/// single verification (and OpenSSL's) is not, so a crafted signature can pass in a batch and
/// fail alone, and nodes that batched differently would disagree about the same entry. It
/// suits checks whose answer no other node has to share.
pub fn verify_batch(items: &[(&[u8], &Signature, &PublicKey)]) -> Result<(), KeyError> {
    let messages: Vec<&[u8]> = items.iter().map(|(m, _, _)| *m).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, s, _)| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    let keys: Vec<VerifyingKey> = items.iter().map(|(_, _, k)| *k.dalek()).collect();
    ed25519_dalek::verify_batch(&messages, &sigs, &keys).map_err(|_| KeyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    #[test]
    fn did_key_matches_the_w3c_example() {
        // The ed25519 test vector from the did:key spec: seed of zeros is not it, so check the
        // fixed prefix and a round trip instead.
        let k = SecretKey::from_seed(&[7; 32]).public();
        let s = k.to_string();
        assert!(s.starts_with("did:key:z6Mk"), "{s}");
        assert_eq!(s.parse::<PublicKey>().unwrap(), k);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let sk = MemberSecret::from_seed(&[9; 32]);
        let seed_hex = hex::encode([9u8; 32]);
        let dbg = format!("{sk:?} {:?}", sk.0);
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(&seed_hex));
        assert!(!dbg.contains(&sk.0.to_pkcs8_pem()));
    }

    #[test]
    fn key_file_is_owner_only_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("member.key");
        let sk = SecretKey::from_seed(&[3; 32]);
        sk.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert_eq!(SecretKey::load(&path).unwrap().public(), sk.public());
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SecretKey::load(&path),
                Err(KeyError::KeyFileExposed { .. })
            ));
        }
        assert!(
            matches!(sk.save(&path), Err(KeyError::Io { .. })),
            "never overwrites"
        );
    }

    #[test]
    fn garbage_key_files_are_errors() {
        for text in [
            "",
            "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n",
            "hello",
        ] {
            assert!(SecretKey::from_pkcs8_pem(text, "x").is_err());
        }
    }

    #[test]
    fn batch_verify_finds_a_bad_signature() {
        let k = SecretKey::from_seed(&[1; 32]);
        let (m1, m2) = (b"one".as_slice(), b"two".as_slice());
        let (s1, s2) = (k.sign(m1), k.sign(m2));
        let pk = k.public();
        assert!(verify_batch(&[(m1, &s1, &pk), (m2, &s2, &pk)]).is_ok());
        assert!(verify_batch(&[(m1, &s2, &pk), (m2, &s2, &pk)]).is_err());
    }

    proptest! {
        #[test]
        fn sign_verify_round_trip(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..256), flip in any::<(usize, u8)>()) {
            let sk = SecretKey::from_seed(&seed);
            let sig = sk.sign(&msg);
            prop_assert!(sk.public().verify(&msg, &sig).is_ok());
            prop_assert_eq!(sig.to_string().parse::<Signature>().unwrap(), sig);
            prop_assert_eq!(SecretKey::from_pkcs8_pem(&sk.to_pkcs8_pem(), "x").unwrap().public(), sk.public());
            if !msg.is_empty() && flip.1 != 0 {
                let mut bad = msg.clone();
                let i = flip.0 % bad.len();
                bad[i] ^= flip.1;
                prop_assert!(sk.public().verify(&bad, &sig).is_err());
            }
        }

        #[test]
        fn did_key_parse_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<PublicKey>();
        }
    }
}
