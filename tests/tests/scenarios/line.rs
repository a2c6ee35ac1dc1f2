//! Three nodes in a line: a record written at A reaches C through B.

use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_at_a_reaches_c_through_b() {
    init_tracing();
    let w = World::new(1);
    let (a, b, c) = (
        spawn(&w, 11).await,
        spawn(&w, 12).await,
        spawn(&w, 13).await,
    );
    // A and C refuse each other, so Kademlia cannot turn the line into a triangle.
    a.handle.disconnect(c.handle.peer_id()).await.unwrap();
    c.handle.disconnect(a.handle.peer_id()).await.unwrap();
    connect(&a.handle, &b.handle).await;
    connect(&c.handle, &b.handle).await;

    let entry = a
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            need("Rice for the kitchen", "200 kg"),
        )
        .await
        .unwrap();
    let id = entry.record_id();
    arrives(&c.handle, w.coop(), id).await;
    let Some(Record::Need(n)) = c.handle.records(w.coop()).await.unwrap().remove(&id) else {
        panic!("not a need")
    };
    assert_eq!(n.title, "Rice for the kitchen");
    // It went through B: A and C never connected to each other.
    assert!(
        !a.handle
            .peers()
            .await
            .unwrap()
            .contains(&c.handle.peer_id())
    );
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;
}
