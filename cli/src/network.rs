//! `minga network`, `minga invite`, `minga join`, and the `minga coop` commands that decide
//! who is in a network (`vouch`, `unvouch`, `expel`) or that this node refuses (`block`).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::commands::{Written, written};
use crate::{Failure, Output};

/// `network`.
#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Found a network with this node's co-op (and any others named) as its founders.
    Create {
        /// The network's name.
        name: String,
        /// How many vouches from admitted co-ops admit a new one (and expel one).
        #[arg(long, default_value_t = 1)]
        vouches: u32,
        /// Another founding co-op (trusted here), besides this node's own; repeat for more.
        #[arg(long = "founder", value_name = "COOP")]
        founders: Vec<String>,
        #[command(flatten)]
        out: Written,
    },
    /// The networks this node belongs to.
    List(Output),
    /// One network: who is in, who asks to join and who vouches for them.
    Show {
        /// The network's id or prefix [default: the only one].
        id: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

/// Which network a command is about.
#[derive(Args, Clone, Default)]
pub struct Which {
    /// The network's id or prefix [default: the only one this node belongs to].
    #[arg(long, value_name = "ID")]
    pub network: Option<String>,
}

impl Which {
    fn path(&self) -> String {
        self.network.clone().unwrap_or_else(|| "_".into())
    }
}

/// `invite`.
#[derive(Args)]
pub struct InviteArgs {
    #[command(flatten)]
    which: Which,
    /// An address other machines reach this node at, ending in `/p2p/<node id>` [default:
    /// the addresses it listens on]; repeat for more (at most 4 travel).
    #[arg(long = "addr", value_name = "MULTIADDR")]
    addrs: Vec<String>,
    #[command(flatten)]
    out: Output,
}

/// `join`.
#[derive(Args)]
pub struct JoinArgs {
    /// The invite line (`minga-invite:…`) from a co-op of the network.
    code: String,
    /// A line about this co-op, for the admins who decide.
    #[arg(long)]
    note: Option<String>,
    #[command(flatten)]
    out: Output,
}

/// `coop vouch|unvouch|expel`.
#[derive(Args)]
pub struct AboutArgs {
    /// The co-op's id or prefix.
    pub id: String,
    #[command(flatten)]
    pub which: Which,
    /// A line of explanation (the vouch's note, or the reason).
    #[arg(long, alias = "reason")]
    pub note: Option<String>,
    /// For a vouch: wait up to this many seconds for the co-op's request to reach this node.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    #[command(flatten)]
    pub out: Written,
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let id = c.get("coop").and_then(Value::as_str).unwrap_or("");
            let name = c.get("name").and_then(Value::as_str);
            let by = c
                .get("vouched_by")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let short = &id[..id.len().min(12)];
            let name = name.map(|n| format!(" {n}")).unwrap_or_default();
            match by {
                0 => format!("{short}{name}"),
                n => format!("{short}{name}, vouched by {n}"),
            }
        })
        .collect()
}

fn print(v: &Value) {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    outln!("network     {} {}", s("id"), s("name"));
    if let Some(rule) = v.get("rule").and_then(Value::as_u64) {
        outln!("rule        {rule} vouch(es) from admitted co-ops admit a new one");
    }
    for c in names(v, "admitted") {
        outln!("admitted    {c}");
    }
    for c in names(v, "pending") {
        outln!("vouched     {c}, not yet enough");
    }
    for r in v
        .get("requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        outln!("asks        {} {}: {}", f("coop"), f("name"), f("note"));
    }
    for e in v
        .get("expelled")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        outln!(
            "expelled    {}",
            e.get("coop").and_then(Value::as_str).unwrap_or("")
        );
    }
    if let Some(j) = v.get("joining").filter(|j| !j.is_null()) {
        let answer = j
            .get("answer")
            .and_then(Value::as_str)
            .unwrap_or("no answer yet");
        outln!("joining     waiting for vouches ({answer})");
    }
}

/// Runs `minga network …`.
pub async fn run(api: &Client, cmd: NetworkCmd) -> Result<(), Failure> {
    match cmd {
        NetworkCmd::Create {
            name,
            vouches,
            founders,
            out,
        } => {
            let v = api
                .post(
                    "/v1/networks",
                    &json!({ "name": name, "vouches": vouches, "founders": founders }),
                )
                .await?;
            if out.json {
                written(&v, out, "network");
                return Ok(());
            }
            if out.quiet {
                outln!("{}", v.get("network").and_then(Value::as_str).unwrap_or(""));
                return Ok(());
            }
            outln!(
                "network {}",
                v.get("network").and_then(Value::as_str).unwrap_or("")
            );
            outln!("next: `minga invite` prints a line to send to a co-op that should join");
        }
        NetworkCmd::List(out) => {
            let v = api.get("/v1/networks").await?;
            if out.json {
                outln!("{v}");
                return Ok(());
            }
            let all = v.as_array().cloned().unwrap_or_default();
            if all.is_empty() {
                outln!("no network: `minga network create NAME` or `minga join CODE`");
            }
            for n in all {
                print(&n);
            }
        }
        NetworkCmd::Show { id, out } => {
            let id = id.unwrap_or_else(|| "_".into());
            let v = api.get(&format!("/v1/networks/{id}")).await?;
            if out.json {
                outln!("{v}");
            } else {
                print(&v);
            }
        }
    }
    Ok(())
}

/// Runs `minga invite`.
pub async fn invite(api: &Client, args: InviteArgs) -> Result<(), Failure> {
    let v = api
        .post(
            &format!("/v1/networks/{}/invite", args.which.path()),
            &json!({ "addrs": args.addrs }),
        )
        .await?;
    if args.out.json {
        outln!("{v}");
    } else {
        outln!("{}", v.get("invite").and_then(Value::as_str).unwrap_or(""));
    }
    Ok(())
}

/// Runs `minga join`.
pub async fn join(api: &Client, args: JoinArgs) -> Result<(), Failure> {
    let v = api
        .post(
            "/v1/networks/join",
            &json!({ "invite": args.code, "note": args.note }),
        )
        .await?;
    if args.out.json {
        outln!("{v}");
        return Ok(());
    }
    let net = v.get("network").and_then(Value::as_str).unwrap_or("");
    if v.get("coop").is_some_and(Value::is_string) {
        outln!("asked to join network {net}");
        outln!(
            "this node now fetches the network's co-ops; once its admins vouch, `minga network show` lists this co-op as admitted"
        );
    } else {
        outln!("following network {net}: this node replicates the co-ops it admits");
    }
    Ok(())
}

/// What `coop vouch|unvouch|expel` does.
pub enum About {
    /// Vouch for a co-op that asked to join.
    Vouch,
    /// Take this co-op's vouch back.
    Unvouch,
    /// Sign for expelling a co-op.
    Expel,
}

/// Runs `minga coop vouch|unvouch|expel`.
pub async fn about(api: &Client, what: About, args: AboutArgs) -> Result<(), Failure> {
    if let (About::Vouch, Some(secs)) = (&what, args.wait) {
        wait_for_request(api, &args.which.path(), &args.id, secs).await?;
    }
    let (route, said) = match what {
        About::Vouch => ("vouches", "vouch"),
        About::Unvouch => ("unvouch", "vouch taken back by"),
        About::Expel => ("expulsions", "expulsion signed in"),
    };
    let v = api
        .post(
            &format!("/v1/networks/{}/{route}", args.which.path()),
            &json!({ "coop": args.id, "note": args.note }),
        )
        .await?;
    written(&v, args.out, said);
    Ok(())
}

/// Waits until a co-op's request to join (or a vouch for it) is on this node.
async fn wait_for_request(api: &Client, net: &str, coop: &str, secs: u64) -> Result<(), Failure> {
    let given = coop.trim().to_ascii_lowercase();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let v = api.get(&format!("/v1/networks/{net}")).await?;
        let asks = ["requests", "pending", "admitted"].iter().any(|k| {
            v.get(*k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("coop").and_then(Value::as_str))
                .any(|c| !given.is_empty() && c.starts_with(&given))
        });
        if asks {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Failure {
                message: format!("no request from co-op {given} reached this node within {secs} s"),
                hint: Some(
                    "the co-op runs `minga join CODE` with an invite from this node; check `minga peers`"
                        .into(),
                ),
                code: crate::exit::NOT_FOUND,
                api_code: None,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Runs `minga coop block|unblock`.
pub async fn block(api: &Client, id: &str, blocked: bool) -> Result<(), Failure> {
    let method = if blocked { Method::PUT } else { Method::DELETE };
    let v = api
        .json(method, &format!("/v1/blocked/{}", id.trim()), None)
        .await?;
    let coop = v.get("coop").and_then(Value::as_str).unwrap_or("");
    if blocked {
        outln!("blocked {coop}: its data is deleted here, and no network brings it back");
    } else {
        outln!("unblocked {coop}");
    }
    Ok(())
}
