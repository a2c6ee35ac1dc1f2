//! The signed statements of a network's admissions.

use crate::canonical::{Canon, CanonError, Fields, Signed, Statement};
use crate::hash::{Hash, hash_id};
use crate::ids::{CoopId, DeviceId, LogId, RecordRef};
use crate::keys::PublicKey;
use crate::time::Timestamp;

/// The most founding co-ops a network genesis names.
pub const MAX_FOUNDERS: usize = 32;
/// The most logs one expulsion's cut-offs name.
pub const MAX_CUTOFF_LOGS: usize = 4096;
const CUTOFF_BYTES: usize = 32 + 8 + 8;

hash_id!(
    /// A network: the hash of its signed genesis (statement bytes, then signature).
    NetworkId
);

/// Founds a network: its name, its founding co-ops and how many vouches admit a new one.
/// Signed by an admin of the co-op that creates it, which must be among the founders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkGenesis {
    /// The admin who signs.
    pub signer: PublicKey,
    /// The creating co-op.
    pub coop: CoopId,
    /// The network's name.
    pub name: String,
    /// The founding co-ops, admitted from the start, in order, without repeats.
    pub founders: Vec<CoopId>,
    /// How many vouches from admitted co-ops admit a new one (and expel one).
    pub vouches: u32,
    /// When it was signed.
    pub created: Timestamp,
}

impl Statement for NetworkGenesis {
    const KIND: &'static str = "network";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("name", &self.name);
        for f in &self.founders {
            c.field("founder", f);
        }
        c.field("vouches", self.vouches)
            .field("created", self.created);
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        let g = NetworkGenesis {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            name: f.req("name")?,
            founders: f.many("founder")?,
            vouches: f.req("vouches")?,
            created: f.req("created")?,
        };
        g.check().map_err(|reason| CanonError::BadValue {
            field: "founder",
            reason: reason.into(),
        })?;
        Ok(g)
    }
}

impl NetworkGenesis {
    /// Its own rules: the creator among 1 to [`MAX_FOUNDERS`] distinct founders, and a rule of
    /// at least one vouch.
    pub fn check(&self) -> Result<(), &'static str> {
        let mut distinct = self.founders.clone();
        distinct.sort();
        distinct.dedup();
        if self.founders.is_empty() || self.founders.len() > MAX_FOUNDERS {
            return Err("a network has 1 to 32 founding co-ops");
        }
        if distinct.len() != self.founders.len() {
            return Err("a founding co-op is named twice");
        }
        if !self.founders.contains(&self.coop) {
            return Err("the co-op that creates a network is one of its founders");
        }
        if self.vouches == 0 {
            return Err("a new co-op needs at least one vouch");
        }
        Ok(())
    }
}

impl Signed<NetworkGenesis> {
    /// The network this genesis founds.
    pub fn network_id(&self) -> NetworkId {
        NetworkId(self.hash())
    }
}

/// An admitted co-op's admin vouches for a co-op that asked to join. The record that carries
/// it also carries the subject's signed genesis, so every node can start replicating it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vouch {
    /// The admin who vouches.
    pub signer: PublicKey,
    /// The vouching co-op.
    pub coop: CoopId,
    /// The network.
    pub network: NetworkId,
    /// The co-op vouched for.
    pub subject: CoopId,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Vouch {
    const KIND: &'static str = "vouch";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("network", self.network)
            .field("subject", self.subject)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Vouch {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            network: f.req("network")?,
            subject: f.req("subject")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// A co-op takes back one of its own vouches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unvouch {
    /// The admin who signs.
    pub signer: PublicKey,
    /// The co-op that vouched.
    pub coop: CoopId,
    /// The network.
    pub network: NetworkId,
    /// The vouch taken back (the co-op's own).
    pub vouch: RecordRef,
    /// When it was signed.
    pub issued: Timestamp,
    /// Why.
    pub reason: Option<String>,
}

impl Statement for Unvouch {
    const KIND: &'static str = "unvouch";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("network", self.network)
            .field("vouch", self.vouch)
            .field("issued", self.issued)
            .opt("reason", self.reason.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Unvouch {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            network: f.req("network")?,
            vouch: f.req("vouch")?,
            issued: f.req("issued")?,
            reason: f.opt("reason")?,
        })
    }
}

/// An admitted co-op's admin signs for expelling a co-op. The cut-offs (per log of the
/// subject, the last entry that stays valid, as this co-op saw them) travel in the record,
/// bound to the statement by their hash, since a co-op may have more logs than a statement
/// has lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expel {
    /// The admin who signs.
    pub signer: PublicKey,
    /// The expelling co-op.
    pub coop: CoopId,
    /// The network.
    pub network: NetworkId,
    /// The co-op expelled.
    pub subject: CoopId,
    /// SHA-256 of the encoded cut-offs ([`encode_cutoffs`]).
    pub cutoffs: Hash,
    /// When it was signed.
    pub issued: Timestamp,
    /// Why.
    pub reason: Option<String>,
}

impl Statement for Expel {
    const KIND: &'static str = "expel";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("network", self.network)
            .field("subject", self.subject)
            .field("cutoffs", self.cutoffs)
            .field("issued", self.issued)
            .opt("reason", self.reason.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Expel {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            network: f.req("network")?,
            subject: f.req("subject")?,
            cutoffs: f.req("cutoffs")?,
            issued: f.req("issued")?,
            reason: f.opt("reason")?,
        })
    }
}

/// One log of an expelled co-op and its last valid entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogCutoff {
    /// The log.
    pub log: LogId,
    /// Entries up to and including this sequence number stay valid (0: none).
    pub last_valid: u64,
}

/// The cut-offs' bytes: per log, in increasing order of (author, device) and without repeats,
/// the author's 32 key bytes, the device (8 bytes) and the last valid sequence (8 bytes), both
/// big-endian. [`Expel::cutoffs`] is the SHA-256 of these bytes.
pub fn encode_cutoffs(cutoffs: &[LogCutoff]) -> Vec<u8> {
    let mut sorted = cutoffs.to_vec();
    sorted.sort_by_key(|c| (*c.log.author.as_bytes(), c.log.device.0));
    sorted.dedup_by_key(|c| c.log);
    let mut out = Vec::with_capacity(sorted.len() * CUTOFF_BYTES);
    for c in sorted {
        out.extend_from_slice(c.log.author.as_bytes());
        out.extend_from_slice(&c.log.device.0.to_be_bytes());
        out.extend_from_slice(&c.last_valid.to_be_bytes());
    }
    out
}

/// Reads cut-offs' bytes, refusing any that are not in the one form [`encode_cutoffs`]
/// writes, or that do not hash to `expected`.
pub fn decode_cutoffs(bytes: &[u8], expected: &Hash) -> Result<Vec<LogCutoff>, CanonError> {
    let bad = |reason: &str| CanonError::BadValue {
        field: "cutoffs",
        reason: reason.into(),
    };
    if !bytes.len().is_multiple_of(CUTOFF_BYTES) || bytes.len() / CUTOFF_BYTES > MAX_CUTOFF_LOGS {
        return Err(bad("not a whole number of cut-offs, or too many"));
    }
    if Hash::of(bytes) != *expected {
        return Err(bad("the cut-offs do not match the statement's hash"));
    }
    let mut out: Vec<LogCutoff> = Vec::with_capacity(bytes.len() / CUTOFF_BYTES);
    for chunk in bytes.chunks_exact(CUTOFF_BYTES) {
        let (author, rest) = chunk.split_at(32);
        let (device, seq) = rest.split_at(8);
        let author: [u8; 32] = author.try_into().map_err(|_| bad("a short key"))?;
        let author = PublicKey::from_bytes(&author).map_err(|_| bad("a bad author key"))?;
        let device = DeviceId(u64::from_be_bytes(
            device.try_into().map_err(|_| bad("a short device"))?,
        ));
        let last_valid = u64::from_be_bytes(seq.try_into().map_err(|_| bad("a short sequence"))?);
        let c = LogCutoff {
            log: LogId { author, device },
            last_valid,
        };
        if let Some(prev) = out.last()
            && (*prev.log.author.as_bytes(), prev.log.device.0)
                >= (*c.log.author.as_bytes(), c.log.device.0)
        {
            return Err(bad("cut-offs out of order or repeated"));
        }
        out.push(c);
    }
    Ok(out)
}
