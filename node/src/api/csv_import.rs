//! Offers and needs from CSV, the form coordinators keep in spreadsheets: the columns, and a
//! reader that checks every row before anything is written, naming the row and column of each
//! problem. `minga import` reads files with it; the columns are documented in `docs/API.md`.

use minga_protocol::RecordKind;

use super::input::ListingInput;

/// The columns import reads, in export order.
pub const CSV_COLUMNS: [&str; 13] = [
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
/// Columns exports add in front, and import ignores.
pub const CSV_INFO_COLUMNS: [&str; 5] = ["id", "coop", "status", "pledged", "delivered"];
/// The most bad rows an error lists (it counts them all).
const SHOWN_ERRORS: usize = 20;

/// Why a CSV file cannot be imported: what was wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CsvError {
    /// One line, or one line and the bad rows below it.
    pub message: String,
    /// What to do.
    pub hint: String,
}

fn fail(message: String, hint: impl Into<String>) -> CsvError {
    CsvError {
        message,
        hint: hint.into(),
    }
}

/// Reads and checks every row of a CSV file: all the listings, or the problems, each named
/// by row (as a spreadsheet numbers them: the header is row 1) and column. `progress` is told
/// how far into the bytes the reader is.
pub fn read_listings_csv(
    bytes: &[u8],
    mut progress: impl FnMut(u64),
) -> Result<Vec<ListingInput>, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            fail(
                format!("bad header row: {e}"),
                "the first row names the columns",
            )
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let columns = || format!("the columns are: {}", CSV_COLUMNS.join(","));
    for h in &header {
        if !CSV_COLUMNS.contains(&h.as_str()) && !CSV_INFO_COLUMNS.contains(&h.as_str()) {
            return Err(fail(format!("unknown column {h:?}"), columns()));
        }
    }
    for required in ["kind", "title", "category", "quantity"] {
        if !header.iter().any(|h| h == required) {
            return Err(fail(format!("no {required:?} column"), columns()));
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("row {line}: {e}"));
                continue;
            }
        };
        progress(rec.position().map_or(0, |p| p.byte()));
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
                match CSV_COLUMNS
                    .iter()
                    .find(|c| e.message.starts_with(&format!("{c}: ")))
                {
                    Some(c) => format!("row {line}, column {c}: {}", &e.message[c.len() + 2..]),
                    None => format!("row {line}: {}", e.message),
                },
            ),
        }
    }
    if errors.is_empty() {
        return Ok(rows);
    }
    let mut message = format!("{} bad rows; nothing was imported", errors.len());
    for e in errors.iter().take(SHOWN_ERRORS) {
        message.push_str("\n  ");
        message.push_str(e);
    }
    if errors.len() > SHOWN_ERRORS {
        message.push_str(&format!("\n  … and {} more", errors.len() - SHOWN_ERRORS));
    }
    Err(fail(message, "fix those rows and import the file again"))
}
