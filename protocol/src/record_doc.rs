//! How records sit in their automerge documents: one scalar per field at the root, written
//! only where it differs, read back with strict types and limits.

use std::str::FromStr;

use automerge::{AutoCommit, ROOT, ReadDoc, ScalarValue, Value};
use rust_decimal::Decimal;

use crate::canonical::{Signed, Statement};
use crate::keys::Signature;
use crate::record::{MAX_TEXT_BYTES, RecordError, RecordKind};
use crate::resource::{Location, Point, TimeWindow};
use crate::time::Timestamp;

/// A scalar as minga stores it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Field {
    Str(String),
    Int(i64),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl Field {
    pub(crate) fn scalar(&self) -> ScalarValue {
        match self {
            Field::Str(s) => ScalarValue::Str(s.as_str().into()),
            Field::Int(i) => ScalarValue::Int(*i),
            Field::Bool(b) => ScalarValue::Boolean(*b),
            Field::Bytes(b) => ScalarValue::Bytes(b.clone()),
        }
    }

    pub(crate) fn from_scalar(v: &ScalarValue) -> Option<Field> {
        Some(match v {
            ScalarValue::Str(s) => Field::Str(s.to_string()),
            ScalarValue::Int(i) => Field::Int(*i),
            ScalarValue::Boolean(b) => Field::Bool(*b),
            ScalarValue::Bytes(b) => Field::Bytes(b.clone()),
            _ => return None,
        })
    }
}

pub(crate) type FieldList = Vec<(&'static str, Option<Field>)>;

pub(crate) fn s(v: impl ToString) -> Option<Field> {
    Some(Field::Str(v.to_string()))
}

pub(crate) fn os(v: Option<impl ToString>) -> Option<Field> {
    v.map(|v| Field::Str(v.to_string()))
}

pub(crate) fn ots(v: Option<Timestamp>) -> Option<Field> {
    v.map(|t| Field::Int(t.0))
}

pub(crate) fn location_fields(loc: &Option<Location>, out: &mut FieldList) {
    out.push(("point", loc.as_ref().and_then(|l| s(l.point))));
    out.push(("place", loc.as_ref().and_then(|l| os(l.place.as_ref()))));
    out.push(("radius_km", loc.as_ref().and_then(|l| os(l.radius_km))));
}

pub(crate) fn statement_fields<T: Statement>(kind: RecordKind, st: &Signed<T>) -> FieldList {
    vec![
        ("kind", s(kind.name())),
        ("statement", Some(Field::Bytes(st.bytes().to_vec()))),
        ("signature", Some(Field::Bytes(st.signature().0.to_vec()))),
    ]
}

pub(crate) struct DocReader<'a> {
    pub(crate) doc: &'a AutoCommit,
    pub(crate) seen: usize,
}

impl DocReader<'_> {
    pub(crate) fn get(&mut self, key: &'static str) -> Result<Option<ScalarValue>, RecordError> {
        match self.doc.get(ROOT, key)? {
            None => Ok(None),
            Some((Value::Scalar(v), _)) => {
                self.seen += 1;
                Ok(Some(v.into_owned()))
            }
            Some((Value::Object(_), _)) => Err(RecordError::WrongType {
                field: key.into(),
                expected: "a scalar",
            }),
        }
    }

    pub(crate) fn str(&mut self, key: &'static str) -> Result<Option<String>, RecordError> {
        match self.get(key)? {
            None => Ok(None),
            Some(ScalarValue::Str(s)) if s.len() <= MAX_TEXT_BYTES => Ok(Some(s.to_string())),
            Some(_) => Err(RecordError::WrongType {
                field: key.into(),
                expected: "text of at most 2048 bytes",
            }),
        }
    }

    pub(crate) fn str_req(&mut self, key: &'static str) -> Result<String, RecordError> {
        self.str(key)?.ok_or(RecordError::MissingField(key))
    }

    pub(crate) fn parse<T: FromStr>(&mut self, key: &'static str) -> Result<Option<T>, RecordError>
    where
        T::Err: std::fmt::Display,
    {
        self.str(key)?
            .map(|s| {
                s.parse().map_err(|e: T::Err| RecordError::BadValue {
                    field: key,
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    pub(crate) fn parse_req<T: FromStr>(&mut self, key: &'static str) -> Result<T, RecordError>
    where
        T::Err: std::fmt::Display,
    {
        self.parse(key)?.ok_or(RecordError::MissingField(key))
    }

    pub(crate) fn time(&mut self, key: &'static str) -> Result<Option<Timestamp>, RecordError> {
        match self.get(key)? {
            None => Ok(None),
            Some(ScalarValue::Int(ms)) => {
                Timestamp::from_millis(ms)
                    .map(Some)
                    .ok_or(RecordError::BadValue {
                        field: key,
                        reason: "timestamp out of range".into(),
                    })
            }
            Some(_) => Err(RecordError::WrongType {
                field: key.into(),
                expected: "an integer timestamp",
            }),
        }
    }

    pub(crate) fn bool_req(&mut self, key: &'static str) -> Result<bool, RecordError> {
        match self.get(key)? {
            Some(ScalarValue::Boolean(b)) => Ok(b),
            None => Err(RecordError::MissingField(key)),
            Some(_) => Err(RecordError::WrongType {
                field: key.into(),
                expected: "a boolean",
            }),
        }
    }

    pub(crate) fn bytes_req(&mut self, key: &'static str) -> Result<Vec<u8>, RecordError> {
        match self.get(key)? {
            Some(ScalarValue::Bytes(b)) => Ok(b),
            None => Err(RecordError::MissingField(key)),
            Some(_) => Err(RecordError::WrongType {
                field: key.into(),
                expected: "bytes",
            }),
        }
    }

    pub(crate) fn location(&mut self) -> Result<Option<Location>, RecordError> {
        let point: Option<Point> = self.parse("point")?;
        let place = self.str("place")?;
        let radius_km: Option<Decimal> = self.parse("radius_km")?;
        match point {
            Some(point) => Ok(Some(Location {
                point,
                place,
                radius_km,
            })),
            None if place.is_none() && radius_km.is_none() => Ok(None),
            None => Err(RecordError::MissingField("point")),
        }
    }

    pub(crate) fn window(&mut self) -> Result<TimeWindow, RecordError> {
        Ok(TimeWindow {
            from: self.time("from")?,
            until: self.time("until")?,
        })
    }

    pub(crate) fn signed<T: Statement>(&mut self) -> Result<Signed<T>, RecordError> {
        self.signed_as("statement", "signature")
    }

    /// A signed statement kept under two keys of the document: its bytes and its signature.
    pub(crate) fn signed_as<T: Statement>(
        &mut self,
        statement: &'static str,
        signature: &'static str,
    ) -> Result<Signed<T>, RecordError> {
        let bytes = self.bytes_req(statement)?;
        let sig: [u8; 64] =
            self.bytes_req(signature)?
                .try_into()
                .map_err(|_| RecordError::BadValue {
                    field: signature,
                    reason: "must be 64 bytes".into(),
                })?;
        Ok(Signed::verify(&bytes, Signature(sig))?)
    }

    pub(crate) fn finish(self) -> Result<(), RecordError> {
        let total = self.doc.length(ROOT);
        if total != self.seen {
            let unknown = self
                .doc
                .keys(ROOT)
                .find(|k| !KNOWN_KEYS.contains(&k.as_str()))
                .unwrap_or_else(|| "?".into());
            return Err(RecordError::UnknownField(
                unknown.chars().take(40).collect(),
            ));
        }
        Ok(())
    }
}

const KNOWN_KEYS: &[&str] = &[
    "kind",
    "title",
    "category",
    "quantity",
    "minimum",
    "point",
    "place",
    "radius_km",
    "from",
    "until",
    "urgency",
    "expires",
    "notes",
    "withdrawn",
    "name",
    "description",
    "contact",
    "statement",
    "signature",
    "pledge",
    "to",
    "sealed",
    "genesis",
    "genesis_signature",
    "cutoffs",
];
