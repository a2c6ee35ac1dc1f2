//! Matching at scale: ranked matches for every open need among 10,000 needs and 10,000
//! offers, against scoring every pair (the naive baseline) in the same run; and the
//! allocation plan at 1,000 × 1,000 and 10,000 × 10,000. Prints one JSON line per figure.
//!
//! The listings are synthetic but shaped like real ones: 208 category paths three levels
//! deep, points across Argentina, most offers with a delivery radius of 20–200 km, quantities
//! of 1–1,000 kg (one in ten in litres), all urgencies, posted over the last 30 days.
//!
//! Run: `cargo bench -p minga-node --bench matching`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use minga_node::matching::{Listing, Matcher, plan};
use minga_protocol::{CoopId, Hash, Point, RecordId, Timestamp, Urgency};
use rust_decimal::Decimal;

const NOW: Timestamp = Timestamp(1_800_000_000_000);

/// A small deterministic generator (xorshift64*), so every run sees the same listings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

fn categories() -> Vec<String> {
    let mut out = Vec::new();
    for top in [
        "food",
        "textile",
        "tools",
        "building",
        "health",
        "energy",
        "transport",
        "care",
    ] {
        out.push(top.to_string());
        for s in 0..5 {
            out.push(format!("{top}/s{s}"));
            for l in 0..4 {
                out.push(format!("{top}/s{s}/l{l}"));
            }
        }
    }
    out
}

fn listings(rng: &mut Rng, n: usize, offers: bool, cats: &[String]) -> Vec<Listing> {
    let leaves: Vec<&String> = cats
        .iter()
        .filter(|c| c.matches('/').count() == 2)
        .collect();
    let mids: Vec<&String> = cats
        .iter()
        .filter(|c| c.matches('/').count() == 1)
        .collect();
    (0..n)
        .map(|i| {
            let pick = rng.below(100);
            let category = if pick < 80 {
                leaves[rng.below(leaves.len() as u64) as usize]
            } else if pick < 95 {
                mids[rng.below(mids.len() as u64) as usize]
            } else {
                &cats[rng.below(cats.len() as u64) as usize]
            };
            let unit = if rng.below(10) == 0 { "l" } else { "kg" };
            let lat = Decimal::new(rng.range(-5_500, -2_200), 2);
            let lon = Decimal::new(rng.range(-7_300, -5_300), 2);
            let radius = if offers {
                (rng.below(10) < 7).then(|| rng.range(20, 200) as f64)
            } else {
                (rng.below(10) < 2).then(|| rng.range(10, 50) as f64)
            };
            Listing {
                coop: CoopId(Hash::of(&[offers as u8, (i % 300) as u8, (i % 7) as u8])),
                id: RecordId(Hash::of(
                    &[&[offers as u8][..], &(i as u64).to_be_bytes()].concat(),
                )),
                title: format!("listing {i}"),
                category: category.parse().unwrap(),
                remaining: format!("{} {unit}", rng.range(1, 1000)).parse().unwrap(),
                point: Point::new(lat, lon),
                radius_km: radius,
                from: None,
                until: None,
                urgency: [
                    Urgency::Low,
                    Urgency::Normal,
                    Urgency::High,
                    Urgency::Critical,
                ][rng.below(4) as usize],
                minimum: None,
                created: Some(Timestamp(NOW.0 - rng.range(0, 30 * 86_400_000))),
            }
        })
        .collect()
}

fn line(figure: &str, fields: &[(&str, String)]) {
    let rest: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    println!("{{\"figure\":\"{figure}\",{}}}", rest.join(","));
}

fn main() {
    let cats = categories();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let needs = listings(&mut rng, 10_000, false, &cats);
    let offers = listings(&mut rng, 10_000, true, &cats);

    // Ranked matches through the indexes: three best offers for every need.
    let t = Instant::now();
    let m = Matcher::new(&needs, &offers, NOW);
    let built = t.elapsed().as_secs_f64();
    let mut found = 0usize;
    for n in 0..needs.len() {
        found += m.for_need(n, 3).len();
    }
    let indexed = t.elapsed().as_secs_f64();
    line(
        "rank_10k_needs_x_10k_offers_indexed",
        &[
            ("seconds", format!("{indexed:.3}")),
            ("index_seconds", format!("{built:.3}")),
            ("matches_returned", found.to_string()),
            (
                "needs_per_second",
                format!("{:.0}", needs.len() as f64 / indexed),
            ),
        ],
    );

    // Baseline: the same ranking with every offer a candidate, as a matcher without indexes
    // must; it returns the same matches.
    let t = Instant::now();
    let mut same = 0usize;
    for n in 0..needs.len() {
        same += m.for_need_without_index(n, 3).len();
    }
    let all_pairs = t.elapsed().as_secs_f64();
    assert_eq!(same, found);
    line(
        "rank_10k_needs_x_10k_offers_all_pairs_baseline",
        &[("seconds", format!("{all_pairs:.3}"))],
    );
    line(
        "ratio_all_pairs_to_indexed",
        &[("value", format!("{:.1}", all_pairs / indexed))],
    );

    for size in [1_000usize, 10_000] {
        let (n, o) = (&needs[..size], &offers[..size]);
        let t = Instant::now();
        let p = plan(n, o, NOW);
        let secs = t.elapsed().as_secs_f64();
        let mut served = vec![false; n.len()];
        for x in &p.proposals {
            served[x.need] = true;
        }
        line(
            &format!("plan_{size}_x_{size}"),
            &[
                ("seconds", format!("{secs:.3}")),
                ("candidate_pairs", p.pairs.to_string()),
                ("proposals", p.proposals.len().to_string()),
                (
                    "needs_served",
                    served.iter().filter(|x| **x).count().to_string(),
                ),
            ],
        );
    }
}
