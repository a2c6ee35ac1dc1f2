//! Which links a node keeps on its own initiative. Kademlia dials the peers its queries find,
//! and a node would otherwise stay linked to every peer it ever heard of: on a network of a
//! few hundred co-ops, hundreds of links, each with its pings, gossip and catch-ups. A node
//! keeps at most [`NodeConfig::peer_target`](crate::NodeConfig::peer_target) peers that it
//! dialled without being given them; past that it closes the newest links outside the gossip
//! mesh (mesh links carry the traffic; old links have proved stable). A link is never closed
//! in its first [`GRACE`] (a Kademlia query or the first catch-up may be using it) nor while
//! a catch-up with the peer runs. Given peers and peers that dial in are not counted here.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::event_loop::EventLoop;

/// How long a new link is kept whatever the count.
pub const GRACE: Duration = Duration::from_secs(10);

/// The peers to disconnect so that at most `target` of the `dialled` ones (each with when its
/// link opened) stay: links outside `mesh` first, newest first, none younger than [`GRACE`]
/// and none in `busy`.
pub fn to_close(
    dialled: &HashMap<PeerId, Instant>,
    mesh: &HashSet<PeerId>,
    busy: impl Fn(&PeerId) -> bool,
    target: usize,
    now: Instant,
) -> Vec<PeerId> {
    let excess = dialled.len().saturating_sub(target);
    if excess == 0 {
        return Vec::new();
    }
    let mut candidates: Vec<(bool, Instant, PeerId)> = dialled
        .iter()
        .filter(|(p, since)| now.duration_since(**since) >= GRACE && !busy(p))
        .map(|(p, since)| (mesh.contains(p), *since, *p))
        .collect();
    // Outside the mesh before inside it; then the newest link first.
    candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    candidates
        .into_iter()
        .take(excess)
        .map(|(_, _, p)| p)
        .collect()
}

impl EventLoop {
    /// Closes the links this node keeps past its target (the rules above); a peer closed here is
    /// not dialled again on this node's initiative until Kademlia finds it again.
    pub(super) fn trim_links(&mut self, now: Instant) {
        if self.dialled.len() <= self.peer_target {
            return;
        }
        let mesh: std::collections::HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_mesh_peers()
            .copied()
            .collect();
        let sessions = &self.sessions;
        let close = to_close(
            &self.dialled,
            &mesh,
            |p| sessions.contains_key(p),
            self.peer_target,
            now,
        );
        for peer in close {
            tracing::debug!(%peer, "closing a link past the peer target");
            self.dialled.remove(&peer);
            let forgotten = self.known.forget(&peer);
            self.remember(forgotten);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn keeps_the_target_closing_the_newest_outside_the_mesh() {
        let now = Instant::now() + Duration::from_secs(3600);
        let p = peers(5);
        // p[0] is the oldest link, p[4] the newest; p[4] is in the mesh.
        let dialled: HashMap<PeerId, Instant> = p
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, now - GRACE * 10 + Duration::from_secs(i as u64)))
            .collect();
        let mesh = HashSet::from([p[4]]);
        let mut closed = to_close(&dialled, &mesh, |_| false, 2, now);
        closed.sort();
        let mut expected = vec![p[1], p[2], p[3]];
        expected.sort();
        assert_eq!(closed, expected);
        // Within the target, nothing is closed.
        assert!(to_close(&dialled, &mesh, |_| false, 5, now).is_empty());
        // With nothing else left, mesh links go too, the newest first.
        let closed = to_close(&dialled, &mesh, |_| false, 0, now);
        assert_eq!(closed.len(), 5);
        assert_eq!(closed[4], p[4]);
    }

    #[test]
    fn spares_young_and_busy_links() {
        let now = Instant::now() + Duration::from_secs(3600);
        let p = peers(4);
        let mut dialled = HashMap::new();
        dialled.insert(p[0], now - GRACE * 2);
        dialled.insert(p[1], now - GRACE * 2);
        // Younger than the grace.
        dialled.insert(p[2], now - GRACE / 2);
        dialled.insert(p[3], now);
        let busy = |peer: &PeerId| *peer == p[1];
        // Three over a target of one, but only p[0] may go.
        assert_eq!(
            to_close(&dialled, &HashSet::new(), busy, 1, now),
            vec![p[0]]
        );
    }
}
