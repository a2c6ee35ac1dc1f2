//! Matching needs to offers: ranked matches with the reasons for each score, and an
//! allocation plan that covers as much need as possible (see [`plan`]).
//!
//! Pure: it takes [`Listing`]s and a clock and returns values, so it is tested without a
//! node. A pair is a candidate only when
//! - the two belong to different co-ops;
//! - their categories are the same, or one contains the other (`food/grain` and
//!   `food/grain/rice`);
//! - their quantities measure the same thing (mass with mass, and so on), and the offer's
//!   minimum, if any, is no more than what the need still lacks;
//! - when both have a location, they are within reach: the offer's delivery radius plus the
//!   need's radius (a listing with no location, or no radius on either side, reaches anywhere);
//! - the offer is available before the need's needed-by date.
//!
//! Candidates come from an index by category path and, inside a large category, by a
//! one-degree grid, so matching never compares every need with every offer.

mod flow;
mod plan;

use std::collections::{BTreeMap, HashMap};

use minga_protocol::{
    Category, CoopId, Dimension, Point, Quantity, RecordId, Timestamp, Urgency, haversine_km,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

pub use plan::{Plan, Proposal, plan};

use crate::views::{RecordView, Totals};

/// An open offer or need as matching sees it: what is still available or lacking.
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    /// The co-op that posted it.
    pub coop: CoopId,
    /// Its record id.
    pub id: RecordId,
    /// Its title.
    pub title: String,
    /// Its category.
    pub category: Category,
    /// What is still available (offers) or still lacking (needs): the quantity less the
    /// pledges not declined.
    pub remaining: Quantity,
    /// Where it is.
    pub point: Option<Point>,
    /// Its radius in km (an offer's delivery radius).
    pub radius_km: Option<f64>,
    /// Available from (offers) or needed from (needs).
    pub from: Option<Timestamp>,
    /// Available until (offers) or needed by (needs).
    pub until: Option<Timestamp>,
    /// How pressing (needs).
    pub urgency: Urgency,
    /// The least worth arranging (offers).
    pub minimum: Option<Quantity>,
    /// When it was posted.
    pub created: Option<Timestamp>,
}

impl Listing {
    /// The listing of an open offer or need's view, given its pledged total; `None` when
    /// nothing remains or the view lacks what matching needs.
    pub fn of(v: &RecordView, totals: Option<&Totals>) -> Option<Listing> {
        let quantity = v.quantity?;
        let remaining = match totals {
            Some(t) => {
                let left = quantity.value() - t.pledged.convert_to(quantity.unit()).ok()?.value();
                Quantity::new(left, quantity.unit()).ok()?
            }
            None => quantity,
        };
        if remaining.value() <= Decimal::ZERO {
            return None;
        }
        Some(Listing {
            coop: v.coop,
            id: v.id,
            title: v.title.clone().unwrap_or_default(),
            category: v.category.as_deref()?.parse().ok()?,
            remaining,
            point: v.location(),
            radius_km: v.radius_km.and_then(|r| r.to_f64()),
            from: v.from,
            until: v.until,
            urgency: v.urgency.unwrap_or_default(),
            minimum: v.minimum,
            created: v.created,
        })
    }
}

/// What a part of the score measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Factor {
    /// How close the categories are.
    Resource,
    /// How much of what the need lacks the offer covers.
    Quantity,
    /// How near they are.
    Distance,
    /// Whether the offer is available in time.
    Time,
    /// How pressing the need is.
    Urgency,
    /// How long the need has waited.
    Age,
}

impl Factor {
    /// Its share of the total score.
    fn weight(self) -> f64 {
        match self {
            Factor::Resource => 0.25,
            Factor::Quantity => 0.25,
            Factor::Distance => 0.20,
            Factor::Time => 0.10,
            Factor::Urgency => 0.15,
            Factor::Age => 0.05,
        }
    }
}

/// One part of a score, with the reason in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// What it measures.
    pub factor: Factor,
    /// Its value, 0 to 1, before weighting.
    pub score: f64,
    /// Why, for the user.
    pub text: String,
}

/// A candidate offer for a need, scored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Match {
    /// The need (an index into the needs given).
    pub need: usize,
    /// The offer (an index into the offers given).
    pub offer: usize,
    /// 0 to 100: the weighted sum of the reasons' scores.
    pub score: f64,
    /// Great-circle distance, when both have a location.
    pub distance_km: Option<f64>,
    /// Every part of the score.
    pub reasons: Vec<Reason>,
}

/// A grid cell of one degree by one degree.
type Cell = (i32, i32);

fn cell_of(p: &Point) -> Cell {
    let f = |d: Decimal| d.floor().to_i32().unwrap_or(0);
    (f(p.lat()), f(p.lon()))
}

/// Listings of one category, with a grid when there are many.
#[derive(Default)]
struct Bucket {
    all: Vec<usize>,
    unlocated: Vec<usize>,
    cells: HashMap<Cell, Vec<usize>>,
    /// The largest radius of a located listing; `None` when one has none (reaches anywhere).
    max_radius: Option<f64>,
    any_unbounded: bool,
}

/// Buckets with more listings than this are searched through their grid.
const GRID_FROM: usize = 64;

/// Listings by category path, and by grid cell inside each category.
struct Index {
    buckets: BTreeMap<String, Bucket>,
}

impl Index {
    fn new(listings: &[Listing]) -> Index {
        let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
        for (i, l) in listings.iter().enumerate() {
            let b = buckets.entry(l.category.as_str().to_string()).or_default();
            b.all.push(i);
            match &l.point {
                Some(p) => {
                    b.cells.entry(cell_of(p)).or_default().push(i);
                    match l.radius_km {
                        Some(r) => b.max_radius = Some(b.max_radius.map_or(r, |m: f64| m.max(r))),
                        None => b.any_unbounded = true,
                    }
                }
                None => b.unlocated.push(i),
            }
        }
        Index { buckets }
    }

    /// Buckets of `c`, its ancestors and its descendants.
    fn related<'a>(&'a self, c: &'a Category) -> impl Iterator<Item = &'a Bucket> {
        let path = c.as_str();
        let ancestors = path
            .match_indices('/')
            .map(move |(i, _)| &path[..i])
            .chain(std::iter::once(path))
            .filter_map(|p| self.buckets.get(p));
        let below = format!("{path}/");
        let descendants = self
            .buckets
            .range(below.clone()..)
            .take_while(move |(k, _)| k.starts_with(&below))
            .map(|(_, b)| b);
        ancestors.chain(descendants)
    }

    /// Candidates near `at` within `reach` km of it (plus the other side's own radius,
    /// which the bucket's largest radius bounds), from the related buckets.
    fn near(&self, c: &Category, at: Option<&Point>, reach: Option<f64>) -> Vec<usize> {
        let mut out = Vec::new();
        for b in self.related(c) {
            let (Some(p), false) = (at, b.all.len() <= GRID_FROM || b.any_unbounded) else {
                out.extend_from_slice(&b.all);
                continue;
            };
            let Some(km) = reach.map(|r| r + b.max_radius.unwrap_or(0.0)) else {
                out.extend_from_slice(&b.all);
                continue;
            };
            out.extend_from_slice(&b.unlocated);
            let (la, lo) = cell_of(p);
            // No two points are farther apart than half the Earth's circumference.
            let km = km.clamp(0.0, 20_100.0);
            let dlat = (km / 111.0).ceil() as i32 + 1;
            let lat = p.lat().to_f64().unwrap_or(0.0).to_radians().cos().max(0.01);
            let dlon = ((km / (111.0 * lat)).ceil() as i32 + 1).min(181);
            for a in la - dlat..=la + dlat {
                for o in lo - dlon..=lo + dlon {
                    let wrapped = ((o + 180).rem_euclid(360)) - 180;
                    if let Some(v) = b.cells.get(&(a, wrapped)) {
                        out.extend_from_slice(v);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What scoring needs of a listing, computed once per snapshot so the pair loop does no
/// decimal arithmetic.
struct Prepared {
    dimension: Option<Dimension>,
    /// The remaining amount in the base unit.
    base: f64,
    /// The minimum in the base unit (offers), when of the same dimension.
    minimum: Option<f64>,
    /// The point in radians.
    at: Option<(f64, f64)>,
    depth: usize,
}

impl Prepared {
    fn of(l: &Listing) -> Prepared {
        let dimension = l.remaining.unit().dimension();
        let base = l
            .remaining
            .in_base_unit()
            .and_then(|b| b.to_f64())
            .unwrap_or(0.0);
        Prepared {
            dimension: (base > 0.0).then_some(dimension),
            base,
            minimum: l
                .minimum
                .filter(|m| m.unit().dimension() == dimension)
                .and_then(|m| m.in_base_unit())
                .and_then(|m| m.to_f64()),
            at: l.point.as_ref().map(Point::radians),
            depth: l.category.segments().count(),
        }
    }
}

/// The numbers behind one pair's score; words are added only for matches shown.
struct Facts {
    distance: Option<f64>,
    reach: Option<f64>,
    cover: f64,
    scores: [f64; 6],
    total: f64,
}

const FACTORS: [Factor; 6] = [
    Factor::Resource,
    Factor::Quantity,
    Factor::Distance,
    Factor::Time,
    Factor::Urgency,
    Factor::Age,
];

/// Ranks offers for needs (and needs for an offer) over one snapshot of listings.
pub struct Matcher<'a> {
    needs: &'a [Listing],
    offers: &'a [Listing],
    need_facts: Vec<Prepared>,
    offer_facts: Vec<Prepared>,
    need_index: Index,
    offer_index: Index,
    now: Timestamp,
}

fn show_time(t: Timestamp) -> String {
    t.to_string().chars().take(10).collect()
}

impl<'a> Matcher<'a> {
    /// Indexes the listings.
    pub fn new(needs: &'a [Listing], offers: &'a [Listing], now: Timestamp) -> Matcher<'a> {
        Matcher {
            needs,
            offers,
            need_facts: needs.iter().map(Prepared::of).collect(),
            offer_facts: offers.iter().map(Prepared::of).collect(),
            need_index: Index::new(needs),
            offer_index: Index::new(offers),
            now,
        }
    }

    /// The needs.
    pub fn needs(&self) -> &'a [Listing] {
        self.needs
    }

    /// The offers.
    pub fn offers(&self) -> &'a [Listing] {
        self.offers
    }

    /// The best `limit` offers for need `n`, best first (ties by co-op and id).
    pub fn for_need(&self, n: usize, limit: usize) -> Vec<Match> {
        let Some(need) = self.needs.get(n) else {
            return Vec::new();
        };
        let candidates = self.offer_index.near(
            &need.category,
            need.point.as_ref(),
            need.radius_km.or(Some(0.0)),
        );
        self.best(candidates.into_iter().map(|o| (n, o)), limit, |(_, o)| {
            &self.offers[o]
        })
    }

    /// [`Matcher::for_need`] with every offer as a candidate: what the index saves, for
    /// benchmarks and for tests that the index never loses a match.
    pub fn for_need_without_index(&self, n: usize, limit: usize) -> Vec<Match> {
        self.best((0..self.offers.len()).map(|o| (n, o)), limit, |(_, o)| {
            &self.offers[o]
        })
    }

    /// The best `limit` needs for offer `o`, best first.
    pub fn for_offer(&self, o: usize, limit: usize) -> Vec<Match> {
        let Some(offer) = self.offers.get(o) else {
            return Vec::new();
        };
        let candidates =
            self.need_index
                .near(&offer.category, offer.point.as_ref(), offer.radius_km);
        self.best(candidates.into_iter().map(|n| (n, o)), limit, |(n, _)| {
            &self.needs[n]
        })
    }

    /// Scores the pairs, keeps the best `limit` (ties by the other side's co-op and id), and
    /// explains only those.
    fn best(
        &self,
        pairs: impl Iterator<Item = (usize, usize)>,
        limit: usize,
        other: impl Fn((usize, usize)) -> &'a Listing,
    ) -> Vec<Match> {
        let mut scored: Vec<((usize, usize), Facts)> = pairs
            .filter_map(|(n, o)| self.facts(n, o).map(|f| ((n, o), f)))
            .collect();
        let order = |a: &((usize, usize), Facts), b: &((usize, usize), Facts)| {
            b.1.total.total_cmp(&a.1.total).then_with(|| {
                let (x, y) = (other(a.0), other(b.0));
                (x.coop, x.id).cmp(&(y.coop, y.id))
            })
        };
        if scored.len() > limit && limit > 0 {
            scored.select_nth_unstable_by(limit - 1, order);
        }
        scored.truncate(limit);
        scored.sort_by(order);
        scored
            .into_iter()
            .map(|((n, o), f)| self.explain(n, o, &f))
            .collect()
    }

    /// Whether need `n` and offer `o` can be matched at all (the rules in the module docs),
    /// with the distance between them when both are located.
    pub(crate) fn eligible(&self, n: usize, o: usize) -> Option<Option<f64>> {
        let (need, offer) = (self.needs.get(n)?, self.offers.get(o)?);
        let (np, op) = (self.need_facts.get(n)?, self.offer_facts.get(o)?);
        if need.coop == offer.coop {
            return None;
        }
        if np.dimension.is_none() || np.dimension != op.dimension {
            return None;
        }
        if !(need.category.contains(&offer.category) || offer.category.contains(&need.category)) {
            return None;
        }
        if op.minimum.is_some_and(|min| min > np.base) {
            return None;
        }
        if let (Some(from), Some(by)) = (offer.from, need.until)
            && from > by
        {
            return None;
        }
        let distance = match (np.at, op.at) {
            (Some(a), Some(b)) => Some(haversine_km(a, b)),
            _ => None,
        };
        if let (Some(d), Some(reach)) = (distance, reach_of(need, offer))
            && d > reach
        {
            return None;
        }
        Some(distance)
    }

    /// The numbers behind the score of need `n` against offer `o`.
    fn facts(&self, n: usize, o: usize) -> Option<Facts> {
        let distance = self.eligible(n, o)?;
        let (need, offer) = (&self.needs[n], &self.offers[o]);
        let (np, op) = (&self.need_facts[n], &self.offer_facts[o]);
        let resource = match op.depth.cmp(&np.depth) {
            std::cmp::Ordering::Equal => 1.0,
            std::cmp::Ordering::Greater => 1.0 - 0.2 * (op.depth - np.depth) as f64,
            std::cmp::Ordering::Less => 1.0 - 0.3 * (np.depth - op.depth) as f64,
        };
        let cover = (op.base.min(np.base) / np.base).clamp(0.0, 1.0);
        let reach = reach_of(need, offer);
        let near = match (distance, reach) {
            (Some(d), Some(r)) if r > 0.0 => 1.0 - 0.7 * (d / r),
            (Some(d), _) => 1.0 / (1.0 + d / 100.0),
            (None, _) => 0.6,
        };
        let time = match (offer.from.filter(|f| *f > self.now), need.until) {
            (None, _) => 1.0,
            (Some(_), Some(_)) => 0.7,
            (Some(_), None) => 0.8,
        };
        let urgency = match need.urgency {
            Urgency::Low => 0.25,
            Urgency::Normal => 0.5,
            Urgency::High => 0.75,
            Urgency::Critical => 1.0,
        };
        let age = need.created.map_or(0.0, |t| {
            ((self.now.millis() - t.millis()).max(0) as f64) / 86_400_000.0 / 14.0
        });
        let scores = [resource, cover, near, time, urgency, age].map(|x| x.clamp(0.0, 1.0));
        let total = FACTORS
            .iter()
            .zip(scores)
            .map(|(f, x)| f.weight() * x)
            .sum::<f64>()
            * 100.0;
        Some(Facts {
            distance,
            reach,
            cover,
            scores,
            total: (total * 10.0).round() / 10.0,
        })
    }

    /// A scored pair with the reason for each part of its score, in words.
    fn explain(&self, n: usize, o: usize, f: &Facts) -> Match {
        let (need, offer) = (&self.needs[n], &self.offers[o]);
        let (np, op) = (&self.need_facts[n], &self.offer_facts[o]);
        let resource = if np.depth == op.depth {
            format!("same category {}", need.category)
        } else if op.depth > np.depth {
            format!(
                "the offer's {} is a kind of {}",
                offer.category, need.category
            )
        } else {
            format!(
                "the offer's broader {} may include {}",
                offer.category, need.category
            )
        };
        let quantity = format!(
            "the offer's {} covers {:.0}% of the {} still needed",
            offer.remaining,
            f.cover * 100.0,
            need.remaining
        );
        let distance = match (f.distance, f.reach) {
            (Some(d), Some(r)) if r > 0.0 => format!("{d:.0} km apart, within reach ({r:.0} km)"),
            (Some(d), _) => format!("{d:.0} km apart (no delivery radius given)"),
            (None, _) => format!(
                "no location on the {}: assumed reachable",
                if need.point.is_none() {
                    "need"
                } else {
                    "offer"
                }
            ),
        };
        let time = match (offer.from.filter(|t| *t > self.now), need.until) {
            (None, Some(by)) => format!("available now, needed by {}", show_time(by)),
            (None, None) => "available now".into(),
            (Some(from), Some(by)) => {
                format!(
                    "available from {}, needed by {}",
                    show_time(from),
                    show_time(by)
                )
            }
            (Some(from), None) => format!("available from {}", show_time(from)),
        };
        let age = match need.created {
            Some(t) => format!(
                "need posted {:.0} days ago",
                ((self.now.millis() - t.millis()).max(0) as f64) / 86_400_000.0
            ),
            None => "posting date unknown".into(),
        };
        let texts = [
            resource,
            quantity,
            distance,
            time,
            format!("urgency {}", need.urgency),
            age,
        ];
        Match {
            need: n,
            offer: o,
            score: f.total,
            distance_km: f.distance,
            reasons: FACTORS
                .iter()
                .zip(f.scores)
                .zip(texts)
                .map(|((factor, score), text)| Reason {
                    factor: *factor,
                    score,
                    text,
                })
                .collect(),
        }
    }

    /// Scores need `n` against offer `o`, with every reason; `None` when not a candidate.
    pub fn assess(&self, n: usize, o: usize) -> Option<Match> {
        self.facts(n, o).map(|f| self.explain(n, o, &f))
    }
}

/// How far apart a need and an offer may be: the offer's delivery radius plus the need's,
/// `None` (anywhere) when neither gives one.
fn reach_of(need: &Listing, offer: &Listing) -> Option<f64> {
    match (offer.radius_km, need.radius_km) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

#[cfg(test)]
mod tests;
