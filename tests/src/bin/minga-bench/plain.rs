//! The propagation baseline: plain gossipsub with minga's own gossip settings (the same
//! behaviour, built by [`minga_node::gossip_behaviour`]: content ids, scoring, validation
//! mode, queue durations) over the same transport (TCP, noise, yamux, no delay), but nothing
//! else: no validation (each message is accepted as it arrives), no storage, no catch-up,
//! no Kademlia, no pings. What minga adds on top of gossip is the difference.

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

/// What a plain node's task is asked to do.
enum Command {
    Dial(Multiaddr),
    Publish(Vec<u8>),
    Peers(oneshot::Sender<usize>),
}

/// One plain gossipsub node, run by its own task.
pub struct PlainNode {
    commands: mpsc::Sender<Command>,
    /// Where it listens.
    pub addr: Multiaddr,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a plain node on 127.0.0.1 subscribed to `network`'s topic. Each message it receives
/// is reported on `seen` as (this node's index, the message's first eight bytes, when).
pub async fn spawn(
    index: usize,
    network: &str,
    seen: mpsc::Sender<(usize, u64, Instant)>,
) -> PlainNode {
    let network = network.to_string();
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            minga_node::gossip_behaviour(&network)
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    let topic = minga_node::topic(&network);
    let (commands, mut rx) = mpsc::channel(1024);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(Command::Dial(a)) => {
                        let _ = swarm.dial(a);
                    }
                    Some(Command::Publish(data)) => {
                        let _ = swarm.behaviour_mut().publish(topic.clone(), data);
                    }
                    Some(Command::Peers(reply)) => {
                        let _ = reply.send(swarm.connected_peers().count());
                    }
                },
                event = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(gossipsub::Event::Message {
                        propagation_source,
                        message_id,
                        message,
                    }) = event
                    {
                        let _ = swarm.behaviour_mut().report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Accept,
                        );
                        if let Some(seq) = message.data.first_chunk::<8>() {
                            let _ = seen.try_send((index, u64::from_be_bytes(*seq), Instant::now()));
                        }
                    }
                }
            }
        }
    });
    PlainNode {
        commands,
        addr,
        task,
    }
}

impl PlainNode {
    /// Dials `addr`.
    pub async fn dial(&self, addr: Multiaddr) {
        let _ = self.commands.send(Command::Dial(addr)).await;
    }

    /// Publishes message `seq`: eight bytes of sequence number, then `size` bytes of padding
    /// (an entry's size, so both carry the same bytes).
    pub async fn publish(&self, seq: u64, size: usize) {
        let mut data = seq.to_be_bytes().to_vec();
        data.resize(8 + size, 0x5a);
        let _ = self.commands.send(Command::Publish(data)).await;
    }

    /// How many peers it is connected to.
    pub async fn peers(&self) -> usize {
        let (reply, answer) = oneshot::channel();
        let _ = self.commands.send(Command::Peers(reply)).await;
        answer.await.unwrap_or(0)
    }

    /// Stops it.
    pub fn stop(self) {
        self.task.abort();
    }
}
