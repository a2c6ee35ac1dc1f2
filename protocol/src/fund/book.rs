//! A fund's books, derived: never typed in, always a pure function of the fund's statements and
//! the clock, so every node that holds the same statements shows the same balances whatever
//! order they arrived in.
//!
//! The rules, in the order they apply:
//! - Only what the right side signs counts: a loan is proposed by its borrower; approvals,
//!   declines and write-offs by stewards other than the borrower; a contribution is confirmed by
//!   a steward, a disbursement is signed by a steward and confirmed by the borrower, a repayment
//!   is signed by the borrower and confirmed by a steward; reports are the borrower's. Amounts
//!   in another currency than the fund's do not count.
//! - Each steward's first approve-or-decline (earliest signed, then lowest record id) is its
//!   vote. A loan is agreed when `approvals` stewards approve, declined when so many decline
//!   that it no longer can be. It is written off when `approvals` stewards write it off.
//! - A transfer or a report named by a later one's `corrects` (same co-op, same purpose or
//!   period, same loan) no longer counts. Of two reports left for one period, the later wins.
//! - Disbursements count once the loan is agreed (whenever they were signed), up to its amount;
//!   its periods start at the first.
//! - Each reported period in order gives a claim: `share% × (surplus − floor)`, rounded to the
//!   cent (half away from zero), and at most what is left of the cap (`cap × disbursed` minus
//!   the claims before it). A surplus at or below the floor gives none.
//! - Repayments count up to the cap; what is paid above it is shown as overpaid (to return).
//!   They settle claims oldest first.
//! - The pool: available = contributed − disbursed + repaid.
//!
//! Amounts in statements have at most two decimal places; the books show every amount with two.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::{Decimal, RoundingStrategy};

use super::statements::{Approval, Confirmation, Fund, Loan, Purpose, Report, Transfer, Verdict};
use crate::canonical::Signed;
use crate::ids::{CoopId, RecordRef};
use crate::quantity::Unit;
use crate::time::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// The transfers that count toward one loan and purpose: when each was signed, and how much.
type Counted = Vec<(Timestamp, Decimal)>;

/// A statement with the record that carries it.
#[derive(Clone, Debug)]
pub struct Held<T> {
    /// Where the record is.
    pub at: RecordRef,
    /// The signed statement.
    pub statement: Signed<T>,
}

impl<T: crate::canonical::Statement> Held<T> {
    fn v(&self) -> &T {
        self.statement.value()
    }
}

/// Every statement that names a fund, its loans or their transfers.
#[derive(Clone, Debug)]
pub struct FundFacts {
    /// The fund.
    pub fund: Held<Fund>,
    /// Loans proposed to it.
    pub loans: Vec<Held<Loan>>,
    /// Stewards' decisions on its loans.
    pub approvals: Vec<Held<Approval>>,
    /// Money in and out.
    pub transfers: Vec<Held<Transfer>>,
    /// Borrowers' period reports.
    pub reports: Vec<Held<Report>>,
    /// Confirmations of its transfers.
    pub confirmations: Vec<Held<Confirmation>>,
}

/// Where a loan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoanState {
    /// Waiting for stewards.
    Proposed,
    /// Enough stewards declined that it can no longer be agreed.
    Declined,
    /// Agreed, not paid out yet.
    Agreed,
    /// Paid out, being repaid from revenue.
    Active,
    /// Repaid up to its cap.
    Repaid,
    /// What was unpaid is forgiven.
    WrittenOff,
    /// Its terms do not fit the fund (another currency, or too few stewards besides the
    /// borrower to ever approve it).
    Invalid,
}

/// One reported period and the claim derived from it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeriodLine {
    /// The period, from 1.
    pub period: u32,
    /// The report in effect.
    pub report: RecordRef,
    /// When it was signed.
    pub reported: Timestamp,
    /// Revenue reported.
    pub revenue: Decimal,
    /// Surplus reported.
    pub surplus: Decimal,
    /// The claim it gives (zero at or below the floor).
    pub claim: Decimal,
    /// How much of the claim repayments have settled.
    pub paid: Decimal,
}

/// A loan's books.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LoanBook {
    /// The loan's record.
    pub loan: RecordRef,
    /// The borrowing co-op.
    pub borrower: CoopId,
    /// What it is for.
    pub project: String,
    /// Where it stands.
    pub state: LoanState,
    /// The amount asked.
    pub amount: Decimal,
    /// Share of surplus above the floor, in percent.
    pub share: Decimal,
    /// Floor per period.
    pub floor: Decimal,
    /// Cap, as a multiple of what was disbursed.
    pub cap: Decimal,
    /// Days per period.
    pub period_days: u32,
    /// Stewards whose vote is to approve.
    pub approved_by: Vec<CoopId>,
    /// Stewards whose vote is to decline.
    pub declined_by: Vec<CoopId>,
    /// Paid out and confirmed.
    pub disbursed: Decimal,
    /// When the first period started.
    pub started: Option<Timestamp>,
    /// The most that will ever be repaid: `cap × disbursed`.
    pub cap_total: Decimal,
    /// Each reported period, in order.
    pub periods: Vec<PeriodLine>,
    /// Sum of the claims.
    pub claimed: Decimal,
    /// Repaid and confirmed, up to the cap.
    pub repaid: Decimal,
    /// Repaid beyond the cap: to be returned to the borrower.
    pub overpaid: Decimal,
    /// Claims not yet settled.
    pub claims_open: Decimal,
    /// Principal not yet returned: `disbursed − repaid`, never below zero.
    pub outstanding: Decimal,
    /// Principal forgiven by a write-off.
    pub written_off: Decimal,
    /// Periods that have ended with no report.
    pub missing_periods: Vec<u32>,
}

/// The fund's pool, derived.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pool {
    /// Capital contributed and confirmed.
    pub contributed: Decimal,
    /// Paid out to loans.
    pub disbursed: Decimal,
    /// Repaid by loans (up to their caps).
    pub repaid: Decimal,
    /// Principal of active loans not yet returned.
    pub out_on_loan: Decimal,
    /// Principal forgiven.
    pub written_off: Decimal,
    /// Repaid above principal.
    pub returns: Decimal,
    /// What the fund can lend now: `contributed − disbursed + repaid`.
    pub available: Decimal,
}

/// A transfer as the books count it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TransferLine {
    /// The transfer's record.
    pub transfer: RecordRef,
    /// The paying co-op.
    pub from: CoopId,
    /// Why.
    pub purpose: Purpose,
    /// The loan, if any.
    pub loan: Option<RecordRef>,
    /// How much.
    pub amount: Decimal,
    /// When it was signed.
    pub issued: Timestamp,
    /// Whether it counts: confirmed by the right side, not corrected, in the fund's currency.
    pub counts: bool,
    /// Whether a later transfer replaced it.
    pub corrected: bool,
    /// Why it does not count, when it does not.
    pub why_not: Option<&'static str>,
}

/// A fund's books.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FundBook {
    /// The fund's record.
    pub fund: RecordRef,
    /// Its name.
    pub name: String,
    /// Its currency.
    pub unit: String,
    /// Its stewards.
    pub stewards: Vec<CoopId>,
    /// Approvals needed.
    pub approvals: u32,
    /// The pool.
    pub pool: Pool,
    /// Its loans, oldest first.
    pub loans: Vec<LoanBook>,
    /// Every transfer, oldest first, and whether it counts.
    pub transfers: Vec<TransferLine>,
}

/// Rounds an amount to the cent, half away from zero.
pub fn to_cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The claim one period's surplus gives, before the cap: `share% × (surplus − floor)`, to the
/// cent; zero at or below the floor.
pub fn period_claim(share: Decimal, surplus: Decimal, floor: Decimal) -> Decimal {
    if surplus <= floor {
        return Decimal::ZERO;
    }
    to_cents((surplus - floor) * share / Decimal::ONE_HUNDRED)
}

/// Orders statements the same way on every node: by when they were signed, then by record.
fn order<T>(h: &Held<T>, issued: Timestamp) -> (Timestamp, RecordRef) {
    (issued, h.at)
}

/// Derives a fund's books at `now`.
pub fn derive_books(facts: &FundFacts, now: Timestamp) -> FundBook {
    let fund = facts.fund.v();
    let unit: Unit = fund.unit;
    let stewards: BTreeSet<CoopId> = fund.stewards.iter().copied().collect();
    let need = fund.approvals as usize;
    let in_unit = |q: &crate::quantity::Quantity| (q.unit() == unit).then(|| q.value());

    // Transfers: corrected ones drop out, the rest count once the other side confirms.
    let by_ref: BTreeMap<RecordRef, &Held<Transfer>> = facts
        .transfers
        .iter()
        .filter(|t| t.v().fund == facts.fund.at)
        .map(|t| (t.at, t))
        .collect();
    let mut corrected = BTreeSet::new();
    for t in by_ref.values() {
        if let Some(c) = t.v().corrects
            && let Some(old) = by_ref.get(&c)
            && old.v().coop == t.v().coop
            && old.v().purpose == t.v().purpose
            && old.v().loan == t.v().loan
        {
            corrected.insert(c);
        }
    }
    let mut confirmed_by: BTreeMap<RecordRef, BTreeSet<CoopId>> = BTreeMap::new();
    for c in &facts.confirmations {
        confirmed_by
            .entry(c.v().transfer)
            .or_default()
            .insert(c.v().coop);
    }
    let loans_here: BTreeMap<RecordRef, &Held<Loan>> = facts
        .loans
        .iter()
        .filter(|l| l.v().fund == facts.fund.at)
        .map(|l| (l.at, l))
        .collect();

    // Votes and write-offs, per loan.
    let mut votes: BTreeMap<RecordRef, BTreeMap<CoopId, (Timestamp, RecordRef, Verdict)>> =
        BTreeMap::new();
    let mut write_offs: BTreeMap<RecordRef, BTreeSet<CoopId>> = BTreeMap::new();
    for a in &facts.approvals {
        let v = a.v();
        let Some(loan) = loans_here.get(&v.loan) else {
            continue;
        };
        if !stewards.contains(&v.coop) || v.coop == loan.v().coop {
            continue;
        }
        if v.verdict == Verdict::WriteOff {
            write_offs.entry(v.loan).or_default().insert(v.coop);
            continue;
        }
        let key = order(a, v.issued);
        let vote = votes.entry(v.loan).or_default();
        match vote.get(&v.coop) {
            Some((t, r, _)) if (*t, *r) <= key => {}
            _ => {
                vote.insert(v.coop, (key.0, key.1, v.verdict));
            }
        }
    }

    let mut transfers = Vec::new();
    let mut counted: BTreeMap<(Option<RecordRef>, Purpose), Counted> = BTreeMap::new();
    let mut agreed_loans = BTreeSet::new();
    let mut loans: Vec<LoanBook> = Vec::new();
    for (at, l) in &loans_here {
        let v = l.v();
        let vote = votes.get(at);
        let with = |verdict| -> Vec<CoopId> {
            vote.map(|m| {
                m.iter()
                    .filter(|(_, (_, _, x))| *x == verdict)
                    .map(|(c, _)| *c)
                    .collect()
            })
            .unwrap_or_default()
        };
        let approved_by = with(Verdict::Approve);
        let declined_by = with(Verdict::Decline);
        let eligible = stewards.iter().filter(|s| **s != v.coop).count();
        let valid = v.amount.unit() == unit && eligible >= need;
        let state = if !valid {
            LoanState::Invalid
        } else if approved_by.len() >= need {
            agreed_loans.insert(*at);
            LoanState::Agreed
        } else if eligible - declined_by.len() < need {
            LoanState::Declined
        } else {
            LoanState::Proposed
        };
        loans.push(LoanBook {
            loan: *at,
            borrower: v.coop,
            project: v.project.clone(),
            state,
            amount: v.amount.value(),
            share: v.share,
            floor: v.floor.value(),
            cap: v.cap,
            period_days: v.period_days,
            approved_by,
            declined_by,
            disbursed: Decimal::ZERO,
            started: None,
            cap_total: Decimal::ZERO,
            periods: Vec::new(),
            claimed: Decimal::ZERO,
            repaid: Decimal::ZERO,
            overpaid: Decimal::ZERO,
            claims_open: Decimal::ZERO,
            outstanding: Decimal::ZERO,
            written_off: Decimal::ZERO,
            missing_periods: Vec::new(),
        });
    }

    let mut ordered: Vec<&&Held<Transfer>> = by_ref.values().collect();
    ordered.sort_by_key(|t| order(t, t.v().issued));
    for t in ordered {
        let v = t.v();
        let borrower = v.loan.and_then(|l| loans_here.get(&l)).map(|l| l.v().coop);
        let confirmers = confirmed_by.get(&t.at);
        let by_steward = confirmers.is_some_and(|c| c.iter().any(|c| stewards.contains(c)));
        let by_borrower = borrower.is_some_and(|b| confirmers.is_some_and(|c| c.contains(&b)));
        let why_not = if corrected.contains(&t.at) {
            Some("corrected by a later transfer")
        } else if in_unit(&v.amount).is_none() {
            Some("not in the fund's currency")
        } else {
            match v.purpose {
                Purpose::Contribution if !by_steward => Some("not confirmed by a steward"),
                Purpose::Contribution => None,
                _ if borrower.is_none() => Some("names no loan of this fund"),
                Purpose::Disbursement if !stewards.contains(&v.coop) => {
                    Some("not paid out by a steward")
                }
                Purpose::Disbursement if !v.loan.is_some_and(|l| agreed_loans.contains(&l)) => {
                    Some("the loan is not agreed")
                }
                Purpose::Disbursement if !by_borrower => Some("not confirmed by the borrower"),
                Purpose::Repayment if Some(v.coop) != borrower => Some("not paid by the borrower"),
                Purpose::Repayment if !by_steward => Some("not confirmed by a steward"),
                _ => None,
            }
        };
        if why_not.is_none() {
            counted
                .entry((v.loan, v.purpose))
                .or_default()
                .push((v.issued, v.amount.value()));
        }
        transfers.push(TransferLine {
            transfer: t.at,
            from: v.coop,
            purpose: v.purpose,
            loan: v.loan,
            amount: v.amount.value(),
            issued: v.issued,
            counts: why_not.is_none(),
            corrected: corrected.contains(&t.at),
            why_not,
        });
    }

    // Reports in effect, per loan and period.
    let mut report_refs: BTreeMap<RecordRef, &Held<Report>> = BTreeMap::new();
    for r in &facts.reports {
        if let Some(l) = loans_here.get(&r.v().loan)
            && l.v().coop == r.v().coop
            && r.v().revenue.unit() == unit
        {
            report_refs.insert(r.at, r);
        }
    }
    let mut replaced = BTreeSet::new();
    for r in report_refs.values() {
        if let Some(c) = r.v().corrects
            && let Some(old) = report_refs.get(&c)
            && old.v().loan == r.v().loan
            && old.v().period == r.v().period
        {
            replaced.insert(c);
        }
    }
    let mut in_effect: BTreeMap<(RecordRef, u32), &Held<Report>> = BTreeMap::new();
    for r in report_refs.values().filter(|r| !replaced.contains(&r.at)) {
        let key = (r.v().loan, r.v().period);
        match in_effect.get(&key) {
            Some(old) if order(old, old.v().issued) >= order(r, r.v().issued) => {}
            _ => {
                in_effect.insert(key, r);
            }
        }
    }

    let mut pool = Pool::default();
    for book in &mut loans {
        let paid_out = counted
            .get(&(Some(book.loan), Purpose::Disbursement))
            .cloned()
            .unwrap_or_default();
        if matches!(book.state, LoanState::Invalid) {
            continue;
        }
        let total: Decimal = paid_out.iter().map(|(_, a)| *a).sum();
        book.disbursed = total.min(book.amount);
        book.started = paid_out.iter().map(|(t, _)| *t).min();
        book.cap_total = to_cents(book.cap * book.disbursed);
        if book.disbursed > Decimal::ZERO {
            book.state = LoanState::Active;
        }
        // Claims, period by period.
        let mut claimed = Decimal::ZERO;
        if book.started.is_some() {
            for ((loan, period), r) in in_effect.range((book.loan, 0)..=(book.loan, u32::MAX)) {
                debug_assert_eq!(*loan, book.loan);
                let raw = period_claim(book.share, r.v().surplus.value(), book.floor);
                let claim = raw.min(book.cap_total - claimed).max(Decimal::ZERO);
                claimed += claim;
                book.periods.push(PeriodLine {
                    period: *period,
                    report: r.at,
                    reported: r.v().issued,
                    revenue: r.v().revenue.value(),
                    surplus: r.v().surplus.value(),
                    claim,
                    paid: Decimal::ZERO,
                });
            }
        }
        book.claimed = claimed;
        let repayments: Decimal = counted
            .get(&(Some(book.loan), Purpose::Repayment))
            .map(|v| v.iter().map(|(_, a)| *a).sum())
            .unwrap_or_default();
        book.repaid = repayments.min(book.cap_total);
        book.overpaid = repayments - book.repaid;
        let mut left = book.repaid;
        for line in &mut book.periods {
            line.paid = line.claim.min(left);
            left -= line.paid;
        }
        book.claims_open = (book.claimed - book.repaid).max(Decimal::ZERO);
        book.outstanding = (book.disbursed - book.repaid).max(Decimal::ZERO);
        let written_off = write_offs.get(&book.loan).map_or(0, BTreeSet::len) >= need;
        if book.state == LoanState::Active && book.repaid >= book.cap_total {
            book.state = LoanState::Repaid;
        } else if written_off && book.state == LoanState::Active {
            book.state = LoanState::WrittenOff;
            book.written_off = book.outstanding;
            book.claims_open = Decimal::ZERO;
        }
        if book.state == LoanState::Active
            && let Some(start) = book.started
        {
            let len = i64::from(book.period_days) * DAY_MS;
            let ended = now.0.saturating_sub(start.0).max(0) / len;
            let ended = u32::try_from(ended)
                .unwrap_or(u32::MAX)
                .min(super::statements::MAX_PERIOD);
            let reported: BTreeSet<u32> = book.periods.iter().map(|p| p.period).collect();
            book.missing_periods = (1..=ended).filter(|p| !reported.contains(p)).collect();
        }
        pool.disbursed += book.disbursed;
        pool.repaid += book.repaid;
        pool.returns += (book.repaid - book.disbursed).max(Decimal::ZERO);
        match book.state {
            LoanState::Active => pool.out_on_loan += book.outstanding,
            LoanState::WrittenOff => pool.written_off += book.written_off,
            _ => {}
        }
    }
    pool.contributed = counted
        .get(&(None, Purpose::Contribution))
        .map(|v| v.iter().map(|(_, a)| *a).sum())
        .unwrap_or_default();
    pool.available = pool.contributed - pool.disbursed + pool.repaid;
    // Every amount shows two decimal places, whatever the arithmetic left.
    for b in &mut loans {
        for d in [
            &mut b.amount,
            &mut b.floor,
            &mut b.disbursed,
            &mut b.cap_total,
            &mut b.claimed,
            &mut b.repaid,
            &mut b.overpaid,
            &mut b.claims_open,
            &mut b.outstanding,
            &mut b.written_off,
        ] {
            d.rescale(2);
        }
        for p in &mut b.periods {
            for d in [&mut p.revenue, &mut p.surplus, &mut p.claim, &mut p.paid] {
                d.rescale(2);
            }
        }
    }
    for d in [
        &mut pool.contributed,
        &mut pool.disbursed,
        &mut pool.repaid,
        &mut pool.out_on_loan,
        &mut pool.written_off,
        &mut pool.returns,
        &mut pool.available,
    ] {
        d.rescale(2);
    }
    for t in &mut transfers {
        t.amount.rescale(2);
    }
    loans.sort_by_key(|b| {
        let issued = loans_here.get(&b.loan).map(|l| l.v().issued);
        (issued, b.loan)
    });
    FundBook {
        fund: facts.fund.at,
        name: fund.name.clone(),
        unit: unit.to_string(),
        stewards: fund.stewards.clone(),
        approvals: fund.approvals,
        pool,
        loans,
        transfers,
    }
}
