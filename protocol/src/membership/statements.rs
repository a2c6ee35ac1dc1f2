//! The membership statements: roles, certificates, device links, revocations and their
//! cut-offs, with their canonical text.

use std::fmt;
use std::str::FromStr;

use crate::canonical::{Canon, CanonError, Fields, Statement};
use crate::hash::Hash;
use crate::ids::{CoopId, DeviceId};
use crate::keys::PublicKey;
use crate::time::Timestamp;

/// What a member may do for the co-op. Ordered: an admin may do all a coordinator may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Offers, needs, pledges, acceptances and deliveries.
    Member,
    /// A member who may also withdraw (prune) records.
    Coordinator,
    /// A coordinator who may also certify and revoke members and edit the co-op profile.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Member => "member",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
        })
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "coordinator" => Ok(Role::Coordinator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "expected member, coordinator or admin, found {:?}",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// Certifies a member key for a co-op, with a role and an optional expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The co-op key, or an admin's member key.
    pub signer: PublicKey,
    /// The co-op.
    pub coop: CoopId,
    /// The member key certified.
    pub subject: PublicKey,
    /// Its role.
    pub role: Role,
    /// When it starts to hold.
    pub issued: Timestamp,
    /// When it stops holding, if ever.
    pub expires: Option<Timestamp>,
    /// When an admin signs: the hash of the admin's own certificate (or the co-op id, for the
    /// founder). Absent when the co-op key signs.
    pub parent: Option<Hash>,
}

impl Statement for Certificate {
    const KIND: &'static str = "certificate";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("subject", self.subject)
            .field("role", self.role)
            .field("issued", self.issued)
            .opt("expires", self.expires)
            .opt("parent", self.parent);
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Certificate {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            subject: f.req("subject")?,
            role: f.req("role")?,
            issued: f.req("issued")?,
            expires: f.opt("expires")?,
            parent: f.opt("parent")?,
        })
    }
}

/// A member's second (third, …) device: the member's key vouches for the device's own key,
/// which then writes for the co-op with the member's role (at most coordinator: certifying
/// and revoking stay with an admin's own key). The data directory is never copied, and a lost
/// device is revoked alone, by its member or an admin, without the member losing its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The member, who signs.
    pub signer: PublicKey,
    /// The co-op.
    pub coop: CoopId,
    /// The device's key.
    pub device_key: PublicKey,
    /// When it was signed.
    pub issued: Timestamp,
}

impl Statement for Device {
    const KIND: &'static str = "device";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("device_key", self.device_key)
            .field("issued", self.issued);
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Device {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            device_key: f.req("device_key")?,
            issued: f.req("issued")?,
        })
    }
}

/// The last valid sequence number of one log of a revoked key (0: none of it is valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cutoff {
    /// The device whose log this is.
    pub device: DeviceId,
    /// Entries up to and including this sequence number stay valid.
    pub last_valid: u64,
}

impl fmt::Display for Cutoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.device, self.last_valid)
    }
}

impl FromStr for Cutoff {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (d, n) = s
            .split_once(' ')
            .ok_or_else(|| "expected `<device> <last valid sequence>`".to_string())?;
        let last_valid: u64 = n
            .parse()
            .map_err(|_| format!("bad sequence number {n:?}"))?;
        if last_valid.to_string() != n {
            return Err(format!("bad sequence number {n:?}"));
        }
        Ok(Cutoff {
            device: d
                .parse()
                .map_err(|e: crate::ids::DeviceIdParseError| e.to_string())?,
            last_valid,
        })
    }
}

/// Ends a member key: entries past the cut-offs, and in logs not named, are invalid everywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The co-op key or an admin.
    pub signer: PublicKey,
    /// The co-op.
    pub coop: CoopId,
    /// The key revoked.
    pub subject: PublicKey,
    /// One line per log of the revoked key that keeps a valid prefix, in device order.
    pub cutoffs: Vec<Cutoff>,
    /// When it was signed.
    pub issued: Timestamp,
    /// Why, in a line (optional).
    pub reason: Option<String>,
}

impl Statement for Revocation {
    const KIND: &'static str = "revocation";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("subject", self.subject);
        for cut in &self.cutoffs {
            c.field("cutoff", cut);
        }
        c.field("issued", self.issued)
            .opt("reason", self.reason.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        let r = Revocation {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            subject: f.req("subject")?,
            cutoffs: f.many("cutoff")?,
            issued: f.req("issued")?,
            reason: f.opt("reason")?,
        };
        check_cutoff_order(&r.cutoffs)?;
        Ok(r)
    }
}

/// Cut-offs name each device once, in increasing order, so a statement has one encoding.
pub(crate) fn check_cutoff_order(cutoffs: &[Cutoff]) -> Result<(), CanonError> {
    if cutoffs.windows(2).all(|w| w[0].device < w[1].device) {
        return Ok(());
    }
    Err(CanonError::BadValue {
        field: "cutoff",
        reason: "cut-offs must be in increasing device order, one per device".into(),
    })
}

impl Revocation {
    /// Whether this revocation leaves entry `seq` of the subject's log on `device` valid.
    pub fn allows(&self, device: DeviceId, seq: u64) -> bool {
        keeps(&self.cutoffs, device, seq)
    }
}

/// Whether `cutoffs` keep entry `seq` of the log on `device` (a device not named keeps none).
pub(crate) fn keeps(cutoffs: &[Cutoff], device: DeviceId, seq: u64) -> bool {
    cutoffs
        .iter()
        .any(|c| c.device == device && seq <= c.last_valid)
}
