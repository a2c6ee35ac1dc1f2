//! Matching over the API: ranked matches for open needs, the allocation plan, and the match
//! events of the event stream. The work runs on a blocking thread over a snapshot of the open
//! listings, so the node's own task never waits on it.

use axum::Json;
use axum::extract::State;
use minga_protocol::{RecordKind, RecordRef, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{Params, Shared};
use crate::Listings;
use crate::matching::{Listing, Match, Matcher, plan};

/// Matches shown per need unless asked otherwise, and at most.
const DEFAULT_LIMIT: usize = 3;
const MAX_LIMIT: usize = 100;
/// Needs listed by `GET /v1/match` without `need`: the most urgent first.
const MAX_NEEDS: usize = 200;
/// The least score a new listing's match needs to be announced on the event stream.
pub const EVENT_SCORE: f64 = 50.0;

/// `GET /v1/match`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchInput {
    /// One need (id or prefix); all open needs when absent.
    pub need: Option<String>,
    /// Matches per need (default 3, at most 100).
    pub limit: Option<usize>,
}

/// A listing as the API shows it.
pub fn listing(l: &Listing) -> Value {
    json!({
        "id": l.id.to_string(),
        "coop": l.coop.to_string(),
        "ref": RecordRef { coop: l.coop, record: l.id }.to_string(),
        "title": l.title,
        "category": l.category.to_string(),
        "remaining": l.remaining.to_string(),
        "location": l.point.as_ref().map(ToString::to_string),
        "radius_km": l.radius_km,
        "urgency": l.urgency.to_string(),
    })
}

fn scored(m: &Match, other: &Listing, side: &str) -> Value {
    json!({
        side: listing(other),
        "score": m.score,
        "distance_km": m.distance_km.map(|d| (d * 10.0).round() / 10.0),
        "reasons": m.reasons,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::bad(format!("matching failed: {e}"), "see the node's log"))
}

pub(super) async fn matches(
    State(s): State<Shared>,
    Params(q): Params<MatchInput>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let Listings { needs, offers } = s.node.listings().await?;
    let only = match &q.need {
        Some(id) => {
            let d = s.node.detail(id).await?;
            if d.view.kind != RecordKind::Need {
                return Err(ApiError::bad(
                    format!("{id} is a {}, not a need", d.view.kind.name()),
                    "give a need's id",
                ));
            }
            let i = needs
                .iter()
                .position(|n| n.id == d.view.id)
                .ok_or_else(|| {
                    ApiError::refused(
                        format!(
                            "that need is not open ({})",
                            d.status
                                .map(|st| super::status_name(&st))
                                .unwrap_or_default()
                        ),
                        "only open and partly pledged needs are matched",
                    )
                })?;
            Some(i)
        }
        None => None,
    };
    let out = blocking(move || {
        let m = Matcher::new(&needs, &offers, Timestamp::now());
        let mut order: Vec<usize> = match only {
            Some(i) => vec![i],
            None => (0..needs.len()).collect(),
        };
        // The most urgent and the longest waiting first.
        order.sort_by_key(|&i| (std::cmp::Reverse(needs[i].urgency), needs[i].created, i));
        let mut shown = Vec::new();
        for i in order {
            let found = m.for_need(i, limit);
            if found.is_empty() && only.is_none() {
                continue;
            }
            shown.push(json!({
                "need": listing(&needs[i]),
                "matches": found.iter().map(|x| scored(x, &offers[x.offer], "offer")).collect::<Vec<_>>(),
            }));
            if shown.len() == MAX_NEEDS {
                break;
            }
        }
        Value::Array(shown)
    })
    .await?;
    Ok(Json(out))
}

pub(super) async fn allocation(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let Listings { needs, offers } = s.node.listings().await?;
    let out = blocking(move || {
        let p = plan(&needs, &offers, Timestamp::now());
        let proposals: Vec<Value> = p
            .proposals
            .iter()
            .map(|x| {
                json!({
                    "need": listing(&needs[x.need]),
                    "offer": listing(&offers[x.offer]),
                    "quantity": x.quantity.to_string(),
                    "distance_km": x.distance_km.map(|d| (d * 10.0).round() / 10.0),
                })
            })
            .collect();
        let mut served = vec![false; needs.len()];
        for x in &p.proposals {
            served[x.need] = true;
        }
        json!({
            "needs": needs.len(),
            "offers": offers.len(),
            "candidate_pairs": p.pairs,
            "needs_served": served.iter().filter(|x| **x).count(),
            "proposals": proposals,
        })
    })
    .await?;
    Ok(Json(out))
}

/// Matches above [`EVENT_SCORE`] for newly arrived needs and offers (record ids), as
/// event payloads: each new need with its best offers, each new offer with the needs it
/// serves best.
pub(super) async fn announce(
    s: &Shared,
    new: Vec<(RecordKind, minga_protocol::RecordId)>,
) -> Vec<Value> {
    let Ok(Listings { needs, offers }) = s.node.listings().await else {
        return Vec::new();
    };
    blocking(move || {
        let m = Matcher::new(&needs, &offers, Timestamp::now());
        let mut out = Vec::new();
        for (kind, id) in new {
            let found = match kind {
                RecordKind::Need => needs
                    .iter()
                    .position(|n| n.id == id)
                    .map(|i| m.for_need(i, DEFAULT_LIMIT)),
                _ => offers
                    .iter()
                    .position(|o| o.id == id)
                    .map(|i| m.for_offer(i, DEFAULT_LIMIT)),
            };
            for x in found
                .into_iter()
                .flatten()
                .filter(|x| x.score >= EVENT_SCORE)
            {
                out.push(json!({
                    "need": listing(&needs[x.need]),
                    "offer": listing(&offers[x.offer]),
                    "score": x.score,
                    "distance_km": x.distance_km,
                    "reasons": x.reasons,
                }));
            }
        }
        out
    })
    .await
    .unwrap_or_default()
}
