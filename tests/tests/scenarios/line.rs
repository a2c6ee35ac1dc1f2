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

/// Entries that reach a node by catch-up, never by gossip, spread on at once: the node that
/// caught up tells its other peers, and they pull them. The timer is set to an hour, so it
/// cannot be what carries them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_caught_up_in_the_middle_reach_the_end_without_the_timer() {
    init_tracing();
    let w = World::new(2);
    let hourly = |c: &mut minga_node::NodeConfig| {
        c.sync_interval = std::time::Duration::from_secs(3600);
    };
    let (a, b, c) = (
        spawn_with(&w, 21, hourly).await,
        spawn_with(&w, 22, hourly).await,
        spawn_with(&w, 23, hourly).await,
    );
    a.handle.disconnect(c.handle.peer_id()).await.unwrap();
    c.handle.disconnect(a.handle.peer_id()).await.unwrap();
    // C writes while it has no peers: gossip never carries this need.
    let entry = c
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            need("Oil for the kitchen", "40 l"),
        )
        .await
        .unwrap();
    connect(&a.handle, &b.handle).await;
    // B catches up from C when they connect; A, linked to B before B had the need, gets it
    // through B.
    connect(&c.handle, &b.handle).await;
    arrives(&a.handle, w.coop(), entry.record_id()).await;
    assert!(
        !a.handle
            .peers()
            .await
            .unwrap()
            .contains(&c.handle.peer_id())
    );
    converged(&[&a.handle, &b.handle, &c.handle], w.coop()).await;
}
