//! Durable storage behind a small trait, so its guarantees are tested (see
//! [`conformance`]) rather than assumed, whatever the backend.
//!
//! What a store keeps, per co-op: log entries by (log, sequence) and by hash, each log's head
//! (so the version vector is read, not recomputed), record documents with their listing views
//! and their creating entries' positions (a creating entry's hash is its record's id, so the
//! record's key finds it: no hash index key of its own), and the co-op's genesis; plus other
//! small views and peer addresses. [`Store::commit`] writes a [`WriteBatch`] atomically
//! and durably: when it returns, everything in it survives a crash, and nothing of a batch is
//! ever half-written.

mod layout;
mod memory;
mod sled_store;

pub mod conformance;

use minga_protocol::{CoopId, EntryHash, LogId, RecordId, RecordState, VersionVector};

use layout::*;

pub use memory::MemoryStore;
pub use sled_store::SledStore;

/// Why the store could not read or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (disk full, permissions, corruption it detected).
    #[error("storage: {0}")]
    Backend(String),
    /// The data directory was written by a newer minga, in a format this one does not read.
    #[error(
        "the data directory is in store format {found}, written by a newer minga; this one reads up to format {understood}"
    )]
    NewerFormat {
        /// The directory's format.
        found: u32,
        /// The newest format this version reads.
        understood: u32,
    },
    /// A stored value does not decode: the data directory is damaged or from a newer version.
    #[error("stored value under {key} is damaged: {reason}")]
    Corrupt {
        /// Which key (hex, cut short).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);
/// Key-value pairs in key order, as a backend scans them.
pub type Pairs<'a> = Box<dyn Iterator<Item = Result<Pair, StoreError>> + 'a>;

/// A co-op's genesis as stored: the signed bytes and the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGenesis {
    /// The co-op it founds.
    pub coop: CoopId,
    /// The canonical statement bytes.
    pub bytes: Vec<u8>,
    /// The co-op key's signature.
    pub signature: [u8; 64],
}

/// Where an entry sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryPos {
    /// The co-op whose ledger holds it.
    pub coop: CoopId,
    /// Its log.
    pub log: LogId,
    /// Its sequence number.
    pub seq: u64,
}

/// One entry to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// Where it goes.
    pub pos: EntryPos,
    /// Its hash.
    pub hash: EntryHash,
    /// The record it changes (indexed, so a prune finds every entry of its record).
    pub record: RecordId,
    /// Its encoded bytes (header, signature and payload unless detached).
    pub bytes: Vec<u8>,
}

/// One record to store: its state and, when it is listed, its view (as the node's view codec
/// encodes it). Both sit in one value under the record's key, with the position of its
/// creating entry (taken from the same batch, or kept from the value it replaces), so a
/// record of one entry costs the store two keys (this and the entry) instead of five: sled's
/// memory grows with its number of keys (see BENCHMARKS.md).
#[derive(Clone, Debug)]
pub struct StoredRecord {
    /// The co-op whose ledger holds it.
    pub coop: CoopId,
    /// The record.
    pub id: RecordId,
    /// Its state (replacing any earlier one).
    pub state: RecordState,
    /// Its listing view, replacing any earlier one (`None`: it has none).
    pub view: Option<Vec<u8>>,
}

/// Everything one commit writes, all or nothing.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    /// Entries, in log order within each log. Each log's head advances to its highest entry.
    pub entries: Vec<StoredEntry>,
    /// Records to put (replacing any earlier state and view).
    pub records: Vec<StoredRecord>,
    /// Geneses of co-ops this node carries: (co-op, signed bytes, signature).
    pub geneses: Vec<StoredGenesis>,
    /// Compact views and other small values, by key.
    pub views: Vec<(Vec<u8>, Vec<u8>)>,
    /// Peer addresses to remember (multiaddr text).
    pub peers: Vec<String>,
    /// Peer addresses to forget.
    pub removed_peers: Vec<String>,
    /// Logs to cut from a sequence number on (a revocation's cut-off), applied before the
    /// entries above are written.
    pub truncations: Vec<(CoopId, LogId, u64)>,
    /// Records to forget.
    pub removed_records: Vec<(CoopId, RecordId)>,
    /// Views to delete, by key.
    pub removed_views: Vec<Vec<u8>>,
}

impl WriteBatch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.records.is_empty()
            && self.geneses.is_empty()
            && self.views.is_empty()
            && self.peers.is_empty()
            && self.removed_peers.is_empty()
            && self.truncations.is_empty()
            && self.removed_records.is_empty()
            && self.removed_views.is_empty()
    }
}

/// The ordered key-value operations a backend provides; [`Store`] is built on them once, so
/// every backend stores the same bytes under the same keys.
pub trait KeyValue: Send + Sync + 'static {
    /// Deletes `deletes`, then writes `pairs`, all atomically and durably.
    fn apply(&self, pairs: Vec<Pair>, deletes: Vec<Vec<u8>>) -> Result<(), StoreError>;
    /// One value.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every pair whose key starts with `prefix`, in key order.
    fn scan(&self, prefix: &[u8]) -> Pairs<'_>;
}

/// A node's durable storage.
pub trait Store: Send + Sync + 'static {
    /// Writes the batch atomically and durably; when this returns `Ok`, it survives a crash.
    fn commit(&self, batch: &WriteBatch) -> Result<(), StoreError>;
    /// One entry's bytes.
    fn entry(&self, coop: &CoopId, log: &LogId, seq: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Where an entry of `coop` with this hash sits.
    fn entry_pos(&self, coop: &CoopId, hash: &EntryHash) -> Result<Option<EntryPos>, StoreError>;
    /// Each log's head for one co-op.
    fn version_vector(&self, coop: &CoopId) -> Result<VersionVector, StoreError> {
        Ok(VersionVector::from_heads(
            self.log_heads(coop)?
                .into_iter()
                .map(|(log, seq, _)| (log, seq)),
        ))
    }
    /// Each log's head for one co-op, with the head entry's hash.
    fn log_heads(&self, coop: &CoopId) -> Result<Vec<(LogId, u64, EntryHash)>, StoreError>;
    /// Positions of every entry held for a record.
    fn record_entries(&self, coop: &CoopId, id: &RecordId) -> Result<Vec<EntryPos>, StoreError>;
    /// One record's state.
    fn record(&self, coop: &CoopId, id: &RecordId) -> Result<Option<RecordState>, StoreError>;
    /// Every record's listing view (the bytes given in [`StoredRecord::view`]), of every
    /// co-op, read as the iterator advances.
    fn record_views(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>> + '_>;
    /// Every record id of one co-op, in order.
    fn record_ids(&self, coop: &CoopId) -> Result<Vec<RecordId>, StoreError>;
    /// Co-ops whose genesis is stored, with the signed bytes and signature.
    fn geneses(&self) -> Result<Vec<StoredGenesis>, StoreError>;
    /// A view or small value.
    fn view(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every view whose key starts with `prefix`, in key order (keys without the prefix
    /// stripped), read as the iterator advances: a start reads a million views without
    /// holding them all twice.
    fn views(&self, prefix: &[u8]) -> Pairs<'_>;
    /// Remembered peer addresses.
    fn peers(&self) -> Result<Vec<String>, StoreError>;
    /// Every key and value held, in key order: what a backup copies.
    fn dump(&self) -> Pairs<'_>;
    /// Writes pairs a backup copied, atomically and durably (restoring into an empty store).
    fn restore(&self, pairs: Vec<Pair>) -> Result<(), StoreError>;
    /// Deletes everything held of a co-op, atomically: its genesis, entries, heads, records,
    /// and the views under each of `view_prefixes`.
    fn forget_coop(&self, coop: &CoopId, view_prefixes: &[Vec<u8>]) -> Result<(), StoreError>;
    /// For the upgrade from store format 1, which indexed each record's creating entry by
    /// hash and in the record's entry index (format 2 keeps its position in the record's
    /// value): moves those positions into the records and deletes the index keys, `chunk`
    /// records per commit. Done or not, the store reads the same. Returns how many moved.
    fn compact_creations(&self, chunk: usize) -> Result<usize, StoreError>;
}

impl<K: KeyValue> Store for K {
    fn dump(&self) -> Pairs<'_> {
        self.scan(b"")
    }

    fn restore(&self, pairs: Vec<Pair>) -> Result<(), StoreError> {
        self.apply(pairs, Vec::new())
    }

    fn commit(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut deletes = Vec::new();
        let mut heads = std::collections::BTreeMap::new();
        for (coop, log, from) in &batch.truncations {
            for pair in self.scan(&log_key(ENTRY, coop, log)) {
                let (k, v) = pair?;
                let seq = u64::from_be_bytes(array(&k, k.get(k.len().saturating_sub(8)..))?);
                if seq < *from {
                    continue;
                }
                let e = minga_protocol::Entry::decode(&v)
                    .map_err(|_| corrupt(&k, "stored entry does not decode"))?;
                deletes.push(hash_key(&e.hash()));
                let pos = EntryPos {
                    coop: *coop,
                    log: *log,
                    seq,
                };
                deletes.push(record_entry_key(coop, &e.record_id(), &pos));
                deletes.push(k);
            }
            let new_head = match from.checked_sub(1).filter(|s| *s > 0) {
                Some(prev) => {
                    let bytes = self
                        .get(&entry_key(coop, log, prev))?
                        .ok_or_else(|| corrupt(&log_key(HEAD, coop, log), "log has a gap"))?;
                    let e = minga_protocol::Entry::decode(&bytes).map_err(|_| {
                        corrupt(&log_key(HEAD, coop, log), "stored entry does not decode")
                    })?;
                    (prev, e.hash())
                }
                None => (0, EntryHash::default()),
            };
            heads.insert(log_key(HEAD, coop, log), new_head);
        }
        for (coop, id) in &batch.removed_records {
            deletes.push(record_key(coop, id));
        }
        for k in &batch.removed_views {
            deletes.push(prefixed(VIEW, k));
        }
        for p in &batch.removed_peers {
            deletes.push(prefixed(PEER, p.as_bytes()));
        }
        let pairs = batch_pairs(
            batch,
            heads,
            |k| {
                self.get(k)?
                    .map_or(Ok((0, EntryHash::default())), |v| decode_head(k, &v))
            },
            |k| match self.get(k)? {
                Some(v) => Ok(split_record(k, &v)?.created.copied()),
                None => Ok(None),
            },
            &mut deletes,
        )?;
        self.apply(pairs, deletes)
    }

    fn entry(&self, coop: &CoopId, log: &LogId, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(&entry_key(coop, log, seq))
    }

    fn entry_pos(&self, coop: &CoopId, hash: &EntryHash) -> Result<Option<EntryPos>, StoreError> {
        let k = hash_key(hash);
        if let Some(v) = self.get(&k)? {
            let pos = decode_pos(&k, &v)?;
            return Ok((pos.coop == *coop).then_some(pos));
        }
        // A creating entry: its record's value keeps its position.
        let k = record_key(coop, &RecordId(hash.0));
        match self.get(&k)? {
            Some(v) => split_record(&k, &v)?.created_pos(&k, coop),
            None => Ok(None),
        }
    }

    fn log_heads(&self, coop: &CoopId) -> Result<Vec<(LogId, u64, EntryHash)>, StoreError> {
        decode_heads(self.scan(&prefixed(HEAD, coop.as_bytes())))
    }

    fn record_entries(&self, coop: &CoopId, id: &RecordId) -> Result<Vec<EntryPos>, StoreError> {
        let mut prefix = record_key(coop, id);
        prefix[0] = RECORD_ENTRY;
        let mut out = self
            .scan(&prefix)
            .map(|p| {
                let (k, _) = p?;
                let rest = k.get(65..).unwrap_or_default();
                Ok(EntryPos {
                    coop: *coop,
                    log: decode_log(&k, rest)?,
                    seq: u64::from_be_bytes(array(&k, rest.get(40..48))?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // The creating entry, whose hash is the record's id (store format 1 also listed it in
        // the index).
        if let Some(created) = self.entry_pos(coop, &EntryHash(id.0))? {
            out.push(created);
        }
        out.sort_by_key(|p| (p.log, p.seq));
        out.dedup();
        Ok(out)
    }

    fn record(&self, coop: &CoopId, id: &RecordId) -> Result<Option<RecordState>, StoreError> {
        let k = record_key(coop, id);
        self.get(&k)?.map(|v| decode_record(&k, &v)).transpose()
    }

    fn record_views(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>> + '_> {
        Box::new(self.scan(&[RECORD]).filter_map(|p| match p {
            Ok((k, v)) => match split_record(&k, &v) {
                Ok(r) => r.view.map(|view| Ok(view.to_vec())),
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        }))
    }

    fn record_ids(&self, coop: &CoopId) -> Result<Vec<RecordId>, StoreError> {
        self.scan(&prefixed(RECORD, coop.as_bytes()))
            .map(|p| decode_record_id(&p?.0))
            .collect()
    }

    fn geneses(&self) -> Result<Vec<StoredGenesis>, StoreError> {
        self.scan(&[GENESIS])
            .map(|p| {
                let (k, v) = p?;
                decode_genesis(&k, &v)
            })
            .collect()
    }

    fn view(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(&prefixed(VIEW, key))
    }

    fn views(&self, prefix: &[u8]) -> Pairs<'_> {
        Box::new(
            self.scan(&prefixed(VIEW, prefix))
                .map(|p| p.map(|(k, v)| (k[1..].to_vec(), v))),
        )
    }

    fn forget_coop(&self, coop: &CoopId, view_prefixes: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut deletes = vec![prefixed(GENESIS, coop.as_bytes())];
        for pair in self.scan(&prefixed(ENTRY, coop.as_bytes())) {
            let (k, v) = pair?;
            let e = minga_protocol::Entry::decode(&v)
                .map_err(|_| corrupt(&k, "stored entry does not decode"))?;
            deletes.push(hash_key(&e.hash()));
            deletes.push(k);
        }
        for prefix in [HEAD, RECORD, RECORD_ENTRY] {
            for pair in self.scan(&prefixed(prefix, coop.as_bytes())) {
                deletes.push(pair?.0);
            }
        }
        for p in view_prefixes {
            for pair in self.scan(&prefixed(VIEW, p)) {
                deletes.push(pair?.0);
            }
        }
        self.apply(Vec::new(), deletes)
    }

    fn compact_creations(&self, chunk: usize) -> Result<usize, StoreError> {
        let mut moved = 0;
        let (mut pairs, mut deletes) = (Vec::new(), Vec::new());
        for pair in self.scan(&[RECORD]) {
            let (k, v) = pair?;
            let value = split_record(&k, &v)?;
            if value.created.is_some() {
                continue;
            }
            let coop = CoopId(minga_protocol::Hash(array(&k, k.get(1..33))?));
            let id = decode_record_id(&k)?;
            let hk = hash_key(&EntryHash(id.0));
            let Some(pos) = self.get(&hk)?.map(|p| decode_pos(&hk, &p)).transpose()? else {
                continue;
            };
            if pos.coop != coop {
                continue;
            }
            pairs.push((k.clone(), value.encode(Some(&position_in_coop(&pos)))));
            deletes.push(hk);
            deletes.push(record_entry_key(&coop, &id, &pos));
            if pairs.len() >= chunk.max(1) {
                moved += pairs.len();
                self.apply(std::mem::take(&mut pairs), std::mem::take(&mut deletes))?;
            }
        }
        moved += pairs.len();
        if !pairs.is_empty() {
            self.apply(pairs, deletes)?;
        }
        Ok(moved)
    }

    fn peers(&self) -> Result<Vec<String>, StoreError> {
        self.scan(&[PEER])
            .map(|p| {
                let (k, _) = p?;
                String::from_utf8(k[1..].to_vec())
                    .map_err(|_| corrupt(&k, "peer address is not text"))
            })
            .collect()
    }
}
