//! Membership certificates, revocations, and the state that decides who may write for a co-op.
//!
//! Every membership statement is carried by a log entry of its signer, and what it does is a
//! function of the statements held and of where each was written, never of the order a node
//! learnt them in (the rules are on [`Membership`]). The co-op key certifies admins and ends
//! them; admins certify and revoke members and coordinators. A revocation, like a key
//! rotation, ends a key at cut-offs: for each log of the key, the last sequence number that
//! stays valid, so every node rejects the same entries, and revoking an issuer voids only what
//! it issued past its cut-off.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::canonical::Signed;
use crate::coop::{Genesis, Rotation};
use crate::hash::Hash;
use crate::ids::{CoopId, DeviceId, LogId};
use crate::keys::PublicKey;
use crate::record::Record;
use crate::time::Timestamp;

mod statements;

pub use statements::{Certificate, Cutoff, Device, Revocation, Role};
pub(crate) use statements::{check_cutoff_order, keeps};

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
    /// A rotation not signed by the co-op key in force.
    #[error("signer {0} is not the co-op key in force")]
    NotAnIssuer(String),
    /// A certificate signed by a co-op key that names a parent, or one signed by a member key
    /// that names none.
    #[error("a certificate names a parent exactly when an admin, not the co-op key, signs it")]
    BadParent,
    /// An admin certified an admin: only the co-op key may.
    #[error("only the co-op key may certify an admin; an admin certifies members and coordinators")]
    AdminByAdmin,
    /// Expiry not after issue.
    #[error("certificate expires before it is issued")]
    ExpiresBeforeIssued,
    /// A rotation that does not continue the chain (a later one may arrive first).
    #[error("rotation {found} does not follow rotation {have}")]
    RotationOutOfOrder {
        /// Rotations known.
        have: u32,
        /// The number given.
        found: u32,
    },
    /// A rotation past one the co-op key contested by signing two with the same number:
    /// that key is frozen, and no rotation follows it.
    #[error("the co-op key signed two different rotations numbered {0}: no rotation follows")]
    RotationConflict(u32),
    /// A rotation to a key the co-op already used.
    #[error("a rotation must move to a key the co-op has never used")]
    RotationReusesKey,
    /// A rotation whose cut-offs leave out the entry that carries it.
    #[error("a rotation's cut-offs must keep the entry that carries it")]
    RotationCutsItself,
    /// The author holds no certificate in effect for the co-op (one may arrive later).
    #[error("{0} is not a member of the co-op")]
    NotAMember(String),
    /// The author's certificates in effect have expired by the entry's own time (a renewal
    /// may arrive later).
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
    /// The entry lies beyond the cut-off of an admin's revocation of its author. It waits: an
    /// admin's revocation never ends a role the co-op key granted, and such a certificate may
    /// still arrive.
    #[error("{key} was revoked by an admin; entry {seq} of device {device} is past the cut-off")]
    RevokedByAdmin {
        /// The revoked key.
        key: String,
        /// The device.
        device: DeviceId,
        /// The entry's sequence number.
        seq: u64,
    },
    /// The key was revoked: it holds no role for new entries.
    #[error("{key} was revoked by {by}")]
    KeyRevoked {
        /// The key.
        key: String,
        /// `the co-op key` or `an admin`.
        by: &'static str,
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
    /// Whether the statement is malformed whatever else is held (the rest depend on the
    /// statements a node holds).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            MembershipError::WrongCoop { .. }
                | MembershipError::BadParent
                | MembershipError::AdminByAdmin
                | MembershipError::ExpiresBeforeIssued
                | MembershipError::RotationCutsItself
        )
    }

    /// Whether the same input may be admitted once more of the ledger is known.
    pub fn may_resolve_later(&self) -> bool {
        matches!(
            self,
            MembershipError::RotationOutOfOrder { .. }
                | MembershipError::NotAMember(_)
                | MembershipError::RevokedByAdmin { .. }
                | MembershipError::NotValidAt(..)
        )
    }
}

/// Where a membership statement was written: the position and time of the log entry that
/// created its record. A statement's effect is decided from its carrier, never from when a
/// node happened to learn of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Carrier {
    /// The log, whose author is the statement's signer.
    pub log: LogId,
    /// The entry's sequence number.
    pub seq: u64,
    /// The entry's timestamp (claimed by its author).
    pub at: Timestamp,
}

/// One role granted by a certificate in effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grant {
    role: Role,
    expires: Option<Timestamp>,
    cert: Hash,
}

impl Grant {
    fn holds_at(&self, t: Timestamp) -> bool {
        self.expires.is_none_or(|e| t < e)
    }
}

/// What the statements held mean, recomputed whenever one is added: a pure function of the
/// genesis and the set of statements with their carriers, so every node that holds the same
/// statements derives the same state, whatever order they arrived in.
#[derive(Clone, Debug, Default)]
struct Derived {
    /// Roles granted by co-op-key certificates in effect (layer 1).
    coop_grants: HashMap<PublicKey, Vec<Grant>>,
    /// Co-op-key revocations in effect: they end every role of their subject.
    coop_cuts: HashMap<PublicKey, Vec<Hash>>,
    /// Roles granted by admins' certificates in effect (layer 2).
    admin_grants: HashMap<PublicKey, Vec<Grant>>,
    /// Admins' revocations in effect: they end the roles admins granted, never an admin.
    admin_cuts: HashMap<PublicKey, Vec<Hash>>,
    /// Device keys in effect, with the member each writes for (layer 3).
    device_owner: HashMap<PublicKey, PublicKey>,
    /// Revocations of a device by its own member, in effect.
    device_cuts: HashMap<PublicKey, Vec<Hash>>,
}

/// Adds to `out` every key whose value differs between `now` and `then`.
fn changed<V: PartialEq>(
    now: &HashMap<PublicKey, V>,
    then: &HashMap<PublicKey, V>,
    out: &mut BTreeSet<PublicKey>,
) {
    for (k, v) in now {
        if then.get(k) != Some(v) {
            out.insert(*k);
        }
    }
    out.extend(then.keys().filter(|k| !now.contains_key(*k)));
}

/// Whether `held` is a rotation numbered `number`, signed by `key` in one of its own logs.
fn links((rot, carrier): &(Signed<Rotation>, Carrier), number: u32, key: &PublicKey) -> bool {
    let r = rot.value();
    r.number == number && r.signer == *key && carrier.log.author == *key
}

/// Who may write for one co-op: the genesis, and the rotations, certificates and revocations
/// held, each with the entry that carries it.
///
/// The rules, evaluated in layers so that nothing depends on itself:
///
/// 0. **Co-op keys.** Epoch 0's key is the genesis key; rotation *n*, signed by the key of
///    epoch *n − 1* in one of that key's own logs, names the key of epoch *n* and ends the old
///    key at cut-offs (per log of the old key, the last entry that stays valid; a log not named
///    keeps nothing). A co-op key writes only in its own logs, and only membership statements
///    it signs; a statement past its epoch's cut-offs takes no effect, so one newly signed by
///    a rotated-away key counts for nothing. If the key of epoch *n − 1* signed two different
///    rotations numbered *n*, neither counts: that key stays the co-op key, **frozen** at the
///    union of their cut-offs (what either side kept), so nobody holding a copy of it, thief
///    or owner, can take the co-op over or sign anything new with it; admins and members go
///    on. Every node holding both rotations decides the same, whichever it learnt first.
/// 1. **Admins.** The founder is an admin by the genesis. A certificate signed by a co-op key,
///    carried by a valid entry of that key's log, grants its role (admin included). A
///    revocation carried the same way ends every role of its subject past its cut-offs.
/// 2. **Members.** A certificate signed by an admin, carried in the admin's own log at an entry
///    where the admin holds the admin role by rule 1 (not past a co-op revocation's cut-off,
///    not past its certificate's expiry), grants member or coordinator. A revocation carried
///    the same way ends the roles that admins granted past its cut-offs, never an admin's
///    role: only the co-op key ends an admin. So revoking an issuer voids only what it
///    issued past its own cut-off.
/// 3. **Entries.** An entry may be written with the highest role its author holds at its
///    position: not past the cut-offs of a revocation in effect, and its own timestamp before
///    the expiry of the certificate that grants the role.
#[derive(Clone, Debug)]
pub struct Membership {
    coop: CoopId,
    genesis: Signed<Genesis>,
    /// Every rotation held, in no particular order: the chain, and any that contest it.
    rotations: Vec<(Signed<Rotation>, Carrier)>,
    /// The rotations in force (indexes into `rotations`), in order of number.
    chain: Vec<usize>,
    /// The number that two held rotations share, if the co-op key signed two.
    conflict: Option<u32>,
    certs: HashMap<Hash, (Signed<Certificate>, Carrier)>,
    by_subject: HashMap<PublicKey, Vec<Hash>>,
    revocations: HashMap<Hash, (Signed<Revocation>, Carrier)>,
    devices: HashMap<Hash, (Signed<Device>, Carrier)>,
    derived: Derived,
}

impl Membership {
    /// Starts from a verified genesis.
    pub fn new(genesis: Signed<Genesis>) -> Membership {
        Membership {
            coop: genesis.coop_id(),
            genesis,
            rotations: Vec::new(),
            chain: Vec::new(),
            conflict: None,
            certs: HashMap::new(),
            by_subject: HashMap::new(),
            revocations: HashMap::new(),
            devices: HashMap::new(),
            derived: Derived::default(),
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

    /// The key rotations in force, in order.
    pub fn rotations(&self) -> impl Iterator<Item = &Signed<Rotation>> {
        self.chain.iter().map(|&i| &self.rotations[i].0)
    }

    /// The number of the rotation the co-op key contested by signing two different ones, if
    /// it did: the key in force is then frozen (see [`Membership`]).
    pub fn rotation_conflict(&self) -> Option<u32> {
        self.conflict
    }

    /// A certificate by its hash.
    pub fn certificate(&self, hash: &Hash) -> Option<&Signed<Certificate>> {
        self.certs.get(hash).map(|(c, _)| c)
    }

    /// Every certificate in effect naming `subject`.
    pub fn certificates_of(
        &self,
        subject: &PublicKey,
    ) -> impl Iterator<Item = &Signed<Certificate>> {
        let d = &self.derived;
        d.coop_grants
            .get(subject)
            .into_iter()
            .chain(d.admin_grants.get(subject))
            .flatten()
            .filter_map(|g| self.certificate(&g.cert))
    }

    /// Every key named by a certificate or a revocation held, in no particular order.
    pub fn subjects(&self) -> impl Iterator<Item = &PublicKey> {
        let others = self
            .revocations
            .values()
            .map(|(r, _)| &r.value().subject)
            .chain(self.derived.device_owner.keys())
            .filter(|k| !self.by_subject.contains_key(*k))
            .collect::<BTreeSet<_>>();
        self.by_subject.keys().chain(others)
    }

    /// Every revocation in effect naming `subject`.
    pub fn revocations_of(&self, subject: &PublicKey) -> Vec<&Signed<Revocation>> {
        let d = &self.derived;
        d.coop_cuts
            .get(subject)
            .into_iter()
            .chain(d.admin_cuts.get(subject))
            .chain(d.device_cuts.get(subject))
            .flatten()
            .filter_map(|h| self.revocations.get(h).map(|(r, _)| r))
            .collect()
    }

    /// The co-op key in force now (after every rotation in force).
    pub fn current_coop_key(&self) -> PublicKey {
        self.rotations()
            .last()
            .map_or(self.genesis.value().coop_key, |r| r.value().new_key)
    }

    /// The epoch of a co-op key: 0 for the genesis key, *n* for the key rotation *n* set.
    pub fn coop_key_epoch(&self, key: &PublicKey) -> Option<usize> {
        if *key == self.genesis.value().coop_key {
            return Some(0);
        }
        self.rotations()
            .position(|r| r.value().new_key == *key)
            .map(|i| i + 1)
    }

    /// The key of epoch `epoch`, if the chain reaches it.
    fn coop_key_of_epoch(&self, epoch: usize) -> Option<PublicKey> {
        match epoch {
            0 => Some(self.genesis.value().coop_key),
            n => self.rotations().nth(n - 1).map(|r| r.value().new_key),
        }
    }

    /// For a log of a co-op key, whether entry `seq` lies within its epoch (`None` when the
    /// log's author is no co-op key of this co-op): kept by the cut-offs of the rotation that
    /// ended the key, or, for a frozen key, by those of either contesting rotation.
    fn coop_key_keeps(&self, log: &LogId, seq: u64) -> Option<bool> {
        let epoch = self.coop_key_epoch(&log.author)?;
        let kept = |r: &Signed<Rotation>| keeps(&r.value().cutoffs, log.device, seq);
        Some(match self.chain.get(epoch) {
            Some(&i) => kept(&self.rotations[i].0),
            None => match self.conflict {
                Some(n) => self.contesting(n).any(|(r, _)| kept(r)),
                None => true,
            },
        })
    }

    /// The rotations numbered `number` signed by the key of the epoch before, each carried in
    /// one of that key's logs: one is the next link of the chain, two or more a conflict.
    fn contesting(&self, number: u32) -> impl Iterator<Item = &(Signed<Rotation>, Carrier)> {
        let signer = number
            .checked_sub(1)
            .and_then(|e| self.coop_key_of_epoch(e as usize));
        self.rotations
            .iter()
            .filter(move |held| signer.is_some_and(|k| links(held, number, &k)))
    }

    /// Derives the chain of rotations in force from every rotation held (rule 0).
    fn derive_chain(&mut self) {
        self.chain.clear();
        self.conflict = None;
        let mut key = self.genesis.value().coop_key;
        for number in 1u32.. {
            let mut next =
                (0..self.rotations.len()).filter(|&i| links(&self.rotations[i], number, &key));
            match (next.next(), next.next()) {
                (Some(i), None) => {
                    key = self.rotations[i].0.value().new_key;
                    self.chain.push(i);
                }
                (Some(_), Some(_)) => {
                    self.conflict = Some(number);
                    return;
                }
                (None, _) => return,
            }
        }
    }

    /// Admits a key rotation carried at `carrier`; returns whether it was new. See
    /// [`Membership::check_rotation`].
    pub fn add_rotation(
        &mut self,
        rot: Signed<Rotation>,
        carrier: Carrier,
    ) -> Result<bool, MembershipError> {
        let new = self.check_rotation(&rot, &carrier)?;
        if new {
            self.rotations.push((rot, carrier));
            self.derive();
        }
        Ok(new)
    }

    /// Checks a rotation carried at `carrier` without admitting it. Rules:
    /// 1. it names this co-op;
    /// 2. its number is at most one more than the rotations in force (a higher one may arrive
    ///    later), and no rotation follows a contested one;
    /// 3. it is signed by the key of the epoch before its number, in one of that key's logs
    ///    (a second rotation with a number already in force is admitted: it contests the
    ///    first, see [`Membership`]);
    /// 4. it moves to a key never used before, and its cut-offs keep its own carrier.
    pub fn check_rotation(
        &self,
        rot: &Signed<Rotation>,
        carrier: &Carrier,
    ) -> Result<bool, MembershipError> {
        let r = rot.value();
        self.check_coop(r.coop)?;
        if self.rotations.iter().any(|(held, _)| held == rot) {
            return Ok(false);
        }
        if let Some(n) = self.conflict.filter(|n| r.number > *n) {
            return Err(MembershipError::RotationConflict(n));
        }
        let have = self.chain.len() as u32;
        if r.number == 0 || r.number > have + 1 {
            return Err(MembershipError::RotationOutOfOrder {
                have,
                found: r.number,
            });
        }
        let signer = self.coop_key_of_epoch(r.number as usize - 1);
        if Some(r.signer) != signer || carrier.log.author != r.signer {
            return Err(MembershipError::NotAnIssuer(r.signer.to_string()));
        }
        if self.coop_key_epoch(&r.new_key).is_some() {
            return Err(MembershipError::RotationReusesKey);
        }
        if !keeps(&r.cutoffs, carrier.log.device, carrier.seq) {
            return Err(MembershipError::RotationCutsItself);
        }
        Ok(true)
    }

    /// Admits a certificate carried at `carrier`; returns whether it was new. Whether it takes
    /// effect is decided by the layers (see [`Membership`]), from everything held.
    pub fn add_certificate(
        &mut self,
        cert: Signed<Certificate>,
        carrier: Carrier,
    ) -> Result<bool, MembershipError> {
        let new = self.check_certificate(&cert)?;
        let hash = cert.hash();
        if new {
            self.by_subject
                .entry(cert.value().subject)
                .or_default()
                .push(hash);
            self.certs.insert(hash, (cert, carrier));
            self.derive();
        }
        Ok(new)
    }

    /// Checks a certificate's form, which no later statement can change. Rules:
    /// 1. it names this co-op;
    /// 2. it expires, if at all, after it is issued;
    /// 3. it names a parent exactly when a member key signs it: the admin's own certificate,
    ///    or the co-op id when the founder signs;
    /// 4. a member key certifies members and coordinators only.
    ///
    /// Returns whether it would be new.
    pub fn check_certificate(&self, cert: &Signed<Certificate>) -> Result<bool, MembershipError> {
        let c = cert.value();
        self.check_coop(c.coop)?;
        if c.expires.is_some_and(|e| e <= c.issued) {
            return Err(MembershipError::ExpiresBeforeIssued);
        }
        let by_coop_key = self.coop_key_epoch(&c.signer).is_some();
        if by_coop_key == c.parent.is_some() {
            return Err(MembershipError::BadParent);
        }
        if !by_coop_key && c.role == Role::Admin {
            return Err(MembershipError::AdminByAdmin);
        }
        Ok(!self.certs.contains_key(&cert.hash()))
    }

    /// Admits a revocation carried at `carrier`; returns whether it was new. Its form is
    /// checked by [`Membership::check_revocation`]; its effect is decided by the layers.
    pub fn add_revocation(
        &mut self,
        rev: Signed<Revocation>,
        carrier: Carrier,
    ) -> Result<bool, MembershipError> {
        let new = self.check_revocation(&rev)?;
        if new {
            self.revocations.insert(rev.hash(), (rev, carrier));
            self.derive();
        }
        Ok(new)
    }

    /// Admits a device link carried at `carrier`; returns whether it was new. Its effect is
    /// decided by the layers (rule 3 on [`Membership`]).
    pub fn add_device(
        &mut self,
        dev: Signed<Device>,
        carrier: Carrier,
    ) -> Result<bool, MembershipError> {
        self.check_coop(dev.value().coop)?;
        let hash = dev.hash();
        if self.devices.contains_key(&hash) {
            return Ok(false);
        }
        self.devices.insert(hash, (dev, carrier));
        self.derive();
        Ok(true)
    }

    /// Whether any statement held names `key` as a co-op key, a member or a device: only
    /// such a key's entries may wait for what they depend on beyond a small shared quota (an
    /// unknown key's wait on a certificate that may never come).
    pub fn knows(&self, key: &PublicKey) -> bool {
        *key == self.genesis.value().founder
            || self.coop_key_epoch(key).is_some()
            || self.by_subject.contains_key(key)
            || self
                .devices
                .values()
                .any(|(d, _)| d.value().device_key == *key)
    }

    /// The member a device key writes for, if a link is in effect.
    pub fn device_owner(&self, key: &PublicKey) -> Option<PublicKey> {
        self.derived.device_owner.get(key).copied()
    }

    /// The device keys in effect that write for `member`.
    pub fn devices_of(&self, member: &PublicKey) -> Vec<PublicKey> {
        let mut out: Vec<PublicKey> = self
            .derived
            .device_owner
            .iter()
            .filter(|(_, owner)| *owner == member)
            .map(|(d, _)| *d)
            .collect();
        out.sort();
        out
    }

    /// The link that makes `key` a device, if in effect.
    pub fn device_link(&self, key: &PublicKey) -> Option<&Signed<Device>> {
        let owner = self.device_owner(key)?;
        self.devices
            .values()
            .map(|(d, _)| d)
            .find(|d| d.value().device_key == *key && d.value().signer == owner)
    }

    /// Checks a revocation's form: it names this co-op. Returns whether it would be new.
    pub fn check_revocation(&self, rev: &Signed<Revocation>) -> Result<bool, MembershipError> {
        self.check_coop(rev.value().coop)?;
        Ok(!self.revocations.contains_key(&rev.hash()))
    }

    /// Admits many statements at once, deriving their effect once (opening a ledger).
    /// Statements that do not fit (a rotation whose predecessor is missing, say) are left out.
    pub fn extend(&mut self, statements: impl IntoIterator<Item = (Record, Carrier)>) {
        let mut rotations = Vec::new();
        let mut others = Vec::new();
        for (record, carrier) in statements {
            match record {
                Record::Rotation(r) => rotations.push((r, carrier)),
                Record::Certificate(_) | Record::Revocation(_) | Record::Device(_) => {
                    others.push((record, carrier))
                }
                _ => {}
            }
        }
        // Rotations first: whether a certificate's signer is a co-op key depends on them.
        rotations.sort_by_key(|(r, _)| r.value().number);
        for (r, carrier) in rotations {
            if let Ok(true) = self.check_rotation(&r, &carrier) {
                self.rotations.push((r, carrier));
                self.derive_chain();
            }
        }
        for (record, carrier) in others {
            match record {
                Record::Certificate(c) => {
                    if let Ok(true) = self.check_certificate(&c) {
                        let hash = c.hash();
                        self.by_subject
                            .entry(c.value().subject)
                            .or_default()
                            .push(hash);
                        self.certs.insert(hash, (c, carrier));
                    }
                }
                Record::Revocation(r) => {
                    if let Ok(true) = self.check_revocation(&r) {
                        self.revocations.insert(r.hash(), (r, carrier));
                    }
                }
                Record::Device(dev) if dev.value().coop == self.coop => {
                    self.devices.insert(dev.hash(), (dev, carrier));
                }
                _ => {}
            }
        }
        self.derive();
    }

    /// Recomputes what the statements held mean (see [`Membership`]).
    fn derive(&mut self) {
        self.derive_chain();
        let mut d = Derived::default();
        let founder = self.genesis.value().founder;
        // Layer 1: statements a co-op key signed in a valid entry of its own log.
        let by_coop_key = |signer: &PublicKey, carrier: &Carrier| {
            carrier.log.author == *signer
                && self.coop_key_keeps(&carrier.log, carrier.seq) == Some(true)
        };
        for (hash, (cert, carrier)) in &self.certs {
            let c = cert.value();
            if c.parent.is_none() && by_coop_key(&c.signer, carrier) {
                d.coop_grants.entry(c.subject).or_default().push(Grant {
                    role: c.role,
                    expires: c.expires,
                    cert: *hash,
                });
            }
        }
        for (hash, (rev, carrier)) in &self.revocations {
            let r = rev.value();
            if by_coop_key(&r.signer, carrier) {
                d.coop_cuts.entry(r.subject).or_default().push(*hash);
            }
        }
        // Layer 2: statements an admin signed in its own log where rule 1 makes it an admin.
        let admin_at = |d: &Derived, signer: &PublicKey, carrier: &Carrier| {
            carrier.log.author == *signer
                && self.coop_key_epoch(signer).is_none()
                && !self.cut(&d.coop_cuts, &carrier.log, carrier.seq)
                && (*signer == founder
                    || d.coop_grants.get(signer).is_some_and(|gs| {
                        gs.iter()
                            .any(|g| g.role == Role::Admin && g.holds_at(carrier.at))
                    }))
        };
        let mut admin_grants: HashMap<PublicKey, Vec<Grant>> = HashMap::new();
        for (hash, (cert, carrier)) in &self.certs {
            let c = cert.value();
            let Some(parent) = c.parent else { continue };
            let parent_ok = (c.signer == founder && parent == self.coop.0)
                || d.coop_grants
                    .get(&c.signer)
                    .is_some_and(|gs| gs.iter().any(|g| g.cert == parent && g.role == Role::Admin));
            if parent_ok && c.role < Role::Admin && admin_at(&d, &c.signer, carrier) {
                admin_grants.entry(c.subject).or_default().push(Grant {
                    role: c.role,
                    expires: c.expires,
                    cert: *hash,
                });
            }
        }
        let mut admin_cuts: HashMap<PublicKey, Vec<Hash>> = HashMap::new();
        for (hash, (rev, carrier)) in &self.revocations {
            let r = rev.value();
            if admin_at(&d, &r.signer, carrier) {
                admin_cuts.entry(r.subject).or_default().push(*hash);
            }
        }
        d.admin_grants = admin_grants;
        d.admin_cuts = admin_cuts;
        // Layer 3: a member's device link counts where the member holds a role by rules 1
        // and 2 (so no device links another); a key two members claim counts for neither.
        let mut owners: HashMap<PublicKey, BTreeSet<PublicKey>> = HashMap::new();
        for (dev, carrier) in self.devices.values() {
            let v = dev.value();
            if carrier.log.author == v.signer
                && v.device_key != v.signer
                && self.coop_key_epoch(&v.signer).is_none()
                && self.coop_key_epoch(&v.device_key).is_none()
                && self
                    .member_authority(&d, &carrier.log, carrier.seq, carrier.at)
                    .is_ok()
            {
                owners.entry(v.device_key).or_default().insert(v.signer);
            }
        }
        d.device_owner = owners
            .into_iter()
            .filter(|(_, o)| o.len() == 1)
            .filter_map(|(dev, o)| Some((dev, *o.first()?)))
            .collect();
        let mut device_cuts: HashMap<PublicKey, Vec<Hash>> = HashMap::new();
        for (hash, (rev, carrier)) in &self.revocations {
            let r = rev.value();
            if d.device_owner.get(&r.subject) == Some(&r.signer)
                && carrier.log.author == r.signer
                && self
                    .member_authority(&d, &carrier.log, carrier.seq, carrier.at)
                    .is_ok()
            {
                device_cuts.entry(r.subject).or_default().push(*hash);
            }
        }
        d.device_cuts = device_cuts;
        // In a fixed order, so two derivations of the same statements compare equal.
        for grants in d
            .coop_grants
            .values_mut()
            .chain(d.admin_grants.values_mut())
        {
            grants.sort_by_key(|g| g.cert);
        }
        for cuts in d
            .coop_cuts
            .values_mut()
            .chain(d.admin_cuts.values_mut())
            .chain(d.device_cuts.values_mut())
        {
            cuts.sort();
        }
        self.derived = d;
    }

    /// Whether a revocation among `cuts` ends entry `seq` of `log`.
    fn cut(&self, cuts: &HashMap<PublicKey, Vec<Hash>>, log: &LogId, seq: u64) -> bool {
        cuts.get(&log.author).is_some_and(|hs| {
            hs.iter().any(|h| {
                self.revocations
                    .get(h)
                    .is_some_and(|(r, _)| !r.value().allows(log.device, seq))
            })
        })
    }

    /// The keys whose right to write may differ between `before` and now: only their logs can
    /// hold entries a change of statements voids. `None` when the co-op keys changed, which
    /// can affect every log.
    pub fn authors_changed_since(&self, before: &Membership) -> Option<BTreeSet<PublicKey>> {
        if self.conflict != before.conflict || self.rotations().ne(before.rotations()) {
            return None;
        }
        let (now, then) = (&self.derived, &before.derived);
        let mut out = BTreeSet::new();
        changed(&now.coop_grants, &then.coop_grants, &mut out);
        changed(&now.admin_grants, &then.admin_grants, &mut out);
        changed(&now.coop_cuts, &then.coop_cuts, &mut out);
        changed(&now.admin_cuts, &then.admin_cuts, &mut out);
        changed(&now.device_cuts, &then.device_cuts, &mut out);
        changed(&now.device_owner, &then.device_owner, &mut out);
        // A device writes with its member's authority.
        for (device, owner) in now.device_owner.iter().chain(&then.device_owner) {
            if out.contains(owner) {
                out.insert(*device);
            }
        }
        Some(out)
    }

    /// Decides whether entry `seq` of `log`, stamped `at`, may be written, and with what role
    /// (see the rules on [`Membership`]). A co-op key's own log is written with the admin
    /// role; what it may carry is checked by validation.
    pub fn authorize(&self, log: &LogId, seq: u64, at: Timestamp) -> Result<Role, MembershipError> {
        let revoked = || MembershipError::Revoked {
            key: log.author.to_string(),
            device: log.device,
            seq,
        };
        if let Some(keeps) = self.coop_key_keeps(log, seq) {
            return if keeps {
                Ok(Role::Admin)
            } else {
                Err(revoked())
            };
        }
        let d = &self.derived;
        if let Some(owner) = d.device_owner.get(&log.author) {
            // Its own revocations (by the co-op key, an admin or its member), then its
            // member's: the device's log counts as one of the member's devices.
            if [&d.coop_cuts, &d.admin_cuts, &d.device_cuts]
                .into_iter()
                .any(|cuts| self.cut(cuts, log, seq))
            {
                return Err(revoked());
            }
            let as_member = LogId {
                author: *owner,
                device: log.device,
            };
            return self
                .member_authority(d, &as_member, seq, at)
                .map(|role| role.min(Role::Coordinator));
        }
        self.member_authority(d, log, seq, at)
    }

    /// Rules 1 and 2 for entry `seq` of `log` by a member key, over the state `d`.
    fn member_authority(
        &self,
        d: &Derived,
        log: &LogId,
        seq: u64,
        at: Timestamp,
    ) -> Result<Role, MembershipError> {
        let revoked = || MembershipError::Revoked {
            key: log.author.to_string(),
            device: log.device,
            seq,
        };
        if self.cut(&d.coop_cuts, log, seq) {
            return Err(revoked());
        }
        let admin_cut = self.cut(&d.admin_cuts, log, seq);
        self.best_role(d, &log.author, at, admin_cut).map_err(|e| {
            if admin_cut {
                MembershipError::RevokedByAdmin {
                    key: log.author.to_string(),
                    device: log.device,
                    seq,
                }
            } else {
                e
            }
        })
    }

    /// The highest role `key` holds for an entry stamped `at` in a log that no revocation has
    /// cut yet: what a new entry of a new device could be written with. A key with a
    /// co-op revocation in effect holds none.
    pub fn role_at(&self, key: &PublicKey, t: Timestamp) -> Result<Role, MembershipError> {
        let d = &self.derived;
        let revoked = |by| MembershipError::KeyRevoked {
            key: key.to_string(),
            by,
        };
        if d.coop_cuts.contains_key(key) {
            return Err(revoked("the co-op key"));
        }
        if let Some(owner) = d.device_owner.get(key) {
            if d.admin_cuts.contains_key(key) {
                return Err(revoked("an admin"));
            }
            if d.device_cuts.contains_key(key) {
                return Err(revoked("its member"));
            }
            return self.role_at(owner, t).map(|r| r.min(Role::Coordinator));
        }
        let admin_cut = d.admin_cuts.contains_key(key);
        self.best_role(d, key, t, admin_cut)
            .map_err(|e| if admin_cut { revoked("an admin") } else { e })
    }

    fn best_role(
        &self,
        d: &Derived,
        key: &PublicKey,
        at: Timestamp,
        without_admin_grants: bool,
    ) -> Result<Role, MembershipError> {
        if *key == self.genesis.value().founder {
            return Ok(Role::Admin);
        }
        let mut grants: Vec<&Grant> = d.coop_grants.get(key).into_iter().flatten().collect();
        if !without_admin_grants {
            grants.extend(d.admin_grants.get(key).into_iter().flatten());
        }
        if grants.is_empty() {
            return Err(MembershipError::NotAMember(key.to_string()));
        }
        grants
            .iter()
            .filter(|g| g.holds_at(at))
            .map(|g| g.role)
            .max()
            .ok_or_else(|| MembershipError::NotValidAt(key.to_string(), at))
    }

    /// Keys whose certificates in effect have all expired by `now` and that no revocation
    /// ends yet, each with whether only the co-op key can end it (its role came from the
    /// co-op key). An admin's node revokes them with cut-offs at what it holds: a claimed
    /// timestamp can be backdated, so expiry alone cannot stop an expired member whose clock
    /// was set back; the revocation does, on every node the same way.
    pub fn expired(&self, now: Timestamp) -> Vec<(PublicKey, bool)> {
        let d = &self.derived;
        let lapsed = |grants: Option<&Vec<Grant>>| {
            grants.is_some_and(|gs| !gs.is_empty() && gs.iter().all(|g| !g.holds_at(now)))
        };
        let mut out = Vec::new();
        for key in self.by_subject.keys() {
            if *key == self.genesis.value().founder || d.coop_cuts.contains_key(key) {
                continue;
            }
            let by_coop = d.coop_grants.get(key);
            let by_admin = d
                .admin_grants
                .get(key)
                .filter(|_| !d.admin_cuts.contains_key(key));
            let holds =
                |g: Option<&Vec<Grant>>| g.is_some_and(|gs| gs.iter().any(|g| g.holds_at(now)));
            if holds(by_coop) || holds(by_admin) {
                continue;
            }
            if lapsed(by_coop) {
                out.push((*key, true));
            } else if lapsed(by_admin) {
                out.push((*key, false));
            }
        }
        out.sort();
        out
    }

    /// Every key that holds a role at `t`, with its highest (for listings).
    pub fn members_at(&self, t: Timestamp) -> BTreeMap<PublicKey, Role> {
        let mut out = BTreeMap::new();
        out.insert(self.genesis.value().founder, Role::Admin);
        for key in self
            .by_subject
            .keys()
            .chain(self.derived.device_owner.keys())
        {
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
