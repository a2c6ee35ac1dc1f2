//! Two members of one co-op edit the same need on different nodes while disconnected; after
//! reconnecting every node shows the same merged record.

use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_of_one_need_merge_field_by_field() {
    init_tracing();
    let w = World::new(5);
    let (a, b, c) = (
        spawn(&w, 51).await,
        spawn(&w, 52).await,
        spawn(&w, 53).await,
    );
    connect(&a.handle, &b.handle).await;
    connect(&b.handle, &c.handle).await;
    let (ana, beto) = (
        MemberSecret::from_seed(&[54; 32]),
        MemberSecret::from_seed(&[55; 32]),
    );
    for m in [&ana, &beto] {
        a.handle
            .write(
                w.coop(),
                &w.founder,
                DeviceId(1),
                None,
                w.certificate(m, Role::Coordinator),
            )
            .await
            .unwrap();
    }
    let id = a
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            need("Rice", "200 kg"),
        )
        .await
        .unwrap()
        .record_id();
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;

    // A and C go offline from B.
    a.handle.disconnect(b.handle.peer_id()).await.unwrap();
    c.handle.disconnect(b.handle.peer_id()).await.unwrap();
    eventually(&b.handle, || async {
        b.handle.peers().await.unwrap().is_empty()
    })
    .await;

    let Some(Record::Need(base)) = a.handle.records(w.coop()).await.unwrap().remove(&id) else {
        panic!()
    };
    // Ana on A changes the title; Beto on C changes quantity and urgency.
    let mut on_a = base.clone();
    on_a.title = "Rice for 40 families".into();
    a.handle
        .write(w.coop(), &ana, DeviceId(2), Some(id), Record::Need(on_a))
        .await
        .unwrap();
    let mut on_c = base;
    on_c.quantity = "250 kg".parse().unwrap();
    on_c.urgency = Urgency::Critical;
    c.handle
        .write(w.coop(), &beto, DeviceId(3), Some(id), Record::Need(on_c))
        .await
        .unwrap();

    connect(&a.handle, &b.handle).await;
    connect(&c.handle, &b.handle).await;
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;
    let Some(Record::Need(merged)) = b.handle.records(w.coop()).await.unwrap().remove(&id) else {
        panic!()
    };
    assert_eq!(merged.title, "Rice for 40 families");
    assert_eq!(merged.quantity.to_string(), "250 kg");
    assert_eq!(merged.urgency, Urgency::Critical);
}
