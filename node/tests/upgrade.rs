//! The data directory's format: a new store is stamped, a newer one refused untouched, an
//! older one brought up to date (and the committed format-0 directory, written by main before
//! versions existed, opens with everything in it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use minga_node::store::{MemoryStore, StoreError, WriteBatch};
use minga_node::upgrade::{FORMAT, Upgraded, format_of, upgrade};
use minga_node::{CoopLedger, SledStore, Store};
use minga_protocol::*;

const T0: Timestamp = Timestamp(1_793_491_200_000);

#[test]
fn a_new_store_is_stamped_and_a_newer_one_refused_untouched() {
    let store = MemoryStore::default();
    assert_eq!(format_of(&store).unwrap(), None);
    assert_eq!(upgrade(&store).unwrap(), Upgraded::Created);
    assert_eq!(format_of(&store).unwrap(), Some(FORMAT));
    assert_eq!(upgrade(&store).unwrap(), Upgraded::Current);
    let newer = FORMAT + 1;
    store
        .commit(&WriteBatch {
            views: vec![(b"meta/format".to_vec(), newer.to_be_bytes().to_vec())],
            ..WriteBatch::default()
        })
        .unwrap();
    let err = upgrade(&store).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerFormat { found, understood } if found == newer && understood == FORMAT),
        "{err}"
    );
    assert_eq!(format_of(&store).unwrap(), Some(newer), "left as it was");
}

/// A co-op where a coordinator withdrew the founder's offer and was then revoked from before
/// the withdrawal: the offer is back, held as a header whose payload is missing.
fn voided_withdrawal(store: Arc<dyn Store>) -> (CoopLedger, RecordId) {
    let coop_key = CoopSecret::from_seed(&[1; 32]);
    let founder = MemberSecret::from_seed(&[2; 32]);
    let coord = MemberSecret::from_seed(&[3; 32]);
    let genesis = found_coop(&coop_key, "Actualizada", &founder, T0).unwrap();
    let mut source = MemoryLedger::new(Membership::new(genesis.clone()));
    let cert = Signed::sign(
        Certificate {
            signer: coop_key.public(),
            coop: genesis.coop_id(),
            subject: coord.public(),
            role: Role::Coordinator,
            issued: T0,
            expires: None,
            parent: None,
        },
        &coop_key.0,
    )
    .unwrap();
    source
        .write(&coop_key, DeviceId(1), None, &Record::Certificate(cert), T0)
        .unwrap();
    let offer = Record::Offer(Offer::new(
        "Chairs",
        "food/grain/rice".parse().unwrap(),
        "4 kg".parse().unwrap(),
    ));
    let o = source
        .write(&founder, DeviceId(2), None, &offer, T0)
        .unwrap();
    let prune = source
        .prune(&coord, DeviceId(3), o.record_id(), T0)
        .unwrap();
    let revocation = Signed::sign(
        Revocation {
            signer: coop_key.public(),
            coop: genesis.coop_id(),
            subject: coord.public(),
            cutoffs: vec![Cutoff {
                device: DeviceId(3),
                last_valid: 0,
            }],
            issued: T0,
            reason: None,
        },
        &coop_key.0,
    )
    .unwrap();
    let revoked = source
        .write(
            &coop_key,
            DeviceId(1),
            None,
            &Record::Revocation(revocation),
            T0,
        )
        .unwrap();
    // The node holds the withdrawal before the revocation, as gossip may bring them.
    let mut l = CoopLedger::open(store, genesis).unwrap();
    // (The source's own log no longer holds the withdrawal: the revocation cut it.)
    let others: Vec<Entry> = source
        .all_entries()
        .into_iter()
        .filter(|e| e.hash() != revoked.hash())
        .collect();
    for batch in [others, vec![prune], vec![revoked]] {
        let report = l.ingest(batch).unwrap();
        assert!(
            report.rejected.is_empty() && report.ignored.is_empty(),
            "{report:?}"
        );
    }
    (l, o.record_id())
}

#[test]
fn the_step_from_format_0_lists_the_payloads_a_store_is_missing() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    upgrade(store.as_ref()).unwrap();
    let (l, offer) = voided_withdrawal(store.clone());
    assert_eq!(l.ledger().missing_payloads().len(), 1);
    assert!(l.ledger().record(&offer).is_none(), "a header only");
    let genesis = l.genesis().clone();
    drop(l);
    // As format 0 left it: no marks, no version.
    let gone: Vec<Vec<u8>> = store
        .views(b"")
        .map(|p| p.unwrap().0)
        .filter(|k| k.starts_with(b"missing/") || k.starts_with(b"meta/"))
        .collect();
    assert_eq!(gone.len(), 2);
    store
        .commit(&WriteBatch {
            removed_views: gone,
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(format_of(store.as_ref()).unwrap(), Some(0));
    assert!(
        CoopLedger::open(store.clone(), genesis.clone())
            .unwrap()
            .ledger()
            .missing_payloads()
            .is_empty(),
        "format 0 forgot what it misses"
    );
    assert_eq!(upgrade(store.as_ref()).unwrap(), Upgraded::From(0));
    assert_eq!(format_of(store.as_ref()).unwrap(), Some(FORMAT));
    let l = CoopLedger::open(store, genesis).unwrap();
    assert_eq!(l.ledger().missing_payloads().len(), 1);
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_committed_format_0_directory_opens_with_everything_in_it() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format0");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("store")).unwrap());
    assert_eq!(format_of(store.as_ref()).unwrap(), Some(0));
    let indexed_before = record_index_keys(store.as_ref());
    let hashed_before = keys_under(store.as_ref(), b'h');
    assert_eq!(upgrade(store.as_ref()).unwrap(), Upgraded::From(0));
    assert!(
        record_index_keys(store.as_ref()) < indexed_before
            && keys_under(store.as_ref(), b'h') < hashed_before,
        "creating entries' positions moved into their records"
    );
    let ledgers = CoopLedger::open_all(store.clone()).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture.parent().unwrap().join("format0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ledgers.len(), 1);
    let l = &ledgers[0];
    assert_eq!(l.coop().to_string(), expected["coop"].as_str().unwrap());
    let titles: std::collections::BTreeSet<String> = l
        .ledger()
        .records()
        .values()
        .filter_map(|r| match r {
            Record::Offer(o) => Some(o.title.clone()),
            Record::Need(n) => Some(n.title.clone()),
            _ => None,
        })
        .collect();
    let want: std::collections::BTreeSet<String> = expected["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, want);
    assert_eq!(
        l.ledger().version_vector().total(),
        expected["entries"].as_u64().unwrap()
    );
    let (views, damaged) = minga_node::load_views(store.as_ref()).unwrap();
    assert_eq!(damaged, 0);
    assert!(views.len() >= want.len());
    assert_eq!(
        store.views(minga_node::RECORD_VIEW).count(),
        0,
        "every view moved into its record"
    );
}

/// How many keys the store holds under a one-byte prefix (`x` the record entry index, `h`
/// the hash index).
fn keys_under(store: &dyn Store, prefix: u8) -> usize {
    store
        .dump()
        .filter(|p| p.as_ref().unwrap().0.first() == Some(&prefix))
        .count()
}

fn record_index_keys(store: &dyn Store) -> usize {
    keys_under(store, b'x')
}

/// A store as a start interrupted in the step from format 1 to 2 leaves it (stamped 2, so
/// older versions refuse it, and marked as upgrading from 1): some views already in their
/// records, the rest (more than one chunk) still under `view/`, one view
/// whose record is gone, and a record whose creating entry is in the hash index and the
/// record's entry index (format 2 keeps its position in the record's value).
#[test]
fn the_step_to_format_2_moves_every_view_into_its_record_and_goes_on_after_a_crash() {
    use minga_node::store::StoredRecord;
    let store = MemoryStore::default();
    upgrade(&store).unwrap();
    let coop = CoopId(Hash::of(b"coop"));
    let n = minga_node::upgrade::CHUNK + 50;
    let state = |i: usize| RecordState {
        kind: Some(RecordKind::Offer),
        doc: i.to_be_bytes().to_vec(),
        pruned: i.is_multiple_of(7),
    };
    let mut batch = WriteBatch::default();
    for i in 0..n {
        let id = RecordId(Hash::of(&i.to_be_bytes()));
        let view = format!("view {i}").into_bytes();
        let moved = i.is_multiple_of(3);
        if !moved {
            let key = [minga_node::RECORD_VIEW, coop.as_bytes(), id.as_bytes()].concat();
            batch.views.push((key, view.clone()));
        }
        batch.records.push(StoredRecord {
            coop,
            id,
            state: state(i),
            view: moved.then_some(view),
        });
    }
    // A record created by an entry, which format 1 also listed in the record's entry index.
    let author = MemberSecret::from_seed(&[4; 32]);
    let e = Entry::sign(
        &author,
        coop,
        DeviceId(1),
        1,
        EntryHash::default(),
        RecordId::default(),
        EntryKind::Change,
        b"created".to_vec(),
        T0,
    );
    let created = minga_node::store::StoredEntry {
        pos: minga_node::store::EntryPos {
            coop,
            log: e.header.log(),
            seq: 1,
        },
        hash: e.hash(),
        record: RecordId(e.hash().0),
        bytes: e.encode(),
    };
    let index_key = [
        b"x".as_slice(),
        coop.as_bytes(),
        e.hash().as_bytes(),
        author.public().as_bytes(),
        &1u64.to_be_bytes(),
        &1u64.to_be_bytes(),
    ]
    .concat();
    batch.entries.push(created.clone());
    let orphan = [minga_node::RECORD_VIEW, coop.as_bytes(), &[9; 32]].concat();
    batch.views.push((orphan, b"no record".to_vec()));
    batch
        .views
        .push((b"meta/format".to_vec(), 2u32.to_be_bytes().to_vec()));
    batch
        .views
        .push((b"meta/upgrading".to_vec(), 1u32.to_be_bytes().to_vec()));
    store.commit(&batch).unwrap();
    assert_eq!(
        format_of(&store).unwrap(),
        Some(2),
        "older versions refuse it"
    );
    // Its record, written apart from the entry (so the hash index holds the entry, as in
    // format 1), and the record index key format 1 also wrote.
    let id = RecordId(e.hash().0);
    store
        .commit(&WriteBatch {
            records: vec![StoredRecord {
                coop,
                id,
                state: state(1),
                view: None,
            }],
            ..WriteBatch::default()
        })
        .unwrap();
    store.restore(vec![(index_key, Vec::new())]).unwrap();
    let hash_key = [b"h".as_slice(), e.hash().as_bytes()].concat();
    let holds = |key: &[u8]| store.dump().any(|p| p.unwrap().0 == key);
    assert!(holds(&hash_key));
    assert_eq!(record_index_keys(&store), 1);
    assert_eq!(
        store.record_entries(&coop, &id).unwrap(),
        vec![created.pos],
        "listed once, though indexed twice"
    );

    assert_eq!(upgrade(&store).unwrap(), Upgraded::From(1));
    assert!(
        store.view(b"meta/upgrading").unwrap().is_none(),
        "the mark goes"
    );
    assert_eq!(upgrade(&store).unwrap(), Upgraded::Current);
    assert_eq!(record_index_keys(&store), 0);
    assert!(
        !holds(&hash_key),
        "the record keeps its creating entry's position"
    );
    assert_eq!(store.record_entries(&coop, &id).unwrap(), vec![created.pos]);
    assert_eq!(
        store.entry_pos(&coop, &e.hash()).unwrap(),
        Some(created.pos)
    );
    let got = store.record(&coop, &id).unwrap().unwrap();
    assert_eq!((got.kind, got.doc), (state(1).kind, state(1).doc));
    assert_eq!(format_of(&store).unwrap(), Some(FORMAT));
    assert_eq!(store.views(minga_node::RECORD_VIEW).count(), 0);
    let mut held: Vec<Vec<u8>> = store.record_views().map(Result::unwrap).collect();
    let mut want: Vec<Vec<u8>> = (0..n).map(|i| format!("view {i}").into_bytes()).collect();
    held.sort();
    want.sort();
    assert_eq!(held, want, "each record's view, once; the orphan dropped");
    for i in [0, 1, 2, 7, n - 1] {
        let id = RecordId(Hash::of(&i.to_be_bytes()));
        let got = store.record(&coop, &id).unwrap().unwrap();
        let want = state(i);
        assert_eq!(
            (got.kind, got.pruned, got.doc),
            (want.kind, want.pruned, want.doc),
            "record {i} is as it was"
        );
    }
}
