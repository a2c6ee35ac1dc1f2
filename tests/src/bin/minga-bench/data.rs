//! Co-op data for the benches: offers written by several members, one log each.

use minga_protocol::*;
use minga_tests::{T0, World};

/// The members who write, besides the founder (who certifies them).
pub const WRITERS: usize = 10;

/// An offer like the ones co-ops post.
pub fn offer(i: usize) -> Record {
    Record::Offer(Offer {
        location: Some(Location {
            point: format!("-3{}.{:02},-60.{:02}", i % 5, i % 100, (i * 7) % 100)
                .parse()
                .unwrap(),
            place: Some("Rosario".into()),
            radius_km: Some((20 + i % 100).into()),
        }),
        ..Offer::new(
            format!("lot {i} of rice"),
            "food/grain/rice".parse().unwrap(),
            format!("{} kg", 100 + i % 900).parse().unwrap(),
        )
    })
}

/// `records` entries of co-op `world`: the founder's certificates for [`WRITERS`] members,
/// then offers written round-robin by them, as a peer would send them (log order within
/// each log).
pub fn entries(world: &World, records: usize) -> Vec<Entry> {
    let mut ledger = MemoryLedger::new(Membership::new(world.genesis.clone()));
    let members: Vec<MemberSecret> = (0..WRITERS)
        .map(|i| MemberSecret::from_seed(&[100 + i as u8; 32]))
        .collect();
    let mut out = Vec::with_capacity(records + WRITERS);
    for m in &members {
        out.push(
            ledger
                .write(
                    &world.founder,
                    DeviceId(1),
                    None,
                    &world.certificate(m, Role::Member),
                    T0,
                )
                .unwrap(),
        );
    }
    for i in 0..records {
        let at = Timestamp(T0.0 + 1000 + i as i64);
        out.push(
            ledger
                .write(&members[i % WRITERS], DeviceId(1), None, &offer(i), at)
                .unwrap(),
        );
    }
    out
}
