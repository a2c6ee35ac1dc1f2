//! Peers this node has dialled and reached, remembered across restarts and dialled again
//! whenever the link drops, with a short capped backoff: a cut of any length heals within
//! seconds of the link coming back, at the cost of one connection attempt every few seconds
//! per lost peer while it is down.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// The most peers remembered; past it, the one that failed most (then the longest unreached)
/// is forgotten.
pub const MAX_KNOWN_PEERS: usize = 256;
/// The first wait before dialling a lost peer again.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest wait between two attempts: it bounds how long after a heal a link comes back.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Known {
    /// The address that reached it, ending in `/p2p/<peer id>`.
    addr: Multiaddr,
    /// Attempts since it was last reached.
    failures: u32,
    /// When to dial it next; `None` while connected.
    next: Option<Instant>,
    /// When it was last reached.
    reached: Instant,
}

/// What changed in the set of remembered addresses, to write to the store.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Remembered {
    /// Addresses to remember.
    pub added: Vec<String>,
    /// Addresses to forget.
    pub removed: Vec<String>,
}

/// The peers a node dials again when the link drops.
#[derive(Debug, Default)]
pub struct KnownPeers {
    peers: HashMap<PeerId, Known>,
}

impl KnownPeers {
    /// Starts from the addresses the store remembers: each is dialled at once.
    pub fn from_stored(addrs: &[String], now: Instant) -> KnownPeers {
        let mut known = KnownPeers::default();
        for a in addrs {
            let Ok(addr) = a.parse::<Multiaddr>() else {
                continue;
            };
            if let Some(peer) = super::peer_of(&addr) {
                known.peers.insert(
                    peer,
                    Known {
                        addr,
                        failures: 0,
                        next: Some(now),
                        reached: now,
                    },
                );
            }
        }
        known
    }

    /// This node dialled `peer` at `addr` and reached it.
    pub fn reached(&mut self, peer: PeerId, addr: &Multiaddr, now: Instant) -> Remembered {
        let mut addr = addr.clone();
        if super::peer_of(&addr).is_none() {
            addr.push(Protocol::P2p(peer));
        }
        let mut out = Remembered::default();
        match self.peers.get_mut(&peer) {
            Some(k) if k.addr == addr => {}
            Some(k) => {
                out.removed.push(k.addr.to_string());
                out.added.push(addr.to_string());
                k.addr = addr.clone();
            }
            None => {
                out.added.push(addr.to_string());
                if self.peers.len() >= MAX_KNOWN_PEERS
                    && let Some(evicted) = self.least_useful()
                    && let Some(k) = self.peers.remove(&evicted)
                {
                    out.removed.push(k.addr.to_string());
                }
                self.peers.insert(
                    peer,
                    Known {
                        addr: addr.clone(),
                        failures: 0,
                        next: None,
                        reached: now,
                    },
                );
            }
        }
        if let Some(k) = self.peers.get_mut(&peer) {
            k.failures = 0;
            k.next = None;
            k.reached = now;
        }
        out
    }

    /// The last connection to `peer` closed: dial it again soon.
    pub fn lost(&mut self, peer: &PeerId, now: Instant) {
        if let Some(k) = self.peers.get_mut(peer) {
            k.next = Some(now + backoff(k.failures));
        }
    }

    /// Forgets a peer (the operator disconnected it on purpose).
    pub fn forget(&mut self, peer: &PeerId) -> Remembered {
        Remembered {
            added: Vec::new(),
            removed: self
                .peers
                .remove(peer)
                .map(|k| k.addr.to_string())
                .into_iter()
                .collect(),
        }
    }

    /// The peers due for another attempt, each with its address; each attempt pushes the
    /// next one back (doubling, up to [`BACKOFF_MAX`]).
    pub fn due(&mut self, now: Instant) -> Vec<(PeerId, Multiaddr)> {
        let mut out = Vec::new();
        for (peer, k) in &mut self.peers {
            if k.next.is_some_and(|t| t <= now) {
                k.failures = k.failures.saturating_add(1);
                k.next = Some(now + backoff(k.failures));
                out.push((*peer, k.addr.clone()));
            }
        }
        out
    }

    fn least_useful(&self) -> Option<PeerId> {
        self.peers
            .iter()
            .max_by_key(|(_, k)| (k.failures, std::cmp::Reverse(k.reached)))
            .map(|(p, _)| *p)
    }
}

fn backoff(failures: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1u32 << failures.min(16))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([n; 32])
            .unwrap_or_else(|e| panic!("{e}"));
        key.public().to_peer_id()
    }

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_lost_peer_is_dialled_again_with_a_capped_backoff_and_remembered() {
        let t0 = Instant::now();
        let mut k = KnownPeers::default();
        let p = peer(1);
        let changed = k.reached(p, &addr(7001), t0);
        let full = format!("/ip4/127.0.0.1/tcp/7001/p2p/{p}");
        assert_eq!(changed.added, vec![full.clone()]);
        assert!(
            k.due(t0 + BACKOFF_MAX * 10).is_empty(),
            "connected: not dialled"
        );
        k.lost(&p, t0);
        let mut at = t0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let next = k.peers[&p].next.unwrap_or_else(|| panic!("scheduled"));
            assert!(k.due(next - Duration::from_millis(1)).is_empty());
            waits.push(next - at);
            at = next;
            assert_eq!(
                k.due(at),
                vec![(p, full.parse().unwrap_or_else(|_| panic!()))]
            );
        }
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits.last(), Some(&BACKOFF_MAX));
        // Reached again: the backoff starts over. After a restart it is dialled at once.
        k.reached(p, &addr(7001), at);
        let restored = KnownPeers::from_stored(&[full], at);
        assert_eq!(restored.peers[&p].next, Some(at));
        assert_eq!(k.forget(&p).removed.len(), 1);
    }

    #[test]
    fn the_list_is_bounded() {
        let t0 = Instant::now();
        let mut k = KnownPeers::default();
        let mut removed = 0;
        for i in 0..(MAX_KNOWN_PEERS as u16 + 10) {
            let key = libp2p::identity::Keypair::generate_ed25519();
            removed += k
                .reached(key.public().to_peer_id(), &addr(8000 + i), t0)
                .removed
                .len();
        }
        assert_eq!(k.peers.len(), MAX_KNOWN_PEERS);
        assert_eq!(removed, 10);
    }
}
