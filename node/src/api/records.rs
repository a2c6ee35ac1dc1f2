//! Records: listing, showing (optionally waiting for one to arrive), writing offers, needs
//! and commitments, withdrawing, importing, and exporting bundles and documents.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minga_protocol::{
    Acceptance, Bundle, Cancellation, Commitment, Decision, Delivery, Pledge, Point, Quantity,
    Record, RecordKind, RecordRef, Signed, Timestamp, Urgency,
};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::input::{
    AnswerInput, CancelInput, DeliveryInput, EditInput, ImportInput, ListInput, ListingInput,
    PledgeInput, WaitInput, opt, req, time,
};
use super::{Body, Params, Shared, output};
use crate::net::RecordDetail;
use crate::{MAX_EDITS, NodeError, NodeEvent, Query, Status};

/// The longest a `show` waits for a record to arrive.
const MAX_WAIT: u64 = 600;
/// Listings return at most this many records unless asked for fewer.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

pub(super) type Answer = Result<(StatusCode, Json<Value>), ApiError>;

pub(super) async fn list(
    State(s): State<Shared>,
    Params(q): Params<ListInput>,
) -> Result<Response, ApiError> {
    let near = match opt::<Point>("near", &q.near)? {
        Some(p) => {
            let km = opt::<f64>("radius", &q.radius)?.unwrap_or(50.0);
            if !(km.is_finite() && km >= 0.0) {
                return Err(ApiError::field("radius", "expected a distance in km"));
            }
            Some((p, km))
        }
        None => None,
    };
    let coop = match &q.coop {
        Some(c) => Some(s.coop(c).await?),
        None => None,
    };
    let statuses = match q.status.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
        None => Vec::new(),
        Some(name) => {
            let all = Status::named(name);
            if all.is_empty() {
                return Err(ApiError::field(
                    "status",
                    format!(
                        "unknown status {name:?}: open, partly_pledged, pledged, over_pledged, fulfilled, withdrawn, expired, proposed, accepted, declined, partly_fulfilled"
                    ),
                ));
            }
            all
        }
    };
    let kind = opt("kind", &q.kind)?;
    let query = Query {
        kind,
        category: opt("category", &q.category)?,
        coop,
        near,
        urgency: opt::<Urgency>("urgency", &q.urgency)?,
        statuses,
        // Without a kind, a listing is about resources and commitments; membership
        // statements are listed when asked for by kind.
        no_membership: kind.is_none(),
        all: q.all.unwrap_or(false),
        limit: Some(q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)),
        offset: q.offset.unwrap_or(0),
        until_before: time("until_before", &q.until_before)?,
        urgent_first: match q.sort.as_deref().map(str::trim) {
            None | Some("") | Some("id") => false,
            Some("urgency") => true,
            Some(other) => {
                return Err(ApiError::field(
                    "sort",
                    format!("{other:?}: sort by `urgency` or `id`"),
                ));
            }
        },
    };
    let (total, page) = s.node.page(query).await?;
    let found: Vec<Value> = page
        .iter()
        .map(|l| output::view(&l.view, l.status, l.totals))
        .collect();
    Ok((
        [("x-total-count", total.to_string())],
        Json(Value::Array(found)),
    )
        .into_response())
}

pub(super) async fn show(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Params(w): Params<WaitInput>,
) -> Result<Json<Value>, ApiError> {
    let wait = w.wait.unwrap_or(0).min(MAX_WAIT);
    Ok(Json(output::detail(&wait_for(&s, &id, wait).await?)))
}

/// A record, waiting up to `secs` for it to arrive. Subscribes before looking, so a record
/// that lands in between is not missed.
async fn wait_for(s: &Shared, id: &str, secs: u64) -> Result<RecordDetail, ApiError> {
    let mut events = s.node.subscribe();
    match s.node.detail(id).await {
        Err(NodeError::NotFound(_)) if secs > 0 => {}
        other => return Ok(other?),
    }
    let prefix = id.to_ascii_lowercase();
    let arrived = async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Record { view, .. }) if view.id.to_string().starts_with(&prefix) => {
                    return s.node.detail(id).await;
                }
                Ok(_) => {}
                // Missed events: look again rather than guess.
                Err(RecvError::Lagged(_)) => {
                    if let Ok(d) = s.node.detail(id).await {
                        return Ok(d);
                    }
                }
                Err(RecvError::Closed) => return Err(NodeError::Stopped),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(secs), s.unless_stopping(arrived)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::not_found(
            format!("record {id} did not arrive within {secs} s"),
            "check `minga peers`: is the node connected to the co-op that wrote it?",
        )),
    }
}

pub(super) async fn bundle(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = s.node.detail(&id).await?;
    let Some(commitment) = Commitment::of_record(d.record) else {
        return Err(ApiError::bad(
            format!(
                "{} is a {}; only signed commitments and fund statements have bundles",
                id,
                d.view.kind.name()
            ),
            "export a pledge's, an answer's, a delivery's or a fund statement's id",
        ));
    };
    let membership = s.node.membership(d.view.coop).await?;
    let body = Bundle::new(&commitment, &membership).to_json();
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub(super) async fn document(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = s.node.detail(&id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        d.document,
    )
        .into_response())
}

/// Writes one record for this node's co-op and answers with its id.
pub(super) async fn write(
    s: &Shared,
    record: Option<minga_protocol::RecordId>,
    value: Record,
) -> Answer {
    let (coop, _) = s.home().await?;
    let member = s.member()?;
    let kind = value.kind();
    let entry = s
        .node
        .write(coop, &member.key, member.device, record, value)
        .await?;
    let id = record.unwrap_or_else(|| entry.record_id());
    Ok((
        if record.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(json!({
            "id": id.to_string(),
            "ref": RecordRef { coop, record: id }.to_string(),
            "kind": kind.name(),
            "entry": entry.hash().to_string(),
        })),
    ))
}

pub(super) async fn add_offer(State(s): State<Shared>, Body(input): Body<ListingInput>) -> Answer {
    write(&s, None, input.to_record(RecordKind::Offer)?).await
}

pub(super) async fn add_need(State(s): State<Shared>, Body(input): Body<ListingInput>) -> Answer {
    write(&s, None, input.to_record(RecordKind::Need)?).await
}

/// Edits an offer or need of this co-op: the fields given change, the rest keep their value.
/// Only the fields that differ are written into the record's document, so two members'
/// concurrent edits of different fields both stand, and of one field resolve by automerge's
/// rule, on every node alike.
pub(super) async fn edit(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<EditInput>,
) -> Answer {
    let d = s.node.detail(&id).await?;
    let (coop, _) = s.home().await?;
    if d.view.coop != coop {
        return Err(ApiError::refused(
            "only the co-op that posted a record can edit it",
            "edit your own co-op's offers and needs",
        ));
    }
    let withdrawn = d.view.withdrawn;
    let Some(current) = ListingInput::of(&d.record) else {
        return Err(ApiError::bad(
            format!(
                "{id} is a {}; only offers and needs are edited",
                d.view.kind.name()
            ),
            "a commitment is never edited: cancel it and pledge again",
        ));
    };
    let mut value = current.edited(input).to_record(d.view.kind)?;
    match &mut value {
        Record::Offer(o) => o.withdrawn = withdrawn,
        Record::Need(n) => n.withdrawn = withdrawn,
        _ => {}
    }
    if value == d.record {
        return Err(ApiError::bad(
            "the edit changes nothing",
            "give at least one field with a new value",
        ));
    }
    write(&s, Some(d.view.id), value).await
}

/// Checks a bundle in the node, with no network: the same check as `minga verify FILE`.
pub(super) async fn verify(body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    if body.len() > minga_protocol::MAX_BUNDLE_BYTES {
        return Err(ApiError::bad(
            format!(
                "the bundle is {} bytes; at most {}",
                body.len(),
                minga_protocol::MAX_BUNDLE_BYTES
            ),
            "is this really a minga bundle?",
        ));
    }
    let bundle = Bundle::from_json(&body).map_err(|e| {
        ApiError::bad(
            format!("not a bundle: {e}"),
            "a bundle is the JSON that `minga export bundle` writes",
        )
    })?;
    Ok(Json(match bundle.verify() {
        Ok(v) => output::verified(&v),
        Err(e) => json!({ "valid": false, "reason": e.to_string() }),
    }))
}

/// Imports offers and needs from CSV text, with the rows and columns of every problem named
/// and nothing written unless every row is good (the same reader `minga import` uses).
pub(super) async fn import_csv(
    State(s): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let rows = match super::csv_import::read_listings_csv(&body, |_| {}) {
        Ok(rows) => rows,
        Err(e) => {
            // The message names each bad row and column, one a line.
            let body = json!({
                "error": { "code": "bad_rows", "message": e.message, "hint": e.hint }
            });
            return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
        }
    };
    import(State(s), Body(ImportInput { records: rows })).await
}

/// Withdraws an offer or need of this co-op. A coordinator or admin removes it for real (a
/// prune: every node drops its content and keeps the signed headers); a member marks it
/// withdrawn, and a coordinator's withdraw can then remove it.
pub(super) async fn withdraw(State(s): State<Shared>, Path(id): Path<String>) -> Answer {
    let d = s.node.detail(&id).await?;
    let (coop, role) = s.home().await?;
    if d.view.coop != coop {
        return Err(ApiError::refused(
            "only the co-op that posted a record can withdraw it",
            "withdraw your own co-op's offers and needs",
        ));
    }
    let value = match d.record {
        Record::Offer(mut o) => {
            o.withdrawn = true;
            Record::Offer(o)
        }
        Record::Need(mut n) => {
            n.withdrawn = true;
            Record::Need(n)
        }
        _ => {
            return Err(ApiError::bad(
                format!(
                    "{id} is a {}; only offers and needs are withdrawn",
                    d.view.kind.name()
                ),
                "a commitment is answered (`minga decline`) rather than withdrawn",
            ));
        }
    };
    if role >= minga_protocol::Role::Coordinator {
        let member = s.member()?;
        let entry = s
            .node
            .prune(coop, &member.key, member.device, d.view.id)
            .await?;
        return Ok((
            StatusCode::OK,
            Json(json!({
                "id": d.view.id.to_string(),
                "ref": RecordRef { coop, record: d.view.id }.to_string(),
                "kind": d.view.kind.name(),
                "entry": entry.hash().to_string(),
                "removed": true,
            })),
        ));
    }
    let (status, Json(mut out)) = write(&s, Some(d.view.id), value).await?;
    out["removed"] = json!(false);
    Ok((status, Json(out)))
}

pub(super) fn of_kind(d: &RecordDetail, kind: RecordKind, id: &str) -> Result<RecordRef, ApiError> {
    if d.view.kind != kind {
        return Err(ApiError::bad(
            format!("{id} is a {}, not a {}", d.view.kind.name(), kind.name()),
            format!("give the id of a {}", kind.name()),
        ));
    }
    Ok(RecordRef {
        coop: d.view.coop,
        record: d.view.id,
    })
}

/// A quantity in a unit that converts to `to`'s.
fn quantity_like(name: &str, given: &str, to: Option<Quantity>) -> Result<Quantity, ApiError> {
    let q: Quantity = req(name, given)?;
    if q.value().is_sign_negative() || q.value().is_zero() {
        return Err(ApiError::field(name, "must be more than zero"));
    }
    if let Some(to) = to {
        q.convert_to(to.unit())
            .map_err(|e| ApiError::field(name, e))?;
    }
    Ok(q)
}

pub(super) fn signed<T: minga_protocol::Statement>(
    value: T,
    s: &Shared,
) -> Result<Signed<T>, ApiError> {
    let key = &s.member()?.key;
    Signed::sign(value, &key.0).map_err(|e| {
        ApiError::bad(
            e.to_string(),
            "each value is one line of at most 512 bytes, not empty",
        )
    })
}

pub(super) async fn pledge(State(s): State<Shared>, Body(input): Body<PledgeInput>) -> Answer {
    let need = s.node.detail(&input.need).await?;
    let need_ref = of_kind(&need, RecordKind::Need, &input.need)?;
    if need.view.withdrawn {
        return Err(ApiError::refused(
            "that need was withdrawn",
            "pledge to an open need",
        ));
    }
    let quantity = quantity_like("quantity", &input.quantity, need.view.quantity)?;
    let (coop, _) = s.home().await?;
    let offer = match &input.offer {
        Some(o) => {
            let d = s.node.detail(o).await?;
            let r = of_kind(&d, RecordKind::Offer, o)?;
            if r.coop != coop {
                return Err(ApiError::refused(
                    "a pledge draws only on its own co-op's offers",
                    "leave --offer out, or name one of your co-op's offers",
                ));
            }
            quantity_like("quantity", &input.quantity, d.view.quantity)?;
            Some(r)
        }
        None => None,
    };
    let pledge = Pledge {
        signer: s.member()?.key.public(),
        coop,
        need: need_ref,
        offer,
        quantity,
        due: time("due", &input.due)?,
        issued: Timestamp::now(),
        note: input.note.filter(|n| !n.trim().is_empty()),
    };
    write(&s, None, Record::Pledge(signed(pledge, &s)?)).await
}

/// A pledge to one of this co-op's needs, which only this co-op may answer or confirm.
async fn pledge_to_us(
    s: &Shared,
    id: &str,
) -> Result<(RecordDetail, RecordRef, minga_protocol::CoopId), ApiError> {
    let d = s.node.detail(id).await?;
    let r = of_kind(&d, RecordKind::Pledge, id)?;
    let (coop, _) = s.home().await?;
    if d.view.refers_to.as_deref().map(|n| n.coop) != Some(coop) {
        return Err(ApiError::refused(
            "only the co-op whose need a pledge answers can accept, decline or confirm it",
            "run this on a node of the co-op that posted the need",
        ));
    }
    Ok((d, r, coop))
}

pub(super) async fn answer(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<AnswerInput>,
) -> Answer {
    let (_, pledge, coop) = pledge_to_us(&s, &id).await?;
    let decision: Decision = req("decision", &input.decision)?;
    let a = Acceptance {
        signer: s.member()?.key.public(),
        coop,
        pledge,
        decision,
        issued: Timestamp::now(),
        note: input.note.filter(|n| !n.trim().is_empty()),
    };
    write(&s, None, Record::Acceptance(signed(a, &s)?)).await
}

/// Takes back one of this co-op's pledges, with a new signed statement.
pub(super) async fn cancel(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<CancelInput>,
) -> Answer {
    let d = s.node.detail(&id).await?;
    let pledge = of_kind(&d, RecordKind::Pledge, &id)?;
    let (coop, _) = s.home().await?;
    if pledge.coop != coop {
        return Err(ApiError::refused(
            "only the co-op that made a pledge can cancel it",
            "the co-op whose need it is declines it instead (`minga decline`)",
        ));
    }
    if d.status == Some(Status::Pledge(minga_protocol::PledgeState::Cancelled)) {
        return Err(ApiError::refused(
            "that pledge is already cancelled",
            "see it with `minga show`",
        ));
    }
    let c = Cancellation {
        signer: s.member()?.key.public(),
        coop,
        pledge,
        issued: Timestamp::now(),
        note: input.note.filter(|n| !n.trim().is_empty()),
    };
    write(&s, None, Record::Cancellation(signed(c, &s)?)).await
}

pub(super) async fn deliver(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<DeliveryInput>,
) -> Answer {
    let (d, pledge, coop) = pledge_to_us(&s, &id).await?;
    let quantity = quantity_like("quantity", &input.quantity, d.view.quantity)?;
    let now = Timestamp::now();
    let delivery = Delivery {
        signer: s.member()?.key.public(),
        coop,
        pledge,
        quantity,
        received: time("received", &input.received)?.unwrap_or(now),
        issued: now,
        note: input.note.filter(|n| !n.trim().is_empty()),
    };
    write(&s, None, Record::Delivery(signed(delivery, &s)?)).await
}

/// Imports offers and needs: every row is checked first, and one bad row imports nothing.
pub(super) async fn import(
    State(s): State<Shared>,
    Body(input): Body<ImportInput>,
) -> Result<Response, ApiError> {
    if input.records.len() > MAX_EDITS {
        return Err(ApiError::bad(
            format!(
                "{} rows; at most {MAX_EDITS} import at once",
                input.records.len()
            ),
            "split the file",
        ));
    }
    let mut records = Vec::with_capacity(input.records.len());
    let mut errors = Vec::new();
    for (i, row) in input.records.iter().enumerate() {
        match row.kind().and_then(|k| row.to_record(k)) {
            Ok(r) => records.push((None, r)),
            Err(e) => errors.push(json!({ "row": i + 1, "message": e.message })),
        }
    }
    if !errors.is_empty() {
        let body = json!({
            "error": {
                "code": "bad_rows",
                "message": format!("{} of {} rows are invalid; nothing was imported", errors.len(), input.records.len()),
                "hint": "fix the rows listed and import the file again",
                "rows": errors,
            }
        });
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    if records.is_empty() {
        return Ok(Json(json!({ "imported": 0, "ids": [] })).into_response());
    }
    let (coop, _) = s.home().await?;
    let member = s.member()?;
    let entries = s
        .node
        .write_all(coop, &member.key, member.device, records)
        .await?;
    let ids: Vec<String> = entries.iter().map(|e| e.record_id().to_string()).collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "imported": ids.len(), "ids": ids })),
    )
        .into_response())
}
