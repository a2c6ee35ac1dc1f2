//! Quantities: a decimal value and a unit from a fixed table with dimensions.
//!
//! Never floats: kilograms and money are decimals. Units convert within their dimension (kg to
//! t, h to min); currencies are each their own dimension, since minga knows no exchange rates.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// What a unit measures. Quantities compare only within one dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Base unit: kilogram.
    Mass,
    /// Base unit: litre.
    Volume,
    /// Base unit: one item.
    Count,
    /// Base unit: minute (so hours and days convert exactly).
    Time,
    /// Base unit: metre.
    Length,
    /// One ISO 4217 currency.
    Currency(&'static str),
}

/// Unit code, dimension, and how many base units one of it is.
const UNITS: &[(&str, Dimension, &str)] = &[
    ("mg", Dimension::Mass, "0.000001"),
    ("g", Dimension::Mass, "0.001"),
    ("kg", Dimension::Mass, "1"),
    ("t", Dimension::Mass, "1000"),
    ("lb", Dimension::Mass, "0.45359237"),
    ("oz", Dimension::Mass, "0.028349523125"),
    ("ml", Dimension::Volume, "0.001"),
    ("l", Dimension::Volume, "1"),
    ("m3", Dimension::Volume, "1000"),
    ("gal", Dimension::Volume, "3.785411784"),
    ("unit", Dimension::Count, "1"),
    ("pair", Dimension::Count, "2"),
    ("dozen", Dimension::Count, "12"),
    ("min", Dimension::Time, "1"),
    ("h", Dimension::Time, "60"),
    ("day", Dimension::Time, "1440"),
    ("week", Dimension::Time, "10080"),
    ("mm", Dimension::Length, "0.001"),
    ("cm", Dimension::Length, "0.01"),
    ("m", Dimension::Length, "1"),
    ("km", Dimension::Length, "1000"),
];

/// ISO 4217 currency codes in use (and the fund and precious-metal codes).
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND \
BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF \
DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR \
IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA \
MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR \
PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB \
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU \
XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL";

/// The most decimal places a quantity may have.
pub const MAX_SCALE: u32 = 9;

/// A unit from minga's table, or an ISO 4217 currency: two bytes, an index into one table or
/// the other, so a quantity stays small wherever many are held.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Unit(u16);

/// The currency code at `i` in [`CURRENCIES`] (three letters, one space apart).
fn currency(i: usize) -> &'static str {
    CURRENCIES.get(i * 4..i * 4 + 3).unwrap_or("XXX")
}

/// Not a known unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown unit {found:?}; known: kg g mg t lb oz, l ml m3 gal, unit pair dozen, min h day week, mm cm m km, or an ISO 4217 currency code such as ARS"
)]
pub struct UnitParseError {
    /// What was given.
    pub found: String,
}

impl Unit {
    /// The unit's code, as written.
    pub fn code(&self) -> &'static str {
        match UNITS.get(usize::from(self.0)) {
            Some((code, _, _)) => code,
            None => currency(usize::from(self.0) - UNITS.len()),
        }
    }

    /// What it measures.
    pub fn dimension(&self) -> Dimension {
        match UNITS.get(usize::from(self.0)) {
            Some((_, dimension, _)) => *dimension,
            None => Dimension::Currency(self.code()),
        }
    }

    fn factor(&self) -> Decimal {
        // The table is constant and covered by a test, so parsing cannot fail in practice;
        // one is a safe value should it ever.
        let text = UNITS.get(usize::from(self.0)).map_or("1", |(_, _, f)| *f);
        Decimal::from_str_exact(text).unwrap_or(Decimal::ONE)
    }
}

impl FromStr for Unit {
    type Err = UnitParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(i) = UNITS.iter().position(|(c, _, _)| *c == s) {
            return Ok(Unit(i as u16));
        }
        if s.len() == 3
            && let Some(i) = CURRENCIES.split(' ').position(|c| c == s)
        {
            return Ok(Unit((UNITS.len() + i) as u16));
        }
        Err(UnitParseError {
            found: s.chars().take(40).collect(),
        })
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unit({})", self.code())
    }
}

/// A non-negative decimal amount of a unit, such as `120 kg` or `50 h` or `3000 ARS`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    value: Decimal,
    unit: Unit,
}

/// Why a quantity is invalid or cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not `<number> <unit>`.
    #[error("expected `<amount> <unit>` such as `120 kg`, found {0:?}")]
    Syntax(String),
    /// The number does not parse.
    #[error("{0:?} is not a decimal number")]
    Number(String),
    /// Below zero.
    #[error("a quantity cannot be negative")]
    Negative,
    /// Too many decimal places.
    #[error("at most {MAX_SCALE} decimal places")]
    TooPrecise,
    /// Unknown unit.
    #[error(transparent)]
    Unit(#[from] UnitParseError),
    /// Different dimensions.
    #[error("cannot convert {from} to {to}: they measure different things")]
    Incompatible {
        /// The unit converted from.
        from: &'static str,
        /// The unit asked for.
        to: &'static str,
    },
    /// The result does not fit.
    #[error("the converted amount is too large")]
    Overflow,
}

impl Quantity {
    /// A quantity, normalized (no trailing zeros) so equal amounts print alike.
    pub fn new(value: Decimal, unit: Unit) -> Result<Quantity, QuantityError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(QuantityError::Negative);
        }
        let value = value.normalize();
        if value.scale() > MAX_SCALE {
            return Err(QuantityError::TooPrecise);
        }
        Ok(Quantity { value, unit })
    }

    /// The amount.
    pub fn value(&self) -> Decimal {
        self.value
    }

    /// The unit.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The same amount in another unit of the same dimension, rounded to [`MAX_SCALE`] places.
    pub fn convert_to(&self, to: Unit) -> Result<Quantity, QuantityError> {
        if self.unit == to {
            return Ok(*self);
        }
        if self.unit.dimension() != to.dimension() {
            return Err(QuantityError::Incompatible {
                from: self.unit.code(),
                to: to.code(),
            });
        }
        let base = self
            .value
            .checked_mul(self.unit.factor())
            .ok_or(QuantityError::Overflow)?;
        let v = base
            .checked_div(to.factor())
            .ok_or(QuantityError::Overflow)?
            .round_dp(MAX_SCALE);
        Quantity::new(v, to)
    }

    /// The sum, in this quantity's unit.
    pub fn checked_add(&self, other: &Quantity) -> Result<Quantity, QuantityError> {
        let o = other.convert_to(self.unit)?;
        let v = self
            .value
            .checked_add(o.value)
            .ok_or(QuantityError::Overflow)?;
        Quantity::new(v, self.unit)
    }

    /// The amount in its dimension's base unit (kg, l, one item, minute, metre, or the
    /// currency itself), for comparing and adding quantities of one dimension.
    pub fn in_base_unit(&self) -> Option<Decimal> {
        self.value.checked_mul(self.unit.factor())
    }

    /// Zero of a unit.
    pub fn zero(unit: Unit) -> Quantity {
        Quantity {
            value: Decimal::ZERO,
            unit,
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self})")
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cut = || s.chars().take(60).collect::<String>();
        let (num, unit) = s
            .split_once(' ')
            .ok_or_else(|| QuantityError::Syntax(cut()))?;
        if num.len() > 40 || num.starts_with('+') {
            return Err(QuantityError::Number(cut()));
        }
        let value = Decimal::from_str_exact(num).map_err(|_| QuantityError::Number(cut()))?;
        Quantity::new(value, unit.parse()?)
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn every_table_factor_parses() {
        for (code, _, factor) in UNITS {
            assert!(Decimal::from_str_exact(factor).is_ok(), "{code}");
            assert!(code.parse::<Unit>().is_ok());
        }
        assert!(CURRENCIES.split(' ').all(|c| c.len() == 3));
    }

    #[test]
    fn converts_within_a_dimension() {
        assert_eq!(
            q("1.5 t").convert_to("kg".parse().unwrap()).unwrap(),
            q("1500 kg")
        );
        assert_eq!(
            q("2 day").convert_to("h".parse().unwrap()).unwrap(),
            q("48 h")
        );
        assert_eq!(q("120.0 kg").to_string(), "120 kg");
        assert_eq!(q("70 kg").checked_add(&q("0.05 t")).unwrap(), q("120 kg"));
    }

    #[test]
    fn every_currency_code_round_trips_through_its_index() {
        for code in CURRENCIES.split(' ') {
            let u: Unit = code.parse().unwrap();
            assert_eq!(u.code(), code);
            assert_eq!(u.dimension(), Dimension::Currency(code));
        }
        for (code, dimension, _) in UNITS {
            let u: Unit = code.parse().unwrap();
            assert_eq!((u.code(), u.dimension()), (*code, *dimension));
        }
        assert_eq!(std::mem::size_of::<Unit>(), 2);
    }

    #[test]
    fn refuses_across_dimensions_and_currencies() {
        assert!(matches!(
            q("1 kg").convert_to("l".parse().unwrap()),
            Err(QuantityError::Incompatible { .. })
        ));
        assert!(q("100 ARS").convert_to("USD".parse().unwrap()).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        for s in [
            "-1 kg",
            "1kg",
            "1 parsec",
            "1e9 kg",
            "+1 kg",
            "0.0000000001 kg",
            "1 ars",
            "",
        ] {
            assert!(s.parse::<Quantity>().is_err(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(mantissa in 0i64..1_000_000_000_000, scale in 0u32..=MAX_SCALE, u in 0usize..UNITS.len()) {
            let unit: Unit = UNITS[u].0.parse().unwrap();
            let qty = Quantity::new(Decimal::new(mantissa, scale), unit).unwrap();
            prop_assert_eq!(qty.to_string().parse::<Quantity>().unwrap(), qty);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Quantity>();
        }
    }
}
