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

use minga_protocol::{Category, CoopId, Dimension, Point, Quantity, RecordId, Timestamp, Urgency};
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
            radius_km: v
                .radius_km
                .as_deref()
                .and_then(|r| r.parse::<Decimal>().ok())
                .and_then(|r| r.to_f64()),
            from: v.from,
            until: v.until,
            urgency: v.urgency.unwrap_or_default(),
            minimum: v.minimum,
            created: v.created,
        })
    }

    /// The remaining amount in its dimension's base unit.
    fn base(&self) -> Option<(Dimension, Decimal)> {
        Some((
            self.remaining.unit().dimension(),
            self.remaining.in_base_unit()?,
        ))
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

/// Ranks offers for needs (and needs for an offer) over one snapshot of listings.
pub struct Matcher<'a> {
    needs: &'a [Listing],
    offers: &'a [Listing],
    need_index: Index,
    offer_index: Index,
    now: Timestamp,
}

fn depth(c: &Category) -> usize {
    c.segments().count()
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
        let reach = need.radius_km;
        let found = self
            .offer_index
            .near(&need.category, need.point.as_ref(), reach.or(Some(0.0)))
            .into_iter()
            .filter_map(|o| self.assess(n, o))
            .collect();
        self.best(found, limit, |m| &self.offers[m.offer])
    }

    /// The best `limit` needs for offer `o`, best first.
    pub fn for_offer(&self, o: usize, limit: usize) -> Vec<Match> {
        let Some(offer) = self.offers.get(o) else {
            return Vec::new();
        };
        let found = self
            .need_index
            .near(&offer.category, offer.point.as_ref(), offer.radius_km)
            .into_iter()
            .filter_map(|n| self.assess(n, o))
            .collect();
        self.best(found, limit, |m| &self.needs[m.need])
    }

    fn best(
        &self,
        mut found: Vec<Match>,
        limit: usize,
        other: impl Fn(&Match) -> &'a Listing,
    ) -> Vec<Match> {
        found.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| (other(a).coop, other(a).id).cmp(&(other(b).coop, other(b).id)))
        });
        found.truncate(limit);
        found
    }

    /// Whether need `n` and offer `o` can be matched at all (the rules in the module docs),
    /// with the distance between them when both are located.
    pub(crate) fn eligible(&self, n: usize, o: usize) -> Option<Option<f64>> {
        let (need, offer) = (self.needs.get(n)?, self.offers.get(o)?);
        if need.coop == offer.coop {
            return None;
        }
        if !(need.category.contains(&offer.category) || offer.category.contains(&need.category)) {
            return None;
        }
        let (nd, nq) = need.base()?;
        let (od, oq) = offer.base()?;
        if nd != od || nq <= Decimal::ZERO || oq <= Decimal::ZERO {
            return None;
        }
        if let Some(min) = offer.minimum.and_then(|m| {
            (m.unit().dimension() == nd)
                .then(|| m.in_base_unit())
                .flatten()
        }) && min > nq
        {
            return None;
        }
        if let (Some(from), Some(by)) = (offer.from, need.until)
            && from > by
        {
            return None;
        }
        let distance = match (&need.point, &offer.point) {
            (Some(a), Some(b)) => Some(a.distance_km(b)),
            _ => None,
        };
        if let (Some(d), Some(reach)) = (distance, reach_of(need, offer))
            && d > reach
        {
            return None;
        }
        Some(distance)
    }

    /// Scores need `n` against offer `o`, with every reason; `None` when not a candidate.
    pub fn assess(&self, n: usize, o: usize) -> Option<Match> {
        let distance = self.eligible(n, o)?;
        let (need, offer) = (&self.needs[n], &self.offers[o]);
        let mut reasons = Vec::with_capacity(6);
        let mut add = |factor, score: f64, text: String| {
            reasons.push(Reason {
                factor,
                score: score.clamp(0.0, 1.0),
                text,
            })
        };

        let (dn, doff) = (depth(&need.category), depth(&offer.category));
        if dn == doff {
            add(
                Factor::Resource,
                1.0,
                format!("same category {}", need.category),
            );
        } else if doff > dn {
            add(
                Factor::Resource,
                1.0 - 0.2 * (doff - dn) as f64,
                format!(
                    "the offer's {} is a kind of {}",
                    offer.category, need.category
                ),
            );
        } else {
            add(
                Factor::Resource,
                1.0 - 0.3 * (dn - doff) as f64,
                format!(
                    "the offer's broader {} may include {}",
                    offer.category, need.category
                ),
            );
        }

        let (_, nq) = need.base()?;
        let (_, oq) = offer.base()?;
        let cover = (oq.min(nq) / nq).to_f64().unwrap_or(0.0);
        add(
            Factor::Quantity,
            cover,
            format!(
                "the offer's {} covers {:.0}% of the {} still needed",
                offer.remaining,
                cover * 100.0,
                need.remaining
            ),
        );

        match distance {
            Some(d) => {
                let (score, text) = match reach_of(need, offer) {
                    Some(r) if r > 0.0 => (
                        1.0 - 0.7 * (d / r),
                        format!("{d:.0} km apart, within reach ({r:.0} km)"),
                    ),
                    _ => (
                        1.0 / (1.0 + d / 100.0),
                        format!("{d:.0} km apart (no delivery radius given)"),
                    ),
                };
                add(Factor::Distance, score, text);
            }
            None => add(
                Factor::Distance,
                0.6,
                format!(
                    "no location on the {}: assumed reachable",
                    if need.point.is_none() {
                        "need"
                    } else {
                        "offer"
                    }
                ),
            ),
        }

        match (offer.from.filter(|f| *f > self.now), need.until) {
            (None, Some(by)) => add(
                Factor::Time,
                1.0,
                format!("available now, needed by {}", show_time(by)),
            ),
            (None, None) => add(Factor::Time, 1.0, "available now".into()),
            (Some(from), Some(by)) => add(
                Factor::Time,
                0.7,
                format!(
                    "available from {}, needed by {}",
                    show_time(from),
                    show_time(by)
                ),
            ),
            (Some(from), None) => add(
                Factor::Time,
                0.8,
                format!("available from {}", show_time(from)),
            ),
        }

        let u = match need.urgency {
            Urgency::Low => 0.25,
            Urgency::Normal => 0.5,
            Urgency::High => 0.75,
            Urgency::Critical => 1.0,
        };
        add(Factor::Urgency, u, format!("urgency {}", need.urgency));

        match need.created {
            Some(t) => {
                let days = ((self.now.millis() - t.millis()).max(0) as f64) / 86_400_000.0;
                add(
                    Factor::Age,
                    days / 14.0,
                    format!("need posted {days:.0} days ago"),
                );
            }
            None => add(Factor::Age, 0.0, "posting date unknown".into()),
        }

        let score = reasons
            .iter()
            .map(|r| r.factor.weight() * r.score)
            .sum::<f64>()
            * 100.0;
        Some(Match {
            need: n,
            offer: o,
            score: (score * 10.0).round() / 10.0,
            distance_km: distance,
            reasons,
        })
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
