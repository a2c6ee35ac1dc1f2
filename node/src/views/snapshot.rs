//! A snapshot of every view, written when a node stops and read in one sequential pass when
//! it starts, so a start with a million records neither scans the store's keyspace for views
//! nor parses them from text (issue 14: start-up ≤ 2 s at a million records).
//!
//! The store stays the truth: a snapshot is used only when the store still carries the
//! *stamp* written with it, and every write through the store deletes that stamp in the same
//! atomic batch (see [`SledStore::stamp`]). The snapshot also records a digest of every log
//! head ([`state_digest`]), so a store written meanwhile by a minga that knows nothing of
//! stamps is caught too. Whatever is wrong with a snapshot (stale, cut, damaged, from
//! another format) the node reads the views from the store, as it always did.
//!
//! The file, `views.snapshot` in the data directory (integers big-endian):
//!
//! ```text
//! magic "minga-views\n" (12) · format u32 (= 1) · stamp 16 · state digest 32
//! co-ops:     u32 n, then n × 32 bytes
//! categories: u32 n, then n × (u16 length + UTF-8)
//! units:      u32 n, then n × (u8 length + unit code)
//! views:      u64 n, then n × view
//! SHA-256 of every byte before it (32)
//!
//! view: record 32 · co-op u32 · category u32 (index + 1; 0: none) · kind u8 (index in
//!       RecordKind::ALL) · urgency u8 (index + 1; 0: none) · decision u8 (0 none, 1 accept,
//!       2 decline) · parts u8 · times u8 (bit i: time i present)
//!       then each present time i64 ms (ends, issued, from, until, created);
//!       parts bit 1: point, lat and lon i32 in millionths of a degree
//!             bit 2: quantity, 16-byte decimal (rust_decimal's serialized form) + unit u32
//!             bit 3: title, u16 length + UTF-8
//!             bit 5: radius, digits u32 + scale u8 (km = digits / 10^scale)
//!             bit 6: refers to, co-op 32 + record 32
//!             bit 4: rare, a u8 of its own parts then each present: offer (co-op 32 +
//!                    record 32), radius (16-byte decimal), minimum (as a quantity), point
//!                    text (u16 length + UTF-8)
//!       parts bit 0: withdrawn
//! ```

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use minga_protocol::{
    CoopId, Decision, Hash, Quantity, RecordId, RecordKind, RecordRef, Unit, Urgency,
};
use sha2::{Digest, Sha256};

use super::Views;
use super::held::{Held, Interned, NO_RADIUS, Rare};
use crate::store::{SledStore, Store, StoreError};

/// The snapshot's file name in the data directory.
pub const FILE: &str = "views.snapshot";

const MAGIC: &[u8; 12] = b"minga-views\n";
const FORMAT: u32 = 1;
const URGENCIES: [Urgency; 4] = [
    Urgency::Low,
    Urgency::Normal,
    Urgency::High,
    Urgency::Critical,
];

/// Why a snapshot was not used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read or written.
    #[error("views snapshot: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a snapshot this version reads, or it is damaged.
    #[error("views snapshot is damaged or of another format: {0}")]
    Damaged(&'static str),
}

/// A snapshot as read: the views, and what must match for them to be used.
pub struct Snapshot {
    /// The stamp the store must still hold.
    pub stamp: [u8; 16],
    /// The digest of the log heads the store must still have.
    pub state: [u8; 32],
    /// The views.
    pub views: Views,
}

/// A digest of every co-op the store carries and each of its logs' heads: what a write of
/// entries changes.
pub fn state_digest(store: &dyn Store) -> Result<[u8; 32], StoreError> {
    let mut coops: Vec<CoopId> = store.geneses()?.iter().map(|g| g.coop).collect();
    coops.sort();
    let mut h = Sha256::new();
    for coop in coops {
        h.update(coop.as_bytes());
        for (log, seq, hash) in store.log_heads(&coop)? {
            h.update(log.actor_bytes());
            h.update(seq.to_be_bytes());
            h.update(hash.as_bytes());
        }
    }
    Ok(h.finalize().into())
}

/// The views, if the snapshot in `dir` was written with the store as it stands. A missing
/// snapshot is `None` quietly; a stale or damaged one is `None` with a note in the log.
/// The file is removed once read: the next clean stop writes a new one.
pub fn take(
    dir: &Path,
    read: Result<Option<Snapshot>, SnapshotError>,
    store: &SledStore,
) -> Option<Views> {
    let _ = std::fs::remove_file(dir.join(FILE));
    let snapshot = match read {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "views snapshot not used; reading views from the store");
            return None;
        }
    };
    let current = match (store.stamp_of(), state_digest(store)) {
        (Ok(stamp), Ok(state)) => stamp == Some(snapshot.stamp) && state == snapshot.state,
        _ => false,
    };
    if !current {
        tracing::info!("views snapshot is older than the store; reading views from the store");
        return None;
    }
    Some(snapshot.views)
}

/// Writes the snapshot of `views` into `dir` (through a temporary file, synced, then renamed),
/// then stamps the store with it. The caller has flushed every commit first.
pub fn write(dir: &Path, views: &Views, store: &SledStore) -> Result<(), SnapshotError> {
    let mut stamp = [0u8; 16];
    getrandom::fill(&mut stamp)
        .map_err(|e| std::io::Error::other(format!("no randomness for the stamp: {e}")))?;
    let state = state_digest(store).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    let written = write_file(&tmp, views, &stamp, &state)
        .and_then(|()| std::fs::rename(&tmp, dir.join(FILE)))
        .and_then(|()| std::fs::File::open(dir)?.sync_all());
    if let Err(e) = written {
        // A full disk, say: no half-written file is left behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    store
        .stamp(stamp)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

fn write_file(
    path: &Path,
    views: &Views,
    stamp: &[u8; 16],
    state: &[u8; 32],
) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, file),
        hash: Sha256::new(),
    };
    encode(&mut out, views, stamp, state)?;
    let digest: [u8; 32] = out.hash.finalize().into();
    let mut inner = out.inner;
    inner.write_all(&digest)?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Reads the snapshot in `dir`, if there is one. Runs on a thread of its own while the store
/// opens; the caller then checks it against the store ([`take`]).
pub fn read(dir: &Path) -> Result<Option<Snapshot>, SnapshotError> {
    let file = match std::fs::File::open(dir.join(FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    let mut input = Hashing {
        inner: BufReader::with_capacity(1 << 20, file),
        hash: Sha256::new(),
    };
    let snapshot = decode(&mut input, len)?;
    let digest: [u8; 32] = input.hash.finalize().into();
    let mut stored = [0u8; 32];
    input.inner.read_exact(&mut stored).map_err(cut)?;
    if digest != stored {
        return Err(SnapshotError::Damaged("its checksum does not match"));
    }
    if input.inner.read(&mut [0u8; 1])? != 0 {
        return Err(SnapshotError::Damaged("bytes follow its checksum"));
    }
    Ok(Some(snapshot))
}

/// A reader or writer that hashes what passes through.
struct Hashing<T> {
    inner: T,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn cut(e: std::io::Error) -> SnapshotError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        SnapshotError::Damaged("it ends early")
    } else {
        SnapshotError::Io(e)
    }
}

pub(super) fn encode<W: Write>(
    out: &mut W,
    views: &Views,
    stamp: &[u8; 16],
    state: &[u8; 32],
) -> std::io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT.to_be_bytes())?;
    out.write_all(stamp)?;
    out.write_all(state)?;
    out.write_all(&(views.coops.all.len() as u32).to_be_bytes())?;
    for c in &views.coops.all {
        out.write_all(c.as_bytes())?;
    }
    out.write_all(&(views.categories.all.len() as u32).to_be_bytes())?;
    for c in &views.categories.all {
        text(out, c)?;
    }
    // Units are few: numbered here, in the order first met.
    let mut units: Interned<Unit> = Interned::default();
    for h in views.all() {
        let rare = h.rare.as_ref().and_then(|r| r.minimum);
        for q in h.quantity.iter().chain(rare.iter()) {
            units.intern(q.unit());
        }
    }
    out.write_all(&(units.all.len() as u32).to_be_bytes())?;
    for u in &units.all {
        let code = u.code().as_bytes();
        out.write_all(&[code.len() as u8])?;
        out.write_all(code)?;
    }
    out.write_all(&(views.len() as u64).to_be_bytes())?;
    let quantity = |out: &mut W, q: &Quantity| -> std::io::Result<()> {
        out.write_all(&q.value().serialize())?;
        out.write_all(&units.id(&q.unit()).unwrap_or(0).to_be_bytes())
    };
    for h in views.all() {
        out.write_all(h.id.as_bytes())?;
        out.write_all(&h.coop.to_be_bytes())?;
        out.write_all(&h.category.to_be_bytes())?;
        let kind = RecordKind::ALL.iter().position(|k| *k == h.kind);
        let urgency = h
            .urgency
            .and_then(|u| URGENCIES.iter().position(|x| *x == u));
        let decision = match h.decision {
            None => 0,
            Some(Decision::Accept) => 1,
            Some(Decision::Decline) => 2,
        };
        let parts = u8::from(h.withdrawn)
            | u8::from(h.point.is_some()) << 1
            | u8::from(h.quantity.is_some()) << 2
            | u8::from(views.titles.get(h.title).is_some()) << 3
            | u8::from(h.rare.is_some()) << 4
            | u8::from(h.radius_scale != NO_RADIUS) << 5
            | u8::from(h.refers_to.is_some()) << 6;
        out.write_all(&[
            kind.unwrap_or(0) as u8,
            urgency.map_or(0, |u| u as u8 + 1),
            decision,
            parts,
            h.has_time,
        ])?;
        for t in (0..5).filter_map(|i| h.time(i)) {
            out.write_all(&t.0.to_be_bytes())?;
        }
        if let Some([lat, lon]) = h.point {
            out.write_all(&lat.to_be_bytes())?;
            out.write_all(&lon.to_be_bytes())?;
        }
        if let Some(q) = &h.quantity {
            quantity(out, q)?;
        }
        if let Some(t) = views.titles.get(h.title) {
            text(out, t)?;
        }
        if h.radius_scale != NO_RADIUS {
            out.write_all(&h.radius.to_be_bytes())?;
            out.write_all(&[h.radius_scale])?;
        }
        for x in h.refers_to.iter() {
            out.write_all(x.coop.as_bytes())?;
            out.write_all(x.record.as_bytes())?;
        }
        if let Some(r) = &h.rare {
            let parts = u8::from(r.offer.is_some())
                | u8::from(r.radius_km.is_some()) << 1
                | u8::from(r.minimum.is_some()) << 2
                | u8::from(r.point_text.is_some()) << 3;
            out.write_all(&[parts])?;
            for x in r.offer.iter() {
                out.write_all(x.coop.as_bytes())?;
                out.write_all(x.record.as_bytes())?;
            }
            if let Some(d) = r.radius_km {
                out.write_all(&d.serialize())?;
            }
            if let Some(q) = &r.minimum {
                quantity(out, q)?;
            }
            if let Some(t) = &r.point_text {
                text(out, t)?;
            }
        }
    }
    Ok(())
}

fn text<W: Write>(out: &mut W, t: &str) -> std::io::Result<()> {
    // Texts in views are far shorter (records cap them); a longer one is cut at a character
    // boundary rather than break the layout.
    let mut end = t.len().min(usize::from(u16::MAX));
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    out.write_all(&(end as u16).to_be_bytes())?;
    out.write_all(&t.as_bytes()[..end])
}

/// Reads fields, each checked: whatever the bytes, an error and never a panic.
struct Fields<'a, R> {
    input: &'a mut R,
    /// Bytes the file has, bounding every count it declares.
    len: u64,
}

impl<R: Read> Fields<'_, R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut b = [0u8; N];
        self.input.read_exact(&mut b).map_err(cut)?;
        Ok(b)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.bytes::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.bytes()?))
    }

    /// A count of items at least `min` bytes each, which the file must have room for.
    fn count(&mut self, wide: bool, min: u64) -> Result<usize, SnapshotError> {
        let n = if wide {
            u64::from_be_bytes(self.bytes()?)
        } else {
            u64::from(self.u32()?)
        };
        if n.saturating_mul(min) > self.len {
            return Err(SnapshotError::Damaged("it counts more than it holds"));
        }
        Ok(n as usize)
    }

    fn text(&mut self) -> Result<String, SnapshotError> {
        let n = u16::from_be_bytes(self.bytes()?);
        let mut b = vec![0u8; usize::from(n)];
        self.input.read_exact(&mut b).map_err(cut)?;
        String::from_utf8(b).map_err(|_| SnapshotError::Damaged("a text is not UTF-8"))
    }

    fn decimal(&mut self) -> Result<rust_decimal::Decimal, SnapshotError> {
        let b: [u8; 16] = self.bytes()?;
        // The scale sits in the flags' third byte; rust_decimal keeps at most 28 places.
        if b[2] > 28 || b[0] != 0 || b[1] != 0 || b[3] & 0x7f != 0 {
            return Err(SnapshotError::Damaged("a decimal is malformed"));
        }
        Ok(rust_decimal::Decimal::deserialize(b))
    }

    fn quantity(&mut self, units: &[Unit]) -> Result<Quantity, SnapshotError> {
        let value = self.decimal()?;
        let unit = *units
            .get(self.u32()? as usize)
            .ok_or(SnapshotError::Damaged("a quantity names no unit"))?;
        Quantity::new(value, unit).map_err(|_| SnapshotError::Damaged("a quantity is invalid"))
    }

    fn reference(&mut self) -> Result<RecordRef, SnapshotError> {
        Ok(RecordRef {
            coop: CoopId(Hash(self.bytes()?)),
            record: RecordId(Hash(self.bytes()?)),
        })
    }
}

pub(super) fn decode<R: Read>(input: &mut R, len: u64) -> Result<Snapshot, SnapshotError> {
    let mut f = Fields { input, len };
    if &f.bytes::<12>()? != MAGIC {
        return Err(SnapshotError::Damaged("it does not start as a snapshot"));
    }
    if f.u32()? != FORMAT {
        return Err(SnapshotError::Damaged("it is of another format"));
    }
    let stamp = f.bytes()?;
    let state = f.bytes()?;
    let mut views = Views::default();
    for _ in 0..f.count(false, 32)? {
        views.coops.intern(CoopId(Hash(f.bytes()?)));
    }
    let coops = views.coops.all.len() as u32;
    for _ in 0..f.count(false, 2)? {
        let t = f.text()?.into_boxed_str();
        let parsed = t.parse().ok();
        let id = views.categories.intern(t);
        if id as usize == views.parsed.len() {
            views.parsed.push(parsed);
        }
    }
    let categories = views.categories.all.len() as u32;
    let mut units = Vec::new();
    for _ in 0..f.count(false, 1)? {
        let n = f.u8()?;
        let mut b = vec![0u8; usize::from(n)];
        f.input.read_exact(&mut b).map_err(cut)?;
        let code = std::str::from_utf8(&b).map_err(|_| SnapshotError::Damaged("a unit"))?;
        units.push(
            code.parse::<Unit>()
                .map_err(|_| SnapshotError::Damaged("a unit is unknown"))?,
        );
    }
    let n = f.count(true, 45)?;
    views.records.reserve_exact(n);
    views.index.reserve(n, |_| 0);
    for _ in 0..n {
        let id = RecordId(Hash(f.bytes()?));
        let coop = f.u32()?;
        let category = f.u32()?;
        let [kind, urgency, decision, parts, has_time] = f.bytes()?;
        if coop >= coops || category > categories || has_time >= 1 << 5 {
            return Err(SnapshotError::Damaged("a view is out of range"));
        }
        let mut times = [0i64; 5];
        for (i, t) in times.iter_mut().enumerate() {
            if has_time & (1 << i) != 0 {
                *t = i64::from_be_bytes(f.bytes()?);
            }
        }
        let point = if parts & 2 != 0 {
            Some([
                i32::from_be_bytes(f.bytes()?),
                i32::from_be_bytes(f.bytes()?),
            ])
        } else {
            None
        };
        if point.is_some_and(|p| super::held::point_of(p).is_none()) {
            return Err(SnapshotError::Damaged("a point is off the Earth"));
        }
        let quantity = (parts & 4 != 0).then(|| f.quantity(&units)).transpose()?;
        let title = match parts & 8 != 0 {
            true => views.titles.add(&f.text()?),
            false => super::held::Title::NONE,
        };
        let (radius, radius_scale) = if parts & 32 != 0 {
            let digits = f.u32()?;
            let scale = f.u8()?;
            if scale > 28 {
                return Err(SnapshotError::Damaged("a radius is malformed"));
            }
            (digits, scale)
        } else {
            (0, NO_RADIUS)
        };
        let refers_to = (parts & 64 != 0)
            .then(|| f.reference().map(Box::new))
            .transpose()?;
        let rare = if parts & 16 != 0 {
            let bits = f.u8()?;
            let mut r = Rare::default();
            if bits & 1 != 0 {
                r.offer = Some(f.reference()?);
            }
            if bits & 2 != 0 {
                r.radius_km = Some(f.decimal()?);
            }
            if bits & 4 != 0 {
                r.minimum = Some(f.quantity(&units)?);
            }
            if bits & 8 != 0 {
                r.point_text = Some(f.text()?);
            }
            Some(Box::new(r))
        } else {
            None
        };
        let mut held = Held {
            id,
            coop,
            category,
            kind: *RecordKind::ALL
                .get(usize::from(kind))
                .ok_or(SnapshotError::Damaged("a view's kind is unknown"))?,
            urgency: match urgency {
                0 => None,
                u => Some(
                    *URGENCIES
                        .get(usize::from(u - 1))
                        .ok_or(SnapshotError::Damaged("a view's urgency is unknown"))?,
                ),
            },
            decision: match decision {
                0 => None,
                1 => Some(Decision::Accept),
                2 => Some(Decision::Decline),
                _ => return Err(SnapshotError::Damaged("a view's decision is unknown")),
            },
            withdrawn: parts & 1 != 0,
            has_time: 0,
            radius_scale,
            radius,
            point,
            quantity,
            times: [0; 2],
            title,
            refers_to,
            rare,
        };
        held.hold_times(has_time, times);
        if views.contains_held(&held) {
            return Err(SnapshotError::Damaged("a view is there twice"));
        }
        views.place(held);
    }
    Ok(Snapshot {
        stamp,
        state,
        views,
    })
}

/// The fuzz target's body (see `crate::fuzzing::views_snapshot`).
#[cfg(feature = "fuzzing")]
#[allow(clippy::panic)]
pub(crate) fn fuzz(data: &[u8]) {
    let Ok(read) = decode(&mut &data[..], data.len() as u64) else {
        return;
    };
    let mut again = Vec::new();
    if encode(&mut again, &read.views, &read.stamp, &read.state).is_err() {
        panic!("a snapshot read does not write back");
    }
    let Ok(back) = decode(&mut again.as_slice(), again.len() as u64) else {
        panic!("a snapshot written from one read does not read");
    };
    let all = super::Query {
        all: true,
        ..super::Query::default()
    };
    let at = minga_protocol::Timestamp(0);
    if back.views.query(&all, at) != read.views.query(&all, at) {
        panic!("a snapshot read and written back holds other views");
    }
}

/// A snapshot body of `views` (see `crate::fuzzing::encode_views_snapshot`).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_seed(views: Vec<super::RecordView>) -> Vec<u8> {
    let mut held = Views::default();
    for v in views {
        held.upsert(v);
    }
    let mut out = Vec::new();
    let _ = encode(&mut out, &held, &[1; 16], &[2; 32]);
    out
}
