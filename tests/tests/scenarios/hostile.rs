//! Hostile peers on the catch-up protocol: a node whose answers to `/minga/sync/1` are
//! scripted by the test (`NodeHandle::script_sync`), serving a history the test holds in a
//! ledger of its own. Each scenario asserts that nothing invalid is stored, that the victim
//! ends the exchange, and that honest traffic goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use minga_node::{NodeEvent, NodeHandle, SyncScript};
use minga_protocol::*;
use minga_tests::*;

/// A history of `n` offers by the co-op's founder, held outside any node.
fn history(w: &World, n: usize) -> MemoryLedger {
    let mut l = MemoryLedger::new(Membership::new(w.genesis.clone()));
    for i in 0..n {
        l.write(
            &w.founder,
            DeviceId(7),
            None,
            &offer(&format!("lot {i}")),
            T0,
        )
        .unwrap();
    }
    l
}

/// Answers catch-up requests from `ledger`, passing each batch through `batch` (which may
/// strip, swap or replace it). Counts the wants it answers in `wants`.
fn serve(
    ledger: MemoryLedger,
    wants: Arc<AtomicUsize>,
    batch: impl Fn(CoopId, Vec<Entry>) -> SyncMessage + Send + Sync + 'static,
) -> SyncScript {
    let coop = ledger.membership().coop();
    Arc::new(move |request| match request {
        SyncMessage::Summary(s) => Some(differing_vectors(
            s,
            [(&coop, &ledger.version_vector())],
            |_| Vec::new(),
        )),
        SyncMessage::Want { ranges, .. } => {
            wants.fetch_add(1, Ordering::SeqCst);
            let entries = ranges
                .iter()
                .flat_map(|w| ledger.entries(&w.log, w.from, w.to))
                .take(MAX_BATCH_ENTRIES)
                .collect();
            Some(batch(coop, entries))
        }
        _ => None,
    })
}

fn whole(coop: CoopId, entries: Vec<Entry>) -> SyncMessage {
    SyncMessage::Entries {
        coop,
        entries: entries.iter().map(Entry::encode).collect(),
        more: false,
    }
}

/// How many entries of the co-op `node` stores.
async fn stored(node: &NodeHandle, w: &World) -> u64 {
    node.version_vector(w.coop()).await.unwrap().total()
}

/// An honest peer serves the first `n` entries of the history whole, and `victim` ends up
/// holding every record of them.
async fn an_honest_peer_fills_in(victim: &NodeHandle, honest: &NodeHandle, w: &World, n: usize) {
    honest
        .script_sync(serve(history(w, n), Arc::default(), whole))
        .await
        .unwrap();
    connect(victim, honest).await;
    let h = history(w, n);
    eventually(victim, || async { held(victim, w, &h).await == n }).await;
}

/// Dials `hostile` from `victim` and waits until the victim rejects something it sent;
/// returns why.
async fn rejected_by(victim: &NodeHandle, hostile: &NodeHandle) -> String {
    let events = victim.subscribe();
    let from = hostile.peer_id();
    victim
        .dial(hostile.listen_addrs()[0].clone())
        .await
        .unwrap();
    next_event(events, |e| match e {
        NodeEvent::Rejected { from: f, reason } if *f == from => Some(reason.clone()),
        _ => None,
    })
    .await
}

/// The records of `history` that `node` holds.
async fn held(node: &NodeHandle, w: &World, history: &MemoryLedger) -> usize {
    let records = node.records(w.coop()).await.unwrap();
    history
        .records()
        .keys()
        .filter(|id| records.contains_key(id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_strips_payloads_cannot_blank_records() {
    init_tracing();
    let w = World::new(21);
    let h = history(&w, 20);
    let (victim, hostile, honest) = (
        spawn(&w, 211).await,
        spawn(&w, 212).await,
        spawn(&w, 213).await,
    );
    let wants = Arc::new(AtomicUsize::new(0));
    hostile
        .handle
        .script_sync(serve(history(&w, 20), wants.clone(), |coop, entries| {
            SyncMessage::Entries {
                coop,
                entries: entries.iter().map(|e| e.detached().encode()).collect(),
                more: false,
            }
        }))
        .await
        .unwrap();
    let synced = victim.handle.subscribe();
    connect(&victim.handle, &hostile.handle).await;
    let from = hostile.handle.peer_id();
    next_event(synced, |e| {
        matches!(e, NodeEvent::Synced { peer, .. } if *peer == from).then_some(())
    })
    .await;
    // The headers were not taken as the records: none is held, blank or otherwise, and the
    // logs do not claim them.
    assert!(wants.load(Ordering::SeqCst) >= 1);
    assert_eq!(held(&victim.handle, &w, &h).await, 0);
    assert_eq!(stored(&victim.handle, &w).await, 0);

    // An honest peer serves the same entries whole: they all arrive.
    an_honest_peer_fills_in(&victim.handle, &honest.handle, &w, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_break_the_protocol_end_the_link_and_honest_peers_are_still_heard() {
    init_tracing();
    let w = World::new(22);
    let other = World::new(23);
    let (victim, hostile, honest) = (
        spawn(&w, 221).await,
        spawn(&w, 222).await,
        spawn(&w, 223).await,
    );
    // Asked for this co-op's entries, it sends another co-op's, under this co-op's name.
    let theirs = history(&other, 3);
    hostile
        .handle
        .script_sync(serve(history(&w, 5), Arc::default(), move |coop, _| {
            whole(coop, theirs.all_entries())
        }))
        .await
        .unwrap();
    let from = hostile.handle.peer_id();
    rejected_by(&victim.handle, &hostile.handle).await;
    eventually(&victim.handle, || async {
        !victim.handle.peers().await.unwrap().contains(&from)
    })
    .await;
    assert_eq!(stored(&victim.handle, &w).await, 0);
    assert!(victim.handle.version_vector(other.coop()).await.is_err());

    // An honest peer's history arrives as usual.
    an_honest_peer_fills_in(&victim.handle, &honest.handle, &w, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_delivers_cannot_keep_a_session_going() {
    init_tracing();
    let w = World::new(24);
    let (victim, hostile) = (spawn(&w, 241).await, spawn(&w, 242).await);
    // It claims 50 entries, and answers every want with the first of them, forged, saying
    // `more`: a batch that brings something, but nothing this node can take.
    let wants = Arc::new(AtomicUsize::new(0));
    hostile
        .handle
        .script_sync(serve(history(&w, 50), wants.clone(), |coop, entries| {
            let mut forged = entries[0].clone();
            forged.signature.0[0] ^= 1;
            SyncMessage::Entries {
                coop,
                entries: vec![forged.encode()],
                more: true,
            }
        }))
        .await
        .unwrap();
    let synced = victim.handle.subscribe();
    connect(&victim.handle, &hostile.handle).await;
    let from = hostile.handle.peer_id();
    let received = next_event(synced, |e| match e {
        NodeEvent::Synced { peer, received, .. } if *peer == from => Some(*received),
        _ => None,
    })
    .await;
    assert_eq!(received, 1, "one batch of one entry was sent");
    assert_eq!(
        wants.load(Ordering::SeqCst),
        1,
        "one want, then the session ended"
    );
    assert_eq!(stored(&victim.handle, &w).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_refused_as_it_is_read() {
    init_tracing();
    let w = World::new(25);
    let (victim, hostile) = (spawn(&w, 251).await, spawn(&w, 252).await);
    // Past the message limit: it is refused by the codec, and the session ends.
    hostile
        .handle
        .script_sync(serve(history(&w, 3), Arc::default(), |coop, _| {
            SyncMessage::Entries {
                coop,
                entries: vec![vec![0u8; 1024 * 1024]; 9],
                more: false,
            }
        }))
        .await
        .unwrap();
    let reason = rejected_by(&victim.handle, &hostile.handle).await;
    assert!(reason.contains("cannot be read"), "{reason}");
    assert_eq!(stored(&victim.handle, &w).await, 0);
    let mine = victim
        .handle
        .write(
            w.coop(),
            &w.founder,
            DeviceId(1),
            None,
            offer("still working"),
        )
        .await
        .unwrap();
    assert!(
        victim
            .handle
            .records(w.coop())
            .await
            .unwrap()
            .contains_key(&mine.record_id())
    );
}

/// What `node` says of the co-op.
async fn summary(node: &NodeHandle, w: &World) -> minga_node::CoopSummary {
    node.coops()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.genesis.coop_id() == w.coop())
        .unwrap()
}

/// How many equivocation proofs `node` holds of the co-op.
async fn proofs(node: &NodeHandle, w: &World) -> usize {
    summary(node, w).await.equivocations.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_signs_two_histories_has_its_log_stopped_on_every_node() {
    init_tracing();
    let w = World::new(26);
    // Someone with a copy of the founder's key writes another history on the same device:
    // position 1 of that log is signed twice. One peer serves each history to one node.
    let a = history(&w, 3);
    let mut b = MemoryLedger::new(Membership::new(w.genesis.clone()));
    b.write(
        &w.founder,
        DeviceId(7),
        None,
        &offer("the other history"),
        T0,
    )
    .unwrap();
    let (one, other) = (spawn(&w, 161).await, spawn(&w, 163).await);
    for (victim, seed, ledger, n) in [(&one, 162, a, 3), (&other, 164, b, 1)] {
        let hostile = spawn(&w, seed).await;
        hostile
            .handle
            .script_sync(serve(ledger, Arc::default(), whole))
            .await
            .unwrap();
        connect(&victim.handle, &hostile.handle).await;
        eventually(&victim.handle, || async {
            stored(&victim.handle, &w).await == n
        })
        .await;
        hostile.handle.shutdown().await.unwrap();
    }
    assert_eq!(proofs(&one.handle, &w).await, 0, "neither has seen both");
    // The two honest nodes meet: catch-up finds the fork (no node holds both histories),
    // and both stop the log where it forked, so neither history counts anywhere.
    connect(&one.handle, &other.handle).await;
    for node in [&one.handle, &other.handle] {
        eventually(node, || async {
            proofs(node, &w).await == 1 && stored(node, &w).await == 0
        })
        .await;
    }
    assert!(one.handle.records(w.coop()).await.unwrap().is_empty());
    assert_eq!(
        one.handle.version_vector(w.coop()).await.unwrap(),
        other.handle.version_vector(w.coop()).await.unwrap()
    );
}

/// `n` entries by `key` on device `device` of the co-op, in order, held outside any node.
fn log_of(w: &World, key: &MemberSecret, device: u64, n: usize) -> Vec<Entry> {
    let mut l = MemoryLedger::new(Membership::new(w.genesis.clone()));
    for i in 0..n {
        l.write(
            key,
            DeviceId(device),
            None,
            &offer(&format!("{device}/{i}")),
            T0,
        )
        .unwrap();
    }
    l.all_entries()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_entries_that_wait_cannot_crowd_out_members_or_blame_forwarders() {
    init_tracing();
    let w = World::new(27);
    let (victim, hostile, honest) = (
        spawn(&w, 171).await,
        spawn(&w, 172).await,
        spawn(&w, 173).await,
    );
    connect(&victim.handle, &hostile.handle).await;
    connect(&victim.handle, &honest.handle).await;
    // A key no statement names signs entries that can never apply (each log starts at 2),
    // more than strangers may keep waiting.
    let stranger = MemberSecret::from_seed(&[0xee; 32]);
    let flood = 2 * MAX_PENDING_UNKNOWN;
    for device in 0..flood as u64 {
        let log = LogId {
            author: stranger.public(),
            device: DeviceId(device),
        };
        let payload = author_change(None, &log, &offer("spam"), T0).unwrap();
        let e = Entry::sign(
            &stranger,
            w.coop(),
            DeviceId(device),
            2,
            EntryHash(Hash::of(b"nothing")),
            RecordId::default(),
            EntryKind::Change,
            payload,
            T0,
        );
        hostile.handle.gossip_unchecked(e.encode()).await.unwrap();
    }
    // Then a valid entry on the same link: once it is stored, the flood before it was read.
    let marker = log_of(&w, &w.founder, 11, 1);
    hostile
        .handle
        .gossip_unchecked(marker[0].encode())
        .await
        .unwrap();
    let marker_log = marker[0].header.log();
    let v = &victim.handle;
    eventually(v, || async {
        v.version_vector(w.coop()).await.unwrap().get(&marker_log) == 1
    })
    .await;
    assert_eq!(
        summary(v, &w).await.waiting.0,
        MAX_PENDING_UNKNOWN,
        "strangers keep their quota and no more"
    );
    // An honest peer forwards a member's entries out of order: they wait, in room of their
    // own, and apply once the first arrives; the forwarder is not blamed.
    let members = log_of(&w, &w.founder, 9, 5);
    for e in members.iter().rev() {
        honest.handle.gossip_unchecked(e.encode()).await.unwrap();
    }
    let log = members[0].header.log();
    eventually(v, || async {
        v.version_vector(w.coop()).await.unwrap().get(&log) == 5
    })
    .await;
    let score = v.peer_score(honest.handle.peer_id()).await.unwrap();
    assert!(score.is_some_and(|s| s >= 0.0), "{score:?}");
    let held = v.version_vector(w.coop()).await.unwrap();
    assert!(held.iter().all(|(l, _)| l.author != stranger.public()));
    assert!(summary(v, &w).await.waiting.0 <= MAX_PENDING_UNKNOWN);
}
