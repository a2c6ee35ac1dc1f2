//! Records: offers, needs, pledges, acceptances, deliveries, profiles, and the membership
//! statements, each stored as its own small automerge document.
//!
//! Offers, needs and profiles are editable: each field is its own key in the document's root
//! map, so two coordinators editing different fields offline both keep their edits, and the
//! same field resolves by automerge's rule. A quantity and its unit share one key ("300 kg"),
//! as do a point's coordinates, so a merge never pairs one side's number with the other's
//! unit. Commitments and membership statements are written once, as signed bytes.

use std::str::FromStr;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ReadDoc};
use rust_decimal::Decimal;

use crate::canonical::{CanonError, Signed};
use crate::coop::{Genesis, Rotation};
use crate::fund::{Approval, Confirmation, Fund, Loan, Report, Transfer};
use crate::ids::{CoopId, RecordRef};
use crate::keys::PublicKey;
use crate::membership::{Certificate, Device, Revocation, Role};
use crate::network::{Expel, NetworkGenesis, Unvouch, Vouch};
use crate::quantity::Quantity;
use crate::record_doc::{
    DocReader, Field, FieldList, location_fields, os, ots, s, statement_fields,
};
use crate::resource::{Category, Location, TimeWindow, Urgency};
use crate::statement::{Acceptance, Cancellation, Delivery, Pledge};
use crate::time::Timestamp;

/// The longest title or name, in bytes.
pub const MAX_TITLE_BYTES: usize = 200;
/// The longest free text (notes, description, contact), in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;

/// The kinds of record.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// What a co-op can give.
    Offer,
    /// What a co-op lacks.
    Need,
    /// A promise to meet a need.
    Pledge,
    /// The receiver's answer to a pledge.
    Acceptance,
    /// The receiver's confirmation of what arrived.
    Delivery,
    /// The co-op's public profile.
    Profile,
    /// A membership certificate.
    Certificate,
    /// A revocation of a member key.
    Revocation,
    /// A rotation of the co-op key.
    Rotation,
    /// A pledge taken back by its own co-op.
    Cancellation,
    /// A member's other device.
    Device,
    /// A revolving fund.
    Fund,
    /// A loan proposed to a fund.
    Loan,
    /// A steward's decision on a loan.
    Approval,
    /// Money into or out of a fund.
    Transfer,
    /// A borrower's period report.
    Report,
    /// The receiving side's confirmation of a transfer.
    Confirmation,
    /// A co-op's contact details, sealed to its counterpart in an accepted pledge.
    Contact,
    /// A network's founding statement.
    Network,
    /// A vouch for a co-op that asked to join a network.
    Vouch,
    /// A vouch taken back.
    Unvouch,
    /// A signature for expelling a co-op from a network.
    Expel,
}

impl RecordKind {
    /// Every kind.
    ///
    /// Stored views name a kind by its index here: new kinds go at the end.
    pub const ALL: [RecordKind; 22] = [
        RecordKind::Offer,
        RecordKind::Need,
        RecordKind::Pledge,
        RecordKind::Acceptance,
        RecordKind::Delivery,
        RecordKind::Profile,
        RecordKind::Certificate,
        RecordKind::Revocation,
        RecordKind::Rotation,
        RecordKind::Cancellation,
        RecordKind::Device,
        RecordKind::Fund,
        RecordKind::Loan,
        RecordKind::Approval,
        RecordKind::Transfer,
        RecordKind::Report,
        RecordKind::Confirmation,
        RecordKind::Contact,
        RecordKind::Network,
        RecordKind::Vouch,
        RecordKind::Unvouch,
        RecordKind::Expel,
    ];

    /// The name stored in documents.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Offer => "offer",
            RecordKind::Need => "need",
            RecordKind::Pledge => "pledge",
            RecordKind::Acceptance => "acceptance",
            RecordKind::Delivery => "delivery",
            RecordKind::Profile => "profile",
            RecordKind::Certificate => "certificate",
            RecordKind::Revocation => "revocation",
            RecordKind::Rotation => "rotation",
            RecordKind::Cancellation => "cancellation",
            RecordKind::Device => "device",
            RecordKind::Fund => "fund",
            RecordKind::Loan => "loan",
            RecordKind::Approval => "approval",
            RecordKind::Transfer => "transfer",
            RecordKind::Report => "report",
            RecordKind::Confirmation => "confirmation",
            RecordKind::Contact => "contact",
            RecordKind::Network => "network",
            RecordKind::Vouch => "vouch",
            RecordKind::Unvouch => "unvouch",
            RecordKind::Expel => "expel",
        }
    }

    /// The role an author needs to write a record of this kind.
    pub fn min_role(self) -> Role {
        match self {
            RecordKind::Offer
            | RecordKind::Need
            | RecordKind::Pledge
            | RecordKind::Acceptance
            | RecordKind::Delivery
            | RecordKind::Cancellation
            | RecordKind::Device
            | RecordKind::Contact => Role::Member,
            // A member revokes its own devices; whose revocation counts for what is decided
            // from where it was written (see `Membership`), so the entry needs no more.
            RecordKind::Revocation => Role::Member,
            RecordKind::Profile | RecordKind::Certificate | RecordKind::Rotation => Role::Admin,
            // Founding a fund and deciding on its loans are for a co-op's admins; the
            // bookkeeping (proposals, transfers, reports, confirmations) for its coordinators.
            RecordKind::Fund | RecordKind::Approval => Role::Admin,
            // Who is in a network is decided by the admins of its co-ops.
            RecordKind::Network | RecordKind::Vouch | RecordKind::Unvouch | RecordKind::Expel => {
                Role::Admin
            }
            RecordKind::Loan
            | RecordKind::Transfer
            | RecordKind::Report
            | RecordKind::Confirmation => Role::Coordinator,
        }
    }

    /// Whether a listing shows records of this kind when it names no kind: offers, needs,
    /// profiles and the commitments between co-ops.
    pub fn is_listed_by_default(self) -> bool {
        !(self.is_membership()
            || self.is_fund()
            || self.is_network()
            || self == RecordKind::Contact)
    }

    /// Whether records of this kind are a network's admission statements.
    pub fn is_network(self) -> bool {
        matches!(
            self,
            RecordKind::Network | RecordKind::Vouch | RecordKind::Unvouch | RecordKind::Expel
        )
    }

    /// Whether records of this kind are a fund's statements.
    pub fn is_fund(self) -> bool {
        matches!(
            self,
            RecordKind::Fund
                | RecordKind::Loan
                | RecordKind::Approval
                | RecordKind::Transfer
                | RecordKind::Report
                | RecordKind::Confirmation
        )
    }

    /// Whether records of this kind are membership statements, which decide who may write.
    pub fn is_membership(self) -> bool {
        matches!(
            self,
            RecordKind::Certificate
                | RecordKind::Revocation
                | RecordKind::Rotation
                | RecordKind::Device
        )
    }

    /// Whether records of this kind are written once and never edited.
    pub fn is_immutable(self) -> bool {
        !matches!(
            self,
            RecordKind::Offer | RecordKind::Need | RecordKind::Profile
        )
    }
}

impl FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown record kind {:?}",
                    s.chars().take(40).collect::<String>()
                )
            })
    }
}

/// What a co-op can give (a Valueflows Proposal with purpose offer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// A short title.
    pub title: String,
    /// What kind of resource.
    pub category: Category,
    /// How much is available.
    pub quantity: Quantity,
    /// The least worth arranging, if any.
    pub minimum: Option<Quantity>,
    /// Where, and how far the co-op can deliver.
    pub location: Option<Location>,
    /// When it is available.
    pub available: TimeWindow,
    /// When it stops showing.
    pub expires: Option<Timestamp>,
    /// Free text.
    pub notes: Option<String>,
    /// Withdrawn by the co-op.
    pub withdrawn: bool,
}

impl Offer {
    /// An offer of `quantity` with nothing else said: no minimum, anywhere, available now
    /// and until withdrawn. Set the other fields with struct update syntax.
    pub fn new(title: impl Into<String>, category: Category, quantity: Quantity) -> Offer {
        Offer {
            title: title.into(),
            category,
            quantity,
            minimum: None,
            location: None,
            available: TimeWindow::default(),
            expires: None,
            notes: None,
            withdrawn: false,
        }
    }
}

/// What a co-op lacks (a Valueflows Proposal with purpose request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    /// A short title.
    pub title: String,
    /// What kind of resource.
    pub category: Category,
    /// How much is needed.
    pub quantity: Quantity,
    /// Where.
    pub location: Option<Location>,
    /// When it is needed (its end is the needed-by date).
    pub needed: TimeWindow,
    /// How pressing.
    pub urgency: Urgency,
    /// When it stops showing.
    pub expires: Option<Timestamp>,
    /// Free text.
    pub notes: Option<String>,
    /// Withdrawn by the co-op.
    pub withdrawn: bool,
}

/// A co-op's public profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The co-op's name as it presents itself now.
    pub name: String,
    /// What the co-op does.
    pub description: Option<String>,
    /// Where it is.
    pub location: Option<Location>,
    /// How to reach it (public).
    pub contact: Option<String>,
}

/// Any record, as read from its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An offer.
    Offer(Offer),
    /// A need.
    Need(Need),
    /// A pledge.
    Pledge(Signed<Pledge>),
    /// An acceptance or decline.
    Acceptance(Signed<Acceptance>),
    /// A delivery confirmation.
    Delivery(Signed<Delivery>),
    /// The co-op profile.
    Profile(Profile),
    /// A membership certificate.
    Certificate(Signed<Certificate>),
    /// A revocation.
    Revocation(Signed<Revocation>),
    /// A co-op key rotation.
    Rotation(Signed<Rotation>),
    /// A pledge's cancellation.
    Cancellation(Signed<Cancellation>),
    /// A member's other device.
    Device(Signed<Device>),
    /// A revolving fund.
    Fund(Signed<Fund>),
    /// A loan proposal.
    Loan(Signed<Loan>),
    /// A steward's decision.
    Approval(Signed<Approval>),
    /// A transfer of money.
    Transfer(Signed<Transfer>),
    /// A period report.
    Report(Signed<Report>),
    /// A transfer's confirmation.
    Confirmation(Signed<Confirmation>),
    /// Contact details sealed to a counterpart.
    Contact(SealedContact),
    /// A network's genesis.
    Network(Signed<NetworkGenesis>),
    /// A vouch, with the genesis of the co-op vouched for.
    Vouch(Box<VouchRecord>),
    /// A vouch taken back.
    Unvouch(Signed<Unvouch>),
    /// A signature for an expulsion, with its cut-offs.
    Expel(ExpelRecord),
}

/// A vouch as a record: the signed vouch and the signed genesis of the co-op it names, so a
/// node that admits that co-op can start replicating it with nothing handed around.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VouchRecord {
    /// The vouch.
    pub vouch: Signed<Vouch>,
    /// The subject's genesis (its hash is the subject's id).
    pub genesis: Signed<Genesis>,
}

/// An expulsion as a record: the signed statement and the cut-offs its hash names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpelRecord {
    /// The statement.
    pub expel: Signed<Expel>,
    /// The cut-offs' bytes ([`crate::network::encode_cutoffs`]).
    pub cutoffs: Vec<u8>,
}

/// A co-op's contact details sealed to the members of the other side of an accepted pledge
/// (the bytes are laid out in [`crate::contact`]). Written once; the entry that carries it is
/// signed by its author, like every record's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedContact {
    /// The accepted pledge.
    pub pledge: RecordRef,
    /// The co-op whose members can open it.
    pub to: CoopId,
    /// The sealed boxes.
    pub sealed: Vec<u8>,
}

/// Why a document is not a valid record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(String),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field holds the wrong type.
    #[error("field `{field}` should be {expected}")]
    WrongType {
        /// The field.
        field: String,
        /// The type it should have.
        expected: &'static str,
    },
    /// A field's value is invalid.
    #[error("field `{field}`: {reason}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A field this version does not know.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// An edit that changes nothing (no entry is written for it).
    #[error("the edit changes nothing")]
    Unchanged,
    /// The signed statement inside is invalid.
    #[error("signed statement: {0}")]
    Statement(#[from] CanonError),
}

impl From<automerge::AutomergeError> for RecordError {
    fn from(e: automerge::AutomergeError) -> Self {
        RecordError::Automerge(e.to_string())
    }
}

impl Record {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Offer(_) => RecordKind::Offer,
            Record::Need(_) => RecordKind::Need,
            Record::Pledge(_) => RecordKind::Pledge,
            Record::Acceptance(_) => RecordKind::Acceptance,
            Record::Delivery(_) => RecordKind::Delivery,
            Record::Profile(_) => RecordKind::Profile,
            Record::Certificate(_) => RecordKind::Certificate,
            Record::Revocation(_) => RecordKind::Revocation,
            Record::Rotation(_) => RecordKind::Rotation,
            Record::Cancellation(_) => RecordKind::Cancellation,
            Record::Device(_) => RecordKind::Device,
            Record::Fund(_) => RecordKind::Fund,
            Record::Loan(_) => RecordKind::Loan,
            Record::Approval(_) => RecordKind::Approval,
            Record::Transfer(_) => RecordKind::Transfer,
            Record::Report(_) => RecordKind::Report,
            Record::Confirmation(_) => RecordKind::Confirmation,
            Record::Contact(_) => RecordKind::Contact,
            Record::Network(_) => RecordKind::Network,
            Record::Vouch(_) => RecordKind::Vouch,
            Record::Unvouch(_) => RecordKind::Unvouch,
            Record::Expel(_) => RecordKind::Expel,
        }
    }

    /// For signed records: the signer and the co-op the statement names.
    pub fn statement_signer(&self) -> Option<(PublicKey, Option<CoopId>)> {
        match self {
            Record::Pledge(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Acceptance(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Delivery(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Certificate(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Revocation(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Rotation(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Cancellation(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Device(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Fund(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Loan(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Approval(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Transfer(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Report(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Confirmation(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Network(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Vouch(v) => Some((v.vouch.value().signer, Some(v.vouch.value().coop))),
            Record::Unvouch(s) => Some((s.value().signer, Some(s.value().coop))),
            Record::Expel(e) => Some((e.expel.value().signer, Some(e.expel.value().coop))),
            _ => None,
        }
    }

    fn fields(&self) -> FieldList {
        let mut f: FieldList = vec![("kind", s(self.kind().name()))];
        match self {
            Record::Offer(o) => {
                f.push(("title", s(&o.title)));
                f.push(("category", s(&o.category)));
                f.push(("quantity", s(o.quantity)));
                f.push(("minimum", os(o.minimum)));
                location_fields(&o.location, &mut f);
                f.push(("from", ots(o.available.from)));
                f.push(("until", ots(o.available.until)));
                f.push(("expires", ots(o.expires)));
                f.push(("notes", os(o.notes.as_ref())));
                f.push(("withdrawn", Some(Field::Bool(o.withdrawn))));
            }
            Record::Need(n) => {
                f.push(("title", s(&n.title)));
                f.push(("category", s(&n.category)));
                f.push(("quantity", s(n.quantity)));
                location_fields(&n.location, &mut f);
                f.push(("from", ots(n.needed.from)));
                f.push(("until", ots(n.needed.until)));
                f.push(("urgency", s(n.urgency)));
                f.push(("expires", ots(n.expires)));
                f.push(("notes", os(n.notes.as_ref())));
                f.push(("withdrawn", Some(Field::Bool(n.withdrawn))));
            }
            Record::Profile(p) => {
                f.push(("name", s(&p.name)));
                f.push(("description", os(p.description.as_ref())));
                location_fields(&p.location, &mut f);
                f.push(("contact", os(p.contact.as_ref())));
            }
            Record::Pledge(st) => f = statement_fields(self.kind(), st),
            Record::Acceptance(st) => f = statement_fields(self.kind(), st),
            Record::Delivery(st) => f = statement_fields(self.kind(), st),
            Record::Certificate(st) => f = statement_fields(self.kind(), st),
            Record::Revocation(st) => f = statement_fields(self.kind(), st),
            Record::Rotation(st) => f = statement_fields(self.kind(), st),
            Record::Cancellation(st) => f = statement_fields(self.kind(), st),
            Record::Device(st) => f = statement_fields(self.kind(), st),
            Record::Fund(st) => f = statement_fields(self.kind(), st),
            Record::Loan(st) => f = statement_fields(self.kind(), st),
            Record::Approval(st) => f = statement_fields(self.kind(), st),
            Record::Transfer(st) => f = statement_fields(self.kind(), st),
            Record::Report(st) => f = statement_fields(self.kind(), st),
            Record::Confirmation(st) => f = statement_fields(self.kind(), st),
            Record::Contact(c) => {
                f.push(("pledge", s(c.pledge)));
                f.push(("to", s(c.to)));
                f.push(("sealed", Some(Field::Bytes(c.sealed.clone()))));
            }
            Record::Network(st) => f = statement_fields(self.kind(), st),
            Record::Unvouch(st) => f = statement_fields(self.kind(), st),
            Record::Vouch(v) => {
                f = statement_fields(self.kind(), &v.vouch);
                f.push(("genesis", Some(Field::Bytes(v.genesis.bytes().to_vec()))));
                f.push((
                    "genesis_signature",
                    Some(Field::Bytes(v.genesis.signature().0.to_vec())),
                ));
            }
            Record::Expel(e) => {
                f = statement_fields(self.kind(), &e.expel);
                f.push(("cutoffs", Some(Field::Bytes(e.cutoffs.clone()))));
            }
        }
        f
    }

    /// Checks the record's own rules (lengths, ranges, windows) before it is written.
    pub fn check(&self) -> Result<(), RecordError> {
        let title = |field, t: &str| check_text(field, t, MAX_TITLE_BYTES, true);
        let text = |field, t: &Option<String>| {
            t.as_deref()
                .map_or(Ok(()), |t| check_text(field, t, MAX_TEXT_BYTES, false))
        };
        match self {
            Record::Offer(o) => {
                title("title", &o.title)?;
                text("notes", &o.notes)?;
                check_location(&o.location)?;
                if let Some(min) = o.minimum {
                    let conv =
                        min.convert_to(o.quantity.unit())
                            .map_err(|e| RecordError::BadValue {
                                field: "minimum",
                                reason: e.to_string(),
                            })?;
                    if conv.value() > o.quantity.value() {
                        return Err(RecordError::BadValue {
                            field: "minimum",
                            reason: "is more than the quantity offered".into(),
                        });
                    }
                }
                check_window("until", &o.available)
            }
            Record::Need(n) => {
                title("title", &n.title)?;
                text("notes", &n.notes)?;
                check_location(&n.location)?;
                check_window("until", &n.needed)
            }
            Record::Profile(p) => {
                title("name", &p.name)?;
                text("description", &p.description)?;
                text("contact", &p.contact)?;
                check_location(&p.location)
            }
            // Only the pledging co-op takes its own pledge back.
            Record::Cancellation(c) if c.value().pledge.coop != c.value().coop => {
                Err(RecordError::BadValue {
                    field: "pledge",
                    reason: "a co-op cancels only its own pledges".into(),
                })
            }
            Record::Contact(c) => {
                crate::contact::boxes(&c.sealed)
                    .map(|_| ())
                    .map_err(|e| RecordError::BadValue {
                        field: "sealed",
                        reason: e.to_string(),
                    })
            }
            Record::Network(g) => {
                g.value().check().map_err(|reason| RecordError::BadValue {
                    field: "founder",
                    reason: reason.into(),
                })?;
                check_text("name", &g.value().name, MAX_TITLE_BYTES, true)
            }
            Record::Vouch(v) => {
                if v.genesis.coop_id() != v.vouch.value().subject {
                    return Err(RecordError::BadValue {
                        field: "genesis",
                        reason: "is not the genesis of the co-op vouched for".into(),
                    });
                }
                text("note", &v.vouch.value().note)
            }
            Record::Unvouch(u) if u.value().vouch.coop != u.value().coop => {
                Err(RecordError::BadValue {
                    field: "vouch",
                    reason: "a co-op takes back only its own vouches".into(),
                })
            }
            Record::Expel(e) => {
                crate::network::decode_cutoffs(&e.cutoffs, &e.expel.value().cutoffs)?;
                Ok(())
            }
            r if r.kind().is_fund() => crate::fund::check(r)
                .map_err(|(field, reason)| RecordError::BadValue { field, reason }),
            _ => Ok(()),
        }
    }

    /// Writes the record into its document, touching only the fields that differ, so that
    /// concurrent edits of other fields survive the merge. Call inside the caller's commit.
    pub fn write(&self, doc: &mut AutoCommit) -> Result<(), RecordError> {
        self.check()?;
        for (key, want) in self.fields() {
            let have = doc
                .get(ROOT, key)?
                .and_then(|(v, _)| v.to_scalar().and_then(Field::from_scalar));
            match want {
                Some(w) if have.as_ref() != Some(&w) => doc.put(ROOT, key, w.scalar())?,
                None if have.is_some() => doc.delete(ROOT, key)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads a record from its document. A malformed document is an error, never a panic.
    pub fn read(doc: &AutoCommit) -> Result<Record, RecordError> {
        let mut r = DocReader { doc, seen: 0 };
        let kind: RecordKind = r.parse_req("kind")?;
        let record = match kind {
            RecordKind::Offer => Record::Offer(Offer {
                title: r.str_req("title")?,
                category: r.parse_req("category")?,
                quantity: r.parse_req("quantity")?,
                minimum: r.parse("minimum")?,
                location: r.location()?,
                available: r.window()?,
                expires: r.time("expires")?,
                notes: r.str("notes")?,
                withdrawn: r.bool_req("withdrawn")?,
            }),
            RecordKind::Need => Record::Need(Need {
                title: r.str_req("title")?,
                category: r.parse_req("category")?,
                quantity: r.parse_req("quantity")?,
                location: r.location()?,
                needed: r.window()?,
                urgency: r.parse_req("urgency")?,
                expires: r.time("expires")?,
                notes: r.str("notes")?,
                withdrawn: r.bool_req("withdrawn")?,
            }),
            RecordKind::Profile => Record::Profile(Profile {
                name: r.str_req("name")?,
                description: r.str("description")?,
                location: r.location()?,
                contact: r.str("contact")?,
            }),
            RecordKind::Pledge => Record::Pledge(r.signed()?),
            RecordKind::Acceptance => Record::Acceptance(r.signed()?),
            RecordKind::Delivery => Record::Delivery(r.signed()?),
            RecordKind::Certificate => Record::Certificate(r.signed()?),
            RecordKind::Revocation => Record::Revocation(r.signed()?),
            RecordKind::Rotation => Record::Rotation(r.signed()?),
            RecordKind::Cancellation => Record::Cancellation(r.signed()?),
            RecordKind::Device => Record::Device(r.signed()?),
            RecordKind::Fund => Record::Fund(r.signed()?),
            RecordKind::Loan => Record::Loan(r.signed()?),
            RecordKind::Approval => Record::Approval(r.signed()?),
            RecordKind::Transfer => Record::Transfer(r.signed()?),
            RecordKind::Report => Record::Report(r.signed()?),
            RecordKind::Confirmation => Record::Confirmation(r.signed()?),
            RecordKind::Contact => Record::Contact(SealedContact {
                pledge: r.parse_req("pledge")?,
                to: r.parse_req("to")?,
                sealed: r.bytes_req("sealed")?,
            }),
            RecordKind::Network => Record::Network(r.signed()?),
            RecordKind::Unvouch => Record::Unvouch(r.signed()?),
            RecordKind::Vouch => Record::Vouch(Box::new(VouchRecord {
                vouch: r.signed()?,
                genesis: r.signed_as("genesis", "genesis_signature")?,
            })),
            RecordKind::Expel => Record::Expel(ExpelRecord {
                expel: r.signed()?,
                cutoffs: r.bytes_req("cutoffs")?,
            }),
        };
        r.finish()?;
        record.check()?;
        Ok(record)
    }
}

fn check_text(field: &'static str, t: &str, max: usize, required: bool) -> Result<(), RecordError> {
    let bad = |reason: &str| {
        Err(RecordError::BadValue {
            field,
            reason: reason.into(),
        })
    };
    if required && t.trim().is_empty() {
        return bad("is empty");
    }
    if t.len() > max {
        return bad(&format!("is longer than {max} bytes"));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return bad("contains control characters");
    }
    Ok(())
}

fn check_location(loc: &Option<Location>) -> Result<(), RecordError> {
    if let Some(l) = loc {
        if let Some(p) = &l.place {
            check_text("place", p, MAX_TITLE_BYTES, true)?;
        }
        if l.radius_km
            .is_some_and(|r| r.is_sign_negative() || r > Decimal::from(40_075))
        {
            return Err(RecordError::BadValue {
                field: "radius_km",
                reason: "must be between 0 and 40075 km".into(),
            });
        }
    }
    Ok(())
}

fn check_window(field: &'static str, w: &TimeWindow) -> Result<(), RecordError> {
    if !w.is_valid() {
        return Err(RecordError::BadValue {
            field,
            reason: "ends before it starts".into(),
        });
    }
    Ok(())
}
