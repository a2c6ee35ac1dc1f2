//! Offers, needs, pledges, acceptances, deliveries and revolving funds as Valueflows JSON-LD
//! (<https://w3id.org/valueflows/ont/vf#>), with the context inline so a JSON-LD processor
//! expands the document without fetching anything.
//!
//! | minga | Valueflows |
//! |---|---|
//! | co-op | `foaf:Organization` (an Agent) |
//! | offer, need | `vf:Proposal` (purpose `offer` or `request`) publishing a `vf:Intent` |
//! | pledge | `vf:Commitment` that `satisfies` the need's Intent |
//! | acceptance | `vf:Agreement` that `stipulates` the pledge (declines are not agreements: the Commitment is then `finished`) |
//! | delivery | `vf:EconomicEvent` (transfer) that `fulfills` the pledge |
//! | fund | `vf:EconomicResource` whose `accountingQuantity` is the pool available to lend |
//! | loan | `vf:Agreement` with the revenue share, floor, cap and period as `minga:` terms |
//! | disbursement, repayment, contribution | `vf:EconomicEvent` (transfer), `agreedIn` the loan |
//! | period report | `vf:EconomicEvent` (raise) of the period's surplus, with its revenue |
//! | claim | `vf:Claim` `triggeredBy` the report's event |
//!
//! Quantities are `om2:Measure`s: a decimal `om2:hasNumericalValue` (never a float) and an
//! `om2:hasUnit`: an OM 2 unit where one exists, a QUDT currency for money, `urn:minga:unit:…`
//! otherwise. Ids are `urn:minga:<co-op>` and `urn:minga:<co-op>:<record>`.

use std::collections::BTreeMap;

use minga_protocol::fund::{FundBook, LoanBook, Purpose};
use minga_protocol::{
    Acceptance, Cancellation, CoopId, Decision, Delivery, Dimension, PledgeState, Quantity, Record,
    RecordRef, Unit, pledge_status,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use minga_protocol::Timestamp;
use minga_protocol::fund::derive_books;

use super::Shared;
use super::error::ApiError;

/// `GET /v1/export.jsonld`: everything this node replicates, as Valueflows JSON-LD.
pub(super) async fn export(State(s): State<Shared>) -> Result<Response, ApiError> {
    let mut coops = Vec::new();
    let mut records = Vec::new();
    for c in s.node.coops().await? {
        let id = c.genesis.coop_id();
        coops.push((id, c.genesis.value().name.clone()));
        for (record, r) in s.node.records(id).await? {
            records.push((RecordRef { coop: id, record }, r));
        }
    }
    let now = Timestamp::now();
    let funds: Vec<FundBook> = s
        .node
        .funds(None)
        .await?
        .iter()
        .map(|f| derive_books(f, now))
        .collect();
    let body = serde_json::to_vec_pretty(&document(&coops, &records, &funds)).map_err(|e| {
        ApiError::bad(
            e.to_string(),
            "try again; if it persists, report it with the message above",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "application/ld+json")], body).into_response())
}

fn context() -> Value {
    let id = |iri: &str| json!({ "@id": iri, "@type": "@id" });
    let typed = |iri: &str, t: &str| json!({ "@id": iri, "@type": t });
    let mut c = Map::new();
    for (term, definition) in [
        ("vf", json!("https://w3id.org/valueflows/ont/vf#")),
        (
            "om2",
            json!("http://www.ontology-of-units-of-measure.org/resource/om-2/"),
        ),
        ("xsd", json!("http://www.w3.org/2001/XMLSchema#")),
        ("foaf", json!("http://xmlns.com/foaf/0.1/")),
        ("dcterms", json!("http://purl.org/dc/terms/")),
        ("minga", json!("urn:minga:terms:")),
        ("Organization", json!("foaf:Organization")),
        ("Proposal", json!("vf:Proposal")),
        ("Intent", json!("vf:Intent")),
        ("Commitment", json!("vf:Commitment")),
        ("EconomicEvent", json!("vf:EconomicEvent")),
        ("EconomicResource", json!("vf:EconomicResource")),
        ("Agreement", json!("vf:Agreement")),
        ("Claim", json!("vf:Claim")),
        ("Measure", json!("om2:Measure")),
        ("name", json!("vf:name")),
        ("note", json!("vf:note")),
        ("purpose", json!("vf:purpose")),
        ("finished", json!("vf:finished")),
        ("publishes", id("vf:publishes")),
        ("action", id("vf:action")),
        ("provider", id("vf:provider")),
        ("receiver", id("vf:receiver")),
        ("resourceClassifiedAs", id("vf:resourceClassifiedAs")),
        ("satisfies", id("vf:satisfies")),
        ("fulfills", id("vf:fulfills")),
        ("stipulates", id("vf:stipulates")),
        ("agreedIn", id("vf:agreedIn")),
        ("triggeredBy", id("vf:triggeredBy")),
        ("primaryAccountable", id("vf:primaryAccountable")),
        ("resourceQuantity", json!("vf:resourceQuantity")),
        ("minimumQuantity", json!("vf:minimumQuantity")),
        ("accountingQuantity", json!("vf:accountingQuantity")),
        (
            "hasNumericalValue",
            typed("om2:hasNumericalValue", "xsd:decimal"),
        ),
        ("hasUnit", id("om2:hasUnit")),
        ("created", typed("dcterms:created", "xsd:dateTime")),
        ("due", typed("vf:due", "xsd:dateTime")),
        ("hasBeginning", typed("vf:hasBeginning", "xsd:dateTime")),
        ("hasEnd", typed("vf:hasEnd", "xsd:dateTime")),
        ("hasPointInTime", typed("vf:hasPointInTime", "xsd:dateTime")),
        ("revenueShare", typed("minga:revenueShare", "xsd:decimal")),
        ("cap", typed("minga:cap", "xsd:decimal")),
        ("periodDays", json!("minga:periodDays")),
        ("period", json!("minga:period")),
        ("floor", json!("minga:floor")),
        ("revenue", json!("minga:revenue")),
        ("state", json!("minga:state")),
    ] {
        c.insert(term.to_string(), definition);
    }
    Value::Object(c)
}

/// The unit's IRI: OM 2 where it has one, QUDT's currency vocabulary for money.
fn unit_iri(u: Unit) -> String {
    if let Dimension::Currency(code) = u.dimension() {
        return format!("http://qudt.org/vocab/currency/{code}");
    }
    let om = match u.code() {
        "mg" => "milligram",
        "g" => "gram",
        "kg" => "kilogram",
        "t" => "tonne",
        "ml" => "millilitre",
        "l" => "litre",
        "m3" => "cubicMetre",
        "unit" => "one",
        "min" => "minute-Time",
        "h" => "hour",
        "day" => "day",
        "mm" => "millimetre",
        "cm" => "centimetre",
        "m" => "metre",
        "km" => "kilometre",
        other => return format!("urn:minga:unit:{other}"),
    };
    format!("om2:{om}")
}

fn measure(q: &Quantity) -> Value {
    json!({
        "@type": "Measure",
        "hasNumericalValue": q.value().to_string(),
        "hasUnit": unit_iri(q.unit()),
    })
}

fn money(d: Decimal, unit: Unit) -> Value {
    json!({
        "@type": "Measure",
        "hasNumericalValue": d.to_string(),
        "hasUnit": unit_iri(unit),
    })
}

fn time(t: minga_protocol::Timestamp) -> Value {
    json!(t.to_string())
}

/// An offer's or need's Proposal, pushed to the graph, and the start of the Intent it
/// publishes (`{me}#intent`), for the caller to finish.
fn proposal(graph: &mut Vec<Value>, me: &str, purpose: &str, title: &str) -> Map<String, Value> {
    let intent = format!("{me}#intent");
    graph.push(json!({
        "@id": me, "@type": "Proposal", "purpose": purpose, "name": title,
        "publishes": intent,
    }));
    node(json!({
        "@id": intent, "@type": "Intent", "action": "vf:transfer", "name": title,
    }))
}

/// What an offer's and a need's Intent both say.
fn intent(
    i: &mut Map<String, Value>,
    category: &minga_protocol::Category,
    quantity: &Quantity,
    notes: Option<&String>,
) {
    i.insert(
        "resourceClassifiedAs".into(),
        json!(format!("urn:minga:category:{category}")),
    );
    i.insert("resourceQuantity".into(), measure(quantity));
    put(i, "note", notes.cloned().map(Value::String));
}

fn coop_iri(c: &CoopId) -> String {
    format!("urn:minga:{c}")
}

fn iri(r: &RecordRef) -> String {
    format!("urn:minga:{}:{}", r.coop, r.record)
}

/// Adds `key: value` when there is a value.
fn put(node: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        node.insert(key.into(), v);
    }
}

fn node(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The whole export: every co-op, record and fund given, as one JSON-LD document.
pub fn document(
    coops: &[(CoopId, String)],
    records: &[(RecordRef, Record)],
    funds: &[FundBook],
) -> Value {
    let mut graph = Vec::new();
    for (id, name) in coops {
        graph.push(json!({ "@id": coop_iri(id), "@type": "Organization", "name": name }));
    }
    // What status needs of a pledge: the answers, deliveries and cancellations naming it.
    let mut answers: BTreeMap<RecordRef, Vec<&Acceptance>> = BTreeMap::new();
    let mut deliveries: BTreeMap<RecordRef, Vec<&Delivery>> = BTreeMap::new();
    let mut cancels: BTreeMap<RecordRef, Vec<&Cancellation>> = BTreeMap::new();
    for (_, r) in records {
        match r {
            Record::Acceptance(a) => answers.entry(a.value().pledge).or_default().push(a.value()),
            Record::Delivery(d) => deliveries
                .entry(d.value().pledge)
                .or_default()
                .push(d.value()),
            Record::Cancellation(c) => cancels.entry(c.value().pledge).or_default().push(c.value()),
            _ => {}
        }
    }
    for (at, r) in records {
        let me = iri(at);
        let owner = coop_iri(&at.coop);
        match r {
            Record::Offer(o) if o.withdrawn => {}
            Record::Offer(o) => {
                let mut i = proposal(&mut graph, &me, "offer", &o.title);
                i.insert("provider".into(), json!(owner));
                intent(&mut i, &o.category, &o.quantity, o.notes.as_ref());
                put(&mut i, "minimumQuantity", o.minimum.as_ref().map(measure));
                put(&mut i, "hasBeginning", o.available.from.map(time));
                put(&mut i, "hasEnd", o.available.until.map(time));
                graph.push(Value::Object(i));
            }
            Record::Need(n) if n.withdrawn => {}
            Record::Need(n) => {
                let mut i = proposal(&mut graph, &me, "request", &n.title);
                i.insert("receiver".into(), json!(owner));
                intent(&mut i, &n.category, &n.quantity, n.notes.as_ref());
                put(&mut i, "hasBeginning", n.needed.from.map(time));
                put(&mut i, "due", n.needed.until.map(time));
                graph.push(Value::Object(i));
            }
            Record::Pledge(p) => {
                let p = p.value();
                let status = pledge_status(
                    p,
                    answers.get(at).map_or(&[][..], Vec::as_slice),
                    deliveries.get(at).map_or(&[][..], Vec::as_slice),
                    cancels.get(at).map_or(&[][..], Vec::as_slice),
                );
                let finished = matches!(
                    status.state,
                    PledgeState::Fulfilled | PledgeState::Declined | PledgeState::Cancelled
                );
                let mut c = node(json!({
                    "@id": me, "@type": "Commitment", "action": "vf:transfer",
                    "provider": owner, "receiver": coop_iri(&p.need.coop),
                    "satisfies": format!("{}#intent", iri(&p.need)),
                    "resourceQuantity": measure(&p.quantity),
                    "created": p.issued.to_string(), "finished": finished,
                    "state": serde_json::to_value(status.state).unwrap_or(Value::Null),
                }));
                put(&mut c, "due", p.due.map(time));
                put(&mut c, "note", p.note.clone().map(Value::String));
                graph.push(Value::Object(c));
            }
            Record::Acceptance(a) if a.value().decision == Decision::Accept => {
                let a = a.value();
                let mut g = node(json!({
                    "@id": me, "@type": "Agreement", "stipulates": iri(&a.pledge),
                    "created": a.issued.to_string(),
                }));
                put(&mut g, "note", a.note.clone().map(Value::String));
                graph.push(Value::Object(g));
            }
            Record::Delivery(d) => {
                let d = d.value();
                let mut e = node(json!({
                    "@id": me, "@type": "EconomicEvent", "action": "vf:transfer",
                    "provider": coop_iri(&d.pledge.coop), "receiver": owner,
                    "fulfills": iri(&d.pledge), "resourceQuantity": measure(&d.quantity),
                    "hasPointInTime": d.received.to_string(), "created": d.issued.to_string(),
                }));
                put(&mut e, "note", d.note.clone().map(Value::String));
                graph.push(Value::Object(e));
            }
            _ => {}
        }
    }
    for book in funds {
        fund(book, records, &mut graph);
    }
    json!({ "@context": context(), "@graph": graph })
}

fn fund(book: &FundBook, records: &[(RecordRef, Record)], graph: &mut Vec<Value>) {
    let Ok(unit) = book.unit.parse::<Unit>() else {
        return;
    };
    let fund = iri(&book.fund);
    graph.push(json!({
        "@id": fund, "@type": "EconomicResource", "name": book.name,
        "primaryAccountable": coop_iri(&book.fund.coop),
        "accountingQuantity": money(book.pool.available, unit),
    }));
    let issued: BTreeMap<RecordRef, String> = records
        .iter()
        .filter_map(|(at, r)| match r {
            Record::Report(x) => Some((*at, x.value().issued.to_string())),
            Record::Loan(x) => Some((*at, x.value().issued.to_string())),
            _ => None,
        })
        .collect();
    for loan in &book.loans {
        loan_nodes(book, loan, unit, &issued, graph);
    }
    for t in book.transfers.iter().filter(|t| t.counts) {
        let (provider, receiver) = match (t.purpose, t.loan) {
            (Purpose::Repayment, _) | (Purpose::Contribution, _) => {
                (coop_iri(&t.from), fund.clone())
            }
            (Purpose::Disbursement, Some(l)) => (fund.clone(), coop_iri(&l.coop)),
            (Purpose::Disbursement, None) => continue,
        };
        let mut e = node(json!({
            "@id": iri(&t.transfer), "@type": "EconomicEvent", "action": "vf:transfer",
            "provider": provider, "receiver": receiver,
            "resourceQuantity": money(t.amount, unit),
            "hasPointInTime": t.issued.to_string(),
            "note": t.purpose.to_string(),
        }));
        put(&mut e, "agreedIn", t.loan.as_ref().map(|l| json!(iri(l))));
        graph.push(Value::Object(e));
    }
}

fn loan_nodes(
    book: &FundBook,
    loan: &LoanBook,
    unit: Unit,
    issued: &BTreeMap<RecordRef, String>,
    graph: &mut Vec<Value>,
) {
    let me = iri(&loan.loan);
    let mut a = node(json!({
        "@id": me, "@type": "Agreement", "name": loan.project,
        "resourceQuantity": money(loan.amount, unit),
        "revenueShare": loan.share.to_string(), "floor": money(loan.floor, unit),
        "cap": loan.cap.to_string(), "periodDays": loan.period_days,
        "state": serde_json::to_value(loan.state).unwrap_or(Value::Null),
        "provider": iri(&book.fund), "receiver": coop_iri(&loan.borrower),
    }));
    put(&mut a, "created", issued.get(&loan.loan).map(|t| json!(t)));
    graph.push(Value::Object(a));
    for p in &loan.periods {
        let event = iri(&p.report);
        let mut e = node(json!({
            "@id": event, "@type": "EconomicEvent", "action": "vf:raise",
            "provider": coop_iri(&loan.borrower), "receiver": coop_iri(&loan.borrower),
            "resourceQuantity": money(p.surplus, unit), "revenue": money(p.revenue, unit),
            "period": p.period, "agreedIn": me,
        }));
        put(
            &mut e,
            "hasPointInTime",
            issued.get(&p.report).map(|t| json!(t)),
        );
        graph.push(Value::Object(e));
        if p.claim > Decimal::ZERO {
            graph.push(json!({
                "@id": format!("{event}#claim"), "@type": "Claim", "action": "vf:transfer",
                "provider": coop_iri(&loan.borrower), "receiver": iri(&book.fund),
                "resourceQuantity": money(p.claim, unit), "triggeredBy": event,
                "agreedIn": me, "period": p.period, "finished": p.paid >= p.claim,
            }));
        }
    }
}
