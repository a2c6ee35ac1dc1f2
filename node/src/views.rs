//! Compact in-memory views of every record, and the indexes that answer listings without
//! reading a document: by kind, category prefix, co-op, location grid, and by the record a
//! commitment references (from which status is derived).
//!
//! Views are written to the store in the same commit as the records they describe, so a node
//! starts by reading views, never by replaying history.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use minga_protocol::{
    Answer, Category, CoopId, Decision, Location, NeedStatus, OfferStatus, PledgeState,
    PledgeStatus, Point, Quantity, Received, Record, RecordId, RecordKind, RecordRef, Timestamp,
    Urgency, need_status_from, offer_status_from, pledge_status_from, pledge_totals,
};
use serde::{Deserialize, Serialize};

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

impl Status {
    /// Every status with this name, of whatever kind (`open` is a need's and an offer's).
    pub fn named(name: &str) -> Vec<Status> {
        let quoted = serde_json::Value::String(name.to_string());
        let need = serde_json::from_value(quoted.clone())
            .ok()
            .map(Status::Need);
        let offer = serde_json::from_value(quoted.clone())
            .ok()
            .map(Status::Offer);
        let pledge = serde_json::from_value(quoted).ok().map(Status::Pledge);
        need.into_iter().chain(offer).chain(pledge).collect()
    }
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

    fn key(&self) -> Key {
        (self.coop, self.id)
    }
}

/// A derived status, of whatever kind the record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Status {
    /// A need's status.
    Need(NeedStatus),
    /// An offer's status.
    Offer(OfferStatus),
    /// A pledge's state.
    Pledge(PledgeState),
}

/// Which records to list. Every filter is optional.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only this kind.
    pub kind: Option<RecordKind>,
    /// Only this category or its descendants.
    pub category: Option<Category>,
    /// Only this co-op's records.
    pub coop: Option<CoopId>,
    /// Only within this many km of this point (records without a location are left out).
    pub near: Option<(Point, f64)>,
    /// Only records at least this urgent.
    pub urgency: Option<Urgency>,
    /// Only records with one of these statuses (any, when empty).
    pub statuses: Vec<Status>,
    /// Leave out what is not an offer, need or commitment: membership statements, funds'
    /// statements and sealed contacts, which have listings of their own.
    pub no_membership: bool,
    /// Include withdrawn and expired records (left out by default).
    pub all: bool,
    /// At most this many.
    pub limit: Option<usize>,
    /// Only records whose window ends (offers: available until; needs: needed by) on or
    /// before this time.
    pub until_before: Option<Timestamp>,
    /// Skip this many first (paging).
    pub offset: usize,
    /// The most urgent first (then the soonest needed, then by id); by co-op and id when
    /// false.
    pub urgent_first: bool,
}

type Key = (CoopId, RecordId);

/// A grid cell of one degree of latitude by one of longitude.
type Cell = (i16, i16);

fn cell_of(p: &Point) -> Cell {
    use rust_decimal::prelude::ToPrimitive;
    let f = |d: rust_decimal::Decimal| d.floor().to_i16().unwrap_or(0);
    (f(p.lat()), f(p.lon()))
}

/// Where a view sits in [`Views`]: indexes hold these 4-byte slots rather than 64-byte keys.
type Slot = u32;

/// Every view the node holds, with its indexes.
#[derive(Debug, Default)]
pub struct Views {
    slots: HashMap<Key, Slot>,
    records: Vec<Option<RecordView>>,
    free: Vec<Slot>,
    by_kind: BTreeMap<RecordKind, BTreeSet<Slot>>,
    by_category: BTreeMap<String, BTreeSet<Slot>>,
    by_cell: BTreeMap<Cell, BTreeSet<Slot>>,
    by_ref: HashMap<RecordRef, BTreeSet<Slot>>,
    by_offer: HashMap<RecordRef, BTreeSet<Slot>>,
}

/// Pledged and confirmed-delivered amounts of a need, an offer or a pledge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Pledged, not declined (for a pledge: its own quantity).
    pub pledged: Quantity,
    /// Confirmed delivered by the receiver.
    pub delivered: Quantity,
}

impl Views {
    /// Adds or replaces a view, updating every index.
    pub fn upsert(&mut self, v: RecordView) {
        let key = v.key();
        self.remove(&key);
        let key = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.records.push(None);
                (self.records.len() - 1) as Slot
            }
        };
        self.slots.insert(v.key(), key);
        self.by_kind.entry(v.kind).or_default().insert(key);
        if let Some(c) = &v.category {
            self.by_category.entry(c.clone()).or_default().insert(key);
        }
        if let Some(p) = v.location() {
            self.by_cell.entry(cell_of(&p)).or_default().insert(key);
        }
        if let Some(r) = v.refers_to.as_deref() {
            self.by_ref.entry(*r).or_default().insert(key);
        }
        if let Some(o) = v.offer.as_deref() {
            self.by_offer.entry(*o).or_default().insert(key);
        }
        self.records[key as usize] = Some(v);
    }

    /// The view in a slot.
    fn at(&self, slot: &Slot) -> Option<&RecordView> {
        self.records.get(*slot as usize).and_then(Option::as_ref)
    }

    /// Every view held.
    fn all(&self) -> impl Iterator<Item = &RecordView> {
        self.records.iter().flatten()
    }

    /// Removes a view from every index.
    pub fn remove(&mut self, key: &Key) {
        let Some(slot) = self.slots.remove(key) else {
            return;
        };
        let Some(old) = self.records.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        let key = &slot;
        fn drop_from<K: Ord>(map: &mut BTreeMap<K, BTreeSet<Slot>>, k: &K, key: &Slot) {
            if let Some(set) = map.get_mut(k) {
                set.remove(key);
                if set.is_empty() {
                    map.remove(k);
                }
            }
        }
        drop_from(&mut self.by_kind, &old.kind, key);
        if let Some(c) = &old.category {
            drop_from(&mut self.by_category, c, key);
        }
        if let Some(p) = old.location() {
            drop_from(&mut self.by_cell, &cell_of(&p), key);
        }
        for (map, r) in [
            (&mut self.by_ref, old.refers_to.as_deref().copied()),
            (&mut self.by_offer, old.offer.as_deref().copied()),
        ] {
            let Some(r) = r else { continue };
            let emptied = map.get_mut(&r).is_some_and(|set| {
                set.remove(key);
                set.is_empty()
            });
            if emptied {
                map.remove(&r);
            }
        }
    }

    /// Every view of one kind, in no particular order.
    pub fn of_kind(&self, kind: RecordKind) -> impl Iterator<Item = &RecordView> {
        self.by_kind
            .get(&kind)
            .into_iter()
            .flatten()
            .filter_map(|k| self.at(k))
    }

    /// The keys of every view of one co-op.
    pub fn keys_of(&self, coop: &CoopId) -> Vec<(CoopId, RecordId)> {
        self.slots
            .keys()
            .filter(|(c, _)| c == coop)
            .copied()
            .collect()
    }

    /// Views whose record id, in hex, starts with `prefix` (lower-case hex digits).
    pub fn find_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a RecordView> {
        let nibbles: Vec<u8> = prefix
            .bytes()
            .filter_map(|b| char::from(b).to_digit(16).map(|d| d as u8))
            .collect();
        self.all().filter(move |v| {
            let id = v.id.as_bytes();
            nibbles.iter().enumerate().all(|(i, n)| {
                let byte = id.get(i / 2).copied().unwrap_or(0);
                let nib = if i % 2 == 0 { byte >> 4 } else { byte & 0xf };
                nib == *n
            })
        })
    }

    /// The records that reference `to`: pledges of a need, answers and deliveries of a
    /// pledge, and, with `offers`, the pledges that draw on an offer.
    pub fn referring_to(&self, to: RecordRef, offers: bool) -> impl Iterator<Item = &RecordView> {
        let drawing = offers.then(|| self.by_offer.get(&to)).flatten();
        self.referring(to)
            .chain(drawing.into_iter().flatten().filter_map(|k| self.at(k)))
    }

    /// Pledged and delivered totals of a need, an offer or a pledge.
    pub fn totals(&self, v: &RecordView) -> Option<Totals> {
        let me = RecordRef {
            coop: v.coop,
            record: v.id,
        };
        let statuses: Vec<PledgeStatus> = match v.kind {
            RecordKind::Need => self
                .referring(me)
                .filter(|p| p.kind == RecordKind::Pledge)
                .filter_map(|p| self.pledge_status(p))
                .collect(),
            RecordKind::Offer => self.offer_pledges(me),
            RecordKind::Pledge => vec![self.pledge_status(v)?],
            _ => return None,
        };
        let (pledged, delivered) = pledge_totals(v.quantity?.unit(), &statuses);
        Some(Totals { pledged, delivered })
    }

    /// The pledges that draw on an offer: only its own co-op's. A pledge by another co-op
    /// naming it promises what that co-op does not hold, and takes nothing from the offer.
    fn offer_pledges(&self, offer: RecordRef) -> Vec<PledgeStatus> {
        self.by_offer
            .get(&offer)
            .into_iter()
            .flatten()
            .filter_map(|k| self.at(k))
            .filter(|p| p.kind == RecordKind::Pledge && p.coop == offer.coop)
            .filter_map(|p| self.pledge_status(p))
            .collect()
    }

    /// One view.
    pub fn get(&self, coop: &CoopId, id: &RecordId) -> Option<&RecordView> {
        self.slots.get(&(*coop, *id)).and_then(|s| self.at(s))
    }

    /// How many views are held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn referring(&self, to: RecordRef) -> impl Iterator<Item = &RecordView> {
        self.by_ref
            .get(&to)
            .into_iter()
            .flatten()
            .filter_map(|k| self.at(k))
    }

    /// A pledge's status from the answers and deliveries that reference it.
    fn pledge_status(&self, pledge: &RecordView) -> Option<PledgeStatus> {
        let need = pledge.refers_to.as_deref().copied()?;
        let me = RecordRef {
            coop: pledge.coop,
            record: pledge.id,
        };
        let answers = self.referring(me).filter_map(|v| {
            Some(Answer {
                coop: v.coop,
                decision: v.decision?,
                issued: v.issued?,
            })
        });
        let deliveries = self.referring(me).filter_map(|v| {
            (v.kind == RecordKind::Delivery).then_some(Received {
                coop: v.coop,
                quantity: v.quantity?,
            })
        });
        let cancelled = self
            .referring(me)
            .any(|v| v.kind == RecordKind::Cancellation && v.coop == pledge.coop);
        Some(pledge_status_from(
            need.coop,
            pledge.quantity?,
            cancelled,
            answers,
            deliveries,
        ))
    }

    /// A record's derived status at `now` (offers, needs and pledges).
    pub fn status(&self, v: &RecordView, now: Timestamp) -> Option<Status> {
        let me = RecordRef {
            coop: v.coop,
            record: v.id,
        };
        match v.kind {
            // Withdrawn for real, its content is gone: nothing else to derive.
            RecordKind::Need if v.withdrawn && v.quantity.is_none() => {
                Some(Status::Need(NeedStatus::Withdrawn))
            }
            RecordKind::Offer if v.withdrawn && v.quantity.is_none() => {
                Some(Status::Offer(OfferStatus::Withdrawn))
            }
            RecordKind::Need => {
                let pledges: Vec<PledgeStatus> = self
                    .referring(me)
                    .filter(|p| p.kind == RecordKind::Pledge)
                    .filter_map(|p| self.pledge_status(p))
                    .collect();
                Some(Status::Need(need_status_from(
                    v.quantity?,
                    v.withdrawn,
                    v.ends,
                    &pledges,
                    now,
                )))
            }
            RecordKind::Offer => {
                let pledges = self.offer_pledges(me);
                Some(Status::Offer(offer_status_from(
                    v.quantity?,
                    v.withdrawn,
                    v.ends,
                    &pledges,
                    now,
                )))
            }
            RecordKind::Pledge => self.pledge_status(v).map(|s| Status::Pledge(s.state)),
            _ => None,
        }
    }

    /// The records a query selects, with their status, ordered by co-op and id. The most
    /// selective index narrows the candidates first, so a listing never scans every record
    /// when a filter names a kind, category or place.
    pub fn query(&self, q: &Query, now: Timestamp) -> Vec<(&RecordView, Option<Status>)> {
        self.page(q, now).1
    }

    /// [`Views::query`], with how many records match in all, whatever the query's offset and
    /// limit: one pass over the views for both.
    pub fn page(&self, q: &Query, now: Timestamp) -> (usize, Vec<(&RecordView, Option<Status>)>) {
        let candidates: Box<dyn Iterator<Item = &Slot>> = if let Some((p, km)) = &q.near {
            // Cells within reach: a degree of latitude is about 111 km, one of longitude
            // that times the cosine of the latitude. Far reaches cover the whole grid.
            let (la, lo) = cell_of(p);
            let dlat = (km / 111.0).ceil().min(180.0) as i32 + 1;
            let cos = p.radians().0.cos().abs().max(0.01);
            let dlon = (km / (111.0 * cos)).ceil().min(360.0) as i32 + 1;
            let (la, lo) = (i32::from(la), i32::from(lo));
            if dlon >= 180 {
                Box::new(
                    self.by_cell
                        .range(
                            ((la - dlat).max(-91) as i16, i16::MIN)
                                ..=((la + dlat).min(90) as i16, i16::MAX),
                        )
                        .flat_map(|(_, set)| set),
                )
            } else {
                Box::new(
                    (la - dlat..=la + dlat)
                        .filter(|a| (-91..=90).contains(a))
                        .flat_map(move |a| {
                            (lo - dlon..=lo + dlon).map(move |b| {
                                let wrapped = (b + 180).rem_euclid(360) - 180;
                                (a as i16, wrapped as i16)
                            })
                        })
                        .filter_map(|c| self.by_cell.get(&c))
                        .flatten(),
                )
            }
        } else if let Some(c) = &q.category {
            let prefix = c.as_str().to_string();
            Box::new(
                self.by_category
                    .range(prefix.clone()..)
                    .take_while(move |(k, _)| k.starts_with(&prefix))
                    .filter(|(k, _)| k.parse::<Category>().is_ok_and(|k| c.contains(&k)))
                    .flat_map(|(_, set)| set),
            )
        } else if let Some(kind) = q.kind {
            Box::new(self.by_kind.get(&kind).into_iter().flatten())
        } else {
            Box::new(self.slots.values())
        };
        let mut out: Vec<(&RecordView, Option<Status>)> = candidates
            .filter_map(|k| self.at(k))
            .filter(|v| q.kind.is_none_or(|k| v.kind == k))
            .filter(|v| !q.no_membership || v.kind.is_listed_by_default())
            .filter(|v| q.coop.is_none_or(|c| v.coop == c))
            .filter(|v| {
                q.category.as_ref().is_none_or(|c| {
                    v.category
                        .as_deref()
                        .and_then(|s| s.parse::<Category>().ok())
                        .is_some_and(|k| c.contains(&k))
                })
            })
            .filter(|v| q.urgency.is_none_or(|u| v.urgency.is_some_and(|x| x >= u)))
            .filter(|v| {
                q.until_before
                    .is_none_or(|d| v.until.is_some_and(|u| u <= d))
            })
            .filter(|v| {
                q.near
                    .as_ref()
                    .is_none_or(|(p, km)| v.location().is_some_and(|l| l.distance_km(p) <= *km))
            })
            .map(|v| (v, self.status(v, now)))
            .filter(|(_, s)| q.statuses.is_empty() || s.is_some_and(|s| q.statuses.contains(&s)))
            .filter(|(v, s)| {
                q.all
                    || !(v.withdrawn
                        || matches!(
                            s,
                            Some(Status::Need(NeedStatus::Expired | NeedStatus::Withdrawn))
                                | Some(Status::Offer(
                                    OfferStatus::Expired | OfferStatus::Withdrawn
                                ))
                        ))
            })
            .collect();
        out.sort_by_key(|(v, _)| v.key());
        out.dedup_by_key(|(v, _)| v.key());
        if q.urgent_first {
            // Stable: equal ones stay by co-op and id. No urgency and no date sort last.
            out.sort_by_key(|(v, _)| {
                (
                    std::cmp::Reverse(v.urgency),
                    v.until.or(v.ends).map_or(i64::MAX, |t| t.0),
                )
            });
        }
        let total = out.len();
        if q.offset > 0 {
            out.drain(..q.offset.min(out.len()));
        }
        if let Some(n) = q.limit {
            out.truncate(n);
        }
        (total, out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use minga_protocol::{Hash, Location, Need, Offer, TimeWindow};

    fn coop(n: u8) -> CoopId {
        CoopId(Hash::of(&[n]))
    }

    fn id(n: u8) -> RecordId {
        RecordId(Hash::of(&[b'r', n]))
    }

    fn need(cat: &str, point: Option<&str>) -> Record {
        Record::Need(Need {
            title: "x".into(),
            category: cat.parse().unwrap(),
            quantity: "200 kg".parse().unwrap(),
            location: point.map(|p| Location {
                point: p.parse().unwrap(),
                place: None,
                radius_km: None,
            }),
            needed: TimeWindow::default(),
            urgency: Urgency::High,
            expires: None,
            notes: None,
            withdrawn: false,
        })
    }

    #[test]
    fn a_page_sorts_by_urgency_then_end_skips_and_counts() {
        let mut v = Views::default();
        let ends = |day: i64| Some(Timestamp(day * 86_400_000));
        let urgencies = [
            Urgency::Low,
            Urgency::Critical,
            Urgency::Normal,
            Urgency::Critical,
        ];
        for (n, (urgency, until)) in urgencies.into_iter().zip([9, 5, 1, 2]).enumerate() {
            let Record::Need(mut need) = need("food", None) else {
                unreachable!()
            };
            need.urgency = urgency;
            need.needed.until = ends(until);
            v.upsert(RecordView::of(coop(1), id(n as u8), &Record::Need(need)));
        }
        let q = Query {
            urgent_first: true,
            ..Query::default()
        };
        let order: Vec<RecordId> = v
            .query(&q, Timestamp(0))
            .iter()
            .map(|(r, _)| r.id)
            .collect();
        // Critical first, the sooner needed of the two first; then normal, then low.
        assert_eq!(order, vec![id(3), id(1), id(2), id(0)]);
        let page = Query {
            offset: 1,
            limit: Some(2),
            ..q.clone()
        };
        let got: Vec<RecordId> = v
            .query(&page, Timestamp(0))
            .iter()
            .map(|(r, _)| r.id)
            .collect();
        assert_eq!(got, vec![id(1), id(2)]);
        assert_eq!(v.page(&page, Timestamp(0)).0, 4);
        let by_day_5 = Query {
            until_before: ends(5),
            ..q
        };
        assert_eq!(v.page(&by_day_5, Timestamp(0)).0, 3);
    }

    fn commitment(
        kind: RecordKind,
        c: CoopId,
        n: u8,
        to: RecordRef,
        qty: &str,
        day: i64,
    ) -> RecordView {
        RecordView {
            coop: c,
            id: id(n),
            kind,
            title: None,
            category: None,
            quantity: Some(qty.parse().unwrap()),
            point: None,
            urgency: None,
            ends: None,
            withdrawn: false,
            refers_to: Some(Box::new(to)),
            offer: None,
            decision: (kind == RecordKind::Acceptance).then_some(Decision::Accept),
            issued: Some(Timestamp(day * 86_400_000)),
            radius_km: None,
            from: None,
            until: None,
            minimum: None,
            created: None,
        }
    }

    #[test]
    fn near_reaches_across_high_latitudes_and_any_radius() {
        let mut v = Views::default();
        // 20 degrees of longitude at 85° N is about 194 km.
        v.upsert(RecordView::of(coop(1), id(1), &need("food", Some("85,20"))));
        v.upsert(RecordView::of(
            coop(1),
            id(2),
            &need("food", Some("-54.8,-68.3")),
        ));
        v.upsert(RecordView::of(
            coop(1),
            id(3),
            &need("food", Some("0,179.9")),
        ));
        let near = |p: &str, km: f64| {
            let q = Query {
                near: Some((p.parse().unwrap(), km)),
                ..Query::default()
            };
            v.query(&q, Timestamp(0)).len()
        };
        assert_eq!(near("85,0", 250.0), 1);
        assert_eq!(near("85,0", 150.0), 0);
        // Across the antimeridian.
        assert_eq!(near("0,-179.9", 50.0), 1);
        // A reach larger than the Earth covers every located record, and never overflows.
        assert_eq!(near("0,0", 1e12), 3);
    }

    #[test]
    fn indexes_answer_kind_category_place_and_coop() {
        let mut v = Views::default();
        v.upsert(RecordView::of(
            coop(1),
            id(1),
            &need("food/grain/rice", Some("-32.95,-60.66")),
        ));
        v.upsert(RecordView::of(
            coop(1),
            id(2),
            &need("food/oil", Some("-34.60,-58.38")),
        ));
        v.upsert(RecordView::of(
            coop(2),
            id(3),
            &need("labour/electrical", None),
        ));
        fn ids(v: &Views, q: Query) -> Vec<RecordId> {
            v.query(&q, Timestamp(0))
                .iter()
                .map(|(r, _)| r.id)
                .collect()
        }
        let food: Category = "food".parse().unwrap();
        assert_eq!(
            ids(
                &v,
                Query {
                    category: Some(food),
                    ..Query::default()
                }
            )
            .len(),
            2
        );
        let rosario: Point = "-32.9468,-60.6393".parse().unwrap();
        assert_eq!(
            ids(
                &v,
                Query {
                    near: Some((rosario, 50.0)),
                    ..Query::default()
                }
            ),
            vec![id(1)]
        );
        assert_eq!(
            ids(
                &v,
                Query {
                    near: Some((rosario, 400.0)),
                    ..Query::default()
                }
            )
            .len(),
            2
        );
        assert_eq!(
            ids(
                &v,
                Query {
                    coop: Some(coop(2)),
                    ..Query::default()
                }
            ),
            vec![id(3)]
        );
        assert_eq!(
            ids(
                &v,
                Query {
                    kind: Some(RecordKind::Offer),
                    ..Query::default()
                }
            )
            .len(),
            0
        );
        // An edit moves a record between index entries; a removal drops it everywhere.
        v.upsert(RecordView::of(coop(1), id(1), &need("tools", None)));
        let food: Category = "food".parse().unwrap();
        assert_eq!(
            ids(
                &v,
                Query {
                    category: Some(food),
                    ..Query::default()
                }
            ),
            vec![id(2)]
        );
        v.remove(&(coop(1), id(2)));
        assert_eq!(v.len(), 2);
        assert_eq!(
            ids(
                &v,
                Query {
                    near: Some((rosario, 400.0)),
                    ..Query::default()
                }
            )
            .len(),
            0
        );
    }

    #[test]
    fn only_the_offers_own_coop_draws_on_it_and_excess_shows_as_over_pledged() {
        let (a, b) = (coop(1), coop(2));
        let mut v = Views::default();
        let offer = Record::Offer(Offer::new(
            "rice",
            "food/grain/rice".parse().unwrap(),
            "100 kg".parse().unwrap(),
        ));
        v.upsert(RecordView::of(a, id(1), &offer));
        v.upsert(RecordView::of(b, id(2), &need("food/grain/rice", None)));
        let offer_ref = RecordRef {
            coop: a,
            record: id(1),
        };
        let need_ref = RecordRef {
            coop: b,
            record: id(2),
        };
        let drawing = |c, n, qty| {
            let mut p = commitment(RecordKind::Pledge, c, n, need_ref, qty, 1);
            p.offer = Some(Box::new(offer_ref));
            p
        };
        let status = |v: &Views| v.status(v.get(&a, &id(1)).unwrap(), Timestamp(0));
        // B pledges to its own need naming A's offer: A's offer is untouched.
        v.upsert(drawing(b, 3, "1000 kg"));
        assert_eq!(status(&v), Some(Status::Offer(OfferStatus::Open)));
        assert!(
            v.totals(v.get(&a, &id(1)).unwrap())
                .unwrap()
                .pledged
                .value()
                .is_zero()
        );
        // A's own pledges draw on it, and past its quantity it is over-pledged.
        v.upsert(drawing(a, 4, "60 kg"));
        assert_eq!(status(&v), Some(Status::Offer(OfferStatus::PartlyPledged)));
        v.upsert(drawing(a, 5, "60 kg"));
        assert_eq!(status(&v), Some(Status::Offer(OfferStatus::OverPledged)));
        // The need counts every pledge made to it, whoever drew on what.
        assert_eq!(
            v.status(v.get(&b, &id(2)).unwrap(), Timestamp(0)),
            Some(Status::Need(NeedStatus::OverPledged))
        );
    }

    #[test]
    fn status_is_derived_across_coops_from_commitments() {
        let (a, b) = (coop(1), coop(2));
        let mut v = Views::default();
        v.upsert(RecordView::of(b, id(1), &need("food/grain/rice", None)));
        let need_ref = RecordRef {
            coop: b,
            record: id(1),
        };
        let pledge = commitment(RecordKind::Pledge, a, 2, need_ref, "120 kg", 1);
        let pledge_ref = RecordRef {
            coop: a,
            record: id(2),
        };
        v.upsert(pledge);
        let status = |v: &Views, c, i| v.status(v.get(&c, &i).unwrap(), Timestamp(0));
        assert_eq!(
            status(&v, b, id(1)),
            Some(Status::Need(NeedStatus::PartlyPledged))
        );
        assert_eq!(
            status(&v, a, id(2)),
            Some(Status::Pledge(PledgeState::Proposed))
        );
        v.upsert(commitment(
            RecordKind::Acceptance,
            b,
            3,
            pledge_ref,
            "0 kg",
            2,
        ));
        v.upsert(commitment(
            RecordKind::Delivery,
            b,
            4,
            pledge_ref,
            "70 kg",
            3,
        ));
        assert_eq!(
            status(&v, a, id(2)),
            Some(Status::Pledge(PledgeState::PartlyFulfilled))
        );
        // A delivery "confirmed" by the pledging co-op itself does not count.
        v.upsert(commitment(
            RecordKind::Delivery,
            a,
            5,
            pledge_ref,
            "50 kg",
            3,
        ));
        assert_eq!(
            status(&v, a, id(2)),
            Some(Status::Pledge(PledgeState::PartlyFulfilled))
        );
        v.upsert(commitment(
            RecordKind::Delivery,
            b,
            6,
            pledge_ref,
            "50 kg",
            4,
        ));
        assert_eq!(
            status(&v, a, id(2)),
            Some(Status::Pledge(PledgeState::Fulfilled))
        );
        let listed = v.query(
            &Query {
                statuses: vec![Status::Need(NeedStatus::PartlyPledged)],
                ..Query::default()
            },
            Timestamp(0),
        );
        assert_eq!(listed.len(), 1);
        let offer = Record::Offer(Offer {
            expires: Some(Timestamp(10)),
            ..Offer::new("rice", "food".parse().unwrap(), "1 t".parse().unwrap())
        });
        v.upsert(RecordView::of(a, id(9), &offer));
        // Expired offers are left out unless asked for.
        let offers = |all| {
            v.query(
                &Query {
                    kind: Some(RecordKind::Offer),
                    all,
                    ..Query::default()
                },
                Timestamp(20),
            )
            .len()
        };
        assert_eq!((offers(false), offers(true)), (0, 1));
    }
}
