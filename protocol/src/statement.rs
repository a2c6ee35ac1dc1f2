//! Commitments as signed statements: pledges, acceptances and deliveries, and the bundles that
//! let anyone verify one offline.
//!
//! A commitment is never edited: cancelling or correcting one is a new statement that
//! references it (Valueflows' append-only rule).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::canonical::{Canon, CanonError, Fields, Signed, Statement};
use crate::coop::{Genesis, Rotation};
use crate::fund::{Approval, Confirmation, Fund, Loan, Report, Transfer};
use crate::ids::{CoopId, RecordRef};
use crate::keys::{PublicKey, Signature};
use crate::membership::{Certificate, Device, Membership, MembershipError, Role};
use crate::quantity::Quantity;
use crate::record::Record;
use crate::time::Timestamp;

/// A co-op's signed promise to meet (part of) another co-op's need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pledge {
    /// The member who pledges.
    pub signer: PublicKey,
    /// The pledging co-op.
    pub coop: CoopId,
    /// The need it answers.
    pub need: RecordRef,
    /// The offer it draws on, if any.
    pub offer: Option<RecordRef>,
    /// How much.
    pub quantity: Quantity,
    /// By when it will be delivered.
    pub due: Option<Timestamp>,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Pledge {
    const KIND: &'static str = "pledge";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("need", self.need)
            .opt("offer", self.offer)
            .field("quantity", self.quantity)
            .opt("due", self.due)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Pledge {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            need: f.req("need")?,
            offer: f.opt("offer")?,
            quantity: f.req("quantity")?,
            due: f.opt("due")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// The receiving co-op's answer to a pledge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The pledge is welcome.
    Accept,
    /// The pledge is refused; it no longer counts toward the need.
    Decline,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Accept => "accept",
            Decision::Decline => "decline",
        })
    }
}

impl FromStr for Decision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "accept" => Ok(Decision::Accept),
            "decline" => Ok(Decision::Decline),
            _ => Err("expected accept or decline".into()),
        }
    }
}

/// The receiving co-op accepts or declines a pledge (a clause of a Valueflows Agreement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The member who answers.
    pub signer: PublicKey,
    /// The receiving co-op.
    pub coop: CoopId,
    /// The pledge answered.
    pub pledge: RecordRef,
    /// Accept or decline.
    pub decision: Decision,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Acceptance {
    const KIND: &'static str = "acceptance";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("pledge", self.pledge)
            .field("decision", self.decision)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Acceptance {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            pledge: f.req("pledge")?,
            decision: f.req("decision")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// The pledging co-op takes back a pledge it made: a new signed statement that references it,
/// never an edit (Valueflows' append-only rule). What was delivered before stands; the rest no
/// longer counts toward the need or the offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancellation {
    /// The member who cancels.
    pub signer: PublicKey,
    /// The pledging co-op (the pledge's own).
    pub coop: CoopId,
    /// The pledge cancelled.
    pub pledge: RecordRef,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Cancellation {
    const KIND: &'static str = "cancellation";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("pledge", self.pledge)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Cancellation {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            pledge: f.req("pledge")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// The receiver confirms what actually arrived (a Valueflows EconomicEvent fulfilling the
/// pledge). Partial deliveries add up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The member who confirms.
    pub signer: PublicKey,
    /// The receiving co-op.
    pub coop: CoopId,
    /// The pledge fulfilled.
    pub pledge: RecordRef,
    /// How much arrived.
    pub quantity: Quantity,
    /// When it arrived.
    pub received: Timestamp,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Delivery {
    const KIND: &'static str = "delivery";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("pledge", self.pledge)
            .field("quantity", self.quantity)
            .field("received", self.received)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Delivery {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            pledge: f.req("pledge")?,
            quantity: f.req("quantity")?,
            received: f.req("received")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// One signed statement as it travels in a bundle: the exact bytes (base64) and signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedPart {
    /// The canonical statement bytes, base64.
    pub statement: String,
    /// The ed25519 signature over those bytes, base64.
    pub signature: Signature,
}

impl SignedPart {
    /// The part carrying `s`.
    pub fn of<T: Statement>(s: &Signed<T>) -> SignedPart {
        SignedPart {
            statement: B64.encode(s.bytes()),
            signature: *s.signature(),
        }
    }

    /// Decodes and verifies the statement; `what` names it in errors.
    pub fn open<T: Statement>(&self, what: &'static str) -> Result<Signed<T>, BundleError> {
        if self.statement.len() > crate::canonical::MAX_STATEMENT_BYTES * 2 {
            return Err(BundleError::Part {
                what,
                source: CanonError::TooLarge(self.statement.len()),
            });
        }
        let bytes = B64
            .decode(&self.statement)
            .map_err(|_| BundleError::Base64(what))?;
        Signed::verify(&bytes, self.signature).map_err(|source| BundleError::Part { what, source })
    }
}

/// A commitment with everything needed to check it offline: the statement, the co-op's
/// genesis and key rotations, and the signer's certificate chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bundle {
    /// Always `minga-bundle/1`.
    pub format: String,
    /// The statement's kind: `pledge`, `acceptance`, `delivery`, `cancellation`, or a fund's
    /// `fund`, `loan`, `approval`, `transfer`, `report` or `confirmation`.
    pub kind: String,
    /// The commitment.
    pub commitment: SignedPart,
    /// The signer's public key as SPKI PEM, so `openssl pkeyutl -verify` can check the
    /// commitment without minga; it must be the key the statement names.
    pub signer_pem: String,
    /// The signer's co-op genesis.
    pub genesis: SignedPart,
    /// The co-op key rotations, in order.
    #[serde(default)]
    pub rotations: Vec<SignedPart>,
    /// The signer's certificate chain, signer's own first (empty for the founder); for a
    /// device, its member's chain.
    #[serde(default)]
    pub certificates: Vec<SignedPart>,
    /// When a member's device signed: the member's link to that device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<SignedPart>,
}

/// The largest bundle file accepted.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024;
const BUNDLE_FORMAT: &str = "minga-bundle/1";

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not JSON of the bundle's shape.
    #[error("not a minga bundle: {0}")]
    Json(String),
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error("bundle is {0} bytes, more than the limit of {MAX_BUNDLE_BYTES}")]
    TooLarge(usize),
    /// An unknown format or kind.
    #[error("unsupported bundle format {0:?}")]
    Format(String),
    /// A part is not base64.
    #[error("the {0} is not valid base64")]
    Base64(&'static str),
    /// A part is not a valid signed statement.
    #[error("the {what} is invalid: {source}")]
    Part {
        /// Which part.
        what: &'static str,
        /// Why.
        source: CanonError,
    },
    /// The PEM key is not the statement's signer.
    #[error("signer_pem is not the key that signed the commitment")]
    SignerPem,
    /// Too many parts.
    #[error("the bundle has more than {0} certificates or rotations")]
    TooManyParts(usize),
    /// The commitment names another co-op than the genesis founds.
    #[error("the commitment is for co-op {found}, but the genesis founds {expected}")]
    WrongCoop {
        /// The genesis's co-op.
        expected: CoopId,
        /// The commitment's co-op.
        found: CoopId,
    },
    /// The chain does not make the signer a member when it signed.
    #[error("the signer's membership does not check out: {0}")]
    Membership(#[from] MembershipError),
}

/// Defines [`Commitment`], one variant per kind of statement a bundle carries, and the
/// accessors every kind shares, from one list.
macro_rules! commitments {
    ($($(#[$doc:meta])* $variant:ident),* $(,)?) => {
        /// A signed statement of any kind a bundle carries: commitments between co-ops, and
        /// a revolving fund's statements.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Commitment {
            $($(#[$doc])* $variant(Signed<$variant>),)*
        }

        impl Commitment {
            /// The kind's name.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Commitment::$variant(_) => $variant::KIND,)*
                }
            }

            /// Who signed it.
            pub fn signer(&self) -> PublicKey {
                match self {
                    $(Commitment::$variant(s) => s.value().signer,)*
                }
            }

            /// For which co-op.
            pub fn coop(&self) -> CoopId {
                match self {
                    $(Commitment::$variant(s) => s.value().coop,)*
                }
            }

            /// When it was signed.
            pub fn issued(&self) -> Timestamp {
                match self {
                    $(Commitment::$variant(s) => s.value().issued,)*
                }
            }

            /// The signed bytes and signature.
            pub fn signed_bytes(&self) -> (&[u8], &Signature) {
                match self {
                    $(Commitment::$variant(s) => (s.bytes(), s.signature()),)*
                }
            }

            fn part(&self) -> SignedPart {
                match self {
                    $(Commitment::$variant(s) => SignedPart::of(s),)*
                }
            }

            /// Opens a bundle's statement of the kind it names.
            fn open(kind: &str, part: &SignedPart) -> Result<Commitment, BundleError> {
                match kind {
                    $($variant::KIND => Ok(Commitment::$variant(part.open("commitment")?)),)*
                    other => Err(BundleError::Format(other.chars().take(40).collect())),
                }
            }

            /// The commitment a record carries, if it is of a kind that has bundles.
            pub fn of_record(record: Record) -> Option<Commitment> {
                match record {
                    $(Record::$variant(s) => Some(Commitment::$variant(s)),)*
                    _ => None,
                }
            }
        }
    };
}

commitments! {
    /// A pledge.
    Pledge,
    /// An acceptance or decline.
    Acceptance,
    /// A delivery confirmation.
    Delivery,
    /// A pledge taken back by its own co-op.
    Cancellation,
    /// A revolving fund founded.
    Fund,
    /// A loan proposed to a fund.
    Loan,
    /// A steward's decision on a loan.
    Approval,
    /// Money into or out of a fund.
    Transfer,
    /// A borrower's period report.
    Report,
    /// A transfer confirmed by its receiver.
    Confirmation,
}

/// Checks one certificate of a bundle: it names `subject` and the co-op, and has not expired
/// by the time the commitment claims.
fn check_offline(
    cert: &Signed<Certificate>,
    subject: &PublicKey,
    at: Timestamp,
    coop: CoopId,
) -> Result<(), BundleError> {
    let c = cert.value();
    if c.coop != coop {
        return Err(MembershipError::WrongCoop {
            expected: coop,
            found: c.coop,
        }
        .into());
    }
    if c.subject != *subject {
        return Err(MembershipError::NotAMember(subject.to_string()).into());
    }
    if c.expires.is_some_and(|e| at >= e) {
        return Err(MembershipError::NotValidAt(subject.to_string(), at).into());
    }
    Ok(())
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The commitment.
    pub commitment: Commitment,
    /// The co-op's name from its genesis.
    pub coop_name: String,
    /// The signer's role when it signed.
    pub role: Role,
    /// The hash of the signer's own certificate (the co-op id for the founder).
    pub certificate: crate::hash::Hash,
}

impl Bundle {
    /// Bundles a commitment with the proofs from a co-op's membership.
    pub fn new(commitment: &Commitment, membership: &Membership) -> Bundle {
        let device = membership.device_link(&commitment.signer());
        let signer = device.map_or(commitment.signer(), |d| d.value().signer);
        let at = commitment.issued();
        let mut certificates = Vec::new();
        // The signer's own certificate valid at signing, then its issuer's if an admin signed.
        let own = membership
            .certificates_of(&signer)
            .filter(|c| {
                let v = c.value();
                v.issued <= at && v.expires.is_none_or(|e| at < e)
            })
            .max_by_key(|c| c.value().role);
        if let Some(cert) = own {
            certificates.push(SignedPart::of(cert));
            if let Some(parent) = cert.value().parent.and_then(|p| membership.certificate(&p)) {
                certificates.push(SignedPart::of(parent));
            }
        }
        Bundle {
            format: BUNDLE_FORMAT.into(),
            kind: commitment.kind().into(),
            commitment: commitment.part(),
            signer_pem: commitment.signer().to_spki_pem(),
            genesis: SignedPart::of(membership.genesis()),
            rotations: membership.rotations().map(SignedPart::of).collect(),
            certificates,
            device: device.map(SignedPart::of),
        }
    }

    /// Parses a bundle from JSON, within [`MAX_BUNDLE_BYTES`].
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))
    }

    /// The bundle as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and vectors cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Verifies everything offline. Rules checked:
    /// 1. the format is known and the commitment's signature verifies over canonical bytes;
    /// 2. the genesis verifies and founds the co-op the commitment names;
    /// 3. each rotation verifies and continues the chain of co-op keys;
    /// 4. the signer is the founder, or its certificate verifies and is signed by a co-op key,
    ///    or by an admin (a member or coordinator certificate) whose own certificate, the
    ///    bundle's second, is an admin certificate signed by a co-op key, or by the founder;
    /// 5. each certificate names the co-op and has not expired by the commitment's own time.
    ///
    /// A bundle proves membership at signing time; whether the key was revoked later is a
    /// fact of the ledger, which a node checks.
    pub fn verify(&self) -> Result<Verified, BundleError> {
        if self.format != BUNDLE_FORMAT {
            return Err(BundleError::Format(self.format.clone()));
        }
        if self.rotations.len() > 64 || self.certificates.len() > 2 {
            return Err(BundleError::TooManyParts(64));
        }
        let commitment = Commitment::open(&self.kind, &self.commitment)?;
        if self.signer_pem != commitment.signer().to_spki_pem() {
            return Err(BundleError::SignerPem);
        }
        let genesis: Signed<Genesis> = self.genesis.open("genesis")?;
        let coop_name = genesis.value().name.clone();
        let coop = genesis.coop_id();
        if commitment.coop() != coop {
            return Err(BundleError::WrongCoop {
                expected: coop,
                found: commitment.coop(),
            });
        }
        // The chain of co-op keys: each rotation signed by the key before it.
        let mut coop_keys = vec![genesis.value().coop_key];
        for (i, r) in self.rotations.iter().enumerate() {
            let r: Signed<Rotation> = r.open("rotation")?;
            let v = r.value();
            let found = v.number;
            if v.coop != coop || found as usize != i + 1 || Some(&v.signer) != coop_keys.last() {
                return Err(MembershipError::RotationOutOfOrder {
                    have: i as u32,
                    found,
                }
                .into());
            }
            coop_keys.push(v.new_key);
        }
        let at = commitment.issued();
        // A device signs for its member: the link names the device, the member signs it, and
        // the member's chain follows.
        let (signer, device) = match &self.device {
            None => (commitment.signer(), false),
            Some(part) => {
                let link: Signed<Device> = part.open("device")?;
                let v = link.value();
                if v.coop != coop || v.device_key != commitment.signer() {
                    return Err(MembershipError::NotAMember(commitment.signer().to_string()).into());
                }
                (v.signer, true)
            }
        };
        let founder = genesis.value().founder;
        let (role, certificate) = if signer == founder {
            (Role::Admin, coop.0)
        } else {
            let certs = self
                .certificates
                .iter()
                .map(|c| c.open::<Certificate>("certificate"))
                .collect::<Result<Vec<_>, _>>()?;
            let own = certs.first().ok_or_else(|| {
                BundleError::Membership(MembershipError::NotAMember(signer.to_string()))
            })?;
            check_offline(own, &signer, at, coop)?;
            let by_coop_key = coop_keys.contains(&own.value().signer);
            match own.value().parent {
                None if by_coop_key => {}
                Some(p) if !by_coop_key && p == coop.0 && own.value().signer == founder => {}
                Some(p) if !by_coop_key => {
                    let issuer = certs
                        .get(1)
                        .filter(|c| c.hash() == p)
                        .ok_or(BundleError::Membership(MembershipError::BadParent))?;
                    check_offline(issuer, &own.value().signer, at, coop)?;
                    if issuer.value().parent.is_some()
                        || !coop_keys.contains(&issuer.value().signer)
                        || issuer.value().role != Role::Admin
                    {
                        return Err(MembershipError::BadParent.into());
                    }
                }
                _ => return Err(MembershipError::BadParent.into()),
            }
            if !by_coop_key && own.value().role == Role::Admin {
                return Err(MembershipError::AdminByAdmin.into());
            }
            (own.value().role, own.hash())
        };
        let role = if device {
            role.min(Role::Coordinator)
        } else {
            role
        };
        Ok(Verified {
            commitment,
            coop_name,
            role,
            certificate,
        })
    }
}
