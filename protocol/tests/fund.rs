//! A revolving fund's books, derived from signed statements: a loan's whole life against a
//! table computed by hand, the rules on who counts, the cap, corrections, write-offs, the pool,
//! and the same books whatever order the statements arrive in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minga_protocol::fund::*;
use minga_protocol::*;
use rust_decimal::Decimal;

const DAY: i64 = 86_400_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

fn ars(s: &str) -> Quantity {
    format!("{s} ARS").parse().unwrap()
}

/// Co-ops by number; each signs with one key.
struct World {
    facts: Option<FundFacts>,
    next: u32,
}

fn coop(n: u8) -> CoopId {
    CoopId(Hash::of(&[b'c', n]))
}

fn key(n: u8) -> MemberSecret {
    MemberSecret::from_seed(&[n; 32])
}

const BORROWER: u8 = 1;
const S1: u8 = 2;
const S2: u8 = 3;
const OUTSIDER: u8 = 4;

impl World {
    /// A fund of co-op S1, stewarded by S1 and S2, both needed.
    fn new() -> World {
        let mut w = World {
            facts: None,
            next: 0,
        };
        let fund = Fund {
            signer: key(S1).public(),
            coop: coop(S1),
            name: "Fondo Rotatorio del Oeste".into(),
            unit: "ARS".parse().unwrap(),
            stewards: vec![coop(S1), coop(S2)],
            approvals: 2,
            issued: Timestamp(0),
            note: None,
        };
        let at = w.at(S1);
        w.facts = Some(FundFacts {
            fund: Held {
                at,
                statement: Signed::sign(fund, &key(S1).0).unwrap(),
            },
            loans: vec![],
            approvals: vec![],
            transfers: vec![],
            reports: vec![],
            confirmations: vec![],
        });
        w
    }

    fn at(&mut self, by: u8) -> RecordRef {
        self.next += 1;
        RecordRef {
            coop: coop(by),
            record: RecordId(Hash::of(&self.next.to_be_bytes())),
        }
    }

    fn f(&mut self) -> &mut FundFacts {
        self.facts.as_mut().unwrap()
    }

    fn fund(&self) -> RecordRef {
        self.facts.as_ref().unwrap().fund.at
    }

    fn loan(&mut self, amount: &str, share: &str, floor: &str, cap: &str, t: i64) -> RecordRef {
        let l = Loan {
            signer: key(BORROWER).public(),
            coop: coop(BORROWER),
            fund: self.fund(),
            amount: ars(amount),
            project: "Horno nuevo para la panadería".into(),
            share: d(share),
            floor: ars(floor),
            cap: d(cap),
            period_days: 30,
            issued: Timestamp(t),
            note: None,
        };
        let at = self.at(BORROWER);
        let statement = Signed::sign(l, &key(BORROWER).0).unwrap();
        self.f().loans.push(Held { at, statement });
        at
    }

    fn decide(&mut self, by: u8, loan: RecordRef, verdict: Verdict, t: i64) {
        let a = Approval {
            signer: key(by).public(),
            coop: coop(by),
            loan,
            verdict,
            issued: Timestamp(t),
            note: None,
        };
        let at = self.at(by);
        let statement = Signed::sign(a, &key(by).0).unwrap();
        self.f().approvals.push(Held { at, statement });
    }

    fn transfer(
        &mut self,
        by: u8,
        purpose: Purpose,
        loan: Option<RecordRef>,
        amount: &str,
        corrects: Option<RecordRef>,
        t: i64,
    ) -> RecordRef {
        let x = Transfer {
            signer: key(by).public(),
            coop: coop(by),
            fund: self.fund(),
            loan,
            purpose,
            amount: ars(amount),
            corrects,
            issued: Timestamp(t),
            note: None,
        };
        let at = self.at(by);
        let statement = Signed::sign(x, &key(by).0).unwrap();
        self.f().transfers.push(Held { at, statement });
        at
    }

    fn confirm(&mut self, by: u8, transfer: RecordRef, t: i64) {
        let c = Confirmation {
            signer: key(by).public(),
            coop: coop(by),
            transfer,
            issued: Timestamp(t),
            note: None,
        };
        let at = self.at(by);
        let statement = Signed::sign(c, &key(by).0).unwrap();
        self.f().confirmations.push(Held { at, statement });
    }

    /// A transfer confirmed by `to`.
    fn paid(
        &mut self,
        by: u8,
        to: u8,
        purpose: Purpose,
        loan: Option<RecordRef>,
        amount: &str,
        t: i64,
    ) -> RecordRef {
        let at = self.transfer(by, purpose, loan, amount, None, t);
        self.confirm(to, at, t + 1);
        at
    }

    fn report(
        &mut self,
        loan: RecordRef,
        period: u32,
        revenue: &str,
        surplus: &str,
        corrects: Option<RecordRef>,
        t: i64,
    ) -> RecordRef {
        let r = Report {
            signer: key(BORROWER).public(),
            coop: coop(BORROWER),
            loan,
            period,
            revenue: ars(revenue),
            surplus: ars(surplus),
            corrects,
            issued: Timestamp(t),
            note: None,
        };
        let at = self.at(BORROWER);
        let statement = Signed::sign(r, &key(BORROWER).0).unwrap();
        self.f().reports.push(Held { at, statement });
        at
    }

    fn books(&self, now: i64) -> FundBook {
        derive_books(self.facts.as_ref().unwrap(), Timestamp(now))
    }
}

fn loan_of(b: &FundBook, at: RecordRef) -> &LoanBook {
    b.loans.iter().find(|l| l.loan == at).unwrap()
}

/// Two contributions, then a loan of 50,000 ARS at 20 % of the surplus above 10,000 ARS a
/// period, capped at 1.2× (60,000 ARS), over five periods.
///
/// | period | surplus | above floor | 20 % of it | left under cap | claim |
/// |---:|---:|---:|---:|---:|---:|
/// | 1 | 8,000 | — | — | 60,000 | 0 |
/// | 2 | 45,000 | 35,000 | 7,000 | 60,000 | 7,000 |
/// | 3 | 160,000 (corrected from 150,000) | 150,000 | 30,000 | 53,000 | 30,000 |
/// | 4 | 130,000 | 120,000 | 24,000 | 23,000 | 23,000 |
/// | 5 | 90,000 | 80,000 | 16,000 | 0 | 0 |
///
/// Repayments of 7,000, 30,000 and 25,000 (62,000): 60,000 counts, 2,000 is overpaid.
fn first_loan(w: &mut World) -> RecordRef {
    w.paid(S1, S2, Purpose::Contribution, None, "60000", 10);
    w.paid(S2, S1, Purpose::Contribution, None, "40000", 20);
    let loan = w.loan("50000", "20", "10000", "1.2", 100);
    w.decide(S1, loan, Verdict::Approve, 200);
    w.decide(S2, loan, Verdict::Approve, 210);
    let start = 1_000;
    w.paid(
        S1,
        BORROWER,
        Purpose::Disbursement,
        Some(loan),
        "50000",
        start,
    );
    let p = |k: i64| start + k * 30 * DAY;
    w.report(loan, 1, "80000", "8000", None, p(1));
    w.report(loan, 2, "150000", "45000", None, p(2));
    let wrong = w.report(loan, 3, "300000", "150000", None, p(3));
    w.report(loan, 3, "300000", "160000", Some(wrong), p(3) + 5);
    w.report(loan, 4, "280000", "130000", None, p(4));
    w.report(loan, 5, "200000", "90000", None, p(5));
    w.paid(
        BORROWER,
        S2,
        Purpose::Repayment,
        Some(loan),
        "7000",
        p(2) + 10,
    );
    w.paid(
        BORROWER,
        S1,
        Purpose::Repayment,
        Some(loan),
        "30000",
        p(3) + 10,
    );
    w.paid(
        BORROWER,
        S1,
        Purpose::Repayment,
        Some(loan),
        "25000",
        p(4) + 10,
    );
    loan
}

#[test]
fn a_loans_whole_life_matches_the_table_computed_by_hand() {
    let mut w = World::new();
    let loan = first_loan(&mut w);
    let b = w.books(1_000 + 5 * 30 * DAY + 100);
    let l = loan_of(&b, loan);
    let claims: Vec<(u32, Decimal, Decimal)> = l
        .periods
        .iter()
        .map(|p| (p.period, p.surplus, p.claim))
        .collect();
    assert_eq!(
        claims,
        vec![
            (1, d("8000"), d("0")),
            (2, d("45000"), d("7000")),
            (3, d("160000"), d("30000")),
            (4, d("130000"), d("23000")),
            (5, d("90000"), d("0")),
        ]
    );
    let paid: Vec<Decimal> = l.periods.iter().map(|p| p.paid).collect();
    assert_eq!(
        paid,
        vec![d("0"), d("7000"), d("30000"), d("23000"), d("0")]
    );
    assert_eq!(l.state, LoanState::Repaid);
    assert_eq!(l.disbursed, d("50000"));
    assert_eq!(l.cap_total, d("60000"));
    assert_eq!(l.claimed, d("60000"));
    assert_eq!(l.repaid, d("60000"), "repayments never pass the cap");
    assert_eq!(l.overpaid, d("2000"));
    assert_eq!(l.claims_open, d("0"));
    assert_eq!(l.outstanding, d("0"));
    assert!(l.missing_periods.is_empty());
    assert_eq!(l.approved_by, vec![coop(S1), coop(S2)]);
    // The pool: 100,000 in, 50,000 out, 60,000 back.
    assert_eq!(b.pool.contributed, d("100000"));
    assert_eq!(b.pool.disbursed, d("50000"));
    assert_eq!(b.pool.repaid, d("60000"));
    assert_eq!(b.pool.returns, d("10000"));
    assert_eq!(b.pool.available, d("110000"));
}

#[test]
fn a_period_at_or_below_the_floor_creates_no_claim() {
    assert_eq!(period_claim(d("20"), d("8000"), d("10000")), d("0"));
    assert_eq!(period_claim(d("20"), d("10000"), d("10000")), d("0"));
    assert_eq!(period_claim(d("20"), d("10000.05"), d("10000")), d("0.01"));
    // To the cent, half away from zero: 12.5 % of 1,000.12 is 125.015.
    assert_eq!(period_claim(d("12.5"), d("1000.12"), d("0")), d("125.02"));
    assert_eq!(period_claim(d("12.5"), d("1000.10"), d("0")), d("125.01"));
}

#[test]
fn only_stewards_other_than_the_borrower_approve_and_each_votes_once() {
    let mut w = World::new();
    let loan = w.loan("1000", "10", "0", "1", 100);
    w.decide(S1, loan, Verdict::Approve, 200);
    // An outsider's approval and the borrower's own do not count.
    w.decide(OUTSIDER, loan, Verdict::Approve, 210);
    w.decide(BORROWER, loan, Verdict::Approve, 220);
    assert_eq!(loan_of(&w.books(0), loan).state, LoanState::Proposed);
    assert_eq!(loan_of(&w.books(0), loan).approved_by, vec![coop(S1)]);
    // S2's first vote is a decline: a later approval does not change it, and with two needed
    // the loan can no longer be agreed.
    w.decide(S2, loan, Verdict::Decline, 230);
    w.decide(S2, loan, Verdict::Approve, 240);
    let b = w.books(0);
    assert_eq!(loan_of(&b, loan).state, LoanState::Declined);
    assert_eq!(loan_of(&b, loan).declined_by, vec![coop(S2)]);
}

#[test]
fn money_counts_only_when_the_right_side_signs_and_confirms() {
    let mut w = World::new();
    // Unconfirmed, and confirmed by a non-steward: neither counts.
    w.transfer(OUTSIDER, Purpose::Contribution, None, "500", None, 1);
    let c = w.transfer(OUTSIDER, Purpose::Contribution, None, "700", None, 2);
    w.confirm(BORROWER, c, 3);
    assert_eq!(w.books(0).pool.contributed, d("0"));
    w.confirm(S2, c, 4);
    assert_eq!(w.books(0).pool.contributed, d("700"));
    // Corrected: the correction replaces it, once confirmed.
    let fixed = w.transfer(OUTSIDER, Purpose::Contribution, None, "750", Some(c), 5);
    assert_eq!(w.books(0).pool.contributed, d("0"));
    w.confirm(S1, fixed, 6);
    assert_eq!(w.books(0).pool.contributed, d("750"));
    // Paying out a loan that is not agreed counts nothing until it is agreed.
    let loan = w.loan("1000", "10", "0", "1", 10);
    w.paid(S1, BORROWER, Purpose::Disbursement, Some(loan), "500", 11);
    let b = w.books(0);
    assert_eq!(loan_of(&b, loan).disbursed, d("0"));
    let why: Vec<_> = b.transfers.iter().filter_map(|t| t.why_not).collect();
    assert!(why.contains(&"the loan is not agreed"), "{why:?}");
    w.decide(S1, loan, Verdict::Approve, 12);
    w.decide(S2, loan, Verdict::Approve, 13);
    assert_eq!(loan_of(&w.books(0), loan).disbursed, d("500"));
    assert_eq!(loan_of(&w.books(0), loan).state, LoanState::Active);
    // A co-op that is no steward pays out nothing.
    w.paid(
        OUTSIDER,
        BORROWER,
        Purpose::Disbursement,
        Some(loan),
        "500",
        14,
    );
    let b = w.books(0);
    assert_eq!(loan_of(&b, loan).disbursed, d("500"));
    let why: Vec<_> = b.transfers.iter().filter_map(|t| t.why_not).collect();
    assert!(why.contains(&"not paid out by a steward"), "{why:?}");
    // A steward's counts, up to the amount the loan asked for.
    w.paid(S2, BORROWER, Purpose::Disbursement, Some(loan), "500", 15);
    w.paid(S2, BORROWER, Purpose::Disbursement, Some(loan), "200", 16);
    assert_eq!(loan_of(&w.books(0), loan).disbursed, d("1000"));
    // Repayments by anyone but the borrower do not count.
    w.paid(OUTSIDER, S1, Purpose::Repayment, Some(loan), "100", 17);
    assert_eq!(loan_of(&w.books(0), loan).repaid, d("0"));
}

#[test]
fn the_pool_adds_up_after_two_loans_and_a_write_off() {
    let mut w = World::new();
    let first = first_loan(&mut w);
    let second = w.loan("30000", "10", "0", "1", 5_000);
    w.decide(S1, second, Verdict::Approve, 5_001);
    w.decide(S2, second, Verdict::Approve, 5_002);
    let start = 10_000;
    w.paid(
        S2,
        BORROWER,
        Purpose::Disbursement,
        Some(second),
        "30000",
        start,
    );
    w.report(second, 1, "90000", "50000", None, start + 30 * DAY);
    w.paid(
        BORROWER,
        S1,
        Purpose::Repayment,
        Some(second),
        "5000",
        start + 31 * DAY,
    );
    // Four periods have ended; only the first is reported.
    let now = start + 4 * 30 * DAY + 1;
    let b = w.books(now);
    let l2 = loan_of(&b, second);
    assert_eq!(l2.state, LoanState::Active);
    assert_eq!(l2.claimed, d("5000"));
    assert_eq!(l2.outstanding, d("25000"));
    assert_eq!(l2.missing_periods, vec![2, 3, 4]);
    assert_eq!(loan_of(&b, first).state, LoanState::Repaid);
    let p = &b.pool;
    assert_eq!(p.contributed, d("100000"));
    assert_eq!(p.disbursed, d("80000"));
    assert_eq!(p.repaid, d("65000"));
    assert_eq!(p.out_on_loan, d("25000"));
    assert_eq!(p.returns, d("10000"));
    assert_eq!(p.available, d("85000"));
    assert_eq!(
        p.available,
        p.contributed + p.returns - p.out_on_loan - p.written_off
    );
    // One steward's write-off is not enough; both forgive the rest.
    w.decide(S1, second, Verdict::WriteOff, now);
    assert_eq!(loan_of(&w.books(now), second).state, LoanState::Active);
    w.decide(S2, second, Verdict::WriteOff, now + 1);
    let b = w.books(now);
    let l2 = loan_of(&b, second);
    assert_eq!(l2.state, LoanState::WrittenOff);
    assert_eq!(l2.written_off, d("25000"));
    assert!(l2.missing_periods.is_empty());
    let p = &b.pool;
    assert_eq!(
        (p.out_on_loan, p.written_off, p.available),
        (d("0"), d("25000"), d("85000"))
    );
    assert_eq!(
        p.available,
        p.contributed + p.returns - p.out_on_loan - p.written_off
    );
}

#[test]
fn the_books_are_the_same_whatever_order_the_statements_arrive_in() {
    let mut w = World::new();
    first_loan(&mut w);
    let want = w.books(1 << 40);
    let facts = w.facts.clone().unwrap();
    for turn in 1..8usize {
        let mut f = facts.clone();
        let mix = |n: usize| move |i: usize| (i * (2 * turn + 1) + turn) % n.max(1);
        fn shuffle<T: Clone>(v: &mut Vec<T>, at: impl Fn(usize) -> usize) {
            let n = v.len();
            let mut out: Vec<Option<T>> = vec![None; n];
            let mut used = vec![false; n];
            for (i, x) in v.drain(..).enumerate() {
                let mut j = at(i);
                while used[j] {
                    j = (j + 1) % n;
                }
                used[j] = true;
                out[j] = Some(x);
            }
            *v = out.into_iter().map(Option::unwrap).collect();
        }
        shuffle(&mut f.transfers, mix(facts.transfers.len()));
        shuffle(&mut f.reports, mix(facts.reports.len()));
        shuffle(&mut f.confirmations, mix(facts.confirmations.len()));
        shuffle(&mut f.approvals, mix(facts.approvals.len()));
        assert_eq!(derive_books(&f, Timestamp(1 << 40)), want, "turn {turn}");
    }
}

#[test]
fn a_fund_statement_round_trips_its_record_and_bundles_for_offline_checks() {
    let w = World::new();
    let fund = w.facts.as_ref().unwrap().fund.statement.clone();
    let text = String::from_utf8(fund.bytes().to_vec()).unwrap();
    assert!(text.starts_with("minga/1 fund\n"), "{text}");
    assert_eq!(text.matches("\nsteward: ").count(), 2, "{text}");
    // Its rules are checked when written: a fund with more approvals than stewards is refused.
    let mut bad = fund.value().clone();
    bad.approvals = 3;
    let bad = Record::Fund(Signed::sign(bad, &key(S1).0).unwrap());
    let mut doc = automerge::AutoCommit::new();
    assert!(bad.write(&mut doc).is_err());
    let good = Record::Fund(fund.clone());
    let mut doc = automerge::AutoCommit::new();
    good.write(&mut doc).unwrap();
    assert_eq!(Record::read(&doc).unwrap(), good);
    assert_eq!(Commitment::of_record(good).map(|c| c.kind()), Some("fund"));
}

#[test]
fn amounts_at_their_limits_never_overflow_the_books() {
    let mut w = World::new();
    let most = MAX_AMOUNT.to_string();
    for t in 0..200 {
        w.paid(S1, S2, Purpose::Contribution, None, &most, t);
    }
    let loan = w.loan(&most, "100", "0", "10", 1_000);
    w.decide(S1, loan, Verdict::Approve, 1_001);
    w.decide(S2, loan, Verdict::Approve, 1_002);
    w.paid(
        S1,
        BORROWER,
        Purpose::Disbursement,
        Some(loan),
        &most,
        1_003,
    );
    for p in 1..=20 {
        w.report(loan, p, &most, &most, None, 2_000 + i64::from(p));
        w.paid(
            BORROWER,
            S2,
            Purpose::Repayment,
            Some(loan),
            &most,
            3_000 + i64::from(p),
        );
    }
    let b = w.books(i64::MAX);
    let l = loan_of(&b, loan);
    let most = Decimal::from(MAX_AMOUNT);
    assert_eq!(l.cap_total, most * Decimal::TEN);
    assert_eq!(l.claimed, most * Decimal::TEN);
    assert_eq!(l.repaid, most * Decimal::TEN);
    assert_eq!(l.overpaid, most * Decimal::TEN);
    assert_eq!(b.pool.contributed, most * Decimal::from(200));
    // A statement beyond the limit is refused when written.
    let over = Loan {
        amount: ars(&(MAX_AMOUNT + 1).to_string()),
        ..w.facts.as_ref().unwrap().loans[0].statement.value().clone()
    };
    let record = Record::Loan(Signed::sign(over, &key(BORROWER).0).unwrap());
    assert!(record.write(&mut automerge::AutoCommit::new()).is_err());
}
