//! The node, its peers and co-ops, membership, and the event stream.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use minga_protocol::{
    Certificate, Cutoff, Genesis, Record, RecordRef, Revocation, Role, SignedPart, Timestamp,
};
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{MemberInput, RevokeInput, req, time};
use super::{Body, Shared, output};

pub(super) async fn status(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let coops = s.node.coops().await?;
    let peers = s.node.peers().await?;
    let stats = s.node.sync_stats().await?;
    let home = s.home().await.ok();
    let last_synced = stats.values().filter_map(|st| st.last_synced).max();
    Ok(Json(json!({
        "node": s.node.peer_id().to_string(),
        "listen": s.node.listen_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "member": s.config.member.as_ref().map(|m| m.key.public().to_string()),
        "device": s.config.member.as_ref().map(|m| m.device.to_string()),
        "coop": home.map(|(c, _)| c.to_string()),
        "role": home.map(|(_, r)| r.to_string()),
        "peers": peers.len(),
        "coops": coops.iter().map(|c| output::coop(c, home.is_some_and(|(h, _)| h == c.genesis.coop_id()))).collect::<Vec<_>>(),
        "last_synced": last_synced.map(|t| t.to_string()),
        "sync_lag_seconds": last_synced.map(|t| (Timestamp::now().millis() - t.millis()).max(0) / 1000),
    })))
}

pub(super) async fn peers(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let peers = s.node.peers().await?;
    let stats = s.node.sync_stats().await?;
    Ok(Json(Value::Array(
        peers
            .into_iter()
            .map(|p| {
                let st = stats.get(&p).copied().unwrap_or_default();
                json!({
                    "peer": p.to_string(),
                    "entries_in": st.entries_in, "bytes_in": st.bytes_in,
                    "entries_out": st.entries_out, "bytes_out": st.bytes_out,
                    "last_synced": st.last_synced.map(|t| t.to_string()),
                })
            })
            .collect(),
    )))
}

pub(super) async fn coops(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let home = s.home().await.ok().map(|(c, _)| c);
    let coops = s.node.coops().await?;
    Ok(Json(Value::Array(
        coops
            .iter()
            .map(|c| output::coop(c, Some(c.genesis.coop_id()) == home))
            .collect(),
    )))
}

pub(super) async fn coop(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let coop = s.coop(&id).await?;
    let home = s.home().await.ok().map(|(c, _)| c);
    let summary = s
        .node
        .coops()
        .await?
        .into_iter()
        .find(|c| c.genesis.coop_id() == coop)
        .ok_or_else(|| {
            ApiError::not_found(
                "that co-op is no longer trusted",
                "list co-ops with `minga coop show`",
            )
        })?;
    let mut out = output::coop(&summary, home == Some(coop));
    if let Value::Object(map) = &mut out {
        map.insert("genesis".into(), json!(SignedPart::of(&summary.genesis)));
    }
    Ok(Json(out))
}

pub(super) async fn trust(
    State(s): State<Shared>,
    Body(part): Body<SignedPart>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let genesis = part.open::<Genesis>("genesis").map_err(|e| {
        ApiError::bad(
            format!("not a valid genesis: {e}"),
            "ask the co-op for its file from `minga coop show --genesis`",
        )
    })?;
    s.node.trust(genesis.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": genesis.coop_id().to_string(), "name": genesis.value().name })),
    ))
}

pub(super) async fn untrust(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let coop = s.coop(&id).await?;
    if s.home().await.ok().map(|(c, _)| c) == Some(coop) {
        return Err(ApiError::refused(
            "that is this node's own co-op",
            "a node always replicates the co-op it writes for",
        ));
    }
    s.node.untrust(coop).await?;
    Ok(Json(json!({ "id": coop.to_string(), "untrusted": true })))
}

pub(super) async fn members(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let (coop, _) = s.home().await?;
    let m = s.node.membership(coop).await?;
    Ok(Json(output::members(&m, Timestamp::now())))
}

/// This node's member, who must be an admin of its co-op: the co-op, and the `parent` an
/// admin's certificate names (the co-op id for the founder, else the admin's certificate).
async fn admin(s: &Shared) -> Result<(minga_protocol::CoopId, minga_protocol::Hash), ApiError> {
    let (coop, role) = s.home().await?;
    let me = s.member()?.key.public();
    if role != Role::Admin {
        return Err(ApiError::refused(
            format!("this node's member is a {role}, not an admin"),
            "run this on an admin's node",
        ));
    }
    let m = s.node.membership(coop).await?;
    if m.genesis().value().founder == me {
        return Ok((coop, coop.0));
    }
    let now = Timestamp::now();
    m.certificates_of(&me)
        .find(|c| c.value().role == Role::Admin && c.value().expires.is_none_or(|e| now < e))
        .map(|c| (coop, c.hash()))
        .ok_or_else(|| {
            ApiError::refused(
                "no admin certificate of this member holds now",
                "ask another admin",
            )
        })
}

async fn write(
    s: &Shared,
    coop: minga_protocol::CoopId,
    value: Record,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let member = s.member()?;
    let entry = s
        .node
        .write(coop, &member.key, member.device, None, value)
        .await?;
    let id = entry.record_id();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id.to_string(), "ref": RecordRef { coop, record: id }.to_string() })),
    ))
}

pub(super) async fn add_member(
    State(s): State<Shared>,
    Body(input): Body<MemberInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (coop, parent) = admin(&s).await?;
    let subject: minga_protocol::PublicKey = req("key", &input.key)?;
    let role: Role = match &input.role {
        Some(r) => req("role", r)?,
        None => Role::Member,
    };
    let cert = Certificate {
        signer: s.member()?.key.public(),
        coop,
        subject,
        role,
        issued: Timestamp::now(),
        expires: time("expires", &input.expires)?,
        parent: Some(parent),
    };
    let signed = minga_protocol::Signed::sign(cert, &s.member()?.key.0)
        .map_err(|e| ApiError::bad(e.to_string(), "check the key"))?;
    // Bundles and `verify` name a certificate by its statement's hash, not its record id.
    let hash = signed.hash();
    let (status, Json(mut out)) = write(&s, coop, Record::Certificate(signed)).await?;
    out["certificate"] = json!(hash.to_string());
    Ok((status, Json(out)))
}

pub(super) async fn revoke(
    State(s): State<Shared>,
    Body(input): Body<RevokeInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (coop, _) = admin(&s).await?;
    let subject: minga_protocol::PublicKey = req("key", &input.key)?;
    if subject == s.member()?.key.public() {
        return Err(ApiError::refused(
            "an admin cannot revoke their own key here",
            "ask another admin",
        ));
    }
    // What this node holds of the subject's logs stays valid; anything later is not.
    let vector = s.node.version_vector(coop).await?;
    let mut cutoffs: Vec<Cutoff> = vector
        .iter()
        .filter(|(log, _)| log.author == subject)
        .map(|(log, seq)| Cutoff {
            device: log.device,
            last_valid: *seq,
        })
        .collect();
    cutoffs.sort();
    let rev = Revocation {
        signer: s.member()?.key.public(),
        coop,
        subject,
        cutoffs,
        issued: Timestamp::now(),
        reason: input.reason.filter(|r| !r.trim().is_empty()),
    };
    let signed = minga_protocol::Signed::sign(rev, &s.member()?.key.0)
        .map_err(|e| ApiError::bad(e.to_string(), "shorten the reason"))?;
    write(&s, coop, Record::Revocation(signed)).await
}
