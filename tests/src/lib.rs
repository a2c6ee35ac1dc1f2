//! What the multi-node scenarios in `tests/scenarios/` share: a co-op with fixed keys, nodes
//! on 127.0.0.1 with port 0, and waiting for a condition driven by node events (never by
//! sleeping).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::Duration;

use minga_node::{Node, NodeConfig, NodeEvent, NodeHandle};
use minga_protocol::*;
use tokio::sync::broadcast::error::RecvError;

/// 2026-11-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_793_491_200_000);
/// How long any scenario step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(60);

/// A co-op with fixed keys.
pub struct World {
    /// The co-op key.
    pub coop_key: CoopSecret,
    /// The founding admin.
    pub founder: MemberSecret,
    /// The genesis.
    pub genesis: Signed<Genesis>,
}

impl World {
    /// The co-op founded from `seed`.
    pub fn new(seed: u8) -> World {
        World::numbered(u32::from(seed), [seed; 32], [seed.wrapping_add(1); 32])
    }

    /// One of many co-ops: the `n`th, for tests that need more than 255.
    pub fn nth(n: u32) -> World {
        let mut key = [0xc0; 32];
        key[..4].copy_from_slice(&n.to_be_bytes());
        let mut founder = [0xf0; 32];
        founder[..4].copy_from_slice(&n.to_be_bytes());
        World::numbered(n, key, founder)
    }

    fn numbered(n: u32, key: [u8; 32], founder: [u8; 32]) -> World {
        let coop_key = CoopSecret::from_seed(&key);
        let founder = MemberSecret::from_seed(&founder);
        let name = if n < 256 {
            "La Esperanza".to_string()
        } else {
            format!("Cooperativa {n}")
        };
        let genesis = found_coop(&coop_key, &name, &founder, T0).unwrap();
        World {
            coop_key,
            founder,
            genesis,
        }
    }

    /// The co-op id.
    pub fn coop(&self) -> CoopId {
        self.genesis.coop_id()
    }

    /// A certificate record for `member` (a member or coordinator), signed by the founder,
    /// for the founder's log.
    pub fn certificate(&self, member: &MemberSecret, role: Role) -> Record {
        assert!(role < Role::Admin, "only the co-op key certifies an admin");
        Record::Certificate(
            Signed::sign(
                Certificate {
                    signer: self.founder.public(),
                    coop: self.coop(),
                    subject: member.public(),
                    role,
                    issued: T0,
                    expires: None,
                    parent: Some(self.coop().0),
                },
                &self.founder.0,
            )
            .unwrap(),
        )
    }
}

/// A sample need.
pub fn need(title: &str, qty: &str) -> Record {
    Record::Need(Need {
        title: title.into(),
        category: "food/grain/rice".parse().unwrap(),
        quantity: qty.parse().unwrap(),
        location: None,
        needed: TimeWindow::default(),
        urgency: Urgency::Normal,
        expires: None,
        notes: None,
        withdrawn: false,
    })
}

/// A sample offer.
pub fn offer(title: &str) -> Record {
    Record::Offer(Offer::new(
        title,
        "food/grain/rice".parse().unwrap(),
        "300 kg".parse().unwrap(),
    ))
}

/// A node under test: its handle and its data directory.
pub struct TestNode {
    /// The handle.
    pub handle: NodeHandle,
    /// The data directory (kept so a restart reopens it).
    pub dir: tempfile::TempDir,
    /// The node key seed.
    pub seed: u8,
}

/// The configuration every test node uses: loopback, port 0, no mDNS, quick catch-up.
pub fn config(dir: &std::path::Path, world: &World) -> NodeConfig {
    let mut c = NodeConfig::new(dir);
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    c.network = "test".into();
    c.trusted = vec![world.genesis.clone()];
    c.lan = false;
    c.sync_interval = Duration::from_secs(2);
    c
}

/// Starts a node for `world` with a fresh data directory.
pub async fn spawn(world: &World, seed: u8) -> TestNode {
    spawn_with(world, seed, |_| {}).await
}

/// Starts a node for `world` with a fresh data directory and `change` made to its
/// configuration.
pub async fn spawn_with(world: &World, seed: u8, change: impl FnOnce(&mut NodeConfig)) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), world);
    change(&mut c);
    let handle = Node::start(c, &NodeSecret::from_seed(&[seed; 32]))
        .await
        .unwrap();
    TestNode { handle, dir, seed }
}

/// Starts a node that replicates several co-ops.
pub async fn spawn_trusting(worlds: &[&World], seed: u8) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), worlds[0]);
    c.trusted = worlds.iter().map(|w| w.genesis.clone()).collect();
    let handle = Node::start(c, &NodeSecret::from_seed(&[seed; 32]))
        .await
        .unwrap();
    TestNode { handle, dir, seed }
}

/// Restarts a stopped node from its data directory.
pub async fn restart(node: TestNode, world: &World) -> TestNode {
    node.handle.shutdown().await.unwrap();
    let handle = Node::start(
        config(node.dir.path(), world),
        &NodeSecret::from_seed(&[node.seed; 32]),
    )
    .await
    .unwrap();
    TestNode { handle, ..node }
}

/// Connects `a` to `b` and waits until both see the connection.
pub async fn connect(a: &NodeHandle, b: &NodeHandle) {
    let addr = b.listen_addrs()[0].clone();
    a.dial(addr).await.unwrap();
    let (pa, pb) = (a.peer_id(), b.peer_id());
    eventually(a, || async { a.peers().await.unwrap().contains(&pb) }).await;
    eventually(b, || async { b.peers().await.unwrap().contains(&pa) }).await;
}

/// Waits until `cond` holds, re-checking whenever `node` reports an event; fails the test
/// after [`STEP`].
pub async fn eventually<F, Fut>(node: &NodeHandle, cond: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_any(&[node], cond).await
}

/// Waits until `cond` holds, re-checking whenever any of `nodes` reports an event; fails the
/// test after [`STEP`].
pub async fn eventually_any<F, Fut>(nodes: &[&NodeHandle], cond: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut receivers: Vec<_> = nodes.iter().map(|n| n.subscribe()).collect();
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if cond().await {
            return;
        }
        let waits = receivers.iter_mut().map(|r| Box::pin(r.recv()));
        match tokio::time::timeout_at(deadline, futures::future::select_all(waits)).await {
            Err(_) => panic!("condition not met within {STEP:?}"),
            Ok((Ok(_) | Err(RecvError::Lagged(_)), _, _)) => {}
            Ok((Err(RecvError::Closed), _, _)) => panic!("a node stopped"),
        }
    }
}

/// Waits until `node` holds record `id` of `coop`.
pub async fn arrives(node: &NodeHandle, coop: CoopId, id: RecordId) {
    eventually(node, || async {
        node.records(coop).await.unwrap().contains_key(&id)
    })
    .await;
}

/// Waits for a node event that `pick` accepts and returns what it picked. Subscribe with
/// [`NodeHandle::subscribe`] before causing the event, so it cannot be missed.
pub async fn next_event<T>(
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    mut pick: impl FnMut(&NodeEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => panic!("event not seen within {STEP:?}"),
            Ok(Ok(e)) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
            }
            Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) => panic!("the node stopped"),
        }
    }
}

/// Waits until every node holds exactly the same records and logs of the co-op.
pub async fn converged(nodes: &[&NodeHandle], coop: CoopId) {
    eventually_any(nodes, || async {
        let first_vv = nodes[0].version_vector(coop).await.unwrap();
        let first_records = nodes[0].records(coop).await.unwrap();
        for n in &nodes[1..] {
            if n.version_vector(coop).await.unwrap() != first_vv
                || n.records(coop).await.unwrap() != first_records
            {
                return false;
            }
        }
        true
    })
    .await;
}

/// Logs to stderr when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
