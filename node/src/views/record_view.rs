//! [`RecordView`]: what listing, filtering and status need of one record, derived from the
//! record itself.

use minga_protocol::{
    CoopId, Decision, Location, Point, Quantity, Record, RecordId, RecordKind, RecordRef,
    Timestamp, Urgency,
};
use serde::{Deserialize, Serialize};

use super::Key;

/// What listing, filtering and status need of one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    /// The co-op whose ledger holds it.
    pub coop: CoopId,
    /// Its id.
    pub id: RecordId,
    /// Its kind.
    pub kind: RecordKind,
    /// Title (offers, needs) or name (profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Category path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Quantity offered, needed, pledged or delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// Location, `lat,lon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// Urgency (needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    /// When it stops showing: the earlier of expiry and end of availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<Timestamp>,
    /// Withdrawn by its co-op.
    #[serde(default)]
    pub withdrawn: bool,
    /// What a commitment references: a pledge its need, an answer or delivery its pledge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<Box<RecordRef>>,
    /// The offer a pledge draws on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Box<RecordRef>>,
    /// An answer's decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// When a commitment was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<Timestamp>,
    /// How far from its point an offer delivers (or a need applies), in km.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_km: Option<rust_decimal::Decimal>,
    /// When an offer is available from, or a need is needed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// When an offer is available until, or a need is needed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// The least of an offer worth arranging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<Quantity>,
    /// When an offer or need was posted (the time on its creating entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
}

fn radius(l: &Option<Location>) -> Option<rust_decimal::Decimal> {
    l.as_ref().and_then(|l| l.radius_km)
}

impl RecordView {
    /// A view with nothing but its identity.
    pub fn empty(coop: CoopId, id: RecordId, kind: RecordKind) -> RecordView {
        RecordView {
            coop,
            id,
            kind,
            title: None,
            category: None,
            quantity: None,
            point: None,
            urgency: None,
            ends: None,
            withdrawn: false,
            refers_to: None,
            offer: None,
            decision: None,
            issued: None,
            radius_km: None,
            from: None,
            until: None,
            minimum: None,
            created: None,
        }
    }

    /// The view of a record.
    pub fn of(coop: CoopId, id: RecordId, record: &Record) -> RecordView {
        let mut v = RecordView::empty(coop, id, record.kind());
        match record {
            Record::Offer(o) => {
                v.title = Some(o.title.clone());
                v.category = Some(o.category.to_string());
                v.quantity = Some(o.quantity);
                v.point = o.location.as_ref().map(|l| l.point.to_string());
                v.ends = o.expires.into_iter().chain(o.available.until).min();
                v.withdrawn = o.withdrawn;
                v.radius_km = radius(&o.location);
                v.from = o.available.from;
                v.until = o.available.until;
                v.minimum = o.minimum;
            }
            Record::Need(n) => {
                v.title = Some(n.title.clone());
                v.category = Some(n.category.to_string());
                v.quantity = Some(n.quantity);
                v.point = n.location.as_ref().map(|l| l.point.to_string());
                v.urgency = Some(n.urgency);
                v.ends = n.expires;
                v.withdrawn = n.withdrawn;
                v.radius_km = radius(&n.location);
                v.from = n.needed.from;
                v.until = n.needed.until;
            }
            Record::Profile(p) => {
                v.title = Some(p.name.clone());
                v.point = p.location.as_ref().map(|l| l.point.to_string());
            }
            Record::Pledge(p) => {
                let p = p.value();
                v.refers_to = Some(Box::new(p.need));
                v.offer = p.offer.map(Box::new);
                v.quantity = Some(p.quantity);
                v.issued = Some(p.issued);
            }
            Record::Acceptance(a) => {
                let a = a.value();
                v.refers_to = Some(Box::new(a.pledge));
                v.decision = Some(a.decision);
                v.issued = Some(a.issued);
            }
            Record::Delivery(d) => {
                let d = d.value();
                v.refers_to = Some(Box::new(d.pledge));
                v.quantity = Some(d.quantity);
                v.issued = Some(d.issued);
            }
            Record::Cancellation(c) => {
                let c = c.value();
                v.refers_to = Some(Box::new(c.pledge));
                v.issued = Some(c.issued);
            }
            // A fund's statements: each refers to what it is about, so a fund's books are
            // gathered by following references from the fund down.
            Record::Fund(f) => {
                let f = f.value();
                v.title = Some(f.name.clone());
                v.issued = Some(f.issued);
            }
            Record::Loan(l) => {
                let l = l.value();
                v.title = Some(l.project.clone());
                v.refers_to = Some(Box::new(l.fund));
                v.quantity = Some(l.amount);
                v.issued = Some(l.issued);
            }
            Record::Approval(a) => {
                v.refers_to = Some(Box::new(a.value().loan));
                v.issued = Some(a.value().issued);
            }
            Record::Transfer(t) => {
                let t = t.value();
                v.refers_to = Some(Box::new(t.loan.unwrap_or(t.fund)));
                v.quantity = Some(t.amount);
                v.issued = Some(t.issued);
            }
            Record::Report(r) => {
                v.refers_to = Some(Box::new(r.value().loan));
                v.quantity = Some(r.value().surplus);
                v.issued = Some(r.value().issued);
            }
            Record::Confirmation(c) => {
                v.refers_to = Some(Box::new(c.value().transfer));
                v.issued = Some(c.value().issued);
            }
            // Only what it answers: its content is sealed.
            Record::Contact(c) => v.refers_to = Some(Box::new(c.pledge)),
            // A network's statements: its name, and when each was signed.
            Record::Network(g) => {
                v.title = Some(g.value().name.clone());
                v.issued = Some(g.value().created);
            }
            Record::Vouch(r) => {
                v.title = Some(r.genesis.value().name.clone());
                v.issued = Some(r.vouch.value().issued);
            }
            Record::Unvouch(u) => {
                v.refers_to = Some(Box::new(u.value().vouch));
                v.issued = Some(u.value().issued);
            }
            Record::Expel(e) => v.issued = Some(e.expel.value().issued),
            Record::Certificate(_)
            | Record::Revocation(_)
            | Record::Rotation(_)
            | Record::Device(_) => {}
        }
        v
    }

    /// The view's point, parsed.
    pub fn location(&self) -> Option<Point> {
        self.point.as_deref().and_then(|p| p.parse().ok())
    }

    pub(super) fn key(&self) -> Key {
        (self.coop, self.id)
    }
}
