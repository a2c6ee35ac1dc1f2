//! A late joiner: D starts after 500 records exist and ends with identical ledgers.

use minga_protocol::*;
use minga_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joining_late_catches_up_on_500_records() {
    init_tracing();
    let w = World::new(2);
    let (a, b) = (spawn(&w, 21).await, spawn(&w, 22).await);
    connect(&a.handle, &b.handle).await;
    let member = MemberSecret::from_seed(&[23; 32]);
    a.handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            w.certificate(&member, Role::Member),
        )
        .await
        .unwrap();
    for i in 0..250 {
        a.handle
            .write(
                w.coop(),
                &member,
                DeviceId(7),
                None,
                offer(&format!("lot {i}")),
            )
            .await
            .unwrap();
        b.handle
            .write(
                w.coop(),
                &w.founder,
                DeviceId(2),
                None,
                need(&format!("need {i}"), "1 kg"),
            )
            .await
            .unwrap();
    }
    converged(&[&a.handle, &b.handle], w.coop()).await;
    let d = spawn(&w, 24).await;
    connect(&d.handle, &a.handle).await;
    converged(&[&a.handle, &b.handle, &d.handle], w.coop()).await;
    assert_eq!(d.handle.records(w.coop()).await.unwrap().len(), 501);
    // D learnt it by catch-up, and the statistics say so. (Gossip's short message history may
    // hand D the last few writes first, so not all 501 need come by catch-up.)
    let stats = d.handle.sync_stats().await.unwrap();
    let from_a = stats.get(&a.handle.peer_id()).copied().unwrap_or_default();
    assert!(from_a.entries_in >= 400, "{from_a:?}");
    assert!(from_a.bytes_in > from_a.entries_in * 200, "{from_a:?}");
}
