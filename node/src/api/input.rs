//! What clients send: JSON bodies and query strings, parsed into protocol values with one
//! error per bad field.

use minga_protocol::{
    Category, Location, Need, Offer, Point, Quantity, Record, RecordKind, TimeWindow, Timestamp,
};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::error::ApiError;

/// An offer or a need, as clients write it (and as CSV rows import). Quantities are text like
/// `300 kg`; times are RFC 3339 or a plain date (`2026-12-15`, midnight UTC).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingInput {
    /// `offer` or `need` (only read by import; the endpoint says it otherwise).
    #[serde(default)]
    pub kind: Option<String>,
    /// A short title.
    pub title: String,
    /// Category path, e.g. `food/grain/rice`.
    pub category: String,
    /// How much, e.g. `300 kg`.
    pub quantity: String,
    /// Offers: the least worth arranging.
    #[serde(default)]
    pub minimum: Option<String>,
    /// `lat,lon` in decimal degrees.
    #[serde(default)]
    pub location: Option<String>,
    /// A place name.
    #[serde(default)]
    pub place: Option<String>,
    /// How far from the location it applies, in km.
    #[serde(default)]
    pub radius_km: Option<String>,
    /// Offers: available from; needs: needed from.
    #[serde(default)]
    pub from: Option<String>,
    /// Offers: available until; needs: needed by.
    #[serde(default)]
    pub until: Option<String>,
    /// Needs: `low`, `normal`, `high` or `critical`.
    #[serde(default)]
    pub urgency: Option<String>,
    /// When it stops showing.
    #[serde(default)]
    pub expires: Option<String>,
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
}

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parses an optional field with `FromStr`, naming the field in the error.
pub fn opt<T: std::str::FromStr>(name: &str, s: &Option<String>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    blank(s)
        .map(|v| v.parse::<T>().map_err(|e| ApiError::field(name, e)))
        .transpose()
}

/// Parses a required field.
pub fn req<T: std::str::FromStr>(name: &str, s: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.trim().parse::<T>().map_err(|e| ApiError::field(name, e))
}

/// A time: RFC 3339, or a date meaning midnight UTC.
pub fn time(name: &str, s: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    let Some(v) = blank(s) else { return Ok(None) };
    let full = if v.len() == 10 && v.as_bytes().get(4) == Some(&b'-') {
        format!("{v}T00:00:00Z")
    } else {
        v.to_string()
    };
    full.parse::<Timestamp>().map(Some).map_err(|e| {
        ApiError::field(
            name,
            format!("{e} (write 2026-12-15 or 2026-12-15T18:00:00Z)"),
        )
    })
}

/// `PATCH /v1/records/{id}`: the fields of an offer or need to change; an empty string clears
/// an optional field. Fields left out keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditInput {
    /// A new title.
    pub title: Option<String>,
    /// A new category path.
    pub category: Option<String>,
    /// A new quantity.
    pub quantity: Option<String>,
    /// Offers: a new minimum.
    pub minimum: Option<String>,
    /// A new `lat,lon`.
    pub location: Option<String>,
    /// A new place name.
    pub place: Option<String>,
    /// A new radius in km.
    pub radius_km: Option<String>,
    /// A new start.
    pub from: Option<String>,
    /// A new end (offers: available until; needs: needed by).
    pub until: Option<String>,
    /// Needs: a new urgency.
    pub urgency: Option<String>,
    /// When it stops showing.
    pub expires: Option<String>,
    /// New free text.
    pub notes: Option<String>,
}

impl ListingInput {
    /// An offer's or need's fields as input text, so an edit can change some and be read
    /// back by the same rules as a new one.
    pub fn of(record: &Record) -> Option<ListingInput> {
        let text = |t: Option<Timestamp>| t.map(|t| t.to_string());
        let loc = |l: &Option<Location>| {
            (
                l.as_ref().map(|l| l.point.to_string()),
                l.as_ref().and_then(|l| l.place.clone()),
                l.as_ref().and_then(|l| l.radius_km).map(|r| r.to_string()),
            )
        };
        Some(match record {
            Record::Offer(o) => {
                let (location, place, radius_km) = loc(&o.location);
                ListingInput {
                    kind: Some("offer".into()),
                    title: o.title.clone(),
                    category: o.category.to_string(),
                    quantity: o.quantity.to_string(),
                    minimum: o.minimum.map(|m| m.to_string()),
                    location,
                    place,
                    radius_km,
                    from: text(o.available.from),
                    until: text(o.available.until),
                    urgency: None,
                    expires: text(o.expires),
                    notes: o.notes.clone(),
                }
            }
            Record::Need(n) => {
                let (location, place, radius_km) = loc(&n.location);
                ListingInput {
                    kind: Some("need".into()),
                    title: n.title.clone(),
                    category: n.category.to_string(),
                    quantity: n.quantity.to_string(),
                    minimum: None,
                    location,
                    place,
                    radius_km,
                    from: text(n.needed.from),
                    until: text(n.needed.until),
                    urgency: Some(n.urgency.to_string()),
                    expires: text(n.expires),
                    notes: n.notes.clone(),
                }
            }
            _ => return None,
        })
    }

    /// These fields with an edit's applied over them.
    pub fn edited(mut self, e: EditInput) -> ListingInput {
        let set = |field: &mut Option<String>, given: Option<String>| {
            if let Some(v) = given {
                *field = Some(v).filter(|v| !v.trim().is_empty());
            }
        };
        if let Some(t) = e.title {
            self.title = t;
        }
        if let Some(c) = e.category {
            self.category = c;
        }
        if let Some(q) = e.quantity {
            self.quantity = q;
        }
        set(&mut self.minimum, e.minimum);
        set(&mut self.location, e.location);
        set(&mut self.place, e.place);
        set(&mut self.radius_km, e.radius_km);
        set(&mut self.from, e.from);
        set(&mut self.until, e.until);
        set(&mut self.urgency, e.urgency);
        set(&mut self.expires, e.expires);
        set(&mut self.notes, e.notes);
        self
    }

    fn location(&self) -> Result<Option<Location>, ApiError> {
        let Some(point) = opt::<Point>("location", &self.location)? else {
            if blank(&self.place).is_some() || blank(&self.radius_km).is_some() {
                return Err(ApiError::bad(
                    "place or radius_km given without a location",
                    "give location as lat,lon",
                ));
            }
            return Ok(None);
        };
        Ok(Some(Location {
            point,
            place: blank(&self.place).map(str::to_string),
            radius_km: opt::<Decimal>("radius_km", &self.radius_km)?,
        }))
    }

    /// The record this input describes, checked as the ledger would check it.
    pub fn to_record(&self, kind: RecordKind) -> Result<Record, ApiError> {
        let quantity: Quantity = req("quantity", &self.quantity)?;
        let category: Category = req("category", &self.category)?;
        let window = TimeWindow {
            from: time("from", &self.from)?,
            until: time("until", &self.until)?,
        };
        let notes = blank(&self.notes).map(str::to_string);
        let record = match kind {
            RecordKind::Offer => {
                if self.urgency.is_some() {
                    return Err(ApiError::bad(
                        "urgency applies to needs only",
                        "leave it out",
                    ));
                }
                Record::Offer(Offer {
                    title: self.title.trim().to_string(),
                    category,
                    quantity,
                    minimum: opt("minimum", &self.minimum)?,
                    location: self.location()?,
                    available: window,
                    expires: time("expires", &self.expires)?,
                    notes,
                    withdrawn: false,
                })
            }
            RecordKind::Need => {
                if self.minimum.is_some() {
                    return Err(ApiError::bad(
                        "minimum applies to offers only",
                        "leave it out",
                    ));
                }
                Record::Need(Need {
                    title: self.title.trim().to_string(),
                    category,
                    quantity,
                    location: self.location()?,
                    needed: window,
                    urgency: opt("urgency", &self.urgency)?.unwrap_or_default(),
                    expires: time("expires", &self.expires)?,
                    notes,
                    withdrawn: false,
                })
            }
            other => {
                return Err(ApiError::bad(
                    format!("kind {} cannot be written this way", other.name()),
                    "kind is offer or need",
                ));
            }
        };
        record
            .check()
            .map_err(|e| ApiError::bad(e.to_string(), "fix the field and try again"))?;
        Ok(record)
    }

    /// The kind an import row names.
    pub fn kind(&self) -> Result<RecordKind, ApiError> {
        match blank(&self.kind) {
            Some("offer") => Ok(RecordKind::Offer),
            Some("need") => Ok(RecordKind::Need),
            Some(other) => Err(ApiError::field(
                "kind",
                format!("expected offer or need, found {other:?}"),
            )),
            None => Err(ApiError::field("kind", "missing (offer or need)")),
        }
    }
}

/// `POST /v1/pledges`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PledgeInput {
    /// The need's id (or a unique prefix).
    pub need: String,
    /// How much.
    pub quantity: String,
    /// The offer it draws on (id or prefix), if any.
    #[serde(default)]
    pub offer: Option<String>,
    /// Delivery promised by.
    #[serde(default)]
    pub due: Option<String>,
    /// A line of explanation.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/pledges/{id}/answer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// `accept` or `decline`.
    pub decision: String,
    /// A line of explanation.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/pledges/{id}/cancel`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    /// A line of explanation.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/pledges/{id}/deliveries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryInput {
    /// How much arrived.
    pub quantity: String,
    /// When it arrived (default: now).
    #[serde(default)]
    pub received: Option<String>,
    /// A line of explanation.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/members`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// The member's public key (`did:key:…`).
    pub key: String,
    /// `member`, `coordinator` or `admin` (default member).
    #[serde(default)]
    pub role: Option<String>,
    /// When the certificate ends, if ever.
    #[serde(default)]
    pub expires: Option<String>,
}

/// `POST /v1/members/revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeInput {
    /// The key to revoke.
    pub key: String,
    /// Why, in a line.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/devices` and `POST /v1/devices/revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// The device's key (`did:key:…`, what its `minga init` printed).
    pub key: String,
}

/// `POST /v1/coop/rotate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// The new co-op key, PKCS#8 PEM (the CLI generates it and keeps it as `coop.key`).
    pub new_key: String,
}

/// `PUT /v1/coop/key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoopKeyInput {
    /// The co-op key in force, PKCS#8 PEM (in clear: the client decrypted it).
    pub key: String,
}

/// `POST /v1/import`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    /// The rows, each with `kind`.
    pub records: Vec<ListingInput>,
}

/// `GET /v1/records` filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// `offer`, `need`, `pledge`, …
    pub kind: Option<String>,
    /// A category path; its descendants match too.
    pub category: Option<String>,
    /// `lat,lon`.
    pub near: Option<String>,
    /// Radius around `near` in km (default 50).
    pub radius: Option<String>,
    /// The least urgency.
    pub urgency: Option<String>,
    /// A status name (`open`, `partly_pledged`, `accepted`, …).
    pub status: Option<String>,
    /// A co-op id or a unique prefix.
    pub coop: Option<String>,
    /// Include withdrawn and expired records.
    pub all: Option<bool>,
    /// At most this many (default 100).
    pub limit: Option<usize>,
    /// Only those whose window ends (needed by, available until) on or before this time.
    pub until_before: Option<String>,
    /// Skip this many first (paging; the answer's `x-total-count` header says how many
    /// match in all).
    pub offset: Option<usize>,
    /// `urgency`: the most urgent first, then the soonest needed; by co-op and id otherwise.
    pub sort: Option<String>,
}

/// `GET /v1/records/{id}?wait=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitInput {
    /// Seconds to wait for the record to arrive (at most 600).
    pub wait: Option<u64>,
}
