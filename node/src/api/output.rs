//! What the API answers: records, co-ops and members as JSON.

use minga_protocol::{Membership, Record, RecordRef, SignedPart, Timestamp};
use serde_json::{Value, json};

use crate::net::{CoopSummary, RecordDetail};
use crate::views::{RecordView, Status, Totals};

/// A status as its one-word name (`open`, `partly_pledged`, `accepted`, …).
pub fn status_name(s: &Status) -> String {
    match serde_json::to_value(s) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

/// A record's view with its status and totals.
pub fn view(v: &RecordView, status: Option<Status>, totals: Option<Totals>) -> Value {
    let mut out = serde_json::to_value(v).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut out {
        map.insert(
            "ref".into(),
            json!(
                RecordRef {
                    coop: v.coop,
                    record: v.id
                }
                .to_string()
            ),
        );
        map.insert("kind".into(), json!(v.kind.name()));
        if let Some(s) = status {
            map.insert("status".into(), json!(status_name(&s)));
        }
        if let Some(t) = totals {
            map.insert("pledged".into(), json!(t.pledged.to_string()));
            map.insert("delivered".into(), json!(t.delivered.to_string()));
        }
    }
    out
}

fn opt<T: ToString>(v: &Option<T>) -> Value {
    v.as_ref().map_or(Value::Null, |x| json!(x.to_string()))
}

fn time(t: Option<Timestamp>) -> Value {
    opt(&t)
}

/// Every field of a record, as its document reads.
pub fn record(r: &Record) -> Value {
    match r {
        Record::Offer(o) => json!({
            "title": o.title, "category": o.category.to_string(),
            "quantity": o.quantity.to_string(), "minimum": opt(&o.minimum),
            "location": o.location.as_ref().map(|l| l.point.to_string()),
            "place": o.location.as_ref().and_then(|l| l.place.clone()),
            "radius_km": o.location.as_ref().and_then(|l| l.radius_km).map(|r| r.to_string()),
            "from": time(o.available.from), "until": time(o.available.until),
            "expires": time(o.expires), "notes": o.notes, "withdrawn": o.withdrawn,
        }),
        Record::Need(n) => json!({
            "title": n.title, "category": n.category.to_string(),
            "quantity": n.quantity.to_string(),
            "location": n.location.as_ref().map(|l| l.point.to_string()),
            "place": n.location.as_ref().and_then(|l| l.place.clone()),
            "radius_km": n.location.as_ref().and_then(|l| l.radius_km).map(|r| r.to_string()),
            "from": time(n.needed.from), "until": time(n.needed.until),
            "urgency": n.urgency.to_string(), "expires": time(n.expires),
            "notes": n.notes, "withdrawn": n.withdrawn,
        }),
        Record::Profile(p) => json!({
            "name": p.name, "description": p.description,
            "location": p.location.as_ref().map(|l| l.point.to_string()), "contact": p.contact,
        }),
        Record::Pledge(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Acceptance(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Delivery(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Certificate(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Revocation(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Rotation(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Cancellation(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Device(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Fund(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Loan(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Approval(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Transfer(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Report(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Confirmation(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Network(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Unvouch(s) => statement(s.bytes(), s.signature(), s.value().signer),
        Record::Vouch(v) => {
            let mut out = statement(v.vouch.bytes(), v.vouch.signature(), v.vouch.value().signer);
            if let Value::Object(map) = &mut out {
                map.insert("genesis".into(), json!(SignedPart::of(&v.genesis)));
            }
            out
        }
        Record::Expel(e) => {
            let mut out = statement(e.expel.bytes(), e.expel.signature(), e.expel.value().signer);
            if let Value::Object(map) = &mut out {
                map.insert(
                    "cutoffs".into(),
                    json!(base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        &e.cutoffs
                    )),
                );
            }
            out
        }
        Record::Contact(c) => json!({
            "pledge": c.pledge.to_string(), "to": c.to.to_string(),
            "recipients": minga_protocol::contact::boxes(&c.sealed).map_or(0, |b| b.len()),
            "sealed": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &c.sealed),
        }),
    }
}

fn statement(
    bytes: &[u8],
    signature: &minga_protocol::Signature,
    signer: minga_protocol::PublicKey,
) -> Value {
    json!({
        "signer": signer.to_string(),
        "statement": String::from_utf8_lossy(bytes),
        "signature": signature.to_string(),
    })
}

/// A bundle that verified: what it commits to and who signed it (what `minga verify --json`
/// prints and `POST /v1/verify` answers).
pub fn verified(v: &minga_protocol::Verified) -> Value {
    let c = &v.commitment;
    json!({
        "valid": true,
        "kind": c.kind(),
        "signer": c.signer().to_string(),
        "coop": c.coop().to_string(),
        "coop_name": v.coop_name,
        "role": v.role,
        "certificate": v.certificate.to_string(),
        "issued": c.issued().to_string(),
        "statement": String::from_utf8_lossy(c.signed_bytes().0),
    })
}

/// One record with its fields and the records that reference it.
pub fn detail(d: &RecordDetail) -> Value {
    let mut out = view(&d.view, d.status, d.totals);
    if let Value::Object(map) = &mut out {
        map.insert("record".into(), record(&d.record));
        map.insert(
            "related".into(),
            Value::Array(
                d.related
                    .iter()
                    .map(|l| view(&l.view, l.status, l.totals))
                    .collect(),
            ),
        );
    }
    out
}

/// One replicated co-op.
pub fn coop(c: &CoopSummary, home: bool) -> Value {
    let g = c.genesis.value();
    json!({
        "id": c.genesis.coop_id().to_string(),
        "name": g.name,
        "founder": g.founder.to_string(),
        "created": g.created.to_string(),
        "logs": c.logs,
        "entries": c.entries,
        "members": c.members,
        "coop_key": c.coop_key.to_string(),
        "coop_key_frozen_at_rotation": c.rotation_conflict,
        "equivocations": c.equivocations.len(),
        "waiting_entries": c.waiting.0,
        "missing_payloads": c.missing_payloads,
        "waiting_ahead_of_clock": c.waiting_ahead,
        "home": home,
    })
}

/// Every key a co-op's membership names, with its role now and any revocation.
pub fn members(m: &Membership, now: Timestamp) -> Value {
    let mut keys: Vec<_> = m
        .subjects()
        .copied()
        .chain(std::iter::once(m.genesis().value().founder))
        .collect();
    keys.sort();
    keys.dedup();
    Value::Array(
        keys.into_iter()
            .map(|k| {
                let revoked = m.revocations_of(&k).first().map(|r| r.value().issued);
                let role = m.role_at(&k, now).ok();
                json!({
                    "key": k.to_string(),
                    "role": role.map(|r| r.to_string()),
                    "founder": k == m.genesis().value().founder,
                    "revoked": time(revoked),
                    "certificates": m.certificates_of(&k).map(|c| c.hash().to_string()).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
