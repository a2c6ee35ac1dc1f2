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

mod memory;
mod sled_store;

pub mod conformance;

use minga_protocol::{CoopId, EntryHash, LogId, RecordId, RecordKind, RecordState, VersionVector};

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
/// encodes it). Both sit in one value under the record's
/// key, with the position of its creating entry (taken from the same batch, or kept from the
/// value it replaces), so a record of one entry costs the store two keys (this and the entry)
/// instead of five: sled's memory grows with its number of keys (see BENCHMARKS.md).
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

// Keys share one keyspace, each kind under its own one-byte prefix, so a commit is a single
// atomic batch.
const ENTRY: u8 = b'e';
const HASH: u8 = b'h';
const HEAD: u8 = b'v';
const RECORD: u8 = b'r';
const GENESIS: u8 = b'g';
const VIEW: u8 = b'w';
const PEER: u8 = b'p';
const RECORD_ENTRY: u8 = b'x';

fn log_key(prefix: u8, coop: &CoopId, log: &LogId) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 32 + 32 + 8 + 8);
    k.push(prefix);
    k.extend_from_slice(coop.as_bytes());
    k.extend_from_slice(log.author.as_bytes());
    k.extend_from_slice(&log.device.0.to_be_bytes());
    k
}

fn entry_key(coop: &CoopId, log: &LogId, seq: u64) -> Vec<u8> {
    let mut k = log_key(ENTRY, coop, log);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn hash_key(hash: &EntryHash) -> Vec<u8> {
    let mut k = vec![HASH];
    k.extend_from_slice(hash.as_bytes());
    k
}

fn record_key(coop: &CoopId, id: &RecordId) -> Vec<u8> {
    let mut k = vec![RECORD];
    k.extend_from_slice(coop.as_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// The key under which the record's entry index lists an entry that changes it.
fn record_entry_key(coop: &CoopId, id: &RecordId, pos: &EntryPos) -> Vec<u8> {
    let mut k = record_key(coop, id);
    k[0] = RECORD_ENTRY;
    k.extend_from_slice(&encode_pos(pos)[32..]);
    k
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(rest);
    k
}

fn corrupt(key: &[u8], reason: &'static str) -> StoreError {
    StoreError::Corrupt {
        key: minga_protocol::Hash::of(key).short(),
        reason,
    }
}

fn encode_pos(pos: &EntryPos) -> Vec<u8> {
    let mut v = log_key(0, &pos.coop, &pos.log)[1..].to_vec();
    v.extend_from_slice(&pos.seq.to_be_bytes());
    v
}

fn array<const N: usize>(key: &[u8], b: Option<&[u8]>) -> Result<[u8; N], StoreError> {
    b.and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(key, "a stored field is short"))
}

fn decode_pos(key: &[u8], v: &[u8]) -> Result<EntryPos, StoreError> {
    if v.len() != 80 {
        return Err(corrupt(key, "entry position has the wrong length"));
    }
    Ok(EntryPos {
        coop: CoopId(minga_protocol::Hash(array(key, v.get(..32))?)),
        log: decode_log(key, &v[32..72])?,
        seq: u64::from_be_bytes(array(key, v.get(72..80))?),
    })
}

/// Decodes author (32 bytes) and device (8 bytes).
fn decode_log(key: &[u8], b: &[u8]) -> Result<LogId, StoreError> {
    let author = minga_protocol::PublicKey::from_bytes(&array(key, b.get(..32))?)
        .map_err(|_| corrupt(key, "log author is not a key"))?;
    Ok(LogId {
        author,
        device: minga_protocol::DeviceId(u64::from_be_bytes(array(key, b.get(32..40))?)),
    })
}

// A record's value: its kind (0 none, else 1 + its place in `RecordKind::ALL`), a flags byte,
// the view when the flags say one follows (u32 big-endian length, then the bytes), the
// position of its creating entry when the flags say one follows (author 32 bytes, device u64
// big-endian, sequence u64 big-endian), then the document. Store format 1 wrote neither, and
// its flags byte was 0 or 1 (pruned): those values read the same way.
const PRUNED: u8 = 1;
const HAS_VIEW: u8 = 2;
const HAS_CREATED: u8 = 4;

/// A record's value, split into its parts.
struct RecordValue<'a> {
    kind: u8,
    pruned: bool,
    view: Option<&'a [u8]>,
    /// Where its creating entry sits (log author, device, sequence), when kept here.
    created: Option<&'a [u8; 48]>,
    doc: &'a [u8],
}

impl RecordValue<'_> {
    fn of(record: &StoredRecord) -> RecordValue<'_> {
        let state = &record.state;
        RecordValue {
            kind: state.kind.map_or(0, |k| {
                1 + RecordKind::ALL.iter().position(|x| *x == k).unwrap_or(0) as u8
            }),
            pruned: state.pruned,
            view: record.view.as_deref(),
            created: None,
            doc: &state.doc,
        }
    }

    /// The value's bytes, with the creating entry's position `created` when given.
    fn encode(&self, created: Option<&[u8; 48]>) -> Vec<u8> {
        let created = created.or(self.created);
        let view_len = self.view.map_or(0, |v| 4 + v.len());
        let mut v = Vec::with_capacity(2 + view_len + 48 + self.doc.len());
        v.push(self.kind);
        let mut flags = if self.pruned { PRUNED } else { 0 };
        if self.view.is_some() {
            flags |= HAS_VIEW;
        }
        if created.is_some() {
            flags |= HAS_CREATED;
        }
        v.push(flags);
        if let Some(view) = self.view {
            v.extend_from_slice(&(view.len() as u32).to_be_bytes());
            v.extend_from_slice(view);
        }
        if let Some(c) = created {
            v.extend_from_slice(c);
        }
        v.extend_from_slice(self.doc);
        v
    }

    /// The creating entry's position, in `coop`.
    fn created_pos(&self, key: &[u8], coop: &CoopId) -> Result<Option<EntryPos>, StoreError> {
        self.created
            .map(|c| {
                Ok(EntryPos {
                    coop: *coop,
                    log: decode_log(key, &c[..40])?,
                    seq: u64::from_be_bytes(array(key, c.get(40..))?),
                })
            })
            .transpose()
    }
}

/// An entry's position within its co-op, as a record's value keeps its creating entry's.
fn position_in_coop(pos: &EntryPos) -> [u8; 48] {
    let mut out = [0; 48];
    out.copy_from_slice(&encode_pos(pos)[32..]);
    out
}

fn split_record<'a>(key: &[u8], v: &'a [u8]) -> Result<RecordValue<'a>, StoreError> {
    let [kind, flags, rest @ ..] = v else {
        return Err(corrupt(key, "record state is short"));
    };
    let (kind, flags, mut rest) = (*kind, *flags, rest);
    if flags & !(PRUNED | HAS_VIEW | HAS_CREATED) != 0 {
        return Err(corrupt(key, "record state has unknown flags"));
    }
    let mut view = None;
    if flags & HAS_VIEW != 0 {
        let (len, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt(key, "record view is cut short"))?;
        let (v, after) = after
            .split_at_checked(u32::from_be_bytes(*len) as usize)
            .ok_or_else(|| corrupt(key, "record view is cut short"))?;
        view = Some(v);
        rest = after;
    }
    let mut created = None;
    if flags & HAS_CREATED != 0 {
        let (c, after) = rest
            .split_first_chunk::<48>()
            .ok_or_else(|| corrupt(key, "record's creating entry is cut short"))?;
        created = Some(c);
        rest = after;
    }
    Ok(RecordValue {
        kind,
        pruned: flags & PRUNED != 0,
        view,
        created,
        doc: rest,
    })
}

fn decode_record(key: &[u8], v: &[u8]) -> Result<RecordState, StoreError> {
    let RecordValue {
        kind, pruned, doc, ..
    } = split_record(key, v)?;
    let kind = match kind {
        0 => None,
        k => Some(
            *RecordKind::ALL
                .get(usize::from(k) - 1)
                .ok_or_else(|| corrupt(key, "unknown record kind"))?,
        ),
    };
    Ok(RecordState {
        kind,
        pruned,
        doc: doc.to_vec(),
    })
}

fn decode_head(key: &[u8], v: &[u8]) -> Result<(u64, EntryHash), StoreError> {
    if v.len() != 40 {
        return Err(corrupt(key, "log head is not 40 bytes"));
    }
    Ok((
        u64::from_be_bytes(array(key, v.get(..8))?),
        EntryHash(minga_protocol::Hash(array(key, v.get(8..))?)),
    ))
}

/// The keys and values a batch writes, in one order for every backend.
fn batch_pairs(
    batch: &WriteBatch,
    mut heads: std::collections::BTreeMap<Vec<u8>, (u64, EntryHash)>,
    current_head: impl Fn(&[u8]) -> Result<(u64, EntryHash), StoreError>,
    current_created: impl Fn(&[u8]) -> Result<Option<[u8; 48]>, StoreError>,
    deletes: &mut Vec<Vec<u8>>,
) -> Result<Vec<Pair>, StoreError> {
    let mut out = Vec::new();
    // A record written in this batch keeps its creating entry's position in its own value.
    let written: std::collections::BTreeSet<Vec<u8>> = batch
        .records
        .iter()
        .map(|r| record_key(&r.coop, &r.id))
        .collect();
    let mut created = std::collections::BTreeMap::new();
    for e in &batch.entries {
        out.push((
            entry_key(&e.pos.coop, &e.pos.log, e.pos.seq),
            e.bytes.clone(),
        ));
        // A creating entry's hash is its record's id: its record's value keeps its position,
        // so it needs neither a key in the hash index (when its record is written with it)
        // nor one in the record's entry index.
        let creating = e.record.0 == e.hash.0;
        let record = record_key(&e.pos.coop, &e.record);
        if creating && written.contains(&record) {
            created.insert(record, position_in_coop(&e.pos));
        } else {
            out.push((hash_key(&e.hash), encode_pos(&e.pos)));
        }
        if !creating {
            out.push((record_entry_key(&e.pos.coop, &e.record, &e.pos), Vec::new()));
        }
        let hk = log_key(HEAD, &e.pos.coop, &e.pos.log);
        let held = match heads.get(&hk) {
            Some(h) => *h,
            None => current_head(&hk)?,
        };
        heads.insert(
            hk,
            if e.pos.seq >= held.0 {
                (e.pos.seq, e.hash)
            } else {
                held
            },
        );
    }
    for (k, (seq, hash)) in heads {
        if seq == 0 {
            deletes.push(k);
            continue;
        }
        let mut v = seq.to_be_bytes().to_vec();
        v.extend_from_slice(hash.as_bytes());
        out.push((k, v));
    }
    for r in &batch.records {
        let k = record_key(&r.coop, &r.id);
        let at = match created.get(&k) {
            Some(at) => Some(*at),
            None => current_created(&k)?,
        };
        let v = RecordValue::of(r).encode(at.as_ref());
        out.push((k, v));
    }
    for g in &batch.geneses {
        let mut v = g.signature.to_vec();
        v.extend_from_slice(&g.bytes);
        out.push((prefixed(GENESIS, g.coop.as_bytes()), v));
    }
    for (k, v) in &batch.views {
        out.push((prefixed(VIEW, k), v.clone()));
    }
    for p in &batch.peers {
        out.push((prefixed(PEER, p.as_bytes()), Vec::new()));
    }
    Ok(out)
}

/// Reads log heads out of `(key, value)` pairs under a co-op's head prefix.
fn decode_heads(
    pairs: impl Iterator<Item = Result<Pair, StoreError>>,
) -> Result<Vec<(LogId, u64, EntryHash)>, StoreError> {
    let mut out = Vec::new();
    for pair in pairs {
        let (k, v) = pair?;
        let log = decode_log(&k, k.get(33..).unwrap_or_default())?;
        let (seq, hash) = decode_head(&k, &v)?;
        out.push((log, seq, hash));
    }
    Ok(out)
}

fn decode_genesis(k: &[u8], v: &[u8]) -> Result<StoredGenesis, StoreError> {
    Ok(StoredGenesis {
        coop: CoopId(minga_protocol::Hash(array(k, k.get(1..33))?)),
        signature: array(k, v.get(..64))?,
        bytes: v[64..].to_vec(),
    })
}

fn decode_record_id(k: &[u8]) -> Result<RecordId, StoreError> {
    Ok(RecordId(minga_protocol::Hash(array(k, k.get(33..65))?)))
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
