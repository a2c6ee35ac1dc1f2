//! The bodies of the fuzz targets in `protocol/fuzz`, one function per target, shared with the
//! test that replays every input kept from fuzzing (`tests/fuzz_regressions.rs`). Each takes
//! arbitrary bytes and must return without panicking; the assertions inside are properties
//! that must hold for any input. Not API: built only with the `fuzzing` feature.

#![allow(clippy::expect_used, clippy::panic)]

use std::time::Instant;

use automerge::AutoCommit;

use crate::{
    Acceptance, Bundle, Cancellation, Certificate, CoopId, CoopSecret, Delivery, Device, Entry,
    Genesis, Hash, MemberSecret, Membership, MemoryLedger, Pledge, Record, Revocation, Rotation,
    Signature, Signed, SyncAction, SyncMessage, SyncSession, Timestamp, VersionVector, found_coop,
};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Runs every input kept for each of `targets` under `dir` (a fuzz crate's folder: crashes
/// found, once fixed, in `regressions/<target>/`, the corpus in `corpus/<target>/`) through
/// the target's body. Returns how many inputs each target ran, for the caller to assert on.
/// For tests: a file that cannot be read panics.
pub fn replay_kept_inputs(
    dir: &std::path::Path,
    targets: &[(&str, Target)],
) -> Vec<(String, usize)> {
    targets
        .iter()
        .map(|(name, check)| {
            let mut ran = 0;
            for kind in ["regressions", "corpus"] {
                let Ok(files) = std::fs::read_dir(dir.join(kind).join(name)) else {
                    continue;
                };
                for file in files.flatten() {
                    let path = file.path();
                    let bytes =
                        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    check(&bytes);
                    ran += 1;
                }
            }
            (name.to_string(), ran)
        })
        .collect()
}

/// The fuzz targets, by name, as `cargo fuzz run NAME` knows them.
pub const TARGETS: [(&str, Target); 6] = [
    ("entry", entry),
    ("sync_message", sync_message),
    ("statement", statement),
    ("record_doc", record_doc),
    ("contact", contact),
    ("invite", invite),
];

/// Any text (pasted from a chat) either is refused as an invite or reads as one that writes
/// back to the same line.
pub fn invite(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(invite) = crate::network::Invite::decode(text) else {
        return;
    };
    assert!(!invite.addrs.is_empty() && invite.addrs.len() <= crate::network::MAX_INVITE_ADDRS);
    let line = invite.encode();
    assert_eq!(
        crate::network::Invite::decode(&line).ok().as_ref(),
        Some(&invite),
        "what reads writes back"
    );
    assert_eq!(line, text.trim(), "one invite has one line");
}

/// An entry either fails to decode or decodes canonically; ingesting it, whole or as a
/// header, into a co-op's ledger never panics.
pub fn entry(data: &[u8]) {
    let Ok(entry) = Entry::decode(data) else {
        return;
    };
    assert_eq!(entry.encode(), data, "decoding is canonical");
    let key = CoopSecret::from_seed(&[1; 32]);
    let founder = MemberSecret::from_seed(&[101; 32]);
    let genesis = found_coop(&key, "Fuzz", &founder, Timestamp(1_793_491_200_000))
        .expect("a fixed genesis signs");
    let mut ledger = MemoryLedger::new(Membership::new(genesis));
    let _ = ledger.ingest(entry.detached());
    let _ = ledger.ingest(entry);
    let _ = ledger.retry();
}

/// A sync message either fails to decode or round-trips; fed to a session as the answer to
/// its first request, and what that leads to, it never panics.
pub fn sync_message(data: &[u8]) {
    let Ok(msg) = SyncMessage::decode(data) else {
        return;
    };
    assert!(
        SyncMessage::decode(&msg.encode()).is_ok_and(|m| m == msg),
        "what decodes round-trips"
    );
    let now = Instant::now();
    let held = |_: &CoopId| Some(VersionVector::default());
    let (mut session, actions) =
        SyncSession::start(vec![(CoopId(Hash([5; 32])), Hash([6; 32]))], now);
    let Some(SyncAction::Send { tag, .. }) = actions.into_iter().next() else {
        return;
    };
    for action in session.on_answer(tag, msg, now, held) {
        if let SyncAction::Ingest { coop, .. } = action {
            let _ = session.ingested(coop, held(&coop), now);
        }
    }
}

/// Any bytes, as a bundle or as the text of a signed statement of each kind (after a 64-byte
/// signature), parse and verify to a value or an error, never a panic.
pub fn statement(data: &[u8]) {
    if let Ok(bundle) = Bundle::from_json(data) {
        let _ = bundle.verify();
    }
    let Some((sig, text)) = data.split_first_chunk::<64>() else {
        return;
    };
    let sig = Signature(*sig);
    let _ = Signed::<Pledge>::verify(text, sig);
    let _ = Signed::<Acceptance>::verify(text, sig);
    let _ = Signed::<Delivery>::verify(text, sig);
    let _ = Signed::<Cancellation>::verify(text, sig);
    let _ = Signed::<Genesis>::verify(text, sig);
    let _ = Signed::<Rotation>::verify(text, sig);
    let _ = Signed::<Certificate>::verify(text, sig);
    let _ = Signed::<Revocation>::verify(text, sig);
    let _ = Signed::<Device>::verify(text, sig);
    let _ = Signed::<crate::fund::Fund>::verify(text, sig);
    let _ = Signed::<crate::fund::Loan>::verify(text, sig);
    let _ = Signed::<crate::fund::Approval>::verify(text, sig);
    let _ = Signed::<crate::fund::Transfer>::verify(text, sig);
    let _ = Signed::<crate::fund::Report>::verify(text, sig);
    let _ = Signed::<crate::fund::Confirmation>::verify(text, sig);
}

/// Any bytes either fail to parse as a sealed contact or parse into boxes that each name a
/// valid key and stay within the bounds; opening them with a key is an answer or an error.
pub fn contact(data: &[u8]) {
    let Ok(boxes) = crate::contact::boxes(data) else {
        return;
    };
    assert!(!boxes.is_empty() && boxes.len() <= crate::contact::MAX_RECIPIENTS);
    let total: usize = boxes.iter().map(|b| 34 + b.sealed.len()).sum();
    assert_eq!(total + 5, data.len(), "every byte belongs to a box");
    let me = crate::SecretKey::from_seed(&[7; 32]);
    let _ = crate::contact::open(data, &me);
}

/// Any bytes either fail to load as an automerge document or read as a record or a typed
/// error.
pub fn record_doc(data: &[u8]) {
    if let Ok(doc) = AutoCommit::load(data) {
        let _ = Record::read(&doc);
    }
}
