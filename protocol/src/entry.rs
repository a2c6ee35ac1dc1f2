//! Signed log entries: the unit of replication.
//!
//! Header layout (193 bytes, integers big-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `mge1` |
//! | 4 | 32 | co-op id |
//! | 36 | 32 | author (member public key) |
//! | 68 | 8 | device |
//! | 76 | 8 | sequence number, from 1 |
//! | 84 | 32 | hash of the previous entry (zeros for sequence 1) |
//! | 116 | 32 | record id (zeros: this entry creates the record, whose id is this entry's hash) |
//! | 148 | 1 | kind: 0 change, 1 prune |
//! | 149 | 32 | SHA-256 of the payload |
//! | 181 | 4 | payload length |
//! | 185 | 8 | timestamp, ms since the Unix epoch |
//!
//! The 64-byte ed25519 signature covers those 193 bytes. The entry's hash is SHA-256 of the
//! header followed by the signature. On the wire an entry is header, signature, one byte (1 if
//! the payload follows, 0 if it was detached) and the payload.

use crate::hash::Hash;
use crate::ids::{CoopId, DeviceId, EntryHash, LogId, RecordId};
use crate::keys::{LogAuthor, PublicKey, Signature};
use crate::time::Timestamp;
use crate::wire::{Reader, WireError};

/// Header size in bytes.
pub const HEADER_BYTES: usize = 193;
/// The largest payload (one automerge change of one small record).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The largest encoded entry.
pub const MAX_ENTRY_BYTES: usize = HEADER_BYTES + 64 + 1 + MAX_PAYLOAD_BYTES;
const MAGIC: &[u8; 4] = b"mge1";

/// What an entry does to its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Applies an automerge change (the payload).
    Change,
    /// Withdraws the record for real: nodes drop its payloads and keep only headers.
    Prune,
}

/// The signed part of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The co-op whose ledger this entry belongs to.
    pub coop: CoopId,
    /// The member key that signs.
    pub author: PublicKey,
    /// The writing device.
    pub device: DeviceId,
    /// Position in the log, from 1.
    pub seq: u64,
    /// Hash of entry `seq - 1` ([`Hash::ZERO`] for the first).
    pub prev: EntryHash,
    /// The record changed; [`RecordId`] of zeros when this entry creates it.
    pub record: RecordId,
    /// Change or prune.
    pub kind: EntryKind,
    /// SHA-256 of the payload.
    pub payload_hash: Hash,
    /// Payload length in bytes.
    pub payload_len: u32,
    /// When the author wrote it (claimed by the author).
    pub timestamp: Timestamp,
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Bounds or trailing bytes.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Larger than [`MAX_ENTRY_BYTES`].
    #[error("entry is {0} bytes, more than the limit of {MAX_ENTRY_BYTES}")]
    TooLarge(usize),
    /// Wrong magic.
    #[error("not a minga log entry (bad magic)")]
    Magic,
    /// The author bytes are not a public key.
    #[error("author is not a valid ed25519 key")]
    Author,
    /// Unknown entry kind.
    #[error("unknown entry kind {0}")]
    Kind(u8),
    /// Payload length over the limit.
    #[error("payload length {0} is more than the limit of {MAX_PAYLOAD_BYTES}")]
    PayloadTooLarge(u32),
    /// Timestamp out of range.
    #[error("timestamp out of range")]
    Timestamp,
    /// Sequence 0.
    #[error("sequence numbers start at 1")]
    SeqZero,
    /// The payload flag is neither 0 nor 1.
    #[error("bad payload flag {0}")]
    Flag(u8),
}

impl Header {
    /// The log this entry continues.
    pub fn log(&self) -> LogId {
        LogId {
            author: self.author,
            device: self.device,
        }
    }

    /// The canonical bytes that are signed.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        let mut at = 0;
        let mut put = |b: &[u8]| {
            out[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        };
        put(MAGIC);
        put(self.coop.as_bytes());
        put(self.author.as_bytes());
        put(&self.device.0.to_be_bytes());
        put(&self.seq.to_be_bytes());
        put(self.prev.as_bytes());
        put(self.record.as_bytes());
        put(&[match self.kind {
            EntryKind::Change => 0,
            EntryKind::Prune => 1,
        }]);
        put(self.payload_hash.as_bytes());
        put(&self.payload_len.to_be_bytes());
        put(&self.timestamp.0.to_be_bytes());
        out
    }

    fn decode(r: &mut Reader<'_>) -> Result<Header, DecodeError> {
        if &r.array::<4>("magic")? != MAGIC {
            return Err(DecodeError::Magic);
        }
        let coop = CoopId(Hash(r.array("coop")?));
        let author = PublicKey::from_bytes(&r.array("author")?).map_err(|_| DecodeError::Author)?;
        let device = DeviceId(r.u64("device")?);
        let seq = r.u64("seq")?;
        if seq == 0 {
            return Err(DecodeError::SeqZero);
        }
        let prev = EntryHash(Hash(r.array("prev")?));
        let record = RecordId(Hash(r.array("record")?));
        let kind = match r.u8("kind")? {
            0 => EntryKind::Change,
            1 => EntryKind::Prune,
            k => return Err(DecodeError::Kind(k)),
        };
        let payload_hash = Hash(r.array("payload hash")?);
        let payload_len = r.u32("payload length")?;
        if payload_len as usize > MAX_PAYLOAD_BYTES {
            return Err(DecodeError::PayloadTooLarge(payload_len));
        }
        let timestamp =
            Timestamp::from_millis(r.i64("timestamp")?).ok_or(DecodeError::Timestamp)?;
        Ok(Header {
            coop,
            author,
            device,
            seq,
            prev,
            record,
            kind,
            payload_hash,
            payload_len,
            timestamp,
        })
    }
}

/// A signed header and, unless detached, its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The signed header.
    pub header: Header,
    /// The author's signature over the encoded header.
    pub signature: Signature,
    /// The automerge change; `None` once detached (pruned records keep only headers).
    pub payload: Option<Vec<u8>>,
}

impl Entry {
    /// Signs a new entry. The caller supplies the log position (`seq`, `prev`).
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        key: &impl LogAuthor,
        coop: CoopId,
        device: DeviceId,
        seq: u64,
        prev: EntryHash,
        record: RecordId,
        kind: EntryKind,
        payload: Vec<u8>,
        timestamp: Timestamp,
    ) -> Entry {
        let header = Header {
            coop,
            author: key.secret().public(),
            device,
            seq,
            prev,
            record,
            kind,
            payload_hash: Hash::of(&payload),
            payload_len: payload.len().min(u32::MAX as usize) as u32,
            timestamp,
        };
        let signature = key.secret().sign(&header.encode());
        Entry {
            header,
            signature,
            payload: Some(payload),
        }
    }

    /// The entry's id.
    pub fn hash(&self) -> EntryHash {
        EntryHash(Hash::of_parts(&[&self.header.encode(), &self.signature.0]))
    }

    /// The record this entry changes: its own hash when it creates the record.
    pub fn record_id(&self) -> RecordId {
        if self.header.record.0.is_zero() {
            RecordId(self.hash().0)
        } else {
            self.header.record
        }
    }

    /// Where this entry sits, as the carrier of the statement it may create.
    pub fn carrier(&self) -> crate::membership::Carrier {
        crate::membership::Carrier {
            log: self.header.log(),
            seq: self.header.seq,
            at: self.header.timestamp,
        }
    }

    /// Whether this entry creates its record.
    pub fn creates_record(&self) -> bool {
        self.header.record.0.is_zero()
    }

    /// Checks the author's signature over the header.
    pub fn verify_signature(&self) -> bool {
        self.header
            .author
            .verify(&self.header.encode(), &self.signature)
            .is_ok()
    }

    /// Whether the payload, if present, is the one the header commits to.
    pub fn payload_matches(&self) -> bool {
        self.payload.as_ref().is_none_or(|p| {
            p.len() == self.header.payload_len as usize && Hash::of(p) == self.header.payload_hash
        })
    }

    /// The same entry without its payload.
    pub fn detached(&self) -> Entry {
        Entry {
            header: self.header.clone(),
            signature: self.signature,
            payload: None,
        }
    }

    /// Encodes for the wire or the store.
    pub fn encode(&self) -> Vec<u8> {
        let p = self.payload.as_deref();
        let mut out = Vec::with_capacity(HEADER_BYTES + 65 + p.map_or(0, <[u8]>::len));
        out.extend_from_slice(&self.header.encode());
        out.extend_from_slice(&self.signature.0);
        match p {
            Some(p) => {
                out.push(1);
                out.extend_from_slice(p);
            }
            None => out.push(0),
        }
        out
    }

    /// Decodes within the size limits. Does not check the signature (see validation).
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        let header = Header::decode(&mut r)?;
        let signature = Signature(r.array("signature")?);
        let payload = match r.u8("payload flag")? {
            0 => None,
            1 => Some(r.take("payload", header.payload_len as usize)?.to_vec()),
            f => return Err(DecodeError::Flag(f)),
        };
        r.finish()?;
        Ok(Entry {
            header,
            signature,
            payload,
        })
    }
}

/// Two different entries at the same position of one log: proof that the author's key
/// misbehaved (or was copied to two devices). Kept and reported, never silently resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The entry already held.
    pub first: Entry,
    /// The conflicting entry.
    pub second: Entry,
}

impl Equivocation {
    /// Checks that this really is proof: both signed by the same author, same log and
    /// sequence, different content.
    pub fn is_proof(&self) -> bool {
        let (a, b) = (&self.first.header, &self.second.header);
        a.coop == b.coop
            && a.log() == b.log()
            && a.seq == b.seq
            && self.first.hash() != self.second.hash()
            && self.first.verify_signature()
            && self.second.verify_signature()
    }
}
