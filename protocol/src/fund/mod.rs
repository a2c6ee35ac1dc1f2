//! A revolving fund: capital lent to a co-op for a productive project, repaid only from the
//! revenue the project generates, every repayment returned to a pool the steward co-ops
//! oversee, to be lent again. Every step is a signed statement in the signer's co-op ledger;
//! balances, claims and the pool are derived ([`book`]).

pub mod book;
mod statements;

pub use book::{
    FundBook, FundFacts, Held, LoanBook, LoanState, PeriodLine, Pool, TransferLine, derive_books,
    period_claim, to_cents,
};
pub use statements::{
    Approval, Confirmation, Fund, Loan, MAX_AMOUNT, MAX_CAP, MAX_PERIOD, MAX_PERIOD_DAYS,
    MAX_STEWARDS, Purpose, Report, Transfer, Verdict, check,
};
