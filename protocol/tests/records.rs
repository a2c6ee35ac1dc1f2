//! Records in their automerge documents, and the status derived from them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use common::*;
use minga_protocol::*;
use proptest::prelude::*;

fn doc_of(record: &Record) -> AutoCommit {
    let mut d = AutoCommit::new();
    record.write(&mut d).unwrap();
    d.commit();
    d
}

#[test]
fn each_kind_round_trips_through_its_document() {
    let c = Coop::new(1, "x");
    let cert = c.certificate(&member(2), Role::Coordinator);
    let records = [
        Record::Need(need("Rice", "200 kg")),
        Record::Offer(Offer {
            minimum: Some("50 kg".parse().unwrap()),
            location: Some(Location {
                point: "-34.6,-58.38".parse().unwrap(),
                place: None,
                radius_km: Some(rust_decimal::Decimal::new(25, 0)),
            }),
            ..offer("Rice", "300 kg")
        }),
        Record::Profile(Profile {
            name: "La Esperanza".into(),
            description: Some("Textile co-op since 2002".into()),
            location: None,
            contact: None,
        }),
        Record::Certificate(cert),
    ];
    for r in records {
        assert_eq!(Record::read(&doc_of(&r)).unwrap(), r);
        // And through saved bytes, as a node stores it.
        let bytes = doc_of(&r).save();
        assert_eq!(Record::read(&AutoCommit::load(&bytes).unwrap()).unwrap(), r);
    }
}

#[test]
fn malformed_documents_are_typed_errors() {
    let good = doc_of(&Record::Need(need("Rice", "200 kg")));
    type Edit = Box<dyn Fn(&mut AutoCommit)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("no kind", Box::new(|d| d.delete(ROOT, "kind").unwrap())),
        (
            "unknown kind",
            Box::new(|d| d.put(ROOT, "kind", "loan").unwrap()),
        ),
        ("no title", Box::new(|d| d.delete(ROOT, "title").unwrap())),
        (
            "empty title",
            Box::new(|d| d.put(ROOT, "title", " ").unwrap()),
        ),
        (
            "bad quantity",
            Box::new(|d| d.put(ROOT, "quantity", "lots").unwrap()),
        ),
        (
            "number for text",
            Box::new(|d| d.put(ROOT, "title", 5).unwrap()),
        ),
        (
            "bad point",
            Box::new(|d| d.put(ROOT, "point", "95,0").unwrap()),
        ),
        (
            "bad urgency",
            Box::new(|d| d.put(ROOT, "urgency", "meh").unwrap()),
        ),
        (
            "unknown field",
            Box::new(|d| d.put(ROOT, "colour", "red").unwrap()),
        ),
        (
            "window backwards",
            Box::new(|d| d.put(ROOT, "from", i64::from(i32::MAX) * 1000).unwrap()),
        ),
        (
            "object for scalar",
            Box::new(|d| {
                d.put_object(ROOT, "notes", automerge::ObjType::Map)
                    .unwrap();
            }),
        ),
        (
            "huge notes",
            Box::new(|d| d.put(ROOT, "notes", "x".repeat(5000)).unwrap()),
        ),
        (
            "statement in a need",
            Box::new(|d| d.put(ROOT, "kind", "pledge").unwrap()),
        ),
    ];
    for (what, edit) in cases {
        let mut d = good.clone();
        edit(&mut d);
        d.commit();
        assert!(Record::read(&d).is_err(), "{what} was accepted");
    }
}

#[test]
fn concurrent_edits_of_different_fields_both_survive() {
    let base = doc_of(&Record::Need(need("Rice", "200 kg")));
    let mut a = base.clone();
    a.set_actor(automerge::ActorId::from(&[1u8; 40][..]));
    let mut b = base.clone();
    b.set_actor(automerge::ActorId::from(&[2u8; 40][..]));
    let Ok(Record::Need(mut na)) = Record::read(&a) else {
        panic!()
    };
    na.title = "Rice for 40 families".into();
    Record::Need(na).write(&mut a).unwrap();
    a.commit();
    let Ok(Record::Need(mut nb)) = Record::read(&b) else {
        panic!()
    };
    nb.quantity = "250 kg".parse().unwrap();
    nb.urgency = Urgency::Critical;
    Record::Need(nb).write(&mut b).unwrap();
    b.commit();
    a.merge(&mut b).unwrap();
    let Ok(Record::Need(merged)) = Record::read(&a) else {
        panic!()
    };
    assert_eq!(merged.title, "Rice for 40 families");
    assert_eq!(merged.quantity.to_string(), "250 kg");
    assert_eq!(merged.urgency, Urgency::Critical);
}

fn pledge_of(qty: &str, to: CoopId) -> Pledge {
    Pledge {
        signer: member(1).public(),
        coop: CoopId(Hash::of(b"giver")),
        need: RecordRef {
            coop: to,
            record: RecordId::default(),
        },
        offer: None,
        quantity: qty.parse().unwrap(),
        due: None,
        issued: day(1),
        note: None,
    }
}

#[test]
fn status_follows_pledges_answers_and_deliveries() {
    let receiver = CoopId(Hash::of(b"receiver"));
    let n = need("Rice", "200 kg");
    assert_eq!(need_status(&n, &[], day(1)), NeedStatus::Open);

    let p = pledge_of("120 kg", receiver);
    let accept = Acceptance {
        signer: member(2).public(),
        coop: receiver,
        pledge: p.need,
        decision: Decision::Accept,
        issued: day(2),
        note: None,
    };
    let delivery = |q: &str| Delivery {
        signer: member(2).public(),
        coop: receiver,
        pledge: p.need,
        quantity: q.parse().unwrap(),
        received: day(3),
        issued: day(3),
        note: None,
    };
    let proposed = pledge_status(&p, &[], &[], &[]);
    assert_eq!(proposed.state, PledgeState::Proposed);
    assert_eq!(
        need_status(&n, &[proposed], day(1)),
        NeedStatus::PartlyPledged
    );

    let (d70, d50) = (delivery("70 kg"), delivery("0.05 t"));
    let partly = pledge_status(&p, &[&accept], &[&d70], &[]);
    assert_eq!(partly.state, PledgeState::PartlyFulfilled);
    assert_eq!(partly.delivered.to_string(), "70 kg");
    let full = pledge_status(&p, &[&accept], &[&d70, &d50], &[]);
    assert_eq!(full.state, PledgeState::Fulfilled);

    // A delivery confirmed by a co-op other than the receiver does not count.
    let mut forged = delivery("120 kg");
    forged.coop = CoopId(Hash::of(b"someone else"));
    assert_eq!(
        pledge_status(&p, &[&accept], &[&forged], &[]).state,
        PledgeState::Accepted
    );

    // A later decline wins; declined pledges stop counting toward the need.
    let decline = Acceptance {
        decision: Decision::Decline,
        issued: day(4),
        ..accept.clone()
    };
    let declined = pledge_status(&p, &[&accept, &decline], &[], &[]);
    assert_eq!(declined.state, PledgeState::Declined);
    assert_eq!(need_status(&n, &[declined], day(5)), NeedStatus::Open);

    // The pledging co-op takes its pledge back after 70 kg arrived: those 70 kg still count,
    // the rest does not. A cancellation signed for another co-op changes nothing.
    let cancel = Cancellation {
        signer: member(1).public(),
        coop: p.coop,
        pledge: p.need,
        issued: day(4),
        note: None,
    };
    let cancelled = pledge_status(&p, &[&accept], &[&d70], &[&cancel]);
    assert_eq!(cancelled.state, PledgeState::Cancelled);
    assert_eq!(
        pledge_totals(cancelled.pledged.unit(), &[cancelled])
            .0
            .to_string(),
        "70 kg"
    );
    let foreign = Cancellation {
        coop: receiver,
        ..cancel.clone()
    };
    assert_eq!(
        pledge_status(&p, &[&accept], &[&d70], &[&foreign]).state,
        PledgeState::PartlyFulfilled
    );
    assert_eq!(
        pledge_status(&p, &[&accept], &[&d70, &d50], &[&cancel]).state,
        PledgeState::Fulfilled,
        "a pledge delivered in full stays fulfilled"
    );

    // Two pledges covering the need, then deliveries covering it.
    let p2 = pledge_of("0.08 t", receiver);
    let s2 = pledge_status(&p2, &[], &[], &[]);
    assert_eq!(
        need_status(&n, &[proposed, s2], day(5)),
        NeedStatus::Pledged
    );
    let d2 = delivery("80 kg");
    let s2_done = pledge_status(&p2, &[], &[&d2], &[]);
    assert_eq!(
        need_status(&n, &[full, s2_done], day(5)),
        NeedStatus::Fulfilled
    );

    // The clock and the withdrawn flag.
    assert_eq!(need_status(&n, &[proposed], day(61)), NeedStatus::Expired);
    let w = Need {
        withdrawn: true,
        ..n.clone()
    };
    assert_eq!(need_status(&w, &[], day(1)), NeedStatus::Withdrawn);
    let o = offer("Rice", "300 kg");
    assert_eq!(
        offer_status(&o, &[proposed], day(1)),
        OfferStatus::PartlyPledged
    );
}

prop_compose! {
    fn arb_need()(title in "[A-Za-z][A-Za-z0-9 ]{0,60}", cat in "[a-z]{1,8}(/[a-z0-9][a-z0-9-]{0,7}){0,3}", mant in 1i64..10_000_000, scale in 0u32..3, unit in prop::sample::select(vec!["kg", "t", "l", "h", "unit", "ARS"]), lat in -90_000_000i64..=90_000_000, lon in -180_000_000i64..=180_000_000, has_loc in any::<bool>(), urg in 0usize..4, until in proptest::option::of(0i64..4_000_000_000_000), notes in proptest::option::of("[\\PC\n]{0,80}")) -> Need {
        Need {
            title: title.trim().to_string() + "x",
            category: cat.parse().unwrap(),
            quantity: Quantity::new(rust_decimal::Decimal::new(mant, scale), unit.parse().unwrap()).unwrap(),
            location: has_loc.then(|| Location { point: Point::new(rust_decimal::Decimal::new(lat, 6), rust_decimal::Decimal::new(lon, 6)).unwrap(), place: None, radius_km: None }),
            needed: TimeWindow { from: None, until: until.map(Timestamp) },
            urgency: [Urgency::Low, Urgency::Normal, Urgency::High, Urgency::Critical][urg],
            expires: None,
            notes,
            withdrawn: false,
        }
    }
}

proptest! {
    #[test]
    fn need_documents_round_trip(n in arb_need(), m in arb_need()) {
        let mut d = doc_of(&Record::Need(n.clone()));
        prop_assert_eq!(Record::read(&d).unwrap(), Record::Need(n));
        // Rewriting with other values touches only what differs, and reads back exactly.
        Record::Need(m.clone()).write(&mut d).unwrap();
        d.commit();
        prop_assert_eq!(Record::read(&d).unwrap(), Record::Need(m));
    }

    #[test]
    fn reading_arbitrary_bytes_as_a_document_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(d) = AutoCommit::load(&bytes) {
            let _ = Record::read(&d);
        }
    }

    #[test]
    fn reading_arbitrary_fields_never_panics(kind in prop::sample::select(RecordKind::ALL.to_vec()), fields in proptest::collection::vec(("[a-z_]{1,10}", "\\PC{0,20}"), 0..12)) {
        let mut d = AutoCommit::new();
        d.put(ROOT, "kind", kind.name()).unwrap();
        for (k, v) in fields {
            d.put(ROOT, k.as_str(), v.as_str()).unwrap();
        }
        d.commit();
        let _ = Record::read(&d);
    }
}
