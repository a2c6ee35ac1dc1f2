//! What and where: resource category paths, locations, time windows, urgency.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::time::Timestamp;

/// A resource category path such as `food/grain/rice` (a Valueflows ResourceSpecification).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category(String);

/// Limits on category paths.
const MAX_SEGMENTS: usize = 6;
const MAX_SEGMENT_LEN: usize = 40;

/// Not a valid category path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a category path like food/grain/rice (1 to 6 parts of a-z, 0-9 and -), found {found:?}"
)]
pub struct CategoryParseError {
    /// What was given.
    pub found: String,
}

impl Category {
    /// The path's parts.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Whether `self` is `other` or one of its ancestors (`food` contains `food/grain`).
    pub fn contains(&self, other: &Category) -> bool {
        other.0 == self.0
            || (other.0.len() > self.0.len()
                && other.0.starts_with(&self.0)
                && other.0.as_bytes()[self.0.len()] == b'/')
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Category {
    type Err = CategoryParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_segment = |seg: &str| {
            !seg.is_empty()
                && seg.len() <= MAX_SEGMENT_LEN
                && !seg.starts_with('-')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let n = s.split('/').count();
        if n > MAX_SEGMENTS || !s.split('/').all(ok_segment) {
            return Err(CategoryParseError {
                found: s.chars().take(80).collect(),
            });
        }
        Ok(Category(s.to_string()))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Category({})", self.0)
    }
}

/// A point on Earth (WGS84), in decimal degrees with at most 6 places (about 10 cm).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Point {
    lat: Decimal,
    lon: Decimal,
}

/// Not a valid point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected LAT,LON in decimal degrees (latitude -90..90, longitude -180..180, at most 6 decimals), found {found:?}"
)]
pub struct PointParseError {
    /// What was given.
    pub found: String,
}

impl Point {
    /// A point, if both coordinates are in range.
    pub fn new(lat: Decimal, lon: Decimal) -> Option<Point> {
        let in_range = lat.abs() <= Decimal::from(90)
            && lon.abs() <= Decimal::from(180)
            && lat.scale() <= 6
            && lon.scale() <= 6;
        in_range.then(|| Point {
            lat: lat.normalize(),
            lon: lon.normalize(),
        })
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> Decimal {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> Decimal {
        self.lon
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius). Floats are fine
    /// here: a distance is an estimate for ranking, never an amount.
    pub fn distance_km(&self, other: &Point) -> f64 {
        haversine_km(self.radians(), other.radians())
    }

    /// Latitude and longitude in radians, for code that computes many distances from one
    /// point ([`haversine_km`]).
    pub fn radians(&self) -> (f64, f64) {
        let f = |d: Decimal| d.to_f64().unwrap_or(0.0).to_radians();
        (f(self.lat), f(self.lon))
    }
}

/// Great-circle distance in kilometres between two (latitude, longitude) pairs in radians.
pub fn haversine_km((la1, lo1): (f64, f64), (la2, lo2): (f64, f64)) -> f64 {
    let a = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().min(1.0).asin()
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)
    }
}

impl FromStr for Point {
    type Err = PointParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PointParseError {
            found: s.chars().take(60).collect(),
        };
        let (a, b) = s.split_once(',').ok_or_else(err)?;
        let parse = |x: &str| {
            let x = x.trim();
            if x.len() > 20 {
                return None;
            }
            Decimal::from_str_exact(x).ok()
        };
        Point::new(parse(a).ok_or_else(err)?, parse(b).ok_or_else(err)?).ok_or_else(err)
    }
}

/// Where a record applies: a point, an optional place name, and a radius it serves.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Location {
    /// The point.
    pub point: Point,
    /// A human name, e.g. "Rosario".
    pub place: Option<String>,
    /// How far from the point it applies (offers: how far the co-op can deliver), in km.
    pub radius_km: Option<Decimal>,
}

/// A span of time; either end may be open.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TimeWindow {
    /// From when.
    pub from: Option<Timestamp>,
    /// Until when.
    pub until: Option<Timestamp>,
}

impl TimeWindow {
    /// Whether both ends are in order.
    pub fn is_valid(&self) -> bool {
        match (self.from, self.until) {
            (Some(a), Some(b)) => a <= b,
            _ => true,
        }
    }
}

/// How pressing a need is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Whenever possible.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Soon.
    High,
    /// People go without until it is met.
    Critical,
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
            Urgency::Critical => "critical",
        })
    }
}

impl FromStr for Urgency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Urgency::Low),
            "normal" => Ok(Urgency::Normal),
            "high" => Ok(Urgency::High),
            "critical" => Ok(Urgency::Critical),
            _ => Err(format!(
                "expected low, normal, high or critical, found {:?}",
                s.chars().take(40).collect::<String>()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn category_paths() {
        let food: Category = "food".parse().unwrap();
        let rice: Category = "food/grain/rice".parse().unwrap();
        let foodie: Category = "foodie".parse().unwrap();
        assert!(food.contains(&rice) && !rice.contains(&food) && !food.contains(&foodie));
        for bad in [
            "",
            "Food",
            "food//rice",
            "food/",
            "a/b/c/d/e/f/g",
            "-x",
            "ri ce",
        ] {
            assert!(bad.parse::<Category>().is_err(), "{bad}");
        }
    }

    #[test]
    fn points_are_range_checked() {
        assert!("-32.95,-60.66".parse::<Point>().is_ok());
        for bad in ["91,0", "0,180.5", "1.1234567,0", "x,y", "10"] {
            assert!(bad.parse::<Point>().is_err(), "{bad}");
        }
    }

    #[test]
    fn haversine_rosario_to_buenos_aires() {
        let ros: Point = "-32.9468,-60.6393".parse().unwrap();
        let bue: Point = "-34.6037,-58.3816".parse().unwrap();
        let d = ros.distance_km(&bue);
        assert!((270.0..285.0).contains(&d), "{d}");
        assert_eq!(ros.distance_km(&ros), 0.0);
    }

    proptest! {
        #[test]
        fn point_round_trip(lat in -90_000_000i64..=90_000_000, lon in -180_000_000i64..=180_000_000) {
            let p = Point::new(Decimal::new(lat, 6), Decimal::new(lon, 6)).unwrap();
            prop_assert_eq!(p.to_string().parse::<Point>().unwrap(), p);
        }
    }
}
