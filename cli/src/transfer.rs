//! Export and import: commitment bundles, raw automerge documents, and CSV of offers and
//! needs, the form coordinators keep in spreadsheets.
//!
//! The CSV header is documented in `docs/API.md`: `kind,title,category,quantity,minimum,
//! location,place,radius_km,from,until,urgency,expires,notes`. Exports add `id,coop,status,
//! pledged,delivered` in front; import ignores those, so an export imports back.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use minga_node::api::ListingInput;
use minga_protocol::RecordKind;
use serde_json::{Value, json};

use crate::Failure;
use crate::client::Client;
use crate::commands::{Filters, record_id};

/// The columns import reads, in export order.
const COLUMNS: [&str; 13] = [
    "kind",
    "title",
    "category",
    "quantity",
    "minimum",
    "location",
    "place",
    "radius_km",
    "from",
    "until",
    "urgency",
    "expires",
    "notes",
];
/// Columns exports add and import ignores.
const INFO_COLUMNS: [&str; 5] = ["id", "coop", "status", "pledged", "delivered"];
/// Rows written per request; each batch is one atomic commit on the node.
const BATCH: usize = 1000;
/// The largest CSV file read.
const MAX_CSV_BYTES: u64 = 64 * 1024 * 1024;

/// `export …`.
#[derive(Subcommand)]
pub enum Export {
    /// A pledge, acceptance or delivery as a bundle anyone can verify offline.
    Bundle {
        /// The commitment's id.
        id: String,
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// A record's automerge document, as stored (binary).
    Document {
        /// The record's id.
        id: String,
        /// The file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Offers and needs as CSV (the columns import reads, plus id, coop, status and totals).
    Csv {
        /// Only offers or only needs.
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        filters: Filters,
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `import FILE`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The CSV file, with a header row naming the columns.
    pub file: PathBuf,
    /// Check every row and report, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn write_out(output: Option<&PathBuf>, bytes: &[u8]) -> Result<(), Failure> {
    match output {
        Some(path) => std::fs::write(path, bytes).map_err(|e| {
            Failure::user(
                format!("cannot write {}: {e}", path.display()),
                "check the path",
            )
        }),
        None => std::io::stdout()
            .write_all(bytes)
            .map_err(|e| Failure::user(format!("cannot write: {e}"), "check the output")),
    }
}

/// Runs an export.
pub async fn export(api: &Client, e: Export) -> Result<(), Failure> {
    match e {
        Export::Bundle { id, output } => {
            let bytes = api
                .bytes(&format!("/v1/records/{}/bundle", record_id(&id)))
                .await?;
            write_out(output.as_ref(), &bytes)
        }
        Export::Document { id, output } => {
            let bytes = api
                .bytes(&format!("/v1/records/{}/document", record_id(&id)))
                .await?;
            write_out(Some(&output), &bytes)
        }
        Export::Csv {
            kind,
            filters,
            output,
        } => {
            let mut rows = Vec::new();
            let kinds: Vec<&str> = match kind.as_deref() {
                Some(k @ ("offer" | "need")) => vec![k],
                Some(other) => {
                    return Err(Failure::user(
                        format!("CSV holds offers and needs, not {other}"),
                        "use --kind offer or --kind need",
                    ));
                }
                None => vec!["offer", "need"],
            };
            for k in kinds {
                let list = api
                    .get(&format!("/v1/records{}", filters.query(Some(k))))
                    .await?;
                for v in list.as_array().into_iter().flatten() {
                    let id = v.get("id").and_then(Value::as_str).unwrap_or("");
                    rows.push(api.get(&format!("/v1/records/{id}")).await?);
                }
            }
            write_out(output.as_ref(), &to_csv(&rows)?)
        }
    }
}

fn to_csv(records: &[Value]) -> Result<Vec<u8>, Failure> {
    let fail =
        |e: csv::Error| Failure::user(format!("cannot write CSV: {e}"), "report this as a bug");
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(INFO_COLUMNS.iter().chain(&COLUMNS))
        .map_err(fail)?;
    for v in records {
        let field = |k: &str| -> String {
            let from = if INFO_COLUMNS.contains(&k) {
                Some(v)
            } else {
                v.get("record")
            };
            match from.and_then(|f| f.get(k)) {
                Some(Value::String(t)) => t.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        };
        let mut row: Vec<String> = INFO_COLUMNS.iter().map(|c| field(c)).collect();
        // `kind` lives at the top level of a record's JSON, the rest under `record`.
        row.push(v.get("kind").and_then(Value::as_str).unwrap_or("").into());
        row.extend(COLUMNS[1..].iter().map(|c| field(c)));
        w.write_record(&row).map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Failure::user(format!("cannot write CSV: {e}"), "report this as a bug"))
}

/// Reads and checks every row; the first problems are reported by row and column.
fn read_rows(path: &PathBuf) -> Result<Vec<ListingInput>, Failure> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::user(format!("cannot read {shown}: {e}"), "check the path"))?;
    if meta.len() > MAX_CSV_BYTES {
        return Err(Failure::user(
            format!("{shown} is larger than {} MiB", MAX_CSV_BYTES >> 20),
            "split the file",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Failure::user(format!("cannot read {shown}: {e}"), "check the path"))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            Failure::user(
                format!("{shown}: bad header row: {e}"),
                "the first row names the columns",
            )
        })?
        .iter()
        .map(str::to_string)
        .collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) && !INFO_COLUMNS.contains(&h.as_str()) {
            return Err(Failure::user(
                format!("{shown}: unknown column {h:?}"),
                format!("the columns are: {}", COLUMNS.join(",")),
            ));
        }
    }
    for required in ["kind", "title", "category", "quantity"] {
        if !header.iter().any(|h| h == required) {
            return Err(Failure::user(
                format!("{shown}: no {required:?} column"),
                format!("the columns are: {}", COLUMNS.join(",")),
            ));
        }
    }
    let progress = indicatif::ProgressBar::new(meta.len()).with_message("checking");
    progress.set_style(
        indicatif::ProgressStyle::with_template("{msg:>9} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        // Row numbers as a spreadsheet shows them: the header is row 1.
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("row {line}: {e}"));
                continue;
            }
        };
        progress.set_position(rec.position().map_or(0, |p| p.byte()));
        let get = |c: &str| -> Option<String> {
            header
                .iter()
                .position(|h| h == c)
                .and_then(|i| rec.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let input = ListingInput {
            kind: get("kind"),
            title: get("title").unwrap_or_default(),
            category: get("category").unwrap_or_default(),
            quantity: get("quantity").unwrap_or_default(),
            minimum: get("minimum"),
            location: get("location"),
            place: get("place"),
            radius_km: get("radius_km"),
            from: get("from"),
            until: get("until"),
            urgency: get("urgency"),
            expires: get("expires"),
            notes: get("notes"),
        };
        let checked: Result<RecordKind, _> =
            input.kind().and_then(|k| input.to_record(k).map(|_| k));
        match checked {
            Ok(_) => rows.push(input),
            Err(e) => errors.push(
                match COLUMNS
                    .iter()
                    .find(|c| e.message.starts_with(&format!("{c}: ")))
                {
                    Some(c) => format!("row {line}, column {c}: {}", &e.message[c.len() + 2..]),
                    None => format!("row {line}: {}", e.message),
                },
            ),
        }
    }
    progress.finish_and_clear();
    if !errors.is_empty() {
        let shown_errors: Vec<&String> = errors.iter().take(20).collect();
        let mut message = format!("{shown}: {} bad rows; nothing was imported", errors.len());
        for e in shown_errors {
            message.push_str("\n  ");
            message.push_str(e);
        }
        if errors.len() > 20 {
            message.push_str(&format!("\n  … and {} more", errors.len() - 20));
        }
        return Err(Failure::user(
            message,
            "fix those rows and import the file again",
        ));
    }
    Ok(rows)
}

/// Runs an import: checks every row, then writes them in atomic batches.
pub async fn import(api: &Client, a: ImportArgs) -> Result<(), Failure> {
    let rows = read_rows(&a.file)?;
    if a.dry_run {
        println!(
            "{}: {} rows are valid; nothing written (--dry-run)",
            a.file.display(),
            rows.len()
        );
        return Ok(());
    }
    let progress = indicatif::ProgressBar::new(rows.len() as u64).with_message("importing");
    progress.set_style(
        indicatif::ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} rows")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut done = 0usize;
    for chunk in rows.chunks(BATCH) {
        let body = json!({ "records": chunk.iter().map(row_json).collect::<Vec<_>>() });
        if let Err(mut f) = api.post("/v1/import", &body).await {
            progress.abandon();
            if done > 0 {
                f.message = format!("{} (the first {done} rows were imported)", f.message);
            }
            return Err(f);
        }
        done += chunk.len();
        progress.set_position(done as u64);
    }
    progress.finish_and_clear();
    println!("imported {done} rows from {}", a.file.display());
    Ok(())
}

fn row_json(r: &ListingInput) -> Value {
    json!({
        "kind": r.kind, "title": r.title, "category": r.category, "quantity": r.quantity,
        "minimum": r.minimum, "location": r.location, "place": r.place, "radius_km": r.radius_km,
        "from": r.from, "until": r.until, "urgency": r.urgency, "expires": r.expires,
        "notes": r.notes,
    })
}
