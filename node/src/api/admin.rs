//! The node, its peers and co-ops, membership, and the event stream.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use minga_protocol::{
    Certificate, CoopId, CoopSecret, Cutoff, Device, Entry, Genesis, Hash, Membership, PublicKey,
    Record, RecordRef, Revocation, Role, Rotation, Signed, SignedPart, Timestamp,
};
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{CoopKeyInput, DeviceInput, MemberInput, RevokeInput, RotateInput, req, time};
use super::{Body, Shared, output};

pub(super) async fn status(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let coops = s.node.coops().await?;
    let peers = s.node.peers().await?;
    let stats = s.node.sync_stats().await?;
    let home = s.home().await.ok();
    let last_synced = stats.values().filter_map(|st| st.last_synced).max();
    let networks = s.node.networks().await?;
    let dir = s.config.snapshots.as_deref();
    let space = dir.and_then(crate::disk::space);
    Ok(Json(json!({
        "store_bytes": dir.map(|d| crate::disk::size_of(&d.join("store"))),
        "disk_free_bytes": space.map(|s| s.free),
        "disk_low": space.map(|s| s.is_low()),
        "node": s.node.peer_id().to_string(),
        "listen": s.node.listen_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "member": s.config.member.as_ref().map(|m| m.key.public().to_string()),
        "device": s.config.member.as_ref().map(|m| m.device.to_string()),
        "coop": home.map(|(c, _)| c.to_string()),
        "role": home.map(|(_, r)| r.to_string()),
        "peers": peers.len(),
        "coops": coops.iter().map(|c| output::coop(c, home.is_some_and(|(h, _)| h == c.genesis.coop_id()))).collect::<Vec<_>>(),
        "networks": networks.iter().map(super::networks::brief).collect::<Vec<_>>(),
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

/// Every equivocation this node holds proof of, in every co-op it carries.
pub(super) async fn equivocations(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let coops = s.node.coops().await?;
    Ok(Json(Value::Array(
        coops
            .iter()
            .flat_map(|c| {
                let coop = c.genesis.coop_id();
                c.equivocations.iter().map(move |e| {
                    json!({
                        "coop": coop.to_string(),
                        "author": e.log.author.to_string(),
                        "device": e.log.device.to_string(),
                        "seq": e.seq,
                        "first": e.first.to_string(),
                        "second": e.second.to_string(),
                    })
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

/// Who signs a membership statement on this node: the co-op key, in its own log, or this
/// node's member as an admin (with the `parent` its certificates name: the co-op id for the
/// founder, else the admin's own certificate from the co-op key).
enum Issuer {
    CoopKey(CoopSecret),
    Admin(Hash),
}

impl Issuer {
    /// How answers name the signer: `co-op key` or `admin`.
    fn name(&self) -> &'static str {
        match self {
            Issuer::CoopKey(_) => "co-op key",
            Issuer::Admin(_) => "admin",
        }
    }

    fn public(&self, s: &Shared) -> Result<PublicKey, ApiError> {
        Ok(match self {
            Issuer::CoopKey(k) => k.public(),
            Issuer::Admin(_) => s.member()?.key.public(),
        })
    }

    fn sign<T: minga_protocol::Statement>(
        &self,
        s: &Shared,
        value: T,
    ) -> Result<Signed<T>, ApiError> {
        let key = match self {
            Issuer::CoopKey(k) => &k.0,
            Issuer::Admin(_) => &s.member()?.key.0,
        };
        Signed::sign(value, key).map_err(|e| ApiError::bad(e.to_string(), "shorten the text"))
    }

    /// Writes the statement into the signer's own log.
    async fn write(&self, s: &Shared, coop: CoopId, value: Record) -> Result<Entry, ApiError> {
        let device = s.member()?.device;
        Ok(match self {
            Issuer::CoopKey(k) => s.node.write(coop, k, device, None, value).await?,
            Issuer::Admin(_) => {
                s.node
                    .write(coop, &s.member()?.key, device, None, value)
                    .await?
            }
        })
    }
}

/// The co-op key this node holds, if it is the one in force.
fn coop_key(s: &Shared, m: &Membership) -> Result<CoopSecret, ApiError> {
    let key = s.coop_key().ok_or_else(|| {
        ApiError::coop_key_needed(
            "only the co-op key may do this, and this node does not hold it",
            "run it with --data-dir of the node that keeps coop.key (it asks for the passphrase \
             of a protected one), or bring the key there",
        )
    })?;
    if let Some(n) = m.rotation_conflict() {
        return Err(ApiError::refused(
            format!("the co-op key is frozen: it signed two different rotations numbered {n}"),
            "a copy of the key is in other hands: found a new co-op and certify its members \
             there; admins and members of this one keep working meanwhile",
        ));
    }
    if key.public() != m.current_coop_key() {
        return Err(ApiError::refused(
            "this node's co-op key was rotated away",
            "restart `minga up` with the current coop.key",
        ));
    }
    Ok(key)
}

/// This node's member as an admin of its co-op, or else the co-op key if the node holds it.
async fn issuer(s: &Shared, coop: CoopId, m: &Membership) -> Result<Issuer, ApiError> {
    let now = Timestamp::now();
    if let Some(me) = s.config.member.as_ref().map(|l| l.key.public())
        && m.role_at(&me, now) == Ok(Role::Admin)
    {
        if m.genesis().value().founder == me {
            return Ok(Issuer::Admin(coop.0));
        }
        let by_coop_key = m.certificates_of(&me).find(|c| {
            let v = c.value();
            v.role == Role::Admin && v.parent.is_none() && v.expires.is_none_or(|e| now < e)
        });
        if let Some(c) = by_coop_key {
            return Ok(Issuer::Admin(c.hash()));
        }
    }
    coop_key(s, m).map(Issuer::CoopKey).map_err(|_| {
        ApiError::refused(
            "this node's member is not an admin of its co-op",
            "run this on an admin's node",
        )
    })
}

/// Whether `key` holds a role only the co-op key may end: the founder, or an admin the co-op
/// key certified.
fn ended_only_by_coop_key(m: &Membership, key: &PublicKey) -> bool {
    *key == m.genesis().value().founder
        || m.certificates_of(key)
            .any(|c| c.value().parent.is_none() && c.value().role == Role::Admin)
}

/// The cut-offs of `subject`'s logs, its devices' included: what this node holds of them
/// stays valid.
async fn held_cutoffs(
    s: &Shared,
    coop: CoopId,
    subject: &PublicKey,
    extra: u64,
) -> Result<Vec<Cutoff>, ApiError> {
    let vector = s.node.version_vector(coop).await?;
    let devices = s.node.membership(coop).await?.devices_of(subject);
    let mut cutoffs: Vec<Cutoff> = vector
        .iter()
        .filter(|(log, _)| log.author == *subject || devices.contains(&log.author))
        .map(|(log, seq)| Cutoff {
            device: log.device,
            last_valid: *seq,
        })
        .collect();
    // The entry that is about to carry a rotation must stay valid itself.
    if extra > 0 {
        let device = s.member()?.device;
        match cutoffs.iter_mut().find(|c| c.device == device) {
            Some(c) => c.last_valid += extra,
            None => cutoffs.push(Cutoff {
                device,
                last_valid: extra,
            }),
        }
    }
    cutoffs.sort();
    Ok(cutoffs)
}

fn created(entry: &Entry, coop: CoopId) -> (StatusCode, Json<Value>) {
    let id = entry.record_id();
    (
        StatusCode::CREATED,
        Json(json!({ "id": id.to_string(), "ref": RecordRef { coop, record: id }.to_string() })),
    )
}

pub(super) async fn add_member(
    State(s): State<Shared>,
    Body(input): Body<MemberInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (coop, _) = s.home().await?;
    let m = s.node.membership(coop).await?;
    let subject: PublicKey = req("key", &input.key)?;
    let role: Role = match &input.role {
        Some(r) => req("role", r)?,
        None => Role::Member,
    };
    // Only the co-op key certifies an admin; an admin certifies members and coordinators.
    let issuer = if role == Role::Admin {
        Issuer::CoopKey(coop_key(&s, &m)?)
    } else {
        issuer(&s, coop, &m).await?
    };
    let cert = Certificate {
        signer: issuer.public(&s)?,
        coop,
        subject,
        role,
        issued: Timestamp::now(),
        expires: time("expires", &input.expires)?,
        parent: match &issuer {
            Issuer::CoopKey(_) => None,
            Issuer::Admin(parent) => Some(*parent),
        },
    };
    let signed = issuer.sign(&s, cert)?;
    // Bundles and `verify` name a certificate by its statement's hash, not its record id.
    let hash = signed.hash();
    let entry = issuer.write(&s, coop, Record::Certificate(signed)).await?;
    let (status, Json(mut out)) = created(&entry, coop);
    out["certificate"] = json!(hash.to_string());
    out["signed_by"] = json!(issuer.name());
    Ok((status, Json(out)))
}

pub(super) async fn revoke(
    State(s): State<Shared>,
    Body(input): Body<RevokeInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject: PublicKey = req("key", &input.key)?;
    let reason = input.reason.filter(|r| !r.trim().is_empty());
    let (coop, entry, issuer) = revoke_key(&s, subject, reason).await?;
    let (status, Json(mut out)) = created(&entry, coop);
    out["signed_by"] = json!(issuer);
    Ok((status, Json(out)))
}

/// Revokes `subject` in this node's co-op, with cut-offs at what this node holds of its logs:
/// signed by the co-op key for an admin or the founder, by this node's admin otherwise.
/// Returns the co-op, the entry, and who signed.
async fn revoke_key(
    s: &Shared,
    subject: PublicKey,
    reason: Option<String>,
) -> Result<(CoopId, Entry, &'static str), ApiError> {
    let (coop, _) = s.home().await?;
    let m = s.node.membership(coop).await?;
    // An admin's revocation never ends an admin's role: that takes the co-op key.
    let issuer = if ended_only_by_coop_key(&m, &subject) {
        Issuer::CoopKey(coop_key(s, &m).map_err(|e| {
            ApiError::refused(
                "only the co-op key may revoke an admin or the founder, and this node does not hold it",
                e.hint,
            )
        })?)
    } else {
        issuer(s, coop, &m).await?
    };
    if subject == issuer.public(s)? {
        return Err(ApiError::refused(
            "a key cannot revoke itself here",
            "rotate the co-op key with `minga coop rotate`, or ask another admin",
        ));
    }
    let rev = Revocation {
        signer: issuer.public(s)?,
        coop,
        subject,
        cutoffs: held_cutoffs(s, coop, &subject, 0).await?,
        issued: Timestamp::now(),
        reason,
    };
    let signed = issuer.sign(s, rev)?;
    let entry = issuer.write(s, coop, Record::Revocation(signed)).await?;
    Ok((coop, entry, issuer.name()))
}

/// How often an admin's node looks for certificates that expired.
const EXPIRY_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// On a node that can revoke (an admin's, or the one holding the co-op key), revokes every
/// key whose certificates have all expired, with cut-offs at what the node holds: a claimed
/// timestamp can be backdated, and the revocation is what ends an expired key on every node
/// the same way. Runs at start and then every [`EXPIRY_CHECK`] until the API stops.
pub(super) async fn revoke_expired(s: Shared, mut stopping: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EXPIRY_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        let Ok((coop, _)) = s.home().await else {
            continue;
        };
        let Ok(m) = s.node.membership(coop).await else {
            continue;
        };
        let can_use_coop_key = coop_key(&s, &m).is_ok();
        let me = s.config.member.as_ref().map(|l| l.key.public());
        for (key, needs_coop_key) in m.expired(Timestamp::now()) {
            if (needs_coop_key && !can_use_coop_key) || Some(key) == me {
                continue;
            }
            match revoke_key(&s, key, Some("certificate expired".into())).await {
                Ok(_) => tracing::info!("revoked {}: its certificate expired", key.short()),
                Err(e) => tracing::debug!("cannot revoke expired {}: {}", key.short(), e.message),
            }
        }
    }
}

pub(super) async fn rotate(
    State(s): State<Shared>,
    Body(input): Body<RotateInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (coop, _) = s.home().await?;
    let m = s.node.membership(coop).await?;
    let old = coop_key(&s, &m)?;
    let new = minga_protocol::SecretKey::from_pkcs8_pem(&input.new_key, "new_key")
        .map(CoopSecret)
        .map_err(|e| ApiError::bad(e.to_string(), "send the new key as PKCS#8 PEM"))?;
    if m.coop_key_epoch(&new.public()).is_some() {
        return Err(ApiError::bad(
            "the co-op has used that key before",
            "generate a new key",
        ));
    }
    let rotation = Rotation {
        signer: old.public(),
        coop,
        number: m.rotations().count() as u32 + 1,
        new_key: new.public(),
        cutoffs: held_cutoffs(&s, coop, &old.public(), 1).await?,
        at: Timestamp::now(),
    };
    let issuer = Issuer::CoopKey(old);
    let signed = issuer.sign(&s, rotation)?;
    let number = signed.value().number;
    let entry = issuer.write(&s, coop, Record::Rotation(signed)).await?;
    s.set_coop_key(Some(new.clone()));
    let (status, Json(mut out)) = created(&entry, coop);
    out["number"] = json!(number);
    out["coop_key"] = json!(new.public().to_string());
    Ok((status, Json(out)))
}

/// Writes a snapshot of the store into the data directory, for `minga backup` on the same
/// machine to encrypt with the keys and then delete: every write acknowledged before this
/// request is in it.
pub(super) async fn backup(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let Some(dir) = s.config.snapshots.clone() else {
        return Err(ApiError::refused(
            "this node's API takes no backups",
            "run `minga backup` with --data-dir of the node",
        ));
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("snapshot-{stamp}.part"));
    let pairs = s.node.backup(path.clone()).await?;
    Ok(Json(
        json!({ "snapshot": path.display().to_string(), "pairs": pairs }),
    ))
}

/// The co-op key, brought in by a client for the commands that follow (an encrypted
/// `coop.key` is never held by a running node otherwise); it must be the key in force.
pub(super) async fn bring_coop_key(
    State(s): State<Shared>,
    Body(input): Body<CoopKeyInput>,
) -> Result<Json<Value>, ApiError> {
    let (coop, _) = s.home().await?;
    let m = s.node.membership(coop).await?;
    let key = minga_protocol::SecretKey::from_pkcs8_pem(&input.key, "key")
        .map(CoopSecret)
        .map_err(|e| ApiError::bad(e.to_string(), "send the key as PKCS#8 PEM"))?;
    if key.public() != m.current_coop_key() {
        return Err(ApiError::bad(
            "that is not the co-op key in force",
            "bring the current coop.key",
        ));
    }
    s.set_coop_key(Some(key));
    Ok(Json(json!({ "held": true })))
}

/// Forgets the co-op key (brought in, or loaded at start).
pub(super) async fn drop_coop_key(State(s): State<Shared>) -> Json<Value> {
    s.set_coop_key(None);
    Json(json!({ "held": false }))
}

/// Links another device of this node's member: the device's own key (from its `minga init`)
/// then writes for the co-op with the member's role, at most coordinator.
pub(super) async fn add_device(
    State(s): State<Shared>,
    Body(input): Body<DeviceInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (coop, _) = s.home().await?;
    let m = s.node.membership(coop).await?;
    let me = s.member()?;
    if m.device_owner(&me.key.public()).is_some() {
        return Err(ApiError::refused(
            "this node writes as a device; a device cannot link another",
            "run it on the member's first node",
        ));
    }
    let device_key: PublicKey = req("key", &input.key)?;
    if device_key == me.key.public() || m.coop_key_epoch(&device_key).is_some() {
        return Err(ApiError::bad(
            "that key cannot be a device of this member",
            "give the key the new device's `minga init` printed",
        ));
    }
    let link = Device {
        signer: me.key.public(),
        coop,
        device_key,
        issued: Timestamp::now(),
    };
    as_member(&s, coop, link, Record::Device).await
}

/// Signs a statement with this node's member key and writes it in the member's log.
async fn as_member<T: minga_protocol::Statement>(
    s: &Shared,
    coop: CoopId,
    value: T,
    record: fn(Signed<T>) -> Record,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let me = s.member()?;
    let signed = Signed::sign(value, &me.key.0)
        .map_err(|e| ApiError::bad(e.to_string(), "check the key"))?;
    let entry = s
        .node
        .write(coop, &me.key, me.device, None, record(signed))
        .await?;
    Ok(created(&entry, coop))
}

/// Revokes one of this node's member's devices (a lost phone), with cut-offs at what this node
/// holds of its logs; the member's own key keeps writing.
pub(super) async fn revoke_device(
    State(s): State<Shared>,
    Body(input): Body<DeviceInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (coop, _) = s.home().await?;
    let m = s.node.membership(coop).await?;
    let me = s.member()?;
    let device_key: PublicKey = req("key", &input.key)?;
    if m.device_owner(&device_key) != Some(me.key.public()) {
        return Err(ApiError::refused(
            "that key is not a device of this node's member",
            "an admin revokes other keys with `minga member revoke`",
        ));
    }
    let rev = Revocation {
        signer: me.key.public(),
        coop,
        subject: device_key,
        cutoffs: held_cutoffs(&s, coop, &device_key, 0).await?,
        issued: Timestamp::now(),
        reason: Some("device revoked by its member".into()),
    };
    as_member(&s, coop, rev, Record::Revocation).await
}
