//! `minga fund`: a revolving fund's statements and its derived books.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Failure;
use crate::client::Client;
use crate::commands::{Written, record_id, written};

/// `fund`.
#[derive(Subcommand)]
pub enum FundCmd {
    /// Found a revolving fund (admins): its stewards and how many must approve a loan.
    Create {
        /// The fund's name.
        #[arg(long)]
        name: String,
        /// The currency every amount is in (ISO 4217, e.g. ARS).
        #[arg(long)]
        unit: String,
        /// A steward co-op (id or prefix); repeat for each [default: this co-op].
        #[arg(long = "steward", value_name = "COOP")]
        stewards: Vec<String>,
        /// How many stewards other than the borrower must approve a loan or a write-off.
        #[arg(long, default_value_t = 1)]
        approvals: u32,
        #[command(flatten)]
        note: Note,
    },
    /// Every fund this node holds, with its pool.
    List(crate::Output),
    /// A fund's pool, loans and transfers.
    Show {
        /// The fund (id or prefix).
        fund: String,
        #[command(flatten)]
        out: crate::Output,
    },
    /// Record capital paid into a fund (a steward confirms it arrived).
    Contribute(MoneyArgs),
    /// Propose a loan for a project, repaid only from its revenue.
    Propose {
        /// The fund (id or prefix).
        fund: String,
        /// How much (a number in the fund's currency, or `1500 ARS`).
        #[arg(long)]
        amount: String,
        /// What the money is for.
        #[arg(long)]
        project: String,
        /// Percent of each period's surplus above the floor that goes to repayment.
        #[arg(long)]
        share: String,
        /// The surplus per period below which nothing is owed.
        #[arg(long)]
        floor: String,
        /// The most ever repaid, as a multiple of the amount (1 for no return above it).
        #[arg(long, default_value = "1")]
        cap: String,
        /// Days per reporting period, counted from the first disbursement.
        #[arg(long, default_value_t = 30)]
        period_days: u32,
        #[command(flatten)]
        note: Note,
    },
    /// Approve a loan, as a steward's admin.
    Approve(LoanArgs),
    /// Decline a loan, as a steward's admin.
    Decline(LoanArgs),
    /// Forgive what is left of an active loan, as a steward's admin.
    WriteOff(LoanArgs),
    /// Record a loan paid out, as a steward (the borrower confirms it arrived).
    Disburse(MoneyArgs),
    /// Report a period's revenue and surplus, as the borrower.
    Report {
        /// The loan (id or prefix).
        loan: String,
        /// Which period, from 1.
        #[arg(long)]
        period: u32,
        /// The project's revenue in the period.
        #[arg(long)]
        revenue: String,
        /// What was left after the project's costs (0 when it lost money).
        #[arg(long)]
        surplus: String,
        /// The report for the same period this one corrects.
        #[arg(long, value_name = "REPORT")]
        corrects: Option<String>,
        #[command(flatten)]
        note: Note,
    },
    /// Record a repayment, as the borrower (a steward confirms it arrived).
    Repay(MoneyArgs),
    /// Confirm a transfer arrived: a steward for contributions and repayments, the borrower
    /// for a disbursement.
    Confirm {
        /// The transfer (id or prefix).
        transfer: String,
        #[command(flatten)]
        note: Note,
    },
    /// A loan's terms, claims and balances.
    Loan {
        /// The loan (id or prefix).
        loan: String,
        /// Write its history as CSV to this file (`-` for standard output) instead.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        #[command(flatten)]
        out: crate::Output,
    },
}

/// A signed note and how to print the new record.
#[derive(Args)]
pub struct Note {
    /// A line of explanation, signed with the statement.
    #[arg(long)]
    note: Option<String>,
    #[command(flatten)]
    out: Written,
}

/// A decision on a loan.
#[derive(Args)]
pub struct LoanArgs {
    /// The loan (id or prefix).
    loan: String,
    #[command(flatten)]
    note: Note,
}

/// Money that moved.
#[derive(Args)]
pub struct MoneyArgs {
    /// The fund (for a contribution) or the loan (id or prefix).
    of: String,
    /// How much (a number in the fund's currency, or `1500 ARS`).
    amount: String,
    /// The transfer of yours this one corrects (use 0 to void it).
    #[arg(long, value_name = "TRANSFER")]
    corrects: Option<String>,
    #[command(flatten)]
    note: Note,
}

/// Runs `minga fund …`.
pub async fn run(api: &Client, cmd: FundCmd) -> Result<(), Failure> {
    let post = |path: String, body: Value, note: Note, what: &'static str| async move {
        let mut body = body;
        body["note"] = json!(note.note);
        let v = api.post(&path, &body).await?;
        written(&v, note.out, what);
        Ok::<(), Failure>(())
    };
    let money = |m: &MoneyArgs| json!({ "amount": m.amount, "corrects": m.corrects.as_deref().map(record_id) });
    let decide = |a: LoanArgs, verdict: &'static str, what: &'static str| {
        let path = format!("/v1/loans/{}/decisions", record_id(&a.loan));
        post(path, json!({ "verdict": verdict }), a.note, what)
    };
    match cmd {
        FundCmd::Create {
            name,
            unit,
            stewards,
            approvals,
            note,
        } => {
            let body =
                json!({ "name": name, "unit": unit, "stewards": stewards, "approvals": approvals });
            post("/v1/funds".into(), body, note, "fund founded").await
        }
        FundCmd::List(out) => {
            let v = api.get("/v1/funds").await?;
            if out.json {
                outln!("{v}");
                return Ok(());
            }
            outln!(
                "{:<12}  {:<28}  {:>14}  {:>14}  {:>5}",
                "ID",
                "NAME",
                "AVAILABLE",
                "ON LOAN",
                "LOANS"
            );
            for f in v.as_array().into_iter().flatten() {
                let unit = s(f, "unit");
                outln!(
                    "{:<12}  {:<28}  {:>14}  {:>14}  {:>5}",
                    short(s(f, "id")),
                    cut(s(f, "name"), 28),
                    format!("{} {unit}", s(&f["pool"], "available")),
                    format!("{} {unit}", s(&f["pool"], "out_on_loan")),
                    f["loans"].as_u64().unwrap_or(0)
                );
            }
            Ok(())
        }
        FundCmd::Show { fund, out } => {
            let v = api.get(&format!("/v1/funds/{}", record_id(&fund))).await?;
            if out.json {
                outln!("{v}");
            } else {
                show_fund(&v);
            }
            Ok(())
        }
        FundCmd::Contribute(m) => {
            let path = format!("/v1/funds/{}/contributions", record_id(&m.of));
            post(
                path,
                money(&m),
                m.note,
                "contribution recorded; a steward confirms it:",
            )
            .await
        }
        FundCmd::Propose {
            fund,
            amount,
            project,
            share,
            floor,
            cap,
            period_days,
            note,
        } => {
            let body = json!({
                "amount": amount, "project": project, "share": share, "floor": floor,
                "cap": cap, "period_days": period_days,
            });
            let path = format!("/v1/funds/{}/loans", record_id(&fund));
            post(path, body, note, "loan proposed").await
        }
        FundCmd::Approve(a) => decide(a, "approve", "approved; approval").await,
        FundCmd::Decline(a) => decide(a, "decline", "declined; decision").await,
        FundCmd::WriteOff(a) => decide(a, "write_off", "write-off signed; decision").await,
        FundCmd::Disburse(m) => {
            let path = format!("/v1/loans/{}/disbursements", record_id(&m.of));
            post(
                path,
                money(&m),
                m.note,
                "disbursement recorded; the borrower confirms it:",
            )
            .await
        }
        FundCmd::Repay(m) => {
            let path = format!("/v1/loans/{}/repayments", record_id(&m.of));
            post(
                path,
                money(&m),
                m.note,
                "repayment recorded; a steward confirms it:",
            )
            .await
        }
        FundCmd::Report {
            loan,
            period,
            revenue,
            surplus,
            corrects,
            note,
        } => {
            let body = json!({
                "period": period, "revenue": revenue, "surplus": surplus,
                "corrects": corrects.as_deref().map(record_id),
            });
            let path = format!("/v1/loans/{}/reports", record_id(&loan));
            post(path, body, note, "period reported; report").await
        }
        FundCmd::Confirm { transfer, note } => {
            let path = format!("/v1/transfers/{}/confirm", record_id(&transfer));
            post(path, json!({}), note, "confirmed; confirmation").await
        }
        FundCmd::Loan { loan, csv, out } => {
            if let Some(file) = csv {
                let bytes = api
                    .bytes(&format!("/v1/loans/{}/history.csv", record_id(&loan)))
                    .await?;
                let to = (file.as_os_str() != "-").then_some(&file);
                return crate::transfer::write_out(to, &bytes);
            }
            let v = api.get(&format!("/v1/loans/{}", record_id(&loan))).await?;
            if out.json {
                outln!("{v}");
            } else {
                show_loan(&v["loan"], s(&v["fund"], "unit"));
            }
            Ok(())
        }
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn cut(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn show_fund(v: &Value) {
    let unit = s(v, "unit");
    let coop = |c: &Value| short(c.as_str().unwrap_or("")).to_string();
    outln!("fund        {}", s(v, "name"));
    outln!("id          {}", s(v, "fund"));
    let stewards: Vec<String> = v["stewards"]
        .as_array()
        .into_iter()
        .flatten()
        .map(coop)
        .collect();
    outln!(
        "stewards    {} ({} to approve)",
        stewards.join(", "),
        v["approvals"]
    );
    let p = &v["pool"];
    outln!("pool");
    for (label, key) in [
        ("contributed", "contributed"),
        ("disbursed", "disbursed"),
        ("repaid", "repaid"),
        ("on loan", "out_on_loan"),
        ("written off", "written_off"),
        ("returns", "returns"),
        ("available", "available"),
    ] {
        outln!("  {label:<12} {:>14} {unit}", s(p, key));
    }
    outln!("loans");
    outln!(
        "  {:<12}  {:<12}  {:<11}  {:>12}  {:>12}  {:>12}  PROJECT",
        "ID",
        "BORROWER",
        "STATE",
        "DISBURSED",
        "REPAID",
        "CLAIMS OPEN"
    );
    for l in v["loans"].as_array().into_iter().flatten() {
        outln!(
            "  {:<12}  {:<12}  {:<11}  {:>12}  {:>12}  {:>12}  {}",
            short(
                l["loan"]
                    .as_str()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
            ),
            coop(&l["borrower"]),
            s(l, "state"),
            s(l, "disbursed"),
            s(l, "repaid"),
            s(l, "claims_open"),
            cut(s(l, "project"), 40)
        );
    }
    let pending: Vec<&Value> = v["transfers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["counts"] == json!(false))
        .collect();
    if !pending.is_empty() {
        outln!("transfers that do not count (yet)");
        for t in pending {
            outln!(
                "  {:<12}  {:<12}  {:>12} {unit}  {}",
                short(s(t, "transfer").rsplit('/').next().unwrap_or("")),
                s(t, "purpose"),
                s(t, "amount"),
                s(t, "why_not")
            );
        }
    }
}

fn show_loan(l: &Value, unit: &str) {
    outln!("loan        {}", s(l, "loan"));
    outln!("project     {}", s(l, "project"));
    outln!("state       {}", s(l, "state"));
    outln!(
        "terms       {} {unit}; {}% of surplus above {} {unit} per {} days; cap {}×",
        s(l, "amount"),
        s(l, "share"),
        s(l, "floor"),
        l["period_days"],
        s(l, "cap")
    );
    for (label, key) in [
        ("disbursed", "disbursed"),
        ("cap total", "cap_total"),
        ("claimed", "claimed"),
        ("repaid", "repaid"),
        ("overpaid", "overpaid"),
        ("claims open", "claims_open"),
        ("outstanding", "outstanding"),
        ("written off", "written_off"),
    ] {
        outln!("{label:<11} {:>14} {unit}", s(l, key));
    }
    let missing: Vec<String> = l["missing_periods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.to_string())
        .collect();
    if !missing.is_empty() {
        outln!("missing     reports for periods {}", missing.join(", "));
    }
    outln!(
        "  {:>6}  {:>14}  {:>14}  {:>12}  {:>12}",
        "PERIOD",
        "REVENUE",
        "SURPLUS",
        "CLAIM",
        "PAID"
    );
    for p in l["periods"].as_array().into_iter().flatten() {
        outln!(
            "  {:>6}  {:>14}  {:>14}  {:>12}  {:>12}",
            p["period"].as_u64().unwrap_or(0),
            s(p, "revenue"),
            s(p, "surplus"),
            s(p, "claim"),
            s(p, "paid")
        );
    }
}
