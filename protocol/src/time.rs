//! UTC timestamps with millisecond precision.

use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch, UTC. Signed so that parsing never has to clamp.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// How far ahead of the local clock an entry's timestamp may be before the entry waits:
/// ten minutes, more than ordinary clock drift between machines kept by NTP.
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// Where a ledger reads the time: the system clock in a node, one set by hand in tests, so
/// rules that need the time can be tested without waiting for it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock that reads `t`.
    pub fn new(t: Timestamp) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(t.0))
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// A string that is not an RFC 3339 UTC timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an RFC 3339 timestamp such as 2026-12-20T00:00:00Z, found {found:?}")]
pub struct TimestampParseError {
    /// What was given (cut to 80 characters).
    pub found: String,
}

/// The earliest and latest instants minga accepts (years 1970 to 9999), so every timestamp
/// prints and parses back.
const MIN_MS: i64 = 0;
const MAX_MS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Timestamp {
        Timestamp(jiff::Timestamp::now().as_millisecond())
    }

    /// A timestamp from milliseconds, if it lies in the accepted range.
    pub fn from_millis(ms: i64) -> Option<Timestamp> {
        (MIN_MS..=MAX_MS).contains(&ms).then_some(Timestamp(ms))
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This instant plus a number of whole days (saturating).
    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(86_400_000)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_millisecond(self.0) {
            // jiff prints UTC with a `Z` and only as many fractional digits as needed.
            Ok(t) => write!(f, "{t}"),
            Err(_) => write!(f, "@{}ms", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TimestampParseError {
            found: s.chars().take(80).collect(),
        };
        let t: jiff::Timestamp = s.parse().map_err(|_| err())?;
        Timestamp::from_millis(t.as_millisecond()).ok_or_else(err)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_round_trip() {
        let t: Timestamp = "2026-12-20T10:30:00Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-20T10:30:00Z");
        let u = Timestamp(t.0 + 5);
        assert_eq!(u.to_string().parse::<Timestamp>().unwrap(), u);
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        assert!("1969-12-31T23:59:59Z".parse::<Timestamp>().is_err());
        assert!("tomorrow".parse::<Timestamp>().is_err());
        assert!(Timestamp::from_millis(-1).is_none());
    }
}
