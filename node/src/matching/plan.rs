//! The allocation plan: proposed pledges that cover as much need as possible, weighted by
//! urgency, and among those the nearest, as a minimum-cost flow.
//!
//! Source → each offer (capacity: what it still has) → each need it may serve (unbounded)
//! → sink (capacity: what the need still lacks). Amounts are thousandths of the dimension's
//! base unit (grams for mass), so quantities split freely. Each unit sent to a need costs
//! `distance − weight × BIG`, where the weight doubles with each urgency level and `BIG`
//! exceeds any distance: covering more (urgency-weighted) always wins, and distance only
//! decides between plans that cover the same. The flow with the least cost is optimal, and
//! integral amounts suffice (transport problems are totally unimodular).
//!
//! The network splits into independent parts (needs and offers that can reach each other
//! through candidate pairs), each solved alone, so unrelated categories never share a graph.

use minga_protocol::{Quantity, Timestamp, Urgency};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use super::flow::Network;
use super::{Listing, Matcher};

/// Distances are costed in whole km up to this; farther costs the same.
const MAX_KM: i64 = 20_000;
/// What an unknown distance (a listing without a location) costs, in km.
const UNKNOWN_KM: i64 = 50;
/// More than any distance cost, so coverage always comes first.
const BIG: i64 = MAX_KM + 1;
/// Amounts are counted in thousandths of the base unit.
const SCALE: i64 = 1000;
/// No amount is counted beyond this (10¹⁵ thousandths): keeps costs inside `i64`.
const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// One proposed pledge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Proposal {
    /// The need (an index into the needs given).
    pub need: usize,
    /// The offer drawn on (an index into the offers given).
    pub offer: usize,
    /// How much, in the need's unit.
    pub quantity: Quantity,
    /// Thousandths of the base unit (what the solver moved).
    pub amount: i64,
    /// Distance between them, when both are located.
    pub distance_km: Option<f64>,
}

/// The plan for a snapshot of open needs and offers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The proposed pledges, by need then offer.
    pub proposals: Vec<Proposal>,
    /// The solver's objective (lower is better): for tests and comparisons.
    pub cost: i128,
    /// Candidate pairs considered.
    pub pairs: usize,
}

/// The urgency weight: each level counts twice the one below.
pub(crate) fn weight(u: Urgency) -> i64 {
    match u {
        Urgency::Low => 1,
        Urgency::Normal => 2,
        Urgency::High => 4,
        Urgency::Critical => 8,
    }
}

/// What sending one thousandth of a unit from an offer to a need costs.
pub(crate) fn unit_cost(need: &Listing, distance: Option<f64>) -> i64 {
    let km = distance.map_or(UNKNOWN_KM, |d| (d.round() as i64).clamp(0, MAX_KM));
    km - weight(need.urgency) * BIG
}

/// An amount in thousandths of the base unit, capped.
pub(crate) fn amount(l: &Listing) -> i64 {
    l.remaining
        .in_base_unit()
        .and_then(|b| (b * Decimal::from(SCALE)).floor().to_i64())
        .unwrap_or(0)
        .clamp(0, MAX_AMOUNT)
}

struct Parts {
    parent: Vec<usize>,
}

impl Parts {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

/// The optimal plan for these needs and offers at `now`. Deterministic for a given input
/// order; callers sort listings (the node sorts by co-op and id).
pub fn plan(needs: &[Listing], offers: &[Listing], now: Timestamp) -> Plan {
    let m = Matcher::new(needs, offers, now);
    // Candidate pairs, from the index.
    let mut pairs: Vec<(usize, usize, Option<f64>)> = Vec::new();
    for (n, need) in needs.iter().enumerate() {
        let reach = need.radius_km.or(Some(0.0));
        for o in m
            .offer_index
            .near(&need.category, need.point.as_ref(), reach)
        {
            if let Some(d) = m.eligible(n, o) {
                pairs.push((n, o, d));
            }
        }
    }
    // Independent parts: nodes 0..needs are needs, then offers.
    let mut parts = Parts {
        parent: (0..needs.len() + offers.len()).collect(),
    };
    for &(n, o, _) in &pairs {
        parts.join(n, needs.len() + o);
    }
    let mut by_part: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &(n, _, _)) in pairs.iter().enumerate() {
        by_part.entry(parts.find(n)).or_default().push(i);
    }

    let mut out = Plan {
        pairs: pairs.len(),
        ..Plan::default()
    };
    for members in by_part.values() {
        solve_part(needs, offers, &pairs, members, &mut out);
    }
    out.proposals.sort_by_key(|p| (p.need, p.offer));
    out
}

fn solve_part(
    needs: &[Listing],
    offers: &[Listing],
    pairs: &[(usize, usize, Option<f64>)],
    members: &[usize],
    out: &mut Plan,
) {
    // Local node numbers: source 0, sink 1, then each need and offer of this part.
    let mut local = std::collections::BTreeMap::new();
    let mut next = 2usize;
    let mut node_of = |key: (bool, usize)| {
        *local.entry(key).or_insert_with(|| {
            next += 1;
            next - 1
        })
    };
    let edges_of: Vec<(usize, usize, usize)> = members
        .iter()
        .map(|&i| {
            let (n, o, _) = pairs[i];
            (i, node_of((false, n)), node_of((true, o)))
        })
        .collect();
    let mut net = Network::new(next);
    for (&(is_offer, idx), &node) in &local {
        if is_offer {
            net.add_edge(0, node, amount(&offers[idx]), 0);
        } else {
            net.add_edge(node, 1, amount(&needs[idx]), 0);
        }
    }
    let mut flows = Vec::with_capacity(edges_of.len());
    for &(i, need_node, offer_node) in &edges_of {
        let (n, _, d) = pairs[i];
        let cap = amount(&needs[n]);
        flows.push((
            i,
            net.add_edge(offer_node, need_node, cap, unit_cost(&needs[n], d)),
        ));
    }
    out.cost += net.min_cost_flow(0, 1);
    for (i, e) in flows {
        let moved = net.flow_on(e);
        if moved <= 0 {
            continue;
        }
        let (n, o, d) = pairs[i];
        out.proposals.push(Proposal {
            need: n,
            offer: o,
            quantity: in_unit_of(&needs[n], moved),
            amount: moved,
            distance_km: d,
        });
    }
}

/// `moved` thousandths of the base unit, in the unit of `l`'s quantity.
fn in_unit_of(l: &Listing, moved: i64) -> Quantity {
    let unit = l.remaining.unit();
    let base = Decimal::from(moved) / Decimal::from(SCALE);
    let per = l
        .remaining
        .in_base_unit()
        .filter(|b| !b.is_zero())
        .map(|b| b / l.remaining.value())
        .unwrap_or(Decimal::ONE);
    let value = (base / per).round_dp(3).normalize();
    Quantity::new(value, unit).unwrap_or(l.remaining)
}
