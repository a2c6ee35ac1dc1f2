//! The checks on a peer's answers that need nothing of the session but the request they
//! answer: a want's entries, a proof, entries asked for by hash.

use std::collections::BTreeSet;

use super::{SyncAction, SyncViolation};
use crate::entry::{Entry, Equivocation};
use crate::ids::{CoopId, EntryHash, LogId};
use crate::sync::{SyncMessage, Want};

pub(super) fn kind(m: &SyncMessage) -> &'static str {
    match m {
        SyncMessage::Summary(_) => "summary",
        SyncMessage::Vectors { .. } => "vectors",
        SyncMessage::Want { .. } => "want",
        SyncMessage::Entries { .. } => "entries",
        SyncMessage::WantProof { .. } => "proof request",
        SyncMessage::WantPayloads { .. } => "payload request",
        SyncMessage::NetworkAsk { .. } => "network request",
        SyncMessage::NetworkInfo { .. } => "network answer",
        SyncMessage::Join { .. } => "join request",
        SyncMessage::JoinAnswer { .. } => "join answer",
    }
}

/// An answer about the co-op asked about, or a violation.
fn same_coop(expected: CoopId, found: CoopId) -> Result<(), SyncViolation> {
    if found == expected {
        Ok(())
    } else {
        Err(SyncViolation::WrongCoop { expected, found })
    }
}

/// Checks entries answering a want: of the co-op wanted, each decoding and within the ranges.
pub(super) fn checked_entries(
    coop: CoopId,
    ranges: &[Want],
    found: CoopId,
    entries: Vec<Vec<u8>>,
) -> Result<Vec<Entry>, SyncViolation> {
    same_coop(coop, found)?;
    let mut decoded = Vec::with_capacity(entries.len());
    for bytes in entries {
        let e = Entry::decode(&bytes).map_err(SyncViolation::Malformed)?;
        let h = &e.header;
        if h.coop != coop {
            return Err(SyncViolation::WrongCoop {
                expected: coop,
                found: h.coop,
            });
        }
        let log = h.log();
        if !ranges
            .iter()
            .any(|w| w.log == log && (w.from..=w.to).contains(&h.seq))
        {
            return Err(SyncViolation::Unwanted { seq: h.seq });
        }
        decoded.push(e);
    }
    Ok(decoded)
}

/// Checks an answer to a proof request: nothing (the peer no longer holds it), or the two
/// entries that prove the fork asked about.
pub(super) fn on_proof(
    coop: CoopId,
    log: LogId,
    seq: u64,
    found: CoopId,
    entries: Vec<Vec<u8>>,
    out: &mut Vec<SyncAction>,
) -> Result<(), SyncViolation> {
    same_coop(coop, found)?;
    let [first, second] = match <[Vec<u8>; 2]>::try_from(entries) {
        Ok(pair) => pair,
        Err(none) if none.is_empty() => return Ok(()),
        Err(_) => return Err(SyncViolation::BadProof),
    };
    let proof = Equivocation {
        first: Entry::decode(&first).map_err(SyncViolation::Malformed)?,
        second: Entry::decode(&second).map_err(SyncViolation::Malformed)?,
    };
    let h = &proof.first.header;
    if h.coop != coop || h.log() != log || h.seq != seq || !proof.is_proof() {
        return Err(SyncViolation::BadProof);
    }
    out.push(SyncAction::Proof {
        coop,
        proof: Box::new(proof),
    });
    Ok(())
}

/// Checks an answer to a payload request: entries of the co-op asked for, each one asked
/// for, each whole.
pub(super) fn on_payloads(
    coop: CoopId,
    hashes: &BTreeSet<EntryHash>,
    found: CoopId,
    entries: Vec<Vec<u8>>,
    out: &mut Vec<SyncAction>,
) -> Result<(), SyncViolation> {
    same_coop(coop, found)?;
    let mut whole = Vec::with_capacity(entries.len());
    for bytes in entries {
        let e = Entry::decode(&bytes).map_err(SyncViolation::Malformed)?;
        if e.header.coop != coop || e.payload.is_none() || !hashes.contains(&e.hash()) {
            return Err(SyncViolation::NotAsked);
        }
        whole.push(e);
    }
    if !whole.is_empty() {
        out.push(SyncAction::Attach {
            coop,
            entries: whole,
        });
    }
    Ok(())
}
