//! Compact in-memory views of every record, and the indexes that answer listings without
//! reading a document: by kind, category prefix, co-op, location grid, and by the record a
//! commitment references (from which status is derived).
//!
//! Views are written to the store in the same commit as the records they describe, so a node
//! starts by reading views, never by replaying history; after a clean stop it reads them from
//! one file instead ([`snapshot`]). In memory they are held compactly (`held.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

use minga_protocol::{
    Answer, Category, CoopId, NeedStatus, OfferStatus, PledgeState, PledgeStatus, Point, Quantity,
    Received, RecordId, RecordKind, RecordRef, Timestamp, Urgency, need_status_from,
    offer_status_from, pledge_status_from, pledge_totals,
};
use serde::{Deserialize, Serialize};

mod held;
mod record_view;
pub mod snapshot;
#[cfg(test)]
mod tests;

use held::{ENDS, Held, ISSUED, Interned, UNTIL};
pub use record_view::RecordView;

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

/// What a status or totals are derived from, whichever form the view is in.
struct Facts {
    kind: RecordKind,
    me: RecordRef,
    quantity: Option<Quantity>,
    withdrawn: bool,
    ends: Option<Timestamp>,
    refers_to: Option<RecordRef>,
}

impl Facts {
    fn of(v: &RecordView) -> Facts {
        Facts {
            kind: v.kind,
            me: RecordRef {
                coop: v.coop,
                record: v.id,
            },
            quantity: v.quantity,
            withdrawn: v.withdrawn,
            ends: v.ends,
            refers_to: v.refers_to.as_deref().copied(),
        }
    }
}

/// Every view the node holds, with its indexes.
#[derive(Debug, Default)]
pub struct Views {
    /// Slots by the hash of (co-op index, record id); the key itself is read from the slot.
    index: hashbrown::HashTable<Slot>,
    hasher: std::hash::RandomState,
    records: Vec<Option<Held>>,
    free: Vec<Slot>,
    coops: Interned<CoopId>,
    /// Category texts, each with its parse (none for a text that is not a category).
    categories: Interned<Box<str>>,
    titles: held::Titles,
    parsed: Vec<Option<Category>>,
    by_kind: BTreeMap<RecordKind, BTreeSet<Slot>>,
    by_category: BTreeMap<Box<str>, BTreeSet<Slot>>,
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
        self.remove(&v.key());
        let held = self.hold(v);
        self.place(held);
    }

    /// Whether a view with this one's co-op and id is held.
    fn contains_held(&self, h: &Held) -> bool {
        self.slot_of(h.coop, &h.id).is_some()
    }

    /// Puts a view that is not held yet in a slot and in every index.
    fn place(&mut self, held: Held) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.records.push(None);
                (self.records.len() - 1) as Slot
            }
        };
        let Views {
            index,
            hasher,
            records,
            ..
        } = self;
        index.insert_unique(hasher.hash_one((held.coop, held.id)), slot, |s| {
            records[*s as usize]
                .as_ref()
                .map_or(0, |h| hasher.hash_one((h.coop, h.id)))
        });
        self.by_kind.entry(held.kind).or_default().insert(slot);
        if let Some(c) = self.category_text(&held) {
            self.by_category.entry(c.into()).or_default().insert(slot);
        }
        if let Some(p) = held.location() {
            self.by_cell.entry(cell_of(&p)).or_default().insert(slot);
        }
        if let Some(r) = held.refers_to() {
            self.by_ref.entry(r).or_default().insert(slot);
        }
        if let Some(o) = held.offer() {
            self.by_offer.entry(o).or_default().insert(slot);
        }
        self.records[slot as usize] = Some(held);
    }

    fn coop_of(&self, h: &Held) -> CoopId {
        self.coops.get(h.coop).copied().unwrap_or_default()
    }

    fn category_text(&self, h: &Held) -> Option<&str> {
        let id = h.category.checked_sub(1)?;
        self.categories.get(id).map(|c| &**c)
    }

    fn category(&self, h: &Held) -> Option<&Category> {
        let id = h.category.checked_sub(1)?;
        self.parsed.get(id as usize).and_then(Option::as_ref)
    }

    fn key_of(&self, h: &Held) -> Key {
        (self.coop_of(h), h.id)
    }

    fn facts(&self, h: &Held) -> Facts {
        Facts {
            kind: h.kind,
            me: RecordRef {
                coop: self.coop_of(h),
                record: h.id,
            },
            quantity: h.quantity,
            withdrawn: h.withdrawn,
            ends: h.time(ENDS),
            refers_to: h.refers_to(),
        }
    }

    /// The slot of a view, if held.
    fn slot(&self, coop: &CoopId, id: &RecordId) -> Option<Slot> {
        self.slot_of(self.coops.id(coop)?, id)
    }

    fn slot_of(&self, coop: u32, id: &RecordId) -> Option<Slot> {
        self.index
            .find(self.hasher.hash_one((coop, *id)), |s| {
                self.at(s).is_some_and(|h| h.coop == coop && h.id == *id)
            })
            .copied()
    }

    /// The view in a slot.
    fn at(&self, slot: &Slot) -> Option<&Held> {
        self.records.get(*slot as usize).and_then(Option::as_ref)
    }

    /// Every view held.
    fn all(&self) -> impl Iterator<Item = &Held> {
        self.records.iter().flatten()
    }

    /// Removes a view from every index.
    pub fn remove(&mut self, key: &Key) {
        let Some(slot) = self.slot(&key.0, &key.1) else {
            return;
        };
        let Some(old) = self.records.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        if let Ok(found) = self
            .index
            .find_entry(self.hasher.hash_one((old.coop, old.id)), |s| *s == slot)
        {
            found.remove();
        }
        self.free.push(slot);
        if self.titles.release(old.title) {
            self.titles
                .rewrite(self.records.iter_mut().filter_map(Option::as_mut));
        }
        let key = &slot;
        fn drop_from<K: Ord + ?Sized, B: std::borrow::Borrow<K> + Ord>(
            map: &mut BTreeMap<B, BTreeSet<Slot>>,
            k: &K,
            key: &Slot,
        ) {
            if let Some(set) = map.get_mut(k) {
                set.remove(key);
                if set.is_empty() {
                    map.remove(k);
                }
            }
        }
        drop_from(&mut self.by_kind, &old.kind, key);
        if let Some(id) = old.category.checked_sub(1)
            && let Some(c) = self.categories.get(id)
        {
            drop_from(&mut self.by_category, &**c, key);
        }
        if let Some(p) = old.location() {
            drop_from(&mut self.by_cell, &cell_of(&p), key);
        }
        for (map, r) in [
            (&mut self.by_ref, old.refers_to()),
            (&mut self.by_offer, old.offer()),
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
    pub fn of_kind(&self, kind: RecordKind) -> impl Iterator<Item = RecordView> + '_ {
        self.slots_of_kind(kind).map(|h| self.view(h))
    }

    /// The co-op and id of every view of one kind, in no particular order.
    pub fn keys_of_kind(&self, kind: RecordKind) -> impl Iterator<Item = Key> + '_ {
        self.slots_of_kind(kind).map(|h| self.key_of(h))
    }

    fn slots_of_kind(&self, kind: RecordKind) -> impl Iterator<Item = &Held> {
        self.by_kind
            .get(&kind)
            .into_iter()
            .flatten()
            .filter_map(|k| self.at(k))
    }

    /// The keys of every view of one co-op.
    pub fn keys_of(&self, coop: &CoopId) -> Vec<(CoopId, RecordId)> {
        let Some(c) = self.coops.id(coop) else {
            return Vec::new();
        };
        self.all()
            .filter(|h| h.coop == c)
            .map(|h| (*coop, h.id))
            .collect()
    }

    /// Views whose record id, in hex, starts with `prefix` (lower-case hex digits).
    pub fn find_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = RecordView> + 'a {
        let nibbles: Vec<u8> = prefix
            .bytes()
            .filter_map(|b| char::from(b).to_digit(16).map(|d| d as u8))
            .collect();
        self.all()
            .filter(move |v| {
                let id = v.id.as_bytes();
                nibbles.iter().enumerate().all(|(i, n)| {
                    let byte = id.get(i / 2).copied().unwrap_or(0);
                    let nib = if i % 2 == 0 { byte >> 4 } else { byte & 0xf };
                    nib == *n
                })
            })
            .map(|h| self.view(h))
    }

    /// The records that reference `to`: pledges of a need, answers and deliveries of a
    /// pledge, and, with `offers`, the pledges that draw on an offer.
    pub fn referring_to(
        &self,
        to: RecordRef,
        offers: bool,
    ) -> impl Iterator<Item = RecordView> + '_ {
        let drawing = offers.then(|| self.by_offer.get(&to)).flatten();
        self.referring(to)
            .chain(drawing.into_iter().flatten().filter_map(|k| self.at(k)))
            .map(|h| self.view(h))
    }

    /// Pledged and delivered totals of a need, an offer or a pledge.
    pub fn totals(&self, v: &RecordView) -> Option<Totals> {
        self.totals_of(&Facts::of(v))
    }

    fn totals_of(&self, v: &Facts) -> Option<Totals> {
        let statuses: Vec<PledgeStatus> = match v.kind {
            RecordKind::Need => self.need_pledges(v.me),
            RecordKind::Offer => self.offer_pledges(v.me),
            RecordKind::Pledge => vec![self.pledge_status(v)?],
            _ => return None,
        };
        let (pledged, delivered) = pledge_totals(v.quantity?.unit(), &statuses);
        Some(Totals { pledged, delivered })
    }

    fn need_pledges(&self, need: RecordRef) -> Vec<PledgeStatus> {
        self.referring(need)
            .filter(|p| p.kind == RecordKind::Pledge)
            .filter_map(|p| self.pledge_status(&self.facts(p)))
            .collect()
    }

    /// The pledges that draw on an offer: only its own co-op's. A pledge by another co-op
    /// naming it promises what that co-op does not hold, and takes nothing from the offer.
    fn offer_pledges(&self, offer: RecordRef) -> Vec<PledgeStatus> {
        let coop = self.coops.id(&offer.coop);
        self.by_offer
            .get(&offer)
            .into_iter()
            .flatten()
            .filter_map(|k| self.at(k))
            .filter(|p| p.kind == RecordKind::Pledge && Some(p.coop) == coop)
            .filter_map(|p| self.pledge_status(&self.facts(p)))
            .collect()
    }

    /// One view.
    pub fn get(&self, coop: &CoopId, id: &RecordId) -> Option<RecordView> {
        self.slot(coop, id)
            .and_then(|s| self.at(&s))
            .map(|h| self.view(h))
    }

    /// Whether a view is held.
    pub fn contains(&self, coop: &CoopId, id: &RecordId) -> bool {
        self.slot(coop, id).is_some()
    }

    /// How many views are held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn referring(&self, to: RecordRef) -> impl Iterator<Item = &Held> {
        self.by_ref
            .get(&to)
            .into_iter()
            .flatten()
            .filter_map(|k| self.at(k))
    }

    /// A pledge's status from the answers and deliveries that reference it.
    fn pledge_status(&self, pledge: &Facts) -> Option<PledgeStatus> {
        let need = pledge.refers_to?;
        let me = pledge.me;
        let answers = self.referring(me).filter_map(|v| {
            Some(Answer {
                coop: self.coop_of(v),
                decision: v.decision?,
                issued: v.time(ISSUED)?,
            })
        });
        let deliveries = self.referring(me).filter_map(|v| {
            (v.kind == RecordKind::Delivery).then_some(Received {
                coop: self.coop_of(v),
                quantity: v.quantity?,
            })
        });
        let cancelled = self
            .referring(me)
            .any(|v| v.kind == RecordKind::Cancellation && self.coop_of(v) == me.coop);
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
        self.status_of(&Facts::of(v), now)
    }

    fn status_of(&self, v: &Facts, now: Timestamp) -> Option<Status> {
        match v.kind {
            // Withdrawn for real, its content is gone: nothing else to derive.
            RecordKind::Need if v.withdrawn && v.quantity.is_none() => {
                Some(Status::Need(NeedStatus::Withdrawn))
            }
            RecordKind::Offer if v.withdrawn && v.quantity.is_none() => {
                Some(Status::Offer(OfferStatus::Withdrawn))
            }
            RecordKind::Need => Some(Status::Need(need_status_from(
                v.quantity?,
                v.withdrawn,
                v.ends,
                &self.need_pledges(v.me),
                now,
            ))),
            RecordKind::Offer => Some(Status::Offer(offer_status_from(
                v.quantity?,
                v.withdrawn,
                v.ends,
                &self.offer_pledges(v.me),
                now,
            ))),
            RecordKind::Pledge => self.pledge_status(v).map(|s| Status::Pledge(s.state)),
            _ => None,
        }
    }

    /// The records a query selects, with their status and totals, ordered by co-op and id.
    /// The most selective index narrows the candidates first, so a listing never scans
    /// every record when a filter names a kind, category or place.
    pub fn query(&self, q: &Query, now: Timestamp) -> Vec<Listed> {
        self.page(q, now).1
    }

    /// [`Views::query`], with how many records match in all, whatever the query's offset and
    /// limit: one pass over the views for both. Only the page is turned into views.
    pub fn page(&self, q: &Query, now: Timestamp) -> (usize, Vec<Listed>) {
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
            let prefix = c.as_str();
            Box::new(
                self.by_category
                    .range::<str, _>((
                        std::ops::Bound::Included(prefix),
                        std::ops::Bound::Unbounded,
                    ))
                    .take_while(move |(k, _)| k.starts_with(prefix))
                    .filter(|(k, _)| k.parse::<Category>().is_ok_and(|k| c.contains(&k)))
                    .flat_map(|(_, set)| set),
            )
        } else if let Some(kind) = q.kind {
            Box::new(self.by_kind.get(&kind).into_iter().flatten())
        } else {
            Box::new(self.by_kind.values().flatten())
        };
        let coop = q.coop.map(|c| self.coops.id(&c));
        let mut out: Vec<(&Held, Option<Status>)> = candidates
            .filter_map(|k| self.at(k))
            .filter(|v| q.kind.is_none_or(|k| v.kind == k))
            .filter(|v| !q.no_membership || v.kind.is_listed_by_default())
            .filter(|v| coop.is_none_or(|c| c == Some(v.coop)))
            .filter(|v| {
                q.category
                    .as_ref()
                    .is_none_or(|c| self.category(v).is_some_and(|k| c.contains(k)))
            })
            .filter(|v| q.urgency.is_none_or(|u| v.urgency.is_some_and(|x| x >= u)))
            .filter(|v| {
                q.until_before
                    .is_none_or(|d| v.time(UNTIL).is_some_and(|u| u <= d))
            })
            .filter(|v| {
                q.near
                    .as_ref()
                    .is_none_or(|(p, km)| v.location().is_some_and(|l| l.distance_km(p) <= *km))
            })
            .map(|v| (v, self.status_of(&self.facts(v), now)))
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
        out.sort_by_cached_key(|(v, _)| self.key_of(v));
        out.dedup_by_key(|(v, _)| (v.coop, v.id));
        if q.urgent_first {
            // Stable: equal ones stay by co-op and id. No urgency and no date sort last.
            out.sort_by_key(|(v, _)| {
                (
                    std::cmp::Reverse(v.urgency),
                    v.time(UNTIL).or(v.time(ENDS)).map_or(i64::MAX, |t| t.0),
                )
            });
        }
        let total = out.len();
        let page = out
            .into_iter()
            .skip(q.offset)
            .take(q.limit.unwrap_or(usize::MAX))
            .map(|(h, status)| Listed {
                totals: self.totals_of(&self.facts(h)),
                view: self.view(h),
                status,
            })
            .collect();
        (total, page)
    }
}

/// One record in a listing: its view, status and totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// Its compact view.
    pub view: RecordView,
    /// Its derived status (offers, needs and pledges).
    pub status: Option<Status>,
    /// Pledged and delivered totals (needs, offers and pledges).
    pub totals: Option<Totals>,
}
