#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::plan::{amount, unit_cost};
use super::*;
use minga_protocol::Hash;
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn coop(n: u8) -> CoopId {
    CoopId(Hash::of(&[n]))
}

fn listing(coop_n: u8, id: u8, category: &str, qty: &str) -> Listing {
    Listing {
        coop: coop(coop_n),
        id: RecordId(Hash::of(&[b'l', coop_n, id])),
        title: format!("#{id}"),
        category: category.parse().unwrap(),
        remaining: qty.parse().unwrap(),
        point: None,
        radius_km: None,
        from: None,
        until: None,
        urgency: Urgency::Normal,
        minimum: None,
        created: None,
    }
}

fn at(mut l: Listing, lat: &str, lon: &str, radius: Option<f64>) -> Listing {
    l.point = Some(format!("{lat},{lon}").parse().unwrap());
    l.radius_km = radius;
    l
}

#[test]
fn same_category_ranks_above_a_related_one_and_every_score_has_reasons() {
    let needs = [listing(1, 1, "food/grain/rice", "200 kg")];
    let offers = [
        listing(2, 1, "food/grain", "500 kg"),
        listing(2, 2, "food/grain/rice", "300 kg"),
        listing(2, 3, "food/dairy", "300 kg"),
        listing(1, 4, "food/grain/rice", "300 kg"),
        listing(2, 5, "food/grain/rice", "300 l"),
    ];
    let m = Matcher::new(&needs, &offers, NOW);
    let ranked = m.for_need(0, 10);
    // Unrelated category, the need's own co-op and another dimension are never candidates.
    assert_eq!(
        ranked.iter().map(|r| r.offer).collect::<Vec<_>>(),
        vec![1, 0]
    );
    assert!(ranked[0].score > ranked[1].score);
    for r in &ranked {
        assert_eq!(r.reasons.len(), 6);
        let sum: f64 = r.reasons.iter().map(|x| x.factor.weight() * x.score).sum();
        assert!((sum * 100.0 - r.score).abs() < 0.1, "{r:?}");
    }
    assert!(ranked[0].reasons[0].text.contains("same category"));
    assert!(ranked[1].reasons[0].text.contains("broader"));
}

#[test]
fn distance_counts_against_the_offer_radius_and_no_location_means_anywhere() {
    let needs = [at(listing(1, 1, "food", "10 kg"), "-32.95", "-60.66", None)];
    let offers = [
        // Rosario to Buenos Aires is about 280 km.
        at(
            listing(2, 1, "food", "10 kg"),
            "-34.60",
            "-58.38",
            Some(100.0),
        ),
        at(
            listing(2, 2, "food", "10 kg"),
            "-34.60",
            "-58.38",
            Some(400.0),
        ),
        listing(2, 3, "food", "10 kg"),
        at(
            listing(2, 4, "food", "10 kg"),
            "-32.96",
            "-60.65",
            Some(20.0),
        ),
    ];
    let m = Matcher::new(&needs, &offers, NOW);
    let ranked = m.for_need(0, 10);
    let order: Vec<usize> = ranked.iter().map(|r| r.offer).collect();
    assert_eq!(order, vec![3, 2, 1], "{ranked:#?}");
    let far = &ranked[2];
    let d = far.distance_km.unwrap();
    assert!((250.0..320.0).contains(&d), "{d}");
    assert!(far.reasons[2].text.contains("within reach (400 km)"));
    assert!(ranked[1].reasons[2].text.contains("no location"));
}

#[test]
fn time_minimum_and_quantity_rules() {
    let mut need = listing(1, 1, "tools", "5 unit");
    need.until = Some(Timestamp(NOW.0 + 3 * DAY));
    need.urgency = Urgency::Critical;
    need.created = Some(Timestamp(NOW.0 - 7 * DAY));
    let mut late = listing(2, 1, "tools", "5 unit");
    late.from = Some(Timestamp(NOW.0 + 10 * DAY));
    let mut big_minimum = listing(2, 2, "tools", "50 unit");
    big_minimum.minimum = Some("10 unit".parse().unwrap());
    let mut soon = listing(2, 3, "tools", "2 unit");
    soon.from = Some(Timestamp(NOW.0 + DAY));
    let needs = [need];
    let offers = [late, big_minimum, soon];
    let m = Matcher::new(&needs, &offers, NOW);
    let ranked = m.for_need(0, 10);
    assert_eq!(ranked.len(), 1, "{ranked:#?}");
    let r = &ranked[0];
    assert_eq!(r.offer, 2);
    assert!((r.reasons[1].score - 0.4).abs() < 1e-9, "2 of 5 units");
    assert!(r.reasons[3].text.starts_with("available from"));
    assert_eq!(r.reasons[4].score, 1.0);
    assert!((r.reasons[5].score - 0.5).abs() < 1e-9, "7 of 14 days");
    // The same pair, seen from the offer's side.
    let back = m.for_offer(2, 10);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].score, r.score);
}

#[test]
fn a_large_category_is_searched_through_its_grid() {
    // 500 offers spread over Argentina, each delivering within 30 km; a need in Rosario.
    let offers: Vec<Listing> = (0..500u16)
        .map(|i| {
            let lat = format!("-{}.{:02}", 22 + i % 30, i % 100);
            let lon = format!("-{}.{:02}", 57 + (i / 30) % 12, (i * 7) % 100);
            let mut l = at(listing(2, 0, "food/grain", "10 kg"), &lat, &lon, Some(30.0));
            l.id = RecordId(Hash::of(&i.to_be_bytes()));
            l
        })
        .collect();
    let needs = [at(
        listing(1, 1, "food/grain", "5 kg"),
        "-32.95",
        "-60.66",
        None,
    )];
    let m = Matcher::new(&needs, &offers, NOW);
    let candidates = m
        .offer_index
        .near(&needs[0].category, needs[0].point.as_ref(), Some(0.0));
    assert!(
        candidates.len() < 100,
        "{} of 500 scanned",
        candidates.len()
    );
    // Whatever the grid skips could not have matched anyway.
    let everything: Vec<usize> = (0..offers.len())
        .filter(|&o| m.eligible(0, o).is_some())
        .collect();
    let via_index: Vec<usize> = m.for_need(0, 500).iter().map(|r| r.offer).collect();
    let mut sorted = via_index.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, everything);
}

#[test]
fn an_enormous_radius_reaches_everything_without_overflow() {
    let mut offers: Vec<Listing> = (0..100u8)
        .map(|i| {
            at(
                listing(2, i, "food", "1 kg"),
                "-30",
                &format!("-{}", i % 60),
                Some(5.0),
            )
        })
        .collect();
    offers.push(at(
        listing(2, 200, "food", "1 kg"),
        "60",
        "120",
        Some(1e300),
    ));
    let needs = [at(
        listing(1, 1, "food", "1 kg"),
        "-30",
        "-60",
        Some(f64::MAX),
    )];
    let m = Matcher::new(&needs, &offers, NOW);
    assert_eq!(m.for_need(0, 500), m.for_need_without_index(0, 500));
    assert_eq!(m.for_offer(100, 5).len(), 1);
}

#[test]
fn the_plan_serves_the_urgent_first_then_the_nearest() {
    let mut urgent = at(listing(1, 1, "food", "100 kg"), "0", "0", None);
    urgent.urgency = Urgency::Critical;
    let calm = at(listing(3, 2, "food", "100 kg"), "0", "0.5", None);
    let near = at(listing(2, 1, "food", "120 kg"), "0", "0.4", Some(200.0));
    let far = at(listing(2, 2, "food", "50 kg"), "1", "1", Some(300.0));
    let needs = [urgent, calm];
    let offers = [near, far];
    let p = plan(&needs, &offers, NOW);
    let got: Vec<(usize, usize, String)> = p
        .proposals
        .iter()
        .map(|x| (x.need, x.offer, x.quantity.to_string()))
        .collect();
    // All 170 kg are used; the critical need is filled first, and the calm need, which
    // sits next to the near offer, gets the near offer's rest.
    let covered: Decimal = p.proposals.iter().map(|x| x.quantity.value()).sum();
    assert_eq!(covered, Decimal::from(170));
    let urgent_total: Decimal = p
        .proposals
        .iter()
        .filter(|x| x.need == 0)
        .map(|x| x.quantity.value())
        .sum();
    assert_eq!(urgent_total, Decimal::from(100), "{got:?}");
    assert!(got.contains(&(1, 0, "20 kg".into())) || got.contains(&(1, 1, "50 kg".into())));
}

/// The least cost of any integral flow, by trying them all.
fn brute_force(needs: &[Listing], offers: &[Listing]) -> i128 {
    let m = Matcher::new(needs, offers, NOW);
    let mut pairs = Vec::new();
    for (n, need) in needs.iter().enumerate() {
        for o in 0..offers.len() {
            if let Some(d) = m.eligible(n, o) {
                pairs.push((n, o, unit_cost(need, d)));
            }
        }
    }
    let need_left: Vec<i64> = needs.iter().map(amount).collect();
    let offer_left: Vec<i64> = offers.iter().map(amount).collect();
    fn go(
        i: usize,
        pairs: &[(usize, usize, i64)],
        need_left: &mut Vec<i64>,
        offer_left: &mut Vec<i64>,
        cost: i128,
        best: &mut i128,
    ) {
        if i == pairs.len() {
            *best = (*best).min(cost);
            return;
        }
        let (n, o, c) = pairs[i];
        let most = need_left[n].min(offer_left[o]);
        for f in 0..=most {
            need_left[n] -= f;
            offer_left[o] -= f;
            go(
                i + 1,
                pairs,
                need_left,
                offer_left,
                cost + i128::from(f) * i128::from(c),
                best,
            );
            need_left[n] += f;
            offer_left[o] += f;
        }
    }
    let mut best = 0;
    go(
        0,
        &pairs,
        &mut need_left.clone(),
        &mut offer_left.clone(),
        0,
        &mut best,
    );
    best
}

fn small_listing() -> impl Strategy<Value = (u8, u8, u8, u8, u8, Option<u8>)> {
    // (co-op, category, grams 1..=4, urgency, place, radius in tens of km)
    (
        0u8..3,
        0u8..3,
        1u8..=4,
        0u8..4,
        0u8..3,
        proptest::option::of(0u8..30),
    )
}

fn build(
    side: u8,
    i: usize,
    (c, cat, g, u, place, radius): (u8, u8, u8, u8, u8, Option<u8>),
) -> Listing {
    let category = ["food", "food/grain", "food/dairy"][usize::from(cat)];
    let mut l = listing(c, side * 16 + i as u8, category, &format!("{g} g"));
    l.urgency = [
        Urgency::Low,
        Urgency::Normal,
        Urgency::High,
        Urgency::Critical,
    ][usize::from(u)];
    let lon = ["0", "0.5", "2"][usize::from(place)];
    l = at(l, "0", lon, radius.map(|r| f64::from(r) * 10.0));
    l
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_plan_is_optimal_against_brute_force(
        needs in proptest::collection::vec(small_listing(), 1..=3),
        offers in proptest::collection::vec(small_listing(), 1..=3),
    ) {
        let needs: Vec<Listing> = needs.into_iter().enumerate().map(|(i, x)| build(0, i, x)).collect();
        let offers: Vec<Listing> = offers.into_iter().enumerate().map(|(i, x)| build(1, i, x)).collect();
        let p = plan(&needs, &offers, NOW);
        prop_assert_eq!(p.cost, brute_force(&needs, &offers));
        // The proposals add up to the cost, and respect every capacity.
        let mut cost = 0i128;
        let mut need_used = vec![0i64; needs.len()];
        let mut offer_used = vec![0i64; offers.len()];
        for x in &p.proposals {
            cost += i128::from(x.amount) * i128::from(unit_cost(&needs[x.need], x.distance_km));
            need_used[x.need] += x.amount;
            offer_used[x.offer] += x.amount;
        }
        prop_assert_eq!(cost, p.cost);
        for (n, used) in need_used.iter().enumerate() {
            prop_assert!(*used <= amount(&needs[n]));
        }
        for (o, used) in offer_used.iter().enumerate() {
            prop_assert!(*used <= amount(&offers[o]));
        }
        // Deterministic.
        prop_assert_eq!(plan(&needs, &offers, NOW), p);
    }
}
