//! Derived status: never typed in, always a pure function of the records and the clock.

use crate::ids::CoopId;
use crate::quantity::Quantity;
use crate::record::{Need, Offer};
use crate::statement::{Acceptance, Cancellation, Decision, Delivery, Pledge};
use crate::time::Timestamp;

/// Where a pledge stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PledgeState {
    /// Not answered yet.
    Proposed,
    /// Accepted by the receiver.
    Accepted,
    /// Declined by the receiver: it no longer counts.
    Declined,
    /// Taken back by the pledging co-op: only what was delivered before counts.
    Cancelled,
    /// Some of it confirmed delivered.
    PartlyFulfilled,
    /// All of it confirmed delivered.
    Fulfilled,
}

/// A pledge's state and how much of it the receiver confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PledgeStatus {
    /// The state.
    pub state: PledgeState,
    /// The pledged quantity.
    pub pledged: Quantity,
    /// The quantity confirmed delivered, in the pledge's unit.
    pub delivered: Quantity,
}

/// A receiver's answer to a pledge, as status needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The co-op that answered.
    pub coop: CoopId,
    /// Accept or decline.
    pub decision: Decision,
    /// When.
    pub issued: Timestamp,
}

/// A confirmed delivery, as status needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The co-op that confirmed it.
    pub coop: CoopId,
    /// How much arrived.
    pub quantity: Quantity,
}

/// Derives a pledge's status. Only answers and deliveries signed for the co-op that owns the
/// need count, and only cancellations signed for the pledging co-op; the latest answer wins
/// (a decline wins a tie); deliveries add up, and those in a unit that does not convert to the
/// pledge's are ignored. A cancelled pledge that was delivered in full stays fulfilled.
pub fn pledge_status(
    pledge: &Pledge,
    acceptances: &[&Acceptance],
    deliveries: &[&Delivery],
    cancellations: &[&Cancellation],
) -> PledgeStatus {
    pledge_status_from(
        pledge.need.coop,
        pledge.quantity,
        cancellations.iter().any(|c| c.coop == pledge.coop),
        acceptances.iter().map(|a| Answer {
            coop: a.coop,
            decision: a.decision,
            issued: a.issued,
        }),
        deliveries.iter().map(|d| Received {
            coop: d.coop,
            quantity: d.quantity,
        }),
    )
}

/// [`pledge_status`] from the facts alone: the co-op that owns the need, the pledged quantity,
/// whether the pledging co-op cancelled it, and the answers and deliveries that reference it.
pub fn pledge_status_from(
    receiver: CoopId,
    quantity: Quantity,
    cancelled: bool,
    answers: impl IntoIterator<Item = Answer>,
    deliveries: impl IntoIterator<Item = Received>,
) -> PledgeStatus {
    let decision = answers
        .into_iter()
        .filter(|a| a.coop == receiver)
        .max_by_key(|a| (a.issued, a.decision == Decision::Decline))
        .map(|a| a.decision);
    let unit = quantity.unit();
    let delivered = deliveries
        .into_iter()
        .filter(|d| d.coop == receiver)
        .fold(Quantity::zero(unit), |sum, d| {
            sum.checked_add(&d.quantity).unwrap_or(sum)
        });
    let state = if decision == Some(Decision::Decline) {
        PledgeState::Declined
    } else if delivered.value() >= quantity.value() {
        PledgeState::Fulfilled
    } else if cancelled {
        PledgeState::Cancelled
    } else if !delivered.value().is_zero() {
        PledgeState::PartlyFulfilled
    } else if decision == Some(Decision::Accept) {
        PledgeState::Accepted
    } else {
        PledgeState::Proposed
    };
    PledgeStatus {
        state,
        pledged: quantity,
        delivered,
    }
}

/// Where a need stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeedStatus {
    /// Nothing pledged yet.
    Open,
    /// Pledges cover part of it.
    PartlyPledged,
    /// Pledges cover all of it.
    Pledged,
    /// Pledges add up to more than it asks for: a coordinator should look.
    OverPledged,
    /// Deliveries confirmed cover all of it.
    Fulfilled,
    /// The co-op withdrew it.
    Withdrawn,
    /// Its expiry passed before it was fulfilled.
    Expired,
}

/// Pledged and delivered totals of the pledges that still count, in `unit`: a declined pledge
/// not at all, a cancelled one only for what was delivered; pledges in a unit that does not
/// convert are left out.
pub fn pledge_totals(
    unit: crate::quantity::Unit,
    pledges: &[PledgeStatus],
) -> (Quantity, Quantity) {
    let zero = Quantity::zero(unit);
    pledges
        .iter()
        .filter(|p| p.state != PledgeState::Declined)
        .fold((zero, zero), |(pl, de), p| {
            let promised = if p.state == PledgeState::Cancelled {
                &p.delivered
            } else {
                &p.pledged
            };
            (
                pl.checked_add(promised).unwrap_or(pl),
                de.checked_add(&p.delivered).unwrap_or(de),
            )
        })
}

/// Derives a need's status from the pledges that reference it and the clock. In order:
/// withdrawn; fulfilled when confirmed deliveries cover it; expired when its expiry has
/// passed; over-pledged, pledged or partly pledged by the pledges not declined; otherwise
/// open.
pub fn need_status(need: &Need, pledges: &[PledgeStatus], now: Timestamp) -> NeedStatus {
    need_status_from(need.quantity, need.withdrawn, need.expires, pledges, now)
}

/// [`need_status`] from the facts alone.
pub fn need_status_from(
    quantity: Quantity,
    withdrawn: bool,
    expires: Option<Timestamp>,
    pledges: &[PledgeStatus],
    now: Timestamp,
) -> NeedStatus {
    let (pledged, delivered) = pledge_totals(quantity.unit(), pledges);
    let want = quantity.value();
    if withdrawn {
        NeedStatus::Withdrawn
    } else if delivered.value() >= want {
        NeedStatus::Fulfilled
    } else if expires.is_some_and(|e| e <= now) {
        NeedStatus::Expired
    } else if pledged.value() > want {
        NeedStatus::OverPledged
    } else if pledged.value() >= want {
        NeedStatus::Pledged
    } else if !pledged.value().is_zero() {
        NeedStatus::PartlyPledged
    } else {
        NeedStatus::Open
    }
}

/// Where an offer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    /// Nothing pledged from it yet.
    Open,
    /// Pledges draw on part of it.
    PartlyPledged,
    /// Pledges draw on all of it.
    Pledged,
    /// Its own co-op's pledges draw on more than it holds: the excess is promised twice.
    OverPledged,
    /// The co-op withdrew it.
    Withdrawn,
    /// Its expiry, or the end of its availability, passed.
    Expired,
}

/// Derives an offer's status from the pledges that draw on it and the clock. Only pledges
/// made by the offer's own co-op draw on it (the caller passes only those): anyone else
/// naming it promises what is not theirs.
pub fn offer_status(offer: &Offer, pledges: &[PledgeStatus], now: Timestamp) -> OfferStatus {
    offer_status_from(
        offer.quantity,
        offer.withdrawn,
        offer.expires.into_iter().chain(offer.available.until).min(),
        pledges,
        now,
    )
}

/// [`offer_status`] from the facts alone; `ends` is the earlier of its expiry and the end of
/// its availability.
pub fn offer_status_from(
    quantity: Quantity,
    withdrawn: bool,
    ends: Option<Timestamp>,
    pledges: &[PledgeStatus],
    now: Timestamp,
) -> OfferStatus {
    let (pledged, _) = pledge_totals(quantity.unit(), pledges);
    if withdrawn {
        OfferStatus::Withdrawn
    } else if ends.is_some_and(|e| e <= now) {
        OfferStatus::Expired
    } else if pledged.value() > quantity.value() {
        OfferStatus::OverPledged
    } else if pledged.value() >= quantity.value() {
        OfferStatus::Pledged
    } else if !pledged.value().is_zero() {
        OfferStatus::PartlyPledged
    } else {
        OfferStatus::Open
    }
}
