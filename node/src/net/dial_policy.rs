//! Which addresses a node dials. Addresses come from many places: the bootstrap list and
//! `dial` (given by the operator), identify and Kademlia (told by other peers, any of which
//! may be hostile), hole punching (reported by the peer itself). A node dials a given address
//! always; an address it was told only when it is routable from where it stands: a global
//! IP address, never a private, loopback or link-local range (unless the operator allows
//! them, as `--lan` does) and never a DNS name (it may resolve to anything). With
//! `only_given` it dials nothing it was not given.
//!
//! The check sits in the transport ([`Policed`]), the one place every dial passes through,
//! whichever behaviour asked for it.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::timeout::TransportTimeout;
use libp2p::core::transport::{Boxed, DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::upgrade::Version;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, Transport, noise, quic, tcp, yamux};

/// The addresses a node may dial, shared by the event loop (which adds given addresses) and
/// the transport (which checks every dial).
#[derive(Clone, Debug, Default)]
pub struct DialPolicy(Arc<Mutex<PolicyState>>);

#[derive(Debug, Default)]
struct PolicyState {
    /// Addresses the operator gave, without their `/p2p/…` suffix.
    given: HashSet<Multiaddr>,
    /// Whether private, loopback and link-local addresses learnt from peers may be dialled.
    private: bool,
    /// Whether only given addresses may be dialled.
    only_given: bool,
}

impl DialPolicy {
    /// A policy: `private` allows private and loopback ranges learnt from peers (`--lan`, or
    /// a deployment inside one private network); `only_given` allows nothing but given
    /// addresses.
    pub fn new(private: bool, only_given: bool) -> DialPolicy {
        DialPolicy(Arc::new(Mutex::new(PolicyState {
            given: HashSet::new(),
            private,
            only_given,
        })))
    }

    /// Records an address the operator gave (bootstrap, relay, `dial`): it may always be
    /// dialled.
    pub fn give(&self, addr: &Multiaddr) {
        self.state().given.insert(without_peer(addr));
    }

    /// Whether `addr` was given (or remembered from a past run).
    pub fn is_given(&self, addr: &Multiaddr) -> bool {
        self.state().given.contains(&without_peer(addr))
    }

    /// Whether `addr` may be dialled.
    pub fn allows(&self, addr: &Multiaddr) -> bool {
        if self.is_given(addr) {
            return true;
        }
        let s = self.state();
        !s.only_given && (s.private || is_routable(addr))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PolicyState> {
        // The state is a set and two flags: a panic elsewhere cannot leave it half-written.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `addr` without a trailing `/p2p/<peer id>`.
fn without_peer(addr: &Multiaddr) -> Multiaddr {
    let mut a = addr.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}

/// Whether an address learnt from a peer is one a node may reach across the internet: its
/// first component is a global IP address.
pub fn is_routable(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => is_global(IpAddr::V4(ip)),
        Some(Protocol::Ip6(ip)) => is_global(IpAddr::V6(ip)),
        _ => false,
    }
}

fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_global_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(ip),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier-grade NAT), benchmarking, reserved.
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7), link-local (fe80::/10), documentation (2001:db8::/32).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// How long a connection may take to set up (dial, security, multiplexing).
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// TCP (noise, yamux) and QUIC, behind `policy`.
pub fn transport(
    key: &libp2p::identity::Keypair,
    policy: DialPolicy,
) -> Result<Policed, noise::Error> {
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    let quic = quic::tokio::Transport::new(quic::Config::new(key))
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    // A connection not set up in 5 s is abandoned: a dial hung on a dead link would otherwise
    // wait on TCP's retransmissions long after the link is back, and a half-open inbound one
    // would hold a slot.
    let both = tcp.or_transport(quic).map(|either, _| either.into_inner());
    let inner = TransportTimeout::new(both, SETUP_TIMEOUT).boxed();
    Ok(Policed { inner, policy })
}

/// A transport that dials only what its [`DialPolicy`] allows; a refused address fails at
/// once, before any packet leaves.
pub struct Policed {
    inner: Boxed<(PeerId, StreamMuxerBox)>,
    policy: DialPolicy,
}

impl Transport for Policed {
    type Output = (PeerId, StreamMuxerBox);
    type Error = std::io::Error;
    type ListenerUpgrade = <Boxed<Self::Output> as Transport>::ListenerUpgrade;
    type Dial = <Boxed<Self::Output> as Transport>::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.inner.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        if !self.policy.allows(&addr) {
            tracing::debug!(%addr, "not dialling an address learnt from a peer");
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        self.inner.dial(addr, opts)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn only_global_addresses_learnt_from_peers_are_routable() {
        for s in [
            "/ip4/127.0.0.1/tcp/7740",
            "/ip4/10.1.2.3/tcp/7740",
            "/ip4/172.20.0.1/udp/7740/quic-v1",
            "/ip4/192.168.1.10/tcp/7740",
            "/ip4/169.254.0.1/tcp/7740",
            "/ip4/100.64.0.1/tcp/7740",
            "/ip4/0.0.0.0/tcp/7740",
            "/ip4/255.255.255.255/tcp/7740",
            "/ip6/::1/tcp/7740",
            "/ip6/fe80::1/tcp/7740",
            "/ip6/fd00::1/tcp/7740",
            "/ip6/::ffff:192.168.0.1/tcp/7740",
            "/dns4/localhost/tcp/7740",
            "/dns/minga.example/tcp/7740",
        ] {
            assert!(!is_routable(&addr(s)), "{s}");
        }
        for s in [
            "/ip4/200.45.1.7/tcp/7740",
            "/ip4/8.8.4.4/udp/7740/quic-v1",
            "/ip6/2800:810::1/tcp/7740",
        ] {
            assert!(is_routable(&addr(s)), "{s}");
        }
    }

    #[test]
    fn given_addresses_are_always_dialled_and_only_given_allows_nothing_else() {
        let peer = "/p2p/12D3KooWAaHvBuyZxeQGWeTN1cgUjiDuGcYq3rVkDEnKsz5L9y9J";
        let lo = addr("/ip4/127.0.0.1/tcp/7741");
        let global = addr("/ip4/200.45.1.7/tcp/7740");
        let policy = DialPolicy::new(false, false);
        assert!(!policy.allows(&lo) && policy.allows(&global));
        policy.give(&addr(&format!("/ip4/127.0.0.1/tcp/7741{peer}")));
        assert!(
            policy.allows(&lo),
            "given with its peer id, dialled without"
        );
        assert!(!policy.allows(&addr("/ip4/127.0.0.1/tcp/7742")));
        let lan = DialPolicy::new(true, false);
        assert!(lan.allows(&addr("/ip4/192.168.1.10/tcp/7740")));
        let strict = DialPolicy::new(true, true);
        assert!(!strict.allows(&global) && !strict.allows(&lo));
        strict.give(&global);
        assert!(strict.allows(&global));
    }
}
