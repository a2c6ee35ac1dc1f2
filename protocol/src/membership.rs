//! Membership certificates, revocations, and the state that decides who may write for a co-op.
//!
//! The co-op key certifies member keys with a role; an admin may certify further members, so a
//! chain has at most two links (co-op key → admin → member; the founder counts as an admin
//! certified by the genesis). A revocation ends a key at a deterministic point: it names, for
//! each log of the revoked key, the last sequence number that stays valid, so every node rejects
//! the same entries whatever order it learns things in.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::canonical::{Canon, CanonError, Fields, Signed, Statement};
use crate::coop::{Genesis, Rotation};
use crate::hash::Hash;
use crate::ids::{CoopId, DeviceId, LogId};
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
        if !r.cutoffs.windows(2).all(|w| w[0].device < w[1].device) {
            return Err(CanonError::BadValue {
                field: "cutoff",
                reason: "cut-offs must be in increasing device order, one per device".into(),
            });
        }
        Ok(r)
    }
}

impl Revocation {
    /// Whether this revocation leaves entry `seq` of the subject's log on `device` valid.
    pub fn allows(&self, device: DeviceId, seq: u64) -> bool {
        self.cutoffs
            .iter()
            .any(|c| c.device == device && seq <= c.last_valid)
    }
}

/// Why a certificate, revocation or rotation is not admitted, or an author may not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// It names another co-op.
    #[error("it is for co-op {found}, not {expected}")]
    WrongCoop {
        /// This co-op.
        expected: CoopId,
        /// The one named.
        found: CoopId,
    },
    /// The signer is neither the co-op key in force nor an admin.
    #[error("signer {0} is neither the co-op key in force nor an admin of the co-op")]
    NotAnIssuer(String),
    /// The parent certificate is not known yet (may arrive later).
    #[error("parent certificate {0} is not known")]
    UnknownParent(Hash),
    /// A chain longer than two links.
    #[error("certificate chain is longer than two links")]
    ChainTooLong,
    /// Expiry not after issue.
    #[error("certificate expires before it is issued")]
    ExpiresBeforeIssued,
    /// An admin tried to revoke an admin (only the co-op key may).
    #[error("only the co-op key may revoke an admin or the founder")]
    AdminRevocation,
    /// The issuing admin key has itself been revoked, which voids what it certified.
    #[error("issuer {0} has been revoked")]
    IssuerRevoked(String),
    /// A rotation that does not continue the chain.
    #[error("rotation {found} does not follow rotation {have}")]
    RotationOutOfOrder {
        /// Rotations known.
        have: u32,
        /// The number given.
        found: u32,
    },
    /// Two different rotations with the same number: the co-op key equivocated.
    #[error("two different rotations numbered {0}: the co-op key signed conflicting rotations")]
    RotationConflict(u32),
    /// A rotation that takes effect before the one it replaces.
    #[error("rotation takes effect before the key it replaces")]
    RotationBackwards,
    /// The author holds no certificate for the co-op.
    #[error("{0} is not a member of the co-op")]
    NotAMember(String),
    /// The author's certificates do not hold at that time (expired, not yet issued, or voided).
    #[error("{0} holds no certificate valid at {1}")]
    NotValidAt(String, Timestamp),
    /// The entry lies beyond the cut-off of a revocation of its author.
    #[error("{key} was revoked; entry {seq} of device {device} is past the cut-off")]
    Revoked {
        /// The revoked key.
        key: String,
        /// The device.
        device: DeviceId,
        /// The entry's sequence number.
        seq: u64,
    },
    /// The author's role does not allow the action.
    #[error("{key} is a {has}; this needs a {needs}")]
    RoleTooLow {
        /// The author.
        key: String,
        /// The role held.
        has: Role,
        /// The role needed.
        needs: Role,
    },
}

impl MembershipError {
    /// Whether the same input may be admitted once more of the ledger is known.
    pub fn may_resolve_later(&self) -> bool {
        matches!(
            self,
            MembershipError::UnknownParent(_)
                | MembershipError::RotationOutOfOrder { .. }
                | MembershipError::NotAMember(_)
        )
    }
}

/// Who may write for one co-op: the genesis, key rotations, certificates and revocations known.
#[derive(Clone, Debug)]
pub struct Membership {
    coop: CoopId,
    genesis: Signed<Genesis>,
    rotations: Vec<Signed<Rotation>>,
    certs: HashMap<Hash, Signed<Certificate>>,
    by_subject: HashMap<PublicKey, Vec<Hash>>,
    revocations: HashMap<PublicKey, Vec<Signed<Revocation>>>,
}

impl Membership {
    /// Starts from a verified genesis.
    pub fn new(genesis: Signed<Genesis>) -> Membership {
        Membership {
            coop: genesis.coop_id(),
            genesis,
            rotations: Vec::new(),
            certs: HashMap::new(),
            by_subject: HashMap::new(),
            revocations: HashMap::new(),
        }
    }

    /// The co-op.
    pub fn coop(&self) -> CoopId {
        self.coop
    }

    /// The genesis.
    pub fn genesis(&self) -> &Signed<Genesis> {
        &self.genesis
    }

    /// The key rotations, in order.
    pub fn rotations(&self) -> &[Signed<Rotation>] {
        &self.rotations
    }

    /// A certificate by its hash.
    pub fn certificate(&self, hash: &Hash) -> Option<&Signed<Certificate>> {
        self.certs.get(hash)
    }

    /// Every certificate naming `subject`.
    pub fn certificates_of(
        &self,
        subject: &PublicKey,
    ) -> impl Iterator<Item = &Signed<Certificate>> {
        self.by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .filter_map(|h| self.certs.get(h))
    }

    /// Every key named by a certificate or a revocation, in no particular order.
    pub fn subjects(&self) -> impl Iterator<Item = &PublicKey> {
        self.by_subject.keys().chain(
            self.revocations
                .keys()
                .filter(|k| !self.by_subject.contains_key(*k)),
        )
    }

    /// Every revocation naming `subject`.
    pub fn revocations_of(&self, subject: &PublicKey) -> &[Signed<Revocation>] {
        self.revocations.get(subject).map_or(&[], Vec::as_slice)
    }

    /// The co-op key in force at `t`.
    pub fn coop_key_at(&self, t: Timestamp) -> PublicKey {
        self.rotations
            .iter()
            .take_while(|r| r.value().at <= t)
            .last()
            .map_or(self.genesis.value().coop_key, |r| r.value().new_key)
    }

    /// The co-op key in force now (after every known rotation).
    pub fn current_coop_key(&self) -> PublicKey {
        self.rotations
            .last()
            .map_or(self.genesis.value().coop_key, |r| r.value().new_key)
    }

    /// Admits a key rotation. Rules checked:
    /// 1. it names this co-op;
    /// 2. its number is one more than the rotations known (a higher one may arrive later; a
    ///    different rotation with a known number is reported as a conflict);
    /// 3. it is signed by the key in force after the previous rotation (signature already
    ///    verified by [`Signed::verify`]);
    /// 4. it takes effect no earlier than the key it replaces.
    pub fn add_rotation(&mut self, rot: Signed<Rotation>) -> Result<bool, MembershipError> {
        let new = self.check_rotation(&rot)?;
        if new {
            self.rotations.push(rot);
        }
        Ok(new)
    }

    /// Checks a rotation without admitting it (the rules of [`Membership::add_rotation`]);
    /// returns whether it would be new.
    pub fn check_rotation(&self, rot: &Signed<Rotation>) -> Result<bool, MembershipError> {
        let r = rot.value();
        self.check_coop(r.coop)?;
        let have = self.rotations.len() as u32;
        if r.number >= 1 && r.number <= have {
            let known = &self.rotations[r.number as usize - 1];
            return if known == rot {
                Ok(false)
            } else {
                Err(MembershipError::RotationConflict(r.number))
            };
        }
        if r.number != have + 1 {
            return Err(MembershipError::RotationOutOfOrder {
                have,
                found: r.number,
            });
        }
        if r.signer != self.current_coop_key() {
            return Err(MembershipError::NotAnIssuer(r.signer.to_string()));
        }
        let since = self
            .rotations
            .last()
            .map_or(self.genesis.value().created, |p| p.value().at);
        if r.at < since {
            return Err(MembershipError::RotationBackwards);
        }
        Ok(true)
    }

    /// Admits a certificate. Rules checked (its signature was verified by [`Signed::verify`]):
    /// 1. it names this co-op;
    /// 2. it expires, if at all, after it is issued;
    /// 3. without a parent, its signer is the co-op key in force when it was issued;
    /// 4. with the co-op id as parent, its signer is the founder;
    /// 5. with a certificate as parent: that certificate is known, names the signer as an
    ///    admin, and was itself signed by the co-op key (so no chain exceeds two links).
    ///
    /// Whether the issuer was later revoked, and whether it all holds at a given time, is
    /// decided when authorizing (see [`Membership::authorize`]), so the order in which
    /// certificates and revocations arrive does not matter. Returns whether it was new.
    pub fn add_certificate(&mut self, cert: Signed<Certificate>) -> Result<bool, MembershipError> {
        let new = self.check_certificate(&cert)?;
        if new {
            let hash = cert.hash();
            self.by_subject
                .entry(cert.value().subject)
                .or_default()
                .push(hash);
            self.certs.insert(hash, cert);
        }
        Ok(new)
    }

    /// Checks a certificate without admitting it (the rules of
    /// [`Membership::add_certificate`]); returns whether it would be new.
    pub fn check_certificate(&self, cert: &Signed<Certificate>) -> Result<bool, MembershipError> {
        let c = cert.value();
        self.check_coop(c.coop)?;
        if c.expires.is_some_and(|e| e <= c.issued) {
            return Err(MembershipError::ExpiresBeforeIssued);
        }
        match c.parent {
            None => {
                if c.signer != self.coop_key_at(c.issued) {
                    return Err(MembershipError::NotAnIssuer(c.signer.to_string()));
                }
            }
            Some(p) if p == self.coop.0 => {
                if c.signer != self.genesis.value().founder {
                    return Err(MembershipError::NotAnIssuer(c.signer.to_string()));
                }
            }
            Some(p) => {
                let parent = self
                    .certs
                    .get(&p)
                    .ok_or(MembershipError::UnknownParent(p))?
                    .value();
                if parent.parent.is_some() {
                    return Err(MembershipError::ChainTooLong);
                }
                if parent.subject != c.signer || parent.role != Role::Admin {
                    return Err(MembershipError::NotAnIssuer(c.signer.to_string()));
                }
            }
        }
        Ok(!self.certs.contains_key(&cert.hash()))
    }

    /// Admits a revocation. Rules checked (its signature was verified by [`Signed::verify`]):
    /// 1. it names this co-op;
    /// 2. its signer is the co-op key in force when it was issued, or an admin at that time;
    /// 3. an admin revokes neither the founder nor another admin: only the co-op key may.
    pub fn add_revocation(&mut self, rev: Signed<Revocation>) -> Result<bool, MembershipError> {
        let new = self.check_revocation(&rev)?;
        if new {
            self.revocations
                .entry(rev.value().subject)
                .or_default()
                .push(rev);
        }
        Ok(new)
    }

    /// Checks a revocation without admitting it (the rules of [`Membership::add_revocation`]);
    /// returns whether it would be new.
    pub fn check_revocation(&self, rev: &Signed<Revocation>) -> Result<bool, MembershipError> {
        let r = rev.value();
        self.check_coop(r.coop)?;
        if r.signer != self.coop_key_at(r.issued) {
            let role = self.role_at(&r.signer, r.issued)?;
            if role < Role::Admin {
                return Err(MembershipError::NotAnIssuer(r.signer.to_string()));
            }
            let target_admin = r.subject == self.genesis.value().founder
                || self
                    .certificates_of(&r.subject)
                    .any(|c| c.value().role == Role::Admin);
            if target_admin {
                return Err(MembershipError::AdminRevocation);
            }
        }
        Ok(!self.revocations_of(&r.subject).contains(rev))
    }

    /// Decides whether entry `seq` of `log`, stamped `at`, may be written, and with what role.
    /// Rules checked:
    /// 1. no revocation of the author cuts the entry off (every revocation must name the log's
    ///    device with a cut-off at or past `seq`);
    /// 2. the author is the founder (an admin), or holds a certificate valid at `at`: issued at
    ///    or before it, not expired, and, if an admin signed it, that admin's certificate valid
    ///    at `at` too and that admin never revoked.
    pub fn authorize(&self, log: &LogId, seq: u64, at: Timestamp) -> Result<Role, MembershipError> {
        for rev in self.revocations_of(&log.author) {
            if !rev.value().allows(log.device, seq) {
                return Err(MembershipError::Revoked {
                    key: log.author.to_string(),
                    device: log.device,
                    seq,
                });
            }
        }
        self.role_at(&log.author, at)
    }

    /// The highest role `key` holds at `t`, ignoring log cut-offs.
    pub fn role_at(&self, key: &PublicKey, t: Timestamp) -> Result<Role, MembershipError> {
        if *key == self.genesis.value().founder {
            return Ok(Role::Admin);
        }
        let mut any = false;
        let mut best: Option<Role> = None;
        for cert in self.certificates_of(key) {
            any = true;
            if self.cert_holds_at(cert.value(), t) {
                best = best.max(Some(cert.value().role));
            }
        }
        match (best, any) {
            (Some(r), _) => Ok(r),
            (None, true) => Err(MembershipError::NotValidAt(key.to_string(), t)),
            (None, false) => Err(MembershipError::NotAMember(key.to_string())),
        }
    }

    fn cert_holds_at(&self, c: &Certificate, t: Timestamp) -> bool {
        let in_window = c.issued <= t && c.expires.is_none_or(|e| t < e);
        if !in_window {
            return false;
        }
        match c.parent {
            None => true,
            Some(p) if p == self.coop.0 => self.revocations_of(&c.signer).is_empty(),
            Some(p) => {
                self.revocations_of(&c.signer).is_empty()
                    && self
                        .certs
                        .get(&p)
                        .is_some_and(|parent| self.cert_holds_at(parent.value(), t))
            }
        }
    }

    /// Every key with at least one certificate, with its highest role at `t` (for listings).
    pub fn members_at(&self, t: Timestamp) -> BTreeMap<PublicKey, Role> {
        let mut out = BTreeMap::new();
        out.insert(self.genesis.value().founder, Role::Admin);
        for key in self.by_subject.keys() {
            if let Ok(role) = self.role_at(key, t) {
                out.insert(*key, role);
            }
        }
        out
    }

    fn check_coop(&self, found: CoopId) -> Result<(), MembershipError> {
        if found != self.coop {
            return Err(MembershipError::WrongCoop {
                expected: self.coop,
                found,
            });
        }
        Ok(())
    }
}
