//! `minga up`: run this machine's node in the foreground until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};

use minga_node::{Multiaddr, Node, NodeConfig};
use minga_protocol::{KeyError, NodeSecret, SecretKey};

use crate::Failure;

/// The options of `minga up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Where the node keeps its key and store [default: $XDG_DATA_HOME/minga, or
    /// ~/.local/share/minga].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on, as a multiaddr; repeat for several.
    #[arg(long, value_name = "MULTIADDR", default_values = ["/ip4/0.0.0.0/tcp/7740", "/ip4/0.0.0.0/udp/7740/quic-v1"])]
    pub listen: Vec<String>,
    /// A peer to dial at start (`/ip4/…/tcp/…/p2p/<peer id>`); repeat for several.
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// The network to join: one gossip topic per network.
    #[arg(long, default_value = "minga")]
    pub network: String,
    /// Find peers on this LAN with mDNS (multicast leaves the machine, so it is off by default).
    #[arg(long)]
    pub lan: bool,
    /// A relay to listen through when behind NAT (`…/p2p/<relay id>`).
    #[arg(long, value_name = "MULTIADDR")]
    pub relay: Option<String>,
}

/// The platform data directory.
pub fn default_data_dir() -> Result<PathBuf, Failure> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("minga"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/minga")),
        None => Err(Failure::user(
            "no data directory: neither XDG_DATA_HOME nor HOME is set",
            "pass --data-dir DIR",
        )),
    }
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

/// Loads the node key, creating it (owner-only) the first time.
fn node_key(dir: &Path) -> Result<NodeSecret, Failure> {
    let path = dir.join("node.key");
    let key_error = |e: KeyError| Failure::user(e.to_string(), "fix the file or move it away");
    if path.exists() {
        return SecretKey::load(&path).map(NodeSecret).map_err(key_error);
    }
    let key = NodeSecret::generate().map_err(key_error)?;
    key.0.save(&path).map_err(key_error)?;
    Ok(key)
}

/// Runs the node until a stop signal.
pub fn run(args: UpArgs) -> Result<(), Failure> {
    let dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::user(
            format!("cannot create {}: {e}", dir.display()),
            "choose a writable --data-dir",
        )
    })?;
    let key = node_key(&dir)?;
    let mut config = NodeConfig::new(&dir);
    config.listen = parse_addrs("--listen", &args.listen)?;
    config.bootstrap = parse_addrs("--bootstrap", &args.bootstrap)?;
    config.relay = parse_addrs("--relay", args.relay.as_slice())?.pop();
    config.network = args.network;
    config.lan = args.lan;

    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libp2p_kad=error")),
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
        let node = Node::start(config, &key).await.map_err(|e| {
            Failure::user(
                e.to_string(),
                "is another minga running on this data directory or port? try --listen /ip4/127.0.0.1/tcp/0",
            )
        })?;
        println!("minga node {}", node.peer_id());
        println!("data        {}", dir.display());
        for a in node.listen_addrs() {
            println!("listening   {a}");
        }
        println!("press Ctrl-C to stop");
        wait_for_stop().await;
        node.shutdown()
            .await
            .map_err(|e| Failure::user(format!("shutting down: {e}"), "the store was flushed on every commit"))?;
        println!("stopped");
        Ok(())
    })
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
