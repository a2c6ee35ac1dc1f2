//! The data directory: keys, the API token, the configuration, and `minga init`.
//!
//! ```text
//! <data dir>/
//!   config.toml     tunables, every default written out as a comment
//!   node.key        the node's libp2p identity (owner-only)
//!   member.key      the member key this node signs with (owner-only)
//!   device          this installation's device id: one log per member and device
//!   api.token       the bearer token of the local API (owner-only)
//!   api.addr        where the running node's API listens (written by `minga up`)
//!   coop.key        the co-op key, if the co-op was founded here (owner-only; keep a copy offline)
//!   coop.json       the co-op's signed genesis, if founded here (share it: others trust it)
//!   store/          the sled database
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use minga_protocol::{
    CoopSecret, DeviceId, Genesis, KeyError, MemberSecret, NodeSecret, SecretKey, Signed,
    SignedPart, Timestamp, found_coop,
};
use serde::Deserialize;

use crate::Failure;

/// The API's default address: loopback only.
pub const DEFAULT_API: &str = "127.0.0.1:7878";

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

/// `config.toml`; every field is optional and command-line flags win.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The co-op this node writes for, when its member belongs to several.
    pub coop: Option<String>,
    /// What the node logs, as a `RUST_LOG` filter (`RUST_LOG` itself wins).
    pub log: Option<String>,
    /// Networking.
    #[serde(default)]
    pub network: NetworkConfig,
    /// The local API.
    #[serde(default)]
    pub api: ApiSection,
}

/// `[network]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Multiaddrs to listen on.
    pub listen: Option<Vec<String>>,
    /// Peers to dial at start.
    pub bootstrap: Option<Vec<String>>,
    /// The network name.
    pub name: Option<String>,
    /// mDNS on the LAN.
    pub lan: Option<bool>,
    /// Dial private and loopback addresses learnt from peers.
    pub private_addresses: Option<bool>,
    /// Dial only the peers given.
    pub only_given_peers: Option<bool>,
    /// A relay to listen through.
    pub relay: Option<String>,
    /// Seconds between catch-up rounds.
    pub sync_interval_secs: Option<u64>,
    /// Peers kept on this node's own initiative.
    pub peers: Option<usize>,
}

/// `[api]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// `host:port` to listen on.
    pub listen: Option<String>,
}

const CONFIG_TEMPLATE: &str = r#"# minga node configuration. Every setting is shown with its default, commented out;
# uncomment a line to change it. Flags given to `minga up` win over this file.

# The co-op this node writes for. Only needed when this node's member belongs to several
# co-ops; otherwise it is the co-op founded here, or the one that certified the member.
# coop = "<co-op id>"

# What the node logs to standard error (the journal, as a service): error, warn, info, debug,
# or a filter per module as RUST_LOG takes it. The RUST_LOG variable wins over this.
# log = "warn,libp2p_kad=error"

[network]
# Addresses to listen on (TCP and QUIC).
# listen = ["/ip4/0.0.0.0/tcp/7740", "/ip4/0.0.0.0/udp/7740/quic-v1"]
# Peers to dial at start, each ending in /p2p/<peer id>. With none, this node talks only to
# peers that dial it.
# bootstrap = []
# The network to join: one gossip topic per network.
# name = "minga"
# Find peers on this LAN with mDNS. Off by default: multicast leaves the machine. It also
# allows what private_addresses allows.
# lan = false
# Dial private, loopback and link-local addresses that other peers tell this node about
# (a deployment inside one private network). Off by default: this node dials the peers it
# is given and global addresses it learns, nothing else.
# private_addresses = false
# Dial only the peers given here or with --bootstrap: none that other peers tell of.
# only_given_peers = false
# A relay to listen through when behind NAT ("/ip4/.../tcp/.../p2p/<relay id>").
# relay = ""
# Seconds between catch-up rounds, each with one connected peer in turn (gossip carries new
# records; a gap in it, or a new link, starts a catch-up at once).
# sync_interval_secs = 30
# How many peers this node links to on its own initiative, found by Kademlia or remembered:
# past it, the newest links outside the gossip mesh are closed. Peers given here, in
# bootstrap or by an invite, and peers that dial in, do not count.
# peers = 4

[api]
# Where the local HTTP API listens. Keep it on loopback: anyone who can reach it and read
# api.token can write as this node's member.
# listen = "127.0.0.1:7878"
"#;

/// One data directory.
pub struct Home {
    /// Its path.
    pub dir: PathBuf,
}

fn key_failure(path: &Path) -> impl Fn(KeyError) -> Failure + '_ {
    move |e| {
        Failure::user(
            format!("{}: {e}", path.display()),
            "fix the file's permissions (chmod 600) or move it away",
        )
    }
}

impl Home {
    /// The directory given, or the platform default.
    pub fn at(dir: Option<PathBuf>) -> Result<Home, Failure> {
        Ok(Home {
            dir: match dir {
                Some(d) => d,
                None => default_data_dir()?,
            },
        })
    }

    /// A path inside the data directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether `minga init` has run here.
    pub fn is_initialized(&self) -> bool {
        self.path("member.key").exists()
    }

    /// `config.toml`, or the defaults when there is none.
    pub fn config(&self) -> Result<Config, Failure> {
        let path = self.path("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(Failure::user(
                    format!("cannot read {}: {e}", path.display()),
                    "check the file's permissions",
                ));
            }
        };
        toml::from_str(&text).map_err(|e| {
            Failure::user(
                format!(
                    "{}: {}",
                    path.display(),
                    e.message().lines().next().unwrap_or("invalid TOML")
                ),
                "fix the setting, or move the file away to use the defaults",
            )
        })
    }

    fn load_or_create(&self, name: &str) -> Result<SecretKey, Failure> {
        let path = self.path(name);
        if path.exists() {
            return crate::passphrase::load_key(&path, name);
        }
        let key = SecretKey::generate().map_err(key_failure(&path))?;
        key.save(&path).map_err(key_failure(&path))?;
        Ok(key)
    }

    /// The node key, created the first time.
    pub fn node_key(&self) -> Result<NodeSecret, Failure> {
        self.load_or_create("node.key").map(NodeSecret)
    }

    /// The member key, created the first time.
    pub fn member_key(&self) -> Result<MemberSecret, Failure> {
        self.load_or_create("member.key").map(MemberSecret)
    }

    /// This installation's device id, chosen the first time.
    pub fn device(&self) -> Result<DeviceId, Failure> {
        let path = self.path("device");
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|e| {
                Failure::user(
                    format!("{}: {e}", path.display()),
                    "the file holds 16 hex digits; restore it from a backup of this machine",
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = DeviceId::generate().map_err(key_failure(&path))?;
                write_new(&path, format!("{id}\n").as_bytes(), false)?;
                Ok(id)
            }
            Err(e) => Err(Failure::user(
                format!("cannot read {}: {e}", path.display()),
                "check the file's permissions",
            )),
        }
    }

    /// The API token, created the first time (32 random bytes, hex).
    /// A client (`create` false) may take it from `MINGA_TOKEN` instead, to reach a node
    /// whose data directory it cannot read.
    pub fn token(&self, create: bool) -> Result<String, Failure> {
        if !create && let Ok(t) = std::env::var("MINGA_TOKEN") {
            return Ok(t);
        }
        let path = self.path("api.token");
        match std::fs::read_to_string(&path) {
            Ok(t) if t.trim().len() >= minga_node::api::MIN_TOKEN_BYTES => Ok(t.trim().to_string()),
            // Empty or short (a crash while it was written): never serve with it.
            Ok(_) if create => {
                let token = new_token()?;
                let fresh = self.path("api.token.new");
                let _ = std::fs::remove_file(&fresh);
                write_new(&fresh, token.as_bytes(), true)?;
                std::fs::rename(&fresh, &path).map_err(|e| {
                    Failure::user(
                        format!("cannot replace the API token {}: {e}", path.display()),
                        "check the data directory's permissions",
                    )
                })?;
                Ok(token)
            }
            Ok(_) => Err(Failure::user(
                format!("the API token {} is too short", path.display()),
                "restart `minga up`: it makes a new one",
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let token = new_token()?;
                write_new(&path, token.as_bytes(), true)?;
                Ok(token)
            }
            Err(e) => Err(Failure::user(
                format!("cannot read the API token {}: {e}", path.display()),
                "run minga as the user who ran `minga init`, or pass --data-dir",
            )),
        }
    }

    /// The co-op key, if it is kept here (the founding node, or one it was brought to),
    /// asking for its passphrase if it is encrypted.
    pub fn coop_key(&self) -> Result<Option<CoopSecret>, Failure> {
        let path = self.path("coop.key");
        if !path.exists() {
            return Ok(None);
        }
        crate::passphrase::load_key(&path, "coop.key").map(|k| Some(CoopSecret(k)))
    }

    /// The co-op key for a node to hold while it runs: only one kept in clear. An encrypted
    /// one stays on disk; the commands that need it bring it in for a moment
    /// (`Client::with_coop_key`).
    pub fn coop_key_for_node(&self) -> Result<Option<CoopSecret>, Failure> {
        if self.coop_key_protected()? {
            return Ok(None);
        }
        self.coop_key()
    }

    /// Whether `coop.key` is here and encrypted with a passphrase.
    pub fn coop_key_protected(&self) -> Result<bool, Failure> {
        let path = self.path("coop.key");
        if !path.exists() {
            return Ok(false);
        }
        SecretKey::file_is_encrypted(&path).map_err(key_failure(&path))
    }

    /// The co-op founded here, if any.
    pub fn genesis(&self) -> Result<Option<Signed<Genesis>>, Failure> {
        let path = self.path("coop.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Failure::user(
                    format!("cannot read {}: {e}", path.display()),
                    "check the file's permissions",
                ));
            }
        };
        read_genesis(&path, &text).map(Some)
    }

    /// Where the running node's API listens: `api.addr` (written by `minga up`), else the
    /// configured or default address.
    pub fn api_addr(&self) -> Result<String, Failure> {
        if let Ok(a) = std::fs::read_to_string(self.path("api.addr")) {
            return Ok(a.trim().to_string());
        }
        Ok(self
            .config()?
            .api
            .listen
            .unwrap_or_else(|| DEFAULT_API.to_string()))
    }

    /// Records where the API listens, for the clients.
    pub fn write_api_addr(&self, addr: SocketAddr) -> Result<(), Failure> {
        let path = self.path("api.addr");
        std::fs::write(&path, format!("{addr}\n")).map_err(|e| {
            Failure::user(
                format!("cannot write {}: {e}", path.display()),
                "check the data directory's permissions",
            )
        })
    }
}

/// Reads a co-op genesis file (`{"statement": …, "signature": …}`, as `coop show --genesis`
/// writes it).
pub fn read_genesis(path: &Path, bytes: &[u8]) -> Result<Signed<Genesis>, Failure> {
    let bad = |e: String| {
        Failure::user(
            format!("{}: {e}", path.display()),
            "a genesis file is what `minga coop show --genesis` writes",
        )
    };
    if bytes.len() > 16 * 1024 {
        return Err(bad("too large for a genesis".into()));
    }
    let part: SignedPart = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    part.open::<Genesis>("genesis")
        .map_err(|e| bad(e.to_string()))
}

/// Writes a new file, owner-only when `secret`; never replaces one.
/// 32 random bytes, hex.
fn new_token() -> Result<String, Failure> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| Failure::user(format!("no randomness: {e}"), "check the system"))?;
    Ok(hex::encode(b))
}

fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<(), Failure> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if secret {
            opts.mode(0o600);
        }
    }
    let _ = secret;
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| {
            Failure::user(
                format!("cannot write {}: {e}", path.display()),
                "check the data directory's permissions",
            )
        })
}

/// What `init` made.
pub struct Initialized {
    /// The member key's public half.
    pub member: minga_protocol::PublicKey,
    /// The co-op founded, if any.
    pub founded: Option<Signed<Genesis>>,
}

/// Creates whatever of the data directory is missing: the directory (owner-only), keys,
/// device id, token and a commented config; with `coop`, a new co-op founded by this node's
/// member.
pub fn init(home: &Home, coop: Option<&str>) -> Result<Initialized, Failure> {
    create_dir(&home.dir)?;
    if coop.is_some() && home.genesis()?.is_some() {
        return Err(Failure::user(
            format!("a co-op was already founded in {}", home.dir.display()),
            "use another --data-dir for another co-op",
        ));
    }
    home.node_key()?;
    let member = home.member_key()?;
    home.device()?;
    home.token(true)?;
    let config = home.path("config.toml");
    if !config.exists() {
        write_new(&config, CONFIG_TEMPLATE.as_bytes(), false)?;
    }
    let founded = match coop {
        None => None,
        Some(name) => Some(found(home, name, &member)?),
    };
    Ok(Initialized {
        member: member.public(),
        founded,
    })
}

fn found(home: &Home, name: &str, founder: &MemberSecret) -> Result<Signed<Genesis>, Failure> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.contains('\n') {
        return Err(Failure::user(
            "a co-op name is one line of at most 200 bytes",
            "e.g. --coop \"La Esperanza\"",
        ));
    }
    let key_path = home.path("coop.key");
    let coop_key = match SecretKey::load(&key_path) {
        Ok(k) => CoopSecret(k),
        Err(_) if !key_path.exists() => {
            let k = CoopSecret::generate().map_err(key_failure(&key_path))?;
            k.0.save(&key_path).map_err(key_failure(&key_path))?;
            k
        }
        Err(e) => return Err(key_failure(&key_path)(e)),
    };
    let genesis = found_coop(&coop_key, name, founder, Timestamp::now()).map_err(|e| {
        Failure::user(
            format!("cannot found the co-op: {e}"),
            "choose a shorter name",
        )
    })?;
    let file = serde_json::to_vec_pretty(&SignedPart::of(&genesis))
        .map_err(|e| Failure::user(e.to_string(), "report this as a bug"))?;
    write_new(&home.path("coop.json"), &file, false)?;
    Ok(genesis)
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::user(
            format!("cannot create {}: {e}", dir.display()),
            "choose a writable --data-dir",
        )
    };
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}
