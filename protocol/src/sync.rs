//! Catch-up between two nodes, as pure logic: version vectors, digests, and the messages.
//!
//! Logs have no gaps, so a per-co-op version vector (log → highest sequence number) says
//! exactly what a node holds. A session is:
//!
//! 1. `Summary`: one digest per co-op the initiator carries;
//! 2. `Vectors`: the responder's full vectors, only for the co-ops whose digests differ, in
//!    co-op order, stopping before a vector that would take the answer past
//!    [`MAX_VECTORS_BYTES`] (`more` then says so, and the initiator asks again about the
//!    co-ops after the last one answered: [`differing_vectors`]);
//! 3. `Want` / `Entries`: the initiator asks for the ranges it lacks ([`plan_wants`]) and the
//!    responder streams them in log order, in bounded batches ([`serve_wants`]). The initiator
//!    plans each further want from everything it has received, counting entries that wait in
//!    its pending buffer, so a batch it cannot apply yet is never asked for twice.
//!
//! 4. `WantProof`: a `Vectors` answer also lists the log positions the responder holds
//!    equivocation proofs of; the initiator asks for each it lacks and gets the two entries
//!    as `Entries` (none if the responder no longer holds it), so a forked log stops on every
//!    node, not only where both branches happened to arrive;
//! 5. `WantPayloads`: the initiator asks for entries by hash whose payloads it is missing (a
//!    withdrawal that held them as headers was voided), whatever the vectors say, and gets
//!    those the responder holds whole as `Entries`.
//!
//! Each side runs its own session to pull what it lacks, so one round trip finds the
//! difference and the bytes that follow are close to the missing entries themselves. The
//! initiator's side is the state machine [`SyncSession`](crate::SyncSession).
//!
//! Wire layout (integers big-endian; `n ×` repeats):
//!
//! | message | layout |
//! |---|---|
//! | Summary | `01`, u32 n, n × (co-op id 32, digest 32) |
//! | Vectors | `02`, u8 more, u32 n, n × (co-op id 32, u32 m, m × (author 32, device 8, seq 8)), u32 f, f × (co-op id 32, author 32, device 8, seq 8) |
//! | Want | `03`, co-op id 32, u32 n, n × (author 32, device 8, from 8, to 8) |
//! | Entries | `04`, co-op id 32, u8 more, u32 n, n × (u32 len, entry) |
//! | WantProof | `05`, co-op id 32, author 32, device 8, seq 8 |
//! | WantPayloads | `06`, co-op id 32, u32 n, n × entry hash 32 |
//!
//! The fork list of `Vectors` (`f` positions, at most [`MAX_FORKS`]) names only co-ops the
//! answer gives vectors for.

use std::collections::BTreeMap;

use crate::canonical::{CanonError, MAX_STATEMENT_BYTES, Signed, Statement};
use crate::entry::MAX_ENTRY_BYTES;
use crate::hash::Hash;
use crate::ids::{CoopId, DeviceId, EntryHash, LogId};
use crate::keys::{PublicKey, Signature};
use crate::network::{MAX_FOUNDERS, NetworkId};
use crate::wire::{Reader, WireError};

/// The largest sync message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// The most co-ops one summary or vectors message may carry.
pub const MAX_COOPS: usize = 10_000;
/// The most logs one co-op's vector may carry.
pub const MAX_LOGS: usize = 100_000;
/// The most ranges one want may carry.
pub const MAX_WANTS: usize = 10_000;
/// The most bytes of vectors one `Vectors` answer carries before it stops and says `more`
/// (one vector of [`MAX_LOGS`] logs always fits).
pub const MAX_VECTORS_BYTES: usize = 6 * 1024 * 1024;
/// The most fork positions one `Vectors` answer lists.
pub const MAX_FORKS: usize = 4096;
/// The most entry hashes one `WantPayloads` asks for.
pub const MAX_PAYLOAD_WANTS: usize = 256;
/// The most entries in one batch.
pub const MAX_BATCH_ENTRIES: usize = 1024;
/// The most entry bytes in one batch (a batch may exceed it by one entry's worth, never more).
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// What one node holds of one co-op: each log's highest sequence number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<LogId, u64>);

impl VersionVector {
    /// A vector from log heads (zero heads are left out).
    pub fn from_heads(heads: impl IntoIterator<Item = (LogId, u64)>) -> VersionVector {
        VersionVector(heads.into_iter().filter(|(_, s)| *s > 0).collect())
    }

    /// The highest sequence number held for a log (0 if none).
    pub fn get(&self, log: &LogId) -> u64 {
        self.0.get(log).copied().unwrap_or(0)
    }

    /// Records that a log now reaches `seq` (never moves backwards).
    pub fn advance(&mut self, log: LogId, seq: u64) {
        let e = self.0.entry(log).or_insert(0);
        *e = (*e).max(seq);
    }

    /// Every log and its head.
    pub fn iter(&self) -> impl Iterator<Item = (&LogId, &u64)> {
        self.0.iter()
    }

    /// Number of logs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no log is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Total entries held.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// A digest that two nodes compare to know, in one exchange, whether they hold the same.
    pub fn digest(&self) -> Hash {
        let mut buf = Vec::with_capacity(self.0.len() * 48);
        for (log, seq) in &self.0 {
            buf.extend_from_slice(log.author.as_bytes());
            buf.extend_from_slice(&log.device.0.to_be_bytes());
            buf.extend_from_slice(&seq.to_be_bytes());
        }
        Hash::of(&buf)
    }
}

/// A range of one log's entries, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// The log.
    pub log: LogId,
    /// First sequence number wanted.
    pub from: u64,
    /// Last sequence number wanted.
    pub to: u64,
}

/// The ranges `remote` holds that `local` lacks, in log order.
pub fn plan_wants(local: &VersionVector, remote: &VersionVector) -> Vec<Want> {
    remote
        .iter()
        .filter_map(|(log, &to)| {
            let have = local.get(log);
            (to > have).then_some(Want {
                log: *log,
                from: have + 1,
                to,
            })
        })
        .collect()
}

/// How many entries of one log a batch takes before moving on to the next log.
const ROUND_ENTRIES: u64 = 64;

/// Answers wants from a store, stopping at the batch limits. Each log is served in order, and
/// logs take turns ([`ROUND_ENTRIES`] at a time), so that one long log cannot fill every batch
/// while the entries it depends on (a certificate in another log, say) wait behind it.
/// Returns the encoded entries and whether more remain; the peer then asks again from where
/// it got to. `fetch(log, seq)` returns an entry's encoded bytes, or `None` if not held.
pub fn serve_wants(
    wants: &[Want],
    mut fetch: impl FnMut(&LogId, u64) -> Option<Vec<u8>>,
) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    // The next sequence number to serve for each want; `None` once it is done.
    let mut next: Vec<Option<u64>> = wants.iter().map(|w| Some(w.from)).collect();
    while next.iter().any(Option::is_some) {
        for (w, cursor) in wants.iter().zip(next.iter_mut()) {
            let Some(start) = *cursor else { continue };
            let end = w.to.min(start.saturating_add(ROUND_ENTRIES - 1));
            *cursor = (end < w.to).then_some(end + 1);
            for seq in start..=end {
                if out.len() >= MAX_BATCH_ENTRIES || bytes >= MAX_BATCH_BYTES {
                    return (out, true);
                }
                match fetch(&w.log, seq) {
                    Some(e) => {
                        bytes += e.len();
                        out.push(e);
                    }
                    // Logs have no gaps: nothing past a missing entry can be used either.
                    None => {
                        *cursor = None;
                        break;
                    }
                }
            }
        }
    }
    (out, false)
}

/// One message of a catch-up session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncMessage {
    /// One digest per co-op carried.
    Summary(Vec<(CoopId, Hash)>),
    /// Full vectors for the co-ops whose digests differ, in co-op order.
    Vectors {
        /// The vectors.
        vectors: Vec<(CoopId, VersionVector)>,
        /// Log positions of those co-ops that the responder holds equivocation proofs of.
        forks: Vec<(CoopId, LogId, u64)>,
        /// Whether the answer stopped early: co-ops after the last one listed may differ too.
        more: bool,
    },
    /// Ranges wanted from one co-op's logs.
    Want {
        /// The co-op.
        coop: CoopId,
        /// The ranges.
        ranges: Vec<Want>,
    },
    /// A batch of encoded entries of one co-op, in log order.
    Entries {
        /// The co-op.
        coop: CoopId,
        /// The entries, encoded.
        entries: Vec<Vec<u8>>,
        /// Whether the sender has more for the same wants.
        more: bool,
    },
    /// The two entries a key signed at one position of one co-op's log.
    WantProof {
        /// The co-op.
        coop: CoopId,
        /// The log.
        log: LogId,
        /// The position signed twice.
        seq: u64,
    },
    /// Entries of one co-op by hash, whole.
    WantPayloads {
        /// The co-op.
        coop: CoopId,
        /// The entries' hashes.
        hashes: Vec<EntryHash>,
    },
    /// Asks for a network's genesis and its founders' geneses: the first thing a node that
    /// joins by invite needs (it checks the genesis against the invite's network id).
    NetworkAsk {
        /// The network.
        network: NetworkId,
    },
    /// The answer to [`SyncMessage::NetworkAsk`].
    NetworkInfo {
        /// The network's signed genesis, if the node knows the network.
        genesis: Option<SignedBytes>,
        /// The signed geneses of its founding co-ops that the node holds (at most
        /// [`crate::network::MAX_FOUNDERS`]).
        founders: Vec<SignedBytes>,
    },
    /// A co-op asks to join a network, for the admins of its co-ops to vouch.
    Join {
        /// The network.
        network: NetworkId,
        /// The co-op's signed genesis.
        genesis: SignedBytes,
        /// A line about the co-op, for the admins who decide (at most [`MAX_NOTE_BYTES`]).
        note: String,
    },
    /// The answer to [`SyncMessage::Join`].
    JoinAnswer {
        /// Whether the request is now held for the network's admins (or the co-op is already
        /// in).
        kept: bool,
        /// Why not, or what happens next.
        reason: String,
    },
}

/// The longest note in a join request, or reason in its answer, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;

/// A signed statement as it travels: its canonical bytes and its signature, checked by
/// whoever reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedBytes {
    /// The statement's canonical bytes (at most [`MAX_STATEMENT_BYTES`]).
    pub bytes: Vec<u8>,
    /// Its signature.
    pub signature: [u8; 64],
}

impl SignedBytes {
    /// The bytes of a signed statement.
    pub fn of<T: Statement>(s: &Signed<T>) -> SignedBytes {
        SignedBytes {
            bytes: s.bytes().to_vec(),
            signature: s.signature().0,
        }
    }

    /// Checks the signature and reads the statement.
    pub fn open<T: Statement>(&self) -> Result<Signed<T>, CanonError> {
        Signed::verify(&self.bytes, Signature(self.signature))
    }

    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&len32(self.bytes.len()));
        out.extend_from_slice(&self.bytes);
        out.extend_from_slice(&self.signature);
    }

    fn read(r: &mut Reader<'_>) -> Result<SignedBytes, SyncError> {
        let n = count(r, "statement length", MAX_STATEMENT_BYTES)?;
        Ok(SignedBytes {
            bytes: r.take("statement", n)?.to_vec(),
            signature: r.array("signature")?,
        })
    }
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    // Cut at a character's edge, so what is sent is still text.
    let mut end = text.len().min(MAX_NOTE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&len32(end));
    out.extend_from_slice(&text.as_bytes()[..end]);
}

fn read_text(r: &mut Reader<'_>, what: &'static str) -> Result<String, SyncError> {
    let n = count(r, what, MAX_NOTE_BYTES)?;
    String::from_utf8(r.take(what, n)?.to_vec()).map_err(|_| SyncError::Text(what))
}

/// Why bytes are not a sync message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Bounds or trailing bytes.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("sync message is {0} bytes, more than the limit of {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// Unknown message tag.
    #[error("unknown sync message type {0}")]
    Tag(u8),
    /// A count over its limit.
    #[error("{what}: {found} is more than the limit of {limit}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count given.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// An author that is not a public key.
    #[error("a log author is not a valid ed25519 key")]
    Author,
    /// A range that runs backwards or starts at 0.
    #[error("a wanted range is empty or starts at 0")]
    Range,
    /// A log listed twice, or logs out of order, in a vector.
    #[error("a version vector lists logs out of order or twice")]
    VectorOrder,
    /// A text field that is not UTF-8.
    #[error("{0} is not UTF-8 text")]
    Text(&'static str),
}

fn count(r: &mut Reader<'_>, what: &'static str, limit: usize) -> Result<usize, SyncError> {
    let n = r.u32(what)? as usize;
    if n > limit {
        return Err(SyncError::TooMany {
            what,
            found: n,
            limit,
        });
    }
    Ok(n)
}

fn put_log(out: &mut Vec<u8>, log: &LogId) {
    out.extend_from_slice(log.author.as_bytes());
    out.extend_from_slice(&log.device.0.to_be_bytes());
}

fn read_log(r: &mut Reader<'_>) -> Result<LogId, SyncError> {
    let author = PublicKey::from_bytes(&r.array("author")?).map_err(|_| SyncError::Author)?;
    Ok(LogId {
        author,
        device: DeviceId(r.u64("device")?),
    })
}

fn len32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes()
}

impl SyncMessage {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            SyncMessage::Summary(items) => {
                out.push(1);
                out.extend_from_slice(&len32(items.len()));
                for (coop, digest) in items {
                    out.extend_from_slice(coop.as_bytes());
                    out.extend_from_slice(digest.as_bytes());
                }
            }
            SyncMessage::Vectors {
                vectors: items,
                forks,
                more,
            } => {
                out.push(2);
                out.push(u8::from(*more));
                out.extend_from_slice(&len32(items.len()));
                for (coop, vv) in items {
                    out.extend_from_slice(coop.as_bytes());
                    out.extend_from_slice(&len32(vv.len()));
                    for (log, seq) in vv.iter() {
                        put_log(&mut out, log);
                        out.extend_from_slice(&seq.to_be_bytes());
                    }
                }
                out.extend_from_slice(&len32(forks.len()));
                for (coop, log, seq) in forks {
                    out.extend_from_slice(coop.as_bytes());
                    put_log(&mut out, log);
                    out.extend_from_slice(&seq.to_be_bytes());
                }
            }
            SyncMessage::WantProof { coop, log, seq } => {
                out.push(5);
                out.extend_from_slice(coop.as_bytes());
                put_log(&mut out, log);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            SyncMessage::WantPayloads { coop, hashes } => {
                out.push(6);
                out.extend_from_slice(coop.as_bytes());
                out.extend_from_slice(&len32(hashes.len()));
                for h in hashes {
                    out.extend_from_slice(h.as_bytes());
                }
            }
            SyncMessage::Want { coop, ranges } => {
                out.push(3);
                out.extend_from_slice(coop.as_bytes());
                out.extend_from_slice(&len32(ranges.len()));
                for w in ranges {
                    put_log(&mut out, &w.log);
                    out.extend_from_slice(&w.from.to_be_bytes());
                    out.extend_from_slice(&w.to.to_be_bytes());
                }
            }
            SyncMessage::NetworkAsk { network } => {
                out.push(7);
                out.extend_from_slice(network.as_bytes());
            }
            SyncMessage::NetworkInfo { genesis, founders } => {
                out.push(8);
                match genesis {
                    Some(g) => {
                        out.push(1);
                        g.put(&mut out);
                    }
                    None => out.push(0),
                }
                out.extend_from_slice(&len32(founders.len()));
                for f in founders {
                    f.put(&mut out);
                }
            }
            SyncMessage::Join {
                network,
                genesis,
                note,
            } => {
                out.push(9);
                out.extend_from_slice(network.as_bytes());
                genesis.put(&mut out);
                put_text(&mut out, note);
            }
            SyncMessage::JoinAnswer { kept, reason } => {
                out.push(10);
                out.push(u8::from(*kept));
                put_text(&mut out, reason);
            }
            SyncMessage::Entries {
                coop,
                entries,
                more,
            } => {
                out.push(4);
                out.extend_from_slice(coop.as_bytes());
                out.push(u8::from(*more));
                out.extend_from_slice(&len32(entries.len()));
                for e in entries {
                    out.extend_from_slice(&len32(e.len()));
                    out.extend_from_slice(e);
                }
            }
        }
        out
    }

    /// Decodes within the size and count limits. Entries inside a batch are left encoded:
    /// the session decodes them once ([`crate::SyncSession`]), validation checks them.
    pub fn decode(bytes: &[u8]) -> Result<SyncMessage, SyncError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(SyncError::TooLarge(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        let coop = |r: &mut Reader<'_>| -> Result<CoopId, SyncError> {
            Ok(CoopId(Hash(r.array("co-op id")?)))
        };
        let msg = match r.u8("message type")? {
            1 => {
                let n = count(&mut r, "co-ops", MAX_COOPS)?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push((coop(&mut r)?, Hash(r.array("digest")?)));
                }
                SyncMessage::Summary(items)
            }
            2 => {
                let more = r.u8("more")? != 0;
                let n = count(&mut r, "co-ops", MAX_COOPS)?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let c = coop(&mut r)?;
                    let m = count(&mut r, "logs", MAX_LOGS)?;
                    let mut map = BTreeMap::new();
                    let mut last: Option<LogId> = None;
                    for _ in 0..m {
                        let log = read_log(&mut r)?;
                        if last.is_some_and(|l| l >= log) {
                            return Err(SyncError::VectorOrder);
                        }
                        last = Some(log);
                        map.insert(log, r.u64("seq")?);
                    }
                    items.push((c, VersionVector::from_heads(map)));
                }
                let f = count(&mut r, "forks", MAX_FORKS)?;
                let mut forks = Vec::with_capacity(f.min(1024));
                for _ in 0..f {
                    forks.push((coop(&mut r)?, read_log(&mut r)?, r.u64("seq")?));
                }
                SyncMessage::Vectors {
                    vectors: items,
                    forks,
                    more,
                }
            }
            3 => {
                let c = coop(&mut r)?;
                let n = count(&mut r, "ranges", MAX_WANTS)?;
                let mut ranges = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let log = read_log(&mut r)?;
                    let (from, to) = (r.u64("from")?, r.u64("to")?);
                    if from == 0 || to < from {
                        return Err(SyncError::Range);
                    }
                    ranges.push(Want { log, from, to });
                }
                SyncMessage::Want { coop: c, ranges }
            }
            4 => {
                let c = coop(&mut r)?;
                let more = r.u8("more")? != 0;
                let n = count(&mut r, "entries", MAX_BATCH_ENTRIES)?;
                let mut entries = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let len = count(&mut r, "entry length", MAX_ENTRY_BYTES)?;
                    entries.push(r.take("entry", len)?.to_vec());
                }
                SyncMessage::Entries {
                    coop: c,
                    entries,
                    more,
                }
            }
            5 => SyncMessage::WantProof {
                coop: coop(&mut r)?,
                log: read_log(&mut r)?,
                seq: r.u64("seq")?,
            },
            6 => {
                let c = coop(&mut r)?;
                let n = count(&mut r, "hashes", MAX_PAYLOAD_WANTS)?;
                let mut hashes = Vec::with_capacity(n);
                for _ in 0..n {
                    hashes.push(EntryHash(Hash(r.array("entry hash")?)));
                }
                SyncMessage::WantPayloads { coop: c, hashes }
            }
            7 => SyncMessage::NetworkAsk {
                network: NetworkId(Hash(r.array("network id")?)),
            },
            8 => {
                let genesis = match r.u8("genesis present")? {
                    0 => None,
                    _ => Some(SignedBytes::read(&mut r)?),
                };
                let n = count(&mut r, "founders", MAX_FOUNDERS)?;
                let mut founders = Vec::with_capacity(n);
                for _ in 0..n {
                    founders.push(SignedBytes::read(&mut r)?);
                }
                SyncMessage::NetworkInfo { genesis, founders }
            }
            9 => SyncMessage::Join {
                network: NetworkId(Hash(r.array("network id")?)),
                genesis: SignedBytes::read(&mut r)?,
                note: read_text(&mut r, "note")?,
            },
            10 => SyncMessage::JoinAnswer {
                kept: r.u8("kept")? != 0,
                reason: read_text(&mut r, "reason")?,
            },
            t => return Err(SyncError::Tag(t)),
        };
        r.finish()?;
        Ok(msg)
    }
}

/// The responder's side of step 2: the answer to a summary. Vectors for the co-ops named in
/// it whose digests differ, in co-op order, stopping before a vector that would take the
/// answer past [`MAX_VECTORS_BYTES`] (at least one is always given): `more` then says that
/// co-ops after the last one given may differ too. `forks(coop)` gives the log positions of
/// a co-op that this node holds equivocation proofs of, listed for the co-ops answered (at
/// most [`MAX_FORKS`]).
pub fn differing_vectors<'a>(
    summary: &[(CoopId, Hash)],
    mine: impl IntoIterator<Item = (&'a CoopId, &'a VersionVector)>,
    forks: impl Fn(&CoopId) -> Vec<(LogId, u64)>,
) -> SyncMessage {
    let theirs: BTreeMap<&CoopId, &Hash> = summary.iter().map(|(c, h)| (c, h)).collect();
    let mut mine: Vec<_> = mine
        .into_iter()
        .filter(|(coop, vv)| theirs.get(coop).is_some_and(|d| **d != vv.digest()))
        .collect();
    mine.sort_by_key(|(c, _)| **c);
    let mut vectors = Vec::new();
    let mut listed = Vec::new();
    let mut bytes = 0;
    let mut more = false;
    for (c, vv) in mine {
        let size = 36 + vv.len() * 48;
        if !vectors.is_empty() && bytes + size > MAX_VECTORS_BYTES {
            more = true;
            break;
        }
        bytes += size;
        vectors.push((*c, vv.clone()));
        for (log, seq) in forks(c) {
            if listed.len() < MAX_FORKS {
                listed.push((*c, log, seq));
            }
        }
    }
    SyncMessage::Vectors {
        vectors,
        forks: listed,
        more,
    }
}
