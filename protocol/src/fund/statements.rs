//! The signed statements of a revolving fund. Each is written once into the signer's co-op
//! ledger and never edited: a correction is a new statement naming the one it corrects.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::canonical::{Canon, CanonError, Fields, Statement};
use crate::ids::{CoopId, RecordRef};
use crate::keys::PublicKey;
use crate::quantity::{Quantity, Unit};
use crate::time::Timestamp;

/// The most stewards a fund may name.
pub const MAX_STEWARDS: usize = 32;
/// The highest cap, as a multiple of the amount lent.
pub const MAX_CAP: u32 = 10;
/// The longest reporting period, in days.
pub const MAX_PERIOD_DAYS: u32 = 366;
/// The highest period number a report may carry (a century of monthly reports).
pub const MAX_PERIOD: u32 = 1200;
/// The largest amount a fund statement may carry: 10^15 of the currency. The books add up
/// every statement of a fund, and decimal arithmetic must never overflow whatever a co-op
/// writes; with this bound even millions of statements at the limit fit with room to spare.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;

/// A revolving fund, founded by a co-op: the co-ops whose admins decide on its loans, how many
/// of them must approve one, and the currency it lends in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fund {
    /// The admin who founds it.
    pub signer: PublicKey,
    /// The founding co-op.
    pub coop: CoopId,
    /// The fund's name.
    pub name: String,
    /// The currency of every amount (an ISO 4217 code).
    pub unit: Unit,
    /// The steward co-ops, in order, without repeats.
    pub stewards: Vec<CoopId>,
    /// How many stewards (other than the borrower) must approve a loan or a write-off.
    pub approvals: u32,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Fund {
    const KIND: &'static str = "fund";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("name", &self.name)
            .field("unit", self.unit);
        for s in &self.stewards {
            c.field("steward", s);
        }
        c.field("approvals", self.approvals)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Fund {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            name: f.req("name")?,
            unit: f.req("unit")?,
            stewards: f.many("steward")?,
            approvals: f.req("approvals")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// A co-op's proposal to borrow from a fund for a project, repaid only from the project's
/// revenue: each period, `share` percent of the surplus above `floor`, until `cap` times the
/// amount lent has been repaid (a Valueflows Agreement, proposed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loan {
    /// The member who proposes it.
    pub signer: PublicKey,
    /// The borrowing co-op.
    pub coop: CoopId,
    /// The fund asked.
    pub fund: RecordRef,
    /// How much.
    pub amount: Quantity,
    /// What the money is for.
    pub project: String,
    /// The percentage of each period's surplus above the floor that goes to repayment.
    pub share: Decimal,
    /// The surplus per period below which nothing is owed.
    pub floor: Quantity,
    /// The most ever repaid, as a multiple of the amount lent (1 for no return above it).
    pub cap: Decimal,
    /// The reporting period, in days, counted from the first disbursement.
    pub period_days: u32,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Loan {
    const KIND: &'static str = "loan";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("fund", self.fund)
            .field("amount", self.amount)
            .field("project", &self.project)
            .field("share", self.share)
            .field("floor", self.floor)
            .field("cap", self.cap)
            .field("period_days", self.period_days)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Loan {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            fund: f.req("fund")?,
            amount: f.req("amount")?,
            project: f.req("project")?,
            share: f.req("share")?,
            floor: f.req("floor")?,
            cap: f.req("cap")?,
            period_days: f.req("period_days")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// What a steward decides about a loan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The fund should lend.
    Approve,
    /// The fund should not lend.
    Decline,
    /// What is left unpaid is forgiven.
    WriteOff,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Approve => "approve",
            Verdict::Decline => "decline",
            Verdict::WriteOff => "write_off",
        })
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "approve" => Ok(Verdict::Approve),
            "decline" => Ok(Verdict::Decline),
            "write_off" | "write-off" => Ok(Verdict::WriteOff),
            _ => Err("expected approve, decline or write_off".into()),
        }
    }
}

/// A steward co-op's decision on a loan: approve or decline it, or write off what is unpaid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// The admin who decides.
    pub signer: PublicKey,
    /// The steward co-op.
    pub coop: CoopId,
    /// The loan.
    pub loan: RecordRef,
    /// The decision.
    pub verdict: Verdict,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Approval {
    const KIND: &'static str = "approval";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("loan", self.loan)
            .field("verdict", self.verdict)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Approval {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            loan: f.req("loan")?,
            verdict: f.req("verdict")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// Why money moved.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Capital paid into the fund (signed by the payer, confirmed by a steward).
    Contribution,
    /// A loan paid out (signed by a steward, confirmed by the borrower).
    Disbursement,
    /// A loan paid back (signed by the borrower, confirmed by a steward).
    Repayment,
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Purpose::Contribution => "contribution",
            Purpose::Disbursement => "disbursement",
            Purpose::Repayment => "repayment",
        })
    }
}

impl FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "contribution" => Ok(Purpose::Contribution),
            "disbursement" => Ok(Purpose::Disbursement),
            "repayment" => Ok(Purpose::Repayment),
            _ => Err("expected contribution, disbursement or repayment".into()),
        }
    }
}

/// Money that moved, as the paying side states it (a Valueflows EconomicEvent, transfer). It
/// counts once the receiving side confirms it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The member who states it.
    pub signer: PublicKey,
    /// The paying co-op.
    pub coop: CoopId,
    /// The fund.
    pub fund: RecordRef,
    /// The loan, for a disbursement or a repayment.
    pub loan: Option<RecordRef>,
    /// Why.
    pub purpose: Purpose,
    /// How much.
    pub amount: Quantity,
    /// The transfer this one replaces (the same co-op's, purpose and loan), if any.
    pub corrects: Option<RecordRef>,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Transfer {
    const KIND: &'static str = "transfer";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("fund", self.fund)
            .opt("loan", self.loan)
            .field("purpose", self.purpose)
            .field("amount", self.amount)
            .opt("corrects", self.corrects)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Transfer {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            fund: f.req("fund")?,
            loan: f.opt("loan")?,
            purpose: f.req("purpose")?,
            amount: f.req("amount")?,
            corrects: f.opt("corrects")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// The borrower's account of one period of its project: revenue and surplus (a Valueflows
/// EconomicEvent from which the period's Claim is derived).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The member who reports.
    pub signer: PublicKey,
    /// The borrowing co-op.
    pub coop: CoopId,
    /// The loan.
    pub loan: RecordRef,
    /// Which period, from 1.
    pub period: u32,
    /// The project's revenue in the period.
    pub revenue: Quantity,
    /// What was left after the project's costs (0 when it lost money).
    pub surplus: Quantity,
    /// The report for the same period this one replaces, if any.
    pub corrects: Option<RecordRef>,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Report {
    const KIND: &'static str = "report";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("loan", self.loan)
            .field("period", self.period)
            .field("revenue", self.revenue)
            .field("surplus", self.surplus)
            .opt("corrects", self.corrects)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Report {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            loan: f.req("loan")?,
            period: f.req("period")?,
            revenue: f.req("revenue")?,
            surplus: f.req("surplus")?,
            corrects: f.opt("corrects")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// The receiving side confirms a transfer arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// The member who confirms.
    pub signer: PublicKey,
    /// The receiving co-op.
    pub coop: CoopId,
    /// The transfer.
    pub transfer: RecordRef,
    /// When it was signed.
    pub issued: Timestamp,
    /// A line of explanation.
    pub note: Option<String>,
}

impl Statement for Confirmation {
    const KIND: &'static str = "confirmation";
    fn signer(&self) -> &PublicKey {
        &self.signer
    }
    fn write(&self, c: &mut Canon) {
        c.field("signer", self.signer)
            .field("coop", self.coop)
            .field("transfer", self.transfer)
            .field("issued", self.issued)
            .opt("note", self.note.as_ref());
    }
    fn read(f: &mut Fields<'_>) -> Result<Self, CanonError> {
        Ok(Confirmation {
            signer: f.req("signer")?,
            coop: f.req("coop")?,
            transfer: f.req("transfer")?,
            issued: f.req("issued")?,
            note: f.opt("note")?,
        })
    }
}

/// Why a fund statement breaks its own rules (checked before it is written and when read).
pub fn check(record: &crate::record::Record) -> Result<(), (&'static str, String)> {
    use crate::record::Record;
    let currency = |field, q: &Quantity| match q.unit().dimension() {
        _ if q.value().scale() > 2 => Err((field, "has more than two decimal places".into())),
        _ if q.value() > Decimal::from(MAX_AMOUNT) => {
            Err((field, format!("is more than the limit of {MAX_AMOUNT}")))
        }
        crate::quantity::Dimension::Currency(_) => Ok(()),
        _ => Err((field, format!("{} is not a currency", q.unit()))),
    };
    let same = |field, q: &Quantity, of: &Quantity| {
        if q.unit() == of.unit() {
            Ok(())
        } else {
            Err((field, format!("must be in {}, like the amount", of.unit())))
        }
    };
    let positive = |field, q: &Quantity| {
        if q.value() > Decimal::ZERO {
            Ok(())
        } else {
            Err((field, "must be more than zero".to_string()))
        }
    };
    match record {
        Record::Fund(f) => {
            let f = f.value();
            if !matches!(f.unit.dimension(), crate::quantity::Dimension::Currency(_)) {
                return Err(("unit", format!("{} is not a currency", f.unit)));
            }
            if f.stewards.is_empty() || f.stewards.len() > MAX_STEWARDS {
                return Err(("steward", format!("name 1 to {MAX_STEWARDS} stewards")));
            }
            let mut sorted = f.stewards.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != f.stewards.len() {
                return Err(("steward", "names a co-op twice".into()));
            }
            if f.approvals == 0 || f.approvals as usize > f.stewards.len() {
                return Err((
                    "approvals",
                    format!("must be between 1 and the {} stewards", f.stewards.len()),
                ));
            }
        }
        Record::Loan(l) => {
            let l = l.value();
            currency("amount", &l.amount)?;
            positive("amount", &l.amount)?;
            same("floor", &l.floor, &l.amount)?;
            currency("floor", &l.floor)?;
            if l.share <= Decimal::ZERO || l.share > Decimal::ONE_HUNDRED || l.share.scale() > 4 {
                return Err((
                    "share",
                    "must be a percentage above 0, at most 100, with at most four decimals".into(),
                ));
            }
            if l.cap < Decimal::ONE || l.cap > Decimal::from(MAX_CAP) || l.cap.scale() > 4 {
                return Err((
                    "cap",
                    format!("must be between 1 and {MAX_CAP}, with at most four decimals"),
                ));
            }
            if l.period_days == 0 || l.period_days > MAX_PERIOD_DAYS {
                return Err((
                    "period_days",
                    format!("must be between 1 and {MAX_PERIOD_DAYS}"),
                ));
            }
        }
        Record::Transfer(t) => {
            let t = t.value();
            currency("amount", &t.amount)?;
            if t.corrects.is_none() {
                positive("amount", &t.amount)?;
            }
            match (t.purpose, t.loan) {
                (Purpose::Contribution, Some(_)) => {
                    return Err(("loan", "a contribution is to the fund, not a loan".into()));
                }
                (Purpose::Disbursement | Purpose::Repayment, None) => {
                    return Err(("loan", format!("a {} names its loan", t.purpose)));
                }
                _ => {}
            }
        }
        Record::Report(r) => {
            let r = r.value();
            currency("revenue", &r.revenue)?;
            same("surplus", &r.surplus, &r.revenue)?;
            currency("surplus", &r.surplus)?;
            if r.surplus.value() > r.revenue.value() {
                return Err(("surplus", "is more than the revenue".into()));
            }
            if r.period == 0 || r.period > MAX_PERIOD {
                return Err(("period", format!("must be between 1 and {MAX_PERIOD}")));
            }
        }
        _ => {}
    }
    Ok(())
}
