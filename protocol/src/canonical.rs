//! The canonical text form that every signed statement uses.
//!
//! A statement is UTF-8 text: a first line `minga/1 <kind>`, then one `name: value` line per
//! field, in the fixed order its kind defines, each ending in `\n`. Values are single-line,
//! non-empty, free of control characters and of leading or trailing spaces. The first line is
//! the domain separation: a signature over a pledge can never be read as a certificate, and no
//! binary log-entry header (which starts with the bytes `mge1`) can be read as a statement.
//!
//! Text rather than CBOR so that a member with only standard tools can read exactly what was
//! signed (`cat pledge.statement`) and check it (`openssl pkeyutl -verify -rawin`). Decoding is
//! strict: a statement must re-encode to the very bytes that were signed.

use std::fmt::Display;
use std::str::FromStr;

use crate::hash::Hash;
use crate::keys::{KeyError, PublicKey, SecretKey, Signature};

/// The largest statement accepted, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 4096;
/// The largest single value, in bytes.
pub const MAX_VALUE_BYTES: usize = 512;
/// The most lines one statement may have.
const MAX_LINES: usize = 64;
const MAGIC: &str = "minga/1 ";

/// Why bytes are not a valid statement of the expected kind.
#[derive(Debug, thiserror::Error)]
pub enum CanonError {
    /// More than [`MAX_STATEMENT_BYTES`].
    #[error("statement is {0} bytes, more than the limit of {MAX_STATEMENT_BYTES}")]
    TooLarge(usize),
    /// Not UTF-8 text.
    #[error("statement is not UTF-8 text")]
    NotUtf8,
    /// The first line is not `minga/1 <kind>`.
    #[error("statement should start with \"minga/1 {expected}\", found {found:?}")]
    WrongKind {
        /// The kind that was expected.
        expected: &'static str,
        /// The first line that was found.
        found: String,
    },
    /// A line that is not `name: value`.
    #[error("line {line}: expected `name: value`, found {found:?}")]
    BadLine {
        /// Line number, from 1.
        line: usize,
        /// The line (cut to 80 characters).
        found: String,
    },
    /// A required field is missing or out of order.
    #[error("expected field `{expected}`, found {found}")]
    MissingField {
        /// The field that should come next.
        expected: &'static str,
        /// What came instead.
        found: String,
    },
    /// A field's value does not parse.
    #[error("field `{field}`: {reason}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// Why it is wrong.
        reason: String,
    },
    /// Lines left after the last known field.
    #[error("unexpected field `{0}` after the last field")]
    Unexpected(String),
    /// The bytes parse but are not in canonical form (would re-encode differently).
    #[error("statement is not in canonical form")]
    NotCanonical,
    /// The key given to sign is not the statement's `signer`.
    #[error("the signing key {key} is not the statement's signer {signer}")]
    WrongSigner {
        /// The key that tried to sign.
        key: String,
        /// The signer named in the statement.
        signer: String,
    },
    /// The signature does not verify against the signer.
    #[error("statement signature does not verify against its signer")]
    BadSignature,
    /// Too many lines.
    #[error("statement has more than {MAX_LINES} lines")]
    TooManyLines,
}

/// Builds a statement's canonical bytes, field by field.
pub struct Canon {
    text: String,
    error: Option<CanonError>,
    lines: usize,
}

impl Canon {
    fn new(kind: &str) -> Canon {
        Canon {
            text: format!("{MAGIC}{kind}\n"),
            error: None,
            lines: 1,
        }
    }

    /// Appends a required field.
    pub fn field(&mut self, name: &'static str, value: impl Display) -> &mut Self {
        let value = value.to_string();
        if let (None, Err(reason)) = (&self.error, check_value(&value)) {
            self.error = Some(CanonError::BadValue {
                field: name,
                reason: reason.to_string(),
            });
        }
        self.text.push_str(name);
        self.text.push_str(": ");
        self.text.push_str(&value);
        self.text.push('\n');
        self.lines += 1;
        self
    }

    /// Appends a field only when it has a value.
    pub fn opt<T: Display>(&mut self, name: &'static str, value: Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.field(name, v);
        }
        self
    }

    fn finish(self) -> Result<Vec<u8>, CanonError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.lines > MAX_LINES {
            return Err(CanonError::TooManyLines);
        }
        if self.text.len() > MAX_STATEMENT_BYTES {
            return Err(CanonError::TooLarge(self.text.len()));
        }
        Ok(self.text.into_bytes())
    }
}

fn check_value(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("is empty");
    }
    if v.len() > MAX_VALUE_BYTES {
        return Err("is longer than 512 bytes");
    }
    if v.chars().any(char::is_control) {
        return Err("contains a control character or line break");
    }
    if v.trim() != v {
        return Err("has leading or trailing spaces");
    }
    Ok(())
}

/// Reads a statement's fields in order.
pub struct Fields<'a> {
    lines: Vec<(&'a str, &'a str)>,
    next: usize,
}

impl<'a> Fields<'a> {
    fn parse(bytes: &'a [u8], kind: &'static str) -> Result<Fields<'a>, CanonError> {
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(CanonError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| CanonError::NotUtf8)?;
        let body = text.strip_suffix('\n').ok_or(CanonError::NotCanonical)?;
        let mut raw = body.split('\n');
        let first = raw.next().unwrap_or_default();
        if first.strip_prefix(MAGIC) != Some(kind) {
            return Err(CanonError::WrongKind {
                expected: kind,
                found: first.chars().take(80).collect(),
            });
        }
        let mut lines = Vec::new();
        for (i, line) in raw.enumerate() {
            if lines.len() >= MAX_LINES {
                return Err(CanonError::TooManyLines);
            }
            let bad = || CanonError::BadLine {
                line: i + 2,
                found: line.chars().take(80).collect(),
            };
            let (name, value) = line.split_once(": ").ok_or_else(bad)?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(bad());
            }
            check_value(value).map_err(|_| bad())?;
            lines.push((name, value));
        }
        Ok(Fields { lines, next: 0 })
    }

    fn peek_name(&self) -> Option<&'a str> {
        self.lines.get(self.next).map(|(n, _)| *n)
    }

    /// Reads the next field, which must be `name`.
    pub fn req<T: FromStr>(&mut self, name: &'static str) -> Result<T, CanonError>
    where
        T::Err: Display,
    {
        match self.opt(name)? {
            Some(v) => Ok(v),
            None => Err(CanonError::MissingField {
                expected: name,
                found: self
                    .peek_name()
                    .map_or("the end".to_string(), |n| format!("`{n}`")),
            }),
        }
    }

    /// Reads the next field if it is `name`.
    pub fn opt<T: FromStr>(&mut self, name: &'static str) -> Result<Option<T>, CanonError>
    where
        T::Err: Display,
    {
        if self.peek_name() != Some(name) {
            return Ok(None);
        }
        let value = self.lines[self.next].1;
        self.next += 1;
        value
            .parse()
            .map(Some)
            .map_err(|e: T::Err| CanonError::BadValue {
                field: name,
                reason: e.to_string(),
            })
    }

    /// Reads every consecutive field named `name`.
    pub fn many<T: FromStr>(&mut self, name: &'static str) -> Result<Vec<T>, CanonError>
    where
        T::Err: Display,
    {
        let mut out = Vec::new();
        while let Some(v) = self.opt(name)? {
            out.push(v);
        }
        Ok(out)
    }

    fn finish(self) -> Result<(), CanonError> {
        match self.peek_name() {
            None => Ok(()),
            Some(n) => Err(CanonError::Unexpected(n.to_string())),
        }
    }
}

/// A kind of signed statement: its name, its fields, and who signs it.
pub trait Statement: Sized {
    /// The kind named on the first line.
    const KIND: &'static str;
    /// The key that must sign it.
    fn signer(&self) -> &PublicKey;
    /// Writes the fields in canonical order.
    fn write(&self, c: &mut Canon);
    /// Reads the fields in canonical order.
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError>;

    /// The canonical bytes.
    fn to_canonical(&self) -> Result<Vec<u8>, CanonError> {
        let mut c = Canon::new(Self::KIND);
        self.write(&mut c);
        c.finish()
    }

    /// Parses canonical bytes, refusing any that would not re-encode identically.
    fn from_canonical(bytes: &[u8]) -> Result<Self, CanonError> {
        let mut f = Fields::parse(bytes, Self::KIND)?;
        let value = Self::read(&mut f)?;
        f.finish()?;
        if value.to_canonical()? != bytes {
            return Err(CanonError::NotCanonical);
        }
        Ok(value)
    }
}

/// A statement together with the exact bytes that were signed and the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed<T> {
    value: T,
    bytes: Vec<u8>,
    signature: Signature,
}

impl<T: Statement> Signed<T> {
    /// Signs a statement. The key must be the statement's signer.
    pub fn sign(value: T, key: &SecretKey) -> Result<Signed<T>, CanonError> {
        if key.public() != *value.signer() {
            return Err(CanonError::WrongSigner {
                key: key.public().to_string(),
                signer: value.signer().to_string(),
            });
        }
        let bytes = value.to_canonical()?;
        let signature = key.sign(&bytes);
        Ok(Signed {
            value,
            bytes,
            signature,
        })
    }

    /// Checks signed bytes: canonical form, then the signature against the named signer.
    pub fn verify(bytes: &[u8], signature: Signature) -> Result<Signed<T>, CanonError> {
        let value = T::from_canonical(bytes)?;
        value
            .signer()
            .verify(bytes, &signature)
            .map_err(|_: KeyError| CanonError::BadSignature)?;
        Ok(Signed {
            value,
            bytes: bytes.to_vec(),
            signature,
        })
    }

    /// The statement.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The exact bytes that were signed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The statement's id: SHA-256 of the signed bytes followed by the 64 signature bytes.
    pub fn hash(&self) -> Hash {
        Hash::of_parts(&[&self.bytes, &self.signature.0])
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signed({:?})", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Note {
        signer: PublicKey,
        text: String,
        n: Option<u32>,
    }

    impl Statement for Note {
        const KIND: &'static str = "note";
        fn signer(&self) -> &PublicKey {
            &self.signer
        }
        fn write(&self, c: &mut Canon) {
            c.field("signer", self.signer)
                .field("text", &self.text)
                .opt("n", self.n);
        }
        fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
            Ok(Note {
                signer: f.req("signer")?,
                text: f.req("text")?,
                n: f.opt("n")?,
            })
        }
    }

    fn key() -> SecretKey {
        SecretKey::from_seed(&[5; 32])
    }

    #[test]
    fn round_trip_and_layout() {
        let note = Note {
            signer: key().public(),
            text: "hola".into(),
            n: Some(3),
        };
        let s = Signed::sign(note, &key()).unwrap();
        let text = std::str::from_utf8(s.bytes()).unwrap();
        assert!(text.starts_with("minga/1 note\nsigner: did:key:z6Mk"));
        assert!(text.ends_with("text: hola\nn: 3\n"));
        let back = Signed::<Note>::verify(s.bytes(), *s.signature()).unwrap();
        assert_eq!(back.value(), s.value());
    }

    #[test]
    fn rejects_non_canonical_and_bad_values() {
        let pk = key().public();
        let cases: Vec<String> = vec![
            format!("minga/1 note\nsigner: {pk}\ntext: a\nn: 03\n"),
            format!("minga/1 note\nsigner: {pk}\ntext: a"),
            format!("minga/1 note\nsigner: {pk}\ntext:  a\n"),
            format!("minga/1 note\ntext: a\nsigner: {pk}\n"),
            format!("minga/1 nota\nsigner: {pk}\ntext: a\n"),
            format!("minga/1 note\nsigner: {pk}\ntext: a\nextra: 1\n"),
            format!("minga/1 note\nsigner: {pk}\ntext: a\r\n"),
        ];
        for c in cases {
            assert!(Note::from_canonical(c.as_bytes()).is_err(), "{c:?}");
        }
        let bad = Note {
            signer: pk,
            text: "two\nlines".into(),
            n: None,
        };
        assert!(matches!(
            Signed::sign(bad, &key()),
            Err(CanonError::BadValue { field: "text", .. })
        ));
    }

    #[test]
    fn wrong_signer_is_refused() {
        let note = Note {
            signer: SecretKey::from_seed(&[6; 32]).public(),
            text: "x".into(),
            n: None,
        };
        assert!(matches!(
            Signed::sign(note, &key()),
            Err(CanonError::WrongSigner { .. })
        ));
    }
}
