//! Export and import: commitment bundles, raw automerge documents, and CSV of offers and
//! needs, the form coordinators keep in spreadsheets.
//!
//! The CSV header is documented in `docs/API.md`: `kind,title,category,quantity,minimum,
//! location,place,radius_km,from,until,urgency,expires,notes`. Exports add `id,coop,status,
//! pledged,delivered` in front; import ignores those, so an export imports back.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use minga_node::api::{
    CSV_COLUMNS as COLUMNS, CSV_INFO_COLUMNS as INFO_COLUMNS, ListingInput, read_listings_csv,
};
use serde_json::{Value, json};

use crate::Failure;
use crate::client::Client;
use crate::commands::{Filters, record_id};

/// Rows written per request; each batch is one atomic commit on the node.
const BATCH: usize = 1000;
/// The largest CSV file read.
const MAX_CSV_BYTES: u64 = 64 * 1024 * 1024;

/// `export …`.
#[derive(Subcommand)]
pub enum Export {
    /// Everything this node replicates (co-ops, offers, needs, pledges, acceptances,
    /// deliveries, funds and their loans) as Valueflows JSON-LD.
    Jsonld {
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
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

pub(crate) fn write_out(output: Option<&PathBuf>, bytes: &[u8]) -> Result<(), Failure> {
    match output {
        Some(path) => std::fs::write(path, bytes).map_err(|e| {
            Failure::user(
                format!("cannot write {}: {e}", path.display()),
                "check the path",
            )
        }),
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
                crate::out::ended(&e);
            }
            Ok(())
        }
    }
}

/// Runs an export.
pub async fn export(api: &Client, e: Export) -> Result<(), Failure> {
    match e {
        Export::Jsonld { output } => {
            let bytes = api.bytes("/v1/export.jsonld").await?;
            write_out(output.as_ref(), &bytes)
        }
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
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::user(format!("cannot read {shown}: {e}"), "check the path"))?;
    let progress = indicatif::ProgressBar::new(meta.len()).with_message("checking");
    progress.set_style(
        indicatif::ProgressStyle::with_template("{msg:>9} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let rows = read_listings_csv(&bytes, |at| progress.set_position(at));
    progress.finish_and_clear();
    rows.map_err(|e| Failure::user(format!("{shown}: {}", e.message), e.hint))
}

/// Runs an import: checks every row, then writes them in atomic batches.
pub async fn import(api: &Client, a: ImportArgs) -> Result<(), Failure> {
    let rows = read_rows(&a.file)?;
    if a.dry_run {
        outln!(
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
    outln!("imported {done} rows from {}", a.file.display());
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
