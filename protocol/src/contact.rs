//! Contact details sealed to the matched counterpart.
//!
//! A co-op's contact (person, phone, email, address, notes) never travels in clear. Once a
//! pledge is accepted, each side writes a `contact` record holding its contact sealed to each
//! current member key of the other side: a libsodium sealed box (`crypto_box_seal`: X25519,
//! XSalsa20-Poly1305) to the X25519 form of the member's ed25519 key. Every node replicates the
//! bytes; only the counterpart's members open them, with minga or with any libsodium binding
//! (PyNaCl: `SealedBox(SigningKey(seed).to_curve25519_private_key()).decrypt(box)`).
//!
//! The sealed bytes (`sealed` in the record), all integers big-endian:
//!
//! ```text
//! "mgc1"                                  4 bytes, the format
//! count                                   1 byte, 1 to 32 recipients
//! count × {
//!   recipient                             32 bytes, the member's ed25519 public key
//!   length                                2 bytes, of the box
//!   box                                   crypto_box_seal(contact JSON, recipient's X25519 key)
//! }
//! ```
//!
//! The contact inside is UTF-8 JSON: `{"person", "phone", "email", "address", "notes"}`, each
//! optional, at most [`MAX_CONTACT_BYTES`] in all.

use crypto_box::aead::OsRng;

use crate::keys::{PublicKey, SecretKey};

/// The most recipients one sealed contact has.
pub const MAX_RECIPIENTS: usize = 32;
/// The largest contact, as JSON.
pub const MAX_CONTACT_BYTES: usize = 1024;
/// What a sealed box adds to its plaintext: the ephemeral key and the tag.
const SEAL_OVERHEAD: usize = 48;
const MAGIC: &[u8; 4] = b"mgc1";

/// How to reach a co-op, as it tells its counterpart.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Who to ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// A phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// An email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Where to pick up or deliver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Anything else (opening hours, the gate to use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Why a contact cannot be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContactError {
    /// Nothing to tell.
    #[error("the contact is empty: give at least a person, phone, email or address")]
    Empty,
    /// Larger than [`MAX_CONTACT_BYTES`].
    #[error("the contact is {0} bytes, more than the limit of {MAX_CONTACT_BYTES}")]
    TooLarge(usize),
    /// No recipient, or more than [`MAX_RECIPIENTS`].
    #[error("a contact is sealed to 1 to {MAX_RECIPIENTS} keys, not {0}")]
    Recipients(usize),
    /// The bytes are not laid out as documented.
    #[error("the sealed contact is malformed: {0}")]
    Malformed(&'static str),
    /// A box for this key that does not open: tampered with, or not sealed to this key.
    #[error("the box sealed to this key does not open")]
    DoesNotOpen,
    /// The box opened but its content is not a contact.
    #[error("the sealed contact is not a contact: {0}")]
    NotAContact(String),
}

impl Contact {
    /// Whether it says anything.
    pub fn is_empty(&self) -> bool {
        [
            &self.person,
            &self.phone,
            &self.email,
            &self.address,
            &self.notes,
        ]
        .iter()
        .all(|f| f.as_deref().is_none_or(|v| v.trim().is_empty()))
    }

    /// Its own rules: something to say, and no control characters but line breaks (the
    /// other side's terminal prints it).
    fn check(&self) -> Result<(), ContactError> {
        if self.is_empty() {
            return Err(ContactError::Empty);
        }
        let fields = [
            &self.person,
            &self.phone,
            &self.email,
            &self.address,
            &self.notes,
        ];
        if fields
            .iter()
            .filter_map(|f| f.as_deref())
            .any(|v| v.chars().any(|c| c.is_control() && c != '\n'))
        {
            return Err(ContactError::NotAContact(
                "it contains control characters".into(),
            ));
        }
        Ok(())
    }

    fn to_json(&self) -> Result<Vec<u8>, ContactError> {
        self.check()?;
        // Plain strings and options always serialize.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        if bytes.len() > MAX_CONTACT_BYTES {
            return Err(ContactError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Seals the contact to each key: the bytes a `contact` record carries.
    pub fn seal(&self, to: &[PublicKey]) -> Result<Vec<u8>, ContactError> {
        let plain = self.to_json()?;
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return Err(ContactError::Recipients(to.len()));
        }
        let mut out = MAGIC.to_vec();
        out.push(to.len() as u8);
        for key in to {
            let sealed = crypto_box::PublicKey::from_bytes(key.x25519())
                .seal(&mut OsRng, &plain)
                .map_err(|_| ContactError::Malformed("sealing failed"))?;
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&(sealed.len() as u16).to_be_bytes());
            out.extend_from_slice(&sealed);
        }
        Ok(out)
    }
}

/// One recipient's box in sealed bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBox<'a> {
    /// Whose key it is sealed to.
    pub recipient: PublicKey,
    /// The libsodium sealed box.
    pub sealed: &'a [u8],
}

/// Reads sealed bytes into their boxes, checking the layout and every bound.
pub fn boxes(bytes: &[u8]) -> Result<Vec<SealedBox<'_>>, ContactError> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ContactError::Malformed("it does not start with mgc1"))?;
    let (&count, mut rest) = rest
        .split_first()
        .ok_or(ContactError::Malformed("no recipient count"))?;
    let count = usize::from(count);
    if count == 0 || count > MAX_RECIPIENTS {
        return Err(ContactError::Recipients(count));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (key, tail) = rest
            .split_first_chunk::<32>()
            .ok_or(ContactError::Malformed("cut short in a recipient key"))?;
        let recipient = PublicKey::from_bytes(key)
            .map_err(|_| ContactError::Malformed("a bad recipient key"))?;
        let (len, tail) = tail
            .split_first_chunk::<2>()
            .ok_or(ContactError::Malformed("cut short in a box length"))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if len <= SEAL_OVERHEAD || len > MAX_CONTACT_BYTES + SEAL_OVERHEAD {
            return Err(ContactError::Malformed("a box of impossible length"));
        }
        if tail.len() < len {
            return Err(ContactError::Malformed("cut short in a box"));
        }
        let (sealed, tail) = tail.split_at(len);
        out.push(SealedBox { recipient, sealed });
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(ContactError::Malformed("bytes after the last box"));
    }
    Ok(out)
}

/// Opens the box sealed to `me`, if there is one: `Ok(None)` when the contact is sealed to
/// other keys only.
pub fn open(bytes: &[u8], me: &SecretKey) -> Result<Option<Contact>, ContactError> {
    let mine = me.public();
    let Some(b) = boxes(bytes)?.into_iter().find(|b| b.recipient == mine) else {
        return Ok(None);
    };
    let plain = me
        .x25519()
        .unseal(b.sealed)
        .map_err(|_| ContactError::DoesNotOpen)?;
    let contact: Contact =
        serde_json::from_slice(&plain).map_err(|e| ContactError::NotAContact(e.to_string()))?;
    contact.check()?;
    Ok(Some(contact))
}
