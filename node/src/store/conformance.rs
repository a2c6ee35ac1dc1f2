//! The contract every [`Store`] backend must meet, as functions a backend's tests call.
//! Each returns the first broken promise as an error message rather than panicking, so the
//! suite can live in library code and report which promise broke.

use minga_protocol::{
    CoopId, DeviceId, Entry, EntryHash, EntryKind, Hash, LogId, MemberSecret, RecordId, RecordKind,
    RecordState, Timestamp,
};

use super::{EntryPos, Store, StoredEntry, StoredGenesis, StoredRecord, WriteBatch};

type Check = Result<(), String>;

fn ensure(ok: bool, what: &str) -> Check {
    if ok { Ok(()) } else { Err(what.to_string()) }
}

fn err(e: super::StoreError) -> String {
    e.to_string()
}

fn log(seed: u8, device: u64) -> LogId {
    LogId {
        author: MemberSecret::from_seed(&[seed; 32]).public(),
        device: DeviceId(device),
    }
}

fn coop(n: u8) -> CoopId {
    CoopId(Hash::of(&[n]))
}

/// A real signed entry (truncation decodes what it deletes), in record 0 or 1 by parity.
fn entry(c: CoopId, l: LogId, seq: u64) -> StoredEntry {
    let seed = if l == log(1, 7) || l == log(1, 1) {
        1
    } else if l == log(2, 1) {
        2
    } else if l == log(3, 3) {
        3
    } else {
        9
    };
    let key = MemberSecret::from_seed(&[seed; 32]);
    let record = RecordId(Hash::of(&[seq as u8 % 2]));
    let e = Entry::sign(
        &key,
        c,
        l.device,
        seq,
        EntryHash::default(),
        record,
        EntryKind::Change,
        format!("payload {seq}").into_bytes(),
        Timestamp(0),
    );
    StoredEntry {
        pos: EntryPos {
            coop: c,
            log: l,
            seq,
        },
        hash: e.hash(),
        record,
        bytes: e.encode(),
    }
}

fn genesis(c: CoopId) -> StoredGenesis {
    StoredGenesis {
        coop: c,
        bytes: b"minga/1 genesis\n".to_vec(),
        signature: [7; 64],
    }
}

/// Runs every check on fresh stores from `fresh`.
pub fn run_all<S: Store>(fresh: impl Fn() -> S) -> Check {
    empty_store_holds_nothing(&fresh())?;
    entries_are_found_by_position_and_hash(&fresh())?;
    heads_track_the_highest_entry_per_log(&fresh())?;
    coops_are_kept_apart(&fresh())?;
    records_geneses_views_and_peers_round_trip(&fresh())?;
    truncation_removes_a_log_tail_everywhere(&fresh())?;
    forgetting_a_coop_leaves_the_others(&fresh())?;
    a_record_lists_its_creating_entry_and_its_changes(&fresh())?;
    Ok(())
}

/// A record's entries are its creating entry (whose hash is the record's id) and the entries
/// that change it, in log order, and never another co-op's; the creating entry is found by its
/// hash whether its record was written with it (its value keeps the position) or not, also
/// after the record is rewritten; a cut entry leaves the list.
pub fn a_record_lists_its_creating_entry_and_its_changes(s: &impl Store) -> Check {
    for (c, with_record) in [(coop(8), false), (coop(10), true)] {
        let mut creating = entry(c, log(1, 1), 1);
        creating.record = RecordId(creating.hash.0);
        let id = creating.record;
        let mut change = entry(c, log(2, 1), 1);
        change.record = id;
        let other = entry(c, log(1, 1), 2);
        let want = |mut v: Vec<EntryPos>| {
            v.sort_by_key(|p| (p.log, p.seq));
            v
        };
        let record = |doc: &[u8]| StoredRecord {
            coop: c,
            id,
            state: RecordState {
                kind: Some(RecordKind::Offer),
                doc: doc.to_vec(),
                pruned: false,
            },
            view: Some(b"view".to_vec()),
        };
        s.commit(&WriteBatch {
            entries: vec![creating.clone(), other],
            records: if with_record {
                vec![record(b"v1")]
            } else {
                Vec::new()
            },
            ..WriteBatch::default()
        })
        .map_err(err)?;
        // A change rewrites the record without its creating entry in the batch.
        s.commit(&WriteBatch {
            entries: vec![change.clone()],
            records: vec![record(b"v2")],
            ..WriteBatch::default()
        })
        .map_err(err)?;
        ensure(
            s.entry_pos(&c, &creating.hash).map_err(err)? == Some(creating.pos),
            "a creating entry's hash does not find it",
        )?;
        ensure(
            s.record(&c, &id)
                .map_err(err)?
                .is_some_and(|r| r.doc == b"v2"),
            "a rewritten record reads back different",
        )?;
        ensure(
            s.record_entries(&c, &id).map_err(err)? == want(vec![creating.pos, change.pos]),
            "a record's entries are not its creating entry and its change",
        )?;
        ensure(
            s.record_entries(&coop(9), &id).map_err(err)?.is_empty()
                && s.entry_pos(&coop(9), &creating.hash)
                    .map_err(err)?
                    .is_none(),
            "a record lists another co-op's entries",
        )?;
        // Cut from the creating entry on: the ledger forgets the record in the same commit.
        s.commit(&WriteBatch {
            truncations: vec![(c, log(1, 1), 1)],
            removed_records: vec![(c, id)],
            ..WriteBatch::default()
        })
        .map_err(err)?;
        ensure(
            s.record_entries(&c, &id).map_err(err)? == vec![change.pos]
                && s.entry_pos(&c, &creating.hash).map_err(err)?.is_none(),
            "a cut creating entry is still listed",
        )?;
    }
    Ok(())
}

/// A new store answers every read with nothing.
pub fn empty_store_holds_nothing(s: &impl Store) -> Check {
    ensure(
        s.entry(&coop(1), &log(1, 1), 1).map_err(err)?.is_none(),
        "an entry in an empty store",
    )?;
    ensure(
        s.version_vector(&coop(1)).map_err(err)?.is_empty(),
        "heads in an empty store",
    )?;
    ensure(
        s.record_ids(&coop(1)).map_err(err)?.is_empty(),
        "records in an empty store",
    )?;
    ensure(
        s.geneses().map_err(err)?.is_empty(),
        "geneses in an empty store",
    )?;
    ensure(
        s.peers().map_err(err)?.is_empty(),
        "peers in an empty store",
    )?;
    s.commit(&WriteBatch::default()).map_err(err)
}

/// What is committed can be read back by position and by hash.
pub fn entries_are_found_by_position_and_hash(s: &impl Store) -> Check {
    let (c, l) = (coop(1), log(1, 7));
    let batch = WriteBatch {
        entries: (1..=5).map(|i| entry(c, l, i)).collect(),
        ..WriteBatch::default()
    };
    s.commit(&batch).map_err(err)?;
    for e in &batch.entries {
        ensure(
            s.entry(&c, &l, e.pos.seq).map_err(err)?.as_deref() == Some(&e.bytes[..]),
            "an entry reads back different bytes",
        )?;
        ensure(
            s.entry_pos(&c, &e.hash).map_err(err)? == Some(e.pos),
            "an entry's hash does not find its position",
        )?;
        ensure(
            s.entry_pos(&coop(2), &e.hash).map_err(err)?.is_none(),
            "an entry's hash finds it in another co-op",
        )?;
    }
    ensure(
        s.entry(&c, &l, 6).map_err(err)?.is_none(),
        "an entry never written is found",
    )?;
    ensure(
        s.entry_pos(&c, &EntryHash(Hash::of(b"none")))
            .map_err(err)?
            .is_none(),
        "an unknown hash is found",
    )
}

/// Each log's head is its highest committed sequence number, and never moves back.
pub fn heads_track_the_highest_entry_per_log(s: &impl Store) -> Check {
    let c = coop(2);
    let (a, b) = (log(1, 1), log(2, 1));
    s.commit(&WriteBatch {
        entries: vec![entry(c, a, 1), entry(c, a, 2), entry(c, b, 1)],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    s.commit(&WriteBatch {
        entries: vec![entry(c, a, 3)],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    // Re-writing an old entry (a payload filled in later, say) keeps the head.
    s.commit(&WriteBatch {
        entries: vec![entry(c, a, 1)],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    let vv = s.version_vector(&c).map_err(err)?;
    ensure(
        vv.get(&a) == 3 && vv.get(&b) == 1 && vv.len() == 2,
        "heads are wrong after three commits",
    )
}

/// One co-op's logs and records never show up under another.
pub fn coops_are_kept_apart(s: &impl Store) -> Check {
    let l = log(3, 3);
    s.commit(&WriteBatch {
        entries: vec![entry(coop(3), l, 1)],
        records: vec![StoredRecord {
            coop: coop(3),
            id: RecordId(Hash::of(b"r")),
            state: RecordState {
                kind: Some(RecordKind::Offer),
                doc: vec![1, 2, 3],
                pruned: false,
            },
            view: None,
        }],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    ensure(
        s.version_vector(&coop(4)).map_err(err)?.is_empty(),
        "a co-op sees another's logs",
    )?;
    ensure(
        s.record_ids(&coop(4)).map_err(err)?.is_empty(),
        "a co-op sees another's records",
    )?;
    ensure(
        s.entry(&coop(4), &l, 1).map_err(err)?.is_none(),
        "a co-op reads another's entry",
    )
}

/// Forgetting a co-op deletes its genesis, entries, heads, records and views, and nothing of
/// another co-op.
pub fn forgetting_a_coop_leaves_the_others(s: &impl Store) -> Check {
    let (gone, kept) = (coop(6), coop(7));
    let l = log(1, 1);
    let state = RecordState {
        kind: Some(RecordKind::Offer),
        doc: vec![1],
        pruned: false,
    };
    let mut hashes = Vec::new();
    for c in [gone, kept] {
        let e = entry(c, l, 1);
        hashes.push(e.hash);
        s.commit(&WriteBatch {
            records: vec![StoredRecord {
                coop: c,
                id: e.record,
                state: state.clone(),
                view: Some(c.as_bytes().to_vec()),
            }],
            entries: vec![e],
            geneses: vec![genesis(c)],
            views: vec![([b"v/".as_slice(), c.as_bytes()].concat(), b"x".to_vec())],
            ..WriteBatch::default()
        })
        .map_err(err)?;
    }
    s.forget_coop(&gone, &[[b"v/".as_slice(), gone.as_bytes()].concat()])
        .map_err(err)?;
    ensure(
        s.geneses()
            .map_err(err)?
            .iter()
            .map(|g| g.coop)
            .collect::<Vec<_>>()
            == vec![kept],
        "the forgotten co-op's genesis is still there, or the other's is gone",
    )?;
    ensure(
        s.version_vector(&gone).map_err(err)?.is_empty()
            && s.record_ids(&gone).map_err(err)?.is_empty()
            && s.entry(&gone, &l, 1).map_err(err)?.is_none()
            && s.entry_pos(&gone, &hashes[0]).map_err(err)?.is_none(),
        "the forgotten co-op's entries or records are still there",
    )?;
    ensure(
        s.views(b"v/").count() == 1,
        "the forgotten co-op's views are still there, or the other's are gone",
    )?;
    ensure(
        s.record_views()
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?
            == vec![kept.as_bytes().to_vec()],
        "the forgotten co-op's record views are still there, or the other's are gone",
    )?;
    ensure(
        !s.version_vector(&kept).map_err(err)?.is_empty()
            && s.record_ids(&kept).map_err(err)?.len() == 1
            && s.entry_pos(&kept, &hashes[1]).map_err(err)?.is_some(),
        "forgetting one co-op removed another's data",
    )
}

/// Records and their views (replaced on rewrite), geneses, views and peers read back as
/// written.
pub fn records_geneses_views_and_peers_round_trip(s: &impl Store) -> Check {
    let c = coop(5);
    let ids: Vec<RecordId> = (0u8..3).map(|i| RecordId(Hash::of(&[i]))).collect();
    let states = [
        RecordState {
            kind: Some(RecordKind::Need),
            doc: b"doc".to_vec(),
            pruned: false,
        },
        RecordState {
            kind: None,
            doc: Vec::new(),
            pruned: false,
        },
        RecordState {
            kind: Some(RecordKind::Rotation),
            doc: Vec::new(),
            pruned: true,
        },
    ];
    // A view of any length, none, and an empty one.
    let views = [Some(vec![7; 300]), None, Some(Vec::new())];
    s.commit(&WriteBatch {
        records: ids
            .iter()
            .copied()
            .zip(states.iter().cloned())
            .zip(views.iter().cloned())
            .map(|((id, state), view)| StoredRecord {
                coop: c,
                id,
                state,
                view,
            })
            .collect(),
        geneses: vec![genesis(c)],
        views: vec![(b"needs".to_vec(), b"view bytes".to_vec())],
        peers: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    for (id, st) in ids.iter().zip(&states) {
        let got = s.record(&c, id).map_err(err)?;
        ensure(
            got.as_ref()
                .is_some_and(|g| g.kind == st.kind && g.doc == st.doc && g.pruned == st.pruned),
            "a record state reads back different",
        )?;
    }
    let mut held: Vec<Vec<u8>> = s.record_views().collect::<Result<_, _>>().map_err(err)?;
    let mut want: Vec<Vec<u8>> = views.iter().flatten().cloned().collect();
    held.sort();
    want.sort();
    ensure(held == want, "record views read back different")?;
    let mut sorted = ids.clone();
    sorted.sort();
    ensure(
        s.record_ids(&c).map_err(err)? == sorted,
        "record ids are not listed in order",
    )?;
    let replaced = RecordState {
        kind: Some(RecordKind::Need),
        doc: b"doc v2".to_vec(),
        pruned: false,
    };
    s.commit(&WriteBatch {
        records: vec![StoredRecord {
            coop: c,
            id: ids[0],
            state: replaced.clone(),
            view: None,
        }],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    ensure(
        s.record(&c, &ids[0])
            .map_err(err)?
            .is_some_and(|g| g.doc == replaced.doc),
        "a rewritten record keeps its old state",
    )?;
    ensure(
        s.record_views()
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?
            == vec![Vec::<u8>::new()],
        "a record rewritten without a view keeps its old one",
    )?;
    ensure(
        s.geneses().map_err(err)? == vec![genesis(c)],
        "geneses read back different",
    )?;
    ensure(
        s.view(b"needs").map_err(err)?.as_deref() == Some(&b"view bytes"[..]),
        "a view reads back different",
    )?;
    ensure(
        s.view(b"other").map_err(err)?.is_none(),
        "an unwritten view is found",
    )?;
    ensure(
        s.peers().map_err(err)? == vec!["/ip4/127.0.0.1/tcp/4001".to_string()],
        "peers read back different",
    )?;
    s.commit(&WriteBatch {
        removed_peers: vec!["/ip4/127.0.0.1/tcp/4001".to_string()],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    ensure(
        s.peers().map_err(err)?.is_empty(),
        "a removed peer is still listed",
    )
}

/// Cutting a log removes its tail from every index and moves its head back.
pub fn truncation_removes_a_log_tail_everywhere(s: &impl Store) -> Check {
    let (c, l) = (coop(6), log(1, 7));
    let all: Vec<StoredEntry> = (1..=5).map(|i| entry(c, l, i)).collect();
    s.commit(&WriteBatch {
        entries: all.clone(),
        ..WriteBatch::default()
    })
    .map_err(err)?;
    s.commit(&WriteBatch {
        truncations: vec![(c, l, 3)],
        removed_records: vec![(c, RecordId(Hash::of(&[9])))],
        removed_views: vec![b"gone".to_vec()],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    for e in &all {
        let kept = e.pos.seq < 3;
        ensure(
            s.entry(&c, &l, e.pos.seq).map_err(err)?.is_some() == kept,
            "an entry survived or vanished wrongly",
        )?;
        ensure(
            s.entry_pos(&c, &e.hash).map_err(err)?.is_some() == kept,
            "a hash outlived its entry",
        )?;
    }
    let heads = s.log_heads(&c).map_err(err)?;
    ensure(
        heads == vec![(l, 2, all[1].hash)],
        "the head did not move back to the last kept entry",
    )?;
    let odd: Vec<u64> = s
        .record_entries(&c, &RecordId(Hash::of(&[1])))
        .map_err(err)?
        .iter()
        .map(|p| p.seq)
        .collect();
    ensure(odd == vec![1], "the record index lists a cut entry")?;
    // Cutting from the first entry leaves no head at all; a new entry 1 starts the log again.
    s.commit(&WriteBatch {
        truncations: vec![(c, l, 1)],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    ensure(
        s.version_vector(&c).map_err(err)?.is_empty(),
        "a fully cut log keeps a head",
    )?;
    s.commit(&WriteBatch {
        entries: vec![entry(c, l, 1)],
        ..WriteBatch::default()
    })
    .map_err(err)?;
    ensure(
        s.version_vector(&c).map_err(err)?.get(&l) == 1,
        "a cut log cannot start again",
    )
}

/// For durable backends: what was committed is there after the store is closed and reopened.
pub fn survives_reopen<S: Store>(open: impl Fn() -> S) -> Check {
    let (c, l) = (coop(9), log(9, 9));
    {
        let s = open();
        s.commit(&WriteBatch {
            entries: (1..=3).map(|i| entry(c, l, i)).collect(),
            ..WriteBatch::default()
        })
        .map_err(err)?;
    }
    let s = open();
    ensure(
        s.version_vector(&c).map_err(err)?.get(&l) == 3,
        "heads lost on reopen",
    )?;
    ensure(
        s.entry(&c, &l, 3).map_err(err)?.is_some(),
        "an entry lost on reopen",
    )
}
