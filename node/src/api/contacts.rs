//! Contact details only the matched counterpart reads.
//!
//! A co-op keeps its contact in `contact.json` in its data directory, never replicated. Once a
//! pledge is accepted, each side's node writes a `contact` record: its contact sealed to the
//! current member keys of the other side ([`minga_protocol::contact`]). The side that accepts
//! seals when its acceptance is written; the side that pledged seals when the acceptance
//! reaches it. Before an acceptance nothing is sealed, and a pledge declined (or cancelled)
//! before then reveals nothing. A contact set later is sealed then for every pledge already
//! accepted.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use minga_protocol::contact::{self, Contact, MAX_CONTACT_BYTES, MAX_RECIPIENTS};
use minga_protocol::{
    CoopId, Decision, PledgeState, PublicKey, Record, RecordKind, RecordRef, SealedContact,
    Timestamp,
};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::input::WaitInput;
use super::records::{of_kind, write};
use super::{Body, Params, Shared};
use crate::{NodeEvent, Query, Status};

/// The most accepted pledges one sweep looks at.
const MAX_SWEEP: usize = 10_000;

fn contact_file(s: &Shared) -> Result<&Path, ApiError> {
    s.config.contact.as_deref().ok_or_else(|| {
        ApiError::refused(
            "this node keeps no contact details",
            "run the node with `minga up`, which keeps them in the data directory",
        )
    })
}

/// This co-op's contact, if one is set.
fn read_contact(path: &Path) -> Result<Option<Contact>, ApiError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ApiError::bad(
                format!("cannot read {}: {e}", path.display()),
                "check the data directory's permissions",
            ));
        }
    };
    if bytes.len() > 4 * MAX_CONTACT_BYTES {
        return Err(ApiError::bad(
            format!("{} is too large to be a contact", path.display()),
            "set it again with `minga contact set`",
        ));
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ApiError::bad(
            format!("{} is not a contact: {e}", path.display()),
            "set it again with `minga contact set`",
        )
    })
}

/// Writes the contact readable by this user only, replacing the old one in one rename.
fn write_contact(path: &Path, contact: &Contact) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut f = open.open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(contact).unwrap_or_default())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub(super) async fn mine(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    match read_contact(contact_file(&s)?)? {
        Some(c) => Ok(Json(json!(c))),
        None => Err(ApiError::not_found(
            "this co-op has no contact set",
            "set one: minga contact set --person … --phone …",
        )),
    }
}

pub(super) async fn set(
    State(s): State<Shared>,
    Body(contact): Body<Contact>,
) -> Result<Json<Value>, ApiError> {
    let path = contact_file(&s)?;
    // Sealing checks it is neither empty nor too large.
    let me = s.member()?.key.public();
    contact
        .seal(&[me])
        .map_err(|e| ApiError::bad(e.to_string(), "give a person, phone, email or address"))?;
    write_contact(path, &contact).map_err(|e| {
        ApiError::bad(
            format!("cannot write {}: {e}", path.display()),
            "check the data directory's permissions and the disk",
        )
    })?;
    let sealed = sweep(&s, &mut HashSet::new()).await;
    Ok(Json(json!({ "contact": contact, "sealed_for": sealed })))
}

/// The longest `GET /v1/pledges/{id}/contacts?wait=` waits.
const MAX_WAIT: u64 = 600;

/// The contacts sealed for a pledge, opened where this node's member is a recipient. With
/// `wait`, first waits up to that many seconds until both sides' contacts are here.
pub(super) async fn of_pledge(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Params(w): Params<WaitInput>,
) -> Result<Json<Value>, ApiError> {
    let mut events = s.node.subscribe();
    let mut d = s.node.detail(&id).await?;
    let at = of_kind(&d, RecordKind::Pledge, &id)?;
    let sides = |d: &crate::net::RecordDetail| {
        let from: HashSet<CoopId> = d
            .related
            .iter()
            .filter(|l| l.view.kind == RecordKind::Contact)
            .map(|l| l.view.coop)
            .collect();
        from.len()
    };
    let wait = w.wait.unwrap_or(0).min(MAX_WAIT);
    if wait > 0 && sides(&d) < 2 {
        let arrived = async {
            loop {
                match events.recv().await {
                    Ok(NodeEvent::Record { view, .. })
                        if view.kind == RecordKind::Contact
                            && view.refers_to.as_deref() == Some(&at) =>
                    {
                        let now = s.node.detail(&id).await?;
                        if sides(&now) >= 2 {
                            return Ok::<_, crate::NodeError>(now);
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => {
                        let now = s.node.detail(&id).await?;
                        if sides(&now) >= 2 {
                            return Ok(now);
                        }
                    }
                    Err(RecvError::Closed) => return Err(crate::NodeError::Stopped),
                }
            }
        };
        let within = std::time::Duration::from_secs(wait);
        d = match tokio::time::timeout(within, s.unless_stopping(arrived)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(ApiError::not_found(
                    format!("the contacts of pledge {id} did not arrive within {wait} s"),
                    "contacts are sealed once the pledge is accepted and each side has set one (`minga contact set`)",
                ));
            }
        };
    }
    let me = &s.member()?.key;
    let mut out = Vec::new();
    for l in d
        .related
        .iter()
        .filter(|l| l.view.kind == RecordKind::Contact)
    {
        let Record::Contact(c) = s.node.detail(&l.view.id.to_string()).await?.record else {
            continue;
        };
        let recipients = contact::boxes(&c.sealed).map_or(0, |b| b.len());
        let (opened, why) = match contact::open(&c.sealed, &me.0) {
            Ok(Some(contact)) => (json!(contact), None),
            Ok(None) => (
                Value::Null,
                Some("sealed to the other side's members, not to this node's"),
            ),
            Err(_) => (
                Value::Null,
                Some("it does not open: damaged or not a contact"),
            ),
        };
        out.push(json!({
            "id": l.view.id.to_string(), "from": l.view.coop.to_string(), "to": c.to.to_string(),
            "recipients": recipients, "contact": opened, "sealed": why,
        }));
    }
    Ok(Json(Value::Array(out)))
}

/// Watches for acceptances (and pledges arriving after their acceptance) and seals this
/// co-op's contact for each accepted pledge it is a side of; sweeps every accepted pledge at
/// start and whenever events were missed.
pub(super) async fn reveal_on_acceptance(
    s: Shared,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut events = s.node.subscribe();
    let mut done = HashSet::new();
    if let Ok(path) = contact_file(&s)
        && matches!(read_contact(path), Ok(None))
        && s.home().await.is_ok()
    {
        tracing::info!(
            "no contact details are set: the other side of an accepted pledge cannot reach this co-op (`minga contact set`)"
        );
    }
    sweep(&s, &mut done).await;
    // This node's co-op, looked up once it has one: most pledges on a network are between
    // other co-ops, and those must cost nothing here, even in a catch-up of thousands.
    let mut home: Option<CoopId> = None;
    let mut looked: Option<std::time::Instant> = None;
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = stopping.changed() => return,
        };
        match event {
            Ok(NodeEvent::Record { view, .. }) => {
                let pledge = match view.kind {
                    RecordKind::Acceptance if view.decision == Some(Decision::Accept) => {
                        view.refers_to.as_deref().copied()
                    }
                    RecordKind::Pledge => Some(RecordRef {
                        coop: view.coop,
                        record: view.id,
                    }),
                    _ => None,
                };
                let Some(p) = pledge else { continue };
                // A node not yet in a co-op looks again at most once a second.
                if home.is_none() && looked.is_none_or(|t| t.elapsed().as_secs() >= 1) {
                    looked = Some(std::time::Instant::now());
                    home = s.home().await.ok().map(|(c, _)| c);
                    // Just joined: what was accepted before is sealed now.
                    if home.is_some() {
                        sweep(&s, &mut done).await;
                    }
                }
                // A pledge's view names the pledging co-op and the need's; an acceptance's,
                // the accepting co-op and the pledge's.
                let ours = home.is_some_and(|h| {
                    view.coop == h || view.refers_to.as_deref().is_some_and(|r| r.coop == h)
                });
                if ours {
                    reveal_logged(&s, p, &mut done).await;
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                sweep(&s, &mut done).await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Seals this co-op's contact for every accepted pledge it is a side of that lacks it.
/// Returns how many it sealed.
async fn sweep(s: &Shared, done: &mut HashSet<RecordRef>) -> usize {
    let Ok((home, _)) = s.home().await else {
        return 0;
    };
    let query = Query {
        kind: Some(RecordKind::Pledge),
        statuses: vec![
            Status::Pledge(PledgeState::Accepted),
            Status::Pledge(PledgeState::PartlyFulfilled),
            Status::Pledge(PledgeState::Fulfilled),
        ],
        all: true,
        limit: Some(MAX_SWEEP),
        ..Query::default()
    };
    let Ok(pledges) = s.node.list(query).await else {
        return 0;
    };
    let mut sealed = 0;
    for l in pledges {
        let to = l.view.refers_to.as_deref().map(|n| n.coop);
        if l.view.coop != home && to != Some(home) {
            continue;
        }
        let at = RecordRef {
            coop: l.view.coop,
            record: l.view.id,
        };
        if reveal_logged(s, at, done).await {
            sealed += 1;
        }
    }
    sealed
}

async fn reveal_logged(s: &Shared, pledge: RecordRef, done: &mut HashSet<RecordRef>) -> bool {
    if done.contains(&pledge) {
        return false;
    }
    match reveal(s, pledge).await {
        Ok(Some(_)) => {
            done.insert(pledge);
            tracing::info!(pledge = %pledge.record, "contact sealed for the counterpart");
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(pledge = %pledge.record, "cannot seal the contact: {}", e.message);
            false
        }
    }
}

/// Seals this co-op's contact for one pledge, if it was accepted, this co-op is a side of it,
/// a contact is set, and none was sealed for it yet.
async fn reveal(s: &Shared, pledge: RecordRef) -> Result<Option<Value>, ApiError> {
    let (home, _) = s.home().await?;
    let d = match s.node.detail(&pledge.record.to_string()).await {
        Ok(d) => d,
        // The acceptance came before its pledge: the pledge's own arrival brings us back.
        Err(crate::NodeError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Record::Pledge(p) = &d.record else {
        return Ok(None);
    };
    let p = p.value();
    let receiver = p.need.coop;
    let counterpart = match home {
        h if h == p.coop && h != receiver => receiver,
        h if h == receiver && h != p.coop => p.coop,
        _ => return Ok(None),
    };
    // Accepted by the co-op whose need it is, and not declined or taken back since.
    let acceptances: Vec<_> = d
        .related
        .iter()
        .filter(|l| l.view.kind == RecordKind::Acceptance && l.view.coop == receiver)
        .filter(|l| l.view.decision == Some(Decision::Accept))
        .collect();
    let standing = !matches!(
        d.status,
        Some(Status::Pledge(
            PledgeState::Declined | PledgeState::Cancelled
        ))
    );
    if acceptances.is_empty() || !standing {
        return Ok(None);
    }
    if d.related
        .iter()
        .any(|l| l.view.kind == RecordKind::Contact && l.view.coop == home)
    {
        return Ok(None);
    }
    let Some(contact) = read_contact(contact_file(s)?)? else {
        tracing::debug!(pledge = %pledge.record, "accepted, but no contact is set to seal");
        return Ok(None);
    };
    // The member who spoke for the other side first, then its admins, coordinators, members.
    let first = if counterpart == p.coop {
        Some(p.signer)
    } else {
        match acceptances
            .iter()
            .max_by_key(|l| (l.view.issued, l.view.id))
        {
            Some(l) => match s.node.detail(&l.view.id.to_string()).await?.record {
                Record::Acceptance(a) => Some(a.value().signer),
                _ => None,
            },
            None => None,
        }
    };
    let to = recipients(s, counterpart, first).await?;
    let sealed = contact
        .seal(&to)
        .map_err(|e| ApiError::bad(e.to_string(), "set the contact again"))?;
    let record = Record::Contact(SealedContact {
        pledge,
        to: counterpart,
        sealed,
    });
    let (_, Json(v)) = write(s, None, record).await?;
    Ok(Some(v))
}

/// The member keys a contact is sealed to: `first`, then the co-op's keys by role, at most
/// [`MAX_RECIPIENTS`].
async fn recipients(
    s: &Shared,
    coop: CoopId,
    first: Option<PublicKey>,
) -> Result<Vec<PublicKey>, ApiError> {
    let members = s.node.membership(coop).await?.members_at(Timestamp::now());
    let mut keys: Vec<_> = members.into_iter().collect();
    keys.sort_by_key(|(k, role)| (Some(*k) != first, std::cmp::Reverse(*role), *k));
    let to: Vec<PublicKey> = keys
        .into_iter()
        .take(MAX_RECIPIENTS)
        .map(|(k, _)| k)
        .collect();
    if to.is_empty() {
        return Err(ApiError::refused(
            "the other side has no member key to seal to",
            "wait until its membership has replicated",
        ));
    }
    Ok(to)
}
