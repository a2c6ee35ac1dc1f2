//! A revolving fund over the API: founding one, proposing, deciding on, paying out, reporting
//! on and repaying loans, confirming transfers, and the books derived from all of it.
//!
//! The node refuses here what the books would not count (a non-steward's approval, a borrower
//! reporting on another's loan, a disbursement beyond the pool), so a member learns at once
//! rather than from a statement that silently does not count. The books themselves never rely
//! on these checks: they apply the same rules to whatever any node wrote.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use minga_protocol::fund::{
    Approval, Confirmation, Fund, FundBook, Loan, LoanBook, LoanState, Purpose, Report, Transfer,
    Verdict, derive_books,
};
use minga_protocol::{CoopId, Quantity, Record, RecordKind, RecordRef, Timestamp, Unit};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{opt, req};
use super::records::{Answer, of_kind, signed, write};
use super::{Body, Shared};

/// A fund as a client founds it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundInput {
    name: String,
    /// An ISO 4217 code, e.g. `ARS`.
    unit: String,
    /// Steward co-ops (ids or unique prefixes); this co-op alone when empty.
    #[serde(default)]
    stewards: Vec<String>,
    /// Approvals needed; 1 when absent.
    #[serde(default)]
    approvals: Option<u32>,
    #[serde(default)]
    note: Option<String>,
}

/// A loan as the borrower proposes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoanInput {
    amount: String,
    project: String,
    /// Percent of surplus above the floor.
    share: String,
    floor: String,
    /// Multiple of the amount; 1 when absent.
    #[serde(default)]
    cap: Option<String>,
    /// Days per reporting period; 30 when absent.
    #[serde(default)]
    period_days: Option<u32>,
    #[serde(default)]
    note: Option<String>,
}

/// Money that moved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    amount: String,
    /// The transfer this one corrects.
    #[serde(default)]
    corrects: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// A steward's decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    verdict: String,
    #[serde(default)]
    note: Option<String>,
}

/// A period report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    period: u32,
    revenue: String,
    surplus: String,
    #[serde(default)]
    corrects: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// A note, for confirmations.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    #[serde(default)]
    note: Option<String>,
}

fn note(n: Option<String>) -> Option<String> {
    n.filter(|n| !n.trim().is_empty())
}

/// An amount in the fund's currency: `1500.50 ARS`, or a bare number meaning that currency.
fn amount(name: &str, given: &str, unit: Unit, zero_ok: bool) -> Result<Quantity, ApiError> {
    let given = given.trim();
    let q = match given.parse::<Quantity>() {
        Ok(q) => q,
        Err(_) => {
            let d: Decimal = req(name, given)?;
            Quantity::new(d, unit).map_err(|e| ApiError::field(name, e))?
        }
    };
    if q.unit() != unit {
        return Err(ApiError::field(
            name,
            format!("the fund keeps its books in {unit}, not {}", q.unit()),
        ));
    }
    if !zero_ok && q.value().is_zero() {
        return Err(ApiError::field(name, "must be more than zero"));
    }
    Ok(q)
}

/// The books of one fund, by its record id (or a unique prefix).
async fn books(s: &Shared, id: &str) -> Result<(FundBook, Fund), ApiError> {
    let d = s.node.detail(id).await?;
    let at = of_kind(&d, RecordKind::Fund, id)?;
    let Record::Fund(fund) = d.record else {
        return Err(ApiError::bad(
            format!("{id} is not a fund"),
            "give a fund's id",
        ));
    };
    let facts = s.node.funds(Some(at)).await?;
    let book = facts
        .first()
        .map(|f| derive_books(f, Timestamp::now()))
        .ok_or_else(|| {
            ApiError::not_found(
                format!("fund {id} is not held here"),
                "the fund's co-op may not be replicated here: `minga coop list`",
            )
        })?;
    Ok((book, fund.value().clone()))
}

/// A loan's books, with its fund's.
async fn loan_books(s: &Shared, id: &str) -> Result<(LoanBook, FundBook, Fund), ApiError> {
    let d = s.node.detail(id).await?;
    let at = of_kind(&d, RecordKind::Loan, id)?;
    let fund = d.view.refers_to.as_deref().copied().ok_or_else(|| {
        ApiError::bad(
            "the loan names no fund",
            "the record is damaged: see it with `minga show`",
        )
    })?;
    let (book, f) = books(s, &fund.record.to_string()).await?;
    let loan = book
        .loans
        .iter()
        .find(|l| l.loan == at)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(
                format!("loan {id} is not one of fund {}'s", fund.record),
                "the fund's co-op may not be replicated here: `minga coop list`",
            )
        })?;
    Ok((loan, book, f))
}

pub(super) async fn list(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let now = Timestamp::now();
    let out: Vec<Value> = s
        .node
        .funds(None)
        .await?
        .iter()
        .map(|f| {
            let b = derive_books(f, now);
            json!({
                "id": b.fund.record.to_string(),
                "ref": b.fund.to_string(),
                "name": b.name,
                "unit": b.unit,
                "stewards": b.stewards.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "approvals": b.approvals,
                "pool": b.pool,
                "loans": b.loans.len(),
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

pub(super) async fn show(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (book, _) = books(&s, &id).await?;
    Ok(Json(json!(book)))
}

pub(super) async fn create(State(s): State<Shared>, Body(input): Body<FundInput>) -> Answer {
    let (coop, _) = s.home().await?;
    let unit: Unit = req("unit", &input.unit)?;
    let mut stewards = Vec::new();
    for given in &input.stewards {
        let c = s.coop(given).await?;
        if !stewards.contains(&c) {
            stewards.push(c);
        }
    }
    if stewards.is_empty() {
        stewards.push(coop);
    }
    let fund = Fund {
        signer: s.member()?.key.public(),
        coop,
        name: input.name.trim().to_string(),
        unit,
        stewards,
        approvals: input.approvals.unwrap_or(1),
        issued: Timestamp::now(),
        note: note(input.note),
    };
    write(&s, None, Record::Fund(signed(fund, &s)?)).await
}

pub(super) async fn propose(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<LoanInput>,
) -> Answer {
    let (book, fund) = books(&s, &id).await?;
    let (coop, _) = s.home().await?;
    let loan = Loan {
        signer: s.member()?.key.public(),
        coop,
        fund: book.fund,
        amount: amount("amount", &input.amount, fund.unit, false)?,
        project: input.project.trim().to_string(),
        share: req("share", input.share.trim_end_matches('%'))?,
        floor: amount("floor", &input.floor, fund.unit, true)?,
        cap: opt("cap", &input.cap)?.unwrap_or(Decimal::ONE),
        period_days: input.period_days.unwrap_or(30),
        issued: Timestamp::now(),
        note: note(input.note),
    };
    write(&s, None, Record::Loan(signed(loan, &s)?)).await
}

fn is_steward(fund: &Fund, coop: CoopId) -> Result<(), ApiError> {
    if fund.stewards.contains(&coop) {
        Ok(())
    } else {
        Err(ApiError::refused(
            "this co-op is not one of the fund's stewards",
            "only a steward co-op's admins decide on loans and pay them out",
        ))
    }
}

/// The transfer a correction replaces: this co-op's own, of the same purpose and loan.
async fn corrects(
    s: &Shared,
    given: &Option<String>,
    book: &FundBook,
    purpose: Purpose,
    loan: Option<RecordRef>,
    coop: CoopId,
) -> Result<Option<RecordRef>, ApiError> {
    let Some(id) = given.as_deref().map(str::trim).filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    let d = s.node.detail(id).await?;
    let at = of_kind(&d, RecordKind::Transfer, id)?;
    let same = book
        .transfers
        .iter()
        .any(|t| t.transfer == at && t.purpose == purpose && t.loan == loan && t.from == coop);
    if !same {
        return Err(ApiError::refused(
            format!("{id} is not this co-op's {purpose} here"),
            "a correction replaces one of your own transfers of the same kind",
        ));
    }
    Ok(Some(at))
}

pub(super) async fn contribute(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<TransferInput>,
) -> Answer {
    let (book, fund) = books(&s, &id).await?;
    let (coop, _) = s.home().await?;
    let corrects = corrects(
        &s,
        &input.corrects,
        &book,
        Purpose::Contribution,
        None,
        coop,
    )
    .await?;
    let q = amount("amount", &input.amount, fund.unit, corrects.is_some())?;
    let purpose = Purpose::Contribution;
    transfer(&s, &book, None, purpose, q, corrects, input.note).await
}

/// Signs and writes a transfer of this co-op's.
async fn transfer(
    s: &Shared,
    book: &FundBook,
    loan: Option<RecordRef>,
    purpose: Purpose,
    amount: Quantity,
    corrects: Option<RecordRef>,
    text: Option<String>,
) -> Answer {
    let (coop, _) = s.home().await?;
    let t = Transfer {
        signer: s.member()?.key.public(),
        coop,
        fund: book.fund,
        loan,
        purpose,
        amount,
        corrects,
        issued: Timestamp::now(),
        note: note(text),
    };
    write(s, None, Record::Transfer(signed(t, s)?)).await
}

pub(super) async fn decide(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<DecisionInput>,
) -> Answer {
    let (loan, _, fund) = loan_books(&s, &id).await?;
    let (coop, _) = s.home().await?;
    is_steward(&fund, coop)?;
    if loan.borrower == coop {
        return Err(ApiError::refused(
            "a steward does not decide on its own co-op's loan",
            "the other stewards decide on it",
        ));
    }
    let verdict: Verdict = req("verdict", &input.verdict)?;
    if verdict == Verdict::WriteOff && loan.state != LoanState::Active {
        return Err(ApiError::refused(
            format!(
                "only an active loan is written off; this one is {:?}",
                loan.state
            ),
            "see the loan with `minga fund loan`",
        ));
    }
    let a = Approval {
        signer: s.member()?.key.public(),
        coop,
        loan: loan.loan,
        verdict,
        issued: Timestamp::now(),
        note: note(input.note),
    };
    write(&s, None, Record::Approval(signed(a, &s)?)).await
}

/// What paying a loan out or back starts from: its books and its fund's, checked to be this
/// co-op's to move (a steward pays out, the borrower repays), and the amount with the transfer
/// it corrects, if any.
struct LoanMove {
    loan: LoanBook,
    book: FundBook,
    fund: Fund,
    corrects: Option<RecordRef>,
    amount: Quantity,
}

async fn loan_move(
    s: &Shared,
    id: &str,
    input: &TransferInput,
    purpose: Purpose,
) -> Result<LoanMove, ApiError> {
    let (loan, book, fund) = loan_books(s, id).await?;
    let (coop, _) = s.home().await?;
    match purpose {
        Purpose::Disbursement => is_steward(&fund, coop)?,
        Purpose::Repayment | Purpose::Contribution => borrower(&loan, coop)?,
    }
    let corrects = corrects(s, &input.corrects, &book, purpose, Some(loan.loan), coop).await?;
    let amount = amount("amount", &input.amount, fund.unit, corrects.is_some())?;
    Ok(LoanMove {
        loan,
        book,
        fund,
        corrects,
        amount,
    })
}

pub(super) async fn disburse(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<TransferInput>,
) -> Answer {
    let purpose = Purpose::Disbursement;
    let LoanMove {
        loan,
        book,
        fund,
        corrects,
        amount: q,
    } = loan_move(&s, &id, &input, purpose).await?;
    if !matches!(loan.state, LoanState::Agreed | LoanState::Active) {
        return Err(ApiError::refused(
            format!("the loan is {:?}, not agreed", loan.state),
            "stewards approve it first: `minga fund approve`",
        ));
    }
    if corrects.is_none() {
        // What stewards already said they paid out, confirmed or not, counts against it.
        let stated: Decimal = book
            .transfers
            .iter()
            .filter(|t| {
                t.loan == Some(loan.loan)
                    && t.purpose == purpose
                    && !t.corrected
                    && fund.stewards.contains(&t.from)
            })
            .map(|t| t.amount)
            .sum();
        if stated + q.value() > loan.amount {
            return Err(ApiError::refused(
                format!(
                    "{} {} is more than the {} {} left to pay out on this loan",
                    q.value(),
                    fund.unit,
                    loan.amount - stated,
                    fund.unit
                ),
                "pay out at most what the loan asked for",
            ));
        }
        if q.value() > book.pool.available {
            return Err(ApiError::refused(
                format!(
                    "the fund has {} {} available, less than {}",
                    book.pool.available, fund.unit, q
                ),
                "a contribution must be confirmed first: `minga fund contribute`",
            ));
        }
    }
    transfer(&s, &book, Some(loan.loan), purpose, q, corrects, input.note).await
}

fn borrower(loan: &LoanBook, coop: CoopId) -> Result<(), ApiError> {
    if loan.borrower == coop {
        Ok(())
    } else {
        Err(ApiError::refused(
            "only the borrowing co-op reports on and repays its loan",
            "run this on a node of the co-op that proposed the loan",
        ))
    }
}

pub(super) async fn report(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<ReportInput>,
) -> Answer {
    let (loan, _, fund) = loan_books(&s, &id).await?;
    let (coop, _) = s.home().await?;
    borrower(&loan, coop)?;
    let corrects = match input
        .corrects
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(c) => {
            let d = s.node.detail(c).await?;
            let at = of_kind(&d, RecordKind::Report, c)?;
            if !loan
                .periods
                .iter()
                .any(|p| p.report == at && p.period == input.period)
            {
                return Err(ApiError::refused(
                    format!(
                        "{c} is not the report in effect for period {}",
                        input.period
                    ),
                    "correct the report the loan shows for that period",
                ));
            }
            Some(at)
        }
    };
    if corrects.is_none() && loan.periods.iter().any(|p| p.period == input.period) {
        return Err(ApiError::refused(
            format!("period {} is already reported", input.period),
            "correct it instead: --corrects <the report's id>",
        ));
    }
    let r = Report {
        signer: s.member()?.key.public(),
        coop,
        loan: loan.loan,
        period: input.period,
        revenue: amount("revenue", &input.revenue, fund.unit, true)?,
        surplus: amount("surplus", &input.surplus, fund.unit, true)?,
        corrects,
        issued: Timestamp::now(),
        note: note(input.note),
    };
    write(&s, None, Record::Report(signed(r, &s)?)).await
}

pub(super) async fn repay(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<TransferInput>,
) -> Answer {
    let purpose = Purpose::Repayment;
    let LoanMove {
        loan,
        book,
        fund,
        corrects,
        amount: q,
    } = loan_move(&s, &id, &input, purpose).await?;
    if corrects.is_none() && q.value() > loan.cap_total - loan.repaid {
        return Err(ApiError::refused(
            format!(
                "{q} is more than the {} {} left under the cap",
                loan.cap_total - loan.repaid,
                fund.unit
            ),
            "a loan is never repaid beyond its cap",
        ));
    }
    transfer(&s, &book, Some(loan.loan), purpose, q, corrects, input.note).await
}

pub(super) async fn confirm(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(input): Body<NoteInput>,
) -> Answer {
    let d = s.node.detail(&id).await?;
    let at = of_kind(&d, RecordKind::Transfer, &id)?;
    let Record::Transfer(t) = d.record else {
        return Err(ApiError::bad(
            format!("{id} is not a transfer"),
            "give the id `minga fund contribute`, `disburse` or `repay` printed",
        ));
    };
    let t = t.value();
    let (book, fund) = books(&s, &t.fund.record.to_string()).await?;
    let (coop, _) = s.home().await?;
    let receiver_ok = match t.purpose {
        Purpose::Contribution | Purpose::Repayment => fund.stewards.contains(&coop),
        Purpose::Disbursement => book
            .loans
            .iter()
            .any(|l| Some(l.loan) == t.loan && l.borrower == coop),
    };
    if !receiver_ok {
        return Err(ApiError::refused(
            format!("this co-op does not receive this {}", t.purpose),
            "a steward confirms contributions and repayments; the borrower confirms a disbursement",
        ));
    }
    let c = Confirmation {
        signer: s.member()?.key.public(),
        coop,
        transfer: at,
        issued: Timestamp::now(),
        note: note(input.note),
    };
    write(&s, None, Record::Confirmation(signed(c, &s)?)).await
}

pub(super) async fn loan(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (loan, book, _) = loan_books(&s, &id).await?;
    let transfers: Vec<_> = book
        .transfers
        .iter()
        .filter(|t| t.loan == Some(loan.loan))
        .collect();
    Ok(Json(json!({
        "fund": { "id": book.fund.record.to_string(), "name": book.name, "unit": book.unit },
        "loan": loan,
        "transfers": transfers,
    })))
}

/// Writing CSV into memory does not fail; should it, the message says why.
const CSV_HINT: &str = "try again; if it persists, report it with the message above";

/// A loan's history as CSV, for a fund's bookkeeper: one row per report, claim, transfer.
pub(super) async fn history_csv(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (loan, book, _) = loan_books(&s, &id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let row = |out: &mut csv::Writer<Vec<u8>>, cells: [String; 8]| {
        out.write_record(cells)
            .map_err(|e| ApiError::bad(e.to_string(), CSV_HINT))
    };
    row(
        &mut out,
        [
            "date", "event", "record", "co-op", "period", "amount", "currency", "counts",
        ]
        .map(String::from),
    )?;
    for t in book.transfers.iter().filter(|t| t.loan == Some(loan.loan)) {
        row(
            &mut out,
            [
                t.issued.to_string(),
                t.purpose.to_string(),
                t.transfer.record.to_string(),
                t.from.to_string(),
                String::new(),
                t.amount.to_string(),
                book.unit.clone(),
                t.why_not.map_or("yes".into(), |w| format!("no: {w}")),
            ],
        )?;
    }
    for p in &loan.periods {
        for (event, value) in [
            ("revenue", p.revenue),
            ("surplus", p.surplus),
            ("claim", p.claim),
            ("claim paid", p.paid),
        ] {
            row(
                &mut out,
                [
                    p.reported.to_string(),
                    event.into(),
                    p.report.record.to_string(),
                    loan.borrower.to_string(),
                    p.period.to_string(),
                    value.to_string(),
                    book.unit.clone(),
                    "yes".into(),
                ],
            )?;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::bad(e.to_string(), CSV_HINT))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}
