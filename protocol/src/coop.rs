//! A co-op's founding statement (genesis) and the rotations of its key.
//!
//! The co-op id is the hash of the signed genesis, never the key, so a compromised or lost
//! co-op key is replaced by a rotation (signed by the key in force) without the co-op changing
//! its name on the network.

use crate::canonical::{Canon, CanonError, Fields, Signed, Statement};
use crate::ids::CoopId;
use crate::keys::{CoopSecret, MemberSecret, PublicKey};
use crate::membership::{Cutoff, check_cutoff_order};
use crate::time::Timestamp;

/// Founds a co-op: its name, its key, and the founding member, who is an admin from the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// The co-op's key at founding; signs this statement.
    pub coop_key: PublicKey,
    /// The co-op's name as it first presents itself (the profile can change it later).
    pub name: String,
    /// The founding member's key: an admin, certified by this statement itself.
    pub founder: PublicKey,
    /// When the co-op was founded.
    pub created: Timestamp,
}

impl Statement for Genesis {
    const KIND: &'static str = "genesis";
    fn signer(&self) -> &PublicKey {
        &self.coop_key
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.coop_key)
            .field("name", &self.name)
            .field("founder", self.founder)
            .field("created", self.created);
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Genesis {
            coop_key: f.req("signer")?,
            name: f.req("name")?,
            founder: f.req("founder")?,
            created: f.req("created")?,
        })
    }
}

impl Signed<Genesis> {
    /// The co-op id this genesis founds.
    pub fn coop_id(&self) -> CoopId {
        CoopId(self.hash())
    }
}

/// Replaces the co-op key. Signed by the key in force, in one of that key's own logs; it ends
/// the old key the way a revocation ends a member key: entries of the old key's logs past the
/// cut-offs (and every log not named) are invalid, so nothing the old key signs later counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The key in force, which signs.
    pub signer: PublicKey,
    /// The co-op.
    pub coop: CoopId,
    /// 1 for the first rotation, then 2, 3, …: rotations form one chain.
    pub number: u32,
    /// The new key.
    pub new_key: PublicKey,
    /// Per log of the old key, the last entry that stays valid, in device order.
    pub cutoffs: Vec<Cutoff>,
    /// When it was signed (claimed by the signer; informative only).
    pub at: Timestamp,
}

impl Statement for Rotation {
    const KIND: &'static str = "rotation";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("number", self.number)
            .field("new_key", self.new_key);
        for cut in &self.cutoffs {
            c.field("cutoff", cut);
        }
        c.field("at", self.at);
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        let r = Rotation {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            number: f.req("number")?,
            new_key: f.req("new_key")?,
            cutoffs: f.many("cutoff")?,
            at: f.req("at")?,
        };
        check_cutoff_order(&r.cutoffs)?;
        Ok(r)
    }
}

/// Founds a new co-op: signs its genesis with the co-op key.
pub fn found_coop(
    coop_key: &CoopSecret,
    name: &str,
    founder: &MemberSecret,
    created: Timestamp,
) -> Result<Signed<Genesis>, CanonError> {
    Signed::sign(
        Genesis {
            coop_key: coop_key.public(),
            name: name.to_string(),
            founder: founder.public(),
            created,
        },
        &coop_key.0,
    )
}
