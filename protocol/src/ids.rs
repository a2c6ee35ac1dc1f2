//! Identifiers: co-ops, records, entries, devices, logs, and references across co-ops.

use std::fmt;
use std::str::FromStr;

use crate::hash::{HashParseError, hash_id};
use crate::keys::PublicKey;

hash_id!(
    /// A co-op's id: the hash of its signed genesis, so the co-op key can rotate without the
    /// co-op changing its name.
    CoopId
);
hash_id!(
    /// A record's id: the hash of the log entry that created it.
    RecordId
);
hash_id!(
    /// A log entry's id: SHA-256 of its encoded header and signature.
    EntryHash
);

/// One writing device of a member: a random 64-bit number chosen when the device is set up.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DeviceId(pub u64);

/// A string that is not a 16-digit hex device id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a device id of 16 hex digits, found {found:?}")]
pub struct DeviceIdParseError {
    /// What was given.
    pub found: String,
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({self})")
    }
}

impl FromStr for DeviceId {
    type Err = DeviceIdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16
            || !s
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(DeviceIdParseError {
                found: s.chars().take(80).collect(),
            });
        }
        u64::from_str_radix(s, 16)
            .map(DeviceId)
            .map_err(|_| DeviceIdParseError { found: s.into() })
    }
}

impl DeviceId {
    /// A new random device id.
    pub fn generate() -> Result<DeviceId, crate::keys::KeyError> {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| crate::keys::KeyError::Random(e.to_string()))?;
        Ok(DeviceId(u64::from_be_bytes(b)))
    }
}

/// One append-only log: a member's device writing for a co-op. The co-op is implied by the
/// ledger the log belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LogId {
    /// The member key that signs the log's entries.
    pub author: PublicKey,
    /// The device that writes it.
    pub device: DeviceId,
}

impl LogId {
    /// The automerge actor id of this device: the member's 32-byte key followed by the 8-byte
    /// device id, so any node can tell whose change a change is.
    pub fn actor_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..32].copy_from_slice(self.author.as_bytes());
        out[32..].copy_from_slice(&self.device.0.to_be_bytes());
        out
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.author.short(), self.device)
    }
}

/// A reference to a record of any co-op: `<co-op id>/<record id>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RecordRef {
    /// The co-op whose ledger holds the record.
    pub coop: CoopId,
    /// The record.
    pub record: RecordId,
}

/// A string that is not `<co-op id>/<record id>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected <co-op id>/<record id> (two 64-digit hex hashes), found {found:?}")]
pub struct RecordRefParseError {
    /// What was given.
    pub found: String,
}

impl From<HashParseError> for RecordRefParseError {
    fn from(e: HashParseError) -> Self {
        RecordRefParseError { found: e.found }
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.coop, self.record)
    }
}

impl FromStr for RecordRef {
    type Err = RecordRefParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (c, r) = s.split_once('/').ok_or_else(|| RecordRefParseError {
            found: s.chars().take(140).collect(),
        })?;
        Ok(RecordRef {
            coop: c.parse()?,
            record: r.parse()?,
        })
    }
}

impl serde::Serialize for RecordRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RecordRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
