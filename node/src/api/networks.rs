//! Networks: create one, invite, join by invite, vouch, take a vouch back, expel, block.
//! The statements are signed by this node's member (an admin of its co-op) and written as
//! records of its co-op, so they replicate like any other; the node decides who is in from
//! them (see `net::networks`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use minga_protocol::network::{
    Expel, Invite, LogCutoff, NetworkGenesis, Unvouch, Vouch, encode_cutoffs,
};
use minga_protocol::{CoopId, ExpelRecord, Hash, Record, Timestamp, VouchRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::records::{Answer, signed, write};
use super::{Body, Shared, one_by_prefix};
use crate::net::NetworkState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateInput {
    name: String,
    /// Vouches that admit a new co-op (1 when not given).
    vouches: Option<u32>,
    /// Other founding co-ops (trusted here), besides this node's own.
    #[serde(default)]
    founders: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InviteInput {
    /// Addresses to put in the invite (this node's listen addresses when none are given).
    #[serde(default)]
    addrs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinInput {
    invite: String,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AboutInput {
    coop: String,
    /// The vouch's note, or the reason for taking it back or expelling.
    note: Option<String>,
}

fn text(n: Option<String>) -> Option<String> {
    n.map(|n| n.trim().to_string()).filter(|n| !n.is_empty())
}

fn state_json(n: &NetworkState) -> Value {
    let g = n.genesis.as_ref().map(|g| g.value());
    let coops = |m: &std::collections::BTreeMap<CoopId, std::collections::BTreeSet<CoopId>>| {
        m.iter()
            .map(|(c, by)| {
                json!({
                    "coop": c.to_string(),
                    "vouched_by": by.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "name": n.geneses.get(c).map(|g| g.value().name.clone()),
                })
            })
            .collect::<Vec<_>>()
    };
    json!({
        "id": n.id.to_string(),
        "name": g.map(|g| g.name.clone()),
        "rule": g.map(|g| g.vouches),
        "founders": g.map(|g| g.founders.iter().map(ToString::to_string).collect::<Vec<_>>()),
        "admitted": n.admission.as_ref().map(|a| coops(&a.admitted)),
        "pending": n.admission.as_ref().map(|a| coops(&a.pending)),
        "expelled": n.admission.as_ref().map(|a| a.expelled.iter().map(|(c, e)| json!({
            "coop": c.to_string(),
            "by": e.by.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "logs": e.cutoffs.len(),
        })).collect::<Vec<_>>()),
        "requests": n.requests.iter().map(|r| json!({
            "coop": r.genesis.coop_id().to_string(),
            "name": r.genesis.value().name,
            "note": r.note,
            "from": r.from.to_string(),
            "received": r.received.to_string(),
        })).collect::<Vec<_>>(),
        "joining": n.joining.as_ref().map(|j| json!({
            "coop": j.coop.map(|c| c.to_string()),
            "kept": j.answer.as_ref().map(|a| a.0),
            "answer": j.answer.as_ref().map(|a| a.1.clone()),
        })),
    })
}

/// Each network in brief, for `status`.
pub(super) fn brief(n: &NetworkState) -> Value {
    json!({
        "id": n.id.to_string(),
        "name": n.genesis.as_ref().map(|g| g.value().name.clone()),
        "admitted": n.admission.as_ref().map(|a| a.admitted.len()),
        "pending": n.admission.as_ref().map(|a| a.pending.len()),
        "requests": n.requests.len(),
        "joining": n.joining.is_some(),
    })
}

pub(super) async fn list(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let nets = s.node.networks().await?;
    Ok(Json(Value::Array(nets.iter().map(state_json).collect())))
}

/// A network this node belongs to, by id or unique prefix, or `_` for the only one.
async fn network(s: &Shared, given: &str) -> Result<NetworkState, ApiError> {
    let given = given.trim().to_ascii_lowercase();
    let mut nets = s.node.networks().await?;
    if given == "_" {
        return match nets.len() {
            1 => Ok(nets.remove(0)),
            0 => Err(ApiError::not_found(
                "this node belongs to no network",
                "create one with `minga network create NAME`, or join with `minga join CODE`",
            )),
            _ => Err(ApiError::bad(
                "this node belongs to several networks",
                "name one with --network ID (`minga network list`)",
            )),
        };
    }
    one_by_prefix(
        &given,
        nets,
        |n| n.id.to_string(),
        "networks",
        ApiError::not_found(
            format!("no network {given} here"),
            "list them with `minga network list`",
        ),
    )
}

pub(super) async fn show(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state_json(&network(&s, &id).await?)))
}

pub(super) async fn create(State(s): State<Shared>, Body(input): Body<CreateInput>) -> Answer {
    let (coop, _) = s.home().await?;
    let mut founders = vec![coop];
    for f in &input.founders {
        let c = s.coop(f).await?;
        if !founders.contains(&c) {
            founders.push(c);
        }
    }
    let genesis = NetworkGenesis {
        signer: s.member()?.key.public(),
        coop,
        name: input.name.trim().to_string(),
        founders,
        vouches: input.vouches.unwrap_or(1),
        created: Timestamp::now(),
    };
    genesis
        .check()
        .map_err(|e| ApiError::bad(e, "a network has 1 to 32 founders and a rule of 1 or more"))?;
    let genesis = signed(genesis, &s)?;
    let (status, Json(mut out)) = write(&s, None, Record::Network(genesis.clone())).await?;
    s.node.belong(genesis.clone()).await?;
    if let Value::Object(map) = &mut out {
        map.insert("network".into(), json!(genesis.network_id().to_string()));
    }
    Ok((status, Json(out)))
}

pub(super) async fn invite(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<InviteInput>,
) -> Result<Json<Value>, ApiError> {
    let net = network(&s, &id).await?;
    let (coop, _) = s.home().await?;
    let addrs: Vec<String> = if input.addrs.is_empty() {
        // Addresses a peer can dial: not the unspecified ones a listener on every interface
        // reports.
        s.node
            .listen_addrs()
            .iter()
            .map(ToString::to_string)
            .filter(|a| !a.contains("/ip4/0.0.0.0/") && !a.contains("/ip6/::/"))
            .collect()
    } else {
        for a in &input.addrs {
            a.parse::<libp2p::Multiaddr>()
                .map_err(|e| ApiError::field("addrs", format!("{a}: {e}")))?;
        }
        input.addrs
    };
    if addrs.is_empty() {
        return Err(ApiError::bad(
            "this node listens on no address another machine can dial",
            "give the address others reach this node at with --addr /ip4/…/tcp/…/p2p/…",
        ));
    }
    let invite = Invite {
        network: net.id,
        coop,
        addrs,
    };
    Ok(Json(json!({
        "invite": invite.encode(),
        "network": net.id.to_string(),
        "addrs": invite.addrs,
    })))
}

pub(super) async fn join(State(s): State<Shared>, Body(input): Body<JoinInput>) -> Answer {
    let invite = Invite::decode(&input.invite).map_err(|e| {
        ApiError::bad(
            format!("not an invite: {e}"),
            "ask the inviting co-op for its line from `minga invite`, and paste it whole",
        )
    })?;
    // A member's own node, whose co-op it does not carry yet, only follows the network.
    let coop = s.home().await.ok().map(|(c, _)| c);
    s.node
        .join(invite.clone(), coop, text(input.note).unwrap_or_default())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "network": invite.network.to_string(),
            "inviter": invite.coop.to_string(),
            "coop": coop.map(|c| c.to_string()),
        })),
    ))
}

/// A co-op by id or unique prefix among those asking to join or vouched for.
fn candidate(net: &NetworkState, given: &str) -> Result<CoopId, ApiError> {
    let given = given.trim().to_ascii_lowercase();
    one_by_prefix(
        &given,
        net.geneses.keys().copied(),
        ToString::to_string,
        "co-ops",
        ApiError::not_found(
            format!("no co-op {given} asks to join this network here"),
            "the co-op runs `minga join CODE` with this network's invite; its request then shows in `minga network show`",
        ),
    )
}

pub(super) async fn vouch(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<AboutInput>,
) -> Answer {
    let net = network(&s, &id).await?;
    let subject = candidate(&net, &input.coop)?;
    let Some(genesis) = net.geneses.get(&subject).cloned() else {
        return Err(ApiError::not_found("that co-op's genesis is not here", ""));
    };
    if net
        .admission
        .as_ref()
        .is_some_and(|a| a.is_admitted(&subject))
    {
        return Err(ApiError::refused(
            "that co-op is already admitted",
            "see who is in with `minga network show`",
        ));
    }
    let (coop, _) = s.home().await?;
    let vouch = Vouch {
        signer: s.member()?.key.public(),
        coop,
        network: net.id,
        subject,
        issued: Timestamp::now(),
        note: text(input.note),
    };
    let record = Record::Vouch(Box::new(VouchRecord {
        vouch: signed(vouch, &s)?,
        genesis,
    }));
    write(&s, None, record).await
}

pub(super) async fn unvouch(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<AboutInput>,
) -> Answer {
    let net = network(&s, &id).await?;
    let (coop, _) = s.home().await?;
    let given = input.coop.trim().to_ascii_lowercase();
    // This co-op's own vouch for that co-op in that network.
    let mine = s
        .node
        .records(coop)
        .await?
        .into_iter()
        .find_map(|(rid, r)| match r {
            Record::Vouch(v)
                if v.vouch.value().network == net.id
                    && given.len() >= 4
                    && v.vouch.value().subject.to_string().starts_with(&given) =>
            {
                Some(minga_protocol::RecordRef { coop, record: rid })
            }
            _ => None,
        })
        .ok_or_else(|| {
            ApiError::not_found(
                format!("this co-op has no vouch for {given} in that network"),
                "see the vouches with `minga network show`",
            )
        })?;
    let unvouch = Unvouch {
        signer: s.member()?.key.public(),
        coop,
        network: net.id,
        vouch: mine,
        issued: Timestamp::now(),
        reason: text(input.note),
    };
    write(&s, None, Record::Unvouch(signed(unvouch, &s)?)).await
}

pub(super) async fn expel(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<AboutInput>,
) -> Answer {
    let net = network(&s, &id).await?;
    let subject = s.coop(&input.coop).await?;
    let (coop, _) = s.home().await?;
    if subject == coop {
        return Err(ApiError::refused(
            "a co-op does not expel itself",
            "to leave, stop replicating the network's co-ops",
        ));
    }
    // The cut-offs: every log of that co-op as this node holds it now.
    let cutoffs: Vec<LogCutoff> = s
        .node
        .version_vector(subject)
        .await?
        .iter()
        .map(|(log, seq)| LogCutoff {
            log: *log,
            last_valid: *seq,
        })
        .collect();
    let bytes = encode_cutoffs(&cutoffs);
    let expel = Expel {
        signer: s.member()?.key.public(),
        coop,
        network: net.id,
        subject,
        cutoffs: Hash::of(&bytes),
        issued: Timestamp::now(),
        reason: text(input.note),
    };
    let record = Record::Expel(ExpelRecord {
        expel: signed(expel, &s)?,
        cutoffs: bytes,
    });
    write(&s, None, record).await
}

pub(super) async fn block(
    State(s): State<Shared>,
    Path(given): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let coop: CoopId = match s.coop(&given).await {
        Ok(c) => c,
        // A co-op not held here can be blocked too, by its whole id.
        Err(e) => given.trim().parse().map_err(|_| e)?,
    };
    if s.home().await.is_ok_and(|(home, _)| home == coop) {
        return Err(ApiError::refused(
            "this is this node's own co-op",
            "block another co-op's id",
        ));
    }
    s.node.block(coop, true).await?;
    Ok(Json(json!({ "coop": coop.to_string(), "blocked": true })))
}

pub(super) async fn unblock(
    State(s): State<Shared>,
    Path(given): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let coop: CoopId = given.trim().parse().map_err(|_| {
        ApiError::bad(
            "give the co-op's whole id to lift a block",
            "use the id given when it was blocked",
        )
    })?;
    s.node.block(coop, false).await?;
    Ok(Json(json!({ "coop": coop.to_string(), "blocked": false })))
}
