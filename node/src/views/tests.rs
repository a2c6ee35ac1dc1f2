#![allow(clippy::unwrap_used)]

use super::*;
use minga_protocol::{Decision, Hash, Location, Need, Offer, Record, TimeWindow};
use proptest::prelude::*;

use super::snapshot;
use crate::store::Store as _;

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
        .map(|l| l.view.id)
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
        .map(|l| l.view.id)
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
            .map(|l| l.view.id)
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
    let status = |v: &Views| v.status(&v.get(&a, &id(1)).unwrap(), Timestamp(0));
    // B pledges to its own need naming A's offer: A's offer is untouched.
    v.upsert(drawing(b, 3, "1000 kg"));
    assert_eq!(status(&v), Some(Status::Offer(OfferStatus::Open)));
    assert!(
        v.totals(&v.get(&a, &id(1)).unwrap())
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
        v.status(&v.get(&b, &id(2)).unwrap(), Timestamp(0)),
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
    let status = |v: &Views, c, i| v.status(&v.get(&c, &i).unwrap(), Timestamp(0));
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

fn arbitrary_view() -> impl Strategy<Value = RecordView> {
    let time = || proptest::option::of(any::<i64>().prop_map(Timestamp));
    let quantity = || {
        proptest::option::of(
            (
                0u32..1_000_000,
                0u32..4,
                prop::sample::select(vec!["kg", "l", "unit"]),
            )
                .prop_map(|(n, scale, unit)| {
                    let d = rust_decimal::Decimal::new(i64::from(n), scale);
                    format!("{d} {unit}").parse::<Quantity>().unwrap()
                }),
        )
    };
    let reference = || {
        proptest::option::of((0u8..3, any::<u8>()).prop_map(|(c, n)| {
            Box::new(RecordRef {
                coop: coop(c),
                record: id(n),
            })
        }))
    };
    let point = proptest::option::of(prop_oneof![
        (-90_000_000i32..=90_000_000, -180_000_000i32..=180_000_000).prop_map(|(a, b)| {
            let d = |m: i32| rust_decimal::Decimal::new(i64::from(m), 6).normalize();
            format!("{},{}", d(a), d(b))
        }),
        // Not the way a point is written: trailing zeros, or no point at all.
        Just("-34.600,-58.40".to_string()),
        "[a-z,.0-9]{0,12}",
    ]);
    (
        (
            0u8..3,
            any::<u8>(),
            prop::sample::select(RecordKind::ALL.to_vec()),
        ),
        (
            proptest::option::of("[a-zé ]{0,20}"),
            proptest::option::of(prop_oneof![
                Just("food/grain".to_string()),
                Just("Not A Category".to_string()),
                "[a-z]{1,5}"
            ]),
        ),
        (
            quantity(),
            point,
            proptest::option::of(prop::sample::select(vec![Urgency::Low, Urgency::Critical])),
        ),
        (time(), time(), time(), time(), time()),
        (
            any::<bool>(),
            reference(),
            reference(),
            proptest::option::of(prop::sample::select(vec![
                Decision::Accept,
                Decision::Decline,
            ])),
        ),
        (
            proptest::option::of(prop_oneof![
                (0i64..100_000, 0u32..3).prop_map(|(n, s)| rust_decimal::Decimal::new(n, s)),
                // Not held in the compact form: negative, or too many digits.
                Just(rust_decimal::Decimal::new(-25, 1)),
                Just(rust_decimal::Decimal::new(i64::MAX, 2)),
            ]),
            quantity(),
        ),
    )
        .prop_map(
            |(
                (c, n, kind),
                (title, category),
                (quantity, point, urgency),
                (ends, issued, from, until, created),
                (withdrawn, refers_to, offer, decision),
                (radius_km, minimum),
            )| RecordView {
                coop: coop(c),
                id: id(n),
                kind,
                title,
                category,
                quantity,
                point,
                urgency,
                ends,
                withdrawn,
                refers_to,
                offer,
                decision,
                issued,
                radius_km,
                from,
                until,
                minimum,
                created,
            },
        )
}

proptest! {
    /// Views are held in a compact form; whatever went in comes back out, and the
    /// indexes forget what is removed.
    #[test]
    fn a_held_view_reads_back_as_it_went_in(views in proptest::collection::vec(arbitrary_view(), 1..40)) {
        let mut held = Views::default();
        let mut expected = BTreeMap::new();
        for v in &views {
            held.upsert(v.clone());
            expected.insert(v.key(), v.clone());
        }
        prop_assert_eq!(held.len(), expected.len());
        for (k, v) in &expected {
            prop_assert_eq!(held.get(&k.0, &k.1), Some(v.clone()));
        }
        let all = Query { all: true, ..Query::default() };
        prop_assert_eq!(held.page(&all, Timestamp(0)).0, expected.len());
        for k in expected.keys().step_by(2) {
            held.remove(k);
        }
        for (i, (k, v)) in expected.iter().enumerate() {
            let kept = (i % 2 == 1).then(|| v.clone());
            prop_assert_eq!(held.get(&k.0, &k.1), kept);
        }
        prop_assert_eq!(held.page(&all, Timestamp(0)).0, expected.len() / 2);
        let placed: usize = held.by_cell.values().map(BTreeSet::len).sum();
        let located = expected.values().skip(1).step_by(2).filter(|v| v.location().is_some()).count();
        prop_assert_eq!(placed, located);
    }
}

#[test]
fn a_view_in_memory_is_small() {
    // The goal is 300 MB resident for a million records, sled included: a held view
    // must stay near this size (its title and the indexes come on top).
    assert!(
        std::mem::size_of::<Held>() <= 128,
        "{}",
        std::mem::size_of::<Held>()
    );
    assert_eq!(
        std::mem::size_of::<Option<Held>>(),
        std::mem::size_of::<Held>()
    );
}

#[test]
fn titles_of_replaced_and_removed_views_are_reclaimed() {
    let mut v = Views::default();
    let title = |round: usize, n: u8| format!("{round:03} {n:03} {}", "ñ".repeat(60));
    // 200 views replaced 60 times: about 3 MB of titles written, 25 kB alive at the end.
    for round in 0..60 {
        for n in 0..200u8 {
            let mut view = RecordView::empty(coop(n % 3), id(n), RecordKind::Offer);
            view.title = Some(title(round, n));
            v.upsert(view);
        }
    }
    v.remove(&(coop(0), id(0)));
    for n in 1..200u8 {
        let held = v.get(&coop(n % 3), &id(n)).unwrap();
        assert_eq!(held.title, Some(title(59, n)), "view {n}");
    }
    assert!(v.get(&coop(0), &id(0)).is_none());
    let alive = 199 * title(59, 1).len();
    assert!(
        v.titles.held_bytes() <= 2 * alive + (1 << 20) + title(0, 0).len(),
        "{} bytes held for {alive} alive",
        v.titles.held_bytes()
    );
}

#[test]
fn a_point_not_written_the_usual_way_is_still_placed() {
    let mut v = Views::default();
    let mut view = RecordView::of(coop(1), id(1), &need("food", None));
    view.point = Some("-34.600,-58.40".into());
    v.upsert(view.clone());
    assert_eq!(v.get(&coop(1), &id(1)), Some(view));
    let q = Query {
        near: Some(("-34.6,-58.4".parse().unwrap(), 1.0)),
        ..Query::default()
    };
    assert_eq!(v.query(&q, Timestamp(0)).len(), 1);
}

proptest! {
    /// A snapshot holds every view as it was, and the views it gives answer as the ones it
    /// was written from.
    #[test]
    fn a_snapshot_reads_back_as_the_views_it_holds(views in proptest::collection::vec(arbitrary_view(), 0..40)) {
        let mut held = Views::default();
        for v in views {
            held.upsert(v);
        }
        let mut bytes = Vec::new();
        snapshot::encode(&mut bytes, &held, &[7; 16], &[9; 32]).unwrap();
        let back = snapshot::decode(&mut bytes.as_slice(), bytes.len() as u64).unwrap();
        prop_assert_eq!((back.stamp, back.state), ([7; 16], [9; 32]));
        prop_assert_eq!(back.views.len(), held.len());
        for h in held.all() {
            let v = held.view(h);
            prop_assert_eq!(back.views.get(&v.coop, &v.id), Some(v));
        }
        let all = Query { all: true, ..Query::default() };
        prop_assert_eq!(back.views.query(&all, Timestamp(0)), held.query(&all, Timestamp(0)));
    }

    /// Whatever the bytes, reading them as a snapshot gives views or an error, never a panic.
    #[test]
    fn any_bytes_read_as_a_snapshot_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..600), header in any::<bool>()) {
        if header {
            let mut real = Vec::new();
            snapshot::encode(&mut real, &Views::default(), &[1; 16], &[2; 32]).unwrap();
            real.truncate(64);
            bytes.splice(0..0, real);
        }
        let _ = snapshot::decode(&mut bytes.as_slice(), bytes.len() as u64);
    }
}

/// A snapshot file that was cut or had a byte changed is refused whole.
#[test]
fn a_damaged_snapshot_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::SledStore::open(&dir.path().join("store")).unwrap();
    let mut views = Views::default();
    for n in 0..50 {
        views.upsert(RecordView::of(
            coop(n % 3),
            id(n),
            &need("food/grain", Some("-34.6,-58.4")),
        ));
    }
    snapshot::write(dir.path(), &views, &store).unwrap();
    let path = dir.path().join(snapshot::FILE);
    let good = std::fs::read(&path).unwrap();
    let read = snapshot::read(dir.path()).unwrap().unwrap();
    assert_eq!(read.views.len(), 50);
    for damage in [good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[damage] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        assert!(
            snapshot::read(dir.path()).is_err(),
            "a byte changed at {damage}"
        );
    }
    std::fs::write(&path, &good[..good.len() - 10]).unwrap();
    assert!(snapshot::read(dir.path()).is_err());
    std::fs::remove_file(&path).unwrap();
    assert!(snapshot::read(dir.path()).unwrap().is_none());
}

/// A snapshot counts only while the store holds its stamp: the next write, of whatever kind,
/// removes the stamp with it, and a restore never brings one.
#[test]
fn any_write_makes_a_snapshot_stale() {
    use crate::store::KeyValue;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::SledStore::open(&dir.path().join("store")).unwrap();
    let views = Views::default();
    snapshot::write(dir.path(), &views, &store).unwrap();
    let read = snapshot::read(dir.path()).unwrap().unwrap();
    assert_eq!(store.stamp_of().unwrap(), Some(read.stamp));
    drop(store);
    // Still there after a reopen, until a write.
    let store = crate::SledStore::open(&dir.path().join("store")).unwrap();
    assert_eq!(store.stamp_of().unwrap(), Some(read.stamp));
    assert!(snapshot::take(dir.path(), Ok(Some(read)), &store).is_some());
    store
        .apply(vec![(b"p/x".to_vec(), Vec::new())], Vec::new())
        .unwrap();
    assert_eq!(store.stamp_of().unwrap(), None);
    snapshot::write(dir.path(), &views, &store).unwrap();
    let read = snapshot::read(dir.path()).unwrap();
    store
        .apply(vec![(b"p/y".to_vec(), Vec::new())], Vec::new())
        .unwrap();
    assert!(snapshot::take(dir.path(), Ok(read), &store).is_none());
    // A stamp in restored pairs is not written.
    let stamp = store
        .dump()
        .find(|p| p.as_ref().is_ok_and(|(k, _)| k.starts_with(b"S/")));
    assert!(stamp.is_none());
    store
        .apply(
            vec![(b"S/views-snapshot".to_vec(), vec![3; 16])],
            Vec::new(),
        )
        .unwrap();
    assert_eq!(store.stamp_of().unwrap(), None);
}
