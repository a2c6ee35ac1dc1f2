//! Validating log entries against a co-op's ledger.
//!
//! [`validate`] is the whole acceptance decision, pure over a [`LedgerView`]: every ledger
//! (see [`crate::Ledger`]) runs it, so every node accepts exactly the same entries.

use automerge::{AutoCommit, Change};

use crate::entry::{DecodeError, Entry, EntryKind, Equivocation};
use crate::hash::Hash;
use crate::ids::{CoopId, EntryHash, LogId, RecordId};
use crate::membership::{Carrier, Membership, MembershipError, Role};
use crate::record::{Record, RecordError, RecordKind};
use crate::time::{MAX_CLOCK_SKEW_MS, Timestamp};

/// What a ledger knows about one record.
#[derive(Clone, Debug)]
pub struct RecordState {
    /// Its kind, fixed at creation; `None` while the creating entry's payload is missing.
    pub kind: Option<RecordKind>,
    /// The automerge document: saved, or the one change that created it, which automerge
    /// loads the same way (empty once pruned).
    pub doc: Vec<u8>,
    /// Whether a prune entry withdrew it.
    pub pruned: bool,
}

/// What validation needs to know of a ledger.
pub trait LedgerView {
    /// The co-op's membership state.
    fn membership(&self) -> &Membership;
    /// The highest sequence number held for a log, and that entry's hash.
    fn log_head(&self, log: &LogId) -> Option<(u64, EntryHash)>;
    /// The entry held at a position (for duplicate and equivocation checks).
    fn entry_at(&self, log: &LogId, seq: u64) -> Option<Entry>;
    /// A record's state.
    fn record_state(&self, id: &RecordId) -> Option<RecordState>;
    /// The local time, against which entries stamped in the future wait.
    fn now(&self) -> Timestamp;
    /// Whether a prune entry naming the record is held: an entry of a withdrawn record may
    /// come as a header alone.
    fn prune_held(&self, record: &RecordId) -> bool;
    /// Where a log stops because its key signed two entries at one position (the lowest such
    /// position this node holds proof of): nothing from there on joins it.
    fn fork_at(&self, _log: &LogId) -> Option<u64> {
        None
    }
    /// For a co-op expelled from a network: the first position of a log that no longer
    /// joins it (`Some(1)` for a log the expulsion kept nothing of).
    fn expelled_from(&self, _log: &LogId) -> Option<u64> {
        None
    }
}

/// Why an entry is not accepted: one variant per violated rule.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// Rule 1: it does not decode within its size limits.
    #[error("malformed entry: {0}")]
    Decode(#[from] DecodeError),
    /// Rule 1: the signature does not verify.
    #[error("entry signature does not verify")]
    BadSignature,
    /// Rule 3: it claims another co-op's ledger.
    #[error("entry is for co-op {found}, not this ledger's {expected}")]
    WrongCoop {
        /// This ledger's co-op.
        expected: CoopId,
        /// The co-op the entry names.
        found: CoopId,
    },
    /// Rule 2: it skips ahead in its log (may be accepted once the gap is filled).
    #[error("log {log}: expected entry {expected}, got {found}")]
    Gap {
        /// The log.
        log: Box<LogId>,
        /// The next sequence number the log needs.
        expected: u64,
        /// The one given.
        found: u64,
    },
    /// Rule 2: the back-link is not the previous entry's hash.
    #[error("log {log}: entry {seq} does not link to the previous entry")]
    BackLink {
        /// The log.
        log: Box<LogId>,
        /// The entry's sequence number.
        seq: u64,
    },
    /// Rule 2: the payload is not the one the header commits to.
    #[error("payload does not match its hash in the header")]
    PayloadMismatch,
    /// Rule 2: a different entry is already held at this position.
    #[error("equivocation: two different entries at {} in log {}", .0.second.header.seq, .0.second.header.log())]
    Equivocation(Box<Equivocation>),
    /// Rule 2: the log stops at a position its key signed twice: nothing from there on joins
    /// it, whichever branch arrived first, so every node that holds the proof keeps the same.
    #[error("log {log} stops at {at}, where its key signed two entries (equivocation)")]
    Forked {
        /// The log.
        log: Box<LogId>,
        /// The first position signed twice.
        at: u64,
    },
    /// Rule 2: the co-op was expelled from a network this node belongs to, and the entry is
    /// past the cut-off its expulsion set for the log.
    #[error("the co-op was expelled; log {log} keeps only entries before {from}")]
    Expelled {
        /// The log.
        log: Box<LogId>,
        /// The first position refused.
        from: u64,
    },
    /// Rule 3: the author may not write (not a member, expired, revoked, role too low).
    #[error("author not allowed: {0}")]
    Membership(#[from] MembershipError),
    /// Rule 3: the automerge change's actor is not the author's device.
    #[error("the change's actor is not the entry's author and device")]
    ForeignActor,
    /// Rule 4: the payload is not an automerge change.
    #[error("payload is not an automerge change: {0}")]
    BadChange(String),
    /// Rule 2: the payload is missing and the record was not withdrawn: the entry waits for
    /// its payload (the same entry arriving whole) or for the withdrawal.
    #[error("payload is missing and the record was not withdrawn")]
    PayloadMissing,
    /// Rule 4: the record it changes is not known (may arrive later).
    #[error("record {0:?} is not known")]
    UnknownRecord(RecordId),
    /// Rule 4: the change depends on changes not held (may arrive later).
    #[error("the change depends on {0} changes not yet held")]
    MissingDependencies(usize),
    /// Rule 4: automerge refused the change.
    #[error("the change does not apply: {0}")]
    Apply(String),
    /// Rule 5: the resulting record fails schema validation.
    #[error("invalid record: {0}")]
    Schema(#[from] RecordError),
    /// Rule 5: the change alters a record that is written once.
    #[error("a {0:?} record is written once and never edited")]
    Immutable(RecordKind),
    /// Rule 5: the change alters the record's kind.
    #[error("a change may not turn a {from:?} into a {to:?}")]
    KindChanged {
        /// The kind at creation.
        from: RecordKind,
        /// The kind after the change.
        to: RecordKind,
    },
    /// Rule 5: a commitment signed by someone else than the entry's author, or for another
    /// co-op.
    #[error("the statement is signed by another key or names another co-op than the entry")]
    ForeignStatement,
    /// Rule 5: a prune entry that carries a payload.
    #[error("a prune entry carries no payload")]
    PrunePayload,
    /// Rule 2: stamped more than [`MAX_CLOCK_SKEW_MS`] ahead of the local clock; it waits
    /// until the clock catches up, and is never accepted early.
    #[error("entry is stamped {at}, ahead of this node's clock ({now}); it waits")]
    Ahead {
        /// The entry's timestamp.
        at: Timestamp,
        /// The local time.
        now: Timestamp,
    },
    /// Rule 2: stamped earlier than the entry before it in its log.
    #[error("entry is stamped {at}, before the previous entry of its log ({prev})")]
    TimeBackwards {
        /// The entry's timestamp.
        at: Timestamp,
        /// The previous entry's.
        prev: Timestamp,
    },
    /// Rule 5: a prune of a record that is not an offer or a need.
    #[error("only offers and needs can be withdrawn; a {} stays", .0.name())]
    PruneKind(RecordKind),
    /// Rule 3: a co-op key's log carries only the membership statements the key signs.
    #[error("a co-op key's log carries only certificates, revocations and rotations")]
    CoopKeyLog,
    /// The buffer for entries waiting for their predecessors is full.
    #[error("too many entries waiting for their predecessors ({0})")]
    PendingFull(usize),
}

impl EntryError {
    /// Whether the entry may be accepted once more of the ledger arrives, so it should wait
    /// in the bounded pending buffer rather than be dropped.
    pub fn may_resolve_later(&self) -> bool {
        match self {
            EntryError::Gap { .. }
            | EntryError::Ahead { .. }
            | EntryError::UnknownRecord(_)
            | EntryError::PayloadMissing
            | EntryError::MissingDependencies(_) => true,
            EntryError::Membership(m) => m.may_resolve_later(),
            _ => false,
        }
    }

    /// The log position worth asking the sender for when this refusal shows that its copy of
    /// a log forked from this node's: the position before an entry whose back-link is not the
    /// entry held there, or before an equivocation whose two entries link back differently.
    /// The sender's entry there, stored, proves the fork where it is
    /// ([`crate::SyncSession::probe`]).
    pub fn fork_probe(&self) -> Option<(LogId, u64)> {
        match self {
            EntryError::BackLink { log, seq } if *seq > 1 => Some((**log, seq - 1)),
            EntryError::Equivocation(p)
                if p.first.header.prev != p.second.header.prev && p.first.header.seq > 1 =>
            {
                Some((p.first.header.log(), p.first.header.seq - 1))
            }
            _ => None,
        }
    }

    /// A short name for the rule the entry broke, for counting refusals (a metric's label).
    pub fn label(&self) -> &'static str {
        match self {
            EntryError::Decode(..) => "decode",
            EntryError::BadSignature => "bad_signature",
            EntryError::WrongCoop { .. } => "wrong_coop",
            EntryError::Gap { .. } => "gap",
            EntryError::BackLink { .. } => "back_link",
            EntryError::PayloadMismatch => "payload_mismatch",
            EntryError::Equivocation(..) => "equivocation",
            EntryError::Forked { .. } => "forked",
            EntryError::Expelled { .. } => "expelled",
            EntryError::Membership(..) => "membership",
            EntryError::ForeignActor => "foreign_actor",
            EntryError::BadChange(..) => "bad_change",
            EntryError::PayloadMissing => "payload_missing",
            EntryError::UnknownRecord(..) => "unknown_record",
            EntryError::MissingDependencies(..) => "missing_dependencies",
            EntryError::Apply(..) => "apply",
            EntryError::Schema(..) => "schema",
            EntryError::Immutable(..) => "immutable",
            EntryError::KindChanged { .. } => "kind_changed",
            EntryError::ForeignStatement => "foreign_statement",
            EntryError::PrunePayload => "prune_payload",
            EntryError::Ahead { .. } => "ahead",
            EntryError::TimeBackwards { .. } => "time_backwards",
            EntryError::PruneKind(..) => "prune_kind",
            EntryError::CoopKeyLog => "coop_key_log",
            EntryError::PendingFull(..) => "pending_full",
        }
    }

    /// Whether the entry breaks a rule whatever the receiving node holds, so the peer that
    /// sent it is at fault: gossip rejects it and lowers that peer's score. The other
    /// refusals depend on what this node holds (a revocation, an equivocating twin or an
    /// earlier entry the sender had not seen, a full buffer), and an honest peer may forward
    /// such an entry in good faith: it is ignored, and nobody is blamed.
    pub fn blames_sender(&self) -> bool {
        match self {
            EntryError::Decode(_)
            | EntryError::BadSignature
            | EntryError::PayloadMismatch
            | EntryError::ForeignActor
            | EntryError::BadChange(_)
            | EntryError::Apply(_)
            | EntryError::Schema(_)
            | EntryError::Immutable(_)
            | EntryError::KindChanged { .. }
            | EntryError::ForeignStatement
            | EntryError::PrunePayload
            | EntryError::CoopKeyLog
            // The back-link matched, so the entry before it is the one this node holds.
            | EntryError::TimeBackwards { .. } => true,
            EntryError::Membership(m) => m.is_malformed(),
            EntryError::WrongCoop { .. }
            | EntryError::Gap { .. }
            | EntryError::BackLink { .. }
            | EntryError::Equivocation(_)
            | EntryError::Forked { .. }
            | EntryError::Expelled { .. }
            | EntryError::PayloadMissing
            | EntryError::UnknownRecord(_)
            | EntryError::MissingDependencies(_)
            | EntryError::PruneKind(_)
            | EntryError::Ahead { .. }
            | EntryError::PendingFull(_) => false,
        }
    }
}

/// What an accepted entry does.
#[derive(Debug)]
pub enum Outcome {
    /// The entry is already held; nothing to do.
    Duplicate,
    /// An edit of a record, held in its log; its effect is decided when the record's
    /// document is built (see [`check_edit`]).
    Edit {
        /// The record.
        record: RecordId,
        /// Whether this entry was held as a header and now gets its payload.
        attach: bool,
    },
    /// A record created: its document and value.
    Change {
        /// The record.
        record: RecordId,
        /// Whether this entry created it.
        created: bool,
        /// Whether this entry was held as a header and now gets its payload.
        attach: bool,
        /// The document after the change.
        doc: Box<AutoCommit>,
        /// The record read from it.
        value: Box<Record>,
    },
    /// A header kept without payload, for a withdrawn record.
    Detached {
        /// The record.
        record: RecordId,
    },
    /// The record is withdrawn for real: drop its payloads, keep headers.
    Prune {
        /// The record.
        record: RecordId,
    },
}

/// Decides whether `entry` may join the ledger. Rules, in order:
/// 1. the signature verifies (decoding within size limits happened in [`Entry::decode`]);
/// 2. the entry continues its log: the next sequence number (a later one is a
///    [`EntryError::Gap`]), a back-link to the previous entry's hash, a timestamp no earlier
///    than the previous entry's and not more than [`MAX_CLOCK_SKEW_MS`] ahead of the local
///    clock (such an entry waits), a payload that matches its hash; a different entry at a
///    held position is [`EntryError::Equivocation`];
/// 3. it names this ledger's co-op; the author may write at this position (see
///    [`Membership`]: a co-op key only in its own log, and only membership statements; a
///    member with a certificate in effect, not past a revocation's cut-off nor its
///    certificate's expiry); the automerge change's actor is the author's device;
/// 4. an entry that creates a record carries a change with no dependencies;
/// 5. the record it creates passes schema validation, is one the author's role may write, and
///    a signed statement in it (commitment or membership statement) is signed by the entry's
///    author for this co-op; a prune is written by a coordinator or an admin.
///
/// An edit, or a prune, passing rules 1 to 3 joins its log; what it does to its record is
/// decided from the record and the edit's own causal past ([`check_edit`]; a prune withdraws
/// only an offer or a need), so it is the same on every node whatever else it holds.
///
/// An entry without its payload passes rules 1 to 3 only, and is kept as a header
/// ([`Outcome::Detached`]) only when its record is withdrawn (a prune naming it is held), so
/// logs stay verifiable after a prune; any other waits ([`EntryError::PayloadMissing`]) until
/// the same entry arrives whole and is checked against rules 4 and 5.
pub fn validate(entry: &Entry, view: &impl LedgerView) -> Result<Outcome, EntryError> {
    let h = &entry.header;
    let log = h.log();
    let membership = view.membership();

    // Rule 1.
    if !entry.verify_signature() {
        return Err(EntryError::BadSignature);
    }
    // Rule 3, co-op part: checked early so a foreign entry never touches this ledger's logs.
    if h.coop != membership.coop() {
        return Err(EntryError::WrongCoop {
            expected: membership.coop(),
            found: h.coop,
        });
    }
    // Rule 2.
    if let Some(at) = view.fork_at(&log)
        && h.seq >= at
    {
        return Err(EntryError::Forked {
            log: Box::new(log),
            at,
        });
    }
    if let Some(from) = view.expelled_from(&log)
        && h.seq >= from
    {
        return Err(EntryError::Expelled {
            log: Box::new(log),
            from,
        });
    }
    let head = view.log_head(&log);
    let held = head.map_or(0, |(seq, _)| seq);
    let mut attach = false;
    if h.seq <= held {
        match view.entry_at(&log, h.seq) {
            Some(first) if first.hash() == entry.hash() => {
                // The same entry: new only if it brings a payload we were missing.
                if first.payload.is_some() || entry.payload.is_none() {
                    return Ok(Outcome::Duplicate);
                }
                attach = true;
            }
            Some(first) => {
                return Err(EntryError::Equivocation(Box::new(Equivocation {
                    first,
                    second: entry.clone(),
                })));
            }
            // A position below the head that is not held cannot happen in a gap-free log.
            None => {
                return Err(EntryError::Gap {
                    log: Box::new(log),
                    expected: held + 1,
                    found: h.seq,
                });
            }
        }
    } else if h.seq != held + 1 {
        return Err(EntryError::Gap {
            log: Box::new(log),
            expected: held + 1,
            found: h.seq,
        });
    } else {
        let expected_prev = head.map_or(EntryHash(Hash::ZERO), |(_, hash)| hash);
        if h.prev != expected_prev {
            return Err(EntryError::BackLink {
                log: Box::new(log),
                seq: h.seq,
            });
        }
        if let Some(prev) = Some(held)
            .filter(|s| *s > 0)
            .and_then(|s| view.entry_at(&log, s))
            && h.timestamp < prev.header.timestamp
        {
            return Err(EntryError::TimeBackwards {
                at: h.timestamp,
                prev: prev.header.timestamp,
            });
        }
        let now = view.now();
        if h.timestamp.0 > now.0.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(EntryError::Ahead {
                at: h.timestamp,
                now,
            });
        }
    }
    if !entry.payload_matches() {
        return Err(EntryError::PayloadMismatch);
    }
    // Rule 3. A co-op key's log takes every entry its key signs: which of its statements
    // count is decided by the rotations (see `Membership`), since a second rotation written
    // past the cut-offs of the first contests it, and every node must hold it to decide the
    // same. Past those cut-offs a statement counts for nothing.
    let coop_key_log = membership.coop_key_epoch(&h.author).is_some();
    let role = match membership.authorize(&log, h.seq, h.timestamp) {
        Ok(role) => role,
        Err(MembershipError::Revoked { .. }) if coop_key_log => Role::Admin,
        Err(e) => return Err(e.into()),
    };

    let record = entry.record_id();
    let state = view.record_state(&record);
    if h.kind == EntryKind::Prune {
        if h.payload_len != 0 {
            return Err(EntryError::PrunePayload);
        }
        if coop_key_log {
            return Err(EntryError::CoopKeyLog);
        }
        // Whether it withdraws anything (only an offer or a need) is decided by its record,
        // when the record is built: every node decides the same, whether or not it holds
        // the record yet.
        if role < Role::Coordinator {
            return Err(MembershipError::RoleTooLow {
                key: h.author.to_string(),
                has: role,
                needs: Role::Coordinator,
            }
            .into());
        }
        return Ok(Outcome::Prune { record });
    }
    let pruned = state.as_ref().is_some_and(|s| s.pruned);
    let payload = match &entry.payload {
        Some(p) if !pruned => p,
        // A header alone stands only for an entry of a withdrawn record; any other waits for
        // its payload, so a peer that strips payloads cannot blank a record.
        None if !pruned && !view.prune_held(&record) => return Err(EntryError::PayloadMissing),
        _ => return Ok(Outcome::Detached { record }),
    };
    let change =
        Change::from_bytes(payload.clone()).map_err(|e| EntryError::BadChange(e.to_string()))?;
    if change.actor_id().to_bytes() != log.actor_bytes() {
        return Err(EntryError::ForeignActor);
    }

    if !entry.creates_record() {
        if coop_key_log {
            return Err(EntryError::CoopKeyLog);
        }
        // An edit joins its log now; what it does to its record (rules 4 and 5, checked
        // against the edit's own causal past by [`check_edit`]) is decided when the record's
        // document is built from the entries held. So no edit waits for its record or its
        // dependencies, and none blocks its author's log: an edit built on a change that was
        // revoked simply has no effect, on every node.
        return Ok(Outcome::Edit { record, attach });
    }

    // Rule 4, for the entry that creates a record: a change with no dependencies.
    if !change.deps().is_empty() {
        return Err(EntryError::BadChange(
            "the change that creates a record cannot depend on others".into(),
        ));
    }
    let mut doc = AutoCommit::new();
    doc.apply_changes([change])
        .map_err(|e| EntryError::Apply(e.to_string()))?;

    // Rule 5.
    let value = Record::read(&doc)?;
    let needs = value.kind().min_role();
    if role < needs {
        return Err(MembershipError::RoleTooLow {
            key: h.author.to_string(),
            has: role,
            needs,
        }
        .into());
    }
    if value
        .statement_signer()
        .is_some_and(|s| s != (h.author, Some(h.coop)))
    {
        return Err(EntryError::ForeignStatement);
    }
    let carrier = Carrier {
        log,
        seq: h.seq,
        at: h.timestamp,
    };
    match &value {
        Record::Certificate(c) => {
            membership.check_certificate(c)?;
        }
        Record::Revocation(r) => {
            membership.check_revocation(r)?;
        }
        Record::Rotation(r) => {
            membership.check_rotation(r, &carrier)?;
        }
        _ if coop_key_log => return Err(EntryError::CoopKeyLog),
        _ => {}
    }
    Ok(Outcome::Change {
        record,
        created: true,
        attach,
        doc: Box::new(doc),
        value: Box::new(value),
    })
}

/// Rules 4 and 5 for an edit, against its own causal past: the record it edits is of an
/// editable kind, the changes it depends on are in `doc`, and the record as the author saw it
/// (those changes and this one) passes schema validation, keeps its kind and is one the
/// author's role may write. The answer depends only on the edit and what it names, so every
/// node gives the same one; concurrent edits that each pass merge by automerge's rules.
pub fn check_edit(
    doc: &mut AutoCommit,
    change: &Change,
    kind: RecordKind,
    role: Role,
) -> Result<(), EntryError> {
    if kind.is_immutable() {
        return Err(EntryError::Immutable(kind));
    }
    let deps = change.deps().to_vec();
    let missing = deps
        .iter()
        .filter(|d| doc.get_change_by_hash(d).is_none())
        .count();
    if missing > 0 {
        return Err(EntryError::MissingDependencies(missing));
    }
    let mut past = doc
        .fork_at(&deps)
        .map_err(|e| EntryError::Apply(e.to_string()))?;
    past.apply_changes([change.clone()])
        .map_err(|e| EntryError::Apply(e.to_string()))?;
    let value = Record::read(&past)?;
    if value.kind() != kind {
        return Err(EntryError::KindChanged {
            from: kind,
            to: value.kind(),
        });
    }
    let needs = kind.min_role();
    if role < needs {
        return Err(MembershipError::RoleTooLow {
            key: format!("{:?}", change.actor_id()),
            has: role,
            needs,
        }
        .into());
    }
    Ok(())
}

/// Writes a record edit as an automerge change by one device: the payload of a new entry.
/// `doc` is the record's saved document, or `None` to create the record.
pub fn author_change(
    doc: Option<&[u8]>,
    log: &LogId,
    record: &Record,
    at: Timestamp,
) -> Result<Vec<u8>, RecordError> {
    let mut d = match doc {
        Some(bytes) => AutoCommit::load(bytes)?,
        None => AutoCommit::new(),
    };
    d.set_actor(automerge::ActorId::from(log.actor_bytes().as_slice()));
    record.write(&mut d)?;
    let hash = d
        .commit_with(automerge::transaction::CommitOptions::default().with_time(at.0))
        .ok_or(RecordError::Unchanged)?;
    d.get_change_by_hash(&hash)
        .map(|c| c.raw_bytes().to_vec())
        .ok_or(RecordError::Unchanged)
}
