//! `minga up`: run this machine's node and its local API in the foreground until Ctrl-C or
//! SIGTERM. A data directory that does not exist yet is initialized first.

use std::time::Duration;

use minga_node::api::{ApiConfig, LocalMember};
use minga_node::{Multiaddr, Node, NodeConfig};

use crate::Failure;
use crate::home::{self, Home};

/// The options of `minga up`; each overrides `config.toml`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Address to listen on, as a multiaddr; repeat for several [default: TCP and QUIC on
    /// port 7740, all interfaces].
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A peer to dial at start (`/ip4/…/tcp/…/p2p/<peer id>`); repeat for several.
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// The gossip topic's name for co-ops trusted by hand, outside any network founded with
    /// `minga network create` (each of those has its own topic) [default: minga].
    #[arg(long)]
    pub network: Option<String>,
    /// Find peers on this LAN with mDNS (multicast leaves the machine, so it is off by default).
    #[arg(long)]
    pub lan: bool,
    /// A relay to listen through when behind NAT (`…/p2p/<relay id>`).
    #[arg(long, value_name = "MULTIADDR")]
    pub relay: Option<String>,
    /// Where the local API listens [default: 127.0.0.1:7878].
    #[arg(long, value_name = "HOST:PORT")]
    pub api: Option<String>,
}

fn parse_addrs(what: &str, list: &[String]) -> Result<Vec<Multiaddr>, Failure> {
    list.iter()
        .map(|a| {
            a.parse().map_err(|e| {
                Failure::user(
                    format!("{what} {a:?} is not a multiaddr: {e}"),
                    "write it like /ip4/127.0.0.1/tcp/7740",
                )
            })
        })
        .collect()
}

/// Runs the node until a stop signal.
pub fn run(home: &Home, args: UpArgs) -> Result<(), Failure> {
    if !home.is_initialized() {
        let made = home::init(home, None)?;
        outln!("initialized {}", home.dir.display());
        outln!("member key  {}", made.member);
    }
    let file = home.config()?;
    let key = home.node_key()?;
    let member = LocalMember {
        key: home.member_key()?,
        device: home.device()?,
    };
    let token = home.token(true)?;
    let founded = home.genesis()?;

    let mut config = NodeConfig::new(&home.dir);
    let net = file.network;
    let listen = if args.listen.is_empty() {
        net.listen.unwrap_or_else(|| {
            vec![
                "/ip4/0.0.0.0/tcp/7740".into(),
                "/ip4/0.0.0.0/udp/7740/quic-v1".into(),
            ]
        })
    } else {
        args.listen
    };
    config.listen = parse_addrs("listen address", &listen)?;
    let mut bootstrap = net.bootstrap.unwrap_or_default();
    bootstrap.extend(args.bootstrap);
    config.bootstrap = parse_addrs("bootstrap peer", &bootstrap)?;
    let relay = args.relay.or(net.relay).filter(|r| !r.is_empty());
    config.relay = parse_addrs("relay", relay.as_slice())?.pop();
    config.network = args.network.or(net.name).unwrap_or_else(|| "minga".into());
    config.lan = args.lan || net.lan.unwrap_or(false);
    config.private_addresses = net.private_addresses.unwrap_or(false);
    config.only_given_peers = net.only_given_peers.unwrap_or(false);
    if let Some(peers) = net.peers {
        config.peer_target = peers.min(256);
    }
    if let Some(secs) = net.sync_interval_secs {
        config.sync_interval = Duration::from_secs(secs.clamp(1, 86_400));
    }
    config.trusted.extend(founded.clone());
    let coop = match &file.coop {
        Some(c) => Some(c.parse().map_err(|e| {
            Failure::user(
                format!("config.toml: coop {c:?}: {e}"),
                "give the co-op's full id, as `minga coop show` prints it",
            )
        })?),
        None => founded.as_ref().map(|g| g.coop_id()),
    };
    let api_addr = args
        .api
        .or(file.api.listen)
        .unwrap_or_else(|| home::DEFAULT_API.into());

    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    file.log.as_deref().unwrap_or("warn,libp2p_kad=error"),
                )
            }),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| {
        Failure::user(
            format!("cannot start the runtime: {e}"),
            "check the system's limits",
        )
    })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&api_addr).await.map_err(|e| {
            Failure::user(
                format!("cannot listen for the API on {api_addr}: {e}"),
                "is another minga running? choose another port with --api 127.0.0.1:7879",
            )
        })?;
        let bound = listener.local_addr().map_err(|e| Failure::user(e.to_string(), "try again"))?;
        let node = Node::start(config, &key).await.map_err(|e| {
            let hint = match e {
                minga_node::NodeError::Store(minga_node::store::StoreError::NewerFormat { .. }) => {
                    "install the newer minga again (its data is untouched), or start from a backup this version made"
                }
                _ => "is another minga running on this data directory or port? try --listen /ip4/127.0.0.1/tcp/0",
            };
            Failure::user(e.to_string(), hint)
        })?;
        home.write_api_addr(bound)?;
        let (stop_api, api_stopping) = tokio::sync::oneshot::channel::<()>();
        let api = tokio::spawn(minga_node::api::serve(
            listener,
            node.clone(),
            ApiConfig {
                token,
                member: Some(member.clone()),
                coop,
                coop_key: home.coop_key_for_node()?,
                snapshots: Some(home.dir.clone()),
                contact: Some(home.path("contact.json")),
            },
            async move {
                let _ = api_stopping.await;
            },
        ));
        outln!("minga node {}", node.peer_id());
        outln!("data        {}", home.dir.display());
        outln!("member      {}", member.key.public());
        match home_coop(&node, &member, coop).await {
            Some((id, name)) => outln!("co-op       {id} {name}"),
            None => outln!(
                "co-op       none yet: once an admin runs `minga member add {}`, follow the co-op's invite with `minga join LINE`",
                member.key.public()
            ),
        }
        for a in node.listen_addrs() {
            outln!("listening   {a}");
        }
        outln!("api         http://{bound}");
        outln!("page        http://{bound}/ (sign in with `minga open`)");
        // Listening for signals before saying so: a stop sent as soon as this line is read
        // must stop the node cleanly, not kill it.
        let stop = stop_signal();
        outln!("press Ctrl-C to stop");
        stop.await;
        let _ = stop_api.send(());
        match api.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("minga: the API stopped with an error: {e}"),
            Err(e) => eprintln!("minga: the API task failed: {e}"),
        }
        let _ = std::fs::remove_file(home.path("api.addr"));
        node.shutdown()
            .await
            .map_err(|e| Failure::user(format!("shutting down: {e}"), "the store was flushed on every commit"))?;
        outln!("stopped");
        Ok(())
    })
}

/// The co-op this node writes for: the configured or founded one, or else the trusted co-op
/// whose membership names the member.
async fn home_coop(
    node: &minga_node::NodeHandle,
    member: &LocalMember,
    configured: Option<minga_protocol::CoopId>,
) -> Option<(minga_protocol::CoopId, String)> {
    let now = minga_protocol::Timestamp::now();
    for c in node.coops().await.ok()? {
        let id = c.genesis.coop_id();
        let mine = match configured {
            Some(want) => id == want,
            None => node
                .membership(id)
                .await
                .is_ok_and(|m| m.role_at(&member.key.public(), now).is_ok()),
        };
        if mine {
            return Some((id, c.genesis.value().name.clone()));
        }
    }
    None
}

/// Starts listening for Ctrl-C and SIGTERM at once; the future ends at the first. (Tokio's
/// `ctrl_c()` would register only when first polled.)
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
