//! `minga contact`: this co-op's contact details, and the counterpart's once a pledge is
//! accepted.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Failure;
use crate::client::Client;
use crate::commands::record_id;

/// `contact`.
#[derive(Subcommand)]
pub enum ContactCmd {
    /// Set how the other side of an accepted pledge reaches this co-op. Kept on this node only;
    /// sealed to the counterpart's members when a pledge is accepted, never sent in clear.
    Set {
        /// Who to ask for.
        #[arg(long)]
        person: Option<String>,
        /// A phone number.
        #[arg(long)]
        phone: Option<String>,
        /// An email address.
        #[arg(long)]
        email: Option<String>,
        /// Where to pick up or deliver.
        #[arg(long)]
        address: Option<String>,
        /// Anything else (opening hours, the gate to use).
        #[arg(long)]
        notes: Option<String>,
        #[command(flatten)]
        out: crate::Output,
    },
    /// This co-op's contact, as it would be sealed.
    Show(crate::Output),
    /// The other side's contact for an accepted pledge, opened with this node's member key.
    Of {
        /// The pledge (id or prefix).
        pledge: String,
        /// Wait up to this many seconds until both sides' contacts are here.
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
        #[command(flatten)]
        out: crate::Output,
    },
}

const FIELDS: [&str; 5] = ["person", "phone", "email", "address", "notes"];

fn print_contact(c: &Value, indent: &str) {
    for f in FIELDS {
        if let Some(v) = c.get(f).and_then(Value::as_str) {
            outln!("{indent}{f:<8} {v}");
        }
    }
}

/// Runs `minga contact …`.
pub async fn run(api: &Client, cmd: ContactCmd) -> Result<(), Failure> {
    match cmd {
        ContactCmd::Set {
            person,
            phone,
            email,
            address,
            notes,
            out,
        } => {
            let mut body = json!({});
            for (k, v) in FIELDS.iter().zip([person, phone, email, address, notes]) {
                if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                    body[*k] = json!(v);
                }
            }
            let v = api.json(Method::PUT, "/v1/contact", Some(&body)).await?;
            if out.json {
                outln!("{v}");
                return Ok(());
            }
            outln!("contact set; the other side of an accepted pledge reads it, no one else");
            print_contact(&v["contact"], "  ");
            if let Some(n) = v["sealed_for"].as_u64().filter(|n| *n > 0) {
                outln!("sealed now for {n} pledge(s) already accepted");
            }
            Ok(())
        }
        ContactCmd::Show(out) => {
            let v = api.get("/v1/contact").await?;
            if out.json {
                outln!("{v}");
            } else {
                print_contact(&v, "");
            }
            Ok(())
        }
        ContactCmd::Of { pledge, wait, out } => {
            let path = format!(
                "/v1/pledges/{}/contacts?wait={}",
                record_id(&pledge),
                wait.unwrap_or(0)
            );
            let patience = std::time::Duration::from_secs(wait.unwrap_or(0) + 30);
            let v = api.json_within(Method::GET, &path, None, patience).await?;
            if out.json {
                outln!("{v}");
                return Ok(());
            }
            let list = v.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                outln!(
                    "no contact sealed for this pledge yet: contacts are sealed once it is accepted"
                );
            }
            for c in list {
                let from = c["from"].as_str().unwrap_or("");
                let n = c["recipients"].as_u64().unwrap_or(0);
                outln!(
                    "from co-op {} (sealed to {n} {})",
                    from.get(..12).unwrap_or(from),
                    if n == 1 { "key" } else { "keys" }
                );
                match c["contact"].is_object() {
                    true => print_contact(&c["contact"], "  "),
                    false => outln!("  {}", c["sealed"].as_str().unwrap_or("sealed")),
                }
            }
            Ok(())
        }
    }
}
