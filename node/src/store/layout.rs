//! The store's byte layout: every key under its one-byte prefix, and every value, as each
//! backend holds them. What a backup copies and a restore writes back is exactly this, so
//! it changes only with the store's format (see [`crate::upgrade`]).
//!
//! | prefix | key after it | value |
//! |---|---|---|
//! | `e` | co-op (32), log author (32), device (u64), sequence (u64) | the entry, encoded |
//! | `h` | entry hash (32) | co-op, author, device, sequence: only for an entry that changes a record, or one that creates a record written without it |
//! | `x` | co-op, record id (32), author, device, sequence | empty: the record's entry index, entries that change it |
//! | `v` | co-op, author, device | the log's head: sequence (u64), hash (32) |
//! | `r` | co-op, record id | the record (see [`RecordValue`]) |
//! | `g` | co-op | the genesis: signature (64), then its signed bytes |
//! | `w` | the view's own key | a view or small value |
//! | `p` | a peer's address, as text | empty |
//! | `S` | `/views-snapshot` | the stamp of the views snapshot written with the store as it is (16 bytes; sled only, see `SledStore::stamp`) |
//!
//! Integers are big-endian.

use minga_protocol::{CoopId, EntryHash, LogId, RecordId, RecordKind, RecordState};

use super::{EntryPos, Pair, StoreError, StoredGenesis, StoredRecord, WriteBatch};

// Keys share one keyspace, each kind under its own one-byte prefix, so a commit is a single
// atomic batch.
pub(super) const ENTRY: u8 = b'e';
pub(super) const HASH: u8 = b'h';
pub(super) const HEAD: u8 = b'v';
pub(super) const RECORD: u8 = b'r';
pub(super) const GENESIS: u8 = b'g';
pub(super) const VIEW: u8 = b'w';
pub(super) const PEER: u8 = b'p';
pub(super) const RECORD_ENTRY: u8 = b'x';

pub(super) fn log_key(prefix: u8, coop: &CoopId, log: &LogId) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 32 + 32 + 8 + 8);
    k.push(prefix);
    k.extend_from_slice(coop.as_bytes());
    k.extend_from_slice(log.author.as_bytes());
    k.extend_from_slice(&log.device.0.to_be_bytes());
    k
}

pub(super) fn entry_key(coop: &CoopId, log: &LogId, seq: u64) -> Vec<u8> {
    let mut k = log_key(ENTRY, coop, log);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(super) fn hash_key(hash: &EntryHash) -> Vec<u8> {
    let mut k = vec![HASH];
    k.extend_from_slice(hash.as_bytes());
    k
}

pub(super) fn record_key(coop: &CoopId, id: &RecordId) -> Vec<u8> {
    let mut k = vec![RECORD];
    k.extend_from_slice(coop.as_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// The key under which the record's entry index lists an entry that changes it.
pub(super) fn record_entry_key(coop: &CoopId, id: &RecordId, pos: &EntryPos) -> Vec<u8> {
    let mut k = record_key(coop, id);
    k[0] = RECORD_ENTRY;
    k.extend_from_slice(&encode_pos(pos)[32..]);
    k
}

pub(super) fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(rest);
    k
}

pub(super) fn corrupt(key: &[u8], reason: &'static str) -> StoreError {
    StoreError::Corrupt {
        key: minga_protocol::Hash::of(key).short(),
        reason,
    }
}

pub(super) fn encode_pos(pos: &EntryPos) -> Vec<u8> {
    let mut v = log_key(0, &pos.coop, &pos.log)[1..].to_vec();
    v.extend_from_slice(&pos.seq.to_be_bytes());
    v
}

pub(super) fn array<const N: usize>(key: &[u8], b: Option<&[u8]>) -> Result<[u8; N], StoreError> {
    b.and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(key, "a stored field is short"))
}

pub(super) fn decode_pos(key: &[u8], v: &[u8]) -> Result<EntryPos, StoreError> {
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
pub(super) fn decode_log(key: &[u8], b: &[u8]) -> Result<LogId, StoreError> {
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
pub(super) const PRUNED: u8 = 1;
pub(super) const HAS_VIEW: u8 = 2;
pub(super) const HAS_CREATED: u8 = 4;

/// A record's value, split into its parts.
pub(super) struct RecordValue<'a> {
    pub(super) kind: u8,
    pub(super) pruned: bool,
    pub(super) view: Option<&'a [u8]>,
    /// Where its creating entry sits (log author, device, sequence), when kept here.
    pub(super) created: Option<&'a [u8; 48]>,
    pub(super) doc: &'a [u8],
}

impl RecordValue<'_> {
    pub(super) fn of(record: &StoredRecord) -> RecordValue<'_> {
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
    pub(super) fn encode(&self, created: Option<&[u8; 48]>) -> Vec<u8> {
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
    pub(super) fn created_pos(
        &self,
        key: &[u8],
        coop: &CoopId,
    ) -> Result<Option<EntryPos>, StoreError> {
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
pub(super) fn position_in_coop(pos: &EntryPos) -> [u8; 48] {
    let mut out = [0; 48];
    out.copy_from_slice(&encode_pos(pos)[32..]);
    out
}

pub(super) fn split_record<'a>(key: &[u8], v: &'a [u8]) -> Result<RecordValue<'a>, StoreError> {
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

pub(super) fn decode_record(key: &[u8], v: &[u8]) -> Result<RecordState, StoreError> {
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

pub(super) fn decode_head(key: &[u8], v: &[u8]) -> Result<(u64, EntryHash), StoreError> {
    if v.len() != 40 {
        return Err(corrupt(key, "log head is not 40 bytes"));
    }
    Ok((
        u64::from_be_bytes(array(key, v.get(..8))?),
        EntryHash(minga_protocol::Hash(array(key, v.get(8..))?)),
    ))
}

/// The keys and values a batch writes, in one order for every backend.
pub(super) fn batch_pairs(
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
pub(super) fn decode_heads(
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

pub(super) fn decode_genesis(k: &[u8], v: &[u8]) -> Result<StoredGenesis, StoreError> {
    Ok(StoredGenesis {
        coop: CoopId(minga_protocol::Hash(array(k, k.get(1..33))?)),
        signature: array(k, v.get(..64))?,
        bytes: v[64..].to_vec(),
    })
}

pub(super) fn decode_record_id(k: &[u8]) -> Result<RecordId, StoreError> {
    Ok(RecordId(minga_protocol::Hash(array(k, k.get(33..65))?)))
}
