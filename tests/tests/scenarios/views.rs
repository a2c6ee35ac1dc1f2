//! Listings and derived status across co-ops, from the node's in-memory views, and the same
//! answers straight after a restart, read from stored views rather than replayed history.

use minga_node::{Query, Status};
use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_spans_coops_and_survives_a_restart() {
    init_tracing();
    let (giver, receiver) = (World::new(91), World::new(92));
    let a = spawn_trusting(&[&giver, &receiver], 93).await;
    let b = spawn_trusting(&[&giver, &receiver], 94).await;
    connect(&a.handle, &b.handle).await;

    // B's co-op needs 200 kg; A's co-op pledges 120 kg; B accepts and confirms 70 kg.
    let need_id = b
        .handle
        .write(
            receiver.coop(),
            &receiver.founder,
            DeviceId(1),
            None,
            need("Rice", "200 kg"),
        )
        .await
        .unwrap()
        .record_id();
    let need_ref = RecordRef {
        coop: receiver.coop(),
        record: need_id,
    };
    let pledge = Signed::sign(
        Pledge {
            signer: giver.founder.public(),
            coop: giver.coop(),
            need: need_ref,
            offer: None,
            quantity: "120 kg".parse().unwrap(),
            due: None,
            issued: Timestamp::now(),
            note: None,
        },
        &giver.founder.0,
    )
    .unwrap();
    let pledge_id = a
        .handle
        .write(
            giver.coop(),
            &giver.founder,
            DeviceId(1),
            None,
            Record::Pledge(pledge),
        )
        .await
        .unwrap()
        .record_id();
    let pledge_ref = RecordRef {
        coop: giver.coop(),
        record: pledge_id,
    };
    let sign = |s| {
        b.handle
            .write(receiver.coop(), &receiver.founder, DeviceId(1), None, s)
    };
    sign(Record::Acceptance(
        Signed::sign(
            Acceptance {
                signer: receiver.founder.public(),
                coop: receiver.coop(),
                pledge: pledge_ref,
                decision: Decision::Accept,
                issued: Timestamp::now(),
                note: None,
            },
            &receiver.founder.0,
        )
        .unwrap(),
    ))
    .await
    .unwrap();
    sign(Record::Delivery(
        Signed::sign(
            Delivery {
                signer: receiver.founder.public(),
                coop: receiver.coop(),
                pledge: pledge_ref,
                quantity: "70 kg".parse().unwrap(),
                received: Timestamp::now(),
                issued: Timestamp::now(),
                note: None,
            },
            &receiver.founder.0,
        )
        .unwrap(),
    ))
    .await
    .unwrap();

    let statuses = |h: minga_node::NodeHandle| async move {
        let needs = h
            .list(Query {
                kind: Some(RecordKind::Need),
                ..Query::default()
            })
            .await
            .unwrap();
        let pledges = h
            .list(Query {
                kind: Some(RecordKind::Pledge),
                ..Query::default()
            })
            .await
            .unwrap();
        (
            needs.into_iter().map(|l| l.status).collect::<Vec<_>>(),
            pledges.into_iter().map(|l| l.status).collect::<Vec<_>>(),
        )
    };
    let want = (
        vec![Some(Status::Need(NeedStatus::PartlyPledged))],
        vec![Some(Status::Pledge(PledgeState::PartlyFulfilled))],
    );
    // Every node derives the same status once it holds both co-ops' records.
    for h in [&a.handle, &b.handle] {
        eventually(h, || async { statuses(h.clone()).await == want }).await;
    }

    // A restart answers at once from the stored views, with no peer to ask: B is stopped
    // first (A dials it again at once on starting, and on loopback the link can come up
    // before the first question is answered).
    b.handle.shutdown().await.unwrap();
    let a = restart(a, &giver).await;
    assert!(a.handle.peers().await.unwrap().is_empty());
    assert_eq!(statuses(a.handle.clone()).await, want);
}
