//! The commands that talk to a running node, each a thin client of one API endpoint.

use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::{Command, Failure, Output, show, transfer, verify};

/// The fields of an offer or a need.
#[derive(Args, Clone, Default)]
pub struct ListingFields {
    /// A short title.
    #[arg(long)]
    pub title: String,
    /// Category path, e.g. food/grain/rice.
    #[arg(long)]
    pub category: String,
    /// How much, with a unit: "300 kg", "20 l", "5 h", "1000 ARS".
    #[arg(long)]
    pub quantity: String,
    #[command(flatten)]
    pub more: MoreFields,
}

/// `offer edit` and `need edit`: the fields to change (an empty value clears an optional one).
#[derive(Args)]
pub struct EditFields {
    /// A new title.
    #[arg(long)]
    pub title: Option<String>,
    /// A new category path.
    #[arg(long)]
    pub category: Option<String>,
    /// A new quantity, with a unit.
    #[arg(long)]
    pub quantity: Option<String>,
    #[command(flatten)]
    pub more: MoreFields,
}

/// The optional fields of an offer or need, to post or to change.
#[derive(Args, Clone, Default)]
pub struct MoreFields {
    /// Offers: the least worth arranging.
    #[arg(long)]
    pub minimum: Option<String>,
    /// Where, as LAT,LON in decimal degrees.
    #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
    pub location: Option<String>,
    /// A place name.
    #[arg(long)]
    pub place: Option<String>,
    /// How far from the location it applies, in km (offers: how far the co-op delivers).
    #[arg(long, value_name = "KM")]
    pub radius: Option<String>,
    /// Offers: available from; needs: needed from (2026-12-15 or RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Offers: available until; needs: needed by.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Needs: low, normal, high or critical.
    #[arg(long)]
    pub urgency: Option<String>,
    /// When it stops showing.
    #[arg(long, value_name = "TIME")]
    pub expires: Option<String>,
    /// Free text.
    #[arg(long)]
    pub notes: Option<String>,
}

impl MoreFields {
    /// The fields given, over `base` (fields not given are left out, not sent as null).
    fn over(&self, mut base: serde_json::Map<String, Value>) -> Value {
        for (k, v) in [
            ("minimum", &self.minimum),
            ("location", &self.location),
            ("place", &self.place),
            ("radius_km", &self.radius),
            ("from", &self.from),
            ("until", &self.until),
            ("urgency", &self.urgency),
            ("expires", &self.expires),
            ("notes", &self.notes),
        ] {
            if let Some(v) = v {
                base.insert(k.into(), json!(v));
            }
        }
        Value::Object(base)
    }
}

impl ListingFields {
    fn to_json(&self) -> Value {
        let mut base = serde_json::Map::new();
        base.insert("title".into(), json!(self.title));
        base.insert("category".into(), json!(self.category));
        base.insert("quantity".into(), json!(self.quantity));
        self.more.over(base)
    }
}

impl EditFields {
    fn to_json(&self) -> Value {
        let mut base = serde_json::Map::new();
        for (k, v) in [
            ("title", &self.title),
            ("category", &self.category),
            ("quantity", &self.quantity),
        ] {
            if let Some(v) = v {
                base.insert(k.into(), json!(v));
            }
        }
        self.more.over(base)
    }
}

/// `offer …` and `need …`.
#[derive(Subcommand)]
pub enum Listing {
    /// Post one.
    Add {
        #[command(flatten)]
        fields: ListingFields,
        #[command(flatten)]
        out: Written,
    },
    /// List them (open ones unless --all).
    List(Filters),
    /// Show one with its pledges.
    Show(ShowArgs),
    /// Change some fields of one of this co-op's; the rest keep their value. Two members'
    /// edits of different fields both stand, even made offline at once.
    Edit {
        /// Its id.
        id: String,
        #[command(flatten)]
        fields: EditFields,
        #[command(flatten)]
        out: Written,
    },
    /// Withdraw one of this co-op's.
    Withdraw {
        /// Its id.
        id: String,
        #[command(flatten)]
        out: Written,
    },
}

/// Listing filters.
#[derive(Args, Clone, Default)]
pub struct Filters {
    /// Only this category or its descendants.
    #[arg(long)]
    pub category: Option<String>,
    /// Only within --radius km of LAT,LON.
    #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
    pub near: Option<String>,
    /// Radius around --near, in km [default: 50].
    #[arg(long, value_name = "KM")]
    pub radius: Option<String>,
    /// Only at least this urgent (low, normal, high, critical).
    #[arg(long)]
    pub urgency: Option<String>,
    /// Only with this status (open, partly_pledged, pledged, over_pledged, fulfilled, proposed, accepted, …).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this co-op's (id or prefix).
    #[arg(long)]
    pub coop: Option<String>,
    /// Include withdrawn and expired records.
    #[arg(long)]
    pub all: bool,
    /// At most this many [default: 100].
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub out: Output,
}

impl Filters {
    /// The query string for `GET /v1/records`.
    pub fn query(&self, kind: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut add = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        };
        add("kind", kind.map(str::to_string));
        add("category", self.category.clone());
        add("near", self.near.clone());
        add("radius", self.radius.clone());
        add("urgency", self.urgency.clone());
        add("status", self.status.clone());
        add("coop", self.coop.clone());
        add("all", self.all.then(|| "true".to_string()));
        add("limit", self.limit.map(|l| l.to_string()));
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        if encoded.is_empty() {
            String::new()
        } else {
            format!("?{}", encoded.join("&"))
        }
    }
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `list`.
#[derive(Args)]
pub struct ListArgs {
    /// Only this kind: offer, need, pledge, acceptance, delivery, profile, certificate, revocation.
    #[arg(long)]
    pub kind: Option<String>,
    #[command(flatten)]
    pub filters: Filters,
}

/// `show`.
#[derive(Args)]
pub struct ShowArgs {
    /// The record's id, or a unique prefix of at least 4 hex digits (a `coop/record` ref works too).
    pub id: String,
    /// Wait up to this many seconds for the record to arrive from a peer.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    #[command(flatten)]
    pub out: Output,
}

/// `match`.
#[derive(Args)]
pub struct MatchArgs {
    /// Only this need (id or prefix) [default: every open need with a candidate].
    #[arg(long)]
    pub need: Option<String>,
    /// Candidates per need [default: 3].
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub out: Output,
}

/// `pledge`.
#[derive(Args)]
pub struct PledgeArgs {
    /// The need pledged to (id or prefix).
    pub need: String,
    /// How much, e.g. "120 kg"; any unit that converts to the need's.
    #[arg(long)]
    pub quantity: String,
    /// One of this co-op's offers it draws on.
    #[arg(long)]
    pub offer: Option<String>,
    /// Delivery promised by (2026-12-15 or RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub due: Option<String>,
    /// A line of explanation, signed with the pledge.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub out: Written,
}

/// `accept` / `decline`.
#[derive(Args)]
pub struct AnswerArgs {
    /// The pledge (id or prefix).
    pub pledge: String,
    /// A line of explanation, signed with the answer.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub out: Written,
}

/// `deliver`.
#[derive(Args)]
pub struct DeliverArgs {
    /// The pledge (id or prefix).
    pub pledge: String,
    /// How much arrived, e.g. "70 kg".
    #[arg(long)]
    pub quantity: String,
    /// When it arrived [default: now].
    #[arg(long, value_name = "TIME")]
    pub received: Option<String>,
    /// A line of explanation.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub out: Written,
}

/// `member …`.
#[derive(Subcommand)]
pub enum Member {
    /// Certify a member key (as printed by their `minga init`); needs an admin.
    Add {
        /// The member's key, `did:key:…`.
        key: String,
        /// member, coordinator or admin.
        #[arg(long, default_value = "member")]
        role: String,
        /// When the certificate ends (2027-12-31 or RFC 3339).
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
        #[command(flatten)]
        out: Written,
    },
    /// Revoke a member key: what this node already holds of it stays valid, nothing later does.
    Revoke {
        /// The member's key.
        key: String,
        /// Why, in a line.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        out: Written,
    },
    /// Every key this co-op has certified or revoked.
    List(Output),
}

/// `device …`.
#[derive(Subcommand)]
pub enum Device {
    /// Let another device write as this member, with its own key (the one its `minga init`
    /// printed): no data directory or member key is copied.
    Add {
        /// The device's key, `did:key:…`.
        key: String,
        #[command(flatten)]
        out: Written,
    },
    /// Revoke one of this member's devices (lost or stolen); the member's key keeps writing.
    Revoke {
        /// The device's key.
        key: String,
        #[command(flatten)]
        out: Written,
    },
}

/// `coop …`.
#[derive(Subcommand)]
pub enum Coop {
    /// The co-ops this node replicates, or one of them.
    Show {
        /// A co-op id or prefix [default: all].
        id: Option<String>,
        /// Print the co-op's genesis file (this node's co-op unless ID is given), for others to trust.
        #[arg(long)]
        genesis: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Start replicating a co-op, from its genesis file.
    Trust {
        /// The genesis file (`minga coop show --genesis` writes it).
        file: std::path::PathBuf,
    },
    /// Stop replicating a co-op and delete what this node holds of it.
    Untrust {
        /// The co-op id or prefix.
        id: String,
    },
    /// Replace the co-op key (lost or suspected stolen): the co-op keeps its id, what the old
    /// key signed so far stands, and nothing it signs from now on counts. Run it on the node
    /// that keeps coop.key.
    Rotate,
    /// Vouch, as an admin of this co-op, for a co-op that asked to join a network.
    Vouch(crate::network::AboutArgs),
    /// Take back this co-op's vouch for a co-op.
    Unvouch(crate::network::AboutArgs),
    /// Sign for expelling a co-op from a network: once the network's rule of admitted co-ops
    /// sign, what it writes after the cut-offs (its logs as each signer held them) is
    /// refused on every node.
    Expel(crate::network::AboutArgs),
    /// Refuse a co-op on this node: its data is deleted here and no network brings it back.
    /// A local choice, never replicated.
    Block {
        /// The co-op id (or a prefix, if held here).
        id: String,
    },
    /// Lift a block.
    Unblock {
        /// The co-op's whole id.
        id: String,
    },
}

/// A record id as the API takes it: the part after a `coop/` prefix, if any.
pub fn record_id(given: &str) -> &str {
    given.rsplit('/').next().unwrap_or(given).trim()
}

/// How a write reports the record it made.
#[derive(Args, Clone, Copy, Default)]
pub struct Written {
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only the new record's id (for scripts: `NEED=$(minga need add … -q)`).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
}

/// Prints what a write returned.
/// Who signed a membership statement the node wrote: `co-op key` or `admin`.
fn signed_by(v: &Value) -> &str {
    v.get("signed_by")
        .and_then(Value::as_str)
        .unwrap_or("admin")
}

pub(crate) fn written(v: &Value, out: Written, what: &str) {
    if out.json {
        outln!("{v}");
        return;
    }
    if out.quiet {
        outln!("{}", v.get("id").and_then(Value::as_str).unwrap_or(""));
        return;
    }
    let id = v.get("id").and_then(Value::as_str).unwrap_or("");
    outln!("{what} {id}");
}

/// Runs one client command.
pub async fn run(api: &Client, home: &crate::home::Home, command: Command) -> Result<(), Failure> {
    match command {
        Command::Offer(l) => listing(api, l, "offer").await,
        Command::Need(l) => listing(api, l, "need").await,
        Command::Pledge(a) => {
            let body = json!({
                "need": record_id(&a.need), "quantity": a.quantity,
                "offer": a.offer.as_deref().map(record_id), "due": a.due, "note": a.note,
            });
            let v = api.post("/v1/pledges", &body).await?;
            written(&v, a.out, "pledged");
            Ok(())
        }
        Command::Cancel(a) => {
            let body = json!({ "note": a.note });
            let path = format!("/v1/pledges/{}/cancel", record_id(&a.pledge));
            let v = api.post(&path, &body).await?;
            written(&v, a.out, "cancelled; cancellation");
            Ok(())
        }
        Command::Accept(a) => answer(api, a, "accept").await,
        Command::Decline(a) => answer(api, a, "decline").await,
        Command::Deliver(a) => {
            let body = json!({ "quantity": a.quantity, "received": a.received, "note": a.note });
            let v = api
                .post(
                    &format!("/v1/pledges/{}/deliveries", record_id(&a.pledge)),
                    &body,
                )
                .await?;
            written(&v, a.out, "delivery confirmed");
            Ok(())
        }
        Command::List(a) => {
            let v = api
                .get(&format!(
                    "/v1/records{}",
                    a.filters.query(a.kind.as_deref())
                ))
                .await?;
            show::records(&v, a.filters.out);
            Ok(())
        }
        Command::Show(a) => show_one(api, &a, None).await,
        Command::Match(a) => {
            let mut q = Vec::new();
            if let Some(n) = &a.need {
                q.push(format!("need={}", record_id(n)));
            }
            if let Some(l) = a.limit {
                q.push(format!("limit={l}"));
            }
            let path = if q.is_empty() {
                "/v1/match".to_string()
            } else {
                format!("/v1/match?{}", q.join("&"))
            };
            show::matches(&api.get(&path).await?, a.out);
            Ok(())
        }
        Command::Plan(out) => {
            let v = api
                .json_within(Method::GET, "/v1/plan", None, Duration::from_secs(600))
                .await?;
            show::plan(&v, out);
            Ok(())
        }
        Command::Member(m) => member(api, home, m).await,
        Command::Device(d) => {
            let (path, key, out, done) = match d {
                Device::Add { key, out } => ("/v1/devices", key, out, "device linked; link"),
                Device::Revoke { key, out } => {
                    ("/v1/devices/revoke", key, out, "device revoked; revocation")
                }
            };
            let v = api.post(path, &json!({ "key": key })).await?;
            written(&v, out, done);
            Ok(())
        }
        Command::Coop(c) => coop(api, home, c).await,
        Command::Open { print } => {
            let v = api.post("/v1/web/link", &serde_json::json!({})).await?;
            let url = v.get("url").and_then(Value::as_str).unwrap_or("");
            outln!("{url}");
            eprintln!("a one-time link: it signs one browser in to the page, within five minutes");
            let desktop = std::env::var_os("DISPLAY").is_some()
                || std::env::var_os("WAYLAND_DISPLAY").is_some();
            if !print && desktop {
                // Best effort: where no opener is installed, the printed link is the answer.
                let _ = std::process::Command::new("xdg-open")
                    .arg(url)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
            Ok(())
        }
        Command::Peers(out) => {
            show::peers(&api.get("/v1/peers").await?, out);
            Ok(())
        }
        Command::Status(out) => {
            show::status(&api.get("/v1/status").await?, out);
            Ok(())
        }
        Command::Watch(out) => show::watch(api, out).await,
        Command::Verify(a) => verify::online(api, &a).await,
        Command::Fund(f) => crate::fund::run(api, f).await,
        Command::Contact(c) => crate::contact::run(api, c).await,
        Command::Network(n) => crate::network::run(api, n).await,
        Command::Invite(a) => crate::network::invite(api, a).await,
        Command::Join(a) => crate::network::join(api, a).await,
        Command::Export(e) => transfer::export(api, e).await,
        Command::Import(a) => transfer::import(api, a).await,
        Command::Backup { file } => crate::backup::backup(api, home, &file).await,
        // Run before a client is set up (main.rs).
        Command::Doctor => Ok(()),
        Command::Init { .. }
        | Command::Up(_)
        | Command::Key(_)
        | Command::Restore { .. }
        | Command::Service(_) => Ok(()),
    }
}

async fn listing(api: &Client, l: Listing, kind: &str) -> Result<(), Failure> {
    match l {
        Listing::Add { fields, out } => {
            let v = api.post(&format!("/v1/{kind}s"), &fields.to_json()).await?;
            written(&v, out, &format!("{kind} posted"));
            Ok(())
        }
        Listing::List(f) => {
            let v = api
                .get(&format!("/v1/records{}", f.query(Some(kind))))
                .await?;
            show::records(&v, f.out);
            Ok(())
        }
        Listing::Show(a) => show_one(api, &a, Some(kind)).await,
        Listing::Edit { id, fields, out } => {
            let v = api
                .json(
                    reqwest::Method::PATCH,
                    &format!("/v1/records/{}", record_id(&id)),
                    Some(&fields.to_json()),
                )
                .await?;
            written(&v, out, &format!("{kind} edited:"));
            Ok(())
        }
        Listing::Withdraw { id, out } => {
            let v = api
                .post(
                    &format!("/v1/records/{}/withdraw", record_id(&id)),
                    &json!({}),
                )
                .await?;
            let how = if v.get("removed").and_then(Value::as_bool) == Some(true) {
                "withdrawn; its content is removed on every node:"
            } else {
                "marked withdrawn (a coordinator's withdraw removes its content):"
            };
            written(&v, out, &format!("{kind} {how}"));
            Ok(())
        }
    }
}

async fn show_one(api: &Client, a: &ShowArgs, kind: Option<&str>) -> Result<(), Failure> {
    let wait = a.wait.unwrap_or(0).min(600);
    let path = format!("/v1/records/{}?wait={wait}", record_id(&a.id));
    let v = api
        .json_within(Method::GET, &path, None, Duration::from_secs(wait + 30))
        .await?;
    if let Some(k) = kind {
        let found = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if found != k {
            return Err(Failure::user(
                format!("{} is a {found}, not a {k}", a.id),
                format!("use `minga show {}`", a.id),
            ));
        }
    }
    show::detail(&v, a.out);
    Ok(())
}

async fn answer(api: &Client, a: AnswerArgs, decision: &str) -> Result<(), Failure> {
    let body = json!({ "decision": decision, "note": a.note });
    let v = api
        .post(
            &format!("/v1/pledges/{}/answer", record_id(&a.pledge)),
            &body,
        )
        .await?;
    let done = if decision == "accept" {
        "accepted"
    } else {
        "declined"
    };
    written(&v, a.out, &format!("{done}; answer"));
    Ok(())
}

async fn member(api: &Client, home: &crate::home::Home, m: Member) -> Result<(), Failure> {
    match m {
        Member::Add {
            key,
            role,
            expires,
            out,
        } => {
            let v = api
                .post_as_coop(
                    home,
                    "/v1/members",
                    &json!({ "key": key, "role": role, "expires": expires }),
                )
                .await?;
            written(
                &v,
                out,
                &format!("certified by the {}; certificate", signed_by(&v)),
            );
        }
        Member::Revoke { key, reason, out } => {
            let v = api
                .post_as_coop(
                    home,
                    "/v1/members/revoke",
                    &json!({ "key": key, "reason": reason }),
                )
                .await?;
            written(
                &v,
                out,
                &format!("revoked by the {}; revocation", signed_by(&v)),
            );
        }
        Member::List(out) => show::members(&api.get("/v1/members").await?, out),
    }
    Ok(())
}

async fn coop(api: &Client, home: &crate::home::Home, c: Coop) -> Result<(), Failure> {
    match c {
        Coop::Show { id, genesis, out } => {
            let id = match (id, genesis) {
                (Some(id), _) => Some(id),
                (None, true) => {
                    let status = api.get("/v1/status").await?;
                    Some(
                        status
                            .get("coop")
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                Failure::user(
                                    "this node has no co-op of its own",
                                    "give the id of the co-op whose genesis you want",
                                )
                            })?
                            .to_string(),
                    )
                }
                (None, false) => None,
            };
            match id {
                Some(id) => {
                    let v = api.get(&format!("/v1/coops/{id}")).await?;
                    if genesis {
                        let g = v.get("genesis").cloned().unwrap_or(Value::Null);
                        outln!("{}", serde_json::to_string_pretty(&g).unwrap_or_default());
                    } else {
                        show::coops(&Value::Array(vec![v]), out);
                    }
                }
                None => show::coops(&api.get("/v1/coops").await?, out),
            }
        }
        Coop::Trust { file } => {
            let bytes = std::fs::read(&file).map_err(|e| {
                Failure::user(
                    format!("cannot read {}: {e}", file.display()),
                    "check the path",
                )
            })?;
            let genesis = crate::home::read_genesis(&file, &bytes)?;
            let body = serde_json::to_value(minga_protocol::SignedPart::of(&genesis))
                .map_err(|e| Failure::user(e.to_string(), "report this as a bug"))?;
            let v = api.post("/v1/coops", &body).await?;
            outln!(
                "trusted {} {}",
                v.get("id").and_then(Value::as_str).unwrap_or(""),
                v.get("name").and_then(Value::as_str).unwrap_or("")
            );
        }
        Coop::Untrust { id } => {
            api.json(Method::DELETE, &format!("/v1/coops/{id}"), None)
                .await?;
            outln!("untrusted {id}; its data is deleted from this node");
        }
        Coop::Rotate => rotate(api, home).await?,
        Coop::Vouch(a) => crate::network::about(api, crate::network::About::Vouch, a).await?,
        Coop::Unvouch(a) => crate::network::about(api, crate::network::About::Unvouch, a).await?,
        Coop::Expel(a) => crate::network::about(api, crate::network::About::Expel, a).await?,
        Coop::Block { id } => crate::network::block(api, &id, true).await?,
        Coop::Unblock { id } => crate::network::block(api, &id, false).await?,
    }
    Ok(())
}

/// Rotates the co-op key: a new key is made and kept beside the old one until the node has
/// signed the rotation with the old key, then it replaces it. The old key is deleted: after a
/// rotation it can only do harm.
async fn rotate(api: &Client, home: &crate::home::Home) -> Result<(), Failure> {
    let current = home.path("coop.key");
    if !current.exists() {
        return Err(Failure::user(
            "this data directory keeps no coop.key",
            "run it with --data-dir of the node that keeps the co-op key",
        ));
    }
    // A protected key is brought in for the rotation, and the new one is kept under the same
    // passphrase.
    let unlocked = if home.coop_key_protected()? {
        let phrase = crate::passphrase::ask("passphrase for coop.key", false)?;
        let old = minga_protocol::SecretKey::load_with(&current, Some(phrase.as_bytes()))
            .map_err(|e| Failure::user(e.to_string(), "try again"))?;
        Some((minga_protocol::CoopSecret(old), phrase))
    } else {
        None
    };
    let next = home.path("coop.key.next");
    let _ = std::fs::remove_file(&next);
    let key = minga_protocol::SecretKey::generate()
        .map_err(|e| Failure::user(e.to_string(), "check the system's randomness"))?;
    let phrase = unlocked.as_ref().map(|(_, p)| p.as_bytes());
    key.save_with(&next, phrase)
        .map_err(|e| Failure::user(e.to_string(), "check the data directory's permissions"))?;
    let body = json!({ "new_key": key.to_pkcs8_pem() });
    let rotated = match &unlocked {
        Some((old, _)) => {
            api.with_coop_key(old, || api.post("/v1/coop/rotate", &body))
                .await
        }
        None => api.post("/v1/coop/rotate", &body).await,
    };
    let v = match rotated {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&next);
            return Err(e);
        }
    };
    std::fs::rename(&next, home.path("coop.key")).map_err(|e| {
        Failure::user(
            format!("the rotation is signed, but coop.key was not replaced: {e}"),
            format!("move {} over coop.key by hand", next.display()),
        )
    })?;
    outln!(
        "rotated: co-op key {} is {}",
        v.get("number").and_then(Value::as_u64).unwrap_or(0),
        v.get("coop_key").and_then(Value::as_str).unwrap_or("")
    );
    outln!("the old key is deleted; keep a copy of the new coop.key offline");
    Ok(())
}
