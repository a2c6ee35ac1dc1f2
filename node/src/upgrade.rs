//! The data directory's format version, and the steps that bring an older one up to date.
//!
//! The store keeps the format it was last written in under the view key `meta/format` (a u32,
//! big-endian). A node opening a store:
//!
//! - that is empty, stamps it with [`FORMAT`];
//! - that is newer than [`FORMAT`], refuses it ([`StoreError::NewerFormat`]) and touches
//!   nothing: an older minga must not half-understand a newer directory;
//! - that is older, runs each step from its version to [`FORMAT`] in order. A step first
//!   stamps the version it goes to together with a mark (`meta/upgrading`, the version it
//!   comes from), so that from then on older versions refuse the store as newer and never
//!   read it half-way through a step. It then writes what it changes, in one atomic commit
//!   or, for a step that rewrites every record, in chunks that each leave the store readable;
//!   its last commit removes the mark. A crash leaves either the mark, and the next start runs
//!   the step again from where it stands (every step only does what is still to do), or the
//!   step done, and the next start goes on from the next.
//!
//! A store without the key was written before versions existed (main until December 2026):
//! format 0. `node/tests/fixtures/format0` is one, and `node/tests/upgrade.rs` opens it.
//!
//! | format | what changed |
//! |---|---|
//! | 0 | (unversioned) |
//! | 1 | the entries held as headers whose payloads are still to fetch are listed under `missing/`, so they are asked for after a restart; the step lists those a format-0 store holds |
//! | 2 | a record's value keeps its listing view (format 1: a key of its own under `view/`) and its creating entry's position (format 1: a key in the hash index and one in the record's entry index; the creating entry's hash is the record's id, so the record's key finds it): a record of one entry is two keys (the entry and the record) instead of five, since sled's memory grows with its number of keys. The step moves the views and the positions, [`CHUNK`] records per commit |

use minga_protocol::{CoopId, Hash, RecordId};

use crate::ledger::RECORD_VIEW;
use crate::store::{Store, StoreError, StoredRecord, WriteBatch};

/// The format this version writes.
pub const FORMAT: u32 = 2;

/// How many records a step that rewrites every record commits at once: small enough that a
/// million-record store is never held in one batch.
pub const CHUNK: usize = 10_000;

/// Where the format version is kept.
const FORMAT_VIEW: &[u8] = b"meta/format";

/// Where a step in progress keeps the version it started from (u32, big-endian).
const UPGRADING_VIEW: &[u8] = b"meta/upgrading";

/// What opening did to the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgraded {
    /// A new, empty store: stamped with [`FORMAT`].
    Created,
    /// Already at [`FORMAT`].
    Current,
    /// Brought from this format up to [`FORMAT`].
    From(u32),
}

/// The format a store is in: `None` for an empty store, 0 for one written before versions.
pub fn format_of(store: &dyn Store) -> Result<Option<u32>, StoreError> {
    if let Some(v) = store.view(FORMAT_VIEW)? {
        let bytes: [u8; 4] = v.as_slice().try_into().map_err(|_| StoreError::Corrupt {
            key: "meta/format".into(),
            reason: "the format version is not 4 bytes",
        })?;
        return Ok(Some(u32::from_be_bytes(bytes)));
    }
    let empty = store.geneses()?.is_empty()
        && store.peers()?.is_empty()
        && store.views(b"").next().is_none();
    Ok((!empty).then_some(0))
}

/// Checks the store's format and brings an older one up to [`FORMAT`] (see the module docs).
pub fn upgrade(store: &dyn Store) -> Result<Upgraded, StoreError> {
    let Some(found) = format_of(store)? else {
        store.commit(&stamp(FORMAT))?;
        return Ok(Upgraded::Created);
    };
    if found > FORMAT {
        return Err(StoreError::NewerFormat {
            found,
            understood: FORMAT,
        });
    }
    // A step cut short is taken up again from the version it started at.
    let start = match store.view(UPGRADING_VIEW)? {
        Some(v) => {
            let from = <[u8; 4]>::try_from(v.as_slice()).map_err(|_| StoreError::Corrupt {
                key: "meta/upgrading".into(),
                reason: "the upgrade mark is not 4 bytes",
            })?;
            u32::from_be_bytes(from).min(found)
        }
        None => found,
    };
    if start == FORMAT {
        return Ok(Upgraded::Current);
    }
    for from in start..FORMAT {
        let mut mark = stamp(from + 1);
        mark.views
            .push((UPGRADING_VIEW.to_vec(), from.to_be_bytes().to_vec()));
        store.commit(&mark)?;
        let mut batch = step(store, from)?;
        batch.views.append(&mut stamp(from + 1).views);
        batch.removed_views.push(UPGRADING_VIEW.to_vec());
        store.commit(&batch)?;
        tracing::info!(from, to = from + 1, "data directory upgraded");
    }
    Ok(Upgraded::From(start))
}

fn stamp(format: u32) -> WriteBatch {
    WriteBatch {
        views: vec![(FORMAT_VIEW.to_vec(), format.to_be_bytes().to_vec())],
        ..WriteBatch::default()
    }
}

/// What the step from format `from` to `from + 1` writes.
fn step(store: &dyn Store, from: u32) -> Result<WriteBatch, StoreError> {
    match from {
        0 => Ok(WriteBatch {
            views: crate::ledger::missing_payload_marks(store)?,
            ..WriteBatch::default()
        }),
        1 => {
            move_record_views(store)?;
            let moved = store.compact_creations(CHUNK)?;
            tracing::info!(
                moved,
                "creating entries' positions moved into their records"
            );
            Ok(WriteBatch::default())
        }
        _ => Ok(WriteBatch::default()),
    }
}

/// Moves format 1's record views from under [`RECORD_VIEW`] into their records' values,
/// [`CHUNK`] at a time. Each chunk writes its records and deletes their view keys in one
/// commit, so every view is in one place or the other and a start interrupted here goes on
/// with those still under [`RECORD_VIEW`]. A view whose record is gone (format 1 deleted both
/// together, so only a damaged store has one) is dropped.
fn move_record_views(store: &dyn Store) -> Result<(), StoreError> {
    let mut moved = 0usize;
    loop {
        let mut batch = WriteBatch::default();
        for pair in store.views(RECORD_VIEW).take(CHUNK) {
            let (key, view) = pair?;
            let ids = key
                .get(RECORD_VIEW.len()..)
                .and_then(|rest| <[u8; 64]>::try_from(rest).ok());
            if let Some(ids) = ids {
                let (coop, id) = ids.split_at(32);
                let coop = CoopId(Hash(coop.try_into().unwrap_or_default()));
                let id = RecordId(Hash(id.try_into().unwrap_or_default()));
                if let Some(state) = store.record(&coop, &id)? {
                    batch.records.push(StoredRecord {
                        coop,
                        id,
                        state,
                        view: Some(view),
                    });
                }
            }
            batch.removed_views.push(key);
        }
        if batch.is_empty() {
            return Ok(());
        }
        moved += batch.records.len();
        store.commit(&batch)?;
        tracing::info!(moved, "record views moved into their records");
    }
}
